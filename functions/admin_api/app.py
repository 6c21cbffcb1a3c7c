"""AdminApiFunction: the operators' REST API, routes of docs/architecture.md#admin-api.

Two APIs invoke it: ``AdminApi`` (IAM, SigV4: full access) and ``ConsoleApi`` (the operators' console:
a Cognito user pool's ID token; the role is the user's highest group, ``aup.domain.roles``). The
handler authenticates the caller, checks the route's role and, for a console user's state-changing
request, the CSRF rule (``X-AUP-Console: 1``, no foreign ``Origin``) before routing; every response
carries the console's security headers. The resolver validates every request against the routes'
types and generates the OpenAPI document (``GET /openapi.json``, and Swagger UI at ``GET /swagger``);
each route calls one operators' use case. ``GET /console[/FILE]`` serves the console's static files.
"""

import base64
import contextvars
import hashlib
import pathlib
import re
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
from aup.detectors.usage.metrics import CloudWatchMetricsReader
from aup.domain import roles
from aup.domain.models import (
    ACCOUNT_ID_PATTERN,
    ACTS_FOR_LIMIT,
    AccountView,
    ActsFor,
    AuditEntry,
    Review,
    Violation,
)
from aup.domain.ports import (
    AccountExists,
    AccountNotFound,
    LedgerUnavailable,
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
API_DESCRIPTION = (
    "Operators' API of aup-enforcer: accounts, violations, reviews. IAM (SigV4) authorized on AdminApi; "
    "a Cognito ID token (groups viewer, operator, admin) on ConsoleApi."
)
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
    reason: str | None = Field(default=None, min_length=1, max_length=1000, description="audited")


class ActsForBody(_Body):
    acts_for: ActsFor = Field(
        max_length=ACTS_FOR_LIMIT,
        description="accounts it may name in X-Account-Id (replaces the list; [] for none, ['*'] for any)",
    )
    reason: str | None = Field(default=None, min_length=1, max_length=1000, description="audited")


class ReviewDecision(_Body):
    decision: Literal["confirm", "dismiss", "void"] = Field(
        description="void: the violation was wrongful: voided, and the review dismissed"
    )
    reason: str = Field(min_length=1, max_length=1000)


class ViolationPage(BaseModel):
    items: list[Violation]
    next_token: str | None = None


class AccountSummary(AccountView):
    pending_reviews: int = Field(default=0, description="the account's pending reviews")


class AccountPage(BaseModel):
    items: list[AccountSummary]
    next_token: str | None = None


class ReviewDetail(Review):
    rule_id: str
    clause: str
    severity: str | None
    confidence: float
    summary: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    account: AccountView | None = Field(description="the account's current document (None: deleted)")


class ReviewPage(BaseModel):
    items: list[ReviewDetail]
    next_token: str | None = None


class WhoAmI(BaseModel):
    actor: str
    role: Literal["viewer", "operator", "admin"] | None
    kind: Literal["cognito", "iam"]


class UsagePoint(BaseModel):
    t: str
    v: float


class UsageSeries(BaseModel):
    account_id: str
    metric: str
    unit: str
    statistic: str
    period_seconds: int
    limit: float | None = Field(description="the plan's limit per period (the monitor acts at factor x it)")
    factor: float
    plan: str
    points: list[UsagePoint]


class MandatoryReports(BaseModel):
    items: list[dict[str, Any]]


# ------------------------------------------------------------------ who is calling, and may they

_CALLER: contextvars.ContextVar[roles.Caller | None] = contextvars.ContextVar("caller", default=None)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONSOLE_HEADER = "x-aup-console"
# (method, path pattern, role required); the first match decides. None: any authenticated caller.
# A route not listed needs admin (a new route is closed until someone opens it here).
ROUTE_ROLES: tuple[tuple[str, re.Pattern[str], roles.Role | None], ...] = (
    ("GET", re.compile(r"/whoami"), None),
    ("GET", re.compile(r"/accounts/[^/]+/export"), roles.Role.operator),
    ("GET", re.compile(r"/.*"), roles.Role.viewer),
    ("POST", re.compile(r"/accounts"), roles.Role.admin),
    ("PUT", re.compile(r"/accounts/[^/]+/allowlist"), roles.Role.admin),
    ("PUT", re.compile(r"/accounts/[^/]+/acts-for"), roles.Role.admin),
    ("POST", re.compile(r"/accounts/[^/]+/(suspend|reinstate)"), roles.Role.operator),
    ("POST", re.compile(r"/accounts/[^/]+/violations/[^/]+/void"), roles.Role.operator),
    ("POST", re.compile(r"/reviews/[^/]+"), roles.Role.operator),
)
# The console's static files and config, the OpenAPI document and Swagger UI: no data, no auth.
PUBLIC = re.compile(r"/console(/[^/]*)?|/openapi\.json|/swagger")


def required_role(method: str, path: str) -> roles.Role | None:
    for route_method, pattern, role in ROUTE_ROLES:
        if route_method == method and pattern.fullmatch(path):
            return role
    return roles.Role.admin


def caller_of(event: dict[str, Any]) -> roles.Caller | None:
    """The Cognito user (claims API Gateway's Cognito authorizer verified), else the IAM caller."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if isinstance(claims, dict) and claims:
        return roles.cognito_caller(claims)
    identity = context.get("identity") if isinstance(context, dict) else None
    if isinstance(identity, dict):
        for field in ("userArn", "caller", "user"):
            value = identity.get(field)
            if isinstance(value, str) and value:
                return roles.iam_caller(value)
    return None


def _headers_of(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}


def own_origin(headers: dict[str, str]) -> str:
    """The console's origin as the request reached it (API Gateway sets X-Forwarded-Proto)."""
    return f"{headers.get('x-forwarded-proto', 'https')}://{headers.get('host', '')}"


def csrf_refusal(event: dict[str, Any]) -> str | None:
    """Why a console user's state-changing request is refused as possibly cross-site, or None."""
    headers = _headers_of(event)
    if headers.get(CONSOLE_HEADER) != "1":
        return "state-changing console requests need the X-AUP-Console: 1 header"
    origin = headers.get("origin")
    if origin is not None and origin != own_origin(headers):
        return "cross-origin request refused"
    return None


def refusal(event: dict[str, Any]) -> tuple[roles.Caller | None, dict[str, Any] | None]:
    """(the caller, None) when the request may go on, else (caller, the 401/403 proxy response)."""
    method = str(event["httpMethod"]).upper()
    path = "/" + str(event["path"]).strip("/")
    if method == "GET" and PUBLIC.fullmatch(path):
        return None, None
    caller = caller_of(event)
    if caller is None:
        return None, _raw_error(401, "unauthenticated")
    if caller.kind == "cognito" and method in STATE_CHANGING:
        reason = csrf_refusal(event)
        if reason is not None:
            return caller, _raw_error(403, reason)
    required = required_role(method, path)
    if not roles.allows(caller, required):
        assert required is not None
        role = caller.role.name if caller.role is not None else None
        return caller, _raw_error(403, "forbidden", role=role, required=required.name)
    return caller, None


def _raw_error(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": orjson.dumps({"error": message, **extra}).decode(),
    }


def _actor() -> str:
    """The person behind this request, recorded as the actor of every change it makes."""
    caller = _CALLER.get()
    if caller is not None:
        return caller.actor
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
    limit: Limit = 50,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
    status: Annotated[Literal["active", "suspended"] | None, Query(description="only this status")] = None,
    plan: Annotated[str | None, Query(max_length=64, description="only this plan")] = None,
    allowlisted: Annotated[bool | None, Query(description="only (not) allowlisted accounts")] = None,
    pending_reviews: Annotated[
        bool | None, Query(description="only accounts with(out) pending reviews")
    ] = None,
    q: Annotated[str | None, Query(max_length=128, description="a substring of the account id")] = None,
) -> AccountPage:
    filters = accounts.AccountFilter(
        status=status, plan=plan, allowlisted=allowlisted, pending_reviews=pending_reviews, q=q or None
    )
    items, token = accounts.list_summaries(
        bootstrap.ledger(), filters, limit=limit, next_token=next_token, now=bootstrap.utcnow()
    )
    return AccountPage(
        items=[AccountSummary(**v.model_dump(), pending_reviews=n) for v, n in items], next_token=token
    )


