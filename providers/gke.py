"""GKE: the intent as a GKE cluster, its node pools and identities, then the in-cluster baseline.

Every argument set is a pure function of the intent (``*_args``, :func:`access_grants`,
:func:`access_role_bindings`, the workload identity members), tested without mocks.
:class:`GkeCluster` only wires them together, adding what only exists once another resource does
(the cluster's endpoint and CA, a Google service account's resource name).

Security settings are literals from the intent, so a policy decides them at preview:
``privateClusterConfig``, ``masterAuthorizedNetworksConfig``, ``databaseEncryption``,
``loggingConfig``, ``masterAuth.clientCertificateConfig``, ``enableLegacyAbac``,
``rbacBindingConfig``, ``workloadIdentityConfig``, ``datapathProvider``, ``releaseChannel``,
``binaryAuthorization``, ``enableShieldedNodes``, each node pool's ``workloadMetadataConfig`` and
``shieldedInstanceConfig``, the IAM members and roles, the stamp label. Settings the intent turns
off are spelled out too (``DECRYPTED``, ``LEGACY_DATAPATH``, ``DISABLED``), so a control reads a
literal rather than knowing the API's default.

An insecure but valid intent (client certificates, legacy ABAC, a public endpoint open to
0.0.0.0/0, no secrets encryption) is translated faithfully: blocking it is the controls' job, with
the control's own message. What GKE cannot build at all is refused by :func:`validate_intent`
(a ``ValueError`` naming every field path) before anything is registered.

Decisions:

* **Secrets encryption needs an existing key.** GKE cannot create the Cloud KMS key itself (unlike
  the EKS component, which makes one), and the GKE service agent must already hold
  ``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on it. With ``secretsEncryption.enabled`` and no
  ``kmsKey`` (or a key that is not a ``projects/P/locations/L/keyRings/R/cryptoKeys/K`` name),
  the intent is refused rather than silently left unencrypted.
* **Endpoint.** Nodes are always private (``enablePrivateNodes``). ``endpoint.public: false``
  (the default) gives a private endpoint only; ``public: true`` keeps the public endpoint, open to
  ``endpoint.publicCidrs`` through master authorized networks, and to 0.0.0.0/0 spelled out when
  none are listed (the same reading as the EKS component). Google Cloud's public ranges are never
  admitted (``gcpPublicCidrsAccessEnabled: false``). GKE has no way to turn the private endpoint
  off, so ``endpoint.private`` has no effect here. A private-endpoint-only cluster admits only its
  nodes' subnet: list the runner's range in ``endpoint.deployerCidrs`` (with ``globalAccess`` when
  the runner is in another region), or run Pulumi inside the network (``deployerInNetwork``).
* **Audit logging.** ``loggingConfig.enableComponents`` is ``SYSTEM_COMPONENTS`` and ``WORKLOADS``
  (GKE's defaults) plus the control-plane components of ``auditLogging.logTypes`` (``api`` and
  ``audit`` are ``APISERVER``). GKE has no authenticator log (Cloud Audit Logs already name the
  Google identity), and ``retentionDays`` is a Cloud Logging bucket setting of the project, not of
  the cluster: neither is translated.
* **Labels.** GCP label keys and values allow lower-case letters, digits, ``_`` and ``-`` only, so
  the stamp ``fleet-baseline.io/baseline-version`` is the label ``fleet-baseline-baseline-version``
  with the version's dots written as dashes (``1.0.0`` -> ``1-0-0``); ST-01's GKE target turns it
  back. The intent's own ``cluster.tags`` must already be valid labels (refused otherwise: a label
  silently rewritten is a label nobody can find).
* **Human access.** GKE IAM is project-wide: a cluster-scoped grant is a project IAM member with
  ``roles/container.admin`` (cluster-admin), ``roles/container.developer`` (admin, edit) or
  ``roles/container.viewer`` (view), and it reaches every cluster of the project. A namespace-scoped
  grant is a RoleBinding of the ClusterRole admin/edit/view in each namespace to the Google group
  (or user) plus ``roles/container.clusterViewer`` (get-credentials, no Kubernetes permission).
  Kubernetes sees Google groups only through Google Groups for RBAC, so a namespace-scoped group
  grant needs ``cluster.gke.securityGroupDomain`` (and the group must be a member of
  ``gke-security-groups@DOMAIN``). The RoleBindings are registered here, on the cluster's
  Kubernetes provider, after the baseline's Namespace: :class:`~providers.incluster.InClusterBaseline`
  takes no extra objects.
* **Workload identity** is on unless ``hardening.workloadIdentity`` is false (``workloadPool``
  ``PROJECT.svc.id.goog``, ``GKE_METADATA`` on every node pool). Each workload gets its own Google service account, a
  ``roles/iam.workloadIdentityUser`` member for exactly ``serviceAccount:POOL[NS/KSA]`` (depending
  on the cluster: the pool exists only once the first Workload Identity cluster of the project
  does), and its project roles. The service account's e-mail is built from the account id and the
  project (known at preview), and the in-cluster baseline writes it as the Kubernetes service
  account's ``iam.gke.io/gcp-service-account`` annotation.
* **Binary Authorization** is enforced from the project's singleton policy
  (``PROJECT_SINGLETON_POLICY_ENFORCE``), which Google's default leaves at "allow everything": the
  component manages that policy (:func:`binary_authorization_policy_args`) so this cluster admits
  only ``registries.allowed``, the admission engine's images and Google's system images, blocking
  or only logging the rest as CL-12's mode says. One stack per project owns the policy.
* **Nodes** run as a dedicated service account with ``roles/container.defaultNodeServiceAccount``
  only (never the Compute Engine default account, which holds Editor). Pulling private images from
  Artifact Registry needs ``roles/artifactregistry.reader`` on those repositories, granted where
  the repositories are managed. Pools autoscale between the intent's sizes as totals over the
  pool's zones; ``desiredSize`` is left to the autoscaler (GKE's initial count is per zone).
* **The Kubernetes provider** depends on the node pools (the default pool is removed, and an
  admission engine's Helm release has nowhere to run before a pool exists) and on the access
  grants (the deployer reaches the cluster through a cluster-admin grant in the intent).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_gcp import binaryauthorization, container, projects, serviceaccount
from pulumi_kubernetes.rbac import v1 as rbac_v1

from baseline.catalog import load_catalog
from baseline.intent import GkeCluster as GkeLocation
from baseline.intent import Intent, NamespaceScope, NodePool, WorkloadIdentity
from baseline.requirements import common_problems, gke_account_id, gke_problems
from providers.cluster import ClusterComponent, exec_kubeconfig
from providers.incluster import BASELINE_VERSION_LABEL, Manifest, resource_name

__all__ = [
    "ACCESS_ROLES",
    "CLUSTER_VIEWER_ROLE",
    "ENGINE_IMAGE_PATTERNS",
    "GSA_ANNOTATION",
    "NODE_SERVICE_ACCOUNT_ROLES",
    "STAMP_LABEL",
    "TYPE_TOKEN",
    "WORKLOAD_IDENTITY_USER",
    "AccessGrantArgs",
    "GkeCluster",
    "access_grants",
    "access_role_bindings",
    "binary_authorization_policy_args",
    "cluster_args",
    "deployer_access_problem",
    "kubeconfig",
    "label_value",
    "logging_components",
    "node_pool_args",
    "node_service_account_args",
    "node_service_account_email",
    "node_service_account_id",
    "oidc_issuer",
    "project_member_args",
    "resource_labels",
    "service_account_annotations",
    "service_account_email",
    "stamp_label_value",
    "validate_intent",
    "workload_identity_member",
    "workload_identity_user_args",
    "workload_pool",
    "workload_role_grants",
    "workload_service_account_args",
]

#: Pulumi type token of the component.
TYPE_TOKEN = "fleet-baseline:gke:Cluster"

#: Project IAM role per intent role, for cluster-scoped grants. GKE has no IAM role between
#: developer and admin: ``admin`` and ``edit`` both get developer (no RBAC or IAM changes).
ACCESS_ROLES: dict[str, str] = {
    "cluster-admin": "roles/container.admin",
    "admin": "roles/container.developer",
    "edit": "roles/container.developer",
    "view": "roles/container.viewer",
}
#: What a namespace-scoped grantee needs in IAM to fetch credentials: no Kubernetes permission.
CLUSTER_VIEWER_ROLE = "roles/container.clusterViewer"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
#: Least privilege for nodes (logging, monitoring, metadata), Google's replacement for Editor.
NODE_SERVICE_ACCOUNT_ROLES: tuple[str, ...] = ("roles/container.defaultNodeServiceAccount",)
#: Where the admission engines' own images come from (their charts' defaults): a cluster that admits
#: only the intent's registries must still admit the engine that enforces them.
ENGINE_IMAGE_PATTERNS: dict[str, tuple[str, ...]] = {
    "kyverno": ("reg.kyverno.io/kyverno/**",),
    "gatekeeper": ("docker.io/openpolicyagent/**",),
}
#: Kubernetes service account annotation naming the Google service account it acts as.
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
#: The baseline stamp as a GCP label key (no dots or slashes in GCP labels); value: :func:`stamp_label_value`.
STAMP_LABEL = "fleet-baseline-baseline-version"

_CLUSTER_LABEL = "fleet-baseline-cluster"
_OWNER_LABEL = "fleet-baseline-owner"
_RBAC_GROUP = "rbac.authorization.k8s.io"
#: ClusterRole bound in a namespace per intent role (cluster-admin is cluster-scoped only).
_NAMESPACE_ROLES: dict[str, str] = {"admin": "admin", "edit": "edit", "view": "view"}
#: GKE control-plane log component per intent log type; ``authenticator`` has none on GKE.
_LOG_COMPONENTS: dict[str, str] = {
    "api": "APISERVER",
    "audit": "APISERVER",
    "controllerManager": "CONTROLLER_MANAGER",
    "scheduler": "SCHEDULER",
}
_CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


# --------------------------------------------------------------------------- validation


def _location(intent: Intent) -> GkeLocation:
    if intent.cluster.gke is None:  # the intent model guarantees it for cloud "gke"
        raise ValueError(f"cluster {intent.cluster.name!r} is not a GKE cluster (cloud {intent.cluster.cloud!r})")
    return intent.cluster.gke


def validate_intent(intent: Intent) -> None:
    """Refuse what GKE cannot build, naming every field path at once (a ``ValueError``).

    The checks are :func:`baseline.requirements.gke_problems`, which the loader also runs, so every
    command refuses such an intent (exit 2) before a program ever reaches this component.
    """
    _location(intent)
    problems = [*common_problems(intent), *gke_problems(intent)]
    if problems:
        detail = "; ".join(f"{path}: {message}" for path, message in problems)
        raise ValueError(f"cluster {intent.cluster.name!r} cannot be built on GKE: {detail}")


# --------------------------------------------------------------------------- pure translation


def label_value(text: str) -> str:
    """``text`` as a GCP label value: lower case, anything but letters, digits, ``_``, ``-`` as ``-``."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def stamp_label_value(version: str) -> str:
    """The baseline version as a label value: ``1.0.0`` -> ``1-0-0`` (ST-01 reads it back)."""
    return version.replace(".", "-")


