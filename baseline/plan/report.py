"""The plan as text, for a person."""

from __future__ import annotations

import textwrap
from collections import defaultdict

from baseline.plan.analyzer import Diagnostic
from baseline.plan.run import PlanResult

__all__ = [
    "format_text",
]

# --------------------------------------------------------------------------- text output


def _wrap(text: str, width: int, indent: str, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def format_text(result: PlanResult, width: int = 110) -> str:
    """The human-readable report: resources by type, then violations by control and severity."""
    lines: list[str] = []
    phase = "preview (computed values unknown)" if result.preview else "up (every value known)"
    lines.append(
        f"Stack {result.stack} (project {result.project}): {len(result.resources)} resources, "
        f"policy pack {result.pack.name} {result.pack.version} ({len(result.pack.policies)} policies), as at {phase}"
    )
    lines.append("")
    lines.append("Resources")
    by_type: dict[str, list[str]] = defaultdict(list)
    for r in result.resources:
        by_type[r.type].append(r.name)
    type_width = min(max((len(t) for t in by_type), default=0), 60)
    for t, names in by_type.items():
        head = f"  {len(names):>3}  {t:<{type_width}}  "
        wrapped = _wrap(", ".join(sorted(names)), width, head, " " * len(head))
        lines.extend(wrapped or [head.rstrip()])
    lines.append("")

    if result.messages:
        lines.append("Program diagnostics")
        for sev, msg in result.messages:
            lines.extend(_wrap(f"{sev}: {msg}", width, "  ", "    "))
        lines.append("")

    ordered = result._ordered()
    violations = [d for d in ordered if not d.undecided]
    undecided = [d for d in ordered if d.undecided]
    lines.append("Policy violations" if violations else "Policy violations: none")
    groups: dict[tuple[str, str], list[Diagnostic]] = defaultdict(list)
    for d in violations:
        groups[(d.policy, d.enforcement_level)].append(d)
    for (policy, level), items in groups.items():
        control = result.control(policy)
        cid = control.id if control else "?"
        sev = items[0].severity or (control.severity if control else "?")
        lines.append(f"  {cid:<7} {sev:<8} {level.upper():<9} {policy} ({len(items)})")
        for d in items:
            res = result.resource(d.urn)
            where = f"{res.type} {res.name}" if res else (d.urn or "(the stack)")
            lines.append(f"      {where}")
            for para in d.detail.splitlines():
                lines.extend(_wrap(para, width, " " * 8))
    if undecided:
        lines.append("")
        lines.append("Not decidable at preview (advisory: the values are unknown until apply)")
        for d in undecided:
            control = result.control(d.policy)
            res = result.resource(d.urn)
            where = f"{res.type} {res.name}" if res else (d.urn or "(stack policy)")
            reason = d.message.split(" during preview: ", 1)[-1]
            lines.extend(_wrap(f"{control.id if control else '?':<7} {where}: {reason}", width, "  ", " " * 10))
    lines.append("")
    counts = result.counts()
    mandatory_ids = sorted(
        {c.id for d in result.mandatory if (c := result.control(d.policy))},
        key=lambda i: [c.id for c in result.catalog].index(i),
    )
    if result.blocked:
        verdict = f"BLOCKED: {counts['mandatory']} mandatory violation(s) ({', '.join(mandatory_ids)})"
    else:
        verdict = "OK: no mandatory violations"
    lines.append(f"{verdict}; {counts['advisory']} advisory; {counts['undecided']} not decidable at preview.")
    return "\n".join(lines)
