"""Operators' use cases: register, suspend, reinstate, allowlist accounts; decide reviews.

Each takes the ledger, the time and the acting operator explicitly; the admin API's handler only
translates HTTP to these calls. ``create_account``, ``transition`` and ``close_review`` are the
transactions behind them, run on the store with ``enforce.with_retries`` (the ledger wires them).
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aup.detectors.usage.detector import limit_per_period
from aup.detectors.usage.metrics import MetricsReader, SeriesQuery
from aup.domain import engine
from aup.domain.models import (
    AccountState,
    AccountView,
    AuditEntry,
    Outcome,
    Review,
    ReviewStatus,
    hash_api_key,
)
from aup.domain.ports import (
    AccountChange,
    AccountExists,
    AccountNotFound,
    Ledger,
    LedgerError,
    LedgerStore,
    Page,
    ReviewClosed,
    ReviewNotFound,
    Transition,
    ViolationNotFound,
)
from aup.policy import Policy
from aup.usecases.enforce import RETRY, Retry, outcome_change, with_retries

KEYS_PER_ACCOUNT = 20


def view(state: AccountState, now: datetime) -> AccountView:
    """The contract's account document; ``status`` is what the authorizer enforces at ``now``."""
    return AccountView(
        account_id=state.account_id,
        plan=state.plan,
        status=state.effective_status(now).value,
        suspension=state.suspension if state.enforced(now) else None,
        strikes=state.strike_count(now, 30),
        allowlisted=state.allowlisted,
        dry_run=state.dry_run,
        version=state.version,
        registered=state.registered,
        acts_for=state.acts_for,
    )


def new_api_key() -> str:
    return "aup_" + secrets.token_urlsafe(30)


def register(
    ledger: Ledger,
    policy: Policy,
    *,
    account_id: str,
    plan: str,
    api_key: str | None,
    now: datetime,
    actor: str,
) -> tuple[AccountState, str]:
    """Register an account; returns its state and the api key (generated when none is given)."""
    if plan not in policy.plans:
        raise ValueError(f"unknown plan {plan!r}; plans: {', '.join(sorted(policy.plans))}")
    key = api_key or new_api_key()
    state = AccountState(
        account_id=account_id,
        plan=plan,
        created_at=now,
        updated_at=now,
        allowlisted=account_id in policy.allowlist,
    )
    return ledger.create_account(state, hash_api_key(key), now, actor), key


def _require(ledger: Ledger, account_id: str) -> AccountState:
    state = ledger.get_account(account_id)
    if state is None:
        raise AccountNotFound(f"no account {account_id}")
    return state


def get(ledger: Ledger, account_id: str) -> AccountState:
    """The account's state. Raises AccountNotFound."""
    return _require(ledger, account_id)


def list_views(
    ledger: Ledger, *, limit: int, next_token: str | None, now: datetime
) -> tuple[list[AccountView], str | None]:
    """One page of accounts as the contract shows them, and the token of the next page."""
    page = ledger.list_accounts(limit, next_token)
    return [view(s, now) for s in page.items], page.next_token


def violations(ledger: Ledger, account_id: str, *, limit: int, next_token: str | None) -> Page:
    """One page of an account's violations, newest first, each marked when an operator voided it.
    Raises AccountNotFound."""
    _require(ledger, account_id)
    page = ledger.list_violations(account_id, limit, next_token)
    voided = voided_ids(ledger, account_id) if page.items else set()
    if voided:
        page = page.model_copy(
            update={
                "items": [
                    v.model_copy(update={"voided": True}) if v.violation_id in voided else v
                    for v in page.items
                ]
            }
        )
    return page


def suspend(
    ledger: Ledger, *, account_id: str, reason: str, until: datetime | None, now: datetime, actor: str
) -> AccountState:
    _require(ledger, account_id)
    outcome = ledger.transition(
        account_id, lambda s: engine.suspend(s, reason=reason, until=until, actor=actor, now=now)
    )
    return _state_after(outcome, ledger, account_id)


def reinstate(ledger: Ledger, *, account_id: str, reason: str, now: datetime, actor: str) -> AccountState:
    _require(ledger, account_id)
    outcome = ledger.transition(
        account_id, lambda s: engine.reinstate(s, reason=reason, actor=actor, now=now)
    )
    return _state_after(outcome, ledger, account_id)


