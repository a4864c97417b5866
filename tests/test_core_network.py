"""Network: ids, running, gradients, gradcheck, config and state round trips, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from layerkit import (
    Affine,
    BatchNorm,
    CheckpointError,
    ConfigError,
    Dropout,
    Mul,
    Network,
    PluginError,
    Relu,
    ShapeError,
    Sigmoid,
    SoftmaxWithLoss,
    get_registry,
)
from layerkit.gradcheck import gradcheck, network_numerical_gradient


def two_layer_net(seed=0, **kw):
    return Network(
        [Affine(units=50), Relu(), Affine(units=10), SoftmaxWithLoss()],
        input_shape=(784,),
        seed=seed,
        **kw,
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((32, 784), dtype=np.float32)
    t = rng.integers(0, 10, 32)
    return x, t


def test_ids_params_and_summary():
    net = Network(
        [
            Affine(units=8, id="fc1"),
            Relu(),
            Affine(units=4),
            Relu(),
            Affine(units=3),
            SoftmaxWithLoss(),
        ],
        input_shape=(5,),
    )
    assert [layer.id for layer in net.layers] == [
        "fc1",
        "relu1",
        "affine2",
        "relu2",
        "affine3",
        "softmaxwithloss1",
    ]
    assert list(net.params) == [
        "fc1.W",
        "fc1.b",
        "affine2.W",
        "affine2.b",
        "affine3.W",
        "affine3.b",
    ]
    assert net["affine2"] is net.layers[2] and net.loss_layer is net.layers[-1]
    assert net.output_shape == (3,)
    assert net.param_count() == 5 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3
    assert [r["output_shape"] for r in net.summary_rows()] == [(8,), (8,), (4,), (4,), (3,), ()]
    assert "total parameters: 99" in net.summary()


def test_generated_ids_skip_explicit_ones():
    net = Network([Affine(units=3), Affine(units=3, id="affine1"), SoftmaxWithLoss()])
    assert [layer.id for layer in net.layers] == ["affine2", "affine1", "softmaxwithloss1"]


def test_predict_loss_accuracy(data):
    x, t = data
    net = two_layer_net()
    scores = net.predict(x)
    assert scores.shape == (32, 10) and scores.dtype == np.float32
    np.testing.assert_allclose(net.predict(x, batch_size=5), scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.predict_proba(x).sum(axis=1), 1, rtol=1e-5)
    loss = net.loss(x, t)
    assert isinstance(loss, float) and loss == pytest.approx(
        np.log(10), rel=0.01
    )  # tiny init weights
    expected = np.mean(scores.argmax(axis=1) == t)
    assert net.accuracy(x, t) == pytest.approx(expected)
    assert net.accuracy(x, t, batch_size=7) == pytest.approx(expected)
    assert net.accuracy(x, np.eye(10)[t]) == pytest.approx(expected)


def test_training_reduces_the_loss(data):
    x, t = data
    net = Network(
        [Affine(units=50, init="he"), Relu(), Affine(units=10, init="he"), SoftmaxWithLoss()],
        input_shape=(784,),
        seed=0,
    )
    first = net.loss(x, t)
    for _ in range(100):
        net.loss(x, t)
        net.backward()
        grads = net.grads
        for key, p in net.params.items():
            p -= 0.1 * grads[key]
    assert net.loss(x, t) < 0.1 * first
    assert net.accuracy(x, t) > 0.9


def test_gradient_matches_numerical_gradient_on_a_tiny_net():
    rng = np.random.default_rng(3)
    net = Network(
        [Affine(units=4, init="he"), Sigmoid(), Affine(units=3), SoftmaxWithLoss()],
        input_shape=(5,),
        dtype="float64",
        seed=1,
    )
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    backprop = net.gradient(x, t)
    numerical = network_numerical_gradient(net, x, t)
    assert backprop.keys() == numerical.keys()
    for key in backprop:
        np.testing.assert_allclose(backprop[key], numerical[key], rtol=1e-5, atol=1e-8)


def test_two_layer_net_gradcheck(data):
    x, t = data
    net = two_layer_net()
    before = net.state_dict()
    report = gradcheck(net, x[:3], t[:3])
    assert report.passed, report.table()
    assert report.max_rel_error < 1e-6
    assert [c.name for c in report.checks] == ["affine1.W", "affine1.b", "affine2.W", "affine2.b"]
    w1 = report["affine1.W"]
    assert w1.entries_checked < w1.size and w1.directions > 0  # sampled: 39,200 entries
    assert report["affine2.W"].entries_checked == 500  # small arrays: every entry
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["passed"] is True and len(as_dict["params"]) == 4
    assert "affine1.W" in str(report) and "passed" in str(report)
    for key, value in net.state_dict().items():  # the network itself is untouched
        np.testing.assert_array_equal(value, before[key])


def test_gradcheck_finds_a_wrong_gradient():
    class BrokenRelu(Relu):
        name = "BrokenRelu"

        def backward(self, dout):
            return dout * 1.0  # forgets the mask

    bad = Network(
        [Affine(units=6), BrokenRelu(), Affine(units=3), SoftmaxWithLoss()],
        input_shape=(4,),
        seed=0,
    )
    rng = np.random.default_rng(0)
    report = gradcheck(bad, rng.standard_normal((5, 4)), rng.integers(0, 3, 5))
    assert not report.passed
    assert not report["affine1.W"].passed and report["affine2.W"].passed
    assert "FAILED" in report.table()


def test_gradcheck_with_dropout_and_batchnorm():
    rng = np.random.default_rng(4)
    net = Network(
        [
            Affine(units=6),
            BatchNorm(),
            Relu(),
            Dropout(rate=0.3),
            Affine(units=3),
            SoftmaxWithLoss(),
        ],
        input_shape=(4,),
        seed=2,
    )
    report = gradcheck(net, rng.standard_normal((8, 4)), rng.integers(0, 3, 8))
    assert report.passed, report.table()


def test_first_layer_skips_dx():
    net = two_layer_net()
    assert [layer.needs_input_grad for layer in net.layers[:-1]] == [False, True, True]
    net2 = Network(
        [Dropout(rate=0.1), Relu(), Affine(units=3), Relu(), Affine(units=2), SoftmaxWithLoss()],
        input_shape=(4,),
    )
    assert [layer.needs_input_grad for layer in net2.layers[:-1]] == [
        False,
        False,
        False,
        True,
        True,
    ]


def test_params_are_live_for_in_place_updates(data):
    x, t = data
    net = two_layer_net()
    net.params["affine2.b"][:] = 0
    net.params["affine2.b"][3] = 100.0
    assert np.all(net.predict(x).argmax(axis=1) == 3)
    net.loss(x, t)
    net.backward()
    assert net.grads["affine1.W"] is net.layers[0].grads["W"]


def test_dtype_float64_and_with_dtype(data):
    x, _ = data
    net = two_layer_net()
    n64 = net.with_dtype("float64")
    assert n64.dtype == np.float64 and n64.params["affine1.W"].dtype == np.float64
    assert net.params["affine1.W"].dtype == np.float32
    np.testing.assert_allclose(n64.predict(x), net.predict(x), rtol=1e-4, atol=1e-6)
    assert n64.config()["layers"] == net.config()["layers"]


def test_config_round_trip(data):
    x, _ = data
    net = Network(
        [
            Affine(units=16, id="fc1", init="he"),
            BatchNorm(momentum=0.8),
            Relu(),
            Dropout(rate=0.2),
            Affine(units=10),
            SoftmaxWithLoss(),
        ],
        input_shape=(784,),
        seed=3,
    )
    config = net.config()
    assert config["input_shape"] == [784] and config["dtype"] == "float32"
    assert config["layers"][0] == {
        "type": "Affine",
        "id": "fc1",
        "units": 16,
        "init": {"type": "he"},
    }
    rebuilt = Network.from_config(json.loads(json.dumps(config)), registry=get_registry())
    assert rebuilt.config() == config
    rebuilt.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(rebuilt.predict(x), net.predict(x))


def test_state_dict_and_rng_round_trip(data):
    x, t = data
    net = Network(
        [
            Affine(units=20),
            BatchNorm(),
            Relu(),
            Dropout(rate=0.5),
            Affine(units=10),
            SoftmaxWithLoss(),
        ],
        input_shape=(784,),
        seed=5,
    )
    net.loss(x, t)  # moves the running statistics and the dropout stream
    state, rng = net.state_dict(), net.rng_state()
    assert "batchnorm1.running_mean" in state and set(net.params) < set(state)
    json.dumps(rng)  # checkpoint manifests are JSON
    expected = net.loss(x, t)

    other = Network.from_config(net.config(), registry=get_registry(), seed=99)
    other.load_state_dict(state)
    other.set_rng_state(rng)
    assert other.loss(x, t) == expected  # same weights, statistics and dropout masks
    state["affine1.W"][0, 0] = 123.0  # state_dict returns copies
    assert net.params["affine1.W"][0, 0] != 123.0


def test_load_state_dict_errors_change_nothing():
    net = two_layer_net()
    good = net.state_dict()
    with pytest.raises(CheckpointError, match=r"missing affine2\.b; unexpected extra"):
        net.load_state_dict(
            {**{k: v for k, v in good.items() if k != "affine2.b"}, "extra": np.zeros(1)}
        )
    bad = {**good, "affine1.W": np.ones((784, 50)), "affine2.W": np.ones((10, 50))}
    with pytest.raises(
        CheckpointError,
        match=r"affine2\.W: shape \(10, 50\) does not match the network's \(50, 10\)",
    ):
        net.load_state_dict(bad)
    np.testing.assert_array_equal(net.params["affine1.W"], good["affine1.W"])  # nothing written
    with pytest.raises(CheckpointError, match=r"unknown layer 'nope'"):
        net.set_rng_state({"nope": {}})


def test_seed_reproducibility():
    a, b, c = two_layer_net(seed=1), two_layer_net(seed=1), two_layer_net(seed=2)
    np.testing.assert_array_equal(a.params["affine1.W"], b.params["affine1.W"])
    assert not np.array_equal(a.params["affine1.W"], c.params["affine1.W"])


def test_lazy_build_on_first_batch(data):
    x, t = data
    net = Network([Affine(units=10), SoftmaxWithLoss()], seed=0)
    with pytest.raises(ConfigError, match="not built yet"):
        net.state_dict()
    net.loss(x, t)
    assert net.input_shape == (784,) and net.params["affine1.W"].shape == (784, 10)


@pytest.mark.parametrize(
    "layers, error, match",
    [
        ([], ConfigError, r"needs at least a loss layer"),
        (
            [Affine(units=3)],
            ConfigError,
            r"layers\[0\] \(Affine\): a network needs a loss layer",
        ),
        (
            [SoftmaxWithLoss(), Affine(units=3), SoftmaxWithLoss()],
            ConfigError,
            r"layers\[0\] \(SoftmaxWithLoss\): a loss layer must end the network, but 'affine1' "
            r"takes its output",
        ),
        (
            [Mul(), SoftmaxWithLoss()],
            ConfigError,
            r"layers\[0\] \(Mul\): Mul takes at least 2 inputs \(received 1\)",
        ),
        (
            [Affine(units=3, id="a"), Affine(units=3, id="a"), SoftmaxWithLoss()],
            ConfigError,
            r"layers\[1\]\.id: duplicate id \(also layers\[0\]\) \(received 'a'\)",
        ),
        (
            [Affine(units=3, id="fc.1"), SoftmaxWithLoss()],
            ConfigError,
            r"layers\[0\]\.id: must start with a letter or '_' .*\(received 'fc\.1'\)",
        ),
        (["Affine", SoftmaxWithLoss()], ConfigError, r"layers\[0\]: expected a Layer \(received str\)"),
        ([{"type": "Affine", "units": 3}, SoftmaxWithLoss()], ConfigError, r"layers\[0\]: expected a Layer"),
    ],
)
def test_structure_errors(layers, error, match):
    with pytest.raises(error, match=match):
        Network(layers)


def test_same_layer_object_twice_is_an_error():
    relu = Relu()
    with pytest.raises(
        ConfigError, match=r"layers\[2\] \(Relu\): the same layer object is also layers\[0\]"
    ):
        Network([relu, Affine(units=2), relu, SoftmaxWithLoss()])


def test_shape_errors():
    with pytest.raises(
        ShapeError,
        match=r"softmaxwithloss1: the data has 10 classes but the layer before the loss outputs 3",
    ):
        Network([Affine(units=3), SoftmaxWithLoss()], input_shape=(4,), num_classes=10)
    net = Network([Affine(units=3), SoftmaxWithLoss()], input_shape=(4,))
    with pytest.raises(
        ShapeError, match=r"expects batches of shape \(N, 4\) \(received \(2, 5\)\)"
    ):
        net.predict(np.zeros((2, 5)))
    with pytest.raises(ShapeError, match=r"input shape must be positive"):
        Network([Affine(units=3), SoftmaxWithLoss()], input_shape=(0,))
    with pytest.raises(ConfigError, match=r"dtype: must be a floating-point type"):
        Network([SoftmaxWithLoss()], dtype="int32")


def test_from_config_errors():
    with pytest.raises(
        ConfigError, match=r"layers\[0\]: Affine\.units: must be > 0 \(received 0\)"
    ):
        Network.from_config(
            {"layers": [{"type": "Affine", "units": 0}, {"type": "SoftmaxWithLoss"}]},
            registry=get_registry(),
        )
    with pytest.raises(PluginError, match=r"unknown layer 'Afine'; did you mean 'Affine'"):
        Network.from_config(
            {"layers": [{"type": "Afine", "units": 3}, {"type": "SoftmaxWithLoss"}]},
            registry=get_registry(),
        )
    with pytest.raises(ConfigError, match=r"unknown key\(s\) seed"):
        Network.from_config({"layers": [], "seed": 1}, registry=get_registry())


def test_backward_needs_a_loss_first():
    with pytest.raises(RuntimeError, match=r"needs a preceding Network\.loss"):
        two_layer_net().backward()
