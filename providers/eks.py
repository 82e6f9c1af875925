"""EKS: the intent as an EKS cluster, its identities and nodes, then the in-cluster baseline.

Every argument set is a pure function of the intent (``*_args``, ``access_entries``, the trust
policies), tested without mocks. :class:`EksCluster` only wires them together, adding the values
that only exist once another resource does (ARNs, the cluster's OIDC issuer).

Security settings are literals from the intent, so a policy can decide them at preview:
``accessConfig``, ``vpcConfig`` endpoint flags and CIDRs, ``enabledClusterLogTypes``,
``upgradePolicy``, the launch template's ``metadataOptions`` and volume encryption, the vpc-cni
``configurationValues``, the access policy ARNs and scopes, the stamp tag. The exceptions are values
AWS assigns: a key ARN created in the same stack and the OIDC issuer inside IRSA trust policies.

An insecure but valid intent (public endpoint to 0.0.0.0/0, no secrets encryption, CONFIG_MAP
authentication mapping someone to ``system:masters``) is translated faithfully: blocking it is the
controls' job, with the control's own message.

Decisions:

* **Cluster name** is ``cluster.name`` from the intent (not auto-named): the control-plane log group
  ``/aws/eks/NAME/cluster`` must exist, with the intent's retention, *before* the cluster does.
* **Access entries need an authentication mode that has them.** EKS refuses access entries on a
  CONFIG_MAP cluster, so none are registered there; the component warns, naming the grants not
  provisioned. Moving the intent to API_AND_CONFIG_MAP (the mode only moves forward) provisions them.
* **aws-auth** is EKS-only, so it is rendered here (:func:`aws_auth_config_map`), not in the
  in-cluster baseline: only in CONFIG_MAP / API_AND_CONFIG_MAP mode with ``awsAuth`` entries. The
  ConfigMap exists once a managed node group does, so it is a server-side-apply patch that takes
  ``mapRoles`` over; the node role mapping is kept first so nodes still join.
* **Roles named explicitly where their ARN is read by the cluster.** The node role (in aws-auth)
  and the workload roles (in ``eks.amazonaws.com/role-arn``) have explicit names
  (``{cluster}-{region}-...``), so their ARNs come from the account (an invoke, which runs at
  preview) and the name, not from the role's output: ``mapRoles`` and the annotations are known at
  preview, and RB-06 and the service account checks can judge them there.
* **Workload identity** is always available: the OIDC provider (IRSA) and the
  eks-pod-identity-agent addon exist whether or not a workload uses them yet (CL-05). IRSA service
  accounts get ``eks.amazonaws.com/role-arn`` through the in-cluster baseline, which creates the
  workload service accounts.
* **The Kubernetes provider** depends on the access policy associations: with
  ``bootstrapClusterCreatorAdminPermissions`` off, the identity running Pulumi reaches the cluster
  only through a grant in the intent, so that grant must exist before any Kubernetes call. The
  admission engine's Helm release also waits for the node groups (it is ``atomic``: a release
  started before nodes and the CNI are ready times out and rolls back).
* **The deployer.** ``pulumi up`` calls the API server from wherever it runs. ``deployerCidrs`` are
  admitted on port 443 of the cluster security group EKS creates (the private endpoint's ENIs
  carry it) and, where globally routable, in ``publicAccessCidrs`` of a restricted public endpoint;
  ``nodeEgressCidrs`` (the NAT addresses of nodes calling a public-only endpoint) join
  ``publicAccessCidrs`` too. The kubeconfig's ``aws eks get-token`` gets the role (``--role-arn``)
  and profile (``--profile``) the stack's AWS provider uses (:class:`AwsDeployer`), not whatever
  CLI credentials are around, and that role must be one of the intent's cluster-admins: a role
  that is not is refused before anything registers; without a configured role the caller identity
  is checked and a warning names it when no cluster-admin grant covers it.
* **Trust and keys.** The control-plane role trusts ``eks.amazonaws.com`` with ``sts:AssumeRole``
  only (``sts:TagSession`` is for EKS Auto Mode, which this component does not build). A Pod
  Identity role trusts ``pods.eks.amazonaws.com`` only for this account, this cluster and exactly
  its namespace and service account (``aws:SourceAccount``, ``aws:RequestTag/eks-cluster-name``,
  ``kubernetes-namespace``, ``kubernetes-service-account``). The Secrets key has an explicit key
  policy: the account administers the key but cannot use it; only the cluster role encrypts and
  decrypts, and AWS services get grants only for AWS resources (separation of duties).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi_aws import cloudwatch, ec2, get_caller_identity_output, iam, kms
from pulumi_aws import eks as aws_eks
from pulumi_aws import vpc as aws_vpc

from baseline.intent import Intent, WorkloadIdentity
from providers.cluster import ClusterComponent
from providers.eks_args import (
    ACCESS_POLICIES,
    KMS_ADMIN_ACTIONS,
    KMS_USE_ACTIONS,
    POD_IDENTITY_PRINCIPAL,
    STS_AUDIENCE,
    TYPE_TOKEN,
    AccessGrantArgs,
    AwsDeployer,
    _location,
    access_entries,
    access_policy_arn,
    aws_auth_config_map,
    aws_auth_map_roles,
    cluster_args,
    cluster_role_args,
    cluster_role_policy_arns,
    deployer_access_problem,
    deployer_ingress_rules,
    deployer_principal,
    irsa_trust_policy,
    kms_key_args,
    kms_key_policy,
    kubeconfig,
    launch_template_args,
    log_group_args,
    log_group_name,
    node_group_args,
    node_role_args,
    node_role_name,
    node_role_policy_arns,
    oidc_provider_args,
    pod_identity_addon_args,
    pod_identity_association_args,
    pod_identity_trust_policy,
    policy_attachment_names,
    policy_json,
    resource_tags,
    role_arn,
    unprovisioned_access,
    uses_aws_auth,
    vpc_cni_addon_args,
    workload_role_args,
    workload_role_name,
)
from providers.incluster import (
    kubernetes_resource,
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
    "EksCluster",
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

#: Pulumi type token of the component.


# --------------------------------------------------------------------------- wiring


def _issuer(cluster: aws_eks.Cluster) -> pulumi.Output[str]:
    return cluster.identities.apply(lambda ids: str(ids[0].oidcs[0].issuer))  # type: ignore[index]


def _irsa_trust(
    issuer: pulumi.Output[str], provider_arn: pulumi.Output[str], wi: WorkloadIdentity
) -> pulumi.Output[str]:
    def render(values: list[Any]) -> str:
        return policy_json(irsa_trust_policy(str(values[0]), str(values[1]), wi.namespace, wi.service_account))

    return pulumi.Output.all(issuer, provider_arn).apply(render)


def _ca_data(cluster: aws_eks.Cluster) -> pulumi.Output[str]:
    return cluster.certificate_authority.apply(lambda ca: str(ca.data))


class EksCluster(ClusterComponent):
    """An EKS cluster built from the intent, with its in-cluster baseline applied.

    ``aws_provider`` is used for every AWS resource and invoke when given; otherwise the default
    provider (regional resources are pinned to the intent's region either way). ``deployer``: the
    role and profile that provider uses (:class:`AwsDeployer`); the kubeconfig signs with them, and a
    role that is not one of the intent's cluster-admins is refused before anything registers.

    Outputs as every cluster component's (:class:`~providers.cluster.ClusterComponent`). The
    kubeconfig authenticates with ``aws eks get-token``; ``oidc_issuer`` is the IRSA issuer.
    """

    def __init__(
        self,
        name: str,
        intent: Intent,
        opts: pulumi.ResourceOptions | None = None,
        *,
        aws_provider: pulumi.ProviderResource | None = None,
        deployer: AwsDeployer | None = None,
    ) -> None:
        if deployer is not None and deployer.role_arn:
            problem = deployer_access_problem(intent, deployer.role_arn)
            if problem is not None:  # before anything registers: nothing half-made
                raise ValueError(problem)
        super().__init__(TYPE_TOKEN, name, opts, aws_provider)
        self._intent, self._aws, self._deployer = intent, aws_provider, deployer
        self._identity: Any = None  # the caller identity, looked up once (an invoke, run at preview)

        role, role_policies = self._role(
            f"{name}-cluster-role", cluster_role_args(intent), cluster_role_policy_arns(intent)
        )
        log_group = self._log_group()
        self.cluster = aws_eks.Cluster(
            f"{name}-cluster",
            **cluster_args(intent, role.arn, self._secrets_key(role)),
            # the log group first, or EKS creates it with infinite retention and the stack cannot own it
            opts=self._opts(depends_on=[*role_policies, *([log_group] if log_group else [])]),
        )
        cluster_name = self.cluster.name
        issuer = _issuer(self.cluster)
        associations = self._access(cluster_name)
        ingress = self._deployer_ingress()
        self._check_caller()
        node_role, node_groups = self._nodes(cluster_name)
        sa_annotations: dict[tuple[str, str], dict[str, Any]] = {}
        if intent.hardening.workload_identity:  # off: neither IRSA nor Pod Identity; CL-05 reports it
            oidc = iam.OpenIdConnectProvider(f"{name}-oidc", **oidc_provider_args(intent, issuer), opts=self._opts())
            sa_annotations = self._workload_identities(cluster_name, issuer, oidc, node_groups)

        self.cluster_name = cluster_name
        self.endpoint = self.cluster.endpoint
        self.oidc_issuer = issuer
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster_name, self.endpoint, _ca_data(self.cluster)).apply(
                lambda v: json.dumps(kubeconfig(v[0], v[1], v[2], _location(intent).region, deployer))
            )
        )
        self._apply_baseline(
            intent,
            depends_on=[*associations, *ingress],
            service_account_annotations=sa_annotations,
            # an atomic release started before nodes and the CNI are ready times out and rolls back
            engine_depends_on=node_groups,
        )
        self._aws_auth([node_role, *node_groups])
        self._register()

    # ------------------------------------------------------------------ helpers

    def _role(
        self, res_name: str, args: dict[str, Any], policy_arns: list[str]
    ) -> tuple[iam.Role, list[iam.RolePolicyAttachment]]:
        role = iam.Role(res_name, **args, opts=self._opts())
        attachments = [
            iam.RolePolicyAttachment(name, role=role.name, policy_arn=arn, opts=self._opts())
            for name, arn in policy_attachment_names(res_name, policy_arns)
        ]
        return role, attachments

    def _secrets_key(self, cluster_role: iam.Role) -> pulumi.Input[str] | None:
        args = kms_key_args(self._intent)
        if args is None:
            return None  # encryption off, or the intent's own key ARN (cluster_args reads it)
        intent = self._intent
        policy = pulumi.Output.all(self._account_id(), cluster_role.arn).apply(
            lambda v: policy_json(kms_key_policy(intent, str(v[0]), str(v[1])))
        )
        return kms.Key(f"{self._name}-secrets-key", **args, policy=policy, opts=self._opts()).arn

    def _deployer_ingress(self) -> list[pulumi.Resource]:
        """The deployer's CIDRs on 443 of the cluster security group (the private endpoint's)."""
        group: pulumi.Output[Any] = self.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id)
        return [
            aws_vpc.SecurityGroupIngressRule(
                f"{self._name}-deployer-{i}", security_group_id=group, **rule, opts=self._opts()
            )
            for i, rule in enumerate(deployer_ingress_rules(self._intent))
        ]

    def _check_caller(self) -> None:
        """Without a configured role, warn when the caller identity is no cluster-admin of the intent."""
        if self._deployer is not None and self._deployer.role_arn:
            return  # checked before anything registered
        intent = self._intent

        def check(arn: str) -> str:
            problem = deployer_access_problem(intent, arn)
            if problem is not None:
                pulumi.log.warn(problem, resource=self)
            return arn

        self._caller().arn.apply(check)

    def _log_group(self) -> cloudwatch.LogGroup | None:
        args = log_group_args(self._intent)
        return cloudwatch.LogGroup(f"{self._name}-cluster-logs", **args, opts=self._opts()) if args else None

    def _access(self, cluster_name: pulumi.Output[str]) -> list[pulumi.Resource]:
        """Access entries and their policy associations; replaced delete-first (same ID, 409 otherwise)."""
        skipped = unprovisioned_access(self._intent)
        if skipped:
            pulumi.log.warn(
                f"authentication mode CONFIG_MAP has no access entries: grants {skipped} are not provisioned;"
                " move hardening.authentication.eksMode to API_AND_CONFIG_MAP or API",
                resource=self,
            )
        out: list[pulumi.Resource] = []
        for grant in access_entries(self._intent):
            entry = aws_eks.AccessEntry(
                f"{self._name}-access-{grant.name}",
                cluster_name=cluster_name,
                **grant.entry,
                opts=self._opts(delete_before_replace=True),
            )
            out.append(
                aws_eks.AccessPolicyAssociation(
                    f"{self._name}-access-{grant.name}",
                    cluster_name=cluster_name,
                    **grant.association,
                    opts=self._opts(delete_before_replace=True, depends_on=[entry]),
                )
            )
        return out

    def _nodes(self, cluster_name: pulumi.Output[str]) -> tuple[iam.Role, list[aws_eks.NodeGroup]]:
        """Node role, launch template, vpc-cni (before nodes: its config applies from the first pod)."""
        intent = self._intent
        node_role, attachments = self._role(
            f"{self._name}-node-role", node_role_args(intent), node_role_policy_arns(intent)
        )
        template = ec2.LaunchTemplate(f"{self._name}-nodes", **launch_template_args(intent), opts=self._opts())
        cni = aws_eks.Addon(
            f"{self._name}-vpc-cni", cluster_name=cluster_name, **vpc_cni_addon_args(intent), opts=self._opts()
        )
        return node_role, [
            aws_eks.NodeGroup(
                f"{self._name}-nodes-{pool.name}",
                cluster_name=cluster_name,
                node_role_arn=node_role.arn,
                launch_template={"id": template.id, "version": template.latest_version.apply(str)},
                **node_group_args(intent, pool),
                opts=self._opts(depends_on=[*attachments, cni]),
            )
            for pool in intent.cluster.node_pools
        ]

    def _workload_identities(
        self,
        cluster_name: pulumi.Output[str],
        issuer: pulumi.Output[str],
        oidc: iam.OpenIdConnectProvider,
        node_groups: list[aws_eks.NodeGroup],
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Workload roles, their policies and bindings; returns IRSA service account annotations."""
        intent = self._intent
        agent = aws_eks.Addon(
            f"{self._name}-pod-identity-agent",
            cluster_name=cluster_name,
            **pod_identity_addon_args(intent),
            opts=self._opts(depends_on=node_groups),  # a DaemonSet: healthy only once nodes exist
        )
        annotations: dict[tuple[str, str], dict[str, Any]] = {}
        for wi in intent.workload_identities:
            grant = wi.aws
            if grant is None:  # the intent model requires it on an EKS cluster
                raise ValueError(f"workload identity {wi.name!r} has no aws grant")
            if grant.mechanism == "irsa":
                trust: pulumi.Input[str] = _irsa_trust(issuer, oidc.arn, wi)
            else:
                trust = self._pod_identity_trust(wi)
            role, _ = self._role(
                f"{self._name}-wi-{wi.name}",
                {**workload_role_args(intent, wi), "assume_role_policy": trust},
                list(grant.policy_arns),
            )
            if grant.mechanism == "irsa":
                # the known ARN, not role.arn: an unknown annotation makes the account's checks undecidable
                annotations[(wi.namespace, wi.service_account)] = {
                    "eks.amazonaws.com/role-arn": self._known_role_arn(workload_role_name(intent, wi))
                }
            else:
                aws_eks.PodIdentityAssociation(
                    f"{self._name}-wi-{wi.name}",
                    cluster_name=cluster_name,
                    role_arn=role.arn,
                    **pod_identity_association_args(intent, wi),
                    opts=self._opts(depends_on=[agent]),
                )
        return annotations

    def _caller(self) -> Any:
        """The caller identity of the AWS provider (an invoke, which runs at preview), looked up once."""
        if self._identity is None:
            self._identity = get_caller_identity_output(
                opts=pulumi.InvokeOutputOptions(parent=self, provider=self._aws)
            )
        return self._identity

    def _account_id(self) -> pulumi.Output[str]:
        account: pulumi.Output[str] = self._caller().account_id.apply(str)
        return account

    def _pod_identity_trust(self, wi: WorkloadIdentity) -> pulumi.Output[str]:
        cluster = self._intent.cluster.name
        return self._account_id().apply(
            lambda account: policy_json(pod_identity_trust_policy(account, cluster, wi.namespace, wi.service_account))
        )

    def _known_role_arn(self, name: str) -> pulumi.Output[str]:
        """The ARN of a role this component names explicitly, from the account (an invoke, run at preview)."""
        intent = self._intent
        return self._account_id().apply(lambda account: role_arn(intent, account, name))

    def _aws_auth(self, nodes: list[pulumi.Resource]) -> None:
        """Patch aws-auth when the intent maps principals there (see the module doc).

        The node role ARN is built from the account and the role's explicit name, not from the
        role's output, so ``mapRoles`` is decidable at preview.
        """
        intent = self._intent
        if not uses_aws_auth(intent):
            return
        manifest = aws_auth_config_map(intent, self._known_role_arn(node_role_name(intent)))
        if manifest is not None:
            kubernetes_resource(
                f"{self._name}-aws-auth",
                manifest,
                # the ConfigMap exists once a managed node group does; the patch takes mapRoles over
                pulumi.ResourceOptions(parent=self, provider=self.k8s_provider, depends_on=nodes),
            )
