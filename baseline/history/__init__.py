"""Posture history: what each recorded ``audit``/``fleet`` run found, kept as changes.

An application subpackage that imports only the core; the commands hand it runs as plain data
(:class:`RunRecord`) and render what its queries return (:func:`render_rows`).
"""

from baseline.history.model import (
    TRACKED_STATUSES,
    ClusterObservation,
    ExceptionRecord,
    FindingRecord,
    HistoryError,
    RunInfo,
    RunRecord,
    RunSummary,
    exception_records,
    findings_to_records,
)
from baseline.history.queries import QUERIES, Answer, answer, parse_when
from baseline.history.report import FORMATS, render_rows
from baseline.history.schema import LATEST, MIGRATIONS
from baseline.history.store import DIMENSIONS, UNOWNED, Diff, HistoryStore, is_postgres_url, open_store, p90

__all__ = [
    "DIMENSIONS",
    "FORMATS",
    "LATEST",
    "MIGRATIONS",
    "QUERIES",
    "TRACKED_STATUSES",
    "UNOWNED",
    "Answer",
    "ClusterObservation",
    "Diff",
    "ExceptionRecord",
    "FindingRecord",
    "HistoryError",
    "HistoryStore",
    "RunInfo",
    "RunRecord",
    "RunSummary",
    "answer",
    "exception_records",
    "findings_to_records",
    "is_postgres_url",
    "open_store",
    "p90",
    "parse_when",
    "render_rows",
]
