"""``layerkit schema``: the JSON Schema of specs, every registered component included.

Save it and point editors at it from a spec's first line (rerun after installing, upgrading or
removing a plugin; the file is replaced atomically)::

    layerkit schema -o layerkit-spec.schema.json
    # yaml-language-server: $schema=layerkit-spec.schema.json
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the schema to FILE (atomically) instead of stdout"
    )
    parser.add_argument("--indent", type=int, default=2, metavar="N", help="JSON indentation (default 2)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from layerkit.plugins import GROUPS, get_registry
    from layerkit.spec.schema import spec_schema

    registry = get_registry()
    text = json.dumps(spec_schema(registry), indent=args.indent if args.indent > 0 else None) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    from layerkit.errors import LayerkitError
    from layerkit.fileio import atomic_write_text

    try:
        atomic_write_text(args.output, text)
    except OSError as exc:
        raise LayerkitError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    # Say what the file covers, so a user who just installed a plugin sees it is in.
    counts = ", ".join(f"{len(registry.entries(group))} {group}" for group in GROUPS)
    plugins = ", ".join(p.name for p in registry.plugins)
    print(f"wrote {args.output}: {counts} (plugins: {plugins})", file=sys.stderr)
    return 0
