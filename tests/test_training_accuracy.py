"""Accuracy of the shipped specs on the full Fashion-MNIST (slow: deselect with -m 'not slow')."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerkit.run import train

SPECS = Path(__file__).resolve().parents[1] / "model_specs"
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(not FASHION.exists(), reason="Fashion-MNIST is not installed"),
]


def test_two_layer_net_reaches_085_in_10_epochs(tmp_path: Path) -> None:
    result = train(SPECS / "two_layer_net.yaml", out=tmp_path / "run", quiet=True)
    assert len(result.history) == 10
    assert result.metrics["test_accuracy"] >= 0.85


def test_mlp_fashion_reaches_089_within_20_epochs(tmp_path: Path) -> None:
    result = train(SPECS / "mlp_fashion.yaml", out=tmp_path / "run", quiet=True)
    assert len(result.history) <= 20
    assert max(row["test_accuracy"] for row in result.history) >= 0.89
    assert result.metrics["test_accuracy"] >= 0.89


def test_cnn_fashion_augmented_holds_its_measured_091_in_15_epochs(tmp_path: Path) -> None:
    # Two conv-relu-pool blocks, 99,550 parameters, hflip + 1-pixel shifts: 0.910 measured
    # (2026-11-29), below cnn_fashion.yaml's 0.917 without augmentation. The network does not
    # over-fit in 15 epochs, so augmentation only makes its task harder; the 0.925 of the
    # published two-conv row is not reached (docs/augmentation.md). About 4 minutes with one
    # BLAS thread on a quiet 2-core machine.
    result = train(
        SPECS / "cnn_fashion_augmented.yaml",
        out=tmp_path / "run",
        quiet=True,
        threads=1,
        plot=False,
    )
    assert len(result.history) == 15
    assert result.metrics["test_accuracy"] >= 0.905
