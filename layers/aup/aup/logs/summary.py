"""One pass over a batch of access records: per (account, window) and per (source, window) tallies.

Pure: records in, tallies out. Every rule reads these tallies (added to the ledger's counters), so the
per-line work is a handful of dict and integer operations whatever the number of rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from aup.logs.parse import AccessRecord

MAX_FORWARDED_SAMPLES = 200


class AccountWindow:
    """One account's requests inside one rate window of this batch."""

    __slots__ = (
        "account",
        "agents",
        "bucket",
        "bytes",
        "claimed",
        "errors",
        "failures",
        "forwarded",
        "gap_n",
        "gap_sq",
        "gap_sum",
        "ips",
        "last_ts",
        "paths",
        "requests",
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
        self.undocumented: dict[str, int] = {}
        self.claimed = 0
        self.forwarded: list[tuple[str, str]] = []  # (X-Forwarded-For, source ip), bounded


class SourceWindow:
    """One source address inside one rate window: requests, auth failures, identities presented."""

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


def summarize(
    records: Iterable[AccessRecord],
    *,
    window_ms: int,
    failure_statuses: frozenset[int],
    public_resources: frozenset[str] = frozenset(),
    into: BatchSummary | None = None,
) -> BatchSummary:
    """Tally ``records`` into per-window counts (``into`` to add to an existing summary)."""
    summary = into or BatchSummary()
    accounts = summary.accounts
    sources = summary.sources
    n = 0
    for r in records:
        n += 1
        ts, acct, ip, agent, _method, path, resource, status, length, auth_error, fwd, claimed, key_id = r
        b = ts // window_ms
        s = sources.get((ip, b))
        if s is None:
            s = sources[(ip, b)] = SourceWindow(ip, b)
        s.requests += 1
        s.last_ts = max(s.last_ts, ts)
        failed = bool(auth_error) or status in failure_statuses
        if failed:
            s.failures += 1
        ident = key_id or acct
        if ident:
            s.identities.add(ident)
        if not acct:
            continue
        w = accounts.get((acct, b))
        if w is None:
            w = accounts[(acct, b)] = AccountWindow(acct, b)
        w.requests += 1
        w.bytes += length
        last = w.last_ts
        if last and ts >= last:
            g = ts - last
            w.gap_n += 1
            w.gap_sum += g
            w.gap_sq += g * g
        if ts > last:
            w.last_ts = ts
        paths = w.paths
        paths[path] = paths.get(path, 0) + 1
        agents = w.agents
        agents[agent] = agents.get(agent, 0) + 1
        w.ips.add(ip)
        if status >= 400:
            if status < 500:
                k = (path, status)
                w.errors[k] = w.errors.get(k, 0) + 1
            if failed and not auth_error:
                w.failures += 1
        if not resource or (public_resources and resource not in public_resources):
            w.undocumented[path] = w.undocumented.get(path, 0) + 1
        if claimed and claimed != acct:
            w.claimed += 1
        if fwd and fwd != ip and len(w.forwarded) < MAX_FORWARDED_SAMPLES:
            w.forwarded.append((fwd, ip))
    summary.records += n
    return summary
