"""The fleet report as one self-contained HTML page: the skeleton, CSS and JavaScript are package data
(``templates/``), filled and inlined here.
"""

from __future__ import annotations

import functools
import html
import json
import re
import string
from collections.abc import Mapping
from importlib import resources
from typing import Any

from baseline.catalog import SEVERITY_ORDER
from baseline.fleet.model import (
    _SEVERITIES,
    _STATUSES,
    CELL_GLYPHS,
    MAX_SUBJECTS,
    REPORT_SCHEMA,
    Cell,
    ControlColumn,
    FleetReport,
)
from baseline.fleet.text import _days_text, _plain

__all__ = [
    "PALETTE",
    "contrast_ratio",
    "render_html",
]

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


@functools.cache
def _template(name: str) -> str:
    """A file of ``templates/`` (package data), read once."""
    return (resources.files("baseline.fleet") / "templates" / name).read_text(encoding="utf-8")


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


_CELL_CLASS = {"fail": "f", "unknown": "u", "not-judged": "n", "excepted": "x", "pass": "p", "n/a": "n"}


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


def _script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can end it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sparkline(points: list[tuple[str, int]], width: int = 64, height: int = 16) -> str:
    """An inline SVG line of failing findings per day (the history's trend), with its numbers as a title."""
    if not points:
        return ""
    top = max(max(n for _d, n in points), 1)
    step = width / max(len(points) - 1, 1)
    xy = " ".join(f"{i * step:.1f},{height - 1 - (n / top) * (height - 2):.1f}" for i, (_d, n) in enumerate(points))
    first, last = points[0], points[-1]
    label = f"failing findings per day: {first[1]} on {first[0]}, {last[1]} on {last[0]} (max {top})"
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{_e(label)}"><title>{_e(label)}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{xy}"/></svg>'
    )


