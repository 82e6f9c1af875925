"""JUnit XML for CI test reports: a suite per control, a test case per control and subject."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from baseline.audit.formats.common import (
    _STATUS_ORDER,
    TOOL_NAME,
    AuditContext,
    _clip,
    _exception_text,
    _utc,
    _xml_text,
)
from baseline.evaluator import Finding

__all__: list[str] = []

# --------------------------------------------------------------------------- junit

_JUNIT_CHILD = {"fail": "failure", "unknown": "error", "not-judged": "skipped", "excepted": "skipped"}


def _junit(findings: Sequence[Finding], ctx: AuditContext, where: Mapping[str, tuple[str, int]]) -> str:
    """A suite per control; a case per (control, cluster, subject), its worst finding deciding it.

    Two targets of one control can judge the same object; CI tools key test cases on classname and
    name, so they are merged into one case (fail over unknown over excepted over pass) whose body
    lists every message. Source problems become a ``sources`` suite of errored cases: an audit
    that could not read part of the cluster is a test that could not run, not a pass.
    """
    clusters = {f.cluster for f in findings}
    stamp = _utc(ctx.generated_at).strftime("%Y-%m-%dT%H:%M:%S")
    host = _xml_text(ctx.cluster or TOOL_NAME)
    root = ET.Element("testsuites", name=TOOL_NAME)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)

    suites: dict[str, dict[tuple[str, str], list[Finding]]] = {}
    for f in findings:
        suites.setdefault(f.control_id, {}).setdefault((f.cluster or "", f.subject), []).append(f)

    for n, (cid, cases) in enumerate(suites.items()):
        first = next(iter(cases.values()))[0]
        suite = ET.SubElement(root, "testsuite", name=_xml_text(f"{cid} {first.title}"))
        counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
        props = ET.SubElement(suite, "properties")
        modes = sorted({f.mode for group in cases.values() for f in group})
        for prop, text in (
            ("policy", first.policy_name),
            ("severity", first.severity),
            ("mode", "/".join(modes)),
            ("remediation", first.remediation),
        ):
            ET.SubElement(props, "property", name=prop, value=_xml_text(text))
        for (cluster, subject), group in cases.items():
            name = f"{subject} [{cluster}]" if len(clusters) > 1 and cluster else subject
            case = ET.SubElement(suite, "testcase", classname=cid, name=_xml_text(name), time="0")
            if subject in where:
                case.set("file", _xml_text(where[subject][0]))
                case.set("line", str(where[subject][1]))
            counts["tests"] += 1
            worst = min(group, key=lambda f: _STATUS_ORDER.get(f.status, len(_STATUS_ORDER)))
            child = _JUNIT_CHILD.get(worst.status)
            if child is None:
                continue
            counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[child]] += 1
            element = ET.SubElement(case, child, message=_xml_text(_clip(_junit_message(worst, ctx))))
            if child != "skipped":
                element.set("type", f"{worst.severity}.{worst.mode}")
            element.text = _xml_text("\n".join(_junit_body(g, ctx) for g in group if g.status != "pass"))
        _close_suite(suite, counts, totals, stamp=stamp, host=host, index=n)

    if ctx.problems:
        suite = ET.SubElement(root, "testsuite", name="sources")
        for i, problem in enumerate(ctx.problems):
            label = f"problem {i + 1}: {_clip(problem, 200)}"
            case = ET.SubElement(suite, "testcase", classname="sources", name=_xml_text(label), time="0")
            error = ET.SubElement(case, "error", message=_xml_text(_clip(problem)), type="source-problem")
            error.text = _xml_text(problem)
        n = len(ctx.problems)
        counts = {"tests": n, "failures": 0, "errors": n, "skipped": 0}
        _close_suite(suite, counts, totals, stamp=stamp, host=host, index=len(suites))

    for key, total in totals.items():
        root.set(key, str(total))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _close_suite(
    suite: ET.Element, counts: Mapping[str, int], totals: dict[str, int], *, stamp: str, host: str, index: int
) -> None:
    """The suite's counts (added to the run's) and the attributes JUnit schemas ask of a suite."""
    for key, count in counts.items():
        suite.set(key, str(count))
        totals[key] += count
    suite.set("time", "0")
    suite.set("timestamp", stamp)
    suite.set("hostname", host)
    suite.set("id", str(index))


def _junit_message(f: Finding, ctx: AuditContext) -> str:
    if f.status == "excepted" and f.exception is not None:
        return _exception_text(f, _utc(ctx.generated_at).date())
    return f.message


def _junit_body(f: Finding, ctx: AuditContext) -> str:
    lines = [f"[{f.status}] {f.message}"]
    if f.exception is not None:
        lines.append(_exception_text(f, _utc(ctx.generated_at).date()))
    if f.unknown:
        lines.append("unknown: " + ", ".join(f.unknown))
    if f.detail and f.detail not in f.message:
        lines.append(f"detail: {f.detail}")
    facts = [f"{k}: {v}" for k, v in (("namespace", f.namespace), ("owner", f.owner), ("cluster", f.cluster)) if v]
    if facts:
        lines.append(", ".join(facts))
    if f.status != "excepted":
        lines.append(f"remediation: {f.remediation}")
    return "\n".join(lines)
