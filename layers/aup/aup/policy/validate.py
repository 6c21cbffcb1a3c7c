"""Checks a policy document needs beyond its schema (the pydantic model and the JSON Schema made from it).

- Every rule a detector emits is a rule of the policy. Each detector package declares the rule ids
  its source can emit in one place (``EMITS`` in ``aup/detectors/<signal>/__init__.py``) and
  registers them here with ``declare_emitted``: the policy layer cannot import the detectors (the
  dependencies point the other way), so the detectors tell it. A policy missing one of them fails
  where it is parsed (the cold start), not on the first upload that hits the rule.
- Every rule the usage section names (its metrics and alarms) is a rule of the policy.
- Every plan states every field of a plan: a plan that leaves one out would silently take the
  model's default (``seats``), which nobody reviewing the document sees.

``problems`` returns ``path: message`` lines (the same form as the schema's errors); ``check``
raises PolicyError with all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aup.policy.document import Plan, Policy, PolicyError

_EMITTED: dict[str, frozenset[str]] = {}


def declare_emitted(detector: str, rule_ids: Iterable[str]) -> frozenset[str]:
    """Register the rule ids ``detector`` (its package name) can emit; returns them as a frozenset."""
    ids = frozenset(rule_ids)
    _EMITTED[detector] = ids
    return ids


def emitted_rules() -> dict[str, frozenset[str]]:
    """Detector package -> the rule ids it declared (those imported so far)."""
    return dict(_EMITTED)


def problems(
    policy: Policy,
    document: Mapping[str, Any] | None = None,
    emitted: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """What is wrong with a policy that validated against its schema, one ``path: message`` each.

    ``document`` is the raw mapping it was parsed from (for the checks on what the document states
    itself); ``emitted`` defaults to every detector's declaration registered so far.
    """
    out: list[str] = []
    declared = _EMITTED if emitted is None else emitted
    for detector, ids in sorted(declared.items()):
        for rule_id in sorted(ids - set(policy.rules)):
            out.append(f"rules.{rule_id}: missing; {detector} emits it")
    for rule_id in sorted(policy.usage_monitoring.rule_ids() - set(policy.rules)):
        out.append(f"rules.{rule_id}: missing; usage_monitoring names it")
    plans = (document or {}).get("plans")
    if isinstance(plans, Mapping):
        fields = list(Plan.model_fields)
        for name, plan in plans.items():
            if isinstance(plan, Mapping):
                absent = [f for f in fields if f not in plan]
                if absent:
                    out.append(f"plans.{name}: must state every field; lacks {', '.join(absent)}")
    return out


def check(policy: Policy, document: Mapping[str, Any] | None = None, *, origin: str = "policy") -> Policy:
    """``policy`` when ``problems`` finds nothing; PolicyError naming every problem otherwise."""
    found = problems(policy, document)
    if found:
        raise PolicyError(f"{origin}: invalid policy: {'; '.join(found)}")
    return policy
