"""NotifierFunction: ledger stream -> SNS notification, EventBridge event, authorizer cache flush."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from aup import bootstrap
from aup.adapters.aws import client
from aup.domain.notifications import Change, changes_from_record
from aup.usecases import notify

settings = bootstrap.configure(bootstrap.NotifierSettings)
logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

# Each stream record is published once, even when the batch is retried (records stay in the ledger
# table under their own key; the stream filter keeps them from reaching this function).
persistence = DynamoDBPersistenceLayer(
    table_name=settings.ledger_table,
    key_attr="pk",
    sort_key_attr="sk",
    static_pk_value="IDEMPOTENCY#notifier",
    expiry_attr="expires_at",
    boto3_client=client("dynamodb"),  # the ledger's client: one client to build at cold start, not two
)
idempotency = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=7 * 86400)


@idempotent_function(data_keyword_argument="record", persistence_store=persistence, config=idempotency)
def publish(record: dict[str, Any]) -> dict[str, Any]:
    published = notify.publish(
        [Change.model_validate(c) for c in record["changes"]],
        sns=client("sns"),
        events=client("events"),
        topic_arn=settings.notifications_topic_arn,
        event_bus_name=settings.event_bus_name,
    )
    for change in record["changes"]:
        _count(change)
    return {"published": published}


# The dashboard's enforcement figures, counted here (once per stream record: inside the idempotent
# function) because every detector's and operator's change passes through the ledger's stream.
# Fixed names; the clause and the decision are dimensions.
_DECISIONS = {
    "AccountSuspended": "suspension",
    "AccountReinstated": "reinstatement",
    "ReviewRequested": "review",
}


def _count(change: dict[str, Any]) -> None:
    kind = change.get("detail_type")
    detail = change.get("detail") or {}
    if kind == "ViolationRecorded":
        name, dimension, value = "ViolationsRecorded", "Clause", str(detail.get("clause") or "unknown")
    elif kind in _DECISIONS:
        name, dimension, value = "EnforcementDecisions", "Decision", _DECISIONS[kind]
    else:
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as m:
        m.add_dimension(name=dimension, value=value[:64])


def flush_authorizer_cache() -> None:
    error = notify.flush_authorizer_cache(
        client("apigateway"), api_id=settings.service_api_id, stage=settings.service_api_stage
    )
    if error is None:
        metrics.add_metric(name="AuthorizerCacheFlushed", unit=MetricUnit.Count, value=1)
    else:
        logger.warning("authorizer cache flush failed; the cache expires within 60 s", extra={"error": error})
        metrics.add_metric(name="AuthorizerCacheFlushFailed", unit=MetricUnit.Count, value=1)


def handle_record(record: DynamoDBRecord) -> None:
    stream = record.dynamodb
    if stream is None or record.event_name is None:
        raise ValueError("stream record without its dynamodb section")
    changes = changes_from_record(
        record.event_name.name, stream.keys, stream.old_image or None, stream.new_image or None
    )
    if not changes:
        return
    publish(record={"event_id": record.event_id, "changes": [c.model_dump(mode="json") for c in changes]})
    if any(c.flush_authorizer_cache for c in changes):
        flush_authorizer_cache()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        raise ValueError("not a DynamoDB stream event: no Records list")
    if not all(isinstance(r, dict) for r in event["Records"]):
        raise ValueError("not a DynamoDB stream event: a record is not an object")
    idempotency.register_lambda_context(context)
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
