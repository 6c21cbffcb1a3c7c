"""What a ledger change means to the outside world: the events the notifier publishes.

Pure: a DynamoDB stream record's keys and images in, ``Change``s out. The stream carries every
write; only account state, violation and review items become events (the template's filter drops
the rest before the function is invoked).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

SOURCE = "aup.enforcement"


class Change(BaseModel):
    detail_type: str  # AccountSuspended | AccountReinstated | ViolationRecorded | ReviewRequested
    account_id: str
    detail: dict[str, Any]
    flush_authorizer_cache: bool = False

    @property
    def subject(self) -> str:
        return f"[aup] {self.detail_type}: {self.account_id}"[:100]


def _doc(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if not image or "doc" not in image:
        return None
    raw = image["doc"]
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError("stream image carries an unreadable doc") from exc
    if not isinstance(doc, dict):
        raise ValueError("stream image doc is not an object")
    return doc


def changes_from_record(
    event_name: str, keys: dict[str, Any], old: dict[str, Any] | None, new: dict[str, Any] | None
) -> list[Change]:
    """Events for one stream record. Raises ValueError for a record whose images cannot be read."""
    sk = str(keys.get("sk", ""))
    if sk == "STATE":
        return _state_changes(_doc(old), _doc(new))
    if sk.startswith("VIOLATION#") and event_name == "INSERT":
        v = _doc(new)
        if v is None:
            raise ValueError("violation record without a new image")
        detail = {
            k: v.get(k)
            for k in (
                "violation_id",
                "rule_id",
                "clause",
                "severity",
                "confidence",
                "source",
                "detected_at",
                "decision",
                "policy_version",
                "summary",
            )
        }
        return [Change(detail_type="ViolationRecorded", account_id=v["account_id"], detail=detail)]
    if sk == "REVIEW" and event_name == "INSERT":
        r = _doc(new)
        if r is None:
            raise ValueError("review record without a new image")
        finding = r.get("finding") or {}
        detail = {
            "review_id": r.get("review_id"),
            "violation_id": r.get("violation_id"),
            "reason": r.get("reason"),
            "rule_id": finding.get("rule_id"),
            "clause": finding.get("clause"),
        }
        return [Change(detail_type="ReviewRequested", account_id=r["account_id"], detail=detail)]
    return []


def _state_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    if new is None:
        return []
    was = (old or {}).get("status", "active")
    now_status = new.get("status", "active")
    suspension = new.get("suspension") or {}
    old_suspension = (old or {}).get("suspension") or {}
    account_id = new["account_id"]
    if now_status == "suspended" and (was != "suspended" or suspension != old_suspension):
        detail = {
            k: suspension.get(k)
            for k in ("kind", "reason", "rule_id", "clause", "since", "until", "decided_by", "policy_version")
        }
        detail["version"] = new.get("version")
        return [
            Change(
                detail_type="AccountSuspended",
                account_id=account_id,
                detail=detail,
                flush_authorizer_cache=True,
            )
        ]
    if now_status == "active" and was == "suspended":
        return [
            Change(
                detail_type="AccountReinstated",
                account_id=account_id,
                detail={"version": new.get("version"), "previous": old_suspension.get("kind")},
                flush_authorizer_cache=True,
            )
        ]
    return []
