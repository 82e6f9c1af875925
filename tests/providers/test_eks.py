"""EKS: every translation rule as a pure function (no mocks), then the component's wiring under mocks."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from pulumi.output import Unknown

from baseline.intent import Intent
from providers.eks import (
    TYPE_TOKEN,
    AwsDeployer,
    EksCluster,
    access_entries,
    access_policy_arn,
    aws_auth_config_map,
    aws_auth_map_roles,
    cluster_args,
    cluster_role_args,
    cluster_role_policy_arns,
    deployer_access_problem,
    deployer_ingress_rules,
    irsa_trust_policy,
    kms_key_args,
    kms_key_policy,
    kubeconfig,
    launch_template_args,
    log_group_args,
    node_group_args,
    node_role_args,
    node_role_name,
    node_role_policy_arns,
    pod_identity_trust_policy,
    resource_tags,
    role_arn,
    unprovisioned_access,
    uses_aws_auth,
    vpc_cni_addon_args,
    workload_role_name,
)
from tests.conftest import ACCOUNT_ID, KMS_KEY_ARN, OIDC_ISSUER, RecordingMocks, Registration

ROLE = "arn:aws:iam::111122223333:role/eks-cluster"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STAMP = "fleet-baseline.io/baseline-version"
RESPONDER = "arn:aws:iam::111122223333:role/incident-responder"


def _with(intent: Intent, path: str, value: Any) -> Intent:
    """``intent`` with the camelCase field at dotted ``path`` set to ``value``, re-validated."""
    data = intent.model_dump(by_alias=True)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return Intent.model_validate(data)


# --------------------------------------------------------------------------- cluster arguments


def test_cluster_args_of_a_compliant_intent(prod_intent: Intent) -> None:
    args = cluster_args(prod_intent, ROLE, KEY)
    assert args["name"] == "prod-eu-1"
    assert args["role_arn"] == ROLE
    assert args["version"] == "1.33"
    assert args["region"] == "eu-west-1"
    assert args["access_config"] == {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False}
    assert args["encryption_config"] == {"provider": {"key_arn": KEY}, "resources": ["secrets"]}
    assert args["vpc_config"] == {
        "subnet_ids": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"],
        "endpoint_private_access": True,
        "endpoint_public_access": False,
    }  # no public_access_cidrs on a private endpoint
    assert args["enabled_cluster_log_types"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert args["upgrade_policy"] == {"support_type": "STANDARD"}
    assert args["tags"][STAMP] == "1.0.0"


def test_cluster_args_of_a_stale_template_are_faithful(stale_intent: Intent) -> None:
    """The insecure settings reach the resource unchanged: the policy pack, not the component, refuses them."""
    args = cluster_args(stale_intent, ROLE)
    assert args["name"] == "legacy-eu-1"
    assert args["vpc_config"]["endpoint_private_access"] is False
    assert args["vpc_config"]["endpoint_public_access"] is True
    assert args["vpc_config"]["public_access_cidrs"] == ["0.0.0.0/0"]
    assert "encryption_config" not in args
    assert args["access_config"] == {
        "authentication_mode": "CONFIG_MAP",
        "bootstrap_cluster_creator_admin_permissions": True,
    }
    assert args["tags"][STAMP] == "0.9.0"


def test_public_endpoint_without_cidrs_spells_out_the_aws_default(prod_intent: Intent) -> None:
    intent = _with(prod_intent, "hardening.endpoint", {"private": True, "public": True})
    assert cluster_args(intent, ROLE, KEY)["vpc_config"]["public_access_cidrs"] == ["0.0.0.0/0"]
    intent = _with(
        prod_intent, "hardening.endpoint", {"private": True, "public": True, "publicCidrs": ["203.0.113.0/24"]}
    )
    assert cluster_args(intent, ROLE, KEY)["vpc_config"]["public_access_cidrs"] == ["203.0.113.0/24"]


def test_security_groups_only_when_given(prod_intent: Intent) -> None:
    assert "security_group_ids" not in cluster_args(prod_intent, ROLE, KEY)["vpc_config"]
    intent = _with(prod_intent, "cluster.eks.securityGroupIds", ["sg-0123"])
    assert cluster_args(intent, ROLE, KEY)["vpc_config"]["security_group_ids"] == ["sg-0123"]


def test_secrets_key_created_with_rotation_unless_the_intent_names_one(prod_intent: Intent) -> None:
    key = kms_key_args(prod_intent)
    assert key is not None and key["enable_key_rotation"] is True and key["region"] == "eu-west-1"
    own = _with(prod_intent, "hardening.secretsEncryption", {"enabled": True, "kmsKey": KEY})
    assert kms_key_args(own) is None
    assert cluster_args(own, ROLE)["encryption_config"]["provider"]["key_arn"] == KEY
    with pytest.raises(ValueError, match="no key ARN"):
        cluster_args(prod_intent, ROLE)  # encryption on, key to be created, but none passed


def test_no_key_when_encryption_is_off(stale_intent: Intent) -> None:
    assert kms_key_args(stale_intent) is None
    assert "encryption_config" not in cluster_args(stale_intent, ROLE, KEY)


def test_log_group_owns_retention(prod_intent: Intent) -> None:
    assert log_group_args(prod_intent) == {
        "name": "/aws/eks/prod-eu-1/cluster",
        "retention_in_days": 365,
        "tags": resource_tags(prod_intent),
        "region": "eu-west-1",
    }
    off = _with(prod_intent, "hardening.auditLogging", {"enabled": False})
    assert log_group_args(off) is None
    assert cluster_args(off, ROLE, KEY)["enabled_cluster_log_types"] == []


def test_upgrade_support_type_from_the_intent(prod_intent: Intent) -> None:
    intent = _with(prod_intent, "hardening.upgrades", {"eksSupportType": "EXTENDED"})
    assert cluster_args(intent, ROLE, KEY)["upgrade_policy"] == {"support_type": "EXTENDED"}


def test_baseline_tags_cannot_be_overridden_by_intent_tags(prod_intent: Intent) -> None:
    intent = _with(prod_intent, "cluster.tags", {STAMP: "9.9.9", "cost-center": "42"})
    tags = resource_tags(intent)
    assert tags[STAMP] == "1.0.0" and tags["cost-center"] == "42"


def test_role_trusts_are_json_text(prod_intent: Intent) -> None:
    """Text, as IAM and the provider's state hold it: one form for preview, state and live."""
    cluster_trust = json.loads(cluster_role_args(prod_intent)["assume_role_policy"])
    assert cluster_trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    node_trust = json.loads(node_role_args(prod_intent)["assume_role_policy"])
    assert node_trust["Statement"][0] == {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": ["sts:AssumeRole"],
    }
    assert cluster_role_policy_arns(prod_intent) == ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"]
    assert all(arn.startswith("arn:aws:iam::aws:policy/") for arn in node_role_policy_arns(prod_intent))


