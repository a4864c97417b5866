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

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from layerkit._table import render_table
from layerkit.errors import CheckpointError, ConfigError, ShapeError
from layerkit.layer_list import auto_ids, layer_id_problem, structure_problems
from layerkit.layers.base import Layer, Loss, Shape
from layerkit.rewrites import execution_order

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
        #: the body in the order it runs (see layerkit.rewrites): same results, less work
        self._run_order: tuple[Layer, ...] = execution_order(self._body)
        self._loss_layer: Loss = self._layers[-1]  # type: ignore[assignment]
        self._by_id = {layer.id: layer for layer in self._layers}
        self._backward_path: tuple[Layer, ...] = ()
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._num_classes = num_classes
        self._loss_ready = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        if input_shape is not None:
            self.build(tuple(input_shape), num_classes=num_classes)

    # -- building ----------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(self, input_shape: Iterable[int], *, num_classes: int | None = None) -> Shape:
        """Infer every layer's shapes and allocate the weights; return the scores' shape.

        Raises :class:`ShapeError` naming the first layer that cannot take its input.
        """
        shape: Shape = tuple(int(d) for d in input_shape)
        if num_classes is not None:
            self._num_classes = num_classes
        children = np.random.SeedSequence(self.seed).spawn(len(self._layers))
        for layer, child in zip(self._layers, children):
            rng = np.random.default_rng(child)
            layer.input_shape = shape  # so a failing loss layer check can still be reported
            out = layer.build(shape, rng=rng, dtype=self.dtype)
            if layer is not self._loss_layer:
                shape = out
        self._loss_layer.check_targets(shape, self._num_classes)
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
        run = self._run_order
        first = next((i for i, layer in enumerate(run) if layer.params), len(run))
        for i, layer in enumerate(run):
            layer.needs_input_grad = i > first
        self._backward_path = tuple(reversed(run[first:]))
        return shape

    def _prepare(self, x: Any) -> np.ndarray:
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
        for layer in self._run_order:
            x = layer.forward(x, train=train)
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
        value = loss.forward_validated(scores, t) if labels_validated else loss.forward(scores, t)
        self._loss_ready = True
        return value, scores

    def backward(self) -> None:
        """Backpropagate from the last :meth:`loss`; overwrites every array in :attr:`grads`."""
        if not self._loss_ready:
            raise RuntimeError("Network.backward() needs a preceding Network.loss(x, t)")
        dout = self._loss_layer.backward(1.0)
        for layer in self._backward_path:
            # None only from the path's last layer (needs_input_grad is false there)
            dout = layer.backward(dout)  # type: ignore[assignment]

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

    @property
    def layers(self) -> tuple[Layer, ...]:
        """All layers in order, the loss layer last."""
        return self._layers

    @property
    def execution_order(self) -> tuple[Layer, ...]:
        """The layers before the loss in the order forward runs them (backward: reversed).

        The declared order except where :mod:`layerkit.rewrites` reorders calls without
        changing results (``Relu -> MaxPool2D`` runs as ``MaxPool2D -> Relu``).
        """
        return self._run_order

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
            if arr.dtype.kind not in "fiub":
                raise CheckpointError(f"{key}: expected numbers (received dtype {arr.dtype})")
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
                "params": layer.param_count(),
            }
            for layer in self._layers
        ]

    def param_count(self) -> int:
        return sum(layer.param_count() for layer in self._layers)

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
