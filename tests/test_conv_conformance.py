"""The conformance kit on geometries the layers' own ``examples`` do not reach.

The project's table test (tests/test_core_layers.py) already runs every check on each
registered layer's ``examples``; this adds the corners of the conv and pooling code: windows
with gaps (stride > kernel), chunked column matrices, overlapping and padded pools, 1x1
windows, and a BatchNorm over conv feature maps.
"""

from __future__ import annotations

from layerkit import AvgPool2D, BatchNorm, Conv2D, Flatten, MaxPool2D, Reshape
from layerkit.testing import parametrize_with_checks


class ChunkedConv2D(Conv2D):
    """Conv2D whose column matrix is built a few samples at a time (forward and backward)."""

    name = "ChunkedConv2D"
    max_workspace_bytes = 1  # one sample per chunk


@parametrize_with_checks(
    [
        (Conv2D, {"filters": 2, "kernel_size": 2, "stride": 3}, (2, 5, 8)),
        (
            Conv2D,
            {"filters": 3, "kernel_size": [1, 4], "stride": [2, 1], "padding": [1, 2]},
            (2, 3, 4),
        ),
        (Conv2D, {"filters": 2, "kernel_size": 5, "padding": "same", "stride": 2}, (1, 6, 5)),
        (ChunkedConv2D, {"filters": 3, "kernel_size": 3, "padding": 1, "stride": 2}, (2, 5, 5)),
        (MaxPool2D, {"pool_size": 2, "stride": 3}, (2, 5, 8)),
        (MaxPool2D, {"pool_size": 3, "stride": 1, "padding": 2}, (1, 4, 4)),
        (MaxPool2D, {"pool_size": 1}, (3, 2, 2)),
        (AvgPool2D, {"pool_size": 3, "stride": 1, "padding": [2, 1]}, (2, 3, 4)),
        (AvgPool2D, {"pool_size": [1, 2], "stride": [3, 2]}, (1, 4, 4)),
        (BatchNorm, {}, (3, 4, 4)),
        (Flatten, {}, (1, 1, 1)),
        (Reshape, {"target_shape": [3, 2, 2]}, (2, 3, 2)),
    ]
)
def test_layer_contract_corners(check) -> None:
    check()
