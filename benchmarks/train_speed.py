"""Training speed: layerkit against a hand-fused NumPy loop, PyTorch, MLPClassifier and the GEMMs.

    python benchmarks/train_speed.py                 # the full suite (about 10-15 minutes)
    python benchmarks/train_speed.py --quick         # a smoke run in about a minute
    python benchmarks/train_speed.py --configs 50-b100 --threads 1 --impls layerkit,numpy

Every (config, threads, implementation, repetition) trains in a fresh child process, so peak
RSS is that implementation's own and no library's state leaks into another's timing. Within
one (config, threads) case the repetitions are interleaved and the order of the
implementations rotates from one repetition to the next, so a slow phase of this shared
machine hits all of them alike. Compare figures only within one run. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CONFIGS,
    N_TRAIN,
    OPENBLAS_PINS,
    NetConfig,
    add_process_arguments,
    blas_info,
    check_process_arguments,
    describe_blas,
    finish_child,
    machine_metadata,
    package_versions,
    parse_config,
    rotated,
    ru_maxrss_mib,
    run_in_child,
    steady_epochs,
    summarize,
    write_report,
)
from _impls import IMPLS, LABELS

HERE = Path(__file__).resolve().parent
CONFIG_ORDER = {c.key: i for i, c in enumerate(CONFIGS)}
RESULTS = HERE / "results"

#: speedup targets from the Performance issue: layerkit samples/s over each peer's
TARGET_SPEEDUP = {100: 1.5, 128: 1.5, 1000: 1.2}
#: layerkit s/epoch over the GEMM-bound limit
TARGET_GEMM = {100: 2.5, 1000: 2.0}
#: layerkit s/epoch over the hand-fused loop
TARGET_OVERHEAD = 1.15
TARGET_RSS_MIB = 200.0


# ----------------------------------------------------------------------------- child


def child_main(args: argparse.Namespace) -> int:
    """Run one implementation once and write its figures as JSON to ``args.result``."""
    from _impls import run_impl
    from threadpoolctl import threadpool_limits

    cfg = parse_config(args.config)
    # The env of the child already sizes every pool; this also covers pools that ignore it.
    threadpool_limits(limits=args.threads)
    started = time.perf_counter()
    result = run_impl(args.child, cfg, args.epochs, args.seed, args.threads)
    result.update(ru_maxrss_mib=ru_maxrss_mib(), openblas_env={var: os.environ.get(var) for var in OPENBLAS_PINS})
    return finish_child(result, started, args.result)


def run_child(impl: str, cfg: NetConfig, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    child_args = ["--child", impl, "--config", cfg.key, "--threads", str(threads),
                  "--epochs", str(args.epochs), "--seed", str(args.seed)]
    return run_in_child(__file__, child_args, threads=threads,
                        keep_openblas_pins=args.keep_openblas_env, timeout=args.timeout)


# ----------------------------------------------------------------------------- parent


def run_suite(args: argparse.Namespace, on_case: Callable[[dict[str, Any]], None]) -> None:
    """Run every case, threads in the outer loop (so a run cut short still has whole blocks)."""
    total = len(args.configs) * len(args.threads) * args.reps * len(args.impls)
    done = 0
    for threads in args.threads:
        for cfg in args.configs:
            load_before = os.getloadavg()[0]
            runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in args.impls}
            for rep in range(args.reps):
                for impl in rotated(args.impls, rep):
                    done += 1
                    result = run_child(impl, cfg, threads, args)
                    runs[impl].append(result)
                    if "error" in result:
                        note = f"FAILED: {result['error']}"
                    else:
                        med = float(np.median(steady_epochs(result["epoch_seconds"])))
                        note = f"{med:.3f} s/epoch"
                    print(
                        f"[{done}/{total}] {cfg.name} threads={threads} rep {rep + 1} {impl}: {note}",
                        file=sys.stderr,
                        flush=True,
                    )
            case = aggregate(cfg, threads, runs)
            case["load_average"] = [load_before, os.getloadavg()[0]]
            on_case(case)


def aggregate(cfg: NetConfig, threads: int, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    impls: dict[str, Any] = {}
    for impl, reps in runs.items():
        good = [r for r in reps if "error" not in r]
        entry: dict[str, Any] = {"runs": reps}
        if not good:
            entry["error"] = reps[0]["error"] if reps else "not run"
            impls[impl] = entry
            continue
        pooled = [t for r in good for t in steady_epochs(r["epoch_seconds"])]
        stats = summarize(pooled)
        cpu = [t for r in good for t in steady_epochs(r.get("epoch_cpu_seconds", []))]
        accs = [r["test_accuracy"] for r in good if r.get("test_accuracy") is not None]
        entry.update(
            s_per_epoch=stats,
            cpu_s_per_epoch=summarize(cpu) if cpu else None,
            rep_medians=[float(np.median(steady_epochs(r["epoch_seconds"]))) for r in good],
            samples_per_s=N_TRAIN / stats["median"],
            test_accuracy=float(np.median(accs)) if accs else None,
            peak_rss_mib=max(r["peak_rss_mib"] for r in good),
            blas=describe_blas(good[-1]["blas"]) + _torch_blas(good[-1]),
            failed_runs=len(reps) - len(good),
        )
        with_eval = [
            t for r in good for t in steady_epochs(r.get("extra", {}).get("epoch_seconds_with_eval", []))
        ]
        if with_eval:
            entry["s_per_epoch_with_eval"] = summarize(with_eval)
            entry["train_call_seconds"] = float(np.median([r["extra"]["train_call_seconds"] for r in good]))
        impls[impl] = entry
    return {"config": cfg.to_json(), "threads": threads, "impls": impls, "ratios": ratios(cfg, impls)}


def _torch_blas(run: dict[str, Any]) -> str:
    """PyTorch links its own BLAS statically, out of threadpoolctl's sight: report its config."""
    extra = run.get("extra", {})
    if "torch_blas" not in extra:
        return ""
    return f"; torch: {extra['torch_blas']} x{extra['torch_threads']}"


