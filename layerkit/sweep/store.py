"""Durable sweep files: the append-only ``results.jsonl`` and atomically replaced JSON/text files.

``results.jsonl`` is the sweep's commit log. Only the driver writes it, one JSON object per line,
each appended with a single ``write`` and then ``fsync``-ed, so a finished trial survives a
killed driver or a power cut. A driver killed in the middle of a write can leave a torn last
line; readers skip it, and the next driver cuts it off (:meth:`ResultsLog.repair`) before it
appends, as a database discards the incomplete tail of its log. The first record of an id wins:
later duplicates are ignored.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from layerkit.fileio import fsync_dir

__all__ = ["ResultsLog"]


class ResultsLog:
    """The append-only JSON-lines log of finished trials, keyed by ``record["id"]``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ResultsLog({str(self.path)!r})"

    def records(self) -> dict[str, dict[str, Any]]:
        """Committed records by id, in commit order; torn lines and later duplicates are skipped."""
        out: dict[str, dict[str, Any]] = {}
        for record in self._lines():
            out.setdefault(record["id"], record)
        return out

    def ids(self) -> set[str]:
        return set(self.records())

    def _lines(self) -> Iterator[dict[str, Any]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                # A torn last line is the expected trace of a killed driver; anything else
                # means the file was edited by hand, which deserves a word.
                if number != len(lines):
                    warnings.warn(
                        f"{self.path}:{number}: skipping a line that is not a trial record",
                        stacklevel=3,
                    )
                continue
            yield record

    def append(self, record: Mapping[str, Any]) -> None:
        """Commit one record: a single write of one line, flushed and fsynced before returning."""
        if not isinstance(record.get("id"), str):
            raise ValueError("a results record needs a string 'id'")
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        payload = line.encode("utf-8")
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if not created and self._ends_torn(fd):
                payload = b"\n" + payload  # isolate the torn fragment on its own (skipped) line
            view = memoryview(payload)
            while view:  # one write() in practice; loop only for the pathological short write
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def repair(self) -> bool:
        """Cut off a torn last line (an append that never completed); True if there was one.

        Only the single driver that holds the sweep's lock may call this.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        if not data or data.endswith(b"\n"):
            return False
        keep = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def _ends_torn(self, fd: int) -> bool:
        size = os.fstat(fd).st_size
        if size == 0:
            return False
        return os.pread(fd, 1, size - 1) != b"\n"
