"""Tune (TPE + median pruning) against a random sweep with the same budget, on spiral.

For each seed, runs ``layerkit tune`` and ``layerkit sweep --random`` with the same search space,
trial budget and workers, interleaved, and reports per run: trials committed and wall seconds
until the first trial whose final val_accuracy reaches the target, the best value, and the
epochs trained in total (pruning saves epochs).

    python benchmarks/tune_vs_random.py --seeds 0 1 2 --trials 16 --workers 2 --target 0.95
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPIRAL = ROOT / "model_specs" / "spiral.yaml"
SPACE = ["train.optimizer.lr=loguniform(1e-5,1)", "model.layers.fc1.units=int(2,64)"]
FIXED = [
    "train.validation_split=0.2",
    "train.epochs=8",
    "train.checkpoint.every=1000",
    "data.points_per_class=200",
    "data.noise=0.3",
    "model.layers.fc2.units=8",
]


def _records(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (folder / "results.jsonl").read_text().splitlines()
        if line.strip()
    ]


def _epochs(folder: Path, record: dict) -> int:
    if not record.get("run_dir"):
        return 0
    return len((folder / record["run_dir"] / "metrics.csv").read_text().strip().splitlines()) - 1


def run(kind: str, seed: int, args: argparse.Namespace, scratch: Path) -> dict:
    out = scratch / f"{kind}-{seed}"
    sets = [a for f in FIXED for a in ("--set", f)]
    if kind == "tune":
        cmd = [
            "tune",
            str(SPIRAL),
            *[a for p in SPACE for a in ("--param", p)],
            "--trials",
            str(args.trials),
            "--pruner",
            "median",
            "--seed",
            str(seed),
        ]
    else:
        cmd = [
            "sweep",
            str(SPIRAL),
            *[a for p in SPACE for a in ("--random", p)],
            "--samples",
            str(args.trials),
            "--seed",
            str(seed),
            "--metric",
            "val_accuracy",
        ]
    start = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerkit",
            *cmd,
            *sets,
            "--workers",
            str(args.workers),
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.time() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{kind} seed {seed} failed:\n{done.stderr}")
    records = _records(out)
    reached = None
    for n, record in enumerate(records, 1):
        value = (record.get("metrics") or {}).get("val_accuracy")
        if record["status"] == "ok" and value is not None and value >= args.target:
            finished = datetime.fromisoformat(record["finished"]).timestamp()
            reached = {"trials": n, "seconds": round(finished - start, 1)}
            break
    values = [(r.get("metrics") or {}).get("val_accuracy") for r in records if r["status"] == "ok"]
    return {
        "kind": kind,
        "seed": seed,
        "wall_seconds": round(wall, 1),
        "reached": reached,
        "best": max(v for v in values if v is not None) if values else None,
        "pruned": sum(r["status"] == "pruned" for r in records),
        "epochs": sum(_epochs(out, r) for r in records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for kind in ("tune", "sweep") if seed % 2 == 0 else ("sweep", "tune"):  # interleaved
                row = run(kind, seed, args, Path(tmp))
                rows.append(row)
                print(json.dumps(row), flush=True)
    for kind in ("tune", "sweep"):
        mine = [r for r in rows if r["kind"] == kind]
        hit = [r for r in mine if r["reached"]]
        med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
        print(
            f"{kind}: reached {args.target} in {len(hit)}/{len(mine)} runs; median trials "
            f"{med([r['reached']['trials'] for r in hit])}, median seconds {med([r['reached']['seconds'] for r in hit])}; "
            f"median best {med([r['best'] for r in mine])}; median wall {med([r['wall_seconds'] for r in mine])} s; "
            f"median epochs {med([r['epochs'] for r in mine])}"
        )
    print("load:", os.getloadavg())
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "rows": rows, "load": os.getloadavg()}, indent=1)
        )


if __name__ == "__main__":
    main()
