"""The optimizer contract.

An optimizer updates a network's parameters in place from their gradients, as in the textbook's
optimizer chapter: ``update(params, grads)`` with two dicts keyed alike (``"fc1.W"``...).
Its state (momenta, step count) round-trips through ``state_dict`` / ``load_state_dict`` so a
checkpoint resumes bit for bit.

Subclasses implement :meth:`Optimizer.step` for one parameter array. State arrays ("slots",
e.g. the momentum ``v``) and scratch buffers are allocated once, on the first update, in the
parameter's dtype; every later update works in place through ``out=`` arguments, so a training
step allocates nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import Field

from layerkit._validation import StrictModel
from layerkit.component import Component
from layerkit.errors import CheckpointError

__all__ = ["OptimizerParams", "Optimizer"]


class OptimizerParams(StrictModel):
    """Hyperparameters common to every optimizer."""

    lr: float = Field(0.01, gt=0, description="learning rate")
    weight_decay: float = Field(
        0.0,
        ge=0,
        description="L2 penalty added to the gradient of weight matrices and kernels "
        "(arrays with 2+ dimensions; biases and normalisation gains are not decayed)",
    )


#: The hyperparameter model of an optimizer class: ``class Adam(Optimizer[AdamParams])``.
OptimizerParamsT = TypeVar("OptimizerParamsT", bound=OptimizerParams)


class Optimizer(Component[OptimizerParamsT]):
    """Base class: validated hyperparameters in ``self.hp``; subclasses implement ``step``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[OptimizerParams]] = OptimizerParams
    #: Names of the per-parameter state arrays (saved in checkpoints).
    slots: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        #: Current learning rate; schedules change it between steps.
        self.lr: float = float(self.hp.lr)
        #: Number of updates done so far (the textbook Adam's ``iter``).
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        self._scratch: dict[tuple[str, str], np.ndarray] = {}

    # -- the update ---------------------------------------------------------------------------

    def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Update every array of ``params`` in place from ``grads`` (same keys)."""
        self.iterations += 1
        self.begin_step()
        for key, param in params.items():
            self.step(key, param, self.decayed(key, param, grads[key]))

    def begin_step(self) -> None:
        """Hook run once per update before the per-array steps (e.g. Adam's bias correction)."""

    def step(self, key: str, param: np.ndarray, grad: np.ndarray) -> None:
        """Update one parameter array in place; ``grad`` must not be written to."""
        raise NotImplementedError

    # -- buffers ------------------------------------------------------------------------------

    def slot(self, name: str, key: str, like: np.ndarray) -> np.ndarray:
        """The state array ``name`` of parameter ``key`` (zeros like ``like`` the first time)."""
        arrays = self.state[name]
        arr = arrays.get(key)
        if arr is None:
            arr = arrays[key] = np.zeros_like(like)
        return arr

    def scratch(self, key: str, like: np.ndarray, name: str = "tmp") -> np.ndarray:
        """A reusable work buffer shaped like ``like`` (contents are garbage between calls)."""
        buf = self._scratch.get((name, key))
        if buf is None:
            buf = self._scratch[(name, key)] = np.empty_like(like)
        return buf

    def decayed(self, key: str, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``grad + weight_decay * param`` for weight arrays, else ``grad`` itself."""
        wd = self.hp.weight_decay
        if not wd or param.ndim < 2:
            return grad
        out = self.scratch(key, param, "decay")
        np.multiply(param, wd, out=out)
        out += grad
        return out

    # -- state --------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: step count, learning rate and slot arrays."""
        return {
            "iterations": self.iterations,
            "lr": self.lr,
            "slots": {name: dict(arrays) for name, arrays in self.state.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` output; arrays are copied, not shared."""
        slots = state.get("slots", {})
        unknown = set(slots) - set(self.slots)
        if unknown:
            raise CheckpointError(
                f"{self.name}: optimizer state has unknown slot(s) {sorted(unknown)} "
                f"(expected {list(self.slots)})"
            )
        self.iterations = int(state["iterations"])
        self.lr = float(state["lr"])
        self.state = {
            name: {key: np.array(arr, copy=True) for key, arr in slots.get(name, {}).items()}
            for name in self.slots
        }

    # -- description --------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {"type": self.name, **self.hp.model_dump(mode="json")}

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hp.model_dump().items())
        return f"{type(self).__name__}({hp})"
