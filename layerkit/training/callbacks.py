"""Callbacks: what happens around the training loop (progress, metrics file, checkpoints, early stop).

A callback overrides any of the ``on_*`` methods. The trainer calls ``on_batch_end`` only on
callbacks that override it, so a run without a progress bar pays nothing per step. Callbacks that
keep state across epochs (early stopping) expose ``state_dict`` / ``load_state_dict`` and a
``state_key``; their state goes into checkpoints so a resumed run decides exactly as the
uninterrupted one would.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from layerkit.fileio import atomic_write_text
from layerkit.training.checkpoint import save_checkpoint
from layerkit.training.config import EarlyStopping as EarlyStoppingConfig

if TYPE_CHECKING:
    from layerkit.training.trainer import Trainer

__all__ = [
    "Callback",
    "EarlyStopping",
    "CSVLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "EpochLines",
    "METRIC_COLUMNS",
    "format_metrics",
    "epoch_line",
]

#: Columns of ``metrics.csv``, in order (a metric that does not apply is left empty).
METRIC_COLUMNS: tuple[str, ...] = (
    "epoch",
    "lr",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "samples_per_s",
)


class Callback:
    """Base class; every hook is a no-op."""

    #: Key of this callback's state in checkpoints; ``None`` for stateless callbacks.
    state_key: ClassVar[str | None] = None

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch (of this process: also after a resume)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based) starts."""

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        """After the update of batch ``batch`` (0-based within the epoch)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        """After epoch ``epoch`` is trained and evaluated; ``metrics`` is its history row."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch, early stop included (not after a failure)."""

    def on_failure(self, trainer: Trainer, error: BaseException) -> None:
        """When training stops on an error (divergence, interrupt)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    @classmethod
    def wants_batches(cls) -> bool:
        return cls.on_batch_end is not Callback.on_batch_end


class EarlyStopping(Callback):
    """Stop when the monitored metric has not improved for ``patience`` epochs (Keras semantics)."""

    state_key = "early_stopping"

    def __init__(self, config: EarlyStoppingConfig) -> None:
        self.config = config
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        delta = self.config.min_delta
        if self.config.direction == "min":
            return value < self.best - delta
        return value > self.best + delta

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        value = metrics.get(self.config.metric)
        if value is None or not math.isfinite(value):
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch + 1, 0
            return
        self.wait += 1
        if self.wait >= self.config.patience:
            self.stopped_epoch = epoch + 1
            trainer.stop_training = True
            trainer.stop_reason = (
                f"early stopping: {self.config.metric} did not improve for {self.wait} epochs "
                f"(best {self.best:.4f} at epoch {self.best_epoch})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: the CSV holds the exact values
    return str(value)


def metrics_csv_text(history: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for row in history:
        writer.writerow([_cell(row.get(col)) for col in METRIC_COLUMNS])
    return buf.getvalue()


class CSVLogger(Callback):
    """``metrics.csv``: a header and one row per epoch, flushed and fsynced every epoch.

    On (re)start the file is rewritten atomically from the trainer's history, so a run resumed
    from a checkpoint never keeps rows of epochs it is about to train again.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def on_train_begin(self, trainer: Trainer) -> None:
        atomic_write_text(self.path, metrics_csv_text(trainer.history))
        self._fh = self.path.open("a", encoding="utf-8", newline="")

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        assert self._fh is not None
        csv.writer(self._fh, lineterminator="\n").writerow([_cell(metrics.get(c)) for c in METRIC_COLUMNS])
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def on_train_end(self, trainer: Trainer) -> None:
        self._close()

    def on_failure(self, trainer: Trainer, error: BaseException) -> None:
        self._close()


