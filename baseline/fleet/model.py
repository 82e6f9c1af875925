"""The fleet as data: each cluster's findings summarized into cells, exceptions and versions, and the whole fleet built
from them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from baseline.catalog import SEVERITY_ORDER, Catalog, load_catalog

if TYPE_CHECKING:
    from baseline.evaluator import Finding, Subject


__all__ = [
    "CELL_GLYPHS",
    "MAX_SUBJECTS",
    "REPORT_SCHEMA",
    "STATUS_RANK",
    "Cell",
    "CellStatus",
    "ClusterSummary",
    "ControlColumn",
    "ExceptionEntry",
    "ExceptionGroup",
    "FleetBuilder",
    "FleetReport",
    "SnapshotLike",
    "SourceError",
    "TeamRow",
    "detect_cloud",
    "summarize",
    "version_key",
]

#: Identifies the JSON document's shape; bump the suffix on an incompatible change.
REPORT_SCHEMA = "fleet-baseline/fleet-report/v1"

CellStatus = Literal["fail", "unknown", "not-judged", "excepted", "pass", "n/a"]

#: Worst first when compared with ``max``: a cell is as bad as its worst finding.
STATUS_RANK: dict[str, int] = {"pass": 0, "not-judged": 1, "excepted": 2, "unknown": 3, "fail": 4}
_STATUSES: tuple[str, ...] = ("fail", "unknown", "not-judged", "excepted", "pass")

#: One character per cell in the terminal table and the Markdown matrix.
CELL_GLYPHS: dict[str, str] = {
    "fail": "✗",
    "unknown": "?",
    "not-judged": "-",
    "excepted": "~",
    "pass": "✓",
    "n/a": "·",
}

#: Subjects kept per cell and status: enough to start fixing, bounded whatever the cluster's size.
MAX_SUBJECTS = 5

#: Findings without an owner (no namespace owner, no intent owner) are still somebody's problem.
UNOWNED = "(unowned)"

_SEVERITIES: tuple[str, ...] = tuple(sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__, reverse=True))

VersionStatus = Literal["current", "behind", "below-minimum", "unknown"]


# =========================================================================== inputs


class SnapshotLike(Protocol):
    """What the fleet reads from a snapshot (``baseline.audit.sources.Snapshot``): its identity, version,
    problems and exception records. Subjects are only scanned for the cloud, never kept."""

    @property
    def source(self) -> str: ...

    @property
    def cluster(self) -> str | None: ...

    @property
    def stack(self) -> str | None: ...

    @property
    def subjects(self) -> Sequence[Subject]: ...

    @property
    def baseline_version(self) -> str | None: ...

    @property
    def problems(self) -> Sequence[Any]: ...

    @property
    def exceptions(self) -> Sequence[Mapping[str, Any]]: ...


_CLOUD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("aws:eks/", "eks"),
    ("gcp:container/", "gke"),
    ("azure-native:containerservice:", "aks"),
)


def detect_cloud(subjects: Iterable[Subject]) -> str | None:
    """The cloud of a snapshot from its resources' type tokens; None for a live-only snapshot."""
    for s in subjects:
        t = s.type
        if t:
            for prefix, cloud in _CLOUD_PREFIXES:
                if t.startswith(prefix):
                    return cloud
    return None


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def version_key(version: str | None) -> tuple[int, int, int, int] | None:
    """An orderable key for a semantic version (a pre-release sorts before its release); None if
    the version is missing or not semantic."""
    if not version:
        return None
    m = _SEMVER.match(version.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if m.group(4) else 1


def short_subject(ref: str) -> str:
    """A subject as a person reads it: a URN's last part (``type::name``), else the reference."""
    if ref.startswith("urn:pulumi:"):
        parts = ref.split("::")
        if len(parts) >= 4:
            return f"{parts[-2].rsplit('$', 1)[-1]}::{parts[-1]}"
    return ref


# =========================================================================== per cluster


@dataclass(slots=True)
class Cell:
    """One control on one cluster: counts per status, and the first subjects of each bad status."""

    counts: dict[str, int] = field(default_factory=dict)
    subjects: dict[str, list[str]] = field(default_factory=dict)
    fail_teams: dict[str, int] = field(default_factory=dict)
    enforce_fails: int = 0

    @property
    def status(self) -> CellStatus:
        worst: CellStatus = "n/a"
        rank = -1
        for status, n in self.counts.items():
            if n and STATUS_RANK[status] > rank:
                worst, rank = status, STATUS_RANK[status]  # type: ignore[assignment]
        return worst

    def add(self, finding: Finding, max_subjects: int) -> None:
        status = finding.status
        self.counts[status] = self.counts.get(status, 0) + 1
        if status != "pass":
            kept = self.subjects.setdefault(status, [])
            if len(kept) < max_subjects:
                kept.append(short_subject(finding.subject))
        if status == "fail":
            team = finding.owner or UNOWNED
            self.fail_teams[team] = self.fail_teams.get(team, 0) + 1
            if finding.mode == "enforce":
                self.enforce_fails += 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "counts": dict(self.counts)}
        bad = self.status
        if bad in self.subjects:
            out["subjects"] = list(self.subjects[bad])
            out["more"] = self.counts[bad] - len(self.subjects[bad])
        if self.fail_teams:
            out["teams"] = dict(sorted(self.fail_teams.items()))
        if self.enforce_fails:
            out["enforceFails"] = self.enforce_fails
        return out


