"""Batch tallies -> ledger counter updates, and the counter names the rules read back.

Counter items (``CounterUpdate(scope, name)``), one write per item per invocation, never per line:

| scope            | name                 | fields                                                           |
|------------------|----------------------|------------------------------------------------------------------|
| account          | ``logs:h:<hour>``    | per rate window W in the hour, prefixed ``s<slot>.``: n nb gn gs |
|                  |                      | gq dp e ef and set ep; for the hour: sens payl scan crawl claim  |
|                  |                      | xff fp en es em ud (when non-zero), sets fid udp net ua          |
| account          | ``logs:d:<day>``     | n b (requests and egress bytes per UTC day)                      |
| ``source:<hash>``| ``logs:r<W>:<n>``    | only for sources with auth failures in the batch: n f, set id    |

Set members are short hashes, never raw paths, addresses or agents.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from aup.ledger import CounterUpdate
from aup.logs.settings import LogAnalysis
from aup.logs.signatures import BAD_BOT, CRAWLER, NON_BROWSER, PAYLOAD, SCANNER, SENSITIVE, Signatures
from aup.logs.summary import AccountWindow, BatchSummary, SourceWindow
from aup.models import hash_source

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MAX_SET_MEMBERS = 500  # per set and batch: bounds item growth, far above every threshold
SAMPLES = 3


def tag(value: str) -> str:
    """A short stable digest for set members (distinct counting, not identification)."""
    return f"{zlib.crc32(value.encode('utf-8', 'surrogatepass')):08x}"


def source_scope(ip: str) -> str:
    return f"source:{hash_source(ip)}"


def rate_name(window_s: int, bucket: int) -> str:
    return f"logs:r{window_s}:{bucket}"


def slot_prefix(start_ms: int, window_ms: int) -> str:
    """Field prefix of a rate window inside its hour's counter item (``s7.n``: slot 7's requests)."""
    return f"s{(start_ms % HOUR_MS) // window_ms}."


def rate_window_totals(hour_totals: dict[str, Any], prefix: str) -> dict[str, Any]:
    n = len(prefix)
    return {k[n:]: v for k, v in hour_totals.items() if k.startswith(prefix)}


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


@dataclass
class WindowFacts:
    """What one account's rate window of this batch shows, derived with the signatures."""

    account: str
    bucket: int
    last_ts: int
    bytes: int = 0
    rate: dict[str, int] = field(default_factory=dict)
    error_paths: set[str] = field(default_factory=set)
    hourly: dict[str, int] = field(default_factory=dict)
    foreign_ids: set[str] = field(default_factory=set)
    undocumented_paths: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    samples: dict[str, list[str]] = field(default_factory=dict)


def _sample(facts: WindowFacts, rule: str, path: str) -> None:
    bucket = facts.samples.setdefault(rule, [])
    if len(bucket) < SAMPLES and path not in bucket:
        bucket.append(path[:120])


