"""Merge layers: Add, Mul (the textbook's two nodes, now with any number of inputs) and Concat.

In a graph network they join branches (``{type: Add, inputs: [conv2, skip]}`` in a spec,
``Add()(a, b)`` in Python). Unbuilt, they are the textbook's hand-made computational graph (the
apple-and-orange shopping example)::

    mul = Mul()
    price = mul.forward(100, 2)          # 200
    d_apple, d_num = mul.backward(1.0)   # 2, 100

Unbuilt, inputs may be numbers or arrays under NumPy's broadcasting; an input's gradient is
summed back to that input's shape.

**Broadcast rule in a network** (per-sample shapes, batch axis excluded): ``Add`` takes inputs
of one shape. ``Mul`` aligns its inputs at their first axis, the channel axis of layerkit's
``(C, H, W)`` layout: a shorter shape is padded with 1s *at the end*, then every axis must be
equal or 1. So a per-channel gate ``(C,)`` or ``(C, 1, 1)`` scales each channel of a
``(C, H, W)`` map (squeeze-and-excitation), ``(1, H, W)`` scales every channel alike, and
``(D,)`` times ``(D,)`` is elementwise (a GLU). The output has the broadcast shape. ``Concat``
joins inputs along ``axis`` of the per-sample shape (0: channels of ``(C, H, W)``, features of
``(D,)``); every other axis must agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from layerkit.errors import ShapeError
from layerkit.layers.base import LayerParams, Merge, Shape

__all__ = ["Add", "Mul", "Concat"]

Operand = Any  # a Python number or an ndarray


def _unbroadcast(grad: Operand, shape: tuple[int, ...]) -> Operand:
    """Sum ``grad`` over the axes along which an input of ``shape`` was broadcast."""
    if np.shape(grad) == shape:
        return grad
    grad = np.asarray(grad)
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad if shape else grad[()]


def _listing(shapes: Sequence[Shape]) -> str:
    return ", ".join(f"input {i + 1} {tuple(s)}" for i, s in enumerate(shapes))


def channel_aligned(shapes: Sequence[Shape]) -> tuple[tuple[Shape, ...], Shape]:
    """The shapes padded with trailing 1s to one rank, and their broadcast (Mul's rule).

    Raises :class:`ShapeError` naming every input's shape when they cannot broadcast.
    """
    rank = max(len(s) for s in shapes)
    padded = tuple(tuple(s) + (1,) * (rank - len(s)) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {p[axis] for p in padded} - {1}
        if len(dims) > 1:
            raise ShapeError(
                f"shapes do not broadcast at axis {axis} ({' vs '.join(map(str, sorted(dims)))}): "
                f"{_listing(shapes)}; each axis must be equal or 1, a shorter shape being padded "
                "with 1s at the end (a (C,) gate scales the channels of (C, H, W))"
            )
        out.append(dims.pop() if dims else 1)
    return padded, tuple(out)


class MergeParams(LayerParams):
    pass


class Mul(Merge[MergeParams]):
    """Elementwise product of its inputs; per-channel gates broadcast over (C, H, W) maps."""

    Params: ClassVar[type[LayerParams]] = MergeParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shapes": [(3, 2), (3, 2)]},
        {"params": {}, "input_shapes": [(2, 3, 3), (2,)]},
        {"params": {}, "input_shapes": [(2, 1, 1), (2, 2, 3), (1, 2, 3)]},
    )

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:  # type: ignore[override]
        return channel_aligned(input_shapes)[1]

    def _align(self, xs: Sequence[Operand]) -> list[Operand]:
        if self.input_shapes is None:  # unbuilt: the textbook's nodes, NumPy broadcasting
            return list(xs)
        padded, _ = channel_aligned(self.input_shapes)
        # reshape gives views: a (N, C) gate becomes (N, C, 1, 1) without a copy
        return [x if x.shape[1:] == p else x.reshape(x.shape[0], *p) for x, p in zip(xs, padded)]

    def forward(self, *xs: Operand, train: bool = False) -> Operand:
        self._shapes = [np.shape(x) for x in xs]
        self._xs = aligned = self._align(xs)
        out = aligned[0] * aligned[1]
        for x in aligned[2:]:
            out = out * x
        return out

    def backward(self, dout: Operand) -> tuple[Operand, ...]:  # type: ignore[override]
        xs = self._xs
        grads = []
        for i, x in enumerate(xs):
            g = dout
            for j, other in enumerate(xs):
                if j != i:
                    g = g * other
            g = _unbroadcast(g, np.shape(x))
            grads.append(np.reshape(g, self._shapes[i]) if np.shape(g) != self._shapes[i] else g)
        return tuple(grads)


class Add(Merge[MergeParams]):
    """Sum of its inputs, which share one shape (a residual connection's merge)."""

    Params: ClassVar[type[LayerParams]] = MergeParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shapes": [(3, 2), (3, 2)]},
        {"params": {}, "input_shapes": [(2, 3, 3), (2, 3, 3), (2, 3, 3)]},
    )

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:  # type: ignore[override]
        first = tuple(input_shapes[0])
        if any(tuple(s) != first for s in input_shapes[1:]):
            raise ShapeError(f"inputs must have one shape: {_listing(input_shapes)}")
        return first

    def forward(self, *xs: Operand, train: bool = False) -> Operand:
        self._shapes = [np.shape(x) for x in xs]
        out = xs[0] + xs[1]
        for x in xs[2:]:
            if isinstance(out, np.ndarray) and np.shape(out) == np.broadcast_shapes(np.shape(out), np.shape(x)):
                out += x  # out is this layer's own new array: summed in place, no temporary
            else:
                out = out + x
        return out

    def backward(self, dout: Operand) -> tuple[Operand, ...]:  # type: ignore[override]
        # Each input's gradient is dout itself: returned arrays are read-only to the caller (a
        # network sums fan-out gradients into its own buffers), so no copy per input is made.
        return tuple(_unbroadcast(dout, s) for s in self._shapes)


class ConcatParams(LayerParams):
    axis: int = Field(
        0,
        description="axis of the per-sample shape to join along: 0 is the channels of (C, H, W) "
        "or the features of (D,); negative counts from the end",
    )


class Concat(Merge[ConcatParams]):
    """Join its inputs along a per-sample axis (channels by default), like Keras' Concatenate."""

    Params: ClassVar[type[LayerParams]] = ConcatParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shapes": [(3,), (2,)]},
        {"params": {"axis": -1}, "input_shapes": [(2, 3, 1), (2, 3, 2)]},
        {"params": {"axis": 0}, "input_shapes": [(1, 2, 2), (2, 2, 2), (1, 2, 2)]},
    )

    def _axis(self, rank: int) -> int:
        axis = self.hp.axis
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} is out of range for inputs of rank {rank}")
        return axis % rank

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:  # type: ignore[override]
        ranks = {len(s) for s in input_shapes}
        if len(ranks) > 1:
            raise ShapeError(f"inputs must have one rank: {_listing(input_shapes)}")
        axis = self._axis(ranks.pop())
        rest = {tuple(d for a, d in enumerate(s) if a != axis) for s in input_shapes}
        if len(rest) > 1:
            raise ShapeError(f"inputs must agree on every axis but {axis}: {_listing(input_shapes)}")
        out = list(input_shapes[0])
        out[axis] = sum(s[axis] for s in input_shapes)
        return tuple(out)

    def forward(self, *xs: Operand, train: bool = False) -> Operand:
        arrays = [np.asarray(x) for x in xs]
        axis = self._axis(arrays[0].ndim - 1) + 1  # +1: the batch axis
        self._axis_sizes = [a.shape[axis] for a in arrays]
        self._batch_axis = axis
        return np.concatenate(arrays, axis=axis)

    def backward(self, dout: Operand) -> tuple[Operand, ...]:  # type: ignore[override]
        # views of dout (read-only to the caller), no copies
        cuts = np.cumsum(self._axis_sizes)[:-1]
        return tuple(np.split(dout, cuts, axis=self._batch_axis))
