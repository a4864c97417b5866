"""``layerkit sweep SWEEP_OR_SPEC``: run many trials of one spec, locally or on a Dask cluster."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

#: Rows of the summary table printed at the end (all of them are in summary.csv).
TABLE_ROWS = 20

PlanT = TypeVar("PlanT")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a sweep: the base spec with values changed (a grid, random draws, or both), every "
        "trial validated before any runs, each finished trial committed to results.jsonl."
    )
    parser.add_argument(
        "source", nargs="?", metavar="SWEEP_OR_SPEC", help="a sweep file (sweep: section) or a spec"
    )
    what = parser.add_argument_group("what to sweep (added to the file's sweep: section)")
    what.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=V1,V2,...",
        help="try every value (repeat for a cartesian product), e.g. train.optimizer.lr=0.1,0.03",
    )
    what.add_argument(
        "--random",
        action="append",
        default=[],
        metavar="PATH=DIST(...)",
        help="draw from uniform(LOW,HIGH), loguniform(LOW,HIGH), randint(LOW,HIGH) or choice(V1,V2,...)",
    )
    what.add_argument(
        "--samples", type=int, metavar="N", help="random draws per grid point (default 1)"
    )
    what.add_argument("--seed", type=int, metavar="N", help="seed of the random search (default 0)")
    add_override_option(what)
    what.add_argument("--metric", help="final metric that ranks trials (default test_accuracy)")
    what.add_argument(
        "--mode",
        choices=("max", "min"),
        help="best is the highest or lowest (default: min for losses)",
    )
    what.add_argument("--name", help="name of the sweep (its folder sweeps/<name>/<timestamp>/)")
    add_executor_options(parser.add_argument_group("where trials run"))
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out", metavar="DIR", help="the sweep folder (default sweeps/<name>/<timestamp>/)"
    )
    out.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the sweep in DIR: run only trials not yet committed",
    )
    out.add_argument(
        "--dry-run", action="store_true", help="validate and list the trials, run nothing"
    )
    out.add_argument(
        "--no-plot",
        dest="plot",
        action="store_false",
        help="draw neither sweep.png nor the trials' curves.png (saves matplotlib's ~0.5 s per "
        "trial)",
    )
    out.add_argument(
        "--report",
        action="store_true",
        help="also write report.html into the sweep folder (see `layerkit report`)",
    )


def add_override_option(group: Any) -> None:
    """``--set PATH=VALUE``, applied to every trial (sweep and tune)."""
    group.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="fixed override applied to every trial, e.g. train.epochs=5",
    )


def add_executor_options(group: Any) -> None:
    """``--executor``, ``--workers``, ``--scheduler`` and ``--threads`` (sweep and tune)."""
    group.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local processes or a Dask cluster",
    )
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="trials at once (default: the cores; Dask: local cluster size)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="Dask scheduler tcp://HOST:PORT or scheduler file (default: start a local cluster)",
    )
    group.add_argument(
        "--threads", type=int, metavar="N", help="BLAS threads per trial (default: cores / workers)"
    )


#: ``(dest, flag)`` of the options that shape a sweep's plan, in the order a refusal names them.
OPTIONS = (
    ("grid", "--grid"),
    ("random", "--random"),
    ("samples", "--samples"),
    ("seed", "--seed"),
    ("overrides", "--set"),
    ("metric", "--metric"),
    ("mode", "--mode"),
    ("name", "--name"),
    ("out", "--out"),
)


def _given(value: Any) -> bool:
    """Whether the user gave an option: anything but its default (``None`` or no values)."""
    return value is not None and value != []


def plan_or_resume(
    args: argparse.Namespace,
    kind: str,
    options: Sequence[tuple[str, str]],
    *,
    load: Callable[[str], PlanT],
    plan: Callable[..., PlanT],
) -> PlanT:
    """The plan ``layerkit sweep`` or ``layerkit tune`` (``kind``) runs.

    With ``--resume DIR`` it is the plan stored in DIR (``load``), continued as planned, so the
    file or spec and every option of ``options`` the user gave is refused, all named in one
    error. Otherwise ``plan(source, **{dest: value})`` makes it from the file or spec and the
    options, each passed as the keyword its ``dest`` names, except ``out`` (the folder, which
    :func:`output_dir` picks, not the plan).
    """
    from layerkit.errors import LayerkitError

    source = f"{kind.upper()}_OR_SPEC"
    if args.resume:
        named = [
            flag
            for flag, value in ((source, args.source), *((f, getattr(args, d)) for d, f in options))
            if _given(value)
        ]
        if named:
            raise LayerkitError(
                f"--resume continues the {kind} stored in {args.resume} as planned; drop {', '.join(named)}"
            )
        return load(args.resume)
    if not args.source:
        raise LayerkitError(f"give a {kind} file or a spec ({source}), or --resume DIR")
    return plan(args.source, **{d: getattr(args, d) for d, _ in options if d != "out"})


def output_dir(args: argparse.Namespace, root: str, name: str) -> Path:
    """The folder of a sweep or tune: ``--resume DIR``, ``--out DIR`` or ``ROOT/<name>/<timestamp>``."""
    if args.resume:
        return Path(args.resume)
    if args.out:
        return Path(args.out)
    from layerkit.run import new_run_dir

    return new_run_dir(Path(root), name)


def _plan(args: argparse.Namespace) -> Any:
    from layerkit.sweep.plan import plan_sweep
    from layerkit.sweep.runner import load_plan

    return plan_or_resume(args, "sweep", OPTIONS, load=load_plan, plan=plan_sweep)


def _trial_rows(plan: Any) -> tuple[list[str], list[list[Any]]]:
    swept = plan.swept
    return ["#", "id", *swept], [
        [i, t.id, *(t.params.get(p, "") for p in swept)] for i, t in enumerate(plan.trials, 1)
    ]


def summary_table(result: Any) -> str:
    """The ranked trials as a terminal table (the first TABLE_ROWS; all are in summary.csv)."""
    from layerkit._table import render_table, terminal_width
    from layerkit.sweep.report import summary_rows

    header, rows = summary_rows(result)
    hidden = ("run_dir", "epoch", "lr", "seconds", "samples_per_s", "trial_seconds")
    keep = [
        i
        for i, h in enumerate(header)
        if h not in hidden and any(row[i] not in ("", None) for row in rows)
    ]

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3g}"
        return "" if value is None else str(value)

    shown = [[cell(row[i]) for i in keep] for row in rows[:TABLE_ROWS]]
    text = render_table([header[i] for i in keep], shown, width=terminal_width())
    if len(rows) > TABLE_ROWS:
        text += f"\n... {len(rows) - TABLE_ROWS} more in summary.csv"
    return text


def run(args: argparse.Namespace) -> int:
    from layerkit._table import render_table
    from layerkit.errors import RunFailed
    from layerkit.sweep.executor import make_executor
    from layerkit.sweep.report import best_summary, print_progress, write_report
    from layerkit.sweep.runner import collect, run_sweep

    human = sys.stderr if args.json else sys.stdout  # --json: stdout is the result document only
    plan = _plan(args)
    if args.report:
        from layerkit.report.html import require_extra

        require_extra()  # before the trials, not after them
    if args.dry_run:
        print(render_table(*_trial_rows(plan)), file=human)
        print(
            f"{len(plan.trials)} valid trials"
            + (f" ({plan.merged} duplicate draws merged)" if plan.merged else ""),
            file=human,
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "name": plan.name,
                        "trials": [{"id": t.id, "params": t.params} for t in plan.trials],
                        "merged": plan.merged,
                    },
                    default=str,
                )
            )
        return 0
    with make_executor(args.executor, workers=args.workers, scheduler=args.scheduler) as executor:
        where = executor.describe()  # connects first: a wrong address leaves no folder behind
        sweep_dir = output_dir(args, "sweeps", plan.name)
        committed = len(collect(plan, sweep_dir).records) if args.resume else 0
        todo = len(plan.trials) - committed
        merged = f", {plan.merged} duplicate draws merged" if plan.merged else ""
        resumed = f", {committed} already committed" if committed else ""
        print(
            f"sweep {plan.name}: {len(plan.trials)} trials{resumed}{merged} -> {sweep_dir}",
            flush=True,
            file=human,
        )
        if todo:
            print(f"running {todo} on {where}", flush=True, file=human)
        try:
            result = run_sweep(
                plan,
                sweep_dir,
                executor,
                resume=bool(args.resume),
                threads=args.threads,
                plot=args.plot,
                progress=lambda record, done, total: print_progress(
                    record, done, total, metric=plan.metric, stream=human
                ),
            )
        except KeyboardInterrupt:
            if (sweep_dir / "sweep.json").is_file():
                print(
                    f"stopped; finished trials are kept: continue with layerkit sweep --resume {sweep_dir}",
                    file=sys.stderr,
                    flush=True,
                )
            raise
    files = write_report(result, plot=args.plot)
    page = None
    if args.report:
        from layerkit.report import write_runs_report

        page = write_runs_report([sweep_dir])
    print(file=human)
    print(summary_table(result), file=human)
    best = result.best
    if best is not None:
        print(
            f"best: {best['id']} {plan.metric}={best['metrics'][plan.metric]:.4f} "
            + " ".join(f"{k}={v}" for k, v in best["params"].items())
            + f"  ({sweep_dir / best['run_dir']})",
            file=human,
        )
    print(
        f"summary: {files['summary']}"
        + (f", plot: {files['plot']}" if files["plot"] else "")
        + (f", report: {page}" if page else ""),
        file=human,
    )
    if args.json:
        summary = best_summary(result)
        if page:
            summary["report"] = str(page)
        print(json.dumps(summary))
    if result.failed:
        sys.stdout.flush()
        raise RunFailed(
            f"{len(result.failed)} of {len(result.records)} trials failed (errors in {sweep_dir / 'summary.csv'})"
        )
    return 0
