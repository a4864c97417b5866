"""``layerkit plugins``: the loaded plugins with their versions, and the ones that failed."""

from __future__ import annotations

import argparse
import warnings

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """No options of its own: the common ones (``--json``, ``-p``) are added by the CLI."""


def run(args: argparse.Namespace) -> int:
    import json

    from layerkit._table import render_table, terminal_width
    from layerkit.errors import PluginWarning
    from layerkit.plugins import ENV_DISABLE, ENV_NO_AUTOLOAD, GROUPS, get_registry

    # Failures are part of this listing, so they are not repeated as warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        registry = get_registry()
    provides = {
        p.name: {g: sum(e.plugin == p.name for e in registry.entries(g)) for g in GROUPS}
        for p in registry.plugins
    }
    if args.json:
        settings = registry.settings.to_dict() if registry.settings else {}
        doc = {
            "plugins": [{**p.to_dict(), "provides": provides[p.name]} for p in registry.plugins],
            "failures": [f.to_dict() for f in registry.failures],
            "disabled": registry.disabled,
            "settings": settings,
        }
        print(json.dumps(doc))
        return 0

    width = terminal_width()
    rows = [
        (
            p.name,
            p.distribution or "-",
            p.version or "-",
            p.module,
            ", ".join(f"{n} {g if n != 1 else g[:-1]}" for g, n in provides[p.name].items() if n)
            or "nothing",
        )
        for p in registry.plugins
    ]
    print(
        render_table(("plugin", "distribution", "version", "module", "provides"), rows, width=width)
    )
    if registry.failures:
        count = len(registry.failures)
        print(f"\n{count} plugin{'s' if count > 1 else ''} failed to load (quarantined):")
        failed = [
            (f.plugin, f.distribution or "-", f.version or "-", f.cause) for f in registry.failures
        ]
        print(render_table(("plugin", "distribution", "version", "cause"), failed, width=width))
    if registry.disabled:
        print(f"\ndisabled ({ENV_DISABLE} / -p no:NAME): {', '.join(registry.disabled)}")
    if registry.settings and not registry.settings.autoload:
        print(
            f"\nentry-point autoload is off ({ENV_NO_AUTOLOAD}); only plugins named by -p are loaded"
        )
    return 0
