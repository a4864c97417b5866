"""ONNX export, end to end: every shipped spec trained briefly, exported, run in ONNX Runtime.

Nothing is mocked: the models are checked by the real ``onnx.checker`` and run by the real
ONNX Runtime; plugins are real distributions on ``PYTHONPATH`` (see ``test_plugins_dists``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from test_plugins_dists import clean_env, write_dist

from layerkit import (
    Add,
    Affine,
    BatchNorm,
    Concat,
    Conv2D,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Input,
    Layer,
    MaxPool2D,
    Mul,
    Network,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)
from layerkit.deploy import export_checkpoint, spec_digest
from layerkit.errors import ExportError
from layerkit.export import DEFAULT_OPSET, verify_onnx
from layerkit.export.registry import converter_table, export_status
from layerkit.plugins import get_registry
from layerkit.run import checkpoint_spec, restore_network, train
from layerkit.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "model_specs").glob("*.yaml"))

#: Tiny subsets per dataset, so every spec trains in about a second.
SUBSETS = {
    "fashion_mnist": ["data.train_size=256", "data.test_size=200"],
    "mnist": ["data.train_size=256", "data.test_size=200"],
    "spiral": ["data.points_per_class=20"],
    "blobs": ["data.points_per_class=20"],
}


def _dataset(spec: Path) -> str:
    return str(yaml.safe_load(spec.read_text())["data"]["dataset"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every spec of model_specs/ trained for one epoch on a tiny subset (once per module)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for spec in SPECS:
        dataset = _dataset(spec)
        assert dataset in SUBSETS, (
            f"{spec.name}: add a tiny subset for dataset {dataset!r} to SUBSETS"
        )
        result = train(
            spec,
            out=root / spec.stem,
            overrides=["train.epochs=1", *SUBSETS[dataset]],
            quiet=True,
            plot=False,
        )
        out[spec.stem] = result.run_dir
    return out


def _test_inputs(run_dir: Path) -> tuple[Any, np.ndarray]:
    ckpt = load_checkpoint(run_dir)
    network = restore_network(ckpt)
    split = checkpoint_spec(ckpt).data.create().load()["test"]
    x = split.x.astype(network.dtype) * network.dtype.type(split.scale)
    return network, x


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("spec", [s.stem for s in SPECS])
def test_every_spec_exports_and_matches_in_onnx_runtime(
    runs: dict[str, Path], tmp_path: Path, spec: str
) -> None:
    out = tmp_path / f"{spec}.onnx"
    result = export_checkpoint(runs[spec], out)
    assert result.verification is not None and result.verification.passed

    # The file on disk, read back: it passes the full check and states its opset.
    model = onnx.load(str(out))
    onnx.checker.check_model(str(out), full_check=True)
    assert {o.domain: o.version for o in model.opset_import}[""] == DEFAULT_OPSET

    ckpt = load_checkpoint(runs[spec])
    network, x = _test_inputs(runs[spec])
    info = ckpt.manifest["input"]

    # Input named and shaped as the dataset describes it, with a dynamic batch axis.
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == checkpoint_spec(ckpt).data.create().describe().input_name == info["name"]
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == info["shape"]
    assert [o.name for o in model.graph.output] == ["scores", "probabilities"]
    # The weights are initializers named like the network's parameters.
    assert set(network.params) <= {t.name for t in model.graph.initializer}

    props = {p.key: p.value for p in model.metadata_props}
    assert props["layerkit.spec_name"] == ckpt.spec["name"]
    assert props["layerkit.spec_sha256"] == spec_digest(ckpt.spec)
    assert props["layerkit.version"]
    names = info.get("class_names")
    assert (
        json.loads(props["layerkit.class_names"]) == names
        if names
        else "layerkit.class_names" not in props
    )
    plugins = {p["distribution"]: p for p in json.loads(props["layerkit.plugins"])}
    uses_plugin = any(layer.name in {"GELU", "SiLU"} for layer in network.layers)
    assert ("layerkit-activations" in plugins) == uses_plugin
    if uses_plugin:
        assert set(plugins["layerkit-activations"]["layers"]) == {"GELU", "SiLU"}

    # ONNX Runtime on the test split against layerkit's own predictions.
    scores, probs = _session(out).run(["scores", "probabilities"], {inp.name: x})
    want = network.predict_proba(x)
    np.testing.assert_allclose(probs, want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(scores, network.predict(x), atol=1e-4, rtol=1e-3)
    top2 = np.sort(want, axis=1)[:, -2:]
    disagree = probs.argmax(axis=1) != want.argmax(axis=1)
    assert np.all(top2[disagree, 1] - top2[disagree, 0] < 1e-5)  # only float32 ties may differ


def test_dynamic_batch_axis(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cnn.onnx"
    export_checkpoint(runs["cnn_fashion"], out, verify=False)
    ckpt = load_checkpoint(runs["cnn_fashion"])
    network = restore_network(ckpt)
    session = _session(out)
    rng = np.random.default_rng(0)
    for n in (1, 7, 1000):
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        (probs,) = session.run(["probabilities"], {"image": x})
        assert probs.shape == (n, 10)
        np.testing.assert_allclose(probs, network.predict_proba(x), atol=1e-4, rtol=0)


def test_cli_export_json_and_a_wrong_opset(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "deep" / "spiral.onnx"  # missing folders are created
    done = subprocess.run(
        [sys.executable, "-m", "layerkit", "export", str(runs["spiral"]), "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["path"] == str(out) and out.is_file()
    assert report["input"] == {"name": "point", "shape": ["batch", 2]}
    assert report["verification"]["passed"] and report["verification"]["argmax_agreement"] == 1.0
    assert report["verification"]["max_abs_diff"] <= 1e-4

    as64 = export_checkpoint(runs["spiral"], tmp_path / "spiral64.onnx", dtype="float64")
    assert as64.verification.passed
    elem_type = onnx.load(str(tmp_path / "spiral64.onnx")).graph.input[0].type.tensor_type.elem_type
    assert elem_type == onnx.TensorProto.DOUBLE

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerkit",
            "export",
            str(runs["spiral"]),
            "-o",
            str(tmp_path / "x.onnx"),
            "--opset",
            "7",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert bad.returncode == 2 and "opset" in bad.stderr and "7" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "x.onnx").exists()


def test_network_to_onnx_in_python(tmp_path: Path) -> None:
    """A chain with BatchNorm (inference form) and Dropout (gone), exported from Python."""
    net = Network(
        [
            Conv2D(filters=4, kernel_size=3, padding=1),
            BatchNorm(),
            Relu(),
            Flatten(),
            Dropout(rate=0.5),
            Affine(units=6),
            BatchNorm(),
            Relu(),
            Affine(units=3),
            SoftmaxWithLoss(),
        ],
        input_shape=(1, 6, 6),
        seed=0,
    )
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 1, 6, 6)).astype(np.float32)
    for _ in range(3):  # move the running statistics away from their initial values
        net.loss(x, rng.integers(0, 3, 32))
    model = net.to_onnx(tmp_path / "net.onnx", input_name="pixels", class_names=["a", "b", "c"])
    ops = [node.op_type for node in model.graph.node]
    assert "Dropout" not in ops and ops.count("BatchNormalization") == 2
    assert onnx.load(str(tmp_path / "net.onnx")) == model
    report = verify_onnx(tmp_path / "net.onnx", net, x)
    assert report.passed and report.argmax_agreement == 1.0 and report.max_abs_diff < 1e-5

    # float64 networks export in float64 unless asked otherwise
    net64 = net.with_dtype("float64")
    assert net64.to_onnx().graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    as32 = net64.to_onnx(dtype="float32")
    assert as32.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert verify_onnx(as32, net, x).passed
    # ONNX Runtime has no float64 convolution on CPU: a clear error that says what to do
    with pytest.raises(ExportError, match=r"cannot load the exported model.*float32 only"):
        verify_onnx(net64.to_onnx(), net64, x)


def _residual_se_concat_network() -> Network:
    """A graph with every merge: a residual Add, a squeeze-and-excitation Mul, a Concat."""
    x = Input()
    h = Relu()(BatchNorm()(Conv2D(filters=4, kernel_size=3, padding=1)(x)))
    r = BatchNorm()(
        Conv2D(filters=4, kernel_size=3, padding=1)(
            Relu()(Conv2D(filters=4, kernel_size=3, padding=1)(h))
        )
    )
    h = Relu()(Add(id="residual")(r, h))  # (4, 6, 6) + (4, 6, 6)
    gate = Sigmoid()(Affine(units=4)(Relu()(Affine(units=2)(GlobalAvgPool2D()(h)))))
    h = Mul(id="excite")(h, gate)  # (4, 6, 6) * (4,)
    joined = Concat(id="join")(
        GlobalAvgPool2D()(h), Flatten()(MaxPool2D(pool_size=3)(h))
    )  # (4,) ++ (16,)
    out = SoftmaxWithLoss()(Affine(units=3)(Dropout(rate=0.2)(joined)))
    return Network(inputs=x, outputs=out, input_shape=(1, 6, 6), seed=0)


def test_graph_networks_export_with_their_merges(tmp_path: Path) -> None:
    net = _residual_se_concat_network()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 1, 6, 6)).astype(np.float32)
    for _ in range(3):
        net.loss(x, rng.integers(0, 3, 40))  # running statistics away from their start
    model = net.to_onnx(tmp_path / "graph.onnx")
    ops = [node.op_type for node in model.graph.node]
    assert {"Add", "Mul", "Concat", "Unsqueeze"} <= set(ops) and "Dropout" not in ops
    session = _session(tmp_path / "graph.onnx")
    for n in (1, 7, 40):  # the dynamic batch axis through every merge
        (probs,) = session.run(["probabilities"], {"input": x[:n]})
        np.testing.assert_allclose(probs, net.predict_proba(x[:n]), atol=1e-5, rtol=0)
    assert verify_onnx(model, net, x).passed


def test_a_graph_spec_trains_exports_and_verifies(tmp_path: Path) -> None:
    """Named inputs in a spec (a skip connection, a gate, a concat) trained, exported, verified."""
    spec = tmp_path / "skip.yaml"
    spec.write_text(
        textwrap.dedent(
            """
        name: skip
        seed: 0
        data: {dataset: spiral, classes: 3, points_per_class: 30}
        model:
          layers:
            - {type: Affine, id: fc1, units: 16, init: he}
            - {type: Relu, id: r1}
            - {type: Affine, id: fc2, units: 16, init: he}
            - {type: Add, id: skip, inputs: [fc2, r1]}
            - {type: Affine, id: g, units: 16, inputs: [input]}
            - {type: Sigmoid, id: gate}
            - {type: Mul, id: gated, inputs: [skip, gate]}
            - {type: Concat, id: both, inputs: [gated, input]}
            - {type: Affine, id: out, units: 3}
            - {type: SoftmaxWithLoss}
        train: {epochs: 2, batch_size: 30, optimizer: {type: Adam, lr: 0.01}}
        """
        )
    )
    result = train(spec, out=tmp_path / "run", quiet=True, plot=False)
    exported = export_checkpoint(result.run_dir, tmp_path / "skip.onnx")
    assert exported.verification.passed and exported.verification.argmax_agreement == 1.0
    network, x = _test_inputs(result.run_dir)
    (probs,) = _session(tmp_path / "skip.onnx").run(["probabilities"], {"point": x})
    np.testing.assert_allclose(probs, network.predict_proba(x), atol=1e-5, rtol=0)


def test_unbuilt_network_and_bad_options_are_clear_errors() -> None:
    with pytest.raises(ExportError, match="not built"):
        Network([Affine(units=2), SoftmaxWithLoss()]).to_onnx()
    net = Network([Affine(units=2), SoftmaxWithLoss()], input_shape=(3,))
    with pytest.raises(ExportError, match=r"class_names: 1 names for 2 scores"):
        net.to_onnx(class_names=["one"])
    with pytest.raises(ExportError, match="opset"):
        net.to_onnx(opset=99)
    with pytest.raises(ExportError, match="input_name"):
        net.to_onnx(input_name="scores")


class Cube(Layer):
    """x ** 3, a layer nobody wrote a converter for."""

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        self._x = x
        return x**3

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return 3 * self._x**2 * dout


def test_a_layer_without_a_converter_names_id_type_origin_and_the_hook() -> None:
    net = Network(
        [Affine(units=4), Cube(id="cube"), Affine(units=2), SoftmaxWithLoss()], input_shape=(3,)
    )
    with pytest.raises(ExportError) as info:
        net.to_onnx()
    message = str(info.value)
    assert "layer 'cube' (type Cube, from module test_export_onnx" in message
    assert "has no ONNX converter" in message and "layerkit_add_onnx_converters" in message
    assert "docs/export.md" in message


def test_every_registered_layer_exports() -> None:
    """Built-ins and the example plugin: each has a converter (the kit checks its maths)."""
    table = converter_table()
    for entry in get_registry().entries("layers"):
        status = export_status(entry, table)
        assert status is not None and status.exportable, entry.qualified_name


# -- plugins as real distributions -----------------------------------------------------------

PLUGINS = {
    # a layer without a converter
    "lk_noconv": '''
        from layerkit import hookimpl
        from layerkit.layers.base import Layer

        class Cube(Layer):
            """x ** 3."""
            examples = ({"params": {}, "input_shape": (3,)},)
            def forward(self, x, *, train=False):
                self._x = x
                return x ** 3
            def backward(self, dout):
                return 3 * self._x ** 2 * dout

        @hookimpl
        def layerkit_add_layers():
            return [Cube]
    ''',
    # a converter for another plugin's layer, by name; one that builds an invalid graph; one
    # that computes the wrong thing; a converter hook of a second plugin that raises
    "lk_converters": '''
        from layerkit import hookimpl
        from layerkit.layers.base import Layer

        class Twice(Layer):
            """2 x: its converter forgets the factor (a wrong converter)."""
            examples = ({"params": {}, "input_shape": (3,)},)
            def forward(self, x, *, train=False):
                return 2 * x
            def backward(self, dout):
                return 2 * dout

        class Half(Layer):
            """x / 2: its converter uses an operator that does not exist."""
            examples = ({"params": {}, "input_shape": (3,)},)
            def forward(self, x, *, train=False):
                return x / 2
            def backward(self, dout):
                return dout / 2

        def cube(ctx, layer, inputs):
            (x,) = inputs
            return ctx.node("Mul", [ctx.node("Mul", [x, x]), x])

        def wrong(ctx, layer, inputs):
            return ctx.node("Identity", [inputs[0]])

        def invalid(ctx, layer, inputs):
            return ctx.node("HalveIt", [inputs[0]])

        @hookimpl
        def layerkit_add_layers():
            return [Twice, Half]

        @hookimpl
        def layerkit_add_onnx_converters():
            return {"Cube": cube, Twice: wrong, Half: invalid}
    ''',
    "lk_broken": """
        from layerkit import hookimpl

        @hookimpl
        def layerkit_add_onnx_converters():
            raise RuntimeError("converters are broken")
    """,
}


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dists")
    for module, source in PLUGINS.items():
        write_dist(
            root, module.replace("_", "-"), {module.removeprefix("lk_"): module}, {module: source}
        )
    return root


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=180, env=clean_env(path)
    )


def _python(path: Path, code: str) -> subprocess.CompletedProcess[str]:
    return _run(path, sys.executable, "-c", textwrap.dedent(code))


def test_layers_command_shows_what_exports(plugin_path: Path) -> None:
    done = _run(plugin_path, sys.executable, "-m", "layerkit", "layers", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)["components"]}
    # Cube's converter comes from another plugin than the layer
    assert rows["Cube"]["onnx"] == {
        "exportable": True,
        "converter_plugin": "converters",
        "problem": None,
    }
    assert rows["GELU"]["onnx"]["converter_plugin"] == "activations"
    assert rows["SGD"]["onnx"] is None
    # the plugin whose converter hook raises is reported once; everything else works
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert (
        len(warnings) == 1 and "'broken'" in warnings[0] and "converters are broken" in warnings[0]
    )
    table = _run(plugin_path, sys.executable, "-m", "layerkit", "layers", "--kind", "layer")
    cube = next(line for line in table.stdout.splitlines() if line.startswith("Cube "))
    assert "yes (plugin converters)" in cube


def test_plugin_layer_without_a_converter_names_its_distribution(plugin_path: Path) -> None:
    done = _python(
        plugin_path,
        """
        from layerkit import Network
        from layerkit.errors import ExportError
        from layerkit.plugins import get_registry
        layer = get_registry().layer
        net = Network([layer("Affine")(units=3), layer("Cube")(id="c1"), layer("Affine")(units=2),
                       layer("SoftmaxWithLoss")()], input_shape=(2,))
        try:
            net.to_onnx(opset=17)   # the converter for Cube comes from lk-converters
            print("exported")
        except ExportError as exc:
            print(exc)
        """,
    )
    assert done.stdout.strip() == "exported", done.stderr
    # with the converters plugin disabled, Cube has none: the message names the distribution
    blocked = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            from layerkit import Network
            from layerkit.errors import ExportError
            from layerkit.plugins import get_registry
            layer = get_registry().layer
            net = Network([layer("Affine")(units=3), layer("Cube")(id="c1"), layer("Affine")(units=2),
                           layer("SoftmaxWithLoss")()], input_shape=(2,))
            try:
                net.to_onnx()
            except ExportError as exc:
                print(exc)
            """
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env=clean_env(plugin_path, LAYERKIT_DISABLE_PLUGINS="converters"),
    )
    out = blocked.stdout
    assert (
        "layer 'c1' (type Cube, from plugin 'noconv' (lk-noconv 1.0)) has no ONNX converter" in out
    ), blocked.stderr
    assert "layerkit_add_onnx_converters" in out


