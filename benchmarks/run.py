"""``make bench``: what fleet-baseline costs on this machine, measured in one run, against checkov.

    .venv/bin/python -m benchmarks.run [--checkov PATH] [--out BENCHMARKS.md] [--quick]

Not a test: nothing here asserts a time. It generates every input deterministically (the same
objects, stacks and exports on every machine), runs each command as a whole process, the way a user
or a CI job runs it, prints a table and, with ``--out``, regenerates BENCHMARKS.md (results, targets,
method and the machine's facts). What is measured:

* **audit**: ``fleet-baseline audit --manifests DIR --format json`` over 1,000, 10,000 and 100,000
  Kubernetes objects (``benchmarks.corpus``: workloads, RBAC, namespaces, network policies), 100
  objects per multi-document YAML file; and checkov (``checkov -d DIR --framework kubernetes
  --skip-download --quiet -o json``, its own virtual environment) on the same files, whole process
  too; the ratio is checkov's time over ours. Where checkov would take absurdly long (over
  ``--checkov-timeout``), it is stopped and reported as "more than".
* **audit phases**: one run over the largest input (``benchmarks.phases``, parsing in one worker per
  CPU as the command does): where the time goes (read, judge, render).
* **plan**: ``fleet-baseline plan --stack NAME --json`` for each sample stack, and for the eks-prod
  intent with 10, 100 and 1,000 namespaces (generated stack configs in a temporary stacks
  directory): the cost per registered resource as a stack grows. Which cloud SDKs each plan
  imported is read from ``PYTHONPROFILEIMPORTTIME``.
* **fleet**: ``fleet-baseline fleet`` over 100 and 1,000 state exports (``benchmarks.fleet``).
* **startup**: ``fleet-baseline --help``, and which heavy packages it imports.

Every figure is the median of ``--repeat`` runs (cheap runs) or a single run (the 100,000-object
audit, checkov beyond 1,000 objects, plan of 1,000 namespaces, fleet of 1,000). Peak memory is the
largest single process's own ``ru_maxrss`` (GNU time, or a small launcher, forks the command) and
the peak of the sum over the process tree (sampled from /proc).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from benchmarks import corpus
from benchmarks import fleet as fleet_bench

__all__ = [
    "AUDIT_SIZES",
    "NAMESPACE_COUNTS",
    "SAMPLE_STACKS",
    "Run",
    "Suite",
    "main",
    "measure",
    "namespace_stack",
    "write_manifests",
]

REPO = Path(__file__).resolve().parents[1]
AUDIT_SIZES = (1_000, 10_000, 100_000)
CHECKOV_SIZES = (1_000, 10_000)
OBJECTS_PER_FILE = 100
SAMPLE_STACKS = ("eks-prod", "eks-stale", "gke-prod", "gke-stale", "aks-prod", "aks-stale")
NAMESPACE_COUNTS = (10, 100, 1_000)
FLEET_SIZES = (100, 1_000)
CLOUD_SDKS = ("pulumi_aws", "pulumi_gcp", "pulumi_azure_native")
#: what `fleet-baseline --help` must not import
HEAVY = ("pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_azure_native", "pulumi_kubernetes", "kubernetes", "grpc")
TARGETS = {
    "checkov_ratio_10k": 10.0,  # audit at least 10x checkov's throughput on 10,000 objects
    "audit_100k_s": 30.0,
    "plan_s": 5.0,
    "fleet_1000_s": 20.0,
    "fleet_1000_bytes": 2**30,
}


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One whole-process run: wall seconds, exit code, the largest process's peak RSS and the peak
    of the process tree's total RSS (bytes), what it wrote to stdout and stderr, the CPU seconds
    (user + system) of the command and the processes it waited for, and the machine's 1-minute load
    average when it started (other work on the machine stretches wall time, not CPU time)."""

    wall: float
    code: int
    rss: int
    tree_rss: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    cpu: float = 0.0
    load: float = 0.0


