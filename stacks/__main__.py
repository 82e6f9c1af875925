"""The Pulumi program: one stack is one cluster, described by the stack's intent.

The only place that reads stack config. The intent is validated before anything is registered, so
a bad intent is a clear error naming the field path, and nothing half-made.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pulumi

from baseline.intent import Intent
from baseline.loader import CONFIG_NAMESPACE, IntentError, intent_from_config
from providers.records import record_exceptions

HERE = Path(__file__).resolve().parent


def _stack_config() -> dict[str, Any]:
    config = pulumi.Config(CONFIG_NAMESPACE)
    values: dict[str, Any] = {}
    inline = config.get_object("intent")
    if inline is not None:
        values["intent"] = inline
    intent_file = config.get("intentFile")
    if intent_file is not None:
        values["intentFile"] = intent_file
    return values


#: One component per cloud, each ``Component(name, intent)`` with the same outputs. Imported lazily:
#: a stack loads only its own cloud's SDK.
COMPONENTS = {
    "eks": ("providers.eks", "EksCluster"),
    "gke": ("providers.gke", "GkeCluster"),
    "aks": ("providers.aks", "AksCluster"),
}


def _aws_deployer() -> Any:
    """The role and profile the stack's AWS provider uses (``aws:assumeRoles``, the older
    ``aws:assumeRole``, ``aws:profile``), so the kubeconfig signs as the same identity."""
    from providers.eks import AwsDeployer

    aws = pulumi.Config("aws")
    roles = aws.get_object("assumeRoles") or []
    legacy = aws.get_object("assumeRole")
    first = roles[0] if isinstance(roles, list) and roles else legacy
    role_arn = first.get("roleArn") if isinstance(first, dict) else None
    return AwsDeployer(role_arn=str(role_arn) if role_arn else None, profile=aws.get("profile"))


def _azure_deployer() -> Any:
    """How the stack's Azure provider signs in (``azure-native:useOidc``/``useMsi``/``clientId``), so
    kubelogin signs in the same way instead of with whatever Azure CLI session is around."""
    from providers.aks import AzureDeployer

    azure = pulumi.Config("azure-native")
    client_id = azure.get("clientId")
    if azure.get_bool("useOidc"):
        return AzureDeployer("workloadidentity", client_id)
    if azure.get_bool("useMsi"):
        return AzureDeployer("msi", client_id)
    if client_id:
        return AzureDeployer("spn", client_id)
    return AzureDeployer()


def _cluster_component(intent: Intent) -> Any:
    module_name, class_name = COMPONENTS[intent.cluster.cloud]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise pulumi.RunError(
            f"cluster {intent.cluster.name!r}: cloud {intent.cluster.cloud!r} is not supported yet"
        ) from None
    try:
        kwargs: dict[str, Any] = {}
        if intent.cluster.cloud == "eks":
            kwargs["deployer"] = _aws_deployer()
        elif intent.cluster.cloud == "aks":
            kwargs["deployer"] = _azure_deployer()
        else:  # the service account the Google provider impersonates, if any
            kwargs["impersonate"] = pulumi.Config("gcp").get("impersonateServiceAccount")
        return getattr(module, class_name)(intent.cluster.name, intent, **kwargs)
    except ValueError as err:
        # a component refuses, before registering anything, what its cloud cannot build from a valid
        # intent (GKE secrets encryption without an existing key): the message names the field paths
        raise pulumi.RunError(str(err)) from None


def main() -> None:
    try:
        intent = intent_from_config(_stack_config(), base_dir=HERE)
    except IntentError as err:
        raise pulumi.RunError(str(err)) from None
    cluster = _cluster_component(intent)
    # every exception is a record in the stack's state: diffed on preview, judged by ST-02
    record_exceptions(intent.cluster.name, intent.exceptions)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("endpoint", cluster.endpoint)
    pulumi.export("oidcIssuer", cluster.oidc_issuer)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("baselineVersion", intent.baseline_version)


main()
