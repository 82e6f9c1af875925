"""The in-cluster baseline: pure translation (no mocks), schema validity, and the component's wiring."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
from kubernetes_validate.utils import latest_version

from baseline.intent import Intent
from providers.admission import render_admission
from providers.engines import CHARTS, engine_release_args
from providers.incluster import (
    BASELINE_VERSION_LABEL,
    OWNER_LABEL,
    PATCH_FORCE_ANNOTATION,
    TEMPLATE_READY,
    TYPE_TOKEN,
    WAIT_FOR_ANNOTATION,
    InClusterBaseline,
    Manifest,
    baseline_objects,
    incluster_manifests,
    is_admission_object,
    is_patch,
    kubernetes_resource,
    object_dependencies,
    resource_name,
    wiring_plan,
)

PSS = "pod-security.kubernetes.io"
METADATA = "169.254.0.0/16"
#: A date on which the sample intent's exception is in force, so the admission objects are fixed.
TODAY = dt.date(2026, 1, 1)


def _intent(base: Intent, **changes: Any) -> Intent:
    """``base`` with top-level fields replaced, re-validated (the model is frozen)."""
    data = base.model_dump(by_alias=True)
    data.update(changes)
    return Intent.model_validate(data)


def _find(objs: list[Manifest], kind: str, name: str, ns: str | None = None) -> Manifest:
    found = [
        o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == ns
    ]
    assert len(found) == 1, f"{kind} {ns}/{name}: {len(found)} found"
    return found[0]


def _kinds(objs: list[Manifest], ns: str) -> list[tuple[str, str]]:
    return [
        (o["kind"], o["metadata"]["name"])
        for o in objs
        if o["metadata"].get("namespace") == ns or (o["kind"] == "Namespace" and o["metadata"]["name"] == ns)
    ]


@pytest.fixture(scope="module")
def kitchen_sink(prod_intent: Intent) -> Intent:
    """Every branch at once: cluster-wide egress, IPv6, metadata-range rules, shared and default accounts."""
    data = prod_intent.model_dump(by_alias=True)
    data["network"]["egressAllow"] = [
        {"cidr": "0.0.0.0/0", "ports": [443]},
        {"cidr": "::/0", "ports": [443]},
    ]
    data["namespaces"].append(
        {
            "name": "batch",
            "owner": "data-team",
            "podSecurity": "privileged",
            "labels": {"team": "data", f"{PSS}/enforce": "privileged-override-attempt", OWNER_LABEL: "someone"},
            "egress": [
                {"cidr": METADATA},
                {"cidr": "169.254.169.254/32", "ports": [80]},
                {"cidr": "10.1.0.0/16", "protocol": "UDP"},
            ],
        }
    )
    data["workloadIdentities"] += [
        {"name": "batch-a", "namespace": "batch", "serviceAccount": "runner", "aws": {}},
        {"name": "batch-b", "namespace": "batch", "serviceAccount": "runner", "needsApi": True, "aws": {}},
        {"name": "batch-default", "namespace": "batch", "serviceAccount": "default", "needsApi": True, "aws": {}},
        {"name": "in-default-ns", "namespace": "default", "serviceAccount": "legacy", "aws": {}},
    ]
    return Intent.model_validate(data)


# --------------------------------------------------------------------------- shape and order


def test_objects_are_deterministic_and_ordered_per_namespace(prod_intent: Intent) -> None:
    objs = baseline_objects(prod_intent)
    assert objs == baseline_objects(prod_intent)
    assert _kinds(objs, "shop") == [
        ("Namespace", "shop"),
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "allow-dns"),
        ("NetworkPolicy", "allow-workload-identity"),  # shop hosts a workload identity
        ("LimitRange", "limits"),
        ("ResourceQuota", "quota"),
        ("ServiceAccount", "default"),
        ("ServiceAccount", "orders"),
    ]
    assert ("NetworkPolicy", "allow-egress") in _kinds(objs, "observability")
    assert ("NetworkPolicy", "allow-workload-identity") not in _kinds(objs, "observability")
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"] == ["shop", "payments", "observability"]


def test_every_object_is_stamped_with_the_baseline_version(stale_intent: Intent) -> None:
    for obj in baseline_objects(stale_intent):
        assert obj["metadata"]["labels"][BASELINE_VERSION_LABEL] == "0.9.0", obj


def test_object_identities_and_resource_names_are_unique(kitchen_sink: Intent) -> None:
    objs = baseline_objects(kitchen_sink)
    identities = Counter((o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs)
    assert max(identities.values()) == 1
    names = Counter((o["kind"], resource_name("base", o)) for o in objs)
    assert max(names.values()) == 1


def test_resource_names_cannot_collide_across_namespaces() -> None:
    a = {"metadata": {"name": "b-c", "namespace": "a"}}
    b = {"metadata": {"name": "c", "namespace": "a-b"}}
    assert resource_name("x", a) != resource_name("x", b)
    assert resource_name("x", {"metadata": {"name": "shop"}}) == "x-shop"
    assert resource_name("x", a) == "x-a/b-c"


# --------------------------------------------------------------------------- namespaces


def test_namespace_pod_security_labels(prod_intent: Intent) -> None:
    objs = baseline_objects(prod_intent)
    shop = _find(objs, "Namespace", "shop")["metadata"]["labels"]
    assert shop[f"{PSS}/enforce"] == "restricted"
    for mode in ("enforce", "audit", "warn"):
        assert shop[f"{PSS}/{mode}-version"] == "v1.33"
    assert shop[OWNER_LABEL] == "shop-team"
    assert shop[BASELINE_VERSION_LABEL] == "1.0.0"


def test_baseline_namespace_still_audits_and_warns_at_restricted(prod_intent: Intent) -> None:
    labels = _find(baseline_objects(prod_intent), "Namespace", "observability")["metadata"]["labels"]
    assert labels[f"{PSS}/enforce"] == "baseline"
    assert labels[f"{PSS}/audit"] == "restricted"
    assert labels[f"{PSS}/warn"] == "restricted"


def test_privileged_namespace_is_translated_faithfully(kitchen_sink: Intent) -> None:
    labels = _find(baseline_objects(kitchen_sink), "Namespace", "batch")["metadata"]["labels"]
    assert labels[f"{PSS}/enforce"] == "privileged"  # NS-01 judges it, the translation does not refuse it


def test_namespace_labels_cannot_override_baseline_labels(kitchen_sink: Intent) -> None:
    labels = _find(baseline_objects(kitchen_sink), "Namespace", "batch")["metadata"]["labels"]
    assert labels["team"] == "data"
    assert labels[f"{PSS}/enforce"] == "privileged"
    assert labels[OWNER_LABEL] == "data-team"


# --------------------------------------------------------------------------- network policies


def test_default_deny(prod_intent: Intent) -> None:
    policy = _find(baseline_objects(prod_intent), "NetworkPolicy", "default-deny", "shop")
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_no_default_deny_when_the_intent_turns_it_off(prod_intent: Intent) -> None:
    intent = _intent(prod_intent, network={"defaultDeny": False})
    assert not [o for o in baseline_objects(intent) if o["metadata"]["name"] == "default-deny"]


def test_dns_only_to_kube_dns(prod_intent: Intent) -> None:
    spec = _find(baseline_objects(prod_intent), "NetworkPolicy", "allow-dns", "payments")["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    (rule,) = spec["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_no_dns_policy_when_not_allowed(prod_intent: Intent) -> None:
    intent = _intent(prod_intent, network={"allowDns": False})
    assert not [o for o in baseline_objects(intent) if o["metadata"]["name"] == "allow-dns"]


def test_namespace_egress_without_metadata_overlap_has_no_except(prod_intent: Intent) -> None:
    spec = _find(baseline_objects(prod_intent), "NetworkPolicy", "allow-egress", "observability")["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    assert spec["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]


def test_no_egress_policy_without_rules(prod_intent: Intent) -> None:
    assert ("NetworkPolicy", "allow-egress") not in _kinds(baseline_objects(prod_intent), "shop")


def test_cluster_egress_is_added_to_every_namespace_with_metadata_carved_out(kitchen_sink: Intent) -> None:
    objs = baseline_objects(kitchen_sink)
    for ns in ("shop", "payments", "observability", "batch"):
        rules = _find(objs, "NetworkPolicy", "allow-egress", ns)["spec"]["egress"]
        blocks = [peer["ipBlock"] for rule in rules for peer in rule["to"]]
        assert {"cidr": "0.0.0.0/0", "except": [METADATA]} in blocks
        assert {"cidr": "::/0"} in blocks  # another IP family: nothing to carve out


def test_rules_inside_the_metadata_range_are_emitted_as_written(kitchen_sink: Intent) -> None:
    """An except must lie strictly inside its cidr; such rules stay visible for NS-03 to report."""
    rules = _find(baseline_objects(kitchen_sink), "NetworkPolicy", "allow-egress", "batch")["spec"]["egress"]
    assert rules[0] == {"to": [{"ipBlock": {"cidr": METADATA}}], "ports": [{"protocol": "TCP"}]}
    assert rules[1]["to"] == [{"ipBlock": {"cidr": "169.254.169.254/32"}}]
    assert rules[2] == {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"protocol": "UDP"}]}


def test_no_except_when_metadata_blocking_is_off(kitchen_sink: Intent) -> None:
    intent = _intent(kitchen_sink, network={**kitchen_sink.network.model_dump(by_alias=True), "blockMetadata": False})
    rules = _find(baseline_objects(intent), "NetworkPolicy", "allow-egress", "shop")["spec"]["egress"]
    assert all("except" not in peer["ipBlock"] for rule in rules for peer in rule["to"])


# --------------------------------------------------------------------------- limits, quota, accounts


def test_limit_range_and_quota_follow_the_namespace_quota(prod_intent: Intent) -> None:
    objs = baseline_objects(prod_intent)
    (limits,) = _find(objs, "LimitRange", "limits", "shop")["spec"]["limits"]
    assert limits == {
        "type": "Container",
        "default": {"cpu": "500m", "memory": "512Mi"},
        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
    }
    hard = _find(objs, "ResourceQuota", "quota", "payments")["spec"]["hard"]
    assert hard == {
        "requests.cpu": "16",
        "requests.memory": "32Gi",
        "limits.cpu": "16",
        "limits.memory": "32Gi",
        "pods": "100",
    }


def test_default_service_account_is_a_patch_with_automount_off(prod_intent: Intent) -> None:
    objs = baseline_objects(prod_intent)
    for ns in ("shop", "payments", "observability"):
        sa = _find(objs, "ServiceAccount", "default", ns)
        assert sa["automountServiceAccountToken"] is False
        assert sa["metadata"]["annotations"] == {PATCH_FORCE_ANNOTATION: "true"}
        assert is_patch(sa)
    assert not any(is_patch(o) for o in objs if o["metadata"]["name"] != "default")


def test_workload_service_accounts_carry_annotations_and_need_api(prod_intent: Intent, kitchen_sink: Intent) -> None:
    arn = "arn:aws:iam::111122223333:role/orders"
    objs = baseline_objects(prod_intent, {("shop", "orders"): {"eks.amazonaws.com/role-arn": arn}})
    orders = _find(objs, "ServiceAccount", "orders", "shop")
    assert orders["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
    assert orders["automountServiceAccountToken"] is False
    assert "annotations" not in _find(objs, "ServiceAccount", "ledger", "payments")["metadata"]

    sink = baseline_objects(kitchen_sink)
    assert _find(sink, "ServiceAccount", "runner", "batch")["automountServiceAccountToken"] is True  # one needs it
    merged = _find(sink, "ServiceAccount", "default", "batch")
    assert merged["automountServiceAccountToken"] is True and is_patch(merged)
    assert sink[-1]["metadata"] == {
        "name": "legacy",
        "namespace": "default",
        "labels": {BASELINE_VERSION_LABEL: "1.0.0"},
    }  # accounts in namespaces the intent does not create come last, with no Namespace before them


# --------------------------------------------------------------------------- schema validity


@pytest.mark.parametrize("version", ["1.30", latest_version()])
def test_every_object_is_valid_against_the_kubernetes_schema(
    version: str, prod_intent: Intent, stale_intent: Intent, kitchen_sink: Intent
) -> None:
    annotations = {("shop", "orders"): {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/x"}}
    for intent in (prod_intent, stale_intent, kitchen_sink):
        for obj in baseline_objects(intent, annotations):
            kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_is_not_vacuous(prod_intent: Intent) -> None:
    bad = baseline_objects(prod_intent)[1]
    bad = {**bad, "spec": {**bad["spec"], "podSelecter": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.30", strict=True)


# --------------------------------------------------------------------------- the component (mocks)

_K8S_TYPES = {
    "Namespace": "kubernetes:core/v1:Namespace",
    "NetworkPolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "LimitRange": "kubernetes:core/v1:LimitRange",
    "ResourceQuota": "kubernetes:core/v1:ResourceQuota",
    "ServiceAccount": "kubernetes:core/v1:ServiceAccount",
}


def _register(intent: Intent, annotations: dict[tuple[str, str], dict[str, Any]] | None = None) -> Any:
    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        baseline = InClusterBaseline(
            "base", intent, provider=provider, service_account_annotations=annotations, today=TODAY
        )
        return pulumi.Output.all(baseline.urn, baseline.namespaces)

    run()


def _type_token(obj: Manifest) -> str:
    """The type token the resource for ``obj`` registers as: typed classes, then CustomResource's."""
    if is_admission_object(obj):
        return f"kubernetes:{obj['apiVersion']}:{obj['kind']}"
    return _K8S_TYPES[obj["kind"]] + ("Patch" if is_patch(obj) else "")


