"""Shadow mode on the deployed template: a candidate policy decides beside the live one, never enforced;
``shadow-report`` shows where they diverged; ``promote`` and ``promote --rollback`` move the live
parameter between versions, audited."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from aup import bootstrap
from aup.adapters.dynamodb import DynamoStore
from aup.domain.models import AccountState, Finding, Source, hash_api_key
from aup.policy.loader import default_policy_text, parse_policy
from aupctl.errors import CliError
from aupctl.policy import print_shadow_report, promote_parameter, shadow_report
from tests.conftest import load_handler
from tests.eventlib import authorizer_event

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.time_machine(NOW, tick=True)  # moto and the handlers see time pass

LIVE = "/aup/policy"
SHADOW = "/aup/policy-candidate"


def versioned(text: str, version: str) -> str:
    return text.replace('policy_version: "2026-11-27.1"', f'policy_version: "{version}"', 1)


def suspends_everything() -> str:
    """The default policy with every rule critical: any finding suspends indefinitely."""
    text = re.sub(r"severity: (low|medium|high)\b", "severity: critical", default_policy_text())
    return versioned(text, "shadow-strict")


def finding(account: str, event: str, rule: str = "D1-error-burst") -> Finding:
    return Finding(
        rule_id=rule,
        clause=rule.split("-", maxsplit=1)[0],
        account_id=account,
        source=Source.log,
        source_event_id=event,
        detected_at=NOW,
        confidence=0.95,
        summary="4xx over distinct paths",
    )


@pytest.fixture
def ssm(stack):
    return boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def table(stack):
    return stack.outputs["LedgerTableName"]


def raw_items(table: str, account: str) -> dict[str, dict]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"ACCOUNT#{account}"}},
    )["Items"]
    return {i["sk"]["S"]: i for i in items}


def key_item(table: str, key: str) -> dict:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return ddb.get_item(TableName=table, Key={"pk": {"S": f"KEY#{hash_api_key(key)}"}, "sk": {"S": "KEY"}})[
        "Item"
    ]


def with_shadow(monkeypatch, name: str | None) -> None:
    monkeypatch.setenv("AUP_SHADOW_POLICY_PARAMETER", name or "")
    bootstrap.reset()


def comparable_state(table: str, account: str) -> dict:
    """The STATE item's document without what names the account (ids, key hashes)."""
    doc = json.loads(raw_items(table, account)["STATE"]["doc"]["S"])
    for name in ("account_id", "key_hashes", "created_at", "updated_at"):
        doc.pop(name, None)
    return doc


def comparable_key(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in ("pk", "account_id", "key_hash", "doc")}


