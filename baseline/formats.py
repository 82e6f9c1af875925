"""Audit findings as reports: a table for people, JSON, SARIF, JUnit XML and Kubernetes PolicyReports.

``fleet-baseline audit`` judges manifests, state exports and live clusters with the evaluator; this
module only writes the findings out, in the shapes the tools that read them expect:

* ``table``: for a person at a terminal. Grouped by severity, then control; failures, unknowns and
  exceptions listed (passes only on request), each exception with its owner and the days it has
  left, an expired one loudly; one summary line. Plain text unless colour is asked for.
* ``json``: the findings as :meth:`Finding.to_dict` gives them, with the run's context and summary.
* ``sarif``: SARIF 2.1.0 as GitHub code scanning ingests it: one rule per control, results for
  failures (``error`` in enforce mode, ``warning`` in audit mode), unknowns (``note``) and
  exceptions (the failure's level plus an accepted external suppression), never for passes.
* ``junit``: JUnit XML for CI test reports: a suite per control, a test case per (control, subject).
* ``policyreport``: ``wgpolicyk8s.io/v1alpha2`` PolicyReports, one per namespace, and one
  ClusterPolicyReport for cluster-scoped objects and cloud resources, as Kyverno writes them and
  Policy Reporter reads them.

Every renderer is a pure function of its inputs: no clock (the time is the context's
``generated_at``), no environment, no files but the shipped catalog when none is passed. Findings
are sorted (severity, control, subject) before anything is written, so the same findings and context
give byte-identical output whatever order the sources were read in: diffs between two runs show
changed findings, not reshuffled ones.
Strings from the audited objects (names, messages, exception reasons) are untrusted: each format
escapes them its own way; characters a format cannot carry at all (NUL and other C0 controls in
XML, escape sequences in the table) are written as visible ``\\xNN`` escapes, and lone surrogates
(undecodable input), which no UTF-8 writer accepts, as U+FFFD.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _json_string  # the C encoder where CPython has it
from operator import attrgetter
from typing import Any
from urllib.parse import quote

import yaml

from baseline.catalog import AREA_NAMES, SEVERITY_ORDER, Catalog, Control, load_catalog
from baseline.evaluator import Finding

__all__ = [
    "FORMATS",
    "SARIF_SCHEMA_URI",
    "SECURITY_SEVERITY",
    "TOOL_NAME",
    "AuditContext",
    "render",
    "render_chunks",
    "sort_findings",
    "summarize",
]

TOOL_NAME = "fleet-baseline"
FORMATS = ("table", "json", "sarif", "junit", "policyreport")
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

#: GitHub code scanning reads a rule's ``security-severity`` (0.0-10.0) and shows >= 9.0 as critical,
#: 7.0-8.9 high, 4.0-6.9 medium, below 4.0 low; each value sits inside its band, not on an edge.
SECURITY_SEVERITY: Mapping[str, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}

_STATUS_ORDER = {"fail": 0, "unknown": 1, "excepted": 2, "pass": 3}
_STATUSES = ("fail", "unknown", "excepted", "pass")
_SEVERITIES = ("critical", "high", "medium", "low")
_AREAS = list(AREA_NAMES)
#: Kubernetes objects end up in etcd (1.5 MiB an object) and JUnit messages in one-line summaries:
#: long texts are cut there, never in JSON or SARIF, which carry them whole.
_MAX_REPORT_TEXT = 1024
_FINGERPRINT_KEY = "fleetBaselineFinding/v1"


@dataclass(frozen=True)
class AuditContext:
    """What the report says about the run itself; given by the caller so rendering reads no clock.

    ``sources`` are the files, state exports or kubeconfig contexts that were read; ``problems``
    are the non-fatal troubles with them (a 403 on one resource type) that make the audit
    incomplete, and every format shows them so an incomplete audit never passes for a clean one.
    """

    tool_version: str
    sources: tuple[str, ...]
    cluster: str | None
    generated_at: dt.datetime
    problems: tuple[str, ...] = ()


def render(
    findings: Sequence[Finding],
    fmt: str,
    *,
    context: AuditContext,
    catalog: Catalog | None = None,
    locations: Mapping[str, tuple[str, int]] | None = None,
    width: int = 100,
    color: bool = False,
    show_passes: bool = False,
    information_uri: str | None = None,
) -> str:
    """The findings as one document in ``fmt`` (one of :data:`FORMATS`): :func:`render_chunks`, joined."""
    return "".join(
        render_chunks(
            findings,
            fmt,
            context=context,
            catalog=catalog,
            locations=locations,
            width=width,
            color=color,
            show_passes=show_passes,
            information_uri=information_uri,
        )
    )


def render_chunks(
    findings: Sequence[Finding],
    fmt: str,
    *,
    context: AuditContext,
    catalog: Catalog | None = None,
    locations: Mapping[str, tuple[str, int]] | None = None,
    width: int = 100,
    color: bool = False,
    show_passes: bool = False,
    information_uri: str | None = None,
) -> Iterator[str]:
    """The findings as one document in ``fmt`` (one of :data:`FORMATS`), in pieces to write in turn.

    JSON comes a few thousand findings at a time, so a report of a million findings is written
    without ever being one string in memory; the other formats come whole.

    ``catalog`` supplies what a finding does not carry (rationale, references, Kubernetes kinds'
    API versions); None means the shipped catalog. ``locations`` maps a finding's subject to the
    manifest file and line it came from (SARIF physical locations, JUnit ``file``); subjects from
    state exports and live clusters have none. ``width``, ``color`` and ``show_passes`` shape the
    table; ``information_uri`` is the SARIF driver's ``informationUri``. Options a format has no
    use for are ignored.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    ordered = sort_findings(findings)
    where = dict(locations or {})
    if fmt == "json":
        yield from _json(ordered, context)
    elif fmt == "table":
        yield _table(ordered, context, width=width, color=color, show_passes=show_passes)
    elif fmt == "junit":
        yield _junit(ordered, context, where)
    else:
        cat = catalog if catalog is not None else load_catalog()
        if fmt == "sarif":
            yield _sarif(ordered, context, cat, where, information_uri)
        else:
            yield _policy_reports(ordered, context, cat)