def test_component_registers_one_typed_resource_per_object(pulumi_mocks: Any, prod_intent: Intent) -> None:
    _register(prod_intent)
    objs = incluster_manifests(prod_intent, today=TODAY)
    component = pulumi_mocks.one(TYPE_TOKEN, "base")
    provider = pulumi_mocks.one("pulumi:providers:kubernetes", "k8s")
    children = [r for r in pulumi_mocks.registrations if r.parent == component.urn]
    assert len(children) == len(objs)
    for obj in objs:
        reg = pulumi_mocks.one(_type_token(obj), resource_name("base", obj))
        assert reg.inputs == obj  # the manifest is the wire input: camelCase, nothing added or lost
        assert reg.provider == f"{provider.urn}::{provider.name}-id"
        assert reg.parent == component.urn
    assert pulumi_mocks.duplicate_urns() == []


def test_wire_names_are_camel_case(pulumi_mocks: Any, prod_intent: Intent) -> None:
    _register(prod_intent)
    deny = pulumi_mocks.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "base-shop/default-deny")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    sa = pulumi_mocks.one("kubernetes:core/v1:ServiceAccountPatch", "base-shop/default")
    assert sa.inputs["automountServiceAccountToken"] is False
    assert sa.inputs["apiVersion"] == "v1" and sa.inputs["kind"] == "ServiceAccount"


