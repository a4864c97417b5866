"""Loss layers: softmax with cross-entropy, and mean squared error.

``forward(x, t)`` returns the mean loss over the batch as a Python float; ``backward(dout=1.0)``
returns ``dx``. Labels ``t`` are class indices ``(N,)`` or one-hot rows ``(N, C)``; indices are
the fast path (no one-hot matrix is ever built for them).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np

from layerkit.errors import ShapeError
from layerkit.functions import _exp_shifted, softmax
from layerkit.layers.base import LayerParams, Loss, Shape

__all__ = ["MeanSquaredError", "SoftmaxWithLoss"]

_EXAMPLES: tuple[dict[str, Any], ...] = (
    {"params": {}, "input_shape": (5,)},
    {"params": {}, "input_shape": (2,)},
)


def _check_labels(label: str, x: np.ndarray, t: np.ndarray) -> bool:
    """Validate ``t`` against scores ``x`` (N, C); return True for class indices.

    Indices too large are caught where they are used (an IndexError); negative ones here, as
    they would silently pick from the end of a row.
    """
    if x.ndim != 2:
        raise ShapeError(f"{label}: expects scores of shape (N, classes) (received {x.shape})")
    if t.ndim == 1:
        if t.shape[0] != x.shape[0]:
            raise ShapeError(f"{label}: {t.shape[0]} labels for a batch of {x.shape[0]}")
        if t.dtype.kind not in "iu":
            raise ShapeError(
                f"{label}: class-index labels must be integers (received dtype {t.dtype})"
            )
        if t.size and t.min() < 0:
            _bad_label(label, x, t)
        return True
    if t.shape != x.shape:
        raise ShapeError(
            f"{label}: labels must be class indices ({x.shape[0]},) or one-hot {x.shape} "
            f"(received shape {t.shape})"
        )
    return False


def _bad_label(label: str, x: np.ndarray, t: np.ndarray) -> None:
    raise ShapeError(
        f"{label}: labels must be in [0, {x.shape[1]}) (received min {t.min()}, max {t.max()})"
    )


@functools.lru_cache(maxsize=8)
def _rows(n: int) -> np.ndarray:
    """``arange(n)`` for picking one entry per row; cached, as batch sizes repeat."""
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


@functools.lru_cache(maxsize=8)
def _ones_column(c: int, dtype: np.dtype) -> np.ndarray:
    """A read-only ``(c, 1)`` column of ones: ``y @ ones`` is the row sum as one GEMV."""
    ones = np.ones((c, 1), dtype=dtype)
    ones.flags.writeable = False
    return ones


def _check_num_classes(label: str, input_shape: Shape, num_classes: int | None) -> None:
    if len(input_shape) != 1:
        raise ShapeError(
            f"{label}: expects one score per class, shape (classes,) (received {input_shape}); "
            "add a Flatten or Affine layer before it"
        )
    if num_classes is not None and input_shape[0] != num_classes:
        raise ShapeError(
            f"{label}: the data has {num_classes} classes but the layer before the loss outputs "
            f"{input_shape[0]} (set its units to {num_classes})"
        )


class SoftmaxWithLoss(Loss[LayerParams]):
    """Softmax followed by cross-entropy, stable and batched; dx = (softmax(x) - t) / N."""

    examples: ClassVar[tuple[dict[str, Any], ...]] = _EXAMPLES

    def check_targets(self, input_shape: Shape, num_classes: int | None) -> None:
        _check_num_classes(self.label, input_shape, num_classes)

    def activate(self, x: np.ndarray) -> np.ndarray:
        return softmax(x, axis=-1)

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:  # type: ignore[override]
        t = np.asarray(t)
        return self._loss(x, t, _check_labels(self.label, x, t))

    def forward_validated(self, x: np.ndarray, t: np.ndarray) -> float:
        """:meth:`forward` for ``(N,)`` integer labels in ``[0, C)``: no label checks."""
        return self._loss(x, t, True)

    def _loss(self, x: np.ndarray, t: np.ndarray, indices: bool) -> float:
        n = x.shape[0]
        z, y = _exp_shifted(x, axis=1)
        s = y @ _ones_column(y.shape[1], y.dtype)  # row sums, (N, 1)
        y /= s
        log_s = np.log(s)  # cross-entropy = log(sum exp z) - z[label], finite for any logits
        if indices:
            try:
                picked = z[_rows(n), t]
            except IndexError:
                _bad_label(self.label, x, t)
            loss = float(log_s.sum() - picked.sum()) / n
        else:
            loss = float((log_s[:, 0] * t.sum(axis=1)).sum() - (t * z).sum()) / n
        self._y, self._t, self._indices = y, t, indices
        return loss

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        n = self._y.shape[0]
        if self._indices:
            dx = self._y.copy()
            dx[_rows(n), self._t] -= 1.0
        else:
            dx = self._y - self._t
        dx *= dout / n
        return dx


class MeanSquaredError(Loss[LayerParams]):
    """Sum-of-squares error 0.5 * sum((x - t)^2) per sample, averaged over the batch; dx = (x - t) / N.

    Targets are real-valued rows shaped like ``x``, or class indices (compared as one-hot rows).
    """

    examples: ClassVar[tuple[dict[str, Any], ...]] = _EXAMPLES

    def check_targets(self, input_shape: Shape, num_classes: int | None) -> None:
        if num_classes is not None:
            _check_num_classes(self.label, input_shape, num_classes)

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:  # type: ignore[override]
        t = np.asarray(t)
        if x.ndim == 2 and t.ndim == 1:
            _check_labels(self.label, x, t)
            diff = x.copy()
            try:
                diff[_rows(x.shape[0]), t] -= 1.0
            except IndexError:
                _bad_label(self.label, x, t)
        else:
            if t.shape != x.shape:
                raise ShapeError(f"{self.label}: targets of shape {t.shape} for outputs {x.shape}")
            diff = x - t
        self._diff = diff
        return 0.5 * float(np.vdot(diff, diff)) / x.shape[0]

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        return self._diff * (dout / self._diff.shape[0])
