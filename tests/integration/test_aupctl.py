"""End to end: ``aupctl`` against a moto server on a free port, as a user runs it (console script).

One ``local up`` is shared by the module (the template plus test doubles: see ``test_template``);
the last test takes it down and checks no process is left. The AWS CLI is not installed in the
venv: uploads go through boto3 against the endpoint, which is the same HTTP API ``aws s3 cp`` uses.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from aupctl import state
from aupctl.runner import function_specs
from aupctl.stack import load_template
from tests import aupctl_process
from tests.aupctl_process import aupctl

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]
DOUBLES = ROOT / "tests" / "fixtures" / "local_doubles"
CONTRACT_OUTPUTS = {
    "UploadsBucketName",
    "QuarantineBucketName",
    "LedgerTableName",
    "AdminApiUrl",
    "ServiceApiUrl",
    "NotificationsTopicArn",
    "AccessLogGroupName",
}
SPECS = function_specs(load_template())
SCANNER_IS_PLACEHOLDER = SPECS["UploadScannerFunction"].is_placeholder


def test_template(folder: Path) -> Path:
    """template.yaml plus two doubles (EMF emitter, raiser); the scanner's double while it is a stub."""
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    doubles = "".join(
        f"""
  {name}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {DOUBLES}/
      Handler: app.{handler}
"""
        for name, handler in (("AupctlEmitFunction", "emit"), ("AupctlExplodeFunction", "explode"))
    )
    text = text.replace("\nOutputs:", doubles + "\nOutputs:", 1)
    if SCANNER_IS_PLACEHOLDER:
        old = "CodeUri: functions/upload_scanner/\n      Handler: app.lambda_handler"
        assert old in text
        text = text.replace(old, f"CodeUri: {DOUBLES}/\n      Handler: app.scan")
    path = folder / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


test_template.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    return aupctl_process.cli_env(tmp_path_factory.mktemp("aupctl-state"))


@pytest.fixture(scope="module")
def local_stack(cli_env, tmp_path_factory):
    port = state.free_port()
    template = test_template(tmp_path_factory.mktemp("template"))
    started = aupctl("local", "up", "--port", str(port), "--template", str(template), env=cli_env)
    assert started.returncode == 0, started.stderr
    yield port, started
    aupctl("local", "down", "--port", str(port), env=cli_env)


def client(port: int, service: str):
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(service, endpoint_url=f"http://127.0.0.1:{port}")


@pytest.fixture
def inline(cli_env, monkeypatch, capsys):
    """``aupctl`` in this process (the checks that start no handler: no interpreter start-up to pay)."""
    from aupctl.cli import main

    monkeypatch.setenv("AUPCTL_STATE_DIR", cli_env["AUPCTL_STATE_DIR"])

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aupctl: ") and needle in lines[0], lines[0]


# ------------------------------------------------------------------------------------------ the stack


def test_up_deploys_the_stack_and_its_outputs_are_readable(local_stack):
    port, started = local_stack
    assert f"http://127.0.0.1:{port}" in started.stdout
    stack = client(port, "cloudformation").describe_stacks(StackName="aup-enforcer")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs.keys() >= CONTRACT_OUTPUTS
    client(port, "s3").head_bucket(Bucket=outputs["UploadsBucketName"])
    ttl = client(port, "dynamodb").describe_time_to_live(TableName=outputs["LedgerTableName"])
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_second_up_on_the_same_port_says_already_running(local_stack, cli_env):
    port, _ = local_stack
    again = aupctl("local", "up", "--port", str(port), env=cli_env)
    assert again.returncode == 0
    assert "already running" in again.stdout


def test_status_shows_the_running_stack(local_stack, cli_env):
    port, _ = local_stack
    status = aupctl("local", "status", "--port", str(port), env=cli_env)
    assert status.returncode == 0
    assert status.stdout.startswith(f"port {port}: ready")


def test_up_on_a_port_taken_by_another_program_is_a_one_line_error(cli_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        one_line_error(aupctl("local", "up", "--port", str(taken), env=cli_env), "in use")


# ------------------------------------------------------------------------------------------ admin


def test_admin_commands_go_through_the_admin_api(local_stack, cli_env):
    port, _ = local_stack
    created = aupctl(
        "accounts", "create", "aupctl-e2e", "--plan", "business", "--port", str(port), "--json", env=cli_env
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["account_id"] == "aupctl-e2e" and body["plan"] == "business" and body["api_key"]
    suspended = aupctl(
        "accounts", "suspend", "aupctl-e2e", "--reason", "e2e check", "--port", str(port), env=cli_env
    )
    assert suspended.returncode == 0, suspended.stderr
    assert "suspended" in suspended.stdout and "e2e check" in suspended.stdout
    shown = json.loads(
        aupctl("accounts", "show", "aupctl-e2e", "--json", "--port", str(port), env=cli_env).stdout
    )
    assert shown["status"] == "suspended"
    assert shown["suspension"]["decided_by"].startswith("arn:aws:iam::123456789012:user/")
    assert "api_key" not in shown
    listed = aupctl("accounts", "list", "--port", str(port), env=cli_env)
    assert "aupctl-e2e" in listed.stdout and "business" in listed.stdout


def test_admin_error_is_a_one_line_error(local_stack, cli_env):
    port, _ = local_stack
    one_line_error(aupctl("accounts", "show", "no-such-account", "--port", str(port), env=cli_env), "404")


# ------------------------------------------------------------------------------------------ uploads


def test_an_upload_is_scanned_through_the_dispatcher(local_stack):
    port, _ = local_stack
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in client(port, "cloudformation").describe_stacks(StackName="aup-enforcer")["Stacks"][0][
            "Outputs"
        ]
    }
    s3 = client(port, "s3")
    bucket, key = outputs["UploadsBucketName"], "accounts/aupctl-e2e/report 1.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello, plain text\n")
    deadline = time.monotonic() + 30
    tags: dict[str, str] = {}
    while time.monotonic() < deadline:
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        if tags:
            break
        time.sleep(0.2)
    if SCANNER_IS_PLACEHOLDER:
        assert tags == {"aupctl-test": "scanned"}
    else:
        assert tags.get("aup-verdict"), tags


