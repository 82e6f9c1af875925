"""Admission policies rendered from the catalog: valid objects for each engine, the catalog's CEL
verbatim in all three, and the same verdicts as the evaluator (system namespaces, exceptions, modes).

Two catalogs: a small one of this module's own (every shape the renderer must handle: several
admission targets in one control, stack-scoped and cloud targets, params read by field and by index,
cluster-scoped kinds), and the shipped catalog with the sample production intent.
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import functools
import importlib.util
import itertools
import json
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions
from packaging.version import Version

from baseline.catalog import CONTROLS_DIR, Catalog, Target, load_catalog
from baseline.cel import CompiledCheck, compile_check
from baseline.evaluator import Evaluator, Subject, intent_params
from baseline.exceptions import scope_covers
from baseline.intent import ExceptionIntent, Intent
from baseline.loader import IntentError, intent_from_config, read_stack_config
from baseline.system_namespaces import CONTROL_PLANE_CONDITION, control_plane_expression, merged_system_namespaces
from providers.admission import (
    ANNOTATION_EXCEPTION_PREFIX,
    ENGINE_NAMESPACES,
    ENGINES,
    LABEL_BASELINE_VERSION,
    LABEL_MANAGED_BY,
    AdmissionRenderError,
    admission_policy_name,
    admission_targets,
    cel_literal,
    exception_guard,
    gatekeeper_kind,
    glob_to_regex,
    is_admission_enforced,
    not_enforced_reason,
    params_for,
    params_used,
    render_admission,
    system_namespaces,
)


def _load_helper() -> Any:
    """tests/ is not a package (pytest's importlib mode): load the CRD helper beside this file."""
    name = "fleet_baseline_tests_crd_validation"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("crd_validation.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


crd = _load_helper()
VAP = "ValidatingAdmissionPolicy"
REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 1, 1)

# --------------------------------------------------------------------------- a catalog of our own

CONTROLS = {
    "CL-60": """
id: CL-60
slug: cloud-only
title: Cloud only
description: A cloud resource check.
severity: high
defaultMode: enforce
rationale: r
remediation: Fix it.
references: {bestPractice: true}
targets:
  - type: aws:eks/cluster:Cluster
    expression: has(object.name)
    message: No name.
  - cloud: aks
    notApplicable: covered by CL-61
""",
    "NS-60": """
id: NS-60
slug: owned-and-no-metadata-egress
title: Namespaces owned, no metadata egress
description: Namespaces name an owner and no policy opens the metadata range.
severity: medium
defaultMode: enforce
rationale: r
remediation: Add the label; drop the egress rule.
references: {bestPractice: true}
targets:
  - kinds: [Namespace]
    variables:
      - name: labels
        expression: "has(object.metadata.labels) ? object.metadata.labels : {}"
    expression: "'fleet-baseline.io/owner' in variables.labels"
    message: The namespace names no owner.
  - kinds: [NetworkPolicy]
    expression: >-
      !has(object.spec.egress) || object.spec.egress.all(e, !has(e.to) ||
      e.to.all(t, !has(t.ipBlock) || t.ipBlock.cidr != variables.params['metadataCidr']))
    message: A policy allows egress to the metadata range.
  - kinds: [Namespace]
    scope: stack
    expression: namespaceObjects.exists(o, o.kind == 'NetworkPolicy')
    message: No network policy.
""",
    "RB-60": """
id: RB-60
slug: no-wildcard-verbs
title: No wildcard verbs
description: No role grants every verb.
severity: high
defaultMode: enforce
rationale: r
remediation: List the verbs.
references: {bestPractice: true}
targets:
  - kinds: [Role, ClusterRole]
    variables:
      - name: rules
        expression: "has(object.rules) ? object.rules : []"
    expression: "variables.rules.all(r, !has(r.verbs) || !('*' in r.verbs))"
    message: A rule grants every verb.
""",
    "POD-60": """
id: POD-60
slug: no-privileged
title: No privileged containers
description: No container runs privileged.
severity: critical
defaultMode: enforce
rationale: r
remediation: Remove securityContext.privileged.
references: {bestPractice: true}
targets:
  - kinds: workloads
    variables: [podSpec, containers]
    expression: >-
      variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) ||
      c.securityContext.privileged == false)
    message: A container runs privileged.
""",
    "POD-61": """
id: POD-61
slug: allowed-registries
title: Allowed registries
description: Images come from the intent's registries.
severity: high
defaultMode: audit
rationale: r
remediation: Push the image to an allowed registry.
references: {bestPractice: true}
targets:
  - kinds: workloads
    variables: [podSpec, containers]
    expression: >-
      variables.containers.all(c, variables.params.allowedRegistries.exists(r, c.image.startsWith(r)))
    message: An image comes from a registry the intent does not allow.
""",
    "POD-62": """
id: POD-62
slug: no-host-pid
title: No hostPID
description: Pods do not share the host PID namespace.
severity: high
defaultMode: enforce
rationale: r
remediation: Remove hostPID.
references: {bestPractice: true}
targets:
  - kinds: workloads
    variables: [podSpec]
    expression: "!has(variables.podSpec.hostPID) || variables.podSpec.hostPID == false"
    message: hostPID is on.
""",
}


def _exception(control: str, scope: dict[str, Any], expires: str = "2030-06-30", **more: Any) -> dict[str, Any]:
    return {
        "control": control,
        "scope": scope,
        "owner": "platform-team",
        "reason": f"{control} needs room while the agent is replaced",
        "expires": expires,
        **more,
    }


INTENT: dict[str, Any] = {
    "baselineVersion": "1.0.0",
    "cluster": {
        "name": "prod",
        "cloud": "eks",
        "owner": "platform",
        "eks": {"region": "eu-west-1", "subnetIds": ["subnet-a", "subnet-b"]},
    },
    "namespaces": [
        {"name": "shop", "owner": "shop-team"},
        {"name": "observability", "owner": "platform-team", "podSecurity": "baseline"},
    ],
    "registries": {"allowed": ["registry.example.com/"]},
    "admission": {"modes": {"POD-62": "off"}},
    "exceptions": [
        _exception("POD-60", {"namespace": "observability"}, ticket="OPS-1"),
        _exception("POD-60", {"objectName": "debug-*"}),
        _exception("POD-60", {"namespace": "shop"}, expires="2025-12-31"),  # expired the day before TODAY
        _exception("NS-60", {"namespace": "legacy"}, ticket="OPS-2"),
        _exception("RB-60", {"namespace": "shop", "objectName": "ci-?"}),
        _exception("POD-61", {"cluster": True}),
        _exception("POD-62", {"cluster": True}),  # its control is off: nothing to except
    ],
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = tmp_path_factory.mktemp("catalog")
    shutil.copy(CONTROLS_DIR / "_library.yaml", root / "_library.yaml")
    for cid, text in CONTROLS.items():
        (root / cid).mkdir()
        (root / cid / "control.yaml").write_text(text)
    return load_catalog(root)


@pytest.fixture(scope="module")
def intent() -> Intent:
    return Intent.model_validate(INTENT)


def _with(**over: Any) -> Intent:
    data = copy.deepcopy(INTENT)
    data.update(over)
    return Intent.model_validate(data)


def _sample_intent() -> Intent:
    """stacks/Pulumi.eks-prod.yaml + intents/prod.yaml; while controls its exceptions name are still
    being added to the catalog, accept those ids (the loader's own tests check the references)."""
    config = read_stack_config(REPO / "stacks" / "Pulumi.eks-prod.yaml")
    try:
        return intent_from_config(config, base_dir=REPO / "stacks")
    except IntentError:
        ids = {f"{a}-{n:02d}" for a in ("CL", "NS", "RB", "POD", "ST") for n in range(1, 100)}
        return intent_from_config(config, base_dir=REPO / "stacks", known_controls=ids)


@pytest.fixture(scope="module")
def sample() -> Intent:
    return _sample_intent()


def _cases(catalog: Catalog, intent: Intent, sample: Intent) -> Iterator[tuple[str, Intent, Catalog | None]]:
    yield "own", intent, catalog
    yield "shipped", sample, None


def by_kind(manifests: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: Iterable[Mapping[str, Any]], name: str, kind: str | None = None) -> Mapping[str, Any]:
    """The one object of that name (VAP policies and their bindings share names: give the kind)."""
    found = [m for m in manifests if m["metadata"]["name"] == name and kind in (None, m["kind"])]
    assert len(found) == 1, name
    return found[0]


# --------------------------------------------------------------------------- which targets


def test_only_object_scoped_kubernetes_targets_are_admission_targets(catalog: Catalog) -> None:
    cloud, not_applicable = catalog["CL-60"].targets
    assert not is_admission_enforced(cloud) and "CrossGuard" in (not_enforced_reason(cloud) or "")
    assert not is_admission_enforced(not_applicable) and "aks" in (not_enforced_reason(not_applicable) or "")
    ns_owner, netpol, stack = catalog["NS-60"].targets
    assert is_admission_enforced(ns_owner) and is_admission_enforced(netpol)
    assert not is_admission_enforced(stack) and "stack-scoped" in (not_enforced_reason(stack) or "")
    assert admission_targets(catalog["NS-60"]) == (ns_owner, netpol)
    assert admission_targets(catalog["CL-60"]) == ()
    # several admission targets: suffixed by index; one: the control's own name
    assert admission_policy_name(catalog["NS-60"], netpol) == "fleet-baseline-ns-60-owned-and-no-metadata-egress-1"
    rb = catalog["RB-60"]
    assert admission_policy_name(rb, rb.targets[0]) == "fleet-baseline-rb-60-no-wildcard-verbs"


@pytest.mark.parametrize("engine", ENGINES)
def test_one_unit_per_admission_target_of_every_control_not_off(engine: str, catalog: Catalog, intent: Intent) -> None:
    out = render_admission(intent, catalog, engine, TODAY)
    policy_kind = {"vap": VAP, "kyverno": "ValidatingPolicy", "gatekeeper": "ConstraintTemplate"}
    controls = [m["metadata"]["annotations"]["fleet-baseline.io/target"] for m in by_kind(out, policy_kind[engine])]
    assert controls == ["NS-60#0", "NS-60#1", "RB-60#0", "POD-60#0", "POD-61#0"]  # CL-60: cloud, POD-62: off
    assert render_admission(intent, catalog, engine, TODAY) == out  # deterministic
    assert json.dumps(render_admission(intent, catalog, engine, TODAY)) == json.dumps(out)


def test_the_engine_comes_from_the_intent_unless_given(catalog: Catalog) -> None:
    kyverno = _with(admission={"engine": "kyverno"})
    assert {m["apiVersion"] for m in render_admission(kyverno, catalog, today=TODAY)} == {"policies.kyverno.io/v1"}
    assert by_kind(render_admission(kyverno, catalog, "gatekeeper", TODAY), "ConstraintTemplate")
    with pytest.raises(AdmissionRenderError, match="unknown admission engine"):
        render_admission(kyverno, catalog, "opa", TODAY)


# --------------------------------------------------------------------------- valid objects


def _k8s_versions() -> list[str]:
    """Every minor version kubernetes_validate ships from 1.30 (VAP v1 GA) to its newest."""
    minors = {".".join(v.split(".")[:2]) for v in all_versions()}
    versions = sorted((v for v in minors if Version(v) >= Version("1.30")), key=Version)
    assert versions and versions[0] == "1.30"
    return versions


@pytest.fixture(scope="module")
def crds() -> Any:
    return crd.crd_index()


def test_kubernetes_validate_is_strict() -> None:
    """The check below would mean little if unknown fields passed."""
    bad = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
           "metadata": {"name": "x"}, "spec": {"policyName": "x", "validationActions": ["Deny"], "bogus": 1}}
    with pytest.raises(jsonschema.ValidationError):
        kubernetes_validate.validate(bad, "1.30", strict=True)


@pytest.mark.parametrize("version", _k8s_versions())
def test_vap_objects_validate_strictly(version: str, catalog: Catalog, intent: Intent, sample: Intent) -> None:
    for _, which, cat in _cases(catalog, intent, sample):
        out = render_admission(which, cat, "vap", TODAY)
        assert out
        for manifest in out:
            kubernetes_validate.validate(manifest, version, strict=True)


def test_crd_helper_is_strict(crds: Any) -> None:
    good = {"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException", "metadata": {"name": "x"},
            "spec": {"policyRefs": [{"name": "p", "kind": "ValidatingPolicy"}]}}
    crds.validate(good)
    for where in ("spec", "top"):
        bad = copy.deepcopy(good)
        (bad["spec"] if where == "spec" else bad)["bogus"] = 1
        with pytest.raises(jsonschema.ValidationError):
            crds.validate(bad)
    with pytest.raises(LookupError, match="no version"):
        crds.validate({**good, "apiVersion": "policies.kyverno.io/v9"})


def _metadata_problems(manifest: Mapping[str, Any]) -> list[str]:
    """ObjectMeta through the API schema (CRDs leave metadata open), and label/annotation syntax."""
    meta = manifest["metadata"]
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}, _k8s_versions()[-1],
                                 strict=True)
    key = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
    value = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
    problems = [f"label {k}={v}" for k, v in meta.get("labels", {}).items() if not (key.match(k) and value.match(v))]
    problems += [f"annotation {k}" for k in meta.get("annotations", {}) if not key.match(k)]
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", meta["name"]):
        problems.append(f"name {meta['name']}")
    return problems


