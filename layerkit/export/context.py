"""What a converter is handed: a :class:`ConversionContext` that adds ONNX nodes and weights.

A converter turns one layer into ONNX nodes::

    def convert_swish(ctx, layer, inputs):
        (x,) = inputs                                  # names of the values feeding the layer
        beta = ctx.constant(layer.hp.beta, "beta")     # a scalar in the network's dtype
        gate = ctx.node("Sigmoid", [ctx.node("Mul", [x, beta])])
        return ctx.node("Mul", [x, gate])              # the value holding the layer's output

Weights become initializers named like the network's parameters (``ctx.param("W")`` of layer
``fc1`` is the initializer ``fc1.W``); nodes and intermediate values are named after the layer
(``fc1/Gemm``), so a viewer such as Netron shows the network as layerkit names it. ``ctx.opset``
lets a converter use a newer operator when the target opset has it. Converters never import
``onnx``; this module does (the ``onnx`` extra).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from layerkit.errors import ExportError
from layerkit.layers.base import Layer

__all__ = ["ConversionContext"]


class ConversionContext:
    """Collects the nodes and initializers of one graph while converters run, layer by layer."""

    def __init__(self, *, opset: int, dtype: np.dtype) -> None:
        #: The ONNX opset of the default domain the model declares.
        self.opset = opset
        #: The floating-point type of the exported tensors (the network's dtype).
        self.dtype = np.dtype(dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        #: domain -> version, for converters that use operators outside the default domain
        self.domains: dict[str, int] = {}
        self._names: set[str] = set()
        self._layer: Layer | None = None

    # -- what the exporter does around each converter ----------------------------------------

    def reserve(self, names: Iterable[str]) -> None:
        """Names converters must not produce (the graph's inputs and outputs)."""
        self._names.update(names)

    def begin(self, layer: Layer) -> None:
        """Name what follows after ``layer`` (its id prefixes nodes, values and weights)."""
        self._layer = layer

    @property
    def layer(self) -> Layer:
        if self._layer is None:
            raise RuntimeError("ConversionContext: no layer is being converted")
        return self._layer

    @property
    def prefix(self) -> str:
        return str(self.layer.id or self.layer.name)

    def produced(self) -> set[str]:
        """Every value name an initializer or a node output defines."""
        return set(self.initializers) | {out for node in self.nodes for out in node.output}

    # -- the converter's API -----------------------------------------------------------------

    def unique(self, hint: str) -> str:
        """A new value name ``<layer id>/<hint>``, suffixed ``_1``, ``_2``... if taken."""
        base = f"{self.prefix}/{hint}"
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        *,
        outputs: int = 1,
        domain: str = "",
        **attributes: Any,
    ) -> Any:
        """Add one node; return its output name (a tuple of names when ``outputs > 1``).

        ``attributes`` are the operator's attributes (``axis=1``, ``kernel_shape=[3, 3]``).
        Use ``""`` in ``inputs`` for an optional input left out.
        """
        if outputs < 1:
            raise ValueError("outputs must be >= 1")
        names = [self.unique(op_type if outputs == 1 else f"{op_type}:{i}") for i in range(outputs)]
        node_name = names[0] if outputs == 1 else self.unique(op_type)
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), names, name=node_name, domain=domain, **attributes
            )
        )
        return names[0] if outputs == 1 else tuple(names)

    def use_domain(self, domain: str, version: int) -> None:
        """Declare an operator set besides the default one (e.g. ``com.microsoft``)."""
        self.domains[domain] = max(version, self.domains.get(domain, 0))

    def initializer(self, array: Any, name: str, *, dtype: Any = None) -> str:
        """Add ``array`` as a weight named ``<layer id>.<name>``; return that name.

        Floating-point arrays are stored in the export dtype unless ``dtype`` says otherwise;
        integer arrays (shapes, indices) keep their type.
        """
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(self.dtype)
        full = f"{self.prefix}.{name}"
        if full in self._names:
            raise ExportError(f"{self.prefix}: the converter adds two weights named {full!r}")
        self._names.add(full)
        self.initializers[full] = numpy_helper.from_array(np.ascontiguousarray(arr), full)
        return full

    def param(self, key: str) -> str:
        """The layer's trainable parameter ``key`` (e.g. ``"W"``) as an initializer."""
        return self.initializer(self.layer.params[key], key)

    def buffer(self, key: str) -> str:
        """The layer's buffer ``key`` (e.g. BatchNorm's ``"running_mean"``) as an initializer."""
        return self.initializer(self.layer.buffers[key], key)

    def constant(self, value: Any, name: str) -> str:
        """A constant (a scalar or an array) in the export dtype, as an initializer."""
        return self.initializer(np.asarray(value, dtype=self.dtype), name)

    def shape(self, dims: Sequence[int], name: str = "shape") -> str:
        """An ``int64`` vector (a shape for Reshape, axes for Unsqueeze) as an initializer."""
        return self.initializer(np.asarray(list(dims), dtype=np.int64), name)
