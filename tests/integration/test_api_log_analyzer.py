"""ApiLogAnalyzerFunction through its handler, against the template deployed in moto.

Each traffic fixture is delivered as CloudWatch Logs subscription payloads (many per fixture, as
CloudWatch batches them), so windows that span invocations are judged from the ledger's counters.
"""

from __future__ import annotations

import base64
import gzip
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from aup import bootstrap
from aup.detectors.logs.parse import MalformedPayload, encode_payload
from aup.domain.models import AccountState, Status, hash_api_key, hash_source
from tests.conftest import load_handler
from tests.unit.logs import traffic as T

PLANS = {
    "bizcorp": "business",
    "botfarm": "standard",
    "scrapeco": "standard",
    "resell-hub": "standard",
    "spoofy": "standard",
    "alice-studio": "free",
    "scanco": "free",
}
NOW = T.AT  # the traffic is generated for this instant (its T0 is three hours earlier)
# The clock is set to it (ticking, as on moto): the events' age is the same on any date.
pytestmark = pytest.mark.time_machine(NOW, tick=True)
_ids = itertools.count(1)


@pytest.fixture
def analyzer(stack: Any) -> Any:
    ledger = bootstrap.ledger()
    for account, plan in PLANS.items():
        ledger.create_account(
            AccountState(account_id=account, plan=plan), hash_api_key(f"key-{account}"), NOW, "test"
        )
    return load_handler("api_log_analyzer")


def subscription_event(lines: list[T.Line], first_id: int | None = None) -> dict[str, Any]:
    first = next(_ids) * 1_000_000 if first_id is None else first_id
    data = encode_payload([x.text for x in lines], first_id=first, timestamps=[x.ts for x in lines])
    return {"awslogs": {"data": data}}


def deliver(handler: Any, ctx: Any, lines: list[T.Line]) -> list[dict[str, Any]]:
    return [handler.lambda_handler(subscription_event(batch), ctx) for batch in T.chunks(lines)]


def violations(account: str) -> list[Any]:
    return bootstrap.ledger().list_violations(account, limit=100).items


def clauses(account: str) -> set[str]:
    return {v.clause for v in violations(account)}


def counted_requests(account: str) -> int:
    """Requests in the account's rate-window counters of the fixtures' first hour (slots ``s<n>.n``)."""
    (hour,) = bootstrap.ledger().get_counters([(account, f"logs:h:{T.T0 // 3_600_000}")]).values()
    return sum(v for k, v in hour.items() if k.startswith("s") and k.endswith(".n"))


def reviews_for(account: str) -> list[Any]:
    return [r for r in bootstrap.ledger().list_reviews(limit=500).items if r.account_id == account]


# --- honest callers yield nothing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, account",
    [
        (T.person_browsing, "alice-studio"),
        (T.business_integration, "bizcorp"),
    ],
)
def test_honest_traffic_yields_nothing(analyzer: Any, lambda_context: Any, make: Any, account: str) -> None:
    lines = make()
    results = deliver(analyzer, lambda_context, lines)
    assert sum(r["records"] for r in results) == len(lines)
    assert sum(r["findings"] for r in results) == 0
    assert violations(account) == []
    assert reviews_for(account) == []
    assert bootstrap.ledger().get_account(account).status is Status.active


# --- each abusive caller yields its clause --------------------------------------------------------


@pytest.mark.parametrize(
    "make, account, expected, suspended",
    [
        (T.robot, "botfarm", {"D5a"}, True),  # medium: a strike per window; 3 windows (11 min) suspend
        (T.scanner, "scanco", {"D1"}, True),  # high: temporary suspension
        (T.id_scraper, "scrapeco", {"W5"}, False),
        (T.resold_key, "resell-hub", {"G1"}, False),
        (T.spoofer, "spoofy", {"W1"}, True),
    ],
)
def test_abuse_yields_its_clause(
    analyzer: Any, lambda_context: Any, make: Any, account: str, expected: set[str], suspended: bool
) -> None:
    deliver(analyzer, lambda_context, make())
    assert expected <= clauses(account)
    assert clauses(account) <= expected | {"D1", "W5"}  # a scanner also crawls undocumented routes
    state = bootstrap.ledger().get_account(account)
    assert (state.status is Status.suspended) is suspended
    for v in violations(account):
        assert v.source == "log"
        assert T.T0 <= v.detected_at.timestamp() * 1000 < T.T0 + 3_600_000  # the events' time, not the clock
        assert "198.51.100" not in orjson.dumps(v.evidence).decode()  # no raw addresses in evidence


def test_robot_flood_judged_across_payloads(analyzer: Any, lambda_context: Any) -> None:
    """No single payload holds a flood (each carries <= 20 s of traffic); the counters add them up."""
    lines = T.robot()
    batches = list(T.chunks(lines))
    assert max(len(b) for b in batches) < 1500 < len(lines)  # the plan's bar per window is 2250
    results = [analyzer.lambda_handler(subscription_event(b), lambda_context) for b in batches]
    assert sum(r["findings"] for r in results) >= 1
    flood = [v for v in violations("botfarm") if v.rule_id == "D5a-request-flood"]
    assert len(flood) == 3  # one per 5-minute window crossed (11 minutes: 2 full windows and the next)
    assert flood[0].evidence["ratio"] > 6 and flood[0].confidence == 1.0


