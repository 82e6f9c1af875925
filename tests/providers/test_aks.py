"""AKS: every translation rule as a pure function (no mocks), then the component's wiring under mocks."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.output import Unknown

from baseline.intent import Intent
from baseline.loader import IntentError
from providers.aks import (
    AKS_AAD_SERVER_ID,
    AKS_RBAC_ROLES,
    CLIENT_ID_ANNOTATION,
    KEY_VAULT_CONTRIBUTOR,
    KEY_VAULT_CRYPTO_USER,
    STAMP_TAG,
    TYPE_TOKEN,
    WORKLOAD_IDENTITY_AUDIENCE,
    AksCluster,
    AzureDeployer,
    access_role_assignments,
    admin_group_object_ids,
    agent_pool_profiles,
    audit_log_categories,
    azure_tag_key,
    check_intent,
    cluster_args,
    control_plane_identity_args,
    credentials_endpoint,
    diagnostic_setting_args,
    federated_credential_args,
    ignored_changes,
    kms_role_assignments,
    kubeconfig,
    resource_tags,
    role_assignment_scope,
    role_definition_id,
    unprovisioned_access,
    workload_identity_args,
    workload_identity_name,
    workload_role_assignments,
    workload_subject,
)
from tests.conftest import (
    AKS_ISSUER,
    AKS_SERVER,
    FAKE_CA,
    RecordingMocks,
    Registration,
    fake_uuid,
    load_stack_intent,
)

SUB = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"
TENANT = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
ADMINS = "0b1f6a4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
DEVELOPERS = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
AUDITORS = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"
KEY_ID = "https://kv-prod-eu-1.vault.azure.net/keys/etcd-kek/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-prod-eu-1/providers/Microsoft.KeyVault/vaults/kv-prod-eu-1"
IDENTITY = (
    f"/subscriptions/{SUB}/resourceGroups/rg-prod-eu-1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x"
)
ROLE_DEFS = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CLUSTER = "azure-native:containerservice:ManagedCluster"
UAI = "azure-native:managedidentity:UserAssignedIdentity"
FIC = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"


@pytest.fixture(scope="module")
def aks_prod() -> Intent:
    """The compliant sample (``stacks/Pulumi.aks-prod.yaml``): the shared prod intent on AKS."""
    return load_stack_intent("aks-prod")


@pytest.fixture(scope="module")
def aks_stale() -> Intent:
    """The AKS cluster born from a stale template (``stacks/Pulumi.aks-stale.yaml``)."""
    return load_stack_intent("aks-stale")


def _with(intent: Intent, path: str, value: Any) -> Intent:
    """``intent`` with the camelCase field at dotted ``path`` set to ``value``, re-validated."""
    data = intent.model_dump(by_alias=True)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return Intent.model_validate(data)


def _problems(intent: Intent) -> dict[str, str]:
    with pytest.raises(IntentError) as err:
        check_intent(intent)
    return {p.path: p.message for p in err.value.problems}


# --------------------------------------------------------------------------- cluster arguments


def test_cluster_args_of_a_compliant_intent(aks_prod: Intent) -> None:
    args = cluster_args(aks_prod, IDENTITY)
    assert args["resource_group_name"] == "rg-prod-eu-1"
    assert args["resource_name_"] == "prod-eu-1"
    assert args["location"] == "westeurope"
    assert args["dns_prefix"] == "prod-eu-1"
    assert args["kubernetes_version"] == "1.33"
    assert args["identity"] == {"type": "UserAssigned", "user_assigned_identities": [IDENTITY]}
    assert args["enable_rbac"] is True
    assert args["aad_profile"] == {
        "managed": True,
        "enable_azure_rbac": True,
        "tenant_id": TENANT,
        "admin_group_object_ids": [ADMINS],
    }
    assert args["disable_local_accounts"] is True
    assert args["oidc_issuer_profile"] == {"enabled": True}
    assert args["security_profile"] == {
        "workload_identity": {"enabled": True},
        "azure_key_vault_kms": {
            "enabled": True,
            "key_id": KEY_ID,
            "key_vault_network_access": "Private",
            "key_vault_resource_id": VAULT,
        },
    }
    assert args["api_server_access_profile"] == {
        "enable_private_cluster": True,
        "disable_run_command": True,
        "enable_vnet_integration": True,  # a private key vault is reached through it
    }  # no authorized ranges on a private cluster
    assert args["network_profile"] == {
        "network_plugin": "azure",
        "network_plugin_mode": "overlay",
        "network_dataplane": "cilium",
        "network_policy": "cilium",
    }
    assert args["auto_upgrade_profile"] == {"upgrade_channel": "stable", "node_os_upgrade_channel": "NodeImage"}
    assert args["tags"][STAMP_TAG] == "1.0.0"
    assert STAMP_TAG == "fleet-baseline.io_baseline-version"


def test_agent_pools_are_hardened_and_the_first_is_the_system_pool(aks_prod: Intent) -> None:
    two = _with(
        aks_prod,
        "cluster.nodePools",
        [
            {"name": "system", "instanceType": "Standard_D4ds_v5"},
            {"name": "apps", "minSize": 1, "maxSize": 3, "desiredSize": 1},
        ],
    )
    system, apps = agent_pool_profiles(two)
    assert (system["name"], system["mode"], system["vm_size"]) == ("system", "System", "Standard_D4ds_v5")
    assert (apps["name"], apps["mode"]) == ("apps", "User")
    assert "vm_size" not in apps  # AKS's default size when the intent names none
    assert (apps["min_count"], apps["count"], apps["max_count"], apps["enable_auto_scaling"]) == (1, 1, 3, True)
    for pool in (system, apps):
        assert pool["security_profile"] == {"ssh_access": "Disabled", "enable_secure_boot": True, "enable_vtpm": True}
        assert pool["enable_encryption_at_host"] is True
        assert pool["enable_node_public_ip"] is False
        assert pool["os_type"] == "Linux"


def test_trusted_launch_follows_shielded_nodes_and_ssh_stays_off(aks_prod: Intent) -> None:
    (pool,) = agent_pool_profiles(_with(aks_prod, "hardening.shieldedNodes", False))
    assert pool["security_profile"] == {"ssh_access": "Disabled", "enable_secure_boot": False, "enable_vtpm": False}


def test_cluster_args_of_a_stale_template_are_faithful(aks_stale: Intent) -> None:
    args = cluster_args(aks_stale, IDENTITY)
    assert args["resource_name_"] == "legacy-weu-1"
    assert args["disable_local_accounts"] is False
    assert args["aad_profile"]["enable_azure_rbac"] is False
    assert args["aad_profile"]["managed"] is True  # the intent has no knob for a cluster without Entra ID
    assert args["api_server_access_profile"] == {
        "enable_private_cluster": False,
        "disable_run_command": True,
        "authorized_ip_ranges": ["0.0.0.0/0"],
    }
    assert args["network_profile"]["network_policy"] == "none"
    assert args["network_profile"]["network_dataplane"] == "azure"
    assert args["security_profile"]["azure_key_vault_kms"] == {"enabled": False}  # stated, not left to a default
    assert args["security_profile"]["workload_identity"] == {"enabled": False}  # hardening.workloadIdentity
    assert args["oidc_issuer_profile"] == {"enabled": False}
    assert args["tags"][STAMP_TAG] == "0.9.0"


def test_public_endpoint_without_cidrs_leaves_authorized_ranges_empty(aks_stale: Intent) -> None:
    intent = _with(aks_stale, "hardening.endpoint", {"private": False, "public": True})
    profile = cluster_args(intent, IDENTITY)["api_server_access_profile"]
    assert "authorized_ip_ranges" not in profile  # AKS's "open to all": CL-03 fails it
    assert profile["enable_private_cluster"] is False


@pytest.mark.parametrize(
    ("channel", "managed", "expected"),
    [("rapid", True, "rapid"), ("regular", True, "stable"), ("stable", True, "stable"), ("stable", False, "none")],
)
def test_upgrade_channel(aks_prod: Intent, channel: str, managed: bool, expected: str) -> None:
    intent = _with(aks_prod, "hardening.upgrades", {"channel": channel, "managed": managed, "nodeOsChannel": "None"})
    assert cluster_args(intent, IDENTITY)["auto_upgrade_profile"] == {
        "upgrade_channel": expected,
        "node_os_upgrade_channel": "None",
    }


def test_network_policy_off_is_translated_faithfully(aks_prod: Intent) -> None:
    profile = cluster_args(_with(aks_prod, "hardening.networkPolicyEnforcement", False), IDENTITY)["network_profile"]
    assert (profile["network_dataplane"], profile["network_policy"]) == ("azure", "none")


def test_workload_identity_off_is_translated_faithfully(aks_prod: Intent) -> None:
    intent = _with(_with(aks_prod, "workloadIdentities", []), "hardening.workloadIdentity", False)
    args = cluster_args(intent, IDENTITY)
    assert args["oidc_issuer_profile"] == {"enabled": False}
    assert args["security_profile"]["workload_identity"] == {"enabled": False}


def test_dns_prefix_from_the_intent(aks_prod: Intent) -> None:
    assert cluster_args(_with(aks_prod, "cluster.aks.dnsPrefix", "prod-weu"), IDENTITY)["dns_prefix"] == "prod-weu"


def test_admin_groups_are_group_cluster_admins_only(aks_prod: Intent) -> None:
    user_admin = _with(aks_prod, "access.0.azure", {"objectId": ADMINS, "principalType": "User"})
    assert admin_group_object_ids(aks_prod) == [ADMINS]
    assert admin_group_object_ids(user_admin) == []  # AKS matches group membership; the user gets a role assignment
    assert next(a.principal_type for a in access_role_assignments(user_admin)) == "User"


# --------------------------------------------------------------------------- bad input, refused before anything


def test_secrets_encryption_needs_an_existing_key_and_vault(aks_prod: Intent) -> None:
    intent = _with(aks_prod, "hardening.secretsEncryption", {"enabled": True})
    problems = _problems(intent)
    assert set(problems) == {"hardening.secretsEncryption.kmsKey", "hardening.secretsEncryption.keyVaultResourceId"}
    assert "AKS cannot create the key" in problems["hardening.secretsEncryption.kmsKey"]
    with pytest.raises(ValueError, match=r"hardening\.secretsEncryption\.kmsKey"):
        cluster_args(intent, IDENTITY)  # the pure builder refuses too: a ValueError naming the field


def test_key_ids_are_checked(aks_prod: Intent) -> None:
    intent = _with(
        aks_prod,
        "hardening.secretsEncryption",
        {"enabled": True, "kmsKey": "https://kv.vault.azure.net/keys/etcd-kek", "keyVaultResourceId": "kv-prod"},
    )
    problems = _problems(intent)
    assert "versioned" in problems["hardening.secretsEncryption.kmsKey"]
    assert "key vault resource id" in problems["hardening.secretsEncryption.keyVaultResourceId"]


def test_encryption_off_needs_no_key(aks_stale: Intent) -> None:
    check_intent(aks_stale)
    assert kms_role_assignments(aks_stale) == []


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ({"private": True, "public": True, "publicCidrs": ["203.0.113.0/24"]}, "no private endpoint beside"),
        ({"private": False, "public": False}, "unreachable"),
    ],
)
def test_endpoints_aks_cannot_express(aks_prod: Intent, endpoint: dict[str, Any], fragment: str) -> None:
    assert fragment in _problems(_with(aks_prod, "hardening.endpoint", endpoint))["hardening.endpoint"]


def test_audit_logging_needs_a_workspace(aks_prod: Intent) -> None:
    intent = _with(aks_prod, "cluster.aks.logAnalyticsWorkspaceId", None)
    assert "cluster.aks.logAnalyticsWorkspaceId" in _problems(intent)
    check_intent(_with(intent, "hardening.auditLogging", {"enabled": False}))  # no logs, no workspace needed


def test_node_pools_aks_refuses(aks_prod: Intent) -> None:
    intent = _with(aks_prod, "cluster.nodePools", [{"name": "system-pool", "instanceType": "m6i.large"}])
    problems = _problems(intent)
    assert "1-12 lower-case letters" in problems["cluster.nodePools[0].name"]
    assert "not an Azure VM size" in problems["cluster.nodePools[0].instanceType"]


def test_the_shared_intent_alone_is_refused_with_every_problem_at_once() -> None:
    """The EKS sample's intent moved to AKS as it is: every AKS-only gap named, nothing registered."""
    eks = load_stack_intent("eks-prod").model_dump(by_alias=True)
    eks["cluster"] = {**eks["cluster"], "cloud": "aks", "eks": None}
    eks["cluster"]["aks"] = {
        "resourceGroupName": "rg",
        "location": "westeurope",
        "subscriptionId": SUB,
        "tenantId": "t",
    }
    problems = _problems(Intent.model_validate(eks))
    assert {
        "cluster.aks.tenantId",
        "hardening.secretsEncryption.kmsKey",
        "hardening.secretsEncryption.keyVaultResourceId",
        "cluster.aks.logAnalyticsWorkspaceId",
        "cluster.nodePools[0].instanceType",
    } <= set(problems)