# --------------------------------------------------------------------------- shared


def _control_key(control_id: str) -> tuple[int, int, str]:
    """Catalog order (CL, NS, RB, POD, ST, then number), so reports list controls as the catalog does."""
    area, _, num = control_id.partition("-")
    area_rank = _AREAS.index(area) if area in _AREAS else len(_AREAS)
    return (area_rank, int(num) if num.isdigit() else 0, control_id)


def _finding_key(f: Finding) -> tuple[Any, ...]:
    return (
        -SEVERITY_ORDER.get(f.severity, -1),
        _control_key(f.control_id),
        f.subject,
        f.cluster or "",
        _STATUS_ORDER.get(f.status, len(_STATUS_ORDER)),
        f.message,
        f.detail or "",
        f.unknown,
        f.owner or "",
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Severity (critical first), then control in catalog order, then subject: every format's order.

    Exactly ``sorted(findings, key=_finding_key)``, built cheaper for a million findings: grouped
    by control (one severity each), each group sorted by subject alone, and only runs of one subject
    (a control's several targets, an object listed twice) by the whole key.
    """
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(f.severity, f.control_id)].append(f)
    ordered: list[Finding] = []
    by_subject = attrgetter("subject")
    for sev_control in sorted(groups, key=lambda k: (-SEVERITY_ORDER.get(k[0], -1), _control_key(k[1]))):
        group = groups[sev_control]
        group.sort(key=by_subject)
        if len({f.subject for f in group}) == len(group):
            ordered.extend(group)  # no subject twice: the subject decides
            continue
        start, n = 0, len(group)
        while start < n:
            subject = group[start].subject
            end = start + 1
            while end < n and group[end].subject == subject:
                end += 1
            if end - start > 1:
                group[start:end] = sorted(group[start:end], key=_finding_key)
            start = end
        ordered.extend(group)
    return ordered


def summarize(findings: Iterable[Finding]) -> dict[str, Any]:
    """Counts per status, failures per severity, blocking failures and the owners of failures.

    Every status and severity is present (zero or not), so consumers can read a key without a
    default, and owners are sorted: the summary is as deterministic as the findings.
    """
    items = findings if isinstance(findings, Sequence) else list(findings)
    counts = Counter((f.status, f.severity, f.mode) for f in items)
    by_status = dict.fromkeys(_STATUSES, 0)
    fail_by_severity = dict.fromkeys(_SEVERITIES, 0)
    blocking = 0
    for (status, severity, mode), n in counts.items():
        by_status[status] = by_status.get(status, 0) + n
        if status == "fail":
            fail_by_severity[severity] = fail_by_severity.get(severity, 0) + n
            blocking += n if mode == "enforce" else 0  # Finding.blocking
    owners = {f.owner or "(no owner)" for f in items if f.status == "fail"} if by_status["fail"] else set()
    return {
        "total": sum(counts.values()),
        "byStatus": by_status,
        "failBySeverity": fail_by_severity,
        "blocking": blocking,
        "failingOwners": sorted(owners),
    }


_SURROGATE = re.compile(r"[\ud800-\udfff]")
# XML 1.0 allows TAB, LF, CR and nothing else below U+0020, and neither U+FFFE nor U+FFFF.
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# What a terminal would act on: C0 controls (ESC starts a sequence), DEL and the C1 range (CSI).
_TERM_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _scrub(text: str) -> str:
    """A string every encoder can write: a lone surrogate (undecodable input) becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _scrub_data(value: Any) -> Any:
    """:func:`_scrub` over every string of a JSON-like document, keys included.

    Done on the data, not the text: JSON and YAML would otherwise write a lone surrogate as a
    ``\\udXXX`` escape, which is well-formed but decodes back into the same unencodable string.
    """
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, Mapping):
        return {_scrub(str(k)): _scrub_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_data(v) for v in value]
    return value


def _xml_text(text: str) -> str:
    """Text XML 1.0 can carry: the characters it forbids outright (even as references) made visible."""
    return _XML_INVALID.sub(_escape_char, _scrub(text))


def _term_text(text: str) -> str:
    """One line a terminal shows as written: whitespace folded, control characters made visible."""
    return _TERM_CONTROL.sub(_escape_char, _scrub(" ".join(text.split())))


def _clip(text: str, limit: int = _MAX_REPORT_TEXT) -> str:
    """At most ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    marker = f"... [{len(text)} chars]"
    return text[: max(limit - len(marker), 0)] + marker


def _utc(moment: dt.datetime) -> dt.datetime:
    """A naive ``generated_at`` is taken as UTC: reports carry one unambiguous instant."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    utc = _utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc.microsecond:06d}Z" if utc.microsecond else "Z")


