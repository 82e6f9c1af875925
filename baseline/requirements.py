"""What a cloud needs of an intent before anything can be built, checked when the intent is loaded.

The intent model (:mod:`baseline.intent`) checks shape and what holds on every cloud; this module
adds what a valid-looking intent still cannot be deployed with, so every command (``plan``,
``render``, ``controls``, the Pulumi program) refuses it the same way, with the field path (exit 2),
instead of the program failing half-way through a ``pulumi up``:

* **Someone must be able to get in.** The creator's implicit admin is off by default, so an intent
  with no ``cluster-admin`` grant yields a cluster nobody, the deployer included, can administer.
* **EKS nodes must reach a public-only endpoint.** With ``private: false`` nodes call the API
  server's public endpoint through NAT; restricted ``publicCidrs`` without the NAT addresses
  (``nodeEgressCidrs``) leave nodes that never join.
* **GKE and AKS requirements** (an existing key for secrets encryption, Google Groups for RBAC for
  namespace-scoped groups, names and formats the clouds accept, a Log Analytics workspace for AKS
  audit logs, ...). The cloud components call the same functions before they register anything.
* **The deployer's network settings must mean something on the cloud**: ``globalAccess`` is GKE's,
  ``nodeEgressCidrs`` EKS's; a private AKS cluster ignores authorized IP ranges, so
  ``deployerCidrs`` there would open nothing (``cluster.aks.apiServerSubnetId`` is the way in).

:func:`deployer_reachability` is not a refusal: it says, for a private endpoint, whether the
machine running ``pulumi up`` can reach the API server as configured (the components log it as a
warning, which ``fleet-baseline plan`` prints). Pure functions: no SDK, no environment.
"""

from __future__ import annotations

import hashlib
import re

from baseline.intent import Intent, NamespaceScope

__all__ = [
    "aks_problems",
    "common_problems",
    "deployer_reachability",
    "eks_problems",
    "gke_account_id",
    "gke_problems",
    "intent_problems",
]

_ANYWHERE = ("0.0.0.0/0", "::/0")

# ---- AKS formats
_FORBIDDEN_TAG_CHARS = frozenset("<>%&\\?")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_VM_SIZE = re.compile(r"^(Standard|Basic)_[A-Za-z0-9_]+$")
_KEY_ID = re.compile(r"^https://[^/\s]+/keys/[^/\s]+/[0-9a-zA-Z]+$")
_KEY_VAULT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/]+$", re.IGNORECASE
)
_WORKSPACE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OperationalInsights/workspaces/[^/]+$",
    re.IGNORECASE,
)
_ROLE_DEFINITION_ID = re.compile(
    r"^(/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/[0-9a-fA-F-]{36}$", re.IGNORECASE
)
_SUBNET_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$",
    re.IGNORECASE,
)
_PRIVATE_DNS_ZONE = re.compile(
    r"^(system|none|/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/[^/]+)$",
    re.IGNORECASE,
)

# ---- GKE formats
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_GKE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")  # clusters and node pools: 40 characters
_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")  # e2-standard-4, n2-custom-4-8192
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_ACCOUNT_ID_MAX = 30


def intent_problems(intent: Intent) -> list[tuple[str, str]]:
    """Every reason the intent cannot be deployed on its cloud, as ``(field path, message)``."""
    per_cloud = {"eks": eks_problems, "gke": gke_problems, "aks": aks_problems}[intent.cluster.cloud]
    return [*common_problems(intent), *per_cloud(intent)]


def common_problems(intent: Intent) -> list[tuple[str, str]]:
    """What holds on every cloud: a cluster-admin grant; network knobs of another cloud are refused."""
    problems: list[tuple[str, str]] = []
    cloud, endpoint = intent.cluster.cloud, intent.hardening.endpoint
    if not intent.cluster_admins():
        problems.append(
            (
                "access",
                "no grant with role cluster-admin: with the creator's implicit admin off, nobody (the identity"
                " running `pulumi up` included) could administer the cluster; grant cluster-admin to the"
                " deployer's principal and the platform team",
            )
        )
    if endpoint.node_egress_cidrs and cloud != "eks":
        problems.append(
            ("hardening.endpoint.nodeEgressCidrs", f"only EKS nodes reach the API server through NAT (cloud {cloud!r})")
        )
    if endpoint.global_access and cloud != "gke":
        problems.append(("hardening.endpoint.globalAccess", f"a GKE setting (cloud {cloud!r})"))
    return problems


