"""`layerkit train / eval / predict / gradcheck` end to end, as subprocesses on real data."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from cli_support import layerkit

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "model_specs"
FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (FASHION / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_train_spiral_from_model_specs(tmp_path: Path) -> None:
    done = layerkit("train", str(SPECS / "spiral.yaml"), "--out", "run", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    final = last_json(done.stdout)
    assert final["ok"] is True
    assert final["test_accuracy"] >= 0.95
    run = tmp_path / final["run_dir"]
    epochs = final["epochs"]
    # not a terminal: one progress line per epoch on stderr, nothing else on stdout
    assert len(done.stderr.splitlines()) == epochs
    assert done.stdout.count("\n") == 1
    with (run / "metrics.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == epochs
    assert (run / "curves.png").stat().st_size > 0


@needs_fashion
def test_fashion_mnist_subset_train_eval_predict(tmp_path: Path) -> None:
    done = layerkit(
        "train",
        str(SPECS / "two_layer_net.yaml"),
        "--set",
        "data.train_size=2000",
        "--set",
        "data.test_size=1000",
        "--set",
        "train.epochs=2",
        "--out",
        "fm",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    final = last_json(done.stdout)
    assert final["epochs"] == 2 and 0.1 < final["test_accuracy"] <= 1
    run = tmp_path / "fm"
    assert sorted(p.name for p in run.iterdir()) == [
        ".layerkit.lock",
        "checkpoints",
        "curves.png",
        "lock.json",
        "metrics.csv",
        "spec.yaml",
        "status.json",
    ]
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    lock = json.loads((run / "lock.json").read_text())
    for key in ("layerkit", "numpy", "python", "plugins", "seed", "overrides", "command"):
        assert key in lock
    assert lock["seed"] == 42
    assert lock["overrides"] == ["data.train_size=2000", "data.test_size=1000", "train.epochs=2"]
    assert "layerkit train" in lock["command"] or "layerkit" in lock["command"]
    manifest = json.loads((run / "checkpoints" / "epoch-0002.json").read_text())
    assert manifest["step"] == 40 and manifest["input"]["class_names"][9] == "Ankle boot"

    evaluated = layerkit("eval", "fm", "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    report = last_json(evaluated.stdout)
    assert report["samples"] == 1000
    assert report["test_accuracy"] == final["test_accuracy"]  # the same weights, the same data
    assert set(report["per_class_accuracy"]) >= {"T-shirt/top", "Ankle boot"}
    confusion = np.array(report["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 1000
    assert np.trace(confusion) / 1000 == pytest.approx(report["test_accuracy"])
    assert report["classes"][9] == "Ankle boot"
    assert report["per_class"]["Trouser"]["support"] == confusion[1].sum()
    shown = layerkit("eval", "fm", cwd=tmp_path)
    assert "confusion matrix (test): rows are the true class" in shown.stdout
    total_row = next(line for line in shown.stdout.splitlines() if line.startswith("total "))
    assert total_row.split()[-1] == "1,000"

    from layerkit.data.idx import read_idx

    images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz", count=1000)
    np.save(tmp_path / "five.npy", images[:5])
    predicted = layerkit("predict", "fm", "five.npy", "--top-k", "3", "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    out = last_json(predicted.stdout)
    assert out["samples"] == 5 and [len(p["top"]) for p in out["predictions"]] == [3] * 5
    probs = [t["probability"] for t in out["predictions"][0]["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6

    # the IDX file itself; its first 1000 predictions agree with the evaluation's accuracy
    whole = layerkit(
        "predict", "fm", str(FASHION / "t10k-images-idx3-ubyte.gz"), "--json", cwd=tmp_path
    )
    assert whole.returncode == 0, whole.stderr
    preds = last_json(whole.stdout)["predictions"]
    assert len(preds) == 10_000
    labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz", count=1000)
    top1 = np.array([p["top"][0]["class"] for p in preds[:1000]])
    assert float(np.mean(top1 == labels)) == pytest.approx(report["test_accuracy"], abs=1e-9)

    human = layerkit("predict", "fm", "five.npy", "-k", "2", cwd=tmp_path)
    assert human.returncode == 0 and len(human.stdout.splitlines()) == 5


def test_divergence_exits_1_naming_step_and_layer(tmp_path: Path) -> None:
    done = layerkit(
        "train",
        str(SPECS / "spiral.yaml"),
        "--set",
        "train.optimizer={type: SGD, lr: 1.0e+30}",
        "--out",
        "run",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "layerkit train: error: training diverged at epoch 1, step 2 " in done.stderr
    assert "the first non-finite output is layer" in done.stderr
    assert "no checkpoint had been written yet" in done.stderr
    assert "Traceback" not in done.stderr and "RuntimeWarning" not in done.stderr
    failure = last_json(done.stdout)
    assert failure["ok"] is False and failure["exit_code"] == 1


BROKEN_PLUGIN = '''
import numpy as np

import layerkit
from layerkit.layers.base import Layer


class BrokenRelu(Layer):
    """A Relu whose backward forgets the mask."""

    examples = ({"params": {}, "input_shape": (3,)},)

    def forward(self, x, *, train=False):
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout.copy()


@layerkit.hookimpl
def layerkit_add_layers():
    return [BrokenRelu]
'''


def test_gradcheck_passes_and_fails_with_exit_codes(tmp_path: Path) -> None:
    ok = layerkit("gradcheck", str(SPECS / "spiral.yaml"), "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    report = last_json(ok.stdout)
    assert report["passed"] and report["max_rel_error"] < 1e-6
    assert {p["name"] for p in report["params"]} == {
        "fc1.W",
        "fc1.b",
        "fc2.W",
        "fc2.b",
        "out.W",
        "out.b",
    }
    # a layer with a wrong backward, loaded as a plugin module with -p: exit 1, naming the array
    (tmp_path / "broken_layers.py").write_text(BROKEN_PLUGIN)
    spec = (SPECS / "spiral.yaml").read_text().replace("{type: Relu}", "{type: BrokenRelu}", 1)
    (tmp_path / "broken.yaml").write_text(spec)
    bad = layerkit(
        "-p",
        "broken_layers",
        "gradcheck",
        "broken.yaml",
        "--json",
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert bad.returncode == 1, bad.stderr
    assert "layerkit gradcheck: error: gradient check failed: fc1." in bad.stderr
    failed = last_json(bad.stdout)
    assert failed["passed"] is False
    assert {p["name"] for p in failed["params"] if not p["passed"]} == {"fc1.W", "fc1.b"}


@needs_fashion
def test_gradcheck_two_layer_net_on_fashion_mnist(tmp_path: Path) -> None:
    done = layerkit("gradcheck", str(SPECS / "two_layer_net.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "passed: max relative error" in done.stdout


@needs_fashion
def test_gradcheck_of_the_cnn_on_real_images(tmp_path: Path) -> None:
    # Background patches are all zeros: with zero biases every conv unit there sits exactly on
    # ReLU's kink, which failed the check before the CLI moved zero biases off zero.
    narrow = [
        "--set",
        "model.layers.conv1.filters=4",
        "--set",
        "model.layers.conv2.filters=4",
        "--set",
        "model.layers.fc1.units=8",
    ]
    done = layerkit("gradcheck", str(SPECS / "cnn_fashion.yaml"), *narrow, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(spec data)" in done.stdout and "passed: max relative error" in done.stdout


def test_bad_input_exits_2(tmp_path: Path) -> None:
    missing = layerkit("train", "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    no_spec = layerkit("train", cwd=tmp_path)
    assert no_spec.returncode == 2 and "a SPEC to train is required" in no_spec.stderr
    threads = layerkit("train", str(SPECS / "spiral.yaml"), "--threads", "0", cwd=tmp_path)
    assert threads.returncode == 2 and "--threads: must be >= 1 (received 0)" in threads.stderr
    bad_set = layerkit("train", str(SPECS / "spiral.yaml"), "--set", "train.epochs=0", cwd=tmp_path)
    assert bad_set.returncode == 2 and "train.epochs: must be >= 1 (received 0)" in bad_set.stderr
    assert not (tmp_path / "runs").exists()  # nothing is created for a spec that does not validate
    (tmp_path / "empty").mkdir()
    no_data = layerkit(
        "train",
        str(SPECS / "two_layer_net.yaml"),
        "--set",
        f"data.path={tmp_path / 'empty'}",
        "--out",
        "run",
        cwd=tmp_path,
    )
    assert no_data.returncode == 2 and "empty" in no_data.stderr
    assert not (tmp_path / "run").exists()  # ... nor for data that cannot be read


def test_eval_and_predict_refuse_pickles_and_run_nothing(spiral_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Payload()))
    done = layerkit("eval", "model.pkl", cwd=tmp_path)
    assert done.returncode == 2
    assert "refusing to load pickled data" in done.stderr
    obj = np.empty(2, dtype=object)
    obj[0] = Payload()
    np.save(tmp_path / "inputs.npy", obj, allow_pickle=True)
    predicted = layerkit("predict", str(spiral_run), "inputs.npy", cwd=tmp_path)
    assert predicted.returncode == 2
    assert "inputs.npy: not a plain .npy array" in predicted.stderr
    assert not marker.exists()


def test_predict_checks_input_shapes(spiral_run: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "bad.npy", np.zeros((4, 3), np.float32))
    done = layerkit("predict", str(spiral_run), "bad.npy", cwd=tmp_path)
    assert done.returncode == 2
    assert "do not fit the network's input (2,)" in done.stderr
    np.save(tmp_path / "one.npy", np.array([0.5, -0.5], np.float32))
    one = layerkit("predict", str(spiral_run), "one.npy", "--json", cwd=tmp_path)
    assert one.returncode == 0 and last_json(one.stdout)["samples"] == 1


def test_missing_plugin_names_the_distribution(spiral_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(spiral_run, run)
    manifest_path = sorted((run / "checkpoints").glob("*.json"))[-1]
    manifest = json.loads(manifest_path.read_text())
    # as if the run's output layer came from a plugin distribution that is not installed here
    manifest["network"]["layers"][-2]["type"] = "Snake"
    manifest["plugins"].append(
        {
            "group": "layers",
            "name": "Snake",
            "plugin": "snakes",
            "distribution": "layerkit-snakes",
            "version": "2.0.1",
        }
    )
    manifest_path.write_text(json.dumps(manifest))
    done = layerkit("eval", str(run), cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "checkpoint needs layer 'Snake' from layerkit-snakes 2.0.1, which is not installed; "
        "install it with: pip install layerkit-snakes"
    ) in done.stderr


def test_without_matplotlib_one_line_says_curves_were_skipped(tmp_path: Path) -> None:
    # a matplotlib that cannot be imported, first on the path: as if the extra were not installed
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    done = layerkit(
        "train",
        str(SPECS / "spiral.yaml"),
        "--set",
        "train.epochs=2",
        "--out",
        "run",
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "shadow")},
    )
    assert done.returncode == 0, done.stderr
    skipped = [line for line in done.stderr.splitlines() if "curves.png" in line]
    assert skipped == [
        "curves.png skipped: matplotlib is not installed (pip install 'layerkit[plot]')"
    ]
    assert not (tmp_path / "run" / "curves.png").exists()
    assert (tmp_path / "run" / "metrics.csv").exists()
