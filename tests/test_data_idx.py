"""The IDX reader on small files written byte by byte: good files, and every way to be bad."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from layerkit.data.idx import (
    MAGIC_IMAGES,
    MAGIC_LABELS,
    IDXHeader,
    parse_idx,
    read_idx,
    read_idx_header,
    write_idx,
)
from layerkit.errors import DataError


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file built by hand, independently of write_idx."""
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


IMAGES = (np.arange(5 * 4 * 3) % 256).astype(np.uint8).reshape(5, 4, 3)
LABELS = np.array([3, 1, 4, 1, 5], dtype=np.uint8)


@pytest.fixture(params=["raw", "gz"])
def write(request, tmp_path: Path):
    """Write raw IDX bytes to a file, gzipped or not; the name never says which."""

    def _write(content: bytes, name: str = "data") -> Path:
        path = tmp_path / name
        path.write_bytes(gzip.compress(content) if request.param == "gz" else content)
        return path

    return _write


def test_reads_images_and_labels_uint8_readonly(write) -> None:
    images = read_idx(write(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes()), "i"), magic=MAGIC_IMAGES)
    labels = read_idx(write(idx_bytes(0x08, (5,), LABELS.tobytes()), "l"), magic=MAGIC_LABELS)
    assert images.dtype == np.uint8 and images.shape == (5, 4, 3)
    np.testing.assert_array_equal(images, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)
    assert not images.flags.writeable


def test_count_reads_a_prefix(write) -> None:
    path = write(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes()))
    np.testing.assert_array_equal(read_idx(path, count=2), IMAGES[:2])
    np.testing.assert_array_equal(read_idx(path, count=5), IMAGES)
    with pytest.raises(DataError, match=r"asked for 6 items, the file has 5"):
        read_idx(path, count=6)


@pytest.mark.parametrize(
    ("code", "dtype"),
    [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
def test_multibyte_dtypes_are_big_endian_on_disk(write, code: int, dtype: type) -> None:
    values = np.array([[-3, 2], [1, 700 if dtype != np.int8 else 7]], dtype=dtype)
    path = write(
        idx_bytes(code, (2, 2), values.astype(np.dtype(dtype).newbyteorder(">")).tobytes())
    )
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_wrong_magic_names_file_and_both_numbers(write) -> None:
    path = write(idx_bytes(0x08, (5,), LABELS.tobytes()), "train-labels")
    with pytest.raises(DataError) as info:
        read_idx(path, magic=MAGIC_IMAGES)
    message = str(info.value)
    assert str(path) in message
    assert "wrong magic number 0x00000801 (uint8, 1 dimension)" in message
    assert "expected 0x00000803 (uint8, 3 dimensions)" in message


def test_not_idx_at_all(write) -> None:
    with pytest.raises(DataError, match=r"not an IDX file: magic number 0x89504e47"):
        read_idx(write(b"\x89PNG\r\n\x1a\n" + bytes(100)))


def test_unknown_dtype_code(write) -> None:
    with pytest.raises(DataError, match=r"unknown IDX dtype code 0x0a"):
        read_idx(write(idx_bytes(0x0A, (1,), b"\x00")))


def test_zero_dimensions(write) -> None:
    with pytest.raises(DataError, match=r"declares 0 dimensions"):
        read_idx(write(bytes([0, 0, 8, 0])))


def test_truncated_header_dims(write) -> None:
    path = write(bytes([0, 0, 8, 3]) + struct.pack(">I", 5))  # 3 dims declared, 1 given
    with pytest.raises(
        DataError, match=r"truncated: the header's 3 dimension sizes needs 12 bytes, the file has 4"
    ):
        read_idx(path)


def test_truncated_data(write) -> None:
    path = write(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes()[:-7]))
    with pytest.raises(
        DataError, match=r"truncated: the header declares 5x4x3 uint8 \(60 data bytes\).* has 53"
    ):
        read_idx(path)


def test_dims_larger_than_data(write) -> None:
    path = write(idx_bytes(0x08, (60000, 28, 28), IMAGES.tobytes()))
    with pytest.raises(DataError, match=r"60000x28x28 uint8 \(47,040,000 data bytes\).* has 60$"):
        read_idx(path)


def test_trailing_bytes(write) -> None:
    path = write(idx_bytes(0x08, (5,), LABELS.tobytes() + b"xyz"))
    with pytest.raises(DataError, match=r"3 unexpected bytes after the 5 uint8 data"):
        read_idx(path)


def test_raw_prefix_read_still_checks_file_size(tmp_path: Path) -> None:
    path = tmp_path / "raw"
    path.write_bytes(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes()[:-1]))
    with pytest.raises(DataError, match=r"truncated: .* the file has 59$"):
        read_idx(path, count=1)
    path.write_bytes(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes() + b"\0"))
    with pytest.raises(DataError, match=r"1 unexpected byte after the 5x4x3 uint8 data"):
        read_idx(path, count=1)


