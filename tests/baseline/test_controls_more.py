"""NS-04..06, RB-02..04, RB-07, POD-10..15 and ST-03 beyond their examples.

``test_controls.py`` runs every control's examples; these are the cases examples cannot show well:
stack-scope verdicts over a whole set of objects (NS-05, ST-03, with what the in-cluster component
really creates), image reference edge cases (POD-11), the env name heuristic (POD-14), the intent's
API workloads (POD-15) and the Kubernetes built-in roles against the RBAC controls.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest

from baseline.catalog import load_catalog
from baseline.evaluator import Evaluator, Finding, Subject, intent_params
from baseline.intent import Intent
from providers.incluster import BASELINE_VERSION_LABEL, baseline_objects

CATALOG = load_catalog()

INTENT = Intent.model_validate(
    {
        "baselineVersion": "1.0.0",
        "cluster": {
            "name": "prod-eu-1",
            "cloud": "eks",
            "owner": "platform-team",
            "eks": {"region": "eu-west-1", "subnetIds": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]},
        },
        "namespaces": [
            {"name": "shop", "owner": "shop-team"},
            {"name": "payments", "owner": "payments-team"},
        ],
        "workloadIdentities": [
            {
                "name": "reconciler",
                "namespace": "shop",
                "serviceAccount": "reconciler",
                "needsApi": True,
                "aws": {"policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
            },
            {
                "name": "web",
                "namespace": "shop",
                "serviceAccount": "web",
                "aws": {"policyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
            },
        ],
        "registries": {"allowed": ["registry.example.com/"]},
    }
)


def evaluator(**params: Any) -> Evaluator:
    """The intent's evaluator with some params overridden; built once per set of overrides."""
    return _evaluator(json.dumps(params, sort_keys=True))


@functools.cache
def _evaluator(overrides: str) -> Evaluator:
    return Evaluator(CATALOG, params={**intent_params(INTENT, CATALOG), **json.loads(overrides)})


@functools.cache
def intent_evaluator() -> Evaluator:
    return Evaluator.for_intent(INTENT)


def verdicts(findings: list[Finding], control: str) -> dict[str, str]:
    """subject -> status for one control; evaluation errors are failures of the test."""
    out = {}
    for f in findings:
        if f.control_id == control:
            assert f.detail is None, f"{f.subject}: {f.detail}"
            out[f.subject] = f.status
    return out


def status(ev: Evaluator, obj: dict[str, Any], control: str) -> str:
    found = verdicts(ev.evaluate(Subject(obj)), control)
    assert len(found) == 1, found
    return next(iter(found.values()))


# --------------------------------------------------------------------------- NS-05 and ST-03 (stack)


def baseline_subjects() -> list[Subject]:
    """What the in-cluster component creates for the intent: namespaces and their companions."""
    return [Subject(m) for m in baseline_objects(INTENT)]


def without(subjects: list[Subject], kind: str, namespace: str, name: str | None = None) -> list[Subject]:
    def drop(s: Subject) -> bool:
        return (
            s.props.get("kind") == kind
            and s.metadata.get("namespace") == namespace
            and (name is None or s.metadata.get("name") == name)
        )

    return [s for s in subjects if not drop(s)]


def test_component_output_passes_the_stack_controls() -> None:
    findings = evaluator().evaluate_all(baseline_subjects())
    assert verdicts(findings, "NS-05") == {"Namespace/shop": "pass", "Namespace/payments": "pass"}
    assert verdicts(findings, "ST-03") == {"Namespace/shop": "pass", "Namespace/payments": "pass"}
    # and the object-scope controls this change adds, on the same objects
    assert set(verdicts(findings, "NS-06").values()) == {"pass"}
    assert set(verdicts(findings, "RB-07").values()) == {"pass"}


@pytest.mark.parametrize(
    ("kind", "name"), [("LimitRange", None), ("ResourceQuota", None)]
)
def test_ns05_fails_per_missing_companion_and_only_in_that_namespace(kind: str, name: str | None) -> None:
    findings = evaluator().evaluate_all(without(baseline_subjects(), kind, "shop", name))
    assert verdicts(findings, "NS-05") == {"Namespace/shop": "fail", "Namespace/payments": "pass"}


