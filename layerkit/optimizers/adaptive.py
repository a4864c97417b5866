"""Optimizers with per-parameter learning rates (the textbook's AdaGrad, RMSprop and Adam)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from pydantic import Field

from layerkit.optimizers.base import Optimizer, OptimizerParams

__all__ = ["AdaGrad", "RMSprop", "Adam", "AdaGradParams", "RMSpropParams", "AdamParams"]


class AdaGradParams(OptimizerParams):
    eps: float = Field(1e-7, gt=0, description="added to sqrt(h) to avoid dividing by zero")


class AdaGrad(Optimizer[AdaGradParams]):
    """AdaGrad: ``h += dW * dW; W -= lr * dW / (sqrt(h) + eps)``."""

    Params: ClassVar[type[OptimizerParams]] = AdaGradParams
    slots = ("h",)

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        h = self.slot("h", key, param)
        tmp = self.scratch(key, param)
        np.multiply(grad, grad, out=tmp)
        h += tmp
        _descend(param, grad, h, self.lr, self.hp.eps, tmp)


class RMSpropParams(OptimizerParams):
    decay_rate: float = Field(0.99, gt=0, lt=1, description="fraction of h kept per step")
    eps: float = Field(1e-7, gt=0, description="added to sqrt(h) to avoid dividing by zero")


class RMSprop(Optimizer[RMSpropParams]):
    """RMSprop: ``h = rho * h + (1 - rho) * dW * dW; W -= lr * dW / (sqrt(h) + eps)``."""

    Params: ClassVar[type[OptimizerParams]] = RMSpropParams
    slots = ("h",)

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        rho = self.hp.decay_rate
        h = self.slot("h", key, param)
        tmp = self.scratch(key, param)
        h *= rho
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - rho
        h += tmp
        _descend(param, grad, h, self.lr, self.hp.eps, tmp)


class AdamParams(OptimizerParams):
    lr: float = Field(0.001, gt=0, description="learning rate")
    beta1: float = Field(0.9, ge=0, lt=1, description="decay of the first-moment estimate")
    beta2: float = Field(0.999, ge=0, lt=1, description="decay of the second-moment estimate")
    eps: float = Field(1e-7, gt=0, description="added to sqrt(v) to avoid dividing by zero")


class Adam(Optimizer[AdamParams]):
    """Adam (Kingma & Ba), with the textbook's bias correction folded into the step size."""

    Params: ClassVar[type[OptimizerParams]] = AdamParams
    slots = ("m", "v")

    def begin_step(self) -> None:
        t = self.iterations
        b1, b2 = self.hp.beta1, self.hp.beta2
        self._lr_t = self.lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        m = self.slot("m", key, param)
        v = self.slot("v", key, param)
        tmp = self.scratch(key, param)
        # m += (1 - beta1) * (dW - m)
        np.subtract(grad, m, out=tmp)
        tmp *= 1.0 - self.hp.beta1
        m += tmp
        # v += (1 - beta2) * (dW**2 - v)
        np.multiply(grad, grad, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.hp.beta2
        v += tmp
        _descend(param, m, v, self._lr_t, self.hp.eps, tmp)


def _descend(
    param: np.ndarray, direction: np.ndarray, h: np.ndarray, lr: float, eps: float, tmp: np.ndarray
) -> None:
    """``param -= lr * direction / (sqrt(h) + eps)`` using ``tmp`` as the only work array."""
    np.sqrt(h, out=tmp)
    tmp += eps
    np.divide(direction, tmp, out=tmp)
    tmp *= lr
    param -= tmp
