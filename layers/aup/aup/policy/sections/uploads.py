"""Policy section ``upload_scanning``: thresholds of the upload rules (I1 I2 I3 W2 W4 W6 D6 C1).

Defaults equal the numbers in ``default_policy.yaml``; the YAML is the place operators change them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Streaming(_Section):
    chunk_bytes: int = Field(default=1024 * 1024, ge=4096)
    overlap_bytes: int = Field(default=4096, ge=256)  # longest pattern a match may span between chunks
    deadline_margin_seconds: float = Field(default=20, ge=0)  # stop scanning this long before the timeout


class Archives(_Section):
    """I3-archive-bomb limits; zip members are scanned like top-level objects."""

    max_members: int = Field(default=10_000, gt=0)
    max_depth: int = Field(default=3, ge=0)  # zips inside zips beyond this depth: a bomb
    max_ratio: float = Field(default=100, gt=1)  # uncompressed / compressed, per member ...
    ratio_min_bytes: int = Field(default=10 * 1024 * 1024, ge=0)  # ... once a member expands beyond this
    max_total_bytes: int = Field(default=2 * 1024**3, gt=0)  # uncompressed bytes of one archive


class Executables(_Section):
    """I3-disguised-executable: PE/ELF/Mach-O content under one of these (non-executable) extensions."""

    disguise_extensions: frozenset[str] = frozenset(
        {
            "jpg",
            "jpeg",
            "png",
            "gif",
            "bmp",
            "webp",
            "tif",
            "tiff",
            "svg",
            "ico",
            "pdf",
            "txt",
            "csv",
            "json",
            "xml",
            "html",
            "htm",
            "doc",
            "docx",
            "xls",
            "xlsx",
            "ppt",
            "pptx",
            "odt",
            "rtf",
            "md",
            "mp3",
            "mp4",
            "mov",
            "avi",
            "mkv",
            "wav",
            "zip",
        }
    )


class Scripts(_Section):
    """I3-script-in-document in HTML/SVG: handlers and javascript: URLs are exploits; a bare <script>
    is below the bar (review)."""

    handler_confidence: float = Field(default=0.9, ge=0, le=1)
    script_tag_confidence: float = Field(default=0.6, ge=0, le=1)
    exfiltration_confidence: float = Field(default=0.95, ge=0, le=1)


class PersonalData(_Section):
    """W2: validated identifiers (Luhn + issuer cards, valid SSNs, mod-97 IBANs), contacts, cloud keys."""

    bulk_min: int = Field(default=10, gt=0)  # validated identifiers in one file -> W2-bulk-personal-data
    review_min: int = Field(default=3, gt=0)  # fewer than bulk_min but at least this -> W2-personal-data
    contacts_bulk_min: int = Field(
        default=1000, gt=0
    )  # distinct e-mails or phones -> bulk, at review confidence
    contacts_confidence: float = Field(default=0.7, ge=0, le=1)
    cloud_keys_min: int = Field(default=1, gt=0)
    text_limit_bytes: int = Field(default=512 * 1024**2, gt=0)  # PII regexes run on this much text per object


class Recipients(_Section):
    """C1: a file that is mostly e-mail addresses (review only)."""

    min_addresses: int = Field(default=200, gt=0)
    min_share: float = Field(default=0.5, gt=0, le=1)  # bytes of addresses / bytes of text


class Markup(_Section):
    """W6 hidden trademarks and W1 phishing pages, from HTML/SVG parsed incrementally."""

    parse_limit_bytes: int = Field(default=32 * 1024**2, gt=0)
    phishing_brands: tuple[str, ...] = ("PayPal", "Microsoft", "Office 365", "Apple ID", "Google", "Amazon")


class Media(_Section):
    """D6: bytes of media (by content) per account against the plan's media allowance."""

    kinds: frozenset[str] = frozenset({"audio", "video", "image"})
    image_min_bytes: int = Field(default=256 * 1024, ge=0)  # icons and logos are not hoarding


class UploadScanning(_Section):
    streaming: Streaming = Streaming()
    archives: Archives = Archives()
    executables: Executables = Executables()
    scripts: Scripts = Scripts()
    personal_data: PersonalData = PersonalData()
    recipients: Recipients = Recipients()
    markup: Markup = Markup()
    media: Media = Media()
    threat_phrases: tuple[str, ...] = (
        "i will kill you",
        "i am going to kill you",
        "you will die",
        "i know where you live",
        "we will find you",
    )
    extra_rules_uri: str | None = None  # s3://bucket/prefix/ of operators' extra *.yar files, or a directory
    attribution_prefix: str = "accounts/"
