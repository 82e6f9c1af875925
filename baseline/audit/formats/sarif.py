"""SARIF 2.1.0 as GitHub code scanning ingests it: a rule per control, results for failures, unknowns and exceptions."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from baseline.audit.formats.common import (
    _FINGERPRINT_KEY,
    SARIF_SCHEMA_URI,
    SECURITY_SEVERITY,
    TOOL_NAME,
    AuditContext,
    _control_for,
    _control_key,
    _iso,
    _scrub,
    _scrub_data,
    summarize,
)
from baseline.catalog import AREA_NAMES, Catalog
from baseline.evaluator import Finding

__all__: list[str] = []

# --------------------------------------------------------------------------- sarif


def _sarif_level(f: Finding) -> str:
    """``error`` blocks (enforce), ``warning`` reports (audit), ``note`` could not be decided."""
    if f.status in ("unknown", "not-judged"):
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
