"""The evaluator over a small catalog of its own: verdicts, unknowns, exceptions, modes, scope."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from baseline.catalog import CONTROLS_DIR, load_catalog
from baseline.evaluator import Evaluator, Subject
from baseline.intent import ExceptionIntent

U = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

CONTROLS = {
    "CL-50": """
id: CL-50
slug: endpoint-private
title: Endpoint private
description: The endpoint is private.
severity: high
defaultMode: enforce
rationale: r
remediation: Make it private.
references: {bestPractice: true}
targets:
  - type: aws:eks/cluster:Cluster
    expression: has(object.vpcConfig) && object.vpcConfig.endpointPublicAccess == false
    message: The endpoint is public.
  - cloud: aks
    notApplicable: covered by CL-51
""",
    "NS-50": """
id: NS-50
slug: owner-label
title: Owner label
description: Namespaces name an owner.
severity: low
defaultMode: audit
rationale: r
remediation: Add the label.
references: {bestPractice: true}
targets:
  - kinds: [Namespace]
    expression: has(object.metadata.labels) && 'owner' in object.metadata.labels
    message: No owner.
""",
    "NS-51": """
id: NS-51
slug: has-deny
title: Default deny
description: Namespaces have a default-deny policy.
severity: high
defaultMode: enforce
rationale: r
remediation: Add one.
references: {bestPractice: true}
targets:
  - kinds: [Namespace]
    scope: stack
    expression: namespaceObjects.exists(o, o.kind == 'NetworkPolicy' && size(o.spec.podSelector) == 0)
    message: No default deny.
""",
    "POD-50": """
id: POD-50
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


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("catalog")
    shutil.copy(CONTROLS_DIR / "_library.yaml", root / "_library.yaml")
    for cid, text in CONTROLS.items():
        (root / cid).mkdir()
        (root / cid / "control.yaml").write_text(text)
    return load_catalog(root)


def ns(name: str, labels: dict[str, str] | None = None) -> Subject:
    return Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})


def deployment(namespace: str, host_pid: object = False, name: str = "web") -> Subject:
    return Subject(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"hostPID": host_pid, "containers": [{"name": "c", "image": "i"}]}}},
        }
    )


def statuses(findings, control: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.status for f in findings if f.control_id == control]


def test_cloud_resource_pass_fail_unknown(catalog) -> None:  # type: ignore[no-untyped-def]
    ev = Evaluator(catalog)
    cl = "aws:eks/cluster:Cluster"
    assert statuses(ev.evaluate(Subject({"vpcConfig": {"endpointPublicAccess": False}}, type=cl)), "CL-50") == ["pass"]
    assert statuses(ev.evaluate(Subject({"vpcConfig": {"endpointPublicAccess": True}}, type=cl)), "CL-50") == ["fail"]
    assert statuses(ev.evaluate(Subject({}, type=cl)), "CL-50") == ["fail"]
    findings = ev.evaluate(Subject({"vpcConfig": {"endpointPublicAccess": U}}, type=cl))
    assert statuses(findings, "CL-50") == ["unknown"]
    assert findings[0].unknown == ("vpcConfig.endpointPublicAccess",)
    assert "unknown until apply" in findings[0].message
    # an unknown the check does not read changes nothing
    assert statuses(ev.evaluate(Subject({"vpcConfig": {"endpointPublicAccess": False}, "roleArn": U}, type=cl)),
                    "CL-50") == ["pass"]


def test_other_types_are_not_judged(catalog) -> None:  # type: ignore[no-untyped-def]
    assert Evaluator(catalog).evaluate(Subject({"x": 1}, type="aws:s3/bucket:Bucket")) == []


def test_malformed_objects_never_pass(catalog) -> None:  # type: ignore[no-untyped-def]
    ev = Evaluator(catalog)
    # hostPID as a string: CEL's heterogeneous equality makes it "not false", a failure
    assert statuses(ev.evaluate(deployment("shop", host_pid="yes")), "POD-50") == ["fail"]
    # a pod template that is not a map: the expression errors, and the verdict is unknown with the error
    broken = deployment("shop")
    broken.props["spec"]["template"] = "not-a-template"  # type: ignore[index]
    findings = ev.evaluate(broken)
    assert statuses(findings, "POD-50") == ["unknown"]
    assert findings[0].detail and "SELECT" in findings[0].detail


def test_workload_kinds_and_pulumi_kubernetes_types(catalog) -> None:  # type: ignore[no-untyped-def]
    ev = Evaluator(catalog)
    assert statuses(ev.evaluate(deployment("shop", host_pid=True)), "POD-50") == ["fail"]
    pod = Subject({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
                   "spec": {"hostPID": True, "containers": []}})
    assert statuses(ev.evaluate(pod), "POD-50") == ["fail"]
    # the same object as a Pulumi resource: matched through the kind, judged the same
    as_pulumi = Subject(deployment("shop", host_pid=True).props, type="kubernetes:apps/v1:Deployment", name="web")
    assert statuses(ev.evaluate(as_pulumi), "POD-50") == ["fail"]


