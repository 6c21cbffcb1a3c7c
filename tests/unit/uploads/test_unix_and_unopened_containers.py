"""Containers beyond zip, tar, 7z, gzip, bzip2, xz and ISO: zstd streams, ar and cpio archives opened;
the ones the scanner cannot open reported not read.

Found by probing: a .deb whose data.tar.gz held EICAR, a zstd-compressed card list, a cpio archive with
an executable named invoice.pdf, and a .cab, .chm, .lz4, .wim, .vhdx, .rpm, ... were each read as one
binary stream and were clean, the scan complete: what they hold was never seen."""

from __future__ import annotations

import io
import random

import pytest
from backports import zstd
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads import unix_archives
from aup.detectors.uploads.scanner import ScanStatus
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

PE = F.pe(random.Random(2), 20_000)
BODY = random.Random(1).randbytes(3000)


@pytest.mark.parametrize(
    ("head", "label"),
    [
        (b"MSCF\x00\x00\x00\x00", "cab"),
        (b"ITSF\x03\x00\x00\x00", "chm"),
        (bytes.fromhex("04224d18"), "lz4"),
        (b"MSWIM\x00\x00\x00", "wim"),
        (b"vhdxfile", "vhdx"),
        (b"hsqs", "squashfs"),
        (b"xar!", "xar"),
        (bytes.fromhex("edabeedb"), "rpm"),
        (bytes.fromhex("1f9d90"), "compress"),
        (b"\x00\x00-lh5-", "lzh"),
        (b"\x00" * 7 + b"**ACE**", "ace"),
        (bytes.fromhex("60ea2a00"), "arj"),
        (b"070707" + b"0" * 70, "cpio-odc"),
    ],
)
def test_a_container_not_opened_is_never_clean(head: bytes, label: str) -> None:
    v, result, _ = judge(head + BODY, f"archive.{label}")
    assert result.reports[0].type.label == label
    assert v is not Verdict.clean and result.status is ScanStatus.unsupported


def test_a_zstd_stream_is_opened() -> None:
    v, result, findings = judge(zstd.compress(F.cards_csv(random.Random(3))), "customers.csv.zst")
    assert v is Verdict.violation and "W2-bulk-personal-data" in rules_of(findings)
    assert [r.type.label for r in result.reports] == ["zstd", "text"]
    v, result, findings = judge(zstd.compress(F.tar_gz_of([("tools/eicar.com", F.EICAR)])), "tools.tar.zst")
    assert v is Verdict.threat and result.reports[1].path.endswith("!/tools.tar")


def test_a_corrupt_zstd_stream_is_not_read() -> None:
    packed = bytearray(zstd.compress(b"notes " * 5000))
    packed[20:40] = bytes(20)
    v, result, _ = judge(bytes(packed), "notes.zst")
    assert v is not Verdict.clean and result.status is ScanStatus.unsupported


def test_a_debian_packages_files_are_members() -> None:
    data = F.tar_gz_of([("usr/bin/tool", PE), ("usr/share/doc/tool/eicar.com", F.EICAR)])
    deb = F.ar_of([("debian-binary", b"2.0\n"), ("control.tar.gz", F.tar_gz_of([("control", b"Package: t\n")])),
                   ("data.tar.gz", data)])  # fmt: skip
    v, result, findings = judge(deb, "tool_1.0_amd64.deb")
    assert result.reports[0].type.label == "ar"
    assert v is Verdict.threat and "I3-malware-signature" in rules_of(findings)
    assert any(r.path.endswith("data.tar!/usr/share/doc/tool/eicar.com") for r in result.reports)


def test_ar_names_long_and_bsd_are_read() -> None:
    gnu = F.ar_of([("a_very_long_member_name_indeed.o", b"x" * 3), ("b.o", b"yy")])
    assert list(_ar(gnu)) == [("a_very_long_member_name_indeed.o", b"x" * 3), ("b.o", b"yy")]
    bsd = b"!<arch>\n" + f"{'#1/12':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{12 + 5:<10}`\n".encode()
    bsd += b"long_name.o\x00" + b"hello" + b"\n"
    symbols = f"{'/':<16}{0:<12}{0:<6}{0:<6}{0:<8}{4:<10}`\n".encode() + b"\x00\x00\x00\x00"
    assert list(_ar(bsd[:8] + symbols + bsd[8:])) == [("long_name.o", b"hello")]


def _ar(data: bytes) -> list[tuple[str, bytes]]:
    src = io.BytesIO(data)
    return [(name, src.read(size)) for name, size in unix_archives.ar_members(src)]


def test_a_cpio_archives_regular_files_are_members() -> None:
    archive = F.cpio_of([("etc/app.conf", b"key=value"), ("invoice.pdf", PE), (".env", b"SECRET=1")])
    src = io.BytesIO(archive)
    names = [(name, len(src.read(size))) for name, size in unix_archives.cpio_members(src)]
    assert names == [("etc/app.conf", 9), ("invoice.pdf", len(PE)), (".env", 8)]  # the directory skipped
    v, _, findings = judge(archive, "initrd.cpio")
    assert v is Verdict.threat and "I3-disguised-executable" in rules_of(findings)


@pytest.mark.parametrize("build", [F.ar_of, F.cpio_of])
def test_an_archive_cut_short_is_never_clean(build: object) -> None:
    archive = build([("notes.txt", b"meeting notes " * 200), ("b.txt", b"more")])  # type: ignore[operator]
    for cut in range(len(archive) - 1, 120, -97):  # (below one header, a cpio is a text of digits)
        v, result, _ = judge(archive[:cut], "notes.a")
        assert v is not Verdict.clean or result.status is ScanStatus.complete, cut
        if cut < len(archive) - 200:
            assert result.status is not ScanStatus.complete, cut


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"!<arch>\n", b"070701"]), st.binary(max_size=400))
def test_headers_of_any_bytes_never_raise_but_archive_errors(magic: bytes, tail: bytes) -> None:
    src = io.BytesIO(magic + tail)
    read = unix_archives.ar_members if magic == b"!<arch>\n" else unix_archives.cpio_members
    try:
        for _, size in read(src):
            src.read(size)
    except unix_archives.ArchiveError:
        pass


def test_a_text_opening_with_a_cpio_magic_is_read_as_text() -> None:
    # a card list whose first value is a date written yymmdd: no cpio header, its cards counted
    cards = b"070701," + F.cards_csv(random.Random(4))
    v, result, findings = judge(cards, "orders.csv")
    assert result.reports[0].type.label != "cpio"
    assert v is Verdict.violation and "W2-bulk-personal-data" in rules_of(findings)