def test_tiny_files(write) -> None:
    with pytest.raises(DataError, match=r"truncated: 2 bytes, an IDX header needs at least 4"):
        read_idx(write(b"\x00\x00"))


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes()))[:-12])
    with pytest.raises(DataError, match=rf"{path}: truncated or corrupt gzip file"):
        read_idx(path)


def test_corrupt_gzip_crc(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes()), compresslevel=0))
    data[-8] ^= 0xFF  # the CRC32 of the trailer
    path = tmp_path / "c.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(
        DataError, match=rf"{path}: truncated or corrupt gzip file: CRC check failed"
    ):
        read_idx(path)


def test_corrupt_deflate_data(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes())))
    data[12:20] = b"\xff" * 8
    path = tmp_path / "d.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"{path}: truncated or corrupt gzip file"):
        read_idx(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope: no such file"):
        read_idx(tmp_path / "nope")
    with pytest.raises(DataError, match=r"is a directory"):
        read_idx(tmp_path)


def test_sha256_of_decompressed_content(write) -> None:
    content = idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes())
    path = write(content)
    good = hashlib.sha256(content).hexdigest()
    np.testing.assert_array_equal(read_idx(path, sha256=good, count=2), IMAGES[:2])
    with pytest.raises(
        DataError, match=rf"sha256 of the decompressed content is {good}, expected 0+$"
    ):
        read_idx(path, sha256="0" * 64)


def test_header_only(write) -> None:
    header = read_idx_header(write(idx_bytes(0x08, (60000, 28, 28), b"")))
    assert header == IDXHeader(np.dtype(np.uint8), (60000, 28, 28))
    assert header.magic == MAGIC_IMAGES and header.nbytes == 16


def test_write_idx_matches_hand_built_bytes(tmp_path: Path) -> None:
    raw = write_idx(tmp_path / "x-idx3-ubyte", IMAGES)
    assert raw.read_bytes() == idx_bytes(0x08, (5, 4, 3), IMAGES.tobytes())
    packed = write_idx(tmp_path / "x-idx3-ubyte.gz", IMAGES)
    assert gzip.decompress(packed.read_bytes()) == raw.read_bytes()
    values = np.array([1.5, -2.0], dtype=np.float32)
    write_idx(tmp_path / "f", values)
    assert (tmp_path / "f").read_bytes() == idx_bytes(0x0D, (2,), values.astype(">f4").tobytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "x-idx3-ubyte", "x-idx3-ubyte.gz"]


def test_write_idx_refuses_unsupported_dtypes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot write a 1-D complex128 array as IDX"):
        write_idx(tmp_path / "c", np.zeros(3, dtype=complex))
    assert not any(tmp_path.iterdir())


def test_parse_idx_from_memory() -> None:
    content = idx_bytes(0x08, (5,), LABELS.tobytes())
    np.testing.assert_array_equal(parse_idx(content), LABELS)
    np.testing.assert_array_equal(parse_idx(gzip.compress(content), magic=MAGIC_LABELS), LABELS)
    with pytest.raises(DataError, match=r"upload: truncated"):
        parse_idx(content[:-1], name="upload")
