"""``layerkit init NAME [--from SPEC]``: write a starter spec from a shipped model spec.

Works after a plain ``pip install layerkit``: the model specs are package data. The file is
``NAME.yaml`` (or ``-o FILE``), written atomically; an existing file is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layerkit.errors import ConfigError
from layerkit.fileio import atomic_write_text

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", nargs="?", metavar="NAME", help="the spec's name (names its run folders)"
    )
    parser.add_argument(
        "--from",
        dest="source",
        default="two_layer_net",
        metavar="SPEC",
        help="shipped spec to start from (default two_layer_net; --list shows them)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write (default NAME.yaml)")
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("--list", action="store_true", help="list the shipped specs and exit")


def run(args: argparse.Namespace) -> int:
    # imported here: it loads pydantic, and completion imports every command module
    from layerkit.spec.shipped import shipped_specs, starter_spec

    if args.list:
        specs = shipped_specs()
        if args.json:
            print(json.dumps({"specs": {name: str(path) for name, path in specs.items()}}))
        else:
            print("\n".join(specs))
        return 0
    if not args.name:
        raise ConfigError("NAME: give the new spec's name (or --list to see the shipped specs)")
    text = starter_spec(args.name, args.source)
    target = Path(args.output or f"{args.name}.yaml")
    if target.exists() and not args.force:
        raise ConfigError(f"{target}: already exists (use --force to replace it, or -o FILE)")
    atomic_write_text(target, text)
    if args.json:
        print(json.dumps({"spec": str(target), "name": args.name, "from": args.source}))
    else:
        print(
            f"wrote {target} (from {args.source}); next: layerkit validate {target}",
            file=sys.stderr,
        )
    return 0
