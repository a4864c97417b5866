"""The ``layerkit`` command line.

Each subcommand lives in its own module under :mod:`layerkit.cli` with two functions:
``configure(parser)`` adds its arguments and ``run(args) -> int`` does the work. Only the module
of the command being run is imported, so ``layerkit --version`` and ``layerkit layers`` stay fast.
Errors that are the user's (:class:`~layerkit.errors.LayerkitError`) print one message and exit
with its code, and so does an ``OSError`` (exit 1); there is no traceback for a user mistake.

Options every command accepts (before or after its name) are added here, not by the commands:
``-p NAME``, ``--strict-plugins`` and ``--json``. The ``--json`` contract is kept here too, in
one place (:mod:`layerkit.cli.output`): a command prints its result as one JSON object when
``args.json`` is set, and :func:`main` turns whatever happens (success, a user error, a usage
error, an interrupt) into exactly one JSON document on stdout, with human text on stderr.
"""

# PYTHON_ARGCOMPLETE_OK  (marker argcomplete looks for: this program completes itself)

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

from layerkit._version import __version__
from layerkit.cli.output import JsonCapture, UsageError

__all__ = ["main", "COMMANDS", "build_parser", "full_parser", "leaf_parsers"]

#: name -> (module under layerkit.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train a network from a YAML spec"),
    "eval": ("evaluate", "evaluate a run folder or checkpoint on its test data"),
    "predict": ("predict", "predict classes for inputs (.npy or IDX) with a checkpoint"),
    "export": (
        "export",
        "export a run folder or checkpoint as an ONNX file, verified in ONNX Runtime",
    ),
    "validate": ("validate", "validate a spec and print the network summary"),
    "gradcheck": ("gradcheck", "check backprop against numerical gradients for a spec"),
    "graph": ("graph", "draw a spec's computational graph (DOT, SVG, PNG; --values)"),
    "schema": ("schema", "print the JSON Schema of specs (all registered components)"),
    "layers": ("layers", "list registered layers, optimizers, datasets and callbacks"),
    "plugins": ("plugins", "list loaded plugins and load failures"),
    "data": ("data", "list and fetch datasets"),
    "sweep": ("sweep", "run a sweep of trials over a spec (locally or on Dask)"),
    "tune": ("tune", "tune a spec with Optuna: adaptive search and pruning (locally or on Dask)"),
    "runs": ("runs", "inspect and compare run folders"),
    "init": ("init", "write a starter spec (from a shipped model spec)"),
    "new-plugin": (
        "new_plugin",
        "write a plugin distribution skeleton (layer, entry point, tests)",
    ),
    "completion": ("completion", "print the shell completion script for bash, zsh or fish"),
    "report": ("report", "write an HTML report of a run, of several runs or of a sweep"),
}

JSON_HELP = (
    "print exactly one JSON document on stdout, the result or the error, with 'ok', 'error' "
    "and 'exit_code'; human text goes to stderr"
)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are raised, so that :func:`main` reports them
    with the usage and prefix of the (sub)command at fault, in JSON when asked."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault(
            "allow_abbrev", False
        )  # "--js" is not "--json": scripts spell options out
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(self, message)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """``-p``, ``--strict-plugins`` and ``--json``, accepted before and after the command name.

    Defaults are suppressed so that a value given before the command is not reset by the
    subcommand's parser. A command that defines ``--json`` itself keeps its own help text.
    """
    known = parser._option_string_actions
    group = parser.add_argument_group("common options")
    if "-p" not in known:
        group.add_argument(
            "-p",
            dest="plugin_options",
            action="append",
            metavar="NAME",
            default=argparse.SUPPRESS,
            help="load plugin module NAME explicitly, or disable plugin NAME with 'no:NAME'",
        )
    if "--strict-plugins" not in known:
        group.add_argument(
            "--strict-plugins",
            action="store_true",
            default=argparse.SUPPRESS,
            help="make any plugin load failure fatal (also LAYERKIT_STRICT_PLUGINS=1)",
        )
    if "--json" in known:
        known["--json"].default = argparse.SUPPRESS
    else:
        group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse._SubParsersAction]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser under ``parser`` that runs something (``runs compare``, not ``runs``)."""
    children = [p for action in _subparsers(parser) for p in dict.fromkeys(action.choices.values())]
    if not children:
        yield parser
    for child in children:
        yield from leaf_parsers(child)


def _with_common_options(parser: argparse.ArgumentParser) -> None:
    _add_common_options(parser)
    for action in _subparsers(parser):
        for child in dict.fromkeys(action.choices.values()):
            _with_common_options(child)


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


def build_parser(
    argv: Sequence[str], *, configure_all: bool = False
) -> tuple[argparse.ArgumentParser, str | None]:
    """The parser, with only the chosen command's arguments (all of them with ``configure_all``)."""
    parser = Parser(
        prog="layerkit",
        description="Neural networks from NumPy layers, declared in YAML.",
        epilog="With --json, every command prints exactly one JSON document on stdout "
        "(see 'The --json contract' in the README).",
    )
    parser.add_argument("--version", action="version", version=f"layerkit {__version__}")
    _add_common_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _find_command(argv)
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if configure_all or name == chosen:
            importlib.import_module(f"layerkit.cli.{module}").configure(cmd)
        _with_common_options(cmd)
    return parser, chosen


