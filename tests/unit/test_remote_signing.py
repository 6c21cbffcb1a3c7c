"""``aupctl ... --stack NAME``: the admin API's URL from the stack's outputs, every request SigV4-signed.

A local HTTP endpoint stands in for API Gateway's ``AWS_IAM`` authorizer: it recomputes the signature
with botocore's SigV4Auth over the request it received (the headers the client says it signed, the
method, path, query and body) and the same fake credentials, and answers 403 unless the Authorization
header is exactly that. describe_stacks is moto's, with a stack whose ``AdminApiUrl`` points there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

KEY_ID, SECRET, TOKEN = "AKIDEXAMPLEOPS000001", "ops-secret-key-for-tests-only-000000000", "ops-session-token"
REGION = "eu-west-1"
STAGE = "/prod"
ACCOUNT = {
    "account_id": "acme-corp",
    "plan": "standard",
    "status": "active",
    "suspension": None,
    "strikes": 0,
    "allowlisted": False,
    "dry_run": False,
    "version": 1,
    "registered": True,
}


def expected_authorization(method: str, url: str, headers: dict[str, str], body: bytes) -> str | None:
    """The Authorization header botocore's SigV4Auth gives this request with the fake credentials, over
    the headers named in the received header's SignedHeaders, at its X-Amz-Date."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    received = headers.get("authorization", "")
    if "SignedHeaders=" not in received or "x-amz-date" not in headers:
        return None
    signed = received.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(
        method=method, url=url, data=body or None, headers={h: headers[h] for h in signed if h in headers}
    )
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(KEY_ID, SECRET, TOKEN), "execute-api", REGION)
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return (
        f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
    )


