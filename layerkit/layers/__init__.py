"""Built-in layers, one family per module. ``BUILTIN_LAYERS`` is what the built-in plugin registers."""

from __future__ import annotations

from layerkit.layers.activations import LeakyRelu, Relu, Sigmoid, Tanh
from layerkit.layers.affine import Affine
from layerkit.layers.arithmetic import Add, Concat, Mul
from layerkit.layers.base import Layer, LayerParams, Loss, Merge, Node
from layerkit.layers.conv import Conv2D
from layerkit.layers.dropout import Dropout
from layerkit.layers.losses import MeanSquaredError, SoftmaxWithLoss
from layerkit.layers.normalization import BatchNorm
from layerkit.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from layerkit.layers.reshape import Flatten, Reshape
from layerkit.layers.symbolic import Input, Tensor

__all__ = [
    "BUILTIN_LAYERS",
    "Add",
    "Affine",
    "AvgPool2D",
    "BatchNorm",
    "Concat",
    "Conv2D",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Input",
    "Layer",
    "LayerParams",
    "LeakyRelu",
    "Loss",
    "MaxPool2D",
    "MeanSquaredError",
    "Merge",
    "Mul",
    "Node",
    "Relu",
    "Reshape",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
    "Tensor",
]

# One family per line: a new family module adds its import above and one line here.
BUILTIN_LAYERS: tuple[type[Layer], ...] = (
    Add, Mul, Concat,  # merge layers, joining the branches of a graph
    Affine,
    Relu, Sigmoid, Tanh, LeakyRelu,
    Dropout,
    BatchNorm,
    SoftmaxWithLoss, MeanSquaredError,
    Conv2D,
    MaxPool2D, AvgPool2D, GlobalAvgPool2D,
    Flatten, Reshape,
)  # fmt: skip
