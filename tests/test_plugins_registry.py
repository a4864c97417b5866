"""The registry in this process: built-ins and the installed example plugin, through real entry points.

The example plugin ``plugins/layerkit-activations`` is installed by the project's setup
(``pip install ./plugins/layerkit-activations``); these tests find it the way users do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata

import numpy as np
import pytest
from cli_support import layerkit as run_cli

import layerkit
from layerkit import hookspecs, plugins
from layerkit.errors import PluginError
from layerkit.layers.base import Layer
from layerkit.plugins import PluginSettings, Registry, get_registry

EXAMPLE_LAYERS = {"SiLU", "Swish", "GELU", "ELU", "Softplus", "LayerNorm"}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry built from the installed distributions, with no LAYERKIT_* setting in force."""
    for var in (
        plugins.ENV_DISABLE,
        plugins.ENV_NO_AUTOLOAD,
        plugins.ENV_PLUGINS,
        plugins.ENV_STRICT,
    ):
        monkeypatch.delenv(var, raising=False)
    plugins.configure()
    yield get_registry(reload=True)
    plugins.configure()


def example_version() -> str:
    try:
        return metadata.version("layerkit-activations")
    except metadata.PackageNotFoundError:
        pytest.fail(
            "the example plugin is not installed: pip install ./plugins/layerkit-activations"
        )


def test_example_plugin_is_discovered_with_provenance(registry: Registry) -> None:
    version = example_version()
    found = {e.name: e for e in registry.entries("layers") if e.plugin == "activations"}
    assert set(found) == EXAMPLE_LAYERS
    for entry in found.values():
        assert (entry.distribution, entry.version) == ("layerkit-activations", version)
        assert entry.module == "layerkit_activations.layers"
        assert entry.kind == "layer"
        assert entry.summary  # first docstring line
    info = registry.plugin("activations")
    assert info is not None
    assert (info.module, info.distribution, info.version) == (
        "layerkit_activations",
        "layerkit-activations",
        version,
    )
    assert info.hooks == ("layerkit_add_layers", "layerkit_add_onnx_converters")


def test_builtins_register_through_the_same_hooks(registry: Registry) -> None:
    info = registry.plugin("builtins")
    assert info is not None
    assert (info.module, info.distribution, info.version) == (
        "layerkit.builtins",
        "layerkit",
        layerkit.__version__,
    )
    assert set(info.hooks) == {*plugins.GROUPS.values(), "layerkit_add_onnx_converters"}
    relu = registry.lookup("layers", "Relu")
    assert (relu.plugin, relu.distribution, relu.qualified_name) == (
        "builtins",
        "layerkit",
        "builtins:Relu",
    )
    assert registry.plugins[0].name == "builtins"  # loaded first
    assert registry.failures == []


def test_plugin_layer_is_used_like_a_builtin(registry: Registry) -> None:
    gelu_cls = registry.layer("GELU")
    assert registry.layer("activations:GELU") is gelu_cls
    assert issubclass(gelu_cls, Layer)
    layer = gelu_cls()
    layer.build((3,), dtype="float32")
    y = layer.forward(np.array([[-1.0, 0.0, 1.0]], dtype=np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[-0.158808, 0.0, 0.841192]], atol=1e-6)


def test_every_group_lists_its_builtins(registry: Registry) -> None:
    assert "Relu" in registry.names("layers")
    assert "SGD" in registry.names("optimizers")
    for group in plugins.GROUPS:
        for entry in registry.entries(group):
            assert registry.lookup(group, entry.name) is entry  # no name is ambiguous here
            assert registry.display_name(entry) == entry.name


def test_unknown_name_suggests_the_closest(registry: Registry) -> None:
    with pytest.raises(
        PluginError, match=r"unknown layer 'gelu'; did you mean 'GELU'\? \(available: .*SiLU"
    ):
        registry.layer("gelu")
    with pytest.raises(PluginError, match=r"unknown optimizer 'Adamm'; did you mean 'Adam'\?"):
        registry.optimizer("Adamm")
    with pytest.raises(PluginError, match=r"layer name must be a non-empty string \(received ''\)"):
        registry.layer("")


