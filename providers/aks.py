"""AKS: the intent as an AKS cluster, its identities and grants, then the in-cluster baseline.

Every argument set is a pure function of the intent (``*_args``, ``access_role_assignments``,
``workload_role_assignments``, ``kubeconfig``), tested without mocks. :class:`AksCluster` only wires
them together, adding the values that exist only once another resource does (the cluster's ARM id
and OIDC issuer, managed identities' principal and client ids).

Security settings are literals from the intent, so a policy can decide them at preview:
``aadProfile``, ``disableLocalAccounts``, ``enableRBAC``, ``apiServerAccessProfile``,
``securityProfile`` (KMS and workload identity), ``oidcIssuerProfile``, ``networkProfile``,
``autoUpgradeProfile``, every agent pool's ``securityProfile`` and ``enableEncryptionAtHost``, the
diagnostic setting's log categories, role definition ids, federated credential subjects and
audiences, the stamp tag. The exceptions are values Azure assigns: the cluster's ARM id (the scope
of cluster role assignments and the diagnostic setting's ``resourceUri``), the OIDC issuer URL in
federated credentials, principal ids, and the client ids in service account annotations.

An insecure but valid intent (local accounts on, Azure RBAC off, an API server open to 0.0.0.0/0,
no network policy, no managed upgrades) is translated faithfully: blocking it is the controls' job,
with the control's own message. What AKS cannot express at all is refused before anything is
registered, as an :class:`~baseline.loader.IntentError` (a ``ValueError``) naming each field path
(:func:`check_intent`): secrets encryption without an existing Key Vault key (AKS cannot create
one), a private endpoint *and* a public one (a private AKS cluster refuses authorized IP ranges),
audit logging without a Log Analytics workspace, node pool names or VM sizes AKS refuses.

Decisions:

* **Cluster name** is ``cluster.name`` (``resource_name_``), not auto-named: the credentials
  lookup names the cluster, and role assignment scopes read well in the portal.
* **Control-plane identity is user-assigned** (``{cluster}-control-plane``). KMS etcd encryption
  does not work with a system-assigned identity: the identity must hold *Key Vault Crypto User*
  on the vault before the cluster is created. The key vault is reached privately
  (``keyVaultNetworkAccess: Private``), which also needs *Key Vault Contributor* (AKS creates the
  private endpoint) and API Server VNet Integration (Konnectivity no longer serves private key
  vaults for new subscriptions). The vault must use the Azure RBAC permission model.
* **Entra ID only.** ``aadProfile.managed`` is always on; ``enableAzureRBAC`` and
  ``disableLocalAccounts`` follow ``hardening.authentication.azureRbac`` / ``localAccounts``.
  ``adminGroupObjectIDs`` are the object ids of the *Group* principals granted cluster-admin (AKS
  matches them against group membership, so user and service principal object ids would do
  nothing there; they get their role assignment instead).
* **Access** is one ``RoleAssignment`` of the built-in AKS RBAC role per grant and namespace, at
  ``{cluster.id}`` or ``{cluster.id}/namespaces/{ns}``, with ``principalType`` set (assignments to a
  new principal otherwise fail while Entra ID replicates). Without Azure RBAC those roles authorize
  nothing in the cluster, so none is created; the component warns, naming the grants not
  provisioned (only Group cluster-admins still get in, through ``adminGroupObjectIDs``). Role
  assignments take minutes to propagate: a first ``up`` can meet 403s from the API server and
  succeeds on retry.
* **Workload identity** (``oidcIssuerProfile`` and ``securityProfile.workloadIdentity``, CL-05)
  follows ``hardening.workloadIdentity``; off is translated faithfully (both ``enabled: false``,
  and the cluster exports an empty issuer). AKS cannot turn an OIDC issuer off once it is on, so
  turning the knob off on an existing cluster fails at the API, which is the honest outcome. Each
  workload gets a user-assigned identity ``{cluster}-{workload}``, one federated credential for
  exactly ``system:serviceaccount:NS:SA`` and the audience ``api://AzureADTokenExchange`` (CL-09),
  and its role assignments at the intent's ``scope``. Credentials of one identity are written one
  after another (AKS refuses concurrent credential writes to one identity); credentials of
  different identities are independent and written in parallel. The service account the in-cluster
  baseline creates carries ``azure.workload.identity/client-id``; Azure assigns the client id, so
  the annotation is unknown at preview for a new identity. **Pods must carry the label
  ``azure.workload.identity/use: "true"``** for the AKS webhook to project the token and set
  ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_FEDERATED_TOKEN_FILE``; the label is on the
  pod template, which application charts own.
* **Kubeconfig.** Local accounts are off, so admin credentials do not exist. The user credentials
  (``listClusterUserCredential``) give the API server and its CA; the kubeconfig built from them
  authenticates with ``kubelogin get-token --login azurecli`` (the Entra ID token of whoever runs
  Pulumi, for the AKS AAD server application), so it holds no credential. For CI, kubelogin's
  ``AAD_LOGIN_METHOD`` (``workloadidentity``, ``spn``, ``msi``) selects another login without
  changing the kubeconfig. The identity running Pulumi reaches the cluster only through a grant in
  the intent (a cluster-admin), so the Kubernetes provider depends on the access role assignments.
* **Tags.** Azure tag names may not contain ``/`` (nor ``< > % & \\ ?``), so every tag key has
  ``/`` replaced with ``_``: the stamp ST-01 reads is ``fleet-baseline.io_baseline-version``. An
  intent tag with another forbidden character is refused.
* **Audit logs.** A diagnostic setting on the cluster sends the intent's log types to the Log
  Analytics workspace, in resource-specific tables: ``audit`` is ``kube-audit-admin`` (writes, not
  the get/list flood), ``authenticator`` is ``guard`` (Entra ID authentication), ``api``,
  ``controllerManager`` and ``scheduler`` the matching ``kube-*`` categories. Retention is the
  workspace's, owned where the workspace is.
* **Nodes.** The first intent node pool is the ``System`` pool, others ``User``. Every pool: SSH
  disabled, encryption at host (the subscription must have ``Microsoft.Compute/EncryptionAtHost``
  registered), no node public IPs, and Trusted Launch secure boot + vTPM when
  ``hardening.shieldedNodes`` (needs Gen2 VM sizes). Agent pool profiles are create-only in AKS:
  later changes go through agent pool resources, outside this component.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import authorization, containerservice, managedidentity, monitor

from baseline.intent import AksCluster as AksLocation
from baseline.intent import Intent, NodePool, WorkloadIdentity
from baseline.loader import IntentError
from baseline.requirements import aks_problems, common_problems
from providers.cluster import ClusterComponent, exec_kubeconfig
from providers.incluster import BASELINE_VERSION_LABEL, ServiceAccountAnnotations

__all__ = [
    "AKS_AAD_SERVER_ID",
    "AKS_RBAC_ROLES",
    "AUDIT_LOG_CATEGORIES",
    "CLIENT_ID_ANNOTATION",
    "KEY_VAULT_CONTRIBUTOR",
    "KEY_VAULT_CRYPTO_USER",
    "STAMP_TAG",
    "TYPE_TOKEN",
    "UPGRADE_CHANNELS",
    "USE_LABEL",
    "WORKLOAD_IDENTITY_AUDIENCE",
    "AksCluster",
    "AzureDeployer",
    "RoleAssignmentSpec",
    "access_role_assignments",
    "admin_group_object_ids",
    "agent_pool_profiles",
    "audit_log_categories",
    "azure_tag_key",
    "check_intent",
    "cluster_args",
    "control_plane_identity_args",
    "control_plane_identity_name",
    "credentials_endpoint",
    "diagnostic_setting_args",
    "federated_credential_args",
    "ignored_changes",
    "kms_role_assignments",
    "kubeconfig",
    "resource_tags",
    "role_assignment_scope",
    "role_definition_id",
    "unprovisioned_access",
    "workload_identity_args",
    "workload_identity_name",
    "workload_role_assignments",
    "workload_subject",
]

#: Pulumi type token of the component.
TYPE_TOKEN = "fleet-baseline:aks:Cluster"

#: Built-in "Azure Kubernetes Service RBAC ..." role definition GUIDs per intent role.
AKS_RBAC_ROLES: Mapping[str, str] = {
    "cluster-admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",  # AKS RBAC Cluster Admin
    "admin": "3498e952-d568-435e-9b2c-8d77e338d7f7",  # AKS RBAC Admin
    "edit": "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",  # AKS RBAC Writer
    "view": "7f6c6a51-bcf8-42ba-9220-52d62157d7db",  # AKS RBAC Reader
}
#: Key Vault Crypto User: wrap/unwrap with the KMS key.
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
#: Key Vault Contributor: AKS creates the private endpoint of a privately reached vault.
KEY_VAULT_CONTRIBUTOR = "f25e0fa2-a7c8-4377-a976-54943a77a395"
#: The only audience an AKS workload identity token is exchanged for.
WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange"
#: Service account annotation naming the workload's managed identity.
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
#: Pod label that makes the AKS webhook inject the federated token (the pod template's to carry).
USE_LABEL = "azure.workload.identity/use"
#: The well-known application id of the "Azure Kubernetes Service AAD Server" (every AKS cluster).
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
#: Diagnostic log category per intent log type.
AUDIT_LOG_CATEGORIES: Mapping[str, str] = {
    "api": "kube-apiserver",
    "audit": "kube-audit-admin",
    "authenticator": "guard",
    "controllerManager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
}
#: AKS upgrade channel per intent channel. AKS has no "regular": its ``stable`` (N-1 minor, latest
#: patch) is the conservative channel that still moves minors; ``rapid`` is the latest minor.
UPGRADE_CHANNELS: Mapping[str, str] = {"rapid": "rapid", "regular": "stable", "stable": "stable"}

_DIAGNOSTIC_SETTING_NAME = "fleet-baseline-audit"
_MANAGED_IDENTITY_PRINCIPAL = "ServicePrincipal"
_FORBIDDEN_TAG_CHARS = frozenset("<>%&\\?")


# --------------------------------------------------------------------------- validation


def _location(intent: Intent) -> AksLocation:
    if intent.cluster.aks is None:  # the intent model guarantees it for cloud "aks"
        raise ValueError(f"cluster {intent.cluster.name!r} is not an AKS cluster (cloud {intent.cluster.cloud!r})")
    return intent.cluster.aks


def _problems(intent: Intent) -> list[tuple[str, str]]:
    _location(intent)
    return [*common_problems(intent), *aks_problems(intent)]


def check_intent(intent: Intent) -> None:
    """Refuse what AKS cannot express, naming every field path at once (``IntentError``, a ``ValueError``).

    Called by :func:`cluster_args` and by the component before it registers anything.
    """
    problems = _problems(intent)
    if problems:
        raise IntentError(f"AKS cluster {intent.cluster.name!r}", problems)


# --------------------------------------------------------------------------- pure translation


def azure_tag_key(key: str) -> str:
    """A tag name Azure accepts: ``/`` becomes ``_`` (``fleet-baseline.io/owner`` -> ``fleet-baseline.io_owner``)."""
    bad = sorted(set(key) & _FORBIDDEN_TAG_CHARS)
    if bad:
        raise ValueError(f"tag name {key!r}: Azure tag names cannot contain {''.join(bad)!r}")
    return key.replace("/", "_")


#: The baseline version stamp, as an Azure tag name (ST-01 reads it).
STAMP_TAG = azure_tag_key(BASELINE_VERSION_LABEL)


def resource_tags(intent: Intent) -> dict[str, str]:
    """The intent's tags plus the baseline's own, which the intent cannot override; names made Azure-safe."""
    tags = {
        **intent.cluster.tags,
        "fleet-baseline.io/cluster": intent.cluster.name,
        "fleet-baseline.io/owner": intent.cluster.owner,
        BASELINE_VERSION_LABEL: intent.baseline_version,
    }
    return {azure_tag_key(k): v for k, v in tags.items()}


def role_definition_id(intent: Intent, role: str) -> str:
    """The full role definition id of a GUID in the intent's subscription; a full id is kept as given."""
    if role.startswith("/"):
        return role
    subscription = _location(intent).subscription_id
    return f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def role_assignment_scope(cluster_id: str, namespace: str | None = None) -> str:
    """The cluster, or one of its namespaces, as an Azure RBAC scope."""
    return f"{cluster_id}/namespaces/{namespace}" if namespace else cluster_id


