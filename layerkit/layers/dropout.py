"""Inverted dropout: active only in training, so inference needs no rescaling."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from layerkit.layers.base import Layer, LayerParams, Shape

__all__ = ["Dropout"]


class DropoutParams(LayerParams):
    rate: float = Field(0.5, ge=0, lt=1, description="fraction of units zeroed in training")


class Dropout(Layer[DropoutParams]):
    """Inverted dropout: in training, zero each unit with probability rate and scale by 1/(1-rate).

    The identity at inference (``train=False``). Masks come from the layer's own generator
    ``self.rng``, seeded in ``build`` from the generator it is given, so a seeded network drops
    the same units on every run and a checkpoint can restore the stream.
    """

    Params: ClassVar[type[LayerParams]] = DropoutParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {"rate": 0.5}, "input_shape": (20,)},
        {"params": {"rate": 0.2}, "input_shape": (3, 4, 4)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = ({"rate": 1.0}, {"rate": -0.5})

    def create_params(
        self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        self.rng = np.random.default_rng(rng.integers(2**63))
        return {}

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        rate = self.hp.rate
        if not train or rate == 0.0:
            self._mask = None
            return x
        if self.rng is None:  # forward before build: seed from the OS
            self.rng = np.random.default_rng()
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
        # the uniform draws become the mask in place: 1.0 where kept, then scaled
        mask = self.rng.random(x.shape, dtype=dtype)
        np.greater_equal(mask, rate, out=mask)
        if mask.dtype != x.dtype:
            mask = mask.astype(x.dtype)
        mask *= 1.0 / (1.0 - rate)
        self._mask = mask
        return x * mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return dout
        return dout * self._mask
