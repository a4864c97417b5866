"""Optimizers against hand-written textbook updates on a quadratic, state round trips, schedules."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from layerkit import get_registry
from layerkit.errors import CheckpointError, ConfigError
from layerkit.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from layerkit.training.config import CosineSchedule, StepSchedule, TrainConfig
from layerkit.training.schedules import learning_rate

# f(w) = 0.5 * sum(a * w**2) has gradient a * w: a different curvature per coordinate.
CURVATURE = np.array([1.0, 3.0, 0.5, 10.0])
W0 = np.array([1.0, -2.0, 0.5, 0.25])


def reference_steps(name: str, hp: dict[str, float], steps: int) -> list[list[float]]:
    """The textbook's update rules written out per scalar coordinate, in plain Python."""
    lr = hp["lr"]
    w = [float(v) for v in W0]
    a = [float(v) for v in CURVATURE]
    v = [0.0] * len(w)
    h = [0.0] * len(w)
    m = [0.0] * len(w)
    out = []
    for t in range(1, steps + 1):
        for i in range(len(w)):
            g = a[i] * w[i]
            if name == "SGD":
                w[i] -= lr * g
            elif name == "Momentum":
                v[i] = hp["momentum"] * v[i] - lr * g
                w[i] += v[i]
            elif name == "Nesterov":
                mu = hp["momentum"]
                v[i] = mu * v[i] - lr * g
                w[i] += mu * mu * v[i] - (1 + mu) * lr * g
            elif name == "AdaGrad":
                h[i] += g * g
                w[i] -= lr * g / (math.sqrt(h[i]) + 1e-7)
            elif name == "RMSprop":
                rho = hp["decay_rate"]
                h[i] = rho * h[i] + (1 - rho) * g * g
                w[i] -= lr * g / (math.sqrt(h[i]) + 1e-7)
            elif name == "Adam":
                b1, b2 = hp["beta1"], hp["beta2"]
                lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                m[i] += (1 - b1) * (g - m[i])
                h[i] += (1 - b2) * (g * g - h[i])
                w[i] -= lr_t * m[i] / (math.sqrt(h[i]) + 1e-7)
        out.append(list(w))
    return out


CASES = [
    (SGD, {"lr": 0.1}),
    (Momentum, {"lr": 0.05, "momentum": 0.9}),
    (Nesterov, {"lr": 0.05, "momentum": 0.8}),
    (AdaGrad, {"lr": 0.3}),
    (RMSprop, {"lr": 0.01, "decay_rate": 0.9}),
    (Adam, {"lr": 0.05, "beta1": 0.9, "beta2": 0.999}),
]


