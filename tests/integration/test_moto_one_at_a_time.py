"""The tests' in-process moto applies one DynamoDB request at a time (``tests.conftest``), as DynamoDB
applies each atomically: the ledger writes a batch's counters from several threads, and moto's backends
hold no locks (two first writes into a new partition could each create it, losing one of the items)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend


def test_a_second_request_waits_while_one_is_inside_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    inside, entered, release = [0], threading.Event(), threading.Event()
    most = [0]
    real = DynamoDBBackend.put_item

    def put_item(self: Any, *args: Any, **kw: Any) -> Any:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        entered.set()
        release.wait(10)
        try:
            return real(self, *args, **kw)
        finally:
            inside[0] -= 1

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)
        threads = [
            threading.Thread(target=ddb.put_item, kwargs={"TableName": "t", "Item": {"pk": {"S": f"k{i}"}}})
            for i in range(4)
        ]
        for t in threads:
            t.start()
        assert entered.wait(10), "no request reached the backend"
        # the others had every chance to enter while the first is held inside
        for t in threads:
            t.join(0.2)
        assert inside[0] == 1
        release.set()
        for t in threads:
            t.join(10)
        assert most[0] == 1, "two DynamoDB requests were inside moto's backend at once"
        keys = {i["pk"]["S"] for i in ddb.scan(TableName="t")["Items"]}
        assert keys == {f"k{i}" for i in range(4)}
