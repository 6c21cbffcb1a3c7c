"""Access-log parsing: both JSON formats, CLF, payload envelopes; nothing crashes the parser."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.logs.analyzer import read_lines
from aup.detectors.logs.parse import (
    CONTRACT_LINE,
    MalformedPayload,
    decode_payload,
    encode_payload,
    event_messages,
    parse_line,
    raw_from_record,
)
from aup.policy.sections.logs import LogAnalysis
from tests.unit.logs import traffic as T

CFG = LogAnalysis()
# The hand-written lines are dated 2026-03-02T09:00:05Z; parsing them runs on a clock frozen to that day.
pytestmark = pytest.mark.time_machine("2026-03-02T09:00:05Z", tick=False)


def test_contract_line_fast_and_slow_paths_agree() -> None:
    for x in T.scanner()[:30] + T.spoofer()[:10] + T.credential_stuffing()[:10]:
        m = CONTRACT_LINE(x.text)
        assert m is not None
        assert m.groups() == raw_from_record(parse_line(x.text))


def test_contract_line_fields() -> None:
    x = T.line(
        T.T0 + 5,
        account="acme-co",
        ip="203.0.113.5",
        path="/v1/a",
        status=404,
        length=77,
        claimed="other-co",
        forwarded="10.0.0.1, 203.0.113.5",
    )
    r = parse_line(x.text)
    assert r is not None
    assert (r.ts, r.account, r.ip, r.path, r.status, r.length) == (
        T.T0 + 5,
        "acme-co",
        "203.0.113.5",
        "/v1/a",
        404,
        77,
    )
    assert (r.claimed, r.forwarded, r.auth_error, r.key_id) == ("other-co", "10.0.0.1, 203.0.113.5", "", "")


def test_escaped_values_take_the_slow_path_and_still_parse() -> None:
    doc = orjson.loads(T.line(T.T0, account="acme-co", agent='Mozilla/5.0 "quoted"').text)
    text = orjson.dumps(doc).decode()
    assert CONTRACT_LINE(text) is None
    read = read_lines([text], CFG)
    assert read.unparseable == 0 and read.records[0][2] == 'Mozilla/5.0 "quoted"'


def test_documentation_json_format() -> None:
    line = orjson.dumps(
        {
            "requestId": "r1",
            "ip": "203.0.113.9",
            "caller": "-",
            "user": "-",
            "requestTime": "02/Mar/2026:09:00:05 +0000",
            "httpMethod": "GET",
            "resourcePath": "/v1/me",
            "status": "403",
            "protocol": "HTTP/1.1",
            "responseLength": "60",
        }
    ).decode()
    r = parse_line(line)
    assert r is not None
    assert r.ts == 1772442005000 and r.status == 403 and r.path == "/v1/me" and r.account == ""


def test_clf_format() -> None:
    line = '203.0.113.9 - acme-co [02/Mar/2026:09:00:05 +0000] "GET /v1/items/7 HTTP/1.1" 404 123 req-1'
    r = parse_line(line, fmt="clf")
    assert r is not None
    assert (r.ts, r.account, r.ip, r.method, r.path, r.status, r.length) == (
        1772442005000,
        "acme-co",
        "203.0.113.9",
        "GET",
        "/v1/items/7",
        404,
        123,
    )
    assert (
        parse_line(
            '1.2.3.4 - Not_An_Account [02/Mar/2026:09:00:05 +0000] "GET / HTTP/1.1" 200 -', fmt="clf"
        ).account
        == ""
    )
    assert parse_line("garbage", fmt="clf") is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "{",
        "null",
        "[]",
        '"x"',
        "{}",
        '{"requestTimeEpoch": "soon"}',
        '{"requestTimeEpoch": "0"}',
        '{"requestTime": "yesterday"}',
        '{"requestTime": "31/Foo/2026:09:00:05 +0000"}',
    ],
)
def test_unreadable_lines_are_none(line: str) -> None:
    assert parse_line(line) is None


def test_read_lines_counts_bad_and_oversized_and_keeps_a_scrubbed_sample() -> None:
    good = T.line(T.T0, account="acme-co").text
    secretish = '{"broken": "api_key=SECRET123 by bob@example.com'
    read = read_lines([good, secretish, "x" * 20_000, good], CFG)
    assert (len(read.records), read.unparseable, read.oversized) == (2, 1, 1)
    assert read.sample is not None and "SECRET123" not in read.sample and "bob@example.com" not in read.sample


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
keys = st.sampled_from(
    [
        "requestId",
        "requestTimeEpoch",
        "requestTime",
        "ip",
        "userAgent",
        "httpMethod",
        "path",
        "resourcePath",
        "status",
        "responseLength",
        "principalId",
        "apiKeyId",
        "authorizerError",
        "forwardedFor",
        "claimedAccount",
        "caller",
        "user",
        "protocol",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_values | st.from_regex(r"\d{1,14}", fullmatch=True), max_size=16))
def test_any_json_object_parses_or_is_rejected(doc: dict) -> None:
    text = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode() if _dumpable(doc) else "{}"
    r = parse_line(text)
    assert r is None or (isinstance(r.ts, int) and r.ts > 0 and all(isinstance(v, str) for v in r[1:7]))
    read = read_lines([text], CFG)
    assert len(read.records) + read.unparseable == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_parses_or_is_rejected(text: str) -> None:
    for fmt in ("json", "clf", "auto"):
        parse_line(text, fmt=fmt)
        read = read_lines([text], CFG, fmt=fmt if fmt != "auto" else "json")
        assert len(read.records) + read.unparseable + read.oversized == 1


def _dumpable(doc: dict) -> bool:
    try:
        orjson.dumps(doc)
    except TypeError:
        return False
    return True


def test_payload_roundtrip_and_control_message() -> None:
    payload = decode_payload(encode_payload(["a", "b"], first_id=5))
    assert event_messages(payload) == ([f"{5:056d}", f"{6:056d}"], ["a", "b"])
    control = decode_payload(encode_payload([], message_type="CONTROL_MESSAGE"))
    assert event_messages(control) == ([], [])


def test_odd_log_events_are_dropped_not_fatal() -> None:
    doc = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": "1", "message": "m"}, {"id": "2"}, 7, {"id": 3, "message": "n"}],
    }
    data = base64.b64encode(gzip.compress(orjson.dumps(doc))).decode()
    assert event_messages(decode_payload(data)) == (["1", "3"], ["m", "n"])


@pytest.mark.parametrize(
    "data",
    [
        "",
        "%%%",
        base64.b64encode(b"plain").decode(),
        base64.b64encode(gzip.compress(b"[]", mtime=0)).decode(),
        base64.b64encode(gzip.compress(b'{"messageType": "DATA_MESSAGE"}', mtime=0)).decode(),
    ],
)
def test_broken_envelopes_raise_malformed_payload(data: str) -> None:
    with pytest.raises(MalformedPayload):
        decode_payload(data)
