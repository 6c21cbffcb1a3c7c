"""Numbers a spreadsheet keeps as cell values (``detectors/uploads/sheets.py``).

Found in review: an HR workbook whose SSN column holds numbers shown through Excel's "Social Security
Number" format (``000-00-0000``) keeps only 123456789 in its bytes, so the SSN rule never saw one
and the file was clean. A phone list kept the same way was as blind."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aup.detectors.uploads import detectors
from aup.detectors.uploads.scanner import ScanEngine
from aup.detectors.uploads.sheets import digit_format, worksheet_numbers
from aup.detectors.uploads.signatures import compile_rules
from aup.detectors.uploads.text import TextScanner
from aup.detectors.uploads.verdict import Verdict, verdict
from aup.policy import load_default_policy
from tests.unit.uploads import samples

POLICY = load_default_policy()
SSN_FORMAT = r"000\-00\-0000"  # as Excel writes its "Special: Social Security Number" format
PHONE_FORMAT = "[<=9999999]###-####;(###) ###-####"  # Excel's "Special: Phone Number"


def scan(data: bytes, name: str = "hr/staff.xlsx") -> tuple[object, list]:
    engine = ScanEngine(POLICY.upload_scanning, compile_rules(), ())
    result = engine.scan(io.BytesIO(data), name)
    obj = detectors.UploadedObject(
        "b", f"accounts/acme/{name}", "v1", "e", len(data), "acme", datetime.now(UTC)
    )
    return result, detectors.content_findings(obj, result, POLICY, {})


def ssn_rows(n: int, fmt: str) -> list[list[samples.Cell]]:
    return [
        [(f"Employee {i}", None), (int(v.replace("-", "")), fmt)] for i, v in enumerate(samples.valid_ssns(n))
    ]


def sheet_xml(rows: list[list[samples.Cell]]) -> bytes:
    """The one worksheet part of a workbook of ``rows``."""
    with zipfile.ZipFile(io.BytesIO(samples.xlsx([rows]))) as z:
        return z.read("xl/worksheets/sheet1.xml")


# --- the formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, value, shown",
    [
        (SSN_FORMAT, 123456789, "123-45-6789"),
        (SSN_FORMAT, 23456789, "023-45-6789"),  # a leading zero the number lost
        ("000-00-0000", 78051120, "078-05-1120"),
        (PHONE_FORMAT, 5551234, "555-1234"),
        (PHONE_FORMAT, 2125551234, "(212) 555-1234"),
        ('"("000") "000"-"0000', 2125551234, "(212) 555-1234"),
        ("00000-0000", 123456789, "12345-6789"),
        ("[Blue]000-000", 1234567, "1234-567"),  # digits beyond the placeholders go to the first one
        ("###-###", 12, "-12"),
    ],
)
def test_a_digit_pattern_shows_an_integer_as_excel_does(code: str, value: int, shown: str) -> None:
    render = digit_format(code)
    assert render is not None and render(value) == shown


@pytest.mark.parametrize(
    "code", ["General", "0", "00000", "0.00", "#,##0", "0%", "yyyy-mm-dd", "@", "0.00E+00", "h:mm"]
)
def test_formats_that_show_nothing_but_the_number_or_no_integer_are_not_rendered(code: str) -> None:
    assert digit_format(code) is None


@given(st.integers(min_value=100_000_000, max_value=999_999_999))
def test_every_nine_digit_number_shows_as_its_digits_in_the_ssn_shape(n: int) -> None:
    render = digit_format(SSN_FORMAT)
    assert render is not None
    shown = render(n)
    assert shown.replace("-", "") == str(n) and [len(p) for p in shown.split("-")] == [3, 2, 4]


def test_only_integer_cells_in_a_digit_style_are_rendered_and_rows_are_let_go() -> None:
    body = sheet_xml(
        [
            [(123456789, SSN_FORMAT), (987654321, "General"), (12.5, SSN_FORMAT), ("text", None)],
            [(-5, SSN_FORMAT), ("1e20", SSN_FORMAT), (234567890, SSN_FORMAT)],
        ]
    )
    render = digit_format(SSN_FORMAT)
    assert render is not None
    ticks: list[int] = []
    lines = list(worksheet_numbers(io.BytesIO(body), {1: render}, lambda: ticks.append(1)))
    assert lines == [b"123-45-6789\n", b"234-56-7890\n"]


# --- through the scanner -----------------------------------------------------------------------------


def test_a_workbook_of_ssns_kept_as_numbers_is_bulk_personal_data() -> None:
    data = samples.xlsx([ssn_rows(30, SSN_FORMAT)])
    result, findings = scan(data)
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
    member = [r for r in result.reports if r.path.endswith("!/formatted-numbers")]  # type: ignore[attr-defined]
    assert len(member) == 1 and member[0].text.ssns == 30


def test_the_same_numbers_under_general_format_are_order_ids_and_clean() -> None:
    data = samples.xlsx([ssn_rows(30, "General")])
    result, findings = scan(data)
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean  # type: ignore[attr-defined]


def test_a_workbook_of_phone_numbers_counts_them_as_phones() -> None:
    rows = [[(f"Client {i}", None), (2_125_550_000 + i * 7, PHONE_FORMAT)] for i in range(40)]
    result, _ = scan(samples.xlsx([rows]))
    (member,) = [r for r in result.reports if r.path.endswith("!/formatted-numbers")]  # type: ignore[attr-defined]
    assert member.text.phones == 40


def test_numbers_on_every_sheet_count_together() -> None:
    rows = ssn_rows(30, SSN_FORMAT)
    data = samples.xlsx([rows[:10], rows[10:20], rows[20:]])
    _, findings = scan(data)
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]


def test_a_broken_styles_part_is_said_not_read_never_clean() -> None:
    data = samples.xlsx([ssn_rows(3, SSN_FORMAT)], styles=b"<styleSheet><numFmts>")
    result, findings = scan(data)
    assert verdict(result.status, findings, POLICY) is not Verdict.clean  # type: ignore[attr-defined]


def _counts(text: bytes) -> object:
    scanner = TextScanner(POLICY.upload_scanning)
    scanner.feed(text)
    return scanner.close()


def test_a_phone_number_with_a_parenthesised_area_code_is_a_phone_number() -> None:
    # Found with the workbook above: the run of digits began after the "(", and no US number written
    # the usual way was counted, in any text file.
    counts = _counts(b"Reception: (212) 555-1234\nSales: (646)555-0199\nFax: +1 (718) 555-0142\n")
    assert counts.phones == 3  # type: ignore[attr-defined]
    (ssn,) = samples.valid_ssns(1)
    counts = _counts(f"SSN ({ssn}), order (12345678), sample (078-05-1120)\n".encode())
    assert counts.ssns == 1 and counts.phones == 0  # type: ignore[attr-defined]  # a "(" before an SSN


# --- legacy workbooks (.xls, BIFF8 in an OLE file) -----------------------------------------------------


def test_a_legacy_workbook_of_ssns_kept_as_numbers_is_bulk_personal_data() -> None:
    rows = ssn_rows(30, SSN_FORMAT)
    result, findings = scan(samples.xls([rows[:10], rows[10:20], rows[20:]]), "hr/staff.xls")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
    (member,) = [r for r in result.reports if r.path.endswith("!/formatted-numbers")]  # type: ignore[attr-defined]
    assert member.text.ssns == 30


def test_a_legacy_workbook_of_the_same_numbers_in_general_format_is_clean() -> None:
    result, findings = scan(samples.xls([ssn_rows(30, "General")]), "hr/staff.xls")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean  # type: ignore[attr-defined]


def test_an_ole_file_without_a_workbook_is_read_as_before() -> None:
    # xlwt's workbook with its stream renamed: an OLE file Excel would not open as a workbook
    data = samples.xls([ssn_rows(5, SSN_FORMAT)]).replace(
        "Workbook".encode("utf-16-le"), "WordDocs".encode("utf-16-le")
    )
    result, findings = scan(data, "letters/letter.doc")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean  # type: ignore[attr-defined]
    assert not [r for r in result.reports if r.path.endswith("formatted-numbers")]  # type: ignore[attr-defined]


def test_a_damaged_workbook_stream_is_said_not_read() -> None:
    data = bytearray(samples.xls([ssn_rows(30, SSN_FORMAT)]))
    at = data.find(b"\x09\x08")  # the workbook stream's first BOF record
    data[at + 4 : at + 600] = b"\xff" * 596
    result, findings = scan(bytes(data), "hr/staff.xls")
    assert verdict(result.status, findings, POLICY) is not Verdict.clean  # type: ignore[attr-defined]


def test_a_workbook_saved_as_strict_open_xml_is_read_the_same() -> None:
    strict = "http://purl.oclc.org/ooxml/spreadsheetml/main"
    data = samples.xlsx([ssn_rows(30, SSN_FORMAT)], namespace=strict)
    _, findings = scan(data)
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]


def test_a_styles_part_in_no_spreadsheet_namespace_is_said_not_read() -> None:
    data = samples.xlsx([ssn_rows(30, SSN_FORMAT)], styles=b'<styleSheet xmlns="urn:not-excel"/>')
    result, findings = scan(data)
    assert verdict(result.status, findings, POLICY) is not Verdict.clean  # type: ignore[attr-defined]


# --- binary workbooks (.xlsb, BIFF12 records in a zip) -------------------------------------------------
# Found by probing: an .xlsb's strings are UTF-16LE records in binary parts no byte-level detector read,
# so a customer list of 40 card numbers saved as .xlsb was clean, and its scan complete.


def card_rows(n: int) -> list[list[samples.Cell]]:
    import random

    from tests.eval.files import card_numbers

    rng = random.Random(5)
    return [
        [(f"Customer {i}", None), (card, None), (12.5 * i, "0.00")]
        for i, card in enumerate(card_numbers(rng, n))
    ]


def test_a_binary_workbook_of_card_numbers_is_bulk_personal_data() -> None:
    result, findings = scan(samples.xlsb([card_rows(40)]), "sales/customers.xlsb")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
    texts = [r for r in result.reports if r.type.label == "xlsb-text"]  # type: ignore[attr-defined]
    assert max(r.text.cards for r in texts) == 40


def test_a_binary_workbook_is_read_at_either_byte_parity() -> None:
    # A record of odd length before them (an empty string's) moves every string to the other byte parity.
    seen = []
    for rows in (card_rows(40), [[("", None)], *card_rows(40)]):
        result, findings = scan(samples.xlsb([rows]), "sales/customers.xlsb")
        assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
        (view,) = [r for r in result.reports if r.type.label == "xlsb-text" and r.text.cards]  # type: ignore[attr-defined]
        seen.append(view.path[-1])
    assert sorted(seen) == ["0", "1"]


def test_a_binary_workbook_of_names_and_numbers_is_clean() -> None:
    rows = [[(f"Employee {i}", None), (2015550000 + i, "General"), (37.5, "0.0")] for i in range(40)]
    result, findings = scan(samples.xlsb([rows]), "shop/rota.xlsb")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean  # type: ignore[attr-defined]


class _Streamed(io.RawIOBase):
    """A seekable stream with no file behind it, as an object read from S3 by ranged GETs is."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._at = (
            offset
            if whence == io.SEEK_SET
            else (self._at + offset if whence == io.SEEK_CUR else len(self._data) + offset)
        )
        return self._at

    def tell(self) -> int:
        return self._at

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        piece = self._data[self._at : self._at + len(b)]
        b[: len(piece)] = piece
        self._at += len(piece)
        return len(piece)