def _exception_text(f: Finding, today: dt.date) -> str:
    exc = f.exception
    if exc is None:
        return ""
    days = exc.days_left(today)
    if days < 0:
        when = f"EXPIRED {-days} day{'s' if days != -1 else ''} ago ({exc.expires.isoformat()})"
    elif days == 0:
        when = f"expires today ({exc.expires.isoformat()})"
    else:
        when = f"{days} day{'s' if days != 1 else ''} left (expires {exc.expires.isoformat()})"
    ticket = f", ticket {exc.ticket}" if exc.ticket else ""
    return f"excepted by {exc.owner}, {when}{ticket}: {exc.reason}"


def _control_for(catalog: Catalog, control_id: str) -> Control | None:
    """The catalog's control, or None for findings from another catalog (rules then use the finding)."""
    try:
        return catalog[control_id]
    except KeyError:
        return None


# --------------------------------------------------------------------------- table

_ANSI = {
    "fail": "\x1b[1;31m",
    "unknown": "\x1b[33m",
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
) -> str:
    """Severity sections, control groups, one entry per finding; remediation once per control."""
    width = max(width, 40)
    today = _utc(ctx.generated_at).date()

    def paint(text: str, style: str) -> str:
        return f"{_ANSI[style]}{text}{_RESET}" if color and style in _ANSI else text

    def wrap(text: str, indent: str, first: str | None = None) -> list[str]:
        return textwrap.wrap(
            _term_text(text),
            width=width,
            initial_indent=indent if first is None else first,
            subsequent_indent=indent,
            break_on_hyphens=False,
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
        out.extend(_entry(f, label, paint, wrap, today, ctx.cluster))
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
) -> list[str]:
    pad = "              "
    first = "    " + label + " "
    lines = wrap(f.subject, pad, first)
    # the label is coloured after wrapping: escape codes must not count towards the width
    lines[0] = "    " + paint(label, f.status) + " " + lines[0][len(first) :]
    facts = []
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


# --------------------------------------------------------------------------- json


#: findings per JSON chunk: large enough that writing is cheap, small enough that a chunk is a few MB
_JSON_CHUNK = 4096


