"""Graph networks: the functional API, merge layers, fan-out gradients, release, round trips."""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import numpy as np
import pytest

from layerkit import (
    Add,
    Affine,
    Concat,
    ConfigError,
    Conv2D,
    Flatten,
    GlobalAvgPool2D,
    Input,
    Layer,
    Mul,
    Network,
    Relu,
    ShapeError,
    Sigmoid,
    SoftmaxWithLoss,
)
from layerkit.gradcheck import gradcheck
from layerkit.plugins import get_registry
from layerkit.testing import check_layer

RNG = np.random.default_rng(0)


def residual_mlp(**kwargs: Any) -> Network:
    x = Input()
    h = Relu(id="r0")(Affine(units=8, id="fc0")(x))
    a = Affine(units=8, id="fc1")(h)
    s = Add(id="add")(a, h)  # h fans out: to fc1 and to add
    g = Sigmoid(id="gate")(Affine(units=8, id="fcg")(s))
    m = Mul(id="mul")(s, g)
    c = Concat(id="cat")(m, h)
    loss = SoftmaxWithLoss(id="loss")(Affine(units=3, id="out")(c))
    return Network(inputs=x, outputs=loss, input_shape=(5,), **kwargs)


def test_functional_api_builds_in_topological_order() -> None:
    net = residual_mlp(seed=0)
    ids = [layer.id for layer in net.layers]
    assert ids == ["fc0", "r0", "fc1", "add", "fcg", "gate", "mul", "cat", "out", "loss"]
    assert net.inputs_of("add") == ["fc1", "r0"] and net.inputs_of("fc0") == ["input"]
    assert not net.is_chain and net.output_shape == (3,)
    rows = {r["id"]: r for r in net.summary_rows()}
    assert rows["cat"]["output_shape"] == (16,) and rows["cat"]["inputs"] == ["mul", "r0"]
    assert "INPUTS" in net.summary().splitlines()[0]


def test_graph_gradients_match_central_differences() -> None:
    net = residual_mlp(seed=1)
    x, t = RNG.standard_normal((6, 5)), np.array([0, 1, 2, 0, 1, 2])
    report = gradcheck(net, x, t)
    assert report.passed, report.table()


def test_channel_gate_broadcasts_over_maps_and_checks() -> None:
    x = Input((2, 5, 5))
    f = Conv2D(filters=4, kernel_size=3, padding=1)(x)
    gate = Sigmoid()(Affine(units=4)(GlobalAvgPool2D()(f)))  # (4,) scales (4, 5, 5)
    loss = SoftmaxWithLoss()(Affine(units=3)(Flatten()(Mul()(f, gate))))
    net = Network(inputs=x, outputs=loss, seed=1)
    assert net["mul1"].output_shape == (4, 5, 5)
    report = gradcheck(net, RNG.standard_normal((3, 2, 5, 5)), np.array([0, 1, 2]))
    assert report.passed, report.table()


def test_a_chain_is_the_same_network_as_before() -> None:
    net = Network(
        [Affine(units=4), Relu(), Affine(units=3), SoftmaxWithLoss()], input_shape=(5,), seed=0
    )
    assert net.is_chain and net.wiring() == {}
    assert all("inputs" not in entry for entry in net.config()["layers"])
    # backward skips the first layer's dx and everything before the first weights
    assert net["affine1"].needs_input_grad is False and net["relu1"].needs_input_grad is True


class _Spy(Layer):
    """Identity whose backward returns a fresh array and remembers it (to catch writes)."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"params": {}, "input_shape": (3,)},)
    handed: ClassVar[list[np.ndarray]] = []

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        return x * 1.0

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout * 1.0
        _Spy.handed.append((dx, dx.copy()))  # type: ignore[arg-type]
        return dx


def test_fan_out_gradients_are_summed_without_writing_into_returned_arrays() -> None:
    x = Input()
    h = Affine(units=4, id="fc")(x)
    a, b, c = _Spy(id="a")(h), _Spy(id="b")(h), _Spy(id="c")(h)  # h read three times
    loss = SoftmaxWithLoss()(Affine(units=3)(Add()(a, b, c)))
    net = Network(inputs=x, outputs=loss, input_shape=(5,), seed=0, dtype="float64")
    xb, t = RNG.standard_normal((4, 5)), np.array([0, 1, 2, 0])
    for _ in range(2):  # the second pass reuses the network's buffers
        _Spy.handed.clear()
        net.loss(xb, t)
        net.backward()
        for returned, copy in _Spy.handed:
            np.testing.assert_array_equal(returned, copy)
    grads = {k: g.copy() for k, g in net.grads.items()}
    assert gradcheck(net, xb, t).passed
    # the summed dout for fc is three times one branch's (each branch is the identity)
    np.testing.assert_allclose(grads["fc.b"], 3 * grads["fc.b"] / 3)


class _Probe(Layer):
    """Checks, when it runs, that an earlier activation has already been released."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"params": {}, "input_shape": (3,)},)
    watched: ClassVar[list[Any]] = []

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        _Probe.alive = [ref() is not None for ref in _Probe.watched]
        return x * 1.0

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * 1.0


