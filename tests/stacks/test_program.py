"""The Pulumi program (``stacks/__main__.py``) run under mocks with stack config, as the engine runs it."""

from __future__ import annotations

import io
import json
import runpy
import sys
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest
import yaml

from baseline.loader import read_stack_config
from tests.conftest import STACKS_DIR, RecordingMocks

MAIN = STACKS_DIR / "__main__.py"
STAMP = "fleet-baseline.io/baseline-version"


def _set_config(config: Mapping[str, Any]) -> None:
    """Config as the engine hands it to the program: structured values arrive as JSON text."""
    values: dict[str, str] = {}
    if "intent" in config:
        values["fleet-baseline:intent"] = json.dumps(config["intent"])
    if "intentFile" in config:
        values["fleet-baseline:intentFile"] = str(config["intentFile"])
    pulumi.runtime.set_all_config(values)


def _run_program() -> None:
    @pulumi.runtime.test
    def run() -> None:
        runpy.run_path(str(MAIN), run_name="__main__")

    run()


def _stack(name: str) -> dict[str, Any]:
    return read_stack_config(STACKS_DIR / f"Pulumi.{name}.yaml")


def test_eks_prod(pulumi_mocks: RecordingMocks) -> None:
    _set_config(_stack("eks-prod"))
    _run_program()
    pulumi_mocks.one("fleet-baseline:eks:Cluster", "prod-eu-1")
    cluster = pulumi_mocks.one("aws:eks/cluster:Cluster", "prod-eu-1-cluster")
    assert cluster.inputs["name"] == "prod-eu-1"
    assert cluster.inputs["tags"][STAMP] == "1.0.0"
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    assert len(pulumi_mocks.of_type("kubernetes:core/v1:Namespace")) == 3
    assert pulumi_mocks.duplicate_urns() == []
    # the intent's exception is a record in the stack's state, with every field an auditor needs
    record = pulumi_mocks.one("fleet-baseline:policy:Exception", "prod-eu-1-exception-ns-01-0")
    assert record.inputs == {
        "control": "NS-01",
        "scope": {"namespace": "observability"},
        "owner": "platform-team",
        "reason": "node-exporter reads host metrics; restricted PSS blocks hostPath until the agent is replaced",
        "expires": "2027-06-30",
        "ticket": "PLAT-1234",
    }


def test_eks_stale_is_valid_and_translated(pulumi_mocks: RecordingMocks) -> None:
    _set_config(_stack("eks-stale"))
    _run_program()
    pulumi_mocks.one("fleet-baseline:eks:Cluster", "legacy-eu-1")
    cluster = pulumi_mocks.one("aws:eks/cluster:Cluster").inputs
    assert cluster["name"] == "legacy-eu-1"
    assert cluster["tags"][STAMP] == "0.9.0"
    assert cluster["vpcConfig"] == {
        "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"],
        "endpointPrivateAccess": False,
        "endpointPublicAccess": True,
        "publicAccessCidrs": ["0.0.0.0/0"],
    }
    assert "encryptionConfig" not in cluster
    assert cluster["accessConfig"] == {
        "authenticationMode": "CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": True,
    }
    aws_auth = pulumi_mocks.one("kubernetes:core/v1:ConfigMapPatch", "legacy-eu-1-aws-auth")
    roles = yaml.safe_load(aws_auth.inputs["data"]["mapRoles"])
    assert {
        "rolearn": "arn:aws:iam::111122223333:role/incident-responder",
        "username": "incident-responder",
        "groups": ["system:masters"],
    } in roles
    for ns in pulumi_mocks.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"][STAMP] == "0.9.0"


def test_misspelled_key_is_a_clear_error_and_nothing_is_registered(pulumi_mocks: RecordingMocks) -> None:
    config = _stack("eks-prod")
    config["intent"] = {**config["intent"], "hardening": {"endpoint": {"private": True, "publc": False}}}
    _set_config(config)
    with pytest.raises(pulumi.RunError) as err:
        _run_program()
    message = str(err.value)
    assert "hardening.endpoint.publc" in message
    assert "unknown key" in message
    assert "Traceback" not in message
    assert pulumi_mocks.registrations == []


