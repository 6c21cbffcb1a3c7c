"""HTML/SVG read incrementally: scripts and handlers (I3), hidden trademarks (W6), login forms (W1).

``MarkupScanner.feed`` takes decoded text in pieces (``html.parser`` is incremental), so a page is never
held whole. It records counts and names, never the page's text.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "path", "circle", "rect", "line", "polygon", "polyline", "ellipse", "use", "stop",
})  # fmt: skip
_URL_ATTRS = frozenset({
    "href", "src", "action", "formaction", "data", "background", "poster", "codebase", "dynsrc", "lowsrc",
    "values", "to", "from", "by",  # SVG <animate>/<set> rewriting an href
})  # fmt: skip
_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:", "data:text/html", "data:image/svg+xml")
# ``href="javascript:void(0)"``: the idiom of a link a page's own script handles; it runs nothing.
_NOOP_SCRIPT_URLS = frozenset({"javascript:", "javascript:;", "javascript:void(0)", "javascript:void(0);",
                               "javascript:void0", "javascript:void0;"})  # fmt: skip
# Handlers a person's action fires (a click, a key, a form): a page's own controls, as ordinary in a
# whole document as a <script>. Every other handler (onload, onerror, onfocus with autofocus, onbegin,
# onanimationstart, ...) runs by itself, which is how injected markup executes.
_INTERACTION_HANDLERS = frozenset({
    "onclick", "ondblclick", "onsubmit", "onreset", "onchange", "oninput", "onselect", "oncontextmenu",
    "onkeydown", "onkeyup", "onkeypress", "onmousedown", "onmouseup", "onmouseover", "onmouseout",
    "onmouseenter", "onmouseleave", "onmousemove", "onwheel", "ontouchstart", "ontouchend", "ontouchmove",
    "onpointerdown", "onpointerup", "onpointerover", "onpointerout", "onpointermove", "ondrag",
    "ondragstart", "ondragend", "ondragover", "ondragenter", "ondragleave", "ondrop", "oncopy", "oncut",
    "onpaste",
})  # fmt: skip
# A handler that runs by itself but only does what a page does with its own elements: calls a function
# by name with plain arguments (``init()``, ``resize(this)``, ``init(evt)``), or sets a property of the
# element to a plain value (``this.onerror=null;this.src='fallback.png'``, the ``rel=preload`` idiom
# ``this.rel='stylesheet'``). Statements of no other shape, or naming any of ``_RISKY_CODE`` (what an
# injected payload does: dialogs as XSS probes, code from strings, the document's cookie or location,
# markup written in, requests sent), keep the handler self-running.
PAGE_HANDLER_MAX_CHARS = 500  # longer handler code is not a page's one-liner: judged as self-running
_JS_NAME = r"[A-Za-z_$][\w$]*"
_JS_VALUE = (
    rf"""(?:'[^'\\]*'|"[^"\\]*"|-?\d+(?:\.\d+)?|true|false|null|this|event|evt|{_JS_NAME}(?:\.{_JS_NAME})*)"""
)
# A member by name or by a plain index: ``document.forms[0].submit()``, ``document.forms['sso']``.
_JS_MEMBER = rf"""(?:\.{_JS_NAME}|\[\s*(?:\d+|'[^'\\]*'|"[^"\\]*")\s*\])"""
_JS_CALL = rf"{_JS_NAME}{_JS_MEMBER}*\s*\(\s*(?:{_JS_VALUE}(?:\s*,\s*{_JS_VALUE})*)?\s*\)"
_PAGE_STATEMENT = re.compile(
    rf"(?:{_JS_CALL}(?:\s*\.\s*{_JS_CALL})*|this(?:\.{_JS_NAME})+\s*=\s*{_JS_VALUE}(?:\s*\+\s*{_JS_VALUE})*|"
    r"return\s+(?:true|false)|)",
)
_RISKY_CODE = re.compile(
    r"\b(?:alert|prompt|confirm|print|eval|Function|constructor|setTimeout|setInterval|atob|btoa|"
    r"fromCharCode|unescape|escape|decodeURI|decodeURIComponent|import|require|open|write|writeln|"
    r"postMessage|fetch|XMLHttpRequest|sendBeacon|WebSocket|EventSource|location|cookie|domain|"
    r"localStorage|sessionStorage|indexedDB|innerHTML|outerHTML|insertAdjacentHTML|srcdoc|"
    r"createElement|appendChild|append|prepend|replaceWith|insertBefore|top|parent|opener|frames|"
    r"globalThis|self|window|navigator|history|javascript|vbscript)\b",
    re.I,
)
_JS_STRING = re.compile(r"'([^']*)'|\"([^\"]*)\"")
# Two more things a page's own handlers do. A page hands one of its functions by name to a timer
# (``<body onload="setInterval(refresh, 30000)">``): read as the call ``refresh()``; a timer handed a
# string runs code from it and stays self-running. A printable view opens the print dialog and closes
# itself from ``<body onload="window.print();window.close()">``: on the body element only, as the page's
# own calls (an ``<img onerror=print()>`` is the XSS probe that replaced ``alert``).
_TIMER_CALLBACK = re.compile(
    rf"(?<![\w$.])(?:window\.)?set(?:Timeout|Interval)\s*\(\s*({_JS_NAME})\s*(?:,\s*\d+\s*)?\)"
)
# Templates still open handlers with the ``javascript:`` label (``onload="javascript:init();"``), and
# call the page's functions through ``window`` (``window.scrollTo(0, 0)``): both are read without it.
# ``window`` before anything but a call (``window.location``, ``window['al'+'ert']``) stays risky.
_LABEL = re.compile(r"^\s*javascript\s*:", re.I)
_WINDOW_CALL = re.compile(rf"(?<![\w$.])window\s*\.\s*(?={_JS_NAME}\s*\()")
_PRINT_VIEW = re.compile(r"(?<![\w$.])(?:window\.)?(?:print|close)\s*\(\s*\)")
# Pages guard a call on the function being there (``if(typeof init==='function')init()``,
# ``if (window.init) { init(); }``, ``window.init && init()``): the guard only tests a name, so the
# handler is judged by what it guards. A guard naming anything of ``_RISKY_CODE`` is kept, and judged.
_NAME_PATH = rf"{_JS_NAME}(?:\.{_JS_NAME})*"
_GUARD_TEST = rf"""(?:typeof\s+{_NAME_PATH}\s*[!=]==?\s*(?:'\w+'|"\w+")|!?\s*{_NAME_PATH})"""
_GUARD = re.compile(
    rf"(?:(?<![\w$.])if\s*\(\s*{_GUARD_TEST}\s*\)\s*(?:\{{(?P<block>[^{{}}]*)\}})?|"
    rf"(?:^|(?<=[;}}]))\s*{_GUARD_TEST}\s*&&\s*)"
)


