"""The implementations that train_speed.py compares, each run inside its own child process.

Every implementation trains the same MLP (ReLU hidden layers, softmax cross-entropy, plain SGD,
float32) on the same Fashion-MNIST arrays and returns the wall and CPU seconds of every epoch
(the shuffle plus all the optimisation steps; data loading and the final test pass are not
timed) and the final test accuracy. The child process does the thread setup before calling them.
"""

from __future__ import annotations

import functools
import itertools
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import N_TRAIN, NetConfig, load_fashion_mnist

Result = dict[str, Any]

SCALE = np.float32(1.0 / 255.0)


def _he_init(sizes: tuple[int, ...], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(math.sqrt(2.0 / fan_in))
        layers.append((w, np.zeros(fan_out, dtype=np.float32)))
    return layers


def _batches(n: int, batch: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch, n)) for start in range(0, n, batch)]


class EpochTimer:
    """Wall and CPU seconds of each epoch.

    CPU time (``time.process_time``: all threads of the process) is the robust figure for
    one-thread runs on a busy machine, where another process's time slices inflate wall time;
    with two BLAS threads it also counts the worker's busy-waiting, so read wall time there.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._start = (0.0, 0.0)

    def start(self) -> None:
        self._start = (time.perf_counter(), time.process_time())

    def stop(self) -> None:
        wall, cpu = self._start
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)

    def result(self) -> Result:
        return {"epoch_seconds": self.wall, "epoch_cpu_seconds": self.cpu}


# ----------------------------------------------------------------------------- hand-fused NumPy


class FusedMLP:
    """The floor: a hand-written float32 NumPy MLP with no allocation per step beyond tiny ones.

    Pixels stay uint8 and each shuffled batch is gathered into a reused uint8 buffer, then
    scaled into a reused float32 buffer; every matmul writes into a preallocated array
    (``out=``); the softmax-cross-entropy gradient ``(p - onehot(y)) / n`` is formed in place
    in the score buffer from integer labels; SGD updates the weights in place. A partial last
    batch uses the leading rows of the same buffers (row slices stay C-contiguous).
    """

    def __init__(self, sizes: tuple[int, ...], batch: int, lr: float, rng: np.random.Generator) -> None:
        self.lr = np.float32(lr)
        self.params = _he_init(sizes, rng)
        self.grads = [(np.empty_like(w), np.empty_like(b)) for w, b in self.params]
        self.x_u8 = np.empty((batch, sizes[0]), dtype=np.uint8)
        # acts[0] is the input batch, acts[i] the output of layer i (scores for the last one)
        self.acts = [np.empty((batch, n), dtype=np.float32) for n in sizes]
        # deltas[i]: gradient w.r.t. the input of layer i (pre-activation of layer i-1)
        self.deltas = [np.empty((batch, n), dtype=np.float32) for n in sizes[1:-1]]
        self.masks = [np.empty((batch, n), dtype=bool) for n in sizes[1:-1]]
        self.row_max = np.empty((batch, 1), dtype=np.float32)
        self.ones = np.ones((sizes[-1], 1), dtype=np.float32)
        self.rows = np.arange(batch)

    def forward(self, x: np.ndarray, n: int) -> np.ndarray:
        a = x
        last = len(self.params) - 1
        for i, (w, b) in enumerate(self.params):
            z = self.acts[i + 1][:n]
            np.matmul(a, w, out=z)
            z += b
            if i < last:
                np.maximum(z, 0, out=z)
            a = z
        return a

    def step(self, x_all: np.ndarray, y_all: np.ndarray, idx: np.ndarray) -> float:
        n = len(idx)
        x_u8 = self.x_u8[:n]
        # mode="clip": with the default "raise" NumPy gathers into a temporary and copies it to out
        np.take(x_all, idx, axis=0, out=x_u8, mode="clip")
        x = self.acts[0][:n]
        np.copyto(x, x_u8, casting="unsafe")  # then scale in place: faster than a mixed-type multiply
        x *= SCALE
        y = y_all[idx]
        s = self.forward(x, n)

        # softmax cross-entropy, fused with its gradient, in place in the score buffer
        # Row reductions over 10 columns are slow in NumPy (a loop per row): the row maximum is
        # taken column by column and the row sum as a GEMV, 3-5x faster at B=100..1000.
        m = self.row_max[:n]
        m1 = m[:, 0]
        np.maximum(s[:, 0], s[:, 1], out=m1)
        for j in range(2, s.shape[1]):
            np.maximum(m1, s[:, j], out=m1)
        s -= m
        rows = self.rows[:n]
        picked = s[rows, y]
        np.exp(s, out=s)
        np.matmul(s, self.ones, out=m)
        loss = float(np.log(m).sum() - picked.sum()) / n
        s /= m
        s[rows, y] -= 1.0
        s *= np.float32(1.0 / n)

        delta = s
        for i in range(len(self.params) - 1, -1, -1):
            w, _ = self.params[i]
            dw, db = self.grads[i]
            np.matmul(self.acts[i][:n].T, delta, out=dw)
            np.sum(delta, axis=0, out=db)
            if i > 0:
                prev = self.deltas[i - 1][:n]
                np.matmul(delta, w.T, out=prev)
                mask = self.masks[i - 1][:n]
                np.greater(self.acts[i][:n], 0, out=mask)
                np.multiply(prev, mask, out=prev)  # ReLU backward; faster than prev[~mask] = 0
                delta = prev

        for (w, b), (dw, db) in zip(self.params, self.grads):
            dw *= self.lr
            w -= dw
            db *= self.lr
            b -= db
        return loss

    def accuracy(self, x_u8: np.ndarray, y: np.ndarray, chunk: int = 1000) -> float:
        correct = 0
        for start, stop in _batches(len(x_u8), chunk):
            x = x_u8[start:stop].astype(np.float32) * SCALE
            a = x
            for i, (w, b) in enumerate(self.params):
                a = a @ w + b
                if i < len(self.params) - 1:
                    np.maximum(a, 0, out=a)
            correct += int((a.argmax(axis=1) == y[start:stop]).sum())
        return correct / len(x_u8)


def run_fused(cfg: NetConfig, epochs: int, seed: int) -> Result:
    data = load_fashion_mnist()
    rng = np.random.default_rng(seed)
    model = FusedMLP(cfg.sizes, cfg.batch_size, cfg.lr, rng)
    y_train = data.y_train.astype(np.intp)
    n = len(y_train)
    timer, losses = EpochTimer(), []
    for _ in range(epochs):
        timer.start()
        perm = rng.permutation(n)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            total += model.step(data.x_train, y_train, idx) * len(idx)
        timer.stop()
        losses.append(total / n)
    return {
        **timer.result(),
        "train_loss": losses[-1],
        "test_accuracy": model.accuracy(data.x_test, data.y_test),
    }


# ----------------------------------------------------------------------------- PyTorch


def run_torch(cfg: NetConfig, epochs: int, seed: int, threads: int) -> Result:
    """PyTorch CPU eager, written as its tutorials do (manual batching: no DataLoader overhead)."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data = load_fashion_mnist()
    x_train = torch.from_numpy(data.x_train).to(torch.float32).div_(255.0)
    y_train = torch.from_numpy(data.y_train).to(torch.int64)
    x_test = torch.from_numpy(data.x_test).to(torch.float32).div_(255.0)
    y_test = torch.from_numpy(data.y_test).to(torch.int64)

    modules: list[nn.Module] = []
    sizes = cfg.sizes
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        modules.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    model = nn.Sequential(*modules)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(seed)

    n = len(y_train)
    timer, losses = EpochTimer(), []
    for _ in range(epochs):
        timer.start()
        model.train()
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        timer.stop()
        losses.append(total / n)

    model.eval()
    with torch.inference_mode():
        correct = sum(
            int((model(x_test[s:e]).argmax(dim=1) == y_test[s:e]).sum())
            for s, e in _batches(len(y_test), 1000)
        )
    config = torch.__config__.show()
    blas = next(
        (
            part.split("=", 1)[1]
            for part in config.replace(",", "\n").split()
            if part.startswith("BLAS_INFO=")
        ),
        "?",
    )
    return {
        **timer.result(),
        "train_loss": losses[-1],
        "test_accuracy": correct / len(y_test),
        "extra": {
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_blas": blas,
        },
    }


