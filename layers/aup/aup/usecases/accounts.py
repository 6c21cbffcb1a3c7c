"""Operators' use cases: register, suspend, reinstate, allowlist accounts; decide reviews.

Each takes the ledger, the time and the acting operator explicitly; the admin API's handler only
translates HTTP to these calls.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from aup.domain import engine
from aup.domain.models import AccountState, AccountView, Review, hash_api_key
from aup.domain.ports import AccountNotFound, Ledger, LedgerError
from aup.policy import Policy


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
