"""Known answers for manifests with nulls: judged as the API server keeps them (a null is unset).

The API server decodes a manifest into typed objects before admission sees it, so ``rules: null``
is a ClusterRole without rules (what it returns for an aggregated ClusterRole), ``initContainers:
null`` a pod without init containers, and so on. Each case here is judged three ways and must get
the same, decided verdict: the evaluator on the manifest as written, the evaluator on the manifest
with its nulls removed (what the cluster stores), and the rendered ValidatingAdmissionPolicy's own
variables and validation (run with the same CEL runtime) on that stored object.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from baseline.catalog import load_catalog
from baseline.cel import compile_check, drop_nulls
from baseline.evaluator import Evaluator, Subject
from baseline.intent import Intent
from providers.admission import admission_policy_name, admission_targets, render_admission

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
VAP = {m["metadata"]["name"]: m for m in render_admission(INTENT, CATALOG, "vap", dt.date(2026, 1, 1))
       if m["kind"] == "ValidatingAdmissionPolicy"}

HARDENED_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
               "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}


def container(name: str = "app", **more: Any) -> dict[str, Any]:
    return {"name": name, "image": "registry.example.com/app:1.0", "securityContext": copy.deepcopy(HARDENED_SC),
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, **more}


def pod(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop", **metadata},
            "spec": {"automountServiceAccountToken": False, **spec}}


AGGREGATED = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "monitoring"},
    "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]
    },
    "rules": None,
}

# (name, object, {control: verdict}): every control named must be decided this way
CASES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("ephemeral-only pod", pod({"ephemeralContainers": [{**container("debug"), "targetContainerName": "app",
                                                         "securityContext": {"privileged": True}}]}),
     {"POD-01": "fail", "POD-02": "pass", "POD-03": "pass", "POD-11": "pass", "POD-14": "pass"}),
    ("ephemeral-only hardened pod",
     pod({"ephemeralContainers": [{**container("debug"), "targetContainerName": "app"}]}),
     {f"POD-0{i}": "pass" for i in range(1, 10)} | {"POD-10": "pass", "POD-11": "pass", "POD-13": "pass"}),
    ("aggregated ClusterRole, rules: null", AGGREGATED, {"RB-02": "pass", "RB-03": "pass", "RB-04": "pass"}),
    ("initContainers: null", pod({"initContainers": None, "containers": [container()]}),
     {f"POD-0{i}": "pass" for i in range(1, 10)} | {"POD-13": "pass"}),
    ("env: null", pod({"containers": [container(env=None)]}), {"POD-14": "pass"}),
    ("env with a literal token", pod({"containers": [container(env=[{"name": "API_TOKEN", "value": "x"}])]}),
     {"POD-14": "fail"}),
    ("subjects: null", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                        "metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                               "kind": "ClusterRole", "name": "cluster-admin"},
                        "subjects": None}, {"RB-01": "pass", "RB-05": "pass"}),
    ("egress: null", {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": "np", "namespace": "shop"},
                      "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "egress": None}}, {"NS-03": "pass"}),
    ("labels: null", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": None}},
     {"NS-01": "fail", "NS-06": "fail"}),
    ("resources: null", pod({"containers": [container(resources=None)]}), {"POD-13": "fail"}),
    ("container seccompProfile: null under a RuntimeDefault pod",
     pod({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
          "containers": [container(securityContext={**HARDENED_SC, "seccompProfile": None})]}),
     {"POD-07": "pass"}),
    ("pod seccompProfile: null, containers' own", pod({"securityContext": {"seccompProfile": None},
                                                       "containers": [container()]}), {"POD-07": "pass"}),
    ("volume configMap: null (a volume of no type)", pod({"containers": [container()],
                                                          "volumes": [{"name": "v", "configMap": None}]}),
     {"POD-08": "fail"}),
    ("volume hostPath: null beside emptyDir", pod({"containers": [container()],
                                                   "volumes": [{"name": "v", "emptyDir": {}, "hostPath": None}]}),
     {"POD-08": "pass"}),
]


def verdicts(obj: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in EVALUATOR.evaluate(Subject(obj)):
        out[f.control_id] = "fail" if "fail" in (out.get(f.control_id), f.status) else f.status
    return out


def admission_verdict(control_id: str, stored: dict[str, Any]) -> bool | None:
    control = CATALOG[control_id]
    (target,) = admission_targets(control)
    policy = VAP[admission_policy_name(control, target)]
    variables = [(v["name"], v["expression"]) for v in policy["spec"]["variables"]]
    check = compile_check(policy["spec"]["validations"][0]["expression"], variables)
    verdict, error = check.run({"object": stored, "variables": {}})
    assert error is None, (control_id, error)
    return verdict


@pytest.mark.parametrize(("name", "obj", "expected"), CASES, ids=[c[0] for c in CASES])
def test_nulls_mean_absent(name: str, obj: dict[str, Any], expected: dict[str, str]) -> None:
    as_written = verdicts(obj)
    stored = drop_nulls(obj)
    assert stored is not obj or name.startswith(("ephemeral", "env with"))
    as_stored = verdicts(stored)
    for control_id, verdict in expected.items():
        assert as_written.get(control_id) == verdict, (control_id, as_written)
        assert as_stored.get(control_id) == verdict, (control_id, as_stored)
        assert admission_verdict(control_id, stored) is (verdict == "pass"), control_id
    # nothing the manifest holds is left undecided for want of a key
    assert "unknown" not in as_written.values(), as_written


def test_drop_nulls_keeps_what_has_no_null() -> None:
    obj = {"a": {"b": [1, {"c": "null"}]}, "d": "x"}
    assert drop_nulls(obj) is obj
    assert drop_nulls({"a": {"b": None, "c": [None, {"d": None}]}}) == {"a": {"c": [None, {}]}}
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(400):
        node["x"] = {}
        node = node["x"]
    node["y"] = None
    assert drop_nulls(deep) is deep or isinstance(drop_nulls(deep), dict)  # deep objects do not blow the stack


def test_generate_name_names_the_object() -> None:
    metadata: dict[str, str] = {"generateName": "build-", "namespace": "ci"}
    job: dict[str, Any] = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container()]}}}}
    subject = Subject(job)
    assert subject.ref == "Job/ci/build-" and subject.object_name == "build-"
    assert all("None" not in f.subject for f in EVALUATOR.evaluate(subject))
    named = {**job, "metadata": {**metadata, "name": "build-x7k2p"}}
    assert Subject(named).ref == "Job/ci/build-x7k2p"
