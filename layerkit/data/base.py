"""The dataset contract.

A dataset class is registered by name (``fashion_mnist``, ``spiral``...) and configured by its
``Params`` model from the spec's ``data:`` section. ``describe()`` is cheap (no loading), so the
builder infers every shape before data is read; ``load()`` returns compact arrays (uint8 pixels
stay uint8, labels stay class indices) that the batch iterator converts batch by batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from layerkit._validation import validate_params

__all__ = ["DatasetParams", "DatasetInfo", "Split", "Dataset"]


class DatasetParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class DatasetInfo:
    """What the builder needs before any data is loaded."""

    input_shape: tuple[int, ...]
    num_classes: int
    train_size: int
    test_size: int


@dataclass(frozen=True)
class Split:
    """One split: ``x`` (N, *input_shape) in a compact dtype, ``y`` (N,) class indices.

    ``scale`` maps stored values to network inputs (``1/255`` for uint8 pixels): a batch is
    ``x[idx].astype(dtype) * scale``.
    """

    x: np.ndarray
    y: np.ndarray
    scale: float = 1.0

    def __len__(self) -> int:
        return int(self.x.shape[0])


class Dataset:
    """Base class of datasets; subclasses implement ``describe`` and ``load``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[DatasetParams]] = DatasetParams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()

    def __init__(self, **options: Any) -> None:
        self.hp: Any = validate_params(self.Params, options, self.name)

    def describe(self) -> DatasetInfo:
        raise NotImplementedError

    def load(self) -> dict[str, Split]:
        """Return ``{"train": Split, "test": Split}`` (and ``"validation"`` if configured)."""
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def config(self) -> dict[str, Any]:
        return {"dataset": self.name, **self.hp.model_dump(mode="json")}