def resource_labels(intent: Intent) -> dict[str, str]:
    """The intent's tags plus the baseline's own labels, which the tags cannot override."""
    return {
        **intent.cluster.tags,
        _CLUSTER_LABEL: label_value(intent.cluster.name),
        _OWNER_LABEL: label_value(intent.cluster.owner),
        STAMP_LABEL: stamp_label_value(intent.baseline_version),
    }


def workload_pool(intent: Intent) -> str:
    """The project's Workload Identity pool: the only one GKE accepts for the cluster."""
    return f"{_location(intent).project}.svc.id.goog"


def oidc_issuer(project: str, location: str, cluster_name: str) -> str:
    """The cluster's service account token issuer (GKE's own, known from the cluster's coordinates)."""
    return f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{cluster_name}"


def logging_components(intent: Intent) -> list[str]:
    """``loggingConfig.enableComponents``: GKE's defaults plus the intent's control-plane logs."""
    audit = intent.hardening.audit_logging
    control_plane = [_LOG_COMPONENTS[t] for t in audit.log_types if t in _LOG_COMPONENTS] if audit.enabled else []
    return ["SYSTEM_COMPONENTS", *dict.fromkeys(control_plane), "WORKLOADS"]


def _endpoint_args(intent: Intent) -> dict[str, Any]:
    """The endpoints and who may reach them.

    Master authorized networks hold the public CIDRs (public endpoint) and the deployer's CIDRs
    (``deployerCidrs``, either endpoint: with none, a private endpoint admits only the nodes'
    subnet and `pulumi up` cannot reach it); ``globalAccess`` opens the private endpoint to the
    network's other regions. The GKE API now carries the endpoint switches in
    ``controlPlaneEndpointsConfig.ipEndpointsConfig`` (``enablePublicEndpoint``, ``globalAccess``),
    but pulumi-gcp 10.2's ``ipEndpointsConfig`` has only ``enabled``: those switches stay in
    ``privateClusterConfig``, the only place this SDK takes them. The DNS-based endpoint is stated
    (``allowExternalTraffic: false``), so a control reads a literal rather than the API's default.
    """
    endpoint, loc = intent.hardening.endpoint, _location(intent)
    public = (list(endpoint.public_cidrs) or ["0.0.0.0/0"]) if endpoint.public else []
    blocks = [
        {"cidr_block": cidr, "display_name": f"hardening-endpoint-public-cidrs-{i}"} for i, cidr in enumerate(public)
    ]
    blocks += [
        {"cidr_block": cidr, "display_name": f"hardening-endpoint-deployer-cidrs-{i}"}
        for i, cidr in enumerate(dict.fromkeys(endpoint.deployer_cidrs))
        if cidr not in public
    ]
    return {
        "private_cluster_config": {
            "enable_private_nodes": True,
            "enable_private_endpoint": not endpoint.public,
            "master_ipv4_cidr_block": loc.master_ipv4_cidr_block,
            "master_global_access_config": {"enabled": endpoint.global_access},
        },
        "master_authorized_networks_config": {
            "cidr_blocks": blocks,
            "gcp_public_cidrs_access_enabled": False,
        },
        "control_plane_endpoints_config": {
            "ip_endpoints_config": {"enabled": True},
            "dns_endpoint_config": {"allow_external_traffic": False},
        },
    }