def control_plane_identity_name(intent: Intent) -> str:
    return f"{intent.cluster.name}-control-plane"


def _identity_args(intent: Intent, name: str) -> dict[str, Any]:
    loc = _location(intent)
    return {
        "resource_group_name": loc.resource_group_name,
        "location": loc.location,
        "resource_name_": name,
        "tags": resource_tags(intent),
    }


def control_plane_identity_args(intent: Intent) -> dict[str, Any]:
    """The cluster's user-assigned identity: it must hold its Key Vault roles before the cluster exists."""
    return _identity_args(intent, control_plane_identity_name(intent))


@dataclass(frozen=True, slots=True)
class RoleAssignmentSpec:
    """One role assignment without its principal id or (for cluster scopes) the cluster's ARM id.

    ``name`` is the resource name suffix. ``scope`` is a full Azure scope, or ``None`` for the
    cluster itself and ``namespace`` for one of its namespaces (:func:`role_assignment_scope`).
    """

    name: str
    role_definition_id: str
    principal_type: str
    principal_id: str | None = None
    scope: str | None = None
    namespace: str | None = None

    def args(self) -> dict[str, Any]:
        """``RoleAssignment`` arguments known from the intent (no ``scope`` when it is the cluster's)."""
        out: dict[str, Any] = {"role_definition_id": self.role_definition_id, "principal_type": self.principal_type}
        if self.principal_id is not None:
            out["principal_id"] = self.principal_id
        if self.scope is not None:
            out["scope"] = self.scope
        return out


