"""EKS: the intent as resource arguments, in pure functions. Nothing here registers a resource;
:mod:`providers.eks` wires these into the component and explains the design.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from baseline.intent import EksCluster as EksLocation
from baseline.intent import Intent, NodePool, WorkloadIdentity
from providers.cluster import exec_kubeconfig
from providers.incluster import (
    BASELINE_VERSION_LABEL,
    PATCH_FORCE_ANNOTATION,
    Manifest,
)

__all__ = [
    "ACCESS_POLICIES",
    "KMS_ADMIN_ACTIONS",
    "KMS_USE_ACTIONS",
    "POD_IDENTITY_PRINCIPAL",
    "STS_AUDIENCE",
    "TYPE_TOKEN",
    "AccessGrantArgs",
    "AwsDeployer",
    "access_entries",
    "access_policy_arn",
    "aws_auth_config_map",
    "aws_auth_map_roles",
    "cluster_args",
    "cluster_role_args",
    "cluster_role_policy_arns",
    "deployer_access_problem",
    "deployer_ingress_rules",
    "deployer_principal",
    "irsa_trust_policy",
    "kms_key_args",
    "kms_key_policy",
    "kubeconfig",
    "launch_template_args",
    "log_group_args",
    "log_group_name",
    "node_group_args",
    "node_role_args",
    "node_role_name",
    "node_role_policy_arns",
    "oidc_provider_args",
    "pod_identity_addon_args",
    "pod_identity_association_args",
    "pod_identity_trust_policy",
    "policy_attachment_names",
    "policy_json",
    "resource_tags",
    "role_arn",
    "unprovisioned_access",
    "uses_aws_auth",
    "vpc_cni_addon_args",
    "workload_role_args",
    "workload_role_name",
]

TYPE_TOKEN = "fleet-baseline:eks:Cluster"

#: EKS access policy per intent role. AmazonEKSClusterAdminPolicy is cluster scope only (the
#: intent model already refuses a namespaced cluster-admin).
ACCESS_POLICIES: dict[str, str] = {
    "cluster-admin": "AmazonEKSClusterAdminPolicy",
    "admin": "AmazonEKSAdminPolicy",
    "edit": "AmazonEKSEditPolicy",
    "view": "AmazonEKSViewPolicy",
}
STS_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"

#: What the account root may do with the Secrets key: administer it, never use it (separation of duties).
KMS_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
#: What the cluster role needs to envelope-encrypt Secrets.
KMS_USE_ACTIONS: tuple[str, ...] = ("kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants")

_IAM_VERSION = "2012-10-17"
_NODE_MAPPING_USERNAME = "system:node:{{EC2PrivateDNSName}}"
_NODE_MAPPING_GROUPS = ["system:bootstrappers", "system:nodes"]
_ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023 EKS AMIs, the managed node group default
_IAM_NAME_MAX = 64


# --------------------------------------------------------------------------- pure translation


def _location(intent: Intent) -> EksLocation:
    if intent.cluster.eks is None:  # the intent model guarantees it for cloud "eks"
        raise ValueError(f"cluster {intent.cluster.name!r} is not an EKS cluster (cloud {intent.cluster.cloud!r})")
    return intent.cluster.eks


def _partition(intent: Intent) -> str:
    return _location(intent).partition


def _managed_policy(intent: Intent, name: str) -> str:
    return f"arn:{_partition(intent)}:iam::aws:policy/{name}"


def _regional(intent: Intent) -> dict[str, str]:
    """Pin regional resources to the intent's region, whatever the provider's default region is."""
    return {"region": _location(intent).region}


def resource_tags(intent: Intent) -> dict[str, str]:
    """The intent's tags plus the baseline's own, which the intent cannot override (ST-01 reads the stamp)."""
    return {
        **intent.cluster.tags,
        "fleet-baseline.io/cluster": intent.cluster.name,
        "fleet-baseline.io/owner": intent.cluster.owner,
        BASELINE_VERSION_LABEL: intent.baseline_version,
    }


def policy_json(document: dict[str, Any]) -> str:
    """An IAM policy document as the JSON text IAM and the provider's state hold.

    Passing text rather than an object keeps one wire form across a preview's inputs, a state
    export's outputs and the live role, so a control reads the same value everywhere.
    """
    return json.dumps(document)


def _service_trust(service: str, actions: list[str]) -> dict[str, Any]:
    return {
        "Version": _IAM_VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
    }


def cluster_role_args(intent: Intent) -> dict[str, Any]:
    """The IAM role the EKS control plane assumes."""
    return {
        # sts:TagSession only for EKS Auto Mode, which this component does not build
        "assume_role_policy": policy_json(_service_trust("eks.amazonaws.com", ["sts:AssumeRole"])),
        "description": f"EKS control plane of {intent.cluster.name}",
        "tags": resource_tags(intent),
    }


def cluster_role_policy_arns(intent: Intent) -> list[str]:
    return [_managed_policy(intent, "AmazonEKSClusterPolicy")]


def kms_key_args(intent: Intent) -> dict[str, Any] | None:
    """A dedicated, rotating key for Secrets, or ``None`` when the intent gives one or wants none."""
    enc = intent.hardening.secrets_encryption
    if not enc.enabled or enc.kms_key is not None:
        return None
    return {
        "description": f"Envelope encryption of Kubernetes Secrets in {intent.cluster.name}",
        "enable_key_rotation": True,
        "deletion_window_in_days": 30,
        "tags": resource_tags(intent),
        **_regional(intent),
    }


def kms_key_policy(intent: Intent, account_id: str, cluster_role_arn: str) -> dict[str, Any]:
    """The Secrets key's policy: the account administers the key but cannot use it; the cluster role
    uses it; AWS services (EKS, for the cluster's grant) get grants only for AWS resources.

    KMS checks that the caller can still change the policy afterwards: the account keeps
    ``kms:PutKeyPolicy``, so IAM policies of key administrators go on working.
    """
    root = f"arn:{_partition(intent)}:iam::{account_id}:root"
    return {
        "Version": _IAM_VERSION,
        "Statement": [
            {
                "Sid": "KeyAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": list(KMS_ADMIN_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "SecretsEnvelopeEncryption",
                "Effect": "Allow",
                "Principal": {"AWS": cluster_role_arn},
                "Action": list(KMS_USE_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "GrantsForAwsResourcesOnly",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": ["kms:CreateGrant"],
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def log_group_name(intent: Intent) -> str:
    """The name EKS writes control-plane logs to; pre-creating it is how retention is owned."""
    return f"/aws/eks/{intent.cluster.name}/cluster"


def log_group_args(intent: Intent) -> dict[str, Any] | None:
    if not intent.hardening.audit_logging.enabled:
        return None
    return {
        "name": log_group_name(intent),
        "retention_in_days": intent.hardening.audit_logging.retention_days,
        "tags": resource_tags(intent),
        **_regional(intent),
    }


def _vpc_config(intent: Intent) -> dict[str, Any]:
    loc, endpoint = _location(intent), intent.hardening.endpoint
    vpc: dict[str, Any] = {
        "subnet_ids": list(loc.subnet_ids),
        "endpoint_private_access": endpoint.private,
        "endpoint_public_access": endpoint.public,
    }
    if loc.security_group_ids:
        vpc["security_group_ids"] = list(loc.security_group_ids)
    if endpoint.public:
        # EKS opens a public endpoint to 0.0.0.0/0 when no CIDR is given: spell that out so the
        # control reads a literal instead of knowing the API's default.
        cidrs = list(endpoint.public_cidrs) or ["0.0.0.0/0"]
        if not any(c in ("0.0.0.0/0", "::/0") for c in cidrs):
            # nodes of a public-only endpoint call it through NAT; a deployer outside the VPC through
            # the internet (EKS refuses private ranges here, so only routable ones are added)
            cidrs += list(endpoint.node_egress_cidrs)
            cidrs += [c for c in endpoint.deployer_cidrs if ipaddress.ip_network(c).is_global]
        vpc["public_access_cidrs"] = list(dict.fromkeys(cidrs))
    return vpc


def deployer_ingress_rules(intent: Intent) -> list[dict[str, Any]]:
    """Ingress on 443 of the cluster security group per deployer CIDR, when the private endpoint is on
    (``SecurityGroupIngressRule`` arguments without ``security_group_id``, which EKS assigns)."""
    endpoint = intent.hardening.endpoint
    if not endpoint.private:
        return []
    rules: list[dict[str, Any]] = []
    for cidr in dict.fromkeys(endpoint.deployer_cidrs):
        family = "cidr_ipv6" if ipaddress.ip_network(cidr).version == 6 else "cidr_ipv4"
        rules.append(
            {
                family: cidr,
                "ip_protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "description": f"pulumi up of {intent.cluster.name} reaches the private API endpoint",
                "tags": resource_tags(intent),
                **_regional(intent),
            }
        )
    return rules


def cluster_args(
    intent: Intent, role_arn: pulumi.Input[str], key_arn: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """Arguments of ``aws.eks.Cluster``. ``key_arn`` is the Secrets key when encryption is on."""
    hardening = intent.hardening
    args: dict[str, Any] = {
        "name": intent.cluster.name,
        "role_arn": role_arn,
        "access_config": {
            "authentication_mode": hardening.authentication.eks_mode,
            "bootstrap_cluster_creator_admin_permissions": hardening.authentication.bootstrap_creator_admin,
        },
        "vpc_config": _vpc_config(intent),
        "enabled_cluster_log_types": list(hardening.audit_logging.log_types) if hardening.audit_logging.enabled else [],
        "upgrade_policy": {"support_type": hardening.upgrades.eks_support_type},
        "tags": resource_tags(intent),
        **_regional(intent),
    }
    if intent.cluster.kubernetes_version:
        args["version"] = intent.cluster.kubernetes_version
    if hardening.secrets_encryption.enabled:
        key = key_arn if key_arn is not None else hardening.secrets_encryption.kms_key
        if key is None:
            raise ValueError("secrets encryption is on but no key ARN was given and the intent names none")
        args["encryption_config"] = {"provider": {"key_arn": key}, "resources": ["secrets"]}
    return args


@dataclass(frozen=True, slots=True)
class AccessGrantArgs:
    """One intent access grant as an EKS access entry plus its policy association (no cluster name)."""

    name: str
    entry: dict[str, Any]
    association: dict[str, Any]


def access_policy_arn(intent: Intent, role: str) -> str:
    return f"arn:{_partition(intent)}:eks::aws:cluster-access-policy/{ACCESS_POLICIES[role]}"


def access_entries(intent: Intent) -> list[AccessGrantArgs]:
    """Access entry + policy association per intent grant; none on a CONFIG_MAP cluster (EKS refuses them)."""
    if intent.hardening.authentication.eks_mode == "CONFIG_MAP":
        return []
    out: list[AccessGrantArgs] = []
    for grant in intent.access:
        if grant.aws is None:  # the intent model requires it on an EKS cluster
            raise ValueError(f"access grant {grant.name!r} has no aws principal")
        entry: dict[str, Any] = {
            "principal_arn": grant.aws.principal_arn,
            "type": "STANDARD",
            "tags": resource_tags(intent),
            **_regional(intent),
        }
        if grant.aws.kubernetes_groups:
            entry["kubernetes_groups"] = list(grant.aws.kubernetes_groups)
        scope: dict[str, Any] = (
            {"type": "cluster"}
            if grant.scope == "cluster"
            else {"type": "namespace", "namespaces": list(dict.fromkeys(grant.scope.namespaces))}
        )
        association = {
            "principal_arn": grant.aws.principal_arn,
            "policy_arn": access_policy_arn(intent, grant.role),
            "access_scope": scope,
            **_regional(intent),
        }
        out.append(AccessGrantArgs(grant.name, entry, association))
    return out


def unprovisioned_access(intent: Intent) -> list[str]:
    """Grants the cluster's authentication mode cannot carry (CONFIG_MAP has no access entries)."""
    if intent.hardening.authentication.eks_mode != "CONFIG_MAP":
        return []
    return [g.name for g in intent.access]


def oidc_provider_args(intent: Intent, issuer: pulumi.Input[str]) -> dict[str, Any]:
    """IAM OIDC provider for IRSA, trusting the cluster's issuer for the STS audience only."""
    return {"url": issuer, "client_id_lists": [STS_AUDIENCE], "tags": resource_tags(intent)}


def irsa_trust_policy(issuer: str, provider_arn: str, namespace: str, service_account: str) -> dict[str, Any]:
    """Trust for exactly one service account (CL-09): StringEquals on both ``sub`` and ``aud``.

    IAM condition keys name the issuer without its scheme.
    """
    host = issuer.removeprefix("https://")
    return {
        "Version": _IAM_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": STS_AUDIENCE,
                    }
                },
            }
        ],
    }


