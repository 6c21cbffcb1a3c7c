"""Hash banks end to end: `aupctl banks` on S3 (moto, the template deployed), matching edited copies."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image, ImageEnhance, ImageOps

from aup.adapters.banks import S3BankStore, parse_uri
from aup.detectors.uploads import pdq
from aup.usecases import banks
from aupctl.cli import main
from tests.fakes.objects import DictStore

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pdq"
ORIGINAL = FIXTURES / "images" / "aaa-orig.jpg"
OPS = "aup-ops-data"
URI = f"s3://{OPS}/banks/"
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _jpeg(image: Image.Image, **kw: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", **kw)
    return out.getvalue()


def _copies(tmp: Path) -> dict[str, Path]:
    base = Image.open(ORIGINAL).convert("RGB")
    w, h = base.size
    back = ImageOps.mirror(Image.open(io.BytesIO(_jpeg(ImageOps.mirror(base)))).convert("RGB"))
    made = {
        "resized": _jpeg(base.resize((w // 3, h // 3))),
        "recompressed": _jpeg(base, quality=25),
        "brighter": _jpeg(ImageEnhance.Brightness(base).enhance(1.25)),
        "cropped": _jpeg(base.crop((w // 100, h // 100, w - w // 100, h - h // 100))),
        "flipped-back": _jpeg(back),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = tmp / f"{name}.jpg"
        paths[name].write_bytes(data)
    return paths


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([*argv])
    out = capsys.readouterr()
    return rc, out.out + out.err


@pytest.fixture
def ops(stack: Any, monkeypatch: pytest.MonkeyPatch) -> S3BankStore:
    """The operators' data bucket (a parameter of the template, ScannerDataBucket: not created by it)."""
    boto3.client("s3").create_bucket(Bucket=OPS)
    monkeypatch.setenv("AUP_BANKS_URI", URI)
    monkeypatch.setenv("AUP_OPERATOR", "alice")
    return S3BankStore(URI)


