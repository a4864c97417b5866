"""Shared by the data tests: an environment where dataset files are found only where a test puts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerkit.data import sources


def isolate_data_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $LAYERKIT_DATA nor mirror variables; the cache is ``tmp_path/cache`` and the only
    system directory ``tmp_path/system``. Returns ``tmp_path``."""
    monkeypatch.delenv("LAYERKIT_DATA", raising=False)
    for name in ("MNIST", "FASHION_MNIST", "KMNIST"):
        monkeypatch.delenv(f"LAYERKIT_{name}_MIRROR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "SYSTEM_DIRS", (tmp_path / "system",))
    return tmp_path
