"""The ledger's interface: what handlers and detectors may ask of the enforcement record.

The implementation talks to DynamoDB (``aup.adapters.dynamodb``) and applies findings through the pure
engine; handlers depend on this interface only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from aup.domain.models import (
    AccountState,
    ApiKeyRecord,
    AuditEntry,
    Finding,
    Outcome,
    Review,
    SourceBlock,
)


class LedgerError(RuntimeError):
    """The ledger could not complete a write (after its retries): the caller must fail the record."""


class AccountExists(LedgerError):
    pass


class AccountNotFound(LedgerError):
    pass


class ReviewNotFound(LedgerError):
    pass


class ReviewClosed(LedgerError):
    pass


class CounterUpdate(BaseModel):
    """An atomic ``ADD`` to one counter item ``ACCOUNT#<scope> / COUNTER#<name>``.

    ``scope`` is an account id, or any other stable scope (``source:<ip hash>``). ``add`` holds numeric
    increments, ``add_sets`` string-set members (distinct networks, paths); ``expires_at`` sets the
    item's TTL (windows), None keeps it forever (running totals).
    """

    model_config = ConfigDict(defer_build=True)

    scope: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=500)
    add: dict[str, int] = Field(default_factory=dict)
    add_sets: dict[str, list[str]] = Field(default_factory=dict)
    expires_at: datetime | None = None


class Page(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Any]
    next_token: str | None = None


Transition = Callable[[AccountState], Outcome | None]


class Ledger(Protocol):
    # accounts
    def get_account(self, account_id: str) -> AccountState | None: ...
    def create_account(
        self, state: AccountState, key_hash: str, now: datetime, actor: str
    ) -> AccountState: ...
    def list_accounts(self, limit: int = 50, next_token: str | None = None) -> Page: ...
    def transition(self, account_id: str, change: Transition) -> Outcome | None: ...

    # findings
    def apply_findings(self, findings: Sequence[Finding], now: datetime) -> list[Outcome]: ...
    def list_violations(self, account_id: str, limit: int = 50, next_token: str | None = None) -> Page: ...
    def list_audit(self, account_id: str) -> list[AuditEntry]: ...

    # reviews
    def list_reviews(
        self, status: str = "pending", limit: int = 50, next_token: str | None = None
    ) -> Page: ...
    def get_review(self, review_id: str) -> Review | None: ...
    def decide_review(
        self, review_id: str, *, confirm: bool, reason: str, actor: str, now: datetime
    ) -> Review: ...

    # authorizer
    def get_key(self, key_hash: str) -> ApiKeyRecord | None: ...
    def authorizer_lookup(
        self, key_hash: str, source_ip_hash: str | None
    ) -> tuple[ApiKeyRecord | None, SourceBlock | None]: ...

    # detector state across invocations
    def add_counters_once(
        self, marker: str, updates: Sequence[CounterUpdate], marker_ttl: timedelta = timedelta(days=3)
    ) -> bool: ...
    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]: ...

    # expiry
    def expired_suspensions(self, now: datetime, limit: int = 500) -> list[str]: ...
