"""``fleet-baseline controls``: the catalog with where each target is enforced, derived not stated."""

from __future__ import annotations

import io
import json
from pathlib import Path

from baseline.catalog import load_catalog
from baseline.cli import main

ROOT = Path(__file__).resolve().parents[3]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_json_lists_every_control_with_its_targets() -> None:
    code, out, _ = run("controls", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert set(rows) == load_catalog().ids()
    cl01 = rows["CL-01"]
    assert cl01["severity"] == "high" and cl01["mode"] == "enforce" and "C-0066" in cl01["references"]
    eks = next(t for t in cl01["targets"] if t["target"] == "aws:eks/cluster:Cluster")
    assert (eks["preview"], eks["admission"], eks["audit"]) == (True, False, True)
    assert "CrossGuard" in eks["notAtAdmission"]


def test_admission_and_stack_scope_are_told_apart() -> None:
    _, out, _ = run("controls", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    pod = rows["POD-01"]["targets"][0]
    assert (pod["preview"], pod["admission"], pod["audit"]) == (True, True, True)
    ns02 = rows["NS-02"]["targets"][0]
    assert ns02["scope"] == "stack" and not ns02["admission"] and ns02["preview"]
    assert "stack-scoped" in ns02["notAtAdmission"]


def test_not_applicable_entries_name_what_covers_them() -> None:
    _, out, _ = run("controls", "--json")
    cl12 = next(r for r in json.loads(out) if r["id"] == "CL-12")
    eks = next(t for t in cl12["targets"] if t["cloud"] == "eks")
    assert "POD-11" in eks["coveredBy"] and not (eks["preview"] or eks["admission"] or eks["audit"])


def test_modes_follow_the_stacks_intent(tmp_path: Path) -> None:
    (tmp_path / "intent.yaml").write_text((ROOT / "stacks" / "intents" / "prod.yaml").read_text())
    (tmp_path / "Pulumi.canary.yaml").write_text(
        "config:\n"
        "  fleet-baseline:intentFile: intent.yaml\n"
        "  fleet-baseline:intent:\n"
        "    cluster: {cloud: eks, eks: {region: eu-west-1, subnetIds: [subnet-a, subnet-b]}}\n"
        "    rollout: {wave: canary}\n"
        "    admission: {modes: {POD-10: enforce}, waves: {canary: {POD-13: audit}}}\n"
    )
    code, out, _ = run("controls", "--json", "--stack", "canary", "--stacks-dir", str(tmp_path))
    assert code == 0
    modes = {r["id"]: r["mode"] for r in json.loads(out)}
    assert modes["POD-10"] == "enforce" and modes["POD-13"] == "audit" and modes["CL-10"] == "audit"


def test_text_table_and_bad_stack() -> None:
    code, out, _ = run("controls")
    assert code == 0 and out.startswith("ID") and "covered by:" in out and "admission yes" in out
    code, _, err = run("controls", "--stack", "nope")
    assert code == 2 and "cannot read" in err


def test_pack_config_writes_each_policys_level_for_a_wave(tmp_path: Path) -> None:
    out_file = tmp_path / "canary.json"
    code, _, _ = run("pack-config", "--stack", "eks-prod", "--wave", "canary", "--out", str(out_file))
    assert code == 0
    config = json.loads(out_file.read_text())
    catalog = load_catalog()
    assert config[catalog["CL-01"].policy_name] == {"enforcementLevel": "mandatory", "wave": "canary"}
    assert config[catalog["CL-10"].policy_name] == {"enforcementLevel": "advisory", "wave": "canary"}
    # a control with object and stack targets has two policies, both configured
    assert config[catalog["CL-05"].policy_name + "-stack"]["wave"] == "canary"
    code, _, err = run("pack-config", "--stack", "eks-prod", "--wave", "everywhere")
    assert code == 2 and "invalid choice" in err


def test_docs_controls_md_is_generated_and_has_no_blank_cell() -> None:
    from baseline.render.listing import CLOUDS, control_cloud_matrix, format_matrix_markdown

    catalog = load_catalog()
    committed = (ROOT / "docs" / "controls.md").read_text(encoding="utf-8")
    regenerate = "regenerate: fleet-baseline controls --matrix > docs/controls.md"
    assert committed == format_matrix_markdown(catalog), regenerate
    rows = control_cloud_matrix(catalog)
    assert [r["id"] for r in rows] == [c.id for c in catalog]
    blank = [(r["id"], cloud) for r in rows for cloud in CLOUDS if not r[cloud].strip()]
    assert blank == []
    # a cell is a resource with the fields the CEL reads, or a named "covered by" entry
    cl07 = next(r for r in rows if r["id"] == "CL-07")
    assert "launchTemplate" in cl07["eks"] and "metadataOptions.httpTokens" in cl07["eks"]
    assert cl07["aks"].startswith("n/a:") and "NS-03" in cl07["aks"]


def test_json_carries_why_and_how_to_fix_each_control_and_target() -> None:
    _, out, _ = run("controls", "--json")
    catalog = load_catalog()
    for row in json.loads(out):
        control = catalog[row["id"]]
        assert row["rationale"] == " ".join(control.rationale.split()) and row["rationale"]
        assert row["remediation"] == " ".join(control.remediation.split()) and row["remediation"]
        assert row["description"] == control.description
        for target, row_target in zip(control.targets, row["targets"], strict=True):
            if target.not_applicable is None:
                assert row_target["message"] == " ".join(target.message.split())


def test_explain_prints_the_whole_control() -> None:
    code, out, _ = run("explain", "cl-03")
    assert code == 0
    control = load_catalog()["CL-03"]
    flat = " ".join(out.split())
    for text in (control.title, control.rationale, control.remediation, control.targets[0].message):
        assert " ".join(text.split()) in flat
    assert "eks 5.4.1" in out and "aws:eks/cluster:Cluster: runs at: preview, audit" in out
    assert run("explain", control.policy_name)[1] == out  # by policy name too
    code, js, _ = run("explain", "POD-01", "--json")
    row = json.loads(js)
    assert code == 0 and row["id"] == "POD-01" and row["examples"]["fail"] >= 1
    assert row["targets"][0]["admission"] is True


def test_explain_an_unknown_control_is_bad_input_listing_the_known_ones() -> None:
    code, _, err = run("explain", "XX-99")
    assert code == 2 and "no control 'XX-99'" in err and "CL-01" in err
