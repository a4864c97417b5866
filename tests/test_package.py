"""The package surface: exports, version, light import, CLI entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import import_module
from importlib.metadata import version

import pytest

import layerkit


def test_version_comes_from_metadata() -> None:
    assert layerkit.__version__ == version("layerkit")


@pytest.mark.parametrize("name", [n for n in layerkit.__all__ if n != "__version__"])
def test_every_exported_name_resolves(name: str) -> None:
    # the lazy export is the very object of the module it is mapped to, and dir() lists it
    assert getattr(layerkit, name) is getattr(import_module(layerkit._EXPORTS[name]), name)
    assert name in dir(layerkit)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Afine'"):
        layerkit.Afine  # noqa: B018


def test_import_is_light() -> None:
    # `layerkit --version` and plugin listing must not pay for NumPy or pydantic up front.
    code = "import sys, layerkit; print(sorted(m for m in ('numpy', 'pydantic', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_and_module_agree() -> None:
    a = subprocess.run(["layerkit", "--version"], capture_output=True, text=True, check=True)
    b = subprocess.run([sys.executable, "-m", "layerkit", "--version"], capture_output=True, text=True, check=True)
    assert a.stdout == b.stdout == f"layerkit {layerkit.__version__}\n"


def test_help_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "layerkit", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "validate", "gradcheck", "layers", "plugins", "schema"):
        assert command in out.stdout


def test_unknown_command_exits_2() -> None:
    out = subprocess.run([sys.executable, "-m", "layerkit", "trian"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice: 'trian'" in out.stderr


def test_the_package_ships_its_types() -> None:
    """py.typed: mypy checks plugin code against layerkit's annotations (no import-untyped)."""
    assert os.path.isfile(os.path.join(os.path.dirname(layerkit.__file__), "py.typed"))
