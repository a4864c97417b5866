"""Sweep results for people: a ranked table, ``summary.csv`` and a plot of the metric per value."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layerkit.fileio import atomic_write_text
from layerkit.sweep.runner import SweepResult

__all__ = [
    "summary_rows",
    "write_summary_csv",
    "plot_sweep",
    "sweep_figure",
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


def sweep_figure(result: SweepResult) -> Any:
    """The metric against each swept value, one panel per value, the best trial ringed; with
    exactly two swept values also a heatmap of the metric over both. None when matplotlib is
    missing or no trial has the metric."""
    metric = result.plan.metric
    ok = [r for r in result.records if _is_number((r.get("metrics") or {}).get(metric))]
    swept = result.plan.swept
    if not ok or not swept:
        return None
    from layerkit.training.plots import new_figure

    heatmap = len(swept) == 2
    panels = len(swept) + heatmap
    fig = new_figure((4.2 * panels + 0.6 * heatmap, 3.6))
    if fig is None:
        return None
    best = result.best
    axes = fig.subplots(1, panels, squeeze=False)[0]
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
                _log_axis(ax, sorted(set(xs)))
        else:  # categories: one column per distinct value, in first-seen order
            labels = list(dict.fromkeys(str(x) for x in xs))
            positions = [labels.index(str(x)) for x in xs]
            ax.set_xticks(range(len(labels)), labels)
        ax.scatter(positions, ys, alpha=0.75, zorder=2)
        for x, r in zip(positions, runs, strict=False):
            if r is best:
                # A ring around the best point, not a marker over it: the point stays visible.
                ax.scatter(
                    [x],
                    [r["metrics"][metric]],
                    s=220,
                    facecolors="none",
                    edgecolors="tab:red",
                    linewidths=2,
                    zorder=3,
                    label="best",
                )
                ax.legend(fontsize=8, loc="best")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    if heatmap:
        _heatmap(fig, axes[-1], ok, swept, metric, best)
    fig.suptitle(
        f"{result.plan.name}: {metric} by swept value ({result.plan.mode} is best)", fontsize=10
    )
    return fig


def _log_axis(ax: Any, values: list[float]) -> None:
    """A log x axis labelled at the swept values (at most 8) or at 1-2-5 steps, never on minor
    ticks: under a decade matplotlib labels the minor ticks too, and they collide."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(
        FixedLocator(values) if len(values) <= 8 else LogLocator(subs=(1.0, 2.0, 5.0))
    )
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _heatmap(
    fig: Any, ax: Any, ok: list[dict[str, Any]], swept: list[str], metric: str, best: Any
) -> None:
    """The metric over the grid of two swept values (the mean where several trials share a cell)."""
    import numpy as np

    x_name, y_name = swept
    runs = [r for r in ok if x_name in r["params"] and y_name in r["params"]]
    xs = _ordered(r["params"][x_name] for r in runs)
    ys = _ordered(r["params"][y_name] for r in runs)
    sums = np.zeros((len(ys), len(xs)))
    counts = np.zeros((len(ys), len(xs)))
    for r in runs:
        i, j = ys.index(r["params"][y_name]), xs.index(r["params"][x_name])
        sums[i, j] += r["metrics"][metric]
        counts[i, j] += 1
    with np.errstate(invalid="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(xs)), [_fmt(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys])
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if counts[i, j]:
                colour = "black" if grid[i, j] > middle else "white"
                ax.text(
                    j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=8, color=colour
                )
    if best is not None and best in runs:
        i, j = ys.index(best["params"][y_name]), xs.index(best["params"][x_name])
        from matplotlib.patches import Rectangle

        ax.add_patch(
            Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2.5)
        )
    ax.set_title(f"{metric} (best outlined)", fontsize=9)


def _ordered(values: Any) -> list[Any]:
    """Distinct values, sorted when they are all numbers, else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    return sorted(distinct) if all(_is_number(v) for v in distinct) else distinct


def plot_sweep(result: SweepResult, path: str | os.PathLike[str] | None = None) -> Path | None:
    """``sweep.png`` (:func:`sweep_figure`) in the sweep folder or at ``path``; None if not drawn."""
    from layerkit.training.plots import save_figure

    fig = sweep_figure(result)
    if fig is None:
        return None
    return save_figure(fig, Path(path) if path is not None else result.sweep_dir / "sweep.png")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write_report(result: SweepResult, *, plot: bool = True) -> dict[str, Path | None]:
    """Write ``summary.csv`` and (unless ``plot`` is false) ``sweep.png``; returns their paths
    (plot None if not drawn)."""
    return {"summary": write_summary_csv(result), "plot": plot_sweep(result) if plot else None}


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
