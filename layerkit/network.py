"""A network: a graph of layers (a chain being the simplest) ending with one loss layer.

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

A graph is written with the functional API (see :mod:`layerkit.layers.symbolic`)::

    x = Input()
    h = Relu()(Affine(units=50)(x))
    h = Add()(Affine(units=50)(h), h)
    net = Network(inputs=x, outputs=SoftmaxWithLoss()(Affine(units=10)(h)), input_shape=(784,))

or as a list with ``wiring`` (``{"add1": ["affine2", "relu1"]}``, the layers a layer takes when
not the one before it). The graph's rules live in :mod:`layerkit.wiring`. Execution follows a
topological order fixed at build: forward keeps each output only until its last reader has run;
backward visits the layers in reverse and sums the gradients of an output read by several
layers into buffers the network owns and reuses (it never writes into an array a layer returned).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from layerkit._table import render_table
from layerkit.errors import CheckpointError, ConfigError, ShapeError
from layerkit.layer_list import (
    DATA,
    WireItem,
    Wiring,
    auto_ids,
    duplicate_id_problems,
    layer_id_problem,
    resolve,
)
from layerkit.layers.base import Layer, Loss, Merge, Shape
from layerkit.layers.symbolic import Tensor
from layerkit.rewrites import relu_pool_swaps

if TYPE_CHECKING:  # annotations only: the core network does not load plugins
    from layerkit.plugins import Registry

__all__ = ["Network"]

_CONFIG_KEYS = {"input_shape", "dtype", "layers"}
_NO_VALUE: Any = None


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
    for loc, _, message, received in duplicate_id_problems([layer.id for layer in layers]):
        messages.append(f"layers[{loc[1]}].id: {message} (received {received!r})")
    if messages:
        raise ConfigError("\n".join(messages))


def _from_outputs(inputs: Tensor, outputs: Tensor) -> tuple[list[Layer], dict[str, list[Any]]]:
    """The layers of a functional graph (sources first) and each one's inputs as objects."""
    if not isinstance(inputs, Tensor) or not inputs.is_input:
        raise ConfigError(f"inputs: expected the tensor returned by Input() (received {inputs!r})")
    if not isinstance(outputs, Tensor) or outputs.is_input:
        raise ConfigError(
            f"outputs: expected the tensor a loss layer returned, e.g. SoftmaxWithLoss()(h) (received {outputs!r})"
        )
    order: list[Tensor] = []
    state: dict[int, int] = {}  # id(tensor) -> 1 visiting, 2 done
    stack: list[tuple[Tensor, bool]] = [(outputs, False)]
    while stack:  # iterative post-order DFS: deep graphs do not hit the recursion limit
        t, expanded = stack.pop()
        if expanded:
            state[id(t)] = 2
            order.append(t)
            continue
        if state.get(id(t)):
            continue
        state[id(t)] = 1
        stack.append((t, True))
        for src in reversed(t.inputs):
            if not src.is_input and not state.get(id(src)):
                stack.append((src, False))
            elif src.is_input and src is not inputs:
                raise ConfigError(
                    f"{t.layer.label}: takes an Input() that is not the network's inputs; a "
                    "network has one data input"
                )
    layers = [t.layer for t in order]
    wiring: dict[str, list[Any]] = {}
    for t in order:
        wiring[str(id(t.layer))] = [None if src.is_input else src.layer for src in t.inputs]
    return layers, wiring


