"""GKE: every translation rule as a pure function (no mocks), then the component's wiring under mocks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
from kubernetes_validate.utils import latest_version
from pulumi.output import Unknown
from pulumi.runtime.mocks import MockResourceArgs

from baseline.evaluator import Evaluator, Subject, intent_params
from baseline.intent import Intent
from providers.gke import (
    ACCESS_ROLES,
    CLUSTER_VIEWER_ROLE,
    GSA_ANNOTATION,
    STAMP_LABEL,
    TYPE_TOKEN,
    WORKLOAD_IDENTITY_USER,
    GkeCluster,
    access_grants,
    access_role_bindings,
    binary_authorization_policy_args,
    cluster_args,
    deployer_access_problem,
    kubeconfig,
    label_value,
    logging_components,
    node_pool_args,
    node_service_account_args,
    node_service_account_email,
    node_service_account_id,
    oidc_issuer,
    resource_labels,
    service_account_annotations,
    stamp_label_value,
    validate_intent,
    workload_identity_member,
    workload_identity_user_args,
    workload_role_grants,
    workload_service_account_args,
)
from tests.conftest import FAKE_CA, RecordingMocks, Registration, load_stack_intent

KEY = "projects/acme-security/locations/europe-west1/keyRings/gke-prod/cryptoKeys/secrets"
AWS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STAMP = "fleet-baseline.io/baseline-version"
ENDPOINT = "34.1.2.3"
SDK = Path(pulumi.__file__).resolve().parents[1] / "pulumi_gcp"

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
ACCOUNT = "gcp:serviceaccount/account:Account"
ACCOUNT_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"


@pytest.fixture(scope="module")
def gke_prod() -> Intent:
    """The sample compliant GKE cluster (``stacks/Pulumi.gke-prod.yaml``)."""
    return load_stack_intent("gke-prod")


@pytest.fixture(scope="module")
def gke_stale() -> Intent:
    """The GKE cluster born from a stale template (``stacks/Pulumi.gke-stale.yaml``)."""
    return load_stack_intent("gke-stale")


def _with(intent: Intent, path: str, value: Any) -> Intent:
    """``intent`` with the camelCase field at dotted ``path`` set to ``value``, re-validated."""
    data = intent.model_dump(by_alias=True)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[leaf] = value
    return Intent.model_validate(data)


# --------------------------------------------------------------------------- validation


def test_the_samples_are_valid_gke_intents(gke_prod: Intent, gke_stale: Intent) -> None:
    validate_intent(gke_prod)
    validate_intent(gke_stale)  # insecure, but buildable: the controls refuse it, not the component


def test_secrets_encryption_without_a_key_is_refused(gke_prod: Intent) -> None:
    no_key = _with(gke_prod, "hardening.secretsEncryption", {"enabled": True})
    with pytest.raises(ValueError, match=r"hardening\.secretsEncryption\.kmsKey: required on GKE"):
        cluster_args(no_key)  # the arg builder validates too: no path around the check
    aws_key = _with(gke_prod, "hardening.secretsEncryption", {"enabled": True, "kmsKey": AWS_KEY})
    with pytest.raises(ValueError, match=r"kmsKey: 'arn:aws:kms.*' is not a Cloud KMS key name"):
        validate_intent(aws_key)
    validate_intent(_with(gke_prod, "hardening.secretsEncryption", {"enabled": False}))


def test_every_problem_is_named_at_once(gke_prod: Intent) -> None:
    data = gke_prod.model_dump(by_alias=True)
    data["cluster"]["name"] = "a" * 41
    data["cluster"]["nodePools"] = [{"name": "system", "instanceType": "m6i.large"}]
    data["cluster"]["tags"] = {"CostCenter": "42", "team": "Platform"}
    data["cluster"]["gke"]["securityGroupDomain"] = None
    data["hardening"]["secretsEncryption"] = {"enabled": True}
    data["workloadIdentities"][1]["gcp"]["serviceAccountId"] = "shop-orders"
    with pytest.raises(ValueError) as err:
        validate_intent(Intent.model_validate(data))
    message = str(err.value)
    for path in (
        "hardening.secretsEncryption.kmsKey",
        "cluster.name",
        "cluster.nodePools[0].instanceType: 'm6i.large'",
        "cluster.tags.CostCenter",
        "cluster.tags.team",
        "access[1].scope",  # a namespace-scoped group needs Google Groups for RBAC
        "workloadIdentities[1].gcp.serviceAccountId: 'shop-orders'",
    ):
        assert path in message, path


def test_one_kubernetes_service_account_acts_as_one_google_account(gke_prod: Intent) -> None:
    data = gke_prod.model_dump(by_alias=True)
    twin = {**data["workloadIdentities"][0], "name": "shop-orders-2", "gcp": {"serviceAccountId": "shop-orders-2"}}
    data["workloadIdentities"].append(twin)
    with pytest.raises(ValueError, match=r"workloadIdentities\[2\]: shop/orders is already bound to 'shop-orders'"):
        validate_intent(Intent.model_validate(data))


def test_a_namespace_scoped_user_needs_no_security_groups(gke_prod: Intent) -> None:
    data = gke_prod.model_dump(by_alias=True)
    data["cluster"]["gke"]["securityGroupDomain"] = None
    data["access"][1]["gcp"]["member"] = "user:dev@example.com"
    validate_intent(Intent.model_validate(data))


# --------------------------------------------------------------------------- cluster arguments


def test_cluster_args_of_a_compliant_intent(gke_prod: Intent) -> None:
    args = cluster_args(gke_prod)
    assert args["name"] == "prod-eu-1"
    assert (args["project"], args["location"]) == ("acme-prod", "europe-west1")
    assert (args["network"], args["subnetwork"]) == ("prod-vpc", "prod-europe-west1")
    assert args["remove_default_node_pool"] is True and args["initial_node_count"] == 1
    assert args["private_cluster_config"] == {
        "enable_private_nodes": True,
        "enable_private_endpoint": True,
        "master_ipv4_cidr_block": "172.16.0.32/28",
        "master_global_access_config": {"enabled": False},
    }
    assert args["master_authorized_networks_config"] == {"cidr_blocks": [], "gcp_public_cidrs_access_enabled": False}
    assert args["database_encryption"] == {"state": "ENCRYPTED", "key_name": KEY}
    assert args["logging_config"] == {
        "enable_components": ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS"]
    }
    assert args["master_auth"] == {"client_certificate_config": {"issue_client_certificate": False}}
    assert args["enable_legacy_abac"] is False
    assert args["rbac_binding_config"] == {
        "enable_insecure_binding_system_authenticated": False,
        "enable_insecure_binding_system_unauthenticated": False,
    }
    assert args["workload_identity_config"] == {"workload_pool": "acme-prod.svc.id.goog"}
    assert args["datapath_provider"] == "ADVANCED_DATAPATH"
    assert args["release_channel"] == {"channel": "STABLE"}
    assert args["binary_authorization"] == {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert args["enable_shielded_nodes"] is True
    assert args["authenticator_groups_config"] == {"security_group": "gke-security-groups@example.com"}
    assert args["min_master_version"] == "1.33"
    assert args["resource_labels"][STAMP_LABEL] == "1-0-0"


def test_cluster_args_of_a_stale_template_are_faithful(gke_stale: Intent) -> None:
    """The insecure settings reach the resource unchanged: the policy pack, not the component, refuses them."""
    args = cluster_args(gke_stale)
    assert args["name"] == "legacy-gke-1"
    assert args["private_cluster_config"]["enable_private_endpoint"] is False
    assert args["master_authorized_networks_config"] == {
        "cidr_blocks": [{"cidr_block": "0.0.0.0/0", "display_name": "hardening-endpoint-public-cidrs-0"}],
        "gcp_public_cidrs_access_enabled": False,
    }
    assert args["database_encryption"] == {"state": "DECRYPTED"}
    assert args["master_auth"] == {"client_certificate_config": {"issue_client_certificate": True}}
    assert args["enable_legacy_abac"] is True
    assert args["datapath_provider"] == "LEGACY_DATAPATH"
    assert args["resource_labels"][STAMP_LABEL] == "0-9-0"
    assert "subnetwork" not in args
    # no intent knob turns Workload Identity off: the stale cluster still gets its pool
    assert args["workload_identity_config"] == {"workload_pool": ""}  # hardening.workloadIdentity: false


def test_public_endpoint_lists_the_intent_cidrs_or_spells_out_the_internet(gke_prod: Intent) -> None:
    listed = _with(
        gke_prod, "hardening.endpoint", {"public": True, "publicCidrs": ["203.0.113.0/24", "198.51.100.17/32"]}
    )
    args = cluster_args(listed)
    assert args["private_cluster_config"]["enable_private_endpoint"] is False
    assert [b["cidr_block"] for b in args["master_authorized_networks_config"]["cidr_blocks"]] == [
        "203.0.113.0/24",
        "198.51.100.17/32",
    ]
    assert args["master_authorized_networks_config"]["gcp_public_cidrs_access_enabled"] is False
    open_to_all = cluster_args(_with(gke_prod, "hardening.endpoint", {"public": True}))
    assert open_to_all["master_authorized_networks_config"]["cidr_blocks"][0]["cidr_block"] == "0.0.0.0/0"
    # GKE's private endpoint cannot be turned off: private false with public false is still private
    neither = cluster_args(_with(gke_prod, "hardening.endpoint", {"private": False, "public": False}))
    assert neither["private_cluster_config"]["enable_private_endpoint"] is True


def test_logging_components_follow_the_audit_intent(gke_prod: Intent) -> None:
    off = _with(gke_prod, "hardening.auditLogging", {"enabled": False})
    assert logging_components(off) == ["SYSTEM_COMPONENTS", "WORKLOADS"]
    partial = _with(gke_prod, "hardening.auditLogging", {"logTypes": ["authenticator", "scheduler"]})
    assert logging_components(partial) == ["SYSTEM_COMPONENTS", "SCHEDULER", "WORKLOADS"]  # no APISERVER
    audit = _with(gke_prod, "hardening.auditLogging", {"logTypes": ["api", "audit"]})
    assert logging_components(audit) == ["SYSTEM_COMPONENTS", "APISERVER", "WORKLOADS"]


@pytest.mark.parametrize(("channel", "wire"), [("rapid", "RAPID"), ("regular", "REGULAR"), ("stable", "STABLE")])
def test_release_channel_from_the_intent(gke_prod: Intent, channel: str, wire: str) -> None:
    intent = _with(gke_prod, "hardening.upgrades", {"channel": channel})
    assert cluster_args(intent)["release_channel"] == {"channel": wire}


def test_unmanaged_upgrades_are_spelled_out(gke_prod: Intent) -> None:
    intent = _with(gke_prod, "hardening.upgrades", {"managed": False})
    assert cluster_args(intent)["release_channel"] == {"channel": "UNSPECIFIED"}
    (pool,) = intent.cluster.node_pools
    assert node_pool_args(intent, pool)["management"] == {"auto_repair": True, "auto_upgrade": False}


def test_switched_off_hardening_is_spelled_out(gke_prod: Intent) -> None:
    data = gke_prod.model_dump(by_alias=True)
    data["hardening"] |= {"binaryAuthorization": False, "shieldedNodes": False, "networkPolicyEnforcement": False}
    intent = Intent.model_validate(data)
    args = cluster_args(intent)
    assert args["binary_authorization"] == {"evaluation_mode": "DISABLED"}
    assert args["enable_shielded_nodes"] is False
    assert args["datapath_provider"] == "LEGACY_DATAPATH"
    (pool,) = intent.cluster.node_pools
    shielded = node_pool_args(intent, pool)["node_config"]["shielded_instance_config"]
    assert shielded == {"enable_secure_boot": False, "enable_integrity_monitoring": False}


def test_optional_location_fields(gke_prod: Intent) -> None:
    data = gke_prod.model_dump(by_alias=True)
    data["cluster"]["gke"] = {"project": "acme-prod", "location": "europe-west1-b"}
    data["cluster"]["kubernetesVersion"] = None
    data["access"] = [g for g in data["access"] if g["scope"] == "cluster"]
    args = cluster_args(Intent.model_validate(data))
    assert "authenticator_groups_config" not in args and "subnetwork" not in args
    assert "min_master_version" not in args
    assert args["network"] == "default" and args["private_cluster_config"]["master_ipv4_cidr_block"] == "172.16.0.0/28"


def test_labels_carry_the_stamp_and_tags_cannot_override_it(gke_prod: Intent) -> None:
    intent = _with(gke_prod, "cluster.tags", {STAMP_LABEL: "9-9-9", "cost-center": "42"})
    labels = resource_labels(intent)
    assert labels == {
        STAMP_LABEL: "1-0-0",
        "cost-center": "42",
        "fleet-baseline-cluster": "prod-eu-1",
        "fleet-baseline-owner": "platform-team",
    }
    assert stamp_label_value("1.10.0") == "1-10-0"
    assert label_value("Platform Team <ops@example.com>") == "platform-team--ops-example-com-"
    assert len(label_value("x" * 100)) == 63
    assert all(re.fullmatch(r"[a-z0-9_-]{0,63}", v) for v in labels.values())


def test_wire_names_exist_in_the_sdk() -> None:
    """The camelCase names the controls read are the SDK's own (verified in its source, not assumed)."""
    cluster = (SDK / "container" / "cluster.py").read_text()
    inputs = (SDK / "container" / "_inputs.py").read_text()
    node_pool = (SDK / "container" / "node_pool.py").read_text()
    for name in (
        "privateClusterConfig",
        "masterAuthorizedNetworksConfig",
        "databaseEncryption",
        "loggingConfig",
        "masterAuth",
        "enableLegacyAbac",
        "rbacBindingConfig",
        "workloadIdentityConfig",
        "datapathProvider",
        "releaseChannel",
        "binaryAuthorization",
        "enableShieldedNodes",
        "resourceLabels",
        "removeDefaultNodePool",
        "authenticatorGroupsConfig",
    ):
        assert f'@pulumi.getter(name="{name}")' in cluster, name
    for name in (
        "enablePrivateEndpoint",
        "gcpPublicCidrsAccessEnabled",
        "cidrBlock",
        "keyName",
        "enableComponents",
        "issueClientCertificate",
        "enableInsecureBindingSystemAuthenticated",
        "enableInsecureBindingSystemUnauthenticated",
        "workloadPool",
        "evaluationMode",
        "securityGroup",
        "workloadMetadataConfig",
        "shieldedInstanceConfig",
        "enableSecureBoot",
        "enableIntegrityMonitoring",
        "insecureKubeletReadonlyPortEnabled",
    ):
        assert f'@pulumi.getter(name="{name}")' in inputs, name
    assert '@pulumi.getter(name="nodeConfig")' in node_pool
    assert "'gcp:serviceaccount/iAMMember:IAMMember'" in (SDK / "serviceaccount" / "iam_member.py").read_text()
    assert "'gcp:projects/iAMMember:IAMMember'" in (SDK / "projects" / "iam_member.py").read_text()