def test_a_legacy_workbook_streamed_without_a_file_is_copied_and_read() -> None:
    data = samples.xls([ssn_rows(30, SSN_FORMAT)])
    engine = ScanEngine(POLICY.upload_scanning, compile_rules(), ())
    result = engine.scan(io.BufferedReader(_Streamed(data)), "hr/staff.xls")
    (member,) = [r for r in result.reports if r.path.endswith("!/formatted-numbers")]
    assert member.text is not None and member.text.ssns == 30


def test_an_ole_file_naming_no_workbook_stream_is_not_read_a_second_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import xlrd

    opened: list[int] = []
    real = xlrd.open_workbook
    monkeypatch.setattr(xlrd, "open_workbook", lambda *a, **k: opened.append(1) or real(*a, **k))
    document = samples.xls([ssn_rows(5, SSN_FORMAT)]).replace(
        "Workbook".encode("utf-16-le"), "WordDocs".encode("utf-16-le")
    )
    scan(document, "letters/letter.doc")
    assert opened == []
    scan(samples.xls([ssn_rows(5, SSN_FORMAT)]), "letters/letter.doc")  # a workbook, whatever its name
    assert opened == [1]


def test_an_open_document_sheet_is_read_as_its_cells_show_them() -> None:
    """OpenDocument keeps each number cell's shown text (``text:p``) beside its value, so an ODS of SSNs
    typed as numbers needs no rendering: its content part is read as it stands."""
    shown = samples.valid_ssns(60)
    rows = "".join(
        "<table:table-row>"
        f'<table:table-cell office:value-type="string"><text:p>Employee {i}</text:p></table:table-cell>'
        f'<table:table-cell office:value-type="float" office:value="{s.replace("-", "")}"'
        f' table:style-name="ce1"><text:p>{s}</text:p></table:table-cell></table:table-row>'
        for i, s in enumerate(shown)
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content'
        ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
        f'<table:table table:name="Staff">{rows}</table:table></office:spreadsheet></office:body>'
        "</office:document-content>"
    )
    ods = samples.zip_bytes(
        {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": content.encode()}
    )
    result, findings = scan(ods, "hr/staff.ods")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
    assert not any(r.path.endswith("!/formatted-numbers") for r in result.reports)  # type: ignore[attr-defined]
