"""Batch tallies -> typed window totals -> ledger counter updates; the counters in memory for replays.

Counter items (``CounterUpdate(scope, name)``), one write per item per invocation, never per line:

| scope             | name              | totals (``aup.detectors.logs.totals``)                          |
|-------------------|-------------------|-----------------------------------------------------------------|
| account           | ``logs:h:<hour>`` | ``HourTotals``, and each rate window's ``RateTotals`` by slot   |
| account           | ``logs:d:<day>``  | ``DayTotals``                                                   |
| ``source:<hash>`` | ``logs:r<W>:<n>`` | ``SourceTotals``, only for sources with auth failures           |

Set members are short hashes, never raw paths, addresses or agents.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice, pairwise
from typing import Any

from aup.detectors.logs.signatures import (
    BAD_BOT,
    CRAWLER,
    NON_BROWSER,
    PAYLOAD,
    SCANNER,
    SENSITIVE,
    Signatures,
)
from aup.detectors.logs.summary import AccountWindow, BatchSummary, SourceWindow
from aup.detectors.logs.totals import DayTotals, HourTotals, RateTotals, SourceTotals, Totals, counter_fields
from aup.domain.models import hash_source
from aup.domain.ports import CounterUpdate
from aup.policy.sections.logs import LogAnalysis

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MAX_SET_MEMBERS = 500  # per set and batch: bounds item growth, far above every threshold
SAMPLES = 3
TAG_CACHE_LIMIT = 50_000


def tag(value: str) -> str:
    """A short stable digest for set members (distinct counting, not identification)."""
    return f"{zlib.crc32(value.encode('utf-8', 'surrogatepass')):08x}"


def source_scope(ip: str) -> str:
    return f"source:{hash_source(ip)}"


def rate_name(window_s: int, bucket: int) -> str:
    """A rate window's name (its source item's, and its findings' ``source_event_id``)."""
    return f"logs:r{window_s}:{bucket}"


def hour_name(hour: int) -> str:
    return f"logs:h:{hour}"


def day_name(day: int) -> str:
    return f"logs:d:{day}"


def slot_prefix(start_ms: int, window_ms: int) -> str:
    """Field prefix of a rate window inside its hour's counter item (``s7.n``: slot 7's requests)."""
    return f"s{(start_ms % HOUR_MS) // window_ms}."


