"""The table format: for a person at a terminal, grouped by severity then control."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Mapping, Sequence

from baseline.audit.formats.common import TOOL_NAME, AuditContext, _exception_text, _iso, _term_text, _utc, summarize
from baseline.evaluator import Finding

__all__: list[str] = []

# --------------------------------------------------------------------------- table

_ANSI = {
    "fail": "\x1b[1;31m",
    "unknown": "\x1b[33m",
    "not-judged": "\x1b[2m",
    "excepted": "\x1b[36m",
    "pass": "\x1b[32m",
    "critical": "\x1b[1;41;97m",
    "high": "\x1b[1;31m",
    "medium": "\x1b[1;33m",
    "low": "\x1b[1;34m",
    "loud": "\x1b[1;5;31m",
    "bold": "\x1b[1m",
}
_RESET = "\x1b[0m"


def _table(
    findings: Sequence[Finding],
    ctx: AuditContext,
    *,
    width: int,
    color: bool,
    show_passes: bool,
    locations: Mapping[str, tuple[str, int]] | None = None,
) -> str:
    """Severity sections, control groups, one entry per finding; remediation once per control.

    A subject (a URN is a hundred characters) is never broken mid-word: it may run past ``width``,
    and stays one piece to copy. ``locations``: the manifest file and line of a subject."""
    width = max(width, 40)
    today = _utc(ctx.generated_at).date()

    def paint(text: str, style: str) -> str:
        return f"{_ANSI[style]}{text}{_RESET}" if color and style in _ANSI else text

    def wrap(text: str, indent: str, first: str | None = None, whole_words: bool = False) -> list[str]:
        return textwrap.wrap(
            _term_text(text),
            width=width,
            initial_indent=indent if first is None else first,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=not whole_words,
        ) or [indent.rstrip()]

    out: list[str] = []
    where = f"cluster {ctx.cluster}" if ctx.cluster else "no cluster named"
    out.extend(wrap(f"{TOOL_NAME} {ctx.tool_version} audit, {where}, {_iso(ctx.generated_at)}", "  ", ""))
    if ctx.sources:
        out.extend(wrap("sources: " + ", ".join(ctx.sources), "  "))
    if ctx.problems:
        out.append(paint(f"PROBLEMS: the audit is incomplete ({len(ctx.problems)}):", "loud" if color else "bold"))
        for problem in ctx.problems:
            out.extend(wrap(problem, "    ", "  ! "))

    listed = [f for f in findings if show_passes or f.status != "pass"]
    severity: str | None = None
    control: str | None = None
    group: list[Finding] = []

    def close_group() -> None:
        if not group:
            return
        if any(g.status != "pass" for g in group):
            out.extend(wrap(group[0].remediation, "      ", "    fix: "))

    for f in listed:
        if f.severity != severity:
            close_group()
            group = []
            severity, control = f.severity, None
            out.append("")
            out.append(paint(f.severity.upper(), f.severity))
        if f.control_id != control:
            close_group()
            group = []
            control = f.control_id
            modes = "/".join(sorted({g.mode for g in findings if g.control_id == f.control_id}))
            heading = wrap(f"{f.control_id} {f.title} [{modes}]", "      ", "  ")
            heading[0] = "  " + paint(f.control_id, "bold") + heading[0][2 + len(f.control_id) :]
            out.extend(heading)
        group.append(f)
        label = f.status.upper().ljust(9)
        out.extend(_entry(f, label, paint, wrap, today, ctx.cluster, (locations or {}).get(f.subject)))
    close_group()
    if not listed:
        out.append("")
        out.append("no failures, unknowns or exceptions." if findings else "no findings.")

    out.append("")
    out.extend(wrap(_summary_line(findings, show_passes), "  ", ""))
    return "\n".join(out) + "\n"


def _entry(
    f: Finding,
    label: str,
    paint: Callable[[str, str], str],
    wrap: Callable[..., list[str]],
    today: dt.date,
    run_cluster: str | None,
    location: tuple[str, int] | None = None,
) -> list[str]:
    pad = "              "
    first = "    " + label + " "
    lines = wrap(f.subject, pad, first, whole_words=True)
    # the label is coloured after wrapping: escape codes must not count towards the width
    lines[0] = "    " + paint(label, f.status) + " " + lines[0][len(first) :]
    facts = []
    if location is not None:
        facts.append(f"at {location[0]}:{location[1]}")
    if f.namespace:
        facts.append(f"namespace {f.namespace}")
    if f.owner:
        facts.append(f"owner {f.owner}")
    if f.cluster and f.cluster != run_cluster:
        facts.append(f"cluster {f.cluster}")
    if facts:
        lines.extend(wrap(", ".join(facts), pad))
    if f.exception is not None:
        text = _exception_text(f, today)
        expired = f.exception.days_left(today) < 0
        wrapped = wrap(text, pad)
        lines.extend(pad + paint(line[len(pad) :], "loud") if expired else line for line in wrapped)
    lines.extend(wrap(f.message, pad))
    if f.detail and f.detail not in f.message:
        lines.extend(wrap(f.detail, pad))
    return lines


def _summary_line(findings: Sequence[Finding], show_passes: bool) -> str:
    s = summarize(findings)
    parts = [f"{s['total']} findings: " + ", ".join(f"{n} {status}" for status, n in s["byStatus"].items())]
    failing = [f"{n} {sev}" for sev, n in s["failBySeverity"].items() if n]
    if failing:
        parts.append("failing by severity: " + ", ".join(failing))
    parts.append(f"blocking (enforced): {s['blocking']}")
    if s["failingOwners"]:
        parts.append("failing owners: " + ", ".join(s["failingOwners"]))
    if not show_passes and s["byStatus"]["pass"]:
        parts.append(f"{s['byStatus']['pass']} passes not listed")
    return "summary: " + "; ".join(parts)
