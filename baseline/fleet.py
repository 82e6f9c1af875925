"""The fleet view: every cluster's posture, baseline version and open exceptions in one report.

A platform team with hundreds of clusters cannot read hundreds of audit files. This module folds the
findings of many clusters (each a :class:`~baseline.evaluator.Finding` list from the one evaluator,
next to the snapshot it came from) into one :class:`FleetReport`:

* a matrix of clusters x controls, each cell the worst status of that control on that cluster
  (fail > unknown > excepted > pass; ``n/a`` when the control judged nothing there), with counts
  and the first few failing subjects;
* each cluster's baseline version, flagged when it is behind the newest version seen in the fleet
  or below the catalog's minimum (the stale-template problem);
* the exceptions in force, with owner and days to expiry, expired ones first and loud;
* failing findings by owning team and severity, so each team sees its own list;
* per-cluster source problems and the sources that could not be read at all.

Scale is the design constraint: 1,000 clusters of ~150 resources each. :class:`FleetBuilder` never
keeps a snapshot or a finding: :func:`summarize` reduces one cluster to a small
:class:`ClusterSummary` (a few counters per control, at most :data:`MAX_SUBJECTS` subject names per
cell), which is all the report needs and is cheap to send back from a worker process. Everything is
linear in findings; nothing compares clusters pairwise.

Renderers (:func:`render_table`, :func:`render_json`, :func:`render_markdown`, :func:`render_html`)
and the Pulumi Kubernetes Operator ``Stack`` manifests (:func:`operator_stack`) are pure functions of
their inputs: no I/O, no clock, no environment. Cluster names, subjects, owners and reasons come from
state files and live clusters and are treated as untrusted in every format.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

from baseline.catalog import SEVERITY_ORDER, Catalog, load_catalog

if TYPE_CHECKING:
    from baseline.evaluator import Finding, Subject
    from baseline.intent import Intent

__all__ = [
    "CELL_GLYPHS",
    "MAX_SUBJECTS",
    "PALETTE",
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
    "ProgressBar",
    "SnapshotLike",
    "SourceError",
    "TeamRow",
    "contrast_ratio",
    "detect_cloud",
    "operator_resource_name",
    "operator_stack",
    "render_html",
    "render_json",
    "render_markdown",
    "render_table",
    "summarize",
    "version_key",
]

#: Identifies the JSON document's shape; bump the suffix on an incompatible change.
REPORT_SCHEMA = "fleet-baseline/fleet-report/v1"

CellStatus = Literal["fail", "unknown", "excepted", "pass", "n/a"]

#: Worst first when compared with ``max``: a cell is as bad as its worst finding.
STATUS_RANK: dict[str, int] = {"pass": 0, "excepted": 1, "unknown": 2, "fail": 3}
_STATUSES: tuple[str, ...] = ("fail", "unknown", "excepted", "pass")

#: One character per cell in the terminal table and the Markdown matrix.
CELL_GLYPHS: dict[str, str] = {"fail": "✗", "unknown": "?", "excepted": "~", "pass": "✓", "n/a": "·"}

#: Subjects kept per cell and status: enough to start fixing, bounded whatever the cluster's size.
MAX_SUBJECTS = 5

#: Findings without an owner (no namespace owner, no intent owner) are still somebody's problem.
UNOWNED = "(unowned)"

_SEVERITIES: tuple[str, ...] = tuple(sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__, reverse=True))

VersionStatus = Literal["current", "behind", "below-minimum", "unknown"]


# =========================================================================== inputs


class SnapshotLike(Protocol):
    """What the fleet reads from a snapshot (``baseline.sources.Snapshot``): its identity, version,
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


# =========================================================================== text helpers

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _plain(text: str, limit: int | None = None) -> str:
    """Untrusted text made safe for a terminal line: control characters (ANSI escapes, newlines,
    bidi overrides) shown as '?', and cut to ``limit`` with an ellipsis."""
    out = _CONTROL_CHARS.sub("?", text)
    if limit is not None and len(out) > limit:
        out = out[: max(limit - 1, 0)] + "…"
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _days_text(days: int | None) -> str:
    if days is None:
        return "no expiry"
    if days < 0:
        return f"EXPIRED {-days} day{'s' if days != -1 else ''} ago"
    if days == 0:
        return "expires today"
    return f"{days} day{'s' if days != 1 else ''} left"


_VERSION_MARK = {"current": "", "behind": "*", "below-minimum": "!", "unknown": "?"}


# =========================================================================== terminal table

_ANSI = {
    "fail": "\x1b[1;31m",
    "unknown": "\x1b[33m",
    "excepted": "\x1b[35m",
    "pass": "\x1b[32m",
    "n/a": "\x1b[2m",
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "warn": "\x1b[33m",
    "bad": "\x1b[1;31m",
}
_RESET = "\x1b[0m"