def kms_role_assignments(intent: Intent) -> list[RoleAssignmentSpec]:
    """What the control-plane identity needs on the key vault before KMS can be turned on."""
    enc = intent.hardening.secrets_encryption
    if not enc.enabled or enc.key_vault_resource_id is None:
        return []
    return [
        RoleAssignmentSpec(
            "kms-crypto-user",
            role_definition_id(intent, KEY_VAULT_CRYPTO_USER),
            _MANAGED_IDENTITY_PRINCIPAL,
            scope=enc.key_vault_resource_id,
        ),
        RoleAssignmentSpec(
            "kms-contributor",
            role_definition_id(intent, KEY_VAULT_CONTRIBUTOR),
            _MANAGED_IDENTITY_PRINCIPAL,
            scope=enc.key_vault_resource_id,
        ),
    ]


def admin_group_object_ids(intent: Intent) -> list[str]:
    """Object ids of the Group principals granted cluster-admin (``aadProfile.adminGroupObjectIDs``)."""
    return [
        g.azure.object_id for g in intent.cluster_admins() if g.azure is not None and g.azure.principal_type == "Group"
    ]


def _aad_profile(intent: Intent) -> dict[str, Any]:
    return {
        "managed": True,
        "enable_azure_rbac": intent.hardening.authentication.azure_rbac,
        "tenant_id": _location(intent).tenant_id,
        "admin_group_object_ids": admin_group_object_ids(intent),
    }


