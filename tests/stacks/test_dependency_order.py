"""The order a real ``pulumi up`` follows, checked over the resource graph each sample stack records.

The engine creates a resource only once everything it waits for exists: its explicit dependencies,
its provider, and (for a component in ``dependsOn``) every resource inside that component. The
graph below is exactly that, built from what the program registered under mocks. On it:

* the Kubernetes provider waits for the access grants (the deployer gets in only through a
  cluster-admin grant) and for the deployer's network path;
* the admission engine's Helm release waits for the nodes it runs on (``atomic``: started before the
  nodes and the CNI are ready it times out and rolls back);
* every engine policy waits for the release (its CRDs and webhook);
* federated credentials of one Azure identity are written one after another.

Each check is also shown to fail when the edge that satisfies it is removed from the recorded graph.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from baseline.loader import read_stack_config
from tests.conftest import STACKS_DIR, RecordingMocks, Registration
from tests.stacks.test_program import _run_program

STACKS = ["eks-prod", "eks-stale", "gke-prod", "gke-stale", "aks-prod", "aks-stale"]
ENGINES = ["vap", "kyverno", "gatekeeper"]

K8S_PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
#: What gives the deployer (a cluster-admin of the intent) its way in, per cloud.
GRANT_TYPES = {
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
    "gcp:projects/iAMMember:IAMMember",
    "azure-native:authorization:RoleAssignment",
}
NETWORK_TYPES = {"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"}
NODE_TYPES = {
    "aws:eks/nodeGroup:NodeGroup",
    "gcp:container/nodePool:NodePool",
    "azure-native:containerservice:ManagedCluster",  # AKS agent pools are part of the cluster
}
#: API groups of the engines' own policy kinds (their CRDs come with the release).
ENGINE_GROUPS = (
    "kyverno.io",
    "policies.kyverno.io",
    "templates.gatekeeper.sh",
    "constraints.gatekeeper.sh",
    "config.gatekeeper.sh",
    "mutations.gatekeeper.sh",
)


@dataclass
class Graph:
    """Resources by URN and, for each, the URNs it waits for directly."""

    nodes: dict[str, Registration]
    edges: dict[str, set[str]] = field(default_factory=dict)

    def of_type(self, types: Iterable[str]) -> list[Registration]:
        wanted = set(types)
        return [r for r in self.nodes.values() if r.type in wanted]

    def waits_for(self, urn: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.edges.get(urn, ()))
        while stack:
            here = stack.pop()
            if here not in seen:
                seen.add(here)
                stack.extend(self.edges.get(here, ()))
        return seen

    def without(self, source: str, targets: Iterable[str]) -> Graph:
        """The graph with the edges from ``source`` to ``targets`` planted missing."""
        edges = {k: set(v) for k, v in self.edges.items()}
        edges[source] -= set(targets)
        return Graph(self.nodes, edges)


def graph_of(registrations: Iterable[Registration]) -> Graph:
    regs = list(registrations)
    nodes = {r.urn: r for r in regs}
    children: dict[str, list[str]] = {}
    for r in regs:
        children.setdefault(r.parent, []).append(r.urn)

    def expand(urn: str) -> set[str]:
        """A component in ``dependsOn`` stands for every resource inside it."""
        reg = nodes.get(urn)
        if reg is None or reg.custom:
            return {urn}
        out: set[str] = set()
        for child in children.get(urn, []):
            out |= expand(child)
        return out

    graph = Graph(nodes)
    for r in regs:
        waits: set[str] = set()
        for dep in r.dependencies:
            waits |= expand(dep)
        if r.provider:
            waits.add(r.provider.rsplit("::", 1)[0])  # "URN::ID": a resource waits for its provider
        graph.edges[r.urn] = waits
    return graph


def _is_engine_policy(reg: Registration) -> bool:
    return reg.type.startswith("kubernetes:") and reg.type.split(":")[1].split("/")[0] in ENGINE_GROUPS


def order_problems(graph: Graph) -> list[str]:
    """Every ordering a real ``pulumi up`` needs and the graph lacks, one line each."""
    problems: list[str] = []
    grants = [r for r in graph.of_type(GRANT_TYPES) if "-access-" in r.name]
    network = graph.of_type(NETWORK_TYPES)
    nodes = graph.of_type(NODE_TYPES)
    for provider in graph.of_type([K8S_PROVIDER]):
        before = graph.waits_for(provider.urn)
        problems += [f"{provider.name} does not wait for access grant {g.name}" for g in grants if g.urn not in before]
        problems += [
            f"{provider.name} does not wait for deployer path {n.name}" for n in network if n.urn not in before
        ]
    releases = graph.of_type([RELEASE])
    for release in releases:
        before = graph.waits_for(release.urn)
        problems += [f"{release.name} does not wait for nodes {n.name}" for n in nodes if n.urn not in before]
    for policy in (r for r in graph.nodes.values() if _is_engine_policy(r)):
        before = graph.waits_for(policy.urn)
        problems += [f"{policy.name} does not wait for release {r.name}" for r in releases if r.urn not in before]
    by_identity: dict[str, list[Registration]] = {}
    for credential in graph.of_type([FEDERATED_CREDENTIAL]):
        by_identity.setdefault(str(credential.inputs.get("resourceName")), []).append(credential)
    for identity, credentials in by_identity.items():
        for i, a in enumerate(credentials):
            for b in credentials[i + 1 :]:
                if a.urn not in graph.waits_for(b.urn) and b.urn not in graph.waits_for(a.urn):
                    problems.append(f"credentials {a.name} and {b.name} of identity {identity} are written at once")
    return problems


def _program_config(stack: str, engine: str) -> dict[str, str]:
    config = read_stack_config(STACKS_DIR / f"Pulumi.{stack}.yaml")
    inline: dict[str, Any] = dict(config.get("intent", {}))
    inline["admission"] = {**inline.get("admission", {}), "engine": engine}
    return {"fleet-baseline:intent": json.dumps(inline), "fleet-baseline:intentFile": str(config["intentFile"])}


def _recorded(mocks: RecordingMocks, stack: str, engine: str) -> Graph:
    pulumi.runtime.set_all_config(_program_config(stack, engine))
    _run_program()
    return graph_of(mocks.registrations)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("stack", STACKS)
def test_the_sample_stacks_are_ordered_for_a_real_up(pulumi_mocks: RecordingMocks, stack: str, engine: str) -> None:
    graph = _recorded(pulumi_mocks, stack, engine)
    assert order_problems(graph) == []
    # the checks had something to check: the provider and its grants, and the engine's parts
    (provider,) = graph.of_type([K8S_PROVIDER])
    # the stale templates carry no grant resources: CONFIG_MAP (EKS) and Azure RBAC off (AKS) admit
    # through the creator's admin and aws-auth, or adminGroupObjectIDs on the cluster itself
    assert [r for r in graph.of_type(GRANT_TYPES) if "-access-" in r.name] or stack in ("eks-stale", "aks-stale")
    if engine != "vap":
        assert len(graph.of_type([RELEASE])) == 1
        assert [r for r in graph.nodes.values() if _is_engine_policy(r)]
        assert graph.of_type(NODE_TYPES)
    assert provider.urn


def _edge(graph: Graph, source: Registration, targets: Iterable[Registration]) -> Graph:
    wanted = {t.urn for t in targets}
    direct = graph.edges[source.urn] & wanted
    assert direct, f"{source.name} waits for none of {sorted(wanted)} directly"
    return graph.without(source.urn, direct)


@pytest.mark.parametrize("stack", ["eks-prod", "gke-prod", "aks-prod"])
def test_a_provider_that_does_not_wait_for_the_grants_is_caught(pulumi_mocks: RecordingMocks, stack: str) -> None:
    graph = _recorded(pulumi_mocks, stack, "vap")
    (provider,) = graph.of_type([K8S_PROVIDER])
    grants = [r for r in graph.of_type(GRANT_TYPES) if "-access-" in r.name]
    problems = order_problems(_edge(graph, provider, grants))
    assert any("does not wait for access grant" in p for p in problems), problems


@pytest.mark.parametrize("stack", ["eks-prod", "gke-prod"])
def test_a_release_that_does_not_wait_for_the_nodes_is_caught(pulumi_mocks: RecordingMocks, stack: str) -> None:
    """The bug of issue 13 on EKS: the release waited only for the access associations."""
    graph = _recorded(pulumi_mocks, stack, "kyverno")
    (release,) = graph.of_type([RELEASE])
    (provider,) = graph.of_type([K8S_PROVIDER])
    nodes = graph.of_type(NODE_TYPES)
    planted = graph
    for source in (release, provider):  # EKS: on the release itself; GKE: through the provider
        if graph.edges[source.urn] & {n.urn for n in nodes}:
            planted = _edge(planted, source, nodes)
    assert planted is not graph
    problems = order_problems(planted)
    assert any("does not wait for nodes" in p for p in problems), problems


@pytest.mark.parametrize("engine", ["kyverno", "gatekeeper"])
def test_a_policy_that_does_not_wait_for_the_release_is_caught(pulumi_mocks: RecordingMocks, engine: str) -> None:
    graph = _recorded(pulumi_mocks, "eks-prod", engine)
    (release,) = graph.of_type([RELEASE])
    policy = next(r for r in graph.nodes.values() if _is_engine_policy(r) and release.urn in graph.edges[r.urn])
    problems = order_problems(graph.without(policy.urn, [release.urn]))
    assert problems == [f"{policy.name} does not wait for release {release.name}"]


def test_credentials_of_one_identity_written_at_once_are_caught(pulumi_mocks: RecordingMocks) -> None:
    """One identity per workload in the samples: plant a second credential on one identity, unordered."""
    graph = _recorded(pulumi_mocks, "aks-prod", "vap")
    first = graph.of_type([FEDERATED_CREDENTIAL])[0]
    twin = Registration(**{**first.__dict__, "urn": first.urn + "-twin", "name": first.name + "-twin"})
    planted = Graph({**graph.nodes, twin.urn: twin}, {**graph.edges, twin.urn: set(graph.edges[first.urn])})
    problems = order_problems(planted)
    assert problems == [
        f"credentials {first.name} and {twin.name} of identity {first.inputs['resourceName']} are written at once"
    ]
    ordered = Graph(planted.nodes, {**planted.edges, twin.urn: planted.edges[twin.urn] | {first.urn}})
    assert order_problems(ordered) == []


def test_the_graph_sees_through_components_and_providers(pulumi_mocks: RecordingMocks) -> None:
    """A namespace waits for the grants only through its provider: the graph must follow that edge."""
    graph = _recorded(pulumi_mocks, "eks-prod", "vap")
    namespace = next(r for r in graph.nodes.values() if r.type == "kubernetes:core/v1:Namespace")
    (provider,) = graph.of_type([K8S_PROVIDER])
    assert provider.urn in graph.edges[namespace.urn]
    association = graph.of_type(["aws:eks/accessPolicyAssociation:AccessPolicyAssociation"])[0]
    assert association.urn in graph.waits_for(namespace.urn)
