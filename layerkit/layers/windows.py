"""Sliding windows over ``(C, H, W)`` inputs: the geometry and scratch space that convolution
and pooling share.

* :data:`KernelSize`, :data:`Stride`, :data:`Padding`: the hyperparameter types (an integer or
  ``[height, width]``; padding also ``'valid'`` or ``'same'``), with layerkit's error wording;
* :func:`window_geometry` -> :class:`Window`: output size and padding per side of one layer;
* :func:`check_batch`: a batch of the shape the layer was built for;
* :class:`Workspace` and :func:`pad_into`: scratch arrays reused from batch to batch;
* :func:`batch_second` and :func:`empty_batch`: the channel-major memory layout convolution
  outputs use, which the layers after them keep.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field

from layerkit.errors import ShapeError
from layerkit.layers.base import Shape

__all__ = [
    "KernelSize",
    "Padding",
    "Stride",
    "Window",
    "Workspace",
    "batch_second",
    "check_batch",
    "empty_batch",
    "pad_into",
    "pair",
    "window_geometry",
]


# -- hyperparameter types ------------------------------------------------------------------------


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_pair(minimum: int, what: str, words: tuple[str, ...] = ()) -> Any:
    """A before-validator accepting an int >= ``minimum``, a pair of them, or one of ``words``.

    One message for every wrong form, instead of pydantic's one error per union member.
    """

    def check(value: Any) -> Any:
        if (isinstance(value, str) and value in words) or _is_int(value, minimum):
            return value
        if (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(_is_int(v, minimum) for v in value)
        ):
            return (value[0], value[1])
        options = [what, "a pair [height, width] of them", *map(repr, words)]
        raise ValueError(f"must be {', '.join(options[:-1])} or {options[-1]}")

    return BeforeValidator(check)


_Pos = Annotated[int, Field(ge=1)]
_NonNeg = Annotated[int, Field(ge=0)]

#: A window size: ``3`` or ``[3, 5]`` (height, width).
KernelSize = Annotated[_Pos | tuple[_Pos, _Pos], _check_pair(1, "an integer >= 1")]
#: A window step: ``2`` or ``[2, 1]``.
Stride = Annotated[_Pos | tuple[_Pos, _Pos], _check_pair(1, "an integer >= 1")]
#: Zero padding per side: ``1``, ``[1, 2]``, ``"valid"`` (none) or ``"same"`` (Keras: output
#: size ``ceil(input / stride)``, any odd extra row/column at the bottom/right).
Padding = Annotated[
    _NonNeg | tuple[_NonNeg, _NonNeg] | Literal["valid", "same"],
    _check_pair(0, "an integer >= 0", ("valid", "same")),
]


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


# -- window geometry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Where a 2-D sliding window goes: sizes, steps, padding per side and the output size."""

    kh: int
    kw: int
    sh: int
    sw: int
    top: int
    bottom: int
    left: int
    right: int
    oh: int
    ow: int

    @property
    def padded(self) -> bool:
        return bool(self.top or self.bottom or self.left or self.right)

    def padded_size(self, h: int, w: int) -> tuple[int, int]:
        return h + self.top + self.bottom, w + self.left + self.right

    def offsets(self) -> Iterator[tuple[int, int, tuple[slice, slice]]]:
        """``(i, j, (rows, cols))`` per kernel offset: the input pixels offset ``(i, j)`` sees."""
        for i in range(self.kh):
            rows = slice(i, i + self.sh * (self.oh - 1) + 1, self.sh)
            for j in range(self.kw):
                yield i, j, (rows, slice(j, j + self.sw * (self.ow - 1) + 1, self.sw))

    @property
    def overlapping(self) -> bool:
        """Whether one input pixel can fall into more than one window."""
        return self.sh < self.kh or self.sw < self.kw


