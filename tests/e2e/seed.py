"""The browser tests' data, put in through the real handlers of a running local stack.

Every account, violation, review and suspension here is made the way production makes it: the admin
API registers the accounts and suspends one; access-log lines reach ApiLogAnalyzerFunction as a
CloudWatch Logs subscription event; an upload goes S3 -> SQS -> the dispatcher -> UploadScannerFunction.
Secrets are planted on the way in (an API key in a logged query string, a card number in an upload,
an account's own key in a path) so the tests can assert that no console page ever shows them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aupctl.admin import AdminClient
from aupctl.demo import PROBES, subscription_event
from aupctl.events import access_line
from aupctl.runner import FunctionRunner, LocalStack

# Planted secrets: none of them may appear on any console page (text or HTML).
PLANTED_API_KEY = "sk_live_PLANTEDkey0123456789abcdefXYZ"
# Four test card numbers (Luhn-valid; three validated identifiers make a W2-personal-data review).
# Luhn-valid numbers with real issuer prefixes, none of them a processor's published test card (those are
# nobody's cards: aup.detectors.uploads.text._TEST_CARDS)
PLANTED_CARDS = ("4539 1488 0343 6467", "5296 7103 4482 9151", "4017 7392 0661 5896", "3795 642018 17358")
EXPLOIT_PATH = "/vendor/phpunit/phpunit/src/util/php/eval-stdin.php"
SCANNER_AGENT = "sqlmap/1.8.4#stable (https://sqlmap.org)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

# account -> plan; the story each one plays in the tests
ACCOUNTS = {
    "honest-co": "standard",  # ordinary traffic, nothing recorded
    "probe-bot": "standard",  # sqlmap probing (D1): suspended by the ladder
    "bad-actor": "business",  # suspended by an operator
    "wrongly-struck": "standard",  # one exploit-path request (D1-exploit-probe, a strike): voided in a test
    "card-leaker": "free",  # uploads a file with a card number (W2-personal-data: a review)
    "trusted-co": "business",  # allowlisted (its probing goes to review), acts for honest-co and paused-co
    "illegal-host": "free",  # uploads a file on a known-illegal hash list (W4): quarantined, reported
    "cpu-hog": "free",  # its CPU-seconds go over the plan's limit: the usage chart (no sweep is run)
    "paused-co": "standard",  # suspended until a given end by an operator, then reinstated, in a test
}
# The operators' hash banks (`aupctl banks`): a bucket of the local stack, named in the stack's policy.
OPS_BUCKET = "aup-e2e-ops"
BANKS_URI = f"s3://{OPS_BUCKET}/banks/"
# A harmless stand-in for a known illegal file: its SHA-256 is put on a W4 bank.
BANKED_FILE = b"aup-enforcer browser tests: a stand-in for a file on a known-illegal hash list\n"
# cpu-hog's CPUSeconds per 5-minute period, oldest first (AUP/Usage, dimension AccountId), ending with
# the last complete period. The free plan allows 60 CPU-seconds an hour: 5 a period, so four points
# are over the limit; the monitor acts at 3x (15) for 3 periods, which this series never reaches.
USAGE_ACCOUNT = "cpu-hog"
USAGE_PERIOD_SECONDS = 300
USAGE_SERIES = (2.0, 3.0, 4.0, 9.0, 18.0, 20.0, 6.0, 3.0)


def policy_file(folder: Path) -> Path:
    """The shipped policy with hash banks on (``aupctl local up --policy``): W4 matches are live."""
    from aup.policy.loader import default_policy_text

    text = default_policy_text().replace("  banks_uri: null ", f"  banks_uri: '{BANKS_URI}' ")
    assert BANKS_URI in text
    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Seeded:
    api_keys: dict[str, str] = field(default_factory=dict)  # what POST /accounts returned, per account
    uploads: dict[str, str] = field(default_factory=dict)  # key -> verdict tag

    def secrets(self) -> list[str]:
        """Every string no console page may contain."""
        cards = [*PLANTED_CARDS, *(c.replace(" ", "") for c in PLANTED_CARDS)]
        return [PLANTED_API_KEY, *cards, *self.api_keys.values()]


def _window_start_ms() -> int:
    """The last complete 5-minute window (the analyzer's rate windows are aligned on 5 minutes)."""
    window = 300_000
    return (int(time.time() * 1000) // window - 1) * window


def seed(port: int) -> Seeded:
    local = LocalStack(port)
    runner = FunctionRunner(local)
    admin = AdminClient(runner)
    out = Seeded()
    try:
        for account, plan in ACCOUNTS.items():
            response = admin.create_account(account, plan)
            assert response.ok, response.error_message()
            out.api_keys[account] = response.body["api_key"]
        assert admin.allowlist("trusted-co", True).ok
        assert admin.acts_for("trusted-co", ["honest-co", "paused-co"], "agency for two clients").ok
        _bank(local)
        _access_logs(runner, local, out)
        _uploads(local, out)
        _usage(local)
        assert admin.suspend("bad-actor", "terms breach confirmed by trust & safety").ok
    finally:
        runner.close()
    return out


def _access_logs(runner: FunctionRunner, local: LocalStack, out: Seeded) -> None:
    start = _window_start_ms()
    lines: list[tuple[int, str]] = []

    def add(at: int, account: str, path: str, status: int, agent: str, ip: str, resource: str = "-") -> None:
        line = access_line(
            at, ip=ip, agent=agent, path=path, resource=resource, status=status, account=account
        )
        lines.append((at, line))

    for i in range(30):
        add(
            start + i * 3000, "honest-co", f"/items/{i % 9 + 1}", 200, BROWSER, "198.51.100.20", "/items/{id}"
        )
    for account, ip in (("probe-bot", "203.0.113.66"), ("trusted-co", "203.0.113.77")):
        for i in range(60):
            path = PROBES[i % len(PROBES)]
            if i == 0:  # a logged query string carrying a secret: evidence keeps it redacted, or not at all
                path = f"/.env?api_key={PLANTED_API_KEY}&token={out.api_keys[account]}"
            add(start + 100_000 + i * 1000, account, path, 404, SCANNER_AGENT, ip)
    for i in range(6):  # trusted-co probed an hour before too: its review counts that hour as a repeat
        add(
            start - 3_600_000 + i * 1000,
            "trusted-co",
            PROBES[i % len(PROBES)],
            404,
            SCANNER_AGENT,
            "203.0.113.77",
        )
    add(
        start + 30_000,
        "wrongly-struck",
        f"{EXPLOIT_PATH}?api_key={PLANTED_API_KEY}&key={out.api_keys['wrongly-struck']}",
        404,
        BROWSER,
        "198.51.100.31",
    )
    lines.sort()
    event = subscription_event(local.outputs()["AccessLogGroupName"], lines)
    runner.invoke("ApiLogAnalyzerFunction", event)


def _usage(local: LocalStack) -> None:
    """cpu-hog's usage series, published as the platform does (put_metric_data into the stack's
    CloudWatch), one point 30 s into each period: the console's GET /accounts/{id}/usage reads them."""
    period = USAGE_PERIOD_SECONDS
    last = (int(time.time()) // period - 1) * period  # the start of the last complete period
    n = len(USAGE_SERIES)
    local.client("cloudwatch").put_metric_data(
        Namespace="AUP/Usage",
        MetricData=[
            {
                "MetricName": "CPUSeconds",
                "Dimensions": [{"Name": "AccountId", "Value": USAGE_ACCOUNT}],
                "Timestamp": datetime.fromtimestamp(last - period * (n - 1 - i) + 30, UTC),
                "Value": value,
                "Unit": "Seconds",
            }
            for i, value in enumerate(USAGE_SERIES)
        ],
    )


def _bank(local: LocalStack) -> None:
    from aup.adapters.banks import S3BankStore
    from aup.usecases import banks

    s3 = local.client("s3")
    s3.create_bucket(Bucket=OPS_BUCKET)
    listed = f"hash,case_id\n{hashlib.sha256(BANKED_FILE).hexdigest()},case-e2e-1\n".encode()
    banks.import_bank(
        S3BankStore(BANKS_URI, s3=s3), "known-illegal", listed, now=datetime.now(UTC), actor="e2e",
        kind="sha256", clause="W4", source="browser tests", list_version="1",
    )  # fmt: skip


def _uploads(local: LocalStack, out: Seeded) -> None:
    s3 = local.client("s3")
    bucket = local.outputs()["UploadsBucketName"]
    cards = "Card payments this week\n" + "".join(
        f"order {1001 + i}: paid with card {card}, expiry 12/29\n" for i, card in enumerate(PLANTED_CARDS)
    )
    objects = {
        "accounts/card-leaker/orders/order-1001.txt": cards.encode(),
        "accounts/illegal-host/files/blob.bin": BANKED_FILE,
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    deadline = time.monotonic() + 60
    pending = set(objects)
    while pending and time.monotonic() < deadline:
        for key in sorted(pending):
            try:
                tags: dict[str, Any] = {
                    t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
                }
            except s3.exceptions.ClientError:  # moved to quarantine: the scan is done
                tags = {"aup-verdict": "quarantined"}
            if "aup-verdict" in tags:
                out.uploads[key] = str(tags["aup-verdict"])
                pending.discard(key)
        time.sleep(0.25)
    assert not pending, f"not scanned within 60 s: {sorted(pending)}"