def cluster_args(intent: Intent) -> dict[str, Any]:
    """Arguments of ``gcp.container.Cluster``, after :func:`validate_intent`."""
    validate_intent(intent)
    loc, hardening = _location(intent), intent.hardening
    auth, enc, upgrades = hardening.authentication, hardening.secrets_encryption, hardening.upgrades
    args: dict[str, Any] = {
        "name": intent.cluster.name,
        "project": loc.project,
        "location": loc.location,
        "network": loc.network,
        "networking_mode": "VPC_NATIVE",
        # node pools are separate resources (CL-07, CL-11 judge each); the default pool goes at once,
        # but is created first: it runs as the nodes' own service account, never the Compute Engine
        # default (disabled where CIS is followed, and an Editor where it is not)
        "remove_default_node_pool": True,
        "initial_node_count": 1,
        "node_config": _default_pool_node_config(intent),
        **_endpoint_args(intent),
        "database_encryption": (
            {"state": "ENCRYPTED", "key_name": enc.kms_key} if enc.enabled else {"state": "DECRYPTED"}
        ),
        "logging_config": {"enable_components": logging_components(intent)},
        "master_auth": {"client_certificate_config": {"issue_client_certificate": auth.client_certificate}},
        "enable_legacy_abac": auth.legacy_abac,
        "rbac_binding_config": {
            "enable_insecure_binding_system_authenticated": False,
            "enable_insecure_binding_system_unauthenticated": False,
        },
        # no pool means pods fall back to the node's service account: faithful, and CL-05 says so
        "workload_identity_config": {"workload_pool": workload_pool(intent) if hardening.workload_identity else ""},
        "datapath_provider": "ADVANCED_DATAPATH" if hardening.network_policy_enforcement else "LEGACY_DATAPATH",
        "release_channel": {"channel": upgrades.channel.upper() if upgrades.managed else "UNSPECIFIED"},
        "binary_authorization": {
            "evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE" if hardening.binary_authorization else "DISABLED"
        },
        "enable_shielded_nodes": hardening.shielded_nodes,
        "resource_labels": resource_labels(intent),
    }
    if loc.subnetwork:
        args["subnetwork"] = loc.subnetwork
    if loc.security_group_domain:
        args["authenticator_groups_config"] = {"security_group": f"gke-security-groups@{loc.security_group_domain}"}
    if intent.cluster.kubernetes_version:
        args["min_master_version"] = intent.cluster.kubernetes_version
    return args


