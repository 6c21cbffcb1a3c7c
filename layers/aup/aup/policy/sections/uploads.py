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
    """Containers (zip, tar, gzip, bzip2, xz, nested) and I3-archive-bomb.

    A bomb is judged by expansion only: overlapping members, or more than ``max_ratio`` times the
    object's size inflated (past ``ratio_min_bytes``; a single deflate layer of real data stays
    below ~1030:1). Any other limit exceeded makes the scan ``not-scanned`` (too-large), never a bomb.
    Overlapping members, and a ratio reached through ``bomb_min_layers`` nested streams that each
    expanded (42.zip), are crafted (honest data is compressed once): the object is quarantined and the
    account struck. A ratio reached in fewer such layers is also what a sparse disk image under xz or
    bzip2, or a zero-filled file in a tar.gz, looks like: the scan reads on to
    ``shallow_bomb_budget_bytes`` inflated (such a file that ends within it is read, and clean when
    nothing is found); past it, the object is held for review at ``shallow_bomb_confidence``.
    """

    max_members: int = Field(default=100_000, gt=0)  # members of one archive; beyond: not scanned
    max_depth: int = Field(default=8, ge=0)  # containers inside containers; beyond: not scanned
    max_ratio: float = Field(default=1000, gt=1)  # inflated bytes / object bytes: a bomb ...
    ratio_min_bytes: int = Field(default=10 * 1024 * 1024, ge=0)  # ... once this much has inflated
    bomb_min_layers: int = Field(default=3, ge=1)  # expanding layers of a ratio bomb that strike ...
    shallow_bomb_budget_bytes: int = Field(default=1024**3, ge=0)  # ... fewer: read on to this, then ...
    shallow_bomb_confidence: float = Field(default=0.6, ge=0, le=1)  # ... this (a review by default)
    max_total_bytes: int = Field(default=16 * 1024**3, gt=0)  # inflated bytes per object; beyond: not scanned
    spool_bytes: int = Field(default=256 * 1024**2, gt=0)  # a container nested in a stream, copied to open it


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
    """I3-script-in-document in HTML/SVG: handlers that run by themselves (onload, onerror, ...) and
    javascript: URLs (not ``void(0)``) are exploits, but a link whose javascript: URL only goes back,
    prints, reloads or calls the page's functions counts with the page's controls; a bare <script>, the
    handlers of a page's own controls (onclick, onsubmit, ...) and self-running handlers of a page's own
    shape (they only call a function by name, ``<body onload="init()">``, or set their element's
    properties to plain values, ``<img onerror="this.src='fallback.png'">``, hand a function by name to a
    timer, ``setInterval(refresh, 30000)``, or, on ``<body>``, print and close a printable view (a
    leading ``javascript:`` label and ``window.`` before a call are read without them); never a dialog,
    code from a string, the cookie or the location) are below the bar (review); a script that hands
    ``document.cookie`` on (joined into a string, passed to a call, put in an object, directly or through
    a variable) with another host's address near it, beside a request, a redirect or a beacon, or runs
    what ``atob`` decoded (``eval(atob(...))``, directly or through a variable), is exfiltration; one
    that only parses and writes its cookies (a consent banner), sends a token from them to its own paths
    (a CSRF header), or uses ``atob`` and ``eval`` apart, is a page's script. Markup sniffed in a text is
    read as a page only where a browser may render it: a page's extension (or none), or for the object
    itself a stored type that renders (an access log stored as text/plain holds probes, not a page). A
    Markdown file (``.md``) not stored as a type a browser renders as a page (HTML, XHTML, SVG, XML; or
    no type) is read without its fenced code blocks and one-line code spans, which a renderer prints: a
    guide's example payloads; its raw HTML is read as any page's."""

    handler_confidence: float = Field(default=0.9, ge=0, le=1)
    script_tag_confidence: float = Field(default=0.6, ge=0, le=1)
    exfiltration_confidence: float = Field(default=0.95, ge=0, le=1)
    # PDF /JavaScript, /OpenAction, Office macros: common in honest documents, so below the bar
    # (review, the object held); a PDF /Launch counts as a handler.
    active_content_confidence: float = Field(default=0.7, ge=0, le=1)


class PersonalData(_Section):
    """W2: validated identifiers (Luhn + issuer cards, valid SSNs, mod-97 IBANs), contacts, cloud keys."""

    bulk_min: int = Field(default=10, gt=0)  # validated identifiers in one file -> W2-bulk-personal-data
    review_min: int = Field(default=3, gt=0)  # fewer than bulk_min but at least this -> W2-personal-data
    contacts_bulk_min: int = Field(
        default=1000, gt=0
    )  # distinct e-mails or phones -> bulk, at review confidence
    contacts_confidence: float = Field(default=0.7, ge=0, le=1)
    # Bulk reached only with the IBANs: bank statements, payroll and supplier files carry their
    # counterparties' accounts as a matter of course. At this confidence (under the default bar), a review;
    # cards and SSNs in bulk stay 0.95.
    ibans_confidence: float = Field(default=0.7, ge=0, le=1)
    # Bulk reached with numbers of the SSN's shape (123-45-6789) that no word names as SSNs (ssn, social
    # security, Excel's SSN format): an SSN has no check digit, and part numbers and references take that
    # shape too. At this confidence (under the default bar), a review; named SSNs in bulk stay 0.95.
    unnamed_ssns_confidence: float = Field(default=0.7, ge=0, le=1)
    cloud_keys_min: int = Field(default=1, gt=0)
    # Long-term AWS access key ids (AKIA...) found without a secret access key beside them: a key's name,
    # which CloudTrail and signed requests' logs write as a matter of course. At this confidence (under
    # the default bar), a review; a key id with its secret stays 0.9.
    key_ids_only_confidence: float = Field(default=0.6, ge=0, le=1)
    # PEM private keys (RSA, EC, DSA, OpenSSH) and nothing stronger beside them: a key is its owner's
    # (a project's TLS test fixtures, node_modules' test certificates, a home directory's ~/.ssh), not
    # a cloud access key and no one else's personal data. At this confidence, a review.
    private_keys_confidence: float = Field(default=0.6, ge=0, le=1)
    # PII regexes run on this much text per stream; beyond it the scan is not-scanned (too-large).
    text_limit_bytes: int = Field(default=8 * 1024**3, gt=0)
    # Luhn-valid numbers count as cards only when that many passes by chance (1 in 10) has a
    # probability below this (lower bar next to card words: card, cvv, expiry...).
    card_chance_alpha: float = Field(default=1e-6, gt=0, le=1)
    card_chance_alpha_with_context: float = Field(default=1e-3, gt=0, le=1)


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
    # Objects up to this size are scanned for accounts on the plan (above the function's
    # SCAN_LIMIT_BYTES); larger ones are not-scanned (too-large). Sized to what the function reads
    # within its 15 minutes at the measured throughput.
    plan_scan_limits: dict[str, int] = {"business": 32 * 1024**3, "enterprise": 32 * 1024**3}
    extra_rules_uri: str | None = None  # s3://bucket/prefix/ of operators' extra *.yar files, or a directory
    # s3://bucket/prefix/ of the hash banks (`aupctl banks`), loaded at cold start; null: no bank matching
    banks_uri: str | None = None
    # PDQ hashes of lower quality (flat, near-blank images) are not matched: they match too much
    pdq_min_quality: int = Field(default=50, ge=0, le=100)
    # Images (and image members) up to this size are decoded and PDQ-hashed; larger: SHA-256/MD5 only
    pdq_max_image_bytes: int = Field(default=32 * 1024**2, gt=0)
    attribution_prefix: str = "accounts/"
