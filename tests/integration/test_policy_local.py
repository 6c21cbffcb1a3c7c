"""End to end on aupctl's processes: ``local up --shadow-policy`` (shadow mode on the local stack, its
report and promote, through the server that enforces SSM's size limits), and ``policy diff --corpus``
(make eval's honest corpus run under a candidate, the scenarios it would wrong listed).

Times are built from the present (the engine clamps to now; aupctl's processes read the real clock)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from aup.policy.loader import default_policy_text
from aupctl.events import access_line
from tests.aupctl_process import aupctl, cli_env
from tests.eval.harness import subscription_event

pytestmark = [pytest.mark.slow, pytest.mark.server]
ROOT = Path(__file__).resolve().parents[2]


def doc(version: str) -> dict:
    d = yaml.safe_load(default_policy_text())
    d["policy_version"] = version
    return d


def write(folder: Path, name: str, document: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def runner(tmp_path: Path):
    env = cli_env(tmp_path / "state")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return aupctl(*args, env=env, timeout=300)

    return run


def scanner_event(account: str, start: datetime) -> dict:
    """30 requests of a scanner's user agent for ``account`` (D1-scanner-agent) as a subscription event."""
    epoch_ms = int(start.timestamp() * 1000)
    times = [epoch_ms + n * 1000 for n in range(30)]
    lines = [
        access_line(
            t,
            ip="198.51.100.7",
            agent="sqlmap/1.7.2#stable (https://sqlmap.org)",
            path=f"/v1/items/{n}",
            resource="/v1/items/{id}",
            status=200,
            account=account,
        )
        for n, t in enumerate(times)
    ]
    return subscription_event("/aws/apigateway/service-access", lines, times, first_id=1)


def test_local_up_with_a_shadow_policy_records_shadow_decisions_and_promotes(tmp_path):
    """The live policy strikes a scanner agent, the shadow candidate suspends it: the stack enforces
    the strike, ``shadow-report`` shows the divergence, ``promote`` makes the candidate live. Both
    documents are over SSM's 4,096 characters: they go in compressed, as the server's limits require."""
    from aupctl import state

    aupctl = runner(tmp_path)
    live = doc("lenient-live-1")
    live["rules"]["D1-scanner-agent"]["severity"] = "medium"  # a strike, not a suspension
    live_file = write(tmp_path, "live.yaml", live)
    shadow_file = write(tmp_path, "shadow.yaml", doc("shadow-strict-1"))
    port = state.free_port()
    started = aupctl(
        "local", "up", "--port", str(port), "--no-dispatcher",
        "--policy", str(live_file), "--shadow-policy", str(shadow_file),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        created = aupctl("accounts", "create", "scanned-acct", "--plan", "standard", "--port", str(port))
        assert created.returncode == 0, created.stderr
        event = tmp_path / "event.json"
        event.write_text(json.dumps(scanner_event("scanned-acct", datetime.now(UTC) - timedelta(minutes=10))))
        invoked = aupctl("invoke", "ApiLogAnalyzerFunction", "--event", str(event), "--port", str(port))
        assert invoked.returncode == 0, invoked.stderr

        report = aupctl("policy", "shadow-report", "--json", "--port", str(port))
        assert report.returncode == 0, report.stderr
        body = json.loads(report.stdout)
        assert body["shadow_parameter"] == "/aup/shadow-policy"
        (acct,) = [a for a in body["accounts"] if a["account_id"] == "scanned-acct"]
        assert acct["diverged"], acct
        d = acct["diverged"][0]
        assert d["rule_id"] == "D1-scanner-agent"
        assert (d["live_policy_version"], d["shadow_policy_version"]) == ("lenient-live-1", "shadow-strict-1")
        assert d["live"] == "strike" and d["shadow"].startswith("suspend")
        # the live flag is the live policy's: a strike, the account active
        account = aupctl("accounts", "show", "scanned-acct", "--json", "--port", str(port))
        assert account.returncode == 0, account.stderr
        assert json.loads(account.stdout)["status"] == "active"

        promoted = aupctl("policy", "promote", "--json", "--actor", "tester", "--port", str(port))
        assert promoted.returncode == 0, promoted.stderr
        change = json.loads(promoted.stdout)
        assert (change["from_policy_version"], change["to_policy_version"]) == (
            "lenient-live-1",
            "shadow-strict-1",
        )
    finally:
        aupctl("local", "down", "--port", str(port))


def test_diff_corpus_flags_the_honest_scenarios_a_lowered_threshold_would_wrong(tmp_path):
    """One sustained-period instead of three: an honest nightly CPU spike becomes a D5 suspension. The
    candidate is flagged (exit 1) naming the scenario, its rule and the field; an honest browser is not
    wronged. A copy of the shipped policy flags nothing (exit 0). No stack runs on the port: the
    corpus check needs none (it runs on a private stack of its own)."""
    aupctl = runner(tmp_path)
    lowered = doc("jumpy-1")
    lowered["usage_monitoring"]["consecutive_periods"] = 1
    scenarios = ("--scenario", "cpu-one-spike", "--scenario", "browser-person")
    out = aupctl(
        "policy", "diff", "--candidate", str(write(tmp_path, "jumpy.yaml", lowered)), *scenarios,
        "--json", "--html", str(tmp_path / "diff.html"), "--port", "1",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    corpus = json.loads(out.stdout)["corpus"]
    assert corpus["scenarios"] == 2 and corpus["flagged"] == ["cpu-one-spike"]
    (wronged,) = corpus["wronged"]
    assert wronged["rules"] == ["D5-cpu"] and any(h.startswith("suspended") for h in wronged["harms"])
    assert wronged["fields"] == ["usage_monitoring.consecutive_periods: 3 -> 1"]
    assert "cpu-one-spike" in (tmp_path / "diff.html").read_text(encoding="utf-8")

    same = aupctl(
        "policy", "diff", "--candidate", str(write(tmp_path, "same.yaml", doc("copy-1"))), *scenarios,
        "--port", "1",
    )  # fmt: skip
    assert same.returncode == 0, same.stdout + same.stderr
    assert "honest corpus: 2 scenario(s) under copy-1; 0 wronged" in same.stdout
    assert "WRONGED" not in same.stdout
