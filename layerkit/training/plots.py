"""``curves.png``: loss and accuracy per epoch, drawn with matplotlib when it is installed.

matplotlib is the optional extra ``plot`` and is imported only here, only when a run ends. The
figure is drawn through the object-oriented API on an Agg canvas: no pyplot global state and no
backend switch, so training from a notebook or a GUI program leaves its plotting untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from layerkit.fileio import atomic_write

__all__ = ["write_curves", "MISSING_PLOT", "missing_plot"]


def missing_plot(what: str) -> str:
    """The one line printed instead of a plot when the ``plot`` extra is not installed."""
    return f"{what} skipped: matplotlib is not installed (pip install 'layerkit[plot]')"


MISSING_PLOT = missing_plot("curves.png")


def write_curves(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str | None = None
) -> bool:
    """Draw loss and accuracy against epoch into ``path``; return False if matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is None for v in values) or not values:
                continue
            ax.plot(epochs, values, style, marker="o", markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    atomic_write(Path(path), lambda fh: fig.savefig(fh, format="png", dpi=100))
    return True
