"""The ReLU/max-pooling rewrite computes exactly what the declared order computes, bit for bit."""

from __future__ import annotations

import numpy as np

from layerkit import Network
from layerkit.layers import Affine, Conv2D, Dropout, Flatten, MaxPool2D, Relu, SoftmaxWithLoss
from layerkit.optimizers import Adam


def _cnn(identity_between: bool) -> Network:
    """conv-relu-pool twice; with ``identity_between`` a rate-0 Dropout (the identity) sits between
    each Relu and its MaxPool2D, which keeps the declared order (no rewrite)."""

    def block(i: int, filters: int, padding: int | str) -> list:
        layers = [
            Conv2D(id=f"conv{i}", filters=filters, kernel_size=3, padding=padding),
            Relu(id=f"relu{i}"),
        ]
        if identity_between:
            layers.append(Dropout(id=f"keep{i}", rate=0.0))
        pool_padding = "same" if i == 2 else 0
        layers.append(MaxPool2D(id=f"pool{i}", pool_size=2, padding=pool_padding))
        return layers

    layers = [
        *block(1, 6, 1),
        *block(2, 8, 1),
        Flatten(id="flat"),
        Affine(id="fc", units=10),
        SoftmaxWithLoss(id="loss"),
    ]
    return Network(layers, input_shape=(2, 10, 10), seed=3)


def test_relu_before_maxpool_runs_after_it() -> None:
    net = _cnn(identity_between=False)
    ids = [layer.id for layer in net.execution_order]
    assert ids[:6] == ["conv1", "pool1", "relu1", "conv2", "pool2", "relu2"]
    assert [layer.id for layer in net.layers][:3] == [
        "conv1",
        "relu1",
        "pool1",
    ]  # declared order kept
    kept = _cnn(identity_between=True)
    assert [layer.id for layer in kept.execution_order][:4] == ["conv1", "relu1", "keep1", "pool1"]


def test_rewritten_training_is_bitwise_identical_to_the_declared_order() -> None:
    fast, plain = _cnn(identity_between=False), _cnn(identity_between=True)
    plain.load_state_dict(fast.state_dict())
    rng = np.random.default_rng(0)
    opt_fast, opt_plain = Adam(lr=0.01), Adam(lr=0.01)
    for step in range(8):
        x = rng.standard_normal((16, 2, 10, 10)).astype(np.float32)
        if step % 2:  # windows whose values are all <= 0, and exact zeros: the tie cases
            x[:, :, :4, :4] = -np.abs(x[:, :, :4, :4])
            x[:, :, 6:, 6:] = 0.0
        t = rng.integers(0, 10, size=16)
        loss_fast, scores_fast = fast.loss_and_scores(x, t)
        loss_plain, scores_plain = plain.loss_and_scores(x, t)
        assert loss_fast == loss_plain and scores_fast.tobytes() == scores_plain.tobytes()
        fast.backward()
        plain.backward()
        for key in fast.grads:  # every byte, so signed zeros count too
            assert fast.grads[key].tobytes() == plain.grads[key].tobytes(), (step, key)
        opt_fast.update(fast.params, fast.grads)
        opt_plain.update(plain.params, plain.grads)
    x = rng.standard_normal((5, 2, 10, 10)).astype(np.float32)
    assert fast.forward(x).tobytes() == plain.forward(x).tobytes()
