"""What the report of one run shows, computed from its run folder and last checkpoint.

The run folder gives the spec, the lock and the per-epoch metrics; the last checkpoint gives the
network, which is evaluated again on the test split for the confusion matrix, the per-class
precision, recall and F1 and the gallery, and run on one training batch for the gradients.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layerkit.data.batches import BatchIterator
from layerkit.errors import ConfigError
from layerkit.report import figures
from layerkit.report.graph import graph_picture
from layerkit.run import checkpoint_spec, restore_network
from layerkit.sweep.runs import read_run
from layerkit.training.checkpoint import latest_checkpoint, list_checkpoints
from layerkit.training.metrics import class_metrics
from layerkit.training.plots import curves_figure

__all__ = ["RunReport", "collect_run", "Evaluation", "lock_rows", "GALLERY_WRONG", "GALLERY_RIGHT"]

#: the most confidently misclassified test images shown
GALLERY_WRONG = 24
#: correctly classified test images shown per class (the most confident)
GALLERY_RIGHT = 3
#: training samples the gradient statistics are computed on
GRADIENT_BATCH = 256


@dataclass
class Evaluation:
    """The network's test-split predictions."""

    labels: np.ndarray  # (N,) true class indices
    probabilities: np.ndarray  # (N, C)
    class_names: list[str]

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    def confusion(self) -> np.ndarray:
        """``(C, C)`` counts, true class by row, predicted class by column."""
        classes = len(self.class_names)
        counts = np.zeros((classes, classes), dtype=np.int64)
        np.add.at(counts, (self.labels, self.predicted), 1)
        return counts


@dataclass
class RunReport:
    """The template context of one run's report."""

    run_dir: Path
    title: str
    summary: list[tuple[str, str]]
    spec_yaml: str
    lock: dict[str, Any]
    history: list[dict[str, Any]]
    sections: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _read_lock(run_dir: Path) -> dict[str, Any]:
    try:
        lock = json.loads((run_dir / "lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return lock if isinstance(lock, dict) else {}


def _read_spec(run_dir: Path) -> str:
    try:
        return (run_dir / "spec.yaml").read_text(encoding="utf-8")
    except OSError:
        return ""


def collect_run(run_dir: str | Path) -> RunReport:
    """Everything the report of ``run_dir`` shows (evaluates the last checkpoint on the test split)."""
    folder = Path(run_dir)
    record = read_run(folder)
    spec_yaml = _read_spec(folder)
    lock = _read_lock(folder)
    history = [dict(row) for row in record.history]
    name = folder.name
    if not list_checkpoints(folder / "checkpoints"):
        raise ConfigError(
            f"{folder}: the run has no checkpoint yet (nothing to evaluate for its report)"
        )
    checkpoint = latest_checkpoint(folder / "checkpoints")
    spec = checkpoint_spec(checkpoint)
    name = spec.name
    network = restore_network(checkpoint, spec)
    info = checkpoint.manifest.get("input", {})
    splits = spec.data.create().load()
    classes = int(info.get("num_classes") or network.shapes()[1][-1])
    names = info.get("class_names") or [str(i) for i in range(classes)]

    report = RunReport(folder, name, [], spec_yaml, lock, history)
    report.sections.update(dict.fromkeys(("confusion", "classes", "gallery", "filters")))
    last = history[-1] if history else {}
    report.summary = _summary(folder, checkpoint, last, lock, network)
    report.sections["curves"] = (
        figures.figure_uri(curves_figure(history, learning_rate=True)) if history else None
    )
    report.sections["graph"] = graph_picture(network)
    report.sections["layers"] = _layer_rows(network)

    test = splits.get("test")
    if test is not None and len(test):
        batch = spec.train.eval_batch_size
        evaluation = _predict(network, test, batch, list(names))
        report.sections["confusion"] = _confusion(evaluation)
        report.sections["classes"] = _class_table(evaluation)
        report.sections["gallery"] = _gallery(evaluation, test.x)
        if report.sections["gallery"] is None:
            report.notes.append("no image gallery: the inputs of this dataset are not images")
    else:
        report.notes.append("no test split: no confusion matrix, per-class metrics or gallery")

    report.sections["weights"] = _weights(network, splits["train"], checkpoint.epoch)
    report.sections["filters"] = _filters(network)
    return report


def _summary(
    folder: Path, checkpoint: Any, last: Mapping[str, Any], lock: Mapping[str, Any], network: Any
) -> list[tuple[str, str]]:
    def fmt(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = [
        ("run folder", str(folder)),
        (
            "checkpoint",
            f"{checkpoint.path.name} (epoch {checkpoint.epoch}, step {checkpoint.step})",
        ),
    ]
    for key in (
        "test_accuracy",
        "test_loss",
        "val_accuracy",
        "val_loss",
        "train_accuracy",
        "train_loss",
    ):
        if last.get(key) is not None:
            rows.append((key.replace("_", " "), fmt(last[key])))
    rows.append(("parameters", f"{network.param_count():,}"))
    if lock.get("created"):
        rows.append(("created", str(lock["created"])))
    return rows


def _layer_rows(network: Any) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "output_shape": "?" if row["output_shape"] is None else str(tuple(row["output_shape"])),
        }
        for row in network.summary_rows()
    ]


def _predict(network: Any, split: Any, batch_size: int, names: list[str]) -> Evaluation:
    activate = network.loss_layer.activate
    chunks = [
        activate(network.forward(x, train=False)).astype(np.float64, copy=True)
        for x, _ in BatchIterator(split, batch_size, dtype=network.dtype)
    ]
    return Evaluation(np.asarray(split.y, dtype=np.intp), np.concatenate(chunks), names)


def _confusion(evaluation: Evaluation) -> dict[str, Any]:
    counts = evaluation.confusion()
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(totals[:, None] > 0, counts / np.maximum(totals[:, None], 1), 0.0)
    return {
        "names": evaluation.class_names,
        "counts": counts.tolist(),
        "normalised": normalised.tolist(),
        "row_totals": totals.tolist(),
        "column_totals": counts.sum(axis=0).tolist(),
        "total": int(counts.sum()),
        "max": int(counts.max()) if counts.size else 0,
    }


def _class_table(evaluation: Evaluation) -> dict[str, Any]:
    confusion = evaluation.confusion()
    metrics = class_metrics(confusion)
    rows = [
        {
            "index": i,
            "name": name,
            "precision": float(metrics["precision"][i]),
            "recall": float(metrics["recall"][i]),
            "f1": float(metrics["f1"][i]),
            "support": int(metrics["support"][i]),
        }
        for i, name in enumerate(evaluation.class_names)
    ]
    total = int(confusion.sum())
    return {
        "rows": rows,
        "macro": {key: float(np.mean(metrics[key])) for key in ("precision", "recall", "f1")},
        "accuracy": float(np.trace(confusion) / total) if total else 0.0,
        "total": total,
    }


def _gallery(evaluation: Evaluation, images: np.ndarray) -> dict[str, Any] | None:
    if images.shape[0] == 0 or figures.as_image(images[0]) is None:
        return None
    names = evaluation.class_names
    predicted, confidence, labels = evaluation.predicted, evaluation.confidence, evaluation.labels
    probabilities = evaluation.probabilities

    def card(i: int) -> dict[str, Any]:
        picture = figures.as_image(images[i])
        assert picture is not None
        return {
            "index": i,
            "uri": figures.image_uri(picture),
            "true": names[labels[i]],
            "predicted": names[predicted[i]],
            "confidence": float(confidence[i]),
            "true_probability": float(probabilities[i, labels[i]]),
        }

    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:GALLERY_WRONG]
    right_by_class = []
    for c, name in enumerate(names):
        right = np.flatnonzero((predicted == labels) & (labels == c))
        right = right[np.argsort(-confidence[right], kind="stable")][:GALLERY_RIGHT]
        right_by_class.append({"name": name, "cards": [card(int(i)) for i in right]})
    return {
        "wrong": [card(int(i)) for i in wrong],
        "right": right_by_class,
        "errors": int((predicted != labels).sum()),
    }