def test_kyverno_objects_validate_against_the_served_crd_version(
    crds: Any, catalog: Catalog, intent: Intent, sample: Intent
) -> None:
    for _, which, cat in _cases(catalog, intent, sample):
        out = render_admission(which, cat, "kyverno", TODAY)
        assert {m["kind"] for m in out} >= {"ValidatingPolicy", "PolicyException"}
        for manifest in out:
            crds.validate(manifest)
            assert not _metadata_problems(manifest)


def test_gatekeeper_objects_validate(crds: Any, catalog: Catalog, intent: Intent, sample: Intent) -> None:
    for _, which, cat in _cases(catalog, intent, sample):
        out = render_admission(which, cat, "gatekeeper", TODAY)
        templates = {m["spec"]["crd"]["spec"]["names"]["kind"]: m for m in by_kind(out, "ConstraintTemplate")}
        constraints = [m for m in out if m["apiVersion"] == "constraints.gatekeeper.sh/v1beta1"]
        assert len(templates) == len(constraints) > 0
        for template in templates.values():
            crds.validate(template)
            kind = template["spec"]["crd"]["spec"]["names"]["kind"]
            assert template["metadata"]["name"] == kind.lower()
            assert re.fullmatch(r"[a-z]([a-z0-9]{0,62})", template["metadata"]["name"])  # a CRD plural
            schema = template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]
            assert not list(crd.structural_problems(schema))
            (code,) = template["spec"]["targets"][0]["code"]
            assert code["engine"] == "K8sNativeValidation"
            assert set(code["source"]) <= {"generateVAP", "failurePolicy", "matchCondition", "variables", "validations"}
        for constraint in constraints:
            template = templates[constraint["kind"]]
            jsonschema.validate(constraint, crd.constraint_schema(template))
        for manifest in out:
            assert not _metadata_problems(manifest)