def _axis(
    label: str, axis: str, size: int, k: int, s: int, pad: int | str, kernel_name: str
) -> tuple[int, int, int]:
    """``(pad_before, pad_after, output_size)`` along one axis; raise ShapeError if it does not fit."""
    if pad == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return total // 2, total - total // 2, out
    p = 0 if pad == "valid" else int(pad)
    padded = size + 2 * p
    if k > padded:
        padded_text = f" padded to {padded}" if p else ""
        raise ShapeError(
            f"{label}: {kernel_name} {k} is larger than the input {axis} {size}{padded_text}; "
            f"use a smaller {kernel_name}, more padding, or fewer downsampling layers before it"
        )
    span = padded - k
    if span % s:
        same = -(-size // s)
        raise ShapeError(
            f"{label}: the windows do not tile the input {axis}: "
            f"({axis[0].upper()} + 2*padding - {kernel_name}) / stride + 1 = "
            f"({size} + 2*{p} - {k}) / {s} + 1 = {span / s + 1:g} is not a whole number; "
            f"change padding or stride (padding: same gives an output {axis} of {same})"
        )
    return p, p, span // s + 1


def window_geometry(
    label: str,
    input_shape: Shape,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int] | str,
    *,
    kernel_name: str = "kernel_size",
) -> Window:
    """Check a ``(C, H, W)`` input against a window and return its geometry.

    Raises :class:`ShapeError` naming ``label`` when the input is not 3-D, when the window is
    larger than the (padded) input, or when the windows do not tile the padded input exactly
    (``(H + 2*padding - kernel) / stride + 1`` must be a whole number: layerkit does not silently
    drop the last rows as PyTorch and Keras do; ``padding: same`` always fits).
    """
    if len(input_shape) != 3:
        hint = ""
        if len(input_shape) == 1:
            hint = (
                " - a flat vector, as after Flatten or Affine: put convolution and pooling "
                "layers before Flatten, or reshape the data to images"
            )
        elif len(input_shape) == 2:
            hint = " - add a channel axis, e.g. input_shape [1, height, width]"
        raise ShapeError(
            f"{label}: expected a per-sample input of shape (channels, height, width), "
            f"received {tuple(input_shape)} ({len(input_shape)}-D){hint}"
        )
    (kh, kw), (sh, sw) = pair(kernel), pair(stride)
    ph: int | str
    pw: int | str
    if isinstance(padding, str):
        ph = pw = padding
    else:
        ph, pw = pair(padding)
    _, h, w = input_shape
    top, bottom, oh = _axis(label, "height", h, kh, sh, ph, kernel_name)
    left, right, ow = _axis(label, "width", w, kw, sw, pw, kernel_name)
    return Window(kh, kw, sh, sw, top, bottom, left, right, oh, ow)


def check_batch(label: str, x: np.ndarray, shape: Shape | None, what: str = "a batch") -> None:
    """Raise :class:`ShapeError` unless ``x`` is a batch ``(N, *shape)``."""
    if x.ndim < 1 or x.shape[1:] != shape:
        raise ShapeError(
            f"{label}: expected {what} of shape (N, {', '.join(map(str, shape or ()))}), received {x.shape}"
        )


# -- scratch memory ------------------------------------------------------------------------------


def batch_second(x: np.ndarray) -> bool:
    """Whether a 4-D batch ``(N, C, H, W)`` is stored channel-major, as ``(C, N, H, W)`` in memory.

    :class:`~layerkit.layers.conv.Conv2D` returns its output in that layout (the layout of its
    GEMM's result, so no transposing copy is needed), and the layers that usually follow a
    convolution (Relu, pooling, Flatten, the next Conv2D) keep it: see :func:`empty_batch`.
    """
    return x.ndim == 4 and not x.flags.c_contiguous and x.transpose(1, 0, 2, 3).flags.c_contiguous


def empty_batch(shape: tuple[int, ...], dtype: Any, channel_major: bool) -> np.ndarray:
    """A new ``(N, C, H, W)`` array, stored ``(C, N, H, W)`` in memory when ``channel_major``.

    Values and shapes are the same either way; the layout only decides which copies are
    straight (fast) and which transpose (2-2.5x slower).
    """
    if channel_major:
        return np.empty((shape[1], shape[0], *shape[2:]), dtype=dtype).transpose(1, 0, 2, 3)
    return np.empty(shape, dtype=dtype)


class Workspace:
    """Named scratch arrays reused from batch to batch (grown when a larger batch needs it).

    ``get`` returns a view with undefined contents; callers write every element they read.
    ``channel_major=True`` returns a 4-D ``(N, C, H, W)`` view stored ``(C, N, H, W)``.
    """

    def __init__(self) -> None:
        self._flat: dict[str, np.ndarray] = {}

    def get(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype, channel_major: bool = False
    ) -> np.ndarray:
        size = math.prod(shape)
        buf = self._flat.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._flat[name] = np.empty(size, dtype=dtype)
        if channel_major:
            return buf[:size].reshape((shape[1], shape[0], *shape[2:])).transpose(1, 0, 2, 3)
        return buf[:size].reshape(shape)

    def clear(self) -> None:
        self._flat.clear()

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._flat.values())


def pad_into(x: np.ndarray, win: Window, out: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Copy ``x`` ``(A, B, H, W)`` into the middle of ``out`` ``(A, B, Hp, Wp)``, borders = ``fill``.

    ``x`` may be a transposed view (the conv layer passes ``x.transpose(1, 0, 2, 3)``); the copy
    converts to ``out``'s dtype.
    """
    h, w = x.shape[2:]
    if win.padded:
        out[:, :, : win.top] = fill
        out[:, :, win.top + h :] = fill
        out[:, :, win.top : win.top + h, : win.left] = fill
        out[:, :, win.top : win.top + h, win.left + w :] = fill
    out[:, :, win.top : win.top + h, win.left : win.left + w] = x
    return out
