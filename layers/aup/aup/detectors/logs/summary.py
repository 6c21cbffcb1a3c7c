"""One batch of access records -> per (account, window) and per (source, window) tallies.

Pure: records in, tallies out. Every rule reads these tallies (added to the ledger's counters), so
the per-line cost does not grow with the number of rules. The only Python-level loop over lines
groups them by account; everything per account is counted with ``Counter``/``map``/``sum``. The
passes that look for odd lines (4xx, 5xx, unmatched resources, claimed accounts, forwarded chains) run only
for the accounts that have such lines (``_Odd``: found with a few passes over the whole batch).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from itertools import compress
from operator import itemgetter, mul, ne, or_, sub

from aup.detectors.logs.parse import RawRecord
from aup.domain.models import is_account_id

MAX_FORWARDED_SAMPLES = 200
GAPS_MIN_LINES = 20

_TS, _IP, _AGENT, _METHOD, _PATH, _RES, _STATUS, _LEN, _ACCT, _KEY, _AUTHERR, _FWD, _CLAIM = range(13)
_ts = itemgetter(_TS)
_ip = itemgetter(_IP)
_agent = itemgetter(_AGENT)
_path = itemgetter(_PATH)
_res = itemgetter(_RES)
_status = itemgetter(_STATUS)
_len = itemgetter(_LEN)
_fwd = itemgetter(_FWD)
_claim = itemgetter(_CLAIM)
_autherr = itemgetter(_AUTHERR)
_acct = itemgetter(_ACCT)


class AccountWindow:
    """One account's requests inside one rate window of this batch."""

    __slots__ = (
        "account",
        "agents",
        "bucket",
        "bytes",
        "claimed",
        "claims",
        "crawler_sources",
        "errors",
        "failures",
        "forwarded",
        "gap_n",
        "gap_sq",
        "gap_sum",
        "greedy",
        "ips",
        "last_ts",
        "paths",
        "requests",
        "server_errors",
        "undocumented",
    )

    def __init__(self, account: str, bucket: int) -> None:
        self.account = account
        self.bucket = bucket
        self.requests = 0
        self.bytes = 0
        self.last_ts = 0
        self.gap_n = 0
        self.gap_sum = 0
        self.gap_sq = 0
        self.paths: dict[str, int] = {}
        self.agents: dict[str, int] = {}
        self.ips: set[str] = set()
        self.errors: dict[tuple[str, int], int] = {}  # (path, 4xx status) -> count
        self.failures = 0  # 401/403 that the backend (not the authorizer) answered
        self.server_errors = 0  # requests the service answered 5xx (it failed them: clients retry those)
        self.undocumented: dict[str, int] = {}
        # paths refused 4xx through a greedy resource (``/{proxy+}``): the API routed them, but to no
        # route of their own (a backend behind it answers 403 for whatever it lacks)
        self.greedy: frozenset[str] = frozenset()
        self.claimed = 0
        self.claims: dict[str, int] = {}  # claimed account value (not the account's own) -> count
        self.forwarded: dict[tuple[str, str], int] = {}  # (X-Forwarded-For, source ip) -> count; not the ip
        # (agent, source ip) -> count of the requests whose agent claims a search crawler (W1: from the
        # crawler's published networks it is the crawler); empty without such an agent
        self.crawler_sources: dict[tuple[str, str], int] = {}


class SourceWindow:
    """One source address inside one rate window: requests, auth failures, identities presented.

    Only sources with at least one failure in the batch are tallied (the D2 rules need failures)."""

    __slots__ = ("bucket", "failures", "identities", "ip", "last_ts", "requests")

    def __init__(self, ip: str, bucket: int) -> None:
        self.ip = ip
        self.bucket = bucket
        self.requests = 0
        self.failures = 0
        self.last_ts = 0
        self.identities: set[str] = set()


class BatchSummary:
    __slots__ = ("accounts", "records", "sources")

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, int], AccountWindow] = {}
        self.sources: dict[tuple[str, int], SourceWindow] = {}
        self.records = 0

    def usage(self) -> dict[str, tuple[int, int, int]]:
        """Per account: (requests, egress bytes, latest event time ms) over the whole batch."""
        out: dict[str, tuple[int, int, int]] = {}
        for w in self.accounts.values():
            n, b, t = out.get(w.account, (0, 0, 0))
            out[w.account] = (n + w.requests, b + w.bytes, max(t, w.last_ts))
        return out


