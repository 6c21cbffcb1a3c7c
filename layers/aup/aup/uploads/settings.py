"""Policy section ``upload_scanning``: thresholds of the upload rules (I1 I2 I3 W2 W4 W6 D6 C1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UploadScanning(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
