"""Stream an object once (and every container member) through hash, type, signatures, text and markup.

``ScanEngine.scan`` reads a seekable binary file in chunks: memory stays bounded by the chunk size
(plus, for a container nested in a compressed stream, one materialised copy of at most
``archives.spool_bytes``, spilled to /tmp beyond 16 MiB) whatever the object's size. Containers are
opened wherever they are found, recursively: zip (by its magic, or by its end-of-central-directory
record in the stream's last 64 KiB, which finds zips appended to images, behind junk bytes and in
self-extractors), tar, and whatever gzip, bzip2 and xz decompress to. 7z and rar are not opened.

**The one rule** (``ScanEngine._finish``): a scan is ``complete`` only if every byte of every stream
went through every detector that applies to it. Each stream's report records what it did not read
(``unread``: text beyond the PII limit, markup beyond the parse limit, a container not opened, an
encrypted or unreadable member...), and ``_finish`` turns any such gap into the scan's status with
its reason. A timeout, an expansion budget or a member-count limit end the scan the same way. Only a
``complete`` scan may ever be called clean.

Hashes for the banks (``hash_kinds``, what the loaded banks can match): MD5 is updated chunk by chunk
beside SHA-256; an image (JPEG, PNG, WebP, GIF, TIFF, BMP; object or member) up to
``pdq_max_image_bytes`` is buffered and PDQ-hashed when its stream ends (numpy and Pillow are imported
then, never for a non-image). A larger or undecodable image is matched by its digests only, and the
report says so (``hash_note``, collected in ``ScanResult.hash_notes``): it does not make the scan
incomplete, every byte still went through every other detector.

Archive bombs are judged by expansion, never by member count or depth alone: members sharing
compressed data (overlapping entries), or the bytes inflated from one object beyond
``archives.max_ratio`` times its size (past ``ratio_min_bytes``). Past the ratio, the chain of streams
from the object to the one being read says whether it was crafted (``expanding_layers``): honest data
is compressed once, so one layer expands (a sparse disk image under xz, a zero-filled file in a tar.gz);
a nested bomb expands at each. Under ``bomb_min_layers`` expanding layers the scan reads on, to
``shallow_bomb_budget_bytes``. An honest archive beyond a limit is ``not-scanned``, never a bomb.
"""

from __future__ import annotations

import codecs
import contextlib
import email
import hashlib
import io
import logging
import mmap
import re
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from aup.detectors.uploads import links, onenote, rtf, sheets, shortcut, smuggling, unix_archives, vba
from aup.detectors.uploads.active import OOXML_MEMBERS, ActiveContentScanner
from aup.detectors.uploads.filetype import HEAD_BYTES, FileType, extension, sniff
from aup.detectors.uploads.markup import MARKDOWN_EXTENSIONS, MarkdownCode, MarkupReport, MarkupScanner
from aup.detectors.uploads.pdq import PdqHash, pdq_from_bytes
from aup.detectors.uploads.signatures import SignatureScanner
from aup.detectors.uploads.text import TextCounts, TextScanner
from aup.policy.sections.uploads import UploadScanning

# An Excel binary workbook's (.xlsb) parts, members of its zip: their records hold every string as
# UTF-16LE (shared strings, inline cells, comments, sheet names), which no byte-level detector reads.
# (Its OLE parts, a vbaProject.bin, are sniffed as OLE and read as OLE.)
_XLSB_PART = re.compile(r"(?:^|/)xl/(?:[^/]+/)*[^/]+\.bin$", re.IGNORECASE).search
# An OLE directory entry's name, UTF-16LE and NUL-terminated: a BIFF8 or a BIFF5 workbook stream
_WORKBOOK_ENTRIES = ("Workbook\0".encode("utf-16-le"), "Book\0".encode("utf-16-le"))
NESTED_IN_MEMORY_BYTES = 16 * 1024 * 1024  # a nested container up to this size is opened from memory
_EOCD = b"PK\x05\x06"
# A layer of a container chain "expands" past this: honest compressed data, held by another container,
# comes out at about its packed size (0.9-1.1 x), and a crafted nested bomb grows 10-1000 x at each layer.
LAYER_EXPANSION = 4
_EOCD_REACH = 65536 + 22  # the record is within the last 64 KiB (+ its own size) of a zip
_STREAM_ARCHIVES = {"gzip", "bzip2", "xz", "zstd"}
# Containers not opened: reported not read (their content is compressed, or a file system), never clean
_UNSUPPORTED_ARCHIVES = {
    "rar",
    "udf",
    "cab",
    "chm",
    "lz4",
    "wim",
    "vhdx",
    "squashfs",
    "xar",
    "rpm",
    "compress",
}
_UNSUPPORTED_ARCHIVES |= {"lzh", "ace", "arj", "cpio-odc"}
# A disk image (.iso, .img) is told by its first volume descriptor's id, at 32 KiB + 1: ISO 9660 (and
# its Joliet and Rock Ridge names) is opened with pycdlib; a UDF-only image is not opened (not read)
_VOLUME_ID_AT, _VOLUME_ID_END = 0x8001, 0x8006
_DISK_IMAGE_IDS = {b"CD001": "iso", b"BEA01": "udf"}
# Markup in a text stream (a .txt, an extension-less file, XML), anywhere: the markup scanner starts
# there. Literal-led patterns only (the regex engine is fast on those): a tag, or a javascript: URL.
_MARKUP_TAG = re.compile(rb"<[A-Za-z!/?]")
_MARKUP_KINDS = {"text", "xml"}
# Markup (sniffed, or found in a text) is read as a page's only where a browser may render it as one:
# a page's extension (or none: a browser or a server sniffs it), or, for the object itself, a stored
# Content-Type that renders (``renders_markup``; unknown: it may). An access log named ``.log`` stored as
# text/plain, or a rotated ``access.log.1`` in a tar.gz, holds the XSS probes its server was sent, from
# its first lines on; served or opened as text, they run nothing. (Markdown has its own path above.)
_PAGE_EXTENSIONS = frozenset({
    "", "html", "htm", "xhtml", "xht", "shtml", "svg", "xml", "xsl", "xslt", "mht", "mhtml", "hta", "php",
})  # fmt: skip
_MARKDOWN_KINDS = {"text", "html", "svg", "xml"}  # what a Markdown file sniffs as, by the tags it shows
_RENDERED_AS_MARKUP = ("html", "xml", "svg")  # text/html, application/xhtml+xml, image/svg+xml, text/xml


def _zstd() -> Any:
    """Zstandard: the standard library's from Python 3.14, its backport before (imported when used)."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]  # (3.14's)
    except ImportError:
        from backports import zstd
    return zstd


def renders_markup(content_type: str | None) -> bool:
    """Whether a browser given ``content_type`` may render the object as a page (unknown: it may)."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or any(word in media for word in _RENDERED_AS_MARKUP)