def test_namespaced_objects_depend_on_their_namespace(pulumi_mocks: Any, prod_intent: Intent) -> None:
    _register(prod_intent)
    namespaces = {r.name: r.urn for r in pulumi_mocks.of_type("kubernetes:core/v1:Namespace")}
    assert set(namespaces) == {"base-shop", "base-payments", "base-observability"}
    namespaced = [r for r in pulumi_mocks.registrations if "/" in r.name]
    assert namespaced
    for reg in namespaced:
        ns = reg.name.removeprefix("base-").split("/")[0]
        assert namespaces[f"base-{ns}"] in reg.dependencies, reg.name


def test_annotations_may_be_outputs(pulumi_mocks: Any, prod_intent: Intent) -> None:
    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        # any resource output stands in for the role ARN the cloud component passes
        source = k8s.core.v1.ConfigMap("stand-in", data={"arn": "arn:aws:iam::111122223333:role/orders"})
        arn = source.data.apply(lambda d: d["arn"])
        annotations = {("shop", "orders"): {"eks.amazonaws.com/role-arn": arn}}
        baseline = InClusterBaseline("base", prod_intent, provider=provider, service_account_annotations=annotations)
        return baseline.urn

    run()
    sa = pulumi_mocks.one("kubernetes:core/v1:ServiceAccount", "base-shop/orders")
    assert sa.inputs["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/orders"
    }
    assert pulumi_mocks.one("kubernetes:core/v1:ConfigMap", "stand-in").urn in sa.dependencies


