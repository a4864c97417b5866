"""Gradient descent with and without momentum (the textbook's SGD, Momentum and Nesterov)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from layerkit.optimizers.base import Optimizer, OptimizerParams

__all__ = ["SGD", "Momentum", "Nesterov", "MomentumParams"]


class SGD(Optimizer[OptimizerParams]):
    """Stochastic gradient descent: ``W -= lr * dW``."""

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        tmp = self.scratch(key, param)
        np.multiply(grad, self.lr, out=tmp)
        param -= tmp


class MomentumParams(OptimizerParams):
    momentum: float = Field(0.9, ge=0, lt=1, description="fraction of the velocity kept per step")


class Momentum(Optimizer[MomentumParams]):
    """SGD with momentum: ``v = momentum * v - lr * dW; W += v``."""

    Params: ClassVar[type[OptimizerParams]] = MomentumParams
    slots = ("v",)

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        v = self.slot("v", key, param)
        tmp = self.scratch(key, param)
        v *= self.hp.momentum
        np.multiply(grad, self.lr, out=tmp)
        v -= tmp
        param += v


class Nesterov(Optimizer[MomentumParams]):
    """Nesterov's accelerated gradient, in the textbook's form (one gradient per step)."""

    Params: ClassVar[type[OptimizerParams]] = MomentumParams
    slots = ("v",)

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        mu = self.hp.momentum
        v = self.slot("v", key, param)
        tmp = self.scratch(key, param)
        v *= mu
        np.multiply(grad, self.lr, out=tmp)
        v -= tmp
        # W += mu^2 v - (1 + mu) lr dW
        np.multiply(v, mu * mu, out=tmp)
        param += tmp
        np.multiply(grad, (1.0 + mu) * self.lr, out=tmp)
        param -= tmp
