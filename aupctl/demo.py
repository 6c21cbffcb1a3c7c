"""``aupctl demo``: a fresh local stack, a scenario through every signal, tables and an HTML report.

Five accounts on different plans: one honest, one probing the API (access logs), one uploading the
EICAR test virus (uploads, through S3 -> SQS -> the dispatcher), one burning CPU far beyond its plan
(usage metrics), and one an operator suspends. Each signal's part is skipped, with a note, while its
function is still a placeholder, so the demo runs at every stage of the project. The stack is
always shut down, even when a step fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aupctl import local, state, tables
from aupctl.admin import AdminClient, items_of
from aupctl.dispatcher import scan_verdict
from aupctl.errors import CliError
from aupctl.events import access_line, authorizer_event, scheduled_event
from aupctl.runner import FunctionRunner, LocalStack

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
PERIOD = timedelta(minutes=5)
PROBES = (
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/backup.sql",
    "/admin/",
    "/items/1'%20OR%20'1'='1",
    "/items/..%2f..%2f..%2fetc%2fpasswd",
    "/search?q=<script>alert(1)</script>",
    "/phpmyadmin/",
    "/server-status",
    "/config.json",
    "/.aws/credentials",
)


@dataclass
class Actor:
    account_id: str
    plan: str
    story: str
    api_key: str = field(default="", repr=False)


ACTORS = [
    Actor("honest-co", "standard", "Honest customer: ordinary API traffic, a clean upload, modest usage."),
    Actor("probe-bot", "standard", "Scans the API with sqlmap for secrets and injection points (D1)."),
    Actor("malware-drop", "free", "Uploads the EICAR test virus to its storage (I3)."),
    Actor("cpu-hog", "free", "Burns CPU far beyond the free plan, sustained for 20 minutes (D5)."),
    Actor("bad-actor", "business", "Suspended by an operator after a trust-and-safety review (E1)."),
]


@dataclass
class DemoResult:
    endpoint: str = ""
    started_at: str = ""
    notes: list[str] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (signal, what happened)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    violations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    authorizer: list[dict[str, str]] = field(default_factory=list)
    uploads: list[dict[str, str]] = field(default_factory=list)
    stories: dict[str, str] = field(default_factory=dict)
    audit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # account -> its audit trail
    quarantined: dict[str, dict[str, Any]] = field(default_factory=dict)  # uploads key -> export's record
    quarantine_bucket: str = ""
    policy_version: str = ""  # the policy the stack's functions load
    console_url: str = ""  # a running console's URL, when there is one


class Demo:
    def __init__(self, port: int, log_path: Path) -> None:
        self.local = LocalStack(port)
        self.log = log_path.open("a", encoding="utf-8")
        self.runner = FunctionRunner(self.local, log_stream=self.log)
        self.admin = AdminClient(self.runner)
        self.outputs = self.local.outputs()
        self.result = DemoResult(
            endpoint=self.local.endpoint,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            stories={a.account_id: a.story for a in ACTORS},
            quarantine_bucket=self.outputs.get("QuarantineBucketName", ""),
        )

    def close(self) -> None:
        self.log.close()

    def ready(self, function: str, signal: str) -> bool:
        if self.runner.spec(function).is_placeholder:
            self.say(signal, f"skipped: {function} is still a placeholder")
            return False
        return True

    def say(self, signal: str, text: str) -> None:
        print(f"  [{signal}] {text}", flush=True)
        self.result.steps.append((signal, text))

    # ------------------------------------------------------------------------------- the scenario

    def play(self) -> None:
        if not self.ready("AdminApiFunction", "accounts"):
            raise CliError("the demo needs AdminApiFunction to register accounts")
        for actor in ACTORS:
            response = self.admin.create_account(actor.account_id, actor.plan)
            if not response.ok:
                raise CliError(f"could not register {actor.account_id}: {response.error_message()}")
            actor.api_key = response.body["api_key"]
            self.say("accounts", f"registered {actor.account_id} on plan {actor.plan}")
        self.uploads()
        self.access_logs()
        self.usage()
        response = self.admin.suspend("bad-actor", "terms breach confirmed by trust & safety")
        self.say("operator", f"suspended bad-actor through the admin API: {response.status}")
        self.authorizer()
        self.collect()

    def uploads(self) -> None:
        if not self.ready("UploadScannerFunction", "uploads"):
            return
        s3 = self.local.client("s3")
        bucket = self.outputs["UploadsBucketName"]
        objects = [
            (
                "honest-co",
                "accounts/honest-co/notes/meeting.txt",
                b"Agenda: quarterly planning, hiring, office move.\n" * 20,
            ),
            ("malware-drop", "accounts/malware-drop/tools/installer.com", EICAR),
        ]
        for account, key, body in objects:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            self.say("uploads", f"{account} uploaded s3://{bucket}/{key} ({len(body)} bytes)")
        deadline = time.monotonic() + 60
        pending = {key for _, key, _ in objects}
        verdicts: dict[str, dict[str, str]] = {}
        while pending and time.monotonic() < deadline:
            for key in sorted(pending):
                tags = scan_verdict(s3, bucket, key)
                if tags is not None:
                    verdicts[key] = tags
                    pending.discard(key)
            time.sleep(0.25)
        for account, key, _ in objects:
            tags = verdicts.get(key, {})
            verdict = tags.get("aup-verdict", "not scanned within 60 s")
            rules = tags.get("aup-rules", "")
            self.result.uploads.append(
                {"account": account, "bucket": bucket, "key": key, "verdict": verdict, "rules": rules}
            )
            self.say("uploads", f"scanner verdict for {key}: {verdict}{' (' + rules + ')' if rules else ''}")

    def access_logs(self) -> None:
        if not self.ready("ApiLogAnalyzerFunction", "access logs"):
            return
        # The last complete 5-minute window: the analyzer's rate windows are aligned on 5 minutes, and
        # a scenario that straddled two of them would halve its counts.
        window_ms = 300_000
        start = (int(time.time() * 1000) // window_ms - 1) * window_ms
        lines: list[tuple[int, str]] = []
        for i in range(40):  # honest-co: a person clicking around for two minutes
            at = start + i * 3000
            line = access_line(
                at,
                ip="198.51.100.20",
                agent=BROWSER_UA,
                path=f"/items/{(i * 7) % 13 + 1}",
                resource="/items/{id}",
                status=200,
                account="honest-co",
            )
            lines.append((at, line))
        for i in range(60):  # probe-bot: sqlmap hammering for secrets
            at = start + 120_000 + i * 1000
            line = access_line(
                at,
                ip="203.0.113.66",
                agent="sqlmap/1.8.4#stable (https://sqlmap.org)",
                path=PROBES[i % len(PROBES)],
                resource="-",
                status=404,
                account="probe-bot",
            )
            lines.append((at, line))
        lines.sort()
        event = subscription_event(self.outputs["AccessLogGroupName"], lines)
        result = self.runner.invoke("ApiLogAnalyzerFunction", event).result
        self.say(
            "access logs",
            f"analyzer on {len(lines)} access-log lines of honest-co and probe-bot: {brief(result)}",
        )

    def usage(self) -> None:
        if not self.ready("UsageMonitorFunction", "usage"):
            return
        cw = self.local.client("cloudwatch")
        now = datetime.now(UTC)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        last = epoch + ((now - epoch) // PERIOD - 1) * PERIOD  # start of the last complete period
        # honest-co has one spike (a nightly batch job) far over its limit: a single spike is never a breach.
        series = {"cpu-hog": [1.0, 40.0, 40.0, 40.0, 40.0], "honest-co": [1.0, 2.0, 400.0, 2.0, 1.0]}
        data = [
            {
                "MetricName": "CPUSeconds",
                "Dimensions": [{"Name": "AccountId", "Value": account}],
                "Timestamp": last - PERIOD * (len(values) - 1 - i) + timedelta(seconds=30),
                "Value": v,
                "Unit": "Seconds",
            }
            for account, values in series.items()
            for i, v in enumerate(values)
        ]
        cw.put_metric_data(Namespace="AUP/Usage", MetricData=data)
        self.say(
            "usage",
            "the platform reported CPU-seconds per 5 minutes: cpu-hog 40 (free plan: 5), "
            "honest-co 1-2 with one spike of 400 (standard plan: 50)",
        )
        event = scheduled_event(now, rule="UsageSweep")
        result = self.runner.invoke("UsageMonitorFunction", event).result
        self.say("usage", f"usage monitor sweep: {brief(result)}")

    def authorizer(self) -> None:
        if not self.ready("AuthorizerFunction", "authorizer"):
            return
        api_id = self.local.resources.get("ServiceApi", "local")
        for actor in ACTORS:
            event = authorizer_event(
                actor.api_key, api_id=api_id, source_ip="198.51.100.20", user_agent="demo-client/1.0"
            )
            answer = self.runner.invoke("AuthorizerFunction", event).result
            statements = answer.get("policyDocument", {}).get("Statement", [{}])
            effect = statements[0].get("Effect", "?") if statements else "?"
            reason = str(answer.get("context", {}).get("reason", ""))
            self.result.authorizer.append({"account": actor.account_id, "effect": effect, "reason": reason})
            self.say("authorizer", f"GET /items/42 with {actor.account_id}'s API key -> {effect} ({reason})")

    def collect(self) -> None:
        accounts = items_of(self.admin.list_accounts(limit=200).body)
        order = {a.account_id: i for i, a in enumerate(ACTORS)}
        self.result.accounts = sorted(accounts, key=lambda a: order.get(a.get("account_id", ""), 99))
        for account in self.result.accounts:
            account_id = account["account_id"]
            self.result.violations[account_id] = items_of(self.admin.violations(account_id).body)
            self.result.audit[account_id] = items_of(self.admin.audit(account_id).body)
            if any(v.get("source") == "s3" for v in self.result.violations[account_id]):
                bundle = self.admin.export(account_id).body
                for q in (bundle or {}).get("quarantined_objects", []) if isinstance(bundle, dict) else []:
                    key = str(q.get("object", "")).split("/", 3)[-1]
                    self.result.quarantined[key] = q
        self.result.policy_version = policy_version()


def policy_version() -> str:
    """The version of the policy the stack's functions load (the shipped default locally)."""
    try:
        from aup.policy.loader import load_default_policy

        return str(load_default_policy().policy_version)
    except Exception:  # the report names the versions the violations carry in any case
        return ""


