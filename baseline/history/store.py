"""The history store: one small interface, two real back ends (SQLite by default, PostgreSQL for a team).

``open_store("posture.db")`` opens (or creates) a SQLite file in WAL mode with a busy timeout;
``open_store("postgresql://user@host/db")`` connects through psycopg 3 (``fleet-baseline[postgres]``).
Both run the same plain SQL (placeholders are rewritten for psycopg) and the same forward-only
migrations (:mod:`baseline.history.schema`).

Changes, not copies: :meth:`HistoryStore.record` compares a run with the open findings and exceptions
of the clusters the run observed and writes only what changed: a finding identity (cluster, control,
subject, target) is opened when it first fails and closed when it passes or its subject disappears;
an exception is granted, changed, expired and removed. A run is one transaction holding the store's
writer lock (``BEGIN IMMEDIATE`` in SQLite, a transaction-scoped advisory lock in PostgreSQL), so two
concurrent recorders are serialised, never lose or duplicate a finding, and a run that fails half-way
leaves nothing behind. Run ids therefore follow commit order, which is what ``diff`` relies on.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import math
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baseline.history.model import (
    ExceptionRecord,
    FindingRecord,
    HistoryError,
    RunInfo,
    RunRecord,
    RunSummary,
)
from baseline.history.schema import LATEST, MIGRATIONS

__all__ = [
    "DIMENSIONS",
    "UNOWNED",
    "Diff",
    "HistoryStore",
    "is_postgres_url",
    "open_store",
    "p90",
]

#: What ``mttr`` and ``trend`` group by.
DIMENSIONS: tuple[str, ...] = ("control", "team", "cluster")

#: The team of a finding nobody owns.
UNOWNED = "(unowned)"

#: Key of the PostgreSQL advisory lock every writer of the store takes (``fleet-baseline`` in ASCII).
_PG_LOCK_KEY = 0x666C656574

_CHUNK = 500
_RANK = {"unknown": 0, "excepted": 1, "fail": 2}


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def _ts(moment: dt.datetime) -> int:
    return math.floor(moment.timestamp())


def _dt(seconds: int | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _iso(seconds: int | None) -> str | None:
    moment = _dt(seconds)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def p90(values: Sequence[float]) -> float:
    """The 90th percentile by nearest rank: the smallest value at least 90% of the values do not exceed."""
    if not values:
        raise ValueError("p90 of no values")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]


# =========================================================================== back ends


class _Backend(ABC):
    """A connection plus what differs between engines: placeholders, the auto id, locking."""

    name = ""
    id_column = ""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def write(self) -> AbstractContextManager[None]:
        """One transaction holding the store's single writer lock."""

    @abstractmethod
    def read(self) -> AbstractContextManager[None]:
        """One consistent snapshot for a query."""

    @abstractmethod
    def has_table(self, table: str) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...


class _Sqlite(_Backend):
    name = "sqlite"
    id_column = "INTEGER PRIMARY KEY"

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        try:
            self.conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._wal(busy_timeout)
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as err:
            raise HistoryError(f"{path}: not a usable history store: {err}") from err
        if not mode or str(mode[0]).lower() != "wal":
            raise HistoryError(f"{path}: SQLite could not switch the store to WAL mode (got {mode})")

    def _wal(self, busy_timeout: float) -> tuple[Any, ...] | None:
        """Switch the store to WAL (it stays so: later opens only read the mode). The switch takes an
        exclusive lock for which SQLite does not call the busy handler, so two processes opening a
        new store at once see "database is locked": retried here until the busy timeout."""
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                mode: tuple[Any, ...] | None = self.conn.execute("PRAGMA journal_mode").fetchone()
                if mode and str(mode[0]).lower() == "wal":
                    return mode
                switched: tuple[Any, ...] | None = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()
                return switched
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)

    @contextmanager
    def write(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def has_table(self, table: str) -> bool:
        return bool(self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)))

    def close(self) -> None:
        self.conn.close()