def test_unsupported_cloud_is_a_clear_error(pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "providers.gke", None)  # as if the cloud's component did not exist
    config = _stack("eks-prod")
    config["intent"] = {
        "cluster": {
            "cloud": "gke",
            "gke": {"project": "acme-prod", "location": "europe-west1", "securityGroupDomain": "example.com"},
            "nodePools": [{"name": "system", "instanceType": "e2-standard-4"}],
        },
        "hardening": {"secretsEncryption": {"kmsKey": "projects/acme/locations/europe-west1/keyRings/r/cryptoKeys/k"}},
    }
    _set_config(config)
    with pytest.raises(pulumi.RunError, match="'gke' is not supported yet"):
        _run_program()
    assert pulumi_mocks.registrations == []


@pytest.mark.parametrize(
    ("cloud", "sdk", "extra"),
    [("gke", "pulumi_gcp", "gcp"), ("eks", "pulumi_aws", "aws"), ("aks", "pulumi_azure_native", "azure")],
)
def test_a_missing_cloud_sdk_names_the_extra_that_installs_it(
    pulumi_mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch, cloud: str, sdk: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, sdk, None)  # as if installed without the cloud's extra
    monkeypatch.delitem(sys.modules, f"providers.{cloud}", raising=False)
    _set_config(_stack(f"{cloud}-prod"))  # a sample stack whose intent is valid for its cloud
    with pytest.raises(pulumi.RunError) as err:
        _run_program()
    assert f"pip install 'fleet-baseline[{extra}]'" in str(err.value)
    assert f"({sdk})" in str(err.value)
    assert pulumi_mocks.registrations == []


def test_missing_intent_is_a_clear_error(pulumi_mocks: RecordingMocks) -> None:
    _set_config({})
    with pytest.raises(pulumi.RunError, match="set 'intent' or 'intentFile'"):
        _run_program()
    assert pulumi_mocks.registrations == []


def test_gke_prod(pulumi_mocks: RecordingMocks) -> None:
    """The same shared intent as eks-prod, on GKE: the stack adds only where the cluster lives."""
    _set_config(_stack("gke-prod"))
    _run_program()
    pulumi_mocks.one("fleet-baseline:gke:Cluster", "prod-eu-1")
    cluster = pulumi_mocks.one("gcp:container/cluster:Cluster", "prod-eu-1-cluster").inputs
    assert cluster["name"] == "prod-eu-1"
    assert cluster["resourceLabels"]["fleet-baseline-baseline-version"] == "1-0-0"
    assert cluster["databaseEncryption"] == {
        "state": "ENCRYPTED",
        "keyName": "projects/acme-security/locations/europe-west1/keyRings/gke-prod/cryptoKeys/secrets",
    }
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "acme-prod.svc.id.goog"}
    assert len(pulumi_mocks.of_type("kubernetes:core/v1:Namespace")) == 3
    assert not [r for r in pulumi_mocks.registrations if r.type.startswith("aws:")]
    assert pulumi_mocks.duplicate_urns() == []
    pulumi_mocks.one("fleet-baseline:policy:Exception", "prod-eu-1-exception-ns-01-0")


def test_gke_stale_is_valid_and_translated(pulumi_mocks: RecordingMocks) -> None:
    _set_config(_stack("gke-stale"))
    _run_program()
    pulumi_mocks.one("fleet-baseline:gke:Cluster", "legacy-gke-1")
    cluster = pulumi_mocks.one("gcp:container/cluster:Cluster").inputs
    assert cluster["name"] == "legacy-gke-1"
    assert cluster["resourceLabels"]["fleet-baseline-baseline-version"] == "0-9-0"
    assert cluster["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": True}}
    assert cluster["enableLegacyAbac"] is True
    assert cluster["datapathProvider"] == "LEGACY_DATAPATH"
    assert cluster["databaseEncryption"] == {"state": "DECRYPTED"}
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"][0]["cidrBlock"] == "0.0.0.0/0"
    for ns in pulumi_mocks.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"][STAMP] == "0.9.0"
    assert pulumi_mocks.duplicate_urns() == []


def test_gke_without_a_secrets_key_is_a_clear_error_and_nothing_is_registered(pulumi_mocks: RecordingMocks) -> None:
    config = _stack("gke-prod")
    config["intent"] = {**config["intent"], "hardening": {"secretsEncryption": {"enabled": True}}}
    _set_config(config)
    with pytest.raises(pulumi.RunError) as err:
        _run_program()
    message = str(err.value)
    assert "hardening.secretsEncryption.kmsKey: required on GKE" in message
    assert "Traceback" not in message
    assert pulumi_mocks.registrations == []


