"""AdminApiFunction under moto for the console: roles from Cognito claims, the CSRF rule, the security
headers on every response, the static files, the console's routes (filters, reviews with details,
usage series, mandatory reports, whoami) and a 503 when the ledger is unavailable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aup import bootstrap
from aup.domain.models import Finding, Source
from aup.domain.ports import CounterUpdate, LedgerUnavailable
from aupctl import events
from tests.conftest import load_handler
from tests.eventlib import OPERATOR_ARN, admin_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.time_machine(NOW, tick=True)
HOST = "console1234.execute-api.us-east-1.amazonaws.com"
ORIGIN = f"https://{HOST}"


def claims(username: str, *groups: str) -> dict[str, str]:
    """Claims as API Gateway's Cognito authorizer passes them (strings; groups comma-separated)."""
    out = {"sub": "0000-" + username, "cognito:username": username, "token_use": "id", "aud": "client"}
    if groups:
        out["cognito:groups"] = ",".join(groups)
    return out


def console_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    who: dict[str, str] | None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    console_header: bool = True,
) -> dict[str, Any]:
    h = {"Host": HOST, "X-Forwarded-Proto": "https", "Accept": "application/json"}
    if body is not None:
        h["Content-Type"] = "application/json"
    if console_header and method != "GET":
        h["X-AUP-Console"] = "1"
    h.update(headers or {})
    event = events.console_event(
        method,
        path,
        headers=h,
        claims=who,
        raw_body=json.dumps(body) if body is not None else None,
        query=query,
        api_id="console1234",
        at=NOW,
    )
    event["requestContext"]["path"] = "/prod" + path  # as API Gateway sets it: with the stage
    return event