# --------------------------------------------------------------------------- human access


def test_access_entries_per_grant(prod_intent: Intent) -> None:
    grants = {g.name: g for g in access_entries(prod_intent)}
    assert set(grants) == {"platform-admins", "shop-developers", "auditors"}
    admins = grants["platform-admins"]
    assert admins.entry["principal_arn"] == "arn:aws:iam::111122223333:role/platform-admins"
    assert admins.entry["type"] == "STANDARD"
    assert "kubernetes_groups" not in admins.entry
    assert admins.association == {
        "principal_arn": "arn:aws:iam::111122223333:role/platform-admins",
        "policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "access_scope": {"type": "cluster"},
        "region": "eu-west-1",
    }
    devs = grants["shop-developers"].association
    assert devs["policy_arn"].endswith("/AmazonEKSEditPolicy")
    assert devs["access_scope"] == {"type": "namespace", "namespaces": ["shop"]}
    assert grants["auditors"].association["policy_arn"].endswith("/AmazonEKSViewPolicy")


@pytest.mark.parametrize(
    ("role", "policy"),
    [
        ("cluster-admin", "AmazonEKSClusterAdminPolicy"),
        ("admin", "AmazonEKSAdminPolicy"),
        ("edit", "AmazonEKSEditPolicy"),
        ("view", "AmazonEKSViewPolicy"),
    ],
)
def test_access_policy_arns_use_the_intent_partition(prod_intent: Intent, role: str, policy: str) -> None:
    assert access_policy_arn(prod_intent, role) == f"arn:aws:eks::aws:cluster-access-policy/{policy}"
    gov = _with(prod_intent, "cluster.eks.partition", "aws-us-gov")
    assert access_policy_arn(gov, role) == f"arn:aws-us-gov:eks::aws:cluster-access-policy/{policy}"


