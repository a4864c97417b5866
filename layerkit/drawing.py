"""The computational graph of a network as Graphviz DOT text, the way the textbook draws it.

One node per layer (id, type, hyperparameters), one edge per input a layer takes, labelled with
the shape flowing along it. With ``values`` (every layer's output for a batch,
:meth:`~layerkit.network.Network.forward_values`) and ``grads`` (the gradient flowing back along
each edge, :meth:`~layerkit.network.Network.backward` with ``record=``), each edge shows the
forward value above and the backward gradient below, like the chapter's figures: a number for a
single value, else the shape with mean, std, min and max.

:func:`network_dot` is plain text with no dependency (the ``layerkit graph`` command, the run
report and the ONNX helper reuse it); :func:`render` turns it into SVG or PNG through the
``graphviz`` Python package (the ``graph`` extra) or Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

import numpy as np

from layerkit.errors import ConfigError, LayerkitError
from layerkit.layer_list import DATA
from layerkit.network import Network

__all__ = ["network_dot", "render", "describe_array", "FORMATS"]

#: Output formats of :func:`render` (``dot`` is the text itself).
FORMATS = ("dot", "svg", "png")


def _quote(text: str) -> str:
    """A DOT string literal; line breaks become DOT's centred ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe_array(value: Any) -> str:
    """``-0.25`` for one value; ``(100, 50) mean 0.1 std 0.9 [-2.1, 3.0]`` otherwise."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return f"{arr.item():.4g}"
    shape = str(tuple(arr.shape[1:])) if arr.ndim > 1 else str(tuple(arr.shape))
    return f"{shape} mean {arr.mean():.3g} std {arr.std():.3g} [{arr.min():.3g}, {arr.max():.3g}]"


def _params_text(layer: Any) -> str:
    entry = layer.config()
    parts = []
    for key, value in entry.items():
        if key in ("type", "id"):
            continue
        if isinstance(value, dict):
            value = value.get("type", value)
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def network_dot(
    network: Network,
    *,
    values: Mapping[str, Any] | None = None,
    grads: Mapping[tuple[str, str], Any] | None = None,
    loss: float | None = None,
    title: str | None = None,
) -> str:
    """The DOT text of ``network``'s graph (built networks show shapes on the edges).

    ``values`` maps a layer id (``"input"``: the data) to its output; ``grads`` maps an edge
    ``(producer id, consumer id)`` to the gradient flowing back along it; ``loss`` labels the
    loss node.
    """
    lines = [
        "digraph network {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    if title:
        lines.append(f"  labelloc=t; label={_quote(title)};")
    in_shape = network.input_shape
    input_label = DATA + ("" if in_shape is None else f"\n{tuple(in_shape)}")
    lines.append(
        f'  {_quote(DATA)} [label={_quote(input_label)}, shape=ellipse, fillcolor="#e3f2fd"];'
    )
    for layer in network.layers:
        ident = str(layer.id)
        head = f"{ident}\n{layer.name}"
        params = _params_text(layer)
        label = head + (f"\n{params}" if params else "")
        color = (
            "#fff3e0" if layer.kind == "loss" else "#e8f5e9" if layer.kind == "merge" else "#f5f5f5"
        )
        if layer.kind == "loss" and loss is not None:
            label += f"\nloss {loss:.4g}"
        lines.append(f"  {_quote(ident)} [label={_quote(label)}, fillcolor={_quote(color)}];")
    shapes: dict[str, Any] = {DATA: in_shape}
    for layer in network.layers:
        shapes[str(layer.id)] = layer.output_shape
    for layer in network.layers:
        consumer = str(layer.id)
        for producer in network.inputs_of(consumer):
            shape = shapes.get(producer)
            text = "" if shape is None else str(tuple(shape))
            if values is not None and producer in values:
                above = _html(describe_array(values[producer]))
                below = ""
                if grads is not None and (producer, consumer) in grads:
                    below = _html(describe_array(grads[(producer, consumer)]))
                rows = f"<TR><TD>{above}</TD></TR>"
                if below:
                    rows += f'<TR><TD><FONT COLOR="#c62828">{below}</FONT></TD></TR>'
                label = f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'
                lines.append(f"  {_quote(producer)} -> {_quote(consumer)} [label={label}];")
            else:
                lines.append(f"  {_quote(producer)} -> {_quote(consumer)} [label={_quote(text)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, fmt: str) -> bytes:
    """``dot`` rendered as ``svg`` or ``png`` (``dot``: the text's bytes).

    Uses the ``graphviz`` Python package when installed (``pip install 'layerkit[graph]'``),
    else the ``dot`` program (Debian/Ubuntu: ``apt-get install graphviz``); a
    :class:`LayerkitError` says which to install when neither is there.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format: must be one of {', '.join(FORMATS)} (received {fmt!r})")
    if fmt == "dot":
        return dot.encode()
    try:
        import graphviz  # type: ignore[import-not-found,unused-ignore]  # optional 'graph' extra: imported only to render
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return bytes(graphviz.pipe("dot", fmt, dot.encode()))
        except graphviz.ExecutableNotFound:
            pass  # the package is there but not Graphviz itself: the message below says so
        except graphviz.CalledProcessError as exc:
            raise LayerkitError(
                f"Graphviz could not render the graph: {exc.stderr.decode(errors='replace').strip()}"
            ) from None
    exe = shutil.which("dot")
    if exe is None:
        raise LayerkitError(
            f"rendering {fmt} needs Graphviz's dot program (apt-get install graphviz, or "
            "https://graphviz.org/download/); the graph 'extra' (pip install 'layerkit[graph]') adds "
            "its Python package; --format dot prints the graph as text without it"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise LayerkitError(
            f"dot could not render the graph: {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout
