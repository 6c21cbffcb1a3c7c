"""The locks (`make lock`) are in step with pyproject.toml: every direct dependency pinned, every pin hashed.

requirements/dev.lock is what `make install` installs (`pip install --require-hashes`), the layer's
requirements.txt what `sam build` installs for python3.13/arm64 from requirements/layer.in.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
LAYER_IN = ROOT / "requirements" / "layer.in"
LAYER_LOCK = ROOT / "layers" / "aup" / "requirements.txt"
# Runtime dependencies the layer leaves out: the Lambda runtime provides boto3; click and jinja2 are aupctl's.
NOT_IN_LAYER = {"boto3", "click", "jinja2"}


@dataclass
class Pin:
    name: str
    version: Version
    marker: str
    hashes: list[str] = field(default_factory=list)


def parse_lock(text: str) -> list[Pin]:
    """Pins of a `--generate-hashes` lock; raises on any requirement that is not `name==version`."""
    pins: list[Pin] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, *hashes = (part.strip() for part in line.split("--hash="))
        req = Requirement(spec)
        versions = [s.version for s in req.specifier if s.operator == "=="]
        if len(versions) != 1 or len(req.specifier) != 1 or req.url:
            raise ValueError(f"not pinned with ==: {spec!r}")
        pins.append(Pin(canonicalize_name(req.name), Version(versions[0]), str(req.marker or ""), hashes))
    return pins


def unhashed(pins: list[Pin]) -> list[str]:
    return [p.name for p in pins if not p.hashes or not all(h.startswith("sha256:") for h in p.hashes)]


def out_of_step(requirements: list[Requirement], pins: list[Pin]) -> list[str]:
    """Direct requirements missing from the lock, or pinned (on any marker branch) outside their specifier."""
    problems = []
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    for req in requirements:
        found = by_name.get(canonicalize_name(req.name))
        if not found:
            problems.append(f"{req.name}: not in the lock")
        problems += [
            f"{req}: locked at {p.version}"
            for p in found or []
            if not req.specifier.contains(p.version, True)
        ]
    return problems


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in pyproject()["project"]["dependencies"]]


def dev_requirements() -> list[Requirement]:
    return [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["dev"]]


def layer_requirements() -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in LAYER_IN.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


@pytest.fixture(scope="module")
def dev_pins() -> list[Pin]:
    return parse_lock(DEV_LOCK.read_text())


@pytest.fixture(scope="module")
def layer_pins() -> list[Pin]:
    return parse_lock(LAYER_LOCK.read_text())


def test_every_pin_in_both_locks_is_hashed(dev_pins: list[Pin], layer_pins: list[Pin]) -> None:
    assert len(dev_pins) > len(dev_requirements())
    assert len(layer_pins) >= len(layer_requirements())
    assert unhashed(dev_pins) == []
    assert unhashed(layer_pins) == []


def test_dev_lock_covers_the_runtime_and_the_dev_extras(dev_pins: list[Pin]) -> None:
    assert out_of_step(runtime_requirements() + dev_requirements(), dev_pins) == []
    # `make lock` runs the locked uv.
    assert "uv" in {p.name for p in dev_pins}


def test_layer_input_is_pyprojects_runtime_less_what_the_layer_leaves_out() -> None:
    expected = {
        canonicalize_name(r.name): str(r.specifier)
        for r in runtime_requirements()
        if canonicalize_name(r.name) not in NOT_IN_LAYER
    }
    assert {canonicalize_name(r.name): str(r.specifier) for r in layer_requirements()} == expected


def test_layer_lock_pins_the_layer_input_and_nothing_the_runtime_brings(layer_pins: list[Pin]) -> None:
    assert out_of_step(layer_requirements(), layer_pins) == []
    names = {p.name for p in layer_pins}
    assert names.isdisjoint(NOT_IN_LAYER | {"botocore", "s3transfer"})
    # One platform (python3.13 on arm64): no marker branches.
    assert sorted(p.name for p in layer_pins) == sorted(names)


def test_layer_ships_the_versions_the_tests_run(dev_pins: list[Pin], layer_pins: list[Pin]) -> None:
    dev_versions: dict[str, set[Version]] = {}
    for pin in dev_pins:
        dev_versions.setdefault(pin.name, set()).add(pin.version)
    differ = [
        f"{p.name}=={p.version}" for p in layer_pins if p.version not in dev_versions.get(p.name, set())
    ]
    assert differ == []


def test_the_checks_catch_an_unhashed_pin_a_missing_dependency_and_a_stale_version() -> None:
    pins = parse_lock(
        "# header\n"
        "pydantic==2.5.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via -r in\n"
        "numpy==2.4.6 ; python_full_version < '3.12' \\\n    --hash=sha256:cc\n"
        "numpy==2.5.5 ; python_full_version >= '3.12'\n"
    )
    assert [(p.name, str(p.version), len(p.hashes)) for p in pins] == [
        ("pydantic", "2.5.0", 2),
        ("numpy", "2.4.6", 1),
        ("numpy", "2.5.5", 0),
    ]
    assert unhashed(pins) == ["numpy"]
    assert out_of_step(
        [Requirement("pydantic>=2.7"), Requirement("numpy>=2.0"), Requirement("orjson")], pins
    ) == [
        "pydantic>=2.7: locked at 2.5.0",
        "orjson: not in the lock",
    ]
    with pytest.raises(ValueError, match="not pinned"):
        parse_lock("pyyaml>=6\n")
