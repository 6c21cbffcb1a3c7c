"""The events API Gateway, DynamoDB Streams and EventBridge send to the spine's functions.

Thin wrappers over ``aupctl.events`` (one set of builders for aupctl and the tests) with the tests'
fixed names, ids and times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aupctl import events

OPERATOR_ARN = "arn:aws:iam::123456789012:user/ops-alice"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:svcapi1234/prod/GET/items/42"
REQUEST_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # requestTime of the admin events (unused by handlers)


def admin_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    user_arn: str | None = OPERATOR_ARN,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event for the admin API, signed by ``user_arn`` (IAM auth)."""
    return events.rest_event(
        method,
        path,
        body,
        query=query,
        raw_body=raw_body,
        user_arn=user_arn,
        caller="AIDAEXAMPLE",
        api_id="adminapi12",
        source_ip="10.0.0.1",
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        at=REQUEST_AT,
    )


def authorizer_event(
    api_key: str | None,
    *,
    source_ip: str = "203.0.113.7",
    forwarded_for: str | None = None,
    claimed_account: str | None = None,
    method_arn: str = METHOD_ARN,
) -> dict[str, Any]:
    return events.authorizer_event(
        api_key,
        source_ip=source_ip,
        forwarded_for=forwarded_for,
        claimed_account=claimed_account,
        method_arn=method_arn,
        request_id="r-1",
    )


def scheduled_event(
    time: str = "2026-11-27T12:00:00Z", rule: str = "SuspensionExpirySweep"
) -> dict[str, Any]:
    return events.scheduled_event(time, rule)
