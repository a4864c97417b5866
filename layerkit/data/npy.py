"""Reading ``.npy`` files given by users, with the header checked before anything is allocated.

``np.load`` trusts the header: a 100-byte file claiming shape ``(10**12, 2)`` makes it try to
allocate 16 TB (a ``MemoryError`` traceback). :func:`read_npy` compares the size the header
claims with the bytes the file holds first, refuses object arrays, and reads plain arrays only
(``allow_pickle=False``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from layerkit.errors import DataError

__all__ = ["read_npy"]


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """The array in ``path``; :class:`DataError` naming the file for anything else."""
    path = Path(path)
    fmt = np.lib.format
    try:
        with path.open("rb") as fh:
            try:
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, fortran, dtype = fmt.read_array_header_2_0(fh)
                else:  # 3.0 (utf-8 field names): np.load checks it as below, minus the size
                    shape, dtype = None, None
            except ValueError as exc:
                raise DataError(f"{path}: not a .npy file ({exc})") from None
            data_bytes = path.stat().st_size - fh.tell()
            if dtype is not None and shape is not None:
                if dtype.hasobject:
                    raise DataError(
                        f"{path}: not a plain .npy array: it holds Python objects (dtype {dtype}), "
                        "which are never loaded; inputs must be numbers"
                    )
                items = math.prod(shape)
                needed = items * dtype.itemsize
                if needed != data_bytes:
                    raise DataError(
                        f"{path}: the header says shape {shape} of {dtype} = {items:,} x "
                        f"{dtype.itemsize} = {needed:,} bytes, but the file holds {data_bytes:,} bytes "
                        "of data (truncated or damaged)"
                    )
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: not a plain .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: unreadable .npy file ({exc})") from None
