"""The conformance kit for layer authors, in the spirit of scikit-learn's ``check_estimator``.

Every check is named, so an author sees which property of the layer contract failed:

========================  ===================================================================
``hyperparameters``       valid examples construct; unknown keys, declared ``bad_params`` and
                          values outside the ``Params`` constraints raise ``ConfigError``
``config-roundtrip``      ``type(layer)(**config)`` rebuilds the same hyperparameters
``build``                 ``build`` returns ``compute_output_shape``; weights in the build dtype
``params-grads-keys``     ``params`` and ``grads`` share keys, shapes and dtypes
``arrays-in-place``       ``backward`` writes into the ``grads`` arrays ``build`` allocated and
                          nothing rebinds a ``params`` or ``grads`` array (networks and
                          optimizers keep references to them)
``shapes-dtypes``         forward/backward shapes and dtypes in float32 and float64
``gradient``              backprop against central differences in float64 (training and
                          inference mode; index and one-hot labels for losses; the gradient
                          of every input for merge layers)
``inputs-not-mutated``    forward and backward never write into ``x``, ``dout``, ``t``
``same-seed``             same seed, same weights and outputs (dropout masks included)
``train-inference``       inference is deterministic and changes no state; a layer without
                          buffers or a generator computes the same in both modes
``labels``                (losses) class-index labels give the loss and dx of one-hot labels
``arity``                 (merge layers) too few inputs are a ``ShapeError`` at build
========================  ===================================================================

Merge layers (:class:`~layerkit.layers.base.Merge`: ``forward(*xs, train)``, ``backward(dout)``
returning one ``dx`` per input) declare ``input_shapes`` (one per input) in their examples and
are checked with one input array per shape.

Use it from pytest::

    from layerkit.testing import parametrize_with_checks

    @parametrize_with_checks([MyLayer, (OtherLayer, {"units": 3}, (4,))])
    def test_layer_contract(check):
        check()                     # one test per check: "MyLayer-gradient", ...

or directly: ``check_layer(MyLayer, {"units": 3}, (4,))`` returns one :class:`CheckResult` per
check. A layer class without arguments is checked on its ``examples`` (see
:mod:`layerkit.layers.base`). Checks a layer is known to fail are declared as ``xfail``
(``{"gradient": "why"}``) and reported as expected failures; if they pass, that is reported.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from layerkit.errors import ConfigError, ShapeError
from layerkit.gradcheck import DEFAULT_TOL, gradcheck_layer
from layerkit.layers.base import Layer, LayerParams, Loss, Merge

__all__ = [
    "CHECKS",
    "CheckFailed",
    "CheckResult",
    "LayerCheck",
    "check_layer",
    "checks_for",
    "layer_checks",
    "parametrize_with_checks",
]

BATCH = 4


class CheckFailed(AssertionError):
    """A conformance check found the layer breaking its contract."""


class _NotApplicable(Exception):
    """The check does not apply to this kind of layer."""


def _fail(message: str) -> None:
    raise CheckFailed(message)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one named check: ``passed``, ``failed``, ``xfailed``, ``xpassed`` or ``skipped``."""

    layer: str
    check: str
    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "xfailed", "skipped")

    def __str__(self) -> str:
        text = f"{self.layer}-{self.check}: {self.status}"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class _Example:
    params: dict[str, Any]
    #: the per-sample input shape; for a merge layer, one shape per input
    input_shape: tuple[Any, ...]
    rtol: float = DEFAULT_TOL

    def describe(self) -> str:
        return f"params={self.params!r}, input_shape={self.input_shape}"


