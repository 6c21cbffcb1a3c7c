"""AdminApiFunction: the operators' REST API (IAM-signed), routes of docs/architecture.md#admin-api.

The resolver validates every request against the routes' types and generates the OpenAPI document
(``GET /openapi.json``, and Swagger UI at ``GET /swagger``); each route calls one operators' use case.
"""

from typing import Annotated, Any, Literal

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aup import bootstrap
from aup.domain.models import ACCOUNT_ID_PATTERN, AccountView, AuditEntry, Review, Violation
from aup.domain.ports import (
    AccountExists,
    AccountNotFound,
    ReviewClosed,
    ReviewNotFound,
    ViolationNotFound,
)
from aup.usecases import accounts, export

settings = bootstrap.configure(bootstrap.AdminApiSettings)
logger = Logger()
# orjson refuses a body nested deeper than 1024 levels with a JSONDecodeError, which the validation
# turns into a 422 (the standard library's parser hits RecursionError first: a 500).
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=orjson.loads)
API_TITLE = "aup-enforcer admin API"
API_VERSION = "1.0.0"
API_DESCRIPTION = "Operators' API of aup-enforcer: accounts, violations, reviews. IAM (SigV4) authorized."
app.configure_openapi(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION)
SWAGGER_PATH = "/swagger"
_swagger_enabled = False


def enable_swagger() -> None:
    """Swagger UI at ``GET /swagger`` (``?format=json``: the document), registered by the first request
    for it: ``enable_swagger`` imports the OpenAPI models, which would cost every cold start ~0.3 s."""
    global _swagger_enabled
    if not _swagger_enabled:
        app.enable_swagger(
            path=SWAGGER_PATH, title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION
        )
        _swagger_enabled = True


AccountIdPath = Annotated[str, Path(pattern=ACCOUNT_ID_PATTERN, description="account id")]
ReviewIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="review id")]
Limit = Annotated[int, Query(ge=1, le=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateAccount(_Body):
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    plan: str = Field(min_length=1, max_length=64)
    api_key: str | None = Field(default=None, min_length=16, max_length=256)


class CreatedAccount(AccountView):
    api_key: str = Field(description="shown once, never again")


class SuspendBody(_Body):
    reason: str = Field(min_length=1, max_length=1000)
    until: AwareDatetime | None = Field(
        default=None, description="end of a temporary suspension, with a time zone"
    )


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=1000)


class AllowlistBody(_Body):
    allowlisted: bool


class ReviewDecision(_Body):
    decision: Literal["confirm", "dismiss"]
    reason: str = Field(min_length=1, max_length=1000)


class ViolationPage(BaseModel):
    items: list[Violation]
    next_token: str | None = None


class AccountPage(BaseModel):
    items: list[AccountView]
    next_token: str | None = None


class ReviewPage(BaseModel):
    items: list[Review]
    next_token: str | None = None


def _actor() -> str:
    """The IAM caller of this request, recorded as the actor of every change it makes."""
    identity = app.current_event.request_context.identity
    return identity.user_arn or identity.caller or identity.user or "unknown-caller"


def _error(status: int, message: str, **extra: Any) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": message, **extra}
    )


@app.post("/accounts")
def create_account(body: CreateAccount) -> Response[CreatedAccount]:
    now = bootstrap.utcnow()
    state, key = accounts.register(
        bootstrap.ledger(),
        bootstrap.policy(),
        account_id=body.account_id,
        plan=body.plan,
        api_key=body.api_key,
        now=now,
        actor=_actor(),
    )
    created = CreatedAccount(**accounts.view(state, now).model_dump(), api_key=key)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=created)


@app.get("/accounts")
def list_accounts(
    limit: Limit = 50, next_token: Annotated[str | None, Query(max_length=2048)] = None
) -> AccountPage:
    items, token = accounts.list_views(
        bootstrap.ledger(), limit=limit, next_token=next_token, now=bootstrap.utcnow()
    )
    return AccountPage(items=items, next_token=token)


@app.get("/accounts/<account_id>")
def get_account(account_id: AccountIdPath) -> AccountView:
    return accounts.view(accounts.get(bootstrap.ledger(), account_id), bootstrap.utcnow())


@app.get("/accounts/<account_id>/violations")
def list_violations(
    account_id: AccountIdPath,
    limit: Limit = 50,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
    rule: Annotated[str | None, Query(max_length=128, description="only this rule id")] = None,
    clause: Annotated[str | None, Query(max_length=32, description="only this clause")] = None,
    decision: Annotated[str | None, Query(max_length=64, description="only this decision")] = None,
) -> ViolationPage:
    if rule is None and clause is None and decision is None:
        page = accounts.violations(bootstrap.ledger(), account_id, limit=limit, next_token=next_token)
    else:
        page = export.filtered_violations(
            bootstrap.ledger(),
            account_id,
            limit=limit,
            next_token=next_token,
            rule=rule,
            clause=clause,
            decision=decision,
        )
    return ViolationPage(items=page.items, next_token=page.next_token)


