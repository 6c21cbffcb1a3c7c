"""Usage detectors (clauses D5 D5b D3): sustained use beyond the plan, from metrics and alarms."""

from aup.policy.validate import declare_emitted

# The rule ids this package's source can emit. Its rules come from the policy itself
# (``usage_monitoring.metrics[*].rule_id`` and ``alarm_rules``, checked by aup.policy.validate), so
# it names none in code. tests/unit/test_policy_validate.py fails when a literal here is undeclared.
EMITS = declare_emitted(__name__, ())
