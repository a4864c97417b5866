"""Sweeps: many trials of one spec with some values changed, run in parallel, results kept.

::

    from layerkit.sweep import LocalExecutor, plan_sweep, run_sweep

    plan = plan_sweep("model_specs/spiral.yaml", grid=["train.optimizer.lr=0.1,0.03"],
                      random=["model.layers.fc1.units=choice(16,64)"], samples=2)
    with LocalExecutor(workers=2) as executor:        # or DaskExecutor("tcp://host:8786")
        result = run_sweep(plan, "sweeps/spiral-lr", executor)
    print(result.best["params"], result.best["metrics"]["test_accuracy"])

A plan is validated as a whole before anything runs; every finished trial is committed to the
sweep folder's ``results.jsonl``; ``run_sweep(load_plan(folder), folder, executor, resume=True)``
runs only what is missing. See :mod:`layerkit.sweep.runner` for the folder layout, and
:mod:`layerkit.sweep.tune` for ``layerkit tune`` (Optuna) over the same executors and folders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerkit._lazy import lazy_exports

__all__ = [
    "SweepConfig",
    "plan_sweep",
    "SweepPlan",
    "Trial",
    "SweepResult",
    "run_sweep",
    "load_plan",
    "Executor",
    "LocalExecutor",
    "DaskExecutor",
    "Outcome",
    "make_executor",
    "ResultsLog",
    "TrialTask",
    "run_trial",
    "write_report",
    "TunePlan",
    "plan_tune",
    "run_tune",
    "load_tune",
    "write_tune_report",
]

_EXPORTS = {
    "SweepConfig": "layerkit.sweep.config",
    "plan_sweep": "layerkit.sweep.plan",
    "SweepPlan": "layerkit.sweep.runner",
    "Trial": "layerkit.sweep.runner",
    "SweepResult": "layerkit.sweep.runner",
    "run_sweep": "layerkit.sweep.runner",
    "load_plan": "layerkit.sweep.runner",
    "Executor": "layerkit.sweep.executor",
    "LocalExecutor": "layerkit.sweep.executor",
    "DaskExecutor": "layerkit.sweep.executor",
    "Outcome": "layerkit.sweep.executor",
    "make_executor": "layerkit.sweep.executor",
    "ResultsLog": "layerkit.sweep.store",
    "TrialTask": "layerkit.sweep.trial",
    "run_trial": "layerkit.sweep.trial",
    "write_report": "layerkit.sweep.report",
    "TunePlan": "layerkit.sweep.tune",
    "plan_tune": "layerkit.sweep.tune",
    "run_tune": "layerkit.sweep.tune",
    "load_tune": "layerkit.sweep.tune",
    "write_tune_report": "layerkit.sweep.tune_report",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:  # pragma: no cover
    from layerkit.sweep.config import SweepConfig
    from layerkit.sweep.executor import (
        DaskExecutor,
        Executor,
        LocalExecutor,
        Outcome,
        make_executor,
    )
    from layerkit.sweep.plan import plan_sweep
    from layerkit.sweep.report import write_report
    from layerkit.sweep.runner import (
        SweepPlan,
        SweepResult,
        Trial,
        load_plan,
        run_sweep,
    )
    from layerkit.sweep.store import ResultsLog
    from layerkit.sweep.trial import TrialTask, run_trial
    from layerkit.sweep.tune import TunePlan, load_tune, plan_tune, run_tune
    from layerkit.sweep.tune_report import write_tune_report