class AuditTrail(BaseModel):
    items: list[AuditEntry]


@app.get("/accounts/<account_id>/audit")
def get_audit(account_id: AccountIdPath) -> AuditTrail:
    """The account's audit trail, oldest first: who, when, why, from -> to, policy version."""
    return AuditTrail(items=export.audit(bootstrap.ledger(), account_id))


@app.get("/accounts/<account_id>/export")
def export_account(account_id: AccountIdPath) -> Response[dict[str, Any]]:
    """The evidence bundle for the authorities: account, violations, audit trail, mandatory reports,
    quarantined objects, and a manifest of SHA-256 hashes (``aupctl accounts export --verify``)."""
    bundle = export.build_bundle(bootstrap.ledger(), account_id, now=bootstrap.utcnow(), actor=_actor())
    logger.info("evidence exported", extra={"account_id": account_id, "parts": len(export.PARTS)})
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=bundle)


@app.post("/accounts/<account_id>/suspend")
def suspend(account_id: AccountIdPath, body: SuspendBody) -> AccountView:
    now = bootstrap.utcnow()
    state = accounts.suspend(
        bootstrap.ledger(),
        account_id=account_id,
        reason=body.reason,
        until=body.until,
        now=now,
        actor=_actor(),
    )
    return accounts.view(state, now)


@app.post("/accounts/<account_id>/reinstate")
def reinstate(account_id: AccountIdPath, body: ReasonBody) -> AccountView:
    now = bootstrap.utcnow()
    state = accounts.reinstate(
        bootstrap.ledger(), account_id=account_id, reason=body.reason, now=now, actor=_actor()
    )
    return accounts.view(state, now)


@app.put("/accounts/<account_id>/allowlist")
def allowlist(account_id: AccountIdPath, body: AllowlistBody) -> AccountView:
    now = bootstrap.utcnow()
    state = accounts.set_allowlisted(
        bootstrap.ledger(), account_id=account_id, allowlisted=body.allowlisted, now=now, actor=_actor()
    )
    return accounts.view(state, now)


ViolationIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="violation id")]


@app.post("/accounts/<account_id>/violations/<violation_id>/void")
def void_violation(account_id: AccountIdPath, violation_id: ViolationIdPath, body: ReasonBody) -> AccountView:
    """Void a wrongful violation: its strike goes, it no longer counts toward the doubling, a
    suspension resting on it is lifted. Audited with the caller and the reason."""
    now = bootstrap.utcnow()
    state = accounts.void_violation(
        bootstrap.ledger(),
        account_id=account_id,
        violation_id=violation_id,
        reason=body.reason,
        now=now,
        actor=_actor(),
    )
    return accounts.view(state, now)


@app.get("/reviews")
def list_reviews(
    status: Annotated[Literal["pending", "confirmed", "dismissed"], Query()] = "pending",
    limit: Limit = 50,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> ReviewPage:
    page = bootstrap.ledger().list_reviews(status, limit, next_token)
    return ReviewPage(items=page.items, next_token=page.next_token)


@app.post("/reviews/<review_id>")
def decide_review(review_id: ReviewIdPath, body: ReviewDecision) -> Review:
    return accounts.decide_review(
        bootstrap.ledger(),
        review_id=review_id,
        confirm=body.decision == "confirm",
        reason=body.reason,
        now=bootstrap.utcnow(),
        actor=_actor(),
    )


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    """The resolver's generated document (the contract's route; ``/swagger?format=json`` serves the same)."""
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema()
    )


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return _error(422, "invalid request", errors=errors)


@app.exception_handler([AccountNotFound, ReviewNotFound, ViolationNotFound])
def _not_found(exc: Exception) -> Response:
    return _error(404, str(exc))


@app.exception_handler([AccountExists, ReviewClosed])
def _conflict(exc: Exception) -> Response:
    return _error(409, str(exc))


@app.exception_handler(ValueError)
def _bad_value(exc: ValueError) -> Response:
    return _error(422, "invalid request", errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}])


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return _error(
        500, "internal error; see the function's logs", request_id=app.lambda_context.aws_request_id
    )


@app.not_found
def _no_route(exc: Exception) -> Response:
    return _error(404, "no such route")


_MAPS = (
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (
        not isinstance(event, dict)
        or not all(isinstance(event.get(k), str) for k in ("httpMethod", "path"))
        or not isinstance(event.get("requestContext"), dict)
        or not all(isinstance(event.get(k) or {}, dict) for k in _MAPS)
        or not isinstance(event.get("body") or "", str)
    ):
        return {
            "statusCode": 400,
            "headers": {"content-type": "application/json"},
            "body": '{"error": "not an API Gateway REST proxy event"}',
        }
    if event["path"] == SWAGGER_PATH:
        enable_swagger()
    return app.resolve(event, context)