def _open_to_anywhere(cidrs: list[str]) -> bool:
    return any(c in _ANYWHERE for c in cidrs)


def eks_problems(intent: Intent) -> list[tuple[str, str]]:
    """EKS: nodes must reach a public-only endpoint (NAT addresses listed, or the endpoint open)."""
    endpoint = intent.hardening.endpoint
    problems: list[tuple[str, str]] = []
    if (
        endpoint.public
        and not endpoint.private
        and endpoint.public_cidrs
        and not _open_to_anywhere(endpoint.public_cidrs)
        and not endpoint.node_egress_cidrs
    ):
        problems.append(
            (
                "hardening.endpoint.nodeEgressCidrs",
                "required with a public-only endpoint restricted to publicCidrs: nodes reach the API server"
                " through NAT and never join unless its addresses are admitted; list the NAT gateways' CIDRs,"
                " or turn private access on (private: true)",
            )
        )
    return problems


def gke_account_id(cluster_name: str, suffix: str) -> str:
    """``{cluster}-{suffix}`` as a Google service account id (6-30 characters), hashed when longer."""
    name = f"{cluster_name}-{suffix}"
    if len(name) <= _ACCOUNT_ID_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    head = cluster_name[: _ACCOUNT_ID_MAX - len(digest) - len(suffix) - 2].rstrip("-")
    return f"{head}-{digest}-{suffix}"


def gke_problems(intent: Intent) -> list[tuple[str, str]]:
    """What GKE cannot build: an existing Cloud KMS key for secrets encryption, GKE's name and machine
    type formats, labels GCP accepts, Google Groups for RBAC for namespace-scoped groups, one Google
    service account per Kubernetes service account. An insecure setting GKE can build is not refused."""
    loc = intent.cluster.gke
    if loc is None:
        return []
    problems: list[tuple[str, str]] = []
    enc = intent.hardening.secrets_encryption
    if enc.enabled and enc.kms_key is None:
        problems.append(
            (
                "hardening.secretsEncryption.kmsKey",
                "required on GKE when secrets encryption is enabled (GKE needs an existing Cloud KMS key,"
                " projects/P/locations/L/keyRings/R/cryptoKeys/K, on which the GKE service agent can encrypt"
                " and decrypt)",
            )
        )
    elif enc.enabled and enc.kms_key is not None and not _KMS_KEY.match(enc.kms_key):
        problems.append(
            (
                "hardening.secretsEncryption.kmsKey",
                f"{enc.kms_key!r} is not a Cloud KMS key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)",
            )
        )
    if not _GKE_NAME.match(intent.cluster.name):
        problems.append(
            (
                "cluster.name",
                f"{intent.cluster.name!r} is not a GKE cluster name (a lower-case letter first, at most 40 characters)",
            )
        )
    for i, pool in enumerate(intent.cluster.node_pools):
        if not _GKE_NAME.match(pool.name):
            problems.append((f"cluster.nodePools[{i}].name", f"{pool.name!r} is not a GKE node pool name"))
        if pool.instance_type is not None and not _MACHINE_TYPE.match(pool.instance_type):
            problems.append(
                (
                    f"cluster.nodePools[{i}].instanceType",
                    f"{pool.instance_type!r} is not a Compute Engine machine type (such as e2-standard-4)",
                )
            )
    for key, value in intent.cluster.tags.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            problems.append(
                (
                    f"cluster.tags.{key}",
                    f"{key!r}: {value!r} is not a GCP label (lower-case letters, digits, '_' and '-', a letter"
                    " first in keys, at most 63 characters)",
                )
            )
    for i, grant in enumerate(intent.access):
        if (
            isinstance(grant.scope, NamespaceScope)
            and grant.gcp is not None
            and grant.gcp.member.startswith("group:")
            and loc.security_group_domain is None
        ):
            problems.append(
                (
                    f"access[{i}].scope",
                    f"a namespace-scoped grant to {grant.gcp.member!r} needs cluster.gke.securityGroupDomain"
                    " (Kubernetes sees Google groups only through Google Groups for RBAC)",
                )
            )
    return problems + _gke_service_account_problems(intent)


