"""wgpolicyk8s.io PolicyReports as Kyverno writes them and Policy Reporter reads them."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from baseline.audit.formats.common import _SEVERITIES, TOOL_NAME, AuditContext, _clip, _iso, _scrub_data, _utc
from baseline.catalog import AREA_NAMES, Catalog
from baseline.evaluator import Finding

__all__: list[str] = []

# --------------------------------------------------------------------------- policyreport

PR_API_VERSION = "wgpolicyk8s.io/v1alpha2"
#: Kyverno's mapping: a policy exception makes a result ``skip``; a rule that could not be
#: evaluated is ``error``. Failures stay ``fail`` in audit and enforce mode alike (as Kyverno reports
#: an Audit policy's violations); the mode is in ``properties.mode`` and the weight in ``severity``.
_PR_RESULT = {"pass": "pass", "fail": "fail", "unknown": "error", "not-judged": "skip", "excepted": "skip"}
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
        # a pass carries what was checked, not the failure text its control would give
        "message": _clip(f"{f.control_id} passed: {f.title}" if f.status == "pass" else f.message),
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
