"""Operators' use cases: register, suspend, reinstate, allowlist accounts; decide reviews.

Each takes the ledger, the time and the acting operator explicitly; the admin API's handler only
translates HTTP to these calls. ``create_account``, ``transition`` and ``close_review`` are the
transactions behind them, run on the store with ``enforce.with_retries`` (the ledger wires them).
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import replace
from datetime import UTC, datetime

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
    ledger: Ledger, *, account_id: str, allowlisted: bool, now: datetime, actor: str
) -> AccountState:
    _require(ledger, account_id)
    outcome = ledger.transition(
        account_id, lambda s: engine.set_allowlisted(s, allowlisted=allowlisted, actor=actor, now=now)
    )
    return _state_after(outcome, ledger, account_id)


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
            change = outcome_change(before, outcome, {finding.violation_id: finding}, now, attempt=n)
            change = replace(change, close_review=closed)
        else:
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
                state=None,
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