# --------------------------------------------------------------------------- nodes


def test_node_pool_hides_metadata_and_runs_shielded_as_its_own_account(gke_prod: Intent) -> None:
    (pool,) = gke_prod.cluster.node_pools
    args = node_pool_args(gke_prod, pool)
    assert (args["name"], args["project"], args["location"]) == ("system", "acme-prod", "europe-west1")
    assert args["autoscaling"] == {"total_min_node_count": 2, "total_max_node_count": 6}
    assert args["management"] == {"auto_repair": True, "auto_upgrade": True}
    config = args["node_config"]
    assert config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
    assert config["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    assert config["service_account"] == "prod-eu-1-nodes@acme-prod.iam.gserviceaccount.com"
    assert config["machine_type"] == "e2-standard-4"
    assert config["kubelet_config"] == {"insecure_kubelet_readonly_port_enabled": "FALSE"}
    assert config["resource_labels"][STAMP_LABEL] == "1-0-0"
    relaxed = _with(gke_prod, "hardening.authentication.insecureKubeletReadonlyPort", True)
    assert node_pool_args(relaxed, pool)["node_config"]["kubelet_config"] == {
        "insecure_kubelet_readonly_port_enabled": "TRUE"
    }


def test_node_service_account_id_is_explicit_valid_and_unique(gke_prod: Intent) -> None:
    assert node_service_account_id(gke_prod) == "prod-eu-1-nodes"
    assert node_service_account_email(gke_prod) == "prod-eu-1-nodes@acme-prod.iam.gserviceaccount.com"
    assert node_service_account_args(gke_prod)["account_id"] == "prod-eu-1-nodes"
    long_a = _with(gke_prod, "cluster.name", "platform-" + "a" * 25 + "-one")
    long_b = _with(gke_prod, "cluster.name", "platform-" + "a" * 25 + "-two")
    ids = {node_service_account_id(long_a), node_service_account_id(long_b)}
    assert len(ids) == 2
    assert all(re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", i) for i in ids), ids


# --------------------------------------------------------------------------- human access


def test_access_grants_per_intent_grant(gke_prod: Intent) -> None:
    grants = {g.name: g.member for g in access_grants(gke_prod)}
    assert grants == {
        "platform-admins": {
            "project": "acme-prod",
            "role": "roles/container.admin",
            "member": "group:platform-admins@example.com",
        },
        "shop-developers": {
            "project": "acme-prod",
            "role": CLUSTER_VIEWER_ROLE,  # namespace-scoped: credentials only, RBAC does the rest
            "member": "group:shop-developers@example.com",
        },
        "auditors": {"project": "acme-prod", "role": "roles/container.viewer", "member": "group:auditors@example.com"},
    }


@pytest.mark.parametrize(
    ("role", "iam_role"),
    [
        ("cluster-admin", "roles/container.admin"),
        ("admin", "roles/container.developer"),
        ("edit", "roles/container.developer"),
        ("view", "roles/container.viewer"),
    ],
)
def test_cluster_scoped_roles(gke_prod: Intent, role: str, iam_role: str) -> None:
    assert ACCESS_ROLES[role] == iam_role
    intent = _with(gke_prod, "access.2.role", role)
    assert {g.name: g.member["role"] for g in access_grants(intent)}["auditors"] == iam_role


def _validate(manifest: dict[str, Any]) -> None:
    for version in ("1.30", latest_version()):
        kubernetes_validate.validate(manifest, version, strict=True)


def test_namespace_scoped_grants_are_role_bindings_to_the_google_group(gke_prod: Intent) -> None:
    (binding,) = access_role_bindings(gke_prod)
    assert binding["metadata"] == {
        "name": "fleet-baseline-access-shop-developers",
        "namespace": "shop",
        "labels": {STAMP: "1.0.0"},
    }
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shop-developers@example.com"}
    ]
    _validate(binding)


@pytest.mark.parametrize("role", ["admin", "edit", "view"])
def test_every_namespace_gets_its_binding(gke_prod: Intent, role: str) -> None:
    data = gke_prod.model_dump(by_alias=True)
    data["access"][1] |= {"role": role, "scope": {"namespaces": ["shop", "payments"]}}
    data["access"][1]["gcp"]["member"] = "user:dev@example.com"
    bindings = access_role_bindings(Intent.model_validate(data))
    assert [b["metadata"]["namespace"] for b in bindings] == ["shop", "payments"]
    assert {b["roleRef"]["name"] for b in bindings} == {role}
    assert bindings[0]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dev@example.com"}
    ]
    for binding in bindings:
        _validate(binding)