def network(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to; the address itself when unparseable."""
    if ":" not in ip:
        return ip.rpartition(".")[0]
    try:
        return str(ipaddress.IPv6Network(f"{ip}/48", strict=False).network_address)
    except ValueError:
        return ip


def forged_forwarded(chain: str, source_ip: str, cfg: LogAnalysis) -> bool:
    """An X-Forwarded-For chain no honest proxy writes: garbage or loopback hops, too long, or not
    ending with the caller's address (API Gateway appends it). Private hops alone are honest proxies."""
    hops = [h.strip() for h in chain.split(",")]
    if len(hops) > cfg.spoofing.forwarded_max_hops:
        return True
    addresses = []
    for hop in hops:
        try:
            addr = ipaddress.ip_address(hop)
        except ValueError:
            return True
        if addr.is_loopback or addr.is_unspecified or addr.is_link_local or addr.is_multicast:
            return True
        addresses.append(addr)
    if cfg.spoofing.forwarded_ends_with_source:
        try:
            return addresses[-1] != ipaddress.ip_address(source_ip)
        except ValueError:
            return False
    return False


@dataclass(slots=True)
class WindowFacts:
    """What one account's rate window of this batch shows, derived with the signatures."""

    account: str
    bucket: int
    last_ts: int
    rate: RateTotals
    hour: HourTotals
    day: DayTotals
    samples: dict[str, list[str]] = field(default_factory=dict)


def _sample(samples: dict[str, list[str]], rule: str, path: str) -> None:
    bucket = samples.setdefault(rule, [])
    if len(bucket) < SAMPLES and path not in bucket:
        bucket.append(path[:120])


@lru_cache(maxsize=TAG_CACHE_LIMIT)  # the same few networks and agents recur in every batch
def _network_tag(ip: str) -> str:
    return tag(network(ip))


_agent_tag = lru_cache(maxsize=TAG_CACHE_LIMIT)(tag)


def _first(members: Iterable[str], n: int = MAX_SET_MEMBERS) -> Iterable[str]:
    return members if isinstance(members, Sized) and len(members) <= n else islice(members, n)


def window_facts(w: AccountWindow, sig: Signatures, cfg: LogAnalysis) -> WindowFacts:
    samples: dict[str, list[str]] = {}
    nb = scan = crawl = 0
    agent_flags = sig.agent
    for agent, count in w.agents.items():
        flags = agent_flags(agent)
        if flags:
            if flags & (NON_BROWSER | BAD_BOT):
                nb += count
            if flags & SCANNER:
                scan += count
            if flags & CRAWLER:
                crawl += count
    sens = payl = 0
    groups: dict[str, set[int]] = {}
    classify = sig.path
    for path, count in w.paths.items():
        flags, prefix, number, _ = classify(path)
        if flags:
            if flags & SENSITIVE:
                sens += count
                _sample(samples, "D1-sensitive-path", path)
            if flags & PAYLOAD:
                payl += count
                _sample(samples, "D1-attack-payload", path)
        if number >= 0:
            ids = groups.get(prefix)
            if ids is None:
                groups[prefix] = {number}
            else:
                ids.add(number)
    # W5 enumeration: distinct ids per collection, and how many sit a small step after the previous.
    en = es = 0
    max_step = cfg.scraping.enumeration_max_step
    for ids in groups.values():
        if len(ids) < 3:
            continue
        ordered = sorted(ids)
        en += len(ordered)
        # distinct ids: every step is >= 1, so "0 < step <= max" is "step <= max"
        es += sum(b - a <= max_step for a, b in pairwise(ordered))
    e = em = fp = 0
    error_paths: set[str] = set()
    foreign_ids: set[str] = set()
    if w.errors:
        errors = cfg.probing.error_statuses
        denied = cfg.break_in.foreign_denied_statuses
        for (path, status), count in w.errors.items():
            if status in errors:
                e += count
                if len(error_paths) < MAX_SET_MEMBERS:
                    error_paths.add(tag(path))
            info = classify(path)
            if info.number >= 0 and status in (403, 404):
                em += count
            if status in denied and info.tenant and info.tenant != w.account:
                fp += count
                foreign_ids.add(tag(info.tenant))
                _sample(samples, "D2-foreign-account-probe", path)
    undocumented_paths: set[str] = set()
    for path in _first(w.undocumented):
        undocumented_paths.add(tag(path))
        _sample(samples, "W5-undocumented-routes", path)
    rate = RateTotals(
        requests=w.requests,
        non_browser=nb,
        gaps=w.gap_n,
        gap_sum=w.gap_sum,
        gap_squares=w.gap_sq,
        distinct_paths=len(w.paths),
        errors=e,
        refused=w.failures,
        error_paths=error_paths,
    )
    hour = HourTotals(
        sensitive=sens,
        payload=payl,
        scanner=scan,
        crawler=crawl,
        claimed=w.claimed,
        forged_forwarded=sum(c for (chain, ip), c in w.forwarded.items() if forged_forwarded(chain, ip, cfg)),
        foreign_probes=fp,
        enumerated_ids=en,
        enumeration_steps=es,
        enumeration_misses=em if en else 0,
        undocumented=sum(w.undocumented.values()),
        foreign_ids=foreign_ids,
        undocumented_paths=undocumented_paths,
        networks={_network_tag(ip) for ip in _first(w.ips)},
        agents={_agent_tag(a) for a in _first(w.agents)},
    )
    day = DayTotals(requests=w.requests, egress_bytes=w.bytes)
    return WindowFacts(w.account, w.bucket, w.last_ts, rate, hour, day, samples)


@lru_cache(maxsize=4096)
def _expiry(end_ms: int, retention_hours: int) -> datetime:
    return datetime.fromtimestamp(end_ms / 1000, UTC) + timedelta(hours=retention_hours)


@dataclass
class CounterPlan:
    """The writes of one batch and the items the rules read back afterwards."""

    updates: list[CounterUpdate]
    facts: list[WindowFacts]
    sources: list[SourceWindow]
    keys: list[tuple[str, str]]


def plan_counters(summary: BatchSummary, sig: Signatures, cfg: LogAnalysis) -> CounterPlan:
    wsec = cfg.windows.rate_seconds
    wms = wsec * 1000
    retention = cfg.windows.retention_hours
    nums_of: dict[tuple[str, str], dict[str, int]] = {}
    sets_of: dict[tuple[str, str], dict[str, set[str]]] = {}
    ends: dict[tuple[str, str], int] = {}

    def add(scope: str, name: str, end_ms: int, totals: Totals, prefix: str = "") -> None:
        key = (scope, name)
        more_nums, more_sets = counter_fields(totals, prefix)
        nums = nums_of.get(key)
        if nums is None:
            nums_of[key], sets_of[key], ends[key] = (
                more_nums,
                {k: set(v) for k, v in more_sets.items()},
                end_ms,
            )
            return
        for k, v in more_nums.items():
            nums[k] = nums.get(k, 0) + v
        sets = sets_of[key]
        for k, members in more_sets.items():
            have = sets.get(k)
            if have is None:
                sets[k] = set(members)
            else:
                have.update(members)

    facts = [window_facts(w, sig, cfg) for w in summary.accounts.values()]
    for f in facts:
        start = f.bucket * wms
        hour = start // HOUR_MS
        day = start // DAY_MS
        # The rate window's totals live in its hour's item, prefixed by the slot: one item fewer per
        # (account, window), and the hour's totals ride along.
        hour_item = hour_name(hour)
        add(f.account, hour_item, (hour + 1) * HOUR_MS, f.rate, slot_prefix(start, wms))
        add(f.account, hour_item, (hour + 1) * HOUR_MS, f.hour)
        add(f.account, day_name(day), (day + 2) * DAY_MS, f.day)
    sources = list(summary.sources.values())
    for s in sources:
        totals = SourceTotals(
            requests=s.requests, failures=s.failures, identities={tag(i) for i in _first(s.identities)}
        )
        add(source_scope(s.ip), rate_name(wsec, s.bucket), (s.bucket + 1) * wms, totals)
    updates = [
        CounterUpdate(  # a slotted dataclass (domain.ports): well under 1 us each
            scope=scope,
            name=name,
            add=nums,
            add_sets={k: sorted(members) for k, members in sets_of[(scope, name)].items()},
            expires_at=_expiry(ends[(scope, name)], retention),
        )
        for (scope, name), nums in nums_of.items()
    ]
    return CounterPlan(updates, facts, sources, list(nums_of))


class MemoryCounters:
    """The ledger's counter interface in memory (replays and unit tests): same once-per-marker rule."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.markers: set[str] = set()
        self.writes = 0

    def add_counters_once(
        self, marker: str, updates: Sequence[CounterUpdate], marker_ttl: Any = None
    ) -> bool:
        if marker in self.markers:
            return False
        self.markers.add(marker)
        for u in updates:
            self.writes += 1
            item = self.items.setdefault((u.scope, u.name), {})
            for k, v in u.add.items():
                item[k] = item.get(k, 0) + v
            for k, members in u.add_sets.items():
                if members:
                    item.setdefault(k, set()).update(members)
        return True

    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            k: {f: (set(v) if isinstance(v, set) else v) for f, v in self.items[k].items()}
            for k in keys
            if k in self.items
        }
