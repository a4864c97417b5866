"""layerkit-mlflow: log layerkit runs to MLflow with ``train.callbacks: [{type: mlflow}]``."""

from __future__ import annotations

from layerkit import hookimpl

__version__ = "0.1.0"
__all__ = ["layerkit_add_callbacks"]


@hookimpl
def layerkit_add_callbacks() -> list[type]:
    # Importing the callback is light: MLflow itself is imported only when a run starts.
    from layerkit_mlflow.callback import MLflowLogger

    return [MLflowLogger]
