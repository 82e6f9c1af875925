"""The baseline intent: what a platform team wants to hold on a cluster, written once.

The model is the contract every other part reads: the cloud components translate it into resources,
the CrossGuard pack and the admission renderers take their parameters from it, the evaluator applies
its exceptions and modes. It is strict on shape (unknown keys are rejected, every field is typed,
the model is frozen) and permissive on policy: an insecure but well-formed setting (a public endpoint,
CONFIG_MAP authentication during a migration) is valid intent. Blocking it is the controls' job, with
the control's own message, not the loader's.

YAML and stack config use camelCase keys (``baselineVersion``); Python uses snake_case attributes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from baseline.system_namespaces import merged_system_namespaces

__all__ = [
    "AccessGrant",
    "AdmissionIntent",
    "AksCluster",
    "AuditLogging",
    "Authentication",
    "AwsAuthMapping",
    "AwsPrincipal",
    "AzurePrincipal",
    "AzureWorkloadGrant",
    "Cloud",
    "ClusterIntent",
    "EgressRule",
    "EksCluster",
    "EksWorkloadGrant",
    "EndpointAccess",
    "ExceptionIntent",
    "ExceptionScope",
    "GcpPrincipal",
    "GcpWorkloadGrant",
    "GkeCluster",
    "Hardening",
    "Intent",
    "Mode",
    "NamespaceIntent",
    "NamespaceScope",
    "NetworkIntent",
    "NodePool",
    "PodSecurityDefaults",
    "PodSecurityLevel",
    "Quota",
    "RegistryPolicy",
    "Role",
    "Rollout",
    "SecretsEncryption",
    "SystemNamespacesIntent",
    "Upgrades",
    "Wave",
    "WorkloadIdentity",
]

Cloud = Literal["eks", "gke", "aks"]
Role = Literal["cluster-admin", "admin", "edit", "view"]
Mode = Literal["audit", "enforce", "off"]
Wave = Literal["canary", "early", "broad"]
PodSecurityLevel = Literal["privileged", "baseline", "restricted"]
Engine = Literal["vap", "kyverno", "gatekeeper"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_CONTROL_ID = re.compile(r"^((CL|NS|RB|POD|ST)-\d{2}|X-[A-Z][A-Z0-9]{0,11}-\d{2,3})$")  # built-in, or custom
_K8S_VERSION = re.compile(r"^1\.\d{2}$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)"
        )
    return value


def _semver(value: str) -> str:
    if not _SEMVER.match(value):
        raise ValueError(f"{value!r} is not a version of the form MAJOR.MINOR.PATCH")
    return value


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR block ({exc})") from None


def _control_id(value: str) -> str:
    if not _CONTROL_ID.match(value):
        raise ValueError(
            f"{value!r} is not a control id such as CL-01, NS-02, RB-06, POD-11 or ST-01 (custom: X-ACME-01)"
        )
    return value


def _k8s_version(value: str) -> str:
    if not _K8S_VERSION.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes minor version such as '1.33'")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
SemVer = Annotated[str, AfterValidator(_semver)]
Cidr = Annotated[str, AfterValidator(_cidr)]
ControlId = Annotated[str, AfterValidator(_control_id)]
KubernetesVersion = Annotated[str, AfterValidator(_k8s_version)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    """Strict base: unknown keys rejected, frozen, camelCase on the wire."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


# --------------------------------------------------------------------------- cluster


class NodePool(_Model):
    name: DnsLabel = "system"
    instance_type: NonEmpty | None = None
    min_size: int = Field(default=2, ge=0)
    max_size: int = Field(default=4, ge=1)
    desired_size: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError("node pool sizes must satisfy minSize <= desiredSize <= maxSize")
        return self


class EksCluster(_Model):
    """Where an EKS cluster lives. Security settings are in ``hardening``, not here."""

    region: NonEmpty
    subnet_ids: list[NonEmpty] = Field(min_length=2)
    security_group_ids: list[NonEmpty] = Field(default_factory=list)
    partition: Literal["aws", "aws-cn", "aws-us-gov"] = "aws"


class GkeCluster(_Model):
    project: NonEmpty
    location: NonEmpty
    network: NonEmpty = "default"
    subnetwork: NonEmpty | None = None
    master_ipv4_cidr_block: Cidr = "172.16.0.0/28"
    security_group_domain: NonEmpty | None = Field(
        default=None, description="Google Workspace domain for gke-security-groups@DOMAIN"
    )


