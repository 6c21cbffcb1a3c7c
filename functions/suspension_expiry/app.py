"""SuspensionExpiryFunction: on a schedule, lift temporary suspensions whose end has passed (audited).

The authorizer never enforces an expired suspension anyway; this sweep puts the flag, the key
projections and the audit trail in line with that, and tells the world (AccountReinstated).

Each sweep also reports the review backlog in the operations namespace: ``ReviewsPending`` (how many
reviews wait for an operator, counted through GSI1) and ``ReviewsPendingOldestAge`` (seconds since the
oldest of them was opened, 0 when none waits). The count is the ledger's own, so no counter can drift
from it; it is taken after the suspensions are lifted, and a failed count never fails the sweep.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.adapters.dynamodb.ledger import DynamoStore
from aup.domain.ports import LedgerError
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


def report_review_backlog(now: datetime) -> int | None:
    """Emit ``ReviewsPending`` and ``ReviewsPendingOldestAge``: the count, None when it was not read."""
    try:
        pending, oldest = DynamoStore(settings.ledger_table).review_backlog("pending")
    except LedgerError as exc:
        logger.warning("review backlog not counted", extra={"error": str(exc)[:200]})
        return None
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    metrics.add_metric(name="ReviewsPending", unit=MetricUnit.Count, value=pending)
    metrics.add_metric(name="ReviewsPendingOldestAge", unit=MetricUnit.Seconds, value=round(age, 3))
    return pending


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = event_time(event)
    lifted, failed = accounts.expire_suspensions(bootstrap.ledger(), now)
    metrics.add_metric(name="SuspensionsLifted", unit=MetricUnit.Count, value=len(lifted))
    pending = report_review_backlog(now)
    if failed:
        # Fail the invocation: the schedule's retries and DLQ keep it visible; the next sweep retries too.
        raise RuntimeError(f"could not lift {len(failed)} expired suspensions: {', '.join(failed[:10])}")
    logger.info(
        "sweep done", extra={"lifted": len(lifted), "reviews_pending": pending, "at": now.isoformat()}
    )
    return {"lifted": lifted, "at": now.isoformat(), "reviews_pending": pending}
