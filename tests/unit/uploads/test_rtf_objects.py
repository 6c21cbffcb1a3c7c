"""The objects an RTF document embeds (``detectors/uploads/rtf.py``), scanned as its members.

Found by probing: an RTF file is text, so its ``\\objdata`` groups were read as hex digits only. An
executable packaged in a letter, EICAR, or a macro document embedded in it: each was clean, and the scan
complete."""

from __future__ import annotations

import random

import pytest

from aup.detectors.uploads import rtf
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

RNG = random.Random(7)
PE = F.pe(RNG, 4000)


def test_a_plain_letter_is_clean_and_read_as_rtf() -> None:
    v, result, findings = judge(F.rtf("Dear Sir,\nThank you for your order.\nRegards"), "letter.rtf")
    assert v is Verdict.clean and not findings
    assert result.reports[0].type.label == "rtf"


@pytest.mark.parametrize(
    ("objects", "update", "expected", "rules"),
    [
        ([("Package", F.packaged("invoice.pdf", PE))], False, Verdict.threat, {"I3-disguised-executable"}),
        ([("Package", F.packaged("readme.txt", F.EICAR))], False, Verdict.threat, {"I3-malware-signature"}),
        ([("Package", F.packaged("setup.exe", PE))], False, Verdict.review, {"I3-script-in-document"}),
        (
            [("Word.Document.12", F.office("docx", "hello", vba=True))],
            False,
            Verdict.review,
            {"I3-script-in-document"},
        ),
        ([("Equation.3", b"\x1c\x00" + bytes(60))], False, Verdict.review, {"I3-script-in-document"}),
        ([("Equation.3", b"\x1c\x00" + bytes(60))], True, Verdict.threat, {"I3-script-in-document"}),
    ],
    ids=["exe-named-pdf", "eicar", "packaged-exe", "macro-document", "equation", "equation-auto-update"],
)
def test_an_embedded_object_is_scanned_as_a_member(
    objects: list[tuple[str, bytes]], update: bool, expected: Verdict, rules: set[str]
) -> None:
    v, result, findings = judge(F.rtf("Please see the attached.", objects, update=update), "letter.rtf")
    assert v is expected
    assert rules <= rules_of(findings)
    assert any(r.path.startswith("!/object-0") for r in result.reports)


def test_an_embedded_chart_is_read_and_clean() -> None:
    chart = F.xls([[[("Quarter", None), ("Sales", None)], [("Q1", None), (1200, "General")]]])
    v, result, findings = judge(F.rtf("Q3 report", [("Excel.Chart.8", chart)]), "report.rtf")
    assert v is Verdict.clean and not findings
    assert [r.type.label for r in result.reports if r.path == "!/object-0.Excel.Chart.8"] == ["ole"]


def test_personal_data_in_a_packaged_file_is_counted() -> None:
    cards = "\n".join(F.card_numbers(RNG, 40)).encode()
    _, _, findings = judge(F.rtf("x", [("Package", F.packaged("list.csv", cards))]), "letter.rtf")
    assert "W2-bulk-personal-data" in rules_of(findings)


def _obfuscate(doc: bytes) -> bytes:
    """The digits of every object split as exploit kits split them, in ways Word reads past: control
    words, a group it skips, an escaped byte, spaces and line breaks."""
    head, _, rest = doc.partition(b"\\objdata")
    digits, _, tail = rest.partition(b"}")
    pieces = [digits[i : i + 7] for i in range(0, len(digits), 7)]
    junk = [b"\\par ", b"{\\*\\bkmkstart x}", b" \r\n", b"\\'0a", b"\\uc1 "]
    mixed = b"".join(p + junk[i % len(junk)] for i, p in enumerate(pieces))
    return head + b"\\objdata" + mixed + b"}" + tail


def test_object_digits_split_by_what_word_skips_are_still_read() -> None:
    doc = _obfuscate(F.rtf("x", [("Package", F.packaged("readme.txt", F.EICAR))]))
    assert F.EICAR.hex().encode() not in doc.replace(b"\n", b"")  # the digits are no longer one run
    v, _, findings = judge(doc, "letter.rtf")
    assert v is Verdict.threat and "I3-malware-signature" in rules_of(findings)


def test_an_object_whose_group_never_closes_runs_to_the_end() -> None:
    doc = F.rtf("x", [("Package", F.packaged("invoice.pdf", PE))])
    doc = doc[: doc.rindex(b"}}")]  # the objdata and object groups, and the document's, left open
    v, _, findings = judge(doc, "letter.rtf")
    assert v is Verdict.threat and "I3-disguised-executable" in rules_of(findings)


