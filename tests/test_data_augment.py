"""Augmentations: what each computes (against a per-image reference), seeding, training batches
only, spec validation and round trip, and a third-party augmentation through the hook."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from layerkit import plugins
from layerkit.data.augment import Augmenter, HorizontalFlip, RandomErasing, RandomShift
from layerkit.data.base import Split
from layerkit.data.batches import BatchIterator
from layerkit.errors import ConfigError, SpecError
from layerkit.plugins import get_registry
from layerkit.run import _prepare
from layerkit.spec import build_network, loads_spec


def images(n: int = 64, c: int = 2, h: int = 7, w: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)


def test_random_shift_is_a_random_crop_of_the_padded_image() -> None:
    x = images()
    out = x.copy()
    RandomShift(pixels=2, fill=-1.0).apply(out, np.random.default_rng(3))
    draws = np.random.default_rng(3)
    dy, dx = draws.integers(0, 5, size=64), draws.integers(0, 5, size=64)
    for i in range(64):  # the per-image reference the vectorised gather must match
        padded = np.pad(x[i], ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
        np.testing.assert_array_equal(out[i], padded[:, dy[i] : dy[i] + 7, dx[i] : dx[i] + 9])
    assert out.dtype == np.float32 and not np.array_equal(out, x)


def test_hflip_mirrors_the_chosen_images_only() -> None:
    x = images()
    out = x.copy()
    HorizontalFlip(p=0.5).apply(out, np.random.default_rng(1))
    chosen = np.random.default_rng(1).random(64) < 0.5
    np.testing.assert_array_equal(out[chosen], x[chosen, :, :, ::-1])
    np.testing.assert_array_equal(out[~chosen], x[~chosen])
    never = x.copy()
    HorizontalFlip(p=0.0).apply(never, np.random.default_rng(1))
    np.testing.assert_array_equal(never, x)


def test_random_erasing_writes_one_rectangle_per_chosen_image() -> None:
    x = images(n=200, h=20, w=20) + 1.0  # never 0, the erasing value
    out = x.copy()
    RandomErasing(p=0.5, scale=(0.05, 0.2), value=0.0).apply(out, np.random.default_rng(2))
    erased = out == 0.0
    assert np.array_equal(
        erased, np.broadcast_to(erased[:, :1], erased.shape)
    )  # every channel alike
    np.testing.assert_array_equal(out[~erased], x[~erased])
    touched = erased[:, 0].any(axis=(1, 2))
    assert 60 < touched.sum() < 140
    for mask in erased[touched, 0]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask.sum() == rows.size * cols.size  # one solid rectangle
        assert rows.size * cols.size <= 0.2 * 400 * 1.5


def test_params_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"p: must be <= 1"):
        HorizontalFlip(p=2)
    with pytest.raises(ConfigError, match=r"scale: must be \[min, max\] with min <= max"):
        RandomErasing(scale=(0.4, 0.1))
    with pytest.raises(ConfigError, match="pixels must be smaller than the image"):
        RandomShift(pixels=5).check((1, 4, 4))


def split(n: int = 50) -> Split:
    x = (np.arange(n * 2 * 3 * 4) % 251).astype(np.uint8).reshape(n, 2, 3, 4)
    return Split(x=x, y=np.arange(n) % 3, scale=1 / 255)


def test_training_batches_are_augmented_in_the_reused_buffer() -> None:
    data = split()
    plain = BatchIterator(data, 16, dtype=np.float32, rng=np.random.default_rng(0))
    flipped = BatchIterator(
        data,
        16,
        dtype=np.float32,
        rng=np.random.default_rng(0),
        augment=Augmenter([HorizontalFlip(p=1.0)], np.random.default_rng(1)),
    )
    buffers = set()
    for (xa, ya), (xb, yb) in zip(plain, flipped):
        np.testing.assert_array_equal(xb, xa[..., ::-1])
        np.testing.assert_array_equal(ya, yb)
        buffers.add(xb.__array_interface__["data"][0])
    assert len(buffers) == 1


def test_the_same_seed_draws_the_same_augmentations() -> None:
    def epoch(seed: int) -> np.ndarray:
        augmenter = Augmenter(
            [RandomShift(pixels=1), RandomErasing(p=0.5)], np.random.default_rng(seed)
        )
        it = BatchIterator(
            split(), 16, dtype=np.float32, rng=np.random.default_rng(0), augment=augmenter
        )
        return np.concatenate([x.copy() for x, _ in it])

    assert np.array_equal(epoch(4), epoch(4))
    assert not np.array_equal(epoch(4), epoch(5))


AUGMENTED = """\
name: augmented
seed: 3
data:
  dataset: fashion_mnist
  train_size: 200
  test_size: 100
  augment:
    - {type: random_shift, pixels: 2}
    - {type: hflip}
