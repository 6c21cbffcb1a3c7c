"""Batch tallies -> typed window totals -> ledger counter updates; the counters in memory for replays.

Counter items (``CounterUpdate(scope, name)``), one write per item per invocation, never per line:

| scope             | name               | totals (``aup.detectors.logs.totals``)                       |
|-------------------|--------------------|--------------------------------------------------------------|
| account           | ``logs:h:<hour>``  | ``HourTotals``' counts; each rate window's counts, by slot   |
| account           | ``logs:hs:<hour>`` | ``HourTotals``' sets (the W5 id set, networks, agents, ...)  |
| account           | ``logs:rs<W>:<n>`` | a rate window's sets (crawl samples, error paths), by slot   |
| account           | ``logs:d:<day>``   | ``DayTotals``                                                |
| ``source:<hash>`` | ``logs:r<W>:<n>``  | ``SourceTotals``, only for sources with auth failures        |

Set members are short hashes, never raw paths, addresses or agents.

An account's sets live beside its hour item, not in it: DynamoDB bills an update on its item's whole
size, and the hour item is written by every batch that carries the account. With an honest integration's
W5 id set (up to ``ID_SET_LIMIT`` members) and crawl samples inside it, each of those updates cost up to
37 write units (one a started KB); without them it is one. A set item is written only when the batch
brings members the process does not know it to hold (``known_sets``): an hour's id set fills in
minutes, and a batch that adds nothing to a set writes nothing for it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence, Sized
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import compress, islice
from operator import eq, itemgetter, sub
from typing import Any

from aup.detectors.logs.members import route_shape, tag
from aup.detectors.logs.signatures import (
    ADMIN,
    BAD_BOT,
    CRAWLER,
    EXPLOIT,
    LOGIN,
    NON_BROWSER,
    PAYLOAD,
    PROBE,
    SCANNER,
    SENSITIVE,
    Signatures,
)
from aup.detectors.logs.summary import AccountWindow, BatchSummary, SourceWindow
from aup.detectors.logs.totals import (
    EMPTY,
    DayTotals,
    HourTotals,
    RateTotals,
    SourceTotals,
    Totals,
    counter_fields,
)
from aup.domain.models import ANY_ACCOUNT, hash_source, is_account_id
from aup.domain.ports import CounterUpdate
from aup.domain.redact import scrub_text
from aup.policy.sections.logs import LogAnalysis

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MAX_SET_MEMBERS = 500  # per set and batch: bounds item growth, far above every threshold
SAMPLES = 3
TAG_CACHE_LIMIT = 50_000


def source_scope(ip: str) -> str:
    return f"source:{hash_source(ip)}"


def rate_name(window_s: int, bucket: int) -> str:
    """A rate window's name (its source item's, and its findings' ``source_event_id``)."""
    return f"logs:r{window_s}:{bucket}"


def hour_name(hour: int) -> str:
    return f"logs:h:{hour}"


_HOUR_SETS = "logs:hs:"  # + hour
_SLOT_SETS = "logs:rs"  # + window seconds, ":", bucket


def hour_sets_name(hour: int) -> str:
    """The item of an account's hour sets (``HourTotals``' distinct members), beside ``hour_name``'s."""
    return f"{_HOUR_SETS}{hour}"


def slot_sets_name(window_s: int, bucket: int) -> str:
    """The item of an account's rate window sets (stored under their slot's prefix, as in the hour)."""
    return f"{_SLOT_SETS}{window_s}:{bucket}"


def is_sets_name(name: str) -> bool:
    return name.startswith((_HOUR_SETS, _SLOT_SETS))


def sets_hour(name: str) -> int:
    """The UTC hour (since the epoch) a set item's window falls in (the inverse of the two names)."""
    if name.startswith(_HOUR_SETS):
        return int(name.removeprefix(_HOUR_SETS))
    window_s, _, bucket = name.removeprefix(_SLOT_SETS).partition(":")
    return int(bucket) * int(window_s) // 3600


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


@lru_cache(maxsize=64)
def _parsed_networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


