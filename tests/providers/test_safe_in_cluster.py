"""The in-cluster baseline meets a real cluster: the cloud's own add-ons, the control plane's own
requests, namespaces made by Helm or Argo CD, label edits on existing namespaces.

Each request is played through every engine's rendered policies with that engine's semantics
(``admission_sim``), with the CEL the engines run; the evaluator (plan, audit) and the pack are held
to the same one list of system namespaces.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from baseline.catalog import Catalog, load_catalog
from baseline.evaluator import Evaluator, Subject
from baseline.intent import Intent
from baseline.system_namespaces import (
    control_plane,
    merged_system_namespaces,
    system_namespaces_of,
)
from policy_packs.factory import PackSetup
from providers.admission import ENGINES, render_admission, system_namespaces
from providers.engines import gatekeeper_values, kyverno_values
from tests.conftest import load_stack_intent


def _load(name: str) -> Any:
    key = f"fleet_baseline_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


sim = _load("admission_sim")
Request = sim.Request

CLOUDS = ("eks", "gke", "aks")
#: Per cloud: an add-on namespace from the catalog's list and an image of that add-on, from the
#: cloud's own registry, pinned by tag (not by digest) as the add-on's manager deploys it.
ADDONS: dict[str, tuple[str, str]] = {
    "eks": ("amazon-guardduty", "602401143452.dkr.ecr.eu-west-1.amazonaws.com/aws-guardduty-agent:v1.10.0"),
    "gke": ("gmp-system", "gke.gcr.io/prometheus-engine/config-reloader:v0.15.3-gke.0"),
    "aks": ("calico-system", "mcr.microsoft.com/oss/calico/node:v3.29.2"),
}
PERSON = "alice@example.com"
SERVICE_ACCOUNT_CONTROLLER = "system:serviceaccount:kube-system:service-account-controller"
REPLICASET_CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
HELM_NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "v1.33",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
    "fleet-baseline.io/owner": "web-team",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def intents() -> dict[str, Intent]:
    return {cloud: load_stack_intent(f"{cloud}-prod") for cloud in CLOUDS}


@pytest.fixture(scope="module")
def rendered(intents: dict[str, Intent], catalog: Catalog) -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {(cloud, engine): render_admission(intents[cloud], catalog, engine)
            for cloud in CLOUDS for engine in ENGINES}


def _privileged_daemonset(namespace: str, image: str) -> dict[str, Any]:
    """What a cloud's add-on manager applies: a privileged host agent, tag-pinned, no limits."""
    container = {
        "name": "agent",
        "image": image,
        "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
        "volumeMounts": [{"name": "host", "mountPath": "/host"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "hostNetwork": True,
                    "hostPID": True,
                    "containers": [container],
                    "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
                },
            },
        },
    }


def _namespace(name: str, labels: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}}
    if annotations:
        md["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": md}


# --------------------------------------------------------------------------- the one list


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_cloud_lists_its_addon_namespaces_with_a_source(cloud: str) -> None:
    entries = system_namespaces_of(cloud)
    names = [e.name for e in entries]
    assert names[:3] == ["kube-system", "kube-public", "kube-node-lease"]
    assert ADDONS[cloud][0] in names
    assert all(e.source.startswith("https://") and e.owner for e in entries)
    others = {e.name for c in CLOUDS if c != cloud for e in system_namespaces_of(c) if e.group == c}
    assert not others & {e.name for e in entries if e.group == cloud}, "a cloud's list holds only its own add-ons"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_one_merged_list_drives_evaluator_pack_engines(cloud: str, intents: dict[str, Intent],
                                                       catalog: Catalog) -> None:
    data = intents[cloud].model_dump(by_alias=True)
    addon = ADDONS[cloud][0]
    data["systemNamespaces"] = {"add": ["istio-system"], "remove": []}
    intent = Intent.model_validate(data)
    merged = merged_system_namespaces(cloud, ["istio-system"])
    assert intent.system_namespaces == merged and addon in merged
    assert Evaluator.for_intent(intent, catalog).system_namespaces == frozenset(merged)
    assert PackSetup.from_intent(intent, catalog, "test").system_namespaces == merged
    assert system_namespaces(intent, "vap") == merged
    kyverno_selector = kyverno_values(intent)["config"]["webhooks"]["namespaceSelector"]["matchExpressions"][0]
    assert kyverno_selector["values"] == [*merged, "kyverno"]
    # (on AKS the Azure Policy add-on's gatekeeper-system is on the list already: not twice)
    gatekeeper_exempt = list(dict.fromkeys([*merged, "gatekeeper-system"]))
    assert gatekeeper_values(intent)["controllerManager"]["exemptNamespaces"] == gatekeeper_exempt
    # removing an add-on namespace puts it back under every control
    data["systemNamespaces"] = {"remove": [addon]}
    removed = Intent.model_validate(data)
    assert addon not in removed.system_namespaces
    assert addon not in Evaluator.for_intent(removed, catalog).system_namespaces


