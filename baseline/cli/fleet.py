"""``fleet-baseline fleet``: one report over many clusters, and ``fleet operator-manifests``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    pass

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK, Command, write_report
from baseline.cli.history import add_record_options, record_options_error

__all__ = ["COMMAND", "configure", "run"]

# --------------------------------------------------------------------------- fleet
#
# ``fleet`` reads many sources (state exports, kube contexts), judges each with the one evaluator
# (``baseline.audit``) and folds the findings into one report (``baseline.fleet``, pure). Each source
# is read, judged and reduced to a small summary in a worker; the snapshot and its findings are
# dropped there, so memory is bounded by the report, not by the fleet's resources.

_FLEET_FORMATS = ("table", "json", "markdown", "html")


def configure(p: argparse.ArgumentParser) -> None:
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
    add_record_options(p)
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

    def __init__(self, stacks_dir: str | None, today: Any, kubeconfig: str | None, record: bool = False) -> None:
        from baseline.catalog import load_catalog

        self.record = record
        self.catalog = load_catalog()
        self.stacks_dir = stacks_dir
        self.today = today
        self.kubeconfig = kubeconfig
        self._by_records: dict[str, Any] = {}

    def evaluator(self, snapshot: Any) -> tuple[Any, Any]:
        """(evaluator, intent or None) for a snapshot; notes on ``snapshot.problems``."""
        from pathlib import Path

        from baseline.audit import exceptions_from_records
        from baseline.catalog import intent_catalog
        from baseline.evaluator import Evaluator
        from baseline.loader import intent_from_config, read_stack_config

        if self.stacks_dir and snapshot.stack:
            stack_file = Path(self.stacks_dir) / f"Pulumi.{snapshot.stack}.yaml"
            if stack_file.is_file():
                intent = intent_from_config(
                    read_stack_config(stack_file), base_dir=self.stacks_dir, source=str(stack_file)
                )
                # the intent's customControls join the built-ins (the shipped catalog when it names none)
                catalog = intent_catalog(intent) if intent.custom_controls else self.catalog
                return Evaluator.for_intent(intent, catalog, today=self.today), intent
            snapshot.problems.append(
                f"no {stack_file}: judged with the catalog's default modes and no intent parameters"
            )
        key = json.dumps(snapshot.exceptions, sort_keys=True, default=str)
        evaluator = self._by_records.get(key)
        if evaluator is None:
            exceptions = exceptions_from_records(snapshot.exceptions, snapshot.problems)
            evaluator = self._by_records[key] = Evaluator(
                self.catalog,
                exceptions=exceptions,
                today=self.today,
                intent_hint="give --stacks-dir DIR holding Pulumi.<stack>.yaml to judge it with its stack's intent",
            )
        elif snapshot.exceptions:
            exceptions_from_records(snapshot.exceptions, snapshot.problems)  # the same notes, per cluster
        return evaluator, None

    def judge(self, task: tuple[str, str]) -> tuple[str, Any]:
        """("ok", ClusterSummary) or ("error", message) for a ("state", path) or ("live", context)."""
        from baseline.audit import audit
        from baseline.audit.sources import SourceError, read_live, read_state
        from baseline.fleet import summarize
        from baseline.loader import IntentError

        kind, where = task
        try:
            snapshot = read_state(where) if kind == "state" else read_live(where, self.kubeconfig)
            evaluator, intent = self.evaluator(snapshot)
            findings = audit(snapshot, evaluator, intent=intent)
            cloud = intent.cluster.cloud if intent is not None else None
            summary = summarize(snapshot, findings, cloud=cloud)
            if self.record:  # what the history store needs of this cluster, judged here, sent back small
                from baseline.cli.history import observe

                return "ok", (summary, observe(snapshot, findings, summary.name))
            return "ok", summary
        except (SourceError, IntentError) as exc:
            return "error", str(exc)
        except Exception as exc:  # one odd source must not sink the fleet's report
            return "error", f"could not judge: {type(exc).__name__}: {exc}"


_JUDGE: _FleetJudge | None = None


def _fleet_init(stacks_dir: str | None, today: Any, kubeconfig: str | None, record: bool = False) -> None:
    global _JUDGE
    _JUDGE = _FleetJudge(stacks_dir, today, kubeconfig, record)


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


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import datetime as dt
    import os

    from baseline.catalog import CatalogError, load_catalog
    from baseline.fleet import FleetBuilder, ProgressBar, render_html, render_json, render_markdown, render_table

    if args.fleet_command == "operator-manifests":
        return _run_operator_manifests(args, out, err)
    problem = record_options_error(args, reads_history=True)
    if problem:
        print(f"error: {problem}", file=err)
        return EXIT_BAD_INPUT
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
    observations: list[Any] = []
    sources: list[str] = []

    def take(task: tuple[str, str], result: tuple[str, Any]) -> None:
        status, value = result
        if status == "ok" and args.record:
            value, observation = value
            observations.append(observation)
            sources.append(task[1])
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
            judge = _FleetJudge(args.stacks_dir, today, args.kubeconfig, args.record)
            for task in tasks:
                take(task, judge.judge(task))
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(
                max_workers=jobs,
                initializer=_fleet_init,
                initargs=(args.stacks_dir, today, args.kubeconfig, args.record),
            ) as pool:
                chunk = max(1, min(16, len(tasks) // (jobs * 8)))
                for task, result in zip(tasks, pool.map(_fleet_task, tasks, chunksize=chunk), strict=True):
                    take(task, result)
    finally:
        bar.close()
    for source, message in errors:
        print(f"error: {source}: {message}", file=err)
    report = builder.report()
    if args.record and report.clusters:
        from baseline.cli.history import record_run

        code = record_run(
            args,
            err,
            command="fleet",
            observations=observations,
            sources=sources,
            catalog_version=builder.catalog.baseline_version,
        )
        if code != EXIT_OK:
            return code
    page_history: dict[str, Any] | None = None
    if args.history and args.format == "html":
        from baseline.cli.history import page_history as read_page_history

        page_history, problem = read_page_history(args.history, today)
        if problem:
            print(f"error: {problem}", file=err)
            return EXIT_BAD_INPUT
    renderers = {
        "table": lambda: render_table(report, fail_on=args.fail_on, color=not args.output and out.isatty()) + "\n",
        "json": lambda: render_json(report, fail_on=args.fail_on),
        "markdown": lambda: render_markdown(report, fail_on=args.fail_on),
        "html": lambda: render_html(report, fail_on=args.fail_on, history=page_history),
    }
    text = renderers[args.format]()
    if args.output:
        problem = write_report(args.output, [text])
        if problem is not None:
            print(f"error: {problem}", file=err)
            return EXIT_BAD_INPUT
    else:
        out.write(text)
    blocked = report.blocked(args.fail_on)
    unjudged = [c for c in report.clusters if c.counts.get("not-judged")]
    if unjudged:
        print(
            f"note: {len(unjudged)} clusters have checks not judged for want of their stack's intent (cluster"
            " admins, support type): give --stacks-dir DIR holding each stack's Pulumi.<stack>.yaml",
            file=err,
        )
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
    from baseline.render.manifests import GENERATED_MARKER, RenderError, write_files

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


COMMAND = Command(
    "fleet",
    "one report over many clusters (state exports, live contexts): posture matrix, stale versions, exceptions",
    configure,
    run,
)
