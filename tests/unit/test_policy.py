"""Loading the policy document: the shipped default, SSM overrides, and bad documents failing loudly."""

from __future__ import annotations

import pytest
import yaml
from botocore.stub import Stubber

from aup.policy import PolicyError, load_default_policy, load_policy, parse_policy
from aup.policy.loader import default_policy_text


def doc() -> dict:
    return yaml.safe_load(default_policy_text())


def test_default_policy_has_design_limits_and_every_rule_named_after_its_clause():
    p = load_default_policy()
    assert p.plans["free"].requests_per_day == 10_000
    assert p.plans["standard"].egress_per_day == 10 * 10**9
    assert p.plans["business"].requests_per_second == 50
    assert p.plans["enterprise"].storage == 20 * 10**12
    assert p.ladder.strikes_to_suspend == 3 and p.ladder.strike_window_days == 30
    assert "CIMCON" in p.protected_trademarks
    assert all(rule_id.startswith(rule.clause + "-") for rule_id, rule in p.rules.items())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("policy_version"), "policy_version"),
        (lambda d: d["plans"]["free"].update(requests_per_day=-1), "requests_per_day"),
        (lambda d: d["rules"]["D1-error-burst"].update(confidence_bar=3), "confidence_bar"),
        (lambda d: d["rules"]["D1-error-burst"].update(clause="Q7"), "unknown clause"),
        (
            lambda d: d["rules"].update({"D2-misnamed": {"clause": "D1", "title": "x", "severity": "high"}}),
            "named after its clause",
        ),
        (lambda d: d.update(default_plan="gold"), "default_plan"),
        (lambda d: d["ladder"]["actions"].pop("critical"), "critical"),
        (lambda d: d.update(surprise=True), "surprise"),
        (lambda d: d["log_analysis"].update(typo_threshold=1), "typo_threshold"),
        (lambda d: d["hash_lists"]["known_illegal"].update(rule_id="nope"), "nope"),
    ],
)
def test_bad_documents_fail_with_the_field_named(mutate, message):
    d = doc()
    mutate(d)
    with pytest.raises(PolicyError, match=message):
        parse_policy(yaml.safe_dump(d))


@pytest.mark.parametrize("text", ["", "just a string", "[1, 2]", "{unclosed: [", "plans: 7"])
def test_not_a_policy_at_all(text):
    with pytest.raises(PolicyError):
        parse_policy(text)


def test_ssm_parameter_overrides_the_default():
    import boto3

    d = doc()
    d["policy_version"] = "ops-override-7"
    d["dry_run"] = True
    ssm = boto3.client("ssm", region_name="us-east-1")
    with Stubber(ssm) as stub:
        stub.add_response(
            "get_parameter",
            {"Parameter": {"Name": "/aup/policy", "Value": yaml.safe_dump(d)}},
            {"Name": "/aup/policy", "WithDecryption": True},
        )
        p = load_policy("/aup/policy", ssm_client=ssm)
    assert p.policy_version == "ops-override-7" and p.dry_run


def test_unreadable_or_bad_ssm_parameter_fails_the_cold_start():
    import boto3

    ssm = boto3.client("ssm", region_name="us-east-1")
    with Stubber(ssm) as stub:
        stub.add_client_error("get_parameter", "ParameterNotFound", "no such parameter")
        with pytest.raises(PolicyError, match="cannot read policy parameter"):
            load_policy("/aup/missing", ssm_client=ssm)
    with Stubber(ssm) as stub:
        stub.add_response(
            "get_parameter", {"Parameter": {"Name": "/aup/p", "Value": "policy_version: 1\nplans: {}"}}
        )
        with pytest.raises(PolicyError, match="invalid policy"):
            load_policy("/aup/p", ssm_client=ssm)


def test_empty_parameter_name_means_the_default():
    assert load_policy("").policy_version == load_default_policy().policy_version