class Endpoint(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = f"http://{headers['host']}{self.path}"
        expected = expected_authorization(self.command, url, headers, body)
        ok = expected is not None and headers.get("authorization") == expected
        self.seen.append({"method": self.command, "path": self.path, "signed": ok, "headers": headers})
        if not ok:
            self._send(403, {"message": "The request signature we calculated does not match"})
        elif self.path == f"{STAGE}/accounts/acme-corp":
            self._send(200, ACCOUNT)
        elif self.path.startswith(f"{STAGE}/accounts/acme-corp/violations"):
            self._send(200, {"items": [], "next_token": None})
        elif self.path.split("?")[0] == f"{STAGE}/accounts":  # two pages: acme-corp, then beta-co
            second = "next_token=page-2" in self.path
            item = {**ACCOUNT, "account_id": "beta-co", "status": "suspended"} if second else ACCOUNT
            self._send(200, {"items": [item], "next_token": None if second else "page-2"})
        else:
            self._send(404, {"error": "no such route"})

    do_GET = do_POST = do_PUT = _handle

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    Endpoint.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{STAGE}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def deployed(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A profile ``ops`` with the fake credentials, and moto holding stack ``aup-prod`` in eu-west-1."""
    import boto3
    from moto import mock_aws

    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[ops]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
        "[wrong]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = not-the-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"AdminApiUrl": {"Value": endpoint}, "Other": {"Value": "x"}},
    }
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName="aup-prod", TemplateBody=json.dumps(template))
        yield endpoint


def test_accounts_show_against_a_stack_signs_every_request(deployed: str, capsys) -> None:
    from aupctl.cli import main

    argv = ["accounts", "show", "acme-corp", "--stack", "aup-prod", "--region", REGION, "--profile", "ops"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "acme-corp" in out and "standard" in out
    assert [(s["method"], s["path"], s["signed"]) for s in Endpoint.seen] == [
        ("GET", f"{STAGE}/accounts/acme-corp", True),
        ("GET", f"{STAGE}/accounts/acme-corp/violations", True),
    ]
    headers = Endpoint.seen[0]["headers"]
    assert headers["x-amz-security-token"] == TOKEN
    assert (
        f"Credential={KEY_ID}/" in headers["authorization"]
        and f"/{REGION}/execute-api/" in headers["authorization"]
    )


def test_query_parameters_are_signed_too(deployed: str) -> None:
    from aupctl.cli import main

    argv = ["accounts", "violations", "acme-corp", "--rule", "D1-error-burst", "--clause", "D1"]
    assert main([*argv, "--stack", "aup-prod", "--region", REGION, "--profile", "ops", "--json"]) == 0
    (seen,) = Endpoint.seen
    assert (
        seen["signed"]
        and seen["path"] == f"{STAGE}/accounts/acme-corp/violations?clause=D1&rule=D1-error-burst"
    )


def test_a_wrong_secret_is_refused_by_the_verifier(deployed: str, capsys) -> None:
    from aupctl.cli import main

    argv = ["accounts", "show", "acme-corp", "--stack", "aup-prod", "--region", REGION, "--profile", "wrong"]
    assert main(argv) == 1
    assert "403" in capsys.readouterr().err
    assert [s["signed"] for s in Endpoint.seen] == [False]


def test_an_unknown_stack_or_a_stack_without_the_output_is_one_line(deployed: str, capsys) -> None:
    import boto3

    from aupctl.cli import main

    base = ["accounts", "list", "--region", REGION, "--profile", "ops"]
    assert main([*base, "--stack", "no-such-stack"]) == 1
    assert "cannot describe stack no-such-stack" in capsys.readouterr().err
    other = {"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="other", TemplateBody=json.dumps(other)
    )
    assert main([*base, "--stack", "other"]) == 1
    assert "has no AdminApiUrl output" in capsys.readouterr().err
    assert main(["accounts", "list", "--region", REGION]) == 2  # --region without --stack
    assert not Endpoint.seen


def test_accounts_list_filters_against_a_stack_are_signed_query_parameters(deployed: str, capsys) -> None:
    from aupctl.cli import main

    flags = ["--status", "suspended", "--plan", "free", "--not-allowlisted", "--pending-reviews"]
    argv = ["accounts", "list", *flags, "--search", "co", "--stack", "aup-prod", "--region", REGION]
    assert main([*argv, "--profile", "ops", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [a["account_id"] for a in body["items"]] == ["acme-corp", "beta-co"]  # both pages
    query = "allowlisted=false&pending_reviews=true&plan=free&q=co&status=suspended"
    assert [(s["path"], s["signed"]) for s in Endpoint.seen] == [
        (f"{STAGE}/accounts?{query}", True),
        (f"{STAGE}/accounts?{query.replace('&pending', '&next_token=page-2&pending')}", True),
    ]


def _archive(s3: Any, bucket: str, objects: dict[str, bytes]) -> None:
    import gzip

    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body))


@pytest.fixture
def archive(deployed: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The stack's access-log archive (objects written out of key order, one outside the prefix); the
    returned list records the S3 sessions built for --stack and every object read, in order."""
    import boto3

    from aupctl import remote, replay
    from tests.unit.logs import traffic as T

    lines = [T.line(T.T0 + i * 1000, account="arch-co", path=f"/v1/items/{i}").text for i in range(6)]
    s3 = boto3.Session(profile_name="ops", region_name=REGION).client("s3")
    _archive(
        s3,
        "aup-prod-archive",
        {
            "access-logs/2026/11/27/17/b.gz": ("\n".join(lines[3:]) + "\n").encode(),
            "access-logs/2026/11/27/16/a.gz": "".join(lines[:3]).encode(),  # Firehose: no delimiter
            "other/c.gz": b"not an access line\n",
        },
    )
    seen: list[tuple[Any, ...]] = []
    archive_s3, archive_lines = remote.archive_s3, replay._archive_lines

    def session_spy(stack: str, region: str | None, profile: str | None) -> Any:
        seen.append(("session", stack, region, profile))
        return archive_s3(stack, region, profile)

    def read_spy(data: bytes, name: str) -> list[str]:
        seen.append(("read", name))
        return archive_lines(data, name)

    monkeypatch.setattr(remote, "archive_s3", session_spy)
    monkeypatch.setattr(replay, "_archive_lines", read_spy)
    return seen


def test_replay_reads_an_s3_archive_with_the_stacks_session_in_key_order(archive, capsys) -> None:
    from aupctl import state
    from aupctl.cli import main

    logs = ["replay", "--logs", "s3://aup-prod-archive/access-logs/", "--dry-run", "--json"]
    remote = ["--stack", "aup-prod", "--region", REGION, "--profile", "ops"]
    assert main([*logs, *remote, "--port", str(state.free_port())]) == 0  # no local stack there
    report = json.loads(capsys.readouterr().out)
    assert report["lines"] == 6 and report["unparseable"] == 0 and report["applied"] is False
    assert archive == [
        ("session", "aup-prod", REGION, "ops"),
        ("read", "s3://aup-prod-archive/access-logs/2026/11/27/16/a.gz"),
        ("read", "s3://aup-prod-archive/access-logs/2026/11/27/17/b.gz"),
    ]


def test_archive_options_are_checked(archive, capsys) -> None:
    from aupctl.cli import main

    logs = ["replay", "--logs", "s3://aup-prod-archive/access-logs/", "--dry-run"]
    assert main([*logs, "--stack", "no-such-stack", "--region", REGION, "--profile", "ops"]) == 1
    assert "cannot describe stack no-such-stack" in capsys.readouterr().err  # found before any read
    assert main([*logs, "--stack", "aup-prod", "--region", "us-west-2", "--profile", "ops"]) == 1
    assert "cannot describe stack aup-prod" in capsys.readouterr().err  # the wrong region
    assert main(["replay", "--logs", "access.log", "--stack", "aup-prod"]) == 2
    assert "--stack reads an s3:// --logs archive" in capsys.readouterr().err
    assert main([*logs, "--region", REGION]) == 2
    assert "--region and --profile go with --stack" in capsys.readouterr().err
    diff = ["policy", "diff", "--candidate", "candidate.yaml", "--stack", "aup-prod"]
    assert main(diff) == 2  # --stack without --logs
    assert "--stack reads an s3:// --logs archive" in capsys.readouterr().err
    assert [a for a in archive if a[0] == "read"] == []


def test_policy_diff_reads_the_archive_through_the_stacks_session(
    archive, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """policy diff --logs s3://... --stack: the s3 factory it is given is the stack's (the recorded
    half needs a local stack: replaced here by a stub that reads the logs as the real one does)."""
    from aupctl import policy
    from aupctl.cli import main
    from aupctl.replay import read_log_lines

    got: dict[str, Any] = {}

    def recorded_diff(candidate: Any, *, logs: Any, s3: Any, **_: Any) -> dict[str, Any]:
        got["lines"] = read_log_lines(logs, s3=s3)
        return {"recorded": True, "accounts": [], "summary": "stub"}

    monkeypatch.setattr(policy, "recorded_diff", recorded_diff)
    monkeypatch.setattr(policy.state, "endpoint_answers", lambda port: True)
    monkeypatch.setattr(policy, "print_report", lambda report: None)
    from aup.policy.loader import default_policy_text

    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(default_policy_text(), encoding="utf-8")
    argv = ["policy", "diff", "--candidate", str(candidate), "--logs", "s3://aup-prod-archive/access-logs/"]
    assert main([*argv, "--stack", "aup-prod", "--region", REGION, "--profile", "ops"]) == 0
    assert len(got["lines"]) == 6
    assert [a[0] for a in archive] == ["session", "read", "read"]
    assert archive[1][1].endswith("/16/a.gz") and archive[2][1].endswith("/17/b.gz")