class _Tag(Layer):
    """Identity that returns a new array and lets the test watch it."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"params": {}, "input_shape": (3,)},)

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        out = x + 0.0
        _Probe.watched.append(weakref.ref(out))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * 1.0


def test_activations_are_released_after_their_last_reader() -> None:
    _Probe.watched = []
    # tag's output is read only by relu (which keeps a mask, not its input): gone before probe
    net = Network(
        [Affine(units=4), _Tag(), Relu(), _Probe(), SoftmaxWithLoss()], input_shape=(3,), seed=0
    )
    net.loss(RNG.standard_normal((2, 3)), np.array([0, 1]))
    assert _Probe.alive == [False]


def test_graph_config_round_trip_and_dtype_copy() -> None:
    net = residual_mlp(seed=0)
    config = net.config()
    assert {e["id"]: e.get("inputs") for e in config["layers"]}["add"] == ["fc1", "r0"]
    again = Network.from_config(config, registry=get_registry(), seed=0)
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    again.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    wide = net.with_dtype("float64")
    assert wide.wiring() == net.wiring()
    np.testing.assert_allclose(wide.forward(x), net.forward(x), rtol=1e-5)


@pytest.mark.parametrize(
    "wiring, match",
    [
        ({"fc2": ["fc3"]}, r"unknown input 'fc3'"),
        ({"fc1": ["fc2"]}, r"cycle: fc2 -> fc1 -> fc2"),
        ({"fc2": ["input"]}, r"the output of 'fc1' is not used"),
    ],
)
def test_wiring_errors(wiring: dict[str, list[str]], match: str) -> None:
    layers = [Affine(units=4, id="fc1"), Affine(units=4, id="fc2"), SoftmaxWithLoss()]
    with pytest.raises(ConfigError, match=match):
        Network(layers, wiring=wiring)


def test_merge_shape_error_names_both_inputs() -> None:
    x = Input()
    a, b = Affine(units=4, id="a")(x), Affine(units=3, id="b")(x)
    loss = SoftmaxWithLoss()(Add()(a, b))
    with pytest.raises(
        ShapeError, match=r"input 1 \(4,\), input 2 \(3,\) \(input 1 from a, input 2 from b\)"
    ):
        Network(inputs=x, outputs=loss, input_shape=(2,))


def test_functional_misuse_is_a_clear_error() -> None:
    x = Input()
    with pytest.raises(ConfigError, match="takes exactly one input"):
        Relu()(x, x)
    with pytest.raises(ConfigError, match="not a symbolic tensor"):
        Relu()(np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 2 inputs"):
        Add()(x)


def test_textbook_nodes_still_work_unbuilt() -> None:
    mul, add = Mul(), Add()
    total = add.forward(mul.forward(100, 2), 450)
    assert total == 650
    d_price, d_orange = add.backward(1.1)
    assert mul.backward(d_price) == pytest.approx((2.2, 110))


def test_merge_layers_pass_the_conformance_kit() -> None:
    for cls in (Add, Mul, Concat):
        results = check_layer(cls)
        assert all(r.ok for r in results), [str(r) for r in results if not r.ok]
        assert "arity" in {r.check for r in results}


def test_the_kit_catches_a_merge_layer_that_writes_into_its_input() -> None:
    class BadAdd(Add):
        name = "BadAdd"

        def forward(self, *xs: Any, train: bool = False) -> Any:
            xs[0] += 0.5  # writes into its input
            return xs[0] + xs[1]

    results = {r.check: r for r in check_layer(BadAdd)}
    assert results["inputs-not-mutated"].status == "failed"
