"""The analyzer's shortcuts give what the straightforward computation gives, and the typed totals.

The batch regex against a match per line, numbered paths classified from their prefix against the
whole path; each rule fires at its bar; totals survive the trip through counter fields; the usage
documents.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Set as AbstractSet
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.logs import rules
from aup.detectors.logs.analyzer import _slow, analyze, read_lines, strictest_plan
from aup.detectors.logs.counters import MemoryCounters, shares_blocks, walk_steps
from aup.detectors.logs.members import WALK_BLOCK_BITS, digest, route_shape, tag, walk_member, walk_members
from aup.detectors.logs.parse import CONTRACT_LINE, raw_from_record
from aup.detectors.logs.signatures import LOGIN, PathInfo, Signatures
from aup.detectors.logs.totals import DayTotals, HourTotals, RateTotals, SourceTotals, counter_fields, read
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


def _whole(sig: Signatures, path: str) -> PathInfo:
    """A path's class the long way: every pattern over the whole path, its login segments, its digests."""
    flags, prefix, number, tenant = sig._classify_path(path)
    if sig.login_routes and sig._login(path):
        flags |= LOGIN
    member = walk_member(prefix, number) if number >= 0 else ""
    return PathInfo(flags, prefix, number, tenant, digest(path), member)


LOGINS = ("login", "signin", "7")  # a digits-only route too: the number itself is then a login segment


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from([*SEGMENTS, "login", "Signin", "sign-in"]), min_size=0, max_size=4),
    st.integers(min_value=0, max_value=10**13),
    st.booleans(),
    st.sampled_from([(), LOGINS]),
)
def test_numbered_paths_classify_as_whole_paths(
    segments: list[str], number: int, lead: bool, logins: tuple[str, ...]
) -> None:
    """The shortcut (the prefix's class, login check and digest head, remembered) gives what the whole
    path's classification gives, login flag and id-set member included."""
    sig = Signatures(("accounts", "tenants"), logins)
    path = ("/" if lead else "") + "/".join([*segments, str(number)])
    fast = sig._numbered_path(path)
    assert fast is None or fast == _whole(sig, path)
    assert sig.path(path) == _whole(sig, path)


def test_numbered_paths_take_the_shortcut() -> None:
    sig = Signatures(("accounts",), LOGINS)
    for path in ("/v1/orders/12345678", "/accounts/42", "/v1/login/9", "/v1/orders/7"):
        assert sig._numbered_path(path) == _whole(sig, path), path
    assert sig.path("/accounts/42").tenant == "42"
    assert sig.path("/v1/login/9").flags & LOGIN and sig.path("/v1/orders/7").flags & LOGIN
    assert not sig.path("/v1/orders/8").flags & LOGIN
    assert sig._numbered_path("/admin/42") is None  # an admin interface's first segment: whole path


@pytest.mark.parametrize(
    "path", ["/v1/orders/12345678", "/v1/orders", "/admin/42", "/x/..%2f..%2fetc/7", "/"]
)
def test_a_path_remembers_its_digest_and_id_member(path: str) -> None:
    """The crawl sample's digest and the W5 id-set member come with the path's class, as computed alone."""
    info = Signatures(("accounts",)).path(path)
    assert info.digest == digest(path)
    assert info.member == (walk_member(info.prefix, info.number) if info.number >= 0 else "")
    assert (info.member != "") == path.rpartition("/")[2].isdigit()


# --- each rule at its bar, and the typed totals -----------------------------------------------------

