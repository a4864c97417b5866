"""Spec -> :class:`~layerkit.network.Network`, every shape inferred before any data is read.

The input shape comes from the dataset's ``describe()`` (cheap: nothing is loaded) or from
``model.input_shape``. Building the network runs each layer's ``build`` in order; a layer that
cannot take its input, a last layer whose outputs do not match the dataset's classes, or a layer
too large to allocate is reported at that layer's line in the YAML.
"""

from __future__ import annotations

from typing import Any

from layerkit._validation import format_loc
from layerkit.data.base import Dataset, DatasetInfo
from layerkit.errors import ConfigError, LayerkitError, MemoryBudgetError, SpecError, SpecIssue
from layerkit.layer_list import auto_ids
from layerkit.layers.base import Layer
from layerkit.network import Network, memory_budget_from_env
from layerkit.spec.blocks import relabel
from layerkit.spec.loader import validate_spec
from layerkit.spec.locate import locate
from layerkit.spec.models import Spec
from layerkit.spec.yamlio import Mark

__all__ = ["build_network", "dataset_info", "spec_from_network"]


def _issue(spec: Spec, loc: tuple[str | int, ...], message: str) -> SpecIssue:
    mark = locate(spec.source, loc) if spec.source is not None else None
    return relabel([(mark or Mark()).issue(format_loc(loc), message)], spec._origins)[0]


def dataset_info(spec: Spec, dataset: Dataset | None = None) -> DatasetInfo:
    """The shapes and classes of the spec's dataset (``dataset`` if already created), without
    loading it; a failure is reported at the spec's ``data`` section."""
    try:
        return (dataset or spec.data.create()).describe()
    except LayerkitError as exc:
        raise SpecError([_issue(spec, ("data",), str(exc))]) from None


def _input_shape(spec: Spec, info: DatasetInfo) -> tuple[int, ...]:
    declared = spec.model.input_shape
    if declared is not None and tuple(declared) != tuple(info.input_shape):
        raise SpecError(
            [
                _issue(
                    spec,
                    ("model", "input_shape"),
                    f"{spec.data.dataset} gives samples of shape {tuple(info.input_shape)} "
                    f"(received {tuple(declared)}); remove input_shape or change the dataset's options",
                )
            ]
        )
    return tuple(info.input_shape)


def _strip_label(message: str, label: str | None) -> str:
    prefix = f"{label}: "
    return message[len(prefix) :] if label and message.startswith(prefix) else message


def _classes_issue(
    spec: Spec, ordered: list[Layer], position: dict[int, int], info: DatasetInfo, exc: Exception
) -> SpecIssue:
    """Blame the layer that sets the width of the scores, when they do not match the classes.

    ``ordered`` are the network's layers in execution order; ``position`` maps each (by ``id()``)
    to its entry in ``model.layers``.
    """
    loss_at = position[id(ordered[-1])]
    scores = ordered[-2].output_shape if len(ordered) > 1 else None
    if scores is not None and len(scores) == 1 and scores[0] != info.num_classes:
        j = len(ordered) - 2
        # Activations, dropout, normalisation keep the width: the culprit is before them.
        while j > 0 and ordered[j].input_shape == ordered[j].output_shape:
            j -= 1
        k = position[id(ordered[j])]
        entry = spec.model.layers[k]
        has_units = "units" in entry.component.Params.model_fields
        loc: tuple[str | int, ...] = (
            ("model", "layers", k, "units") if has_units else ("model", "layers", k)
        )
        return _issue(
            spec,
            loc,
            f"{spec.data.dataset} has {info.num_classes} classes, so the scores before the loss "
            f"must have {info.num_classes} values (received {scores[0]})",
        )
    return _issue(spec, ("model", "layers", loss_at), _strip_label(str(exc), ordered[-1].label))


def _check_augmentations(spec: Spec, info: DatasetInfo) -> None:
    """Each ``data.augment`` entry must fit the dataset's samples (flips need images)."""
    issues = []
    for i, entry in enumerate(spec.data.augment):
        try:
            entry.create().check(tuple(info.input_shape))
        except LayerkitError as exc:
            issues.append(_issue(spec, ("data", "augment", i), str(exc)))
    if issues:
        raise SpecError(issues)


def build_network(spec: Spec, info: DatasetInfo | None = None, *, allocate: bool = True) -> Network:
    """The built :class:`~layerkit.network.Network` of ``spec`` (weights initialised from its seed).

    ``info`` describes the data (default: the spec's dataset's ``describe()``); a run passes the
    description it already has, a checkpoint the one it recorded. ``allocate=False`` infers
    shapes and counts parameters without creating any weight (see
    :meth:`~layerkit.network.Network.build`).

    Raises :class:`~layerkit.errors.SpecError` located at the offending layer when a shape does
    not work out or the weights exceed the memory budget.
    """
    if info is None:
        info = dataset_info(spec)
    shape = _input_shape(spec, info)
    _check_augmentations(spec, info)
    layers = [entry.create() for entry in spec.model.layers]
    # the ids the network will give them, so that inputs can name the automatic ones (relu1)
    for layer, ident in zip(
        layers, auto_ids([(entry.type, entry.id) for entry in spec.model.layers])
    ):
        layer.id = ident
    wiring = {
        str(layer.id): list(entry.inputs)
        for entry, layer in zip(spec.model.layers, layers)
        if entry.inputs is not None
    }
    try:
        network = Network(layers, wiring=wiring, dtype=spec.dtype, seed=spec.seed)
    except ConfigError as exc:  # the graph's rules: the loader checks them first, located
        raise SpecError([_issue(spec, ("model", "layers"), str(exc))]) from None
    position = {id(layer): i for i, layer in enumerate(layers)}
    budget = memory_budget_from_env()  # a bad setting is its own error, not the network's
    try:
        network.build(shape, num_classes=info.num_classes, allocate=allocate, memory_budget=budget)
    except Exception as exc:  # located below: a shape, an allocation, or a layer's own bug
        ordered = list(network.layers)  # execution order; failing_layer indexes it
        at = exc.layer_index if isinstance(exc, MemoryBudgetError) else network.failing_layer
        if at is None:  # every layer built: the loss rejected the scores
            raise SpecError([_classes_issue(spec, ordered, position, info, exc)]) from None
        failing = position[id(ordered[at])]
        layer = layers[failing]
        entry = spec.model.layers[failing]
        if isinstance(exc, LayerkitError):
            message = _strip_label(str(exc), layer.label)
        elif isinstance(exc, MemoryError):
            message = f"too large to allocate ({exc}) for input shape {layer.input_shape}"
        else:  # a bug in the layer's code, reported where it is used rather than as a traceback
            provider = entry.entry.distribution or entry.entry.plugin
            message = f"{entry.type} (from {provider}) failed to build: {type(exc).__name__}: {exc}"
        raise SpecError([_issue(spec, ("model", "layers", failing), message)]) from None
    return network


def spec_from_network(
    network: Network,
    *,
    name: str,
    data: dict[str, Any],
    train: dict[str, Any] | None = None,
    seed: int | None = None,
) -> Spec:
    """The spec of a built network (its ``config()``), with the given data and training sections.

    ``build_network(spec_from_network(net, ...))`` rebuilds the same architecture.
    """
    config = network.config()
    model: dict[str, Any] = {"layers": config["layers"]}
    raw: dict[str, Any] = {
        "name": name,
        "seed": network.seed if seed is None else seed,
        "dtype": config["dtype"],
        "data": data,
        "model": model,
    }
    if train is not None:
        raw["train"] = train
    return validate_spec(raw)