RATIOS = (
    # (key, numerator, denominator): speedups put the peer's time over layerkit's (how many
    # times layerkit's samples/s is the peer's), overheads layerkit's time over the floor's
    ("layerkit_speedup_vs_torch", "torch", "layerkit"),
    ("layerkit_speedup_vs_sklearn", "sklearn", "layerkit"),
    ("layerkit_over_numpy", "layerkit", "numpy"),
    ("layerkit_over_gemm", "layerkit", "gemm"),
    ("numpy_over_gemm", "numpy", "gemm"),
    ("torch_over_numpy", "torch", "numpy"),
    ("sklearn_over_numpy", "sklearn", "numpy"),
)


def ratios(cfg: NetConfig, impls: dict[str, Any]) -> dict[str, Any]:
    """Ratios of median s/epoch (wall, and CPU) between implementations of the same case."""

    def table(metric: str) -> dict[str, float | None]:
        def median(impl: str) -> float | None:
            stats = impls.get(impl, {}).get(metric)
            return stats["median"] if stats else None

        out: dict[str, float | None] = {}
        for key, num, den in RATIOS:
            a, b = median(num), median(den)
            out[key] = a / b if a is not None and b else None
        return out

    b = cfg.batch_size
    return {
        "wall": table("s_per_epoch"),
        "cpu": table("cpu_s_per_epoch"),
        "targets": {
            "speedup": TARGET_SPEEDUP.get(b),
            "over_numpy": TARGET_OVERHEAD,
            "over_gemm": TARGET_GEMM.get(b),
            "rss_mib": TARGET_RSS_MIB,
        },
    }


def metadata(args: argparse.Namespace) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        **machine_metadata(args.keep_openblas_env),
        "versions": package_versions(("torch", "torch"), ("sklearn", "scikit-learn"), ("layerkit", "layerkit")),
        "git_commit": commit,
        "epochs": args.epochs,
        "reps": args.reps,
        "seed": args.seed,
        "threads": args.threads,
        "impls": args.impls,
        "configs": [c.key for c in args.configs],
        "parent_blas": blas_info(),
    }


# ----------------------------------------------------------------------------- report


def _fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def _check(value: float | None, target: float | None, higher_is_better: bool) -> str:
    if value is None:
        return "-"
    text = f"{value:.2f}x"
    if target is None:
        return text
    ok = value >= target if higher_is_better else value <= target
    return f"{text} {'ok' if ok else 'MISS'} ({'>=' if higher_is_better else '<='}{target:g})"


