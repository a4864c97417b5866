"""layerkit's version, in one place: the installed distribution's, else ``0+unknown``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("layerkit")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"