@app.get("/whoami")
def whoami() -> WhoAmI:
    """The caller as the API sees it: the actor its changes are audited under, and its role."""
    caller = _CALLER.get() or roles.iam_caller(_actor())
    role = caller.role.name if caller.role is not None else None
    return WhoAmI.model_validate({"actor": caller.actor, "role": role, "kind": caller.kind})


@app.get("/accounts/<account_id>/usage")
def account_usage(
    account_id: AccountIdPath,
    metric: Annotated[
        str, Query(pattern=r"^[A-Za-z0-9_]{1,64}$", description="a metric of AUP/Usage")
    ] = "CPUSeconds",
    hours: Annotated[int, Query(ge=1, le=accounts.USAGE_MAX_HOURS)] = 24,
) -> UsageSeries:
    """The account's usage series (one point per sweep period) and its plan's limit per period."""
    series = accounts.usage_series(
        bootstrap.ledger(),
        bootstrap.policy(),
        CloudWatchMetricsReader(settings.usage_namespace),
        account_id,
        metric,
        hours=hours,
        now=bootstrap.utcnow(),
    )
    return UsageSeries.model_validate(series)


@app.get("/reports")
def reports() -> MandatoryReports:
    """The mandatory reports (I2/W4 hash matches) written for the authorities, newest first."""
    return MandatoryReports(items=accounts.mandatory_reports(bootstrap.ledger()))


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
        bootstrap.ledger(),
        account_id=account_id,
        allowlisted=body.allowlisted,
        now=now,
        actor=_actor(),
        reason=body.reason,
    )
    return accounts.view(state, now)