def test_a_pdq_bank_imported_from_csv_matches_edited_copies_and_not_unrelated_images(
    ops: S3BankStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    banked = pdq.pdq_from_bytes(ORIGINAL.read_bytes())
    assert banked is not None
    unrelated = pdq.pdq_from_bytes((FIXTURES / "images" / "c.png").read_bytes())
    assert unrelated is not None
    listing = tmp_path / "list.csv"
    listing.write_text(
        f"hash,case_id,label\n{banked.hex},case-17,bridge\n{'f' * 63}z,bad,row\n", encoding="utf-8"
    )
    rc, out = _run(
        capsys,
        "banks",
        "import",
        "known-illegal",
        str(listing),
        "--kind",
        "pdq",
        "--clause",
        "W4",
        "--source",
        "lantern",
        "--list-version",
        "2026-11",
    )
    assert rc == 0, out
    assert "known-illegal: 1 pdq hashes (W4, W4-known-illegal-hash)" in out
    assert "rejected line 3" in out

    rc, out = _run(capsys, "banks", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "known-illegal" and listed["threshold"] == 31 and listed["count"] == 1
    assert listed["source"] == "lantern" and listed["list_version"] == "2026-11"
    assert listed["severity"] == "critical" and "mandatory report" in listed["action"]

    rc, out = _run(capsys, "banks", "show", "known-illegal", "--json")
    assert json.loads(out)["entries"][0]["case_id"] == "case-17"

    copies = _copies(tmp_path)
    rc, out = _run(capsys, "banks", "match", "--json", *map(str, copies.values()))
    assert rc == 1, out
    report = json.loads(out)
    for r in report:
        (m,) = r["matches"]
        assert m["bank"] == "known-illegal" and m["clause"] == "W4" and m["kind"] == "pdq"
        assert m["matched_hash"] == banked.hex
        assert 0 <= m["distance"] <= 31 and m["quality"] >= 50
        assert m["provenance"]["source"] == "lantern" and m["provenance"]["case_id"] == "case-17"
        assert set(m) == {
            "bank",
            "kind",
            "clause",
            "matched_hash",
            "distance",
            "threshold",
            "quality",
            "provenance",
        }  # never the image

    other = tmp_path / "other.png"
    other.write_bytes((FIXTURES / "images" / "c.png").read_bytes())
    rc, out = _run(capsys, "banks", "match", str(other))
    assert rc == 0 and "no match" in out


def test_a_flat_image_is_not_matched_even_when_its_own_hash_is_banked(
    ops: S3BankStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flat = tmp_path / "flat.png"
    Image.new("RGB", (300, 200), (90, 90, 90)).save(flat)
    h = pdq.hash_bytes(flat.read_bytes())
    assert h.pdq is not None and h.pdq.quality < 50
    ops.put("x", b"")  # the bucket is writable
    banks.import_bank(ops, "flat", h.pdq.hex.encode(), now=AT, actor="t", kind="pdq", clause="I2")
    rc, out = _run(capsys, "banks", "match", str(flat))
    assert rc == 0 and "not matched" in out
    assert banks.BankSet.load(ops).match(h, min_quality=0)  # what the quality bar prevents


def test_digest_banks_an_audited_single_add_and_remove(
    ops: S3BankStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 synthetic infringing clip" * 20)
    h = pdq.hash_bytes(video.read_bytes())
    assert h.pdq is None
    md5s = tmp_path / "md5.txt"
    md5s.write_text(f"# acme's list\n{'0' * 32}\n{'1' * 32} trailing words\n", encoding="utf-8")
    rc, out = _run(capsys, "banks", "import", "infringing-acme", str(md5s), "--kind", "md5", "--clause", "I1")
    assert rc == 0, out
    rc, out = _run(capsys, "banks", "match", str(video))
    assert rc == 0

    rc, out = _run(capsys, "banks", "add", "infringing-acme", h.md5.upper(), "--reason", "notice 42")
    assert rc == 0 and "3 hashes" in out, out
    rc, out = _run(capsys, "banks", "match", "--json", str(video))
    assert rc == 1
    (m,) = json.loads(out)[0]["matches"]
    assert m["kind"] == "md5" and m["distance"] == 0 and m["quality"] is None and m["clause"] == "I1"
    assert m["provenance"]["source"] == "operator:alice" and m["provenance"]["reason"] == "notice 42"

    s3 = boto3.client("s3")
    bucket, prefix = parse_uri(URI)
    audit = [
        json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "audit/")["Contents"]
    ]
    assert [(a["action"], a["actor"]) for a in audit] == [("import", "alice"), ("add", "alice")]
    assert audit[1]["hash"] == h.md5 and audit[1]["reason"] == "notice 42"

    rc, out = _run(capsys, "banks", "remove", "infringing-acme", "--reason", "licence granted")
    assert rc == 0
    rc, out = _run(capsys, "banks", "match", str(video))
    assert rc == 0
    rc, out = _run(capsys, "banks", "list")
    assert "no banks" in out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    assert not any(k.startswith(prefix + "infringing-acme/") for k in keys)
    assert sum(k.startswith(prefix + "audit/") for k in keys) == 3


def test_bad_imports_change_nothing(
    ops: S3BankStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("not a hash\n", encoding="utf-8")
    rc, out = _run(capsys, "banks", "import", "x", str(junk), "--kind", "sha256", "--clause", "I1")
    assert rc == 1 and "no valid sha256 hash" in out
    rc, out = _run(capsys, "banks", "import", "x", str(junk))
    assert rc == 1 and "--kind is needed" in out
    rc, out = _run(capsys, "banks", "import", "Bad/Name", str(junk), "--kind", "md5", "--clause", "I1")
    assert rc == 1 and "bank name" in out
    rc, out = _run(capsys, "banks", "add", "missing", "0" * 32, "--reason", "r")
    assert rc == 1 and "no bank missing" in out
    assert ops.get(banks.INDEX_KEY) is None


def test_replace_and_merge_imports_and_the_threshold() -> None:
    store = DictStore()
    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    first, _ = banks.import_bank(
        store,
        "p",
        f"{a}\n{b}\n{a}\n".encode(),
        now=AT,
        actor="t",
        kind="pdq",
        clause="I2",
        threshold=10,
        list_version="v1",
    )
    assert [e["hash"] for e in banks.read_entries(store, "p")] == [a, b]
    assert not first.metadata  # a plain list: a match reads no entries.jsonl
    later = AT.replace(hour=13)
    bank, _ = banks.import_bank(
        store, "p", c.encode(), now=later, actor="t", replace=False, list_version="v2"
    )
    assert bank.count == 3 and bank.threshold == 10 and bank.clause == "I2" and bank.list_version == "v2"
    merged = banks.BankSet.load(store)
    for value, version, at in ((a, "v1", AT), (c, "v2", later)):
        hashes = pdq.FileHashes(pdq=pdq.PdqHash(int(value, 16), 100), md5="0" * 32, sha256="0" * 64)
        (m,) = merged.match(hashes)
        assert m.provenance["list_version"] == version and m.provenance["imported_at"] == at.isoformat()
    bank, _ = banks.import_bank(store, "p", c.encode(), now=AT, actor="t")
    assert bank.count == 1
    with pytest.raises(banks.BankError):
        banks.import_bank(store, "p", ("0" * 32).encode(), now=AT, actor="t", kind="md5")
    loaded = banks.BankSet.load(store)
    near = int(c, 16) ^ 0b1111111111  # 10 bits
    far = near ^ (1 << 200)  # 11 bits
    hashes = pdq.FileHashes(pdq=pdq.PdqHash(near, 100), md5="0" * 32, sha256="0" * 64)
    assert [m.distance for m in loaded.match(hashes)] == [10]
    hashes = pdq.FileHashes(pdq=pdq.PdqHash(far, 100), md5="0" * 32, sha256="0" * 64)
    assert loaded.match(hashes) == []


def test_aupctl_hash_prints_one_line_per_file_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n", encoding="utf-8")
    rc, out = _run(capsys, "hash", str(ORIGINAL), str(text))
    assert rc == 0
    first, second = out.splitlines()
    assert first.startswith(
        f"{ORIGINAL} pdq=d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22 "
    )
    assert " quality=100 md5=" in first and len(first.rsplit("sha256=", 1)[1]) == 64
    assert second == (
        f"{text} pdq=- quality=- md5=b1946ac92492d2347c6235b4d2611184 "
        "sha256=5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    )
    rc, out = _run(capsys, "hash", "--json", str(ORIGINAL))
    (row,) = json.loads(out)
    assert row["quality"] == 100 and row["pdq"].startswith("d8f8f0ce")
    rc, out = _run(capsys, "hash", str(tmp_path / "missing.jpg"))
    assert rc == 2


def test_two_operators_changing_two_banks_at_once_both_land() -> None:
    """Operator B's import lands between operator A's read of index.json and A's write: A's write loses
    the compare-and-swap, re-reads and keeps B's bank (a plain write dropped it)."""
    store = DictStore()
    md5 = "0" * 32
    banks.import_bank(store, "base", f"{md5}\n".encode(), now=AT, actor="a", kind="md5", clause="I1")
    raced: list[str] = []

    def other_operator(key: str) -> None:
        if key == banks.INDEX_KEY and not raced:
            raced.append(key)
            banks.import_bank(
                store, "b", f"{'1' * 32}\n".encode(), now=AT, actor="b", kind="md5", clause="I1"
            )

    store.before_put = other_operator
    banks.add_hash(store, "base", "2" * 32, now=AT, actor="a", reason="notice 7")
    assert store.lost.count(banks.INDEX_KEY) == 1  # A's first write lost, and was retried
    listed = {b.name: b.count for b in banks.list_banks(store)}
    assert listed == {"base": 2, "b": 1}
    # Every change has its own audit record, even in the same microsecond.
    audits = sorted(k for k in store.objects if k.startswith("audit/"))
    assert len(audits) == 3 and len(set(audits)) == 3


def test_a_bank_index_that_keeps_changing_is_refused_not_overwritten() -> None:
    store = DictStore()
    banks.import_bank(store, "base", f"{'0' * 32}\n".encode(), now=AT, actor="a", kind="md5", clause="I1")
    n = iter(range(1000))

    def endless(key: str) -> None:
        if key == banks.INDEX_KEY:
            store.objects[key] = store.objects[key] + b" " * (next(n) % 2 + 1)  # a new tag each time

    store.before_put = endless
    with pytest.raises(banks.BankError, match="kept changing"):
        banks.remove_bank(store, "base", now=AT, actor="a", reason="r")
    store.before_put = None
    assert [b.name for b in banks.list_banks(store)] == ["base"]


def test_s3_conditional_writes_of_the_bank_store(ops: S3BankStore) -> None:
    assert ops.get_tagged("k") == (None, None)
    assert ops.put_if("k", b"one", "text/plain", tag=None)
    assert not ops.put_if("k", b"two", "text/plain", tag=None)  # create-only: it exists
    body, tag = ops.get_tagged("k")
    assert body == b"one" and tag
    assert ops.put_if("k", b"three", "text/plain", tag=tag)
    assert not ops.put_if("k", b"four", "text/plain", tag=tag)  # stale tag
    assert ops.get("k") == b"three"
