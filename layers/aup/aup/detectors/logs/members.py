"""Set members: the short digests the counters keep instead of paths, agents, networks and ids.

Pure hashing, below both the signatures (which remember each path's digests with its class) and the
counters (which write them). A member identifies nothing on its own: it counts distinct values.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache

WALK_BLOCK_BITS = 4  # ids are kept by blocks of 16 consecutive ids: the block's digest, the position


def digest(value: str) -> int:
    """CRC-32 of ``value`` (UTF-8, lone surrogates kept): the integer behind ``tag``."""
    return zlib.crc32(value.encode("utf-8", "surrogatepass"))


def tag(value: str) -> str:
    """A short stable digest for set members (distinct counting, not identification)."""
    return f"{digest(value):08x}"


def walk_head(prefix: str) -> int:
    """The collection's part of its id-set members' digest (``walk_members``), to continue from."""
    return digest(f"{prefix}#")


def walk_members(prefix: str, numbers: Iterable[int]) -> Iterator[str]:
    """Numbered paths of one collection as id-set members: a digest of (collection, block of 16 ids),
    ``tag(f"{prefix}#{number >> WALK_BLOCK_BITS}")``, and the id's position in its block (one hex
    digit). Steps inside a block survive; the id itself is not stored. The collection's part of the
    digest is computed once (CRC-32 continues over the block number)."""
    head = walk_head(prefix)
    for n in numbers:
        yield walk_member_at(head, n)


def walk_member_at(head: int, number: int) -> str:
    """One id-set member from its collection's ``walk_head``."""
    return f"{zlib.crc32(b'%d' % (number >> WALK_BLOCK_BITS), head):08x}{number & 15:x}"


def walk_member(prefix: str, number: int) -> str:
    """One numbered path as an id-set member (``walk_members``)."""
    return walk_member_at(walk_head(prefix), number)


# A segment that names a record rather than a route: digits, a UUID, a long hex or base-36 id with digits;
# with an algorithm's prefix (a registry's ``sha256:<digest>``) or a file's extension (an asset store's
# ``<content hash>.webp``, ``<uuid>.jpg``): a client asking whether it holds many blobs calls one route.
_ID_SEGMENT = re.compile(
    r"(?:[a-z][a-z0-9]{1,9}:)?(?:\d+|[0-9a-fA-F-]{32,36}|(?=[^/]*\d)[0-9A-Za-z_-]{16,})(?:\.[A-Za-z0-9]{1,5}){0,2}"
).fullmatch


@lru_cache(maxsize=50_000)
def route_shape(path: str) -> str:
    """The route a path calls, ids collapsed and the query left out: ``/v1/orders/8812/items?x=1`` is
    ``/v1/orders/{}/items``. Probes ask for many routes; one client calling one route for many of its
    records (a removed version, an expired token) asks for one."""
    return "/".join("{}" if _ID_SEGMENT(seg) else seg for seg in path.split("?", 1)[0].split("/"))
