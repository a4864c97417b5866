"""Batch normalisation (Ioffe & Szegedy, 2015) for dense and convolutional inputs."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from layerkit.errors import ShapeError
from layerkit.layers.base import Layer, LayerParams, Shape

__all__ = ["BatchNorm"]


class BatchNormParams(LayerParams):
    momentum: float = Field(
        0.9, ge=0, lt=1, description="running = momentum * running + (1 - momentum) * batch"
    )
    eps: float = Field(1e-5, gt=0, description="added to the variance before the square root")


class BatchNorm(Layer[BatchNormParams]):
    """Batch normalisation: (x - mean) / sqrt(var + eps) * gamma + beta, per feature or channel.

    Input ``(N, D)`` is normalised per feature over the batch; input ``(N, C, ...)`` (e.g. conv
    feature maps ``(N, C, H, W)``) per channel over the batch and all spatial positions.
    Training uses the batch statistics and updates ``buffers["running_mean"]`` and
    ``buffers["running_var"]`` (biased batch variance, as in the textbook); inference uses them.
    """

    Params: ClassVar[type[LayerParams]] = BatchNormParams
    examples: ClassVar[tuple[dict[str, Any], ...]] = (
        {"params": {}, "input_shape": (4,)},
        {"params": {"momentum": 0.5, "eps": 1e-3}, "input_shape": (3, 2, 2)},
    )
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = ({"momentum": 1.0}, {"eps": 0.0})

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) == 0:
            raise ShapeError(
                f"{self.label}: needs at least one feature axis (received shape {input_shape})"
            )
        return input_shape

    def create_params(
        self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        channels = input_shape[0]
        # reduce over the batch and every axis after the channel axis
        self._axes = (0, *range(2, len(input_shape) + 1))
        self._bshape = (1, channels) + (1,) * (len(input_shape) - 1)
        self.buffers = {
            "running_mean": np.zeros(channels, dtype=dtype),
            "running_var": np.ones(channels, dtype=dtype),
        }
        return {"gamma": np.ones(channels, dtype=dtype), "beta": np.zeros(channels, dtype=dtype)}

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        axes, bshape = self._axes, self._bshape
        gamma = self.params["gamma"].reshape(bshape)
        beta = self.params["beta"].reshape(bshape)
        if train:
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = np.mean(xc * xc, axis=axes, keepdims=True)
            m = self.hp.momentum
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= m
            rm += (1.0 - m) * mean.reshape(-1)
            rv *= m
            rv += (1.0 - m) * var.reshape(-1)
        else:
            xc = x - self.buffers["running_mean"].reshape(bshape)
            var = self.buffers["running_var"].reshape(bshape)
        inv_std = 1.0 / np.sqrt(var + self.hp.eps)
        xhat = xc  # xc is this call's own array: normalise it in place
        xhat *= inv_std
        self._xhat, self._inv_std, self._train = xhat, inv_std, train
        out = xhat * gamma
        out += beta
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        axes, bshape = self._axes, self._bshape
        xhat, inv_std = self._xhat, self._inv_std
        g_beta = dout.sum(axis=axes)
        g_gamma = (dout * xhat).sum(axis=axes)
        self.grads["beta"][...] = g_beta
        self.grads["gamma"][...] = g_gamma
        if not self.needs_input_grad:
            return None
        scale = self.params["gamma"].reshape(bshape) * inv_std
        if not self._train:  # the statistics are constants at inference
            return dout * scale
        # dx = gamma * inv_std * (dout - mean(dout) - xhat * mean(dout * xhat)), means over axes
        count = dout.size // g_beta.size
        dx = xhat * (g_gamma.reshape(bshape) / count)
        dx += (g_beta / count).reshape(bshape)
        np.subtract(dout, dx, out=dx)
        dx *= scale
        return dx
