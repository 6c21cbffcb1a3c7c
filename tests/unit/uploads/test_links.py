"""Links an Office document follows by itself (``detectors/uploads/links.py``).

Found by probing: a Follina .docx (a linked OLE object on an external page ending ``!``), a
remote-template .docx and CVE-2017-0199's RTF (an OLE2Link object with a URL moniker to an HTA page)
were each clean, and the scan complete."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads import links, scanner
from aup.detectors.uploads.scanner import ScanStatus
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

DOC = "word/_rels/document.xml.rels"
SETTINGS = "word/_rels/settings.xml.rels"
EXPLOIT, REMOTE = links.EXPLOIT_LINK, links.REMOTE_LINK


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://files.example.net/sr/index.html!", EXPLOIT),  # Follina: handed to MSHTML
        ("mhtml:http://x.example/b.html!x-usc:http://x.example/b.html", EXPLOIT),
        ("ms-msdt:/id PCWDiagnostic /skip force", EXPLOIT),
        ("search-ms:query=invoice&crumb=location:\\\\host\\share", EXPLOIT),
        ("MS-OfficeCmd:launch", EXPLOIT),  # schemes are read case-blind
        ("&#x6d;html:http://x.example/a.html", EXPLOIT),  # Word unescapes the XML before it reads it
        ("http://91.214.124.11/office/invoice.dotm", EXPLOIT),  # a public address
        ("http://[2a00:1450:4001:82b::200e]/t.dotm", EXPLOIT),
        ("https://cdn.example.net/plugin/update.HTA", EXPLOIT),  # a page or script, by its name
        ("https://cdn.example.net/x/doc.rtf?v=1", EXPLOIT),
        ("http://[2a00:1450::1/t.dotm", REMOTE),  # malformed: an operator looks
        ("https://example.sharepoint.com/sites/legal/Templates/MSA.dotx", REMOTE),
        ("http://10.20.0.15/templates/letter.dotx", REMOTE),  # a private network's intranet
        ("https://docs.example.net/budget.xlsx", REMOTE),
        ("file:///C:\\Users\\ana\\Documents\\Budget.xlsx", None),
        ("file:///C:\\Users\\ana\\Documents\\Budget.xlsx!", None),  # a linked workbook, its item empty
        ("Budget.xlsx!Sheet1!", None),
        ("file://fileserver/finance/Forecast.xlsx", None),
        ("\\\\fileserver\\templates\\Normal.dotm", None),
        ("Normal.dotm", None),
        ("", None),
        ("   ", None),
    ],
)
def test_targets_are_judged_by_what_they_are(target: str, expected: str | None) -> None:
    assert links.judge_target(target) == expected


def _rels(*rows: str) -> bytes:
    return ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(rows) + "</Relationships>").encode()  # fmt: skip


def test_only_the_external_links_word_fetches_count() -> None:
    found: Counter[str] = Counter()
    links.relationships(
        _rels(
            '<Relationship Id="r1" Type="http://x/relationships/hyperlink" Target="mhtml:a!" '
            'TargetMode="External"/>',  # a hyperlink is not followed by opening
            '<Relationship Id="r2" Type="http://x/relationships/oleObject" Target="embeddings/a.bin"/>',
            '<Relationship Id="r3" Type="http://x/relationships/oleObject" Target="http://a.example/x!"/>',
            "<pr:Relationship Id='r4' Type='http://purl.oclc.org/ooxml/officeDocument/relationships/frame' "
            "TargetMode='external' Target='http://a.example/page.html'/>",  # strict namespace, quotes
            '<Relationship TargetMode="External" Target="https://a.example/t.dotx" Id="r5" '
            'Type="http://x/relationships/attachedTemplate"/>',
        ),
        found,
    )
    assert found == Counter({EXPLOIT: 1, REMOTE: 1})  # r4 and r5; r3 is inside the package


def test_a_raw_angle_bracket_in_a_value_hides_nothing() -> None:
    found: Counter[str] = Counter()
    row = ('<Relationship Id="r1" Type="http://x/relationships/oleObject" Target="http://a.example/x>y!" '
           'TargetMode="External"/>')  # fmt: skip
    links.relationships(_rels(row), found)
    assert found == Counter({EXPLOIT: 1})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_relationship_parts_of_any_bytes_never_raise(data: bytes) -> None:
    found: Counter[str] = Counter()
    links.relationships(b"<Relationship " + data + b"/>" + data, found)
    assert set(found) <= {EXPLOIT, REMOTE}


@pytest.mark.parametrize(
    ("name", "kind", "part", "link_kind", "target", "expected", "confidence"),
    [
        ("salary.docx", "docx", DOC, "oleObject", "http://cdn.example.net/index.html!", Verdict.threat, 0.9),
        ("inv.docx", "docx", SETTINGS, "attachedTemplate", "http://91.214.124.11/t.dotm", Verdict.threat, 0.9),
        ("deck.pptx", "pptx", "ppt/slides/_rels/slide1.xml.rels", "oleObject", "ms-msdt:/id x", Verdict.threat, 0.9),
        ("msa.docx", "docx", SETTINGS, "attachedTemplate", "https://example.sharepoint.com/t.dotx", Verdict.review, 0.7),
    ],
)  # fmt: skip
def test_office_documents_that_fetch_a_remote_target(
    name: str, kind: str, part: str, link_kind: str, target: str, expected: Verdict, confidence: float
) -> None:
    v, result, findings = judge(F.office(kind, "Hello", links=[(part, link_kind, target, True)]), name)
    assert v is expected and result.status is ScanStatus.complete
    assert rules_of(findings) == {"I3-script-in-document"}
    assert findings[0].confidence == confidence
    assert target not in str(findings[0].evidence)  # counts, never the address


def test_an_offices_own_links_are_clean() -> None:
    document = F.office(
        "docx",
        "Board report",
        links=[
            (DOC, "hyperlink", "https://www.example.com/terms", True),
            (DOC, "oleObject", "file:///C:\\Users\\ana\\Documents\\Budget.xlsx!Sheet1!R1C1:R9C4", True),
            (DOC, "image", "media/image1.png", False),
            (SETTINGS, "attachedTemplate", "file:///C:\\Users\\ana\\Templates\\Normal.dotm", True),
        ],
    )
    v, result, findings = judge(document, "report.docx")
    assert v is Verdict.clean and not findings and result.status is ScanStatus.complete


def test_a_relationship_part_too_large_to_read_is_no_clean_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    document = F.office("docx", "Hello", links=[(DOC, "hyperlink", "https://example.com/" + "a" * 300, True)])
    monkeypatch.setattr(scanner, "RELS_LIMIT", 200)
    v, result, _ = judge(document, "big.docx")
    assert v is not Verdict.clean
    assert result.status is ScanStatus.too_large


@pytest.mark.parametrize(
    ("url", "update", "expected", "marker"),
    [
        ("http://cdn.example.net/plugin/update.hta", True, Verdict.threat, EXPLOIT),  # CVE-2017-0199
        ("http://cdn.example.net/plugin/update.hta", False, Verdict.review, REMOTE),  # runs on a click
        ("https://example.sharepoint.com/finance/Figures.xlsx", True, Verdict.review, REMOTE),
    ],
)
def test_an_rtf_linked_object_is_judged_by_its_url_moniker(
    url: str, update: bool, expected: Verdict, marker: str
) -> None:
    document = F.rtf("Order 77120", [("OLE2Link", F.ole2link(url))], linked=True, update=update)
    v, result, findings = judge(document, "po.rtf")
    assert v is expected and rules_of(findings) == {"I3-script-in-document"}
    assert result.reports[0].active == Counter({marker: 1})


def test_an_rtf_linked_object_without_a_web_address_is_no_link() -> None:
    document = F.rtf("Figures", [("OLE2Link", bytes(600))], linked=True, update=True)
    v, _, findings = judge(document, "memo.rtf")
    assert v is Verdict.clean and not findings
