"""The pack's policies as built from the catalog, and their validations, without a PolicyPack.

A PolicyPack serves gRPC and blocks forever, so it is never constructed here; the policies are plain
objects and their validate functions are called with the SDK's own argument types and proxies.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from baseline.catalog import load_catalog
from baseline.evaluator import intent_params
from baseline.loader import intent_from_config, read_stack_config
from policy_packs.factory import (
    EVALUATOR_PARAMS,
    PARAM_SCHEMAS,
    STACK_POLICY_SUFFIX,
    PackSetup,
    build_policies,
    config_schema,
    control_for_policy,
    enforcement_level,
    framework_for,
    params_read,
    setup_from_stack_config,
    unwrap,
)

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
U = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CLUSTER = "aws:eks/cluster:Cluster"
URN = "urn:pulumi:test::fleet-baseline::aws:eks/cluster:Cluster::c"

COMPLIANT_CLUSTER: dict[str, Any] = {
    "name": "c",
    "encryptionConfig": {"provider": {"keyArn": "arn:aws:kms:eu-west-1:111122223333:key/k"}, "resources": ["secrets"]},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
    "tags": {"fleet-baseline.io/baseline-version": "1.0.0"},
}


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog()


@pytest.fixture(scope="module")
def prod_config() -> dict[str, Any]:
    return read_stack_config(STACKS / "Pulumi.eks-prod.yaml")


def _policies(**kw: Any) -> dict[str, Any]:
    kw.setdefault("is_preview", lambda: True)
    return {p.name: p for p in build_policies(**kw)}


def _args(props: dict[str, Any], config: dict[str, Any] | None = None, type_: str = CLUSTER) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(type_, unknown_checking_proxy(props), URN, "c", opts, None, config)


def _validate(policy: Any, args: Any) -> list[tuple[str, str | None]]:
    reported: list[tuple[str, str | None]] = []
    policy.validate(args, lambda msg, urn=None: reported.append((msg, urn)))
    return reported


# --------------------------------------------------------------------------- metadata from the catalog


def test_one_resource_policy_per_object_control_named_and_described_by_the_catalog(catalog: Any) -> None:
    policies = _policies(setup=PackSetup.without_intent(catalog, "test"))
    for control in catalog:
        targets = control.applicable_targets()
        if any(t.scope == "object" for t in targets):
            policy = policies[control.policy_name]
            assert isinstance(policy, ResourceValidationPolicy)
            assert policy.description == control.description
            assert policy.remediation_steps == control.remediation
            assert control.id in policy.tags
        if any(t.scope == "stack" for t in targets):
            only_stack = not any(t.scope == "object" for t in targets)
            name = control.policy_name + ("" if only_stack else STACK_POLICY_SUFFIX)
            assert isinstance(policies[name], StackValidationPolicy)
            assert control_for_policy(catalog, name) is control
    assert all(p.name == p.name.lower() and " " not in p.name for p in policies.values())


def test_stack_scope_controls_become_stack_policies(catalog: Any) -> None:
    stack_controls = [c for c in catalog if any(t.scope == "stack" for t in c.applicable_targets())]
    assert stack_controls, "the catalog has stack-scope controls (NS-02)"
    policies = _policies(setup=PackSetup.without_intent(catalog, "test"))
    assert isinstance(policies[catalog["NS-02"].policy_name], StackValidationPolicy)


def test_severity_and_level_map_from_the_catalog(catalog: Any) -> None:
    policies = _policies(setup=PackSetup.without_intent(catalog, "test"))
    sev = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH, "critical": Severity.CRITICAL}
    for control in catalog:
        for policy in policies.values():
            if control_for_policy(catalog, policy.name) is control:
                assert policy.severity == sev[control.severity]
                assert policy.enforcement_level == enforcement_level(control.default_mode)


@pytest.mark.parametrize(
    ("mode", "level"),
    [("enforce", EnforcementLevel.MANDATORY), ("audit", EnforcementLevel.ADVISORY), ("off", EnforcementLevel.DISABLED)],
)
def test_levels_follow_the_intent_modes(catalog: Any, prod_config: dict[str, Any], mode: str, level: Any) -> None:
    inline = json.loads(json.dumps(prod_config["intent"]))
    inline["admission"] = {"modes": {"CL-01": mode}}
    config = {**prod_config, "intent": inline}
    policies = _policies(stack_config=config, stacks_dir=STACKS)
    assert policies[catalog["CL-01"].policy_name].enforcement_level == level
    assert policies[catalog["ST-01"].policy_name].enforcement_level == EnforcementLevel.MANDATORY


def test_the_rollout_wave_overrides_the_intent_modes(catalog: Any, prod_config: dict[str, Any]) -> None:
    inline = json.loads(json.dumps(prod_config["intent"]))
    inline["admission"] = {"modes": {"CL-01": "enforce"}, "waves": {"canary": {"CL-01": "audit"}}}
    inline["rollout"] = {"wave": "canary"}
    policies = _policies(stack_config={**prod_config, "intent": inline}, stacks_dir=STACKS)
    assert policies[catalog["CL-01"].policy_name].enforcement_level == EnforcementLevel.ADVISORY


def test_framework_is_cis_with_the_sections_of_the_control(catalog: Any) -> None:
    fw = framework_for(catalog["CL-01"], catalog)
    assert fw.name == "CIS"
    assert fw.reference is not None and "eks 5.3.1" in fw.reference and "gke 5.3.1" in fw.reference
    assert fw.version is not None and "eks 1.5.0" in fw.version
    assert fw.specification is not None and "C-0066" in fw.specification
    st = framework_for(catalog["ST-01"], catalog)
    assert st.name != "CIS" and st.reference


def test_config_schema_declares_the_params_the_control_reads(catalog: Any) -> None:
    st01 = config_schema(catalog["ST-01"], catalog)
    assert st01 is not None
    assert st01.properties["minimumBaselineVersion"]["default"] == catalog.baseline_version
    assert st01.properties["minimumBaselineVersion"]["type"] == "string"
    cl08 = config_schema(catalog["CL-08"], catalog)
    assert cl08 is not None and cl08.properties["clusterAdmins"]["type"] == "array"
    assert "default" not in cl08.properties["clusterAdmins"], "a default would override the stack's intent"
    # a control that reads no parameter still accepts the rollout wave
    assert set(config_schema(catalog["CL-01"], catalog).properties) == {"wave"}
    for control in catalog:
        schema = config_schema(control, catalog)
        assert schema is not None and schema.properties["wave"]["enum"] == ["canary", "early", "broad"]
        assert not (set(schema.properties) & EVALUATOR_PARAMS)


def test_every_param_a_control_reads_has_a_schema(catalog: Any) -> None:
    for control in catalog:
        for name in params_read(control):
            assert name in PARAM_SCHEMAS or name in EVALUATOR_PARAMS, f"{control.id} reads params.{name}"


def test_param_schemas_are_the_intent_params(prod_config: dict[str, Any]) -> None:
    intent = intent_from_config(prod_config, base_dir=STACKS)
    assert set(PARAM_SCHEMAS) == set(intent_params(intent))


# --------------------------------------------------------------------------- setup from stack config


def test_setup_reads_the_intent_file_relative_to_the_stacks_dir(prod_config: dict[str, Any]) -> None:
    setup = setup_from_stack_config(prod_config, STACKS)
    assert setup.intent_problem is None
    assert setup.cluster == "prod-eu-1"
    assert setup.params["clusterAdmins"] == ["arn:aws:iam::111122223333:role/platform-admins"]
    assert [e.control for e in setup.exceptions] == ["NS-01"]


def test_setup_without_intent_uses_safe_defaults(catalog: Any, tmp_path: Path) -> None:
    setup = setup_from_stack_config({}, tmp_path)
    assert setup.intent_problem and "fleet-baseline:intent" in setup.intent_problem
    assert setup.params["minimumBaselineVersion"] == catalog.baseline_version
    assert setup.params["clusterAdmins"] == []
    assert setup.modes["CL-01"] == catalog["CL-01"].default_mode
    bad = setup_from_stack_config({"intent": {"baselineVersion": "1.0.0", "clsuter": {}}}, tmp_path)
    assert bad.intent_problem and "invalid" in bad.intent_problem


# --------------------------------------------------------------------------- validation


def test_unwrap_returns_plain_data_with_unknowns_as_sentinels() -> None:
    proxied = unknown_checking_proxy({"a": {"b": [U, {"c": 1}]}, "d": U})
    with pytest.raises(UnknownValueError):
        _ = proxied["d"]
    assert unwrap(proxied) == {"a": {"b": [U, {"c": 1}]}, "d": U}


def test_a_failure_is_reported_with_its_remediation(catalog: Any) -> None:
    policy = _policies(setup=PackSetup.without_intent(catalog, "test"))[catalog["CL-01"].policy_name]
    props = {k: v for k, v in COMPLIANT_CLUSTER.items() if k != "encryptionConfig"}
    [(message, urn)] = _validate(policy, _args(props))
    assert "envelope-encrypt" in message
    assert f"Remediation: {catalog['CL-01'].remediation}" in message
    assert urn is None
    assert _validate(policy, _args(COMPLIANT_CLUSTER)) == []


def test_an_unknown_at_preview_is_the_sdks_unknown_value_error(catalog: Any) -> None:
    policy = _policies(setup=PackSetup.without_intent(catalog, "test"), is_preview=lambda: True)[
        catalog["CL-01"].policy_name
    ]
    props = json.loads(json.dumps(COMPLIANT_CLUSTER))
    props["encryptionConfig"]["provider"]["keyArn"] = U
    with pytest.raises(UnknownValueError) as err:
        _validate(policy, _args(props))
    assert err.value.message == "string value at .encryptionConfig.provider.keyArn can't be known during preview"


def test_an_unknown_outside_preview_fails_closed(catalog: Any) -> None:
    policy = _policies(setup=PackSetup.without_intent(catalog, "test"), is_preview=lambda: False)[
        catalog["CL-01"].policy_name
    ]
    props = json.loads(json.dumps(COMPLIANT_CLUSTER))
    props["encryptionConfig"]["provider"]["keyArn"] = U
    [(message, _)] = _validate(policy, _args(props))
    assert "failing closed" in message and "encryptionConfig.provider.keyArn" in message


def test_an_evaluation_error_on_known_data_fails_closed_even_at_preview(catalog: Any) -> None:
    policy = _policies(setup=PackSetup.without_intent(catalog, "test"), is_preview=lambda: True)[
        catalog["CL-01"].policy_name
    ]
    props = json.loads(json.dumps(COMPLIANT_CLUSTER))
    props["encryptionConfig"]["resources"] = "secrets"  # a string, not a list: `in` has no overload
    [(message, _)] = _validate(policy, _args(props))
    assert "evaluation error on known data" in message and "failing closed" in message


def test_policy_config_overrides_the_minimum_baseline_version(catalog: Any) -> None:
    policy = _policies(setup=PackSetup.without_intent(catalog, "test"))[catalog["ST-01"].policy_name]
    assert _validate(policy, _args(COMPLIANT_CLUSTER)) == []
    [(message, _)] = _validate(policy, _args(COMPLIANT_CLUSTER, {"minimumBaselineVersion": "1.2.0"}))
    assert "stale template" in message
    assert _validate(policy, _args(COMPLIANT_CLUSTER, {"minimumBaselineVersion": "0.9.0"})) == []


def test_an_intent_exception_waives_the_failure(catalog: Any, prod_config: dict[str, Any]) -> None:
    setup = setup_from_stack_config(prod_config, STACKS)
    policy = _policies(setup=setup, today=dt.date(2026, 1, 1))[catalog["NS-01"].policy_name]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "observability", "labels": {}}}
    assert _validate(policy, _args(namespace, type_="kubernetes:core/v1:Namespace")) == []
    other = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {}}}
    assert len(_validate(policy, _args(other, type_="kubernetes:core/v1:Namespace"))) == 1


def test_without_intent_violations_say_the_params_were_defaulted(catalog: Any) -> None:
    policy = _policies(setup=setup_from_stack_config({}, STACKS))[catalog["CL-08"].policy_name]
    assoc = {
        "clusterName": "c",
        "principalArn": "arn:aws:iam::111122223333:role/someone",
        "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "accessScope": {"type": "cluster"},
    }
    [(message, _)] = _validate(policy, _args(assoc, type_="aws:eks/accessPolicyAssociation:AccessPolicyAssociation"))
    assert "Note: no fleet-baseline:intent" in message and "clusterAdmins=[]" in message


def _resource(urn: str, type_: str, props: dict[str, Any]) -> PolicyResource:
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return PolicyResource(type_, unknown_checking_proxy(props), urn, urn.rsplit("::", 1)[1], opts, None, None, [], {})


def test_stack_policy_reports_against_the_resource_urn(catalog: Any) -> None:
    policy = _policies(setup=PackSetup.without_intent(catalog, "test"))[catalog["NS-02"].policy_name]
    ns_urn = "urn:pulumi:t::fleet-baseline::kubernetes:core/v1:Namespace::shop"
    ns = _resource(
        ns_urn, "kubernetes:core/v1:Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    )
    deny = _resource(
        "urn:pulumi:t::fleet-baseline::kubernetes:networking.k8s.io/v1:NetworkPolicy::deny",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
    )
    reported: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs([ns]), lambda m, u=None: reported.append((m, u)))
    assert [u for _, u in reported] == [ns_urn]
    reported.clear()
    policy.validate(StackValidationArgs([ns, deny]), lambda m, u=None: reported.append((m, u)))
    assert reported == []


# --------------------------------------------------------------------------- one evaluation per resource


PRIVILEGED_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "shop"},
    "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]},
}


def test_every_policy_asked_about_a_resource_costs_one_evaluation(
    catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks every resource policy about every resource; the pack evaluates the resource
    once, and a policy whose targets cannot apply to the type does not even copy its properties."""
    import policy_packs.factory as factory
    from baseline.evaluator import Evaluator

    calls: list[str] = []
    real = Evaluator.evaluate
    monkeypatch.setattr(Evaluator, "evaluate", lambda self, s: calls.append(s.ref) or real(self, s))
    unwrapped: list[Any] = []
    real_unwrap = factory.unwrap
    depth = [0]

    def counted_unwrap(value: Any) -> Any:  # unwrap recurses: count the outermost calls
        unwrapped.extend([value] if depth[0] == 0 else [])
        depth[0] += 1
        try:
            return real_unwrap(value)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(factory, "unwrap", counted_unwrap)

    def ask_all(props: dict[str, Any], type_: str) -> dict[str, list[tuple[str, str | None]]]:
        policies = build_policies(catalog, is_preview=lambda: True)
        policies = [p for p in policies if isinstance(p, ResourceValidationPolicy)]
        return {p.name: _validate(p, _args(props, type_=type_)) for p in policies}

    pod = "kubernetes:core/v1:Pod"
    first = ask_all(PRIVILEGED_POD, pod)
    assert calls == [URN]
    applicable = {
        c.policy_name
        for c in catalog
        for t in c.applicable_targets()
        if t.scope == "object" and ("", "Pod") in {(k.group, k.kind) for k in t.kinds}
    }
    assert len(unwrapped) == len(applicable) < len(first)  # the others returned before copying anything
    assert first["pod-01-no-privileged-containers"]
    # the same answers as evaluating afresh for each policy, and a changed resource is evaluated again
    changed = {**PRIVILEGED_POD, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    second = ask_all(changed, pod)
    assert calls == [URN, URN]
    assert second != first
    assert not [n for n, v in second.items() if v and n.startswith("pod-01")]
