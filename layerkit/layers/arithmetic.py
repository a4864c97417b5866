"""The textbook's two-input graph nodes: multiplication and addition.

They are the building blocks of hand-made computational graphs (the apple-and-orange shopping
example), not layers of a sequential network::

    mul = Mul()
    price = mul.forward(100, 2)          # 200
    d_apple, d_num = mul.backward(1.0)   # 2, 100

Inputs may be numbers or arrays; when an input was broadcast, its gradient is summed back to
that input's shape.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerkit.layers.base import LayerParams, Node

__all__ = ["Add", "Mul"]

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


class Mul(Node[LayerParams]):
    """Multiplication node: ``x * y``; backward swaps the inputs (dx = dout * y, dy = dout * x)."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"params": {}, "input_shape": (3, 2)},)

    def forward(self, x: Operand, y: Operand) -> Operand:  # type: ignore[override]
        self._x, self._y = x, y
        return x * y

    def backward(self, dout: Operand) -> tuple[Operand, Operand]:  # type: ignore[override]
        dx = _unbroadcast(dout * self._y, np.shape(self._x))
        return dx, _unbroadcast(dout * self._x, np.shape(self._y))


class Add(Node[LayerParams]):
    """Addition node: ``x + y``; backward passes ``dout`` to both inputs."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = ({"params": {}, "input_shape": (3, 2)},)

    def forward(self, x: Operand, y: Operand) -> Operand:  # type: ignore[override]
        self._shapes = (np.shape(x), np.shape(y))
        return x + y

    def backward(self, dout: Operand) -> tuple[Operand, Operand]:  # type: ignore[override]
        # dout * 1 is a new object: the caller's dout is never handed back for others to write
        return _unbroadcast(dout * 1, self._shapes[0]), _unbroadcast(dout * 1, self._shapes[1])