def test_qualified_name_errors_say_what_is_wrong(registry: Registry) -> None:
    with pytest.raises(
        PluginError,
        match=r"unknown plugin 'activation' in 'activation:GELU'; did you mean 'activations'\?",
    ):
        registry.layer("activation:GELU")
    with pytest.raises(
        PluginError,
        match=r"plugin 'activations' \(layerkit-activations .*\) provides no layer 'Relu'; it is 'builtins:Relu' \(its layers: ELU, GELU, LayerNorm, SiLU, Softplus, Swish\)",
    ):
        registry.layer("activations:Relu")
    with pytest.raises(PluginError, match=r"provides no layer 'Gelu'; did you mean 'GELU'\?"):
        registry.layer("activations:Gelu")


def test_unknown_group_is_a_programming_error(registry: Registry) -> None:
    with pytest.raises(ValueError, match="unknown component group 'losses'"):
        registry.entries("losses")


def test_registry_is_cached_until_reload_or_configure(registry: Registry) -> None:
    assert get_registry() is registry
    plugins.configure(options=["no:activations"])
    without = get_registry()
    assert without is not registry
    assert "GELU" not in without.names("layers") and without.disabled == ["activations"]


# -- settings --------------------------------------------------------------------------------


def test_settings_merge_environment_and_options() -> None:
    env = {
        "LAYERKIT_DISABLE_PLUGINS": "a, b,,",
        "LAYERKIT_PLUGINS": "mod_x",
        "LAYERKIT_DISABLE_PLUGIN_AUTOLOAD": "1",
        "LAYERKIT_STRICT_PLUGINS": "0",
    }
    settings = PluginSettings.resolve(["no:c", "mod_y", "mod_x"], environ=env)
    assert settings.disabled == {"a", "b", "c"}
    assert settings.explicit == ("mod_x", "mod_y")
    assert settings.autoload is False
    assert settings.strict is False
    assert PluginSettings.resolve(strict=True, environ={}).strict is True
    assert PluginSettings.resolve(environ={"LAYERKIT_STRICT_PLUGINS": "yes"}).strict is True
    assert (
        PluginSettings.resolve(environ={"LAYERKIT_DISABLE_PLUGIN_AUTOLOAD": "false"}).autoload
        is True
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["no:"], r"-p 'no:': expected a plugin name"),
        ([" "], r"-p ' ': expected a plugin name"),
        (["no:builtins"], r"cannot disable 'builtins': layerkit's built-in components always load"),
    ],
)
def test_configure_rejects_bad_options(options: list[str], message: str) -> None:
    with pytest.raises(PluginError, match=message):
        plugins.configure(options=options)


def test_hookimpl_marker_is_exported() -> None:
    assert layerkit.hookimpl is hookspecs.hookimpl
    assert hookspecs.PROJECT_NAME == plugins.ENTRY_POINT_GROUP == "layerkit"


# -- CLI -------------------------------------------------------------------------------------


def test_layers_command_lists_plugin_layers_with_provenance() -> None:
    version = example_version()
    result = run_cli("layers", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = {r["name"]: r for r in json.loads(result.stdout)["components"]}
    assert EXAMPLE_LAYERS | {"Relu", "SGD"} <= set(rows)
    gelu = rows["GELU"]
    assert {
        k: gelu[k] for k in ("kind", "plugin", "distribution", "version", "module", "ambiguous")
    } == {
        "kind": "layer",
        "plugin": "activations",
        "distribution": "layerkit-activations",
        "version": version,
        "module": "layerkit_activations.layers",
        "ambiguous": False,
    }
    assert gelu["summary"].startswith("Gaussian error linear unit")

    table = run_cli("layers")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "KIND",
        "PLUGIN",
        "DISTRIBUTION",
        "VERSION",
        "ONNX",
        "SUMMARY",
    ]
    gelu_line = next(line for line in lines if line.startswith("GELU "))
    assert gelu_line.split()[:5] == [
        "GELU",
        "layer",
        "activations",
        "layerkit-activations",
        version,
    ]


def test_layers_command_filters_by_kind() -> None:
    result = run_cli("layers", "--json", "--kind", "optimizer", "--kind", "loss")
    assert result.returncode == 0, result.stderr
    kinds = {r["kind"] for r in json.loads(result.stdout)["components"]}
    assert kinds == {"optimizer", "loss"}
    bad = run_cli("layers", "--kind", "activation")
    assert bad.returncode == 2 and "invalid choice: 'activation'" in bad.stderr


def test_plugins_command_lists_versions() -> None:
    version = example_version()
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line}
    assert rows["activations"][:4] == [
        "activations",
        "layerkit-activations",
        version,
        "layerkit_activations",
    ]
    assert rows["builtins"][:3] == ["builtins", "layerkit", layerkit.__version__]
    assert "failed to load" not in result.stdout