def test_not_an_aks_cluster() -> None:
    with pytest.raises(ValueError, match="not an AKS cluster"):
        check_intent(load_stack_intent("eks-prod"))


# --------------------------------------------------------------------------- tags


def test_tag_names_are_made_azure_safe(aks_prod: Intent) -> None:
    assert azure_tag_key("fleet-baseline.io/owner") == "fleet-baseline.io_owner"
    assert azure_tag_key("cost-center") == "cost-center"
    with pytest.raises(ValueError, match="cannot contain"):
        azure_tag_key("a?b")
    tagged = _with(aks_prod, "cluster.tags", {"cost-center": "42", STAMP_TAG: "9.9.9", "team/name": "x"})
    tags = resource_tags(tagged)
    assert tags[STAMP_TAG] == "1.0.0"  # the intent cannot override the stamp
    assert tags["team_name"] == "x"
    assert all("/" not in k for k in tags)
    assert "cluster.tags.a%b" in _problems(_with(aks_prod, "cluster.tags", {"a%b": "x"}))


# --------------------------------------------------------------------------- audit logs


def test_diagnostic_setting_sends_the_intent_log_types(aks_prod: Intent) -> None:
    args = diagnostic_setting_args(aks_prod, "CLUSTER-ID")
    assert args is not None
    assert args["resource_uri"] == "CLUSTER-ID"
    assert args["workspace_id"].endswith("/Microsoft.OperationalInsights/workspaces/law-prod-eu")
    assert args["log_analytics_destination_type"] == "Dedicated"
    assert args["logs"] == [
        {"category": "kube-apiserver", "enabled": True},
        {"category": "kube-audit-admin", "enabled": True},
        {"category": "guard", "enabled": True},
        {"category": "kube-controller-manager", "enabled": True},
        {"category": "kube-scheduler", "enabled": True},
    ]
    only_audit = _with(aks_prod, "hardening.auditLogging.logTypes", ["audit"])
    assert audit_log_categories(only_audit) == ["kube-audit-admin"]
    assert diagnostic_setting_args(_with(aks_prod, "hardening.auditLogging.enabled", False), "CLUSTER-ID") is None


