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
* **Admission.** The rendered admission objects (:func:`providers.admission.render_admission`, for
  the intent's engine) are part of the in-cluster object list: :func:`incluster_manifests` is the one
  pure function that gives baseline objects + admission objects, for this component and for anything
  that writes the same objects as YAML. The component installs the engine first
  (:func:`providers.engines.engine_release_args`, nothing for ``vap``) and makes every admission
  object depend on the release; a binding depends on its policy, a Kyverno PolicyException on the
  policies it names, a Gatekeeper Constraint on its ConstraintTemplate.
* **Constraint kinds appear asynchronously.** Gatekeeper creates a Constraint's CRD some time after
  it sees the ConstraintTemplate. Each template carries ``pulumi.com/waitFor:
  jsonpath={.status.created}=true`` (pulumi-kubernetes >= 4.18 honours it on any resource), which
  Gatekeeper sets once the Constraint CRD exists, so the template is not complete, and its
  Constraint is not sent, before the kind is served. The provider's own create retry on "no matches
  for kind" (5 tries, doubling back-off) is the second line. The annotation is in the manifest, not
  added by the component, so what Pulumi applies and what a YAML render writes stay the same object;
  other tools ignore it.
* **Egress and the metadata range.** An egress rule whose CIDR strictly contains the metadata range
  gets ``except: [metadataCidr]`` when ``network.blockMetadata`` is on. A rule that *is* the
  metadata range, or lies inside it, cannot be carved out; it is emitted as written and NS-03
  reports it. The component never silently drops what the intent asks for.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.admissionregistration import v1 as admissionregistration_v1
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.core import v1 as core_v1
from pulumi_kubernetes.helm import v3 as helm_v3
from pulumi_kubernetes.networking import v1 as networking_v1

from baseline.catalog import Catalog
from baseline.intent import EgressRule, Intent, NamespaceIntent, WorkloadIdentity
from providers.admission import render_admission
from providers.engines import engine_release_args

__all__ = [
    "ADMISSION_ROLES",
    "ALLOW_DNS",
    "ALLOW_EGRESS",
    "ALLOW_WORKLOAD_IDENTITY",
    "BASELINE_VERSION_LABEL",
    "CONSTRAINT_ROLE",
    "DEFAULT_DENY",
    "LIMITS",
    "OWNER_LABEL",
    "PATCH_FORCE_ANNOTATION",
    "PSS_AUDIT_WARN_LEVEL",
    "QUOTA",
    "TEMPLATE_READY",
    "TYPE_TOKEN",
    "WAIT_FOR_ANNOTATION",
    "WORKLOAD_IDENTITY_ENDPOINTS",
    "InClusterBaseline",
    "Manifest",
    "ServiceAccountAnnotations",
    "Wire",
    "admission_role",
    "allow_dns_policy",
    "allow_egress_policy",
    "baseline_objects",
    "default_deny_policy",
    "default_service_account",
    "incluster_manifests",
    "is_admission_object",
    "is_patch",
    "kubernetes_resource",
    "limit_range",
    "namespace",
    "object_dependencies",
    "resource_name",
    "resource_quota",
    "wiring_plan",
    "workload_identity_egress_policy",
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
#: pulumi-kubernetes (>= 4.18) waits, after creating or updating the object, until this holds.
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
#: Gatekeeper sets a ConstraintTemplate's ``status.created`` once the Constraint CRD exists.
TEMPLATE_READY = "jsonpath={.status.created}=true"

# Stable object names inside every namespace.
DEFAULT_DENY = "default-deny"
ALLOW_DNS = "allow-dns"
ALLOW_EGRESS = "allow-egress"
ALLOW_WORKLOAD_IDENTITY = "allow-workload-identity"
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


#: The link-local endpoints a workload identity needs, per cloud and mechanism: (cidr, TCP port).
#: GKE: the GKE metadata server (Workload Identity, node pools in GKE_METADATA mode), which pods reach
#: at 169.254.169.254:80 and, with Dataplane V2, at 169.254.169.252:988; it serves the pod's own
#: Kubernetes service account's identity, never the node's. EKS Pod Identity: the node agent at
#: 169.254.170.23:80 (fd00:ec2::23 on IPv6 clusters). IRSA and AKS workload identity need no
#: link-local endpoint: their pods exchange a projected token at the token service over HTTPS
#: (``network.tokenServiceCidrs``).
WORKLOAD_IDENTITY_ENDPOINTS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "gke": (("169.254.169.254/32", 80), ("169.254.169.252/32", 988)),
    "eks-pod-identity": (("169.254.170.23/32", 80), ("fd00:ec2::23/128", 80)),
    "eks-irsa": (),
    "aks": (),
}
#: The pod label AKS workload identity's webhook keys on: only those pods get the token, so only
#: those pods get the egress to Entra ID.
_AKS_WORKLOAD_IDENTITY_LABEL = {"azure.workload.identity/use": "true"}
_HTTPS = 443


def workload_identity_egress_policy(intent: Intent, ns: NamespaceIntent) -> Manifest | None:
    """Egress the namespace's workload identities need on the intent's cloud, and nothing more.

    ``None`` when the namespace hosts none, or when ``network.defaultDeny`` is off (nothing blocks
    the path then, and an egress policy would isolate the pods it selects). GKE: the metadata
    server's two endpoints. EKS: the Pod Identity agent when a ``pod-identity`` identity lives here,
    HTTPS to ``network.tokenServiceCidrs`` (STS) when an ``irsa`` one does. AKS: HTTPS to
    ``network.tokenServiceCidrs`` (Entra ID) for the pods labelled ``azure.workload.identity/use``.
    The node's own instance metadata (169.254.169.254 on EKS and AKS) is never opened: NS-03
    refuses it, and allows exactly these endpoints.
    """
    cloud = intent.cluster.cloud
    hosted = [w for w in intent.workload_identities if w.namespace == ns.name]
    if not hosted or not intent.network.default_deny:
        return None
    endpoints: list[tuple[str, int]] = []
    token_service = False
    if cloud == "gke":
        endpoints += WORKLOAD_IDENTITY_ENDPOINTS["gke"]
    elif cloud == "eks":
        mechanisms = {w.aws.mechanism for w in hosted if w.aws is not None}
        if "pod-identity" in mechanisms:
            endpoints += WORKLOAD_IDENTITY_ENDPOINTS["eks-pod-identity"]
        token_service = "irsa" in mechanisms
    else:
        token_service = True
    rules: list[dict[str, Any]] = [
        {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]} for cidr, port in endpoints
    ]
    if token_service:
        rules.append(
            {
                "to": [{"ipBlock": _ip_block(intent, cidr)} for cidr in intent.network.token_service_cidrs],
                "ports": [{"protocol": "TCP", "port": _HTTPS}],
            }
        )
    if not rules:
        return None
    selector = {"matchLabels": dict(_AKS_WORKLOAD_IDENTITY_LABEL)} if cloud == "aks" else {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(intent, ALLOW_WORKLOAD_IDENTITY, ns.name),
        "spec": {"podSelector": selector, "policyTypes": ["Egress"], "egress": rules},
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
    allow-dns (when ``network.allowDns``), allow-egress (when there are egress rules),
    allow-workload-identity (when the namespace hosts one: :func:`workload_identity_egress_policy`), LimitRange,
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
        identity = workload_identity_egress_policy(intent, ns)
        if identity is not None:
            out.append(identity)
        out.append(limit_range(intent, ns))
        out.append(resource_quota(intent, ns))
        out.append(_merge_default_account(intent, default_service_account(intent, ns), ns.name, annotations))
        out.extend(sa for sa in workload_accounts if sa["metadata"]["namespace"] == ns.name)
    declared = {ns.name for ns in intent.namespaces}
    out.extend(sa for sa in workload_accounts if sa["metadata"]["namespace"] not in declared)
    return out


def _await_constraint_kind(manifest: Manifest) -> Manifest:
    """A copy of a ConstraintTemplate that Pulumi holds until its Constraint kind is served."""
    out = copy.deepcopy(manifest)
    out["metadata"].setdefault("annotations", {})[WAIT_FOR_ANNOTATION] = TEMPLATE_READY
    return out


def incluster_manifests(
    intent: Intent,
    engine: str | None = None,
    today: dt.date | None = None,
    *,
    service_account_annotations: ServiceAccountAnnotations | None = None,
    catalog: Catalog | None = None,
) -> list[Manifest]:
    """Every object the baseline puts in the cluster, in registration order, and nothing else.

    :func:`baseline_objects`, then :func:`~providers.admission.render_admission` for ``engine``
    (default: the intent's) as of ``today`` (default: the current date, as the renderer's), with
    each ConstraintTemplate annotated so Pulumi waits for its Constraint kind (see the module doc).
    The engine itself is a Helm release, not a manifest: :func:`providers.engines.engine_release_args`.
    """
    admission = render_admission(intent, catalog, engine, today)
    return [
        *baseline_objects(intent, service_account_annotations),
        *(_await_constraint_kind(m) if m["kind"] == "ConstraintTemplate" else m for m in admission),
    ]


def is_patch(manifest: Mapping[str, Any]) -> bool:
    """Whether the object already exists in a fresh cluster and must be patched, not created.

    Marked by the patch-force annotation the pure functions put on exactly those objects.
    """
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    return annotations.get(PATCH_FORCE_ANNOTATION) == "true"


#: Short role of each admission kind in resource names. A ValidatingAdmissionPolicy and its binding
#: share an object name, and a Kyverno or Gatekeeper object could share one with a baseline object:
#: the role keeps every child's Pulumi name distinct, whatever its type.
ADMISSION_ROLES: Mapping[tuple[str, str], str] = {
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): "vap",
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): "vapbinding",
    ("policies.kyverno.io", "ValidatingPolicy"): "vpol",
    ("policies.kyverno.io", "PolicyException"): "polex",
    ("templates.gatekeeper.sh", "ConstraintTemplate"): "template",
}
#: Role of every Gatekeeper Constraint (each template makes a kind of its own).
CONSTRAINT_ROLE = "constraint"
_CONSTRAINTS_GROUP = "constraints.gatekeeper.sh"
_ADMISSION_GROUPS = frozenset({group for group, _ in ADMISSION_ROLES} | {_CONSTRAINTS_GROUP})