def render_table(report: FleetReport, *, fail_on: str = "critical", color: bool = False, name_width: int = 36) -> str:
    """A compact matrix for a terminal: one row per cluster (worst first), one column per control.

    Control ids are written vertically over their columns (area, then the two digits), so 43
    controls fit in 50 characters; a legend and the headline numbers follow.
    """

    def paint(text: str, style: str) -> str:
        return f"{_ANSI[style]}{text}{_RESET}" if color and text else text

    cols = report.controls
    groups: list[list[ControlColumn]] = []
    for col in cols:
        if groups and groups[-1][0].area == col.area:
            groups[-1].append(col)
        else:
            groups.append([col])
    width = max([len(_plain(report.labels[c.source])) for c in report.clusters] + [7])
    width = min(width, name_width)
    lead = f"{'cluster':<{width}} {'cloud':<5} {'version':<9} {'fail':>5} {'unk':>4} {'exc':>4}  "
    pad = " " * len(lead)

    def header(line: int) -> str:
        parts = []
        for g in groups:
            if line == 0:
                parts.append(f"{g[0].area:<{len(g)}}"[: len(g)])
            else:
                parts.append("".join(c.id.rsplit("-", 1)[-1].rjust(2, "0")[line - 1] for c in g))
        return " ".join(parts)

    lines: list[str] = []
    totals = report.totals()
    blocked = report.blocked(fail_on)
    lines.append(
        paint("fleet-baseline fleet", "bold")
        + f"  {len(report.clusters)} clusters · catalog baseline {report.catalog_version}"
        + f" · newest seen {report.newest_version or '-'} · {report.today.isoformat()}"
    )
    lines.append("")
    lines.append(pad + header(0))
    lines.append(lead.replace("cluster", "cluster", 1) + header(1))
    lines.append(pad + header(2))
    for c in report.clusters:
        status = report.version_status(c)
        version = _plain(c.baseline_version or "-", 8) + _VERSION_MARK[status]
        vstyle = {"current": "", "behind": "warn", "below-minimum": "bad", "unknown": "warn"}[status]
        name = _plain(report.labels[c.source], width)
        row = f"{name:<{width}} {(c.cloud or '-'):<5} "
        row += paint(f"{version:<9}", vstyle) if vstyle else f"{version:<9}"
        fails = f"{c.counts.get('fail', 0):>5}"
        row += " " + (paint(fails, "bad") if c.blocked_at(fail_on) else fails)
        row += f" {c.counts.get('unknown', 0):>4} {c.counts.get('excepted', 0):>4}  "
        cells = []
        for g in groups:
            chunk = ""
            for col in g:
                cell = c.cells.get(col.id)
                st = cell.status if cell else "n/a"
                chunk += paint(CELL_GLYPHS[st], st)
            cells.append(chunk)
        lines.append(row + " ".join(cells))
    lines.append("")
    lines.append(
        "legend: "
        + "  ".join(paint(CELL_GLYPHS[s], s) + " " + s for s in ("fail", "unknown", "excepted", "pass", "n/a"))
        + "   version: * behind the fleet's newest, ! below the catalog minimum, ? unknown"
    )
    lines.append(
        f"findings: {totals['fail']} fail, {totals['unknown']} unknown, {totals['excepted']} excepted, "
        f"{totals['pass']} pass"
    )
    summary = f"blocked at {fail_on}: {len(blocked)} of {len(report.clusters)} clusters"
    lines.append(paint(summary, "bad") if blocked else summary)
    stale = report.stale_clusters()
    if stale:
        lines.append(paint(f"stale baseline: {_count(len(stale), 'cluster')}", "warn"))
    expired = report.expired_exceptions()
    lines.append(
        f"exceptions: {len(report.exceptions)} listed"
        + (", " + paint(f"{len(expired)} EXPIRED", "bad") if expired else "")
    )
    loud = [x for x in report.exception_groups() if x.problem or x.expired(report.today)]
    for x in loud[:10]:
        where = _plain(x.clusters[0], 40) if len(x.clusters) == 1 else f"{len(x.clusters)} clusters"
        lines.append(
            f"  {x.control} {_plain(x.scope, 40)} owner {_plain(x.owner or '-', 30)} on {where}: "
            + paint(_plain(x.problem, 80) if x.problem else _days_text(x.days_left(report.today)), "bad")
        )
    if report.errors:
        lines.append(paint(f"unreadable sources: {len(report.errors)}", "bad"))
        for err in report.errors[:20]:
            lines.append(f"  {_plain(err.source, 80)}: {_plain(err.message, 160)}")
    return "\n".join(lines)


# =========================================================================== JSON


def render_json(report: FleetReport, *, fail_on: str = "critical") -> str:
    return json.dumps(report.to_dict(fail_on), indent=2, ensure_ascii=False) + "\n"


# =========================================================================== Markdown


def _md(text: Any) -> str:
    """Untrusted text in a GitHub table cell: one line, pipes and HTML neutralised."""
    s = _CONTROL_CHARS.sub(" ", str(text))
    s = html.escape(s, quote=False).replace("|", "\\|").replace("`", "\\`").replace("*", "\\*").replace("_", "\\_")
    s = s.replace("[", "\\[").replace("]", "\\]")
    return s.strip() or " "


