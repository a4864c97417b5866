"""The network's picture for the report: its computational graph drawn by Graphviz as SVG.

Where the graph cannot be drawn (Graphviz' ``dot`` is not installed, or it fails), the report
shows the layer table instead and says why.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from layerkit.report.figures import data_uri

__all__ = ["graph_picture", "DOT_TIMEOUT"]

#: seconds ``dot`` may take for one graph
DOT_TIMEOUT = 30


def graph_picture(network: Any) -> dict[str, Any]:
    """``{"uri": SVG data URI, "reason": None}`` of the network's graph, or ``{"uri": None,
    "reason": why not}``."""
    source = network_dot(network)
    if source is None:
        return _without(
            "this layerkit cannot draw networks as graphs yet; the layer table shows the network"
        )
    dot = shutil.which("dot")
    if dot is None:
        return _without(
            "Graphviz is not installed (its `dot` program draws the graph; Debian: apt install graphviz)"
        )
    try:
        done = subprocess.run(
            [dot, "-Tsvg"],
            input=source.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _without(f"Graphviz failed to draw the graph: {exc}")
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        return _without(
            f"Graphviz failed to draw the graph: {message[0] if message else done.returncode}"
        )
    return {"uri": data_uri(done.stdout, "image/svg+xml"), "reason": None}


def _without(reason: str) -> dict[str, Any]:
    return {"uri": None, "reason": reason}


def network_dot(network: Any) -> str | None:
    """The network as Graphviz DOT text, from layerkit's graph drawing when it has one."""
    return None