@lru_cache(maxsize=TAG_CACHE_LIMIT)
def from_networks(ip: str, networks: tuple[str, ...]) -> bool:
    """Whether ``ip`` lies in one of ``networks`` (CIDR strings; an unparseable address: no)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _parsed_networks(networks))


@lru_cache(maxsize=8)
def _verified_crawler(names: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a lower-case agent names one of the crawlers whose networks the policy lists."""
    if not names:
        return lambda agent: False
    rx = re.compile(rf"\b(?:{'|'.join(map(re.escape, names))})\b")
    return lambda agent: rx.search(agent) is not None


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
    # D2 foreign-account probes: refused requests on paths naming an id of the account form that is
    # not this account's, id -> (requests, sample paths). Counted in ``hour`` only for ids that are
    # real accounts (``plan_counters``' ``accounts_exist``): a CRM's customer ids are no accounts.
    foreign: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    # W1: the other accounts its requests named in X-Account-Id, value -> requests. Counted in ``hour``
    # (``claimed``) less those the account acts for (``plan_counters``' ``acts_for``).
    claims: dict[str, int] = field(default_factory=dict)


def _sample(samples: dict[str, list[str]], rule: str, path: str) -> None:
    """Keep up to ``SAMPLES`` examples per rule, scrubbed (keys, secrets, personal data) and cut."""
    bucket = samples.setdefault(rule, [])
    if len(bucket) < SAMPLES:
        kept = scrub_text(path[:400])[:120]
        if kept not in bucket:
            bucket.append(kept)


@lru_cache(maxsize=TAG_CACHE_LIMIT)  # the same few networks and agents recur in every batch
def _network_tag(ip: str) -> str:
    return tag(network(ip))


_agent_tag = lru_cache(maxsize=TAG_CACHE_LIMIT)(tag)


def _first(members: Iterable[str], n: int = MAX_SET_MEMBERS) -> Iterable[str]:
    return members if isinstance(members, Sized) and len(members) <= n else islice(members, n)


def _fields(w: AccountWindow) -> Iterable[tuple[str, int]]:
    """(value, requests) of the header fields a caller writes: user agents, X-Forwarded-For chains
    that are not the caller's own address, claimed accounts that are not its own."""
    yield from w.agents.items()
    for (chain, _ip), count in w.forwarded.items():
        yield chain, count
    yield from w.claims.items()


def _query_only(
    path: str,
    count: int,
    judged: dict[str, int],
    w: AccountWindow,
    declined_statuses: frozenset[int],
    classify: Callable[[str], Any],
) -> tuple[int, int]:
    """Of ``count`` requests for ``path`` (which carries a payload), those whose payload lies in the query
    string alone: (served, declined). Served: a route of the customer's answered them (not 4xx, not
    unrouted), a value its service accepted, such as its users' searches for ``union select``. Declined:
    a route of the API's own, not a greedy ``/{proxy+}``, answered them with a validation status
    (``declined_statuses``), as a SQL console refuses a typo or a log search a malformed query."""
    if "?" not in path or classify(path.partition("?")[0]).flags & PAYLOAD:
        return 0, 0
    served = max(0, count - judged.get(path, 0))
    if not w.errors or path in w.undocumented or path in w.greedy:
        return served, 0
    return served, sum(w.errors.get((path, status), 0) for status in declined_statuses)


def _refused_or_unrouted(w: AccountWindow) -> dict[str, int]:
    """Path -> requests that matched no route (resource ``-`` or not a public one: every status), or
    were answered 4xx on a route."""
    if not w.errors:
        return w.undocumented
    out: dict[str, int] = dict(w.undocumented)
    for (path, _status), count in w.errors.items():
        if path not in w.undocumented:
            out[path] = out.get(path, 0) + count
    return out


MAX_WALKED_IDS = 256  # id members per window and batch
ID_SET_LIMIT = 2000  # an hour's id set this large stops growing (``plan_counters``' ``full_id_sets``)