class AksCluster(_Model):
    resource_group_name: NonEmpty
    location: NonEmpty
    subscription_id: NonEmpty
    tenant_id: NonEmpty
    dns_prefix: DnsLabel | None = None
    log_analytics_workspace_id: NonEmpty | None = None
    api_server_subnet_id: NonEmpty | None = Field(
        default=None,
        description="Subnet (in the caller's VNet) for API server VNet integration: a private API server"
        " reachable from networks peered with that VNet",
    )
    node_subnet_id: NonEmpty | None = Field(
        default=None, description="Subnet of the caller's VNet for the agent pools (vnetSubnetID)"
    )
    private_dns_zone: NonEmpty | None = Field(
        default=None,
        description="Private cluster DNS: 'system', 'none' or a private DNS zone resource id linked to the"
        " deployer's network",
    )


class ClusterIntent(_Model):
    name: DnsLabel
    cloud: Cloud
    kubernetes_version: KubernetesVersion | None = None
    owner: NonEmpty = Field(description="Team that owns the cluster; findings route here by default")
    node_pools: list[NodePool] = Field(default_factory=lambda: [NodePool()], min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    eks: EksCluster | None = None
    gke: GkeCluster | None = None
    aks: AksCluster | None = None

    @model_validator(mode="after")
    def _cloud_block(self) -> ClusterIntent:
        blocks = {"eks": self.eks, "gke": self.gke, "aks": self.aks}
        if blocks[self.cloud] is None:
            raise ValueError(f"cloud is {self.cloud!r} but the '{self.cloud}' block is missing")
        others = [name for name, block in blocks.items() if block is not None and name != self.cloud]
        if others:
            raise ValueError(f"cloud is {self.cloud!r} but blocks for {others} are given")
        return self


# --------------------------------------------------------------------------- hardening


class EndpointAccess(_Model):
    """API server endpoint. Private by default; public only to listed CIDRs.

    ``pulumi up`` itself calls the API server (the in-cluster baseline), so the deployer must reach
    the endpoint as configured. ``deployerCidrs`` are the runner's source ranges as the API server
    sees them (a CI runner in a peered network, a VPN range): EKS admits them on port 443 of the
    cluster security group (private endpoint) and in ``publicAccessCidrs`` (public endpoint), GKE
    in master authorized networks, AKS in authorized IP ranges (public endpoint only; a private AKS
    cluster is reached through ``cluster.aks.apiServerSubnetId``). ``deployerInNetwork`` says the
    runner already sits inside the cluster's network (a self-hosted runner in the VPC/VNet).
    """

    private: bool = True
    public: bool = False
    public_cidrs: list[Cidr] = Field(default_factory=list)
    deployer_cidrs: list[Cidr] = Field(
        default_factory=list, description="Source ranges of the machine running `pulumi up` (see the class doc)"
    )
    deployer_in_network: bool = Field(
        default=False, description="`pulumi up` runs inside the cluster's network: nothing to open for it"
    )
    node_egress_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="EKS: the NAT addresses nodes reach a public-only endpoint from (added to publicAccessCidrs)",
    )
    global_access: bool = Field(
        default=False, description="GKE: the private endpoint is reachable from every region of the network"
    )


class SecretsEncryption(_Model):
    """Envelope encryption of Secrets with a customer-managed key.

    ``kms_key`` is the cloud's key identifier (an AWS KMS key ARN, a GCP
    ``projects/.../cryptoKeys/K`` name, an Azure Key Vault key id). On EKS, leaving it empty
    creates a dedicated key with rotation on; GKE and AKS need an existing key.
    """

    enabled: bool = True
    kms_key: NonEmpty | None = None
    key_vault_resource_id: NonEmpty | None = None


LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
_ALL_LOG_TYPES: tuple[LogType, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")


class AuditLogging(_Model):
    enabled: bool = True
    retention_days: int = Field(default=365, ge=1, le=3653)
    log_types: list[LogType] = Field(default_factory=lambda: list(_ALL_LOG_TYPES))


class AwsAuthMapping(_Model):
    """A legacy aws-auth ConfigMap mapRoles entry (EKS CONFIG_MAP modes only)."""

    rolearn: NonEmpty
    username: NonEmpty
    groups: list[NonEmpty] = Field(default_factory=list)


class Authentication(_Model):
    """How humans authenticate. Anything but the cloud identity provider is legacy."""

    eks_mode: Literal["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"] = "API"
    bootstrap_creator_admin: bool = False
    aws_auth: list[AwsAuthMapping] = Field(default_factory=list)
    client_certificate: bool = False
    legacy_abac: bool = False
    insecure_kubelet_readonly_port: bool = False
    local_accounts: bool = False
    azure_rbac: bool = True

    @model_validator(mode="after")
    def _aws_auth_needs_config_map(self) -> Authentication:
        if self.aws_auth and self.eks_mode == "API":
            raise ValueError("awsAuth entries are only meaningful with eksMode CONFIG_MAP or API_AND_CONFIG_MAP")
        return self


class Upgrades(_Model):
    channel: Literal["rapid", "regular", "stable"] = "stable"
    eks_support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    node_os_channel: Literal["NodeImage", "SecurityPatch", "Unmanaged", "None"] = "NodeImage"
    managed: bool = True


class Hardening(_Model):
    endpoint: EndpointAccess = EndpointAccess()
    secrets_encryption: SecretsEncryption = SecretsEncryption()
    audit_logging: AuditLogging = AuditLogging()
    authentication: Authentication = Authentication()
    upgrades: Upgrades = Upgrades()
    network_policy_enforcement: bool = Field(
        default=True, description="Turn on the dataplane that enforces NetworkPolicy (CL-06)"
    )
    workload_identity: bool = Field(
        default=True,
        description="Offer pods a per-workload cloud identity (IRSA/Pod Identity, GKE Workload Identity, "
        "AKS workload identity) so no pod needs node credentials (CL-05)",
    )
    imds_v2_required: bool = True
    binary_authorization: bool = True
    shielded_nodes: bool = True


# --------------------------------------------------------------------------- access


class AwsPrincipal(_Model):
    principal_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")]
    kubernetes_groups: list[NonEmpty] = Field(default_factory=list)


class GcpPrincipal(_Model):
    member: Annotated[str, Field(pattern=r"^(group|user|serviceAccount):[^@\s]+@[^@\s]+$")]


class AzurePrincipal(_Model):
    object_id: Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{36}$")]
    principal_type: Literal["Group", "User", "ServicePrincipal"] = "Group"


class NamespaceScope(_Model):
    namespaces: list[DnsLabel] = Field(min_length=1)


class AccessGrant(_Model):
    """A human or group's access: role at cluster scope, or in listed namespaces."""

    name: DnsLabel
    role: Role
    scope: Literal["cluster"] | NamespaceScope = "cluster"
    aws: AwsPrincipal | None = None
    gcp: GcpPrincipal | None = None
    azure: AzurePrincipal | None = None

    @model_validator(mode="after")
    def _cluster_admin_is_cluster_wide(self) -> AccessGrant:
        if self.role == "cluster-admin" and self.scope != "cluster":
            raise ValueError("role cluster-admin can only be granted at scope 'cluster'")
        return self


# --------------------------------------------------------------------------- workload identity


class EksWorkloadGrant(_Model):
    mechanism: Literal["irsa", "pod-identity"] = "pod-identity"
    policy_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$")]] = Field(
        default_factory=list
    )


class GcpWorkloadGrant(_Model):
    service_account_id: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
    roles: list[Annotated[str, Field(pattern=r"^(roles|projects/[^/]+/roles|organizations/\d+/roles)/.+$")]] = Field(
        default_factory=list
    )


class AzureWorkloadGrant(_Model):
    role_definition_ids: list[NonEmpty] = Field(default_factory=list)
    scope: NonEmpty | None = None


class WorkloadIdentity(_Model):
    """A Kubernetes service account that gets a cloud identity, scoped to exactly that account."""

    name: DnsLabel
    namespace: DnsLabel
    service_account: DnsLabel
    needs_api: bool = Field(default=False, description="Mount the Kubernetes API token (POD-15)")
    aws: EksWorkloadGrant | None = None
    gcp: GcpWorkloadGrant | None = None
    azure: AzureWorkloadGrant | None = None


# --------------------------------------------------------------------------- namespaces


class Quota(_Model):
    cpu: NonEmpty = "8"
    memory: NonEmpty = "16Gi"
    pods: int = Field(default=50, ge=1)
    default_cpu_limit: NonEmpty = "500m"
    default_memory_limit: NonEmpty = "512Mi"
    default_cpu_request: NonEmpty = "100m"
    default_memory_request: NonEmpty = "128Mi"


