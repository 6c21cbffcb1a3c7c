"""LogIngestion=kinesis end to end: the stack deploys with the stream, records read back from it are analyzed."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest

from aup import bootstrap
from aup.detectors.logs.parse import encode_payload
from tests.conftest import load_handler
from tests.unit.logs import traffic as T

# The clock is set to the instant the traffic is generated for (ticking, as on moto).
pytestmark = pytest.mark.time_machine(T.AT, tick=True)


@pytest.fixture
def kinesis_stack(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    from aupctl.stack import deploy

    with mock_aws():
        bootstrap.reset()
        stack = deploy(parameters={"LogIngestion": "kinesis"})
        monkeypatch.setenv("LEDGER_TABLE", stack.outputs["LedgerTableName"])
        bootstrap.reset()
        yield stack
        bootstrap.reset()


def test_payloads_through_the_kinesis_stream_are_analyzed(kinesis_stack: Any, lambda_context: Any) -> None:
    assert (
        "AccessLogStream" in kinesis_stack.resources
        and "AccessLogSubscription" not in kinesis_stack.resources
    )
    stream = kinesis_stack.resources["AccessLogStream"]
    kinesis = boto3.client("kinesis")
    # CloudWatch Logs puts each subscription payload (gzip of the JSON envelope) as one record.
    for n, chunk in enumerate(T.chunks(T.scanner(), max_lines=100)):
        data = base64.b64decode(encode_payload([x.text for x in chunk], first_id=n * 1000))
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey="access-log")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)["Records"]
    assert records
    event = {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventID": f"{shard}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "kinesis": {
                    "sequenceNumber": r["SequenceNumber"],
                    "partitionKey": r["PartitionKey"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "kinesisSchemaVersion": "1.0",
                },
            }
            for r in records
        ]
    }
    handler = load_handler("api_log_analyzer")
    assert handler.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    clauses = {v.clause for v in bootstrap.ledger().list_violations("scanco").items}
    assert "D1" in clauses
    # The same batch delivered again (Kinesis retries whole batches) adds nothing.
    before = len(bootstrap.ledger().list_violations("scanco").items)
    handler.lambda_handler(event, lambda_context)
    assert len(bootstrap.ledger().list_violations("scanco").items) == before