def _walked_ids(groups: dict[str, dict[int, str]]) -> set[str]:
    """The window's numbered paths as id-set members (collection -> id -> member), at most
    ``MAX_WALKED_IDS`` (the lowest ids of each collection first, so a walk keeps its steps)."""
    out: set[str] = set()
    for ids in groups.values():
        room = MAX_WALKED_IDS - len(out)
        if room <= 0:
            break
        out.update(map(ids.__getitem__, sorted(ids)[:room]) if len(ids) > room else ids.values())
    return out


_BLOCK = itemgetter(slice(0, 8))  # an id-set member's block digest (``tag``: 8 hex digits) ...
_POSITION = itemgetter(8)  # ... and its position in the block (one hex digit)
_HEX = {f"{i:x}": i for i in range(16)}


BLOCK_MEMO_LIMIT = 128  # id sets whose blocks ``shares_blocks`` remembers (~0.2 MB each when full)
_BLOCK_MEMO: dict[object, tuple[frozenset[str], set[str]]] = {}


def shares_blocks(members: AbstractSet[str], memo: object = None) -> bool:
    """Whether most ids of an id set share a block with another (``walk_steps``' pairs at least half
    its ids, that is at most half as many blocks as ids), without sorting the set: a walk puts most of
    its ids in shared blocks.

    Without ``memo`` it stops as soon as the first members show more blocks than that, so ids drawn
    from a wide range (most hour sets) are judged on half of them. With ``memo`` (a window's key: an
    hour's id set is read again by every batch of the hour, and only grows) the set's blocks are
    remembered, and the next call reads only the members that are new since: the same set (frozen)
    costs nothing. A remembered set that is not part of the new one is ignored (another store's)."""
    most = len(members) / 2
    if memo is None:
        rest = iter(members)
        blocks = set(map(_BLOCK, islice(rest, int(most) + 1)))
        if len(blocks) > most:
            return False
        blocks.update(map(_BLOCK, rest))
        return len(blocks) <= most
    frozen = members if type(members) is frozenset else frozenset(members)
    seen = _BLOCK_MEMO.get(memo)
    if seen is not None:
        old, blocks = seen
        if old is not frozen:
            new = frozen - old
            if len(frozen) - len(new) != len(old):  # not grown from the remembered set
                seen = None
            else:
                blocks.update(map(_BLOCK, new))
    if seen is None:
        blocks = set(map(_BLOCK, frozen))
        if len(_BLOCK_MEMO) >= BLOCK_MEMO_LIMIT:
            _BLOCK_MEMO.clear()
    _BLOCK_MEMO[memo] = (frozen, blocks)
    return len(blocks) <= most


def walk_steps(members: AbstractSet[str], max_step: int) -> tuple[int, int, int]:
    """(ids, pairs of ids sharing a block, those pairs' steps of at most ``max_step``) of an id set:
    a walk puts most of its ids in shared blocks a small step apart; ids drawn from a wide range
    share few blocks. Pairs are neighbours in a block: sorted, the members (``members.walk_member``: the
    block's digest, then one hex digit) run by block, then by position."""
    ordered = sorted(members)
    blocks = list(map(_BLOCK, ordered))
    same = list(map(eq, blocks[1:], blocks))  # each member and the one before it share a block
    positions = list(map(_HEX.__getitem__, map(_POSITION, ordered)))
    # distinct positions in a block: every step is >= 1, so "0 < step <= max" is "step <= max"
    near = map(max_step.__ge__, map(sub, positions[1:], positions))
    return len(ordered), sum(same), sum(compress(near, same))


