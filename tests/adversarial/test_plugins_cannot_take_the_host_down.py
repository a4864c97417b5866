"""Broken plugins, as real installed distributions, never take a command down with them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adversarial_support import SPEC, one_line_error
from test_plugins_dists import clean_env, layerkit, write_dist

# A layer whose code fails on the 4th training batch: after epoch 1 (3 batches) is saved.
FAILING_LAYER = """
import sys
from layerkit import hookimpl
from layerkit.layers.base import Layer

calls = 0


class {name}(Layer):
    \"\"\"Identity until it is not.\"\"\"

    examples = ({{"params": {{}}, "input_shape": (3,)}},)

    def forward(self, x, *, train=False):
        global calls
        calls += train
        if calls > 3:
            {failure}
        return x

    def backward(self, dout):
        return dout


@hookimpl
def layerkit_add_layers():
    return [{name}]
"""

FAILURES = {
    "raises": (
        "raise ValueError('operands could not be broadcast together')",
        "forward raised ValueError",
    ),
    "wrong-shape": (
        "return x[:, :5]",
        "forward returned shape (20, 5), expected an output of shape (20, 784)",
    ),
    "returns-none": ("return None", "forward returned a NoneType"),
}


def _spec_with(tmp_path: Path, layer: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.replace(
            "    - {type: Affine, id: fc1",
            f"    - {{type: {layer}, id: odd}}\n    - {{type: Affine, id: fc1",
        )
    )
    return spec


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_plugin_layer_failing_at_run_time_is_its_own_one_line_error(
    tmp_path: Path, case: str
) -> None:
    failure, expected = FAILURES[case]
    source = FAILING_LAYER.format(name="Flaky", failure=failure)
    write_dist(tmp_path, "flaky-dist", {"flaky": "flakymod"}, {"flakymod": source}, "0.3")
    out = tmp_path / "run"
    result = layerkit(
        tmp_path, "train", _spec_with(tmp_path, "Flaky"), "--out", str(out), "--no-plot", "-q"
    )
    assert result.returncode == 1, result.stderr
    line = one_line_error(result.stderr)
    assert "layer odd (Flaky from flaky-dist 0.3)" in line and expected in line
    # the run's last good checkpoint is kept and named
    assert (out / "checkpoints" / "epoch-0001.json").is_file()
    assert "checkpoints/epoch-0001" in result.stderr


def test_gradcheck_reports_a_plugin_layer_of_the_wrong_shape(tmp_path: Path) -> None:
    source = FAILING_LAYER.format(name="Shrink", failure="pass").replace(
        "return x\n", "return x[:, :5]\n"
    )
    write_dist(tmp_path, "shrink-dist", {"shrink": "shrinkmod"}, {"shrinkmod": source})
    result = layerkit(tmp_path, "gradcheck", _spec_with(tmp_path, "Shrink"))
    assert result.returncode == 1, result.stderr
    line = one_line_error(result.stderr)
    assert "layer odd (Shrink from shrink-dist 1.0)" in line and "shape" in line


EXIT_AT_IMPORT = "import sys\nsys.exit(0)\n"
HOOK_RAISES = (
    "from layerkit import hookimpl\n\n@hookimpl\ndef layerkit_add_layers():\n    raise {exc}\n"
)


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        (EXIT_AT_IMPORT, "SystemExit: 0"),
        (HOOK_RAISES.format(exc="SystemExit(0)"), "SystemExit: 0"),
        (HOOK_RAISES.format(exc="KeyboardInterrupt()"), "KeyboardInterrupt"),
    ],
)
def test_a_plugin_exiting_or_interrupting_at_load_is_quarantined(
    tmp_path: Path, source: str, cause: str
) -> None:
    write_dist(tmp_path, "exits-dist", {"exits": "exitsmod"}, {"exitsmod": source})
    result = layerkit(tmp_path, "layers", "--json")
    assert result.returncode == 0, result.stderr
    assert {"Affine", "Relu"} <= {row["name"] for row in json.loads(result.stdout)["components"]}
    (warning,) = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert "plugin 'exits' from exits-dist 1.0 failed to load" in warning and cause in warning
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    assert layerkit(tmp_path, "validate", spec).returncode == 0


def test_a_plugin_calling_sys_exit_while_a_command_runs_never_reports_success(
    tmp_path: Path,
) -> None:
    source = FAILING_LAYER.format(name="Quitter", failure="sys.exit(0)")
    write_dist(tmp_path, "quit-dist", {"quit": "quitmod"}, {"quitmod": source})
    out = tmp_path / "run"
    result = layerkit(
        tmp_path, "train", _spec_with(tmp_path, "Quitter"), "--out", str(out), "--no-plot", "-q"
    )
    assert result.returncode == 1
    assert "did not finish" in one_line_error(result.stderr)


def test_a_real_ctrl_c_while_plugins_load_still_stops(tmp_path: Path) -> None:
    mark = tmp_path / "loading"
    source = f"import pathlib, time\npathlib.Path({str(mark)!r}).write_text('x')\ntime.sleep(120)\n"
    write_dist(tmp_path, "slow-dist", {"slow": "slowmod"}, {"slowmod": source})
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerkit", "layers"],
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err


@pytest.mark.parametrize(
    "env", [{}, {"LAYERKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}, {"LAYERKIT_DISABLE_PLUGINS": "bad"}]
)
def test_a_malformed_entry_point_is_quarantined(tmp_path: Path, env: dict[str, str]) -> None:
    write_dist(tmp_path, "bad-dist", {"bad": "not a valid value!"}, {})
    write_dist(
        tmp_path,
        "good-dist",
        {"good": "goodmod"},
        {"goodmod": FAILING_LAYER.format(name="Fine", failure="pass")},
    )
    result = layerkit(tmp_path, "layers", "--json", **env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Affine" in {row["name"] for row in json.loads(result.stdout)["components"]}
    if not env:
        assert "malformed entry point value 'not a valid value!'" in result.stderr


def test_the_name_builtins_is_reserved(tmp_path: Path) -> None:
    write_dist(
        tmp_path,
        "impostor-dist",
        {"builtins": "impostormod"},
        {"impostormod": FAILING_LAYER.format(name="Fake", failure="pass")},
    )
    result = layerkit(tmp_path, "layers", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["components"]
    assert "Fake" not in {row["name"] for row in rows}
    assert {row["distribution"] for row in rows if row["plugin"] == "builtins"} == {"layerkit"}
    assert "reserved" in result.stderr


def test_old_runs_still_load_when_a_plugin_also_provides_relu(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "run"
    trained = layerkit(None, "train", spec, "--out", str(out), "--no-plot", "-q")
    assert trained.returncode == 0, trained.stderr
    plugins = tmp_path / "site"
    relu = FAILING_LAYER.format(name="Relu", failure="pass")
    write_dist(plugins, "relu-dist", {"myrelu": "relumod"}, {"relumod": relu})
    for command in (["eval", out, "--json"], ["train", "--resume", out, "--no-plot", "-q"]):
        result = layerkit(plugins, *command)
        assert result.returncode == 0, result.stderr
    # a new spec must still choose which Relu it means
    assert layerkit(plugins, "validate", spec).returncode == 2
    assert os.path.isdir(out)
