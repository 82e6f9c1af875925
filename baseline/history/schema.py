"""The history store's schema: versioned, forward-only migrations in plain SQL for SQLite and PostgreSQL.

Each migration is a list of statements written once for both engines; ``{id}`` stands for the
engine's auto-numbered primary key. A migration is never edited once released: a change to the
schema is a new migration appended here, applied in order, each recorded in ``schema_version`` in the
same transaction as its statements. A store whose ``schema_version`` is newer than :data:`LATEST` was
written by a newer fleet-baseline and is refused (see :func:`baseline.history.store.open_store`).

Times are whole seconds since the epoch (UTC) in ``BIGINT`` columns: one representation, the same
arithmetic in both engines, and compact. Expiry dates of exceptions are ISO dates (``TEXT``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LATEST", "MIGRATIONS", "Migration"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "runs, clusters, findings and exceptions as open/closed lifecycles",
        (
            # the sources a run read (a JSON list), kept once however many runs read the same ones
            """CREATE TABLE source_sets (
                id {id},
                digest TEXT NOT NULL UNIQUE,
                sources TEXT NOT NULL
            )""",
            """CREATE TABLE runs (
                id {id},
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                command TEXT NOT NULL,
                catalog_version TEXT NOT NULL,
                tool_version TEXT NOT NULL,
                source_set BIGINT NOT NULL REFERENCES source_sets (id)
            )""",
            "CREATE INDEX runs_at ON runs (at)",
            """CREATE TABLE clusters (
                id {id},
                name TEXT NOT NULL UNIQUE
            )""",
            # which clusters a run observed (and their baseline version): what a finding's absence means
            """CREATE TABLE run_clusters (
                run_id BIGINT NOT NULL REFERENCES runs (id),
                cluster_id BIGINT NOT NULL REFERENCES clusters (id),
                baseline_version TEXT,
                PRIMARY KEY (run_id, cluster_id)
            )""",
            """CREATE TABLE findings (
                id {id},
                cluster_id BIGINT NOT NULL REFERENCES clusters (id),
                control TEXT NOT NULL,
                subject TEXT NOT NULL,
                target TEXT NOT NULL,
                severity TEXT NOT NULL,
                team TEXT,
                message TEXT NOT NULL,
                status TEXT NOT NULL,
                opened_run BIGINT NOT NULL REFERENCES runs (id),
                opened_at BIGINT NOT NULL,
                closed_run BIGINT REFERENCES runs (id),
                closed_at BIGINT,
                close_reason TEXT
            )""",
            # one open lifecycle per identity, whatever two concurrent writers do
            """CREATE UNIQUE INDEX findings_open_identity ON findings (cluster_id, control, subject, target)
                WHERE closed_run IS NULL""",
            "CREATE INDEX findings_opened_run ON findings (opened_run)",
            "CREATE INDEX findings_closed_run ON findings (closed_run)",
            "CREATE INDEX findings_closed_at ON findings (closed_at)",
            # a status change of an open finding (fail -> excepted -> fail, unknown)
            """CREATE TABLE finding_changes (
                id {id},
                finding_id BIGINT NOT NULL REFERENCES findings (id),
                run_id BIGINT NOT NULL REFERENCES runs (id),
                at BIGINT NOT NULL,
                status_from TEXT NOT NULL,
                status_to TEXT NOT NULL
            )""",
            "CREATE INDEX finding_changes_at ON finding_changes (at)",
            """CREATE TABLE exceptions (
                id {id},
                cluster_id BIGINT NOT NULL REFERENCES clusters (id),
                control TEXT NOT NULL,
                scope TEXT NOT NULL,
                owner TEXT NOT NULL,
                reason TEXT NOT NULL,
                ticket TEXT,
                expires TEXT,
                expired BIGINT NOT NULL DEFAULT 0,
                granted_run BIGINT NOT NULL REFERENCES runs (id),
                granted_at BIGINT NOT NULL,
                closed_run BIGINT REFERENCES runs (id),
                closed_at BIGINT
            )""",
            """CREATE UNIQUE INDEX exceptions_open_identity ON exceptions (cluster_id, control, scope)
                WHERE closed_run IS NULL""",
            """CREATE TABLE exception_events (
                id {id},
                exception_id BIGINT NOT NULL REFERENCES exceptions (id),
                run_id BIGINT NOT NULL REFERENCES runs (id),
                at BIGINT NOT NULL,
                event TEXT NOT NULL,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX exception_events_at ON exception_events (at)",
        ),
    ),
)

#: The newest schema this code writes and reads.
LATEST: int = MIGRATIONS[-1].version
