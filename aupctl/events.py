"""The Lambda context object and the events AWS sends the functions, built in one place.

``aupctl`` (invoke, the operators' commands, the demo) and the tests build every API Gateway,
authorizer and schedule event here, so a field the handlers start to read is added once.
Times are passed in (``at``); only ``aupctl`` lets them default to the clock.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


class LambdaContext:
    """The Lambda context object: names of the function, a deadline from its timeout.

    ``from_configuration`` takes a ``get_function_configuration`` answer (aupctl's runner); tests
    build one with fixed names and a request id.
    """

    def __init__(
        self,
        *,
        function_name: str = "local",
        function_arn: str | None = None,
        memory_mb: int = 128,
        timeout_seconds: float = 3.0,
        request_id: str | None = None,
        log_stream_name: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            function_arn or f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name or "[$LATEST]" + uuid.uuid4().hex
        # A monotonic deadline: the remaining time is what the handler has left, not a wall-clock value.
        self._deadline = time.monotonic() + timeout_seconds

    @classmethod
    def from_configuration(cls, config: dict[str, Any]) -> LambdaContext:
        name = str(config.get("FunctionName", "local"))
        return cls(
            function_name=name,
            function_arn=str(config["FunctionArn"]) if config.get("FunctionArn") else None,
            memory_mb=int(config.get("MemorySize", 128)),
            timeout_seconds=float(config.get("Timeout", 3)),
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _now(at: datetime | None) -> datetime:
    return at.astimezone(UTC) if at is not None else datetime.now(UTC)


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    resource: str | None = None,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
    user_arn: str | None = None,
    caller: str | None = None,
    api_id: str = "local",
    stage: str = "prod",
    source_ip: str = "127.0.0.1",
    user_agent: str = "aupctl",
    request_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event for an IAM-authorized (SigV4) request by ``user_arn``.

    ``body`` is sent as JSON; ``raw_body`` as given (malformed bodies in tests).
    """
    host = f"{api_id}.execute-api.{REGION}.amazonaws.com"
    headers = {
        "Accept": "application/json",
        "Host": host,
        "User-Agent": user_agent,
        "X-Forwarded-For": source_ip,
    }
    if body is not None or raw_body is not None:
        headers["Content-Type"] = "application/json"
    when = _now(at)
    who = caller or (user_arn.rsplit("/", 1)[-1] if user_arn else None)
    resource = resource or path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": api_id,
            "requestTimeEpoch": int(when.timestamp() * 1000),
            "requestId": request_id or str(uuid.uuid4()),
            "identity": {
                "cognitoIdentityPoolId": None,
                "cognitoIdentityId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "principalOrgId": None,
                "accountId": ACCOUNT,
                "caller": who,
                "user": who,
                "userArn": user_arn,
                "accessKey": "testing",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "domainName": host,
            "apiId": api_id,
        },
        "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }


def console_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    claims: dict[str, str] | None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    resource: str | None = None,
    path_params: dict[str, str] | None = None,
    api_id: str = "local",
    stage: str = "prod",
    source_ip: str = "127.0.0.1",
    at: datetime | None = None,
) -> dict[str, Any]:
    """A REST proxy event as the console's API (Cognito user pool authorizer) delivers it: the
    browser's ``headers``, and the verified ID token's ``claims`` under ``requestContext.authorizer``
    (None: an unauthenticated request, the static files). ``requestContext.path`` has no stage prefix:
    the local console serves the API at its root."""
    event = rest_event(
        method,
        path,
        raw_body=raw_body,
        resource=resource,
        path_params=path_params,
        query=query,
        api_id=api_id,
        stage=stage,
        source_ip=source_ip,
        user_agent=headers.get("User-Agent", "browser"),
        at=at,
    )
    event["headers"] = dict(headers)
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    context = event["requestContext"]
    context["path"] = path
    context["identity"]["accessKey"] = None
    if claims is not None:
        context["authorizer"] = {"claims": dict(claims)}
    return event


def authorizer_event(
    api_key: str | None,
    *,
    api_id: str = "svcapi1234",
    stage: str = "prod",
    source_ip: str = "203.0.113.7",
    user_agent: str = "integration/1.0",
    forwarded_for: str | None = None,
    claimed_account: str | None = None,
    method_arn: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A REQUEST authorizer event for ``GET /items/42`` on the service API (header ``x-api-key``)."""
    headers: dict[str, str] = {"User-Agent": user_agent}
    if api_key is not None:
        headers["x-api-key"] = api_key
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    if claimed_account is not None:
        headers["X-Account-Id"] = claimed_account
    return {
        "type": "REQUEST",
        "methodArn": method_arn or f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/GET/items/42",
        "resource": "/items/{id}",
        "path": "/items/42",
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {"id": "42"},
        "stageVariables": {},
        "requestContext": {
            "path": f"/{stage}/items/42",
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": stage,
            "requestId": request_id or str(uuid.uuid4()),
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "resourcePath": "/items/{id}",
            "httpMethod": "GET",
            "apiId": api_id,
        },
    }


def scheduled_event(at: datetime | str, rule: str = "SuspensionExpirySweep") -> dict[str, Any]:
    """An EventBridge schedule's event at ``at`` (a datetime, or the ISO text as EventBridge sends it)."""
    when = at if isinstance(at, str) else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": f"sched-{when}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": when,
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def access_line(
    at_ms: int,
    *,
    ip: str,
    agent: str,
    path: str,
    resource: str,
    status: int,
    account: str,
    method: str = "GET",
) -> str:
    """One line of the access-log format (docs/architecture.md#access-log-format), values as strings."""
    return json.dumps(
        {
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTimeEpoch": str(at_ms),
            "ip": ip,
            "userAgent": agent,
            "httpMethod": method,
            "path": path,
            "resourcePath": resource,
            "status": str(status),
            "responseLength": "512" if status == 200 else "64",
            "principalId": account,
            "apiKeyId": "-",
            "authorizerError": "-",
            "forwardedFor": "-",
            "claimedAccount": "-",
        },
        separators=(",", ":"),
    )
