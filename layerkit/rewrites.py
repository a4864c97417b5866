"""Execution-order rewrites that change how fast a network runs, never what it computes.

:class:`~layerkit.network.Network` runs its layers in their topological order except for one
rewrite, found by :func:`relu_pool_swaps` (``Network.execution_order`` shows the result):

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
something else), only where the ReLU's output feeds the pooling layer alone, and a layer's
``forward``/``backward`` is unchanged: the rewrite only reorders calls, so a ``Relu`` may see
a smaller tensor than its declared input shape (elementwise layers accept any shape). The
network's layers, ids, summary and config keep the declared order.
"""

from __future__ import annotations

from collections.abc import Sequence

from layerkit.layers.activations import Relu
from layerkit.layers.base import Layer
from layerkit.layers.pooling import MaxPool2D

__all__ = ["relu_pool_swaps"]


def relu_pool_swaps(layers: Sequence[Layer], sources: Sequence[Sequence[int]]) -> dict[int, Layer]:
    """Which layer each step should run instead, for the steps the rewrite swaps.

    ``layers`` are a network's layers in execution order and ``sources[k]`` the slots layer
    ``k`` reads (slot 0: the data, slot ``j + 1``: the output of layer ``j``). A pair qualifies
    when ``layers[k]`` is a ``Relu``, ``layers[k + 1]`` a ``MaxPool2D`` reading only slot
    ``k + 1``, and no other layer reads slot ``k + 1`` (the ReLU's output exists only as the
    pool's input). The result maps ``id`` of a step's declared layer to the layer to run there:
    the step that wrote ``relu(a)`` now writes ``max(a)`` and the step that wrote
    ``max(relu(a))`` writes ``relu(max(a))``, the same value; slots, releases and the backward
    order stay as they were, with the two layers exchanged.
    """
    readers: dict[int, int] = {}
    for srcs in sources:
        for slot in srcs:
            readers[slot] = readers.get(slot, 0) + 1
    swaps: dict[int, Layer] = {}
    k = 0
    while k < len(layers) - 1:
        relu, pool = layers[k], layers[k + 1]
        if (
            type(relu) is Relu
            and type(pool) is MaxPool2D
            and tuple(sources[k + 1]) == (k + 1,)
            and readers.get(k + 1) == 1
        ):
            swaps[id(relu)] = pool
            swaps[id(pool)] = relu
            k += 2
        else:
            k += 1
    return swaps
