"""AuthorizerFunction: API Gateway REQUEST authorizer enforcing the suspension flag (header x-api-key)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.usecases.authorize import KeyAuthorizer, Verdict, clip_header

logger = Logger()
_authorizer: KeyAuthorizer | None = None


def authorizer() -> KeyAuthorizer:
    global _authorizer
    if _authorizer is None:
        cfg = bootstrap.settings()
        _authorizer = KeyAuthorizer(
            bootstrap.ledger().authorizer_lookup,
            cache_seconds=cfg.authorizer_cache_seconds,
            fail_open=cfg.authorizer_fail_mode == "open",
        )
    return _authorizer


def _response(event: APIGatewayAuthorizerRequestEvent, verdict: Verdict) -> dict[str, Any]:
    arn = event.parsed_arn
    context: dict[str, Any] = {"reason": verdict.reason}
    if verdict.account_id:
        context.update(accountId=verdict.account_id, plan=verdict.plan or "-")
    if verdict.unverified:
        context["unverified"] = True
    # The access log reads these two (contract): the headers as the client sent them.
    context["forwardedFor"] = clip_header(event.get_header_value("x-forwarded-for", "", case_sensitive=False))
    context["claimedAccount"] = clip_header(event.get_header_value("x-account-id", "", case_sensitive=False))
    response = APIGatewayAuthorizerResponse(
        principal_id=verdict.principal_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=context,
    )
    # The whole stage, so API Gateway's cached answer is right for every route.
    if verdict.allow:
        response.allow_all_routes()
    else:
        response.deny_all_routes()
    return response.asdict()


def _malformed(reason: str) -> dict[str, Any]:
    return {
        "principalId": "malformed:-",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny",
                    "Resource": "arn:aws:execute-api:*:*:*/*/*/*",
                }
            ],
        },
        "context": {"reason": reason},
    }


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not isinstance(event, dict) or not isinstance(event.get("methodArn"), str):
        logger.warning("malformed authorizer event: no methodArn")
        return _malformed("malformed authorizer event: no methodArn")
    # Only string headers and a dict identity reach the lookup (API Gateway sends nothing else; a
    # malformed event is denied, never a crash).
    headers = event.get("headers")
    event = {
        **event,
        "headers": {k: v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(headers, dict)
        else {},
    }
    request = APIGatewayAuthorizerRequestEvent(event)
    try:
        request.parsed_arn  # noqa: B018 - validates the ARN before any lookup
    except Exception:
        logger.warning("malformed authorizer event: bad methodArn")
        return _malformed("malformed authorizer event: bad methodArn")
    api_key = request.get_header_value("x-api-key", "", case_sensitive=False)
    request_context = event.get("requestContext")
    identity = request_context.get("identity") if isinstance(request_context, dict) else None
    source_ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    verdict = authorizer().decide(api_key or None, source_ip if isinstance(source_ip, str) else None)
    if not verdict.allow:
        logger.info("deny", extra={"principal": verdict.principal_id, "reason": verdict.reason})
    return _response(request, verdict)
