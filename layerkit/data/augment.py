"""Data augmentation of training batches: random shifts, horizontal flips, random erasing.

Augmentations are registered components, like layers: each is a class with a registry ``name``
(what ``type:`` says in a spec), a pydantic ``Params`` model and one method,
``apply(x, rng)``, that changes a batch ``(N, C, H, W)`` of network inputs **in place**. A spec
lists them under ``data.augment``::

    data:
      dataset: fashion_mnist
      augment:
        - {type: random_shift, pixels: 2}
        - {type: hflip, p: 0.5}

They run in that order on every **training** batch, in the batch iterator's reused buffer, after
the pixels are scaled; evaluation batches are never augmented. Every ``apply`` is vectorised
over the batch: the random draws for all N images are made at once and the images are changed by
a fixed number of whole-batch NumPy operations (no Python loop over images).

All randomness comes from one generator the trainer derives from the run's seed; its state is
part of every checkpoint, so a resumed run draws the same shifts and flips as the uninterrupted
one (``tests/test_training_resume.py`` checks this bit for bit).

Plugins add augmentations through the ``layerkit_add_augmentations`` hook; a subclass sets
``name``, ``Params`` (with a ``description`` on every field, shown by ``layerkit schema``) and
implements ``apply`` (and ``check`` when it needs a particular sample shape).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field, field_validator

from layerkit.component import Component
from layerkit.errors import ConfigError

__all__ = [
    "Augmentation",
    "AugmentationParams",
    "Augmenter",
    "HorizontalFlip",
    "RandomErasing",
    "RandomShift",
    "BUILTIN_AUGMENTATIONS",
]


class AugmentationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Augmentation(Component):
    """Base class of augmentations: ``apply(x, rng)`` changes a training batch in place."""

    kind: ClassVar[str] = "augmentation"
    Params: ClassVar[type[BaseModel]] = AugmentationParams

    def check(self, input_shape: tuple[int, ...]) -> None:
        """Raise :class:`ConfigError` unless samples of ``input_shape`` can be augmented.

        The default accepts images ``(channels, height, width)``.
        """
        if len(input_shape) != 3:
            raise ConfigError(
                f"{self.name} works on images of shape (channels, height, width); "
                f"the dataset's samples have shape {tuple(input_shape)}"
            )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> None:
        """Augment the batch ``x`` ``(N, *input_shape)`` in place, drawing from ``rng``."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"type": self.name, **self.hp.model_dump(mode="json")}


class Augmenter:
    """Several augmentations applied in order with one generator: the trainer's batch hook.

    ``rng`` is the generator every draw comes from (save ``rng.bit_generator.state`` to resume).
    """

    def __init__(self, augmentations: Sequence[Augmentation], rng: np.random.Generator) -> None:
        self.augmentations = tuple(augmentations)
        self.rng = rng

    def check(self, input_shape: tuple[int, ...]) -> None:
        for augmentation in self.augmentations:
            augmentation.check(input_shape)

    def __call__(self, x: np.ndarray) -> None:
        for augmentation in self.augmentations:
            augmentation.apply(x, self.rng)

    def __bool__(self) -> bool:
        return bool(self.augmentations)


# -- random shift (random crop with padding) ---------------------------------------------------


class RandomShiftParams(AugmentationParams):
    pixels: int = Field(
        2,
        ge=1,
        le=64,
        description="largest shift in pixels along each axis; each image moves by a whole number "
        "drawn uniformly from [-pixels, pixels] down and, independently, across",
    )
    fill: float = Field(
        0.0,
        description="value of the pixels uncovered by the shift, in network input units "
        "(after scaling: 0.0 is black for images scaled to [0, 1])",
    )


