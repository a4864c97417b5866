"""Where dataset files are found, and how they are downloaded when they are not.

Search order (the first directory that holds every file wins):

1. ``data.path`` in the spec (the dataset's ``path`` option). When given, it must hold the
   files: an explicit path that does not is an error, never silently replaced by another copy.
2. ``$LAYERKIT_DATA/<name>``.
3. The user cache, ``$XDG_CACHE_HOME/layerkit/<name>`` (``~/.cache/layerkit/<name>`` by
   default). Downloads go here.
4. ``/usr/share/datasets/<name>``, where Debian's ``dataset-*`` packages install
   (``apt-get install dataset-fashion-mnist``). Debian spells directories with hyphens
   (``fashion-mnist``); every location accepts both spellings.

Each file may be gzipped (``train-images-idx3-ubyte.gz``) or raw (``train-images-idx3-ubyte``).

Otherwise the files are downloaded from the dataset's official mirrors (or the one in the
``url`` option or ``$LAYERKIT_<NAME>_MIRROR``) into the cache, with a progress bar on a terminal.
Each file is streamed into a temp file beside its destination, its MD5 compared with the
published checksum of the upstream archive, fsynced and renamed into place: a failed, truncated or
mismatched download leaves nothing behind. Files already present are not downloaded again.

Local copies are not checked against the upstream archive MD5s (Debian recompressed the
archives); the IDX reader checks their structure, and ``verify`` compares the SHA-256 of their
decompressed content with the known one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from layerkit._version import __version__
from layerkit.data.base import Location
from layerkit.data.idx import read_idx
from layerkit.errors import DataError
from layerkit.fileio import atomic_write

if TYPE_CHECKING:
    from urllib.request import Request

__all__ = [
    "SYSTEM_DIRS",
    "DownloadError",
    "RemoteFile",
    "Source",
    "cache_root",
    "download_file",
    "fetch",
    "find_files",
    "locate",
    "resolve",
    "search_dirs",
]

log = logging.getLogger(__name__)

#: Where distribution packages install datasets (Debian's ``dataset-*`` packages).
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)

#: Seconds without data before a download is abandoned.
TIMEOUT = 60.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as published upstream.

    ``filename`` is the archive's name (``train-images-idx3-ubyte.gz``); ``md5`` the published
    checksum of that archive; ``sha256`` the checksum of its decompressed content, when known.
    """

    role: str
    filename: str
    md5: str | None
    sha256: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Names a local copy may have: the archive's, then the decompressed one."""
        if self.filename.endswith(".gz"):
            return (self.filename, self.filename[:-3])
        return (self.filename,)


@dataclass(frozen=True)
class Source:
    """A dataset published as files: where to look for them and where to download them."""

    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    debian_package: str | None = None
    homepage: str = ""

    @property
    def dirnames(self) -> tuple[str, ...]:
        """Directory names of a local copy: ``fashion_mnist`` and Debian's ``fashion-mnist``."""
        hyphen = self.name.replace("_", "-")
        return (self.name,) if hyphen == self.name else (self.name, hyphen)

    @property
    def mirror_env(self) -> str:
        """The environment variable that overrides the download URL."""
        return f"LAYERKIT_{self.name.upper().replace('-', '_')}_MIRROR"

    def file(self, role: str) -> RemoteFile:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(role)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/layerkit``, or ``~/.cache/layerkit`` (XDG ignores relative paths)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "layerkit"


def search_dirs(source: Source) -> list[tuple[str, Path]]:
    """``(origin, directory)`` pairs in search order (an explicit ``path`` is not included)."""
    roots: list[tuple[str, Path]] = []
    env = os.environ.get("LAYERKIT_DATA")
    if env:
        roots.append(("$LAYERKIT_DATA", Path(env).expanduser()))
    roots.append(("cache", cache_root()))
    roots.extend(("system", d) for d in SYSTEM_DIRS)
    return [(origin, root / name) for origin, root in roots for name in source.dirnames]


