"""Atomic file writes, untrusted JSON reads, and stale temp-file cleanup.

Writes go to a temp file in the target directory, fsync, rename, fsync the directory: a reader
(or a run resumed after a crash) sees either the previous file or the complete new one, never a
torn file. A writer killed mid-write leaves its ``.NAME.XXXX.tmp``; :func:`remove_stale_temps`
removes those no live writer holds.

:func:`read_json` reads a file layerkit did not necessarily write (a checkpoint manifest, a
sweep plan) with its size and nesting depth checked *before* parsing, so a hostile file is a
one-line error, never a ``RecursionError`` or ``MemoryError``.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from layerkit.errors import ConfigError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "fsync_dir",
    "make_dirs",
    "read_json",
    "JsonLimits",
    "UnsafeJson",
    "remove_stale_temps",
    "FolderClaim",
    "FolderBusy",
    "CLAIM_FILE",
    "unique_path",
]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make renames and new files in directory ``path`` durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _umask() -> int:
    # The only portable way to read the umask is to set it; done once, before any thread needs it.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(target: Path) -> int:
    """The mode ``open()`` would give ``target``: its current mode if it exists, else 0o666 & ~umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a temp file, then fsync and rename it to ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would give it (``mkstemp`` alone
    makes it 0600, so run folders and the shared data cache were unreadable to anyone else).
    """
    target = Path(path)
    mode = _new_file_mode(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX; Windows has no such permission bits
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a full disk says only "No space left on device": say where
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def make_dirs(path: str | os.PathLike[str], label: str) -> Path:
    """Create folder ``path`` (and its parents); a refusal is a user error naming ``label``.

    ``label`` says where the path came from (``--out``), so the message points at the option.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{label} {folder}: cannot create the folder: {exc.strerror or exc}"
        ) from None
    return folder


# -- untrusted JSON -------------------------------------------------------------------------


class UnsafeJson(ValueError):
    """A JSON file that is unreadable, malformed, too large or nested too deep (one line)."""


@dataclass(frozen=True)
class JsonLimits:
    """Bounds checked before a JSON file is parsed; far above what layerkit writes."""

    #: bytes in the file
    max_bytes: int = 64 * 1024 * 1024
    #: objects and arrays nested in one another
    max_depth: int = 64


# Strings may hold brackets; they are skipped whole (escapes included) when measuring depth.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def json_depth(text: str, limit: int) -> int:
    """Nesting depth of JSON ``text``, counted without recursion; stops once past ``limit``."""
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def read_json(path: str | os.PathLike[str], limits: JsonLimits | None = None) -> Any:
    """Parse JSON file ``path`` after checking its size and nesting depth.

    Raises :class:`UnsafeJson` (a ``ValueError``) with a one-line reason; callers turn it into
    their own error (a corrupt checkpoint, a damaged sweep plan).
    """
    limits = limits or JsonLimits()
    target = Path(path)
    try:
        size = target.stat().st_size
        if size > limits.max_bytes:
            raise UnsafeJson(f"{size:,} bytes is too large (at most {limits.max_bytes:,})")
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeJson(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UnsafeJson(f"cannot read ({exc.strerror or exc})") from None
    depth = json_depth(text, limits.max_depth)
    if depth > limits.max_depth:
        raise UnsafeJson(f"nested more than {limits.max_depth} levels deep")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError, MemoryError) as exc:
        raise UnsafeJson(f"not valid JSON ({exc})") from None


# -- stale temp files -----------------------------------------------------------------------


def remove_stale_temps(directory: str | os.PathLike[str], *, older_than: float = 0.0) -> list[Path]:
    """Remove the ``.NAME.*.tmp`` files :func:`atomic_write` left in ``directory`` when killed.

    Call it only while holding the directory (a claimed run folder): no live writer can then own
    a temp file there, except one that started less than ``older_than`` seconds ago. Returns the
    files removed.
    """
    folder = Path(directory)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.glob(".*.tmp"):
        try:
            if entry.is_file() and now - entry.stat().st_mtime >= older_than:
                entry.unlink()
                removed.append(entry)
        except OSError:  # gone meanwhile, or not ours to remove: nothing to clean
            continue
    return removed


# -- claiming a folder for one process -------------------------------------------------------

#: The lock file of a claimed folder: held (``flock``) by the process using it, for its life.
CLAIM_FILE = ".layerkit.lock"


class FolderBusy(OSError):
    """Another live process holds the folder; ``holder`` describes it (pid, command, start)."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"{folder} is in use by {holder}")
        self.folder = folder
        self.holder = holder


class FolderClaim:
    """An exclusive claim on a folder, held until :meth:`release` (or the process ends).

    The claim is an OS lock (``flock``) on ``CLAIM_FILE`` inside the folder: the kernel drops it
    when the holder exits, however it exits (SIGKILL included), so a crashed run never leaves
    its folder claimed, and two processes can never both hold it. The file records who holds it,
    so the loser can name the other process.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / CLAIM_FILE
        self._fd: int | None = None

    def acquire(self, description: Mapping[str, Any]) -> FolderClaim:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            _lock(fd)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusy(self.folder, self._holder()) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(dict(description)) + "\n").encode("utf-8"))
        self._fd = fd
        return self

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            info = {}
        if not isinstance(info, dict) or "pid" not in info:
            return "another process"
        parts = [f"process {info['pid']}"]
        if info.get("host"):
            parts[0] += f" on {info['host']}"
        if info.get("command"):
            parts.append(f"`{info['command']}`")
        if info.get("started"):
            parts.append(f"since {info['started']}")
        return " ".join(parts)

    @staticmethod
    def is_held(folder: str | os.PathLike[str]) -> bool:
        """Whether a live process holds ``folder`` now (a read-only probe: nothing is written)."""
        try:
            fd = os.open(Path(folder) / CLAIM_FILE, os.O_RDONLY)
        except OSError:
            return False
        try:
            _lock(fd)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)  # drops the probe's own lock, if it got one
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (removing it would race)
            self._fd = None

    def __enter__(self) -> FolderClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(fd: int) -> None:
    """Take an exclusive, non-blocking lock on ``fd`` (``BlockingIOError`` when held)."""
    if sys.platform == "win32":  # pragma: no cover - no flock there
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def unique_path(folder: str | os.PathLike[str], stem: str, suffix: str) -> Path:
    """``folder/<stem>-<YYYYmmdd-HHMMSS>[-N]<suffix>``, a name no file has yet (never overwrites)."""
    base = Path(folder)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in itertools.count():
        candidate = base / (f"{stem}-{stamp}{suffix}" if i == 0 else f"{stem}-{stamp}-{i}{suffix}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")
