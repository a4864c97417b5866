"""layerkit-activations: the layer contract (layerkit's conformance kit), reference values, use.

Run with the plugin installed (``pip install ./plugins/layerkit-activations``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerkit import Affine, Network, SoftmaxWithLoss, gradcheck
from layerkit.plugins import get_registry
from layerkit.testing import check_layer, parametrize_with_checks
from layerkit_activations.layers import (
    ACTIVATIONS,
    ELU,
    GELU,
    LAYERS,
    LayerNorm,
    SiLU,
    Softplus,
    Swish,
)


@parametrize_with_checks(LAYERS)
def test_layer_contract(check) -> None:  # type: ignore[no-untyped-def]
    check()


def test_every_check_passes_on_an_extra_shape() -> None:
    for cls in LAYERS:
        results = check_layer(
            cls, {}, (3, 1, 4), checks=["shapes-dtypes", "gradient", "inputs-not-mutated"]
        )
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


@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.name)
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


def test_layer_norm_matches_the_formula_and_learns_its_weights() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (4, 2, 3))
    layer = LayerNorm(eps=1e-5)
    layer.build((2, 3), dtype="float64", rng=rng)
    layer.params["gamma"][...] = rng.uniform(0.5, 2.0, (2, 3))
    layer.params["beta"][...] = rng.normal(size=(2, 3))
    flat = x.reshape(4, -1)
    ref = (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5)
    expected = ref.reshape(x.shape) * layer.params["gamma"] + layer.params["beta"]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
    grads = {k: id(g) for k, g in layer.grads.items()}
    layer.backward(np.ones_like(x))
    assert {k: id(g) for k, g in layer.grads.items()} == grads  # written in place
    np.testing.assert_allclose(layer.grads["beta"], np.full((2, 3), 4.0))
    net = Network(
        [LayerNorm(), Affine(units=3), SoftmaxWithLoss()],
        input_shape=(2, 3),
        seed=0,
        dtype="float64",
    )
    assert gradcheck(net, x, np.array([0, 1, 2, 0])).passed


@pytest.mark.parametrize("opset", [17, 20], ids=lambda o: f"opset{o}")
def test_a_network_of_these_layers_exports_to_onnx(opset: int) -> None:
    """Through the converters this plugin registers; GELU is composed before opset 20."""
    pytest.importorskip("onnxruntime", reason="layerkit's onnx extra is not installed")
    from layerkit.export import verify_onnx

    layers = [
        {"type": "Affine", "units": 8},
        {"type": "GELU"},
        {"type": "SiLU"},
        {"type": "Swish", "beta": 1.7},
        {"type": "ELU", "alpha": 0.5},
        {"type": "Softplus", "beta": 2.0},
        {"type": "Affine", "units": 3},
        {"type": "SoftmaxWithLoss"},
    ]
    net = Network.from_config(
        {"input_shape": [4], "layers": layers}, registry=get_registry(), seed=0
    )
    model = net.to_onnx(opset=opset)
    ops = {node.op_type for node in model.graph.node}
    assert ("Gelu" in ops) == (opset >= 20)
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32) * 3
    report = verify_onnx(model, net, x)
    assert report.passed and report.max_abs_diff < 1e-5, report
