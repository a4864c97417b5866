"""``layerkit layers``: every registered layer, loss, optimizer, dataset, augmentation and
callback, with provenance.

The ``onnx`` column says whether a layer can be exported (``layerkit export``): ``yes`` when a
converter is registered for it (``yes (plugin P)`` when it comes from another plugin than the
layer's own), ``no`` otherwise. Finding that out imports no ``onnx``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from layerkit.export.registry import ExportStatus

__all__ = ["KINDS", "configure", "run"]

#: listing order; a layer's kind is ``layer``, ``loss`` or ``merge``
KINDS = ("layer", "loss", "merge", "optimizer", "dataset", "augmentation", "callback")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        help="list only components of this kind (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from layerkit._table import render_table, terminal_width
    from layerkit.export.registry import converter_table, export_status
    from layerkit.plugins import GROUPS, get_registry

    registry = get_registry()
    kinds = set(args.kind or KINDS)
    entries = [e for group in GROUPS for e in registry.entries(group) if e.kind in kinds]
    order = {kind: i for i, kind in enumerate(KINDS)}
    entries.sort(key=lambda e: (order.get(e.kind, len(KINDS)), e.name.lower(), e.plugin))

    table = converter_table(registry)
    status = {id(e): export_status(e, table) for e in entries}
    if args.json:
        doc = [
            {
                **e.to_dict(),
                "ambiguous": registry.is_ambiguous(e.group, e.name),
                "onnx": _onnx(status[id(e)]),
            }
            for e in entries
        ]
        print(json.dumps({"components": doc}))
        return 0
    # A name two plugins share is shown qualified: that is what a spec must use.
    rows = [
        (
            registry.display_name(e),
            e.kind,
            e.plugin,
            e.distribution or "-",
            e.version or "-",
            str(status[id(e)] or "-"),
            e.summary,
        )
        for e in entries
    ]
    headers = ("name", "kind", "plugin", "distribution", "version", "onnx", "summary")
    print(render_table(headers, rows, width=terminal_width()))
    return 0


def _onnx(status: ExportStatus | None) -> dict[str, object] | None:
    return status.to_dict() if status is not None else None