# ----------------------------------------------------------------------------- scikit-learn


class _EpochClock:
    """A stdout stand-in that timestamps MLPClassifier's verbose "Iteration N" lines.

    scikit-learn has no per-epoch callback; with ``verbose=True`` it prints one line at the end
    of every epoch, so the time between two such lines is exactly one epoch of ``fit``.
    """

    def __init__(self) -> None:
        self.stamps: list[tuple[float, float]] = []
        self.losses: list[float] = []

    def stamp(self) -> None:
        self.stamps.append((time.perf_counter(), time.process_time()))

    def write(self, text: str) -> int:
        if text.startswith("Iteration"):
            self.stamp()
            self.losses.append(float(text.rsplit("=", 1)[1]))
        return len(text)

    def flush(self) -> None:
        pass


def run_sklearn(cfg: NetConfig, epochs: int, seed: int) -> Result:
    import contextlib
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data = load_fashion_mnist()
    x_train = data.x_train.astype(np.float32) * SCALE
    x_test = data.x_test.astype(np.float32) * SCALE
    clf = MLPClassifier(
        hidden_layer_sizes=cfg.hidden,
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=cfg.batch_size,
        learning_rate="constant",
        learning_rate_init=cfg.lr,
        momentum=0.0,
        nesterovs_momentum=False,
        max_iter=epochs,
        shuffle=True,
        random_state=seed,
        tol=0.0,
        n_iter_no_change=10**9,
        early_stopping=False,
        verbose=True,
    )
    clock = _EpochClock()
    with warnings.catch_warnings(), contextlib.redirect_stdout(clock):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clock.stamp()
        clf.fit(x_train, data.y_train)
    if len(clock.stamps) != epochs + 1:
        raise RuntimeError(f"MLPClassifier ran {len(clock.stamps) - 1} epochs, expected {epochs}")
    return {
        # epoch 1 includes fit()'s input validation
        "epoch_seconds": [b[0] - a[0] for a, b in itertools.pairwise(clock.stamps)],
        "epoch_cpu_seconds": [b[1] - a[1] for a, b in itertools.pairwise(clock.stamps)],
        "train_loss": clock.losses[-1],
        "test_accuracy": float(clf.score(x_test, data.y_test)),
        "extra": {"sklearn_version": sklearn.__version__, "coef_dtype": str(clf.coefs_[0].dtype)},
    }


