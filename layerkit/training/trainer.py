"""The training loop: epochs of shuffled mini-batches, evaluation, and a guard against divergence.

:class:`Trainer` knows nothing about specs or run folders (:func:`layerkit.training.train` wires
those up); it takes a built network, an optimizer, a :class:`TrainConfig` and the data splits::

    trainer = Trainer(net, SGD(lr=0.1), TrainConfig(epochs=10), data, seed=0)
    history = trainer.fit()          # one metrics dict per epoch

Per step it does exactly: (the batch iterator gathers the batch and applies the augmentations,
if any) forward in training mode, loss, a finiteness check of the loss and the
gradients, backward, the optimizer update, and the per-batch callbacks that asked for it. Train
accuracy is counted from that same forward pass (a running figure, like Keras's), never from an
extra pass. Everything random draws from generators derived from ``seed``, and their states are
part of :meth:`Trainer.checkpoint_state`, so a run restored from a checkpoint continues exactly as
the uninterrupted run did.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from layerkit.data.augment import Augmentation, Augmenter
from layerkit.data.base import Split
from layerkit.data.batches import BatchIterator
from layerkit.errors import CheckpointError, ConfigError, LayerkitWarning, RunFailed
from layerkit.network import Network
from layerkit.optimizers.base import Optimizer
from layerkit.training.callbacks import Callback
from layerkit.training.checkpoint import Checkpoint
from layerkit.training.config import TrainConfig
from layerkit.training.schedules import learning_rate

__all__ = ["Trainer", "Diverged", "Evaluation", "evaluate", "seeded_rng"]

# Independent generator streams derived from the spec's seed; the network spawns its layers'
# generators from SeedSequence(seed) itself, and these add a purpose word so they never collide.
_SHUFFLE, _VALIDATION, _AUGMENT = 1, 2, 3


def seeded_rng(seed: int, purpose: int) -> np.random.Generator:
    """A generator for one ``purpose`` of the trainer, determined by ``seed`` alone."""
    return np.random.default_rng([seed, 0x6C6B, purpose])


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy of a network on one split (inference mode)."""

    loss: float
    accuracy: float
    samples: int
    #: ``(classes, classes)`` counts, true class by row, predicted class by column (if asked).
    confusion: np.ndarray | None = None

    def per_class_accuracy(self) -> np.ndarray | None:
        if self.confusion is None:
            return None
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / totals


def evaluate(
    network: Network,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    num_classes: int | None = None,
) -> Evaluation:
    """Mean loss and accuracy over ``batches`` (e.g. a ``BatchIterator``), in inference mode.

    With ``num_classes`` the confusion matrix is counted as well.
    """
    loss_layer = network.loss_layer
    loss_sum, correct, seen = 0.0, 0, 0
    confusion = (
        None if num_classes is None else np.zeros((num_classes, num_classes), dtype=np.int64)
    )
    for x, t in batches:
        scores = network.forward(x, train=False)
        n = t.shape[0]
        loss_sum += loss_layer.forward(scores, t) * n
        predicted = scores.argmax(axis=1)
        correct += int(np.count_nonzero(predicted == t))
        seen += n
        if confusion is not None:
            np.add.at(confusion, (t, predicted), 1)
    if seen == 0:
        raise ConfigError("evaluate: no samples")
    return Evaluation(loss_sum / seen, correct / seen, seen, confusion)


def _labels_in_range(y: np.ndarray, output_shape: Sequence[int] | None) -> bool:
    """Whether every label of ``y`` is a class index into scores of ``output_shape`` ``(C,)``."""
    if output_shape is None or len(output_shape) != 1 or y.ndim != 1 or y.dtype.kind not in "iu":
        return False
    return not y.size or (int(y.min()) >= 0 and int(y.max()) < output_shape[0])


