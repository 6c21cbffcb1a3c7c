"""The analyzer's window totals: typed values the tallies write and the rules read, by attribute name.

Each class is one kind of window; each field declares, once, the short attribute name its value has in
the ledger's counter item (``count("n")``: an integer the ledger ``ADD``s; ``distinct("ep")``: a string
set the ledger unions, members being short hashes). ``counter_fields``, ``read`` and ``stored_name``
are the only code that knows those names. A new total is one field here, the tally that fills it
(``counters.py``) and the rule that reads it (``rules.py``); its threshold lives in
``aup.policy.sections.logs``. A class declares its counts before its sets.

| class           | counter item (scope, name)             | stored as                | its sets in          |
|-----------------|----------------------------------------|--------------------------|----------------------|
| ``RateTotals``  | (account, ``logs:h:<hour>``)           | by its slot: ``s7.n``    | ``logs:rs<W>:<n>``   |
| ``HourTotals``  | (account, ``logs:h:<hour>``)           | unprefixed               | ``logs:hs:<hour>``   |
| ``DayTotals``   | (account, ``logs:d:<day>``)            | unprefixed               | the same item        |
| ``SourceTotals``| (``source:<hash>``, ``logs:r<W>:<n>``) | unprefixed               | the same item        |

The stored names are those of the previous releases, so counters already in a ledger keep counting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

_STORED = "stored"
_DISTINCT = "distinct"
EMPTY: frozenset[str] = frozenset()


def count(stored: str) -> Any:
    """An integer total, ``ADD``-ed in the counter item under ``stored``."""
    return dataclasses.field(default=0, metadata={_STORED: stored})


def distinct(stored: str) -> Any:
    """A set of short hashes (distinct paths, networks, agents), unioned under ``stored``."""
    return dataclasses.field(default=EMPTY, metadata={_STORED: stored, _DISTINCT: True})


@dataclass(slots=True)
class RateTotals:
    """One account's rate window (``windows.rate_seconds``): D5a, D1 error bursts, D2, W5 crawl ratio."""

    requests: int = count("n")
    non_browser: int = count("nb")  # requests from non-browser, scraper or scanner agents
    bad_bot: int = count("bb")  # requests from declared scraper / offline-reader agents
    gaps: int = count("gn")  # inter-arrival gaps measured (busy batches only) ...
    gap_sum: int = count("gs")  # ... their sum (ms) ...
    gap_squares: int = count("gq")  # ... and the sum of their squares
    # W5 crawl ratio, batching-independent: the paths whose hash falls in a fixed 1-in-N sample
    # (``scraping.crawl_path_sample``), kept as a set (unioned over the window, whatever the payloads),
    # and the requests for those paths: |set| / requests estimates distinct paths / requests (exactly
    # 1.0 for a crawler) from a set N times smaller than the window's paths.
    sampled_requests: int = count("dpn")
    errors: int = count("e")  # responses with a probing error status
    refused: int = count("ef")  # 401/403 answered by the backend (not the authorizer)
    server_errors: int = count("sx")  # responses 5xx: requests the service failed (D5a: retries of those)
    login_refused: int = count("lf")  # 401/403 on login-like routes (break_in.login_routes) ...
    logins: int = count("lg")  # ... and every request on them, whatever its answer
    error_paths: AbstractSet[str] = distinct("ep")  # routes (``members.route_shape``) answered an error
    sampled_paths: AbstractSet[str] = distinct("dps")
    refused_paths: AbstractSet[str] = distinct("rfp")  # routes the backend refused 401/403 (D2)


@dataclass(slots=True)
class HourTotals:
    """One account's hour: D1 signatures, D2 foreign-account probes, W5 enumeration, W1, G1 sharing."""

    sensitive: int = count("sens")
    payload: int = count("payl")
    scanner: int = count("scan")
    crawler: int = count("crawl")  # authenticated requests from an agent claiming a search crawler ...
    # ... of which: claims of a crawler whose networks the policy does not list (cannot be verified)
    crawler_unverified: int = count("crawlu")
    claimed: int = count("claim")
    forged_forwarded: int = count("xff")
    foreign_probes: int = count("fp")
    enumeration_misses: int = count("em")  # 403/404 on numbered paths
    undocumented: int = count("ud")
    exploit: int = count("expl")  # requests carrying an unambiguous exploit payload in any field
    # requests whose payload is only in the query string of a route that answered them (not 4xx): what a
    # search box's users type as often as what an injection sends; ``payload`` counts the others
    served_payload: int = count("spl")
    # ... and those a route of the API's own declined with a validation status (400, 422): its users'
    # malformed queries as often as an injection's; a burst of them (``declined_payload_min_hits``) is not
    declined_payload: int = count("dpl")
    probe: int = count("prb")  # requests for a published exploit path (CVE probe URI, web shell)
    foreign_ids: AbstractSet[str] = distinct("fid")
    # W5 enumeration: the hour's numbered paths as members (``members.walk_member``: a digest of the
    # collection and block of 16 ids, and the position), so the walk's steps are measured over the
    # whole hour whatever the batching, without storing an id; bounded, see counters.py
    walked_ids: AbstractSet[str] = distinct("eid")
    sensitive_paths: AbstractSet[str] = distinct("snp")  # routes of the ``sensitive`` requests (D1)
    undocumented_paths: AbstractSet[str] = distinct("udp")
    networks: AbstractSet[str] = distinct("net")
    agents: AbstractSet[str] = distinct("ua")


