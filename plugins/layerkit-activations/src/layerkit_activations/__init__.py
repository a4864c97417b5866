"""layerkit-activations: smooth activation layers for layerkit, registered as a plugin.

The whole plugin interface is the two hooks below plus the entry point in ``pyproject.toml``::

    [project.entry-points.layerkit]
    activations = "layerkit_activations"

The layers live in :mod:`layerkit_activations.layers` and their ONNX converters in
:mod:`layerkit_activations.converters`, each imported only when layerkit asks for them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from layerkit import hookimpl

try:
    __version__ = version("layerkit-activations")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "layerkit_add_layers", "layerkit_add_onnx_converters"]


@hookimpl
def layerkit_add_layers() -> list[type]:
    """SiLU, Swish, GELU, ELU, Softplus and LayerNorm."""
    from layerkit_activations.layers import LAYERS

    return list(LAYERS)


@hookimpl
def layerkit_add_onnx_converters() -> dict[type, object]:
    """How each of those layers becomes ONNX operators (for ``layerkit export``)."""
    from layerkit_activations.converters import CONVERTERS

    return dict(CONVERTERS)