@pytest.fixture
def handler(stack, lambda_context):
    module = load_handler("admin_api")

    def call(event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        resp = module.lambda_handler(event, lambda_context)
        headers = {k: v[0] for k, v in (resp.get("multiValueHeaders") or {}).items()}
        headers.update(resp.get("headers") or {})
        raw = resp.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return resp["statusCode"], body, headers

    call.module = module  # type: ignore[attr-defined]
    return call


@pytest.fixture
def account(handler) -> str:
    status, _, _ = handler(admin_event("POST", "/accounts", {"account_id": "acme-corp", "plan": "free"}))
    assert status == 201
    return "acme-corp"


VIEWER = claims("vera", "viewer")
OPERATOR = claims("otto", "operator")
ADMIN = claims("ada", "viewer", "admin")


def test_a_viewers_suspend_is_403_and_changes_nothing(handler, account):
    status, body, _ = handler(
        console_event("POST", f"/accounts/{account}/suspend", {"reason": "x"}, who=VIEWER)
    )
    assert status == 403 and body == {"error": "forbidden", "role": "viewer", "required": "operator"}
    assert bootstrap.ledger().get_account(account).status.value == "active"
    assert [a.action for a in bootstrap.ledger().list_audit(account)] == ["create"]
    status, body, _ = handler(console_event("GET", f"/accounts/{account}", who=VIEWER))
    assert status == 200 and body["status"] == "active"


def test_an_operators_suspend_is_audited_with_the_person(handler, account):
    status, body, _ = handler(
        console_event("POST", f"/accounts/{account}/suspend", {"reason": "abuse #7"}, who=OPERATOR)
    )
    assert status == 200 and body["suspension"]["decided_by"] == "cognito:otto"
    audit = bootstrap.ledger().list_audit(account)
    assert [(a.action, a.actor) for a in audit] == [("create", OPERATOR_ARN), ("suspend", "cognito:otto")]
    # ...but creating an account and the allowlist are the admin's.
    status, body, _ = handler(
        console_event("PUT", f"/accounts/{account}/allowlist", {"allowlisted": True}, who=OPERATOR)
    )
    assert status == 403 and body["required"] == "admin"
    status, body, _ = handler(  # ...and so are the accounts it acts for (what W1 counts as its own)
        console_event("PUT", f"/accounts/{account}/acts-for", {"acts_for": ["*"]}, who=OPERATOR)
    )
    assert status == 403 and body["required"] == "admin"
    assert bootstrap.ledger().get_account(account).acts_for == []
    status, _, _ = handler(
        console_event("PUT", f"/accounts/{account}/allowlist", {"allowlisted": True}, who=ADMIN)
    )
    assert status == 200
    assert bootstrap.ledger().list_audit(account)[-1].actor == "cognito:ada"


def test_a_user_in_no_group_is_refused_everything_but_whoami(handler, account):
    nobody = claims("nemo")
    for method, path, body in (
        ("GET", "/accounts", None),
        ("GET", f"/accounts/{account}", None),
        ("POST", f"/accounts/{account}/suspend", {"reason": "x"}),
    ):
        status, answer, _ = handler(console_event(method, path, body, who=nobody))
        assert status == 403 and answer["role"] is None, (method, path)
    status, answer, _ = handler(console_event("GET", "/whoami", who=nobody))
    assert status == 200 and answer == {"actor": "cognito:nemo", "role": None, "kind": "cognito"}
    status, answer, _ = handler(console_event("GET", "/whoami", who=ADMIN))
    assert answer["role"] == "admin"  # the highest group wins


def test_an_iam_caller_is_admin_and_an_anonymous_one_is_401(handler, account):
    status, body, _ = handler(admin_event("GET", "/whoami"))
    assert status == 200 and body == {"actor": OPERATOR_ARN, "role": "admin", "kind": "iam"}
    anonymous = admin_event("GET", "/accounts", user_arn=None)
    anonymous["requestContext"]["identity"].update(caller=None, user=None, userArn=None)
    status, body, _ = handler(anonymous)
    assert status == 401 and body == {"error": "unauthenticated"}
    status, _, _ = handler(console_event("GET", "/accounts", who=None))
    assert status == 401


def test_state_changing_console_requests_need_the_header_and_their_own_origin(handler, account):
    path = f"/accounts/{account}/suspend"
    status, body, _ = handler(
        console_event("POST", path, {"reason": "x"}, who=OPERATOR, console_header=False)
    )
    assert status == 403 and "X-AUP-Console" in body["error"]
    status, body, _ = handler(
        console_event("POST", path, {"reason": "x"}, who=OPERATOR, headers={"Origin": "http://evil.example"})
    )
    assert status == 403 and body["error"] == "cross-origin request refused"
    assert bootstrap.ledger().get_account(account).status.value == "active"
    status, _, _ = handler(
        console_event("POST", path, {"reason": "x"}, who=OPERATOR, headers={"Origin": ORIGIN})
    )
    assert status == 200
    # IAM (SigV4) requests cannot be forged by a browser: no header needed.
    status, _, _ = handler(admin_event("POST", f"/accounts/{account}/reinstate", {"reason": "ok"}))
    assert status == 200


def test_every_response_carries_the_security_headers(handler, account):
    for event in (
        console_event("GET", "/accounts", who=VIEWER),
        console_event("GET", "/accounts/nobody-here", who=VIEWER),  # 404
        console_event("GET", "/no/such/route", who=VIEWER),
        console_event("POST", f"/accounts/{account}/suspend", {"reason": "x"}, who=VIEWER),  # 403
        console_event("GET", "/accounts", who=None),  # 401
        console_event("GET", "/console/", who=None),
        admin_event("POST", "/accounts", {"plan": 3}),  # 422
    ):
        status, _, headers = handler(event)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer" and headers["X-Frame-Options"] == "DENY"
        if not event["path"].startswith("/console"):
            assert headers["Cache-Control"] == "no-store", (event["path"], status)


def test_static_files_are_served_without_auth_and_only_from_the_console_folder(handler, monkeypatch):
    status, body, headers = handler(console_event("GET", "/console/", who=None))
    assert status == 200 and headers["Content-Type"].startswith("text/html") and "<" in body
    status, _, headers = handler(console_event("GET", "/console", who=None))
    assert status == 308 and headers["Location"] == "console/"
    normalized = console_event("GET", "/console", who=None)  # a gateway that drops the slash it was sent
    normalized["requestContext"]["path"] = "/prod/console/"
    status, _, _ = handler(normalized)
    assert status == 200  # served, not redirected to itself
    status, body, headers = handler(console_event("GET", "/console/app.js", who=None))
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    for name in ("app.py", "..", "%2e%2e", ".hidden", "nothing.js"):
        status, body, _ = handler(console_event("GET", f"/console/{name}", who=None))
        assert status == 404, (name, body)
    for path in ("/console/../app.py", "/console/sub/app.js"):
        status, _, _ = handler(console_event("GET", path, who=None))
        assert status == 401, path  # not a static path: the API's, which needs a token
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "ignored-at-runtime")  # settings are read at cold start
    status, config, _ = handler(console_event("GET", "/console/config.json", who=None))
    module_settings = handler.module.settings
    assert status == 200 and config == {
        "apiBase": "/prod",
        "cognito": {
            "endpoint": "https://cognito-idp.us-east-1.amazonaws.com/",
            "region": "us-east-1",
            "userPoolId": module_settings.cognito_user_pool_id,
            "clientId": module_settings.cognito_client_id,
        },
        "local": False,
    }