def test_the_intent_cannot_remove_kube_system_or_what_is_not_listed(intents: dict[str, Intent]) -> None:
    data = intents["eks"].model_dump(by_alias=True)
    for bad, said in (("kube-system", "cannot be removed"), ("gmp-system", "not system namespaces of eks")):
        data["systemNamespaces"] = {"remove": [bad]}
        with pytest.raises(ValueError, match=said) as info:
            Intent.model_validate(data)
        assert "systemNamespaces.remove" in str(info.value)


def test_a_plain_list_adds_to_the_catalogs_list(intents: dict[str, Intent]) -> None:
    data = intents["aks"].model_dump(by_alias=True)
    data["systemNamespaces"] = ["istio-system"]
    assert Intent.model_validate(data).system_namespaces == merged_system_namespaces("aks", ["istio-system"])


def test_controls_that_hold_in_system_namespaces_say_so_as_data(catalog: Catalog) -> None:
    enforced = {c.id for c in catalog if c.system_namespaces == "enforced"}
    assert {"RB-01", "RB-02", "RB-03", "RB-04", "RB-05", "RB-06"} <= enforced
    assert not any(c.exempts_system_namespaces for c in catalog if c.id in enforced)
    assert catalog["RB-07"].exempts_system_namespaces  # the add-on's default account is not ours


# --------------------------------------------------------------------------- the cloud's own add-ons


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cloud", CLOUDS)
def test_an_addon_daemonset_is_admitted_in_its_namespace_and_refused_in_a_team_one(
    cloud: str, engine: str, rendered: dict[tuple[str, str], list[dict[str, Any]]], catalog: Catalog,
    intents: dict[str, Intent],
) -> None:
    out = rendered[(cloud, engine)]
    namespace, image = ADDONS[cloud]
    manager = {"eks": "eks:addon-manager", "gke": "system:addon-manager", "aks": "aks-addon-manager"}[cloud]
    # the add-on's namespace, made without the baseline's labels, and its privileged agent
    assert sim.review(engine, out, Request(_namespace(namespace), user=manager), catalog) == []
    annotated = _namespace(namespace, **{"addonmanager.kubernetes.io/mode": "Reconcile"})
    assert sim.review(engine, out, Request(annotated, "UPDATE", old=_namespace(namespace), user=manager),
                      catalog) == []
    assert sim.review(engine, out, Request(_privileged_daemonset(namespace, image), user=manager), catalog) == []
    # the same agent in a team namespace, by the same manager or by a person: refused
    for user in (manager, PERSON):
        refused = sim.denied(sim.review(engine, out, Request(_privileged_daemonset("shop", image), user=user),
                                        catalog))
        assert {"POD-01", "POD-02", "POD-03", "POD-08", "POD-11"} <= refused, (user, refused)
    # the audit agrees: exempt in the add-on's namespace, failing in the team's
    evaluator = Evaluator.for_intent(intents[cloud], catalog)
    assert not [f for f in evaluator.evaluate(Subject(_privileged_daemonset(namespace, image)))
                if f.status == "fail"]
    assert {"POD-01", "POD-11"} <= {f.control_id for f in evaluator.evaluate(
        Subject(_privileged_daemonset("shop", image))) if f.status == "fail"}


# --------------------------------------------------------------------------- the control plane's own requests


@pytest.mark.parametrize("engine", ENGINES)
def test_control_plane_requests_are_never_judged(engine: str, rendered: dict[tuple[str, str], list[dict[str, Any]]],
                                                 catalog: Catalog) -> None:
    out = rendered[("eks", engine)]
    pod = copy.deepcopy(_privileged_daemonset("shop", "docker.io/library/busybox:1"))
    mirror = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "static-web", "namespace": "shop"},
              "spec": pod["spec"]["template"]["spec"]}
    assert sim.denied(sim.review(engine, out, Request(mirror), catalog))  # a person's request is judged
    for user in ("system:node:ip-10-0-1-23.eu-west-1.compute.internal", REPLICASET_CONTROLLER,
                 "system:kube-controller-manager"):
        assert control_plane().is_control_plane(user)
        assert sim.review(engine, out, Request(mirror, user=user), catalog) == [], user
    # a service account outside kube-system is a tool, not the control plane: judged
    ci = "system:serviceaccount:argocd:argocd-application-controller"
    assert not control_plane().is_control_plane(ci)
    assert sim.denied(sim.review(engine, out, Request(mirror, user=ci), catalog))


