"""The in-cluster baseline: namespaces and their guard rails, as Kubernetes objects.

Two layers, as everywhere in ``providers``:

* :func:`baseline_objects` is a pure function from the intent to plain Kubernetes manifests
  (``apiVersion``/``kind``/``metadata``/...). The manifest *is* what the engine, the mocks and the
  policies see as the resource's inputs, so the same dicts can be validated against the Kubernetes
  OpenAPI schema, judged by the controls, or applied by any other tool.
* :class:`InClusterBaseline` only wires: one typed ``pulumi_kubernetes`` resource per manifest, on
  the provider it is given (never an ambient one), each namespaced object depending on its
  Namespace.

Decisions worth knowing:

* **Pod Security levels.** ``enforce`` is the namespace's level from the intent (``restricted``
  unless the namespace overrides it). ``audit`` and ``warn`` are always ``restricted``: a namespace
  held at ``baseline`` by an exception still tells every deployer, and the audit log, what would
  break under ``restricted``, so the exception has a visible way out instead of becoming permanent.
  All three ``-version`` labels pin ``podSecurity.version`` so a control-plane upgrade cannot
  silently change what a level means.
* **Service accounts.** The ``default`` service account of every namespace already exists (the
  controller manager creates it), so it is *patched* with server-side apply
  (``ServiceAccountPatch``), with ``pulumi.com/patchForce`` so the baseline's
  ``automountServiceAccountToken: false`` wins over an earlier manager. Each workload identity's
  service account is *created* here, with ``automountServiceAccountToken`` equal to the intent's
  ``needsApi``: the platform owns the identity binding, so the account that carries it (and the
  cloud's annotation, passed in by the cloud component) is part of the baseline. Application charts
  reference it (``serviceAccount.create: false``) rather than create it.
* **Egress and the metadata range.** An egress rule whose CIDR strictly contains the metadata range
  gets ``except: [metadataCidr]`` when ``network.blockMetadata`` is on. A rule that *is* the
  metadata range, or lies inside it, cannot be carved out; it is emitted as written and NS-03
  reports it. The component never silently drops what the intent asks for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core import v1 as core_v1
from pulumi_kubernetes.networking import v1 as networking_v1

from baseline.intent import EgressRule, Intent, NamespaceIntent, WorkloadIdentity

__all__ = [
    "ALLOW_DNS",
    "ALLOW_EGRESS",
    "BASELINE_VERSION_LABEL",
    "DEFAULT_DENY",
    "LIMITS",
    "OWNER_LABEL",
    "PATCH_FORCE_ANNOTATION",
    "PSS_AUDIT_WARN_LEVEL",
    "QUOTA",
    "TYPE_TOKEN",
    "InClusterBaseline",
    "Manifest",
    "ServiceAccountAnnotations",
    "allow_dns_policy",
    "allow_egress_policy",
    "baseline_objects",
    "default_deny_policy",
    "default_service_account",
    "is_patch",
    "kubernetes_resource",
    "limit_range",
    "namespace",
    "resource_name",
    "resource_quota",
    "workload_service_accounts",
]

#: Pulumi type token of the component.
TYPE_TOKEN = "fleet-baseline:kubernetes:InClusterBaseline"

BASELINE_VERSION_LABEL = "fleet-baseline.io/baseline-version"
OWNER_LABEL = "fleet-baseline.io/owner"
#: Server-side apply takes fields from other managers instead of failing on a conflict.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
#: Level of the PSS ``audit`` and ``warn`` labels, whatever the enforced level (see module doc).
PSS_AUDIT_WARN_LEVEL = "restricted"

# Stable object names inside every namespace.
DEFAULT_DENY = "default-deny"
ALLOW_DNS = "allow-dns"
ALLOW_EGRESS = "allow-egress"
LIMITS = "limits"
QUOTA = "quota"

_PSS = "pod-security.kubernetes.io"
_KUBE_DNS_NAMESPACE = "kube-system"
_KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}

Manifest = dict[str, Any]
#: Extra annotations per workload service account, keyed by ``(namespace, serviceAccount)``.
#: Values may be Pulumi inputs (a role ARN that is an output of the cloud component).
ServiceAccountAnnotations = Mapping[tuple[str, str], Mapping[str, Any]]


# --------------------------------------------------------------------------- pure translation


def _stamp(intent: Intent) -> dict[str, str]:
    return {BASELINE_VERSION_LABEL: intent.baseline_version}


def _metadata(intent: Intent, name: str, ns: str | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if ns is not None:
        md["namespace"] = ns
    md["labels"] = _stamp(intent)
    return md


def namespace(intent: Intent, ns: NamespaceIntent) -> Manifest:
    """The Namespace, carrying its Pod Security labels, owner and baseline stamp.

    The namespace's own ``labels`` come first so they can never override a baseline label.
    """
    level = intent.namespace_level(ns)
    version = intent.pod_security.version
    labels: dict[str, str] = dict(ns.labels)
    labels |= {
        f"{_PSS}/enforce": level,
        f"{_PSS}/enforce-version": version,
        f"{_PSS}/audit": PSS_AUDIT_WARN_LEVEL,
        f"{_PSS}/audit-version": version,
        f"{_PSS}/warn": PSS_AUDIT_WARN_LEVEL,
        f"{_PSS}/warn-version": version,
        OWNER_LABEL: ns.owner,
        **_stamp(intent),
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns.name, "labels": labels}}


def default_deny_policy(intent: Intent, ns: NamespaceIntent) -> Manifest:
    """Deny all ingress and egress to every pod of the namespace (NS-02)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(intent, DEFAULT_DENY, ns.name),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def allow_dns_policy(intent: Intent, ns: NamespaceIntent) -> Manifest:
    """Allow DNS (UDP and TCP 53) to the cluster DNS pods only, not to any resolver anywhere."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(intent, ALLOW_DNS, ns.name),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": _KUBE_DNS_NAMESPACE}},
                            "podSelector": {"matchLabels": dict(_KUBE_DNS_LABELS)},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }


def _ip_block(intent: Intent, cidr: str) -> dict[str, Any]:
    """``ipBlock`` for ``cidr``, carving out the metadata range when the block strictly contains it."""
    block: dict[str, Any] = {"cidr": cidr}
    if not intent.network.block_metadata:
        return block
    if _strictly_contains(cidr, intent.network.metadata_cidr):
        block["except"] = [intent.network.metadata_cidr]
    return block


def _strictly_contains(outer: str, inner: str) -> bool:
    """``outer`` is a proper supernet of ``inner``: an ``except`` must lie strictly inside ``cidr``."""
    a, b = ipaddress.ip_network(outer), ipaddress.ip_network(inner)
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a != b and a.supernet_of(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a != b and a.supernet_of(b)
    return False


def _egress_rule(intent: Intent, rule: EgressRule) -> dict[str, Any]:
    ports: list[dict[str, Any]] = (
        [{"protocol": rule.protocol, "port": port} for port in rule.ports]
        if rule.ports
        else [{"protocol": rule.protocol}]
    )
    return {"to": [{"ipBlock": _ip_block(intent, rule.cidr)}], "ports": ports}


def allow_egress_policy(intent: Intent, ns: NamespaceIntent) -> Manifest | None:
    """The namespace's own egress rules, then the cluster-wide ones; ``None`` when there are none."""
    rules = [*ns.egress, *intent.network.egress_allow]
    if not rules:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(intent, ALLOW_EGRESS, ns.name),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [_egress_rule(intent, r) for r in rules],
        },
    }