def _security_profile(intent: Intent) -> dict[str, Any]:
    enc = intent.hardening.secrets_encryption
    kms: dict[str, Any] = {"enabled": enc.enabled}
    if enc.enabled:
        kms.update(
            {
                "key_id": enc.kms_key,
                "key_vault_network_access": "Private",
                "key_vault_resource_id": enc.key_vault_resource_id,
            }
        )
    return {"workload_identity": {"enabled": intent.hardening.workload_identity}, "azure_key_vault_kms": kms}


def _api_server_access_profile(intent: Intent) -> dict[str, Any]:
    """The API server's reachability. A public endpoint admits ``publicCidrs`` plus the deployer's
    ``deployerCidrs``. A private cluster ignores authorized ranges: the deployer reaches it through
    API server VNet integration in a subnet of the caller's VNet (``apiServerSubnetId``, peered
    with the deployer's network) and a private DNS zone linked there (``privateDnsZone``)."""
    endpoint, loc = intent.hardening.endpoint, _location(intent)
    profile: dict[str, Any] = {"enable_private_cluster": endpoint.private, "disable_run_command": True}
    if endpoint.public and endpoint.public_cidrs:
        profile["authorized_ip_ranges"] = list(dict.fromkeys([*endpoint.public_cidrs, *endpoint.deployer_cidrs]))
    if intent.hardening.secrets_encryption.enabled or loc.api_server_subnet_id:
        profile["enable_vnet_integration"] = True  # a private key vault is reached through it
    if loc.api_server_subnet_id:
        profile["subnet_id"] = loc.api_server_subnet_id
    if endpoint.private and loc.private_dns_zone:
        profile["private_dns_zone"] = loc.private_dns_zone
    return profile


def _network_profile(intent: Intent) -> dict[str, Any]:
    """Azure CNI overlay; with enforcement, the Cilium dataplane and its policy engine, else none."""
    enforce = intent.hardening.network_policy_enforcement
    return {
        "network_plugin": "azure",
        "network_plugin_mode": "overlay",
        "network_dataplane": "cilium" if enforce else "azure",
        "network_policy": "cilium" if enforce else "none",
    }


