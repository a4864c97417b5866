"""Which layers can be exported to ONNX, and by whose converter.

Converters reach layerkit through the hook ``layerkit_add_onnx_converters`` (see
:mod:`layerkit.hookspecs`), answered by the built-in plugin and by any installed plugin, as
scikit-learn-onnx lets third parties register a converter per estimator. Collecting them imports
no ``onnx``: converters only call the :class:`~layerkit.export.context.ConversionContext` they
are handed, so ``layerkit layers`` can say what exports without the extra installed.

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

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from layerkit.errors import ExportError, PluginError, PluginWarning
from layerkit.layers.base import Layer
from layerkit.plugins import Registry, describe_exception, distribution_of, get_registry

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
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def origin(self) -> str:
        return _plugin_label(self.plugin, self.distribution, self.version)


def _plugin_label(plugin: str, distribution: str | None, version: str | None) -> str:
    """``plugin 'activations' (layerkit-activations 0.1.0)``."""
    dist = distribution or "no distribution"
    return f"plugin {plugin!r} ({dist}{' ' + version if version else ''})"


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
        return next(
            (e.plugin for e in self.registry.entries("layers") if e.component is layer_cls), None
        )


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
    entry = next((e for e in registry.entries("layers") if e.component is layer_cls), None)
    if entry is not None:
        return _plugin_label(entry.plugin, entry.distribution, entry.version)
    module = layer_cls.__module__
    dist, version = distribution_of(module)
    where = f"{dist} {version}" if dist and version else dist or "no distribution"
    return f"module {module} ({where}), not a registered plugin layer"


_CACHE: dict[int, ConverterTable] = {}


def converter_table(registry: Registry | None = None) -> ConverterTable:
    """Every converter the loaded plugins register (collected once per registry)."""
    registry = registry or get_registry()
    cached = _CACHE.get(id(registry))
    if cached is not None and cached.registry is registry:
        return cached
    table = ConverterTable(registry)
    manager = registry.manager
    if manager is not None:
        for impl in getattr(manager.hook, HOOK).get_hookimpls():
            try:
                entries = _collect(registry, impl.plugin_name, impl.function)
            except _Rejected as exc:
                if impl.plugin_name == "builtins":  # layerkit's own: a bug, not a plugin to skip
                    raise PluginError(f"layerkit's built-in converters are broken: {exc}") from None
                info = registry.plugin(impl.plugin_name)
                where = f" from {info.origin}" if info else ""
                warnings.warn(
                    f"plugin {impl.plugin_name!r}{where}: {exc}; its ONNX converters are unavailable",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            for entry in entries:
                table.by_layer.setdefault(entry.layer, []).append(entry)
    _CACHE.clear()  # one registry is live at a time
    _CACHE[id(registry)] = table
    return table


class _Rejected(Exception):
    """A plugin's converter hook answered with something unusable; the message says what."""


def _collect(registry: Registry, plugin: str, hook: Callable[[], Any]) -> list[ConverterEntry]:
    try:
        result = hook()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
        raise _Rejected(f"{HOOK}() raised {describe_exception(exc)}") from None
    if result is None:
        return []
    if not isinstance(result, Mapping):
        raise _Rejected(
            f"{HOOK}() must return a mapping of layer class (or name) to converter "
            f"(received {type(result).__name__})"
        )
    info = registry.plugin(plugin)
    entries = []
    for key, converter in result.items():
        layer_cls = _resolve_key(registry, key)
        if not callable(converter):
            raise _Rejected(f"{HOOK}(): the converter for {key!r} is not callable ({converter!r})")
        entries.append(
            ConverterEntry(
                layer_cls,
                converter,
                plugin,
                info.distribution if info else None,
                info.version if info else None,
            )
        )
    return entries


def _resolve_key(registry: Registry, key: Any) -> type:
    if isinstance(key, type):
        if not issubclass(key, Layer):
            raise _Rejected(f"{HOOK}(): key {key.__qualname__} is not a layerkit Layer class")
        return key
    if isinstance(key, str):
        try:
            return registry.layer(key)
        except PluginError as exc:
            raise _Rejected(f"{HOOK}(): key {key!r}: {exc}") from None
    raise _Rejected(f"{HOOK}(): keys must be layer classes or names (received {key!r})")
