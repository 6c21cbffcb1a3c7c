"""The ledger on one DynamoDB table (DESIGN.md's single-table layout).

| pk                 | sk                               | item                                            |
|--------------------|----------------------------------|-------------------------------------------------|
| ACCOUNT#<id>       | STATE                            | the account state (``doc``) + projections       |
| ACCOUNT#<id>       | VIOLATION#<detected>#<vid>       | one violation, created once                     |
| ACCOUNT#<id>       | AUDIT#<at>#<version>#<n>         | one state change                                |
| ACCOUNT#<scope>    | COUNTER#<name>                   | windowed counters (TTL) and running totals      |
| KEY#<sha256>       | KEY                              | api key -> account, with the enforcement view   |
| REVIEW#<id>        | REVIEW                           | review item                                     |
| SOURCE#<ip hash>   | BLOCK                            | IP-scoped block (D2), TTL                       |
| MARK#<marker>      | MARK                             | applied-once marker for counter batches, TTL    |

GSI1 (gsi1pk, gsi1sk) lists accounts (``ACCOUNT``) and reviews by status (``REVIEW#<status>``).
GSI2 (gsi2pk, gsi2sk) lists temporary suspensions by end (``TEMPSUSP``), for the expiry sweep.

Every account change is one ``TransactWriteItems``: state guarded by its version, violations,
reviews and audit entries guarded by ``attribute_not_exists``, key projections. A conflict reloads
and recomputes; a violation that already exists is a redelivery and is dropped.
"""

from __future__ import annotations

import base64
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from aup.domain.models import (
    AccountState,
    ApiKeyRecord,
    AuditEntry,
    Finding,
    Outcome,
    Review,
    ReviewStatus,
    SourceBlock,
    Status,
    SuspensionKind,
    Violation,
)
from aup.domain.ports import (
    AccountExists,
    AccountNotFound,
    CounterUpdate,
    LedgerError,
    Page,
    ReviewClosed,
    ReviewNotFound,
    Transition,
)
from aup.domain.redact import scrub

if TYPE_CHECKING:
    from aup.policy import Policy

