"""Benchmark ``fleet-baseline fleet`` over N generated state exports, as a whole process.

Not a test: it writes N ``pulumi stack export`` documents of about 150 resources each into a temporary
directory (deterministically: the same N and seed give the same bytes), runs ``fleet`` on them in a
subprocess, and reports wall time and peak memory. The target is 1,000 exports in under 20 s and
1 GB on a 2-core machine.

Each export is the eks-prod export the tests use (``tests/fixtures/state/eks-prod.json.gz``: the
stack program's 106 resources as ``pulumi stack export`` writes them, secrets encrypted, Kubernetes
objects with managedFields) plus application objects a team deploys through the same stack
(Deployments, Services, ConfigMaps, ServiceAccounts, Roles and bindings), renamed per cluster, with
a baseline version and a drift drawn per cluster: the template's hand edits (endpoint opened, audit
logs cut, a namespace made privileged), privileged or root workloads, images from unapproved
registries, and one of a few exception sets (as copies of a template's exceptions are).

Memory is measured two ways: the largest single process (``ru_maxrss`` of the children) and the
peak of the sum of RSS over the whole process tree (sampled from /proc every 100 ms; shared pages of
forked workers are counted once per process, so this overstates).

    .venv/bin/python benchmarks/fleet.py -n 1000
    .venv/bin/python benchmarks/fleet.py -n 200 --jobs 1 --with-intents
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "tests" / "fixtures" / "state" / "eks-prod.json.gz"
STACK = "eks-prod"
CLUSTER = "prod-eu-1"
VERSION_STAMP = '"fleet-baseline.io/baseline-version": "1.0.0"'
VARIANTS = 16
CREATED = "2025-06-02T09:14:07Z"


# --------------------------------------------------------------------------- generation


def _k8s(urn_parent: str, provider: str, kind_token: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes resource as an export holds it: inputs = the object; outputs = the live object."""
    live = copy.deepcopy(obj)
    md = live.setdefault("metadata", {})
    md |= {
        "creationTimestamp": CREATED,
        "resourceVersion": str(10_000 + len(name) * 7),
        "uid": f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
        "managedFields": [
            {
                "apiVersion": obj["apiVersion"],
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {}},
                "manager": "pulumi-kubernetes",
                "operation": "Apply",
                "time": CREATED,
            }
        ],
    }
    return {
        "urn": f"{urn_parent}$kubernetes:{kind_token}::{name}",
        "custom": True,
        "id": f"{md.get('namespace', '')}/{md['name']}".lstrip("/"),
        "type": f"kubernetes:{kind_token}",
        "inputs": obj,
        "outputs": live,
        "parent": urn_parent.split("$")[0] if "$" in urn_parent else urn_parent,
        "provider": provider,
        "created": CREATED,
        "modified": CREATED,
    }


def _container(rng: random.Random, drift: bool) -> dict[str, Any]:
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:" + "ab" * 32
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
            "readOnlyRootFilesystem": True,
        },
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
    }
    if drift:
        kind = rng.randrange(4)
        if kind == 0:
            container["securityContext"] = {"privileged": True}
        elif kind == 1:
            container["image"] = "docker.io/library/nginx:latest"
        elif kind == 2:
            del container["resources"]
            container["securityContext"]["runAsNonRoot"] = False
        else:
            container["env"].append({"name": "DB_PASSWORD", "value": "hunter2"})
    return container


