"""Plugins as real distributions: broken, conflicting, disabled and explicitly loaded.

Each test writes throwaway distributions (a ``<name>.dist-info`` with ``METADATA`` and
``entry_points.txt`` next to the plugin module) into a temporary directory and runs layerkit in
a subprocess with ``PYTHONPATH`` pointing there, so ``importlib.metadata`` discovers them exactly
as it discovers pip-installed ones. Nothing of pluggy or importlib is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

# A valid plugin layer; {tag} tells apart the copies that different distributions provide.
LAYER_MODULE = '''
from layerkit import hookimpl
from layerkit.layers.base import Layer


class Mish(Layer):
    """Mish from {tag}."""

    examples = ({{"params": {{}}, "input_shape": (3,)}},)

    def forward(self, x, *, train=False):
        return x

    def backward(self, dout):
        return dout


@hookimpl
def layerkit_add_layers():
    return [Mish]
'''


def write_dist(
    root: Path,
    dist: str,
    entry_points: Mapping[str, str],
    modules: Mapping[str, str],
    version: str = "1.0",
) -> None:
    """Install ``dist`` the way pip lays it out: modules plus ``<dist>-<version>.dist-info``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[layerkit]\n{lines}")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def clean_env(path: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERKIT_")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    env.update(extra)
    return env


def layerkit(path: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layerkit", *args],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(path, **env),
        timeout=60,
    )


def python(path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(path, **env),
        timeout=60,
    )


