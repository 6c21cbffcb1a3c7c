"""Realistic access-log traffic, generated: honest and abusive callers in the contract's JSON format.

Every generator is deterministic (seeded) and returns ``Line``s (event time ms, JSON text) sorted
by time. Times start at ``T0``; addresses come from the documentation ranges (RFC 5737 / 3849).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

# The instant the traffic is generated for: this process's clock when the module is imported. Tests that
# deliver it set their clock here (``pytest.mark.time_machine(T.AT, ...)``), so "three hours ago" holds
# however long the suite has been running, and on any date (the clock-shift guard moves it too).
AT = datetime.fromtimestamp(int(time.time()), UTC)
# Three hours before AT, on the hour: recent enough that a suspension decided from the events' own time
# is still in force when a test looks, and aligned with every counter window.
T0 = (int(AT.timestamp()) // 3600 - 3) * 3_600_000
# The start of the latest UTC day whose first 11 hours had ended by AT: traffic of up to 10 hours from
# here falls in one UTC day and before AT, whatever the hour the suite runs at (a per-day rule sees it
# whole; from T0 it would be cut in two at midnight when the suite runs in the evening).
DAY0 = (int(AT.timestamp()) * 1000 - 11 * 3_600_000) // 86_400_000 * 86_400_000
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass(frozen=True)
class Line:
    ts: int
    text: str


_counter = iter(range(10**9))


def line(
    ts: int,
    *,
    account: str = "-",
    ip: str = "198.51.100.10",
    agent: str = CHROME,
    method: str = "GET",
    path: str = "/",
    resource: str | None = None,
    status: int = 200,
    length: int = 1200,
    auth_error: str = "-",
    forwarded: str | None = None,
    claimed: str = "-",
    key_id: str = "-",
) -> Line:
    n = next(_counter)
    doc = {
        "requestId": f"req-{n:012d}",
        "extendedRequestId": f"ext{n:012d}=",
        "requestTimeEpoch": str(ts),
        "ip": ip,
        "userAgent": agent,
        "httpMethod": method,
        "path": path,
        "resourcePath": resource if resource is not None else path,
        "status": str(status),
        "responseLength": str(length),
        "principalId": account,
        "apiKeyId": key_id,
        "authorizerError": auth_error,
        "forwardedFor": forwarded if forwarded is not None else ip,
        "claimedAccount": claimed,
    }
    return Line(ts, orjson.dumps(doc).decode())


def merge(*streams: Iterable[Line]) -> list[Line]:
    return sorted((x for s in streams for x in s), key=lambda x: x.ts)


# --- honest ---------------------------------------------------------------------------------------


def person_browsing(account: str = "alice-studio", minutes: int = 30, seed: int = 1) -> list[Line]:
    """A person in a browser: page views every 5-60 s, each firing 3-8 API calls within ~0.4 s; a
    switch from the office network to a phone midway; the odd 404."""
    rnd = random.Random(seed)
    out: list[Line] = []
    t = T0
    end = T0 + minutes * 60_000
    projects = [rnd.randint(100, 999) for _ in range(6)]
    while t < end:
        mobile = t > T0 + minutes * 30_000
        ip, agent = ("203.0.113.77", SAFARI_IOS) if mobile else ("198.51.100.23", CHROME)
        p = rnd.choice(projects)
        calls = [
            ("/v1/me", "/v1/me"),
            ("/v1/projects", "/v1/projects"),
            (f"/v1/projects/{p}", "/v1/projects/{id}"),
            (f"/v1/projects/{p}/tasks", "/v1/projects/{id}/tasks"),
            (f"/v1/projects/{p}/members", "/v1/projects/{id}/members"),
            ("/v1/notifications", "/v1/notifications"),
            (f"/v1/projects/{p}/files", "/v1/projects/{id}/files"),
            ("/v1/search", "/v1/search"),
        ]
        for path, res in rnd.sample(calls, rnd.randint(3, 8)):
            status = 404 if rnd.random() < 0.02 else 200
            out.append(
                line(
                    t + rnd.randint(0, 400),
                    account=account,
                    ip=ip,
                    agent=agent,
                    path=path,
                    resource=res,
                    status=status,
                    length=rnd.randint(400, 30_000),
                )
            )
        t += rnd.randint(5_000, 60_000)
    return sorted(out, key=lambda x: x.ts)


def business_integration(
    account: str = "bizcorp", rate: float = 20.0, minutes: int = 12, seed: int = 2
) -> list[Line]:
    """A server-to-server integration on a business plan at ``rate`` req/s (its plan allows 50):
    regular timing, a client library's agent, two servers in one /24, sparse order ids."""
    rnd = random.Random(seed)
    out: list[Line] = []
    gap = 1000 / rate
    n = int(minutes * 60 * rate)
    for i in range(n):
        ts = T0 + int(i * gap + rnd.uniform(-gap * 0.2, gap * 0.2))
        r = rnd.random()
        if r < 0.35:
            oid = rnd.randint(10_000_000, 99_999_999)
            path, res, method = f"/v1/orders/{oid}", "/v1/orders/{id}", "GET"
        elif r < 0.6:
            path, res, method = "/v1/orders", "/v1/orders", "POST"
        elif r < 0.85:
            sku = f"SKU-{rnd.randint(1, 400):05d}"
            path, res, method = f"/v1/inventory/{sku}", "/v1/inventory/{sku}", "PUT"
        else:
            path, res, method = "/v1/orders", "/v1/orders", "GET"
        status = 404 if rnd.random() < 0.01 else (201 if method == "POST" else 200)
        out.append(
            line(
                ts,
                account=account,
                ip=f"192.0.2.{rnd.choice((11, 12))}",
                agent="python-requests/2.32.3",
                method=method,
                path=path,
                resource=res,
                status=status,
                length=rnd.randint(200, 4000),
            )
        )
    return sorted(out, key=lambda x: x.ts)


