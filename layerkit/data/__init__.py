"""Built-in datasets. ``BUILTIN_DATASETS`` is what the built-in plugin registers."""

from __future__ import annotations

from layerkit.data.base import Dataset, DatasetInfo, DatasetParams, Split

__all__ = ["Dataset", "DatasetInfo", "DatasetParams", "Split", "BUILTIN_DATASETS"]

BUILTIN_DATASETS: tuple[type[Dataset], ...] = ()
