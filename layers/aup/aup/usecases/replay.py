"""Backtest the analyzer on a file of access-log lines (``aupctl replay``): the handler's code path
with counters in memory and the ladder run on in-memory account states, nothing written anywhere."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice

from aup.detectors.logs.analyzer import ReadResult, analyze, batch_marker, read_lines
from aup.detectors.logs.counters import KnownSets, MemoryCounters
from aup.domain.engine import decide, new_account
from aup.domain.models import AccountState, Finding, Outcome
from aup.policy import Policy

CHUNK_LINES = 10_000  # one simulated invocation


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


def replay(
    lines: Iterable[str],
    policy: Policy,
    *,
    fmt: str = "json",
    plans: Mapping[str, str] | None = None,
    chunk_lines: int = CHUNK_LINES,
    stats: ReadResult | None = None,
    acts_for: Mapping[str, Iterable[str]] | None = None,
) -> list[Finding]:
    """Findings the analyzer would have produced for ``lines`` (oldest first), in detection order.

    ``fmt`` is ``json`` (both JSON formats) or ``clf``; ``plans`` maps account ids to plan names
    (others: the default plan), ``acts_for`` account ids to the accounts each may name in X-Account-Id
    (``AccountState.acts_for``; others: none). Lines are fed in chunks as invocations would be, with
    counters kept across chunks; a window that trips in several chunks yields one finding. Pass
    ``stats`` to get the unparseable / oversized counts.
    """
    store = MemoryCounters()
    full_id_sets: set[tuple[str, str]] = set()  # as a warm analyzer remembers them
    known_sets: KnownSets = {}
    plan_map = dict(plans or {})
    delegates = {a: frozenset(v) for a, v in (acts_for or {}).items()}
    seen: dict[str, Finding] = {}
    cfg = policy.log_analysis
    for n, chunk in enumerate(_chunks(lines, chunk_lines)):
        read = read_lines(chunk, cfg, fmt=fmt)
        if stats is not None:
            stats.unparseable += read.unparseable
            stats.oversized += read.oversized
            stats.sample = stats.sample or read.sample
        result = analyze(
            read.records,
            marker=batch_marker([f"replay-{n}"]),
            store=store,
            policy=policy,
            plan_of=plan_map.get,
            full_id_sets=full_id_sets,
            known_sets=known_sets,
            acts_for=lambda account: delegates.get(account, frozenset()),
        )
        for f in result.findings:
            seen.setdefault(f.violation_id, f)
    return list(seen.values())


def replay_decisions(
    findings: Iterable[Finding],
    policy: Policy,
    now: datetime,
    plans: Mapping[str, str] | None = None,
    states: Mapping[str, AccountState] | None = None,
) -> dict[str, Outcome]:
    """What the ladder would decide, per account, for replayed findings (IP-scoped ones are skipped:
    they block a source, not an account). ``states`` are the accounts' current states, if known."""
    by_account: dict[str, list[Finding]] = {}
    for f in sorted(findings, key=lambda f: f.detected_at):
        if f.account_id:
            by_account.setdefault(f.account_id, []).append(f)
    out: dict[str, Outcome] = {}
    for account, group in by_account.items():
        state = (states or {}).get(account) or new_account(
            account, policy, now, plan=(plans or {}).get(account)
        )
        out[account] = decide(state, group, policy, now)
    return out