class EgressRule(_Model):
    cidr: Cidr
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class NamespaceIntent(_Model):
    name: DnsLabel
    owner: NonEmpty
    pod_security: PodSecurityLevel | None = Field(
        default=None, description="Override of podSecurity.level for this namespace"
    )
    quota: Quota = Quota()
    egress: list[EgressRule] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class PodSecurityDefaults(_Model):
    level: PodSecurityLevel = "restricted"
    version: Annotated[str, Field(pattern=r"^(latest|v1\.\d{2})$")] = "v1.33"

    @field_validator("version")
    @classmethod
    def _modelled_version(cls, value: str) -> str:
        """A pin older than the oldest policy version the catalog models is refused (newer ones are
        judged as the newest, as the upstream registry clamps them)."""
        from baseline.catalog import load_catalog  # the shipped table; the catalog never imports the intent

        table = load_catalog().pod_security
        if table is not None and value != "latest" and int(value.removeprefix("v1.")) < table.oldest:
            raise ValueError(
                f"{value!r} is older than v1.{table.oldest}, the oldest Pod Security version the catalog "
                f"models (v1.{table.oldest} to v1.{table.newest}, or 'latest')"
            )
        return value


class NetworkIntent(_Model):
    default_deny: bool = True
    allow_dns: bool = True
    block_metadata: bool = True
    metadata_cidr: Cidr = "169.254.0.0/16"
    egress_allow: list[EgressRule] = Field(default_factory=list)
    token_service_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"],
        min_length=1,
        description="Where pods with an IRSA (EKS) or AKS workload identity reach the token service over "
        "HTTPS (443): AWS STS, or Microsoft Entra ID. Narrow it to the STS VPC endpoint's subnets or your "
        "egress proxy; the metadata range is always carved out",
    )


class RegistryPolicy(_Model):
    allowed: list[NonEmpty] = Field(default_factory=list)
    require_digest: bool = False


# --------------------------------------------------------------------------- policy: modes, exceptions, rollout


class AdmissionIntent(_Model):
    engine: Engine = "vap"
    modes: dict[ControlId, Mode] = Field(default_factory=dict)
    waves: dict[Wave, dict[ControlId, Mode]] = Field(
        default_factory=dict, description="Per-wave mode overrides, applied over ``modes``"
    )


class ExceptionScope(_Model):
    """Where an exception applies. Exactly one of cluster, namespace, or an object name pattern."""

    cluster: bool = False
    namespace: DnsLabel | None = None
    object_name: Annotated[str, Field(min_length=1, max_length=253)] | None = Field(
        default=None, description="Glob over object names ('debug-*'), optionally with namespace"
    )

    @model_validator(mode="after")
    def _one_scope(self) -> ExceptionScope:
        if self.cluster and (self.namespace or self.object_name):
            raise ValueError("cluster scope cannot be combined with namespace or objectName")
        if not self.cluster and not self.namespace and not self.object_name:
            raise ValueError("give one of cluster: true, namespace, or objectName")
        return self


class ExceptionIntent(_Model):
    """A recorded, owned, expiring exemption from one control."""

    control: ControlId
    scope: ExceptionScope
    owner: NonEmpty
    reason: Annotated[str, Field(min_length=10)]
    expires: dt.date
    ticket: NonEmpty | None = None


class Rollout(_Model):
    wave: Wave = "broad"


class SystemNamespacesIntent(_Model):
    """What the intent changes in the catalog's system namespaces for its cloud.

    ``systemNamespaces: [a, b]`` is shorthand for ``{add: [a, b]}``. The catalog's list
    (``baseline/controls/_system_namespaces.yaml``: Kubernetes' own and the cloud's managed add-ons')
    is the base; ``remove`` takes an add-on namespace back under every control (kube-system cannot
    be removed).
    """

    add: list[DnsLabel] = Field(default_factory=list)
    remove: list[DnsLabel] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _list_is_add(cls, data: object) -> object:
        return {"add": data} if isinstance(data, list) else data


# --------------------------------------------------------------------------- the intent


