"""The ``--json`` contract, for every command the parser knows (new ones included).

With ``--json``, stdout is exactly one JSON document with ``ok``, ``error`` and ``exit_code``,
on success and on every kind of failure; human text goes to stderr. The commands are
enumerated from the argparse parser itself, so a command added later is covered by the
generic checks without touching this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_support import layerkit

from layerkit import plugins
from layerkit.cli import full_parser, leaf_parsers, main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "model_specs"
SPIRAL = str(SPECS / "spiral.yaml")
QUICK = ["--set", "train.epochs=1", "--set", "data.points_per_class=30"]


def _command(prog: str) -> tuple[str, ...]:
    """``"layerkit runs compare"`` -> ``("runs", "compare")``."""
    return tuple(prog.split()[1:])


COMMANDS = sorted(_command(p.prog) for p in leaf_parsers(full_parser()))


@pytest.fixture(autouse=True)
def default_plugins() -> Iterator[None]:
    yield
    plugins.configure()  # "-p NAME" configures the process's registry; tests run in-process


def run_json(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    """Run ``layerkit ARGV --json`` in-process; the one document on stdout, and stderr."""
    code = main([*argv, "--json"])
    out, err = capfd.readouterr()
    doc = json.loads(out)  # the whole of stdout is one JSON document
    assert isinstance(doc, dict), out
    assert doc["exit_code"] == code and doc["ok"] is (code == 0), doc
    assert (doc["error"] is None) is (code == 0), doc
    assert out.count("\n") == 1, out  # and nothing else
    return code, doc, err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained spiral run folder, an input file and a copy of the spiral spec."""
    root = tmp_path_factory.mktemp("cli-json")
    assert main(["train", SPIRAL, *QUICK, "--out", str(root / "run"), "-q", "--no-plot"]) == 0
    np.save(root / "x.npy", np.zeros((4, 2), dtype=np.float32))
    return root