def test_the_rtf_header_without_its_version_is_rtf_as_word_reads_it() -> None:
    doc = F.rtf("x", [("Package", F.packaged("readme.txt", F.EICAR))]).replace(b"{\\rtf1", b"{\\rt", 1)
    v, result, _ = judge(doc, "letter.doc")
    assert result.reports[0].type.label == "rtf" and v is Verdict.threat


def test_an_object_without_an_ole_header_is_scanned_as_its_bytes() -> None:
    doc = b"{\\rtf1{\\object\\objemb{\\*\\objdata " + F.EICAR.hex().encode() + b"}}}"
    v, result, _ = judge(doc, "letter.rtf")
    assert v is Verdict.threat and [r.path for r in result.reports][1] == "!/object-0"


def test_objects_beyond_the_limit_are_said_not_read() -> None:
    doc = F.rtf(
        "x", [("Package", F.packaged("a.bin", bytes(3000))), ("Package", F.packaged("b.bin", bytes(3000)))]
    )
    found = rtf.objects(doc, limit=4000)
    assert len(found.members) == 1 and found.problems == ["embedded objects beyond 4000 bytes not read"]


def test_an_rtf_beyond_the_spool_limit_is_never_clean() -> None:
    from aup.policy import load_default_policy

    scanning = load_default_policy().upload_scanning
    small = scanning.model_copy(
        update={"archives": scanning.archives.model_copy(update={"spool_bytes": 2_000})}
    )
    doc = F.rtf("x", [("Package", F.packaged("notes.txt", b"meeting notes " * 400))])
    v, result, _ = judge(doc, "letter.rtf", settings=small)
    assert v is not Verdict.clean
    assert any("embedded objects not read" in n for n in result.notes)


def test_only_the_equation_objects_own_update_flag_counts() -> None:
    # a chart linked with \objupdate beside an honest legacy equation: the equation is a review, no more
    chart = F.rtf("x", [("Excel.Chart.8", b"chart")], update=True)
    equation = F.rtf("y", [("Equation.3", b"\x1c\x00" + bytes(60))])
    doc = chart[:-1] + equation[equation.index(b"{\\object") :]
    found = rtf.objects(doc, limit=1 << 20)
    assert "equation-editor" in found.markers and "equation-editor-auto-update" not in found.markers
    v, _, _ = judge(doc, "paper.rtf")
    assert v is Verdict.review


def test_an_object_written_as_raw_bytes_is_read() -> None:
    # ``\binN`` then the object's N bytes as they are: the digits' reader saw none, and the raw bytes in
    # the head had the document sniffed as binary; both were clean, the scan complete
    doc = F.rtf("Remittance advice", [("Package", F.packaged("remittance.pdf", PE))], binary=True)
    v, result, findings = judge(doc, "remit.rtf")
    assert result.reports[0].type.label == "rtf"
    assert v is Verdict.threat and "I3-disguised-executable" in rules_of(findings)


def test_raw_bytes_and_digits_of_one_object_join() -> None:
    blob = F.packaged("readme.txt", F.EICAR)
    doc = b"{\\rtf1{\\object\\objemb{\\*\\objdata " + blob[:30].hex().encode() + b"\n\\bin"
    doc += str(len(blob) - 30).encode() + b" " + blob[30:] + b"}}}"
    found = rtf.objects(doc, limit=1 << 20)
    assert found.members == [("object-0", blob)]


def test_raw_bytes_in_a_skipped_group_are_skipped_whole() -> None:
    # braces among a skipped group's raw bytes are data: they neither open nor close a group
    skipped = b"{\\*\\junk \\bin6 }}{{}x}"
    doc = b"{\\rtf1{\\object{\\*\\objdata " + skipped + F.EICAR.hex().encode() + b"}}}"
    found = rtf.objects(doc, limit=1 << 20)
    assert found.members == [("object-0", F.EICAR)]


@pytest.mark.parametrize("size", [b"-5", b"0", b"999999999"])
def test_raw_byte_counts_out_of_range_never_raise(size: bytes) -> None:
    doc = b"{\\rtf1{\\object{\\*\\objdata 4142\\bin" + size + b" 4344}}}"
    found = rtf.objects(doc, limit=1 << 20)
    assert len(found.members) <= 1
