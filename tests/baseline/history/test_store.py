"""The history store, the same suite against SQLite and a real PostgreSQL server (``history_url``)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from baseline.history import (
    LATEST,
    ClusterObservation,
    ExceptionRecord,
    FindingRecord,
    HistoryError,
    HistoryStore,
    RunRecord,
    exception_records,
    findings_to_records,
    open_store,
    p90,
)

REPO = Path(__file__).resolve().parents[3]


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


def run(
    when: dt.datetime,
    findings: Sequence[FindingRecord] = (),
    *,
    clusters: Sequence[str] = ("a",),
    subjects: dict[str, frozenset[str]] | None = None,
    exceptions: Sequence[ExceptionRecord] = (),
    actor: str = "alice",
) -> RunRecord:
    return RunRecord(
        at=when,
        actor=actor,
        command="fleet",
        catalog_version="1.1.0",
        clusters=[ClusterObservation(c, "1.1.0", (subjects or {}).get(c)) for c in clusters],
        findings=findings,
        exceptions=exceptions,
        sources=[f"state/{c}.json" for c in clusters],
        tool_version="0.1.0",
    )


def fail(
    subject: str, control: str = "POD-01", cluster: str = "a", team: str | None = "shop", **kw: Any
) -> FindingRecord:
    return FindingRecord(cluster, control, subject, "kubernetes:apps/v1:Deployment", team=team, severity="high", **kw)


def identities(rows: Sequence[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(r["cluster"], r["control"], r["subject"]) for r in rows}


@pytest.fixture
def store(history_url: str) -> HistoryStore:
    s = open_store(history_url, create=True)
    yield s  # type: ignore[misc]
    s.close()


# --------------------------------------------------------------------------- lifecycle


def test_a_finding_is_opened_once_changed_and_closed_when_it_passes_or_its_subject_goes(store: HistoryStore) -> None:
    s1 = store.record(run(at(1), [fail("web"), fail("api"), fail("db", status="unknown")]))
    assert (s1.opened, s1.closed, s1.changed) == (2, 0, 0)  # unknown opens nothing: it is not a failure we saw

    s2 = store.record(
        run(at(2), [fail("web"), fail("api", status="excepted"), fail("jobs")],
            subjects={"a": frozenset({"web", "api", "jobs", "db"})})
    )  # fmt: skip
    assert (s2.opened, s2.closed, s2.changed) == (1, 0, 1)  # the same failure again is no change

    s3 = store.record(run(at(3), [], subjects={"a": frozenset({"api", "db"})}))
    assert (s3.opened, s3.closed) == (0, 3)
    events = {(e["subject"].split(" ")[0], e["event"]) for e in store.evidence(at(3))}
    assert events == {("web", "gone"), ("api", "passed"), ("jobs", "gone")}
    assert store.open_findings(at(3)) == []

    # failing again later is a new lifecycle, not the old one reopened
    store.record(run(at(4), [fail("web")]))
    assert [r["opened_at"] for r in store.open_findings(at(4))] == ["2026-03-04T00:00:00Z"]


def test_a_run_only_touches_the_clusters_it_observed(store: HistoryStore) -> None:
    store.record(run(at(1), [fail("web", cluster="a"), fail("web", cluster="b")], clusters=("a", "b")))
    summary = store.record(run(at(2), [], clusters=("b",)))  # an audit of cluster b alone
    assert summary.closed == 1
    assert identities(store.open_findings(at(2))) == {("a", "POD-01", "web")}


def test_the_worst_status_wins_when_two_policies_report_one_identity(store: HistoryStore) -> None:
    store.record(
        run(at(1), [fail("web", status="unknown"), fail("web", status="fail"), fail("web", status="excepted")])
    )
    (row,) = store.open_findings(at(1))
    assert row["status"] == "fail"


# --------------------------------------------------------------------------- diff over real exports


def _evaluate(paths: Sequence[Path], when: dt.datetime) -> tuple[RunRecord, dict[str, set[tuple[str, str, str, str]]]]:
    """A fleet run over state exports through the real reader and evaluator, as the store receives it."""
    from baseline.audit import audit, exceptions_from_records
    from baseline.audit.sources import read_state
    from baseline.catalog import load_catalog
    from baseline.evaluator import Evaluator

    catalog = load_catalog()
    clusters, findings, excs = [], [], []
    by_subject: dict[str, set[tuple[str, str, str, str]]] = {}
    for path in paths:
        snapshot = read_state(str(path))
        assert snapshot.cluster
        evaluator = Evaluator(catalog, exceptions=exceptions_from_records(snapshot.exceptions), today=when.date())
        records = findings_to_records(audit(snapshot, evaluator), cluster=snapshot.cluster)
        findings += records
        for r in records:
            if r.status != "unknown":
                by_subject.setdefault(r.subject, set()).add(r.identity)
        clusters.append(
            ClusterObservation(snapshot.cluster, snapshot.baseline_version, frozenset(s.ref for s in snapshot.subjects))
        )
        excs += exception_records(snapshot.cluster, snapshot.exceptions)
    record = RunRecord(
        when, "ci-bot", "fleet", catalog.baseline_version, clusters, findings, excs, [str(p) for p in paths]
    )
    return record, by_subject


def _deployments(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["deployment"]["resources"] if r["type"] == "kubernetes:apps/v1:Deployment"]


def _set_pod_spec(resource: dict[str, Any], spec: dict[str, Any]) -> None:
    for side in ("inputs", "outputs"):
        if side in resource:
            resource[side]["spec"]["template"]["spec"] = copy.deepcopy(spec)


def test_diff_lists_exactly_the_planted_new_and_resolved_findings(store: HistoryStore, tmp_path: Path) -> None:
    from benchmarks import fleet as fleet_bench

    exports = tmp_path / "exports"
    fleet_bench.generate(exports, 3, 150, 11, None)
    paths = sorted(exports.glob("*.json"))
    first, failing_before = _evaluate(paths, at(1))
    store.record(first)

    docs = [json.loads(p.read_text()) for p in paths]

    def failures(resource: dict[str, Any], of: dict[str, set[Any]]) -> set[tuple[str, str, str, str]]:
        return of.get(resource["urn"], set())

    def by_failures(doc: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(_deployments(doc), key=lambda d: (len(failures(d, failing_before)), d["urn"]))

    # plant 1: the least failing deployment of cluster 0 turns privileged
    made_privileged = by_failures(docs[0])[0]
    spec = copy.deepcopy(made_privileged["outputs"]["spec"]["template"]["spec"])
    spec["containers"][0]["securityContext"] = {"privileged": True}
    _set_pod_spec(made_privileged, spec)
    # plant 2: the most failing deployment of cluster 1 is deleted
    deleted = by_failures(docs[1])[-1]
    docs[1]["deployment"]["resources"].remove(deleted)
    # plant 3: the most failing deployment of cluster 2 gets the least failing one's pod spec (its own account)
    fixed, good = by_failures(docs[2])[-1], by_failures(docs[2])[0]
    spec = copy.deepcopy(good["outputs"]["spec"]["template"]["spec"])
    spec["serviceAccountName"] = fixed["outputs"]["spec"]["template"]["spec"]["serviceAccountName"]
    _set_pod_spec(fixed, spec)
    for path, doc in zip(paths, docs, strict=True):
        path.write_text(json.dumps(doc))
    second, failing_after = _evaluate(paths, at(2))
    summary = store.record(second)

    before = set().union(*failing_before.values())
    after = set().union(*failing_after.values())
    planted_new = failures(made_privileged, failing_after) - failures(made_privileged, failing_before)
    planted_resolved = failures(deleted, failing_before) | (
        failures(fixed, failing_before) - failures(fixed, failing_after)
    )
    # each plant did what was meant, and the plants are the only drift in the fleet
    assert any(control == "POD-01" for _c, control, _s, _t in planted_new)
    assert failures(deleted, failing_before) and deleted["urn"] not in failing_after
    assert failures(fixed, failing_before) - failures(fixed, failing_after)
    assert after - before == planted_new
    assert before - after == planted_resolved

    diff = store.diff()
    assert (diff.from_run, diff.to_run) == (1, 2)
    key = lambda r: (r["cluster"], r["control"], r["subject"], r["target"])  # noqa: E731
    assert {key(r) for r in diff.new} == planted_new
    assert {key(r) for r in diff.resolved} == planted_resolved
    assert {r["close_reason"] for r in diff.resolved if r["subject"] == deleted["urn"]} == {"gone"}
    assert {r["close_reason"] for r in diff.resolved if r["subject"] == fixed["urn"]} == {"passed"}
    assert (summary.opened, summary.closed) == (len(planted_new), len(planted_resolved))
    # the whole history from the start: everything open at run 2 is new
    assert {key(r) for r in store.diff(0, 2).new} == after
    assert store.diff(1, 1).new == store.diff(1, 1).resolved == []


def test_diff_leaves_out_what_closed_and_opened_again_in_between(store: HistoryStore) -> None:
    store.record(run(at(1), [fail("web")]))
    store.record(run(at(2), []))
    store.record(run(at(3), [fail("web"), fail("api")]))
    d = store.diff(1, 3)
    assert identities(d.new) == {("a", "POD-01", "api")}
    assert d.resolved == []
    with pytest.raises(HistoryError, match="no run 9"):
        store.diff(1, 9)
    with pytest.raises(HistoryError, match="after run"):
        store.diff(3, 1)


# --------------------------------------------------------------------------- open, mttr, trend


def test_open_lists_findings_by_team_oldest_first_with_their_age(store: HistoryStore) -> None:
    store.record(run(at(1), [fail("old", team="shop"), fail("infra", team=None)]))
    store.record(run(at(3), [fail("old", team="shop"), fail("infra", team=None), fail("new", team="shop"),
                             fail("pay", team="payments")]))  # fmt: skip
    rows = store.open_findings(at(5, 12))
    assert [(r["team"], r["subject"], r["age_days"]) for r in rows] == [
        ("(unowned)", "infra", 4.5),
        ("payments", "pay", 2.5),
        ("shop", "old", 4.5),
        ("shop", "new", 2.5),
    ]
    assert [r["subject"] for r in store.open_findings(at(5), team="shop")] == ["old", "new"]
    assert [r["subject"] for r in store.open_findings(at(5), team="(unowned)")] == ["infra"]


def test_mttr_equals_a_hand_computation(store: HistoryStore) -> None:
    a, b = "a", "b"
    store.record(run(at(1), [fail("w1"), fail("w2"), fail("n1", control="NS-01", team="platform"),
                             fail("x", cluster=b, team="payments")], clusters=(a, b)))  # fmt: skip
    store.record(run(at(1, 6), [fail("w1"), fail("w2"), fail("x", cluster=b, team="payments")], clusters=(a, b)))
    store.record(run(at(2), [fail("w2"), fail("w3"), fail("x", cluster=b, team="payments")], clusters=(a, b)))
    store.record(run(at(3), [fail("w2"), fail("x", cluster=b, team="payments")], clusters=(a, b)))
    store.record(run(at(4), [fail("x", cluster=b, team="payments")], clusters=(a, b)))
    # By hand, resolved in the window [Mar 1, Mar 5):
    #   n1  NS-01  a platform  Mar 1 00:00 -> Mar 1 06:00 =  6 h
    #   w1  POD-01 a shop      Mar 1 00:00 -> Mar 2 00:00 = 24 h
    #   w3  POD-01 a shop      Mar 2 00:00 -> Mar 3 00:00 = 24 h
    #   w2  POD-01 a shop      Mar 1 00:00 -> Mar 4 00:00 = 72 h
    #   x   POD-01 b payments  still open: not counted
    # POD-01: mean (24 + 24 + 72) / 3 = 40; p90 by nearest rank of [24, 24, 72]: ceil(0.9 * 3) = 3rd = 72
    # NS-01: 6 and 6.  team shop = POD-01's; platform = NS-01's.  cluster a: (6+24+24+72)/4 = 31.5, p90 = 72
    rows = store.mttr(at(1), at(5))
    got = {(r["by"], r["key"]): (r["resolved"], r["mean_hours"], r["p90_hours"]) for r in rows}
    assert got == {
        ("control", "NS-01"): (1, 6.0, 6.0),
        ("control", "POD-01"): (3, 40.0, 72.0),
        ("team", "platform"): (1, 6.0, 6.0),
        ("team", "shop"): (3, 40.0, 72.0),
        ("cluster", "a"): (4, 31.5, 72.0),
    }
    # a window that ends before w2 closed leaves it out: POD-01 = (24 + 24) / 2, p90 = 24
    narrow = {(r["by"], r["key"]): (r["mean_hours"], r["p90_hours"]) for r in store.mttr(at(1), at(4), by=["control"])}
    assert narrow == {("control", "NS-01"): (6.0, 6.0), ("control", "POD-01"): (24.0, 24.0)}
    with pytest.raises(HistoryError, match="cannot group by"):
        store.mttr(at(1), at(5), by=["severity"])


def test_p90_is_the_nearest_rank() -> None:
    assert p90([5.0]) == 5.0
    assert p90([float(i) for i in range(1, 11)]) == 9.0
    assert p90([float(i) for i in range(1, 12)]) == 10.0
    with pytest.raises(ValueError):
        p90([])


def test_trend_counts_failing_findings_per_day(store: HistoryStore) -> None:
    store.record(run(at(1, 9), [fail("w1"), fail("w2", control="POD-02")]))
    store.record(run(at(2, 9), [fail("w1")]))
    store.record(run(at(3, 9), [fail("w1"), fail("w3")]))
    rows = store.trend(dt.date(2026, 2, 28), dt.date(2026, 3, 4), by="control")
    got = {(r["day"], r["key"]): r["failing"] for r in rows}
    assert got == {
        ("2026-02-28", "POD-01"): 0, ("2026-03-01", "POD-01"): 1, ("2026-03-02", "POD-01"): 1,
        ("2026-03-03", "POD-01"): 2, ("2026-03-04", "POD-01"): 2,
        ("2026-02-28", "POD-02"): 0, ("2026-03-01", "POD-02"): 1, ("2026-03-02", "POD-02"): 0,
        ("2026-03-03", "POD-02"): 0, ("2026-03-04", "POD-02"): 0,
    }  # fmt: skip
    per_cluster = store.trend(dt.date(2026, 3, 3), dt.date(2026, 3, 3))
    assert per_cluster == [{"day": "2026-03-03", "by": "cluster", "key": "a", "failing": 2}]


# --------------------------------------------------------------------------- evidence


def test_evidence_has_every_finding_and_exception_event_with_time_and_actor(store: HistoryStore) -> None:
    grant = ExceptionRecord("a", "NS-01", "namespace=observability", "platform", "node-exporter", dt.date(2026, 3, 3))
    store.record(run(at(1), [fail("web")], exceptions=[grant], actor="alice"))
    renewed = ExceptionRecord("a", "NS-01", "namespace=observability", "sre", "node-exporter", dt.date(2026, 3, 3))
    store.record(run(at(2), [fail("web", status="excepted")], exceptions=[renewed], actor="bob"))
    store.record(run(at(4), [fail("web", status="excepted")], exceptions=[renewed], actor="carol"))  # past expiry
    store.record(run(at(5), [], actor="dave"))
    events = [(e["at"][:10], e["actor"], e["kind"], e["event"]) for e in store.evidence(at(1))]
    assert events == [
        ("2026-03-01", "alice", "finding", "opened"),
        ("2026-03-01", "alice", "exception", "granted"),
        ("2026-03-02", "bob", "finding", "status"),
        ("2026-03-02", "bob", "exception", "changed"),
        ("2026-03-04", "carol", "exception", "expired"),
        ("2026-03-05", "dave", "finding", "resolved"),
        ("2026-03-05", "dave", "exception", "removed"),
    ]
    changed = next(e for e in store.evidence(at(2)) if e["event"] == "changed")
    assert changed["detail"] == {"owner": {"from": "platform", "to": "sre"}}
    assert [e["event"] for e in store.evidence(at(4), at(5))] == ["expired"]


# --------------------------------------------------------------------------- faults


def test_a_run_that_fails_half_way_records_nothing(store: HistoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.record(run(at(1), [fail("web"), fail("api")]))
    before = (store.runs(), store.open_findings(at(2)), store.evidence(at(1)))

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("disk full")  # after the run, its clusters and its findings were written

    monkeypatch.setattr(HistoryStore, "_record_exceptions", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        store.record(run(at(2), [fail("web"), fail("jobs", cluster="new")], clusters=("a", "new")))
    assert (store.runs(), store.open_findings(at(2)), store.evidence(at(1))) == before
    monkeypatch.undo()
    summary = store.record(run(at(2), [fail("web"), fail("jobs", cluster="new")], clusters=("a", "new")))
    assert (len(store.runs()), summary.opened, summary.closed) == (2, 1, 1)  # (PostgreSQL may skip an id)


def test_a_store_of_a_newer_schema_is_refused(history_url: str) -> None:
    open_store(history_url, create=True).close()
    if history_url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(history_url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version VALUES (%s, 0, 'from the future')", (LATEST + 1,))
    else:
        with sqlite3.connect(history_url) as conn:
            conn.execute("INSERT INTO schema_version VALUES (?, 0, 'from the future')", (LATEST + 1,))
        conn.close()
    with pytest.raises(
        HistoryError, match=rf"schema version {LATEST + 1}, written by a newer fleet-baseline.*up to {LATEST}"
    ):
        open_store(history_url)


def test_a_store_opened_again_keeps_its_schema_and_runs(history_url: str) -> None:
    with open_store(history_url, create=True) as s:
        s.record(run(at(1), [fail("web")]))
    with open_store(history_url) as s:
        assert s.schema_version() == LATEST
        assert [r.actor for r in s.runs()] == ["alice"]
        assert s.runs()[0].sources == ("state/a.json",)


def test_bad_runs_and_places_are_refused_clearly(tmp_path: Path, store: HistoryStore) -> None:
    with pytest.raises(HistoryError, match="no history store there yet"):
        open_store(str(tmp_path / "missing.db"))
    with pytest.raises(HistoryError, match="is a directory"):
        open_store(str(tmp_path), create=True)
    with pytest.raises(HistoryError, match=r"run.findings\[0\].cluster: 'zz' is not among"):
        store.record(run(at(1), [fail("web", cluster="zz")]))
    with pytest.raises(HistoryError, match="time zone"):
        store.record(run(dt.datetime(2026, 3, 1), []))
    with pytest.raises(HistoryError, match="observed twice"):
        store.record(run(at(1), [], clusters=("a", "a")))
    with pytest.raises(HistoryError, match="no runs recorded yet"):
        store.diff()
    assert store.runs() == []


_RECORDER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from baseline.history import ClusterObservation, FindingRecord, RunRecord, open_store
    url, who, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    time.sleep(max(0.0, start - time.time()))
    store = open_store(url, create=True)
    shared = [FindingRecord("shared", "POD-01", f"s{i}", "Pod") for i in range(40)]
    for i in range(n):
        own = [FindingRecord(who, "POD-02", f"{who}-{i}", "Pod")]
        store.record(RunRecord(dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i), who, "fleet",
                               "1", [ClusterObservation("shared"), ClusterObservation(who)], shared + own))
    store.close()
    """
)


def test_two_concurrent_recorders_never_lose_or_duplicate_a_finding(history_url: str) -> None:
    n = 12
    start = f"{time.time() + 2.0:.3f}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RECORDER, history_url, who, str(n), start],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for who in ("left", "right")
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with open_store(history_url) as s:
        assert len(s.runs()) == 2 * n
        rows = s.open_findings(at(28))
        shared = [r for r in rows if r["cluster"] == "shared"]
        assert sorted(r["subject"] for r in shared) == sorted(f"s{i}" for i in range(40))  # each exactly once
        assert {r["opened_run"] for r in shared} == {1}  # opened by whichever ran first, never again
        for who in ("left", "right"):
            assert [r["subject"] for r in rows if r["cluster"] == who] == [f"{who}-{n - 1}"]
            events = [e for e in s.evidence(at(1)) if e["cluster"] == who]
            assert sum(e["event"] == "opened" for e in events) == n
            assert sum(e["event"] == "resolved" for e in events) == n - 1
