"""Soak: the local server stays flat under a long mixed run (issue "Lost responses and a slow local stack").

A local stack is started as ``aupctl local up`` starts it (a detached ``python -m aupctl.server`` with
the uploads dispatcher), then ``AUPCTL_SOAK_INVOCATIONS`` (default 2,000; ``--quick`` or
``AUPCTL_SOAK_QUICK=1``: 400) invocations go through aupctl's ``FunctionRunner``, in a fixed mix:

- 8 in 20: ``ApiLogAnalyzerFunction`` on one subscription payload of 200 lines from 20 accounts (honest
  traffic plus a prober and a busy integration, so findings, violations and stream records are
  written, and per-account metrics published from EMF);
- 6 in 20: ``AuthorizerFunction`` for one of the accounts' keys;
- 2 in 20: an upload to the uploads bucket (the server's dispatcher runs the scanner on it);
- 3 in 20: an admin call (get account, violations, list accounts, list reviews);
- 1 in 20: ``UsageMonitorFunction``'s scheduled sweep (it reads the metrics the analyzer published).

Every HTTP request any client of this process sends to the server is timed. Printed: the server's
resident memory (``/proc/<pid>/status`` VmRSS) and the p99 request latency at the start (the window
right after a warm-up of a tenth of the run) and at the end (the last tenth), each window at least
100 invocations.

Budgets (the local stack has no contract figures; these are what "flat" means here):
- RSS at the end <= 1.2 x RSS after the warm-up (growth under 20 %);
- p99 request latency at the end <= 1.5 x the p99 of the start window (plus 5 ms of slack: at a few
  milliseconds a single scheduler hiccup on a 2-core machine is otherwise a 1.5x).

Event times are built from a frozen instant (a replay of traffic), advancing so that the warm-up
covers 90 minutes: the usage monitor's reading window (15 periods of 5 minutes) is full from the start
window on. The run replays the same two hours of event time over and over (new log event ids, new
upload keys), so the product's own data (counters per window, one violation per window and rule,
metrics per minute) stops growing after the first pass: what still grows is the server's.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INVOCATIONS = 2_000
QUICK_INVOCATIONS = 400
ACCOUNTS = 20
LINES = 200
BASE = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
RSS_GROWTH_BUDGET = 1.20
P99_RATIO_BUDGET = 1.5
P99_SLACK_S = 0.005
# One block of 20 invocations, each function in a run of its own (aupctl's runner keeps one function
# warm at a time, as one Lambda environment would): 8 analyzer, 6 authorizer, 2 uploads, 3 admin
# calls, 1 usage sweep.
MIX = ("logs",) * 8 + ("authorizer",) * 6 + ("upload",) * 2 + ("admin",) * 3 + ("usage",)
WARM_EVENT_TIME = timedelta(minutes=90)  # the warm-up fills the usage monitor's 80-minute reading
CYCLE_EVENT_TIME = timedelta(hours=2)  # the traffic replays these two hours of event time over and over


# --- the server's side ---------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (Linux ``/proc``); 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RequestClock:
    """Times every HTTP request botocore sends from this process (handlers' clients included)."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, float]] = []  # (invocation index, seconds)
        self.step = 0
        self._lock = threading.Lock()

    def install(self) -> Callable[[], None]:
        from botocore.httpsession import URLLib3Session

        original = URLLib3Session.send
        clock = self

        def send(session: Any, request: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(session, request)
            finally:
                elapsed = time.perf_counter() - started
                with clock._lock:
                    clock.samples.append((clock.step, elapsed))

        URLLib3Session.send = send  # type: ignore[method-assign,assignment]

        def uninstall() -> None:
            URLLib3Session.send = original  # type: ignore[method-assign]

        return uninstall

    def p99(self, first: int, last: int) -> tuple[float, int]:
        """p99 (seconds) and count of the requests sent during invocations [first, last)."""
        with self._lock:
            window = sorted(s for i, s in self.samples if first <= i < last)
        if not window:
            return 0.0, 0
        return window[min(len(window) - 1, int(len(window) * 0.99))], len(window)


# --- events (aupctl's builders) ---------------------------------------------------------------


def access_line(
    at_ms: int, *, ip: str, agent: str, path: str, resource: str, status: int, account: str
) -> str:
    """One line of the contract's access-log format (aupctl's one builder)."""
    from aupctl import events

    return events.access_line(
        at_ms, ip=ip, agent=agent, path=path, resource=resource, status=status, account=account
    )


def subscription_event(lines: list[tuple[int, str]], first_id: int) -> dict[str, Any]:
    from aup.detectors.logs.parse import encode_payload

    data = encode_payload([line for _, line in lines], first_id=first_id, timestamps=[at for at, _ in lines])
    return {"awslogs": {"data": data}}


def authorizer_event(api_key: str, api_id: str, source_ip: str) -> dict[str, Any]:
    """The service API's REQUEST authorizer event (aupctl's one builder) from ``source_ip``."""
    from aupctl import events

    return events.authorizer_event(api_key, api_id=api_id, source_ip=source_ip, user_agent="soak-client/1.0")


def scheduled_event(at: datetime, n: int) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"soak-{n}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/UsageSweep"],
        "detail": {},
    }


