"""Workload identity under the baseline's own network policies: each cloud's identity path is open
for the namespaces that host an identity, exactly that, and the node's metadata stays closed.

The NetworkPolicies are judged by NetworkPolicy's own semantics (a pod selected by any egress
policy may send only what the union of their rules allows), for ipBlock peers, which is all these
paths use; NS-03 judges them with each cloud's params, and every engine's rendered NS-03 admits them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from baseline.catalog import load_catalog
from baseline.evaluator import Evaluator, Subject
from baseline.intent import Intent
from providers.admission import ENGINES, render_admission
from providers.incluster import ALLOW_WORKLOAD_IDENTITY, baseline_objects, workload_identity_egress_policy
from tests.conftest import load_stack_intent

Manifest = Mapping[str, Any]
NODE_METADATA = ("169.254.169.254", 80)
STS = ("52.94.0.10", 443)  # an address of sts.eu-west-1.amazonaws.com's public range
ENTRA = ("20.190.128.1", 443)  # an address of login.microsoftonline.com's range
AKS_POD = {"azure.workload.identity/use": "true"}


def _load_sim() -> Any:
    key = "fleet_baseline_tests_admission_sim"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name("admission_sim.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_allows(peer: Mapping[str, Any], ip: str) -> bool:
    if "ipBlock" not in peer:
        return False  # pod/namespace peers never reach a link-local or external address
    address = ipaddress.ip_address(ip)
    block = ipaddress.ip_network(peer["ipBlock"]["cidr"])
    if address.version != block.version or address not in block:
        return False
    return not any(address in ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", [])
                   if ipaddress.ip_network(e).version == address.version)


def _port_allows(ports: Sequence[Mapping[str, Any]] | None, port: int) -> bool:
    return not ports or any(p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port) for p in ports)


def egress_allowed(objects: Sequence[Manifest], namespace: str, labels: Mapping[str, str], ip: str,
                   port: int) -> bool:
    """May a pod (namespace, labels) open TCP ``ip:port``, under the namespace's NetworkPolicies?"""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == namespace
                and "Egress" in o["spec"].get("policyTypes", []) and _selects(o["spec"]["podSelector"], labels)]
    if not policies:
        return True  # not isolated for egress
    return any(_port_allows(rule.get("ports"), port) and any(_peer_allows(p, ip) for p in rule.get("to", []))
               for policy in policies for rule in policy["spec"].get("egress", []))


@pytest.fixture(scope="module")
def intents() -> dict[str, Intent]:
    return {cloud: load_stack_intent(f"{cloud}-prod") for cloud in ("eks", "gke", "aks")}


def test_eks_pod_identity_and_irsa_paths(intents: dict[str, Intent]) -> None:
    objects = baseline_objects(intents["eks"])
    # payments hosts a Pod Identity association: the agent, on IPv4 and IPv6, port 80
    assert egress_allowed(objects, "payments", {}, "169.254.170.23", 80)
    assert egress_allowed(objects, "payments", {}, "fd00:ec2::23", 80)
    assert not egress_allowed(objects, "payments", {}, "169.254.170.23", 443)
    # shop hosts an IRSA role: HTTPS to the token service (STS), not the agent
    assert egress_allowed(objects, "shop", {}, *STS)
    assert not egress_allowed(objects, "shop", {}, "169.254.170.23", 80)
    # nobody reaches the node's instance metadata, on IPv4 or IPv6, with or without an identity
    for ns in ("shop", "payments", "observability"):
        assert not egress_allowed(objects, ns, {}, *NODE_METADATA), ns
        assert not egress_allowed(objects, ns, {}, "fd00:ec2::254", 80), ns
        assert not egress_allowed(objects, ns, {}, "169.254.169.254", 443), ns
    # a namespace without a workload identity gets no identity path at all
    assert not egress_allowed(objects, "observability", {}, "169.254.170.23", 80)
    assert workload_identity_egress_policy(intents["eks"], intents["eks"].namespaces[2]) is None


