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
from operator import sub
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
from aup.domain.models import hash_source
from aup.domain.ports import CounterUpdate
from aup.policy.sections.logs import LogAnalysis

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


@dataclass(slots=True)
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


# Tags of networks and agents, remembered per process: the same few recur in every batch.
_NET_TAGS: dict[str, str] = {}
_AGENT_TAGS: dict[str, str] = {}
TAG_CACHE_LIMIT = 50_000


def _net_tags(ips: set[str]) -> set[str]:
    known = _NET_TAGS
    out = set()
    for ip in ips if len(ips) <= MAX_SET_MEMBERS else list(ips)[:MAX_SET_MEMBERS]:
        t = known.get(ip)
        if t is None:
            if len(known) >= TAG_CACHE_LIMIT:
                known.clear()
            t = known[ip] = tag(network(ip))
        out.add(t)
    return out


def _agent_tags(agents: dict[str, int]) -> set[str]:
    known = _AGENT_TAGS
    out = set()
    for a in agents if len(agents) <= MAX_SET_MEMBERS else list(agents)[:MAX_SET_MEMBERS]:
        t = known.get(a)
        if t is None:
            if len(known) >= TAG_CACHE_LIMIT:
                known.clear()
            t = known[a] = tag(a)
        out.add(t)
    return out


def window_facts(w: AccountWindow, sig: Signatures, cfg: LogAnalysis) -> WindowFacts:
    f = WindowFacts(w.account, w.bucket, w.last_ts, w.bytes)
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
    known = sig.known_paths
    classify = sig.path
    for path, count in w.paths.items():
        flags, prefix, number, _ = known.get(path) or classify(path)
        if flags:
            if flags & SENSITIVE:
                sens += count
                _sample(f, "D1-sensitive-path", path)
            if flags & PAYLOAD:
                payl += count
                _sample(f, "D1-attack-payload", path)
        if number >= 0:
            ids = groups.get(prefix)
            if ids is None:
                groups[prefix] = {number}
            else:
                ids.add(number)
    # W5 enumeration: distinct ids per collection, and how many sit a small step after the previous.
    en = es = 0
    for ids in groups.values():
        if len(ids) < 3:
            continue
        ordered = sorted(ids)
        en += len(ordered)
        # distinct ids: every step is >= 1, so "0 < step <= max" is "step <= max"
        es += sum(map(cfg.scraping.enumeration_max_step.__ge__, map(sub, ordered[1:], ordered[:-1])))
    e = em = fp = 0
    if w.errors:
        errors = cfg.probing.error_statuses
        denied = cfg.break_in.foreign_denied_statuses
        for (path, status), count in w.errors.items():
            if status in errors:
                e += count
                if len(f.error_paths) < MAX_SET_MEMBERS:
                    f.error_paths.add(tag(path))
            info = known.get(path) or classify(path)
            if info.number >= 0 and status in (403, 404):
                em += count
            if status in denied and info.tenant and info.tenant != w.account:
                fp += count
                f.foreign_ids.add(tag(info.tenant))
                _sample(f, "D2-foreign-account-probe", path)
    ud = 0
    if w.undocumented:
        ud = sum(w.undocumented.values())
        for path in list(w.undocumented)[:MAX_SET_MEMBERS]:
            f.undocumented_paths.add(tag(path))
            _sample(f, "W5-undocumented-routes", path)
    xff = (
        sum(c for (chain, ip), c in w.forwarded.items() if forged_forwarded(chain, ip, cfg))
        if w.forwarded
        else 0
    )
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
    if sens or payl or scan or crawl or w.claimed or xff or fp or en or ud:
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
    f.networks = _net_tags(w.ips)
    f.agents = _agent_tags(w.agents)
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


_FIELDS = ("scope", "name", "add", "add_sets", "expires_at")
_set_attr = object.__setattr__
# What ``CounterUpdate.model_construct`` does with every field given, without its per-field loop over
# aliases and defaults; model_construct where the model is not the plain one this mirrors.
_PLAIN_MODEL = (
    tuple(CounterUpdate.model_fields) == _FIELDS
    and not any(f.alias or f.validation_alias for f in CounterUpdate.model_fields.values())
    and not CounterUpdate.__pydantic_post_init__
    and not CounterUpdate.__pydantic_root_model__
    and CounterUpdate.model_config.get("extra") != "allow"
)


def _counter_update(
    scope: str, name: str, add: dict[str, int], add_sets: dict[str, list[str]], expires_at: datetime
) -> CounterUpdate:
    """A ``CounterUpdate`` from checked values, skipping pydantic's validation (the hot path)."""
    if not _PLAIN_MODEL:  # pragma: no cover - a model change this shortcut does not know
        return CounterUpdate.model_construct(
            scope=scope, name=name, add=add, add_sets=add_sets, expires_at=expires_at
        )
    u = CounterUpdate.__new__(CounterUpdate)
    _set_attr(u, "__dict__", dict(zip(_FIELDS, (scope, name, add, add_sets, expires_at), strict=True)))
    _set_attr(u, "__pydantic_fields_set__", set(_FIELDS))
    _set_attr(u, "__pydantic_extra__", None)
    _set_attr(u, "__pydantic_private__", None)
    return u


@dataclass
class CounterPlan:
    """The writes of one batch and the items the rules read back afterwards."""

    updates: list[CounterUpdate]
    facts: list[WindowFacts]
    sources: list[SourceWindow]
    keys: list[tuple[str, str]]


_RATE_KEYS = ("n", "nb", "gn", "gs", "gq", "dp", "e", "ef")
_SLOT_KEYS: dict[str, tuple[tuple[str, ...], str]] = {}


def _slot_keys(slot: str) -> tuple[tuple[str, ...], str]:
    """The rate fields' names in the hour item for one slot prefix, and its error-path set's name."""
    keys = _SLOT_KEYS.get(slot)
    if keys is None:
        keys = _SLOT_KEYS[slot] = (tuple(slot + k for k in _RATE_KEYS), slot + "ep")
    return keys


def plan_counters(summary: BatchSummary, sig: Signatures, cfg: LogAnalysis) -> CounterPlan:
    wsec = cfg.windows.rate_seconds
    wms = wsec * 1000
    updates: dict[tuple[str, str], CounterUpdate] = {}

    def add(scope: str, name: str, end_ms: int, nums: dict[str, int], sets: dict[str, set[str]]) -> None:
        u = updates.get((scope, name))
        if u is None:
            # Built here from checked values: skip pydantic's validation on the hot path.
            updates[(scope, name)] = _counter_update(
                scope,
                name,
                {k: v for k, v in nums.items() if v},
                {k: sorted(members) for k, members in sets.items() if members},
                _expiry(end_ms, cfg),
            )
            return
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
        rate_keys, ep_key = _slot_keys(slot_prefix(start, wms))
        nums = f.hourly.copy()
        nums.update(zip(rate_keys, f.rate.values(), strict=True))
        sets = {
            ep_key: f.error_paths,
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
