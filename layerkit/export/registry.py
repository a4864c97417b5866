"""Which layers can be exported to ONNX, and by whose converter.

Converters reach layerkit through the hook ``layerkit_add_onnx_converters`` (see
:mod:`layerkit.hookspecs`), answered by the built-in plugin and by any installed plugin, as
scikit-learn-onnx lets third parties register a converter per estimator. The registry collects
the answers (:meth:`~layerkit.plugins.Registry.extension`: once per registry, with each
plugin's provenance and its failure rule); this module reads them into converters and applies
the rule for a layer several plugins convert. Collecting them imports no ``onnx``: converters
only call the :class:`~layerkit.export.context.ConversionContext` they are handed, so
``layerkit layers`` can say what exports without the extra installed.

Rules:

* a key is a layer class or a registered layer name (bare or ``plugin:Name``);
* a converter applies to exactly that class, not to its subclasses (a subclass may change the
  maths; it registers its own converter);
* several plugins may convert the same layer: the layer's own plugin wins; between plugins that
  do not own it, the choice is ambiguous and exporting that layer is an error naming both;
* a plugin whose hook raises or returns something else loses its converters with one
  :class:`~layerkit.errors.PluginWarning`; its layers keep working (they just do not export).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from layerkit.errors import ExportError, PluginError
from layerkit.layers.base import Layer
from layerkit.plugins import (
    PluginRejected,
    Provenance,
    Registry,
    distribution_of,
    get_registry,
)

__all__ = [
    "HOOK",
    "Converter",
    "ConverterEntry",
    "ConverterTable",
    "ExportStatus",
    "converter_table",
    "export_status",
    "layer_origin",
]

HOOK = "layerkit_add_onnx_converters"

#: ``converter(ctx, layer, inputs) -> output value name``
Converter = Callable[..., Any]


@dataclass(frozen=True)
class ConverterEntry:
    """One registered converter and the plugin it came from."""

    layer: type
    converter: Converter
    source: Provenance

    @property
    def plugin(self) -> str:
        return self.source.plugin

    @property
    def origin(self) -> str:
        return self.source.label


@dataclass
class ConverterTable:
    """Layer class -> the converters registered for it."""

    registry: Registry
    by_layer: dict[type, list[ConverterEntry]] = field(default_factory=dict)

    def candidates(self, layer_cls: type) -> list[ConverterEntry]:
        return list(self.by_layer.get(layer_cls, ()))

    def lookup(self, layer_cls: type) -> ConverterEntry | None:
        """The converter for ``layer_cls``, ``None`` if there is none.

        Raises :class:`ExportError` when plugins that do not own the layer both convert it.
        """
        found = self.by_layer.get(layer_cls, [])
        if len(found) <= 1:
            return found[0] if found else None
        owner = self.owner(layer_cls)
        own = [e for e in found if e.plugin == owner]
        if own:
            return own[0]
        providers = " and ".join(e.origin for e in found)
        raise ExportError(
            f"layer type {getattr(layer_cls, 'name', layer_cls.__name__)!r} has converters from "
            f"{providers}, none of them the layer's own plugin; uninstall or disable one "
            "(-p no:PLUGIN)"
        )

    def owner(self, layer_cls: type) -> str | None:
        """The plugin that registers ``layer_cls`` as a layer, if any."""
        entry = self.registry.entry_of("layers", layer_cls)
        return entry.plugin if entry else None


@dataclass(frozen=True)
class ExportStatus:
    """Whether a registered layer can be exported, and whose converter would do it."""

    exportable: bool
    converter_plugin: str | None = None
    #: the converter comes from another plugin than the layer's own
    foreign: bool = False
    problem: str | None = None

    def __str__(self) -> str:
        if self.problem:
            return "ambiguous"
        if not self.exportable:
            return "no"
        return f"yes (plugin {self.converter_plugin})" if self.foreign else "yes"

    def to_dict(self) -> dict[str, Any]:
        return {
            "exportable": self.exportable,
            "converter_plugin": self.converter_plugin,
            "problem": self.problem,
        }


def export_status(entry: Any, table: ConverterTable) -> ExportStatus | None:
    """The ONNX status of a registry entry; ``None`` for optimizers and datasets."""
    if entry.group != "layers":
        return None
    try:
        found = table.lookup(entry.component)
    except ExportError as exc:
        return ExportStatus(False, problem=str(exc))
    if found is None:
        return ExportStatus(False)
    return ExportStatus(True, found.plugin, foreign=found.plugin != entry.plugin)


def layer_origin(layer_cls: type, registry: Registry | None = None) -> str:
    """``plugin 'activations' (layerkit-activations 0.1.0)``: where a layer class comes from."""
    registry = registry or get_registry()
    entry = registry.entry_of("layers", layer_cls)
    if entry is not None:
        return entry.provenance.label
    module = layer_cls.__module__
    dist, version = distribution_of(module)
    where = f"{dist} {version}" if dist and version else dist or "no distribution"
    return f"module {module} ({where}), not a registered plugin layer"


def converter_table(registry: Registry | None = None) -> ConverterTable:
    """Every converter the loaded plugins register (their hooks are called once per registry)."""
    registry = registry or get_registry()
    table = ConverterTable(registry)
    for entry in registry.extension(HOOK, partial(_read, registry), "ONNX converters"):
        table.by_layer.setdefault(entry.layer, []).append(entry)
    return table


def _read(registry: Registry, answer: Any, source: Provenance) -> list[ConverterEntry]:
    """One plugin's ``{layer class or name: converter}``; :class:`PluginRejected` if unusable."""
    if not isinstance(answer, Mapping):
        raise PluginRejected(
            f"{HOOK}() must return a mapping of layer class (or name) to converter "
            f"(received {type(answer).__name__})"
        )
    entries = []
    for key, converter in answer.items():
        layer_cls = _resolve_key(registry, key)
        if not callable(converter):
            raise PluginRejected(
                f"{HOOK}(): the converter for {key!r} is not callable ({converter!r})"
            )
        entries.append(ConverterEntry(layer_cls, converter, source))
    return entries


def _resolve_key(registry: Registry, key: Any) -> type:
    if isinstance(key, type):
        if not issubclass(key, Layer):
            raise PluginRejected(f"{HOOK}(): key {key.__qualname__} is not a layerkit Layer class")
        return key
    if isinstance(key, str):
        try:
            return registry.layer(key)
        except PluginError as exc:
            raise PluginRejected(f"{HOOK}(): key {key!r}: {exc}") from None
    raise PluginRejected(f"{HOOK}(): keys must be layer classes or names (received {key!r})")
