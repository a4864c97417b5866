"""``layerkit new-plugin NAME``: write a plugin distribution that installs and tests as generated.

The skeleton (from ``layerkit/templates/plugin``) has a ``pyproject.toml`` with
``[build-system]`` and the ``layerkit`` entry point, one layer with weights (``ScaleShift``) in
``src/<package>/layers.py``, ``py.typed``, and tests that run the layer through the conformance
kit (:mod:`layerkit.testing`)::

    layerkit new-plugin layerkit-mylayers && cd layerkit-mylayers
    pip install -e '.[test]' && python -m pytest
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from string import Template

from layerkit import __version__
from layerkit.errors import ConfigError
from layerkit.fileio import atomic_write_text, make_dirs

__all__ = ["configure", "run", "write_plugin", "TEMPLATES"]

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "plugin"
#: template -> path in the distribution ({package} is replaced)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{package}/__init__.py",
    "layers.py.tmpl": "src/{package}/layers.py",
    "test_plugin.py.tmpl": "tests/test_{plugin}.py",
}
_DIST_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        metavar="NAME",
        help="distribution name, e.g. layerkit-mylayers (module layerkit_mylayers)",
    )
    parser.add_argument("-o", "--output", metavar="DIR", help="where to write it (default ./NAME)")
    parser.add_argument(
        "--force", action="store_true", help="write into an existing, non-empty folder"
    )


def _names(dist: str) -> dict[str, str]:
    if not _DIST_NAME.fullmatch(dist):
        raise ConfigError(
            f"NAME: {dist!r} is not a distribution name (letters and digits, parts joined by "
            "'-', '_' or '.', starting with a letter)"
        )
    package = re.sub(r"[-_.]+", "_", dist).lower()
    plugin = package.removeprefix("layerkit_") or package
    release = re.match(r"\d+(\.\d+)?", __version__)
    return {
        "dist": dist,
        "package": package,
        "plugin": plugin,
        "layerkit_version": release.group(0) if release else "0.1",
    }


def write_plugin(dist: str, directory: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the plugin distribution ``dist`` into ``directory`` (default ``./dist``)."""
    names = _names(dist)
    root = Path(directory or dist)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not force:
        raise ConfigError(f"{root}: already exists and is not empty (use --force, or -o DIR)")
    for template, target in FILES.items():
        text = Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(names)
        path = root / target.format(**names)
        make_dirs(path.parent, "-o")
        atomic_write_text(path, text)
    atomic_write_text(root / "src" / names["package"] / "py.typed", "")
    return root


def run(args: argparse.Namespace) -> int:
    root = write_plugin(args.name, args.output, force=args.force)
    names = _names(args.name)
    if args.json:
        doc = {"directory": str(root), "distribution": args.name}
        print(json.dumps({**doc, "package": names["package"], "plugin": names["plugin"]}))
        return 0
    print(
        f"wrote {root}/ (plugin {names['plugin']!r}, module {names['package']}); next:\n"
        f"  cd {root} && pip install -e '.[test]' && python -m pytest",
        file=sys.stderr,
    )
    return 0