def _unguarded(m: re.Match[str]) -> str:
    test = m.group(0)[: m.start("block") - m.start()] if m.group("block") is not None else m.group(0)
    names = re.sub(r"(?<![\w$.])window\s*\.\s*|'\w+'|\"\w+\"", "", test)  # ('function': a type's name)
    if _RISKY_CODE.search(names):
        return m.group(0)
    return " " + (m.group("block") or "") + ";"


def page_handler(code: str, tag: str = "") -> bool:
    """Whether a self-running handler's ``code`` (on a ``tag`` element) only calls the page's functions
    or sets its element's own properties to plain values (see ``_PAGE_STATEMENT``)."""
    code = _TIMER_CALLBACK.sub(lambda m: f"{m.group(1)}()", _LABEL.sub("", code, count=1))
    if tag == "body":
        code = _PRINT_VIEW.sub("printView()", code)
    code = _WINDOW_CALL.sub("", _GUARD.sub(_unguarded, code))
    if not code.strip() or len(code) > PAGE_HANDLER_MAX_CHARS or _RISKY_CODE.search(code):
        return False
    for part in code.split(";"):
        statement = part.strip()
        if not _PAGE_STATEMENT.fullmatch(statement):
            return False
        strings = [a or b for a, b in _JS_STRING.findall(statement)]
        # An element may point at another address (an image's fallback); a call is not handed one (a
        # loader of remote code: ``$.getScript('//host/x.js')``), and nothing is handed a data: URL.
        if any("data:" in s.lower() for s in strings) or (
            not statement.startswith("this") and any(":" in s or "//" in s for s in strings)
        ):
            return False
    return True


