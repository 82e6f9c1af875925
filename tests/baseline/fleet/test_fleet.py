"""The fleet view: aggregation, the four formats, the ``fleet`` command, and the operator's Stack CRs.

Aggregation is tested on hand-made findings (each case names the statuses it mixes); the command runs
on real ``pulumi stack export`` documents (``tests/fixtures/state``), copied into a temporary
directory as a fleet: renamed clusters and stacks, varied baseline versions, a few drifted.
"""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import html.parser
import io
import json
import re
import shutil
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from baseline.audit.sources import Snapshot
from baseline.catalog import load_catalog
from baseline.cli import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK, main
from baseline.evaluator import Finding, Subject
from baseline.exceptions import ActiveException
from baseline.fleet import (
    CELL_GLYPHS,
    MAX_SUBJECTS,
    PALETTE,
    REPORT_SCHEMA,
    FleetBuilder,
    FleetReport,
    ProgressBar,
    contrast_ratio,
    operator_resource_name,
    operator_stack,
    render_html,
    render_json,
    render_markdown,
    render_table,
    summarize,
    version_key,
)
from tests.providers.crd_validation import CrdIndex, crds_dir

REPO = Path(__file__).resolve().parents[3]
STATE = REPO / "tests" / "fixtures" / "state"
CLEAN_EXPORT = STATE / "eks-prod.json.gz"
DRIFTED_EXPORT = STATE / "eks-prod-drifted.json.gz"
STACKS = REPO / "stacks"
TODAY = dt.date(2026, 11, 22)
CATALOG = load_catalog()
XSS = "<script>alert(1)</script>"


# --------------------------------------------------------------------------- helpers


def finding(
    control: str,
    status: str,
    *,
    subject: str = "Deployment/shop/web",
    owner: str | None = "shop-team",
    mode: str = "enforce",
    exception: ActiveException | None = None,
) -> Finding:
    c = CATALOG[control]
    return Finding(
        control_id=control,
        policy_name=c.policy_name,
        title=c.title,
        severity=c.severity,
        mode=mode,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        subject=subject,
        subject_type="apps/Deployment",
        message="m",
        remediation="r",
        namespace="shop",
        exception=exception,
        owner=owner,
    )


def snapshot(
    name: str,
    *,
    version: str | None = "1.0.0",
    stack: str | None = None,
    exceptions: Iterable[dict[str, Any]] = (),
    problems: Iterable[str] = (),
    subjects: Iterable[Subject] = (),
) -> Snapshot:
    return Snapshot(
        source=f"/exports/{stack or name}.json",
        cluster=name,
        stack=stack or name,
        subjects=list(subjects),
        baseline_version=version,
        problems=list(problems),
        exceptions=list(exceptions),
    )


def record(control: str = "NS-01", expires: str = "2026-12-31", owner: str = "platform-team") -> dict[str, Any]:
    return {
        "control": control,
        "scope": {"namespace": "observability"},
        "owner": owner,
        "reason": "node-exporter reads host metrics until the agent is replaced",
        "expires": expires,
    }


def report_of(*clusters: tuple[Snapshot, list[Finding]]) -> FleetReport:
    builder = FleetBuilder(CATALOG, today=TODAY)
    for snap, findings in clusters:
        builder.add(snap, findings)
    return builder.report()


# --------------------------------------------------------------------------- aggregation


