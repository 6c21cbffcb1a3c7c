"""Tell the world about a ledger change: an SNS notification, an EventBridge event, a cache flush.

The notifier's handler parses the stream records (``aup.domain.notifications``) and calls these with
the clients and names of its settings; idempotency (each stream record published once) stays with
the handler's powertools decorator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from aup.domain.notifications import SOURCE, Change


def publish(changes: Sequence[Change], *, sns: Any, events: Any, topic_arn: str, event_bus_name: str) -> int:
    """Publish each change to the topic and the event bus. Raises when either refuses one (retried)."""
    for change in changes:
        message = {
            "source": SOURCE,
            "detail-type": change.detail_type,
            "account_id": change.account_id,
            "detail": change.detail,
        }
        sns.publish(
            TopicArn=topic_arn,
            Subject=change.subject,
            Message=orjson.dumps(message).decode(),
            MessageAttributes={"detail_type": {"DataType": "String", "StringValue": change.detail_type}},
        )
    entries = [
        {
            "Source": SOURCE,
            "DetailType": c.detail_type,
            "EventBusName": event_bus_name,
            "Resources": [],
            "Detail": orjson.dumps({"account_id": c.account_id, **c.detail}).decode(),
        }
        for c in changes
    ]
    if entries:
        resp = events.put_events(Entries=entries)
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {resp['FailedEntryCount']} of {len(entries)} events")
    return len(changes)


def flush_authorizer_cache(apigateway: Any, *, api_id: str, stage: str) -> str | None:
    """Make a suspension (or reinstatement) effective at once instead of after the authorizer cache.

    Best effort: returns the error text when the flush failed (the cache then expires by itself within
    ReauthorizeEvery), None when it was flushed.
    """
    try:
        apigateway.flush_stage_authorizers_cache(restApiId=api_id, stageName=stage)
    except Exception as exc:
        return str(exc)
    return None
