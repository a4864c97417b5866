"""Adaptive search: ``layerkit tune``, Optuna's TPE sampler and pruners over the sweep machinery.

A tune file (or a spec's own ``tune:`` section) says what to search::

    tune:
      base: ../model_specs/spiral.yaml   # relative to this file
      metric: val_accuracy               # reported each epoch; the final value is the objective
      direction: maximize                # or minimize; 'auto': minimize losses
      set: {train.validation_split: 0.2} # fixed overrides applied to every trial
      params:                            # the same distributions as sweep --random
        train.optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}
        model.layers.fc1.units: {int: [16, 256]}
      trials: 40
      pruner: median                     # median, asha or none
      seed: 0                            # seeds TPE: one worker gives the same trials in order

The driver asks Optuna for a trial when a worker is free (ask/tell over the sweep executors:
local processes or Dask), each trial trains into a normal run folder under ``trials/<number>/``
and reports its metric every epoch to the same study, whose pruner may stop it. The study lives
in ``tune.db`` (SQLite) in the tune folder unless ``storage`` names another Optuna storage.
The tune folder holds, next to a sweep's files (``results.jsonl``, ``trials/``, ``summary.csv``):

    tune.json        the search: the resolved base spec, distributions, metric, pruner, storage
    tune.db          the Optuna study (default storage)
    best.yaml        the best finished trial's spec, ready for ``layerkit train``
    history.png, importance.png, intermediate.png   Optuna's plots (matplotlib)

Committing a trial is the sweep's commit (its run folder moved to ``trials/``, its record
fsynced to ``results.jsonl``) followed by Optuna's ``tell``; a driver killed between the two is
completed from the record on ``--resume``, and a trial whose driver died before its commit is
failed in the study and enqueued again with the same parameters.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from layerkit._validation import StrictModel
from layerkit.errors import ConfigError, LayerkitError, SpecError, SpecIssue
from layerkit.fileio import atomic_write_json, make_dirs
from layerkit.sweep.config import Distribution, _distribution, format_value, parse_random_option
from layerkit.sweep.executor import Executor
from layerkit.sweep.plan import check_metric, fixed_overrides, load_definition, resolve_trial
from layerkit.sweep.pruning import TuneTask, tune_body
from layerkit.sweep.runner import RESULTS, Driver, SweepPlan, SweepResult, Trial, exclusive
from layerkit.sweep.studies import (
    PRUNERS,
    PrunerConfig,
    default_storage,
    make_sampler,
    open_storage,
    optuna_distribution,
    require_optuna,
    use_wal,
)
from layerkit.sweep.trial import ATTEMPTS_DIR

__all__ = [
    "TuneConfig",
    "TunePlan",
    "plan_tune",
    "run_tune",
    "load_tune",
    "tune_result",
    "TUNE_KEY",
    "MANIFEST",
    "STUDY_FILE",
]

TUNE_KEY = "tune"
MANIFEST = "tune.json"
STUDY_FILE = "tune.db"
_FORMAT = 1


class TuneConfig(StrictModel):
    """The ``tune:`` section (see the module docstring)."""

    base: str | None = Field(None, description="the spec to tune, relative to the tune file")
    name: str | None = Field(None, description="the tune's name (default: the file's name)")
    metric: str = Field(
        "val_accuracy", description="metric reported each epoch; its final value is the objective"
    )
    direction: Literal["auto", "maximize", "minimize"] = "auto"
    set: dict[str, Any] = Field(
        default_factory=dict, description="overrides applied to every trial"
    )
    params: dict[str, Annotated[Distribution, BeforeValidator(_distribution)]] = Field(
        default_factory=dict
    )
    trials: int = Field(20, ge=1, le=100_000, description="trials to run (the budget)")
    pruner: Literal["median", "asha", "none"] = "median"
    warmup_epochs: int = Field(
        1, ge=0, description="epochs before a trial may be pruned (asha: first rung)"
    )
    startup_trials: int = Field(
        5, ge=0, description="finished trials before the median pruner prunes"
    )
    seed: int | None = Field(
        None, ge=0, description="seeds the sampler (and the runs, if the spec has no seed)"
    )
    storage: str | None = Field(
        None, description="an Optuna storage URL (default: sqlite tune.db in the tune folder)"
    )

    @property
    def mode(self) -> Literal["max", "min"]:
        if self.direction == "auto":
            return "min" if self.metric.endswith("loss") else "max"
        return "max" if self.direction == "maximize" else "min"


@dataclass(frozen=True)
class TunePlan:
    """A validated search, stored as ``tune.json`` so ``--resume`` continues it as planned."""

    name: str
    spec: str  # the base spec with the fixed overrides, resolved (YAML)
    params: dict[str, Distribution]
    metric: str
    mode: Literal["max", "min"]
    trials: int
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    seed: int | None = None
    storage: str | None = None  # None: tune.db in the tune folder
    base: str | None = None

    @property
    def study_name(self) -> str:
        return self.name

    def storage_url(self, tune_dir: Path) -> str:
        return self.storage or default_storage(tune_dir / STUDY_FILE)

    @property
    def scales(self) -> dict[str, str]:
        return {path: dist.scale for path, dist in self.params.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "name": self.name,
            "base": self.base,
            "spec": self.spec,
            "params": {path: dist.model_dump() for path, dist in self.params.items()},
            "metric": self.metric,
            "mode": self.mode,
            "trials": self.trials,
            "pruner": {
                "kind": self.pruner.kind,
                "warmup_epochs": self.pruner.warmup_epochs,
                "startup_trials": self.pruner.startup_trials,
            },
            "seed": self.seed,
            "storage": self.storage,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TunePlan:
        if data.get("format") != _FORMAT:
            raise LayerkitError(
                f"unsupported tune manifest format {data.get('format')!r} (expected {_FORMAT})"
            )
        return cls(
            name=str(data["name"]),
            spec=str(data["spec"]),
            params={str(p): _distribution(d) for p, d in data["params"].items()},
            metric=str(data["metric"]),
            mode=data["mode"],
            trials=int(data["trials"]),
            pruner=PrunerConfig(**data["pruner"]),
            seed=data.get("seed"),
            storage=data.get("storage"),
            base=data.get("base"),
        )


def load_tune(tune_dir: str | os.PathLike[str]) -> TunePlan:
    """The plan stored in a tune folder (for ``--resume``)."""
    import json

    path = Path(tune_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LayerkitError(f"{tune_dir}: not a tune folder (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LayerkitError(f"{path}: cannot read the tune manifest: {exc}") from None
    try:
        return TunePlan.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LayerkitError(f"{path}: malformed tune manifest ({exc!r})") from None


# -- planning -----------------------------------------------------------------------------------


def plan_tune(
    source: str | os.PathLike[str],
    *,
    params: Sequence[str] = (),
    trials: int | None = None,
    metric: str | None = None,
    direction: str | None = None,
    pruner: str | None = None,
    seed: int | None = None,
    storage: str | None = None,
    overrides: Sequence[str] = (),
    name: str | None = None,
) -> TunePlan:
    """Read a tune file (or a spec), add command-line options and check everything a trial
    needs before any runs: the parameter paths (with a did-you-mean), that every range can be
    sampled and gives a valid spec at its ends, and that the runs record ``metric``."""
    base_raw, base_file, config, default = load_definition(
        os.fspath(source),
        TuneConfig,
        key=TUNE_KEY,
        fields="base, params, trials, metric, pruner, ...",
    )
    options: dict[str, str] = {}  # path -> the --param text that set it (for error messages)
    merged: dict[str, Any] = dict(config.params)
    for option in params:
        path, dist = parse_random_option(option, flag="--param")
        merged[path] = dist
        options[path] = option
    update = {
        k: v
        for k, v in (
            ("trials", trials),
            ("metric", metric),
            ("direction", direction),
            ("pruner", pruner),
            ("seed", seed),
            ("storage", storage),
        )
        if v is not None
    }
    if update:
        try:
            config = TuneConfig.model_validate(
                {**config.model_dump(exclude={"params"}), "params": merged, **update}
            )
        except Exception as exc:  # noqa: BLE001 - pydantic's error, one line per field
            from pydantic import ValidationError

            from layerkit._validation import describe_errors, format_loc, render

            if not isinstance(exc, ValidationError):
                raise
            raise SpecError(
                [
                    SpecIssue(path=format_loc(loc), message=render((), m, r), file="command line")
                    for loc, m, r in describe_errors(exc)
                ]
            ) from None
    else:
        config = config.model_copy(update={"params": merged})
    if not config.params:
        raise SpecError(
            [
                SpecIssue(
                    path="",
                    file=os.fspath(source),
                    message="nothing to tune: give --param "
                    "PATH=loguniform(LOW,HIGH) (or a tune: section with params:)",
                )
            ]
        )
    check_metric(config.metric, where=f"{TUNE_KEY}.metric")
    for path, dist in config.params.items():
        try:
            optuna_distribution(path, dist)
        except ConfigError as exc:
            raise SpecError(
                [SpecIssue(path="", message=str(exc), file=_where(path, options))]
            ) from None
    fixed = fixed_overrides(base_raw, config.set, overrides, config.params, config.seed or 0)
    base = resolve_trial(base_raw, base_file, fixed, config.metric)
    _check_ranges(base_raw, base_file, fixed, config, options)
    return TunePlan(
        name=name or config.name or default,
        spec=base.to_yaml(),
        params=dict(config.params),
        metric=config.metric,
        mode=config.mode,
        trials=config.trials,
        pruner=PrunerConfig(config.pruner, config.warmup_epochs, config.startup_trials),
        seed=config.seed,
        storage=config.storage,
        base=base_file,
    )


def _where(path: str, options: dict[str, str]) -> str:
    return f"--param {options[path]}" if path in options else f"{TUNE_KEY}.params.{path}"


def _ends(dist: Distribution) -> list[Any]:
    """The values at the ends of a range (every value of a choice)."""
    from layerkit.sweep.config import Choice

    if isinstance(dist, Choice):
        return list(dist.choice)
    low, high = next(iter(dist.model_dump().values()))
    return [low, high]


def _check_ranges(
    base_raw: Any, base_file: str, fixed: list[str], config: TuneConfig, options: dict[str, str]
) -> None:
    """Validate and build the spec at each end of every range (the others at their low end), so
    a range that leaves the valid values (``units=int(0,8)``) or a wrong path is reported now,
    located at its ``--param``, not by a trial halfway through the budget."""
    lows = {path: _ends(dist)[0] for path, dist in config.params.items()}
    issues: dict[str, SpecIssue] = {}
    for path, dist in config.params.items():
        for value in _ends(dist):
            point = {**lows, path: value}
            swept = {p: f"{p}={format_value(v)}" for p, v in point.items()}
            try:
                resolve_trial(base_raw, base_file, [*fixed, *swept.values()], config.metric)
            except SpecError as exc:
                for issue in exc.issues:
                    bad = next(
                        (p for p, text in swept.items() if issue.file == f"--set {text}"), None
                    )
                    if bad is None:
                        located = issue
                    else:
                        located = SpecIssue(
                            path=issue.path,
                            message=f"{issue.message} (at {format_value(point[bad])})",
                            file=_where(bad, options),
                        )
                    issues.setdefault(str(located).rsplit(" (at ", 1)[0], located)
    if issues:
        raise SpecError(list(issues.values()))


# -- running ------------------------------------------------------------------------------------


def trial_key(number: int) -> str:
    """The id (and folder name) of the study's trial ``number``: ``0007``."""
    return f"{number:04d}"


