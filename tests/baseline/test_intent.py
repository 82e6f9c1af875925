"""The intent model: strict shape, permissive policy, cross-references checked."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from baseline.intent import Intent, NamespaceScope

MINIMAL: dict[str, Any] = {
    "baselineVersion": "1.0.0",
    "cluster": {
        "name": "prod",
        "cloud": "eks",
        "owner": "platform",
        "eks": {"region": "eu-west-1", "subnetIds": ["subnet-a", "subnet-b"]},
    },
}


def make(**over: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(over)
    return data


def test_minimal_intent_gets_secure_defaults() -> None:
    intent = Intent.model_validate(MINIMAL)
    h = intent.hardening
    assert h.endpoint.private and not h.endpoint.public
    assert h.secrets_encryption.enabled
    assert h.audit_logging.enabled and "audit" in h.audit_logging.log_types
    assert h.authentication.eks_mode == "API" and not h.authentication.bootstrap_creator_admin
    assert not h.authentication.local_accounts and h.authentication.azure_rbac
    assert intent.pod_security.level == "restricted"
    assert intent.network.default_deny and intent.network.block_metadata
    assert intent.admission.engine == "vap"
    assert intent.rollout.wave == "broad"


def test_intent_is_frozen() -> None:
    intent = Intent.model_validate(MINIMAL)
    with pytest.raises(ValidationError):
        intent.baseline_version = "2.0.0"  # type: ignore[misc]


def test_unknown_key_is_rejected_not_dropped() -> None:
    data = make(hardening={"endpiont": {"public": True}})
    with pytest.raises(ValidationError) as err:
        Intent.model_validate(data)
    assert err.value.errors()[0]["loc"] == ("hardening", "endpiont")
    assert err.value.errors()[0]["type"] == "extra_forbidden"


def test_insecure_but_well_formed_settings_are_valid_intent() -> None:
    data = make(
        hardening={
            "endpoint": {"private": False, "public": True, "publicCidrs": ["0.0.0.0/0"]},
            "secretsEncryption": {"enabled": False},
            "authentication": {
                "eksMode": "CONFIG_MAP",
                "awsAuth": [{"rolearn": "arn:aws:iam::1:role/x", "username": "x", "groups": ["system:masters"]}],
            },
        }
    )
    intent = Intent.model_validate(data)
    assert intent.hardening.endpoint.public_cidrs == ["0.0.0.0/0"]
    assert intent.hardening.authentication.aws_auth[0].groups == ["system:masters"]


def test_aws_auth_entries_need_a_config_map_mode() -> None:
    data = make(hardening={"authentication": {"awsAuth": [{"rolearn": "r", "username": "u"}]}})
    with pytest.raises(ValidationError, match="CONFIG_MAP"):
        Intent.model_validate(data)


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"baselineVersion": "1.0"}, "MAJOR.MINOR.PATCH"),
        ({"cluster": {**MINIMAL["cluster"], "name": "Prod_1"}}, "DNS-1123"),
        ({"cluster": {**MINIMAL["cluster"], "cloud": "gke"}}, "'gke' block is missing"),
        ({"hardening": {"endpoint": {"publicCidrs": ["10.0.0.1/8"]}}}, "CIDR"),
        ({"cluster": {**MINIMAL["cluster"], "kubernetesVersion": "1.3"}}, "Kubernetes minor version"),
    ],
)
def test_field_validation(patch: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Intent.model_validate(make(**patch))


def test_cluster_admin_only_at_cluster_scope() -> None:
    grant = {
        "name": "ops",
        "role": "cluster-admin",
        "scope": {"namespaces": ["shop"]},
        "aws": {"principalArn": "arn:aws:iam::111122223333:role/ops"},
    }
    data = make(access=[grant], namespaces=[{"name": "shop", "owner": "shop-team"}])
    with pytest.raises(ValidationError, match="cluster-admin can only be granted at scope 'cluster'"):
        Intent.model_validate(data)


def test_namespace_scope_parses() -> None:
    grant = {
        "name": "devs",
        "role": "edit",
        "scope": {"namespaces": ["shop"]},
        "aws": {"principalArn": "arn:aws:iam::111122223333:role/devs"},
    }
    intent = Intent.model_validate(make(access=[grant], namespaces=[{"name": "shop", "owner": "t"}]))
    assert isinstance(intent.access[0].scope, NamespaceScope)
    assert intent.access[0].scope.namespaces == ["shop"]


def test_cross_references_name_their_paths() -> None:
    data = make(
        access=[{"name": "devs", "role": "view", "scope": {"namespaces": ["ghost"]}}],
        workloadIdentities=[{"name": "w", "namespace": "nowhere", "serviceAccount": "sa"}],
        namespaces=[{"name": "a", "owner": "t"}, {"name": "a", "owner": "u"}],
    )
    with pytest.raises(ValidationError) as err:
        Intent.model_validate(data)
    text = str(err.value)
    assert "duplicate names ['a']" in text
    assert "access[0].scope.namespaces: ['ghost'] not declared" in text
    assert "access[0].aws: required on a eks cluster" in text
    assert "workloadIdentities[0].namespace: 'nowhere' not declared" in text
    assert "workloadIdentities[0].aws: required" in text


def test_exception_needs_every_field_and_one_scope() -> None:
    base = {"control": "NS-01", "scope": {"namespace": "a"}, "owner": "t", "reason": "a long enough reason",
            "expires": "2030-01-01"}
    for missing in ("control", "scope", "owner", "reason", "expires"):
        exc = {k: v for k, v in base.items() if k != missing}
        with pytest.raises(ValidationError) as err:
            Intent.model_validate(make(exceptions=[exc]))
        assert ("exceptions", 0, missing) in [e["loc"] for e in err.value.errors()]
    with pytest.raises(ValidationError, match="give one of"):
        Intent.model_validate(make(exceptions=[{**base, "scope": {}}]))
    with pytest.raises(ValidationError, match="cannot be combined"):
        Intent.model_validate(make(exceptions=[{**base, "scope": {"cluster": True, "namespace": "a"}}]))
    with pytest.raises(ValidationError, match="not a control id"):
        Intent.model_validate(make(exceptions=[{**base, "control": "XX-1"}]))


def test_mode_resolution_wave_over_intent_over_default() -> None:
    data = make(
        admission={"modes": {"POD-10": "enforce", "POD-12": "off"}, "waves": {"canary": {"POD-10": "audit"}}},
        rollout={"wave": "canary"},
    )
    intent = Intent.model_validate(data)
    assert intent.mode_for("POD-10", "audit") == "audit"  # the canary wave overrides
    assert intent.mode_for("POD-12", "audit") == "off"  # the intent's own mode
    assert intent.mode_for("CL-01", "enforce") == "enforce"  # the control's default
    broad = Intent.model_validate({**data, "rollout": {"wave": "broad"}})
    assert broad.mode_for("POD-10", "audit") == "enforce"


def test_namespace_level_falls_back_to_default() -> None:
    intent = Intent.model_validate(
        make(namespaces=[{"name": "a", "owner": "t"}, {"name": "b", "owner": "t", "podSecurity": "baseline"}])
    )
    assert [intent.namespace_level(n) for n in intent.namespaces] == ["restricted", "baseline"]


def test_workload_identities_need_workload_identity_on() -> None:
    wi = {"name": "w", "namespace": "shop", "serviceAccount": "sa", "aws": {"mechanism": "irsa"}}
    data = make(
        namespaces=[{"name": "shop", "owner": "t"}], workloadIdentities=[wi], hardening={"workloadIdentity": False}
    )
    with pytest.raises(ValidationError, match=r"hardening\.workloadIdentity is false"):
        Intent.model_validate(data)
    off = Intent.model_validate(make(hardening={"workloadIdentity": False}))
    assert not off.hardening.workload_identity