def _group(manifest: Mapping[str, Any]) -> str:
    api_version = str(manifest.get("apiVersion", ""))
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_admission_object(manifest: Mapping[str, Any]) -> bool:
    """Whether the object is an admission policy object (served by the API server or by an engine)."""
    return _group(manifest) in _ADMISSION_GROUPS


def admission_role(manifest: Mapping[str, Any]) -> str:
    """The object's role in resource names (:data:`ADMISSION_ROLES`); refuses kinds it does not know."""
    group = _group(manifest)
    if group == _CONSTRAINTS_GROUP:
        return CONSTRAINT_ROLE
    role = ADMISSION_ROLES.get((group, str(manifest["kind"])))
    if role is None:
        raise ValueError(f"not an admission object of a known kind: {manifest['apiVersion']} {manifest['kind']}")
    return role


def resource_name(prefix: str, manifest: Mapping[str, Any]) -> str:
    """The Pulumi name of the resource for ``manifest``: ``{prefix}-{name}`` or ``{prefix}-{ns}/{name}``.

    ``/`` cannot occur in a namespace name, so ``(namespace, name)`` maps to distinct resource
    names even for arbitrary service account names (``a``/``b-c`` vs ``a-b``/``c``). Admission
    objects add their role after the prefix (``{prefix}-vap-{name}``, ``{prefix}-polex-{ns}/{name}``).
    """
    if is_admission_object(manifest):
        prefix = f"{prefix}-{admission_role(manifest)}"
    md = manifest["metadata"]
    ns = md.get("namespace")
    return f"{prefix}-{ns}/{md['name']}" if ns else f"{prefix}-{md['name']}"