def test_ns05_namespaces_do_not_see_each_others_objects() -> None:
    subjects = baseline_subjects()
    # move shop's LimitRange to payments: payments now has two, shop none
    moved = []
    for s in subjects:
        if s.props.get("kind") == "LimitRange" and s.metadata.get("namespace") == "shop":
            props = copy.deepcopy(dict(s.props))
            props["metadata"]["namespace"] = "payments"
            props["metadata"]["name"] = "limits-2"
            moved.append(Subject(props))
        else:
            moved.append(s)
    found = verdicts(evaluator().evaluate_all(moved), "NS-05")
    assert found == {"Namespace/shop": "fail", "Namespace/payments": "pass"}


def test_ns05_counts_hand_made_companions_but_not_empty_ones() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}}
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "legacy"},
          "spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]}}
    rq = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "legacy"},
          "spec": {"hard": {"pods": "10"}}}
    ev = evaluator()
    assert verdicts(ev.evaluate_all([Subject(o) for o in (ns, lr, rq)]), "NS-05") == {"Namespace/legacy": "pass"}
    empty = copy.deepcopy(rq)
    empty["spec"] = {}
    assert verdicts(ev.evaluate_all([Subject(o) for o in (ns, lr, empty)]), "NS-05") == {"Namespace/legacy": "fail"}


def test_ns05_skips_system_namespaces() -> None:
    ks = Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    assert verdicts(evaluator().evaluate_all([ks]), "NS-05") == {}


@pytest.mark.parametrize(
    ("kind", "name"),
    [("NetworkPolicy", "default-deny"), ("LimitRange", None), ("ResourceQuota", None)],
)
def test_st03_fails_per_missing_companion(kind: str, name: str | None) -> None:
    findings = evaluator().evaluate_all(without(baseline_subjects(), kind, "shop", name))
    assert verdicts(findings, "ST-03") == {"Namespace/shop": "fail", "Namespace/payments": "pass"}


def test_st03_allow_dns_is_not_a_default_deny() -> None:
    # allow-dns is stamped and selects every pod, but is Egress-only: it does not stand in for the deny
    subjects = without(baseline_subjects(), "NetworkPolicy", "payments", "default-deny")
    assert any(s.metadata.get("name") == "allow-dns" and s.metadata.get("namespace") == "payments" for s in subjects)
    assert verdicts(evaluator().evaluate_all(subjects), "ST-03")["Namespace/payments"] == "fail"


def test_st03_without_default_deny_in_the_intent_the_stack_is_incomplete() -> None:
    intent = INTENT.model_copy(update={"network": INTENT.network.model_copy(update={"default_deny": False})})
    subjects = [Subject(m) for m in baseline_objects(intent)]
    assert set(verdicts(evaluator().evaluate_all(subjects), "ST-03").values()) == {"fail"}


@pytest.mark.parametrize("kind", ["NetworkPolicy", "LimitRange", "ResourceQuota"])
def test_st03_hand_made_companions_do_not_count(kind: str) -> None:
    subjects = []
    for s in baseline_subjects():
        if s.props.get("kind") == kind and s.metadata.get("namespace") == "shop":
            props = copy.deepcopy(dict(s.props))
            del props["metadata"]["labels"][BASELINE_VERSION_LABEL]
            s = Subject(props)
        subjects.append(s)
    findings = evaluator().evaluate_all(subjects)
    assert verdicts(findings, "ST-03") == {"Namespace/shop": "fail", "Namespace/payments": "pass"}
    # NS-05 judges protection whoever made it: a hand-made LimitRange or quota still protects
    assert verdicts(findings, "NS-05")["Namespace/shop"] == "pass"


