"""The access-log analysis of one batch: lines -> tallies -> counters -> rules -> findings.

``read_events`` turns log events into records (counting what it cannot read); ``analyze`` adds the
batch's tallies to the counter store once per marker, reads the windows' totals back and runs the
rules. The store is the ledger in Lambda and ``MemoryCounters`` in replays. Applying the findings
(the ladder) is the caller's business: ``ledger.apply_findings``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any

import orjson

from aup.detectors.logs import rules
from aup.detectors.logs.counters import (
    DAY_MS,
    HOUR_MS,
    ID_SET_LIMIT,
    AccountsExist,
    ActsFor,
    KnownSets,
    WindowFacts,
    day_name,
    hour_name,
    hour_sets_name,
    is_sets_name,
    plan_counters,
    rate_name,
    slot_prefix,
    slot_sets_name,
    source_scope,
)
from aup.detectors.logs.parse import (
    CONTRACT_LINE,
    CONTRACT_LINES,
    RAW_FIELDS,
    AccessRecord,
    LogEvent,
    RawRecord,
    parse_oversized,
    raw_from_record,
    record_from_clf,
    record_from_json,
)
from aup.detectors.logs.rules import Window
from aup.detectors.logs.signatures import Signatures, signatures
from aup.detectors.logs.summary import BatchSummary, summarize
from aup.detectors.logs.totals import DayTotals, HourTotals, RateTotals, SourceTotals, T, read, stored_name
from aup.domain.models import Finding
from aup.domain.ports import CounterStore
from aup.domain.redact import scrub_text
from aup.policy import Policy
from aup.policy.document import Plan
from aup.policy.sections.logs import LogAnalysis

SAMPLE_CHARS = 160
_NO_SETS: dict[str, Any] = {}  # a set item that does not exist (never written to: read as empty)


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
        if lines and max(map(len, lines)) <= limit and not any("\n" in line for line in lines):
            joined = "\n".join(lines)
            rows = CONTRACT_LINES(joined) if "\\" not in joined else []
            if len(rows) == len(lines):  # every line in the contract's layout (see CONTRACT_LINES)
                out.extend(rows)
                return result
    append = out.append
    fast = CONTRACT_LINE if fmt != "clf" else None
    for line in lines:
        if len(line) > limit:
            # Counted, and classified on what fits: long values clipped (parse.parse_oversized), so
            # padding a field is no bypass. Unreadable ones are skipped like any unparseable line.
            result.oversized += 1
            big = parse_oversized(line, fmt=fmt)
            if big is None:
                _note_bad(result, line)
            else:
                append(raw_from_record(big))
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


_PATH_AT = RAW_FIELDS.index("path")
_RES_AT = RAW_FIELDS.index("resource")
STAGE_PROBE_LINES = 64  # routed lines of a batch looked at to learn its stage prefix


def _routes_as(path: str, resource: str) -> bool:
    """Whether ``path`` is an instance of the route template ``resource`` (``{x}``: any one segment)."""
    parts, template = path.split("/"), resource.split("/")
    return len(parts) == len(template) and all(
        b[:1] == "{" or a == b for a, b in zip(parts, template, strict=True)
    )


def _learned_stage(records: list[RawRecord]) -> set[str]:
    """Stage prefixes shown by routed lines: a path that is its ``resourcePath`` behind exactly one more
    leading segment, e.g. ``/prod/items/7`` for ``/items/{id}``."""
    found: set[str] = set()
    for r in records[:STAGE_PROBE_LINES]:
        res = r[_RES_AT]
        if res[:1] != "/" or "+}" in res:  # unrouted ("-"), or a catch-all that matches anything
            continue
        path = r[_PATH_AT].rstrip("/") or "/"
        res = res.rstrip("/") or "/"
        cut = path.find("/", 1)
        if cut > 0 and not _routes_as(path, res) and _routes_as(path[cut:], res):
            found.add(path[:cut])
    return found


def strip_stage(records: list[RawRecord], configured: tuple[str, ...] = ()) -> list[RawRecord]:
    """``records`` with the stage (or base path) prefix taken off their paths (see ``stage_prefixes``)."""
    prefixes = {p.rstrip("/") for p in configured if p.strip("/")} | _learned_stage(records)
    if not prefixes:
        return records
    out = []
    for r in records:
        path = r[_PATH_AT]
        cut = path.find("/", 1)
        head = path[:cut] if cut > 0 else path
        out.append((*r[:_PATH_AT], path[len(head) :] or "/", *r[_PATH_AT + 1 :]) if head in prefixes else r)
    return out


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
    accounts_exist: AccountsExist | None = None,
    full_id_sets: set[tuple[str, str]] | None = None,
    known_sets: KnownSets | None = None,
    acts_for: ActsFor | None = None,
) -> Analysis:
    """Tally, count once per ``marker``, read the totals back and run every rule. ``full_id_sets`` and
    ``known_sets`` (``plan_counters``) are kept by a warm caller across batches."""
    cfg = policy.log_analysis
    sig = sig or signatures(cfg.break_in.account_path_markers, cfg.break_in.login_routes)
    wsec = cfg.windows.rate_seconds
    wms = wsec * 1000
    records = strip_stage(records, cfg.stage_prefixes)
    summary = summarize(
        records,
        window_ms=wms,
        failure_statuses=cfg.break_in.failure_statuses,
        public_resources=frozenset(cfg.scraping.public_resources),
        crawler_agent=sig.claims_crawler,
    )
    full = full_id_sets if full_id_sets is not None else set()
    known = known_sets if known_sets is not None else {}
    plan = plan_counters(summary, sig, cfg, accounts_exist, full, known, acts_for)
    applied = store.add_counters_once(marker, plan.updates) if plan.updates else False
    items = store.get_counters(plan.keys) if plan.keys else {}
    walked = stored_name(HourTotals, "walked_ids")
    # ``known`` keeps the set items in the order they were last used (the caller drops the oldest first)
    for key in plan.keys:
        if is_sets_name(key[1]):  # as written or read: what the next batches need not send again
            known.pop(key, None)
            counters = known[key] = items.get(key, _NO_SETS)
            if len(counters.get(walked, ())) >= ID_SET_LIMIT:  # a full id set: the next batches add none
                full.add(key)
    if plan.remembered:  # the set items this batch brought nothing to, as last known (no key is in both)
        items = items if type(items) is dict else dict(items)
        items.update(plan.remembered)
        for key in plan.remembered:
            known[key] = known.pop(key)

    # Each account's windows touched by this batch (rate, hour, day) with their totals, by window name;
    # accounts keep the order of their first window, windows the order they were first touched.
    windows: dict[str, dict[str, Window[Any]]] = {}
    for f in plan.facts:
        per = windows.setdefault(f.account, {})
        start = f.bucket * wms
        hour_no = start // HOUR_MS
        hour, day = hour_name(hour_no), day_name(start // DAY_MS)
        hour_item = items.get((f.account, hour))
        if hour_item:
            slot = slot_prefix(start, wms)
            rate = rate_name(wsec, f.bucket)
            slot_sets = items.get((f.account, slot_sets_name(wsec, f.bucket))) or _NO_SETS
            _touch(per, rate, f, wsec, start, RateTotals, hour_item, slot, sets=slot_sets)
            hour_sets = items.get((f.account, hour_sets_name(hour_no))) or _NO_SETS
            if _touch(per, hour, f, 3600, 0, HourTotals, hour_item, sets=hour_sets):  # once per hour
                w = per[hour]
                w.peak_per_s, w.requests, w.non_browser = hour_load(hour_item, wsec)
        day_item = items.get((f.account, day))
        if day_item:
            _touch(per, day, f, 86400, 0, DayTotals, day_item, samples=False)

    _read_baselines(windows, store, cfg)

    # Every rule runs under the strictest plan first: an account whose findings do not depend on its
    # plan needs no plan look-up. Under the account's own plan only the plan rules that fired are run
    # again: its limits are no lower than the strictest plan's, so no other plan rule can fire, and the
    # other rules do not read the plan.
    strict = strictest_plan(policy)
    findings: dict[str, Finding] = {}
    for account, per in windows.items():
        fired = _evaluate(per, strict, cfg)
        found: list[Finding | None] = [fd for _, _, fd in fired]
        if any(fd.rule_id in rules.PLAN_RULES for _, _, fd in fired):
            own = policy.plan(plan_of(account) or policy.default_plan)
            found = [rule(w, own, cfg) if fd.rule_id in rules.PLAN_RULES else fd for w, rule, fd in fired]
        for maybe in found:
            if maybe is not None:
                findings.setdefault(maybe.violation_id, maybe)

    for s in plan.sources:
        scope = source_scope(s.ip)
        name = rate_name(wsec, s.bucket)
        item = items.get((scope, name))
        if item is None:
            continue
        w = Window(scope, name, wsec, read(SourceTotals, item), s.last_ts, start_ms=s.bucket * wms)
        ip_hash = scope.removeprefix("source:")
        for source_rule in rules.SOURCE_RULES:
            found_here = source_rule(w, strict, cfg, ip_hash)
            if found_here is not None:
                findings.setdefault(found_here.violation_id, found_here)
    return Analysis(list(findings.values()), summary, len(plan.updates), applied)


def _read_baselines(
    windows: dict[str, dict[str, Window[Any]]], store: CounterStore, cfg: LogAnalysis
) -> None:
    """G1's baseline for the hour windows spread over enough networks to matter: the busiest of the
    account's ``key_sharing.baseline_days`` previous UTC days (their day items), in one read; none when
    fewer than ``baseline_min_days`` of them saw traffic."""
    days = cfg.key_sharing.baseline_days
    wanted: list[tuple[Window[Any], list[tuple[str, str]]]] = []
    for account, per in windows.items():
        for w in per.values():
            if type(w.totals) is HourTotals and len(w.totals.networks) >= cfg.key_sharing.min_networks:
                day = int(w.name.rpartition(":")[2]) * HOUR_MS // DAY_MS
                wanted.append((w, [(account, day_name(day - k)) for k in range(1, days + 1)]))
    if not wanted:
        return
    items = store.get_counters(sorted({k for _, keys in wanted for k in keys}))
    for w, keys in wanted:
        history = [read(DayTotals, items[k]) for k in keys if k in items]
        history = [d for d in history if d.requests]
        if len(history) >= cfg.key_sharing.baseline_min_days:
            w.baseline = (max(len(d.networks) for d in history), max(len(d.agents) for d in history))


def hour_load(hour_item: dict[str, Any], rate_seconds: int) -> tuple[float, int, int]:
    """(the busiest rate slot's requests/s, the hour's requests, those from non-browser agents) of an
    hour's counter item (slots store ``s<k>.n`` and ``s<k>.nb``)."""
    counts = list(map(int, map(hour_item.get, _slot_names(rate_seconds, "requests"), repeat(0))))
    non_browser = sum(map(int, map(hour_item.get, _slot_names(rate_seconds, "non_browser"), repeat(0))))
    return max(counts, default=0) / rate_seconds, sum(counts), non_browser