def limit_range(intent: Intent, ns: NamespaceIntent) -> Manifest:
    """Default requests and limits, so a container without them still fits the quota (NS-05)."""
    q = ns.quota
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(intent, LIMITS, ns.name),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": q.default_cpu_limit, "memory": q.default_memory_limit},
                    "defaultRequest": {"cpu": q.default_cpu_request, "memory": q.default_memory_request},
                }
            ]
        },
    }


def resource_quota(intent: Intent, ns: NamespaceIntent) -> Manifest:
    """The namespace's ceiling. ``cpu``/``memory`` bound both the sum of requests and of limits."""
    q = ns.quota
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(intent, QUOTA, ns.name),
        "spec": {
            "hard": {
                "requests.cpu": q.cpu,
                "requests.memory": q.memory,
                "limits.cpu": q.cpu,
                "limits.memory": q.memory,
                "pods": str(q.pods),
            }
        },
    }


def default_service_account(intent: Intent, ns: NamespaceIntent) -> Manifest:
    """The namespace's ``default`` service account with token automount off (RB-07).

    It is a patch of an object the cluster creates itself, hence the patch-force annotation.
    """
    md = _metadata(intent, "default", ns.name)
    md["annotations"] = {PATCH_FORCE_ANNOTATION: "true"}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": md,
        "automountServiceAccountToken": False,
    }


