"""Execution-order rewrites that change how fast a network runs, never what it computes.

:func:`execution_order` is the order a :class:`~layerkit.network.Network` runs its layers in.
It is the declared order except for one rewrite:

**ReLU before max pooling runs after it.** ``relu(max(window)) == max(relu(window))`` because
ReLU is monotone, so ``Relu -> MaxPool2D`` computes the same as ``MaxPool2D -> Relu``, and the
latter applies ReLU (forward and backward) to the pooled tensor, ``pool_h * pool_w`` times
smaller (4x for 2x2 pooling). The gradients are the same bit for bit, signed zeros included:
where a window's maximum ``m`` is positive, both orders send ``dout`` to the window's first
maximum and ``dout * 0`` elsewhere; where ``m <= 0``, both send ``dout * 0`` everywhere
(``tests/test_perf_rewrites.py`` trains both orders and compares every byte). On the
Fashion-MNIST CNN this removes three quarters of the ReLU work after each convolution (see
``benchmarks/README.md`` for the measured step time).

Only the built-in ``Relu`` and ``MaxPool2D`` classes are matched (a subclass may compute
something else), and a layer's ``forward``/``backward`` is unchanged: the rewrite only reorders
calls, so a ``Relu`` may see a smaller tensor than its declared input shape (elementwise
layers accept any shape).
"""

from __future__ import annotations

from collections.abc import Sequence

from layerkit.layers.activations import Relu
from layerkit.layers.base import Layer
from layerkit.layers.pooling import MaxPool2D

__all__ = ["execution_order"]


def execution_order(layers: Sequence[Layer]) -> tuple[Layer, ...]:
    """``layers`` (a network's body, loss excluded) in the order they should run."""
    order = list(layers)
    i = 0
    while i < len(order) - 1:
        if type(order[i]) is Relu and type(order[i + 1]) is MaxPool2D:
            order[i], order[i + 1] = order[i + 1], order[i]
            i += 2
        else:
            i += 1
    return tuple(order)
