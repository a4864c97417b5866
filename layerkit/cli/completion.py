"""``layerkit completion SHELL``: tab completion for bash, zsh and fish.

The script printed registers ``layerkit`` with argcomplete: on TAB the shell runs ``layerkit``
itself, which answers from its own argparse parser, so commands, options, choices and the
components of installed plugins are always current. Spec arguments complete to YAML files, and
``--set`` completes to the paths of the spec already on the command line, layers by their id
(``model.layers.fc1.units=``), with the current value once ``=`` is typed.

    layerkit completion bash > ~/.local/share/bash-completion/completions/layerkit
    layerkit completion zsh  > "${fpath[1]}/_layerkit"          # or: eval "$(layerkit completion zsh)"
    layerkit completion fish > ~/.config/fish/completions/layerkit.fish
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["SHELLS", "configure", "run", "complete", "spec_paths"]

SHELLS = ("bash", "zsh", "fish")
#: argparse destinations that name a spec file (completed to *.yaml / *.yml)
SPEC_ARGUMENTS = ("spec", "source", "set_files")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the shell code that gives layerkit tab completion (commands, options, spec files, "
        "--set paths and layer ids). Install: layerkit completion bash > "
        "~/.local/share/bash-completion/completions/layerkit (zsh: a file _layerkit in $fpath; "
        "fish: ~/.config/fish/completions/layerkit.fish)."
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


def run(args: argparse.Namespace) -> int:
    import argcomplete

    script = argcomplete.shellcode(["layerkit"], shell=args.shell)
    if args.json:
        print(json.dumps({"shell": args.shell, "script": script}))
    else:
        sys.stdout.write(script)
    return 0


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        if path:
            yield path, None
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    else:
        yield path, value


def spec_paths(spec_file: str) -> dict[str, Any]:
    """Every ``--set`` path of ``spec_file`` -> its value (``None`` for a mapping).

    Defaults are included when the spec validates; a spec with mistakes still offers the keys it
    has. Layers are addressed by their id, the one ``layerkit validate`` shows.
    """
    from layerkit.errors import LayerkitError
    from layerkit.spec.overrides import auto_layer_ids
    from layerkit.spec.yamlio import parse_document, read_spec_text

    try:
        from layerkit.spec import load_spec

        data: Any = load_spec(spec_file).to_dict()
    except LayerkitError:
        try:
            data = parse_document(read_spec_text(spec_file), filename=spec_file)
        except LayerkitError:
            return {}
    model = data.get("model") if isinstance(data, Mapping) else None
    layers = model.get("layers") if isinstance(model, Mapping) else None
    out: dict[str, Any] = {}
    for path, value in _leaves({k: v for k, v in data.items() if k != "model"}, ""):
        out[path] = value
    if isinstance(model, Mapping):
        out["model"] = None
        for key, value in model.items():
            if key != "layers":
                out.update(_leaves(value, f"model.{key}"))
    if isinstance(layers, list):
        out["model.layers"] = None
        for layer_id, layer in zip(auto_layer_ids(layers), layers, strict=True):
            if layer_id is not None:
                out.update(_leaves(layer, f"model.layers.{layer_id}"))
    return out


def _set_completer(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    spec = getattr(parsed_args, "spec", None) or getattr(parsed_args, "source", None)
    if not spec:
        return []
    paths = spec_paths(spec)
    if "=" in prefix:  # the path is typed: offer its current value
        path = prefix.partition("=")[0]
        value = paths.get(path)
        return [f"{path}={json.dumps(value)}"] if value is not None else []
    return [f"{path}=" for path in paths if path.startswith(prefix)]


def complete(parser: argparse.ArgumentParser, leaves: Iterable[argparse.ArgumentParser]) -> None:
    """Answer the shell's completion request (``_ARGCOMPLETE`` is set) and exit.

    ``leaves`` are the parsers that run something (:func:`layerkit.cli.leaf_parsers`).
    """
    import argcomplete  # only imported when the shell asks for completions
    from argcomplete.completers import FilesCompleter

    yaml_files = FilesCompleter(allowednames=("yaml", "yml"))
    for sub in leaves:
        for action in sub._actions:
            if action.dest == "overrides":
                action.completer = _set_completer  # type: ignore[attr-defined]
            elif action.dest in SPEC_ARGUMENTS:
                action.completer = yaml_files  # type: ignore[attr-defined]
    argcomplete.autocomplete(parser)
