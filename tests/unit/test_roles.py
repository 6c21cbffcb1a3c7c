"""The console's roles (aup.domain.roles) and the admin API's route table, and the local console's
token checks (aupctl.console.TokenVerifier) on tokens signed here."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from aup.domain import roles
from aup.domain.roles import Role


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["viewer", "operator"], ["viewer", "operator"]),
        ("viewer,admin", ["viewer", "admin"]),  # REST API's Cognito authorizer
        ("[operator viewer]", ["operator", "viewer"]),  # HTTP API's JWT authorizer
        ("", []),
        (None, []),
        (42, []),
    ],
)
def test_groups_in_every_shape_the_claims_come_in(raw: Any, expected: list[str]) -> None:
    assert roles.groups_of({"cognito:groups": raw} if raw is not None else {}) == expected


def test_the_highest_role_wins_and_other_groups_give_none() -> None:
    assert roles.role_of_groups(["viewer", "admin", "operator"]) is Role.admin
    assert roles.role_of_groups(["operator", "support"]) is Role.operator
    assert roles.role_of_groups(["support", "Admin"]) is None  # names are exact


def test_the_caller_is_the_person() -> None:
    caller = roles.cognito_caller({"cognito:username": "otto", "cognito:groups": "operator"})
    assert caller == roles.Caller(actor="cognito:otto", role=Role.operator, kind="cognito")
    by_mail = roles.cognito_caller({"email": "a@example.com", "cognito:groups": "viewer"})
    assert by_mail is not None and by_mail.actor == "cognito:a@example.com"
    assert roles.cognito_caller({"cognito:groups": "admin"}) is None  # no user: nobody to audit
    assert roles.iam_caller("arn:aws:iam::1:user/x").role is Role.admin


def test_allows_by_order() -> None:
    viewer = roles.Caller("cognito:v", Role.viewer, "cognito")
    nobody = roles.Caller("cognito:n", None, "cognito")
    assert roles.allows(viewer, Role.viewer) and not roles.allows(viewer, Role.operator)
    assert roles.allows(nobody, None) and not roles.allows(nobody, Role.viewer)


def test_the_route_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_TABLE", "t")
    from tests.conftest import load_handler

    app = load_handler("admin_api")
    expected = {
        ("GET", "/whoami"): None,
        ("GET", "/accounts"): Role.viewer,
        ("GET", "/accounts/a/violations"): Role.viewer,
        ("GET", "/reviews"): Role.viewer,
        ("GET", "/accounts/a/export"): Role.operator,
        ("POST", "/accounts/a/suspend"): Role.operator,
        ("POST", "/accounts/a/reinstate"): Role.operator,
        ("POST", "/accounts/a/violations/v/void"): Role.operator,
        ("POST", "/reviews/r"): Role.operator,
        ("POST", "/accounts"): Role.admin,
        ("PUT", "/accounts/a/allowlist"): Role.admin,
        ("DELETE", "/accounts/a"): Role.admin,  # not listed: closed
        ("POST", "/accounts/a/suspend/extra"): Role.admin,
    }
    assert {k: app.required_role(*k) for k in expected} == expected


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_the_local_verifier_checks_signature_issuer_audience_use_and_expiry() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from aupctl.console import PoolConfig, TokenError, TokenVerifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pool = PoolConfig("us-east-1_pool", "client-1")
    now = 1_800_000_000.0

    def sign(claims: dict[str, Any], with_key: Any = key, alg: str = "RS256") -> str:
        head = _b64(json.dumps({"alg": alg, "kid": "k1"}).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = with_key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
        return head + "." + _b64(sig)

    verifier = TokenVerifier("http://unused", pool, clock=lambda: now)
    verifier._keys["k1"] = key.public_key()
    good = {
        "iss": pool.issuer,
        "aud": "client-1",
        "token_use": "id",
        "exp": now + 60,
        "cognito:username": "u",
    }
    assert verifier.verify(sign(good))["cognito:username"] == "u"
    for bad in (
        sign(good, with_key=other),
        sign({**good, "iss": "https://cognito-idp.us-east-1.amazonaws.com/another"}),
        sign({**good, "aud": "client-2"}),
        sign({**good, "token_use": "access"}),
        sign({**good, "exp": now - 3600}),
        sign(good, alg="HS256"),
        "a.b",
        "!!.!!.!!",
    ):
        with pytest.raises(TokenError):
            verifier.verify(bad)
