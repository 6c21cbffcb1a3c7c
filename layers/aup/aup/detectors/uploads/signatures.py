"""YARA signatures (I3): the bundled rules plus operators' own, compiled once per execution environment.

Operators' rules are read as the community publishes them: a folder tree of ``*.yar``/``*.yara``
files (read recursively) that ``include`` each other and reference rules across files. Every file
goes once (an ``include`` reads as include-once: index files and rule files that both include a
common file do not define its rules twice) into one ``operators`` namespace, each after the files it
includes, so cross-file references resolve; the bundled rules live in their own namespace (an
operator's copy of a bundled rule name does not collide). A file that does not compile is rejected by
name and line (for a metric and a log line) and the rest are loaded: one bad file never sinks the set;
a file that needs a rejected one is rejected next, by name too.

Rules may use the external variables ``filename``, ``filepath``, ``extension``, ``filetype`` and
``owner``: declared at compile time, set per object (and per archive member) when matching.

The compiled form is cached in /tmp under a digest of every source (``yara.save``/``yara.load``), so a
re-initialisation in the same execution environment does not compile again.

Rules are matched over overlapping windows of the stream (chunk + the previous chunk's tail), so a
string shorter than the overlap is found wherever it lies. Conditions on ``filesize`` or offsets see
the window, not the object: operators' rules should match strings, as the bundled ones do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

EXTERNALS: dict[str, str] = {"filename": "", "filepath": "", "extension": "", "filetype": "", "owner": ""}
RULE_SUFFIXES = (".yar", ".yara")
_INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"', re.M)
_ERROR_LINE = re.compile(r"^(?:line (\d+): |.*?\((\d+)\): )")


# Bundled rule files matched only in streams that look like server-side script (a tag or an API of
# PHP, ASP or JSP seen in the stream): web shell regexes cost a third of the scan on other content.
GATED_FILES = frozenset({"bundled_webshells"})
SCRIPT_MARKER_RULE = "AUP_Script_Marker"  # matched with the main set (one pass): opens the gate
_SCRIPT_MARKERS = (
    "<?php", "<?PHP", "<?Php", "<?=", "<? ", "<?\\n", "<?\\r", "<?\\t", "<%@", "<%=", "<% ", "<%\\n",
    "<%\\r", "<%\\t", "runat=", "getParameter", "Request.", "Request(", "Request[", "ProcessBuilder",
)  # fmt: skip
_MARKER_SOURCE = (
    f"rule {SCRIPT_MARKER_RULE} {{ strings: "
    + " ".join(f'$m{i} = "{m}"' for i, m in enumerate(_SCRIPT_MARKERS))
    + " condition: any of them }"
)


class CompiledRules:
    """The compiled rule sets: ``main`` (bundled and operators' rules, every stream) and ``scripts``
    (bundled web shell rules, streams that carry a script marker)."""

    def __init__(self, main: Any, scripts: Any) -> None:
        self.main, self.scripts = main, scripts

    def match(self, data: bytes, externals: dict[str, str] | None = None, fast: bool = True) -> list[Any]:
        """Every rule of both sets over ``data`` (no gating)."""
        kw = {"data": data, "fast": fast, "externals": externals or {}}
        found = [*self.main.match(**kw), *self.scripts.match(**kw)]
        return [m for m in found if m.rule != SCRIPT_MARKER_RULE]


class SignatureError(ValueError):
    """The bundled rules do not compile: raised at cold start (a packaging error, never an operator's)."""


@dataclass(frozen=True)
class RuleSet:
    rules: CompiledRules
    files: int  # operators' rule files loaded (included ones too)
    rejected: tuple[tuple[str, str], ...]  # (file relative to the rules root, error) that did not compile
    cached: bool  # loaded from the /tmp cache, not compiled


def bundled_sources() -> dict[str, str]:
    folder = resources.files("aup.detectors.uploads").joinpath("rules")
    return {
        f"bundled_{entry.name.removesuffix('.yar')}": entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yar")
    }


def _closures(root: Path) -> dict[Path, set[Path]]:
    """Top-level rule files (included by no other) -> every file they pull in, themselves included."""
    files = sorted(p.resolve() for p in root.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file())
    includes: dict[Path, set[Path]] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        includes[path] = {(path.parent / inc).resolve() for inc in _INCLUDE.findall(text)}
    included = set().union(*includes.values()) if includes else set()
    closures: dict[Path, set[Path]] = {}
    for top in (p for p in files if p not in included):
        seen, todo = {top}, [top]
        while todo:
            for nxt in includes.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        closures[top] = seen
    return closures


def _digest(bundled: dict[str, str], root: Path | None, closures: dict[Path, set[Path]]) -> str:
    import yara

    h = hashlib.sha256(f"{yara.__version__}|{sorted(EXTERNALS)}|{sorted(GATED_FILES)}".encode())
    h.update(_MARKER_SOURCE.encode())
    for name, text in sorted(bundled.items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    for path in sorted(set().union(*closures.values())) if closures else []:
        h.update(str(path.relative_to(root) if root else path).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def load_rules(extra_root: str | None = None, cache_dir: str | None = None) -> RuleSet:
    """Compile (or load from the cache) the bundled rules and every rule file under ``extra_root``."""
    import yara

    bundled = bundled_sources()
    root = Path(extra_root).resolve() if extra_root else None
    closures = _closures(root) if root and root.is_dir() else {}
    cache_root = Path(cache_dir or tempfile.gettempdir())
    digest = _digest(bundled, root, closures)
    compiled, sidecar = cache_root / f"aup-yara-{digest}.yarc", cache_root / f"aup-yara-{digest}.json"
    gated_file = cache_root / f"aup-yara-{digest}-scripts.yarc"
    if compiled.exists() and sidecar.exists() and gated_file.exists():
        try:
            meta = json.loads(sidecar.read_text())
            loaded = CompiledRules(yara.load(str(compiled)), yara.load(str(gated_file)))
            return RuleSet(loaded, meta["files"], tuple(map(tuple, meta["rejected"])), True)
        except (yara.Error, OSError, ValueError, KeyError):
            pass  # a damaged cache entry: compile again

    def rel(p: Path) -> str:
        return str(p.relative_to(root)) if root else str(p)

    bundled_text = "\n".join([*(v for k, v in bundled.items() if k not in GATED_FILES), _MARKER_SOURCE])
    try:
        yara.compile(source=bundled_text, externals=EXTERNALS)
        scripts = yara.compile(
            source="\n".join(v for k, v in bundled.items() if k in GATED_FILES), externals=EXTERNALS
        )
    except yara.Error as exc:
        raise SignatureError(f"bundled YARA rules do not compile: {exc}") from exc
    files = _include_order(closures)  # every file once, each after the files it includes
    rejected: list[tuple[str, str]] = []
    for path in list(files):  # a syntax error would surface in the next file of the combined source
        error = _syntax_error(path)
        if error:
            rejected.append((rel(path), _ERROR_LINE.sub(f"{rel(path)}(\\1\\2): ", error, count=1)))
            files.remove(path)
    rules: Any = None
    for _ in range(len(files) + 1):
        source, spans = _flatten(files)
        try:
            rules = yara.compile(sources={"bundled": bundled_text, "operators": source}, externals=EXTERNALS)
            break
        except yara.Error as exc:
            bad, line = _culprit(str(exc), spans)
            message = _ERROR_LINE.sub(f"{rel(bad)}({line}): ", str(exc), count=1) if bad else str(exc)
            bad = bad or files[-1]
            rejected.append((rel(bad), message))
            files.remove(bad)
    ruleset = RuleSet(CompiledRules(rules, scripts), len(files), tuple(rejected), False)
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        for done, target in ((rules, compiled), (scripts, gated_file)):
            tmp = target.with_suffix(".tmp")
            done.save(str(tmp))
            os.replace(tmp, target)
        sidecar.write_text(json.dumps({"files": ruleset.files, "rejected": rejected}))
    except (yara.Error, OSError):
        pass  # no cache: compiled again next time
    return ruleset


def _syntax_error(path: Path) -> str:
    """The file's own syntax error, if any (references to rules of other files are not errors here)."""
    import yara

    try:
        text = _INCLUDE.sub("", path.read_text(encoding="utf-8", errors="replace"))
        yara.compile(source=text, externals=EXTERNALS)
    except yara.SyntaxError as exc:
        message = str(exc)
        return "" if "undefined identifier" in message else message
    except (OSError, yara.Error) as exc:
        return str(exc)
    return ""


def _include_order(closures: dict[Path, set[Path]]) -> list[Path]:
    """Every rule file once (``include`` is read as include-once), each after what it includes."""
    order: list[Path] = []
    seen: set[Path] = set()

    def visit(path: Path, stack: tuple[Path, ...]) -> None:
        if path in seen or path in stack:
            return
        for inc in _includes_of(path):
            visit(inc, (*stack, path))
        seen.add(path)
        order.append(path)

    for top in sorted(closures):
        visit(top, ())
    return order


def _includes_of(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [(path.parent / inc).resolve() for inc in _INCLUDE.findall(text)]


def _flatten(files: list[Path]) -> tuple[str, list[tuple[int, Path]]]:
    """One source of all the files (their include lines blanked, so line numbers map back to files);
    ``spans`` holds each file's first line. An include of a file that is missing (or was rejected)
    stays an include, so compiling names the including file."""
    present = set(files)
    parts, spans, line = [], [], 1
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""

        def blank(m: re.Match[str], here: Path = path) -> str:
            return "" if (here.parent / m.group(1)).resolve() in present else f'include "{m.group(1)}"'

        text = _INCLUDE.sub(blank, text)
        if not text.endswith("\n"):
            text += "\n"
        spans.append((line, path))
        parts.append(text)
        line += text.count("\n")
    return "".join(parts), spans


def _culprit(message: str, spans: list[tuple[int, Path]]) -> tuple[Path | None, int]:
    m = _ERROR_LINE.match(message)
    if not m or not spans:
        return None, 0
    n = int(m.group(1) or m.group(2))
    start, path = next(((s, p) for s, p in reversed(spans) if s <= n), spans[0])
    return path, n - start + 1


@cache
def compile_rules(extra_root: str | None = None) -> CompiledRules:
    """Compiled rules (bundled + operators' under ``extra_root``), once per execution environment."""
    return load_rules(extra_root).rules


def _confidence(value: Any) -> float:
    try:
        return min(1.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        return 1.0


class SignatureScanner:
    """Feed chunks in order; ``matches`` holds the names of every rule that matched a window, and
    ``confidence`` each one's ``meta: confidence`` (1.0 when the rule does not say). The web shell
    rules join from the first window that carries a script marker on."""

    def __init__(self, rules: CompiledRules, overlap: int, externals: dict[str, str] | None = None) -> None:
        self.rules = rules
        self.overlap = overlap
        self.externals = externals or {}
        self.matches: set[str] = set()
        self.confidence: dict[str, float] = {}
        self._tail = b""
        self._script = False

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk if self._tail else chunk
        self._collect(self.rules.main.match(data=window, fast=True, externals=self.externals))
        if self._script:
            self._collect(self.rules.scripts.match(data=window, fast=True, externals=self.externals))
        self._tail = window[-self.overlap :]

    def _collect(self, found: list[Any]) -> None:
        for match in found:
            if match.rule == SCRIPT_MARKER_RULE:
                self._script = True
            elif match.rule not in self.matches:
                self.matches.add(match.rule)
                self.confidence[match.rule] = _confidence(match.meta.get("confidence"))