def test_unknown_kinds_are_refused_before_anything_registers() -> None:
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}}
    with pytest.raises(ValueError, match="no resource class to create v1 Secret"):
        kubernetes_resource("x", manifest, pulumi.ResourceOptions())


# --------------------------------------------------------------------------- admission objects (pure)


def _engine(base: Intent, engine: str) -> Intent:
    data = base.model_dump(by_alias=True)
    data["admission"]["engine"] = engine
    return Intent.model_validate(data)


ENGINES = ["vap", "kyverno", "gatekeeper"]


@pytest.mark.parametrize("engine", ENGINES)
def test_incluster_manifests_are_baseline_then_admission_and_nothing_else(engine: str, prod_intent: Intent) -> None:
    intent = _engine(prod_intent, engine)
    objs = incluster_manifests(intent, today=TODAY)
    assert objs == incluster_manifests(intent, today=TODAY)
    baseline = baseline_objects(intent)
    admission = render_admission(intent, today=TODAY)
    assert objs[: len(baseline)] == baseline
    rest = objs[len(baseline) :]
    assert len(rest) == len(admission) and all(is_admission_object(o) for o in rest)
    for got, rendered in zip(rest, admission, strict=True):
        if got["kind"] == "ConstraintTemplate":  # the one addition: Pulumi waits for the Constraint kind
            annotations = dict(got["metadata"]["annotations"])
            assert annotations.pop(WAIT_FOR_ANNOTATION) == TEMPLATE_READY
            assert {**got, "metadata": {**got["metadata"], "annotations": annotations}} == rendered
        else:
            assert got == rendered
    assert incluster_manifests(prod_intent, engine, TODAY) == objs  # engine given, or the intent's


