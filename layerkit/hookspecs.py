"""Hook contracts for layerkit plugins.

A plugin is a module with functions marked ``@layerkit.hookimpl`` whose names match the hooks
below, registered under the ``layerkit`` entry-point group of its distribution::

    [project.entry-points.layerkit]
    activations = "layerkit_activations"

layerkit's own layers, optimizers and datasets are registered through these same hooks by the
built-in plugin :mod:`layerkit.builtins`.
"""

from __future__ import annotations

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "layerkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def layerkit_add_layers() -> list[type]:
    """Return the layer classes this plugin provides.

    Each is a subclass of :class:`layerkit.layers.base.Layer` (or ``Loss`` / ``Node``) with a
    unique ``name`` (used as ``type:`` in specs) and a ``Params`` pydantic model.
    """


@hookspec
def layerkit_add_optimizers() -> list[type]:
    """Return the optimizer classes this plugin provides.

    Each is a subclass of :class:`layerkit.optimizers.base.Optimizer` with a ``name`` and a
    ``Params`` pydantic model.
    """


@hookspec
def layerkit_add_datasets() -> list[type]:
    """Return the dataset classes this plugin provides.

    Each is a subclass of :class:`layerkit.data.base.Dataset` with a ``name`` (used as
    ``data.dataset:`` in specs) and a ``Params`` pydantic model.
    """
