"""Shared pieces of the benchmark scripts: data, network configs, BLAS facts, statistics.

Not part of layerkit and not collected by pytest. The scripts run as
``python benchmarks/<script>.py``, which puts this folder first on ``sys.path``, so the
modules here import each other by their plain names.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from layerkit.data.idx import read_idx
from layerkit.fileio import atomic_write_text

FASHION_DIR = Path(os.environ.get("LAYERKIT_BENCH_DATA", "/usr/share/datasets/fashion-mnist"))
NUM_CLASSES = 10
N_TRAIN = 60_000
INPUT_SIZE = 784

#: Environment variables that pin OpenBLAS to an older kernel on some processors (see
#: README.md, "OpenBLAS kernel"). The benchmark removes both from every child alike.
OPENBLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: Thread-count variables set in every child so that BLAS/OpenMP pools start at the right size;
#: threadpoolctl and torch.set_num_threads enforce the same count inside the child as well.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class NetConfig:
    """One benchmark case: an MLP ``784-hidden...-10`` trained with plain SGD."""

    hidden: tuple[int, ...]
    batch_size: int
    lr: float = 0.1

    @property
    def name(self) -> str:
        sizes = "-".join(str(n) for n in self.sizes)
        return f"{sizes}/B{self.batch_size}"

    @property
    def key(self) -> str:
        """A shell-friendly name for ``--configs``: ``50-b100``, ``256-128-b128``."""
        return "-".join(str(n) for n in self.hidden) + f"-b{self.batch_size}"

    @property
    def sizes(self) -> tuple[int, ...]:
        return (INPUT_SIZE, *self.hidden, NUM_CLASSES)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name, "key": self.key, "sizes": list(self.sizes)}


CONFIGS: tuple[NetConfig, ...] = (
    NetConfig((50,), 100),
    NetConfig((100,), 128),
    NetConfig((50,), 1000),
    NetConfig((256, 128), 128),
)
CONFIGS_BY_KEY = {c.key: c for c in CONFIGS}


def parse_config(key: str) -> NetConfig:
    """``50-b100`` -> NetConfig((50,), 100); any hidden sizes and batch size are accepted."""
    if key in CONFIGS_BY_KEY:
        return CONFIGS_BY_KEY[key]
    *hidden, batch = key.split("-")
    if not hidden or not batch.startswith("b"):
        raise ValueError(f"config {key!r}: expected HIDDEN[-HIDDEN...]-bBATCH, e.g. 50-b100")
    try:
        return NetConfig(tuple(int(h) for h in hidden), int(batch[1:]))
    except ValueError:
        raise ValueError(f"config {key!r}: sizes must be integers, e.g. 256-128-b128") from None


# ----------------------------------------------------------------------------- data


@dataclass
class FashionMNIST:
    """Fashion-MNIST as stored: uint8 pixels (N, 784), uint8 class indices (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_fashion_mnist(root: Path = FASHION_DIR) -> FashionMNIST:
    def part(stem: str) -> np.ndarray:
        for name in (f"{stem}.gz", stem):
            if (root / name).exists():
                return read_idx(root / name)  # layerkit's checked reader: uint8 kept
        raise FileNotFoundError(
            f"{root / stem}.gz not found: apt-get install dataset-fashion-mnist, "
            "or point LAYERKIT_BENCH_DATA at a folder with the four IDX files"
        )

    x_train = part("train-images-idx3-ubyte")
    x_test = part("t10k-images-idx3-ubyte")
    return FashionMNIST(
        x_train=np.ascontiguousarray(x_train.reshape(len(x_train), -1)),
        y_train=np.ascontiguousarray(part("train-labels-idx1-ubyte")),
        x_test=np.ascontiguousarray(x_test.reshape(len(x_test), -1)),
        y_test=np.ascontiguousarray(part("t10k-labels-idx1-ubyte")),
    )


# ----------------------------------------------------------------------------- environment


def blas_info() -> list[dict[str, Any]]:
    """The thread pools loaded in this process (BLAS and OpenMP), as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads", "threading_layer")
    return [{k: pool.get(k) for k in keep if pool.get(k) is not None} for pool in threadpool_info()]


def describe_blas(pools: Iterable[dict[str, Any]]) -> str:
    """One line per pool: ``openblas 0.3.31 SkylakeX x2``."""
    parts = []
    for pool in pools:
        name = pool.get("internal_api", pool.get("prefix", "?"))
        arch = pool.get("architecture")
        text = f"{name} {pool.get('version') or ''}".strip()
        if arch:
            text += f" {arch}"
        parts.append(f"{text} x{pool.get('num_threads')}")
    return ", ".join(parts) or "none"


def peak_rss_mib() -> float:
    """This process's own peak resident set size, in MiB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``: ``getrusage(RUSAGE_SELF).ru_maxrss``
    would also count the parent's resident size at the time it spawned this process (the
    kernel keeps the pre-exec address space's high-water mark), so a parent that has imported
    PyTorch would lift every child to ~300 MiB. Elsewhere, ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return ru_maxrss_mib()


def ru_maxrss_mib() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(*dists: tuple[str, str]) -> dict[str, str | None]:
    """Python, NumPy and each ``(module, distribution)``'s installed version, or None.

    From the installed metadata: importing PyTorch just for its version would grow the parent
    by ~300 MiB for the whole run.
    """
    versions: dict[str, str | None] = {"python": platform.python_version(), "numpy": np.__version__}
    for module, dist in dists:
        try:
            versions[module] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[module] = None
    return versions


def machine_metadata(keep_openblas_pins: bool) -> dict[str, Any]:
    """When and where a suite runs: date, CPU, cores, load, and the OpenBLAS pins."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "openblas_env_in_parent": {var: os.environ.get(var) for var in OPENBLAS_PINS},
        "openblas_env_in_children": "kept" if keep_openblas_pins else "unset",
    }


def child_env(threads: int, keep_openblas_pins: bool) -> dict[str, str]:
    """The environment of a benchmark child: the same for every implementation."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if not keep_openblas_pins:
        for var in OPENBLAS_PINS:
            env.pop(var, None)
    return env


# ----------------------------------------------------------------------------- statistics


def steady_epochs(epoch_seconds: Sequence[float]) -> list[float]:
    """Epochs 2..E (the first pays for warm-up: page faults, BLAS thread start, caches)."""
    return list(epoch_seconds[1:]) if len(epoch_seconds) > 1 else list(epoch_seconds)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def write_report(out_dir: Path, stem: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """``<stem>.md`` and ``<stem>.json`` (every raw figure) in ``out_dir``; their paths."""
    md_path, json_path = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    write_atomic(md_path, markdown)
    write_atomic(json_path, json.dumps(report, indent=1) + "\n")
    return md_path, json_path


# ----------------------------------------------------------------------------- drivers


def rotated(items: Sequence[str], by: int) -> list[str]:
    """``items`` started at ``by``: repetition ``by``'s order, so no implementation always goes first."""
    by %= len(items)
    return [*items[by:], *items[:by]]


def add_process_arguments(p: argparse.ArgumentParser, impls: Sequence[str], *, timeout: float) -> None:
    """The options of a driver that measures each implementation in child processes."""
    p.add_argument("--out-dir", type=Path, default=None, help="where the .md and .json go (default results/)")
    p.add_argument(
        "--keep-openblas-env",
        action="store_true",
        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the children (default: unset both)",
    )
    p.add_argument("--timeout", type=float, default=timeout, help="seconds allowed per child process")
    p.add_argument("--child", choices=impls, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)


def check_process_arguments(
    p: argparse.ArgumentParser, args: argparse.Namespace, impls: Sequence[str], results: Path
) -> None:
    """Settle ``--out-dir`` (``results``, or ``results/quick`` for ``--quick``, which runs one
    thread unless told otherwise); turn ``--impls`` and ``--threads`` into lists and check them
    (a usage error, not a traceback)."""
    if args.quick:
        if args.threads == p.get_default("threads"):
            args.threads = "1"
        args.out_dir = args.out_dir or results / "quick"
    args.out_dir = args.out_dir or results
    args.impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    unknown = sorted(set(args.impls) - set(impls))
    if unknown:
        p.error(f"unknown implementation(s) {', '.join(unknown)}; choose from {', '.join(impls)}")
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads: comma-separated integers, e.g. 1,2 (received {args.threads!r})")
    if args.epochs < 1 or args.reps < 1 or min(args.threads) < 1:
        p.error("--epochs, --reps and --threads must be >= 1")


def finish_child(result: dict[str, Any], started: float, path: str | Path) -> int:
    """Add the figures every child reports (wall time, peak RSS, BLAS pools); write the JSON."""
    result.update(wall_seconds=time.perf_counter() - started, peak_rss_mib=peak_rss_mib(), blas=blas_info())
    Path(path).write_text(json.dumps(result))
    return 0


def run_in_child(
    script: str | Path,
    child_args: Sequence[str],
    *,
    threads: int,
    keep_openblas_pins: bool,
    timeout: float | None,
) -> dict[str, Any]:
    """Run ``script --result FILE *child_args`` in a fresh process; its JSON result or an error.

    Each measurement gets its own process so that no library's thread pool, allocator state or
    peak RSS leaks from one implementation into another.
    """
    with tempfile.TemporaryDirectory(prefix="lk-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(script).resolve()), "--result", str(out), *child_args]
        proc = subprocess.run(
            cmd,
            env=child_env(threads, keep_openblas_pins),
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}
        return json.loads(out.read_text())
