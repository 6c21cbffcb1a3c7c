"""Active content in documents (I3): PDF actions and scripts, Office macros (OLE VBA storage).

Fed chunk by chunk like the other scanners; keeps counts of what it saw, never content. PDF names are
matched after undoing their ``#xx`` escapes (``/J#61vaScript`` is ``/JavaScript``); FlateDecode
object streams (where PDF 1.5+ hides dictionaries) are inflated, within a budget, and searched too.
OLE files (doc, xls, ppt and the vbaProject.bin inside OOXML) are recognised by their directory
entries' UTF-16 names (``_VBA_PROJECT``, ``Macros``), which are stored uncompressed.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

_PDF_NAME = re.compile(rb"/(?:[JOLAR]|#[0-9A-Fa-f]{2})(?:[A-Za-z0-9]|#[0-9A-Fa-f]{2}){1,24}")
_PDF_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
PDF_NAMES = {
    b"JavaScript": "javascript",
    b"JS": "javascript",
    b"OpenAction": "open-action",
    b"AA": "auto-action",
    b"Launch": "launch",
    b"RichMedia": "rich-media",
}
_STREAM = re.compile(rb"stream\r?\n")
_OLE_MARKERS = {
    "_VBA_PROJECT".encode("utf-16-le"): "vba-macros",
    b"M\x00a\x00c\x00r\x00o\x00s\x00\x00\x00": "vba-macros",  # Word 97's macro storage
    "\x01Ole10Native".encode("utf-16-le"): "embedded-object",
}
OOXML_MEMBERS = {
    "vbaproject.bin": "vba-macros",
    "vbadata.xml": "vba-macros",
    "macrosheets": "xlm-macros",
    "activex": "activex",
}
_INFLATE_BUDGET = 64 * 1024 * 1024  # inflated bytes of PDF streams searched per document


class ActiveContentScanner:
    """``feed`` chunks of a PDF or OLE stream in order; ``found`` names the active content it holds."""

    def __init__(self, label: str, overlap: int = 4096) -> None:
        self.label = label
        self.found: Counter[str] = Counter()
        self._overlap = overlap
        self._tail = b""
        self._offset = 0  # stream offset of the window's first byte
        self._seen: set[int] = set()
        self._inflated = 0

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk if self._tail else chunk
        if self.label == "pdf":
            self._pdf(window)
        else:
            for marker, what in _OLE_MARKERS.items():
                if marker in window:
                    self.found[what] = 1
        keep = window[-self._overlap :]
        self._offset += len(window) - len(keep)
        self._tail = keep

    def _names(self, data: bytes) -> None:
        for m in _PDF_NAME.finditer(data):
            name = m.group(0)[1:]
            if b"#" in name:
                name = _PDF_HEX.sub(lambda h: bytes([int(h.group(1), 16)]), name)
            what = PDF_NAMES.get(name)
            if what:
                self.found[what] += 1

    def _pdf(self, window: bytes) -> None:
        self._names(window)  # (the overlap is searched twice: only presence matters)
        for m in _STREAM.finditer(window):
            at = self._offset + m.end()
            if at in self._seen or self._inflated >= _INFLATE_BUDGET:
                continue
            self._seen.add(at)
            try:
                data = zlib.decompressobj().decompress(window[m.end() :], _INFLATE_BUDGET - self._inflated)
            except zlib.error:
                continue
            self._inflated += len(data)
            self._names(data)
