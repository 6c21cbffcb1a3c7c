"""Enforcement: findings run up the ladder and land in the ledger, one transaction per account.

Each account change is: load the state (with its version) -> ``engine.decide`` -> commit the prepared
``AccountChange``. A commit cancelled by a concurrent change reloads and decides again
(``with_retries``: 25 attempts, full-jitter backoff); a violation that already exists is a redelivery
and its finding is dropped. The store (``aup.domain.ports.LedgerStore``) only stores.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar, cast

from aup.domain.engine import decide, new_account
from aup.domain.models import AccountState, Decision, Finding, Outcome, Review, SourceBlock, Violation
from aup.domain.ports import AccountChange, LedgerError, LedgerStore, ShadowStore
from aup.domain.redact import scrub
from aup.policy import Policy

if TYPE_CHECKING:
    from aup.usecases.shadow import Shadow

MAX_ATTEMPTS = 25  # optimistic retries under contention; then the caller fails the record
FINDINGS_PER_TRANSACTION = 25  # each finding writes <= 3 items; state and key projections fit beside

T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """An attempt's answer: cancelled, try again (after a backoff, or at once when progress was made)."""

    backoff: bool = True


RETRY = Retry()
RETRY_NOW = Retry(backoff=False)


def full_jitter(attempt: int) -> float:
    """Seconds to wait before ``attempt`` + 1: uniform in [0, min(1 s, 20 ms * 2^attempt)).

    50 writers on one account settle in a few rounds instead of colliding again.
    """
    return min(1.0, 0.02 * (2 ** min(attempt, 10))) * random.random()