# --------------------------------------------------------------------------- access


def test_role_definition_ids_are_full_ids_in_the_intent_subscription(aks_prod: Intent) -> None:
    guid = AKS_RBAC_ROLES["view"]
    assert role_definition_id(aks_prod, guid) == f"{ROLE_DEFS}/{guid}"
    full = f"/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    assert role_definition_id(aks_prod, full) == full
    assert role_assignment_scope("/x/managedClusters/c") == "/x/managedClusters/c"
    assert role_assignment_scope("/x/managedClusters/c", "shop") == "/x/managedClusters/c/namespaces/shop"


def test_access_role_assignments_per_grant_and_namespace(aks_prod: Intent) -> None:
    specs = {s.name: s for s in access_role_assignments(aks_prod)}
    assert set(specs) == {"access-platform-admins", "access-shop-developers-shop", "access-auditors"}
    admins = specs["access-platform-admins"]
    assert admins.role_definition_id == f"{ROLE_DEFS}/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
    assert (admins.principal_id, admins.principal_type, admins.namespace, admins.scope) == (ADMINS, "Group", None, None)
    developers = specs["access-shop-developers-shop"]
    assert developers.role_definition_id == f"{ROLE_DEFS}/a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb"  # Writer
    assert developers.namespace == "shop"
    assert specs["access-auditors"].role_definition_id == f"{ROLE_DEFS}/7f6c6a51-bcf8-42ba-9220-52d62157d7db"
    assert "scope" not in admins.args()  # the cluster's ARM id, added by the component
    assert unprovisioned_access(aks_prod) == []