def _drill_data(report: FleetReport, history: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the per-control drill-down lists: each control's fix and failure share, and its failing
    subjects per cluster (every one from the history's open findings; else the first few per cell)."""
    from baseline.catalog import load_catalog

    catalog = load_catalog()
    fixes = {c.id: c.remediation for c in catalog.controls}
    labels = {c.name: report.labels[c.source] for c in report.clusters}
    controls: dict[str, Any] = {}
    for col in report.controls:
        judged = failing = 0
        for c in report.clusters:
            cell = c.cells.get(col.id)
            if cell is not None:
                judged += 1
                failing += cell.status == "fail"
        controls[col.id] = {
            "title": col.title,
            "severity": col.severity,
            "fix": fixes.get(col.id, ""),
            "failing": failing,
            "judged": judged,
        }
    subjects: dict[str, list[list[Any]]] = {}
    if history and history.get("open") is not None:
        for cluster, control, subject, team, age, new in history["open"]:
            if cluster in labels and control in controls:
                subjects.setdefault(control, []).append([labels[cluster], subject, team, age, bool(new)])
    else:
        for c in report.clusters:
            for cid, cell in c.cells.items():
                for subject in cell.subjects.get("fail", []):
                    subjects.setdefault(cid, []).append([report.labels[c.source], subject, None, None, False])
                more = cell.counts.get("fail", 0) - len(cell.subjects.get("fail", []))
                if more > 0:
                    label = report.labels[c.source]
                    subjects.setdefault(cid, []).append([label, f"… and {more} more", None, None, False])
    return {"controls": controls, "subjects": subjects, "complete": bool(history and history.get("open") is not None)}


def render_html(
    report: FleetReport,
    *,
    fail_on: str = "critical",
    title: str = "Fleet baseline",
    generated: str | None = None,
    history: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page (inline CSS and JS, no network): a heatmap a person can scan.

    Clusters worst first with sticky headers; cells coloured by status with the glyph inside and a
    tooltip with counts and failing subjects; filters by team, severity and cloud; stale versions
    highlighted; exceptions with an expiry countdown, expired ones loud. Every string from a source
    is escaped.

    ``history`` (plain data from the posture history, see ``baseline.cli.fleet``) adds a trend line
    per cluster, marks what is new since the previous run, and lists every open failing subject in
    the per-control drill-down: ``{"run": N, "previousRun": M, "trend": {cluster: [[day, n], ...]},
    "new": {cluster: {control: n}}, "open": [[cluster, control, subject, team, age_days, new], ...]}``.
    A click on a control's header opens its drill-down (fix, failure share, failing subjects); a click
    on a cell shows its details; the team filter recounts the tiles; the CSV button exports the rows shown.
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
    css = _template("page.css") % colours
    out: list[str] = []
    w = out.append
    w(
        f'<header><h1>{_e(title)}</h1><span class="meta">{len(report.clusters)} clusters · catalog baseline '
        f"{_e(report.catalog_version)} · newest seen {_e(report.newest_version or '-')} · report of "
        f"{_e(generated or today.isoformat())}</span></header>"
    )

    def tile(value: Any, label: str, tone: str, ident: str = "") -> None:
        idattr = f' id="{ident}"' if ident else ""
        w(f'<div class="tile {tone}"{idattr}><b>{_e(value)}</b><span>{_e(label)}</span></div>')

    news: Mapping[str, Mapping[str, int]] = (history or {}).get("new") or {}
    trends: Mapping[str, list[tuple[str, int]]] = (history or {}).get("trend") or {}
    new_total = sum(sum(v.values()) for v in news.values())
    w('<div class="tiles">')
    tile(len(report.clusters), "clusters", "", "t-clusters")
    tile(len(blocked), f"blocked at {fail_on}", "bad" if blocked else "ok", "t-blocked")
    tile(totals["fail"], "failing findings", "bad" if totals["fail"] else "ok", "t-fail")
    if history:
        prev = history.get("previousRun")
        tile(new_total, f"new since run {prev}" if prev else "new (first run)", "bad" if new_total else "ok", "t-new")
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
    w('<button type="button" id="export-csv" title="the rows shown, as CSV">export CSV</button>')
    w('<span class="legend">')
    for s in ("fail", "unknown", "excepted", "pass", "n/a"):
        bg, fg = PALETTE[s]
        w(f'<span><i style="background:{bg};color:{fg}">{CELL_GLYPHS[s]}</i>{s}</span>')
    w("</span></div>")

    # ------------------------------------------------------------ drill-down and details (filled by the script)
    w(
        '<section id="drill" class="panel" hidden aria-live="polite"><button type="button" class="close"'
        ' aria-label="close">&times;</button><h2 id="drill-title"></h2><p id="drill-share" class="meta"></p>'
        '<p id="drill-fix"></p><p id="drill-detail" class="detail"></p><div class="list"><table><thead><tr>'
        "<th>cluster</th><th>subject</th><th>team</th><th>age (days)</th><th></th></tr></thead>"
        '<tbody id="drill-rows"></tbody></table></div></section>'
    )
    # ------------------------------------------------------------ matrix
    w('<div class="main"><div class="wrap"><table id="matrix" data-sev="">')
    w(
        '<thead><tr><th class="sticky">cluster</th><th>cloud</th><th>version</th>'
        '<th title="failing findings">fail</th><th title="unknown findings">unk</th>'
        '<th title="excepted findings">exc</th>'
    )
    if history:
        w('<th title="failing findings per day (history)">trend</th><th title="new since the previous run">new</th>')
    prev_area = None
    for col in report.controls:
        ga = " ga" if col.area != prev_area else ""
        prev_area = col.area
        sv = SEVERITY_ORDER.get(col.severity, 0)
        head_title = _e(f"{col.id} {col.title} ({col.severity})")
        w(
            f'<th class="ctl sv{sv}{ga}" title="{head_title}" data-control="{_e(col.id)}" tabindex="0">'
            f"<div>{_e(col.id)}</div></th>"
        )
    w("</tr>")
    # failure share: of the clusters a control judged anything on, how many fail it
    w('<tr class="share"><th class="sticky" title="clusters failing each control">failing share</th>')
    w(f'<th colspan="{5 + (2 if history else 0)}"></th>')
    prev_area = None
    for col in report.controls:
        ga = " ga" if col.area != prev_area else ""
        prev_area = col.area
        sv = SEVERITY_ORDER.get(col.severity, 0)
        judged = sum(1 for c in report.clusters if col.id in c.cells)
        failing = sum(1 for c in report.clusters if col.id in c.cells and c.cells[col.id].status == "fail")
        share = round(100 * failing / judged) if judged else 0
        tip = _e(f"{col.id}: failing on {failing} of {judged} clusters it judged")
        w(f'<th class="pct sv{sv}{ga}" title="{tip}" data-control="{_e(col.id)}">{share if judged else "-"}</th>')
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
        team_fails: dict[str, int] = {}
        for judged_cell in c.cells.values():
            for team_name, n in judged_cell.fail_teams.items():
                team_fails[team_name] = team_fails.get(team_name, 0) + n
        cluster_new = news.get(c.name) or {}
        attrs = (
            f' data-cloud="{_e(c.cloud or "other")}" data-name="{_e(report.labels[c.source].lower())}"'
            f' data-teams="{_attr_json(c.teams)}" data-worst="{c.worst_failing}"'
            f' data-fail="{c.counts.get("fail", 0)}" data-team-fails="{_attr_json(team_fails)}"'
            f' data-new="{sum(cluster_new.values())}" data-label="{_e(report.labels[c.source])}"'
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
        if history:
            w(f'<td class="trend">{_sparkline([(str(d), int(n)) for d, n in trends.get(c.name, [])])}</td>')
            fresh = sum(cluster_new.values())
            w(f'<td class="num{" hot" if fresh else ""}">{fresh or ""}</td>')
        prev_area = None
        for col in report.controls:
            cell = c.cells.get(col.id)
            st = cell.status if cell else "n/a"
            ga = " ga" if col.area != prev_area else ""
            prev_area = col.area
            sv = SEVERITY_ORDER.get(col.severity, 0)
            extra = f' data-t="{_attr_json(sorted(cell.fail_teams))}"' if cell is not None and st == "fail" else ""
            fresh = cluster_new.get(col.id, 0)
            text = _cell_title(col, cell) + (f"\n{fresh} new since the previous run" if fresh else "")
            mark = " new" if fresh else ""
            w(
                f'<td class="c {_CELL_CLASS[st]} sv{sv}{ga}{mark}" title="{_e(text)}" data-control="{_e(col.id)}"'
                f"{extra}>{CELL_GLYPHS[st]}</td>"
            )
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
    w(f'<script type="application/json" id="fleet-data">{_script_json(_drill_data(report, history))}</script>')
    return string.Template(_template("page.html")).substitute(
        title=f"{_e(title)} · {len(report.clusters)} clusters · {_e(today.isoformat())}",
        css=css,
        body="\n".join(out),
        js=_template("page.js"),
    )