def _default_pool_node_config(intent: Intent) -> dict[str, Any]:
    """The throwaway default pool's nodes: the nodes' service account, metadata hidden, shielded."""
    shielded = intent.hardening.shielded_nodes
    return {
        "service_account": node_service_account_email(intent),
        "oauth_scopes": [_CLOUD_PLATFORM_SCOPE],
        "workload_metadata_config": {"mode": "GKE_METADATA" if intent.hardening.workload_identity else "GCE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": shielded, "enable_integrity_monitoring": shielded},
    }


def _account_id(intent: Intent, suffix: str) -> str:
    """``{cluster}-{suffix}`` as a service account id (6-30 characters), hashed when longer."""
    return gke_account_id(intent.cluster.name, suffix)


def service_account_email(project: str, account_id: str) -> str:
    """The e-mail Google gives a service account: known before the account exists."""
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def node_service_account_id(intent: Intent) -> str:
    return _account_id(intent, "nodes")


def node_service_account_email(intent: Intent) -> str:
    return service_account_email(_location(intent).project, node_service_account_id(intent))


def node_service_account_args(intent: Intent) -> dict[str, Any]:
    """The nodes' own service account, so no node runs as the Compute Engine default (Editor)."""
    return {
        "account_id": node_service_account_id(intent),
        "project": _location(intent).project,
        "display_name": f"GKE nodes of {intent.cluster.name}",
        "description": f"Least-privilege node service account of GKE cluster {intent.cluster.name} (fleet-baseline)",
    }


