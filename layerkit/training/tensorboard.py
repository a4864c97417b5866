"""The built-in ``tensorboard`` callback: event files that TensorBoard reads.

``train.callbacks: [{type: tensorboard}]`` writes, under ``<run folder>/tensorboard/``, the
layout Keras' ``TensorBoard`` callback writes, so ``tensorboard --logdir runs`` shows layerkit
runs next to Keras ones:

* ``train/``, ``validation/``, ``test/``: ``epoch_loss`` and ``epoch_accuracy`` per epoch (step =
  epoch number), so the three curves share one chart; ``train/`` also holds
  ``epoch_learning_rate``, the histograms of every parameter (``weights/fc1.W``) and of its
  gradient on the epoch's last batch (``gradients/fc1.W``), and the resolved spec and the
  network summary as text;
* ``batch/``: ``batch_loss`` every ``update_freq`` steps when that is a number.

A resumed run purges the events after its checkpoint (TensorBoard's ``purge_step``), so the
curves show each epoch once. Writing uses tensorboardX, the ``tensorboard`` extra
(``pip install 'layerkit[tensorboard]'``); viewing needs TensorBoard itself.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from layerkit.errors import ConfigError
from layerkit.training.callbacks import CallbackParams, RegisteredCallback

if TYPE_CHECKING:
    from layerkit.training.trainer import Trainer

__all__ = ["TensorBoard", "MISSING_TENSORBOARD"]

MISSING_TENSORBOARD = (
    "the tensorboard callback needs tensorboardX, which is not installed "
    "(pip install 'layerkit[tensorboard]')"
)
#: split of a metrics row -> subfolder of the log folder (Keras' names)
_SPLITS = {"train": "train", "val": "validation", "test": "test"}


class TensorBoardParams(CallbackParams):
    log_dir: str | None = Field(
        None,
        description="folder of the event files; default tensorboard/ in the run folder; "
        "a relative path is taken from the run folder",
    )
    histogram_freq: int = Field(
        1,
        ge=0,
        description="epochs between two histogram snapshots of weights and gradients; 0: none",
    )
    update_freq: Literal["epoch"] | Annotated[int, Field(ge=1)] = Field(
        "epoch", description="'epoch': scalars per epoch only; N: also the batch loss every N steps"
    )
    write_spec: bool = Field(
        True, description="write the resolved spec and the network summary as text"
    )


class TensorBoard(RegisteredCallback):
    """TensorBoard event files: losses, accuracies, learning rate, histograms, the spec."""

    name = "tensorboard"
    Params = TensorBoardParams

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        if importlib.util.find_spec("tensorboardX") is None:
            raise ConfigError(MISSING_TENSORBOARD)
        self._writers: dict[str, Any] = {}
        self._initial_epoch = 0

    @property
    def log_dir(self) -> Path:
        if self.run is None:
            raise ConfigError("tensorboard: the callback was not set up with a run folder")
        chosen = Path(self.hp.log_dir) if self.hp.log_dir else Path("tensorboard")
        return chosen if chosen.is_absolute() else self.run.run_dir / chosen

    def _writer(self, name: str, purge_step: int | None) -> Any:
        from tensorboardX import SummaryWriter  # the optional extra, imported when a run starts

        writer = self._writers.get(name)
        if writer is None:
            # tensorboardX names files by the second and opens them with "wb": a run resumed
            # within the same second would overwrite the first file. The suffix keeps them apart
            # and sorts a resumed run's file after the one it continues (TensorBoard reads them
            # in name order, which its purge_step relies on).
            suffix = f".e{self._initial_epoch:06d}.{os.getpid()}"
            writer = SummaryWriter(
                str(self.log_dir / name), purge_step=purge_step or None, filename_suffix=suffix
            )
            self._writers[name] = writer
        return writer

    def on_train_begin(self, trainer: Trainer) -> None:
        resumed = trainer.epochs_done
        self._initial_epoch = resumed
        self._purge = resumed + 1 if resumed else None
        self._batch_purge = trainer.step + 1 if trainer.step else None
        train = self._writer("train", self._purge)
        if self.hp.write_spec and not resumed:
            assert self.run is not None
            spec_file = self.run.run_dir / "spec.yaml"
            if spec_file.is_file():
                train.add_text("spec", _code_block(spec_file.read_text(encoding="utf-8")), 0)
            train.add_text("network", _code_block(trainer.network.summary()), 0)
            train.flush()

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float) -> None:
        every = self.hp.update_freq
        if every != "epoch" and trainer.step % every == 0:
            self._writer("batch", self._batch_purge).add_scalar("batch_loss", loss, trainer.step)

    def wants_batches(self) -> bool:  # type: ignore[override]  # only when batch scalars are asked for
        return self.hp.update_freq != "epoch"

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        step = epoch + 1
        for split, folder in _SPLITS.items():
            loss, accuracy = metrics.get(f"{split}_loss"), metrics.get(f"{split}_accuracy")
            if loss is None and accuracy is None:
                continue
            writer = self._writer(folder, self._purge)
            if loss is not None:
                writer.add_scalar("epoch_loss", loss, step)
            if accuracy is not None:
                writer.add_scalar("epoch_accuracy", accuracy, step)
        train = self._writer("train", self._purge)
        train.add_scalar("epoch_learning_rate", metrics["lr"], step)
        freq = self.hp.histogram_freq
        if freq and step % freq == 0:
            network = trainer.network
            grads = network.grads
            for key, value in network.params.items():
                train.add_histogram(f"weights/{key}", value, step)
                if key in grads:
                    train.add_histogram(f"gradients/{key}", grads[key], step)
        for writer in self._writers.values():
            writer.flush()

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_end(self, trainer: Trainer) -> None:
        self._close()

    def on_failure(self, trainer: Trainer, error: BaseException) -> None:
        self._close()


def _code_block(text: str) -> str:
    """TensorBoard renders text as Markdown: indent it as a code block to keep its layout."""
    return "\n".join("    " + line for line in text.splitlines())