class _Subject:
    """One layer class with one example: builds instances and inputs for the checks."""

    def __init__(self, cls: type[Layer], example: _Example) -> None:
        self.cls, self.ex = cls, example
        self.kind = getattr(cls, "kind", "layer")
        merge = self.kind == "merge"
        #: one per-sample shape per input
        self.shapes: list[tuple[int, ...]] = (
            [tuple(s) for s in example.input_shape] if merge else [tuple(example.input_shape)]
        )
        #: the keys of the input arrays in the data dicts
        self.input_keys = [f"x{i + 1}" for i in range(len(self.shapes))] if merge else ["x"]

    def make(self, dtype: Any = np.float64, seed: int = 0) -> Layer:
        layer = self.cls(**self.ex.params)
        layer.build(self.ex.input_shape, rng=np.random.default_rng(seed), dtype=dtype)
        return layer

    def inputs(self, layer: Layer, dtype: Any = np.float64, seed: int = 1) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        data: dict[str, Any] = {}
        for key, shape in zip(self.input_keys, self.shapes):
            data[key] = rng.standard_normal((BATCH, *shape)).astype(dtype)
        if self.kind == "loss":
            classes = self.ex.input_shape[-1]
            data["t"] = rng.integers(0, classes, size=BATCH)
        else:
            out_shape = tuple(layer.output_shape or ())
            data["dout"] = rng.standard_normal((BATCH, *out_shape)).astype(dtype)
        return data

    def forward(
        self, layer: Layer, data: Mapping[str, Any], *, train: bool = True, t: Any = None
    ) -> Any:
        if self.kind == "loss":
            return cast(Loss, layer).forward(data["x"], data["t"] if t is None else t)
        if self.kind == "merge":
            return cast(Merge, layer).forward(*[data[k] for k in self.input_keys], train=train)
        return layer.forward(data["x"], train=train)

    def backward(self, layer: Layer, data: Mapping[str, Any]) -> Any:
        if self.kind == "loss":
            return cast(Loss, layer).backward(1.0)
        return layer.backward(data["dout"])


# -- the checks --------------------------------------------------------------------------------


def _bad_values(params_model: type[LayerParams]) -> Iterable[tuple[str, Any]]:
    """Values that violate each field's numeric constraints (``gt``, ``ge``, ``lt``, ``le``)."""
    import annotated_types as at

    for name, info in params_model.model_fields.items():
        is_float = info.annotation is float
        if is_float:
            yield name, float("nan")
        for meta in info.metadata:
            if isinstance(meta, at.Gt):
                yield name, meta.gt
            elif isinstance(meta, at.Ge):
                yield name, cast(float, meta.ge) - (1e-3 if is_float else 1)
            elif isinstance(meta, at.Lt):
                yield name, meta.lt
            elif isinstance(meta, at.Le):
                yield name, cast(float, meta.le) + (1e-3 if is_float else 1)


def _expect_config_error(cls: type[Layer], params: Mapping[str, Any], what: str) -> str:
    try:
        cls(**params)
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - the point is to report which type was raised
        _fail(f"{what}: {params!r} raised {type(exc).__name__} instead of ConfigError: {exc}")
    _fail(f"{what}: {params!r} was accepted; validation must reject it")
    return ""


def check_hyperparameters(s: _Subject) -> None:
    cls = s.cls
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, LayerParams)):
        _fail("Params must subclass layerkit.layers.base.LayerParams (extra keys forbidden)")
    try:
        cls(**s.ex.params)
    except ConfigError as exc:
        _fail(f"a valid example was rejected: {exc}")
    message = _expect_config_error(cls, {**s.ex.params, "no_such_hyperparameter": 1}, "unknown key")
    if "no_such_hyperparameter" not in message:
        _fail(f"the error for an unknown key does not name it: {message!r}")
    for bad in getattr(cls, "bad_params", ()):
        _expect_config_error(cls, bad, "declared bad_params")
    for name, value in _bad_values(cls.Params):
        _expect_config_error(cls, {**s.ex.params, name: value}, f"{name} outside its constraints")


def check_config_roundtrip(s: _Subject) -> None:
    layer = s.cls(id="probe", **s.ex.params)
    entry = layer.config()
    if entry.get("type") != s.cls.name:
        _fail(
            f"config()['type'] is {entry.get('type')!r}, expected the registry name {s.cls.name!r}"
        )
    rest = {k: v for k, v in entry.items() if k != "type"}
    again = s.cls(**rest)
    if again.config() != entry:
        _fail(f"config() does not round-trip: {entry!r} rebuilt as {again.config()!r}")