def find_files(source: Source, directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The files of ``source`` present in ``directory`` (role -> path), and the names missing.

    A raw (decompressed) copy is preferred to a gzipped one: it is read without decompressing.
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for remote in source.files:
        for name in reversed(remote.names):
            candidate = directory / name
            if candidate.is_file():
                found[remote.role] = candidate
                break
        else:
            missing.append(remote.filename)
    return found, missing


def locate(source: Source, path: str | os.PathLike[str] | None = None) -> Location | None:
    """The first directory in search order holding every file of ``source``, or ``None``.

    Raises:
        DataError: ``path`` is given but does not hold the files.
    """
    if path is not None:
        directory = Path(path).expanduser()
        found, missing = find_files(source, directory)
        if missing:
            what = "does not exist" if not directory.exists() else f"lacks {', '.join(missing)}"
            raise DataError(f"{source.name}: data.path {directory} {what}")
        return Location(directory, "data.path", found)
    for origin, directory in search_dirs(source):
        found, missing = find_files(source, directory)
        if not missing:
            return Location(directory, origin, found)
    return None


def _mirrors(source: Source, url: str | None) -> tuple[str, ...]:
    chosen = url or os.environ.get(source.mirror_env)
    return (chosen,) if chosen else source.mirrors


def fetch(
    source: Source,
    directory: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    md5: Mapping[str, str] | None = None,
    force: bool = False,
    progress: bool | None = None,
    origin: str | None = None,
) -> Location:
    """Download the files of ``source`` that ``directory`` lacks; return where they are.

    Args:
        directory: where the files go; default the user cache, ``cache_root()/<name>``.
        url: base URL to download from instead of the official mirrors (also
            ``$LAYERKIT_<NAME>_MIRROR``); the file names are appended to it.
        md5: expected MD5 per file name, replacing the published upstream checksums (for a
            mirror that serves different archives, and for tests).
        force: download every file even if present.
        progress: show a progress bar; default only when stderr is a terminal.
        origin: label of the returned :class:`Location` (default ``cache`` or ``--dir``).

    Raises:
        DataError: a file could not be downloaded from any mirror (each failure is listed),
            or its checksum does not match. Nothing is left behind for that file.
    """
    target = Path(directory).expanduser() if directory is not None else cache_root() / source.name
    if origin is None:
        origin = "cache" if directory is None else "--dir"
    found, missing = find_files(source, target)
    wanted = [f for f in source.files if force or f.filename in missing]
    checksums = {f.filename: f.md5 for f in source.files}
    if md5:
        unknown = sorted(set(md5) - set(checksums))
        if unknown:
            raise DataError(f"{source.name}: md5 given for unknown file(s) {', '.join(unknown)}")
        checksums.update(md5)
    created = [d for d in (target, *target.parents) if not d.exists()]  # deepest first
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{source.name}: cannot create {target}: {exc.strerror or exc}") from None
    mirrors = _mirrors(source, url)
    try:
        for remote in wanted:
            failures = []
            for base in mirrors:
                file_url = base.rstrip("/") + "/" + remote.filename
                try:
                    path = download_file(
                        file_url,
                        target / remote.filename,
                        md5=checksums[remote.filename],
                        progress=progress,
                    )
                except DataError as exc:
                    failures.append(str(exc))
                    continue
                found[remote.role] = path
                # A stale raw copy would be preferred to the fresh archive: drop it.
                stale = target / remote.names[-1]
                if force and stale != path and stale.exists():
                    stale.unlink()
                break
            else:
                raise DownloadError(source, remote.filename, failures, url)
    finally:
        # Leave nothing behind: directories this call created and left empty go too.
        for d in created:
            if d.exists() and not any(d.iterdir()):
                d.rmdir()
    return Location(target, origin, found)


def resolve(
    source: Source,
    *,
    path: str | os.PathLike[str] | None = None,
    download: bool = True,
    url: str | None = None,
    md5: Mapping[str, str] | None = None,
) -> Location:
    """Find the files of ``source`` in search order, downloading them if allowed and needed.

    Raises:
        DataError: no local copy and downloading is disabled or failed; the message names
            the places searched, the Debian package, the URL and ``$LAYERKIT_DATA``.
    """
    location = locate(source, path)
    if location is not None:
        return location
    if not download:
        raise DataError(
            f"{source.name}: no local copy, and downloading is disabled (download: false).\n"
            + _searched(source)
            + "\n"
            + _advice(source, url)
        )
    try:
        return fetch(source, url=url, md5=md5)
    except DownloadError as exc:
        raise DownloadError(source, exc.filename, exc.failures, url, searched=True) from None


class DownloadError(DataError):
    """No mirror provided a file; ``failures`` says why, one line per mirror tried."""

    def __init__(
        self,
        source: Source,
        filename: str,
        failures: list[str],
        url: str | None,
        *,
        searched: bool = False,
    ) -> None:
        self.filename = filename
        self.failures = failures
        lines = [f"{source.name}: could not download {filename}:"]
        lines += [f"  {failure}" for failure in failures]
        if searched:
            lines.append(f"No local copy either. {_searched(source)}")
        lines.append(_advice(source, url))
        super().__init__("\n".join(lines))


def _searched(source: Source) -> str:
    dirs = ", ".join(str(d) for _, d in search_dirs(source))
    return f"Searched: {dirs}."


def _advice(source: Source, url: str | None) -> str:
    where = _mirrors(source, url)[0]
    lines = ["To get the files, either:"]
    if source.debian_package:
        lines.append(f"  - install the Debian package: apt-get install {source.debian_package}")
    lines.append(
        f"  - download the {len(source.files)} files from {where} into "
        f"$LAYERKIT_DATA/{source.name} (or a directory given as data.path)"
    )
    lines.append(
        f"  - run `layerkit data fetch {source.name} --dir DIR` on a machine with network access "
        f"and copy DIR/{source.name} here, then set LAYERKIT_DATA=<the folder holding it>"
    )
    return "\n".join(lines)


def _request(url: str) -> Request:
    from urllib.request import Request

    # Some upstream hosts refuse urllib's default User-Agent.
    return Request(url, headers={"User-Agent": f"layerkit/{__version__}"})


def download_file(
    url: str,
    destination: str | os.PathLike[str],
    *,
    md5: str | None,
    progress: bool | None = None,
) -> Path:
    """Download ``url`` to ``destination`` atomically, checking its size and MD5.

    The body is streamed into a temp file in the destination's directory; only a complete
    download whose MD5 matches is fsynced and renamed to ``destination``. Without ``md5``, the
    content is checked to be a valid IDX file instead.

    Raises:
        DataError: HTTP error, network error, truncated transfer, or checksum mismatch.
    """
    # urllib and http.client cost start-up time; only downloads need them
    import urllib.error
    from http.client import HTTPException
    from urllib.request import urlopen

    destination = Path(destination)

    def write(out: IO[bytes]) -> None:
        try:
            with urlopen(_request(url), timeout=TIMEOUT) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                digest, received = _stream(response, out, total, destination.name, progress)
        except urllib.error.HTTPError as exc:
            raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise DataError(f"{url}: {exc.reason}") from None
        except HTTPException as exc:  # IncompleteRead: the server closed the connection early
            raise DataError(f"{url}: transfer interrupted ({type(exc).__name__})") from None
        except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
            raise DataError(f"{url}: {type(exc).__name__}: {exc}") from None
        if total is not None and received != total:
            raise DataError(f"{url}: truncated transfer: received {received:,} of {total:,} bytes")
        if md5 is not None and digest != md5.lower():
            raise DataError(f"{url}: MD5 mismatch: got {digest}, expected {md5.lower()}")

    path = atomic_write(destination, write)
    if md5 is None:
        try:
            read_idx(path)
        except DataError:
            path.unlink(missing_ok=True)
            raise
    log.info("downloaded %s to %s", url, path)
    return path


def _stream(
    response: IO[bytes], out: IO[bytes], total: int | None, label: str, progress: bool | None
) -> tuple[str, int]:
    """Copy ``response`` to ``out``; return the MD5 and the size of what was copied."""
    from tqdm import tqdm

    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=disable,
        file=sys.stderr,
    ) as bar:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return digest.hexdigest(), received