def test_the_openapi_document_has_the_console_routes(handler):
    status, doc, _ = handler(admin_event("GET", "/openapi.json"))
    assert status == 200
    assert {"/whoami", "/reports", "/accounts/{account_id}/usage"} <= set(doc["paths"])
    names = {p["name"] for p in doc["paths"]["/accounts"]["get"]["parameters"]}
    assert {"status", "plan", "allowlisted", "pending_reviews", "q"} <= names
    assert not any(p.startswith("/console") for p in doc["paths"])


def _finding(account_id: str, rule: str, clause: str, event_id: str, **kw: Any) -> Finding:
    return Finding(
        rule_id=rule,
        clause=clause,
        account_id=account_id,
        source=Source.s3,
        source_event_id=event_id,
        detected_at=datetime(2026, 11, 27, 11, 0, tzinfo=UTC),
        summary="seen",
        evidence={"sha256": "ab" * 32, "recipients": 4000},
        **kw,
    )


def test_accounts_filters_and_pending_reviews(handler):
    for account_id, plan in (("alpha-co", "free"), ("beta-co", "standard"), ("gamma-co", "free")):
        handler(admin_event("POST", "/accounts", {"account_id": account_id, "plan": plan}))
    handler(admin_event("POST", "/accounts/beta-co/suspend", {"reason": "x"}))
    handler(admin_event("PUT", "/accounts/gamma-co/allowlist", {"allowlisted": True}))
    bootstrap.ledger().apply_findings([_finding("alpha-co", "C1-bulk-recipients", "C1", "s3://b/k#1")], NOW)

    def ids(**query: str) -> list[str]:
        status, body, _ = handler(console_event("GET", "/accounts", who=VIEWER, query=query))
        assert status == 200, body
        return sorted(i["account_id"] for i in body["items"])

    assert ids() == ["alpha-co", "beta-co", "gamma-co"]
    assert ids(status="suspended") == ["beta-co"]
    assert ids(plan="free") == ["alpha-co", "gamma-co"]
    assert ids(allowlisted="true") == ["gamma-co"]
    assert ids(pending_reviews="true") == ["alpha-co"]
    assert ids(pending_reviews="false") == ["beta-co", "gamma-co"]
    assert ids(q="ETA") == ["beta-co"]
    assert ids(plan="free", allowlisted="false") == ["alpha-co"]
    status, body, _ = handler(console_event("GET", "/accounts", who=VIEWER, query={"status": "bogus"}))
    assert status == 422
    status, body, _ = handler(console_event("GET", "/accounts", who=VIEWER, query={"limit": "1"}))
    firsts = body["items"]
    while body["next_token"]:
        status, body, _ = handler(
            console_event(
                "GET", "/accounts", who=VIEWER, query={"limit": "1", "next_token": body["next_token"]}
            )
        )
        firsts += body["items"]
    assert {i["account_id"]: i["pending_reviews"] for i in firsts} == {
        "alpha-co": 1,
        "beta-co": 0,
        "gamma-co": 0,
    }