def test_checker_failure_never_replaces_an_existing_file(plugin_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous, good model")
    done = _python(
        plugin_path,
        f"""
        from layerkit import Network
        from layerkit.errors import ExportError
        from layerkit.plugins import get_registry
        layer = get_registry().layer
        net = Network([layer("Affine")(units=3), layer("Half")(id="half"), layer("Affine")(units=2),
                       layer("SoftmaxWithLoss")()], input_shape=(2,))
        try:
            net.to_onnx({str(target)!r})
        except ExportError as exc:
            print(exc)
        """,
    )
    assert "fails onnx.checker (full check)" in done.stdout, done.stderr
    assert "HalveIt" in done.stdout and "lk-converters" in done.stdout
    assert target.read_bytes() == b"the previous, good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp file left


def test_failed_verification_exits_1_and_writes_nothing(plugin_path: Path, tmp_path: Path) -> None:
    spec = tmp_path / "twice.yaml"
    spec.write_text(
        textwrap.dedent(
            """
        name: twice
        seed: 0
        data: {dataset: spiral, classes: 3, points_per_class: 20}
        model:
          layers:
            - {type: Affine, units: 8}
            - {type: Twice, id: twice}
            - {type: Affine, units: 3}
            - {type: SoftmaxWithLoss}
        train: {epochs: 1, batch_size: 20, optimizer: {type: SGD, lr: 0.1}}
        """
        )
    )
    lk = (sys.executable, "-m", "layerkit")
    trained = _run(
        plugin_path, *lk, "train", str(spec), "--out", str(tmp_path / "run"), "-q", "--no-plot"
    )
    assert trained.returncode == 0, trained.stderr
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous")
    done = _run(plugin_path, *lk, "export", str(tmp_path / "run"), "-o", str(target))
    assert done.returncode == 1, done.stderr
    assert "verification failed" in done.stderr and "was not written" in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_bytes() == b"previous"
    # --no-verify writes it (the user asked for it)
    forced = _run(
        plugin_path, *lk, "export", str(tmp_path / "run"), "-o", str(target), "--no-verify"
    )
    assert forced.returncode == 0, forced.stderr
    assert onnx.load(str(target)).graph.output[1].name == "probabilities"


def test_without_the_extra_a_clear_error_and_a_light_core(
    tmp_path: Path, runs: dict[str, Path]
) -> None:
    # The core never imports onnx: building networks and listing layers stay light.
    light = _python(
        tmp_path,
        """
        import sys
        from layerkit import Affine, Network, SoftmaxWithLoss
        from layerkit.cli import main
        Network([Affine(units=2), SoftmaxWithLoss()], input_shape=(3,))
        main(["layers"])
        print(sorted(m for m in ("onnx", "onnxruntime") if m in sys.modules))
        """,
    )
    assert light.stdout.strip().endswith("[]"), light.stderr
    # A stand-in that fails to import, first on the path, plays "onnx is not installed".
    (tmp_path / "onnx.py").write_text("raise ImportError('No module named onnx')\n")
    out = tmp_path / "m.onnx"
    done = _run(
        tmp_path, sys.executable, "-m", "layerkit", "export", str(runs["spiral"]), "-o", str(out)
    )
    assert done.returncode == 2
    assert "pip install 'layerkit[onnx]'" in done.stderr and "Traceback" not in done.stderr