def full_parser() -> argparse.ArgumentParser:
    """The parser with every command configured (for completion and for tests)."""
    return build_parser((), configure_all=True)[0]


def _chosen_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The deepest (sub)parser the command line selected, e.g. the one of ``runs compare``."""
    for action in _subparsers(parser):
        name = getattr(args, action.dest, None) if action.dest != argparse.SUPPRESS else None
        if isinstance(name, str) and name in action.choices:
            return _chosen_parser(action.choices[name], args)
    return parser


def _wants_json(argv: Sequence[str]) -> bool:
    """``--json`` on the command line, looked for before parsing (which may fail)."""
    head = list(argv)[: list(argv).index("--")] if "--" in argv else argv
    return "--json" in head


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:  # invoked by the shell's completion function
        from layerkit.cli.completion import complete

        parser = full_parser()
        complete(parser, leaf_parsers(parser))
    with JsonCapture(enabled=_wants_json(argv)) as out:
        out.exit_code = _main(argv, out)
    return out.exit_code


def _main(argv: list[str], out: JsonCapture) -> int:
    from layerkit.errors import LayerkitError

    parser, chosen = build_parser(argv)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported by the (sub)command they were given to, with its usage
            _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        exc.report()
        return out.fail(exc.message, 2)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    out.enabled = args.json = bool(getattr(args, "json", False))
    if chosen is None or args.command is None:
        parser.print_help(sys.stderr)
        return out.fail("no command given (usage above)", 2, prefix="layerkit")
    prefix = _chosen_parser(parser, args).prog  # "layerkit runs compare"
    _route_warnings(prefix)
    try:
        _apply_plugin_options(args)
        module = importlib.import_module(f"layerkit.cli.{COMMANDS[chosen][0]}")
        return int(module.run(args) or 0)
    except LayerkitError as exc:
        return out.fail(str(exc), exc.exit_code, prefix=prefix, exc=exc)
    except KeyboardInterrupt as exc:
        note = f"; {exc}" if str(exc) else ""  # e.g. how to resume the interrupted run
        return out.fail(f"interrupted{note}", 130, prefix=prefix, label="")
    except BrokenPipeError:
        return 0
    except SystemExit as exc:
        # No command of layerkit exits this way: code it ran (a plugin's) called sys.exit().
        # Passing that on could report success (exit 0) for a command that never finished.
        print(
            f"layerkit {chosen}: error: the command did not finish: code it ran called "
            f"sys.exit({exc.code!r})",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        # The system refused (a folder that cannot be created, a full disk, no permission):
        # where it happened is in the message; a traceback would only hide it.
        where = f"{exc.filename}: " if exc.filename else ""
        return out.fail(f"{where}{exc.strerror or exc}", 1, prefix=prefix)


def _apply_plugin_options(args: argparse.Namespace) -> None:
    options = getattr(args, "plugin_options", None)
    strict = getattr(args, "strict_plugins", False)
    if options or strict:
        from layerkit import plugins

        plugins.configure(options=options or (), strict=strict)


def _route_warnings(prefix: str) -> None:
    """Print layerkit's own warnings as one line each, like its errors (no source excerpt)."""
    import warnings

    from layerkit.errors import LayerkitWarning

    default = warnings.showwarning
    warnings.simplefilter("always", LayerkitWarning)

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, LayerkitWarning):
            print(f"{prefix}: warning: {message}", file=file or sys.stderr, flush=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