def listed(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    """``layerkit layers --json`` output keyed by the name a user would type."""
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["components"]
    return {(r["qualified_name"] if r["ambiguous"] else r["name"]): r for r in rows}


def plugin_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" in line]


# -- broken plugins are quarantined ----------------------------------------------------------


def hook(body: str, *, before: str = "", args: str = "", name: str = "layerkit_add_layers") -> str:
    """A plugin module with one hookimpl ``name(args)`` whose body is ``body``."""
    return (
        "from layerkit import hookimpl\nfrom layerkit.layers.base import Layer\n\n"
        f"{before}\n\n@hookimpl\ndef {name}({args}):\n    {body}\n"
    )


# case -> (plugin module source, the cause its warning must give)
BROKEN = {
    "import-error": (
        "import broken_helpers_that_do_not_exist\n",
        "import failed: ModuleNotFoundError: No module named 'broken_helpers_that_do_not_exist'",
    ),
    "hook-raises": (
        hook("raise RuntimeError('boom')"),
        "layerkit_add_layers() raised RuntimeError: boom (at ",
    ),
    "returns-instance": (
        hook("return [42]"),
        "layerkit_add_layers() returned 42, which is not a class",
    ),
    "returns-non-layer": (
        hook("return [Thing]", before="class Thing:\n    name = 'Thing'"),
        "returned class brokenmod.Thing, which is not a subclass of layerkit.layers.base.Layer",
    ),
    "missing-params": (
        hook("return [NoParams]", before="class NoParams(Layer):\n    Params = None"),
        "returned class brokenmod.NoParams without a Params pydantic model (received Params=None)",
    ),
    "returns-one-class": (
        hook("return Lone", before="class Lone(Layer):\n    pass"),
        "layerkit_add_layers() must return a list of classes (received class brokenmod.Lone)",
    ),
    "wrong-argument": (
        hook("return []", args="units"),
        "hookimpl rejected: Plugin 'broken' for hook 'layerkit_add_layers'",
    ),
    "unknown-hook": (
        hook("return []", name="layerkit_add_layer"),
        "hookimpl for unknown hook 'layerkit_add_layer'; did you mean 'layerkit_add_layers'?",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_plugin_is_quarantined_with_one_warning(tmp_path: Path, case: str) -> None:
    source, cause = BROKEN[case]
    write_dist(tmp_path, "broken-dist", {"broken": "brokenmod"}, {"brokenmod": source}, "2.5")
    write_dist(
        tmp_path, "good-dist", {"good": "goodmod"}, {"goodmod": LAYER_MODULE.format(tag="good")}
    )

    result = layerkit(tmp_path, "layers", "--json")

    names = listed(result)
    assert {"Relu", "Mish"} <= set(names)  # built-ins and the healthy plugin still work
    assert names["Mish"]["distribution"] == "good-dist"
    assert all(row["plugin"] != "broken" for row in names.values())
    (warning,) = plugin_warnings(result.stderr)
    assert "plugin 'broken' from broken-dist 2.5 failed to load: " in warning
    assert cause in warning


def test_quarantined_plugin_is_reported_when_its_component_is_asked_for(tmp_path: Path) -> None:
    write_dist(
        tmp_path, "broken-dist", {"broken": "brokenmod"}, {"brokenmod": "import nothing_here\n"}
    )
    code = """
        import warnings
        warnings.simplefilter("ignore")
        from layerkit.errors import PluginError
        from layerkit.plugins import get_registry
        registry = get_registry()
        for name in ("broken:Mish", "Mish"):
            try:
                registry.layer(name)
            except PluginError as exc:
                print(exc)
    """
    result = python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    qualified, bare = result.stdout.strip().splitlines()
    assert qualified.startswith(
        "layer 'broken:Mish' is unavailable: plugin 'broken' from broken-dist 1.0"
    )
    assert "No module named 'nothing_here'" in qualified
    assert bare.startswith("unknown layer 'Mish'")
    assert (
        "1 plugin could not be loaded and may provide it: plugin 'broken' from broken-dist 1.0"
        in bare
    )


@pytest.mark.parametrize("how", ["env", "flag"])
def test_strict_mode_makes_a_load_failure_fatal(tmp_path: Path, how: str) -> None:
    write_dist(
        tmp_path, "broken-dist", {"broken": "brokenmod"}, {"brokenmod": BROKEN["hook-raises"][0]}
    )
    if how == "env":
        result = layerkit(tmp_path, "layers", LAYERKIT_STRICT_PLUGINS="1")
    else:
        result = layerkit(tmp_path, "--strict-plugins", "layers")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "layerkit layers: error: 1 plugin(s) failed to load (strict mode" in result.stderr
    assert (
        "plugin 'broken' from broken-dist 1.0 failed to load: layerkit_add_layers() raised RuntimeError: boom"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


# -- name conflicts --------------------------------------------------------------------------


def two_mish_dists(root: Path) -> None:
    write_dist(
        root,
        "alpha-dist",
        {"alpha": "alphamod"},
        {"alphamod": LAYER_MODULE.format(tag="alpha")},
        "1.1",
    )
    write_dist(
        root, "beta-dist", {"beta": "betamod"}, {"betamod": LAYER_MODULE.format(tag="beta")}, "2.2"
    )


def test_conflicting_names_are_listed_qualified(tmp_path: Path) -> None:
    two_mish_dists(tmp_path)

    names = listed(layerkit(tmp_path, "layers", "--json"))
    assert "Mish" not in names
    assert (names["alpha:Mish"]["distribution"], names["alpha:Mish"]["version"]) == (
        "alpha-dist",
        "1.1",
    )
    assert (names["beta:Mish"]["distribution"], names["beta:Mish"]["version"]) == (
        "beta-dist",
        "2.2",
    )

    table = layerkit(tmp_path, "layers", "--kind", "layer")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert rows["alpha:Mish"][:5] == ["alpha:Mish", "layer", "alpha", "alpha-dist", "1.1"]
    assert rows["beta:Mish"][:5] == ["beta:Mish", "layer", "beta", "beta-dist", "2.2"]
    assert "Mish" not in rows


def test_bare_conflicting_name_errors_and_qualified_names_work(tmp_path: Path) -> None:
    two_mish_dists(tmp_path)
    code = """
        from layerkit.errors import PluginError
        from layerkit.plugins import get_registry
        registry = get_registry()
        print(registry.layer("alpha:Mish").summary())
        print(registry.layer("beta:Mish").summary())
        try:
            registry.layer("Mish")
        except PluginError as exc:
            print(exc)
    """
    result = python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    alpha, beta, error = result.stdout.strip().splitlines()
    assert (alpha, beta) == ("Mish from alpha.", "Mish from beta.")
    assert error == (
        "layer name 'Mish' is ambiguous: it is provided by alpha-dist 1.1 (plugin 'alpha') and "
        "beta-dist 2.2 (plugin 'beta'); use a qualified name: 'alpha:Mish' or 'beta:Mish'"
    )


def test_two_distributions_claiming_one_plugin_name(tmp_path: Path) -> None:
    write_dist(
        tmp_path,
        "alpha-dist",
        {"shared": "alphamod"},
        {"alphamod": LAYER_MODULE.format(tag="alpha")},
    )
    write_dist(
        tmp_path, "beta-dist", {"shared": "betamod"}, {"betamod": LAYER_MODULE.format(tag="beta")}
    )

    result = layerkit(tmp_path, "plugins", "--json")

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [p["distribution"] for p in doc["plugins"] if p["name"] == "shared"] == ["alpha-dist"]
    (failure,) = doc["failures"]
    assert failure["distribution"] == "beta-dist"
    assert failure["cause"] == "plugin name 'shared' is already taken by alpha-dist 1.0"


# -- disabling and explicit loading -----------------------------------------------------------

# Importing the probe leaves a mark in the environment of the process, visible in sys.modules.
PROBE = LAYER_MODULE.format(tag="probe")
SHOW = """
    import json, sys
    from layerkit.plugins import get_registry
    registry = get_registry()
    print(json.dumps({
        "imported": "probemod" in sys.modules,
        "plugins": [p.name for p in registry.plugins],
        "disabled": registry.disabled,
        "layers": registry.names("layers"),
    }))
"""


def show(root: Path, **env: str) -> dict[str, object]:
    result = python(root, SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    write_dist(tmp_path, "probe-dist", {"probe": "probemod"}, {"probemod": PROBE})
    return tmp_path


def test_probe_plugin_loads_by_default(probe: Path) -> None:
    state = show(probe)
    assert state["imported"] is True
    assert "probe" in state["plugins"] and "Mish" in state["layers"]


@pytest.mark.parametrize("value", ["probe", "other, probe", "probemod"])
def test_disabled_plugin_is_never_imported(probe: Path, value: str) -> None:
    state = show(probe, LAYERKIT_DISABLE_PLUGINS=value)
    assert state["imported"] is False
    assert "probe" not in state["plugins"] and "Mish" not in state["layers"]
    assert state["disabled"] == ["probe"]


def test_disabling_wins_over_naming(probe: Path) -> None:
    state = show(probe, LAYERKIT_DISABLE_PLUGINS="probe", LAYERKIT_PLUGINS="probemod")
    assert state["imported"] is False and "probe" not in state["plugins"]


def test_dash_p_no_disables_a_plugin_in_the_cli(probe: Path) -> None:
    # The module would fail the run if imported: disabling must not import it at all.
    (probe / "probemod.py").write_text("raise SystemExit('probemod was imported')\n")
    for args in (["-p", "no:probe", "plugins", "--json"], ["plugins", "-p", "no:probe", "--json"]):
        result = layerkit(probe, *args)
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["disabled"] == ["probe"] and doc["failures"] == []
        assert "probe" not in [p["name"] for p in doc["plugins"]]


def test_builtins_cannot_be_disabled(probe: Path) -> None:
    result = layerkit(probe, "-p", "no:builtins", "layers")
    assert result.returncode == 2
    assert "cannot disable 'builtins': layerkit's built-in components always load" in result.stderr


def test_autoload_off_loads_only_named_plugins(probe: Path) -> None:
    state = show(probe, LAYERKIT_DISABLE_PLUGIN_AUTOLOAD="1")
    assert state["imported"] is False
    assert state["plugins"] == ["builtins"]  # not even the installed example plugin
    assert "GELU" not in state["layers"]

    for named in ("probe", "probemod"):  # entry-point name or module name
        state = show(probe, LAYERKIT_DISABLE_PLUGIN_AUTOLOAD="1", LAYERKIT_PLUGINS=named)
        assert state["imported"] is True
        assert state["plugins"] == ["builtins", "probe"]


def test_autoload_off_with_dash_p_in_the_cli(probe: Path) -> None:
    result = layerkit(
        probe, "-p", "probe", "plugins", "--json", LAYERKIT_DISABLE_PLUGIN_AUTOLOAD="1"
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(p["name"], p["distribution"], p["explicit"]) for p in doc["plugins"]] == [
        ("builtins", "layerkit", False),
        ("probe", "probe-dist", True),
    ]
    assert doc["settings"]["autoload"] is False


def test_dash_p_loads_a_module_without_distribution(tmp_path: Path) -> None:
    (tmp_path / "loosemod.py").write_text(LAYER_MODULE.format(tag="loose"))
    names = listed(layerkit(tmp_path, "-p", "loosemod", "layers", "--json"))
    assert names["Mish"]["plugin"] == "loosemod"
    assert names["Mish"]["distribution"] is None


def test_dash_p_of_a_missing_module_is_an_error(tmp_path: Path) -> None:
    result = layerkit(tmp_path, "-p", "no_such_plugin_module", "layers")
    assert result.returncode == 2
    assert (
        "cannot load plugin 'no_such_plugin_module' named by -p / LAYERKIT_PLUGINS: "
        "ModuleNotFoundError: No module named 'no_such_plugin_module'"
    ) in result.stderr


# -- pip install and uninstall ---------------------------------------------------------------


def build_wheel(out: Path, dist: str, version: str, module: str, source: str) -> Path:
    """A pure-Python wheel with a ``layerkit`` entry point, laid out per the wheel spec."""
    info = f"{dist.replace('-', '_')}-{version}.dist-info"
    files = {
        f"{module}.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: layerkit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[layerkit]\ndemo = {module}\n",
    }
    record = []
    for name, text in files.items():
        digest = (
            base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        )
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    path = out / f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def test_pip_install_and_uninstall_add_and_remove_layers(tmp_path: Path) -> None:
    # A venv that sees this environment's packages (layerkit, numpy...) and installs into its own
    # site-packages, so pip can install and uninstall there without touching the host.
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
    )
    py = str(venv / "bin" / "python")
    wheel = build_wheel(
        tmp_path, "layerkit-demo", "3.1.4", "layerkit_demo", LAYER_MODULE.format(tag="demo")
    )

    def layers() -> dict[str, dict[str, object]]:
        out = subprocess.run(
            [py, "-m", "layerkit", "layers", "--json", "--kind", "layer"],
            check=False,
            capture_output=True,
            text=True,
            env=clean_env(None),
            timeout=60,
        )
        return listed(out)

    pip = [py, "-m", "pip", "--disable-pip-version-check", "-q"]
    assert "Mish" not in layers()
    subprocess.run(
        [*pip, "install", "--no-index", "--no-deps", str(wheel)], check=True, env=clean_env(None)
    )
    mish = layers()["Mish"]
    assert (mish["plugin"], mish["distribution"], mish["version"]) == (
        "demo",
        "layerkit-demo",
        "3.1.4",
    )
    subprocess.run([*pip, "uninstall", "-y", "layerkit-demo"], check=True, env=clean_env(None))
    assert "Mish" not in layers()