def emf_names(capsys) -> list[str]:
    names = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and "_aws" in line:
            doc = json.loads(line)
            names += [m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return names


def test_a_shadow_policy_that_suspends_everything_changes_no_flag(
    stack, ssm, table, monkeypatch, lambda_context
):
    ssm.put_parameter(Name=SHADOW, Value=suspends_everything(), Type="String")
    for account, key in (("shadowed", "key-shadowed-0123456789"), ("plain", "key-plain-0123456789")):
        bootstrap.ledger().create_account(
            AccountState(account_id=account, plan="standard"), hash_api_key(key), NOW, "test"
        )
    keys_before = {
        k: comparable_key(key_item(table, k)) for k in ("key-shadowed-0123456789", "key-plain-0123456789")
    }

    with_shadow(monkeypatch, SHADOW)
    shadowed = bootstrap.ledger().apply_findings([finding("shadowed", "w1"), finding("shadowed", "w2")], NOW)
    with_shadow(monkeypatch, None)
    plain = bootstrap.ledger().apply_findings([finding("plain", "w1"), finding("plain", "w2")], NOW)

    # The live path decided the same with and without the candidate: two strikes, no suspension.
    assert [d.label for o in shadowed for d in o.decisions] == ["strike", "strike"]
    assert [d.label for o in plain for d in o.decisions] == ["strike", "strike"]
    assert comparable_state(table, "shadowed") == comparable_state(table, "plain")
    assert comparable_state(table, "shadowed")["status"] == "active"
    # KEY items untouched by the shadow path (the strikes changed no enforcement either).
    assert (
        comparable_key(key_item(table, "key-shadowed-0123456789")) == keys_before["key-shadowed-0123456789"]
    )
    assert comparable_key(key_item(table, "key-shadowed-0123456789")) == comparable_key(
        key_item(table, "key-plain-0123456789")
    )
    authorizer = load_handler("authorizer")
    monkeypatch.setenv("AUTHORIZER_CACHE_SECONDS", "0")
    for key in ("key-shadowed-0123456789", "key-plain-0123456789"):
        (statement,) = authorizer.lambda_handler(authorizer_event(key), lambda_context)["policyDocument"][
            "Statement"
        ]
        assert statement["Effect"] == "Allow"

    # The candidate's own record: suspended in SHADOWSTATE, each finding's pair of decisions kept.
    items = raw_items(table, "shadowed")
    shadow_state = json.loads(items["SHADOWSTATE"]["doc"]["S"])
    assert shadow_state["status"] == "suspended"
    assert shadow_state["suspension"]["kind"] == "indefinite"
    pairs = sorted((i["live"]["S"], i["shadow"]["S"]) for sk, i in items.items() if sk.startswith("SHADOW#"))
    # (The ladder makes a lone uncorroborated threshold finding a strike, even a critical one.)
    assert pairs == [("strike", "strike"), ("strike", "suspend_indefinite")]
    assert all("expires_at" in i for sk, i in items.items() if sk.startswith("SHADOW#"))
    assert not any(sk.startswith("SHADOW") for sk in raw_items(table, "plain"))


def test_a_broken_shadow_path_is_counted_and_the_live_decision_stands(stack, table, monkeypatch, capsys):
    bootstrap.ledger().create_account(
        AccountState(account_id="acme", plan="standard"), hash_api_key("key-acme-0123456789"), NOW, "test"
    )
    with_shadow(monkeypatch, "/aup/no-such-parameter")
    capsys.readouterr()
    (outcome,) = bootstrap.ledger().apply_findings([finding("acme", "w1")], NOW)
    assert [d.label for d in outcome.decisions] == ["strike"]
    assert "ShadowEvaluationFailed" in emf_names(capsys)
    items = raw_items(table, "acme")
    assert json.loads(items["STATE"]["doc"]["S"])["strikes"]
    assert not any(sk.startswith("SHADOW") for sk in items)


def test_a_stricter_shadow_policy_shows_its_divergence_in_the_report(stack, ssm, table, monkeypatch, capsys):
    ssm.put_parameter(Name=SHADOW, Value=suspends_everything(), Type="String")
    with_shadow(monkeypatch, SHADOW)
    ledger = bootstrap.ledger()
    for account in ("acme", "globex"):
        ledger.create_account(
            AccountState(account_id=account, plan="standard"), hash_api_key(f"key-{account}-0123"), NOW, "t"
        )
    # A scanner agent (high): live suspends for 24 h, the candidate (critical) indefinitely.
    ledger.apply_findings([finding("acme", "w1", rule="D1-scanner-agent")], NOW)
    ledger.apply_findings([finding("acme", "w1", rule="D1-scanner-agent")], NOW)  # redelivered: once
    # Two error bursts (medium): live strikes twice, the candidate suspends at the second.
    ledger.apply_findings([finding("globex", "w1"), finding("globex", "w2")], NOW)

    store = DynamoStore(table)
    report = shadow_report(store, NOW - timedelta(days=7))
    by_account = {a["account_id"]: a for a in report["accounts"]}
    assert set(by_account) == {"acme", "globex"}
    assert by_account["acme"]["decisions"] == 1
    (diverged,) = by_account["acme"]["diverged"]
    assert (diverged["live"], diverged["shadow"]) == ("suspend_temporary", "suspend_indefinite")
    assert diverged["rule_id"] == "D1-scanner-agent"
    assert by_account["globex"]["decisions"] == 2
    assert [(d["live"], d["shadow"]) for d in by_account["globex"]["diverged"]] == [
        ("strike", "suspend_indefinite")
    ]
    assert diverged["shadow_policy_version"] == "shadow-strict"
    assert diverged["live_policy_version"] == parse_policy(default_policy_text()).policy_version
    assert report["summary"] == {"accounts": 2, "decisions": 3, "diverged": 2, "accounts_diverged": 2}
    # Outside the period: nothing.
    assert shadow_report(store, NOW + timedelta(minutes=1))["accounts"] == []

    capsys.readouterr()
    print_shadow_report(report)
    out = capsys.readouterr().out
    assert "account acme: 1 of 1 decision(s) diverged" in out
    assert "live suspend_temporary" in out and "shadow suspend_indefinite" in out
    assert "account globex: 1 of 2 decision(s) diverged" in out


def test_the_same_policy_in_shadow_diverges_nowhere(stack, ssm, table, monkeypatch):
    ssm.put_parameter(Name=SHADOW, Value=default_policy_text(), Type="String")
    with_shadow(monkeypatch, SHADOW)
    ledger = bootstrap.ledger()
    ledger.apply_findings([finding("acme", "w1"), finding("acme", "w2"), finding("acme", "w3")], NOW)
    report = shadow_report(DynamoStore(table), NOW - timedelta(days=1))
    (acme,) = report["accounts"]
    assert acme["decisions"] == 3
    assert acme["diverged"] == []


def test_promote_then_rollback_restores_the_previous_document(stack, ssm, table):
    v1 = versioned(default_policy_text(), "live-1")
    v2 = versioned(default_policy_text(), "candidate-2")
    ssm.put_parameter(Name=LIVE, Value=v1, Type="String")
    ssm.put_parameter(Name=SHADOW, Value=v2, Type="String")
    store = DynamoStore(table)

    promoted = promote_parameter(ssm, store, live=LIVE, candidate=SHADOW, actor="alice", now=NOW)
    # over 4,096 characters: stored compressed in an Advanced parameter (aup.policy.stored), read as is
    assert parse_policy(ssm.get_parameter(Name=LIVE)["Parameter"]["Value"]) == parse_policy(v2)
    tiers = {p["Name"]: p.get("Tier") for p in ssm.describe_parameters()["Parameters"]}
    assert tiers[LIVE] == "Advanced"
    assert (promoted["from_version"], promoted["to_version"]) == (1, 2)
    assert (promoted["from_policy_version"], promoted["to_policy_version"]) == ("live-1", "candidate-2")

    later = NOW + timedelta(minutes=5)
    rolled = promote_parameter(ssm, store, live=LIVE, candidate=None, actor="bob", now=later, rollback=True)
    assert parse_policy(ssm.get_parameter(Name=LIVE)["Parameter"]["Value"]) == parse_policy(v1)
    assert (rolled["from_version"], rolled["to_version"]) == (2, 3)
    assert rolled["to_policy_version"] == "live-1"

    audit = store.list_policy_changes(LIVE)
    assert [(a.action, a.actor, a.from_version, a.to_version) for a in audit] == [
        ("promote", "alice", 1, 2),
        ("rollback", "bob", 2, 3),
    ]
    assert audit[0].at == NOW and audit[1].at == later


def test_promote_refuses_a_candidate_that_does_not_validate(stack, ssm, table):
    v1 = versioned(default_policy_text(), "live-1")
    ssm.put_parameter(Name=LIVE, Value=v1, Type="String")
    bad = default_policy_text().replace("severity: medium", "severity: severe", 1)
    ssm.put_parameter(Name=SHADOW, Value=bad, Type="String")
    store = DynamoStore(table)
    with pytest.raises(CliError, match=r"refused: .*severity"):
        promote_parameter(ssm, store, live=LIVE, candidate=SHADOW, actor="alice", now=NOW)
    assert ssm.get_parameter(Name=LIVE)["Parameter"]["Version"] == 1
    assert store.list_policy_changes(LIVE) == []
    with pytest.raises(CliError, match="no previous version"):
        promote_parameter(ssm, store, live=LIVE, candidate=None, actor="a", now=NOW, rollback=True)


def test_a_shadow_write_that_fails_leaves_the_live_outcome_as_without_shadow():
    """In memory (tests.fakes): the shadow commit raises; the live path returns and stores the same."""
    from aup.usecases import enforce
    from aup.usecases.shadow import Shadow
    from tests.fakes.ledger import MemoryStore

    live = parse_policy(default_policy_text())
    candidate = parse_policy(suspends_everything())
    errors: list[tuple[str, Exception]] = []

    def run(shadow: Shadow | None) -> tuple[list, MemoryStore]:
        store = MemoryStore()
        outcomes = enforce.apply_findings(
            store, live, [finding("acme", "w1"), finding("acme", "w2")], NOW, shadow
        )
        return outcomes, store

    def broken(*_a, **_k):
        raise RuntimeError("shadow table throttled")

    baseline, plain = run(None)
    store = MemoryStore()
    store.commit_shadow = broken  # type: ignore[method-assign]
    shadowed = enforce.apply_findings(
        store,
        live,
        [finding("acme", "w1"), finding("acme", "w2")],
        NOW,
        Shadow(policy=lambda: candidate, on_error=lambda a, e: errors.append((a, e))),
    )
    assert [o.model_dump() for o in shadowed] == [o.model_dump() for o in baseline]
    assert store.accounts == plain.accounts
    assert [(a, str(e)) for a, e in errors] == [("acme", "shadow table throttled")]
    assert store.shadow_states == {}

    # And when it works, the fake records the candidate's suspension beside the live strikes.
    ok, recorded = run(Shadow(policy=lambda: candidate, on_error=lambda a, e: errors.append((a, e))))
    assert [o.model_dump() for o in ok] == [o.model_dump() for o in baseline]
    assert recorded.accounts == plain.accounts
    assert recorded.shadow_states["acme"].status.value == "suspended"
    assert len(recorded.shadow_decisions) == 2
