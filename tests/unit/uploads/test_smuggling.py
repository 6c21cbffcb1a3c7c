"""Files a web page carries in base64 (``detectors/uploads/smuggling.py``): HTML smuggling.

Found by probing: a page that decodes an executable from a base64 string and has the browser save it
(``Blob``, ``a.download``, ``a.click()``) was a review at 0.6, for its bare script tag: the executable
it carries was never read."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads import smuggling
from aup.detectors.uploads.scanner import SMUGGLED_EXECUTABLE, ScanStatus
from aup.detectors.uploads.verdict import Verdict
from tests.eval import files as F
from tests.unit.uploads.test_containers_and_content import judge, rules_of

PE = F.pe(random.Random(5), 6000)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def page(script: str) -> bytes:
    return (
        f"<html><body><h1>Your document is downloading</h1><script>{script}</script></body></html>".encode()
    )


def saving(digits: str, name: str = "Invoice_2291.exe") -> str:
    return (
        f'var d = atob("{digits}"); var a = new Uint8Array(d.length);'
        "for (var i = 0; i < d.length; i++) a[i] = d.charCodeAt(i);"
        "var l = document.createElement('a'); l.href = URL.createObjectURL(new Blob([a]));"
        f"l.download = '{name}'; document.body.appendChild(l); l.click();"
    )


def test_a_run_is_found_whole_and_decoded() -> None:
    found, complete = smuggling.payloads(page(saving(b64(PE))), limit=1 << 20)
    assert complete and found == [("base64-0", PE)]


def test_a_run_cut_into_joined_strings_and_lines_is_one_file() -> None:
    digits = b64(PE)
    pieces = [digits[i : i + 76] for i in range(0, len(digits), 76)]
    joined = '" +\n  "'.join(pieces)
    found, _ = smuggling.payloads(page(f'var d = "{joined}";'), limit=1 << 20)
    assert found == [("base64-0", PE)]
    escaped = "\\n".join(pieces)  # line breaks written as escapes inside one string
    found, _ = smuggling.payloads(page(f'var d = "{escaped}";'), limit=1 << 20)
    assert found == [("base64-0", PE)]


def test_a_data_url_is_read() -> None:
    doc = f'<a href="data:application/octet-stream;base64,{b64(PE)}" download="scan.exe">Open</a>'.encode()
    found, _ = smuggling.payloads(doc, limit=1 << 20)
    assert found == [("base64-0", PE)]


def test_what_a_page_shows_is_not_decoded() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(300)
    font = b"wOF2" + bytes(300)
    pdf = b"%PDF-1.7\n" + bytes(300)
    text = b"MZ-2291 Mozambique office, reference list " * 10  # base64 "TVot..." that is no executable
    doc = "".join(f'<img src="data:image/png;base64,{b64(x)}">' for x in (png, font, pdf, text)).encode()
    assert smuggling.payloads(doc, limit=1 << 20) == ([], True)


def test_past_the_limits_the_page_is_not_all_read() -> None:
    zipped = F.zip_of([("a.txt", b"x" * 100)])
    doc = page(";".join(f'var f{i} = "{b64(zipped)}"' for i in range(smuggling.MAX_PAYLOADS + 1)))
    found, complete = smuggling.payloads(doc, limit=1 << 20)
    assert len(found) == smuggling.MAX_PAYLOADS and not complete
    found, complete = smuggling.payloads(page(saving(b64(PE))), limit=1000)
    assert found == [] and not complete


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"TVqQ", b"UEsDB", b"f0VMR", b"H4sI"]))
def test_any_bytes_after_a_magic_never_raise(data: bytes, magic: bytes) -> None:
    doc = b'"' + magic + base64.b64encode(data) + data + b'"'
    found, _ = smuggling.payloads(doc, limit=1 << 20)
    assert all(name.startswith("base64-") for name, _ in found)


@pytest.mark.parametrize(
    ("carried", "served_as"),
    [
        (PE, "text/html"),
        (F.zip_of([("Invoice_2291.pdf.exe", PE)]), "text/html"),  # an archive holding one
        (PE, None),  # no stored type: a browser may render it
    ],
)
def test_a_page_carrying_an_executable_is_a_launch(carried: bytes, served_as: str | None) -> None:
    v, result, findings = judge(page(saving(b64(carried))), "invoice.html", served_as=served_as)
    assert v is Verdict.threat and rules_of(findings) == {"I3-script-in-document"}
    assert findings[0].confidence == 0.9
    assert result.reports[0].active[SMUGGLED_EXECUTABLE] == 1
    assert result.status is ScanStatus.complete


def test_an_svg_carrying_an_executable_is_a_launch() -> None:
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><script>{saving(b64(PE))}</script></svg>'.encode()
    v, _, findings = judge(svg, "logo.svg", served_as="image/svg+xml")
    assert v is Verdict.threat and findings[0].confidence == 0.9


def test_a_page_carrying_eicar_in_a_zip_is_malware() -> None:
    v, _, findings = judge(page(saving(b64(F.zip_of([("eicar.com", F.EICAR)])), "tools.zip")), "t.html")
    assert v is Verdict.threat and "I3-malware-signature" in rules_of(findings)


def test_a_page_handing_out_its_data_as_a_zip_is_no_launch() -> None:
    export = F.zip_of([("orders.csv", b"id,total\n1,9.50\n2,12.00\n")])
    v, result, findings = judge(page(saving(b64(export), "orders.zip")), "export.html")
    assert not result.reports[0].active[SMUGGLED_EXECUTABLE]
    assert v is not Verdict.threat and all(f.confidence < 0.9 for f in findings)


def test_a_page_stored_as_text_is_not_rendered_so_not_decoded() -> None:
    _, result, _ = judge(page(saving(b64(PE))), "notes.txt", served_as="text/plain")
    assert not result.reports[0].active[SMUGGLED_EXECUTABLE]
    assert all(r.type.kind != "executable" for r in result.reports)


def test_a_page_beyond_the_spool_limit_is_never_clean() -> None:
    from aup.policy import load_default_policy

    scanning = load_default_policy().upload_scanning
    small = scanning.model_copy(
        update={"archives": scanning.archives.model_copy(update={"spool_bytes": 2_000})}
    )
    v, result, _ = judge(page(saving(b64(PE))), "invoice.html", settings=small, served_as="text/html")
    assert v is not Verdict.clean
    assert any("base64 files not read" in n for n in result.notes)
