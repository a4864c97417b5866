"""What the report of several runs (or of a sweep) shows: the ranked table, the curves overlaid,
the spec values that differ between runs, and the sweep's metric against its swept values."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from layerkit.report import figures
from layerkit.spec.overrides import flatten_paths
from layerkit.sweep.report import summary_rows, sweep_figure
from layerkit.sweep.runner import MANIFEST, collect, load_plan
from layerkit.sweep.runs import RunRecord, expand_runs, final_metric_names, runs_figure

__all__ = ["RunsReport", "collect_runs", "spec_differences", "is_sweep"]

_MISSING = "(not set)"


@dataclass
class RunsReport:
    """The template context of a report on several runs."""

    title: str
    ranked: dict[str, Any]
    curves: str | None
    differences: dict[str, Any]
    sweep_plot: str | None = None
    notes: list[str] = field(default_factory=list)


def is_sweep(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()


def _spec_of(run: RunRecord) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load((run.path / "spec.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def spec_differences(runs: Sequence[RunRecord]) -> dict[str, Any]:
    """The spec paths whose values are not the same in every run, with each run's value."""
    flat = [flatten_paths(_spec_of(run)) for run in runs]
    keys = list(dict.fromkeys(key for values in flat for key in values))
    rows = []
    for key in keys:
        values = [values.get(key, _MISSING) for values in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append({"path": key, "values": [_show(v) for v in values]})
    return {"runs": [run.label for run in runs], "rows": rows}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _ranked_runs(runs: Sequence[RunRecord], report_links: dict[Path, str]) -> dict[str, Any]:
    metrics = final_metric_names(runs)
    key = "test_accuracy" if "test_accuracy" in metrics else (metrics[-1] if metrics else "")
    sign = 1.0 if key.endswith("loss") else -1.0  # best first: lowest loss, highest accuracy

    def rank(run: RunRecord) -> tuple[bool, float]:
        value = run.final.get(key)
        return (not isinstance(value, (int, float)), sign * float(value or 0.0))

    order = sorted(runs, key=rank)
    rows = [
        {
            "cells": [rank, run.label, run.epochs, *(_cell(run.final.get(m)) for m in metrics)],
            "link": report_links.get(run.path),
        }
        for rank, run in enumerate(order, 1)
    ]
    return {"header": ["rank", "run", "epochs", *metrics], "rows": rows, "by": key or None}


def _ranked_sweep(folder: Path, report_links: dict[Path, str]) -> tuple[dict[str, Any], Any]:
    result = collect(load_plan(folder), folder)
    header, rows = summary_rows(result)
    hidden = {"run_dir", "epoch", "lr", "seconds", "samples_per_s", "attempts"}
    keep = [
        i
        for i, h in enumerate(header)
        if h not in hidden and any(row[i] not in ("", None) for row in rows)
    ]
    run_dir_index = header.index("run_dir")
    table = []
    for row in rows:
        run_dir = folder / row[run_dir_index] if row[run_dir_index] else None
        table.append(
            {
                "cells": [_cell(row[i]) for i in keep],
                "link": report_links.get(run_dir) if run_dir else None,
            }
        )
    return {"header": [header[i] for i in keep], "rows": table, "by": result.plan.metric}, result


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.3g}"
    return "" if value is None else str(value)


def collect_runs(paths: Sequence[str | os.PathLike[str]], *, out: Path) -> RunsReport:
    """The report of the runs (or the sweep) named by ``paths``; ``out`` is where the page goes
    (links to each run's own ``report.html`` are relative to it)."""
    runs = expand_runs(paths)
    links = {
        run.path: os.path.relpath(run.path / "report.html", out.parent)
        for run in runs
        if (run.path / "report.html").is_file()
    }
    sweep_plot = None
    if len(paths) == 1 and is_sweep(paths[0]):
        folder = Path(paths[0])
        ranked, result = _ranked_sweep(folder, {Path(k): v for k, v in links.items()})
        title = f"sweep {result.plan.name}"
        sweep_plot = figures.figure_uri(sweep_figure(result))
    else:
        ranked = _ranked_runs(runs, links)
        title = f"{len(runs)} runs"
    return RunsReport(
        title=title,
        ranked=ranked,
        curves=figures.figure_uri(runs_figure(runs)),
        differences=spec_differences(runs),
        sweep_plot=sweep_plot,
    )