def _json(findings: Sequence[Finding], ctx: AuditContext) -> Iterator[str]:
    """The context and summary indented, then ``findings``: one finding (:meth:`Finding.to_dict`) a line.

    One finding a line reads and diffs well, and is written by the C encoder (``indent`` would use
    the pure-Python one). Every string is scrubbed (:func:`_scrub`) as the other formats scrub theirs.
    """
    doc = {
        "tool": {"name": TOOL_NAME, "version": ctx.tool_version},
        "generatedAt": _iso(ctx.generated_at),
        "sources": list(ctx.sources),
        "cluster": ctx.cluster,
        "summary": summarize(findings),
        "problems": list(ctx.problems),
        "findings": [],
    }
    head = json.dumps(_scrub_data(doc), indent=2, ensure_ascii=False)
    if not findings:
        yield head + "\n"
        return
    head = head.removesuffix('[]\n}')
    encode = _FindingEncoder()
    for start in range(0, len(findings), _JSON_CHUNK):
        lines = ",\n    ".join(encode(f) for f in findings[start : start + _JSON_CHUNK])
        if start == 0:
            yield f"{head}[\n    {lines}"
        else:
            yield f",\n    {lines}"
    yield "\n  ]\n}\n"


class _FindingEncoder:
    """``json.dumps(_scrub_data(f.to_dict()), ensure_ascii=False)``, made cheaply: a million findings
    share a few hundred heads (control, policy, title, severity, mode, status), bodies (type,
    message, remediation) and tails (cluster, namespace, owner); each is encoded once."""

    __slots__ = ("_bodies", "_heads", "_tails")

    def __init__(self) -> None:
        self._heads: dict[tuple[str, ...], str] = {}
        self._bodies: dict[tuple[str, ...], str] = {}
        self._tails: dict[tuple[str | None, ...], str] = {}

    def __call__(self, f: Finding) -> str:
        if f.exception is not None or f.unknown or f.detail:  # rarer: the general encoder
            line = json.dumps(f.to_dict(), ensure_ascii=False)
        else:
            key = (f.control_id, f.policy_name, f.title, f.severity, f.mode, f.status)
            head = self._heads.get(key)
            if head is None:
                head = self._heads[key] = (
                    f'{{"control": {_json_string(f.control_id)}, "policy": {_json_string(f.policy_name)},'
                    f' "title": {_json_string(f.title)}, "severity": {_json_string(f.severity)},'
                    f' "mode": {_json_string(f.mode)}, "status": {_json_string(f.status)}, "subject": '
                )
            said = (f.subject_type, f.message, f.remediation)
            body = self._bodies.get(said)
            if body is None:
                body = self._bodies[said] = (
                    f', "type": {_json_string(f.subject_type)}, "message": {_json_string(f.message)},'
                    f' "remediation": {_json_string(f.remediation)}'
                )
            where = (f.cluster, f.namespace, f.owner)
            tail = self._tails.get(where)
            if tail is None:
                tail = self._tails[where] = "".join(
                    f", {_json_string(name)}: {_json_string(value)}"
                    for name, value in zip(("cluster", "namespace", "owner"), where, strict=True)
                    if value
                ) + "}"
            line = head + _json_string(f.subject) + body + tail
        # the encoder writes a lone surrogate as it is (ensure_ascii=False), so scrubbing the line
        # scrubs each of its strings; ASCII lines (nearly all) need no look
        if not line.isascii() and _SURROGATE.search(line):
            line = _scrub(line)
        return line


# --------------------------------------------------------------------------- sarif


def _sarif_level(f: Finding) -> str:
    """``error`` blocks (enforce), ``warning`` reports (audit), ``note`` could not be decided."""
    if f.status == "unknown":
        return "note"
    return "error" if f.mode == "enforce" else "warning"


