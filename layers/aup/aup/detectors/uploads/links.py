"""Links an Office document follows by itself as it opens (I3): what a remote-template or Follina
document fetches, and what an RTF's linked object (CVE-2017-0199) loads.

- OOXML: a package's relationship parts (``*.rels``) name, for each link, its type, its target and
  whether the target is outside the package (``TargetMode="External"``). Word fetches a linked OLE
  object (``oleObject``), its template (``attachedTemplate``), a frame and a subdocument by itself;
  a hyperlink or an image is not fetched by opening, and is no part of this.
- RTF: a linked object's OLE 1.0 header names the class ``OLE2Link``, and a link to the web carries a
  URL moniker (its class id, then the URL in UTF-16).

Each followed target is judged by what it is:

- *exploit* (a launch: run as the document opens): a scheme no document needs to fetch (``mhtml:``,
  ``ms-msdt:``, ``search-ms:``, ...: Follina's CVE-2022-30190 and its kin), a web address ending ``!``
  (what hands an HTML page to MSHTML), or a web address on a public IP literal or of a page or script
  (``.hta``, ``.sct``, ``.html``, ``.rtf``, ``.php``, ...);
- *remote* (a review): any other web address. A firm's template on its SharePoint is one;
  so is a remote-template attack on a domain of its own, and an operator tells them apart;
- neither: a file path or share (a workbook linked from the author's disk, the Normal template), or
  a relative target.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections import Counter
from urllib.parse import urlsplit

EXPLOIT_LINK = "remote-exploit-link"  # a launch action (``detectors.script_in_document``)
REMOTE_LINK = "remote-link"  # active content: a review

# Relationship types (the last segment of the Type URI, lowercased) whose external target Word fetches
FETCHED_TYPES = frozenset({"oleobject", "attachedtemplate", "frame", "subdocument"})
# Schemes that hand the target to another handler than a document fetch: MSHTML, the diagnostics tool,
# Windows search, Office's command handler, compiled help, script
EXPLOIT_SCHEMES = frozenset(
    {"mhtml", "ms-msdt", "search-ms", "search", "ms-search", "ms-officecmd", "ms-its", "its", "mk"}
    | {"vbscript", "javascript"}
)
# What a page or a script is named: fetched by a document, it is run, not read
CODE_EXTENSIONS = frozenset(
    {"hta", "sct", "wsc", "htm", "html", "mht", "mhtml", "xht", "xhtml", "rtf", "php", "asp", "aspx"}
    | {"jsp", "js", "jse", "vbs", "vbe", "wsf", "ps1", "exe", "dll", "scr", "cmd", "bat", "cpl", "msi"}
)

# (quote-aware: XML allows a raw ">" inside an attribute's value, and Word reads it so)
_RELATIONSHIP = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Relationship\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTRIBUTE = re.compile(rb"([A-Za-z_][\w.:-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
# URL Moniker's class id {79EAC9E0-BAF9-11CE-8C82-00AA004BA90B}, as stored (its first fields little-endian)
URL_MONIKER = bytes.fromhex("e0c9ea79f9bace118c8200aa004ba90b")
_URL_CHARS = 2048  # a moniker's URL read at most this long


def judge_target(target: str) -> str | None:
    """``EXPLOIT_LINK``, ``REMOTE_LINK`` or None (a path, a share, a relative target) for a target a
    document fetches by itself."""
    value = "".join(html.unescape(target).split())  # Word reads the target without its white space
    if not value:
        return None
    scheme, sep, _ = value.partition(":")
    scheme = scheme.lower()
    if sep and scheme in EXPLOIT_SCHEMES:
        return EXPLOIT_LINK
    if scheme not in ("http", "https"):
        return None  # (a linked workbook's path may end "!": its item, "Book1.xlsx!Sheet1!", is after it)
    if value.endswith("!"):  # a web page handed to MSHTML
        return EXPLOIT_LINK
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:  # a malformed address (an unclosed bracket): fetched or not, an operator looks
        return REMOTE_LINK
    try:
        if ipaddress.ip_address(host).is_global:
            return EXPLOIT_LINK
    except ValueError:
        pass  # a name, not an address
    last = parts.path.rsplit("/", 1)[-1]
    if "." in last and last.rsplit(".", 1)[-1].lower() in CODE_EXTENSIONS:
        return EXPLOIT_LINK
    return REMOTE_LINK


def relationships(xml: bytes, into: Counter[str]) -> None:
    """Count, in ``into``, the judged external targets a relationship part (``*.rels``) links to."""
    for m in _RELATIONSHIP.finditer(xml):
        attributes: dict[str, str] = {}
        for a in _ATTRIBUTE.finditer(m.group(1)):
            value = a.group(2) if a.group(2) is not None else a.group(3)
            attributes[a.group(1).decode("latin-1").lower()] = value.decode("utf-8", "replace")
        if html.unescape(attributes.get("targetmode", "")).strip().lower() != "external":
            continue
        kind = html.unescape(attributes.get("type", "")).rstrip("/").rsplit("/", 1)[-1].lower()
        if kind not in FETCHED_TYPES:
            continue
        judged = judge_target(attributes.get("target", ""))
        if judged is not None:
            into[judged] += 1


def moniker_url(native: bytes) -> str | None:
    """The URL of the first URL moniker in an OLE2Link object's data (its size in bytes, then UTF-16LE
    text), None without one."""
    at = native.find(URL_MONIKER)
    if at < 0:
        return None
    start = at + len(URL_MONIKER) + 4  # the moniker's data size
    text = native[start : start + 2 * _URL_CHARS].decode("utf-16-le", "replace")
    return text.split("\x00", 1)[0]
