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


#: Bytes the weights and gradients of one network may take unless LAYERKIT_MEMORY_BUDGET says.
DEFAULT_MEMORY_BUDGET = 4 * 1024**3
MEMORY_BUDGET_ENV = "LAYERKIT_MEMORY_BUDGET"
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


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


def _layer_name(layer: Layer) -> str:
    return f"layer {layer.id} ({layer.name} from {layer.origin()})"


def _wrong_output(layer: Layer, method: str, out: Any, expected: tuple[int, ...]) -> LayerFailed:
    got = f"shape {out.shape}" if isinstance(out, np.ndarray) else f"a {type(out).__name__}"
    what = "dx" if method == "backward" else "an output"
    return LayerFailed(
        f"{_layer_name(layer)}: {method} returned {got}, expected {what} of shape {expected}",
        layer_id=layer.id,
        layer_type=layer.name,
    )


def _layer_failed(layer: Layer | None, method: str, exc: Exception) -> LayerFailed:
    if layer is None:  # pragma: no cover - the loop always binds a layer before calling it
        raise exc
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    detail = "; ".join(line.strip() for line in detail.splitlines() if line.strip())
    return LayerFailed(
        f"{_layer_name(layer)}: {method} raised {detail}", layer_id=layer.id, layer_type=layer.name
    )


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

    Examples
    --------
    >>> from layerkit import Affine, Network, Relu, SoftmaxWithLoss, load_dataset
    >>> (x, t), (x_test, t_test) = load_dataset("fashion_mnist")
    >>> net = Network([Affine(units=50), Relu(), Affine(units=10), SoftmaxWithLoss()],
    ...               input_shape=(784,), seed=0)
    >>> loss = net.loss(x[:100], t[:100])       # forward in training mode
    >>> net.backward()                          # fills net.grads ("affine1.W", ...)
    >>> for key, p in net.params.items():
    ...     p -= 0.1 * net.grads[key]            # params are live arrays
    >>> net.accuracy(x_test, t_test), net.predict_proba(x_test[:5]).shape
    >>> print(net.summary())
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
                raise ConfigError(
                    "Network: pass either layers (with wiring) or inputs= and outputs=, not both"
                )
            if inputs is None or outputs is None:
                raise ConfigError(
                    "Network: the functional form needs both inputs=Input() and outputs="
                )
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
        #: index of the layer a failed :meth:`build` was at (None: none failed, or not a layer)
        self.failing_layer: int | None = None
        self._allocated = True
        self._planned_counts: dict[str | None, int] = {}
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
                "\n".join(
                    f"layers[{p.index}] ({layers[p.index].name}): {p.message}" for p in problems
                )
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

        Raises :class:`ShapeError` naming the first layer that cannot take its input (for a
        merge layer, with the layers that produce its inputs), and :class:`MemoryBudgetError`
        with the arithmetic when the weights would not fit. :attr:`failing_layer` is then the
        index (in :attr:`layers` order) of the layer concerned.
        """
        shape: Shape = tuple(int(d) for d in input_shape)
        if num_classes is not None:
            self._num_classes = num_classes
        self.failing_layer = None
        planned = self._plan(shape)
        _check_budget(
            planned,
            self.dtype,
            memory_budget_from_env() if memory_budget is None else memory_budget,
        )
        children = np.random.SeedSequence(self.seed).spawn(len(self._layers))
        shapes: list[Shape] = [shape]
        for k, (layer, child, srcs) in enumerate(zip(self._layers, children, self._sources)):
            layer_in, out, sizes = planned[k]
            if not isinstance(layer, Merge):
                layer.input_shape = layer_in  # so a failing loss check can be reported
            if allocate or sizes is None:  # a layer that cannot tell its shapes is built to count
                self.failing_layer = k
                ins: Any = [shapes[s] for s in srcs] if isinstance(layer, Merge) else layer_in
                out = layer.build(ins, rng=np.random.default_rng(child), dtype=self.dtype)
            else:
                layer.output_shape = out
            shapes.append(out)
        self.failing_layer = None  # the targets check is about the scores, not one layer
        scores = shapes[self._scores_slot]
        self._loss_layer.check_targets(scores, self._num_classes)
        self._allocated = allocate
        self._planned_counts = {
            layer.id: layer.param_count()
            if sizes is None
            else sum(math.prod(s) for s in sizes.values())
            for layer, (_, _, sizes) in zip(self._layers, planned)
        }
        self.input_shape = shape
        self.output_shape = scores
        self._shapes = tuple(shapes)
        # The shape each slot holds as the steps run: the declared shapes, except where the
        # ReLU/pooling rewrite exchanged two layers (the pooling then writes its pooled shape
        # into the ReLU's slot, and the ReLU keeps that shape in the pooling's slot).
        run_shapes = list(shapes)
        for runner, srcs, slot, _ in self._steps:
            if runner is not self._layers[slot - 1]:
                run_shapes[slot] = tuple(runner.compute_output_shape(run_shapes[srcs[0]]))
        self._run_shapes = tuple(run_shapes)
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

    def _plan(self, shape: Shape) -> list[tuple[Shape, Shape, dict[str, Shape] | None]]:
        """``(input shape, output shape, parameter shapes or None)`` per layer in execution
        order, nothing allocated (a merge layer's input shape is its first input's)."""
        shapes: list[Shape] = [shape]
        planned: list[tuple[Shape, Shape, dict[str, Shape] | None]] = []
        for k, (layer, srcs) in enumerate(zip(self._layers, self._sources)):
            self.failing_layer = k
            ins = [shapes[s] for s in srcs]
            for one in ins:
                if any(d <= 0 for d in one):
                    raise ShapeError(
                        f"{layer.label}: input shape must be positive (received {one})"
                    )
            if isinstance(layer, Merge):
                try:
                    out = tuple(int(d) for d in layer.compute_output_shape(ins))
                except ShapeError as exc:
                    producers = ", ".join(
                        f"input {j + 1} from {self._slot_name(s)}" for j, s in enumerate(srcs)
                    )
                    raise ShapeError(f"{exc} ({producers})") from None
                planned.append((ins[0], out, {}))
            else:
                out = tuple(int(d) for d in layer.compute_output_shape(ins[0]))
                planned.append((ins[0], out, layer.param_shapes(ins[0])))
            shapes.append(out)
        self.failing_layer = None
        return planned

    def _prepare(self, x: Any) -> np.ndarray:
        if not self._allocated:
            raise ConfigError(
                "this network was built without weights (allocate=False); build it again to run it"
            )
        if getattr(x, "dtype", None) == np.uint8:
            # Raw pixels (0-255) would be used as they are, 255 times too large for a network
            # trained on [0, 1]: the network cannot know the scale, so it asks.
            raise ConfigError(
                "input: received raw uint8 values; scale them like the training data first "
                "(x / 255 for pixels), or load data with layerkit.load_dataset(name, normalize=True)"
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

    def _run(
        self, x: np.ndarray, train: bool, steps: tuple[Any, ...], shapes: tuple[Shape, ...]
    ) -> list[Any]:
        """Run ``steps`` on ``x``; ``shapes[slot]`` is the per-sample shape each step must write."""
        values: list[Any] = [_NO_VALUE] * (len(self._layers) + 1)
        values[0] = x
        n = x.shape[0]
        layer: Layer | None = None
        try:
            for layer, srcs, out, free in steps:
                if len(srcs) == 1:
                    y = layer.forward(values[srcs[0]], train=train)
                else:
                    y = layer.forward(*[values[s] for s in srcs], train=train)
                # One tuple comparison per layer: a layer returning the wrong shape (a plugin's
                # bug) is named here instead of failing three layers later inside NumPy.
                if not isinstance(y, np.ndarray) or y.shape[1:] != shapes[out] or len(y) != n:
                    raise _wrong_output(layer, "forward", y, (n, *shapes[out]))
                for s in free:
                    values[s] = _NO_VALUE
                values[out] = y
        except LayerkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - any bug in a layer's code becomes its own error
            raise _layer_failed(layer, "forward", exc) from exc
        return values

    def forward(self, x: Any, *, train: bool = False) -> np.ndarray:
        """Scores for a batch (the input of the loss layer), in training or inference mode."""
        x = self._prepare(x)
        return self._run(x, train, self._steps, self._run_shapes)[self._scores_slot]

    def forward_values(self, x: Any, *, train: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output for a batch, by layer id (``"input"``: the data), loss excluded.

        Nothing is released, so this costs the memory of all activations at once; for
        inspection (``layerkit graph --values``, finding the first non-finite layer).
        """
        x = self._prepare(x)
        values = self._run(x, train, self._keep_steps, self._shapes)
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
        try:
            value = (
                loss.forward_validated(scores, t) if labels_validated else loss.forward(scores, t)
            )
        except LayerkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - see forward
            raise _layer_failed(loss, "forward", exc) from exc
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
        steps, wants, shapes = self._backward_steps, self._wants, self._run_shapes
        if record is not None:
            shapes = self._shapes
            steps = tuple(
                (layer, k + 1, self._sources[k], isinstance(layer, Merge))
                for k, layer in reversed(list(enumerate(self._layers[:-1])))
            )
            wants = [True] * len(wants)
            saved = [layer.needs_input_grad for layer in self._layers]
            for layer in self._layers:
                layer.needs_input_grad = True
        try:
            self._backward(steps, wants, shapes, record)
        finally:
            if record is not None:
                for layer, flag in zip(self._layers, saved):
                    layer.needs_input_grad = flag

    def _backward(
        self,
        steps: tuple[Any, ...],
        wants: list[bool],
        shapes: tuple[Shape, ...],
        record: dict[tuple[str, str], np.ndarray] | None,
    ) -> None:
        douts: list[Any] = [_NO_VALUE] * (len(self._layers) + 1)
        owned = [False] * len(douts)
        layer: Layer = self._loss_layer
        try:
            douts[self._scores_slot] = self._loss_layer.backward(1.0)
            if record is not None:
                record[(self._slot_name(self._scores_slot), str(self._loss_layer.id))] = np.array(
                    douts[self._scores_slot]
                )
            for layer, slot, srcs, merge in steps:
                dout = douts[slot]
                douts[slot] = _NO_VALUE  # released: nothing upstream reads it
                if merge:
                    for s, d in zip(srcs, layer.backward(dout)):  # type: ignore[arg-type]
                        if record is not None:
                            record[(self._slot_name(s), str(layer.id))] = np.array(
                                d
                            )  # a copy: buffers are reused
                        if wants[s]:
                            self._accumulate(douts, owned, s, d)
                else:
                    d = layer.backward(dout)
                    if d is None and not layer.needs_input_grad:  # no weights upstream
                        continue
                    # a layer returning the wrong dx (a plugin's bug) is named here, not later
                    n = len(dout)
                    if (
                        not isinstance(d, np.ndarray)
                        or d.shape[1:] != shapes[srcs[0]]
                        or len(d) != n
                    ):
                        raise _wrong_output(layer, "backward", d, (n, *shapes[srcs[0]]))
                    s = srcs[0]
                    if record is not None:
                        record[(self._slot_name(s), str(layer.id))] = np.array(
                            d
                        )  # a copy: buffers are reused
                    if (
                        douts[s] is _NO_VALUE
                    ):  # the only reader so far: no call, no copy (every chain step)
                        douts[s] = d
                    else:
                        self._accumulate(douts, owned, s, d)
        except LayerkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - see _run
            raise _layer_failed(layer, "backward", exc) from exc

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
            [_clone(layer) for layer in self._layers],
            wiring=self.wiring(),
            dtype=dtype,
            seed=self.seed,
        )
        clone._num_classes = self._num_classes
        if self.input_shape is not None:
            clone.build(self.input_shape)
            clone.load_state_dict(self.state_dict())
            clone.set_rng_state(self.rng_state())
        return clone

    def to_onnx(self, path: Any = None, **options: Any) -> Any:
        """Export this built network as a checked ONNX model (an ``onnx.ModelProto``).

        ``path`` (optional) is written atomically once the model passes ``onnx.checker``.
        Options: ``input_name``, ``class_names``, ``opset`` (default 17), ``dtype``,
        ``graph_name``, ``metadata``; see :func:`layerkit.export.to_onnx`. Needs the extra
        ``layerkit[onnx]``.
        """
        # The exporter is imported here, on use: it pulls in onnx, an optional extra.
        from layerkit.export import to_onnx

        return to_onnx(self, path, **options)

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
        layers = [
            _layer_from_entry(_without_inputs(entry), i, registry)
            for i, entry in enumerate(entries)
        ]
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
                "params": self._count(layer),
            }
            for layer, srcs in zip(self._layers, self._sources)
        ]

    def _count(self, layer: Layer) -> int:
        return layer.param_count() if self._allocated else self._planned_counts.get(layer.id, 0)

    def param_count(self) -> int:
        return sum(self._count(layer) for layer in self._layers)

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
        return (
            f"Network([{inner}]{wiring}, input_shape={self.input_shape}, dtype={self.dtype.name!r})"
        )


def _without_inputs(entry: Any) -> Any:
    if isinstance(entry, Mapping) and "inputs" in entry:
        return {k: v for k, v in entry.items() if k != "inputs"}
    return entry
