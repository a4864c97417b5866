"""Seedable synthetic datasets: CS231n's spiral and Gaussian blobs.

Both are generated in memory from their own ``seed`` option (default 0), independent of the
spec's training seed: the data stays the same while the training seed varies. The train and test
splits come from independent streams of that seed (``SeedSequence.spawn``), so the test set does
not depend on the size of the training set.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

import numpy as np
from pydantic import Field

from layerkit.data.base import Dataset, DatasetInfo, DatasetParams, Split

__all__ = ["Blobs", "BlobsParams", "Spiral", "SpiralParams"]


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent generators for the dataset's shape, its training split and its test split."""
    shape, train, test = np.random.SeedSequence(seed).spawn(3)
    return np.random.default_rng(shape), np.random.default_rng(train), np.random.default_rng(test)


#: The options of a generated dataset (both have classes, points_per_class, test_points_per_class).
_GeneratedParams = TypeVar("_GeneratedParams", "SpiralParams", "BlobsParams")


class _Generated(Dataset[_GeneratedParams]):
    """What the generated datasets share: ``classes`` x ``points_per_class`` samples per split.

    Subclasses' ``Params`` have ``classes``, ``points_per_class`` and ``test_points_per_class``.
    """

    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample."""
        raise NotImplementedError

    def test_points_per_class(self) -> int:
        """Test points per class: the option, or ``points_per_class`` when it is unset."""
        return self.hp.test_points_per_class or self.hp.points_per_class

    def describe(self) -> DatasetInfo:
        hp = self.hp
        return DatasetInfo(
            input_shape=self.input_shape(),
            num_classes=hp.classes,
            train_size=hp.classes * hp.points_per_class,
            test_size=hp.classes * self.test_points_per_class(),
        )


class SpiralParams(DatasetParams):
    """Options of ``spiral``."""

    classes: int = Field(3, ge=2, le=1000, description="number of spiral arms (classes)")
    points_per_class: int = Field(100, gt=0, le=1_000_000, description="training points per class")
    test_points_per_class: int | None = Field(
        None, gt=0, le=1_000_000, description="test points per class (default: points_per_class)"
    )
    noise: float = Field(0.2, ge=0, description="standard deviation of the angle noise, radians")
    seed: int = Field(0, ge=0, description="seed of the generated data")


class Spiral(_Generated[SpiralParams]):
    """Spiral: K interleaved 2-D spiral arms, not linearly separable (CS231n)."""

    name = "spiral"
    Params: ClassVar[type[DatasetParams]] = SpiralParams

    def input_shape(self) -> tuple[int, ...]:
        return (2,)

    def load(self) -> dict[str, Split]:
        hp = self.hp
        _, train_rng, test_rng = _streams(hp.seed)
        return {
            "train": spiral(hp.classes, hp.points_per_class, hp.noise, train_rng),
            "test": spiral(hp.classes, self.test_points_per_class(), hp.noise, test_rng),
        }


def spiral(classes: int, points: int, noise: float, rng: np.random.Generator) -> Split:
    """CS231n's spiral: arm ``j`` has radius 0..1 and angle ``4j..4(j+1)`` plus noise."""
    radius = np.tile(np.linspace(0.0, 1.0, points), classes)
    arm = np.repeat(np.arange(classes), points)
    angle = (
        np.linspace(0.0, 4.0, points)[None, :] + 4.0 * np.arange(classes)[:, None]
    ).ravel() + rng.standard_normal(classes * points) * noise
    x = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    return Split(x=x, y=arm.astype(np.intp), scale=1.0)


class BlobsParams(DatasetParams):
    """Options of ``blobs``."""

    classes: int = Field(3, ge=2, le=1000, description="number of blobs (classes)")
    features: int = Field(2, gt=0, le=100_000, description="dimension of each point")
    points_per_class: int = Field(100, gt=0, le=1_000_000, description="training points per class")
    test_points_per_class: int | None = Field(
        None, gt=0, le=1_000_000, description="test points per class (default: points_per_class)"
    )
    std: float = Field(1.0, gt=0, description="standard deviation of each blob")
    box: float = Field(10.0, gt=0, description="centres are drawn uniformly in [-box, box]")
    seed: int = Field(0, ge=0, description="seed of the generated data")


class Blobs(_Generated[BlobsParams]):
    """Blobs: isotropic Gaussian clusters, one per class, with seeded random centres."""

    name = "blobs"
    Params: ClassVar[type[DatasetParams]] = BlobsParams

    def input_shape(self) -> tuple[int, ...]:
        return (self.hp.features,)

    def centers(self) -> np.ndarray:
        """The (classes, features) blob centres."""
        shape_rng, _, _ = _streams(self.hp.seed)
        return shape_rng.uniform(
            -self.hp.box, self.hp.box, size=(self.hp.classes, self.hp.features)
        )

    def load(self) -> dict[str, Split]:
        hp = self.hp
        centers = self.centers()
        _, train_rng, test_rng = _streams(hp.seed)
        return {
            "train": blobs(centers, hp.points_per_class, hp.std, train_rng),
            "test": blobs(centers, self.test_points_per_class(), hp.std, test_rng),
        }


def blobs(centers: np.ndarray, points: int, std: float, rng: np.random.Generator) -> Split:
    """``points`` samples around each centre, class ``j`` around ``centers[j]``."""
    labels = np.repeat(np.arange(centers.shape[0]), points)
    x = centers[labels] + std * rng.standard_normal((labels.size, centers.shape[1]))
    return Split(x=x, y=labels.astype(np.intp), scale=1.0)