def test_a_cell_is_its_worst_finding_with_counts() -> None:
    mixed = [
        finding("POD-01", "pass"),
        finding("POD-01", "excepted"),
        finding("POD-01", "unknown"),
        finding("POD-01", "fail", subject="Deployment/shop/db"),
        finding("POD-02", "pass"),
        finding("POD-02", "excepted"),
        finding("POD-03", "pass"),
        finding("POD-03", "unknown"),
    ]
    c = summarize(snapshot("a"), mixed)
    assert c.cells["POD-01"].status == "fail"
    assert c.cells["POD-01"].counts == {"pass": 1, "excepted": 1, "unknown": 1, "fail": 1}
    assert c.cells["POD-01"].subjects["fail"] == ["Deployment/shop/db"]
    assert c.cells["POD-02"].status == "excepted"
    assert c.cells["POD-03"].status == "unknown"
    assert "POD-04" not in c.cells  # no subject on this cluster: n/a
    assert c.counts == {"fail": 1, "unknown": 2, "not-judged": 0, "excepted": 2, "pass": 3}
    row = report_of((snapshot("a"), mixed)).to_dict()["clusters"][0]
    assert row["cells"]["POD-01"]["status"] == "fail" and "POD-04" not in row["cells"]


def test_a_cell_keeps_a_few_subjects_and_counts_the_rest() -> None:
    fails = [finding("POD-01", "fail", subject=f"Deployment/shop/web-{i}") for i in range(40)]
    cell = summarize(snapshot("a"), fails).cells["POD-01"]
    assert len(cell.subjects["fail"]) == MAX_SUBJECTS
    assert cell.to_dict()["more"] == 40 - MAX_SUBJECTS


def test_urn_subjects_are_shortened_to_type_and_name() -> None:
    urn = "urn:pulumi:eks-prod::fleet-baseline::fleet-baseline:eks:Cluster$aws:eks/cluster:Cluster::prod-eu-1-cluster"
    cell = summarize(snapshot("a"), [finding("CL-01", "fail", subject=urn)]).cells["CL-01"]
    assert cell.subjects["fail"] == ["aws:eks/cluster:Cluster::prod-eu-1-cluster"]


def test_versions_stale_against_the_newest_seen_and_the_catalog_minimum() -> None:
    assert CATALOG.baseline_version == "1.0.0"
    report = report_of(
        (snapshot("new", version="1.10.0"), []),
        (snapshot("older", version="1.9.0"), []),
        (snapshot("old", version="0.9.0"), []),
        (snapshot("unstamped", version=None), []),
        (snapshot("garbage", version="latest"), []),
        (snapshot("newest-too", version="1.10.0"), []),
    )
    status = {c.name: report.version_status(c) for c in report.clusters}
    assert report.newest_version == "1.10.0"  # numeric, not lexical: 1.10 > 1.9
    assert status == {
        "new": "current",
        "newest-too": "current",
        "older": "behind",
        "old": "below-minimum",
        "unstamped": "unknown",
        "garbage": "unknown",
    }
    assert {c.name for c in report.stale_clusters()} == {"older", "old", "unstamped", "garbage"}
    assert version_key("1.0.0-rc.1") < version_key("1.0.0")  # type: ignore[operator]


def test_exceptions_from_findings_and_records_are_one_entry_each() -> None:
    reason = record()["reason"]
    active = ActiveException("NS-01", "platform-team", reason, dt.date(2026, 12, 31), "namespace=observability")
    excepted = [finding("NS-01", "excepted", exception=active, subject=f"Namespace/ns-{i}") for i in range(3)]
    report = report_of(
        (snapshot("a", exceptions=[record()]), excepted),
        (snapshot("b", exceptions=[record(expires="2026-11-01")]), []),
        (snapshot("c", exceptions=[record(expires="2026-11-22")]), []),
    )
    entries = {(e.cluster, e.expires): e for e in report.exceptions}
    a = entries[("a", dt.date(2026, 12, 31))]
    assert (a.excepted, a.recorded, a.owner, a.days_left(TODAY)) == (3, True, "platform-team", 39)
    assert len(report.exceptions) == 3  # the finding's exception and the record are the same one
    # expired first, loud; the last day (expires == today) still holds
    assert [e.cluster for e in report.exceptions] == ["b", "c", "a"]
    assert report.exceptions[0].expired(TODAY) and report.exceptions[0].days_left(TODAY) == -21
    assert not report.exceptions[1].expired(TODAY)
    assert [e.cluster for e in report.expired_exceptions()] == ["b"]


