"""Wall time of the ``layerkit`` command line: start-up, listing, gradcheck and predict throughput.

    python benchmarks/cli_speed.py               # 10 runs per command (gradcheck and predict: 5)
    python benchmarks/cli_speed.py --runs 3 --importtime

Each command runs as a user runs it (the ``layerkit`` console script, or ``python -m layerkit``
when the script is not on PATH), from the project root, with no warm-up other than one
discarded run (so the OS file cache is warm, as it is for a user's second call). Figures are
medians with min-max. ``predict`` runs on a 1-sample and a 60,000-sample input, interleaved;
its marginal throughput is the slope between the two fastest runs, which removes the start-up
and checkpoint-loading cost (and most of the noise of a shared machine) from it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import load_fashion_mnist, write_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SPEC = "model_specs/two_layer_net.yaml"
PREDICT_N = 60_000  # the Fashion-MNIST training images, as one .npy

#: targets of the Performance issue, seconds
TARGETS = {"--version": 0.25, "layers": 0.6, "gradcheck": 2.0}


def layerkit_cmd() -> list[str]:
    script = shutil.which("layerkit")
    return [script] if script else [sys.executable, "-m", "layerkit"]


def run_once(cmd: Sequence[str], cwd: Path) -> float | str:
    """Wall seconds of one run of ``cmd``, or the last line of its error output."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return lines[-1] if lines else f"exit {proc.returncode}"
    return elapsed


def stats(cmd: Sequence[str], samples: Sequence[float]) -> dict[str, Any]:
    return {
        "cmd": list(cmd),
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "runs": len(samples),
    }


def time_commands(cmds: Sequence[Sequence[str]], runs: int, cwd: Path) -> list[dict[str, Any]]:
    """Wall times of several commands run in turn (interleaved), after one discarded round."""
    samples: list[list[float]] = [[] for _ in cmds]
    for i in range(runs + 1):
        for cmd, got in zip(cmds, samples, strict=True):
            elapsed = run_once(cmd, cwd)
            if isinstance(elapsed, str):
                return [{"cmd": list(c), "error": elapsed} for c in cmds]
            if i:
                got.append(elapsed)
    return [stats(cmd, got) for cmd, got in zip(cmds, samples, strict=True)]


def time_command(cmd: Sequence[str], runs: int, cwd: Path) -> dict[str, Any]:
    """Median wall time of ``cmd`` over ``runs`` runs after one discarded run."""
    return time_commands([cmd], runs, cwd)[0]


