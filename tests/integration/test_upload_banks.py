"""Uploads matched against hash banks, end to end: the template deployed in moto, banks imported to S3
(as `aupctl banks import` writes them), the policy's `upload_scanning.banks_uri` pointing there, and
uploads driven through UploadScannerFunction as SQS delivers them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from aup.adapters.banks import S3BankStore
from aup.detectors.uploads import pdq
from aup.detectors.uploads.detectors import UploadedObject
from aup.domain.models import Finding, Source
from aup.usecases import banks
from tests.conftest import load_handler
from tests.integration.test_upload_scanner import ACCOUNT, UPLOADED, Env

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdq" / "images"
ORIGINAL = FIXTURES / "aaa-orig.jpg"
OPS = "aup-ops-data"
URI = f"s3://{OPS}/banks/"
IMPORTED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.time_machine(UPLOADED + timedelta(seconds=5), tick=True)


def _jpeg(image: Image.Image, **kw: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", **kw)
    return out.getvalue()


def _copy() -> bytes:
    """The banked photo, as an uploader would re-share it: a third of the size, recompressed."""
    base = Image.open(ORIGINAL).convert("RGB")
    return _jpeg(base.resize((base.width // 3, base.height // 3)), quality=40)


def _flat() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 200, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def env(stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> Env:
    from aup import bootstrap
    from aup.policy.loader import default_policy_text

    e = Env(stack, lambda_context)
    e.s3.create_bucket(Bucket=OPS)  # ScannerDataBucket: the operators' bucket, a template parameter
    store = S3BankStore(URI)
    original, flat = pdq.pdq_from_bytes(ORIGINAL.read_bytes()), pdq.pdq_from_bytes(_flat())
    assert original is not None and flat is not None
    banks.import_bank(
        store, "abuse", f"hash,case_id\n{original.hex},case-17\n{flat.hex},flat\n".encode(), now=IMPORTED,
        actor="alice", kind="pdq", clause="I2", source="stopncii", list_version="2026-11",
    )  # fmt: skip
    text = default_policy_text().replace("  banks_uri: null ", f"  banks_uri: '{URI}' ")
    assert URI in text
    boto3.client("ssm").put_parameter(Name="/aup/policy", Value=text, Type="String")
    monkeypatch.setenv("AUP_POLICY_PARAMETER", "/aup/policy")
    bootstrap.reset()
    e.app = load_handler("upload_scanner")
    return e


def _report(env: Env, obj: UploadedObject) -> dict[str, Any]:
    vid = Finding(
        rule_id="I2-abuse-material-hash", clause="I2", account_id=obj.account_id, source=Source.s3,
        source_event_id=obj.source_event_id, detected_at=UPLOADED, confidence=1.0, summary="-", evidence={},
    ).violation_id  # fmt: skip
    item: dict[str, Any] = (
        env.ledger().get_counters([("report:mandatory", vid)]).get(("report:mandatory", vid))
    )
    return item


def test_a_resized_copy_of_a_banked_photo_is_quarantined_reported_and_suspends(env: Env) -> None:
    data = _copy()
    key = f"accounts/{ACCOUNT}/img/holiday.jpg"
    rec = env.put(key, data)
    version = rec["s3"]["object"]["versionId"]
    env.run(rec)
    assert not env.exists(key, version)
    tags = env.tags(f"{env.bucket}/{key}", bucket=env.quarantine)
    assert tags["aup-verdict"] == "threat" and tags["aup-rules"] == "I2-abuse-material-hash"
    (v,) = env.violations()
    assert v.rule_id == "I2-abuse-material-hash" and v.evidence["mandatory_report"] is True
    (m,) = v.evidence["matches"]
    assert m["bank"] == "abuse" and m["kind"] == "pdq" and 0 <= m["distance"] <= 31 and m["quality"] >= 50
    assert m["provenance"]["source"] == "stopncii" and m["provenance"]["list_version"] == "2026-11"
    assert m["provenance"]["imported_at"] == IMPORTED.isoformat() and m["provenance"]["case_id"] == "case-17"
    assert env.ledger().get_account(ACCOUNT).suspension.kind == "indefinite"
    obj = UploadedObject(env.bucket, key, version, None, len(data), ACCOUNT, UPLOADED)
    report = _report(env, obj)
    assert report["pending"] == 1 and report["account_id"] == {ACCOUNT}
    assert report["sha256"] == {hashlib.sha256(data).hexdigest()}
    assert report["object"] == {f"s3://{env.bucket}/{key}"} and report["version"] == {version}
    assert report["detected_at"] == {UPLOADED.isoformat()}
    assert report["bank"] == {"abuse"} and report["list_version"] == {"2026-11"}

    env.run(rec)  # redelivered: the same violation id, nothing added
    env.run(rec)
    assert len(env.violations()) == 1
    assert _report(env, obj)["pending"] == 1


def test_the_same_photo_inside_a_zip_matches(env: Env) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes.txt", "trip")
        z.writestr("2026/holiday.jpg", _copy())
    key = f"accounts/{ACCOUNT}/backup.zip"
    rec = env.put(key, out.getvalue())
    env.run(rec)
    assert not env.exists(key, rec["s3"]["object"]["versionId"])
    (v,) = env.violations()
    assert v.rule_id == "I2-abuse-material-hash" and v.evidence["where"] == ["!/2026/holiday.jpg"]


@pytest.mark.parametrize("which", ["unrelated", "flat"])
def test_an_unrelated_or_a_flat_image_is_clean(env: Env, which: str) -> None:
    # The flat image's own hash is in the bank: its quality is below pdq_min_quality, so it never matches.
    data = (FIXTURES / "c.png").read_bytes() if which == "unrelated" else _flat()
    key = f"accounts/{ACCOUNT}/img/{which}.png"
    env.run(env.put(key, data))
    assert env.tags(key)["aup-verdict"] == "clean"
    assert env.violations() == []


def test_an_unattributed_key_is_quarantined_and_reported_all_the_same(env: Env) -> None:
    data = _copy()
    key = "shared/drop/holiday.jpg"  # outside accounts/<id>/: no account to act on
    rec = env.put(key, data)
    version = rec["s3"]["object"]["versionId"]
    env.run(rec)
    assert not env.exists(key, version)
    report = _report(env, UploadedObject(env.bucket, key, version, None, len(data), None, UPLOADED))
    assert report["pending"] == 1 and report["account_id"] == {"unattributed"}
    assert report["sha256"] == {hashlib.sha256(data).hexdigest()} and report["bank"] == {"abuse"}
    assert env.ledger().list_accounts().items == []


def test_an_image_over_the_pdq_limit_is_matched_by_its_digest_only_and_the_log_says_so(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    from aup import bootstrap

    data = _copy()
    banks.import_bank(
        S3BankStore(URI), "illegal-sha", hashlib.sha256(data).hexdigest().encode(), now=IMPORTED,
        actor="alice", kind="sha256", clause="W4", source="lantern", list_version="v9",
    )  # fmt: skip
    ssm = boto3.client("ssm")
    text = ssm.get_parameter(Name="/aup/policy")["Parameter"]["Value"]
    text = text.replace("  pdq_max_image_bytes: 33554432 ", "  pdq_max_image_bytes: 4096 ")
    assert "pdq_max_image_bytes: 4096" in text
    ssm.put_parameter(Name="/aup/policy", Value=text, Type="String", Overwrite=True)
    bootstrap.reset()
    env.app = load_handler("upload_scanner")
    key = f"accounts/{ACCOUNT}/img/big.jpg"
    caplog.clear()
    env.run(env.put(key, data))
    (v,) = env.violations()  # the W4 digest, not the I2 PDQ bank: the image was not PDQ-hashed
    assert v.rule_id == "W4-known-illegal-hash" and v.evidence["matches"][0]["kind"] == "sha256"
    (logged,) = [r for r in caplog.records if r.getMessage() == "upload event"]
    (note,) = getattr(logged, "hash_notes")  # an extra of the log record
    assert note.startswith("(object): image beyond 4096 bytes: not PDQ-hashed")