def test_credential_stuffing_blocks_the_source(analyzer: Any, lambda_context: Any) -> None:
    ip = "203.0.113.66"
    deliver(analyzer, lambda_context, T.credential_stuffing(ip=ip))
    record, block = bootstrap.ledger().authorizer_lookup(hash_api_key("key-bizcorp"), hash_source(ip))
    assert record is not None and block is not None
    assert block.rule_id.startswith("D2-")
    for victim in ("victim-one", "victim-two"):
        assert violations(victim) == []  # the victims whose keys worked are not punished


# --- delivery semantics ---------------------------------------------------------------------------


def test_payload_replayed_three_times_counts_once(analyzer: Any, lambda_context: Any) -> None:
    batches = list(T.chunks(T.robot(minutes=6)))
    events = [subscription_event(b) for b in batches]
    for _ in range(3):
        for e in events:
            analyzer.lambda_handler(e, lambda_context)
    assert counted_requests("botfarm") == sum(len(b) for b in batches)
    state = bootstrap.ledger().get_account("botfarm")
    assert len(violations("botfarm")) == len({v.violation_id for v in violations("botfarm")}) == 2
    assert len(state.strikes) == 2


def test_control_message_is_skipped(analyzer: Any, lambda_context: Any) -> None:
    data = encode_payload([], message_type="CONTROL_MESSAGE")
    assert analyzer.lambda_handler({"awslogs": {"data": data}}, lambda_context)["events"] == 0


@pytest.mark.parametrize(
    "data",
    [
        "not base64 at all!",
        base64.b64encode(b"plain text, not gzip").decode(),
        base64.b64encode(gzip.compress(b"{not json", mtime=0)).decode(),
        base64.b64encode(gzip.compress(b'{"logEvents": []}', mtime=0)).decode(),
        base64.b64encode(gzip.compress(b"[1, 2, 3]", mtime=0)).decode(),
    ],
)
def test_broken_subscription_envelope_fails_the_invocation(
    analyzer: Any, lambda_context: Any, data: str
) -> None:
    with pytest.raises(MalformedPayload):
        analyzer.lambda_handler({"awslogs": {"data": data}}, lambda_context)


def test_unknown_event_shape_fails(analyzer: Any, lambda_context: Any) -> None:
    with pytest.raises(MalformedPayload):
        analyzer.lambda_handler({"hello": "world"}, lambda_context)


def _kinesis(records: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000:{i}",
                "kinesis": {"sequenceNumber": f"4959{i:04d}", "partitionKey": "p", "data": d},
            }
            for i, d in enumerate(records)
        ]
    }


def test_kinesis_reports_the_broken_record_and_what_follows(analyzer: Any, lambda_context: Any) -> None:
    robot = T.robot(minutes=1)
    good1 = subscription_event(robot[:1000])["awslogs"]["data"]
    good2 = subscription_event(robot[1000:])["awslogs"]["data"]
    result = analyzer.lambda_handler(_kinesis([good1, "%%broken%%", good2]), lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "49590001"}, {"itemIdentifier": "49590002"}]}
    assert counted_requests("botfarm") == 1000  # only the records before the broken one
    # The platform retries from the broken record; once it is dropped, the rest is counted once.
    assert analyzer.lambda_handler(_kinesis([good2]), lambda_context) == {"batchItemFailures": []}
    assert counted_requests("botfarm") == len(robot)


def test_kinesis_all_good(analyzer: Any, lambda_context: Any) -> None:
    data = [subscription_event(b)["awslogs"]["data"] for b in T.chunks(T.scanner(), max_lines=100)]
    assert analyzer.lambda_handler(_kinesis(data), lambda_context) == {"batchItemFailures": []}
    assert "D1" in clauses("scanco")


def test_batch_mixing_good_broken_and_oversized_lines(analyzer: Any, lambda_context: Any) -> None:
    good = T.person_browsing(minutes=5)
    huge = T.line(T.T0, account="alice-studio", path="/v1/" + "a" * 40_000).text
    broken = [
        "{not json",
        "",
        "null",
        '{"requestTimeEpoch": "soon"}',
        '["a", "b"]',
        "\x00\x01garbage",
        f'{{"requestTimeEpoch": "{T.T0}", "status": {{"nested": 1}}, "path": 7}}',
    ]
    lines = [x.text for x in good] + broken + [huge]
    data = encode_payload(lines, first_id=next(_ids) * 1_000_000)
    result = analyzer.lambda_handler({"awslogs": {"data": data}}, lambda_context)
    # The last broken line has a valid time: its odd values are coerced, not fatal. The oversized line
    # is counted and still read, its long path clipped (padding is no bypass).
    assert result["records"] == len(good) + 2
    assert result["unparseable"] == len(broken) - 1
    assert result["oversized"] == 1


