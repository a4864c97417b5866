"""Layers that only change the per-sample shape: Flatten and Reshape (no copies when possible)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from layerkit.errors import ShapeError
from layerkit.layers.base import Layer, LayerParams, LayerParamsT, Shape
from layerkit.layers.windows import batch_second, check_batch, empty_batch

__all__ = ["Flatten", "Reshape"]


class _ReshapeBase(Layer[LayerParamsT]):
    """Forward reshapes each sample to ``output_shape``; backward restores ``input_shape``.

    An input stored channel-major (a convolution's output, see
    :func:`~layerkit.layers.windows.batch_second`) is copied by the reshape; backward then returns
    ``dx`` in that same layout, so the convolution layers below get their gradients without a
    transposing copy (one small copy here instead of one per layer below).
    """

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        check_batch(self.label, x, self.input_shape)
        self._cm = batch_second(x)
        return x.reshape(x.shape[0], *self.output_shape)  # type: ignore[misc]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        check_batch(self.label, dout, self.output_shape, "dout")
        dx = dout.reshape(dout.shape[0], *self.input_shape)  # type: ignore[misc]
        if getattr(self, "_cm", False):
            out = empty_batch(dx.shape, dx.dtype, channel_major=True)
            np.copyto(out, dx)
            return out
        return dx


class FlattenParams(LayerParams):
    pass


class Flatten(_ReshapeBase[FlattenParams]):
    """Flatten each sample to a vector: (C, H, W) -> (C*H*W,), e.g. between conv and Affine layers."""

    Params: ClassVar[type[LayerParams]] = FlattenParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (2, 3, 4)},
        {"params": {}, "input_shape": (5,)},
    )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)


class ReshapeParams(LayerParams):
    target_shape: tuple[int, ...] = Field(
        min_length=1, description="per-sample output shape; one entry may be -1 (inferred)"
    )

    @field_validator("target_shape")
    @classmethod
    def _dims(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d == 0 or d < -1 for d in value) or sum(d == -1 for d in value) > 1:
            raise ValueError("entries must be >= 1, with at most one -1 (inferred)")
        return value


class Reshape(_ReshapeBase[ReshapeParams]):
    """Reshape each sample to ``target_shape`` (one entry may be -1), e.g. (784,) -> (1, 28, 28)."""

    Params: ClassVar[type[LayerParams]] = ReshapeParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {"target_shape": [1, 2, 6]}, "input_shape": (12,)},
        {"params": {"target_shape": [-1, 3]}, "input_shape": (2, 3, 2)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = (
        {},
        {"target_shape": []},
        {"target_shape": [0, 4]},
        {"target_shape": [-1, -1]},
        {"target_shape": [2, -3]},
    )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        target = self.hp.target_shape
        size = math.prod(input_shape)
        known = math.prod(d for d in target if d != -1)
        if -1 in target and size % known == 0:
            target = tuple(size // known if d == -1 else d for d in target)
        if math.prod(target) != size:
            raise ShapeError(
                f"{self.label}: cannot reshape {tuple(input_shape)} ({size} values) to "
                f"{tuple(self.hp.target_shape)} ({'a multiple of ' if -1 in self.hp.target_shape else ''}{known} values)"
            )
        return tuple(target)
