"""Every control's examples give the verdict they are filed under, and the catalog matches the spec.

Examples are data beside each control (``examples/{pass,fail,unknown}/``). A cloud example is
``{type, properties, params?}``; a Kubernetes example is the object itself. A stack-scoped control's
example is a ``v1 List`` of the objects of one namespace (the Namespace first): it is judged the way
the evaluator judges a whole stack.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from baseline.catalog import Catalog, Control, Example, load_catalog
from baseline.custom import example_subjects
from baseline.evaluator import Evaluator, Finding, intent_params
from baseline.intent import Intent

CATALOG: Catalog = load_catalog()

# The spec: docs' controls.md for the ids this catalog covers (severity, default mode).
EXPECTED: dict[str, tuple[str, str]] = {
    "CL-01": ("high", "enforce"),
    "CL-02": ("high", "enforce"),
    "CL-03": ("high", "enforce"),
    "CL-04": ("critical", "enforce"),
    "CL-05": ("high", "enforce"),
    "CL-06": ("high", "enforce"),
    "CL-07": ("high", "enforce"),
    "CL-08": ("critical", "enforce"),
    "CL-09": ("high", "enforce"),
    "CL-10": ("medium", "audit"),
    "CL-11": ("medium", "audit"),
    "CL-12": ("medium", "audit"),
    "NS-01": ("high", "enforce"),
    "NS-02": ("high", "enforce"),
    "NS-03": ("high", "enforce"),
    "NS-04": ("medium", "enforce"),
    "NS-05": ("medium", "audit"),
    "NS-06": ("low", "audit"),
    "RB-01": ("critical", "enforce"),
    "RB-02": ("high", "enforce"),
    "RB-03": ("high", "enforce"),
    "RB-04": ("high", "enforce"),
    "RB-05": ("critical", "enforce"),
    "RB-06": ("critical", "enforce"),
    "RB-07": ("medium", "enforce"),
    "POD-01": ("critical", "enforce"),
    "POD-02": ("high", "enforce"),
    "POD-03": ("high", "enforce"),
    "POD-04": ("high", "enforce"),
    "POD-05": ("high", "enforce"),
    "POD-06": ("high", "enforce"),
    "POD-07": ("medium", "enforce"),
    "POD-08": ("high", "enforce"),
    "POD-09": ("medium", "enforce"),
    "POD-10": ("medium", "audit"),
    "POD-11": ("high", "enforce"),
    "POD-12": ("low", "audit"),
    "POD-13": ("medium", "enforce"),
    "POD-14": ("high", "enforce"),
    "POD-15": ("medium", "audit"),
    "ST-01": ("critical", "enforce"),
    "ST-02": ("high", "enforce"),
    "ST-03": ("high", "enforce"),
}

# CIS sections and Kubescape ids from controls.md (E = eks, G = gke, A = aks, K = k8s).
EXPECTED_REFERENCES: dict[str, tuple[dict[str, set[str]], set[str]]] = {
    "CL-01": ({"eks": {"5.3.1"}, "gke": {"5.3.1"}, "aks": {"5.3.1"}}, {"C-0066"}),
    "CL-02": ({"eks": {"2.1.1"}, "gke": {"5.7.1"}, "aks": {"2.1.1"}}, {"C-0067"}),
    "CL-03": ({"eks": {"5.4.1", "5.4.2"}, "gke": {"5.6.3", "5.6.4"}, "aks": {"5.4.1", "5.4.2"}}, set()),
    "CL-04": ({"eks": {"5.5.1"}, "gke": {"5.8.1", "5.8.2", "5.8.3"}, "aks": {"5.5.1", "5.5.2"}}, set()),
    "CL-05": ({"eks": {"5.2.1"}, "gke": {"5.2.2"}, "aks": {"5.2.1"}}, set()),
    "CL-06": ({"eks": {"4.3.1", "5.4.4"}, "gke": {"4.3.1"}, "aks": {"5.4.4"}}, set()),
    "CL-07": ({"gke": {"5.4.1"}}, {"C-0052"}),
    "CL-08": ({"k8s": {"4.1.1"}}, {"C-0035"}),
    "CL-09": ({}, set()),
    "NS-01": ({"gke": {"4.2.1"}, "eks": {"4.2.x"}}, set()),
    "NS-02": ({"k8s": {"4.3.2"}}, {"C-0030", "C-0054"}),
    "NS-03": ({}, {"C-0052"}),
    "RB-01": ({"k8s": {"4.1.1"}}, {"C-0035"}),
    "RB-05": ({"gke": {"4.1.8", "4.1.9", "4.1.10"}}, set()),
    "RB-06": ({"eks": {"4.1.7"}}, set()),
}
BEST_PRACTICE = {"CL-09", "ST-01"}

# A small, valid EKS intent: the defaults every example's params are merged over.
_INTENT = Intent.model_validate(
    {
        "baselineVersion": "1.0.0",
        "cluster": {
            "name": "prod-eu-1",
            "cloud": "eks",
            "owner": "platform-team",
            "eks": {"region": "eu-west-1", "subnetIds": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]},
        },
        "access": [
            {
                "name": "platform-admins",
                "role": "cluster-admin",
                "aws": {
                    "principalArn": "arn:aws:iam::111122223333:role/platform-admins",
                    "kubernetesGroups": ["platform-admins"],
                },
            },
            {
                "name": "shop-developers",
                "role": "edit",
                "scope": {"namespaces": ["shop"]},
                "aws": {"principalArn": "arn:aws:iam::111122223333:role/shop-developers"},
            },
        ],
        "namespaces": [
            {"name": "shop", "owner": "shop-team"},
            {"name": "observability", "owner": "platform-team", "podSecurity": "baseline"},
        ],
    }
)
DEFAULT_PARAMS: dict[str, Any] = intent_params(_INTENT, CATALOG)
SYSTEM_NAMESPACES: tuple[str, ...] = tuple(DEFAULT_PARAMS["systemNamespaces"])


@functools.cache
def _evaluator(params_json: str) -> Evaluator:
    """One compiled evaluator per distinct params (most examples share the defaults)."""
    return Evaluator(CATALOG, params=json.loads(params_json), system_namespaces=SYSTEM_NAMESPACES)


# Every name an expression may read as variables.params.X: the intent's, plus what the evaluator adds.
KNOWN_PARAMS = frozenset(_evaluator(json.dumps(DEFAULT_PARAMS, sort_keys=True)).params)


def _cases() -> Iterator[Any]:
    for control in CATALOG:
        for example in control.examples():
            yield pytest.param(control, example, id=f"{control.id}-{example.expect}-{example.path.stem}")


def _findings(control: Control, example: Example) -> list[Finding]:
    evaluator = _evaluator(json.dumps({**DEFAULT_PARAMS, **example.params}, sort_keys=True))
    subjects = example_subjects(example)
    if any(t.scope == "stack" for t in control.applicable_targets()):
        found = evaluator.evaluate_all(subjects)
    else:
        found = [f for s in subjects for f in evaluator.evaluate(s)]
    return [f for f in found if f.control_id == control.id]


@pytest.mark.parametrize(("control", "example"), list(_cases()))
def test_example_verdict(control: Control, example: Example) -> None:
    findings = _findings(control, example)
    assert findings, f"{example.path}: no target of {control.id} applied"
    verdicts = {(f.subject, f.status): f.detail for f in findings}
    assert {f.status for f in findings} == {example.expect}, f"{example.path}: {verdicts}"
    if example.expect == "unknown":
        # unknown because a preview value is unknown, not because the expression broke
        assert all(f.unknown and not f.detail for f in findings), f"{example.path}: {verdicts}"
    else:
        assert all(f.detail is None for f in findings)


def test_failures_carry_the_targets_message() -> None:
    for control in CATALOG:
        for example in control.examples():
            if example.expect != "fail":
                continue
            messages = {t.message for t in control.applicable_targets() if not t.message_expression}
            spoken = any(t.message_expression for t in control.applicable_targets())
            for finding in _findings(control, example):
                # a target with a messageExpression says its own text (tests/baseline/test_evaluator_messages.py)
                assert finding.message in messages or (spoken and finding.message), finding.message


def test_the_catalog_is_exactly_the_spec() -> None:
    assert sorted(CATALOG.ids()) == sorted(EXPECTED)


@pytest.mark.parametrize("control_id", sorted(EXPECTED))
def test_severity_and_default_mode_match_the_spec(control_id: str) -> None:
    control = CATALOG[control_id]
    assert (control.severity, control.default_mode) == EXPECTED[control_id]


@pytest.mark.parametrize("control_id", sorted(EXPECTED_REFERENCES))
def test_references_match_the_spec(control_id: str) -> None:
    cis, kubescape = EXPECTED_REFERENCES[control_id]
    refs = CATALOG[control_id].references
    got: dict[str, set[str]] = {}
    for ref in refs.cis:
        got.setdefault(ref.benchmark, set()).add(ref.section)
    assert got == cis
    assert set(refs.kubescape) == kubescape
    assert refs.best_practice == (control_id in BEST_PRACTICE)


@pytest.mark.parametrize("control", list(CATALOG), ids=lambda c: c.id)
def test_every_control_has_pass_and_fail_examples(control: Control) -> None:
    kinds = {e.expect for e in control.examples()}
    if not control.applicable_targets():
        # applies nowhere yet (every target a named "covered by" entry): nothing to judge
        assert all(t.not_applicable for t in control.targets) and not kinds
        return
    assert {"pass", "fail"} <= kinds


@pytest.mark.parametrize("control", list(CATALOG), ids=lambda c: c.id)
def test_names_and_prose(control: Control) -> None:
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", control.policy_name)
    assert control.policy_name.startswith(control.id.lower() + "-")
    # one sentence: ends with a period, and no sentence break inside
    assert control.description.endswith(".")
    assert not re.search(r"[.!?]\s+[A-Z]", control.description), control.description
    for target in control.applicable_targets():
        assert target.message and target.message[-1] in ".)", target.message


@pytest.mark.parametrize("control", list(CATALOG), ids=lambda c: c.id)
def test_examples_target_what_the_control_checks(control: Control) -> None:
    types = {t.type for t in control.applicable_targets() if t.type}
    kinds = {k.kind for t in control.applicable_targets() for k in t.kinds}
    for example in control.examples():
        subjects = example_subjects(example)
        judged = [s for s in subjects if s.type in types or (s.kube_kind is not None and s.kube_kind[1] in kinds)]
        # a stack-scoped example holds other objects of the namespace too; a plain one is the subject
        assert judged if len(subjects) > 1 else judged == subjects, example.path


def test_params_used_by_controls_exist_in_the_intent() -> None:
    """``variables.params.X`` in any expression must be a key intent_params produces."""
    used: set[str] = set()
    for target in CATALOG.targets():
        texts = [target.expression, *(v.expression for v in target.variables)]
        for text in texts:
            used.update(re.findall(r"variables\.params\.(\w+)", text))
    assert used <= KNOWN_PARAMS, sorted(used - KNOWN_PARAMS)


def test_example_params_override_known_keys_only() -> None:
    for control in CATALOG:
        for example in control.examples():
            assert set(example.params) <= KNOWN_PARAMS, example.path
