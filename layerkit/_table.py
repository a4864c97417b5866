"""Tables for the CLI, rendered by ``tabulate`` (light to import, unlike rich)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence

__all__ = ["render_table", "terminal_width"]


def terminal_width() -> int | None:
    """The width to fit tables into: the terminal's, or None (no cutting) when output is piped."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    width: int | None = None,
) -> str:
    """Aligned columns under an upper-case header and a rule; numbers right-aligned with thousands separators.

    When ``width`` is given, the last column (a free-text summary, typically) is shortened with
    ``...`` so that lines fit; the other columns are never cut.
    """
    from tabulate import tabulate

    headers = [str(h).upper() for h in headers]
    table = [["" if c is None else c for c in row] for row in rows]
    if width is not None and table:
        text = tabulate([row[:-1] for row in table], headers=headers[:-1], tablefmt="simple")
        lead = max(len(line) for line in text.splitlines()) + 2
        room = max(width - lead, 10)
        for row in table:
            last = str(row[-1])
            if len(last) > room:
                row[-1] = last[: room - 3] + "..."
    return tabulate(table, headers=headers, tablefmt="simple", intfmt=",", disable_numparse=False)