def test_reviews_with_details_and_the_status_filter(handler, account):
    bootstrap.ledger().apply_findings(
        [_finding(account, "C1-bulk-recipients", "C1", "s3://b/k#2", confidence=0.8)], NOW
    )
    status, body, _ = handler(console_event("GET", "/reviews", who=VIEWER, query={"status": "open"}))
    assert status == 200
    (review,) = body["items"]
    assert review["rule_id"] == "C1-bulk-recipients" and review["clause"] == "C1"
    assert review["severity"] == "medium" and review["confidence"] == 0.8  # the rule's severity
    assert review["evidence"]["recipients"] == 4000 and review["account"]["account_id"] == account
    status, body, _ = handler(console_event("GET", "/reviews", who=VIEWER, query={"status": "decided"}))
    assert body["items"] == []
    status, _, _ = handler(
        console_event(
            "POST", f"/reviews/{review['review_id']}", {"decision": "dismiss", "reason": "ok"}, who=VIEWER
        )
    )
    assert status == 403
    status, decided, _ = handler(
        console_event(
            "POST", f"/reviews/{review['review_id']}", {"decision": "dismiss", "reason": "ok"}, who=OPERATOR
        )
    )
    assert status == 200 and decided["decided_by"] == "cognito:otto"
    for name, expected in (("open", 0), ("decided", 1), ("all", 1), ("dismissed", 1), ("pending", 0)):
        status, body, _ = handler(console_event("GET", "/reviews", who=VIEWER, query={"status": name}))
        assert status == 200 and len(body["items"]) == expected, name


def test_usage_series_with_the_plan_limit(handler, account):
    import boto3

    now = NOW
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="AUP/Usage",
        MetricData=[
            {
                "MetricName": "CPUSeconds",
                "Dimensions": [{"Name": "AccountId", "Value": account}],
                "Timestamp": now - timedelta(minutes=m),
                "Value": 7.0,
                "Unit": "Seconds",
            }
            for m in (10, 20, 30)
        ],
    )
    status, body, _ = handler(
        console_event(
            "GET", f"/accounts/{account}/usage", who=VIEWER, query={"metric": "CPUSeconds", "hours": "2"}
        )
    )
    assert status == 200, body
    plan = bootstrap.policy().plan("free")
    assert body["limit"] == pytest.approx(plan.cpu_seconds_per_hour * 300 / 3600)
    assert body["unit"] == "Seconds" and body["period_seconds"] == 300
    assert [p["v"] for p in body["points"]] == [7.0, 7.0, 7.0]
    status, body, _ = handler(
        console_event("GET", f"/accounts/{account}/usage", who=VIEWER, query={"metric": "Nope"})
    )
    assert status == 422
    status, _, _ = handler(console_event("GET", "/accounts/nobody-co/usage", who=VIEWER))
    assert status == 404


def test_mandatory_reports_are_listed(handler, account):
    from aup.usecases.scan_upload import MANDATORY_REPORT_SCOPE

    finding = _finding(account, "W4-known-illegal-hash", "W4", "s3://uploads/accounts/acme-corp/x.png#v1")
    bootstrap.ledger().apply_findings([finding], NOW)
    bootstrap.ledger().add_counters_once(
        f"report:{finding.violation_id}",
        [
            CounterUpdate(
                scope=MANDATORY_REPORT_SCOPE,
                name=finding.violation_id,
                add={"pending": 1},
                add_sets={"sha256": ["ab" * 32]},
            )
        ],
    )
    status, body, _ = handler(console_event("GET", "/reports", who=VIEWER))
    assert status == 200
    (report,) = body["items"]
    assert report["account_id"] == account and report["rule_id"] == "W4-known-illegal-hash"
    assert report["violation_id"] == finding.violation_id and report["report"]["sha256"] == ["ab" * 32]


