"""Files a web page carries in base64 (I3: HTML smuggling), as members to scan.

A page that hands its visitor an executable without a download from a server writes the file's bytes
into the page as base64 (a script's string, often cut into pieces joined with ``+``, or a ``data:`` URL)
and has the browser save them (``Blob``, ``a.download``, ``a.click()``): the server, and a scanner
reading the page as text, never see the file. ``payloads`` finds such runs by the base64 of the first
bytes of an executable or an archive (``TVqQ`` is ``MZ\\x90``), decodes them, and hands them back as the
page's members; the scanner marks the page when one of them, or a member inside one, is an executable.

Fonts, images and PDFs a page inlines start otherwise and are not decoded: nothing a page shows
starts as an executable or an archive does.
"""

from __future__ import annotations

import binascii
import re

from aup.detectors.uploads.filetype import HEAD_BYTES, is_pe

# The base64 of each format's first three bytes (a run starts at a multiple of three: the file's start)
_MAGIC_B64 = (
    rb"TV[o-r]",  # MZ: Windows executables (PE), checked below for their DOS header
    rb"f0VMR",  # \x7fELF
    rb"z/rt/",  # Mach-O, 64-bit
    rb"UEsDB",  # PK\x03\x04: zip (and what is built on it)
    rb"N3q8ryc",  # 7z
    rb"UmFyIRoH",  # Rar!\x1a\x07
    rb"0M8R4KGx",  # an OLE compound file (doc, xls, msi)
    rb"H4sI",  # gzip
)
_JOIN = rb"(?:[A-Za-z0-9+/]|\\[nr]|\s|[\"']\s*\+\s*[\"'])"  # digits, escaped or real line breaks, "a" + "b"
_RUN = re.compile(rb"(?<![A-Za-z0-9+/])(?:" + rb"|".join(_MAGIC_B64) + rb")" + _JOIN + rb"{60,}")
HINT = re.compile(rb"(?<![A-Za-z0-9+/])(?:" + rb"|".join(_MAGIC_B64) + rb")[A-Za-z0-9+/]{12}").search
_NOT_DIGITS = re.compile(rb"[\"']\s*\+\s*[\"']|\\[nr]|[^A-Za-z0-9+/]")  # a join's "+" is no digit
MAX_PAYLOADS = 16  # runs decoded per page


def payloads(page: bytes, limit: int) -> tuple[list[tuple[str, bytes]], bool]:
    """(members, all read) of the base64 runs in ``page`` that decode to an executable or an archive,
    named ``base64-<k>``; at most ``limit`` decoded bytes and ``MAX_PAYLOADS`` runs (beyond them: not
    all read)."""
    out: list[tuple[str, bytes]] = []
    left = limit
    for m in _RUN.finditer(page):
        digits = _NOT_DIGITS.sub(b"", m.group())
        cut = len(digits) % 4  # the run's padding is not part of it: put back, or one digit too many
        digits = digits[:-1] if cut == 1 else digits + b"=" * (-cut % 4)
        if len(out) >= MAX_PAYLOADS or len(digits) * 3 // 4 > left:
            return out, False
        try:
            data = binascii.a2b_base64(digits)
        except binascii.Error:
            continue
        if data[:2] == b"MZ" and not is_pe(data[:HEAD_BYTES]):  # a run that merely starts TVq
            continue
        left -= len(data)
        out.append((f"base64-{len(out)}", data))
    return out, True
