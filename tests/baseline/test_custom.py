"""Custom controls: the same format and checks as the built-ins, ids apart from them, and everywhere the
built-ins are (catalog, intent modes, evaluator, admission renders, the pack's policies)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from baseline.catalog import CatalogError, intent_catalog, load_catalog
from baseline.cli import main
from baseline.custom import check_custom_controls
from baseline.evaluator import Evaluator, Subject
from baseline.loader import IntentError, intent_from_config
from policy_packs.factory import build_policies
from providers.admission import render_admission
from tests.conftest import REPO_ROOT, STACKS_DIR

CUSTOM = REPO_ROOT / "tests" / "fixtures" / "custom_controls"
BUILT_IN = REPO_ROOT / "baseline" / "controls"


def _stack_config(custom: list[str], **intent: object) -> dict[str, object]:
    return {
        "intentFile": "intents/prod.yaml",
        "intent": {
            "cluster": {"cloud": "eks", "eks": {"region": "eu-west-1", "subnetIds": ["subnet-a", "subnet-b"]}},
            "customControls": custom,
            **intent,
        },
    }


def test_validate_accepts_a_good_directory_and_runs_its_examples() -> None:
    result = check_custom_controls(CUSTOM)
    assert result.ok and result.controls == ["X-ACME-01"] and result.examples == 2
    out, err = io.StringIO(), io.StringIO()
    assert main(["controls", "validate", str(CUSTOM)], out=out, err=err) == 0
    assert "X-ACME-01: 2 examples" in out.getvalue()


def test_a_custom_id_cannot_take_a_built_in_shape_and_ids_cannot_repeat(tmp_path: Path) -> None:
    shutil.copytree(BUILT_IN / "CL-01", tmp_path / "mine" / "CL-01")
    with pytest.raises(CatalogError, match=r"a custom control's id is X-<NAME>-NN"):
        load_catalog(extra=[tmp_path / "mine"])
    err = io.StringIO()
    assert main(["controls", "validate", str(tmp_path / "mine")], out=io.StringIO(), err=err) == 2
    assert "X-<NAME>-NN" in err.getvalue()
    shutil.copytree(CUSTOM, tmp_path / "again")
    with pytest.raises(CatalogError, match="X-ACME-01 is already defined in another directory"):
        load_catalog(extra=[CUSTOM, tmp_path / "again"])
    with pytest.raises(CatalogError, match="no such directory"):
        load_catalog(extra=[tmp_path / "nope"])


def test_validate_reports_an_example_judged_otherwise_and_an_expression_that_does_not_compile(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(CUSTOM, bad)
    shutil.move(bad / "X-ACME-01/examples/pass/labelled.yaml", bad / "X-ACME-01/examples/fail/labelled.yaml")
    result = check_custom_controls(bad)
    assert any("labelled.yaml: expected fail, got pass" in p for p in result.problems)
    assert any("no pass example" in p for p in result.problems)
    control = bad / "X-ACME-01" / "control.yaml"
    data = yaml.safe_load(control.read_text())
    data["targets"][0]["expression"] = "object.metadata.labels.exists("
    control.write_text(yaml.safe_dump(data))
    result = check_custom_controls(bad)
    assert not result.ok and "X-ACME-01" in result.problems[0]


def test_the_intent_names_custom_controls_relative_to_the_stack_config_directory(tmp_path: Path) -> None:
    shutil.copytree(STACKS_DIR / "intents", tmp_path / "intents")
    shutil.copytree(CUSTOM, tmp_path / "controls")
    intent = intent_from_config(
        _stack_config(["controls"], admission={"modes": {"X-ACME-01": "enforce"}}), base_dir=tmp_path
    )
    assert intent.custom_controls == [str((tmp_path / "controls").resolve())]
    catalog = intent_catalog(intent)
    assert "X-ACME-01" in catalog and "CL-01" in catalog and list(catalog)[-1].id == "X-ACME-01"
    # its mode and its exceptions work as a built-in's; an unknown custom id is refused like a built-in one
    assert intent.mode_for("X-ACME-01", "audit") == "enforce"
    with pytest.raises(IntentError, match=r"admission\.modes\.X-ACME-02: no control 'X-ACME-02'"):
        intent_from_config(_stack_config(["controls"], admission={"modes": {"X-ACME-02": "audit"}}), base_dir=tmp_path)
    with pytest.raises(IntentError, match=r"customControls: .*nope: no such directory"):
        intent_from_config(_stack_config(["nope"]), base_dir=tmp_path)


def test_custom_controls_reach_the_evaluator_every_admission_engine_and_the_pack(tmp_path: Path) -> None:
    shutil.copytree(STACKS_DIR / "intents", tmp_path / "intents")
    shutil.copytree(CUSTOM, tmp_path / "controls")
    config = _stack_config(["controls"], admission={"modes": {"X-ACME-01": "enforce"}})
    intent = intent_from_config(config, base_dir=tmp_path)
    findings = Evaluator.for_intent(intent).evaluate(
        Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    )
    (finding,) = [f for f in findings if f.control_id == "X-ACME-01"]
    assert finding.status == "fail" and finding.mode == "enforce"
    for engine in ("vap", "kyverno", "gatekeeper"):
        names = [m["metadata"]["name"] for m in render_admission(intent, engine=engine)]
        assert any("x-acme-01" in name for name in names), engine
    policies = build_policies(stack_config=config, stacks_dir=tmp_path, is_preview=lambda: True)
    (policy,) = [p for p in policies if p.name == "x-acme-01-namespace-cost-center"]
    assert policy.enforcement_level.value == "mandatory"


def test_custom_controls_reach_the_fleet_report(tmp_path: Path) -> None:
    state = REPO_ROOT / "tests" / "fixtures" / "state" / "eks-prod.json.gz"
    shutil.copytree(STACKS_DIR, tmp_path / "stacks")
    shutil.copytree(CUSTOM, tmp_path / "stacks" / "controls")
    stack_file = tmp_path / "stacks" / "Pulumi.eks-prod.yaml"
    stack = yaml.safe_load(stack_file.read_text())
    stack["config"]["fleet-baseline:intent"]["customControls"] = ["controls"]
    stack_file.write_text(yaml.safe_dump(stack))
    (tmp_path / "exports").mkdir()
    shutil.copy(state, tmp_path / "exports" / "eks-prod.json.gz")
    out = io.StringIO()
    args = ["fleet", "--state-dir", str(tmp_path / "exports"), "--stacks-dir", str(tmp_path / "stacks")]
    assert main([*args, "--format", "json", "--today", "2026-11-22"], out=out, err=io.StringIO()) == 0
    (cluster,) = json.loads(out.getvalue())["clusters"]
    assert cluster["cells"]["X-ACME-01"]["status"] == "fail"  # the sample namespaces carry no cost center