# ----------------------------------------------------------------------------- GEMM-bound limit


def gemm_shapes(sizes: tuple[int, ...], n: int) -> list[tuple[str, int, str, tuple[int, int, int]]]:
    """The GEMMs of one training step at batch ``n``: (name, layer, kind, (m, k, p)) in call order.

    ``kind`` is ``fwd`` (X @ W), ``dw`` (X.T @ D) or ``dx`` (D @ W.T, not needed for layer 0).
    """
    shapes = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        shapes.append((f"L{i + 1} X@W", i, "fwd", (n, fan_in, fan_out)))
    for i in range(len(sizes) - 2, -1, -1):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        shapes.append((f"L{i + 1} X.T@D", i, "dw", (fan_in, n, fan_out)))
        if i > 0:
            shapes.append((f"L{i + 1} D@W.T", i, "dx", (n, fan_out, fan_in)))
    return shapes


def run_gemm(cfg: NetConfig, epochs: int, seed: int, n_train: int = N_TRAIN) -> Result:
    """The GEMM-bound limit: each GEMM of forward + backward timed at its real shape and layout.

    For every GEMM of a step (the two views a real backward pass uses included, ``X.T @ D`` and
    ``D @ W.T``) the benchmark runs it as many times in a row as one epoch calls it, with
    ``out=``; the sum over the GEMMs is one epoch's GEMM time, a floor no loop can beat with this
    BLAS. Repeated ``epochs`` times, like the training runs.
    """
    rng = np.random.default_rng(seed)
    sizes = cfg.sizes
    counts: dict[int, int] = {}
    for start, stop in _batches(n_train, cfg.batch_size):
        counts[stop - start] = counts.get(stop - start, 0) + 1
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in itertools.pairwise(sizes)]

    def operands(n: int) -> list[tuple[str, Callable[[], Any], float]]:
        acts = [rng.random((n, s), dtype=np.float32) for s in sizes]
        deltas = [rng.standard_normal((n, s), dtype=np.float32) for s in sizes]
        ops: list[tuple[str, Callable[[], Any], float]] = []
        for name, layer, kind, (m, k, p) in gemm_shapes(sizes, n):
            if kind == "fwd":
                a, b = acts[layer], weights[layer]
                out = np.empty((n, sizes[layer + 1]), np.float32)
            elif kind == "dw":
                a, b = acts[layer].T, deltas[layer + 1]
                out = np.empty(weights[layer].shape, np.float32)
            else:
                a, b = deltas[layer + 1], weights[layer].T
                out = np.empty((n, sizes[layer]), np.float32)
            ops.append((name, functools.partial(np.matmul, a, b, out=out), 2.0 * m * k * p))
        return ops

    plan = [(count, operands(n)) for n, count in counts.items()]
    per_gemm: dict[str, float] = {}
    epoch_seconds, epoch_cpu = [], []
    flops = sum(count * sum(f for _, _, f in ops) for count, ops in plan)
    for _ in range(epochs):
        total = cpu = 0.0
        for count, ops in plan:
            for name, op, _ in ops:
                op()  # warm the operands into cache as a real step would have them
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(count):
                    op()
                dt = time.perf_counter() - t0
                cpu += time.process_time() - c0
                total += dt
                per_gemm[name] = per_gemm.get(name, 0.0) + dt
        epoch_seconds.append(total)
        epoch_cpu.append(cpu)
    best = min(epoch_seconds[1:] or epoch_seconds)
    return {
        "epoch_seconds": epoch_seconds,
        "epoch_cpu_seconds": epoch_cpu,
        "test_accuracy": None,
        "extra": {
            "gflop_per_epoch": flops / 1e9,
            "gflops_per_s": flops / best / 1e9,
            "seconds_per_epoch_by_gemm": {k: v / epochs for k, v in per_gemm.items()},
        },
    }