def test_a_grant_in_two_namespaces_is_two_assignments(aks_prod: Intent) -> None:
    intent = _with(aks_prod, "access.1.scope", {"namespaces": ["shop", "payments"]})
    names = [(s.name, s.namespace) for s in access_role_assignments(intent)]
    assert ("access-shop-developers-shop", "shop") in names
    assert ("access-shop-developers-payments", "payments") in names


def test_without_azure_rbac_no_role_assignment_is_made_and_the_rest_is_reported(aks_stale: Intent) -> None:
    assert access_role_assignments(aks_stale) == []
    # the Group cluster-admins still get in through adminGroupObjectIDs
    assert unprovisioned_access(aks_stale) == ["shop-developers", "auditors"]


def test_kms_needs_crypto_user_and_contributor_on_the_vault(aks_prod: Intent) -> None:
    crypto, contributor = kms_role_assignments(aks_prod)
    assert crypto.role_definition_id == f"{ROLE_DEFS}/{KEY_VAULT_CRYPTO_USER}"
    assert contributor.role_definition_id == f"{ROLE_DEFS}/{KEY_VAULT_CONTRIBUTOR}"
    assert crypto.scope == contributor.scope == VAULT
    assert crypto.principal_type == "ServicePrincipal"
    assert control_plane_identity_args(aks_prod)["resource_name_"] == "prod-eu-1-control-plane"


# --------------------------------------------------------------------------- workload identity


def test_federated_credential_trusts_exactly_one_service_account(aks_prod: Intent) -> None:
    wi = aks_prod.workload_identities[0]
    assert workload_subject(wi) == "system:serviceaccount:shop:orders"
    args = federated_credential_args(aks_prod, wi, AKS_ISSUER)
    assert args == {
        "resource_group_name": "rg-prod-eu-1",
        "resource_name_": "prod-eu-1-shop-orders",  # the identity's name, not the credential's
        "federated_identity_credential_resource_name": "shop-orders",
        "issuer": AKS_ISSUER,
        "subject": "system:serviceaccount:shop:orders",
        "audiences": [WORKLOAD_IDENTITY_AUDIENCE],
    }
    assert workload_identity_name(aks_prod, wi) == workload_identity_args(aks_prod, wi)["resource_name_"]
    assert workload_identity_args(aks_prod, wi)["location"] == "westeurope"


def test_workload_grants_need_an_explicit_scope(aks_prod: Intent) -> None:
    intent = _with(aks_prod, "workloadIdentities.0.azure", {"roleDefinitionIds": [AKS_RBAC_ROLES["view"]]})
    assert "workloadIdentities[0].azure.scope" in _problems(intent)


def test_workload_grants_at_their_scope(aks_prod: Intent) -> None:
    queue = f"/subscriptions/{SUB}/resourceGroups/rg-shop/providers/Microsoft.ServiceBus/namespaces/sb-shop"
    sender = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    intent = _with(
        aks_prod,
        "workloadIdentities.0.azure",
        {"roleDefinitionIds": [sender, f"{ROLE_DEFS}/{sender.upper()}", "bad"], "scope": queue},
    )
    assert "workloadIdentities[0].azure.roleDefinitionIds[2]" in _problems(intent)
    intent = _with(intent, "workloadIdentities.0.azure.roleDefinitionIds", [sender, f"{ROLE_DEFS}/{sender.upper()}"])
    (spec,) = workload_role_assignments(intent, intent.workload_identities[0])  # the same role once
    assert (spec.name, spec.role_definition_id, spec.scope) == (
        f"wi-shop-orders-{sender}",
        f"{ROLE_DEFS}/{sender}",
        queue,
    )
    assert spec.principal_type == "ServicePrincipal"
    assert workload_role_assignments(intent, intent.workload_identities[1]) == []


