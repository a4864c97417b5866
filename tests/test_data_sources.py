"""Where dataset files are found: search order, both directory spellings, explicit paths,
structural checks of local copies, and the offline error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerkit.data import MNIST, FashionMNIST, sources
from layerkit.data.idx import write_idx
from layerkit.errors import ConfigError, DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def tiny_set(
    directory: Path, *, n_train: int = 12, n_test: int = 6, fill: int = 0, gz: bool = True
) -> dict:
    """Write an MNIST-layout set of 28x28 images; pixel (0, 0) of every image holds ``fill``."""
    rng = np.random.default_rng(fill)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = fill
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = (np.arange(n) % 10).astype(np.uint8)
    for role, array in arrays.items():
        write_idx(directory / (FILES[role] + (".gz" if gz else "")), array)
    return arrays


def test_search_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = FashionMNIST.source
    tiny_set(isolated / "system" / "fashion-mnist", fill=4)
    tiny_set(isolated / "cache" / "layerkit" / "fashion_mnist", fill=3)
    tiny_set(isolated / "env" / "fashion_mnist", fill=2)
    tiny_set(isolated / "explicit", fill=1)
    monkeypatch.setenv("LAYERKIT_DATA", str(isolated / "env"))

    def first_pixel(**options: object) -> int:
        return int(
            FashionMNIST(train_size=12, test_size=6, **options).load()["train"].x[0, 0, 0, 0]
        )

    assert sources.locate(source, isolated / "explicit").origin == "data.path"
    assert first_pixel(path=str(isolated / "explicit")) == 1
    assert sources.locate(source).origin == "$LAYERKIT_DATA"
    assert first_pixel() == 2
    monkeypatch.delenv("LAYERKIT_DATA")
    assert sources.locate(source).origin == "cache"
    assert first_pixel() == 3
    for f in (isolated / "cache" / "layerkit" / "fashion_mnist").iterdir():
        f.unlink()
    location = sources.locate(source)
    assert location.origin == "system"
    assert location.directory == isolated / "system" / "fashion-mnist"  # Debian's hyphen
    assert first_pixel() == 4


def test_both_spellings_everywhere(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_set(isolated / "env" / "fashion-mnist")
    monkeypatch.setenv("LAYERKIT_DATA", str(isolated / "env"))
    assert sources.locate(FashionMNIST.source).directory == isolated / "env" / "fashion-mnist"
    assert FashionMNIST.source.dirnames == ("fashion_mnist", "fashion-mnist")
    assert MNIST.source.dirnames == ("mnist",)


def test_incomplete_directory_is_skipped(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_set(isolated / "env" / "mnist")
    (isolated / "env" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    tiny_set(isolated / "cache" / "layerkit" / "mnist")
    monkeypatch.setenv("LAYERKIT_DATA", str(isolated / "env"))
    assert sources.locate(MNIST.source).origin == "cache"


def test_xdg_cache_home_and_its_default(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sources.cache_root() == isolated / "cache" / "layerkit"
    monkeypatch.setenv("HOME", str(isolated / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec says: ignore it
    assert sources.cache_root() == isolated / "home" / ".cache" / "layerkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert sources.cache_root() == isolated / "home" / ".cache" / "layerkit"


def test_raw_files_are_read_and_preferred(isolated: Path) -> None:
    raw = tiny_set(isolated / "d", gz=False, fill=9)
    location = sources.locate(MNIST.source, isolated / "d")
    assert location.files["train_images"].name == "train-images-idx3-ubyte"
    split = MNIST(path=str(isolated / "d"), train_size=12, test_size=6).load()["train"]
    np.testing.assert_array_equal(split.x[:, 0], raw["train_images"])


def test_explicit_path_must_hold_the_files(isolated: Path) -> None:
    tiny_set(isolated / "system" / "fashion-mnist")  # another copy exists, but is not used
    with pytest.raises(DataError, match=r"fashion_mnist: data.path .*/nowhere does not exist"):
        FashionMNIST(path=str(isolated / "nowhere")).load()
    tiny_set(isolated / "partial")
    (isolated / "partial" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"partial lacks train-labels-idx1-ubyte.gz$"):
        FashionMNIST(path=str(isolated / "partial")).load()


def test_offline_error_names_package_url_and_env(isolated: Path) -> None:
    with pytest.raises(DataError) as info:
        FashionMNIST(download=False).load()
    message = str(info.value)
    assert "downloading is disabled" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in message
    assert "$LAYERKIT_DATA/fashion_mnist" in message
    assert str(isolated / "cache" / "layerkit" / "fashion_mnist") in message  # what was searched


def test_unreachable_download_error(isolated: Path) -> None:
    # A closed port on this machine behaves like no network, without leaving it.
    url = "http://127.0.0.1:9/"
    with pytest.raises(DataError) as info:
        FashionMNIST(url=url).load()
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert (
        "http://127.0.0.1:9/train-images-idx3-ubyte.gz: [Errno 111] Connection refused" in message
    )
    assert "apt-get install dataset-fashion-mnist" in message
    assert "$LAYERKIT_DATA/fashion_mnist" in message
    assert not (isolated / "cache").exists()  # the failed download left no directory behind


def test_local_copy_is_checked_structurally(isolated: Path) -> None:
    tiny_set(isolated / "d")
    write_idx(isolated / "d" / "train-labels-idx1-ubyte.gz", np.arange(11, dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"train-labels-idx1-ubyte.gz: 11 labels for the 12 images of "
        r".*train-images-idx3-ubyte.gz$",
    ):
        MNIST(path=str(isolated / "d"), train_size=11).load()
    write_idx(isolated / "d" / "train-labels-idx1-ubyte.gz", np.arange(12, dtype=np.uint8))
    with pytest.raises(DataError, match=r"label 10 at index 10 \(expected class indices 0..9\)"):
        MNIST(path=str(isolated / "d"), train_size=12, test_size=6).load()
    write_idx(isolated / "d" / "train-labels-idx1-ubyte.gz", np.zeros((12, 28, 28), dtype=np.uint8))
    with pytest.raises(
        DataError, match=r"train-labels-idx1-ubyte.gz: wrong magic number 0x00000803"
    ):
        MNIST(path=str(isolated / "d"), train_size=12, test_size=6).load()
    write_idx(isolated / "d" / "train-labels-idx1-ubyte.gz", np.arange(12, dtype=np.uint8) % 10)
    MNIST(path=str(isolated / "d"), train_size=12, test_size=6).load()
    write_idx(isolated / "d" / "t10k-images-idx3-ubyte.gz", np.zeros((6, 32, 32), dtype=np.uint8))
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte.gz: expected 28x28 images, the file has 32x32"
    ):
        MNIST(path=str(isolated / "d"), train_size=12, test_size=6).load()


def test_full_load_requires_the_published_sizes(isolated: Path) -> None:
    tiny_set(isolated / "d")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: 12 images, expected 60,000"):
        MNIST(path=str(isolated / "d")).load()


def test_options_are_validated() -> None:
    with pytest.raises(
        ConfigError, match=r"fashion_mnist.train_size: must be <= 60000 \(received 60001\)"
    ):
        FashionMNIST(train_size=60001)
    with pytest.raises(ConfigError, match=r"mnist.test_size: must be > 0 \(received 0\)"):
        MNIST(test_size=0)
    with pytest.raises(ConfigError, match=r"mnist.flatten: unknown key"):
        MNIST(flatten=True)
    with pytest.raises(
        ConfigError, match=r"mnist.md5: train-images-idx3-ubyte.gz: an MD5 is 32 hexadecimal digits"
    ):
        MNIST(md5={"train-images-idx3-ubyte.gz": "xyz"})
    with pytest.raises(ConfigError, match=r"mnist.url: must match"):
        MNIST(url="ftp://example.org/")
