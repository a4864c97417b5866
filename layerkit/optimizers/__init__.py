"""Built-in optimizers. ``BUILTIN_OPTIMIZERS`` is what the built-in plugin registers."""

from __future__ import annotations

from layerkit.optimizers.adaptive import AdaGrad, Adam, RMSprop
from layerkit.optimizers.base import Optimizer, OptimizerParams
from layerkit.optimizers.sgd import SGD, Momentum, Nesterov

__all__ = [
    "Optimizer",
    "OptimizerParams",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSprop",
    "Adam",
    "BUILTIN_OPTIMIZERS",
]

BUILTIN_OPTIMIZERS: tuple[type[Optimizer], ...] = (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)