def test_one_client_id_per_service_account(aks_prod: Intent) -> None:
    data = aks_prod.model_dump(by_alias=True)
    data["workloadIdentities"][1].update(namespace="shop", serviceAccount="orders")
    problems = _problems(Intent.model_validate(data))
    assert "already the account of workloadIdentities[0]" in problems["workloadIdentities[1].serviceAccount"]


# --------------------------------------------------------------------------- kubeconfig


def _aks_kubeconfig_b64(server: str = AKS_SERVER) -> str:
    config = {"clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": "Q0E="}}]}
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


def test_credentials_give_the_server_and_ca() -> None:
    assert credentials_endpoint(_aks_kubeconfig_b64()) == (AKS_SERVER, "Q0E=")
    with pytest.raises(ValueError, match="not a kubeconfig"):
        credentials_endpoint(base64.b64encode(b"users: []").decode())


def test_kubeconfig_uses_kubelogin_and_holds_no_credential() -> None:
    config = kubeconfig("prod-eu-1", AKS_SERVER, "Q0E=", TENANT)
    (user,) = config["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"] == [
        "get-token",
        "--login",
        "azurecli",
        "--server-id",
        AKS_AAD_SERVER_ID,
        "--tenant-id",
        TENANT,
    ]
    assert set(user["user"]) == {"exec"}  # no token, no client certificate
    assert config["clusters"][0]["cluster"] == {"server": AKS_SERVER, "certificate-authority-data": "Q0E="}


# --------------------------------------------------------------------------- the component (mocks)


@pytest.fixture
def azure_mocks(pulumi_mocks: RecordingMocks) -> Iterator[RecordingMocks]:
    yield pulumi_mocks  # the recording mocks answer Azure resources as Azure does (tests/conftest.py)


@pytest.fixture
def azure_preview_mocks(pulumi_preview_mocks: RecordingMocks) -> Iterator[RecordingMocks]:
    yield pulumi_preview_mocks


def _build(intent: Intent, name: str = "prod", **kwargs: Any) -> None:
    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        cluster = AksCluster(name, intent, **kwargs)
        return pulumi.Output.all(cluster.cluster_name, cluster.kubeconfig, cluster.endpoint, cluster.oidc_issuer)

    run()


def _ancestors(mocks: RecordingMocks, reg: Registration) -> list[str]:
    parents = {r.urn: r.parent for r in mocks.registrations}
    chain, urn = [], reg.parent
    while urn in parents:
        chain.append(urn)
        urn = parents[urn]
    return chain


def test_component_children_names_and_parents(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    component = azure_mocks.one(TYPE_TOKEN, "prod")
    counts: dict[str, int] = {}
    for reg in azure_mocks.registrations:
        counts[reg.type] = counts.get(reg.type, 0) + 1
        if reg is component:
            continue
        assert reg.name.startswith("prod-"), reg.name
        assert component.urn in _ancestors(azure_mocks, reg), reg.name
    assert azure_mocks.duplicate_urns() == []
    assert counts[CLUSTER] == 1
    assert counts[UAI] == 3  # control plane + two workloads
    assert counts[FIC] == 2
    assert counts[ROLE_ASSIGNMENT] == 5  # two on the key vault, three access grants
    assert counts[DIAGNOSTICS] == 1
    assert counts["pulumi:providers:kubernetes"] == 1
    assert counts["fleet-baseline:kubernetes:InClusterBaseline"] == 1
    assert not any(t.startswith("aws:") for t in counts)
    outputs = azure_mocks.component_outputs[component.urn]
    assert outputs["clusterName"] == "prod-eu-1"
    assert outputs["endpoint"] == AKS_SERVER
    assert outputs["oidcIssuer"] == AKS_ISSUER


def test_cluster_wire_inputs_are_literal_camel_case(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    inputs = azure_mocks.one(CLUSTER, "prod-cluster").inputs
    assert inputs["resourceName"] == "prod-eu-1"
    assert inputs["enableRBAC"] is True
    assert inputs["disableLocalAccounts"] is True
    assert inputs["aadProfile"] == {
        "managed": True,
        "enableAzureRBAC": True,
        "tenantID": TENANT,
        "adminGroupObjectIDs": [ADMINS],
    }
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"] == {
        "workloadIdentity": {"enabled": True},
        "azureKeyVaultKms": {
            "enabled": True,
            "keyId": KEY_ID,
            "keyVaultNetworkAccess": "Private",
            "keyVaultResourceId": VAULT,
        },
    }
    assert inputs["apiServerAccessProfile"] == {
        "enablePrivateCluster": True,
        "disableRunCommand": True,
        "enableVnetIntegration": True,
    }
    assert inputs["networkProfile"] == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
    }
    assert inputs["autoUpgradeProfile"] == {"upgradeChannel": "stable", "nodeOSUpgradeChannel": "NodeImage"}
    (pool,) = inputs["agentPoolProfiles"]
    assert pool["securityProfile"] == {"sshAccess": "Disabled", "enableSecureBoot": True, "enableVTPM": True}
    assert pool["enableEncryptionAtHost"] is True
    assert pool["enableNodePublicIP"] is False
    assert pool["vmSize"] == "Standard_D4ds_v5"
    assert inputs["tags"][STAMP_TAG] == "1.0.0"
    identity = azure_mocks.one(UAI, "prod-control-plane")
    assert inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [f"{identity.name}-id"]}


