"""Training: the trainer, its callbacks, checkpoints and the ``train:`` section of specs.

This package knows nothing of spec files or run folders: :func:`layerkit.run.train` (also
``layerkit.train``) is the application layer that loads a spec, builds the network and data,
and drives the :class:`~layerkit.training.trainer.Trainer` defined here. Submodules are
imported on first use so that importing :mod:`layerkit.training.config` (as the spec models
do) stays light.
"""

from __future__ import annotations

from layerkit._lazy import lazy_exports

__all__ = ["TrainConfig", "Trainer", "Callback"]

_EXPORTS = {
    "TrainConfig": "layerkit.training.config",
    "Trainer": "layerkit.training.trainer",
    "Callback": "layerkit.training.callbacks",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