def _tell(study: Any, number: int, record: dict[str, Any], metric: str) -> None:
    optuna = require_optuna()
    state = optuna.trial.TrialState
    if record["status"] == "pruned":
        study.tell(number, state=state.PRUNED, skip_if_finished=True)
        return
    value = (record.get("metrics") or {}).get(metric)
    if record["status"] == "ok" and isinstance(value, (int, float)) and not isinstance(value, bool):
        study.tell(number, float(value), skip_if_finished=True)
    else:
        study.tell(number, state=state.FAIL, skip_if_finished=True)


def _recover(study: Any, records: dict[str, dict[str, Any]], metric: str) -> int:
    """Finish what a killed driver left RUNNING: a committed trial is told from its record; an
    uncommitted one (its worker died with the driver) is failed and enqueued again with the same
    parameters. Returns how many were enqueued."""
    optuna = require_optuna()
    again = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        record = records.get(trial_key(trial.number))
        if record is not None:
            _tell(study, trial.number, record, metric)
            continue
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(
            dict(trial.params), user_attrs={"rerun_of": trial.number}, skip_if_exists=False
        )
        again += 1
    return again


def run_tune(
    plan: TunePlan,
    tune_dir: str | os.PathLike[str],
    executor: Executor,
    *,
    resume: bool = False,
    progress: Any = None,
    threads: int | None = None,
) -> SweepResult:
    """Run trials of ``plan`` until ``plan.trials`` are committed in ``tune_dir``; return them all.

    ``progress(record, done, total)`` is called after each commit (the sweep's progress lines).
    """
    if threads is not None and threads < 1:
        raise LayerkitError(f"--threads: must be >= 1 (received {threads})")
    optuna = require_optuna()
    out = Path(tune_dir)
    manifest = out / MANIFEST
    if resume:
        if not manifest.is_file():
            raise LayerkitError(f"{out}: not a tune folder (no {MANIFEST})")
    elif manifest.exists() or (out / RESULTS).exists():
        raise LayerkitError(f"{out}: already holds a tune; continue it with --resume {out}")
    make_dirs(out, "--resume" if resume else "--out")
    with exclusive(out):
        if not resume:
            atomic_write_json(manifest, plan.to_json())
        storage_url = plan.storage_url(out)
        if plan.storage is None:
            use_wal(out / STUDY_FILE)
        study = optuna.create_study(
            study_name=plan.study_name,
            storage=open_storage(storage_url),
            sampler=make_sampler(plan.seed),
            pruner=plan.pruner.create(),
            direction="maximize" if plan.mode == "max" else "minimize",
            load_if_exists=True,
        )
        if plan.seed is not None and study.trials:
            # A resumed study: the sampler seeded as at the start would propose the first
            # trials' points again; seeded by the trials so far it goes on, still repeatably.
            study.sampler = make_sampler(plan.seed + 7919 * len(study.trials))
        driver = Driver(out)
        driver.log.repair()
        shutil.rmtree(out / ATTEMPTS_DIR, ignore_errors=True)  # never committed: its driver is gone
        records = driver.log.records()
        _recover(study, records, plan.metric)
        distributions = {
            path: optuna_distribution(path, dist) for path, dist in plan.params.items()
        }
        limit = threads if threads is not None else executor.threads_per_task
        base_raw = _base_raw(plan)
        done = len(records)

        def tasks() -> Iterator[TuneTask]:
            issued = done
            while issued < plan.trials:
                issued += 1
                trial = study.ask(distributions)
                key = trial_key(trial.number)
                trial.set_user_attr("run_dir", f"trials/{key}")
                point = {path: trial.params[path] for path in plan.params}
                swept = [f"{path}={format_value(value)}" for path, value in point.items()]
                try:
                    spec = resolve_trial(base_raw, f"{MANIFEST} spec", swept, plan.metric)
                except SpecError as exc:  # a point inside the ranges that the spec refuses
                    record = {
                        "id": key,
                        "status": "failed",
                        "params": point,
                        "metrics": {},
                        "error": str(exc),
                        "attempts": 0,
                        "seconds": None,
                        "run_dir": None,
                    }
                    driver.log.append(record)
                    _tell(study, trial.number, record, plan.metric)
                    _report(record)
                    continue
                yield TuneTask(
                    id=key,
                    spec=spec.to_yaml(),
                    sweep_dir=str(out.resolve()),
                    threads=limit,
                    params=point,
                    trial_id=trial._trial_id,
                    number=trial.number,
                    storage=storage_url,
                    study=plan.study_name,
                    metric=plan.metric,
                    pruner=plan.pruner,
                )

        committed = done

        def _report(record: dict[str, Any]) -> None:
            nonlocal committed
            committed += 1
            if progress is not None:
                progress(record, committed, plan.trials)

        for outcome in executor.run(run_trial_tune, tasks()):
            record = driver.commit(outcome)
            task = outcome.task
            _tell(study, task.number, record, plan.metric)
            _report(record)
        return tune_result(plan, out)


