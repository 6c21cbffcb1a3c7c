"""SuspensionExpiryFunction: on a schedule, lift temporary suspensions whose end has passed (audited).

The authorizer never enforces an expired suspension anyway; this sweep puts the flag, the key
projections and the audit trail in line with that, and tells the world (AccountReinstated).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.usecases import accounts

settings = bootstrap.configure(bootstrap.SuspensionExpirySettings)
logger = Logger()
metrics = Metrics()


def event_time(event: Any) -> datetime:
    """The schedule's own time (so a sweep can be replayed for an instant); the clock if none is given."""
    if isinstance(event, dict) and event.get("time") is not None:
        raw = event["time"]
        try:
            return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC)
        except ValueError as exc:
            raise ValueError(f"scheduled event has an unreadable time: {str(raw)[:64]!r}") from exc
    return bootstrap.utcnow()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = event_time(event)
    lifted, failed = accounts.expire_suspensions(bootstrap.ledger(), now)
    metrics.add_metric(name="SuspensionsLifted", unit=MetricUnit.Count, value=len(lifted))
    if failed:
        # Fail the invocation: the schedule's retries and DLQ keep it visible; the next sweep retries too.
        raise RuntimeError(f"could not lift {len(failed)} expired suspensions: {', '.join(failed[:10])}")
    logger.info("sweep done", extra={"lifted": len(lifted), "at": now.isoformat()})
    return {"lifted": lifted, "at": now.isoformat()}
