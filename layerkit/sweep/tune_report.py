"""Tune results for people: the sweep's ranked summary and plot, ``best.yaml`` ready to train,
and Optuna's own plots (optimization history, parameter importances, intermediate values)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from layerkit.fileio import atomic_write, atomic_write_json, atomic_write_text
from layerkit.sweep.report import describe_params, write_report
from layerkit.sweep.runner import MANIFEST, TRIALS_DIR, SweepResult
from layerkit.sweep.tune import TunePlan

__all__ = ["write_tune_report", "write_best_spec", "plot_study", "BEST_SPEC"]

BEST_SPEC = "best.yaml"


def write_best_spec(result: SweepResult) -> Path | None:
    """``best.yaml``: the resolved spec of the best finished trial, with a comment saying which
    trial it is; None when no trial finished."""
    best = result.best
    if best is None or not best.get("run_dir"):
        return None
    spec = (result.sweep_dir / best["run_dir"] / "spec.yaml").read_text(encoding="utf-8")
    metric = result.plan.metric
    header = (
        f"# best trial {best['id']} of tune {result.plan.name}: {metric}={best['metrics'][metric]:.4f}\n"
        f"# {describe_params(best['params'])}\n"
        f"# run folder: {best['run_dir']}; train it with: layerkit train {BEST_SPEC}\n"
    )
    target = result.sweep_dir / BEST_SPEC
    atomic_write_text(target, header + spec)
    return target


def plot_study(plan: TunePlan, tune_dir: Path) -> dict[str, Path | None]:
    """Optuna's matplotlib plots of the study: ``history.png``, ``importance.png`` (PED-ANOVA,
    which needs no scikit-learn) and ``intermediate.png`` (the metric per epoch of every trial,
    pruned ones included). A plot Optuna cannot draw yet (too few trials) is skipped (None);
    without matplotlib nothing is drawn."""
    out: dict[str, Path | None] = {"history": None, "importance": None, "intermediate": None}
    try:
        # The Agg canvas: the plots are files, never windows (Optuna's backend uses pyplot).
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.importance import PedAnovaImportanceEvaluator
        from optuna.visualization import matplotlib as ovm
    except ImportError:
        return out
    from layerkit.sweep.studies import open_storage, require_optuna

    optuna = require_optuna()
    study = optuna.load_study(
        study_name=plan.study_name, storage=open_storage(plan.storage_url(tune_dir))
    )
    drawers: dict[str, Any] = {
        "history": lambda: ovm.plot_optimization_history(study, target_name=plan.metric),
        "importance": lambda: ovm.plot_param_importances(
            study, evaluator=PedAnovaImportanceEvaluator(), target_name=plan.metric
        ),
        "intermediate": lambda: ovm.plot_intermediate_values(study),
    }
    # Optuna's plots call plt.style.use("ggplot"), which would change the defaults (colours,
    # backgrounds) of every later figure of the process: rc_context restores them afterwards.
    with matplotlib.rc_context():
        for name, draw in drawers.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
                try:
                    axes = draw()
                except (ValueError, RuntimeError, ZeroDivisionError):  # too few finished trials
                    continue
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(7, 4.5)
            figure.tight_layout()
            target = tune_dir / f"{name}.png"
            _save(figure, target)
            plt.close(figure)
            out[name] = target
    return out


def _save(figure: Any, target: Path) -> None:
    def write(fh: Any) -> None:
        figure.savefig(fh, format="png", dpi=100)

    atomic_write(target, write)


def write_sweep_view(result: SweepResult) -> Path:
    """``sweep.json``: the committed trials as a sweep plan (each with its resolved spec), so the
    readers of sweep folders (``layerkit runs compare``, reports) read a tune folder as they read
    a sweep."""
    trials = []
    for trial in result.plan.trials:
        spec_file = result.sweep_dir / TRIALS_DIR / trial.id / "spec.yaml"
        spec = spec_file.read_text(encoding="utf-8") if spec_file.is_file() else ""
        trials.append(replace(trial, spec=spec))
    target = result.sweep_dir / MANIFEST
    atomic_write_json(target, replace(result.plan, trials=tuple(trials)).to_json())
    return target


def write_tune_report(plan: TunePlan, result: SweepResult) -> dict[str, Path | None]:
    """``summary.csv``, ``sweep.png``, ``best.yaml``, Optuna's plots and the sweep view
    (``sweep.json``); returns their paths."""
    files: dict[str, Path | None] = dict(write_report(result))
    files["sweep"] = write_sweep_view(result)
    files["best"] = write_best_spec(result)
    files.update(plot_study(plan, result.sweep_dir))
    return files
