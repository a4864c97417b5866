"""Helpers of the adversarial suite: the tiny spec and the real command in a child process."""

from __future__ import annotations

#: 784 features, like a flattened Fashion-MNIST image; 3 classes of 20 points: trains in a blink.
SPEC = """\
name: tiny
seed: 3
data: {dataset: blobs, features: 784, classes: 3, points_per_class: 20, test_points_per_class: 10}
model:
  layers:
    - {type: Affine, id: fc1, units: 8}
    - {type: Relu}
    - {type: Affine, id: fc2, units: 3}
    - {type: SoftmaxWithLoss}
train:
  epochs: 3
  batch_size: 20
  optimizer: {type: SGD, lr: 0.05}
"""


def one_line_error(stderr: str) -> str:
    """The error line of a failed command; asserts there is no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert errors, stderr
    return errors[0]