def workload_service_accounts(intent: Intent, annotations: ServiceAccountAnnotations | None = None) -> list[Manifest]:
    """One ServiceAccount per distinct ``(namespace, serviceAccount)`` of the workload identities.

    ``automountServiceAccountToken`` is on only when a workload using the account says it needs the
    Kubernetes API (POD-15). ``annotations`` adds the cloud's binding (``eks.amazonaws.com/role-arn``
    and the like). An account named ``default`` is not listed here: it is merged into the
    namespace's default service account patch by :func:`baseline_objects`.
    """
    by_key: dict[tuple[str, str], list[WorkloadIdentity]] = {}
    for wi in intent.workload_identities:
        by_key.setdefault((wi.namespace, wi.service_account), []).append(wi)
    out: list[Manifest] = []
    for (ns, sa), workloads in by_key.items():
        if sa == "default":
            continue
        md = _metadata(intent, sa, ns)
        extra = dict((annotations or {}).get((ns, sa), {}))
        if extra:
            md["annotations"] = extra
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": md,
                "automountServiceAccountToken": any(w.needs_api for w in workloads),
            }
        )
    return out


def _merge_default_account(
    intent: Intent, manifest: Manifest, ns: str, annotations: ServiceAccountAnnotations | None
) -> Manifest:
    """Fold a workload identity that uses the ``default`` account into its patch."""
    users = [w for w in intent.workload_identities if w.namespace == ns and w.service_account == "default"]
    if not users:
        return manifest
    manifest["automountServiceAccountToken"] = any(w.needs_api for w in users)
    manifest["metadata"]["annotations"].update((annotations or {}).get((ns, "default"), {}))
    return manifest


def baseline_objects(intent: Intent, annotations: ServiceAccountAnnotations | None = None) -> list[Manifest]:
    """The whole in-cluster baseline, in a deterministic order.

    Per intent namespace, in intent order: Namespace, default-deny (when ``network.defaultDeny``),
    allow-dns (when ``network.allowDns``), allow-egress (when there are egress rules), LimitRange,
    ResourceQuota, the ``default`` ServiceAccount, then that namespace's workload ServiceAccounts.
    Workload ServiceAccounts in namespaces the intent does not create (``default``, system
    namespaces) come last. Every object carries the ``fleet-baseline.io/baseline-version`` label.
    """
    workload_accounts = workload_service_accounts(intent, annotations)
    out: list[Manifest] = []
    for ns in intent.namespaces:
        out.append(namespace(intent, ns))
        if intent.network.default_deny:
            out.append(default_deny_policy(intent, ns))
        if intent.network.allow_dns:
            out.append(allow_dns_policy(intent, ns))
        egress = allow_egress_policy(intent, ns)
        if egress is not None:
            out.append(egress)
        out.append(limit_range(intent, ns))
        out.append(resource_quota(intent, ns))
        out.append(_merge_default_account(intent, default_service_account(intent, ns), ns.name, annotations))
        out.extend(sa for sa in workload_accounts if sa["metadata"]["namespace"] == ns.name)
    declared = {ns.name for ns in intent.namespaces}
    out.extend(sa for sa in workload_accounts if sa["metadata"]["namespace"] not in declared)
    return out


