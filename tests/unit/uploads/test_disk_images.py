"""Disk images (.iso, .img): their files read as members, through pycdlib.

Found by probing: an ISO 9660 image is told by its volume descriptor at 32 KiB, beyond the sniffer's
head, so it was read as binary and was clean, the scan complete, whatever it held: an executable named
as a PDF (how QakBot's mails delivered theirs in 2022), or a list of card numbers, never read."""

from __future__ import annotations

import random

import pytest

from aup.detectors.uploads.scanner import ScanStatus
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

WHEN = 1_780_000_000.0  # the images' dates
PE = F.pe(random.Random(4), 20_000)
CARDS = F.cards_csv(random.Random(5))


@pytest.mark.parametrize("names", ["joliet", "rock-ridge", "iso"])
def test_an_images_files_are_members(names: str) -> None:
    image = F.iso_of([("docs/readme.txt", b"Holiday photos, 2026"), ("tools/eicar.com", F.EICAR)],
                     when=WHEN, names=names)  # fmt: skip
    v, result, findings = judge(image, "backup.iso")
    assert result.reports[0].type.label == "iso"
    assert len(result.reports) == 3 and all(r.depth == 1 for r in result.reports[1:])
    assert v is Verdict.threat and "I3-malware-signature" in rules_of(findings)
    if names != "iso":  # long names, as the image's authors wrote them
        assert sorted(r.path for r in result.reports[1:]) == ["!/docs/readme.txt", "!/tools/eicar.com"]


def test_an_executable_named_as_a_document_inside_is_disguised() -> None:
    image = F.iso_of([("Invoice_2291.pdf", PE)], when=WHEN)
    v, result, findings = judge(image, "invoice.img")
    assert v is Verdict.threat and "I3-disguised-executable" in rules_of(findings)
    assert result.status is ScanStatus.complete


def test_personal_data_inside_is_counted() -> None:
    v, _, findings = judge(F.iso_of([("exports/customers.csv", CARDS)], when=WHEN), "exports.iso")
    assert v is Verdict.violation and "W2-bulk-personal-data" in rules_of(findings)


def test_an_honest_image_is_clean_and_complete() -> None:
    image = F.iso_of([("README.md", b"# Installer\n"), ("pool/app_1.0_amd64.deb", random.Random(6).randbytes(9000))],
                     when=WHEN, names="rock-ridge")  # fmt: skip
    v, result, findings = judge(image, "installer.iso")
    assert v is Verdict.clean and not findings and result.status is ScanStatus.complete


def test_an_image_cut_short_is_never_clean() -> None:
    image = F.iso_of([("notes.txt", b"meeting notes " * 400), ("photo.jpg", random.Random(7).randbytes(9000))],
                     when=WHEN)  # fmt: skip
    for cut in range(0x8006, len(image), 2048):
        v, result, _ = judge(image[:cut], "photos.iso")
        assert v is not Verdict.clean, cut
        assert result.status is not ScanStatus.complete, cut


def test_a_udf_image_is_not_opened_so_not_clean() -> None:
    image = bytearray(0x9000)
    image[0x8000:0x8006] = b"\x00BEA01"  # UDF's first volume structure, no ISO 9660 descriptor
    v, result, _ = judge(bytes(image), "disk.img")
    assert result.reports[0].type.label == "udf"
    assert v is not Verdict.clean and result.status is ScanStatus.unsupported


def test_damaged_images_never_raise_and_are_never_clean_unread() -> None:
    base = F.iso_of([("Invoice_2291.pdf", PE), ("notes.txt", b"hello " * 100)], when=WHEN)
    rng = random.Random(9)
    for _ in range(150):
        image = bytearray(base[: rng.randrange(0x8006, len(base) + 1)])
        for _ in range(rng.randrange(1, 30)):  # bytes of the descriptors and directories
            at = 0x8006 + rng.randrange(min(len(image) - 0x8006, 2048 * 24))
            image[at] = rng.randrange(256)
        v, result, _ = judge(bytes(image), "x.iso")
        assert v is not Verdict.clean or result.status is ScanStatus.complete
        if any(
            r.type.label == "pe" and r.size == len(PE) and r.path.endswith(".pdf") for r in result.reports
        ):
            assert v is Verdict.threat  # the executable read whole, under its document name