def check_build(s: _Subject) -> None:
    for dtype in (np.float32, np.float64):
        layer = s.cls(**s.ex.params)
        expected = tuple(layer.compute_output_shape(s.ex.input_shape))
        out = layer.build(s.ex.input_shape, rng=np.random.default_rng(0), dtype=dtype)
        if not isinstance(out, tuple) or not all(isinstance(d, int) for d in out):
            _fail(f"build() must return a tuple of ints (returned {out!r})")
        if out != expected:
            _fail(f"build() returned {out} but compute_output_shape gives {expected}")
        if tuple(layer.output_shape or ()) != out or not layer.built:
            _fail("build() must set output_shape and built")
        for kind, arrays in (("params", layer.params), ("buffers", layer.buffers)):
            for k, v in arrays.items():
                if not isinstance(v, np.ndarray) or v.dtype != np.dtype(dtype):
                    _fail(f"{kind}[{k!r}] must be an ndarray of the build dtype {np.dtype(dtype)}")


def _check_keys(layer: Layer, when: str) -> None:
    if set(layer.params) != set(layer.grads):
        _fail(
            f"{when}: params keys {sorted(layer.params)} differ from grads keys {sorted(layer.grads)}"
        )
    for k, p in layer.params.items():
        g = layer.grads[k]
        if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
            _fail(
                f"{when}: grads[{k!r}] must match params[{k!r}] {p.shape} {p.dtype} "
                f"(is {getattr(g, 'shape', None)} {getattr(g, 'dtype', type(g).__name__)})"
            )
    clash = set(layer.params) & set(layer.buffers)
    if clash:
        _fail(f"names used both as params and buffers: {sorted(clash)}")


def check_params_grads_keys(s: _Subject) -> None:
    layer = s.make()
    _check_keys(layer, "after build")
    data = s.inputs(layer)
    s.forward(layer, data)
    s.backward(layer, data)
    _check_keys(layer, "after backward")


def check_arrays_in_place(s: _Subject) -> None:
    layer = s.make()
    before = {"params": dict(layer.params), "grads": dict(layer.grads)}
    data = s.inputs(layer)
    for call in ("first", "second"):
        s.forward(layer, data)
        s.backward(layer, data)
        for name, now in (("params", layer.params), ("grads", layer.grads)):
            for k, arr in before[name].items():
                if now.get(k) is not arr:
                    _fail(
                        f"after the {call} forward/backward, {name}[{k!r}] is not the array build "
                        "allocated; write into it in place (np.matmul(..., out=...), a[...] = ...): "
                        "networks and optimizers hold references to it"
                    )


def check_shapes_dtypes(s: _Subject) -> None:
    for dtype in (np.float32, np.float64):
        dt = np.dtype(dtype)
        layer = s.make(dtype)
        data = s.inputs(layer, dtype)
        out = s.forward(layer, data)
        if s.kind == "loss":
            if type(out) is not float or not math.isfinite(out):
                _fail(f"{dt}: a loss forward must return a finite Python float (returned {out!r})")
        else:
            expected = (BATCH, *(layer.output_shape or ()))
            if not isinstance(out, np.ndarray) or out.shape != expected or out.dtype != dt:
                _fail(
                    f"{dt}: forward returned {getattr(out, 'shape', type(out).__name__)} "
                    f"{getattr(out, 'dtype', '')}, expected {expected} {dt}"
                )
        grads_in = s.backward(layer, data)
        inputs = [("dx", data["x"], grads_in)] if s.kind != "merge" else []
        if s.kind == "merge":
            n = len(s.input_keys)
            if not isinstance(grads_in, tuple) or len(grads_in) != n:
                _fail(f"a merge layer's backward must return a tuple of {n} gradients, one per input")
            inputs = [(f"d{k}", data[k], g) for k, g in zip(s.input_keys, grads_in)]
        for name, ref, g in inputs:
            if not isinstance(g, np.ndarray) or g.shape != ref.shape or g.dtype != dt:
                _fail(
                    f"{dt}: backward {name} is {getattr(g, 'shape', type(g).__name__)} "
                    f"{getattr(g, 'dtype', '')}, expected {ref.shape} {dt}"
                )
        for k, g in layer.grads.items():
            if g.dtype != dt or not np.all(np.isfinite(g)):
                _fail(f"{dt}: grads[{k!r}] must be finite {dt} after backward")


