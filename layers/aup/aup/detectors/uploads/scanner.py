"""Stream an object once (and its archive members) through hash, type, signatures, text and markup.

``scan_stream`` reads a seekable binary file in chunks: memory stays bounded by the chunk size
whatever the object's size. Zip members are decompressed as streams and scanned like objects; gzip,
bzip2 and xz are streamed through their decompressors. What could not be scanned to the end (time ran
out, an encrypted member, an archive format we cannot open) sets the status: only ``complete`` may
ever be called clean.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from aup.detectors.uploads.filetype import HEAD_BYTES, FileType, sniff
from aup.detectors.uploads.markup import MarkupReport, MarkupScanner
from aup.detectors.uploads.signatures import SignatureScanner
from aup.detectors.uploads.text import TextCounts, TextScanner
from aup.policy.sections.uploads import UploadScanning

NESTED_IN_MEMORY_BYTES = 16 * 1024 * 1024  # a nested zip up to this size is opened from memory
_STREAM_ARCHIVES = {"gzip", "bzip2", "xz"}
_UNSUPPORTED_ARCHIVES = {"7z", "rar"}


class ScanStatus(StrEnum):
    complete = "complete"
    too_large = "too-large"
    encrypted = "encrypted"
    timeout = "timeout"
    unsupported = "unsupported"
    failed = "failed"


@dataclass
class ContentReport:
    """One stream's content: the object itself (path '') or an archive member (``a.zip!/dir/b.txt``)."""

    path: str
    depth: int
    size: int
    sha256: str
    type: FileType
    signatures: set[str] = field(default_factory=set)
    text: TextCounts | None = None
    markup: MarkupReport | None = None


@dataclass
class ArchiveBomb:
    reason: str  # member-count, total-size, ratio, nesting
    member: str
    detail: dict[str, Any]


@dataclass
class ScanResult:
    status: ScanStatus
    reports: list[ContentReport] = field(default_factory=list)
    bomb: ArchiveBomb | None = None
    encrypted_members: int = 0
    bytes_read: int = 0  # decompressed bytes included
    note: str = ""

    @property
    def top(self) -> ContentReport | None:
        return self.reports[0] if self.reports else None


class ScanTimeout(Exception):
    pass


class _BombFound(Exception):
    def __init__(self, bomb: ArchiveBomb) -> None:
        super().__init__(bomb.reason)
        self.bomb = bomb