def _gke_service_account_problems(intent: Intent) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    owners: dict[str, str] = {gke_account_id(intent.cluster.name, "nodes"): "the nodes' service account"}
    bound: dict[tuple[str, str], str] = {}
    for i, wi in enumerate(intent.workload_identities):
        if wi.gcp is None:  # the intent model requires it on a GKE cluster
            problems.append((f"workloadIdentities[{i}].gcp", "required on a gke cluster"))
            continue
        account = wi.gcp.service_account_id
        if account in owners:
            problems.append((f"workloadIdentities[{i}].gcp.serviceAccountId", f"{account!r} is also {owners[account]}"))
        owners.setdefault(account, f"the service account of workload identity {wi.name!r}")
        key = (wi.namespace, wi.service_account)
        if bound.setdefault(key, account) != account:
            problems.append(
                (
                    f"workloadIdentities[{i}]",
                    f"{wi.namespace}/{wi.service_account} is already bound to {bound[key]!r}; a Kubernetes"
                    " service account acts as one Google service account",
                )
            )
    return problems


def aks_problems(intent: Intent) -> list[tuple[str, str]]:
    """What AKS cannot build from a valid intent, as ``(field path, message)``."""
    loc, hardening = intent.cluster.aks, intent.hardening
    if loc is None:
        return []
    problems: list[tuple[str, str]] = []
    for field, value in (("subscriptionId", loc.subscription_id), ("tenantId", loc.tenant_id)):
        if not _GUID.match(value):
            problems.append((f"cluster.aks.{field}", f"{value!r} is not a GUID"))
    enc = hardening.secrets_encryption
    if enc.enabled:
        if enc.kms_key is None:
            problems.append(
                (
                    "hardening.secretsEncryption.kmsKey",
                    "required on AKS when secrets encryption is on: AKS cannot create the key; give the versioned"
                    " Key Vault key id (https://VAULT.vault.azure.net/keys/NAME/VERSION)",
                )
            )
        elif not _KEY_ID.match(enc.kms_key):
            problems.append(
                (
                    "hardening.secretsEncryption.kmsKey",
                    f"{enc.kms_key!r} is not a versioned Key Vault key id (https://VAULT.vault.azure.net/keys/NAME/VERSION)",
                )
            )
        if enc.key_vault_resource_id is None:
            problems.append(
                (
                    "hardening.secretsEncryption.keyVaultResourceId",
                    "required on AKS when secrets encryption is on: the key vault is reached privately",
                )
            )
        elif not _KEY_VAULT_ID.match(enc.key_vault_resource_id):
            problems.append(
                (
                    "hardening.secretsEncryption.keyVaultResourceId",
                    f"{enc.key_vault_resource_id!r} is not a key vault resource id"
                    " (/subscriptions/S/resourceGroups/G/providers/Microsoft.KeyVault/vaults/V)",
                )
            )
    endpoint = hardening.endpoint
    if endpoint.private and endpoint.public:
        problems.append(
            (
                "hardening.endpoint",
                "AKS has no private endpoint beside a public one (a private cluster refuses authorized IP ranges):"
                " choose private: true, public: false, or private: false, public: true with publicCidrs",
            )
        )
    elif not endpoint.private and not endpoint.public:
        problems.append(("hardening.endpoint", "neither private nor public: the API server would be unreachable"))
    if hardening.audit_logging.enabled:
        if loc.log_analytics_workspace_id is None:
            problems.append(
                ("cluster.aks.logAnalyticsWorkspaceId", "required on AKS when audit logging is on (where logs go)")
            )
        elif not _WORKSPACE_ID.match(loc.log_analytics_workspace_id):
            problems.append(
                (
                    "cluster.aks.logAnalyticsWorkspaceId",
                    f"{loc.log_analytics_workspace_id!r} is not a Log Analytics workspace resource id",
                )
            )
    for i, pool in enumerate(intent.cluster.node_pools):
        if not _POOL_NAME.match(pool.name):
            problems.append(
                (
                    f"cluster.nodePools[{i}].name",
                    f"{pool.name!r}: AKS node pool names are 1-12 lower-case letters and digits, starting with"
                    " a letter",
                )
            )
        if pool.instance_type is not None and not _VM_SIZE.match(pool.instance_type):
            problems.append(
                (
                    f"cluster.nodePools[{i}].instanceType",
                    f"{pool.instance_type!r} is not an Azure VM size (such as Standard_D4ds_v5)",
                )
            )
    for key in intent.cluster.tags:
        bad = sorted(set(key) & _FORBIDDEN_TAG_CHARS)
        if bad:
            problems.append((f"cluster.tags.{key}", f"Azure tag names cannot contain {''.join(bad)!r}"))
    accounts: dict[tuple[str, str], int] = {}
    for i, wi in enumerate(intent.workload_identities):
        grant = wi.azure
        if grant is not None:
            if grant.role_definition_ids and grant.scope is None:
                problems.append(
                    (
                        f"workloadIdentities[{i}].azure.scope",
                        "required with roleDefinitionIds: name the resource the roles apply to (no implicit scope)",
                    )
                )
            if grant.scope is not None and not grant.scope.startswith("/"):
                problems.append(
                    (f"workloadIdentities[{i}].azure.scope", f"{grant.scope!r} is not an Azure resource id")
                )
            for j, role in enumerate(grant.role_definition_ids):
                if not (_GUID.match(role) or _ROLE_DEFINITION_ID.match(role)):
                    problems.append(
                        (
                            f"workloadIdentities[{i}].azure.roleDefinitionIds[{j}]",
                            f"{role!r} is neither a role definition GUID nor a role definition id",
                        )
                    )
        account = (wi.namespace, wi.service_account)
        if account in accounts:
            problems.append(
                (
                    f"workloadIdentities[{i}].serviceAccount",
                    f"{wi.namespace}/{wi.service_account} is already the account of workloadIdentities"
                    f"[{accounts[account]}]: an AKS service account names one client id",
                )
            )
        accounts.setdefault(account, i)
    problems += _aks_network_problems(intent)
    return problems