def set_allowlisted(
    ledger: Ledger,
    *,
    account_id: str,
    allowlisted: bool,
    now: datetime,
    actor: str,
    reason: str | None = None,
) -> AccountState:
    """Set the allowlist flag; the audit entry's reason is the operator's when given."""
    _require(ledger, account_id)

    def change(s: AccountState) -> Outcome | None:
        outcome = engine.set_allowlisted(s, allowlisted=allowlisted, actor=actor, now=now)
        return _reasoned(outcome, reason, lambda _engine, given: given)

    outcome = ledger.transition(account_id, change)
    return _state_after(outcome, ledger, account_id)


def set_acts_for(
    ledger: Ledger,
    *,
    account_id: str,
    acts_for: list[str],
    now: datetime,
    actor: str,
    reason: str | None = None,
) -> AccountState:
    """Set the accounts ``account_id`` may name in X-Account-Id (replacing the list; empty: none).
    The analyzer reads it with the account's plan, so a change holds within ``PLAN_CACHE_SECONDS``.
    Raises AccountNotFound, or ValueError for an entry that is not an account id."""
    _require(ledger, account_id)

    def change(s: AccountState) -> Outcome | None:
        outcome = engine.set_acts_for(s, acts_for=acts_for, actor=actor, now=now)
        return _reasoned(outcome, reason, lambda engine_reason, given: f"{engine_reason}: {given}")

    outcome = ledger.transition(account_id, change)
    return _state_after(outcome, ledger, account_id)


def _reasoned(
    outcome: Outcome | None, reason: str | None, compose: Callable[[str, str], str]
) -> Outcome | None:
    """``outcome`` with each audit entry's reason made by ``compose(the engine's, the operator's)``
    when the operator gave one."""
    if outcome is None or not reason:
        return outcome
    audit = [a.model_copy(update={"reason": compose(a.reason, reason)}) for a in outcome.audit]
    return outcome.model_copy(update={"audit": audit})


VOID_SEARCH_LIMIT = 2000  # violations searched for the one to void (newest first)


def voided_ids(ledger: Ledger, account_id: str) -> set[str]:
    """The violations an operator has voided (the audit trail is the record of it)."""
    return {a.violation_id for a in ledger.list_audit(account_id) if a.action == "void" and a.violation_id}


def void_violation(
    ledger: Ledger, *, account_id: str, violation_id: str, reason: str, now: datetime, actor: str
) -> AccountState:
    """Void a wrongful violation: its strike goes, it no longer counts toward the doubling, and a
    suspension resting on it is lifted; audited with the operator and the reason. Voiding it again
    changes nothing. Raises AccountNotFound, or ViolationNotFound when the account has no such one."""
    state = _require(ledger, account_id)
    if not _has_violation(ledger, account_id, violation_id):
        raise ViolationNotFound(f"account {account_id} has no violation {violation_id}")
    if violation_id in voided_ids(ledger, account_id):
        return state
    outcome = ledger.transition(
        account_id,
        lambda s: engine.void_violation(s, violation_id=violation_id, reason=reason, actor=actor, now=now),
    )
    return _state_after(outcome, ledger, account_id)


def _has_violation(ledger: Ledger, account_id: str, violation_id: str) -> bool:
    token: str | None = None
    seen = 0
    while seen < VOID_SEARCH_LIMIT:
        page = ledger.list_violations(account_id, 200, token)
        if any(v.violation_id == violation_id for v in page.items):
            return True
        seen += len(page.items)
        token = page.next_token
        if not token:
            return False
    return False


def decide_review(
    ledger: Ledger, *, review_id: str, confirm: bool, reason: str, now: datetime, actor: str
) -> Review:
    return ledger.decide_review(review_id, confirm=confirm, reason=reason, actor=actor, now=now)


def void_review(ledger: Ledger, *, review_id: str, reason: str, now: datetime, actor: str) -> Review:
    """The console's "void" of a review: its violation was wrongful. The violation is voided (audited
    with the reason; a strike or suspension resting on it goes) and the review dismissed with the same
    reason. Raises ReviewNotFound, ReviewClosed (a decided review is not voided here: void its
    violation instead)."""
    review = ledger.get_review(review_id)
    if review is None:
        raise ReviewNotFound(f"no review {review_id}")
    if review.status is not ReviewStatus.pending:
        raise ReviewClosed(f"review {review_id} is already {review.status.value}")
    decided = ledger.decide_review(review_id, confirm=False, reason=reason, actor=actor, now=now)
    if _has_violation(ledger, review.account_id, review.violation_id):
        void_violation(
            ledger,
            account_id=review.account_id,
            violation_id=review.violation_id,
            reason=reason,
            now=now,
            actor=actor,
        )
    return decided


