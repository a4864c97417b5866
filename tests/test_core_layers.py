"""Core layers: the conformance table over every registered layer, the textbook's graphs, and
hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from layerkit import (
    Add,
    Affine,
    BatchNorm,
    ConfigError,
    Dropout,
    LeakyRelu,
    MeanSquaredError,
    Mul,
    Relu,
    ShapeError,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
    get_registry,
)
from layerkit.gradient_check import gradcheck_layer
from layerkit.testing import parametrize_with_checks

# -- one table over every registered layer (built-ins and installed plugins) -------------------


@parametrize_with_checks(get_registry().entries("layers"))
def test_layer_contract(check):
    check()


def test_table_covers_the_builtin_layers():
    from layerkit.layers import BUILTIN_LAYERS

    names = {e.name for e in get_registry().entries("layers")}
    assert {cls.name for cls in BUILTIN_LAYERS} <= names
    assert {
        "Affine",
        "Relu",
        "Sigmoid",
        "Tanh",
        "LeakyRelu",
        "Dropout",
        "BatchNorm",
        "SoftmaxWithLoss",
        "MeanSquaredError",
        "Mul",
        "Add",
    } <= names


# -- the textbook's computational graphs -------------------------------------------------------


def test_buy_apple_graph():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = Mul(), Mul()
    apple_price = mul_apple.forward(apple, apple_num)
    price = mul_tax.forward(apple_price, tax)
    assert price == pytest.approx(220)

    d_apple_price, d_tax = mul_tax.backward(1)
    d_apple, d_apple_num = mul_apple.backward(d_apple_price)
    assert d_apple == pytest.approx(2.2)
    assert d_apple_num == pytest.approx(110)
    assert d_tax == pytest.approx(200)


def test_buy_apple_orange_graph():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple, mul_orange, add, mul_tax = Mul(), Mul(), Add(), Mul()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)
    assert price == pytest.approx(715)

    d_all_price, d_tax = mul_tax.backward(1)
    d_apple_price, d_orange_price = add.backward(d_all_price)
    d_orange, d_orange_num = mul_orange.backward(d_orange_price)
    d_apple, d_apple_num = mul_apple.backward(d_apple_price)
    assert (d_apple, d_apple_num, d_orange, d_orange_num, d_tax) == pytest.approx(
        (2.2, 110, 3.3, 165, 650)
    )


def test_nodes_sum_gradients_over_broadcast_axes():
    add = Add()
    x, b = np.ones((3, 2)), np.array([1.0, 2.0])
    np.testing.assert_array_equal(add.forward(x, b), [[2, 3]] * 3)
    dx, db = add.backward(np.ones((3, 2)))
    assert dx.shape == (3, 2)
    np.testing.assert_array_equal(db, [3, 3])


# -- hand-set weights ----------------------------------------------------------------------------


def test_affine_hand_computed():
    layer = Affine(units=2)
    layer.build((3,), dtype=np.float64)
    layer.params["W"][...] = [[1, 2], [3, 4], [5, 6]]
    layer.params["b"][...] = [10, 20]
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    # row 0: [1-5+10, 2-6+20]; row 1: [2+3+10, 4+4+20]
    np.testing.assert_array_equal(layer.forward(x), [[6, 16], [15, 28]])

    dout = np.array([[1.0, 0.0], [0.0, 2.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[1, 3, 5], [4, 8, 12]])  # dout @ W.T
    np.testing.assert_array_equal(layer.grads["W"], [[1, 4], [0, 2], [-1, 0]])  # x.T @ dout
    np.testing.assert_array_equal(layer.grads["b"], [1, 2])


def test_affine_flattens_nd_input_and_restores_dx_shape():
    layer = Affine(units=4)
    out_shape = layer.build((2, 3, 3), rng=np.random.default_rng(0), dtype=np.float64)
    assert out_shape == (4,)
    assert layer.params["W"].shape == (18, 4)
    x = np.random.default_rng(1).standard_normal((5, 2, 3, 3))
    y = layer.forward(x)
    np.testing.assert_allclose(y, x.reshape(5, 18) @ layer.params["W"])
    assert layer.backward(np.ones((5, 4))).shape == (5, 2, 3, 3)


def test_affine_initialisers():
    rng = np.random.default_rng(0)
    for init, std in [
        ({"type": "normal", "std": 0.5}, 0.5),
        ("he", np.sqrt(2 / 400)),
        ({"type": "xavier"}, np.sqrt(2 / 500)),
        ({"type": "xavier", "mode": "fan_in"}, np.sqrt(1 / 400)),
    ]:
        layer = Affine(units=100, init=init)
        layer.build((400,), rng=rng)
        assert layer.params["W"].dtype == np.float32
        assert layer.params["W"].std() == pytest.approx(std, rel=0.02)
        np.testing.assert_array_equal(layer.params["b"], 0)
    assert Affine(units=3).hp.init.std == 0.01  # the textbook default


@pytest.mark.parametrize(
    "params, match",
    [
        ({"units": 0}, r"Affine\.units: must be > 0 \(received 0\)"),
        ({"units": 3, "init": "orthogonal"}, r"Affine\.init: .*'normal', 'he', 'xavier'"),
        ({"units": 3, "init": {"type": "normal", "std": 0}}, r"std: must be > 0"),
        ({"units": 3, "bias": True}, r"Affine\.bias: unknown key"),
    ],
)
def test_affine_rejects_bad_hyperparameters(params, match):
    with pytest.raises(ConfigError, match=match):
        Affine(**params)


def test_batchnorm_hand_computed_dense():
    layer = BatchNorm(momentum=0.5, eps=0.0 + 1e-12)
    layer.build((2,), dtype=np.float64)
    layer.params["gamma"][...] = [2.0, 1.0]
    layer.params["beta"][...] = [0.0, 5.0]
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 40.0]])
    # column 0: mean 4, var (9+1+1+9)/4 = 5; column 1: mean 25, var 225 (std 15)
    y = layer.forward(x, train=True)
    expected0 = 2.0 * (x[:, 0] - 4) / np.sqrt(5)
    expected1 = np.array([-1.0, -1.0, 1.0, 1.0]) + 5.0
    np.testing.assert_allclose(y[:, 0], expected0, rtol=1e-9)
    np.testing.assert_allclose(y[:, 1], expected1, rtol=1e-9)
    # running = 0.5 * (0, 1) + 0.5 * batch statistics
    np.testing.assert_allclose(layer.buffers["running_mean"], [2.0, 12.5])
    np.testing.assert_allclose(layer.buffers["running_var"], [3.0, 113.0])
    # inference uses the running statistics
    y_inf = layer.forward(np.array([[2.0, 12.5]]), train=False)
    np.testing.assert_allclose(y_inf, [[0.0, 5.0]], atol=1e-9)

    # dbeta = sum(dout), dgamma = sum(dout * xhat); a constant dout gives dx = 0
    layer.forward(x, train=True)
    dx = layer.backward(np.ones((4, 2)))
    np.testing.assert_allclose(dx, 0, atol=1e-9)
    np.testing.assert_allclose(layer.grads["beta"], [4, 4])
    np.testing.assert_allclose(layer.grads["gamma"], [0, 0], atol=1e-9)


def test_batchnorm_normalises_conv_maps_per_channel():
    layer = BatchNorm()
    assert layer.build((3, 4, 5), rng=np.random.default_rng(0), dtype=np.float64) == (3, 4, 5)
    assert layer.params["gamma"].shape == (3,)
    rng = np.random.default_rng(2)
    x = (
        rng.standard_normal((6, 3, 4, 5)) * np.array([1.0, 10.0, 0.1])[:, None, None]
        + np.array([0, 5, -3])[:, None, None]
    )
    y = layer.forward(x, train=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-9)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    # the same as normalising (N*H*W, C) rows of a dense layer
    dense = BatchNorm()
    dense.build((3,), dtype=np.float64)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 3)
    np.testing.assert_allclose(
        dense.forward(rows, train=True), y.transpose(0, 2, 3, 1).reshape(-1, 3), atol=1e-12
    )


# -- activations -----------------------------------------------------------------------------------


def test_relu_does_not_overwrite_dout():
    relu = Relu()
    relu.forward(np.array([[-1.0, 2.0]]))
    dout = np.array([[5.0, 6.0]])
    np.testing.assert_array_equal(relu.backward(dout), [[0.0, 6.0]])
    np.testing.assert_array_equal(dout, [[5.0, 6.0]])


def test_sigmoid_backward_includes_the_factor_y():
    layer = Sigmoid()
    y = layer.forward(np.array([[0.0, 2.0]]))
    dx = layer.backward(np.ones((1, 2)))
    np.testing.assert_allclose(dx, y * (1 - y))
    assert dx[0, 0] == pytest.approx(0.25)


def test_tanh_and_leaky_relu_values():
    t = Tanh()
    np.testing.assert_allclose(t.forward(np.array([[0.5]])), np.tanh(0.5))
    np.testing.assert_allclose(t.backward(np.array([[2.0]])), 2 * (1 - np.tanh(0.5) ** 2))
    leaky = LeakyRelu(alpha=0.1)
    np.testing.assert_allclose(leaky.forward(np.array([[-2.0, 3.0]])), [[-0.2, 3.0]])
    np.testing.assert_allclose(leaky.backward(np.array([[1.0, 1.0]])), [[0.1, 1.0]])


def test_activations_are_stable_at_extremes():
    x = np.array([[-1e4, -1000.0, 0.0, 1000.0, 1e4]], dtype=np.float32)
    with np.errstate(all="raise"):
        for layer in (Relu(), Sigmoid(), Tanh(), LeakyRelu()):
            y = layer.forward(x)
            assert np.all(np.isfinite(y)) and y.dtype == np.float32
            assert np.all(np.isfinite(layer.backward(np.ones_like(x))))


# -- dropout ----------------------------------------------------------------------------------------


def test_dropout_train_vs_inference():
    layer = Dropout(rate=0.25)
    layer.build((1000,), rng=np.random.default_rng(0))
    x = np.ones((20, 1000), dtype=np.float32)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    y = layer.forward(x, train=True)
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.75)  # inverted dropout keeps the expectation
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx != 0, kept)


def test_dropout_is_seeded_by_build_rng():
    def masks(seed):
        layer = Dropout(rate=0.5)
        layer.build((50,), rng=np.random.default_rng(seed))
        x = np.ones((4, 50), dtype=np.float32)
        return layer.forward(x, train=True), layer.forward(x, train=True)

    a1, a2 = masks(1)
    b1, b2 = masks(1)
    c1, _ = masks(2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # a new mask each step
    assert not np.array_equal(a1, c1)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_dropout_rate_validated(rate):
    with pytest.raises(ConfigError, match=r"Dropout\.rate: must be"):
        Dropout(rate=rate)


# -- losses -------------------------------------------------------------------------------------------


def test_softmax_with_loss_values_and_gradient():
    layer = SoftmaxWithLoss()
    x = np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 1000.0]])
    t = np.array([0, 2])
    p0 = np.exp([2.0, 1.0, 0.1]) / np.exp([2.0, 1.0, 0.1]).sum()
    expected = (-np.log(p0[0]) + 0.0) / 2
    assert layer.forward(x, t) == pytest.approx(expected)
    dx = layer.backward()
    np.testing.assert_allclose(dx, (np.array([p0, [0, 0, 1]]) - np.eye(3)[t]) / 2, atol=1e-12)
    np.testing.assert_allclose(layer.activate(x)[1], [0, 0, 1])


def test_softmax_with_loss_huge_logits_stay_finite():
    layer = SoftmaxWithLoss()
    x = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    with np.errstate(all="raise"):
        assert layer.forward(x, np.array([1])) == pytest.approx(2e4)
        assert np.all(np.isfinite(layer.backward()))


@pytest.mark.parametrize(
    "x, t, match",
    [
        (np.zeros((2, 3)), np.array([0, 3]), r"labels must be in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), r"3 labels for a batch of 2"),
        (np.zeros((2, 3)), np.zeros((2, 4)), r"one-hot \(2, 3\) \(received shape \(2, 4\)\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), r"must be integers"),
    ],
)
def test_softmax_with_loss_label_errors(x, t, match):
    with pytest.raises(ShapeError, match=match):
        SoftmaxWithLoss(id="loss").forward(x, t)


def test_mean_squared_error_textbook_value():
    layer = MeanSquaredError()
    y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]])
    t = np.array([2])
    assert layer.forward(y, t) == pytest.approx(0.0975)  # the textbook's example
    np.testing.assert_allclose(layer.backward(), y - np.eye(10)[t])
    assert layer.forward(y, np.eye(10)[t]) == pytest.approx(0.0975)


def test_loss_check_targets():
    with pytest.raises(
        ShapeError, match=r"loss: the data has 10 classes .* outputs 5 \(set its units to 10\)"
    ):
        SoftmaxWithLoss(id="loss").check_targets((5,), 10)
    with pytest.raises(ShapeError, match=r"one score per class"):
        SoftmaxWithLoss(id="loss").check_targets((2, 5), None)
    SoftmaxWithLoss().check_targets((10,), 10)


def test_softmax_with_loss_soft_labels_get_the_true_gradient() -> None:
    """Label rows that are not distributions: the loss was right, dx = softmax - t was not."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    for t in (
        np.full((4, 3), 0.5),
        rng.uniform(0, 2, (4, 3)),
        np.eye(3)[[0, 2, 1, 1]] * 0.9 + 0.05,
    ):
        loss = SoftmaxWithLoss()
        loss.build((3,), dtype="float64")
        report = gradcheck_layer(loss, x, t=t)
        assert report.passed, report.table()
        y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        loss.forward(x, t)
        np.testing.assert_allclose(
            loss.backward(), (y * t.sum(axis=1, keepdims=True) - t) / 4, rtol=1e-12
        )
    with pytest.raises(ShapeError, match="class weights >= 0"):
        SoftmaxWithLoss().forward(x, -np.ones((4, 3)))
