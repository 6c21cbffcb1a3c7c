"""The objects an RTF document embeds (``{\\object ... {\\*\\objdata <hex>}}``), as members to scan.

An RTF file is text, and its words are read by the text detectors as they stand; but an embedded object
(a packaged file, a workbook, an equation) is written as hexadecimal digits inside its ``\\objdata``
group, which no detector reads as what it is: an executable or an EICAR file spelled in hex is text of
digits. ``objects`` decodes each such group and unwraps its OLE 1.0 header (MS-OLEDS 2.2.4: version,
format, class name, topic, item, native data) and, for the Packager's class (``Package``), the packaged
file and its name, so the scanner reads each object as a member of the document.

Word's parser is lenient, and malicious documents lean on it: the digits may be split by whitespace,
control words (``\\par``, ``\\'xx``) and groups Word skips (``{\\*\\x ...}``), and the keyword's group
may close late or never. Those are skipped here as Word skips them; a group that never closes runs to
the end of the document. An object whose header does not parse is scanned as its decoded bytes.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from aup.detectors.uploads import links

_OBJDATA = re.compile(rb"\\objdata(?![a-zA-Z])")
# A run of digits (spaces and line breaks among them), a control word or symbol, a brace, anything else
_TOKEN = re.compile(
    rb"(?P<hex>[0-9a-fA-F][0-9a-fA-F\s]*)|\\(?:[a-zA-Z]{1,32}-?\d{0,10} ?|'[0-9a-fA-F]{0,2}|.)|[{}]"
    rb"|[^0-9a-fA-F\\{}]+",
    re.S,
)
_SPACE = re.compile(rb"\s+")
_BIN = re.compile(rb"\\bin(-?\d{1,10}) ?\Z").match  # ``\binN``: N raw bytes follow
_OLE1_VERSION = 0x0501
_EMBEDDED, _LINKED = 2, 1
_HEADER_REACH = 4096  # bytes before an object's data where its \object keyword and its flags are
EQUATION_CLASSES = frozenset({"equation.3", "equation.2", "equation", "equation.dsmt4"})


@dataclass
class RtfObjects:
    """What ``objects`` found: each object's (member name, bytes), the markers of what they are, and what
    could not be read."""

    members: list[tuple[str, bytes]] = field(default_factory=list)
    # "embedded-object" (a packaged file), "equation-editor", and "equation-editor-auto-update": an
    # Equation Editor object whose own header says ``\objupdate`` (refreshed, so run, as the document
    # opens: how exploits of CVE-2017-11882 run without a click); a linked object's web address, judged by
    # ``links.judge_target`` (a launch only when the object also updates itself)
    markers: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _hex_digits(data: bytes, start: int, limit: int) -> bytes:
    """The hex digits of the group that holds ``data[start:]`` (its ``\\objdata`` keyword just before),
    to the group's closing brace, skipping control words and the groups Word skips; at most ``limit``.
    ``\\binN`` is followed by N bytes of the object as they are (no digits), taken as their hex here.
    Read by tokens, so a run of digits is one C-level match however long."""
    out = bytearray()
    depth = 0
    at = start
    while (m := _TOKEN.match(data, at)) is not None:
        at = m.end()
        token = m.group()
        if token == b"{":
            depth += 1
        elif token == b"}":
            if depth == 0:
                break
            depth -= 1
        elif m.lastgroup == "hex":
            if depth == 0:
                out += _SPACE.sub(b"", token)
        elif (size := _BIN(token)) is not None:  # raw bytes, whatever they hold: never read as tokens
            raw = data[at : at + max(0, int(size.group(1)))]
            at += len(raw)
            if depth == 0:
                out += raw.hex().encode("ascii")
        if len(out) >= limit:
            break
    return bytes(out[: len(out) - len(out) % 2])


def _cstring(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\x00", at)
    return data[at:end].decode("latin-1"), end + 1


def _length_prefixed(data: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", data, at)
    if size > len(data) - at - 4:
        raise ValueError("string beyond the object")
    return data[at + 4 : at + 4 + size].rstrip(b"\x00").decode("latin-1"), at + 4 + size


def _ole1(blob: bytes) -> tuple[str, bytes] | None:
    """(class name, native data) of an OLE 1.0 embedded or linked object, None when ``blob`` is none."""
    if len(blob) < 12:
        return None
    version, fmt = struct.unpack_from("<II", blob, 0)
    if version != _OLE1_VERSION or fmt not in (_EMBEDDED, _LINKED):
        return None
    try:
        cls, at = _length_prefixed(blob, 8)
        _topic, at = _length_prefixed(blob, at)
        _item, at = _length_prefixed(blob, at)
        if fmt == _LINKED:
            return cls, b""
        (size,) = struct.unpack_from("<I", blob, at)
    except (ValueError, struct.error):
        return None
    return cls, blob[at + 4 : at + 4 + size]


def _packaged(native: bytes) -> tuple[str, bytes] | None:
    """(file name, bytes) of the Packager's native data: a header, the label, the file's path, a temp
    path, then the file's size and bytes."""
    try:
        _label, at = _cstring(native, 2)
        path, at = _cstring(native, at)
        at += 4  # two reserved words
        (temp_size,) = struct.unpack_from("<I", native, at)
        at += 4 + temp_size
        (size,) = struct.unpack_from("<I", native, at)
    except (ValueError, struct.error):
        return None
    data = native[at + 4 : at + 4 + size]
    name = re.split(r"[\\/]", path)[-1] or "packaged"
    return name, data


def _updates_itself(data: bytes, objdata_at: int) -> bool:
    """Whether the object whose ``\\objdata`` starts at ``objdata_at`` says ``\\objupdate`` in its header:
    refreshed, so run, as the document opens."""
    opened = data.rfind(b"\\object", max(0, objdata_at - _HEADER_REACH), objdata_at)
    return opened >= 0 and b"\\objupdate" in data[opened:objdata_at]


def objects(data: bytes, limit: int) -> RtfObjects:
    """The objects embedded in the RTF document ``data``, their decoded bytes at most ``limit`` in all."""
    found = RtfObjects()
    left = limit
    for k, m in enumerate(_OBJDATA.finditer(data)):
        digits = _hex_digits(data, m.end(), 2 * left + 2)
        if len(digits) > 2 * left:
            found.problems.append(f"embedded objects beyond {limit} bytes not read")
            break
        if not digits:
            continue
        blob = bytes.fromhex(digits.decode("ascii"))
        left -= len(blob)
        parsed = _ole1(blob)
        if parsed is None:
            found.members.append((f"object-{k}", blob))
            continue
        cls, native = parsed
        lowered = cls.lower()
        if lowered in EQUATION_CLASSES:
            found.markers.add("equation-editor")
            if _updates_itself(data, m.start()):
                found.markers.add("equation-editor-auto-update")
        if lowered == "ole2link":  # a linked object: a URL moniker is a link to the web (CVE-2017-0199)
            url = links.moniker_url(native)
            judged = links.judge_target(url) if url is not None else None
            if judged == links.EXPLOIT_LINK and not _updates_itself(data, m.start()):
                judged = links.REMOTE_LINK  # fetched when someone updates the link: a review
            if judged is not None:
                found.markers.add(judged)
        if lowered == "package":
            found.markers.add("embedded-object")
            packaged = _packaged(native)
            if packaged is not None:
                found.members.append((f"object-{k}/{packaged[0]}", packaged[1]))
                continue
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", cls)[:40] or "object"
        found.members.append((f"object-{k}.{safe}", native or blob))
    return found
