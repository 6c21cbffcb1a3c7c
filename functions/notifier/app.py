"""NotifierFunction: ledger stream -> SNS notification, EventBridge event, authorizer cache flush."""

from __future__ import annotations

from typing import Any

import orjson
from aws_lambda_powertools import Logger, Metrics
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
from aup.domain.notifications import SOURCE, Change, changes_from_record

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

# Each stream record is published once, even when the batch is retried (records stay in the ledger
# table under their own key; the stream filter keeps them from reaching this function).
persistence = DynamoDBPersistenceLayer(
    table_name=bootstrap.settings().ledger_table or "unset",
    key_attr="pk",
    sort_key_attr="sk",
    static_pk_value="IDEMPOTENCY#notifier",
    expiry_attr="expires_at",
    boto3_client=client("dynamodb"),  # the ledger's client: one client to build at cold start, not two
)
idempotency = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=7 * 86400)


@idempotent_function(data_keyword_argument="record", persistence_store=persistence, config=idempotency)
def publish(record: dict[str, Any]) -> dict[str, Any]:
    changes = [Change.model_validate(c) for c in record["changes"]]
    cfg = bootstrap.settings()
    for change in changes:
        message = {
            "source": SOURCE,
            "detail-type": change.detail_type,
            "account_id": change.account_id,
            "detail": change.detail,
        }
        if cfg.notifications_topic_arn:
            client("sns").publish(
                TopicArn=cfg.notifications_topic_arn,
                Subject=change.subject,
                Message=orjson.dumps(message).decode(),
                MessageAttributes={"detail_type": {"DataType": "String", "StringValue": change.detail_type}},
            )
    entries = [
        {
            "Source": SOURCE,
            "DetailType": c.detail_type,
            "EventBusName": cfg.event_bus_name,
            "Resources": [],
            "Detail": orjson.dumps({"account_id": c.account_id, **c.detail}).decode(),
        }
        for c in changes
    ]
    if entries:
        resp = client("events").put_events(Entries=entries)
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {resp['FailedEntryCount']} of {len(entries)} events")
    return {"published": len(changes)}


def flush_authorizer_cache() -> None:
    """Make a suspension (or reinstatement) effective at once instead of after the 60 s authorizer cache.

    Best effort: when it fails, the cache expires by itself within ReauthorizeEvery.
    """
    cfg = bootstrap.settings()
    if not (cfg.service_api_id and cfg.service_api_stage):
        return
    try:
        client("apigateway").flush_stage_authorizers_cache(
            restApiId=cfg.service_api_id, stageName=cfg.service_api_stage
        )
        metrics.add_metric(name="AuthorizerCacheFlushed", unit=MetricUnit.Count, value=1)
    except Exception as exc:
        logger.warning(
            "authorizer cache flush failed; the cache expires within 60 s", extra={"error": str(exc)}
        )
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
