"""Conv2D, pooling and reshape layers: hand-computed values and a naive loop reference.

The reference implementations below follow the definitions directly (one Python loop per output
pixel), so they are slow but obviously right; the layers must agree with them to float64
rounding on random shapes, strides and paddings, forward and backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerkit.gradient_check import gradcheck_layer
from layerkit.layers.conv import Conv2D
from layerkit.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from layerkit.layers.reshape import Flatten, Reshape

# -- naive references ------------------------------------------------------------------------


def ref_conv(x, w, b, stride, pads):
    """y[n, f, i, j] = sum(x_pad[n, :, window(i, j)] * w[f]) + b[f], plus dL/d(x, w, b) for dout."""
    (sh, sw), (top, bottom, left, right) = stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, _, hp, wp = xp.shape
    f, _, kh, kw = w.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    y = np.zeros((n, f, oh, ow))
    for a in range(n):
        for o in range(f):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[a, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    y[a, o, i, j] = (patch * w[o]).sum() + (0.0 if b is None else b[o])

    def backward(dout):
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for a in range(n):
            for o in range(f):
                for i in range(oh):
                    for j in range(ow):
                        g = dout[a, o, i, j]
                        dxp[a, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += g * w[o]
                        dw[o] += g * xp[a, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
        dx = dxp[:, :, top : hp - bottom, left : wp - right]
        return dx, dw, dout.sum(axis=(0, 2, 3))

    return y, backward


def ref_pool(x, kind, k, stride, pads):
    """Max (gradient to the first maximum, row-major) or average (padding excluded) pooling."""
    (kh, kw), (sh, sw), (top, bottom, left, right) = k, stride, pads
    n, c, h, w = x.shape
    oh = (h + top + bottom - kh) // sh + 1
    ow = (w + left + right - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    routes = {}
    for a in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    r0, c0 = i * sh - top, j * sw - left
                    cells = [
                        (r, q)
                        for r in range(r0, r0 + kh)
                        for q in range(c0, c0 + kw)
                        if 0 <= r < h and 0 <= q < w
                    ]
                    vals = [x[a, ch, r, q] for r, q in cells]
                    if kind == "max":
                        best = int(np.argmax(vals))
                        y[a, ch, i, j] = vals[best]
                        routes[a, ch, i, j] = [(cells[best], 1.0)]
                    else:
                        y[a, ch, i, j] = np.mean(vals)
                        routes[a, ch, i, j] = [(cell, 1.0 / len(cells)) for cell in cells]

    def backward(dout):
        dx = np.zeros_like(x)
        for (a, ch, i, j), targets in routes.items():
            for (r, q), weight in targets:
                dx[a, ch, r, q] += weight * dout[a, ch, i, j]
        return dx

    return y, backward


def pads_of(layer):
    win = layer.window
    return (win.sh, win.sw), (win.top, win.bottom, win.left, win.right)


# -- hand-computed values ----------------------------------------------------------------------


def test_conv_hand_computed_stride_2() -> None:
    conv = Conv2D(filters=1, kernel_size=2, stride=2)
    assert conv.build((1, 4, 4), dtype=np.float64) == (1, 2, 2)
    conv.params["W"][...] = 1.0
    conv.params["b"][...] = 0.5
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = conv.forward(x)
    # sums of the 2x2 blocks of [[0..3], [4..7], [8..11], [12..15]], plus the bias
    np.testing.assert_array_equal(y, [[[[10.5, 18.5], [42.5, 50.5]]]])
    dx = conv.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx, np.ones((1, 1, 4, 4)))  # every pixel is in one window
    np.testing.assert_array_equal(conv.grads["W"], [[[[20.0, 24.0], [36.0, 40.0]]]])
    np.testing.assert_array_equal(conv.grads["b"], [4.0])


def test_conv_hand_computed_padding_counts_neighbours() -> None:
    # a 3x3 box filter over ones with padding 1: corners see 4 pixels, edges 6, the centre 9
    conv = Conv2D(filters=2, kernel_size=3, padding=1, use_bias=False)
    assert conv.build((1, 3, 3), dtype=np.float64) == (2, 3, 3)
    assert "b" not in conv.params
    conv.params["W"][0] = 1.0
    conv.params["W"][1] = -2.0
    y = conv.forward(np.ones((1, 1, 3, 3)))
    counts = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]], dtype=float)
    np.testing.assert_array_equal(y[0, 0], counts)
    np.testing.assert_array_equal(y[0, 1], -2 * counts)


def test_conv_channels_are_summed_and_filters_separate() -> None:
    conv = Conv2D(filters=2, kernel_size=1)
    conv.build((3, 1, 2), dtype=np.float64)
    conv.params["W"][...] = np.array([[1.0, 10.0, 100.0], [0.0, 0.0, -1.0]]).reshape(2, 3, 1, 1)
    x = np.array([[[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]]])
    np.testing.assert_array_equal(conv.forward(x), [[[[531.0, 642.0]], [[-5.0, -6.0]]]])


def test_maxpool_hand_computed() -> None:
    pool = MaxPool2D(pool_size=2)
    assert pool.build((1, 4, 4), dtype=np.float64) == (1, 2, 2)
    x = np.array([[1, 3, 2, 4], [5, 6, 1, 2], [7, 2, 9, 1], [3, 4, 0, 8]], dtype=float)[None, None]
    np.testing.assert_array_equal(pool.forward(x), [[[[6, 4], [7, 9]]]])
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((4, 4))
    expected[1, 1], expected[0, 3], expected[2, 0], expected[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_maxpool_ties_route_the_gradient_to_the_first_maximum_only() -> None:
    pool = MaxPool2D(pool_size=2)
    pool.build((1, 2, 2), dtype=np.float64)
    x = np.array([[[[0.0, 5.0], [5.0, 5.0]]]])
    pool.forward(x)
    np.testing.assert_array_equal(
        pool.backward(np.array([[[[1.0]]]])), [[[[0.0, 1.0], [0.0, 0.0]]]]
    )


def test_maxpool_padding_never_wins() -> None:
    pool = MaxPool2D(pool_size=2, padding="same")
    assert pool.build((1, 3, 3), dtype=np.float64) == (1, 2, 2)
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: zero padding would win
    np.testing.assert_array_equal(pool.forward(x), [[[[-1.0, -3.0], [-7.0, -9.0]]]])


def test_avgpool_hand_computed_excludes_padding() -> None:
    pool = AvgPool2D(pool_size=2, padding="same")
    assert pool.build((1, 3, 3), dtype=np.float64) == (1, 2, 2)
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    # windows: [1,2,4,5] [3,6] [7,8] [9]
    np.testing.assert_allclose(pool.forward(x), [[[[3.0, 4.5], [7.5, 9.0]]]])
    dx = pool.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(dx[0, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


def test_global_avgpool_hand_computed() -> None:
    pool = GlobalAvgPool2D()
    assert pool.build((2, 2, 2), dtype=np.float64) == (2,)
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 8.0]]]])
    np.testing.assert_array_equal(pool.forward(x), [[2.5, 2.0]])
    np.testing.assert_array_equal(
        pool.backward(np.array([[4.0, -8.0]])), [[[[1, 1], [1, 1]], [[-2, -2], [-2, -2]]]]
    )


def test_flatten_and_reshape_round_trip() -> None:
    flat, back = Flatten(), Reshape(target_shape=[2, -1, 2])
    assert flat.build((2, 3, 4)) == (24,)
    assert back.build((24,)) == (2, 6, 2)
    x = np.arange(48, dtype=np.float32).reshape(2, 2, 3, 4)
    y = back.forward(flat.forward(x))
    assert y.shape == (2, 2, 6, 2)
    np.testing.assert_array_equal(y.reshape(2, -1), x.reshape(2, -1))
    np.testing.assert_array_equal(flat.backward(back.backward(y)), x)


# -- against the naive reference -----------------------------------------------------------------


def _tiling_window(draw, max_kernel: int) -> tuple[list[int], list[int], list[int], int, int]:
    """``(kernel, stride, padding, h, w)`` that tile exactly: pick the output size, derive the input's."""
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    oh, ow = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = (oh - 1) * sh + kh - 2 * ph, (ow - 1) * sw + kw - 2 * pw
    if h < 1 or w < 1:
        ph = pw = 0
        h, w = (oh - 1) * sh + kh, (ow - 1) * sw + kw
    return [kh, kw], [sh, sw], [ph, pw], h, w


