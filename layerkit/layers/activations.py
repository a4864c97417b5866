"""Elementwise activations: Relu, Sigmoid, Tanh, LeakyRelu.

Each caches the smallest thing its backward needs (a mask or its output) and returns a new
``dx``: the caller's ``dout`` is never written into (the textbook's ``Relu.backward`` does).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from layerkit.functions import sigmoid
from layerkit.layers.base import Layer, LayerParams

__all__ = ["LeakyRelu", "Relu", "Sigmoid", "Tanh"]

_ANY_SHAPE: tuple[dict[str, Any], ...] = (
    {"params": {}, "input_shape": (5,)},
    {"params": {}, "input_shape": (2, 3, 2)},
)


class Relu(Layer[LayerParams]):
    """Rectified linear unit: max(x, 0)."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = _ANY_SHAPE

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        out = np.maximum(x, 0)
        # The output doubles as the mask (out > 0 exactly where x > 0): one array less per step.
        # A new array every call, as callers may still hold the previous output.
        self._out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # 1.0 where the unit was active, then times dout: the values of dout * mask, without a
        # bool temporary or a mixed-type multiply.
        dx = np.greater(self._out, 0, out=np.empty_like(dout))
        dx *= dout
        return dx


class Sigmoid(Layer[LayerParams]):
    """Logistic sigmoid 1 / (1 + exp(-x)), stable for any x; dx = dout * (1 - y) * y."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = _ANY_SHAPE

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        y = sigmoid(x)
        self._y = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._y
        dx = 1.0 - y
        dx *= y
        dx *= dout
        return dx


class Tanh(Layer[LayerParams]):
    """Hyperbolic tangent; dx = dout * (1 - y^2)."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = _ANY_SHAPE

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        y = np.tanh(x)
        self._y = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._y
        dx = y * y
        np.subtract(1.0, dx, out=dx)
        dx *= dout
        return dx


class LeakyReluParams(LayerParams):
    alpha: float = Field(0.01, ge=0, lt=1, description="slope for x < 0")


class LeakyRelu(Layer[LeakyReluParams]):
    """Leaky ReLU: x for x > 0, alpha * x otherwise."""

    Params: ClassVar[type[LayerParams]] = LeakyReluParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (5,)},
        {"params": {"alpha": 0.2}, "input_shape": (2, 3, 2)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = (
        {"alpha": -0.1},
        {"alpha": 1.0},
        {"alpha": "big"},
    )

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        mask = x > 0
        self._mask = mask
        return np.where(mask, x, x * self.hp.alpha)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self._mask, dout, dout * self.hp.alpha)
