"""Hook contracts for layerkit plugins.

A plugin is a module with functions marked ``@layerkit.hookimpl`` whose names match the hooks
below, registered under the ``layerkit`` entry-point group of its distribution::

    [project.entry-points.layerkit]
    activations = "layerkit_activations"

layerkit's own layers, optimizers, datasets, augmentations and callbacks are registered through these same hooks by the
built-in plugin :mod:`layerkit.builtins`.

The component hooks take no arguments and return a list of component classes (or ``None``
for none); :func:`layerkit_add_onnx_converters` returns a mapping of layer to ONNX converter.
A component's ``name`` is what specs use; it must not contain ``:``, which separates the plugin
from the name in qualified names (``activations:GELU``). A hook that raises, or returns anything
but such classes, gets its whole plugin quarantined (see :mod:`layerkit.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "layerkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def layerkit_add_layers() -> list[type] | None:
    """Return the layer classes this plugin provides.

    Each is a subclass of :class:`layerkit.layers.base.Layer` (or ``Loss`` / ``Merge``) with a
    unique ``name`` (used as ``type:`` in specs) and a ``Params`` pydantic model.
    """


@hookspec
def layerkit_add_optimizers() -> list[type] | None:
    """Return the optimizer classes this plugin provides.

    Each is a subclass of :class:`layerkit.optimizers.base.Optimizer` with a ``name`` and a
    ``Params`` pydantic model.
    """


@hookspec
def layerkit_add_datasets() -> list[type] | None:
    """Return the dataset classes this plugin provides.

    Each is a subclass of :class:`layerkit.data.base.Dataset` with a ``name`` (used as
    ``data.dataset:`` in specs) and a ``Params`` pydantic model.
    """


@hookspec
def layerkit_add_onnx_converters() -> Mapping[type | str, Callable[..., Any]] | None:
    """Return ONNX converters for layers: a mapping ``layer class (or name) -> converter``.

    A converter is ``converter(ctx, layer, inputs) -> output`` (see
    :mod:`layerkit.export.context`): it receives the names of the ONNX values feeding the layer,
    adds nodes and initializers through ``ctx`` (``ctx.node``, ``ctx.param``, ``ctx.constant``)
    and returns the name of the value holding the layer's output (for a loss layer: its
    inference output, e.g. probabilities). Converters never import ``onnx`` themselves, so a
    plugin registers them without depending on it.

    A key is a layer class (recommended) or a registered layer name (bare or
    ``plugin:Name``). A plugin may register converters for its own layers and for any other
    plugin's; when several plugins convert the same layer, the layer's own plugin wins. The
    built-in converters are registered through this hook by :mod:`layerkit.builtins`, like any
    plugin's. A hook that raises or returns something else is ignored with one
    :class:`~layerkit.errors.PluginWarning`; its layers keep working, they just do not export.
    """


@hookspec
def layerkit_add_callbacks() -> list[type] | None:
    """Return the training callback classes this plugin provides.

    Each is a subclass of :class:`layerkit.training.callbacks.RegisteredCallback` with a
    ``name`` (used as ``type:`` in a spec's ``train.callbacks``) and a ``Params`` pydantic model.
    layerkit runs it behind a guard: if one of its methods raises, the failure is reported once,
    naming the callback and its distribution, and the run goes on without it (``--strict-plugins``
    makes the failure end the run).
    """


@hookspec
def layerkit_add_augmentations() -> list[type] | None:
    """Return the augmentation classes this plugin provides.

    Each is a subclass of :class:`layerkit.data.augment.Augmentation` with a unique ``name``
    (used as ``type:`` in a spec's ``data.augment`` list), a ``Params`` pydantic model and an
    ``apply(x, rng)`` that changes a training batch in place, vectorised over the batch.
    """