def expire_suspensions(ledger: Ledger, now: datetime) -> tuple[list[str], list[str]]:
    """Lift every temporary suspension that ended by ``now``: (accounts lifted, accounts that failed).

    One account's failure does not stop the others; the caller reports the failures.
    """
    lifted: list[str] = []
    failed: list[str] = []
    for account_id in ledger.expired_suspensions(now):
        try:
            outcome = ledger.transition(account_id, lambda s: engine.lift_expired(s, now=now))
        except AccountNotFound:
            continue
        except LedgerError:
            failed.append(account_id)
            continue
        if outcome is not None:
            lifted.append(account_id)
    return lifted, failed


def _state_after(outcome: object, ledger: Ledger, account_id: str) -> AccountState:
    state = getattr(outcome, "state", None)
    return state if isinstance(state, AccountState) else _require(ledger, account_id)


# --- the transactions (on the store) ------------------------------------------------------------


def create_account(
    store: LedgerStore, state: AccountState, key_hash: str, now: datetime, actor: str
) -> AccountState:
    """Register an account with its first key. An account first seen through findings is adopted.

    Raises AccountExists when the account is registered or the key is taken.
    """

    def attempt(n: int) -> AccountState | Retry:
        existing = store.get_account(state.account_id)
        if existing is not None and existing.registered:
            raise AccountExists(f"account {state.account_id} exists")
        base = existing or state
        new = base.model_copy(
            update={
                "plan": state.plan,
                "registered": True,
                "key_hashes": [*base.key_hashes, key_hash][-KEYS_PER_ACCOUNT:],
                "created_at": base.created_at or now,
                "updated_at": now,
                "version": base.version + 1,
                "allowlisted": base.allowlisted or state.allowlisted,
                "dry_run": state.dry_run,
            }
        )
        entry = AuditEntry(
            account_id=new.account_id,
            at=now,
            actor=actor,
            action="create",
            reason=f"registered on plan {new.plan}",
            to_status=new.status,
            version=new.version,
        )
        change = AccountChange(
            account_id=new.account_id,
            state=new,
            expected_version=existing.version if existing else None,
            new_key_hash=key_hash,
            audit=[entry],
            attempt=n,
        )
        conflict = store.commit(change)
        if conflict is None:
            return new
        if conflict.key_taken:
            raise AccountExists("that api key is already registered")
        return RETRY

    return with_retries(f"create account {state.account_id}", attempt)


def transition(store: LedgerStore, account_id: str, change: Transition) -> Outcome | None:
    """Apply an operator or schedule transition with optimistic concurrency. None: nothing to do."""

    def attempt(n: int) -> Outcome | Retry | None:
        before = store.get_account(account_id)
        if before is None:
            raise AccountNotFound(f"no account {account_id}")
        outcome = change(before)
        if outcome is None:
            return None
        now = outcome.state.updated_at or datetime.now(UTC)
        if store.commit(outcome_change(before, outcome, {}, now, attempt=n)) is None:
            return outcome
        return RETRY

    return with_retries(f"update account {account_id}", attempt)


def close_review(
    store: LedgerStore,
    policy: Policy,
    review_id: str,
    *,
    confirm: bool,
    reason: str,
    actor: str,
    now: datetime,
) -> Review:
    """Close a pending review; confirming runs its finding through the ladder as an operator's call."""

    def attempt(n: int) -> Review | Retry:
        review = store.get_review(review_id)
        if review is None:
            raise ReviewNotFound(f"no review {review_id}")
        if review.status is not ReviewStatus.pending:
            raise ReviewClosed(f"review {review_id} is already {review.status.value}")
        closed = review.model_copy(
            update={
                "status": ReviewStatus.confirmed if confirm else ReviewStatus.dismissed,
                "decided_at": now,
                "decided_by": actor,
                "decision_reason": reason,
            }
        )
        before = store.get_account(review.account_id)
        state = before or engine.new_account(review.account_id, policy, now)
        if confirm:
            # The review's own violation id is already remembered; confirm under a derived id.
            finding = review.finding.model_copy(update={"source_event_id": f"review:{review_id}"})
            outcome = engine.decide(state, [finding], policy, now, force=True, actor=actor)
            _forget_review(outcome.state, review)
            change = outcome_change(before, outcome, {finding.violation_id: finding}, now, attempt=n)
            change = replace(change, close_review=closed)
        else:
            # The account's pointer to this review goes with it: the rule's next finding opens a new one.
            after = None
            if before is not None and before.open_reviews.get(review.finding.rule_id) == review.review_id:
                after = before.model_copy(
                    deep=True, update={"version": before.version + 1, "updated_at": now}
                )
                _forget_review(after, review)
            entry = AuditEntry(
                account_id=state.account_id,
                at=now,
                actor=actor,
                action="dismiss_review",
                reason=reason,
                violation_id=review.violation_id,
                from_status=state.status,
                to_status=state.status,
                version=state.version,
            )
            change = AccountChange(
                account_id=state.account_id,
                state=after,
                expected_version=None if after is None else after.version - 1,
                close_review=closed,
                audit=[entry],
                # Beside the entries of the change that made this version, in a slot of its own per
                # review: a dismissal makes no new version, so two in one instant shared a key.
                audit_offset=900 + zlib.crc32(review_id.encode()) % 99,
                attempt=n,
            )
        if store.commit(change) is None:
            return closed
        return RETRY

    return with_retries(f"decide review {review_id}", attempt)