def with_retries(
    what: str,
    attempt: Callable[[int], T | Retry],
    *,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt(n)`` until it answers something other than a ``Retry``; LedgerError after
    ``attempts`` tries ("could not <what>: too many concurrent changes")."""
    for n in range(attempts):
        result = attempt(n)
        if not isinstance(result, Retry):
            return result
        if result.backoff:
            sleep(full_jitter(n))
    raise LedgerError(f"could not {what}: too many concurrent changes")


def violation_of(d: Decision, finding: Finding, now: datetime) -> Violation:
    """The violation item of one decision, its evidence scrubbed."""
    return Violation(
        violation_id=d.violation_id,
        account_id=d.account_id,
        rule_id=d.rule_id,
        clause=d.clause,
        severity=d.severity,
        confidence=finding.confidence,
        source=finding.source,
        source_event_id=finding.source_event_id,
        detected_at=finding.detected_at,
        recorded_at=now,
        summary=scrub(finding.summary),
        evidence=scrub(finding.evidence),
        decision=d.label,
        policy_version=d.policy_version,
    )


def _scrubbed(review: Review) -> Review:
    f = review.finding
    return review.model_copy(
        update={"finding": f.model_copy(update={"evidence": scrub(f.evidence), "summary": scrub(f.summary)})}
    )


def outcome_change(
    before: AccountState | None,
    outcome: Outcome,
    findings: Mapping[str, Finding],
    now: datetime,
    *,
    attempt: int = 0,
) -> AccountChange:
    """The transaction that records ``outcome`` over ``before`` (None: the account is new).

    Evidence is scrubbed here, whatever the detector did; the keys' enforcement view is rewritten
    when the status, the suspension or the plan changed.
    """
    state = outcome.state
    enforcement_changed = before is None or (before.status, before.suspension) != (
        state.status,
        state.suspension,
    )
    return AccountChange(
        account_id=state.account_id,
        state=state,
        expected_version=before.version if before else None,
        project_keys=enforcement_changed or (before is not None and before.plan != state.plan),
        violations=[violation_of(d, findings[d.violation_id], now) for d in outcome.decisions],
        reviews=[_scrubbed(r) for r in outcome.reviews],
        review_repeats=list(outcome.repeats),
        audit=list(outcome.audit),
        attempt=attempt,
    )


def apply_account(
    store: LedgerStore, policy: Policy, account_id: str, findings: Sequence[Finding], now: datetime
) -> Outcome:
    """Apply one account's findings (at most ``FINDINGS_PER_TRANSACTION``) in one transaction."""
    pending = {f.violation_id: f for f in findings}
    closed: set[str] = set()  # reviews the state points at that are no longer pending

    def attempt(n: int) -> Outcome | Retry:
        before = store.get_account(account_id)
        state = before or new_account(account_id, policy, now)
        if closed and state.open_reviews:  # decided meanwhile, or gone: the rule opens a new review
            state = state.model_copy(
                update={"open_reviews": {k: v for k, v in state.open_reviews.items() if v not in closed}}
            )
        outcome = decide(state, list(pending.values()), policy, now)
        if not outcome.changed:
            return outcome
        conflict = store.commit(outcome_change(before, outcome, pending, now, attempt=n))
        if conflict is None:
            return outcome
        # A violation item that already exists: that finding was applied before (redelivery).
        for vid in conflict.duplicates:
            pending.pop(vid, None)
        closed.update(conflict.closed_reviews)
        if not pending:
            return Outcome(state=before or state)
        return RETRY_NOW if conflict.duplicates or conflict.closed_reviews else RETRY

    return with_retries(f"apply findings to {account_id}", attempt)


def block_source(store: LedgerStore, policy: Policy, finding: Finding) -> SourceBlock:
    """Block the finding's source address (IP-scoped findings), extending an existing block."""
    assert finding.source_ip_hash is not None
    # From the evidence's own time, not the clock: a redelivered finding computes the same end and
    # leaves the block as it is (the clock would extend it on every redelivery).
    until = finding.detected_at + timedelta(hours=policy.ladder.source_block_hours)
    block = SourceBlock(
        source_ip_hash=finding.source_ip_hash,
        until=until,
        rule_id=finding.rule_id,
        violation_id=finding.violation_id,
    )
    store.put_source_block(block)
    return block


def _shadow_seed(
    store: LedgerStore, shadow: Shadow, account_id: str
) -> tuple[Policy, AccountState | None, AccountState | None] | None:
    """Before the live commit: (candidate, shadow state, live state when there is no shadow state yet),
    None when no candidate is configured or the shadow path failed (reported, never raised)."""
    try:
        candidate = shadow.policy()
        if candidate is None:
            return None
        seed = cast(ShadowStore, store).get_shadow_state(account_id)
        return candidate, seed, store.get_account(account_id) if seed is None else None
    except Exception as exc:  # the shadow path never fails the live one
        shadow.on_error(account_id, exc)
        return None


def _shadow_run(
    store: LedgerStore,
    shadow: Shadow,
    prepared: tuple[Policy, AccountState | None, AccountState | None],
    live_policy: Policy,
    account_id: str,
    findings: Sequence[Finding],
    live: Outcome,
    now: datetime,
) -> None:
    from aup.usecases.shadow import evaluate

    candidate, seed, live_before = prepared
    try:
        evaluate(
            cast(ShadowStore, store),
            candidate,
            account_id,
            findings,
            live,
            live_before,
            seed,
            live_policy.policy_version,
            now,
        )
    except Exception as exc:  # reported by on_error; the live path stands
        shadow.on_error(account_id, exc)


def apply_findings(
    store: LedgerStore,
    policy: Policy,
    findings: Sequence[Finding],
    now: datetime,
    shadow: Shadow | None = None,
) -> list[Outcome]:
    """Record findings and apply the ladder, one transaction per account (and per 25 findings).

    IP-scoped findings (no account) become source blocks. Raises LedgerError when an account's
    write keeps conflicting: the caller fails the record so that the platform redelivers it.
    With ``shadow`` (a candidate policy), each committed chunk is then decided again under the
    candidate and recorded as shadow decisions (``aup.usecases.shadow``); a failure there is
    reported through ``shadow.on_error`` and never raised.
    """
    by_account: dict[str, list[Finding]] = defaultdict(list)
    outcomes: list[Outcome] = []
    for f in findings:
        if f.account_id is None:
            if f.source_ip_hash:
                block_source(store, policy, f)
            continue
        by_account[f.account_id].append(f)
    for account_id, group in by_account.items():
        for i in range(0, len(group), FINDINGS_PER_TRANSACTION):
            chunk = group[i : i + FINDINGS_PER_TRANSACTION]
            prepared = _shadow_seed(store, shadow, account_id) if shadow is not None else None
            outcome = apply_account(store, policy, account_id, chunk, now)
            outcomes.append(outcome)
            if shadow is not None and prepared is not None:
                _shadow_run(store, shadow, prepared, policy, account_id, chunk, outcome, now)
        for f in group:
            if f.source_ip_hash:
                block_source(store, policy, f)
    return outcomes
