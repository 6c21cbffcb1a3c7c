"""The local server's bounds on what moto accumulates (``aupctl.server.bound_moto``), under ``mock_aws``.

The soak in ``make bench`` measures the server's memory and latency over a long run; these tests prove
the bounds themselves and that they keep what the product reads: a failed transaction still rolls
back (without copying the table), the stream keeps only its newest records with their sequence
numbers (and moto's instance tracking lets the dropped ones go), and folded CloudWatch datapoints answer the usage monitor's queries exactly as the raw ones.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aupctl import server

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TABLE = "bounds-ledger"


@pytest.fixture
def bounds() -> Iterator[Callable[..., server.MotoBounds]]:
    """Installs the bounds; ``bounds(stream_records=…)`` sets limits; the defaults come back after."""
    saved = dataclasses.replace(server.BOUNDS)
    server.bound_moto()
    yield lambda **limits: server.bound_moto(dataclasses.replace(saved, **limits))
    server.bound_moto(saved)


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def _table() -> Any:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return ddb


def _moto_table() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]


def _stream_records(iterator_type: str = "TRIM_HORIZON") -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=iterator_type)
    out: list[dict[str, Any]] = []
    iterator = it["ShardIterator"]
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        out.extend(page["Records"])
        if not page["Records"]:
            return out
        iterator = page["NextShardIterator"]


def _counter(n: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": f"ACCOUNT#a{n % 7}"}, "sk": {"S": "COUNTER#hour"}},
            "UpdateExpression": "ADD #n :one SET #slots = :slots",
            "ExpressionAttributeNames": {"#n": "n", "#slots": "slots"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":slots": {"L": [{"N": str(n)}] * 12}},
        }
    }


def test_the_stream_keeps_its_newest_records_with_their_sequence_numbers(aws, bounds) -> None:
    bounds(stream_records=100)
    ddb = _table()
    for n in range(350):
        ddb.transact_write_items(TransactItems=[_counter(n), _counter(n + 1)])  # 700 stream records

    shard = _moto_table().stream_shard
    assert len(shard.items) <= 110  # the cap plus the tenth it trims in
    records = _stream_records()
    assert len(records) == len(shard.items)
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Sequence numbers go on from where the untrimmed stream would be: 700 records, none reused.
    assert seqs[-1] == shard.starting_sequence_number + len(shard.items) - 1
    assert seqs[-1] - seqs[0] == len(seqs) - 1
    first_ever = seqs[-1] - 699
    assert seqs[0] > first_ever
    # The newest record is the last write, with both images.
    assert records[-1]["dynamodb"]["NewImage"]["slots"]["L"][0] == {"N": "350"}
    assert "OldImage" in records[-1]["dynamodb"]

    # moto's per-class instance tracking holds the trimmed records no longer (weak references).
    from moto.dynamodb.models.table import StreamRecord

    gc.collect()
    tracked = list(getattr(StreamRecord, "instances_tracked"))  # set by moto's metaclass
    assert len(tracked) <= 110
    assert {id(r) for r in tracked} == {id(r) for r in shard.items}

    # A reader from LATEST sees exactly the next write.
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    sid = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType="LATEST")
    ddb.transact_write_items(TransactItems=[_counter(1000)])
    page = streams.get_records(ShardIterator=latest["ShardIterator"])
    assert [r["dynamodb"]["NewImage"]["slots"]["L"][0]["N"] for r in page["Records"]] == ["1000"]


def test_a_failed_transaction_rolls_back_without_copying_the_table(aws, bounds, monkeypatch) -> None:
    from moto.dynamodb.models.table import Table

    ddb = _table()
    for account in "abc":
        item = {"pk": {"S": f"ACCOUNT#{account}"}, "sk": {"S": "STATE"}, "version": {"N": "1"}}
        ddb.put_item(TableName=TABLE, Item=item)
    table = _moto_table()
    records_before = len(table.stream_shard.items)

    def no_copies(self: Any, memo: Any) -> Any:
        raise AssertionError("the whole table was deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", no_copies, raising=False)
    bump = {
        "TableName": TABLE,
        "UpdateExpression": "SET version = :new",
        "ConditionExpression": "version = :old",
        "ExpressionAttributeValues": {":new": {"N": "2"}, ":old": {"N": "1"}},
    }
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(
            TransactItems=[
                {"Update": {**bump, "Key": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "STATE"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "VIOLATION#1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Delete": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "ACCOUNT#c"}, "sk": {"S": "STATE"}},
                    }
                },
                {  # fails: the version is 1
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "ACCOUNT#b"}, "sk": {"S": "STATE"}},
                        "ConditionExpression": "version = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
            ]
        )
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _moto_table() is table  # rolled back in place
    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in ddb.scan(TableName=TABLE)["Items"]}
    assert set(items) == {("ACCOUNT#a", "STATE"), ("ACCOUNT#b", "STATE"), ("ACCOUNT#c", "STATE")}
    assert items[("ACCOUNT#a", "STATE")]["version"] == {"N": "1"}
    assert len(table.stream_shard.items) == records_before  # the failed writes left no records

    # The same transaction without the failing check applies, with its stream records.
    ddb.transact_write_items(
        TransactItems=[{"Update": {**bump, "Key": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "STATE"}}}}]
    )
    got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "STATE"}})["Item"]
    assert got["version"] == {"N": "2"}
    assert len(table.stream_shard.items) == records_before + 1


def _put_usage(cw: Any, points: list[tuple[str, datetime, float]]) -> None:
    for start in range(0, len(points), 500):
        cw.put_metric_data(
            Namespace="AUP/Usage",
            MetricData=[
                {
                    "MetricName": "RequestCount",
                    "Dimensions": [{"Name": "AccountId", "Value": account}],
                    "Timestamp": at,
                    "Value": value,
                    "Unit": "Count",
                }
                for account, at, value in points[start : start + 500]
            ],
        )


def test_folded_metrics_stay_under_the_cap_and_read_as_the_raw_ones(aws, bounds) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    from aup.detectors.usage.metrics import CloudWatchMetricsReader, SeriesQuery

    bounds(metric_points=1_000)
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    start = NOW - timedelta(minutes=75)
    # 3 accounts x one point every 5 s for 75 minutes: 2,700 raw points, 225 account-minutes.
    points = [
        (f"acct-{a}", start + timedelta(seconds=5 * n), float((n * 7 + a) % 13))
        for n in range(900)
        for a in range(3)
    ]
    _put_usage(cw, points)
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    assert len(backend.metric_data) <= 2_000  # folded at least once: never more than 2x the cap held

    reader = CloudWatchMetricsReader("AUP/Usage", cw)
    queries = [
        SeriesQuery(f"acct-{a}", "RequestCount", stat, 300) for a in range(3) for stat in ("Sum", "Maximum")
    ]
    got = reader.read(queries, start, NOW)
    for q, series in zip(queries, got, strict=True):
        expected: dict[datetime, list[float]] = {}
        for account, at, value in points:
            if account == q.account_id:
                period = start + timedelta(seconds=(at - start).total_seconds() // 300 * 300)
                expected.setdefault(period, []).append(value)
        want = {p: (sum(v) if q.statistic == "Sum" else max(v)) for p, v in expected.items()}
        assert {ts.astimezone(UTC): value for ts, value in series} == pytest.approx(want), q


def test_metrics_older_than_the_retention_before_the_newest_are_dropped_at_a_fold(aws, bounds) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    bounds(metric_points=50, metric_retention=timedelta(days=15))
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    old = [("acct-old", NOW - timedelta(days=16, seconds=n), 1.0) for n in range(30)]
    recent = [("acct-new", NOW - timedelta(days=14 * (n % 2), seconds=n), 1.0) for n in range(30)]
    _put_usage(cw, old)
    _put_usage(cw, recent)  # 60 points > 50: a fold
    kept = cloudwatch_backends["123456789012"]["us-east-1"].metric_data
    accounts = {d.value for md in kept for d in md.dimensions}
    assert accounts == {"acct-new"}
    assert sum(getattr(md, "sample_count") for md in kept) == 30  # folded: statistic sets