@app.put("/accounts/<account_id>/acts-for")
def acts_for(account_id: AccountIdPath, body: ActsForBody) -> AccountView:
    """Declare the accounts this one acts for with X-Account-Id: a platform for its connected accounts,
    an agency for its clients. Naming one of them is then not W1-claimed-account. Audited."""
    now = bootstrap.utcnow()
    state = accounts.set_acts_for(
        bootstrap.ledger(),
        account_id=account_id,
        acts_for=body.acts_for,
        now=now,
        actor=_actor(),
        reason=body.reason,
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
    status: Annotated[
        Literal["pending", "confirmed", "dismissed", "open", "decided", "all"],
        Query(description="open (= pending), decided (confirmed or dismissed), all, or one status"),
    ] = "pending",
    limit: Limit = 50,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> ReviewPage:
    """Reviews with what an operator decides on: rule, clause, severity, confidence, evidence, account."""
    items, token = accounts.reviews_with_details(
        bootstrap.ledger(),
        bootstrap.policy(),
        status,
        limit=limit,
        next_token=next_token,
        now=bootstrap.utcnow(),
    )
    return ReviewPage(items=[ReviewDetail.model_validate(i) for i in items], next_token=token)


@app.post("/reviews/<review_id>")
def decide_review(review_id: ReviewIdPath, body: ReviewDecision) -> Review:
    if body.decision == "void":
        return accounts.void_review(
            bootstrap.ledger(),
            review_id=review_id,
            reason=body.reason,
            now=bootstrap.utcnow(),
            actor=_actor(),
        )
    return accounts.decide_review(
        bootstrap.ledger(),
        review_id=review_id,
        confirm=body.decision == "confirm",
        reason=body.reason,
        now=bootstrap.utcnow(),
        actor=_actor(),
    )


# ------------------------------------------------------------------ the console's static files

CONSOLE_DIR = pathlib.Path(__file__).resolve().parent / "console"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
STATIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def cognito_endpoint() -> str:
    return settings.cognito_endpoint or f"https://cognito-idp.{settings.region}.amazonaws.com/"


def console_files() -> dict[str, pathlib.Path]:
    """The files the console serves: regular files directly in its folder, of a known type."""
    if not CONSOLE_DIR.is_dir():
        return {}
    return {
        p.name: p
        for p in CONSOLE_DIR.iterdir()
        if p.is_file() and STATIC_NAME.fullmatch(p.name) and p.suffix in CONTENT_TYPES
    }


def _static(name: str) -> Response[Any]:
    path = console_files().get(name)
    if path is None:
        return _error(404, "no such file")
    data = path.read_bytes()
    kind = CONTENT_TYPES[path.suffix]
    body: str | bytes = data if kind.startswith("image/png") or kind == "image/x-icon" else data.decode()
    return Response(status_code=200, content_type=kind, body=body, headers={"Cache-Control": "no-cache"})


@app.get("/console", include_in_schema=False)
def console_index() -> Response[Any]:
    event = app.current_event
    sent = str((event.raw_event.get("requestContext") or {}).get("path") or "")
    if not event.path.endswith("/") and not sent.endswith("/"):
        # Relative links of the page resolve under console/ (and under the stage on AWS).
        return Response(status_code=308, headers={"Location": "console/"}, body="")
    return _static("index.html")


@app.get("/console/config.json", include_in_schema=False)
def console_config() -> Response[dict[str, Any]]:
    """What the page needs to sign in and to reach this API (no secret: a public client id)."""
    event = app.current_event.raw_event
    stage_path = str((event.get("requestContext") or {}).get("path") or event["path"])
    base = stage_path[: -len(event["path"])] if stage_path.endswith(event["path"]) else ""
    body = {
        "apiBase": base.rstrip("/"),
        "cognito": {
            "endpoint": cognito_endpoint(),
            "region": settings.region,
            "userPoolId": settings.cognito_user_pool_id,
            "clientId": settings.cognito_client_id,
        },
        "local": settings.console_local,
    }
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/console/<name>", include_in_schema=False)
def console_file(name: str) -> Response[Any]:
    return _static(name)


def security_headers() -> dict[str, str]:
    """The console's Content-Security-Policy and friends, on every response of the function."""
    connect = " ".join(dict.fromkeys(["'self'", cognito_endpoint().rstrip("/")]))
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def _inline_sources(html: str, tag: str) -> str:
    """CSP hash sources of the page's inline ``<tag>`` blocks (Swagger UI inlines its bundle)."""
    blocks = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks
    )


