"""A deterministic, realistic mix of Kubernetes objects for benchmarks (same seed, same objects).

The mix follows what an audit of a real cluster sees: mostly workloads (Deployments and their
ReplicaSets and Pods, some StatefulSets, DaemonSets, Jobs and CronJobs), then ServiceAccounts,
ConfigMaps, RBAC, NetworkPolicies and Namespaces. About one object in five breaks some control.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

__all__ = ["objects"]

_WORKLOAD_WEIGHTS = [
    ("Deployment", 22),
    ("ReplicaSet", 18),
    ("Pod", 30),
    ("StatefulSet", 5),
    ("DaemonSet", 3),
    ("Job", 4),
    ("CronJob", 3),
    ("ServiceAccount", 5),
    ("ConfigMap", 4),
    ("Role", 2),
    ("RoleBinding", 2),
    ("ClusterRole", 0.5),
    ("ClusterRoleBinding", 0.5),
    ("NetworkPolicy", 2),
    ("Namespace", 1),
]
_API = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Pod": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Namespace": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
}


def _container(rng: random.Random, i: int) -> dict[str, Any]:
    bad = rng.random() < 0.2
    sc: dict[str, Any] = {
        "allowPrivilegeEscalation": bad and rng.random() < 0.5,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": rng.random() < 0.7,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if bad and rng.random() < 0.3:
        sc["privileged"] = True
    if bad and rng.random() < 0.3:
        sc["capabilities"] = {"add": ["NET_ADMIN"]}
    c: dict[str, Any] = {
        "name": f"c{i}",
        "image": rng.choice(
            [
                "registry.example.com/shop/web:1.4.2",
                "111122223333.dkr.ecr.eu-west-1.amazonaws.com/api@sha256:" + "a" * 64,
                "docker.io/library/nginx:latest",
            ]
        ),
        "securityContext": sc,
        "ports": [{"containerPort": 8080 + i}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
    }
    if rng.random() < 0.85:
        c["resources"] = {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}}
    if bad and rng.random() < 0.3:
        c["env"].append({"name": "DB_PASSWORD", "value": "hunter2"})
    return c


def _pod_spec(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": "default",
        "automountServiceAccountToken": rng.random() < 0.2,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(rng, i) for i in range(rng.choice([1, 1, 1, 2, 3]))],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if rng.random() < 0.3:
        spec["initContainers"] = [_container(rng, 9)]
    if rng.random() < 0.03:
        spec["hostNetwork"] = True
    if rng.random() < 0.03:
        spec["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})
    return spec


def _workload(kind: str, name: str, ns: str, rng: random.Random) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns, "labels": {"app": name}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": _pod_spec(rng)}
    template = {"metadata": {"labels": {"app": name}}, "spec": _pod_spec(rng)}
    if kind == "CronJob":
        spec: dict[str, Any] = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec = {"template": template}
    else:
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
    return {"apiVersion": _API[kind], "kind": kind, "metadata": meta, "spec": spec}


def _other(kind: str, name: str, ns: str, rng: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    obj: dict[str, Any] = {"apiVersion": _API[kind], "kind": kind, "metadata": meta}
    if kind == "Namespace":
        obj["metadata"] = {
            "name": ns,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "fleet-baseline.io/owner": "team-" + ns,
            },
        }
    elif kind == "ServiceAccount":
        obj["automountServiceAccountToken"] = rng.random() < 0.5
    elif kind == "ConfigMap":
        obj["data"] = {"app.properties": "a=b\n" * 10}
    elif kind == "NetworkPolicy":
        obj["spec"] = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    elif kind in {"Role", "ClusterRole"}:
        if kind == "ClusterRole":
            del meta["namespace"]
        obj["rules"] = [
            {
                "apiGroups": [""],
                "resources": rng.choice([["pods"], ["secrets"], ["*"]]),
                "verbs": rng.choice([["get", "list"], ["*"]]),
            }
        ]
    else:
        if kind == "ClusterRoleBinding":
            del meta["namespace"]
        obj["roleRef"] = {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": rng.choice(["view", "edit", "cluster-admin"]),
        }
        obj["subjects"] = [{"kind": rng.choice(["Group", "ServiceAccount"]), "name": "team", "namespace": ns}]
    return obj


def objects(count: int, seed: int = 1234) -> Iterator[dict[str, Any]]:
    """``count`` objects, the same ones for the same seed."""
    rng = random.Random(seed)
    kinds, weights = zip(*_WORKLOAD_WEIGHTS, strict=True)
    namespaces = [f"team-{i}" for i in range(max(1, count // 200))]
    for i in range(count):
        kind = rng.choices(kinds, weights)[0]
        ns = rng.choice(namespaces)
        name = f"{kind.lower()}-{i}"
        if kind in {"Deployment", "ReplicaSet", "Pod", "StatefulSet", "DaemonSet", "Job", "CronJob"}:
            yield _workload(kind, name, ns, rng)
        else:
            yield _other(kind, name, ns, rng)