def brief(result: Any) -> str:
    """The counts a person wants from a handler's result (its whole JSON is in the function log)."""
    if not isinstance(result, dict):
        return tables.cell(result, 100)
    keys = ("accounts", "events", "records", "unparseable", "findings", "decisions")
    parts = [
        f"{k} {len(v) if isinstance(v, list | dict) else v}" for k in keys if (v := result.get(k)) is not None
    ]
    return ", ".join(parts) if parts else tables.cell(result, 100)


def subscription_event(log_group: str, lines: list[tuple[int, str]]) -> dict[str, Any]:
    """The event CloudWatch Logs sends a subscribed function (the analyzer's own payload encoder)."""
    from aup.detectors.logs.parse import encode_payload

    data = encode_payload(
        [line for _, line in lines],
        log_group=log_group,
        first_id=lines[0][0] * 1_000_000 if lines else 0,
        timestamps=[at for at, _ in lines],
    )
    return {"awslogs": {"data": data}}


def print_summary(result: DemoResult) -> None:
    print("\nAccounts")
    print(tables.accounts_table(result.accounts))
    for account in result.accounts:
        violations = result.violations.get(account["account_id"], [])
        if violations:
            print(f"\nViolations of {account['account_id']} (newest first)")
            print(tables.violations_table(violations))
    if result.authorizer:
        print("\nAuthorizer")
        print(
            tables.table(result.authorizer, [("account", "ACCOUNT"), ("effect", "ANSWER"), ("reason", "WHY")])
        )
    skipped = [text for _, text in result.steps if text.startswith("skipped")]
    if skipped:
        print("\nNot shown yet (placeholders): " + "; ".join(s.removeprefix("skipped: ") for s in skipped))


def run(html: Path | None = None, port: int | None = None) -> int:
    port = port or state.free_port()
    print(f"aupctl demo: starting a fresh local stack on port {port} ...", flush=True)
    started = time.monotonic()
    st, fresh = local.up(port, dispatcher=True)
    if not fresh:
        raise CliError(f"a local stack is already running on port {port}; the demo needs a fresh one")
    log_path = state.state_dir() / f"demo-{port}.log"
    demo = None
    try:
        print(
            f"  stack deployed on {st.endpoint} in {time.monotonic() - started:.1f} s; "
            f"function logs go to {log_path}",
            flush=True,
        )
        demo = Demo(port, log_path)
        demo.play()
        print_summary(demo.result)
        if html is not None:
            from aupctl.report import render

            html.write_text(render(demo.result), encoding="utf-8")
            print(f"\nHTML report: {html.resolve()}")
    finally:
        if demo is not None:
            demo.close()
        local.down(port)
        print(f"stack on port {port} shut down ({time.monotonic() - started:.1f} s in all)")
    return 0
