"""Use cases: load state, call the detectors and the engine, commit through the ports."""
