"""The ``history`` subcommands' answers over a store (both back ends): rows, columns, documents."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from baseline.history import ClusterObservation, FindingRecord, HistoryError, RunRecord, answer, open_store, parse_when


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 3, day, tzinfo=dt.UTC)


def record(when: dt.datetime, subjects: list[str], actor: str = "alice") -> RunRecord:
    findings = [FindingRecord("prod", "POD-01", s, "Pod", team="shop") for s in subjects]
    return RunRecord(when, actor, "audit", "1.1.0", [ClusterObservation("prod")], findings, sources=["state.json"])


def test_each_query_answers_in_every_format(history_url: str) -> None:
    with open_store(history_url, create=True) as store:
        store.record(record(at(1), ["web", "api"]))
        store.record(record(at(3), ["web", "jobs"], actor="bob"))
        diff = answer(store, "diff", now=at(4))
        assert diff.document == {"fromRun": 1, "toRun": 2, "new": 1, "resolved": 1}
        assert [(r["change"], r["subject"]) for r in diff.rows] == [("new", "jobs"), ("resolved", "api")]
        doc = json.loads(diff.render("json"))
        assert [c["subject"] for c in doc["changes"]] == ["jobs", "api"]
        table = list(csv.DictReader(io.StringIO(answer(store, "open", now=at(4)).render("csv"))))
        assert [(r["subject"], r["age_days"]) for r in table] == [("web", "3.0"), ("jobs", "1.0")]
        mttr = answer(store, "mttr", now=at(4), by=["control"])
        assert mttr.rows == [{"by": "control", "key": "POD-01", "resolved": 1, "mean_hours": 48.0, "p90_hours": 48.0}]
        trend = answer(store, "trend", now=at(4), since=at(1), by=["team"])
        assert [(r["day"], r["failing"]) for r in trend.rows] == [
            ("2026-03-01", 2),
            ("2026-03-02", 2),
            ("2026-03-03", 2),
            ("2026-03-04", 2),
        ]  # fmt: skip (up to today, inclusive)
        evidence = answer(store, "evidence", now=at(4), since=parse_when("2026-03-03"))
        assert {(e["actor"], e["event"], e["subject"]) for e in evidence.rows} == {
            ("bob", "opened", "jobs (Pod)"),
            ("bob", "resolved", "api (Pod)"),
        }
        assert "bob" in evidence.render("table")
        runs = answer(store, "runs", now=at(4))
        assert [(r["id"], r["actor"]) for r in runs.rows] == [(2, "bob"), (1, "alice")]
        with pytest.raises(HistoryError, match="one --by"):
            answer(store, "trend", now=at(4), by=["team", "cluster"])
        with pytest.raises(HistoryError, match="unknown history query"):
            answer(store, "blame", now=at(4))


def test_times_are_dates_or_iso_times_in_utc() -> None:
    assert parse_when("2026-03-01") == at(1)
    assert parse_when("2026-03-01", end_of_day=True) == at(2)
    assert parse_when("2026-03-01T12:00:00Z") == at(1) + dt.timedelta(hours=12)
    assert parse_when("2026-03-01T12:00:00") == at(1) + dt.timedelta(hours=12)
    with pytest.raises(HistoryError, match="not a date"):
        parse_when("yesterday")
