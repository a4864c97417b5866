"""The dataset contract.

A dataset class is registered by name (``fashion_mnist``, ``spiral``...) and configured by its
``Params`` model from the spec's ``data:`` section. ``describe()`` is cheap (no loading), so the
builder infers every shape before data is read; ``load()`` returns compact arrays (uint8 pixels
stay uint8, labels stay class indices) that the batch iterator converts batch by batch.

Datasets that read files also implement ``locate()`` (where a copy is, never downloading) and
``fetch()`` (download one if needed); ``layerkit data list`` and ``layerkit data fetch`` use them
for every registered dataset, plugins' included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from layerkit._validation import StrictModel
from layerkit.component import Component
from layerkit.errors import DataError

__all__ = ["Dataset", "DatasetInfo", "DatasetParams", "Location", "Split"]


class DatasetParams(StrictModel):
    """Base of every dataset's option model: strict, immutable, no unknown keys."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the builder needs before any data is loaded.

    ``input_shape`` is per sample, batch axis excluded: ``(1, 28, 28)`` for grey 28x28 images
    (an ``Affine`` flattens it, a ``Conv2D`` takes it as is), ``(2,)`` for 2-D points.
    ``class_names`` are human-readable labels of the class indices, when the dataset has them.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    train_size: int
    test_size: int
    class_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Split:
    """One split: ``x`` (N, *input_shape) in a compact dtype, ``y`` (N,) class indices.

    ``scale`` maps stored values to network inputs (``1/255`` for uint8 pixels): a batch is
    ``x[idx].astype(dtype) * scale``. Arrays loaded from files are read-only: they may be
    shared between datasets loading the same file, and nothing should ever write into them.
    """

    x: np.ndarray
    y: np.ndarray
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.x.ndim < 1 or self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise DataError(
                f"a split needs x of shape (N, ...) and y of shape (N,); "
                f"received x {self.x.shape} and y {self.y.shape}"
            )
        if self.y.dtype.kind not in "iu":
            raise DataError(f"labels must be integer class indices (received dtype {self.y.dtype})")

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Location:
    """Where a dataset's files were found.

    ``origin`` says which rule of the search order found them: ``data.path``,
    ``$LAYERKIT_DATA``, ``cache`` (the user cache, where downloads go), ``system``
    (``/usr/share/datasets``, Debian's ``dataset-*`` packages) or ``--dir``.
    ``files`` maps each file's role (``train_images``...) to the file read.
    """

    directory: Path
    origin: str
    files: dict[str, Path] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.directory} ({self.origin})"


#: The option model of a dataset class: ``class Spiral(Dataset[SpiralParams])``.
DatasetParamsT = TypeVar("DatasetParamsT", bound=DatasetParams)


class Dataset(Component[DatasetParamsT]):
    """Base class of datasets; subclasses implement ``describe`` and ``load``.

    Datasets that read files set ``has_files = True`` and implement ``locate`` and ``fetch``.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[DatasetParams]] = DatasetParams
    has_files: ClassVar[bool] = False

    @classmethod
    def default_name(cls) -> str:
        return cls.__name__.lower()

    def describe(self) -> DatasetInfo:
        """Shapes, classes and sizes, without reading or generating any data."""
        raise NotImplementedError

    def load(self) -> dict[str, Split]:
        """Return ``{"train": Split, "test": Split}``."""
        raise NotImplementedError

    def locate(self) -> Location | None:
        """Where a local copy of the files is, or ``None``; never downloads."""
        return None

    def fetch(
        self, directory: Path | None = None, *, force: bool = False, progress: bool | None = None
    ) -> Location:
        """Make the files available locally (downloading them if needed) and say where.

        ``directory`` is a root: the files go to ``directory/<name>`` (default: the user
        cache). ``progress`` shows a progress bar (default: when stderr is a terminal).
        """
        raise DataError(f"dataset {self.name!r} has no files to fetch: its data is generated")

    def config(self) -> dict[str, Any]:
        return {"dataset": self.name, **self.hp.model_dump(mode="json")}