@dataclass(slots=True)
class ExceptionEntry:
    """An exception of one cluster, from the findings it excepted and/or its record in the state.

    ``excepted`` counts the findings it turned into ``excepted`` in this run. An exception that is
    recorded but excepted nothing is still listed: it is in force (or expired) and someone owns it.
    """

    cluster: str
    source: str
    control: str
    scope: str
    owner: str
    reason: str
    expires: dt.date | None
    ticket: str | None = None
    excepted: int = 0
    recorded: bool = False
    problem: str | None = None

    def days_left(self, today: dt.date) -> int | None:
        return None if self.expires is None else (self.expires - today).days

    def expired(self, today: dt.date) -> bool:
        left = self.days_left(today)
        return left is not None and left < 0

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.control, self.scope, self.owner, self.expires.isoformat() if self.expires else "", self.reason)

    def to_dict(self, today: dt.date) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cluster": self.cluster,
            "source": self.source,
            "control": self.control,
            "scope": self.scope,
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
            "daysLeft": self.days_left(today),
            "expired": self.expired(today),
            "excepted": self.excepted,
            "recorded": self.recorded,
        }
        if self.ticket:
            out["ticket"] = self.ticket
        if self.problem:
            out["problem"] = self.problem
        return out


@dataclass(frozen=True, slots=True)
class ExceptionGroup:
    """One exception as it appears on many clusters: the same control, scope, owner, reason and
    expiry, copied from a template. Grouped, a copied exception reads as one decision with N clusters
    (and one owner to ask), not as N rows."""

    control: str
    scope: str
    owner: str
    reason: str
    expires: dt.date | None
    ticket: str | None
    problem: str | None
    clusters: tuple[str, ...]
    excepted: int

    def days_left(self, today: dt.date) -> int | None:
        return None if self.expires is None else (self.expires - today).days

    def expired(self, today: dt.date) -> bool:
        left = self.days_left(today)
        return left is not None and left < 0


@dataclass(slots=True)
class ClusterSummary:
    """Everything the report keeps about one cluster: small, picklable, no subjects or findings."""

    source: str
    name: str
    stack: str | None
    cloud: str | None
    baseline_version: str | None
    cells: dict[str, Cell]
    counts: dict[str, int]
    blocking: dict[str, int]
    team_fails: dict[tuple[str, str], int]
    exceptions: list[ExceptionEntry]
    problems: tuple[str, ...]
    resources: int
    controls: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def worst_blocking(self) -> int:
        """Rank of the most severe failing enforce-mode finding; -1 when nothing blocks."""
        return max((SEVERITY_ORDER[s] for s, n in self.blocking.items() if n), default=-1)

    @property
    def worst_failing(self) -> int:
        return max((SEVERITY_ORDER[s] for (_, s), n in self.team_fails.items() if n), default=-1)

    @property
    def teams(self) -> list[str]:
        return sorted({t for (t, _), n in self.team_fails.items() if n})

    def blocked_at(self, fail_on: str) -> bool:
        return self.worst_blocking >= SEVERITY_ORDER[fail_on]