def window_facts(w: AccountWindow, sig: Signatures, cfg: LogAnalysis) -> WindowFacts:
    samples: dict[str, list[str]] = {}
    nb = bb = scan = crawl = 0
    agent_flags = sig.agent
    for agent, count in w.agents.items():
        flags = agent_flags(agent)
        if flags:
            if flags & (NON_BROWSER | BAD_BOT):
                nb += count
            if flags & BAD_BOT:
                bb += count
            if flags & SCANNER:
                scan += count
            if flags & CRAWLER:
                crawl += count
    crawl_unverified = 0
    if crawl and w.crawler_sources:  # the crawler itself, from its published networks, poses as nobody
        networks = cfg.spoofing.crawler_networks
        named = _verified_crawler(cfg.spoofing.verified_crawlers)
        for (agent, ip), n in w.crawler_sources.items():
            if from_networks(ip, networks):
                crawl -= n
            elif not named(agent.lower()):
                crawl_unverified += n
    sens = payl = served_payl = declined_payl = expl = prb = 0
    declined_statuses = cfg.probing.declined_statuses
    groups: dict[str, dict[int, str]] = {}  # collection -> id -> its member
    classify = sig.path
    field_flags = sig.field
    # Every logged field an attacker writes, not only the path: agents, forwarded chains, claims.
    targets: set[str] = set()  # what the probes asked for (DayTotals.probe_targets), rare: few windows
    sensitive_routes: set[str] = set()
    for value, count in _fields(w):
        ff = field_flags(value)
        if ff & EXPLOIT:
            expl += count
            _sample(samples, "D1-exploit-signature", value)
            targets.add(tag(value))
        elif ff & PAYLOAD:
            payl += count
            _sample(samples, "D1-attack-payload", value)
            targets.add(tag(value))
    # D1 sensitive paths judge what was refused (4xx) or matched no route: a 2xx from the customer's
    # own route (its installers, a migration .sql, a composer.json) is its service, never the finding.
    judged = _refused_or_unrouted(w)
    refusals = cfg.break_in.failure_statuses
    # W5 crawl ratio, batching-independent: the paths whose digest falls in a fixed 1-in-``every``
    # sample (as tags), and their requests.
    every = cfg.scraping.crawl_path_sample
    sampled_paths: set[str] = set()
    sampled_requests = logins = 0
    for path, count in w.paths.items():
        flags, prefix, number, _, crc, member = classify(path)
        if crc % every == 0 and len(sampled_paths) < MAX_SET_MEMBERS:
            sampled_paths.add(f"{crc:08x}")
            sampled_requests += count
        if flags:
            if flags & SENSITIVE and path in judged:
                hits = judged[path]
                if flags & ADMIN and path not in w.undocumented and path not in w.greedy:
                    # a route of the API's own (not a greedy /{proxy+}) declining the key's scope
                    hits -= sum(w.errors.get((path, status), 0) for status in refusals)
                if hits:
                    sens += hits
                    _sample(samples, "D1-sensitive-path", path)
                    route = tag(route_shape(path))
                    sensitive_routes.add(route)
                    targets.add(route)
            if flags & EXPLOIT:
                expl += count
                _sample(samples, "D1-exploit-signature", path)
                targets.add(tag(path))
            elif flags & PAYLOAD:
                served, declined = _query_only(path, count, judged, w, declined_statuses, classify)
                payl += count - served - declined
                served_payl += served
                declined_payl += declined
                _sample(samples, "D1-attack-payload", path)
                if served + declined < count:
                    targets.add(tag(path))
            if flags & PROBE and path in judged:  # a 2xx on the customer's own route is its service
                prb += judged[path]
                _sample(samples, "D1-exploit-probe", path)
                targets.add(tag(route_shape(path)))
            if flags & LOGIN:
                logins += count
        if member:
            ids = groups.get(prefix)
            if ids is None:
                groups[prefix] = {number: member}
            else:
                ids[number] = member
    # W5 enumeration: the ids per collection, as set members; the rule measures the steps on the hour's
    walked = _walked_ids(groups)
    e = em = lf = 0
    error_paths: set[str] = set()
    refused_paths: set[str] = set()
    foreign: dict[str, tuple[int, list[str]]] = {}
    if w.errors:
        errors = cfg.probing.error_statuses
        denied = cfg.break_in.foreign_denied_statuses
        failure_statuses = cfg.break_in.failure_statuses
        for (path, status), count in w.errors.items():
            info, route = classify(path), tag(route_shape(path))
            if status in failure_statuses:
                if info.flags & LOGIN:
                    lf += count
                if len(refused_paths) < MAX_SET_MEMBERS:
                    refused_paths.add(route)
            if status in errors:
                e += count
                if len(error_paths) < MAX_SET_MEMBERS:
                    error_paths.add(route)
            if info.number >= 0 and status in (403, 404):
                em += count
            if status in denied and info.tenant and info.tenant != w.account and is_account_id(info.tenant):
                hits, paths = foreign.get(info.tenant, (0, []))
                if len(paths) < SAMPLES:
                    paths.append(path[:120])
                foreign[info.tenant] = (hits + count, paths)
    undocumented_paths: set[str] = set()
    for path in _first(w.undocumented):
        undocumented_paths.add(tag(path))
        _sample(samples, "W5-undocumented-routes", path)
    rate = RateTotals(
        requests=w.requests,
        non_browser=nb,
        bad_bot=bb,
        gaps=w.gap_n,
        gap_sum=w.gap_sum,
        gap_squares=w.gap_sq,
        sampled_requests=sampled_requests,
        errors=e,
        refused=w.failures,
        server_errors=w.server_errors,
        login_refused=lf,
        logins=logins,
        error_paths=error_paths,
        sampled_paths=sampled_paths,
        refused_paths=refused_paths,
    )
    hour = HourTotals(
        sensitive=sens,
        payload=payl,
        served_payload=served_payl,
        declined_payload=declined_payl,
        exploit=expl,
        probe=prb,
        scanner=scan,
        crawler=crawl,
        crawler_unverified=crawl_unverified,
        claimed=w.claimed,
        forged_forwarded=(
            sum(c for (chain, ip), c in w.forwarded.items() if forged_forwarded(chain, ip, cfg))
            if w.forwarded
            else 0
        ),
        foreign_probes=0,  # filled by plan_counters for the ids that are accounts
        enumeration_misses=em,
        undocumented=sum(w.undocumented.values()),
        foreign_ids=EMPTY,
        walked_ids=walked,
        sensitive_paths=set(_first(sensitive_routes)),
        undocumented_paths=undocumented_paths,
        networks={_network_tag(ip) for ip in _first(w.ips)},
        agents={_agent_tag(a) for a in _first(w.agents)},
    )
    day = DayTotals(
        requests=w.requests,
        egress_bytes=w.bytes,
        probes=sens + payl + expl + prb,
        probe_targets=set(_first(targets)),
        networks=hour.networks,
        agents=hour.agents,
    )
    return WindowFacts(w.account, w.bucket, w.last_ts, rate, hour, day, samples, foreign, w.claims)


