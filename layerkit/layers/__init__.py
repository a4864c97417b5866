"""Built-in layers, one family per module. ``BUILTIN_LAYERS`` is what the built-in plugin registers."""

from __future__ import annotations

from layerkit.layers.base import Layer, LayerParams, Loss, Node

__all__ = ["Layer", "LayerParams", "Loss", "Node", "BUILTIN_LAYERS"]

BUILTIN_LAYERS: tuple[type[Layer], ...] = ()