def _apps(rng: random.Random, parent: str, provider: str, count: int, drift_rate: float) -> list[dict[str, Any]]:
    """``count`` application objects in the template's namespaces."""
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < count:
        ns = ("shop", "payments")[i % 2]
        app = f"{ns}-svc-{i:02d}"
        labels = {"app": app}
        pod_spec: dict[str, Any] = {
            "serviceAccountName": app,
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [_container(rng, rng.random() < drift_rate)],
        }
        if rng.random() < drift_rate / 3:
            pod_spec["hostNetwork"] = True
        objs: list[tuple[str, dict[str, Any]]] = [
            (
                "apps/v1:Deployment",
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": app, "namespace": ns, "labels": labels},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                    },
                },
            ),
            (
                "core/v1:Service",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": app, "namespace": ns, "labels": labels},
                    "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]},
                },
            ),
            (
                "core/v1:ServiceAccount",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": app, "namespace": ns},
                    "automountServiceAccountToken": False,
                },
            ),
            (
                "core/v1:ConfigMap",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"{app}-config", "namespace": ns},
                    "data": {"settings.yaml": "feature: on\nretries: 3\n" * 8},
                },
            ),
            (
                "rbac.authorization.k8s.io/v1:Role",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": app, "namespace": ns},
                    "rules": [
                        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
                        if rng.random() >= drift_rate / 2
                        else {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
                    ],
                },
            ),
            (
                "rbac.authorization.k8s.io/v1:RoleBinding",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": app, "namespace": ns},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": app},
                    "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": ns}],
                },
            ),
        ]
        for token, obj in objs[: count - len(out)]:
            out.append(_k8s(parent, provider, token, f"{app}-{obj['kind'].lower()}", obj))
        i += 1
    return out


