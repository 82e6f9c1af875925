"""``fleet-baseline audit``: judge manifests, a state export or a live cluster; findings routed to owners."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, TextIO

from baseline import __version__

if TYPE_CHECKING:
    pass

from baseline.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_BLOCKED,
    EXIT_OK,
    Command,
    add_stack_option,
    stack_intent,
    write_chunks,
    write_report,
)
from baseline.cli.history import add_record_options, record_options_error

__all__ = ["COMMAND", "configure", "run"]

# --------------------------------------------------------------------------- audit
#
# ``audit`` judges what is there, not what a program would make: manifests, a state export's refreshed
# outputs, or a live cluster (``baseline.audit.sources``), with the one evaluator (``baseline.audit``), and
# writes the findings in the format a person or a tool reads (``baseline.audit.formats``). Exit codes: 0 no
# failure at or above --fail-on, 1 such failures (excepted ones do not count), 2 bad input: an input that
# could not be read, or nothing judged at all (an empty folder, a mistyped path, YAML that holds no
# Kubernetes object), so a CI job pointed at the wrong place never goes green; the report is still written.

#: ``baseline.audit.formats.FORMATS``, restated so building the parser imports no renderer (a test keeps them equal).
_AUDIT_FORMATS = ("table", "json", "sarif", "junit", "policyreport")
_SEVERITIES = ("low", "medium", "high", "critical")


def _byte_count(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "ki": 1 << 10, "m": 1 << 20, "mi": 1 << 20, "g": 1 << 30, "gi": 1 << 30}
    number, unit = text.strip(), ""
    while number and number[-1].isalpha():
        number, unit = number[:-1], number[-1] + unit
    try:
        value = int(number) * units[unit.lower().removesuffix("b")]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 67108864, 64Mi or 1Gi") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be positive")
    return value


def _audit_day(text: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="manifest files or directories to audit (the same as --manifests PATH...)",
    )
    p.add_argument(
        "--manifests",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="YAML/JSON manifest files or directories (recursive), as kubectl apply -f reads them",
    )
    p.add_argument("--state", metavar="FILE", help="a `pulumi stack export` (JSON, or gzipped); '-' reads stdin")
    p.add_argument(
        "--context",
        metavar="NAME",
        help="audit this kube context's cluster live, read-only (the ClusterRole is docs/audit-clusterrole.yaml)",
    )
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for the live audit (default: the usual lookup)")
    add_stack_option(p, required=False, what="params, exceptions, owners and modes (default: the catalog's)")
    p.add_argument("--format", choices=_AUDIT_FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write the report here (default: stdout)")
    p.add_argument(
        "--fail-on",
        choices=_SEVERITIES,
        default="high",
        help="exit 1 on a failing (not excepted) finding at or above this severity (default: high)",
    )
    p.add_argument(
        "--max-state-bytes",
        type=_byte_count,
        metavar="N",
        help="refuse a state export larger than this, e.g. 256Mi (default: 64Mi, baseline.audit.sources)",
    )
    p.add_argument(
        "--max-manifest-bytes",
        type=_byte_count,
        metavar="N",
        help="refuse a manifest file larger than this (default: 256Mi, baseline.audit.sources)",
    )
    p.add_argument("--today", type=_audit_day, metavar="YYYY-MM-DD", help="judge expiries as of this day")
    p.add_argument("--show-passes", action="store_true", help="table: list passing checks too")
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="processes parsing manifest files (default: one per CPU; 1: in-process); small inputs stay in-process",
    )
    add_record_options(p)


#: The collector's first threshold during an audit (Python's default: 700). An audit builds millions of
#: containers (the objects read, the findings, the report) that live until it ends and form no
#: cycles; at 700 allocations a pass, the collector walks them again and again (100,000 objects: a
#: quarter of the run's CPU time). What was read is also frozen once read: later passes skip it.
_AUDIT_GC_THRESHOLD = 50_000


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import gc

    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    gc.set_threshold(max(threshold[0], _AUDIT_GC_THRESHOLD), *threshold[1:])
    try:
        return _audit(args, out, err)
    finally:
        gc.set_threshold(*threshold)
        if not frozen:
            gc.unfreeze()


def _audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import datetime as dt
    import gc

    from baseline.audit import audit, exceptions_from_records
    from baseline.audit.formats import AuditContext, render_chunks
    from baseline.audit.sources import (
        DEFAULT_MAX_MANIFEST_BYTES,
        DEFAULT_MAX_STATE_BYTES,
        Snapshot,
        SourceError,
        read_live,
        read_manifests,
        read_state,
    )
    from baseline.catalog import SEVERITY_ORDER, CatalogError, intent_catalog
    from baseline.evaluator import Evaluator, Finding
    from baseline.loader import IntentError

    live = args.context is not None or args.kubeconfig is not None
    args.manifests = [*getattr(args, "paths", []), *args.manifests]
    if not (args.manifests or args.state or live):
        print("error: nothing to audit: give PATH..., --state FILE|- and/or --context NAME", file=err)
        return EXIT_BAD_INPUT
    problem = record_options_error(args)
    if problem:
        print(f"error: {problem}", file=err)
        return EXIT_BAD_INPUT
    snapshots: list[Snapshot] = []
    try:
        intent = stack_intent(args)
        # with --stack, the intent's customControls join the built-ins, as in the pack and at admission
        catalog = intent_catalog(intent)
        if args.manifests:
            max_manifest = args.max_manifest_bytes or DEFAULT_MAX_MANIFEST_BYTES
            jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
            snapshots.append(read_manifests(args.manifests, max_bytes=max_manifest, jobs=jobs))
        if args.state:
            snapshots.append(read_state(args.state, max_bytes=args.max_state_bytes or DEFAULT_MAX_STATE_BYTES))
        if live:
            snapshots.append(read_live(args.context, args.kubeconfig))
    except (IntentError, CatalogError, SourceError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    gc.freeze()  # what was read lives until the report is written (run unfreezes it)
    today = args.today or dt.date.today()
    notes: list[str] = []
    findings: list[Finding] = []
    observations: list[Any] = []
    shared = Evaluator.for_intent(intent, catalog, today=today) if intent is not None else None
    hint = "give --stack NAME (and --stacks-dir DIR) to judge it with the stack's intent"
    for snap in snapshots:
        if intent is not None and snap.stack and snap.stack != args.stack:
            notes.append(f"{snap.source} is stack {snap.stack!r}; judged with the intent of stack {args.stack!r}")
        evaluator = shared or Evaluator(
            catalog,
            exceptions=exceptions_from_records(snap.exceptions, snap.problems),
            today=today,
            intent_hint=hint,
        )
        snapshot_findings = audit(snap, evaluator, intent=intent)
        findings.extend(snapshot_findings)
        if args.record:
            from baseline.cli.history import observe

            name = snap.cluster or (intent.cluster.name if intent is not None else None) or snap.source
            observations.append(observe(snap, snapshot_findings, name))
        if args.debug:
            print(f"audit: {snap.source}: {len(snap.subjects)} objects, {len(snap.problems)} problems", file=err)
    if intent is None:
        notes.append(
            "no --stack: judged with the catalog's default modes and no intent parameters (admins, namespace"
            " levels, registries); exceptions only from the records a state export holds"
        )
    problems = tuple(p for s in snapshots for p in s.problems)
    locations: dict[str, tuple[str, int]] = {}
    for snap in snapshots:
        locations.update(snap.locations)
    clusters = sorted({s.cluster for s in snapshots if s.cluster})
    context = AuditContext(
        tool_version=__version__,
        sources=tuple(s.source for s in snapshots),
        cluster=", ".join(clusters) or (intent.cluster.name if intent is not None else None),
        generated_at=dt.datetime.now(dt.UTC),
        problems=problems,
    )
    chunks = render_chunks(
        findings,
        args.format,
        context=context,
        catalog=catalog,
        locations=locations,
        color=not args.output and out.isatty(),
        show_passes=args.show_passes,
    )
    if args.output:
        problem = write_report(args.output, chunks)
        if problem is not None:
            print(f"error: {problem}", file=err)
            return EXIT_BAD_INPUT
    else:
        write_chunks(out, chunks)
    for note in notes:
        print(f"note: {note}", file=err)
    for problem in problems:
        print(f"warning: {problem}", file=err)
    read = sum(len(s.subjects) for s in snapshots)
    if not findings:
        why = (
            "no Kubernetes objects or cloud resources were read"
            if not read
            else f"none of the {read} objects read is of a kind any control judges"
        )
        print(f"error: nothing was judged: {why} (from {', '.join(s.source for s in snapshots)})", file=err)
        return EXIT_BAD_INPUT
    if args.record:
        from baseline.cli.history import record_run

        code = record_run(
            args,
            err,
            command="audit",
            observations=observations,
            sources=[s.source for s in snapshots],
            catalog_version=catalog.baseline_version,
        )
        if code != EXIT_OK:
            return code
    threshold = SEVERITY_ORDER[args.fail_on]
    failing = [f for f in findings if f.status == "fail" and SEVERITY_ORDER[f.severity] >= threshold]
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("fail", "unknown", "not-judged", "excepted")}
    print(
        f"audit: {counts['fail']} failing, {counts['unknown']} undecided, {counts['not-judged']} not judged"
        f" (need the intent: give --stack NAME), {counts['excepted']} excepted;"
        if counts["not-judged"]
        else f"audit: {counts['fail']} failing, {counts['unknown']} undecided, {counts['excepted']} excepted;"
        f" {len(failing)} at or above {args.fail_on}" + (f"; report written to {args.output}" if args.output else ""),
        file=err,
    )
    return EXIT_BLOCKED if failing else EXIT_OK


COMMAND = Command(
    "audit",
    "judge manifests, a state export or a live cluster against the catalog; findings routed to their owners",
    configure,
    run,
)