def test_kms_roles_are_held_before_the_cluster_exists(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    cluster = azure_mocks.one(CLUSTER)
    for role, suffix in ((KEY_VAULT_CRYPTO_USER, "kms-crypto-user"), (KEY_VAULT_CONTRIBUTOR, "kms-contributor")):
        grant = azure_mocks.one(ROLE_ASSIGNMENT, f"prod-{suffix}")
        assert grant.inputs["roleDefinitionId"] == f"{ROLE_DEFS}/{role}"
        assert grant.inputs["scope"] == VAULT
        assert grant.inputs["principalType"] == "ServicePrincipal"
        assert grant.inputs["principalId"] == fake_uuid("principal-prod-control-plane")
        assert grant.urn in cluster.dependencies


def test_access_role_assignment_scopes(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    cluster_id = "prod-cluster-id"  # the mocks' id for the cluster
    admins = azure_mocks.one(ROLE_ASSIGNMENT, "prod-access-platform-admins").inputs
    assert admins == {
        "principalId": ADMINS,
        "principalType": "Group",
        "roleDefinitionId": f"{ROLE_DEFS}/{AKS_RBAC_ROLES['cluster-admin']}",
        "scope": cluster_id,
    }
    developers = azure_mocks.one(ROLE_ASSIGNMENT, "prod-access-shop-developers-shop").inputs
    assert developers["scope"] == f"{cluster_id}/namespaces/shop"
    assert developers["principalId"] == DEVELOPERS
    assert azure_mocks.one(ROLE_ASSIGNMENT, "prod-access-auditors").inputs["principalId"] == AUDITORS


def test_audit_logs_go_to_the_workspace(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    setting = azure_mocks.one(DIAGNOSTICS, "prod-audit-logs")
    assert setting.inputs["resourceUri"] == "prod-cluster-id"
    assert setting.inputs["name"] == "fleet-baseline-audit"
    assert {"category": "kube-audit-admin", "enabled": True} in setting.inputs["logs"]
    assert {"category": "guard", "enabled": True} in setting.inputs["logs"]
    assert azure_mocks.one(CLUSTER).urn in setting.dependencies


def test_workload_identities_and_chained_federated_credentials(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    # independent now: their registration order is not fixed, so look them up by name
    orders, ledger = azure_mocks.one(FIC, "prod-wi-shop-orders"), azure_mocks.one(FIC, "prod-wi-payments-ledger")
    assert len(azure_mocks.of_type(FIC)) == 2
    assert orders.inputs == {
        "resourceGroupName": "rg-prod-eu-1",
        "resourceName": "prod-eu-1-shop-orders",
        "federatedIdentityCredentialResourceName": "shop-orders",
        "issuer": AKS_ISSUER,
        "subject": "system:serviceaccount:shop:orders",
        "audiences": ["api://AzureADTokenExchange"],
    }
    assert ledger.inputs["subject"] == "system:serviceaccount:payments:ledger"
    # each credential after its identity; credentials of different identities need no order
    assert azure_mocks.one(UAI, "prod-wi-shop-orders").urn in orders.dependencies
    assert azure_mocks.one(UAI, "prod-wi-payments-ledger").urn in ledger.dependencies
    assert orders.urn not in ledger.dependencies  # two identities: written in parallel
    assert azure_mocks.one(CLUSTER).urn in orders.dependencies  # the issuer is the cluster's
    account = azure_mocks.one("kubernetes:core/v1:ServiceAccount", "prod-baseline-shop/orders")
    assert account.inputs["metadata"]["annotations"] == {CLIENT_ID_ANNOTATION: fake_uuid("client-prod-wi-shop-orders")}
    identity = azure_mocks.one(UAI, "prod-wi-payments-ledger").inputs
    assert (identity["resourceName"], identity["location"]) == ("prod-eu-1-payments-ledger", "westeurope")


def test_workload_role_assignments_use_the_identity_principal(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    scope = f"/subscriptions/{SUB}/resourceGroups/rg-shop/providers/Microsoft.ServiceBus/namespaces/sb-shop"
    guid = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    _build(_with(aks_prod, "workloadIdentities.0.azure", {"roleDefinitionIds": [guid], "scope": scope}))
    grant = azure_mocks.one(ROLE_ASSIGNMENT, f"prod-wi-shop-orders-{guid}").inputs
    assert grant == {
        "principalId": fake_uuid("principal-prod-wi-shop-orders"),
        "principalType": "ServicePrincipal",
        "roleDefinitionId": f"{ROLE_DEFS}/{guid}",
        "scope": scope,
    }


def test_credentials_are_serialised_per_identity_only(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    """AKS refuses concurrent credential writes to one identity; different identities need no order."""
    data = aks_prod.model_dump(by_alias=True)
    data["workloadIdentities"].append({**data["workloadIdentities"][0], "name": "shop-cart", "serviceAccount": "cart"})
    _build(Intent.model_validate(data))
    credentials = azure_mocks.of_type(FIC)
    assert len(credentials) == 3
    owners = [c.inputs["resourceName"] for c in credentials]
    assert len(set(owners)) == 3  # one identity per workload
    for a, b in itertools.permutations(credentials, 2):
        assert a.urn not in b.dependencies


def test_a_pinned_version_is_not_downgraded_after_a_channel_upgrade(aks_prod: Intent) -> None:
    assert cluster_args(aks_prod, "id")["kubernetes_version"] == "1.33"  # the version it is created at
    assert ignored_changes(aks_prod) == ["kubernetesVersion"]  # then the channel's to move
    unmanaged = _with(aks_prod, "hardening.upgrades", {"managed": False})
    assert cluster_args(unmanaged, "id")["auto_upgrade_profile"]["upgrade_channel"] == "none"
    assert ignored_changes(unmanaged) == []


def test_the_cluster_ignores_version_changes_under_a_channel(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    cluster = azure_mocks.one(CLUSTER)
    assert cluster.inputs["kubernetesVersion"] == "1.33"
    assert cluster.ignore_changes == ("kubernetesVersion",)


def test_a_private_cluster_in_the_callers_network(aks_prod: Intent) -> None:
    subnet = (
        "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/rg-net/providers/"
        "Microsoft.Network/virtualNetworks/vnet-prod/subnets/{}"
    )
    zone = (
        "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/rg-net/providers/"
        "Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io"
    )
    data = aks_prod.model_dump(by_alias=True)
    data["cluster"]["aks"].update(
        apiServerSubnetId=subnet.format("apiserver"), nodeSubnetId=subnet.format("nodes"), privateDnsZone=zone
    )
    intent = Intent.model_validate(data)
    check_intent(intent)
    args = cluster_args(intent, "id")
    assert args["api_server_access_profile"] == {
        "enable_private_cluster": True,
        "disable_run_command": True,
        "enable_vnet_integration": True,
        "subnet_id": subnet.format("apiserver"),
        "private_dns_zone": zone,
    }
    assert {p["vnet_subnet_id"] for p in args["agent_pool_profiles"]} == {subnet.format("nodes")}


def test_a_public_endpoint_admits_the_deployer(aks_prod: Intent) -> None:
    endpoint = {
        "private": False,
        "public": True,
        "publicCidrs": ["203.0.113.0/24"],
        "deployerCidrs": ["198.51.100.7/32"],
    }
    profile = cluster_args(_with(aks_prod, "hardening.endpoint", endpoint), "id")["api_server_access_profile"]
    assert profile["authorized_ip_ranges"] == ["203.0.113.0/24", "198.51.100.7/32"]


@pytest.mark.parametrize(
    ("deployer", "tail"),
    [
        (AzureDeployer("spn", "cid"), ["--login", "spn"]),
        (AzureDeployer("msi"), ["--login", "msi"]),
        (AzureDeployer("msi", "cid"), ["--login", "msi"]),
        (AzureDeployer("workloadidentity", "cid"), ["--login", "workloadidentity"]),
    ],
)
def test_kubelogin_signs_in_as_the_provider_does(deployer: AzureDeployer, tail: list[str]) -> None:
    args = kubeconfig("prod-eu-1", AKS_SERVER, "Q0E=", TENANT, deployer)["users"][0]["user"]["exec"]["args"]
    assert args[1:3] == tail
    assert (args[-2:] == ["--client-id", "cid"]) is bool(deployer.client_id)
    assert not [a for a in args if "secret" in a.lower()]  # the secret stays in the runner's environment


def test_a_service_principal_login_needs_its_client_id() -> None:
    with pytest.raises(ValueError, match="needs the client id"):
        AzureDeployer("spn")
    with pytest.raises(ValueError, match="expected azurecli"):
        AzureDeployer("devicecode")


def test_kubeconfig_is_secret_and_the_baseline_uses_its_provider(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    _build(aks_prod)
    provider = azure_mocks.one("pulumi:providers:kubernetes", "prod-k8s")
    assert "kubeconfig" in provider.secret_inputs
    config = json.loads(provider.inputs["kubeconfig"])
    assert config["clusters"][0]["cluster"] == {"server": AKS_SERVER, "certificate-authority-data": FAKE_CA}
    assert config["users"][0]["user"]["exec"]["command"] == "kubelogin"
    component = azure_mocks.one(TYPE_TOKEN, "prod")
    assert "kubeconfig" in azure_mocks.secret_outputs[component.urn]
    for name in ("prod-access-platform-admins", "prod-access-auditors", "prod-access-shop-developers-shop"):
        assert azure_mocks.one(ROLE_ASSIGNMENT, name).urn in provider.dependencies  # Pulumi gets in through a grant
    kube = [r for r in azure_mocks.registrations if r.type.startswith("kubernetes:")]
    assert kube and all(r.provider == f"{provider.urn}::prod-k8s-id" for r in kube)
    (call,) = [c for c in azure_mocks.calls if c[0].endswith("listManagedClusterUserCredentials")]
    assert call[1]["resourceGroupName"] == "rg-prod-eu-1" and call[1]["resourceName"] == "prod-eu-1"


def test_stale_template_is_translated_faithfully(azure_mocks: RecordingMocks, aks_stale: Intent) -> None:
    _build(aks_stale, name="stale")
    cluster = azure_mocks.one(CLUSTER).inputs
    assert cluster["disableLocalAccounts"] is False
    assert cluster["aadProfile"]["enableAzureRBAC"] is False
    assert cluster["apiServerAccessProfile"]["authorizedIPRanges"] == ["0.0.0.0/0"]
    assert cluster["apiServerAccessProfile"]["enablePrivateCluster"] is False
    assert cluster["networkProfile"]["networkPolicy"] == "none"
    assert cluster["securityProfile"]["azureKeyVaultKms"] == {"enabled": False}
    assert cluster["tags"][STAMP_TAG] == "0.9.0"
    assert cluster["oidcIssuerProfile"] == {"enabled": False}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": False}
    names = [r.name for r in azure_mocks.of_type(ROLE_ASSIGNMENT)]
    assert names == []  # no Azure RBAC: no AKS RBAC roles; no KMS: no Key Vault roles
    assert not azure_mocks.of_type(FIC) and azure_mocks.of_type(UAI) == [azure_mocks.one(UAI, "stale-control-plane")]
    component = azure_mocks.one(TYPE_TOKEN, "stale")
    assert azure_mocks.component_outputs[component.urn]["oidcIssuer"] == ""  # no issuer, not an unknown one
    assert azure_mocks.duplicate_urns() == []
    for ns in azure_mocks.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"]["fleet-baseline.io/baseline-version"] == "0.9.0"


def test_explicit_azure_provider_is_used_for_every_azure_resource_and_invoke(
    azure_mocks: RecordingMocks, aks_prod: Intent
) -> None:
    from pulumi_azure_native import Provider

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        azure = Provider("azure-weu", location="westeurope")
        return AksCluster("prod", aks_prod, azure_provider=azure).kubeconfig

    run()
    azure = azure_mocks.one("pulumi:providers:azure-native", "azure-weu")
    ref = f"{azure.urn}::azure-weu-id"
    azure_resources = [r for r in azure_mocks.registrations if r.type.startswith("azure-native:")]
    assert azure_resources and all(r.provider == ref for r in azure_resources)
    assert [c[2] for c in azure_mocks.calls if c[0].startswith("azure-native:")] == [ref]


def test_bad_intent_registers_nothing(azure_mocks: RecordingMocks, aks_prod: Intent) -> None:
    intent = _with(aks_prod, "hardening.secretsEncryption", {"enabled": True})
    with pytest.raises(IntentError, match="kmsKey"):
        AksCluster("prod", intent)
    assert azure_mocks.registrations == []


def test_preview_keeps_security_settings_literal(azure_preview_mocks: RecordingMocks, aks_prod: Intent) -> None:
    """At preview, what Azure assigns is unknown; every security setting is a literal.

    A callback on an unknown output never runs, so assert on the recorded inputs, not inside ``apply``.
    """
    _build(aks_prod)
    cluster = azure_preview_mocks.one(CLUSTER).inputs
    assert cluster["aadProfile"]["enableAzureRBAC"] is True
    assert cluster["disableLocalAccounts"] is True
    assert cluster["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert cluster["securityProfile"]["azureKeyVaultKms"]["keyId"] == KEY_ID
    credential = azure_preview_mocks.one(FIC, "prod-wi-shop-orders").inputs
    assert isinstance(credential["issuer"], Unknown)  # AKS assigns it
    assert credential["subject"] == "system:serviceaccount:shop:orders"
    assert credential["audiences"] == ["api://AzureADTokenExchange"]
    admins = azure_preview_mocks.one(ROLE_ASSIGNMENT, "prod-access-platform-admins").inputs
    assert admins["roleDefinitionId"].endswith(AKS_RBAC_ROLES["cluster-admin"])
    assert admins["principalId"] == ADMINS
    crypto = azure_preview_mocks.one(ROLE_ASSIGNMENT, "prod-kms-crypto-user").inputs
    assert isinstance(crypto["principalId"], Unknown)  # the control-plane identity's, which Azure assigns
    assert crypto["scope"] == VAULT
    account = azure_preview_mocks.one("kubernetes:core/v1:ServiceAccount", "prod-baseline-shop/orders")
    assert isinstance(account.inputs["metadata"]["annotations"][CLIENT_ID_ANNOTATION], Unknown)
    assert account.inputs["automountServiceAccountToken"] is False
