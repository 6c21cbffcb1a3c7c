"""Upload detectors (clauses I1 I2 I3 W1 W2 W3 W4 W6 D6 C1): type, signatures, content, archives."""