#: GNU time, when installed: it forks the command from its own small process, so the command's peak
#: RSS is its own. (A child forked straight from this process would report at least this process's
#: peak: Linux counts the parent's pages at fork into the child's high-water mark.)
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None
#: Without GNU time, a small Python process does the same.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status) % 256)\n"
)


def measure(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    stdout_path: Path | None = None,
) -> Run:
    """Run ``argv`` to completion (or ``timeout``: its process group is killed) and measure it.

    The peak RSS of the command's largest process is its own ``ru_maxrss``, taken by GNU time (or a
    small launcher) that forks it; the process tree's summed RSS is sampled from /proc meanwhile.
    """
    rusage = tempfile.NamedTemporaryFile(prefix="bench-rusage-", delete=False)  # noqa: SIM115
    rusage.close()
    if GNU_TIME:
        wrapped = [GNU_TIME, "-q", "-f", "%M %U %S", "-o", rusage.name, *argv]
    else:
        wrapped = [sys.executable, "-c", _LAUNCHER, rusage.name, *argv]
    out_fh = open(stdout_path, "wb") if stdout_path else tempfile.TemporaryFile()  # noqa: SIM115
    err_fh = tempfile.TemporaryFile()  # noqa: SIM115
    peak = 0
    done = threading.Event()
    load = _load()
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdout=out_fh, stderr=err_fh, start_new_session=True)
    stopped = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, fleet_bench._tree_rss(proc.pid))
            done.wait(0.05)

    def stop() -> None:
        stopped.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(timeout, stop) if timeout else None
    if timer is not None:
        timer.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    if timer is not None:
        timer.cancel()
    done.set()
    sampler.join()
    out_fh.seek(0)
    err_fh.seek(0)
    stdout = "" if stdout_path else out_fh.read().decode("utf-8", "replace")
    stderr = err_fh.read().decode("utf-8", "replace")
    out_fh.close()
    err_fh.close()
    rss, cpu = 0, 0.0  # stopped before it could say
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(rusage.name).read_text(encoding="utf-8").split()[-3:]
        rss, cpu = int(fields[0]) * 1024, float(fields[1]) + float(fields[2])
    Path(rusage.name).unlink(missing_ok=True)
    return Run(wall, code, rss, max(peak, rss), stdout, stderr, stopped.is_set(), cpu, load)


