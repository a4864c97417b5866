"""Gradient descent with and without momentum (the textbook's SGD, Momentum and Nesterov).

``Momentum`` and ``Nesterov`` are the textbook's forms; ``SGD(momentum=..., nesterov=...)`` is
PyTorch's ``torch.optim.SGD`` (dampening 0), step for step. They differ (docs/training.md,
"Optimizers: the textbook and PyTorch"):

* Momentum keeps ``lr`` inside the velocity (``v = mu v - lr g; W += v``), PyTorch outside
  (``b = mu b + g; W -= lr b``): the same steps at a constant ``lr``, different ones once a
  schedule changes it.
* The textbook's Nesterov applies ``mu^2`` to the *updated* velocity
  (``W += mu^2 v - (1 + mu) lr g``); PyTorch and Sutskever et al. use the previous buffer
  (``W -= lr (g + mu b)`` with ``b = mu b + g``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from layerkit.optimizers.base import Optimizer, OptimizerParams

__all__ = ["SGD", "SGDParams", "Momentum", "Nesterov", "MomentumParams"]


class SGDParams(OptimizerParams):
    momentum: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="PyTorch-style momentum: b = momentum * b + dW; W -= lr * b (0: plain SGD)",
    )
    nesterov: bool = Field(
        False,
        description="PyTorch-style Nesterov momentum: W -= lr * (dW + momentum * b); needs momentum > 0",
    )

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDParams:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: needs momentum > 0 (received momentum 0)")
        return self


class SGD(Optimizer[SGDParams]):
    """Stochastic gradient descent: ``W -= lr * dW``; with ``momentum``, PyTorch's SGD.

    Examples
    --------
    >>> SGD(lr=0.1)                                      # the textbook's SGD
    >>> SGD(lr=0.1, momentum=0.9, nesterov=True)         # torch.optim.SGD(..., nesterov=True)
    """

    Params: ClassVar[type[OptimizerParams]] = SGDParams
    slots = ("momentum_buffer",)

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        tmp = self.scratch(key, param)
        mu = self.hp.momentum
        if not mu:
            np.multiply(grad, self.lr, out=tmp)
            param -= tmp
            return
        b = self.slot("momentum_buffer", key, param)  # zeros: the first step makes b = dW
        b *= mu
        b += grad
        if self.hp.nesterov:
            np.multiply(b, mu, out=tmp)
            tmp += grad
            tmp *= self.lr
        else:
            np.multiply(b, self.lr, out=tmp)
        param -= tmp


class MomentumParams(OptimizerParams):
    momentum: float = Field(0.9, ge=0, lt=1, description="fraction of the velocity kept per step")


class Momentum(Optimizer[MomentumParams]):
    """SGD with momentum, the textbook's form: ``v = momentum * v - lr * dW; W += v``.

    ``lr`` is inside the velocity; for PyTorch's form use ``SGD(momentum=...)``.
    """

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
    """Nesterov's accelerated gradient, in the textbook's form (one gradient per step).

    ``W += mu^2 v - (1 + mu) lr dW`` with the updated velocity ``v``; PyTorch's form is
    ``SGD(momentum=..., nesterov=True)``.
    """

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