def _record_fields(record: Mapping[str, Any]) -> tuple[str, str, str, str, dt.date | None, str | None, str | None]:
    """(control, scope, owner, reason, expires, ticket, problem) of an exception record from state.

    A valid record is read through the intent's own model (so its scope reads exactly as the
    evaluator's does); a malformed one is still listed, loudly, with what is wrong with it.
    """
    from pydantic import ValidationError

    from baseline.exceptions import describe_scope
    from baseline.intent import ExceptionIntent

    try:
        exc = ExceptionIntent.model_validate(dict(record))
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        problem = f"invalid exception record: {where}: {first['msg']}"
        raw_scope = record.get("scope")
        if isinstance(raw_scope, Mapping):
            if raw_scope.get("cluster"):
                scope = "cluster"
            else:
                scope = ",".join(
                    f"{label}={raw_scope[key]}"
                    for key, label in (("namespace", "namespace"), ("objectName", "name"))
                    if raw_scope.get(key)
                )
        else:
            scope = ""
        expires = None
        raw_exp = record.get("expires")
        if isinstance(raw_exp, str):
            try:
                expires = dt.date.fromisoformat(raw_exp)
            except ValueError:
                expires = None
        ticket = record.get("ticket")
        return (
            str(record.get("control") or "?"),
            scope or "?",
            str(record.get("owner") or ""),
            str(record.get("reason") or ""),
            expires,
            str(ticket) if ticket else None,
            problem,
        )
    return exc.control, describe_scope(exc), exc.owner, exc.reason, exc.expires, exc.ticket, None


def summarize(
    snapshot: SnapshotLike,
    findings: Iterable[Finding],
    *,
    cloud: str | None = None,
    max_subjects: int = MAX_SUBJECTS,
) -> ClusterSummary:
    """Reduce one cluster's findings to a :class:`ClusterSummary`; the snapshot can then be dropped.

    One pass over the findings, one over the snapshot's exception records, one over its subjects'
    type tokens (only when ``cloud`` is not given).
    """
    name = snapshot.cluster or snapshot.stack or snapshot.source
    cells: dict[str, Cell] = {}
    counts = dict.fromkeys(_STATUSES, 0)
    blocking: dict[str, int] = {}
    team_fails: dict[tuple[str, str], int] = {}
    controls: dict[str, tuple[str, str]] = {}
    exceptions: dict[tuple[str, str, str, str, str], ExceptionEntry] = {}
    for f in findings:
        cell = cells.get(f.control_id)
        if cell is None:
            cell = cells[f.control_id] = Cell()
            controls[f.control_id] = (f.title, f.severity)
        cell.add(f, max_subjects)
        counts[f.status] = counts.get(f.status, 0) + 1
        if f.status == "fail":
            key = (f.owner or UNOWNED, f.severity)
            team_fails[key] = team_fails.get(key, 0) + 1
            if f.mode == "enforce":
                blocking[f.severity] = blocking.get(f.severity, 0) + 1
        active = f.exception
        if active is not None:
            entry = ExceptionEntry(
                cluster=name,
                source=snapshot.source,
                control=active.control,
                scope=active.scope,
                owner=active.owner,
                reason=active.reason,
                expires=active.expires,
                ticket=active.ticket,
            )
            found = exceptions.setdefault(entry.key(), entry)
            found.excepted += 1
    for record in snapshot.exceptions:
        control, scope, owner, reason, expires, ticket, problem = _record_fields(record)
        entry = ExceptionEntry(name, snapshot.source, control, scope, owner, reason, expires, ticket, problem=problem)
        found = exceptions.setdefault(entry.key(), entry)
        found.recorded = True
    return ClusterSummary(
        source=snapshot.source,
        name=name,
        stack=snapshot.stack,
        cloud=cloud if cloud is not None else detect_cloud(snapshot.subjects),
        baseline_version=snapshot.baseline_version,
        cells=cells,
        counts=counts,
        blocking=blocking,
        team_fails=team_fails,
        exceptions=list(exceptions.values()),
        problems=tuple(str(p) for p in snapshot.problems),
        resources=len(snapshot.subjects),
        controls=controls,
    )


# =========================================================================== the fleet


@dataclass(frozen=True, slots=True)
class ControlColumn:
    id: str
    title: str
    severity: str

    @property
    def area(self) -> str:
        return self.id.split("-", 1)[0]


@dataclass(frozen=True, slots=True)
class TeamRow:
    team: str
    by_severity: Mapping[str, int]
    clusters: int

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())


@dataclass(frozen=True, slots=True)
class SourceError:
    """A source (an export file, a kube context) that could not be read or judged at all."""

    source: str
    message: str


