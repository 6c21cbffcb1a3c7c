"""What a candidate policy would have decided differently: recorded findings replayed under two policies.

The ledger keeps every violation with its rule, source event, time, confidence and (redacted)
evidence, so each one rebuilds the finding it came from (same rule and source event: the same
violation id). Each account's findings are run through the ladder one at a time *at their own event
time*, from a fresh account state that keeps only what is not the policy's (plan, allowlist flag,
per-account dry-run), once under the live policy and once under the candidate, and the two histories
are compared: suspensions added or lifted, durations changed, strikes, reviews.

Pure: no AWS, no clock (``as_of`` is passed in). Threshold changes of the detectors cannot show in
recorded violations (a window below the live threshold left none): pass the findings of archived logs
replayed under each policy (``extra_live`` / ``extra_candidate``) for those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aup.domain.engine import decide, new_account
from aup.domain.models import (
    AccountState,
    Action,
    Decision,
    Finding,
    Source,
    SuspensionKind,
    Violation,
)
from aup.policy import Policy

_SUSPEND = frozenset({Action.suspend_temporary, Action.suspend_indefinite})


def finding_of(violation: Violation, policy: Policy) -> Finding:
    """The finding a recorded violation came from. Its severity is left to the policy when it is the
    one the rule had under ``policy`` (the policy it was recorded under); a detector's own severity
    (one that differs from the rule's) is kept."""
    rule = policy.rules.get(violation.rule_id)
    severity = None if rule is not None and rule.severity is violation.severity else violation.severity
    return Finding(
        rule_id=violation.rule_id,
        clause=violation.clause,
        account_id=violation.account_id,
        source=violation.source,
        source_event_id=violation.source_event_id,
        detected_at=violation.detected_at,
        confidence=violation.confidence,
        severity=severity,
        summary=violation.summary,
        evidence=violation.evidence,
    )


def replayable(violation: Violation) -> bool:
    """Operators' own actions (source ``admin``) and voided violations are not the ladder's to re-decide."""
    return violation.source is not Source.admin and not violation.decision.startswith("void")


@dataclass
class History:
    """One account's findings decided under one policy."""

    decisions: list[Decision] = field(default_factory=list)
    reviews: int = 0
    skipped: int = 0  # findings of a rule this policy does not have
    state: AccountState | None = None

    @property
    def suspensions(self) -> dict[str, Decision]:
        """Suspension decisions by violation id, dry-run ones (``would_...``) included."""
        return {d.violation_id: d for d in self.decisions if d.action in _SUSPEND}

    @property
    def enforced_suspensions(self) -> int:
        return sum(1 for d in self.suspensions.values() if d.enforced)

    @property
    def strikes(self) -> int:
        return sum(1 for d in self.decisions if d.action is Action.strike)

    def enforced_at(self, now: datetime) -> bool:
        return self.state is not None and self.state.enforced(now)


def run_history(
    account_id: str,
    findings: Iterable[Finding],
    policy: Policy,
    *,
    like: AccountState | None = None,
) -> History:
    """Decide ``findings`` of one account under ``policy``, each at its own event time."""
    ordered = sorted(findings, key=lambda f: (f.detected_at, f.violation_id))
    history = History()
    if not ordered:
        return history
    state = new_account(account_id, policy, ordered[0].detected_at, plan=like.plan if like else None)
    if like is not None:
        state = state.model_copy(
            update={"allowlisted": like.allowlisted or state.allowlisted, "dry_run": like.dry_run}
        )
    for finding in ordered:
        if finding.rule_id not in policy.rules:
            history.skipped += 1
            continue
        outcome = decide(state, [finding], policy, finding.detected_at)
        history.decisions += outcome.decisions
        history.reviews += len(outcome.reviews)
        state = outcome.state
    history.state = state
    return history


def _duration(d: Decision, at: datetime | None) -> timedelta | None:
    if d.action is Action.suspend_indefinite or d.until is None or at is None:
        return None
    return d.until - at


@dataclass
class AccountDiff:
    account_id: str
    plan: str
    findings: int
    live: History
    candidate: History
    changes: list[str]

    @property
    def newly_suspended(self) -> bool:
        """The candidate would have suspended (for real, not dry-run) an account the live policy never did."""
        return not self.live.enforced_suspensions and bool(self.candidate.enforced_suspensions)

    @property
    def lifted(self) -> bool:
        return bool(self.live.enforced_suspensions) and not self.candidate.enforced_suspensions

    def as_dict(self, as_of: datetime) -> dict[str, object]:
        def side(h: History) -> dict[str, object]:
            return {
                "suspensions": len(h.suspensions),
                "strikes": h.strikes,
                "reviews": h.reviews,
                "suspended_now": h.enforced_at(as_of),
                "skipped": h.skipped,
            }

        return {
            "account_id": self.account_id,
            "plan": self.plan,
            "findings": self.findings,
            "newly_suspended": self.newly_suspended,
            "lifted": self.lifted,
            "live": side(self.live),
            "candidate": side(self.candidate),
            "changes": self.changes,
        }


def compare(
    account_id: str,
    live_findings: Sequence[Finding],
    candidate_findings: Sequence[Finding],
    live: Policy,
    candidate: Policy,
    *,
    like: AccountState | None = None,
    as_of: datetime,
) -> AccountDiff:
    """One account's histories under both policies and what differs, in words."""
    a = run_history(account_id, live_findings, live, like=like)
    b = run_history(account_id, candidate_findings, candidate, like=like)
    times = {f.violation_id: f.detected_at for f in [*live_findings, *candidate_findings]}
    changes: list[str] = []
    sa, sb = a.suspensions, b.suspensions
    for vid in sorted(sb.keys() - sa.keys(), key=lambda v: times.get(v) or as_of):
        d = sb[vid]
        was = next((x.label for x in a.decisions if x.violation_id == vid), "nothing")
        changes.append(
            f"suspends at {d.rule_id} {_iso(times.get(vid))}: {_label(d, times.get(vid))} (live: {was})"
        )
    for vid in sorted(sa.keys() - sb.keys(), key=lambda v: times.get(v) or as_of):
        d = sa[vid]
        instead = next((x for x in b.decisions if x.violation_id == vid), None)
        now = instead.label if instead else "nothing"
        changes.append(f"no longer suspends at {d.rule_id} {_iso(times.get(vid))}: now {now}")
    for vid in sorted(sa.keys() & sb.keys(), key=lambda v: times.get(v) or as_of):
        x, y = sa[vid], sb[vid]
        at = times.get(vid)
        if (x.action, x.enforced, _duration(x, at)) != (y.action, y.enforced, _duration(y, at)):
            changes.append(
                f"suspension changed at {x.rule_id} {_iso(times.get(vid))}: "
                f"{_label(x, times.get(vid))} -> {_label(y, times.get(vid))}"
            )
    if a.strikes != b.strikes:
        changes.append(f"strikes: {a.strikes} -> {b.strikes}")
    if a.reviews != b.reviews:
        changes.append(f"reviews: {a.reviews} -> {b.reviews}")
    now_a, now_b = a.enforced_at(as_of), b.enforced_at(as_of)
    if now_a != now_b:
        changes.append(f"suspended now: {'yes' if now_a else 'no'} -> {'yes' if now_b else 'no'}")
    if b.skipped:
        changes.append(f"{b.skipped} finding(s) of rules the candidate does not have: dropped")
    plan = like.plan if like is not None else live.default_plan
    count = len({f.violation_id for f in [*live_findings, *candidate_findings]})
    return AccountDiff(account_id, plan, count, a, b, changes)


def _iso(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "?"


def _label(d: Decision, at: datetime | None) -> str:
    if d.action is Action.suspend_indefinite:
        return f"{d.label} ({SuspensionKind.indefinite.value})"
    length = _duration(d, at)
    return f"{d.label} for {_hours(length)}" if length is not None else d.label


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} d" if hours >= 48 else f"{hours:g} h"


@dataclass
class PolicyDiff:
    live_version: str
    candidate_version: str
    as_of: datetime
    accounts: list[AccountDiff]

    @property
    def changed(self) -> list[AccountDiff]:
        return [a for a in self.accounts if a.changes]

    def summary(self) -> str:
        changed = self.changed
        new = sum(1 for a in self.accounts if a.newly_suspended)
        lifted = sum(1 for a in self.accounts if a.lifted)
        strikes = sum(a.candidate.strikes - a.live.strikes for a in self.accounts)
        reviews = sum(a.candidate.reviews - a.live.reviews for a in self.accounts)
        findings = sum(a.findings for a in self.accounts)
        return (
            f"{self.live_version} -> {self.candidate_version}: {len(self.accounts)} account(s), "
            f"{findings} finding(s) replayed; {len(changed)} would change: {new} newly suspended, "
            f"{lifted} no longer suspended, strikes {strikes:+d}, reviews {reviews:+d}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "live_policy": self.live_version,
            "candidate_policy": self.candidate_version,
            "as_of": self.as_of.isoformat(),
            "summary": self.summary(),
            "newly_suspended": sorted(a.account_id for a in self.accounts if a.newly_suspended),
            "no_longer_suspended": sorted(a.account_id for a in self.accounts if a.lifted),
            "accounts": [a.as_dict(self.as_of) for a in self.accounts],
        }


def diff(
    violations: Mapping[str, Sequence[Violation]],
    live: Policy,
    candidate: Policy,
    *,
    as_of: datetime,
    states: Mapping[str, AccountState] | None = None,
    extra_live: Sequence[Finding] = (),
    extra_candidate: Sequence[Finding] = (),
) -> PolicyDiff:
    """Replay ``violations`` (per account, as the ledger holds them) and the optional extra findings
    (archived logs, already replayed under each policy) under ``live`` and ``candidate``."""
    recorded: dict[str, dict[str, Finding]] = {}
    for account_id, items in violations.items():
        mine = recorded.setdefault(account_id, {})
        for v in items:
            if replayable(v):
                f = finding_of(v, live)
                mine.setdefault(f.violation_id, f)

    def merged(extra: Sequence[Finding]) -> dict[str, list[Finding]]:
        out = {a: dict(fs) for a, fs in recorded.items()}
        for f in extra:
            if f.account_id:
                out.setdefault(f.account_id, {}).setdefault(f.violation_id, f)
        return {a: list(fs.values()) for a, fs in out.items()}

    a_side, b_side = merged(extra_live), merged(extra_candidate)
    accounts = [
        compare(
            account_id,
            a_side.get(account_id, []),
            b_side.get(account_id, []),
            live,
            candidate,
            like=(states or {}).get(account_id),
            as_of=as_of,
        )
        for account_id in sorted(a_side.keys() | b_side.keys())
    ]
    return PolicyDiff(live.policy_version, candidate.policy_version, as_of, accounts)


# ------------------------------------------------------------------------------ the honest corpus check
#
# `aupctl policy diff --corpus` runs the honest half of `make eval`'s corpus through the real handlers
# under the candidate (tests/eval, on a private local stack) and passes each scenario's outcome here:
# the ones the candidate wrongs (suspends, strikes, or has the authorizer deny), each with the rules
# that acted and the candidate's changed fields that could be responsible for them.

_ENFORCING = frozenset({Action.strike.value, Action.suspend_temporary.value, Action.suspend_indefinite.value})

# Where a rule's thresholds live, by rule-id prefix (besides its own entry, its plan and the ladder).
_RULE_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("D1-", ("log_analysis.probing", "log_analysis.windows", "log_analysis.stage_prefixes")),
    ("D2-", ("log_analysis.break_in", "log_analysis.windows")),
    ("D5a-", ("log_analysis.request_flood", "log_analysis.windows")),
    ("D5b-daily", ("log_analysis.daily_usage",)),
    ("W5-", ("log_analysis.scraping", "log_analysis.within_plan", "log_analysis.windows")),
    ("G1-", ("log_analysis.key_sharing",)),
    ("W1-claimed", ("log_analysis.spoofing",)),
    ("W1-forged", ("log_analysis.spoofing",)),
    ("W1-fake", ("log_analysis.spoofing",)),
    ("D5-", ("usage_monitoring",)),
    ("D5b-", ("usage_monitoring",)),
    ("D3-", ("usage_monitoring",)),
)
_UPLOAD_SECTIONS = ("upload_scanning", "hash_lists", "protected_trademarks")
_EVERY_RULE = ("ladder", "dry_run", "allowlist", "default_plan")


