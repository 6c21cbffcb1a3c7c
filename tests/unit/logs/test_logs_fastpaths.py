"""The analyzer's fast paths give exactly what the plain paths give.

Each shortcut taken for throughput (the batch regex, skipped per-account passes, classifying numbered
paths by their prefix, skipping windows no rule can fire on, the ledger's cached expressions, the
assembled usage documents) is checked here against the straightforward computation it replaces.
"""

from __future__ import annotations

import gc
import io
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.adapters.dynamodb import DynamoLedger
from aup.detectors.logs import rules
from aup.detectors.logs.analyzer import _slow, read_lines, strictest_plan
from aup.detectors.logs.parse import CONTRACT_LINE, raw_from_record
from aup.detectors.logs.signatures import Signatures
from aup.detectors.logs.summary import _account_window, _by_bucket, _Odd
from aup.domain.ports import CounterUpdate
from aup.policy import load_policy
from aup.policy.sections.logs import LogAnalysis
from aup.usecases.analyze_logs import emit_usage, paused_gc
from tests.unit.logs import traffic as T

CFG = LogAnalysis()
POLICY = load_policy("")


# --- reading a batch ------------------------------------------------------------------------------


def _line_by_line(lines: list[str]) -> tuple[list[tuple[str, ...]], int, int]:
    records, bad, oversized = [], 0, 0
    for line in lines:
        if len(line) > CFG.max_line_bytes:
            oversized += 1
            continue
        m = CONTRACT_LINE(line)
        if m is not None:
            records.append(m.groups())
            continue
        rec = _slow(line, "json")
        if rec is None:
            bad += 1
        else:
            records.append(raw_from_record(rec))
    return records, bad, oversized


BASE = [x.text for x in T.merge(T.scanner()[:20], T.spoofer()[:20], T.credential_stuffing()[:20])]
mutations = st.sampled_from(
    [
        lambda s: s,
        lambda s: " " + s,
        lambda s: s + "\t",
        lambda s: s + "\r",
        lambda s: "\n" + s,
        lambda s: s.replace('"ip":"', '"ip":"a\nb'),
        lambda s: s.replace('"path":"', '"path":"\\"q\\"'),
        lambda s: s.replace('"path":"', '"path":"\\u00e9'),
        lambda s: s.replace('"path":"', '"path":"é'),
        lambda s: s.replace('"status":"', '"status":"4'),
        lambda s: s[:-1],
        lambda s: s + s,
        lambda s: "",
        lambda s: "x" * 17_000,
        lambda s: s.replace("{", "{ ", 1),
        lambda s: s[: len(s) // 2],  # cut inside a value: a value must not run on into the next line
        lambda s: s[: s.index('"status"')],
        lambda s: s.replace('"ip":"', '"ip":"a"b'),
        lambda s: s.replace('"status":"', '"status":"\n'),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(BASE), mutations), max_size=12))
def test_batch_read_equals_line_by_line(picked: list[tuple[str, Any]]) -> None:
    lines = [mutate(text) for text, mutate in picked]
    read = read_lines(lines, CFG)
    assert (read.records, read.unparseable, read.oversized) == _line_by_line(lines)


def test_a_cut_line_does_not_swallow_the_next() -> None:
    good = [x.text for x in T.robot(minutes=1)][:3]
    for cut in (good[0][:60], good[0][: good[0].index('"path"') + 9], good[0][:-2]):
        lines = [good[1], cut, good[2], good[0]]
        assert (read_lines(lines, CFG).records, read_lines(lines, CFG).unparseable) == _line_by_line(lines)[
            :2
        ]
        assert read_lines(lines, CFG).unparseable == 1


def test_batch_read_takes_generators_and_clean_batches() -> None:
    lines = [x.text for x in T.robot(minutes=1)]
    assert read_lines(iter(lines), CFG).records == _line_by_line(lines)[0]


# --- per-account passes skipped for accounts without the lines they read ------------------------


def test_skipped_passes_change_no_window() -> None:
    lines = [
        x.text
        for x in T.merge(
            T.person_browsing(),
            T.scanner(),
            T.spoofer(),
            T.credential_stuffing(),
            T.id_scraper(count=300),
            T.business_integration(minutes=2),
        )
    ]
    records = read_lines(lines, CFG).records
    for public in (frozenset(), frozenset({"/v1/me", "/v1/projects/{id}"})):
        odd = _Odd(records, public)
        fail = frozenset({"401", "403"})
        for account, group in itertools.groupby(sorted(records, key=lambda r: r[8]), key=lambda r: r[8]):
            for bucket, part, ts in _by_bucket(list(group), 300_000):
                kw: dict[str, Any] = {"failure_statuses": fail, "public_resources": public}
                plain = _account_window(account, bucket, part, ts, **kw)
                fast = _account_window(account, bucket, part, ts, odd=odd, **kw)
                assert {s: getattr(fast, s) for s in fast.__slots__} == {
                    s: getattr(plain, s) for s in plain.__slots__
                }


# --- numbered paths classified from their prefix --------------------------------------------------