def test_an_exception_copied_to_many_clusters_is_one_group() -> None:
    copied = [(snapshot(f"c{i}", exceptions=[record()]), []) for i in range(4)]
    report = report_of(*copied, (snapshot("other", exceptions=[record(owner="someone-else")]), []))
    groups = report.exception_groups()
    assert [(g.owner, g.clusters) for g in groups] == [
        ("platform-team", ("c0", "c1", "c2", "c3")),
        ("someone-else", ("other",)),
    ]
    assert len(report.exceptions) == 5  # the JSON keeps one entry per cluster


def test_a_malformed_exception_record_is_listed_with_what_is_wrong() -> None:
    bad = {"control": "NS-01", "scope": {"namespace": "debug"}, "reason": "short", "expires": "2027-01-01"}
    report = report_of((snapshot("a", exceptions=[bad]), []))
    (entry,) = report.exceptions
    assert entry.problem and "owner" in entry.problem
    assert entry.scope == "namespace=debug" and entry.expires == dt.date(2027, 1, 1)


def test_failing_findings_by_team_and_severity() -> None:
    report = report_of(
        (
            snapshot("a"),
            [
                finding("RB-01", "fail", owner="payments"),  # critical
                finding("POD-02", "fail", owner="payments"),  # high
                finding("POD-01", "fail", owner=None),
                finding("POD-01", "pass", owner="search"),
                finding("POD-01", "unknown", owner="search"),
            ],
        ),
        (snapshot("b"), [finding("NS-04", "fail", owner="payments")]),  # medium
    )
    teams = {t.team: t for t in report.teams}
    assert set(teams) == {"payments", "(unowned)"}  # passes and unknowns are nobody's failures
    assert dict(teams["payments"].by_severity) == {"critical": 1, "high": 1, "medium": 1}
    assert (teams["payments"].total, teams["payments"].clusters) == (3, 2)
    assert report.teams[0].team == "payments"  # worst first


def test_blocked_means_a_failing_enforce_finding_at_or_above_the_threshold() -> None:
    report = report_of(
        (snapshot("high"), [finding("POD-02", "fail")]),  # high, enforce
        (snapshot("audit-only"), [finding("RB-01", "fail", mode="audit")]),  # critical but audit mode
        (snapshot("clean"), [finding("POD-01", "pass")]),
    )
    assert [c.name for c in report.blocked("critical")] == []
    assert [c.name for c in report.blocked("high")] == ["high"]
    assert [c.name for c in report.blocked("low")] == ["high"]


def test_clusters_are_sorted_worst_first() -> None:
    report = report_of(
        (snapshot("clean"), [finding("POD-01", "pass")]),
        (snapshot("unknowns"), [finding("POD-01", "unknown")]),
        (snapshot("medium"), [finding("NS-04", "fail")]),
        (snapshot("critical"), [finding("RB-01", "fail")]),
        (snapshot("critical-audit"), [finding("RB-01", "fail", mode="audit")]),
        (snapshot("stale", version="0.9.0"), [finding("POD-01", "pass")]),
    )
    assert [c.name for c in report.clusters] == ["critical", "critical-audit", "medium", "unknowns", "stale", "clean"]


def test_two_sources_for_one_cluster_get_distinct_labels() -> None:
    report = report_of((snapshot("prod", stack="eks-prod"), []), (snapshot("prod", stack="gke-prod"), []))
    assert sorted(report.labels.values()) == ["prod [eks-prod]", "prod [gke-prod]"]