@st.composite
def conv_cases(draw):
    kernel, stride, padding, h, w = _tiling_window(draw, max_kernel=4)
    return {
        "params": {
            "filters": draw(st.integers(1, 4)),
            "kernel_size": kernel,
            "stride": stride,
            "padding": padding,
            "use_bias": draw(st.booleans()),
        },
        "shape": (draw(st.integers(1, 3)), h, w),
        "n": draw(st.integers(1, 3)),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_conv_matches_the_naive_reference(case) -> None:
    rng = np.random.default_rng(case["seed"])
    conv = Conv2D(**case["params"])
    out_shape = conv.build(case["shape"], rng=rng, dtype=np.float64)
    if "b" in conv.params:
        conv.params["b"][...] = rng.standard_normal(conv.params["b"].shape)
    x = rng.standard_normal((case["n"], *case["shape"]))
    x_before = x.copy()
    y = conv.forward(x, train=True)
    y_ref, ref_backward = ref_conv(x, conv.params["W"], conv.params.get("b"), *pads_of(conv))
    assert y.shape == (case["n"], *out_shape)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    dout_before = dout.copy()
    dx = conv.backward(dout)
    dx_ref, dw_ref, db_ref = ref_backward(dout)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["W"], dw_ref, rtol=1e-12, atol=1e-12)
    if "b" in conv.params:
        np.testing.assert_allclose(conv.grads["b"], db_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


@st.composite
def pool_cases(draw):
    pool_size, stride, padding, h, w = _tiling_window(draw, max_kernel=3)
    return {
        "params": {"pool_size": pool_size, "stride": stride, "padding": padding},
        "shape": (draw(st.integers(1, 3)), h, w),
        "n": draw(st.integers(1, 3)),
        "seed": draw(st.integers(0, 2**16)),
        "ties": draw(st.booleans()),
    }


@pytest.mark.parametrize("cls, kind", [(MaxPool2D, "max"), (AvgPool2D, "avg")])
@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_pooling_matches_the_naive_reference(cls, kind, case) -> None:
    rng = np.random.default_rng(case["seed"])
    pool = cls(**case["params"])
    out_shape = pool.build(case["shape"], dtype=np.float64)
    x = rng.standard_normal((case["n"], *case["shape"]))
    if case["ties"]:  # few distinct values, so windows hold several maxima
        x = np.round(x)
    x_before = x.copy()
    y = pool.forward(x, train=True)
    (sh, sw), pads = pads_of(pool)
    y_ref, ref_backward = ref_pool(x, kind, (pool.window.kh, pool.window.kw), (sh, sw), pads)
    assert y.shape == (case["n"], *out_shape)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_allclose(pool.backward(dout), ref_backward(dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_before)


# -- gradient checks through the project's checker (float64) --------------------------------------


@pytest.mark.parametrize(
    "layer, shape",
    [
        (Conv2D(filters=3, kernel_size=3, padding=1), (2, 5, 5)),
        (Conv2D(filters=2, kernel_size=[3, 2], stride=2, padding="same"), (3, 5, 6)),
        (MaxPool2D(pool_size=3, stride=2, padding=1), (2, 5, 5)),
        (AvgPool2D(pool_size=2, stride=1), (2, 4, 3)),
        (GlobalAvgPool2D(), (3, 3, 2)),
    ],
    ids=lambda v: repr(v) if not isinstance(v, tuple) else str(v),
)
def test_gradcheck_float64(layer, shape) -> None:
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((3, *shape))
    report = gradcheck_layer(layer, x)
    assert report.passed, str(report)


# -- implementation properties ------------------------------------------------------------------


def _built_conv(**hp) -> Conv2D:
    conv = Conv2D(filters=4, kernel_size=3, padding=1, **hp)
    conv.build((3, 6, 6), rng=np.random.default_rng(0), dtype=np.float64)
    conv.params["b"][...] = [0.1, -0.2, 0.3, 0.0]
    return conv


def test_chunked_batches_give_the_same_results() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 3, 6, 6))
    dout = rng.standard_normal((7, 4, 6, 6))
    whole, chunked = _built_conv(), _built_conv()
    # per sample: 3*3*3 column rows + 4 filter rows of 36 doubles, so 3 samples per chunk
    chunked.max_workspace_bytes = 3 * (3 * 3 * 3 + 4) * 36 * 8
    assert [s.stop - s.start for s in chunked._chunks(7)] == [3, 3, 1]
    np.testing.assert_allclose(
        chunked.forward(x, train=True), whole.forward(x, train=True), rtol=1e-13
    )
    np.testing.assert_allclose(chunked.backward(dout), whole.backward(dout), rtol=1e-13)
    for key in ("W", "b"):
        np.testing.assert_allclose(chunked.grads[key], whole.grads[key], rtol=1e-12)


