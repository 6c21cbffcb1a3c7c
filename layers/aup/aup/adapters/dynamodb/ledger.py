"""The ledger's persistence on one DynamoDB table (docs/architecture.md#ledger).

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
| ACCOUNT#<id>       | SHADOWSTATE                      | shadow mode: the state under the candidate      |
| ACCOUNT#<id>       | SHADOW#<detected>#<vid>          | shadow mode: live vs candidate decision, TTL    |
| POLICY#<parameter> | AUDIT#<at>#<ssm version>         | policy promote / rollback audit                 |

Counter items also hold ``m<slot>``, binary sets of the ids of the batches that updated them lately
(``add_counters_once``); ``get_counters`` leaves them out.

GSI1 (gsi1pk, gsi1sk) lists accounts (``ACCOUNT``) and reviews by status (``REVIEW#<status>``).
GSI2 (gsi2pk, gsi2sk) lists temporary suspensions by end (``TEMPSUSP``), for the expiry sweep.

This module only stores: a use case prepares an ``AccountChange`` (``aup.usecases.enforce``) and
``commit`` writes it as one ``TransactWriteItems`` (state guarded by its version; violations, reviews
and audit entries by ``attribute_not_exists``; key projections), reporting a cancellation as a
``Conflict``. Every transaction carries a ClientRequestToken derived from what it writes, so
botocore's retry of a transaction whose answer was lost is applied once and answered with success.
AWS errors are classified by botocore's exception types: ``LedgerTimeout`` / ``LedgerUnavailable``
name the operation.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from aup.adapters.dynamodb import codecs
from aup.adapters.dynamodb.codecs import (
    audit_item,
    block_item,
    decode_page_token,
    doc_of,
    encode_page_token,
    key,
    key_item,
    marker_id,
    marker_item,
    review_from,
    review_item,
    review_repeat,
    state_from,
    state_item,
    transaction_token,
    violation_item,
)
from aup.domain.models import (
    AccountState,
    ApiKeyRecord,
    AuditEntry,
    Review,
    SourceBlock,
    Violation,
)
from aup.domain.ports import (
    AccountChange,
    Conflict,
    CounterUpdate,
    LedgerError,
    LedgerTimeout,
    LedgerUnavailable,
    Page,
    PolicyChange,
    ShadowDecision,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 25  # retries of a counter chunk or of unprocessed keys under contention
# Counter items keep the ids of the batches that updated them per slot of this many seconds, and drop
# the slots two and three back: an id outlives its batch's first attempt by at least one slot, more than
# the template's redeliveries take (SQS: 5 receives 720 s apart; Kinesis and async retries: minutes).
MARKER_SLOT_SECONDS = 3600
COUNTERS_PER_TRANSACTION = 99  # hot counters: plus the chunk's marker, DynamoDB's 100 items
# A counter whose current slot holds this many batch ids (8 bytes each) is hot: this process writes it
# transactionally for HOT_SECONDS, so no item grows past ~1 KB of ids however many batches touch it.
HOT_IDS = 48
HOT_SECONDS = 2 * 3600
HOT_COUNTERS_LIMIT = 100_000
COUNTER_WRITERS = 10  # concurrent UpdateItem calls of one batch: botocore's default connection pool
PARALLEL_FROM = 32  # fewer counters than this are written in sequence
TIMEOUT_RETRIES = 1  # further calls of a timed-out transaction under its token (botocore retried it)

# Error codes that mean "not now" (botocore already retried them): the ledger is unavailable.
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "LimitExceededException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def classify(operation: str, exc: Exception) -> Exception:
    """The ledger's error for a botocore failure of ``operation`` (after botocore's own retries)."""
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return LedgerTimeout(operation, f"timed out ({type(exc).__name__}) after the client's retries")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _UNAVAILABLE_CODES:
            return LedgerUnavailable(operation, f"{code} after the client's retries")
        if code == "IdempotentParameterMismatchException":
            return LedgerError(f"ledger {operation}: a transaction token was reused for another request")
        return exc  # a request DynamoDB rejects (validation, access): said as DynamoDB said it
    if isinstance(exc, BotoCoreError):  # connection refused or closed, endpoint unreachable, ...
        return LedgerUnavailable(operation, type(exc).__name__)
    return exc


def _backoff(attempt: int) -> None:
    # Full jitter, capped: writers on one hot counter settle in a few rounds instead of colliding again.
    time.sleep(min(1.0, 0.02 * (2 ** min(attempt, 10))) * random.random())


def _put_new(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


_WRITER_POOLS: dict[int, ThreadPoolExecutor] = {}  # size -> the process's counter writers (``_writers``)


class DynamoStore:
    """The ledger table named ``table``: persistence primitives only. The client is created lazily."""

    def __init__(self, table: str, client: Any = None, counter_writers: int = COUNTER_WRITERS) -> None:
        self.table = table
        self._client = client
        self.counter_writers = counter_writers
        self._hot: dict[tuple[str, str], float] = {}  # counter -> until when it is written transactionally

    @property
    def ddb(self) -> Any:
        if self._client is None:
            from aup.adapters.aws import client

            self._client = client("dynamodb")
        return self._client

    def _call(self, operation: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """One DynamoDB call; botocore failures become the ledger's errors (see ``classify``)."""
        try:
            result: dict[str, Any] = getattr(self.ddb, method)(**kwargs)
            return result
        except (ClientError, BotoCoreError) as exc:
            err = classify(operation, exc)
            if err is exc:
                raise
            log.warning("%s", err)
            raise err from exc

    def _transact(self, operation: str, items: list[dict[str, Any]], token: str) -> list[str] | None:
        """One ``TransactWriteItems``: None when it committed, else each item's cancellation code.

        A timeout (after botocore's own retries) is retried ``TIMEOUT_RETRIES`` more times under the
        same token, which is safe: a transaction that was applied answers success, once.
        """
        try:
            self._call_retrying_timeouts(
                operation, "transact_write_items", TransactItems=items, ClientRequestToken=token
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            return [r.get("Code") or "None" for r in exc.response.get("CancellationReasons") or []]
        return None

    def _call_retrying_timeouts(self, operation: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """``_call``, with a timeout (after botocore's own retries) retried ``TIMEOUT_RETRIES`` more times:
        only for writes whose repeat is safe (a transaction's token, a conditional update's marker)."""
        for retry in range(TIMEOUT_RETRIES):
            try:
                return self._call(operation, method, **kwargs)
            except LedgerTimeout:
                _backoff(retry)
        return self._call(operation, method, **kwargs)

    def _get_item(self, operation: str, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        """One item by its key (strongly consistent unless ``consistent`` is False), or None."""
        resp = self._call(
            operation, "get_item", TableName=self.table, Key=key(pk, sk), ConsistentRead=consistent
        )
        item: dict[str, Any] | None = resp.get("Item")
        return item

    # --- accounts -----------------------------------------------------------------------------

    def get_account(self, account_id: str) -> AccountState | None:
        item = self._get_item("GetItem(account)", f"ACCOUNT#{account_id}", "STATE")
        return state_from(item) if item else None

    def commit(self, change: AccountChange) -> Conflict | None:
        """Write ``change`` as one transaction: None when applied, else why it was cancelled."""
        items, roles = self._change_items(change)
        codes = self._transact("TransactWriteItems(account)", items, transaction_token(items, change.attempt))
        if codes is None:
            return None
        version = key_taken = review_closed = transient = False
        duplicates: set[str] = set()
        closed: set[str] = set()
        for (role, vid), code in zip(roles, codes, strict=False):
            if code in ("None", ""):
                continue
            if code != "ConditionalCheckFailed":
                transient = True  # TransactionConflict, ThrottlingError: nothing failed its condition
            elif role == "violation":
                duplicates.add(vid)
            elif role == "new_key":
                key_taken = True
            elif role == "close_review":
                review_closed = True
            elif role == "review_repeat":
                closed.add(vid)
            else:  # the state moved, or a concurrent writer recorded the same review or audit entry
                version = True
        return Conflict(
            version=version,
            key_taken=key_taken,
            review_closed=review_closed,
            duplicates=frozenset(duplicates),
            closed_reviews=frozenset(closed),
            transient=transient,
        )

    def _change_items(self, change: AccountChange) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The transaction's items, and each one's role (with its violation id for violations)."""
        t = self.table
        items: list[dict[str, Any]] = []
        roles: list[tuple[str, str]] = []
        state = change.state
        if state is not None:
            put: dict[str, Any] = {"TableName": t, "Item": state_item(state)}
            if change.expected_version is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "#v = :v"
                put["ExpressionAttributeNames"] = {"#v": "version"}
                put["ExpressionAttributeValues"] = {":v": codecs.encode({"v": change.expected_version})["v"]}
            items.append({"Put": put})
            roles.append(("state", ""))
        if change.close_review is not None:
            items.append(
                {
                    "Put": {
                        "TableName": t,
                        "Item": review_item(change.close_review),
                        "ConditionExpression": "#st = :pending",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":pending": {"S": "pending"}},
                    }
                }
            )
            roles.append(("close_review", ""))
        if state is not None and change.new_key_hash is not None:
            items.append(_put_new(t, key_item(change.new_key_hash, state)))
            roles.append(("new_key", ""))
        if state is not None and change.project_keys:
            for key_hash in state.key_hashes:
                if key_hash != change.new_key_hash:
                    items.append({"Put": {"TableName": t, "Item": key_item(key_hash, state)}})
                    roles.append(("key", ""))
        for v in change.violations:
            items.append(_put_new(t, violation_item(v)))
            roles.append(("violation", v.violation_id))
        for r in change.reviews:
            items.append(_put_new(t, review_item(r)))
            roles.append(("review", ""))
        for repeat in change.review_repeats:  # no longer pending: ``Conflict.closed_reviews``
            items.append(review_repeat(t, repeat))
            roles.append(("review_repeat", repeat.review_id))
        for n, entry in enumerate(change.audit, start=change.audit_offset):
            items.append(_put_new(t, audit_item(entry, n)))
            roles.append(("audit", ""))
        return items, roles

    def list_accounts(self, limit: int = 50, next_token: str | None = None) -> Page:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "ACCOUNT"}},
            "Limit": max(1, min(limit, 1000)),
        }
        start = decode_page_token(next_token)
        if start:
            kwargs["ExclusiveStartKey"] = start
        resp = self._call("Query(accounts)", "query", **kwargs)
        return Page(
            items=[state_from(i) for i in resp.get("Items", [])],
            next_token=encode_page_token(resp.get("LastEvaluatedKey")),
        )

    def put_source_block(self, block: SourceBlock) -> None:
        """Write an IP-scoped block; an existing block is extended, never shortened."""
        try:
            self._call(
                "PutItem(block)",
                "put_item",
                TableName=self.table,
                Item=block_item(block),
                ConditionExpression="attribute_not_exists(pk) OR #u < :u",
                ExpressionAttributeNames={"#u": "until"},
                ExpressionAttributeValues={":u": {"S": codecs.iso(block.until)}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    # --- queries ------------------------------------------------------------------------------

    def _page(
        self,
        operation: str,
        kwargs: dict[str, Any],
        next_token: str | None,
        limit: int,
        read: Callable[[dict[str, Any]], Any],
    ) -> Page:
        kwargs["Limit"] = max(1, min(limit, 500))
        start = decode_page_token(next_token)
        if start:
            kwargs["ExclusiveStartKey"] = start
        resp = self._call(operation, "query", **kwargs)
        return Page(
            items=[read(i) for i in resp.get("Items", [])],
            next_token=encode_page_token(resp.get("LastEvaluatedKey")),
        )

    def _pages(self, operation: str, **kwargs: Any) -> Any:
        """Every page of a query (boto3's paginator), with failures classified."""
        try:
            yield from self.ddb.get_paginator("query").paginate(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            err = classify(operation, exc)
            if err is exc:
                raise
            raise err from exc

    def list_violations(self, account_id: str, limit: int = 50, next_token: str | None = None) -> Page:
        return self._page(
            "Query(violations)",
            {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                "ExpressionAttributeValues": {
                    ":p": {"S": f"ACCOUNT#{account_id}"},
                    ":s": {"S": "VIOLATION#"},
                },
                "ScanIndexForward": False,
            },
            next_token,
            limit,
            lambda item: Violation.model_validate_json(doc_of(item)),
        )

    def list_audit(self, account_id: str) -> list[AuditEntry]:
        return [
            AuditEntry.model_validate_json(doc_of(i))
            for page in self._pages(
                "Query(audit)",
                TableName=self.table,
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={":p": {"S": f"ACCOUNT#{account_id}"}, ":s": {"S": "AUDIT#"}},
                ConsistentRead=True,
            )
            for i in page.get("Items", [])
        ]

    # --- reviews ------------------------------------------------------------------------------

    def list_reviews(self, status: str = "pending", limit: int = 50, next_token: str | None = None) -> Page:
        return self._page(
            "Query(reviews)",
            {
                "TableName": self.table,
                "IndexName": "GSI1",
                "KeyConditionExpression": "gsi1pk = :p",
                "ExpressionAttributeValues": {":p": {"S": f"REVIEW#{status}"}},
            },
            next_token,
            limit,
            review_from,
        )

    def get_review(self, review_id: str) -> Review | None:
        item = self._get_item("GetItem(review)", f"REVIEW#{review_id}", "REVIEW")
        return review_from(item) if item else None

    # --- authorizer ---------------------------------------------------------------------------

    def get_key(self, key_hash: str) -> ApiKeyRecord | None:
        item = self._get_item("GetItem(key)", f"KEY#{key_hash}", "KEY", consistent=False)
        return ApiKeyRecord.model_validate_json(doc_of(item)) if item else None

    def _batch_get(self, operation: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a BatchGetItem, following UnprocessedKeys (with backoff)."""
        found: list[dict[str, Any]] = []
        for attempt in range(MAX_ATTEMPTS):
            resp = self._call(operation, "batch_get_item", RequestItems=request)
            found.extend(resp.get("Responses", {}).get(self.table, []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                return found
            _backoff(attempt)
        raise LedgerUnavailable(operation, "unprocessed keys left after every retry")

    def authorizer_lookup(
        self, key_hash: str, source_ip_hash: str | None
    ) -> tuple[ApiKeyRecord | None, SourceBlock | None]:
        """The key's enforcement view and any block on the caller's source: one BatchGetItem."""
        keys = [key(f"KEY#{key_hash}", "KEY")]
        if source_ip_hash:
            keys.append(key(f"SOURCE#{source_ip_hash}", "BLOCK"))
        record: ApiKeyRecord | None = None
        block: SourceBlock | None = None
        for item in self._batch_get("BatchGetItem(authorizer)", {self.table: {"Keys": keys}}):
            if item["pk"]["S"].startswith("KEY#"):
                record = ApiKeyRecord.model_validate_json(doc_of(item))
            else:
                block = SourceBlock.model_validate_json(doc_of(item))
        return record, block

    # --- detector state -----------------------------------------------------------------------

    def _counter_parts(self, u: CounterUpdate) -> tuple[dict[str, str], dict[str, Any], _Shape]:
        """(attribute names, values, expression shape) of one counter update.

        The hot path: placeholder names and the expressions come from per-shape caches (the analyzer
        sends thousands of these per invocation, with a handful of shapes), and values are encoded
        here: TypeSerializer made building one 3.2x slower (5.2 -> 16.8 us, bench_logs' shapes)."""
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
        return names, values, (k, tuple(sets_used), ttl)

    def _counter_key(self, u: CounterUpdate) -> dict[str, Any]:
        return {"pk": {"S": "ACCOUNT#" + u.scope}, "sk": {"S": "COUNTER#" + u.name}}

    def _counter_update(self, u: CounterUpdate, prune: tuple[str, ...] = ()) -> dict[str, Any]:
        """One counter update as a transaction's ``Update`` action, removing the sets of the slots
        ``prune`` too."""
        names, values, shape = self._counter_parts(u)
        _name_pruned(names, prune)
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._counter_key(u),
            "UpdateExpression": _cached_expression(shape, marked=False, pruned=len(prune)),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        if values:
            update["ExpressionAttributeValues"] = values
        return {"Update": update}

    def add_counters_once(
        self,
        marker: str,
        updates: Sequence[CounterUpdate],
        marker_ttl: timedelta = timedelta(days=3),
        *,
        into: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> bool:
        """Apply counter increments once per ``marker`` (a redelivered batch adds nothing), mostly as
        plain conditional ``UpdateItem``s: no transaction (half the write units), no read-back.

        1. ``MARK#<marker> / MARK`` is put once: ``state=pending``, the marker ``slot``, and ``hot``, a
           bitmap over ``updates`` (in order) of the counters this batch writes transactionally (below).
           Found ``done``: the batch was applied, nothing is written. Found ``pending``: an earlier
           delivery stopped part-way; this one resumes under the slot and bitmap recorded then.
        2. Each other counter is one ``UpdateItem`` that also adds the batch's 8-byte id to the item's
           id set of that slot (``m<slot>``, binary: invisible to ``get_counters``), conditioned on the id
           not being there yet, so an item an earlier delivery updated is skipped. Every update removes
           the sets of the slots two and three back (``MARKER_SLOT_SECONDS`` each).
        3. A *hot* counter (one whose current slot already held ``HOT_IDS`` ids when this process last
           wrote it: many batches an hour touch it) would grow by an id per batch, so it is written as
           before: up to 99 in a ``TransactWriteItems`` with the chunk's marker ``MARK#<marker>#<n>``,
           read back consistently afterwards. Which counters are hot is fixed by the bitmap, so every
           delivery of a batch splits it the same way.
        4. ``state=done``.

        An update of sets alone (no count) is a union, whatever the delivery: it is written with the
        others as one ``UpdateItem`` without condition or batch id, and is no part of the bitmap.

        A resumption later than the ids' horizon (the slot after next has begun, so an item's ids may
        have been pruned) cannot tell applied items from others: it applies nothing more, logs a warning
        and records the batch done; the template's automatic redeliveries all come inside it.
        ``into``, when given, receives each written counter's values as the write returned them
        (``ALL_NEW``, the current item when the update was skipped, the read-back for hot ones): the
        totals without a read of the plain ones. Returns whether anything was applied by this call.
        """
        # An update of sets alone (an account's hour and rate window sets) counts nothing: applied twice it
        # changes nothing, so it is written without the batch id, outside the bitmap, never hot.
        unions = [u for u in updates if not u.add and any(u.add_sets.values())]
        useful = [u for u in updates if u.add or (u.expires_at and not any(u.add_sets.values()))]
        if not useful and not unions:
            return False
        now = time.time()
        current = int(now // MARKER_SLOT_SECONDS)
        hot_now = self._hot_counters(useful, now)
        slot, state, hot = self._open_marker(marker, current, int(now + marker_ttl.total_seconds()), hot_now)
        if state == "done":
            return False
        if current > slot + 1:
            log.warning(
                "counter batch %s resumed after its markers' horizon: its remaining increments are not "
                "applied (an item's batch ids may be pruned, so a re-application could count twice)",
                marker,
            )
            self._close_marker(marker)
            return False
        mid = marker_id(marker)
        prune = tuple(f"m{s}" for s in (current - 2, current - 3) if s != slot)
        plain = [u for i, u in enumerate(useful) if not _bit(hot, i)]
        txn = [u for i, u in enumerate(useful) if _bit(hot, i)]
        requests = [(self._marked_update, self._counter_request(u, mid, slot, prune)) for u in plain]
        requests += [(self._union_update, self._union_request(u)) for u in unions]
        if len(requests) < PARALLEL_FROM or self.counter_writers <= 1:
            results = [write(r) for write, r in requests]
        else:  # one thread per share of the updates (a future per update cost ~13 us each)
            n = self.counter_writers
            shares = [requests[i::n] for i in range(n)]
            pool = self._writers()
            futures = [pool.submit(lambda share: [write(r) for write, r in share], s) for s in shares]
            # Every share ends before this call does, failed or not: no write of this batch is left in
            # flight behind a raised error (the pool outlives the call; a frozen Lambda would resume it).
            wait(futures)
            by_share = [f.result() for f in futures]
            results = [by_share[i % n][i // n] for i in range(len(requests))]
        applied = False
        for u, (done, values, ids) in zip([*plain, *unions], results, strict=True):
            applied = applied or done
            if into is not None and values is not None:
                into[(u.scope, u.name)] = values
            if ids >= HOT_IDS:
                self._remember_hot((u.scope, u.name), now)
        if txn:
            applied = (
                self._transact_counters(marker, txn, int(now + marker_ttl.total_seconds()), prune) or applied
            )
            if into is not None:
                into.update(self.get_counters([(u.scope, u.name) for u in txn]))
        self._close_marker(marker)
        return applied

    def _writers(self) -> ThreadPoolExecutor:
        """The counter writers' threads: one pool per process, kept by a warm function (starting 10
        threads per invocation cost several per cent of the analyzer's CPU on the bench's mix)."""
        pool = _WRITER_POOLS.get(self.counter_writers)
        if pool is None:
            pool = _WRITER_POOLS[self.counter_writers] = ThreadPoolExecutor(
                max_workers=self.counter_writers, thread_name_prefix="counter-writer"
            )
        return pool

    def _hot_counters(self, updates: Sequence[CounterUpdate], now: float) -> bytes | None:
        """The bitmap of ``updates`` this process knows to be hot (None: none is)."""
        hot = self._hot
        if not hot:
            return None
        bits = bytearray((len(updates) + 7) // 8)
        for i, u in enumerate(updates):
            until = hot.get((u.scope, u.name))
            if until is not None and until > now:
                bits[i // 8] |= 1 << (i % 8)
        return bytes(bits) if any(bits) else None

    def _remember_hot(self, counter: tuple[str, str], now: float) -> None:
        if len(self._hot) >= HOT_COUNTERS_LIMIT:
            self._hot.clear()
        self._hot[counter] = now + HOT_SECONDS

    def _transact_counters(
        self, marker: str, updates: Sequence[CounterUpdate], expires: int, prune: tuple[str, ...]
    ) -> bool:
        """The hot counters of a batch as before issue 15: chunks of 99 with their marker, each chunk
        applied once (a retried chunk finds its marker)."""
        applied_any = False
        for chunk_no, start in enumerate(range(0, len(updates), COUNTERS_PER_TRANSACTION)):
            chunk = updates[start : start + COUNTERS_PER_TRANSACTION]
            items = [
                _put_new(self.table, marker_item(f"{marker}#{chunk_no}", expires)),
                *(self._counter_update(u, prune) for u in chunk),
            ]
            for attempt in range(MAX_ATTEMPTS):
                codes = self._transact(
                    "TransactWriteItems(counters)", items, transaction_token(items, attempt)
                )
                if codes is None:
                    applied_any = True
                    break
                if codes and codes[0] == "ConditionalCheckFailed":
                    break  # this chunk was applied by an earlier delivery
                _backoff(attempt)
            else:
                raise LedgerError(f"counter batch {marker} chunk {chunk_no} kept conflicting")
        return applied_any

    def _open_marker(
        self, marker: str, slot: int, expires: int, hot: bytes | None
    ) -> tuple[int, str, bytes | None]:
        """(slot, state, hot bitmap) of the batch's marker item: created ``pending``, or as found."""
        try:
            self._call(
                "PutItem(counter marker)",
                "put_item",
                TableName=self.table,
                Item=marker_item(marker, expires, slot=slot, state="pending", hot=hot),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return slot, "pending", hot
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if old is None:  # a client that does not return the item: read it
                old = self._get_item("GetItem(counter marker)", f"MARK#{marker}", "MARK") or {}
            # A marker without a state is not one this code writes: taken as applied, never re-applied.
            state = old.get("state", {}).get("S", "done")
            found = old.get("hot", {}).get("B")
            return int(old.get("slot", {}).get("N", slot)), state, (bytes(found) if found else None)

    def _close_marker(self, marker: str) -> None:
        self._call(
            "UpdateItem(counter marker)",
            "update_item",
            TableName=self.table,
            Key=key(f"MARK#{marker}", "MARK"),
            UpdateExpression="SET #st = :done REMOVE #hot",
            ExpressionAttributeNames={"#st": "state", "#hot": "hot"},
            ExpressionAttributeValues={":done": {"S": "done"}},
        )

    def _counter_request(
        self, u: CounterUpdate, mid: bytes, slot: int, prune: tuple[str, ...]
    ) -> dict[str, Any]:
        """One counter's marked ``UpdateItem``: its update, plus the batch id added to the slot's id set
        on the condition that it is not there yet, and the sets of the slots ``prune`` removed."""
        names, values, shape = self._counter_parts(u)
        names["#mk"] = f"m{slot}"
        values[":mk"] = {"BS": [mid]}
        values[":mid"] = {"B": mid}
        _name_pruned(names, prune)
        return {
            "TableName": self.table,
            "Key": self._counter_key(u),
            "UpdateExpression": _cached_expression(shape, marked=True, pruned=len(prune)),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConditionExpression": "NOT contains(#mk, :mid)",
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _union_request(self, u: CounterUpdate) -> dict[str, Any]:
        """An update of sets alone as an ``UpdateItem``: no condition, no batch id (a union is
        idempotent), the item as it stands after it (``ALL_NEW``)."""
        names, values, shape = self._counter_parts(u)
        return {
            "TableName": self.table,
            "Key": self._counter_key(u),
            "UpdateExpression": _cached_expression(shape, marked=False, pruned=0),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }

    def _union_update(self, update: dict[str, Any]) -> tuple[bool, dict[str, Any] | None, int]:
        """(True, the item's values, 0) of one union: a timeout is retried, as its repeat is safe."""
        resp = self._call_retrying_timeouts("UpdateItem(counter sets)", "update_item", **update)
        attrs = resp.get("Attributes")
        return True, (_counter_values(attrs) if attrs else None), 0

    def _marked_update(self, update: dict[str, Any]) -> tuple[bool, dict[str, Any] | None, int]:
        """(applied, the item's counter values or None when not returned, ids in the slot's set) of one
        marked update.

        A timeout after botocore's retries is retried once more: safe, the condition skips an update
        that was applied and lost its answer."""
        slot_set = update["ExpressionAttributeNames"]["#mk"]
        try:
            resp = self._call_retrying_timeouts("UpdateItem(counters)", "update_item", **update)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            return False, (_counter_values(item) if item else None), 0
        attrs = resp.get("Attributes")
        if not attrs:
            return True, None, 0
        return True, _counter_values(attrs), len(attrs.get(slot_set, {}).get("BS", ()))

    def get_counters(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Counter items by (scope, name); absent counters are absent from the answer."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            request = {
                self.table: {
                    "Keys": [
                        {"pk": {"S": f"ACCOUNT#{scope}"}, "sk": {"S": f"COUNTER#{name}"}}
                        for scope, name in unique[start : start + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            for item in self._batch_get("BatchGetItem(counters)", request):
                scope = item["pk"]["S"].removeprefix("ACCOUNT#")
                name = item["sk"]["S"].removeprefix("COUNTER#")
                out[(scope, name)] = _counter_values(item)
        return out

    # --- expiry -------------------------------------------------------------------------------

    def expired_suspensions(self, now: datetime, limit: int = 500) -> list[str]:
        """Accounts whose temporary suspension ended at or before ``now`` (GSI2)."""
        out: list[str] = []
        for page in self._pages(
            "Query(expired)",
            TableName=self.table,
            IndexName="GSI2",
            KeyConditionExpression="gsi2pk = :p AND gsi2sk <= :now",
            ExpressionAttributeValues={":p": {"S": "TEMPSUSP"}, ":now": {"S": codecs.iso(now)}},
        ):
            out.extend(i["pk"]["S"].removeprefix("ACCOUNT#") for i in page.get("Items", []))
            if len(out) >= limit:
                break
        return out[:limit]

    def review_backlog(self, status: str = "pending") -> tuple[int, datetime | None]:
        """(reviews in ``status``, the oldest one's ``created_at`` or None), from GSI1 (``REVIEW#<status>``).

        The count is a paginated ``Select=COUNT`` query (every page followed: a page stops at 1 MB);
        the oldest is one key-only item, GSI1's sort key starting with the creation time. GSI1 is
        eventually consistent: a review opened or decided in the last second may not be counted yet.
        """
        condition = {
            "TableName": self.table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"REVIEW#{status}"}},
        }
        count = sum(
            int(page.get("Count", 0))
            for page in self._pages("Query(review count)", **condition, Select="COUNT")
        )
        if not count:
            return 0, None
        first = self._call(
            "Query(oldest review)",
            "query",
            **condition,
            ScanIndexForward=True,
            Limit=1,
            ProjectionExpression="gsi1sk",
        ).get("Items", [])
        if not first:
            return count, None
        created = first[0]["gsi1sk"]["S"].split("#", 1)[0]
        return count, datetime.fromisoformat(created.replace("Z", "+00:00"))

    # --- shadow mode (never the STATE or KEY items) -------------------------------------------

    def get_shadow_state(self, account_id: str) -> AccountState | None:
        item = self._get_item("GetItem(shadow state)", f"ACCOUNT#{account_id}", "SHADOWSTATE")
        return AccountState.model_validate_json(doc_of(item)) if item else None

    def commit_shadow(
        self,
        state: AccountState,
        expected_version: int | None,
        decisions: Sequence[ShadowDecision],
        ttl: timedelta,
    ) -> Conflict | None:
        """The shadow state (guarded by its version) and each shadow decision (created once), one
        transaction. No GSI attributes: a shadow state is never listed as an account."""
        pk = f"ACCOUNT#{state.account_id}"
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": codecs.encode(
                {
                    "pk": pk,
                    "sk": "SHADOWSTATE",
                    "type": "shadow_state",
                    "version": state.version,
                    "doc": state.model_dump_json(),
                }
            ),
        }
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "#v = :v"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        items: list[dict[str, Any]] = [{"Put": put}]
        for d in decisions:
            doc = {
                "pk": pk,
                "sk": f"SHADOW#{codecs.iso(d.detected_at)}#{d.violation_id}",
                "type": "shadow_decision",
                "violation_id": d.violation_id,
                "rule_id": d.rule_id,
                "detected_at": codecs.iso(d.detected_at),
                "recorded_at": codecs.iso(d.recorded_at),
                "live": d.live,
                "shadow": d.shadow,
                "live_policy_version": d.live_policy_version,
                "shadow_policy_version": d.shadow_policy_version,
                "expires_at": codecs.epoch(d.recorded_at + ttl),
            }
            if d.shadow_until is not None:
                doc["shadow_until"] = codecs.iso(d.shadow_until)
            items.append(_put_new(self.table, codecs.encode(doc)))
        codes = self._transact("TransactWriteItems(shadow)", items, transaction_token(items))
        if codes is None:
            return None
        duplicates = {
            d.violation_id
            for d, code in zip(decisions, codes[1:], strict=False)
            if code == "ConditionalCheckFailed"
        }
        state_code = codes[0] if codes else "None"
        return Conflict(
            version=state_code == "ConditionalCheckFailed",
            duplicates=frozenset(duplicates),
            transient=any(c not in ("None", "", "ConditionalCheckFailed") for c in codes),
        )

    def list_shadow_decisions(self, account_id: str, since: datetime) -> list[ShadowDecision]:
        """The account's shadow decisions whose finding was detected at or after ``since``."""
        out: list[ShadowDecision] = []
        for page in self._pages(
            "Query(shadow)",
            TableName=self.table,
            KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":p": {"S": f"ACCOUNT#{account_id}"},
                ":lo": {"S": f"SHADOW#{codecs.iso(since)}"},
                ":hi": {"S": "SHADOW#~"},
            },
        ):
            for i in page.get("Items", []):
                s = {k: v["S"] for k, v in i.items() if "S" in v}
                out.append(
                    ShadowDecision(
                        account_id=account_id,
                        violation_id=s["violation_id"],
                        rule_id=s["rule_id"],
                        detected_at=datetime.fromisoformat(s["detected_at"]),
                        recorded_at=datetime.fromisoformat(s["recorded_at"]),
                        live=s["live"],
                        shadow=s["shadow"],
                        live_policy_version=s["live_policy_version"],
                        shadow_policy_version=s["shadow_policy_version"],
                        shadow_until=(
                            datetime.fromisoformat(s["shadow_until"]) if "shadow_until" in s else None
                        ),
                    )
                )
        return out

    def record_policy_change(self, change: PolicyChange) -> None:
        """``POLICY#<parameter> / AUDIT#<at>#<to_version>``: who promoted or rolled back, from -> to."""
        doc: dict[str, Any] = {
            "pk": f"POLICY#{change.parameter}",
            "sk": f"AUDIT#{codecs.iso(change.at)}#{change.to_version}",
            "type": "policy_audit",
            "actor": change.actor,
            "at": codecs.iso(change.at),
            "action": change.action,
            "source": change.source,
            "to_version": change.to_version,
            "from_policy_version": change.from_policy_version,
            "to_policy_version": change.to_policy_version,
        }
        if change.from_version is not None:
            doc["from_version"] = change.from_version
        self._call("PutItem(policy audit)", "put_item", **_put_new(self.table, codecs.encode(doc))["Put"])

    def list_policy_changes(self, parameter: str) -> list[PolicyChange]:
        out: list[PolicyChange] = []
        for page in self._pages(
            "Query(policy audit)",
            TableName=self.table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={":p": {"S": f"POLICY#{parameter}"}, ":s": {"S": "AUDIT#"}},
            ConsistentRead=True,
        ):
            for i in page.get("Items", []):
                out.append(
                    PolicyChange(
                        parameter=parameter,
                        actor=i["actor"]["S"],
                        at=datetime.fromisoformat(i["at"]["S"]),
                        from_version=int(i["from_version"]["N"]) if "from_version" in i else None,
                        to_version=int(i["to_version"]["N"]),
                        from_policy_version=i["from_policy_version"]["S"],
                        to_policy_version=i["to_policy_version"]["S"],
                        action=i["action"]["S"],
                        source=i["source"]["S"],
                    )
                )
        return out


_CACHED = 64
_SET_NAMES = tuple(f"#s{i}" for i in range(_CACHED))
_SET_VALUES = tuple(f":s{i}" for i in range(_CACHED))
_ADD_NAMES = tuple(f"#a{i}" for i in range(_CACHED))
_ADD_VALUES = tuple(f":a{i}" for i in range(_CACHED))
_PLACEHOLDERS: dict[tuple[str, int], tuple[str, ...]] = {}
_TTLS: dict[datetime, str] = {}


def _ttl_text(at: datetime) -> str:
    """``str(epoch(at))``, remembered: a batch's counters share a few window ends."""
    text = _TTLS.get(at)
    if text is None:
        if len(_TTLS) > 4096:
            _TTLS.clear()
        text = _TTLS[at] = str(codecs.epoch(at))
    return text


_Shape = tuple[int, tuple[int, ...], bool]  # numbers added, sets added (their indices), TTL set
_EXPRESSIONS: dict[tuple[_Shape, bool, int], str] = {}
_PRUNE_NAMES = tuple(f"#p{i}" for i in range(4))  # the old slots' sets an update removes (at most two)


def _cached_expression(shape: _Shape, *, marked: bool, pruned: int) -> str:
    """The expression of a counter update of ``shape``; ``marked``: adding the batch id to ``#mk`` (a
    plain write's), and removing ``pruned`` old slots' sets (``#p<i>``, ``_name_pruned``)."""
    key = (shape, marked, pruned)
    expr = _EXPRESSIONS.get(key)
    if expr is None:
        if len(_EXPRESSIONS) > 4096:
            _EXPRESSIONS.clear()
        expr = _update_expression(*shape)
        if marked:
            expr = f"{expr}, #mk :mk" if "ADD " in expr else f"{expr} ADD #mk :mk".strip()
        if pruned:
            expr += " REMOVE " + ", ".join(_PRUNE_NAMES[:pruned])
        _EXPRESSIONS[key] = expr
    return expr


def _name_pruned(names: dict[str, str], prune: tuple[str, ...]) -> None:
    """The placeholders of the old slots' sets an update removes (``_cached_expression``)."""
    names.update(zip(_PRUNE_NAMES[: len(prune)], prune, strict=True))


def _placeholders(stem: str, k: int) -> tuple[str, ...]:
    got = _PLACEHOLDERS.get((stem, k))
    if got is None:
        got = _PLACEHOLDERS[(stem, k)] = tuple(f"{stem}{i}" for i in range(k))
    return got


def _counter_values(item: dict[str, Any]) -> dict[str, Any]:
    """A counter item's values (numbers, string sets, strings): ``codecs.decode`` without boto3's
    TypeDeserializer, which made reading counters 2.8x slower (3.8 -> 11.3 us an item, bench_logs' shapes).
    String sets are frozen; binary attributes (the batch ids) are left out."""
    out: dict[str, Any] = {}
    for k, v in item.items():
        num = v.get("N")
        if num is not None:
            try:
                out[k] = int(num)
            except ValueError:
                out[k] = float(num)
            continue
        members = v.get("SS")
        if members is not None:
            out[k] = frozenset(members)  # read as read: an analysis remembers an hour's id set by identity
        elif "S" in v:
            out[k] = v["S"]
        elif "BOOL" in v:
            out[k] = v["BOOL"]
    return out


def _bit(bits: bytes | None, i: int) -> bool:
    return bits is not None and i // 8 < len(bits) and bool(bits[i // 8] & (1 << (i % 8)))


def _update_expression(adds: int, sets: tuple[int, ...], ttl: bool) -> str:
    """A counter update's expression: ADD of ``adds`` numbers and of the sets numbered ``sets``,
    SET of the TTL first when ``ttl``."""
    terms = [f"#a{i} :a{i}" for i in range(adds)] + [f"#s{i} :s{i}" for i in sets]
    expr = ("ADD " + ", ".join(terms)) if terms else ""
    if ttl:
        expr = f"SET #ttl = :ttl {expr}".strip()
    return expr