SEGMENTS = [
    "v1",
    "orders",
    "accounts",
    "Tenants",
    "admin",
    "wp-admin",
    "phpmyadmin",
    ".git",
    ".env",
    "backup.sql",
    "actuator",
    "solr",
    "cgi-bin",
    "server-status",
    "..%2f",
    "%3Cscript%3E",
    "o%27brien",
    "",
    "x",
    "7",
]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=4),
    st.integers(min_value=0, max_value=10**13),
    st.booleans(),
)
def test_numbered_paths_classify_as_whole_paths(segments: list[str], number: int, lead: bool) -> None:
    sig = Signatures(("accounts", "tenants"))
    path = ("/" if lead else "") + "/".join([*segments, str(number)])
    fast = sig._numbered_path(path)
    assert fast is None or fast == sig._classify_path(path)


def test_numbered_paths_take_the_shortcut() -> None:
    sig = Signatures(("accounts",))
    assert sig._numbered_path("/v1/orders/12345678") == sig._classify_path("/v1/orders/12345678")
    assert sig._numbered_path("/accounts/42") == sig._classify_path("/accounts/42")
    assert sig._numbered_path("/accounts/42").tenant == "42"  # type: ignore[union-attr]
    assert sig._numbered_path("/admin/42") is None  # an admin interface's first segment: whole path


# --- windows no rule can fire on are skipped ------------------------------------------------------

nums = st.integers(min_value=0, max_value=200_000_000)
tags = st.sets(st.sampled_from([f"{i:08x}" for i in range(80)]), max_size=80)
PLANS = [POLICY.plan(name) for name in POLICY.plans]


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            **{k: nums for k in ("n", "nb", "gn", "gs", "gq", "dp", "e", "ef", "b")},
            **{
                k: nums
                for k in ("sens", "payl", "scan", "crawl", "claim", "xff", "fp", "en", "es", "em", "ud")
            },
            **{k: tags for k in ("ep", "fid", "udp", "net", "ua")},
        },
    ),
    st.sampled_from(PLANS),
    st.integers(min_value=0, max_value=299_000),
)
def test_skipped_windows_would_yield_nothing(totals: dict[str, Any], plan: Any, into_ms: int) -> None:
    """Whenever a rule of a kind fires, under any plan, that kind's necessary condition holds."""
    per_request = [totals.get(k, 0) for k in ("n", "nb", "e", "ef", "dp")]
    if any(per_request):  # as counted: every per-request tally is at most the requests
        totals["n"] = max(per_request)
    start = 1_700_000_100_000
    rate = rules.Window("acct", "logs:r300:1", 300, totals, start + into_ms, start_ms=start)
    hour = rules.Window("acct", "logs:h:1", 3600, totals, start + into_ms)
    day = rules.Window("acct", "logs:d:1", 86400, totals, start + into_ms)
    prefixed = {"s3." + k: v for k, v in totals.items()}
    if any(rule(rate, plan, CFG) for rule in rules.RATE_RULES):
        assert rules.rate_may_trip(prefixed, "s3.", CFG)
    if any(rule(hour, plan, CFG) for rule in (*rules.HOUR_RULES, *rules.SHARING_RULES)):
        assert rules.hour_may_trip(totals, CFG)
    if any(rule(day, plan, CFG) for rule in rules.DAY_RULES):
        assert rules.day_may_trip(totals, strictest_plan(POLICY), CFG)


STRICT = strictest_plan(POLICY)
AT_THE_BAR = [  # (kind, totals): each rule's smallest firing totals under the strictest plan
    (
        "rate",
        {
            "n": int(
                max(
                    CFG.request_flood.min_requests,
                    STRICT.requests_per_second * 300 * CFG.request_flood.rate_factor,
                )
            )
            + 1
        },
    ),
    ("rate", {"n": CFG.scraping.crawl_min_requests, "dp": CFG.scraping.crawl_min_requests}),
    ("rate", {"n": 25, "e": 25, "ep": {f"{i:08x}" for i in range(CFG.probing.error_burst_distinct_paths)}}),
    ("rate", {"n": CFG.break_in.account_failures, "ef": CFG.break_in.account_failures}),
    ("hour", {"sens": CFG.probing.sensitive_min_hits}),
    ("hour", {"payl": CFG.probing.payload_min_hits}),
    ("hour", {"scan": CFG.probing.scanner_min_hits}),
    ("hour", {"fp": CFG.break_in.foreign_min_hits, "fid": {"a", "b", "c"}}),
    ("hour", {"en": CFG.scraping.enumeration_min_ids, "es": CFG.scraping.enumeration_min_ids}),
    ("hour", {"udp": {f"{i:08x}" for i in range(CFG.scraping.undocumented_min_paths)}}),
    ("hour", {"claim": CFG.spoofing.claimed_min_hits}),
    ("hour", {"xff": CFG.spoofing.forwarded_min_hits}),
    ("hour", {"crawl": CFG.spoofing.crawler_min_hits}),
    (
        "hour",
        {
            "net": {f"{i:08x}" for i in range(CFG.key_sharing.min_networks)},
            "ua": {f"{i:08x}" for i in range(CFG.key_sharing.min_agents)},
        },
    ),
    ("day", {"n": int(STRICT.requests_per_day * CFG.daily_usage.far_beyond_factor) + 1}),
    ("day", {"b": int(int(STRICT.egress_per_day) * CFG.daily_usage.far_beyond_factor) + 1}),
]


