"""The conformance kit (layerkit.testing) catches the textbook's bugs and reports them by name."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from layerkit import Add, Affine, Layer, LayerParams, Relu, Sigmoid, SoftmaxWithLoss
from layerkit.testing import CHECKS, check_layer, checks_for, layer_checks


class TextbookSigmoid(Sigmoid):
    """The textbook's Sigmoid.backward, which drops the factor y."""

    name = "TextbookSigmoid"

    def backward(self, dout):
        return dout * (1.0 - self._y)


class TextbookRelu(Relu):
    """The textbook's Relu.backward, which overwrites the caller's dout."""

    name = "TextbookRelu"

    def backward(self, dout):
        dout[self._out <= 0] = 0
        return dout


class GlobalNoise(Layer):
    """Draws from NumPy's global generator, in inference too."""

    name = "GlobalNoise"
    examples = ({"params": {}, "input_shape": (3,)},)

    def forward(self, x, *, train=False):
        return x + np.random.standard_normal(x.shape).astype(x.dtype)

    def backward(self, dout):
        return dout.copy()


class LaxParams(LayerParams):
    scale: float = 1.0  # no constraint: 0 and negatives are accepted


class Scale(Layer):
    """Multiplies by a positive constant."""

    name = "Scale"
    Params = LaxParams
    examples = ({"params": {"scale": 2.0}, "input_shape": (3,)},)
    bad_params = ({"scale": -1.0},)

    def forward(self, x, *, train=False):
        return x * self.hp.scale

    def backward(self, dout):
        return dout * self.hp.scale


def _failed(results):
    return {r.check for r in results if r.status == "failed"}


def test_builtins_pass_every_check():
    for cls in (Affine, Relu, SoftmaxWithLoss):
        results = check_layer(cls)
        assert [r.check for r in results] == checks_for(cls)
        assert all(r.status == "passed" for r in results), [str(r) for r in results]


def test_kinds_get_their_checks():
    assert "labels" in checks_for(SoftmaxWithLoss) and "train-inference" not in checks_for(
        SoftmaxWithLoss
    )
    assert "train-inference" in checks_for(Relu) and "labels" not in checks_for(Relu)
    assert set(checks_for(Relu)) | {"labels", "arity"} == set(CHECKS)
    assert "arity" in checks_for(Add) and "train-inference" not in checks_for(Add)


def test_textbook_sigmoid_fails_the_gradient_check():
    results = check_layer(TextbookSigmoid, {}, (5,))
    assert _failed(results) == {"gradient"}
    message = next(r.message for r in results if r.check == "gradient")
    assert "backprop disagrees with central differences" in message and "x " in message


def test_textbook_relu_fails_the_mutation_check():
    assert _failed(check_layer(TextbookRelu, {}, (5,))) == {"inputs-not-mutated"}


def test_global_randomness_fails_seed_and_inference_checks():
    failed = _failed(check_layer(GlobalNoise))
    assert {"same-seed", "train-inference", "gradient"} == failed


def test_unvalidated_hyperparameters_fail():
    results = check_layer(Scale)
    assert _failed(results) == {"hyperparameters"}
    assert "{'scale': -1.0} was accepted" in next(
        r.message for r in results if r.check == "hyperparameters"
    )


def test_xfail_and_xpass_are_reported():
    results = {
        r.check: r
        for r in check_layer(TextbookSigmoid, {}, (5,), xfail={"gradient": "known", "build": "?"})
    }
    assert results["gradient"].status == "xfailed" and results["gradient"].ok
    assert results["build"].status == "xpassed" and not results["build"].ok


def test_a_layer_without_examples_fails_with_advice():
    class Bare(Layer):
        name = "Bare"

    results = check_layer(Bare)
    assert {r.status for r in results} == {"failed"}
    assert "declares no `examples`" in results[0].message


def test_layer_checks_ids_and_marks():
    params = layer_checks([Relu, (TextbookSigmoid, {}, (4,), {"gradient": "textbook bug"})])
    ids = [p.id for p in params]
    assert "Relu-gradient" in ids and "TextbookSigmoid-gradient" in ids
    marked = {p.id: [m.name for m in p.marks] for p in params}
    assert marked["TextbookSigmoid-gradient"] == ["xfail"] and marked["Relu-gradient"] == []


def test_pytest_helper_end_to_end(tmp_path):
    """A layer author's test file, run by a real pytest: one named test per check, xfail shown."""
    (tmp_path / "test_author.py").write_text(
        textwrap.dedent("""
        from layerkit import Sigmoid
        from layerkit.testing import parametrize_with_checks

        class TextbookSigmoid(Sigmoid):
            name = "TextbookSigmoid"
            def backward(self, dout):
                return dout * (1.0 - self._y)

        @parametrize_with_checks([
            Sigmoid,
            (TextbookSigmoid, {}, (3,), {"gradient": "the textbook drops y"}),
            (TextbookSigmoid, {}, (3,)),
        ])
        def test_contract(check):
            check()
    """)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfxX", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "XFAIL" in out and "TextbookSigmoid-gradient" in out and "the textbook drops y" in out
    assert "FAILED test_author.py::test_contract[TextbookSigmoid-gradient" in out
    assert "1 failed" in out and "1 xfailed" in out
    assert f"{2 * len(checks_for(Sigmoid)) - 2 + len(checks_for(Sigmoid))} passed" in out
