"""The policy reference, generated from the pydantic model: a JSON Schema and a Markdown page.

``python -m aup.policy.schema [DIR]`` (``make docs``) writes policy.schema.json and
policy-reference.md into DIR (default: ``docs``); ``--check`` changes nothing and exits 1 when the
files differ from the model. Nothing on the Lambda path imports this module.

A field's description is, first found: its ``Field(description=...)``; the table below; the docstring
of the section model it holds; the ``#`` comment on (or right above) its line in the model's source.
A new field needs one of them (tests/unit/test_docs.py names a field that lacks one).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import re
import sys
import tokenize
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import to_jsonable_python

from aup.policy.document import CLAUSE_RE, Policy

SCHEMA_FILE = "policy.schema.json"
REFERENCE_FILE = "policy-reference.md"
REGENERATE = "make docs"

# Fields whose meaning the model's source does not state, or states too tersely for a reference.
# For a new field prefer a Field(description=...) or a trailing comment in the model itself.
_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("Policy", "policy_version"): "Recorded with every decision; change it whenever the document changes.",
    ("Policy", "default_plan"): "Plan of an account whose plan is unknown to this document.",
    (
        "Policy",
        "dry_run",
    ): "Global dry-run: everything is recorded and reported as `would_...`; no flag changes.",
    (
        "Policy",
        "allowlist",
    ): "Account ids never suspended automatically: their non-warning findings go to review.",
    ("Policy", "protected_trademarks"): "Marks W6 looks for in meta tags and hidden text.",
    ("Policy", "hash_lists"): "Operator-supplied SHA-256 lists, by name (W4, I2, I1).",
    ("Policy", "plans"): "Plans by name, with their documented use parameters (clause D5b).",
    ("Policy", "rules"): "Every rule a detector or an operator can report, by rule id (`<clause>-<name>`).",
    ("HashList", "rule_id"): "The rule a match is reported under (a key of `rules`).",
    ("HashList", "uri"): "`s3://bucket/key` or a path in the layer; null: the list is empty.",
    ("Plan", "requests_per_day"): "Requests per UTC day.",
    ("Plan", "egress_per_day"): "Response bytes per UTC day.",
    ("Plan", "cpu_seconds_per_hour"): "CPU seconds per hour (metric `CPUSeconds`).",
    ("Plan", "memory_peak"): "Peak memory (metric `MemoryPeakMB`), a level.",
    ("Plan", "storage"): "Stored bytes (metric `StorageBytes`), a level.",
    ("Plan", "media_allowance"): "Bytes of audio, video and large images an account may store (D6).",
    ("Ladder", "strike_window_days"): "Strikes count while they are younger than this (rolling window).",
    ("Ladder", "strikes_to_suspend"): "The strike that reaches this count inside the window suspends.",
    ("Ladder", "actions"): (
        "What each severity does; every severity needs one of warn, strike, suspend_temporary, "
        "suspend_indefinite, review."
    ),
    (
        "Ladder",
        "incidents_kept",
    ): "Temporary-suspension incidents kept on the account state for the doubling.",
    ("Corroboration", "required"): "A lone `threshold` finding needs corroboration before it suspends.",
    ("Corroboration", "within_hours"): "How near in event time the corroborating violation must be.",
    ("Corroboration", "uncorroborated"): "What an uncorroborated finding gets instead of a suspension.",
    ("Ladder", "recent_violation_ids"): "Violation ids kept on the account state to drop redeliveries early.",
    ("TemporarySuspension", "base_hours"): "Length of a first temporary suspension.",
    ("TemporarySuspension", "factor"): "Multiplier per temporary suspension the ladder imposed before.",
    ("TemporarySuspension", "max_days"): "Cap on a temporary suspension's length.",
    ("Rule", "clause"): "The AUP clause the rule detects (docs/clauses.md).",
    ("Rule", "title"): "Short title shown in violations and notifications.",
    ("Rule", "severity"): "Severity of a finding: picks the ladder's action.",
    ("Rule", "confidence_bar"): "A finding below this confidence goes to review instead of the ladder.",
    ("Rule", "review_only"): "Every finding of the rule goes to review; the ladder never acts on its own.",
    ("Rule", "dry_run"): "Record and report `would_...` for this rule only; no flag changes.",
    ("Rule", "enabled"): "A disabled rule's findings are dropped before the ladder.",
    ("Windows", "rate_seconds"): "Length of a rate window (D5a, D1 error bursts, D2, W5 crawl ratio).",
    ("Windows", "retention_hours"): "Hours a counter item outlives its window (TTL).",
    ("RequestFlood", "rate_factor"): "Threshold: the plan's sustained requests/s times this, over a window.",
    ("RequestFlood", "base_confidence"): "Confidence of a bare rate breach; each machine sign adds 0.15.",
    ("RequestFlood", "min_gaps_for_timing"): "Inter-arrival gaps needed before timing regularity is judged.",
    ("RequestFlood", "non_browser_share"): "Share of non-browser agents at or above which confidence rises.",
    ("DailyUsage", "far_beyond_factor"): "Requests or egress per day above the plan's limit times this.",
    ("Probing", "error_statuses"): "Statuses counted as errors for an error burst.",
    ("Probing", "error_burst_distinct_paths"): (
        "Distinct routes (paths with their record ids collapsed) answered with an error in one window."
    ),
    ("Probing", "error_burst_min_ratio"): "Share of the window's requests that are errors.",
    ("Probing", "payload_min_hits"): "Requests with traversal/SQLi/XSS fragments per account and hour.",
    ("Probing", "scanner_min_hits"): "Requests with a scanner user agent per account and hour.",
    ("BreakIn", "failure_statuses"): "Statuses counted as authentication failures.",
    ("BreakIn", "account_failure_ratio"): "Share of the account's requests in the window that failed.",
    ("BreakIn", "source_failure_ratio"): "Share of the source's requests in the window that failed.",
    ("BreakIn", "stuffing_failures"): "Failures from one source in a window for key stuffing.",
    ("BreakIn", "account_path_markers"): "Path segments followed by an account id (`/accounts/<id>/...`).",
    ("BreakIn", "foreign_denied_statuses"): "Statuses of a denied request for another account's resource.",
    ("BreakIn", "foreign_min_hits"): "Denied requests for other accounts' resources per hour.",
    ("Scraping", "enumeration_max_step"): "Largest id step still counted as sequential.",
    (
        "Scraping",
        "crawl_distinct_ratio",
    ): "Distinct paths / requests in a window at or above which it crawls.",
    ("KeySharing", "min_networks"): "Distinct /24 (IPv4) or /48 (IPv6) networks per hour, at least.",
    ("KeySharing", "networks_per_seat"): "Networks allowed per seat of the plan (the larger bound wins).",
    ("KeySharing", "min_agents"): "Distinct user agents per hour, at least.",
    ("Spoofing", "forwarded_min_hits"): "Requests with a forged X-Forwarded-For chain per account and hour.",
    ("Spoofing", "forwarded_max_hops"): "A longer X-Forwarded-For chain counts as forged.",
    ("Spoofing", "crawler_min_hits"): "Requests whose agent claims to be a search-engine crawler, per hour.",
    ("UploadScanning", "threat_phrases"): "Phrases (lower case) that send a text upload to review (W3).",
    (
        "UploadScanning",
        "attribution_prefix",
    ): "Keys `<prefix><account_id>/...` are attributed; others are not.",
    ("Streaming", "chunk_bytes"): "Bytes read from the object stream at a time.",
    ("Archives", "max_members"): "Members in one archive.",
    (
        "Executables",
        "disguise_extensions",
    ): "Extensions (lower case, no dot) an executable must not hide under.",
    ("Scripts", "handler_confidence"): "Confidence for `on*=` handlers or `javascript:` URLs.",
    ("Scripts", "script_tag_confidence"): "Confidence for `<script>` tags alone (below the bar: review).",
    ("Scripts", "exfiltration_confidence"): "Confidence for scripts that also send data elsewhere.",
    ("PersonalData", "contacts_confidence"): "Confidence of a bulk contact list (below the bar: review).",
    ("PersonalData", "cloud_keys_min"): "Cloud access keys in one file -> W2-cloud-credentials.",
    ("PersonalData", "card_chance_alpha_with_context"): (
        "The same probability bar for numbers next to card words (card, cvv, expiry...)."
    ),
    ("Recipients", "min_addresses"): "E-mail addresses in one file, at least.",
    ("Markup", "parse_limit_bytes"): "HTML/SVG bytes parsed per object.",
    ("Markup", "phishing_brands"): "Brands a login form must not carry (W1-phishing-page).",
    ("Media", "kinds"): "Content kinds (by magic bytes) counted against the media allowance.",
    ("UsageMonitoring", "period_seconds"): "The metrics period (a multiple of 60).",
    ("UsageMonitoring", "consecutive_periods"): "Periods in a row at or above the factor for a breach.",
    ("UsageMonitoring", "accounts_page_size"): "Accounts read from the ledger per page of a sweep.",
    (
        "UsageMonitoring",
        "metrics",
    ): "Metric name (namespace `AUP/Usage`, dimension `AccountId`) -> how it is judged.",
    ("UsageMonitoring", "alarm_confidence"): "Confidence of a finding from an alarm state change.",
    ("MetricRule", "rule_id"): "The rule a breach is reported under (a key of `rules`).",
    ("MetricRule", "statistic"): "CloudWatch statistic read per period.",
    ("MetricRule", "unit"): "The metric's unit, shown in evidence.",
    ("MetricRule", "limit"): "The plan field the metric is judged against.",
    ("MetricRule", "per"): "The limit is a rate per this unit and is scaled to the period; null: a level.",
    ("MetricRule", "scale"): "Converts the plan's unit into the metric's (bytes -> megabytes: 1e-6).",
    ("MetricRule", "enabled"): "A disabled metric is not read.",
}

# Sections whose model has no docstring.
_SECTION_DESCRIPTIONS: dict[str, str] = {
    "Policy": "The policy document.",
    "Rule": "One rule: the clause it detects and how the ladder treats its findings.",
    "TemporarySuspension": "A temporary suspension's length: base, times factor per earlier one, capped.",
    "LogAnalysis": "Thresholds of the access-log rules (`ApiLogAnalyzerFunction`).",
    "UploadScanning": "Thresholds of the upload rules (`UploadScannerFunction`).",
    "Streaming": "How an object is streamed: chunk size, overlap between chunks, time left for the answer.",
}

# Placeholder shown for the key of a mapping of sections (``plans.<plan>``).
_KEY_NAMES = {"plans": "<plan>", "rules": "<rule_id>", "hash_lists": "<name>", "metrics": "<metric>"}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator with deterministic defaults: sets sorted at any depth, not only at the top."""

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(_plain(dft))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: (str(type(v)), v))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model reachable from ``root`` by field annotations, by class name (the schema's $defs keys)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                if found[tp.__name__] is not tp:
                    raise ValueError(f"two policy models are named {tp.__name__}")
                return
            found[tp.__name__] = tp
            for field in tp.model_fields.values():
                visit(field.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(root)
    return found


_TOOL_COMMENT = re.compile(r"#\s*(fmt:|noqa\b|type:\s*ignore|pragma:)")  # for the linters, not the reader


def _source_comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the ``#`` comment on its line(s), or on the comment lines right above it."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT and not _TOOL_COMMENT.match(tok.string)
    }
    cls = ast.parse(source).body[0]
    assert isinstance(cls, ast.ClassDef)
    result: dict[str, str] = {}
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        own = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        above: list[str] = []
        n = node.lineno - 1
        while n >= 1 and n in comments and lines[n - 1].lstrip().startswith("#"):
            above.insert(0, comments[n])
            n -= 1
        text = " ".join(above + own)
        if text:
            result[node.target.id] = text
    return result


def _summary(doc: str | None) -> str:
    """A docstring's first paragraph on one line."""
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def _sentence(comment: str) -> str:
    return comment[:1].upper() + comment[1:]


def _held_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def model_description(model: type[BaseModel]) -> str:
    """A section's description: the first paragraph of its docstring, else the table above."""
    return _summary(model.__doc__) or _SECTION_DESCRIPTIONS.get(model.__name__, "")


def field_descriptions(root: type[BaseModel] = Policy) -> dict[tuple[str, str], str]:
    """(model name, field name) -> description for every field of every policy model ("" when none)."""
    out: dict[tuple[str, str], str] = {}
    for name, model in _models(root).items():
        comments = _source_comments(model)
        for field_name, field in model.model_fields.items():
            held = _held_model(field.annotation)
            out[name, field_name] = (
                field.description
                or _DESCRIPTIONS.get((name, field_name), "")
                or (model_description(held) if held is not None else "")
                or _sentence(comments.get(field_name, ""))
            )
    return out


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the policy document, every field described."""
    schema: dict[str, Any] = Policy.model_json_schema(schema_generator=_Generator, mode="validation")
    models = _models(Policy)
    defs = schema.get("$defs", {})
    for name, model in models.items():
        if name in defs and "description" not in defs[name]:
            defs[name]["description"] = model_description(model)
    for (model_name, field), text in field_descriptions(Policy).items():
        prop = (schema if model_name == Policy.__name__ else defs[model_name])["properties"][field]
        if text and "description" not in prop:
            prop["description"] = text
        info = models[model_name].model_fields[field]
        if info.default_factory is not None and "default" not in prop:  # pydantic leaves these out
            prop["default"] = to_jsonable_python(_plain(info.get_default(call_default_factory=True)))
    # Checks the model makes in a validator that a schema can still state.
    defs["Rule"]["properties"]["clause"]["pattern"] = CLAUSE_RE.pattern
    clauses = CLAUSE_RE.pattern.removeprefix("^").removesuffix("$")
    schema["properties"]["rules"]["propertyNames"] = {"pattern": f"^{clauses}-"}  # named after a clause
    head = {
        "$schema": GenerateJsonSchema.schema_dialect,
        "$comment": f"Generated from aup.policy.document by `{REGENERATE}`; do not edit.",
        "title": "aup-enforcer policy document",
        "description": (
            "The policy the detectors and the ladder read: plans, rules, the ladder and "
            "each signal's thresholds. The default is layers/aup/aup/policy/default_policy.yaml."
        ),
    }
    schema.pop("title", None)
    return head | schema


def schema_text() -> str:
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------
# Markdown


def _md(text: str) -> str:
    """Docstring text for Markdown: ``code`` -> `code`, one line, pipes escaped, no raw HTML outside code."""
    parts = " ".join(text.replace("``", "`").split()).split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-``/``_`` dropped, spaces -> ``-``."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in "-_ ")
    return kept.replace(" ", "-")


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _sections(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(YAML path, model name, its schema) for the root and every nested section, depth first."""
    defs = schema["$defs"]
    out: list[tuple[str, str, dict[str, Any]]] = [("", Policy.__name__, schema)]
    seen = {Policy.__name__}

    def visit(path: str, node: dict[str, Any]) -> None:
        for field, prop in node.get("properties", {}).items():
            here = f"{path}.{field}" if path else field
            for sub_path, sub in _children(here, field, prop):
                name = _ref_name(sub)
                if name is None or name in seen or "properties" not in defs[name]:
                    continue
                seen.add(name)
                out.append((sub_path, name, defs[name]))
                visit(sub_path, defs[name])

    visit("", schema)
    return out


def _children(path: str, field: str, prop: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, prop
    for alt in prop.get("anyOf", []):
        yield path, alt
    extra = prop.get("additionalProperties")
    if isinstance(extra, dict):
        yield f"{path}.{_KEY_NAMES.get(field, '<name>')}", extra


def _type(node: dict[str, Any], defs: dict[str, Any], links: dict[str, str]) -> str:
    name = _ref_name(node)
    if name is not None:
        target = defs[name]
        if "enum" in target:
            return "one of " + ", ".join(f"`{v}`" for v in target["enum"])
        return f"[{name}](#{links[name]})" if name in links else name
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "anyOf" in node:
        alts = node["anyOf"]
        if _is_byte_size(alts):
            return "byte size (integer, or text such as `512MB`, `10GB`: decimal units)"
        return " or ".join(_type(a, defs, links) for a in alts)
    kind = node.get("type")
    if kind == "array":
        items = _type(node.get("items", {}), defs, links)
        return f"{'set' if node.get('uniqueItems') else 'list'} of {items}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        names = node.get("propertyNames", {})
        keys = _type(names, defs, links) if "$ref" in names or "enum" in names else "string"
        return f"map of {keys} → {_type(node['additionalProperties'], defs, links)}"
    return str(kind or "any")


def _is_byte_size(alts: list[dict[str, Any]]) -> bool:
    kinds = sorted(str(a.get("type")) for a in alts)
    return kinds == ["integer", "string"] and any("pattern" in a for a in alts)


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    if "pattern" in node.get("propertyNames", {}):
        parts.append(f"keys match `{node['propertyNames']['pattern']}`")
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            parts.append(f"{sign} {node[key]}")
    if "minLength" in node or "maxLength" in node:
        parts.append(f"length {node.get('minLength', 0)} to {node.get('maxLength', 'any')}")
    if "pattern" in node and "anyOf" not in node:
        parts.append(f"matches `{node['pattern']}`")
    for alt in node.get("anyOf", []):
        if "pattern" not in alt:
            sub = _constraints(alt)
            if sub:
                parts.append(sub)
    return ", ".join(parts)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return ""
    value = prop["default"]
    if isinstance(value, dict) and (_ref_name(prop) or value):
        return "see its section" if _ref_name(prop) else f"`{json.dumps(value)}`"
    return "`" + json.dumps(value, ensure_ascii=False).replace("|", "\\|") + "`"


def _storage_text() -> str:
    """Where the policy lives in SSM and its size limit, with the shipped policy's own sizes."""
    from aup.policy.loader import default_policy_text
    from aup.policy.stored import ADVANCED_LIMIT, PREFIX, STANDARD_LIMIT, encode

    shipped = encode(default_policy_text())
    return (
        f"**Size.** SSM holds at most {STANDARD_LIMIT:,} characters in a Standard parameter and "
        f"{ADVANCED_LIMIT:,} in an Advanced one. A document that fits a Standard parameter as written is "
        f"stored as written; any other as `{PREFIX}` followed by the base64 of the gzip of its compact "
        "JSON (comments and layout dropped; `aup.policy.stored`), in the smallest tier it fits, and the "
        "loader reads either form (plain YAML or JSON written by hand keeps working). The shipped policy "
        f"is {shipped.raw_chars:,} characters as written and {shipped.chars:,} stored ({shipped.tier} "
        "tier). `aupctl policy validate` prints a document's stored size and tier, `aupctl policy encode` "
        f"the value to put; a document over {ADVANCED_LIMIT:,} characters even compressed is refused by "
        "both, by `aupctl policy promote` and by `aupctl local up --policy` / `--shadow-policy` (the local "
        "stack refuses an oversized `PutParameter` as SSM does)."
    )


def reference_text() -> str:
    """The Markdown policy reference: one table per section, every field with type, default, constraints."""
    schema = policy_json_schema()
    defs = schema["$defs"]
    sections = _sections(schema)
    headings = {name: (f"`{path}` ({name})" if path else f"Top level ({name})") for path, name, _ in sections}
    links = {name: _anchor(heading) for name, heading in headings.items()}
    lines = [
        "# Policy reference",
        "",
        f"<!-- Generated from aup.policy.document by `{REGENERATE}`; do not edit. -->",
        "",
        "Every section and field of the policy document, generated from its pydantic model "
        "(`layers/aup/aup/policy/document.py` and `layers/aup/aup/policy/sections/`). The shipped default "
        "is `layers/aup/aup/policy/default_policy.yaml`; an SSM parameter named by `AUP_POLICY_PARAMETER` "
        "(template parameter `PolicyParameterName`) replaces it as a whole, re-read every "
        "`AUP_POLICY_MAX_AGE_SECONDS` (60 s). The same rules as JSON Schema: "
        f"[{SCHEMA_FILE}]({SCHEMA_FILE}) (an editor's YAML plugin can check a document against it).",
        "",
        "Every section forbids unknown keys, so a misspelt threshold fails the cold start with the field "
        "named; a bad new value of the parameter is logged and the last good policy keeps serving. A "
        "document is applied whole or not at all. Beyond the constraints below, the model also checks: "
        "`default_plan` is a plan; each `hash_lists` rule id is a rule; a rule id starts with its clause "
        "(`D5a-request-flood`); `ladder.actions` names every severity; `log_analysis.windows.rate_seconds` "
        "divides an hour; `usage_monitoring.period_seconds` is a multiple of 60 and `lookback_periods` ≥ "
        "`repeat_every_periods` + `consecutive_periods`. Sizes are decimal (`1GB` = 10^9 bytes). Clause ids "
        "are those of [clauses.md](clauses.md).",
        "",
        _storage_text(),
        "",
        "## Sections",
        "",
    ]
    for _path, name, node in sections:
        summary = _md(_summary(node.get("description"))) if name != Policy.__name__ else "the document itself"
        lines.append(f"- [{headings[name]}](#{links[name]}): {summary}")
    for _path, name, node in sections:
        lines += ["", f"## {headings[name]}", ""]
        if name != Policy.__name__ and node.get("description"):
            lines += [_md(node["description"]), ""]
        lines += ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
        required = set(node.get("required", []))
        for field, prop in node["properties"].items():
            lines.append(
                f"| `{field}` | {_type(prop, defs, links)} | {_default(prop, field in required)} "
                f"| {_md(_constraints(prop))} | {_md(prop.get('description', ''))} |"
            )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------


def generated_files() -> dict[str, str]:
    """File name -> content of every generated document."""
    return {SCHEMA_FILE: schema_text(), REFERENCE_FILE: reference_text()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aup.policy.schema", description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="docs", help="directory to write into (default: docs)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    out = Path(args.out)
    stale = []
    for name, text in generated_files().items():
        path = out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(str(path))
        if not args.check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run: {REGENERATE}", file=sys.stderr)
        return 1
    for path_text in stale:
        print(f"wrote {path_text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
