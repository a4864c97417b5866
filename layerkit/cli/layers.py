"""``layerkit layers``: every registered layer, loss, optimizer, dataset and augmentation, with provenance."""

from __future__ import annotations

import argparse

__all__ = ["KINDS", "configure", "run"]

#: listing order; a layer's kind is ``layer``, ``loss`` or ``merge``
KINDS = ("layer", "loss", "merge", "optimizer", "dataset", "augmentation")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        help="list only components of this kind (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from layerkit._table import render_table, terminal_width
    from layerkit.plugins import GROUPS, get_registry

    registry = get_registry()
    kinds = set(args.kind or KINDS)
    entries = [e for group in GROUPS for e in registry.entries(group) if e.kind in kinds]
    order = {kind: i for i, kind in enumerate(KINDS)}
    entries.sort(key=lambda e: (order.get(e.kind, len(KINDS)), e.name.lower(), e.plugin))

    if args.json:
        doc = [
            {**e.to_dict(), "ambiguous": registry.is_ambiguous(e.group, e.name)}
            for e in entries
        ]
        print(json.dumps(doc, indent=2))
        return 0
    # A name two plugins share is shown qualified: that is what a spec must use.
    rows = [
        (registry.display_name(e), e.kind, e.plugin, e.distribution or "-", e.version or "-", e.summary)
        for e in entries
    ]
    headers = ("name", "kind", "plugin", "distribution", "version", "summary")
    print(render_table(headers, rows, width=terminal_width()))
    return 0
