"""Findings that point at the fix: a target's messageExpression names the offending container, image,
variable or rule, and the evaluator, the pack and every admission engine say that one text;
remediation can differ per target (a cloud's own knobs)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from baseline.catalog import Example, load_catalog
from baseline.cel import compile_check
from baseline.cli import main
from baseline.evaluator import Evaluator, Subject
from baseline.intent import Intent
from providers.admission import render_admission

CATALOG = load_catalog()
INTENT = Intent.model_validate(
    {
        "baselineVersion": "1.0.0",
        "cluster": {"name": "prod", "cloud": "eks", "owner": "platform",
                    "eks": {"region": "eu-west-1", "subnetIds": ["subnet-a", "subnet-b"]}},
        "registries": {"allowed": ["registry.example.com/"]},
    }
)
EVALUATOR = Evaluator.for_intent(INTENT, CATALOG)
POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {
        "containers": [
            {"name": "app", "image": "registry.example.com/api:1.0",
             "env": [{"name": "LOG_LEVEL", "value": "debug"}, {"name": "DB_PASSWORD", "value": "hunter2"}]},
            {"name": "sidecar", "image": "nginx:1.27", "env": [{"name": "STRIPE_API_KEY", "value": "sk_live"}]},
        ]
    },
}
NAMED = ("POD-04", "POD-05", "POD-06", "POD-11", "POD-14", "RB-02")


def messages(obj: dict[str, Any]) -> dict[str, str]:
    return {f.control_id: f.message for f in EVALUATOR.evaluate(Subject(obj)) if f.status == "fail"}


def test_failures_name_what_to_fix() -> None:
    said = messages(POD)
    assert "container app sets DB_PASSWORD" in said["POD-14"] and "container sidecar sets STRIPE_API_KEY" in said[
        "POD-14"]
    assert "LOG_LEVEL" not in said["POD-14"]
    assert "docker.io/library/nginx:1.27" in said["POD-11"] and "registry.example.com/api" not in said["POD-11"]
    for cid in ("POD-04", "POD-05", "POD-06"):
        assert "app" in said[cid] and "sidecar" in said[cid], (cid, said[cid])
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "ops"},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
                      {"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]}
    rb02 = messages(role)["RB-02"]
    assert 'apiGroups: [""], resources: [secrets], verbs: [*]' in rb02 and "deployments" not in rb02


def test_an_expression_that_errs_falls_back_to_the_fixed_message() -> None:
    nameless = json.loads(json.dumps(POD))
    del nameless["spec"]["containers"][0]["name"]  # c.name errs in the expression, as in the engines
    said = messages(nameless)
    assert said["POD-14"] == CATALOG["POD-14"].targets[0].message


def _fail_examples() -> list[Any]:
    return [pytest.param(c.id, e, id=f"{c.id}-{e.path.stem}") for c in CATALOG for e in c.examples()
            if e.expect == "fail" and any(t.message_expression for t in c.targets)]


@pytest.mark.parametrize(("control_id", "example"), _fail_examples())
def test_every_message_expression_speaks_on_its_controls_failures(control_id: str, example: Example) -> None:
    """On each failing example the expression gives text (neither an error nor a non-string)."""
    plain = Intent.model_validate({k: v for k, v in INTENT.model_dump(by_alias=True, exclude_defaults=True).items()
                                   if k != "registries"})  # the catalog's examples assume the defaults
    evaluator = Evaluator.for_intent(plain, CATALOG, params=dict(example.params))
    obj = example.object
    items = obj["items"] if obj.get("kind") == "List" else [obj]
    found = [f for item in items for f in evaluator.evaluate(Subject(item, type=example.type))
             if f.control_id == control_id and f.status == "fail"]
    assert found, example.path
    fixed = {t.message for t in CATALOG[control_id].targets}
    assert all(f.message not in fixed for f in found), [f.message for f in found]


def test_every_named_control_has_a_message_expression() -> None:
    assert all(CATALOG[cid].targets[0].message_expression for cid in NAMED)


@pytest.mark.parametrize("engine", ["vap", "kyverno", "gatekeeper"])
def test_every_engine_says_the_evaluators_text(engine: str) -> None:
    manifests = render_admission(INTENT, CATALOG, engine, dt.date(2026, 1, 1))
    want = messages(POD)
    for cid in ("POD-04", "POD-05", "POD-06", "POD-11", "POD-14"):
        if engine == "gatekeeper":
            template = next(m for m in manifests if m["kind"] == "ConstraintTemplate"
                            and m["metadata"]["labels"]["fleet-baseline.io/control"] == cid)
            constraint = next(m for m in manifests if m["kind"] == template["spec"]["crd"]["spec"]["names"]["kind"])
            source = template["spec"]["targets"][0]["code"][0]["source"]
            variables = [(v["name"], v["expression"]) for v in source["variables"]]
            validation = source["validations"][0]
            data = {"object": POD, "variables": {"params": constraint["spec"]["parameters"]}}
        else:
            policy = next(m for m in manifests if m["kind"] in ("ValidatingAdmissionPolicy", "ValidatingPolicy")
                          and m["metadata"]["labels"]["fleet-baseline.io/control"] == cid)
            variables = [(v["name"], v["expression"]) for v in policy["spec"]["variables"]]
            validation = policy["spec"]["validations"][0]
            data = {"object": POD, "variables": {}}
        assert validation["message"] == CATALOG[cid].targets[0].message  # the fallback the engines keep
        program = compile_check(validation["messageExpression"], variables, where=f"{engine} {cid}").program
        from baseline.cel import new_activation

        result = program.eval(new_activation(data))
        assert " ".join(str(result.value()).split()) == want[cid], (engine, cid)


def test_pod_14_names_the_variable_in_table_json_and_sarif(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "api.yaml").write_text(yaml.safe_dump(POD))
    for fmt in ("table", "json", "sarif"):
        out, err = io.StringIO(), io.StringIO()
        code = main(["audit", str(tmp_path), "--format", fmt], out=out, err=err)
        assert code == 1, err.getvalue()
        text = out.getvalue()
        assert "DB_PASSWORD" in text and "STRIPE_API_KEY" in text, fmt
        if fmt == "sarif":
            results = json.loads(text)["runs"][0]["results"]
            assert any("DB_PASSWORD" in r["message"]["text"] for r in results if r["ruleId"].startswith("POD-14"))


@pytest.mark.parametrize(("cloud", "typ"), [("gke", "gcp:container/cluster:Cluster"),
                                            ("aks", "azure-native:containerservice:ManagedCluster")])
def test_cluster_remediation_is_the_clouds_own(cloud: str, typ: str) -> None:
    """CL-04..07 on GKE and AKS never tell a user to set EKS knobs."""
    eks_words = ("eksMode", "launch template", "vpc-cni", "access entries", "eks-pod-identity-agent")
    for cid in ("CL-04", "CL-05", "CL-06", "CL-07"):
        for target in CATALOG[cid].targets:
            if target.cloud != cloud or target.not_applicable is not None:
                continue
            finding_remediation = target.remediation or CATALOG[cid].remediation
            assert not any(w in finding_remediation for w in eks_words), (cid, cloud, finding_remediation)
    # and a finding carries it
    finding = next(f for f in Evaluator(CATALOG).evaluate(Subject({}, type=typ, name="c")) if f.control_id == "CL-04")
    assert finding.remediation == next(t.remediation for t in CATALOG["CL-04"].targets if t.type == typ)