def project_member_args(intent: Intent, role: str, member: str) -> dict[str, Any]:
    """A project IAM member (``gcp.projects.IAMMember``): one role for one principal, nothing else touched."""
    return {"project": _location(intent).project, "role": role, "member": member}


def node_pool_args(intent: Intent, pool: NodePool) -> dict[str, Any]:
    """A node pool for ``pool``, without the cluster reference.

    GKE_METADATA (CL-07) hides the node's credentials from pods and serves each pod its workload
    identity; secure boot and integrity monitoring (CL-11) follow ``hardening.shieldedNodes``.
    """
    loc, shielded = _location(intent), intent.hardening.shielded_nodes
    node_config: dict[str, Any] = {
        "service_account": node_service_account_email(intent),
        "oauth_scopes": [_CLOUD_PLATFORM_SCOPE],  # IAM, not scopes, limits what the nodes can do
        "image_type": "COS_CONTAINERD",
        "workload_metadata_config": {"mode": "GKE_METADATA" if intent.hardening.workload_identity else "GCE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": shielded, "enable_integrity_monitoring": shielded},
        "kubelet_config": {
            "insecure_kubelet_readonly_port_enabled": (
                "TRUE" if intent.hardening.authentication.insecure_kubelet_readonly_port else "FALSE"
            )
        },
        "metadata": {"disable-legacy-endpoints": "true"},
        "labels": {"fleet-baseline.io/node-pool": pool.name},
        "resource_labels": resource_labels(intent),
    }
    if pool.instance_type:
        node_config["machine_type"] = pool.instance_type
    managed = intent.hardening.upgrades.managed
    return {
        "name": pool.name,
        "project": loc.project,
        "location": loc.location,
        "autoscaling": {"total_min_node_count": pool.min_size, "total_max_node_count": pool.max_size},
        "management": {"auto_repair": True, "auto_upgrade": managed},
        "node_config": node_config,
    }


@dataclass(frozen=True, slots=True)
class AccessGrantArgs:
    """One intent access grant in IAM: the project member (no cluster reference needed)."""

    name: str
    member: dict[str, Any]


def _gcp_member(intent: Intent, index: int) -> str:
    grant = intent.access[index]
    if grant.gcp is None:  # the intent model requires it on a GKE cluster
        raise ValueError(f"access[{index}].gcp: required on a gke cluster (principal {grant.name!r})")
    return grant.gcp.member


def access_grants(intent: Intent) -> list[AccessGrantArgs]:
    """A project IAM member per intent grant: the role itself at cluster scope, clusterViewer otherwise."""
    out: list[AccessGrantArgs] = []
    for i, grant in enumerate(intent.access):
        role = ACCESS_ROLES[grant.role] if grant.scope == "cluster" else CLUSTER_VIEWER_ROLE
        out.append(AccessGrantArgs(grant.name, project_member_args(intent, role, _gcp_member(intent, i))))
    return out


