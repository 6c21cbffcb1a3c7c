"""Uploads against hash banks, no AWS: the scanner's PDQ and MD5 per stream, and the findings they make.

Banks live in a dict-backed store (the ObjectStore port); the S3 path is tests/integration/test_upload_banks.py.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aup.detectors.uploads import detectors
from aup.detectors.uploads.pdq import FileHashes, pdq_from_bytes
from aup.detectors.uploads.scanner import ScanEngine, ScanResult, ScanStatus
from aup.detectors.uploads.signatures import compile_rules
from aup.policy import load_default_policy
from aup.usecases import banks
from tests.fakes.objects import DictStore

POLICY = load_default_policy()
FIXTURES = Path(__file__).parents[2] / "fixtures" / "pdq" / "images"
ORIGINAL = FIXTURES / "aaa-orig.jpg"
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # when the bank was imported (data, not the clock)
UPLOADED = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def _encode(image: Image.Image, fmt: str = "JPEG", **kw: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


def _resized_recompressed() -> bytes:
    base = Image.open(ORIGINAL).convert("RGB")
    return _encode(base.resize((base.width // 3, base.height // 3)), quality=40)


def _unrelated() -> bytes:
    return (FIXTURES / "c.png").read_bytes()


def _flat() -> bytes:
    return _encode(Image.new("RGB", (300, 200), (120, 130, 140)), "PNG")


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def bank_set() -> banks.BankSet:
    store = DictStore()
    original = pdq_from_bytes(ORIGINAL.read_bytes())
    flat = pdq_from_bytes(_flat())
    assert original is not None and flat is not None
    csv = f"hash,case_id\n{original.hex},case-17\n{flat.hex},flat-one\n"
    banks.import_bank(
        store, "abuse", csv.encode(), now=AT, actor="alice", kind="pdq", clause="I2",
        source="stopncii", list_version="2026-11",
    )  # fmt: skip
    listed = b"\x89PNG\r\n\x1a\n" + b"synthetic infringing sample" * 20
    banks.import_bank(
        store, "infringing", hashlib.md5(listed, usedforsecurity=False).hexdigest().encode(), now=AT,
        actor="alice", kind="md5", clause="I1", source="acme-rights", list_version="v3",
    )  # fmt: skip
    return banks.BankSet.load(store)


def _scan(bank_set: banks.BankSet, data: bytes, name: str, **settings: Any) -> ScanResult:
    s = POLICY.upload_scanning.model_copy(update=settings) if settings else POLICY.upload_scanning
    engine = ScanEngine(s, compile_rules(), (), hash_kinds=frozenset({"pdq", "md5"}))
    return engine.scan(io.BytesIO(data), name)


def _findings(bank_set: banks.BankSet, result: ScanResult, key: str = "accounts/acme/p.jpg") -> list[Any]:
    obj = detectors.UploadedObject("b", key, "v1", "e", result.bytes_read, "acme", UPLOADED)
    hits = [
        (r, m)
        for r in result.reports
        for m in bank_set.match(FileHashes(r.pdq, r.md5, r.sha256), POLICY.upload_scanning.pdq_min_quality)
    ]
    return detectors.content_findings(obj, result, POLICY, {}, hits)


def test_a_resized_recompressed_copy_of_a_banked_photo_is_an_i2_finding(bank_set: banks.BankSet) -> None:
    data = _resized_recompressed()
    result = _scan(bank_set, data, "holiday.jpg")
    top = result.top
    assert top is not None and top.pdq is not None and top.pdq.quality >= 50
    assert top.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    (f,) = _findings(bank_set, result)
    assert f.rule_id == "I2-abuse-material-hash" and f.clause == "I2"
    e = f.evidence
    assert e["mandatory_report"] is True and e["bank"] == "abuse" and e["list_version"] == "2026-11"
    assert e["sha256"] == hashlib.sha256(data).hexdigest()
    (m,) = e["matches"]
    assert m["provenance"] == {
        "source": "stopncii",
        "list_version": "2026-11",
        "imported_at": AT.isoformat(),
        "case_id": "case-17",
    }
    assert 0 <= m["distance"] <= 31 and m["quality"] == top.pdq.quality and m["where"] == "(object)"
    assert not any(isinstance(v, bytes) for v in e.values())  # never the image


def test_the_same_photo_inside_a_zip_matches_and_names_the_member(bank_set: banks.BankSet) -> None:
    data = _zip({"readme.txt": b"holiday pictures", "pics/p1.jpg": _resized_recompressed()})
    result = _scan(bank_set, data, "pics.zip")
    (f,) = _findings(bank_set, result, "accounts/acme/pics.zip")
    assert f.rule_id == "I2-abuse-material-hash" and f.evidence["where"] == ["!/pics/p1.jpg"]
    assert f.evidence["sha256"] == hashlib.sha256(data).hexdigest()  # the object's, for the report


def test_an_unrelated_image_does_not_match(bank_set: banks.BankSet) -> None:
    result = _scan(bank_set, _unrelated(), "c.png")
    assert result.top is not None and result.top.pdq is not None and result.top.pdq.quality >= 50
    assert _findings(bank_set, result) == []


def test_a_flat_image_is_not_matched_even_when_its_hash_is_banked(bank_set: banks.BankSet) -> None:
    result = _scan(bank_set, _flat(), "flat.png")
    top = result.top
    assert top is not None and top.pdq is not None and top.pdq.quality < 50
    assert bank_set.match(FileHashes(top.pdq, top.md5, top.sha256), min_quality=0)  # it would match...
    assert _findings(bank_set, result) == []  # ...but not under the policy's pdq_min_quality


def test_md5_bank_matches_any_object_exactly(bank_set: banks.BankSet) -> None:
    listed = b"\x89PNG\r\n\x1a\n" + b"synthetic infringing sample" * 20
    (f,) = _findings(bank_set, _scan(bank_set, _zip({"a/b.bin": listed}), "x.zip"))
    assert f.rule_id == "I1-infringing-hash" and f.evidence["mandatory_report"] is False
    assert f.evidence["matches"][0]["kind"] == "md5" and f.evidence["matches"][0]["distance"] == 0
    assert f.confidence == 1.0


def test_an_image_over_the_size_limit_is_matched_by_digest_only_and_says_so(bank_set: banks.BankSet) -> None:
    data = _resized_recompressed()
    result = _scan(bank_set, data, "big.jpg", pdq_max_image_bytes=len(data) - 1)
    top = result.top
    assert top is not None and top.pdq is None and "not PDQ-hashed" in top.hash_note
    assert result.hash_notes == [f"(object): {top.hash_note}"]
    assert result.status is ScanStatus.complete  # every other detector read it all
    assert top.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert _findings(bank_set, result) == []


def test_exif_orientation_is_applied_before_hashing(bank_set: banks.BankSet) -> None:
    base = Image.open(ORIGINAL).convert("RGB")
    rotated = base.rotate(90, expand=True)  # stored sideways (a quarter turn counter-clockwise) ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... and tagged "turn a quarter clockwise to view", as phones write it
    data = _encode(rotated, exif=exif.tobytes(), quality=90)
    bare = pdq_from_bytes(_encode(rotated, quality=90))
    assert bare is not None and not bank_set.match(FileHashes(bare, "0" * 32, "0" * 64))  # unturned: no match
    (f,) = _findings(bank_set, _scan(bank_set, data, "sideways.jpg"))
    assert f.rule_id == "I2-abuse-material-hash"


def test_hash_list_and_bank_on_one_rule_are_one_finding(bank_set: banks.BankSet) -> None:
    data = _resized_recompressed()
    result = _scan(bank_set, data, "p.jpg")
    obj = detectors.UploadedObject("b", "accounts/acme/p.jpg", "v1", "e", len(data), "acme", UPLOADED)
    top = result.top
    assert top is not None
    hits = [(top, m) for m in bank_set.match(FileHashes(top.pdq, top.md5, top.sha256))]
    lists = {"abuse_material": frozenset({hashlib.sha256(data).hexdigest()})}
    (f,) = detectors.content_findings(obj, result, POLICY, lists, hits)
    assert f.rule_id == "I2-abuse-material-hash"
    assert f.evidence["list"] == "abuse_material" and f.evidence["bank"] == "abuse"


def test_scanning_text_never_imports_numpy_pillow_or_pypdf() -> None:
    code = (
        "import io, sys\n"
        "from aup.detectors.uploads.scanner import ScanEngine\n"
        "from aup.detectors.uploads.signatures import compile_rules\n"
        "from aup.policy import load_default_policy\n"
        "p = load_default_policy()\n"
        "e = ScanEngine(p.upload_scanning, compile_rules(), (), hash_kinds=frozenset({'pdq', 'md5'}))\n"
        "r = e.scan(io.BytesIO(b'plain text, ' * 1000), 'notes.txt')\n"
        "assert r.top.md5 and r.top.pdq is None\n"
        "print(sorted(m for m in ('numpy', 'PIL', 'pypdf') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