def _fingerprint(f: Finding) -> str:
    """Stable across runs for one (control, cluster, subject): code scanning tracks the alert by it."""
    key = "\x00".join((f.control_id, f.cluster or "", f.subject))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _rule(control_id: str, group: Sequence[Finding], catalog: Catalog) -> dict[str, Any]:
    c = _control_for(catalog, control_id)
    first = group[0]
    severity = c.severity if c is not None else first.severity
    modes = {f.mode for f in group}
    if "enforce" in modes:
        level = "error"
    elif modes & {"audit"}:
        level = "warning"
    else:
        level = "error" if c is None or c.default_mode == "enforce" else "warning"
    tags = ["security", "kubernetes", AREA_NAMES.get(control_id.split("-")[0], "other")]
    references: list[str] = []
    if c is not None:
        references = [f"CIS {ref.benchmark.upper()} {ref.section}" for ref in c.references.cis]
        references += [f"Kubescape {k}" for k in c.references.kubescape]
        references += list(c.references.other)
        if not references and c.references.best_practice:
            references.append("best practice")
        tags += references + list(c.tags)
    tags = list(dict.fromkeys(tags))
    remediation = c.remediation if c is not None else first.remediation
    help_text = remediation
    markdown = f"**Remediation.** {remediation}"
    if c is not None:
        markdown += f"\n\n**Why.** {c.rationale}"
    if references:
        help_text += "\nReferences: " + ", ".join(references)
        markdown += "\n\n**References:** " + ", ".join(references)
    rule: dict[str, Any] = {
        "id": control_id,
        "name": c.policy_name if c is not None else first.policy_name,
        "shortDescription": {"text": c.title if c is not None else first.title},
        "fullDescription": {"text": f"{c.description} {c.rationale}" if c is not None else first.title},
        "help": {"text": help_text, "markdown": markdown},
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": tags,
            "precision": "very-high",
            "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
            "severity": severity,
        },
    }
    return rule


def _artifact_uri(path: str) -> str:
    """A URI reference for a path: percent-encoded (no ':' can pass for a scheme), '/' kept."""
    path = _scrub(path).replace("\\", "/")
    if path.startswith("/"):
        return "file://" + quote(path, safe="/")
    return quote(path, safe="/")


def _sarif_location(f: Finding, where: Mapping[str, tuple[str, int]]) -> dict[str, Any]:
    """The object as a logical location, plus a physical one GitHub can ingest.

    GitHub code scanning rejects a whole upload when a result's location has no
    ``physicalLocation.artifactLocation.uri`` (ingestion rule GH1001), and live objects and Pulumi
    resources have no file. Such results get a stable placeholder path under ``fleet-baseline/``
    (cluster, then the subject, percent-encoded), so the alert lists and tracks the object; a
    finding from a manifest file points at the file and line.
    """
    logical = {"fullyQualifiedName": f.subject, "kind": "resource"}
    if f.subject in where:
        path, line = where[f.subject]
        physical: dict[str, Any] = {"artifactLocation": {"uri": _artifact_uri(path)}}
        if line >= 1:
            physical["region"] = {"startLine": line}
    else:
        placeholder = "/".join(p for p in ("fleet-baseline", f.cluster or "", f.subject) if p)
        physical = {"artifactLocation": {"uri": _artifact_uri(placeholder)}, "region": {"startLine": 1}}
    return {"physicalLocation": physical, "logicalLocations": [logical]}


def _sarif_result(f: Finding, rule_index: int, where: Mapping[str, tuple[str, int]]) -> dict[str, Any]:
    text = f"{f.subject}: {f.message}"
    if f.status == "unknown" and f.detail and f.detail not in f.message:
        text += f" ({f.detail})"
    properties: dict[str, Any] = {
        "status": f.status,
        "mode": f.mode,
        "severity": f.severity,
        "subject": f.subject,
        "subjectType": f.subject_type,
    }
    for key, value in (("cluster", f.cluster), ("namespace", f.namespace), ("owner", f.owner)):
        if value:
            properties[key] = value
    if f.unknown:
        properties["unknown"] = list(f.unknown)
    if f.detail:
        properties["detail"] = f.detail
    result: dict[str, Any] = {
        "ruleId": f.control_id,
        "ruleIndex": rule_index,
        "level": _sarif_level(f),
        "message": {"text": text},
        "locations": [_sarif_location(f, where)],
        "partialFingerprints": {_FINGERPRINT_KEY: _fingerprint(f)},
        "properties": properties,
    }
    if f.exception is not None:
        exc = f.exception
        justification = f"{exc.reason} (owner {exc.owner}, expires {exc.expires.isoformat()}, scope {exc.scope}"
        justification += f", ticket {exc.ticket})" if exc.ticket else ")"
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": justification}]
        properties["exception"] = exc.to_dict()
    return result


