"""Policy tooling: ``aupctl policy validate`` and ``diff`` on a recorded history, ``--policy`` options.

The history is recorded through the real ledger (the template deployed into moto) at fixed dates, so
those tests run with the clock set to them (``FROZEN``). The end-to-end test starts ``aupctl local up
--policy`` and needs no clock: its findings carry fixed dates, the diff decides each at its own time,
and ``--since`` reaches back far enough.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from aup import bootstrap
from aup.domain.models import Finding, Source
from aup.policy import PolicyError
from aup.policy.loader import PolicySource, default_policy_text, load_default_policy, parse_policy
from aup.usecases.policy_diff import diff
from aupctl.cli import main
from aupctl.policy import recorded

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FROZEN = pytest.mark.time_machine(AT + timedelta(days=2), tick=False)
ROOT = Path(__file__).resolve().parents[2]

SEVERITY_ERROR = "rules.D1-error-burst.severity: Input should be 'low', 'medium', 'high' or 'critical'"


def doc() -> dict:
    return yaml.safe_load(default_policy_text())


def write(folder: Path, name: str, document: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def stricter() -> dict:
    d = doc()
    d["policy_version"] = "stricter-1"
    d["ladder"]["strikes_to_suspend"] = 2
    return d


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def strike(account: str, rule: str, clause: str, at: datetime, n: int) -> Finding:
    return Finding(
        rule_id=rule,
        clause=clause,
        account_id=account,
        source=Source.log,
        source_event_id=f"{account}#window-{n}",
        detected_at=at,
        summary="recorded for the policy diff",
    )


def history() -> list[Finding]:
    """one-strike: 1 strike; two-strikes: 2 (suspended only at 2); three-strikes: 3 (suspended under
    both policies, earlier under the stricter one); spread-out: 2 strikes 40 days apart (never 2 in
    the window)."""
    return [
        strike("one-strike", "D1-error-burst", "D1", AT, 1),
        strike("two-strikes", "D1-error-burst", "D1", AT, 1),
        strike("two-strikes", "W5-id-enumeration", "W5", AT + timedelta(hours=1), 2),
        strike("three-strikes", "D1-error-burst", "D1", AT, 1),
        strike("three-strikes", "W5-id-enumeration", "W5", AT + timedelta(hours=1), 2),
        strike("three-strikes", "G1-key-sharing", "G1", AT + timedelta(hours=2), 3),
        strike("spread-out", "D1-error-burst", "D1", AT - timedelta(days=40), 1),
        strike("spread-out", "W5-id-enumeration", "W5", AT, 2),
    ]


@pytest.fixture
def recorded_history(stack):
    ledger = bootstrap.ledger()
    ledger.apply_findings(history(), AT + timedelta(days=1))
    return ledger


def run_diff(ledger, candidate, *, since_days: float = 90):
    now = AT + timedelta(days=2)
    known, violations = recorded(ledger, now - timedelta(days=since_days))
    return diff(violations, ledger.policy, candidate, as_of=now, states=known)


# ------------------------------------------------------------------------------------------------ diff


@FROZEN
def test_a_stricter_candidate_lists_exactly_the_accounts_it_would_newly_suspend(recorded_history):
    result = run_diff(recorded_history, parse_policy(yaml.safe_dump(stricter())))
    report = result.as_dict()
    assert report["newly_suspended"] == ["two-strikes"]
    assert report["no_longer_suspended"] == []
    by_id = {a["account_id"]: a for a in report["accounts"]}
    assert set(by_id) == {"one-strike", "two-strikes", "three-strikes", "spread-out"}
    assert by_id["two-strikes"]["live"]["suspensions"] == 0
    assert by_id["two-strikes"]["candidate"]["suspensions"] == 1
    assert any(c.startswith("suspends at W5-id-enumeration") for c in by_id["two-strikes"]["changes"])
    # suspended under both, at the 2nd strike instead of the 3rd: changed, not newly suspended
    assert by_id["three-strikes"]["changes"] and not by_id["three-strikes"]["newly_suspended"]
    assert by_id["one-strike"]["changes"] == [] and by_id["spread-out"]["changes"] == []
    assert "1 newly suspended" in result.summary() and "2 would change" in result.summary()


@FROZEN
def test_an_identical_candidate_shows_no_difference(recorded_history):
    result = run_diff(recorded_history, parse_policy(default_policy_text()))
    assert [a.account_id for a in result.accounts] == sorted(a.account_id for a in result.accounts)
    assert len(result.accounts) == 4
    assert result.changed == []
    assert "0 would change" in result.summary()


@FROZEN
def test_since_leaves_out_older_violations(recorded_history):
    # 1 day back keeps nothing of AT (2 days ago): no finding replayed
    result = run_diff(recorded_history, parse_policy(yaml.safe_dump(stricter())), since_days=1)
    assert all(a.findings == 0 for a in result.accounts)
    assert result.as_dict()["newly_suspended"] == []


@FROZEN
def test_a_lower_severity_lifts_suspensions(recorded_history):
    d = doc()
    d["policy_version"] = "lenient-1"
    d["ladder"]["strikes_to_suspend"] = 5
    result = run_diff(recorded_history, parse_policy(yaml.safe_dump(d)))
    assert result.as_dict()["no_longer_suspended"] == ["three-strikes"]
    assert result.as_dict()["newly_suspended"] == []


# -------------------------------------------------------------------------------------------- validate


def test_validate_exit_codes_and_the_field_named(tmp_path, capsys):
    good = write(tmp_path, "good.yaml", doc())
    assert cli(capsys, "policy", "validate", str(good))[0] == 0

    bad = doc()
    bad["rules"]["D1-error-burst"]["severity"] = "severe"
    code, out, err = cli(capsys, "policy", "validate", str(write(tmp_path, "bad.yaml", bad)))
    assert code == 1 and out == ""
    assert SEVERITY_ERROR in err

    missing = doc()
    del missing["rules"]["I3-archive-bomb"]
    code, _, err = cli(capsys, "policy", "validate", str(write(tmp_path, "missing.yaml", missing)))
    assert code == 1
    assert "rules.I3-archive-bomb: missing; aup.detectors.uploads emits it" in err

    code, _, err = cli(capsys, "policy", "validate", str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read policy file" in err

    (tmp_path / "junk.yaml").write_text("{ not yaml", encoding="utf-8")
    assert cli(capsys, "policy", "validate", str(tmp_path / "junk.yaml"))[0] == 1


def test_validate_json(tmp_path, capsys):
    import json

    bad = doc()
    bad["plans"]["free"].pop("seats")
    code, out, _ = cli(capsys, "policy", "validate", "--json", str(write(tmp_path, "p.yaml", bad)))
    body = json.loads(out)
    assert code == 1 and body["valid"] is False
    assert body["errors"] == ["plans.free: must state every field; lacks seats"]


def test_a_broken_candidate_is_refused_with_the_field_named(tmp_path, capsys):
    bad = doc()
    bad["rules"]["D1-error-burst"]["severity"] = "severe"
    path = write(tmp_path, "bad.yaml", bad)
    # refused before any stack is looked for: the port has nothing on it
    code, out, err = cli(capsys, "policy", "diff", "--candidate", str(path), "--port", "1")
    assert code == 1 and out == ""
    assert err.startswith("aupctl: candidate") and SEVERITY_ERROR in err
    code, _, err = cli(capsys, "replay", "--logs", "-", "--dry-run", "--policy", str(path), "--port", "1")
    assert code == 1 and SEVERITY_ERROR in err


def test_a_broken_candidate_made_live_keeps_the_last_good_policy(monkeypatch):
    """Put into the live parameter anyway, a candidate missing a rule a detector emits is rejected
    whole at refresh (it used to validate, then fail every upload); the live policy keeps deciding."""
    broken = doc()
    broken["policy_version"] = "broken-1"
    del broken["rules"]["W6-hidden-trademark"]
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/aup/policy", Value=default_policy_text(), Type="String")
        rejected: list[PolicyError] = []
        source = PolicySource("/aup/policy", max_age_seconds=0, ssm_client=ssm, on_rejected=rejected.append)
        live = source.current()
        ssm.put_parameter(Name="/aup/policy", Value=yaml.safe_dump(broken), Type="String", Overwrite=True)
        assert source.current() is live
        assert len(rejected) == 1 and "rules.W6-hidden-trademark: missing" in str(rejected[0])
        # and a cold start on it fails loudly
        with pytest.raises(PolicyError, match="W6-hidden-trademark"):
            PolicySource("/aup/policy", max_age_seconds=0, ssm_client=ssm).current()
    assert live.policy_version == load_default_policy().policy_version


# ---------------------------------------------------------------------------------------- replay --policy


@FROZEN
def test_replay_decides_under_the_policy_given(tmp_path, capsys, monkeypatch):
    import json

    epoch_ms = int(AT.timestamp() * 1000)
    lines = [
        json.dumps(
            {
                "requestId": f"req-{n}",
                "requestTimeEpoch": str(epoch_ms + n * 1000),
                "ip": "198.51.100.7",
                "userAgent": "sqlmap/1.7.2#stable (https://sqlmap.org)",
                "httpMethod": "GET",
                "path": f"/v1/items/{n}",
                "resourcePath": "/v1/items/{id}",
                "status": "200",
                "responseLength": "100",
                "principalId": "replayed-acct",
                "apiKeyId": "-",
                "authorizerError": "-",
                "forwardedFor": "198.51.100.7",
                "claimedAccount": "-",
            }
        )
        for n in range(30)
    ]
    d = doc()
    d["policy_version"] = "replay-policy-1"
    path = write(tmp_path, "p.yaml", d)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = cli(
        capsys, "replay", "--logs", "-", "--dry-run", "--json", "--policy", str(path), "--port", "1"
    )
    assert code == 0, err
    report = json.loads(out)
    versions = {d["policy_version"] for a in report["accounts"] for d in a["decisions"]}
    assert versions == {"replay-policy-1"}
    assert any(d["rule_id"] == "D1-scanner-agent" for a in report["accounts"] for d in a["decisions"])


# ------------------------------------------------------------------------------------- end to end (server)


def scanner_lines(account: str, start: datetime) -> list[str]:
    """A scanner's user agent on 30 requests of ``account``: D1-scanner-agent."""
    import json

    epoch_ms = int(start.timestamp() * 1000)
    return [
        json.dumps(
            {
                "requestId": f"req-{account}-{n}",
                "requestTimeEpoch": str(epoch_ms + n * 1000),
                "ip": "198.51.100.7",
                "userAgent": "sqlmap/1.7.2#stable (https://sqlmap.org)",
                "httpMethod": "GET",
                "path": f"/v1/items/{n}",
                "resourcePath": "/v1/items/{id}",
                "status": "200",
                "responseLength": "100",
                "principalId": account,
                "apiKeyId": "-",
                "authorizerError": "-",
                "forwardedFor": "198.51.100.7",
                "claimedAccount": "-",
            }
        )
        for n in range(30)
    ]