def check_gradient(s: _Subject) -> None:
    layer = s.make(np.float64, seed=3)
    data = s.inputs(layer)
    runs: list[tuple[str, dict[str, Any]]]
    if s.kind == "loss":
        onehot = np.eye(s.ex.input_shape[-1])[data["t"]]
        runs = [("index labels", {"t": data["t"]}), ("one-hot labels", {"t": onehot})]
    else:
        runs = [("training", {"train": True}), ("inference", {"train": False})]
    x: Any = [data[k] for k in s.input_keys] if s.kind == "merge" else data["x"]
    for label, options in runs:
        report = gradcheck_layer(layer, x, tol=s.ex.rtol, **options)
        if not report.passed:
            _fail(
                f"{label + ': ' if label else ''}backprop disagrees with central differences\n{report.table()}"
            )


def _snapshot(layer: Layer) -> dict[str, np.ndarray]:
    return {f"params.{k}": v.copy() for k, v in layer.params.items()}


def check_inputs_not_mutated(s: _Subject) -> None:
    modes = (True,) if s.kind == "loss" else (True, False)
    for train in modes:
        layer = s.make()
        data = s.inputs(layer)
        copies = {k: np.array(v, copy=True) for k, v in data.items()}
        weights = _snapshot(layer)
        s.forward(layer, data, train=train)
        for k, v in data.items():
            if k != "dout" and not np.array_equal(v, copies[k]):
                _fail(f"forward(train={train}) modified its input {k!r}")
        s.backward(layer, data)
        for k, v in data.items():
            if not np.array_equal(v, copies[k]):
                _fail(f"backward after forward(train={train}) modified {k!r}")
        for k, v in _snapshot(layer).items():
            if not np.array_equal(v, weights[k]):
                _fail(f"forward/backward modified {k} (only optimizers update weights)")


def _outputs(s: _Subject, seed: int) -> tuple[dict[str, np.ndarray], Any, Any]:
    layer = s.make(np.float64, seed=seed)
    data = s.inputs(layer)
    out = s.forward(layer, data)
    return _snapshot(layer), out, s.backward(layer, data)


def check_same_seed(s: _Subject) -> None:
    w1, out1, dx1 = _outputs(s, seed=7)
    w2, out2, dx2 = _outputs(s, seed=7)
    for k in w1:
        if not np.array_equal(w1[k], w2[k]):
            _fail(f"same seed, different initial {k}")
    if not np.array_equal(np.asarray(out1), np.asarray(out2)):
        _fail("same seed and input, different forward output (draw randomness from self.rng)")
    pairs = zip(dx1, dx2) if isinstance(dx1, tuple) else [(dx1, dx2)]
    for a, b in pairs:
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            _fail("same seed and input, different backward output")


def _state(layer: Layer) -> tuple[dict[str, np.ndarray], Any]:
    rng = layer.rng.bit_generator.state if layer.rng is not None else None
    return {k: v.copy() for k, v in layer.buffers.items()}, rng


def check_train_inference(s: _Subject) -> None:
    if s.kind != "layer":
        raise _NotApplicable(f"a {s.kind} has no training/inference mode")
    layer = s.make(np.float64)
    data = s.inputs(layer)
    layer.forward(data["x"], train=True)  # training may move running statistics: that is fine
    before = _state(layer)
    first = layer.forward(data["x"], train=False)
    second = layer.forward(data["x"], train=False)
    if not np.array_equal(first, second):
        _fail("inference (train=False) is not deterministic")
    after = _state(layer)
    for k in before[0]:
        if not np.array_equal(before[0][k], after[0][k]):
            _fail(f"inference changed buffers[{k!r}]; only training may update state")
    if before[1] != after[1]:
        _fail("inference drew random numbers; randomness belongs to training")
    stateless = not layer.buffers and layer.rng is None
    if stateless:
        fresh = s.make(np.float64)
        trained = fresh.forward(data["x"], train=True)
        if not np.allclose(trained, first, rtol=1e-12, atol=1e-12):
            _fail(
                "a layer without buffers or a generator computes differently in training and "
                "inference; declare this check as xfail if that is intended"
            )


