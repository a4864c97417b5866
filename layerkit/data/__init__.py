"""Datasets. ``BUILTIN_DATASETS`` is what the built-in plugin registers.

- ``fashion_mnist``, ``mnist``, ``kmnist``: 28x28 grey images in IDX files, found locally or
  downloaded (:mod:`layerkit.data.sources`), kept as uint8.
- ``spiral``, ``blobs``: seedable synthetic 2-D (or N-D) point sets.

:class:`~layerkit.data.batches.BatchIterator` turns a split into mini-batches of the network's
dtype, gathered into reused buffers.
"""

from __future__ import annotations

from layerkit.data.base import Dataset, DatasetInfo, DatasetParams, Location, Split
from layerkit.data.mnist import KMNIST, MNIST, FashionMNIST
from layerkit.data.synthetic import Blobs, Spiral

__all__ = [
    "BUILTIN_DATASETS",
    "KMNIST",
    "MNIST",
    "Blobs",
    "Dataset",
    "DatasetInfo",
    "DatasetParams",
    "FashionMNIST",
    "Location",
    "Spiral",
    "Split",
]

BUILTIN_DATASETS: tuple[type[Dataset], ...] = (FashionMNIST, MNIST, KMNIST, Spiral, Blobs)
