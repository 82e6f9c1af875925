"""What every report format shares: the run's context, the order of findings, the summary, and the escaping of
untrusted text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from baseline.catalog import AREA_NAMES, SEVERITY_ORDER, Catalog, Control
from baseline.evaluator import Finding

__all__ = [
    "FORMATS",
    "SARIF_SCHEMA_URI",
    "SECURITY_SEVERITY",
    "TOOL_NAME",
    "AuditContext",
    "sort_findings",
    "summarize",
]

TOOL_NAME = "fleet-baseline"
FORMATS = ("table", "json", "sarif", "junit", "policyreport")
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

#: GitHub code scanning reads a rule's ``security-severity`` (0.0-10.0) and shows >= 9.0 as critical,
#: 7.0-8.9 high, 4.0-6.9 medium, below 4.0 low; each value sits inside its band, not on an edge.
SECURITY_SEVERITY: Mapping[str, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}

_STATUS_ORDER = {"fail": 0, "unknown": 1, "not-judged": 2, "excepted": 3, "pass": 4}
#: "not-judged": a check that needs the intent's parameters and was given none; counted apart
_STATUSES = ("fail", "unknown", "not-judged", "excepted", "pass")
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
