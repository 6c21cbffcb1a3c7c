"""Windows shortcuts (``.lnk``, MS-SHLLINK) that run a command (I3): what a shortcut starts, and with what.

A shortcut is a small binary file naming a target and its arguments; opening it runs them. Windows never
shows the ``.lnk`` extension, so ``Invoice_2291.pdf.lnk`` is shown as a PDF, and since 2022 a shortcut
that starts PowerShell, mshta or another of Windows' own script hosts with a download in its arguments
is how mail campaigns deliver their payloads. ``read`` takes a shortcut apart (its header's flags, the
target's path in its link info and its ID list, its relative path, arguments and icon location) and
``judge`` says what it does:

- *exploit* (a launch action): a script host or another of Windows' own binaries that fetch and run
  code (``powershell``, ``mshta``, ``rundll32``, ``regsvr32``, ``certutil``, ...) given a web address,
  an encoded command, or a download-and-run in its arguments;
- *command* (active content, a review): such a host with any other arguments (an administrator's
  logon script, ``cmd /c robocopy ...``), or a shortcut to a script host named as a document;
- neither: a shortcut to a program or a folder (a desktop's browser, a team share).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from aup.detectors.uploads.filetype import SHORTCUT_MAGIC as MAGIC

SHORTCUT_EXPLOIT = "shortcut-runs-download"  # a launch action (``detectors.script_in_document``)
SHORTCUT_COMMAND = "shortcut-command"  # active content: a review
MAX_SHORTCUT_BYTES = 1 << 20  # read whole at most this large (a shortcut is a few KB)

# Windows' own binaries that run what they are given (script hosts, and the binaries that fetch or load)
HOSTS = frozenset(
    {"powershell", "pwsh", "cmd", "mshta", "wscript", "cscript", "rundll32", "regsvr32", "msiexec"}
    | {"certutil", "bitsadmin", "curl", "conhost", "forfiles", "schtasks", "wmic", "msbuild", "installutil"}
)
_HOST = re.compile(r"(?:^|[\\/\s\"'])(" + "|".join(sorted(HOSTS)) + r")(?:\.exe)?(?=$|[\s\"',;])", re.I)
# What in a command line fetches or hides code to run: a web address, an encoded or decoded command, a
# download, mshta's script URLs, a scriptlet loaded by regsvr32
_FETCHES = re.compile(
    r"(?:https?|ftp)://|\\\\[^\\\s]+@ssl\\|davwwwroot"
    r"|(?<![\w-])-e(?:c|nc|nco|ncod|ncode|ncoded|ncodedcommand)?(?=\s)"
    r"|\biex\b|invoke-expression|downloadstring|downloadfile|invoke-webrequest|\biwr\b|start-bitstransfer"
    r"|frombase64string|(?:java|vb)script:|scrobj\.dll|/i:\s*http|-urlcache",
    re.I,
)
DOCUMENT_NAMES = re.compile(r"\.(?:pdf|docx?|xlsx?|pptx?|rtf|txt|jpe?g|png|zip|csv|html?)\.lnk$", re.I)

_FLAGS = {"id_list": 0x1, "link_info": 0x2, "name": 0x4, "relative": 0x8, "workdir": 0x10}
_FLAGS |= {"arguments": 0x20, "icon": 0x40, "unicode": 0x80}


@dataclass
class Shortcut:
    """What a shortcut names: its target (every path it gives: link info, ID list, relative path) and
    its arguments."""

    target: str = ""
    arguments: str = ""


def _strings(blob: bytes) -> str:
    """Readable runs (ASCII, and UTF-16LE) of an ID list's shell items, where the target's names are."""
    ascii_runs = re.findall(rb"[\x20-\x7e]{3,}", blob)
    wide_runs = re.findall(rb"(?:[\x20-\x7e]\x00){3,}", blob)
    return " ".join([r.decode("ascii") for r in ascii_runs] + [r.decode("utf-16-le") for r in wide_runs])


def read(data: bytes) -> Shortcut | None:
    """The shortcut in ``data`` (None: not one, or cut before its strings)."""
    if not data.startswith(MAGIC) or len(data) < 0x4C:
        return None
    (flags,) = struct.unpack_from("<I", data, 0x14)
    at = 0x4C
    found = Shortcut()
    targets: list[str] = []
    try:
        if flags & _FLAGS["id_list"]:
            (size,) = struct.unpack_from("<H", data, at)
            targets.append(_strings(data[at + 2 : at + 2 + size]))
            at += 2 + size
        if flags & _FLAGS["link_info"]:
            size, _header, info_flags, _volume, base = struct.unpack_from("<IIIII", data, at)
            if info_flags & 1 and 0 < base < size:
                targets.append(data[at + base : at + size].split(b"\x00", 1)[0].decode("latin-1"))
            at += size
        wide = bool(flags & _FLAGS["unicode"])
        for field in ("name", "relative", "workdir", "arguments", "icon"):
            if not flags & _FLAGS[field]:
                continue
            (count,) = struct.unpack_from("<H", data, at)
            size = count * (2 if wide else 1)
            raw = data[at + 2 : at + 2 + size]
            if len(raw) < size:
                return None
            text = raw.decode("utf-16-le" if wide else "latin-1", "replace")
            at += 2 + size
            if field == "relative":
                targets.append(text)
            elif field == "arguments":
                found.arguments = text
    except struct.error:
        return None
    found.target = " ".join(targets)
    return found


def judge(shortcut: Shortcut, name: str) -> str | None:
    """``SHORTCUT_EXPLOIT``, ``SHORTCUT_COMMAND`` or None for a shortcut stored as ``name``."""
    if _HOST.search(shortcut.target) is None:
        return None
    if _FETCHES.search(shortcut.arguments) or _FETCHES.search(shortcut.target):
        return SHORTCUT_EXPLOIT
    if shortcut.arguments.strip() or DOCUMENT_NAMES.search(name):
        return SHORTCUT_COMMAND
    return None


def starts_download(text: str) -> bool:
    """Whether a script's text (a batch file, a VBScript, a JScript) has one of Windows' script hosts
    fetch code: ``powershell -c iwr http://...``, ``WScript.Shell`` running ``mshta http://...``."""
    return (_HOST.search(text) is not None or "wscript.shell" in text.lower()) and bool(_FETCHES.search(text))
