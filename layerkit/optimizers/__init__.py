"""Built-in optimizers. ``BUILTIN_OPTIMIZERS`` is what the built-in plugin registers."""

from __future__ import annotations

from layerkit.optimizers.base import Optimizer, OptimizerParams

__all__ = ["Optimizer", "OptimizerParams", "BUILTIN_OPTIMIZERS"]

BUILTIN_OPTIMIZERS: tuple[type[Optimizer], ...] = ()