@dataclass(slots=True)
class DayTotals:
    """One account's UTC day: D5b, and D1's slow probing."""

    requests: int = count("n")
    egress_bytes: int = count("b")
    probes: int = count("dpr")  # D1 evidence (sensitive, payload, exploit, probe requests) of the day
    networks: AbstractSet[str] = distinct("net")  # G1's baseline: the day's distinct networks ...
    agents: AbstractSet[str] = distinct("ua")  # ... and agents
    # what the day's probes asked for, as tags: sensitive and probed routes, payload paths and fields
    probe_targets: AbstractSet[str] = distinct("dpt")


@dataclass(slots=True)
class SourceTotals:
    """One source address's rate window (only sources with auth failures): D2 IP-scoped rules."""

    requests: int = count("n")
    failures: int = count("f")
    identities: AbstractSet[str] = distinct("id")


Totals = RateTotals | HourTotals | DayTotals | SourceTotals
T = TypeVar("T", RateTotals, HourTotals, DayTotals, SourceTotals)


class _Layout(NamedTuple):
    values: Callable[[Any], tuple[Any, ...]]  # the fields' values: the counts, then the sets
    counts: tuple[str, ...]  # stored names, prefixed
    sets: tuple[str, ...]
    keys: tuple[str, ...]  # counts + sets
    defaults: tuple[Any, ...]


_CLASSES: dict[str, type] = {c.__name__: c for c in (RateTotals, HourTotals, DayTotals, SourceTotals)}


@lru_cache(maxsize=256)  # per class and rate slot
def _layout(class_name: str, prefix: str) -> _Layout:
    fields = dataclasses.fields(_CLASSES[class_name])
    counts = [f for f in fields if _DISTINCT not in f.metadata]
    sets = [f for f in fields if _DISTINCT in f.metadata]
    if list(fields) != counts + sets:
        raise TypeError(f"{class_name}: declare its counts before its sets")
    count_keys = tuple(prefix + f.metadata[_STORED] for f in counts)
    set_keys = tuple(prefix + f.metadata[_STORED] for f in sets)
    return _Layout(
        attrgetter(*(f.name for f in fields)),
        count_keys,
        set_keys,
        count_keys + set_keys,
        tuple(f.default for f in fields),
    )


@lru_cache(maxsize=64)
def stored_name(cls: type, field_name: str) -> str:
    """The name ``cls``'s field ``field_name`` has in the counter item (unprefixed)."""
    return next(f.metadata[_STORED] for f in dataclasses.fields(cls) if f.name == field_name)


def counter_fields(totals: Totals, prefix: str = "") -> tuple[dict[str, int], dict[str, AbstractSet[str]]]:
    """The non-zero counts and non-empty sets of ``totals``, under their stored (``prefix``-ed) names."""
    layout = _layout(type(totals).__name__, prefix)
    values = layout.values(totals)
    n = len(layout.counts)
    counts, members = values[:n], values[n:]
    nums = dict(compress(zip(layout.counts, counts, strict=True), counts))
    sets = dict(compress(zip(layout.sets, members, strict=True), members))
    return nums, sets


def read(cls: type[T], item: Mapping[str, Any], prefix: str = "", sets: Mapping[str, Any] | None = None) -> T:
    """``cls`` from a counter item as the store returns it (ints and sets, as written); absent: zero.
    ``sets``: the item its sets are kept in, when that is another (an account's hour and rate windows)."""
    layout = _layout(cls.__name__, prefix)
    if sets is None:
        return cls(*map(item.get, layout.keys, layout.defaults))  # fields in declaration order
    n = len(layout.counts)
    counts = map(item.get, layout.counts, layout.defaults[:n])
    return cls(*counts, *map(sets.get, layout.sets, layout.defaults[n:]))