def _plan(stack: str) -> tuple[int, dict[str, Any], str]:
    """``fleet-baseline plan --stack STACK --json``: the program under mocks, judged by the real pack."""
    from baseline.cli import main

    out, err = io.StringIO(), io.StringIO()
    pack = STACKS_DIR.parent / "policy_packs" / "baseline"
    code = main(["plan", "--policy-pack", str(pack), "--stack", stack, "--stacks-dir", str(STACKS_DIR), "--json"],
                out=out, err=err)  # fmt: skip
    return code, json.loads(out.getvalue() or "{}"), err.getvalue()


@pytest.mark.slow
def test_gke_prod_plan_is_compliant() -> None:
    code, doc, err = _plan("gke-prod")
    assert code == 0, err
    assert not [v for v in doc["violations"] if v["enforcementLevel"] == "mandatory"]


@pytest.mark.slow
def test_gke_stale_plan_is_blocked_by_gkes_own_stale_settings() -> None:
    code, doc, err = _plan("gke-stale")
    assert code == 1, err
    mandatory = {v["control"] for v in doc["violations"] if v["enforcementLevel"] == "mandatory"}
    assert {"CL-01", "CL-03", "CL-04", "CL-06", "ST-01"} <= mandatory
    gke = {v["control"] for v in doc["violations"] if v["type"] == "gcp:container/cluster:Cluster"}
    assert {"CL-01", "CL-03", "CL-04", "CL-06", "ST-01"} <= gke


# --------------------------------------------------------------------------- AKS


def _aks_program(mocks: RecordingMocks, stack: str, intent: Mapping[str, Any] | None = None) -> None:
    """Run the program on an AKS stack (the recording mocks answer Azure resources as Azure does)."""
    del mocks
    config = _stack(stack)
    if intent is not None:
        config["intent"] = {**config["intent"], **intent}
    _set_config(config)
    _run_program()


