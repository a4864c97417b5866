"""Rendering the report pages: Jinja2 templates, Pygments for the spec, one self-contained file.

The ``report`` extra (``pip install 'layerkit[report]'``: Jinja2, Pygments, matplotlib) is needed;
without it :func:`require_extra` says so before anything is computed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from layerkit.errors import ConfigError

__all__ = ["render", "highlight_yaml", "require_extra", "MISSING_EXTRA"]

_EXTRA = ("jinja2", "pygments", "matplotlib")
MISSING_EXTRA = (
    "layerkit report needs the 'report' extra (missing: {missing}): pip install 'layerkit[report]'"
)


def require_extra() -> None:
    """Raise :class:`ConfigError` naming the extra when Jinja2, Pygments or matplotlib is missing."""
    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(MISSING_EXTRA.format(missing=", ".join(missing)))


def highlight_yaml(text: str) -> Any:
    """The YAML text as highlighted HTML (safe to insert: Pygments escapes it)."""
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import YamlLexer

    return Markup(highlight(text, YamlLexer(), HtmlFormatter(cssclass="hl")))


def _highlight_css() -> str:
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="friendly").get_style_defs(".hl"))


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _heat(fraction: float) -> str:
    """A background colour for a cell holding ``fraction`` of its row (blue, deeper when larger)."""
    alpha = max(0.0, min(1.0, float(fraction)))
    return f"background-color: rgba(31, 119, 180, {alpha * 0.85:.3f}); color: {'#fff' if alpha > 0.55 else '#111'}"


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``; undefined names are errors, not blanks."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("layerkit.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    env.filters["heat"] = _heat
    return env.get_template(template).render(highlight_css=_highlight_css(), **context)
