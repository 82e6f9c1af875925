"""The layers of docs/ARCHITECTURE.md, enforced on every import in the source (function-level and
``TYPE_CHECKING`` imports included: a layer is about what a module needs, not when it loads it).

    core          baseline/*.py (intent, loader, catalog, cel, evaluator, exceptions)
    translation   providers/, policy_packs/          may import: core
    applications  baseline/<app>/ (plan, audit, ...) may import: core, translation, its own package
    commands      baseline/cli/                      may import: anything above
    program       stacks/                            may import: core, translation

An application never imports a sibling application: what two of them share belongs in the core.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("baseline", "providers", "policy_packs", "stacks")
#: Folders of ``baseline/`` that hold data, not code.
DATA_DIRS = frozenset({"controls"})


@dataclass(frozen=True)
class Violation:
    module: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.module} imports {self.imported}: {self.why}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> Iterator[str]:
    """Every module an import statement in the file names (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # `from baseline import fleet` names the subpackage, not the package
            yield from (f"{target}.{a.name}" for a in node.names)


def layer(name: str, apps: frozenset[str]) -> tuple[str, str | None]:
    """(layer, application) of a module of ours; ("external", None) for anything else."""
    top, _, rest = name.partition(".")
    if top in ("providers", "policy_packs"):
        return "translation", None
    if top == "stacks":
        return "program", None
    if top != "baseline":
        return "external", None
    first = rest.split(".")[0] if rest else ""
    if first == "cli":
        return "commands", None
    if first in apps:
        return "application", first
    return "core", None


def applications(root: Path) -> frozenset[str]:
    base = root / "baseline"
    return frozenset(
        p.name
        for p in base.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in {"cli"} | DATA_DIRS
    )


ALLOWED = {
    "core": {"core"},
    "translation": {"core", "translation"},
    "application": {"core", "translation", "application"},  # application: its own only (checked below)
    "commands": {"core", "translation", "application", "commands"},
    "program": {"core", "translation", "program"},
}


def violations(root: Path) -> list[Violation]:
    apps = applications(root)
    found: list[Violation] = []
    seen: set[tuple[str, str, str | None]] = set()
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            module = module_name(root, path)
            src_layer, src_app = layer(module, apps)
            for imported in imports_of(path, module):
                dst_layer, dst_app = layer(imported, apps)
                if dst_layer == "external" or imported in {"baseline", ""} or (module, dst_layer, dst_app) in seen:
                    continue
                if dst_layer not in ALLOWED[src_layer]:
                    why = f"the {src_layer} layer may not import the {dst_layer} layer"
                elif src_layer == dst_layer == "application" and src_app != dst_app:
                    why = f"application {src_app!r} may not import its sibling {dst_app!r}"
                else:
                    continue
                # one violation per module and layer it reaches (`from x import a` names x and x.a)
                seen.add((module, dst_layer, dst_app))
                found.append(Violation(module, imported, why))
    return sorted(found, key=str)


def test_the_source_keeps_its_layers() -> None:
    assert applications(REPO) >= {"plan", "audit", "fleet", "render"}
    assert [str(v) for v in violations(REPO)] == []


def test_the_core_has_no_import_cycle() -> None:
    apps = applications(REPO)
    core = {
        module_name(REPO, p): p
        for p in (REPO / "baseline").glob("*.py")
        if layer(module_name(REPO, p), apps)[0] == "core"
    }
    graph = {m: {i for i in imports_of(p, m) if i in core and i != m and i != "baseline"} for m, p in core.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    assert [m for m in sorted(graph) if reaches(m, m, set())] == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for top in ROOTS:
        (tmp_path / top).mkdir(exist_ok=True)
    return tmp_path


CLEAN = {
    "baseline/__init__.py": "",
    "baseline/catalog.py": "import yaml\n",
    "baseline/evaluator.py": "from baseline.catalog import x\n",
    "baseline/plan/__init__.py": "from baseline.plan.run import y\n",
    "baseline/plan/run.py": "from baseline.evaluator import z\nfrom providers.eks import a\n",
    "baseline/audit/__init__.py": "from . import routing\n",
    "baseline/audit/routing.py": "from ..evaluator import e\n",
    "baseline/cli/__init__.py": "from baseline import plan, audit\n",
    "providers/eks.py": "from baseline.catalog import c\n",
}


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ({"baseline/catalog.py": "from baseline.plan import run\n"}, "baseline.catalog imports baseline.plan"),
        ({"baseline/evaluator.py": "def f():\n    from baseline.audit.routing import r\n"}, "the core layer"),
        ({"baseline/plan/run.py": "from baseline.audit import routing\n"}, "may not import its sibling 'audit'"),
        ({"baseline/audit/routing.py": "from ..plan import run\n"}, "may not import its sibling 'plan'"),
        ({"baseline/plan/run.py": "from baseline import audit\n"}, "may not import its sibling 'audit'"),
        ({"baseline/plan/run.py": "import baseline.cli\n"}, "may not import the commands layer"),
        ({"providers/eks.py": "from baseline.fleet import html\n"}, "the translation layer"),
    ],
    ids=[
        "core-app",
        "core-app-lazy",
        "app-sibling",
        "app-sibling-relative",
        "app-sibling-package",
        "app-cli",
        "provider-app",
    ],
)
def test_a_planted_import_is_caught(tmp_path: Path, planted: dict[str, str], expected: str) -> None:
    root = _tree(tmp_path, CLEAN | {"baseline/fleet/__init__.py": ""})
    assert violations(root) == []
    _tree(root, planted)
    found = [str(v) for v in violations(root)]
    assert any(expected in v for v in found), found
