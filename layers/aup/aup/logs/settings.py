"""Policy section ``log_analysis``: thresholds of the access-log rules (D1 D2 D5a D5b G1 W1 W5)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LogAnalysis(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
