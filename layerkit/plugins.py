"""Plugin manager and component registry (minimal first version; hardened by the Plugins issue).

Public interface used across layerkit:

* :func:`get_registry` -> :class:`Registry` (cached per process; ``reload=True`` rebuilds).
* ``Registry.layer(name)``, ``.optimizer(name)``, ``.dataset(name)`` -> component class, or
  :class:`~layerkit.errors.PluginError` with did-you-mean and the names available.
* ``Registry.entries(group)`` -> list of :class:`Entry` with provenance, for CLI listings and
  the spec schema. ``group`` is ``"layers"``, ``"optimizers"`` or ``"datasets"``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from layerkit import hookspecs
from layerkit.errors import PluginError

__all__ = ["Entry", "Registry", "get_registry", "ENTRY_POINT_GROUP", "GROUPS"]

ENTRY_POINT_GROUP = "layerkit"
GROUPS = {
    "layers": "layerkit_add_layers",
    "optimizers": "layerkit_add_optimizers",
    "datasets": "layerkit_add_datasets",
}
_SINGULAR = {"layers": "layer", "optimizers": "optimizer", "datasets": "dataset"}


@dataclass(frozen=True)
class Entry:
    """One registered component and where it came from."""

    name: str
    group: str
    component: type
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def module(self) -> str:
        return self.component.__module__

    @property
    def kind(self) -> str:
        return str(getattr(self.component, "kind", _SINGULAR[self.group]))

    @property
    def summary(self) -> str:
        return str(self.component.summary()) if hasattr(self.component, "summary") else ""


@dataclass
class Registry:
    """Name -> component for each group, with provenance."""

    by_group: dict[str, list[Entry]] = field(default_factory=lambda: {g: [] for g in GROUPS})

    def entries(self, group: str) -> list[Entry]:
        return list(self.by_group[group])

    def names(self, group: str) -> list[str]:
        return sorted({e.name for e in self.by_group[group]})

    def lookup(self, group: str, name: str) -> Entry:
        entries = self.by_group[group]
        if ":" in name:
            matches = [e for e in entries if e.qualified_name == name]
        else:
            matches = [e for e in entries if e.name == name]
        if len(matches) == 1:
            return matches[0]
        what = _SINGULAR[group]
        if not matches:
            names = self.names(group)
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PluginError(
                f"unknown {what} {name!r}{hint} (available: {', '.join(names) or 'none'})"
            )
        choices = ", ".join(f"{e.qualified_name} (from {e.distribution or e.plugin})" for e in matches)
        raise PluginError(f"{what} name {name!r} is ambiguous; use a qualified name: {choices}")

    def layer(self, name: str) -> type:
        return self.lookup("layers", name).component

    def optimizer(self, name: str) -> type:
        return self.lookup("optimizers", name).component

    def dataset(self, name: str) -> type:
        return self.lookup("datasets", name).component


_REGISTRY: Registry | None = None


def _make_manager() -> tuple[pluggy.PluginManager, dict[str, tuple[str | None, str | None]]]:
    from layerkit import builtins

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(builtins, name="builtins")
    dists: dict[str, tuple[str | None, str | None]] = {"builtins": ("layerkit", _version("layerkit"))}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        module = ep.load()
        pm.register(module, name=ep.name)
        dist = ep.dist
        dists[ep.name] = (dist.name if dist else None, dist.version if dist else None)
    pm.check_pending()
    return pm, dists


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def get_registry(*, reload: bool = False) -> Registry:
    """The registry of every component from the built-ins and installed plugins."""
    global _REGISTRY
    if _REGISTRY is not None and not reload:
        return _REGISTRY
    pm, dists = _make_manager()
    registry = Registry()
    for group, hook_name in GROUPS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            result: Any = impl.function()
            dist, version = dists.get(impl.plugin_name, (None, None))
            for component in result or ():
                registry.by_group[group].append(
                    Entry(component.name, group, component, impl.plugin_name, dist, version)
                )
    _REGISTRY = registry
    return registry
