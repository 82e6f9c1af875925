"""``fleet-baseline plan``: engine-side encoding, the program under mocks, the CLI's exit codes and output.

The end-to-end tests start the real policy pack as a subprocess (marked slow). Bad input is refused
before any pack is started or resource registered.
"""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import baseline.plan as plan
from baseline.cli import main
from baseline.plan import (
    PackInfo,
    PlanError,
    PolicyInfo,
    ProgramError,
    engine_config,
    engine_marshal,
    load_policy_pack_config,
    read_stack_file,
    reconcile_policy_config,
    run_program,
)

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "policy_packs" / "fixtures"
FIXTURE_PROGRAM = FIXTURES / "program"
FIXTURE_STACKS = FIXTURES / "stacks"
PACK = REPO / "policy_packs" / "baseline"
STACKS = REPO / "stacks"
U = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t"}


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _plan(*argv: str) -> tuple[int, str, str]:
    return _cli("plan", "--policy-pack", str(PACK), *argv)


def _fixture_stack(tmp_path: Path, name: str, extra: str = "", intent_extra: str = "") -> Path:
    """A stack file for the fixture program: the compliant one plus extra config / intent lines."""
    text = (FIXTURE_STACKS / "Pulumi.fixture-ok.yaml").read_text()
    text = text.replace("  aws:region: eu-west-1\n", "  aws:region: eu-west-1\n" + extra)
    text += textwrap.indent(intent_extra, "    ")
    (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return tmp_path


@pytest.fixture
def no_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if plan tries to start a policy pack."""

    def refuse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("a policy pack was started")

    monkeypatch.setattr(plan.run, "PackProcess", refuse)
    monkeypatch.setattr(plan.run, "run_program", refuse)


# --------------------------------------------------------------------------- engine-side encoding


def test_engine_config_encodes_like_the_engine() -> None:
    encoded = engine_config({"aws:region": "eu-west-1", "p:n": 3, "p:b": True, "p:o": {"b": [1, "x"], "a": None}})
    assert encoded == {"aws:region": "eu-west-1", "p:n": "3", "p:b": "true", "p:o": '{"a":null,"b":[1,"x"]}'}


def test_engine_marshal_keeps_unknowns_and_secrets_and_downgrades_references() -> None:
    ref = {"4dabf18193072939515e22adb298388d": "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:x", "id": "i-1"}
    ref_no_id = {"4dabf18193072939515e22adb298388d": "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:y"}
    value = {"a": U, "s": SECRET, "r": ref, "q": [ref_no_id], "__defaults": ["a"], "n": {"__x": 1, "k": 2}}
    assert engine_marshal(value) == {"a": U, "s": SECRET, "r": "i-1", "q": ["urn:y"], "n": {"k": 2}}


def test_read_stack_file_qualifies_keys_and_refuses_secrets(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.a.yaml").write_text("config:\n  aws:region: eu-west-1\n  intentFile: x.yaml\n")
    assert read_stack_file(tmp_path / "Pulumi.a.yaml") == {
        "aws:region": "eu-west-1",
        "fleet-baseline:intentFile": "x.yaml",
    }
    (tmp_path / "Pulumi.b.yaml").write_text("config:\n  aws:secretKey:\n    secure: AAAB\n")
    with pytest.raises(PlanError, match="aws:secretKey is a secret"):
        read_stack_file(tmp_path / "Pulumi.b.yaml")


def test_policy_pack_config_is_parsed_like_the_engine(tmp_path: Path) -> None:
    f = tmp_path / "c.json"
    f.write_text(
        json.dumps({"all": "advisory", "st-01-x": {"enforcementLevel": "mandatory", "minimumBaselineVersion": "2.0.0"}})
    )
    assert load_policy_pack_config(f) == {
        "all": ("advisory", {}),
        "st-01-x": ("mandatory", {"minimumBaselineVersion": "2.0.0"}),
    }
    f.write_text(json.dumps({"p": "blocking"}))
    with pytest.raises(PlanError, match="not a valid enforcement level"):
        load_policy_pack_config(f)
    f.write_text("{")
    with pytest.raises(PlanError, match="not valid JSON"):
        load_policy_pack_config(f)


def _info() -> PackInfo:
    schema = {"minimumBaselineVersion": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$", "default": "1.0.0"}}
    return PackInfo(
        name="p",
        version="1",
        description="",
        supports_config=True,
        policies=(
            PolicyInfo("a", "A.", "mandatory", "high", "resource", config_schema=schema),
            PolicyInfo("b", "B.", "advisory", "low", "resource"),
        ),
    )


def test_reconcile_fills_defaults_then_all_then_per_policy_and_validates() -> None:
    assert reconcile_policy_config(_info()) == {
        "a": ("mandatory", {"minimumBaselineVersion": "1.0.0"}),
        "b": ("advisory", {}),
    }
    given = {"all": ("disabled", {}), "a": (None, {"minimumBaselineVersion": "2.0.0"}), "zzz": ("advisory", {})}
    assert reconcile_policy_config(_info(), given) == {
        "a": ("disabled", {"minimumBaselineVersion": "2.0.0"}),
        "b": ("disabled", {}),
    }
    with pytest.raises(PlanError, match="policy 'a': minimumBaselineVersion"):
        reconcile_policy_config(_info(), {"a": (None, {"minimumBaselineVersion": "two"})})


# --------------------------------------------------------------------------- the program under mocks


def test_run_program_captures_what_the_engine_receives() -> None:
    config = engine_config(read_stack_file(FIXTURE_STACKS / "Pulumi.fixture-ok.yaml"))
    run = run_program(FIXTURE_PROGRAM, stack="t", config=config)
    by_name = {r.name: r for r in run.resources}
    stack = by_name["fleet-baseline-t"]
    assert stack.type == "pulumi:pulumi:Stack" and stack.outputs.get("endpoint", "").startswith("https://")
    cluster, key, ns, deny = by_name["fixture-1"], by_name["secrets"], by_name["shop"], by_name["shop-default-deny"]
    # URNs as the engine makes them: children of the root stack are not qualified by its type
    assert cluster.urn == "urn:pulumi:t::fleet-baseline::aws:eks/cluster:Cluster::fixture-1"
    assert deny.urn == (
        "urn:pulumi:t::fleet-baseline::kubernetes:core/v1:Namespace$kubernetes:networking.k8s.io/v1:NetworkPolicy"
        "::shop-default-deny"
    )
    assert cluster.parent == stack.urn and deny.parent == ns.urn
    assert cluster.protect
    assert key.urn in cluster.dependencies
    assert cluster.property_dependencies["encryptionConfig"] == (key.urn,)
    assert ns.provider.startswith(by_name["k8s"].urn + "::")
    assert ns.urn in deny.dependencies
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"] == key.outputs["arn"]
    assert cluster.outputs["identities"][0]["oidcs"][0]["issuer"].startswith("https://oidc.eks.eu-west-1.")


def test_run_program_at_preview_leaves_computed_values_unknown() -> None:
    config = engine_config(read_stack_file(FIXTURE_STACKS / "Pulumi.fixture-ok.yaml"))
    run = run_program(FIXTURE_PROGRAM, stack="t", config=config, preview=True)
    cluster = next(r for r in run.resources if r.type == "aws:eks/cluster:Cluster")
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"] == U


def test_run_program_refuses_duplicate_urns(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("import pulumi_aws as aws\naws.kms.Key('k')\naws.kms.Key('k')\n")
    with pytest.raises(ProgramError, match="duplicate resource URNs"):
        run_program(tmp_path, stack="t", config={})


# --------------------------------------------------------------------------- bad input: exit 2, nothing started


def test_a_misspelled_intent_key_exits_2_naming_the_path(tmp_path: Path, no_pack: None) -> None:
    stacks = _fixture_stack(tmp_path, "typo")
    f = stacks / "Pulumi.typo.yaml"
    f.write_text(f.read_text().replace("owner: platform-team", "ownr: platform-team"))
    code, out, err = _plan("--stack", "typo", "--stacks-dir", str(stacks), "--program", str(FIXTURE_PROGRAM))
    assert code == 2 and out == ""
    assert "cluster.ownr: unknown key (misspelled?)" in err
    assert "Traceback" not in err


def test_an_exception_without_owner_exits_2_naming_the_path(tmp_path: Path, no_pack: None) -> None:
    exc = (
        "exceptions:\n"
        "  - {control: POD-01, scope: {namespace: shop}, reason: a reason long enough, expires: 2030-01-01}\n"
    )
    stacks = _fixture_stack(tmp_path, "noowner", intent_extra=exc)
    code, _, err = _plan("--stack", "noowner", "--stacks-dir", str(stacks), "--program", str(FIXTURE_PROGRAM))
    assert code == 2
    assert "exceptions[0].owner" in err and "Traceback" not in err


def test_unknown_stack_and_bad_pack_config_exit_2(tmp_path: Path, no_pack: None) -> None:
    code, _, err = _plan("--stack", "nope", "--stacks-dir", str(FIXTURE_STACKS))
    assert code == 2 and "no stack file" in err and "fixture-ok" in err
    bad = tmp_path / "c.json"
    bad.write_text('{"x": 1}')
    code, _, err = _plan(
        "--stack", "fixture-ok", "--stacks-dir", str(FIXTURE_STACKS), "--program", str(FIXTURE_PROGRAM),
        "--policy-pack-config", str(bad),
    )  # fmt: skip
    assert code == 2 and "must be an enforcement level or an object" in err


def test_usage_errors_exit_2_without_traceback() -> None:
    code, _, err = _cli("plan")
    assert code == 2 and "--stack" in err and "Traceback" not in err
    code, _, _ = _cli()
    assert code == 2


# --------------------------------------------------------------------------- end to end (the pack as a subprocess)


@pytest.mark.slow
def test_the_compliant_fixture_stack_lists_its_resources_and_passes_its_controls() -> None:
    code, out, err = _plan(
        "--stack", "fixture-ok", "--stacks-dir", str(FIXTURE_STACKS), "--program", str(FIXTURE_PROGRAM)
    )
    assert code in (0, 1), err
    assert "aws:eks/cluster:Cluster" in out and "fixture-1" in out
    assert "kubernetes:networking.k8s.io/v1:NetworkPolicy" in out and "shop-default-deny" in out
    # The controls this fixture exercises pass; the catalog keeps growing, and eks-prod is the stack
    # that must stay all green (test_eks_prod_is_compliant).
    for policy in ("pod-01-", "st-01-", "ns-02-", "cl-01-"):
        assert policy not in out


@pytest.mark.slow
def test_a_non_compliant_fixture_stack_exits_1_naming_the_controls(tmp_path: Path) -> None:
    extra = "  fixture:privileged: true\n  fixture:defaultDeny: false\n  fixture:stamp: '0.9.0'\n"
    stacks = _fixture_stack(tmp_path, "bad", extra=extra)
    code, out, err = _plan("--stack", "bad", "--stacks-dir", str(stacks), "--program", str(FIXTURE_PROGRAM), "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["blocked"] is True
    failing = {(v["control"], v["name"]) for v in doc["violations"] if v["enforcementLevel"] == "mandatory"}
    assert {("POD-01", "web"), ("ST-01", "fixture-1"), ("ST-01", "shop"), ("NS-02", "shop")} <= failing
    assert set(doc) >= {"stack", "resources", "violations", "blocked", "counts", "pack"}
    assert all({"urn", "type", "name"} <= set(r) for r in doc["resources"])


@pytest.mark.slow
def test_preview_reports_unknowns_as_advisory_not_a_block(tmp_path: Path) -> None:
    code, out, err = _plan(
        "--stack", "fixture-ok", "--stacks-dir", str(FIXTURE_STACKS), "--program", str(FIXTURE_PROGRAM),
        "--preview", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    [cl01] = [v for v in doc["violations"] if v["control"] == "CL-01"]
    assert cl01["undecided"] and cl01["enforcementLevel"] == "advisory" and cl01["name"] == "fixture-1"
    assert doc["preview"] is True and doc["blocked"] is False


@pytest.mark.slow
def test_a_failing_program_exits_3_and_the_pack_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "__main__.py").write_text("raise RuntimeError('boom')\n")
    stacks = _fixture_stack(tmp_path, "boom")
    started: list[Any] = []
    real = plan.PackProcess

    def tracking(*a: Any, **k: Any) -> Any:
        started.append(real(*a, **k))
        return started[-1]

    monkeypatch.setattr(plan.run, "PackProcess", tracking)
    code, _, err = _plan("--stack", "boom", "--stacks-dir", str(stacks), "--program", str(tmp_path))
    assert code == 3 and "RuntimeError: boom" in err and "Traceback" not in err
    [pack] = started
    assert pack._proc is None  # closed: killed and reaped


@pytest.mark.slow
def test_eks_prod_is_compliant() -> None:
    code, out, err = _plan("--stack", "eks-prod", "--stacks-dir", str(STACKS))
    assert code == 0, err + out
    for token in ("aws:eks/cluster:Cluster", "aws:eks/accessEntry:AccessEntry", "aws:eks/nodeGroup:NodeGroup",
                  "kubernetes:core/v1:Namespace", "kubernetes:networking.k8s.io/v1:NetworkPolicy"):  # fmt: skip
        assert token in out


UNREACHABLE = "nothing admits the machine running `pulumi up`"


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["eks-prod", "gke-prod", "aks-prod"])
def test_prod_samples_warn_that_the_deployer_cannot_reach_the_private_endpoint(stack: str) -> None:
    """No deployer network in the prod samples: plan says the Kubernetes half of `up` would time out."""
    code, out, err = _plan("--stack", stack, "--stacks-dir", str(STACKS), "--json")
    assert code == 0, err
    warnings = [d["message"] for d in json.loads(out)["diagnostics"] if d["severity"] == "warning"]
    assert any(UNREACHABLE in w and "deployerInNetwork" in w for w in warnings), warnings


@pytest.mark.slow
def test_json_carries_each_resources_inputs_secrets_masked_and_dependencies() -> None:
    """Like `pulumi preview --json` steps' new state: reviewers and CI read what will be created."""
    code, out, err = _plan("--stack", "eks-prod", "--stacks-dir", str(STACKS), "--json")
    assert code == 0, err
    resources = {r["name"]: r for r in json.loads(out)["resources"]}
    cluster = resources["prod-eu-1-cluster"]
    assert cluster["inputs"]["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] is False
    provider = resources["prod-eu-1-k8s"]
    assert provider["inputs"]["kubeconfig"] == "[secret]"  # a secret input is never printed
    assert "kubelogin" not in out and "get-token" not in out
    association = resources["prod-eu-1-access-platform-admins"]
    assert association["urn"] in provider["dependencies"]
    release_free = [r for r in resources.values() if r["type"] == "kubernetes:core/v1:Namespace"]
    assert release_free and all(r["inputs"]["metadata"]["labels"] for r in release_free)


@pytest.mark.slow
def test_a_deployer_inside_the_network_gets_no_reachability_warning(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    shutil.copytree(STACKS, stacks, ignore=shutil.ignore_patterns("__pycache__"))
    stack_file = stacks / "Pulumi.gke-prod.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["fleet-baseline:intent"]["hardening"]["endpoint"] = {"deployerCidrs": ["10.20.0.0/24"]}
    stack_file.write_text(yaml.safe_dump(data))
    code, out, err = _plan("--stack", "gke-prod", "--stacks-dir", str(stacks), "--json")
    assert code == 0, err
    assert UNREACHABLE not in out


@pytest.mark.slow
def test_eks_stale_is_blocked_by_the_stale_template_controls() -> None:
    code, out, err = _plan("--stack", "eks-stale", "--stacks-dir", str(STACKS), "--json")
    assert code == 1, err
    doc = json.loads(out)
    mandatory = {v["control"] for v in doc["violations"] if v["enforcementLevel"] == "mandatory"}
    assert {"CL-01", "CL-03", "CL-04", "RB-06", "ST-01"} <= mandatory
    assert all(set(d) == {"severity", "message"} for d in doc["diagnostics"])


@pytest.mark.slow
def test_policy_pack_config_raises_the_minimum_and_changes_levels(tmp_path: Path) -> None:
    cfg = tmp_path / "pack.json"
    cfg.write_text(
        json.dumps({"st-01-baseline-version-current": {"minimumBaselineVersion": "1.2.0"}, "all": "advisory"})
    )
    code, out, err = _plan(
        "--stack", "eks-prod", "--stacks-dir", str(STACKS), "--policy-pack-config", str(cfg), "--json"
    )
    assert code == 0, err  # "all": advisory: reported, not blocking
    doc = json.loads(out)
    st01 = [v for v in doc["violations"] if v["control"] == "ST-01"]
    assert st01 and all(v["enforcementLevel"] == "advisory" for v in st01)
    assert {v["type"] for v in st01} == {"aws:eks/cluster:Cluster", "kubernetes:core/v1:Namespace"}
