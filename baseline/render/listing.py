"""The catalog as a listing: each control, its mode, references, and where each target is enforced.

``fleet-baseline controls`` prints this. Where a target is enforced is derived, never stated: at
preview/up when the CrossGuard pack can see it (every applicable target: cloud resources, Pulumi's
Kubernetes resources and exception records), at admission when the admission renderers can express
it (object-scoped Kubernetes targets), and in audit (manifests, state exports, live clusters) for
every applicable target. A "not applicable on this cloud" entry is listed with what covers it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from baseline.catalog import Catalog, Control, Target

if TYPE_CHECKING:
    from baseline.intent import Intent

__all__ = ["CLOUDS", "control_cloud_matrix", "control_rows", "format_controls", "format_matrix_markdown"]


def _target_row(target: Target, control: Control | None = None) -> dict[str, Any]:
    from providers.admission import not_enforced_reason

    if target.not_applicable is not None:
        return {
            "target": f"{target.cloud}: not applicable",
            "cloud": target.cloud,
            "coveredBy": target.not_applicable,
            "preview": False,
            "admission": False,
            "audit": False,
        }
    reason = not_enforced_reason(target, control)
    row: dict[str, Any] = {
        "target": target.describes,
        "cloud": target.cloud or "any",
        "scope": target.scope,
        "preview": True,
        "admission": reason is None,
        "audit": True,
        "message": " ".join(target.message.split()),
    }
    if reason is not None:
        row["notAtAdmission"] = reason
    return row


def control_rows(catalog: Catalog, intent: Intent | None = None) -> list[dict[str, Any]]:
    """One row per control: the data ``controls --json`` prints."""
    rows = []
    for control in catalog:
        mode = intent.mode_for(control.id, control.default_mode) if intent else control.default_mode
        rows.append(
            {
                "id": control.id,
                "policy": control.policy_name,
                "title": control.title,
                "severity": control.severity,
                "defaultMode": control.default_mode,
                "mode": mode,
                "description": control.description,
                "rationale": " ".join(control.rationale.split()),
                "remediation": " ".join(control.remediation.split()),
                "references": control.references.frameworks(),
                "targets": [_target_row(t, control) for t in control.targets],
            }
        )
    return rows


def _flag(row: dict[str, Any], key: str) -> str:
    return "yes" if row.get(key) else "-"


def format_controls(catalog: Catalog, intent: Intent | None = None) -> str:
    """A table a person reads: a control line, then one line per target with where it is enforced."""
    lines = []
    header = f"{'ID':<7} {'SEVERITY':<9} {'MODE':<8} TITLE"
    lines.append(header)
    for row in control_rows(catalog, intent):
        lines.append(f"{row['id']:<7} {row['severity']:<9} {row['mode']:<8} {row['title']}")
        refs = ", ".join(row["references"])
        lines.append(f"{'':<7} refs: {refs}")
        for t in row["targets"]:
            if "coveredBy" in t:
                lines.append(f"{'':<7} - {t['target']:<58} covered by: {t['coveredBy']}")
            else:
                where = " ".join(f"{key} {_flag(t, key):<3}" for key in ("preview", "admission", "audit"))
                lines.append(f"{'':<7} - {t['target']:<58} {where}")
    return "\n".join(lines)


CLOUDS = ("eks", "gke", "aks")


def _properties(target: Target, limit: int = 4) -> list[str]:
    """The object fields a target's expression reads (derived from the CEL, not restated)."""
    from baseline.cel import read_paths

    def dotted(expression: str, variables: dict[str, str]) -> list[str]:
        values, presence = read_paths(expression, variables)
        paths = sorted({".".join(p) for p in (*values, *presence) if p and not p[0].startswith("<")})
        # the most specific paths say the most: drop a path that is a prefix of another
        return [p for p in paths if not any(q != p and q.startswith(p + ".") for q in paths)]

    own = dotted(target.expression, {})  # what the expression itself reads, then what its variables do
    via = [p for p in dotted(target.expression, {v.name: v.expression for v in target.variables}) if p not in own]
    fields = own + via
    return fields[:limit] + (["…"] if len(fields) > limit else [])


def _selected_fields(target: Target, library: frozenset[str], limit: int = 6) -> list[str]:
    """For checks that iterate containers: the field names the expression (and the target's own,
    non-library variables) select."""
    from baseline.cel import field_names

    texts = [target.expression, *(v.expression for v in target.variables if v.name not in library)]
    params = {m for t in texts for m in re.findall(r"variables\.params\.(\w+)", t)}
    skip = {"params", "object", *(v.name for v in target.variables), *params}
    found = {n for t in texts for n in field_names(t, literals=False)}
    names = sorted(n for n in found if n and n not in skip)
    return names[:limit] + (["…"] if len(names) > limit else [])


def _cell(control_targets: list[Target], workload_kinds: frozenset[str], library: frozenset[str]) -> str:
    parts = []
    for t in control_targets:
        if t.not_applicable is not None:
            parts.append(f"n/a: {t.not_applicable}")
            continue
        workloads = bool(t.kinds) and {k.kind for k in t.kinds} == workload_kinds
        kinds = ", ".join(f"`{k.kind}`" for k in t.kinds)
        what = "workloads" if workloads else (f"`{t.type}`" if t.type else kinds)
        if t.scope == "stack":
            what = f"stack: {what}"
        own = _properties(t) if not workloads else _properties(Target(t.control_id, t.index, t.expression))
        props = ", ".join(f"`{p}`" for p in (own or _selected_fields(t, library)))
        parts.append(f"{what} {props}".strip())
    return "<br>".join(parts)


def control_cloud_matrix(catalog: Catalog) -> list[dict[str, str]]:
    """Per control, per cloud: the resource and properties that implement it, or what covers it.

    A Kubernetes-kind target applies on every cloud (the in-cluster baseline is the same objects
    everywhere); a cloud resource target, or a named "not applicable, covered by" entry, on its own.
    """
    rows = []
    for control in catalog:
        row = {"id": control.id, "title": control.title}
        for cloud in CLOUDS:
            targets = [t for t in control.targets if t.cloud == cloud or (t.kinds and t.cloud is None)]
            if not targets and control.area == "ST":
                targets = [t for t in control.targets if t.type and t.type.startswith("fleet-baseline:")]
            row[cloud] = _cell(targets, frozenset(catalog.workload_kinds), frozenset(catalog.library_variables))
        rows.append(row)
    return rows


def format_matrix_markdown(catalog: Catalog) -> str:
    """The control x cloud table of ``docs/controls.md``; ``fleet-baseline controls --matrix``."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Controls by cloud",
        "",
        "Generated from the catalog by `fleet-baseline controls --matrix`; do not edit by hand. Each cell",
        "names the resource type (or Kubernetes kinds) and the fields the control's CEL reads there, or",
        "what covers the control on a cloud where it does not apply.",
        "",
        "| control | EKS | GKE | AKS |",
        "|---|---|---|---|",
    ]
    for row in control_cloud_matrix(catalog):
        cells = [esc(row[c]) for c in CLOUDS]
        lines.append(f"| **{row['id']}** {esc(row['title'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
