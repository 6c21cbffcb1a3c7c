"""The before/after benches run each older checkout on its own code only.

The venv installs this checkout editable; its import finder would answer for a module an older tree
lacks, so a driver's "this layout, or the one before" fallback would measure this checkout's code in
the older tree's column. ``in_tree`` removes that finder first.
"""

from __future__ import annotations

from pathlib import Path

from tests.bench.bench_logs import in_tree

_PROBE = r"""
import importlib, json
try:
    importlib.import_module("aup.adapters.aws")
    found = "imported"
except ImportError:
    found = "missing"
import aup
print("RESULT " + json.dumps({"found": found, "aup": list(aup.__path__)}))
"""


def test_a_module_the_older_tree_lacks_is_not_taken_from_this_checkout(tmp_path: Path) -> None:
    package = tmp_path / "layers" / "aup" / "aup"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""an older layout: no adapters package"""\n')

    out = in_tree(tmp_path, _PROBE)

    assert out["aup"] == [str(package)]
    assert out["found"] == "missing"


def test_the_older_trees_own_modules_still_import(tmp_path: Path) -> None:
    package = tmp_path / "layers" / "aup" / "aup" / "adapters"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "aws.py").write_text("OLD = True\n")

    assert in_tree(tmp_path, _PROBE)["found"] == "imported"
