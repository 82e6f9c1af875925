"""``baseline.audit`` and ``fleet-baseline audit``: findings from manifests, state and live clusters,
each routed to its owner; exit codes 0 clean, 1 failures at or above --fail-on, 2 bad input.

The must-show: the eks-prod state export with three hand drifts (recorded by refresh in the outputs)
reports exactly CL-02, CL-03 and NS-01, each with its owner; the undrifted export reports nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from baseline.audit import audit, exceptions_from_records, route_owner
from baseline.audit.sources import Snapshot, read_manifests, read_state
from baseline.cli import main
from baseline.evaluator import Evaluator, Finding
from tests.conftest import load_stack_intent
from tests.fixtures.kube_api import RecordedApi
from tests.fixtures.state_export import CLEAN, DRIFTED, DRIFTED_NAMESPACE

TODAY = "2026-01-15"
CLUSTER_URN = (
    "urn:pulumi:eks-prod::fleet-baseline::fleet-baseline:eks:Cluster$aws:eks/cluster:Cluster::prod-eu-1-cluster"
)
SHOP_URN = (
    "urn:pulumi:eks-prod::fleet-baseline::fleet-baseline:eks:Cluster$fleet-baseline:kubernetes:InClusterBaseline"
    f"$kubernetes:core/v1:Namespace::prod-eu-1-baseline-{DRIFTED_NAMESPACE}"
)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _evaluator(today: str = TODAY) -> tuple[Any, Evaluator]:
    intent = load_stack_intent("eks-prod")
    return intent, Evaluator.for_intent(intent, today=dt.date.fromisoformat(today))


def _fails(findings: list[Finding]) -> list[tuple[str, str, str | None, str | None]]:
    return sorted((f.control_id, f.subject, f.owner, f.cluster) for f in findings if f.status == "fail")


# =========================================================================== the must-show


def test_drifted_export_reports_exactly_the_three_drifts_with_owners() -> None:
    intent, evaluator = _evaluator()
    findings = audit(read_state(DRIFTED), evaluator, intent=intent)
    assert _fails(findings) == [
        ("CL-02", CLUSTER_URN, "platform-team", "prod-eu-1"),
        ("CL-03", CLUSTER_URN, "platform-team", "prod-eu-1"),
        ("NS-01", SHOP_URN, "shop-team", "prod-eu-1"),
    ]
    assert not [f for f in findings if f.status in {"unknown", "excepted"}]
    assert all(f.owner and f.cluster == "prod-eu-1" for f in findings)


def test_undrifted_export_reports_nothing() -> None:
    intent, evaluator = _evaluator()
    findings = audit(read_state(CLEAN), evaluator, intent=intent)
    assert len(findings) > 40
    assert {f.status for f in findings} == {"pass"}


def test_cli_state_drifted_and_clean() -> None:
    code, out, err = _cli("audit", "--state", str(DRIFTED), "--stack", "eks-prod", "--format", "json", "--today", TODAY)
    assert code == 1, err
    report = json.loads(out)
    failing = sorted(
        (f["control"], f["owner"], f.get("namespace")) for f in report["findings"] if f["status"] == "fail"
    )
    assert failing == [
        ("CL-02", "platform-team", None),
        ("CL-03", "platform-team", None),
        ("NS-01", "shop-team", "shop"),
    ]
    assert report["cluster"] == "prod-eu-1"
    assert "audit: 3 failing, 0 undecided, 0 excepted; 3 at or above high" in err
    code, out, err = _cli("audit", "--state", str(CLEAN), "--stack", "eks-prod", "--format", "json", "--today", TODAY)
    assert code == 0, err
    assert not [f for f in json.loads(out)["findings"] if f["status"] != "pass"]


@pytest.mark.parametrize(("fail_on", "code"), [("low", 1), ("medium", 1), ("high", 1), ("critical", 0)])
def test_fail_on(fail_on: str, code: int) -> None:
    """The three drifts are high: --fail-on critical lets them through, anything lower does not."""
    got, _, err = _cli("audit", "--state", str(DRIFTED), "--stack", "eks-prod", "--fail-on", fail_on, "--today", TODAY)
    assert got == code, err


# =========================================================================== owners and exceptions


def test_owner_label_then_intent_then_cluster(tmp_path: Path) -> None:
    (tmp_path / "objects.yaml").write_text(
        "\n---\n".join(
            [
                # labelled: the cluster says who owns it, whatever the intent says
                "apiVersion: v1\nkind: Namespace\n"
                "metadata: {name: shop, labels: {fleet-baseline.io/owner: shop-oncall}}",
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: payments}",  # the intent's owner
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: scratch}",  # nobody's: the cluster's
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ops}\n"
                "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
                "subjects: [{kind: User, name: someone}]",
            ]
        )
    )
    intent, evaluator = _evaluator()
    findings = audit(read_manifests([tmp_path]), evaluator, intent=intent)
    owners = {(f.control_id, f.subject): f.owner for f in findings if f.status == "fail"}
    assert owners[("NS-01", "Namespace/shop")] == "shop-oncall"
    assert owners[("NS-01", "Namespace/payments")] == "payments-team"
    assert owners[("NS-01", "Namespace/scratch")] == "platform-team"
    assert owners[("RB-01", "ClusterRoleBinding/ops")] == "platform-team"
    assert {f.cluster for f in findings} == {"prod-eu-1"}  # the intent's cluster: manifests name none
    # without an intent: the labels, then nobody
    bare = audit(read_manifests([tmp_path]), Evaluator(today=dt.date(2026, 1, 15)))
    assert {f.subject: f.owner for f in bare if f.control_id == "NS-01"} == {
        "Namespace/shop": "shop-oncall",
        "Namespace/payments": None,
        "Namespace/scratch": None,
    }
    assert route_owner(None, labelled={"a": "x"}, declared={}, cluster_owner="c") == "c"
    assert route_owner("a", labelled={}, declared={"a": "y"}, cluster_owner="c") == "y"


def test_exception_records_are_judged_once() -> None:
    intent, evaluator = _evaluator()
    from_state = audit(read_state(CLEAN), evaluator, intent=intent)
    st02 = [f for f in from_state if f.control_id == "ST-02" and f.subject_type == "fleet-baseline:policy:Exception"]
    assert [(f.subject.rsplit("::", 1)[-1], f.status) for f in st02] == [("prod-eu-1-exception-ns-01-0", "pass")]
    # the admission objects that hold it in the cluster are judged on their expiry too: in force
    held = [f for f in from_state if f.control_id == "ST-02" and f.subject_type != "fleet-baseline:policy:Exception"]
    assert held and {f.status for f in held} == {"pass"}
    # a source without records (manifests): the intent's exceptions are judged instead
    empty = Snapshot(source="nothing")
    assert [(f.control_id, f.subject) for f in audit(empty, evaluator, intent=intent)] == [
        ("ST-02", "fleet-baseline:policy:Exception::ns-01-0")
    ]


def test_an_expired_exception_in_state_is_reported_and_exempts_nothing(tmp_path: Path) -> None:
    doc = json.loads(gzip.decompress(CLEAN.read_bytes()))
    observability = next(
        r for r in doc["deployment"]["resources"] if r["urn"].endswith("Namespace::prod-eu-1-baseline-observability")
    )
    observability["outputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(doc))
    intent, before = _evaluator("2027-06-30")  # the last day it holds
    findings = audit(read_state(path), before, intent=intent)
    ns01 = next(f for f in findings if f.control_id == "NS-01" and f.namespace == "observability")
    assert ns01.status == "excepted" and ns01.exception is not None and ns01.exception.owner == "platform-team"
    _, after = _evaluator("2027-07-01")
    findings = audit(read_state(path), after, intent=intent)
    assert sorted((f.control_id, f.status) for f in findings if f.status != "pass") == [
        ("NS-01", "fail"),
        ("ST-02", "fail"),
    ]


def test_without_an_intent_the_states_records_are_honoured(tmp_path: Path) -> None:
    doc = json.loads(gzip.decompress(CLEAN.read_bytes()))
    records = [r for r in doc["deployment"]["resources"] if r["type"] == "fleet-baseline:policy:Exception"]
    broken = json.loads(json.dumps(records[0]))
    broken["urn"] += "-broken"
    broken["inputs"]["expires"] = "soon"
    doc["deployment"]["resources"].append(broken)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(doc))
    snap = read_state(path)
    exceptions = exceptions_from_records(snap.exceptions, snap.problems)
    assert [e.control for e in exceptions] == ["NS-01"]
    assert len(snap.problems) == 1 and "exception record for 'NS-01' not honoured: expires" in snap.problems[0]
    findings = audit(snap, Evaluator(exceptions=exceptions, today=dt.date(2026, 1, 15)))
    # no intent: observability is judged at the default level (restricted) and fails, but its record excepts it
    ns01 = next(f for f in findings if f.control_id == "NS-01" and f.namespace == "observability")
    assert ns01.status == "excepted" and ns01.owner == "platform-team"
    assert [f.status for f in findings if f.control_id == "ST-02"
            and f.subject_type == "fleet-baseline:policy:Exception"] == ["pass", "fail"]
    code, _, err = _cli("audit", "--state", str(path), "--today", TODAY)
    assert code == 1  # the expired-looking record fails ST-02 (high)
    assert "note: no --stack: judged with the catalog's default modes" in err
    assert "warning: exception record for 'NS-01' not honoured" in err


def test_a_stale_stamp_in_state_is_st01(tmp_path: Path) -> None:
    """The stamped version is data like any other: the cluster's tag and each namespace's label."""
    doc = json.loads(gzip.decompress(CLEAN.read_bytes()))
    for r in doc["deployment"]["resources"]:
        if r["type"] == "aws:eks/cluster:Cluster":
            r["outputs"]["tags"]["fleet-baseline.io/baseline-version"] = "0.9.0"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(doc))
    snap = read_state(path)
    assert snap.baseline_version == "0.9.0"  # the cluster's stamp wins over its namespaces' labels
    intent, evaluator = _evaluator()
    assert _fails(audit(snap, evaluator, intent=intent)) == [("ST-01", CLUSTER_URN, "platform-team", "prod-eu-1")]


# =========================================================================== live, formats, inputs


def test_cli_live_audit(tmp_path: Path) -> None:
    api = RecordedApi()
    with api.running():
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        code, out, err = _cli(
            "audit", "--context", "prod-eu-1", "--kubeconfig", str(kubeconfig), "--stack", "eks-prod",
            "--format", "json", "--today", TODAY,
        )  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    failing = {(f["control"], f["subject"]): f for f in report["findings"] if f["status"] == "fail"}
    expected = {
        ("NS-01", "Namespace/incident-debug"): "platform-team",  # made by hand, no PSS labels, nobody's
        ("RB-01", "ClusterRoleBinding/incident-2025-09-14-admin"): "platform-team",  # cluster-admin to a user
        ("RB-06", "ConfigMap/kube-system/aws-auth"): "platform-team",  # a role mapped to system:masters
        ("POD-14", "Deployment/shop/orders"): "shop-team",  # DB_PASSWORD as a literal
    }
    for key, owner in expected.items():
        assert key in failing, sorted(failing)
        assert failing[key]["owner"] == owner and failing[key]["cluster"] == "prod-eu-1"
    assert report["sources"] == ["context prod-eu-1"]
    assert len(report["problems"]) == 1 and "roles.rbac.authorization.k8s.io: forbidden (403)" in report["problems"][0]
    assert "warning: list roles.rbac.authorization.k8s.io: forbidden (403)" in err
    pages = [q.get("continue") for p, q in api.requests if p == "/api/v1/namespaces"]
    assert len(pages) == 3 and pages[0] is None


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit", "policyreport"])
def test_every_format_and_output_file(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"report.{fmt}"
    code, out, err = _cli(
        "audit", "--state", str(DRIFTED), "--stack", "eks-prod", "--format", fmt, "--output", str(target),
        "--today", TODAY,
    )  # fmt: skip
    assert code == 1, err
    assert out == ""
    text = target.read_text()
    assert "prod-eu-1-cluster" in text and f"report written to {target}" in err
    assert text.endswith("\n") and sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no .partial left


def test_a_report_that_cannot_be_written_leaves_nothing_half_made(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.mkdir()  # a directory where the report would go: the move into place fails
    code, out, err = _cli("audit", "--state", str(DRIFTED), "--format", "json", "--output", str(target))
    assert code == 2 and f"error: cannot write {target}" in err, err
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == [target.name] and not any(target.iterdir())


def test_cli_formats_are_the_renderers() -> None:
    from baseline import cli
    from baseline.audit import formats

    assert cli.audit._AUDIT_FORMATS == formats.FORMATS


def test_cli_manifests_and_stdin_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: scratch}\n")
    raw = gzip.decompress(CLEAN.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(raw))))
    code, out, err = _cli(
        "audit", "--manifests", str(tmp_path), "--state", "-", "--stack", "eks-prod", "--format", "json",
        "--today", TODAY,
    )  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert report["sources"] == [str(tmp_path), "<stdin>"]
    assert {f["subject"] for f in report["findings"] if f["status"] == "fail"} == {"Namespace/scratch"}


def _bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def test_cli_bad_input_exits_2_without_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truncated = tmp_path / "cut.json"
    truncated.write_bytes(gzip.decompress(CLEAN.read_bytes())[:50_000])
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_bomb())
    cases: list[tuple[list[str], str]] = [
        (["audit"], "error: nothing to audit"),
        (["audit", "--state", str(truncated)], f"error: {truncated}: invalid JSON"),
        (["audit", "--manifests", str(bomb)], "refused: the document expands to more than 1000000 nodes"),
        (["audit", "--state", str(tmp_path / "missing.json")], "missing.json: cannot read: No such file"),
        (["audit", "--state", str(CLEAN), "--stack", "no-such-stack"], "error: "),
        (["audit", "--state", str(CLEAN), "--max-state-bytes", "lots"], "'lots' is not a size"),
        (["audit", "--state", str(CLEAN), "--format", "xml"], "invalid choice: 'xml'"),
        (["audit", "--state", str(CLEAN), "--max-state-bytes", "16Ki"], "over the 16384-byte limit"),
    ]
    for argv, expected in cases:
        start = time.process_time()  # CPU seconds: a refusal must not hang, a loaded machine notwithstanding
        code, out, err = _cli(*argv)
        assert code == 2, (argv, err)
        assert expected in err, (argv, err)
        assert "Traceback" not in err and out == ""
        assert time.process_time() - start < 3, argv
    raw = gzip.decompress(CLEAN.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(raw))))
    code, _, err = _cli("audit", "--state", "-", "--max-state-bytes", "64Ki")
    assert code == 2 and "<stdin>: over the 65536-byte limit" in err


# =========================================================================== an audit never goes green by accident

POD = """apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - {name: web, image: registry.example.com/web:1.0}
"""


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit", "policyreport"])
def test_an_empty_folder_is_exit_2_in_every_format(tmp_path: Path, fmt: str) -> None:
    code, _, err = _cli("audit", "--manifests", str(tmp_path), "--format", fmt)
    assert code == 2 and "nothing was judged" in err and "no Kubernetes objects" in err, err


def test_yaml_that_holds_no_kubernetes_object_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicaCount: 2\nimage: {repository: web}\n")
    code, _, err = _cli("audit", str(tmp_path))
    assert code == 2 and "nothing was judged" in err and "not a Kubernetes object" in err, err


def test_a_helm_chart_is_skipped_naming_it_and_the_command_and_the_rest_is_judged(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("image: {}\n")
    (chart / "templates" / "deployment.yaml").write_text("spec:\n  {{- with .Values.image }}\n  x: 1\n  {{- end }}\n")
    (tmp_path / "pod.yaml").write_text(POD)
    code, out, err = _cli("audit", str(tmp_path), "--format", "json")
    assert code == 1, err  # the pod's failures, not a refusal of the chart's templates
    assert f"{chart}: a Helm chart" in err and f"helm template RELEASE {chart}" in err
    assert any(f["subject"] == "Pod/shop/web" for f in json.loads(out)["findings"])
    # only a chart: nothing judged, and the note says why
    code, _, err = _cli("audit", str(chart))
    assert code == 2 and "helm template" in err, err


def test_paths_are_positional_as_for_every_peer(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "pod.yaml").write_text(POD)
    more = tmp_path / "more.yaml"
    more.write_text(POD.replace("name: web,", "name: api,"))
    code, out, err = _cli("audit", str(tmp_path / "k8s"), str(more), "--format", "json", "--show-passes")
    assert code == 1, err
    subjects = {f["subject"] for f in json.loads(out)["findings"]}
    assert {"Pod/shop/web", "Pod/shop/api"} <= subjects


def test_table_and_json_findings_carry_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("---\n# the shop's pod\n" + POD)
    code, out, err = _cli("audit", str(tmp_path), "--format", "json")
    assert code == 1, err
    placed = {(f["file"], f["line"]) for f in json.loads(out)["findings"] if f["subject"] == "Pod/shop/web"}
    assert placed == {(str(tmp_path / "app.yaml"), 3)}
    code, out, err = _cli("audit", str(tmp_path))
    assert f"at {tmp_path / 'app.yaml'}:3" in out


def test_table_never_breaks_a_urn_mid_word() -> None:
    code, out, err = _cli("audit", "--state", str(DRIFTED), "--stack", "eks-prod", "--today", TODAY)
    assert code == 1, err
    assert any(CLUSTER_URN in line for line in out.splitlines())  # whole, on one line


# =========================================================================== not judged: needs the intent


def test_a_state_audit_without_its_stack_does_not_judge_what_needs_the_intent() -> None:
    """CL-08 (are these the intended cluster-admins?) and CL-10 (the intended support type) cannot be
    judged without the intent: "not-judged", counted apart, naming --stack; never a critical failure."""
    code, out, err = _cli("audit", "--state", str(CLEAN), "--format", "json", "--today", TODAY)
    doc = json.loads(out)
    unjudged = {f["control"]: f for f in doc["findings"] if f["status"] == "not-judged"}
    assert {"CL-08", "CL-10"} <= set(unjudged), sorted(unjudged)
    assert all("needs the intent" in f["message"] and "--stack" in f["message"] for f in unjudged.values())
    assert doc["summary"]["byStatus"]["not-judged"] == len(unjudged)
    assert not [f for f in doc["findings"] if f["control"] in ("CL-08", "CL-10") and f["status"] in ("fail", "unknown")]
    assert code == 0 and "not judged" in err, err
    # with the stack, they are judged (and pass on the clean export)
    code, out, _ = _cli("audit", "--state", str(CLEAN), "--stack", "eks-prod", "--format", "json", "--today", TODAY,
                        "--show-passes")
    statuses = {f["status"] for f in json.loads(out)["findings"] if f["control"] in ("CL-08", "CL-10")}
    assert statuses == {"pass"} and code == 0


@pytest.mark.parametrize(("fmt", "mark"), [("table", "NOT-JUDGED"), ("sarif", '"level": "note"'),
                                           ("junit", "<skipped"), ("policyreport", "result: skip")])
def test_not_judged_is_its_own_status_in_every_format(fmt: str, mark: str) -> None:
    _, out, _ = _cli("audit", "--state", str(CLEAN), "--format", fmt, "--today", TODAY)
    assert mark in out and "needs the intent" in out, fmt


def test_a_manifest_with_nulls_is_judged_as_the_api_server_keeps_it(tmp_path: Path) -> None:
    """Read from YAML (the tree reader marks a null-holding document not plain): rules: null is a
    ClusterRole with no rules, initContainers: null a pod with none; decided, not unknown."""
    (tmp_path / "role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: agg}\nrules: null\n"
        "---\n" + POD.replace("spec:\n", "spec:\n  initContainers: null\n")
    )
    _, out, _ = _cli("audit", str(tmp_path), "--format", "json", "--show-passes")
    found = {(f["control"], f["subject"]): f["status"] for f in json.loads(out)["findings"]}
    assert all(found[(c, "ClusterRole/agg")] == "pass" for c in ("RB-02", "RB-03", "RB-04")), found
    assert "unknown" not in {s for (c, subject), s in found.items() if subject == "Pod/shop/web"}