def _md_table(head: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None) -> list[str]:
    align = align or ["l"] * len(head)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(report: FleetReport, *, fail_on: str = "critical") -> str:
    """GitHub-flavoured Markdown: summary, stale clusters, exceptions (expired first), teams, matrix."""
    today = report.today
    blocked = report.blocked(fail_on)
    stale = report.stale_clusters()
    expired = report.expired_exceptions()
    totals = report.totals()
    lines = [f"# Fleet baseline report, {today.isoformat()}", ""]
    lines += _md_table(
        ["", "value"],
        [
            ["clusters", len(report.clusters)],
            [f"blocked (failing enforce-mode at or above {fail_on})", len(blocked)],
            ["stale baseline version", len(stale)],
            ["catalog baseline (minimum)", _md(report.catalog_version)],
            ["newest baseline seen", _md(report.newest_version or "-")],
            ["exceptions listed / expired", f"{len(report.exceptions)} / {len(expired)}"],
            ["findings fail / unknown / excepted / pass", " / ".join(str(totals[s]) for s in _STATUSES)],
            ["unreadable sources", len(report.errors)],
        ],
        ["l", "r"],
    )
    if report.errors:
        lines += ["", "## Unreadable sources", ""]
        lines += _md_table(["source", "error"], [[_md(e.source), _md(e.message)] for e in report.errors])
    lines += ["", "## Stale clusters", ""]
    if stale:
        why = {
            "below-minimum": f"below the catalog minimum {report.catalog_version}",
            "behind": f"behind the fleet's newest {report.newest_version}",
            "unknown": "no baseline version stamped",
        }
        lines += _md_table(
            ["cluster", "stack", "version", "why"],
            [
                [
                    _md(report.labels[c.source]),
                    _md(c.stack or "-"),
                    _md(c.baseline_version or "-"),
                    _md(why[report.version_status(c)]),
                ]
                for c in stale
            ],
        )
    else:
        lines.append("Every cluster runs the newest baseline.")
    lines += ["", "## Exceptions", ""]
    if report.exceptions:
        rows = []
        for g in report.exception_groups():
            state = _md(g.problem or _days_text(g.days_left(today)))
            if g.expired(today) or g.problem:
                state = f"**{state}**"
            shown = ", ".join(_md(c) for c in g.clusters[:5]) + (
                f" and {len(g.clusters) - 5} more" if len(g.clusters) > 5 else ""
            )
            rows.append(
                [
                    _md(g.control),
                    _md(g.scope),
                    _md(g.owner or "-"),
                    _md(g.expires.isoformat() if g.expires else "-"),
                    state,
                    len(g.clusters),
                    shown,
                    g.excepted,
                    _md(g.reason),
                ]
            )
        lines += _md_table(
            ["control", "scope", "owner", "expires", "state", "clusters", "on", "findings excepted", "reason"],
            rows,
            ["l", "l", "l", "l", "l", "r", "l", "r", "l"],
        )
    else:
        lines.append("No exceptions.")
    lines += ["", "## Failing findings by team", ""]
    if report.teams:
        lines += _md_table(
            ["team", *_SEVERITIES, "total", "clusters"],
            [[_md(t.team), *(t.by_severity.get(s, 0) for s in _SEVERITIES), t.total, t.clusters] for t in report.teams],
            ["l", *["r"] * (len(_SEVERITIES) + 2)],
        )
    else:
        lines.append("No failing findings.")
    problems = [(c, p) for c in report.clusters for p in c.problems]
    if problems:
        lines += ["", "## Source problems", ""]
        lines += _md_table(["cluster", "problem"], [[_md(report.labels[c.source]), _md(p)] for c, p in problems])
    lines += ["", "## Matrix", ""]
    lines.append(
        "Worst status per control: "
        + ", ".join(f"{CELL_GLYPHS[s]} {s}" for s in ("fail", "unknown", "excepted", "pass", "n/a"))
        + ". Versions: * behind the newest, ! below the minimum, ? unknown. Clusters worst first."
    )
    lines.append("")
    head = ["cluster", "version", "fail", "unknown", "excepted", *(c.id for c in report.controls)]
    rows = []
    for c in report.clusters:
        version = _md(c.baseline_version or "-") + _VERSION_MARK[report.version_status(c)].replace("*", "\\*")
        cells = [
            CELL_GLYPHS[c.cells[col.id].status] if col.id in c.cells else CELL_GLYPHS["n/a"] for col in report.controls
        ]
        name = _md(report.labels[c.source])
        rows.append(
            [
                f"**{name}**" if c.blocked_at(fail_on) else name,
                version,
                *(c.counts.get(s, 0) for s in ("fail", "unknown", "excepted")),
                *cells,
            ]
        )
    lines += _md_table(head, rows, ["l", "l", "r", "r", "r", *["c"] * len(report.controls)])
    return "\n".join(lines) + "\n"


# =========================================================================== HTML

#: Cell colours (background, text). Every pair meets WCAG AA for normal text (4.5:1); the glyph in
#: each cell carries the status too, so colour is never the only signal.
PALETTE: dict[str, tuple[str, str]] = {
    "fail": ("#c62828", "#ffffff"),
    "unknown": ("#e3b341", "#1a1300"),
    "excepted": ("#7c4dcc", "#ffffff"),
    "pass": ("#1a4d2e", "#b7f0c8"),
    "n/a": ("#161b22", "#8b949e"),
    "page": ("#0d1117", "#e6edf3"),
    "muted": ("#0d1117", "#9aa7b4"),
    "stale": ("#9e6a03", "#ffffff"),
    "expired": ("#4a1515", "#ffd7d5"),
    "soon": ("#3d2e00", "#ffe69c"),
}