MAX_ATTEMPTS = 25  # optimistic retries under contention; then the caller fails the record
FINDINGS_PER_TRANSACTION = 25  # each finding writes <= 3 items; state and key projections fit beside
KEYS_PER_ACCOUNT = 20


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _encode_token(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode() if key else None


def _decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except Exception as exc:
        raise ValueError("next_token is not a token this API issued") from exc
    if not isinstance(key, dict):
        raise ValueError("next_token is not a token this API issued")
    return key


def _cancel_codes(exc: Exception) -> list[str]:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [r.get("Code") or "None" for r in reasons]


def _is_cancelled(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "TransactionCanceledException"


def _is_conditional(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _backoff(attempt: int) -> None:
    # Full jitter, capped: 50 writers on one account settle in a few rounds instead of colliding again.
    time.sleep(min(1.0, 0.02 * (2 ** min(attempt, 10))) * random.random())


class DynamoLedger:
    """The ledger backed by the table named ``table``. Clients are created lazily."""

    def __init__(self, table: str, policy: Policy | None = None, client: Any = None) -> None:
        self.table = table
        self._policy = policy
        self._client = client

    @property
    def policy(self) -> Policy:
        """The policy, loaded on first use: the authorizer's path never needs it (cold start)."""
        if self._policy is None:
            from aup.bootstrap import policy

            self._policy = policy()
        return self._policy

    @property
    def ddb(self) -> Any:
        if self._client is None:
            from aup.adapters.aws import client

            self._client = client("dynamodb")
        return self._client

    # --- item codecs --------------------------------------------------------------------------

    def _state_item(self, state: AccountState, now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": _s(f"ACCOUNT#{state.account_id}"),
            "sk": _s("STATE"),
            "type": _s("account"),
            "account_id": _s(state.account_id),
            "plan": _s(state.plan),
            "status": _s(state.status.value),
            "version": _n(state.version),
            "allowlisted": {"BOOL": state.allowlisted},
            "doc": _s(state.model_dump_json()),
            "gsi1pk": _s("ACCOUNT"),
            "gsi1sk": _s(state.account_id),
        }
        s = state.suspension
        if state.status is Status.suspended and s is not None:
            item["suspension_kind"] = _s(s.kind.value)
            if s.kind is SuspensionKind.temporary and s.until is not None:
                item["suspended_until"] = _s(_iso(s.until))
                item["gsi2pk"] = _s("TEMPSUSP")
                item["gsi2sk"] = _s(_iso(s.until))
        return item

    def _key_item(self, key_hash: str, state: AccountState) -> dict[str, Any]:
        record = ApiKeyRecord(
            key_hash=key_hash,
            account_id=state.account_id,
            plan=state.plan,
            status=state.status,
            suspension_kind=state.suspension.kind if state.suspension else None,
            suspended_until=state.suspension.until if state.suspension else None,
        )
        return {
            "pk": _s(f"KEY#{key_hash}"),
            "sk": _s("KEY"),
            "type": _s("key"),
            "account_id": _s(state.account_id),
            "doc": _s(record.model_dump_json()),
        }

    @staticmethod
    def _state_from(item: dict[str, Any]) -> AccountState:
        return AccountState.model_validate_json(item["doc"]["S"])

    def _violation_item(self, v: Violation) -> dict[str, Any]:
        return {
            "pk": _s(f"ACCOUNT#{v.account_id}"),
            "sk": _s(f"VIOLATION#{_iso(v.detected_at)}#{v.violation_id}"),
            "type": _s("violation"),
            "violation_id": _s(v.violation_id),
            "rule_id": _s(v.rule_id),
            "clause": _s(v.clause),
            "decision": _s(v.decision),
            "doc": _s(v.model_dump_json()),
        }

    def _audit_item(self, entry: AuditEntry, n: int) -> dict[str, Any]:
        return {
            "pk": _s(f"ACCOUNT#{entry.account_id}"),
            "sk": _s(f"AUDIT#{_iso(entry.at)}#{entry.version:010d}#{n:03d}"),
            "type": _s("audit"),
            "action": _s(entry.action),
            "actor": _s(entry.actor),
            "doc": _s(entry.model_dump_json()),
        }

    def _review_item(self, review: Review) -> dict[str, Any]:
        return {
            "pk": _s(f"REVIEW#{review.review_id}"),
            "sk": _s("REVIEW"),
            "type": _s("review"),
            "account_id": _s(review.account_id),
            "status": _s(review.status.value),
            "doc": _s(review.model_dump_json()),
            "gsi1pk": _s(f"REVIEW#{review.status.value}"),
            "gsi1sk": _s(f"{_iso(review.created_at)}#{review.review_id}"),
        }

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """One ``TransactWriteItems``: None when it committed, else each item's cancellation code.

        A cancellation (a condition failed, or a concurrent transaction) is the caller's to resolve;
        any other error propagates.
        """
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except Exception as exc:
            if not _is_cancelled(exc):
                raise
            return _cancel_codes(exc)
        return None

    # --- accounts -----------------------------------------------------------------------------

    def _get_state_item(self, account_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": _s(f"ACCOUNT#{account_id}"), "sk": _s("STATE")},
            ConsistentRead=True,
        )
        return resp.get("Item")

    def get_account(self, account_id: str) -> AccountState | None:
        item = self._get_state_item(account_id)
        return self._state_from(item) if item else None

    def create_account(self, state: AccountState, key_hash: str, now: datetime, actor: str) -> AccountState:
        """Register an account with its first key. An account first seen through findings is adopted."""
        for attempt in range(MAX_ATTEMPTS):
            existing = self.get_account(state.account_id)
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
            items = [
                self._put_state(new, existing.version if existing else None, now),
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._key_item(key_hash, new),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                self._put_new(self._audit_item(entry, 0)),
            ]
            codes = self._transact(items)
            if codes is None:
                return new
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise AccountExists("that api key is already registered")
            _backoff(attempt)
        raise LedgerError(f"could not create account {state.account_id}: too many conflicts")

    def list_accounts(self, limit: int = 50, next_token: str | None = None) -> Page:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": _s("ACCOUNT")},
            "Limit": max(1, min(limit, 1000)),
        }
        start = _decode_token(next_token)
        if start:
            kwargs["ExclusiveStartKey"] = start
        resp = self.ddb.query(**kwargs)
        return Page(
            items=[self._state_from(i) for i in resp.get("Items", [])],
            next_token=_encode_token(resp.get("LastEvaluatedKey")),
        )

    def _put_state(self, state: AccountState, expected_version: int | None, now: datetime) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": self._state_item(state, now)}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": _n(expected_version)}
        return {"Put": put}

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }

    def _outcome_items(
        self, before: AccountState | None, outcome: Outcome, findings: dict[str, Finding], now: datetime
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Transaction items for one outcome, and the violation id of each violation item (by index)."""
        state = outcome.state
        items = [self._put_state(state, before.version if before else None, now)]
        vids: list[str] = [""]
        enforcement_changed = before is None or (before.status, before.suspension) != (
            state.status,
            state.suspension,
        )
        if enforcement_changed or (before is not None and before.plan != state.plan):
            for key_hash in state.key_hashes:
                items.append({"Put": {"TableName": self.table, "Item": self._key_item(key_hash, state)}})
                vids.append("")
        for d in outcome.decisions:
            f = findings[d.violation_id]
            violation = Violation(
                violation_id=d.violation_id,
                account_id=d.account_id,
                rule_id=d.rule_id,
                clause=d.clause,
                severity=d.severity,
                confidence=f.confidence,
                source=f.source,
                source_event_id=f.source_event_id,
                detected_at=f.detected_at,
                recorded_at=now,
                summary=scrub(f.summary),
                evidence=scrub(f.evidence),
                decision=d.label,
                policy_version=d.policy_version,
            )
            items.append(self._put_new(self._violation_item(violation)))
            vids.append(d.violation_id)
        for r in outcome.reviews:
            safe = r.model_copy(
                update={
                    "finding": r.finding.model_copy(
                        update={"evidence": scrub(r.finding.evidence), "summary": scrub(r.finding.summary)}
                    )
                }
            )
            items.append(self._put_new(self._review_item(safe)))
            vids.append("")
        for n, entry in enumerate(outcome.audit):
            items.append(self._put_new(self._audit_item(entry, n)))
            vids.append("")
        return items, vids

    def transition(self, account_id: str, change: Transition) -> Outcome | None:
        """Apply an operator or schedule transition with optimistic concurrency. None: nothing to do."""
        for attempt in range(MAX_ATTEMPTS):
            item = self._get_state_item(account_id)
            if item is None:
                raise AccountNotFound(f"no account {account_id}")
            before = self._state_from(item)
            outcome = change(before)
            if outcome is None:
                return None
            now = outcome.state.updated_at or datetime.now(UTC)
            items, _ = self._outcome_items(before, outcome, {}, now)
            if self._transact(items) is None:
                return outcome
            _backoff(attempt)
        raise LedgerError(f"could not update account {account_id}: too many concurrent changes")

    # --- findings -----------------------------------------------------------------------------

    def apply_findings(self, findings: Sequence[Finding], now: datetime) -> list[Outcome]:
        """Record findings and apply the ladder, one transaction per account (and per 25 findings).

        IP-scoped findings (no account) become source blocks. Raises LedgerError when an account's
        write keeps conflicting: the caller fails the record so that the platform redelivers it.
        """
        by_account: dict[str, list[Finding]] = defaultdict(list)
        outcomes: list[Outcome] = []
        for f in findings:
            if f.account_id is None:
                if f.source_ip_hash:
                    self.block_source(f, now)
                continue
            by_account[f.account_id].append(f)
        for account_id, group in by_account.items():
            for i in range(0, len(group), FINDINGS_PER_TRANSACTION):
                outcomes.append(self._apply_account(account_id, group[i : i + FINDINGS_PER_TRANSACTION], now))
            for f in group:
                if f.source_ip_hash:
                    self.block_source(f, now)
        return outcomes

    def _apply_account(self, account_id: str, findings: list[Finding], now: datetime) -> Outcome:
        pending = {f.violation_id: f for f in findings}
        for attempt in range(MAX_ATTEMPTS):
            item = self._get_state_item(account_id)
            before = self._state_from(item) if item else None
            from aup.domain.engine import decide, new_account

            state = before or new_account(account_id, self.policy, now)
            outcome = decide(state, list(pending.values()), self.policy, now)
            if not outcome.changed:
                return outcome
            items, vids = self._outcome_items(before, outcome, pending, now)
            codes = self._transact(items)
            if codes is None:
                return outcome
            # A violation item that already exists: that finding was applied before (redelivery).
            duplicates = {vids[i] for i, c in enumerate(codes) if c == "ConditionalCheckFailed" and vids[i]}
            for vid in duplicates:
                pending.pop(vid, None)
            if not pending:
                return Outcome(state=before or state)
            if not duplicates:
                _backoff(attempt)
        raise LedgerError(f"could not apply findings to {account_id}: too many concurrent changes")

    def block_source(self, finding: Finding, now: datetime) -> SourceBlock:
        assert finding.source_ip_hash is not None
        # From the evidence's own time, not the clock: a redelivered finding computes the same end and
        # leaves the block as it is (the clock would extend it on every redelivery).
        until = finding.detected_at + timedelta(hours=self.policy.ladder.source_block_hours)
        block = SourceBlock(
            source_ip_hash=finding.source_ip_hash,
            until=until,
            rule_id=finding.rule_id,
            violation_id=finding.violation_id,
        )
        # Extend, never shorten, an existing block.
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": _s(f"SOURCE#{finding.source_ip_hash}"),
                    "sk": _s("BLOCK"),
                    "type": _s("source_block"),
                    "until": _s(_iso(until)),
                    "expires_at": _n(_epoch(until) + 86400),
                    "doc": _s(block.model_dump_json()),
                },
                ConditionExpression="attribute_not_exists(pk) OR #u < :u",
                ExpressionAttributeNames={"#u": "until"},
                ExpressionAttributeValues={":u": _s(_iso(until))},
            )
        except Exception as exc:
            if not _is_conditional(exc):
                raise
        return block

    def _page(self, kwargs: dict[str, Any], next_token: str | None, limit: int, model: Any) -> Page:
        kwargs["Limit"] = max(1, min(limit, 500))
        start = _decode_token(next_token)
        if start:
            kwargs["ExclusiveStartKey"] = start
        resp = self.ddb.query(**kwargs)
        return Page(
            items=[model.model_validate_json(i["doc"]["S"]) for i in resp.get("Items", [])],
            next_token=_encode_token(resp.get("LastEvaluatedKey")),
        )

    def list_violations(self, account_id: str, limit: int = 50, next_token: str | None = None) -> Page:
        return self._page(
            {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                "ExpressionAttributeValues": {":p": _s(f"ACCOUNT#{account_id}"), ":s": _s("VIOLATION#")},
                "ScanIndexForward": False,
            },
            next_token,
            limit,
            Violation,
        )

    def list_audit(self, account_id: str) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": _s(f"ACCOUNT#{account_id}"), ":s": _s("AUDIT#")},
            "ConsistentRead": True,
        }
        while True:
            resp = self.ddb.query(**kwargs)
            out.extend(AuditEntry.model_validate_json(i["doc"]["S"]) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # --- reviews ------------------------------------------------------------------------------

    def list_reviews(self, status: str = "pending", limit: int = 50, next_token: str | None = None) -> Page:
        return self._page(
            {
                "TableName": self.table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "gsi1pk = :p",
                "ExpressionAttributeValues": {":p": _s(f"REVIEW#{status}")},
            },
            next_token,
            limit,
            Review,
        )

    def get_review(self, review_id: str) -> Review | None:
        resp = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": _s(f"REVIEW#{review_id}"), "sk": _s("REVIEW")},
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return Review.model_validate_json(item["doc"]["S"]) if item else None

    def decide_review(
        self, review_id: str, *, confirm: bool, reason: str, actor: str, now: datetime
    ) -> Review:
        """Close a pending review; confirming runs its finding through the ladder as an operator's call."""
        for attempt in range(MAX_ATTEMPTS):
            review = self.get_review(review_id)
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
            review_put = {
                "Put": {
                    "TableName": self.table,
                    "Item": self._review_item(closed),
                    "ConditionExpression": "#st = :pending",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": {":pending": _s("pending")},
                }
            }
            items: list[dict[str, Any]] = [review_put]
            item = self._get_state_item(review.account_id)
            before = self._state_from(item) if item else None
            from aup.domain.engine import decide, new_account

            state = before or new_account(review.account_id, self.policy, now)
            if confirm:
                # The review's own violation id is already remembered; confirm under a derived id.
                finding = review.finding.model_copy(update={"source_event_id": f"review:{review_id}"})
                outcome = decide(state, [finding], self.policy, now, force=True, actor=actor)
                more, _ = self._outcome_items(before, outcome, {finding.violation_id: finding}, now)
                items.extend(more)
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
                items.append(self._put_new(self._audit_item(entry, 900)))
            if self._transact(items) is None:
                return closed
            _backoff(attempt)
        raise LedgerError(f"could not decide review {review_id}: too many concurrent changes")

    # --- authorizer ---------------------------------------------------------------------------

    def get_key(self, key_hash: str) -> ApiKeyRecord | None:
        resp = self.ddb.get_item(TableName=self.table, Key={"pk": _s(f"KEY#{key_hash}"), "sk": _s("KEY")})
        item = resp.get("Item")
        return ApiKeyRecord.model_validate_json(item["doc"]["S"]) if item else None

    def authorizer_lookup(
        self, key_hash: str, source_ip_hash: str | None
    ) -> tuple[ApiKeyRecord | None, SourceBlock | None]:
        """The key's enforcement view and any block on the caller's source: one BatchGetItem."""
        keys = [{"pk": _s(f"KEY#{key_hash}"), "sk": _s("KEY")}]
        if source_ip_hash:
            keys.append({"pk": _s(f"SOURCE#{source_ip_hash}"), "sk": _s("BLOCK")})
        request: dict[str, Any] = {self.table: {"Keys": keys}}
        found: list[dict[str, Any]] = []
        for attempt in range(MAX_ATTEMPTS):
            resp = self.ddb.batch_get_item(RequestItems=request)
            found.extend(resp.get("Responses", {}).get(self.table, []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise LedgerError("authorizer lookup left unprocessed keys")
        record: ApiKeyRecord | None = None
        block: SourceBlock | None = None
        for item in found:
            if item["pk"]["S"].startswith("KEY#"):
                record = ApiKeyRecord.model_validate_json(item["doc"]["S"])
            else:
                block = SourceBlock.model_validate_json(item["doc"]["S"])
        return record, block

    # --- detector state -----------------------------------------------------------------------

    def _counter_update(self, u: CounterUpdate) -> dict[str, Any]:
        # Placeholder names and the expression come from per-shape caches: the analyzer sends thousands
        # of these per invocation, with a handful of shapes.
        add = u.add
        fields = sorted(add)
        k = len(fields)
        names: dict[str, str]
        values: dict[str, Any]
        if k <= _CACHED:  # zip stops at the fields' end
            names = dict(zip(_ADD_NAMES, fields, strict=False))
            values = dict(
                zip(_ADD_VALUES, [{"N": str(v)} for v in map(add.__getitem__, fields)], strict=False)
            )
        else:
            names = dict(zip(_placeholders("#a", k), fields, strict=True))
            values = dict(zip(_placeholders(":a", k), [{"N": str(add[f])} for f in fields], strict=True))
        sets_used: list[int] = []
        if u.add_sets:
            for i, (field, members) in enumerate(sorted(u.add_sets.items())):
                if not members:
                    continue
                names[_SET_NAMES[i] if i < _CACHED else f"#s{i}"] = field
                values[_SET_VALUES[i] if i < _CACHED else f":s{i}"] = {"SS": sorted(set(members))}
                sets_used.append(i)
        ttl = u.expires_at is not None
        if ttl:
            names["#ttl"] = "expires_at"
            values[":ttl"] = {"N": _ttl_text(u.expires_at)}  # type: ignore[arg-type]
        shape = (k, tuple(sets_used), ttl)
        expr = _EXPRESSIONS.get(shape)
        if expr is None:
            if len(_EXPRESSIONS) > 4096:
                _EXPRESSIONS.clear()
            expr = _EXPRESSIONS[shape] = _update_expression(*shape)
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": "ACCOUNT#" + u.scope}, "sk": {"S": "COUNTER#" + u.name}},
            "UpdateExpression": expr,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        if values:
            update["ExpressionAttributeValues"] = values
        return {"Update": update}

    def add_counters_once(
        self, marker: str, updates: Sequence[CounterUpdate], marker_ttl: timedelta = timedelta(days=3)
    ) -> bool:
        """Apply counter increments atomically, once per ``marker`` (a redelivered batch adds nothing).

        Up to 99 counters go into one transaction with the marker ``MARK#<marker>#<chunk>``; larger
        batches are chunked, each chunk applied once. Returns False when every chunk was applied before.
        """
        useful = [u for u in updates if u.add or any(u.add_sets.values()) or u.expires_at]
        if not useful:
            return False
        expires = _n(int(time.time() + marker_ttl.total_seconds()))
        applied_any = False
        for chunk_no, start in enumerate(range(0, len(useful), 99)):
            chunk = useful[start : start + 99]
            mark = {
                "pk": _s(f"MARK#{marker}#{chunk_no}"),
                "sk": _s("MARK"),
                "expires_at": expires,
                "type": _s("marker"),
            }
            items = [self._put_new(mark), *(self._counter_update(u) for u in chunk)]
            for attempt in range(MAX_ATTEMPTS):
                codes = self._transact(items)
                if codes is None:
                    applied_any = True
                    break
                if codes and codes[0] == "ConditionalCheckFailed":
                    break  # this chunk was applied by an earlier delivery
                _backoff(attempt)
            else:
                raise LedgerError(f"counter batch {marker} chunk {chunk_no} kept conflicting")
        return applied_any

    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Counter items by (scope, name); absent counters are absent from the answer."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"pk": _s(f"ACCOUNT#{scope}"), "sk": _s(f"COUNTER#{name}")}
                        for scope, name in unique[start : start + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(MAX_ATTEMPTS):
                resp = self.ddb.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    scope = item["pk"]["S"].removeprefix("ACCOUNT#")
                    name = item["sk"]["S"].removeprefix("COUNTER#")
                    out[(scope, name)] = _plain(item)
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                _backoff(attempt)
        return out

    # --- expiry -------------------------------------------------------------------------------

    def expired_suspensions(self, now: datetime, limit: int = 500) -> list[str]:
        """Accounts whose temporary suspension ended at or before ``now`` (GSI2)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "GSI2",
            "KeyConditionExpression": "gsi2pk = :p AND gsi2sk <= :now",
            "ExpressionAttributeValues": {":p": _s("TEMPSUSP"), ":now": _s(_iso(now))},
        }
        out: list[str] = []
        while len(out) < limit:
            resp = self.ddb.query(**kwargs)
            out.extend(i["pk"]["S"].removeprefix("ACCOUNT#") for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return out[:limit]


_CACHED = 64
_SET_NAMES = tuple(f"#s{i}" for i in range(_CACHED))
_SET_VALUES = tuple(f":s{i}" for i in range(_CACHED))
_ADD_NAMES = tuple(f"#a{i}" for i in range(_CACHED))
_ADD_VALUES = tuple(f":a{i}" for i in range(_CACHED))
_PLACEHOLDERS: dict[tuple[str, int], tuple[str, ...]] = {}
_TTLS: dict[datetime, str] = {}


def _ttl_text(at: datetime) -> str:
    """``str(_epoch(at))``, remembered: a batch's counters share a few window ends."""
    text = _TTLS.get(at)
    if text is None:
        if len(_TTLS) > 4096:
            _TTLS.clear()
        text = _TTLS[at] = str(_epoch(at))
    return text


_EXPRESSIONS: dict[tuple[int, tuple[int, ...], bool], str] = {}


def _placeholders(stem: str, k: int) -> tuple[str, ...]:
    got = _PLACEHOLDERS.get((stem, k))
    if got is None:
        got = _PLACEHOLDERS[(stem, k)] = tuple(f"{stem}{i}" for i in range(k))
    return got


def _update_expression(adds: int, sets: tuple[int, ...], ttl: bool) -> str:
    """A counter update's expression: ADD of ``adds`` numbers and of the sets numbered ``sets``,
    SET of the TTL first when ``ttl``."""
    terms = [f"#a{i} :a{i}" for i in range(adds)] + [f"#s{i} :s{i}" for i in sets]
    expr = ("ADD " + ", ".join(terms)) if terms else ""
    if ttl:
        expr = f"SET #ttl = :ttl {expr}".strip()
    return expr


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        if "N" in v:
            num = v["N"]
            out[k] = int(num) if num.isdigit() or num.lstrip("-").isdigit() else float(num)
        elif "SS" in v:
            out[k] = set(v["SS"])
        elif "S" in v:
            out[k] = v["S"]
        elif "BOOL" in v:
            out[k] = v["BOOL"]
    return out
