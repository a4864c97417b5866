"""The contracts the fast training step relies on, and that its shortcuts compute the same maths.

Gradient arrays are written in place (so the network maps them once), labels validated once per
split let the loss skip its per-batch checks, and the hand-tuned kernels (row max column by
column, row and column sums as GEMVs, ReLU backward from the output) match the plain NumPy
expressions they replace.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerkit import Affine, Network, Relu, SoftmaxWithLoss
from layerkit.data.base import Split
from layerkit.errors import ShapeError
from layerkit.functions import cross_entropy, softmax
from layerkit.optimizers import SGD
from layerkit.testing import check_layer
from layerkit.training.config import TrainConfig
from layerkit.training.trainer import Trainer

# -- grads written in place ---------------------------------------------------------------------


class RebindingAffine(Affine):
    """Computes the right gradients but binds new arrays to ``grads`` (``grads["W"] = ...``)."""

    name = "RebindingAffine"

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        self.grads["W"] = self._x2.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return (dout @ self.params["W"].T).reshape(self._x_shape)


class RebindingWeights(Affine):
    """Replaces its weight array in forward (``params["W"] = W.copy()``)."""

    name = "RebindingWeights"

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        self.params["W"] = self.params["W"].copy()
        return super().forward(x, train=train)


def _statuses(cls: type) -> dict[str, str]:
    return {r.check: r.status for r in check_layer(cls, {"units": 3}, (4,))}


def test_a_layer_that_rebinds_its_grads_fails_only_the_in_place_check() -> None:
    results = check_layer(RebindingAffine, {"units": 3}, (4,))
    failed = {r.check: r.message for r in results if r.status == "failed"}
    assert set(failed) == {"arrays-in-place"}
    assert "grads['W'] is not the array build allocated" in failed["arrays-in-place"]
    assert "after the first forward/backward" in failed["arrays-in-place"]


def test_a_layer_that_rebinds_its_weights_fails_the_in_place_check() -> None:
    result = next(
        r for r in check_layer(RebindingWeights, {"units": 3}, (4,)) if r.check == "arrays-in-place"
    )
    assert (
        result.status == "failed"
        and "params['W'] is not the array build allocated" in result.message
    )


def test_builtin_affine_passes_the_in_place_check() -> None:
    assert _statuses(Affine)["arrays-in-place"] == "passed"


def test_network_grads_is_one_mapping_of_the_layers_own_arrays() -> None:
    net = Network(
        [Affine(units=4), Relu(), Affine(units=3), SoftmaxWithLoss()],
        input_shape=(5,),
        seed=0,
    )
    grads = net.grads
    assert grads is net.grads
    assert list(grads) == list(net.params) == ["affine1.W", "affine1.b", "affine2.W", "affine2.b"]
    assert grads["affine2.W"] is net["affine2"].grads["W"]
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    first = net.gradient(x, t)
    second = net.gradient(x * 2.0, t)
    assert net.grads is grads and grads["affine1.W"] is net["affine1"].grads["W"]
    assert not np.array_equal(first["affine1.W"], second["affine1.W"])
    np.testing.assert_array_equal(grads["affine1.W"], second["affine1.W"])


def test_rebuilding_a_network_maps_the_new_arrays() -> None:
    net = Network([Affine(units=2), SoftmaxWithLoss()], input_shape=(3,), seed=0)
    old = net.grads
    net.build((4,))
    assert net.grads is not old and net.grads["affine1.W"].shape == (4, 2)
    assert net.grads["affine1.W"] is net["affine1"].grads["W"]


# -- SoftmaxWithLoss ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [1, 2, 3, 10])
def test_softmax_with_loss_matches_the_plain_expressions(dtype: Any, classes: int) -> None:
    rng = np.random.default_rng(classes)
    x = (rng.standard_normal((37, classes)) * 5).astype(dtype)
    t = rng.integers(0, classes, 37)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(cross_entropy(x.astype(np.float64), t), rel=tol, abs=tol)
    expected = (softmax(x.astype(np.float64)) - np.eye(classes)[t]) / 37
    np.testing.assert_allclose(dx, expected, rtol=tol, atol=tol)
    assert dx.dtype == dtype


def test_forward_validated_is_forward_without_the_checks() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    t = rng.integers(0, 5, 8)
    layer = SoftmaxWithLoss()
    loss, dx = layer.forward(x, t), layer.backward()
    assert layer.forward_validated(x, t) == loss
    np.testing.assert_array_equal(layer.backward(), dx)
    # The public forward still checks every call: a negative index must never pick from the end.
    with pytest.raises(ShapeError, match=r"labels must be in \[0, 5\) \(received min -1"):
        layer.forward(x, np.where(t == t[0], -1, t))


def test_the_row_max_propagates_nan_like_numpy() -> None:
    x = np.array([[0.0, np.nan, 1.0], [2.0, 1.0, 0.0]])
    with np.errstate(invalid="ignore"):
        loss = SoftmaxWithLoss().forward(x, np.array([0, 0]))
    assert np.isnan(loss)


class CountingLoss(SoftmaxWithLoss):
    """Counts which entry point the network calls."""

    name = "CountingLoss"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls = {"forward": 0, "forward_validated": 0}

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:  # type: ignore[override]
        self.calls["forward"] += 1
        return super().forward(x, t)

    def forward_validated(self, x: np.ndarray, t: np.ndarray) -> float:
        self.calls["forward_validated"] += 1
        return super().forward_validated(x, t)


def _trainer(y: np.ndarray, loss: SoftmaxWithLoss) -> Trainer:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((y.size, 4)).astype(np.float32)
    net = Network([Affine(units=3), loss], input_shape=(4,), seed=0)
    return Trainer(
        net,
        SGD(lr=0.1),
        TrainConfig(epochs=1, batch_size=5),
        {"train": Split(x, y)},
        seed=0,
    )


def test_the_trainer_checks_labels_once_then_skips_the_per_batch_checks() -> None:
    loss = CountingLoss()
    _trainer(np.arange(20) % 3, loss).fit()
    assert loss.calls == {"forward": 0, "forward_validated": 4}


def test_labels_out_of_range_still_fail_with_the_loss_error() -> None:
    loss = CountingLoss(id="loss")
    y = np.arange(20) % 3
    y[13] = 3
    trainer = _trainer(y, loss)
    with pytest.raises(
        ShapeError, match=r"loss: labels must be in \[0, 3\) \(received min \d, max 3\)"
    ):
        trainer.fit()
    assert loss.calls["forward_validated"] == 0


# -- Relu and Affine ---------------------------------------------------------------------------


def test_relu_returns_a_new_output_each_call_and_the_textbook_gradient() -> None:
    relu = Relu()
    x = np.array([[-1.0, 0.0, -0.0, 2.0, np.nan, 3.0]], dtype=np.float32)
    first = relu.forward(x, train=True)
    kept = first.copy()
    second = relu.forward(-x, train=True)
    assert second is not first and np.shares_memory(first, second) is False
    np.testing.assert_array_equal(first, kept)
    dout = np.array([[5.0, -6.0, 7.0, -8.0, 9.0, -10.0]], dtype=np.float32)
    dx = relu.backward(dout)
    expected = dout * (-x > 0)
    # Bitwise the textbook's dout * mask, signed zeros included.
    assert dx.tobytes() == expected.tobytes() and dx.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_bias_gradient_for_changing_batch_sizes(dtype: Any) -> None:
    layer = Affine(units=3)
    layer.build((4,), rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    rng = np.random.default_rng(1)
    for n in (2, 7, 7, 1, 9):
        layer.forward(rng.standard_normal((n, 4)).astype(dtype), train=True)
        dout = rng.standard_normal((n, 3)).astype(dtype)
        layer.backward(dout)
        np.testing.assert_allclose(
            layer.grads["b"],
            dout.sum(axis=0),
            rtol=1e-5 if dtype == np.float32 else 1e-12,
        )


# -- run costs outside the steps -----------------------------------------------------------------

TINY_SPIRAL = """\
name: tiny_spiral
seed: 0
data: {dataset: spiral, points_per_class: 50}
model:
  layers:
    - {type: Affine, units: 8, init: he}
    - {type: Relu}
    - {type: Affine, units: 3}
    - {type: SoftmaxWithLoss}
train: {epochs: 2, batch_size: 25, optimizer: {type: SGD, lr: 0.5}}
"""


def test_no_plot_skips_curves_and_never_imports_matplotlib(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(TINY_SPIRAL)
    script = (
        "import sys\n"
        "from layerkit.cli import main\n"
        "code = main(['train', 'spec.yaml', '--out', 'run', '--no-plot', '-q'])\n"
        "print(code, 'matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr
    run = tmp_path / "run"
    assert (run / "metrics.csv").exists() and not (run / "curves.png").exists()
