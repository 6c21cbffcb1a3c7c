"""Hamming-distance search over 256-bit hashes (PDQ) by multi-index hashing, in numpy.

The 256 bits are cut into 16 chunks of 16 bits. Two hashes within `d` bits of each other differ, by the
pigeonhole principle, in at most `d // 16` bits of at least one chunk (31 bits: at most 1 in some
chunk). Each chunk has an exact-match table (the hashes' row numbers sorted by that chunk's value, and
the offset of every one of the 65,536 values in it), so a query looks up, per chunk, its own chunk value
and every value within `d // 16` bits of it (17 look-ups at 31 bits), takes the union of the rows found,
and keeps those whose full distance is within `d` (popcount of the XOR of four 64-bit words).

On uniformly spread hashes a chunk value holds n / 65,536 rows, so a 31-bit query against 1,000,000
hashes verifies about 16 x 17 x 15 = 4,000 candidates instead of a million; `make bench` measures it
(tests/bench/bench_pdq.py). Memory: the hashes (32 bytes each) plus 4 bytes per hash per chunk
(uint32 rows) plus 16 x 65,537 offsets: about 96 bytes a hash.

numpy is imported when an index is built, never at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

CHUNKS = 16
CHUNK_BITS = 16
HASH_BYTES = 32


@dataclass(frozen=True, slots=True)
class Match:
    row: int
    distance: int


def to_bytes(value: int) -> bytes:
    return value.to_bytes(HASH_BYTES, "big")


def pack(values: Iterable[int]) -> np.ndarray:
    """An (n, 32) uint8 array of 256-bit hashes, most significant byte first (the hex order)."""
    import numpy as np

    raw = b"".join(to_bytes(v) for v in values)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, HASH_BYTES)


def _flip_masks(radius: int) -> list[int]:
    masks = [0]
    for r in range(1, radius + 1):
        for bits in combinations(range(CHUNK_BITS), r):
            m = 0
            for b in bits:
                m |= 1 << b
            masks.append(m)
    return masks


class HammingIndex:
    """An immutable multi-index over `n` 256-bit hashes; rows are positions in the packed array."""

    def __init__(self, packed: np.ndarray) -> None:
        import numpy as np

        if packed.ndim != 2 or packed.shape[1] != HASH_BYTES or packed.dtype != np.uint8:
            raise ValueError("expected an (n, 32) uint8 array")
        self._bytes = np.ascontiguousarray(packed)
        n = self._bytes.shape[0]
        # Four 64-bit words per hash for the distance (byte order does not matter for a popcount).
        self._words = self._bytes.view(np.uint64).reshape(n, 4)
        chunks = self._bytes.view(">u2").reshape(n, CHUNKS).astype(np.uint16)
        self._rows: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []
        for c in range(CHUNKS):
            column = chunks[:, c]
            order = np.argsort(column, kind="stable").astype(np.uint32)
            counts = np.bincount(column, minlength=1 << CHUNK_BITS)
            offsets = np.zeros((1 << CHUNK_BITS) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            self._rows.append(order)
            self._offsets.append(offsets)
        self._masks: dict[int, np.ndarray] = {}

    @classmethod
    def from_ints(cls, values: Iterable[int]) -> HammingIndex:
        return cls(pack(values))

    def __len__(self) -> int:
        return int(self._bytes.shape[0])

    @property
    def nbytes(self) -> int:
        return int(
            self._bytes.nbytes + sum(r.nbytes for r in self._rows) + sum(o.nbytes for o in self._offsets)
        )

    def value(self, row: int) -> int:
        return int.from_bytes(self._bytes[row].tobytes(), "big")

    def _masks_for(self, radius: int) -> np.ndarray:
        import numpy as np

        if radius not in self._masks:
            self._masks[radius] = np.array(_flip_masks(radius), dtype=np.int64)
        return self._masks[radius]

    def search(self, value: int, max_distance: int) -> list[Match]:
        """Every row within `max_distance` bits of `value`, nearest first."""
        import numpy as np

        if len(self) == 0 or max_distance < 0:
            return []
        radius = min(max_distance // CHUNKS, CHUNK_BITS)
        masks = self._masks_for(radius)
        query = np.frombuffer(to_bytes(value), dtype=np.uint8)
        qchunks = query.view(">u2").astype(np.int64)
        found: list[np.ndarray] = []
        for c in range(CHUNKS):
            probes = qchunks[c] ^ masks
            offsets = self._offsets[c]
            starts, ends = offsets[probes], offsets[probes + 1]
            rows = self._rows[c]
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                if e > s:
                    found.append(rows[s:e])
        if not found:
            return []
        candidates = np.unique(np.concatenate(found))
        qwords = query.view(np.uint64)
        distances = np.bitwise_count(self._words[candidates] ^ qwords).sum(axis=1)
        keep = distances <= max_distance
        hits = sorted(zip(distances[keep].tolist(), candidates[keep].tolist(), strict=True))
        return [Match(row=int(r), distance=int(d)) for d, r in hits]

    def scan(self, value: int, max_distance: int) -> list[Match]:
        """The same answer by a linear scan (the tests' oracle)."""
        import numpy as np

        if len(self) == 0:
            return []
        qwords = np.frombuffer(to_bytes(value), dtype=np.uint8).view(np.uint64)
        distances = np.bitwise_count(self._words ^ qwords).sum(axis=1)
        rows = np.flatnonzero(distances <= max_distance)
        hits = sorted(zip(distances[rows].tolist(), rows.tolist(), strict=True))
        return [Match(row=int(r), distance=int(d)) for d, r in hits]