# --------------------------------------------------------------------------- workload identity


def test_workload_identity_is_scoped_to_one_kubernetes_service_account(gke_prod: Intent) -> None:
    orders = gke_prod.workload_identities[0]
    assert workload_identity_member(gke_prod, orders) == "serviceAccount:acme-prod.svc.id.goog[shop/orders]"
    assert workload_identity_user_args(gke_prod, orders) == {
        "role": WORKLOAD_IDENTITY_USER,
        "member": "serviceAccount:acme-prod.svc.id.goog[shop/orders]",
    }
    assert workload_service_account_args(gke_prod, orders)["account_id"] == "shop-orders"
    assert workload_role_grants(gke_prod, orders) == [
        (
            "pubsub.publisher",
            {
                "project": "acme-prod",
                "role": "roles/pubsub.publisher",
                "member": "serviceAccount:shop-orders@acme-prod.iam.gserviceaccount.com",
            },
        )
    ]
    assert service_account_annotations(gke_prod) == {
        ("shop", "orders"): {GSA_ANNOTATION: "shop-orders@acme-prod.iam.gserviceaccount.com"},
        ("payments", "ledger"): {GSA_ANNOTATION: "payments-ledger@acme-prod.iam.gserviceaccount.com"},
    }


def test_workload_role_grants_are_distinct_and_named_apart(gke_prod: Intent) -> None:
    roles = ["roles/pubsub.publisher", "projects/acme-prod/roles/ordersReader", "roles/pubsub.publisher"]
    intent = _with(gke_prod, "workloadIdentities.0.gcp.roles", roles)
    grants = workload_role_grants(intent, intent.workload_identities[0])
    assert [suffix for suffix, _ in grants] == ["pubsub.publisher", "projects-acme-prod-roles-ordersReader"]


