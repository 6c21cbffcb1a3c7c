"""The functions' boto3 clients: one Session, and the settings each service's client is built with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ParamValidationError
from moto import mock_aws

from aup.adapters import aws


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    aws.reset_clients()
    yield
    aws.reset_clients()


@mock_aws
def test_in_a_lambda_dynamodb_requests_are_validated_by_dynamodb_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ledger builds every DynamoDB request and DynamoDB validates it: in a Lambda the client skips
    its own check (botocore's CPU per counter write); every other client keeps botocore's."""
    assert aws.client_config("dynamodb", in_lambda=True).parameter_validation is False
    assert aws.client_config("s3", in_lambda=True).parameter_validation is True
    assert aws.client_config("dynamodb", in_lambda=True).retries == aws.client_config("s3").retries
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ApiLogAnalyzerFunction")
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_item(TableName="t", Key={"pk": {"S": 5}})  # type: ignore[dict-item]  # sent: moto answers it
    with pytest.raises(ParamValidationError):
        aws.client("s3").get_object(Bucket="b")  # Key missing: still botocore's own check


def test_a_lambda_of_the_local_stack_keeps_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ApiLogAnalyzerFunction")
    assert aws.client_config("dynamodb").parameter_validation is False
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")  # aupctl's runner points it at moto
    assert aws.client_config("dynamodb").parameter_validation is True


@mock_aws
def test_outside_a_lambda_the_client_still_checks_every_request() -> None:
    """Tests and the local stack keep botocore's check: moto accepts requests DynamoDB refuses (a number
    where a string belongs), so a malformed request must fail before it is sent."""
    assert aws.client_config("dynamodb").parameter_validation is True
    with pytest.raises(ParamValidationError):
        aws.client("dynamodb").get_item(TableName="t", Key={"pk": {"S": 5}})  # type: ignore[dict-item]


def test_every_request_carries_the_fixed_user_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore sends the configured User-Agent as it is, instead of assembling its own for each request
    (a sixth of its CPU per counter write): the header names the project and the function."""
    from botocore.awsrequest import AWSResponse

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ApiLogAnalyzerFunction")
    monkeypatch.setattr(aws, "_CONFIG", None)
    sent: list[str] = []

    class _Body:
        def stream(self, **_: object) -> Iterator[bytes]:
            yield b"{}"

    def answer(request: object, **_: object) -> AWSResponse:
        sent.append(request.headers["User-Agent"].decode())  # type: ignore[attr-defined]
        return AWSResponse("https://dynamodb", 200, {"x-amzn-requestid": "t"}, _Body())  # type: ignore[arg-type]

    ddb = aws.client("dynamodb")
    ddb.meta.events.register("before-send.dynamodb", answer)
    ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    ddb.get_item(TableName="t", Key={"pk": {"S": "b"}})
    assert len(sent) == 2 and sent[0] == sent[1]
    assert sent[0].startswith(aws.user_agent() + " Botocore/")
    assert sent[0].startswith("aup-enforcer/ApiLogAnalyzerFunction Python/")
    monkeypatch.setattr(aws, "_CONFIG", None)  # the next test builds the settings afresh
