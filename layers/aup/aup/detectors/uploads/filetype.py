"""What an object is, by its first bytes (magic numbers), never by its name.

``sniff`` looks at the head of a stream (a few KB) and answers a ``FileType``: a coarse ``kind`` the
rules reason about (executable, archive, audio, video, image, html, svg, text, ...) and a ``label``
naming the format for evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEAD_BYTES = 8192

# MP4 / QuickTime / 3GP brands (ISO base media "ftyp"): audio-only brands are audio, the rest video;
# image brands (HEIF/AVIF) are images.
_FTYP_AUDIO = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_FTYP_IMAGE = {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis", b"hevc"}
_MACHO = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}
_BMP_DIB = {n.to_bytes(4, "little") for n in (12, 16, 40, 52, 56, 64, 108, 124)}
_TEXT_BYTES = bytes(range(32, 127)) + b"\t\n\r\f\b\x1b"
_TEXT_OR_HIGH = _TEXT_BYTES + bytes(range(128, 256))  # what text in a legacy encoding is made of
_MARKUP_HTML = re.compile(
    rb"<(?:!doctype\s+html|(?:[a-z][\w-]*:)?(?:html|head|body|script|iframe|form|div|object|embed|meta\s|a\s|img\s))",
    re.I,
)
_MARKUP_SVG = re.compile(rb"<(?:[a-z][\w-]*:)?svg[\s>]", re.I)
_XML = re.compile(rb"^\s*<\?xml", re.I)


@dataclass(frozen=True, slots=True)
class FileType:
    kind: str  # executable archive audio video image document html svg xml text binary empty
    label: str
    encoding: str = ""  # text in UTF-16/32: the codec its bytes are decoded with (else UTF-8/latin-1)
    # A PDF whose header follows other bytes (readers skip up to 1 KiB before it): a polyglot, or text
    # that mentions "%PDF-". Its bytes are read as text too, so a text file cannot hide as a PDF.
    read_as_text: bool = False

    @property
    def is_text(self) -> bool:
        return self.kind in {"html", "svg", "xml", "text"}

    @property
    def is_markup(self) -> bool:
        return self.kind in {"html", "svg"}


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def wide_encoding(head: bytes) -> str:
    """The UTF-16/32 codec of text that starts with ``head`` (BOM, or ASCII with interleaved NULs)."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    sample = head[:512]
    if len(sample) < 8:
        return ""
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        quads = sample[1::4] + sample[2::4] + sample[3::4]
        return "utf-32-le" if quads.count(0) > 0.9 * len(quads) else "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        quads = sample[0::4] + sample[1::4] + sample[2::4]
        return "utf-32-be" if quads.count(0) > 0.9 * len(quads) else "utf-16-be"
    return ""


def _looks_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    sample = head[:HEAD_BYTES]
    non_ascii = len(sample.translate(None, _TEXT_BYTES))
    if non_ascii == 0:
        return True
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        if exc.start >= len(sample) - 4:
            return True
    if non_ascii / len(sample) < 0.1:  # latin-1 text with a few accents
        return True
    # Text in a legacy encoding (cp1251, Shift_JIS as spreadsheets export it, GB18030, EUC-KR): its letters
    # are bytes above 0x7F, but it holds none of the control bytes that are an eighth of binary data.
    return len(sample.translate(None, _TEXT_OR_HIGH)) <= len(sample) // 200


def is_pe(head: bytes) -> bool:
    # "MZ" opens text too (a list of countries from Mozambique, a code like MZ-2291): a DOS header is
    # binary, 16-bit fields whose reserved words (e_res, e_res2) are zero, so it holds a NUL; text does not.
    if head[:2] != b"MZ" or len(head) < 0x40 or b"\x00" not in head[2:0x40]:
        return False
    offset = int.from_bytes(head[0x3C:0x40], "little")
    # A DOS stub whose PE header lies beyond the head is still an executable (MZ is enough for DOS).
    return offset + 4 > len(head) or head[offset : offset + 4] == b"PE\x00\x00"


# Magics made of printable characters open text too ("ID3 tags,...", "FLV,fleet"): each is believed only
# with the binary bytes its format puts right after it, or a text file would skip the text detectors.
def _is_id3(head: bytes) -> bool:
    """An ID3v2 tag: version 2-4, a revision, flags, and a size of four 7-bit bytes."""
    return (
        head[:3] == b"ID3"
        and len(head) >= 10
        and head[3] in (2, 3, 4)
        and head[4] != 0xFF
        and all(b < 0x80 for b in head[6:10])
    )


