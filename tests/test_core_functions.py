"""Numerics of layerkit.functions and the initialisers."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from layerkit._validation import validate_params
from layerkit.errors import ConfigError
from layerkit.functions import cross_entropy, log_softmax, logsumexp, sigmoid, softmax
from layerkit.initializers import HeInit, Initializer, NormalInit, XavierInit


def test_softmax_of_a_dominant_logit_is_exactly_one_hot():
    np.testing.assert_array_equal(softmax(np.array([1000.0, 0.0, 0.0, 0.0])), [1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("shape", [(1000, 10), (100, 10), (64, 1000), (50, 1), (32, 2)])
def test_the_row_max_is_numpy_max_whichever_way_it_is_taken(shape):
    from layerkit.functions import _row_max

    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    x[1, -1] = np.nan  # NaN propagates as in NumPy's max
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(_row_max(x), x.max(axis=1))
    e = np.exp(x[2:] - x[2:].max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax(x[2:]), e / e.sum(axis=1, keepdims=True), rtol=1e-6)


def test_softmax_is_shift_invariant_and_batched():
    x = np.random.default_rng(0).standard_normal((5, 7))
    np.testing.assert_allclose(softmax(x + 100), softmax(x), rtol=1e-12)
    np.testing.assert_allclose(softmax(x).sum(axis=1), 1.0)
    np.testing.assert_allclose(softmax(x)[2], softmax(x[2]))
    np.testing.assert_allclose(log_softmax(x), np.log(softmax(x)), atol=1e-12)
    np.testing.assert_allclose(logsumexp(x), np.log(np.exp(x).sum(axis=1)))
    assert logsumexp(x, keepdims=True).shape == (5, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_floating_point_warnings_for_huge_logits(dtype):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1e4, 1e4, size=(64, 10)).astype(dtype)
    x[0] = [1e4, -1e4] * 5
    t = rng.integers(0, 10, 64)
    with np.errstate(all="raise"):
        for value in (softmax(x), log_softmax(x), logsumexp(x), sigmoid(x), cross_entropy(x, t)):
            assert np.all(np.isfinite(value))
        assert softmax(x).dtype == dtype


def test_cross_entropy_index_labels_equal_one_hot():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 5)) * 30
    t = rng.integers(0, 5, 8)
    assert cross_entropy(x, t) == pytest.approx(cross_entropy(x, np.eye(5)[t]), rel=1e-12)
    assert cross_entropy(x, t) == pytest.approx(-np.mean(log_softmax(x)[np.arange(8), t]))
    # one sample, as in the textbook
    assert cross_entropy(x[0], t[0]) == pytest.approx(-log_softmax(x[0])[t[0]])


def test_cross_entropy_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="3 labels for 2 samples"):
        cross_entropy(np.zeros((2, 4)), np.array([0, 1, 2]))


def test_sigmoid_is_finite_and_exact_in_the_tails():
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
        assert sigmoid(-40.0) == pytest.approx(np.exp(-40.0), rel=1e-12)
    x = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    assert sigmoid(np.zeros(3, dtype=np.float32)).dtype == np.float32


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    init: Initializer = NormalInit()


def test_initializer_shorthand_and_union():
    assert isinstance(_Model(init="he").init, HeInit)
    assert isinstance(_Model(init={"type": "xavier", "mode": "fan_in"}).init, XavierInit)
    assert _Model().model_dump(mode="json") == {"init": {"type": "normal", "std": 0.01}}
    schema = _Model.model_json_schema()
    assert {"enum": ["normal", "he", "xavier"], "type": "string"} in schema["properties"]["init"][
        "anyOf"
    ]
    with pytest.raises(ConfigError, match=r"Layer\.init.*std: unknown key"):
        validate_params(_Model, {"init": {"type": "he", "std": 1}}, "Layer")


def test_initializer_samples_are_dtype_independent():
    a = HeInit().sample((30, 20), 30, 20, np.random.default_rng(0), np.float32)
    b = HeInit().sample((30, 20), 30, 20, np.random.default_rng(0), np.float64)
    assert a.dtype == np.float32 and b.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-6)