def _auto_upgrade_profile(intent: Intent) -> dict[str, Any]:
    upgrades = intent.hardening.upgrades
    return {
        "upgrade_channel": UPGRADE_CHANNELS[upgrades.channel] if upgrades.managed else "none",
        "node_os_upgrade_channel": upgrades.node_os_channel,
    }


def _agent_pool(intent: Intent, pool: NodePool, system: bool) -> dict[str, Any]:
    shielded = intent.hardening.shielded_nodes
    profile: dict[str, Any] = {
        "name": pool.name,
        "mode": "System" if system else "User",
        "type": "VirtualMachineScaleSets",
        "os_type": "Linux",
        "count": pool.desired_size,
        "enable_auto_scaling": True,
        "min_count": pool.min_size,
        "max_count": pool.max_size,
        "enable_node_public_ip": False,
        "enable_encryption_at_host": True,
        "security_profile": {"ssh_access": "Disabled", "enable_secure_boot": shielded, "enable_vtpm": shielded},
        "node_labels": {"fleet-baseline.io/node-pool": pool.name},
        "tags": resource_tags(intent),
    }
    if pool.instance_type:
        profile["vm_size"] = pool.instance_type
    subnet = _location(intent).node_subnet_id
    if subnet:
        profile["vnet_subnet_id"] = subnet
    return profile


def agent_pool_profiles(intent: Intent) -> list[dict[str, Any]]:
    """One agent pool per intent node pool; the first is the System pool AKS requires."""
    return [_agent_pool(intent, pool, i == 0) for i, pool in enumerate(intent.cluster.node_pools)]


def cluster_args(intent: Intent, identity_id: pulumi.Input[str]) -> dict[str, Any]:
    """Arguments of ``containerservice.ManagedCluster``; ``identity_id`` is the control-plane identity's ARM id.

    Raises :class:`~baseline.loader.IntentError` (:func:`check_intent`) for what AKS cannot express.
    """
    check_intent(intent)
    loc, auth = _location(intent), intent.hardening.authentication
    args: dict[str, Any] = {
        "resource_group_name": loc.resource_group_name,
        "resource_name_": intent.cluster.name,
        "location": loc.location,
        "dns_prefix": loc.dns_prefix or intent.cluster.name,
        "identity": {"type": "UserAssigned", "user_assigned_identities": [identity_id]},
        "enable_rbac": True,
        "aad_profile": _aad_profile(intent),
        "disable_local_accounts": not auth.local_accounts,
        "oidc_issuer_profile": {"enabled": intent.hardening.workload_identity},
        "security_profile": _security_profile(intent),
        "api_server_access_profile": _api_server_access_profile(intent),
        "network_profile": _network_profile(intent),
        "auto_upgrade_profile": _auto_upgrade_profile(intent),
        "agent_pool_profiles": agent_pool_profiles(intent),
        "tags": resource_tags(intent),
    }
    if intent.cluster.kubernetes_version:
        # the version the cluster is created at; with an upgrade channel AKS moves it on, and the
        # component ignores later changes (:func:`ignored_changes`) so an `up` never asks to downgrade
        args["kubernetes_version"] = intent.cluster.kubernetes_version
    return args


def ignored_changes(intent: Intent) -> list[str]:
    """Wire names of cluster inputs the component must not reconcile: with an auto-upgrade channel the
    Kubernetes version is the channel's to move (a pinned version would be a downgrade after it)."""
    if intent.hardening.upgrades.managed and intent.cluster.kubernetes_version:
        return ["kubernetesVersion"]
    return []


def audit_log_categories(intent: Intent) -> list[str]:
    """The diagnostic log categories of the intent's log types, in the intent's order."""
    return [AUDIT_LOG_CATEGORIES[t] for t in intent.hardening.audit_logging.log_types]


def diagnostic_setting_args(intent: Intent, cluster_id: pulumi.Input[str]) -> dict[str, Any] | None:
    """The cluster's diagnostic setting to the Log Analytics workspace, or ``None`` when audit logging is off."""
    audit = intent.hardening.audit_logging
    if not audit.enabled:
        return None
    workspace = _location(intent).log_analytics_workspace_id
    if workspace is None:
        check_intent(intent)  # names the missing field
    return {
        "name": _DIAGNOSTIC_SETTING_NAME,
        "resource_uri": cluster_id,
        "workspace_id": workspace,
        "log_analytics_destination_type": "Dedicated",
        "logs": [{"category": c, "enabled": True} for c in audit_log_categories(intent)],
    }