# Containers told by their first bytes that the scanner opens (zstd, ar, cpio) or cannot (the others:
# reported not read, so never clean). Their content is compressed (or, for a disk's image, a file
# system): read as one binary stream, what they hold was never seen.
_CONTAINER_MAGIC = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"!<arch>\n", "ar"),  # .deb packages, static libraries
    (b"MSCF\x00\x00\x00\x00", "cab"),
    (b"ITSF\x03\x00\x00\x00", "chm"),  # compiled HTML help: LZX-compressed pages and scripts
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"MSWIM\x00\x00\x00", "wim"),
    (b"vhdxfile", "vhdx"),
    (b"hsqs", "squashfs"),
    (b"xar!", "xar"),
    (b"\xed\xab\xee\xdb", "rpm"),
    (b"\x1f\x9d", "compress"),  # Unix compress (.Z)
)


# (a text whose first word is 070701, a date as yymmdd, is no cpio archive: the header's every field is)
_CPIO_NEWC = re.compile(rb"07070[12][0-9A-Fa-f]{104}").match
_CPIO_ODC = re.compile(rb"070707[0-7]{70}").match


def _strict_magic(head: bytes) -> FileType | None:
    for magic, label in _CONTAINER_MAGIC:
        if head.startswith(magic):
            return FileType("archive", label)
    if _CPIO_NEWC(head):  # the "new" ASCII format (initramfs, RPM payloads): its whole header is hex
        return FileType("archive", "cpio")
    if _CPIO_ODC(head):
        return FileType("archive", "cpio-odc")
    if head[2:7] in (b"-lh0-", b"-lh5-", b"-lh6-", b"-lh7-", b"-lzs-", b"-lz5-"):
        return FileType("archive", "lzh")
    if head[7:14] == b"**ACE**":
        return FileType("archive", "ace")
    if head[:2] == b"\x60\xea" and len(head) > 10 and 0 < int.from_bytes(head[2:4], "little") <= 2600:
        return FileType("archive", "arj")  # (its basic header's size, bounded by the format)
    if head[:4] == b"Rar!" and head[4:6] == b"\x1a\x07":
        return FileType("archive", "rar")
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return FileType("archive", "bzip2")  # a block, or the end of an empty stream
    if head[:4] == b"fLaC" and len(head) >= 8 and head[4] & 0x7F == 0 and head[5:8] == b"\x00\x00\x22":
        return FileType("audio", "flac")  # STREAMINFO (34 bytes) comes first
    if head[:5] == b"OggS\x00":
        return FileType("audio", "ogg")
    if head[:4] == b"FLV\x01":
        return FileType("video", "flv")
    return None


def _is_mp3(head: bytes) -> bool:
    if head[:3] == b"ID3":
        return _is_id3(head)
    # MPEG audio frame sync: 11 set bits, a valid version / layer, a bitrate index that is not "bad".
    return (
        len(head) > 3
        and head[0] == 0xFF
        and (head[1] & 0xE0) == 0xE0
        and (head[1] & 0x06) != 0
        and (head[2] & 0xF0) != 0xF0
    )


