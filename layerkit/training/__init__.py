"""Training: the trainer, checkpoints, run folders and the ``train:`` section of specs.

``from layerkit.training import train`` is the public entry point; submodules are imported on
first use so that importing :mod:`layerkit.training.config` (as the spec loader does) stays light.
"""

from __future__ import annotations

from layerkit._lazy import lazy_exports

__all__ = ["train", "RunResult", "TrainConfig", "Trainer", "Callback"]

_EXPORTS = {
    "train": "layerkit.training.run",
    "RunResult": "layerkit.training.run",
    "TrainConfig": "layerkit.training.config",
    "Trainer": "layerkit.training.trainer",
    "Callback": "layerkit.training.callbacks",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
