"""UsageMonitorFunction: D5 / D5b (D3 as review) from per-account CloudWatch metrics and alarms.

Triggers: the 5-minute schedule (a sweep at the event's ``time``), CloudWatch Alarm State Change
events from EventBridge, and alarm notifications through SNS. The domain is ``aup.usecases.monitor_usage``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.detectors.usage.events import MalformedEvent
from aup.detectors.usage.metrics import CloudWatchMetricsReader
from aup.usecases.monitor_usage import handle

settings = bootstrap.configure(bootstrap.UsageMonitorSettings)
logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reader = CloudWatchMetricsReader(settings.metrics_namespace)
    try:
        result = handle(event, ledger=bootstrap.ledger(), reader=reader, policy=bootstrap.policy())
    except MalformedEvent as exc:
        logger.error("malformed event", extra={"error": str(exc)})
        metrics.add_metric(name="UsageMonitorMalformedEvents", unit=MetricUnit.Count, value=1)
        raise
    if result["kind"] == "sweep":
        metrics.add_metric(name="UsageSweepAccounts", unit=MetricUnit.Count, value=result["accounts"])
        metrics.add_metric(
            name="UsageSweepGetMetricDataCalls", unit=MetricUnit.Count, value=result["get_metric_data_calls"]
        )
    metrics.add_metric(name="UsageFindings", unit=MetricUnit.Count, value=result["findings"])
    logger.info("usage monitor done", extra={k: v for k, v in result.items() if k != "decided"})
    return result