def test_incluster_manifests_do_not_change_what_the_renderer_returns(prod_intent: Intent) -> None:
    intent = _engine(prod_intent, "gatekeeper")
    incluster_manifests(intent, today=TODAY)
    assert all(WAIT_FOR_ANNOTATION not in m["metadata"]["annotations"] for m in render_admission(intent, today=TODAY))


def test_admission_resource_names_carry_the_role() -> None:
    vap = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"},
    }
    binding = {**vap, "kind": "ValidatingAdmissionPolicyBinding"}
    polex = {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "PolicyException",
        "metadata": {"name": "e", "namespace": "kyverno"},
    }
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "FleetBaselineX",
        "metadata": {"name": "c"},
    }
    assert resource_name("x", vap) == "x-vap-p"
    assert resource_name("x", binding) == "x-vapbinding-p"
    assert resource_name("x", polex) == "x-polex-kyverno/e"
    assert resource_name("x", constraint) == "x-constraint-c"
    unknown = {"apiVersion": "policies.kyverno.io/v1", "kind": "MutatingPolicy", "metadata": {"name": "m"}}
    with pytest.raises(ValueError, match="not an admission object of a known kind"):
        resource_name("x", unknown)


@pytest.mark.parametrize("engine", ENGINES)
def test_wiring_plan_orders_references_and_names_uniquely(engine: str, prod_intent: Intent) -> None:
    objs = incluster_manifests(_engine(prod_intent, engine), today=TODAY)
    plan = wiring_plan("base", objs)
    assert [w.manifest for w in plan] == objs
    assert len({w.name for w in plan}) == len(plan)  # unique even across types
    for index, wire in enumerate(plan):
        assert all(i < index for i in wire.after)
        assert wire.after_engine == is_admission_object(wire.manifest)
        targets = {(plan[i].manifest["kind"], plan[i].manifest["metadata"]["name"]) for i in wire.after}
        assert set(object_dependencies(wire.manifest)) <= targets


def test_wiring_plan_refuses_a_reference_that_comes_later(prod_intent: Intent) -> None:
    objs = [m for m in incluster_manifests(_engine(prod_intent, "gatekeeper"), today=TODAY) if is_admission_object(m)]
    template, constraint = objs[0], objs[1]
    assert constraint["kind"].lower() == template["metadata"]["name"]
    with pytest.raises(ValueError, match="must come after ConstraintTemplate"):
        wiring_plan("base", [constraint, template])
    with pytest.raises(ValueError, match="two ConstraintTemplate children"):
        wiring_plan("base", [template, template])


