"""layerkit's own components, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from layerkit.data import BUILTIN_DATASETS
from layerkit.hookspecs import hookimpl
from layerkit.layers import BUILTIN_LAYERS
from layerkit.optimizers import BUILTIN_OPTIMIZERS


@hookimpl
def layerkit_add_layers() -> list[type]:
    return list(BUILTIN_LAYERS)


@hookimpl
def layerkit_add_optimizers() -> list[type]:
    return list(BUILTIN_OPTIMIZERS)


@hookimpl
def layerkit_add_datasets() -> list[type]:
    return list(BUILTIN_DATASETS)


@hookimpl
def layerkit_add_augmentations() -> list[type]:
    from layerkit.data.augment import BUILTIN_AUGMENTATIONS

    return list(BUILTIN_AUGMENTATIONS)
