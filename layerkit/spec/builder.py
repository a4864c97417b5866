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
from layerkit.errors import LayerkitError, SpecError, SpecIssue
from layerkit.layers.base import Layer
from layerkit.network import Network
from layerkit.spec.loader import validate_spec
from layerkit.spec.locate import locate
from layerkit.spec.models import Spec
from layerkit.spec.yamlio import Mark

__all__ = ["build_network", "dataset_info", "spec_from_network"]


def _issue(spec: Spec, loc: tuple[str | int, ...], message: str) -> SpecIssue:
    mark = locate(spec.source, loc) if spec.source is not None else None
    return (mark or Mark()).issue(format_loc(loc), message)


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
        raise SpecError([_issue(
            spec, ("model", "input_shape"),
            f"{spec.data.dataset} gives samples of shape {tuple(info.input_shape)} "
            f"(received {tuple(declared)}); remove input_shape or change the dataset's options",
        )])
    return tuple(info.input_shape)


def _strip_label(message: str, label: str | None) -> str:
    prefix = f"{label}: "
    return message[len(prefix):] if label and message.startswith(prefix) else message


def _classes_issue(spec: Spec, layers: list[Layer], info: DatasetInfo, exc: Exception) -> SpecIssue:
    """Blame the layer that sets the width of the scores, when they do not match the classes."""
    loss_at = len(layers) - 1
    scores = layers[-2].output_shape if len(layers) > 1 else None
    if scores is not None and len(scores) == 1 and scores[0] != info.num_classes:
        j = loss_at - 1
        # Activations, dropout, normalisation keep the width: the culprit is before them.
        while j > 0 and layers[j].input_shape == layers[j].output_shape:
            j -= 1
        entry = spec.model.layers[j]
        has_units = "units" in entry.component.Params.model_fields
        loc: tuple[str | int, ...] = ("model", "layers", j, "units") if has_units else ("model", "layers", j)
        return _issue(
            spec, loc,
            f"{spec.data.dataset} has {info.num_classes} classes, so the scores before the loss "
            f"must have {info.num_classes} values (received {scores[0]})",
        )
    return _issue(spec, ("model", "layers", loss_at), _strip_label(str(exc), layers[-1].label))


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


def build_network(spec: Spec, info: DatasetInfo | None = None) -> Network:
    """The built :class:`~layerkit.network.Network` of ``spec`` (weights initialised from its seed).

    ``info`` describes the data (default: the spec's dataset's ``describe()``); a run passes the
    description it already has, a checkpoint the one it recorded.

    Raises :class:`~layerkit.errors.SpecError` located at the offending layer when a shape does
    not work out.
    """
    if info is None:
        info = dataset_info(spec)
    shape = _input_shape(spec, info)
    _check_augmentations(spec, info)
    layers = [entry.create() for entry in spec.model.layers]
    network = Network(layers, dtype=spec.dtype, seed=spec.seed)
    try:
        network.build(shape, num_classes=info.num_classes)
    except Exception as exc:  # located below: a shape, an allocation, or a layer's own bug
        failing = next((i for i, layer in enumerate(layers) if not layer.built), None)
        if failing is None:  # every layer built: the loss rejected the scores
            raise SpecError([_classes_issue(spec, layers, info, exc)]) from None
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
