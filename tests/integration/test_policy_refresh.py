"""The SSM policy is re-read at most every AUP_POLICY_MAX_AGE_SECONDS; a bad new value is never applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine
from moto import mock_aws

from aup import bootstrap
from aup.policy import PolicyError
from aup.policy.loader import PolicySource, default_policy_text

NAME = "/aup/policy"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def version(v: str) -> str:
    return default_policy_text().replace('policy_version: "2026-11-27.1"', f'policy_version: "{v}"', 1)


@pytest.fixture
def ssm(monkeypatch):
    with mock_aws():
        bootstrap.reset()
        client = boto3.client("ssm", region_name="us-east-1")
        monkeypatch.setenv("LEDGER_TABLE", "ledger")
        monkeypatch.setenv("AUP_POLICY_PARAMETER", NAME)
        monkeypatch.setenv("AUP_POLICY_MAX_AGE_SECONDS", "60")
        yield client
        bootstrap.reset()


def put(ssm, text: str) -> None:
    ssm.put_parameter(Name=NAME, Value=text, Type="String", Overwrite=True)


def emf(capsys) -> list[str]:
    names = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and "_aws" in line:
            doc = json.loads(line)
            names += [m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return names


def test_a_new_policy_is_in_force_within_max_age(ssm):
    put(ssm, version("v1"))
    with time_machine.travel(T0, tick=False) as clock:
        assert bootstrap.policy().policy_version == "v1"
        put(ssm, version("v2"))
        clock.shift(timedelta(seconds=59))
        assert bootstrap.policy().policy_version == "v1"  # cached: no SSM call inside max_age
        clock.shift(timedelta(seconds=2))
        assert bootstrap.policy().policy_version == "v2"


def test_the_ledger_decides_with_the_refreshed_policy(ssm):
    put(ssm, version("v1"))
    with time_machine.travel(T0, tick=False) as clock:
        ledger = bootstrap.ledger()
        assert ledger.policy.policy_version == "v1"
        put(ssm, version("v2"))
        clock.shift(timedelta(seconds=61))
        assert ledger.policy.policy_version == "v2"


@pytest.mark.parametrize(
    "bad",
    [
        "policy_version: [not, a, policy]",  # does not validate
        "{ not yaml",
        version("v2").replace("default_plan: free", "default_plan: platinum"),  # almost right
    ],
)
def test_a_bad_new_value_keeps_the_last_good_policy_and_is_reported(ssm, capsys, caplog, bad):
    put(ssm, version("v1"))
    with time_machine.travel(T0, tick=False) as clock:
        good = bootstrap.policy()
        put(ssm, bad)
        clock.shift(timedelta(seconds=61))
        assert bootstrap.policy() is good  # whole or not at all: the old object, untouched
        assert emf(capsys) == ["PolicyRefreshRejected"]
        rejected = [r for r in caplog.records if "new policy rejected" in r.getMessage()]
        assert len(rejected) == 1
        assert bootstrap.policy() is good
        assert emf(capsys) == []  # once per max_age, not per call
        put(ssm, version("v3"))
        clock.shift(timedelta(seconds=61))
        assert bootstrap.policy().policy_version == "v3"  # fixed: in force at the next refresh


def test_an_unreadable_parameter_after_start_keeps_the_last_good_policy(ssm, capsys):
    put(ssm, version("v1"))
    with time_machine.travel(T0, tick=False) as clock:
        good = bootstrap.policy()
        ssm.delete_parameter(Name=NAME)
        clock.shift(timedelta(seconds=61))
        assert bootstrap.policy() is good
        assert "PolicyRefreshRejected" in emf(capsys)


def test_a_bad_policy_at_cold_start_fails_loudly(ssm):
    put(ssm, "policy_version: [broken]")
    with pytest.raises(PolicyError, match=NAME):
        bootstrap.policy()
    ssm.delete_parameter(Name=NAME)
    bootstrap.reset()
    with pytest.raises(PolicyError, match="cannot read policy parameter '/aup/policy'"):
        bootstrap.policy()


def test_max_age_zero_reads_every_time_and_unchanged_text_is_not_parsed_again(ssm):
    put(ssm, version("v1"))
    source = PolicySource(NAME, max_age_seconds=0, ssm_client=ssm)
    first = source.current()
    assert source.current() is first  # same text: same object, no second parse
    put(ssm, version("v2"))
    assert source.current().policy_version == "v2"


def test_the_upload_scanner_is_rebuilt_only_when_the_policy_changes(ssm, monkeypatch):
    from aup.policy import parse_policy
    from tests.conftest import load_handler

    monkeypatch.setenv("UPLOADS_BUCKET", "uploads")
    monkeypatch.setenv("QUARANTINE_BUCKET", "quarantine")
    v1, v2 = parse_policy(version("v1")), parse_policy(version("v2"))
    current = [v1]
    monkeypatch.setattr(bootstrap, "policy", lambda: current[0])
    module = load_handler("upload_scanner")
    first = module.scanner()
    assert module.scanner() is first and first.policy is v1  # compiled rules kept while the policy stays
    current[0] = v2
    second = module.scanner()
    assert second is not first and second.policy is v2