def changed_fields(baseline: Policy, candidate: Policy) -> dict[str, tuple[object, object]]:
    """Every leaf field whose value differs, ``path -> (baseline, candidate)`` (``policy_version`` aside)."""
    out: dict[str, tuple[object, object]] = {}

    def walk(path: str, a: object, b: object) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(f"{path}.{key}" if path else str(key), a.get(key), b.get(key))
        elif a != b:
            out[path] = (a, b)

    walk("", baseline.model_dump(mode="json"), candidate.model_dump(mode="json"))
    out.pop("policy_version", None)
    return out


def sections_of(rule_id: str, plan: str, policy: Policy) -> tuple[str, ...]:
    """The policy paths whose values decide ``rule_id`` for an account on ``plan``."""
    own = (f"rules.{rule_id}", f"plans.{plan}", *_EVERY_RULE)
    for prefix, sections in _RULE_SECTIONS:
        if rule_id.startswith(prefix):
            return own + sections
    rule = policy.rules.get(rule_id)
    return own + (_UPLOAD_SECTIONS if rule is not None else ())


def responsible(
    rule_ids: Iterable[str], plan: str, changes: Mapping[str, tuple[object, object]], policy: Policy
) -> list[str]:
    """The changed fields (``path: baseline -> candidate``) that decide any of ``rule_ids``."""
    prefixes = {s for r in rule_ids for s in sections_of(r, plan, policy)}
    return [
        f"{path}: {old!r} -> {new!r}"
        for path, (old, new) in changes.items()
        if any(path == p or path.startswith(p + ".") for p in prefixes)
    ]