@pytest.mark.parametrize("engine", ENGINES)
def test_rb07_never_denies_at_admission(engine: str, rendered: dict[tuple[str, str], list[dict[str, Any]]],
                                        catalog: Catalog) -> None:
    out = rendered[("eks", engine)]
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "web"}}
    # the controller creates it: not judged at all
    assert sim.review(engine, out, Request(account, user=SERVICE_ACCOUNT_CONTROLLER), catalog) == []
    # a person creating it: a warning (the audit and CrossGuard still report it), never a refusal
    verdicts = sim.review(engine, out, Request(account), catalog)
    assert [(v.control, v.action) for v in verdicts] == [("RB-07", "warn")]


# --------------------------------------------------------------------------- namespaces outside the intent


@pytest.mark.parametrize("engine", ENGINES)
def test_a_helm_created_namespace_is_told_the_labels_to_add_then_works(
    engine: str, rendered: dict[tuple[str, str], list[dict[str, Any]]], catalog: Catalog
) -> None:
    out = rendered[("eks", engine)]
    # helm install --create-namespace: a bare Namespace
    verdicts = sim.review(engine, out, Request(_namespace("web"), user="helm-deployer"), catalog)
    assert sim.denied(verdicts) == {"NS-01"}, verdicts  # not ST-01: nothing stale about a namespace with no stamp
    message = next(v.message for v in verdicts if v.control == "NS-01")
    for label, value in HELM_NAMESPACE_LABELS.items():
        assert label in message, label
        if label != "fleet-baseline.io/owner":
            assert f"{label}={value.replace('v1.33', 'v1.NN')}" in message or f"{label}={value}" in message
    assert "podSecurity.version: v1.33" in message
    assert {v.control for v in verdicts if v.action == "warn"} == {"NS-06"}  # no owner: reported, by its mode
    # with the labels, admitted without a word
    labelled = _namespace("web", HELM_NAMESPACE_LABELS)
    assert sim.review(engine, out, Request(labelled, user="helm-deployer"), catalog) == []
    # the control plane makes its default ServiceAccount ...
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "web"}}
    assert sim.review(engine, out, Request(account, user=SERVICE_ACCOUNT_CONTROLLER), catalog) == []
    # ... and a compliant Deployment's pods run under it (ServiceAccount admission needs it to exist)
    pod_spec = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "web",
            "image": "registry.example.com/web@sha256:" + "a" * 64,
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
        }],
    }
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}}}
    assert sim.review(engine, out, Request(deployment, user="helm-deployer"), catalog) == []
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-5d8f-x2x7q", "namespace": "web"},
           "spec": {**pod_spec, "serviceAccountName": "default"}}
    assert sim.review(engine, out, Request(pod, user=REPLICASET_CONTROLLER), catalog) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_label_edits_on_existing_namespaces_are_not_refused(
    engine: str, rendered: dict[tuple[str, str], list[dict[str, Any]]], catalog: Catalog
) -> None:
    out = rendered[("eks", engine)]
    default = _namespace("default")
    # kubectl label ns default team=x; kubectl annotate ns default ...
    edited = _namespace("default", {"team": "x"}, **{"example.com/note": "y"})
    assert sim.review(engine, out, Request(edited, "UPDATE", old=default), catalog) == []
    # a namespace stamped by an older baseline: a label edit is not a stale template being applied
    stale = _namespace("legacy", {**HELM_NAMESPACE_LABELS, "fleet-baseline.io/baseline-version": "0.9.0"})
    stale_edit = _namespace("legacy", {**HELM_NAMESPACE_LABELS, "fleet-baseline.io/baseline-version": "0.9.0",
                                       "team": "x"})
    assert sim.review(engine, out, Request(stale_edit, "UPDATE", old=stale), catalog) == []
    # ... but creating one from a stale template, or re-stamping it stale, is refused
    assert sim.denied(sim.review(engine, out, Request(stale), catalog)) == {"ST-01"}
    current = _namespace("legacy", {**HELM_NAMESPACE_LABELS, "fleet-baseline.io/baseline-version": "1.0.0"})
    assert sim.denied(sim.review(engine, out, Request(stale, "UPDATE", old=current), catalog)) == {"ST-01"}
    # weakening the Pod Security labels of a namespace is judged as a create is
    weakened = _namespace("web", {k: v for k, v in HELM_NAMESPACE_LABELS.items()
                                  if k != "pod-security.kubernetes.io/enforce"})
    verdicts = sim.review(engine, out, Request(weakened, "UPDATE", old=_namespace("web", HELM_NAMESPACE_LABELS)),
                          catalog)
    assert sim.denied(verdicts) == {"NS-01"}
    privileged = _namespace("web", {**HELM_NAMESPACE_LABELS, "pod-security.kubernetes.io/enforce": "privileged"})
    assert sim.denied(sim.review(engine, out, Request(privileged, "UPDATE",
                                                      old=_namespace("web", HELM_NAMESPACE_LABELS)), catalog)) == {
        "NS-01"}
