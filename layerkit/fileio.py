"""Atomic file writes: a temp file in the target directory, fsync, rename, fsync the directory.

A reader (or a run resumed after a crash) sees either the previous file or the complete new one,
never a torn file.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from layerkit.errors import ConfigError

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json", "fsync_dir", "make_dirs"]


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
        raise ConfigError(f"{label} {folder}: cannot create the folder: {exc.strerror or exc}") from None
    return folder