class ModelCheckpoint(Callback):
    """Save a checkpoint every ``every`` epochs and after the last one; keep the newest ``keep``."""

    def __init__(self, directory: str | os.PathLike[str], *, every: int = 1, keep: int = 3) -> None:
        self.directory = Path(directory)
        self.every = every
        self.keep = keep
        self.last: Path | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        done = epoch + 1
        if done % self.every == 0 or done == trainer.config.epochs or trainer.stop_training:
            self.save(trainer)

    def save(self, trainer: Trainer) -> Path:
        arrays, manifest = trainer.checkpoint_state()
        self.last = save_checkpoint(self.directory, trainer.epochs_done, arrays, manifest, keep=self.keep)
        return self.last


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """``loss 0.4123  acc 0.8512  val_acc ...  test_acc 0.8433`` for progress lines."""
    parts = []
    for key, label, fmt in (
        ("train_loss", "loss", ".4f"),
        ("train_accuracy", "acc", ".4f"),
        ("val_loss", "val_loss", ".4f"),
        ("val_accuracy", "val_acc", ".4f"),
        ("test_accuracy", "test_acc", ".4f"),
    ):
        value = metrics.get(key)
        if value is not None:
            parts.append(f"{label} {value:{fmt}}")
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds:.2f}s" if seconds >= 0.1 else f"{seconds * 1000:.1f}ms"


def epoch_line(trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> str:
    """``epoch  3/20  loss 0.4123  acc 0.8512  test_acc 0.8433  1.92s  31,250 samples/s``."""
    width = len(str(trainer.config.epochs))
    return (
        f"epoch {epoch + 1:>{width}}/{trainer.config.epochs}  {format_metrics(metrics)}  "
        f"{_duration(metrics['seconds'])}  {metrics['samples_per_s']:,.0f} samples/s"
    )


class EpochLines(Callback):
    """One line per epoch: what a log file or a CI job wants instead of a progress bar."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        print(epoch_line(trainer, epoch, metrics), file=self.stream or sys.stderr, flush=True)


def _terminal_size(stream: IO[str]) -> tuple[int, int]:
    """The terminal's columns and lines, or $COLUMNS/$LINES / 80x24 where it reports 0x0.

    A pseudo-terminal nobody sized (some CI runners, ``pty.openpty``) reports 0x0, and tqdm
    then draws nothing at all.
    """
    try:
        size = os.get_terminal_size(stream.fileno())
        columns, lines = size.columns, size.lines
    except (AttributeError, OSError, ValueError):
        columns = lines = 0
    fallback = shutil.get_terminal_size()
    return columns or fallback.columns, lines or fallback.lines


class ProgressBar(Callback):
    """A tqdm bar while an epoch runs, replaced at its end by the epoch's line of metrics.

    The finished epoch is the same line :class:`EpochLines` prints, not the bar with a postfix:
    tqdm cuts a bar at the terminal's width, which on 80 columns cut off the test accuracy.
    """

    def __init__(self, stream: IO[str] | None = None, *, mininterval: float = 0.2) -> None:
        self.stream = stream
        self.mininterval = mininterval
        self._bar: Any = None
        self._loss_sum = 0.0
        self._batches = 0
        self._next_postfix = 0.0

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        from tqdm.auto import tqdm

        width = len(str(trainer.config.epochs))
        stream = self.stream or sys.stderr
        columns, lines = _terminal_size(stream)
        self._bar = tqdm(
            total=trainer.steps_per_epoch,
            desc=f"epoch {epoch + 1:>{width}}/{trainer.config.epochs}",
            unit="batch",
            file=stream,
            mininterval=self.mininterval,
            leave=False,
            ncols=columns,
            nrows=lines,
        )
        self._loss_sum, self._batches = 0.0, 0
        self._next_postfix = time.monotonic() + self.mininterval

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        self._loss_sum += loss
        self._batches += 1
        now = time.monotonic()
        if now >= self._next_postfix:  # format the running loss only as often as tqdm redraws
            self._bar.set_postfix_str(f"loss {self._loss_sum / self._batches:.4f}", refresh=False)
            self._next_postfix = now + self.mininterval
        self._bar.update(1)

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(epoch_line(trainer, epoch, metrics), file=self.stream or sys.stderr, flush=True)

    def on_failure(self, trainer: Trainer, error: BaseException) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def default_progress(quiet: bool, stream: IO[str] | None = None) -> list[Callback]:
    """A progress bar on a terminal, one line per epoch otherwise, nothing when ``quiet``."""
    if quiet:
        return []
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return [ProgressBar(stream)]
    return [EpochLines(stream)]