def test_kubernetes_groups_pass_through(prod_intent: Intent) -> None:
    access = prod_intent.model_dump(by_alias=True)["access"]
    access[2]["aws"]["kubernetesGroups"] = ["auditors"]
    grants = {g.name: g for g in access_entries(_with(prod_intent, "access", access))}
    assert grants["auditors"].entry["kubernetes_groups"] == ["auditors"]


def test_config_map_mode_has_no_access_entries(stale_intent: Intent) -> None:
    assert access_entries(stale_intent) == []
    assert unprovisioned_access(stale_intent) == ["platform-admins", "shop-developers", "auditors"]
    both = _with(stale_intent, "hardening.authentication.eksMode", "API_AND_CONFIG_MAP")
    assert len(access_entries(both)) == 3 and unprovisioned_access(both) == []


# --------------------------------------------------------------------------- workload identity


def test_irsa_trust_is_scoped_to_one_service_account() -> None:
    provider = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    doc = irsa_trust_policy("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", provider, "shop", "orders")
    (statement,) = doc["Statement"]
    assert doc["Version"] == "2012-10-17"
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:shop:orders",
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
        }
    }
    assert irsa_trust_policy("oidc.eks.eu-west-1.amazonaws.com/id/ABC", provider, "shop", "orders") == doc


def test_pod_identity_trust_is_scoped_to_one_service_account_of_one_cluster() -> None:
    (statement,) = pod_identity_trust_policy(ACCOUNT_ID, "prod-eu-1", "payments", "ledger")["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {
            "StringEquals": {
                "aws:SourceAccount": ACCOUNT_ID,
                "aws:RequestTag/eks-cluster-name": "prod-eu-1",
                "aws:RequestTag/kubernetes-namespace": "payments",
                "aws:RequestTag/kubernetes-service-account": "ledger",
            }
        },
    }


def test_the_control_plane_role_has_no_tag_session(prod_intent: Intent) -> None:
    """sts:TagSession is for EKS Auto Mode only, which the component does not build."""
    (statement,) = json.loads(cluster_role_args(prod_intent)["assume_role_policy"])["Statement"]
    assert statement["Action"] == ["sts:AssumeRole"]


