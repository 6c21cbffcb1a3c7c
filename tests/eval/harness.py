"""Runs the corpus through the real handlers on a local stack, through aupctl's runner only.

Every scenario gets its own account, registered through the admin API (as the README's walkthrough
does). Its access-log lines reach ApiLogAnalyzerFunction as CloudWatch Logs subscription events, its
uploads go into the uploads bucket and reach UploadScannerFunction through the bucket's SQS queue (the
local dispatcher's code), its platform metrics go to CloudWatch and one UsageMonitorFunction sweep
judges them all. Then the admin API and the authorizer are asked what became of each account.

The engine compares event times with the present (a finding acts at its time, clamped to now), so the
run's base instant is the real now at run start, floored to a 5-minute boundary two minutes back (the
usage monitor judges only settled periods); every scenario's times are built relative to it.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aupctl import events
from aupctl.admin import AdminClient, items_of
from aupctl.dispatcher import UploadsDispatcher, scan_verdict
from aupctl.runner import ACCOUNT, FunctionRunner
from tests.eval.corpus import matrix_uploads
from tests.eval.model import Ctx, Scenario, Traffic, Upload

UPLOAD_WAIT_SECONDS = 60.0
UNSCANNED = "not scanned in time"  # an upload whose object never got its verdict tags
ASYNC_ATTEMPTS = 3  # Lambda's asynchronous invocation: the first attempt and two retries


@dataclass
class Row:
    """What became of one scenario's account."""

    name: str
    label: str
    plan: str
    account_id: str
    story: str
    clauses: list[str] = field(default_factory=list)
    known: str | None = None
    lines: int = 0
    objects: int = 0
    violations: list[str] = field(default_factory=list)  # "rule_id:decision"
    strikes: int = 0
    reviews: int = 0
    status: str = "?"
    suspension: str = "-"
    authorizer: str = "?"  # Allow / Deny (reason)
    uploads: list[dict[str, str]] = field(default_factory=list)  # key, verdict, scan, rules
    error: str | None = None
    retries: int = 0  # deliveries the handler failed and the platform retried
    seconds: float = 0.0

    @property
    def suspended(self) -> bool:
        return self.status == "suspended"

    @property
    def denied(self) -> bool:
        return self.authorizer.startswith("Deny")

    @property
    def wronged(self) -> bool:
        """An honest account suspended, struck or denied (reviews are counted apart)."""
        return self.suspended or self.strikes > 0 or self.denied or self.error is not None

    @property
    def caught(self) -> bool:
        """Enforced on (suspended, or denied by the authorizer), or a violation of the scenario's clause
        recorded (a strike, a warning, or a review an operator will see)."""
        if self.error is not None:
            return False
        fired = {v.split(":", 1)[0].split("-", 1)[0] for v in self.violations}
        return bool(fired & set(self.clauses)) or self.suspended or self.denied

    @property
    def review_only(self) -> bool:
        """Caught only as review items: nothing enforced."""
        return (
            self.caught
            and not (self.suspended or self.denied or self.strikes)
            and all(v.endswith(":review") for v in self.violations)
        )

    @property
    def outcome(self) -> str:
        if self.label == "honest":
            if not self.wronged:
                return "ok" if not self.known else "ok (known fixed?)"
            return "KNOWN" if self.known else "WRONG"
        if self.error is not None:
            return "ERROR"
        return ("caught (review)" if self.review_only else "caught") if self.caught else "MISSED"

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(suspended=self.suspended, denied=self.denied, outcome=self.outcome)
        d["caught" if self.label == "attack" else "wronged"] = (
            self.caught if self.label == "attack" else self.wronged
        )
        return d


@dataclass
class Report:
    base: str
    run_id: str
    rows: list[Row] = field(default_factory=list)
    matrix: dict[str, dict[str, str]] = field(default_factory=dict)  # container -> payload -> verdict
    sweep: str = ""
    seconds: float = 0.0


