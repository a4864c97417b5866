"""Gradient checking: backpropagation against central differences, in float64.

The textbook checks TwoLayerNet by computing the numerical gradient of every one of its 39,760
weights (two forward passes each). :func:`gradcheck` gets the same assurance in a fraction of
the time: every entry of small arrays, and for large ones a random sample of entries plus
random directional derivatives, which probe all entries at once
(``(L(p + h v) - L(p - h v)) / 2h`` against ``grad . v``).

The error of one parameter array is ``max|a - n| / max(|a| + |n|, tiny)`` over the entries
checked (``a`` backprop, ``n`` numerical), a relative error that is not fooled by entries
that are zero. ``tiny`` is the scale below which central differences are rounding noise
(``10 * eps * max(|L|, 1) / h / tol``): an array whose gradient is zero (a bias followed by
BatchNorm) passes when its differences are at the noise level, a few ``eps * |L| / h``.
Dropout masks and BatchNorm statistics are replayed identically for every evaluation, so
stochastic layers are checked too.

>>> report = gradcheck(net, x[:3], t[:3])
>>> print(report)          # one row per parameter
>>> report.passed, report.max_rel_error
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from layerkit._table import render_table

if TYPE_CHECKING:
    from layerkit.layers.base import Layer, Loss, Merge
    from layerkit.network import Network

__all__ = [
    "GradcheckReport",
    "ParamCheck",
    "gradcheck",
    "gradcheck_layer",
    "loss_function",
    "network_numerical_gradient",
    "numerical_gradient",
]

TINY = 1e-12
_EPS = float(np.finfo(np.float64).eps)
# A loss computed through a network carries many roundings of eps * |L|, not one: the bias of
# an Affine before BatchNorm (true gradient 0) in model_specs/mlp_fashion.yaml measured
# differences of 1.1e-10, twice eps * |L| / h. A factor of 10 keeps such arrays passing, and
# still catches any absolute gradient error above about 1e-9.
_NOISE_MARGIN = 10.0
DEFAULT_TOL = 1e-6


def numerical_gradient(f: Callable[[], float], p: np.ndarray, *, h: float = 1e-4) -> np.ndarray:
    """Central differences ``(f(p + h e_i) - f(p - h e_i)) / 2h`` for every entry of ``p``.

    ``f`` reads ``p`` (perturbed in place and restored exactly), as in the textbook.
    """
    return _entry_differences(f, p, np.arange(p.size), h).reshape(p.shape)


def _flat_view(p: np.ndarray) -> np.ndarray:
    flat = p.reshape(-1)
    if not np.shares_memory(flat, p):
        raise ValueError("gradient checking needs contiguous parameter arrays")
    return flat


def _entry_differences(
    f: Callable[[], float], p: np.ndarray, indices: np.ndarray, h: float
) -> np.ndarray:
    flat = _flat_view(p)
    out = np.empty(len(indices), dtype=np.float64)
    for j, i in enumerate(indices):
        orig = flat[i].copy()
        flat[i] = orig + h
        f_plus = f()
        flat[i] = orig - h
        f_minus = f()
        flat[i] = orig
        out[j] = (f_plus - f_minus) / (2 * h)
    return out


def _directional_difference(
    f: Callable[[], float], p: np.ndarray, v: np.ndarray, h: float
) -> float:
    orig = p.copy()
    p += h * v
    f_plus = f()
    np.copyto(p, orig)
    p -= h * v
    f_minus = f()
    np.copyto(p, orig)
    return (f_plus - f_minus) / (2 * h)


def _noise_floor(loss: float, h: float, tol: float) -> float:
    return max(TINY, _NOISE_MARGIN * _EPS * max(1.0, abs(loss)) / h / tol)


def _rel_error(a: np.ndarray, n: np.ndarray, tiny: float) -> tuple[float, float]:
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if a.size == 0:
        return 0.0, 0.0
    diff = float(np.max(np.abs(a - n)))
    scale = float(np.max(np.abs(a) + np.abs(n)))
    return diff / max(scale, tiny), diff


@dataclass(frozen=True)
class ParamCheck:
    """The comparison for one array (a parameter, or a layer's input)."""

    name: str
    shape: tuple[int, ...]
    rel_error: float
    max_abs_diff: float
    entries_checked: int
    directions: int
    tol: float

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def passed(self) -> bool:
        return bool(self.rel_error < self.tol)  # NaN fails


@dataclass
class GradcheckReport:
    """Per-array results of a gradient check; ``passed`` when every array is within ``tol``."""

    checks: list[ParamCheck] = field(default_factory=list)
    tol: float = DEFAULT_TOL
    h: float = 1e-5
    tiny: float = TINY
    seconds: float = 0.0
    evaluations: int = 0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def max_rel_error(self) -> float:
        return max((c.rel_error for c in self.checks), default=0.0)

    def __getitem__(self, name: str) -> ParamCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def table(self) -> str:
        """A readable table: one row per array, then the verdict."""

        rows = []
        for c in self.checks:
            checked = f"{c.entries_checked}/{c.size}" + (
                f" + {c.directions} dir" if c.directions else ""
            )
            rows.append(
                (
                    c.name,
                    "x".join(map(str, c.shape)) or "()",
                    checked,
                    f"{c.rel_error:.2e}",
                    f"{c.max_abs_diff:.2e}",
                    "yes" if c.passed else "NO",
                )
            )
        lines = [render_table(("array", "shape", "checked", "rel error", "max abs diff", "ok"), rows)]
        verdict = "passed" if self.passed else "FAILED"
        lines.append(
            f"{verdict}: max relative error {self.max_rel_error:.2e} (tolerance {self.tol:.0e}, "
            f"h {self.h:.0e}, {self.evaluations} evaluations, {self.seconds:.2f} s)"
        )
        return "\n".join(lines)

    __str__ = table

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``layerkit gradcheck --json``)."""
        return {
            "passed": self.passed,
            "max_rel_error": self.max_rel_error,
            "tol": self.tol,
            "h": self.h,
            "tiny": self.tiny,
            "seconds": self.seconds,
            "evaluations": self.evaluations,
            "params": [
                {**asdict(c), "shape": list(c.shape), "size": c.size, "passed": c.passed}
                for c in self.checks
            ],
        }


class _Counter:
    def __init__(self, f: Callable[[], float]) -> None:
        self.f, self.calls = f, 0

    def __call__(self) -> float:
        self.calls += 1
        return self.f()


def _compare(
    name: str,
    f: _Counter,
    p: np.ndarray,
    analytic: np.ndarray,
    *,
    h: float,
    tol: float,
    max_full: int,
    samples: int,
    directions: int,
    rng: np.random.Generator,
    tiny: float,
) -> ParamCheck:
    """Check one array: all entries if small, else sampled entries plus directional derivatives."""
    analytic = np.asarray(analytic, dtype=np.float64)
    if p.size <= max_full:
        idx = np.arange(p.size)
        n_dirs = 0
    else:
        idx = np.sort(rng.choice(p.size, size=min(samples, p.size), replace=False))
        n_dirs = directions
    numeric = _entry_differences(f, p, idx, h)
    rel, diff = _rel_error(analytic.reshape(-1)[idx], numeric, tiny)
    for _ in range(n_dirs):
        v = rng.standard_normal(p.shape)
        v /= np.linalg.norm(v)
        a_dir = float(np.vdot(analytic, v))
        n_dir = _directional_difference(f, p, v, h)
        r, d = _rel_error(np.array([a_dir]), np.array([n_dir]), tiny)
        rel, diff = max(rel, r), max(diff, d)
    return ParamCheck(name, tuple(p.shape), rel, diff, len(idx), n_dirs, tol)


def loss_function(
    network: Network, x: Any, t: Any, *, train: bool = True
) -> tuple[Callable[[], float], Callable[[], None]]:
    """``(f, restore)``: ``f()`` is the network's loss on ``(x, t)`` with the current weights,
    evaluated from the same buffers and generator states every time; ``restore()`` puts them back.
    """
    x = np.asarray(x, dtype=network.dtype)
    buffers = {k: v.copy() for k, v in network.buffers.items()}
    rng_state = network.rng_state()
    live = network.buffers

    def restore() -> None:
        for k, v in buffers.items():
            np.copyto(live[k], v)
        network.set_rng_state(rng_state)

    def f() -> float:
        restore()
        return network.loss(x, t, train=train)

    return f, restore


def network_numerical_gradient(
    network: Network, x: Any, t: Any, *, h: float = 1e-4, train: bool = True
) -> dict[str, np.ndarray]:
    """Gradients of ``network`` by central differences over every weight (the textbook's slow
    reference), keyed like ``network.params``.

    Dropout masks and BatchNorm statistics are replayed identically for every evaluation, and the
    network's state is left as it was. :func:`gradcheck` compares against backprop quickly.
    """
    f, restore = loss_function(network, x, t, train=train)
    try:
        return {k: numerical_gradient(f, p, h=h) for k, p in network.params.items()}
    finally:
        restore()


def gradcheck(
    network: Network,
    x: Any,
    t: Any,
    *,
    tol: float = DEFAULT_TOL,
    h: float = 1e-5,
    max_full: int = 1000,
    samples: int = 64,
    directions: int = 8,
    train: bool = True,
    seed: int = 0,
) -> GradcheckReport:
    """Check ``network``'s backprop gradients on ``(x, t)`` against central differences.

    Works on a float64 copy (:meth:`Network.with_dtype`), so ``network`` is left untouched.
    Arrays with at most ``max_full`` entries are checked entry by entry; larger ones at
    ``samples`` random entries plus ``directions`` random directions.
    """
    start = time.perf_counter()
    net = network.with_dtype(np.float64)
    f, restore = loss_function(net, x, t, train=train)
    counted = _Counter(f)
    loss = counted()
    net.backward()
    analytic = {k: g.copy() for k, g in net.grads.items()}
    rng = np.random.default_rng(seed)
    tiny = _noise_floor(loss, h, tol)
    report = GradcheckReport(tol=tol, h=h, tiny=tiny)
    for key, p in net.params.items():
        report.checks.append(
            _compare(
                key,
                counted,
                p,
                analytic[key],
                h=h,
                tol=tol,
                max_full=max_full,
                samples=samples,
                directions=directions,
                rng=rng,
                tiny=tiny,
            )
        )
    restore()
    report.evaluations = counted.calls
    report.seconds = time.perf_counter() - start
    return report


def gradcheck_layer(
    layer: Layer,
    x: np.ndarray | Sequence[np.ndarray],
    *,
    y: np.ndarray | None = None,
    t: Any = None,
    train: bool = True,
    tol: float = DEFAULT_TOL,
    h: float = 1e-5,
    max_full: int = 1000,
    samples: int = 64,
    directions: int = 8,
    seed: int = 0,
) -> GradcheckReport:
    """Check one built layer's ``dx`` and parameter gradients against central differences.

    The scalar checked is ``sum(forward(x) * R)`` with a fixed random ``R`` (so ``backward(R)``
    is its gradient), the loss itself for a loss layer (``t`` its targets), and
    ``sum(forward(*x) * R)`` for a merge layer, ``x`` being one array per input (each input's
    gradient checked; ``y`` is the second input of the textbook's two-input form). Build the layer
    in float64 for meaningful results. Its buffers and generator state are replayed for every
    evaluation and restored at the end.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    merge = layer.kind == "merge"
    raw = (list(x) if not isinstance(x, np.ndarray) else [x]) if merge else [x]
    if y is not None:
        raw.append(y)
    # private copies: perturbed in place below
    xs = [np.array(a, dtype=layer.dtype) for a in raw]
    buffers = {k: v.copy() for k, v in layer.buffers.items()}
    rng_state = layer.rng.bit_generator.state if layer.rng is not None else None
    kind = layer.kind

    def restore() -> None:
        for k, v in buffers.items():
            np.copyto(layer.buffers[k], v)
        if rng_state is not None:
            layer.rng.bit_generator.state = rng_state  # type: ignore[union-attr]

    def run() -> Any:
        restore()
        if kind == "loss":
            return cast("Loss", layer).forward(xs[0], t)
        if merge:
            return cast("Merge", layer).forward(*xs, train=train)
        return layer.forward(xs[0], train=train)

    out = run()
    R = None if kind == "loss" else rng.standard_normal(np.shape(out)).astype(layer.dtype)

    def f() -> float:
        value = run()
        return float(value) if R is None else float(np.vdot(value, R))

    counted = _Counter(f)
    grads_in = cast("Loss", layer).backward(1.0) if R is None else layer.backward(R)
    analytic_params = {k: g.copy() for k, g in layer.grads.items()}
    inputs: list[tuple[str, np.ndarray, Any]] = []
    if merge:
        names = ["x", "y"] if len(xs) == 2 else [f"x{i + 1}" for i in range(len(xs))]
        inputs = list(zip(names, xs, grads_in))  # type: ignore[arg-type]
    elif grads_in is not None:
        inputs = [("x", xs[0], grads_in)]
    tiny = _noise_floor(f(), h, tol)
    report = GradcheckReport(tol=tol, h=h, tiny=tiny)
    options: dict[str, Any] = {
        "h": h,
        "tol": tol,
        "max_full": max_full,
        "samples": samples,
        "directions": directions,
        "rng": rng,
        "tiny": tiny,
    }
    for name, arr, grad in inputs:
        report.checks.append(
            _compare(name, counted, arr, np.broadcast_to(grad, arr.shape), **options)
        )
    for name, p in layer.params.items():
        report.checks.append(_compare(name, counted, p, analytic_params[name], **options))
    restore()
    report.evaluations = counted.calls + 2
    report.seconds = time.perf_counter() - start
    return report
