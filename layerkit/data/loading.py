"""One call from a dataset name to float arrays, the textbook's ``load_mnist`` for any dataset.

>>> from layerkit import load_dataset
>>> (x_train, t_train), (x_test, t_test) = load_dataset("mnist", normalize=True, flatten=True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layerkit.data.base import Split
from layerkit.errors import DataError
from layerkit.plugins import get_registry

__all__ = ["load_dataset"]

Arrays = tuple[np.ndarray, np.ndarray]


def _arrays(
    split: Split,
    *,
    normalize: bool,
    flatten: bool,
    one_hot_label: bool,
    num_classes: int,
    dtype: Any,
) -> Arrays:
    x = split.x.astype(dtype)  # a new array: the loaded (read-only, shared) one is never touched
    if normalize and split.scale != 1.0:
        x *= split.scale
    if flatten:
        x = x.reshape(x.shape[0], -1)
    t: np.ndarray = split.y.astype(np.intp)
    if one_hot_label:
        t = np.eye(num_classes, dtype=dtype)[t]
    return x, t


def load_dataset(
    name: str = "fashion_mnist",
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    dtype: str | np.dtype = "float32",
    **options: Any,
) -> tuple[Arrays, Arrays]:
    """``((x_train, t_train), (x_test, t_test))`` of any registered dataset, like ``load_mnist``.

    Parameters
    ----------
    name
        A registered dataset (``layerkit layers --kind dataset``): ``mnist``,
        ``fashion_mnist``, ``kmnist``, ``spiral``, ``blobs`` or a plugin's.
    normalize
        Scale stored values to network inputs (uint8 pixels by 1/255 into [0, 1]); ``False``
        keeps the stored values (0-255), still as floats.
    flatten
        One row per sample, ``(N, 784)``; ``False`` keeps the per-sample shape ``(N, 1, 28, 28)``.
    one_hot_label
        Labels as one-hot rows ``(N, classes)`` of ``dtype`` instead of class indices ``(N,)``.
    dtype
        Float dtype of the inputs (default float32).
    options
        The dataset's own options, as in a spec's ``data:`` section (``path``,
        ``points_per_class``, ...).

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_dataset("fashion_mnist")
    >>> x_train.shape, x_train.dtype, float(x_train.max())
    ((60000, 784), dtype('float32'), 1.0)
    >>> (x, t), _ = load_dataset("spiral", one_hot_label=True, points_per_class=100)
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise DataError(f"dtype: must be a floating-point type (received {dtype})")
    dataset = get_registry().dataset(name)(**options)
    splits = dataset.load()
    missing = [s for s in ("train", "test") if s not in splits]
    if missing:
        raise DataError(
            f"dataset {name!r} has no {' or '.join(missing)} split (it has: {', '.join(splits)})"
        )
    classes = dataset.describe().num_classes
    train, test = (
        _arrays(
            splits[split],
            normalize=normalize,
            flatten=flatten,
            one_hot_label=one_hot_label,
            num_classes=classes,
            dtype=dtype,
        )
        for split in ("train", "test")
    )
    return train, test
