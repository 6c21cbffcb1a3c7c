"""ar (a Debian package, a static library) and cpio (new ASCII format: an initramfs, an RPM's payload)
archives, read as their members, as the standard library reads neither.

Both are a header before each member's bytes. ``ar_members`` and ``cpio_members`` read the headers
from a stream and yield each regular file's (name, size); after each, the caller reads exactly ``size``
bytes (``copy``) and the reader goes on from there. A header that does not parse raises
``ArchiveError``; an archive cut inside a member's bytes leaves ``copy`` short.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = re.compile(rb"(.{16})(.{12})(.{6})(.{6})(.{8})( *[0-9]+ *)`\n", re.S)
_CPIO_HEADER = re.compile(rb"07070[12]([0-9A-Fa-f]{104})")
_CPIO_TRAILER = "TRAILER!!!"
_REGULAR = 0o100000
MAX_NAME = 4096


class ArchiveError(ValueError):
    """A header that does not parse."""


def copy(src: IO[bytes], dst: IO[bytes], size: int) -> int:
    """Copy ``size`` bytes (fewer at the end of ``src``) from ``src`` to ``dst``: the bytes copied."""
    left = size
    while left:
        chunk = src.read(min(left, 1 << 20))
        if not chunk:
            break
        dst.write(chunk)
        left -= len(chunk)
    return size - left


def _skip(src: IO[bytes], size: int) -> None:
    if size:
        src.read(size)


def _headers(src: IO[bytes], size: int, pattern: re.Pattern[bytes]) -> Iterator[re.Match[bytes]]:
    """Each member header (``size`` bytes matching ``pattern``) read from ``src``, to its end."""
    while raw := src.read(size):
        header = pattern.fullmatch(raw)
        if header is None:
            raise ArchiveError("a member header that does not parse")
        yield header


def ar_members(src: IO[bytes]) -> Iterator[tuple[str, int]]:
    """(name, size) of each file of an ar archive: GNU long names (``/<offset>`` into the ``//`` table)
    and BSD ones (``#1/<length>``, the name before the data) resolved; the symbol tables skipped."""
    if src.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise ArchiveError("no ar signature")
    names = b""
    for header in _headers(src, 60, _AR_HEADER):
        name, size = header.group(1).decode("latin-1").rstrip(), int(header.group(6))
        pad = size % 2
        if name == "//":  # GNU's table of long names
            names = src.read(size)
            _skip(src, pad)
            continue
        if name in ("/", "/SYM64/", "__.SYMDEF", "__.SYMDEF SORTED"):  # symbol tables
            _skip(src, size + pad)
            continue
        if name.startswith("#1/") and name[3:].isdigit():  # BSD: the name's bytes open the data
            length = int(name[3:])
            if length > MAX_NAME or length > size:
                raise ArchiveError("a BSD name longer than its member")
            name, size = src.read(length).rstrip(b"\x00").decode("utf-8", "replace"), size - length
        elif name.startswith("/") and name[1:].isdigit():  # GNU: an offset into the long names
            start = int(name[1:])
            name = names[start : names.find(b"\n", start)].decode("utf-8", "replace").rstrip("/")
        else:
            name = name.rstrip("/")
        yield name or "member", size
        _skip(src, pad)


def cpio_members(src: IO[bytes]) -> Iterator[tuple[str, int]]:
    """(name, size) of each regular file of a cpio archive in the new ASCII format (``070701``, or
    ``070702`` with checksums), to its trailer."""
    for header in _headers(src, 110, _CPIO_HEADER):
        fields = [int(header.group(1)[i : i + 8], 16) for i in range(0, 104, 8)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        if not 0 < name_size <= MAX_NAME:
            raise ArchiveError("a name of no or too many bytes")
        name = src.read(name_size).rstrip(b"\x00").decode("utf-8", "replace")
        _skip(src, -(110 + name_size) % 4)
        if name == _CPIO_TRAILER:
            return
        if mode & 0o170000 == _REGULAR:
            yield name.removeprefix("./").lstrip("/") or "member", size
        else:
            _skip(src, size)  # directories, links (a symlink's data is its target), devices
        _skip(src, -size % 4)
