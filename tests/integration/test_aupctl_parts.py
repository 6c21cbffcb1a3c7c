"""Fast checks of aupctl's parts with fakes (no server): the dispatcher's batch semantics, EMF
publishing, the admin API event and response plumbing, process bookkeeping."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from aupctl import admin, emf, state
from aupctl.dispatcher import UploadsDispatcher
from aupctl.runner import Invocation, StdoutTee


class FakeSqs:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.deleted: list[str] = []

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:uploads"}}

    def receive_message(self, **kw: Any) -> dict[str, Any]:
        assert kw["WaitTimeSeconds"] > 0  # long polling
        batch, self.messages = (
            self.messages[: kw["MaxNumberOfMessages"]],
            self.messages[kw["MaxNumberOfMessages"] :],
        )
        return {"Messages": batch}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        self.deleted += [e["ReceiptHandle"] for e in Entries]


class FakeRunner:
    def __init__(self, sqs: FakeSqs, answer: Any) -> None:
        template = {
            "Resources": {
                "UploadScannerFunction": {
                    "Properties": {"Events": {"Uploads": {"Type": "SQS", "Properties": {"BatchSize": 3}}}}
                }
            }
        }
        self.local = SimpleNamespace(
            client=lambda _: sqs,
            resources={"UploadsQueue": "http://q"},
            template=template,
            session=SimpleNamespace(region_name="us-east-1"),
        )
        self.answer = answer
        self.events: list[Any] = []

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        assert logical_id == "UploadScannerFunction"
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return Invocation(result=self.answer(event) if callable(self.answer) else self.answer)


def messages(n: int) -> list[dict[str, Any]]:
    return [
        {
            "MessageId": f"m{i}",
            "ReceiptHandle": f"r{i}",
            "Body": json.dumps({"Records": []}),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
            "MD5OfBody": "x",
        }
        for i in range(n)
    ]


def test_dispatcher_deletes_all_but_the_reported_failures_in_lambda_batches():
    sqs = FakeSqs(messages(5))
    runner = FakeRunner(
        sqs, lambda e: {"batchItemFailures": [{"itemIdentifier": e["Records"][0]["messageId"]}]}
    )
    dispatcher = UploadsDispatcher(runner, wait_seconds=1)  # type: ignore[arg-type]
    assert dispatcher.poll_once() == 3  # the template's BatchSize
    assert dispatcher.poll_once() == 2
    assert dispatcher.poll_once() == 0
    assert sqs.deleted == ["r1", "r2", "r4"]  # m0 and m3 were reported: they stay for a retry
    record = runner.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["receiptHandle"] == "r0"
    assert (
        record["eventSourceARN"].endswith(":uploads")
        and record["attributes"]["ApproximateReceiveCount"] == "1"
    )


def test_a_raising_scanner_fails_the_whole_batch():
    sqs = FakeSqs(messages(2))
    dispatcher = UploadsDispatcher(FakeRunner(sqs, RuntimeError("boom")), wait_seconds=1)  # type: ignore[arg-type]
    assert dispatcher.poll_once() == 2
    assert sqs.deleted == []


def test_emf_lines_become_metric_data_and_other_lines_are_ignored():
    doc = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "AUP/Usage",
                    "Dimensions": [["AccountId"]],
                    "Metrics": [
                        {"Name": "RequestCount", "Unit": "Count"},
                        {"Name": "EgressBytes", "Unit": "Bytes"},
                    ],
                }
            ],
        },
        "AccountId": "acme",
        "RequestCount": 7,
        "EgressBytes": [10, 20],
    }
    sent: list[dict[str, Any]] = []
    cw = SimpleNamespace(put_metric_data=lambda **kw: sent.append(kw))
    lines = ['{"level":"INFO","message":"hello"}', "plain text", "{broken", json.dumps(doc)]
    assert emf.publish(lines, cw) == 2
    [call] = sent
    assert call["Namespace"] == "AUP/Usage"
    by_name = {d["MetricName"]: d for d in call["MetricData"]}
    assert by_name["RequestCount"]["Value"] == 7.0 and by_name["RequestCount"]["Unit"] == "Count"
    assert by_name["EgressBytes"]["Values"] == [10.0, 20.0]
    assert by_name["RequestCount"]["Dimensions"] == [{"Name": "AccountId", "Value": "acme"}]
    assert by_name["RequestCount"]["Timestamp"].timestamp() == 1_700_000_000


def test_stdout_tee_forwards_and_keeps_lines(capsys):
    tee = StdoutTee(sys.stderr)
    tee.write("one\ntw")
    tee.write("o\n")
    tee.write("partial")
    assert tee.drain() == ["one", "two", "partial"]
    assert capsys.readouterr().err == "one\ntwo\npartial"


def test_admin_event_is_an_iam_signed_rest_proxy_event_with_path_parameters():
    runner = SimpleNamespace(
        local=SimpleNamespace(
            template={
                "Resources": {
                    "AdminApiFunction": {
                        "Properties": {
                            "Events": {
                                "Get": {
                                    "Type": "Api",
                                    "Properties": {"Path": "/accounts/{id}", "Method": "get"},
                                }
                            }
                        }
                    }
                }
            },
            resources={"AdminApi": "abc123"},
        )
    )
    seen: list[dict[str, Any]] = []

    def invoke(logical_id: str, event: dict[str, Any]) -> Invocation:
        seen.append(event)
        body = base64.b64encode(gzip.compress(b'{"account_id": "acme"}')).decode()
        return Invocation(result={"statusCode": 200, "body": body, "isBase64Encoded": True})

    runner.invoke = invoke
    response = admin.AdminClient(runner).get_account("acme")  # type: ignore[arg-type]
    assert response.ok and response.body == {"account_id": "acme"}
    [event] = seen
    assert event["resource"] == "/accounts/{id}" and event["pathParameters"] == {"id": "acme"}
    assert event["requestContext"]["identity"]["userArn"].startswith("arn:aws:iam::123456789012:user/")
    assert event["requestContext"]["apiId"] == "abc123" and event["body"] is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                "statusCode": 422,
                "body": json.dumps(
                    {
                        "error": "invalid request",
                        "errors": [{"loc": ["body", "plan"], "msg": "Field required"}],
                    }
                ),
            },
            "invalid request (body.plan: Field required)",
        ),
        ({"statusCode": 404, "body": '{"error": "no account x"}'}, "no account x"),
        ("not a proxy response", "returned no proxy response"),
    ],
)
def test_admin_errors_read_as_one_message(raw, message):
    response = admin.decode_response(raw)
    assert not response.ok and message in response.error_message()


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    import time

    deadline = time.monotonic() + 10
    while state.pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not state.pid_alive(child.pid)  # exited, not yet reaped
    child.wait()


# ------------------------------------------------------------------------------ the command line


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    from aupctl.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help_with_examples(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.startswith("aupctl, version ")
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("local", "invoke", "accounts", "reviews", "replay", "demo", "completion"):
        assert f"  {command} " in out
    assert "Examples:" in out and "aupctl local up" in out
    code, out, _ = run_cli(capsys, "invoke", "--help")
    assert code == 0 and "--event" in out and "--at now|ISO" in out and "--port" in out
    assert "Examples:" in out and "aupctl invoke AuthorizerFunction --event" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["accounts", "create", "acme-corp"], "Missing option '--plan'"),
        (["accounts", "suspend", "acme-corp"], "Missing option '--reason'"),
        (["invoke", "AuthorizerFunction"], "Missing option '--event'"),
        (["replay", "--logs", "x", "--format", "xml"], "'xml' is not one of"),
        (["local", "up", "--port", "many"], "'many' is not a valid integer"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_bad_usage_is_one_line_naming_the_problem(capsys, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("aupctl: ") and needle in line and "--help" in line


def test_every_subcommand_and_option_of_the_contract_is_there(capsys):
    expected = {
        ("local", "up"): ["--port", "--no-dispatcher"],
        ("local", "down"): ["--port"],
        ("local", "status"): ["--port"],
        ("accounts", "list"): ["--json", "--port"],
        ("accounts", "show"): ["ID", "--json", "--port"],
        ("accounts", "create"): ["ID", "--plan", "--api-key", "--json", "--port"],
        ("accounts", "suspend"): ["ID", "--reason", "--until", "--json", "--port"],
        ("accounts", "reinstate"): ["ID", "--reason", "--json", "--port"],
        ("accounts", "violations"): ["ID", "--json", "--port"],
        ("accounts", "allowlist"): ["ID", "--off", "--json", "--port"],
        ("accounts", "acts-for"): ["ID", "--any", "--none", "--reason", "--json", "--port"],
        ("reviews", "list"): ["--json", "--port"],
        ("reviews", "confirm"): ["ID", "--reason", "--json", "--port"],
        ("reviews", "dismiss"): ["ID", "--reason", "--json", "--port"],
        ("replay",): ["--logs", "--format", "--dry-run", "--json", "--port"],
        ("demo",): ["--html", "--port"],
    }
    for path, options in expected.items():
        code, out, _ = run_cli(capsys, *path, "--help")
        assert code == 0, path
        for option in options:
            assert option in out, (path, option)


def test_shell_completion_script_and_function_names(capsys, monkeypatch):
    code, out, _ = run_cli(capsys, "completion", "bash")
    assert code == 0 and "_AUPCTL_COMPLETE" in out and "complete " in out
    from aupctl.cli import _function_names

    names = _function_names(None, None, "Auth")  # type: ignore[arg-type]
    assert names == ["AuthorizerFunction"]


def test_report_escapes_every_value_and_keeps_evidence_lines():
    from aupctl.demo import DemoResult
    from aupctl.report import render

    hostile = '<script>alert("x")</script>'
    result = DemoResult(
        endpoint="http://127.0.0.1:1",
        started_at="2026-11-27T12:00:00+00:00",
        steps=[("logs", f"probe {hostile}")],
        accounts=[
            {
                "account_id": "acme-corp",
                "status": "suspended",
                "plan": "free",
                "strikes": 2,
                "suspension": {"kind": "temporary", "reason": hostile, "until": None},
            },
            {"account_id": "honest-co", "status": "active", "plan": "standard"},
        ],
        violations={
            "acme-corp": [{"clause": "D1", "severity": "high", "evidence": {"paths": ["/.env"], "count": 3}}]
        },
        authorizer=[{"account": "acme-corp", "effect": '"><b>Deny', "reason": hostile}],
        stories={"honest-co": "an honest <customer>"},
    )
    html = render(result)
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert "&lt;script&gt;" in html and "an honest &lt;customer&gt;" in html
    assert 'class="card suspended"' in html and 'class="card active"' in html
    assert '<span class="badge other">&#34;&gt;&lt;b&gt;Deny</span>' in html  # unknown class: no injection
    assert "paths: [&#34;/.env&#34;]\ncount: 3" in html  # one evidence field a line
    assert "strikes <b>2</b>" in html and "2 accounts &middot; 1 suspended &middot; 1 violations" in html


def _report_result(**extra: Any):
    from aupctl.demo import DemoResult

    series = [{"period": f"2026-11-27T12:{m:02d}:00Z", "value": 40.0 + m} for m in range(0, 60, 5)]
    return DemoResult(
        endpoint="http://127.0.0.1:1",
        started_at="2026-11-27T12:00:00+00:00",
        policy_version="2026-11-27.1",
        quarantine_bucket="quarantine-b",
        accounts=[
            {"account_id": "cpu-hog", "status": "suspended", "plan": "free", "strikes": 1},
            {"account_id": "malware-drop", "status": "suspended", "plan": "free", "strikes": 1},
        ],
        violations={
            "cpu-hog": [
                {
                    "clause": "D5",
                    "rule_id": "D5-cpu",
                    "severity": "high",
                    "policy_version": "2026-11-27.1",
                    "evidence": {"metric": "CPUSeconds", "series": series},
                }
            ],
            "malware-drop": [
                {
                    "clause": "I3",
                    "rule_id": "I3-malware-signature",
                    "source": "s3",
                    "severity": "critical",
                    "policy_version": "2026-11-27.1",
                    "evidence": {
                        "bucket": "uploads-b",
                        "key": "accounts/malware-drop/x.com",
                        "sha256": "ab" * 32,
                    },
                }
            ],
        },
        uploads=[
            {
                "account": "malware-drop",
                "bucket": "uploads-b",
                "key": "accounts/malware-drop/x.com",
                "verdict": "quarantined",
                "rules": "",
            },
            {
                "account": "honest-co",
                "bucket": "uploads-b",
                "key": "accounts/honest-co/a.txt",
                "verdict": "clean",
            },
        ],
        audit={
            "cpu-hog": [
                {
                    "at": "2026-11-27T12:55:00Z",
                    "actor": "aup-enforcer",
                    "action": "suspend_temporary",
                    "reason": "high finding <b>",
                    "from_status": "active",
                    "to_status": "suspended",
                    "policy_version": "2026-11-27.1",
                }
            ]
        },
        **extra,
    )


def test_report_shows_evidence_whole_upload_rules_quarantine_policy_and_audit():
    from aupctl.report import render

    result = _report_result()
    html = render(result)
    series = json.dumps(result.violations["cpu-hog"][0]["evidence"]["series"], separators=(", ", ": "))
    assert len(series) > 240  # the old report cut every value here
    assert series.replace('"', "&#34;") in html and "…" not in html
    # the upload's matched rules (from its violation) and where the quarantined object lies
    row = html.split("accounts/malware-drop/x.com</td>", 1)[1].split("</tr>", 1)[0]
    assert "I3-malware-signature" in row
    assert "s3://quarantine-b/uploads-b/accounts/malware-drop/x.com" in row and "ab" * 32 in row
    clean = html.split("accounts/honest-co/a.txt</td>", 1)[1].split("</tr>", 1)[0]
    assert "none" in clean and "quarantine-b" not in clean
    # policy version and audit trail (escaped)
    assert "Policy in force: <b>2026-11-27.1</b>" in html
    assert "suspend_temporary" in html and "active &rarr; suspended" in html
    assert "high finding &lt;b&gt;" in html
    # no console running: the command that opens one
    assert "<code>aupctl console --as operator</code>" in html and 'href="http' not in html


def test_report_links_each_account_to_a_running_console():
    from aupctl.report import render

    html = render(_report_result(console_url="http://127.0.0.1:8123/console/"))
    assert '<a href="http://127.0.0.1:8123/console/">' in html
    assert '<a href="http://127.0.0.1:8123/console/#/accounts/cpu-hog">cpu-hog</a>' in html
    assert "aupctl console --as" not in html
