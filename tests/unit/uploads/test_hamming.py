"""The multi-index Hamming search agrees with a linear scan and finds what the pigeonhole promises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads.hamming import HammingIndex, pack


def _flip(value: int, bits: list[int]) -> int:
    for b in bits:
        value ^= 1 << b
    return value


@pytest.fixture(scope="module")
def bank() -> tuple[HammingIndex, list[int]]:
    rng = np.random.default_rng(7)
    values = [int.from_bytes(rng.bytes(32), "big") for _ in range(5000)]
    return HammingIndex.from_ints(values), values


def test_pack_is_the_hex_order() -> None:
    packed = pack([0xAB << 248 | 1])
    assert packed.shape == (1, 32)
    assert packed[0, 0] == 0xAB and packed[0, 31] == 1


@pytest.mark.parametrize("distance", [0, 1, 15, 16, 17, 31])
def test_a_hash_at_every_distance_up_to_the_threshold_is_found(bank, distance: int) -> None:
    index, values = bank
    rng = np.random.default_rng(distance)
    for row in (0, 17, 4999):
        bits = rng.choice(256, size=distance, replace=False).tolist()
        got = index.search(_flip(values[row], bits), 31)
        assert got and got[0].row == row and got[0].distance == distance


def test_the_worst_case_for_the_pigeonhole_is_found() -> None:
    # 31 bits spread as evenly as possible: 15 chunks with 2 flipped, one with 1 (the only exact-1 chunk).
    value = (1 << 256) - 12345
    bits = [c * 16 + k for c in range(15) for k in (0, 9)] + [15 * 16 + 3]
    index = HammingIndex.from_ints([value])
    assert [m.distance for m in index.search(_flip(value, bits), 31)] == [31]
    assert index.search(_flip(value, [*bits, 15 * 16 + 5]), 31) == []  # 32 bits


def test_a_hash_beyond_the_threshold_is_not_returned(bank) -> None:
    index, values = bank
    far = _flip(values[3], list(range(0, 256, 8)))  # 32 bits
    assert all(m.row != 3 for m in index.search(far, 31))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4999), st.lists(st.integers(0, 255), max_size=60, unique=True), st.integers(0, 48))
def test_search_equals_the_linear_scan(row: int, bits: list[int], threshold: int) -> None:
    rng = np.random.default_rng(11)
    values = [int.from_bytes(rng.bytes(32), "big") for _ in range(5000)]
    index = _CACHE.setdefault("index", HammingIndex.from_ints(values))
    query = _flip(values[row], bits)
    assert index.search(query, threshold) == index.scan(query, threshold)


_CACHE: dict[str, HammingIndex] = {}


def test_duplicates_are_all_returned_nearest_first() -> None:
    a, b = 5, 5 ^ 0b111
    index = HammingIndex.from_ints([b, a, a])
    got = index.search(a, 31)
    assert [(m.row, m.distance) for m in got] == [(1, 0), (2, 0), (0, 3)]
    assert index.value(0) == b


def test_an_empty_index_and_a_bad_array() -> None:
    assert HammingIndex.from_ints([]).search(1, 31) == []
    with pytest.raises(ValueError):
        HammingIndex(np.zeros((3, 16), dtype=np.uint8))