def check_labels(s: _Subject) -> None:
    if s.kind != "loss":
        raise _NotApplicable("only loss layers take labels")
    layer = cast(Loss, s.make(np.float64))
    data = s.inputs(layer)
    onehot = np.eye(s.ex.input_shape[-1])[data["t"]]
    loss_index = layer.forward(data["x"], data["t"])
    dx_index = layer.backward(1.0)
    loss_onehot = layer.forward(data["x"], onehot)
    dx_onehot = layer.backward(1.0)
    if not math.isclose(loss_index, loss_onehot, rel_tol=1e-12, abs_tol=1e-12):
        _fail(f"index labels give loss {loss_index!r}, one-hot labels {loss_onehot!r}")
    if not np.allclose(dx_index, dx_onehot, rtol=1e-12, atol=1e-12):
        _fail("index and one-hot labels give different dx")


def check_arity(s: _Subject) -> None:
    if s.kind != "merge":
        raise _NotApplicable("only merge layers take several inputs")
    cls = cast(type[Merge], s.cls)
    if cls.min_inputs < 1:
        _fail(f"min_inputs must be >= 1 (is {cls.min_inputs})")
    layer = cls(**s.ex.params)
    few = s.shapes[: cls.min_inputs - 1]
    try:
        layer.build(few, dtype=np.float64)
    except ShapeError:
        return
    _fail(f"build accepted {len(few)} input(s), fewer than min_inputs={cls.min_inputs}")


#: Checks that apply to some kinds of layer only (others apply to all).
_KINDS: dict[str, set[str]] = {
    "train-inference": {"layer"},
    "labels": {"loss"},
    "arity": {"merge"},
}


def checks_for(layer_cls: type[Layer]) -> list[str]:
    """Names of the checks that apply to ``layer_cls`` (by its ``kind``), in order."""
    kind = getattr(layer_cls, "kind", "layer")
    return [name for name in CHECKS if kind in _KINDS.get(name, {kind})]


#: Every check, in the order they run.
CHECKS: dict[str, Callable[[_Subject], None]] = {
    "hyperparameters": check_hyperparameters,
    "config-roundtrip": check_config_roundtrip,
    "build": check_build,
    "params-grads-keys": check_params_grads_keys,
    "arrays-in-place": check_arrays_in_place,
    "shapes-dtypes": check_shapes_dtypes,
    "gradient": check_gradient,
    "inputs-not-mutated": check_inputs_not_mutated,
    "same-seed": check_same_seed,
    "train-inference": check_train_inference,
    "labels": check_labels,
    "arity": check_arity,
}


# -- running -----------------------------------------------------------------------------------


def _examples(
    cls: type[Layer],
    params: Mapping[str, Any] | None,
    input_shape: Iterable[int] | None,
    rtol: float | None,
) -> tuple[list[_Example], dict[str, str]]:
    """The examples to check and the xfails they declare."""
    xfail: dict[str, str] = {}
    if params is not None or input_shape is not None:
        if input_shape is None:
            raise TypeError("check_layer: input_shape is required with params")
        return [_Example(dict(params or {}), tuple(input_shape), rtol or DEFAULT_TOL)], xfail
    out = []
    for entry in getattr(cls, "examples", ()):
        xfail.update(entry.get("xfail", {}))
        shape = entry["input_shapes"] if "input_shapes" in entry else entry["input_shape"]
        out.append(
            _Example(
                dict(entry.get("params", {})),
                tuple(tuple(s) for s in shape) if "input_shapes" in entry else tuple(shape),
                rtol or entry.get("rtol", DEFAULT_TOL),
            )
        )
    return out, xfail


def _run(check: str, cls: type[Layer], examples: list[_Example]) -> tuple[str, str]:
    """``(status, message)`` of one check over all examples, before xfail is applied."""
    if not examples:
        return "failed", (
            f"{cls.__name__} declares no `examples`; add e.g. "
            "examples = ({'params': {...}, 'input_shape': (4,)},)"
        )
    fn = CHECKS[check]
    skipped = ""
    for i, ex in enumerate(examples):
        try:
            fn(_Subject(cls, ex))
        except _NotApplicable as exc:
            skipped = str(exc)
        except CheckFailed as exc:
            return "failed", f"example {i} ({ex.describe()}): {exc}"
        except Exception as exc:  # noqa: BLE001 - any crash is a finding to report
            tb = "".join(traceback.format_exception(exc)[-3:]).strip()
            return "failed", f"example {i} ({ex.describe()}): {type(exc).__name__}: {exc}\n{tb}"
    return ("skipped", skipped) if skipped else ("passed", "")


