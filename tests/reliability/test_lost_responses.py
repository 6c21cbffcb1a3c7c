"""Lost responses: DynamoDB applied the request, the client timed out waiting for the answer.

botocore retries a timed-out request with the same body. Every ledger transaction carries a
ClientRequestToken derived from what it writes, so the retry is the same transaction: DynamoDB (and
aupctl's moto server, ``aupctl.server.TransactionTokens``) answers it with success without applying
it again. Without the token the retry fails its own conditions: ``POST /accounts`` answered 409 for a
fresh key, a counter batch said "applied before", findings came back without their decisions.

The loss is injected below botocore's retry loop (``Endpoint._send``): the request reaches the moto
server and is applied, then the client raises ReadTimeoutError as a socket timeout would. A real
socket timeout (a server that never answers) checks that timeouts are reported as timeouts.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.reliability.support import EVENTS, load_sample, record_figures

pytestmark = [pytest.mark.slow, pytest.mark.server]

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@contextmanager
def lost_responses(monkeypatch: pytest.MonkeyPatch, operation: str, times: int = 1) -> Iterator[list[int]]:
    """The first ``times`` answers to ``operation`` are lost after the server applied the request."""
    from botocore.endpoint import Endpoint
    from botocore.exceptions import ReadTimeoutError

    real = Endpoint._send
    lost: list[int] = []

    def send(self: Any, request: Any) -> Any:
        response = real(self, request)
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        if target.endswith("." + operation) and len(lost) < times:
            lost.append(response.status_code)
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    with monkeypatch.context() as m:
        m.setattr(Endpoint, "_send", send)
        yield lost


def dynamodb(endpoint: str, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    from aup.adapters import aws

    merged = aws._config().merge(Config(**config)) if config else aws._config()
    return boto3.session.Session(region_name="us-east-1").client(
        "dynamodb", endpoint_url=endpoint, config=merged
    )


@pytest.fixture
def ledger(server_stack: Any) -> Any:
    from aup.bootstrap import ledger_on
    from aup.policy import load_default_policy

    return ledger_on(server_stack.table, load_default_policy(), dynamodb(server_stack.endpoint))


def test_post_accounts_whose_answer_was_lost_creates_the_account_once(
    server_stack: Any, monkeypatch: pytest.MonkeyPatch, ledger: Any
) -> None:
    from aup.domain.models import hash_api_key

    event = load_sample(EVENTS / "AdminApiFunction" / "create-account.json")
    event["body"] = json.dumps({"account_id": "lost-answer-co", "plan": "standard", "api_key": "k" * 24})
    with lost_responses(monkeypatch, "TransactWriteItems") as lost:
        result = server_stack.runner.invoke("AdminApiFunction", event).result
    assert lost == [200], "the server applied the first attempt and its answer was lost"
    assert result["statusCode"] == 201, result["body"]
    assert json.loads(result["body"])["account_id"] == "lost-answer-co"
    state = ledger.get_account("lost-answer-co")
    assert state is not None and state.registered and state.version == 1
    assert [a.action for a in ledger.list_audit("lost-answer-co")] == ["create"]
    key = ledger.get_key(hash_api_key("k" * 24))
    assert key is not None and key.account_id == "lost-answer-co"
    # The token makes the same request idempotent, not every request: the same key again is a conflict.
    again = server_stack.runner.invoke("AdminApiFunction", event).result
    assert again["statusCode"] == 409
    record_figures("lost-responses", injected=1, scenarios=1)


def test_findings_whose_transaction_answer_was_lost_are_applied_once_with_their_decisions(
    monkeypatch: pytest.MonkeyPatch, ledger: Any
) -> None:
    from aup.domain.models import AccountState, Finding, Source, hash_api_key

    ledger.create_account(
        AccountState(account_id="lost-findings", plan="standard"), hash_api_key("lf"), NOW, "t"
    )
    f = Finding(
        rule_id="D1-error-burst",
        clause="D1",
        account_id="lost-findings",
        source=Source.log,
        source_event_id="lost-window-1",
        detected_at=NOW,
    )
    with lost_responses(monkeypatch, "TransactWriteItems") as lost:
        (outcome,) = ledger.apply_findings([f], NOW + timedelta(minutes=1))
    assert lost == [200]
    assert [d.rule_id for d in outcome.decisions] == ["D1-error-burst"], "the answer lost its decisions"
    state = ledger.get_account("lost-findings")
    assert state is not None and len(state.strikes) == 1 and state.version == 2
    assert len(ledger.list_violations("lost-findings").items) == 1
    assert len(ledger.list_audit("lost-findings")) == 2  # create, strike
    record_figures("lost-responses", injected=1, scenarios=1)


def test_a_counter_batch_whose_answer_was_lost_is_applied_once_and_says_so(
    monkeypatch: pytest.MonkeyPatch, ledger: Any
) -> None:
    from aup.domain.ports import CounterUpdate

    updates = [
        CounterUpdate(scope="lost-counters", name=f"w#{i}", add={"requests": 7}, add_sets={"nets": ["a"]})
        for i in range(120)  # two chunks
    ]
    # The marker's answer and two counter updates' answers are lost: botocore's retry of each finds its
    # condition failed (the marker exists, the item carries the batch's id) and nothing counts twice.
    with (
        lost_responses(monkeypatch, "PutItem") as lost_marker,
        lost_responses(monkeypatch, "UpdateItem", times=2) as lost,
    ):
        assert ledger.add_counters_once("lost-marker-1", updates) is True
    assert lost_marker == [200] and lost == [200, 200]
    got = ledger.get_counters([("lost-counters", f"w#{i}") for i in range(120)])
    assert len(got) == 120 and {c["requests"] for c in got.values()} == {7}
    assert ledger.add_counters_once("lost-marker-1", updates) is False  # a redelivery adds nothing
    assert ledger.get_counters([("lost-counters", "w#0")])[("lost-counters", "w#0")]["requests"] == 7
    record_figures("lost-responses", injected=1, scenarios=1)


def test_a_transaction_that_timed_out_through_every_client_retry_is_retried_under_its_token(
    monkeypatch: pytest.MonkeyPatch, ledger: Any
) -> None:
    """botocore gave up (every attempt's answer lost, all applied as one): the ledger calls again with
    the same token (derived from the change, not per call), and that call is answered success."""
    from aup.domain.models import AccountState, hash_api_key

    attempts = ledger.store.ddb.meta.config.retries["total_max_attempts"]
    with lost_responses(monkeypatch, "TransactWriteItems", times=attempts) as lost:
        state = ledger.create_account(
            AccountState(account_id="lost-every-try", plan="free"), hash_api_key("every"), NOW, "t"
        )
    assert lost == [200] * attempts
    assert state.version == 1 and ledger.get_account("lost-every-try").version == 1
    assert [a.action for a in ledger.list_audit("lost-every-try")] == ["create"]
    record_figures("lost-responses", injected=attempts, scenarios=1)


def test_the_server_answers_a_replayed_token_as_dynamodb_does(server_stack: Any) -> None:
    from botocore.exceptions import ClientError

    ddb = dynamodb(server_stack.endpoint)

    def add(n: int) -> list[dict[str, Any]]:
        return [
            {
                "Update": {
                    "TableName": server_stack.table,
                    "Key": {"pk": {"S": "ACCOUNT#token-check"}, "sk": {"S": "COUNTER#c"}},
                    "UpdateExpression": "ADD #n :n",
                    "ExpressionAttributeNames": {"#n": "n"},
                    "ExpressionAttributeValues": {":n": {"N": str(n)}},
                }
            }
        ]

    def value() -> int:
        item = ddb.get_item(
            TableName=server_stack.table,
            Key={"pk": {"S": "ACCOUNT#token-check"}, "sk": {"S": "COUNTER#c"}},
            ConsistentRead=True,
        )["Item"]
        return int(item["n"]["N"])

    ddb.transact_write_items(TransactItems=add(5), ClientRequestToken="token-check-1")
    ddb.transact_write_items(TransactItems=add(5), ClientRequestToken="token-check-1")  # success, no effect
    assert value() == 5
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(TransactItems=add(6), ClientRequestToken="token-check-1")
    assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    ddb.transact_write_items(TransactItems=add(5), ClientRequestToken="token-check-2")  # a new request
    ddb.transact_write_items(TransactItems=add(5))  # no token: applied every time
    assert value() == 15


def test_the_token_window_is_ten_minutes_and_bounded() -> None:
    from aupctl.server import TransactionTokens

    applied: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        applied.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b"{}"]

    clock = [0.0]
    tokens = TransactionTokens(app, limit=3, clock=lambda: clock[0])

    def call(token: str, n: int = 1) -> str:
        import io

        body = json.dumps({"TransactItems": [n], "ClientRequestToken": token}).encode()
        environ = {
            "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.TransactWriteItems",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        status: list[str] = []
        tokens(environ, lambda s, h, *_: status.append(s))
        return status[0]

    assert call("a") == call("a") == "200 OK" and len(applied) == 1
    assert call("a", 2).startswith("400") and len(applied) == 1
    clock[0] = 601.0
    assert call("a") == "200 OK" and len(applied) == 2  # after 10 minutes: a new request
    for t in "bcde":
        call(t)
    assert len(tokens.seen) <= 4 and "a" not in tokens.seen  # the oldest forgotten first


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: every read times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        server.close()


def test_timeouts_are_reported_as_timeouts_naming_the_operation(silent_endpoint: str) -> None:
    from aup.bootstrap import ledger_on
    from aup.domain.models import Finding, Source
    from aup.domain.ports import CounterUpdate, LedgerTimeout, LedgerUnavailable
    from aup.policy import load_default_policy

    client = dynamodb(silent_endpoint, read_timeout=0.3, retries={"max_attempts": 2, "mode": "standard"})
    ledger = ledger_on("ledger", load_default_policy(), client)
    with pytest.raises(LedgerTimeout, match=r"GetItem\(account\).*ReadTimeoutError") as err:
        ledger.apply_findings(
            [
                Finding(
                    rule_id="D1-error-burst",
                    clause="D1",
                    account_id="acme-corp",
                    source=Source.log,
                    source_event_id="t",
                    detected_at=NOW,
                )
            ],
            NOW,
        )
    assert err.value.operation == "GetItem(account)"
    with pytest.raises(LedgerTimeout, match=r"PutItem\(counter marker\)"):
        ledger.add_counters_once("m", [CounterUpdate(scope="acme-corp", name="c", add={"n": 1})])

    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()  # nothing listens there: connection refused
    down = ledger_on("ledger", None, dynamodb(f"http://127.0.0.1:{port}", retries={"max_attempts": 1}))
    with pytest.raises(LedgerUnavailable, match=r"BatchGetItem\(authorizer\)") as unavailable:
        down.authorizer_lookup("k", None)
    assert not isinstance(unavailable.value, LedgerTimeout)
