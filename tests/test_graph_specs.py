"""Graph specs end to end: inputs, blocks, --set by qualified id, round trip, the run commands,
``layerkit graph`` rendered by the real ``dot``, and the resnet accuracy (slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from cli_support import layerkit

from layerkit.errors import SpecError
from layerkit.spec import build_network, load_spec, loads_spec, spec_from_network

ROOT = Path(__file__).resolve().parents[1]

GRAPH_SPEC = """\
name: graph_demo
seed: 0
data: {dataset: spiral, points_per_class: 60}
model:
  blocks:
    res:
      params: {units: null, act: Relu}
      layers:
        - {type: Affine, id: fc1, units: $units}
        - {type: $act}
        - {type: Affine, id: fc2, units: $units}
        - {type: Add, id: add, inputs: [fc2, input]}
        - {type: Relu, id: out}
  layers:
    - {type: Affine, id: stem, units: 8}
    - {type: block, block: res, with: {units: 8}, repeat: 2}
    - {type: Affine, id: gate_fc, units: 8, inputs: [stem]}
    - {type: Sigmoid, id: gate}
    - {type: Mul, id: gated, inputs: [res2, gate]}
    - {type: Concat, id: both, inputs: [gated, stem]}
    - {type: Affine, id: head, units: 3}
    - {type: SoftmaxWithLoss, id: loss}
train: {epochs: 2, batch_size: 30, optimizer: {type: Adam, lr: 0.01}}
"""


@pytest.fixture
def graph_spec(tmp_path: Path) -> Path:
    path = tmp_path / "graph_demo.yaml"
    path.write_text(GRAPH_SPEC)
    return path


def test_blocks_expand_with_qualified_ids_and_named_inputs(graph_spec: Path) -> None:
    net = build_network(load_spec(graph_spec))
    ids = [layer.id for layer in net.layers]
    assert ids[:6] == ["stem", "res1.fc1", "res1.relu1", "res1.fc2", "res1.add", "res1.out"]
    assert net.inputs_of("res1.add") == ["res1.fc2", "stem"]
    assert net.inputs_of("res2.add") == ["res2.fc2", "res1.out"]
    assert net.inputs_of("gated") == ["res2.out", "gate"]  # a use's id names its output
    assert net["both"].output_shape == (16,)


def test_set_by_qualified_id_and_by_use(graph_spec: Path) -> None:
    spec = load_spec(
        graph_spec, overrides=["model.layers.res2.fc1.units=5", "model.layers.res1.with.act=Tanh"]
    )
    net = build_network(spec)
    assert net["res2.fc1"].output_shape == (5,) and net["res1.fc1"].output_shape == (8,)
    assert net["res1.tanh1"].name == "Tanh" and net["res2.tanh1"].name == "Tanh"
    with pytest.raises(SpecError) as info:
        load_spec(graph_spec, overrides=["model.layers.res3.fc1.units=5"])
    assert "no item with id 'res3'" in str(info.value)


def test_round_trip_spec_network_spec(graph_spec: Path) -> None:
    spec = load_spec(graph_spec)
    net = build_network(spec)
    again = spec_from_network(net, name="again", data=spec.data.to_config())
    rebuilt = build_network(again)
    assert [layer.id for layer in rebuilt.layers] == [layer.id for layer in net.layers]
    assert rebuilt.wiring() == net.wiring()
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt.forward(x), net.forward(x))  # same seed, same weights
    assert loads_spec(again.to_yaml()) == again


def test_an_error_inside_a_block_points_at_the_block_and_the_use() -> None:
    text = GRAPH_SPEC.replace("with: {units: 8}, repeat: 2", "with: {units: 0}")
    with pytest.raises(SpecError) as info:
        loads_spec(text, filename="g.yaml")
    issue = info.value.issues[0]  # fc1 and fc2 both take units: one issue each
    assert (issue.line, issue.path) == (9, "model.layers.res1.fc1.units")  # the line in the block
    assert "in block 'res' of use 'res1' at g.yaml:16:7" in issue.message


def test_train_resume_eval_predict_gradcheck_on_a_graph(graph_spec: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    done = layerkit("train", str(graph_spec), "--out", str(straight), "--no-plot")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    for path in (run / "checkpoints").glob("epoch-0002.*"):
        path.unlink()  # as if killed during epoch 2: resume from the epoch-1 checkpoint
    resumed = layerkit("train", "--resume", str(run), "--no-plot")
    assert resumed.returncode == 0, resumed.stderr
    a = (run / "metrics.csv").read_text().splitlines()[-1].split(",")
    b = (straight / "metrics.csv").read_text().splitlines()[-1].split(",")
    assert a[:8] == b[:8]  # exact resume: the same losses and accuracies as one straight run
    ev = layerkit("eval", str(run), "--json")
    assert ev.returncode == 0, ev.stderr
    assert 0.0 <= json.loads(ev.stdout)["test_accuracy"] <= 1.0
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32))
    pred = layerkit("predict", str(run), str(inputs), "--json")
    assert pred.returncode == 0, pred.stderr
    check = layerkit("gradcheck", str(graph_spec), "--random")
    assert check.returncode == 0, check.stdout + check.stderr


def test_validate_shows_each_layer_with_its_inputs(graph_spec: Path) -> None:
    result = layerkit("validate", str(graph_spec), "--json")
    doc = json.loads(result.stdout)
    rows = {row["id"]: row for row in doc["layers"]}
    assert rows["gated"]["inputs"] == ["res2.out", "gate"] and rows["gated"]["output_shape"] == [8]
    text = layerkit("validate", str(graph_spec)).stdout
    assert "INPUTS" in text and "res2.fc2, res1.out" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_command_dot_renders_with_real_dot(graph_spec: Path, tmp_path: Path) -> None:
    result = layerkit("graph", str(graph_spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph network {")
    assert '"res1.out" -> "gated"' not in result.stdout and '"res2.out" -> "gated"' in result.stdout
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=result.stdout, capture_output=True, text=True, check=True
    ).stdout
    titles = {t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}title")}
    assert {
        "input",
        "stem",
        "res1.add",
        "loss",
        "stem&#45;&gt;res1.add",
        "res2.out&#45;&gt;gated",
    } & titles
    assert "stem->res1.add" in titles and "gate->gated" in titles


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_values_png(tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    result = layerkit(
        "graph", "model_specs/spiral.yaml", "--values", "--batch", "2", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = layerkit("graph", "model_specs/spiral.yaml", "--values", "--format", "dot").stdout
    assert "mean" in dot and "#c62828" in dot  # values above, gradients (red) below
    assert "loss " in dot  # the loss node shows the loss


def test_graph_without_graphviz_is_a_clear_error(tmp_path: Path) -> None:
    env_path = tmp_path / "bin"
    env_path.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "layerkit", "graph", "model_specs/spiral.yaml", "--format", "svg"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(env_path), "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"},
    )
    assert result.returncode == 2
    assert "Graphviz" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
def test_resnet_fashion_reaches_093(tmp_path: Path) -> None:
    """The shipped residual CNN, augmented, 20 epochs: >= 0.93 Fashion-MNIST test accuracy
    (docs/graphs.md; about 30 minutes with one BLAS thread on a quiet 2-core machine)."""
    result = layerkit(
        "train",
        "model_specs/resnet_fashion.yaml",
        "--out",
        str(tmp_path / "r"),
        "--json",
        "--threads",
        "1",
        "--no-plot",
        timeout=4 * 3600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["test_accuracy"] >= 0.93