def test_kubeconfig_uses_the_auth_plugin_and_holds_no_credential() -> None:
    config = kubeconfig("gke_p_l_n", ENDPOINT, "Q0E=")
    (user,) = config["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "gke-gcloud-auth-plugin"
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["provideClusterInfo"] is True
    assert set(user["user"]) == {"exec"}  # no token, no client certificate
    assert config["clusters"][0]["cluster"] == {"server": f"https://{ENDPOINT}", "certificate-authority-data": "Q0E="}
    assert kubeconfig("c", "https://x", "Q0E=")["clusters"][0]["cluster"]["server"] == "https://x"


def test_oidc_issuer_is_gkes() -> None:
    assert (
        oidc_issuer("acme-prod", "europe-west1", "prod-eu-1")
        == "https://container.googleapis.com/v1/projects/acme-prod/locations/europe-west1/clusters/prod-eu-1"
    )


# --------------------------------------------------------------------------- the component (mocks)


def _gcp_outputs(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What Google assigns, in wire names: the cluster's endpoint and CA, a service account's name."""
    if typ == CLUSTER:
        return {"endpoint": ENDPOINT, "masterAuth": {**inputs.get("masterAuth", {}), "clusterCaCertificate": FAKE_CA}}
    if typ == ACCOUNT:
        email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
        return {"email": email, "name": f"projects/{inputs['project']}/serviceAccounts/{email}"}
    return {}


def _with_gcp_outputs(mocks: RecordingMocks) -> RecordingMocks:
    """The recording mocks, also returning Google-assigned outputs when not previewing."""
    plain = mocks.new_resource

    def new_resource(args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        rid, outputs = plain(args)
        if not mocks.preview:
            outputs.update(_gcp_outputs(args.typ, outputs))
        return rid, outputs

    mocks.new_resource = new_resource  # type: ignore[method-assign]
    return mocks


@pytest.fixture
def gke_mocks(pulumi_mocks: RecordingMocks) -> Iterator[RecordingMocks]:
    yield _with_gcp_outputs(pulumi_mocks)


def _build(intent: Intent, name: str = "prod", **kwargs: Any) -> None:
    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        cluster = GkeCluster(name, intent, **kwargs)
        return pulumi.Output.all(cluster.cluster_name, cluster.kubeconfig, cluster.oidc_issuer)

    run()


def _ancestors(mocks: RecordingMocks, reg: Registration) -> list[str]:
    parents = {r.urn: r.parent for r in mocks.registrations}
    chain, urn = [], reg.parent
    while urn in parents:
        chain.append(urn)
        urn = parents[urn]
    return chain


def test_component_children_names_and_parents(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    component = gke_mocks.one(TYPE_TOKEN, "prod")
    counts: dict[str, int] = {}
    for reg in gke_mocks.registrations:
        counts[reg.type] = counts.get(reg.type, 0) + 1
        if reg is component:
            continue
        assert reg.name.startswith("prod-"), reg.name
        assert component.urn in _ancestors(gke_mocks, reg), reg.name
    assert gke_mocks.duplicate_urns() == []
    assert counts[CLUSTER] == 1
    assert counts[NODE_POOL] == 1
    assert counts[ACCOUNT] == 3  # the nodes', one per workload
    assert counts[ACCOUNT_MEMBER] == 2  # workloadIdentityUser per workload
    assert counts[PROJECT_MEMBER] == 6  # node role, three access grants, one role per workload
    assert counts[ROLE_BINDING] == 1
    assert counts["pulumi:providers:kubernetes"] == 1
    assert counts["fleet-baseline:kubernetes:InClusterBaseline"] == 1
    assert not [t for t in counts if t.startswith("aws:")]


def test_cluster_wire_inputs_are_literals(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    inputs = gke_mocks.one(CLUSTER, "prod-cluster").inputs
    assert inputs["name"] == "prod-eu-1"
    assert inputs["privateClusterConfig"] == {
        "enablePrivateNodes": True,
        "enablePrivateEndpoint": True,
        "masterIpv4CidrBlock": "172.16.0.32/28",
        "masterGlobalAccessConfig": {"enabled": False},
    }
    assert inputs["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [], "gcpPublicCidrsAccessEnabled": False}
    assert inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": KEY}
    assert "APISERVER" in inputs["loggingConfig"]["enableComponents"]
    assert inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}
    assert inputs["enableLegacyAbac"] is False
    assert inputs["rbacBindingConfig"] == {
        "enableInsecureBindingSystemAuthenticated": False,
        "enableInsecureBindingSystemUnauthenticated": False,
    }
    assert inputs["workloadIdentityConfig"] == {"workloadPool": "acme-prod.svc.id.goog"}
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert inputs["releaseChannel"] == {"channel": "STABLE"}
    assert inputs["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert inputs["enableShieldedNodes"] is True
    assert inputs["authenticatorGroupsConfig"] == {"securityGroup": "gke-security-groups@example.com"}
    assert inputs["resourceLabels"][STAMP_LABEL] == "1-0-0"
    assert inputs["removeDefaultNodePool"] is True


def test_nodes_run_as_their_own_least_privilege_account(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    account = gke_mocks.one(ACCOUNT, "prod-node-sa")
    assert account.inputs["accountId"] == "prod-eu-1-nodes"
    role = gke_mocks.one(PROJECT_MEMBER, "prod-node-sa-container.defaultNodeServiceAccount")
    assert role.inputs == {
        "project": "acme-prod",
        "role": "roles/container.defaultNodeServiceAccount",
        "member": "serviceAccount:prod-eu-1-nodes@acme-prod.iam.gserviceaccount.com",
    }
    pool = gke_mocks.one(NODE_POOL, "prod-nodes-system")
    assert pool.inputs["cluster"] == "prod-eu-1"
    assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert pool.inputs["nodeConfig"]["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableIntegrityMonitoring": True,
    }
    assert pool.inputs["nodeConfig"]["serviceAccount"] == "prod-eu-1-nodes@acme-prod.iam.gserviceaccount.com"
    assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert {account.urn, role.urn} <= set(pool.dependencies)


def test_access(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    admins = gke_mocks.one(PROJECT_MEMBER, "prod-access-platform-admins")
    assert admins.inputs == {
        "project": "acme-prod",
        "role": "roles/container.admin",
        "member": "group:platform-admins@example.com",
    }
    viewer = gke_mocks.one(PROJECT_MEMBER, "prod-access-shop-developers")
    assert viewer.inputs["role"] == CLUSTER_VIEWER_ROLE
    binding = gke_mocks.one(ROLE_BINDING, "prod-access-shop/fleet-baseline-access-shop-developers")
    assert binding.inputs["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shop-developers@example.com"}
    ]
    assert binding.inputs["roleRef"]["name"] == "edit"
    namespace = gke_mocks.one("kubernetes:core/v1:Namespace", "prod-baseline-shop")
    assert namespace.urn in binding.dependencies
    _validate(binding.inputs)  # the wire inputs are the object itself


def test_workload_identity(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    cluster = gke_mocks.one(CLUSTER)
    account = gke_mocks.one(ACCOUNT, "prod-wi-shop-orders")
    assert account.inputs["accountId"] == "shop-orders" and account.inputs["project"] == "acme-prod"
    binding = gke_mocks.one(ACCOUNT_MEMBER, "prod-wi-shop-orders-workload-identity-user")
    assert binding.inputs == {
        "serviceAccountId": "projects/acme-prod/serviceAccounts/shop-orders@acme-prod.iam.gserviceaccount.com",
        "role": "roles/iam.workloadIdentityUser",
        "member": "serviceAccount:acme-prod.svc.id.goog[shop/orders]",
    }
    assert cluster.urn in binding.dependencies  # the pool exists only once a WI cluster does
    grant = gke_mocks.one(PROJECT_MEMBER, "prod-wi-shop-orders-pubsub.publisher")
    assert grant.inputs["member"] == "serviceAccount:shop-orders@acme-prod.iam.gserviceaccount.com"
    assert account.urn in grant.dependencies
    ksa = gke_mocks.one("kubernetes:core/v1:ServiceAccount", "prod-baseline-shop/orders")
    assert ksa.inputs["metadata"]["annotations"] == {GSA_ANNOTATION: "shop-orders@acme-prod.iam.gserviceaccount.com"}


def test_kubeconfig_is_secret_and_the_baseline_uses_its_provider(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    provider = gke_mocks.one("pulumi:providers:kubernetes", "prod-k8s")
    assert "kubeconfig" in provider.secret_inputs
    config = json.loads(provider.inputs["kubeconfig"])
    assert config["clusters"][0]["cluster"] == {"server": f"https://{ENDPOINT}", "certificate-authority-data": FAKE_CA}
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert config["current-context"] == "gke_acme-prod_europe-west1_prod-eu-1"
    assert gke_mocks.one(NODE_POOL).urn in provider.dependencies  # nothing runs before a pool exists
    component = gke_mocks.one(TYPE_TOKEN, "prod")
    outputs = gke_mocks.component_outputs[component.urn]
    assert "kubeconfig" in gke_mocks.secret_outputs[component.urn]
    assert outputs["clusterName"] == "prod-eu-1"
    assert outputs["endpoint"] == f"https://{ENDPOINT}"
    assert outputs["oidcIssuer"] == oidc_issuer("acme-prod", "europe-west1", "prod-eu-1")
    kube = [r for r in gke_mocks.registrations if r.type.startswith("kubernetes:")]
    assert kube and all(r.provider == f"{provider.urn}::prod-k8s-id" for r in kube)


def test_stale_template_is_translated_faithfully(gke_mocks: RecordingMocks, gke_stale: Intent) -> None:
    _build(gke_stale, name="stale")
    inputs = gke_mocks.one(CLUSTER).inputs
    assert inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": True}}
    assert inputs["enableLegacyAbac"] is True
    assert inputs["datapathProvider"] == "LEGACY_DATAPATH"
    assert inputs["databaseEncryption"] == {"state": "DECRYPTED"}
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"][0]["cidrBlock"] == "0.0.0.0/0"
    assert inputs["resourceLabels"][STAMP_LABEL] == "0-9-0"
    assert gke_mocks.duplicate_urns() == []


def test_a_refused_intent_registers_nothing(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    no_key = _with(gke_prod, "hardening.secretsEncryption", {"enabled": True})
    with pytest.raises(ValueError, match="kmsKey"):
        _build(no_key)
    assert gke_mocks.registrations == []


def test_explicit_gcp_provider_is_used_for_every_gcp_resource(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    from pulumi_gcp import Provider

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        gcp = Provider("gcp-eu", project="acme-prod", region="europe-west1")
        return GkeCluster("prod", gke_prod, gcp_provider=gcp).cluster_name

    run()
    gcp = gke_mocks.one("pulumi:providers:gcp", "gcp-eu")
    resources = [r for r in gke_mocks.registrations if r.type.startswith("gcp:")]
    assert resources and all(r.provider == f"{gcp.urn}::gcp-eu-id" for r in resources)


def test_preview_keeps_security_settings_decidable(
    pulumi_preview_mocks: RecordingMocks, gke_stale: Intent, gke_prod: Intent
) -> None:
    """At preview, what Google assigns is unknown; the intent's literals (and the KSA annotation) are not."""
    _build(gke_stale, name="stale")
    cluster = pulumi_preview_mocks.one(CLUSTER).inputs
    assert cluster["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": True}}
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"][0]["cidrBlock"] == "0.0.0.0/0"
    assert pulumi_preview_mocks.of_type(ACCOUNT_MEMBER) == []  # workload identity is off in the stale template
    _build(gke_prod, name="prod")
    binding = pulumi_preview_mocks.one(ACCOUNT_MEMBER, "prod-wi-shop-orders-workload-identity-user")
    assert isinstance(binding.inputs["serviceAccountId"], Unknown)  # the account's name, assigned by Google
    assert binding.inputs["member"] == "serviceAccount:acme-prod.svc.id.goog[shop/orders]"
    provider = pulumi_preview_mocks.one("pulumi:providers:kubernetes", "prod-k8s")
    assert isinstance(provider.inputs["kubeconfig"], Unknown)
    ksa = pulumi_preview_mocks.one("kubernetes:core/v1:ServiceAccount", "prod-baseline-shop/orders")
    assert ksa.inputs["metadata"]["annotations"] == {GSA_ANNOTATION: "shop-orders@acme-prod.iam.gserviceaccount.com"}


# --------------------------------------------------------------------------- the catalog on what the component makes


def _failing_controls(mocks: RecordingMocks, intent: Intent) -> set[str]:
    evaluator = Evaluator(params=intent_params(intent), system_namespaces=intent.system_namespaces)
    subjects = [
        Subject(r.inputs, type=r.type, name=r.name, urn=r.urn)
        for r in mocks.registrations
        if r.custom and not r.type.startswith("pulumi:providers:")
    ]
    return {f.control_id for f in evaluator.evaluate_all(subjects) if f.status == "fail"}


def test_the_catalog_passes_the_compliant_cluster(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    assert _failing_controls(gke_mocks, gke_prod) == set()


def test_the_catalog_names_the_stale_templates_faults(gke_mocks: RecordingMocks, gke_stale: Intent) -> None:
    _build(gke_stale, name="stale")
    failing = _failing_controls(gke_mocks, gke_stale)
    assert {"CL-01", "CL-03", "CL-04", "CL-05", "CL-06", "CL-07", "ST-01"} <= failing
    assert not {"CL-08", "CL-09"} & failing


# --------------------------------------------------------------------------- issue 13: pulumi up on a real project


def test_the_default_pool_never_runs_as_the_compute_engine_default_account(gke_prod: Intent) -> None:
    """remove_default_node_pool still creates the pool first: without a cluster-level node config it
    uses the Compute Engine default account, which CIS says to disable (and creation then fails)."""
    node_config = cluster_args(gke_prod)["node_config"]
    assert node_config["service_account"] == node_service_account_email(gke_prod)
    assert node_config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
    assert node_config["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}


def test_deployer_cidrs_and_global_access_reach_a_private_endpoint(gke_prod: Intent) -> None:
    endpoint = {"private": True, "deployerCidrs": ["10.20.0.0/24", "10.20.0.0/24"], "globalAccess": True}
    args = cluster_args(_with(gke_prod, "hardening.endpoint", endpoint))
    assert args["master_authorized_networks_config"]["cidr_blocks"] == [
        {"cidr_block": "10.20.0.0/24", "display_name": "hardening-endpoint-deployer-cidrs-0"}
    ]
    assert args["private_cluster_config"]["enable_private_endpoint"] is True
    assert args["private_cluster_config"]["master_global_access_config"] == {"enabled": True}
    # the DNS-based endpoint is stated closed to outside traffic, not left to the API's default
    assert args["control_plane_endpoints_config"] == {
        "ip_endpoints_config": {"enabled": True},
        "dns_endpoint_config": {"allow_external_traffic": False},
    }


def test_cluster_waits_for_the_node_service_account(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    cluster = gke_mocks.one(CLUSTER, "prod-cluster")
    account = gke_mocks.one("gcp:serviceaccount/account:Account", "prod-node-sa")
    assert account.urn in cluster.dependencies
    assert cluster.inputs["nodeConfig"]["serviceAccount"] == node_service_account_email(gke_prod)
    assert cluster.ignore_changes == ("nodeConfig",)  # reported from another pool once the default one is gone


def test_the_project_policy_admits_only_the_intents_registries_on_this_cluster(gke_prod: Intent) -> None:
    """PROJECT_SINGLETON_POLICY_ENFORCE enforces the project's policy, which is allow-all by default."""
    args = binary_authorization_policy_args(gke_prod)
    assert args is not None
    assert args["project"] == "acme-prod" and args["global_policy_evaluation_mode"] == "ENABLE"
    assert args["admission_whitelist_patterns"] == [
        {"name_pattern": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/**"},
        {"name_pattern": "registry.example.com/**"},
    ]
    # other clusters of the project keep Google's default; this one denies what is not allowed, and
    # CL-12's default mode (audit) only logs it
    assert args["default_admission_rule"]["evaluation_mode"] == "ALWAYS_ALLOW"
    assert args["cluster_admission_rules"] == [
        {
            "cluster": "europe-west1.prod-eu-1",
            "evaluation_mode": "ALWAYS_DENY",
            "enforcement_mode": "DRYRUN_AUDIT_LOG_ONLY",
        }
    ]
    enforce = _with(gke_prod, "admission", {"engine": "kyverno", "modes": {"CL-12": "enforce"}})
    enforced = binary_authorization_policy_args(enforce)
    assert enforced is not None
    assert enforced["cluster_admission_rules"][0]["enforcement_mode"] == "ENFORCED_BLOCK_AND_AUDIT_LOG"
    assert {"name_pattern": "reg.kyverno.io/kyverno/**"} in enforced["admission_whitelist_patterns"]  # the engine runs
    assert binary_authorization_policy_args(_with(gke_prod, "hardening.binaryAuthorization", False)) is None


def test_the_image_policy_exists_before_any_kubernetes_call(gke_mocks: RecordingMocks, gke_prod: Intent) -> None:
    _build(gke_prod)
    policy = gke_mocks.one("gcp:binaryauthorization/policy:Policy", "prod-image-policy")
    provider = gke_mocks.one("pulumi:providers:kubernetes", "prod-k8s")
    assert policy.urn in provider.dependencies
    assert policy.inputs["clusterAdmissionRules"][0]["cluster"] == "europe-west1.prod-eu-1"


def test_the_kubeconfig_impersonates_as_the_provider_does(gke_prod: Intent) -> None:
    sa = "deployer@acme-prod.iam.gserviceaccount.com"
    exec_ = kubeconfig("ctx", "1.2.3.4", "Q0E=", sa)["users"][0]["user"]["exec"]
    assert exec_["env"] == [{"name": "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "value": sa}]
    assert "env" not in kubeconfig("ctx", "1.2.3.4", "Q0E=")["users"][0]["user"]["exec"]
    assert deployer_access_problem(gke_prod, sa) is not None  # not a direct cluster-admin grant
    admins = _with(
        gke_prod,
        "access",
        [{**gke_prod.access[0].model_dump(by_alias=True), "gcp": {"member": f"serviceAccount:{sa}"}}],
    )
    assert deployer_access_problem(admins, sa) is None
