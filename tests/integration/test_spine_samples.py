"""Every sample event of the spine's functions runs through its handler against the deployed template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_handler

ADMIN_ORDER = [
    ("create-account", 201),
    ("get-account", 200),
    ("list-accounts", 200),
    ("list-violations", 200),
    ("suspend", 200),
    ("reinstate", 200),
    ("allowlist", 200),
    ("list-reviews", 200),
    ("decide-review-unknown", 404),
    ("bad-body", 422),
    ("openapi", 200),
]


def sample(function: str, case: str) -> dict:
    return json.loads((ROOT / "events" / function / f"{case}.json").read_text())


def test_admin_samples_in_order(stack, lambda_context):
    module = load_handler("admin_api")
    cases = {p.stem for p in (ROOT / "events" / "AdminApiFunction").glob("*.json")}
    assert cases == {c for c, _ in ADMIN_ORDER}, "every admin sample has its expected status here"
    for case, status in ADMIN_ORDER:
        resp = module.lambda_handler(sample("AdminApiFunction", case), lambda_context)
        assert resp["statusCode"] == status, (case, resp["body"])
        json.loads(resp["body"])


@pytest.mark.parametrize(
    "path", sorted((ROOT / "events" / "AuthorizerFunction").glob("*.json")), ids=lambda p: p.stem
)
def test_authorizer_samples(stack, lambda_context, path: Path):
    resp = load_handler("authorizer").lambda_handler(json.loads(path.read_text()), lambda_context)
    assert resp["policyDocument"]["Statement"][0]["Effect"] == "Deny"  # no such keys in a fresh stack


def test_notifier_expiry_and_backend_samples(stack, lambda_context):
    resp = load_handler("notifier").lambda_handler(
        sample("NotifierFunction", "suspension-and-violation"), lambda_context
    )
    assert resp == {"batchItemFailures": []}
    resp = load_handler("notifier").lambda_handler(
        sample("NotifierFunction", "counter-update-ignored"), lambda_context
    )
    assert resp == {"batchItemFailures": []}
    assert (
        load_handler("suspension_expiry").lambda_handler(
            sample("SuspensionExpiryFunction", "scheduled"), lambda_context
        )["lifted"]
        == []
    )
    backend = load_handler("service_backend").lambda_handler(
        sample("ServiceBackendFunction", "request"), None
    )
    assert backend["statusCode"] == 200 and json.loads(backend["body"])["account"] == "sample-co"
