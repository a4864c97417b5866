"""``train(spec)``: a spec in, a trained network and a readable run folder out.

A run folder (``runs/<name>/<timestamp>/`` or ``out``) holds:

* ``spec.yaml``: the resolved spec (overrides applied, the seed filled in);
* ``lock.json``: layerkit, NumPy and Python versions, the BLAS, the loaded plugins with their
  distributions, the seed, the overrides and the command line, plus one entry per resume;
* ``metrics.csv``: one row per epoch, written as each epoch ends;
* ``checkpoints/epoch-NNNN.{npz,json}``: the last few checkpoints (see
  :mod:`layerkit.training.checkpoint`);
* ``curves.png``: loss and accuracy per epoch (with the ``plot`` extra).

``train(..., resume=RUN_DIR)`` continues a run from its latest usable checkpoint and finishes
bit for bit where the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import re
import secrets
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from threadpoolctl import threadpool_info, threadpool_limits

from layerkit.data.base import DatasetInfo
from layerkit.errors import CheckpointError, ConfigError, LayerkitError, RunFailed, SpecError
from layerkit.fileio import (
    FolderBusy,
    FolderClaim,
    atomic_write_json,
    atomic_write_text,
    make_dirs,
    remove_stale_temps,
)
from layerkit.network import Network
from layerkit.plugins import get_registry
from layerkit.spec.builder import build_network, dataset_info
from layerkit.spec.loader import load_spec, validate_spec
from layerkit.spec.models import Spec
from layerkit.training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GuardedCallback,
    ModelCheckpoint,
    RunInfo,
    default_progress,
    report_callback_failure,
)
from layerkit.training.checkpoint import (
    Checkpoint,
    check_plugins,
    component_records,
    latest_checkpoint,
    list_checkpoints,
    qualified_spec,
)
from layerkit.training.plots import MISSING_PLOT, write_curves
from layerkit.training.trainer import Diverged, Trainer

__all__ = [
    "train",
    "RunResult",
    "RUNS_DIR",
    "lock_info",
    "new_run_dir",
    "restore_network",
    "checkpoint_spec",
]

#: Default parent of run folders (relative to the working directory).
RUNS_DIR = Path("runs")
#: How a run stands: ``{"status": "running" | "finished" | "failed" | "diverged" | "interrupted", ...}``.
STATUS_FILE = "status.json"
_RUN_FILES = ("spec.yaml", "lock.json", "metrics.csv", "checkpoints", STATUS_FILE)


@dataclass(frozen=True)
class RunResult:
    """What a run produced: its folder, its final metrics and the whole history."""

    run_dir: Path
    #: The last epoch's metrics (``test_accuracy``, ``train_loss``...).
    metrics: dict[str, Any]
    #: One metrics dict per epoch.
    history: list[dict[str, Any]]
    #: Manifest of the final checkpoint.
    checkpoint: Path | None = None
    #: Why the run ended before its last epoch (early stopping), else ``None``.
    stop_reason: str | None = None
    network: Network | None = field(default=None, repr=False, compare=False)


# -- specs ----------------------------------------------------------------------------------


def _load_spec(
    spec_or_path: str | os.PathLike[str] | Mapping[str, Any] | Spec,
    overrides: Sequence[str],
    set_files: Sequence[str | os.PathLike[str]],
) -> tuple[Spec, str | None]:
    """A validated Spec from a path, a mapping or a Spec; returns it and its file (if any)."""
    if isinstance(spec_or_path, (str, os.PathLike)):
        path = os.fspath(spec_or_path)
        return load_spec(path, overrides=tuple(overrides), set_files=tuple(set_files)), path
    if isinstance(spec_or_path, Spec):
        if not overrides and not set_files:
            return spec_or_path, None
        spec_or_path = spec_or_path.to_dict()
    if not isinstance(spec_or_path, Mapping):
        raise ConfigError(
            f"train: expected a spec file path, a mapping or a Spec (received {type(spec_or_path).__name__})"
        )
    return validate_spec(spec_or_path, overrides=tuple(overrides), set_files=tuple(set_files)), None


def _components(spec: Spec) -> list[tuple[str, str]]:
    """``(group, name)`` of every registered component the spec uses."""
    used = [("datasets", spec.data.dataset), ("optimizers", spec.train.optimizer["type"])]
    used += [("layers", entry.type) for entry in spec.model.layers]
    used += [("augmentations", entry.type) for entry in spec.data.augment]
    used += [("callbacks", entry["type"]) for entry in spec.train.callbacks]
    return used


def checkpoint_spec(
    checkpoint: Checkpoint, *, source: str | None = None, training: bool = False
) -> Spec:
    """The spec a checkpoint was trained from, validated against the installed plugins.

    A component whose plugin is missing is reported with the distribution to install; one
    another plugin now also provides is the one the manifest recorded (``plugin:Name``). Unless
    ``training`` (a resume), the spec's ``train.callbacks`` are left out: evaluating or
    predicting runs no callback, so it needs none of their plugins.
    """
    skip = () if training else ("callbacks",)
    check_plugins(checkpoint.manifest, source=source or "checkpoint", skip=skip)
    raw = checkpoint.manifest.get("spec")
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            f"{checkpoint.path}: the manifest holds no spec (received {type(raw).__name__})"
        )
    spec = qualified_spec(checkpoint.manifest, skip)
    if not training and isinstance(spec.get("train"), dict):
        spec["train"].pop("callbacks", None)
    with _from_checkpoint(checkpoint):
        return validate_spec(spec, filename=str(checkpoint.path))


# -- run folders ----------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


def new_run_dir(root: Path, name: str) -> Path:
    """A new folder ``root/<name>/<YYYYmmdd-HHMMSS>[-N]`` (runs, sweeps and tunes alike)."""
    parent = make_dirs(root / _safe_name(name), "run folder")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in itertools.count():
        candidate = parent / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def _out_path(out: str | os.PathLike[str]) -> Path:
    text = os.fspath(out)
    if not str(text).strip():
        # Path("") is the current directory: a run would be spread over the working folder.
        raise ConfigError(
            "--out: empty path; name the run folder to create (e.g. --out runs/first)"
        )
    return Path(text)


def _check_out_dir(out: Path) -> None:
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: exists and is not a directory")
        taken = [name for name in _RUN_FILES if (out / name).exists()]
    except OSError as exc:  # a name too long for the file system, a loop of links...
        raise ConfigError(f"--out {out}: cannot use this folder: {exc.strerror or exc}") from None
    if taken:
        raise ConfigError(
            f"--out {out}: already holds a run ({', '.join(taken)}); continue it with "
            f"--resume {out} or choose another directory"
        )


def _claim(run_dir: Path, option: str) -> FolderClaim:
    """Hold ``run_dir`` for this process until the run ends; exit 2 if another process has it.

    Stale temp files of writes killed mid-checkpoint are removed once the folder is ours: no
    live writer can own them then.
    """
    description = {
        "pid": os.getpid(),
        "host": platform.node(),
        "command": shlex.join(sys.argv),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        claim = FolderClaim(run_dir).acquire(description)
    except FolderBusy as exc:
        raise ConfigError(
            f"{option} {run_dir}: the run folder is in use by {exc.holder}; wait for it to end "
            "or choose another folder"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{option} {run_dir}: cannot use this folder: {exc.strerror or exc}"
        ) from None
    for folder in (run_dir, run_dir / "checkpoints"):
        remove_stale_temps(folder)
    return claim


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("layerkit", "numpy", "pydantic", "pyyaml", "pluggy", "tqdm", "threadpoolctl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _blas() -> list[dict[str, Any]]:
    keys = ("internal_api", "version", "num_threads", "threading_layer", "architecture")
    # the BLAS libraries only: they are what --threads limits (an OpenMP runtime another
    # package loaded keeps its own setting)
    return [
        {k: info.get(k) for k in keys} for info in threadpool_info() if info["user_api"] == "blas"
    ]


def lock_info(
    spec: Spec,
    *,
    seed: int | None,
    overrides: Sequence[str] = (),
    set_files: Sequence[str | os.PathLike[str]] = (),
    spec_file: str | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The contents of ``lock.json``: everything needed to reproduce the run."""
    registry = get_registry()
    versions = _versions()
    return {
        "layerkit": versions["layerkit"],
        "numpy": versions["numpy"],
        "python": versions["python"],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "dependencies": {
            k: v for k, v in versions.items() if k not in ("layerkit", "numpy", "python")
        },
        "blas": _blas(),
        "plugins": [p.to_dict() for p in registry.plugins],
        "plugin_failures": [f.to_dict() for f in registry.failures],
        "components": component_records(_components(spec)),
        "seed": seed,
        "spec_file": spec_file,
        "overrides": list(overrides),
        "set_files": [os.fspath(p) for p in set_files],
        "command": shlex.join(sys.argv if command is None else command),
        "cwd": os.getcwd(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumes": [],
    }


# -- training -------------------------------------------------------------------------------


def train(
    spec_or_path: str | os.PathLike[str] | Mapping[str, Any] | Spec | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    set_files: Sequence[str | os.PathLike[str]] = (),
    resume: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    callbacks: Iterable[Callback] = (),
    runs_dir: str | os.PathLike[str] = RUNS_DIR,
    stream: IO[str] | None = None,
    threads: int | None = None,
    plot: bool = True,
) -> RunResult:
    """Train a spec (a YAML path, a mapping or a Spec) and leave a run folder.

    Args:
        spec_or_path: the spec; omitted when ``resume`` is given.
        out: the run folder (default ``runs_dir/<name>/<timestamp>/``); must not hold a run.
        overrides: ``--set`` style overrides (``"train.optimizer.lr=0.05"``).
        set_files: YAML patches merged into the spec (``--set-file``).
        resume: a run folder to continue from its latest usable checkpoint.
        quiet: no progress output (``stream`` is where it goes otherwise: stderr).
        callbacks: extra :class:`~layerkit.training.callbacks.Callback` objects.
        threads: limit the BLAS threads while training (threadpoolctl); default: the BLAS's own.
        plot: draw ``curves.png`` at the end (with the ``plot`` extra). Importing matplotlib and
            rendering take about 0.5 s per process, which scripted runs and sweeps may skip.

    Raises :class:`~layerkit.errors.RunFailed` (exit code 1) when training diverges, and
    :class:`~layerkit.errors.ConfigError` / :class:`~layerkit.errors.CheckpointError` (exit 2)
    for bad input.
    """
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads: must be >= 1 (received {threads})")
        with threadpool_limits(limits=threads, user_api="blas"):
            return train(
                spec_or_path, out=out, overrides=overrides, set_files=set_files, resume=resume,
                quiet=quiet, callbacks=callbacks, runs_dir=runs_dir, stream=stream, plot=plot,
            )  # fmt: skip
    if resume is not None:
        if spec_or_path is not None or overrides or set_files or out is not None:
            raise ConfigError(
                "resume: a resumed run continues with its own spec and folder; "
                "do not pass a spec, --set, --set-file or --out with --resume"
            )
        return _resume(Path(resume), quiet=quiet, callbacks=callbacks, stream=stream, plot=plot)
    if spec_or_path is None:
        raise ConfigError("train: a spec (or resume=RUN_DIR) is required")

    spec, spec_file = _load_spec(spec_or_path, overrides, set_files)
    if spec.seed is None:  # fresh entropy, recorded in spec.yaml so the run can be repeated
        spec = spec.model_copy(update={"seed": secrets.randbits(32)})
    out_dir = _out_path(out) if out is not None else None
    if out_dir is not None:
        _check_out_dir(out_dir)
    trainer, registered = _prepare(spec)
    if out_dir is not None:
        _check_out_dir(out_dir)
        run_dir = make_dirs(out_dir, "--out")
    else:
        run_dir = new_run_dir(Path(runs_dir), spec.name)
    with _claim(run_dir, "--out"):
        if out_dir is not None:
            # Checked again under the claim: a run that started and ended meanwhile is found
            # here, one still running was found by the claim.
            _check_out_dir(out_dir)
        atomic_write_text(run_dir / "spec.yaml", spec.to_yaml())
        lock = lock_info(
            spec, seed=spec.seed, overrides=overrides, set_files=set_files, spec_file=spec_file
        )
        atomic_write_json(run_dir / "lock.json", lock)
        return _run(
            spec,
            trainer,
            run_dir,
            None,
            quiet=quiet,
            callbacks=callbacks,
            registered=registered,
            stream=stream,
            plot=plot,
        )


def _resume(
    run_dir: Path, *, quiet: bool, callbacks: Iterable[Callback], stream: IO[str] | None, plot: bool
) -> RunResult:
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: no such run folder")
    with _claim(run_dir, "--resume"):
        return _resume_claimed(run_dir, quiet=quiet, callbacks=callbacks, stream=stream, plot=plot)


def _resume_claimed(
    run_dir: Path, *, quiet: bool, callbacks: Iterable[Callback], stream: IO[str] | None, plot: bool
) -> RunResult:
    from layerkit.spec import load_spec

    checkpoint: Checkpoint | None = None
    if list_checkpoints(run_dir / "checkpoints"):
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
        spec = checkpoint_spec(checkpoint, source=f"run {run_dir}", training=True)
    elif (run_dir / "spec.yaml").exists():
        # killed before its first checkpoint: start again from the beginning, in place
        spec = load_spec(run_dir / "spec.yaml")
    else:
        raise ConfigError(f"--resume {run_dir}: not a run folder (no checkpoints and no spec.yaml)")
    trainer, registered = _prepare(spec)
    lock_path = run_dir / "lock.json"
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # lost or damaged: describe this process instead
        lock = lock_info(spec, seed=spec.seed)
    lock.setdefault("resumes", []).append(
        {
            "from_epoch": checkpoint.epoch if checkpoint else 0,
            "checkpoint": checkpoint.path.name if checkpoint else None,
            "command": shlex.join(sys.argv),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(),
        }
    )
    atomic_write_json(lock_path, lock)
    return _run(
        spec,
        trainer,
        run_dir,
        checkpoint,
        quiet=quiet,
        callbacks=callbacks,
        registered=registered,
        stream=stream,
        plot=plot,
    )


def _prepare(spec: Spec) -> tuple[Trainer, list[GuardedCallback]]:
    """Build the network, optimizer, data, trainer and ``train.callbacks`` of ``spec``.

    Everything that can fail on bad input (a shape, a missing data file, a validation split
    that leaves nothing, a callback's missing extra) fails here, before a run folder is created.
    """
    config = spec.train
    dataset = spec.data.create()
    info = dataset_info(spec, dataset)  # described once: the network and the manifest use it
    network = build_network(spec, info)
    optimizer = spec.create_optimizer()
    if spec.seed is None:  # train() draws one first; spec.yaml and checkpoints record it
        raise ConfigError("seed: a run needs a seed (train() draws one when the spec has none)")
    data = dataset.load()
    manifest = {
        "spec": spec.to_dict(),
        "plugins": component_records(_components(spec)),
        "input": {
            "shape": list(info.input_shape),
            "num_classes": info.num_classes,
            "class_names": list(info.class_names) if info.class_names else None,
            "name": info.input_name,
            "scale": data["train"].scale,
            "stored_dtype": data["train"].x.dtype.str,
        },
    }
    trainer = Trainer(
        network,
        optimizer,
        config,
        data,
        seed=spec.seed,
        manifest=manifest,
        augment=spec.data.create_augmentations(),
    )
    return trainer, _spec_callbacks(spec)


def _spec_callbacks(spec: Any) -> list[GuardedCallback]:
    """The spec's ``train.callbacks``, each behind a guard naming it and its distribution."""
    settings = get_registry().settings
    strict = bool(settings and settings.strict)
    guarded = []
    for entry in spec.train.callback_entries():
        origin = entry.entry
        label = f"callback {entry.type!r} (plugin {origin.plugin!r}, {origin.origin})"
        try:
            callback = entry.create()
        except LayerkitError:
            raise  # a user mistake (a missing extra): exit 2 before the run starts
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported like its other failures
            report_callback_failure(label, "__init__", exc, strict=strict, fatal=strict)
            continue
        guarded.append(GuardedCallback(callback, label=label, strict=strict))
    return guarded


def _run(
    spec: Spec,
    trainer: Trainer,
    run_dir: Path,
    checkpoint: Checkpoint | None,
    *,
    quiet: bool,
    callbacks: Iterable[Callback],
    registered: Sequence[GuardedCallback] = (),
    stream: IO[str] | None,
    plot: bool,
) -> RunResult:
    config = spec.train
    ckpt_dir = run_dir / "checkpoints"
    saver = ModelCheckpoint(ckpt_dir, every=config.checkpoint.every, keep=config.checkpoint.keep)
    # Order matters: early stopping decides before the checkpoint records its state.
    chain: list[Callback] = []
    if config.early_stopping is not None:
        chain.append(EarlyStopping(config.early_stopping))
    chain += list(callbacks)
    chain += [CSVLogger(run_dir / "metrics.csv"), saver]
    # Callbacks from the spec come after the checkpoint: whatever they do, the epoch is saved.
    info = RunInfo(run_dir, spec.name, spec.to_dict(), checkpoint.epoch if checkpoint else 0)
    for cb in registered:
        cb.setup(info)
    chain += registered
    chain += default_progress(quiet, stream)
    trainer.callbacks = chain
    if checkpoint is not None:
        with _from_checkpoint(checkpoint):
            trainer.restore(checkpoint)
    _write_status(run_dir, "running", epochs=config.epochs)
    try:
        trainer.fit()
    except RunFailed as exc:
        exc.args = (_with_checkpoint_note(str(exc), ckpt_dir, run_dir),)
        _write_status(
            run_dir,
            "diverged" if isinstance(exc, Diverged) else "failed",
            epochs=config.epochs,
            message=str(exc),
        )
        raise
    except KeyboardInterrupt:
        # Ctrl-C loses at most the epoch in progress: say where the run stands and how to go on.
        note = _resume_note(ckpt_dir, run_dir)
        _write_status(run_dir, "interrupted", epochs=config.epochs, message=note)
        raise KeyboardInterrupt(note) from None
    except OSError as exc:
        # A full disk (or a folder removed under the run) while writing metrics or a checkpoint:
        # the file that failed, and the checkpoint the run can go on from once there is room.
        where = f"{exc.filename}: " if exc.filename else ""
        message = f"{where}{exc.strerror or exc}; {_resume_note(ckpt_dir, run_dir)}"
        _write_status(run_dir, "failed", epochs=config.epochs, message=message)
        raise RunFailed(message) from None
    _write_status(run_dir, "finished", epochs=config.epochs, stop_reason=trainer.stop_reason)
    if plot:
        _plot(trainer.history, run_dir, spec.name, quiet=quiet, stream=stream)
    last = list_checkpoints(ckpt_dir)
    return RunResult(
        run_dir=run_dir,
        metrics=dict(trainer.history[-1]) if trainer.history else {},
        history=[dict(row) for row in trainer.history],
        checkpoint=last[-1] if last else None,
        stop_reason=trainer.stop_reason,
        network=trainer.network,
    )


def _write_status(run_dir: Path, status: str, **details: Any) -> None:
    """Record how the run stands in ``status.json`` (``runs compare`` marks unfinished runs).

    A run killed outright leaves ``running`` behind with no process holding the folder: that
    reads as incomplete. Failing to write it (a full disk) never hides the run's own error.
    """
    record = {"status": status, **{k: v for k, v in details.items() if v is not None}}
    record["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        atomic_write_json(run_dir / STATUS_FILE, record)
    except OSError:
        if status == "running":
            raise


def _last_checkpoint_name(ckpt_dir: Path, run_dir: Path) -> str | None:
    kept = list_checkpoints(ckpt_dir)
    return os.path.relpath(kept[-1].with_suffix(""), run_dir) if kept else None


def _with_checkpoint_note(message: str, ckpt_dir: Path, run_dir: Path) -> str:
    where = _last_checkpoint_name(ckpt_dir, run_dir)
    if where:
        return f"{message}\nnothing was saved after the last good checkpoint, {where}, which is kept in {run_dir}"
    return f"{message}\nno checkpoint had been written yet (run folder {run_dir})"


def _resume_note(ckpt_dir: Path, run_dir: Path) -> str:
    where = _last_checkpoint_name(ckpt_dir, run_dir)
    state = f"the last checkpoint is {where}" if where else "no checkpoint had been written yet"
    return f"{state}; continue with layerkit train --resume {shlex.quote(str(run_dir))}"


def _plot(
    history: Sequence[Mapping[str, Any]],
    run_dir: Path,
    title: str,
    *,
    quiet: bool,
    stream: IO[str] | None,
) -> None:
    if not history:
        return
    if not write_curves(history, run_dir / "curves.png", title=title) and not quiet:
        print(MISSING_PLOT, file=stream or sys.stderr)


# -- using a checkpoint ---------------------------------------------------------------------


def _recorded_info(checkpoint: Checkpoint) -> DatasetInfo | None:
    """The data description a checkpoint recorded (``None`` if it has none: then the dataset is
    described again)."""
    recorded = checkpoint.manifest.get("input")
    if not isinstance(recorded, Mapping):
        return None
    try:
        names = recorded.get("class_names")
        return DatasetInfo(
            input_shape=tuple(int(d) for d in recorded["shape"]),
            num_classes=int(recorded["num_classes"]),
            train_size=0,
            test_size=0,
            class_names=tuple(names) if names else None,
            input_name=str(recorded.get("name") or "input"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint.path}: damaged 'input' description ({exc})") from None


def restore_network(checkpoint: Checkpoint, spec: Spec | None = None) -> Network:
    """The network of a checkpoint, with its weights, ready for inference.

    Built from the checkpoint's spec by the same route as a training run (``spec`` when the
    caller has validated it already, see :func:`checkpoint_spec`), for the data shape the
    checkpoint recorded, so restoring needs no access to the data.
    """
    if spec is None:
        spec = checkpoint_spec(checkpoint)
    with _from_checkpoint(checkpoint):
        network = build_network(spec, _recorded_info(checkpoint))
        network.load_state_dict({**checkpoint.group("params"), **checkpoint.group("buffers")})
    return network


@contextlib.contextmanager
def _from_checkpoint(checkpoint: Checkpoint) -> Iterator[None]:
    """Errors about a checkpoint's contents name its file (its spec has no YAML marks)."""
    where = str(checkpoint.path)
    try:
        yield
    except SpecError as exc:
        raise SpecError([i if i.file else replace(i, file=where) for i in exc.issues]) from None
    except CheckpointError as exc:
        if where in str(exc):
            raise
        raise CheckpointError(f"{where}: {exc}") from None
