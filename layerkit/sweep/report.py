"""Sweep results for people: a ranked table, ``summary.csv`` and a plot of the metric per value."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layerkit.fileio import atomic_write, atomic_write_text
from layerkit.sweep.runner import SweepResult

__all__ = [
    "summary_rows",
    "write_summary_csv",
    "plot_sweep",
    "write_report",
    "best_summary",
    "print_progress",
]


def _metric_names(result: SweepResult) -> list[str]:
    names: dict[str, None] = {result.plan.metric: None}
    for record in result.records:
        names.update(dict.fromkeys(record.get("metrics") or {}))
    return list(names)


def summary_rows(result: SweepResult) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the ranked summary (rank, id, status, swept values, metrics, ...)."""
    swept = result.plan.swept
    metrics = _metric_names(result)
    pruned = any(record.get("pruned_at") is not None for record in result.records)
    extra = ["pruned_at"] if pruned else []  # a tune's trials stopped early, and when
    header = [
        "rank",
        "id",
        "status",
        *swept,
        *metrics,
        *extra,
        "attempts",
        "trial_seconds",
        "run_dir",
        "error",
    ]
    rows = []
    for rank, record in enumerate(result.ranked(), 1):
        values = record.get("metrics") or {}
        params = record.get("params") or {}
        rows.append(
            [
                rank if record["status"] == "ok" else "",
                record["id"],
                record["status"],
                *(params.get(p, "") for p in swept),
                *(values.get(m, "") for m in metrics),
                *(record.get("pruned_at") or "" for _ in extra),
                record.get("attempts", ""),
                record.get("seconds", ""),
                record.get("run_dir") or "",
                (record.get("error") or "").splitlines()[0] if record.get("error") else "",
            ]
        )
    return header, rows


def write_summary_csv(result: SweepResult, path: str | os.PathLike[str] | None = None) -> Path:
    """``summary.csv`` in the sweep folder: every trial, ranked by the sweep's metric."""
    target = Path(path) if path is not None else result.sweep_dir / "summary.csv"
    header, rows = summary_rows(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(target, buffer.getvalue())
    return target


def plot_sweep(result: SweepResult, path: str | os.PathLike[str] | None = None) -> Path | None:
    """``sweep.png``: the metric against each swept value, one panel per value, best starred.

    Returns None (and draws nothing) when matplotlib is missing or no trial has the metric.
    """
    metric = result.plan.metric
    ok = [r for r in result.records if _is_number((r.get("metrics") or {}).get(metric))]
    swept = result.plan.swept
    if not ok or not swept:
        return None
    try:  # the object-oriented API on an Agg canvas: no pyplot state, no backend switch
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    best = result.best
    fig = Figure(figsize=(4.2 * len(swept), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(swept), squeeze=False)[0]
    for ax, name in zip(axes, swept, strict=False):
        runs = [r for r in ok if name in r["params"]]
        xs = [r["params"][name] for r in runs]
        ys = [r["metrics"][metric] for r in runs]
        if all(_is_number(x) for x in xs):
            positions = xs
            positive = [x for x in xs if x > 0]
            if result.plan.scales.get(name) == "log" or (
                len(positive) == len(xs) and max(positive) / min(positive) >= 10
            ):
                ax.set_xscale("log")
        else:  # categories: one column per distinct value, in first-seen order
            labels = list(dict.fromkeys(str(x) for x in xs))
            positions = [labels.index(str(x)) for x in xs]
            ax.set_xticks(range(len(labels)), labels)
        ax.scatter(positions, ys, alpha=0.75)
        for x, r in zip(positions, runs, strict=False):
            if r is best:
                ax.scatter(
                    [x],
                    [r["metrics"][metric]],
                    marker="*",
                    s=200,
                    color="tab:red",
                    zorder=3,
                    label="best",
                )
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"{result.plan.name}: {metric} by swept value ({result.plan.mode} is best)", fontsize=10
    )
    target = Path(path) if path is not None else result.sweep_dir / "sweep.png"
    atomic_write(target, lambda fh: fig.savefig(fh, format="png", dpi=100))
    return target


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_report(result: SweepResult) -> dict[str, Path | None]:
    """Write ``summary.csv`` and ``sweep.png``; returns their paths (plot None if not drawn)."""
    return {"summary": write_summary_csv(result), "plot": plot_sweep(result)}


def best_summary(result: SweepResult) -> dict[str, Any]:
    """A JSON-ready description of the sweep outcome (the ``--json`` line)."""
    best = result.best
    return {
        "sweep_dir": str(result.sweep_dir),
        "name": result.plan.name,
        "metric": result.plan.metric,
        "mode": result.plan.mode,
        "trials": len(result.plan.trials),
        "succeeded": len(result.ok),  # not "ok": the --json contract reserves it
        "failed": len(result.failed),
        "missing": len(result.missing),
        "best": None
        if best is None
        else {
            "id": best["id"],
            "params": best["params"],
            "metrics": best["metrics"],
            "run_dir": str(result.sweep_dir / best["run_dir"]) if best.get("run_dir") else None,
        },
    }


def print_progress(
    record: dict[str, Any], done: int, total: int, *, metric: str, stream: Any = None
) -> None:
    """One line per committed trial: the progress output of ``layerkit sweep``."""
    params = describe_params(record["params"])
    if record["status"] == "ok":
        value = record["metrics"].get(metric)
        outcome = f"{metric}={_fmt(value)}" if value is not None else "ok"
    elif record["status"] == "pruned":
        value = record["metrics"].get(metric)
        outcome = f"pruned after epoch {record.get('pruned_at')}" + (
            f" ({metric}={_fmt(value)})" if value is not None else ""
        )
    else:
        first = str(record["error"]).splitlines()[0] if record.get("error") else "unknown error"
        outcome = f"FAILED: {first}"
    notes = []
    if record.get("seconds") is not None:
        notes.append(f"{record['seconds']:.1f}s")
    if (record.get("attempts") or 1) > 1:
        notes.append(f"{record['attempts']} attempts")
    suffix = f" ({', '.join(notes)})" if notes else ""
    width = len(str(total))
    line = f"[{done:>{width}}/{total}] {record['id']}  {params}  {outcome}{suffix}"
    print(line, file=stream or sys.stdout, flush=True)


def describe_params(params: Mapping[str, Any]) -> str:
    """``lr=0.1 units=16``: each swept path by its last key, unless two paths share that key."""
    last = [path.rsplit(".", 1)[-1] for path in params]
    names = [key if last.count(key) == 1 else path for key, path in zip(last, params)]
    return " ".join(f"{name}={_fmt(value)}" for name, value in zip(names, params.values()))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
