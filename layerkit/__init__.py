"""layerkit: neural networks from NumPy layers, pluggy plugins and YAML specs.

Attributes are imported on first use (PEP 562), so ``import layerkit`` and
``layerkit --version`` do not pay for NumPy, pydantic or the plugin scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerkit._lazy import lazy_exports
from layerkit._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # plugins
    "hookimpl": "layerkit.hookspecs",
    "get_registry": "layerkit.plugins",
    # errors
    "LayerkitError": "layerkit.errors",
    "ConfigError": "layerkit.errors",
    "SpecError": "layerkit.errors",
    "ShapeError": "layerkit.errors",
    "PluginError": "layerkit.errors",
    "DataError": "layerkit.errors",
    "CheckpointError": "layerkit.errors",
    "RunFailed": "layerkit.errors",
    "LayerkitWarning": "layerkit.errors",
    "PluginWarning": "layerkit.errors",
    "CheckpointWarning": "layerkit.errors",
    # layer contract
    "Layer": "layerkit.layers.base",
    "Loss": "layerkit.layers.base",
    "Node": "layerkit.layers.base",
    "Merge": "layerkit.layers.base",
    "Input": "layerkit.layers.symbolic",
    "Tensor": "layerkit.layers.symbolic",
    "LayerParams": "layerkit.layers.base",
    # textbook layers
    "Mul": "layerkit.layers.arithmetic",
    "Add": "layerkit.layers.arithmetic",
    "Concat": "layerkit.layers.arithmetic",
    "Affine": "layerkit.layers.affine",
    "Relu": "layerkit.layers.activations",
    "Sigmoid": "layerkit.layers.activations",
    "Tanh": "layerkit.layers.activations",
    "LeakyRelu": "layerkit.layers.activations",
    "Dropout": "layerkit.layers.dropout",
    "BatchNorm": "layerkit.layers.normalization",
    "SoftmaxWithLoss": "layerkit.layers.losses",
    "MeanSquaredError": "layerkit.layers.losses",
    "Conv2D": "layerkit.layers.conv",
    "MaxPool2D": "layerkit.layers.pooling",
    "AvgPool2D": "layerkit.layers.pooling",
    "GlobalAvgPool2D": "layerkit.layers.pooling",
    "Flatten": "layerkit.layers.reshape",
    "Reshape": "layerkit.layers.reshape",
    # networks
    "Network": "layerkit.network",
    "gradcheck_layer": "layerkit.gradcheck",
    "GradcheckReport": "layerkit.gradcheck",
    # numerically stable functions and weight initialisers
    "softmax": "layerkit.functions",
    "log_softmax": "layerkit.functions",
    "logsumexp": "layerkit.functions",
    "cross_entropy": "layerkit.functions",
    "sigmoid": "layerkit.functions",
    "NormalInit": "layerkit.initializers",
    "HeInit": "layerkit.initializers",
    "XavierInit": "layerkit.initializers",
    # components
    "Optimizer": "layerkit.optimizers.base",
    "Dataset": "layerkit.data.base",
    # specs
    "Spec": "layerkit.spec.models",
    "load_spec": "layerkit.spec.loader",
    "build_network": "layerkit.spec.builder",
    # runs: spec in, trained network and run folder out
    "train": "layerkit.run",
    "RunResult": "layerkit.run",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover - static analysers see the real imports
    from layerkit.errors import (  # noqa: F401
        CheckpointError,
        CheckpointWarning,
        ConfigError,
        DataError,
        LayerkitError,
        LayerkitWarning,
        PluginError,
        PluginWarning,
        RunFailed,
        ShapeError,
        SpecError,
    )
    from layerkit.hookspecs import hookimpl  # noqa: F401
    from layerkit.layers.base import Layer, LayerParams, Loss, Merge, Node  # noqa: F401
    from layerkit.layers.symbolic import Input, Tensor  # noqa: F401
    from layerkit.plugins import get_registry  # noqa: F401
