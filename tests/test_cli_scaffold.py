"""``layerkit init``, ``layerkit new-plugin``, the wheel's package data, shell completion, typing.

The generated plugin is built and installed with pip into a new virtual environment and its own
tests run there as generated; bash completion is exercised by a real bash.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import layerkit
from layerkit.cli import main
from layerkit.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(
    *cmd: str | Path, cwd: Path, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, **env},
    )


def test_init_writes_a_starter_spec_that_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "my_net"]) == 0
    text = (tmp_path / "my_net.yaml").read_text()
    assert "name: my_net" in text and "# " in text  # renamed, comments kept
    assert load_spec(tmp_path / "my_net.yaml").name == "my_net"
    assert main(["init", "cnn", "--from", "cnn_fashion"]) == 0
    assert load_spec(tmp_path / "cnn.yaml").model_dump()["model"]["layers"][0]["type"] == "Conv2D"
    assert main(["init", "my_net"]) == 2  # never overwrites
    assert (tmp_path / "my_net.yaml").read_text() == text
    assert main(["init", "x", "--from", "two_layer"]) == 2  # did you mean 'two_layer_net'?


def test_the_wheel_ships_the_model_specs_and_templates(tmp_path: Path) -> None:
    done = run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        tmp_path,
        ROOT,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("layerkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = {f"layerkit/model_specs/{p.name}" for p in (ROOT / "model_specs").glob("*.yaml")}
    assert specs and specs <= names
    assert {"layerkit/py.typed", "layerkit/templates/plugin/layers.py.tmpl"} <= names


def test_new_plugin_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    assert main(["new-plugin", "layerkit-demo", "-o", str(tmp_path / "layerkit-demo")]) == 0
    dist = tmp_path / "layerkit-demo"
    assert "[build-system]" in (dist / "pyproject.toml").read_text()
    # A new environment; its base (layerkit, numpy, pytest, hatchling) comes from this one, so
    # that nothing is downloaded.
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    base = [
        sysconfig.get_path("purelib"),
        str(Path(layerkit.__file__).resolve().parents[1]),
        *site.getsitepackages(),
    ]
    Path(purelib.stdout.strip(), "base.pth").write_text("\n".join(dict.fromkeys(base)) + "\n")
    installed = run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-build-isolation",
        dist,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    shutil.rmtree(dist / "src")  # the tests must use the installed distribution
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=dist)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " passed" in tested.stdout and "skipped" not in tested.stdout
    listed = run(python, "-m", "layerkit", "layers", "--kind", "layer", cwd=tmp_path)
    assert "ScaleShift" in listed.stdout and "layerkit-demo" in listed.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_for_real(tmp_path: Path) -> None:
    spec = ROOT / "model_specs" / "two_layer_net.yaml"
    script = r"""
source <(layerkit completion bash)
comp() {
  COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
  read -ra COMP_WORDS <<< "$COMP_LINE"
  [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _python_argcomplete layerkit "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "$1 => ${COMPREPLY[*]}"
}
comp "layerkit tra"
comp "layerkit runs "
comp "layerkit completion "
comp "layerkit train SPEC --set model.layers.fc"
comp "layerkit train SPEC --set train.epochs="
comp "layerkit validate SPECDIR/two_"
""".replace("SPECDIR", str(spec.parent)).replace("SPEC", str(spec))
    done = run("bash", "-c", script, cwd=tmp_path, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    got = dict(line.split(" => ", 1) for line in done.stdout.splitlines())
    assert got["layerkit tra"].split() == ["train"]
    assert "compare" in got["layerkit runs "].split()
    assert {"bash", "zsh", "fish"} <= set(got["layerkit completion "].split())
    set_paths = got[f"layerkit train {spec} --set model.layers.fc"].split()
    assert {"model.layers.fc1.units=", "model.layers.fc2.units="} <= set(set_paths)
    assert got[f"layerkit train {spec} --set train.epochs="].split() == ["10"]  # its current value
    assert got[f"layerkit validate {spec.parent}/two_"].split() == [str(spec)]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    out = capsys.readouterr().out
    assert "layerkit" in out and (
        "compdef" in out if shell == "zsh" else "complete --command layerkit" in out
    )


def test_mypy_accepts_the_example_plugin_without_import_untyped(tmp_path: Path) -> None:
    plugin = ROOT / "plugins" / "layerkit-activations" / "src" / "layerkit_activations"
    done = run(
        sys.executable,
        "-m",
        "mypy",
        "--cache-dir",
        tmp_path,
        "--no-incremental",
        plugin,
        cwd=tmp_path,
        timeout=900,
    )
    assert "import-untyped" not in done.stdout and done.returncode == 0, done.stdout + done.stderr


def test_init_lists_the_shipped_specs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--list"]) == 0
    assert set(capsys.readouterr().out.split()) == {
        p.stem for p in (ROOT / "model_specs").glob("*.yaml")
    }
    assert main(["init"]) == 2 and "--list" in capsys.readouterr().err