# --- abusive --------------------------------------------------------------------------------------


def robot(account: str = "botfarm", rate: float = 40.0, minutes: int = 11, seed: int = 3) -> list[Line]:
    """A robot at 8x a standard plan (5 req/s): 40 req/s, metronome timing, one agent, one address."""
    rnd = random.Random(seed)
    gap = 1000 / rate
    symbols = [f"S{i:03d}" for i in range(50)]
    return [
        line(
            T0 + int(i * gap + rnd.uniform(-1.5, 1.5)),
            account=account,
            ip="198.51.100.99",
            agent="Go-http-client/1.1",
            path=f"/v1/quotes/{symbols[i % 50]}",
            resource="/v1/quotes/{symbol}",
            length=rnd.randint(300, 600),
        )
        for i in range(int(minutes * 60 * rate))
    ]


SCANNER_PATHS = [
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/admin",
    "/phpmyadmin/index.php",
    "/backup.sql.gz",
    "/.aws/credentials",
    "/server-status",
    "/v1/projects/..%2f..%2f..%2fetc%2fpasswd",
    "/v1/search/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/v1/items/1%27%20OR%201=1--",
    "/cgi-bin/.%2e/.%2e/bin/sh",
    "/actuator/env",
    "/config.php.bak",
    "/solr/admin",
]


def scanner(account: str = "scanco", seed: int = 4) -> list[Line]:
    """An authenticated vulnerability scan: a scanner agent walking sensitive files, admin interfaces,
    traversal and injection probes and hundreds of guessed paths, nearly all 403/404."""
    rnd = random.Random(seed)
    out: list[Line] = []
    t = T0
    guesses = [
        f"/{w}{rnd.randint(1, 99)}"
        for w in ("api", "old", "test", "dev", "bak", "tmp", "v0", "legacy")
        for _ in range(30)
    ]
    for path in SCANNER_PATHS * 3 + guesses:
        t += rnd.randint(150, 600)
        out.append(
            line(
                t,
                account=account,
                ip="203.0.113.200",
                agent="sqlmap/1.8.2#stable (https://sqlmap.org)",
                path=path,
                resource="-",
                status=rnd.choice((403, 404, 404, 404)),
                length=150,
            )
        )
    return out


