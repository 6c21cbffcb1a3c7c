"""Items of the ledger table and their DynamoDB encoding (boto3's TypeSerializer/TypeDeserializer).

Every model is stored whole as JSON in ``doc``; the other attributes are keys, index keys and the
few fields a stream filter, a condition or an operator's console needs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from aup.domain.models import (
    AccountState,
    ApiKeyRecord,
    AuditEntry,
    Review,
    ReviewRepeat,
    SourceBlock,
    Status,
    SuspensionKind,
    Violation,
)

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
TOKEN_CHARS = 36  # TransactWriteItems' ClientRequestToken: at most 36 characters


def encode(plain: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict (str, int, bool, set of str) as DynamoDB attribute values."""
    return {k: _SERIALIZER.serialize(v) for k, v in plain.items()}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def key(pk: str, sk: str) -> dict[str, Any]:
    return encode({"pk": pk, "sk": sk})


def doc_of(item: Mapping[str, Any]) -> str:
    """The JSON document an item carries (its ``doc`` attribute)."""
    return str(_DESERIALIZER.deserialize(item["doc"]))


# --- items ---------------------------------------------------------------------------------------


def state_item(state: AccountState) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"ACCOUNT#{state.account_id}",
        "sk": "STATE",
        "type": "account",
        "account_id": state.account_id,
        "plan": state.plan,
        "status": state.status.value,
        "version": state.version,
        "allowlisted": state.allowlisted,
        "doc": state.model_dump_json(),
        "gsi1pk": "ACCOUNT",
        "gsi1sk": state.account_id,
    }
    s = state.suspension
    if state.status is Status.suspended and s is not None:
        item["suspension_kind"] = s.kind.value
        if s.kind is SuspensionKind.temporary and s.until is not None:
            item["suspended_until"] = item["gsi2sk"] = iso(s.until)
            item["gsi2pk"] = "TEMPSUSP"
    return encode(item)


def state_from(item: Mapping[str, Any]) -> AccountState:
    return AccountState.model_validate_json(doc_of(item))


def key_item(key_hash: str, state: AccountState) -> dict[str, Any]:
    record = ApiKeyRecord(
        key_hash=key_hash,
        account_id=state.account_id,
        plan=state.plan,
        status=state.status,
        suspension_kind=state.suspension.kind if state.suspension else None,
        suspended_until=state.suspension.until if state.suspension else None,
    )
    return encode(
        {
            "pk": f"KEY#{key_hash}",
            "sk": "KEY",
            "type": "key",
            "account_id": state.account_id,
            "doc": record.model_dump_json(),
        }
    )


def violation_item(v: Violation) -> dict[str, Any]:
    return encode(
        {
            "pk": f"ACCOUNT#{v.account_id}",
            "sk": f"VIOLATION#{iso(v.detected_at)}#{v.violation_id}",
            "type": "violation",
            "violation_id": v.violation_id,
            "rule_id": v.rule_id,
            "clause": v.clause,
            "decision": v.decision,
            "doc": v.model_dump_json(),
        }
    )


def audit_item(entry: AuditEntry, n: int) -> dict[str, Any]:
    return encode(
        {
            "pk": f"ACCOUNT#{entry.account_id}",
            "sk": f"AUDIT#{iso(entry.at)}#{entry.version:010d}#{n:03d}",
            "type": "audit",
            "action": entry.action,
            "actor": entry.actor,
            "doc": entry.model_dump_json(),
        }
    )


def review_item(review: Review) -> dict[str, Any]:
    """A review; its repeats also as attributes of their own, which a folded finding updates in place
    (``review_repeat``) without reading the document."""
    item = {
        "pk": f"REVIEW#{review.review_id}",
        "sk": "REVIEW",
        "type": "review",
        "account_id": review.account_id,
        "status": review.status.value,
        "doc": review.model_dump_json(),
        "gsi1pk": f"REVIEW#{review.status.value}",
        "gsi1sk": f"{iso(review.created_at)}#{review.review_id}",
        "repeats": review.repeats,
    }
    if review.last_violation_id is not None and review.last_seen_at is not None:
        item["last_violation_id"], item["last_seen_at"] = review.last_violation_id, iso(review.last_seen_at)
    return encode(item)