def test_api_gateway_documentation_format(analyzer: Any, lambda_context: Any) -> None:
    """The docs' JSON example has no account: its lines count, only source-scoped rules can fire."""
    doc = [
        orjson.dumps(
            {
                "requestId": f"r{i}",
                "ip": "203.0.113.9",
                "caller": "-",
                "user": "-",
                "requestTime": datetime.fromtimestamp(T.T0 / 1000 + i, UTC).strftime(
                    "%d/%b/%Y:%H:%M:%S +0000"
                ),
                "httpMethod": "GET",
                "resourcePath": "/v1/me",
                "status": "403",
                "protocol": "HTTP/1.1",
                "responseLength": "60",
            }
        ).decode()
        for i in range(120)
    ]
    data = encode_payload(doc, first_id=next(_ids) * 1_000_000)
    result = analyzer.lambda_handler({"awslogs": {"data": data}}, lambda_context)
    assert result["records"] == 120 and result["unparseable"] == 0
    _, block = bootstrap.ledger().authorizer_lookup(hash_api_key("x"), hash_source("203.0.113.9"))
    assert block is not None and block.rule_id == "D2-auth-failure-burst"


def test_usage_metrics_one_emf_document_per_account(analyzer: Any, lambda_context: Any, capsys: Any) -> None:
    lines = T.merge(T.person_browsing(minutes=3), T.business_integration(minutes=1))
    capsys.readouterr()
    analyzer.lambda_handler(subscription_event(lines), lambda_context)
    docs = [
        orjson.loads(ln)
        for ln in capsys.readouterr().out.splitlines()
        if ln.startswith("{") and '"AccountId"' in ln
    ]
    by_account = {d["AccountId"]: d for d in docs}
    assert len(docs) == len(by_account) == 2
    biz = by_account["bizcorp"]
    assert biz["RequestCount"] == sum(1 for x in lines if '"bizcorp"' in x.text)
    assert biz["EgressBytes"] == sum(
        int(orjson.loads(x.text)["responseLength"]) for x in lines if '"bizcorp"' in x.text
    )
    (cwm,) = biz["_aws"]["CloudWatchMetrics"]
    assert cwm["Namespace"] == "AUP/Usage" and cwm["Dimensions"] == [["AccountId"]]
    assert {m["Name"] for m in cwm["Metrics"]} == {"RequestCount", "EgressBytes"}


# --- a platform acting for its connected accounts (X-Account-Id), declared through the admin API -------


def test_a_declared_platform_naming_its_connected_accounts_is_not_struck(
    analyzer: Any, lambda_context: Any
) -> None:
    from tests.eventlib import admin_event

    admin = load_handler("admin_api")
    connected = ["shop-alpha", "shop-bravo", "shop-charlie"]
    for platform in ("declared-platform", "undeclared-platform"):
        created = admin.lambda_handler(
            admin_event("POST", "/accounts", {"account_id": platform, "plan": "business"}), lambda_context
        )
        assert created["statusCode"] == 201
    body = {"acts_for": [*reversed(connected), connected[0]], "reason": "platform contract 2026-114"}
    resp = admin.lambda_handler(
        admin_event("PUT", "/accounts/declared-platform/acts-for", body), lambda_context
    )
    assert resp["statusCode"] == 200 and orjson.loads(resp["body"])["acts_for"] == connected  # sorted, once
    (audit,) = [a for a in bootstrap.ledger().list_audit("declared-platform") if a.action == "acts-for"]
    assert audit.reason.endswith("platform contract 2026-114")

    deliver(analyzer, lambda_context, T.on_behalf("declared-platform", connected, n=40, every_ms=15_000))
    deliver(analyzer, lambda_context, T.on_behalf("undeclared-platform", connected, n=40, every_ms=15_000))

    assert violations("declared-platform") == []
    declared = bootstrap.ledger().get_account("declared-platform")
    assert declared.status is Status.active and declared.strikes == []
    assert {v.rule_id for v in violations("undeclared-platform")} == {"W1-claimed-account"}
    assert [s.rule_id for s in bootstrap.ledger().get_account("undeclared-platform").strikes] == [
        "W1-claimed-account"
    ]


def test_acts_for_rejects_what_is_no_account_id(analyzer: Any, lambda_context: Any) -> None:
    from tests.eventlib import admin_event

    admin = load_handler("admin_api")
    admin.lambda_handler(
        admin_event("POST", "/accounts", {"account_id": "some-platform", "plan": "business"}), lambda_context
    )
    for bad in (["Not An Id"], ["*", "shop-alpha"], ["x"] * 1 + ["shop-" + str(i) for i in range(1001)]):
        resp = admin.lambda_handler(
            admin_event("PUT", "/accounts/some-platform/acts-for", {"acts_for": bad}), lambda_context
        )
        assert resp["statusCode"] == 422, bad
    missing = admin.lambda_handler(
        admin_event("PUT", "/accounts/no-such-account/acts-for", {"acts_for": []}), lambda_context
    )
    assert missing["statusCode"] == 404
    assert bootstrap.ledger().get_account("some-platform").acts_for == []
