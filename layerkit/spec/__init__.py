"""YAML specs: declare a network, its data and its training; get it validated and built.

::

    from layerkit.spec import load_spec, build_network

    spec = load_spec("model_specs/two_layer_net.yaml", overrides=["train.optimizer.lr=0.05"])
    network = build_network(spec)          # shapes inferred, weights initialised from spec.seed
    print(network.summary())
    print(spec.to_yaml())                  # the resolved spec, every default filled in

Every mistake raises :class:`~layerkit.errors.SpecError`, whose ``issues`` say where
(``two_layer_net.yaml:9:5``), what (``model.layers[2].units``) and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerkit._lazy import lazy_exports

__all__ = [
    "Spec",
    "LayerSpec",
    "DataSpec",
    "OptimizerSpec",
    "ModelSpec",
    "load_spec",
    "loads_spec",
    "validate_spec",
    "apply_overrides",
    "build_network",
    "dataset_info",
    "spec_from_network",
    "spec_schema",
    "spec_models",
]

_EXPORTS = {
    "Spec": "layerkit.spec.models",
    "LayerSpec": "layerkit.spec.models",
    "DataSpec": "layerkit.spec.models",
    "OptimizerSpec": "layerkit.spec.models",
    "ModelSpec": "layerkit.spec.models",
    "spec_models": "layerkit.spec.models",
    "load_spec": "layerkit.spec.loader",
    "loads_spec": "layerkit.spec.loader",
    "validate_spec": "layerkit.spec.loader",
    "apply_overrides": "layerkit.spec.overrides",
    "build_network": "layerkit.spec.builder",
    "dataset_info": "layerkit.spec.builder",
    "spec_from_network": "layerkit.spec.builder",
    "spec_schema": "layerkit.spec.schema",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover
    from layerkit.spec.builder import build_network, dataset_info, spec_from_network
    from layerkit.spec.loader import load_spec, loads_spec, validate_spec
    from layerkit.spec.models import (
        DataSpec,
        LayerSpec,
        ModelSpec,
        OptimizerSpec,
        Spec,
        spec_models,
    )
    from layerkit.spec.overrides import apply_overrides
    from layerkit.spec.schema import spec_schema
