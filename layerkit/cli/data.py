"""``layerkit data list`` and ``layerkit data fetch NAME``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerkit.data.base import Dataset

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    lister = sub.add_parser(
        "list",
        help="list registered datasets, where their files are and their sizes",
        description="List registered datasets, where their files were found (in search order: "
        "data.path, $LAYERKIT_DATA/<name>, the user cache, /usr/share/datasets/<name>) "
        "and their sizes.",
    )
    lister.add_argument(
        "--verify",
        action="store_true",
        help="read every file found and check its structure and known SHA-256",
    )
    fetcher = sub.add_parser(
        "fetch",
        help="download a dataset's files unless a copy exists",
        description="Download a dataset's files into the user cache (or DIR/NAME), checking "
        "the published checksums. Does nothing when a local copy already exists.",
    )
    fetcher.add_argument("name", metavar="NAME", help="dataset name, e.g. mnist")
    fetcher.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="download into DIR/NAME (e.g. DIR=$LAYERKIT_DATA) instead of the user cache",
    )
    fetcher.add_argument(
        "--url", default=None, help="base URL to download from instead of the official one"
    )
    fetcher.add_argument(
        "--md5",
        action="append",
        default=[],
        metavar="FILE=HEX",
        help="expected MD5 of a downloaded file, replacing the published one (repeatable; "
        "for a mirror serving other archives)",
    )
    fetcher.add_argument("--force", action="store_true", help="download again even if present")
    fetcher.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )


def run(args: argparse.Namespace) -> int:
    if args.data_command == "list":
        return _list(args)
    return _fetch(args)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _verify(cls: type[Dataset], directory: Path) -> None:
    """Load every file of the copy found, with checksums when the dataset knows them."""
    fields = cls.Params.model_fields
    options = {k: v for k, v in (("path", str(directory)), ("verify", True)) if k in fields}
    cls(**options).load()


def _list(args: argparse.Namespace) -> int:
    from layerkit._table import render_table, terminal_width
    from layerkit.errors import ConfigError, LayerkitError
    from layerkit.plugins import get_registry

    rows: list[dict[str, Any]] = []
    failed = False
    for entry in sorted(get_registry().entries("datasets"), key=lambda e: e.name):
        row: dict[str, Any] = {"name": entry.name, "plugin": entry.distribution or entry.plugin}
        try:
            dataset = entry.component()
        except ConfigError:  # a plugin dataset whose options have no defaults
            row.update(status="needs options", where=None)
            rows.append(row)
            continue
        try:
            info = dataset.describe()
            row.update(
                train=info.train_size,
                test=info.test_size,
                shape=list(info.input_shape),
                classes=info.num_classes,
            )
            if not dataset.has_files:
                row.update(status="generated", where=None)
            else:
                location = dataset.locate()
                if location is None:
                    row.update(status="not found", where=None)
                else:
                    row.update(status=location.origin, where=str(location.directory))
                    if args.verify:
                        _verify(entry.component, location.directory)
                        row["verified"] = True
        except LayerkitError as exc:
            row.update(status="error", error=str(exc))
            failed = True
        rows.append(row)
    if args.json:
        print(json.dumps({"datasets": rows}))
        return 1 if failed else 0
    table = []
    for row in rows:
        if row["status"] == "error":
            where = f"error: {row['error'].splitlines()[0]}"
        elif row["status"] in ("generated", "needs options"):
            where = row["status"]
        elif row["status"] == "not found":
            where = f"not found (layerkit data fetch {row['name']})"
        else:
            where = f"{row['where']} ({row['status']}{', verified' if row.get('verified') else ''})"
        table.append(
            [
                row["name"],
                row.get("train", ""),
                row.get("test", ""),
                _shape(tuple(row.get("shape", ()))),
                row.get("classes", ""),
                where,
            ]
        )
    headers = ["name", "train", "test", "shape", "classes", "where"]
    print(render_table(headers, table, width=terminal_width()))
    return 1 if failed else 0


def _fetch(args: argparse.Namespace) -> int:
    from layerkit.errors import ConfigError
    from layerkit.plugins import get_registry

    cls = get_registry().dataset(args.name)
    options: dict[str, Any] = {}
    if args.url:
        options["url"] = args.url
    if args.md5:
        pairs = [item.partition("=") for item in args.md5]
        bad = [item for item, (_, eq, _) in zip(args.md5, pairs) if not eq]
        if bad:
            raise ConfigError(f"--md5: expected FILE=HEX (received {bad[0]!r})")
        options["md5"] = {name: digest for name, _, digest in pairs}
    dataset = cls(**options)
    if args.dir is None and not args.force:
        found = dataset.locate()
        if found is not None:
            print(
                f"{dataset.name}: already available in {found}",
                file=sys.stderr if args.json else sys.stdout,
            )
            if args.json:
                print(
                    json.dumps(
                        {
                            "dataset": dataset.name,
                            "directory": str(found.directory),
                            "fetched": False,
                        }
                    )
                )
            return 0
    location = dataset.fetch(args.dir, force=args.force, progress=args.progress)
    if args.json:
        files = {role: str(path) for role, path in location.files.items()}
        print(
            json.dumps(
                {
                    "dataset": dataset.name,
                    "directory": str(location.directory),
                    "fetched": True,
                    "files": files,
                }
            )
        )
        return 0
    print(f"{dataset.name}: files in {location.directory}")
    for role, path in location.files.items():
        print(f"  {role}: {path.name}")
    return 0
