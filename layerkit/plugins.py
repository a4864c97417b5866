"""Plugin manager and component registry.

Every layer, loss, optimizer, dataset, augmentation and training callback reaches layerkit through the hooks of
:mod:`layerkit.hookspecs`, answered by plugins registered with one pluggy ``PluginManager``:

* the built-in plugin :mod:`layerkit.builtins` (plugin ``builtins``, distribution ``layerkit``);
* every entry point of the ``layerkit`` group in the installed distributions;
* modules named explicitly with ``-p NAME`` or ``LAYERKIT_PLUGINS=NAME,...``.

Control, as pytest users know it:

* ``LAYERKIT_DISABLE_PLUGINS=a,b`` or ``-p no:a``: never import plugin ``a``;
* ``LAYERKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry point except those named explicitly;
* ``LAYERKIT_STRICT_PLUGINS=1`` or ``--strict-plugins``: any load failure is fatal.

A plugin that fails to load (import error, a hookimpl pluggy rejects, a hook that raises or
returns something that is not a component) is quarantined: none of its components is
registered, one :class:`~layerkit.errors.PluginWarning` names the plugin, its distribution and
the cause, and everything else works. Two plugins may provide the same name; neither overrides
the other: the bare name is then an error and ``<plugin>:<Name>`` picks one.

Public interface used across layerkit:

* :func:`get_registry` -> :class:`Registry` (cached per process; ``reload=True`` rebuilds).
* ``Registry.layer(name)``, ``.optimizer(name)``, ``.dataset(name)``, ``.augmentation(name)``,
  ``.callback(name)`` -> component class, or
  :class:`~layerkit.errors.PluginError` with did-you-mean and the names available.
* ``Registry.entries(group)`` -> list of :class:`Entry` with provenance, for CLI listings and
  the spec schema. ``group`` is ``"layers"``, ``"optimizers"``, ``"datasets"``,
  ``"augmentations"`` or ``"callbacks"``.
* ``Registry.extension(hook, read, what)`` -> what the plugins answer to a hook beyond the
  component groups (``layerkit_add_onnx_converters``), with each answer's :class:`Provenance`;
  a broken answer costs its plugin only that hook's items, with one warning.
* :func:`configure` applies the command line's ``-p`` and ``--strict-plugins``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import traceback
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module, metadata
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel

from layerkit import hookspecs
from layerkit._validation import did_you_mean, short_repr
from layerkit._version import __version__
from layerkit.component import record_origin
from layerkit.errors import PluginError, PluginWarning

__all__ = [
    "BUILTIN_PLUGIN",
    "RESERVED_NAMES",
    "ENTRY_POINT_GROUP",
    "GROUPS",
    "SINGULAR",
    "Entry",
    "LoadFailure",
    "PluginInfo",
    "PluginRejected",
    "PluginSettings",
    "Provenance",
    "Registry",
    "configure",
    "describe_exception",
    "distribution_of",
    "get_registry",
]

ENTRY_POINT_GROUP = "layerkit"
BUILTIN_PLUGIN = "builtins"
#: plugin names no third-party entry point may take (they could then never be disabled by name)
RESERVED_NAMES = frozenset({BUILTIN_PLUGIN, "layerkit", "layerkit.builtins"})
#: group -> the hook that provides its components
GROUPS = {
    "layers": "layerkit_add_layers",
    "optimizers": "layerkit_add_optimizers",
    "datasets": "layerkit_add_datasets",
    "augmentations": "layerkit_add_augmentations",
    "callbacks": "layerkit_add_callbacks",
}
#: group -> what one of its components is called in messages
SINGULAR = {
    "layers": "layer",
    "optimizers": "optimizer",
    "datasets": "dataset",
    "augmentations": "augmentation",
    "callbacks": "callback",
}
#: group -> (module, class) every component of the group must subclass
_BASES = {
    "layers": ("layerkit.layers.base", "Layer"),
    "optimizers": ("layerkit.optimizers.base", "Optimizer"),
    "datasets": ("layerkit.data.base", "Dataset"),
    "callbacks": ("layerkit.training.callbacks", "RegisteredCallback"),
    "augmentations": ("layerkit.data.augment", "Augmentation"),
}

T = TypeVar("T")

ENV_DISABLE = "LAYERKIT_DISABLE_PLUGINS"
ENV_NO_AUTOLOAD = "LAYERKIT_DISABLE_PLUGIN_AUTOLOAD"
ENV_PLUGINS = "LAYERKIT_PLUGINS"
ENV_STRICT = "LAYERKIT_STRICT_PLUGINS"
_FALSE = {"", "0", "false", "no", "off"}


# -- what the registry holds ---------------------------------------------------------------


class PluginRejected(Exception):
    """What a plugin answered cannot be used (or the plugin cannot load); the message says why.

    Raised while a plugin loads (it is then quarantined) and by the ``read`` function given to
    :meth:`Registry.extension` (the plugin then loses that hook's answer only).
    """


@dataclass(frozen=True)
class Provenance:
    """The plugin something came from: its name, distribution and version."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def label(self) -> str:
        """``plugin 'activations' (layerkit-activations 0.1.0)``."""
        dist = self.distribution or "no distribution"
        return f"plugin {self.plugin!r} ({dist}{' ' + self.version if self.version else ''})"


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
        """``<plugin>:<name>``, which names this entry even when another plugin shares its name."""
        return f"{self.plugin}:{self.name}"

    @property
    def module(self) -> str:
        return self.component.__module__

    @property
    def provenance(self) -> Provenance:
        return Provenance(self.plugin, self.distribution, self.version)

    @property
    def origin(self) -> str:
        """``layerkit-activations 0.1.0``: the distribution (and version) providing this entry."""
        return _origin(self.distribution, self.version, self.module)

    @property
    def kind(self) -> str:
        """``layer``, ``loss`` or ``node`` for layers; ``optimizer``, ``dataset`` or ``callback`` otherwise."""
        return str(getattr(self.component, "kind", SINGULAR[self.group]))

    @property
    def summary(self) -> str:
        summary = getattr(self.component, "summary", None)
        return str(summary()) if callable(summary) else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "qualified_name": self.qualified_name,
            "group": self.group,
            "kind": self.kind,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class PluginInfo:
    """A plugin that loaded: its name, module and distribution."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    #: the hooks it implements
    hooks: tuple[str, ...] = ()
    #: loaded because ``-p`` / ``LAYERKIT_PLUGINS`` named it (not by entry-point autoload)
    explicit: bool = False

    @property
    def origin(self) -> str:
        return _origin(self.distribution, self.version, self.module)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
            "explicit": self.explicit,
        }


@dataclass(frozen=True)
class LoadFailure:
    """A plugin that was quarantined, and why."""

    plugin: str
    module: str
    distribution: str | None
    version: str | None
    cause: str

    @property
    def origin(self) -> str:
        return _origin(self.distribution, self.version, self.module)

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from {self.origin} failed to load: {self.cause}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "cause": self.cause,
        }


def _origin(distribution: str | None, version: str | None, module: str) -> str:
    if distribution is None:
        return f"module {module} (no distribution)"
    return f"{distribution} {version}" if version else distribution


@dataclass
class Registry:
    """Name -> component for each group, with provenance, plus what failed to load."""

    by_group: dict[str, list[Entry]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)
    #: installed plugins left out by LAYERKIT_DISABLE_PLUGINS / ``-p no:NAME``
    disabled: list[str] = field(default_factory=list)
    settings: PluginSettings | None = None
    #: the plugin manager, for hooks beyond the component hooks
    manager: pluggy.PluginManager | None = field(default=None, repr=False)
    #: the answers of extension hooks, read once per registry (see :meth:`extension`)
    _extensions: dict[str, list[Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # a registry assembled by hand may leave groups out: they hold no components
        for group in GROUPS:
            self.by_group.setdefault(group, [])

    def entries(self, group: str) -> list[Entry]:
        return list(self._group(group))

    def names(self, group: str) -> list[str]:
        """Every bare name of ``group`` (a name two plugins share appears once)."""
        return sorted({e.name for e in self._group(group)})

    def is_ambiguous(self, group: str, name: str) -> bool:
        return sum(e.name == name for e in self._group(group)) > 1

    def display_name(self, entry: Entry) -> str:
        """The name a user types for ``entry``: qualified only when its bare name is shared."""
        return entry.qualified_name if self.is_ambiguous(entry.group, entry.name) else entry.name

    def spellings(self, entry: Entry) -> list[str]:
        """Every name :meth:`lookup` resolves to ``entry``, its display name first.

        The qualified ``plugin:Name`` always works; the bare name only while no other plugin
        provides it. Names are case-sensitive, as Python class names are.
        """
        return list(dict.fromkeys((self.display_name(entry), entry.qualified_name)))

    def usable_names(self, group: str) -> list[str]:
        """Names that resolve to exactly one component: unique bare names, qualified otherwise."""
        return sorted({self.display_name(e) for e in self._group(group)}, key=str.lower)

    def plugin(self, name: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.name == name), None)

    def entry_of(self, group: str, component: type) -> Entry | None:
        """The entry registering exactly ``component`` in ``group``, if any plugin does."""
        return next((e for e in self._group(group) if e.component is component), None)

    def extension(
        self, hook_name: str, read: Callable[[Any, Provenance], Iterable[T]], what: str
    ) -> list[T]:
        """What the loaded plugins answer to ``hook_name``, a hook beyond the component groups.

        Each plugin's answer is read by ``read(answer, provenance)`` into items (``None``
        answers nothing). The hook is called once per registry, after every plugin has loaded
        (so ``read`` may look up any plugin's components), in the order the plugins loaded;
        later calls return the same items. A plugin whose hook raises, or whose answer ``read``
        rejects with :class:`PluginRejected`, loses only its ``what`` (one
        :class:`~layerkit.errors.PluginWarning` says so); its components stay registered. In
        layerkit's own plugin that is a bug, raised as :class:`~layerkit.errors.PluginError`.
        """
        if hook_name in self._extensions:
            return list(self._extensions[hook_name])
        items: list[T] = []
        impls = getattr(self.manager.hook, hook_name).get_hookimpls() if self.manager else []
        for impl in impls:
            info = self.plugin(impl.plugin_name)
            source = Provenance(
                impl.plugin_name,
                info.distribution if info else None,
                info.version if info else None,
            )
            try:
                answer = _answer(hook_name, impl)
                # pluggy's convention: None means "nothing from me"; all of an answer or none
                items += [] if answer is None else list(read(answer, source))
            except PluginRejected as exc:
                if impl.plugin_name == BUILTIN_PLUGIN:
                    raise PluginError(f"layerkit's built-in {what} are broken: {exc}") from None
                where = f" from {info.origin}" if info else ""
                warnings.warn(
                    f"plugin {impl.plugin_name!r}{where}: {exc}; its {what} are unavailable",
                    PluginWarning,
                    stacklevel=3,  # the caller of the function that asked for the answers
                )
        self._extensions[hook_name] = items
        return list(items)

    def lookup(self, group: str, name: str) -> Entry:
        """The entry called ``name`` (bare or ``plugin:Name``) in ``group``, or :class:`PluginError`."""
        entries = self._group(group)
        what = SINGULAR[group]
        if not isinstance(name, str) or not name:
            raise PluginError(f"{what} name must be a non-empty string (received {name!r})")
        plugin, sep, bare = name.rpartition(":")
        if sep:
            matches = [e for e in entries if e.plugin == plugin and e.name == bare]
        else:
            matches = [e for e in entries if e.name == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            providers = " and ".join(
                f"{_origin(e.distribution, e.version, e.module)} (plugin {e.plugin!r})"
                for e in matches
            )
            choices = " or ".join(repr(e.qualified_name) for e in matches)
            raise PluginError(
                f"{what} name {name!r} is ambiguous: it is provided by {providers}; "
                f"use a qualified name: {choices}"
            )
        if sep:
            raise PluginError(self._unknown_qualified(group, plugin, bare))
        raise PluginError(self._unknown_bare(group, name))

    def layer(self, name: str) -> type:
        return self.lookup("layers", name).component

    def optimizer(self, name: str) -> type:
        return self.lookup("optimizers", name).component

    def dataset(self, name: str) -> type:
        return self.lookup("datasets", name).component

    def callback(self, name: str) -> type:
        return self.lookup("callbacks", name).component

    def augmentation(self, name: str) -> type:
        return self.lookup("augmentations", name).component

    # -- messages ----------------------------------------------------------------------------

    def _group(self, group: str) -> list[Entry]:
        if group not in GROUPS:
            raise ValueError(
                f"unknown component group {group!r} (expected one of {', '.join(GROUPS)})"
            )
        return self.by_group.get(group, [])  # a registry made by hand may leave groups out

    def _unknown_bare(self, group: str, name: str) -> str:
        what = SINGULAR[group]
        usable = self.usable_names(group)
        text = f"unknown {what} {name!r}{did_you_mean(name, usable)} (available: {', '.join(usable) or 'none'})"
        if len(self.failures) == 1:
            text += f"; 1 plugin could not be loaded and may provide it: {self.failures[0]}"
        elif self.failures:
            listed = ", ".join(f"{f.plugin!r} ({f.origin})" for f in self.failures)
            text += (
                f"; {len(self.failures)} plugins could not be loaded and may provide it: {listed} "
                "(`layerkit plugins` shows why)"
            )
        if self.disabled:
            text += f"; disabled plugins: {', '.join(self.disabled)}"
        return text

    def _unknown_qualified(self, group: str, plugin: str, bare: str) -> str:
        what = SINGULAR[group]
        name = f"{plugin}:{bare}"
        failure = next((f for f in self.failures if f.plugin == plugin), None)
        if failure is not None:
            return f"{what} {name!r} is unavailable: {failure}"
        if plugin in self.disabled:
            return (
                f"{what} {name!r} is unavailable: plugin {plugin!r} is disabled "
                f"(by {ENV_DISABLE} or -p no:{plugin})"
            )
        info = self.plugin(plugin)
        if info is None:
            loaded = [p.name for p in self.plugins]
            return f"unknown plugin {plugin!r} in {name!r}{did_you_mean(plugin, loaded)} (loaded plugins: {', '.join(loaded)})"
        own = sorted(e.name for e in self._group(group) if e.plugin == plugin)
        elsewhere = [repr(e.qualified_name) for e in self._group(group) if e.name == bare]
        hint = f"; it is {' or '.join(elsewhere)}" if elsewhere else did_you_mean(bare, own)
        return (
            f"plugin {plugin!r} ({info.origin}) provides no {what} {bare!r}{hint} "
            f"(its {group}: {', '.join(own) or 'none'})"
        )


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PluginSettings:
    """Which plugins to load: the environment merged with the command line's options."""

    disabled: frozenset[str] = frozenset()
    explicit: tuple[str, ...] = ()
    autoload: bool = True
    strict: bool = False

    @classmethod
    def resolve(
        cls,
        options: Iterable[str] = (),
        *,
        strict: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> PluginSettings:
        """Merge ``-p`` options (``NAME`` or ``no:NAME``) with the ``LAYERKIT_*`` variables."""
        env = os.environ if environ is None else environ
        disabled = set(_split(env.get(ENV_DISABLE, "")))
        explicit = list(_split(env.get(ENV_PLUGINS, "")))
        for option in options:
            if option.strip().startswith("no:"):
                disabled.add(_option_name(option.strip()[3:], option))
            else:
                explicit.append(_option_name(option, option))
        reserved = disabled & {BUILTIN_PLUGIN, "layerkit.builtins"}
        if reserved:
            raise PluginError(
                f"cannot disable {min(reserved)!r}: layerkit's built-in components always load"
            )
        return cls(
            disabled=frozenset(disabled),
            explicit=tuple(dict.fromkeys(explicit)),
            autoload=not _flag(env.get(ENV_NO_AUTOLOAD)),
            strict=strict or _flag(env.get(ENV_STRICT)),
        )

    def is_disabled(self, name: str, module: str) -> bool:
        return name in self.disabled or module in self.disabled

    def to_dict(self) -> dict[str, Any]:
        return {
            "disabled": sorted(self.disabled),
            "explicit": list(self.explicit),
            "autoload": self.autoload,
            "strict": self.strict,
        }


def _split(value: str) -> Iterable[str]:
    return (part.strip() for part in value.split(",") if part.strip())


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _FALSE


def _option_name(name: str, option: str) -> str:
    name = name.strip()
    if not name:
        raise PluginError(f"-p {option!r}: expected a plugin name (-p NAME or -p no:NAME)")
    return name


_LOCK = threading.RLock()
_REGISTRY: Registry | None = None
_OPTIONS: tuple[str, ...] = ()
_STRICT = False


def configure(options: Iterable[str] = (), strict: bool = False) -> None:
    """Apply the command line's ``-p NAME`` / ``-p no:NAME`` options and ``--strict-plugins``.

    They add to the ``LAYERKIT_*`` environment variables; the next :func:`get_registry` call
    rebuilds the registry with them.
    """
    global _OPTIONS, _STRICT, _REGISTRY
    options = tuple(options)
    PluginSettings.resolve(options, strict=strict)  # reject bad options now, not at first use
    with _LOCK:
        _OPTIONS, _STRICT, _REGISTRY = options, bool(strict), None


def get_registry(*, reload: bool = False) -> Registry:
    """The registry of every component from the built-ins and installed plugins.

    Built once per process (``reload=True`` rebuilds it, re-reading the environment and the
    installed distributions). Each quarantined plugin emits one :class:`PluginWarning`; in strict
    mode any load failure raises :class:`PluginError` instead.
    """
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is not None and not reload:
            return _REGISTRY
        settings = PluginSettings.resolve(_OPTIONS, strict=_STRICT)
        registry = _Loader(settings).load()
        if registry.failures and settings.strict:
            listed = "\n".join(f"  {f}" for f in registry.failures)
            raise PluginError(
                f"{len(registry.failures)} plugin(s) failed to load (strict mode, "
                f"{ENV_STRICT}=1 or --strict-plugins):\n{listed}"
            )
        for failure in registry.failures:
            warnings.warn(f"{failure}; its components are unavailable", PluginWarning, stacklevel=2)
        _REGISTRY = registry
        return registry


# -- loading -------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """A plugin to load: its name and provenance, and how to import it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    load: Callable[[], object]
    explicit: bool = False
    #: layerkit's own plugin: a failure there is a bug in layerkit, raised as such
    builtin: bool = False

    def failure(self, cause: str) -> LoadFailure:
        return LoadFailure(self.name, self.module, self.distribution, self.version, cause)


class _Loader:
    def __init__(self, settings: PluginSettings) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry(settings=settings, manager=self.pm)

    def load(self) -> Registry:
        for candidate in self._candidates():
            self._load(candidate)
        # Every plugin was checked as it came; this guards the invariant for later hooks.
        self.pm.check_pending()
        return self.registry

    def _candidates(self) -> Iterable[_Candidate]:
        yield _Candidate(
            BUILTIN_PLUGIN,
            "layerkit.builtins",
            "layerkit",
            __version__,
            lambda: import_module("layerkit.builtins"),
            builtin=True,
        )
        settings = self.settings
        points = sorted(
            metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (ep.name, ep.dist.name if ep.dist else ""),
        )
        explicit = set(settings.explicit)
        for ep in points:
            dist = ep.dist
            distribution, version = (dist.name, dist.version) if dist else (None, None)
            module = _entry_point_module(ep)
            if module is None:
                # ``ep.module`` itself raises on a value like "pkg:" or "a b": quarantined
                # whatever the settings say, since nothing can name or disable it reliably.
                self.registry.failures.append(
                    LoadFailure(
                        ep.name,
                        repr(ep.value),
                        distribution,
                        version,
                        f"malformed entry point value {ep.value!r} (expected 'module' or 'module:attribute')",
                    )
                )
                continue
            named = explicit & {ep.name, module}
            explicit -= named  # an entry point named by -p is loaded as that entry point
            if settings.is_disabled(ep.name, module):
                self.registry.disabled.append(ep.name)
                continue
            if not (settings.autoload or named):
                continue
            if ep.name in RESERVED_NAMES:
                self.registry.failures.append(
                    LoadFailure(
                        ep.name,
                        module,
                        distribution,
                        version,
                        f"the plugin name {ep.name!r} is reserved for layerkit's built-in components; "
                        "the plugin must use another entry-point name",
                    )
                )
                continue
            yield _Candidate(ep.name, module, distribution, version, ep.load, explicit=bool(named))
        for module in settings.explicit:
            if module in explicit and not settings.is_disabled(module, module):
                distribution, version = distribution_of(module)
                yield _Candidate(
                    module,
                    module,
                    distribution,
                    version,
                    partial(import_module, module),
                    explicit=True,
                )

    def _load(self, candidate: _Candidate) -> None:
        if candidate.builtin:
            # layerkit itself broken is a bug to see with its traceback, not a plugin to skip.
            plugin = candidate.load()
            try:
                self._register(candidate, plugin)
                self._add(candidate, plugin, self._collect(candidate, reraise=True))
            except PluginRejected as exc:
                raise PluginError(f"layerkit's built-in plugin is broken: {exc}") from None
            return
        try:
            with _interrupts() as ctrl_c:
                plugin = candidate.load()
        except BaseException as exc:
            _reraise_if_real(exc, ctrl_c)
            if candidate.explicit:
                # A plugin named on the command line that cannot be imported is a typo or a
                # missing install: stop, as pytest does for -p.
                raise PluginError(
                    f"cannot load plugin {candidate.name!r} named by -p / {ENV_PLUGINS}: "
                    f"{describe_exception(exc)}"
                ) from exc
            self.registry.failures.append(
                candidate.failure(f"import failed: {describe_exception(exc)}")
            )
            return
        try:
            with _interrupts() as ctrl_c:
                try:
                    self._register(candidate, plugin)
                    entries = self._collect(candidate)
                except (SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
                    _reraise_if_real(exc, ctrl_c)
                    raise PluginRejected(
                        f"raised {describe_exception(exc)} while its hooks were called"
                    ) from None
        except PluginRejected as exc:
            if self.pm.get_name(plugin) == candidate.name:
                self.pm.unregister(name=candidate.name)
            self.registry.failures.append(candidate.failure(str(exc)))
            return
        self._add(candidate, plugin, entries)

    def _add(self, candidate: _Candidate, plugin: object, entries: list[Entry]) -> None:
        for entry in entries:
            self.registry.by_group[entry.group].append(entry)
            record_origin(entry.component, entry.distribution, entry.version, entry.module)
        hooks = tuple(sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or ()))
        self.registry.plugins.append(
            PluginInfo(
                candidate.name,
                candidate.module,
                candidate.distribution,
                candidate.version,
                hooks,
                candidate.explicit,
            )
        )

    def _register(self, candidate: _Candidate, plugin: object) -> None:
        pm = self.pm
        owner = pm.get_plugin(candidate.name)
        if owner is not None:
            other = next((p for p in self.registry.plugins if p.name == candidate.name), None)
            by = f" by {other.origin}" if other else ""
            raise PluginRejected(f"plugin name {candidate.name!r} is already taken{by}")
        if pm.is_registered(plugin):
            raise PluginRejected(
                f"{candidate.module} is already registered as plugin {pm.get_name(plugin)!r}"
            )
        try:
            pm.register(plugin, name=candidate.name)
        except pluggy.PluginValidationError as exc:
            raise PluginRejected(f"hookimpl rejected: {_one_line(str(exc))}") from None
        try:
            pm.check_pending()
        except pluggy.PluginValidationError:
            unknown = sorted(
                hc.name for hc in pm.get_hookcallers(plugin) or () if not hc.has_spec()
            )
            known = list(GROUPS.values())
            hints = "".join(did_you_mean(name, known) for name in unknown[:1])
            raise PluginRejected(
                f"hookimpl for unknown hook{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(n) for n in unknown)}{hints} "
                f"(layerkit's hooks: {', '.join(known)})"
            ) from None

    def _collect(self, candidate: _Candidate, *, reraise: bool = False) -> list[Entry]:
        entries: list[Entry] = []
        for group, hook_name in GROUPS.items():
            seen: dict[str, type] = {}
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name != candidate.name:
                    continue
                if impl.hookwrapper or impl.wrapper:
                    raise PluginRejected(
                        f"{hook_name}: hook wrappers are not supported for component hooks"
                    )
                # layerkit's own hook raising is a bug: its traceback, not a quarantine
                result = impl.function() if reraise else _answer(hook_name, impl)
                for component in _components(hook_name, result):
                    problem = _check_component(group, component)
                    if problem:
                        raise PluginRejected(f"{hook_name}() returned {problem}")
                    name = component.name
                    if name in seen and seen[name] is not component:
                        raise PluginRejected(
                            f"{hook_name}() returned two {group} named {name!r}: "
                            f"{_qualname(seen[name])} and {_qualname(component)}"
                        )
                    if name not in seen:
                        seen[name] = component
                        entries.append(
                            Entry(
                                name,
                                group,
                                component,
                                candidate.name,
                                candidate.distribution,
                                candidate.version,
                            )
                        )
        return entries


def _answer(hook_name: str, impl: pluggy.HookImpl) -> object:
    """What one plugin's hook returns; its exception becomes :class:`PluginRejected` naming it."""
    try:
        return impl.function()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
        raise PluginRejected(f"{hook_name}() raised {describe_exception(exc)}") from None


def _components(hook_name: str, result: object) -> list[Any]:
    if result is None:  # pluggy's convention: None means "nothing from me"
        return []
    if isinstance(result, (str, bytes, Mapping, type)) or not isinstance(result, Iterable):
        raise PluginRejected(
            f"{hook_name}() must return a list of classes (received {_short(result)})"
        )
    try:
        return list(result)
    except Exception as exc:  # noqa: BLE001 - a generator failing part-way is the hook failing
        raise PluginRejected(f"{hook_name}() raised {describe_exception(exc)}") from None


def _check_component(group: str, component: object) -> str | None:
    """Why ``component`` cannot be registered in ``group``, or None if it can."""
    module, base_name = _BASES[group]
    base = getattr(import_module(module), base_name)
    if not isinstance(component, type):
        return f"{_short(component)}, which is not a class"
    if not issubclass(component, base):
        return f"{_short(component)}, which is not a subclass of {module}.{base_name}"
    params = getattr(component, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        return f"{_short(component)} without a Params pydantic model (received Params={_short(params)})"
    name = getattr(component, "name", None)
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        return f"{_short(component)} with an invalid name {name!r} (expected a non-empty name without ':')"
    return None


def _entry_point_module(ep: metadata.EntryPoint) -> str | None:
    """The module an entry point names, or None when its value is malformed."""
    try:
        module = ep.module
    except (AttributeError, ValueError):  # importlib's pattern did not match the value
        return None
    return module if isinstance(module, str) and module else None


class _CtrlC:
    """Whether a real Ctrl-C (SIGINT) arrived while a plugin was loading."""

    pressed = False


@contextlib.contextmanager
def _interrupts() -> Iterator[_CtrlC]:
    """Tell a real Ctrl-C from a plugin raising ``KeyboardInterrupt`` itself.

    In the main thread SIGINT is routed through a handler that records it; elsewhere signals
    cannot be watched, and every ``KeyboardInterrupt`` counts as real.
    """
    state = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        state.pressed = True
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: types.FrameType | None) -> None:
        state.pressed = True
        if callable(previous):
            previous(signum, frame)  # the default handler raises KeyboardInterrupt
        else:
            raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # pragma: no cover - no signals here (embedded interpreter)
        state.pressed = True
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def _reraise_if_real(exc: BaseException, ctrl_c: _CtrlC) -> None:
    """Re-raise a user's Ctrl-C and what must never be swallowed; a plugin's own
    ``SystemExit``/``KeyboardInterrupt`` only quarantines it."""
    if isinstance(exc, KeyboardInterrupt) and ctrl_c.pressed:
        raise exc
    if not isinstance(exc, (Exception, SystemExit, KeyboardInterrupt)):
        raise exc  # GeneratorExit and friends: not a plugin failure


def distribution_of(module: str) -> tuple[str | None, str | None]:
    """The distribution installing ``module``, for a plugin named by module (``-p mymod``)."""
    top = module.partition(".")[0]
    names = metadata.packages_distributions().get(top) or []
    if not names:
        return None, None
    try:
        return names[0], metadata.version(names[0])
    except metadata.PackageNotFoundError:
        return names[0], None


def describe_exception(exc: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'x' (at plugin.py:3)`` - one line, with a place."""
    text = f"{type(exc).__name__}: {_one_line(str(exc))}" if str(exc) else type(exc).__name__
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            # importlib's own frames say nothing about the plugin
            if not f.filename.startswith("<") and f"{os.sep}importlib{os.sep}" not in f.filename
        ]
        if frames:
            where = f"{frames[-1].filename}:{frames[-1].lineno}"
    return f"{text} (at {where})" if where else text


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _qualname(obj: type) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _short(value: object) -> str:
    return f"class {_qualname(value)}" if isinstance(value, type) else short_repr(value)