def test_st03_needs_the_namespaces_own_enforce_label() -> None:
    subjects = []
    for s in baseline_subjects():
        if s.props.get("kind") == "Namespace" and s.metadata.get("name") == "payments":
            props = copy.deepcopy(dict(s.props))
            del props["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            s = Subject(props)
        subjects.append(s)
    assert verdicts(evaluator().evaluate_all(subjects), "ST-03") == {
        "Namespace/shop": "pass",
        "Namespace/payments": "fail",
    }


def test_st03_judges_only_namespaces_the_baseline_stamped() -> None:
    foreign = Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}})
    default = Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    findings = evaluator().evaluate_all([foreign, default])
    assert verdicts(findings, "ST-03") == {"Namespace/argocd": "pass", "Namespace/default": "pass"}
    # ... ST-01 neither: a namespace without a stamp was not born from a (stale) template; NS-01
    # is what reports a namespace made outside the baseline without its Pod Security labels
    assert verdicts(findings, "ST-01") == {"Namespace/argocd": "pass", "Namespace/default": "pass"}
    assert verdicts(findings, "NS-01") == {"Namespace/argocd": "fail", "Namespace/default": "fail"}


def test_stack_controls_as_pulumi_resources() -> None:
    """In a preview the subjects are Pulumi kubernetes resources: type tokens and input props."""
    subjects = []
    for m in baseline_objects(INTENT):
        group_version = m["apiVersion"] if "/" in m["apiVersion"] else f"core/{m['apiVersion']}"
        subjects.append(Subject(m, type=f"kubernetes:{group_version}:{m['kind']}", name=m["metadata"]["name"]))
    findings = evaluator().evaluate_all(subjects)
    assert set(verdicts(findings, "ST-03").values()) == {"pass"}
    assert set(verdicts(findings, "NS-05").values()) == {"pass"}


# --------------------------------------------------------------------------- NS-04


def deployment(namespace: str | None = "shop", **pod_spec: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.example.com/app:1.0"}], **pod_spec}
    metadata: dict[str, Any] = {"name": "app"}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"selector": {"matchLabels": {"app": "app"}}, "template": {"spec": spec}},
    }


@pytest.mark.parametrize(
    ("namespace", "expected"), [("shop", "pass"), ("default", "fail"), (None, "fail"), ("", "fail")]
)
def test_ns04_default_or_implicit_namespace(namespace: str | None, expected: str) -> None:
    assert status(evaluator(), deployment(namespace), "NS-04") == expected


# --------------------------------------------------------------------------- POD-11


def pod_with_images(*images: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(images)]},
    }


@pytest.mark.parametrize(
    ("image", "allowed", "expected"),
    [
        # no registry host: Docker Hub
        ("nginx", ["docker.io/"], "pass"),
        ("nginx:1.27", ["docker.io/"], "pass"),
        ("library/nginx", ["docker.io/"], "pass"),
        ("bitnami/redis:7.2", ["docker.io/"], "pass"),
        ("nginx", ["registry.example.com/"], "fail"),
        ("docker.io/library/nginx:1.27", ["docker.io"], "pass"),
        # docker.io/library/ allows official images only
        ("nginx", ["docker.io/library/"], "pass"),
        ("bitnami/redis", ["docker.io/library/"], "fail"),
        # aliases are not resolved: fail closed
        ("index.docker.io/library/nginx", ["docker.io/"], "fail"),
        # ports and localhost make the first component a host
        ("registry:5000/x", ["registry:5000/"], "pass"),
        ("registry:5000/x", ["registry:5000"], "pass"),
        ("registry:5000/x", ["docker.io/"], "fail"),
        ("registry:5000/x", ["registry/"], "fail"),
        ("registry.example.com:5000/app", ["registry.example.com/"], "fail"),
        ("registry.example.com:5000/app", ["registry.example.com"], "fail"),
        ("localhost/app", ["docker.io/"], "fail"),
        ("localhost:5000/app", ["localhost:5000/"], "pass"),
        # a host with uppercase is a host, as in the runtime's parser
        ("Registry/app", ["docker.io/"], "fail"),
        # prefix confusion: matching is at a path boundary
        ("registry.example.com.evil.io/x", ["registry.example.com/"], "fail"),
        ("registry.example.com.evil.io/x", ["registry.example.com"], "fail"),
        ("registry.example.com/team-evil/app", ["registry.example.com/team"], "fail"),
        ("registry.example.com/team/app:1.0", ["registry.example.com/team"], "pass"),
        ("registry.example.com/team/app:1.0", ["registry.example.com/team/"], "pass"),
        # an entry with a path also allows that exact repository with a tag or a digest
        ("ghcr.io/org/agent:2.1", ["ghcr.io/org/agent"], "pass"),
        ("ghcr.io/org/agent@sha256:" + "a" * 64, ["ghcr.io/org/agent"], "pass"),
        ("ghcr.io/org/agent", ["ghcr.io/org/agent"], "pass"),
        ("ghcr.io/org/agent-evil:2.1", ["ghcr.io/org/agent"], "fail"),
        # ECR
        ("111122223333.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:" + "b" * 64,
         ["111122223333.dkr.ecr.eu-west-1.amazonaws.com/"], "pass"),
        ("444455556666.dkr.ecr.eu-west-1.amazonaws.com/web:1",
         ["111122223333.dkr.ecr.eu-west-1.amazonaws.com/"], "fail"),
        # empty list: no registry policy configured, fail closed
        ("registry.example.com/app:1.0", [], "fail"),
        ("nginx", [], "fail"),
    ],
)
def test_pod11_registry_matching(image: str, allowed: list[str], expected: str) -> None:
    assert status(evaluator(allowedRegistries=allowed), pod_with_images(image), "POD-11") == expected


