"""The ``--json`` contract of every ``layerkit`` command, kept in one place.

With ``--json``, stdout carries exactly one JSON document, whatever happens::

    {"ok": true,  "exit_code": 0, "error": null, ...the command's result...}
    {"ok": false, "exit_code": 2, "error": "train.epochs: must be >= 1 (received 0)", ...}

and human text (progress, tables, warnings, the error line) goes to stderr. A command takes part
by printing its result as one JSON object on stdout when ``args.json`` is set (its keys are
merged into the document; a list or scalar goes under ``"result"``); it raises
:class:`~layerkit.errors.LayerkitError` for a failure, as without ``--json``.
:class:`JsonCapture` does the rest for every command alike: it captures stdout while the command
runs (at the file-descriptor level too, so output of child processes and C code cannot reach the
document), moves anything that is not the result to stderr, and writes the document.
Reserved keys: ``ok``, ``exit_code``, ``error``; a spec error adds ``errors``, one object per
problem (``path``, ``message``, ``file``, ``line``, ``column``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict
from types import TracebackType
from typing import IO, Any

__all__ = ["JsonCapture", "UsageError", "json_safe", "split_result", "RESERVED"]

RESERVED = ("ok", "exit_code", "error")


class UsageError(Exception):
    """A command line that argparse rejected, with the (sub)parser that rejected it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message

    def report(self) -> None:
        """Usage and message of the (sub)command at fault, on stderr (argparse's format)."""
        self.parser.print_usage(sys.stderr)
        print(f"{self.parser.prog}: error: {self.message}", file=sys.stderr)


def json_safe(value: Any) -> Any:
    """NaN and infinities become ``null`` (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def split_result(captured: str) -> tuple[dict[str, Any], str]:
    """A command's stdout -> (its JSON result, the human text to move to stderr).

    The result is the whole output when it is one JSON document, else its last line when that
    line is one (a command that printed a table before its JSON line), else nothing.
    """
    text = captured.strip()
    if not text:
        return {}, ""
    for doc_text, rest in (
        (text, ""),
        (text.splitlines()[-1], captured.rstrip().rpartition("\n")[0]),
    ):
        try:
            doc = json.loads(doc_text)
        except ValueError:
            continue
        return (doc if isinstance(doc, dict) else {"result": doc}), (rest + "\n" if rest else "")
    return {}, captured


def _fileno(stream: IO[str]) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # e.g. pytest's capsys
        return None


class JsonCapture:
    """Runs a command under the ``--json`` contract (a no-op when ``enabled`` is false).

    ``exit_code`` is set by the caller; :meth:`fail` reports an error on stderr and records it
    for the document.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.exit_code = 0
        self.error: str | None = None
        self.extra: dict[str, Any] = {}
        self._stdout: IO[str] | None = None
        self._buffer = io.StringIO()
        self._fd: int | None = None
        self._saved_fd: int | None = None

    def fail(
        self,
        message: str,
        code: int,
        *,
        prefix: str | None = None,
        exc: BaseException | None = None,
        label: str = "error: ",
    ) -> int:
        """Print ``PREFIX: error: MESSAGE`` on stderr (unless no prefix), record it, return code."""
        from layerkit.errors import SpecError

        if prefix is not None:
            print(f"{prefix}: {label}{message}", file=sys.stderr, flush=True)
        self.error = message
        if isinstance(exc, SpecError):
            self.extra["errors"] = [asdict(issue) for issue in exc.issues]
        return code

    def __enter__(self) -> JsonCapture:
        if not self.enabled:
            return self
        sys.stdout.flush()
        self._stdout = sys.stdout
        fd, err = _fileno(sys.stdout), _fileno(sys.stderr)
        if fd is not None and err is not None:
            # Child processes (sweep trials, Dask workers) and C code write to the descriptor,
            # not to sys.stdout: point it at stderr while the command runs.
            self._fd, self._saved_fd = fd, os.dup(fd)
            os.dup2(err, fd)
        sys.stdout = self._buffer
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stdout is None:
            return
        sys.stdout = self._stdout
        if self._saved_fd is not None and self._fd is not None:
            sys.stdout.flush()
            os.dup2(self._saved_fd, self._fd)
            os.close(self._saved_fd)
        result, human = split_result(self._buffer.getvalue())
        if human:
            sys.stderr.write(human)
            sys.stderr.flush()
        code, error = self.exit_code, self.error
        if exc is not None:  # a bug, not a user mistake: the traceback follows on stderr
            code, error = 1, f"internal error: {exc_type.__name__ if exc_type else ''}: {exc}"
        if code != 0 and error is None:
            error = (
                result.get("error") if isinstance(result.get("error"), str) else f"exit code {code}"
            )
        doc = {"ok": code == 0, "exit_code": code, "error": error}
        doc.update((k, v) for k, v in result.items() if k not in RESERVED)
        doc.update(self.extra)
        try:
            sys.stdout.write(json.dumps(json_safe(doc), allow_nan=False, default=str) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            pass
