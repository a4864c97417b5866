"""The registered datasets: real Fashion-MNIST from the Debian package, and the synthetic sets."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from layerkit.data import BUILTIN_DATASETS, Blobs, FashionMNIST, Spiral, sources
from layerkit.errors import ConfigError
from layerkit.plugins import get_registry

DEBIAN = Path("/usr/share/datasets/fashion-mnist")

# From shared/README.md: the decompressed files are identical to upstream's.
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

needs_debian = pytest.mark.skipif(
    not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
    reason="apt-get install dataset-fashion-mnist (.ci/run installs it)",
)


@pytest.fixture
def system_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the real system directory is searched (no $LAYERKIT_DATA, an empty cache)."""
    monkeypatch.delenv("LAYERKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_all_builtins_are_registered() -> None:
    registry = get_registry()
    assert registry.names("datasets") == ["blobs", "fashion_mnist", "kmnist", "mnist", "spiral"]
    for cls in BUILTIN_DATASETS:
        assert registry.dataset(cls.name) is cls
        assert cls.summary()


@needs_debian
def test_debian_copy_is_found(system_only: None) -> None:
    location = FashionMNIST().locate()
    assert location is not None
    assert location.origin == "system" and location.directory == DEBIAN
    assert location.files["train_images"] == DEBIAN / "train-images-idx3-ubyte.gz"


@needs_debian
@pytest.mark.parametrize(
    "name", ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
)
def test_debian_files_decompress_to_upstream_bytes(name: str) -> None:
    content = gzip.decompress((DEBIAN / f"{name}.gz").read_bytes())
    assert hashlib.sha256(content).hexdigest() == SHA256[name]
    assert (
        FashionMNIST.source.file(
            {"train": "train", "t10k": "test"}[name.split("-")[0]]
            + ("_images" if "images" in name else "_labels")
        ).sha256
        == SHA256[name]
    )


@needs_debian
def test_real_fashion_mnist(system_only: None) -> None:
    dataset = FashionMNIST(verify=True)  # checks the SHA-256 of all four decompressed files
    splits = dataset.load()
    train, test = splits["train"], splits["test"]
    assert train.x.shape == (60_000, 1, 28, 28) and test.x.shape == (10_000, 1, 28, 28)
    assert train.x.dtype == np.uint8 and train.x.nbytes == 47_040_000
    assert train.y.dtype == np.intp and train.y.shape == (60_000,)
    assert train.scale == pytest.approx(1 / 255)
    assert not train.x.flags.writeable
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    np.testing.assert_array_equal(np.bincount(train.y), np.full(10, 6_000))
    np.testing.assert_array_equal(np.bincount(test.y), np.full(10, 1_000))
    assert int(train.x.max()) == 255 and int(train.x.min()) == 0
    info = dataset.describe()
    assert (info.train_size, info.test_size) == (len(train), len(test))
    assert info.class_names[9] == "Ankle boot"


@needs_debian
def test_subsets_are_the_first_samples(system_only: None) -> None:
    full = FashionMNIST().load()
    small = FashionMNIST(train_size=1_000, test_size=300).load()
    assert (len(small["train"]), len(small["test"])) == (1_000, 300)
    np.testing.assert_array_equal(small["train"].x, full["train"].x[:1_000])
    np.testing.assert_array_equal(small["test"].y, full["test"].y[:300])
    # The files are shuffled: even 1,000 samples hold every class.
    assert np.bincount(small["train"].y, minlength=10).min() >= 80


def test_describe_reads_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sources, "SYSTEM_DIRS", (tmp_path,))
    monkeypatch.setenv("LAYERKIT_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    info = FashionMNIST(train_size=500, download=False).describe()
    assert info.input_shape == (1, 28, 28) and info.num_classes == 10
    assert (info.train_size, info.test_size) == (500, 10_000)


@pytest.mark.parametrize("cls", [Spiral, Blobs])
def test_describe_matches_load(cls: type) -> None:
    dataset = cls(classes=4, points_per_class=30, test_points_per_class=20)
    info = dataset.describe()
    splits = dataset.load()
    assert (
        (len(splits["train"]), len(splits["test"]))
        == (info.train_size, info.test_size)
        == (120, 80)
    )
    assert splits["train"].x.shape[1:] == info.input_shape
    assert splits["train"].y.dtype == np.intp
    np.testing.assert_array_equal(np.bincount(splits["train"].y), [30] * 4)


@pytest.mark.parametrize("cls", [Spiral, Blobs])
def test_synthetic_data_is_seeded(cls: type) -> None:
    a, b, c = cls(seed=3).load(), cls(seed=3).load(), cls(seed=4).load()
    np.testing.assert_array_equal(a["train"].x, b["train"].x)
    np.testing.assert_array_equal(a["test"].x, b["test"].x)
    assert not np.array_equal(a["train"].x, c["train"].x)
    assert not np.array_equal(a["train"].x, a["test"].x)
    # The test split does not depend on how many training points were drawn.
    more = cls(seed=3, points_per_class=250, test_points_per_class=100).load()
    np.testing.assert_array_equal(more["test"].x, a["test"].x)


def test_spiral_is_cs231n_spiral() -> None:
    split = Spiral(classes=3, points_per_class=50, noise=0.0).load()["train"]
    x, y = split.x, split.y
    radius = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(radius[y == 1], np.linspace(0, 1, 50), atol=1e-12)
    # Without noise, arm j covers angles 4j..4(j+1) (x = r sin t, y = r cos t).
    angle = np.arctan2(x[:, 0], x[:, 1])
    expected = np.linspace(4.0, 8.0, 50)
    np.testing.assert_allclose(np.angle(np.exp(1j * (angle[y == 1] - expected)))[1:], 0, atol=1e-9)


def test_blobs_cluster_around_centers() -> None:
    dataset = Blobs(classes=3, features=5, points_per_class=2_000, std=0.5, box=4.0)
    centers = dataset.centers()
    assert centers.shape == (3, 5) and np.abs(centers).max() <= 4.0
    split = dataset.load()["train"]
    for j in range(3):
        members = split.x[split.y == j]
        np.testing.assert_allclose(members.mean(axis=0), centers[j], atol=0.05)
        np.testing.assert_allclose(members.std(axis=0), 0.5, rtol=0.06)


def test_synthetic_options_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"spiral.classes: must be >= 2 \(received 1\)"):
        Spiral(classes=1)
    with pytest.raises(ConfigError, match=r"spiral.noise: must be >= 0.0 \(received -0.1\)"):
        Spiral(noise=-0.1)
    with pytest.raises(ConfigError, match=r"blobs.std: must be > 0.0 \(received 0\)"):
        Blobs(std=0)
    with pytest.raises(ConfigError, match=r"blobs.centres: unknown key"):
        Blobs(centres=3)


def test_config_round_trips() -> None:
    dataset = Spiral(classes=5, noise=0.1)
    config = dataset.config()
    assert config["dataset"] == "spiral" and config["classes"] == 5
    options = {k: v for k, v in config.items() if k != "dataset"}
    np.testing.assert_array_equal(Spiral(**options).load()["train"].x, dataset.load()["train"].x)