def test_backward_can_run_twice_for_one_forward() -> None:
    # backward reuses the column buffer for dcol, so a second call must rebuild the columns
    rng = np.random.default_rng(7)
    conv = _built_conv()
    x, dout = rng.standard_normal((3, 3, 6, 6)), rng.standard_normal((3, 4, 6, 6))
    conv.forward(x, train=True)
    dx1, gw1 = conv.backward(dout), conv.grads["W"].copy()
    dx2, gw2 = conv.backward(dout), conv.grads["W"].copy()
    np.testing.assert_allclose(dx2, dx1, rtol=1e-13)
    np.testing.assert_allclose(gw2, gw1, rtol=1e-13)


def test_first_layer_skips_the_input_gradient() -> None:
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((2, 4, 6, 6))
    full, first = _built_conv(), _built_conv()
    first.needs_input_grad = False
    full.forward(x, train=True)
    full.backward(dout)
    first.forward(x, train=True)
    assert first.backward(dout) is None
    np.testing.assert_allclose(first.grads["W"], full.grads["W"], rtol=1e-13)


def test_outputs_are_fresh_arrays_and_backward_follows_the_last_forward() -> None:
    rng = np.random.default_rng(4)
    conv = _built_conv()
    x1, x2 = rng.standard_normal((2, 2, 3, 6, 6))
    y1 = conv.forward(x1, train=True)
    y1_copy = y1.copy()
    dout = rng.standard_normal(y1.shape)
    dx1 = conv.backward(dout)
    dx1_copy, gw1 = dx1.copy(), conv.grads["W"].copy()
    conv.forward(x2, train=True)
    conv.backward(dout)
    np.testing.assert_array_equal(y1, y1_copy)  # scratch reuse never leaks into results
    np.testing.assert_array_equal(dx1, dx1_copy)
    assert not np.allclose(conv.grads["W"], gw1)
    conv.forward(x1, train=True)
    conv.backward(dout)
    np.testing.assert_allclose(conv.grads["W"], gw1, rtol=1e-13)


