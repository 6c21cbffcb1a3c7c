"""What every handler shares: settings parsed once from the environment, the policy, the ledger.

Each is built on first use and cached for the life of the execution environment (a warm Lambda
reuses them); ``reset()`` forgets them, for tests that switch stacks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from aup.adapters.dynamodb import DynamoLedger

if TYPE_CHECKING:
    from aup.policy import Policy


class Settings(BaseModel):
    """The functions' environment (template.yaml Globals and per-function variables)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    ledger_table: str = Field(default="", alias="LEDGER_TABLE")
    policy_parameter: str = Field(default="", alias="AUP_POLICY_PARAMETER")
    metrics_namespace: str = Field(default="AUP/Usage", alias="POWERTOOLS_METRICS_NAMESPACE")
    notifications_topic_arn: str = Field(default="", alias="NOTIFICATIONS_TOPIC_ARN")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    service_api_id: str = Field(default="", alias="SERVICE_API_ID")
    service_api_stage: str = Field(default="", alias="SERVICE_API_STAGE")
    uploads_bucket: str = Field(default="", alias="UPLOADS_BUCKET")
    quarantine_bucket: str = Field(default="", alias="QUARANTINE_BUCKET")
    scan_limit_bytes: int = Field(default=5 * 1024**3, alias="SCAN_LIMIT_BYTES")
    authorizer_fail_mode: str = Field(
        default="closed", alias="AUTHORIZER_FAIL_MODE", pattern="^(open|closed)$"
    )
    authorizer_cache_seconds: float = Field(default=10, alias="AUTHORIZER_CACHE_SECONDS", ge=0)


@cache
def settings() -> Settings:
    import os

    return Settings.model_validate(dict(os.environ))


@cache
def policy() -> Policy:
    """The policy in force. Raises PolicyError at cold start when it is bad: the function fails loudly."""
    from aup.policy import load_policy  # not on the authorizer's path: it never needs the policy

    return load_policy(settings().policy_parameter)


@cache
def ledger() -> DynamoLedger:
    table = settings().ledger_table
    if not table:
        raise RuntimeError("LEDGER_TABLE is not set")
    return DynamoLedger(table)  # the policy is loaded when a write first needs it


def utcnow() -> datetime:
    """Wall-clock time, for handlers only: detectors and the engine take time as an argument."""
    return datetime.now(UTC)


def reset() -> None:
    from aup.adapters.aws import reset_clients

    settings.cache_clear()
    policy.cache_clear()
    ledger.cache_clear()
    reset_clients()