def _grant_principal(intent: Intent, name: str) -> tuple[str, str]:
    grant = next(g for g in intent.access if g.name == name)
    if grant.azure is None:  # the intent model requires it on an AKS cluster
        raise ValueError(f"access grant {name!r} has no azure principal")
    return grant.azure.object_id, grant.azure.principal_type


def access_role_assignments(intent: Intent) -> list[RoleAssignmentSpec]:
    """One AKS RBAC role assignment per grant (per namespace when namespaced); none without Azure RBAC."""
    if not intent.hardening.authentication.azure_rbac:
        return []
    out: list[RoleAssignmentSpec] = []
    for grant in intent.access:
        principal_id, principal_type = _grant_principal(intent, grant.name)
        role = role_definition_id(intent, AKS_RBAC_ROLES[grant.role])
        if grant.scope == "cluster":
            out.append(RoleAssignmentSpec(f"access-{grant.name}", role, principal_type, principal_id))
        else:
            out += [
                RoleAssignmentSpec(f"access-{grant.name}-{ns}", role, principal_type, principal_id, namespace=ns)
                for ns in dict.fromkeys(grant.scope.namespaces)  # a namespace listed twice is granted once
            ]
    # ``access-{grant}-{namespace}`` is ambiguous (grant ``a`` in ``b-c``, grant ``a-b`` in ``c``, or at
    # cluster scope): a namespaced name another assignment also has gets a hash of its grant and
    # namespace, so no two share a URN (which the engine refuses); every other name is unchanged
    counts = Counter(spec.name for spec in out)
    return [
        dataclasses.replace(spec, name=f"{spec.name}-{_short_hash(spec.name, spec.namespace)}")
        if spec.namespace is not None and counts[spec.name] > 1
        else spec
        for spec in out
    ]


def _short_hash(*parts: str | None) -> str:
    return hashlib.sha256("/".join(p or "" for p in parts).encode()).hexdigest()[:8]


def unprovisioned_access(intent: Intent) -> list[str]:
    """Grants nothing carries without Azure RBAC (Group cluster-admins still have ``adminGroupObjectIDs``)."""
    if intent.hardening.authentication.azure_rbac:
        return []
    admins = set(admin_group_object_ids(intent))
    return [
        g.name for g in intent.access if not (g.role == "cluster-admin" and g.azure and g.azure.object_id in admins)
    ]


def workload_identity_name(intent: Intent, wi: WorkloadIdentity) -> str:
    """``{cluster}-{workload}``: unique in the resource group, within the 128 characters Azure allows."""
    return f"{intent.cluster.name}-{wi.name}"


def workload_identity_args(intent: Intent, wi: WorkloadIdentity) -> dict[str, Any]:
    return _identity_args(intent, workload_identity_name(intent, wi))


def workload_subject(wi: WorkloadIdentity) -> str:
    """The one service account the identity trusts (CL-09)."""
    return f"system:serviceaccount:{wi.namespace}:{wi.service_account}"


def federated_credential_args(intent: Intent, wi: WorkloadIdentity, issuer: pulumi.Input[str]) -> dict[str, Any]:
    """The federated credential on the workload's identity (``resource_name_`` is the *identity*'s name)."""
    return {
        "resource_group_name": _location(intent).resource_group_name,
        "resource_name_": workload_identity_name(intent, wi),
        "federated_identity_credential_resource_name": f"{wi.namespace}-{wi.service_account}",
        "issuer": issuer,
        "subject": workload_subject(wi),
        "audiences": [WORKLOAD_IDENTITY_AUDIENCE],
    }


def workload_role_assignments(intent: Intent, wi: WorkloadIdentity) -> list[RoleAssignmentSpec]:
    """The workload's grants at the intent's scope, without the identity's principal id (Azure assigns it)."""
    grant = wi.azure
    if grant is None or not grant.role_definition_ids:
        return []
    if grant.scope is None:
        check_intent(intent)  # names the missing field
    out: list[RoleAssignmentSpec] = []
    seen: set[str] = set()
    for role in grant.role_definition_ids:
        full = role_definition_id(intent, role)
        guid = full.rsplit("/", 1)[-1].lower()
        if guid in seen:
            continue
        seen.add(guid)
        out.append(RoleAssignmentSpec(f"wi-{wi.name}-{guid}", full, _MANAGED_IDENTITY_PRINCIPAL, scope=grant.scope))
    return out


