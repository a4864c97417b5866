"""``layerkit runs compare RUN...``: final metrics side by side, curves overlaid in one plot."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    compare = sub.add_parser(
        "compare",
        help="table of final metrics and overlaid curves of run folders",
        description="Compare run folders (a sweep folder stands for its finished trials): a table "
        "of final metrics and their loss/accuracy curves overlaid in one PNG.",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run folder or sweep folder")
    compare.add_argument(
        "--sort", metavar="METRIC", help="order rows by this final metric (best first)"
    )
    compare.add_argument(
        "--plot",
        metavar="PATH",
        help="where to draw the curves (default: a new compare-<timestamp>.png in the runs' "
        "nearest common folder, never replacing a file)",
    )
    compare.add_argument("--force", action="store_true", help="replace --plot PATH if it exists")
    compare.add_argument("--no-plot", action="store_true", help="print the table only")


def run(args: argparse.Namespace) -> int:
    import sys

    from layerkit._table import render_table
    from layerkit.errors import LayerkitError
    from layerkit.sweep.runs import (
        expand_runs,
        final_metric_names,
        plot_runs,
        runs_json,
    )

    human = sys.stderr if args.json else sys.stdout  # --json: stdout is the result document only
    runs = expand_runs(args.runs)
    names = final_metric_names(runs)
    if args.sort:
        if args.sort not in names:
            raise LayerkitError(
                f"--sort: no run has a final {args.sort!r} (available: {', '.join(names)})"
            )
        sign = 1.0 if args.sort.endswith("loss") else -1.0
        runs.sort(
            key=lambda r: (
                r.final.get(args.sort) is None,
                sign * float(r.final.get(args.sort) or 0.0),
            )
        )
    rows = [[r.label, r.status, r.epochs, *(_fmt(r.final.get(n)) for n in names)] for r in runs]
    print(render_table(["run", "status", "epochs", *names], rows), file=human)
    unfinished = [r for r in runs if r.status != "finished"]
    if unfinished:
        print(
            f"{len(unfinished)} run(s) did not finish: their metrics are those of their last epoch "
            "(or none), not results",
            file=human,
        )
    if not args.no_plot:
        drawn = plot_runs(runs, _plot_path(args))
        if drawn is None:
            from layerkit.training.plots import missing_plot

            print(missing_plot(str(args.plot)), file=human)
        else:
            print(f"curves: {drawn}", file=human)
    if args.json:
        print(runs_json(runs))
    return 0


def _plot_path(args: argparse.Namespace) -> Path:
    """``--plot`` (refused if it exists, unless ``--force``), else a new file beside the runs."""
    from layerkit.errors import ConfigError
    from layerkit.fileio import unique_path
    from layerkit.sweep.runs import common_folder

    if args.plot is None:
        return unique_path(common_folder(args.runs), "compare", ".png")
    path = Path(args.plot)
    if path.is_dir():
        raise ConfigError(f"--plot {path}: is a folder; name the PNG file to write")
    if path.exists() and not args.force:
        raise ConfigError(
            f"--plot {path}: exists; choose another name or pass --force to replace it"
        )
    return path


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if value != 0 and not 1e-4 <= abs(value) < 1e6 else f"{value:.4f}"
    return "" if value is None else str(value)
