"""``aupctl console`` against ``aupctl local up`` (a moto server on a free port): the local user pool,
tokens for ``--as``, their verification, and the loopback server mapping HTTP onto the admin function
with the verified claims (roles, the audit's actor, the CSRF rule), over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from aupctl import state
from tests import aupctl_process
from tests.aupctl_process import aupctl

pytestmark = [pytest.mark.slow, pytest.mark.server]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return aupctl_process.cli_env(tmp_path_factory.mktemp("aupctl-state"))


@pytest.fixture(scope="module")
def local_port(cli_env: dict[str, str]) -> Any:
    port = state.free_port()
    started = aupctl("local", "up", "--port", str(port), "--no-dispatcher", env=cli_env)
    assert started.returncode == 0, started.stderr
    yield port
    aupctl("local", "down", "--port", str(port), env=cli_env)


@pytest.fixture(scope="module")
def server(local_port: int, cli_env: dict[str, str]) -> Any:
    from aupctl import console

    saved = os.environ.get("AUPCTL_STATE_DIR")
    os.environ["AUPCTL_STATE_DIR"] = cli_env["AUPCTL_STATE_DIR"]
    try:
        srv = console.serve(local_port)
    finally:
        if saved is None:
            os.environ.pop("AUPCTL_STATE_DIR", None)
        else:
            os.environ["AUPCTL_STATE_DIR"] = saved
    with srv:
        yield srv


def call(
    server: Any, method: str, path: str, token: str | None = None, body: Any = None, **headers: str
) -> tuple[int, Any, dict[str, str]]:
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        h["Content-Type"] = "application/json"
    request = urllib.request.Request(server.base_url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            status, raw, got = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        status, raw, got = err.code, err.read(), dict(err.headers)
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode()
    return status, parsed, got


@pytest.fixture(scope="module")
def account(server: Any) -> str:
    status, body, _ = call(
        server,
        "POST",
        "/accounts",
        server.token("admin"),
        {"account_id": "acme-corp", "plan": "free"},
        X_AUP_Console="1",
    )
    assert status == 201, body
    return "acme-corp"


def test_a_viewer_reads_and_cannot_suspend(server: Any, account: str) -> None:
    token = server.token("viewer")
    status, body, headers = call(server, "GET", "/accounts", token)
    assert status == 200 and account in [a["account_id"] for a in body["items"]]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert f"connect-src 'self' {server.base_url}/cognito-idp" in headers["Content-Security-Policy"]
    status, body, _ = call(
        server, "POST", f"/accounts/{account}/suspend", token, {"reason": "x"}, X_AUP_Console="1"
    )
    assert status == 403 and body == {"error": "forbidden", "role": "viewer", "required": "operator"}
    status, who, _ = call(server, "GET", "/whoami", token)
    assert who == {"actor": "cognito:local-viewer", "role": "viewer", "kind": "cognito"}


def test_an_operator_suspends_and_the_audit_names_the_person(server: Any, account: str) -> None:
    token = server.token("operator")
    status, body, _ = call(
        server,
        "POST",
        f"/accounts/{account}/suspend",
        token,
        {"reason": "abuse report"},
        X_AUP_Console="1",
        Origin=server.base_url,
    )
    assert status == 200 and body["status"] == "suspended", body
    status, audit, _ = call(server, "GET", f"/accounts/{account}/audit", token)
    assert (
        audit["items"][-1]["action"] == "suspend" and audit["items"][-1]["actor"] == "cognito:local-operator"
    )
    status, body, _ = call(
        server, "POST", f"/accounts/{account}/reinstate", token, {"reason": "appeal"}, X_AUP_Console="1"
    )
    assert status == 200 and body["status"] == "active"


def _forged(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["admin"]
    raised = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{raised}.{signature}"


def test_a_forged_or_missing_token_is_401(server: Any, account: str) -> None:
    viewer = server.token("viewer")
    for token in (
        _forged(viewer),
        viewer[:-4] + ("AAAA" if not viewer.endswith("AAAA") else "BBBB"),
        "junk",
        None,
    ):
        status, body, _ = call(server, "GET", "/accounts", token)
        assert status == 401 and body == {"error": "unauthenticated"}, token
    status, body, _ = call(
        server, "POST", f"/accounts/{account}/suspend", _forged(viewer), {"reason": "x"}, X_AUP_Console="1"
    )
    assert status == 401


def test_a_token_of_another_client_is_401(server: Any) -> None:
    idp = server.local.client("cognito-idp")
    other = idp.create_user_pool_client(UserPoolId=server.pool.pool_id, ClientName="other")["UserPoolClient"]
    from aupctl.console import ensure_user

    username, password = ensure_user(server.local, server.pool, "viewer")
    token = idp.admin_initiate_auth(
        UserPoolId=server.pool.pool_id,
        ClientId=other["ClientId"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )["AuthenticationResult"]["IdToken"]
    status, _, _ = call(server, "GET", "/accounts", token)
    assert status == 401


def test_cross_site_state_changes_are_refused(server: Any, account: str) -> None:
    token = server.token("operator")
    status, body, _ = call(
        server,
        "POST",
        f"/accounts/{account}/suspend",
        token,
        {"reason": "x"},
        X_AUP_Console="1",
        Origin="http://evil.example",
    )
    assert status == 403 and body["error"] == "cross-origin request refused"
    status, body, _ = call(server, "POST", f"/accounts/{account}/suspend", token, {"reason": "x"})
    assert status == 403 and "X-AUP-Console" in body["error"]
    status, body, _ = call(server, "GET", f"/accounts/{account}", token)
    assert body["status"] == "active"


def test_static_files_config_and_the_sign_in_proxy(server: Any) -> None:
    status, _page, headers = call(server, "GET", "/console/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["X-Frame-Options"] == "DENY"
    status, config, _ = call(server, "GET", "/console/config.json")
    assert config["local"] is True and config["apiBase"] == ""
    assert config["cognito"]["endpoint"] == server.base_url + "/cognito-idp/"
    assert config["cognito"]["userPoolId"] == server.pool.pool_id
    from aupctl.console import ensure_user

    username, password = ensure_user(server.local, server.pool, "operator")
    body = {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": config["cognito"]["clientId"],
        "AuthParameters": {"USERNAME": username, "PASSWORD": password},
    }
    request = urllib.request.Request(
        config["cognito"]["endpoint"],
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        token = json.loads(resp.read())["AuthenticationResult"]["IdToken"]
    status, who, _ = call(server, "GET", "/whoami", token)
    assert who["actor"] == "cognito:local-operator" and who["role"] == "operator"
    status, _, _ = call(
        server, "POST", "/cognito-idp/", None, {}, X_Amz_Target="AWSCognitoIdentityProviderService.ListUsers"
    )
    assert status == 403  # only sign-in calls reach the pool


def test_login_url_carries_the_token_in_the_fragment(server: Any) -> None:
    url = server.login_url("admin")
    assert url.startswith(server.base_url + "/console/#token=")
    _status, who, _ = call(server, "GET", "/whoami", url.split("#token=", 1)[1])
    assert who["role"] == "admin"


def test_the_command_prints_a_signed_in_url_and_refuses_as_with_a_stack(
    local_port: int, cli_env: dict[str, str]
) -> None:
    refused = aupctl("console", "--as", "operator", "--stack", "aup-prod", env=cli_env)
    assert refused.returncode == 2 and "local stack only" in refused.stderr and refused.stdout == ""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aupctl.cli",
            "console",
            "--port",
            str(local_port),
            "--as",
            "viewer",
            "--no-open",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for _ in range(5):
            line = proc.stdout.readline()
            if "#token=" in line:
                url = line.rsplit(" ", 1)[-1].strip()
                break
        assert url.startswith("http://127.0.0.1:") and "/console/#token=" in url
        base, token = url.split("/console/#token=")
        request = urllib.request.Request(base + "/whoami", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert json.loads(resp.read())["actor"] == "cognito:local-viewer"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
