"""ONNX export: a trained network as an inference graph any ONNX runtime can serve.

::

    model = network.to_onnx("model.onnx", input_name="image", class_names=names)
    report = verify_onnx(model, network, x_test[:1000], input_name="image")

The model has one input (``input_name``, shape ``(batch, *input_shape)``, ``batch`` dynamic)
and two outputs: ``scores`` (what the last layer before the loss computes) and
``probabilities`` (the loss layer's inference output: Softmax for ``SoftmaxWithLoss``). The
weights are initializers named like the network's parameters; BatchNorm exports in inference
form and Dropout disappears. Every layer is converted by the converter a plugin registered
for it through the hook ``layerkit_add_onnx_converters`` (layerkit's own layers through the
built-in plugin, like any other); :mod:`layerkit.export.registry` says which layers can export.

``onnx`` and ``onnxruntime`` are the optional extra ``layerkit[onnx]``; they are imported only
when a model is built or run, and a clear :class:`~layerkit.errors.ExportError` names the extra
when they are missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from layerkit._version import __version__
from layerkit.errors import ExportError
from layerkit.export.graph import INPUT, GraphNode, network_nodes
from layerkit.export.options import DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL, EXTRA, MIN_OPSET
from layerkit.export.registry import ConverterTable, converter_table
from layerkit.fileio import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import onnx

    from layerkit.export.verify import VerifyReport
    from layerkit.network import Network

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_OPSET",
    "DEFAULT_RTOL",
    "EXTRA",
    "MIN_OPSET",
    "export_nodes",
    "model_metadata",
    "require",
    "save_model",
    "to_onnx",
    "verify_onnx",
]


def require(module: str) -> ModuleType:
    """Import ``onnx`` or ``onnxruntime``, or raise :class:`ExportError` naming the extra."""
    try:
        return import_module(module)
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs the optional package {module!r}, which is not installed "
            f"({exc}); install it with: {EXTRA}"
        ) from None


def _opset(opset: int) -> int:
    onnx = require("onnx")
    newest = int(onnx.defs.onnx_opset_version())
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ExportError(
            f"opset: must be an integer from {MIN_OPSET} to {newest} (the newest this onnx "
            f"{onnx.__version__} knows) (received {opset!r})"
        )
    return opset


def _dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.float32, np.float64):
        raise ExportError(f"dtype: float32 or float64 (received {dtype!r})")
    return dt


def model_metadata(nodes: Sequence[GraphNode], table: ConverterTable) -> dict[str, str]:
    """``layerkit.version`` and the plugins whose layers or converters the graph uses."""
    registry = table.registry
    used: dict[str, dict[str, Any]] = {}

    def note(plugin: str, role: str, name: str) -> None:
        if plugin == "builtins":
            return
        info = registry.plugin(plugin)
        record = used.setdefault(
            plugin,
            {
                "plugin": plugin,
                "distribution": info.distribution if info else None,
                "version": info.version if info else None,
                "layers": [],
                "converters": [],
            },
        )
        if name not in record[role]:
            record[role].append(name)

    for node in nodes:
        layer_cls = type(node.layer)
        owner = table.owner(layer_cls)
        if owner is not None:
            note(owner, "layers", layer_cls.name)
        entry = table.lookup(layer_cls)
        if entry is not None:
            note(entry.plugin, "converters", layer_cls.name)
    return {
        "layerkit.version": __version__,
        "layerkit.plugins": json.dumps(list(used.values())),
    }


def export_nodes(
    nodes: Sequence[GraphNode],
    *,
    input_name: str,
    input_shape: Sequence[int],
    scores_source: str,
    probabilities_source: str,
    scores_shape: Sequence[int],
    dtype: Any,
    opset: int = DEFAULT_OPSET,
    graph_name: str = "layerkit",
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """The checked model of graph ``nodes``: one input, outputs ``scores`` and ``probabilities``."""
    opset = _opset(opset)
    from layerkit.export.builder import Endpoint, build_model  # imports onnx (optional extra)

    if (
        not isinstance(input_name, str)
        or not input_name
        or input_name in ("scores", "probabilities")
    ):
        raise ExportError(
            f"input_name: a non-empty name other than 'scores' and 'probabilities' (received {input_name!r})"
        )
    table = converter_table()
    props = {**model_metadata(nodes, table), **(metadata or {})}
    return build_model(
        nodes,
        inputs=[Endpoint(input_name, INPUT, tuple(input_shape))],
        outputs=[
            Endpoint("scores", scores_source, tuple(scores_shape)),
            Endpoint("probabilities", probabilities_source, tuple(scores_shape)),
        ],
        dtype=dtype,
        opset=opset,
        graph_name=graph_name,
        metadata=props,
        doc_string=f"{graph_name}: an inference graph exported by layerkit",
        table=table,
    )


def to_onnx(
    network: Network,
    path: str | os.PathLike[str] | None = None,
    *,
    input_name: str = "input",
    class_names: Sequence[str] | None = None,
    opset: int = DEFAULT_OPSET,
    dtype: Any = None,
    graph_name: str = "layerkit",
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """Export a built network as a checked ONNX model; write it to ``path`` if given.

    ``dtype`` defaults to the network's; ``metadata`` adds model properties (strings) to the
    ones layerkit writes (``layerkit.version``, ``layerkit.plugins``, ``layerkit.class_names``).
    The file is written atomically and only once the model has passed ``onnx.checker``: a model
    that fails never replaces an existing file.
    """
    input_shape, output_shape = network.input_shape, network.output_shape
    if input_shape is None or output_shape is None:
        raise ExportError(
            "the network is not built yet: pass input_shape=..., call build(shape), or run a "
            "batch before exporting"
        )
    dt = _dtype(network.dtype if dtype is None else dtype)
    if dt != network.dtype:
        network = network.with_dtype(dt)
    nodes = network_nodes(network)
    props = dict(metadata or {})
    if class_names is not None:
        names = [str(n) for n in class_names]
        if len(names) != output_shape[-1]:
            raise ExportError(f"class_names: {len(names)} names for {output_shape[-1]} scores")
        props.setdefault("layerkit.class_names", json.dumps(names))
    loss = nodes[-1]
    model = export_nodes(
        nodes,
        input_name=input_name,
        input_shape=input_shape,
        scores_source=loss.inputs[0],
        probabilities_source=loss.id,
        scores_shape=output_shape,
        dtype=dt,
        opset=opset,
        graph_name=graph_name,
        metadata=props,
    )
    if path is not None:
        save_model(model, path)
    return model


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` atomically (a temp file renamed over it once complete)."""
    data = model.SerializeToString()
    return atomic_write(path, lambda fh: fh.write(data))


def verify_onnx(
    model: onnx.ModelProto | bytes | str | os.PathLike[str],
    network: Network,
    x: Any,
    *,
    input_name: str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> VerifyReport:
    """Run ``model`` in ONNX Runtime on ``x`` and compare with ``network``'s predictions.

    ``model`` is a ModelProto, its serialized bytes or a file. The tolerances default to
    :data:`DEFAULT_ATOL` / :data:`DEFAULT_RTOL` (the rules: :mod:`layerkit.export.verify`).
    """
    require("onnxruntime")
    from layerkit.export import verify as _verify  # imports onnxruntime (optional extra)

    if isinstance(model, (str, os.PathLike)):
        data = Path(model).read_bytes()
    elif isinstance(model, bytes):
        data = model
    else:
        data = model.SerializeToString()
    if input_name is None:
        onnx = require("onnx")
        input_name = onnx.load_from_string(data).graph.input[0].name
    return _verify.verify(
        data,
        network,
        np.asarray(x),
        input_name=str(input_name),
        atol=DEFAULT_ATOL if atol is None else atol,
        rtol=DEFAULT_RTOL if rtol is None else rtol,
    )
