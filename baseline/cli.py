"""The ``fleet-baseline`` command line.

Each subcommand is one entry of :data:`COMMANDS`: a function that adds its arguments to a subparser
and a handler returning the exit code. ``plan`` exists today; ``controls``, ``render``, ``audit`` and
``fleet`` are added the same way.

Exit codes (every subcommand): 0 success, 1 the stack is blocked (a mandatory violation), 2 bad input
(the message names the file and field; nothing was registered or started), 3 a run failed (the stack
program raised, or the policy pack crashed), 130 interrupted. A user error never prints a traceback;
``--debug`` shows one for failures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from baseline import __version__

if TYPE_CHECKING:
    from baseline.intent import Intent

__all__ = [
    "COMMANDS",
    "EXIT_BAD_INPUT",
    "EXIT_BLOCKED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "Command",
    "build_parser",
    "main",
]

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_BAD_INPUT = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, TextIO, TextIO], int]


# --------------------------------------------------------------------------- plan


def _configure_plan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, metavar="NAME", help="stack name: reads STACKS_DIR/Pulumi.NAME.yaml")
    p.add_argument("--json", action="store_true", help="print one JSON document (resources, violations, blocked)")
    p.add_argument("--stacks-dir", default="stacks", metavar="DIR", help="stack config directory (default: stacks)")
    p.add_argument(
        "--program",
        default=None,
        metavar="DIR",
        help="the Pulumi program directory (default: the stacks directory, as Pulumi.yaml's main: stacks/)",
    )
    p.add_argument(
        "--policy-pack",
        default="policy_packs/baseline",
        metavar="DIR",
        help="policy pack directory (default: policy_packs/baseline)",
    )
    p.add_argument(
        "--policy-pack-config",
        default=None,
        metavar="FILE",
        help="JSON policy config, as for pulumi preview: {policy: level | {enforcementLevel, ...properties}}",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="judge as at preview: computed values unknown, PULUMI_DRY_RUN=true (default: as at up)",
    )


def _run_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError
    from baseline.loader import IntentError
    from baseline.plan import PackError, PlanError, ProgramError, format_text, run_plan

    try:
        result = run_plan(
            args.stack,
            stacks_dir=args.stacks_dir,
            program=args.program,
            pack_dir=args.policy_pack,
            policy_pack_config=args.policy_pack_config,
            preview=args.preview,
            on_step=(lambda msg: print(f"plan: {msg}", file=err)) if args.debug else None,
        )
    except (IntentError, PlanError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except (ProgramError, PackError) as exc:
        print(f"error: {exc}", file=err)
        if args.debug:
            traceback.print_exception(exc, file=err)
        return EXIT_FAILED
    if args.json:
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(format_text(result) + "\n")
    return EXIT_BLOCKED if result.blocked else EXIT_OK


# --------------------------------------------------------------------------- controls


def _add_stack_option(p: argparse.ArgumentParser, required: bool, what: str) -> None:
    help_text = f"stack whose intent sets {what} (STACKS_DIR/Pulumi.NAME.yaml)"
    p.add_argument("--stack", required=required, metavar="NAME", help=help_text)
    p.add_argument("--stacks-dir", default="stacks", metavar="DIR", help="stack config directory (default: stacks)")


def _stack_intent(args: argparse.Namespace) -> Intent | None:
    from pathlib import Path

    from baseline.loader import intent_from_config, read_stack_config

    if not args.stack:
        return None
    stacks_dir = Path(args.stacks_dir)
    return intent_from_config(
        read_stack_config(stacks_dir / f"Pulumi.{args.stack}.yaml"),
        base_dir=stacks_dir,
        source=f"stack {args.stack}",
    )


def _configure_controls(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the catalog as JSON")
    p.add_argument(
        "--matrix", action="store_true", help="print the control x cloud table (Markdown) of docs/controls.md"
    )
    _add_stack_option(p, required=False, what="each control's mode (its wave, its overrides)")


def _run_controls(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError, load_catalog
    from baseline.listing import control_rows, format_controls
    from baseline.loader import IntentError

    try:
        catalog = load_catalog()
        intent = _stack_intent(args)
    except (IntentError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    if args.matrix:
        from baseline.listing import format_matrix_markdown

        out.write(format_matrix_markdown(catalog))
    elif args.json:
        json.dump(control_rows(catalog, intent), out, indent=2)
        out.write("\n")
    else:
        out.write(format_controls(catalog, intent) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------- pack-config


def _configure_pack_config(p: argparse.ArgumentParser) -> None:
    _add_stack_option(p, required=True, what="the modes")
    p.add_argument("--wave", choices=("canary", "early", "broad"), help="rollout wave (default: the intent's)")
    p.add_argument("--out", metavar="FILE", help="write the JSON here (default: stdout)")


def _run_pack_config(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError
    from baseline.loader import IntentError
    from policy_packs.factory import policy_pack_config

    try:
        intent = _stack_intent(args)
    except (IntentError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    assert intent is not None  # --stack is required
    text = json.dumps(policy_pack_config(intent, wave=args.wave), indent=2, sort_keys=True) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        out.write(text)
    return EXIT_OK


# --------------------------------------------------------------------------- render


def _configure_render(p: argparse.ArgumentParser) -> None:
    _add_stack_option(p, required=True, what="the baseline")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the manifests (created if missing)")
    p.add_argument(
        "--engine", choices=("vap", "kyverno", "gatekeeper"), help="admission engine (default: the intent's)"
    )
    p.add_argument(
        "--aws-account-id",
        metavar="ID",
        help="EKS: annotate IRSA service accounts with the workload roles the EKS component names",
    )


def _run_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError
    from baseline.loader import IntentError
    from baseline.render import RenderError, eks_irsa_annotations, render_files, write_files

    try:
        intent = _stack_intent(args)
        assert intent is not None  # --stack is required
        annotations = eks_irsa_annotations(intent, args.aws_account_id) if args.aws_account_id else None
        files = render_files(intent, args.engine, service_account_annotations=annotations)
        written, removed = write_files(files, args.out)
    except (IntentError, CatalogError, RenderError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=err)
        return EXIT_BAD_INPUT
    irsa = [wi for wi in intent.workload_identities if wi.aws and wi.aws.mechanism == "irsa"]
    if intent.cluster.cloud == "eks" and irsa and not args.aws_account_id:
        print("note: IRSA service accounts rendered without role annotations; pass --aws-account-id", file=err)
    print(
        f"wrote {len(written)} files to {args.out}" + (f", removed {len(removed)} stale" if removed else ""),
        file=out,
    )
    return EXIT_OK


# --------------------------------------------------------------------------- audit
#
# ``audit`` judges what is there, not what a program would make: manifests, a state export's refreshed
# outputs, or a live cluster (``baseline.sources``), with the one evaluator (``baseline.audit``), and
# writes the findings in the format a person or a tool reads (``baseline.formats``). Exit codes: 0 no
# failure at or above --fail-on, 1 such failures (excepted ones do not count), 2 bad input.

#: ``baseline.formats.FORMATS``, restated so building the parser imports no renderer (a test keeps them equal).
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


def _configure_audit(p: argparse.ArgumentParser) -> None:
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
    _add_stack_option(p, required=False, what="params, exceptions, owners and modes (default: the catalog's)")
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
        help="refuse a state export larger than this, e.g. 256Mi (default: 64Mi, baseline.sources)",
    )
    p.add_argument(
        "--max-manifest-bytes",
        type=_byte_count,
        metavar="N",
        help="refuse a manifest file larger than this (default: 256Mi, baseline.sources)",
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


#: The collector's first threshold during an audit (Python's default: 700). An audit builds millions of
#: containers (the objects read, the findings, the report) that live until it ends and form no
#: cycles; at 700 allocations a pass, the collector walks them again and again (100,000 objects: a
#: quarter of the run's CPU time). What was read is also frozen once read: later passes skip it.
_AUDIT_GC_THRESHOLD = 50_000


def _run_audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
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


def _write_chunks(fh: TextIO, chunks: Iterable[str]) -> None:
    """A report, piece by piece (a large JSON report is never one string), ending with a newline."""
    last = ""
    for chunk in chunks:
        if chunk:
            fh.write(chunk)
            last = chunk
    if not last.endswith("\n"):
        fh.write("\n")


def _audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import datetime as dt
    import gc

    from baseline.audit import audit, exceptions_from_records
    from baseline.catalog import SEVERITY_ORDER, CatalogError, load_catalog
    from baseline.evaluator import Evaluator, Finding
    from baseline.formats import AuditContext, render_chunks
    from baseline.loader import IntentError
    from baseline.sources import (
        DEFAULT_MAX_MANIFEST_BYTES,
        DEFAULT_MAX_STATE_BYTES,
        Snapshot,
        SourceError,
        read_live,
        read_manifests,
        read_state,
    )

    live = args.context is not None or args.kubeconfig is not None
    if not (args.manifests or args.state or live):
        print("error: nothing to audit: give --manifests PATH..., --state FILE|- and/or --context NAME", file=err)
        return EXIT_BAD_INPUT
    snapshots: list[Snapshot] = []
    try:
        catalog = load_catalog()
        intent = _stack_intent(args)
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
    gc.freeze()  # what was read lives until the report is written (_run_audit unfreezes it)
    today = args.today or dt.date.today()
    notes: list[str] = []
    findings: list[Finding] = []
    shared = Evaluator.for_intent(intent, catalog, today=today) if intent is not None else None
    for snap in snapshots:
        if intent is not None and snap.stack and snap.stack != args.stack:
            notes.append(f"{snap.source} is stack {snap.stack!r}; judged with the intent of stack {args.stack!r}")
        evaluator = shared or Evaluator(
            catalog, exceptions=exceptions_from_records(snap.exceptions, snap.problems), today=today
        )
        findings.extend(audit(snap, evaluator, intent=intent))
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
        # written beside it, then moved into place: a reader never sees half a report
        partial = f"{args.output}.partial"
        try:
            with open(partial, "w", encoding="utf-8") as fh:
                _write_chunks(fh, chunks)
            os.replace(partial, args.output)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=err)
            return EXIT_BAD_INPUT
    else:
        _write_chunks(out, chunks)
    for note in notes:
        print(f"note: {note}", file=err)
    for problem in problems:
        print(f"warning: {problem}", file=err)
    threshold = SEVERITY_ORDER[args.fail_on]
    failing = [f for f in findings if f.status == "fail" and SEVERITY_ORDER[f.severity] >= threshold]
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("fail", "unknown", "excepted")}
    print(
        f"audit: {counts['fail']} failing, {counts['unknown']} undecided, {counts['excepted']} excepted;"
        f" {len(failing)} at or above {args.fail_on}" + (f"; report written to {args.output}" if args.output else ""),
        file=err,
    )
    return EXIT_BLOCKED if failing else EXIT_OK


# --------------------------------------------------------------------------- fleet
#
# ``fleet`` reads many sources (state exports, kube contexts), judges each with the one evaluator
# (``baseline.audit``) and folds the findings into one report (``baseline.fleet``, pure). Each source
# is read, judged and reduced to a small summary in a worker; the snapshot and its findings are
# dropped there, so memory is bounded by the report, not by the fleet's resources.

_FLEET_FORMATS = ("table", "json", "markdown", "html")


def _configure_fleet(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "exit codes: 0 every source read and no cluster blocked; 1 a cluster has a failing enforce-mode finding at"
        " or above --fail-on (even if other sources could not be read); 2 bad input: nothing to read, nothing"
        " readable, or a source unreadable while nothing is blocked (the report is still written). See docs/fleet.md."
    )
    p.add_argument(
        "--state-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory of `pulumi stack export` files (*.json, *.json.gz), one per stack; repeatable",
    )
    p.add_argument(
        "--context", action="extend", nargs="+", default=[], metavar="NAME", help="kube contexts to read live"
    )
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for --context (default: the usual lookup)")
    p.add_argument(
        "--stacks-dir",
        metavar="DIR",
        help="judge each stack with its intent, STACKS_DIR/Pulumi.<stack>.yaml, when present (modes, params,"
        " exceptions); else with the catalog's defaults",
    )
    p.add_argument("--format", choices=_FLEET_FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write the report here (default: stdout)")
    p.add_argument(
        "--fail-on",
        choices=("low", "medium", "high", "critical"),
        default="critical",
        help="exit 1 when a cluster has a failing enforce-mode finding at or above this severity (default: critical)",
    )
    p.add_argument("--progress", action="store_true", help="draw the progress bar even when stderr is not a terminal")
    p.add_argument(
        "--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per CPU; 1: in-process)"
    )
    p.add_argument("--today", type=_iso_date, metavar="YYYY-MM-DD", help="judge as of this day (default: today)")
    sub = p.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", parser_class=type(p))
    om = sub.add_parser(
        "operator-manifests",
        help="write a Pulumi Kubernetes Operator Stack (pulumi.com/v1) per stack, to keep each one reconciled",
        description="One Stack custom resource per Pulumi.<stack>.yaml: refresh and update every"
        " --resync-seconds (or, with --drift-only, preview only), never destroy, never create a stack.",
    )
    om.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    om.add_argument(
        "--stacks-dir", required=True, metavar="DIR", help="stack configs: one Stack CR per Pulumi.<stack>.yaml"
    )
    om.add_argument("--out", required=True, metavar="DIR", help="directory for the manifests (created if missing)")
    om.add_argument("--organization", required=True, metavar="ORG", help="Pulumi Cloud organization (spec.stack org/)")
    om.add_argument(
        "--project", default="fleet-baseline", metavar="NAME", help="Pulumi project (default: fleet-baseline)"
    )
    om.add_argument("--project-repo", required=True, metavar="URL", help="git repository the operator clones")
    om.add_argument("--branch", default="main", help="branch to track (default: main)")
    om.add_argument("--repo-dir", metavar="DIR", help="directory of Pulumi.yaml in the repository (default: its root)")
    om.add_argument(
        "--resync-seconds",
        type=int,
        default=600,
        metavar="N",
        help="refresh and reconcile every N seconds (default: 600)",
    )
    om.add_argument("--namespace", metavar="NS", help="namespace of the Stack objects (default: none set)")
    om.add_argument(
        "--access-token-secret",
        default="pulumi-api-secret",
        metavar="NAME",
        help="Secret holding PULUMI_ACCESS_TOKEN under key accessToken (default: pulumi-api-secret)",
    )
    om.add_argument("--service-account", metavar="NAME", help="service account of the operator's workspace pods")
    om.add_argument(
        "--drift-only", action="store_true", help="spec.preview: the operator previews (with refresh), never applies"
    )


def _iso_date(text: str) -> Any:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


class _FleetJudge:
    """Reads one source, judges it and returns its summary. One per process.

    Evaluators are cached: building one compiles every control's CEL (~80 ms). Without an intent a
    cluster is judged with the catalog's defaults and the exceptions its own state records, so
    clusters with the same records (a template's exceptions, copied) share one evaluator. A stack
    with an intent (``--stacks-dir``) gets its own: its parameters name the cluster.
    """

    def __init__(self, stacks_dir: str | None, today: Any, kubeconfig: str | None) -> None:
        from baseline.catalog import load_catalog

        self.catalog = load_catalog()
        self.stacks_dir = stacks_dir
        self.today = today
        self.kubeconfig = kubeconfig
        self._by_records: dict[str, Any] = {}

    def evaluator(self, snapshot: Any) -> tuple[Any, Any]:
        """(evaluator, intent or None) for a snapshot; notes on ``snapshot.problems``."""
        from pathlib import Path

        from baseline.audit import exceptions_from_records
        from baseline.evaluator import Evaluator
        from baseline.loader import intent_from_config, read_stack_config

        if self.stacks_dir and snapshot.stack:
            stack_file = Path(self.stacks_dir) / f"Pulumi.{snapshot.stack}.yaml"
            if stack_file.is_file():
                intent = intent_from_config(
                    read_stack_config(stack_file), base_dir=self.stacks_dir, source=str(stack_file)
                )
                return Evaluator.for_intent(intent, self.catalog, today=self.today), intent
            snapshot.problems.append(
                f"no {stack_file}: judged with the catalog's default modes and no intent parameters"
            )
        key = json.dumps(snapshot.exceptions, sort_keys=True, default=str)
        evaluator = self._by_records.get(key)
        if evaluator is None:
            exceptions = exceptions_from_records(snapshot.exceptions, snapshot.problems)
            evaluator = self._by_records[key] = Evaluator(self.catalog, exceptions=exceptions, today=self.today)
        elif snapshot.exceptions:
            exceptions_from_records(snapshot.exceptions, snapshot.problems)  # the same notes, per cluster
        return evaluator, None

    def judge(self, task: tuple[str, str]) -> tuple[str, Any]:
        """("ok", ClusterSummary) or ("error", message) for a ("state", path) or ("live", context)."""
        from baseline.audit import audit
        from baseline.fleet import summarize
        from baseline.loader import IntentError
        from baseline.sources import SourceError, read_live, read_state

        kind, where = task
        try:
            snapshot = read_state(where) if kind == "state" else read_live(where, self.kubeconfig)
            evaluator, intent = self.evaluator(snapshot)
            findings = audit(snapshot, evaluator, intent=intent)
            cloud = intent.cluster.cloud if intent is not None else None
            return "ok", summarize(snapshot, findings, cloud=cloud)
        except (SourceError, IntentError) as exc:
            return "error", str(exc)
        except Exception as exc:  # one odd source must not sink the fleet's report
            return "error", f"could not judge: {type(exc).__name__}: {exc}"


_JUDGE: _FleetJudge | None = None


def _fleet_init(stacks_dir: str | None, today: Any, kubeconfig: str | None) -> None:
    global _JUDGE
    _JUDGE = _FleetJudge(stacks_dir, today, kubeconfig)


def _fleet_task(task: tuple[str, str]) -> tuple[str, Any]:
    assert _JUDGE is not None
    return _JUDGE.judge(task)


def _fleet_tasks(args: argparse.Namespace, err: TextIO) -> list[tuple[str, str]] | None:
    from pathlib import Path

    tasks: list[tuple[str, str]] = []
    for d in args.state_dir:
        directory = Path(d)
        if not directory.is_dir():
            print(f"error: --state-dir {d}: not a directory", file=err)
            return None
        files = sorted({*directory.glob("*.json"), *directory.glob("*.json.gz")})
        if not files:
            print(f"warning: --state-dir {d}: no *.json exports", file=err)
        tasks += [("state", str(f)) for f in files]
    tasks += [("live", c) for c in args.context]
    tasks = list(dict.fromkeys(tasks))  # the same file or context given twice is one source
    if args.stacks_dir and not Path(args.stacks_dir).is_dir():
        print(f"error: --stacks-dir {args.stacks_dir}: not a directory", file=err)
        return None
    return tasks


def _run_fleet(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import datetime as dt
    import os

    from baseline.catalog import CatalogError, load_catalog
    from baseline.fleet import FleetBuilder, ProgressBar, render_html, render_json, render_markdown, render_table

    if args.fleet_command == "operator-manifests":
        return _run_operator_manifests(args, out, err)
    tasks = _fleet_tasks(args, err)
    if tasks is None:
        return EXIT_BAD_INPUT
    if not tasks:
        print("error: nothing to read: give --state-dir DIR (with exports) and/or --context NAME", file=err)
        return EXIT_BAD_INPUT
    today = args.today or dt.date.today()
    try:
        builder = FleetBuilder(load_catalog(), today=today)
    except CatalogError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    jobs = min(jobs, len(tasks))
    bar = ProgressBar(len(tasks), err, enabled=args.progress or err.isatty(), label="fleet")
    errors: list[tuple[str, str]] = []

    def take(task: tuple[str, str], result: tuple[str, Any]) -> None:
        status, value = result
        if status == "ok":
            builder.add_summary(value)
            bar.advance(note=value.name)
        else:
            message = str(value).removeprefix(f"{task[1]}: ")
            builder.add_error(task[1], message)
            errors.append((task[1], message))
            bar.advance(note=task[1])

    try:
        if jobs <= 1:
            judge = _FleetJudge(args.stacks_dir, today, args.kubeconfig)
            for task in tasks:
                take(task, judge.judge(task))
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(
                max_workers=jobs, initializer=_fleet_init, initargs=(args.stacks_dir, today, args.kubeconfig)
            ) as pool:
                chunk = max(1, min(16, len(tasks) // (jobs * 8)))
                for task, result in zip(tasks, pool.map(_fleet_task, tasks, chunksize=chunk), strict=True):
                    take(task, result)
    finally:
        bar.close()
    for source, message in errors:
        print(f"error: {source}: {message}", file=err)
    report = builder.report()
    renderers = {
        "table": lambda: render_table(report, fail_on=args.fail_on, color=not args.output and out.isatty()) + "\n",
        "json": lambda: render_json(report, fail_on=args.fail_on),
        "markdown": lambda: render_markdown(report, fail_on=args.fail_on),
        "html": lambda: render_html(report, fail_on=args.fail_on),
    }
    text = renderers[args.format]()
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=err)
            return EXIT_BAD_INPUT
    else:
        out.write(text)
    blocked = report.blocked(args.fail_on)
    print(
        f"fleet: {len(report.clusters)} clusters judged, {len(errors)} unreadable, {len(blocked)} blocked at"
        f" {args.fail_on}" + (f"; report written to {args.output}" if args.output else ""),
        file=err,
    )
    if not report.clusters:
        return EXIT_BAD_INPUT
    if blocked:
        return EXIT_BLOCKED
    return EXIT_BAD_INPUT if errors else EXIT_OK


def _run_operator_manifests(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pathlib import Path

    import yaml

    from baseline.fleet import operator_resource_name, operator_stack
    from baseline.loader import IntentError, intent_from_config, read_stack_config
    from baseline.render import GENERATED_MARKER, RenderError, write_files

    stacks_dir = Path(args.stacks_dir)
    stack_files = sorted(p for p in stacks_dir.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")
    if not stack_files:
        print(f"error: no Pulumi.<stack>.yaml in {stacks_dir}", file=err)
        return EXIT_BAD_INPUT
    files: dict[str, str] = {}
    problems: list[str] = []
    for path in stack_files:
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        try:
            intent = intent_from_config(read_stack_config(path), base_dir=stacks_dir, source=str(path))
            manifest = operator_stack(
                stack,
                organization=args.organization,
                project=args.project,
                project_repo=args.project_repo,
                branch=args.branch,
                repo_dir=args.repo_dir,
                resync_seconds=args.resync_seconds,
                namespace=args.namespace,
                access_token_secret=args.access_token_secret,
                service_account=args.service_account,
                drift_only=args.drift_only,
                intent=intent,
            )
        except (IntentError, ValueError) as exc:
            problems.append(str(exc) if isinstance(exc, IntentError) else f"{path}: {exc}")
            continue
        name = f"{operator_resource_name(stack)}.yaml"
        if name in files:
            problems.append(f"{path}: its Stack object would be written to {name} twice")
            continue
        body = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, width=100)
        files[name] = f"{GENERATED_MARKER}\n# Pulumi Kubernetes Operator Stack for stack {stack}\n{body}"
    if problems:
        for p in problems:
            print(f"error: {p}", file=err)
        print("error: nothing written", file=err)
        return EXIT_BAD_INPUT
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": list(files)}
    files["kustomization.yaml"] = f"{GENERATED_MARKER}\n{yaml.safe_dump(kustomization, sort_keys=False)}"
    try:
        written, removed = write_files(files, args.out)
    except RenderError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=err)
        return EXIT_BAD_INPUT
    mode = "drift-only (preview)" if args.drift_only else "reconcile"
    print(
        f"wrote {len(written) - 1} Stack manifests ({mode}) and a kustomization to {args.out}"
        + (f", removed {len(removed)} stale" if removed else ""),
        file=out,
    )
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command(
        "plan",
        "preview a stack offline: run its program under mocks and its resources through the policy pack",
        _configure_plan,
        _run_plan,
    ),
    Command(
        "controls",
        "list the catalog: each control's severity, mode, references, and where each target is enforced",
        _configure_controls,
        _run_controls,
    ),
    Command(
        "pack-config",
        "write a --policy-pack-config for a stack in a rollout wave (each policy's level = the wave's mode)",
        _configure_pack_config,
        _run_pack_config,
    ),
    Command(
        "render",
        "write the in-cluster baseline (namespaces, policies, admission objects) as YAML for Argo CD or Flux",
        _configure_render,
        _run_render,
    ),
    Command(
        "audit",
        "judge manifests, a state export or a live cluster against the catalog; findings routed to their owners",
        _configure_audit,
        _run_audit,
    ),
    Command(
        "fleet",
        "one report over many clusters (state exports, live contexts): posture matrix, stale versions, exceptions",
        _configure_fleet,
        _run_fleet,
    ),
)


# --------------------------------------------------------------------------- entry point


class _Parser(argparse.ArgumentParser):
    """An argparse parser that raises instead of exiting, so ``main`` returns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(self.format_usage() + f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fleet-baseline",
        description="A Kubernetes security baseline written once as intent, kept on every cluster.",
        epilog="exit codes: 0 ok, 1 blocked by a mandatory violation, 2 bad input, 3 run failed",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="progress on stderr, tracebacks of failures")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        # also accepted after the subcommand; SUPPRESS keeps a leading --debug from being reset
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        cmd.configure(p)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _UsageError as exc:
        print(str(exc), file=err)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(err)
        return EXIT_BAD_INPUT
    command = next(c for c in COMMANDS if c.name == args.command)
    try:
        return command.run(args, out, err)
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `fleet-baseline controls | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