def access_role_bindings(intent: Intent) -> list[Manifest]:
    """RoleBindings of namespace-scoped grants: the ClusterRole admin/edit/view to the Google principal.

    A ``group:`` member is a Kubernetes Group named by its e-mail (Google Groups for RBAC); a user or
    a Google service account authenticates as a User named by its e-mail.
    """
    out: list[Manifest] = []
    for i, grant in enumerate(intent.access):
        if not isinstance(grant.scope, NamespaceScope):
            continue
        kind, email = _gcp_member(intent, i).split(":", 1)
        subject = {"apiGroup": _RBAC_GROUP, "kind": "Group" if kind == "group" else "User", "name": email}
        for ns in dict.fromkeys(grant.scope.namespaces):  # a namespace listed twice is bound once
            out.append(
                {
                    "apiVersion": f"{_RBAC_GROUP}/v1",
                    "kind": "RoleBinding",
                    "metadata": {
                        "name": f"fleet-baseline-access-{grant.name}",
                        "namespace": ns,
                        "labels": {BASELINE_VERSION_LABEL: intent.baseline_version},
                    },
                    "roleRef": {"apiGroup": _RBAC_GROUP, "kind": "ClusterRole", "name": _NAMESPACE_ROLES[grant.role]},
                    "subjects": [dict(subject)],
                }
            )
    return out


def _workload_account_id(wi: WorkloadIdentity) -> str:
    if wi.gcp is None:  # the intent model requires it on a GKE cluster
        raise ValueError(f"workload identity {wi.name!r} has no gcp grant")
    return wi.gcp.service_account_id


def workload_service_account_args(intent: Intent, wi: WorkloadIdentity) -> dict[str, Any]:
    """The workload's own Google service account."""
    return {
        "account_id": _workload_account_id(wi),
        "project": _location(intent).project,
        "display_name": f"{wi.namespace}/{wi.service_account} in {intent.cluster.name}",
        "description": f"Workload identity {wi.name} of GKE cluster {intent.cluster.name} (fleet-baseline)",
    }


def workload_identity_member(intent: Intent, wi: WorkloadIdentity) -> str:
    """Exactly one Kubernetes service account of the project's pool (CL-09): ``serviceAccount:POOL[NS/KSA]``."""
    return f"serviceAccount:{workload_pool(intent)}[{wi.namespace}/{wi.service_account}]"


def workload_identity_user_args(intent: Intent, wi: WorkloadIdentity) -> dict[str, Any]:
    """``roles/iam.workloadIdentityUser`` on the workload's account, without ``service_account_id``."""
    return {"role": WORKLOAD_IDENTITY_USER, "member": workload_identity_member(intent, wi)}


def workload_role_grants(intent: Intent, wi: WorkloadIdentity) -> list[tuple[str, dict[str, Any]]]:
    """``(name suffix, project member args)`` per distinct project role the intent grants the workload."""
    if wi.gcp is None:  # the intent model requires it on a GKE cluster
        raise ValueError(f"workload identity {wi.name!r} has no gcp grant")
    member = f"serviceAccount:{service_account_email(_location(intent).project, wi.gcp.service_account_id)}"
    return [
        (role.removeprefix("roles/").replace("/", "-"), project_member_args(intent, role, member))
        for role in dict.fromkeys(wi.gcp.roles)
    ]


def service_account_annotations(intent: Intent) -> dict[tuple[str, str], dict[str, Any]]:
    """``iam.gke.io/gcp-service-account`` per Kubernetes service account with a workload identity."""
    project = _location(intent).project
    return {
        (wi.namespace, wi.service_account): {GSA_ANNOTATION: service_account_email(project, _workload_account_id(wi))}
        for wi in intent.workload_identities
    }


def _registry_pattern(prefix: str) -> str:
    """An allowed registry prefix as a Binary Authorization name pattern (``**``: any depth below)."""
    return f"{prefix}**" if prefix.endswith("/") else f"{prefix}/**"


