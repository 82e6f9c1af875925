"""What a cloud needs of an intent is refused when the intent is loaded, for every command (exit 2)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from baseline.intent import Intent
from baseline.loader import IntentError, intent_from_config, intent_from_mapping, read_stack_config
from baseline.requirements import deployer_reachability, intent_problems
from tests.conftest import STACKS_DIR


def _stack_data(stack: str) -> dict[str, Any]:
    """The merged intent mapping of a sample stack, before validation."""
    intent = intent_from_config(read_stack_config(STACKS_DIR / f"Pulumi.{stack}.yaml"), base_dir=STACKS_DIR)
    return copy.deepcopy(intent.model_dump(by_alias=True, mode="json"))


def _paths(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(IntentError) as err:
        intent_from_mapping(data)
    return {p.path: p.message for p in err.value.problems}


@pytest.mark.parametrize("stack", ["eks-prod", "eks-stale", "gke-prod", "gke-stale", "aks-prod", "aks-stale"])
def test_the_samples_meet_their_clouds_requirements(stack: str) -> None:
    assert intent_problems(Intent.model_validate(_stack_data(stack))) == []


@pytest.mark.parametrize("stack", ["eks-prod", "gke-prod", "aks-prod"])
def test_an_intent_without_a_cluster_admin_is_refused(stack: str) -> None:
    data = _stack_data(stack)
    data["access"] = [g for g in data["access"] if g["role"] != "cluster-admin"]
    problems = _paths(data)
    assert "no grant with role cluster-admin" in problems["access"]


def test_gke_without_a_key_or_a_groups_domain_is_refused_at_load() -> None:
    data = _stack_data("gke-prod")
    data["hardening"]["secretsEncryption"]["kmsKey"] = None
    data["cluster"]["gke"]["securityGroupDomain"] = None
    problems = _paths(data)
    assert "required on GKE" in problems["hardening.secretsEncryption.kmsKey"]
    assert "cluster.gke.securityGroupDomain" in problems["access[1].scope"]


def test_eks_public_only_endpoint_restricted_without_nat_addresses_is_refused() -> None:
    data = _stack_data("eks-prod")
    data["hardening"]["endpoint"] = {"private": False, "public": True, "publicCidrs": ["203.0.113.0/24"]}
    assert "never join" in _paths(data)["hardening.endpoint.nodeEgressCidrs"]
    data["hardening"]["endpoint"]["nodeEgressCidrs"] = ["198.51.100.7/32"]
    intent_from_mapping(data)
    # private access on: nodes use the private endpoint, no NAT address needed
    data["hardening"]["endpoint"] = {"private": True, "public": True, "publicCidrs": ["203.0.113.0/24"]}
    intent_from_mapping(data)


def test_network_knobs_of_another_cloud_are_refused() -> None:
    data = _stack_data("aks-prod")
    data["hardening"]["endpoint"].update(globalAccess=True, nodeEgressCidrs=["198.51.100.7/32"])
    problems = _paths(data)
    assert {"hardening.endpoint.globalAccess", "hardening.endpoint.nodeEgressCidrs"} <= set(problems)


def test_deployer_cidrs_on_a_private_aks_cluster_are_refused() -> None:
    data = _stack_data("aks-prod")
    data["hardening"]["endpoint"]["deployerCidrs"] = ["10.20.0.0/24"]
    assert "apiServerSubnetId" in _paths(data)["hardening.endpoint.deployerCidrs"]


def test_an_api_server_subnet_needs_the_nodes_in_the_same_network() -> None:
    data = _stack_data("aks-prod")
    subnet = (
        "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/rg-net/providers/"
        "Microsoft.Network/virtualNetworks/vnet-prod/subnets/{}"
    )
    data["cluster"]["aks"]["apiServerSubnetId"] = subnet.format("apiserver")
    assert "same virtual network" in _paths(data)["cluster.aks.nodeSubnetId"]
    data["cluster"]["aks"]["nodeSubnetId"] = subnet.format("nodes")
    data["cluster"]["aks"]["privateDnsZone"] = "private.westeurope.azmk8s.io"
    assert "is not 'system', 'none'" in _paths(data)["cluster.aks.privateDnsZone"]
    data["cluster"]["aks"]["privateDnsZone"] = "none"
    intent = intent_from_mapping(data)
    assert deployer_reachability(intent) is None


@pytest.mark.parametrize("stack", ["eks-prod", "gke-prod", "aks-prod"])
def test_a_private_endpoint_nobody_admits_the_deployer_to_is_reported(stack: str) -> None:
    data = _stack_data(stack)
    warning = deployer_reachability(intent_from_mapping(data))
    assert warning is not None and "deployerInNetwork" in warning
    data["hardening"]["endpoint"]["deployerInNetwork"] = True
    assert deployer_reachability(intent_from_mapping(data)) is None


@pytest.mark.parametrize("stack", ["eks-prod", "gke-prod"])
def test_deployer_cidrs_admit_the_deployer(stack: str) -> None:
    data = _stack_data(stack)
    data["hardening"]["endpoint"]["deployerCidrs"] = ["10.20.0.0/24"]
    assert deployer_reachability(intent_from_mapping(data)) is None


@pytest.mark.parametrize("stack", ["eks-stale", "gke-stale", "aks-stale"])
def test_a_public_endpoint_is_not_a_reachability_question(stack: str) -> None:
    assert deployer_reachability(intent_from_mapping(_stack_data(stack))) is None
