"""MNIST-format image datasets: Fashion-MNIST, MNIST and Kuzushiji-MNIST.

All three are four IDX files - 60,000 training and 10,000 test 28x28 grey images, uint8 - found
or downloaded as :mod:`layerkit.data.sources` describes. Pixels stay uint8 in memory (47 MB for
the training images, against 188 MB as float32) with ``scale = 1/255``; labels are class
indices. Each image has the per-sample shape ``(1, 28, 28)`` (channels first): ``Affine``
flattens it, ``Conv2D`` takes it as is.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator

from layerkit.data.base import Dataset, DatasetInfo, DatasetParams, Location, Split
from layerkit.data.idx import MAGIC_IMAGES, MAGIC_LABELS, IDXHeader, load_idx
from layerkit.data.sources import RemoteFile, Source, fetch, locate, resolve
from layerkit.errors import DataError

__all__ = ["KMNIST", "MNIST", "FashionMNIST", "IDXImageDataset", "IDXParams"]

TRAIN_SIZE = 60_000
TEST_SIZE = 10_000
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
_FILENAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_ROLES = ("train_images", "train_labels", "test_images", "test_labels")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def _files(
    md5s: tuple[str, str, str, str], sha256s: tuple[str, ...] | None = None
) -> tuple[RemoteFile, ...]:
    digests = sha256s or (None,) * 4
    return tuple(
        RemoteFile(role, filename, md5, sha)
        for role, filename, md5, sha in zip(_ROLES, _FILENAMES, md5s, digests)
    )


class IDXParams(DatasetParams):
    """Options of the MNIST-format datasets (the spec's ``data:`` section)."""

    path: str | None = Field(
        None,
        description="directory holding the four IDX files (gz or raw); when set, nothing else "
        "is searched and nothing is downloaded",
    )
    train_size: Annotated[int, Field(gt=0, le=TRAIN_SIZE)] | None = Field(
        None, description="use only the first N training samples (default: all 60,000)"
    )
    test_size: Annotated[int, Field(gt=0, le=TEST_SIZE)] | None = Field(
        None, description="use only the first N test samples (default: all 10,000)"
    )
    download: bool = Field(True, description="download the files when no local copy exists")
    url: str | None = Field(
        None,
        pattern=r"^(https?|file)://",
        description="base URL to download from instead of the official mirrors",
    )
    md5: dict[str, str] | None = Field(
        None,
        description="expected MD5 per downloaded file name, replacing the published checksums",
    )
    verify: bool = Field(
        False,
        description="check the SHA-256 of every file's decompressed content (where known); "
        "reads whole files",
    )

    @field_validator("md5")
    @classmethod
    def _check_md5(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        for name, digest in value.items():
            if name not in _FILENAMES:
                raise ValueError(f"unknown file {name!r} (files: {', '.join(_FILENAMES)})")
            if not _MD5.fullmatch(digest):
                raise ValueError(f"{name}: an MD5 is 32 hexadecimal digits (received {digest!r})")
        return value


@functools.lru_cache(maxsize=4)
def _read_cached(
    path: str, size: int, mtime_ns: int, count: int | None, magic: int, sha256: str | None
) -> tuple[IDXHeader, np.ndarray]:
    # Keyed on size and mtime so a replaced file is read again; arrays are read-only, so
    # datasets (and tests) loading the same file share one copy safely.
    return load_idx(path, count=count, magic=magic, sha256=sha256)


def _read(
    path: Path, count: int | None, magic: int, sha256: str | None
) -> tuple[IDXHeader, np.ndarray]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _read_cached(str(path), st.st_size, st.st_mtime_ns, count, magic, sha256)


class IDXImageDataset(Dataset[IDXParams]):
    """Base class of 28x28 grey image datasets in four IDX files (the MNIST layout)."""

    Params: ClassVar[type[DatasetParams]] = IDXParams
    has_files: ClassVar[bool] = True
    source: ClassVar[Source]
    class_names: ClassVar[tuple[str, ...]] = tuple(str(i) for i in range(NUM_CLASSES))

    def describe(self) -> DatasetInfo:
        return DatasetInfo(
            input_shape=(1, *IMAGE_SHAPE),
            num_classes=NUM_CLASSES,
            train_size=self.hp.train_size or TRAIN_SIZE,
            test_size=self.hp.test_size or TEST_SIZE,
            class_names=self.class_names,
        )

    def locate(self) -> Location | None:
        return locate(self.source, self.hp.path)

    def fetch(
        self, directory: Path | None = None, *, force: bool = False, progress: bool | None = None
    ) -> Location:
        """Download the files unless a copy exists (in ``directory/<name>`` when given)."""
        if directory is None and not force:
            found = self.locate()
            if found is not None:
                return found
        target = None if directory is None else Path(directory) / self.name
        return fetch(
            self.source, target, url=self.hp.url, md5=self.hp.md5, force=force, progress=progress
        )

    def load(self) -> dict[str, Split]:
        """Read the train and test splits (only the first ``train_size``/``test_size``)."""
        location = resolve(
            self.source,
            path=self.hp.path,
            download=self.hp.download,
            url=self.hp.url,
            md5=self.hp.md5,
        )
        return {
            "train": self._split(location, "train", self.hp.train_size, TRAIN_SIZE),
            "test": self._split(location, "test", self.hp.test_size, TEST_SIZE),
        }

    def _split(self, location: Location, split: str, count: int | None, expected: int) -> Split:
        images_file = location.files[f"{split}_images"]
        labels_file = location.files[f"{split}_labels"]
        verify = self.hp.verify
        images_sha = self.source.file(f"{split}_images").sha256 if verify else None
        labels_sha = self.source.file(f"{split}_labels").sha256 if verify else None
        x_header, x = _read(images_file, count, MAGIC_IMAGES, images_sha)
        y_header, y = _read(labels_file, count, MAGIC_LABELS, labels_sha)
        if x.shape[1:] != IMAGE_SHAPE:
            raise DataError(
                f"{images_file}: expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} images, "
                f"the file has {x.shape[1]}x{x.shape[2]}"
            )
        n_images, n_labels = x_header.shape[0], y_header.shape[0]
        if n_images != n_labels:
            raise DataError(
                f"{labels_file}: {n_labels:,} labels for the {n_images:,} images of {images_file}"
            )
        if count is None and n_images != expected:
            raise DataError(f"{images_file}: {n_images:,} images, expected {expected:,}")
        if y.size and int(y.max()) >= NUM_CLASSES:
            bad = int(np.argmax(y >= NUM_CLASSES))
            raise DataError(
                f"{labels_file}: label {int(y[bad])} at index {bad} "
                f"(expected class indices 0..{NUM_CLASSES - 1})"
            )
        labels = y.astype(np.intp)
        labels.flags.writeable = False
        return Split(x=x.reshape(x.shape[0], 1, *IMAGE_SHAPE), y=labels, scale=1.0 / 255.0)


class FashionMNIST(IDXImageDataset):
    """Fashion-MNIST: 28x28 grey images of 10 kinds of clothing (Zalando; MIT licence)."""

    name = "fashion_mnist"
    source = Source(
        name="fashion_mnist",
        files=_files(
            (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
            (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        debian_package="dataset-fashion-mnist",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    )
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


class MNIST(IDXImageDataset):
    """MNIST: 28x28 grey images of handwritten digits 0-9 (LeCun, Cortes and Burges)."""

    name = "mnist"
    source = Source(
        name="mnist",
        files=_files(
            (
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            )
        ),
        # The original host often refuses downloads; the mirror serves the same archives.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
    )


class KMNIST(IDXImageDataset):
    """Kuzushiji-MNIST: 28x28 grey images of 10 cursive Japanese characters (CC BY-SA 4.0)."""

    name = "kmnist"
    source = Source(
        name="kmnist",
        files=_files(
            (
                "bdb82020997e1d708af4cf47b453dcf7",
                "e144d726b3acfaa3e44228e80efcd344",
                "5c965bf0a639b31b8f53240b1b52f4d7",
                "7320c461ea6c1c855c0b718fb2a4b134",
            )
        ),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        homepage="https://github.com/rois-codh/kmnist",
    )
    class_names = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