@lru_cache(maxsize=4096)
def _expiry(end_ms: int, retention_hours: int) -> datetime:
    return datetime.fromtimestamp(end_ms / 1000, UTC) + timedelta(hours=retention_hours)


@dataclass
class CounterPlan:
    """The writes of one batch and the items the rules read back afterwards.

    ``remembered``: the set items the batch brought nothing new to, not written, with the members
    ``known_sets`` holds for them (the rules read those instead)."""

    updates: list[CounterUpdate]
    facts: list[WindowFacts]
    sources: list[SourceWindow]
    keys: list[tuple[str, str]]
    remembered: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


AccountsExist = Callable[[Sequence[str]], AbstractSet[str]]  # candidate ids -> those that are accounts
# account id -> the accounts it may name in X-Account-Id (``ANY_ACCOUNT``: any);
# docs/clauses.md#w1-and-accounts-acting-for-others
ActsFor = Callable[[str], AbstractSet[str]]


def _acting_for(
    acts_for: ActsFor | None, account: str, cache: dict[str, AbstractSet[str]]
) -> AbstractSet[str]:
    if acts_for is None:
        return frozenset()
    found = cache.get(account)
    if found is None:
        found = cache[account] = acts_for(account)
    return found


def _confirm_claims(facts: list[WindowFacts], acts_for: ActsFor | None) -> None:
    """W1: count the claimed accounts an account does not act for (a platform naming its connected
    accounts is their delegate, not an impersonator); keep samples of those it counted."""
    cache: dict[str, AbstractSet[str]] = {}
    for f in facts:
        if not f.claims:
            continue
        allowed = _acting_for(acts_for, f.account, cache)
        if ANY_ACCOUNT in allowed:
            f.hour.claimed = 0
            continue
        foreign = [(value, n) for value, n in f.claims.items() if value not in allowed]
        f.hour.claimed = sum(n for _, n in foreign)
        for value, _ in foreign:
            _sample(f.samples, "W1-claimed-account", value)