def sniff(head: bytes, name: str = "") -> FileType:
    """The type of a stream whose first bytes are ``head``; ``name`` only tells markup from plain text."""
    if not head:
        return FileType("empty", "empty")
    for bom, codec in _BOMS:  # before the media magics: FF FE also opens an MPEG frame
        if head.startswith(bom):
            return _wide_text(head, name, codec)
    if is_pe(head):
        return FileType("executable", "pe")
    if head[:4] == b"\x7fELF":
        return FileType("executable", "elf")
    if head[:4] in _MACHO:
        return FileType("executable", "mach-o")
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) > 8 and int.from_bytes(head[4:8], "big") < 40:
        return FileType("executable", "mach-o-fat")  # (Java classes share the magic, with a large version)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return FileType("archive", "zip")
    if head[:2] == b"\x1f\x8b":
        return FileType("archive", "gzip")
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return FileType("archive", "7z")
    if head[:6] == b"\xfd7zXZ\x00":
        return FileType("archive", "xz")
    strict = _strict_magic(head)
    if strict is not None:
        return strict
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_AUDIO:
            return FileType("audio", "mp4-audio")
        if brand in _FTYP_IMAGE:
            return FileType("image", "heif")
        return FileType("video", "mp4" if brand != b"qt  " else "quicktime")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return FileType("video", "webm" if b"webm" in head[:64] else "matroska")
    if head[:4] == b"RIFF" and len(head) >= 12:
        sub = head[8:12]
        if sub == b"WAVE":
            return FileType("audio", "wav")
        if sub == b"AVI ":
            return FileType("video", "avi")
        if sub == b"WEBP":
            return FileType("image", "webp")
    if head[:4] in (b"\x30\x26\xb2\x75",):
        return FileType("video", "asf")
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return FileType("image", "png")
    if head[:3] == b"\xff\xd8\xff":
        return FileType("image", "jpeg")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FileType("image", "gif")
    if head[:2] == b"BM" and len(head) > 18 and head[14:18] in _BMP_DIB:  # text may start with "BM"
        return FileType("image", "bmp")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return FileType("image", "tiff")
    if _is_mp3(head):
        return FileType("audio", "mp3")
    at = head.find(b"%PDF-", 0, 1024)  # readers accept junk before the header
    if at >= 0:
        return FileType("document", "pdf", read_as_text=at > 0)
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return FileType("document", "ole")
    if head[:20] == SHORTCUT_MAGIC:  # a Windows shortcut (MS-SHLLINK: header size, class id)
        return FileType("document", "lnk")
    if head[:16] == ONENOTE_MAGIC:  # a OneNote section (MS-ONESTORE: its file format's GUID)
        return FileType("document", "onenote")
    if len(head) >= 262 and head[257:262] == b"ustar":
        return FileType("archive", "tar")
    if _RTF(head):  # before the text check: an object's raw bytes (``\\binN``) may follow in the head
        return FileType("text", "rtf")
    wide = wide_encoding(head)
    if wide:
        return _wide_text(head, name, wide)
    if _looks_text(head):
        return _text_type(head, name)
    return FileType("binary", "binary")


def _wide_text(head: bytes, name: str, codec: str) -> FileType:
    chars = head[: len(head) - len(head) % 4].decode(codec, "replace").removeprefix("\ufeff")
    binary = sniff(chars.encode("latin-1", "replace"))  # an executable spelled out in UTF-16 is one
    if binary.kind == "executable":
        return FileType("executable", f"{binary.label}-{codec}", codec)
    inner = _text_type(chars.encode("utf-8", "replace"), name)
    return FileType(inner.kind, f"{inner.label}-{codec}", codec)


# An e-mail message (RFC 5322, as .eml files and mail exports hold them): header lines from the first
# byte ("From " first in an mbox), a MIME header among them. Its base64 / quoted-printable parts are
# decoded and scanned as its members (``ScanEngine._mime_parts``).
_HEADER_BLOCK = re.compile(rb"\A(?:From [^\r\n]*\r?\n)?(?:[!-9;-~]+:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*)+")
ONENOTE_MAGIC = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")  # {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}
SHORTCUT_MAGIC = bytes.fromhex("4c0000000114020000000000c000000000000046")  # header size, then class id
_RTF = re.compile(rb"\A\s*\{\\rt").match  # Word reads "{\rt" as RTF: the "f1" after it is optional
_MIME_HEADER = re.compile(rb"^(?:mime-version:|content-type:[ \t]*multipart/)", re.I | re.M)


def _is_email(sample: bytes) -> bool:
    block = _HEADER_BLOCK.match(sample)
    return block is not None and _MIME_HEADER.search(block.group(0)) is not None


def _text_type(head: bytes, name: str) -> FileType:
    """Markup or plain text, by content first: markup in a .txt or extension-less file is markup."""
    sample = head[:HEAD_BYTES]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if _is_email(sample):
        return FileType("text", "email")
    if _RTF(sample):  # text, read as it stands; its embedded objects are members (``rtf.objects``)
        return FileType("text", "rtf")
    if _MARKUP_SVG.search(sample) or ext == "svg":
        return FileType("svg", "svg")
    if _MARKUP_HTML.search(sample) or ext in {"html", "htm", "xhtml", "shtml"}:
        return FileType("html", "html")
    if _XML.match(sample):
        return FileType("xml", "xml")
    return FileType("text", "text")


def extension(name: str) -> str:
    """The lower-cased extension of the last path segment, '' when there is none."""
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base.strip(".") else ""
