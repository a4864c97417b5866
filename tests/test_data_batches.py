"""BatchIterator: coverage per epoch, seeded order, dtype and scale, reused buffers, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from layerkit.data.base import Split
from layerkit.data.batches import BatchIterator
from layerkit.errors import ConfigError


def indexed_split(n: int = 105) -> Split:
    """uint8 'images' whose pixels encode the sample index (x[i] = i % 251, i // 251)."""
    i = np.arange(n)
    x = np.zeros((n, 1, 2, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = i % 251
    x[:, 0, 0, 1] = i // 251
    x[:, 0, 1, :] = 255
    return Split(x=x, y=(i % 7).astype(np.uint8), scale=1 / 255)


def sample_ids(xb: np.ndarray, scale: float = 1 / 255) -> np.ndarray:
    return np.rint(xb[:, 0, 0, 0] / scale).astype(int) + 251 * np.rint(
        xb[:, 0, 0, 1] / scale
    ).astype(int)


def epoch_ids(it: BatchIterator) -> list[np.ndarray]:
    return [sample_ids(xb).copy() for xb, _ in it]


def test_every_sample_once_per_epoch_in_a_new_order() -> None:
    it = BatchIterator(indexed_split(), 10, dtype=np.float32, rng=np.random.default_rng(0))
    assert len(it) == 11
    first, second = np.concatenate(epoch_ids(it)), np.concatenate(epoch_ids(it))
    np.testing.assert_array_equal(np.sort(first), np.arange(105))
    np.testing.assert_array_equal(np.sort(second), np.arange(105))
    assert not np.array_equal(first, second)


def test_labels_follow_their_samples() -> None:
    split = indexed_split()
    for xb, yb in BatchIterator(split, 16, dtype=np.float64, rng=1):
        assert yb.dtype == np.intp
        np.testing.assert_array_equal(yb, sample_ids(xb) % 7)


def test_seeded_determinism() -> None:
    def run(seed: int) -> list[np.ndarray]:
        it = BatchIterator(indexed_split(), 8, dtype=np.float32, rng=np.random.default_rng(seed))
        return epoch_ids(it) + epoch_ids(it)

    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_epoch_order_depends_only_on_the_rng_state_at_its_start() -> None:
    rng = np.random.default_rng(11)
    it = BatchIterator(indexed_split(), 10, dtype=np.float32, rng=rng)
    epoch_ids(it)
    state = rng.bit_generator.state
    full = epoch_ids(it)
    rng.bit_generator.state = state
    resumed = [sample_ids(xb).copy() for xb, _ in it.epoch(start=4)]  # as after a crash at batch 4
    assert len(resumed) == len(full) - 4
    assert all(np.array_equal(p, q) for p, q in zip(resumed, full[4:]))


def test_without_rng_the_order_is_kept() -> None:
    ids = epoch_ids(BatchIterator(indexed_split(), 25, dtype=np.float32))
    np.testing.assert_array_equal(np.concatenate(ids), np.arange(105))
    assert [len(b) for b in ids] == [25, 25, 25, 25, 5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("rng", [None, 3])
def test_dtype_and_scale(dtype: type, rng: int | None) -> None:
    split = Split(
        x=np.random.default_rng(0).integers(0, 256, (50, 1, 4, 4), dtype=np.uint8),
        y=np.zeros(50, dtype=np.intp),
        scale=1 / 255,
    )
    it = BatchIterator(split, 7, dtype=dtype, rng=rng)
    order = it.order() if rng is not None else np.arange(50)
    it = BatchIterator(split, 7, dtype=dtype, rng=rng)
    got = np.concatenate([xb.copy() for xb, _ in it])
    assert got.dtype == np.dtype(dtype)
    expected = split.x[order].astype(dtype) * np.dtype(dtype).type(1 / 255)
    np.testing.assert_array_equal(got, expected)  # exactly the documented conversion
    np.testing.assert_allclose(
        got, split.x[order] / 255, rtol=2e-3 if dtype == np.float16 else 1e-6
    )
    assert got.max() <= 1


def test_float_data_with_unit_scale() -> None:
    x = np.random.default_rng(0).standard_normal((30, 2))
    split = Split(x=x, y=np.arange(30) % 3)
    batches = [xb.copy() for xb, _ in BatchIterator(split, 8, dtype=np.float64, rng=2)]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)[:, 0]), np.sort(x[:, 0]))
    batches32 = [xb.copy() for xb, _ in BatchIterator(split, 8, dtype=np.float32, rng=2)]
    np.testing.assert_array_equal(
        np.concatenate(batches32), np.concatenate(batches).astype(np.float32)
    )


def test_buffers_are_reused() -> None:
    it = BatchIterator(indexed_split(), 10, dtype=np.float32, rng=0)

    def address(a: np.ndarray) -> int:
        return a.__array_interface__["data"][0]

    addresses = {(address(xb), address(yb)) for _ in range(3) for xb, yb in it}
    assert len(addresses) == 1  # every batch of every epoch, the short last one included
    batches = list(it)  # keeping batches without copying keeps views of one buffer
    assert all(np.shares_memory(batches[0][0], b[0]) for b in batches)


def test_drop_last() -> None:
    it = BatchIterator(indexed_split(), 10, dtype=np.float32, rng=0, drop_last=True)
    assert len(it) == 10
    sizes = [len(xb) for xb, _ in it]
    assert sizes == [10] * 10
    assert len(BatchIterator(indexed_split(100), 10, dtype=np.float32, drop_last=True)) == 10


def test_indices_restrict_the_samples() -> None:
    chosen = np.array([3, 50, 7, 99, 100, 0])
    for rng in (None, 4):
        it = BatchIterator(indexed_split(), 4, dtype=np.float32, rng=rng, indices=chosen)
        assert it.num_samples == 6 and len(it) == 2
        ids = np.concatenate(epoch_ids(it))
        np.testing.assert_array_equal(np.sort(ids), np.sort(chosen))
        if rng is None:
            np.testing.assert_array_equal(ids, chosen)


def test_bad_arguments() -> None:
    split = indexed_split()
    with pytest.raises(ConfigError, match=r"batch_size: must be a positive integer \(received 0\)"):
        BatchIterator(split, 0, dtype=np.float32)
    with pytest.raises(ConfigError, match=r"dtype: must be a floating dtype \(received int32\)"):
        BatchIterator(split, 4, dtype=np.int32)
    with pytest.raises(
        ConfigError, match=r"indices: 105 is out of range for a split of 105 samples"
    ):
        BatchIterator(split, 4, dtype=np.float32, indices=np.array([0, 105]))
    with pytest.raises(ConfigError, match=r"indices: -1 is out of range"):
        BatchIterator(split, 4, dtype=np.float32, indices=[-1, 2])
    with pytest.raises(ConfigError, match=r"indices: must be a 1-D array of integers"):
        BatchIterator(split, 4, dtype=np.float32, indices=np.array([0.5]))


def test_an_epoch_never_copies_the_whole_set() -> None:
    n = 20_000
    split = Split(
        x=np.zeros((n, 1, 28, 28), dtype=np.uint8), y=np.zeros(n, dtype=np.intp), scale=1 / 255
    )
    it = BatchIterator(split, 100, dtype=np.float32, rng=0)
    for _ in it:  # allocate the buffers
        break
    tracemalloc.start()
    try:
        for _ in it:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The data is 15.7 MB; an epoch allocates the permutation (160 kB) and little else.
    assert peak < 0.05 * split.x.nbytes, peak
