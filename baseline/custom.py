"""Custom controls: an organisation's own rules, in its own directories, judged exactly like the built-ins.

A directory of custom controls has the catalog's layout (``<ID>/control.yaml``, ``<ID>/examples/{pass,fail,
unknown}/*.yaml``) and the same format; ids are ``X-<NAME>-NN`` so they can never collide with a built-in
one. An intent names such directories in ``customControls``; :func:`baseline.catalog.intent_catalog` adds
them to the catalog the pack, the admission renders, audit and fleet use.

:func:`check_custom_controls` is ``fleet-baseline controls validate DIR``: the catalog's own load checks
(format, ids, kinds, variables, references), every expression compiled, and every example judged as its
folder says, as the catalog's tests do for the built-ins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baseline.catalog import Catalog, CatalogError, Control, Example, load_catalog
from baseline.cel import CelCompileError
from baseline.evaluator import Evaluator, Finding, Subject

__all__ = ["CustomCheck", "check_custom_controls", "example_subjects"]


@dataclass
class CustomCheck:
    """What ``controls validate`` found: the controls loaded, the examples run, and every problem."""

    directory: str
    controls: list[str] = field(default_factory=list)
    examples: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def example_subjects(example: Example) -> list[Subject]:
    """What a control example judges: the object, or each item of a ``List`` (Kubernetes objects, or
    cloud resources as ``{type, properties}``). The built-ins' example tests use it too."""
    obj = example.object
    if obj.get("apiVersion") == "v1" and obj.get("kind") == "List":
        return [
            Subject(item["properties"], type=item["type"], name=f"r{i}") if "type" in item else Subject(item)
            for i, item in enumerate(obj.get("items", []))
        ]
    return [Subject(obj, type=example.type)]


def _findings(catalog: Catalog, control: Control, example: Example, evaluators: dict[str, Evaluator]) -> list[Finding]:
    key = json.dumps(dict(example.params), sort_keys=True, default=str)
    evaluator = evaluators.get(key)
    if evaluator is None:
        evaluator = evaluators[key] = Evaluator(catalog, params=dict(example.params))
    subjects = example_subjects(example)
    if any(t.scope == "stack" for t in control.applicable_targets()):
        found = evaluator.evaluate_all(subjects)
    else:
        found = [f for s in subjects for f in evaluator.evaluate(s)]
    return [f for f in found if f.control_id == control.id]


def check_custom_controls(directory: str | Path) -> CustomCheck:
    """Load ``directory`` as custom controls beside the built-ins, compile them and run their examples."""
    result = CustomCheck(str(directory))
    try:
        catalog = load_catalog(extra=[directory])
    except CatalogError as exc:
        result.problems.append(str(exc))
        return result
    root = Path(directory).resolve()
    custom = [c for c in catalog if c.directory.parent == root]
    result.controls = [c.id for c in custom]
    try:
        Evaluator(catalog)  # compiles every target's expression and variables
    except CelCompileError as exc:
        result.problems.append(f"{root}: {exc}")
        return result
    evaluators: dict[str, Evaluator] = {}
    for control in custom:
        try:
            examples = list(control.examples())
        except CatalogError as exc:
            result.problems.append(str(exc))
            continue
        kinds = {e.expect for e in examples}
        if not {"pass", "fail"} <= kinds:
            missing = sorted({"pass", "fail"} - kinds)
            result.problems.append(
                f"{control.directory}: no {' or '.join(missing)} example (examples/<verdict>/*.yaml)"
            )
        for example in examples:
            result.examples += 1
            findings = _findings(catalog, control, example, evaluators)
            verdicts: set[Any] = {f.status for f in findings}
            if not findings:
                result.problems.append(f"{example.path}: no target of {control.id} applies to it")
            elif verdicts != {example.expect}:
                details = "; ".join(sorted({f"{f.status}: {f.detail or f.message}" for f in findings}))
                result.problems.append(f"{example.path}: expected {example.expect}, got {details}")
    return result
