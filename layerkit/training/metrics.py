"""Classification metrics from a confusion matrix: per-class precision, recall, F1 and support."""

from __future__ import annotations

import numpy as np

__all__ = ["class_metrics"]


def class_metrics(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` and ``support`` of a ``(C, C)`` confusion matrix
    (true class by row, predicted by column); 0 where a ratio is undefined, as scikit-learn's
    ``zero_division=0``. Recall is the per-class accuracy."""
    true_positive = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(support > 0, true_positive / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}
