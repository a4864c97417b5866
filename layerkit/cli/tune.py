"""``layerkit tune TUNE_OR_SPEC``: adaptive search with Optuna (TPE, pruning) over a spec."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from layerkit.cli.sweep import add_executor_options, add_override_option


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Tune a spec with Optuna: TPE proposes each trial from the results so far, a pruner stops "
        "poor trials after a few epochs; every trial is a run folder, the study is in tune.db."
    )
    parser.add_argument(
        "source", nargs="?", metavar="TUNE_OR_SPEC", help="a tune file (tune: section) or a spec"
    )
    what = parser.add_argument_group("what to tune (added to the file's tune: section)")
    what.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="PATH=DIST(...)",
        help="search uniform(LOW,HIGH), loguniform(LOW,HIGH), int(LOW,HIGH) or choice(V1,V2,...)",
    )
    what.add_argument("--trials", type=int, metavar="N", help="trials to run (default 20)")
    what.add_argument(
        "--metric",
        help="metric reported each epoch, its final value the objective (default val_accuracy)",
    )
    what.add_argument(
        "--direction",
        choices=("maximize", "minimize"),
        help="default: minimize losses, maximize others",
    )
    what.add_argument(
        "--pruner",
        choices=("median", "asha", "none"),
        help="stops poor trials early (default median)",
    )
    what.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seeds the sampler: one worker then gives the same trials",
    )
    add_override_option(what)
    what.add_argument(
        "--name", help="name of the tune and its study (folder tunes/<name>/<timestamp>/)"
    )
    how = parser.add_argument_group("where trials run and the study is kept")
    add_executor_options(how)
    how.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: sqlite:///PATH, postgresql://USER:PW@HOST/DB, journal:PATH (default: tune.db in the folder)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out", metavar="DIR", help="the tune folder (default tunes/<name>/<timestamp>/)"
    )
    out.add_argument(
        "--resume", metavar="DIR", help="continue the tune in DIR (the same study) up to its trials"
    )
    out.add_argument(
        "--json", action="store_true", help="end with one JSON line: the folder, counts, best trial"
    )


#: ``(dest, flag)`` of the options that shape a tune's plan, in the order a refusal names them.
OPTIONS = (
    ("params", "--param"),
    ("trials", "--trials"),
    ("metric", "--metric"),
    ("direction", "--direction"),
    ("pruner", "--pruner"),
    ("seed", "--seed"),
    ("overrides", "--set"),
    ("name", "--name"),
    ("out", "--out"),
    ("storage", "--storage"),
)


def _plan(args: argparse.Namespace) -> Any:
    from layerkit.cli.sweep import plan_or_resume
    from layerkit.sweep.tune import load_tune, plan_tune

    return plan_or_resume(args, "tune", OPTIONS, load=load_tune, plan=plan_tune)


def run(args: argparse.Namespace) -> int:
    # Optuna, SQLAlchemy and the sweep machinery load only when a tune runs.
    from layerkit.cli.sweep import output_dir, summary_table
    from layerkit.errors import RunFailed
    from layerkit.sweep.executor import make_executor
    from layerkit.sweep.report import best_summary, print_progress
    from layerkit.sweep.studies import require_optuna
    from layerkit.sweep.tune import MANIFEST, run_tune, tune_result
    from layerkit.sweep.tune_report import write_tune_report

    require_optuna()
    plan = _plan(args)
    kind = "dask" if args.scheduler else args.executor
    with make_executor(kind, workers=args.workers, scheduler=args.scheduler) as executor:
        where = executor.describe()  # connects first: a wrong address leaves no folder behind
        tune_dir = output_dir(args, "tunes", plan.name)
        committed = len(tune_result(plan, tune_dir).records) if args.resume else 0
        resumed = f", {committed} already committed" if committed else ""
        print(
            f"tune {plan.name}: {plan.trials} trials, {plan.mode}imize {plan.metric}, "
            f"{plan.pruner.kind} pruner{resumed} -> {tune_dir}",
            flush=True,
        )
        if committed < plan.trials:
            print(f"running {plan.trials - committed} on {where}", flush=True)
        try:
            result = run_tune(
                plan,
                tune_dir,
                executor,
                resume=bool(args.resume),
                threads=args.threads,
                progress=lambda record, done, total: print_progress(
                    record, done, total, metric=plan.metric
                ),
            )
        except KeyboardInterrupt:
            if (tune_dir / MANIFEST).is_file():
                print(
                    f"stopped; finished trials are kept: continue with layerkit tune --resume {tune_dir}",
                    file=sys.stderr,
                    flush=True,
                )
            raise
    files = write_tune_report(plan, result)
    print()
    print(summary_table(result))
    best = result.best
    if best is not None:
        print(
            f"best: trial {best['id']} {plan.metric}={best['metrics'][plan.metric]:.4f} "
            + " ".join(f"{k}={v}" for k, v in best["params"].items())
            + f"  ({tune_dir / best['run_dir']})"
        )
        print(f"best spec: {files['best']}  (layerkit train {files['best']})")
    pruned = sum(1 for r in result.records if r["status"] == "pruned")
    plots = [
        str(p) for k, p in files.items() if k not in ("summary", "best", "sweep") and p is not None
    ]
    print(
        f"summary: {files['summary']}; {pruned} pruned"
        + (f"; plots: {', '.join(plots)}" if plots else "")
    )
    if args.json:
        summary = best_summary(result)
        summary.update(
            pruned=pruned,
            best_spec=str(files["best"]) if files["best"] else None,
            storage=plan.storage_url(tune_dir),
            study=plan.study_name,
        )
        print(json.dumps(summary))
    if best is None:
        sys.stdout.flush()
        raise RunFailed(f"no trial finished (see {tune_dir / 'summary.csv'})")
    return 0