def _load() -> float:
    """The 1-minute load average (0 where /proc/loadavg is not there)."""
    try:
        return float(Path("/proc/loadavg").read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class Series:
    """Repeated runs of one command."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def rss(self) -> int:
        return max(r.rss for r in self.runs)

    @property
    def tree_rss(self) -> int:
        return max(r.tree_rss for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def load(self) -> float:
        return max(r.load for r in self.runs)

    @property
    def timed_out(self) -> bool:
        return any(r.timed_out for r in self.runs)

    def spread(self) -> str:
        walls = sorted(r.wall for r in self.runs)
        return f"{walls[0]:.2f}-{walls[-1]:.2f}" if len(walls) > 1 else ""


def repeated(label: str, times: int, make: Callable[[], Run], log: Callable[[str], None]) -> Series:
    series = Series(label)
    for i in range(times):
        run = make()
        series.runs.append(run)
        log(
            f"  {label} [{i + 1}/{times}]: {run.wall:.2f} s (CPU {run.cpu:.2f} s, load {run.load:.1f}),"
            f" exit {run.code}, {mib(run.rss)} MiB"
        )
        if run.timed_out:
            break
    return series


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f}"


# --------------------------------------------------------------------------- inputs


def write_manifests(directory: Path, count: int, seed: int = 1234) -> int:
    """``count`` corpus objects as multi-document YAML files of :data:`OBJECTS_PER_FILE`; returns bytes.

    Deterministic: the same count and seed write the same bytes (libyaml's emitter when PyYAML has
    it, else PyYAML's own; either way the same objects)."""
    directory.mkdir(parents=True, exist_ok=True)
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    objects = corpus.objects(count, seed)
    total = 0
    for index in range((count + OBJECTS_PER_FILE - 1) // OBJECTS_PER_FILE):
        chunk = [next(objects) for _ in range(min(OBJECTS_PER_FILE, count - index * OBJECTS_PER_FILE))]
        text = yaml.dump_all(chunk, Dumper=dumper, sort_keys=False, default_flow_style=False)
        (directory / f"objects-{index:04d}.yaml").write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
    return total


def namespace_stack(stacks_dir: Path, count: int) -> str:
    """A stack config in ``stacks_dir``: the eks-prod stack whose intent has ``count`` namespaces
    (the shared prod intent's three, then ``bench-NNNN`` ones); returns the stack name."""
    intents = stacks_dir / "intents"
    intents.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "stacks" / "intents" / "prod.yaml", intents / "prod.yaml")
    base = yaml.safe_load((REPO / "stacks" / "intents" / "prod.yaml").read_text(encoding="utf-8"))
    namespaces = list(base["namespaces"])
    namespaces += [{"name": f"bench-{i:04d}", "owner": f"team-{i % 17}"} for i in range(count - len(namespaces))]
    stack_cfg = yaml.safe_load((REPO / "stacks" / "Pulumi.eks-prod.yaml").read_text(encoding="utf-8"))
    stack_cfg["config"]["fleet-baseline:intent"]["namespaces"] = namespaces[:count]
    name = f"bench-ns{count}"
    (stacks_dir / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(stack_cfg, sort_keys=False), encoding="utf-8")
    return name


# --------------------------------------------------------------------------- the suite


@dataclass
class Suite:
    """Runs the measurements and keeps what the report needs."""

    work: Path
    python: str
    cli: list[str]
    checkov: str | None
    repeat: int
    quick: bool
    checkov_timeout: float
    log: Callable[[str], None]
    audit: dict[int, Series] = field(default_factory=dict)
    audit_bytes: dict[int, int] = field(default_factory=dict)
    checkov_runs: dict[int, Series] = field(default_factory=dict)
    phases: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, Series] = field(default_factory=dict)
    plan_resources: dict[str, int] = field(default_factory=dict)
    plan_sdks: dict[str, list[str]] = field(default_factory=dict)
    fleets: dict[int, Series] = field(default_factory=dict)
    fleet_bytes: dict[int, int] = field(default_factory=dict)
    startup: Series | None = None
    startup_heavy: list[str] = field(default_factory=list)

    @property
    def audit_sizes(self) -> tuple[int, ...]:
        return AUDIT_SIZES[:2] if self.quick else AUDIT_SIZES

    @property
    def namespace_counts(self) -> tuple[int, ...]:
        return NAMESPACE_COUNTS[:2] if self.quick else NAMESPACE_COUNTS

    @property
    def fleet_sizes(self) -> tuple[int, ...]:
        return FLEET_SIZES[:1] if self.quick else FLEET_SIZES

    def times(self, big: bool) -> int:
        return 1 if big else self.repeat

    # ------------------------------------------------------------------ audit

    def run_audit(self) -> None:
        for n in self.audit_sizes:
            directory = self.work / f"manifests-{n}"
            self.audit_bytes[n] = write_manifests(directory, n)
            self.log(f"audit: {n:,} objects, {self.audit_bytes[n] / 1e6:.1f} MB in {directory}")
            report = self.work / f"audit-{n}.json"
            argv = [*self.cli, "audit", "--manifests", str(directory), "--format", "json", "--output", str(report)]
            self.audit[n] = repeated(f"audit {n:,}", self.times(n >= 100_000), partial(measure, argv), self.log)
            if self.checkov and n in CHECKOV_SIZES and not (self.quick and n > 1_000):
                argv = [self.checkov, "-d", str(directory), "--framework", "kubernetes", "--skip-download"]
                argv += ["--quiet", "-o", "json"]
                out = self.work / f"checkov-{n}.json"
                self.checkov_runs[n] = repeated(
                    f"checkov {n:,}",
                    self.times(n > 1_000),
                    partial(measure, argv, timeout=self.checkov_timeout, stdout_path=out, env=_checkov_env()),
                    self.log,
                )
        largest = self.work / f"manifests-{self.audit_sizes[-1]}"
        run = measure([self.python, "-m", "benchmarks.phases", str(largest)], cwd=REPO)
        if run.code == 0:
            self.phases = json.loads(run.stdout)
        else:
            self.log(f"  phases failed: {run.stderr[-500:]}")

    # ------------------------------------------------------------------ plan

    def run_plan(self) -> None:
        env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
        for stack in SAMPLE_STACKS:
            argv = [*self.cli, "plan", "--stack", stack, "--json"]
            series = repeated(f"plan {stack}", self.repeat, partial(measure, argv, cwd=REPO), self.log)
            self.plans[stack] = series
            self.plan_resources[stack] = _resource_count(series.runs[-1])
            if stack.endswith("-prod"):
                probe = measure(argv, cwd=REPO, env=env)
                self.plan_sdks[stack] = sorted(_imported_top_level(probe.stderr) & set(CLOUD_SDKS))
        stacks_dir = self.work / "stacks"
        for count in self.namespace_counts:
            name = namespace_stack(stacks_dir, count)
            argv = [*self.cli, "plan", "--stack", name, "--json", "--stacks-dir", str(stacks_dir)]
            argv += ["--program", str(REPO / "stacks")]
            series = repeated(
                f"plan {count:,} namespaces", self.times(count >= 1_000), partial(measure, argv, cwd=REPO), self.log
            )
            self.plans[name] = series
            self.plan_resources[name] = _resource_count(series.runs[-1])

    # ------------------------------------------------------------------ fleet

    def run_fleet(self) -> None:
        for n in self.fleet_sizes:
            exports = self.work / f"exports-{n}"
            self.fleet_bytes[n] = fleet_bench.generate(exports, n, 150, 7, None)
            report = self.work / f"fleet-{n}.html"
            argv = [*self.cli, "fleet", "--state-dir", str(exports), "--format", "html", "--output", str(report)]
            argv += ["--today", "2026-11-22"]
            self.fleets[n] = repeated(f"fleet {n:,}", self.times(n >= 1_000), partial(measure, argv), self.log)

    # ------------------------------------------------------------------ startup

    def run_startup(self) -> None:
        self.startup = repeated(
            "fleet-baseline --help", max(self.repeat, 5), lambda: measure([*self.cli, "--help"]), lambda _m: None
        )
        probe = "import sys, baseline.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
        probe += "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
        run = measure([self.python, "-c", probe], cwd=REPO)
        self.startup_heavy = sorted(set(run.stdout.split()) & set(HEAVY))


def _checkov_env() -> dict[str, str]:
    """checkov as a user runs it, offline: its defaults, and no platform API key."""
    return {k: v for k, v in os.environ.items() if k != "BC_API_KEY"}


def _resource_count(run: Run) -> int:
    try:
        return len(json.loads(run.stdout).get("resources", []))
    except ValueError:
        return 0


def _imported_top_level(importtime: str) -> set[str]:
    """Top-level package names in ``-X importtime`` output (``import time: self | cumulative | name``)."""
    names = set()
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


# --------------------------------------------------------------------------- facts


def machine_facts() -> dict[str, str]:
    """What the figures depend on: CPUs, memory, Python, package versions, load, commit, date."""
    facts: dict[str, str] = {}
    facts["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            "",
        )
    facts["cpus"] = f"{os.cpu_count()} ({cpu or platform.processor() or platform.machine()})"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        facts["memory"] = f"{kb / 2**20:.1f} GiB"
    facts["os"] = f"{platform.system()} {platform.release()}"
    facts["python"] = f"{platform.python_implementation()} {platform.python_version()}"
    versions = []
    for dist in ("fleet-baseline", "cel-expr-python", "PyYAML", "pydantic", "pulumi", "pulumi-policy", "pulumi-aws"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    versions += [
        f"{dist} {importlib.metadata.version(dist)}"
        for dist in ("pulumi-gcp", "pulumi-azure-native", "pulumi-kubernetes")
        if _installed(dist)
    ]
    facts["packages"] = ", ".join(versions) + f" (libyaml: {'yes' if yaml.__with_libyaml__ else 'no'})"
    with contextlib.suppress(OSError):
        facts["load"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "baseline"], cwd=REPO, capture_output=True, text=True
        )
        facts["commit"] = commit + (" (baseline/ modified)" if dirty.stdout.strip() else "")
    return facts


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def checkov_version(checkov: str | None) -> str:
    if not checkov:
        return "not run"
    run = measure([checkov, "--version"], env=_checkov_env(), timeout=120)
    return run.stdout.strip() or "unknown"


# --------------------------------------------------------------------------- report


def _secs(x: float) -> str:
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def results_table(s: Suite) -> list[str]:
    """The main table (Markdown): one row per measurement."""
    rows = [
        "| what | wall (median) | CPU user+sys (median) | runs | load at start (max) | peak RSS (largest process)"
        " | peak RSS (process tree) | rate |"
    ]
    rows.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for n, series in s.audit.items():
        rate = f"{n / series.wall:,.0f} objects/s"
        rows.append(_row(f"audit {n:,} objects (`--format json`)", series, rate))
    for n, series in s.checkov_runs.items():
        wall = f"> {_secs(series.wall)} (stopped)" if series.timed_out else _secs(series.wall)
        rate = f"< {n / series.wall:,.0f} objects/s" if series.timed_out else f"{n / series.wall:,.0f} objects/s"
        cpu = "(stopped)" if series.timed_out else _secs(series.cpu)
        rows.append(
            f"| checkov {n:,} objects (same files) | {wall} | {cpu} | {len(series.runs)} | {series.load:.1f} |"
            f" {mib(series.rss)} MiB | {mib(series.tree_rss)} MiB | {rate} |"
        )
    for name, series in s.plans.items():
        res = s.plan_resources.get(name, 0)
        rate = f"{series.wall / res * 1000:.1f} ms/resource ({res} resources)" if res else ""
        label = f"plan {name}" if not name.startswith("bench-ns") else f"plan eks-prod intent, {name[8:]} namespaces"
        rows.append(_row(label, series, rate))
    for n, series in s.fleets.items():
        rows.append(_row(f"fleet {n:,} state exports", series, f"{n / series.wall:,.0f} exports/s"))
    if s.startup is not None:
        heavy = ", ".join(s.startup_heavy) or "none of " + "/".join(HEAVY)
        rows.append(_row("`fleet-baseline --help`", s.startup, f"imports {heavy}"))
    return rows


def _row(label: str, series: Series, rate: str) -> str:
    spread = f" ({series.spread()})" if series.spread() else ""
    return (
        f"| {label} | {_secs(series.wall)}{spread} | {_secs(series.cpu)} | {len(series.runs)} | {series.load:.1f} |"
        f" {mib(series.rss)} MiB | {mib(series.tree_rss)} MiB | {rate} |"
    )


def checkov_ratio(s: Suite, n: int) -> tuple[float, bool] | None:
    """(checkov's wall over ours, whether checkov was stopped: then the ratio is a lower bound)."""
    if n not in s.checkov_runs or n not in s.audit:
        return None
    return s.checkov_runs[n].wall / s.audit[n].wall, s.checkov_runs[n].timed_out


def targets(s: Suite) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    ratio = checkov_ratio(s, 10_000)
    if ratio is not None:
        r, stopped = ratio
        out.append(("audit >= 10x checkov's throughput, 10,000 objects", f"{'>' if stopped else ''}{r:,.0f}x", r >= 10))
    else:
        out.append(("audit >= 10x checkov's throughput, 10,000 objects", "checkov not run", None))
    if 100_000 in s.audit:
        a = s.audit[100_000]
        out.append(("audit of 100,000 objects < 30 s", _wall_cpu(a), a.wall < TARGETS["audit_100k_s"]))
    samples = [n for n in SAMPLE_STACKS if n in s.plans]
    if samples:
        wall, name = max((s.plans[n].wall, n) for n in samples)
        out.append(
            ("plan < 5 s per sample stack", f"slowest {name}: {_wall_cpu(s.plans[name])}", wall < TARGETS["plan_s"])
        )
    if 1_000 in s.fleets:
        f = s.fleets[1_000]
        ok = f.wall < TARGETS["fleet_1000_s"] and f.tree_rss < TARGETS["fleet_1000_bytes"]
        out.append(("fleet of 1,000 exports < 20 s and < 1 GB", f"{_wall_cpu(f)}, {mib(f.tree_rss)} MiB", ok))
    return out


def _wall_cpu(series: Series) -> str:
    return f"{_secs(series.wall)} wall ({_secs(series.cpu)} CPU, load {series.load:.1f})"


def phases_table(s: Suite) -> list[str]:
    p = s.phases
    if not p:
        return []
    rows = ["| phase | seconds | share |", "|---|---:|---:|"]
    names = [
        ("import", "imports"),
        ("catalog", "catalog loaded, every target compiled"),
        ("read", "read manifests (`baseline.audit.sources`)"),
        ("judge", "judge and route (`baseline.evaluator`, `baseline.audit`)"),
        ("render_json", "render the JSON report (`baseline.audit.formats`: sort, encode)"),
        ("write", "write it (to /dev/null, chunk by chunk)"),
    ]
    for key, label in names:
        rows.append(f"| {label} | {p[key]:.2f} | {p[key] / p['total'] * 100:.0f}% |")
    rows.append(f"| **total** | **{p['total']:.2f}** | |")
    return rows


def render_markdown(s: Suite, facts: dict[str, str], checkov: str) -> str:
    ratio10 = checkov_ratio(s, 10_000)
    ratio1 = checkov_ratio(s, 1_000)
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (benchmarks/run.py). Do not edit: run it again to regenerate. -->",
        f"Regenerated by `make bench` (`benchmarks/run.py`) on {facts.get('date', '?')}; every figure below"
        " was measured in that one run, on this machine:",
        "",
    ]
    for key in ("cpus", "memory", "os", "python", "packages", "commit", "load", "load_end"):
        if key in facts:
            label = {"cpus": "CPUs", "load": "load average at start", "load_end": "at end", "os": "OS"}.get(key, key)
            lines.append(f"- **{label}**: {facts[key]}")
    lines.append(f"- **checkov**: {checkov} (its own virtual environment, `.bench/checkov-venv`)")
    lines += ["", "## Performance", ""]
    summary = []
    if s.audit:
        big = max(s.audit)
        summary.append(
            f"`fleet-baseline audit` judges {big:,} Kubernetes objects against the whole catalog in"
            f" {_secs(s.audit[big].wall)} ({big / s.audit[big].wall:,.0f} objects/s, whole process, JSON report)"
        )
    if ratio10 is not None:
        r, stopped = ratio10
        summary.append(
            f"on 10,000 objects it is {'more than ' if stopped else ''}{r:,.0f}x faster than checkov on the same files"
        )
    if s.plans:
        slowest = max(s.plans[n].wall for n in SAMPLE_STACKS if n in s.plans)
        summary.append(f"`plan` of a sample stack takes at most {_secs(slowest)}")
    if 1_000 in s.fleets:
        f = s.fleets[1_000]
        summary.append(f"`fleet` reads 1,000 state exports in {_secs(f.wall)} within {mib(f.tree_rss)} MiB")
    lines.append("; ".join(summary) + "." if summary else "(nothing measured)")
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {_verdict(ok)} |" for name, value, ok in targets(s)]
    lines += ["", "## Results", ""]
    lines += results_table(s)
    if ratio1 is not None or ratio10 is not None:
        lines += ["", "checkov / fleet-baseline wall time on the same files (throughput ratio):"]
        for n, ratio in ((1_000, ratio1), (10_000, ratio10)):
            if ratio is not None:
                cpu = ""
                if not ratio[1] and s.audit[n].cpu > 0:
                    cpu = f" (CPU time: {s.checkov_runs[n].cpu / s.audit[n].cpu:,.1f}x; both tools with their defaults)"
                lines.append(f"{n:,} objects: {'more than ' if ratio[1] else ''}{ratio[0]:,.1f}x{cpu}.")
    if len(s.checkov_runs) >= 2 and max(s.audit, default=0) > max(s.checkov_runs):
        (small, a), (big, b) = sorted(s.checkov_runs.items())[0], sorted(s.checkov_runs.items())[-1]
        growth = b.wall / a.wall
        lines.append(
            f"checkov is not run on {max(s.audit):,} objects: from {small:,} to {big:,} objects its time grew"
            f" {'more than ' if b.timed_out else ''}{growth:,.0f}x for {big // small}x the objects, so"
            f" {max(s.audit):,} would take hours."
        )
    if s.audit_bytes:
        sizes = ", ".join(f"{n:,} objects {b / 1e6:.1f} MB" for n, b in s.audit_bytes.items())
        lines += ["", f"Manifest inputs: {sizes} of YAML, {OBJECTS_PER_FILE} objects per file."]
    if s.fleet_bytes:
        sizes = ", ".join(f"{n:,} exports {b / 1e6:.0f} MB" for n, b in s.fleet_bytes.items())
        lines.append(f"State exports: {sizes} (about 150 resources each).")
    if s.plan_sdks:
        sdks = "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in s.plan_sdks.items())
        lines.append(f"Cloud SDKs each plan imported (parent process): {sdks}.")
    ns = [n for n in s.plans if n.startswith("bench-ns")]
    if len(ns) >= 2:
        first, last = ns[0], ns[-1]
        dr = s.plan_resources[last] - s.plan_resources[first]
        if dr > 0:
            marginal = (s.plans[last].wall - s.plans[first].wall) / dr * 1000
            lines.append(
                f"Marginal plan cost: {marginal:.1f} ms per additional resource ({first[8:]} to {last[8:]} namespaces,"
                f" {s.plan_resources[first]} to {s.plan_resources[last]} resources): linear, no stack-level join."
            )
    table = phases_table(s)
    if table:
        n = s.phases["objects"]
        lines += [
            "",
            f"### Where an audit's time goes ({n:,} objects, parsing in one worker per CPU)",
            "",
            f"{s.phases['findings']:,} findings, a {s.phases['report_bytes'] / 1e6:,.0f} MB report,"
            f" peak RSS {mib(s.phases['peak_rss'])} MiB.",
            "",
            *table,
        ]
    lines += ["", HISTORY_FILE.read_text(encoding="utf-8").strip(), "", METHOD.strip(), ""]
    return "\n".join(lines)


