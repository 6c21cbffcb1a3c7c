"""The project's documents are in the project and true to it.

- docs/policy.schema.json and docs/policy-reference.md are what the model generates (run `make docs`).
- Every reference to a Markdown file (in .py, .md, .yaml files) and every relative Markdown link
  points at a file, and an anchor, that exist in the repository.
- The design notes that lived outside the repository are not referred to.
- The clause catalogue names every rule and clause of the shipped policy; the architecture page's
  module layout names every module on disk; paths the docs name exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from aup.policy import schema as policy_schema
from aup.policy.document import CLAUSE_RE
from aup.policy.loader import default_policy_text

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "layers" / "aup" / "aup"
SKIP_DIRS = {
    ".git",
    ".venv",
    ".aws-sam",
    ".aupctl",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "__pycache__",
    "node_modules",
    "build",
    "dist",
}
SCANNED = (".py", ".md", ".yaml", ".yml")
# Spelled in two parts so that this file does not refer to them itself.
GONE = ("DESIGN" + ".md", "AUP-CLAUSES" + ".md", "AUP-source" + ".txt")

MD_REF = re.compile(r"(?<![\w/.$-])((?:\.{1,2}/|[\w-]+/)*[\w.-]*[\w-]\.md)(#[\w-]+)?\b")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def repo_files(suffixes: tuple[str, ...] = SCANNED) -> list[Path]:
    """The project's own files: tracked or new, never what .gitignore leaves out (the bench's checkout
    of the old code in .bench/, test artifacts); a walk skipping SKIP_DIRS where git is not there."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        listed = ""
    if listed:
        paths = (ROOT / name for name in listed.split("\0") if name.endswith(suffixes))
        return sorted(p for p in paths if p.is_file())
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        out += [Path(dirpath, f) for f in filenames if f.endswith(suffixes)]
    return sorted(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation but - and _ dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        found.update(HTML_ANCHOR.findall(line))
        m = HEADING.match(line)
        if m:
            base = slug(m.group(1))
            name, n = base, 1
            while name in found:
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return found


def resolve(ref: str, source: Path) -> Path | None:
    """The repository file a reference names: relative to its file, the root, the package or docs/."""
    for base in (source.parent, ROOT, PACKAGE, PACKAGE.parent, DOCS):
        candidate = (base / ref).resolve()
        if candidate.is_relative_to(ROOT) and candidate.exists():
            return candidate
    return None


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- the generated policy reference ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(policy_schema.generated_files()))
def test_generated_reference_is_up_to_date(name: str) -> None:
    expected = policy_schema.generated_files()[name]
    path = DOCS / name
    assert path.exists(), f"docs/{name} is missing: run `make docs`"
    assert path.read_text(encoding="utf-8") == expected, (
        f"docs/{name} is out of date with the policy model: run `make docs` and commit the result"
    )


def test_every_policy_field_is_described() -> None:
    missing = [
        f"{model}.{field}" for (model, field), text in policy_schema.field_descriptions().items() if not text
    ]
    assert not missing, (
        f"policy fields without a description: {missing}. Give each a Field(description=...) or a "
        "trailing # comment in its model, then run `make docs`"
    )


def test_linter_comments_are_no_field_descriptions() -> None:
    """``# fmt: skip`` on a field's last line once became its description ("Fmt: skip")."""
    tool = ("fmt:", "noqa", "type: ignore", "pragma:")
    found = {k: t for k, t in policy_schema.field_descriptions().items() if any(w in t.lower() for w in tool)}
    assert not found
    assert policy_schema.field_descriptions()[("BreakIn", "login_routes")].startswith("Path segments")


def test_the_reference_names_every_field_of_every_section() -> None:
    text = (DOCS / policy_schema.REFERENCE_FILE).read_text(encoding="utf-8")
    for model, field in policy_schema.field_descriptions():
        assert f"({model})" in text, model
        assert f"| `{field}` |" in text, f"{model}.{field}"


def test_the_shipped_policy_validates_against_the_schema() -> None:
    schema = json.loads((DOCS / policy_schema.SCHEMA_FILE).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    document = yaml.safe_load(default_policy_text())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["rules"]["D1-error-burst"].update(clause="X9"), ["rules", "D1-error-burst", "clause"]),
        (lambda d: d["log_analysis"]["probing"].update(sensitiv_min_hits=3), ["log_analysis", "probing"]),
        (lambda d: d["ladder"].update(strikes_to_suspend=0), ["ladder", "strikes_to_suspend"]),
        (lambda d: d["plans"]["free"].update(storage="lots"), ["plans", "free", "storage"]),
        (lambda d: d["rules"].update(bogus={"clause": "D1", "title": "t", "severity": "low"}), ["rules"]),
        (lambda d: d.pop("rules"), []),
    ],
    ids=[
        "unknown-clause",
        "misspelt-threshold",
        "out-of-range",
        "not-a-size",
        "rule-id-without-clause",
        "missing-section",
    ],
)
def test_the_schema_rejects_what_the_model_rejects(change, where) -> None:
    schema = json.loads((DOCS / policy_schema.SCHEMA_FILE).read_text(encoding="utf-8"))
    document = yaml.safe_load(default_policy_text())
    change(document)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors, "the schema accepted a document the model rejects"
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors), [list(e.path) for e in errors]


def test_generation_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Set-valued defaults are sorted at any depth: another process (another str hash seed) agrees."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(PACKAGE.parent)}
    subprocess.run(
        [sys.executable, "-m", "aup.policy.schema", str(tmp_path)], check=True, env=env, capture_output=True
    )
    for name, text in policy_schema.generated_files().items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text, name


