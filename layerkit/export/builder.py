"""Graph nodes in, a checked ONNX model out.

:func:`build_model` runs each node's converter in topological order, names the graph's inputs
and outputs, checks the model with ``onnx.checker`` (full check: strict shape inference too)
and compares the shape ONNX infers for every layer with the shape layerkit inferred, so a
converter that computes something else is caught here, naming the layer and the plugin whose
converter it is. Imports ``onnx``: reached only through :mod:`layerkit.export`'s entry points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, shape_inference

from layerkit._version import __version__
from layerkit.errors import ExportError
from layerkit.export.context import ConversionContext
from layerkit.export.graph import GraphNode, check_order
from layerkit.export.registry import ConverterEntry, ConverterTable, converter_table, layer_origin
from layerkit.layers.base import Shape

__all__ = ["BATCH_AXIS", "Endpoint", "build_model", "missing_converter_message"]

#: The name of the dynamic batch axis of every input and output.
BATCH_AXIS = "batch"


@dataclass(frozen=True)
class Endpoint:
    """A graph input or output: its ONNX name, the node id it comes from, its per-sample shape."""

    name: str
    source: str
    shape: Shape


def missing_converter_message(node: GraphNode, table: ConverterTable) -> str:
    layer = node.layer
    return (
        f"layer {node.id!r} (type {layer.name}, from {layer_origin(type(layer), table.registry)}) "
        "has no ONNX converter"
    )


_HOW_TO_ADD = (
    "a plugin adds one by implementing the hook layerkit_add_onnx_converters() and returning "
    "{LayerClass: converter}, where converter(ctx, layer, inputs) adds ONNX nodes and returns "
    "the output's name (see docs/export.md, 'Converters for your layers')"
)


def _converters(nodes: Sequence[GraphNode], table: ConverterTable) -> list[ConverterEntry]:
    found: list[ConverterEntry] = []
    missing: list[str] = []
    for node in nodes:
        entry = table.lookup(type(node.layer))
        if entry is None:
            missing.append(missing_converter_message(node, table))
        else:
            found.append(entry)
    if missing:
        lines = "\n  ".join(missing)
        raise ExportError(f"cannot export: {lines}\n{_HOW_TO_ADD}")
    return found


def _value_info(name: str, elem_type: int, shape: Shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, [BATCH_AXIS, *shape])


def _rename(ctx: ConversionContext, old: str, new: str) -> None:
    for node in ctx.nodes:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def build_model(
    nodes: Sequence[GraphNode],
    *,
    inputs: Sequence[Endpoint],
    outputs: Sequence[Endpoint],
    dtype: Any,
    opset: int,
    graph_name: str,
    metadata: Mapping[str, str] | None = None,
    doc_string: str = "",
    table: ConverterTable | None = None,
) -> onnx.ModelProto:
    """Convert ``nodes`` into a checked model with the given graph inputs and outputs."""
    table = table or converter_table()
    check_order(nodes, [e.source for e in inputs])
    entries = _converters(nodes, table)
    ctx = ConversionContext(opset=opset, dtype=np.dtype(dtype))
    ctx.reserve([e.name for e in (*inputs, *outputs)])
    values: dict[str, str] = {e.source: e.name for e in inputs}
    for node, entry in zip(nodes, entries, strict=True):
        ctx.begin(node.layer)
        args = [values[source] for source in node.inputs]
        known = ctx.produced() | set(values.values())
        try:
            out = entry.converter(ctx, node.layer, args)
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's converter failing is reported as such
            raise ExportError(
                f"{node.id}: the ONNX converter of {node.layer.name} from {entry.origin} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(out, str) or out not in (ctx.produced() | known):
            raise ExportError(
                f"{node.id}: the ONNX converter of {node.layer.name} from {entry.origin} returned "
                f"{out!r}, not the name of a value it produced or received"
            )
        values[node.id] = out

    elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph_inputs = {e.name for e in inputs}
    renamed: set[str] = set()
    for endpoint in outputs:
        value = values[endpoint.source]
        if value in graph_inputs or value in renamed or value in ctx.initializers:
            # the output is another endpoint's value (a regression loss passes the scores
            # through): give it its own name
            ctx.nodes.append(
                helper.make_node("Identity", [value], [endpoint.name], name=endpoint.name)
            )
        else:
            _rename(ctx, value, endpoint.name)
            for key, v in values.items():
                if v == value:
                    values[key] = endpoint.name
        renamed.add(endpoint.name)

    graph = helper.make_graph(
        ctx.nodes,
        graph_name,
        [_value_info(e.name, elem_type, e.shape) for e in inputs],
        [_value_info(e.name, elem_type, e.shape) for e in outputs],
        initializer=list(ctx.initializers.values()),
    )
    opsets = [
        helper.make_opsetid("", opset),
        *(helper.make_opsetid(d, v) for d, v in ctx.domains.items()),
    ]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="layerkit",
        producer_version=__version__,
        doc_string=doc_string,
    )
    # The oldest IR version that carries these opsets, so older runtimes load the file too.
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True)
    if metadata:
        helper.set_model_props(model, dict(metadata))
    _check(model, nodes, entries, values, elem_type)
    return model


def _check(
    model: onnx.ModelProto,
    nodes: Sequence[GraphNode],
    entries: Sequence[ConverterEntry],
    values: Mapping[str, str],
    elem_type: int,
) -> None:
    converters = ", ".join(sorted({e.origin for e in entries}))
    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, shape_inference.InferenceError) as exc:
        raise ExportError(
            f"the exported graph fails onnx.checker (full check): {str(exc).strip()}\n"
            f"converters used: {converters}"
        ) from None
    types = {
        vi.name: vi.type.tensor_type
        for vi in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)
    }
    for node, entry in zip(nodes, entries, strict=True):
        layer = node.layer
        expected = (
            tuple(layer.input_shape or ()) if node.is_loss else tuple(layer.output_shape or ())
        )
        tensor = types.get(values[node.id])
        if tensor is None or not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if (
            tensor.elem_type not in (0, elem_type)
            or len(dims) != len(expected) + 1
            or any(
                got is not None and got != want
                for got, want in zip(dims[1:], expected, strict=True)
            )
        ):
            shown = ["N" if d is None else d for d in dims]
            raise ExportError(
                f"{node.id}: the ONNX converter of {layer.name} from {entry.origin} produces a "
                f"{helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else '?'} "
                f"tensor of shape ({', '.join(map(str, shown))}); the layer outputs "
                f"(N, {', '.join(map(str, expected))}) in {helper.tensor_dtype_to_np_dtype(elem_type)}"
            )
