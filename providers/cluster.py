"""What every cloud's cluster component shares: its outputs, its children's options, and the last step.

Each cloud component (``EksCluster``, ``GkeCluster``, ``AksCluster``) builds its cloud resources, then
calls :meth:`ClusterComponent._apply_baseline` with the kubeconfig it produced: a Kubernetes provider
built from that kubeconfig and the in-cluster baseline on it, and the outputs registered last. The
same outputs on every cloud are what ``stacks/`` exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from baseline.intent import Intent
from baseline.requirements import deployer_reachability
from providers.incluster import InClusterBaseline

__all__ = ["ClusterComponent", "exec_kubeconfig"]


def exec_kubeconfig(name: str, server: str, ca_data: str, exec_config: Mapping[str, Any]) -> dict[str, Any]:
    """A kubeconfig with one cluster, context and user, all called ``name``, whose user runs a
    credential plugin (``exec_config``, after ``apiVersion: client.authentication.k8s.io/v1beta1``, in
    the order given: the text is an input of the Kubernetes provider, so it must not reshuffle):
    a short-lived token at each use, no long-lived credential in the file."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [
            {
                "name": name,
                "user": {
                    "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", **exec_config},
                },
            }
        ],
    }


class ClusterComponent(pulumi.ComponentResource):
    """Base of the cloud cluster components. ``cloud_provider``: the explicit provider for every
    cloud resource and invoke of the component (``None``: the default provider)."""

    cluster_name: pulumi.Output[str]
    """The cluster's name."""
    endpoint: pulumi.Output[str]
    """The API server endpoint."""
    oidc_issuer: pulumi.Output[str]
    """The cluster's service account token issuer."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (JSON) authenticating through the cloud's own CLI plugin; a secret."""
    k8s_provider: k8s.Provider
    baseline: InClusterBaseline

    def __init__(
        self,
        type_token: str,
        name: str,
        opts: pulumi.ResourceOptions | None,
        cloud_provider: pulumi.ProviderResource | None,
    ) -> None:
        super().__init__(type_token, name, None, opts)
        self._name = name
        self._cloud_provider = cloud_provider

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options of a cloud child: parented here, on the explicit provider when there is one."""
        kwargs.setdefault("parent", self)
        if self._cloud_provider is not None:
            kwargs.setdefault("provider", self._cloud_provider)
        return pulumi.ResourceOptions(**kwargs)

    def _apply_baseline(
        self,
        intent: Intent,
        *,
        depends_on: Sequence[pulumi.Resource],
        service_account_annotations: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
        engine_depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        """The Kubernetes provider from ``self.kubeconfig`` and the in-cluster baseline on it.

        ``depends_on``: what must exist before anything is applied in the cluster (the access that
        lets the deploying identity in, the network path of the deployer, the node pools that run
        the admission engine). ``engine_depends_on``: what the admission engine's Helm release waits
        for beyond that (the nodes it runs on, where the provider does not already wait for them).

        A private endpoint nothing admits the deployer to is logged as a warning
        (:func:`baseline.requirements.deployer_reachability`), which ``fleet-baseline plan`` prints.
        """
        unreachable = deployer_reachability(intent)
        if unreachable is not None:
            pulumi.log.warn(unreachable, resource=self)
        self.k8s_provider = k8s.Provider(
            f"{self._name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.baseline = InClusterBaseline(
            f"{self._name}-baseline",
            intent,
            provider=self.k8s_provider,
            opts=pulumi.ResourceOptions(parent=self),
            service_account_annotations=dict(service_account_annotations or {}),
            engine_depends_on=list(engine_depends_on),
        )

    def _register(self) -> None:
        """Register the outputs every cloud's component has; the last call of a constructor."""
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "oidcIssuer": self.oidc_issuer,
                "kubeconfig": self.kubeconfig,
            }
        )