def test_gatekeeper_kind_fits_a_crd_plural() -> None:
    long = "fleet-baseline-pod-99-" + "-".join(["very-long-slug"] * 8)
    kind = gatekeeper_kind(long)
    assert len(kind) <= 63 and kind.lower().isalnum() and kind[0].isupper()
    assert gatekeeper_kind(long) == kind and gatekeeper_kind(long + "-x") != kind
    assert gatekeeper_kind("fleet-baseline-rb-60-no-wildcard-verbs") == "FleetBaselineRb60NoWildcardVerbs"


# --------------------------------------------------------------------------- the same CEL everywhere


def _cel_of(engine: str, manifests: list[Mapping[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """target key -> (variables except params, validation expressions), as each engine carries them."""
    out: dict[str, tuple[Any, ...]] = {}
    for m in manifests:
        key = m["metadata"]["annotations"]["fleet-baseline.io/target"]
        if m["kind"] in {"ValidatingAdmissionPolicy", "ValidatingPolicy"}:
            spec = m["spec"]
            assert spec["variables"][0]["name"] == "params"
            variables, validations = spec["variables"][1:], spec["validations"]
        elif m["kind"] == "ConstraintTemplate":
            source = m["spec"]["targets"][0]["code"][0]["source"]
            variables, validations = source.get("variables", []), source["validations"]
            assert all(v["name"] != "params" for v in variables)
        else:
            continue
        out[key] = (
            tuple((v["name"], v["expression"]) for v in variables),
            tuple((v["expression"], v["message"]) for v in validations),
        )
    return out


def test_three_engines_carry_identical_expressions(catalog: Catalog, intent: Intent, sample: Intent) -> None:
    for _, which, cat in _cases(catalog, intent, sample):
        seen = {e: _cel_of(e, render_admission(which, cat, e, TODAY)) for e in ENGINES}
        assert seen["vap"] == seen["kyverno"] == seen["gatekeeper"]
        # and it is the catalog's text, verbatim
        for control in cat or load_catalog():
            for target in admission_targets(control):
                if which.mode_for(control.id, control.default_mode) == "off":
                    continue
                variables, validations = seen["vap"][target.key]
                assert variables == tuple((v.name, v.expression) for v in target.variables)
                assert validations == ((target.expression, target.message),)


def _all_cel(manifest: Mapping[str, Any]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Every CEL text in a manifest, each with the variables in scope for it."""
    spec = manifest["spec"]
    if manifest["kind"] == "ConstraintTemplate":
        spec = spec["targets"][0]["code"][0]["source"]
    for mc in spec.get("matchConditions", []) + spec.get("matchCondition", []):
        yield mc["expression"], []
    variables = [(v["name"], v["expression"]) for v in spec.get("variables", [])]
    for i, (_, expr) in enumerate(variables):
        yield expr, variables[:i]
    for v in spec.get("validations", []):
        yield v["expression"], variables


@pytest.mark.parametrize("engine", ENGINES)
def test_every_rendered_expression_compiles(engine: str, catalog: Catalog, intent: Intent, sample: Intent) -> None:
    for _, which, cat in _cases(catalog, intent, sample):
        for manifest in render_admission(which, cat, engine, TODAY):
            if "spec" not in manifest or manifest["kind"] == "ValidatingAdmissionPolicyBinding":
                continue
            for expression, scope in _all_cel(manifest):
                compile_check(expression, scope, where=f"{manifest['metadata']['name']}")


class _Dyn:
    def __init__(self, value: Any) -> None:
        self.value = value


def _parse_literal(text: str) -> Any:
    """Read a rendered params literal back: it is JSON plus dyn(), which Python can evaluate as such."""
    return eval(text, {"__builtins__": {}}, {"dyn": _Dyn, "null": None, "true": True, "false": False})


def _cel_type(node: Any) -> str:
    """The literal's CEL type, failing like Kubernetes' HomogeneousAggregateLiterals type-check would."""
    if isinstance(node, _Dyn):
        _cel_type(node.value)
        return "dyn"
    if isinstance(node, list | dict):
        values = list(node.values()) if isinstance(node, dict) else node
        types = [_cel_type(v) for v in values]
        concrete = {t for t in types if t != "dyn"}
        assert len(concrete) <= 1, f"heterogeneous literal {node!r}: {types}"
        element = concrete.pop() if concrete else ("dyn" if types else "?")
        return f"map(string, {element})" if isinstance(node, dict) else f"list({element})"
    return {type(None): "null", bool: "bool", int: "int", float: "double", str: "string"}[type(node)]


def _unwrap(node: Any) -> Any:
    if isinstance(node, _Dyn):
        return _unwrap(node.value)
    if isinstance(node, dict):
        return {k: _unwrap(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unwrap(v) for v in node]
    return node


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": "x"},
        {"a": "x", "b": ["y", "z"], "c": {"k": "v"}, "d": 3, "e": True, "f": None, "g": 1.5, "h": []},
        {"levels": {"a": "baseline", "b": "restricted"}, "mixed": ["x", 1, ["y"], {"k": [1, "2"]}]},
        {"quote": "it's \"q\" \\ back\nslash\ttab \u0001 é ☃ \u2028"},
    ],
)
def test_params_literal_is_homogeneous_cel_with_the_same_value(value: dict[str, Any]) -> None:
    text = cel_literal(value)
    assert _cel_type(_parse_literal(text)).startswith("map(")
    assert _unwrap(_parse_literal(text)) == value
    # through the CEL runtime: the literal, as a variable, equals the same value given as data
    same = compile_check("variables.params == object", [("params", text)])
    assert same.run({"object": value, "variables": {}}) == (True, None)
    assert same.run({"object": {**value, "extra": 1}, "variables": {}}) == (False, None)


def test_params_literal_rejects_what_cel_cannot_hold() -> None:
    for bad in ({"x": float("nan")}, {"x": 2**70}, {"x": object()}, {1: "x"}):
        with pytest.raises(AdmissionRenderError):
            cel_literal(bad)


def test_every_rendered_params_literal_round_trips(catalog: Catalog, intent: Intent, sample: Intent) -> None:
    for _, which, cat in _cases(catalog, intent, sample):
        params = intent_params(which, cat or load_catalog())
        for manifest in by_kind(render_admission(which, cat, "vap", TODAY), "ValidatingAdmissionPolicy"):
            literal = manifest["spec"]["variables"][0]["expression"]
            parsed = _parse_literal(literal)
            _cel_type(parsed)
            value = _unwrap(parsed)
            assert value == {k: params[k] for k in value}, manifest["metadata"]["name"]


def _target(expression: str, *variables: tuple[str, str]) -> Target:
    from baseline.catalog import Variable

    return Target("POD-99", 0, expression=expression, variables=tuple(Variable(n, e) for n, e in variables))


def test_params_used_reads_fields_indexes_and_whole_uses() -> None:
    assert params_used(_target("variables.params.a == 1 && has(variables.params.b)")) == {"a", "b"}
    assert params_used(_target("variables.params['c'] == variables.params[\"d\"]", ("v", "variables.params.?e"))) == {
        "c", "d", "e"}
    assert params_used(_target("object.x == 1")) == frozenset()
    assert params_used(_target("variables.params[object.kind] == 1")) is None
    assert params_used(_target("size(variables.params) > 0")) is None
    assert params_used(_target("variables.paramsX == 1")) == frozenset()
    params = {"a": 1, "b": 2, "z": 3}
    assert params_for(_target("variables.params.b + variables.params.a + variables.params.missing"), params) == {
        "a": 1, "b": 2}
    assert params_for(_target("size(variables.params) > 0"), params) == params


def test_each_policy_gets_only_the_params_it_reads(catalog: Catalog, intent: Intent) -> None:
    out = render_admission(intent, catalog, "vap", TODAY)
    literals = {m["metadata"]["annotations"]["fleet-baseline.io/target"]: m["spec"]["variables"][0]["expression"]
                for m in by_kind(out, "ValidatingAdmissionPolicy")}
    assert literals["POD-60#0"] == "{}"
    assert literals["POD-61#0"] == '{"allowedRegistries": ["registry.example.com/"]}'
    assert literals["NS-60#1"] == '{"metadataCidr": "169.254.0.0/16"}'
    gk = render_admission(intent, catalog, "gatekeeper", TODAY)
    constraint = named(gk, "fleet-baseline-pod-61-allowed-registries")
    assert constraint["spec"]["parameters"] == {"allowedRegistries": ["registry.example.com/"]}
    template = named(gk, constraint["kind"].lower())
    assert template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"] == {
        "type": "object", "properties": {"allowedRegistries": {"type": "array", "items": {"type": "string"}}}}


def test_gatekeeper_reserved_variable_names_are_refused(tmp_path: Path, intent: Intent) -> None:
    shutil.copy(CONTROLS_DIR / "_library.yaml", tmp_path / "_library.yaml")
    (tmp_path / "POD-70").mkdir()
    reserved = "variables: [podSpec, {name: anyObject, expression: object}]"
    text = CONTROLS["POD-62"].replace("POD-62", "POD-70").replace("variables: [podSpec]", reserved)
    (tmp_path / "POD-70" / "control.yaml").write_text(text)
    cat = load_catalog(tmp_path)
    render_admission(intent, cat, "vap", TODAY)
    with pytest.raises(AdmissionRenderError, match="anyObject"):
        render_admission(intent, cat, "gatekeeper", TODAY)


# --------------------------------------------------------------------------- modes, labels


@pytest.mark.parametrize("engine", ENGINES)
def test_modes_map_to_actions_and_off_renders_nothing(engine: str, catalog: Catalog) -> None:
    modes = {"POD-60": "enforce", "POD-61": "audit", "RB-60": "off", "NS-60": "audit"}
    out = render_admission(_with(admission={"modes": modes}), catalog, engine, TODAY)
    controls = {m["metadata"]["annotations"]["fleet-baseline.io/control"] for m in out}
    assert "RB-60" not in controls and "POD-62" in controls
    for m in out:
        mode = m["metadata"]["annotations"]["fleet-baseline.io/mode"]
        cid = m["metadata"]["annotations"]["fleet-baseline.io/control"]
        assert mode == modes.get(cid, "enforce")
        if m["kind"] in {"ValidatingAdmissionPolicyBinding", "ValidatingPolicy"}:
            assert m["spec"]["validationActions"] == (["Deny"] if mode == "enforce" else ["Audit", "Warn"])
        if m["apiVersion"] == "constraints.gatekeeper.sh/v1beta1":
            assert m["spec"]["enforcementAction"] == ("deny" if mode == "enforce" else "warn")
        if m["kind"] == "ValidatingAdmissionPolicy":
            assert m["spec"]["failurePolicy"] == "Fail"
        if m["kind"] == "ValidatingPolicy":
            assert m["spec"]["failurePolicy"] == ("Fail" if mode == "enforce" else "Ignore")
            assert m["spec"]["evaluation"]["background"] == {"enabled": True}
            assert m["spec"]["autogen"]["podControllers"] == {"controllers": []}


def test_a_wave_override_wins(catalog: Catalog) -> None:
    canary = _with(rollout={"wave": "canary"}, admission={"waves": {"canary": {"POD-60": "audit"}}})
    out = render_admission(canary, catalog, "vap", TODAY)
    binding = named(out, "fleet-baseline-pod-60-no-privileged", "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Audit", "Warn"]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_object_is_labeled_and_annotated(engine: str, catalog: Catalog, intent: Intent) -> None:
    for m in render_admission(intent, catalog, engine, TODAY):
        labels, annotations = m["metadata"]["labels"], m["metadata"]["annotations"]
        assert labels[LABEL_BASELINE_VERSION] == "1.0.0"
        assert labels[LABEL_MANAGED_BY] == "fleet-baseline"
        control = catalog[annotations["fleet-baseline.io/control"]]
        assert annotations["fleet-baseline.io/severity"] == control.severity


# --------------------------------------------------------------------------- system namespaces


def test_system_namespaces_are_one_list_plus_the_engines_own(intent: Intent) -> None:
    base = merged_system_namespaces("eks")  # the catalog's list for the intent's cloud
    assert base[:3] == ("kube-system", "kube-public", "kube-node-lease") and "amazon-guardduty" in base
    assert system_namespaces(intent, "vap") == base
    assert system_namespaces(intent, "kyverno") == (*base, "kyverno")
    assert system_namespaces(intent, "gatekeeper") == (*base, "gatekeeper-system")
    custom = _with(systemNamespaces=["kube-system", "istio-system"])
    assert system_namespaces(custom, "kyverno") == (*base, "istio-system", "kyverno")
    removed = _with(systemNamespaces={"add": ["istio-system"], "remove": ["amazon-guardduty"]})
    assert system_namespaces(removed, "vap") == (*(n for n in base if n != "amazon-guardduty"), "istio-system")


@pytest.mark.parametrize("engine", ENGINES)
def test_system_namespaces_excluded_from_ns_and_pod_controls_only(engine: str, catalog: Catalog) -> None:
    which = _with(systemNamespaces=["kube-system", "istio-system"])
    system = list(system_namespaces(which, engine))
    out = render_admission(which, catalog, engine, TODAY)
    for m in out:
        cid = m["metadata"]["annotations"]["fleet-baseline.io/control"]
        exempt = catalog[cid].exempts_system_namespaces
        if m["kind"] in {"ValidatingAdmissionPolicy", "ValidatingPolicy"}:
            match = m["spec"]["matchConstraints"]
            selector = match.get("namespaceSelector")
            assert selector == ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                                       "values": system}]} if exempt else None)
            namespaces_rule = [r for r in match.get("excludeResourceRules", []) if r["resources"] == ["namespaces"]]
            is_ns_target = any("namespaces" in r["resources"] for r in match["resourceRules"])
            assert [r["resourceNames"] for r in namespaces_rule] == ([system] if exempt and is_ns_target else [])
        if m["apiVersion"] == "constraints.gatekeeper.sh/v1beta1":
            excluded = m["spec"]["match"].get("excludedNamespaces", [])
            assert excluded[: len(system)] == system if exempt else "istio-system" not in excluded


# --------------------------------------------------------------------------- exceptions


def test_exception_guards_cover_what_the_evaluator_covers(catalog: Catalog) -> None:
    """The CEL guard and baseline.exceptions.scope_covers agree on every (scope, object) pair."""
    kinds = catalog.kinds
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("shop", "legacy", "debug-1")
    ] + [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}}
        for name, ns in itertools.product(("web", "debug-1", "ci-1", "ci-12", "a.b", "x[1]"), ("shop", "legacy"))
    ] + [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": n}}
        for n in ("ci-1", "web")
    ]
    scopes = [{"cluster": True}, {"namespace": "shop"}, {"namespace": "legacy"}, {"objectName": "debug-*"},
              {"objectName": "ci-?"}, {"namespace": "shop", "objectName": "ci-?"}, {"objectName": "web"},
              {"objectName": "a.b"}, {"objectName": "x[[]1]"}, {"objectName": "[!w]*"}]
    kind_sets = [[kinds["Namespace"]], [kinds["Pod"]], [kinds["Role"], kinds["ClusterRole"]],
                 [kinds["Namespace"], kinds["Pod"]], [kinds["ClusterRole"]]]
    for scope, kind_set in itertools.product(scopes, kind_sets):
        exc = ExceptionIntent.model_validate(_exception("POD-60", scope))
        guard = exception_guard(exc, kind_set)
        for obj in objects:
            if not any(k.kind == obj["kind"] for k in kind_set):
                continue
            expected = scope_covers(exc, Subject(obj))
            if guard is None:
                assert not expected, (scope, obj)
                continue
            assert compile_check(guard).run({"object": obj}) == (expected, None), (scope, obj, guard)


@pytest.mark.parametrize("glob", ["debug-*", "ci-?", "a.b", "x[[]1]", "[!w]*", "*", "[a-c]x*", "a+b(c)", "un[closed",
                                  "back\\slash", "[]]x", "[!]]x", "^$|{}"])
def test_glob_to_regex_matches_like_fnmatch(glob: str) -> None:
    names = ["debug-1", "debug-", "ci-1", "ci-12", "a.b", "axb", "x[1]", "x1", "web", "bx", "cxx", "dx", "a+b(c)",
             "aab(c)", "un[closed", "unclosed", "back\\slash", "]x", "ax", "^$|{}", ""]
    program = compile_check(f"object.name.matches({json.dumps(glob_to_regex(glob))})")
    for name in names:
        assert program.run({"object": {"name": name}}) == (fnmatch.fnmatchcase(name, glob), None), (glob, name)


def test_exceptions_are_rendered_natively_per_engine(catalog: Catalog, intent: Intent) -> None:
    vap = render_admission(intent, catalog, "vap", TODAY)
    pod60 = named(vap, "fleet-baseline-pod-60-no-privileged", VAP)
    assert pod60["spec"]["matchConditions"][0]["name"] == CONTROL_PLANE_CONDITION  # then the exceptions
    conditions = [c["expression"] for c in _exception_conditions(pod60["spec"]["matchConditions"])]
    assert conditions == [
        '!((has(object.metadata.namespace) ? object.metadata.namespace : "") == "observability")',
        '!(has(object.metadata.name) && object.metadata.name.matches("^debug-.*$"))',
    ]
    # a cluster-wide exception: the policy matches nothing until it expires
    assert [c["expression"] for c in _exception_conditions(named(vap, "fleet-baseline-pod-61-allowed-registries",
                                                                 VAP)["spec"]["matchConditions"])] == ["!(true)"]
    # the namespace exception of NS-60 covers the Namespace object by name and NetworkPolicies inside it
    assert _exception_conditions(named(vap, "fleet-baseline-ns-60-owned-and-no-metadata-egress-0", VAP)["spec"][
        "matchConditions"])[0]["expression"] == '!(object.metadata.name == "legacy")'
    # RB-60 has a cluster-scoped kind: the namespace+name scope reads the namespace, "" for a ClusterRole
    rb60 = named(vap, "fleet-baseline-rb-60-no-wildcard-verbs", VAP)
    assert "ci-.$" in _exception_conditions(rb60["spec"]["matchConditions"])[0]["expression"]

    kyverno = render_admission(intent, catalog, "kyverno", TODAY)
    exceptions = by_kind(kyverno, "PolicyException")
    refs = sorted((e["spec"]["policyRefs"][0]["name"], e["spec"].get("matchConditions", [{}])[0].get("expression"))
                  for e in exceptions)
    assert refs == sorted([
        ("fleet-baseline-pod-60-no-privileged", conditions[0][2:-1]),
        ("fleet-baseline-pod-60-no-privileged", conditions[1][2:-1]),
        ("fleet-baseline-ns-60-owned-and-no-metadata-egress-0", 'object.metadata.name == "legacy"'),
        ("fleet-baseline-ns-60-owned-and-no-metadata-egress-1",
         '(has(object.metadata.namespace) ? object.metadata.namespace : "") == "legacy"'),
        ("fleet-baseline-rb-60-no-wildcard-verbs", _exception_conditions(named(
            vap, "fleet-baseline-rb-60-no-wildcard-verbs", VAP)["spec"]["matchConditions"])[0]["expression"][2:-1]),
        ("fleet-baseline-pod-61-allowed-registries", None),  # cluster-wide: no conditions, every object
    ])
    assert all(e["metadata"]["namespace"] == ENGINE_NAMESPACES["kyverno"] for e in exceptions)
    assert {e["spec"]["expiresAt"] for e in exceptions} == {"2030-07-01T00:00:00Z"}

    gk = render_admission(intent, catalog, "gatekeeper", TODAY)
    system = list(system_namespaces(intent, "gatekeeper"))
    constraint = named(gk, "fleet-baseline-pod-60-no-privileged")
    assert constraint["spec"]["match"]["excludedNamespaces"] == [*system, "observability"]
    template = named(gk, constraint["kind"].lower())
    source = template["spec"]["targets"][0]["code"][0]["source"]
    assert [c["expression"] for c in source["matchCondition"]] == [
        "object != null", control_plane_expression(), conditions[1]]
    assert "matchConditions" not in source  # Gatekeeper's decoder reads the singular key only
    assert named(gk, "fleet-baseline-ns-60-owned-and-no-metadata-egress-1")["spec"]["match"][
        "excludedNamespaces"] == [*system, "legacy"]


def test_a_namespace_exception_does_not_leak(catalog: Catalog, intent: Intent) -> None:
    for engine in ENGINES:
        out = render_admission(intent, catalog, engine, TODAY)
        for m in out:
            text = json.dumps(m)
            if re.search(r"(?<![-\w])observability(?![-\w])", text):  # not aws-observability, a system one
                assert m["metadata"]["annotations"]["fleet-baseline.io/target"] == "POD-60#0", (engine, m["kind"])
    constraints = {m["metadata"]["name"]: m for m in render_admission(intent, catalog, "gatekeeper", TODAY)
                   if m["apiVersion"].startswith("constraints.")}
    system = list(system_namespaces(intent, "gatekeeper"))
    assert constraints["fleet-baseline-pod-61-allowed-registries"]["spec"]["match"]["excludedNamespaces"] == system


@pytest.mark.parametrize("engine", ENGINES)
def test_expired_exceptions_are_not_rendered(engine: str, catalog: Catalog, intent: Intent) -> None:
    def rendered_scopes(today: dt.date) -> set[tuple[str, str]]:
        out = render_admission(intent, catalog, engine, today)
        return {(a["control"], a["scope"]) for a in _exception_annotations(out)}

    # POD-60's exception for "shop" holds through 2025-12-31, its last day
    assert ("POD-60", "namespace=shop") in rendered_scopes(dt.date(2025, 12, 31))
    assert ("POD-60", "namespace=shop") not in rendered_scopes(TODAY)
    later = render_admission(intent, catalog, engine, dt.date(2031, 1, 1))  # every exception expired
    assert not _exception_annotations(later)
    assert not by_kind(later, "PolicyException")
    assert not [m for m in later if _exception_conditions(m["spec"].get("matchConditions", []))
                or "exception" in json.dumps(m["spec"])]
    gk_excluded = [m["spec"]["match"].get("excludedNamespaces", []) for m in later if "match" in m["spec"]]
    assert all("shop" not in e and "observability" not in e for e in gk_excluded)


def _exception_conditions(conditions: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """The match conditions that render exceptions (the request conditions come first)."""
    return [c for c in conditions if c["name"].startswith(ANNOTATION_EXCEPTION_PREFIX)]


def _exception_annotations(out: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(v) for m in out for k, v in m["metadata"]["annotations"].items()
            if k.startswith(ANNOTATION_EXCEPTION_PREFIX)]


@pytest.mark.parametrize("engine", ENGINES)
def test_each_rendered_exception_carries_owner_reason_expiry_ticket(engine: str, catalog: Catalog,
                                                                    intent: Intent) -> None:
    out = render_admission(intent, catalog, engine, TODAY)
    by_scope = {(a["control"], a["scope"]): a for a in _exception_annotations(out)}
    assert set(by_scope) == {
        ("POD-60", "namespace=observability"), ("POD-60", "name=debug-*"), ("NS-60", "namespace=legacy"),
        ("RB-60", "namespace=shop,name=ci-?"), ("POD-61", "cluster"),
    }
    assert by_scope[("POD-60", "namespace=observability")] == {
        "control": "POD-60", "scope": "namespace=observability", "owner": "platform-team",
        "reason": "POD-60 needs room while the agent is replaced", "expires": "2030-06-30", "ticket": "OPS-1"}
    assert "ticket" not in by_scope[("POD-60", "name=debug-*")]


def test_exception_names_do_not_depend_on_the_order_of_the_list(catalog: Catalog) -> None:
    forward = render_admission(_with(), catalog, "kyverno", TODAY)
    backward = render_admission(_with(exceptions=list(reversed(INTENT["exceptions"]))), catalog, "kyverno", TODAY)
    assert sorted(m["metadata"]["name"] for m in forward) == sorted(m["metadata"]["name"] for m in backward)


# --------------------------------------------------------------------------- the verdicts themselves


def _namespace_of(obj: Mapping[str, Any]) -> str | None:
    if obj["apiVersion"] == "v1" and obj["kind"] == "Namespace":
        return str(obj["metadata"]["name"])
    return obj["metadata"].get("namespace")


@functools.cache
def _compiled(expression: str, variables: tuple[tuple[str, str], ...]) -> CompiledCheck:
    return compile_check(expression, variables)


#: What the API server passes a policy for a CREATE by a person (not the control plane).
_CREATE_REQUEST = {"operation": "CREATE", "userInfo": {"username": "alice@example.com", "groups": ["developers"]}}


def _holds(expression: str, obj: Mapping[str, Any], variables: Iterable[tuple[str, str]] = (),
           given: Mapping[str, Any] | None = None) -> bool:
    data = {"object": obj, "oldObject": None, "request": _CREATE_REQUEST, "variables": dict(given or {})}
    verdict, error = _compiled(expression, tuple(variables)).run(data)
    assert error is None, (expression, error)
    return bool(verdict)


def _resource(catalog: Catalog, obj: Mapping[str, Any]) -> tuple[str, str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    ref = next(k for k in catalog.kinds.values() if (k.group, k.kind) == (group, obj["kind"]))
    return group, version, ref.plural


def _rules_match(rules: list[Mapping[str, Any]], resource: tuple[str, str, str], name: str,
                 names: bool = False) -> bool:
    group, version, plural = resource
    return any(group in r["apiGroups"] and version in r["apiVersions"] and plural in r["resources"]
               and "CREATE" in r["operations"] and (not names or name in r.get("resourceNames", [name]))
               for r in rules)


def _vap_like_fails(policy: Mapping[str, Any], obj: Mapping[str, Any], catalog: Catalog,
                    excepted: Any = lambda: False) -> bool:
    """Does a VAP-shaped policy (VAP, or Kyverno's ValidatingPolicy) deny or report this CREATE?"""
    spec = policy["spec"]
    match = spec["matchConstraints"]
    resource = _resource(catalog, obj)
    if not _rules_match(match["resourceRules"], resource, obj["metadata"]["name"]):
        return False
    if _rules_match(match.get("excludeResourceRules", []), resource, obj["metadata"]["name"], names=True):
        return False
    namespace = _namespace_of(obj)
    for expr in match.get("namespaceSelector", {}).get("matchExpressions", []):
        assert (expr["key"], expr["operator"]) == ("kubernetes.io/metadata.name", "NotIn")
        if namespace is not None and namespace in expr["values"]:
            return False
    if not all(_holds(c["expression"], obj) for c in spec.get("matchConditions", [])):
        return False
    if excepted():
        return False
    variables = [(v["name"], v["expression"]) for v in spec["variables"]]
    return not all(_holds(v["expression"], obj, variables) for v in spec["validations"])


def _failing(engine: str, out: list[Mapping[str, Any]], obj: Mapping[str, Any], catalog: Catalog) -> set[str]:
    """The controls whose rendered policies deny or report ``obj`` on CREATE, engine semantics."""
    failing: set[str] = set()
    for m in out:
        cid = m["metadata"]["annotations"]["fleet-baseline.io/control"]
        if m["kind"] == "ValidatingAdmissionPolicy":
            assert any(b["spec"]["policyName"] == m["metadata"]["name"]
                       for b in by_kind(out, "ValidatingAdmissionPolicyBinding"))
            if _vap_like_fails(m, obj, catalog):
                failing.add(cid)
        elif m["kind"] == "ValidatingPolicy":
            exceptions = [e for e in by_kind(out, "PolicyException")
                          if any(r["name"] == m["metadata"]["name"] for r in e["spec"]["policyRefs"])]

            def excepted(exceptions: list[Mapping[str, Any]] = exceptions) -> bool:
                return any(all(_holds(c["expression"], obj) for c in e["spec"].get("matchConditions", []))
                           for e in exceptions)

            if _vap_like_fails(m, obj, catalog, excepted):
                failing.add(cid)
        elif m["apiVersion"] == "constraints.gatekeeper.sh/v1beta1":
            match = m["spec"]["match"]
            group = obj["apiVersion"].rpartition("/")[0]
            if not any(group in k["apiGroups"] and obj["kind"] in k["kinds"] for k in match["kinds"]):
                continue
            if _namespace_of(obj) in match.get("excludedNamespaces", []):
                continue
            source = named(out, m["kind"].lower())["spec"]["targets"][0]["code"][0]["source"]
            if not all(_holds(c["expression"], obj) for c in source.get("matchCondition", [])):
                continue
            variables = [(v["name"], v["expression"]) for v in source.get("variables", [])]
            given = {"params": m["spec"]["parameters"]}
            if not all(_holds(v["expression"], obj, variables, given) for v in source["validations"]):
                failing.add(cid)
    return failing


def _expected(evaluator: Evaluator, obj: Mapping[str, Any]) -> set[str]:
    findings = evaluator.evaluate(Subject(obj))
    assert not [f for f in findings if f.status == "unknown"], findings
    return {f.control_id for f in findings if f.status == "fail"}


def _objects() -> Iterator[dict[str, Any]]:
    namespaces = ("shop", "observability", "legacy", "kube-system", "istio-system", "kyverno", "gatekeeper-system")
    for ns, name, privileged, image, host_pid in itertools.product(
        namespaces, ("web", "debug-1"), (True, False), ("registry.example.com/app", "docker.io/app"), (True, False)
    ):
        container = {"name": "c", "image": image, "securityContext": {"privileged": privileged}}
        pod_spec = {"containers": [container], "hostPID": host_pid}
        yield {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": pod_spec}
        yield {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
               "spec": {"template": {"spec": {**pod_spec, "initContainers": [container]}}}}
        yield {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": ns},
               "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}
    for ns, owned in itertools.product(namespaces, (True, False)):
        labels = {"fleet-baseline.io/owner": "team"} if owned else {}
        yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        egress = [{"to": [{"ipBlock": {"cidr": "169.254.0.0/16" if owned else "10.0.0.0/8"}}]}]
        yield {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "allow", "namespace": ns}, "spec": {"podSelector": {}, "egress": egress}}
    for kind, ns, name, verbs in itertools.product(("Role", "ClusterRole"), ("shop", "kube-system"),
                                                   ("ci-1", "ci-12", "web"), (["*"], ["get"])):
        meta = {"name": name, "namespace": ns} if kind == "Role" else {"name": name}
        yield {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
               "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]}


@pytest.mark.parametrize("engine", ENGINES)
def test_rendered_policies_judge_as_the_evaluator_does(engine: str, catalog: Catalog) -> None:
    """Matching, system namespaces, exceptions (in force and expired), params, modes: each engine's
    objects, interpreted with that engine's semantics, fail exactly what the evaluator fails."""
    which = _with(systemNamespaces=["kube-system", "istio-system", "kyverno", "gatekeeper-system"])
    out = render_admission(which, catalog, engine, TODAY)
    evaluator = Evaluator.for_intent(which, catalog, today=TODAY)
    failed: set[str] = set()
    excepted: set[str] = set()
    for obj in _objects():
        expected = _expected(evaluator, obj)
        assert _failing(engine, out, obj, catalog) == expected, obj
        failed |= expected
        excepted |= {f.control_id for f in evaluator.evaluate(Subject(obj)) if f.status == "excepted"}
    # not vacuous: every rendered control failed something, and every exception in force excepted something
    assert failed == {"NS-60", "RB-60", "POD-60"}  # POD-61 is excepted cluster-wide
    assert excepted == {"NS-60", "RB-60", "POD-60", "POD-61"}


def _shipped_objects(catalog: Catalog) -> Iterator[dict[str, Any]]:
    """The shipped catalog's own examples that admission judges (plain objects, decided verdicts)."""
    for control in catalog:
        if not admission_targets(control):
            continue
        for example in control.examples():
            obj = example.object
            if example.expect == "unknown" or "apiVersion" not in obj or obj.get("kind") == "List":
                continue
            group = str(obj["apiVersion"]).rpartition("/")[0]
            if any((k.group, k.kind) == (group, obj["kind"]) for t in admission_targets(control) for k in t.kinds):
                obj = copy.deepcopy(dict(obj))
                obj.setdefault("metadata", {}).setdefault("name", "example")
                yield obj
                for ns in ("observability", "kube-system"):  # an excepted and a system namespace
                    moved = copy.deepcopy(obj)
                    if obj["kind"] == "Namespace":
                        moved["metadata"]["name"] = ns
                    elif "namespace" in obj["metadata"]:
                        moved["metadata"]["namespace"] = ns
                    yield moved


@pytest.mark.parametrize("engine", ENGINES)
def test_shipped_catalog_judges_its_examples_as_the_evaluator_does(engine: str, sample: Intent) -> None:
    catalog = load_catalog()
    out = render_admission(sample, catalog, engine, TODAY)
    evaluator = Evaluator.for_intent(sample, catalog, today=TODAY)
    objects = list(_shipped_objects(catalog))
    assert objects
    for obj in objects:
        assert _failing(engine, out, obj, catalog) == _expected(evaluator, obj), obj


def test_every_param_an_admission_target_reads_is_provided(sample: Intent) -> None:
    catalog = load_catalog()
    params = intent_params(sample, catalog)
    for control in catalog:
        for target in admission_targets(control):
            used = params_used(target)
            missing = sorted((used or set()) - set(params))
            assert not missing, f"{target.key} reads params {missing} that intent_params does not give"
