"""The graph engine's cost on a chain, measured in one process against a plain loop.

Both run the same layer objects of one network (Affine-Relu-Affine-Relu-Affine, softmax loss):
``engine`` is ``Network.loss_and_scores`` + ``Network.backward`` (topological steps, released
activations, fan-out bookkeeping); ``plain`` is the loop the sequential network used before
graphs (forward through the layers, backward through those upstream of which there are weights).
Interleaved, CPU time, medians; a ratio near 1.00 means the engine costs nothing measurable.

    python benchmarks/engine_overhead.py [--reps 61]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from layerkit import Affine, Network, Relu, SoftmaxWithLoss


def measure(units: int, batch: int, reps: int) -> tuple[float, float]:
    layers = [
        Affine(units=units),
        Relu(),
        Affine(units=units),
        Relu(),
        Affine(units=10),
        SoftmaxWithLoss(),
    ]
    net = Network(layers, input_shape=(784,), seed=0)
    x = np.random.default_rng(0).random((batch, 784), dtype=np.float32)
    t = np.arange(batch) % 10
    body, loss = net.layers[:-1], net.loss_layer
    path = [layer for layer in reversed(body) if layer.params or layer.needs_input_grad]

    def engine() -> None:
        net.loss_and_scores(x, t, labels_validated=True)
        net.backward()

    def plain() -> None:
        h = x
        for layer in body:
            h = layer.forward(h, train=True)
        loss.forward_validated(h, t)
        d = loss.backward(1.0)
        for layer in path:
            d = layer.backward(d)

    times: dict[str, list[float]] = {"engine": [], "plain": []}
    for f in (engine, plain):
        for _ in range(20):
            f()
    for _ in range(reps):
        for name, f in (("engine", engine), ("plain", plain)):
            start = time.process_time()
            for _ in range(50):
                f()
            times[name].append((time.process_time() - start) / 50 * 1e6)
    return float(np.median(times["engine"])), float(np.median(times["plain"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=61)
    args = parser.parse_args()
    with threadpool_limits(1):
        for units, batch in ((8, 2), (50, 100), (256, 128)):
            e, p = measure(units, batch, args.reps)
            print(
                f"784-{units}-{units}-10/B{batch}: engine {e:.1f} us/step, plain loop {p:.1f} us/step, ratio {e / p:.3f}"
            )


if __name__ == "__main__":
    main()