def test_export_needs_an_operator(handler, account):
    status, body, _ = handler(console_event("GET", f"/accounts/{account}/export", who=VIEWER))
    assert status == 403 and body["required"] == "operator"
    status, body, _ = handler(console_event("GET", f"/accounts/{account}/export", who=OPERATOR))
    assert status == 200 and body["manifest"]["generated_by"] == "cognito:otto"


def test_an_unavailable_ledger_is_a_503_not_a_500(handler, account, monkeypatch):
    ledger = bootstrap.ledger()

    def down(*args: Any, **kwargs: Any) -> Any:
        raise LedgerUnavailable(
            "GetItem", "ProvisionedThroughputExceededException after the client's retries"
        )

    monkeypatch.setattr(ledger, "get_account", down, raising=False)
    status, body, headers = handler(console_event("GET", f"/accounts/{account}", who=VIEWER))
    assert status == 503 and body["error"].startswith("the ledger is unavailable")
    assert "Content-Security-Policy" in headers


def test_allowlist_takes_a_reason_into_the_audit(handler, account):
    status, _, _ = handler(
        console_event(
            "PUT", f"/accounts/{account}/allowlist", {"allowlisted": True, "reason": "partner"}, who=ADMIN
        )
    )
    assert status == 200
    last = bootstrap.ledger().list_audit(account)[-1]
    assert (last.action, last.reason, last.actor) == ("allowlist", "partner", "cognito:ada")
    status, _, _ = handler(
        console_event(
            "PUT", f"/accounts/{account}/allowlist", {"allowlisted": False, "reason": ""}, who=ADMIN
        )
    )
    assert status == 422


def test_voiding_a_review_voids_its_violation_and_dismisses_it(handler, account):
    bootstrap.ledger().apply_findings([_finding(account, "C1-bulk-recipients", "C1", "s3://b/k#3")], NOW)
    (review,) = bootstrap.ledger().list_reviews("pending").items
    path = f"/reviews/{review.review_id}"
    status, _, _ = handler(
        console_event("POST", path, {"decision": "void", "reason": "newsletter"}, who=VIEWER)
    )
    assert status == 403
    status, body, _ = handler(
        console_event("POST", path, {"decision": "void", "reason": "newsletter"}, who=OPERATOR)
    )
    assert status == 200 and body["status"] == "dismissed" and body["decision_reason"] == "newsletter"
    voids = [a for a in bootstrap.ledger().list_audit(account) if a.action == "void"]
    assert [(a.violation_id, a.reason, a.actor) for a in voids] == [
        (review.violation_id, "newsletter", "cognito:otto")
    ]
    status, violations, _ = handler(console_event("GET", f"/accounts/{account}/violations", who=VIEWER))
    assert [v["voided"] for v in violations["items"] if v["violation_id"] == review.violation_id] == [True]
    status, _, _ = handler(console_event("POST", path, {"decision": "void", "reason": "again"}, who=OPERATOR))
    assert status == 409


def test_swagger_ui_and_the_document_are_open_and_swagger_runs_under_a_hash_csp(handler):
    import base64
    import hashlib
    import re

    status, doc, _ = handler(console_event("GET", "/openapi.json", who=None))
    assert status == 200 and "/whoami" in doc["paths"]
    status, page, headers = handler(console_event("GET", "/swagger", who=None))
    assert status == 200 and "<script" in page
    csp = headers["Content-Security-Policy"]
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.DOTALL)
    assert scripts
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "frame-ancestors 'none'" in csp and "connect-src 'self';" in csp
