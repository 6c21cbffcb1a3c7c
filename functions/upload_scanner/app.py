"""UploadScannerFunction: S3 event notifications arrive through SQS; each object is scanned and judged.

Thin: the batch processor reports partial failures (one bad record never sinks the batch), each
record's S3 notification is handed to ``aup.usecases.scan_upload.UploadScanner``, and the outcome becomes
logs and EMF metrics (``StorageBytes`` per account, dimension ``AccountId``).
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.usecases.scan_upload import ObjectOutcome, UploadScanner, parse_notification

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

_deadline: dict[str, float] = {}


@cache
def scanner() -> UploadScanner:
    """Built once per execution environment: compiled YARA rules, hash lists, the ledger."""
    s = bootstrap.settings()
    return UploadScanner(
        bootstrap.policy(),
        bootstrap.ledger(),
        quarantine_bucket=s.quarantine_bucket,
        scan_limit_bytes=s.scan_limit_bytes,
        now=bootstrap.utcnow,
    )


def _publish(outcome: ObjectOutcome) -> None:
    metrics.add_metric(name=f"Objects_{outcome.action}", unit=MetricUnit.Count, value=1)
    if outcome.verdict is not None:
        metrics.add_metric(name=f"Verdict_{outcome.verdict.value}", unit=MetricUnit.Count, value=1)
    if outcome.status is not None and outcome.status.value != "complete":
        metrics.add_metric(name="NotScanned", unit=MetricUnit.Count, value=1)
    if outcome.bytes_scanned:
        metrics.add_metric(name="BytesScanned", unit=MetricUnit.Bytes, value=outcome.bytes_scanned)
    if outcome.account_id is None and outcome.action in ("scanned", "gone"):
        metrics.add_metric(name="Unattributed", unit=MetricUnit.Count, value=1)
    if outcome.account_id and outcome.stored_bytes is not None:
        with single_metric(
            name="StorageBytes",
            unit=MetricUnit.Bytes,
            value=outcome.stored_bytes,
            namespace=bootstrap.settings().metrics_namespace,
        ) as m:
            m.add_dimension(name="AccountId", value=outcome.account_id)


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    body = json.loads(record.body)
    results = []
    for event in parse_notification(body):
        outcome = scanner().handle(event, deadline=_deadline.get("at"))
        _publish(outcome)
        logger.info(
            "upload event",
            extra={
                "event_name": event.name,
                "bucket": event.bucket,
                "key": event.key,
                "action": outcome.action,
                "account_id": outcome.account_id or "unattributed",
                "scan": outcome.status.value if outcome.status else None,
                "verdict": outcome.verdict.value if outcome.verdict else None,
                "rules": outcome.rules,
                "decisions": outcome.decisions,
                "quarantined": outcome.quarantined,
                "sha256": outcome.sha256,
                "tags_dropped": outcome.tags_dropped,
            },
        )
        results.append(
            {
                "key": event.key,
                "action": outcome.action,
                "verdict": outcome.verdict.value if outcome.verdict else None,
            }
        )
    return results


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    margin = bootstrap.policy().upload_scanning.streaming.deadline_margin_seconds
    _deadline["at"] = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - margin
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