def _aks_network_problems(intent: Intent) -> list[tuple[str, str]]:
    loc, endpoint = intent.cluster.aks, intent.hardening.endpoint
    if loc is None:
        return []
    problems: list[tuple[str, str]] = []
    for field, value in (("apiServerSubnetId", loc.api_server_subnet_id), ("nodeSubnetId", loc.node_subnet_id)):
        if value is not None and not _SUBNET_ID.match(value):
            problems.append((f"cluster.aks.{field}", f"{value!r} is not a virtual network subnet resource id"))
    if loc.api_server_subnet_id is not None and loc.node_subnet_id is None:
        problems.append(
            (
                "cluster.aks.nodeSubnetId",
                "required with apiServerSubnetId: API server VNet integration in your subnet needs the agent"
                " pools in the same virtual network",
            )
        )
    if loc.private_dns_zone is not None:
        if not endpoint.private:
            problems.append(("cluster.aks.privateDnsZone", "only a private cluster has a private DNS zone"))
        elif not _PRIVATE_DNS_ZONE.match(loc.private_dns_zone):
            problems.append(
                (
                    "cluster.aks.privateDnsZone",
                    f"{loc.private_dns_zone!r} is not 'system', 'none' or a private DNS zone resource id",
                )
            )
    if endpoint.private and endpoint.deployer_cidrs:
        problems.append(
            (
                "hardening.endpoint.deployerCidrs",
                "a private AKS cluster refuses authorized IP ranges, so these would open nothing: give"
                " cluster.aks.apiServerSubnetId (a subnet of a VNet the deployer's network is peered with),"
                " or run `pulumi up` inside the cluster's network (deployerInNetwork: true)",
            )
        )
    return problems


def deployer_reachability(intent: Intent) -> str | None:
    """Why the machine running ``pulumi up`` cannot reach the API server as configured, or ``None``.

    Only a private endpoint can be out of reach: a public one is judged by the controls (CL-03). The
    deployer reaches a private endpoint when it runs inside the cluster's network
    (``deployerInNetwork``) or, per cloud, through what the intent opens for it.
    """
    endpoint, cloud = intent.hardening.endpoint, intent.cluster.cloud
    if endpoint.public or endpoint.deployer_in_network:
        return None
    if cloud == "aks":
        loc = intent.cluster.aks
        if loc is not None and loc.api_server_subnet_id is not None:
            return None
        how = (
            "give cluster.aks.apiServerSubnetId (API server VNet integration in a subnet of a VNet peered with"
            " the deployer's network) and a privateDnsZone linked to it"
        )
    elif endpoint.deployer_cidrs:
        return None
    elif cloud == "eks":
        how = (
            "list the runner's source ranges in hardening.endpoint.deployerCidrs (admitted on port 443 of the"
            " cluster security group; the runner's network must route to the VPC)"
        )
    else:
        how = (
            "list the runner's source ranges in hardening.endpoint.deployerCidrs (master authorized networks;"
            " globalAccess: true when the runner is in another region)"
        )
    return (
        f"the {cloud.upper()} API endpoint of {intent.cluster.name!r} is private and nothing admits the machine"
        f" running `pulumi up`: every Kubernetes call of the in-cluster baseline would time out. Run it inside"
        f" the cluster's network (hardening.endpoint.deployerInNetwork: true), or {how}"
    )
