"""The policy document: plans and their documented limits, rules, the ladder (all data, no code)."""

from aup.policy.document import Ladder, Plan, Policy, PolicyError, Rule
from aup.policy.loader import load_default_policy, load_policy, parse_policy

__all__ = [
    "Ladder",
    "Plan",
    "Policy",
    "PolicyError",
    "Rule",
    "load_default_policy",
    "load_policy",
    "parse_policy",
]
