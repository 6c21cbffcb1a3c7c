"""Policy section ``usage_monitoring``: thresholds of the metrics rules (D5 D5b D3)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UsageMonitoring(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