# --- the workload ----------------------------------------------------------------------------------


@dataclass
class Workload:
    """The mixed invocations of the soak, against the stack ``runner`` points at."""

    runner: Any
    admin: Any
    keys: dict[str, str] = field(default_factory=dict)
    uploads: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    api_id: str = "local"
    bucket: str = ""
    step_time: timedelta = timedelta(seconds=30)  # event time advanced per invocation

    @property
    def accounts(self) -> list[str]:
        return sorted(self.keys)

    def setup(self) -> None:
        for n in range(ACCOUNTS):
            account, key = f"soak-{n:02d}", f"soak-key-{n:02d}-{uuid.uuid4().hex}"
            resp = self.admin.create_account(account, "standard", api_key=key)
            if resp.status not in (200, 201, 409):
                raise RuntimeError(f"create_account {account}: {resp.status} {resp.body}")
            self.keys[account] = key
        local = self.runner.local
        self.api_id = local.resources.get("ServiceApi", "local")
        self.bucket = local.outputs()["UploadsBucketName"]

    def at(self, i: int) -> datetime:
        cycle = max(1, int(CYCLE_EVENT_TIME / self.step_time))
        return BASE + self.step_time * (i % cycle)

    def step(self, i: int) -> str:
        kind = MIX[i % len(MIX)]
        try:
            getattr(self, f"_{kind}")(i)
        except Exception as err:  # counted and printed: a soak reports, it does not stop
            name = f"{kind}: {type(err).__name__}"
            self.errors[name] = self.errors.get(name, 0) + 1
        return kind

    def _logs(self, i: int) -> None:
        at_ms = int(self.at(i).timestamp() * 1000)
        lines: list[tuple[int, str]] = []
        accounts = self.accounts
        for n in range(LINES):
            account = accounts[n % len(accounts)]
            t = at_ms + n * 10
            if account == "soak-03" and i % 4 == 0:  # a prober, now and then
                path, resource, status = f"/.env.{n}", "/{proxy+}", 404
            elif account == "soak-07":  # a busy integration
                path, resource, status = f"/items/{n}", "/items/{id}", 200
            else:
                path, resource, status = f"/items/{n % 7}", "/items/{id}", 200
            line = access_line(
                t,
                ip=f"198.51.100.{10 + (n % len(accounts))}",
                agent="soak-client/1.0",
                path=path,
                resource=resource,
                status=status,
                account=account,
            )
            lines.append((t, line))
        self.runner.invoke("ApiLogAnalyzerFunction", subscription_event(lines, first_id=i * 1_000))

    def _authorizer(self, i: int) -> None:
        account = self.accounts[i % len(self.accounts)]
        event = authorizer_event(self.keys[account], self.api_id, f"198.51.100.{10 + i % 50}")
        self.runner.invoke("AuthorizerFunction", event)

    def _upload(self, i: int) -> None:
        account = self.accounts[i % len(self.accounts)]
        body = (f"invoice {i} for {account}\n" * 100).encode()
        key = f"accounts/{account}/soak-{i:06d}.txt"
        self.runner.local.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)
        self.uploads += 1

    def _admin(self, i: int) -> None:
        account = self.accounts[i % len(self.accounts)]
        call = i % 4
        if call == 0:
            self.admin.get_account(account)
        elif call == 1:
            self.admin.violations(account)
        elif call == 2:
            self.admin.list_accounts()
        else:
            self.admin.list_reviews()

    def _usage(self, i: int) -> None:
        self.runner.invoke("UsageMonitorFunction", scheduled_event(self.at(i), i))


# --- the run -----------------------------------------------------------------------------------------


