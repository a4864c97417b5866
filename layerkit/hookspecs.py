"""Hook contracts for layerkit plugins.

A plugin is a module with functions marked ``@layerkit.hookimpl`` whose names match the hooks
below, registered under the ``layerkit`` entry-point group of its distribution::

    [project.entry-points.layerkit]
    activations = "layerkit_activations"

layerkit's own layers, optimizers, datasets and augmentations are registered through these same hooks by the
built-in plugin :mod:`layerkit.builtins`.

Each hook takes no arguments and returns a list of component classes (or ``None`` for none).
A component's ``name`` is what specs use; it must not contain ``:``, which separates the plugin
from the name in qualified names (``activations:GELU``). A hook that raises, or returns anything
but such classes, gets its whole plugin quarantined (see :mod:`layerkit.plugins`).
"""

from __future__ import annotations

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
def layerkit_add_augmentations() -> list[type] | None:
    """Return the augmentation classes this plugin provides.

    Each is a subclass of :class:`layerkit.data.augment.Augmentation` with a unique ``name``
    (used as ``type:`` in a spec's ``data.augment`` list), a ``Params`` pydantic model and an
    ``apply(x, rng)`` that changes a training batch in place, vectorised over the batch.
    """