@pytest.mark.slow
@pytest.mark.server
def test_local_up_with_a_policy_then_diff_against_it(tmp_path):
    """``local up --policy`` makes the file the stack's live policy (its decisions carry its version);
    ``policy diff`` then lists the account a candidate would newly suspend, and none for the same file."""
    import json
    import subprocess

    from aupctl import state
    from tests.aupctl_process import aupctl as run_aupctl
    from tests.aupctl_process import cli_env

    env = cli_env(tmp_path / "state")

    def aupctl(*args: str) -> subprocess.CompletedProcess[str]:
        return run_aupctl(*args, env=env, timeout=300)

    live = doc()
    live["policy_version"] = "lenient-live-1"
    live["rules"]["D1-scanner-agent"]["severity"] = "medium"  # a strike, not a suspension
    live_file = write(tmp_path, "live.yaml", live)
    broken = doc()
    broken["rules"]["D1-error-burst"]["severity"] = "severe"
    port = state.free_port()
    refused = aupctl("local", "up", "--port", str(port), "--policy", str(write(tmp_path, "b.yaml", broken)))
    assert refused.returncode == 1 and SEVERITY_ERROR in refused.stderr
    assert not state.endpoint_answers(port)  # nothing was started

    started = aupctl("local", "up", "--port", str(port), "--no-dispatcher", "--policy", str(live_file))
    assert started.returncode == 0, started.stderr
    try:
        logs = tmp_path / "access.log"
        logs.write_text("\n".join(scanner_lines("scanned-acct", AT)) + "\n", encoding="utf-8")
        applied = aupctl("replay", "--logs", str(logs), "--json", "--port", str(port))
        assert applied.returncode == 0, applied.stderr
        decisions = [d for a in json.loads(applied.stdout)["accounts"] for d in a["decisions"]]
        assert decisions and {d["policy_version"] for d in decisions} == {"lenient-live-1"}
        assert {d["action"] for d in decisions} == {"strike"}

        candidate = write(tmp_path, "candidate.yaml", doc())  # the shipped policy: scanner agents suspend
        html = tmp_path / "diff.html"
        out = aupctl(
            "policy", "diff", "--candidate", str(candidate), "--since", "3650d", "--json",
            "--html", str(html), "--port", str(port),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["live_policy"] == "lenient-live-1"
        assert report["newly_suspended"] == ["scanned-acct"]
        assert "scanned-acct" in html.read_text(encoding="utf-8")

        same = aupctl(
            "policy", "diff", "--candidate", str(live_file), "--since", "3650d", "--port", str(port)
        )
        assert same.returncode == 0, same.stderr
        assert "no difference" in same.stdout and "0 would change" in same.stdout
    finally:
        aupctl("local", "down", "--port", str(port))