def test_the_builder_keeps_neither_snapshots_nor_findings() -> None:
    builder = FleetBuilder(CATALOG, today=TODAY)
    subject = Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    snap = snapshot("a", subjects=[subject])
    findings = [finding("NS-01", "fail")]
    ref = weakref.ref(snap)
    summary = builder.add(snap, findings)
    del snap, findings, subject
    gc.collect()
    assert ref() is None
    assert len(builder) == 1

    def kinds(value: Any) -> Iterable[type]:
        yield type(value)
        if isinstance(value, dict):
            for k, v in value.items():
                yield from kinds(k)
                yield from kinds(v)
        elif isinstance(value, list | tuple | set):
            for v in value:
                yield from kinds(v)
        elif hasattr(value, "__slots__") and not isinstance(value, str | int | dt.date):
            for slot in value.__slots__:
                yield from kinds(getattr(value, slot))

    assert not {Finding, Subject, Snapshot} & set(kinds(summary))


def test_the_cloud_is_read_from_the_resources() -> None:
    eks = Subject({}, type="aws:eks/cluster:Cluster")
    gke = Subject({}, type="gcp:container/nodePool:NodePool")
    ns = Subject({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    assert summarize(snapshot("a", subjects=[ns, eks]), []).cloud == "eks"
    assert summarize(snapshot("b", subjects=[gke]), []).cloud == "gke"
    assert summarize(snapshot("c", subjects=[ns]), []).cloud is None
    assert summarize(snapshot("d", subjects=[eks]), [], cloud="aks").cloud == "aks"


# --------------------------------------------------------------------------- formats


def sample_report() -> FleetReport:
    active = ActiveException("NS-01", XSS, XSS + " reason long enough", dt.date(2026, 12, 31), "namespace=x")
    return report_of(
        (
            snapshot(XSS, version="1.0.0", problems=[f"problem {XSS}"], exceptions=[record(owner=XSS)]),
            [
                finding("RB-01", "fail", owner=XSS, subject=f"Role/{XSS}"),
                finding("NS-01", "excepted", exception=active, subject=XSS),
            ],
        ),
        (snapshot('evil" onmouseover="alert(2)', version="0.9.0"), [finding("POD-01", "unknown")]),
        (snapshot("prod | eu\x1b[31m", version="1.1.0", exceptions=[record(expires="2026-01-01")]), []),
        (snapshot("clean", version="1.1.0"), [finding("POD-01", "pass"), finding("CL-01", "pass")]),
    )


def test_json_report_shape() -> None:
    doc = json.loads(render_json(sample_report(), fail_on="high"))
    assert doc["schema"] == REPORT_SCHEMA and doc["today"] == "2026-11-22" and doc["failOn"] == "high"
    assert set(doc) >= {"summary", "controls", "clusters", "exceptions", "teams", "errors", "newestVersion"}
    assert doc["summary"]["clusters"] == 4 and doc["summary"]["blocked"] == 1
    assert [c["id"] for c in doc["controls"]] == [c.id for c in CATALOG]
    for cluster in doc["clusters"]:
        assert set(cluster) >= {"name", "label", "source", "baselineVersion", "versionStatus", "cells", "counts"}
        for cell in cluster["cells"].values():
            assert cell["status"] in {"fail", "unknown", "excepted", "pass"}
            assert sum(cell["counts"].values()) >= 1
    assert doc["clusters"][0]["name"] == XSS and doc["clusters"][0]["blocked"] is True
    assert doc["exceptions"][0]["expired"] is True and doc["exceptions"][0]["daysLeft"] < 0
    assert doc["teams"][0] == {"team": XSS, "failing": {"critical": 1}, "total": 1, "clusters": 1}


def markdown_tables(text: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_markdown_tables_are_well_formed_and_escaped() -> None:
    text = render_markdown(sample_report())
    tables = markdown_tables(text)
    assert len(tables) >= 5  # summary, stale, exceptions, teams, problems, matrix
    for table in tables:
        width = len(table[0])
        assert all(len(row) == width for row in table), table[0]
        assert all(re.fullmatch(r":?-{3,}:?", c) for c in table[1])
    assert XSS not in text and "&lt;script&gt;" in text
    assert "\x1b" not in text
    for heading in ("## Stale clusters", "## Exceptions", "## Failing findings by team", "## Matrix"):
        assert heading in text
    exceptions = next(t for t in tables if t[0][:3] == ["control", "scope", "owner"])
    assert exceptions[2][4].startswith("**EXPIRED")  # expired first, in bold


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_escapes_every_string() -> None:
    page = render_html(sample_report())
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    parser = _Tags()
    parser.feed(page)
    scripts = [a for t, a in parser.tags if t == "script"]
    # one inline script, ours, and the drill-down's data (JSON, never run); nothing with src
    assert scripts == [{"type": "application/json", "id": "fleet-data"}, {}]
    assert not [t for t, a in parser.tags if t in {"link", "img", "iframe", "object", "embed"}]
    assert not [(t, k) for t, a in parser.tags for k in a if k.startswith("on")]  # no injected handlers
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'onmouseover="alert(2)' not in page
    assert "\x1b" not in page


def test_html_matrix_carries_what_the_filters_and_tooltips_need() -> None:
    report = sample_report()
    page = render_html(report)
    parser = _Tags()
    parser.feed(page)
    rows = [a for t, a in parser.tags if t == "tr" and a.get("data-cloud") is not None]
    assert len(rows) == len(report.clusters)
    assert json.loads(rows[0]["data-teams"] or "[]") == [XSS]  # worst first, its team for the filter
    cells = [a for t, a in parser.tags if t == "td" and (a.get("class") or "").startswith("c ")]
    assert len(cells) == len(report.clusters) * len(CATALOG)
    failing = [a for a in cells if (a.get("class") or "").startswith("c f ")]
    assert failing and "Role/<script>" in (failing[0]["title"] or "")  # unescaped by the parser: it was escaped
    for sel in ('id="f-team"', 'id="f-sev"', 'id="f-cloud"', "position:sticky", "data-expires"):
        assert sel in page
    assert 'class="ver below-minimum"' in page and 'class="ver behind"' in page


def test_palette_meets_wcag_aa_contrast() -> None:
    for name, (background, foreground) in PALETTE.items():
        assert contrast_ratio(background, foreground) >= 4.5, name


def test_table_is_one_row_per_cluster_with_a_legend_and_no_control_characters() -> None:
    report = sample_report()
    text = render_table(report)
    lines = text.splitlines()
    assert "\x1b" not in text  # the cluster name's escape sequence is neutralised, and no colour asked
    n = len(report.clusters)
    header, matrix = lines[2:5], lines[5 : 5 + n]
    assert header[0].split() == ["CL", "NS", "RB", "POD", "ST"] and header[1].startswith("cluster")
    assert lines[5 + n] == "" and lines[6 + n].startswith("legend:")
    assert len({len(line) for line in [*header[1:], *matrix]}) == 1  # every column lines up
    assert matrix[0].startswith("<script>alert(1)</script>")  # worst first; a terminal shows it as text
    assert "0.9.0!" in text and "1.0.0*" in text
    coloured = render_table(report, color=True)
    assert "\x1b[1;31m✗" in coloured


# --------------------------------------------------------------------------- progress


def test_progress_bar_draws_only_when_enabled() -> None:
    quiet = io.StringIO()
    bar = ProgressBar(3, quiet, enabled=False)
    for _ in range(3):
        bar.advance(note="x")
    bar.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    ticks = iter(range(100))
    bar = ProgressBar(3, loud, enabled=True, clock=lambda: next(ticks))
    bar.advance(note=f"\x1b[2J{XSS}")
    bar.advance()
    bar.advance()
    bar.close()
    text = loud.getvalue()
    assert "3/3" in text and "█" in text and "\x1b[2J" not in text


# --------------------------------------------------------------------------- the command

needs_exports = pytest.mark.skipif(
    not CLEAN_EXPORT.is_file() or not DRIFTED_EXPORT.is_file(),
    reason=f"state export fixtures missing ({STATE})",
)


def _export_text(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def make_fleet(directory: Path, n: int) -> list[str]:
    """``n`` exports from the eks-prod template: cluster ``fleet-NN``, stack ``fleet-NN``, versions
    cycling 1.0.0/1.1.0/0.9.0/1.1.0, every fifth one drifted (CL-02, CL-03, NS-01 fail)."""
    clean, drifted = _export_text(CLEAN_EXPORT), _export_text(DRIFTED_EXPORT)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"fleet-{i:02d}"
        version = ["1.0.0", "1.1.0", "0.9.0", "1.1.0"][i % 4]
        text = drifted if i % 5 == 0 else clean
        text = text.replace("urn:pulumi:eks-prod::", f"urn:pulumi:{name}::").replace("prod-eu-1", name)
        stamp = '"fleet-baseline.io/baseline-version": '
        text = text.replace(stamp + '"1.0.0"', f'{stamp}"{version}"')
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
        names.append(name)
    return names


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@needs_exports
def test_fleet_over_fifty_exports_writes_the_html_report(tmp_path: Path) -> None:
    names = make_fleet(tmp_path / "exports", 50)
    html_file = tmp_path / "fleet.html"
    code, out, err = run(
        "fleet", "--state-dir", str(tmp_path / "exports"), "--format", "html", "--output", str(html_file),
        "--today", "2026-11-22", "--jobs", "2",
    )  # fmt: skip
    assert code == EXIT_BLOCKED, err  # catalog defaults: CL-08 has no intended admins to compare with
    assert out == "" and "\r" not in err  # no report on stdout, no progress bar off a terminal
    assert "50 clusters judged, 0 unreadable" in err
    page = html_file.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    rows = [a for t, a in parser.tags if t == "tr" and a.get("data-cloud") is not None]
    assert len(rows) == 50 and {r["data-cloud"] for r in rows} == {"eks"}
    assert all(f">{name}<" in page for name in names)
    assert page.count('class="ver below-minimum"') == 50 // 4 + (1 if 50 % 4 > 2 else 0)  # 0.9.0
    code, out, err = run("fleet", "--state-dir", str(tmp_path / "exports"), "--format", "json", "--today", "2026-11-22")
    doc = json.loads(out)
    by_name = {c["name"]: c for c in doc["clusters"]}
    assert by_name["fleet-05"]["cells"]["CL-03"]["status"] == "fail"  # drifted: endpoint open
    assert by_name["fleet-01"]["cells"]["CL-03"]["status"] == "pass"
    assert by_name["fleet-01"]["versionStatus"] == "current" and by_name["fleet-00"]["versionStatus"] == "behind"
    assert doc["newestVersion"] == "1.1.0"


@needs_exports
def test_fleet_is_the_same_in_process_and_in_workers(tmp_path: Path) -> None:
    make_fleet(tmp_path / "exports", 12)
    args = ["fleet", "--state-dir", str(tmp_path / "exports"), "--format", "json", "--today", "2026-11-22"]
    serial, parallel = run(*args, "--jobs", "1"), run(*args, "--jobs", "2")
    assert serial[0] == parallel[0] and serial[1] == parallel[1]


@needs_exports
def test_fleet_exit_codes(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(CLEAN_EXPORT, exports / "eks-prod.json.gz")
    base = ["fleet", "--today", "2026-11-22", "--format", "json"]
    # judged with its intent, the clean eks-prod stack blocks nothing
    assert run(*base, "--state-dir", str(exports), "--stacks-dir", str(STACKS))[0] == EXIT_OK
    # without its stack's intent, CL-08 (are the cluster-admins the intended ones?) is not judged,
    # never a critical failure: nothing blocks, and the report says what would judge it
    code, out, err = run(*base, "--state-dir", str(exports))
    assert code == EXIT_OK, err
    cells = json.loads(out)["clusters"][0]["cells"]
    assert cells["CL-08"]["status"] == "not-judged" and "--stacks-dir" in err
    # a corrupt export is reported; the rest is judged; an incomplete, unblocked fleet is not "ok"
    (exports / "corrupt.json").write_text('{"version": 3, "deployment": {"resources": [', encoding="utf-8")
    code, out, err = run(*base, "--state-dir", str(exports), "--stacks-dir", str(STACKS))
    assert code == EXIT_BAD_INPUT and "corrupt.json" in err
    doc = json.loads(out)
    assert doc["summary"]["clusters"] == 1 and doc["errors"][0]["source"].endswith("corrupt.json")
    # ... but a blocked cluster is a definite answer whatever else could not be read
    drifted = tmp_path / "drifted"
    drifted.mkdir()
    shutil.copy(DRIFTED_EXPORT, drifted / "eks-prod.json.gz")
    shutil.copy(exports / "corrupt.json", drifted / "corrupt.json")
    assert run(*base, "--state-dir", str(drifted), "--stacks-dir", str(STACKS), "--fail-on", "high")[0] == EXIT_BLOCKED
    # nothing readable, nothing given, no such directory: bad input
    only_corrupt = tmp_path / "corrupt"
    only_corrupt.mkdir()
    shutil.copy(exports / "corrupt.json", only_corrupt / "corrupt.json")
    assert run(*base, "--state-dir", str(only_corrupt))[0] == EXIT_BAD_INPUT
    assert run(*base)[0] == EXIT_BAD_INPUT
    assert run(*base, "--state-dir", str(tmp_path / "missing"))[0] == EXIT_BAD_INPUT
    assert run(*base, "--state-dir", str(exports), "--fail-on", "severe")[0] == EXIT_BAD_INPUT


@needs_exports
def test_fleet_fail_on_threshold(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(DRIFTED_EXPORT, exports / "eks-prod.json.gz")
    base = ["fleet", "--today", "2026-11-22", "--state-dir", str(exports), "--stacks-dir", str(STACKS)]
    # drifted: CL-02, CL-03 and NS-01 fail, all high; nothing critical
    assert run(*base)[0] == EXIT_OK
    assert run(*base, "--fail-on", "high")[0] == EXIT_BLOCKED


@needs_exports
def test_fleet_progress_bar_on_request(tmp_path: Path) -> None:
    make_fleet(tmp_path / "exports", 3)
    code, _, err = run("fleet", "--state-dir", str(tmp_path / "exports"), "--progress", "--jobs", "1")
    assert code == EXIT_BLOCKED and "\r" in err and "3/3" in err


def test_fleet_markdown_and_table_from_the_command(tmp_path: Path) -> None:
    if not CLEAN_EXPORT.is_file():
        pytest.skip(f"state export fixtures missing ({STATE})")
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(CLEAN_EXPORT, exports / "a.json.gz")
    code, out, _ = run("fleet", "--state-dir", str(exports), "--format", "markdown", "--stacks-dir", str(STACKS))
    assert code == EXIT_OK and out.startswith("# Fleet baseline report")
    code, out, _ = run("fleet", "--state-dir", str(exports), "--stacks-dir", str(STACKS))
    assert code == EXIT_OK and "prod-eu-1" in out and "legend:" in out and "\x1b" not in out


# --------------------------------------------------------------------------- operator manifests

STACK_CRD = crds_dir() / "pulumi-kubernetes-operator" / "pulumi.com_stacks.yaml"
needs_crds = pytest.mark.skipif(not STACK_CRD.is_file(), reason=f"Stack CRD not found at {STACK_CRD}")


@pytest.fixture(scope="module")
def crds() -> CrdIndex:
    return CrdIndex(crds_dir() / "pulumi-kubernetes-operator")


def operator_manifests(tmp_path: Path, *extra: str) -> dict[str, Any]:
    out_dir = tmp_path / ("drift" if "--drift-only" in extra else "reconcile")
    code, _, err = run(
        "fleet", "operator-manifests", "--stacks-dir", str(STACKS), "--out", str(out_dir),
        "--organization", "acme", "--project-repo", "https://github.com/acme/fleet-baseline.git", *extra,
    )  # fmt: skip
    assert code == EXIT_OK, err
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(out_dir.glob("*.yaml"))}


@needs_crds
@pytest.mark.parametrize("drift_only", [False, True], ids=["reconcile", "drift-only"])
def test_operator_stacks_validate_against_the_crd(tmp_path: Path, crds: CrdIndex, drift_only: bool) -> None:
    files = operator_manifests(tmp_path, *(["--drift-only"] if drift_only else []))
    stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml"))
    kustomization = files.pop("kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(files) and len(files) == len(stacks)
    for name, obj in files.items():
        crds.validate(obj)
        assert len(obj["metadata"]["name"]) <= 42  # the CRD's x-kubernetes-validations rule
        spec = obj["spec"]
        stack = obj["metadata"]["labels"]["fleet-baseline.io/stack"]
        assert spec["stack"] == f"acme/fleet-baseline/{stack}" and stack in stacks
        assert spec["projectRepo"] == "https://github.com/acme/fleet-baseline.git" and spec["branch"] == "main"
        assert spec["refresh"] is True and spec["continueResyncOnCommitMatch"] is True
        assert spec["resyncFrequencySeconds"] == 600 and spec["destroyOnFinalize"] is False
        assert spec["envRefs"] == {
            "PULUMI_ACCESS_TOKEN": {"type": "Secret", "secret": {"name": "pulumi-api-secret", "key": "accessToken"}}
        }
        assert spec.get("preview", False) is drift_only
        assert obj["metadata"]["labels"]["fleet-baseline.io/mode"] == ("drift-only" if drift_only else "reconcile")
        assert name == f"{obj['metadata']['name']}.yaml"


@needs_crds
def test_operator_stack_options_validate(crds: CrdIndex) -> None:
    obj = operator_stack(
        "a-very-long-stack-name-for-the-eu-west-1-production-cluster",
        organization="acme",
        project="fleet-baseline",
        project_repo="git@github.com:acme/fleet.git",
        branch="release",
        repo_dir="infra",
        resync_seconds=3600,
        namespace="pulumi-operator",
        service_account="fleet-deployer",
        drift_only=True,
    )
    crds.validate(obj)
    assert obj["spec"]["repoDir"] == "infra" and obj["spec"]["serviceAccountName"] == "fleet-deployer"
    assert obj["metadata"]["namespace"] == "pulumi-operator" and len(obj["metadata"]["name"]) <= 42


def test_operator_names_are_dns_labels_unique_and_short() -> None:
    long_a = "prod-eu-west-1-payments-platform-cluster-number-one"
    long_b = "prod-eu-west-1-payments-platform-cluster-number-two"
    names = [operator_resource_name(s) for s in ("eks-prod", "Eks_Prod", "eks.prod", long_a, long_b)]
    assert names[0] == "eks-prod"
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) and len(n) <= 42 for n in names)


def test_operator_stack_refuses_bad_names_and_resync() -> None:
    good: dict[str, Any] = {
        "organization": "acme",
        "project": "fleet-baseline",
        "project_repo": "https://example.invalid/r.git",
    }
    with pytest.raises(ValueError, match="organization"):
        operator_stack("eks-prod", **{**good, "organization": "acme/evil"})
    with pytest.raises(ValueError, match="resync"):
        operator_stack("eks-prod", **good, resync_seconds=10)


def test_operator_manifests_bad_input_writes_nothing(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.broken.yaml").write_text("config:\n  fleet-baseline:intent: {cluster: 3}\n", encoding="utf-8")
    code, _, err = run(
        "fleet", "operator-manifests", "--stacks-dir", str(stacks), "--out", str(tmp_path / "out"),
        "--organization", "acme", "--project-repo", "https://example.invalid/r.git",
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT and "Pulumi.broken.yaml" in err
    assert not (tmp_path / "out").exists()


def test_glyphs_are_single_characters() -> None:
    assert all(len(g) == 1 for g in CELL_GLYPHS.values())
