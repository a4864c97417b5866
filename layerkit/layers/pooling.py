"""2-D pooling over (C, H, W) inputs: max, average and global average.

Pooling works on each channel separately, so it needs no im2col: for every offset ``(i, j)``
inside the window one strided view of the whole batch, ``x[:, :, i::stride, j::stride]``, is
combined element-wise (``pool_h * pool_w`` vectorised NumPy calls per pass). This measured
several times faster than the textbook's im2col + ``max(axis=1)``.

Windows follow the same geometry rules as :class:`~layerkit.layers.conv.Conv2D` (the windows must
tile the padded input exactly; ``padding: same`` always fits). Padding never contributes to a
result: max pooling pads with ``-inf``, and average pooling divides by the number of real pixels
in each window (Keras's behaviour; PyTorch's default counts the padding zeros).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from layerkit.errors import ShapeError
from layerkit.layers.base import Layer, LayerParams, Shape
from layerkit.layers.windows import (
    KernelSize,
    Padding,
    Stride,
    Window,
    Workspace,
    batch_second,
    check_batch,
    empty_batch,
    pad_into,
    window_geometry,
)

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "MaxPool2D"]


class Pool2DParams(LayerParams):
    pool_size: KernelSize = Field(2, description="window size: an integer or [height, width]")
    stride: Stride | None = Field(None, description="window step (default: pool_size)")
    padding: Padding = Field(
        0, description="padding per side: an integer, [height, width], 'valid' or 'same'"
    )


class _Pool2D(Layer[Pool2DParams]):
    """Shared geometry and input handling of the windowed pooling layers."""

    Params: ClassVar[type[LayerParams]] = Pool2DParams
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = (
        {"pool_size": 0},
        {"pool_size": [2, 2, 2]},
        {"stride": 0},
        {"padding": -1},
        {"padding": "full"},
        {"pool_size": 2.5},
    )
    #: The geometry of the window over the input, set by ``build``.
    window: Window

    def __init__(self, *, id: str | None = None, **hyperparameters: Any) -> None:
        super().__init__(id=id, **hyperparameters)
        self._ws = Workspace()
        self._x_shape: tuple[int, ...] | None = None
        #: whether the last input was stored channel-major (batch_second): outputs, gradients
        #: and scratch follow the input's layout, so no pass transposes
        self._cm = False

    def _geometry(self, input_shape: Shape) -> Window:
        hp = self.hp
        stride = hp.pool_size if hp.stride is None else hp.stride
        win = window_geometry(
            self.label, input_shape, hp.pool_size, stride, hp.padding, kernel_name="pool_size"
        )
        for axis, pads, size in (
            ("height", (win.top, win.bottom), win.kh),
            ("width", (win.left, win.right), win.kw),
        ):
            if max(pads) >= size:
                raise ShapeError(
                    f"{self.label}: padding must be smaller than pool_size, or a window would see "
                    f"only padding (received padding {max(pads)} for a pool {axis} of {size})"
                )
        return win

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        win = self._geometry(input_shape)
        return (input_shape[0], win.oh, win.ow)

    def param_shapes(self, input_shape: Shape) -> dict[str, Shape]:
        return {}

    def create_params(
        self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        self.window = self._geometry(input_shape)
        return {}

    def _padded(self, x: np.ndarray, fill: float) -> np.ndarray:
        """``x`` as ``self.dtype``, padded with ``fill`` into a scratch array when needed."""
        check_batch(self.label, x, self.input_shape)
        self._x_shape = x.shape
        self._cm = batch_second(x)
        win = self.window
        if not win.padded:
            return np.asarray(x, dtype=self.dtype)
        n, c, h, w = x.shape
        xpad = self._ws.get("xpad", (n, c, *win.padded_size(h, w)), self.dtype, self._cm)
        return pad_into(x, win, xpad, fill)

    def _input_grad(self, parts: Callable[[int, np.ndarray | None], np.ndarray]) -> np.ndarray:
        """Scatter per-offset gradients ``parts(k, out)`` onto the input: ``dx`` ``(N, C, H, W)``.

        Where windows do not overlap every input pixel lies in at most one window, so each
        offset's gradient is written directly (the one pass ``out=`` allows); overlapping
        windows accumulate.
        """
        if self._x_shape is None:
            raise RuntimeError(f"{self.label}: backward() called before forward()")
        n, c, h, w = self._x_shape
        win = self.window
        exact_cover = win.sh == win.kh and win.sw == win.kw
        if win.padded:
            dxp = self._ws.get("dxpad", (n, c, *win.padded_size(h, w)), self.dtype, self._cm)
            if not exact_cover:
                dxp.fill(0)
        else:
            dxp = empty_batch((n, c, h, w), self.dtype, self._cm)
            if not exact_cover:
                dxp.fill(0)
        for k, (_, _, (rows, cols)) in enumerate(win.offsets()):
            target = dxp[:, :, rows, cols]
            if win.overlapping:
                target += parts(k, None)
            else:
                parts(k, target)
        if not win.padded:
            return dxp
        dx = empty_batch((n, c, h, w), self.dtype, self._cm)
        np.copyto(dx, dxp[:, :, win.top : win.top + h, win.left : win.left + w])
        return dx


class MaxPool2D(_Pool2D):
    """Max pooling over (C, H, W) inputs; the gradient flows to the first maximum of each window.

    ``stride`` defaults to ``pool_size`` (non-overlapping windows). Output
    ``(C, OH, OW)`` with ``OH = (H + 2*padding - pool_h) / stride + 1``, a whole number.
    """

    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (2, 4, 6)},
        {"params": {"pool_size": 3, "stride": 2, "padding": 1}, "input_shape": (2, 5, 5)},
        {"params": {"pool_size": [2, 3], "stride": 1}, "input_shape": (1, 3, 4)},
        {"params": {"pool_size": 2, "padding": "same"}, "input_shape": (3, 5, 3)},
    )

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        xs = self._padded(x, -np.inf)
        win = self.window
        n, c = xs.shape[:2]
        shape = (n, c, win.oh, win.ow)
        cm = self._cm
        out = empty_batch(shape, self.dtype, cm)
        # arg[k] = index of the first maximum within each window, kept for backward
        arg = self._ws.get("arg", shape, np.min_scalar_type(win.kh * win.kw - 1), cm)
        greater = self._ws.get("greater", shape, np.dtype(bool), cm)
        tagged = self._ws.get("tagged", shape, arg.dtype, cm)
        for k, (_, _, (rows, cols)) in enumerate(win.offsets()):
            v = xs[:, :, rows, cols]
            if k == 0:
                np.copyto(out, v)
                arg.fill(0)
                continue
            np.greater(v, out, out=greater)
            np.maximum(out, v, out=out)
            # offsets come in increasing k, so "max(arg, k where v beat the running max)" is
            # the first offset holding the window's maximum
            np.multiply(greater, arg.dtype.type(k), out=tagged)
            np.maximum(arg, tagged, out=arg)
        self._arg = arg
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        arg = self._arg
        hit = self._ws.get("hit", arg.shape, np.dtype(bool), self._cm)
        dout = np.asarray(dout, dtype=self.dtype)

        def part(k: int, out: np.ndarray | None) -> np.ndarray:
            np.equal(arg, k, out=hit)
            return np.multiply(dout, hit, out=out)

        return self._input_grad(part)


class AvgPool2D(_Pool2D):
    """Average pooling over (C, H, W) inputs (padding excluded from each window's mean).

    ``stride`` defaults to ``pool_size``. Output ``(C, OH, OW)`` with
    ``OH = (H + 2*padding - pool_h) / stride + 1``, a whole number.
    """

    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (2, 4, 6)},
        {"params": {"pool_size": 3, "stride": 2, "padding": 1}, "input_shape": (2, 5, 5)},
        {"params": {"pool_size": [2, 3], "stride": 1}, "input_shape": (1, 3, 4)},
        {"params": {"pool_size": 2, "padding": "same"}, "input_shape": (3, 5, 3)},
    )

    def create_params(
        self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        params = super().create_params(input_shape, rng, dtype)
        win = self.window
        if win.padded:
            _, h, w = input_shape
            rows = self._valid_counts(h, win.kh, win.sh, win.top, win.oh)
            cols = self._valid_counts(w, win.kw, win.sw, win.left, win.ow)
            self._scale: float | np.ndarray = (1.0 / np.outer(rows, cols)).astype(dtype)
        else:
            self._scale = 1.0 / (win.kh * win.kw)
        return params

    @staticmethod
    def _valid_counts(size: int, k: int, s: int, before: int, out: int) -> np.ndarray:
        start = np.arange(out) * s - before
        return np.minimum(start + k, size) - np.maximum(start, 0)

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        xs = self._padded(x, 0.0)
        win = self.window
        out = empty_batch((xs.shape[0], xs.shape[1], win.oh, win.ow), self.dtype, self._cm)
        for k, (_, _, (rows, cols)) in enumerate(win.offsets()):
            if k == 0:
                np.copyto(out, xs[:, :, rows, cols])
            else:
                np.add(out, xs[:, :, rows, cols], out=out)
        out *= self._scale
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        g = np.multiply(dout, self._scale, dtype=self.dtype)

        def part(k: int, out: np.ndarray | None) -> np.ndarray:
            if out is None:
                return g
            np.copyto(out, g)
            return out

        return self._input_grad(part)


class GlobalAvgPool2DParams(LayerParams):
    pass


class GlobalAvgPool2D(Layer[GlobalAvgPool2DParams]):
    """Mean of each channel over all positions: (C, H, W) -> (C,)."""

    Params: ClassVar[type[LayerParams]] = GlobalAvgPool2DParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (3, 4, 5)},
        {"params": {}, "input_shape": (2, 1, 1)},
    )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ShapeError(
                f"{self.label}: expected a per-sample input of shape (channels, height, width), "
                f"received {tuple(input_shape)} ({len(input_shape)}-D)"
            )
        return (input_shape[0],)

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        check_batch(self.label, x, self.input_shape)
        self._x_shape = x.shape
        self._cm = batch_second(x)
        n, c = x.shape[:2]
        return np.asarray(x, dtype=self.dtype).reshape(n, c, -1).mean(axis=2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, c, h, w = self._x_shape
        dx = empty_batch(self._x_shape, self.dtype, self._cm)
        dx[...] = (dout * (1.0 / (h * w))).reshape(n, c, 1, 1)
        return dx
