"""Mini-batches gathered from a compact split into reused buffers.

The hot path of training: per step, the batch's samples are gathered from the uint8 split with
``np.take(..., mode="clip", out=...)`` into a reused uint8 buffer, then converted and scaled into
a reused buffer of the network's dtype (``np.copyto`` then an in-place multiply). Measured on
Fashion-MNIST (60,000 x 784, batch 100, shuffled, 2-core machine) this takes about 15 ms per
epoch, against 19 ms for ``x[idx].astype(float32) * scale`` and 24 ms for fancy-indexing a set
converted to float32 up front (which also needs 188 MB instead of 47). ``mode="clip"`` matters:
with the default ``mode="raise"`` NumPy buffers ``out`` (docs of ``np.take``), about 2.5 ms more
per epoch. Indices are validated once, so clipping never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from layerkit.data.base import Split
from layerkit.errors import ConfigError

__all__ = ["BatchIterator"]


class BatchIterator:
    """Iterate over ``(x, y)`` mini-batches of a split, one epoch per ``iter()``.

    Args:
        split: the data; ``x`` stays in its compact dtype (uint8 pixels).
        batch_size: samples per batch; the last batch of an epoch is smaller unless
            ``drop_last``.
        dtype: floating dtype of the yielded ``x`` (the network's), scaled by ``split.scale``.
        rng: a ``numpy.random.Generator`` (or an int seed for one) to shuffle each epoch;
            ``None`` keeps the order (evaluation).
        indices: the samples to iterate over (e.g. the training part of a validation split);
            default all.
        drop_last: skip the last batch of an epoch when it is smaller than ``batch_size``.
        augment: called with each batch's ``x`` (already scaled, in the reused buffer) to change
            it in place, e.g. a :class:`~layerkit.data.augment.Augmenter`; for training batches.

    Each epoch draws ``rng.permutation`` once, so an epoch's order depends only on the
    generator's state when the epoch starts: restore that state and call :meth:`epoch` with
    ``start`` to resume mid-epoch exactly.

    The yielded arrays are **reused buffers**: they are valid until the next batch is drawn and
    are overwritten then. Copy a batch to keep it. ``y`` holds class indices (``np.intp``).
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        dtype: DTypeLike,
        rng: np.random.Generator | int | None = None,
        indices: np.ndarray | None = None,
        drop_last: bool = False,
        augment: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size <= 0
        ):
            raise ConfigError(f"batch_size: must be a positive integer (received {batch_size!r})")
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ConfigError(f"dtype: must be a floating dtype (received {self.dtype})")
        self.split = split
        self.batch_size = int(batch_size)
        self.drop_last = drop_last
        self.augment = augment
        self.rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
        self.indices = None if indices is None else self._check_indices(indices, len(split))
        # a float dtype (checked above); numpy's stubs cannot tell, and offer np.void
        self.scale = self.dtype.type(split.scale)  # type: ignore[call-overload]
        self._x_stage: np.ndarray | None = None
        self._x_out: np.ndarray | None = None
        self._y_out: np.ndarray | None = None

    @staticmethod
    def _check_indices(indices: Any, n: int) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise ConfigError(
                f"indices: must be a 1-D array of integers (received shape {idx.shape}, "
                f"dtype {idx.dtype})"
            )
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
            bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
            raise ConfigError(f"indices: {bad} is out of range for a split of {n} samples")
        return idx.astype(np.intp, copy=False)

    @property
    def num_samples(self) -> int:
        """Samples per epoch (including those of a dropped last batch)."""
        return len(self.split) if self.indices is None else int(self.indices.size)

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.epoch()

    def order(self) -> np.ndarray | None:
        """The sample order of a new epoch (draws from ``rng``); ``None`` means sequential."""
        if self.rng is None:
            return self.indices
        perm = self.rng.permutation(self.num_samples)
        return perm if self.indices is None else self.indices[perm]

    def epoch(self, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch of batches, skipping the first ``start`` batches (resuming mid-epoch)."""
        order = self.order()
        return self._batches(order, start)

    def _buffers(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if self._x_out is None:
            x = self.split.x
            # No batch is ever larger than the data: a batch_size of 10**9 costs one split's rows.
            rows = min(self.batch_size, max(self.num_samples, 1))
            shape = (rows, *x.shape[1:])
            self._x_out = np.empty(shape, dtype=self.dtype)
            self._y_out = np.empty(rows, dtype=np.intp)
            # Data already in the output dtype is gathered straight into the output buffer.
            if x.dtype != self.dtype:
                self._x_stage = np.empty(shape, dtype=x.dtype)
        assert self._y_out is not None
        stage = None if self._x_stage is None else self._x_stage[:n]
        return self._x_out[:n], self._y_out[:n], stage

    def _batches(
        self, order: np.ndarray | None, start: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        x, y, scale, augment = self.split.x, self.split.y, self.scale, self.augment
        total, size = self.num_samples, self.batch_size
        stop = total - total % size if self.drop_last else total
        for begin in range(start * size, stop, size):
            end = min(begin + size, stop)
            xb, yb, stage = self._buffers(end - begin)
            if order is None:
                np.copyto(xb, x[begin:end], casting="unsafe")
                np.copyto(yb, y[begin:end], casting="unsafe")
            else:
                idx = order[begin:end]
                if stage is None:
                    np.take(x, idx, axis=0, out=xb, mode="clip")
                else:
                    np.take(x, idx, axis=0, out=stage, mode="clip")
                    np.copyto(xb, stage, casting="unsafe")
                if y.dtype == np.intp:
                    np.take(y, idx, out=yb, mode="clip")
                else:
                    np.copyto(yb, y[idx], casting="unsafe")
            if scale != 1:
                np.multiply(xb, scale, out=xb)
            if augment is not None:
                augment(xb)
            yield xb, yb