def import_profile(cmd: Sequence[str], cwd: Path, top: int = 12) -> list[tuple[str, float]]:
    """The modules with the largest cumulative import time under ``python -X importtime``."""
    argv = [sys.executable, "-X", "importtime", "-m", "layerkit", *cmd[len(layerkit_cmd()) :]]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def prepare_predict(tmp: Path, lk: list[str]) -> tuple[Path, Path, Path] | str:
    """Train two_layer_net for one epoch and write a 1-sample and a 60,000-sample input."""
    import numpy as np

    out = tmp / "run"
    proc = subprocess.run(
        [*lk, "train", SPEC, "--set", "train.epochs=1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return f"train for predict failed: {lines[-1] if lines else proc.returncode}"
    checkpoints = sorted((out / "checkpoints").glob("*.npz"))
    if not checkpoints:
        return f"no checkpoint in {out / 'checkpoints'}"
    data = load_fashion_mnist()
    small, large = tmp / "one.npy", tmp / "many.npy"
    np.save(small, data.x_test[:1].reshape(1, 28, 28))
    np.save(large, data.x_train.reshape(-1, 28, 28))
    return checkpoints[-1], small, large


def run(args: argparse.Namespace) -> dict[str, Any]:
    lk = layerkit_cmd()
    results: dict[str, Any] = {}
    cases = {
        "python -c pass (interpreter floor)": ([sys.executable, "-c", "pass"], args.runs),
        "python -c 'import layerkit'": ([sys.executable, "-c", "import layerkit"], args.runs),
        "--version": ([*lk, "--version"], args.runs),
        "layers": ([*lk, "layers"], args.runs),
        "gradcheck": ([*lk, "gradcheck", SPEC], args.slow_runs),
    }
    for name, (cmd, runs) in cases.items():
        results[name] = time_command(cmd, runs, ROOT)
        print(f"{name}: {results[name].get('median', results[name].get('error'))}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="lk-cli-bench-") as tmp_name:
        prepared = prepare_predict(Path(tmp_name), lk)
        if isinstance(prepared, str):
            results["predict"] = {"error": prepared}
        else:
            checkpoint, small, large = prepared
            one, many = time_commands(
                [
                    [*lk, "predict", str(checkpoint), str(small)],
                    [*lk, "predict", str(checkpoint), str(large)],
                ],
                args.slow_runs,
                ROOT,
            )
            entry: dict[str, Any] = {"one_sample": one, "many_samples": many, "n": PREDICT_N}
            if "error" not in one and "error" not in many:
                slope = many["min"] - one["min"]
                entry["samples_per_s"] = (PREDICT_N - 1) / slope if slope > 0 else None
                entry["end_to_end_samples_per_s"] = PREDICT_N / many["median"]
            else:
                entry["error"] = one.get("error") or many.get("error")
            results["predict"] = entry
        print(f"predict: {results['predict']}", file=sys.stderr)

    imports = {}
    if args.importtime:
        for name in ("--version", "layers"):
            imports[name] = import_profile(cases[name][0], ROOT)
    return {
        "meta": {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": lk,
            "runs": args.runs,
            "slow_runs": args.slow_runs,
        },
        "results": results,
        "import_profile": imports,
    }


def render_markdown(report: dict[str, Any]) -> str:
    meta, results = report["meta"], report["results"]
    lines = [
        "# layerkit command-line speed",
        "",
        (
            f"{meta['date']}; `{' '.join(meta['command'])}`; medians over {meta['runs']} runs "
            f"({meta['slow_runs']} for gradcheck and predict) after one discarded run."
        ),
        "",
        "| command | median s | min-max s | target |",
        "|---|---:|---|---|",
    ]
    for name, r in results.items():
        if name == "predict":
            continue
        label = name if name.startswith("python") else f"layerkit {name}"
        if name == "gradcheck":
            label += f" {SPEC}"
        target = TARGETS.get(name)
        if "error" in r:
            lines.append(f"| `{label}` | failed: {r['error'][:80]} | | |")
            continue
        verdict = (
            "" if target is None else f"<= {target:g} s {'ok' if r['median'] <= target else 'MISS'}"
        )
        lines.append(
            f"| `{label}` | {r['median']:.3f} | {r['min']:.3f}-{r['max']:.3f} | {verdict} |"
        )
    p = results.get("predict", {})
    lines.append("")
    if "error" in p or "many_samples" not in p:
        lines.append(f"`layerkit predict`: {p.get('error', 'not measured')}")
    else:
        marginal = p.get("samples_per_s")
        lines.append(
            f"`layerkit predict` (two_layer_net after 1 epoch, top-1 text output): 1 sample "
            f"{p['one_sample']['median']:.3f} s, {p['n']:,} samples {p['many_samples']['median']:.3f} s "
            f"end to end ({p['end_to_end_samples_per_s']:,.0f} samples/s); marginal throughput "
            + (
                f"{marginal:,.0f} samples/s."
                if marginal
                else "not resolved (noise larger than the work)."
            )
        )
    for name, rows in report["import_profile"].items():
        lines += [
            "",
            f"Largest cumulative imports of `layerkit {name}` (python -X importtime):",
            "",
        ]
        lines += [f"- {mod}: {secs * 1000:.0f} ms" for mod, secs in rows]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--runs", type=int, default=10, help="timed runs per fast command (default 10)")
    p.add_argument(
        "--slow-runs", type=int, default=5, help="timed runs of gradcheck and predict (default 5)"
    )
    p.add_argument("--importtime", action="store_true", help="also list the costliest imports")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.runs < 1 or args.slow_runs < 1:
        p.error("--runs and --slow-runs must be >= 1")
    report = run(args)
    markdown = render_markdown(report)
    print(markdown)
    write_report(args.out_dir, "cli_speed", report, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
