"""The access-log analysis of one batch: lines -> tallies -> counters -> rules -> findings.

``read_events`` turns log events into records (counting what it cannot read); ``analyze`` adds the
batch's tallies to the counter store once per marker, reads the windows' totals back and runs the
rules. The store is the ledger in Lambda and ``MemoryCounters`` in replays. Applying the findings
(the ladder) is the caller's business: ``ledger.apply_findings``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from aup.detectors.logs import rules
from aup.detectors.logs.counters import (
    DAY_MS,
    HOUR_MS,
    plan_counters,
    rate_name,
    rate_window_totals,
    slot_prefix,
    source_scope,
)
from aup.detectors.logs.parse import (
    CONTRACT_LINE,
    CONTRACT_LINES,
    CONTRACT_LINES_PLAIN,
    AccessRecord,
    LogEvent,
    RawRecord,
    raw_from_record,
    record_from_clf,
    record_from_json,
)
from aup.detectors.logs.signatures import Signatures, signatures
from aup.detectors.logs.summary import BatchSummary, summarize
from aup.domain.models import Finding
from aup.domain.ports import CounterUpdate
from aup.domain.redact import scrub_text
from aup.policy import Policy
from aup.policy.document import Plan
from aup.policy.sections.logs import LogAnalysis

SAMPLE_CHARS = 160


class CounterStore(Protocol):
    def add_counters_once(self, marker: str, updates: Sequence[CounterUpdate]) -> bool: ...
    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]: ...


PlanOf = Callable[[str], str | None]  # account id -> its plan name (None: unknown account)


@dataclass
class ReadResult:
    records: list[RawRecord] = field(default_factory=list)
    unparseable: int = 0
    oversized: int = 0
    sample: str | None = None  # one unreadable line, truncated and scrubbed, for the batch's log entry


def _note_bad(result: ReadResult, line: str) -> None:
    if result.sample is None:
        result.sample = scrub_text(line[:SAMPLE_CHARS])


def read_lines(
    lines: Iterable[str], cfg: LogAnalysis, *, fmt: str = "json", into: ReadResult | None = None
) -> ReadResult:
    """Parse lines of one format (``json`` covers both JSON formats; ``clf``). Never raises.

    Lines in the contract's exact layout take the one-regex fast path; others are parsed with orjson
    (or the CLF pattern) and converted to the same tuple shape."""
    result = into or ReadResult()
    out = result.records
    limit = cfg.max_line_bytes
    if fmt != "clf":
        lines = lines if type(lines) is list else list(lines)
        # No line too long, none carrying a newline of its own (a memchr scan of the lines together:
        # str.count of one character is a slower loop).
        if lines and max(map(len, lines)) <= limit and "\n" not in "".join(lines):
            joined = "\n".join(lines)
            rows = (CONTRACT_LINES if "\\" in joined else CONTRACT_LINES_PLAIN)(joined)
            if len(rows) == len(lines):  # every line in the contract's layout (see CONTRACT_LINES)
                out.extend(rows)
                return result
    append = out.append
    fast = CONTRACT_LINE if fmt != "clf" else None
    for line in lines:
        if len(line) > limit:
            result.oversized += 1
            _note_bad(result, line)
            continue
        m = fast(line) if fast is not None else None
        if m is not None:
            append(m.groups())
            continue
        rec = _slow(line, fmt)
        if rec is None:
            result.unparseable += 1
            _note_bad(result, line)
        else:
            append(raw_from_record(rec))
    return result


def _slow(line: str, fmt: str) -> AccessRecord | None:
    if fmt == "clf":
        return record_from_clf(line.strip())
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record_from_json(d) if type(d) is dict else None


def read_events(events: Iterable[LogEvent], cfg: LogAnalysis, into: ReadResult | None = None) -> ReadResult:
    return read_lines((e.message for e in events), cfg, into=into)


def batch_marker(event_ids: Iterable[str]) -> str:
    """The counter marker of a batch: derived from its log event ids, so a redelivery finds it applied."""
    joined = "\n".join(event_ids).encode("utf-8", "surrogatepass")
    return "logs:" + hashlib.sha256(joined).hexdigest()[:40]


def strictest_plan(policy: Policy) -> Plan:
    """The lowest limit of every plan: no account can trip a rule under its own plan that it does not
    trip under this one, so only accounts that trip it need their plan looked up."""
    plans = list(policy.plans.values())
    fields = Plan.model_fields
    return Plan.model_construct(**{f: min(getattr(p, f) for p in plans) for f in fields})


@dataclass
class Analysis:
    findings: list[Finding]
    summary: BatchSummary
    counters_written: int
    applied: bool  # False: this batch's marker was applied before (a redelivery), counters unchanged


def analyze(
    records: list[RawRecord],
    *,
    marker: str,
    store: CounterStore,
    policy: Policy,
    plan_of: PlanOf,
    sig: Signatures | None = None,
) -> Analysis:
    """Tally, count once per ``marker``, read the totals back and run every rule."""
    cfg = policy.log_analysis
    sig = sig or signatures(cfg.break_in.account_path_markers)
    wsec = cfg.windows.rate_seconds
    summary = summarize(
        records,
        window_ms=wsec * 1000,
        failure_statuses=cfg.break_in.failure_statuses,
        public_resources=frozenset(cfg.scraping.public_resources),
    )
    plan = plan_counters(summary, sig, cfg)
    applied = store.add_counters_once(marker, plan.updates) if plan.updates else False
    totals = store.get_counters(plan.keys) if plan.keys else {}

    # Each account's windows touched by this batch (rate, hour, sharing, day), with their totals.
    windows: dict[str, dict[str, tuple[str, rules.Window]]] = {}

    def window(
        kind: str,
        account: str,
        name: str,
        *,
        seconds: int,
        at_ms: int,
        samples: dict[str, list[str]] | None = None,
        start_ms: int = 0,
        item: str | None = None,
        prefix: str = "",
    ) -> None:
        per = windows.setdefault(account, {})
        seen = per.get(name)
        if seen is not None:
            w = seen[1]
            w.at_ms = max(w.at_ms, at_ms)
            for rule_id, paths in (samples or {}).items():
                kept = w.samples.setdefault(rule_id, [])
                kept.extend(p for p in paths if p not in kept)
                del kept[3:]
            return
        got = totals.get((account, item or name))
        if got is not None and prefix:
            got = rate_window_totals(got, prefix)
        if got:
            copied = {k: list(v) for k, v in (samples or {}).items()}
            per[name] = (kind, rules.Window(account, name, seconds, got, at_ms, copied, start_ms))

    # Only windows on which some rule can possibly fire are built (rules.*_may_trip: cheap necessary
    # conditions on the totals); the others would yield nothing. Each item is judged once.
    strict = strictest_plan(policy)
    may: dict[tuple[str, str], bool] = {}
    for f in plan.facts:
        windows.setdefault(f.account, {})  # accounts keep the order of their first window
        start = f.bucket * wsec * 1000
        hour, day = start // HOUR_MS, start // DAY_MS
        hour_key = (f.account, f"logs:h:{hour}")
        hour_totals = totals.get(hour_key)
        if hour_totals:
            prefix = slot_prefix(start, wsec * 1000)
            if rules.rate_may_trip(hour_totals, prefix, cfg):
                window(
                    "rate",
                    f.account,
                    rate_name(wsec, f.bucket),
                    seconds=wsec,
                    at_ms=f.last_ts,
                    samples=f.samples,
                    start_ms=start,
                    item=hour_key[1],
                    prefix=prefix,
                )
            hour_may = may.get(hour_key)
            if hour_may is None:
                hour_may = may[hour_key] = rules.hour_may_trip(hour_totals, cfg)
            if hour_may:
                window("hour", f.account, hour_key[1], seconds=3600, at_ms=f.last_ts, samples=f.samples)
        day_key = (f.account, f"logs:d:{day}")
        day_totals = totals.get(day_key)
        if day_totals:
            day_may = may.get(day_key)
            if day_may is None:
                day_may = may[day_key] = rules.day_may_trip(day_totals, strict, cfg)
            if day_may:
                window("day", f.account, day_key[1], seconds=86400, at_ms=f.last_ts)

    findings: dict[str, Finding] = {}
    for account, per in windows.items():
        if not per:
            continue
        found = _evaluate(per, strict, cfg)
        if any(fd.rule_id in rules.PLAN_RULES for fd in found):
            own = policy.plan(plan_of(account) or policy.default_plan)
            found = _evaluate(per, own, cfg)
        for fd in found:
            findings.setdefault(fd.violation_id, fd)

    for s in plan.sources:
        scope = source_scope(s.ip)
        name = rate_name(wsec, s.bucket)
        got = totals.get((scope, name))
        if got is None:
            continue
        w = rules.Window(scope, name, wsec, got, s.last_ts, start_ms=s.bucket * wsec * 1000)
        ip_hash = scope.removeprefix("source:")
        for source_rule in rules.SOURCE_RULES:
            found_here = source_rule(w, strict, cfg, ip_hash)
            if found_here is not None:
                findings.setdefault(found_here.violation_id, found_here)
    return Analysis(list(findings.values()), summary, len(plan.updates), applied)


_KIND_RULES: dict[str, tuple[Callable[..., Finding | None], ...]] = {
    "rate": rules.RATE_RULES,
    "hour": (*rules.HOUR_RULES, *rules.SHARING_RULES),
    "day": rules.DAY_RULES,
}


def _evaluate(per: dict[str, tuple[str, rules.Window]], plan: Plan, cfg: LogAnalysis) -> list[Finding]:
    out: list[Finding] = []
    for kind, w in per.values():
        for rule in _KIND_RULES[kind]:
            fd = rule(w, plan, cfg)
            if fd is not None:
                out.append(fd)
    return out