def test_aks_prod(pulumi_mocks: RecordingMocks) -> None:
    _aks_program(pulumi_mocks, "aks-prod")
    pulumi_mocks.one("fleet-baseline:aks:Cluster", "prod-eu-1")
    cluster = pulumi_mocks.one("azure-native:containerservice:ManagedCluster", "prod-eu-1-cluster").inputs
    assert cluster["resourceName"] == "prod-eu-1"
    assert cluster["tags"]["fleet-baseline.io_baseline-version"] == "1.0.0"  # Azure tag names have no '/'
    assert cluster["aadProfile"]["enableAzureRBAC"] is True
    assert cluster["disableLocalAccounts"] is True
    assert cluster["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert cluster["securityProfile"]["azureKeyVaultKms"]["keyVaultNetworkAccess"] == "Private"
    assert [p["vmSize"] for p in cluster["agentPoolProfiles"]] == ["Standard_D4ds_v5"]
    assert len(pulumi_mocks.of_type("azure-native:managedidentity:FederatedIdentityCredential")) == 2
    assert len(pulumi_mocks.of_type("kubernetes:core/v1:Namespace")) == 3
    for ns in pulumi_mocks.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"][STAMP] == "1.0.0"  # Kubernetes labels keep the '/'
    pulumi_mocks.one("fleet-baseline:policy:Exception", "prod-eu-1-exception-ns-01-0")
    assert not any(r.type.startswith(("aws:", "gcp:")) for r in pulumi_mocks.registrations)
    assert pulumi_mocks.duplicate_urns() == []


def test_aks_stale_is_valid_and_translated(pulumi_mocks: RecordingMocks) -> None:
    _aks_program(pulumi_mocks, "aks-stale")
    pulumi_mocks.one("fleet-baseline:aks:Cluster", "legacy-weu-1")
    cluster = pulumi_mocks.one("azure-native:containerservice:ManagedCluster").inputs
    assert cluster["resourceName"] == "legacy-weu-1"
    assert cluster["tags"]["fleet-baseline.io_baseline-version"] == "0.9.0"
    assert cluster["disableLocalAccounts"] is False
    assert cluster["aadProfile"]["enableAzureRBAC"] is False
    assert cluster["apiServerAccessProfile"] == {
        "enablePrivateCluster": False,
        "disableRunCommand": True,
        "authorizedIPRanges": ["0.0.0.0/0"],
    }
    assert cluster["networkProfile"]["networkPolicy"] == "none"
    assert cluster["securityProfile"]["azureKeyVaultKms"] == {"enabled": False}
    assert cluster["oidcIssuerProfile"] == {"enabled": False}  # hardening.workloadIdentity: false
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": False}
    assert not pulumi_mocks.of_type("azure-native:authorization:RoleAssignment")  # no Azure RBAC, no KMS
    for ns in pulumi_mocks.of_type("kubernetes:core/v1:Namespace"):
        assert ns.inputs["metadata"]["labels"][STAMP] == "0.9.0"


def test_aks_without_a_kms_key_is_a_clear_error_and_nothing_is_registered(pulumi_mocks: RecordingMocks) -> None:
    with pytest.raises(pulumi.RunError) as err:
        _aks_program(pulumi_mocks, "aks-prod", {"hardening": {"secretsEncryption": {"enabled": True}}})
    message = str(err.value)
    assert "hardening.secretsEncryption.kmsKey" in message
    assert "hardening.secretsEncryption.keyVaultResourceId" in message
    assert "Traceback" not in message
    assert pulumi_mocks.registrations == []


@pytest.mark.slow
def test_aks_prod_plan_is_compliant() -> None:
    code, doc, err = _plan("aks-prod")
    assert code == 0, err
    assert not [v for v in doc["violations"] if v["enforcementLevel"] == "mandatory"]
    types = {r["type"] for r in doc["resources"]}
    assert {
        "azure-native:containerservice:ManagedCluster",
        "azure-native:monitor:DiagnosticSetting",
        "azure-native:authorization:RoleAssignment",
        "azure-native:managedidentity:FederatedIdentityCredential",
        "kubernetes:core/v1:Namespace",
    } <= types


@pytest.mark.slow
def test_aks_stale_plan_is_blocked_by_aks_own_stale_settings() -> None:
    code, doc, err = _plan("aks-stale")
    assert code == 1, err
    aks = {
        v["control"]
        for v in doc["violations"]
        if v["enforcementLevel"] == "mandatory" and v["type"] == "azure-native:containerservice:ManagedCluster"
    }
    assert {"CL-01", "CL-03", "CL-04", "CL-05", "CL-06", "ST-01"} <= aks


def test_eks_deployer_role_from_the_aws_config(pulumi_mocks: RecordingMocks) -> None:
    """The stack hands the AWS provider's role to the component: the kubeconfig signs as that role."""
    role = "arn:aws:iam::111122223333:role/platform-admins"
    values = {
        "fleet-baseline:intent": json.dumps(_stack("eks-prod")["intent"]),
        "fleet-baseline:intentFile": "intents/prod.yaml",
        "aws:assumeRoles": json.dumps([{"roleArn": role}]),
        "aws:profile": "prod",
    }
    pulumi.runtime.set_all_config(values)
    _run_program()
    component = pulumi_mocks.one("fleet-baseline:eks:Cluster", "prod-eu-1")
    kubeconfig = json.loads(pulumi_mocks.component_outputs[component.urn]["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["exec"]["args"][-4:] == ["--role-arn", role, "--profile", "prod"]


def test_eks_deployer_role_that_is_no_cluster_admin_is_refused(pulumi_mocks: RecordingMocks) -> None:
    values = {
        "fleet-baseline:intent": json.dumps(_stack("eks-prod")["intent"]),
        "fleet-baseline:intentFile": "intents/prod.yaml",
        "aws:assumeRoles": json.dumps([{"roleArn": "arn:aws:iam::111122223333:role/auditors"}]),
    }
    pulumi.runtime.set_all_config(values)
    with pytest.raises(pulumi.RunError, match="not among the cluster-admins"):
        _run_program()
    assert pulumi_mocks.registrations == []


def test_aks_kubelogin_signs_in_as_the_azure_provider(pulumi_mocks: RecordingMocks) -> None:
    """OIDC federation in CI (azure-native:useOidc): kubelogin uses workload identity, not a CLI session."""
    client_id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    pulumi.runtime.set_all_config(
        {
            "fleet-baseline:intent": json.dumps(_stack("aks-prod")["intent"]),
            "fleet-baseline:intentFile": "intents/prod.yaml",
            "azure-native:useOidc": "true",
            "azure-native:clientId": client_id,
        }
    )
    _run_program()
    provider = pulumi_mocks.one("pulumi:providers:kubernetes", "prod-eu-1-k8s")
    args = json.loads(provider.inputs["kubeconfig"])["users"][0]["user"]["exec"]["args"]
    assert args[args.index("--login") + 1] == "workloadidentity"
    assert args[-2:] == ["--client-id", client_id]