def test_system_namespaces_are_excluded_by_one_list(catalog) -> None:  # type: ignore[no-untyped-def]
    ev = Evaluator(catalog, system_namespaces=["kube-system", "gatekeeper-system"])
    assert ev.evaluate(deployment("kube-system", host_pid=True)) == []
    assert ev.evaluate(deployment("gatekeeper-system", host_pid=True)) == []
    assert ev.evaluate(ns("kube-system")) == []
    assert statuses(ev.evaluate(deployment("kube-public", host_pid=True)), "POD-50") == ["fail"]


def exc(control: str, expires: dt.date, **scope: object) -> ExceptionIntent:
    return ExceptionIntent.model_validate(
        {"control": control, "scope": scope, "owner": "shop-team", "reason": "debugging the checkout",
         "expires": expires.isoformat()}
    )


def test_exceptions_scope_expiry_and_owner(catalog) -> None:  # type: ignore[no-untyped-def]
    today = dt.date(2026, 11, 22)
    exceptions = [
        exc("POD-50", today, namespace="shop"),  # last valid day is today
        exc("POD-50", today - dt.timedelta(days=1), namespace="legacy"),  # expired yesterday
        exc("POD-50", today + dt.timedelta(days=30), objectName="debug-*"),
    ]
    ev = Evaluator(catalog, exceptions=exceptions, today=today)
    shop = ev.evaluate(deployment("shop", host_pid=True))
    assert statuses(shop, "POD-50") == ["excepted"]
    assert shop[0].exception and shop[0].exception.owner == "shop-team"
    assert shop[0].exception.scope == "namespace=shop"
    # scoped to one namespace: does not leak to another
    assert statuses(ev.evaluate(deployment("payments", host_pid=True)), "POD-50") == ["fail"]
    # expired: stops exempting
    assert statuses(ev.evaluate(deployment("legacy", host_pid=True)), "POD-50") == ["fail"]
    # object name pattern
    assert statuses(ev.evaluate(deployment("payments", host_pid=True, name="debug-1")), "POD-50") == ["excepted"]
    # a pass stays a pass and carries no exception
    passing = ev.evaluate(deployment("shop"))
    assert statuses(passing, "POD-50") == ["pass"] and passing[0].exception is None


def test_modes(catalog) -> None:  # type: ignore[no-untyped-def]
    ev = Evaluator(catalog, modes={"CL-50": "off", "NS-50": "enforce"})
    assert ev.evaluate(Subject({}, type="aws:eks/cluster:Cluster")) == []
    f = ev.evaluate(ns("shop"))
    assert statuses(f, "NS-50") == ["fail"] and f[0].mode == "enforce" and f[0].blocking
    default = Evaluator(catalog).evaluate(ns("shop"))
    assert default[0].mode == "audit" and not default[0].blocking


def test_stack_scope_sees_the_namespace_objects(catalog) -> None:  # type: ignore[no-untyped-def]
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    findings = Evaluator(catalog).evaluate_all([ns("shop"), ns("payments"), Subject(deny)])
    by_ns = {f.namespace: f.status for f in findings if f.control_id == "NS-51"}
    assert by_ns == {"shop": "pass", "payments": "fail"}


def test_not_applicable_targets_are_not_compiled(catalog) -> None:  # type: ignore[no-untyped-def]
    control = catalog["CL-50"]
    assert len(control.targets) == 2
    assert [t.describes for t in control.applicable_targets()] == ["aws:eks/cluster:Cluster"]
    assert control.targets[1].not_applicable == "covered by CL-51"


def test_findings_serialise(catalog) -> None:  # type: ignore[no-untyped-def]
    f = Evaluator(catalog, cluster="prod").evaluate(deployment("shop", host_pid=True))[0]
    d = f.to_dict()
    assert d["control"] == "POD-50" and d["status"] == "fail" and d["cluster"] == "prod"
    assert d["subject"] == "Deployment/shop/web" and d["namespace"] == "shop"
    assert d["policy"] == "pod-50-no-host-pid"


def test_values_the_runtime_cannot_take_are_unknown(catalog) -> None:  # type: ignore[no-untyped-def]
    weird = deployment("shop")
    weird.props["spec"]["template"]["spec"]["hostPID"] = object()  # type: ignore[index]
    findings = Evaluator(catalog).evaluate(weird)
    assert statuses(findings, "POD-50") == ["unknown"]
    assert "Non-CEL value" in (findings[0].detail or "")


