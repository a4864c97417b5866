"""The ``layerkit`` command line.

Each subcommand lives in its own module under :mod:`layerkit.cli` with two functions:
``configure(parser)`` adds its arguments and ``run(args) -> int`` does the work. Only the module
of the command being run is imported, so ``layerkit --version`` and ``layerkit layers`` stay fast.
Errors that are the user's (:class:`~layerkit.errors.LayerkitError`) print one message and exit
with its code, and so does an ``OSError`` (exit 1); there is no traceback for a user mistake.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from layerkit._version import __version__

__all__ = ["main", "COMMANDS"]

#: name -> (module under layerkit.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train a network from a YAML spec"),
    "eval": ("evaluate", "evaluate a run folder or checkpoint on its test data"),
    "predict": ("predict", "predict classes for inputs (.npy or IDX) with a checkpoint"),
    "validate": ("validate", "validate a spec and print the network summary"),
    "gradcheck": ("gradcheck", "check backprop against numerical gradients for a spec"),
    "graph": ("graph", "draw a spec's computational graph (DOT, SVG, PNG; --values)"),
    "schema": ("schema", "print the JSON Schema of specs (all registered components)"),
    "layers": ("layers", "list registered layers, optimizers and datasets"),
    "plugins": ("plugins", "list loaded plugins and load failures"),
    "data": ("data", "list and fetch datasets"),
    "sweep": ("sweep", "run a sweep of trials over a spec (locally or on Dask)"),
    "runs": ("runs", "inspect and compare run folders"),
}


def _plugin_options() -> argparse.ArgumentParser:
    """Options accepted both before and after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("plugins")
    group.add_argument(
        "-p",
        dest="plugin_options",
        action="append",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="load plugin module NAME explicitly, or disable plugin NAME with 'no:NAME'",
    )
    group.add_argument(
        "--strict-plugins",
        action="store_true",
        default=argparse.SUPPRESS,
        help="make any plugin load failure fatal (also LAYERKIT_STRICT_PLUGINS=1)",
    )
    return common


def _find_command(argv: Sequence[str]) -> str | None:
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg == "-p":
            skip_next = True
            continue
        if arg.startswith("-"):
            continue
        return arg if arg in COMMANDS else None
    return None


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, str | None]:
    common = _plugin_options()
    parser = argparse.ArgumentParser(
        prog="layerkit",
        description="Neural networks from NumPy layers, declared in YAML.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"layerkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _find_command(argv)
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if name == chosen:
            importlib.import_module(f"layerkit.cli.{module}").configure(cmd)
    return parser, chosen


def main(argv: Sequence[str] | None = None) -> int:
    from layerkit.errors import LayerkitError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser, chosen = build_parser(argv)
    args = parser.parse_args(argv)
    if chosen is None or args.command is None:
        parser.print_help()
        return 0 if not argv else 2
    _route_warnings(chosen)
    try:
        _apply_plugin_options(args)
        module = importlib.import_module(f"layerkit.cli.{COMMANDS[chosen][0]}")
        return int(module.run(args) or 0)
    except LayerkitError as exc:
        print(f"layerkit {chosen}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        note = f"; {exc}" if str(exc) else ""  # e.g. how to resume the interrupted run
        print(f"layerkit {chosen}: interrupted{note}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # The system refused (a folder that cannot be created, a full disk, no permission):
        # where it happened is in the message; a traceback would only hide it.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"layerkit {chosen}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def _apply_plugin_options(args: argparse.Namespace) -> None:
    options = getattr(args, "plugin_options", None)
    strict = getattr(args, "strict_plugins", False)
    if options or strict:
        from layerkit import plugins

        plugins.configure(options=options or (), strict=strict)


def _route_warnings(command: str) -> None:
    """Print layerkit's own warnings as one line each, like its errors (no source excerpt)."""
    import warnings

    from layerkit.errors import LayerkitWarning

    default = warnings.showwarning
    warnings.simplefilter("always", LayerkitWarning)

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, LayerkitWarning):
            print(f"layerkit {command}: warning: {message}", file=file or sys.stderr, flush=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