SMUGGLED_EXECUTABLE = "smuggled-executable"  # a page carrying an executable in base64: a launch action
RELS_LIMIT = 16 << 20  # a relationship part read for its links at most this large (a link is ~200 bytes)
_PDQ_LABELS = {"jpeg", "png", "webp", "gif", "tiff", "bmp"}  # images Pillow decodes (first frame)


class ScanStatus(StrEnum):
    complete = "complete"
    too_large = "too-large"
    encrypted = "encrypted"
    timeout = "timeout"
    unsupported = "unsupported"
    failed = "failed"


@dataclass
class ContentReport:
    """One stream's content: the object itself (path '') or a member (``a.zip!/dir/b.txt``)."""

    path: str
    depth: int
    size: int
    sha256: str
    type: FileType
    signatures: set[str] = field(default_factory=set)
    signature_confidence: dict[str, float] = field(default_factory=dict)
    text: TextCounts | None = None
    markup: MarkupReport | None = None
    active: Counter[str] = field(default_factory=Counter)  # javascript, open-action, vba-macros, ...
    unread: str = ""  # what of this stream no detector read, '' when every byte was read
    unread_status: ScanStatus = ScanStatus.complete
    md5: str = ""  # when an md5 bank is loaded
    pdq: PdqHash | None = None  # an image's, when a pdq bank is loaded
    hash_note: str = ""  # why an image was matched by its digests only ('' otherwise)
    ole_workbook: bool = False  # an OLE file whose directory names a workbook stream (an .xls)
    # a page with a base64 run that starts as an executable or an archive does (``smuggling.HINT``)
    carries_base64_file: bool = False

    def not_read(self, status: ScanStatus, why: str) -> None:
        if not self.unread:
            self.unread, self.unread_status = why, status


@dataclass
class ArchiveBomb:
    reason: str  # overlapping-members, ratio
    member: str
    detail: dict[str, Any]


@dataclass
class ScanResult:
    status: ScanStatus
    reports: list[ContentReport] = field(default_factory=list)
    bomb: ArchiveBomb | None = None
    encrypted_members: int = 0
    bytes_read: int = 0  # decompressed bytes included
    inflated_bytes: int = 0  # bytes of streams inside the object (members, decompressed output)
    note: str = ""
    notes: list[str] = field(default_factory=list)
    hash_notes: list[str] = field(default_factory=list)  # images matched by their digests only, and why

    @property
    def top(self) -> ContentReport | None:
        return self.reports[0] if self.reports else None

    def incomplete(self, status: ScanStatus, note: str) -> None:
        """Record that the scan did not read everything; the first reason sets the status."""
        if self.status is ScanStatus.complete:
            self.status, self.note = status, note
        if len(self.notes) < 10:
            self.notes.append(note)