def contrast_ratio(background: str, foreground: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours."""

    def luminance(colour: str) -> float:
        h = colour.lstrip("#")
        channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(background), luminance(foreground)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _e(text: Any) -> str:
    """Escape for HTML text and attribute values (quotes included); control characters other than
    newline (tooltips are multi-line) are shown as '?'."""
    return html.escape(_CONTROL_BUT_NEWLINE.sub("?", str(text)), quote=True)


def _breakable(text: str) -> str:
    """Escaped, with line-break opportunities after '=' and ',' (a scope such as
    ``namespace=observability`` may wrap in a narrow column)."""
    return _e(text).replace("=", "=<wbr>").replace(",", ",<wbr>")


def _attr_json(value: Any) -> str:
    return _e(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


_CSS = """
:root{color-scheme:dark}
*{box-sizing:border-box}
body{margin:0;background:%(page_bg)s;color:%(page_fg)s;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header{padding:12px 12px 4px;display:flex;align-items:baseline;gap:18px;flex-wrap:wrap}
h1{font-size:20px;margin:0;font-weight:650}
h2{font-size:16px;margin:22px 12px 8px}
.meta{color:%(muted)s}
.tiles{display:flex;gap:10px;padding:6px 12px 8px;flex-wrap:wrap}
.tile{background:#161b22;border:1px solid #30363d;border-radius:8px;padding:8px 14px;min-width:128px}
.tile b{display:block;font-size:26px;line-height:1.1}
.tile span{color:%(muted)s;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile.bad{border-color:%(fail_bg)s;background:#2a1214}.tile.bad b{color:#ff8a80}
.tile.warn{border-color:%(stale_bg)s;background:#231a05}.tile.warn b{color:#ffd866}
.tile.ok b{color:#7ee2a0}
.filters{display:flex;gap:14px;align-items:center;padding:4px 12px 8px;flex-wrap:wrap}
.filters label{color:%(muted)s;font-size:13px}
select,input[type=search]{max-width:170px;background:#161b22;color:%(page_fg)s;border:1px solid #30363d;
border-radius:6px;padding:4px 8px;font:inherit}
.legend{display:flex;gap:12px;align-items:center;color:%(muted)s;font-size:13px;margin-left:auto}
.legend i{display:inline-block;width:20px;height:20px;line-height:20px;text-align:center;border-radius:3px;
font-style:normal;font-weight:700;margin-right:4px}
.wrap{overflow:auto;max-height:calc(100vh - 150px);margin:0 12px;border:1px solid #30363d;border-radius:8px}
table{border-collapse:separate;border-spacing:0}
#matrix th,#matrix td{border-bottom:1px solid #0d1117;border-right:1px solid #0d1117}
#matrix thead th{position:sticky;top:0;z-index:2;background:#161b22;vertical-align:bottom;padding:4px 2px;
font-weight:600}
#matrix thead th.ctl{width:21px;min-width:21px;max-width:21px;font-size:11px;color:%(page_fg)s}
#matrix thead th.ctl div{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;margin:0 auto}
#matrix th.ga,#matrix td.ga{border-left:2px solid #484f58}
#matrix .sticky{position:sticky;left:0;z-index:1;background:#0d1117}
#matrix thead .sticky{z-index:3;background:#161b22}
#matrix td.name{padding:0 8px;white-space:nowrap;max-width:190px;overflow:hidden;text-overflow:ellipsis;
font-weight:600}
#matrix td.num{padding:0 5px;text-align:right;font-variant-numeric:tabular-nums;color:%(muted)s}
#matrix td.num.hot{color:#ff8a80;font-weight:700}
#matrix td.cloud{padding:0 5px;color:%(muted)s;text-transform:uppercase;font-size:11px}
#matrix td.ver{padding:0 6px;font-variant-numeric:tabular-nums;white-space:nowrap}
#matrix td.ver.behind{background:%(stale_bg)s;color:%(stale_fg)s;font-weight:700}
#matrix td.ver.below-minimum,#matrix td.ver.unknown{background:%(fail_bg)s;color:%(fail_fg)s;font-weight:700}
#matrix td.c{width:21px;min-width:21px;height:22px;text-align:center;font-weight:700;cursor:default;padding:0;
font-size:13px}
#matrix td.c.f{background:%(fail_bg)s;color:%(fail_fg)s}
#matrix td.c.u{background:%(unknown_bg)s;color:%(unknown_fg)s}
#matrix td.c.x{background:%(excepted_bg)s;color:%(excepted_fg)s}
#matrix td.c.p{background:%(pass_bg)s;color:%(pass_fg)s;font-weight:400}
#matrix td.c.n{background:%(na_bg)s;color:%(na_fg)s;font-weight:400}
#matrix td.c.dim{opacity:.25}
#matrix tr.blocked td.name{box-shadow:inset 4px 0 0 %(fail_bg)s}
#matrix tbody tr:hover td{filter:brightness(1.25)}
#matrix[data-sev="medium"] .sv0,#matrix[data-sev="high"] .sv0,#matrix[data-sev="high"] .sv1,
#matrix[data-sev="critical"] .sv0,#matrix[data-sev="critical"] .sv1,#matrix[data-sev="critical"] .sv2{display:none}
.list{margin:0 12px;border:1px solid #30363d;border-radius:8px;overflow:auto}
.list table{width:100%%}
.list th{text-align:left;background:#161b22;padding:6px 10px;font-weight:600;position:sticky;top:0}
.list td{padding:5px 10px;border-top:1px solid #21262d;vertical-align:top}
.list td.nw{white-space:nowrap}
.list td.reason{max-width:400px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.list td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.expired td{background:%(expired_bg)s;color:%(expired_fg)s}
tr.expired td.left{font-weight:800;text-transform:uppercase}
tr.soon td.left{background:%(soon_bg)s;color:%(soon_fg)s;font-weight:700}
tr.invalid td{background:%(expired_bg)s;color:%(expired_fg)s}
.cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 0}
.empty{margin:0 12px;color:%(muted)s}
footer{color:%(muted)s;padding:18px 12px 30px;font-size:12px}
@media (max-width:1100px){.cols{grid-template-columns:1fr}}
@media (min-width:1700px){
.main{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:0 12px;align-items:start;margin-right:12px}
.main .wrap{margin-right:0}
.side{max-height:calc(100vh - 150px);overflow:auto;border:1px solid #30363d;border-radius:8px;padding-bottom:12px}
.side h2:first-child{margin-top:10px}
.side .cols{grid-template-columns:minmax(0,1fr)}
.side .list th,.side .list td{padding:4px 7px;font-size:13px}
.side .opt{display:none}
}
"""

_JS = """
(function(){
  var table=document.getElementById('matrix'); if(!table) return;
  var rows=Array.prototype.slice.call(table.tBodies[0].rows);
  var team=document.getElementById('f-team'), sev=document.getElementById('f-sev'),
      cloud=document.getElementById('f-cloud'), only=document.getElementById('f-only'),
      q=document.getElementById('f-q'), shown=document.getElementById('shown');
  var rank={low:0,medium:1,high:2,critical:3};
  rows.forEach(function(r){ r._teams=JSON.parse(r.getAttribute('data-teams')||'[]');
    r._cells=Array.prototype.slice.call(r.querySelectorAll('td.c.f')).map(function(td){
      return [td, JSON.parse(td.getAttribute('data-t')||'[]')]; }); });
  // filters live in the address (#team=payments&sev=high&only=1): a wall screen opens its own view
  function readHash(){
    location.hash.slice(1).split('&').forEach(function(kv){
      var i=kv.indexOf('='); if(i<0) return;
      var k=decodeURIComponent(kv.slice(0,i)), v=decodeURIComponent(kv.slice(i+1));
      var el={team:team,sev:sev,cloud:cloud,q:q}[k];
      if(el){ el.value=v; if(el.value!==v) el.value=''; }
      if(k==='only') only.checked=(v==='1');
    });
  }
  function writeHash(){
    var parts=[];
    [['team',team.value],['sev',sev.value],['cloud',cloud.value],['q',q.value],['only',only.checked?'1':'']]
      .forEach(function(p){ if(p[1]) parts.push(p[0]+'='+encodeURIComponent(p[1])); });
    try { history.replaceState(null,'',parts.length?'#'+parts.join('&'):location.pathname+location.search); }
    catch(e) {}
  }
  function apply(){
    var t=team.value, s=sev.value, c=cloud.value, needle=q.value.toLowerCase(), n=0;
    table.setAttribute('data-sev', s);
    var min = s ? rank[s] : -1;
    rows.forEach(function(r){
      var ok=(!c || r.getAttribute('data-cloud')===c)
        && (!needle || r.getAttribute('data-name').indexOf(needle)>=0)
        && (!t || r._teams.indexOf(t)>=0)
        && (!only.checked || +r.getAttribute('data-worst')>=Math.max(min,0));
      r.hidden=!ok; if(ok) n++;
      r._cells.forEach(function(p){ p[0].classList.toggle('dim', !!t && p[1].indexOf(t)<0); });
    });
    shown.textContent=n;
  }
  function changed(){ apply(); writeHash(); }
  [team,sev,cloud,only,q].forEach(function(el){
    el.addEventListener('input',changed); el.addEventListener('change',changed); });
  // keep the expiry countdown right on a wall screen that shows an old report
  var today=new Date(); var t0=Date.UTC(today.getFullYear(),today.getMonth(),today.getDate());
  Array.prototype.forEach.call(document.querySelectorAll('tr[data-expires]'),function(tr){
    var p=tr.getAttribute('data-expires').split('-'); if(p.length!==3) return;
    var d=Math.round((Date.UTC(+p[0],+p[1]-1,+p[2])-t0)/86400000), cell=tr.querySelector('td.left');
    if(!cell) return;
    cell.textContent = d<0 ? 'EXPIRED '+(-d)+(d===-1?' day':' days')+' ago'
      : d===0 ? 'expires today' : d+(d===1?' day':' days')+' left';
    tr.classList.toggle('expired', d<0); tr.classList.toggle('soon', d>=0 && d<=14);
  });
  readHash();
  apply();
})();
"""

_CELL_CLASS = {"fail": "f", "unknown": "u", "excepted": "x", "pass": "p", "n/a": "n"}


def _cell_title(col: ControlColumn, cell: Cell | None) -> str:
    head = f"{col.id} {col.title} ({col.severity})"
    if cell is None:
        return f"{head}\nnot applicable: nothing on this cluster is judged by it"
    counts = ", ".join(f"{s} {cell.counts[s]}" for s in _STATUSES if cell.counts.get(s))
    lines = [head, counts]
    if cell.enforce_fails:
        lines.append(f"{cell.enforce_fails} failing in enforce mode")
    for status in ("fail", "unknown", "excepted"):
        kept = cell.subjects.get(status)
        if kept:
            lines.append(f"{status}:")
            lines += [f"  {_plain(s, 90)}" for s in kept]
            more = cell.counts.get(status, 0) - len(kept)
            if more > 0:
                lines.append(f"  … and {more} more")
    if cell.fail_teams:
        lines.append("teams: " + ", ".join(f"{_plain(t, 40)} {n}" for t, n in sorted(cell.fail_teams.items())))
    return "\n".join(lines)


def render_html(
    report: FleetReport,
    *,
    fail_on: str = "critical",
    title: str = "Fleet baseline",
    generated: str | None = None,
) -> str:
    """One self-contained HTML page (inline CSS and JS, no network): a heatmap a person can scan.

    Clusters worst first with sticky headers; cells coloured by status with the glyph inside and a
    tooltip with counts and failing subjects; filters by team, severity and cloud; stale versions
    highlighted; exceptions with an expiry countdown, expired ones loud. Every string from a source
    is escaped.
    """
    today = report.today
    blocked = report.blocked(fail_on)
    stale = report.stale_clusters()
    expired = report.expired_exceptions()
    totals = report.totals()
    colours = {f"{k.replace('/', '').replace('n/a', 'na')}_bg": v[0] for k, v in PALETTE.items()}
    colours |= {f"{k.replace('/', '').replace('n/a', 'na')}_fg": v[1] for k, v in PALETTE.items()}
    colours["na_bg"], colours["na_fg"] = PALETTE["n/a"]
    colours["muted"] = PALETTE["muted"][1]
    css = _CSS % colours
    out: list[str] = []
    w = out.append
    w('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    w('<meta name="viewport" content="width=device-width,initial-scale=1">')
    w(f"<title>{_e(title)} · {len(report.clusters)} clusters · {_e(today.isoformat())}</title>")
    w(f"<style>{css}</style></head><body>")
    w(
        f'<header><h1>{_e(title)}</h1><span class="meta">{len(report.clusters)} clusters · catalog baseline '
        f"{_e(report.catalog_version)} · newest seen {_e(report.newest_version or '-')} · report of "
        f"{_e(generated or today.isoformat())}</span></header>"
    )

    def tile(value: Any, label: str, tone: str) -> None:
        w(f'<div class="tile {tone}"><b>{_e(value)}</b><span>{_e(label)}</span></div>')

    w('<div class="tiles">')
    tile(len(report.clusters), "clusters", "")
    tile(len(blocked), f"blocked at {fail_on}", "bad" if blocked else "ok")
    tile(totals["fail"], "failing findings", "bad" if totals["fail"] else "ok")
    tile(totals["unknown"], "unknown", "warn" if totals["unknown"] else "ok")
    tile(len(stale), "stale baseline", "warn" if stale else "ok")
    tile(len(report.exceptions), "exceptions", "")
    tile(len(expired), "expired exceptions", "bad" if expired else "ok")
    if report.errors:
        tile(len(report.errors), "unreadable sources", "bad")
    w("</div>")

    team_names = sorted({t for c in report.clusters for t in c.teams})
    w('<div class="filters">')
    w('<label>team <select id="f-team"><option value="">all</option>')
    for name in team_names:
        w(f'<option value="{_e(name)}">{_e(name)}</option>')
    w("</select></label>")
    w('<label>severity <select id="f-sev"><option value="">all</option>')
    for s in reversed(_SEVERITIES):
        w(f'<option value="{s}">{s} and above</option>')
    w("</select></label>")
    w('<label>cloud <select id="f-cloud"><option value="">all</option>')
    for cl in report.clouds():
        w(f'<option value="{_e(cl)}">{_e(cl)}</option>')
    w("</select></label>")
    w('<label><input type="checkbox" id="f-only"> only failing</label>')
    w('<label>cluster <input type="search" id="f-q" placeholder="name"></label>')
    w(f'<span class="meta"><span id="shown">{len(report.clusters)}</span> shown</span>')
    w('<span class="legend">')
    for s in ("fail", "unknown", "excepted", "pass", "n/a"):
        bg, fg = PALETTE[s]
        w(f'<span><i style="background:{bg};color:{fg}">{CELL_GLYPHS[s]}</i>{s}</span>')
    w("</span></div>")

    # ------------------------------------------------------------ matrix
    w('<div class="main"><div class="wrap"><table id="matrix" data-sev="">')
    w(
        '<thead><tr><th class="sticky">cluster</th><th>cloud</th><th>version</th>'
        '<th title="failing findings">fail</th><th title="unknown findings">unk</th>'
        '<th title="excepted findings">exc</th>'
    )
    prev_area = None
    for col in report.controls:
        ga = " ga" if col.area != prev_area else ""
        prev_area = col.area
        sv = SEVERITY_ORDER.get(col.severity, 0)
        head_title = _e(f"{col.id} {col.title} ({col.severity})")
        w(f'<th class="ctl sv{sv}{ga}" title="{head_title}"><div>{_e(col.id)}</div></th>')
    w("</tr></thead><tbody>")
    version_title = {
        "current": "current",
        "behind": f"behind the fleet's newest baseline {report.newest_version}",
        "below-minimum": f"below the catalog minimum {report.catalog_version}: built from a stale template",
        "unknown": "no baseline version stamped",
    }
    for c in report.clusters:
        vs = report.version_status(c)
        is_blocked = c.blocked_at(fail_on)
        attrs = (
            f' data-cloud="{_e(c.cloud or "other")}" data-name="{_e(report.labels[c.source].lower())}"'
            f' data-teams="{_attr_json(c.teams)}" data-worst="{c.worst_failing}"'
        )
        row_class = ' class="blocked"' if is_blocked else ""
        w(f"<tr{row_class}{attrs}>")
        name_title = f"{c.name}\nsource: {c.source}" + (f"\nstack: {c.stack}" if c.stack else "")
        name_title += f"\n{c.resources} resources"
        if c.problems:
            name_title += "\nproblems:\n" + "\n".join(f"  {_plain(p, 120)}" for p in c.problems[:5])
        flag = " ⚠" if c.problems else ""
        w(f'<td class="name sticky" title="{_e(name_title)}">{_e(report.labels[c.source])}{flag}</td>')
        w(f'<td class="cloud">{_e(c.cloud or "-")}</td>')
        w(f'<td class="ver {vs}" title="{_e(version_title[vs])}">{_e(c.baseline_version or "none")}</td>')
        fails = c.counts.get("fail", 0)
        w(f'<td class="num{" hot" if is_blocked else ""}">{fails}</td>')
        w(f'<td class="num">{c.counts.get("unknown", 0)}</td><td class="num">{c.counts.get("excepted", 0)}</td>')
        prev_area = None
        for col in report.controls:
            cell = c.cells.get(col.id)
            st = cell.status if cell else "n/a"
            ga = " ga" if col.area != prev_area else ""
            prev_area = col.area
            sv = SEVERITY_ORDER.get(col.severity, 0)
            extra = f' data-t="{_attr_json(sorted(cell.fail_teams))}"' if cell is not None and st == "fail" else ""
            tip = _e(_cell_title(col, cell))
            w(f'<td class="c {_CELL_CLASS[st]} sv{sv}{ga}" title="{tip}"{extra}>{CELL_GLYPHS[st]}</td>')
        w("</tr>")
    w("</tbody></table></div>")

    # ------------------------------------------------------------ exceptions, teams, stale, problems
    # beside the matrix on a wide (wall) screen, below it otherwise
    w('<aside class="side">')
    groups = report.exception_groups()
    w(
        f"<h2>Exceptions ({len(report.exceptions)} on {len({e.source for e in report.exceptions})} clusters,"
        f" {len(groups)} distinct, {len(expired)} expired)</h2>"
    )
    if groups:
        w(
            '<div class="list"><table><thead><tr><th>control</th><th>scope</th><th>owner</th>'
            '<th class="opt">expires</th>'
            '<th>countdown</th><th>clusters</th><th class="opt">excepted</th><th class="opt">reason</th></tr>'
            "</thead><tbody>"
        )
        for g in groups:
            left = g.days_left(today)
            cls = (
                "invalid"
                if g.problem
                else ("expired" if g.expired(today) else ("soon" if left is not None and left <= 14 else ""))
            )
            data = f' data-expires="{_e(g.expires.isoformat())}"' if g.expires and not g.problem else ""
            state = g.problem or _days_text(left)
            listed = "\n".join(g.clusters[:60]) + (
                f"\n… and {len(g.clusters) - 60} more" if len(g.clusters) > 60 else ""
            )
            where = g.clusters[0] if len(g.clusters) == 1 else f"{len(g.clusters)} clusters"
            ticket = f" ({g.ticket})" if g.ticket else ""
            why = f"{g.reason}{ticket}\nexpires {g.expires.isoformat() if g.expires else '-'}, {g.excepted} excepted"
            w(
                f'<tr class="{cls}"{data} title="{_e(why)}"><td class="nw">{_e(g.control)}</td>'
                f'<td>{_breakable(g.scope)}</td><td class="nw">{_e(g.owner or "-")}</td>'
                f'<td class="nw opt">{_e(g.expires.isoformat() if g.expires else "-")}</td>'
                f'<td class="left nw">{_e(state)}</td><td class="nw" title="{_e(listed)}">{_e(where)}</td>'
                f'<td class="n opt">{g.excepted}</td><td class="reason opt">{_e(g.reason + ticket)}</td></tr>'
            )
        w("</tbody></table></div>")
    else:
        w('<p class="empty">No exceptions.</p>')
    w('<div class="cols"><section>')
    w("<h2>Failing findings by team</h2>")
    if report.teams:
        w(
            '<div class="list"><table><thead><tr><th>team</th>'
            + "".join(f"<th>{s}</th>" for s in _SEVERITIES)
            + "<th>total</th><th>clusters</th></tr></thead><tbody>"
        )
        for t in report.teams:
            w(
                f'<tr><td class="nw">{_e(t.team)}</td>'
                + "".join(f'<td class="n">{t.by_severity.get(s, 0)}</td>' for s in _SEVERITIES)
                + f'<td class="n"><b>{t.total}</b></td><td class="n">{t.clusters}</td></tr>'
            )
        w("</tbody></table></div>")
    else:
        w('<p class="empty">No failing findings.</p>')
    w("</section><section>")
    w(f"<h2>Stale baseline ({len(stale)})</h2>")
    if stale:
        w('<div class="list"><table><thead><tr><th>cluster</th><th>version</th><th>why</th></tr></thead><tbody>')
        why_short = {
            "behind": f"behind {report.newest_version}",
            "below-minimum": f"below the minimum {report.catalog_version}",
            "unknown": "no version stamped",
        }
        for c in stale:
            vs = report.version_status(c)
            w(
                f'<tr class="{"expired" if vs != "behind" else ""}"><td class="nw">{_e(report.labels[c.source])}</td>'
                f"<td>{_e(c.baseline_version or 'none')}</td>"
                f'<td class="nw" title="{_e(version_title[vs])}">{_e(why_short[vs])}</td></tr>'
            )
        w("</tbody></table></div>")
    else:
        w('<p class="empty">Every cluster runs the newest baseline.</p>')
    w("</section></div></aside></div>")
    problems = [(c, p) for c in report.clusters for p in c.problems]
    if report.errors or problems:
        w(f"<h2>Source problems ({len(report.errors)} unreadable, {len(problems)} partial)</h2>")
        w('<div class="list"><table><thead><tr><th>source</th><th>problem</th></tr></thead><tbody>')
        for err in report.errors:
            w(f'<tr class="expired"><td>{_e(err.source)}</td><td>{_e(err.message)}</td></tr>')
        for c, p in problems[:500]:
            w(f"<tr><td>{_e(report.labels[c.source])}</td><td>{_e(p)}</td></tr>")
        w("</tbody></table></div>")
    w(
        f"<footer>fleet-baseline · {_e(REPORT_SCHEMA)} · blocked means a failing enforce-mode finding at or above "
        f"{_e(fail_on)} · cell tooltips list up to {MAX_SUBJECTS} subjects per status</footer>"
    )
    w(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"


# =========================================================================== progress


class ProgressBar:
    """A one-line progress bar on a stream (stderr), redrawn at most every ``interval`` seconds.

    Disabled, it writes nothing: callers decide (a TTY, or ``--progress``), this class never looks.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        enabled: bool = True,
        label: str = "fleet",
        width: int = 28,
        interval: float = 0.1,
        clock: Any = time.monotonic,
    ) -> None:
        self.total = max(total, 0)
        self.stream = stream
        self.enabled = enabled
        self.label = label
        self.width = width
        self.interval = interval
        self.clock = clock
        self.done = 0
        self._start = clock()
        self._last = -1e9
        self._drawn = False

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._draw(now, note)

    def _draw(self, now: float, note: str) -> None:
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * self.width)
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "█" * filled + "·" * (self.width - filled)
        line = f"\r{self.label} [{bar}] {self.done}/{self.total} {frac * 100:3.0f}% {rate:5.1f}/s eta {eta:4.0f}s"
        if note:
            line += " " + _plain(note, 32)
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# =========================================================================== operator manifests

_K8S_NAME_MAX = 42  # the Stack CRD's own rule: size(self.metadata.name) <= 42
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")
_PULUMI_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def operator_resource_name(stack: str) -> str:
    """A Kubernetes name for a stack's ``Stack`` object: DNS-1123, at most 42 characters, stable.

    Too long or rewritten names keep a short hash of the stack name, so two stacks never collide.
    """
    base = _NAME_UNSAFE.sub("-", stack.lower()).strip("-") or "stack"
    if base == stack and len(base) <= _K8S_NAME_MAX:
        return base
    digest = hashlib.sha256(stack.encode()).hexdigest()[:8]
    if len(base) + 9 <= _K8S_NAME_MAX and base != stack:
        return f"{base}-{digest}"
    return f"{base[: _K8S_NAME_MAX - 9].rstrip('-')}-{digest}"


def _label_value(value: str) -> str:
    v = _LABEL_VALUE.sub("-", value)[:63].strip("-_.")
    return v


def operator_stack(
    stack: str,
    *,
    organization: str,
    project: str,
    project_repo: str,
    branch: str = "main",
    repo_dir: str | None = None,
    resync_seconds: int = 600,
    namespace: str | None = None,
    access_token_secret: str = "pulumi-api-secret",
    access_token_key: str = "accessToken",
    service_account: str | None = None,
    drift_only: bool = False,
    intent: Intent | None = None,
) -> dict[str, Any]:
    """The Pulumi Kubernetes Operator ``Stack`` (pulumi.com/v1) that keeps one cluster's stack run.

    Reconcile (default): every ``resync_seconds`` the operator refreshes the stack and runs
    ``pulumi up`` even when the commit is unchanged (``continueResyncOnCommitMatch``), so live drift
    is put back. ``drift_only``: ``spec.preview: true`` makes every run a ``pulumi preview
    --refresh`` that never applies; the Stack's status and the Pulumi Cloud update history show
    the drift. The operator never destroys (``destroyOnFinalize: false``) and never creates a stack
    that does not exist (``useLocalStackOnly``): a typo in a name is an error, not a new cluster.

    The CRD has no policy-pack field (the operator's agent does not pass ``--policy-pack``): the
    baseline pack applies to operator runs through Pulumi Cloud policy groups (docs/fleet.md).
    """
    for what, value in (("stack", stack), ("organization", organization), ("project", project)):
        if not value or not _PULUMI_NAME.match(value):
            raise ValueError(f"{what} {value!r} is not a Pulumi name (letters, digits, '_', '.', '-')")
    if not project_repo:
        raise ValueError("project_repo is required: the git repository the operator clones")
    if resync_seconds < 60:
        raise ValueError("resync_seconds must be at least 60 (the operator treats anything lower as 60)")
    mode = "drift-only" if drift_only else "reconcile"
    labels = {
        "app.kubernetes.io/managed-by": "fleet-baseline",
        "fleet-baseline.io/stack": _label_value(stack),
        "fleet-baseline.io/mode": mode,
    }
    if intent is not None:
        labels["fleet-baseline.io/cluster"] = _label_value(intent.cluster.name)
        labels["fleet-baseline.io/cloud"] = intent.cluster.cloud
        labels["fleet-baseline.io/wave"] = intent.rollout.wave
        labels["fleet-baseline.io/baseline-version"] = _label_value(intent.baseline_version)
    metadata: dict[str, Any] = {"name": operator_resource_name(stack)}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = labels
    metadata["annotations"] = {"fleet-baseline.io/stack": f"{organization}/{project}/{stack}"}
    spec: dict[str, Any] = {
        "stack": f"{organization}/{project}/{stack}",
        "projectRepo": project_repo,
        "branch": branch,
    }
    if repo_dir:
        spec["repoDir"] = repo_dir
    spec |= {
        "refresh": True,
        "resyncFrequencySeconds": int(resync_seconds),
        "continueResyncOnCommitMatch": True,
        "destroyOnFinalize": False,
        "useLocalStackOnly": True,
        "envRefs": {
            "PULUMI_ACCESS_TOKEN": {
                "type": "Secret",
                "secret": {"name": access_token_secret, "key": access_token_key},
            }
        },
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    if drift_only:
        spec["preview"] = True
    return {"apiVersion": "pulumi.com/v1", "kind": "Stack", "metadata": metadata, "spec": spec}
