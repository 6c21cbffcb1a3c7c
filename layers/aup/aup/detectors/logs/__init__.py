"""Access-log detectors (clauses D1 D2 D5a D5b G1 W1 W5): parse lines, tally windows, judge rules."""