_CONTROL_AND_SPACE = {i: None for i in range(0x21)}  # browsers drop tabs and newlines inside URLs
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?(.*)", re.I | re.S)
_MAX_SRCDOC_DEPTH = 3
_EXFIL = re.compile(
    r"localstorage|sessionstorage|\bfetch\s*\(|xmlhttprequest|sendbeacon|new\s+image\b|"
    r"\.src\s*=|window\.location|document\.location|location\.href\s*=|(?<![\w$.])location\s*=(?!=)|"
    r"\batob\s*\(|\beval\s*\(|websocket",
    re.I,
)
# What a script does with the page's cookies. Theft hands the value on to another host: joins it into a
# string (``'//host/?'+document.cookie``, ``${document.cookie}``), passes it to a call
# (``btoa(document.cookie)``) or puts it in an object (``{c: document.cookie}``), directly or through a
# variable it was read into, with an address of another host written near it. A consent banner or a
# cookie library only parses it (``document.cookie.split('; ')``) and writes it (``COOKIE_KEPT``); a page
# sending its CSRF token from the cookie to its own relative path hands it to itself (``COOKIE_OWN``).
# Neither is a theft, and a sink beside them is the page's own request.
COOKIE_KEPT = "document.cookie:kept"
COOKIE_OWN = "document.cookie:to-own-paths"
_COOKIE = re.compile(r"document\s*\.\s*cookie\b", re.I)
_HANDED_ON_BEFORE = re.compile(r"(?:\+|\$\{|,|:(?!:)|(?<![\w$.])([A-Za-z_$][\w$.]*)\s*\()\s*$")
_HANDED_ON_AFTER = re.compile(r"^\s*\+")
_PARSING_CALLS = frozenset({
    "if", "while", "switch", "for", "return", "typeof", "decodeuricomponent", "decodeuri", "unescape",
    "json.parse", "string",
})  # fmt: skip
_READ_INTO = re.compile(r"(?<![\w$.])([A-Za-z_$][\w$]*)\s*=\s*$")
_READ_ENDS = re.compile(r"^\s*(?:[;,)\n]|$)")
# a string literal naming a host (not a namespace: ``createElementNS('http://www.w3.org/2000/svg', ...)``)
_OTHER_HOST = re.compile(r"""['"`](?:https?:|wss?:)?//(?!www\.w3\.org/)""", re.I)
_LOOKBACK = 80
_DESTINATION_REACH = 160  # how far from a handed-on cookie the address it goes to is looked for


def _handed_on(before: str, after: str) -> bool:
    m = _HANDED_ON_BEFORE.search(before)
    if m and (m.group(1) is None or m.group(1).lower() not in _PARSING_CALLS):
        return True
    return bool(_HANDED_ON_AFTER.match(after))


def cookie_uses(code: str) -> Counter[str]:
    """The uses of the page's cookies in ``code``: ``document.cookie`` where the value is handed on with
    another host's address near it, ``COOKIE_OWN`` where it is handed on with none, ``COOKIE_KEPT``
    where it is only parsed or written."""
    uses: Counter[str] = Counter()
    aliases: set[str] = set()

    def hand_on(start: int, end: int) -> None:
        near = code[max(0, start - _DESTINATION_REACH) : end + _DESTINATION_REACH]
        uses["document.cookie" if _OTHER_HOST.search(near) else COOKIE_OWN] += 1

    for m in _COOKIE.finditer(code):
        before, after = code[max(0, m.start() - _LOOKBACK) : m.start()], code[m.end() : m.end() + _LOOKBACK]
        if _handed_on(before, after):
            hand_on(m.start(), m.end())
            continue
        uses[COOKIE_KEPT] += 1
        alias = _READ_INTO.search(before)
        if alias and _READ_ENDS.match(after):
            aliases.add(alias.group(1))
    for name in aliases:
        for m in re.finditer(rf"(?<![\w$.]){re.escape(name)}(?![\w$])", code):
            before, after = (
                code[max(0, m.start() - _LOOKBACK) : m.start()],
                code[m.end() : m.end() + _LOOKBACK],
            )
            if not _READ_INTO.search(before) and _handed_on(before, after):
                hand_on(m.start(), m.end())
    return uses


# A hidden payload runs what it decodes: ``eval(atob('...'))``, or through the variable the decoded
# text was put in. A page that decodes a token's payload with ``atob`` and, elsewhere, still parses old
# JSON with ``eval`` shows both names and runs nothing hidden.
HIDDEN_RUN = "eval(atob)"
_RUNS = r"(?<![\w$.])(?:eval|Function|setTimeout|setInterval)\s*\(\s*"
_RUN_DECODED = re.compile(_RUNS + r"(?:(?:window|self|globalThis)\s*\.\s*)?atob\s*\(")
_DECODED_INTO = re.compile(
    r"(?<![\w$.])([A-Za-z_$][\w$]*)\s*=\s*(?:(?:window|self|globalThis)\s*\.\s*)?atob\s*\("
)