def _opens_without_password(reader: Any) -> bool:
    """Whether an encrypted PDF opens with the empty user password (one that only restricts printing or
    copying). AES needs the ``cryptography`` package, which the layer does not ship: such a PDF is
    treated as one with a password."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # pypdf's DependencyError (AES), or a damaged encryption dictionary
        return False


MIME_PARSE_BYTES = 64 * 1024 * 1024  # an e-mail is parsed in memory: larger, its encoded parts are not read


class ScanTimeout(Exception):
    pass


class _BombFound(Exception):
    def __init__(self, bomb: ArchiveBomb) -> None:
        super().__init__(bomb.reason)
        self.bomb = bomb


class _Budget(Exception):
    """The object expanded beyond the absolute budget without evidence of malice: not scanned."""


@dataclass
class ScanEngine:
    """Everything a scan needs that outlives one object: settings, compiled rules, marks."""

    settings: UploadScanning
    rules: Any  # compiled yara rules
    marks: tuple[str, ...]
    out_of_time: Callable[[], bool] = lambda: False
    #: The hashes the loaded banks can match, beyond SHA-256 (always computed): "md5", "pdq".
    hash_kinds: frozenset[str] = frozenset()
    _threats: tuple[bytes, ...] = field(default=(), init=False)
    _object_size: int = field(default=0, init=False)
    _owner: str = field(default="", init=False)
    _served_as: str | None = field(default=None, init=False)  # the object's stored Content-Type
    _name: str = field(default="", init=False)  # the object's key, as ``scan`` was given it
    #: The streams being opened as containers, outermost first: the chain a ratio bomb is measured along;
    #: and each stream's packed size in its container (None: stored as it is), the stream being read last.
    _open: list[ContentReport] = field(default_factory=list, init=False)
    _packed: list[int | None] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._threats = tuple(p.lower().encode() for p in self.settings.threat_phrases)

    def scan(
        self, fileobj: IO[bytes], name: str, owner: str = "", served_as: str | None = None
    ) -> ScanResult:
        """Scan ``fileobj`` (seekable, positioned at 0). Never raises for content; I/O errors propagate.

        ``served_as``: the object's stored Content-Type. A Markdown file's code is blanked before it is
        read as markup only when that type is known and is none a browser renders as a page
        (``renders_markup``): the same bytes served as ``text/html`` run every fenced payload."""
        result = ScanResult(status=ScanStatus.complete)
        self._owner = owner
        self._served_as = served_as
        self._name = name
        self._open, self._packed = [], []
        self._object_size = fileobj.seek(0, io.SEEK_END)
        fileobj.seek(0)
        try:
            self._node(fileobj, "", 0, name, result, cheap_seek=True)
        except ScanTimeout:
            result.incomplete(ScanStatus.timeout, "the scan ran out of time")
        except _BombFound as found:
            result.bomb = found.bomb
            result.incomplete(ScanStatus.too_large, f"archive bomb ({found.bomb.reason}): expansion stopped")
        except _Budget as limit:
            result.incomplete(ScanStatus.too_large, str(limit))
        self._finish(result)
        return result

    def _past_ratio(self, inflated: int, size: int, packed: int | None, member: str) -> None:
        """The object's streams have inflated to ``inflated`` bytes, past ``max_ratio`` times its size,
        while ``member`` is read (``size`` bytes so far, packed in ``packed``). A ratio bomb at once when
        the chain to it expanded at ``bomb_min_layers`` layers or more; otherwise (a sparse disk image, a
        preallocated file compressed) the scan reads on to ``shallow_bomb_budget_bytes``, so such a file
        that ends within it is read to its end, and is a bomb only past it."""
        a = self.settings.archives
        layers = self.expanding_layers(size, packed)
        if layers < a.bomb_min_layers and inflated <= a.shallow_bomb_budget_bytes:
            return
        detail = {
            "ratio": round(inflated / max(self._object_size, 1), 1),
            "inflated_bytes": inflated,
            "expanding_layers": layers,
        }
        raise _BombFound(ArchiveBomb("ratio", member, detail))

    def expanding_layers(self, size: int, packed: int | None) -> int:
        """The streams of the chain from the object to the one being read (``size`` bytes so far, packed
        in ``packed``) that each came out more than ``LAYER_EXPANSION`` times their packed size. Honest
        data is compressed once: a container holding compressed data does not shrink it again, so an
        honest chain expands at one layer (a sparse disk image under xz, a zero-filled file in a tar.gz)
        and a crafted one at each (42.zip, gzip over gzip)."""
        sizes = [r.size for r in self._open] + [size]
        packs = [*self._packed[: len(self._open)], packed]
        return sum(
            1 for n, p in zip(sizes, packs, strict=True) if p is not None and n > LAYER_EXPANSION * max(p, 1)
        )

    @staticmethod
    def _finish(result: ScanResult) -> None:
        """The one place that decides completeness: any stream not read to the end by every detector
        that applies makes the whole scan incomplete, with that stream's reason."""
        for r in result.reports:
            if r.unread:
                result.incomplete(r.unread_status, f"{r.path or '(object)'}: {r.unread}")

    # -- one node: a stream, then the container it may be -------------------------------------------

    def _node(
        self,
        f: IO[bytes],
        path: str,
        depth: int,
        name: str,
        result: ScanResult,
        *,
        cheap_seek: bool,
        packed: int | None = None,
    ) -> ContentReport:
        """``packed``: the bytes the stream takes in its container when it is compressed there."""
        self._packed.append(packed)
        try:
            report, zip_tail = self._linear(f.read, path, depth, name, result)
            self._open.append(report)
            try:
                return self._inside(f, report, path, depth, name, result, zip_tail, cheap_seek=cheap_seek)
            finally:
                self._open.pop()
        finally:
            self._packed.pop()

    def _inside(
        self,
        f: IO[bytes],
        report: ContentReport,
        path: str,
        depth: int,
        name: str,
        result: ScanResult,
        zip_tail: bool,
        *,
        cheap_seek: bool,
    ) -> ContentReport:
        """What a stream holds beyond its bytes: its second reads (a PDF's text, an e-mail's parts, a
        workbook's cells, macros, RTF objects, a shortcut, OneNote files, a page's base64 files), then its
        members when it is a container."""
        reads = [
            read
            for read, wanted in (
                (self._pdf_text, report.type.label == "pdf"),
                (self._mime_parts, report.type.label == "email"),
                (
                    self._ole_numbers,
                    report.type.label == "ole" and report.ole_workbook,
                ),  # (a workbook's cells)
                (self._ole_macros, report.type.label == "ole" and bool(report.active["vba-macros"])),
                (self._rtf_objects, report.type.label == "rtf"),
                (self._shortcut, report.type.label == "lnk"),
                (self._onenote_files, report.type.label == "onenote"),
                (self._smuggled_files, report.carries_base64_file),
            )
            if wanted
        ]
        if reads:  # a second read, of the whole stream, for what the linear pass cannot see
            src = self._reread(f, report, report.type.label, cheap_seek=cheap_seek)
            if src is not None:
                try:
                    for read in reads:
                        src.seek(0)
                        read(src, report, f"{path}!/" if path else "!/", depth, result)
                finally:
                    if src is not f:
                        src.close()
        label = report.type.label if report.type.kind == "archive" else ("zip" if zip_tail else "")
        if not label:
            return report
        if label in _UNSUPPORTED_ARCHIVES:
            report.not_read(ScanStatus.unsupported, f"{label} archives are not opened")
            return report
        if depth >= self.settings.archives.max_depth:
            report.not_read(ScanStatus.too_large, f"containers nested deeper than {depth}")
            return report
        try:
            f.seek(0)  # decompressors and zip members rewind (by decompressing again)
        except (OSError, ValueError, tarfile.TarError) as exc:  # a member of a streamed tar cannot
            report.not_read(ScanStatus.too_large, f"container not re-readable: {type(exc).__name__}")
            return report
        if label in _STREAM_ARCHIVES:
            self._compressed(f, report, name, depth, result)
            return report
        src = f if cheap_seek or label == "tar" else self._materialize(f, report)
        if src is None:
            return report
        try:
            src.seek(0)
            if label == "tar":
                self._tar(src, report, depth, result)
            elif label == "7z":
                self._sevenzip(src, report, depth, result)
            elif label == "iso":
                self._disk_image(src, report, depth, result)
            elif label in ("ar", "cpio"):
                self._unix_archive(src, report, depth, result)
            else:
                self._zip(src, report, depth, result, strict=report.type.label == "zip")
        finally:
            if src is not f:
                src.close()
        return report

    def _pdf_text(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """The words of a PDF's pages, read by the text detectors as its member ``<pdf>!/text``, and the
        files attached to it, scanned as its members (``<pdf>!/<name>``) like a zip's.

        They sit in content streams (mostly compressed) under the fonts' encodings, which no byte scan
        reads: pypdf extracts them. A PDF whose text cannot be extracted (damaged, encrypted with a
        password, beyond the spool limit, the time) is not read to the end, so it is never clean; one
        whose pages are images has no text, as an image has none."""
        from pypdf import (
            PdfReader,  # at first use: ~0.2 s of imports, paid only by a function that meets a PDF
        )

        logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes on damaged files: noise

        text = TextScanner(self.settings, self._threats)
        chars = 0
        attached: list[tuple[str, bytes]] = []
        try:
            reader = PdfReader(src, strict=False)
            if reader.is_encrypted and not _opens_without_password(reader):
                report.not_read(ScanStatus.encrypted, "pdf encrypted with a password: its text is not read")
                return
            for page in reader.pages:
                if self.out_of_time():
                    raise ScanTimeout
                words = (page.extract_text() or "").encode("utf-8", "replace")
                chars += len(words)
                text.feed(words + b"\n")
                if text.counts.truncated:
                    break
            # Files attached to the PDF (its embedded files, deflated inside it): pypdf bounds each stream
            # it inflates (75 MB, then an error: not read).
            attached = [(n, blob) for n, blobs in reader.attachments.items() for blob in blobs]
        except ScanTimeout:
            raise
        except Exception as exc:  # pypdf raises many kinds on a damaged file: each is "not read"
            report.not_read(ScanStatus.failed, f"pdf text not extracted: {type(exc).__name__}")
            return
        result.reports.append(self._text_member(prefix + "text", depth + 1, chars, "pdf-text", text))
        self._members(attached, report, prefix, depth, result, "pdf attachments")

    def _rtf_objects(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """The objects an RTF document embeds (hex in its ``\\objdata`` groups), scanned as its members
        ``<rtf>!/object-<k>...`` (a packaged file by its own name); what they are among its active content
        (``rtf.RtfObjects.markers``)."""
        data = self._whole(src, report, "embedded objects")
        if data is None:
            return
        found = rtf.objects(data, self.settings.archives.spool_bytes)
        for problem in found.problems:
            report.not_read(ScanStatus.too_large, problem)
        for marker in found.markers:
            report.active[marker] = 1
        self._members(found.members, report, prefix, depth, result, "rtf objects")

    def _shortcut(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """What a Windows shortcut runs (``shortcut.judge``), among its active content."""
        data = self._whole(src, report, "shortcut", shortcut.MAX_SHORTCUT_BYTES)
        if data is None:
            return
        found = shortcut.read(data)
        if found is None:
            report.not_read(ScanStatus.unsupported, "shortcut not parsed: cut before its strings")
            return
        judged = shortcut.judge(found, report.path.rsplit("!/", 1)[-1] or self._name)
        if judged is not None:
            report.active[judged] = 1

    def _whole(
        self, src: IO[bytes], report: ContentReport, what: str, limit: int | None = None
    ) -> bytes | None:
        """``src`` read whole to be parsed for ``what``; None, reported not read, when the stream is beyond
        ``limit`` (the spool limit by default)."""
        limit = self.settings.archives.spool_bytes if limit is None else limit
        if report.size > limit:
            report.not_read(ScanStatus.too_large, f"{what} not read: the stream is {report.size} bytes")
            return None
        return src.read()

    def _carried(
        self,
        src: IO[bytes],
        report: ContentReport,
        prefix: str,
        depth: int,
        result: ScanResult,
        what: str,
        extract: Callable[[bytes, int], tuple[list[tuple[str, bytes]], bool]],
    ) -> tuple[list[tuple[str, bytes]], list[ContentReport]]:
        """The files a stream carries (``extract(its bytes, limit)``: the files, and whether all were
        read), scanned as its members under ``prefix``: (the files, the reports their scan added). A
        stream beyond the spool limit, or files beyond the extractor's limits, are reported not read."""
        data = self._whole(src, report, what)
        if data is None:
            return [], []
        blobs, complete = extract(data, self.settings.archives.spool_bytes)
        if not complete:
            report.not_read(ScanStatus.too_large, f"{what} beyond the limits not read")
        first = len(result.reports)
        self._members(blobs, report, prefix, depth, result, what)
        return blobs, result.reports[first:]

    def _onenote_files(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """The files a OneNote section embeds (``onenote.embedded``), scanned as its members
        ``<section>!/embedded-<k>``; the section is marked by what they do (``onenote.runs_code``)."""
        blobs, added = self._carried(src, report, prefix, depth, result, "OneNote files", onenote.embedded)
        kinds = {r.path: r.type.kind for r in added}
        for name, blob in blobs:
            does = onenote.runs_code(blob, kinds.get(prefix + name, ""))
            if does is not None:
                report.active[does] = 1

    def _smuggled_files(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """The files a page carries in base64 (``smuggling.payloads``), scanned as its members
        ``<page>!/base64-<k>``; the page is marked ``smuggled-executable`` when one of them, or a member
        inside one, is an executable."""
        _, added = self._carried(src, report, prefix, depth, result, "base64 files", smuggling.payloads)
        if any(r.type.kind == "executable" for r in added):
            report.active[SMUGGLED_EXECUTABLE] = 1

    def _ole_macros(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """A macro document's VBA modules, decompressed (``vba.sources``): one that downloads and runs code
        as the document opens marks it ``vba-download-on-open``."""
        data = self._whole(src, report, "macros")
        if data is not None and any(vba.downloads_on_open(source) for source in vba.sources(data)):
            report.active[vba.VBA_DOWNLOAD_ON_OPEN] = 1

    def _ole_numbers(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """A legacy workbook's (``.xls``) integer cells shown through a digit-pattern format (an SSN, a
        phone number), as its member ``<xls>!/formatted-numbers`` (``sheets``): its bytes hold only the
        bare numbers. xlrd reads the workbook stream, its formats and cells. Only an OLE file whose
        directory names a workbook stream is read again (``ContentReport.ole_workbook``)."""
        copy: IO[bytes] | None = None
        try:
            src.fileno()
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            # An object streamed from S3: a copy in memory or a temporary file, within the spool limit
            copy = self._materialize(src, report, "workbook")
            if copy is None:
                return
            copy.seek(0)
        data: Any = None
        try:
            held = copy if copy is not None else src
            if isinstance(held, io.BytesIO):
                data = held.getbuffer()
            else:  # a file: mapped, not read into memory
                data = mmap.mmap(held.fileno(), 0, access=mmap.ACCESS_READ)
            self._workbook_numbers(
                bytes(data) if isinstance(data, memoryview) else data, report, prefix, depth, result
            )
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
            elif isinstance(data, memoryview):
                data.release()
            if copy is not None:
                copy.close()

    def _workbook_numbers(
        self, data: Any, report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        import xlrd  # at first use: only a function that meets a legacy workbook pays for it
        from xlrd.compdoc import CompDocError

        try:
            book = xlrd.open_workbook(
                file_contents=data, formatting_info=True, on_demand=True, logfile=io.StringIO()
            )
        except Exception as exc:  # xlrd raises many kinds on a damaged workbook
            if isinstance(exc, CompDocError) or (
                isinstance(exc, xlrd.XLRDError) and "find workbook" in str(exc).lower()
            ):  # no compound document that Excel would open, or no Workbook stream in it
                return
            if "encrypted" in str(exc).lower():  # a workbook with a password: its cells are ciphertext
                report.not_read(ScanStatus.encrypted, "workbook encrypted with a password: cells not read")
                return
            report.not_read(ScanStatus.unsupported, f"workbook not readable: {type(exc).__name__}")
            return
        text = TextScanner(self.settings, self._threats)
        size = 0
        try:
            renderers: dict[int, sheets.Render | None] = {}
            for index in range(book.nsheets):
                if self.out_of_time():
                    raise ScanTimeout
                for lines in sheets.xls_numbers(book, book.get_sheet(index), renderers):
                    text.feed(lines)
                    size += len(lines)
                book.unload_sheet(index)
        except ScanTimeout:
            raise
        except Exception as exc:  # a damaged sheet: what was read counts, the rest is said unread
            report.not_read(ScanStatus.unsupported, f"worksheet numbers not read: {type(exc).__name__}")
        finally:
            book.release_resources()
        if size:
            member = self._text_member(prefix + "formatted-numbers", depth + 1, size, "sheet-numbers", text)
            result.reports.append(member)

    def _mime_parts(
        self, src: IO[bytes], report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """The base64 and quoted-printable parts of an e-mail (its attachments, and bodies sent encoded),
        decoded and scanned as its members ``<eml>!/<file name or part-N>``: encoded, their bytes mean
        nothing to the detectors. The other parts are read as they stand, with the message's text."""
        if report.size > MIME_PARSE_BYTES:
            report.not_read(
                ScanStatus.too_large, f"e-mail of {report.size} bytes: its encoded parts not decoded"
            )
            return
        message = email.message_from_binary_file(src)
        parts = [
            (part.get_filename() or f"part-{i}", part)
            for i, part in enumerate(message.walk())
            if not part.is_multipart()
            and str(part.get("Content-Transfer-Encoding", "")).strip().lower()
            in ("base64", "quoted-printable")
        ]
        decoded = [(n, part.get_payload(decode=True)) for n, part in parts]
        blobs = [(n, data) for n, data in decoded if isinstance(data, bytes) and data]
        self._members(blobs, report, prefix, depth, result, "encoded e-mail parts")

    def _text_member(self, path: str, depth: int, size: int, label: str, text: TextScanner) -> ContentReport:
        """A text the stream holds that its bytes do not show (a PDF's words, an OLE document's UTF-16
        strings), as a member read by the text detectors."""
        member = ContentReport(path=path, depth=depth, size=size, sha256="", type=FileType("text", label))
        self._text_read(member, text)
        return member

    def _text_read(self, report: ContentReport, text: TextScanner) -> None:
        report.text = text.close()
        if report.text.truncated:
            limit = self.settings.personal_data.text_limit_bytes
            report.not_read(ScanStatus.too_large, f"text beyond {limit} bytes not read")

    def _reread(
        self, f: IO[bytes], report: ContentReport, what: str, *, cheap_seek: bool
    ) -> IO[bytes] | None:
        """``f`` from its start again, or a seekable copy of it (``_materialize``); None: it cannot be
        re-read (the report says why)."""
        try:
            f.seek(0)
        except (OSError, ValueError) as exc:
            report.not_read(ScanStatus.too_large, f"{what} not re-readable: {type(exc).__name__}")
            return None
        return f if cheap_seek else self._materialize(f, report, what)

    def _members(
        self,
        blobs: list[tuple[str, bytes]],
        report: ContentReport,
        prefix: str,
        depth: int,
        result: ScanResult,
        what: str,
    ) -> None:
        """In-memory members of a stream (a PDF's attachments, an e-mail's decoded parts), each scanned as
        ``prefix + name``, under the archives' depth and member limits (beyond them: not read)."""
        a = self.settings.archives
        if blobs and depth >= a.max_depth:
            report.not_read(ScanStatus.too_large, f"{what} nested deeper than {depth}")
        elif len(blobs) > a.max_members:
            report.not_read(ScanStatus.too_large, f"{len(blobs)} {what} > {a.max_members}")
        else:
            for name, blob in blobs:
                self._node(io.BytesIO(blob), prefix + name, depth + 1, name, result, cheap_seek=True)

    def _materialize(self, f: IO[bytes], report: ContentReport, what: str = "container") -> IO[bytes] | None:
        """A seekable copy of a container (or a PDF) found inside a stream that seeks slowly (decompressors,
        members), or of an object streamed from S3."""
        if report.size > self.settings.archives.spool_bytes:
            report.not_read(
                ScanStatus.too_large, f"nested {what} of {report.size} bytes beyond the spool limit"
            )
            return None
        copy: IO[bytes]
        if report.size <= NESTED_IN_MEMORY_BYTES:
            copy = io.BytesIO(f.read())
        else:
            copy = tempfile.TemporaryFile(prefix="aup-")  # noqa: SIM115 - closed by _node
            while chunk := f.read(self.settings.streaming.chunk_bytes):
                if self.out_of_time():
                    copy.close()
                    raise ScanTimeout
                copy.write(chunk)
        return copy

    # -- one stream -----------------------------------------------------------------------------

    def _linear(
        self, read: Callable[[int], bytes], path: str, depth: int, name: str, result: ScanResult
    ) -> tuple[ContentReport, bool]:
        """Read one stream to its end through every detector; returns its report and whether its last
        64 KiB hold a zip end-of-central-directory record."""
        s = self.settings
        a = s.archives
        chunk_size = s.streaming.chunk_bytes
        digest = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False) if "md5" in self.hash_kinds else None
        image: bytearray | None = None  # an image's bytes, for PDQ, up to pdq_max_image_bytes
        image_limit = s.pdq_max_image_bytes
        image_over = False
        signatures: SignatureScanner | None = None
        decoded_signatures: SignatureScanner | None = None  # over UTF-16/32 text, decoded
        text: TextScanner | None = None
        markup: MarkupScanner | None = None
        markdown: MarkdownCode | None = None  # a Markdown file's code blanked before it is read as markup
        active: ActiveContentScanner | None = None
        wide: Any = None  # incremental UTF-16/32 decoder
        # An OLE document's strings (Word's text, Excel's shared strings, PowerPoint's atoms) are 8-bit or
        # UTF-16LE, at either byte parity: the raw bytes go to ``text``, two UTF-16 views to these. An
        # .xlsb's binary parts (``_XLSB_PART``) hold UTF-16LE strings only: the two views alone.
        ole_views: list[tuple[Any, TextScanner]] = []
        ole_tail = b""  # the last bytes of an OLE file's previous chunk, for a directory name across two
        decoder: Any = None
        markup_left = s.markup.parse_limit_bytes
        hint_tail = b""
        b64_tail = b""
        volume: bytearray | None = None  # a binary stream's first bytes, to its first volume descriptor's id
        size = 0
        tail = b""
        ftype: FileType | None = None
        report: ContentReport | None = None
        while True:
            if self.out_of_time():
                raise ScanTimeout
            chunk = read(chunk_size)
            if ftype is None:
                ftype = sniff(chunk[:HEAD_BYTES], name)
                base = name.rsplit("/", 1)[-1]
                may_render = extension(base) in _PAGE_EXTENSIONS or (
                    depth == 0 and renders_markup(self._served_as)
                )
                signatures = SignatureScanner(
                    self.rules,
                    s.streaming.overlap_bytes,
                    {
                        "filename": base,
                        "filepath": path or name,
                        "extension": extension(base),
                        "filetype": ftype.label,
                        "owner": self._owner,
                    },
                )
                if ftype.is_text or ftype.read_as_text:
                    text = TextScanner(s, self._threats)
                if ftype.encoding:
                    wide = codecs.getincrementaldecoder(ftype.encoding)("replace")
                    decoded_signatures = SignatureScanner(
                        self.rules, s.streaming.overlap_bytes, signatures.externals
                    )
                if (
                    ftype.kind in _MARKDOWN_KINDS
                    and extension(base) in MARKDOWN_EXTENSIONS
                    and (depth > 0 or not renders_markup(self._served_as))
                ):
                    # Markdown (sniffed as HTML or SVG when it shows tags), not served as a page (a member is
                    # served by its name once unpacked): read as markup from its first line, its code
                    # blanked (whether a line is code depends on the lines before it)
                    markdown = MarkdownCode()
                    markup = MarkupScanner(self.marks, s.markup.phishing_brands)
                elif ftype.is_markup and may_render:
                    markup = MarkupScanner(self.marks, s.markup.phishing_brands)
                if ftype.label in ("pdf", "ole"):
                    active = ActiveContentScanner(ftype.label, s.streaming.overlap_bytes)
                if ftype.label == "ole" or (depth and _XLSB_PART(name)):
                    if ftype.label == "ole":
                        text = TextScanner(s, self._threats)
                    ole_views = [
                        (codecs.getincrementaldecoder("utf-16-le")("replace"), TextScanner(s, self._threats))
                        for _ in range(2)
                    ]
                if "pdq" in self.hash_kinds and ftype.kind == "image" and ftype.label in _PDQ_LABELS:
                    image = bytearray()
                if ftype.kind == "binary":  # a disk image's first 32 KiB are its system area, not its type
                    volume = bytearray()
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
                report = ContentReport(path=path, depth=depth, size=0, sha256="", type=ftype)
                result.reports.append(report)  # before the content: a bomb still names its stream
            if not chunk:
                break
            n = len(chunk)
            size += n
            result.bytes_read += n
            if depth:
                result.inflated_bytes += n
                inflated = result.inflated_bytes
                if inflated > a.ratio_min_bytes and inflated > a.max_ratio * max(self._object_size, 1):
                    self._past_ratio(inflated, size, self._packed[-1], path)
                if inflated > a.max_total_bytes:
                    raise _Budget(f"more than {a.max_total_bytes} bytes inflated: scan stopped")
            digest.update(chunk)
            if md5 is not None:
                md5.update(chunk)
            if volume is not None and len(volume) < _VOLUME_ID_END:
                volume += chunk[: _VOLUME_ID_END - len(volume)]
            if image is not None:
                if len(image) + n <= image_limit:
                    image += chunk
                else:
                    image, image_over = None, True
            assert signatures is not None
            signatures.feed(chunk)
            tail = (tail + chunk)[-_EOCD_REACH:] if n < _EOCD_REACH else chunk[-_EOCD_REACH:]
            if active is not None:
                active.feed(chunk)
            if ole_views and report is not None and not report.ole_workbook:  # (ole_views: an OLE file)
                window = ole_tail + chunk
                report.ole_workbook = any(entry in window for entry in _WORKBOOK_ENTRIES)
                ole_tail = window[-24:]
            for k, (utf16, view) in enumerate(ole_views):
                view.feed(utf16.decode(chunk[1:] if k and size == n else chunk).encode("utf-8", "replace"))
            if wide is not None:
                plain = wide.decode(chunk).encode("utf-8", "replace")
                assert decoded_signatures is not None
                decoded_signatures.feed(plain)
            else:
                plain = chunk
            if text is not None:
                text.feed(plain)
                if markup is None and ftype.kind in _MARKUP_KINDS and may_render:
                    window = hint_tail + plain
                    if _MARKUP_TAG.search(window) or _markup_word(window):
                        markup = MarkupScanner(self.marks, s.markup.phishing_brands)
                        plain = window
                    hint_tail = plain[-256:]
                if markup is not None:
                    if report is not None and not report.carries_base64_file:  # (a run across two chunks)
                        report.carries_base64_file = smuggling.HINT(b64_tail + plain) is not None
                        b64_tail = plain[-20:]
                    if markup_left > 0:
                        piece = decoder.decode(plain[:markup_left])
                        markup.feed(markdown.feed(piece) if markdown is not None else piece)
                    markup_left -= len(plain)
        assert report is not None
        report.size = size
        if volume is not None and bytes(volume[_VOLUME_ID_AT:_VOLUME_ID_END]) in _DISK_IMAGE_IDS:
            report.type = FileType("archive", _DISK_IMAGE_IDS[bytes(volume[_VOLUME_ID_AT:_VOLUME_ID_END])])
        report.sha256 = digest.hexdigest()
        if md5 is not None:
            report.md5 = md5.hexdigest()
        if image_over:
            report.hash_note = (
                f"image beyond {image_limit} bytes: not PDQ-hashed, matched by SHA-256/MD5 only"
            )
        elif image is not None:
            report.pdq = pdq_from_bytes(bytes(image))
            del image
            if report.pdq is None:
                report.hash_note = "image not decodable: not PDQ-hashed, matched by SHA-256/MD5 only"
        if report.hash_note and len(result.hash_notes) < 10:
            result.hash_notes.append(f"{path or '(object)'}: {report.hash_note}")
        if signatures is not None:
            report.signatures, report.signature_confidence = signatures.matches, signatures.confidence
        if decoded_signatures is not None:
            report.signatures |= decoded_signatures.matches
            for rule, conf in decoded_signatures.confidence.items():
                report.signature_confidence.setdefault(rule, conf)
        if active is not None:
            report.active.update(active.found)
        label = "ole-text" if report.type.label == "ole" else "xlsb-text"
        for k, (_, view) in enumerate(ole_views):  # the UTF-16 views, as the document's members
            prefix = f"{path}!/" if path else "!/"
            result.reports.append(self._text_member(f"{prefix}utf-16-{k}", depth + 1, size, label, view))
        if text is not None:
            self._text_read(report, text)
        if markup is not None:
            if markdown is not None:
                markup.feed(markdown.flush())
            report.markup = markup.finish()
            report.markup.truncated = markup_left < 0
            if markup_left < 0:
                report.not_read(
                    ScanStatus.too_large, f"markup beyond {s.markup.parse_limit_bytes} bytes not parsed"
                )
        zip_tail = report.type.kind != "archive" and tail.rfind(_EOCD) != -1
        return report, zip_tail

    # -- containers -------------------------------------------------------------------------------

    def _compressed(
        self, fileobj: IO[bytes], report: ContentReport, name: str, depth: int, result: ScanResult
    ) -> None:
        import bz2
        import gzip
        import lzma

        opener: dict[str, Callable[[IO[bytes]], Any]] = {
            "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
            "bzip2": lambda f: bz2.BZ2File(f, "rb"),
            "xz": lambda f: lzma.LZMAFile(f, "rb"),  # noqa: SIM115 - opened in a with below
            "zstd": lambda f: _zstd().ZstdFile(f, "rb"),
        }
        base = name.rsplit("/", 1)[-1]
        inner_name = re.sub(r"\.(gz|tgz|bz2|tbz2?|xz|txz|zst|tzst)$", "", base, flags=re.I) or "member"
        if re.search(r"\.t(gz|bz2?|xz|zst)$", base, re.I):
            inner_name += ".tar"
        path = f"{report.path or base}!/{inner_name}"
        with opener[report.type.label](fileobj) as stream:
            try:
                self._node(stream, path, depth + 1, inner_name, result, cheap_seek=False, packed=report.size)
            except (OSError, EOFError, lzma.LZMAError, zlib.error, _zstd().ZstdError) as exc:
                report.not_read(ScanStatus.unsupported, f"corrupt {report.type.label}: {type(exc).__name__}")

    def _tar(self, fileobj: IO[bytes], report: ContentReport, depth: int, result: ScanResult) -> None:
        a = self.settings.archives
        prefix = f"{report.path}!/" if report.path else "!/"
        members = 0
        try:
            archive = tarfile.open(fileobj=fileobj, mode="r|")  # noqa: SIM115 - closed below
        except (tarfile.TarError, OSError, EOFError) as exc:
            report.not_read(ScanStatus.unsupported, f"unreadable tar: {type(exc).__name__}")
            return
        try:
            for info in archive:
                members += 1
                if members > a.max_members:
                    report.not_read(ScanStatus.too_large, f"more than {a.max_members} members")
                    return
                if not info.isfile():
                    continue
                stream = archive.extractfile(info)
                if stream is None:
                    continue
                member: IO[bytes]
                if info.size <= NESTED_IN_MEMORY_BYTES:
                    member = io.BytesIO(stream.read())
                    cheap = True
                else:
                    member, cheap = stream, False
                with member:
                    self._node(member, prefix + info.name, depth + 1, info.name, result, cheap_seek=cheap)
        except (tarfile.TarError, OSError, EOFError) as exc:
            report.not_read(ScanStatus.unsupported, f"tar not readable to its end: {type(exc).__name__}")
        finally:
            archive.close()

    def _unix_archive(self, src: IO[bytes], report: ContentReport, depth: int, result: ScanResult) -> None:
        """An ar archive's (a .deb's) or a cpio archive's (new ASCII format) files, each a member
        ``<archive>!/<name>`` (a .deb's ``data.tar.xz`` is opened in its turn). A member cut short, or a
        header that does not parse, is reported not read."""
        a = self.settings.archives
        prefix = f"{report.path}!/" if report.path else "!/"
        read = unix_archives.ar_members if report.type.label == "ar" else unix_archives.cpio_members
        members = 0
        try:
            for name, size in read(src):
                members += 1
                if members > a.max_members:
                    report.not_read(ScanStatus.too_large, f"more than {a.max_members} members")
                    return
                with tempfile.SpooledTemporaryFile(max_size=NESTED_IN_MEMORY_BYTES) as member:
                    if unix_archives.copy(src, member, size) < size:
                        report.not_read(ScanStatus.unsupported, f"{report.type.label} member cut short")
                    member.seek(0)
                    self._node(member, prefix + name, depth + 1, name, result, cheap_seek=True)
        except unix_archives.ArchiveError as exc:
            report.not_read(ScanStatus.unsupported, f"unreadable {report.type.label}: {exc}")

    def _disk_image(self, fileobj: IO[bytes], report: ContentReport, depth: int, result: ScanResult) -> None:
        """An ISO 9660 disk image's files through pycdlib (imported only when one is found), by their
        Joliet names, else their Rock Ridge ones, else their ISO 9660 ones (``;1`` dropped): each a member
        ``<image>!/<path>``, streamed from the image. An image shorter than its volume, one pycdlib cannot
        walk, or a file it cannot open, is reported not read."""
        import pycdlib

        a = self.settings.archives
        prefix = f"{report.path}!/" if report.path else "!/"
        image = pycdlib.PyCdlib()
        try:
            image.open_fp(fileobj)  # type: ignore[arg-type]  # (pycdlib types it BinaryIO: any binary stream)
            facet = (
                "joliet_path" if image.has_joliet() else "rr_path" if image.has_rock_ridge() else "iso_path"
            )
            files = [
                f"{top.rstrip('/')}/{file}" for top, _, names in image.walk(**{facet: "/"}) for file in names
            ]
            # pycdlib cuts a file whose extent runs past the image's end to what is there, silently: an
            # image shorter than its volume (a cut download) is read, and reported not read whole
            declared = image.pvd.space_size * image.logical_block_size
        except ScanTimeout:
            raise
        except Exception as exc:  # pycdlib raises many kinds on a damaged image (its own, struct, index)
            report.not_read(ScanStatus.unsupported, f"unreadable disk image: {type(exc).__name__}")
            with contextlib.suppress(Exception):  # (an image that never opened cannot be closed)
                image.close()
            return
        try:
            if report.size < declared:
                report.not_read(
                    ScanStatus.unsupported, f"disk image cut short: {report.size} of {declared} bytes"
                )
            if len(files) > a.max_members:
                report.not_read(ScanStatus.too_large, f"{len(files)} members > {a.max_members}")
                return
            for where in files:
                name = where.lstrip("/")
                name = name.removesuffix(";1") if facet == "iso_path" else name
                with contextlib.ExitStack() as opened:
                    try:
                        member = opened.enter_context(image.open_file_from_iso(**{facet: where}))
                    except Exception as exc:  # (pycdlib's kinds, as above)
                        report.not_read(
                            ScanStatus.unsupported, f"disk image member not readable: {type(exc).__name__}"
                        )
                        continue
                    self._node(member, prefix + name, depth + 1, name, result, cheap_seek=False)
        finally:
            image.close()

    def _sevenzip(self, fileobj: IO[bytes], report: ContentReport, depth: int, result: ScanResult) -> None:
        """7z through py7zr (imported only when a 7z is found: ~0.3 s). Members are decompressed into a
        spool, within the expansion budget, and scanned one by one as they complete."""
        try:
            import py7zr
            from py7zr import exceptions as p7
            from py7zr.io import WriterFactory
        except ImportError:
            report.not_read(ScanStatus.unsupported, "7z archives are not opened")
            return
        a = self.settings.archives
        prefix = f"{report.path}!/" if report.path else "!/"
        broken = (p7.ArchiveError, OSError, ValueError, EOFError, KeyError, IndexError, TypeError, zlib.error)
        try:
            archive = py7zr.SevenZipFile(fileobj, mode="r")
        except p7.PasswordRequired:
            result.encrypted_members += 1
            report.not_read(ScanStatus.encrypted, "encrypted 7z headers")
            return
        except broken as exc:
            report.not_read(ScanStatus.unsupported, f"unreadable 7z: {type(exc).__name__}")
            return
        with archive:
            infos = archive.list()
            if len(infos) > a.max_members:
                report.not_read(ScanStatus.too_large, f"{len(infos)} members > {a.max_members}")
                return
            if archive.needs_password():
                result.encrypted_members += len(infos)
                report.not_read(ScanStatus.encrypted, "encrypted members")
                return
            sink = _SevenZipSink(self, prefix, depth, result)
            WriterFactory.register(_SevenZipSink)
            try:
                archive.extractall(factory=sink)  # type: ignore[arg-type]  # noqa: S202 - to a scanner, not to disk
            except (ScanTimeout, _BombFound, _Budget):
                raise
            except (p7.PasswordRequired, *broken, RuntimeError) as exc:
                report.not_read(ScanStatus.unsupported, f"7z not readable: {type(exc).__name__}")

    def _zip(
        self, fileobj: IO[bytes], report: ContentReport, depth: int, result: ScanResult, *, strict: bool
    ) -> None:
        """``strict``: the stream is a zip by its magic (an unreadable one is not scanned); otherwise it
        only carries an end-of-central-directory record, and one that does not open is no zip."""
        import lzma

        a = self.settings.archives
        base = report.path
        prefix = f"{base}!/" if base else "!/"
        try:
            archive = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            if strict:
                report.not_read(ScanStatus.unsupported, f"unreadable zip: {type(exc).__name__}")
            return
        with archive:
            infos = archive.infolist()
            if not strict and not infos:
                return
            if len(infos) > a.max_members:
                report.not_read(ScanStatus.too_large, f"{len(infos)} members > {a.max_members}")
                return
            overlap = _overlapping(infos)
            if overlap:
                raise _BombFound(ArchiveBomb("overlapping-members", base or "!", overlap))
            for info in infos:
                if info.is_dir():
                    continue
                lowered = info.filename.lower()
                for marker, what in OOXML_MEMBERS.items():
                    if marker in lowered:
                        report.active[what] = 1
                path = prefix + info.filename
                if info.flag_bits & 0x1:
                    result.encrypted_members += 1
                    report.not_read(ScanStatus.encrypted, "encrypted members")
                    continue
                try:
                    with archive.open(info) as member:
                        stream = (
                            self._relationships(member, info, report) if lowered.endswith(".rels") else member
                        )
                        self._node(
                            stream,
                            path,
                            depth + 1,
                            info.filename,
                            result,
                            cheap_seek=False,
                            packed=None if info.compress_type == zipfile.ZIP_STORED else info.compress_size,
                        )
                except (
                    zipfile.BadZipFile,
                    NotImplementedError,
                    EOFError,
                    zlib.error,
                    lzma.LZMAError,
                    OSError,
                    RuntimeError,
                ) as exc:
                    report.not_read(ScanStatus.unsupported, f"member not readable: {type(exc).__name__}")
            if sheets.is_workbook(archive):
                self._sheet_numbers(archive, report, prefix, depth, result)

    def _relationships(self, member: IO[bytes], info: zipfile.ZipInfo, report: ContentReport) -> IO[bytes]:
        """A relationship part (``*.rels``) read for the targets outside the package that an Office
        document has fetched as it opens, counted among the archive's active content
        (``links.relationships``); handed back to be scanned as the member it is."""
        if info.file_size > RELS_LIMIT:
            report.not_read(ScanStatus.too_large, f"relationships of {info.file_size} bytes not read")
            return member
        data = member.read()
        links.relationships(data, report.active)
        return io.BytesIO(data)

    def _sheet_numbers(
        self, archive: zipfile.ZipFile, report: ContentReport, prefix: str, depth: int, result: ScanResult
    ) -> None:
        """A workbook's integer cells shown through a digit-pattern format (an SSN, a phone number), as its
        member ``!/formatted-numbers``: its bytes hold only the bare numbers (``sheets``)."""
        import lzma
        from xml.etree.ElementTree import ParseError

        unreadable = (
            ParseError,
            ValueError,  # a part in no SpreadsheetML namespace
            zipfile.BadZipFile,
            NotImplementedError,
            EOFError,
            zlib.error,
            lzma.LZMAError,
        )
        styles = archive.getinfo(sheets.STYLES)
        if styles.file_size > sheets.STYLES_MAX_BYTES:
            report.not_read(
                ScanStatus.too_large, f"workbook styles of {styles.file_size} bytes: numbers unread"
            )
            return
        try:
            renderers = sheets.style_renderers(archive.read(styles))
        except unreadable as exc:
            report.not_read(ScanStatus.unsupported, f"workbook styles not readable: {type(exc).__name__}")
            return
        if not renderers:
            return

        def tick() -> None:
            if self.out_of_time():
                raise ScanTimeout

        text = TextScanner(self.settings, self._threats)
        size = 0
        for info in archive.infolist():
            if info.flag_bits & 0x1 or not sheets.WORKSHEET.fullmatch(info.filename):
                continue
            try:
                with archive.open(info) as part:
                    for line in sheets.worksheet_numbers(part, renderers, tick):
                        text.feed(line)
                        size += len(line)
            except unreadable as exc:
                report.not_read(ScanStatus.unsupported, f"worksheet numbers not read: {type(exc).__name__}")
        if size:
            member = self._text_member(prefix + "formatted-numbers", depth + 1, size, "sheet-numbers", text)
            result.reports.append(member)


class _SevenZipMember:
    """py7zr's writer for one member: spooled (memory, then /tmp), scanned when py7zr closes it."""

    def __init__(self, sink: _SevenZipSink, name: str) -> None:
        self.sink, self.name = sink, name
        self.buf: IO[bytes] = tempfile.SpooledTemporaryFile(NESTED_IN_MEMORY_BYTES, prefix="aup-")  # noqa: SIM115
        self.written = 0

    def write(self, s: bytes | bytearray) -> int:
        engine, result = self.sink.engine, self.sink.result
        a = engine.settings.archives
        self.written += len(s)
        inflated = result.inflated_bytes + self.written
        if engine.out_of_time():
            raise ScanTimeout
        if inflated > a.ratio_min_bytes and inflated > a.max_ratio * max(engine._object_size, 1):
            # a solid 7z packs its members together: the archive stands for each one's packing
            engine._past_ratio(inflated, self.written, engine._open[-1].size, self.sink.prefix + self.name)
        if self.written > a.spool_bytes:
            raise _Budget(f"a 7z member beyond {a.spool_bytes} bytes: scan stopped")
        return self.buf.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.buf.read(size if size is not None else -1)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buf.seek(offset, whence)

    def flush(self) -> None:
        self.buf.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        try:
            self.buf.seek(0)
            self.sink.engine._node(
                self.buf,
                self.sink.prefix + self.name,
                self.sink.depth + 1,
                self.name,
                self.sink.result,
                cheap_seek=True,
                packed=self.sink.engine._open[-1].size,  # solid: the archive stands for its members' packing
            )
        finally:
            self.buf.close()


class _SevenZipSink:
    """py7zr's writer factory: every member is scanned as soon as it is decompressed."""

    def __init__(self, engine: ScanEngine, prefix: str, depth: int, result: ScanResult) -> None:
        self.engine, self.prefix, self.depth, self.result = engine, prefix, depth, result

    def create(self, filename: str) -> _SevenZipMember:
        return _SevenZipMember(self, filename)


def _markup_word(window: bytes) -> bool:
    return b"javascript" in window.lower()  # (a javascript: URL needs no tag in a text served as HTML)


def _overlapping(infos: list[zipfile.ZipInfo]) -> dict[str, Any] | None:
    """Entries whose data overlap (several names sharing one compressed body: the overlapping-entries
    bomb). An entry's local header and data take at least 30 + len(name) + compress_size bytes (a name
    has at least as many bytes as characters); no other entry may start inside them."""
    entries = sorted(infos, key=lambda i: i.header_offset)
    for i, cur in enumerate(entries[:-1]):
        end = cur.header_offset + 30 + len(cur.orig_filename) + cur.compress_size
        inside = 0
        for nxt in entries[i + 1 :]:
            if nxt.header_offset >= end:
                break
            inside += 1
        if inside:
            return {"member": cur.filename, "overlapping_entries": inside, "entries": len(infos)}
    return None
