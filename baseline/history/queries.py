"""The ``fleet-baseline history SUB`` answers, ready to render: which rows, which columns, which document.

The command line parses arguments and opens the store; everything between that and the rendered
text is here, as pure functions of the store and the arguments (the caller says what time it is).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from baseline.history.model import HistoryError
from baseline.history.report import render_rows
from baseline.history.store import DIMENSIONS, HistoryStore

__all__ = ["QUERIES", "Answer", "answer", "parse_when"]

QUERIES: tuple[str, ...] = ("diff", "open", "mttr", "trend", "evidence", "runs")

_COLUMNS: dict[str, tuple[str, ...]] = {
    "diff": ("change", "cluster", "control", "severity", "team", "subject", "target", "status", "opened_at",
             "closed_at", "close_reason"),
    "open": ("team", "cluster", "control", "severity", "age_days", "status", "subject", "target", "opened_at"),
    "mttr": ("by", "key", "resolved", "mean_hours", "p90_hours"),
    "trend": ("day", "by", "key", "failing"),
    "evidence": ("at", "run", "actor", "kind", "event", "cluster", "control", "subject", "owner", "detail"),
    "runs": ("id", "at", "actor", "command", "catalog_version", "tool_version", "sources"),
}  # fmt: skip


@dataclass(frozen=True)
class Answer:
    query: str
    rows: list[dict[str, Any]]
    document: dict[str, Any] = field(default_factory=dict)
    key: str = "rows"

    @property
    def columns(self) -> tuple[str, ...]:
        return _COLUMNS[self.query]

    def render(self, fmt: str) -> str:
        return render_rows(self.rows, self.columns, fmt, document=self.document, key=self.key)


def parse_when(text: str, *, end_of_day: bool = False) -> dt.datetime:
    """A date (``2026-03-01``, the day's start, or its end with ``end_of_day``) or an ISO time, in UTC."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), dt.UTC)
            return moment + dt.timedelta(days=1) if end_of_day else moment
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise HistoryError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def answer(
    store: HistoryStore,
    query: str,
    *,
    now: dt.datetime,
    from_run: int | None = None,
    to_run: int | None = None,
    team: str | None = None,
    cluster: str | None = None,
    control: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    by: Sequence[str] | None = None,
    window_days: int = 30,
    limit: int | None = None,
) -> Answer:
    """Ask ``store`` one of :data:`QUERIES`; times default to the ``window_days`` before ``now``."""
    given_until = until
    until = until or now + dt.timedelta(seconds=1)  # up to now inclusive: a run of this very second counts
    if since is None:
        since = until - dt.timedelta(days=window_days)
    if query == "diff":
        d = store.diff(from_run, to_run)
        rows = [{"change": "new", **r} for r in d.new] + [{"change": "resolved", **r} for r in d.resolved]
        document = {"fromRun": d.from_run, "toRun": d.to_run, "new": len(d.new), "resolved": len(d.resolved)}
        return Answer(query, _filter(rows, team, cluster, control), document, "changes")
    if query == "open":
        rows = store.open_findings(now, team=team, cluster=cluster, control=control)
        return Answer(query, rows, {"at": now.isoformat(), "open": len(rows)}, "findings")
    if query == "mttr":
        rows = store.mttr(since, until, by=list(by or DIMENSIONS))
        return Answer(query, rows, {"since": since.isoformat(), "until": until.isoformat()}, "groups")
    if query == "trend":
        dims = list(by or ["cluster"])
        if len(dims) != 1:
            raise HistoryError("trend: give one --by (cluster, team or control)")
        last = (until - dt.timedelta(seconds=1)).date()
        rows = store.trend(since.date(), last, by=dims[0])
        if cluster or team or control:
            wanted = {"cluster": cluster, "team": team, "control": control}[dims[0]]
            rows = [r for r in rows if wanted is None or r["key"] == wanted]
        return Answer(query, rows, {"since": since.date().isoformat(), "until": last.isoformat()}, "days")
    if query == "evidence":
        rows = _filter(store.evidence(since, given_until), team, cluster, control, team_key="owner")
        end = given_until.isoformat() if given_until else None
        return Answer(query, rows, {"since": since.isoformat(), "until": end}, "events")
    if query == "runs":
        runs = store.runs(limit)
        rows = [
            {
                "id": r.id,
                "at": r.at.isoformat().replace("+00:00", "Z"),
                "actor": r.actor,
                "command": r.command,
                "catalog_version": r.catalog_version,
                "tool_version": r.tool_version,
                "sources": len(r.sources) if len(r.sources) > 3 else ", ".join(r.sources),
            }
            for r in runs
        ]
        return Answer(query, rows, {}, "runs")
    raise HistoryError(f"unknown history query {query!r}; choose from {', '.join(QUERIES)}")


def _filter(
    rows: list[dict[str, Any]],
    team: str | None,
    cluster: str | None,
    control: str | None,
    *,
    team_key: str = "team",
) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if (team is None or r.get(team_key) == team)
        and (cluster is None or r.get("cluster") == cluster)
        and (control is None or r.get("control") == control)
    ]