def is_patch(manifest: Mapping[str, Any]) -> bool:
    """Whether the object already exists in a fresh cluster and must be patched, not created.

    Marked by the patch-force annotation the pure functions put on exactly those objects.
    """
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    return annotations.get(PATCH_FORCE_ANNOTATION) == "true"


def resource_name(prefix: str, manifest: Mapping[str, Any]) -> str:
    """The Pulumi name of the resource for ``manifest``: ``{prefix}-{name}`` or ``{prefix}-{ns}/{name}``.

    ``/`` cannot occur in a namespace name, so ``(namespace, name)`` maps to distinct resource
    names even for arbitrary service account names (``a``/``b-c`` vs ``a-b``/``c``).
    """
    md = manifest["metadata"]
    ns = md.get("namespace")
    return f"{prefix}-{ns}/{md['name']}" if ns else f"{prefix}-{md['name']}"


# --------------------------------------------------------------------------- wiring

_Factory = Callable[..., pulumi.CustomResource]

_CREATE: dict[tuple[str, str], _Factory] = {
    ("v1", "Namespace"): core_v1.Namespace,
    ("v1", "ServiceAccount"): core_v1.ServiceAccount,
    ("v1", "ConfigMap"): core_v1.ConfigMap,
    ("v1", "LimitRange"): core_v1.LimitRange,
    ("v1", "ResourceQuota"): core_v1.ResourceQuota,
    ("networking.k8s.io/v1", "NetworkPolicy"): networking_v1.NetworkPolicy,
}
_PATCH: dict[tuple[str, str], _Factory] = {
    ("v1", "ServiceAccount"): core_v1.ServiceAccountPatch,
    ("v1", "ConfigMap"): core_v1.ConfigMapPatch,
    ("v1", "Namespace"): core_v1.NamespacePatch,
}
#: Top-level manifest fields whose Python argument name differs from the wire name.
_PY_ARGS = {
    "automountServiceAccountToken": "automount_service_account_token",
    "imagePullSecrets": "image_pull_secrets",
}


def kubernetes_resource(name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register ``manifest`` as its typed ``pulumi_kubernetes`` resource (a ``*Patch`` if :func:`is_patch`).

    The manifest's fields are passed as they are (camelCase), which the SDK sends unchanged: the
    wire inputs are the manifest plus nothing.
    """
    key = (str(manifest["apiVersion"]), str(manifest["kind"]))
    table = _PATCH if is_patch(manifest) else _CREATE
    if key not in table:
        action = "patch" if table is _PATCH else "create"
        raise ValueError(f"no resource class to {action} {key[0]} {key[1]}")
    args = {_PY_ARGS.get(k, k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    return table[key](name, opts=opts, **args)


class InClusterBaseline(pulumi.ComponentResource):
    """The in-cluster baseline of one cluster, applied through an explicit Kubernetes provider.

    Children are named ``{name}-{namespace}`` (Namespaces) and ``{name}-{namespace}/{object}``.
    """

    namespaces: pulumi.Output[list[str]]
    """Names of the namespaces the baseline creates."""

    def __init__(
        self,
        name: str,
        intent: Intent,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
        *,
        service_account_annotations: ServiceAccountAnnotations | None = None,
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        manifests = baseline_objects(intent, service_account_annotations)
        created: dict[str, pulumi.CustomResource] = {}
        #: Every child by its resource name, for callers that need to depend on one.
        self.resources: dict[str, pulumi.CustomResource] = {}
        for manifest in manifests:
            child = resource_name(name, manifest)
            ns = manifest["metadata"].get("namespace")
            depends = [created[ns]] if ns in created else []
            res = kubernetes_resource(
                child, manifest, pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends)
            )
            if manifest["kind"] == "Namespace":
                created[manifest["metadata"]["name"]] = res
            self.resources[child] = res
        self.namespaces = pulumi.Output.from_input(list(created))
        self.register_outputs({"namespaces": self.namespaces})
