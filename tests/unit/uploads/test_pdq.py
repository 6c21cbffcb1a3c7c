"""PDQ against the reference images and hashes (tests/fixtures/pdq, BSD), and under ordinary edits."""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from aup.detectors.uploads import pdq

FIXTURES = Path(__file__).parents[2] / "fixtures" / "pdq"
EXPECTED = {
    row["file"]: int(row["pdq_hex"], 16)
    for row in csv.DictReader((FIXTURES / "expected.csv").open(encoding="utf-8"))
}
ORIGINAL = FIXTURES / "images" / "aaa-orig.jpg"
MIN_QUALITY = 50  # PDQ's authors: discard hashes of quality 49 and below


def _hash_file(path: Path) -> pdq.PdqHash:
    h = pdq.pdq_from_bytes(path.read_bytes())
    assert h is not None
    return h


def _encode(image: Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


def _hash_image_bytes(data: bytes) -> pdq.PdqHash:
    h = pdq.pdq_from_bytes(data)
    assert h is not None
    return h


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_reference_image_is_within_10_bits_of_its_published_hash(name: str) -> None:
    got = _hash_file(FIXTURES / name)
    distance = pdq.hamming(got.value, EXPECTED[name])
    print(f"{name}: {distance} bits from the reference (quality {got.quality})")
    assert distance <= 10


def test_most_reference_images_hash_exactly() -> None:
    exact = sum(_hash_file(FIXTURES / n).value == h for n, h in EXPECTED.items())
    print(f"exact: {exact}/{len(EXPECTED)}")
    assert exact >= len(EXPECTED) - 2


def test_the_edited_copies_of_one_photo_are_within_the_match_distance_of_the_original() -> None:
    original = _hash_file(ORIGINAL)
    mods = [
        n
        for n in EXPECTED
        if n.startswith("images/") and n not in ("images/c.png", "images/small.jpg", "images/wee.jpg")
    ]
    assert len(mods) >= 10
    for name in mods:
        d = pdq.hamming(_hash_file(FIXTURES / name).value, original.value)
        assert d <= pdq.DEFAULT_MATCH_DISTANCE, (name, d)


def test_hex_is_the_reference_order_and_round_trips() -> None:
    h = _hash_file(ORIGINAL)
    assert h.hex == "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
    assert pdq.parse_hex(h.hex.upper()) == h.value
    with pytest.raises(ValueError):
        pdq.parse_hex("abc")


def _banked() -> Image.Image:
    with Image.open(ORIGINAL) as image:
        return image.convert("RGB")


@functools.cache
def _edits() -> dict[str, bytes]:
    base = _banked()
    w, h = base.size
    mirrored = ImageOps.mirror(base)
    back = ImageOps.mirror(Image.open(io.BytesIO(_encode(mirrored, quality=85))).convert("RGB"))
    rotated = base.transpose(Image.Transpose.ROTATE_270)  # stored turned, EXIF says turn it back
    exif = Image.Exif()
    exif[0x0112] = 8
    return {
        "resized to 40%": _encode(base.resize((w * 2 // 5, h * 2 // 5), Image.Resampling.LANCZOS)),
        "upscaled 150%": _encode(base.resize((w * 3 // 2, h * 3 // 2))),
        "recompressed at quality 20": _encode(base, quality=20),
        "as PNG": _encode(base, "PNG"),
        "as WebP": _encode(base, "WEBP", quality=60),
        "as GIF": _encode(base.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "as TIFF": _encode(base, "TIFF"),
        "brightened 20%": _encode(ImageEnhance.Brightness(base).enhance(1.2)),
        "darkened 20%": _encode(ImageEnhance.Brightness(base).enhance(0.8)),
        "cropped 1% a side": _encode(base.crop((w // 100, h // 100, w * 99 // 100, h * 99 // 100))),
        "cropped 2% off one side": _encode(base.crop((0, 0, w * 98 // 100, h))),
        "flipped and flipped back": _encode(back),
        "rotated with EXIF orientation": _encode(rotated, exif=exif),
        "greyscale": _encode(base.convert("L")),
    }


@pytest.mark.parametrize("edit", sorted(_edits()))
def test_edited_copies_of_a_banked_image_stay_within_the_match_distance(edit: str) -> None:
    banked = pdq.pdq_from_image(_banked())
    got = _hash_image_bytes(_edits()[edit])
    distance = pdq.hamming(got.value, banked.value)
    print(f"{edit}: {distance} bits, quality {got.quality}")
    assert got.quality >= MIN_QUALITY
    assert distance <= pdq.DEFAULT_MATCH_DISTANCE


def test_a_heavier_crop_is_beyond_the_match_distance() -> None:
    # PDQ's known weakness (and why "lightly" cropped): 2% off every side already moves it past 31 bits.
    base = _banked()
    w, h = base.size
    cropped = base.crop((w * 2 // 100, h * 2 // 100, w * 98 // 100, h * 98 // 100))
    d = pdq.hamming(pdq.pdq_from_image(cropped).value, pdq.pdq_from_image(base).value)
    print(f"cropped 2% a side: {d} bits")
    assert d > pdq.DEFAULT_MATCH_DISTANCE


def test_a_rotation_without_exif_is_not_the_same_hash() -> None:
    # PDQ is not rotation-invariant: the test above matches only because the orientation tag is applied.
    banked = pdq.pdq_from_image(_banked())
    turned = pdq.pdq_from_image(_banked().transpose(Image.Transpose.ROTATE_90))
    assert pdq.hamming(banked.value, turned.value) > pdq.DEFAULT_MATCH_DISTANCE


def unrelated_images(n: int, seed: int, size: int = 160) -> list[Image.Image]:
    """Seeded random shapes over gradients and noise: n images unrelated to each other or to any photo."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        gx = np.linspace(0, 1, size)[None, :] * rng.uniform(-255, 255)
        gy = np.linspace(0, 1, size)[:, None] * rng.uniform(-255, 255)
        base = rng.uniform(0, 255, 3)[None, None, :] + (gx + gy)[:, :, None] * rng.uniform(0, 1, 3)
        base += rng.normal(0, rng.uniform(0, 30), (size, size, 3))
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 9))):
            x0, y0 = (int(v) for v in rng.integers(0, size, 2))
            x1, y1 = x0 + int(rng.integers(10, size)), y0 + int(rng.integers(10, size))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse((x0, y0, x1, y1), fill=fill)
            else:
                draw.rectangle((x0, y0, x1, y1), fill=fill)
        images.append(image)
    return images


def test_a_thousand_unrelated_images_do_not_match_the_banked_one() -> None:
    banked = pdq.pdq_from_image(_banked())
    hashes = [pdq.pdq_from_image(im) for im in unrelated_images(1000, seed=20261201)]
    usable = [h for h in hashes if h.quality >= MIN_QUALITY]
    matches = [h for h in usable if pdq.hamming(h.value, banked.value) <= pdq.DEFAULT_MATCH_DISTANCE]
    nearest = min(pdq.hamming(h.value, banked.value) for h in usable)
    print(
        f"false-match rate: {len(matches)}/{len(usable)} = {len(matches) / len(usable):.4f} "
        f"({len(hashes) - len(usable)} below quality {MIN_QUALITY}); nearest {nearest} bits"
    )
    assert len(usable) >= 800
    assert not matches


def test_a_flat_image_has_a_low_quality() -> None:
    flat = Image.new("RGB", (400, 300), (120, 130, 140))
    assert pdq.pdq_from_image(flat).quality < MIN_QUALITY
    gentle = Image.fromarray(np.tile(np.linspace(100, 110, 400).astype(np.uint8), (300, 1)), "L")
    assert pdq.pdq_from_image(gentle).quality < MIN_QUALITY


def test_not_an_image_and_too_small_an_image() -> None:
    assert pdq.pdq_from_bytes(b"%PDF-1.7 not an image") is None
    assert pdq.pdq_from_image(Image.new("RGB", (4, 40))) == pdq.PdqHash(0, 0)


def test_hash_bytes_has_the_digests_and_the_line_format() -> None:
    data = ORIGINAL.read_bytes()
    got = pdq.hash_bytes(data)
    assert got.pdq is not None
    assert got.sha256 == __import__("hashlib").sha256(data).hexdigest()
    line = got.line("x.jpg")
    assert line == f"x.jpg pdq={got.pdq.hex} quality={got.pdq.quality} md5={got.md5} sha256={got.sha256}"
    text = pdq.hash_bytes(b"hello\n")
    assert text.pdq is None and text.line("t").startswith("t pdq=- quality=- md5=b1946ac9")
