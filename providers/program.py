"""The Pulumi program of a fleet-baseline project, as a function: one stack is one cluster.

A project's ``__main__.py`` is three lines (``fleet-baseline init`` writes them)::

    \"\"\"fleet-baseline: one stack is one cluster, described by the stack's intent.\"\"\"
    from providers.program import run
    run(__file__)

:func:`run` is an entry point, like the pack's ``__main__``: it (and only it, with that one) reads stack
config. The intent is validated before anything is registered, so a bad intent is a clear error
naming the field path, and nothing half-made.

``intentFile`` is relative to the project's stack config directory: ``stackConfigDir`` of the
``Pulumi.yaml`` found from the program's directory upwards (the directory of ``Pulumi.yaml`` if it
names none), or, for a program outside any project, its own directory. ``fleet-baseline plan
--stacks-dir`` sets :data:`STACKS_DIR` for the run, so the program and the pack read the same files.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pulumi

from baseline.intent import Intent
from baseline.loader import CONFIG_NAMESPACE, IntentError, intent_from_config, stack_config_dir
from providers import MissingCloudSDKError, import_component_module
from providers.records import record_exceptions

__all__ = ["COMPONENTS", "STACKS_DIR", "cluster_component", "run"]

#: The stack config directory of the run under way, when its caller knows it better than the program's
#: place does (``fleet-baseline plan --stacks-dir``); a context variable, so it ends with the run.
STACKS_DIR: ContextVar[Path | None] = ContextVar("fleet_baseline_stacks_dir", default=None)

#: One component per cloud, each ``Component(name, intent)`` with the same outputs. Imported lazily:
#: a stack loads only its own cloud's SDK, and a missing one is an error naming the extra.
COMPONENTS = {
    "eks": ("providers.eks", "EksCluster"),
    "gke": ("providers.gke", "GkeCluster"),
    "aks": ("providers.aks", "AksCluster"),
}


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


def _deployer_kwargs(cloud: str) -> dict[str, Any]:
    """The identity the stack's own cloud provider uses, for the component's kubeconfig to sign as."""
    if cloud == "eks":
        return {"deployer": _aws_deployer()}
    if cloud == "aks":
        return {"deployer": _azure_deployer()}
    # the service account the Google provider impersonates, if any
    return {"impersonate": pulumi.Config("gcp").get("impersonateServiceAccount")}


def cluster_component(intent: Intent) -> Any:
    """The intent's cloud component, registered; a clear ``pulumi.RunError`` when it cannot be."""
    module_name, class_name = COMPONENTS[intent.cluster.cloud]
    try:
        module = import_component_module(module_name)
    except MissingCloudSDKError as err:
        raise pulumi.RunError(f"cluster {intent.cluster.name!r}: {err}") from None
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise pulumi.RunError(
            f"cluster {intent.cluster.name!r}: cloud {intent.cluster.cloud!r} is not supported yet"
        ) from None
    try:
        return getattr(module, class_name)(intent.cluster.name, intent, **_deployer_kwargs(intent.cluster.cloud))
    except ValueError as err:
        # a component refuses, before registering anything, what its cloud cannot build from a valid
        # intent (GKE secrets encryption without an existing key): the message names the field paths
        raise pulumi.RunError(str(err)) from None


def run(program: str | Path) -> None:
    """Run the stack: validate its intent, build its cluster, record its exceptions, export the outputs.

    ``program``: the calling program's ``__file__`` (or directory), from which the stack config
    directory is found (:func:`baseline.loader.stack_config_dir`) unless :data:`STACKS_DIR` is set.
    """
    base_dir = STACKS_DIR.get() or stack_config_dir(program)
    try:
        intent = intent_from_config(_stack_config(), base_dir=base_dir)
    except IntentError as err:
        raise pulumi.RunError(str(err)) from None
    cluster = cluster_component(intent)
    # every exception is a record in the stack's state: diffed on preview, judged by ST-02
    record_exceptions(intent.cluster.name, intent.exceptions)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("endpoint", cluster.endpoint)
    pulumi.export("oidcIssuer", cluster.oidc_issuer)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("baselineVersion", intent.baseline_version)
