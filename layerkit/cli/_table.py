"""Plain-text tables for the CLI: aligned columns, no dependency (rich costs ~100 ms to import)."""

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
    """Left-aligned columns two spaces apart, under an upper-case header.

    When ``width`` is given, the last column (a free-text summary, typically) is shortened with
    ``...`` so that lines fit; the other columns are never cut.
    """
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lead = sum(widths[:-1]) + 2 * (len(widths) - 1)
    room = None if width is None else max(width - lead, 10)
    lines = []
    for row in cells:
        last = row[-1]
        if room is not None and len(last) > room:
            last = last[: room - 3] + "..."
        parts = [cell.ljust(w) for cell, w in zip(row[:-1], widths[:-1])] + [last]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