def test_pod11_every_container_kind_counts() -> None:
    ev = evaluator(allowedRegistries=["registry.example.com/"])
    obj = pod_with_images("registry.example.com/app:1.0")
    assert status(ev, obj, "POD-11") == "pass"
    for field in ("initContainers", "ephemeralContainers"):
        bad = copy.deepcopy(obj)
        bad["spec"][field] = [{"name": "x", "image": "busybox"}]
        assert status(ev, bad, "POD-11") == "fail", field
    no_image = copy.deepcopy(obj)
    del no_image["spec"]["containers"][0]["image"]
    assert status(ev, no_image, "POD-11") == "fail"


def test_pod11_missing_param_fails_closed() -> None:
    ev = Evaluator(CATALOG, params={})
    assert status(ev, pod_with_images("registry.example.com/app:1.0"), "POD-11") == "fail"


def test_pod11_reads_the_intents_registries() -> None:
    ev = intent_evaluator()
    assert status(ev, pod_with_images("registry.example.com/app:1.0"), "POD-11") == "pass"
    assert status(ev, pod_with_images("quay.io/app:1.0"), "POD-11") == "fail"


# --------------------------------------------------------------------------- POD-14


def env_pod(*env: dict[str, Any]) -> dict[str, Any]:
    obj = pod_with_images("registry.example.com/app:1.0")
    obj["spec"]["containers"][0]["env"] = list(env)
    return obj


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DB_PASSWORD", "fail"),
        ("dbPassword", "fail"),
        ("MYSQL_ROOT_PASSWD", "fail"),
        ("CLIENT_SECRET", "fail"),
        ("secretName", "fail"),
        ("API_KEY", "fail"),
        ("apikey", "fail"),
        ("SSH_PRIVATE_KEY", "fail"),
        ("GITHUB_TOKEN", "fail"),
        ("Access_Token_Url", "fail"),
        ("AWS_CREDENTIALS", "fail"),
        ("GOOGLE_APPLICATION_CREDENTIALS", "fail"),
        # deliberately broad: a name that merely contains "key" is flagged too
        ("KEYCLOAK_URL", "fail"),
        ("LOG_LEVEL", "pass"),
        ("DATABASE_URL", "pass"),
        ("PASS", "pass"),
        ("SECRE_T", "pass"),
    ],
)
def test_pod14_names(name: str, expected: str) -> None:
    assert status(evaluator(), env_pod({"name": name, "value": "x"}), "POD-14") == expected


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "API_KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}},
        {"name": "SESSION_SECRET", "value": ""},
        {"name": "TOKEN_PATH"},
    ],
)
def test_pod14_references_and_empty_values_pass(entry: dict[str, Any]) -> None:
    assert status(evaluator(), env_pod(entry), "POD-14") == "pass"