# ------------------------------------------------------------------------------------------ invoke


def test_invoke_prints_exactly_the_result_and_publishes_emf(local_stack, cli_env):
    port, _ = local_stack
    result = aupctl(
        "invoke",
        "AupctlEmitFunction",
        "--event",
        "-",
        "--port",
        str(port),
        env=cli_env,
        stdin='{"account": "emf-acct"}',
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # exactly one JSON document
    assert answer["echo"] == {"account": "emf-acct"} and answer["remaining_ms_positive"] is True
    assert answer["function"].startswith("aup-enforcer-AupctlEmitFunction")
    assert "a plain line the handler prints" in result.stderr
    metrics = client(port, "cloudwatch").list_metrics(
        Namespace="AUP/Usage",
        MetricName="EgressBytes",
        Dimensions=[{"Name": "AccountId", "Value": "emf-acct"}],
    )["Metrics"]
    assert len(metrics) == 1


def test_invoke_a_raising_handler_exits_non_zero_with_the_error(local_stack, cli_env, tmp_path):
    port, _ = local_stack
    event = tmp_path / "e.json"
    event.write_text("{}")
    result = aupctl(
        "invoke", "AupctlExplodeFunction", "--event", str(event), "--port", str(port), env=cli_env
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "aupctl: AupctlExplodeFunction raised RuntimeError: the double exploded on purpose"
    )


SAMPLES = sorted(
    p
    for p in (ROOT / "events").glob("*/*.json")
    if p.parent.name in SPECS and not SPECS[p.parent.name].is_placeholder
)


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{p.parent.name}/{p.stem}" for p in SAMPLES])
def test_invoke_every_sample_event_of_an_existing_function(local_stack, cli_env, sample):
    port, _ = local_stack
    result = aupctl("invoke", sample.parent.name, "--event", str(sample), "--port", str(port), env=cli_env)
    assert result.returncode == 0, result.stderr[-2000:]
    json.loads(result.stdout)


# ------------------------------------------------------------------------------------------ bad usage


def test_invoke_unknown_function(cli_env):
    one_line_error(
        aupctl("invoke", "NoSuchFunction", "--event", "-", env=cli_env, stdin="{}"),
        "unknown function 'NoSuchFunction'",
    )


def test_invoke_missing_event_file(inline, tmp_path):
    one_line_error(
        inline("invoke", "AuthorizerFunction", "--event", str(tmp_path / "nope.json")), "does not exist"
    )


def test_invoke_invalid_json_event(inline, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    one_line_error(inline("invoke", "AuthorizerFunction", "--event", str(bad)), "not valid JSON")
    one_line_error(inline("invoke", "AuthorizerFunction", "--event", "-", stdin=""), "not valid JSON")


def test_invoke_at_an_unreadable_instant_is_a_one_line_error(inline):
    sample = str(ROOT / "events" / "UsageMonitorFunction" / "scheduled.json")
    one_line_error(
        inline("invoke", "UsageMonitorFunction", "--event", sample, "--at", "yesterday"),
        "expected 'now' or an ISO-8601 time",
    )


def test_invoke_at_now_makes_a_dated_sample_happen_now(local_stack, cli_env, tmp_path):
    """The alarm sample of 2026-11-27, invoked with ``--at now``: a suspension in force, a key denied."""
    from tests.eventlib import authorizer_event

    port = str(local_stack[0])
    key = "at-now-key-000000000001"
    created = aupctl(
        "accounts", "create", "at-now-co", "--plan", "free", "--api-key", key, "--port", port, env=cli_env
    )
    assert created.returncode == 0, created.stderr
    alarm = json.loads(
        (ROOT / "events" / "UsageMonitorFunction" / "alarm-state-change-alarm.json").read_text()
    )
    alarm["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["AccountId"] = (
        "at-now-co"
    )
    sample = tmp_path / "alarm.json"  # the sample, for an account of its own (the samples test used acme-hog)
    sample.write_text(json.dumps(alarm))
    result = aupctl(
        "invoke", "UsageMonitorFunction", "--event", str(sample), "--at", "now", "--port", port, env=cli_env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["decisions"] == {"suspend_temporary": 1}
    assert "aupctl: --at: 3 time(s) moved by +" in result.stderr
    request = tmp_path / "request.json"
    request.write_text(json.dumps(authorizer_event(key)))
    answer = aupctl("invoke", "AuthorizerFunction", "--event", str(request), "--port", port, env=cli_env)
    assert json.loads(answer.stdout)["policyDocument"]["Statement"][0]["Effect"] == "Deny", answer.stderr


def test_invoke_and_admin_commands_without_a_running_stack(inline):
    port = str(state.free_port())
    needle = f"no local stack on port {port}"
    one_line_error(inline("invoke", "AuthorizerFunction", "--event", "-", "--port", port, stdin="{}"), needle)
    one_line_error(inline("accounts", "list", "--port", port), needle)
    one_line_error(inline("reviews", "list", "--port", port), needle)


# ------------------------------------------------------------------------------------------ replay

try:
    from aup.usecases import replay as _backtest  # noqa: F401

    HAS_ANALYZER = True
except ImportError:
    HAS_ANALYZER = False
needs_analyzer = pytest.mark.skipif(
    not HAS_ANALYZER, reason="the log analyzer (aup.usecases.replay) has not landed"
)


def probe_log(path: Path, account: str, days_ago: int = 0) -> Path:
    """An access log of the last complete 5-minute window (``days_ago`` earlier): an honest client,
    then ``account`` scanning with sqlmap. One window, so the counts never straddle a boundary."""
    from aupctl.demo import BROWSER_UA, PROBES
    from aupctl.events import access_line

    window = 300_000
    start = (int(time.time() * 1000) // window - 1) * window - days_ago * 86_400_000
    honest = {"ip": "198.51.100.20", "agent": BROWSER_UA, "resource": "/items/{id}", "status": 200}
    probe = {"ip": "203.0.113.66", "agent": "sqlmap/1.8.4", "resource": "-", "status": 404}
    lines = [access_line(start + i * 3000, path=f"/items/{i % 13}", account="replay-honest", **honest)
             for i in range(40)]  # fmt: skip
    lines += [access_line(start + 120_000 + i * 1000, path=PROBES[i % len(PROBES)], account=account, **probe)
              for i in range(60)]  # fmt: skip
    path.write_text("\n".join([*lines, "not a log line"]) + "\n")
    return path


@needs_analyzer
def test_replay_dry_run_without_a_stack_says_what_would_be_decided(cli_env, tmp_path):
    log = probe_log(tmp_path / "access.log", "replay-probe", days_ago=7)
    result = aupctl(
        "replay", "--logs", str(log), "--dry-run", "--json", "--port", str(state.free_port()), env=cli_env
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lines"] == 101 and report["unparseable"] == 1 and report["applied"] is False
    [account] = report["accounts"]
    assert account["account_id"] == "replay-probe" and account["status_after"] == "suspended"
    assert {d["clause"] for d in account["decisions"]} == {"D1"}


@needs_analyzer
def test_replay_applies_to_the_stack_ledger_and_dry_run_changes_nothing(local_stack, cli_env, tmp_path):
    port, _ = local_stack
    created = aupctl(
        "accounts", "create", "replay-probe", "--plan", "standard", "--port", str(port), env=cli_env
    )
    assert created.returncode == 0, created.stderr
    log = probe_log(tmp_path / "access.log", "replay-probe")
    dry = aupctl("replay", "--logs", str(log), "--dry-run", "--port", str(port), env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "account replay-probe (plan standard): active -> suspended" in dry.stdout
    assert "dry run: nothing written" in dry.stdout
    applied = aupctl("replay", "--logs", str(log), "--port", str(port), env=cli_env)
    assert applied.returncode == 0, applied.stderr
    # "active" before the real run: the dry run wrote nothing.
    assert "account replay-probe (plan standard): active -> suspended" in applied.stdout
    shown = json.loads(
        aupctl("accounts", "show", "replay-probe", "--json", "--port", str(port), env=cli_env).stdout
    )
    assert shown["status"] == "suspended" and shown["suspension"]["clause"] == "D1"


def test_replay_without_dry_run_needs_a_stack(inline, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("{}\n")
    one_line_error(inline("replay", "--logs", str(log), "--port", str(state.free_port())), "--dry-run")
    one_line_error(inline("replay", "--logs", str(tmp_path / "none.log"), "--dry-run"), "does not exist")


# ------------------------------------------------------------------------------------------ down (last)


def test_down_leaves_no_process_behind(local_stack, cli_env):
    port, _ = local_stack
    pid = json.loads((Path(cli_env["AUPCTL_STATE_DIR"]) / f"local-{port}.json").read_text())["pid"]
    assert state.pid_alive(pid)
    down = aupctl("local", "down", "--port", str(port), env=cli_env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not state.pid_alive(pid)
    assert (
        not Path(f"/proc/{pid}").exists()
        or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    )
    assert state.port_free(port)
    status = aupctl("local", "status", "--port", str(port), env=cli_env)
    assert status.returncode == 3 and "no local stack" in status.stdout