class RandomShift(Augmentation):
    """Shift each image by up to `pixels` in both axes, filling the border (random crop with padding).

    The same as padding by ``pixels`` and cropping back to the original size at a random offset
    (the "random crop" of CIFAR training recipes).
    """

    name: ClassVar[str] = "random_shift"
    Params: ClassVar[type[BaseModel]] = RandomShiftParams

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self._padded: np.ndarray | None = None

    def check(self, input_shape: tuple[int, ...]) -> None:
        super().check(input_shape)
        p = self.hp.pixels
        if p >= min(input_shape[1:]):
            raise ConfigError(
                f"random_shift: pixels must be smaller than the image ({input_shape[1]}x{input_shape[2]}) "
                f"(received {p})"
            )

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> None:
        n, c, h, w = x.shape
        p = self.hp.pixels
        shape = (n, c, h + 2 * p, w + 2 * p)
        if (
            self._padded is None
            or self._padded.shape[0] < n
            or self._padded.shape[1:] != shape[1:]
            or self._padded.dtype != x.dtype
        ):
            # reused from batch to batch; the border is written once, only the middle changes
            self._padded = np.full(shape, self.hp.fill, dtype=x.dtype)
        padded = self._padded[:n]
        padded[:, :, p : p + h, p : p + w] = x
        dy = rng.integers(0, 2 * p + 1, size=n)
        dx = rng.integers(0, 2 * p + 1, size=n)
        # windows[i, c, a, b] is the (h, w) crop of padded image i at offset (a, b): a view, so
        # one gather copies every image's own crop back into the batch.
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))
        x[...] = windows[np.arange(n), :, dy, dx]


# -- horizontal flip ----------------------------------------------------------------------------


class HorizontalFlipParams(AugmentationParams):
    p: Probability = Field(0.5, description="probability that an image is mirrored left to right")


class HorizontalFlip(Augmentation):
    """Mirror each image left to right with probability `p`."""

    name: ClassVar[str] = "hflip"
    Params: ClassVar[type[BaseModel]] = HorizontalFlipParams

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> None:
        chosen = np.flatnonzero(rng.random(x.shape[0]) < self.hp.p)
        if chosen.size:
            x[chosen] = x[chosen, ..., ::-1]  # the right side is a copy, so no aliasing


# -- random erasing -----------------------------------------------------------------------------


class RandomErasingParams(AugmentationParams):
    p: Probability = Field(0.5, description="probability that an image gets a rectangle erased")
    scale: tuple[
        Annotated[float, Field(gt=0.0, le=1.0)], Annotated[float, Field(gt=0.0, le=1.0)]
    ] = Field(
        (0.02, 0.2), description="[min, max] area of the rectangle as a fraction of the image"
    )
    ratio: tuple[Annotated[float, Field(gt=0.0)], Annotated[float, Field(gt=0.0)]] = Field(
        (0.3, 3.3),
        description="[min, max] aspect ratio (height / width) of the rectangle, drawn log-uniformly",
    )
    value: float = Field(
        0.0, description="value written into the rectangle, in network input units"
    )

    @field_validator("scale", "ratio")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError("must be [min, max] with min <= max")
        return value


class RandomErasing(Augmentation):
    """Erase one random rectangle per image with probability `p` (Zhong et al., 2017)."""

    name: ClassVar[str] = "random_erasing"
    Params: ClassVar[type[BaseModel]] = RandomErasingParams

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> None:
        n, _, h, w = x.shape
        hp = self.hp
        chosen = rng.random(n) < hp.p
        area = rng.uniform(hp.scale[0], hp.scale[1], size=n) * (h * w)
        ratio = np.exp(rng.uniform(math.log(hp.ratio[0]), math.log(hp.ratio[1]), size=n))
        eh = np.clip(np.rint(np.sqrt(area * ratio)), 1, h).astype(np.intp)
        ew = np.clip(np.rint(np.sqrt(area / ratio)), 1, w).astype(np.intp)
        top = np.floor(rng.random(n) * (h - eh + 1)).astype(np.intp)
        left = np.floor(rng.random(n) * (w - ew + 1)).astype(np.intp)
        # (N, H) and (N, W) masks of each image's rows and columns; their outer product, broadcast
        # over channels, marks every erased pixel of the batch for one masked write.
        rows = np.arange(h)
        cols = np.arange(w)
        in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None]) & chosen[:, None]
        in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
        mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]
        np.copyto(x, x.dtype.type(hp.value), where=mask)


BUILTIN_AUGMENTATIONS: tuple[type[Augmentation], ...] = (RandomShift, HorizontalFlip, RandomErasing)