def window_facts(w: AccountWindow, sig: Signatures, cfg: LogAnalysis) -> WindowFacts:
    f = WindowFacts(w.account, w.bucket, w.last_ts, w.bytes)
    nb = scan = crawl = 0
    for agent, count in w.agents.items():
        flags = sig.agent(agent)
        if flags & (NON_BROWSER | BAD_BOT):
            nb += count
        if flags & SCANNER:
            scan += count
        if flags & CRAWLER:
            crawl += count
    sens = payl = 0
    groups: dict[str, set[int]] = {}
    known = sig.known_paths
    for path, count in w.paths.items():
        info = known.get(path) or sig.path(path)
        if info.flags & SENSITIVE:
            sens += count
            _sample(f, "D1-sensitive-path", path)
        if info.flags & PAYLOAD:
            payl += count
            _sample(f, "D1-attack-payload", path)
        if info.number >= 0:
            groups.setdefault(info.prefix, set()).add(info.number)
    # W5 enumeration: distinct ids per collection, and how many sit a small step after the previous.
    en = es = 0
    for ids in groups.values():
        if len(ids) < 3:
            continue
        ordered = sorted(ids)
        en += len(ordered)
        step = cfg.scraping.enumeration_max_step
        es += sum(1 for a, b in pairwise(ordered) if 0 < b - a <= step)
    errors = cfg.probing.error_statuses
    denied = cfg.break_in.foreign_denied_statuses
    e = em = fp = 0
    for (path, status), count in w.errors.items():
        if status in errors:
            e += count
            if len(f.error_paths) < MAX_SET_MEMBERS:
                f.error_paths.add(tag(path))
        info = known.get(path) or sig.path(path)
        if info.number >= 0 and status in (403, 404):
            em += count
        if status in denied and info.tenant and info.tenant != w.account:
            fp += count
            f.foreign_ids.add(tag(info.tenant))
            _sample(f, "D2-foreign-account-probe", path)
    ud = sum(w.undocumented.values())
    for path in list(w.undocumented)[:MAX_SET_MEMBERS]:
        f.undocumented_paths.add(tag(path))
        _sample(f, "W5-undocumented-routes", path)
    xff = sum(c for (chain, ip), c in w.forwarded.items() if forged_forwarded(chain, ip, cfg))
    f.rate = {
        "n": w.requests,
        "nb": nb,
        "gn": w.gap_n,
        "gs": w.gap_sum,
        "gq": w.gap_sq,
        "dp": len(w.paths),
        "e": e,
        "ef": w.failures,
    }
    hourly = {
        "sens": sens,
        "payl": payl,
        "scan": scan,
        "crawl": crawl,
        "claim": w.claimed,
        "xff": xff,
        "fp": fp,
        "en": en,
        "es": es,
        "em": em if en else 0,
        "ud": ud,
    }
    f.hourly = {k: v for k, v in hourly.items() if v}
    f.networks = {tag(network(ip)) for ip in list(w.ips)[:MAX_SET_MEMBERS]}
    f.agents = {tag(a) for a in list(w.agents)[:MAX_SET_MEMBERS]}
    return f


_EXPIRIES: dict[tuple[int, int], datetime] = {}


def _expiry(end_ms: int, cfg: LogAnalysis) -> datetime:
    key = (end_ms, cfg.windows.retention_hours)
    at = _EXPIRIES.get(key)
    if at is None:
        if len(_EXPIRIES) > 4096:
            _EXPIRIES.clear()
        at = _EXPIRIES[key] = datetime.fromtimestamp(end_ms / 1000, UTC) + timedelta(hours=key[1])
    return at


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
    updates: dict[tuple[str, str], CounterUpdate] = {}

    def add(scope: str, name: str, end_ms: int, nums: dict[str, int], sets: dict[str, set[str]]) -> None:
        u = updates.get((scope, name))
        if u is None:
            # Built here from checked values: skip pydantic's validation on the hot path.
            u = updates[(scope, name)] = CounterUpdate.model_construct(
                scope=scope, name=name, add={}, add_sets={}, expires_at=_expiry(end_ms, cfg)
            )
        for k, v in nums.items():
            if v:
                u.add[k] = u.add.get(k, 0) + v
        for k, members in sets.items():
            if members:
                have = u.add_sets.get(k)
                u.add_sets[k] = sorted(members.union(have) if have else members)

    facts = [window_facts(w, sig, cfg) for w in summary.accounts.values()]
    for f in facts:
        start = f.bucket * wms
        hour = start // HOUR_MS
        day = start // DAY_MS
        # The rate window's fields live in its hour's item, prefixed by the slot: one item fewer per
        # (account, window), and the hour's G1 sets and signals ride along.
        slot = slot_prefix(start, wms)
        nums = {**f.hourly, **{slot + k: v for k, v in f.rate.items()}}
        sets = {
            slot + "ep": f.error_paths,
            "fid": f.foreign_ids,
            "udp": f.undocumented_paths,
            "net": f.networks,
            "ua": f.agents,
        }
        add(f.account, f"logs:h:{hour}", (hour + 1) * HOUR_MS, nums, sets)
        add(f.account, f"logs:d:{day}", (day + 2) * DAY_MS, {"n": f.rate["n"], "b": f.bytes}, {})
    sources = list(summary.sources.values())
    for s in sources:
        ids = {tag(i) for i in list(s.identities)[:MAX_SET_MEMBERS]}
        add(
            source_scope(s.ip),
            rate_name(wsec, s.bucket),
            (s.bucket + 1) * wms,
            {"n": s.requests, "f": s.failures},
            {"id": ids},
        )
    return CounterPlan(list(updates.values()), facts, sources, list(updates))


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
