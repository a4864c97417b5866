"""The sweep driver: plan -> executor -> ``results.jsonl``, one trial committed at a time.

A sweep folder holds::

    sweep.json       the plan: every trial's id, swept values, overrides and resolved spec
    results.jsonl    one committed record per finished trial (the only source of truth)
    trials/<id>/     each trial's run folder (spec.yaml, metrics.csv, checkpoints/, ...)
    .attempts/       attempts in progress (anything left here was never committed)
    summary.csv      the trials ranked by the sweep's metric, and sweep.png, written at the end

The driver alone writes ``results.jsonl`` and ``trials/``; workers write only their own attempt
folder. Committing a trial is: move its attempt folder to ``trials/<id>/``, then append its
record (fsync). A driver killed at any point leaves either a committed trial or one that
``--resume`` runs again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from layerkit.errors import LayerkitError
from layerkit.fileio import UnsafeJson, atomic_write_json, fsync_dir, make_dirs, read_json
from layerkit.sweep.executor import Executor, Outcome
from layerkit.sweep.store import ResultsLog
from layerkit.sweep.trial import ATTEMPTS_DIR, TrialBody, TrialTask, run_trial

__all__ = [
    "Trial",
    "SweepPlan",
    "SweepResult",
    "run_sweep",
    "load_plan",
    "collect",
    "exclusive",
    "Driver",
    "MANIFEST",
    "RESULTS",
]

MANIFEST = "sweep.json"
RESULTS = "results.jsonl"
TRIALS_DIR = "trials"
_FORMAT = 1


@dataclass(frozen=True)
class Trial:
    """One point of the sweep: the base spec with ``overrides`` applied, resolved to ``spec``."""

    id: str
    params: dict[str, Any]  # swept path -> value, as shown in tables and plots
    overrides: tuple[str, ...]  # every ``path=value`` applied to the base spec, fixed ones included
    spec: str  # the resolved spec, YAML


@dataclass(frozen=True)
class SweepPlan:
    """Every trial of a sweep, validated, and how to rank them."""

    name: str
    trials: tuple[Trial, ...]
    metric: str = "test_accuracy"
    mode: Literal["max", "min"] = "max"
    base: str | None = None
    # swept path -> "log", "linear" or "category": the x scale of its plot
    scales: dict[str, str] = field(default_factory=dict)
    #: draws that resolved to the spec of an earlier trial (run once); not stored
    merged: int = 0

    @property
    def swept(self) -> list[str]:
        seen: dict[str, None] = dict.fromkeys(self.scales)
        for trial in self.trials:
            seen.update(dict.fromkeys(trial.params))
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "name": self.name,
            "base": self.base,
            "metric": self.metric,
            "mode": self.mode,
            "scales": self.scales,
            "trials": [
                {"id": t.id, "params": t.params, "overrides": list(t.overrides), "spec": t.spec}
                for t in self.trials
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepPlan:
        if data.get("format") != _FORMAT:
            raise LayerkitError(
                f"unsupported sweep manifest format {data.get('format')!r} (expected {_FORMAT})"
            )
        trials = tuple(
            Trial(
                id=t["id"],
                params=dict(t["params"]),
                overrides=tuple(t["overrides"]),
                spec=t["spec"],
            )
            for t in data["trials"]
        )
        return cls(
            name=data["name"],
            trials=trials,
            metric=data["metric"],
            mode=data["mode"],
            base=data.get("base"),
            scales=dict(data.get("scales") or {}),
        )


def load_plan(sweep_dir: str | os.PathLike[str]) -> SweepPlan:
    """The plan stored in a sweep folder (for ``--resume``)."""
    path = Path(sweep_dir) / MANIFEST
    if not path.is_file():
        raise LayerkitError(f"{sweep_dir}: not a sweep folder (no {MANIFEST})")
    try:
        # size and nesting checked before parsing: a hostile plan is an error, not a RecursionError
        data = read_json(path)
    except UnsafeJson as exc:
        raise LayerkitError(f"{path}: cannot read the sweep manifest: {exc}") from None
    try:
        return SweepPlan.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise LayerkitError(f"{path}: malformed sweep manifest ({exc!r})") from None


@dataclass(frozen=True)
class SweepResult:
    """The committed record of every trial of a plan (plan order); ``missing`` were never run."""

    plan: SweepPlan
    sweep_dir: Path
    records: tuple[dict[str, Any], ...]
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "ok"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] != "ok"]

    def ranked(self) -> list[dict[str, Any]]:
        """Trials best first by the plan's metric; trials stopped early (pruned by a tune) after
        those that finished, trials without the metric (failed) last."""
        metric, sign = self.plan.metric, (-1.0 if self.plan.mode == "max" else 1.0)

        def key(record: dict[str, Any]) -> tuple[int, float]:
            value = (record.get("metrics") or {}).get(metric)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return (2, 0.0)
            return (0 if record["status"] == "ok" else 1, sign * float(value))

        return sorted(self.records, key=key)  # stable: ties keep plan order

    @property
    def best(self) -> dict[str, Any] | None:
        ranked = self.ranked()
        if (
            ranked
            and ranked[0]["status"] == "ok"
            and isinstance((ranked[0].get("metrics") or {}).get(self.plan.metric), (int, float))
        ):
            return ranked[0]
        return None


#: Called with (record, number committed so far, total) after every commit.
ProgressFn = Callable[[dict[str, Any], int, int], None]


class Driver:
    """Commits outcomes: the only writer of ``results.jsonl`` and ``trials/``."""

    def __init__(self, sweep_dir: Path) -> None:
        self.log = ResultsLog(sweep_dir / RESULTS)
        self.trials_dir = sweep_dir / TRIALS_DIR
        self.attempts_dir = sweep_dir / ATTEMPTS_DIR

    def attempts_of(self, trial_id: str) -> list[Path]:
        return sorted(self.attempts_dir.glob(f"{trial_id}-*"), key=lambda p: p.stat().st_mtime)

    def commit(self, outcome: Outcome[Any]) -> dict[str, Any]:  # a TrialTask or a subclass
        task = outcome.task
        value: dict[str, Any] = dict(outcome.value or {}) if outcome.ok else {}
        leftovers = self.attempts_of(task.id)
        attempt_dir = (
            Path(value["attempt_dir"])
            if value.get("attempt_dir")
            else (leftovers[-1] if leftovers else None)
        )
        attempts = outcome.attempts if outcome.attempts is not None else max(1, len(leftovers))
        status = value.get("status", "failed")
        error = value.get("error") if outcome.ok else outcome.error
        record: dict[str, Any] = {
            "id": task.id,
            "status": status if status in ("ok", "pruned") else "failed",
            "params": dict(task.params),
            "metrics": value.get("metrics") or {},
            "error": error,
            "attempts": attempts,
            "seconds": value.get("seconds"),
            "worker": value.get("worker"),
            "run_dir": None,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if value.get("pruned_at") is not None:  # the epoch after which a tune's pruner stopped it
            record["pruned_at"] = value["pruned_at"]
        if attempt_dir is not None and attempt_dir.is_dir():
            final = self.trials_dir / task.id
            if final.exists():  # moved there by a driver killed before it could commit
                shutil.rmtree(final)
            self.trials_dir.mkdir(exist_ok=True)
            os.replace(attempt_dir, final)
            if value.get("traceback"):
                (final / "error.txt").write_text(value["traceback"], encoding="utf-8")
            fsync_dir(self.trials_dir)
            record["run_dir"] = f"{TRIALS_DIR}/{task.id}"
        self.log.append(record)
        for stale in self.attempts_of(task.id):  # attempts whose worker died
            shutil.rmtree(stale, ignore_errors=True)
        return record


@contextlib.contextmanager
def exclusive(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep folder's lock: two live drivers on one folder would run trials twice.

    An OS file lock, so a killed driver releases it by dying.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, trust the user
        yield
        return
    with open(sweep_dir / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise LayerkitError(
                f"{sweep_dir}: this sweep is being run by another driver ({holder})"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield


def run_sweep(
    plan: SweepPlan,
    sweep_dir: str | os.PathLike[str],
    executor: Executor,
    *,
    body: TrialBody | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    threads: int | None = None,
    plot: bool = True,
) -> SweepResult:
    """Run every trial of ``plan`` not yet committed in ``sweep_dir`` and return all records.

    ``body`` replaces training as the work of a trial (it must be picklable: a module-level
    function or a :func:`functools.partial` of one). ``threads`` is the BLAS thread limit of each
    trial (default: the executor's share of the cores). ``plot=False``: trials draw no
    ``curves.png`` (matplotlib's import and render, about 0.5 s per trial).
    """
    if threads is not None and threads < 1:
        raise LayerkitError(f"--threads: must be >= 1 (received {threads})")
    out = Path(sweep_dir)
    manifest = out / MANIFEST
    if resume:
        if not manifest.is_file():
            raise LayerkitError(f"{out}: not a sweep folder (no {MANIFEST})")
    elif (out / RESULTS).exists():
        raise LayerkitError(f"{out}: already holds a sweep; continue it with --resume {out}")
    make_dirs(out, "--resume" if resume else "--out")
    with exclusive(out):
        if not resume:
            atomic_write_json(manifest, plan.to_json())
        driver = Driver(out)
        driver.log.repair()
        # Whatever sits in .attempts was never committed: its driver is gone (we hold the lock).
        shutil.rmtree(driver.attempts_dir, ignore_errors=True)
        committed = driver.log.ids()
        total = len(plan.trials)
        done = sum(1 for t in plan.trials if t.id in committed)
        limit = threads if threads is not None else executor.threads_per_task
        tasks = [
            TrialTask(
                id=t.id,
                spec=t.spec,
                sweep_dir=str(out.resolve()),
                threads=limit,
                params=t.params,
                plot=plot,
            )
            for t in plan.trials
            if t.id not in committed
        ]
        fn = run_trial if body is None else functools.partial(run_trial, body=body)
        for outcome in executor.run(fn, tasks):
            record = driver.commit(outcome)
            done += 1
            if progress is not None:
                progress(record, done, total)
        return collect(plan, out)


def collect(plan: SweepPlan, sweep_dir: Path) -> SweepResult:
    """The committed records of ``plan``'s trials in ``sweep_dir``."""
    records = ResultsLog(sweep_dir / RESULTS).records()
    found = tuple(records[t.id] for t in plan.trials if t.id in records)
    missing = tuple(t.id for t in plan.trials if t.id not in records)
    return SweepResult(plan=plan, sweep_dir=sweep_dir, records=found, missing=missing)
