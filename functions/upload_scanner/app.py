"""UploadScannerFunction: S3 event notifications arrive through SQS; each object is scanned and judged.

Thin: the batch processor reports partial failures (one bad record never sinks the batch), each
record's S3 notification is handed to ``aup.usecases.scan_upload.UploadScanner``, and the outcome becomes
logs and EMF metrics (``StorageBytes`` per account, dimension ``AccountId``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.usecases.scan_upload import ObjectOutcome, UploadScanner, parse_notification

settings = bootstrap.configure(bootstrap.UploadScannerSettings)
logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

_deadline: dict[str, float] = {}


_scanner: list[UploadScanner] = []


def scanner() -> UploadScanner:
    """Built once per execution environment and policy: compiled YARA rules, hash lists, the ledger.

    Rebuilt only when a refreshed policy document replaces the one it was built from.
    """
    policy = bootstrap.policy()
    if not _scanner or _scanner[0].policy is not policy:
        _scanner[:] = [
            UploadScanner(
                policy,
                bootstrap.ledger(),
                quarantine_bucket=settings.quarantine_bucket,
                scan_limit_bytes=settings.scan_limit_bytes,
                now=bootstrap.utcnow,
            )
        ]
        _report_rules(_scanner[0])
    return _scanner[0]


def _report_rules(built: UploadScanner) -> None:
    """Operators' YARA files that did not compile are named (log) and counted (metric); the rest load."""
    rules = built.rule_set
    for name, error in rules.rejected:
        logger.error("YARA rule file rejected", extra={"rule_file": name, "error": error[:500]})
    metrics.add_metric(name="YaraRuleFilesRejected", unit=MetricUnit.Count, value=len(rules.rejected))
    logger.info("YARA rules loaded", extra={"rule_files": rules.files, "from_cache": rules.cached})
    if built.banks is not None:
        logger.info(
            "hash banks loaded",
            extra={
                "banks": [f"{b.name}:{b.kind}:{b.clause}" for b in built.banks.banks],
                "hashes": len(built.banks),
            },
        )


def _count(name: str, dimension: str, value: str) -> None:
    """One count of a fixed metric name whose value is a dimension (``ScanVerdicts`` / ``Verdict``),
    in the operations namespace (``POWERTOOLS_METRICS_NAMESPACE``) with the ``service`` dimension."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as m:
        m.add_dimension(name=dimension, value=value)


def _publish(outcome: ObjectOutcome) -> None:
    # Fixed names; what varies (action, verdict, scan status) is a dimension (template.yaml's dashboard).
    _count("UploadEvents", "Action", outcome.action)
    if outcome.verdict is not None:
        _count("ScanVerdicts", "Verdict", outcome.verdict.value)
    if outcome.status is not None and outcome.status.value != "complete":
        _count("NotScannedReasons", "Scan", outcome.status.value)
        metrics.add_metric(name="NotScanned", unit=MetricUnit.Count, value=1)  # the alarm's total
    if outcome.bytes_scanned:
        metrics.add_metric(name="BytesScanned", unit=MetricUnit.Bytes, value=outcome.bytes_scanned)
    if outcome.account_id is None and outcome.action in ("scanned", "gone"):
        metrics.add_metric(name="Unattributed", unit=MetricUnit.Count, value=1)
    if outcome.account_id and outcome.stored_bytes is not None:
        with single_metric(
            name="StorageBytes",
            unit=MetricUnit.Bytes,
            value=outcome.stored_bytes,
            namespace=settings.metrics_namespace,
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
                "hash_notes": outcome.hash_notes,
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


def as_sqs_event(event: Any) -> dict[str, Any]:
    """The SQS batch the template delivers, as it is; a raw S3 notification (S3 invoking the function
    directly, or ``sam local generate-event s3 put``) becomes a batch of one message per record.
    Anything else is refused in one line, not a traceback from deep in the batch processor."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("UploadScannerFunction expects S3 event notifications inside an SQS batch")
    if all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
        return event
    if all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records):
        return {
            "Records": [
                {
                    "messageId": f"s3-{i}-{r.get('s3', {}).get('object', {}).get('sequencer', '')}",
                    "receiptHandle": "",
                    "body": json.dumps({"Records": [r]}),
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                }
                for i, r in enumerate(records)
            ]
        }
    raise ValueError("UploadScannerFunction expects S3 event notifications inside an SQS batch")


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    margin = bootstrap.policy().upload_scanning.streaming.deadline_margin_seconds
    _deadline["at"] = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - margin
    event = as_sqs_event(event)
    return process_partial_response(  # type: ignore[return-value]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