STACK_CONTROLS = {
    "CL-60": """
id: CL-60
slug: identity-available
title: Workload identity available
description: The cluster has a workload identity mechanism.
severity: high
defaultMode: enforce
rationale: r
remediation: Add one.
references: {bestPractice: true}
targets:
  - type: aws:eks/cluster:Cluster
    scope: stack
    expression: >-
      stackResources.exists(r, r.type == 'aws:eks/addon:Addon' && r.props.addonName == 'eks-pod-identity-agent')
    message: No identity.
""",
}


@pytest.fixture(scope="module")
def stack_catalog(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("stack-catalog")
    shutil.copy(CONTROLS_DIR / "_library.yaml", root / "_library.yaml")
    for cid, text in {**CONTROLS, **STACK_CONTROLS}.items():
        (root / cid).mkdir()
        (root / cid / "control.yaml").write_text(text)
    return load_catalog(root)


def test_cloud_stack_scope_sees_the_stack(stack_catalog) -> None:  # type: ignore[no-untyped-def]
    cluster = Subject({"name": "c"}, type="aws:eks/cluster:Cluster", name="c")
    addon = Subject({"addonName": "eks-pod-identity-agent", "clusterName": U}, type="aws:eks/addon:Addon", name="a")
    other = Subject({"addonName": "coredns"}, type="aws:eks/addon:Addon", name="b")
    ev = Evaluator(stack_catalog)
    # the unknown clusterName is a field the check never names: still decidable
    assert statuses(ev.evaluate_stack([cluster, addon]), "CL-60") == ["pass"]
    assert statuses(ev.evaluate_stack([cluster, other]), "CL-60") == ["fail"]
    # an unknown addon name could be the agent: unknown, not fail
    maybe = Subject({"addonName": U}, type="aws:eks/addon:Addon", name="m")
    found = [f for f in ev.evaluate_stack([cluster, maybe]) if f.control_id == "CL-60"]
    assert [f.status for f in found] == ["unknown"] and found[0].unknown == ("addonName",)


def test_unknowns_in_namespace_objects_make_stack_checks_unknown(catalog) -> None:  # type: ignore[no-untyped-def]
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "default-deny", "namespace": "shop"},
              "spec": {"podSelector": U, "policyTypes": ["Ingress", "Egress"]}}
    findings = Evaluator(catalog).evaluate_all([ns("shop"), Subject(policy)])
    assert [f.status for f in findings if f.control_id == "NS-51"] == ["unknown"]


def test_cis_sections_must_be_quoted_lists(tmp_path: Path) -> None:
    from baseline.catalog import CatalogError

    for bad, fragment in (('"5.3.1"', "a list of section ids"), ("[4.10]", "must be a quoted string")):
        root = tmp_path / bad.strip('[]"').replace(".", "_")
        (root / "CL-70").mkdir(parents=True)
        shutil.copy(CONTROLS_DIR / "_library.yaml", root / "_library.yaml")
        text = CONTROLS["CL-50"].replace("CL-50", "CL-70").replace(
            "references: {bestPractice: true}", f"references: {{cis: {{eks: {bad}}}}}"
        )
        (root / "CL-70" / "control.yaml").write_text(text)
        with pytest.raises(CatalogError, match=fragment):
            load_catalog(root)


def test_unknowns_out_of_reach_of_a_stack_check_do_not_matter(catalog) -> None:  # type: ignore[no-untyped-def]
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": "orders", "namespace": "shop", "annotations": {"eks.amazonaws.com/role-arn": U}}}
    findings = Evaluator(catalog).evaluate_all([ns("shop"), Subject(deny), Subject(sa)])
    assert [f.status for f in findings if f.control_id == "NS-51"] == ["pass"]


def test_a_known_operand_decides_as_cel_would(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "CL-80").mkdir(parents=True)
    shutil.copy(CONTROLS_DIR / "_library.yaml", root / "_library.yaml")
    (root / "CL-80" / "control.yaml").write_text(
        CONTROLS["CL-50"]
        .replace("CL-50", "CL-80")
        .replace(
            "has(object.vpcConfig) && object.vpcConfig.endpointPublicAccess == false",
            "object.role != 'admin' || object.principal in ['alice']",
        )
    )
    ev = Evaluator(load_catalog(root))
    cl = "aws:eks/cluster:Cluster"

    def verdict(props: dict[str, object]) -> list[str]:
        return statuses(ev.evaluate(Subject(props, type=cl)), "CL-80")

    assert verdict({"role": "reader", "principal": U}) == ["pass"]  # true || unknown
    assert verdict({"role": "admin", "principal": U}) == ["unknown"]  # false || unknown: undecided
    assert verdict({"role": U, "principal": "alice"}) == ["pass"]  # unknown || true
    assert verdict({"role": U, "principal": "mallory"}) == ["unknown"]
