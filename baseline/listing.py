"""The catalog as a listing: each control, its mode, references, and where each target is enforced.

``fleet-baseline controls`` prints this. Where a target is enforced is derived, never stated: at
preview/up when the CrossGuard pack can see it (every applicable target: cloud resources, Pulumi's
Kubernetes resources and exception records), at admission when the admission renderers can express
it (object-scoped Kubernetes targets), and in audit (manifests, state exports, live clusters) for
every applicable target. A "not applicable on this cloud" entry is listed with what covers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from baseline.catalog import Catalog, Target

if TYPE_CHECKING:
    from baseline.intent import Intent

__all__ = ["control_rows", "format_controls"]


def _target_row(target: Target) -> dict[str, Any]:
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
    reason = not_enforced_reason(target)
    row: dict[str, Any] = {
        "target": target.describes,
        "cloud": target.cloud or "any",
        "scope": target.scope,
        "preview": True,
        "admission": reason is None,
        "audit": True,
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
                "references": control.references.frameworks(),
                "targets": [_target_row(t) for t in control.targets],
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
