"""The report's pictures: matplotlib figures and thumbnails as ``data:`` URIs for inline images.

Everything is drawn through matplotlib's object-oriented API on an Agg canvas (no pyplot state)
and encoded in the page, so the HTML file needs nothing else to display.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from layerkit.training.plots import figure_png, new_figure

__all__ = [
    "data_uri",
    "figure_uri",
    "image_uri",
    "histograms_figure",
    "filters_figure",
    "as_image",
]


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``: a picture the page carries itself."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure_uri(fig: Any) -> str | None:
    """A figure as a PNG ``data:`` URI (None for no figure)."""
    return None if fig is None else data_uri(figure_png(fig), "image/png")


def as_image(sample: np.ndarray) -> np.ndarray | None:
    """One sample as an ``(H, W)`` or ``(H, W, 3)`` picture, or None if it is not an image.

    Accepted layouts: ``(H, W)``, ``(1, H, W)`` and ``(3, H, W)`` (channels first, as layerkit's
    convolutions take them), and a flat square ``(H*W,)`` with H >= 8.
    """
    if sample.ndim == 1:
        side = math.isqrt(sample.shape[0])
        return sample.reshape(side, side) if side >= 8 and side * side == sample.shape[0] else None
    if sample.ndim == 2:
        return sample
    if sample.ndim == 3 and sample.shape[0] == 1:
        return sample[0]
    if sample.ndim == 3 and sample.shape[0] == 3:
        return np.moveaxis(sample, 0, -1)
    return None


def image_uri(picture: np.ndarray) -> str:
    """A small picture (uint8 pixels, or floats scaled to their range) as a PNG ``data:`` URI."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    if picture.dtype == np.uint8:
        imsave(buffer, picture, cmap="gray", vmin=0, vmax=255, format="png")
    else:
        lo, hi = float(np.min(picture)), float(np.max(picture))
        scaled = (picture - lo) / (hi - lo) if hi > lo else np.zeros_like(picture, dtype=float)
        imsave(buffer, np.clip(scaled, 0, 1), cmap="gray", vmin=0, vmax=1, format="png")
    return data_uri(buffer.getvalue(), "image/png")


def histograms_figure(
    weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], *, bins: int = 50
) -> Any:
    """One row per parameter: the histogram of its values and of its gradient."""
    keys = list(weights)
    if not keys:
        return None
    height = 1.9 * len(keys) + 0.4
    fig = new_figure(
        (10, height), layout=None
    )  # a fixed grid: layout measurement costs more than the plot
    if fig is None:
        return None
    fig.subplots_adjust(
        left=0.06, right=0.98, top=1 - 0.45 / height, bottom=0.3 / height, hspace=0.75, wspace=0.15
    )
    axes = fig.subplots(len(keys), 2, squeeze=False)
    for row, key in zip(axes, keys, strict=True):
        for ax, values, what, colour in (
            (row[0], weights[key], "values", "C0"),
            (row[1], grads.get(key), "gradient", "C1"),
        ):
            if values is None:
                ax.set_axis_off()
                continue
            flat = np.asarray(values, dtype=np.float64).ravel()
            # one filled outline instead of a patch per bin: the same picture, drawn in a fraction
            ax.hist(flat, bins=bins, color=colour, alpha=0.85, histtype="stepfilled")
            ax.set_title(
                f"{key} {what}  (mean {flat.mean():.3g}, std {flat.std():.3g})", fontsize=8
            )
            ax.tick_params(labelsize=7)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
    return fig


def filters_figure(kernel: np.ndarray, *, title: str) -> Any:
    """The filters of a ``(F, C, kh, kw)`` kernel as small pictures: RGB for 3 input channels,
    else the mean over channels; each filter scaled to its own range (bright: positive)."""
    count = kernel.shape[0]
    columns = min(count, 8)
    rows = math.ceil(count / columns)
    fig = new_figure((1.1 * columns, 1.1 * rows + 0.4), layout=None)
    if fig is None:
        return None
    fig.subplots_adjust(
        left=0.02, right=0.98, bottom=0.02, top=1 - 0.4 / (1.1 * rows + 0.4), hspace=0.35
    )
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if index >= count:
            continue
        weights = np.asarray(kernel[index], dtype=np.float64)
        picture = np.moveaxis(weights, 0, -1) if weights.shape[0] == 3 else weights.mean(axis=0)
        lo, hi = picture.min(), picture.max()
        picture = (picture - lo) / (hi - lo) if hi > lo else np.zeros_like(picture)
        ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", interpolation="nearest")
        ax.set_title(str(index), fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