def credentials_endpoint(kubeconfig_b64: str) -> tuple[str, str]:
    """``(server, certificate-authority-data)`` of the first cluster in a base64 kubeconfig from AKS."""
    try:
        config = yaml.safe_load(base64.b64decode(kubeconfig_b64))
        cluster = config["clusters"][0]["cluster"]
        return str(cluster["server"]), str(cluster["certificate-authority-data"])
    except (ValueError, TypeError, KeyError, IndexError, yaml.YAMLError) as exc:
        raise ValueError(f"the AKS credentials are not a kubeconfig with a cluster server and CA ({exc})") from None


@dataclass(frozen=True, slots=True)
class AzureDeployer:
    """How the stack's Azure provider signs in, which kubelogin must follow (``--login``).

    ``login``: ``azurecli`` (the provider's default), ``spn`` (a service principal: kubelogin reads its
    secret from ``AAD_SERVICE_PRINCIPAL_CLIENT_SECRET``), ``msi`` (a managed identity) or
    ``workloadidentity`` (OIDC federation in CI: ``AZURE_FEDERATED_TOKEN_FILE``). ``client_id``: the
    service principal or identity. No secret ever goes into the kubeconfig.
    """

    login: str = "azurecli"
    client_id: str | None = None

    def __post_init__(self) -> None:
        if self.login not in ("azurecli", "spn", "msi", "workloadidentity"):
            raise ValueError(f"kubelogin login {self.login!r}: expected azurecli, spn, msi or workloadidentity")
        if self.login in ("spn", "workloadidentity") and not self.client_id:
            raise ValueError(f"kubelogin login {self.login!r} needs the client id the provider signs in with")


def kubeconfig(
    cluster_name: str, server: str, ca_data: str, tenant_id: str, deployer: AzureDeployer | None = None
) -> dict[str, Any]:
    """A kubeconfig that authenticates with kubelogin (Entra ID) as the stack's Azure provider does:
    no long-lived credential in it."""
    login = deployer or AzureDeployer()
    args = ["get-token", "--login", login.login, "--server-id", AKS_AAD_SERVER_ID, "--tenant-id", tenant_id]
    if login.client_id:
        args += ["--client-id", login.client_id]
    plugin = {"command": "kubelogin", "args": args, "interactiveMode": "Never", "provideClusterInfo": False}
    return exec_kubeconfig(cluster_name, server, ca_data, plugin)


# --------------------------------------------------------------------------- wiring


def _first_kubeconfig(result: Any) -> str:
    """The base64 value of the first kubeconfig a credentials invoke returned (typed or plain)."""
    configs: Sequence[Any] = getattr(result, "kubeconfigs", None) or []
    if not configs:
        raise ValueError("the AKS user credentials returned no kubeconfig")
    first = configs[0]
    value = first.get("value") if isinstance(first, Mapping) else getattr(first, "value", None)
    if not isinstance(value, str):
        raise ValueError("the AKS user credentials returned a kubeconfig without a value")
    return value


async def _resolved(value: Any) -> Any:
    return value


def _unknown() -> pulumi.Output[str]:
    """An output whose value is unknown, as the engine's are at preview."""
    return pulumi.Output(set(), _resolved(None), _resolved(False))


def _issuer(cluster: containerservice.ManagedCluster, enabled: bool) -> pulumi.Output[str]:
    """The issuer URL AKS assigns (``oidcIssuerProfile.issuerURL``); ``""`` when the issuer is off.

    At preview of a new cluster the provider echoes ``oidcIssuerProfile`` from the inputs, without
    the URL: with the issuer on, that is an unknown issuer, never an empty one.
    """

    def url(profile: Any) -> pulumi.Output[str]:
        value = getattr(profile, "issuer_url", None) if profile is not None else None
        if value:
            return pulumi.Output.from_input(str(value))
        return _unknown() if enabled else pulumi.Output.from_input("")

    return cluster.oidc_issuer_profile.apply(url)


