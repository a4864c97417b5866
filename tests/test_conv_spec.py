"""Conv layers declared in YAML: shape mistakes are spec errors at the offending layer's line.

Everything here happens before any data is loaded: the builder infers shapes from the
dataset's description ((1, 28, 28) for Fashion-MNIST).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from layerkit import SpecError
from layerkit.spec import build_network, load_spec

HEADER = """\
name: cnn
data:
  dataset: fashion_mnist
train:
  epochs: 1
  batch_size: 100
  optimizer: {type: SGD, lr: 0.1}
model:
  layers:
"""


def write_spec(tmp_path: Path, layers: str) -> Path:
    path = tmp_path / "cnn.yaml"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(layers), "    "))
    return path


def build_error(path: Path) -> str:
    spec = load_spec(path)
    with pytest.raises(SpecError) as info:
        build_network(spec)
    return str(info.value)


def test_a_cnn_spec_builds_with_image_shapes_from_the_dataset(tmp_path) -> None:
    path = write_spec(
        tmp_path,
        """\
        - {type: Conv2D, filters: 8, kernel_size: 3, padding: same}
        - {type: BatchNorm}
        - {type: Relu}
        - {type: MaxPool2D, pool_size: 2}
        - {type: Conv2D, filters: 16, kernel_size: [3, 3], padding: 1}
        - {type: Relu}
        - {type: AvgPool2D}
        - {type: Flatten}
        - {type: Affine, units: 10}
        - {type: SoftmaxWithLoss}
        """,
    )
    net = build_network(load_spec(path))
    assert net.input_shape == (1, 28, 28)
    assert [layer.output_shape for layer in net.layers[:-1]][-3:] == [(16, 7, 7), (784,), (10,)]


def test_conv_after_flatten_is_located_at_its_line(tmp_path) -> None:
    path = write_spec(
        tmp_path,
        """\
        - {type: Conv2D, filters: 8, kernel_size: 3, padding: 1}
        - {type: Flatten}
        - type: Conv2D
          filters: 4
          kernel_size: 3
        - {type: Affine, units: 10}
        - {type: SoftmaxWithLoss}
        """,
    )
    # layers start on line 10 of the file; the third entry is on line 12
    assert re.match(
        re.escape(
            f"{path}:12:7: model.layers[2]: expected a per-sample input of shape "
            "(channels, height, width), received (6272,) (1-D)"
        ),
        build_error(path),
    )


def test_kernel_larger_than_the_feature_map_is_located(tmp_path) -> None:
    path = write_spec(
        tmp_path,
        """\
        - {type: MaxPool2D, pool_size: 4}
        - {type: Conv2D, filters: 4, kernel_size: 9}
        - {type: SoftmaxWithLoss}
        """,
    )
    assert build_error(path).startswith(
        f"{path}:11:7: model.layers[1]: kernel_size 9 is larger than the input height 7;"
    )


def test_windows_that_do_not_tile_show_the_arithmetic(tmp_path) -> None:
    path = write_spec(
        tmp_path,
        """\
        - {type: Conv2D, filters: 4, kernel_size: 3, padding: 1}
        - {type: MaxPool2D}
        - {type: MaxPool2D}
        - {type: MaxPool2D}
        - {type: Flatten}
        - {type: Affine, units: 10}
        - {type: SoftmaxWithLoss}
        """,
    )
    assert build_error(path) == (
        f"{path}:13:7: model.layers[3]: the windows do not tile the input height: "
        "(H + 2*padding - pool_size) / stride + 1 = (7 + 2*0 - 2) / 2 + 1 = 3.5 is not a whole number; "
        "change padding or stride (padding: same gives an output height of 4)"
    )


def test_bad_hyperparameters_are_located_at_their_keys(tmp_path) -> None:
    path = write_spec(
        tmp_path,
        """\
        - type: Conv2D
          filters: 8
          kernel_size: 0
          padding: full
        - {type: MaxPool2D, stride: [2, 0]}
        - {type: SoftmaxWithLoss}
        """,
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert lines == [
        (
            f"{path}:12:20: model.layers[0].kernel_size: must be an integer >= 1 or a pair [height, width] "
            "of them (received 0)"
        ),
        (
            f"{path}:13:16: model.layers[0].padding: must be an integer >= 0, a pair [height, width] of "
            "them, 'valid' or 'same' (received 'full')"
        ),
        (
            f"{path}:14:33: model.layers[1].stride: must be an integer >= 1 or a pair [height, width] of "
            "them (received [2, 0])"
        ),
    ]
