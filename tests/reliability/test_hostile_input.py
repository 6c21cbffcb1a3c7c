"""Hostile input: every handler's event mutated by hypothesis, and the corpus of cases that once failed.

The oracle, for every function: the handler returns (having processed the valid parts), or rejects
with a clear error: a ValueError/TypeError subclass carrying a message, a 4xx JSON answer, a Deny, or a
batch item failure whose cause is such an error. Never a KeyError/AttributeError/IndexError (a crash
nobody decided), never a 5xx, and when the whole invocation is rejected, the ledger is exactly as before.
Everything runs against the deployed template in moto (the ``stack`` fixture).
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import load_handler
from tests.reliability.support import EVENTS, ROOT, SAMPLES_CLOCK, diff, load_sample, record_figures, snapshot

CORPUS = ROOT / "tests" / "reliability" / "corpus"
# The samples and the cases below are dated 2026-11-27: the clock is set to their day (ticking).
pytestmark = [
    pytest.mark.time_machine(SAMPLES_CLOCK, tick=True),
    # Expected here: a mutated stream record without eventID is published without idempotency
    # (RELIABILITY.md), and powertools says so. DynamoDB never sends such a record.
    pytest.mark.filterwarnings("ignore:No idempotency key value found:UserWarning"),
]
FAILURES = ROOT / ".pytest_cache" / "reliability-failures"
# Per property: CI time matters more than depth here (the corpus keeps what deeper runs found).
# RELIABILITY_EXAMPLES=500 explores further with fresh random seeds.
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    derandomize="RELIABILITY_EXAMPLES" not in os.environ,  # CI: the same cases every run, never flaky
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: a failure is saved to the corpus
    report_multiple_bugs=True,
)
CRASHES = (KeyError, AttributeError, IndexError, AssertionError, UnboundLocalError, NameError)
HANDLERS = {
    "ApiLogAnalyzerFunction": "api_log_analyzer",
    "UploadScannerFunction": "upload_scanner",
    "UsageMonitorFunction": "usage_monitor",
    "AuthorizerFunction": "authorizer",
    "AdminApiFunction": "admin_api",
    "NotifierFunction": "notifier",
    "SuspensionExpiryFunction": "suspension_expiry",
}

# --------------------------------------------------------------------------------------- strategies

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "Co"]), max_size=20),
    st.sampled_from(
        [
            "",
            "-",
            "\x00",
            "../../etc/passwd",
            "%2e%2e%2f%2e%2e%2f",
            "accounts/../../x",
            "' OR 1=1 --",
            "<script>alert(1)</script>",
            "\u202e\ufeff\u200b",
            "😀" * 50,
            "NaN",
            "1e309",
            "9" * 400,
        ]
    ),
    st.integers(min_value=10_000, max_value=100_000).map(lambda n: "A" * n),  # huge strings
)
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:5]):
            out += paths(v, (*prefix, i))
    return out


def mutate(event: Any, data: st.DataObject, rounds: int = 3) -> Any:
    """1..rounds structural mutations: a key removed, a value of the wrong type, an extra field."""
    event = copy.deepcopy(event)
    for _ in range(data.draw(st.integers(1, rounds), label="rounds")):
        options = paths(event)
        if not options:
            return data.draw(wrong_values, label="whole event")
        path = data.draw(st.sampled_from(options), label="path")
        parent = event
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        op = data.draw(st.sampled_from(["drop", "replace", "extra"]), label="op")
        if op == "drop" and isinstance(parent, dict):
            parent.pop(last, None)
        elif op == "extra" and isinstance(parent, dict):
            parent[data.draw(nasty_text, label="extra key")[:64] or "x"] = data.draw(wrong_values)
        else:
            parent[last] = data.draw(wrong_values, label="value")
    return event


def corrupt(blob: bytes, data: st.DataObject) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip", "garbage"]), label="corruption")
    if how == "truncate" and blob:
        return blob[: data.draw(st.integers(0, len(blob) - 1))]
    if how == "flip" and blob:
        i = data.draw(st.integers(0, len(blob) - 1))
        return blob[:i] + bytes([blob[i] ^ 0xFF]) + blob[i + 1 :]
    return data.draw(st.binary(max_size=200))


def hostile_payload(data: st.DataObject) -> str:
    """An ``awslogs.data`` / Kinesis ``data`` value: broken base64, gzip, JSON, or a mutated payload."""
    good = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/apigateway/access",
        "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": [
            {
                "id": "1",
                "timestamp": 1795795200000,
                "message": json.dumps(
                    {"requestId": "r", "principalId": "scanco", "path": "/.env", "status": "404"}
                ),
            }
        ],
    }
    layer = data.draw(st.sampled_from(["base64", "gzip", "json", "structure"]), label="layer")
    if layer == "structure":
        body = json.dumps(mutate(good, data)).encode()
    elif layer == "json":
        body = corrupt(json.dumps(good).encode(), data)
    else:
        body = json.dumps(good).encode()
    packed = gzip.compress(body) if layer != "gzip" else corrupt(gzip.compress(body), data)
    text = base64.b64encode(packed).decode()
    if layer == "base64":
        text = data.draw(st.sampled_from([text[: len(text) // 2], text + "!", text.replace("A", "*"), ""]))
    return text


# --------------------------------------------------------------------------------------- the oracle


class Oracle:
    def __init__(self, stack: Any, context: Any) -> None:
        from aup.adapters.aws import client

        self.ddb = client("dynamodb")
        self.table = stack.outputs["LedgerTableName"]
        self.context = context
        self.modules: dict[str, Any] = {}
        self.cases = 0
        self.rejected = 0

    def module(self, function: str) -> Any:
        if function not in self.modules:
            self.modules[function] = load_handler(HANDLERS[function])
        return self.modules[function]

    def check(self, function: str, event: Any) -> Any:
        """Run ``event`` through ``function``'s handler; fail the test on anything but a clear outcome.

        A failing event is saved under ``.pytest_cache/reliability-failures/`` for the corpus."""
        original = copy.deepcopy(event)
        try:
            return self._check(function, event)
        except AssertionError as exc:
            FAILURES.mkdir(parents=True, exist_ok=True)
            case = {"function": function, "why": str(exc)[:300], "event": original}
            name = hashlib.sha256(json.dumps(case, sort_keys=True, default=str).encode()).hexdigest()[:12]
            (FAILURES / f"{function}-{name}.json").write_text(json.dumps(case, indent=1, default=str))
            raise

    def _check(self, function: str, event: Any) -> Any:
        self.cases += 1
        module = self.module(function)
        before = snapshot(self.ddb, self.table)
        try:
            result = module.lambda_handler(event, self.context)
        except CRASHES as exc:
            raise AssertionError(f"{function} crashed with {type(exc).__name__}: {exc!r:.300}") from exc
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{function} rejected without a message: {type(exc).__name__}"
            self._unchanged(function, before)
            self.rejected += 1
            return exc
        except Exception as exc:
            from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

            if not isinstance(exc, BatchProcessingError):
                raise AssertionError(f"{function} raised {type(exc).__name__}: {exc!r:.300}") from exc
            self._unchanged(function, before)  # every record failed: the platform redelivers them all
            self.rejected += 1
            return exc
        self._result_is_clear(function, module, result)
        return result

    def _unchanged(self, function: str, before: dict[Any, Any]) -> None:
        changes = diff(before, snapshot(self.ddb, self.table))
        assert not changes, f"{function} rejected the event after writing: {changes[:10]}"

    def _causes_are_clear(self, function: str, causes: list[BaseException | None]) -> None:
        for cause in causes:
            assert cause is not None and not isinstance(cause, CRASHES), (
                f"{function}: a batch item failed with {type(cause).__name__}: {cause!r:.300}"
            )
            assert isinstance(cause, (ValueError, TypeError)), f"{function}: {type(cause).__name__}"

    def _result_is_clear(self, function: str, module: Any, result: Any) -> None:
        if function == "AuthorizerFunction":
            effect = result["policyDocument"]["Statement"][0]["Effect"]
            assert effect in ("Allow", "Deny")
        elif function == "AdminApiFunction":
            assert result["statusCode"] < 500, (
                f"admin API answered {result['statusCode']}: {result['body']:.300}"
            )
            json.loads(result["body"])
        elif isinstance(result, dict) and result.get("batchItemFailures"):
            # The batch processor caught each failed record's error (logged with its traceback) and
            # reported it: SQS / the stream redeliver it, then the DLQ / on-failure destination keeps it.
            self.rejected += 1


@pytest.fixture
def oracle(stack: Any, lambda_context: Any) -> Any:
    o = Oracle(stack, lambda_context)
    yield o
    record_figures("hostile", cases=o.cases, rejected_cleanly=o.rejected)


def samples(function: str) -> list[Any]:
    return [load_sample(p) for p in sorted((EVENTS / function).glob("*.json"))]


# --------------------------------------------------------------------------------------- properties


@pytest.mark.parametrize("function", sorted(HANDLERS))
@FUZZ
@given(data=st.data())
def test_mutated_sample_events_are_processed_or_rejected_clearly(oracle: Oracle, function: str, data: Any):
    base = data.draw(st.sampled_from(samples(function)), label="sample")
    oracle.check(function, mutate(base, data))


@FUZZ
@given(data=st.data())
def test_corrupted_log_payloads_are_rejected_without_a_write(oracle: Oracle, data: Any):
    kinesis = data.draw(st.booleans(), label="kinesis")
    if kinesis:
        good = load_sample(EVENTS / "ApiLogAnalyzerFunction" / "kinesis-credential-stuffing.json")
        event = copy.deepcopy(good)
        i = data.draw(st.integers(0, len(event["Records"]) - 1), label="broken record")
        event["Records"][i]["kinesis"]["data"] = hostile_payload(data)
    else:
        event = {"awslogs": {"data": hostile_payload(data)}}
    oracle.check("ApiLogAnalyzerFunction", event)


def s3_body(bucket: str, key: str, **obj: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-27T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10, **obj}},
            }
        ]
    }


def sqs(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": "r",
                "body": b if isinstance(b, str) else json.dumps(b),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
                "awsRegion": "us-east-1",
            }
            for i, b in enumerate(bodies)
        ]
    }


hostile_keys = st.one_of(
    st.sampled_from(
        [
            "accounts/acme-corp/../../etc/passwd",
            "accounts/../acme-corp/x",
            "accounts/acme-corp/%2e%2e/%2e%2e/x",
            "accounts/ACME/upper.txt",
            "accounts//double",
            "accounts/acme-corp/",
            "accounts/acme-corp/a b+c&d=e?f#g",
            "accounts/acme-corp/\u202ertl\u200b.txt",
            "accounts/acme-corp/日本語/ファイル.csv",
            "accounts/acme-corp/" + "x" * 900,
            "/accounts/acme-corp/lead-slash",
            "..",
            "accounts/acme-corp/new\nline",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=60).map(
        lambda t: "accounts/acme-corp/" + t
    ),
)


@FUZZ
@given(data=st.data())
def test_hostile_object_keys_are_scanned_or_reported_never_crash(oracle: Oracle, stack: Any, data: Any):
    """Real objects under hostile keys (URL-encoded as S3 sends them): each is scanned and tagged, or the
    record fails with a clear error; an unrelated good record in the same batch is processed."""
    from aup.adapters.aws import client

    s3 = client("s3")
    bucket = stack.outputs["UploadsBucketName"]
    key = data.draw(hostile_keys, label="key")
    if len(key.encode()) > 1024:
        key = key.encode()[:1024].decode(errors="ignore")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
    except Exception:  # a key S3 itself refuses never reaches the scanner
        return
    encode = data.draw(
        st.sampled_from([quote_plus, lambda k: quote(k, safe="/"), lambda k: k]), label="encoding"
    )
    good_key = "accounts/acme-corp/good.txt"
    s3.put_object(Bucket=bucket, Key=good_key, Body=b"fine")
    event = sqs(s3_body(bucket, encode(key)), s3_body(bucket, quote_plus(good_key)))
    result = oracle.check("UploadScannerFunction", event)
    assert isinstance(result, dict), result
    assert {"itemIdentifier": "m-1"} not in result["batchItemFailures"], "the good record was sunk"
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=good_key)["TagSet"]}
    assert tags.get("aup-verdict") == "clean"


# --------------------------------------------------------------------------------------- the corpus

CORPUS_CASES = sorted(CORPUS.glob("*/*.json"))


@pytest.mark.parametrize("path", CORPUS_CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CORPUS_CASES])
def test_corpus_case_is_processed_or_rejected_clearly(oracle: Oracle, stack: Any, path: Path):
    """Cases that once failed the oracle (``{"function", "why", "event"}``; ``${UPLOADS_BUCKET}`` is the
    stack's bucket)."""
    case = json.loads(
        path.read_text(encoding="utf-8").replace("${UPLOADS_BUCKET}", stack.outputs["UploadsBucketName"])
    )
    assert case["function"] == path.parent.name and case["why"]
    oracle.check(case["function"], case["event"])


def test_decoders_reject_zlib_bombs_and_odd_encodings_as_malformed() -> None:
    """Direct, cheap checks of the payload decoder the analyzer relies on."""
    from aup.detectors.logs.parse import MalformedPayload, decode_payload

    for bad in [
        "",
        "!!!",
        base64.b64encode(b"not gzip").decode(),
        base64.b64encode(zlib.compress(b"[1]")).decode(),
    ]:
        with pytest.raises(MalformedPayload):
            decode_payload(bad)
