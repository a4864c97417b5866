"""``layerkit.load_dataset``: the textbook's ``load_mnist`` for any registered dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerkit import Affine, ConfigError, DataError, Network, Relu, SoftmaxWithLoss, load_dataset

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
def test_like_load_mnist_on_fashion_mnist() -> None:
    (x_train, t_train), (x_test, t_test) = load_dataset(
        "fashion_mnist", normalize=True, flatten=True
    )
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and 0.0 == x_train.min() and x_train.max() == 1.0
    assert (
        t_train.shape == (60000,)
        and t_train.dtype.kind == "i"
        and set(np.unique(t_test)) == set(range(10))
    )
    (raw, onehot), _ = load_dataset(
        "fashion_mnist", normalize=False, flatten=False, one_hot_label=True
    )
    assert raw.shape == (60000, 1, 28, 28) and raw.dtype == np.float32 and raw.max() == 255.0
    np.testing.assert_allclose(raw.reshape(60000, -1) / 255, x_train, rtol=1e-6)
    assert (
        onehot.shape == (60000, 10)
        and (onehot.argmax(axis=1) == t_train).all()
        and onehot.sum() == 60000
    )


def test_any_registered_dataset_with_its_options() -> None:
    (x, t), (xt, tt) = load_dataset(
        "spiral", one_hot_label=True, dtype="float64", points_per_class=20, classes=4
    )
    assert x.dtype == np.float64 and x.shape[1] == 2 and t.shape == (len(x), 4)
    net = Network(
        [Affine(units=8), Relu(), Affine(units=4), SoftmaxWithLoss()], input_shape=(2,), seed=0
    )
    assert np.isfinite(net.loss(x, t))  # ready for a network as they are
    with pytest.raises(DataError, match="floating-point"):
        load_dataset("spiral", dtype="int32")
    with pytest.raises(Exception, match="no_such"):
        load_dataset("no_such")


def test_raw_uint8_input_is_rejected_not_silently_used() -> None:
    net = Network([Affine(units=3), SoftmaxWithLoss()], input_shape=(4,), seed=0)
    pixels = np.array([[0, 128, 255, 7]], dtype=np.uint8)
    for call in (net.predict, net.forward, net.predict_proba):
        with pytest.raises(ConfigError, match=r"raw uint8 values.*x / 255"):
            call(pixels)
    assert net.predict(pixels / 255).shape == (1, 3)