KnownSets = dict[tuple[str, str], dict[str, Any]]  # set item -> its members as last written or read
MAX_FOREIGN_LOOKUPS = 25  # candidate account ids looked up per invocation
# Set items a warm process remembers, the least recently used dropped first: an hour's item and the
# current rate window's of 10,000 accounts are 20,000 (mostly a few members each, ~1 KB)
KNOWN_SETS_LIMIT = 50_000


def _confirm_foreign(
    facts: list[WindowFacts], accounts_exist: AccountsExist | None, acts_for: ActsFor | None = None
) -> None:
    """Count D2 foreign probes only on ids that are real accounts (at most ``MAX_FOREIGN_LOOKUPS``
    candidates an invocation, the most refused first) and that the account does not act for (a refusal
    on a client's path is the client's permissions, not a probe). Without a lookup (a replay without a
    ledger) every id of the account form counts."""
    cache: dict[str, AbstractSet[str]] = {}
    for f in facts:
        if f.foreign and acts_for is not None:
            allowed = _acting_for(acts_for, f.account, cache)
            if allowed:
                f.foreign = (
                    {} if ANY_ACCOUNT in allowed else {t: v for t, v in f.foreign.items() if t not in allowed}
                )
    totals: dict[str, int] = {}
    for f in facts:
        for tenant, (hits, _) in f.foreign.items():
            totals[tenant] = totals.get(tenant, 0) + hits
    if not totals:
        return
    if accounts_exist is None:
        real: AbstractSet[str] = totals.keys()
    else:
        ranked = sorted(totals, key=lambda t: (-totals[t], t))[:MAX_FOREIGN_LOOKUPS]
        real = accounts_exist(ranked)
    for f in facts:
        confirmed = {t: v for t, v in f.foreign.items() if t in real}
        if not confirmed:
            continue
        f.hour.foreign_probes = sum(hits for hits, _ in confirmed.values())
        f.hour.foreign_ids = {tag(t) for t in confirmed}
        for _, paths in confirmed.values():
            for path in paths:
                _sample(f.samples, "D2-foreign-account-probe", path)


def _new_members(
    sets: dict[str, AbstractSet[str]], known: dict[str, Any] | None
) -> dict[str, AbstractSet[str]]:
    """The members of ``sets`` a set item is not known to hold (all of them when nothing is known)."""
    if not known:
        return sets
    out: dict[str, AbstractSet[str]] = {}
    for k, members in sets.items():
        have = known.get(k)
        fresh = members if have is None else members - have
        if fresh:
            out[k] = fresh
    return out


