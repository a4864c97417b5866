"""Reading finished run folders back: final metrics, per-epoch curves, and their comparison.

A run folder is what :func:`layerkit.training.train` leaves (``metrics.csv``, ``spec.yaml``...),
whether under ``runs/`` or as a sweep's ``trials/<id>/``. A sweep folder given where runs are
expected stands for all of its trials that finished.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerkit.errors import LayerkitError
from layerkit.fileio import FolderClaim, UnsafeJson, read_json
from layerkit.run import STATUS_FILE

__all__ = [
    "RunRecord",
    "read_run",
    "expand_runs",
    "plot_runs",
    "runs_figure",
    "common_folder",
    "CURVE_METRICS",
]

METRICS_FILE = "metrics.csv"
#: (split, quantity) pairs drawn by :func:`plot_runs`, in legend order.
CURVE_METRICS = ("loss", "accuracy")


@dataclass(frozen=True)
class RunRecord:
    """One run folder: its per-epoch history and a short label for tables and legends."""

    path: Path
    label: str
    history: tuple[dict[str, Any], ...]
    #: ``finished``, or why not: ``running``, ``incomplete`` (killed), ``failed``, ``diverged``,
    #: ``interrupted`` (Ctrl-C); see :func:`run_status`
    status: str = "finished"

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's metrics (what the run ended with)."""
        return dict(self.history[-1]) if self.history else {}

    @property
    def epochs(self) -> int:
        return len(self.history)


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_run(path: str | os.PathLike[str], *, label: str | None = None) -> RunRecord:
    """Read ``path/metrics.csv``; a clear error if ``path`` is not a run folder."""
    folder = Path(path)
    metrics = folder / METRICS_FILE
    if not folder.is_dir():
        raise LayerkitError(f"{folder}: no such run folder")
    try:
        with metrics.open(newline="", encoding="utf-8") as fh:
            rows = [
                {k: _number(v) for k, v in row.items() if k is not None}
                for row in csv.DictReader(fh)
            ]
    except FileNotFoundError:
        raise LayerkitError(f"{folder}: not a run folder (no {METRICS_FILE})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LayerkitError(f"{metrics}: cannot read: {exc}") from None
    return RunRecord(
        path=folder,
        label=label or str(folder),
        history=tuple(rows),
        status=run_status(folder, len(rows)),
    )


def run_status(folder: Path, epochs_done: int) -> str:
    """How the run in ``folder`` stands, from its ``status.json`` and whether a process holds it.

    A run killed before it could say so (SIGKILL, a power cut) left ``running`` with nobody
    holding the folder, or no status at all with fewer epochs than planned: ``incomplete``.
    Folders from before status files existed count as finished when they have any epoch.
    """
    try:
        record = read_json(folder / STATUS_FILE)
    except UnsafeJson:
        record = None
    status = record.get("status") if isinstance(record, dict) else None
    if status == "running" or status is None:
        if FolderClaim.is_held(folder):
            return "running"
        if status == "running" or epochs_done == 0:
            return "incomplete"
        return "finished"
    if status == "finished":
        planned = record.get("epochs") if isinstance(record, dict) else None
        stopped = isinstance(record, dict) and record.get("stop_reason")
        if isinstance(planned, int) and epochs_done < planned and not stopped:
            return "incomplete"  # metrics.csv lost rows (edited, truncated)
        return "finished"
    # pruned: a tune's pruner stopped it cleanly after status.json's pruned_after_epoch
    return (
        str(status) if status in ("failed", "diverged", "interrupted", "pruned") else "incomplete"
    )


def _sweep_trials(folder: Path) -> list[tuple[Path, str | None]]:
    """The finished trials of a sweep folder, best first, labelled by their swept values."""
    from layerkit.sweep.runner import collect, load_plan

    result = collect(load_plan(folder), folder)
    return [
        (folder / record["run_dir"], _label(record))
        for record in result.ranked()
        if record.get("run_dir") and record["status"] == "ok"
    ]


def _label(record: dict[str, Any]) -> str:
    """``<id> lr=0.1 units=16``: a trial by its id and swept values."""
    from layerkit.sweep.report import describe_params

    return f"{record['id']} {describe_params(record['params'])}".strip()


def _trial_label(folder: Path) -> str | None:
    """``<id> lr=0.1 units=16`` for a sweep's ``trials/<id>`` folder, else None."""
    from layerkit.sweep.runner import MANIFEST, RESULTS, TRIALS_DIR
    from layerkit.sweep.store import ResultsLog

    sweep = folder.parent.parent
    if folder.parent.name != TRIALS_DIR or not (sweep / MANIFEST).is_file():
        return None
    record = ResultsLog(sweep / RESULTS).records().get(folder.name)
    return None if record is None else _label(record)


def expand_runs(paths: Sequence[str | os.PathLike[str]]) -> list[RunRecord]:
    """Read every run folder named, a sweep folder standing for its finished trials."""
    from layerkit.sweep.runner import MANIFEST

    named: list[tuple[Path, str | None]] = []
    for raw in paths:
        folder = Path(raw)
        if (folder / MANIFEST).is_file() and not (folder / METRICS_FILE).exists():
            trials = _sweep_trials(folder)
            if not trials:
                raise LayerkitError(f"{folder}: this sweep has no finished trial yet")
            named.extend(trials)
        else:
            named.append((folder, _trial_label(folder)))
    runs = [read_run(path, label=label) for path, label in named]
    unlabelled = [r for r in runs if r.label == str(r.path)]  # plain runs: label by path
    labels = _unique_suffixes([r.path for r in unlabelled])
    return [
        RunRecord(r.path, labels[r.path], r.history, r.status) if r in unlabelled else r
        for r in runs
    ]


def _unique_suffixes(paths: Sequence[Path]) -> dict[Path, str]:
    """The shortest trailing parts that tell the runs apart (``spiral/20250101-120000``)."""
    resolved = {p: Path(os.path.abspath(p)).parts for p in paths}
    out: dict[Path, str] = {}
    for path, parts in resolved.items():
        for n in range(1, len(parts) + 1):
            tail = parts[-n:]
            if sum(1 for other in resolved.values() if other[-n:] == tail) == 1 or n == len(parts):
                out[path] = "/".join(tail)
                break
    return out


def common_folder(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """The nearest folder holding every one of ``paths``: where a comparison of them is written
    (next to the runs, not into the working directory)."""
    absolute = [os.path.abspath(p) for p in paths]
    common = Path(os.path.commonpath(absolute))
    if str(common) in absolute:  # one run, or a run inside another: beside it
        common = common.parent
    if common == Path(common.anchor):
        raise LayerkitError(
            f"the runs share no folder but {common}; name where to write the comparison"
        )
    return common


def final_metric_names(runs: Sequence[RunRecord]) -> list[str]:
    """Loss and accuracy columns present in any run, train first, then val, then test."""
    present: set[str] = set()
    for run in runs:
        present.update(k for k, v in run.final.items() if v is not None)
    ordered = [f"{split}_{q}" for split in ("train", "val", "test") for q in CURVE_METRICS]
    return [name for name in ordered if name in present]


def runs_figure(runs: Sequence[RunRecord]) -> Any:
    """The runs' loss and accuracy curves overlaid (one colour per run; test solid, train dashed,
    validation dotted); None when matplotlib is missing."""
    from layerkit.training.plots import new_figure

    fig = new_figure((11, 4.2))
    if fig is None:
        return None
    axes = fig.subplots(1, len(CURVE_METRICS))
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, quantity in zip(axes, CURVE_METRICS, strict=False):
        for run, colour in zip(runs, colours, strict=False):
            epochs = [row.get("epoch", i + 1) for i, row in enumerate(run.history)]
            for split, style in (("test", "-"), ("train", "--"), ("val", ":")):
                values = [_plottable(row.get(f"{split}_{quantity}")) for row in run.history]
                if not values or any(v is None for v in values):
                    continue
                label = run.label if split == "test" else None
                ax.plot(
                    epochs, values, style, color=colour, marker="o", markersize=2.5, label=label
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity)
        ax.set_title(f"{quantity} (test solid, train dashed)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[-1].legend(fontsize=7, loc="best")
    return fig


def plot_runs(runs: Sequence[RunRecord], path: str | os.PathLike[str]) -> Path | None:
    """:func:`runs_figure` written to ``path``; None when matplotlib is missing."""
    from layerkit.training.plots import save_figure

    fig = runs_figure(runs)
    return None if fig is None else save_figure(fig, path)


#: Values beyond this are drawn as gaps: matplotlib cannot scale an axis up to 1e308.
_PLOT_LIMIT = 1e150


def _plottable(value: Any) -> Any:
    """A metric as a point: numbers within range; NaN (a gap) for text, inf or 1e308."""
    if value is None:
        return None
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and abs(value) <= _PLOT_LIMIT
    ):
        return value
    return math.nan


def runs_json(runs: Sequence[RunRecord]) -> str:
    """One JSON object: each run's path, label, epochs and final metrics."""
    return json.dumps(
        {
            "runs": [
                {
                    "path": str(r.path),
                    "label": r.label,
                    "status": r.status,
                    "epochs": r.epochs,
                    "final": r.final,
                }
                for r in runs
            ]
        }
    )
