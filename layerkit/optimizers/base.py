"""The optimizer contract.

An optimizer updates a network's parameters in place from their gradients, as in the textbook's
optimizer chapter: ``update(params, grads)`` with two dicts keyed alike (``"fc1.W"``...).
Its state (momenta, step count) round-trips through ``state_dict`` / ``load_state_dict`` so a
checkpoint resumes bit for bit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from layerkit._validation import validate_params

__all__ = ["OptimizerParams", "Optimizer"]


class OptimizerParams(BaseModel):
    """Hyperparameters common to every optimizer."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lr: float = Field(0.01, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty added to the gradient")


class Optimizer:
    """Base class: validated hyperparameters in ``self.hp``; subclasses implement ``update``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[OptimizerParams]] = OptimizerParams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def __init__(self, **hyperparameters: Any) -> None:
        self.hp: Any = validate_params(self.Params, hyperparameters, self.name)
        #: Current learning rate; schedules change it between steps.
        self.lr: float = float(self.hp.lr)
        self.iterations = 0

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every array of ``params`` in place from ``grads``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Arrays and scalars needed to resume exactly (override to add slots)."""
        return {"iterations": self.iterations, "lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iterations = int(state["iterations"])
        self.lr = float(state["lr"])

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def config(self) -> dict[str, Any]:
        return {"type": self.name, **self.hp.model_dump(mode="json")}
