"""Shape inference and shape mistakes of the conv, pooling and reshape layers.

Every mistake is a ShapeError (or ConfigError for hyperparameters) raised while building, before
any data exists, naming the layer and showing what it received.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from layerkit import (
    Affine,
    AvgPool2D,
    BatchNorm,
    ConfigError,
    Conv2D,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    Network,
    Relu,
    Reshape,
    ShapeError,
    SoftmaxWithLoss,
)


def build(*layers, shape=(1, 28, 28)) -> Network:
    return Network([*layers, SoftmaxWithLoss()], input_shape=shape, seed=0)


# -- inference -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hp, shape, out",
    [
        ({"filters": 16, "kernel_size": 3, "padding": 1}, (1, 28, 28), (16, 28, 28)),
        ({"filters": 8, "kernel_size": 5}, (3, 32, 32), (8, 28, 28)),
        ({"filters": 4, "kernel_size": 3, "stride": 2, "padding": 1}, (1, 7, 9), (4, 4, 5)),
        ({"filters": 4, "kernel_size": [1, 3], "padding": [0, 1]}, (2, 5, 6), (4, 5, 6)),
        (
            {"filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"},
            (1, 28, 28),
            (2, 14, 14),
        ),
        ({"filters": 2, "kernel_size": 4, "padding": "same"}, (1, 5, 5), (2, 5, 5)),
        ({"filters": 2, "kernel_size": 3, "padding": "valid"}, (1, 5, 5), (2, 3, 3)),
    ],
)
def test_conv_output_shapes(hp, shape, out) -> None:
    assert Conv2D(**hp).build(shape) == out


@pytest.mark.parametrize(
    "layer, shape, out",
    [
        (MaxPool2D(), (16, 28, 28), (16, 14, 14)),
        (MaxPool2D(pool_size=3, stride=2, padding=1), (4, 7, 7), (4, 4, 4)),
        (AvgPool2D(pool_size=[2, 1]), (3, 4, 5), (3, 2, 5)),
        (MaxPool2D(padding="same"), (8, 7, 7), (8, 4, 4)),
        (GlobalAvgPool2D(), (32, 7, 7), (32,)),
        (Flatten(), (32, 7, 7), (1568,)),
        (Reshape(target_shape=[1, 28, -1]), (784,), (1, 28, 28)),
    ],
    ids=repr,
)
def test_pool_and_reshape_output_shapes(layer, shape, out) -> None:
    assert layer.build(shape) == out


def test_a_cnn_infers_every_shape_and_counts_parameters() -> None:
    net = build(
        Conv2D(filters=16, kernel_size=3, padding=1),
        BatchNorm(),
        Relu(),
        MaxPool2D(),
        Conv2D(filters=32, kernel_size=3, padding=1),
        Relu(),
        MaxPool2D(),
        Flatten(),
        Affine(units=10),
    )
    shapes = [layer.output_shape for layer in net.layers[:-1]]
    assert shapes == [
        (16, 28, 28),
        (16, 28, 28),
        (16, 28, 28),
        (16, 14, 14),
        (32, 14, 14),
        (32, 14, 14),
        (32, 7, 7),
        (1568,),
        (10,),
    ]
    assert net.params["conv2d1.W"].shape == (16, 1, 3, 3)
    assert net.params["conv2d2.W"].shape == (32, 16, 3, 3)
    assert net.params["batchnorm1.gamma"].shape == (16,)
    assert sum(p.size for p in net.params.values()) == 160 + 32 + 4640 + 15690


def test_conv_weights_use_he_initialisation_by_default() -> None:
    conv = Conv2D(filters=64, kernel_size=3)
    conv.build((32, 9, 9), rng=np.random.default_rng(0))
    std = float(conv.params["W"].std())
    assert abs(std - np.sqrt(2 / (32 * 9))) < 0.01 * np.sqrt(2 / (32 * 9)) * 5
    assert not conv.params["b"].any()


def test_config_round_trips_the_hyperparameters_as_written() -> None:
    conv = Conv2D(id="c1", filters=4, kernel_size=[3, 5], stride=2, padding="same", use_bias=False)
    entry = conv.config()
    assert entry == {
        "type": "Conv2D",
        "id": "c1",
        "filters": 4,
        "kernel_size": [3, 5],
        "stride": 2,
        "padding": "same",
        "init": {"type": "he"},
        "use_bias": False,
    }
    entry.pop("type")
    assert Conv2D(**entry).config() == conv.config()


# -- mistakes --------------------------------------------------------------------------------------


def test_conv_after_flatten_names_the_layer_and_the_cause() -> None:
    with pytest.raises(
        ShapeError,
        match=re.escape(
            "conv2d1: expected a per-sample input of shape (channels, height, width), received (784,) (1-D)"
            " - a flat vector, as after Flatten or Affine"
        ),
    ):
        build(Flatten(), Conv2D(filters=4, kernel_size=3))


def test_conv_on_flat_mlp_input_is_the_same_error() -> None:
    with pytest.raises(ShapeError, match=r"received \(10,\) \(1-D\)"):
        build(Affine(units=10), MaxPool2D(), shape=(4,))


def test_two_dimensional_input_asks_for_a_channel_axis() -> None:
    with pytest.raises(ShapeError, match=re.escape("received (28, 28) (2-D) - add a channel axis")):
        build(Conv2D(filters=4, kernel_size=3), shape=(28, 28))


def test_kernel_larger_than_the_input() -> None:
    with pytest.raises(
        ShapeError, match="conv2d1: kernel_size 5 is larger than the input height 3;"
    ):
        build(Conv2D(filters=2, kernel_size=5), shape=(1, 3, 8))


def test_kernel_larger_than_the_padded_input_mentions_the_padding() -> None:
    with pytest.raises(
        ShapeError, match="kernel_size 7 is larger than the input width 4 padded to 6"
    ):
        build(Conv2D(filters=2, kernel_size=[3, 7], padding=1), shape=(1, 8, 4))


def test_a_deep_stack_of_pools_runs_out_of_pixels_at_the_right_layer() -> None:
    with pytest.raises(
        ShapeError, match="maxpool2d2: pool_size 2 is larger than the input height 1"
    ):
        build(MaxPool2D(pool_size=3), MaxPool2D(), shape=(1, 3, 3))


def test_non_integer_output_size_shows_the_arithmetic() -> None:
    with pytest.raises(
        ShapeError,
        match=re.escape(
            "conv2d1: the windows do not tile the input height: (H + 2*padding - kernel_size) / stride + 1"
            " = (28 + 2*0 - 3) / 2 + 1 = 13.5 is not a whole number; change padding or stride"
            " (padding: same gives an output height of 14)"
        ),
    ):
        build(Conv2D(filters=2, kernel_size=3, stride=2))


def test_pooling_an_odd_size_suggests_same_padding() -> None:
    with pytest.raises(
        ShapeError,
        match=re.escape(
            "maxpool2d3: the windows do not tile the input width: (W + 2*padding - pool_size) / stride + 1"
            " = (7 + 2*0 - 2) / 2 + 1 = 3.5 is not a whole number"
        ),
    ):
        build(MaxPool2D(), MaxPool2D(), MaxPool2D(), shape=(1, 16, 28))
    net = build(MaxPool2D(), MaxPool2D(), MaxPool2D(padding="same"), Flatten(), shape=(1, 16, 28))
    assert net.layers[2].output_shape == (1, 2, 4)


def test_pool_padding_must_be_smaller_than_the_window() -> None:
    with pytest.raises(
        ShapeError,
        match=re.escape(
            "maxpool2d1: padding must be smaller than pool_size, or a window would see only padding "
            "(received padding 2 for a pool height of 2)"
        ),
    ):
        build(MaxPool2D(pool_size=2, padding=2))


def test_global_pooling_needs_feature_maps() -> None:
    with pytest.raises(
        ShapeError, match=r"globalavgpool2d1: expected a per-sample input .* received \(5,\)"
    ):
        build(GlobalAvgPool2D(), shape=(5,))


def test_reshape_to_an_impossible_shape() -> None:
    with pytest.raises(
        ShapeError,
        match=re.escape(
            "reshape1: cannot reshape (784,) (784 values) to (3, -1) (a multiple of 3 values)"
        ),
    ):
        build(Reshape(target_shape=[3, -1]), shape=(784,))
    with pytest.raises(
        ShapeError,
        match=re.escape("cannot reshape (784,) (784 values) to (1, 28, 29) (812 values)"),
    ):
        build(Reshape(target_shape=[1, 28, 29]), shape=(784,))


@pytest.mark.parametrize(
    "hp, message",
    [
        (
            {"filters": 4, "kernel_size": 0},
            "Conv2D.kernel_size: must be an integer >= 1 or a pair [height, width] of them (received 0)",
        ),
        ({"filters": 4, "kernel_size": [3, 3, 3]}, "Conv2D.kernel_size: must be an integer >= 1"),
        ({"filters": 4, "kernel_size": True}, "Conv2D.kernel_size: must be an integer >= 1"),
        (
            {"filters": 4, "kernel_size": 3, "stride": [1, 0]},
            "Conv2D.stride: must be an integer >= 1",
        ),
        (
            {"filters": 4, "kernel_size": 3, "padding": "full"},
            (
                "Conv2D.padding: must be an integer >= 0, a pair [height, width] of them, 'valid' or 'same' "
                "(received 'full')"
            ),
        ),
        ({"filters": 0, "kernel_size": 3}, "Conv2D.filters: must be > 0 (received 0)"),
        ({"kernel_size": 3}, "Conv2D.filters: required"),
        ({"filters": 4, "kernel_size": 3, "dilation": 2}, "Conv2D.dilation: unknown key"),
    ],
)
def test_bad_hyperparameters(hp, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Conv2D(**hp)


def test_a_batch_of_the_wrong_shape_is_a_shape_error() -> None:
    conv = Conv2D(filters=2, kernel_size=3)
    conv.build((1, 5, 5))
    with pytest.raises(
        ShapeError,
        match=re.escape("Conv2D: expected a batch of shape (N, 1, 5, 5), received (2, 5, 5)"),
    ):
        conv.forward(np.zeros((2, 5, 5), dtype=np.float32))