def test_gke_metadata_server_paths(intents: dict[str, Intent]) -> None:
    objects = baseline_objects(intents["gke"])
    for ns in ("shop", "payments"):
        assert egress_allowed(objects, ns, {}, "169.254.169.254", 80), ns
        assert egress_allowed(objects, ns, {}, "169.254.169.252", 988), ns
        assert not egress_allowed(objects, ns, {}, "169.254.169.254", 8080), ns
        assert not egress_allowed(objects, ns, {}, "169.254.169.252", 80), ns
    # no identity in observability: the metadata server stays closed there
    assert not egress_allowed(objects, "observability", {}, *NODE_METADATA)
    assert not egress_allowed(objects, "observability", {}, "169.254.169.252", 988)


def test_aks_workload_identity_pods_reach_entra_only(intents: dict[str, Intent]) -> None:
    objects = baseline_objects(intents["aks"])
    assert egress_allowed(objects, "shop", AKS_POD, *ENTRA)
    assert not egress_allowed(objects, "shop", {}, *ENTRA)  # a pod without the identity label
    for labels in (AKS_POD, {}):
        # AKS has no metadata proxy for pods: the node's IMDS is closed to every pod
        assert not egress_allowed(objects, "shop", labels, *NODE_METADATA)
        assert not egress_allowed(objects, "shop", labels, "169.254.169.254", 443)
    assert not egress_allowed(objects, "observability", AKS_POD, *ENTRA)


def test_token_service_destinations_come_from_the_intent(intents: dict[str, Intent]) -> None:
    data = intents["eks"].model_dump(by_alias=True)
    data["network"]["tokenServiceCidrs"] = ["10.0.128.0/24"]  # the STS VPC endpoint's subnet
    objects = baseline_objects(Intent.model_validate(data))
    assert egress_allowed(objects, "shop", {}, "10.0.128.17", 443)
    assert not egress_allowed(objects, "shop", {}, *STS)
    policy = next(o for o in objects if o["metadata"]["name"] == ALLOW_WORKLOAD_IDENTITY
                  and o["metadata"]["namespace"] == "shop")
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "10.0.128.0/24"}}],
                                         "ports": [{"protocol": "TCP", "port": 443}]}]


def test_no_identity_egress_without_default_deny(intents: dict[str, Intent]) -> None:
    """An egress policy isolates the pods it selects: without default-deny it would cut them off."""
    data = intents["gke"].model_dump(by_alias=True)
    data["network"]["defaultDeny"] = False
    intent = Intent.model_validate(data)
    assert all(workload_identity_egress_policy(intent, ns) is None for ns in intent.namespaces)


@pytest.mark.parametrize("cloud", ["eks", "gke", "aks"])
def test_ns03_allows_exactly_the_identity_endpoints_of_each_cloud(cloud: str, intents: dict[str, Intent]) -> None:
    intent = intents[cloud]
    catalog = load_catalog()
    evaluator = Evaluator.for_intent(intent, catalog)
    policies = [o for o in baseline_objects(intent) if o["kind"] == "NetworkPolicy"]
    identity = [p for p in policies if p["metadata"]["name"] == ALLOW_WORKLOAD_IDENTITY]
    assert identity
    for policy in policies:
        ns03 = [f.status for f in evaluator.evaluate(Subject(policy)) if f.control_id == "NS-03"]
        assert ns03 == ["pass"], (policy["metadata"], ns03)
    # every engine's rendered NS-03 admits them, as a person applying them would be
    sim = _load_sim()
    for engine in ENGINES:
        out = render_admission(intent, catalog, engine)
        for policy in identity:
            assert "NS-03" not in sim.denied(sim.review(engine, out, sim.Request(policy), catalog)), engine
    # the GKE metadata path is GKE's only: on another cloud it is the node's credentials
    gke_path = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "shop"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                         "egress": [{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}],
                                     "ports": [{"protocol": "TCP", "port": 80}]}]}}
    expected = "pass" if cloud == "gke" else "fail"
    assert [f.status for f in evaluator.evaluate(Subject(gke_path)) if f.control_id == "NS-03"] == [expected]