def pod_identity_trust_policy(
    account_id: str, cluster_name: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """Trust for EKS Pod Identity scoped to one service account of one cluster of this account.

    Without conditions any Pod Identity association in the account could assume the role. EKS tags
    the session with the cluster, namespace and service account it acts for; the trust requires
    exactly this role's (``aws:RequestTag/...``) and this account as the source (``aws:SourceAccount``).
    """
    trust = _service_trust(POD_IDENTITY_PRINCIPAL, ["sts:AssumeRole", "sts:TagSession"])
    trust["Statement"][0]["Condition"] = {
        "StringEquals": {
            "aws:SourceAccount": account_id,
            "aws:RequestTag/eks-cluster-name": cluster_name,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }
    }
    return trust


def workload_role_args(intent: Intent, wi: WorkloadIdentity) -> dict[str, Any]:
    """The workload role without its trust policy (which may need the cluster's issuer)."""
    mechanism = wi.aws.mechanism if wi.aws else "pod-identity"
    return {
        "name": workload_role_name(intent, wi),
        "description": f"{mechanism} role of {wi.namespace}/{wi.service_account} in {intent.cluster.name}",
        "tags": resource_tags(intent),
    }


def pod_identity_addon_args(intent: Intent) -> dict[str, Any]:
    return {"addon_name": "eks-pod-identity-agent", "tags": resource_tags(intent), **_regional(intent)}


def pod_identity_association_args(intent: Intent, wi: WorkloadIdentity) -> dict[str, Any]:
    return {
        "namespace": wi.namespace,
        "service_account": wi.service_account,
        "tags": resource_tags(intent),
        **_regional(intent),
    }


def _role_name(intent: Intent, suffix: str) -> str:
    """``{cluster}-{region}-{suffix}``: unique per account, within IAM's 64 characters (hashed if longer)."""
    name = f"{intent.cluster.name}-{_location(intent).region}-{suffix}"
    if len(name) <= _IAM_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    tail = suffix[:20]
    return f"{name[: _IAM_NAME_MAX - len(digest) - len(tail) - 2]}-{digest}-{tail}"


def policy_attachment_names(prefix: str, policy_arns: list[str]) -> list[tuple[str, str]]:
    """``(resource name, policy ARN)`` per distinct policy: ``{prefix}-{policy name}``.

    Two policies can share a name (``ReadOnlyAccess`` of AWS and of the account, ``team/x`` and ``x``):
    the later one gets a short hash of its ARN after the name, so no two attachments share a URN
    (which the engine refuses). A policy listed twice is attached once.
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for arn in dict.fromkeys(policy_arns):
        name = f"{prefix}-{arn.rsplit('/', 1)[-1]}"
        if name in seen:
            name = f"{name}-{hashlib.sha256(arn.encode()).hexdigest()[:8]}"
        seen.add(name)
        out.append((name, arn))
    return out


def role_arn(intent: Intent, account_id: str, name: str) -> str:
    """The ARN IAM gives role ``name`` (path ``/``) in ``account_id``: known before the role exists."""
    return f"arn:{_partition(intent)}:iam::{account_id}:role/{name}"


def node_role_name(intent: Intent) -> str:
    """The node role's explicit name, so aws-auth can name it at preview."""
    return _role_name(intent, "node")


def workload_role_name(intent: Intent, wi: WorkloadIdentity) -> str:
    """A workload role's explicit name, so the service account annotation is known at preview."""
    return _role_name(intent, f"wi-{wi.name}")


def node_role_args(intent: Intent) -> dict[str, Any]:
    return {
        "name": node_role_name(intent),
        "assume_role_policy": policy_json(_service_trust("ec2.amazonaws.com", ["sts:AssumeRole"])),
        "description": f"Managed node groups of {intent.cluster.name}",
        "tags": resource_tags(intent),
    }


def node_role_policy_arns(intent: Intent) -> list[str]:
    return [
        _managed_policy(intent, "AmazonEKSWorkerNodePolicy"),
        _managed_policy(intent, "AmazonEC2ContainerRegistryPullOnly"),
        _managed_policy(intent, "AmazonEKS_CNI_Policy"),
    ]


def launch_template_args(intent: Intent) -> dict[str, Any]:
    """Launch template of every node group: IMDSv2 with hop limit 1 (CL-07), encrypted root volume (CL-11).

    A hop limit of 1 keeps the instance's credentials away from pods even on hosts where a pod
    could otherwise reach IMDS; ``imdsV2Required: false`` relaxes only the token requirement.
    """
    return {
        "metadata_options": {
            "http_endpoint": "enabled",
            "http_tokens": "required" if intent.hardening.imds_v2_required else "optional",
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "disabled",
        },
        "block_device_mappings": [
            {
                "device_name": _ROOT_DEVICE,
                "ebs": {"encrypted": "true", "volume_type": "gp3", "volume_size": 50, "delete_on_termination": "true"},
            }
        ],
        "update_default_version": True,
        "tags": resource_tags(intent),
        **_regional(intent),
    }


def node_group_args(intent: Intent, pool: NodePool) -> dict[str, Any]:
    """A managed node group for ``pool``, without cluster, role and launch template references."""
    args: dict[str, Any] = {
        "subnet_ids": list(_location(intent).subnet_ids),
        "scaling_config": {"min_size": pool.min_size, "max_size": pool.max_size, "desired_size": pool.desired_size},
        "update_config": {"max_unavailable": 1},
        "labels": {"fleet-baseline.io/node-pool": pool.name},
        "tags": resource_tags(intent),
        **_regional(intent),
    }
    if pool.instance_type:
        args["instance_types"] = [pool.instance_type]
    return args


def vpc_cni_addon_args(intent: Intent) -> dict[str, Any]:
    """The vpc-cni addon with its NetworkPolicy agent stated either way (CL-06 reads a literal)."""
    enforce = "true" if intent.hardening.network_policy_enforcement else "false"
    return {
        "addon_name": "vpc-cni",
        "configuration_values": json.dumps({"enableNetworkPolicy": enforce}),
        "resolve_conflicts_on_create": "OVERWRITE",
        "resolve_conflicts_on_update": "OVERWRITE",
        "tags": resource_tags(intent),
        **_regional(intent),
    }


def uses_aws_auth(intent: Intent) -> bool:
    """The authentication mode reads aws-auth and the intent maps someone there."""
    auth = intent.hardening.authentication
    return auth.eks_mode != "API" and bool(auth.aws_auth)


def aws_auth_map_roles(intent: Intent, node_role_arn: str) -> str:
    """``mapRoles`` of aws-auth: the intent's ``awsAuth`` entries verbatim, ``system:masters`` included.

    In CONFIG_MAP mode the node role comes first: EKS maps it there when it creates a managed node
    group, and the patch owns the whole ``mapRoles`` key, so leaving it out would stop nodes joining.
    In API_AND_CONFIG_MAP mode EKS gives the node role an access entry of its own: mapping it again
    would be a second, unmanaged way in.
    """
    roles: list[dict[str, Any]] = []
    if intent.hardening.authentication.eks_mode == "CONFIG_MAP":
        roles.append(
            {"rolearn": node_role_arn, "username": _NODE_MAPPING_USERNAME, "groups": list(_NODE_MAPPING_GROUPS)}
        )
    roles += [
        {"rolearn": m.rolearn, "username": m.username, "groups": list(m.groups)}
        for m in intent.hardening.authentication.aws_auth
    ]
    return yaml.safe_dump(roles, sort_keys=False, default_flow_style=False)


def aws_auth_config_map(intent: Intent, node_role_arn: str | pulumi.Output[str]) -> Manifest | None:
    """The legacy aws-auth ConfigMap, when the authentication mode reads it and the intent maps anyone.

    With a plain ``node_role_arn`` the manifest is all literals; with an output, ``mapRoles`` is an
    output too (known at preview when the ARN is, which the component arranges).
    """
    if not uses_aws_auth(intent):
        return None
    map_roles: pulumi.Input[str] = (
        aws_auth_map_roles(intent, node_role_arn)
        if isinstance(node_role_arn, str)
        else node_role_arn.apply(lambda arn: aws_auth_map_roles(intent, arn))
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "aws-auth",
            "namespace": "kube-system",
            "labels": {BASELINE_VERSION_LABEL: intent.baseline_version},
            "annotations": {PATCH_FORCE_ANNOTATION: "true"},
        },
        "data": {"mapRoles": map_roles},
    }