class FleetBuilder:
    """Aggregate clusters one at a time; memory grows with clusters x controls, not with resources.

    ``add(snapshot, findings)`` summarizes and drops both; ``add_summary`` takes a summary made
    elsewhere (a worker process); ``add_error`` records a source that could not be read.
    """

    def __init__(self, catalog: Catalog | None = None, *, today: dt.date | None = None) -> None:
        self.catalog = catalog or load_catalog()
        self.today = today or dt.date.today()
        self._clusters: list[ClusterSummary] = []
        self._errors: list[SourceError] = []
        self._extra_controls: dict[str, tuple[str, str]] = {}
        self._teams: dict[str, dict[str, int]] = {}
        self._team_clusters: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._clusters)

    def add(self, snapshot: SnapshotLike, findings: Iterable[Finding], *, cloud: str | None = None) -> ClusterSummary:
        summary = summarize(snapshot, findings, cloud=cloud)
        self.add_summary(summary)
        return summary

    def add_summary(self, summary: ClusterSummary) -> None:
        self._clusters.append(summary)
        for cid, meta in summary.controls.items():
            if cid not in self.catalog and cid not in self._extra_controls:
                self._extra_controls[cid] = meta
        for (team, severity), n in summary.team_fails.items():
            row = self._teams.setdefault(team, {})
            row[severity] = row.get(severity, 0) + n
        for team in summary.teams:
            self._team_clusters[team] = self._team_clusters.get(team, 0) + 1

    def add_error(self, source: str, message: str) -> None:
        self._errors.append(SourceError(source, message))

    def report(self) -> FleetReport:
        columns = [ControlColumn(c.id, c.title, c.severity) for c in self.catalog]
        columns += [ControlColumn(cid, t, s) for cid, (t, s) in sorted(self._extra_controls.items())]
        teams = [
            TeamRow(team, dict(sorted(sev.items(), key=lambda kv: -SEVERITY_ORDER.get(kv[0], -1))), n)
            for team, sev, n in ((t, s, self._team_clusters.get(t, 0)) for t, s in self._teams.items())
        ]
        teams.sort(key=lambda r: (tuple(-n for n in _weighted(r.by_severity)), r.team))
        return FleetReport(
            catalog_version=str(self.catalog.baseline_version),
            today=self.today,
            controls=tuple(columns),
            clusters=tuple(self._clusters),
            teams=tuple(teams),
            errors=tuple(sorted(self._errors, key=lambda e: e.source)),
        )


def _labels(clusters: Sequence[ClusterSummary]) -> dict[str, str]:
    """A distinct display name per source: the cluster's name, with its stack and then its source's
    file name added only where two sources would otherwise read the same (state and live, a copy)."""
    by_name: dict[str, list[ClusterSummary]] = {}
    for c in clusters:
        by_name.setdefault(c.name, []).append(c)
    labels: dict[str, str] = {}
    for name, group in by_name.items():
        if len(group) == 1:
            labels[group[0].source] = name
            continue
        stacks = [c.stack for c in group]
        for c in group:
            if c.stack and stacks.count(c.stack) == 1:
                labels[c.source] = f"{name} [{c.stack}]"
            else:
                labels[c.source] = f"{name} [{c.source.replace(chr(92), '/').rsplit('/', 1)[-1]}]"
    return labels