def review_from(item: Mapping[str, Any]) -> Review:
    """A review item read back: its document, with the repeats its attributes hold (newer than the
    document's when findings were folded into it since it was written)."""
    doc = orjson.loads(doc_of(item))
    if "repeats" in item and int(item["repeats"]["N"]) != doc.get("repeats", 0):
        doc["repeats"] = int(item["repeats"]["N"])
        doc["last_violation_id"] = item["last_violation_id"]["S"]
        doc["last_seen_at"] = item["last_seen_at"]["S"]
    return Review.model_validate(doc)


def review_repeat(table: str, repeat: ReviewRepeat) -> dict[str, Any]:
    """The ``Update`` that folds ``repeat`` into its review, on the condition that it is still pending."""
    return {
        "Update": {
            "TableName": table,
            "Key": encode({"pk": f"REVIEW#{repeat.review_id}", "sk": "REVIEW"}),
            "UpdateExpression": "ADD #n :n SET #lv = :v, #ls = :t",
            "ConditionExpression": "#st = :pending",
            "ExpressionAttributeNames": {
                "#n": "repeats",
                "#lv": "last_violation_id",
                "#ls": "last_seen_at",
                "#st": "status",
            },
            "ExpressionAttributeValues": encode(
                {":n": repeat.count, ":v": repeat.violation_id, ":t": iso(repeat.at), ":pending": "pending"}
            ),
        }
    }


def block_item(block: SourceBlock) -> dict[str, Any]:
    return encode(
        {
            "pk": f"SOURCE#{block.source_ip_hash}",
            "sk": "BLOCK",
            "type": "source_block",
            "until": iso(block.until),
            "expires_at": epoch(block.until) + 86400,
            "doc": block.model_dump_json(),
        }
    )


def marker_item(
    marker: str,
    expires_at: int,
    *,
    slot: int | None = None,
    state: str | None = None,
    hot: bytes | None = None,
) -> dict[str, Any]:
    """A counter batch's marker: ``state`` (``pending`` / ``done``), the marker ``slot`` its counter
    items carry its id under and ``hot``, the bitmap of its counters written transactionally
    (``DynamoStore.add_counters_once``)."""
    plain: dict[str, Any] = {"pk": f"MARK#{marker}", "sk": "MARK", "expires_at": expires_at, "type": "marker"}
    if slot is not None:
        plain["slot"] = slot
    if state is not None:
        plain["state"] = state
    item = encode(plain)
    if hot:
        item["hot"] = {"B": hot}
    return item


MARKER_ID_BYTES = 8


def marker_id(marker: str) -> bytes:
    """The 8 bytes a counter item keeps of a batch's marker (a binary set member: 8 bytes of item size,
    and a collision between two batches of one item's two slots is ~1e-11 likely at 20,000 of them)."""
    return hashlib.blake2b(marker.encode("utf-8", "surrogatepass"), digest_size=MARKER_ID_BYTES).digest()


# --- tokens --------------------------------------------------------------------------------------


def transaction_token(items: list[dict[str, Any]], attempt: int = 0) -> str:
    """The ClientRequestToken of a transaction: a digest of everything it applies (the version it moves
    from is in the state's condition) and of its attempt number, so a retried request is one request."""
    body = orjson.dumps(items, option=orjson.OPT_SORT_KEYS) + b"#%d" % attempt
    return hashlib.blake2b(body, digest_size=TOKEN_CHARS // 2).hexdigest()


def encode_page_token(last_key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(orjson.dumps(last_key)).decode() if last_key else None


def decode_page_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        last_key = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except Exception as exc:
        raise ValueError("next_token is not a token this API issued") from exc
    if not isinstance(last_key, dict):
        raise ValueError("next_token is not a token this API issued")
    return last_key
