"""``layerkit sweep SWEEP_OR_SPEC``: run many trials of one spec, locally or on a Dask cluster."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Rows of the summary table printed at the end (all of them are in summary.csv).
TABLE_ROWS = 20


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a sweep: the base spec with values changed (a grid, random draws, or both), every "
        "trial validated before any runs, each finished trial committed to results.jsonl."
    )
    parser.add_argument("source", nargs="?", metavar="SWEEP_OR_SPEC", help="a sweep file (sweep: section) or a spec")
    what = parser.add_argument_group("what to sweep (added to the file's sweep: section)")
    what.add_argument(
        "--grid", action="append", default=[], metavar="PATH=V1,V2,...",
        help="try every value (repeat for a cartesian product), e.g. train.optimizer.lr=0.1,0.03",
    )
    what.add_argument(
        "--random", action="append", default=[], metavar="PATH=DIST(...)",
        help="draw from uniform(LOW,HIGH), loguniform(LOW,HIGH), randint(LOW,HIGH) or choice(V1,V2,...)",
    )
    what.add_argument("--samples", type=int, metavar="N", help="random draws per grid point (default 1)")
    what.add_argument("--seed", type=int, metavar="N", help="seed of the random search (default 0)")
    what.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
        help="fixed override applied to every trial, e.g. train.epochs=5",
    )
    what.add_argument("--metric", help="final metric that ranks trials (default test_accuracy)")
    what.add_argument("--mode", choices=("max", "min"), help="best is the highest or lowest (default: min for losses)")
    what.add_argument("--name", help="name of the sweep (its folder sweeps/<name>/<timestamp>/)")
    how = parser.add_argument_group("where trials run")
    how.add_argument("--executor", choices=("local", "dask"), default="local", help="local processes or a Dask cluster")
    how.add_argument(
        "--workers", type=int, metavar="N", help="trials at once (default: the cores; Dask: local cluster size)"
    )
    how.add_argument(
        "--scheduler", metavar="ADDR",
        help="Dask scheduler tcp://HOST:PORT or scheduler file (default: start a local cluster)",
    )
    how.add_argument("--threads", type=int, metavar="N", help="BLAS threads per trial (default: cores / workers)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="the sweep folder (default sweeps/<name>/<timestamp>/)")
    out.add_argument("--resume", metavar="DIR", help="continue the sweep in DIR: run only trials not yet committed")
    out.add_argument("--dry-run", action="store_true", help="validate and list the trials, run nothing")
    out.add_argument("--json", action="store_true", help="end with one JSON line: the sweep folder, counts, best trial")


def _plan(args: argparse.Namespace) -> Any:
    from layerkit.errors import LayerkitError
    from layerkit.sweep.plan import plan_sweep
    from layerkit.sweep.runner import load_plan

    if args.resume:
        given = [flag for flag, value in (
            ("SWEEP_OR_SPEC", args.source), ("--grid", args.grid), ("--random", args.random),
            ("--samples", args.samples), ("--seed", args.seed), ("--set", args.overrides),
            ("--metric", args.metric), ("--mode", args.mode), ("--name", args.name), ("--out", args.out),
        ) if value]
        if given:
            raise LayerkitError(
                f"--resume continues the sweep stored in {args.resume} as planned; drop {', '.join(given)}"
            )
        return load_plan(args.resume)
    if not args.source:
        raise LayerkitError("give a sweep file or a spec (SWEEP_OR_SPEC), or --resume DIR")
    return plan_sweep(
        args.source,
        grid=args.grid,
        random=args.random,
        samples=args.samples,
        seed=args.seed,
        metric=args.metric,
        mode=args.mode,
        overrides=args.overrides,
        name=args.name,
    )


def _sweep_dir(args: argparse.Namespace, name: str) -> Path:
    if args.resume:
        return Path(args.resume)
    if args.out:
        return Path(args.out)
    from layerkit.run import _new_run_dir

    return _new_run_dir(Path("sweeps"), name)


def _trial_rows(plan: Any) -> tuple[list[str], list[list[Any]]]:
    swept = plan.swept
    return ["#", "id", *swept], [[i, t.id, *(t.params.get(p, "") for p in swept)] for i, t in enumerate(plan.trials, 1)]


def _summary_table(result: Any) -> str:
    from layerkit._table import render_table, terminal_width
    from layerkit.sweep.report import summary_rows

    header, rows = summary_rows(result)
    hidden = ("run_dir", "epoch", "lr", "seconds", "samples_per_s", "trial_seconds")
    keep = [i for i, h in enumerate(header) if h not in hidden
            and any(row[i] not in ("", None) for row in rows)]

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

    plan = _plan(args)
    if args.dry_run:
        print(render_table(*_trial_rows(plan)))
        print(f"{len(plan.trials)} valid trials" + (f" ({plan.merged} duplicate draws merged)" if plan.merged else ""))
        return 0
    with make_executor(args.executor, workers=args.workers, scheduler=args.scheduler) as executor:
        where = executor.describe()  # connects first: a wrong address leaves no folder behind
        sweep_dir = _sweep_dir(args, plan.name)
        committed = len(collect(plan, sweep_dir).records) if args.resume else 0
        todo = len(plan.trials) - committed
        merged = f", {plan.merged} duplicate draws merged" if plan.merged else ""
        resumed = f", {committed} already committed" if committed else ""
        print(f"sweep {plan.name}: {len(plan.trials)} trials{resumed}{merged} -> {sweep_dir}", flush=True)
        if todo:
            print(f"running {todo} on {where}", flush=True)
        try:
            result = run_sweep(
                plan,
                sweep_dir,
                executor,
                resume=bool(args.resume),
                threads=args.threads,
                progress=lambda record, done, total: print_progress(record, done, total, metric=plan.metric),
            )
        except KeyboardInterrupt:
            if (sweep_dir / "sweep.json").is_file():
                print(f"stopped; finished trials are kept: continue with layerkit sweep --resume {sweep_dir}",
                      file=sys.stderr, flush=True)
            raise
    files = write_report(result)
    print()
    print(_summary_table(result))
    best = result.best
    if best is not None:
        print(f"best: {best['id']} {plan.metric}={best['metrics'][plan.metric]:.4f} "
              + " ".join(f"{k}={v}" for k, v in best["params"].items())
              + f"  ({sweep_dir / best['run_dir']})")
    print(f"summary: {files['summary']}" + (f", plot: {files['plot']}" if files["plot"] else ""))
    if args.json:
        print(json.dumps(best_summary(result)))
    if result.failed:
        sys.stdout.flush()
        raise RunFailed(
            f"{len(result.failed)} of {len(result.records)} trials failed (errors in {sweep_dir / 'summary.csv'})"
        )
    return 0