@dataclass
class WrongedScenario:
    name: str
    plan: str
    account_id: str
    harms: list[str]  # "suspended (temporary D5-cpu)", "2 strike(s)", "denied (...)"
    rules: list[str]  # the rules that struck or suspended
    fields: list[str]  # the candidate's changed fields behind them
    known: str | None = None  # a wrong the corpus marks known (make eval does not fail it)

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.name,
            "plan": self.plan,
            "account_id": self.account_id,
            "harms": self.harms,
            "rules": self.rules,
            "fields": self.fields,
            "known": self.known,
        }


@dataclass
class CorpusCheck:
    candidate_policy: str
    baseline_policy: str
    scenarios: int
    wronged: list[WrongedScenario] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # scenarios the harness could not run

    @property
    def flagged(self) -> list[WrongedScenario]:
        """Wronged and not marked known: these fail the check."""
        return [w for w in self.wronged if not w.known]

    @property
    def ok(self) -> bool:
        return not self.flagged and not self.errors

    def summary(self) -> str:
        known = len(self.wronged) - len(self.flagged)
        return (
            f"honest corpus: {self.scenarios} scenario(s) under {self.candidate_policy}; "
            f"{len(self.flagged)} wronged"
            + (f", {known} known" if known else "")
            + (f", {len(self.errors)} not run" if self.errors else "")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "candidate_policy": self.candidate_policy,
            "baseline_policy": self.baseline_policy,
            "scenarios": self.scenarios,
            "wronged": [w.as_dict() for w in self.wronged],
            "flagged": [w.name for w in self.flagged],
            "errors": self.errors,
            "ok": self.ok,
            "summary": self.summary(),
        }


