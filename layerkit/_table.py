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

    Text cells are printed as given: a caller's ``f"{acc:.4f}"`` stays ``0.9900`` (tabulate would
    parse it back and print ``0.99``) and an id such as ``123e45`` stays an id. Integers and
    floats passed as numbers are formatted by tabulate.

    When ``width`` is given, the last column (a free-text summary, typically) is shortened with
    ``...`` so that lines fit; the other columns are never cut.
    """
    headers = [str(h).upper() for h in headers]
    table = [["" if c is None else c for c in row] for row in rows]
    if width is not None and table:
        text = _tabulate(headers[:-1], [row[:-1] for row in table])
        lead = max(len(line) for line in text.splitlines()) + 2
        room = max(width - lead, 10)
        for row in table:
            last = str(row[-1])
            if len(last) > room:
                row[-1] = last[: room - 3] + "..."
    return _tabulate(headers, table)


def _is_number(cell: object) -> bool:
    if isinstance(cell, bool):
        return False
    if isinstance(cell, (int, float)):
        return True
    if isinstance(cell, str):
        try:
            float(cell.replace(",", ""))
        except ValueError:
            return False
        return True
    return False


def _tabulate(headers: Sequence[str], table: Sequence[Sequence[object]]) -> str:
    from tabulate import tabulate

    columns = list(zip(*table)) if table else [() for _ in headers]
    text = [i for i, col in enumerate(columns) if any(isinstance(c, str) and c for c in col)]
    align = [
        "right"
        if any(c != "" for c in col) and all(c == "" or _is_number(c) for c in col)
        else "left"
        for col in columns
    ]
    return tabulate(
        table,
        headers=headers,
        tablefmt="simple",
        intfmt=",",
        disable_numparse=text or False,
        colalign=align,
    )