def test_the_secrets_key_policy_separates_administration_from_use(prod_intent: Intent) -> None:
    cluster_role = f"arn:aws:iam::{ACCOUNT_ID}:role/prod-cluster-role-1a2b"
    doc = kms_key_policy(prod_intent, ACCOUNT_ID, cluster_role)
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    admin, use, grants = (
        by_sid["KeyAdministration"],
        by_sid["SecretsEnvelopeEncryption"],
        by_sid["GrantsForAwsResourcesOnly"],
    )
    root = f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert admin["Principal"] == {"AWS": root} and "kms:PutKeyPolicy" in admin["Action"]
    # the account administers the key but no IAM policy in it can use the key for data
    assert not [a for a in admin["Action"] if a in ("kms:Decrypt", "kms:Encrypt", "kms:*") or a.startswith("kms:Gen")]
    assert "kms:CreateGrant" not in admin["Action"]
    assert use["Principal"] == {"AWS": cluster_role} and "kms:Decrypt" in use["Action"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert grants["Action"] == ["kms:CreateGrant"]


# --------------------------------------------------------------------------- nodes and addons


def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(prod_intent: Intent) -> None:
    args = launch_template_args(prod_intent)
    assert args["metadata_options"]["http_tokens"] == "required"
    assert args["metadata_options"]["http_put_response_hop_limit"] == 1
    assert args["metadata_options"]["http_endpoint"] == "enabled"
    (root,) = args["block_device_mappings"]
    assert root["ebs"]["encrypted"] == "true"  # a string in the AWS provider's schema
    relaxed = launch_template_args(_with(prod_intent, "hardening.imdsV2Required", False))
    assert relaxed["metadata_options"]["http_tokens"] == "optional"


def test_node_group_per_pool(prod_intent: Intent) -> None:
    (pool,) = prod_intent.cluster.node_pools
    args = node_group_args(prod_intent, pool)
    assert args["scaling_config"] == {"min_size": 2, "max_size": 6, "desired_size": 3}
    assert args["instance_types"] == ["m6i.large"]
    assert args["subnet_ids"] == list(prod_intent.cluster.eks.subnet_ids)  # type: ignore[union-attr]
    assert "disk_size" not in args  # the launch template owns the volume


def test_node_role_name_is_explicit_unique_and_fits_iam(prod_intent: Intent) -> None:
    assert node_role_name(prod_intent) == "prod-eu-1-eu-west-1-node"
    long_a = _with(prod_intent, "cluster.name", "a" * 55 + "-one")
    long_b = _with(prod_intent, "cluster.name", "a" * 55 + "-two")
    assert len(node_role_name(long_a)) <= 64
    assert node_role_name(long_a) != node_role_name(long_b)
    assert node_role_name(long_a) == node_role_name(long_a)


def test_workload_roles_are_named_so_their_arn_is_known_early(prod_intent: Intent) -> None:
    orders = prod_intent.workload_identities[0]
    assert workload_role_name(prod_intent, orders) == "prod-eu-1-eu-west-1-wi-shop-orders"
    assert role_arn(prod_intent, ACCOUNT_ID, "r") == f"arn:aws:iam::{ACCOUNT_ID}:role/r"
    china = _with(prod_intent, "cluster.eks.partition", "aws-cn")
    assert role_arn(china, ACCOUNT_ID, "r") == f"arn:aws-cn:iam::{ACCOUNT_ID}:role/r"


def test_vpc_cni_states_network_policy_either_way(prod_intent: Intent) -> None:
    on = vpc_cni_addon_args(prod_intent)
    assert on["addon_name"] == "vpc-cni"
    assert json.loads(on["configuration_values"]) == {"enableNetworkPolicy": "true"}
    off = vpc_cni_addon_args(_with(prod_intent, "hardening.networkPolicyEnforcement", False))
    assert json.loads(off["configuration_values"]) == {"enableNetworkPolicy": "false"}


# --------------------------------------------------------------------------- aws-auth and kubeconfig


def test_no_aws_auth_in_api_mode(prod_intent: Intent) -> None:
    assert not uses_aws_auth(prod_intent)
    assert aws_auth_config_map(prod_intent, "arn:aws:iam::1:role/n") is None


def test_stale_aws_auth_maps_the_responder_to_system_masters(stale_intent: Intent) -> None:
    node_role = f"arn:aws:iam::{ACCOUNT_ID}:role/legacy-eu-1-eu-west-1-node"
    manifest = aws_auth_config_map(stale_intent, node_role)
    assert manifest is not None
    assert manifest["metadata"]["name"] == "aws-auth" and manifest["metadata"]["namespace"] == "kube-system"
    assert manifest["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}
    roles = yaml.safe_load(manifest["data"]["mapRoles"])
    assert roles[0] == {
        "rolearn": node_role,
        "username": "system:node:{{EC2PrivateDNSName}}",
        "groups": ["system:bootstrappers", "system:nodes"],
    }
    assert roles[1] == {"rolearn": RESPONDER, "username": "incident-responder", "groups": ["system:masters"]}
    assert manifest["data"]["mapRoles"] == aws_auth_map_roles(stale_intent, node_role)
    for version in ("1.30", latest_version()):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_kubeconfig_uses_get_token_and_holds_no_credential() -> None:
    config = kubeconfig("prod-eu-1", "https://x.eks.amazonaws.com", "Q0E=", "eu-west-1")
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "prod-eu-1",
        "--region",
        "eu-west-1",
        "--output",
        "json",
    ]
    assert "token" not in user["user"]
    assert config["clusters"][0]["cluster"] == {
        "server": "https://x.eks.amazonaws.com",
        "certificate-authority-data": "Q0E=",
    }


# --------------------------------------------------------------------------- the component (mocks)


def _build(intent: Intent, name: str = "prod", **kwargs: Any) -> None:
    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        cluster = EksCluster(name, intent, **kwargs)
        return pulumi.Output.all(cluster.cluster_name, cluster.kubeconfig)

    run()


def _ancestors(mocks: RecordingMocks, reg: Registration) -> list[str]:
    parents = {r.urn: r.parent for r in mocks.registrations}
    chain, urn = [], reg.parent
    while urn in parents:
        chain.append(urn)
        urn = parents[urn]
    return chain


def test_component_children_names_and_parents(pulumi_mocks: RecordingMocks, prod_intent: Intent) -> None:
    _build(prod_intent)
    component = pulumi_mocks.one(TYPE_TOKEN, "prod")
    counts: dict[str, int] = {}
    for reg in pulumi_mocks.registrations:
        counts[reg.type] = counts.get(reg.type, 0) + 1
        if reg is component:
            continue
        assert reg.name.startswith("prod-"), reg.name
        assert component.urn in _ancestors(pulumi_mocks, reg), reg.name
    assert pulumi_mocks.duplicate_urns() == []
    assert counts["aws:eks/cluster:Cluster"] == 1
    assert counts["aws:kms/key:Key"] == 1
    assert counts["aws:cloudwatch/logGroup:LogGroup"] == 1
    assert counts["aws:iam/openIdConnectProvider:OpenIdConnectProvider"] == 1
    assert counts["aws:eks/accessEntry:AccessEntry"] == 3
    assert counts["aws:eks/accessPolicyAssociation:AccessPolicyAssociation"] == 3
    assert counts["aws:eks/nodeGroup:NodeGroup"] == 1
    assert counts["aws:ec2/launchTemplate:LaunchTemplate"] == 1
    assert counts["aws:eks/addon:Addon"] == 2
    assert counts["aws:eks/podIdentityAssociation:PodIdentityAssociation"] == 1
    assert counts["aws:iam/role:Role"] == 4  # cluster, nodes, one IRSA and one Pod Identity workload
    assert counts["pulumi:providers:kubernetes"] == 1
    assert counts["fleet-baseline:kubernetes:InClusterBaseline"] == 1
    assert "kubernetes:core/v1:ConfigMapPatch" not in counts  # no aws-auth in API mode


def test_cluster_wire_inputs_are_literals(pulumi_mocks: RecordingMocks, prod_intent: Intent) -> None:
    _build(prod_intent)
    inputs = pulumi_mocks.one("aws:eks/cluster:Cluster").inputs
    assert inputs["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in inputs["vpcConfig"]
    assert inputs["encryptionConfig"] == {
        "provider": {"keyArn": KMS_KEY_ARN},  # the created key's ARN, as the mock assigns it
        "resources": ["secrets"],
    }
    assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    assert "audit" in inputs["enabledClusterLogTypes"] and "authenticator" in inputs["enabledClusterLogTypes"]
    assert inputs["tags"][STAMP] == "1.0.0"


def test_log_group_and_role_policy_exist_before_the_cluster(pulumi_mocks: RecordingMocks, prod_intent: Intent) -> None:
    _build(prod_intent)
    cluster = pulumi_mocks.one("aws:eks/cluster:Cluster")
    log_group = pulumi_mocks.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == "/aws/eks/prod-eu-1/cluster"
    assert log_group.inputs["retentionInDays"] == 365
    assert log_group.urn in cluster.dependencies
    policy = pulumi_mocks.one(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "prod-cluster-role-AmazonEKSClusterPolicy"
    )
    assert policy.urn in cluster.dependencies


def test_access_entries_and_associations_replace_delete_first(
    pulumi_mocks: RecordingMocks, prod_intent: Intent
) -> None:
    _build(prod_intent)
    entries = pulumi_mocks.of_type("aws:eks/accessEntry:AccessEntry")
    associations = pulumi_mocks.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert entries and associations
    assert all(r.delete_before_replace for r in entries + associations)
    assert not pulumi_mocks.one("aws:eks/cluster:Cluster").delete_before_replace
    admins = pulumi_mocks.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "prod-access-platform-admins")
    assert admins.inputs["clusterName"] == "prod-eu-1"
    assert admins.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert admins.inputs["accessScope"] == {"type": "cluster"}
    entry = pulumi_mocks.one("aws:eks/accessEntry:AccessEntry", "prod-access-platform-admins")
    assert entry.urn in admins.dependencies


def test_nodes_use_the_hardened_launch_template(pulumi_mocks: RecordingMocks, prod_intent: Intent) -> None:
    _build(prod_intent)
    template = pulumi_mocks.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    }
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
    group = pulumi_mocks.one("aws:eks/nodeGroup:NodeGroup", "prod-nodes-system")
    assert group.inputs["launchTemplate"] == {"id": f"{template.name}-id", "version": "1"}
    cni = pulumi_mocks.one("aws:eks/addon:Addon", "prod-vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert cni.urn in group.dependencies
    node_role = pulumi_mocks.one("aws:iam/role:Role", "prod-node-role")
    assert node_role.inputs["name"] == "prod-eu-1-eu-west-1-node"
    assert group.inputs["nodeRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/prod-eu-1-eu-west-1-node"


def test_workload_identity(pulumi_mocks: RecordingMocks, prod_intent: Intent) -> None:
    _build(prod_intent)
    oidc = pulumi_mocks.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == OIDC_ISSUER
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    irsa = pulumi_mocks.one("aws:iam/role:Role", "prod-wi-shop-orders")
    host = OIDC_ISSUER.removeprefix("https://")
    (statement,) = json.loads(irsa.inputs["assumeRolePolicy"])["Statement"]  # JSON text, as IAM holds it
    assert statement["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:shop:orders",
        f"{host}:aud": "sts.amazonaws.com",
    }
    assert statement["Principal"]["Federated"] == f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
    attachment = pulumi_mocks.one(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "prod-wi-shop-orders-orders-queue"
    )
    assert attachment.inputs["policyArn"] == "arn:aws:iam::111122223333:policy/orders-queue"
    account = pulumi_mocks.one("kubernetes:core/v1:ServiceAccount", "prod-baseline-shop/orders")
    irsa_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/prod-eu-1-eu-west-1-wi-shop-orders"
    assert irsa.inputs["name"] == "prod-eu-1-eu-west-1-wi-shop-orders"
    assert account.inputs["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": irsa_arn}

    ledger = pulumi_mocks.one("aws:iam/role:Role", "prod-wi-payments-ledger")
    assert json.loads(ledger.inputs["assumeRolePolicy"]) == pod_identity_trust_policy(
        ACCOUNT_ID, "prod-eu-1", "payments", "ledger"
    )
    association = pulumi_mocks.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["namespace"] == "payments" and association.inputs["serviceAccount"] == "ledger"
    agent = pulumi_mocks.one("aws:eks/addon:Addon", "prod-pod-identity-agent")
    assert agent.inputs["addonName"] == "eks-pod-identity-agent"
    assert agent.urn in association.dependencies


def test_kubeconfig_is_secret_and_the_baseline_uses_its_provider(
    pulumi_mocks: RecordingMocks, prod_intent: Intent
) -> None:
    _build(prod_intent)
    provider = pulumi_mocks.one("pulumi:providers:kubernetes", "prod-k8s")
    assert "kubeconfig" in provider.secret_inputs
    config = json.loads(provider.inputs["kubeconfig"])
    assert config["users"][0]["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "prod-eu-1"]
    component = pulumi_mocks.one(TYPE_TOKEN, "prod")
    assert "kubeconfig" in pulumi_mocks.secret_outputs[component.urn]
    assert pulumi_mocks.component_outputs[component.urn]["clusterName"] == "prod-eu-1"
    for assoc in pulumi_mocks.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
        assert assoc.urn in provider.dependencies  # Pulumi reaches the cluster through an intent grant
    kube = [r for r in pulumi_mocks.registrations if r.type.startswith("kubernetes:")]
    assert kube and all(r.provider == f"{provider.urn}::prod-k8s-id" for r in kube)


def test_stale_template_is_translated_faithfully(pulumi_mocks: RecordingMocks, stale_intent: Intent) -> None:
    _build(stale_intent, name="stale")
    cluster = pulumi_mocks.one("aws:eks/cluster:Cluster").inputs
    assert cluster["vpcConfig"]["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is False
    assert "encryptionConfig" not in cluster
    assert cluster["accessConfig"] == {
        "authenticationMode": "CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": True,
    }
    assert cluster["tags"][STAMP] == "0.9.0"
    assert not pulumi_mocks.of_type("aws:kms/key:Key")
    assert not pulumi_mocks.of_type("aws:eks/accessEntry:AccessEntry")
    aws_auth = pulumi_mocks.one("kubernetes:core/v1:ConfigMapPatch", "stale-aws-auth")
    roles = yaml.safe_load(aws_auth.inputs["data"]["mapRoles"])
    assert roles[0]["rolearn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/legacy-eu-1-eu-west-1-node"
    assert {"rolearn": RESPONDER, "username": "incident-responder", "groups": ["system:masters"]} in roles
    assert pulumi_mocks.one("aws:eks/nodeGroup:NodeGroup").urn in aws_auth.dependencies
    assert pulumi_mocks.duplicate_urns() == []


def test_explicit_aws_provider_is_used_for_every_aws_resource_and_invoke(
    pulumi_mocks: RecordingMocks, stale_intent: Intent
) -> None:
    from pulumi_aws import Provider

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        aws = Provider("aws-eu", region="eu-west-1")
        return EksCluster("stale", stale_intent, aws_provider=aws).cluster_name

    run()
    aws = pulumi_mocks.one("pulumi:providers:aws", "aws-eu")
    ref = f"{aws.urn}::aws-eu-id"
    aws_resources = [r for r in pulumi_mocks.registrations if r.type.startswith("aws:")]
    assert aws_resources and all(r.provider == ref for r in aws_resources)
    regional = [r for r in aws_resources if not r.type.startswith("aws:iam/")]
    assert all(r.inputs["region"] == "eu-west-1" for r in regional)
    assert [c[2] for c in pulumi_mocks.calls if c[0].endswith("getCallerIdentity")] == [ref]


def test_preview_leaves_aws_assigned_values_unknown(pulumi_preview_mocks: RecordingMocks, stale_intent: Intent) -> None:
    """At preview, what AWS assigns is unknown; the intent's literals are not.

    A callback on an output that is unknown never runs, so an assertion placed inside ``apply``
    would pass without checking anything: assert on the recorded inputs instead.
    """
    seen: list[str] = []

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        cluster = EksCluster("stale", stale_intent)
        cluster.endpoint.apply(seen.append)
        return cluster.cluster_name

    run()
    assert seen == []  # the "assertion inside apply" never ran

    cluster = pulumi_preview_mocks.one("aws:eks/cluster:Cluster").inputs
    assert isinstance(cluster["roleArn"], Unknown)
    assert cluster["accessConfig"] == {
        "authenticationMode": "CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": True,
    }
    assert cluster["vpcConfig"]["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert cluster["tags"][STAMP] == "0.9.0"
    irsa = pulumi_preview_mocks.one("aws:iam/role:Role", "stale-wi-shop-orders")
    assert isinstance(irsa.inputs["assumeRolePolicy"], Unknown)  # needs the issuer AWS assigns
    provider = pulumi_preview_mocks.one("pulumi:providers:kubernetes")
    assert isinstance(provider.inputs["kubeconfig"], Unknown)
    # aws-auth is decidable at preview: the node role ARN comes from an invoke and an explicit name
    aws_auth = pulumi_preview_mocks.one("kubernetes:core/v1:ConfigMapPatch", "stale-aws-auth")
    assert "system:masters" in aws_auth.inputs["data"]["mapRoles"]
    # ... and so is the IRSA annotation, though the role itself does not exist yet
    account = pulumi_preview_mocks.one("kubernetes:core/v1:ServiceAccount", "stale-baseline-shop/orders")
    assert account.inputs["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT_ID}:role/legacy-eu-1-eu-west-1-wi-shop-orders"
    }
    template = pulumi_preview_mocks.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"


def test_preview_of_a_created_key_is_unknown(pulumi_preview_mocks: RecordingMocks, prod_intent: Intent) -> None:
    _build(prod_intent)
    encryption = pulumi_preview_mocks.one("aws:eks/cluster:Cluster").inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert isinstance(encryption["provider"]["keyArn"], Unknown)


# --------------------------------------------------------------------------- the deployer (issue 13)

ADMINS = "arn:aws:iam::111122223333:role/platform-admins"


def test_api_and_config_map_does_not_map_the_node_role_eks_already_maps(stale_intent: Intent) -> None:
    node_role = f"arn:aws:iam::{ACCOUNT_ID}:role/legacy-eu-1-eu-west-1-node"
    both = _with(stale_intent, "hardening.authentication.eksMode", "API_AND_CONFIG_MAP")
    roles = yaml.safe_load(aws_auth_map_roles(both, node_role))
    assert [r["rolearn"] for r in roles] == [RESPONDER]  # EKS gave the node role an access entry
    config_map_only = yaml.safe_load(aws_auth_map_roles(stale_intent, node_role))
    assert config_map_only[0]["rolearn"] == node_role  # the patch owns mapRoles: nodes must stay


def test_deployer_cidrs_open_the_private_endpoint_on_443(prod_intent: Intent) -> None:
    assert deployer_ingress_rules(prod_intent) == []
    endpoint = {"private": True, "public": False, "deployerCidrs": ["10.20.0.0/24", "fd00::/64", "10.20.0.0/24"]}
    rules = deployer_ingress_rules(_with(prod_intent, "hardening.endpoint", endpoint))
    assert [(r.get("cidr_ipv4"), r.get("cidr_ipv6")) for r in rules] == [("10.20.0.0/24", None), (None, "fd00::/64")]
    assert {(r["ip_protocol"], r["from_port"], r["to_port"], r["region"]) for r in rules} == {
        ("tcp", 443, 443, "eu-west-1")
    }
    public_only = {"private": False, "public": True, "publicCidrs": ["0.0.0.0/0"], "deployerCidrs": ["10.20.0.0/24"]}
    assert deployer_ingress_rules(_with(prod_intent, "hardening.endpoint", public_only)) == []


def test_a_restricted_public_endpoint_admits_nat_and_routable_deployer_cidrs(prod_intent: Intent) -> None:
    endpoint = {
        "private": False,
        "public": True,
        "publicCidrs": ["203.0.113.0/24"],
        "nodeEgressCidrs": ["198.51.100.7/32"],
        "deployerCidrs": ["192.0.2.0/24", "10.20.0.0/24", "8.8.4.0/24"],
    }
    vpc = cluster_args(_with(prod_intent, "hardening.endpoint", endpoint), ROLE, KEY)["vpc_config"]
    # EKS refuses private ranges in publicAccessCidrs; documentation ranges are not global either
    assert vpc["public_access_cidrs"] == ["203.0.113.0/24", "198.51.100.7/32", "8.8.4.0/24"]


def test_kubeconfig_signs_as_the_providers_role_and_profile() -> None:
    deployer = AwsDeployer(role_arn=ADMINS, profile="prod")
    config = kubeconfig("prod-eu-1", "https://x.eks.amazonaws.com", "Q0E=", "eu-west-1", deployer)
    args = config["users"][0]["user"]["exec"]["args"]
    assert args[-4:] == ["--role-arn", ADMINS, "--profile", "prod"]


@pytest.mark.parametrize(
    ("caller", "admitted"),
    [
        (ADMINS, True),
        ("arn:aws:sts::111122223333:assumed-role/platform-admins/ci-1234", True),  # a session of the role
        ("arn:aws:iam::111122223333:role/team/platform-admins", True),  # a path names the same role
        ("arn:aws:iam::111122223333:role/auditors", False),  # a grant, but not cluster-admin
        ("arn:aws:iam::444455556666:role/platform-admins", False),  # another account
        ("arn:aws:iam::111122223333:user/fleet-baseline-plan", False),
    ],
)
def test_the_deployer_must_be_a_cluster_admin(prod_intent: Intent, caller: str, admitted: bool) -> None:
    problem = deployer_access_problem(prod_intent, caller)
    assert (problem is None) is admitted
    if problem is not None:
        assert "not among the cluster-admins" in problem and "prod-eu-1" in problem


def test_legacy_modes_admit_the_creator_or_system_masters(stale_intent: Intent) -> None:
    assert deployer_access_problem(stale_intent, "arn:aws:iam::111122223333:user/anyone") is None  # creator admin
    no_creator = _with(stale_intent, "hardening.authentication.bootstrapCreatorAdmin", False)
    assert deployer_access_problem(no_creator, RESPONDER) is None  # aws-auth system:masters
    assert deployer_access_problem(no_creator, ADMINS) is not None  # CONFIG_MAP has no access entries


def test_a_deployer_role_without_cluster_admin_is_refused_before_anything_registers(
    pulumi_mocks: RecordingMocks, prod_intent: Intent
) -> None:
    with pytest.raises(ValueError, match="not among the cluster-admins"):
        EksCluster("prod", prod_intent, deployer=AwsDeployer(role_arn="arn:aws:iam::111122223333:role/auditors"))
    assert pulumi_mocks.registrations == []


def test_deployer_network_and_role_in_the_component(pulumi_mocks: RecordingMocks, prod_intent: Intent) -> None:
    intent = _with(prod_intent, "hardening.endpoint", {"private": True, "deployerCidrs": ["10.20.0.0/24"]})
    _build(intent, deployer=AwsDeployer(role_arn=ADMINS))
    rule = pulumi_mocks.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "prod-deployer-0")
    assert rule.inputs["cidrIpv4"] == "10.20.0.0/24" and rule.inputs["fromPort"] == 443
    provider = pulumi_mocks.one("pulumi:providers:kubernetes", "prod-k8s")
    assert rule.urn in provider.dependencies  # no Kubernetes call before the deployer can reach the endpoint
    key = pulumi_mocks.one("aws:kms/key:Key")
    statements = json.loads(key.inputs["policy"])["Statement"]
    assert statements[1]["Principal"]["AWS"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/")