def test_check_mode_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_schema.main([str(tmp_path)]) == 0
    assert policy_schema.main(["--check", str(tmp_path)]) == 0
    (tmp_path / policy_schema.SCHEMA_FILE).write_text("{}\n", encoding="utf-8")
    assert policy_schema.main(["--check", str(tmp_path)]) == 1
    assert "make docs" in capsys.readouterr().err


# --- references --------------------------------------------------------------------------------------


def test_design_notes_outside_the_repository_are_not_referred_to() -> None:
    hits = [
        f"{rel(path)}:{n}: {gone}"
        for path in repo_files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for gone in GONE
        if gone in line
    ]
    assert not hits, f"references to notes that are not in the repository (use docs/): {hits}"


def test_every_markdown_reference_points_at_a_file_in_the_repository() -> None:
    broken = []
    for path in repo_files():
        if path == Path(__file__).resolve():  # its own examples of broken references
            continue
        text = path.read_text(encoding="utf-8")
        refs = [(m.group(1), m.group(2)) for m in MD_REF.finditer(text)]
        if path.suffix == ".md":
            for target in MD_LINK.findall(text):
                if re.match(r"^[a-z]+:", target):  # http:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                refs.append((file_part, f"#{anchor}" if anchor else None))
        for ref, anchor in refs:
            target_path = resolve(ref, path) if ref else path
            if target_path is None:
                broken.append(f"{rel(path)}: {ref} does not exist")
            elif anchor and target_path.suffix == ".md" and anchor[1:] not in anchors(target_path):
                broken.append(f"{rel(path)}: {ref}{anchor}: no such heading in {rel(target_path)}")
    assert not broken, "\n".join(broken)


def test_the_reference_checker_catches_a_broken_reference(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A title\n\nSee [it](missing.md) and [here](#a-title).\n", encoding="utf-8")
    assert resolve("missing.md", page) is None
    assert resolve("architecture.md", page) == DOCS / "architecture.md"
    assert anchors(page) == {"a-title"}
    assert [m.group(1) for m in MD_REF.finditer("see docs/clauses.md#g1 or `x/SOURCE.md`")] == [
        "docs/clauses.md",
        "x/SOURCE.md",
    ]


# --- the catalogue and the layout --------------------------------------------------------------------


def _catalogue() -> dict[str, str]:
    rows = {}
    for line in (DOCS / "clauses.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| ([A-Z]\d[ab]?) \|", line)
        if m:
            assert m.group(1) not in rows, f"clause {m.group(1)} has two rows in docs/clauses.md"
            rows[m.group(1)] = line
    return rows


def test_the_catalogue_has_every_clause_and_rule_of_the_shipped_policy() -> None:
    rules = yaml.safe_load(default_policy_text())["rules"]
    rows = _catalogue()
    assert all(CLAUSE_RE.fullmatch(clause) for clause in rows), sorted(rows)
    for rule_id, rule in rules.items():
        assert rule["clause"] in rows, f"clause {rule['clause']} has no row in docs/clauses.md"
        assert f"`{rule_id}`" in rows[rule["clause"]], f"{rule_id} is not in its clause's row"


def test_the_catalogue_names_only_rules_that_exist() -> None:
    rules = set(yaml.safe_load(default_policy_text())["rules"])
    named = set(re.findall(r"`([A-Z]\d[ab]?-[a-z0-9-]+)`", (DOCS / "clauses.md").read_text(encoding="utf-8")))
    assert named - rules == set(), "docs/clauses.md names rules the policy does not have"


def _layout_modules() -> set[str]:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Module layout", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        prefix = ""
        for token in re.findall(r"`([^`]+)`", line.split(" | ")[0]):
            if "/" in token:
                prefix = token.rsplit("/", 1)[0] + "/"
            name = token.rsplit("/", 1)[-1]
            brace = re.fullmatch(r"\{([^}]+)\}(.*)", name)
            names = [f"{part}{brace.group(2)}" for part in brace.group(1).split(",")] if brace else [name]
            named.update(prefix + name for name in names)
    return named


def test_the_module_layout_names_every_module_on_disk() -> None:
    on_disk = {
        rel(p).removeprefix("layers/aup/aup/") for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
    }
    documented = {m for m in _layout_modules() if m.endswith(".py")}
    assert on_disk - documented == set(), "modules missing from docs/architecture.md#module-layout"
    assert documented - on_disk == set(), "docs/architecture.md#module-layout names modules that are gone"


def test_paths_named_in_the_docs_exist() -> None:
    """A backticked repository path in the docs exists: a source file, or a folder whose first part is
    one of the repository's (`aup/logs/` once moved is caught; an S3 prefix like `access-logs/` is not
    a repository path)."""
    missing = []
    for path in [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]:
        bases = (path.parent, ROOT, PACKAGE, PACKAGE.parent)
        for token in re.findall(r"`([^`\s]+)`", path.read_text(encoding="utf-8")):
            if "/" not in token or token.startswith("/") or re.search(r"[<>{}*:]|\.\.\.", token):
                continue
            is_source = re.search(r"\.(py|ya?ml|yar|txt|json|md|toml)$", token)
            in_repo_folder = token.endswith("/") and any((b / token.split("/")[0]).is_dir() for b in bases)
            if not (is_source or in_repo_folder):
                continue
            if resolve(token, path) is None:
                missing.append(f"{rel(path)}: {token}")
    assert not missing, missing
