"""``fleet-baseline history``: what the recorded runs say, and the ``--record`` options of audit and fleet.

``audit --record`` and ``fleet --record`` append a run to the store named by ``--history PATH|URL``
(a SQLite file, created when missing, or a ``postgresql://`` URL): when, who (``--actor``, else the
OS user), the sources, the catalog and baseline versions, and every finding that did not pass. The
store keeps only what changed (``baseline.history``).

``history diff|open|mttr|trend|evidence|runs --history PATH|URL [--format table|json|csv]`` asks it.
Exit codes: 0 answered, 2 bad input (no store there, a newer schema, a run that does not exist),
3 the store failed (nothing was recorded).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from baseline import __version__
from baseline.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Command

if TYPE_CHECKING:
    from baseline.evaluator import Finding
    from baseline.history import ClusterObservation, ExceptionRecord, FindingRecord

__all__ = [
    "COMMAND",
    "Observation",
    "add_record_options",
    "configure",
    "observe",
    "page_history",
    "record_options_error",
    "record_run",
    "run",
]

_QUERIES = ("diff", "open", "mttr", "trend", "evidence", "runs")
_FORMATS = ("table", "json", "csv")
_DIMENSIONS = ("control", "team", "cluster")

#: What one judged source adds to a recorded run (picklable: fleet workers send it back).
Observation = tuple["ClusterObservation", list["FindingRecord"], list["ExceptionRecord"]]


# --------------------------------------------------------------------------- --record (audit, fleet)


def add_record_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("history")
    g.add_argument("--record", action="store_true", help="append this run to the posture history (--history)")
    g.add_argument(
        "--history",
        metavar="PATH|URL",
        help="the history store: a SQLite file (created when missing) or a postgresql:// URL",
    )
    g.add_argument("--actor", metavar="NAME", help="who recorded the run (default: the OS user)")


def record_options_error(args: argparse.Namespace, *, reads_history: bool = False) -> str | None:
    """What is wrong with --record/--history/--actor; ``reads_history``: the command also reads the
    store without recording (the fleet page)."""
    if args.record and not args.history:
        return "--record needs --history PATH|URL (a SQLite file or a postgresql:// URL)"
    if args.history and not args.record and not reads_history:
        return "--history is where --record appends the run: add --record (or ask it with `fleet-baseline history`)"
    if args.actor and not args.record:
        return "--actor names who recorded the run: add --record"
    return None


def observe(snapshot: Any, findings: Sequence[Finding], cluster: str) -> Observation:
    """One judged snapshot as the store receives it: the cluster seen, its non-passing findings and
    its exception records (``snapshot`` is a ``baseline.audit.sources.Snapshot``)."""
    from baseline.history import ClusterObservation, exception_records, findings_to_records

    subjects = frozenset(s.ref for s in snapshot.subjects)
    return (
        ClusterObservation(cluster, snapshot.baseline_version, subjects),
        findings_to_records(findings, cluster=cluster),
        exception_records(cluster, snapshot.exceptions),
    )


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        import os

        return f"uid:{os.getuid()}"


def record_run(
    args: argparse.Namespace,
    err: TextIO,
    *,
    command: str,
    observations: Sequence[Observation],
    sources: Sequence[str],
    catalog_version: str,
) -> int:
    """Append the run to ``args.history``; the exit code (0 recorded, 2 bad store, 3 store failure)."""
    from baseline.history import HistoryError, RunRecord, open_store

    if not observations:
        print("error: --record: no cluster was read, nothing recorded", file=err)
        return EXIT_BAD_INPUT
    now = dt.datetime.now(dt.UTC)
    merged: dict[str, Observation] = {}
    for obs in observations:  # two sources of one cluster (manifests and its state) are one observation
        name = obs[0].name
        if name in merged:
            old = merged[name]
            subjects = (old[0].subjects or frozenset()) | (obs[0].subjects or frozenset())
            merged[name] = (
                type(old[0])(name, old[0].baseline_version or obs[0].baseline_version, subjects),
                old[1] + obs[1],
                old[2] + obs[2],
            )
        else:
            merged[name] = obs
    run = RunRecord(
        at=now,
        actor=_actor(args),
        command=command,
        catalog_version=catalog_version,
        clusters=[o[0] for o in merged.values()],
        findings=[f for o in merged.values() for f in o[1]],
        exceptions=[e for o in merged.values() for e in o[2]],
        sources=list(sources),
        tool_version=__version__,
    )
    try:
        with open_store(args.history, create=True, at=now) as store:
            summary = store.record(run)
    except HistoryError as exc:
        print(f"error: history: {exc}", file=err)
        return EXIT_BAD_INPUT
    except Exception as exc:  # the database's own errors (locked past the timeout, connection lost)
        print(f"error: history: nothing recorded: {type(exc).__name__}: {exc}", file=err)
        return EXIT_FAILED
    print(
        f"history: run {summary.run_id} recorded ({summary.clusters} clusters): {summary.opened} findings opened,"
        f" {summary.closed} closed, {summary.changed} changed, {summary.exception_events} exception events",
        file=err,
    )
    return EXIT_OK


def page_history(location: str, today: dt.date, days: int = 30) -> tuple[dict[str, Any] | None, str | None]:
    """What the fleet page shows of the history (``baseline.fleet.html.render_html``'s ``history``),
    as plain data: the last ``days`` days' trend per cluster, what the latest run opened, every open
    finding. (None, message) when the store cannot be read."""
    from baseline.history import HistoryError, open_store

    now = dt.datetime.now(dt.UTC)
    try:
        with open_store(location) as store:
            runs = store.runs(1)
            if not runs:
                return {"run": None, "previousRun": None, "trend": {}, "new": {}, "open": []}, None
            diff = store.diff()
            trend: dict[str, list[list[Any]]] = {}
            for row in store.trend(today - dt.timedelta(days=days - 1), today, by="cluster"):
                trend.setdefault(row["key"], []).append([row["day"], row["failing"]])
            new: dict[str, dict[str, int]] = {}
            fresh = set()
            for row in diff.new:
                per = new.setdefault(row["cluster"], {})
                per[row["control"]] = per.get(row["control"], 0) + 1
                fresh.add((row["cluster"], row["control"], row["subject"], row["target"]))
            opened = [
                [
                    r["cluster"],
                    r["control"],
                    r["subject"],
                    r["team"],
                    r["age_days"],
                    (r["cluster"], r["control"], r["subject"], r["target"]) in fresh,
                ]
                for r in store.open_findings(now)
            ]
    except HistoryError as exc:
        return None, f"history: {exc}"
    return {"run": diff.to_run, "previousRun": diff.from_run or None, "trend": trend, "new": new, "open": opened}, None


# --------------------------------------------------------------------------- history SUB


def _when(text: str) -> dt.datetime:
    from baseline.history import HistoryError, parse_when

    try:
        return parse_when(text)
    except HistoryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument(
        "--history", required=True, metavar="PATH|URL", help="the history store: a SQLite file or a postgresql:// URL"
    )
    p.add_argument("--format", choices=_FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write here (default: stdout)")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--team", help="only this team's findings ('(unowned)' for nobody's)")
    p.add_argument("--cluster", help="only this cluster")
    p.add_argument("--control", help="only this control")


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = "exit codes: 0 answered; 2 bad input (no store, newer schema, unknown run); 3 the store failed"
    sub = p.add_subparsers(dest="history_command", metavar="QUERY", parser_class=type(p), required=True)
    d = sub.add_parser("diff", help="findings new and resolved since the previous run, or between two runs")
    _common(d)
    d.add_argument("--from", dest="from_run", type=int, metavar="RUN", help="the older run (default: the one before)")
    d.add_argument("--to", dest="to_run", type=int, metavar="RUN", help="the newer run (default: the latest)")
    _filters(d)
    o = sub.add_parser("open", help="open findings with their age, by team, oldest first")
    _common(o)
    _filters(o)
    m = sub.add_parser("mttr", help="mean and p90 time to resolve per control, team and cluster over a window")
    _common(m)
    m.add_argument("--since", type=_when, metavar="DATE", help="window start (default: 30 days before --until)")
    m.add_argument("--until", type=_when, metavar="DATE", help="window end, exclusive (default: now)")
    m.add_argument("--by", choices=_DIMENSIONS, action="append", help="group by (repeatable; default: all three)")
    t = sub.add_parser("trend", help="failing findings per day per cluster, team or control")
    _common(t)
    t.add_argument("--since", type=_when, metavar="DATE", help="first day (default: 30 days before --until)")
    t.add_argument("--until", type=_when, metavar="DATE", help="end, exclusive (default: now)")
    t.add_argument("--by", choices=_DIMENSIONS, default="cluster", help="group by (default: cluster)")
    _filters(t)
    e = sub.add_parser("evidence", help="every finding and exception lifecycle event since a date, with actors")
    _common(e)
    e.add_argument("--since", type=_when, required=True, metavar="DATE", help="from this date or time (UTC)")
    e.add_argument("--until", type=_when, metavar="DATE", help="up to this date or time, exclusive (default: now)")
    _filters(e)
    r = sub.add_parser("runs", help="the recorded runs, newest first")
    _common(r)
    r.add_argument("--limit", type=int, default=20, metavar="N", help="at most N runs (default: 20)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.history import HistoryError, answer, open_store

    now = dt.datetime.now(dt.UTC)
    by = args.by if isinstance(getattr(args, "by", None), list) else ([args.by] if getattr(args, "by", None) else None)
    try:
        with open_store(args.history) as store:
            result = answer(
                store,
                args.history_command,
                now=now,
                from_run=getattr(args, "from_run", None),
                to_run=getattr(args, "to_run", None),
                team=getattr(args, "team", None),
                cluster=getattr(args, "cluster", None),
                control=getattr(args, "control", None),
                since=getattr(args, "since", None),
                until=getattr(args, "until", None),
                by=by,
                limit=getattr(args, "limit", None),
            )
    except HistoryError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except Exception as exc:  # the database's own errors
        if args.debug:
            raise
        print(f"error: history: {type(exc).__name__}: {exc}", file=err)
        return EXIT_FAILED
    text = result.render(args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=err)
            return EXIT_BAD_INPUT
    else:
        out.write(text)
    return EXIT_OK


COMMAND = Command(
    "history",
    "the posture history (audit/fleet --record): diff since the last run, open findings, MTTR, trend, evidence",
    configure,
    run,
)