def base_instant(now: datetime) -> datetime:
    """A 5-minute boundary at least two minutes before ``now`` (so its last period has settled)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    period = timedelta(minutes=5)
    return epoch + ((now - timedelta(minutes=2) - epoch) // period) * period


def subscription_event(log_group: str, lines: list[str], times: list[int], first_id: int) -> dict[str, Any]:
    """The event CloudWatch Logs sends a subscribed function (base64 of gzip of the JSON document)."""
    doc = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": "eval",
        "subscriptionFilters": ["access-logs"],
        "logEvents": [
            {"id": f"{first_id + i:056d}", "timestamp": t, "message": m}
            for i, (m, t) in enumerate(zip(lines, times, strict=True))
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()}}


def authorizer_event(api_key: str, api_id: str, source_ip: str) -> dict[str, Any]:
    """The service API's REQUEST authorizer event (aupctl's one builder) from ``source_ip``."""
    return events.authorizer_event(api_key, api_id=api_id, source_ip=source_ip, user_agent="eval-client/1.0")


def scheduled_event(at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/UsageSweep"],
        "detail": {},
    }


class Harness:
    def __init__(
        self,
        runner: FunctionRunner,
        *,
        seed: int = 20261201,
        run_id: str | None = None,
        say: Callable[[str], None] = print,
        now: datetime | None = None,
    ) -> None:
        self.runner = runner
        self.local = runner.local
        self.admin = AdminClient(runner)
        self.outputs = self.local.outputs()
        self.seed = seed
        self.say = say
        started = now or datetime.now(UTC)
        self.base = base_instant(started)
        # Account ids and log event ids are unique per run, so a second run on the same stack is never
        # taken for a redelivery of the first.
        self.run_id = run_id or f"{int(started.timestamp()) % 1_000_000:06d}"
        self._event_seq = (
            int(self.run_id, 36) % 10**9 * 10**12 if run_id else int(started.timestamp()) * 10**9
        )
        self.keys: dict[str, str] = {}

    # --------------------------------------------------------------------------------------- run

    def run(self, scenarios: list[tuple[int, Scenario]], *, matrix: bool = False) -> Report:
        t0 = time.monotonic()
        report = Report(base=self.base.isoformat(), run_id=self.run_id)
        planned: list[tuple[Scenario, Row, Ctx, Traffic]] = []
        for index, sc in scenarios:
            row = Row(
                sc.name, sc.label, sc.plan, self.account_id(sc.name), sc.story, list(sc.clauses), sc.known
            )
            try:
                key = self.register(row.account_id, sc.plan)
                connected = self.connect(row.account_id, sc)
                ctx = Ctx(
                    row.account_id,
                    key,
                    sc.plan,
                    self.scenario_seed(sc.name),
                    index,
                    self.base,
                    connected=connected,
                )
                traffic = sc.build(ctx)
                if not traffic.probe_ips:
                    traffic.probe_ips = [ctx.ip()]
                planned.append((sc, row, ctx, traffic))
            except Exception as exc:  # a broken generator is this scenario's failure, not the run's
                row.error = f"{type(exc).__name__}: {exc}"
            report.rows.append(row)
        limited = [p for p in planned if p[3].scan_limit_bytes is not None]
        for sc, row, ctx, traffic in [p for p in planned if p[3].scan_limit_bytes is None] + limited:
            started = time.monotonic()
            try:
                self.deliver(row, traffic)
            except Exception as exc:
                row.error = f"{type(exc).__name__}: {exc}"
            row.seconds = time.monotonic() - started
            self.say(
                f"  {sc.label:6} {sc.name:30} {row.lines:6d} lines {row.objects:3d} objects {row.seconds:6.1f} s"
            )
        if matrix:
            report.matrix = self.run_matrix()
        report.sweep = self.sweep()
        for sc, row, ctx, traffic in planned:  # each row with its own scenario (ip_scoped)
            if row.error is None:
                try:
                    self.collect(row, ctx.api_key, traffic, ip_scoped=sc.ip_scoped)
                except Exception as exc:
                    row.error = f"{type(exc).__name__}: {exc}"
        report.seconds = time.monotonic() - t0
        return report

    def account_id(self, name: str) -> str:
        return f"ev{self.run_id}-{name}"[:63].rstrip("-")

    def scenario_seed(self, name: str) -> int:
        return self.seed ^ zlib.crc32(name.encode())

    def register(self, account_id: str, plan: str) -> str:
        response = self.admin.create_account(account_id, plan)
        if not response.ok:
            raise RuntimeError(f"could not register {account_id}: {response.error_message()}")
        key = str(response.body["api_key"])
        self.keys[account_id] = key
        return key

    def connect(self, account_id: str, sc: Scenario) -> dict[str, str]:
        """Register the scenario's other accounts and declare those its account acts for."""
        ids = {name: f"{account_id[: 62 - len(name)]}-{name}" for name in sc.connected}
        for other in ids.values():
            self.register(other, "standard")
        if sc.acts_for:
            response = self.admin.acts_for(account_id, [ids[name] for name in sc.acts_for], "eval")
            if not response.ok:
                raise RuntimeError(f"could not declare {account_id}'s acts-for: {response.error_message()}")
        return ids

    # --------------------------------------------------------------------------------------- signals

    def deliver(self, row: Row, traffic: Traffic) -> None:
        group = self.outputs["AccessLogGroupName"]
        for batch in traffic.deliveries:
            if not batch:
                continue
            messages = [ln.json(self._event_seq + i) for i, ln in enumerate(batch)]
            event = subscription_event(group, messages, [ln.at_ms for ln in batch], self._event_seq)
            self._event_seq += len(batch)
            self.invoke_async(row, "ApiLogAnalyzerFunction", event)
            row.lines += len(batch)
        if traffic.metrics:
            cw = self.local.client("cloudwatch")
            data = [
                {
                    "MetricName": m.name,
                    "Dimensions": [{"Name": "AccountId", "Value": row.account_id}],
                    "Timestamp": m.at,
                    "Value": m.value,
                    "Unit": m.unit,
                }
                for m in traffic.metrics
            ]
            for i in range(0, len(data), 500):
                cw.put_metric_data(Namespace="AUP/Usage", MetricData=data[i : i + 500])
        if traffic.uploads:
            row.uploads = self.upload(row.account_id, traffic.uploads, traffic.scan_limit_bytes)
            row.objects = len(traffic.uploads)
            unscanned = [u["key"] for u in row.uploads if u["verdict"] == UNSCANNED]
            if unscanned:  # the scanner failed or stalled: no verdict is no "ok", whatever the label
                row.error = (
                    f"{len(unscanned)} of {len(row.uploads)} uploads not scanned in time: {unscanned[0]}"
                )

    def invoke_async(self, row: Row, function: str, event: Any) -> None:
        """As Lambda runs an asynchronous invocation (a log subscription's): an error is retried twice."""
        for attempt in range(ASYNC_ATTEMPTS):
            try:
                self.runner.invoke(function, event)
                return
            except Exception:
                if attempt == ASYNC_ATTEMPTS - 1:
                    raise
                row.retries += 1

    def upload(self, account_id: str, objects: list[Upload], scan_limit: int | None) -> list[dict[str, str]]:
        """Put the objects, let the scanner take them off the queue, and read back each verdict."""
        s3 = self.local.client("s3")
        bucket = self.outputs["UploadsBucketName"]
        keys = []
        for obj in objects:
            key = f"accounts/{account_id}/{obj.path}"
            typed = {"ContentType": obj.content_type} if obj.content_type else {}
            s3.put_object(Bucket=bucket, Key=key, Body=obj.body, **typed)
            keys.append(key)
        if scan_limit is None:
            return self.drain(self.runner, bucket, keys)
        # The deployed scanner with another ScanLimitBytes (a redeploy with the parameter changed),
        # in a runner of its own; the deployed setting is restored afterwards.
        lam = self.local.client("lambda")
        name = self.local.resources["UploadScannerFunction"]
        config = lam.get_function_configuration(FunctionName=name)
        env = {k: str(v) for k, v in config["Environment"]["Variables"].items()}
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {**env, "SCAN_LIMIT_BYTES": str(scan_limit)}}
        )
        self.runner.close()
        runner = FunctionRunner(self.local, log_stream=self.runner.tee.sink)
        try:
            return self.drain(runner, bucket, keys)
        finally:
            runner.close()
            lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})

    def drain(self, runner: FunctionRunner, bucket: str, keys: list[str]) -> list[dict[str, str]]:
        s3 = self.local.client("s3")
        dispatcher = UploadsDispatcher(runner, wait_seconds=1)
        pending, verdicts = set(keys), {}
        deadline = time.monotonic() + UPLOAD_WAIT_SECONDS  # without progress
        while pending and time.monotonic() < deadline:
            if dispatcher.poll_once():
                deadline = time.monotonic() + UPLOAD_WAIT_SECONDS
            for key in sorted(pending):
                tags = scan_verdict(s3, bucket, key)
                if tags is not None:
                    verdicts[key] = tags
                    pending.discard(key)
        return [
            {
                "key": key.split("/", 2)[2],
                "verdict": verdicts.get(key, {}).get("aup-verdict", UNSCANNED),
                "scan": verdicts.get(key, {}).get("aup-scan", "-"),
                "rules": verdicts.get(key, {}).get("aup-rules", ""),
            }
            for key in keys
        ]

    def run_matrix(self) -> dict[str, dict[str, str]]:
        import random

        account = self.account_id("scanner-matrix")
        self.register(account, "enterprise")
        objects = matrix_uploads(random.Random(self.seed))
        results = self.upload(account, objects, None)
        out: dict[str, dict[str, str]] = {}
        for obj, res in zip(objects, results, strict=True):
            assert obj.cell is not None
            container, payload = obj.cell
            cell = res["verdict"]
            if res["rules"]:
                cell += f" ({res['rules']})"
            elif res["scan"] not in ("complete", "-"):
                cell += f" ({res['scan']})"
            out.setdefault(container, {})[payload] = cell
        self.say(f"  matrix {len(objects)} objects")
        return out

    def sweep(self) -> str:
        """One usage-monitor sweep at the present, as the 5-minute schedule would run it."""
        result = self.runner.invoke("UsageMonitorFunction", scheduled_event(datetime.now(UTC))).result
        return json.dumps(result, default=str)[:200]

    # --------------------------------------------------------------------------------------- outcome

    def collect(self, row: Row, api_key: str, traffic: Traffic, *, ip_scoped: bool = False) -> None:
        account = self.admin.get_account(row.account_id)
        if not account.ok:
            raise RuntimeError(f"GET /accounts/{row.account_id}: {account.status} {account.error_message()}")
        body = account.body
        row.status = str(body.get("status"))
        strikes = body.get("strikes", 0)
        row.strikes = len(strikes) if isinstance(strikes, list) else int(strikes or 0)
        s = body.get("suspension")
        if isinstance(s, dict):
            row.suspension = f"{s.get('kind')} {s.get('rule_id') or ''}".strip()
        token: str | None = None
        while True:
            page = self.admin.violations(row.account_id, token)
            row.violations += [f"{v.get('rule_id')}:{v.get('decision')}" for v in items_of(page.body)]
            token = page.body.get("next_token") if isinstance(page.body, dict) else None
            if not token:
                break
        row.reviews = sum(1 for r in self.pending_reviews() if r.get("account_id") == row.account_id)
        api_id = self.local.resources.get("ServiceApi", "local")
        answers = []
        # An IP-scoped block denies the stuffer's unknown keys from its source, not a valid key of an
        # active account (a shared NAT): ask with a key nobody holds, and count only the block's denial.
        probe_key = f"never-issued-{row.account_id}" if ip_scoped else api_key
        for ip in traffic.probe_ips[:3]:
            answer = self.runner.invoke("AuthorizerFunction", authorizer_event(probe_key, api_id, ip)).result
            statements = answer.get("policyDocument", {}).get("Statement", [{}])
            effect = statements[0].get("Effect", "?") if statements else "?"
            reason = str(answer.get("context", {}).get("reason", ""))
            if ip_scoped and "source blocked" not in reason:
                effect, reason = "Allow", ""  # an unknown key's own refusal is not the block
            answers.append(effect if effect == "Allow" else f"{effect} ({reason})")
        row.authorizer = next(
            (a for a in answers if not a.startswith("Allow")), answers[0] if answers else "?"
        )

    _reviews: list[dict[str, Any]] | None = None

    def pending_reviews(self) -> list[dict[str, Any]]:
        if self._reviews is None:
            out: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                query = {"limit": "100", **({"next_token": token} if token else {})}
                page = self.admin.call("GET", "/reviews", query=query)
                out += items_of(page.body)
                token = page.body.get("next_token") if isinstance(page.body, dict) else None
                if not token:
                    break
            self._reviews = out
        return self._reviews