class Diverged(RunFailed):
    """Training produced a non-finite loss or gradient (exit code 1)."""

    def __init__(self, message: str, *, epoch: int, step: int, layer: str | None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.layer = layer


class Trainer:
    """Train ``network`` with ``optimizer`` on ``data`` (``{"train": Split, "test": Split}``).

    Attributes callbacks may read: ``network``, ``optimizer``, ``config``, ``history`` (one dict
    per finished epoch), ``step`` (updates done), ``epoch`` (0-based, current),
    ``steps_per_epoch``, ``stop_training`` (set it to end after the current epoch) and
    ``stop_reason``.
    """

    def __init__(
        self,
        network: Network,
        optimizer: Optimizer,
        config: TrainConfig,
        data: Mapping[str, Split],
        *,
        seed: int,
        callbacks: Iterable[Callback] = (),
        manifest: Mapping[str, Any] | None = None,
        augment: Sequence[Augmentation] = (),
    ) -> None:
        if "train" not in data:
            raise ConfigError("data: a 'train' split is required")
        self.network = network
        self.optimizer = optimizer
        self.config = config
        self.seed = int(seed)
        self.callbacks: list[Callback] = list(callbacks)
        #: Extra JSON fields for every checkpoint manifest (spec, plugins, input description).
        self.manifest_extra: dict[str, Any] = dict(manifest or {})
        self.base_lr = optimizer.lr
        self.history: list[dict[str, Any]] = []
        self.step = 0
        self.epoch = 0
        self.stop_training = False
        self.stop_reason: str | None = None

        train = data["train"]
        dtype = network.dtype
        train_idx, val_idx = self._split_indices(len(train))
        self._shuffle_rng = seeded_rng(self.seed, _SHUFFLE) if config.shuffle else None
        # Training batches only; the evaluation iterators below never get it.
        self._augmenter = Augmenter(augment, seeded_rng(self.seed, _AUGMENT)) if augment else None
        if self._augmenter is not None:
            self._augmenter.check(tuple(train.x.shape[1:]))
        self._train_batches = BatchIterator(
            train,
            config.batch_size,
            dtype=dtype,
            rng=self._shuffle_rng,
            indices=train_idx,
            augment=self._augmenter,
        )
        self.train_size = self._train_batches.num_samples
        if config.batch_size > self.train_size:
            warnings.warn(
                f"train.batch_size {config.batch_size:,} is larger than the {self.train_size:,} "
                f"training samples: each epoch is one batch of {self.train_size:,}",
                LayerkitWarning,
                stacklevel=2,
            )
        # Labels checked once here let the loss skip its per-batch checks (~1 % of a small step).
        self._labels_validated = _labels_in_range(train.y, network.output_shape)
        self.steps_per_epoch = len(self._train_batches)
        self._eval: dict[str, BatchIterator] = {}
        if val_idx is not None:
            self._eval["val"] = BatchIterator(
                train, config.eval_batch_size, dtype=dtype, indices=val_idx
            )
        if data.get("test") is not None and len(data["test"]):
            self._eval["test"] = BatchIterator(data["test"], config.eval_batch_size, dtype=dtype)

    def _split_indices(self, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        fraction = self.config.validation_split
        if not fraction:
            return None, None
        n_val = int(round(n * fraction))
        if n_val < 1 or n_val >= n:
            raise ConfigError(
                f"train.validation_split: {fraction} of {n} training samples leaves "
                f"{n_val} for validation and {n - n_val} for training; both need at least one"
            )
        # A seeded random hold-out (not Keras's "last fraction"), fixed for the whole run.
        perm = seeded_rng(self.seed, _VALIDATION).permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def finished(self) -> bool:
        return self.stop_training or self.epochs_done >= self.config.epochs

    # -- the loop -----------------------------------------------------------------------------

    def fit(self) -> list[dict[str, Any]]:
        """Train the remaining epochs; return the history (one metrics dict per epoch)."""
        callbacks = self.callbacks
        per_batch = [cb for cb in callbacks if cb.wants_batches()]
        for cb in callbacks:
            cb.on_train_begin(self)
        try:
            while not self.finished:
                self._run_epoch(self.epochs_done, per_batch)
        except BaseException as exc:
            for cb in callbacks:
                cb.on_failure(self, exc)
            raise
        for cb in callbacks:
            cb.on_train_end(self)
        return self.history

    def _run_epoch(self, epoch: int, per_batch: Sequence[Callback]) -> None:
        cfg, opt = self.config, self.optimizer
        self.epoch = epoch
        opt.lr = learning_rate(cfg.schedule, self.base_lr, epoch, cfg.epochs)
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)

        start = time.perf_counter()
        # Overflow is expected when a run diverges; the guard below reports it, once, by name.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss_sum, correct, seen = self._train_batches_of(epoch, per_batch)
        train_seconds = time.perf_counter() - start

        metrics: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": opt.lr,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "val_loss": None,
            "val_accuracy": None,
            "test_loss": None,
            "test_accuracy": None,
        }
        for name in self._eval:
            metrics[f"{name}_loss"], metrics[f"{name}_accuracy"] = self.evaluate(name)
        metrics["seconds"] = time.perf_counter() - start
        metrics["samples_per_s"] = seen / train_seconds if train_seconds > 0 else float("inf")
        self.history.append(metrics)
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, metrics)

    def _train_batches_of(
        self, epoch: int, per_batch: Sequence[Callback]
    ) -> tuple[float, int, int]:
        """One pass over the training batches; returns the loss sum, correct count and samples."""
        net, opt = self.network, self.optimizer
        params, grads = net.params, net.grads  # live dicts: backward and update work in place
        checked = self._labels_validated
        loss_sum = 0.0
        correct = 0
        seen = 0
        for batch, (x, t) in enumerate(self._train_batches):
            loss, scores = net.loss_and_scores(x, t, train=True, labels_validated=checked)
            n = t.shape[0]
            correct += int(np.count_nonzero(scores.argmax(axis=1) == t))
            if not math.isfinite(loss):
                raise self._diverged(epoch, batch, x, f"the loss is {loss}")
            net.backward()
            for key, g in grads.items():
                # A BLAS dot product is the cheapest full pass (NaN and inf propagate); only if it
                # is not finite, which overflow alone can cause, does the exact test run.
                if not math.isfinite(np.vdot(g, g)) and not np.isfinite(g).all():
                    raise self._diverged(epoch, batch, x, None, bad_grad=key)
            opt.update(params, grads)
            self.step += 1
            loss_sum += loss * n
            seen += n
            for cb in per_batch:
                cb.on_batch_end(self, batch, loss)
        return loss_sum, correct, seen

    def evaluate(self, name: str = "test") -> tuple[float, float]:
        """Mean loss and accuracy on ``"test"`` or ``"val"`` in inference mode."""
        batches = self._eval.get(name)
        if batches is None:
            raise ConfigError(
                f"no {name!r} data to evaluate (available: {', '.join(self._eval) or 'none'})"
            )
        result = evaluate(self.network, batches)
        return result.loss, result.accuracy

    # -- divergence ---------------------------------------------------------------------------

    def _diverged(
        self,
        epoch: int,
        batch: int,
        x: np.ndarray,
        what: str | None,
        *,
        bad_grad: str | None = None,
    ) -> Diverged:
        """Build the error for a non-finite loss or gradient, naming the step and the layer."""
        step = self.step + 1
        net = self.network
        layer: str | None
        if bad_grad is not None:
            layer = self._layer_of(bad_grad)
            bad = [k for k, g in net.grads.items() if not np.isfinite(g).all()]
            where = f"a non-finite gradient in layer {layer} ({', '.join(bad)})"
        else:
            layer, where = self._first_nonfinite(x)
            where = f"{what}; {where}"
        message = (
            f"training diverged at epoch {epoch + 1}, step {step} (batch {batch + 1} of "
            f"{self.steps_per_epoch}): {where}; try a lower learning rate (lr was {self.optimizer.lr:g})"
        )
        return Diverged(message, epoch=epoch + 1, step=step, layer=layer)

    def _layer_of(self, key: str) -> str:
        layer_id = key.rsplit(".", 1)[0]
        try:
            layer = self.network[layer_id]
        except KeyError:
            return layer_id
        return f"{layer.id} ({layer.name})"

    def _first_nonfinite(self, x: np.ndarray) -> tuple[str | None, str]:
        net = self.network
        for key, p in net.params.items():
            if not np.isfinite(p).all():
                return self._layer_of(
                    key
                ), f"parameter {key} is no longer finite (after the update of step {self.step})"
        with np.errstate(all="ignore"):
            outputs = net.forward_values(x, train=True)
        for layer in net.layers[:-1]:  # in execution order: the first non-finite one is the culprit
            if not np.isfinite(outputs[str(layer.id)]).all():
                return (
                    f"{layer.id} ({layer.name})",
                    f"the first non-finite output is layer {layer.id} ({layer.name})",
                )
        loss = net.loss_layer
        return (
            f"{loss.id} ({loss.name})",
            f"every layer's output is finite: the loss layer {loss.id} ({loss.name}) overflowed",
        )

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and the JSON manifest that restore this trainer exactly."""
        net, opt = self.network, self.optimizer
        arrays: dict[str, np.ndarray] = {f"params:{k}": v for k, v in net.params.items()}
        arrays.update({f"buffers:{k}": v for k, v in net.buffers.items()})
        opt_state = opt.state_dict()
        for slot, slot_arrays in opt_state["slots"].items():
            arrays.update({f"optimizer:{slot}:{k}": v for k, v in slot_arrays.items()})
        manifest = {
            **self.manifest_extra,
            "step": self.step,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "network": net.config(),
            "optimizer": {
                "config": opt.config(),
                "iterations": opt_state["iterations"],
                "lr": opt_state["lr"],
            },
            "rng": {
                "shuffle": None
                if self._shuffle_rng is None
                else self._shuffle_rng.bit_generator.state,
                "layers": net.rng_state(),
                "augment": None
                if self._augmenter is None
                else self._augmenter.rng.bit_generator.state,
            },
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.callbacks if cb.state_key},
            "stop_reason": self.stop_reason if self.stop_training else None,
            "history": self.history,
        }
        return arrays, manifest

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from a :class:`~layerkit.training.checkpoint.Checkpoint` of this run."""
        manifest = checkpoint.manifest
        net = self.network
        try:
            net.load_state_dict({**checkpoint.group("params"), **checkpoint.group("buffers")})
            slots: dict[str, dict[str, np.ndarray]] = {}
            params = net.params
            for name, arr in checkpoint.group("optimizer").items():
                slot, key = name.split(":", 1)
                target = params.get(key)
                # an optimizer slot mirrors its parameter: same shape, same kind of numbers
                if (
                    target is None
                    or arr.shape != target.shape
                    or arr.dtype.kind != target.dtype.kind
                ):
                    raise CheckpointError(
                        f"optimizer:{name}: {arr.dtype}{list(arr.shape)} does not match the "
                        + (
                            f"parameter {key} ({target.dtype}{list(target.shape)})"
                            if target is not None
                            else f"network (no parameter {key})"
                        )
                    )
                slots.setdefault(slot, {})[key] = arr
            opt_manifest = manifest["optimizer"]
            self.optimizer.load_state_dict(
                {"iterations": opt_manifest["iterations"], "lr": opt_manifest["lr"], "slots": slots}
            )
            rng = manifest["rng"]
            if self._shuffle_rng is not None:
                self._shuffle_rng.bit_generator.state = rng["shuffle"]
            if self._augmenter is not None:
                self._augmenter.rng.bit_generator.state = rng["augment"]
            net.set_rng_state(rng.get("layers", {}))
            states = manifest.get("callbacks", {})
            for cb in self.callbacks:
                if cb.state_key and cb.state_key in states:
                    cb.load_state_dict(states[cb.state_key])
            self.history = [dict(row) for row in manifest["history"]]
            self.step = int(manifest["step"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{checkpoint.path}: cannot restore the trainer ({type(exc).__name__}: {exc})"
            ) from None
        self.stop_reason = manifest.get("stop_reason")
        self.stop_training = self.stop_reason is not None
