"""Usage detectors (clauses D5 D5b D3): sustained use beyond the plan, from metrics and alarms."""