def _sarif(
    findings: Sequence[Finding],
    ctx: AuditContext,
    catalog: Catalog,
    where: Mapping[str, tuple[str, int]],
    information_uri: str | None,
) -> str:
    """One run; rules for every control that has findings (passes included), results for the rest."""
    by_control: dict[str, list[Finding]] = {}
    for f in findings:
        by_control.setdefault(f.control_id, []).append(f)
    control_ids = sorted(by_control, key=_control_key)
    rules = [_rule(cid, by_control[cid], catalog) for cid in control_ids]
    index = {cid: i for i, cid in enumerate(control_ids)}
    results = [_sarif_result(f, index[f.control_id], where) for f in findings if f.status != "pass"]
    driver: dict[str, Any] = {"name": TOOL_NAME, "version": ctx.tool_version}
    if re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", ctx.tool_version):
        driver["semanticVersion"] = ctx.tool_version
    if information_uri:
        driver["informationUri"] = information_uri
    driver["rules"] = rules
    invocation: dict[str, Any] = {"executionSuccessful": True, "endTimeUtc": _iso(ctx.generated_at)}
    if ctx.problems:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": problem}} for problem in ctx.problems
        ]
    run: dict[str, Any] = {"tool": {"driver": driver}}
    # GitHub takes the category from automationDetails.id (up to its last '/'): one per cluster, so
    # uploads for different clusters to one repository do not close each other's alerts.
    run["automationDetails"] = {"id": f"{TOOL_NAME}/{ctx.cluster}/" if ctx.cluster else f"{TOOL_NAME}/"}
    run["invocations"] = [invocation]
    run["results"] = results
    run["properties"] = {"sources": list(ctx.sources), "cluster": ctx.cluster, "summary": summarize(findings)}
    doc = {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(_scrub_data(doc), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- junit

_JUNIT_CHILD = {"fail": "failure", "unknown": "error", "excepted": "skipped"}


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


# --------------------------------------------------------------------------- policyreport

PR_API_VERSION = "wgpolicyk8s.io/v1alpha2"
#: Kyverno's mapping: a policy exception makes a result ``skip``; a rule that could not be
#: evaluated is ``error``. Failures stay ``fail`` in audit and enforce mode alike (as Kyverno reports
#: an Audit policy's violations); the mode is in ``properties.mode`` and the weight in ``severity``.
_PR_RESULT = {"pass": "pass", "fail": "fail", "unknown": "error", "excepted": "skip"}
_DNS_INVALID = re.compile(r"[^a-z0-9-]+")


def _report_name(cluster: str | None) -> str:
    """``fleet-baseline`` or ``fleet-baseline-<cluster>``, a valid object name whatever the cluster."""
    if not cluster:
        return TOOL_NAME
    slug = _DNS_INVALID.sub("-", cluster.lower()).strip("-")
    if slug != cluster or len(slug) > 200:
        digest = hashlib.sha256(cluster.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        slug = f"{slug[:200].strip('-')}-{digest}".strip("-")
    return f"{TOOL_NAME}-{slug}"


@dataclass(frozen=True)
class _ObjectRef:
    """A Kubernetes object read back from a finding: its reference and where its report goes."""

    kind: str
    name: str | None
    namespace: str | None
    api_version: str | None


def _object_ref(f: Finding, catalog: Catalog) -> _ObjectRef | None:
    """The Kubernetes object a finding judged, or None for a cloud resource.

    The evaluator names a Kubernetes object ``Kind/namespace/name`` (``Kind/name`` when cluster
    scoped) with a type label ``Kind`` or ``group/Kind``; a Pulumi ``kubernetes:`` resource by its
    URN and type token, which give kind and API version but not the object's own name.
    """
    kinds = catalog.kinds
    if f.subject_type.startswith("kubernetes:"):
        _, module, kind = [*f.subject_type.split(":", 2), "", ""][:3]
        group, _, version = module.rpartition("/")
        token_api = version if group in {"", "core"} else f"{group}/{version}"
        kind = kind.removesuffix("Patch")
        return _ObjectRef(kind, None, f.namespace if kind != "Namespace" else None, token_api or None)
    if ":" in f.subject_type or f.subject.startswith("urn:"):
        return None
    group, _, kind = f.subject_type.rpartition("/")
    parts = f.subject.split("/")
    if not kind or parts[0] != kind or len(parts) not in (2, 3):
        return None
    ref = kinds.get(kind)
    api_version = ref.api_version if ref is not None and ref.group == group else None
    if len(parts) == 3:
        return _ObjectRef(kind, parts[2], parts[1], api_version)
    return _ObjectRef(kind, parts[1], None, api_version)


def _pr_result(f: Finding, ref: _ObjectRef | None, ctx: AuditContext, seconds: int, nanos: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "policy": f.policy_name,
        "rule": f.control_id,
        "result": _PR_RESULT[f.status],
        "scored": True,
        "severity": f.severity if f.severity in _SEVERITIES else "info",
        "category": AREA_NAMES.get(f.control_id.split("-")[0], "other"),
        "message": _clip(f.message),
        "source": TOOL_NAME,
        "timestamp": {"seconds": seconds, "nanos": nanos},
    }
    if ref is not None and ref.name is not None:
        obj: dict[str, str] = {}
        if ref.api_version:
            obj["apiVersion"] = ref.api_version
        obj["kind"] = ref.kind
        obj["name"] = ref.name
        if ref.namespace:
            obj["namespace"] = ref.namespace
        result["resources"] = [obj]
    properties: dict[str, str] = {"mode": f.mode}
    if ref is None or ref.name is None:
        properties["resource"] = f.subject
        properties["resourceType"] = f.subject_type
    cluster = f.cluster or ctx.cluster
    if cluster:
        properties["cluster"] = cluster
    if f.owner:
        properties["owner"] = f.owner
    exc = f.exception
    if exc is not None:
        properties["exceptionOwner"] = exc.owner
        properties["exceptionReason"] = exc.reason
        properties["exceptionExpires"] = exc.expires.isoformat()
        properties["exceptionScope"] = exc.scope
        if exc.ticket:
            properties["exceptionTicket"] = exc.ticket
    if f.unknown:
        properties["unknown"] = ", ".join(f.unknown)
    if f.detail:
        properties["detail"] = f.detail
    result["properties"] = {k: _clip(v) for k, v in properties.items()}
    return result


def _policy_reports(findings: Sequence[Finding], ctx: AuditContext, catalog: Catalog) -> str:
    """A ClusterPolicyReport (always, so a clean run overwrites yesterday's failures), then one
    PolicyReport per namespace with namespaced objects, as a YAML stream ``kubectl apply`` takes.

    Cluster-scoped objects (Namespaces included, as Kyverno files them) and cloud resources go to
    the ClusterPolicyReport; cloud resources carry no ``resources`` (no Kubernetes object to refer
    to) and name their URN in ``properties.resource``.
    """
    moment = _utc(ctx.generated_at)
    seconds = calendar.timegm(moment.timetuple())
    nanos = moment.microsecond * 1000
    name = _report_name(ctx.cluster)
    cluster_results: list[dict[str, Any]] = []
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        ref = _object_ref(f, catalog)
        result = _pr_result(f, ref, ctx, seconds, nanos)
        if ref is not None and ref.namespace:
            by_namespace.setdefault(ref.namespace, []).append(result)
        else:
            cluster_results.append(result)

    annotations = {f"{TOOL_NAME}/tool-version": ctx.tool_version}
    if ctx.cluster:
        annotations[f"{TOOL_NAME}/cluster"] = ctx.cluster
    annotations[f"{TOOL_NAME}/generated-at"] = _iso(ctx.generated_at)

    def report(kind: str, results: list[dict[str, Any]], namespace: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name}
        if namespace is not None:
            metadata["namespace"] = namespace
        metadata["labels"] = {"app.kubernetes.io/managed-by": TOOL_NAME}
        notes = dict(annotations)
        if kind == "ClusterPolicyReport" and ctx.problems:
            notes[f"{TOOL_NAME}/problems"] = json.dumps(list(ctx.problems), ensure_ascii=False)
        metadata["annotations"] = notes
        summary = dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)
        for r in results:
            summary[r["result"]] += 1
        return {
            "apiVersion": PR_API_VERSION,
            "kind": kind,
            "metadata": metadata,
            "summary": summary,
            "results": results,
        }

    docs = [report("ClusterPolicyReport", cluster_results, None)]
    docs += [report("PolicyReport", by_namespace[ns], ns) for ns in sorted(by_namespace)]
    return yaml.safe_dump_all(_scrub_data(docs), sort_keys=False, allow_unicode=True, explicit_start=True, width=120)