def test_batch_size_can_change_between_calls() -> None:
    rng = np.random.default_rng(5)
    conv, ref = _built_conv(), _built_conv()
    for n in (5, 2, 7, 1):
        x = rng.standard_normal((n, 3, 6, 6))
        y_ref, _ = ref_conv(x, ref.params["W"], ref.params["b"], *pads_of(ref))
        np.testing.assert_allclose(conv.forward(x), y_ref, rtol=1e-12)


@pytest.mark.parametrize(
    "layer",
    [Conv2D(filters=2, kernel_size=3), MaxPool2D(), AvgPool2D(), GlobalAvgPool2D()],
    ids=lambda v: v.name,
)
def test_float32_layers_return_float32_for_any_float_input(layer) -> None:
    layer.build((2, 4, 4), dtype=np.float32)
    y = layer.forward(np.ones((3, 2, 4, 4), dtype=np.float64), train=True)
    assert y.dtype == np.float32
    assert layer.backward(np.ones(y.shape, dtype=np.float32)).dtype == np.float32


def test_float32_conv_agrees_with_float64() -> None:
    rng = np.random.default_rng(6)
    c64 = Conv2D(filters=8, kernel_size=3, padding=1)
    c64.build((4, 10, 10), rng=np.random.default_rng(0), dtype=np.float64)
    c32 = Conv2D(filters=8, kernel_size=3, padding=1)
    c32.build((4, 10, 10), rng=np.random.default_rng(0), dtype=np.float32)
    x = rng.standard_normal((5, 4, 10, 10))
    np.testing.assert_allclose(c32.forward(x), c64.forward(x), rtol=1e-4, atol=1e-5)


def test_backward_before_forward_is_a_clear_error() -> None:
    conv = _built_conv()
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
        conv.backward(np.zeros((1, 4, 6, 6)))