def run_trial_tune(task: TuneTask) -> dict[str, Any]:
    """The executor's function for a tune trial: :func:`~layerkit.sweep.trial.run_trial` with
    :func:`~layerkit.sweep.pruning.tune_body` (module level, so it pickles by reference)."""
    from layerkit.sweep.trial import run_trial

    return run_trial(task, body=tune_body)


def _base_raw(plan: TunePlan) -> Any:
    from layerkit.spec.yamlio import parse_document

    return parse_document(plan.spec, filename=f"{MANIFEST} spec", what="a spec")


def tune_result(plan: TunePlan, tune_dir: Path) -> SweepResult:
    """The committed trials of a tune as a sweep result (ranking, summary, plots reuse it)."""
    from layerkit.sweep.store import ResultsLog

    records = tuple(ResultsLog(tune_dir / RESULTS).records().values())
    trials = tuple(
        Trial(id=r["id"], params=dict(r.get("params") or {}), overrides=(), spec="")
        for r in records
    )
    sweep = SweepPlan(
        name=plan.name,
        trials=trials,
        metric=plan.metric,
        mode=plan.mode,
        base=plan.base,
        scales=plan.scales,
    )
    return SweepResult(plan=sweep, sweep_dir=tune_dir, records=records)


__all__ += ["PRUNERS", "trial_key", "run_trial_tune"]
