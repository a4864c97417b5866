"""The rules of a sequential network's layer list, in one place.

:class:`~layerkit.network.Network` (on layer objects), the spec models (on validated entries),
the spec loader (on raw YAML, when other errors stopped validation early) and ``--set`` overrides
(which name layers by the id the network will give them) all apply these rules:

* a layer id starts with a letter or ``_`` and holds only letters, digits, ``_`` and ``-``
  (at most 64 characters): ids name parameters (``fc1.W``) and override paths
  (``model.layers.fc1.units``), where a leading digit would read as an index and a dot as a key;
* ids are unique; a layer without one gets ``<type><n>`` (:func:`auto_ids`);
* one loss layer, last; no two-input graph node (``forward(x, y)``) in the sequence.

Pure Python (no NumPy), so the cheap spec paths can use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "LAYER_ID_PATTERN",
    "LAYER_ID_MAX_LENGTH",
    "LAYER_ID_RULE",
    "Problem",
    "auto_ids",
    "layer_id_problem",
    "structure_problems",
]

#: The pattern every layer id matches (also in the JSON Schema of specs).
LAYER_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
LAYER_ID_MAX_LENGTH = 64
#: What :data:`LAYER_ID_PATTERN` says, in words.
LAYER_ID_RULE = "must start with a letter or '_' and hold only letters, digits, '_' and '-'"

_LAYER_ID = re.compile(LAYER_ID_PATTERN)

#: ``(loc, kind, message, received)``, ``loc`` relative to the ``model`` section
#: (``("layers", 3, "id")``).
Problem = tuple[tuple[str | int, ...], str, str, Any]


def layer_id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid layer id, or ``None`` when it is one."""
    if not isinstance(value, str) or not _LAYER_ID.match(value):
        return LAYER_ID_RULE
    if len(value) > LAYER_ID_MAX_LENGTH:
        return f"must have at most {LAYER_ID_MAX_LENGTH} characters"
    return None


def _id_base(type_name: str) -> str:
    """``Affine`` -> ``affine``; ``activations:GELU`` -> ``gelu`` (the plugin prefix dropped)."""
    return re.sub(r"[^a-z0-9_]", "", type_name.rpartition(":")[2].lower()) or "layer"


def auto_ids(layers: Sequence[tuple[str | None, str | None]]) -> list[str | None]:
    """The id of each ``(type name, id or None)`` in the built network: its own, or ``<type><n>``.

    ``n`` counts the layers of that type so far (``affine1``, ``relu1``, ``affine2``), skipping
    numbers an explicit id already took. An entry whose type is unknown (``None``) gets ``None``
    but does not disturb the others.
    """
    taken = {ident for _, ident in layers if isinstance(ident, str)}
    counts: dict[str, int] = {}
    ids: list[str | None] = []
    for type_name, ident in layers:
        if not isinstance(type_name, str):
            ids.append(ident if isinstance(ident, str) else None)
            continue
        base = _id_base(type_name)
        counts[base] = counts.get(base, 0) + 1
        if isinstance(ident, str):
            ids.append(ident)
            continue
        n = counts[base]
        while f"{base}{n}" in taken:
            n += 1
        taken.add(f"{base}{n}")
        ids.append(f"{base}{n}")
    return ids


def structure_problems(layers: Sequence[tuple[Any, Any, str | None]]) -> list[Problem]:
    """What makes a list of layers not a sequential network, located relative to ``model``.

    ``layers`` are ``(type, id, kind)`` per entry, ``kind`` being ``layer``, ``loss``, ``node``
    or ``None`` when unknown. Duplicate ids are reported here; the form of each id is
    :func:`layer_id_problem`'s (the spec checks it as a field).
    """
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    last = len(layers) - 1
    losses = [i for i, (_, _, kind) in enumerate(layers) if kind == "loss"]
    for i, (name, ident, kind) in enumerate(layers):
        if isinstance(ident, str):
            if ident in seen:
                message = f"duplicate id (also layers[{seen[ident]}])"
                problems.append((("layers", i, "id"), "duplicate_id", message, ident))
            seen.setdefault(ident, i)
        if kind == "node":
            message = (
                f"{name} is a two-input graph node (forward(x, y)); a network's layers each "
                "take one input: use it to build graphs by hand"
            )
            problems.append((("layers", i, "type"), "node_in_sequence", message, name))
        elif kind == "loss" and i != last:
            others = [f"layers[{j}]" for j in losses if j != i]
            extra = f"; a network has one loss, and {', '.join(others)} is another" if others else ""
            message = f"a loss layer must be the last layer ({last - i} layer(s) follow it){extra}"
            problems.append((("layers", i, "type"), "loss_not_last", message, name))
    if layers and not losses and layers[last][2] is not None:
        message = "the last layer must be a loss layer such as SoftmaxWithLoss or MeanSquaredError"
        problems.append((("layers", last, "type"), "no_loss", message, layers[last][0]))
    return problems
