"""The checks beyond the schema: the detectors' declared rules, plans stated in full, at parse time."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from aup.policy import PolicyError, load_default_policy, parse_policy
from aup.policy.document import CLAUSE_RE
from aup.policy.loader import default_policy_text
from aup.policy.validate import emitted_rules, problems

DETECTORS = ("aup.detectors.logs", "aup.detectors.uploads", "aup.detectors.usage")
CLAUSES = CLAUSE_RE.pattern.removeprefix("^(").removesuffix(")$")
RULE_LITERAL = re.compile(rf"""["']((?:{CLAUSES})-[a-z0-9-]+)["']""")


def doc() -> dict:
    return yaml.safe_load(default_policy_text())


def literals(package: str) -> set[str]:
    folder = Path(importlib.import_module(package).__file__ or "").parent
    found: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        if path.name != "__init__.py":
            found |= set(RULE_LITERAL.findall(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("package", DETECTORS)
def test_every_rule_id_in_a_detectors_source_is_declared(package):
    module = importlib.import_module(package)
    undeclared = literals(package) - module.EMITS
    assert not undeclared, f"{package} emits {sorted(undeclared)} without declaring them in EMITS"
    assert emitted_rules()[package] == module.EMITS


def test_the_literal_grep_finds_the_rules_it_must():
    # The grep itself can fail: a known literal of each detector package is found.
    assert "D1-error-burst" in literals("aup.detectors.logs")
    assert "I3-malware-signature" in literals("aup.detectors.uploads")


@pytest.mark.parametrize("package", DETECTORS)
def test_declared_rules_start_with_their_clause_and_exist_in_the_default_policy(package):
    module = importlib.import_module(package)
    policy = load_default_policy()
    for rule_id in module.EMITS:
        assert re.match(rf"(?:{CLAUSES})-", rule_id), rule_id
        assert rule_id.startswith(policy.rules[rule_id].clause + "-")


def test_the_default_policy_has_no_problem():
    for package in DETECTORS:
        importlib.import_module(package)
    assert problems(load_default_policy(), doc()) == []


def test_a_policy_missing_an_emitted_rule_fails_at_parse():
    importlib.import_module("aup.detectors.uploads")
    d = doc()
    del d["rules"]["W6-hidden-trademark"]
    with pytest.raises(PolicyError, match=r"rules\.W6-hidden-trademark: missing; aup\.detectors\.uploads"):
        parse_policy(yaml.safe_dump(d))


def test_a_rule_the_usage_section_names_must_exist():
    d = doc()
    d["usage_monitoring"]["alarm_rules"]["Latency"] = "D3-slow"
    with pytest.raises(PolicyError, match=r"rules\.D3-slow: missing; usage_monitoring names it"):
        parse_policy(yaml.safe_dump(d))


def test_every_plan_states_every_field():
    d = doc()
    del d["plans"]["standard"]["seats"]
    with pytest.raises(PolicyError, match=r"plans\.standard: must state every field; lacks seats"):
        parse_policy(yaml.safe_dump(d))


def test_problems_are_all_named_at_once():
    for package in DETECTORS:  # each declares its rules when imported: not left to the tests run before
        importlib.import_module(package)
    d = doc()
    del d["rules"]["D1-error-burst"]
    del d["rules"]["I3-archive-bomb"]
    del d["plans"]["free"]["storage"]
    with pytest.raises(PolicyError) as err:
        parse_policy(yaml.safe_dump(d))
    text = str(err.value)
    # the plan's missing required field is the schema's error; the rules are validate's
    assert "plans.free.storage: Field required" in text
    d["plans"]["free"]["storage"] = "1GB"
    with pytest.raises(PolicyError) as err:
        parse_policy(yaml.safe_dump(d))
    assert "rules.D1-error-burst: missing" in str(err.value)
    assert "rules.I3-archive-bomb: missing" in str(err.value)