def test_pod14_env_from_is_not_judged_and_init_containers_are() -> None:
    obj = pod_with_images("registry.example.com/app:1.0")
    obj["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "all-secrets"}, "prefix": "SECRET_"}]
    assert status(evaluator(), obj, "POD-14") == "pass"
    obj["spec"]["initContainers"] = [
        {"name": "init", "image": "registry.example.com/init:1", "env": [{"name": "TOKEN", "value": "abc"}]}
    ]
    assert status(evaluator(), obj, "POD-14") == "fail"


# --------------------------------------------------------------------------- POD-15


@pytest.mark.parametrize(
    ("pod_spec", "expected"),
    [
        ({"serviceAccountName": "reconciler"}, "pass"),  # shop/reconciler needsApi in the intent
        ({"serviceAccountName": "reconciler", "automountServiceAccountToken": True}, "pass"),
        ({"serviceAccount": "reconciler"}, "pass"),  # the deprecated alias
        ({"serviceAccountName": "web"}, "fail"),  # a workload identity, but not needsApi
        ({"serviceAccountName": "web", "automountServiceAccountToken": False}, "pass"),
        ({}, "fail"),  # shop/default
        ({"automountServiceAccountToken": False}, "pass"),
        ({"automountServiceAccountToken": True}, "fail"),
    ],
)
def test_pod15_api_workloads_from_the_intent(pod_spec: dict[str, Any], expected: str) -> None:
    ev = intent_evaluator()
    assert status(ev, deployment("shop", **pod_spec), "POD-15") == expected


def test_pod15_api_workload_is_namespace_qualified() -> None:
    ev = intent_evaluator()
    assert status(ev, deployment("payments", serviceAccountName="reconciler"), "POD-15") == "fail"
    assert status(ev, deployment(None, serviceAccountName="reconciler"), "POD-15") == "fail"


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ({"path": "token"}, "fail"),
        ({"path": "token", "audience": ""}, "fail"),
        ({"path": "token", "audience": "sts.amazonaws.com"}, "pass"),
        ({"path": "token", "audience": "api://AzureADTokenExchange"}, "pass"),
    ],
)
def test_pod15_projected_tokens(token: dict[str, Any], expected: str) -> None:
    volumes = [{"name": "t", "projected": {"sources": [{"configMap": {"name": "ca"}}, {"serviceAccountToken": token}]}}]
    obj = deployment("shop", automountServiceAccountToken=False, volumes=volumes)
    assert status(evaluator(), obj, "POD-15") == expected


def test_pod15_empty_params_fail_closed() -> None:
    assert status(Evaluator(CATALOG, params={}), deployment("shop"), "POD-15") == "fail"


# --------------------------------------------------------------------------- POD-10, POD-12, POD-13


def test_pod13_ephemeral_containers_are_not_judged_init_containers_are() -> None:
    limited = {"limits": {"cpu": "500m", "memory": "256Mi"}}
    obj = pod_with_images("registry.example.com/app:1.0")
    obj["spec"]["containers"][0]["resources"] = limited
    obj["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "registry.example.com/toolbox:1"}]
    assert status(evaluator(), obj, "POD-13") == "pass"
    obj["spec"]["initContainers"] = [{"name": "init", "image": "i", "resources": {"limits": {"memory": "1Gi"}}}]
    assert status(evaluator(), obj, "POD-13") == "fail"
    # pod-level resources do not stand in for container limits
    pod_level = pod_with_images("registry.example.com/app:1.0")
    pod_level["spec"]["resources"] = limited
    assert status(evaluator(), pod_level, "POD-13") == "fail"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("registry.example.com/app@sha256:" + "0123456789abcdef" * 4, "pass"),
        ("registry.example.com/app:1.0@sha256:" + "0123456789abcdef" * 4, "pass"),
        ("registry.example.com/app:1.0", "fail"),
        ("registry.example.com/app@sha256:" + "0123456789ABCDEF" * 4, "fail"),
        ("registry.example.com/app@sha256:" + "0" * 63, "fail"),
        ("registry.example.com/app@sha512:" + "0" * 128, "fail"),
    ],
)
def test_pod12_digest_format(image: str, expected: str) -> None:
    assert status(evaluator(), pod_with_images(image), "POD-12") == expected