@lru_cache(maxsize=16)
def _slot_names(rate_seconds: int, field: str) -> tuple[str, ...]:
    """The stored names of ``RateTotals.<field>`` in every rate slot of an hour item."""
    wms = rate_seconds * 1000
    stored = stored_name(RateTotals, field)
    return tuple(slot_prefix(k * wms, wms) + stored for k in range(3600 // rate_seconds))


def _touch(
    per: dict[str, Window[Any]],
    name: str,
    f: WindowFacts,
    seconds: int,
    start_ms: int,
    kind: type[T],
    item: dict[str, Any],
    prefix: str = "",
    *,
    samples: bool = True,
    sets: Mapping[str, Any] | None = None,
) -> bool:
    """The window ``name`` of ``f``'s account, read from its counter item the first time it is touched
    (True); later touches (other rate windows of the same hour in this batch) add their time and
    samples."""
    w = per.get(name)
    if w is None:
        copied = {k: list(v) for k, v in f.samples.items()} if samples and f.samples else {}
        totals = read(kind, item, prefix, sets)
        per[name] = Window(f.account, name, seconds, totals, f.last_ts, copied, start_ms)
        return True
    w.at_ms = max(w.at_ms, f.last_ts)
    if samples:
        for rule_id, paths in f.samples.items():
            kept = w.samples.setdefault(rule_id, [])
            kept.extend(p for p in paths if p not in kept)
            del kept[3:]
    return False


Rule = Callable[..., Finding | None]
Fired = tuple[Window[Any], Rule, Finding]

# The rules that read each kind of window.
_KIND_RULES: dict[type, tuple[Rule, ...]] = {
    RateTotals: rules.RATE_RULES,
    HourTotals: (*rules.HOUR_RULES, *rules.SHARING_RULES),
    DayTotals: rules.DAY_RULES,
}


def _evaluate(per: dict[str, Window[Any]], plan: Plan, cfg: LogAnalysis) -> list[Fired]:
    """(window, rule, finding) of every rule that fired on the account's windows, in window order, then
    rule order."""
    out: list[Fired] = []
    for w in per.values():
        for rule in _KIND_RULES[type(w.totals)]:
            fd = rule(w, plan, cfg)
            if fd is not None:
                out.append((w, rule, fd))
    return out