def object_dependencies(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(kind, name)`` of the cluster-scoped objects ``manifest`` must be created after.

    A ValidatingAdmissionPolicyBinding after its policy (a binding to a missing policy is inert, and
    on deletion the binding goes first); a Kyverno PolicyException after the policies it names; a
    Gatekeeper Constraint after its ConstraintTemplate (the template's name is the kind in lower case).
    """
    group, kind, spec = _group(manifest), manifest["kind"], manifest.get("spec") or {}
    if (group, kind) == ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"):
        return [("ValidatingAdmissionPolicy", spec["policyName"])]
    if (group, kind) == ("policies.kyverno.io", "PolicyException"):
        return [(ref.get("kind", "ValidatingPolicy"), ref["name"]) for ref in spec.get("policyRefs", [])]
    if group == _CONSTRAINTS_GROUP:
        return [("ConstraintTemplate", str(kind).lower())]
    return []


# --------------------------------------------------------------------------- wiring

_Factory = Callable[..., pulumi.CustomResource]

_CREATE: dict[tuple[str, str], _Factory] = {
    ("v1", "Namespace"): core_v1.Namespace,
    ("v1", "ServiceAccount"): core_v1.ServiceAccount,
    ("v1", "ConfigMap"): core_v1.ConfigMap,
    ("v1", "LimitRange"): core_v1.LimitRange,
    ("v1", "ResourceQuota"): core_v1.ResourceQuota,
    ("networking.k8s.io/v1", "NetworkPolicy"): networking_v1.NetworkPolicy,
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
    ): admissionregistration_v1.ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): (
        admissionregistration_v1.ValidatingAdmissionPolicyBinding
    ),
}
#: API groups whose kinds have no typed class (the engines' CRDs): registered as ``CustomResource``,
#: whose type token is ``kubernetes:<apiVersion>:<kind>``.
_CUSTOM_GROUPS = frozenset({"policies.kyverno.io", "templates.gatekeeper.sh", _CONSTRAINTS_GROUP})
_CUSTOM_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec"})
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
    wire inputs are the manifest plus nothing. The engines' kinds (Kyverno, Gatekeeper) have no typed
    class and become an ``apiextensions.CustomResource``; any other unknown kind is refused.
    """
    key = (str(manifest["apiVersion"]), str(manifest["kind"]))
    table = _PATCH if is_patch(manifest) else _CREATE
    if key not in table and table is _CREATE and _group(manifest) in _CUSTOM_GROUPS:
        extra = sorted(set(manifest) - _CUSTOM_FIELDS)
        if extra:
            raise ValueError(f"{key[0]} {key[1]}: a CustomResource carries only metadata and spec, not {extra}")
        return CustomResource(
            name,
            api_version=key[0],
            kind=key[1],
            metadata=manifest.get("metadata"),
            spec=manifest.get("spec"),
            opts=opts,
        )
    if key not in table:
        action = "patch" if table is _PATCH else "create"
        raise ValueError(f"no resource class to {action} {key[0]} {key[1]}")
    args = {_PY_ARGS.get(k, k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    return table[key](name, opts=opts, **args)


@dataclass(frozen=True, slots=True)
class Wire:
    """One child of the component: its resource name, its manifest and what it is created after."""

    name: str
    manifest: Manifest
    after: tuple[int, ...]
    """Indices (in the plan) of the children it depends on: its Namespace, the objects it references."""
    after_engine: bool
    """Created after the admission engine's Helm release, when the intent's engine has one."""


def _type_key(manifest: Mapping[str, Any]) -> tuple[str, str, bool]:
    return str(manifest["apiVersion"]), str(manifest["kind"]), is_patch(manifest)


def wiring_plan(prefix: str, manifests: Sequence[Manifest]) -> list[Wire]:
    """How :class:`InClusterBaseline` registers ``manifests``, checked before anything is registered.

    Refuses (``ValueError``) two children of the same type and name (the engine would refuse the
    duplicate URN) and a reference to an object that is missing or comes later in the list.
    """
    namespaces: dict[str, int] = {}
    objects: dict[tuple[str, str], int] = {}
    seen: set[tuple[tuple[str, str, bool], str]] = set()
    plan: list[Wire] = []
    for index, manifest in enumerate(manifests):
        child = resource_name(prefix, manifest)
        key = (_type_key(manifest), child)
        if key in seen:
            raise ValueError(f"two {manifest['kind']} children named {child!r}")
        seen.add(key)
        md = manifest["metadata"]
        ns = md.get("namespace")
        after = [namespaces[ns]] if ns in namespaces else []
        for kind, name in object_dependencies(manifest):
            if (kind, name) not in objects:
                raise ValueError(f"{child}: must come after {kind} {name!r}, which is missing or comes later")
            after.append(objects[(kind, name)])
        admission = is_admission_object(manifest)
        if manifest["kind"] == "Namespace":
            namespaces[md["name"]] = index
        elif admission and ns is None:
            objects[(str(manifest["kind"]), md["name"])] = index
        plan.append(Wire(child, manifest, tuple(after), admission))
    return plan


class InClusterBaseline(pulumi.ComponentResource):
    """The in-cluster baseline of one cluster, applied through an explicit Kubernetes provider.

    Children are named ``{name}-{namespace}`` (Namespaces), ``{name}-{namespace}/{object}``, the
    admission objects ``{name}-{role}-{object}`` (:func:`resource_name`), and the engine's Helm
    release ``{name}-{engine}``. The objects are :func:`incluster_manifests`, the order and
    dependencies :func:`wiring_plan`; both are computed, and checked, before anything registers.
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
        today: dt.date | None = None,
        engine_depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        manifests = incluster_manifests(intent, today=today, service_account_annotations=service_account_annotations)
        plan = wiring_plan(name, manifests)
        release_args = engine_release_args(intent)
        super().__init__(TYPE_TOKEN, name, None, opts)
        #: The admission engine's Helm release; ``None`` for ``vap`` (the API server is the engine).
        self.engine_release: helm_v3.Release | None = None
        if release_args is not None:
            self.engine_release = helm_v3.Release(
                f"{name}-{intent.admission.engine}",
                **release_args,
                # engine_depends_on: the nodes it runs on (an atomic release times out without them)
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(engine_depends_on)),
            )
        registered: list[pulumi.CustomResource] = []
        #: Every child by its resource name, for callers that need to depend on one.
        self.resources: dict[str, pulumi.CustomResource] = {}
        for wire in plan:
            depends: list[pulumi.Resource] = [registered[i] for i in wire.after]
            if wire.after_engine and self.engine_release is not None:
                depends.insert(0, self.engine_release)
            res = kubernetes_resource(
                wire.name, wire.manifest, pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends)
            )
            registered.append(res)
            self.resources[wire.name] = res
        self.namespaces = pulumi.Output.from_input(
            [m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"]
        )
        self.register_outputs({"namespaces": self.namespaces})