STRICT = strictest_plan(POLICY)
TAGS = [f"{i:08x}" for i in range(100)]
AT_THE_BAR: list[tuple[Any, str]] = [  # each rule's smallest firing totals under the strictest plan
    (
        RateTotals(
            requests=int(
                max(
                    CFG.request_flood.min_requests,
                    STRICT.requests_per_second * 300 * CFG.request_flood.rate_factor,
                )
            )
            + 1
        ),
        "D5a-request-flood",
    ),
    (
        RateTotals(  # every sampled path distinct, just above the plan's rate (at it: usage, not a crawl)
            requests=max(
                CFG.scraping.crawl_min_requests,
                int(STRICT.requests_per_second * 300 * CFG.within_plan.rate_tolerance) + 1,
            ),
            sampled_requests=CFG.scraping.crawl_min_sampled,
            sampled_paths=set(TAGS[: CFG.scraping.crawl_min_sampled]),
        ),
        "W5-crawl-ratio",
    ),
    (
        RateTotals(requests=25, errors=25, error_paths=set(TAGS[: CFG.probing.error_burst_distinct_paths])),
        "D1-error-burst",
    ),
    (
        RateTotals(requests=CFG.break_in.account_failures, refused=CFG.break_in.account_failures),
        "D2-auth-failure-burst",
    ),
    (HourTotals(sensitive=CFG.probing.sensitive_min_hits), "D1-sensitive-path"),
    (HourTotals(payload=CFG.probing.payload_min_hits), "D1-attack-payload"),
    (HourTotals(scanner=CFG.probing.scanner_min_hits), "D1-scanner-agent"),
    (
        HourTotals(foreign_probes=CFG.break_in.foreign_min_hits, foreign_ids={"a", "b", "c"}),
        "D2-foreign-account-probe",
    ),
    (
        HourTotals(  # a walk of ids 1..N in one collection, just above the plan's rate (a strike)
            walked_ids={walk_member("/v1/items", i) for i in range(1, CFG.scraping.enumeration_min_ids + 1)},
        ),
        "W5-id-enumeration",
    ),
    (
        HourTotals(undocumented_paths=set(TAGS[: CFG.scraping.undocumented_min_paths])),
        "W5-undocumented-routes",
    ),
    (HourTotals(claimed=CFG.spoofing.claimed_min_hits), "W1-claimed-account"),
    (HourTotals(forged_forwarded=CFG.spoofing.forwarded_min_hits), "W1-forged-forwarded-for"),
    (HourTotals(crawler=CFG.spoofing.crawler_min_hits), "W1-fake-crawler"),
    (
        HourTotals(
            networks=set(TAGS[: CFG.key_sharing.min_networks]), agents=set(TAGS[: CFG.key_sharing.min_agents])
        ),
        "G1-key-sharing",
    ),
    (
        DayTotals(requests=int(STRICT.requests_per_day * CFG.daily_usage.far_beyond_factor) + 1),
        "D5b-daily-requests",
    ),
    (
        DayTotals(egress_bytes=int(int(STRICT.egress_per_day) * CFG.daily_usage.far_beyond_factor) + 1),
        "D5b-daily-egress",
    ),
]
KINDS: dict[type, tuple[int, tuple[Any, ...]]] = {
    RateTotals: (300, rules.RATE_RULES),
    HourTotals: (3600, (*rules.HOUR_RULES, *rules.SHARING_RULES)),
    DayTotals: (86400, rules.DAY_RULES),
}


def _fired(totals: Any) -> set[str]:
    start = 1_700_000_100_000
    seconds, kind_rules = KINDS[type(totals)]
    w = rules.Window(
        "acct", "logs:w", seconds, totals, start + 299_000, start_ms=start if seconds == 300 else 0
    )
    return {f.rule_id for rule in kind_rules if (f := rule(w, STRICT, CFG)) is not None}


def test_each_rule_fires_at_its_bar_and_not_below() -> None:
    for totals, rule_id in AT_THE_BAR:
        assert rule_id in _fired(totals), totals
        nothing = type(totals)()
        assert _fired(nothing) == set()


def test_totals_survive_the_counter_item() -> None:
    samples: list[Any] = [
        RateTotals(requests=7, gap_squares=3, error_paths={"a", "b"}),
        HourTotals(sensitive=1, networks={"x"}, agents={"y", "z"}),
        DayTotals(requests=5, egress_bytes=10**12),
        SourceTotals(failures=2, identities={"k"}),
    ]
    for totals in samples:
        for prefix in ("", "s7."):
            nums, sets = counter_fields(totals, prefix)
            assert all(k.startswith(prefix) for k in [*nums, *sets])
            assert 0 not in nums.values() and all(sets.values())  # zero and empty are not written
            assert read(type(totals), {**nums, **sets}, prefix) == totals
    assert read(RateTotals, {}) == RateTotals()
    nums, _ = counter_fields(RateTotals(requests=3), "s2.")
    assert read(RateTotals, {**nums, "s3.n": 99}, "s2.").requests == 3  # another slot is another window


# --- id walks, set members, the memory store ------------------------------------------------------