class AksCluster(ClusterComponent):
    """An AKS cluster built from the intent, with its grants, workload identities and in-cluster baseline.

    ``azure_provider`` is used for every Azure resource and invoke when given; otherwise the default
    provider (the subscription of its configuration; resources are placed in the intent's resource
    group and location either way).

    Workloads that use a workload identity must label their pods ``azure.workload.identity/use:
    "true"`` (:data:`USE_LABEL`) and run as the service account the baseline created for them, which
    carries ``azure.workload.identity/client-id``.

    Outputs as every cluster component's (:class:`~providers.cluster.ClusterComponent`). The
    kubeconfig authenticates with ``kubelogin`` (Entra ID; local accounts are off).
    """

    def __init__(
        self,
        name: str,
        intent: Intent,
        opts: pulumi.ResourceOptions | None = None,
        *,
        azure_provider: pulumi.ProviderResource | None = None,
        deployer: AzureDeployer | None = None,
    ) -> None:
        check_intent(intent)  # before anything is registered: nothing half-made
        super().__init__(TYPE_TOKEN, name, opts, azure_provider)
        self._intent, self._azure = intent, azure_provider
        loc = _location(intent)

        identity = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane", **control_plane_identity_args(intent), opts=self._opts()
        )
        kms_grants = [self._role_assignment(spec, identity.principal_id) for spec in kms_role_assignments(intent)]
        self.cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            **cluster_args(intent, identity.id),
            # KMS is checked at creation: the identity must already hold its Key Vault roles
            opts=self._opts(depends_on=kms_grants, ignore_changes=ignored_changes(intent)),
        )
        diagnostics = diagnostic_setting_args(intent, self.cluster.id)
        if diagnostics is not None:
            monitor.DiagnosticSetting(f"{name}-audit-logs", **diagnostics, opts=self._opts())
        access = self._access()
        issuer = _issuer(self.cluster, intent.hardening.workload_identity)
        annotations = self._workload_identities(issuer)

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=loc.resource_group_name,
            resource_name=intent.cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self._azure, depends_on=[self.cluster]),
        )
        server = credentials.apply(lambda r: credentials_endpoint(_first_kubeconfig(r)))

        # the intent's name, once the cluster exists (``name`` is an output AKS fills, not an input)
        self.cluster_name = self.cluster.id.apply(lambda _id: intent.cluster.name)
        self.endpoint = pulumi.Output.unsecret(server.apply(lambda s: s[0]))  # an address, not a credential
        self.oidc_issuer = issuer
        self.kubeconfig = pulumi.Output.secret(
            server.apply(lambda s: json.dumps(kubeconfig(intent.cluster.name, s[0], s[1], loc.tenant_id, deployer)))
        )
        self._apply_baseline(intent, depends_on=access, service_account_annotations=annotations)
        self._register()

    # ------------------------------------------------------------------ helpers

    def _role_assignment(
        self,
        spec: RoleAssignmentSpec,
        principal_id: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> authorization.RoleAssignment:
        args = spec.args()
        if principal_id is not None:
            args["principal_id"] = principal_id
        if spec.scope is None:
            args["scope"] = self.cluster.id.apply(lambda cid: role_assignment_scope(cid, spec.namespace))
        return authorization.RoleAssignment(
            f"{self._name}-{spec.name}", **args, opts=self._opts(depends_on=list(depends_on))
        )

    def _access(self) -> list[pulumi.Resource]:
        """The intent's grants as AKS RBAC role assignments; a warning for what Azure RBAC off cannot carry."""
        skipped = unprovisioned_access(self._intent)
        if skipped:
            pulumi.log.warn(
                f"Azure RBAC is off: grants {skipped} are not provisioned (only Group cluster-admins get in,"
                " through aadProfile.adminGroupObjectIDs); set hardening.authentication.azureRbac",
                resource=self,
            )
        return [self._role_assignment(spec) for spec in access_role_assignments(self._intent)]

    def _workload_identities(self, issuer: pulumi.Output[str]) -> ServiceAccountAnnotations:
        """Identities, their federated credentials (written one at a time) and grants; returns annotations."""
        intent = self._intent
        annotations: dict[tuple[str, str], dict[str, Any]] = {}
        # the last credential written to each identity: AKS refuses concurrent writes to ONE identity
        # (ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity); different identities
        # are written in parallel
        last: dict[str, pulumi.Resource] = {}
        for wi in intent.workload_identities:
            identity = managedidentity.UserAssignedIdentity(
                f"{self._name}-wi-{wi.name}", **workload_identity_args(intent, wi), opts=self._opts()
            )
            args = federated_credential_args(intent, wi, issuer)
            owner = str(args["resource_name_"])
            before = [last[owner]] if owner in last else []
            last[owner] = managedidentity.FederatedIdentityCredential(
                f"{self._name}-wi-{wi.name}", **args, opts=self._opts(depends_on=[identity, *before])
            )
            for spec in workload_role_assignments(intent, wi):
                self._role_assignment(spec, identity.principal_id)
            annotations[(wi.namespace, wi.service_account)] = {CLIENT_ID_ANNOTATION: identity.client_id}
        return annotations
