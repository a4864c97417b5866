"""What runs inside a worker: one trial, in its own attempt folder, with a BLAS thread limit.

:func:`run_trial` is the function the executors ship to workers. It never raises for a problem
of the trial itself: the trial's exception becomes a ``failed`` record (trials that raise are not
retried, only trials whose worker dies are). Every attempt trains into a fresh folder under
``<sweep>/.attempts/`` so an attempt that was cut short (or a straggler left by a killed driver)
never mixes files with another; the driver moves the attempt it commits to ``trials/<id>/``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrialTask", "TrialBody", "run_trial", "train_body", "ATTEMPTS_DIR"]

#: Folder of a sweep where attempts run before the driver commits one.
ATTEMPTS_DIR = ".attempts"


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs for one trial, as plain picklable data.

    ``spec`` is the resolved spec as YAML text (overrides applied): workers rebuild it from text
    rather than unpickling pydantic models whose classes are made at run time from the registry.
    """

    id: str
    spec: str
    sweep_dir: str
    threads: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attempts_root(self) -> Path:
        return Path(self.sweep_dir) / ATTEMPTS_DIR


#: ``body(task, out_dir) -> final metrics``: the work of a trial (training, by default).
TrialBody = Callable[[TrialTask, Path], Mapping[str, Any]]


def train_body(task: TrialTask, out: Path) -> Mapping[str, Any]:
    """Train the trial's spec into ``out`` and return its final metrics."""
    from layerkit.run import train
    from layerkit.spec import loads_spec

    spec = loads_spec(task.spec, filename=f"trial {task.id}")
    result = train(spec, out=out, quiet=True)
    return dict(result.metrics)


def _clean_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe final metrics: NumPy scalars to Python, NaN/inf to None (strict JSON has neither)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(key)] = value
    return out


def new_attempt_dir(task: TrialTask) -> Path:
    root = task.attempts_root
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{task.id}-{os.getpid()}-{secrets.token_hex(3)}"
    path.mkdir()
    return path


def run_trial(task: TrialTask, body: TrialBody = train_body) -> dict[str, Any]:
    """Run one attempt of ``task`` and describe how it ended (``status`` ok or failed)."""
    import numpy  # noqa: F401 - load BLAS now: threadpool_limits only limits libraries already loaded
    from threadpoolctl import threadpool_limits

    attempt = new_attempt_dir(task)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    # Written first, so a test (or a person) can tell which process runs which attempt.
    (attempt / "attempt.json").write_text(json.dumps({"id": task.id, "worker": worker, "pid": os.getpid()}))
    record: dict[str, Any] = {"attempt_dir": str(attempt), "worker": worker}
    started = time.perf_counter()
    try:
        with threadpool_limits(limits=task.threads):
            metrics = body(task, attempt)
    except Exception as exc:  # noqa: BLE001 - a trial's failure is data, not a crash of the sweep
        from layerkit.errors import LayerkitError

        record.update(
            status="failed",
            error=str(exc) if isinstance(exc, LayerkitError) else f"{type(exc).__name__}: {exc}",
            traceback=None if isinstance(exc, LayerkitError) else traceback.format_exc(),
        )
    else:
        record.update(status="ok", metrics=_clean_metrics(metrics))
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record