def test_the_parser_knows_every_command() -> None:
    assert {("train",), ("validate",), ("runs", "compare"), ("data", "fetch"), ("init",)} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_usage_errors_are_one_json_document(
    command: tuple[str, ...], capfd: pytest.CaptureFixture[str]
) -> None:
    code, doc, err = run_json(capfd, *command, "--no-such-option")
    assert code == 2 and doc["error"]  # the option, or a missing argument reported first
    # the usage and the prefix are those of the (sub)command, on stderr
    prog = " ".join(("layerkit", *command))
    assert f"usage: {prog} " in err and f"{prog}: error: {doc['error']}" in err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_and_bare_invocations_are_one_json_document(
    command: tuple[str, ...],
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, doc, err = run_json(capfd, *command, "--help")
    assert code == 0 and "usage:" in err
    # Without its arguments a command either does something harmless or says what is missing.
    if command not in {("completion",), ("sweep",)}:
        run_json(capfd, *command)


def _cases(w: Path) -> dict[tuple[str, ...], tuple[list[str], list[str]]]:
    """command -> (arguments that succeed, arguments that fail), for the commands known today."""
    run = str(w / "run")
    return {
        ("train",): (
            [SPIRAL, *QUICK, "--out", str(w / "t"), "--no-plot"],
            [str(w / "missing.yaml")],
        ),
        ("eval",): ([run], [str(w / "nothing-here")]),
        ("predict",): ([run, str(w / "x.npy")], [run, str(w / "missing.npy")]),
        ("validate",): ([SPIRAL], [SPIRAL, "--set", "train.epochs=0"]),
        ("gradcheck",): ([SPIRAL, *QUICK, "--batch", "2"], [SPIRAL, "--batch", "0"]),
        ("schema",): ([], ["-o", str(w / "no" / "such" / "dir" / "s.json")]),
        ("layers",): (["--kind", "optimizer"], ["--kind", "nonsense"]),
        ("plugins",): ([], ["-p", "no_such_plugin_module", "--strict-plugins"]),
        ("data", "list"): ([], ["--bogus"]),
        ("data", "fetch"): (["fashion_mnist"], ["no_such_dataset"]),
        ("sweep",): ([SPIRAL, "--grid", "train.optimizer.lr=0.1,0.01", "--dry-run"], []),
        ("runs", "compare"): ([run, "--no-plot"], [str(w / "nothing-here")]),
        ("init",): (
            ["starter", "-o", str(w / "starter.yaml"), "--force"],
            ["x", "--from", "no_such_spec"],
        ),
        ("new-plugin",): (["layerkit-demo", "-o", str(w / "demo"), "--force"], ["not a name"]),
        ("completion",): (["bash"], ["tcsh"]),
        ("graph",): ([SPIRAL, "-o", str(w / "net.dot")], [str(w / "missing.yaml")]),
        ("export",): (
            [run, "-o", str(w / "net.onnx"), "--samples", "8"],
            [str(w / "nothing-here"), "-o", str(w / "x.onnx")],
        ),
        ("report",): ([run, "--out", str(w / "report.html"), "--force"], [str(w / "nothing")]),
        ("tune",): (
            [SPIRAL, *QUICK, "--set", "train.validation_split=0.2", "--trials", "2"]
            + ["--param", "train.optimizer.lr=loguniform(0.01,0.1)", "--pruner", "none"]
            + ["--workers", "1", "--out", str(w / "tune")],
            [SPIRAL, "--param", "train.optimizer.lr=nonsense(1)", "--trials", "2"],
        ),
    }


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_success_and_failure_paths(
    command: tuple[str, ...], workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    case = _cases(workdir).get(command)
    if case is None:
        pytest.skip(
            f"no recorded case for the new command {' '.join(command)} (generic checks above)"
        )
    good, bad = case
    code, doc, _ = run_json(capfd, *command, *good)
    assert code == 0, doc
    if bad:
        code, doc, err = run_json(capfd, *command, *bad)
        assert code in (1, 2) and doc["error"], doc
        assert doc["error"].splitlines()[0] in err  # the same message, for people, on stderr


def test_results_and_errors_carry_their_data(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _, doc, _ = run_json(
        capfd, "validate", SPIRAL, "--set", "train.epochs=0", "--set", "train.batch_size=0"
    )
    assert [e["path"] for e in doc["errors"]] == ["train.epochs", "train.batch_size"]
    assert all(e["file"] == f"--set {e['path']}=0" for e in doc["errors"])
    code, doc, _ = run_json(capfd, "gradcheck", SPIRAL, *QUICK, "--batch", "2")
    assert code == 0 and doc["passed"] and {p["name"] for p in doc["params"]} >= {"fc1.W", "out.b"}
    _, doc, err = run_json(capfd, "runs", "compare", str(workdir / "run"), "--no-plot")
    assert doc["runs"] and "epochs" in err.lower()  # the table went to stderr
    _, doc, _ = run_json(capfd, "layers")
    assert {c["name"] for c in doc["components"]} >= {"Affine", "SGD", "spiral"}


def test_an_os_error_is_a_json_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    if os.access(target, os.W_OK):  # root ignores permissions: write below a file instead
        target = tmp_path / "a-file"
        target.write_text("")
    code, doc, err = run_json(capfd, "init", "x", "-o", str(target / "x.yaml"))
    assert code in (1, 2) and str(target) in doc["error"] and "Traceback" not in err


def test_a_real_pipe_gets_only_the_document(tmp_path: Path) -> None:
    """Child processes write to the descriptor, not sys.stdout: that output goes to stderr too."""
    done = layerkit(
        "sweep",
        SPIRAL,
        *QUICK,
        "--grid",
        "train.optimizer.lr=0.1,0.01",
        "--workers",
        "2",
        "--out",
        "sw",
        "--json",
        cwd=tmp_path,
    )
    doc = json.loads(done.stdout)
    assert done.returncode == 0 and doc["ok"] and doc["exit_code"] == 0, done.stderr
    assert "trials" in done.stderr  # progress and the table, for people
    bare = layerkit("--json", cwd=tmp_path)
    assert bare.returncode == 2 and json.loads(bare.stdout)["ok"] is False


def test_no_command_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out, err = capfd.readouterr()
    assert out == "" and "usage: layerkit" in err and "train" in err


def test_errors_use_the_subcommand_prefix(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "compare", str(tmp_path / "none")]) == 2
    assert "layerkit runs compare: error:" in capfd.readouterr().err
    assert main(["runs", "compare", "--sorted"]) == 2
    err = capfd.readouterr().err
    assert (
        err.startswith("usage: layerkit runs compare ") and "layerkit runs compare: error:" in err
    )