def check_corpus(rows: Sequence[Mapping[str, object]], baseline: Policy, candidate: Policy) -> CorpusCheck:
    """Judge the honest rows of an eval report (tests/eval's JSON ``scenarios``) run under ``candidate``:
    every scenario suspended, struck or denied, with its rules and the fields changed from ``baseline``
    (the shipped policy, under which `make eval` keeps the corpus clean) that decide them."""
    changes = changed_fields(baseline, candidate)
    honest = [r for r in rows if r.get("label") == "honest"]
    check = CorpusCheck(candidate.policy_version, baseline.policy_version, len(honest))
    for r in honest:
        name, plan = str(r.get("name")), str(r.get("plan"))
        if r.get("error"):
            check.errors.append(f"{name}: {r['error']}")
            continue
        violations = [str(v) for v in r.get("violations") or []]  # type: ignore[attr-defined]
        rules = sorted({v.split(":", 1)[0] for v in violations if v.split(":", 1)[-1] in _ENFORCING})
        suspension = str(r.get("suspension") or "-")
        if suspension != "-":
            rules = sorted({*rules, *(p for p in suspension.split()[1:] if p in candidate.rules)})
        harms = []
        if r.get("status") == "suspended":
            harms.append(f"suspended ({suspension})")
        strikes = int(str(r.get("strikes") or 0))
        if strikes:
            harms.append(f"{strikes} strike(s)")
        authorizer = str(r.get("authorizer") or "")
        if authorizer.startswith("Deny"):
            harms.append(f"denied {authorizer.removeprefix('Deny').strip()}".strip())
        if not harms:
            continue
        check.wronged.append(
            WrongedScenario(
                name=name,
                plan=plan,
                account_id=str(r.get("account_id")),
                harms=harms,
                rules=rules,
                fields=responsible(rules, plan, changes, candidate),
                known=str(r["known"]) if r.get("known") else None,
            )
        )
    return check
