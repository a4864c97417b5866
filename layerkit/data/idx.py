"""Read and write IDX files, the format of MNIST, Fashion-MNIST and KMNIST (gzipped or raw).

An IDX file is a 4-byte magic number - two zero bytes, a dtype code, the number of dimensions -
then one big-endian uint32 per dimension, then the data in C order. ``0x00000803`` is uint8 with
3 dimensions (images), ``0x00000801`` uint8 with 1 (labels).

The reader checks everything it can before trusting a byte: the magic number, the dtype code,
the dimensions, and that the data is exactly as long as the header says. A gzip file is
recognised by its content, not its name. Every problem is a :class:`~layerkit.errors.DataError`
naming the file and what is wrong with it.

Data is not copied after decompression: the array is a read-only view (``np.frombuffer``) of the
bytes read, uint8 kept.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from layerkit.errors import DataError
from layerkit.fileio import atomic_write

__all__ = [
    "IDX_DTYPES",
    "MAGIC_IMAGES",
    "MAGIC_LABELS",
    "IDXHeader",
    "header_bytes",
    "load_idx",
    "parse_idx",
    "read_idx",
    "read_idx_header",
    "write_idx",
]

#: IDX dtype code -> dtype of the stored (big-endian) values
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in IDX_DTYPES.items()}

MAGIC_IMAGES = 0x00000803
MAGIC_LABELS = 0x00000801

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IDXHeader:
    """The header of an IDX file."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def magic(self) -> int:
        code = _CODES[self.dtype.newbyteorder("=") if self.dtype.itemsize > 1 else self.dtype]
        return (code << 8) | len(self.shape)

    @property
    def nbytes(self) -> int:
        """Size of the header in bytes."""
        return 4 + 4 * len(self.shape)

    @property
    def data_nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        dims = "x".join(str(d) for d in self.shape)
        return f"{dims} {self.dtype.newbyteorder('=').name}"


def _describe_magic(magic: int) -> str:
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    dtype = IDX_DTYPES.get(code)
    what = dtype.newbyteorder("=").name if dtype is not None else f"unknown dtype code 0x{code:02x}"
    return f"0x{magic:08x} ({what}, {ndim} dimension{'s' if ndim != 1 else ''})"


def _read_exact(stream: BinaryIO, n: int, path: Path, what: str) -> bytes:
    data = stream.read(n)
    if len(data) < n:
        raise DataError(f"{path}: truncated: {what} needs {n:,} bytes, the file has {len(data):,}")
    return data


#: Dimensions an IDX file may declare (any NumPy can hold them).
MAX_DIMS = 32


def _parse_header(stream: BinaryIO, path: Path) -> IDXHeader:
    head = stream.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated: {len(head)} bytes, an IDX header needs at least 4")
    if head[:2] == _GZIP_MAGIC:
        raise DataError(f"{path}: gzip-compressed twice (the decompressed data is gzip again)")
    if head[0] != 0 or head[1] != 0:
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{int.from_bytes(head, 'big'):08x} "
            "does not start with two zero bytes"
        )
    code, ndim = head[2], head[3]
    dtype = IDX_DTYPES.get(code)
    if dtype is None:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    if ndim > MAX_DIMS:  # NumPy arrays have at most 32 (NumPy 1) or 64 (NumPy 2) axes
        raise DataError(
            f"{path}: IDX header declares {ndim} dimensions (at most {MAX_DIMS} are supported)"
        )
    dims = _read_exact(stream, 4 * ndim, path, f"the header's {ndim} dimension sizes")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    return IDXHeader(dtype=dtype, shape=shape)


def _check_magic(header: IDXHeader, path: Path, magic: int | None) -> None:
    if magic is not None and header.magic != magic:
        raise DataError(
            f"{path}: wrong magic number {_describe_magic(header.magic)}, "
            f"expected {_describe_magic(magic)}"
        )


