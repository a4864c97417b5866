"""Weight initialisers, as a pydantic union keyed on ``type`` so specs can choose them.

In a spec: ``init: {type: normal, std: 0.01}`` (the textbook's default), ``init: he`` or
``init: {type: xavier, mode: fan_in}``; a bare string is shorthand for ``{type: <string>}``.
Layers declare a field of type :data:`Initializer` and call
``self.hp.init.sample(shape, fan_in, fan_out, rng, dtype)`` in ``create_params``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field

from layerkit._validation import StrictModel

__all__ = ["INITIALIZERS", "HeInit", "Initializer", "NormalInit", "XavierInit"]


class _Init(StrictModel):
    def stddev(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def sample(
        self,
        shape: tuple[int, ...],
        fan_in: int,
        fan_out: int,
        rng: np.random.Generator,
        dtype: np.dtype | type | str = np.float32,
    ) -> np.ndarray:
        """Weights of ``shape`` drawn from N(0, std^2), in ``dtype``.

        Drawn in float64 and then cast, so the same seed gives the same weights (up to rounding)
        whatever the network's dtype.
        """
        w = rng.standard_normal(shape)
        w *= self.stddev(fan_in, fan_out)
        return w.astype(dtype, copy=False)


class NormalInit(_Init):
    """Gaussian with a fixed standard deviation (the textbook's ``weight_init_std = 0.01``)."""

    # (Annotated, so that type checkers keep the Literal type of the default)
    type: Annotated[Literal["normal"], Field(description="normal: N(0, std^2) with a fixed std")] = "normal"
    std: float = Field(0.01, gt=0, description="standard deviation of the weights (the textbook uses 0.01)")

    def stddev(self, fan_in: int, fan_out: int) -> float:
        return self.std


class HeInit(_Init):
    """He et al. (2015) for ReLU networks: std = sqrt(2 / fan_in)."""

    type: Annotated[Literal["he"], Field(description="he: N(0, 2 / fan_in), for ReLU networks")] = "he"

    def stddev(self, fan_in: int, fan_out: int) -> float:
        return math.sqrt(2.0 / fan_in)


class XavierInit(_Init):
    """Glorot & Bengio (2010) for sigmoid/tanh networks.

    ``mode: fan_avg`` (the paper): std = sqrt(2 / (fan_in + fan_out)); ``mode: fan_in`` (the
    textbook's simplification): std = sqrt(1 / fan_in).
    """

    type: Annotated[
        Literal["xavier"],
        Field(description="xavier: Glorot's N(0, 2 / (fan_in + fan_out)), for sigmoid/tanh"),
    ] = "xavier"
    mode: Literal["fan_avg", "fan_in"] = Field(
        "fan_avg",
        description="fan_avg: std = sqrt(2 / (fan_in + fan_out)) (the paper); fan_in: std = sqrt(1 / fan_in) (the textbook)",
    )

    def stddev(self, fan_in: int, fan_out: int) -> float:
        if self.mode == "fan_in":
            return math.sqrt(1.0 / fan_in)
        return math.sqrt(2.0 / (fan_in + fan_out))


INITIALIZERS: dict[str, type[_Init]] = {"normal": NormalInit, "he": HeInit, "xavier": XavierInit}


def _expand_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


# Keyed on type in the JSON Schema too (type is required there, as the loader requires it).
_KEYED_INPUT: Any = (
    Annotated[NormalInit | HeInit | XavierInit, Field(discriminator="type")]
    | Literal["normal", "he", "xavier"]
)

#: A field type for layer hyperparameters: one of the initialisers, chosen by ``type``.
Initializer = Annotated[
    NormalInit | HeInit | XavierInit,
    Field(discriminator="type"),
    BeforeValidator(_expand_shorthand, json_schema_input_type=_KEYED_INPUT),
]