def _weights(network: Any, train: Any, epoch: int) -> dict[str, Any]:
    """Statistics and histograms of every parameter and of its gradient on one training batch."""
    count = min(GRADIENT_BATCH, len(train))
    x = next(iter(BatchIterator(train, count, dtype=network.dtype)))[0].copy()
    t = np.asarray(train.y[:count])
    grads = network.gradient(x, t)
    rows = []
    params = {key: np.array(value) for key, value in network.params.items()}
    for key, value in params.items():
        flat = value.astype(np.float64).ravel()
        grad = grads.get(key)
        gflat = None if grad is None else grad.astype(np.float64).ravel()
        rows.append(
            {
                "key": key,
                "shape": str(tuple(value.shape)),
                "mean": float(flat.mean()),
                "std": float(flat.std()),
                "min": float(flat.min()),
                "max": float(flat.max()),
                "grad_norm": None if gflat is None else float(np.linalg.norm(gflat)),
                "grad_abs_mean": None if gflat is None else float(np.abs(gflat).mean()),
            }
        )
    return {
        "rows": rows,
        "epoch": epoch,
        "batch": count,
        "figure": figures.figure_uri(figures.histograms_figure(params, grads)),
    }


def _filters(network: Any) -> dict[str, Any] | None:
    """The first convolution's filters, for a CNN."""
    for layer in network.layers:
        kernel = layer.params.get("W")
        if layer.name == "Conv2D" and kernel is not None and np.ndim(kernel) == 4:
            title = f"{layer.id}: {kernel.shape[0]} filters of {kernel.shape[2]}x{kernel.shape[3]}"
            return {
                "layer": layer.id,
                "shape": str(tuple(kernel.shape)),
                "figure": figures.figure_uri(
                    figures.filters_figure(np.asarray(kernel), title=title)
                ),
            }
    return None


def lock_rows(lock: Mapping[str, Any]) -> dict[str, Any]:
    """The lock's versions, plugins and reproduction facts as table rows."""
    versions = [
        ("layerkit", lock.get("layerkit")),
        ("numpy", lock.get("numpy")),
        ("python", lock.get("python")),
    ]
    versions += list((lock.get("dependencies") or {}).items())
    versions.append(("platform", lock.get("platform")))
    blas = [
        f"{b.get('internal_api')} {b.get('version') or ''} ({b.get('num_threads')} threads)".strip()
        for b in lock.get("blas") or []
    ]
    if blas:
        versions.append(("BLAS", "; ".join(blas)))
    facts = [
        ("seed", lock.get("seed")),
        ("spec file", lock.get("spec_file")),
        ("overrides", " ".join(lock.get("overrides") or []) or None),
        ("command", lock.get("command")),
        ("resumed", len(lock.get("resumes") or []) or None),
    ]
    return {
        "versions": [(k, v) for k, v in versions if v is not None],
        "plugins": [
            (p.get("name"), p.get("distribution") or "-", p.get("version") or "-")
            for p in lock.get("plugins") or []
        ],
        "components": [
            (c.get("group"), c.get("name"), c.get("distribution") or "-", c.get("version") or "-")
            for c in lock.get("components") or []
        ],
        "facts": [(k, v) for k, v in facts if v is not None],
    }