def _open(path: Path) -> tuple[BinaryIO, bool]:
    """Open ``path`` for reading, decompressing it if its content is gzip."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned open, the caller closes it
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            return raw, False
        raw.close()
        return gzip.open(path, "rb"), True  # type: ignore[return-value]
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an IDX file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def load_idx(
    path: str | os.PathLike[str],
    *,
    count: int | None = None,
    magic: int | None = None,
    sha256: str | None = None,
) -> tuple[IDXHeader, np.ndarray]:
    """:func:`read_idx`, also returning the header (its shape is the whole file's, ``count``
    or not)."""
    path = Path(path)
    stream, compressed = _open(path)
    kind = "gzip data" if compressed else "file"
    try:
        with stream:
            header = _parse_header(stream, path)
            _check_magic(header, path, magic)
            item = header.data_nbytes // header.shape[0] if header.shape[0] else 0
            total = header.data_nbytes
            if count is not None:
                if count > header.shape[0]:
                    raise DataError(
                        f"{path}: asked for {count:,} items, the file has {header.shape[0]:,}"
                    )
                # A checksum covers the whole file: only a prefix read can skip the rest.
                if sha256 is None:
                    total = count * item
            if not compressed:  # the size of a raw file says it all, even for a prefix read
                _check_size(path, header, os.fstat(stream.fileno()).st_size - header.nbytes, kind)
            data = stream.read(total)
            if len(data) < total:
                _check_size(path, header, len(data), kind)
            if compressed and total == header.data_nbytes and stream.read(1):
                _check_size(path, header, total + 1 + len(stream.read()), kind)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, EOFError):
            reason = "the gzip stream ends before its end-of-stream marker"
        raise DataError(f"{path}: truncated or corrupt gzip file: {reason}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if sha256 is not None:
        digest = hashlib.sha256(header_bytes(header))
        digest.update(data)
        if digest.hexdigest() != sha256:
            raise DataError(
                f"{path}: sha256 of the decompressed content is {digest.hexdigest()}, "
                f"expected {sha256}"
            )
    n = header.shape[0] if count is None else count
    array = np.frombuffer(data, dtype=header.dtype, count=n * (item // header.dtype.itemsize))
    array = array.reshape((n, *header.shape[1:]))
    if header.dtype.byteorder == ">":  # multi-byte IDX values are big-endian; compute natively
        array = array.astype(header.dtype.newbyteorder("="))
        array.flags.writeable = False
    return header, array


def _check_size(path: Path, header: IDXHeader, got: int, kind: str) -> None:
    """Raise unless ``got`` data bytes are what the header declares."""
    if got < header.data_nbytes:
        raise DataError(
            f"{path}: truncated: the header declares {header.describe()} "
            f"({header.data_nbytes:,} data bytes), the {kind} has {max(got, 0):,}"
        )
    if got > header.data_nbytes:
        extra = got - header.data_nbytes
        raise DataError(
            f"{path}: {extra:,} unexpected byte{'s' if extra != 1 else ''} after the "
            f"{header.describe()} data the header declares"
        )


def header_bytes(header: IDXHeader) -> bytes:
    """The bytes of an IDX header (magic number and dimensions)."""
    return header.magic.to_bytes(4, "big") + np.asarray(header.shape, dtype=">u4").tobytes()


def read_idx(
    path: str | os.PathLike[str],
    *,
    count: int | None = None,
    magic: int | None = None,
    sha256: str | None = None,
) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a read-only array of its dtype (uint8 kept).

    Args:
        path: the file; gzip is detected from its first bytes.
        count: read only the first ``count`` items along the first axis. Only the bytes needed
            are decompressed; the header is checked, and a raw file's size too, but the rest of a
            gzip stream is not read (so neither is its CRC).
        magic: the expected magic number, e.g. :data:`MAGIC_IMAGES` (``0x00000803``).
        sha256: the expected sha256 of the whole decompressed file (header included); the
            whole file is read then, even with ``count``.

    Raises:
        DataError: naming the file and what is wrong: not IDX, wrong magic number, unknown dtype
            code, truncated, trailing bytes, corrupt gzip, checksum mismatch.
    """
    return load_idx(path, count=count, magic=magic, sha256=sha256)[1]


def read_idx_header(path: str | os.PathLike[str], *, magic: int | None = None) -> IDXHeader:
    """Read and check only the header of an IDX file."""
    path = Path(path)
    stream, _ = _open(path)
    try:
        with stream:
            header = _parse_header(stream, path)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: truncated or corrupt gzip file: {exc}") from None
    _check_magic(header, path, magic)
    return header


def parse_idx(data: bytes, *, name: str = "<bytes>", magic: int | None = None) -> np.ndarray:
    """Parse IDX content already in memory (gzipped or not); ``name`` is used in errors."""
    path = Path(name)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{path}: truncated or corrupt gzip data: {exc}") from None
    stream = io.BytesIO(data)
    header = _parse_header(stream, path)
    _check_magic(header, path, magic)
    body = memoryview(data)[header.nbytes :]
    _check_size(path, header, len(body), "data")
    array = np.frombuffer(body, dtype=header.dtype).reshape(header.shape)
    return array.astype(header.dtype.newbyteorder("=")) if header.dtype.byteorder == ">" else array


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write ``array`` as an IDX file, atomically (temp file, fsync, rename).

    ``compress`` defaults to whether the name ends in ``.gz``. Supported dtypes: uint8, int8,
    int16, int32, float32, float64.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in _CODES or array.ndim == 0:
        raise DataError(f"{path}: cannot write a {array.ndim}-D {array.dtype} array as IDX")
    stored = np.ascontiguousarray(
        array, dtype=native.newbyteorder(">") if native.itemsize > 1 else native
    )
    header = IDXHeader(dtype=stored.dtype, shape=tuple(int(d) for d in array.shape))
    payload = header_bytes(header) + stored.tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    return atomic_write(path, lambda f: f.write(payload))
