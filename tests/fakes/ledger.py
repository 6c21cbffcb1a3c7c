"""An in-memory ``LedgerStore`` (aup.domain.ports) with the DynamoDB store's conditions and atomicity.

``memory_ledger()`` wraps it in the same ``EnforcementLedger`` the handlers get, so the use cases run
exactly as in Lambda, without moto. ``before_commit`` lets a test act between a use case's read and
its commit (a concurrent writer); ``commits`` and ``cancelled`` count what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aup.adapters.dynamodb.codecs import marker_id
from aup.adapters.dynamodb.ledger import MARKER_SLOT_SECONDS
from aup.domain.models import (
    AccountState,
    ApiKeyRecord,
    AuditEntry,
    Review,
    ReviewStatus,
    SourceBlock,
    Status,
    SuspensionKind,
    Violation,
)
from aup.domain.ports import (
    AccountChange,
    Conflict,
    CounterUpdate,
    LedgerUnavailable,
    Page,
    ShadowDecision,
)


class MemoryStore:
    """The ledger table as dicts. Every commit is all-or-nothing, guarded as ``DynamoStore.commit``."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        self.violations: dict[tuple[str, str], Violation] = {}
        self.audit: dict[tuple[str, str], AuditEntry] = {}
        self.reviews: dict[str, Review] = {}
        self.keys: dict[str, ApiKeyRecord] = {}
        self.blocks: dict[str, SourceBlock] = {}
        self.counters: dict[tuple[str, str], dict[str, Any]] = {}
        self.markers: set[str] = set()
        self.counter_markers: dict[str, tuple[int, str]] = {}  # marker -> (slot, pending | done)
        self.counter_marks: dict[tuple[str, str], dict[int, set[bytes]]] = {}  # item -> slot -> ids
        self.counter_writes = 0
        self.fail_after_counters: int | None = None
        self.shadow_states: dict[str, AccountState] = {}
        self.shadow_decisions: dict[tuple[str, str], ShadowDecision] = {}
        self.before_commit: Callable[[AccountChange], None] | None = None
        self.commits = 0
        self.cancelled: list[Conflict] = []

    # --- accounts -----------------------------------------------------------------------------

    def get_account(self, account_id: str) -> AccountState | None:
        state = self.accounts.get(account_id)
        return state.model_copy(deep=True) if state else None

    def commit(self, change: AccountChange) -> Conflict | None:
        if self.before_commit is not None:
            hook, self.before_commit = self.before_commit, None  # once: the concurrent writer acts once
            hook(change)
        state = change.state
        current = self.accounts.get(change.account_id)
        version = state is not None and (
            (current is not None)
            if change.expected_version is None
            else (current is None or current.version != change.expected_version)
        )
        key_taken = change.new_key_hash is not None and change.new_key_hash in self.keys
        review_closed = change.close_review is not None and (
            (r := self.reviews.get(change.close_review.review_id)) is None
            or r.status is not ReviewStatus.pending
        )
        duplicates = frozenset(
            v.violation_id for v in change.violations if (v.account_id, _violation_sk(v)) in self.violations
        )
        audit_keys = [
            (e.account_id, _audit_sk(e, n)) for n, e in enumerate(change.audit, start=change.audit_offset)
        ]
        version = version or any(k in self.audit for k in audit_keys)
        version = version or any(r.review_id in self.reviews for r in change.reviews)
        closed = frozenset(  # folded into a review that is gone or decided: as DynamoDB's condition
            rep.review_id
            for rep in change.review_repeats
            if (r := self.reviews.get(rep.review_id)) is None or r.status is not ReviewStatus.pending
        )
        if version or key_taken or review_closed or duplicates or closed:
            conflict = Conflict(
                version=version,
                key_taken=key_taken,
                review_closed=review_closed,
                duplicates=duplicates,
                closed_reviews=closed,
            )
            self.cancelled.append(conflict)
            return conflict
        self.commits += 1
        if state is not None:
            self.accounts[state.account_id] = state.model_copy(deep=True)
            hashes = list(state.key_hashes) if change.project_keys else []
            if change.new_key_hash is not None:
                hashes.append(change.new_key_hash)
            for key_hash in dict.fromkeys(hashes):
                self.keys[key_hash] = _key_record(key_hash, state)
        if change.close_review is not None:
            self.reviews[change.close_review.review_id] = change.close_review
        for v in change.violations:
            self.violations[(v.account_id, _violation_sk(v))] = v
        for r in change.reviews:
            self.reviews[r.review_id] = r
        for rep in change.review_repeats:
            r = self.reviews[rep.review_id]
            self.reviews[rep.review_id] = r.repeated(rep.count, rep.violation_id, rep.at)
        for k, e in zip(audit_keys, change.audit, strict=True):
            self.audit[k] = e
        return None

    def list_accounts(self, limit: int = 50, next_token: str | None = None) -> Page:
        ids = sorted(i for i, s in self.accounts.items())
        start = int(next_token or 0)
        chunk = ids[start : start + limit]
        more = start + limit < len(ids)
        return Page(items=[self.accounts[i] for i in chunk], next_token=str(start + limit) if more else None)

    def put_source_block(self, block: SourceBlock) -> None:
        existing = self.blocks.get(block.source_ip_hash)
        if existing is None or existing.until < block.until:
            self.blocks[block.source_ip_hash] = block

    # --- queries ------------------------------------------------------------------------------

    def list_violations(self, account_id: str, limit: int = 50, next_token: str | None = None) -> Page:
        mine = sorted(((sk, v) for (a, sk), v in self.violations.items() if a == account_id), reverse=True)
        return Page(items=[v for _, v in mine[:limit]])

    def list_audit(self, account_id: str) -> list[AuditEntry]:
        return [e for (a, _), e in sorted(self.audit.items()) if a == account_id]

    def list_reviews(self, status: str = "pending", limit: int = 50, next_token: str | None = None) -> Page:
        mine = sorted(
            (r for r in self.reviews.values() if r.status.value == status),
            key=lambda r: (r.created_at, r.review_id),
        )
        return Page(items=mine[:limit])

    def get_review(self, review_id: str) -> Review | None:
        return self.reviews.get(review_id)

    def get_key(self, key_hash: str) -> ApiKeyRecord | None:
        return self.keys.get(key_hash)

    def authorizer_lookup(
        self, key_hash: str, source_ip_hash: str | None
    ) -> tuple[ApiKeyRecord | None, SourceBlock | None]:
        return self.keys.get(key_hash), self.blocks.get(source_ip_hash) if source_ip_hash else None

    # --- counters -----------------------------------------------------------------------------

    def add_counters_once(
        self,
        marker: str,
        updates: Sequence[CounterUpdate],
        marker_ttl: timedelta = timedelta(days=3),
        *,
        into: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> bool:
        """``DynamoStore.add_counters_once``'s protocol: the batch's marker item (``pending`` under a
        marker slot, then ``done``), each counter updated unless it already carries the batch's id in
        that slot's set, the sets two and three slots back dropped on each update, a resumption past
        the horizon applying nothing. ``fail_after_counters`` stops a batch (``LedgerUnavailable``)
        after that many counters, as a crash between two updates would."""
        useful = [u for u in updates if u.add or any(u.add_sets.values()) or u.expires_at]
        if not useful:
            return False
        current = int(time.time() // MARKER_SLOT_SECONDS)
        slot, state = self.counter_markers.setdefault(marker, (current, "pending"))
        self.markers.add(marker)
        if state == "done":
            return False
        if current > slot + 1:
            self.counter_markers[marker] = (slot, "done")
            return False
        mid = marker_id(marker)
        applied = False
        for u in useful:
            if self.fail_after_counters is not None:
                if self.fail_after_counters <= 0:
                    self.fail_after_counters = None
                    raise LedgerUnavailable("UpdateItem(counters)", "injected: the batch stopped here")
                self.fail_after_counters -= 1
            k = (u.scope, u.name)
            marks = self.counter_marks.setdefault(k, {})
            if mid in marks.get(slot, set()):
                if into is not None and k in self.counters:
                    into[k] = dict(self.counters[k])
                continue
            item = self.counters.setdefault(k, {})
            for field, inc in u.add.items():
                item[field] = item.get(field, 0) + inc
            for field, members in u.add_sets.items():
                if members:
                    item[field] = set(item.get(field, set())) | set(members)
            if u.expires_at is not None:
                item["expires_at"] = int(u.expires_at.timestamp())
            marks.setdefault(slot, set()).add(mid)
            for old in (current - 2, current - 3):
                if old != slot:
                    marks.pop(old, None)
            self.counter_writes += 1
            applied = True
            if into is not None:
                into[k] = dict(item)
        self.counter_markers[marker] = (slot, "done")
        return applied

    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {k: dict(self.counters[k]) for k in keys if k in self.counters}

    def expired_suspensions(self, now: datetime, limit: int = 500) -> list[str]:
        out = [
            s.account_id
            for s in self.accounts.values()
            if s.status is Status.suspended
            and s.suspension is not None
            and s.suspension.kind is SuspensionKind.temporary
            and s.suspension.until is not None
            and s.suspension.until <= now
        ]
        return sorted(out)[:limit]

    # --- shadow mode (``DynamoStore``'s SHADOWSTATE and SHADOW# items) -------------------------

    def get_shadow_state(self, account_id: str) -> AccountState | None:
        state = self.shadow_states.get(account_id)
        return state.model_copy(deep=True) if state else None

    def commit_shadow(
        self,
        state: AccountState,
        expected_version: int | None,
        decisions: Sequence[ShadowDecision],
        ttl: timedelta,
    ) -> Conflict | None:
        current = self.shadow_states.get(state.account_id)
        moved = (
            (current is not None)
            if expected_version is None
            else (current is None or current.version != expected_version)
        )
        keys = {
            d.violation_id: (state.account_id, f"{_iso(d.detected_at)}#{d.violation_id}") for d in decisions
        }
        duplicates = frozenset(v for v, k in keys.items() if k in self.shadow_decisions)
        if moved or duplicates:
            return Conflict(version=moved, duplicates=duplicates)
        self.shadow_states[state.account_id] = state.model_copy(deep=True)
        for d in decisions:
            self.shadow_decisions[keys[d.violation_id]] = d
        return None

    def list_shadow_decisions(self, account_id: str, since: datetime) -> list[ShadowDecision]:
        return [
            d
            for (a, sk), d in sorted(self.shadow_decisions.items())
            if a == account_id and d.detected_at >= since
        ]


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _violation_sk(v: Violation) -> str:
    return f"VIOLATION#{_iso(v.detected_at)}#{v.violation_id}"


def _audit_sk(e: AuditEntry, n: int) -> str:
    return f"AUDIT#{_iso(e.at)}#{e.version:010d}#{n:03d}"


def _key_record(key_hash: str, state: AccountState) -> ApiKeyRecord:
    s = state.suspension
    return ApiKeyRecord(
        key_hash=key_hash,
        account_id=state.account_id,
        plan=state.plan,
        status=state.status,
        suspension_kind=s.kind if s else None,
        suspended_until=s.until if s else None,
    )


def memory_ledger(policy: Any = None, store: MemoryStore | None = None) -> Any:
    """The handlers' ledger (``aup.bootstrap.EnforcementLedger``) over a ``MemoryStore``."""
    from aup.bootstrap import EnforcementLedger

    return EnforcementLedger(store if store is not None else MemoryStore(), policy)