#: what was optimised (before and after, as measured when each change was made) and what is left:
#: prose that outlives one run, kept beside this file and copied into every report
HISTORY_FILE = Path(__file__).with_name("history.md")


METHOD = """
## Method

- **Inputs** are generated, never downloaded, and the same on every machine: `benchmarks/corpus.py`
  (a realistic mix: about 80% workloads (Deployments, ReplicaSets, Pods, StatefulSets, DaemonSets,
  Jobs, CronJobs), then ServiceAccounts, ConfigMaps, RBAC, NetworkPolicies and Namespaces; about one
  object in five breaks some control), written 100 objects per multi-document YAML file;
  `benchmarks/fleet.py` for state exports (the eks-prod export plus team workloads, ~150 resources,
  varied drift and exceptions); the eks-prod stack config with N namespaces for plan.
- **Whole processes**, as a user runs them: `fleet-baseline audit --manifests DIR --format json
  --output FILE` (the whole catalog, no stack, every finding including passes in the report; its
  default `--jobs`, one parsing process per CPU: the CPU column counts them all),
  `fleet-baseline plan --stack NAME --json` (the program under Pulumi's mocks, the policy pack
  started as the engine starts it and spoken to over gRPC), `fleet-baseline fleet --state-dir DIR
  --format html`.
- **checkov** runs whole-process too, on the same directory: `checkov -d DIR --framework kubernetes
  --skip-download --quiet -o json` (its Kubernetes checks and graph checks, failed checks in its JSON
  report), installed by `make bench` in its own virtual environment at a pinned version (it pins
  packaging<24; the project needs >=26). Whole process against whole process is the fair comparison:
  both pay their start-up and write their report. The ratio is checkov's wall time over
  fleet-baseline's on the same files: how many times more objects per second fleet-baseline judges.
  Beyond `--checkov-timeout` checkov is stopped and the figure is a lower bound. fleet-baseline
  parses manifest files in one process per CPU by default; the ratio of CPU times, beside the wall
  ratio, says what each tool's work costs whatever the machine's cores. The two do not run
  the same rules (checkov: ~100 generic Kubernetes checks; fleet-baseline: its catalog, 13.6 verdicts
  per object), so the ratio compares tools doing their job on the same input, not rule for rule.
- **Timing**: wall clock around the process, the median of the runs (a range when there were
  several); and the CPU time (user + system) of the command and every process it waited for (the
  pack beside plan, fleet's workers). The machine is shared, with other work on it at times: that
  stretches wall time, not CPU time, and the 1-minute load average when each run started (the
  largest, for repeated runs) says how much. Targets are judged on wall time, as a user waits.
- **Memory**: the largest single process's peak RSS (GNU time's `%M`: the command is forked from
  time's own small process, so the figure is the command's own), and the peak of the process tree's
  summed RSS sampled every 50 ms (the pack beside plan, fleet's workers; shared pages are counted
  once per process, so the sum overstates).
- Regenerate: `make bench` (creates `.bench/checkov-venv` if missing), or `.venv/bin/python -m
  benchmarks.run --out BENCHMARKS.md [--checkov PATH] [--quick]`.
"""


