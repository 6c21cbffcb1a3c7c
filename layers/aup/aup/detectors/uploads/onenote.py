"""The files a OneNote section (``.one``) embeds, as members to scan (I3).

A OneNote section keeps each file dropped on a page in a file data store object (MS-ONESTORE
2.6.13): a header GUID, the file's length, then its bytes as they are. In 2023 mail campaigns sent
sections whose page hid, under a "double-click to view" picture, an embedded HTA, batch file, script,
shortcut or executable; scanned as one binary stream, the section was clean. ``embedded`` finds each
stored file by its header, and the scanner reads it as a member of the section (``!/embedded-<k>``);
``runs_code`` says which members make the section a launch: an executable, an HTA, a shortcut that
starts one of Windows' script hosts on a download, or a script whose download is hidden; a script that
downloads in plain sight (a runbook's installer one-liner) is a review. Documents, pictures and other
files people keep in notebooks are scanned as members like any other.
"""

from __future__ import annotations

import re

from aup.detectors.uploads import shortcut

_FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")  # {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}
_DATA_AT = 16 + 8 + 4 + 8  # the header GUID, the length, 4 unused bytes, 8 reserved ones
ONENOTE_EMBEDDED_CODE = "onenote-embedded-code"  # a launch action (``detectors.script_in_document``)
ONENOTE_EMBEDDED_SCRIPT = "onenote-embedded-script"  # active content: a review
MAX_EMBEDDED = 64  # files read per section
_HTA = re.compile(rb"<hta:application", re.I)
# A download out of sight: a hidden or minimised window (PowerShell's, a shell object's ``Run cmd, 0``,
# VBA's ``vbHide``, ``start /min``), or a fetch from a bare IPv4 address
_HIDDEN = re.compile(
    r"-w(?:indowstyle)?\s+(?:hidden|1)\b|\.Run\b[^\r\n]*,\s*0\b|vbHide|start\s+/(?:min|b)\b"
    r"|(?:https?|ftp)://\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}",
    re.I,
)


def embedded(data: bytes, limit: int) -> tuple[list[tuple[str, bytes]], bool]:
    """(members, all read) of the files stored in the OneNote section ``data``: at most ``MAX_EMBEDDED``
    and ``limit`` bytes in all; a file whose stated length runs past the section is cut and not all
    read."""
    out: list[tuple[str, bytes]] = []
    left, complete = limit, True
    at = data.find(_FILE_DATA)
    while at >= 0:
        if len(out) >= MAX_EMBEDDED:
            return out, False
        size = int.from_bytes(data[at + 16 : at + 24], "little")
        start = at + _DATA_AT
        if size > left or start + size > len(data):
            complete = False
            size = min(size, left, max(0, len(data) - start))
        out.append((f"embedded-{len(out)}", data[start : start + size]))
        left -= size
        at = data.find(_FILE_DATA, start + size)
    return out, complete


def runs_code(blob: bytes, kind: str) -> str | None:
    """What a file a section embeds does when opened from it (``kind``: its sniffed type's):
    ``ONENOTE_EMBEDDED_CODE`` (a launch) for an executable, an HTA, a shortcut running a download, or a
    script whose download is hidden (its window hidden, or fetched from a bare address);
    ``ONENOTE_EMBEDDED_SCRIPT`` (a review) for another script that downloads (a runbook's installer
    one-liner reads as a dropper's does, but shows its window and names its vendor); else None."""
    if kind == "executable" or _HTA.search(blob[:8192]):
        return ONENOTE_EMBEDDED_CODE
    if blob.startswith(shortcut.MAGIC):
        found = shortcut.read(blob)
        judged = shortcut.judge(found, "embedded.lnk") if found is not None else None
        return ONENOTE_EMBEDDED_CODE if judged == shortcut.SHORTCUT_EXPLOIT else None
    text = blob[:65536].decode("utf-8", "replace")
    if not shortcut.starts_download(text):
        return None
    return ONENOTE_EMBEDDED_CODE if _HIDDEN.search(text) else ONENOTE_EMBEDDED_SCRIPT