# ----------------------------------------------------------------------------- layerkit


def layerkit_spec(cfg: NetConfig, epochs: int, seed: int) -> dict[str, Any]:
    """The spec a user would write for this case (see model_specs/two_layer_net.yaml)."""
    layers: list[dict[str, Any]] = []
    # He initialisation, as in the hand-fused loop (and as ReLU networks should be initialised)
    for units in cfg.hidden:
        layers += [{"type": "Affine", "units": units, "init": "he"}, {"type": "Relu"}]
    layers += [{"type": "Affine", "units": 10, "init": "he"}, {"type": "SoftmaxWithLoss"}]
    return {
        "name": f"bench-{cfg.key}",
        "seed": seed,
        "dtype": "float32",
        "data": {"dataset": "fashion_mnist"},
        "model": {"layers": layers},
        "train": {
            "epochs": epochs,
            "batch_size": cfg.batch_size,
            "optimizer": {"type": "SGD", "lr": cfg.lr},
            "shuffle": True,
        },
    }


def run_layerkit(cfg: NetConfig, epochs: int, seed: int) -> Result:
    """layerkit as users run it: a YAML spec, ``load_spec`` and ``train`` (the public API).

    Wall seconds per epoch come from the run's ``metrics.csv``; a small callback (a public
    extension point, called once per batch) adds the CPU seconds of the optimisation steps.
    """
    import csv

    import yaml

    import layerkit
    from layerkit.run import train
    from layerkit.spec import load_spec
    from layerkit.training import Callback

    class CPUClock(Callback):
        def __init__(self) -> None:
            self.cpu: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
            self._start = time.process_time()

        def on_batch_end(self, trainer: Any, batch: int, loss: float) -> None:
            if batch == trainer.steps_per_epoch - 1:
                self.cpu.append(time.process_time() - self._start)

    clock = CPUClock()

    with tempfile.TemporaryDirectory(prefix="lk-bench-") as tmp:
        spec_path = Path(tmp) / f"{cfg.key}.yaml"
        spec_path.write_text(yaml.safe_dump(layerkit_spec(cfg, epochs, seed), sort_keys=False))
        t0 = time.perf_counter()
        spec = load_spec(spec_path)
        result = train(spec, out=Path(tmp) / "run", callbacks=[clock])
        wall = time.perf_counter() - t0
        with open(Path(result.run_dir) / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    # The trainer's samples_per_s counts the optimisation steps only, like the other
    # implementations' epoch times; its "seconds" adds the per-epoch test pass.
    return {
        "epoch_seconds": [N_TRAIN / float(row["samples_per_s"]) for row in rows],
        "epoch_cpu_seconds": clock.cpu,
        "train_loss": float(rows[-1]["train_loss"]),
        "test_accuracy": float(rows[-1]["test_accuracy"]),
        "extra": {
            "layerkit_version": layerkit.__version__,
            "epoch_seconds_with_eval": [float(row["seconds"]) for row in rows],
            "train_call_seconds": wall,
        },
    }


IMPLS = ("layerkit", "numpy", "torch", "sklearn", "gemm")
LABELS = {
    "layerkit": "layerkit",
    "numpy": "hand-fused NumPy",
    "torch": "PyTorch eager",
    "sklearn": "MLPClassifier",
    "gemm": "GEMM-bound limit",
}


def run_impl(impl: str, cfg: NetConfig, epochs: int, seed: int, threads: int) -> Result:
    if impl == "layerkit":
        return run_layerkit(cfg, epochs, seed)
    if impl == "numpy":
        return run_fused(cfg, epochs, seed)
    if impl == "torch":
        return run_torch(cfg, epochs, seed, threads)
    if impl == "sklearn":
        return run_sklearn(cfg, epochs, seed)
    if impl == "gemm":
        return run_gemm(cfg, epochs, seed)
    raise ValueError(f"unknown implementation {impl!r}; choose from {', '.join(IMPLS)}")


__all__ = ["IMPLS", "LABELS", "EpochTimer", "FusedMLP", "gemm_shapes", "layerkit_spec", "run_impl"]