def plan_counters(
    summary: BatchSummary,
    sig: Signatures,
    cfg: LogAnalysis,
    accounts_exist: AccountsExist | None = None,
    full_id_sets: AbstractSet[tuple[str, str]] = frozenset(),
    known_sets: KnownSets | None = None,
    acts_for: ActsFor | None = None,
) -> CounterPlan:
    """``full_id_sets``: (account, hour sets item) whose id set reached ``ID_SET_LIMIT`` when last read
    (the caller remembers them): no more ids are added to those, so the item stays bounded however many
    payloads a busy integration sends. ``known_sets``: what the caller knows each set item to hold; a
    set item is written only with the members it does not hold (not at all when there are none)."""
    wsec = cfg.windows.rate_seconds
    wms = wsec * 1000
    retention = cfg.windows.retention_hours
    nums_of: dict[tuple[str, str], dict[str, int]] = {}
    sets_of: dict[tuple[str, str], dict[str, AbstractSet[str]]] = {}
    ends: dict[tuple[str, str], int] = {}

    def add(scope: str, name: str, end_ms: int, totals: Totals, prefix: str = "", sets_in: str = "") -> None:
        """``totals``' counts into item ``name``, its sets into ``sets_in`` (default: the same item)."""
        more_nums, more_sets = counter_fields(totals, prefix)  # new dicts; the sets are the totals'
        key = (scope, name)
        nums = nums_of.get(key)
        if nums is None:
            nums_of[key], ends[key] = more_nums, end_ms
        else:
            for k, v in more_nums.items():
                nums[k] = nums.get(k, 0) + v
        if not more_sets:
            return
        set_key = (scope, sets_in) if sets_in else key
        sets = sets_of.get(set_key)
        if sets is None:
            sets_of[set_key] = more_sets
            ends.setdefault(set_key, end_ms)
            return
        for k, members in more_sets.items():
            have = sets.get(k)
            sets[k] = members if have is None else have | members  # a new set: totals stay as they are

    facts = [window_facts(w, sig, cfg) for w in summary.accounts.values()]
    _confirm_foreign(facts, accounts_exist, acts_for)
    _confirm_claims(facts, acts_for)
    for f in facts:
        start = f.bucket * wms
        hour = start // HOUR_MS
        day = start // DAY_MS
        # The rate window's counts live in its hour's item, prefixed by the slot: one item fewer per
        # (account, window), and the hour's totals ride along. Their sets live beside it.
        hour_item, hour_sets = hour_name(hour), hour_sets_name(hour)
        hour_end = (hour + 1) * HOUR_MS
        if f.hour.walked_ids and (f.account, hour_sets) in full_id_sets:
            f.hour.walked_ids = EMPTY
        slot_sets = slot_sets_name(wsec, f.bucket)
        add(f.account, hour_item, hour_end, f.rate, slot_prefix(start, wms), slot_sets)
        add(f.account, hour_item, hour_end, f.hour, sets_in=hour_sets)
        for key in ((f.account, slot_sets), (f.account, hour_sets)):  # read back, members or not
            if key not in sets_of:
                sets_of[key], ends[key] = {}, hour_end
        # kept for G1's baseline of the days before (key_sharing.baseline_days)
        add(f.account, day_name(day), (day + 1 + cfg.key_sharing.baseline_days) * DAY_MS, f.day)
    sources = list(summary.sources.values())
    for s in sources:
        totals = SourceTotals(
            requests=s.requests, failures=s.failures, identities={tag(i) for i in _first(s.identities)}
        )
        add(source_scope(s.ip), rate_name(wsec, s.bucket), (s.bucket + 1) * wms, totals)
    # A set item is written with the members it is not known to hold; with none, the rules read what it
    # is known to hold (``remembered``), or what it holds (a read) when nothing is known of it.
    known = known_sets if known_sets is not None else {}
    remembered: dict[tuple[str, str], dict[str, Any]] = {}
    reads: list[tuple[str, str]] = []
    for key, sets in sets_of.items():
        if key in nums_of:
            continue  # the sets of an item with counts (day, source) are written with them
        have = known.get(key)
        fresh = _new_members(sets, have)
        if fresh:
            sets_of[key] = fresh
            nums_of[key] = {}
        elif have is not None:
            remembered[key] = have
        else:
            reads.append(key)
    updates = [
        CounterUpdate(  # a slotted dataclass (domain.ports): well under 1 us each
            scope=scope,
            name=name,
            add=nums,
            add_sets={k: list(members) for k, members in sets_of.get((scope, name), {}).items()},
            expires_at=_expiry(ends[(scope, name)], retention),
        )
        for (scope, name), nums in nums_of.items()
    ]
    return CounterPlan(updates, facts, sources, [*nums_of, *reads], remembered)


class MemoryCounters:
    """The ledger's counter interface in memory (replays and unit tests): same once-per-marker rule.

    Sets are kept frozen and replaced when a batch brings new members, so a read hands them out as
    they are (a copy of every set on every read was a third of a replay's counter time)."""

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
                    have = item.get(k)
                    if have is None:
                        item[k] = frozenset(members)
                    elif not have.issuperset(members):
                        item[k] = have.union(members)
        return True

    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Copies of the items (their sets are frozen: later batches replace them, never change them)."""
        items = self.items
        return {k: dict(items[k]) for k in keys if k in items}
