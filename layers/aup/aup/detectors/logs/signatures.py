"""What a path or a user agent says about its caller, from the pattern lists in ``patterns/`` (data).

Each distinct path and agent is classified once and remembered (an ``lru_cache`` per instance): access
logs repeat the same few paths and agents, so the per-line cost is one cache lookup. Paths made of
plain characters skip the payload patterns altogether (only the CVE probe URIs can match them).

Every logged field an attacker controls is checked, not only the path: ``field`` classifies a user
agent, an X-Forwarded-For chain or a claimed account for payloads (``PAYLOAD``, ``EXPLOIT``). A value
is matched raw (encodings only evasion produces), then URL-decoded repeatedly (at most
``DECODE_ROUNDS`` times: ``%252e`` is ``%2e`` is ``.``), lower-cased, SQL comments replaced by a space
and whitespace collapsed (``union/**/select`` reads ``union select``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus

from aup.detectors.logs.members import digest, walk_head, walk_member, walk_member_at

CACHE_LIMIT = 50_000
DECODE_ROUNDS = 4  # bounded: each round must change the text, so at most this many decodes per value
FIELD_CHARS = 4096  # a field longer than this is matched on its head and tail (see parse.clip)

# Path (and field) flags
SENSITIVE = 1  # sensitive files, backdoors, admin interfaces, CVE probe URIs (D1-sensitive-path)
PAYLOAD = 2  # traversal, SQLi, XSS probe strings (D1-attack-payload)
EXPLOIT = 4  # an unambiguous exploit payload: ${jndi:..}, shellshock (D1-exploit-signature)
PROBE = 8  # one published exploit path: a CVE probe URI, a known web shell (D1-exploit-probe)
LOGIN = 16  # a login-like route (``break_in.login_routes``): D2-login-brute-force's attempts
# With SENSITIVE: an admin interface's path and nothing else sensitive (no secret file, backdoor or CVE
# URI). Refused 401/403 by a route of the API, that is the API's own admin route declining a key's
# scope: D2's refusal rules judge it, not D1 (a dashboard's admin widgets polled with the wrong key).
ADMIN = 32

# Agent flags
SCANNER = 1  # D1-scanner-agent
BAD_BOT = 2  # scraper / offline-reader agents (raises D5a and W5 confidence)
CRAWLER = 4  # claims to be a search-engine crawler (W1-fake-crawler when authenticated)
NON_BROWSER = 8  # client library, headless tool, or no browser token at all (D5a confidence)

_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_\-]*").fullmatch
# Values no pattern can match: letters, digits and the punctuation of ordinary agents and addresses.
# (A metadata address alone, as a hop of a forwarded chain, is no request forgery: W1 judges chains.)
_PLAIN_FIELD = re.compile(r"[A-Za-z0-9 .,:/_\-]*").fullmatch
# Every spelling in payload_spellings.regex.txt needs one of these: a value without any skips the
# spellings' alternation (the costliest scan) with one character-class scan.
_SPELLING_HINT = re.compile(r"[=(;<:\r\n']|union|waitfor|xp_").search
_SQL_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_SPACES = re.compile(r"[ \t\x0b\x0c+]+")


# Fragments that are a quote then a boolean word: the breakout of an injection (``5' or 1=1``) when the
# quote closes a string the value did not open, an odd quote of its value; an even one closes a literal
# the value opened itself, as a filter language's does (OData's ``$filter=status eq 'open' and total gt
# 100``, ``name:'x' or``): no payload.
_QUOTE_BOOLEANS = frozenset({"' or ", "' and "})
_VALUE_START = re.compile(r"[=&?/]")


def breakout(text: str, at: int) -> bool:
    """Whether the quote at ``text[at]`` is an odd one of its value (the text since the last ``=``,
    ``&``, ``?`` or ``/`` before it): it closes a string the value did not open."""
    start = 0
    for m in _VALUE_START.finditer(text, 0, at):
        start = m.end()
    return text.count("'", start, at + 1) % 2 == 1


def forms(value: str) -> tuple[str, str]:
    """(raw lower-cased, decoded and normalised) forms of a logged value. Decoding repeats while it
    changes the text, at most ``DECODE_ROUNDS`` times; ``+`` reads as a space (query strings)."""
    lower = value.lower()
    decoded = lower
    for _ in range(DECODE_ROUNDS):
        if "%" not in decoded:
            break
        again = unquote(decoded).lower()
        if again == decoded:
            break
        decoded = again
    if "+" in decoded:
        decoded = unquote_plus(decoded).lower() if "%" in decoded else decoded.replace("+", " ")
    if "/*" in decoded:
        decoded = _SQL_COMMENT.sub(" ", decoded)
    return lower, _SPACES.sub(" ", decoded)


def _regex(lines: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in lines))


class PathInfo(NamedTuple):
    flags: int
    prefix: str  # the path without its last segment, when that segment is a number (W5 enumeration)
    number: int  # that number, else -1
    tenant: str  # the account id after an account marker segment (D2 foreign-account probe), else ""
    # Remembered with the class, so a path seen again costs one look-up: its ``members.digest`` (W5's
    # crawl sample and its member) and, for a numbered path, its id-set member (``members.walk_member``).
    digest: int = 0
    member: str = ""


_Class = tuple[int, str, int, str]  # PathInfo's first four fields
# A plain prefix's part of its numbered paths' class: (tenant, whether its last segment is an account
# marker, whether one of its segments is a login route, its id-set members' ``walk_head``)
_Prefix = tuple[str, bool, bool, int]


def _lines(name: str) -> list[str]:
    text = resources.files("aup.detectors.logs").joinpath("patterns", name).read_text(encoding="utf-8")
    # Keep inner and trailing spaces: some fragments ("' or ") need them.
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


class Signatures:
    """The compiled lists. Build once per process (``signatures()``)."""

    def __init__(self, account_markers: tuple[str, ...] = (), login_routes: tuple[str, ...] = ()) -> None:
        import orjson

        self.sensitive_suffixes = tuple(s.lower() for s in _lines("sensitive_data.txt"))
        self.sensitive_dirs = tuple(s + "/" for s in self.sensitive_suffixes if s.startswith("."))
        self.backdoors = frozenset(s.lower() for s in _lines("backdoors.txt"))
        admin = [s.lower() for s in _lines("admin_interfaces.txt")]
        self.admin_prefixes = tuple(admin)
        self.admin_first = frozenset(p.strip("/").split("/")[0] for p in admin if p.startswith("/"))
        cves = [str(orjson.loads(ln)["uri"]).lower() for ln in _lines("trendy_cves_uris.json")]
        self.cve_uris = tuple(u for u in cves if len(u) >= 6)
        # One published exploit path is evidence on its own (D1-exploit-probe): CVE probe URIs (raw
        # and decoded), web-shell file names as a path's last segment, the project's exploit paths.
        probes = {
            *self.cve_uris,
            *(unquote(u) for u in self.cve_uris),
            *(s.lower() for s in _lines("exploit_paths.txt")),
        }
        self.probe_re = re.compile("|".join(sorted(map(re.escape, probes), key=len, reverse=True)))
        self.exploit_re = _regex(_lines("exploit_signatures.regex.txt"))
        self.spelling_re = _regex(_lines("payload_spellings.regex.txt"))
        self.encoding_re = _regex(_lines("payload_encodings.regex.txt"))
        fragments = [
            *_lines("path_traversal.txt"),
            *_lines("sqli_probe_patterns.txt"),
            *_lines("sqli_extra.txt"),
            *(s for s in _lines("xss_probe_patterns.txt") if len(s.strip()) > 2),
        ]
        # One alternation over raw and decoded forms: a single C-level scan per new path.
        self.payload_re = re.compile(
            "|".join(sorted({re.escape(f.lower()) for f in fragments}, key=len, reverse=True))
        )
        self.bad_bot_re = re.compile("|".join(f"(?:{p})" for p in _lines("bad_user_agents.regex.txt")))
        words = lambda name: "|".join(re.escape(w) for w in _lines(name))  # noqa: E731
        self.scanner_re = re.compile(rf"\b(?:{words('scanner_agents.txt')})\b")
        self.crawler_re = re.compile(rf"\b(?:{words('search_crawlers.txt')})\b")
        self.client_tokens = tuple(_lines("client_libraries.txt"))
        self.account_markers = frozenset(m.lower() for m in account_markers)
        self.login_routes = frozenset(r.lower() for r in login_routes)
        self.path: Callable[[str], PathInfo] = lru_cache(maxsize=CACHE_LIMIT)(self._path_info)
        self.agent: Callable[[str], int] = lru_cache(maxsize=CACHE_LIMIT)(self._classify_agent)
        self.field: Callable[[str], int] = lru_cache(maxsize=CACHE_LIMIT)(self._classify_field)
        agent = self.agent
        self.claims_crawler: Callable[[str], bool] = lambda a: bool(agent(a) & CRAWLER)
        self._prefix_class: Callable[[str], _Prefix | None] = lru_cache(maxsize=CACHE_LIMIT)(
            self._classify_prefix
        )

    # --- paths --------------------------------------------------------------------------------

    def _path_info(self, path: str) -> PathInfo:
        numbered = self._numbered_path(path)
        if numbered is not None:
            return numbered
        flags, prefix, number, tenant = self._classify_path(path)
        if self.login_routes and self._login(path):
            flags |= LOGIN
        member = walk_member(prefix, number) if number >= 0 else ""
        return PathInfo(flags, prefix, number, tenant, digest(path), member)

    def _numbered_path(self, path: str) -> PathInfo | None:
        """``<prefix>/<number>`` (order ids, product ids: most new paths) from its prefix's class, when
        the number cannot change it: a plain prefix whose first segment is no admin interface's, so
        no pattern can match (see ``_classify_path``). The prefix's login check and the head of its
        id-set digest are its class's too (a third of a new path's cost, measured on the bench's mix).
        None: classify the whole path."""
        prefix, _, last = path.rpartition("/")
        if not (prefix and last.isdigit() and len(last) <= 12 and last.isascii()):
            return None
        known = self._prefix_class(prefix)
        if known is None:
            return None
        tenant, marker_last, login, head = known
        number = int(last)
        flags = LOGIN if login or last in self.login_routes else 0
        tenant = tenant or (last if marker_last else "")
        return PathInfo(flags, prefix, number, tenant, digest(path), walk_member_at(head, number))

    def _classify_prefix(self, prefix: str) -> _Prefix | None:
        """The class of a prefix the number cannot change (``_Prefix``), else None. A plain prefix has
        no query and no extension: its login check is its segments'."""
        lower = prefix.lower()
        if _PLAIN_PATH(prefix) is None or self._admin_candidate(lower) or self.probe_re.search(lower):
            return None
        login = any(seg in self.login_routes for seg in lower.split("/") if seg)
        tenant, marker_last = self._tenant(lower), lower.rpartition("/")[2] in self.account_markers
        return tenant, marker_last, login, walk_head(prefix)

    def _classify_path(self, path: str) -> _Class:
        lower = path.lower()
        flags = 0
        if _PLAIN_PATH(path) is None:
            flags = self._payload_flags(path)
            decoded = forms(path)[1]
            if self._sensitive_file(decoded):
                flags |= SENSITIVE
            elif self._admin(decoded):
                flags |= SENSITIVE | ADMIN
            if self._probe(decoded) or self.probe_re.search(lower):
                flags |= PROBE
        else:
            if self._admin(lower):
                flags |= SENSITIVE | ADMIN
            if self.probe_re.search(lower):  # CVE probe URIs made of plain characters (/rpc2_login)
                flags |= PROBE
        prefix, _, last = path.rpartition("/")
        number = int(last) if last.isdigit() and len(last) <= 12 and last.isascii() else -1
        return flags, prefix if number >= 0 else "", number, self._tenant(lower)

    def _payload_flags(self, value: str) -> int:
        """``PAYLOAD`` / ``EXPLOIT`` for any logged value (path, agent, header): raw encodings, then the
        decoded and normalised form against the fragments, the spellings and the exploit signatures."""
        if len(value) > FIELD_CHARS:
            value = value[: FIELD_CHARS // 2] + " " + value[-FIELD_CHARS // 2 :]
        lower, decoded = forms(value)
        flags = 0
        if self.exploit_re.search(decoded) or (decoded != lower and self.exploit_re.search(lower)):
            flags |= EXPLOIT
        if (
            self._fragment(lower)
            or self.encoding_re.search(lower)
            or (decoded != lower and self._fragment(decoded))
            or (_SPELLING_HINT(decoded) is not None and self.spelling_re.search(decoded))
        ):
            flags |= PAYLOAD
        return flags

    def _fragment(self, text: str) -> bool:
        """Whether ``text`` carries a payload fragment (a quote-boolean one only as a breakout)."""
        for m in self.payload_re.finditer(text):
            if m.group() not in _QUOTE_BOOLEANS or breakout(text, m.start()):
                return True
        return False

    def _classify_field(self, value: str) -> int:
        """A header-like field (user agent, X-Forwarded-For, claimed account): its payload flags."""
        if not value or value == "-" or _PLAIN_FIELD(value) is not None:
            return 0
        return self._payload_flags(value)

    def _probe(self, decoded: str) -> bool:
        """A known web shell (``backdoors.txt``) as the last segment, query string left out."""
        last = decoded.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return last in self.backdoors or self.probe_re.search(decoded) is not None

    def _admin_candidate(self, lower: str) -> bool:
        """Whether the first segment is an admin interface's: only then can ``_admin`` be true."""
        first = lower[1:].split("/", 1)[0] if lower.startswith("/") else ""
        return first in self.admin_first or first.split(".", 1)[0] in self.admin_first

    def _admin(self, lower: str) -> bool:
        if not self._admin_candidate(lower):
            return False
        for p in self.admin_prefixes:
            if lower.startswith(p) and (len(lower) == len(p) or p.endswith("/") or lower[len(p)] in "/.?_-"):
                return True
        return False

    def _sensitive_file(self, lower: str) -> bool:
        """A secret file, a backdoor or a CVE probe URI (the sensitive paths beyond admin interfaces)."""
        last = lower.rsplit("/", 1)[-1]
        if last.split("?", 1)[0] in self.backdoors:
            return True
        trimmed = lower.rstrip("/")
        if trimmed.endswith(self.sensitive_suffixes) or any(d in lower for d in self.sensitive_dirs):
            return True
        return any(u in lower for u in self.cve_uris)

    def _login(self, path: str) -> bool:
        """A login-like route: a path segment (its extension left out) that is one of ``login_routes``."""
        segments = path.split("?", 1)[0].lower().split("/")
        return any(seg.split(".", 1)[0] in self.login_routes for seg in segments if seg)

    def _tenant(self, lower: str) -> str:
        if not self.account_markers:
            return ""
        parts = lower.split("/")
        for i in range(len(parts) - 1):
            if parts[i] in self.account_markers and parts[i + 1]:
                return parts[i + 1]
        return ""

    # --- agents -------------------------------------------------------------------------------

    def _classify_agent(self, agent: str) -> int:
        lower = agent.lower()
        flags = 0
        if self.scanner_re.search(lower):
            flags |= SCANNER
        if self.crawler_re.search(lower):
            flags |= CRAWLER
        if self.bad_bot_re.search(agent):
            flags |= BAD_BOT
        if (
            flags & (SCANNER | BAD_BOT)
            or "mozilla/" not in lower
            or any(t in lower for t in self.client_tokens)
        ):
            flags |= NON_BROWSER
        return flags


@cache
def signatures(account_markers: tuple[str, ...] = (), login_routes: tuple[str, ...] = ()) -> Signatures:
    return Signatures(account_markers, login_routes)