def test_workload_controls_skip_system_namespaces_and_cover_every_kind() -> None:
    ev = evaluator()
    bare = {"name": "c", "image": "nginx"}  # fails POD-10..POD-15 everywhere it is judged
    pod_spec = {"containers": [bare]}
    objects = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": pod_spec},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "namespace": "shop"},
         "spec": {"template": {"spec": pod_spec}}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "namespace": "shop"},
         "spec": {"template": {"spec": pod_spec}}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r", "namespace": "shop"},
         "spec": {"template": {"spec": pod_spec}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "shop"},
         "spec": {"template": {"spec": pod_spec}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "shop"},
         "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}},
    ]
    controls = ["POD-10", "POD-11", "POD-12", "POD-13", "POD-15"]
    for obj in objects:
        findings = ev.evaluate(Subject(obj))
        for control in controls:
            assert set(verdicts(findings, control).values()) == {"fail"}, (obj["kind"], control)
        in_system = copy.deepcopy(obj)
        in_system["metadata"]["namespace"] = "kube-system"
        assert [f for f in ev.evaluate(Subject(in_system)) if f.control_id in controls] == []


# --------------------------------------------------------------------------- RBAC and the built-in roles

BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
RBAC = "rbac.authorization.k8s.io/v1"


def role(name: str, rules: list[dict[str, Any]], *, kind: str = "ClusterRole", namespace: str | None = None,
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": RBAC, "kind": kind, "metadata": metadata, "rules": rules}


ALL = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]
EDIT_LIKE = [
    {"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
]
GC_LIKE = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["delete", "get", "list", "patch", "update", "watch"]}]
BOOTSTRAP_SIGNER = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
RB = ("RB-02", "RB-03", "RB-04")


def rb_statuses(obj: dict[str, Any]) -> dict[str, str]:
    findings = evaluator().evaluate(Subject(obj))
    return {c: next(iter(verdicts(findings, c).values())) for c in RB}


@pytest.mark.parametrize(
    "obj",
    [
        role("cluster-admin", ALL, labels=BOOTSTRAP),
        role("admin", EDIT_LIKE, labels=BOOTSTRAP),
        role("edit", EDIT_LIKE, labels=BOOTSTRAP),
        role("system:controller:generic-garbage-collector", GC_LIKE, labels=BOOTSTRAP),
        role("system:controller:bootstrap-signer", BOOTSTRAP_SIGNER, kind="Role", namespace="kube-system",
             labels=BOOTSTRAP),
        role("system:controller:bootstrap-signer", BOOTSTRAP_SIGNER, kind="Role", namespace="kube-public",
             labels=BOOTSTRAP),
    ],
    ids=lambda o: f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}",
)
def test_builtin_roles_pass_the_rbac_controls(obj: dict[str, Any]) -> None:
    assert rb_statuses(obj) == dict.fromkeys(RB, "pass")


@pytest.mark.parametrize(
    "obj",
    [
        # the same rules without the bootstrap label: a copy, not the built-in
        role("cluster-admin", ALL),
        role("cluster-admin", ALL, labels={"kubernetes.io/bootstrapping": "something-else"}),
        # the label on a name the bootstrap never uses
        role("platform-admin", ALL, labels=BOOTSTRAP),
        # a forged system: Role outside the namespaces the bootstrap writes Roles to
        role("system:controller:bootstrap-signer", [*BOOTSTRAP_SIGNER, *ALL[:1]], kind="Role", namespace="shop",
             labels=BOOTSTRAP),
    ],
    ids=["unlabelled", "wrong-label-value", "non-builtin-name", "system-role-in-app-namespace"],
)
def test_lookalikes_of_builtin_roles_fail(obj: dict[str, Any]) -> None:
    assert rb_statuses(obj) == dict.fromkeys(RB, "fail")