def _forget_review(state: AccountState, review: Review) -> None:
    """Drop ``state``'s pointer to ``review`` as its rule's pending review (when it is the one)."""
    if state.open_reviews.get(review.finding.rule_id) == review.review_id:
        del state.open_reviews[review.finding.rule_id]


# ------------------------------------------------------------------ the operators' console's reads

LIST_SCAN_PAGES = 20  # ledger pages read at most for one filtered page of accounts
REVIEW_SCAN_LIMIT = 2000  # pending reviews counted for the accounts' "pending reviews" column


@dataclass(frozen=True)
class AccountFilter:
    """The accounts list's filters; every given one must match. ``q``: a substring of the id."""

    status: str | None = None
    plan: str | None = None
    allowlisted: bool | None = None
    pending_reviews: bool | None = None
    q: str | None = None

    @property
    def empty(self) -> bool:
        return all(
            v is None for v in (self.status, self.plan, self.allowlisted, self.pending_reviews, self.q)
        )

    def matches(self, v: AccountView, pending: int) -> bool:
        return (
            (self.status is None or v.status == self.status)
            and (self.plan is None or v.plan == self.plan)
            and (self.allowlisted is None or v.allowlisted == self.allowlisted)
            and (self.pending_reviews is None or (pending > 0) == self.pending_reviews)
            and (self.q is None or self.q.lower() in v.account_id.lower())
        )


def pending_review_counts(ledger: Ledger, limit: int = REVIEW_SCAN_LIMIT) -> dict[str, int]:
    """Pending reviews per account (the first ``limit`` pending reviews)."""
    counts: dict[str, int] = {}
    token: str | None = None
    seen = 0
    while seen < limit:
        page = ledger.list_reviews(ReviewStatus.pending.value, min(200, limit - seen), token)
        for r in page.items:
            counts[r.account_id] = counts.get(r.account_id, 0) + 1
        seen += len(page.items)
        token = page.next_token
        if not token or not page.items:
            break
    return counts


def list_summaries(
    ledger: Ledger, filters: AccountFilter, *, limit: int, next_token: str | None, now: datetime
) -> tuple[list[tuple[AccountView, int]], str | None]:
    """Accounts with their pending reviews, filtered. With filters, ledger pages are read until
    ``limit`` accounts match (at most ``LIST_SCAN_PAGES`` pages): every match of each page read is
    returned, so the next token never skips one."""
    pending = pending_review_counts(ledger)
    out: list[tuple[AccountView, int]] = []
    token = next_token
    for _ in range(1 if filters.empty else LIST_SCAN_PAGES):
        page = ledger.list_accounts(limit, token)
        for state in page.items:
            v = view(state, now)
            n = pending.get(v.account_id, 0)
            if filters.matches(v, n):
                out.append((v, n))
        token = page.next_token
        if not token or len(out) >= limit:
            break
    return out, token


REVIEW_STATUSES: dict[str, tuple[str, ...]] = {
    "open": (ReviewStatus.pending.value,),
    "pending": (ReviewStatus.pending.value,),
    "decided": (ReviewStatus.confirmed.value, ReviewStatus.dismissed.value),
    "confirmed": (ReviewStatus.confirmed.value,),
    "dismissed": (ReviewStatus.dismissed.value,),
    "all": (ReviewStatus.pending.value, ReviewStatus.confirmed.value, ReviewStatus.dismissed.value),
}


