"""layerkit-activations: the layer contract (layerkit's conformance kit), reference values, use.

Run with the plugin installed (``pip install ./plugins/layerkit-activations``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerkit import Network
from layerkit.gradcheck import gradcheck
from layerkit.plugins import get_registry
from layerkit.testing import check_layer, parametrize_with_checks
from layerkit_activations.layers import ELU, GELU, LAYERS, SiLU, Softplus, Swish


@parametrize_with_checks(LAYERS)
def test_layer_contract(check) -> None:  # type: ignore[no-untyped-def]
    check()


def test_every_check_passes_on_an_extra_shape() -> None:
    for cls in LAYERS:
        results = check_layer(cls, {}, (3, 1, 4), checks=["shapes-dtypes", "gradient", "inputs-not-mutated"])
        assert [r.status for r in results] == ["passed"] * 3, [str(r) for r in results]


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


XS = [-6.0, -2.5, -1.0, -0.1, 0.0, 0.3, 1.0, 2.0, 7.5]

# Scalar formulas from the papers, computed with the math module: an independent reference.
REFERENCE = {
    "SiLU": (SiLU, {}, lambda v: v * _sigmoid(v)),
    "Swish": (Swish, {"beta": 1.702}, lambda v: v * _sigmoid(1.702 * v)),
    "GELU": (
        GELU,
        {},
        lambda v: 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v**3))),
    ),
    "ELU": (ELU, {"alpha": 0.7}, lambda v: v if v > 0 else 0.7 * (math.exp(v) - 1.0)),
    "Softplus": (Softplus, {"beta": 2.0}, lambda v: math.log1p(math.exp(2.0 * v)) / 2.0),
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_forward_matches_the_scalar_formula(name: str) -> None:
    cls, params, ref = REFERENCE[name]
    layer = cls(**params)
    layer.build((len(XS),), dtype="float64")
    y = layer.forward(np.array([XS]))
    np.testing.assert_allclose(y[0], [ref(v) for v in XS], rtol=1e-12, atol=1e-15)


def test_gelu_tanh_approximation_is_close_to_the_exact_gelu() -> None:
    x = np.linspace(-5, 5, 101)
    layer = GELU()
    layer.build((x.size,), dtype="float64")
    exact = [0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x]
    np.testing.assert_allclose(layer.forward(x[None])[0], exact, atol=5e-4)


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.name)
def test_extreme_inputs_stay_finite_in_float32(cls: type) -> None:
    x = np.array([[-1e4, -88.0, -30.0, 0.0, 30.0, 88.0, 1e3]], dtype=np.float32)
    layer = cls()
    layer.build((x.shape[1],), dtype="float32")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    assert y.dtype == dx.dtype == np.float32
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    # Far right every one of them is the identity with slope 1 (Softplus and GELU included).
    assert y[0, -1] == pytest.approx(1e3, rel=1e-6) and dx[0, -1] == pytest.approx(1.0)


def test_registered_through_the_entry_point_and_usable_in_a_network() -> None:
    registry = get_registry()
    for cls in LAYERS:
        entry = registry.lookup("layers", cls.name)
        assert entry.component is cls
        assert (entry.plugin, entry.distribution) == ("activations", "layerkit-activations")

    net = Network.from_config(
        {
            "input_shape": [4],
            "layers": [
                {"type": "Affine", "units": 6},
                {"type": "GELU"},
                {"type": "Affine", "units": 5},
                {"type": "ELU", "alpha": 0.5},
                {"type": "Affine", "units": 3},
                {"type": "SoftmaxWithLoss"},
            ],
        },
        registry=registry,
        seed=0,
    )
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    report = gradcheck(net, x, t)
    assert report.passed, report.table()
