"""Numbers a spreadsheet keeps as cell values, written out as its cells show them.

A social security number typed into Excel is the number 123456789 shown through the format
``000-00-0000``; a phone number is 5551234567 shown as ``(555) 123-4567``. The file's bytes hold only
the bare number, which no text detector can tell from an order id, so a spreadsheet of employees'
SSNs read clean. This module renders the integer cells whose format is a digit pattern (placeholders
``0`` and ``#`` among literal characters, as Excel's "Special" formats are) the way Excel displays
them, one value a line, for the text detectors to read as the workbook's member ``!/formatted-numbers``.

Only digit patterns are rendered: General, decimals, percentages, dates and text formats show nothing a
personal-data rule looks for beyond the bare number the bytes already hold.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import IO, Any
from xml.etree import ElementTree as ET

# The transitional namespace (what Excel saves by default) and ISO 29500 Strict ("Strict Open XML")
NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
STYLES = "xl/styles.xml"
WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)
STYLES_MAX_BYTES = 4 * 1024 * 1024  # a workbook's styles part; beyond it the styles are not read
MAX_SAFE_INTEGER = 10**15  # beyond 15 digits Excel keeps no exact integer (card numbers are text)

_CONDITION = re.compile(r"\[(<=|>=|<>|<|>|=)(-?\d+(?:\.\d+)?)\]")
_COLOUR_OR_LOCALE = re.compile(r"\[[^\]]*\]")
Render = Callable[[int], str]


def _pieces(section: str) -> list[str] | None:
    """A format section as placeholders (``"0"``, ``"#"``) and literal strings; None when it is not
    a digit pattern (a decimal point, exponent, percent, date or time letter, text ``@``, fill ``*``)."""
    out: list[str] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch in "0#":
            out.append(ch)
        elif ch == "\\" and i + 1 < len(section):
            out.append(section[i + 1])
            i += 1
        elif ch == '"':
            end = section.find('"', i + 1)
            if end < 0:
                return None
            out.append(section[i + 1 : end])
            i = end
        elif ch == "_" and i + 1 < len(section):  # a space as wide as the next character
            out.append(" ")
            i += 1
        elif ch in " -()/+:":  # (a comma is the thousands separator: #,##0 shows no identifier)
            out.append(ch)
        else:
            return None
        i += 1
    placeholders = sum(1 for p in out if p in ("0", "#"))
    # Placeholders alone (``0``, ``00000``) show the bytes' own number: nothing to render.
    return out if 0 < placeholders < len(out) else None


def _fill(pieces: list[str], value: int) -> str:
    """Excel's placement: digits fill the placeholders from the right; a ``0`` with no digit left shows
    0, a ``#`` nothing; digits beyond the placeholders go to the first one."""
    digits = str(value)
    slots = sum(1 for p in pieces if p in ("0", "#"))
    extra, digits = (digits[:-slots], digits[-slots:]) if len(digits) > slots else ("", digits)
    missing = slots - len(digits)
    out: list[str] = []
    k = 0  # placeholders seen
    for p in pieces:
        if p not in ("0", "#"):
            out.append(p)
            continue
        if k == 0:
            out.append(extra)
        if k < missing:
            out.append("0" if p == "0" else "")
        else:
            out.append(digits[k - missing])
        k += 1
    return "".join(out)


def _holds(op: str, bound: float, value: int) -> bool:
    return {
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
        "=": value == bound,
        "<>": value != bound,
    }[op]


@lru_cache(maxsize=256)
def digit_format(code: str) -> Render | None:
    """A renderer of non-negative integers for a number format code, or None when no section that a
    non-negative integer would use is a digit pattern (``[<=9999999]###-####;(###) ###-####`` renders
    both a 7-digit and a 10-digit phone number)."""
    sections = code.split(";")[:2]  # the third and fourth are zero and text: no integer >= 1 uses them
    parsed: list[tuple[tuple[str, float] | None, list[str] | None]] = []
    for raw in sections:
        cond = _CONDITION.search(raw)
        condition = (cond.group(1), float(cond.group(2))) if cond else None
        parsed.append((condition, _pieces(_COLOUR_OR_LOCALE.sub("", raw))))
    if all(pieces is None for _, pieces in parsed):
        return None
    first_condition = parsed[0][0]

    def render(value: int) -> str:
        # Without a condition (or a second section), the first section serves every value >= 0.
        if first_condition is None or len(parsed) == 1 or _holds(*first_condition, value):
            pieces = parsed[0][1]
        else:
            pieces = parsed[1][1]
        return _fill(pieces, value) if pieces is not None else str(value)

    return render


