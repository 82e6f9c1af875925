"""``fleet-baseline explain CONTROL``: one control, whole: why, how to fix it on each target, references,
and where each target runs (preview/up through the pack, admission, audit)."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any, TextIO

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command, add_stack_option, stack_intent

__all__ = ["COMMAND", "configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "control", metavar="CONTROL", help="a control id (CL-03) or policy name (cl-03-api-endpoint-restricted)"
    )
    p.add_argument("--json", action="store_true", help="print the control as JSON (the row of controls --json)")
    add_stack_option(p, required=False, what="the control's mode (its wave, its overrides)")


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(" ".join(text.split()), width=100, initial_indent=indent, subsequent_indent=indent)


def _where(target: dict[str, Any]) -> str:
    if "coveredBy" in target:
        return f"not applicable; covered by: {target['coveredBy']}"
    runs = [name for name in ("preview", "admission", "audit") if target.get(name)]
    text = "runs at: " + ", ".join(runs)
    if "notAtAdmission" in target:
        text += f" (not at admission: {target['notAtAdmission']})"
    return text


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError, intent_catalog
    from baseline.loader import IntentError
    from baseline.render.listing import control_rows

    try:
        intent = stack_intent(args)
        catalog = intent_catalog(intent)
    except (IntentError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    wanted = args.control.strip()
    control = catalog[wanted.upper()] if wanted.upper() in catalog else catalog.by_policy_name(wanted.lower())
    if control is None:
        known = ", ".join(sorted(catalog.ids()))
        print(f"error: no control {wanted!r} in the catalog; the controls are: {known}", file=err)
        return EXIT_BAD_INPUT
    (row,) = [r for r in control_rows(catalog, intent) if r["id"] == control.id]
    examples = {"pass": 0, "fail": 0, "unknown": 0}
    for example in control.examples():
        examples[example.expect] += 1
    row["examples"] = examples
    if args.json:
        json.dump(row, out, indent=2)
        out.write("\n")
        return EXIT_OK
    lines = [
        f"{control.id}  {control.title}",
        f"  policy {control.policy_name}; severity {control.severity}; mode {row['mode']} "
        f"(default {control.default_mode})",
        "",
        _wrap(control.description),
        "",
        "Why:",
        _wrap(control.rationale),
        "",
        "Remediation:",
        _wrap(control.remediation),
        "",
        "References: " + (", ".join(row["references"]) or "none"),
        "",
        "Targets:",
    ]
    for target in row["targets"]:
        lines.append(f"  - {target['target']}: {_where(target)}")
        if target.get("message"):
            lines.append(_wrap(target["message"], indent="      "))
    lines += ["", "Examples: " + ", ".join(f"{n} {kind}" for kind, n in examples.items())]
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


COMMAND = Command(
    "explain", "print one control whole: rationale, remediation per target, references, where it runs", configure, run
)
