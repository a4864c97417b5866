"""CNNs as whole networks: gradient check with BatchNorm and pooling, and real training runs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from layerkit import (
    Affine,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Network,
    Relu,
    SoftmaxWithLoss,
    gradcheck,
)

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def small_cnn(seed: int = 0, *, dropout: bool = True) -> Network:
    return Network(
        [
            Conv2D(filters=4, kernel_size=3, padding=1),
            BatchNorm(),
            Relu(),
            MaxPool2D(),
            Conv2D(filters=6, kernel_size=[3, 2], stride=[1, 2], padding="same"),
            Relu(),
            AvgPool2D(pool_size=2, stride=1),
            *([Dropout(rate=0.2)] if dropout else []),
            Flatten(),
            Affine(units=5),
            SoftmaxWithLoss(),
        ],
        input_shape=(2, 8, 8),
        seed=seed,
    )


def test_a_cnn_with_batchnorm_passes_the_float64_gradient_check() -> None:
    net = small_cnn()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 8, 8)).astype(np.float32)
    t = rng.integers(0, 5, size=4)
    report = gradcheck(net, x, t)
    assert report.passed, str(report)
    assert {c.name for c in report.checks} >= {
        "conv2d1.W",
        "conv2d1.b",
        "batchnorm1.gamma",
        "conv2d2.W",
    }


def test_global_average_pooling_head() -> None:
    net = Network(
        [
            Conv2D(filters=3, kernel_size=3),
            Relu(),
            GlobalAvgPool2D(),
            Affine(units=2),
            SoftmaxWithLoss(),
        ],
        input_shape=(1, 5, 5),
        seed=1,
    )
    rng = np.random.default_rng(1)
    report = gradcheck(net, rng.standard_normal((3, 1, 5, 5)), rng.integers(0, 2, size=3))
    assert report.passed, str(report)


def test_the_first_conv_layer_computes_no_input_gradient() -> None:
    net = small_cnn()
    conv1 = net.layers[0]
    assert conv1.needs_input_grad is False and net.layers[4].needs_input_grad is True
    rng = np.random.default_rng(2)
    net.loss(rng.standard_normal((3, 2, 8, 8)), rng.integers(0, 5, size=3))
    net.backward()
    assert "dxpad" not in conv1._ws._flat  # col2im never ran for the first layer


def test_float32_training_matches_float64_gradients() -> None:
    net = small_cnn(dropout=False)  # dropout masks are drawn in the network's dtype
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((5, 2, 8, 8)), rng.integers(0, 5, size=5)
    g32 = net.gradient(x, t)
    g64 = net.with_dtype(np.float64).gradient(x, t)
    scale = max(float(np.abs(g).max()) for g in g64.values())
    for key, g in g64.items():
        # conv2d1.b feeds a BatchNorm: its true gradient is 0, float32 leaves ~1e-9 of round-off
        assert g32[key].dtype == np.float32
        np.testing.assert_allclose(g32[key], g, rtol=2e-3, atol=1e-5 * scale, err_msg=key)


@pytest.mark.skipif(not FASHION.exists(), reason="dataset-fashion-mnist is not installed")
def test_the_shipped_cnn_spec_trains_through_the_cli(tmp_path) -> None:
    out = tmp_path / "run"
    # one BLAS thread: two threads busy-wait against whatever else shares this 2-core machine
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerkit",
            "train",
            str(ROOT / "model_specs" / "cnn_fashion.yaml"),
            "--set",
            "data.train_size=3000",
            "--set",
            "data.test_size=1000",
            "--set",
            "train.epochs=2",
            "--out",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    # 3,000 images and 2 epochs: far from the full run's 0.91, far above chance (0.1)
    assert float(rows[-1]["test_accuracy"]) > 0.6
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
