"""The fleet report for terminals, machines and wikis: the table, JSON and Markdown."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from baseline.fleet.model import _SEVERITIES, _STATUSES, CELL_GLYPHS, ControlColumn, FleetReport

__all__ = [
    "render_json",
    "render_markdown",
    "render_table",
]

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
    "not-judged": "\x1b[2m",
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