def _walk_by_blocks(members: AbstractSet[str], max_step: int) -> tuple[int, int, int]:
    """``walk_steps`` the straightforward way: each block's positions, sorted, and their neighbours."""
    blocks: dict[str, list[int]] = {}
    for m in members:
        blocks.setdefault(m[:8], []).append(int(m[8:], 16))
    pairs = steps = 0
    for positions in blocks.values():
        positions.sort()
        pairs += len(positions) - 1
        steps += sum(b - a <= max_step for a, b in pairwise(positions))
    return len(members), pairs, steps


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["/v1/items", "/é/x", "/a/b/c"]), st.integers(0, 400) | st.integers(0, 10**9)
        ),
        max_size=300,
    ),
    st.integers(1, 20),
)
def test_walk_measures_equal_the_blockwise_count(ids: list[tuple[str, int]], max_step: int) -> None:
    members = {walk_member(prefix, n) for prefix, n in ids}
    ids_, pairs, steps = _walk_by_blocks(members, max_step)
    assert walk_steps(members, max_step) == (ids_, pairs, steps)
    assert shares_blocks(members) == (2 * pairs >= ids_)


_ID_BATCHES = st.lists(
    st.lists(st.integers(0, 300) | st.integers(0, 10**9), max_size=120).map(
        lambda ns: frozenset(walk_member("/v1/items", n) for n in ns)
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(_ID_BATCHES, st.booleans(), st.booleans())
def test_remembered_blocks_judge_as_a_fresh_count(
    batches: list[frozenset[str]], grow: bool, thaw: bool
) -> None:
    """An hour's id set read batch after batch (growing, or not: another store's sets under the same
    key), frozen or not: the remembered answer is the one counted afresh, every time."""
    key = ("acct", f"logs:h:{len(batches)}:{grow}:{thaw}")
    current: frozenset[str] = frozenset()
    for batch in batches:
        current = current | batch if grow else batch
        members = set(current) if thaw else current
        ids_, pairs, _ = _walk_by_blocks(members, 1)
        assert shares_blocks(members, key) == shares_blocks(members) == (2 * pairs >= ids_)
        assert shares_blocks(members, key) == shares_blocks(members)  # the same set again


def test_remembered_blocks_are_bounded() -> None:
    from aup.detectors.logs import counters

    for i in range(counters.BLOCK_MEMO_LIMIT * 2):
        shares_blocks(frozenset({walk_member("/v1/items", i)}), ("acct", i))
    assert 0 < len(counters._BLOCK_MEMO) <= counters.BLOCK_MEMO_LIMIT


@given(st.text(max_size=40), st.lists(st.integers(0, 10**15), max_size=40))
def test_walk_members_are_tags_of_blocks(prefix: str, numbers: list[int]) -> None:
    expected = [f"{tag(f'{prefix}#{n >> WALK_BLOCK_BITS}')}{n & 15:x}" for n in numbers]
    assert list(walk_members(prefix, numbers)) == expected
    assert [walk_member(prefix, n) for n in numbers] == expected


def test_memory_counters_hand_out_values_later_batches_do_not_change() -> None:
    store = MemoryCounters()
    update = CounterUpdate("acct", "logs:h:1", add={"n": 2}, add_sets={"eid": ["a", "b"]})
    assert store.add_counters_once("m1", [update])
    got = store.get_counters([("acct", "logs:h:1"), ("acct", "absent")])
    assert got == {("acct", "logs:h:1"): {"n": 2, "eid": {"a", "b"}}}
    with pytest.raises(AttributeError):  # frozen: a reader cannot change the store's set
        got[("acct", "logs:h:1")]["eid"].add("c")
    got[("acct", "logs:h:1")]["n"] = 99  # nor its numbers: the item is a copy
    assert store.add_counters_once("m2", [CounterUpdate("acct", "logs:h:1", add_sets={"eid": ["d"]})])
    assert not store.add_counters_once("m2", [update])  # once per marker
    again = store.get_counters([("acct", "logs:h:1")])[("acct", "logs:h:1")]
    assert again == {"n": 2, "eid": {"a", "b", "d"}}
    assert got[("acct", "logs:h:1")]["eid"] == {"a", "b"}  # later batches do not change what was read
    assert store.add_counters_once("m3", [CounterUpdate("acct", "logs:h:1", add_sets={"eid": ["a"]})])
    assert store.get_counters([("acct", "logs:h:1")])[("acct", "logs:h:1")]["eid"] is again["eid"]


def test_a_plan_rule_is_judged_again_under_the_accounts_own_plan() -> None:
    """Under the strictest plan an integration's 30 req/s walk trips D5a and the crawl ratio; under its
    own (business) plan they are its service and the walk is capped at a review: the plan rules that
    fired are judged again, the others stay as they were."""
    lines = [
        T.line(T.T0 + i * 33, account="erp-co", path=f"/v1/orders/{i}", resource="/v1/orders/{id}").text
        for i in range(9_000)
    ]
    lines += [T.line(T.T0 + 5_000 + i, account="erp-co", path="/.env", status=404).text for i in range(5)]
    records = read_lines(lines, CFG).records

    def judged(plan: str | None) -> dict[str, float]:
        found = analyze(records, marker="m", store=MemoryCounters(), policy=POLICY, plan_of=lambda a: plan)
        return {f.rule_id: f.confidence for f in found.findings}

    strict, own = judged(None), judged("business")  # no plan: the default, the strictest
    assert {"D5a-request-flood", "W5-crawl-ratio", "W5-id-enumeration", "D1-sensitive-path"} <= strict.keys()
    assert own == {
        "D1-sensitive-path": strict["D1-sensitive-path"],
        "W5-id-enumeration": CFG.within_plan.max_confidence,
    }


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


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/orders/8812/items?expand=1", "/v1/orders/{}/items"),
        ("/files/3f2a9c1e-7d4b-4e8a-9b1c-2d3e4f5a6b7c", "/files/{}"),
        ("/invoices/in_1Pz8Xk2eZvKYlo2C0a1b", "/invoices/{}"),
        ("/admin/users", "/admin/users"),  # words stay: probes ask for many of them
        ("/wp-login.php", "/wp-login.php"),
        ("/v2/reports", "/v2/reports"),  # a short segment with a digit is a route's name
        # content-addressed blobs: a digest with its algorithm, a hash or uuid with its file's extension
        ("/v2/acme/app/blobs/sha256:" + "ab12" * 16, "/v2/acme/app/blobs/{}"),
        ("/v1/renditions/9f86d081884c7d659a2feaa0c55ad015.webp", "/v1/renditions/{}"),
        ("/img/3f2a9c1e-7d4b-4e8a-9b1c-2d3e4f5a6b7c.jpg", "/img/{}"),
        ("/exports/88121.tar.gz", "/exports/{}"),
        ("/backup.sql", "/backup.sql"),  # a file's name stays: probes ask for many of them
        ("/index.php.bak", "/index.php.bak"),
        ("/v1/logout:now", "/v1/logout:now"),
    ],
)
def test_route_shape_collapses_record_ids_only(path: str, shape: str) -> None:
    assert route_shape(path) == shape