def swagger_headers(result: dict[str, Any]) -> dict[str, str]:
    """Swagger UI's page is inline code: its CSP allows exactly those scripts, by hash, and inline
    styles (the UI sets style attributes); nothing else is loosened."""
    body = result.get("body") or ""
    html = body if isinstance(body, str) and not result.get("isBase64Encoded") else ""
    headers = security_headers()
    scripts = _inline_sources(html, "script") or "'none'"
    headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {scripts}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    return headers


def with_security_headers(result: dict[str, Any], swagger: bool = False) -> dict[str, Any]:
    extra = swagger_headers(result) if swagger else security_headers()
    multi = result.get("multiValueHeaders")
    single = result.get("headers")
    present = {k.lower() for k in [*(multi or {}), *(single or {})]}
    if "cache-control" not in present:
        extra["Cache-Control"] = "no-store"
    if isinstance(multi, dict):
        for k, v in extra.items():
            multi[k] = [v]
    else:
        result["headers"] = {**(single or {}), **extra}
    return result


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


@app.exception_handler(LedgerUnavailable)
def _unavailable(exc: LedgerUnavailable) -> Response:
    logger.warning("ledger unavailable", extra={"operation": exc.operation, "detail": exc.detail})
    return _error(503, "the ledger is unavailable; try again", operation=exc.operation)


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
    caller, refused = refusal(event)
    if refused is not None:
        logger.info(
            "request refused", extra={"status": refused["statusCode"], "kind": caller and caller.kind}
        )
        return with_security_headers(refused)
    if event["path"] == SWAGGER_PATH:
        enable_swagger()
    token = _CALLER.set(caller)
    try:
        return with_security_headers(app.resolve(event, context), swagger=event["path"] == SWAGGER_PATH)
    finally:
        _CALLER.reset(token)