def _weighted(by_severity: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(by_severity.get(s, 0) for s in _SEVERITIES)


class FleetReport:
    """The fleet as one view: clusters worst-first, stale versions, exceptions, teams, errors."""

    def __init__(
        self,
        *,
        catalog_version: str,
        today: dt.date,
        controls: Sequence[ControlColumn],
        clusters: Sequence[ClusterSummary],
        teams: Sequence[TeamRow] = (),
        errors: Sequence[SourceError] = (),
    ) -> None:
        self.catalog_version = catalog_version
        self.today = today
        self.controls = tuple(controls)
        keys = [k for k in (version_key(c.baseline_version) for c in clusters) if k is not None]
        newest_key = max(keys, default=None)
        self.newest_version: str | None = None
        if newest_key is not None:
            self.newest_version = next(
                c.baseline_version for c in clusters if version_key(c.baseline_version) == newest_key
            )
        self._newest_key = newest_key
        self._minimum_key = version_key(catalog_version)
        self.clusters = tuple(sorted(clusters, key=self._badness))
        self.labels = _labels(self.clusters)
        self.teams = tuple(teams)
        self.errors = tuple(errors)
        entries = [e for c in self.clusters for e in c.exceptions]
        self.exceptions = tuple(
            sorted(
                entries,
                key=lambda e: (
                    e.problem is None,
                    not e.expired(today),
                    e.days_left(today) if e.days_left(today) is not None else 1 << 30,
                    e.cluster,
                    e.control,
                ),
            )
        )

    # ------------------------------------------------------------------ versions

    def version_status(self, cluster: ClusterSummary) -> VersionStatus:
        key = version_key(cluster.baseline_version)
        if key is None:
            return "unknown"
        if self._minimum_key is not None and key < self._minimum_key:
            return "below-minimum"
        if self._newest_key is not None and key < self._newest_key:
            return "behind"
        return "current"

    def stale_clusters(self) -> list[ClusterSummary]:
        return [c for c in self.clusters if self.version_status(c) != "current"]

    def _badness(self, c: ClusterSummary) -> tuple[Any, ...]:
        stale = {"below-minimum": 2, "unknown": 1, "behind": 1, "current": 0}[self.version_status(c)]
        return (
            -c.worst_failing,
            -c.worst_blocking,
            -c.counts.get("fail", 0),
            -c.counts.get("unknown", 0),
            -stale,
            c.name,
            c.source,
        )

    # ------------------------------------------------------------------ verdicts

    def blocked(self, fail_on: str = "critical") -> list[ClusterSummary]:
        """Clusters with a failing enforce-mode finding at or above ``fail_on``."""
        return [c for c in self.clusters if c.blocked_at(fail_on)]

    def exception_groups(self) -> list[ExceptionGroup]:
        """The exceptions grouped across clusters (same control, scope, owner, reason, expiry),
        invalid and expired first, then soonest to expire, then the most widely copied."""
        groups: dict[tuple[Any, ...], list[ExceptionEntry]] = {}
        for e in self.exceptions:
            groups.setdefault((*e.key(), e.ticket, e.problem), []).append(e)
        out = [
            ExceptionGroup(
                control=es[0].control,
                scope=es[0].scope,
                owner=es[0].owner,
                reason=es[0].reason,
                expires=es[0].expires,
                ticket=es[0].ticket,
                problem=es[0].problem,
                clusters=tuple(sorted(self.labels.get(e.source, e.cluster) for e in es)),
                excepted=sum(e.excepted for e in es),
            )
            for es in groups.values()
        ]
        today = self.today
        out.sort(
            key=lambda g: (
                g.problem is None,
                not g.expired(today),
                g.days_left(today) if g.days_left(today) is not None else 1 << 30,
                -len(g.clusters),
                g.control,
                g.scope,
            )
        )
        return out

    def expired_exceptions(self) -> list[ExceptionEntry]:
        return [e for e in self.exceptions if e.expired(self.today)]

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(_STATUSES, 0)
        for c in self.clusters:
            for status, n in c.counts.items():
                out[status] = out.get(status, 0) + n
        return out

    def clouds(self) -> list[str]:
        return sorted({c.cloud or "other" for c in self.clusters})

    def to_dict(self, fail_on: str = "critical") -> dict[str, Any]:
        """The report as plain JSON data; ``schema`` names its shape (:data:`REPORT_SCHEMA`)."""
        blocked = self.blocked(fail_on)
        return {
            "schema": REPORT_SCHEMA,
            "today": self.today.isoformat(),
            "catalogVersion": self.catalog_version,
            "newestVersion": self.newest_version,
            "failOn": fail_on,
            "summary": {
                "clusters": len(self.clusters),
                "blocked": len(blocked),
                "stale": len(self.stale_clusters()),
                "exceptions": len(self.exceptions),
                "expiredExceptions": len(self.expired_exceptions()),
                "unreadable": len(self.errors),
                "findings": self.totals(),
            },
            "controls": [{"id": c.id, "title": c.title, "severity": c.severity} for c in self.controls],
            "clusters": [self._cluster_dict(c, fail_on) for c in self.clusters],
            "exceptions": [e.to_dict(self.today) for e in self.exceptions],
            "teams": [
                {"team": t.team, "failing": dict(t.by_severity), "total": t.total, "clusters": t.clusters}
                for t in self.teams
            ],
            "errors": [{"source": e.source, "message": e.message} for e in self.errors],
        }

    def _cluster_dict(self, c: ClusterSummary, fail_on: str) -> dict[str, Any]:
        return {
            "name": c.name,
            "label": self.labels[c.source],
            "source": c.source,
            "stack": c.stack,
            "cloud": c.cloud,
            "baselineVersion": c.baseline_version,
            "versionStatus": self.version_status(c),
            "blocked": c.blocked_at(fail_on),
            "counts": dict(c.counts),
            "blocking": dict(c.blocking),
            "resources": c.resources,
            "teams": c.teams,
            "cells": {cid: c.cells[cid].to_dict() for cid in (col.id for col in self.controls) if cid in c.cells},
            "problems": list(c.problems),
        }
