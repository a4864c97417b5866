"""Smooth activations: SiLU, Swish, GELU (tanh approximation), ELU, Softplus.

Each layer caches what its backward needs and returns a new ``dx`` (inputs are never written
into); float32 inputs give float32 outputs.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from layerkit.functions import sigmoid
from layerkit.layers.base import Layer, LayerParams

__all__ = ["ELU", "GELU", "LAYERS", "SiLU", "Softplus", "Swish"]

_ANY_SHAPE: tuple[dict[str, Any], ...] = (
    {"params": {}, "input_shape": (5,)},
    {"params": {}, "input_shape": (2, 3, 2)},
)


def _swish(x: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x * sigmoid(beta * x), sigmoid(beta * x))``."""
    s = sigmoid(x * beta if beta != 1.0 else x)
    return x * s, s


def _swish_grad(x: np.ndarray, s: np.ndarray, beta: float, dout: np.ndarray) -> np.ndarray:
    # d/dx x*s(bx) = s + b*x*s*(1 - s)
    dx = 1.0 - s
    dx *= x
    if beta != 1.0:
        dx *= beta
    dx += 1.0
    dx *= s
    dx *= dout
    return dx


class SiLU(Layer[LayerParams]):
    """Sigmoid linear unit (Swish with beta=1): x * sigmoid(x)."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = _ANY_SHAPE

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        y, s = _swish(x, 1.0)
        self._x, self._s = x, s
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return _swish_grad(self._x, self._s, 1.0, dout)


class SwishParams(LayerParams):
    beta: float = Field(1.0, gt=0, description="slope of the gate sigmoid(beta * x)")


class Swish(Layer[SwishParams]):
    """Swish: x * sigmoid(beta * x); beta=1 is SiLU, large beta approaches ReLU."""

    Params: ClassVar[type[LayerParams]] = SwishParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (5,)},
        {"params": {"beta": 1.702}, "input_shape": (2, 3, 2)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = ({"beta": 0.0}, {"beta": -1.0}, {"beta": "one"})

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        y, s = _swish(x, self.hp.beta)
        self._x, self._s = x, s
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return _swish_grad(self._x, self._s, self.hp.beta, dout)


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


class GELU(Layer[LayerParams]):
    """Gaussian error linear unit, tanh approximation: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = _ANY_SHAPE

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        x2 = x * x
        u = x2 * _GELU_A
        u += 1.0
        u *= x
        u *= _GELU_C
        t = np.tanh(u)
        self._x, self._x2, self._t = x, x2, t
        y = t + 1.0
        y *= x
        y *= 0.5
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, x2, t = self._x, self._x2, self._t
        # dy/dx = 0.5(1 + t) + 0.5x(1 - t^2) * c(1 + 3a x^2)
        du = x2 * (3.0 * _GELU_A)
        du += 1.0
        du *= _GELU_C
        sech2 = t * t
        np.subtract(1.0, sech2, out=sech2)
        du *= sech2
        du *= x
        du += t
        du += 1.0
        du *= 0.5
        du *= dout
        return du


class ELUParams(LayerParams):
    alpha: float = Field(1.0, gt=0, description="saturation value -alpha for x -> -inf")


class ELU(Layer[ELUParams]):
    """Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise."""

    Params: ClassVar[type[LayerParams]] = ELUParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (5,)},
        {"params": {"alpha": 0.5}, "input_shape": (2, 3, 2)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = ({"alpha": 0.0}, {"alpha": -1.0}, {"alpha": [1]})

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        alpha = self.hp.alpha
        mask = x > 0
        # expm1 of min(x, 0): exact near 0 and no overflow from the branch np.where discards
        neg = np.expm1(np.minimum(x, 0))
        neg *= alpha
        y = np.where(mask, x, neg)
        self._mask, self._y = mask, y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # for x <= 0, d/dx alpha(exp(x) - 1) = alpha * exp(x) = y + alpha
        return np.where(self._mask, dout, dout * (self._y + self.hp.alpha))


class SoftplusParams(LayerParams):
    beta: float = Field(1.0, gt=0, description="sharpness: log(1 + exp(beta * x)) / beta")


class Softplus(Layer[SoftplusParams]):
    """Softplus: log(1 + exp(beta * x)) / beta, a smooth ReLU; stable for any x."""

    Params: ClassVar[type[LayerParams]] = SoftplusParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (5,)},
        {"params": {"beta": 2.0}, "input_shape": (2, 3, 2)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = ({"beta": 0.0}, {"beta": -2.0}, {"beta": None})

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        beta = self.hp.beta
        bx = x * beta if beta != 1.0 else x
        self._bx = bx
        y = np.logaddexp(0, bx)
        if beta != 1.0:
            y /= beta
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = sigmoid(self._bx)
        dx *= dout
        return dx


LAYERS: tuple[type[Layer], ...] = (SiLU, Swish, GELU, ELU, Softplus)
