"""PyTorch-compatible optimizer forms against trajectories recorded with torch 2.13.0.

The values were recorded once, on float64 tensors, with the script in this docstring; the test
does not import torch::

    A = torch.tensor([1.0, 3.0, 0.5, 10.0]); w = torch.tensor([1.0, -2.0, 0.5, 0.25])
    loss = 0.5 * (A * w * w).sum()         # per step: zero_grad, backward, optimizer.step()
    SGD(lr=0.05, momentum=0.9[, nesterov=True]), lr set to LRS[step] before each step
    Adam(lr=0.1); Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-3)
"""

from __future__ import annotations

import numpy as np
import pytest

from layerkit.errors import ConfigError
from layerkit.optimizers import SGD, Adam, Momentum, Nesterov, Optimizer

CURVATURE = np.array([1.0, 3.0, 0.5, 10.0])
W0 = np.array([1.0, -2.0, 0.5, 0.25])
LRS = [0.05, 0.05, 0.02, 0.02, 0.01, 0.01]  # a schedule: where lr inside the velocity differs

TORCH = {
    "sgd_momentum": [
        [0.95, -1.7, 0.4875, 0.125],
        [0.8574999999999999, -1.1749999999999998, 0.4640625, -0.05000000000000001],
        [0.8070499999999999, -0.9154999999999998, 0.450984375, -0.10300000000000001],
        [0.745504, -0.6270199999999997, 0.43470421875, -0.1301],
        [0.71035326, -0.4783933999999997, 0.42520462734375, -0.12928499999999998],
        [0.6716140614, -0.3302776579999997, 0.4145289719414062, -0.11562299999999999],
    ],
    "sgd_nesterov": [
        [0.905, -1.43, 0.47625, 0.012499999999999987],
        [0.778525, -0.7794499999999999, 0.443503125, -0.100625],
        [0.71970005, -0.5336146999999998, 0.427573940625, -0.10086250000000001],
        [0.6534224431, -0.29362115419999973, 0.409105297940625, -0.080861],
        [0.6176597940260999, -0.18329524970059974, 0.3988319911350328, -0.06557436],
        [0.579618675760994, -0.08148187758160555, 0.38763808493494983, -0.0466347456],
    ],
    "adam": [
        [0.900000001, -1.9000000001666666, 0.4000000039999998, 0.1500000004],
        [0.8004122297123382, -1.800166485947237, 0.3011874278735871, 0.05425098321635864],
        [0.701586274504415, -1.7006233917912488, 0.2048712620977537, -0.030208329777371784],
        [0.603939062682108, -1.60150489494605, 0.11291541093937948, -0.09313812922770222],
        [0.507963661927221, -1.502955780862354, 0.027814466851013714, -0.12760393624664035],
        [0.41423645920501484, -1.4051317296373607, -0.047431504802510946, -0.1353083820405931],
    ],
    "adam_betas_eps": [
        [0.9500499500499501, -1.950008331944676, 0.450199203187251, 0.20001999200319873],
        [0.900253251974983, -1.9000878921139008, 0.4007533825263845, 0.15093338847493368],
        [0.8507206720782328, -1.850287732145007, 0.3519442374579099, 0.10365760144084644],
        [0.8015689827108667, -1.8006575180303177, 0.30409417486300516, 0.059416113175771605],
        [0.7529200050483406, -1.7512470396880633, 0.2575662785304284, 0.019723445578118733],
        [0.7048995285266071, -1.7021057380826556, 0.21276149568457664, -0.013767265101397641],
    ],
}


def trajectory(opt: Optimizer, lrs: list[float] | None = None, steps: int = 6) -> np.ndarray:
    w = W0.copy()
    out = []
    for step in range(steps):
        if lrs:
            opt.lr = lrs[step]  # what a schedule does between steps
        opt.update({"w": w}, {"w": CURVATURE * w})
        out.append(w.copy())
    return np.array(out)


@pytest.mark.parametrize(
    ("name", "make", "lrs"),
    [
        ("sgd_momentum", lambda: SGD(lr=0.05, momentum=0.9), LRS),
        ("sgd_nesterov", lambda: SGD(lr=0.05, momentum=0.9, nesterov=True), LRS),
        ("adam", lambda: Adam(lr=0.1, form="pytorch"), None),
        (
            "adam_betas_eps",
            lambda: Adam(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-3, form="pytorch"),
            None,
        ),
    ],
)
def test_pytorch_forms_take_pytorch_steps(name: str, make, lrs) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(trajectory(make(), lrs), TORCH[name], rtol=1e-12, atol=1e-15)


def test_the_textbook_forms_differ_where_the_docs_say() -> None:
    # Momentum: identical at a constant lr, different once the schedule changes it
    constant = trajectory(Momentum(lr=0.05, momentum=0.9))
    np.testing.assert_allclose(constant[:2], TORCH["sgd_momentum"][:2], rtol=1e-12)
    assert not np.allclose(trajectory(Momentum(lr=0.05, momentum=0.9), LRS), TORCH["sgd_momentum"])
    # Nesterov: mu^2 on the updated velocity, not on the previous buffer
    assert not np.allclose(trajectory(Nesterov(lr=0.05, momentum=0.9), LRS), TORCH["sgd_nesterov"])
    # Adam: eps inside the bias correction, and 1e-7 by default
    assert Adam().hp.eps == 1e-7 and Adam(form="pytorch").hp.eps == 1e-8
    assert Adam(form="pytorch", eps=1e-6).hp.eps == 1e-6
    textbook = trajectory(Adam(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-3))
    assert not np.allclose(textbook, TORCH["adam_betas_eps"], rtol=1e-6)


def test_plain_sgd_is_unchanged_and_nesterov_needs_momentum() -> None:
    np.testing.assert_allclose(
        trajectory(SGD(lr=0.1), steps=1)[0], W0 - 0.1 * CURVATURE * W0, rtol=1e-15
    )
    assert SGD(lr=0.1).state == {"momentum_buffer": {}}
    with pytest.raises(ConfigError, match="nesterov"):
        SGD(lr=0.1, nesterov=True)
