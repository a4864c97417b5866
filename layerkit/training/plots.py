"""``curves.png``: loss and accuracy per epoch, drawn with matplotlib when it is installed.

matplotlib is the optional extra ``plot`` and is imported only here, only when a run ends. The
figure is drawn through the object-oriented API on an Agg canvas: no pyplot global state and no
backend switch, so training from a notebook or a GUI program leaves its plotting untouched.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from layerkit.fileio import atomic_write

__all__ = [
    "write_curves",
    "curves_figure",
    "new_figure",
    "figure_png",
    "save_figure",
    "MISSING_PLOT",
    "missing_plot",
]


def missing_plot(what: str) -> str:
    """The one line printed instead of a plot when the ``plot`` extra is not installed."""
    return f"{what} skipped: matplotlib is not installed (pip install 'layerkit[plot]')"


MISSING_PLOT = missing_plot("curves.png")


def new_figure(
    figsize: tuple[float, float],
    *,
    layout: Literal["constrained", "compressed", "tight"] | None = "constrained",
) -> Any:
    """A matplotlib ``Figure`` on an Agg canvas, or None without matplotlib.

    ``layout=None`` skips constrained layout, which measures every tick label: about half the
    drawing time of a figure of many small panels.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any, *, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write the figure as a PNG atomically (a half-written file never replaces a good one)."""
    target = Path(path)
    atomic_write(target, lambda fh: fig.savefig(fh, format="png", dpi=100))
    return target


def curves_figure(
    history: Sequence[Mapping[str, Any]], *, title: str | None = None, learning_rate: bool = False
) -> Any:
    """Loss and accuracy per epoch (train solid, validation dashed, test dotted), and the
    learning rate when asked; None without matplotlib."""
    panels = ["loss", "accuracy"] + (["lr"] if learning_rate else [])
    fig = new_figure((5 * len(panels), 4))
    if fig is None:
        return None
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    epochs = [row["epoch"] for row in history]
    for ax, metric in zip(axes, panels, strict=True):
        if metric == "lr":
            rates = [row.get("lr") for row in history]
            ax.plot(epochs, rates, marker="o", markersize=3, color="C3")
            ax.set_ylabel("learning rate")
            top = max((r for r in rates if r is not None), default=0.0)
            if top > 0:
                ax.set_ylim(0, top * 1.1)  # from zero: a constant rate is a flat line, not noise
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        else:
            for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
                values = [row.get(f"{split}_{metric}") for row in history]
                if any(v is None for v in values) or not values:
                    continue
                ax.plot(epochs, values, style, marker="o", markersize=3, label=split)
            ax.set_ylabel(metric)
            ax.legend()
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return fig


def write_curves(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str | None = None
) -> bool:
    """Draw loss and accuracy against epoch into ``path``; return False if matplotlib is missing."""
    fig = curves_figure(history, title=title)
    if fig is None:
        return False
    save_figure(fig, path)
    return True