def _apply_xfail(status: str, message: str, reason: str | None) -> tuple[str, str]:
    if reason is None or status == "skipped":
        return status, message
    if status == "failed":
        return "xfailed", f"{reason}: {message}" if reason else message
    return "xpassed", f"declared as expected failure ({reason}) but passed"


def check_layer(
    layer_cls: type[Layer],
    params: Mapping[str, Any] | None = None,
    input_shape: Iterable[int] | None = None,
    *,
    xfail: Iterable[str] | Mapping[str, str] = (),
    checks: Iterable[str] | None = None,
    rtol: float | None = None,
) -> list[CheckResult]:
    """Run the named checks (all by default) on ``layer_cls``; one :class:`CheckResult` each.

    Without ``params``/``input_shape`` the class's ``examples`` are used. ``xfail`` names the
    checks expected to fail (a mapping gives reasons); ``rtol`` overrides the gradient
    tolerance (default 1e-6).
    """
    examples, declared = _examples(layer_cls, params, input_shape, rtol)
    declared.update(xfail if isinstance(xfail, Mapping) else {name: "" for name in xfail})
    names = checks_for(layer_cls) if checks is None else list(checks)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; available: {list(CHECKS)}")
    results = []
    for name in names:
        status, message = _apply_xfail(*_run(name, layer_cls, examples), declared.get(name))
        results.append(CheckResult(layer_cls.name, name, status, message))
    return results


@dataclass(frozen=True)
class LayerCheck:
    """One check of one layer class, callable from a test: raises ``AssertionError`` on failure."""

    layer: type[Layer]
    check: str
    examples: tuple[_Example, ...] = field(default=(), repr=False)
    xfail: str | None = None

    @property
    def id(self) -> str:
        return f"{self.layer.name}-{self.check}"

    def __call__(self) -> None:
        status, message = _run(self.check, self.layer, list(self.examples))
        if status == "skipped":
            import pytest

            pytest.skip(message)
        if status == "failed":
            raise CheckFailed(f"{self.id}: {message}")


def _as_case(case: Any) -> tuple[type[Layer], list[_Example], dict[str, str]]:
    if isinstance(case, type):
        examples, xfail = _examples(case, None, None, None)
        return case, examples, xfail
    if hasattr(case, "component"):  # a registry Entry
        return _as_case(case.component)
    if isinstance(case, Mapping):
        examples, xfail = _examples(
            case["layer"], case.get("params"), case.get("input_shape"), case.get("rtol")
        )
        return case["layer"], examples, {**xfail, **dict(case.get("xfail", {}))}
    cls, params, shape, *rest = case
    examples, xfail = _examples(cls, params, shape, None)
    if rest:
        extra = rest[0]
        xfail.update(extra if isinstance(extra, Mapping) else {name: "" for name in extra})
    return cls, examples, xfail


def layer_checks(cases: Iterable[Any]) -> list[Any]:
    """``pytest.param`` objects, one per (layer, check), with ids like ``"Affine-gradient"``.

    A case is a layer class (checked on its ``examples``), a registry entry, a tuple
    ``(cls, params, input_shape[, xfail])`` or a mapping with keys ``layer``, ``params``,
    ``input_shape``, ``xfail``, ``rtol``. Declared expected failures carry a strict
    ``pytest.mark.xfail``, so they show as xfailed, and as failures if they start to pass.
    """
    import pytest

    params = []
    for case in cases:
        cls, examples, xfail = _as_case(case)
        for name in checks_for(cls):
            reason = xfail.get(name)
            check = LayerCheck(cls, name, tuple(examples), reason)
            marks = (
                [pytest.mark.xfail(strict=True, raises=CheckFailed, reason=reason or "declared")]
                if reason is not None
                else []
            )
            params.append(pytest.param(check, id=check.id, marks=marks))
    return params


def parametrize_with_checks(cases: Iterable[Any]) -> Any:
    """A ``pytest.mark.parametrize("check", ...)`` decorator over :func:`layer_checks`."""
    import pytest

    return pytest.mark.parametrize("check", layer_checks(cases))
