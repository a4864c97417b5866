"""layerkit's own components, augmentations, callbacks and ONNX
converters, registered through the same hooks
as any plugin's."""

from __future__ import annotations

from layerkit.data import BUILTIN_DATASETS
from layerkit.data.augment import BUILTIN_AUGMENTATIONS
from layerkit.export.converters import BUILTIN_CONVERTERS
from layerkit.hookspecs import hookimpl
from layerkit.layers import BUILTIN_LAYERS
from layerkit.optimizers import BUILTIN_OPTIMIZERS
from layerkit.training.tensorboard import TensorBoard


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
def layerkit_add_onnx_converters() -> dict[type, object]:
    return dict(BUILTIN_CONVERTERS)


@hookimpl
def layerkit_add_callbacks() -> list[type]:
    return [TensorBoard]


@hookimpl
def layerkit_add_augmentations() -> list[type]:
    return list(BUILTIN_AUGMENTATIONS)