def test_custom_resources_carry_only_metadata_and_spec() -> None:
    manifest = {
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ValidatingPolicy",
        "metadata": {"name": "p"},
        "data": {},
    }
    with pytest.raises(ValueError, match="carries only metadata and spec"):
        kubernetes_resource("x", manifest, pulumi.ResourceOptions())
    other = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(ValueError, match=r"no resource class to create example\.com/v1 Widget"):
        kubernetes_resource("x", other, pulumi.ResourceOptions())


# --------------------------------------------------------------------------- admission objects (mocks)

_RELEASE = "kubernetes:helm.sh/v3:Release"
_EXPECTED_TYPES = {
    "vap": {
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    },
    "kyverno": {
        _RELEASE,
        "kubernetes:policies.kyverno.io/v1:ValidatingPolicy",
        "kubernetes:policies.kyverno.io/v1:PolicyException",
    },
    "gatekeeper": {_RELEASE, "kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate"},
}


@pytest.mark.parametrize("engine", ENGINES)
def test_component_wires_the_engine_and_its_policies(pulumi_mocks: Any, prod_intent: Intent, engine: str) -> None:
    intent = _engine(prod_intent, engine)
    _register(intent)
    objs = incluster_manifests(intent, today=TODAY)
    component = pulumi_mocks.one(TYPE_TOKEN, "base")
    provider = pulumi_mocks.one("pulumi:providers:kubernetes", "k8s")
    provider_ref = f"{provider.urn}::{provider.name}-id"
    children = [r for r in pulumi_mocks.registrations if r.parent == component.urn]
    releases = pulumi_mocks.of_type(_RELEASE)
    assert len(children) == len(objs) + len(releases)
    assert len(releases) == (0 if engine == "vap" else 1)  # vap: the API server is the engine
    assert all(r.provider == provider_ref and r.parent == component.urn for r in children)
    assert len({r.name for r in children}) == len(children) and pulumi_mocks.duplicate_urns() == []
    admission_names = {resource_name("base", o) for o in objs if is_admission_object(o)}
    admission = [r for r in children if r.name in admission_names]
    assert len(admission) == len(admission_names)
    types = {r.type for r in admission} | {r.type for r in releases}
    constraints = {t for t in types if t.startswith("kubernetes:constraints.gatekeeper.sh/v1beta1:")}
    assert types - constraints == _EXPECTED_TYPES[engine]
    assert bool(constraints) == (engine == "gatekeeper")
    by_urn = {r.urn: r for r in children}
    for obj in objs:
        reg = pulumi_mocks.one(_type_token(obj), resource_name("base", obj))
        assert reg.inputs == obj
    if releases:
        (release,) = releases
        assert release.name == f"base-{engine}"
        args = engine_release_args(intent)
        assert args is not None
        assert release.inputs["chart"] == CHARTS[engine].name and release.inputs["version"] == CHARTS[engine].version
        assert release.inputs["repositoryOpts"] == {"repo": CHARTS[engine].repository}
        assert (release.inputs["atomic"], release.inputs["skipAwait"]) == (True, False)
        assert release.inputs["values"] == args["values"]  # chart value names pass unchanged (no casing)
        order = [r.urn for r in pulumi_mocks.registrations]
        for reg in admission:  # the engine (and its CRDs) first: created after, deleted before the release
            assert release.urn in reg.dependencies, reg.name
            assert order.index(release.urn) < order.index(reg.urn)
    for reg in admission:
        deps = [by_urn[u] for u in reg.dependencies if u in by_urn]
        if reg.type.endswith(":ValidatingAdmissionPolicyBinding"):
            assert [(d.type.rsplit(":", 1)[1], d.inputs["metadata"]["name"]) for d in deps] == [
                ("ValidatingAdmissionPolicy", reg.inputs["spec"]["policyName"])
            ]
        if reg.type.endswith(":PolicyException"):
            refs = {r["name"] for r in reg.inputs["spec"]["policyRefs"]}
            assert {d.inputs["metadata"]["name"] for d in deps if d.type.endswith(":ValidatingPolicy")} == refs
        if reg.type in constraints:
            templates = [d for d in deps if d.type.endswith(":ConstraintTemplate")]
            assert [t.inputs["metadata"]["name"] for t in templates] == [reg.inputs["kind"].lower()]
        if reg.type.endswith(":ConstraintTemplate"):
            assert reg.inputs["metadata"]["annotations"][WAIT_FOR_ANNOTATION] == TEMPLATE_READY