def binary_authorization_policy_args(intent: Intent) -> dict[str, Any] | None:
    """The project's Binary Authorization policy, so the cluster's enforcement checks something.

    ``PROJECT_SINGLETON_POLICY_ENFORCE`` alone enforces whatever the project's policy says, and
    Google's default policy allows every image. This one admits, on this cluster, only images from
    ``registries.allowed`` (and the admission engine's own), plus Google's system images
    (``globalPolicyEvaluationMode: ENABLE``); other clusters of the project keep the default rule
    (allow). CL-12's mode sets the enforcement: ``audit`` logs what would be refused
    (``DRYRUN_AUDIT_LOG_ONLY``), ``enforce`` blocks it. The policy is a project singleton: in a
    project with several clusters, one stack must own it (see the README).
    """
    if not intent.hardening.binary_authorization:
        return None
    loc = _location(intent)
    mode = intent.mode_for("CL-12", load_catalog()["CL-12"].default_mode)
    if mode == "off":
        return None
    patterns = [_registry_pattern(r) for r in intent.registries.allowed]
    patterns += list(ENGINE_IMAGE_PATTERNS.get(intent.admission.engine, ()))
    return {
        "project": loc.project,
        "description": f"fleet-baseline: images admitted on {intent.cluster.name} (registries.allowed)",
        "global_policy_evaluation_mode": "ENABLE",
        "admission_whitelist_patterns": [{"name_pattern": p} for p in dict.fromkeys(patterns)],
        "default_admission_rule": {
            "evaluation_mode": "ALWAYS_ALLOW",
            "enforcement_mode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
        },
        "cluster_admission_rules": [
            {
                "cluster": f"{loc.location}.{intent.cluster.name}",
                # no registries listed: the intent restricts none, and neither does the policy
                "evaluation_mode": "ALWAYS_DENY" if intent.registries.allowed else "ALWAYS_ALLOW",
                "enforcement_mode": "ENFORCED_BLOCK_AND_AUDIT_LOG" if mode == "enforce" else "DRYRUN_AUDIT_LOG_ONLY",
            }
        ],
    }


def deployer_access_problem(intent: Intent, service_account: str) -> str | None:
    """Why a service account the stack's provider impersonates may be refused by the cluster, or ``None``.

    Only a direct cluster-admin grant is provable here: membership of a granted group is Google's to
    know, so the caller logs this as a warning, not a refusal.
    """
    member = f"serviceAccount:{service_account}"
    if any(g.gcp is not None and g.gcp.member == member for g in intent.cluster_admins()):
        return None
    return (
        f"`pulumi up` impersonates {service_account}, which no cluster-admin grant of {intent.cluster.name!r} names"
        " directly: unless a granted group contains it, every Kubernetes call of the in-cluster baseline is refused"
    )