@dataclass
class ScanEngine:
    """Everything a scan needs that outlives one object: settings, compiled rules, marks."""

    settings: UploadScanning
    rules: Any  # compiled yara rules
    marks: tuple[str, ...]
    out_of_time: Callable[[], bool] = lambda: False
    _threats: tuple[bytes, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        self._threats = tuple(p.lower().encode() for p in self.settings.threat_phrases)

    def scan(self, fileobj: IO[bytes], name: str) -> ScanResult:
        """Scan ``fileobj`` (seekable, positioned at 0). Never raises for content; I/O errors propagate."""
        result = ScanResult(status=ScanStatus.complete)
        try:
            top = self._linear(fileobj.read, "", 0, name, result, max_bytes=None)
            if top.type.kind == "archive":
                self._archive(fileobj, top, name, 0, result)
        except ScanTimeout:
            result.status = ScanStatus.timeout
        except _BombFound as found:
            result.bomb = found.bomb
        return result

    # -- one stream -----------------------------------------------------------------------------

    def _linear(
        self,
        read: Callable[[int], bytes],
        path: str,
        depth: int,
        name: str,
        result: ScanResult,
        max_bytes: int | None,
    ) -> ContentReport:
        s = self.settings
        chunk_size = s.streaming.chunk_bytes
        digest = hashlib.sha256()
        signatures = SignatureScanner(self.rules, s.streaming.overlap_bytes)
        text: TextScanner | None = None
        markup: MarkupScanner | None = None
        decoder: Any = None
        markup_left = s.markup.parse_limit_bytes
        size = 0
        ftype: FileType | None = None
        report: ContentReport | None = None
        while True:
            if self.out_of_time():
                raise ScanTimeout
            chunk = read(chunk_size)
            if ftype is None:
                ftype = sniff(chunk[:HEAD_BYTES], name)
                if ftype.is_text:
                    text = TextScanner(s, self._threats)
                if ftype.is_markup:
                    import codecs

                    markup = MarkupScanner(self.marks, s.markup.phishing_brands)
                    decoder = codecs.getincrementaldecoder("utf-8")("replace")
                report = ContentReport(path=path, depth=depth, size=0, sha256="", type=ftype)
                result.reports.append(report)  # before the content: a bomb still names its stream
            if not chunk:
                break
            size += len(chunk)
            result.bytes_read += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise _BombFound(ArchiveBomb("ratio", path, {"expanded_beyond": max_bytes}))
            digest.update(chunk)
            signatures.feed(chunk)
            if text is not None:
                text.feed(chunk)
            if markup is not None and markup_left > 0:
                markup.feed(decoder.decode(chunk[:markup_left]))
                markup_left -= len(chunk)
        assert report is not None
        report.size = size
        report.sha256 = digest.hexdigest()
        report.signatures = signatures.matches
        if text is not None:
            report.text = text.close()
        if markup is not None:
            report.markup = markup.finish()
            report.markup.truncated = markup_left <= 0
        return report

    # -- archives ---------------------------------------------------------------------------------

    def _archive(
        self, fileobj: IO[bytes], report: ContentReport, name: str, depth: int, result: ScanResult
    ) -> None:
        label = report.type.label
        if label in _UNSUPPORTED_ARCHIVES:
            result.status = ScanStatus.unsupported
            result.note = f"{label} archives are not opened"
            return
        if depth >= self.settings.archives.max_depth:
            raise _BombFound(ArchiveBomb("nesting", report.path or name, {"depth": depth + 1}))
        fileobj.seek(0)
        if label == "zip":
            self._zip(fileobj, report.path, depth, result)
        elif label in _STREAM_ARCHIVES:
            self._compressed(fileobj, report, name, depth, result)

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
        }
        inner_name = re.sub(r"\.(gz|tgz|bz2|xz)$", "", name) or "member"
        path = f"{report.path or name}!/{inner_name.rsplit('/', 1)[-1]}"
        a = self.settings.archives
        limit = max(a.ratio_min_bytes, int(report.size * a.max_ratio))
        with opener[report.type.label](fileobj) as stream:
            try:
                self._linear(
                    stream.read, path, depth + 1, inner_name, result, max_bytes=min(limit, a.max_total_bytes)
                )
            except (OSError, EOFError, lzma.LZMAError) as exc:
                result.status = ScanStatus.unsupported
                result.note = f"corrupt {report.type.label}: {type(exc).__name__}"

    def _zip(self, fileobj: IO[bytes], base: str, depth: int, result: ScanResult) -> None:
        a = self.settings.archives
        prefix = f"{base}!/" if base else "!/"
        try:
            archive = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            result.status = ScanStatus.unsupported
            result.note = f"unreadable zip: {type(exc).__name__}"
            return
        with archive:
            infos = archive.infolist()
            if len(infos) > a.max_members:
                raise _BombFound(ArchiveBomb("member-count", base or "!", {"members": len(infos)}))
            declared = sum(i.file_size for i in infos)
            if declared > a.max_total_bytes:
                raise _BombFound(ArchiveBomb("total-size", base or "!", {"declared_bytes": declared}))
            budget = a.max_total_bytes
            for info in infos:
                if info.is_dir():
                    continue
                path = prefix + info.filename
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > a.ratio_min_bytes and ratio > a.max_ratio:
                    raise _BombFound(
                        ArchiveBomb(
                            "ratio", path, {"ratio": round(ratio, 1), "declared_bytes": info.file_size}
                        )
                    )
                if info.flag_bits & 0x1:
                    result.encrypted_members += 1
                    result.status = ScanStatus.encrypted
                    continue
                # Declared sizes can lie: the decompressed stream is held to the same limits.
                limit = min(budget, max(a.ratio_min_bytes, int(info.compress_size * a.max_ratio)))
                try:
                    with archive.open(info) as member:
                        report = self._linear(
                            member.read, path, depth + 1, info.filename, result, max_bytes=limit
                        )
                except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error) as exc:
                    result.status = ScanStatus.unsupported
                    result.note = f"member not readable: {type(exc).__name__}"
                    continue
                budget -= report.size
                if report.type.kind == "archive":
                    self._nested(archive, info, report, depth + 1, result)

    def _nested(
        self,
        archive: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        report: ContentReport,
        depth: int,
        result: ScanResult,
    ) -> None:
        if report.type.label in _UNSUPPORTED_ARCHIVES:
            result.status = ScanStatus.unsupported
            result.note = f"nested {report.type.label} not opened"
            return
        if depth >= self.settings.archives.max_depth:
            raise _BombFound(ArchiveBomb("nesting", report.path, {"depth": depth + 1}))
        if info.file_size <= NESTED_IN_MEMORY_BYTES:
            inner: IO[bytes] = io.BytesIO(archive.read(info))
        else:
            inner = archive.open(info)  # seekable (re-decompresses on backward seeks): slow but bounded
        with inner:
            self._archive(inner, report, info.filename, depth, result)