def render_markdown(report: dict[str, Any]) -> str:
    runs = report["runs"]
    meta = runs[-1]
    v = meta["versions"]
    lines = [
        "# layerkit training speed",
        "",
        (
            f"{meta['cpu']}, {meta['cores']} cores; Python {v['python']}, NumPy {v['numpy']}, "
            f"PyTorch {v['torch']}, scikit-learn {v['sklearn']}, layerkit {v['layerkit']} "
            f"(commit {meta['git_commit']})."
        ),
        "",
        (
            f"Fashion-MNIST (60,000 train / 10,000 test), ReLU MLP, plain SGD lr 0.1, float32. "
            f"{meta['epochs']} epochs x {meta['reps']} interleaved repetitions, each in its own process; "
            f"s/epoch = median of epochs 2..{meta['epochs']} pooled over the repetitions (min-max in "
            f"brackets), CPU s/epoch likewise; test accuracy after epoch {meta['epochs']} (median over "
            f"repetitions); peak RSS = the largest VmHWM of the child processes. "
            f"OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE {meta['openblas_env_in_children']} in every child (in "
            f"the parent: {', '.join(f'{k}={v}' for k, v in meta['openblas_env_in_parent'].items())})."
        ),
        "",
    ]
    for i, run in enumerate(runs, 1):
        lines.append(
            f"- run {i}: {run['date']}, threads {','.join(map(str, run['threads']))}, configs "
            f"{', '.join(run['configs'])}, {run['epochs']} epochs x {run['reps']} reps, commit "
            f"{run['git_commit']}, load average at start {run['load_average_at_start'][0]:.2f}"
        )
    lines += [
        "",
        (
            "The load average (1 min, before -> after each case) tells how busy this shared machine "
            "was: above ~1 the other core was taken and two-thread timings are not meaningful."
        ),
        "",
        (
            "| config | threads | implementation | s/epoch (min-max) | CPU s/epoch | samples/s | test acc "
            "| peak RSS MiB | BLAS (threadpoolctl) |"
        ),
        "|---|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for case in report["cases"]:
        for impl, e in case["impls"].items():
            label = LABELS.get(impl, impl)
            if "error" in e:
                lines.append(
                    f"| {case['config']['name']} | {case['threads']} | {label} | "
                    f"failed: {e['error'][:80]} | | | | | |"
                )
                continue
            s = e["s_per_epoch"]
            rss = "-" if impl == "gemm" else f"{e['peak_rss_mib']:.0f}"
            lines.append(
                f"| {case['config']['name']} | {case['threads']} | {label} | "
                f"{s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f}) | "
                f"{_fmt((e.get('cpu_s_per_epoch') or {}).get('median'), '.3f')} | {e['samples_per_s']:,.0f} | "
                f"{_fmt(e['test_accuracy'], '.4f')} | {rss} | {e['blas']} |"
            )
    for metric, title in (
        (
            "wall",
            (
                "Ratios of median wall s/epoch within the same case (targets of the Performance issue "
                "in brackets):"
            ),
        ),
        (
            "cpu",
            (
                "The same ratios from CPU s/epoch (robust for 1 thread on a busy machine; with 2 "
                "threads CPU time also counts OpenBLAS's busy-waiting, so read the wall table there):"
            ),
        ),
    ):
        lines += [
            "",
            title,
            "",
            (
                "| config | threads | layerkit speedup vs PyTorch | vs MLPClassifier | layerkit / hand-fused | "
                "layerkit / GEMM limit | hand-fused / GEMM | PyTorch / hand-fused | MLPClassifier / hand-fused "
                "| layerkit RSS | run, load |"
            ),
            "|---|---:|---|---|---|---|---|---|---|---|---|",
        ]
        for case in report["cases"]:
            r, tg = case["ratios"][metric], case["ratios"]["targets"]
            rss = case["impls"].get("layerkit", {}).get("peak_rss_mib")
            rss_text = "-" if rss is None else f"{rss:.0f} MiB {'ok' if rss <= tg['rss_mib'] else 'MISS'}"
            lines.append(
                f"| {case['config']['name']} | {case['threads']} | "
                f"{_check(r['layerkit_speedup_vs_torch'], tg['speedup'], True)} | "
                f"{_check(r['layerkit_speedup_vs_sklearn'], tg['speedup'], True)} | "
                f"{_check(r['layerkit_over_numpy'], tg['over_numpy'], False)} | "
                f"{_check(r['layerkit_over_gemm'], tg['over_gemm'], False)} | "
                f"{_check(r['numpy_over_gemm'], None, False)} | "
                f"{_check(r['torch_over_numpy'], None, False)} | "
                f"{_check(r['sklearn_over_numpy'], None, False)} | {rss_text} | "
                f"{case['run'] + 1}, {case['load_average'][0]:.1f} -> {case['load_average'][1]:.1f} |"
            )
    end_to_end = []
    for case in report["cases"]:
        lk = case["impls"].get("layerkit", {})
        if "s_per_epoch_with_eval" in lk:
            end_to_end.append(
                f"- {case['config']['name']}, {case['threads']} thread(s): "
                f"{lk['s_per_epoch_with_eval']['median']:.3f} s/epoch with evaluation; "
                f"train() {lk['train_call_seconds']:.2f} s for {report['runs'][case['run']]['epochs']} epochs"
            )
    if end_to_end:
        lines += [
            "",
            (
                "layerkit end to end (the table counts the optimisation steps only, like the others): "
                "s/epoch with the per-epoch test pass, and the whole `train()` call (data loading, "
                "network build, run folder, checkpoints, metrics) per run:"
            ),
            "",
            *end_to_end,
        ]
    gemm = []
    for case in report["cases"]:
        runs = [r for r in case["impls"].get("gemm", {}).get("runs", []) if "extra" in r]
        if runs:
            x = runs[0]["extra"]
            rates = [r["extra"]["gflops_per_s"] for r in runs]
            gemm.append(
                f"- {case['config']['name']}, {case['threads']} thread(s): "
                f"{x['gflop_per_epoch']:.1f} GFLOP/epoch at {min(rates):.0f}-{max(rates):.0f} GFLOP/s"
            )
    if gemm:
        lines += [
            "",
            "GEMM-bound limit: sgemm throughput at the real shapes (best steady epoch per run):",
            "",
        ]
        lines += gemm
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5; s/epoch uses 2..E)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions per case (default 3)")
    p.add_argument(
        "--configs",
        default=",".join(c.key for c in CONFIGS),
        help="comma-separated HIDDEN[-HIDDEN]-bBATCH keys (default: %(default)s)",
    )
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of %(default)s")
    p.add_argument("--threads", default="1,2", help="BLAS thread counts to run (default 1,2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 epochs, 1 repetition, 784-50-10/B1000, 1 thread; writes to "
        "results/quick/ unless --out-dir is given",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="add to the report already in --out-dir, replacing only the cases measured now "
        "(e.g. the 2-thread cases re-run when the machine is quiet)",
    )
    add_process_arguments(p, IMPLS, timeout=1800.0)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.threads = int(args.threads)
        return args
    if args.quick:
        args.epochs, args.reps = 2, 1
        if args.configs == p.get_default("configs"):
            args.configs = "50-b1000"
    try:
        args.configs = [parse_config(k.strip()) for k in args.configs.split(",") if k.strip()]
    except ValueError as exc:
        p.error(str(exc))
    check_process_arguments(p, args, IMPLS, RESULTS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    json_path = args.out_dir / "train_speed.json"
    report: dict[str, Any] = {"runs": [], "cases": []}
    if args.merge and json_path.exists():
        report = json.loads(json_path.read_text())
    run_index = len(report["runs"])
    report["runs"].append(metadata(args))

    def save(case: dict[str, Any] | None) -> None:
        if case is not None:
            key = (case["config"]["key"], case["threads"])
            case["run"] = run_index
            report["cases"] = [c for c in report["cases"] if (c["config"]["key"], c["threads"]) != key]
            report["cases"].append(case)
            report["cases"].sort(key=lambda c: (c["threads"], CONFIG_ORDER.get(c["config"]["key"], 99)))
        report["runs"][run_index]["load_average_at_end"] = os.getloadavg()
        write_report(args.out_dir, "train_speed", report, render_markdown(report))

    run_suite(args, save)
    save(None)
    print(render_markdown(report))
    print(f"wrote {args.out_dir / 'train_speed.md'} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