def credential_stuffing(ip: str = "203.0.113.66", attempts: int = 600, seed: int = 5) -> list[Line]:
    """One source trying leaked keys: nearly all denied by the authorizer, a few valid for victims."""
    rnd = random.Random(seed)
    victims = ["victim-one", "victim-two", "victim-three", "victim-four"]
    out: list[Line] = []
    t = T0
    for i in range(attempts):
        t += rnd.randint(150, 450)
        if i % 75 == 0:
            out.append(
                line(
                    t,
                    account=victims[(i // 75) % 4],
                    ip=ip,
                    agent="python-requests/2.31.0",
                    path="/v1/me",
                    status=200,
                    length=300,
                )
            )
        else:
            out.append(
                line(
                    t,
                    # What the authorizer puts in principalId for a refused key: a short hash, never
                    # an account id (so it is an identity the source tried, not an account's traffic).
                    account=f"unknown-key:{rnd.getrandbits(48):012x}",
                    ip=ip,
                    agent="python-requests/2.31.0",
                    path="/v1/me",
                    status=403,
                    length=60,
                    auth_error="Unauthorized",
                )
            )
    return out


def id_scraper(
    account: str = "scrapeco", start: int = 1000, count: int = 1500, rate: float = 3.0, seed: int = 6
) -> list[Line]:
    """A scraper walking product ids one by one at 3 req/s; ids that were deleted or private miss."""
    rnd = random.Random(seed)
    gap = 1000 / rate
    out = []
    for i in range(count):
        status = 404 if rnd.random() < 0.06 else (403 if rnd.random() < 0.03 else 200)
        out.append(
            line(
                T0 + int(i * gap + rnd.uniform(-50, 50)),
                account=account,
                ip="198.51.100.150",
                agent=FIREFOX,
                path=f"/v1/products/{start + i}",
                resource="/v1/products/{id}",
                status=status,
                length=rnd.randint(800, 5000),
            )
        )
    return out


def resold_key(
    account: str = "resell-hub", networks: int = 60, agents: int = 25, minutes: int = 50, seed: int = 7
) -> list[Line]:
    """One key used by many unrelated customers: 60 networks, 25 agents, ~1 req/s in total."""
    rnd = random.Random(seed)
    uas = [
        f"{base} Build/{rnd.randint(100, 999)}" for base in (CHROME, FIREFOX, SAFARI_IOS) for _ in range(9)
    ][:agents]
    ips = [
        f"{rnd.choice((198, 203))}.{rnd.randint(1, 250)}.{rnd.randint(1, 250)}.{rnd.randint(2, 250)}"
        for _ in range(networks)
    ]
    out = []
    for i in range(minutes * 60):
        k = rnd.randrange(networks)
        out.append(
            line(
                T0 + i * 1000 + rnd.randint(0, 900),
                account=account,
                ip=ips[k],
                agent=uas[k % agents],
                path=f"/v1/projects/{rnd.randint(100, 999)}",
                resource="/v1/projects/{id}",
                length=rnd.randint(500, 9000),
            )
        )
    return out


def spoofer(account: str = "spoofy", seed: int = 8) -> list[Line]:
    """Header games: claims another account, forges X-Forwarded-For with loopback, poses as Googlebot."""
    rnd = random.Random(seed)
    out = []
    ip = "198.51.100.201"
    for i in range(40):
        t = T0 + i * 7_000 + rnd.randint(0, 3000)
        out.append(
            line(
                t,
                account=account,
                ip=ip,
                agent=GOOGLEBOT,
                path=f"/v1/projects/{300 + i % 5}",
                resource="/v1/projects/{id}",
                claimed="victim-co" if i % 2 else "-",
                forwarded=f"127.0.0.1, {ip}" if i % 3 == 0 else ip,
            )
        )
    return out


def on_behalf(
    account: str, others: list[str], *, n: int = 30, every_ms: int = 20_000, status: int = 200
) -> list[Line]:
    """A platform's server calling the API for the accounts it manages, naming one of ``others`` in
    X-Account-Id on each request (in turn), on that account's path."""
    return [
        line(
            T0 + i * every_ms,
            account=account,
            ip="198.51.100.80",
            agent="MarketPlatform-Sync/5.2",
            path=f"/accounts/{others[i % len(others)]}/orders",
            resource="/accounts/{id}/orders",
            claimed=others[i % len(others)],
            status=status,
        )
        for i in range(n)
    ]


def chunks(lines: list[Line], max_lines: int = 4000, max_span_ms: int = 20_000) -> Iterator[list[Line]]:
    """Split a time-sorted stream into subscription-sized deliveries (by count and by time span)."""
    batch: list[Line] = []
    for x in lines:
        if batch and (len(batch) >= max_lines or x.ts - batch[0].ts > max_span_ms):
            yield batch
            batch = []
        batch.append(x)
    if batch:
        yield batch