class Network:
    """A graph of layers ending with exactly one loss layer; a chain is ``Network([...])``.

    ``layers`` are :class:`~layerkit.layers.base.Layer` instances (build them from spec entries
    with :func:`layerkit.spec.build_network`, or from plain data with :meth:`from_config` and a
    registry), each taking the layer before it unless ``wiring`` (layer id -> the ids it takes,
    ``"input"`` for the data) says otherwise. Or pass ``inputs=Input()`` and ``outputs=`` a loss
    layer's tensor (the functional API). With ``input_shape`` (per sample, batch axis excluded)
    the network is built at once; otherwise on the first batch it sees. ``seed`` makes weight
    initialisation and dropout reproducible: each layer gets its own generator spawned from it.
    ``num_classes``, when known, is checked against the loss layer's input (e.g. the last
    Affine's units).
    """

    def __init__(
        self,
        layers: Iterable[Layer] | None = None,
        *,
        inputs: Tensor | None = None,
        outputs: Tensor | None = None,
        wiring: Mapping[str, Iterable[str]] | None = None,
        input_shape: Iterable[int] | None = None,
        dtype: Any = "float32",
        seed: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        self.dtype: np.dtype = _as_dtype(dtype)
        self.seed = seed
        by_object: dict[str, list[Any]] | None = None
        if inputs is not None or outputs is not None:
            if layers is not None or wiring is not None:
                raise ConfigError("Network: pass either layers (with wiring) or inputs= and outputs=, not both")
            if inputs is None or outputs is None:
                raise ConfigError("Network: the functional form needs both inputs=Input() and outputs=")
            resolved, by_object = _from_outputs(inputs, outputs)
            if input_shape is None and inputs.shape is not None:
                input_shape = inputs.shape
        elif layers is None:
            raise ConfigError("Network: pass a list of layers, or inputs= and outputs=")
        else:
            resolved = list(layers)
        _check_layers(resolved)
        for layer, ident in zip(resolved, auto_ids([(layer.name, layer.id) for layer in resolved])):
            layer.id = ident
        named: dict[str, Iterable[str]]
        if by_object is not None:
            names = {str(id(layer)): layer.id for layer in resolved}
            named = {
                str(names[key]): [DATA if src is None else str(src.id) for src in srcs]
                for key, srcs in by_object.items()
            }
        else:
            named = dict(wiring or {})
        self._wire(resolved, named)
        self._by_id = {layer.id: layer for layer in self._layers}
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._num_classes = num_classes
        self._loss_ready = False
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        if input_shape is not None:
            self.build(tuple(input_shape), num_classes=num_classes)

    def _wire(self, layers: list[Layer], named: Mapping[str, Iterable[str]]) -> None:
        """Resolve the graph (rules in :mod:`layerkit.wiring`) and fix the execution order."""
        unknown = sorted(set(named) - {str(layer.id) for layer in layers})
        if unknown:
            raise ConfigError(f"wiring: no layer with id {', '.join(map(repr, unknown))}")
        items = [
            WireItem(
                str(layer.id),
                layer.kind,
                tuple(named[str(layer.id)]) if str(layer.id) in named else None,
                type(layer).arity_problem if isinstance(layer, Merge) else None,
            )
            for layer in layers
        ]
        plan, problems = resolve(items)
        if plan is None:
            raise ConfigError(
                "\n".join(f"layers[{p.index}] ({layers[p.index].name}): {p.message}" for p in problems)
            )
        self._set_order(layers, plan)

    def _set_order(self, layers: list[Layer], plan: Wiring) -> None:
        pos = {i: k for k, i in enumerate(plan.order)}
        self._layers: tuple[Layer, ...] = tuple(layers[i] for i in plan.order)
        # slot 0 holds the data, slot k + 1 the output of self._layers[k]
        self._sources: tuple[tuple[int, ...], ...] = tuple(
            tuple(0 if s < 0 else pos[s] + 1 for s in plan.sources[i]) for i in plan.order
        )
        self._chain = plan.is_chain()
        self._loss_layer: Loss = self._layers[-1]  # type: ignore[assignment]
        self._scores_slot = self._sources[-1][0]
        n = len(self._layers)
        last_use = [0] * (n + 1)
        for k, srcs in enumerate(self._sources[:-1]):
            for s in srcs:
                last_use[s] = k
        frees: list[list[int]] = [[] for _ in range(n)]
        for slot, k in enumerate(last_use):
            if slot != self._scores_slot and any(slot in srcs for srcs in self._sources[:-1]):
                frees[k].append(slot)
        # One step per layer before the loss: (layer, input slots, output slot, slots to release).
        # Releasing an output after its last reader frees the activations no later layer needs.
        self._steps = tuple(
            (layer, self._sources[k], k + 1, tuple(frees[k]))
            for k, layer in enumerate(self._layers[:-1])
        )
        self._keep_steps = tuple((layer, srcs, out, ()) for layer, srcs, out, _ in self._steps)
        # Relu -> MaxPool2D runs as MaxPool2D -> Relu in the same slots (layerkit.rewrites): the
        # same values bit for bit, with ReLU on the pooled, 4x smaller tensor. _keep_steps (for
        # inspecting every layer's output) keeps the declared order.
        self._swaps = relu_pool_swaps(self._layers, self._sources)
        self._steps = tuple(
            (self._swaps.get(id(layer), layer), srcs, out, free)
            for layer, srcs, out, free in self._steps
        )
        self._backward_steps: tuple[tuple[Layer, int, tuple[int, ...], bool], ...] = ()

    # -- building ----------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(self, input_shape: Iterable[int], *, num_classes: int | None = None) -> Shape:
        """Infer every layer's shapes and allocate the weights; return the scores' shape.

        Raises :class:`ShapeError` naming the first layer that cannot take its input (for a
        merge layer, with the layers that produce its inputs).
        """
        shape: Shape = tuple(int(d) for d in input_shape)
        if num_classes is not None:
            self._num_classes = num_classes
        children = np.random.SeedSequence(self.seed).spawn(len(self._layers))
        shapes: list[Shape] = [shape]
        for layer, child, srcs in zip(self._layers, children, self._sources):
            rng = np.random.default_rng(child)
            if isinstance(layer, Merge):
                ins = [shapes[s] for s in srcs]
                try:
                    out = layer.build(ins, rng=rng, dtype=self.dtype)
                except ShapeError as exc:
                    producers = ", ".join(
                        f"input {j + 1} from {self._slot_name(s)}" for j, s in enumerate(srcs)
                    )
                    raise ShapeError(f"{exc} ({producers})") from None
            else:
                layer.input_shape = shapes[srcs[0]]  # so a failing loss check can be reported
                out = layer.build(shapes[srcs[0]], rng=rng, dtype=self.dtype)
            shapes.append(out)
        scores = shapes[self._scores_slot]
        self._loss_layer.check_targets(scores, self._num_classes)
        self.input_shape = shape
        self.output_shape = scores
        self._shapes = tuple(shapes)
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
        # Only layers with weights at or upstream of them need a backward, and a layer needs dx
        # only when weights are upstream of it: skipping them saves the largest matrix product
        # of a first Affine layer, and all work before it.
        wants = [False] * (len(self._layers) + 1)  # wants[slot]: a gradient reaches weights
        for k, layer in enumerate(self._layers[:-1]):
            upstream = any(wants[s] for s in self._sources[k])
            layer.needs_input_grad = upstream
            wants[k + 1] = upstream or bool(layer.params)
        self._wants = wants
        self._backward_steps = tuple(
            (self._swaps.get(id(layer), layer), k + 1, self._sources[k], isinstance(layer, Merge))
            for k, layer in reversed(list(enumerate(self._layers[:-1])))
            if wants[k + 1]
        )
        self._buffers: dict[int, np.ndarray] = {}
        return scores

    def _slot_name(self, slot: int) -> str:
        return DATA if slot == 0 else str(self._layers[slot - 1].id)

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

    def _run(self, x: np.ndarray, train: bool, steps: tuple[Any, ...]) -> list[Any]:
        values: list[Any] = [_NO_VALUE] * (len(self._layers) + 1)
        values[0] = x
        for layer, srcs, out, free in steps:
            if len(srcs) == 1:
                y = layer.forward(values[srcs[0]], train=train)
            else:
                y = layer.forward(*[values[s] for s in srcs], train=train)
            for s in free:
                values[s] = _NO_VALUE
            values[out] = y
        return values

    def forward(self, x: Any, *, train: bool = False) -> np.ndarray:
        """Scores for a batch (the input of the loss layer), in training or inference mode."""
        x = self._prepare(x)
        return self._run(x, train, self._steps)[self._scores_slot]

    def forward_values(self, x: Any, *, train: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output for a batch, by layer id (``"input"``: the data), loss excluded.

        Nothing is released, so this costs the memory of all activations at once; for
        inspection (``layerkit graph --values``, finding the first non-finite layer).
        """
        x = self._prepare(x)
        values = self._run(x, train, self._keep_steps)
        return {self._slot_name(slot): v for slot, v in enumerate(values[:-1])}

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

    def backward(self, *, record: dict[tuple[str, str], np.ndarray] | None = None) -> None:
        """Backpropagate from the last :meth:`loss`; overwrites every array in :attr:`grads`.

        With ``record``, every layer's backward runs (even where no weights are upstream) and
        the gradient flowing back along each edge is stored as ``record[(producer id, consumer
        id)]`` (``"input"``: the data), for drawing (``layerkit graph --values``).
        """
        if not self._loss_ready:
            raise RuntimeError("Network.backward() needs a preceding Network.loss(x, t)")
        steps, wants = self._backward_steps, self._wants
        if record is not None:
            steps = tuple(
                (layer, k + 1, self._sources[k], isinstance(layer, Merge))
                for k, layer in reversed(list(enumerate(self._layers[:-1])))
            )
            wants = [True] * len(wants)
            saved = [layer.needs_input_grad for layer in self._layers]
            for layer in self._layers:
                layer.needs_input_grad = True
        try:
            self._backward(steps, wants, record)
        finally:
            if record is not None:
                for layer, flag in zip(self._layers, saved):
                    layer.needs_input_grad = flag

    def _backward(
        self, steps: tuple[Any, ...], wants: list[bool], record: dict[tuple[str, str], np.ndarray] | None
    ) -> None:
        douts: list[Any] = [_NO_VALUE] * (len(self._layers) + 1)
        owned = [False] * len(douts)
        douts[self._scores_slot] = self._loss_layer.backward(1.0)
        if record is not None:
            record[(self._slot_name(self._scores_slot), str(self._loss_layer.id))] = np.array(douts[self._scores_slot])
        for layer, slot, srcs, merge in steps:
            dout = douts[slot]
            douts[slot] = _NO_VALUE  # released: nothing upstream reads it
            if merge:
                for s, d in zip(srcs, layer.backward(dout)):
                    if record is not None:
                        record[(self._slot_name(s), str(layer.id))] = np.array(d)  # a copy: buffers are reused
                    if wants[s]:
                        self._accumulate(douts, owned, s, d)
            else:
                d = layer.backward(dout)
                if d is None:  # needs_input_grad is false (no weights upstream)
                    continue
                s = srcs[0]
                if record is not None:
                    record[(self._slot_name(s), str(layer.id))] = np.array(d)  # a copy: buffers are reused
                if douts[s] is _NO_VALUE:  # the only reader so far: no call, no copy (every chain step)
                    douts[s] = d
                else:
                    self._accumulate(douts, owned, s, d)

    def _accumulate(self, douts: list[Any], owned: list[bool], slot: int, d: Any) -> None:
        """Add ``d`` to the gradient of ``slot``'s output (read by several layers: fan-out).

        The first contribution is kept as the layer returned it (no copy: a chain never copies);
        a second one is summed into a buffer this network owns and reuses across steps, so an
        array a layer handed back is never written into.
        """
        current = douts[slot]
        if current is _NO_VALUE:
            douts[slot] = d
        elif owned[slot]:
            np.add(current, d, out=current)
        else:
            buf = self._buffers.get(slot)
            if buf is None or buf.shape != np.shape(current) or buf.dtype != current.dtype:
                buf = self._buffers[slot] = np.empty(np.shape(current), dtype=current.dtype)
            np.add(current, d, out=buf)
            douts[slot] = buf
            owned[slot] = True

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
    def execution_order(self) -> tuple[Layer, ...]:
        """The layers before the loss in the order forward runs them (backward: reversed).

        :attr:`layers` except where :mod:`layerkit.rewrites` exchanges calls without changing
        results (``Relu -> MaxPool2D`` runs as ``MaxPool2D -> Relu``).
        """
        return tuple(step[0] for step in self._steps)

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

    def wiring(self) -> dict[str, list[str]]:
        """The inputs of each layer that does not simply take the one before it (in :attr:`layers`).

        ``Network(layers, wiring=net.wiring())`` rebuilds the graph; empty for a chain.
        """
        out: dict[str, list[str]] = {}
        for k, (layer, srcs) in enumerate(zip(self._layers, self._sources)):
            if srcs != (k,):
                out[str(layer.id)] = [self._slot_name(s) for s in srcs]
        return out

    def inputs_of(self, layer_id: str) -> list[str]:
        """The ids of the layers ``layer_id`` takes (``"input"``: the data)."""
        k = self._layers.index(self[layer_id])
        return [self._slot_name(s) for s in self._sources[k]]

    @property
    def is_chain(self) -> bool:
        """True when each layer takes the one before it: a sequential network."""
        return self._chain

    def with_dtype(self, dtype: Any) -> Network:
        """A copy of this network (weights, buffers, rng state) computing in ``dtype``."""
        clone = Network(
            [_clone(layer) for layer in self._layers], wiring=self.wiring(), dtype=dtype, seed=self.seed
        )
        clone._num_classes = self._num_classes
        if self.input_shape is not None:
            clone.build(self.input_shape)
            clone.load_state_dict(self.state_dict())
            clone.set_rng_state(self.rng_state())
        return clone

    # -- description -------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """``{"input_shape", "dtype", "layers"}``: what :meth:`from_config` rebuilds this network from.

        Layers are in execution order; a layer that does not take the one before it carries
        ``inputs``.
        """
        return {
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "dtype": self.dtype.name,
            "layers": [self._entry(layer) for layer in self._layers],
        }

    def _entry(self, layer: Layer) -> dict[str, Any]:
        entry = layer.config()
        inputs = self.wiring().get(str(layer.id))
        if inputs is not None:
            entry["inputs"] = inputs
        return entry

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
        layers = [_layer_from_entry(_without_inputs(entry), i, registry) for i, entry in enumerate(entries)]
        wiring = {
            str(entry["id"]): list(entry["inputs"])
            for entry in entries
            if isinstance(entry, Mapping) and entry.get("inputs") is not None and "id" in entry
        }
        return cls(
            layers,
            wiring=wiring,
            input_shape=config.get("input_shape"),
            dtype=config.get("dtype", "float32"),
            seed=seed,
        )

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per layer: id, type, inputs, output shape, parameter count."""
        return [
            {
                "id": layer.id,
                "type": layer.name,
                "inputs": [self._slot_name(s) for s in srcs],
                "output_shape": layer.output_shape,
                "params": layer.param_count(),
            }
            for layer, srcs in zip(self._layers, self._sources)
        ]

    def param_count(self) -> int:
        return sum(layer.param_count() for layer in self._layers)

    def summary(self) -> str:
        """A Keras-style table of the layers and the total number of parameters."""

        graph = not self._chain
        rows = [
            (
                r["id"],
                r["type"],
                *([", ".join(r["inputs"])] if graph else []),
                "?" if r["output_shape"] is None else str(tuple(r["output_shape"])),
                r["params"],
            )
            for r in self.summary_rows()
        ]
        headers = ("id", "type", *(("inputs",) if graph else ()), "output shape", "params")
        table = render_table(headers, rows)
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
        wiring = f", wiring={self.wiring()!r}" if not self._chain else ""
        return f"Network([{inner}]{wiring}, input_shape={self.input_shape}, dtype={self.dtype.name!r})"


def _without_inputs(entry: Any) -> Any:
    if isinstance(entry, Mapping) and "inputs" in entry:
        return {k: v for k, v in entry.items() if k != "inputs"}
    return entry
