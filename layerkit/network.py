"""A sequential network: layers in order, ending with one loss layer.

The textbook's TwoLayerNet in layerkit::

    from layerkit import Affine, Network, Relu, SoftmaxWithLoss

    net = Network(
        [Affine(units=50), Relu(), Affine(units=10), SoftmaxWithLoss()],
        input_shape=(784,), seed=0,
    )
    loss = net.loss(x_batch, t_batch)     # forward in training mode
    net.backward()                        # fills net.grads
    for key, p in net.params.items():     # "affine1.W", "affine1.b", ...
        p -= 0.1 * net.grads[key]
    net.accuracy(x_test, t_test)

Parameters are keyed ``"<layer id>.<name>"``; layers without an id get one from their type
(``affine1``, ``relu1``, ``affine2``, ``softmaxwithloss1``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from layerkit._table import render_table
from layerkit.errors import (
    CheckpointError,
    ConfigError,
    LayerFailed,
    LayerkitError,
    MemoryBudgetError,
    ShapeError,
)
from layerkit.layer_list import auto_ids, layer_id_problem, structure_problems
from layerkit.layers.base import Layer, Loss, Shape

if TYPE_CHECKING:  # annotations only: the core network does not load plugins
    from layerkit.plugins import Registry

__all__ = ["Network"]

_CONFIG_KEYS = {"input_shape", "dtype", "layers"}


def _as_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"dtype: not a NumPy dtype (received {dtype!r})") from None
    if dt.kind != "f":
        raise ConfigError(f"dtype: must be a floating-point type such as float32 (received {dt})")
    return dt


def _layer_from_entry(entry: Mapping[str, Any], index: int, registry: Registry) -> Layer:
    """A layer from a plain entry ``{"type": ..., "id": ..., **hp}`` (a :meth:`Network.config` layer)."""
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"layers[{index}]: expected a mapping with 'type' (received {type(entry).__name__})"
        )
    hp = dict(entry)
    kind = hp.pop("type", None)
    if not isinstance(kind, str):
        raise ConfigError(f"layers[{index}].type: required, the name of a registered layer")
    cls = registry.layer(kind)
    try:
        return cls(**hp)
    except ConfigError as exc:
        raise ConfigError(f"layers[{index}]: {exc}") from None


def _clone(layer: Layer) -> Layer:
    """A fresh, unbuilt layer with the same class, id and hyperparameters."""
    entry = layer.config()
    entry.pop("type")
    return type(layer)(**entry)


def _check_layers(layers: list[Layer]) -> None:
    """The layer-list rules of :mod:`layerkit.layer_list`, plus one layer object per position."""
    if not layers:
        raise ConfigError("layers: a network needs at least a loss layer (e.g. SoftmaxWithLoss)")
    seen: dict[int, int] = {}
    messages: list[str] = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"layers[{i}]: expected a Layer (received {type(layer).__name__}); build layers "
                "from spec entries with layerkit.spec.build_network or Network.from_config"
            )
        if id(layer) in seen:
            messages.append(
                f"layers[{i}] ({layer.name}): the same layer object is also layers[{seen[id(layer)]}]; "
                "create a new layer for each position"
            )
        seen.setdefault(id(layer), i)
        if layer.id is not None and (problem := layer_id_problem(layer.id)) is not None:
            messages.append(
                f"layers[{i}].id: {problem} (received {layer.id!r}); ids name parameters such as 'fc1.W'"
            )
    for loc, _, message, received in structure_problems(
        [(layer.name, layer.id, layer.kind) for layer in layers]
    ):
        i = int(loc[1])
        if loc[-1] == "id":
            messages.append(f"layers[{i}].id: {message} (received {received!r})")
        else:
            messages.append(f"layers[{i}] ({layers[i].name}): {message}")
    if messages:
        raise ConfigError("\n".join(messages))


#: Bytes the weights and gradients of one network may take unless LAYERKIT_MEMORY_BUDGET says.
DEFAULT_MEMORY_BUDGET = 4 * 1024**3
MEMORY_BUDGET_ENV = "LAYERKIT_MEMORY_BUDGET"
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def parse_bytes(text: str) -> int:
    """``"4GiB"`` -> 4294967296, ``"500MB"`` -> 500000000; ``"none"``/``"0"``: no limit (0)."""
    value = text.strip().lower().replace("_", "").replace(" ", "")
    if value in ("none", "0", "unlimited"):
        return 0
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)([kmgt]i?b|b)?", value)
    if not match:
        raise ConfigError(
            f"{MEMORY_BUDGET_ENV}: expected a size such as 4GiB, 500MB or 'none' (received {text!r})"
        )
    number = float(match.group(1)) * _UNITS[match.group(2) or ""]
    if not math.isfinite(number) or number < 1:
        raise ConfigError(f"{MEMORY_BUDGET_ENV}: must be at least 1 byte (received {text!r})")
    return int(number)


def memory_budget_from_env() -> int:
    """The budget in bytes (0: no limit): ``LAYERKIT_MEMORY_BUDGET`` when set, else
    :data:`DEFAULT_MEMORY_BUDGET`."""
    text = os.environ.get(MEMORY_BUDGET_ENV)
    return DEFAULT_MEMORY_BUDGET if text is None or not text.strip() else parse_bytes(text)


def _size(n: float) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _check_budget(
    planned: list[tuple[Shape, Shape, dict[str, Shape] | None]], dtype: np.dtype, budget: int
) -> None:
    """Refuse weights (and their gradients) larger than ``budget`` bytes (0: no limit), with the
    arithmetic."""
    if budget <= 0:
        return
    counts = [sum(math.prod(s) for s in (shapes or {}).values()) for _, _, shapes in planned]
    total = sum(counts)
    need = total * dtype.itemsize * 2  # every weight has a gradient array of the same size
    if need <= budget:
        return
    biggest = max(range(len(counts)), key=counts.__getitem__)
    raise MemoryBudgetError(
        f"{total:,} parameters x {dtype.itemsize} bytes ({dtype.name}) x 2 (weights and their "
        f"gradients) = {_size(need)}, above the memory budget of {_size(budget)}; "
        f"this layer holds {counts[biggest]:,} of them. Make it smaller, or raise the budget "
        f"with {MEMORY_BUDGET_ENV} (e.g. {MEMORY_BUDGET_ENV}={math.ceil(need / 1024**3) + 1}GiB)",
        layer_index=biggest,
    )


def _shape(shape: Shape | None) -> Shape:
    return () if shape is None else shape


def _layer_name(layer: Layer) -> str:
    return f"layer {layer.id} ({layer.name} from {layer.origin()})"


def _wrong_output(layer: Layer, method: str, out: Any, expected: tuple[int, ...]) -> LayerFailed:
    got = f"shape {out.shape}" if isinstance(out, np.ndarray) else f"a {type(out).__name__}"
    what = "dx" if method == "backward" else "an output"
    return LayerFailed(
        f"{_layer_name(layer)}: {method} returned {got}, expected {what} of shape {expected}",
        layer_id=layer.id, layer_type=layer.name,
    )


def _layer_failed(layer: Layer | None, method: str, exc: Exception) -> LayerFailed:
    if layer is None:  # pragma: no cover - the loop always binds a layer before calling it
        raise exc
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    detail = "; ".join(line.strip() for line in detail.splitlines() if line.strip())
    return LayerFailed(
        f"{_layer_name(layer)}: {method} raised {detail}", layer_id=layer.id, layer_type=layer.name
    )


class Network:
    """An ordered sequence of layers ending with exactly one loss layer.

    ``layers`` are :class:`~layerkit.layers.base.Layer` instances (build them from spec entries
    with :func:`layerkit.spec.build_network`, or from plain data with :meth:`from_config` and a
    registry). With
    ``input_shape`` (per sample, batch axis excluded) the network is built at once; otherwise
    on the first batch it sees. ``seed`` makes weight initialisation and dropout reproducible:
    each layer gets its own generator spawned from it. ``num_classes``, when known, is checked
    against the loss layer's input (e.g. the last Affine's units).
    """

    def __init__(
        self,
        layers: Iterable[Layer],
        *,
        input_shape: Iterable[int] | None = None,
        dtype: Any = "float32",
        seed: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        self.dtype: np.dtype = _as_dtype(dtype)
        self.seed = seed
        resolved = list(layers)
        _check_layers(resolved)
        for layer, ident in zip(resolved, auto_ids([(layer.name, layer.id) for layer in resolved])):
            layer.id = ident
        self._layers: tuple[Layer, ...] = tuple(resolved)
        self._body: tuple[Layer, ...] = self._layers[:-1]
        self._loss_layer: Loss = self._layers[-1]  # type: ignore[assignment]
        self._by_id = {layer.id: layer for layer in self._layers}
        self._backward_path: tuple[Layer, ...] = ()
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._num_classes = num_classes
        self._loss_ready = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        #: index of the layer a failed :meth:`build` was at (None: none failed, or not a layer)
        self.failing_layer: int | None = None
        self._allocated = True
        self._planned_counts: dict[str | None, int] = {}
        if input_shape is not None:
            self.build(tuple(input_shape), num_classes=num_classes)

    # -- building ----------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(
        self,
        input_shape: Iterable[int],
        *,
        num_classes: int | None = None,
        allocate: bool = True,
        memory_budget: int | None = None,
    ) -> Shape:
        """Infer every layer's shapes and allocate the weights; return the scores' shape.

        Shapes and parameter counts are worked out first, without allocating anything, and the
        weights with their gradients must fit ``memory_budget`` bytes (0: no limit; default: the
        ``LAYERKIT_MEMORY_BUDGET`` environment variable, else :data:`DEFAULT_MEMORY_BUDGET`).
        ``allocate=False`` stops there: shapes and :meth:`summary` without any weight (what
        ``layerkit validate`` shows); such a network cannot run until built again.

        Raises :class:`ShapeError` naming the first layer that cannot take its input, and
        :class:`MemoryBudgetError` with the arithmetic when the weights would not fit.
        :attr:`failing_layer` is then the index of the layer concerned.
        """
        shape: Shape = tuple(int(d) for d in input_shape)
        if num_classes is not None:
            self._num_classes = num_classes
        self.failing_layer = None
        planned = self._plan(shape)
        _check_budget(planned, self.dtype, memory_budget_from_env() if memory_budget is None else memory_budget)
        children = np.random.SeedSequence(self.seed).spawn(len(self._layers))
        for i, (layer, child) in enumerate(zip(self._layers, children)):
            layer_in, layer_out, shapes = planned[i]
            layer.input_shape = layer_in  # so a failing loss layer check can still be reported
            if allocate or shapes is None:  # a layer that cannot tell its shapes is counted built
                self.failing_layer = i
                layer.build(layer_in, rng=np.random.default_rng(child), dtype=self.dtype)
            else:
                layer.output_shape = layer_out
            if layer is not self._loss_layer:
                shape = layer_out
        self.failing_layer = None  # the targets check is about the scores, not one layer
        self._loss_layer.check_targets(shape, self._num_classes)
        self._allocated = allocate
        self._planned_counts = {
            layer.id: layer.param_count() if sizes is None else sum(math.prod(s) for s in sizes.values())
            for layer, (_, _, sizes) in zip(self._layers, planned)
        }
        self.input_shape = self._layers[0].input_shape
        self.output_shape = shape
        self._params = {
            f"{layer.id}.{k}": v for layer in self._layers for k, v in layer.params.items()
        }
        # Layers write their gradients into the arrays build allocated (the layer contract), so
        # the mapping is made once here rather than on every read of ``grads``.
        self._grads = {
            f"{layer.id}.{k}": g for layer in self._layers for k, g in layer.grads.items()
        }
        for layer in self._layers:
            clash = set(layer.params) & set(layer.buffers)
            if clash:
                raise ConfigError(
                    f"{layer.label}: names used both as parameter and buffer: {sorted(clash)}"
                )
        # Layers before the first one with weights need no backward at all, and that one needs
        # no dx: skipping it saves the largest matrix product of a first Affine layer.
        first = next((i for i, layer in enumerate(self._body) if layer.params), len(self._body))
        for i, layer in enumerate(self._body):
            layer.needs_input_grad = i > first
        self._backward_path = tuple(reversed(self._body[first:]))
        return shape

    def _plan(self, shape: Shape) -> list[tuple[Shape, Shape, dict[str, Shape] | None]]:
        """``(input shape, output shape, parameter shapes or None)`` per layer, nothing allocated."""
        planned = []
        for i, layer in enumerate(self._layers):
            self.failing_layer = i
            if any(d <= 0 for d in shape):
                raise ShapeError(f"{layer.label}: input shape must be positive (received {shape})")
            out = tuple(int(d) for d in layer.compute_output_shape(shape))
            planned.append((shape, out, layer.param_shapes(shape)))
            if layer is not self._loss_layer:
                shape = out
        self.failing_layer = None
        return planned

    def _prepare(self, x: Any) -> np.ndarray:
        if not self._allocated:
            raise ConfigError(
                "this network was built without weights (allocate=False); build it again to run it"
            )
        x = np.asarray(x, dtype=self.dtype)
        if self.input_shape is None:
            if x.ndim < 2:
                raise ShapeError(f"input: expected a batch (N, ...) (received shape {x.shape})")
            self.build(x.shape[1:])
        elif x.shape[1:] != self.input_shape:
            raise ShapeError(
                f"input: the network expects batches of shape (N, {', '.join(map(str, self.input_shape))}) "
                f"(received {x.shape})"
            )
        return x

    # -- running -----------------------------------------------------------------------------

    def forward(self, x: Any, *, train: bool = False) -> np.ndarray:
        """Scores for a batch (the input of the loss layer), in training or inference mode."""
        x = self._prepare(x)
        n = x.shape[0]
        layer: Layer | None = None
        try:
            for layer in self._body:
                x = layer.forward(x, train=train)
                # One tuple comparison per layer: a layer returning the wrong shape (a plugin's
                # bug) is named here instead of failing three layers later inside NumPy.
                if not isinstance(x, np.ndarray) or x.shape[1:] != layer.output_shape or len(x) != n:
                    raise _wrong_output(layer, "forward", x, (n, *_shape(layer.output_shape)))
        except LayerkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - any bug in a layer's code becomes its own error
            raise _layer_failed(layer, "forward", exc) from exc
        return x

    def predict(self, x: Any, *, batch_size: int | None = 1000) -> np.ndarray:
        """Scores (e.g. logits) in inference mode, computed ``batch_size`` samples at a time."""
        x = np.asarray(x)
        n = x.shape[0] if x.ndim else 0
        if batch_size is None or n <= batch_size:
            return self.forward(x, train=False)
        if batch_size <= 0:
            raise ConfigError(f"batch_size: must be > 0 (received {batch_size})")
        first = self.forward(x[:batch_size], train=False)
        out = np.empty((n, *first.shape[1:]), dtype=first.dtype)
        out[:batch_size] = first
        for i in range(batch_size, n, batch_size):
            out[i : i + batch_size] = self.forward(x[i : i + batch_size], train=False)
        return out

    def predict_proba(self, x: Any, *, batch_size: int | None = 1000) -> np.ndarray:
        """The loss layer's activation of the scores (softmax probabilities for SoftmaxWithLoss)."""
        return self._loss_layer.activate(self.predict(x, batch_size=batch_size))

    def loss(self, x: Any, t: Any, *, train: bool = True) -> float:
        """Mean loss over the batch; in training mode by default (dropout on, batch statistics)."""
        return self.loss_and_scores(x, t, train=train)[0]

    def loss_and_scores(
        self, x: Any, t: Any, *, train: bool = True, labels_validated: bool = False
    ) -> tuple[float, np.ndarray]:
        """The mean loss and the scores it was computed from, in one forward pass.

        The trainer counts training accuracy from these scores instead of a second pass;
        :meth:`backward` may follow as after :meth:`loss`. ``labels_validated=True`` promises
        that ``t`` holds one integer class index in ``[0, classes)`` per sample (the trainer
        checks a split's labels once): the loss layer then skips its per-batch label checks
        (:meth:`~layerkit.layers.base.Loss.forward_validated`).
        """
        scores = self.forward(x, train=train)
        loss = self._loss_layer
        try:
            value = loss.forward_validated(scores, t) if labels_validated else loss.forward(scores, t)
        except LayerkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - see forward
            raise _layer_failed(loss, "forward", exc) from exc
        self._loss_ready = True
        return value, scores

    def backward(self) -> None:
        """Backpropagate from the last :meth:`loss`; overwrites every array in :attr:`grads`."""
        if not self._loss_ready:
            raise RuntimeError("Network.backward() needs a preceding Network.loss(x, t)")
        layer: Layer = self._loss_layer
        try:
            dout: np.ndarray | None = self._loss_layer.backward(1.0)
            for layer in self._backward_path:
                n = len(dout) if isinstance(dout, np.ndarray) else 0
                # None only from the path's last layer (needs_input_grad is false there)
                dout = layer.backward(dout)  # type: ignore[arg-type]
                if dout is None and not layer.needs_input_grad:
                    continue
                if not isinstance(dout, np.ndarray) or dout.shape[1:] != layer.input_shape or len(dout) != n:
                    raise _wrong_output(layer, "backward", dout, (n, *_shape(layer.input_shape)))
        except LayerkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - see forward
            raise _layer_failed(layer, "backward", exc) from exc

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """Gradients of the training-mode loss by backpropagation, as copies keyed like params."""
        self.loss(x, t, train=True)
        self.backward()
        return {k: g.copy() for k, g in self.grads.items()}

    def accuracy(self, x: Any, t: Any, *, batch_size: int | None = 1000) -> float:
        """Fraction of samples whose highest score is the label (indices or one-hot rows)."""
        x = np.asarray(x)
        t = np.asarray(t)
        labels = t.argmax(axis=1) if t.ndim == 2 else t
        n = x.shape[0] if x.ndim else 0
        if n == 0:
            raise ShapeError("accuracy: the input has no samples")
        if labels.shape != (n,):
            raise ShapeError(
                f"accuracy: {labels.shape[0] if labels.ndim else 0} labels for {n} samples"
            )
        step = n if batch_size is None else batch_size
        if step <= 0:
            raise ConfigError(f"batch_size: must be > 0 (received {batch_size})")
        correct = 0
        for i in range(0, n, step):
            scores = self.forward(x[i : i + step], train=False)
            correct += int(np.count_nonzero(scores.argmax(axis=1) == labels[i : i + step]))
        return correct / n

    # -- weights and state -------------------------------------------------------------------

    def _require_built(self) -> None:
        if self.input_shape is None:
            raise ConfigError(
                "the network is not built yet: pass input_shape=..., call build(shape), or run a batch"
            )

    def shapes(self) -> tuple[Shape, Shape]:
        """``(input_shape, output_shape)`` per sample of a built network (the scores' shape)."""
        if self.input_shape is None or self.output_shape is None:
            self._require_built()
        assert self.input_shape is not None and self.output_shape is not None
        return self.input_shape, self.output_shape

    @property
    def layers(self) -> tuple[Layer, ...]:
        """All layers in order, the loss layer last."""
        return self._layers

    @property
    def loss_layer(self) -> Loss:
        return self._loss_layer

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Live weights keyed ``"<layer id>.<name>"``; optimizers update them in place."""
        self._require_built()
        return self._params

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Gradients from the last :meth:`backward`, keyed like :attr:`params` (live arrays).

        The same dict on every call: each :meth:`backward` overwrites its arrays in place.
        """
        self._require_built()
        return self._grads

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state (e.g. ``"bn1.running_mean"``), live arrays."""
        self._require_built()
        return {f"{layer.id}.{k}": b for layer in self._layers for k, b in layer.buffers.items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed ``"<layer id>.<name>"`` (ready for ``np.savez``)."""
        return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}

    def load_state_dict(self, state: Mapping[str, Any], *, strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers in place (views held by optimizers stay valid).

        Everything is checked before anything is written: a mismatch raises
        :class:`CheckpointError` and leaves the network unchanged.
        """
        targets = {**self.params, **self.buffers}
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected {', '.join(unexpected)}")
            raise CheckpointError(f"state does not match the network: {'; '.join(parts)}")
        pending = []
        for key, target in targets.items():
            if key not in state:
                continue
            arr = np.asarray(state[key])
            if arr.shape != target.shape:
                raise CheckpointError(
                    f"{key}: shape {arr.shape} does not match the network's {target.shape}"
                )
            if arr.dtype.kind != target.dtype.kind:
                # Integer or boolean arrays (with a matching checksum) are still not this
                # network's weights; only a change of float precision is a conversion.
                raise CheckpointError(
                    f"{key}: dtype {arr.dtype} does not match the network's {target.dtype}"
                )
            pending.append((target, arr))
        for target, arr in pending:
            np.copyto(target, arr, casting="unsafe")

    def rng_state(self) -> dict[str, dict[str, Any]]:
        """The generator state of every stochastic layer, by layer id (JSON-serialisable)."""
        return {
            str(layer.id): dict(layer.rng.bit_generator.state)
            for layer in self._layers
            if layer.rng is not None
        }

    def set_rng_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Restore generator states saved by :meth:`rng_state`."""
        for layer_id, st in state.items():
            layer = self._by_id.get(layer_id)
            if layer is None:
                raise CheckpointError(f"rng state for unknown layer {layer_id!r}")
            if layer.rng is None:
                layer.rng = np.random.default_rng()
            try:
                layer.rng.bit_generator.state = dict(st)
            except (TypeError, ValueError, KeyError) as exc:
                raise CheckpointError(f"{layer_id}: invalid rng state ({exc})") from None

    def with_dtype(self, dtype: Any) -> Network:
        """A copy of this network (weights, buffers, rng state) computing in ``dtype``."""
        clone = Network([_clone(layer) for layer in self._layers], dtype=dtype, seed=self.seed)
        clone._num_classes = self._num_classes
        if self.input_shape is not None:
            clone.build(self.input_shape)
            clone.load_state_dict(self.state_dict())
            clone.set_rng_state(self.rng_state())
        return clone

    # -- description -------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """``{"input_shape", "dtype", "layers"}``: what :meth:`from_config` rebuilds this network from."""
        return {
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "dtype": self.dtype.name,
            "layers": [layer.config() for layer in self._layers],
        }

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, registry: Registry, seed: int | None = None
    ) -> Network:
        """Rebuild a network from :meth:`config`, layer types resolved through ``registry``
        (``layerkit.get_registry()`` for the installed plugins)."""
        unknown = sorted(set(config) - _CONFIG_KEYS)
        if unknown:
            raise ConfigError(f"network config: unknown key(s) {', '.join(unknown)}")
        entries = config.get("layers")
        if not isinstance(entries, list):
            raise ConfigError("layers: required, a list of layer entries")
        layers = [_layer_from_entry(entry, i, registry) for i, entry in enumerate(entries)]
        return cls(
            layers,
            input_shape=config.get("input_shape"),
            dtype=config.get("dtype", "float32"),
            seed=seed,
        )

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per layer: id, type, output shape, parameter count."""
        return [
            {
                "id": layer.id,
                "type": layer.name,
                "output_shape": layer.output_shape,
                "params": self._count(layer),
            }
            for layer in self._layers
        ]

    def _count(self, layer: Layer) -> int:
        return layer.param_count() if self._allocated else self._planned_counts.get(layer.id, 0)

    def param_count(self) -> int:
        return sum(self._count(layer) for layer in self._layers)

    def summary(self) -> str:
        """A Keras-style table of the layers and the total number of parameters."""

        rows = [
            (
                r["id"],
                r["type"],
                "?" if r["output_shape"] is None else str(tuple(r["output_shape"])),
                r["params"],
            )
            for r in self.summary_rows()
        ]
        table = render_table(("id", "type", "output shape", "params"), rows)
        return f"{table}\ntotal parameters: {self.param_count():,}"

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    def __getitem__(self, key: int | str) -> Layer:
        """A layer by position or by id."""
        if isinstance(key, str):
            try:
                return self._by_id[key]
            except KeyError:
                raise KeyError(
                    f"no layer with id {key!r} (ids: {', '.join(map(str, self._by_id))})"
                ) from None
        return self._layers[key]

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self._layers)
        return f"Network([{inner}], input_shape={self.input_shape}, dtype={self.dtype.name!r})"