def style_renderers(styles_xml: bytes) -> dict[int, Render]:
    """Cell style index (a cell's ``s``) -> its renderer, for the styles whose format is a digit pattern."""
    root = ET.fromstring(styles_xml)  # noqa: S314 - expat refuses entity expansion bombs (Python >= 3.11)
    ns = "{" + _namespace(root.tag) + "}"
    codes = {
        int(f.get("numFmtId", "-1")): f.get("formatCode", "")
        for f in root.iterfind(f"{ns}numFmts/{ns}numFmt")
        if f.get("numFmtId", "").isdigit()
    }
    out: dict[int, Render] = {}
    for index, xf in enumerate(root.iterfind(f"{ns}cellXfs/{ns}xf")):
        fmt = xf.get("numFmtId", "0")
        code = codes.get(int(fmt)) if fmt.isdigit() else None
        render = digit_format(code) if code else None
        if render is not None:
            out[index] = render
    return out


def _namespace(tag: str) -> str:
    """A part's namespace, one of ``NAMESPACES`` (another is no SpreadsheetML part: ValueError)."""
    ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
    if ns not in NAMESPACES:
        raise ValueError(f"not a SpreadsheetML part: {tag[:80]!r}")
    return ns


def _integer(text: str | None) -> int | None:
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    if number < 0 or number >= MAX_SAFE_INTEGER or number != int(number):
        return None
    return int(number)


def worksheet_numbers(
    stream: IO[bytes], renderers: dict[int, Render], tick: Callable[[], None]
) -> Iterator[bytes]:
    """The rendered integer cells of one worksheet part (a binary stream), one line each. ``tick`` is
    called every few thousand cells (the scanner's deadline check)."""
    seen = 0
    rows: ET.Element | None = None  # sheetData: each row is dropped from it once read
    ns = ""
    for event, el in ET.iterparse(stream, events=("start", "end")):  # noqa: S314
        tag = el.tag
        if event == "start":
            if not ns:
                ns = "{" + _namespace(tag) + "}"
            elif tag == f"{ns}sheetData":
                rows = el
            continue
        if tag == f"{ns}c":
            seen += 1
            if seen % 4096 == 0:
                tick()
            style = el.get("s")
            kind = el.get("t", "n")
            if style is not None and kind == "n" and style.isdigit():
                render = renderers.get(int(style))
                if render is not None:
                    value = _integer(el.findtext(f"{ns}v"))
                    if value is not None:
                        yield render(value).encode() + b"\n"
            el.clear()
        elif tag == f"{ns}row":
            el.clear()
            if rows is not None:
                rows.remove(el)


def xls_numbers(book: Any, sheet: Any, renderers: dict[int, Render | None]) -> Iterator[bytes]:
    """The rendered integer cells of one xlrd sheet, a row's worth of lines at a time. ``renderers``
    caches each cell style's renderer (None: not a digit pattern) across the book's sheets."""
    number = 2  # xlrd.XL_CELL_NUMBER
    for r in range(sheet.nrows):
        out: list[bytes] = []
        types, values = sheet.row_types(r), sheet.row_values(r)
        for c, kind in enumerate(types):
            if kind != number:
                continue
            xf_index = sheet.cell_xf_index(r, c)
            if xf_index not in renderers:
                fmt = book.format_map.get(book.xf_list[xf_index].format_key)
                renderers[xf_index] = digit_format(fmt.format_str) if fmt is not None else None
            render = renderers[xf_index]
            if render is None:
                continue
            value = _integer(repr(values[c]))
            if value is not None:
                out.append(render(value).encode() + b"\n")
        if out:
            yield b"".join(out)


def is_workbook(archive: zipfile.ZipFile) -> bool:
    names = set(archive.namelist())
    return STYLES in names and "xl/workbook.xml" in names