# --------------------------------------------------------------------------- entry point


def _cli_argv(python: str) -> list[str]:
    script = Path(python).with_name("fleet-baseline")
    return [str(script)] if script.exists() else [python, "-m", "baseline.cli"]


@contextlib.contextmanager
def _workdir(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="fleet-baseline-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--checkov", metavar="PATH", help="the checkov executable (default: none; no comparison)")
    ap.add_argument("--checkov-timeout", type=float, default=2700, metavar="S", help="stop checkov after S seconds")
    ap.add_argument("--out", metavar="FILE", help="write the report (Markdown) here, e.g. BENCHMARKS.md")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each cheap measurement (median; default 3)")
    ap.add_argument(
        "--quick", action="store_true", help="smaller sizes only: 1k/10k objects, 10/100 namespaces, 100 exports"
    )
    ap.add_argument("--only", choices=("audit", "plan", "fleet", "startup"), action="append", help="run only these")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it (default: a temporary directory)")
    args = ap.parse_args(argv)
    python = sys.executable
    facts = machine_facts()
    checkov = checkov_version(args.checkov)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"bench: {facts.get('cpus')}, load {facts.get('load', '?')}; checkov {checkov}")
    parts = args.only or ["startup", "plan", "fleet", "audit"]
    with _workdir(args.keep) as work:
        suite = Suite(work, python, _cli_argv(python), args.checkov, args.repeat, args.quick, args.checkov_timeout, log)
        for part in ("startup", "plan", "fleet", "audit"):
            if part in parts:
                getattr(suite, f"run_{part}")()
        with contextlib.suppress(OSError):
            facts["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        text = render_markdown(suite, facts, checkov)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        log(f"bench: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