def reviews_with_details(
    ledger: Ledger, policy: Policy, status: str, *, limit: int, next_token: str | None, now: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    """Reviews of ``status`` (``open``, ``decided``, ``all`` or a stored status) with what an operator
    decides on: rule, clause, severity (the finding's, else the rule's in the policy), confidence,
    evidence as recorded (already scrubbed), and the account's current document.

    Several statuses are listed one after another; the token is ``<status>:<ledger token>``."""
    statuses = REVIEW_STATUSES[status]
    index, token = 0, next_token
    if next_token and ":" in next_token and next_token.split(":", 1)[0] in statuses:
        name, rest = next_token.split(":", 1)
        index, token = statuses.index(name), rest or None
    items: list[Review] = []
    out_token: str | None = None
    while index < len(statuses) and len(items) < limit:
        page = ledger.list_reviews(statuses[index], limit - len(items), token)
        items.extend(page.items)
        if page.next_token:
            out_token = f"{statuses[index]}:{page.next_token}"
            break
        index, token = index + 1, None
        out_token = f"{statuses[index]}:" if index < len(statuses) and len(items) >= limit else None
    states: dict[str, AccountView | None] = {}
    details = []
    for r in items:
        if r.account_id not in states:
            state = ledger.get_account(r.account_id)
            states[r.account_id] = view(state, now) if state is not None else None
        f = r.finding
        severity = f.severity.value if f.severity is not None else _rule_severity(policy, f.rule_id)
        details.append(
            {
                **r.model_dump(mode="json"),
                "rule_id": f.rule_id,
                "clause": f.clause,
                "severity": severity,
                "confidence": f.confidence,
                "summary": f.summary,
                "evidence": f.evidence,
                "account": (a.model_dump(mode="json") if (a := states[r.account_id]) is not None else None),
            }
        )
    return details, out_token


def _rule_severity(policy: Policy, rule_id: str) -> str | None:
    rule = policy.rules.get(rule_id)
    return rule.severity.value if rule is not None else None


USAGE_MAX_HOURS = 24 * 14


def usage_series(
    ledger: Ledger,
    policy: Policy,
    reader: MetricsReader,
    account_id: str,
    metric: str,
    *,
    hours: int,
    now: datetime,
) -> dict[str, Any]:
    """The account's ``metric`` (AUP/Usage) over the last ``hours``, one point per sweep period, with
    its plan's limit for one period (the line the usage monitor judges against, before its factor).
    Raises AccountNotFound, ValueError for a metric the policy does not judge."""
    state = _require(ledger, account_id)
    section = policy.usage_monitoring
    rule = section.metrics.get(metric)
    if rule is None:
        raise ValueError(
            f"unknown metric {metric!r}; the policy judges: {', '.join(sorted(section.metrics))}"
        )
    period = section.period_seconds
    start = now - timedelta(hours=max(1, min(hours, USAGE_MAX_HOURS)))
    query = SeriesQuery(account_id, metric, rule.statistic, period)
    (points,) = reader.read([query], start, now)
    limit = limit_per_period(rule, policy.plan(state.plan), period)
    return {
        "account_id": account_id,
        "metric": metric,
        "unit": rule.unit,
        "statistic": rule.statistic,
        "period_seconds": period,
        "limit": limit,
        "factor": section.factor,
        "plan": state.plan,
        "points": [{"t": t.astimezone(UTC).isoformat(), "v": v} for t, v in points],
    }


REPORT_SCAN_ACCOUNTS = 5000


def mandatory_reports(ledger: Ledger, *, limit_accounts: int = REPORT_SCAN_ACCOUNTS) -> list[dict[str, Any]]:
    """Every mandatory report (I2/W4 hash matches) written for the authorities, newest first: the
    report item with its violation, account and when it was detected. Read per account (the reports
    hang off their violations), the first ``limit_accounts`` accounts."""
    from aup.detectors.uploads.detectors import MANDATORY_REPORT_RULES
    from aup.usecases.export import _all_violations, _jsonable
    from aup.usecases.scan_upload import MANDATORY_REPORT_SCOPE

    out: list[dict[str, Any]] = []
    token: str | None = None
    seen = 0
    while seen < limit_accounts:
        page = ledger.list_accounts(200, token)
        for state in page.items:
            found = [
                v for v in _all_violations(ledger, state.account_id) if v.rule_id in MANDATORY_REPORT_RULES
            ]
            if not found:
                continue
            counters = ledger.get_counters([(MANDATORY_REPORT_SCOPE, v.violation_id) for v in found])
            for v in found:
                report = counters.get((MANDATORY_REPORT_SCOPE, v.violation_id))
                out.append(
                    {
                        "account_id": state.account_id,
                        "violation_id": v.violation_id,
                        "rule_id": v.rule_id,
                        "clause": v.clause,
                        "detected_at": v.detected_at.isoformat(),
                        "decision": v.decision,
                        "report": _jsonable(report) if report is not None else None,
                    }
                )
        seen += len(page.items)
        token = page.next_token
        if not token or not page.items:
            break
    out.sort(key=lambda r: str(r["detected_at"]), reverse=True)
    return out
