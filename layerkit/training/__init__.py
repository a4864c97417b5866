"""Training: the trainer, checkpoints, run folders and the ``train:`` section of specs.

``from layerkit.training import train`` is the public entry point; submodules are imported on
first use so that importing :mod:`layerkit.training.config` (as the spec loader does) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["train", "RunResult", "TrainConfig", "Trainer", "Callback"]

_EXPORTS = {
    "train": "layerkit.training.run",
    "RunResult": "layerkit.training.run",
    "TrainConfig": "layerkit.training.config",
    "Trainer": "layerkit.training.trainer",
    "Callback": "layerkit.training.callbacks",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'layerkit.training' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
