"""Symbolic tensors for the functional API: how a graph network is written in Python.

As in Keras' functional API, calling a layer on symbolic tensors records the layer and its
inputs instead of computing anything; :class:`~layerkit.network.Network` then turns the
recorded graph into a network::

    x = Input()                                   # the data (shape from input_shape or the data)
    h = Relu()(Affine(units=50)(x))
    h = Add()(Affine(units=50)(h), h)             # a skip connection
    loss = SoftmaxWithLoss()(Affine(units=10)(h))
    net = Network(inputs=x, outputs=loss, input_shape=(784,))

A tensor holds no data and no shape until the network is built. This module sits below the
layers (it only needs a layer's ``kind``, ``label`` and ``arity_problem``), so that
``Layer.__call__`` can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layerkit.errors import ConfigError

__all__ = ["Tensor", "Input", "apply_layer"]


class Tensor:
    """The output of a layer in a graph being written (or the data, for :func:`Input`).

    ``layer`` is ``None`` for the data input; ``inputs`` are the tensors the layer was called on.
    """

    __slots__ = ("layer", "inputs", "shape")

    def __init__(
        self, layer: Any, inputs: tuple[Tensor, ...], shape: tuple[int, ...] | None = None
    ) -> None:
        self.layer = layer
        self.inputs = inputs
        #: per-sample shape, given to :func:`Input` (``None``: from the network's ``input_shape``)
        self.shape = shape

    @property
    def is_input(self) -> bool:
        return self.layer is None

    def __repr__(self) -> str:
        if self.layer is None:
            return f"Input(shape={self.shape})"
        return f"<Tensor: output of {self.layer.label} ({self.layer.name})>"


def Input(shape: Sequence[int] | None = None) -> Tensor:  # noqa: N802 - named like Keras' Input
    """The data a graph network takes (``shape`` per sample, batch axis excluded; optional)."""
    if shape is not None:
        dims = tuple(shape)
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
            raise ConfigError(f"Input: shape must be positive integers (received {shape!r})")
        return Tensor(None, (), dims)
    return Tensor(None, (), None)


def apply_layer(layer: Any, inputs: Sequence[Any]) -> Tensor:
    """``layer(*inputs)``: a new tensor recording that ``layer`` takes ``inputs``."""
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise ConfigError(
                f"{layer.label}: input {i + 1} is a {type(x).__name__}, not a symbolic tensor; "
                "call layers on Input() or on other layers' outputs (to compute on arrays, use "
                "forward)"
            )
    n = len(inputs)
    if layer.kind == "merge":
        problem = layer.arity_problem(n)
        if problem is not None:
            raise ConfigError(f"{layer.label}: {problem}")
    elif n != 1:
        raise ConfigError(
            f"{layer.label}: a {layer.name} layer takes exactly one input (received {n})"
        )
    for x in inputs:
        if x.layer is not None and x.layer.kind == "loss":
            raise ConfigError(
                f"{layer.label}: its input is the loss {x.layer.label}; a loss ends a network"
            )
    return Tensor(layer, tuple(inputs))