model:
  layers:
    - {type: Affine, units: 10}
    - {type: SoftmaxWithLoss}
"""


def test_a_spec_runs_augmentations_on_training_batches_only() -> None:
    spec = loads_spec(AUGMENTED, filename="a.yaml")
    assert [type(a).__name__ for a in spec.data.create_augmentations()] == [
        "RandomShift",
        "HorizontalFlip",
    ]
    trainer, _ = _prepare(spec)
    assert isinstance(trainer._train_batches.augment, Augmenter)
    assert all(it.augment is None for it in trainer._eval.values())
    trainer.fit()
    assert trainer.checkpoint_state()[1]["rng"]["augment"]["bit_generator"] == "PCG64"


def test_the_spec_round_trips_with_defaults_filled_in() -> None:
    spec = loads_spec(AUGMENTED, filename="a.yaml")
    data = spec.to_dict()["data"]
    assert data["augment"] == [
        {"type": "random_shift", "pixels": 2, "fill": 0.0},
        {"type": "hflip", "p": 0.5},
    ]
    assert loads_spec(spec.to_yaml(), filename="b.yaml") == spec
    without = loads_spec(
        AUGMENTED.split("  augment:")[0] + AUGMENTED.split("    - {type: hflip}\n")[1],
        filename="c.yaml",
    )
    assert "augment" not in without.to_dict()["data"]


def test_augmentations_that_do_not_fit_the_data_are_located() -> None:
    text = AUGMENTED.replace("fashion_mnist\n  train_size: 200\n  test_size: 100", "spiral")
    with pytest.raises(SpecError) as info:
        build_network(loads_spec(text, filename="s.yaml"))
    assert [str(i).split(": ")[0:2] for i in info.value.issues] == [
        ["s.yaml:6:7", "data.augment[0]"],
        ["s.yaml:7:7", "data.augment[1]"],
    ]


PLUGIN = '''
import numpy as np
from pydantic import Field

from layerkit import hookimpl
from layerkit.data.augment import Augmentation, AugmentationParams


class NoiseParams(AugmentationParams):
    std: float = Field(0.1, gt=0, description="standard deviation of the added noise")


class Noise(Augmentation):
    """Add Gaussian noise."""

    name = "noise"
    Params = NoiseParams

    def check(self, input_shape):
        pass

    def apply(self, x, rng):
        x += rng.normal(0.0, self.hp.std, size=x.shape).astype(x.dtype)


@hookimpl
def layerkit_add_augmentations():
    return [Noise]
'''


@pytest.fixture
def noise_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    (tmp_path / "lk_noise_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(plugins.ENV_PLUGINS, "lk_noise_plugin")
    plugins.configure()
    get_registry(reload=True)
    yield
    monkeypatch.delenv(plugins.ENV_PLUGINS)
    sys.modules.pop("lk_noise_plugin", None)
    plugins.configure()
    get_registry(reload=True)


def test_a_plugin_adds_an_augmentation_through_the_hook(noise_plugin: None) -> None:
    entry = get_registry().lookup("augmentations", "noise")
    assert entry.plugin == "lk_noise_plugin" and entry.kind == "augmentation"
    spec = loads_spec(
        AUGMENTED.replace("{type: hflip}", "{type: noise, std: 0.05}"), filename="n.yaml"
    )
    assert spec.data.augment[1].to_config() == {"type": "noise", "std": 0.05}
    with pytest.raises(SpecError, match=r"data.augment\[1\].std: must be > 0"):
        loads_spec(AUGMENTED.replace("{type: hflip}", "{type: noise, std: 0}"), filename="n.yaml")