def invocations(argv: list[str]) -> int:
    if "--quick" in argv or os.environ.get("AUPCTL_SOAK_QUICK") == "1":
        return QUICK_INVOCATIONS
    return int(os.environ.get("AUPCTL_SOAK_INVOCATIONS", DEFAULT_INVOCATIONS))


def soak(n: int, port: int | None = None) -> tuple[dict[str, float], list[str]]:
    """Run the soak against a fresh local stack; (figures, missed budgets)."""
    from aupctl import local, state
    from aupctl.admin import AdminClient
    from aupctl.runner import FunctionRunner, LocalStack

    port = port or state.free_port()
    st, _fresh = local.up(port, dispatcher=True)
    clock = RequestClock()
    uninstall = clock.install()
    devnull = open(os.devnull, "w")  # noqa: SIM115
    figures: dict[str, float] = {}
    try:
        runner = FunctionRunner(LocalStack(port, st.stack, Path(st.template)), log_stream=devnull)
        warm = max(50, n // 10)
        work = Workload(runner, AdminClient(runner), step_time=WARM_EVENT_TIME / warm)
        work.setup()
        window = max(100, n // 10)
        rss_start = 0
        started = time.perf_counter()
        for i in range(n):
            clock.step = i
            work.step(i)
            if i + 1 == warm:
                rss_start = rss_bytes(st.pid)
            if (i + 1) % max(1, n // 10) == 0:
                print(
                    f"   .. {i + 1}/{n} invocations, server RSS {rss_bytes(st.pid) / 2**20:.0f} MiB, "
                    f"{time.perf_counter() - started:.0f} s",
                    flush=True,
                )
        rss_end = rss_bytes(st.pid)
        p99_start, n_start = clock.p99(warm, warm + window)
        p99_end, n_end = clock.p99(n - window, n)
        figures = {
            "invocations": n,
            "seconds": time.perf_counter() - started,
            "rss_start_mib": rss_start / 2**20,
            "rss_end_mib": rss_end / 2**20,
            "p99_start_ms": p99_start * 1000,
            "p99_end_ms": p99_end * 1000,
            "requests_start": n_start,
            "requests_end": n_end,
            "uploads": work.uploads,
        }
        if work.errors:
            print(f"   errors: {json.dumps(work.errors)}")
    finally:
        uninstall()
        devnull.close()
        local.down(port)
    missed = []
    if figures:
        rss_ratio = figures["rss_end_mib"] / figures["rss_start_mib"] if figures["rss_start_mib"] else 0.0
        p99_budget = figures["p99_start_ms"] * P99_RATIO_BUDGET + P99_SLACK_S * 1000
        if not rss_ratio or rss_ratio > RSS_GROWTH_BUDGET:
            missed.append(f"server RSS grew x{rss_ratio:.2f} > x{RSS_GROWTH_BUDGET}")
        if figures["p99_end_ms"] > p99_budget:
            missed.append(f"p99 {figures['p99_end_ms']:.1f} ms > {p99_budget:.1f} ms")
    return figures, missed


def main(argv: list[str] | None = None) -> list[str]:
    argv = sys.argv[1:] if argv is None else argv
    n = invocations(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUPCTL_STATE_DIR"] = tmp
        try:
            figures, missed = soak(n)
        finally:
            os.environ.pop("AUPCTL_STATE_DIR", None)
    if not figures:
        return ["the soak did not run"]
    f = figures
    rss_ok = f["rss_end_mib"] <= f["rss_start_mib"] * RSS_GROWTH_BUDGET
    p99_ok = f["p99_end_ms"] <= f["p99_start_ms"] * P99_RATIO_BUDGET + P99_SLACK_S * 1000
    print(f"soak: {f['invocations']:.0f} invocations in {f['seconds']:.0f} s ({f['uploads']:.0f} uploads)")
    print(
        f"server RSS: start {f['rss_start_mib']:.0f} MiB, end {f['rss_end_mib']:.0f} MiB "
        f"(x{f['rss_end_mib'] / max(f['rss_start_mib'], 1e-9):.2f}; budget x{RSS_GROWTH_BUDGET}) "
        f"{'ok' if rss_ok else 'OVER'}"
    )
    print(
        f"p99 request latency: start {f['p99_start_ms']:.1f} ms ({f['requests_start']:.0f} requests), "
        f"end {f['p99_end_ms']:.1f} ms ({f['requests_end']:.0f} requests) "
        f"(budget x{P99_RATIO_BUDGET} + {P99_SLACK_S * 1000:.0f} ms) {'ok' if p99_ok else 'OVER'}"
    )
    return missed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