def test_guards_open_exactly_at_each_rules_bar() -> None:
    start = 1_700_000_100_000
    for kind, totals in AT_THE_BAR:
        if kind == "rate":
            w = rules.Window("acct", "logs:r300:1", 300, totals, start + 299_000, start_ms=start)
            assert any(rule(w, STRICT, CFG) for rule in rules.RATE_RULES), totals
            assert rules.rate_may_trip({"s3." + k: v for k, v in totals.items()}, "s3.", CFG), totals
        elif kind == "hour":
            w = rules.Window("acct", "logs:h:1", 3600, totals, start)
            assert any(rule(w, STRICT, CFG) for rule in (*rules.HOUR_RULES, *rules.SHARING_RULES)), totals
            assert rules.hour_may_trip(totals, CFG), totals
        else:
            w = rules.Window("acct", "logs:d:1", 86400, totals, start)
            assert any(rule(w, STRICT, CFG) for rule in rules.DAY_RULES), totals
            assert rules.day_may_trip(totals, STRICT, CFG), totals


def test_guards_let_abuse_through() -> None:
    assert rules.rate_may_trip({"s0.n": 601}, "s0.", CFG)
    assert not rules.rate_may_trip({"s0.n": 12, "s1.n": 5000}, "s0.", CFG)
    assert rules.hour_may_trip({"scan": 3}, CFG) and not rules.hour_may_trip({"scan": 2, "net": {"a"}}, CFG)
    assert not rules.day_may_trip({"n": 10, "b": 10}, strictest_plan(POLICY), CFG)


# --- the ledger's counter writes --------------------------------------------------------------------


def _reference_update(table: str, u: CounterUpdate) -> dict[str, Any]:
    """The counter update as the ledger built it before its expressions were cached."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    adds: list[str] = []
    for i, (field, inc) in enumerate(sorted(u.add.items())):
        names[f"#a{i}"] = field
        values[f":a{i}"] = {"N": str(inc)}
        adds.append(f"#a{i} :a{i}")
    for i, (field, members) in enumerate(sorted(u.add_sets.items())):
        if not members:
            continue
        names[f"#s{i}"] = field
        values[f":s{i}"] = {"SS": sorted(set(members))}
        adds.append(f"#s{i} :s{i}")
    expr = ("ADD " + ", ".join(adds)) if adds else ""
    if u.expires_at is not None:
        names["#ttl"] = "expires_at"
        values[":ttl"] = {"N": str(int(u.expires_at.timestamp()))}
        expr = f"SET #ttl = :ttl {expr}".strip()
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": {"S": f"ACCOUNT#{u.scope}"}, "sk": {"S": f"COUNTER#{u.name}"}},
        "UpdateExpression": expr,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    if values:
        update["ExpressionAttributeValues"] = values
    return {"Update": update}


fields = st.text(alphabet="abcdefs.0123", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(fields, st.integers(min_value=-5, max_value=10**12), max_size=70),
    st.dictionaries(fields, st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), max_size=70),
    st.none() | st.integers(min_value=0, max_value=10**6),
)
def test_counter_updates_are_built_as_before(
    add: dict[str, int], sets: dict[str, list[str]], expires_in: int | None
) -> None:
    expires = None if expires_in is None else datetime(2026, 3, 2, tzinfo=UTC) + timedelta(seconds=expires_in)
    u = CounterUpdate(scope="acme-co", name="logs:h:1", add=add, add_sets=sets, expires_at=expires)
    ledger = DynamoLedger("t", POLICY, client=object())
    assert ledger._counter_update(u) == _reference_update("t", u)
    assert ledger._counter_update(u) == _reference_update("t", u)  # from the caches the second time


# --- usage documents and the collector -------------------------------------------------------------


def test_usage_documents_are_orjson_documents() -> None:
    usage = {"acme-co": (5, 1200, 1_760_000_000_123), 'we"ird': (1, 0, 3), "é-co": (0, 0, 0)}
    out = io.StringIO()
    assert emit_usage(usage, "AUP/Usage", out) == 3
    expected = [
        {
            "_aws": {
                "Timestamp": last,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "AUP/Usage",
                        "Dimensions": [["AccountId"]],
                        "Metrics": [
                            {"Name": "RequestCount", "Unit": "Count"},
                            {"Name": "EgressBytes", "Unit": "Bytes"},
                        ],
                    }
                ],
            },
            "AccountId": account,
            "RequestCount": n,
            "EgressBytes": b,
        }
        for account, (n, b, last) in usage.items()
    ]
    assert out.getvalue() == "".join(orjson.dumps(d).decode() + "\n" for d in expected)


def test_paused_gc_restores_the_collector() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