def test_login_routes_are_flagged_by_segment_whatever_the_class() -> None:
    sig = Signatures(login_routes=("login", "sessions"))
    assert sig.path("/auth/login").flags & LOGIN
    assert sig.path("/v1/sessions/991").flags & LOGIN  # a numbered path classified by its prefix
    assert sig.path("/login.php?next=/").flags & LOGIN
    assert not sig.path("/blog/loginless-design").flags & LOGIN
    assert not Signatures().path("/auth/login").flags & LOGIN  # no routes configured: none is a login


def test_a_brute_force_window_counted_before_logins_were_still_fires() -> None:
    """Counters written by the release before ``logins`` existed hold refused logins alone."""
    from aup.detectors.logs.rules import Window, login_brute_force

    cfg = POLICY.log_analysis
    old = RateTotals(requests=40, login_refused=cfg.break_in.login_failures)
    w = Window("acct", "logs:r300:1", 300, old, 1_000, start_ms=1)
    assert login_brute_force(w, POLICY.plan("standard"), cfg) is not None
    relayed = RateTotals(requests=600, login_refused=cfg.break_in.login_failures, logins=600)
    assert login_brute_force(Window("acct", "logs:r300:1", 300, relayed, 1_000, start_ms=1),
                             POLICY.plan("standard"), cfg) is None  # fmt: skip