@pytest.mark.parametrize(("cls", "hp"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_matches_textbook_update_on_quadratic(cls: type[Optimizer], hp: dict[str, float]) -> None:
    opt = cls(**hp)
    w = W0.copy()
    expected = reference_steps(cls.__name__, hp, steps=6)
    for t in range(6):
        grad = CURVATURE * w
        opt.update({"w": w}, {"w": grad})
        np.testing.assert_allclose(w, expected[t], rtol=1e-12, atol=1e-15, err_msg=f"step {t + 1}")
    assert opt.iterations == 6


@pytest.mark.parametrize(("cls", "hp"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_descends_the_quadratic(cls: type[Optimizer], hp: dict[str, float]) -> None:
    opt = cls(**hp)
    w = W0.copy()
    start = 0.5 * float(np.sum(CURVATURE * w * w))
    for _ in range(200):
        opt.update({"w": w}, {"w": CURVATURE * w})
    assert 0.5 * float(np.sum(CURVATURE * w * w)) < 0.05 * start


@pytest.mark.parametrize(("cls", "hp"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_update_does_not_touch_gradients(cls: type[Optimizer], hp: dict[str, float]) -> None:
    opt = cls(**hp, weight_decay=0.1)
    w = np.ones((3, 2))
    grad = np.full((3, 2), 0.5)
    for _ in range(3):
        opt.update({"w": w}, {"w": grad})
    np.testing.assert_array_equal(grad, 0.5)


@pytest.mark.parametrize(("cls", "hp"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_state_round_trip_resumes_bitwise(cls: type[Optimizer], hp: dict[str, float]) -> None:
    rng = np.random.default_rng(0)
    params = {
        "fc.W": rng.standard_normal((5, 3)).astype(np.float32),
        "fc.b": np.zeros(3, np.float32),
    }
    grads_seq = [
        {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
        for _ in range(6)
    ]
    a = cls(**hp, weight_decay=0.01)
    for grads in grads_seq[:3]:
        a.update(params, grads)
    state = a.state_dict()
    b = cls(**hp, weight_decay=0.01)
    b.load_state_dict(state)
    params_b = {k: v.copy() for k, v in params.items()}
    for grads in grads_seq[3:]:
        a.update(params, grads)
        b.update(params_b, grads)
    for key in params:
        assert params[key].dtype == np.float32
        np.testing.assert_array_equal(params[key], params_b[key])
    assert b.iterations == 6
    # b's slots are copies: had they aliased a's, each step would have been applied twice
    for slot, arrays in b.state.items():
        for key, arr in arrays.items():
            assert not np.shares_memory(arr, a.state[slot][key])


def test_load_state_rejects_foreign_slots() -> None:
    state = Adam().state_dict()
    state["slots"] = {"velocity": {}}
    with pytest.raises(
        CheckpointError, match=r"SGD: optimizer state has unknown slot\(s\) \['velocity'\]"
    ):
        SGD().load_state_dict(state)


def test_weight_decay_applies_to_weight_matrices_only() -> None:
    opt = SGD(lr=0.1, weight_decay=0.5)
    params = {"fc.W": np.full((2, 2), 2.0), "fc.b": np.full(2, 2.0)}
    grads = {"fc.W": np.zeros((2, 2)), "fc.b": np.zeros(2)}
    opt.update(params, grads)
    np.testing.assert_allclose(params["fc.W"], 2.0 - 0.1 * 0.5 * 2.0)
    np.testing.assert_array_equal(params["fc.b"], 2.0)


@pytest.mark.parametrize(("cls", "hp"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_steps_after_the_first_allocate_no_parameter_sized_arrays(
    cls: type[Optimizer], hp: dict[str, float]
) -> None:
    params = {"W": np.ones((500, 500), np.float32)}  # 1 MB
    grads = {"W": np.full((500, 500), 1e-3, np.float32)}
    opt = cls(**hp, weight_decay=1e-4)
    opt.update(params, grads)  # allocates state and scratch once
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000, f"{cls.__name__}.update allocated {peak} bytes"


def test_hyperparameters_are_validated_with_readable_errors() -> None:
    with pytest.raises(ConfigError, match=r"Adam\.lr: must be > 0(\.0)? \(received 0\)"):
        Adam(lr=0)
    with pytest.raises(
        ConfigError, match=r"Momentum\.momentum: must be < 1(\.0)? \(received 1\.5\)"
    ):
        Momentum(momentum=1.5)
    with pytest.raises(ConfigError, match=r"SGD\.betas: unknown key"):
        SGD(betas=0.9)


def test_builtin_optimizers_are_registered_through_the_plugin_hook() -> None:
    registry = get_registry()
    for cls, _ in CASES:
        entry = registry.lookup("optimizers", cls.__name__)
        assert entry.component is cls
        assert entry.plugin == "builtins"
    assert registry.optimizer("Adam")().lr == 0.001


# -- schedules ------------------------------------------------------------------------------


def test_step_schedule() -> None:
    sched = StepSchedule(type="step", step_size=3, gamma=0.5)
    lrs = [learning_rate(sched, 0.8, e, 10) for e in range(7)]
    assert lrs == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]


def test_cosine_schedule() -> None:
    sched = CosineSchedule(type="cosine", min_lr=0.01)
    lrs = [learning_rate(sched, 0.1, e, 4) for e in range(4)]
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs == pytest.approx(expected, rel=1e-15)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs == sorted(lrs, reverse=True)


def test_no_schedule_keeps_the_base_rate() -> None:
    assert learning_rate(None, 0.3, 99, 100) == 0.3


def test_train_config_parses_schedules_by_type() -> None:
    cfg = TrainConfig.model_validate({"schedule": {"type": "step", "step_size": 2}})
    assert isinstance(cfg.schedule, StepSchedule) and cfg.schedule.gamma == 0.1
    cfg = TrainConfig.model_validate({"schedule": {"type": "cosine"}})
    assert isinstance(cfg.schedule, CosineSchedule) and cfg.schedule.min_lr == 0.0