def _int(text: str) -> int:
    return int(text) if text.isdigit() and text.isascii() else 0


def _ints(values: Iterable[str]) -> list[int]:
    try:
        return list(map(int, values))
    except ValueError:  # "-" (absent) somewhere: the slow way
        return [_int(v) for v in values]


def _by_bucket(rs: list[RawRecord], window_ms: int) -> list[tuple[int, list[RawRecord], list[int]]]:
    ts = _ints(map(_ts, rs))
    lo, hi = min(ts), max(ts)
    if lo // window_ms == hi // window_ms:
        return [(lo // window_ms, rs, ts)]
    groups: dict[int, tuple[list[RawRecord], list[int]]] = {}
    for r, t in zip(rs, ts, strict=True):
        g = groups.get(t // window_ms)
        if g is None:
            g = groups[t // window_ms] = ([], [])
        g[0].append(r)
        g[1].append(t)
    return [(b, g[0], g[1]) for b, g in groups.items()]


def _account_window(
    account: str,
    bucket: int,
    rs: list[RawRecord],
    ts: list[int],
    *,
    failure_statuses: frozenset[str],
    public_resources: frozenset[str],
    odd: _Odd,
    crawler_agent: Callable[[str], bool] | None = None,
) -> AccountWindow:
    """``odd``: the accounts of the batch with any line each optional pass looks for; an account
    without such a line gets nothing from that pass, so it is skipped."""
    w = AccountWindow(account, bucket)
    w.requests = len(rs)
    try:
        w.bytes = sum(map(int, map(_len, rs)))
    except ValueError:  # "-" (absent) somewhere: the slow way
        w.bytes = sum(_ints(map(_len, rs)))
    if len(ts) >= GAPS_MIN_LINES:  # timing only matters for busy windows; small groups skip the passes
        ts = sorted(ts)
        gaps = list(map(sub, ts[1:], ts[:-1]))
        w.gap_n, w.gap_sum, w.gap_sq = len(gaps), sum(gaps), sum(map(mul, gaps, gaps))
        w.last_ts = ts[-1]
    else:
        w.last_ts = max(ts)
    w.paths = Counter(map(_path, rs))
    w.agents = Counter(map(_agent, rs))
    w.ips = set(map(_ip, rs))
    if crawler_agent is not None and any(map(crawler_agent, w.agents)):  # rare: a few distinct agents
        w.crawler_sources = Counter((r[_AGENT], r[_IP]) for r in rs if crawler_agent(r[_AGENT]))
    _optional_passes(w, rs, account, failure_statuses, public_resources, odd)
    return w


class _Odd:
    """Accounts with lines each optional pass of ``_account_window`` reads: a 4xx status, a resource
    that is not (or not a public) resource, a claimed account, a forwarded chain that is not the
    source address. Found with C-level passes over the whole batch; honest batches have few."""

    __slots__ = ("claims", "errors", "forwarded", "greedy", "resources", "server_errors")

    def __init__(self, records: list[RawRecord], public_resources: frozenset[str]) -> None:
        def accounts_where(test: Callable[[str], bool], field: Callable[[RawRecord], str]) -> set[str]:
            return set(map(_acct, compress(records, map(test, map(field, records)))))

        statuses = set(map(_status, records))
        bad_status = {s for s in statuses if s[:1] == "4"}
        self.errors = accounts_where(bad_status.__contains__, _status) if bad_status else set()
        failed = {s for s in statuses if s[:1] == "5"}
        self.server_errors = accounts_where(failed.__contains__, _status) if failed else set()
        resources = set(map(_res, records))
        bad_res = {r for r in resources if r in ("-", "") or (public_resources and r not in public_resources)}
        self.resources = accounts_where(bad_res.__contains__, _res) if bad_res else set()
        greedy = {r for r in resources if "+}" in r}
        self.greedy = accounts_where(greedy.__contains__, _res) if greedy and bad_status else set()
        self.claims = accounts_where("-".__ne__, _claim) if set(map(_claim, records)) != {"-"} else set()
        mismatched = compress(records, map(ne, map(_fwd, records), map(_ip, records)))
        self.forwarded = {r[_ACCT] for r in mismatched if r[_FWD] not in ("-", "")}


def _optional_passes(
    w: AccountWindow,
    rs: list[RawRecord],
    account: str,
    failure_statuses: frozenset[str],
    public_resources: frozenset[str],
    odd: _Odd,
) -> None:
    if account in odd.errors:
        statuses = Counter(map(_status, rs))
        if any(s[0] == "4" for s in statuses):
            w.errors = Counter((r[_PATH], int(r[_STATUS])) for r in rs if r[_STATUS][0] == "4")
            if account in odd.greedy:
                w.greedy = frozenset(r[_PATH] for r in rs if r[_STATUS][0] == "4" and "+}" in r[_RES])
            if not failure_statuses.isdisjoint(statuses):
                w.failures = sum(1 for r in rs if r[_STATUS] in failure_statuses and r[_AUTHERR] == "-")
    if account in odd.server_errors:
        w.server_errors = sum(1 for r in rs if r[_STATUS][:1] == "5")
    if account in odd.resources:
        resources = Counter(map(_res, rs))
        if (
            "-" in resources
            or "" in resources
            or (public_resources and not public_resources.issuperset(resources))
        ):
            w.undocumented = Counter(
                r[_PATH]
                for r in rs
                if r[_RES] in ("-", "") or (public_resources and r[_RES] not in public_resources)
            )
    if account in odd.claims:
        claims = Counter(map(_claim, rs))
        if len(claims) > 1 or "-" not in claims:
            w.claims = {k: c for k, c in claims.items() if k not in ("-", "", account)}
            w.claimed = sum(w.claims.values())
    if account in odd.forwarded:
        forwarded = set(map(_fwd, rs))
        if not forwarded.issubset(w.ips) and not (forwarded - w.ips).issubset(("-", "")):
            pairs = Counter(zip(map(_fwd, rs), map(_ip, rs), strict=True))
            forged = [(k, c) for k, c in pairs.items() if k[0] not in ("-", "", k[1])]
            w.forwarded = dict(forged[:MAX_FORWARDED_SAMPLES])


def _sources(
    records: list[RawRecord],
    window_ms: int,
    failure_statuses: frozenset[str],
    into: dict[tuple[str, int], SourceWindow],
) -> None:
    if failure_statuses.isdisjoint(map(_status, records)) and set(map(_autherr, records)) == {"-"}:
        return  # no failure in the batch (the common case), seen with two C-level passes
    failing = map(
        or_,
        map(failure_statuses.__contains__, map(_status, records)),
        map("-".__ne__, map(_autherr, records)),
    )
    failing_ips = set(map(_ip, compress(records, failing)))
    if not failing_ips:
        return
    for r in compress(records, map(failing_ips.__contains__, map(_ip, records))):
        ip = r[_IP]
        ts = _int(r[_TS])
        b = ts // window_ms
        s = into.get((ip, b))
        if s is None:
            s = into[(ip, b)] = SourceWindow(ip, b)
        s.requests += 1
        s.last_ts = max(s.last_ts, ts)
        if r[_STATUS] in failure_statuses or r[_AUTHERR] != "-":
            s.failures += 1
        ident = r[_KEY] if r[_KEY] != "-" else r[_ACCT]
        if ident != "-":
            s.identities.add(ident)


def summarize(
    records: list[RawRecord],
    *,
    window_ms: int,
    failure_statuses: frozenset[int],
    public_resources: frozenset[str] = frozenset(),
    crawler_agent: Callable[[str], bool] | None = None,
) -> BatchSummary:
    """Tally ``records`` (fast-path tuples, see ``parse.RAW_FIELDS``) into window counts.
    ``crawler_agent``: whether an agent claims a search crawler (their sources are kept, by agent)."""
    summary = BatchSummary()
    fail = frozenset(str(s) for s in failure_statuses)
    by_account: dict[str, list[RawRecord]] = {}
    for r in records:
        group = by_account.get(r[_ACCT])
        if group is None:
            by_account[r[_ACCT]] = [r]
        else:
            group.append(r)
    odd = _Odd(records, public_resources)
    for account, rs in by_account.items():
        if account in ("-", "") or not is_account_id(account):
            continue  # unauthenticated (or a refused key's principal): only the source rules see these
        for bucket, part, ts in _by_bucket(rs, window_ms):
            summary.accounts[(account, bucket)] = _account_window(
                account,
                bucket,
                part,
                ts,
                failure_statuses=fail,
                public_resources=public_resources,
                odd=odd,
                crawler_agent=crawler_agent,
            )
    _sources(records, window_ms, fail, summary.sources)
    summary.records = len(records)
    return summary
