"""requirements/dev.txt (``make lock``) pins, with hashes, an environment that satisfies pyproject.toml.

``make`` installs the lock, then the project with ``--no-deps``: a range added to pyproject.toml that the
lock does not satisfy would otherwise surface as an import error somewhere in the suite.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

LOCK = REPO_ROOT / "requirements" / "dev.txt"
PROJECT = "fleet-baseline"


def _pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every ``name==version`` entry of a pip-compile output."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)\s*(.*)$", line)
        assert match, f"{path.name}: not a pinned requirement: {line!r}"
        name, version, rest = match.groups()
        pins[canonicalize_name(name)] = (version, re.findall(r"--hash=sha256:([0-9a-f]{64})", rest))
    return pins


def _requirements() -> list[Requirement]:
    """Every requirement of the package and of its extras, the project's own self-reference resolved."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        found.extend(Requirement(r) for r in extra if canonicalize_name(Requirement(r).name) != PROJECT)
    return found


def test_the_lock_pins_every_requirement_within_its_range_with_hashes() -> None:
    pins = _pins(LOCK)
    assert PROJECT not in pins  # the project itself is installed from the tree, editable
    problems = []
    for req in _requirements():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req}: not in the lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{req}: the lock pins {pins[name][0]}")
    assert not problems, "run `make lock`: " + "; ".join(problems)
    assert all(hashes for _, hashes in pins.values())  # `pip install --require-hashes` takes it


def test_the_lock_names_no_machine_of_its_own() -> None:
    text = LOCK.read_text(encoding="utf-8")
    assert "file://" not in text and "--index-url" not in text and "--find-links" not in text
    assert "make lock" in text  # its header says how to refresh it
