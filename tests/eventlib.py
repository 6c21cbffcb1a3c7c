"""Builders of the events API Gateway, DynamoDB Streams and EventBridge send to the spine's functions."""

from __future__ import annotations

import json
from typing import Any

OPERATOR_ARN = "arn:aws:iam::123456789012:user/ops-alice"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:svcapi1234/prod/GET/items/42"


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
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourcePath": path,
            "httpMethod": method,
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "userArn": user_arn,
                "caller": "AIDAEXAMPLE",
                "user": "AIDAEXAMPLE",
                "sourceIp": "10.0.0.1",
                "userAgent": "aupctl",
                "accessKey": None,
            },
            "apiId": "adminapi12",
        },
        "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }


def authorizer_event(
    api_key: str | None,
    *,
    source_ip: str = "203.0.113.7",
    forwarded_for: str | None = None,
    claimed_account: str | None = None,
    method_arn: str = METHOD_ARN,
) -> dict[str, Any]:
    headers: dict[str, str] = {"User-Agent": "integration/1.0"}
    if api_key is not None:
        headers["x-api-key"] = api_key
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    if claimed_account is not None:
        headers["X-Account-Id"] = claimed_account
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": "/items/{id}",
        "path": "/items/42",
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {"id": "42"},
        "stageVariables": {},
        "requestContext": {
            "path": "/prod/items/42",
            "accountId": "123456789012",
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "r-1",
            "identity": {"sourceIp": source_ip, "userAgent": "integration/1.0"},
            "resourcePath": "/items/{id}",
            "httpMethod": "GET",
            "apiId": "svcapi1234",
        },
    }


def scheduled_event(
    time: str = "2026-11-27T12:00:00Z", rule: str = "SuspensionExpirySweep"
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"sched-{time}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"],
        "detail": {},
    }