def kubeconfig(context: str, endpoint: str, ca_data: str, impersonate: str | None = None) -> dict[str, Any]:
    """A kubeconfig that authenticates with ``gke-gcloud-auth-plugin``: no long-lived credential in it.

    ``impersonate``: the service account the stack's Google provider impersonates
    (``gcp:impersonateServiceAccount``); gcloud, which the plugin asks for the token, then
    impersonates it too (``CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT``) instead of signing as
    whoever is logged in.
    """
    server = endpoint if endpoint.startswith("https://") else f"https://{endpoint}"
    plugin = {
        "command": "gke-gcloud-auth-plugin",
        "installHint": (
            "Install gke-gcloud-auth-plugin: https://cloud.google.com/kubernetes-engine/docs/"
            "how-to/cluster-access-for-kubectl#install_plugin"
        ),
        "provideClusterInfo": True,
        "interactiveMode": "Never",
    }
    if impersonate:
        plugin["env"] = [{"name": "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "value": impersonate}]
    return exec_kubeconfig(context, server, ca_data, plugin)


# --------------------------------------------------------------------------- wiring


class GkeCluster(ClusterComponent):
    """A GKE cluster built from the intent, with its in-cluster baseline applied.

    ``gcp_provider`` is used for every Google Cloud resource when given; otherwise the default
    provider (every resource names the intent's project and location either way). ``impersonate``:
    the service account that provider impersonates; the kubeconfig's token is then that account's.

    Outputs as every cluster component's (:class:`~providers.cluster.ClusterComponent`). The
    kubeconfig authenticates with ``gke-gcloud-auth-plugin``; ``endpoint`` is an ``https://`` URL.
    """

    def __init__(
        self,
        name: str,
        intent: Intent,
        opts: pulumi.ResourceOptions | None = None,
        *,
        gcp_provider: pulumi.ProviderResource | None = None,
        impersonate: str | None = None,
    ) -> None:
        validate_intent(intent)  # before anything registers: a refused intent leaves nothing half-made
        super().__init__(TYPE_TOKEN, name, opts, gcp_provider)
        self._intent, self._gcp = intent, gcp_provider
        if impersonate:
            problem = deployer_access_problem(intent, impersonate)
            if problem is not None:
                pulumi.log.warn(problem, resource=self)
        loc = _location(intent)

        node_roles = self._node_service_account()
        self.cluster = container.Cluster(
            # the default pool is created with the nodes' service account: it must exist, with its role
            f"{name}-cluster",
            **cluster_args(intent),
            # nodeConfig only shapes the throwaway default pool; once it is removed GKE reports another
            # pool's config there, and a change to nodeConfig would replace the cluster
            opts=self._opts(depends_on=node_roles, ignore_changes=["nodeConfig"]),
        )
        policy_args = binary_authorization_policy_args(intent)
        if policy_args is not None:
            # before any workload: the Kubernetes provider (and so every pod the baseline starts) waits
            self.image_policy: binaryauthorization.Policy | None = binaryauthorization.Policy(
                f"{name}-image-policy", **policy_args, opts=self._opts()
            )
        else:
            self.image_policy = None
        node_pools = [
            container.NodePool(
                f"{name}-nodes-{pool.name}",
                cluster=self.cluster.name,
                **node_pool_args(intent, pool),
                opts=self._opts(depends_on=node_roles),
            )
            for pool in intent.cluster.node_pools
        ]
        access = self._access()
        self._workload_identities()

        self.cluster_name = self.cluster.name
        self.endpoint = self.cluster.endpoint.apply(lambda e: f"https://{e}")
        self.oidc_issuer = self.cluster.name.apply(lambda n: oidc_issuer(loc.project, loc.location, n))
        context = f"gke_{loc.project}_{loc.location}_{intent.cluster.name}"
        ca_data = self.cluster.master_auth.apply(lambda m: str(m.cluster_ca_certificate))
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.endpoint, ca_data).apply(
                lambda v: json.dumps(kubeconfig(context, str(v[0]), str(v[1]), impersonate))
            )
        )
        self._apply_baseline(
            intent,
            # the deployer gets in through a cluster-admin grant (project IAM): no Kubernetes call before it
            depends_on=[*node_pools, *access, *([self.image_policy] if self.image_policy else [])],
            service_account_annotations=service_account_annotations(intent),
        )
        self.role_bindings = self._role_bindings()
        self._register()

    # ------------------------------------------------------------------ helpers

    def _node_service_account(self) -> list[pulumi.Resource]:
        """The nodes' service account and its roles; node pools wait for both."""
        intent = self._intent
        account = serviceaccount.Account(
            f"{self._name}-node-sa", **node_service_account_args(intent), opts=self._opts()
        )
        member = f"serviceAccount:{node_service_account_email(intent)}"
        return [
            account,
            *(
                projects.IAMMember(
                    f"{self._name}-node-sa-{role.removeprefix('roles/')}",
                    **project_member_args(intent, role, member),
                    opts=self._opts(depends_on=[account]),
                )
                for role in NODE_SERVICE_ACCOUNT_ROLES
            ),
        ]

    def _access(self) -> list[pulumi.Resource]:
        return [
            projects.IAMMember(f"{self._name}-access-{grant.name}", **grant.member, opts=self._opts())
            for grant in access_grants(self._intent)
        ]

    def _workload_identities(self) -> None:
        """A Google service account per workload, bound to exactly its Kubernetes service account."""
        intent = self._intent
        for wi in intent.workload_identities:
            res = f"{self._name}-wi-{wi.name}"
            account = serviceaccount.Account(res, **workload_service_account_args(intent, wi), opts=self._opts())
            serviceaccount.IAMMember(
                f"{res}-workload-identity-user",
                service_account_id=account.name,
                **workload_identity_user_args(intent, wi),
                # the project's pool exists only once a Workload Identity cluster does
                opts=self._opts(depends_on=[self.cluster]),
            )
            for suffix, args in workload_role_grants(intent, wi):
                # the member is the account's known e-mail (decidable at preview), so wait explicitly
                projects.IAMMember(f"{res}-{suffix}", **args, opts=self._opts(depends_on=[account]))

    def _role_bindings(self) -> list[rbac_v1.RoleBinding]:
        """Namespace-scoped access, after the baseline's Namespace when the baseline creates it."""
        out: list[rbac_v1.RoleBinding] = []
        for manifest in access_role_bindings(self._intent):
            md = manifest["metadata"]
            namespace = resource_name(f"{self._name}-baseline", {"metadata": {"name": md["namespace"]}})
            after = [self.baseline.resources[namespace]] if namespace in self.baseline.resources else []
            out.append(
                rbac_v1.RoleBinding(
                    resource_name(f"{self._name}-access", manifest),
                    metadata=md,
                    role_ref=manifest["roleRef"],
                    subjects=manifest["subjects"],
                    opts=pulumi.ResourceOptions(parent=self, provider=self.k8s_provider, depends_on=after),
                )
            )
        return out