def _exception_sets(base: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """A few exception sets: the template's, an expired copy, one more, none."""
    extra = {
        "control": "POD-01",
        "scope": {"namespace": "payments"},
        "owner": "payments-team",
        "reason": "legacy batch job needs root until the rewrite ships",
        "expires": "2026-09-30",
        "ticket": "PAY-88",
    }
    expired = {**base, "expires": "2025-12-31"}
    return [[base], [expired], [base, extra], []]


def variants(seed: int, resources: int) -> list[str]:
    """``VARIANTS`` export texts of ``resources`` resources, with ``CLUSTER``/``STACK``/the stamp to replace."""
    template = json.loads(gzip.decompress(TEMPLATE.read_bytes()))
    base_resources = template["deployment"]["resources"]
    parent = next(r["urn"] for r in base_resources if r["type"] == "fleet-baseline:kubernetes:InClusterBaseline")
    provider = next(r["provider"] for r in base_resources if r["type"].startswith("kubernetes:") and r.get("provider"))
    exception_res = next(r for r in base_resources if r["type"] == "fleet-baseline:policy:Exception")
    sets = _exception_sets(exception_res["inputs"])
    texts = []
    for v in range(VARIANTS):
        rng = random.Random(seed * 1000 + v)
        doc = copy.deepcopy(template)
        res = doc["deployment"]["resources"]
        drift_rate = (0.0, 0.02, 0.08, 0.2)[v % 4]
        if v % 5 == 3:  # the template's hand edits, as pulumi refresh records them
            cluster = next(r for r in res if r["type"] == "aws:eks/cluster:Cluster")
            cluster["outputs"]["vpcConfig"]["endpointPublicAccess"] = True
            cluster["outputs"]["vpcConfig"]["publicAccessCidrs"] = ["0.0.0.0/0"]
            cluster["outputs"]["enabledClusterLogTypes"] = ["api"]
        records = sets[v % len(sets)]
        res = [r for r in res if r["type"] != "fleet-baseline:policy:Exception"]
        for k, rec in enumerate(records):
            r = copy.deepcopy(exception_res)
            r["urn"] = exception_res["urn"].rsplit("::", 1)[0] + f"::{CLUSTER}-exception-{k}"
            r["inputs"] = rec
            res.append(r)
        res += _apps(rng, parent, provider, max(resources - len(res), 0), drift_rate)
        doc["deployment"]["resources"] = res
        texts.append(json.dumps(doc, indent=4, ensure_ascii=False) + "\n")
    return texts


def generate(directory: Path, n: int, resources: int, seed: int, with_intents: Path | None) -> int:
    """Write ``n`` exports (and, with ``with_intents``, a stack config per stack); returns bytes written."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = variants(seed, resources)
    rng = random.Random(seed)
    total = 0
    for i in range(n):
        name = f"c{i:04d}-{('eu', 'us', 'ap')[i % 3]}"
        stack = f"fleet-{i:04d}"
        version = rng.choice(["1.0.0", "1.0.0", "1.1.0", "1.1.0", "1.1.0", "0.9.0"])
        text = texts[rng.randrange(VARIANTS)]
        text = text.replace(f"urn:pulumi:{STACK}::", f"urn:pulumi:{stack}::").replace(CLUSTER, name)
        text = text.replace(VERSION_STAMP, VERSION_STAMP.replace("1.0.0", version))
        data = text.encode("utf-8")
        (directory / f"{stack}.json").write_bytes(data)
        total += len(data)
        if with_intents is not None:
            (with_intents / f"Pulumi.{stack}.yaml").write_text(
                "config:\n"
                "  aws:region: eu-west-1\n"
                "  fleet-baseline:intentFile: intents/prod.yaml\n"
                "  fleet-baseline:intent:\n"
                f"    baselineVersion: '{version}'\n"
                f"    cluster: {{name: {name}, cloud: eks, eks: {{region: eu-west-1,"
                " subnetIds: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]}}\n",
                encoding="utf-8",
            )
    return total


# --------------------------------------------------------------------------- measuring


def _descendants(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/PID/task/TID/children (cheap: no scan of /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children", encoding="utf-8") as fh:
                    todo += [int(c) for c in fh.read().split()]
            except OSError:
                continue
    return out


def _tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) over ``root`` and its descendants."""
    total = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/statm", encoding="utf-8") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(argv: list[str]) -> tuple[float, int, int, int, str]:
    """(wall seconds, exit code, peak tree RSS, largest process RSS, stderr) of one run."""
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return wall, proc.returncode, peak, largest, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="number of exports (default 1000)")
    ap.add_argument("--resources", type=int, default=150, help="resources per export (default 150)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=0, help="fleet --jobs (default: fleet's own default)")
    ap.add_argument("--format", default="html", choices=("table", "json", "markdown", "html"))
    ap.add_argument("--with-intents", action="store_true", help="a stack config per stack (--stacks-dir)")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it (default: a temporary directory)")
    args = ap.parse_args()
    if not TEMPLATE.is_file():
        print(f"no template export at {TEMPLATE}", file=sys.stderr)
        return 2
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    exports = work / "exports"
    stacks = work / "stacks" if args.with_intents else None
    try:
        if exports.exists():
            shutil.rmtree(exports)
        if stacks is not None:
            shutil.rmtree(stacks, ignore_errors=True)
            (stacks / "intents").mkdir(parents=True)
            shutil.copy(REPO / "stacks" / "intents" / "prod.yaml", stacks / "intents" / "prod.yaml")
        t0 = time.perf_counter()
        size = generate(exports, args.n, args.resources, args.seed, stacks)
        print(f"generated {args.n} exports x {args.resources} resources, {size / 1e6:.0f} MB, in "
              f"{time.perf_counter() - t0:.1f} s ({exports})")  # fmt: skip
        report = work / f"fleet.{ {'markdown': 'md'}.get(args.format, args.format) }"
        argv = [sys.executable, "-m", "baseline.cli", "fleet", "--state-dir", str(exports)]
        argv += ["--format", args.format, "--output", str(report), "--today", "2026-11-22"]
        if args.jobs:
            argv += ["--jobs", str(args.jobs)]
        if stacks is not None:
            argv += ["--stacks-dir", str(stacks)]
        wall, code, peak, largest, err = measure(argv)
        print(err.strip().splitlines()[-1] if err.strip() else "(no stderr)")
        print(
            f"fleet: exit {code}, wall {wall:.2f} s, peak RSS {peak / 2**20:.0f} MiB (process tree),"
            f" largest process {largest / 2**20:.0f} MiB, report {report.stat().st_size / 1e6:.1f} MB"
            f" ({report})"
        )
        ok = wall < 20 and peak < 2**30
        print(f"target (1,000 exports: < 20 s, < 1 GB): {'met' if ok else 'NOT met'} at n={args.n}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
