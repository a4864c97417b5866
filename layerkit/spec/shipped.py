"""The model specs shipped with layerkit, for ``layerkit init`` and users without a checkout.

``model_specs/`` at the repository root is their one source; the wheel carries a copy as
package data (``layerkit/model_specs/``, see ``pyproject.toml``). A source checkout or an
editable install reads the root folder directly.
"""

from __future__ import annotations

import re
from pathlib import Path

from layerkit._validation import did_you_mean
from layerkit.errors import ConfigError
from layerkit.spec.models import SPEC_NAME_PATTERN

__all__ = ["shipped_specs", "shipped_spec_dir", "starter_spec"]

_PACKAGE = Path(__file__).resolve().parents[1]


def shipped_spec_dir() -> Path:
    """The folder holding the shipped ``*.yaml`` specs."""
    installed = _PACKAGE / "model_specs"  # in a wheel
    return installed if installed.is_dir() else _PACKAGE.parent / "model_specs"  # a checkout


def shipped_specs() -> dict[str, Path]:
    """Shipped spec name (file stem) -> file."""
    folder = shipped_spec_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def starter_spec(name: str, source: str = "two_layer_net") -> str:
    """The text of shipped spec ``source`` renamed ``name`` (comments and layout kept)."""
    if not re.fullmatch(SPEC_NAME_PATTERN, name):
        raise ConfigError(
            f"NAME: {name!r} is not a spec name: letters, digits, '_', '-' and '.', "
            "not starting with '.' or '-'"
        )
    specs = shipped_specs()
    if source not in specs:
        raise ConfigError(
            f"--from: no shipped spec {source!r}{did_you_mean(source, specs)} "
            f"(available: {', '.join(specs) or 'none found in ' + str(shipped_spec_dir())})"
        )
    text = specs[source].read_text(encoding="utf-8")
    renamed, count = re.subn(r"(?m)^name:[ \t]*\S+", f"name: {name}", text, count=1)
    if not count:
        renamed = f"name: {name}\n{text}"
    return renamed