@dataclass(frozen=True, slots=True)
class AwsDeployer:
    """The credentials the stack's AWS provider uses, which the kubeconfig must use too.

    ``role_arn``: the role the provider assumes (``aws:assumeRoles``); ``profile``: its shared
    config profile (``aws:profile``). Without them ``aws eks get-token`` would sign with whatever
    credentials the CLI finds, which need not be the identity the intent grants cluster-admin.
    """

    role_arn: str | None = None
    profile: str | None = None


def kubeconfig(
    cluster_name: str, endpoint: str, ca_data: str, region: str, deployer: AwsDeployer | None = None
) -> dict[str, Any]:
    """A kubeconfig that authenticates with ``aws eks get-token`` as the deployer: no long-lived
    credential in it."""
    args = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]
    if deployer is not None and deployer.role_arn:
        args += ["--role-arn", deployer.role_arn]
    if deployer is not None and deployer.profile:
        args += ["--profile", deployer.profile]
    plugin = {"command": "aws", "args": args, "interactiveMode": "Never"}
    return exec_kubeconfig(cluster_name, endpoint, ca_data, plugin)


_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")
_IAM_PRINCIPAL = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):(role|user)/(?:.*/)?([^/]+)$")


def deployer_principal(caller_arn: str) -> str:
    """The IAM principal behind a caller ARN: an STS assumed-role session is its role."""
    match = _ASSUMED_ROLE.match(caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def _principal_key(arn: str) -> tuple[str, str, str] | None:
    """(account, role|user, name): IAM paths do not name a different principal."""
    match = _IAM_PRINCIPAL.match(deployer_principal(arn))
    return (match.group(2), match.group(3), match.group(4)) if match else None


def deployer_access_problem(intent: Intent, caller_arn: str) -> str | None:
    """Why the identity running ``pulumi up`` will be refused by the cluster, or ``None``.

    It gets in as the creator (``bootstrapCreatorAdmin``), through a cluster-admin access entry
    (not in CONFIG_MAP mode, which has none) or through an ``awsAuth`` mapping to ``system:masters``
    (not in API mode, which reads no aws-auth).
    """
    auth = intent.hardening.authentication
    if auth.bootstrap_creator_admin:
        return None
    key = _principal_key(caller_arn)
    admitted: list[str] = []
    if auth.eks_mode != "CONFIG_MAP":
        admitted += [g.aws.principal_arn for g in intent.cluster_admins() if g.aws is not None]
    if auth.eks_mode != "API":
        admitted += [m.rolearn for m in auth.aws_auth if "system:masters" in m.groups]
    if key is not None and any(_principal_key(arn) == key for arn in admitted):
        return None
    return (
        f"the identity running `pulumi up` ({deployer_principal(caller_arn)}) is not among the cluster-admins of"
        f" {intent.cluster.name!r} (access entries: {admitted or 'none'}), and the creator's implicit admin is off:"
        " every Kubernetes call of the in-cluster baseline would be refused. Grant it cluster-admin in the"
        " intent's access, or run `pulumi up` as one of those principals (aws:assumeRoles / aws:profile)"
    )