class _Postgres(_Backend):
    name = "postgresql"
    id_column = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str, connect_timeout: float) -> None:
        try:
            import psycopg
        except ImportError as err:  # pragma: no cover - depends on the installed extras
            raise HistoryError(
                "a PostgreSQL history store needs psycopg 3: pip install 'fleet-baseline[postgres]'"
            ) from err
        self._psycopg = psycopg
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
        except psycopg.Error as err:
            raise HistoryError(f"cannot connect to the PostgreSQL history store: {err}".strip()) from err

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(self._sql(sql), tuple(params))
        return list(cur.fetchall()) if cur.description is not None else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    @contextmanager
    def write(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
            yield

    @contextmanager
    def read(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def has_table(self, table: str) -> bool:
        # a scan of pg_class under the statement's snapshot, not to_regclass: an advisory lock does not
        # refresh the backend's catalog cache, so to_regclass could miss a table another writer just made
        return bool(
            self.execute(
                "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = ? AND n.nspname = current_schema()",
                (table,),
            )
        )

    def close(self) -> None:
        self.conn.close()


# =========================================================================== the store


@dataclass(frozen=True)
class Diff:
    """Findings new and resolved between two runs (``from_run`` 0: since the store began)."""

    from_run: int
    to_run: int
    new: list[dict[str, Any]]
    resolved: list[dict[str, Any]]


_FINDING_COLUMNS = (
    "c.name, f.control, f.subject, f.target, f.severity, f.team, f.status, f.message, "
    "f.opened_run, f.opened_at, f.closed_run, f.closed_at, f.close_reason"
)


def _finding_row(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "cluster": row[0],
        "control": row[1],
        "subject": row[2],
        "target": row[3],
        "severity": row[4],
        "team": row[5] or UNOWNED,
        "status": row[6],
        "message": row[7],
        "opened_run": row[8],
        "opened_at": _iso(row[9]),
        "closed_run": row[10],
        "closed_at": _iso(row[11]),
        "close_reason": row[12],
    }


class HistoryStore:
    """Record runs; ask what changed, what is open, how fast things get fixed, and what happened."""

    def __init__(self, backend: _Backend, location: str) -> None:
        self._db = backend
        self.location = location

    @property
    def backend(self) -> str:
        return self._db.name

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def schema_version(self) -> int:
        if not self._db.has_table("schema_version"):
            return 0
        row = self._db.execute("SELECT MAX(version) FROM schema_version")
        return int(row[0][0] or 0)

    def _refuse_newer(self, version: int) -> None:
        if version > LATEST:
            raise HistoryError(
                f"{self.location}: the history store has schema version {version}, written by a newer "
                f"fleet-baseline; this one knows versions up to {LATEST}. Upgrade fleet-baseline to use it "
                "(the store was not changed)."
            )

    def migrate(self, *, at: dt.datetime | None = None) -> int:
        """Bring the schema up to :data:`LATEST`, forward only; return the version now in force."""
        version = self.schema_version()
        self._refuse_newer(version)
        if version == LATEST:
            return version
        stamp = _ts(at) if at else 0
        with self._db.write():
            if not self._db.has_table("schema_version"):
                self._db.execute(
                    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL, "
                    "description TEXT NOT NULL)"
                )
            version = self.schema_version()
            self._refuse_newer(version)
            for migration in MIGRATIONS:
                if migration.version <= version:
                    continue
                for statement in migration.statements:
                    self._db.execute(statement.replace("{id}", self._db.id_column))
                self._db.execute(
                    "INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
                    (migration.version, stamp, migration.description),
                )
        return LATEST

    def _check_schema(self) -> None:
        version = self.schema_version()
        self._refuse_newer(version)
        if version < LATEST:
            raise HistoryError(
                f"{self.location}: the history store has schema version {version}, older than {LATEST}; "
                "record a run to upgrade it"
            )

    # ------------------------------------------------------------------ recording

    def record(self, run: RunRecord) -> RunSummary:
        """Append ``run``: one transaction under the writer lock; on any error nothing is written."""
        run.validate()
        findings: dict[tuple[str, str, str, str], FindingRecord] = {}
        for f in run.findings:
            old = findings.get(f.identity)
            if old is None or _RANK[f.status] > _RANK[old.status]:
                findings[f.identity] = f
        exceptions: dict[tuple[str, str, str], ExceptionRecord] = {e.identity: e for e in run.exceptions}
        at = _ts(run.at)
        today = run.at.astimezone(dt.UTC).date()
        db = self._db
        with db.write():
            self._refuse_newer(self.schema_version())
            sources = json.dumps(list(run.sources), ensure_ascii=False)
            digest = hashlib.sha256(sources.encode("utf-8")).hexdigest()
            db.execute(
                "INSERT INTO source_sets (digest, sources) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
                (digest, sources),
            )
            source_set = int(db.execute("SELECT id FROM source_sets WHERE digest = ?", (digest,))[0][0])
            run_id = int(
                db.execute(
                    "INSERT INTO runs (at, actor, command, catalog_version, tool_version, source_set) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (at, run.actor, run.command, run.catalog_version, run.tool_version, source_set),
                )[0][0]
            )
            names = [c.name for c in run.clusters]
            db.executemany(
                "INSERT INTO clusters (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [(n,) for n in names]
            )
            ids: dict[str, int] = {}
            for chunk in _chunks(names):
                marks = ",".join("?" * len(chunk))
                for cid, name in db.execute(f"SELECT id, name FROM clusters WHERE name IN ({marks})", chunk):
                    ids[name] = int(cid)
            names_by_id = {v: k for k, v in ids.items()}
            db.executemany(
                "INSERT INTO run_clusters (run_id, cluster_id, baseline_version) VALUES (?, ?, ?)",
                [(run_id, ids[c.name], c.baseline_version) for c in run.clusters],
            )
            subjects = {c.name: c.subjects for c in run.clusters}
            opened, closed, changed = self._record_findings(run_id, at, ids, names_by_id, subjects, findings)
            events = self._record_exceptions(run_id, at, today, ids, names_by_id, exceptions)
        return RunSummary(run_id, run.at, opened, closed, changed, events, len(names))

    def _open_rows(self, table: str, columns: str, cluster_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(cluster_ids)):
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(
                f"SELECT {columns} FROM {table} WHERE closed_run IS NULL AND cluster_id IN ({marks})", chunk
            )
        return rows

    def _record_findings(
        self,
        run_id: int,
        at: int,
        ids: Mapping[str, int],
        names_by_id: Mapping[int, str],
        subjects: Mapping[str, frozenset[str] | None],
        findings: Mapping[tuple[str, str, str, str], FindingRecord],
    ) -> tuple[int, int, int]:
        db = self._db
        open_now: dict[tuple[str, str, str, str], tuple[int, str, str | None]] = {}
        for fid, cid, control, subject, target, status, team in self._open_rows(
            "findings", "id, cluster_id, control, subject, target, status, team", list(ids.values())
        ):
            open_now[(names_by_id[cid], control, subject, target)] = (int(fid), status, team)
        inserts: list[tuple[Any, ...]] = []
        status_updates: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        team_updates: list[tuple[Any, ...]] = []
        for identity, f in findings.items():
            current = open_now.get(identity)
            if current is None:
                if f.status == "unknown":
                    continue  # unknown opens nothing: it is not a failure we can see
                inserts.append(
                    (
                        ids[f.cluster],
                        f.control,
                        f.subject,
                        f.target,
                        f.severity,
                        f.team,
                        f.message,
                        f.status,
                        run_id,
                        at,
                    )
                )
                continue
            fid, status, team = current
            if status != f.status:
                status_updates.append((f.status, fid))
                changes.append((fid, run_id, at, status, f.status))
            if f.team and f.team != team:
                team_updates.append((f.team, fid))
        closes: list[tuple[Any, ...]] = []
        for identity, (fid, _status, _team) in open_now.items():
            if identity in findings:
                continue
            seen = subjects.get(identity[0])
            reason = "resolved" if seen is None else ("passed" if identity[2] in seen else "gone")
            closes.append((run_id, at, reason, fid))
        db.executemany(
            "INSERT INTO findings (cluster_id, control, subject, target, severity, team, message, status, "
            "opened_run, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            inserts,
        )
        db.executemany("UPDATE findings SET closed_run = ?, closed_at = ?, close_reason = ? WHERE id = ?", closes)
        db.executemany("UPDATE findings SET status = ? WHERE id = ?", status_updates)
        db.executemany("UPDATE findings SET team = ? WHERE id = ?", team_updates)
        db.executemany(
            "INSERT INTO finding_changes (finding_id, run_id, at, status_from, status_to) VALUES (?, ?, ?, ?, ?)",
            changes,
        )
        return len(inserts), len(closes), len(changes)

    def _record_exceptions(
        self,
        run_id: int,
        at: int,
        today: dt.date,
        ids: Mapping[str, int],
        names_by_id: Mapping[int, str],
        exceptions: Mapping[tuple[str, str, str], ExceptionRecord],
    ) -> int:
        db = self._db
        open_now: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        for row in self._open_rows(
            "exceptions", "id, cluster_id, control, scope, owner, reason, ticket, expires, expired", list(ids.values())
        ):
            open_now[(names_by_id[row[1]], row[2], row[3])] = row
        events: list[tuple[Any, ...]] = []
        for identity, e in exceptions.items():
            expires = e.expires.isoformat() if e.expires else None
            expired = e.expires is not None and today > e.expires
            found = open_now.get(identity)
            if found is None:
                eid = int(
                    db.execute(
                        "INSERT INTO exceptions (cluster_id, control, scope, owner, reason, ticket, expires, expired, "
                        "granted_run, granted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        (
                            ids[e.cluster],
                            e.control,
                            e.scope,
                            e.owner,
                            e.reason,
                            e.ticket,
                            expires,
                            int(expired),
                            run_id,
                            at,
                        ),
                    )[0][0]
                )
                events.append((eid, run_id, at, "granted", _exc_detail(e.owner, e.reason, e.ticket, expires)))
                if expired:
                    events.append((eid, run_id, at, "expired", json.dumps({"expires": expires})))
                continue
            eid, _cid, _control, _scope, owner, reason, ticket, old_expires, was_expired = found
            delta = {
                key: {"from": old, "to": new}
                for key, old, new in (
                    ("owner", owner, e.owner),
                    ("reason", reason, e.reason),
                    ("ticket", ticket, e.ticket),
                    ("expires", old_expires, expires),
                )
                if old != new
            }
            if delta:
                db.execute(
                    "UPDATE exceptions SET owner = ?, reason = ?, ticket = ?, expires = ? WHERE id = ?",
                    (e.owner, e.reason, e.ticket, expires, eid),
                )
                events.append((eid, run_id, at, "changed", json.dumps(delta, sort_keys=True)))
            if expired != bool(was_expired):
                db.execute("UPDATE exceptions SET expired = ? WHERE id = ?", (int(expired), eid))
                events.append((eid, run_id, at, "expired" if expired else "renewed", json.dumps({"expires": expires})))
        removed = [row for identity, row in open_now.items() if identity not in exceptions]
        db.executemany(
            "UPDATE exceptions SET closed_run = ?, closed_at = ? WHERE id = ?",
            [(run_id, at, row[0]) for row in removed],
        )
        events += [(row[0], run_id, at, "removed", json.dumps({"expires": row[7]})) for row in removed]
        db.executemany(
            "INSERT INTO exception_events (exception_id, run_id, at, event, detail) VALUES (?, ?, ?, ?, ?)", events
        )
        return len(events)

    # ------------------------------------------------------------------ queries

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Recorded runs, newest first."""
        self._check_schema()
        sql = (
            "SELECT r.id, r.at, r.actor, r.command, r.catalog_version, r.tool_version, s.sources FROM runs r "
            "JOIN source_sets s ON s.id = r.source_set ORDER BY r.id DESC"
        )
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with self._db.read():
            rows = self._db.execute(sql, params)
        return [
            RunInfo(int(r[0]), _dt(r[1]) or dt.datetime.min, r[2], r[3], r[4], r[5], tuple(json.loads(r[6])))
            for r in rows
        ]

    def diff(self, from_run: int | None = None, to_run: int | None = None) -> Diff:
        """New and resolved findings between two runs: by default the latest run and the one before it."""
        self._check_schema()
        db = self._db
        with db.read():
            if to_run is None:
                to_run = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM runs")[0][0])
                if to_run == 0:
                    raise HistoryError(f"{self.location}: no runs recorded yet (audit --record or fleet --record)")
            elif not db.execute("SELECT 1 FROM runs WHERE id = ?", (to_run,)):
                raise HistoryError(f"{self.location}: no run {to_run}")
            if from_run is None:
                from_run = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM runs WHERE id < ?", (to_run,))[0][0])
            elif from_run != 0 and not db.execute("SELECT 1 FROM runs WHERE id = ?", (from_run,)):
                raise HistoryError(f"{self.location}: no run {from_run}")
            if from_run > to_run:
                raise HistoryError(f"diff: run {from_run} is after run {to_run}; give the older run first")
            base = f"SELECT {_FINDING_COLUMNS} FROM findings f JOIN clusters c ON c.id = f.cluster_id WHERE "
            new = db.execute(
                base + "f.opened_run > ? AND f.opened_run <= ? AND (f.closed_run IS NULL OR f.closed_run > ?)",
                (from_run, to_run, to_run),
            )
            resolved = db.execute(
                base + "f.opened_run <= ? AND f.closed_run > ? AND f.closed_run <= ?", (from_run, from_run, to_run)
            )
        new_rows = [_finding_row(r) for r in new]
        resolved_rows = [_finding_row(r) for r in resolved]
        # closed and opened again in between: open at both runs, so neither new nor resolved
        both = {_identity(r) for r in new_rows} & {_identity(r) for r in resolved_rows}
        new_rows = sorted((r for r in new_rows if _identity(r) not in both), key=_identity)
        resolved_rows = sorted((r for r in resolved_rows if _identity(r) not in both), key=_identity)
        return Diff(from_run, to_run, new_rows, resolved_rows)

    def open_findings(
        self,
        at: dt.datetime,
        *,
        team: str | None = None,
        cluster: str | None = None,
        control: str | None = None,
    ) -> list[dict[str, Any]]:
        """Open findings with their age at ``at``, by team, oldest first within a team."""
        self._check_schema()
        sql = (
            f"SELECT {_FINDING_COLUMNS} FROM findings f JOIN clusters c ON c.id = f.cluster_id "
            "WHERE f.closed_run IS NULL"
        )
        params: list[Any] = []
        if team is not None:
            if team == UNOWNED:
                sql += " AND f.team IS NULL"
            else:
                sql += " AND f.team = ?"
                params.append(team)
        if cluster is not None:
            sql += " AND c.name = ?"
            params.append(cluster)
        if control is not None:
            sql += " AND f.control = ?"
            params.append(control)
        with self._db.read():
            rows = self._db.execute(sql, params)
        now = _ts(at)
        out = []
        for r in rows:
            row = _finding_row(r)
            row["age_days"] = round(max(0, now - int(r[9])) / 86400, 2)
            for key in ("closed_run", "closed_at", "close_reason"):
                del row[key]
            out.append((row["team"], int(r[9]), _identity(row), row))
        out.sort(key=lambda t: t[:3])
        return [t[3] for t in out]

    def mttr(self, since: dt.datetime, until: dt.datetime, by: Sequence[str] = DIMENSIONS) -> list[dict[str, Any]]:
        """Mean and p90 time to resolve, in hours, of the findings closed in [since, until), per ``by``."""
        self._check_schema()
        for dim in by:
            if dim not in DIMENSIONS:
                raise HistoryError(f"mttr: cannot group by {dim!r}; choose from {', '.join(DIMENSIONS)}")
        with self._db.read():
            rows = self._db.execute(
                "SELECT f.control, f.team, c.name, f.opened_at, f.closed_at FROM findings f "
                "JOIN clusters c ON c.id = f.cluster_id WHERE f.closed_at >= ? AND f.closed_at < ?",
                (_ts(since), _ts(until)),
            )
        out: list[dict[str, Any]] = []
        for dim in by:
            index = DIMENSIONS.index(dim)
            groups: dict[str, list[float]] = {}
            for r in rows:
                key = r[index] if r[index] is not None else UNOWNED
                groups.setdefault(key, []).append((int(r[4]) - int(r[3])) / 3600)
            for key in sorted(groups):
                hours = groups[key]
                out.append(
                    {
                        "by": dim,
                        "key": key,
                        "resolved": len(hours),
                        "mean_hours": round(sum(hours) / len(hours), 2),
                        "p90_hours": round(p90(hours), 2),
                    }
                )
        return out

    def trend(self, since: dt.date, until: dt.date, by: str = "cluster") -> list[dict[str, Any]]:
        """Open (failing) findings at the end of each UTC day from ``since`` to ``until``, per ``by``."""
        self._check_schema()
        if by not in DIMENSIONS:
            raise HistoryError(f"trend: cannot group by {by!r}; choose from {', '.join(DIMENSIONS)}")
        if until < since:
            raise HistoryError(f"trend: {until} is before {since}")
        days = [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]
        ends = [_ts(dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), dt.UTC)) for d in days]
        with self._db.read():
            rows = self._db.execute(
                "SELECT f.control, f.team, c.name, f.opened_at, f.closed_at FROM findings f "
                "JOIN clusters c ON c.id = f.cluster_id "
                "WHERE f.opened_at < ? AND (f.closed_at IS NULL OR f.closed_at >= ?)",
                (ends[-1], ends[0] - 86400),
            )
        index = DIMENSIONS.index(by)
        # a finding counts on each day whose end falls in [opened_at, closed_at): +1 then -1, then a running sum
        deltas: dict[str, list[int]] = {}
        for r in rows:
            key = r[index] if r[index] is not None else UNOWNED
            delta = deltas.setdefault(key, [0] * (len(days) + 1))
            first = bisect.bisect_left(ends, int(r[3]))
            last = len(days) if r[4] is None else bisect.bisect_left(ends, int(r[4]))
            if first < last:
                delta[first] += 1
                delta[last] -= 1
        out: list[dict[str, Any]] = []
        for key in sorted(deltas):
            running = 0
            for i, day in enumerate(days):
                running += deltas[key][i]
                out.append({"day": day.isoformat(), "by": by, "key": key, "failing": running})
        out.sort(key=lambda r: (r["day"], r["key"]))
        return out

    def evidence(self, since: dt.datetime, until: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Every finding and exception lifecycle event in [since, until), with time, run and actor."""
        self._check_schema()
        lo = _ts(since)
        hi = _ts(until) if until else 2**62
        db = self._db
        with db.read():
            opened = db.execute(
                "SELECT f.opened_at, f.opened_run, r.actor, c.name, f.control, f.subject, f.target, f.status, f.team, "
                "f.message FROM findings f JOIN clusters c ON c.id = f.cluster_id JOIN runs r ON r.id = f.opened_run "
                "WHERE f.opened_at >= ? AND f.opened_at < ?",
                (lo, hi),
            )
            closed = db.execute(
                "SELECT f.closed_at, f.closed_run, r.actor, c.name, f.control, f.subject, f.target, f.close_reason, "
                "f.team, f.opened_at FROM findings f JOIN clusters c ON c.id = f.cluster_id "
                "JOIN runs r ON r.id = f.closed_run WHERE f.closed_at >= ? AND f.closed_at < ?",
                (lo, hi),
            )
            changes = db.execute(
                "SELECT x.at, x.run_id, r.actor, c.name, f.control, f.subject, f.target, x.status_from, x.status_to, "
                "f.team FROM finding_changes x JOIN findings f ON f.id = x.finding_id "
                "JOIN clusters c ON c.id = f.cluster_id JOIN runs r ON r.id = x.run_id WHERE x.at >= ? AND x.at < ?",
                (lo, hi),
            )
            exc = db.execute(
                "SELECT x.at, x.run_id, r.actor, c.name, e.control, e.scope, x.event, x.detail, e.owner "
                "FROM exception_events x JOIN exceptions e ON e.id = x.exception_id "
                "JOIN clusters c ON c.id = e.cluster_id JOIN runs r ON r.id = x.run_id WHERE x.at >= ? AND x.at < ? "
                "ORDER BY x.id",
                (lo, hi),
            )
        events: list[tuple[int, int, int, dict[str, Any]]] = []

        def add(order: int, row: Sequence[Any], kind: str, event: str, subject: str, owner: Any, detail: Any) -> None:
            events.append(
                (
                    int(row[0]),
                    int(row[1]),
                    order,
                    {
                        "at": _iso(row[0]),
                        "run": int(row[1]),
                        "actor": row[2],
                        "kind": kind,
                        "event": event,
                        "cluster": row[3],
                        "control": row[4],
                        "subject": subject,
                        "owner": owner or UNOWNED,
                        "detail": detail,
                    },
                )
            )

        for r in opened:
            add(0, r, "finding", "opened", f"{r[5]} ({r[6]})", r[8], {"status": r[7], "message": r[9]})
        for r in changes:
            add(1, r, "finding", "status", f"{r[5]} ({r[6]})", r[9], {"from": r[7], "to": r[8]})
        for r in closed:
            add(2, r, "finding", r[7], f"{r[5]} ({r[6]})", r[8], {"openedAt": _iso(r[9])})
        for i, r in enumerate(exc):
            add(3 + i, r, "exception", r[6], r[5], r[8], json.loads(r[7]))
        events.sort(key=lambda t: (t[0], t[1], t[3]["cluster"], t[2], t[3]["control"], t[3]["subject"]))
        return [t[3] for t in events]


def _identity(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (row["cluster"], row["control"], row["subject"], row["target"])


def _exc_detail(owner: str, reason: str, ticket: str | None, expires: str | None) -> str:
    return json.dumps({"owner": owner, "reason": reason, "ticket": ticket, "expires": expires}, sort_keys=True)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def open_store(
    location: str,
    *,
    create: bool = False,
    busy_timeout: float = 60.0,
    at: dt.datetime | None = None,
) -> HistoryStore:
    """Open the store at ``location`` (a SQLite path, or a ``postgresql://`` URL) and bring its schema
    up to date; ``create`` makes a missing SQLite file. A store of a newer schema is refused."""
    backend: _Backend
    if is_postgres_url(location):
        backend = _Postgres(location, busy_timeout)
        shown = location.split("@")[-1] if "@" in location else location
    else:
        path = Path(location.removeprefix("sqlite:///") if location.startswith("sqlite:///") else location)
        if not path.exists() and not create:
            raise HistoryError(
                f"{path}: no history store there yet; record a run first (audit --record or fleet --record)"
            )
        if path.is_dir():
            raise HistoryError(f"{path}: is a directory; --history names a file (SQLite) or a postgresql:// URL")
        if not path.parent.is_dir():
            raise HistoryError(f"{path}: the directory {path.parent} does not exist")
        backend = _Sqlite(path, busy_timeout)
        shown = str(path)
    store = HistoryStore(backend, shown)
    try:
        store.migrate(at=at)
    except BaseException:
        store.close()
        raise
    return store
