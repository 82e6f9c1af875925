"""Benchmark the posture history store: N clusters recorded daily for D simulated days, both back ends.

Not a test: nothing asserts a time. A deterministic fleet (same N, D and seed, same runs) of clusters
with ~150 subjects and ~15 failing findings each drifts a little every day: a few findings fixed, a
few new, now and then a workload deleted, exceptions granted, renewed, expiring and removed. Each day
is one ``fleet --record``: one :class:`~baseline.history.RunRecord` of every cluster, handed to
:meth:`~baseline.history.HistoryStore.record` (the library call the command makes, in-process, so the
figure is the store's cost, not the evaluator's). Measured per back end: time per daily run (median
and slowest), the store's size at the end, and the time of ``history open`` (every open finding with
its age), ``mttr`` (the whole period, per control, team and cluster), ``trend`` (the last 30 days per
cluster) and ``diff`` (the last run against the one before).

The target is 1,000 clusters for 365 days (``make bench``)::

    .venv/bin/python -m benchmarks.history_store --clusters 1000 --days 365
    .venv/bin/python -m benchmarks.history_store --quick          # 100 clusters x 30 days

PostgreSQL runs on a private server started for the benchmark (``benchmarks.pgserver``, fsync on),
or on ``--postgres URL``; without server binaries only SQLite is measured, and the report says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baseline.history import ClusterObservation, ExceptionRecord, FindingRecord, HistoryStore, RunRecord, open_store

__all__ = ["Fleet", "HistoryResult", "main", "measure"]

CONTROLS = [f"POD-{i:02d}" for i in range(1, 15)] + [f"CL-{i:02d}" for i in range(1, 11)] + ["NS-01", "RB-01"]
TEAMS = ["shop", "payments", "platform", "data", "search", None]
START = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)
SUBJECTS = 150
FAILING = 15


class Fleet:
    """The simulated fleet: each cluster's subjects, failing findings and exceptions, drifting daily."""

    def __init__(self, clusters: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.names = [f"c{i:04d}-{('eu', 'us', 'ap')[i % 3]}" for i in range(clusters)]
        self.serial = 0
        self.subjects: dict[str, list[str]] = {}
        self.failing: dict[str, dict[tuple[str, str], FindingRecord]] = {}
        self.exceptions: dict[str, dict[str, ExceptionRecord]] = {}
        for name in self.names:
            self.subjects[name] = [self._subject(name) for _ in range(SUBJECTS)]
            self.failing[name] = {}
            for _ in range(FAILING):
                self._fail(name)
            self.exceptions[name] = {}
            if self.rng.random() < 0.3:
                self._grant(name, START.date())

    def _subject(self, cluster: str) -> str:
        self.serial += 1
        ns = self.rng.choice(["shop", "payments", "data", "search", "kube-system"])
        return f"urn:pulumi:{cluster}::fleet::kubernetes:apps/v1:Deployment::{ns}-app-{self.serial}"

    def _fail(self, cluster: str) -> None:
        subject = self.rng.choice(self.subjects[cluster])
        control = self.rng.choice(CONTROLS)
        team = self.rng.choice(TEAMS)
        self.failing[cluster][(subject, control)] = FindingRecord(
            cluster, control, subject, "kubernetes:apps/v1:Deployment", "fail", "high", team, f"{control} fails"
        )

    def _grant(self, cluster: str, today: dt.date) -> None:
        control = self.rng.choice(CONTROLS)
        scope = f"namespace={self.rng.choice(['shop', 'payments', 'data'])}"
        expires = today + dt.timedelta(days=self.rng.randrange(10, 120))
        self.exceptions[cluster][f"{control}/{scope}"] = ExceptionRecord(
            cluster, control, scope, "platform", "vendor agent needs it until replaced", expires, "PLAT-1"
        )

    def drift(self, today: dt.date) -> None:
        rng = self.rng
        for name in self.names:
            failing = self.failing[name]
            for key in list(failing):
                if rng.random() < 0.04:  # fixed
                    del failing[key]
            for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
                self._fail(name)
            if rng.random() < 0.02:  # a workload deleted, another deployed
                gone = rng.choice(self.subjects[name])
                self.subjects[name].remove(gone)
                self.subjects[name].append(self._subject(name))
                for key in [k for k in failing if k[0] == gone]:
                    del failing[key]
            excs = self.exceptions[name]
            if rng.random() < 0.01:
                self._grant(name, today)
            for key, exc in list(excs.items()):
                if exc.expires and exc.expires < today and rng.random() < 0.2:
                    if rng.random() < 0.5:
                        del excs[key]  # removed after expiring
                    else:  # renewed
                        excs[key] = ExceptionRecord(
                            exc.cluster, exc.control, exc.scope, exc.owner, exc.reason,
                            today + dt.timedelta(days=90), exc.ticket,
                        )  # fmt: skip

    def run(self, day: int) -> RunRecord:
        clusters = [ClusterObservation(n, "1.1.0", frozenset(self.subjects[n])) for n in self.names]
        findings = [f for n in self.names for f in self.failing[n].values()]
        exceptions = [e for n in self.names for e in self.exceptions[n].values()]
        return RunRecord(
            at=START + dt.timedelta(days=day),
            actor="ci-bot",
            command="fleet",
            catalog_version="1.1.0",
            clusters=clusters,
            findings=findings,
            exceptions=exceptions,
            sources=[f"state/{n}.json" for n in self.names],
        )


@dataclass
class HistoryResult:
    backend: str
    clusters: int
    days: int
    run_seconds: list[float] = field(default_factory=list)
    findings_per_run: float = 0.0
    size_bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    queries: dict[str, float] = field(default_factory=dict)
    query_rows: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        runs = sorted(self.run_seconds)
        return {
            "backend": self.backend,
            "clusters": self.clusters,
            "days": self.days,
            "findingsPerRun": round(self.findings_per_run),
            "runMedianSeconds": round(statistics.median(runs), 4) if runs else None,
            "runMaxSeconds": round(runs[-1], 4) if runs else None,
            "sizeBytes": self.size_bytes,
            "rows": self.rows,
            "querySeconds": {k: round(v, 4) for k, v in self.queries.items()},
            "queryRows": self.query_rows,
            "note": self.note,
        }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(
    location: str,
    clusters: int,
    days: int,
    size: Callable[[], int],
    log: Callable[[str], None] = lambda _m: None,
) -> HistoryResult:
    """Record ``days`` daily runs of ``clusters`` clusters into the store at ``location``; time the queries."""
    fleet = Fleet(clusters)
    store = open_store(location, create=True)
    result = HistoryResult(store.backend, clusters, days)
    findings = 0
    try:
        for day in range(days):
            if day:
                fleet.drift((START + dt.timedelta(days=day)).date())
            record = fleet.run(day)
            findings += len(record.findings)
            seconds, _ = _timed(lambda r=record: store.record(r))  # type: ignore[misc]
            result.run_seconds.append(seconds)
            if day % max(1, days // 10) == 0:
                log(f"  {store.backend}: day {day + 1}/{days}: {seconds:.3f} s, {len(record.findings):,} failing")
        result.findings_per_run = findings / max(days, 1)
        end = START + dt.timedelta(days=days)
        queries: dict[str, Callable[[], Any]] = {
            "open": lambda: store.open_findings(end),
            "mttr": lambda: store.mttr(START, end),
            "trend": lambda: store.trend(end.date() - dt.timedelta(days=30), end.date()),
            "diff": lambda: store.diff(),
            "evidence": lambda: store.evidence(end - dt.timedelta(days=7)),
        }
        for name, query in queries.items():
            seconds, rows = _timed(query)
            seconds = min(seconds, _timed(query)[0])  # best of two: the first may pay for a cold cache
            result.queries[name] = seconds
            result.query_rows[name] = len(rows.new) + len(rows.resolved) if name == "diff" else len(rows)
        result.rows = _counts(store)
    finally:
        store.close()
    result.size_bytes = size()
    return result


def _counts(store: HistoryStore) -> dict[str, int]:
    db = store._db  # the benchmark counts rows; the store has no public need for it
    tables = ("runs", "source_sets", "run_clusters", "findings", "finding_changes", "exceptions", "exception_events")
    return {t: int(db.execute(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables}


def _sqlite_size(path: Path) -> Callable[[], int]:
    def size() -> int:
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

    return size


def _pg_size(url: str) -> Callable[[], int]:
    def size() -> int:
        import psycopg

        # the store's own tables with their indexes and TOAST, not the empty database's ~7 MB of catalog
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            ).fetchone()
        return int(row[0]) if row else 0

    return size


@contextmanager
def _postgres(url: str | None, log: Callable[[str], None]) -> Iterator[str | None]:
    if url:
        yield url
        return
    from benchmarks import pgserver

    binaries = pgserver.bindir(os.environ.get("PG_BINDIR"))
    if binaries is None:
        log("history: no PostgreSQL server binaries; measuring SQLite only")
        yield None
        return
    with pgserver.private_server(binaries, durable=True) as server:
        yield server.create_database("history_bench")


def run_all(
    clusters: int, days: int, *, postgres: str | None = None, log: Callable[[str], None] = lambda _m: None
) -> list[HistoryResult]:
    """Both back ends (PostgreSQL where a server can be had)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="fb-history-bench-") as tmp:
        path = Path(tmp) / "history.db"
        log(f"history: sqlite, {clusters:,} clusters x {days} days")
        results.append(measure(str(path), clusters, days, _sqlite_size(path), log))
    with _postgres(postgres, log) as url:
        if url:
            log(f"history: postgresql, {clusters:,} clusters x {days} days")
            results.append(measure(url, clusters, days, _pg_size(url), log))
        else:
            results.append(HistoryResult("postgresql", clusters, days, note="no PostgreSQL server binaries here"))
    return results


def table(results: list[HistoryResult]) -> list[str]:
    lines = [
        "| back end | clusters x days | failing per run | per daily run (median / slowest) | store size "
        "| open | mttr | trend (30 d) | diff | evidence (7 d) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.run_seconds:
            lines.append(f"| {r.backend} | {r.clusters:,} x {r.days} | - | - | - | - | - | - | - | - ({r.note}) |")
            continue
        d = r.to_dict()

        def cell(name: str, r: HistoryResult = r) -> str:
            return f"{r.queries[name]:.3f} s ({r.query_rows[name]:,} rows)"

        lines.append(
            f"| {r.backend} | {r.clusters:,} x {r.days} | {d['findingsPerRun']:,} | {d['runMedianSeconds']:.3f} s / "
            f"{d['runMaxSeconds']:.3f} s | {r.size_bytes / 2**20:.1f} MiB | {cell('open')} | {cell('mttr')} | "
            f"{cell('trend')} | {cell('diff')} | {cell('evidence')} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--quick", action="store_true", help="100 clusters x 30 days")
    ap.add_argument("--postgres", metavar="URL", help="an existing PostgreSQL database (default: a private server)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    clusters, days = (100, 30) if args.quick else (args.clusters, args.days)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results = run_all(clusters, days, postgres=args.postgres, log=log)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
