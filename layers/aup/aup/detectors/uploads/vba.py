"""The source of an Office document's VBA macros, and whether it downloads and runs code as the document
opens (I3).

A macro document is a review already (``active.py``: its VBA storage's names). What the macros do is in
their modules' source, which the VBA project keeps compressed (MS-OVBA 2.4.1: a signature byte, then
chunks of literal bytes and copy tokens). Every module's source starts ``Attribute VB_Name = "..."``,
and its first tokens are literals, so a compressed module is found in the raw bytes by
``\\x00Attribut\\x00e VB_Nam`` (as olevba's raw mode finds them), three bytes after its container's
signature. ``sources`` decompresses each; ``downloads_on_open`` says whether the source runs something
by itself (``AutoOpen``, ``Document_Open``, ``Workbook_Open``, ...) that fetches code from the web
(``URLDownloadToFile``, an XMLHTTP request, PowerShell's web client, a web address or an encoded
command handed to a shell): the shape of the macro droppers (Emotet's, Dridex's) in public samples.
A workbook that refreshes its data on opening, or a macro that runs a program without fetching
anything, stays a review.
"""

from __future__ import annotations

import re

VBA_DOWNLOAD_ON_OPEN = "vba-download-on-open"  # a launch action (``detectors.script_in_document``)
_MODULE = re.compile(rb"\x00Attribut\x00e VB_Nam", re.I)
MAX_SOURCE_BYTES = 4 << 20  # decompressed source kept per document (a module is a few KB)

# Procedures Office runs by itself: on opening, on closing, on activating
_AUTO = re.compile(
    r"\b(?:Auto_?Open|Auto_?Exec|Auto_?Close|Document_(?:Open|Close)|DocumentOpen|Workbook_(?:Open|Activate"
    r"|BeforeClose)|Presentation_Open|App_Startup)\b",
    re.I,
)
# What starts a process (not ``Application.Run``, which runs a macro of the workbook's own)
_RUN = re.compile(
    r"\bShell\s*[(\"]|\bShell\s+[A-Za-z_]|WScript\.Shell|Shell\.Application|ShellExecute|CreateProcess"
    r"|Win32_Process|\bMacScript\b",
    re.I,
)
# What fetches code: download APIs, request objects, PowerShell's web client, a web address, encoded code
_FETCH = re.compile(
    r"URLDownloadToFile|XMLHTTP|WinHttp|InternetOpenUrl|Net\.WebClient|DownloadString|DownloadFile"
    r"|Invoke-WebRequest|\bIWR\b|(?:https?|ftp)://|\s-e(?:nc|ncodedcommand)?\s|FromBase64String",
    re.I,
)


def decompress(data: bytes, start: int, limit: int) -> bytes:
    """The bytes of the MS-OVBA compressed container at ``data[start]`` (its signature byte, 1), at most
    ``limit``; a damaged chunk ends it (what was decompressed before is kept)."""
    if data[start : start + 1] != b"\x01":
        return b""
    out = bytearray()
    at = start + 1
    while at + 2 <= len(data) and len(out) < limit:
        header = int.from_bytes(data[at : at + 2], "little")
        if (header >> 12) & 0b111 != 0b011:  # not a chunk: the container has ended
            break
        end = min(at + (header & 0x0FFF) + 3, len(data))
        at += 2
        if not header & 0x8000:  # stored as it is: 4096 bytes
            out += data[at : at + 4096]
            at += 4096
            continue
        chunk = len(out)
        while at < end:
            flags = data[at]
            at += 1
            for bit in range(8):
                if at >= end:
                    break
                if not flags >> bit & 1:
                    out.append(data[at])
                    at += 1
                    continue
                token = int.from_bytes(data[at : at + 2], "little")
                at += 2
                width = max((len(out) - chunk - 1).bit_length(), 4)  # bits of the offset, by position
                source = len(out) - ((token >> (16 - width)) + 1)
                if source < chunk:
                    return bytes(out[:limit])  # a copy from before the chunk: damaged
                for k in range((token & (0xFFFF >> width)) + 3):  # (a copy may overlap what it writes)
                    out.append(out[source + k])
        at = end
    return bytes(out[:limit])


def sources(data: bytes, limit: int = MAX_SOURCE_BYTES) -> list[str]:
    """The decompressed source of each VBA module found in ``data`` (an OLE file's bytes), at most
    ``limit`` bytes in all."""
    found: list[str] = []
    left = limit
    for m in _MODULE.finditer(data):
        start = m.start() - 3  # the container's signature, then its first chunk's header
        if start < 0 or left <= 0:
            continue
        text = decompress(data, start, left)
        left -= len(text)
        if text:
            found.append(text.decode("latin-1"))
    return found


def downloads_on_open(source: str) -> bool:
    """Whether a module's source has Office run, by itself, code that fetches code from the web."""
    return bool(_AUTO.search(source) and _RUN.search(source) and _FETCH.search(source))