def hidden_runs(code: str) -> int:
    """How often ``code`` runs text it decoded from base64."""
    n = len(_RUN_DECODED.findall(code))
    for name in {m.group(1) for m in _DECODED_INTO.finditer(code)}:
        n += len(re.findall(_RUNS + re.escape(name) + r"(?![\w$])", code))
    return n


def exfiltration_markers(code: str, into: Counter[str]) -> None:
    """Count the markers of ``_EXFIL`` in a script's ``code``, and its cookie uses (``cookie_uses``)."""
    for m in _EXFIL.finditer(code):
        into[m.group(0).lower().split("(")[0].strip()] += 1
    if "cookie" in code.lower():
        into.update(cookie_uses(code))
    if "atob" in code and (runs := hidden_runs(code)):
        into[HIDDEN_RUN] += runs


_HIDDEN_DECL = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0+)?(?:px|em|rem|pt|%)?\s*(?:;|$|!)|"
    r"opacity\s*:\s*0(?:\.0+)?\s*(?:;|$|!)|text-indent\s*:\s*-\d{3,}|"
    r"(?:left|top|right)\s*:\s*-\d{3,}(?:px|em)|(?:width|height)\s*:\s*0(?:px)?\s*;.*overflow\s*:\s*hidden",
    re.I | re.S,
)
# A declaration that displays what a rule selects (``.open .answer{display:block}``); the classes and id
# of the selector's last compound are the ones it shows.
_REVEAL_DECL = re.compile(r"display\s*:\s*(?!none)[a-z-]+|visibility\s*:\s*visible", re.I)
_SELECTOR_CLASS = re.compile(r"\.([\w-]+)")
_SELECTOR_ID = re.compile(r"#([\w-]+)")
_COMBINATORS = re.compile(r"\s*[\s>+~]\s*")  # ``.open > .answer``: the compound after the last one
_MAX_TEXTS_KEPT = 50_000  # script literals and visible texts kept per page (a bound for huge pages)
_COLOR = re.compile(r"(?<![-\w])color\s*:\s*([#\w(),. ]+?)\s*(?:;|$|!)", re.I)
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*([#\w(),. ]+?)\s*(?:;|$|!)", re.I)
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SIMPLE_SELECTOR = re.compile(r"^\s*([.#])([\w-]+)\s*$")
# A masked field for a key, a token or a service's secret, by its name, id, placeholder or autocomplete
# (``name="client_secret"``, ``id="api-key"``, ``name="smtp_password"``): what a settings page asks for to
# connect another service (its h2 "Amazon S3 export", its label "PayPal client secret"), not a sign-in's
# password (``pw``, ``pass``, ``passwd``, ``password``, ``autocomplete="current-password"``).
_SECRET_FIELD = re.compile(
    r"secret|token|api[\s_-]?key|access[\s_-]?key|private[\s_-]?key|signing|webhook|smtp|imap|license|"
    r"(?:^|[\s_-])key$",  # not "client": a client portal's sign-in (name="client_password") is a sign-in
    re.I,
)


def secret_field(attrs: Mapping[str, str]) -> bool:
    """Whether a password input (its ``attrs``) asks for a key, a token or a service's secret."""
    if attrs.get("autocomplete", "").lower() == "current-password":
        return False
    return any(_SECRET_FIELD.search(attrs.get(a, "")) for a in ("name", "id", "placeholder", "autocomplete"))


_IDENTITY_TAGS = frozenset({"title", "h1", "h2", "h3", "label", "legend"})  # where a page names itself
_WHITE = {"#fff", "#ffffff", "white", "rgb(255,255,255)", "#fefefe", "rgba(255,255,255,1)"}


def _norm_color(value: str) -> str:
    return value.strip().lower().replace(" ", "")


@dataclass
class MarkupReport:
    script_tags: int = 0
    event_handlers: Counter[str] = field(default_factory=Counter)  # attribute names (onerror, onload)
    interaction_handlers: Counter[str] = field(default_factory=Counter)  # onclick, onsubmit, ...
    page_handlers: Counter[str] = field(default_factory=Counter)  # self-running, of a page's own shape
    javascript_urls: int = 0
    exfiltration_markers: Counter[str] = field(default_factory=Counter)
    marks_in_meta: Counter[str] = field(default_factory=Counter)
    marks_hidden: Counter[str] = field(default_factory=Counter)
    hiding_methods: Counter[str] = field(default_factory=Counter)
    # marks in hidden text the page itself shows: a class its stylesheet reveals (an FAQ's answer under
    # ``.open .answer{display:block}``, a menu under a media query), an element its scripts name by id or
    # class (``getElementById('mobile-menu')``), or the same text shown elsewhere (a responsive duplicate)
    marks_revealable: Counter[str] = field(default_factory=Counter)
    marks_visible: Counter[str] = field(default_factory=Counter)
    password_forms: int = 0  # forms asking for a sign-in's password
    secret_forms: int = 0  # forms whose only masked fields are keys, tokens or a service's secret
    brands_seen: Counter[str] = field(default_factory=Counter)
    # brands named where a page says whose it is (its title, headings, form labels and legends), not
    # in passing ("Continue with Google", "We accept PayPal")
    brands_claimed: Counter[str] = field(default_factory=Counter)
    truncated: bool = False


@dataclass
class _Element:
    tag: str
    hidden: str | None  # how it is hidden, None when visible
    background: str | None
    id: str = ""
    classes: tuple[str, ...] = ()


@dataclass
class _HiddenText:
    """Protected marks counted in text hidden by ``element`` (the nearest hidden element over it)."""

    element: _Element
    text: str
    marks: Counter[str]


# A link whose javascript: URL does what a page's own button does when clicked: goes back, prints,
# closes, reloads, or calls the page's own functions (``page_handler``'s shapes). It runs on a click, as
# an onclick handler does; in an iframe's src, a form's action or a refresh it would run by itself.
JAVASCRIPT_LINK = "javascript-link"
_LINK_TAGS = frozenset({"a", "area"})
_LINK_IDIOM = re.compile(
    r"(?:(?:window|self)\.)?(?:history\.(?:back|forward)\(\)|history\.go\(-?\d+\)|print\(\)|close\(\)|"
    r"location\.reload\(\)|void\(?0\)?|return(?:false|true))"
)


def link_action(url: str) -> bool:
    """Whether a link's ``javascript:`` ``url`` only does what a page's own button does (see above)."""
    scheme, _, code = url.translate(_CONTROL_AND_SPACE).partition(":")
    if scheme.lower() != "javascript":
        return False
    statements = [part for part in code.split(";") if part]
    return bool(statements) and all(_LINK_IDIOM.fullmatch(st) or page_handler(st) for st in statements)


def script_url(value: str) -> bool:
    """A URL that runs script once a browser has normalised it (entities are already decoded by the
    parser; tabs, newlines and other controls inside the scheme are dropped as browsers do), other than
    the no-op ``javascript:void(0)``."""
    url = value.translate(_CONTROL_AND_SPACE).lower()
    return url.startswith(_SCRIPT_SCHEMES) and url not in _NOOP_SCRIPT_URLS


# Markdown: its code is shown, never run. A renderer prints a fenced block and a code span as text (the
# payloads a security guide teaches to escape), while raw HTML elsewhere in the file reaches the page.
MARKDOWN_EXTENSIONS = frozenset({"md", "markdown", "mdown", "mkd", "mkdn"})
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")  # CommonMark: at most 3 spaces in, 4 is an indented line
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_HTML_LINE = re.compile(r" {0,3}<")  # a line that opens an HTML block: raw up to its end
_RAW_TEXT_BLOCK = re.compile(r" {0,3}<(script|pre|style|textarea)\b", re.I)  # ends at its closing tag
MARKDOWN_LINE_MAX_CHARS = 64 * 1024  # a longer line is passed on in pieces, its code spans unmasked


_NOT_LINE_END = re.compile(r"[^\r\n]")


def _blank(text: str) -> str:
    """``text`` as spaces, its line ends kept (the parser's line numbers and the byte counts stay)."""
    return _NOT_LINE_END.sub(" ", text)


def _lines(text: str) -> list[str]:
    """``text`` cut after each ``\n``, the only line end that matters here (``str.splitlines`` also cuts
    at form feeds and Unicode separators, which Markdown reads as text: a fence after one is no fence)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


class MarkdownCode:
    """A Markdown text with its fenced code blocks and one-line code spans blanked, fed in pieces.

    Only the unambiguous cases are blanked: a fence indented at most 3 spaces (deeper, or inside a block
    quote, it may be an indented line of text that a renderer shows as HTML), a code span opened and
    closed on one line outside an HTML block. Any other case is left as it is and read as markup, so a
    misreading can only keep a finding, never lose one. HTML blocks follow CommonMark: from a line that
    opens with a tag to the next blank line (``<script>``, ``<pre>``, ``<style>``, ``<textarea>``: to the
    line that closes it), whatever backticks they hold."""

    def __init__(self) -> None:
        self._partial = ""
        self._fence: str | None = None  # the open fence's backticks or tildes
        self._html: str | None = None  # the open HTML block: "" to a blank line, or its closing tag
        self._mid_line = False  # a line too long to hold was passed on: what comes next is its rest

    def feed(self, text: str) -> str:
        out = ""
        if self._mid_line:  # the rest of a long line holds no line start: code in a fence, else as it is
            end = text.find("\n") + 1 or len(text)
            rest, text = text[:end], text[end:]
            out = _blank(rest) if self._fence is not None else rest
            self._mid_line = rest[-1:] != "\n"
            if self._mid_line:
                return out
        text = self._partial + text
        cut = text.rfind("\n") + 1
        if len(text) - cut > MARKDOWN_LINE_MAX_CHARS:
            cut, self._mid_line = len(text), True
        self._partial = text[cut:]
        return out + "".join(map(self._line, _lines(text[:cut])))

    def flush(self) -> str:
        rest, self._partial = self._partial, ""
        return self._line(rest) if rest else ""

    def _line(self, line: str) -> str:
        body = line.rstrip("\r\n")
        if self._html is not None:
            ends = f"</{self._html}" in body.lower() if self._html else not body.strip()
            if ends:  # a raw-text block at its closing tag, any other at a blank line
                self._html = None
            return line
        fence = _FENCE.match(body)
        if self._fence is not None:
            # closed by a fence of its mark, at least as long, with nothing after it
            if (
                fence
                and fence[1][0] == self._fence[0]
                and len(fence[1]) >= len(self._fence)
                and not fence[2].strip()
            ):
                self._fence = None
            return _blank(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            self._fence = fence.group(1)
            return _blank(line)
        if _HTML_LINE.match(body):
            raw = _RAW_TEXT_BLOCK.match(body)
            if raw is None:
                self._html = ""
            elif f"</{raw[1].lower()}" not in body.lower()[raw.end() :]:  # not closed on its first line
                self._html = raw[1].lower()
            return line
        return _CODE_SPAN.sub(lambda m: _blank(m.group(0)), line)


def _local(name: str) -> str:
    """``html:script`` / ``x:iframe`` (XHTML namespaces) -> the element's local name."""
    return name.rsplit(":", 1)[-1]


class MarkupScanner(HTMLParser):
    def __init__(self, marks: tuple[str, ...], brands: tuple[str, ...], depth: int = 0) -> None:
        super().__init__(convert_charrefs=True)
        self._depth = depth
        self._marks_list, self._brands_list = marks, brands
        self.report = MarkupReport()
        self._marks = (
            re.compile(r"(?i)\b(" + "|".join(re.escape(m) for m in marks) + r")\b") if marks else None
        )
        self._mark_names = {m.lower(): m for m in marks}
        all_brands = tuple(dict.fromkeys((*brands, *marks)))
        self._brands = (
            re.compile(r"(?i)\b(" + "|".join(re.escape(b) for b in all_brands) + r")\b")
            if all_brands
            else None
        )
        self._brand_names = {b.lower(): b for b in all_brands}
        self._stack: list[_Element] = []
        self._hidden_classes: set[str] = set()
        self._hidden_ids: set[str] = set()
        self._revealed_classes: set[str] = set()  # classes a CSS rule displays (see _REVEAL_DECL)
        self._revealed_ids: set[str] = set()
        self._script_names: set[str] = set()  # short string literals of scripts and handlers ('#menu')
        self._hidden_texts: list[_HiddenText] = []
        self._visible_texts: set[str] = set()  # visible text nodes naming a mark, whitespace folded
        self._in_script = False
        self._in_style = False
        self._form_depth = 0
        self._form_has_password = False  # a password field asking for a sign-in's password
        self._form_has_secret = False  # only fields of the secret_field shape (a key, a token)

    # -- helpers --------------------------------------------------------------------------------

    def _hidden_by(self, attrs: dict[str, str]) -> str | None:
        if "hidden" in attrs:
            return "hidden-attribute"
        style = attrs.get("style", "")
        if style:
            m = _HIDDEN_DECL.search(style)
            if m:
                return re.split(r"\s*:", m.group(0))[0].strip().lower()
            color = _COLOR.search(style)
            if color:
                fg = _norm_color(color.group(1))
                bg_m = _BACKGROUND.search(style)
                bg = _norm_color(bg_m.group(1)) if bg_m else self._background()
                if bg is not None and (fg == bg or (fg in _WHITE and bg in _WHITE)):
                    return "same-colour-text"
        classes = attrs.get("class", "").split()
        if any(c in self._hidden_classes for c in classes):
            return "css-class"
        if attrs.get("id") in self._hidden_ids:
            return "css-id"
        return None

    def _background(self) -> str | None:
        for el in reversed(self._stack):
            if el.background is not None:
                return el.background
        return None

    def _hidden(self) -> str | None:
        for el in reversed(self._stack):
            if el.hidden:
                return el.hidden
        return None

    def _count_marks(self, text: str, into: Counter[str]) -> int:
        if self._marks is None:
            return 0
        n = 0
        for m in self._marks.finditer(text):
            into[self._mark_names.get(m.group(1).lower(), m.group(1))] += 1
            n += 1
        return n

    # -- parser callbacks -------------------------------------------------------------------------

    def _srcdoc(self, html: str) -> None:
        """An iframe's ``srcdoc`` is a document of its own: its scripts count as this page's."""
        if self._depth >= _MAX_SRCDOC_DEPTH:
            self.report.script_tags += 1  # nested beyond reason: treat as script
            return
        inner = MarkupScanner(self._marks_list, self._brands_list, self._depth + 1)
        with contextlib.suppress(Exception):
            inner.feed(html)
        sub = inner.finish()
        r = self.report
        r.script_tags += sub.script_tags
        r.event_handlers.update(sub.event_handlers)
        r.interaction_handlers.update(sub.interaction_handlers)
        r.page_handlers.update(sub.page_handlers)
        r.javascript_urls += sub.javascript_urls
        r.exfiltration_markers.update(sub.exfiltration_markers)

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        tag = _local(tag)
        attrs = {k.lower(): (v or "") for k, v in attrs_list}
        r = self.report
        if tag == "script":
            r.script_tags += 1
            self._in_script = True
        elif tag == "style":
            self._in_style = True
        for name, value in attrs.items():
            if name.startswith("on") and len(name) > 2:
                if name in _INTERACTION_HANDLERS:
                    r.interaction_handlers[name] += 1
                elif page_handler(value, tag):
                    r.page_handlers[name] += 1
                else:
                    r.event_handlers[name] += 1
                exfiltration_markers(value, r.exfiltration_markers)
                self._note_script_names(value)
            elif (name in _URL_ATTRS or _local(name) in _URL_ATTRS) and script_url(value):
                if tag in _LINK_TAGS and name == "href" and link_action(value):
                    r.interaction_handlers[JAVASCRIPT_LINK] += 1  # runs when clicked, as onclick does
                else:
                    r.javascript_urls += 1
            elif name == "srcdoc" and value:
                self._srcdoc(value)
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh":
            refresh = _REFRESH_URL.search(attrs.get("content", ""))
            if refresh and script_url(refresh.group(1)):
                r.javascript_urls += 1
        if tag == "meta":
            if attrs.get("name", "").lower() in {"keywords", "description"} or attrs.get(
                "property", ""
            ).lower() in {
                "og:description",
                "article:tag",
            }:
                self._count_marks(attrs.get("content", ""), r.marks_in_meta)
        elif tag == "form":
            self._form_depth += 1
        elif tag == "input" and attrs.get("type", "").lower() == "password":
            if secret_field(attrs):
                self._form_has_secret = True
            else:
                self._form_has_password = True
        if tag in ("img", "input"):
            alt = attrs.get("alt", "") + " " + attrs.get("title", "")
            hidden = self._hidden_by(attrs) or self._hidden()
            if hidden and self._count_marks(alt, r.marks_hidden):
                r.hiding_methods[hidden] += 1
        if tag in _VOID:
            return
        style = attrs.get("style", "")
        bg_m = _BACKGROUND.search(style) if style else None
        self._stack.append(
            _Element(
                tag,
                self._hidden_by(attrs),
                _norm_color(bg_m.group(1)) if bg_m else None,
                attrs.get("id", ""),
                tuple(attrs.get("class", "").split()),
            )
        )
        if len(self._stack) > 512:  # malformed pages: bound the stack
            del self._stack[:256]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = _local(tag)
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack and self._stack[-1].tag == tag:
            self._stack.pop()
            if tag == "script":
                self._in_script = False

    def handle_endtag(self, tag: str) -> None:
        tag = _local(tag)
        if tag == "script":
            self._in_script = False
        elif tag == "style":
            self._in_style = False
        elif tag == "form" and self._form_depth:
            self._form_depth -= 1
            self._count_form()
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        r = self.report
        if self._in_script:
            exfiltration_markers(data, r.exfiltration_markers)
            self._note_script_names(data)
            return
        if self._in_style:
            for rule in _CSS_RULE.finditer(data):
                if _REVEAL_DECL.search(rule.group(2)):
                    for selector in rule.group(1).split(","):
                        last = _COMBINATORS.split(selector.strip())[-1]
                        self._revealed_classes.update(_SELECTOR_CLASS.findall(last))
                        self._revealed_ids.update(_SELECTOR_ID.findall(last))
                if not _HIDDEN_DECL.search(rule.group(2)):
                    continue
                for selector in rule.group(1).split(","):
                    sm = _SIMPLE_SELECTOR.match(selector)
                    if sm:
                        (self._hidden_classes if sm.group(1) == "." else self._hidden_ids).add(sm.group(2))
            return
        if not data.strip():
            return
        hidden = self._hidden()
        if hidden:
            found: Counter[str] = Counter()
            if self._count_marks(data, found):
                r.marks_hidden.update(found)
                r.hiding_methods[hidden] += 1
                element = next(el for el in reversed(self._stack) if el.hidden)
                self._hidden_texts.append(_HiddenText(element, " ".join(data.split()), found))
        elif self._count_marks(data, r.marks_visible) and len(self._visible_texts) < _MAX_TEXTS_KEPT:
            self._visible_texts.add(" ".join(data.split()))
        if self._brands is not None:
            claimed = None
            for m in self._brands.finditer(data):
                brand = self._brand_names.get(m.group(1).lower(), m.group(1))
                r.brands_seen[brand] += 1
                if claimed is None:
                    claimed = any(el.tag in _IDENTITY_TAGS for el in self._stack)
                if claimed:
                    r.brands_claimed[brand] += 1

    def finish(self) -> MarkupReport:
        with contextlib.suppress(Exception):  # a malformed tail never sinks the scan
            self.close()
        self._count_form()  # a password field outside a closed form still asks for a password
        self._sort_revealable()
        return self.report

    def _note_script_names(self, code: str) -> None:
        if len(self._script_names) >= _MAX_TEXTS_KEPT or ("'" not in code and '"' not in code):
            return
        for a, b in _JS_STRING.findall(code):
            literal = (a or b).strip()
            if 0 < len(literal) <= 64:
                self._script_names.add(literal.lstrip("#."))

    def _revealable(self, hidden: _HiddenText) -> bool:
        el = hidden.element
        return bool(
            (el.hidden == "css-class" and self._revealed_classes.intersection(el.classes))
            or (el.hidden == "css-id" and el.id in self._revealed_ids)
            or (el.id and el.id in self._script_names)
            or self._script_names.intersection(el.classes)
            or hidden.text in self._visible_texts
        )

    def _sort_revealable(self) -> None:
        """Move the marks of hidden text the page itself shows to ``marks_revealable``."""
        r = self.report
        for hidden in self._hidden_texts:
            if self._revealable(hidden):
                r.marks_hidden.subtract(hidden.marks)
                r.marks_revealable.update(hidden.marks)
                r.hiding_methods[hidden.element.hidden or ""] -= 1
        r.marks_hidden = +r.marks_hidden
        r.hiding_methods = +r.hiding_methods
        self._hidden_texts.clear()

    def _count_form(self) -> None:
        if self._form_has_password:
            self.report.password_forms += 1
        elif self._form_has_secret:
            self.report.secret_forms += 1
        self._form_has_password = self._form_has_secret = False
