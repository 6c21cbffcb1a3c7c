"""ApiLogAnalyzerFunction: API access logs (CloudWatch Logs subscription or Kinesis) -> findings -> ledger.

Clauses D1 D2 D5a D5b G1 W1 W5 (``aup.detectors.logs``). Emits per-account usage (``RequestCount``,
``EgressBytes``) as EMF for the usage monitor.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.detectors.logs.parse import MalformedPayload
from aup.usecases.analyze_logs import InvocationResult, emit_usage, is_kinesis, paused_gc, process_event
from aup.usecases.ingest_archive import is_archive_event, process_archive_event

settings = bootstrap.configure(bootstrap.ApiLogAnalyzerSettings)
logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise MalformedPayload(f"not a CloudWatch Logs subscription or Kinesis event: {type(event).__name__}")
    if is_archive_event(event):  # LogIngestion=firehose: S3 notifications (through SQS) of archived objects
        return _archive(event)
    kinesis = is_kinesis(event)
    try:
        with paused_gc():
            result = process_event(
                event, ledger=bootstrap.ledger(), policy=bootstrap.policy(), now=bootstrap.utcnow()
            )
    except MalformedPayload as exc:
        metrics.add_metric(name="MalformedPayloads", unit=MetricUnit.Count, value=1)
        logger.error("access-log payload cannot be decoded", extra={"error": str(exc)})
        raise  # async retries, then the on-failure destination keeps it
    if result.malformed_records:
        metrics.add_metric(name="MalformedPayloads", unit=MetricUnit.Count, value=1)
        logger.error(
            "kinesis record cannot be decoded", extra={"failed_records": len(result.malformed_records)}
        )
    _report(result)
    return result.response(kinesis)


def _report(result: InvocationResult) -> None:
    """What every path reports of an invocation: line counts, skipped lines, findings, usage."""
    bad = result.unparseable + result.oversized
    metrics.add_metric(name="LogLinesParsed", unit=MetricUnit.Count, value=result.records)
    metrics.add_metric(name="LogLinesUnparseable", unit=MetricUnit.Count, value=bad)
    metrics.add_metric(name="LogFindings", unit=MetricUnit.Count, value=result.findings)
    if bad:
        logger.warning(
            "access-log lines skipped",
            extra={"unparseable": result.unparseable, "oversized": result.oversized, "sample": result.sample},
        )
    if result.findings:
        logger.info(
            "access-log findings applied",
            extra={
                "findings": result.findings,
                "decisions": [d.label for o in result.outcomes for d in o.decisions],
            },
        )
    emit_usage(result.usage, settings.metrics_namespace)


def _read_object(bucket: str, key: str) -> bytes:
    from aup.adapters.aws import client

    body: bytes = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _archive(event: dict[str, Any]) -> dict[str, Any]:
    def failed(message_id: str, exc: Exception) -> None:
        metrics.add_metric(name="MalformedPayloads", unit=MetricUnit.Count, value=1)
        logger.error(
            "archived access-log object not analyzed",
            extra={"message_id": message_id, "error": type(exc).__name__},
        )

    result = process_archive_event(
        event,
        ledger=bootstrap.ledger(),
        policy=bootstrap.policy(),
        now=bootstrap.utcnow(),
        read_object=_read_object,
        on_error=failed,
    )
    _report(result)
    return result.response(True)
