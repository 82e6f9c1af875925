"""The pack as the engine runs it: a subprocess (``python -u -m pulumi.policy <engine> .`` in the pack
directory, the stack config in ``PULUMI_CONFIG``) spoken to over the Analyzer gRPC protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baseline.catalog import load_catalog
from baseline.plan import (
    AnalyzerResource,
    Diagnostic,
    PackProcess,
    engine_config,
    read_stack_file,
    reconcile_policy_config,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policy_packs" / "baseline"
STACKS = REPO / "stacks"
U = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CATALOG = load_catalog()
CL01 = CATALOG["CL-01"].policy_name
CL03 = CATALOG["CL-03"].policy_name
ST01 = CATALOG["ST-01"].policy_name
NS02 = CATALOG["NS-02"].policy_name

CLUSTER: dict[str, Any] = {
    "name": "prod-eu-1",
    "roleArn": "arn:aws:iam::111122223333:role/eks-cluster",
    "encryptionConfig": {"provider": {"keyArn": "arn:aws:kms:eu-west-1:111122223333:key/k"}, "resources": ["secrets"]},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["subnet-1"]},
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    "tags": {"fleet-baseline.io/baseline-version": "1.0.0"},
    "upgradePolicy": {"supportType": "STANDARD"},
}


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value))
    return result


def _resource(type_: str, name: str, props: dict[str, Any]) -> AnalyzerResource:
    return AnalyzerResource(
        urn=f"urn:pulumi:test::fleet-baseline::{type_}::{name}", type=type_, name=name, properties=props
    )


def _cluster(**changes: Any) -> AnalyzerResource:
    props = _copy(CLUSTER)
    props.update(changes)
    return _resource("aws:eks/cluster:Cluster", "prod-eu-1", props)


def _prod_config(**intent_changes: Any) -> dict[str, str]:
    config = read_stack_file(STACKS / "Pulumi.eks-prod.yaml")
    if intent_changes:
        config["fleet-baseline:intent"] = {**config["fleet-baseline:intent"], **intent_changes}
    return engine_config(config)


def _start(dry_run: bool, config: dict[str, str] | None) -> PackProcess:
    return PackProcess(PACK, project="fleet-baseline", stack="test", dry_run=dry_run, config=config)


def _by_policy(diags: list[Diagnostic], policy: str) -> list[Diagnostic]:
    return [d for d in diags if d.policy == policy]


@pytest.fixture(scope="module")
def preview_pack() -> Iterator[PackProcess]:
    with _start(True, _prod_config()) as pack:
        pack.configure(reconcile_policy_config(pack.get_analyzer_info()))
        yield pack


@pytest.fixture(scope="module")
def up_pack() -> Iterator[PackProcess]:
    with _start(False, _prod_config()) as pack:
        pack.configure(reconcile_policy_config(pack.get_analyzer_info()))
        yield pack


def test_analyzer_info_comes_from_the_catalog(preview_pack: PackProcess) -> None:
    info = preview_pack.get_analyzer_info()
    assert info.name == "fleet-baseline"
    assert info.version == "0.1.0"  # PulumiPolicy.yaml's, as the engine reports it
    assert info.supports_config
    by_name = {p.name: p for p in info.policies}
    for control in CATALOG:
        if not control.applicable_targets():
            continue
        policy = by_name[control.policy_name]
        assert policy.description == control.description
        assert policy.severity == control.severity
        assert policy.enforcement_level == {"enforce": "mandatory", "audit": "advisory"}[control.default_mode]
        assert policy.remediation_steps == control.remediation
    cl01 = by_name[CL01]
    assert cl01.policy_type == "resource" and cl01.framework["name"] == "CIS"
    assert "eks 5.3.1" in cl01.framework["reference"]
    assert by_name[NS02].policy_type == "stack"
    assert by_name[ST01].config_schema["minimumBaselineVersion"]["default"] == CATALOG.baseline_version


def test_a_compliant_cluster_passes_and_a_non_compliant_one_is_blocked(preview_pack: PackProcess) -> None:
    assert preview_pack.analyze(_cluster()) == []
    bad = _cluster(encryptionConfig=None, vpcConfig={"endpointPrivateAccess": False, "endpointPublicAccess": True})
    diags = preview_pack.analyze(bad)
    assert {d.policy for d in diags} == {CL01, CL03}
    for d in diags:
        assert d.enforcement_level == "mandatory"
        assert d.urn == bad.urn
        assert d.pack == "fleet-baseline" and d.pack_version == "0.1.0"
        assert "Remediation: " in d.detail
        assert d.message.startswith(d.description + "\n")


def test_an_unknown_at_preview_is_the_engines_advisory_cant_run(preview_pack: PackProcess) -> None:
    props = _copy(CLUSTER)
    props["encryptionConfig"]["provider"]["keyArn"] = U
    [diag] = preview_pack.analyze(_resource("aws:eks/cluster:Cluster", "prod-eu-1", props))
    assert diag.policy == CL01
    assert diag.enforcement_level == "advisory"
    assert diag.undecided
    assert diag.message == (
        f"can't run policy '{CL01}' from policy pack 'fleet-baseline@v0.0.1' during preview: "
        "string value at .encryptionConfig.provider.keyArn can't be known during preview"
    )


def test_at_up_an_unknown_or_an_evaluation_error_fails_closed(up_pack: PackProcess) -> None:
    props = _copy(CLUSTER)
    props["encryptionConfig"]["provider"]["keyArn"] = U
    [diag] = up_pack.analyze(_resource("aws:eks/cluster:Cluster", "prod-eu-1", props))
    assert (diag.policy, diag.enforcement_level) == (CL01, "mandatory")
    assert "failing closed" in diag.detail
    props = _copy(CLUSTER)
    props["encryptionConfig"]["resources"] = "secrets"
    [diag] = up_pack.analyze(_resource("aws:eks/cluster:Cluster", "prod-eu-1", props))
    assert (diag.policy, diag.enforcement_level) == (CL01, "mandatory")
    assert "evaluation error on known data" in diag.detail


def test_policy_pack_config_sets_params_and_levels(up_pack: PackProcess) -> None:
    info = up_pack.get_analyzer_info()
    given: dict[str, tuple[str | None, dict[str, Any]]] = {
        ST01: (None, {"minimumBaselineVersion": "1.2.0"}),
        CL01: ("advisory", {}),
    }
    try:
        up_pack.configure(reconcile_policy_config(info, given))
        diags = up_pack.analyze(_cluster(encryptionConfig=None))
        assert [(d.policy, d.enforcement_level) for d in _by_policy(diags, CL01)] == [(CL01, "advisory")]
        [st01] = _by_policy(diags, ST01)
        assert st01.enforcement_level == "mandatory" and "stale template" in st01.detail
        stamped = _cluster(tags={"fleet-baseline.io/baseline-version": "1.2.0"})
        assert _by_policy(up_pack.analyze(stamped), ST01) == []
    finally:
        up_pack.configure(reconcile_policy_config(info))


def test_analyze_stack_finds_a_namespace_without_default_deny(preview_pack: PackProcess) -> None:
    labels = {"fleet-baseline.io/baseline-version": "1.0.0"}
    ns = _resource(
        "kubernetes:core/v1:Namespace",
        "shop",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": labels}},
    )
    deny = _resource(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "shop-default-deny",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop", "labels": labels},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
    )
    [diag] = _by_policy(preview_pack.analyze_stack([ns]), NS02)
    assert (diag.urn, diag.enforcement_level) == (ns.urn, "mandatory")
    assert _by_policy(preview_pack.analyze_stack([ns, deny]), NS02) == []


def test_the_stack_intent_sets_levels_at_pack_start() -> None:
    config = _prod_config(admission={"modes": {"CL-01": "audit", "ST-01": "off"}})
    with _start(False, config) as pack:
        info = pack.get_analyzer_info()
        assert info.policy(CL01).enforcement_level == "advisory"
        assert info.policy(ST01).enforcement_level == "disabled"
        pack.configure(reconcile_policy_config(info))
        diags = pack.analyze(_cluster(encryptionConfig=None, tags={}))
        assert [(d.policy, d.enforcement_level) for d in diags] == [(CL01, "advisory")]


def test_without_stack_config_the_pack_uses_catalog_defaults_and_says_so() -> None:
    with _start(False, None) as pack:
        info = pack.get_analyzer_info()
        assert info.policy(CL01).enforcement_level == "mandatory"
        pack.configure(reconcile_policy_config(info))
        assoc = _resource(
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
            "admin",
            {
                "clusterName": "c",
                "principalArn": "arn:aws:iam::111122223333:role/platform-admins",
                "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                "accessScope": {"type": "cluster"},
            },
        )
        [diag] = pack.analyze(assoc)
        assert "no fleet-baseline:intent" in diag.detail


def test_the_pack_process_is_gone_after_the_context() -> None:
    with _start(True, None) as pack:
        proc = pack._proc
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None


def test_a_wave_from_the_policy_pack_config_applies_that_waves_modes() -> None:
    """The intent keeps CL-01 enforced broadly but off in canary; `pack-config --wave canary` says so."""
    from baseline.loader import intent_from_config
    from policy_packs.factory import policy_pack_config

    changes = {"admission": {"waves": {"canary": {"CL-01": "off", "CL-03": "audit"}}}}
    config = _prod_config(**changes)
    raw = read_stack_file(STACKS / "Pulumi.eks-prod.yaml")
    intent = intent_from_config(
        {"intentFile": raw["fleet-baseline:intentFile"], "intent": {**raw["fleet-baseline:intent"], **changes}},
        base_dir=STACKS,
    )
    with _start(False, config) as pack:
        info = pack.get_analyzer_info()
        bad = _cluster(encryptionConfig=None, vpcConfig={"endpointPrivateAccess": False, "endpointPublicAccess": True})
        broad = {(d.policy, d.enforcement_level) for d in pack.analyze(bad)}
        assert broad == {(CL01, "mandatory"), (CL03, "mandatory")}
        canary = policy_pack_config(intent, CATALOG, "canary")
        assert canary[CL01] == {"enforcementLevel": "disabled", "wave": "canary"}
        given = {name: (value["enforcementLevel"], {"wave": value["wave"]}) for name, value in canary.items()}
        pack.configure(reconcile_policy_config(info, given))
        assert {(d.policy, d.enforcement_level) for d in pack.analyze(bad)} == {(CL03, "advisory")}
        # a wave alone (no level) still stops an `off` control from reporting
        pack.configure(reconcile_policy_config(info, {CL01: (None, {"wave": "canary"})}))
        assert CL01 not in {d.policy for d in pack.analyze(bad)}