def test_builtin_exemption_as_pulumi_resource() -> None:
    """A Pulumi-managed copy carries kind in its inputs too; the type token alone also judges it."""
    obj = role("system:aggregate-to-edit", EDIT_LIKE, labels=BOOTSTRAP)
    sub = Subject(obj, type="kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", name="x")
    assert set(verdicts(evaluator().evaluate(sub), "RB-04").values()) == {"pass"}
    no_kind = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    sub = Subject(no_kind, type="kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", name="x")
    # without kind in the props the exemption cannot tell a ClusterRole: it fails closed
    assert set(verdicts(evaluator().evaluate(sub), "RB-04").values()) == {"fail"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}, "fail"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]}, "fail"),
        ({"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["list"]}, "fail"),
        ({"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}, "fail"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"], "resourceNames": ["tls"]}, "pass"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": []}, "fail"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update", "delete"]}, "pass"),
        ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}, "pass"),
        ({"apiGroups": ["external-secrets.io"], "resources": ["secrets"], "verbs": ["get"]}, "pass"),
        ({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}, "pass"),
        ({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, "pass"),
    ],
)
def test_rb03_rules(rule: dict[str, Any], expected: str) -> None:
    assert status(evaluator(), role("r", [rule], kind="Role", namespace="shop"), "RB-03") == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}, "fail"),
        ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}, "fail"),
        ({"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}, "fail"),
        ({"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"], "verbs": ["impersonate"]},
         "fail"),
        # "*" verbs where they reach bind, escalate or impersonate
        ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, "fail"),
        ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["*"]}, "fail"),
        ({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["*"]}, "fail"),
        ({"apiGroups": ["authentication.k8s.io"], "resources": ["uids"], "verbs": ["*"]}, "fail"),
        # ... and where they do not (RB-02 reports the wildcard)
        ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["*"]}, "pass"),
        ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}, "pass"),
        ({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}, "pass"),
        ({"nonResourceURLs": ["*"], "verbs": ["*"]}, "pass"),
        ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get", "create"]}, "pass"),
    ],
)
def test_rb04_rules(rule: dict[str, Any], expected: str) -> None:
    assert status(evaluator(), role("r", [rule]), "RB-04") == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}, "fail"),
        ({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}, "fail"),
        ({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]}, "fail"),
        ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, "fail"),
        ({"nonResourceURLs": ["*"], "verbs": ["get"]}, "fail"),
        ({"nonResourceURLs": ["/*"], "verbs": ["get"]}, "fail"),
        ({"nonResourceURLs": ["/healthz", "/readyz/*"], "verbs": ["get"]}, "pass"),
        ({"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "patch"]}, "pass"),
    ],
)
def test_rb02_rules(rule: dict[str, Any], expected: str) -> None:
    assert status(evaluator(), role("r", [rule]), "RB-02") == expected


def test_rbac_roles_without_rules_pass() -> None:
    aggregated = role("monitoring", [])
    del aggregated["rules"]
    aggregated["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}
    assert rb_statuses(aggregated) == dict.fromkeys(RB, "pass")


def test_rbac_controls_do_not_skip_system_namespaces() -> None:
    """Only NS and POD controls use the system-namespace list: a Role in kube-system is judged."""
    obj = role("backdoor", ALL[:1], kind="Role", namespace="kube-system")
    assert rb_statuses(obj) == {"RB-02": "fail", "RB-03": "fail", "RB-04": "fail"}


# --------------------------------------------------------------------------- RB-07


@pytest.mark.parametrize(
    ("name", "automount", "expected"),
    [("default", False, "pass"), ("default", True, "fail"), ("default", None, "fail"),
     ("web", True, "pass"), ("web", None, "pass")],
)
def test_rb07_default_service_account(name: str, automount: bool | None, expected: str) -> None:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount",
                           "metadata": {"name": name, "namespace": "shop"}}
    if automount is not None:
        obj["automountServiceAccountToken"] = automount
    assert status(evaluator(), obj, "RB-07") == expected
