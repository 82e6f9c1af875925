"""What a run hands the history store, and what the store's queries give back: plain data only.

A run is handed over as :class:`RunRecord`: when, who, which sources, the catalog version, the
clusters it observed and, for those clusters, every finding that did not pass and every exception
record in force. The store compares it with what it already holds and keeps only the changes.

Nothing here reads a clock, the environment or a file: the caller says when the run happened and who
ran it (``--actor`` or the OS user, read by the command line, never here).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from baseline.evaluator import Finding

__all__ = [
    "TRACKED_STATUSES",
    "ClusterObservation",
    "ExceptionRecord",
    "FindingRecord",
    "HistoryError",
    "RunInfo",
    "RunRecord",
    "RunSummary",
    "exception_records",
    "findings_to_records",
]

Status = Literal["fail", "excepted", "unknown"]

#: Statuses a run reports to the store. ``fail`` and ``excepted`` (a failure someone accepted for a
#: while) open a finding; ``unknown`` neither opens nor closes one (unknown is never pass); a pass is
#: the absence of a record for a subject of an observed cluster.
TRACKED_STATUSES: frozenset[str] = frozenset({"fail", "excepted", "unknown"})


class HistoryError(Exception):
    """The store cannot be used as asked (missing, newer schema, bad run record). The message says
    what to do; the command line exits 2 on it."""


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """One finding that did not pass, identified by (cluster, control, subject, target)."""

    cluster: str
    control: str
    subject: str
    target: str
    status: Status = "fail"
    severity: str = ""
    team: str | None = None
    message: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.cluster, self.control, self.subject, self.target)


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    """An exception recorded in a cluster's state, identified by (cluster, control, scope)."""

    cluster: str
    control: str
    scope: str
    owner: str
    reason: str
    expires: dt.date | None = None
    ticket: str | None = None

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.cluster, self.control, self.scope)


@dataclass(frozen=True, slots=True)
class ClusterObservation:
    """A cluster the run read. Only observed clusters have findings opened or closed.

    ``subjects``, when given, is every subject the run saw in the cluster: a closed finding whose
    subject is among them ``passed``; one whose subject is not is ``gone``. Without it a closed
    finding is ``resolved``.
    """

    name: str
    baseline_version: str | None = None
    subjects: frozenset[str] | None = None


@dataclass(frozen=True)
class RunRecord:
    """One ``audit --record`` or ``fleet --record``."""

    at: dt.datetime
    actor: str
    command: str
    catalog_version: str
    clusters: Sequence[ClusterObservation]
    findings: Sequence[FindingRecord] = ()
    exceptions: Sequence[ExceptionRecord] = ()
    sources: Sequence[str] = ()
    tool_version: str = ""

    def validate(self) -> None:
        """Raise :class:`HistoryError` naming the first thing wrong; nothing is written then."""
        if self.at.tzinfo is None:
            raise HistoryError("run.at: a run's time must carry a time zone (UTC)")
        if not self.actor.strip():
            raise HistoryError("run.actor: who recorded the run is required (--actor or the OS user)")
        names = [c.name for c in self.clusters]
        if not names:
            raise HistoryError("run.clusters: a run must observe at least one cluster")
        for i, name in enumerate(names):
            if not name:
                raise HistoryError(f"run.clusters[{i}].name: a cluster needs a name")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})[0]
            raise HistoryError(f"run.clusters: cluster {dup!r} observed twice in one run")
        known = set(names)
        for i, f in enumerate(self.findings):
            if f.cluster not in known:
                raise HistoryError(f"run.findings[{i}].cluster: {f.cluster!r} is not among the run's clusters")
            if f.status not in TRACKED_STATUSES:
                raise HistoryError(f"run.findings[{i}].status: {f.status!r} is not one of fail, excepted, unknown")
            if not (f.control and f.subject):
                raise HistoryError(f"run.findings[{i}]: control and subject are required")
        for i, e in enumerate(self.exceptions):
            if e.cluster not in known:
                raise HistoryError(f"run.exceptions[{i}].cluster: {e.cluster!r} is not among the run's clusters")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one recorded run changed."""

    run_id: int
    at: dt.datetime
    opened: int
    closed: int
    changed: int
    exception_events: int
    clusters: int


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run as the store keeps it."""

    id: int
    at: dt.datetime
    actor: str
    command: str
    catalog_version: str
    tool_version: str
    sources: tuple[str, ...] = field(default=())


_RANK = {"unknown": 0, "excepted": 1, "fail": 2}
_STATUS: dict[str, Status] = {"fail": "fail", "excepted": "excepted", "unknown": "unknown"}


def findings_to_records(findings: Iterable[Finding], *, cluster: str) -> list[FindingRecord]:
    """The evaluator's findings about one cluster as the store's records: passes dropped, one record
    per identity (the worst status of the policies that judged the same subject and target)."""
    out: dict[tuple[str, str, str, str], FindingRecord] = {}
    for f in findings:
        status = _STATUS.get(f.status)
        if status is None:
            continue
        rec = FindingRecord(
            cluster=cluster,
            control=f.control_id,
            subject=f.subject,
            target=f.subject_type,
            status=status,
            severity=f.severity,
            team=f.owner,
            message=f.message,
        )
        old = out.get(rec.identity)
        if old is None or _RANK[rec.status] > _RANK[old.status]:
            out[rec.identity] = rec
    return list(out.values())


def exception_records(cluster: str, records: Iterable[Mapping[str, object]]) -> list[ExceptionRecord]:
    """A cluster's exception records (as a state export holds them) as the store's records.

    A record the intent's model rejects is still kept, with what could be read of it: an auditor
    wants to see a malformed exception come and go as much as a valid one.
    """
    from pydantic import ValidationError

    from baseline.exceptions import describe_scope
    from baseline.intent import ExceptionIntent

    out: list[ExceptionRecord] = []
    for record in records:
        try:
            exc = ExceptionIntent.model_validate(dict(record))
        except ValidationError:
            scope = record.get("scope")
            expires = record.get("expires")
            try:
                day = dt.date.fromisoformat(expires) if isinstance(expires, str) else None
            except ValueError:
                day = None
            ticket = record.get("ticket")
            out.append(
                ExceptionRecord(
                    cluster=cluster,
                    control=str(record.get("control") or "?"),
                    scope=json.dumps(scope, sort_keys=True, default=str) if scope is not None else "?",
                    owner=str(record.get("owner") or ""),
                    reason=str(record.get("reason") or ""),
                    expires=day,
                    ticket=str(ticket) if ticket else None,
                )
            )
            continue
        out.append(
            ExceptionRecord(cluster, exc.control, describe_scope(exc), exc.owner, exc.reason, exc.expires, exc.ticket)
        )
    return out