class Intent(_Model):
    """The whole baseline for one cluster."""

    baseline_version: SemVer
    cluster: ClusterIntent
    hardening: Hardening = Hardening()
    access: list[AccessGrant] = Field(default_factory=list)
    workload_identities: list[WorkloadIdentity] = Field(default_factory=list)
    namespaces: list[NamespaceIntent] = Field(default_factory=list)
    pod_security: PodSecurityDefaults = PodSecurityDefaults()
    network: NetworkIntent = NetworkIntent()
    registries: RegistryPolicy = RegistryPolicy()
    admission: AdmissionIntent = AdmissionIntent()
    exceptions: list[ExceptionIntent] = Field(default_factory=list)
    rollout: Rollout = Rollout()
    custom_controls: list[NonEmpty] = Field(
        default_factory=list,
        description="Directories of your own controls (<ID>/control.yaml with examples/, ids X-<NAME>-NN), "
        "relative to the stack config directory (as intentFile is); judged exactly like the built-in controls",
    )
    system_namespaces_intent: SystemNamespacesIntent = Field(
        default_factory=SystemNamespacesIntent,
        alias="systemNamespaces",
        description="Added to (add) or taken from (remove) the catalog's system namespaces of the cloud: "
        "Kubernetes' own and the cloud's managed add-ons'. A plain list is {add: list}. Excluded from NS, "
        "POD and ST controls; the admission engine's own namespace is added",
    )

    @model_validator(mode="after")
    def _cross_references(self) -> Intent:
        problems: list[str] = []
        try:
            self.system_namespaces  # noqa: B018 - computed once here so a bad removal is reported
        except ValueError as exc:
            problems.append(f"systemNamespaces.remove: {exc}")
            raise ValueError("; ".join(problems)) from None
        names = [ns.name for ns in self.namespaces]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"namespaces: duplicate names {dupes}")
        declared = set(names) | set(self.system_namespaces) | {"default"}
        for i, grant in enumerate(self.access):
            if isinstance(grant.scope, NamespaceScope):
                missing = [n for n in grant.scope.namespaces if n not in declared]
                if missing:
                    problems.append(f"access[{i}].scope.namespaces: {missing} not declared in namespaces")
            cloud_id = getattr(grant, _CLOUD_PRINCIPAL[self.cluster.cloud])
            if cloud_id is None:
                problems.append(
                    f"access[{i}].{_CLOUD_PRINCIPAL[self.cluster.cloud]}: required on a "
                    f"{self.cluster.cloud} cluster (principal {grant.name!r})"
                )
        access_names = [g.name for g in self.access]
        if len(set(access_names)) != len(access_names):
            problems.append("access: names must be unique")
        for i, wi in enumerate(self.workload_identities):
            if wi.namespace not in declared:
                problems.append(f"workloadIdentities[{i}].namespace: {wi.namespace!r} not declared in namespaces")
            if getattr(wi, _CLOUD_PRINCIPAL[self.cluster.cloud]) is None:
                problems.append(
                    f"workloadIdentities[{i}].{_CLOUD_PRINCIPAL[self.cluster.cloud]}: required on a "
                    f"{self.cluster.cloud} cluster"
                )
        if self.workload_identities and not self.hardening.workload_identity:
            problems.append("workloadIdentities: declared, but hardening.workloadIdentity is false")
        wi_names = [w.name for w in self.workload_identities]
        if len(set(wi_names)) != len(wi_names):
            problems.append("workloadIdentities: names must be unique")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ------------------------------------------------------------------ derived views

    @property
    def system_namespaces(self) -> tuple[str, ...]:
        """The one list of system namespaces: the catalog's for the cloud, plus and minus the intent's."""
        sn = self.system_namespaces_intent
        return merged_system_namespaces(self.cluster.cloud, sn.add, sn.remove)

    def namespace_level(self, namespace: NamespaceIntent) -> PodSecurityLevel:
        return namespace.pod_security or self.pod_security.level

    def cluster_admins(self) -> list[AccessGrant]:
        return [g for g in self.access if g.role == "cluster-admin"]

    def mode_for(self, control_id: str, default: Mode, wave: Wave | None = None) -> Mode:
        """The control's mode in a rollout wave (this cluster's unless given): the wave's override,
        then the intent's mode, then the control's default."""
        wave_modes = self.admission.waves.get(wave or self.rollout.wave, {})
        if control_id in wave_modes:
            return wave_modes[control_id]
        return self.admission.modes.get(control_id, default)


_CLOUD_PRINCIPAL: dict[str, str] = {"eks": "aws", "gke": "gcp", "aks": "azure"}
