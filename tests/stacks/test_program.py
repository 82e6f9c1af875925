"""The Pulumi program (``stacks/__main__.py``) run under mocks with stack config, as the engine runs it."""

from __future__ import annotations

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
    config["intent"] = {"cluster": {"cloud": "gke", "gke": {"project": "acme-prod", "location": "europe-west1"}}}
    _set_config(config)
    with pytest.raises(pulumi.RunError, match="'gke' is not supported yet"):
        _run_program()
    assert pulumi_mocks.registrations == []


def test_missing_intent_is_a_clear_error(pulumi_mocks: RecordingMocks) -> None:
    _set_config({})
    with pytest.raises(pulumi.RunError, match="set 'intent' or 'intentFile'"):
        _run_program()
    assert pulumi_mocks.registrations == []
