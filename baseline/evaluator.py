"""Evaluate objects against the catalog into findings: pass, fail, unknown or excepted.

One evaluator serves every consumer: the CrossGuard pack (resource properties at preview/up), the
offline plan, and the audit of manifests, state exports and live clusters. Each target's CEL is
compiled once, when the evaluator is built; each object is converted once and every applicable
target is evaluated against it.

A value that is unknown at preview, on a path the check reads, yields ``unknown``: never pass, never
fail. An expression that errors on an object (a field of the wrong type, say) is also ``unknown``,
with the error as detail, so a malformed object can never pass silently.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cel_expr_python import cel

from baseline.catalog import SEVERITY_ORDER, Catalog, Control, Target, intent_catalog, load_catalog
from baseline.cel import (
    BatchCheck,
    CompiledCheck,
    compile_batch,
    compile_check,
    drop_nulls,
    find_unknown_paths,
    is_unknown,
    new_activation,
    related_unknown_hits,
    unconvertible,
    unknown_hits,
)
from baseline.exceptions import (
    EXCEPTION_TYPE,
    ActiveException,
    exception_names,
    exception_record,
    match_exception,
)
from baseline.system_namespaces import merged_system_namespaces

if TYPE_CHECKING:
    from baseline.intent import Intent

__all__ = [
    "NOT_JUDGED",
    "Evaluator",
    "Finding",
    "Placer",
    "Status",
    "Subject",
    "intent_params",
    "pod_security_version",
]

Status = Literal["pass", "fail", "unknown", "excepted", "not-judged"]
#: a check that needs intent parameters it was not given: neither pass nor fail (counted apart)
NOT_JUDGED: Status = "not-judged"
Mode = Literal["audit", "enforce", "off"]
#: a subject's findings' (cluster, owner): see :meth:`Evaluator.evaluate_all`
Placer = Callable[["Subject"], tuple[str | None, str | None]]


@dataclass(frozen=True, slots=True)
class Subject:
    """Something to judge: a cloud resource's properties, or a Kubernetes object.

    ``type`` is the Pulumi type token when the object comes from a Pulumi program or state
    (``aws:eks/cluster:Cluster``, ``kubernetes:core/v1:Namespace``); plain manifests have none.
    Kind, namespace, name and reference are derived once, at construction: an audit asks for them
    for every control of every object. ``plain`` is the reader's word that the properties hold no
    unknown and nothing the CEL runtime refuses (it saw every value as it built them); the
    evaluator then skips its own walks of them. A Kubernetes object that is not plain is judged as
    the API server keeps it: every null-valued key dropped (a plain one holds no null). False only
    means nobody looked.
    """

    props: Mapping[str, Any]
    type: str | None = None
    name: str | None = None
    urn: str | None = None
    cluster: str | None = None
    plain: bool = field(default=False, compare=False, repr=False)
    kube_kind: tuple[str, str] | None = field(init=False, compare=False)
    namespace: str | None = field(init=False, compare=False)
    object_name: str | None = field(init=False, compare=False)
    ref: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        kk = _kube_kind(self.props, self.type)
        if kk is not None and not self.plain:  # judged as the API server keeps it: nulls are unset
            object.__setattr__(self, "props", drop_nulls(self.props))
        md = self.metadata
        raw_name = md.get("name")
        if not isinstance(raw_name, str) and isinstance(md.get("generateName"), str) and kk is not None:
            raw_name = md["generateName"]  # named by the API server on create: the prefix is its name here
        object_name = raw_name if isinstance(raw_name, str) else self.name
        if kk == ("", "Namespace"):
            namespace = raw_name if isinstance(raw_name, str) else None
        else:
            ns = md.get("namespace")
            namespace = ns if isinstance(ns, str) else None
        if self.urn:
            ref = self.urn
        elif kk:
            ns = md.get("namespace")
            ref = (f"{kk[1]}/{ns}/" if isinstance(ns, str) else f"{kk[1]}/") + str(object_name)
        else:
            ref = f"{self.type}::{self.name}"
        object.__setattr__(self, "kube_kind", kk)
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "object_name", object_name)
        object.__setattr__(self, "ref", ref)

    @property
    def metadata(self) -> Mapping[str, Any]:
        md = self.props.get("metadata")
        return md if isinstance(md, Mapping) else {}

    @property
    def type_label(self) -> str:
        return self.type or "/".join(filter(None, self.kube_kind or ()))


def _kube_kind(props: Mapping[str, Any], type_token: str | None) -> tuple[str, str] | None:
    """(apiGroup, kind) for Kubernetes objects, whatever their source."""
    api_version, kind = props.get("apiVersion"), props.get("kind")
    if isinstance(api_version, str) and isinstance(kind, str):
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        return group, kind
    if type_token and type_token.startswith("kubernetes:") and type_token.count(":") >= 2:
        _, module, kind = type_token.split(":", 2)
        group = module.rpartition("/")[0]
        return ("" if group == "core" else group), kind.removesuffix("Patch")
    return None


@dataclass(frozen=True, slots=True)
class Finding:
    control_id: str
    policy_name: str
    title: str
    severity: str
    mode: Mode
    status: Status
    subject: str
    subject_type: str
    message: str
    remediation: str
    cluster: str | None = None
    namespace: str | None = None
    exception: ActiveException | None = None
    unknown: tuple[str, ...] = ()
    detail: str | None = None
    owner: str | None = None

    @property
    def blocking(self) -> bool:
        """A failure of an enforced control: blocks a preview, denies at admission."""
        return self.status == "fail" and self.mode == "enforce"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "control": self.control_id,
            "policy": self.policy_name,
            "title": self.title,
            "severity": self.severity,
            "mode": self.mode,
            "status": self.status,
            "subject": self.subject,
            "type": self.subject_type,
            "message": self.message,
            "remediation": self.remediation,
        }
        if self.cluster:
            out["cluster"] = self.cluster
        if self.namespace:
            out["namespace"] = self.namespace
        if self.exception:
            out["exception"] = self.exception.to_dict()
        if self.unknown:
            out["unknown"] = list(self.unknown)
        if self.detail:
            out["detail"] = self.detail
        if self.owner:
            out["owner"] = self.owner
        return out

    def with_owner(self, owner: str | None) -> Finding:
        """The same finding routed to a team (the namespace's owner label, else the intent's)."""
        return self.routed(self.cluster, owner)

    def routed(self, cluster: str | None, owner: str | None) -> Finding:
        """The same finding placed in ``cluster`` and routed to ``owner``.

        ``dataclasses.replace`` without its per-call introspection: an audit routes every finding.
        """
        return Finding(
            self.control_id,
            self.policy_name,
            self.title,
            self.severity,
            self.mode,
            self.status,
            self.subject,
            self.subject_type,
            self.message,
            self.remediation,
            cluster,
            self.namespace,
            self.exception,
            self.unknown,
            self.detail,
            owner,
        )


@dataclass
class _Prepared:
    target: Target
    control: Control
    check: CompiledCheck
    mode: Mode = "enforce"
    policy_name: str = ""
    #: the target's messageExpression, compiled with its variables (None: the fixed message)
    message_program: Any = None

    def __post_init__(self) -> None:
        self.policy_name = self.control.policy_name


@dataclass
class _Batch:
    """The batch program of one combination of targets, and how often it decided alone."""

    check: BatchCheck | None
    tries: int = 0
    misses: int = 0

    def usable(self) -> bool:
        # a batch that keeps missing (its shared variables error on these objects) only adds an
        # evaluation: after a fair trial it is set aside. Either way every verdict is the same.
        return self.check is not None and (self.tries < 64 or self.misses * 2 < self.tries)


def intent_params(intent: Intent, catalog: Catalog | None = None) -> dict[str, Any]:
    """The intent's parameters that controls read as ``variables.params``. Plain JSON data."""
    catalog = intent_catalog(intent, catalog)
    admins_cloud: list[str] = []
    admin_subjects: list[str] = []
    cloud = intent.cluster.cloud
    for grant in intent.cluster_admins():
        if grant.aws and cloud == "eks":
            admins_cloud.append(grant.aws.principal_arn)
            admin_subjects.append(grant.aws.principal_arn)
            admin_subjects.extend(grant.aws.kubernetes_groups)
        if grant.gcp and cloud == "gke":
            admins_cloud.append(grant.gcp.member)
            admin_subjects.append(grant.gcp.member.split(":", 1)[1])
        if grant.azure and cloud == "aks":
            admins_cloud.append(grant.azure.object_id)
            admin_subjects.append(grant.azure.object_id)
    return {
        "cluster": intent.cluster.name,
        "cloud": intent.cluster.cloud,
        "baselineVersion": intent.baseline_version,
        "minimumBaselineVersion": catalog_minimum(catalog),
        "clusterAdmins": sorted(set(admins_cloud)),
        "clusterAdminSubjects": sorted(set(admin_subjects)),
        "podSecurityVersion": pod_security_version(intent, catalog),
        "allowedRegistries": list(intent.registries.allowed),
        "metadataCidr": intent.network.metadata_cidr,
        "eksSupportType": intent.hardening.upgrades.eks_support_type,
        "namespaceLevels": {ns.name: intent.namespace_level(ns) for ns in intent.namespaces},
        "defaultPodSecurityLevel": intent.pod_security.level,
        "apiWorkloads": sorted(f"{w.namespace}/{w.service_account}" for w in intent.workload_identities if w.needs_api),
        "systemNamespaces": list(intent.system_namespaces),
    }


def pod_security_version(intent: Intent, catalog: Catalog | None = None) -> str:
    """The policy version POD-01..POD-09 judge at: the intent's pin, ``latest`` resolved to the
    cluster's own Kubernetes minor (else the newest the catalog models), a pin newer than the newest
    clamped to it, as the upstream PodSecurity registry does."""
    table = (catalog or load_catalog()).pod_security
    version = intent.pod_security.version
    if table is None:
        return version
    return table.resolve(version, intent.cluster.kubernetes_version)


def catalog_minimum(catalog: Catalog) -> str:
    return str(catalog.baseline_version)


class Evaluator:
    """Compiled catalog + the intent's params, modes and exceptions."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        modes: Mapping[str, Mode] | None = None,
        exceptions: Sequence[Any] = (),
        system_namespaces: Iterable[str] | None = None,
        today: dt.date | None = None,
        cluster: str | None = None,
        intent_hint: str = "judge with the stack's intent",
    ) -> None:
        """``intent_hint``: how the caller's user supplies the intent (``give --stack NAME``), said
        in the findings of targets that need intent parameters the params lack."""
        self.catalog = catalog or load_catalog()
        self.params: dict[str, Any] = dict(params or {})
        self.params.setdefault("minimumBaselineVersion", catalog_minimum(self.catalog))
        self._modes = dict(modes or {})
        self.today = today or dt.date.today()
        self.params.setdefault("today", self.today.isoformat())
        self.exceptions = list(exceptions)
        # without an intent (no cloud known), every cloud's system namespaces: an add-on's namespace
        # is not the platform's on any cloud
        self.system_namespaces = frozenset(
            merged_system_namespaces(None) if system_namespaces is None else system_namespaces
        )
        self.cluster = cluster
        self.intent_hint = intent_hint
        self._by_type: dict[str, list[_Prepared]] = defaultdict(list)
        self._by_kind: dict[tuple[str, str], list[_Prepared]] = defaultdict(list)
        self._stack: list[_Prepared] = []
        self._batches: dict[tuple[int, ...], _Batch] = {}
        self._related: dict[tuple[int, ...], frozenset[str] | None] = {}
        for control in self.catalog:
            if self.mode(control) == "off":
                continue
            for target in control.applicable_targets():
                check = compile_check(
                    target.expression,
                    [(v.name, v.expression) for v in target.variables],
                    where=f"{control.id} target {target.index}",
                )
                prepared = _Prepared(target, control, check, self.mode(control))
                if target.message_expression:
                    prepared.message_program = compile_check(
                        target.message_expression,
                        [(v.name, v.expression) for v in target.variables],
                        where=f"{control.id} target {target.index} messageExpression",
                    ).program
                if target.scope == "stack":
                    self._stack.append(prepared)
                elif target.type:
                    self._by_type[target.type].append(prepared)
                else:
                    for k in target.kinds:
                        self._by_kind[(k.group, k.kind)].append(prepared)

    @classmethod
    def for_intent(
        cls,
        intent: Intent,
        catalog: Catalog | None = None,
        *,
        today: dt.date | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Evaluator:
        catalog = intent_catalog(intent, catalog)
        merged = intent_params(intent, catalog)
        merged.update(params or {})
        return cls(
            catalog,
            params=merged,
            modes={c.id: intent.mode_for(c.id, c.default_mode) for c in catalog},
            exceptions=intent.exceptions,
            system_namespaces=intent.system_namespaces,
            today=today,
            cluster=intent.cluster.name,
        )

    def exception_subjects(self) -> list[Subject]:
        """The intent's exceptions as records (``fleet-baseline:policy:Exception``) for ST-02."""
        return [
            Subject(exception_record(e), type=EXCEPTION_TYPE, name=name, cluster=self.cluster)
            for name, e in zip(exception_names(self.exceptions), self.exceptions, strict=True)
        ]

    def mode(self, control: Control) -> Mode:
        return self._modes.get(control.id, control.default_mode)

    # ------------------------------------------------------------------ per object

    def targets_for(self, subject: Subject) -> list[_Prepared]:
        out: list[_Prepared] = []
        if subject.type and subject.type in self._by_type:
            out.extend(self._by_type[subject.type])
        kk = subject.kube_kind
        if kk is not None and kk in self._by_kind:
            out.extend(self._by_kind[kk])
        return out

    def evaluate(self, subject: Subject) -> list[Finding]:
        """Findings of every object-scoped target that applies to the subject."""
        prepared = self._not_exempt(self.targets_for(subject), subject)
        if not prepared:
            return []
        return self._run(subject, prepared, extra={})

    def evaluate_all(self, subjects: Iterable[Subject], *, place: Placer | None = None) -> list[Finding]:
        """Object-scoped findings of every subject, then the stack-scoped (whole-set) checks.

        Each subject is scanned (its unknowns, a value CEL cannot hold) once for both. ``place``
        gives a subject's findings their (cluster, owner) as they are made (an audit routes every
        finding to a team); by default the subject's cluster, else the evaluator's, and no owner.
        """
        subjects = list(subjects)
        scans = _Scans(subjects)
        findings: list[Finding] = []
        for i, s in enumerate(subjects):
            prepared = self._not_exempt(self.targets_for(s), s)
            if prepared:
                findings.extend(
                    self._run(
                        s,
                        prepared,
                        extra={},
                        unknown_paths=scans.unknowns(i),
                        refused=scans.refusal(i),
                        scanned=True,
                        where=place(s) if place is not None else None,
                    )
                )
        findings.extend(self._evaluate_stack(subjects, scans, place))
        return findings

    def evaluate_stack(self, subjects: Sequence[Subject]) -> list[Finding]:
        """Whole-set checks: per Namespace with the objects in it, per cloud resource with the stack's.

        A Kubernetes stack-scope target sees ``namespaceObjects`` (every object in the namespace the
        Namespace names); a cloud stack-scope target sees ``stackResources`` (every subject as
        ``{type, name, props}``): "this cluster has an OIDC provider or the Pod Identity agent".
        Objects are grouped once and each object's unknowns found once: no quadratic joins. Where a
        check's text shows that only objects of some kinds can decide it (:func:`~baseline.cel.related_kinds`),
        ``namespaceObjects`` holds only those (and any whose kind is unknown or not a string).
        """
        return self._evaluate_stack(subjects, _Scans(subjects))

    def _evaluate_stack(self, subjects: Sequence[Subject], scans: _Scans, place: Placer | None = None) -> list[Finding]:
        if not self._stack:
            return []
        matching: list[tuple[Subject, list[_Prepared]]] = []
        for s in subjects:
            kk = s.kube_kind
            prepared = self._not_exempt(
                [
                    p
                    for p in self._stack
                    if (p.target.type is not None and p.target.type == s.type)
                    or (kk is not None and any((k.group, k.kind) == kk for k in p.target.kinds))
                ],
                s,
            )
            if prepared:
                matching.append((s, prepared))
        if not matching:
            return []
        unknowns = [scans.unknowns(i) for i in range(len(subjects))]
        refusals = [scans.refusal(i) for i in range(len(subjects))]
        by_namespace: dict[str, list[int]] = defaultdict(list)
        # an object whose namespace is unknown until apply may be in any namespace: every Namespace's
        # checks depend on it (as a whole), as a Namespace's own do when its name is unknown
        floating = False
        for i, s in enumerate(subjects):
            if s.kube_kind and s.kube_kind != ("", "Namespace"):
                if _membership_unknown(s):
                    floating = True
                elif s.namespace is not None:
                    by_namespace[s.namespace].append(i)
        stack_resources = [{"type": r.type or "", "name": r.name or "", "props": r.props} for r in subjects]
        all_unknowns = [u for u in unknowns if u]
        findings: list[Finding] = []
        index = {id(s): i for i, s in enumerate(subjects)}
        for s, prepared in matching:
            is_namespace = s.kube_kind == ("", "Namespace")
            own_unknown = is_namespace and _membership_unknown(s)
            members = by_namespace.get(s.object_name or "", []) if is_namespace and not own_unknown else []
            wanted = self._related_kinds(prepared)
            if wanted is not None:  # objects of other kinds cannot decide these checks: not converted for them
                members = [i for i in members if _may_be_of(subjects[i].props.get("kind"), wanted)]
            extra: dict[str, Any] = {"namespaceObjects": [subjects[i].props for i in members]}
            related = [unknowns[i] for i in members if unknowns[i]]
            if is_namespace and (floating or own_unknown):
                related.append(((),))  # which objects are in it is unknown: as if a whole object were
            seen: Sequence[int] = members
            if any(p.target.type for p in prepared):
                extra["stackResources"] = stack_resources
                related = all_unknowns
                seen = range(len(subjects))
            refused = refusals[index[id(s)]] or next(
                (f"{refusals[i]} in {subjects[i].ref}" for i in seen if refusals[i] is not None), None
            )
            findings.extend(
                self._run(
                    s,
                    prepared,
                    extra=extra,
                    related_unknowns=related,
                    unknown_paths=unknowns[index[id(s)]],
                    refused=refused,
                    scanned=True,
                    where=place(s) if place is not None else None,
                )
            )
        return findings

    # ------------------------------------------------------------------ internals

    def _related_kinds(self, prepared: Sequence[_Prepared]) -> frozenset[str] | None:
        """The kinds of ``namespaceObjects`` that can decide any of these checks (None: every kind)."""
        key = tuple(map(id, prepared))
        if key not in self._related:
            kinds: set[str] = set()
            for p in prepared:
                if "namespaceObjects" not in p.check.inlined:
                    continue
                if p.check.related_kinds is None:
                    self._related[key] = None
                    break
                kinds |= p.check.related_kinds
            else:
                self._related[key] = frozenset(kinds)
        return self._related[key]

    def _not_exempt(self, prepared: list[_Prepared], subject: Subject) -> list[_Prepared]:
        """``prepared`` without the controls that exempt system namespaces, for a Kubernetes object in
        one (looked at once per subject, not once per control)."""
        if not prepared or subject.kube_kind is None or subject.namespace not in self.system_namespaces:
            return prepared
        return [p for p in prepared if not p.control.exempts_system_namespaces]

    def _not_judged(self, p: _Prepared) -> list[str]:
        return [k for k in p.target.needs_intent if k not in self.params]

    def _fails_anyway(self, subject: Subject, p: _Prepared) -> bool:
        """Whether the check fails whatever the missing parameters say: ``a && b`` with a false
        operand that reads none of them (an EKS cluster with no upgrade policy at all)."""
        if p.check.junction != "and":
            return False
        missing = self._not_judged(p)
        try:
            activation = new_activation({"object": subject.props, "variables": {"params": self.params}})
        except Exception:  # the runtime refused the object: nothing decided without the intent
            return False
        for operand in p.check.operands:
            if any(f"params.{k}" in operand.inlined for k in missing) or ("variables.params" in operand.inlined and (
                operand.inlined.count("variables.params") != operand.inlined.count("variables.params.")
            )):
                continue
            try:
                verdict, _ = operand.run_activation(activation)
            except Exception:  # an operand the runtime refuses decides nothing
                continue
            if verdict is False:
                return True
        return False

    def _run(
        self,
        subject: Subject,
        prepared: list[_Prepared],
        extra: Mapping[str, Any],
        related_unknowns: Sequence[tuple[tuple[str, ...], ...]] = (),
        unknown_paths: tuple[tuple[str, ...], ...] | None = None,
        refused: str | None = None,
        scanned: bool = False,
        where: tuple[str | None, str | None] | None = None,
    ) -> list[Finding]:
        """``scanned``: the caller found ``unknown_paths`` and ``refused`` (None: nothing) already;
        ``where``: the findings' (cluster, owner), as :meth:`evaluate_all` places them."""
        if unknown_paths is None:
            unknown_paths = find_unknown_paths(subject.props)
        if refused is None and not scanned:
            refused = unconvertible(subject.props)
        if refused is not None:  # the runtime would quote the whole object at every level: not handed to it
            why = f"could not evaluate: {refused}"
            return [self._finding(subject, p, "unknown", detail=why, where=where) for p in prepared]
        type_label = subject.type_label
        if not unknown_paths and not related_unknowns and len(prepared) > 1:
            verdicts, batch_activation = self._run_batch(subject, prepared, extra)
            if verdicts is not None:
                said = _Said(subject, self.params, extra, batch_activation)
                return [
                    self._finding(
                        subject,
                        p,
                        "pass" if verdict else "fail",
                        type_label=type_label,
                        where=where,
                        message=None if verdict else said(p),
                    )
                    for p, verdict in zip(prepared, verdicts, strict=True)
                ]
        activation = None
        findings = []
        for p in prepared:
            hits = unknown_hits(unknown_paths, p.check.paths, p.check.presence) if unknown_paths else []
            if p.check.reads_related and related_unknowns:
                hits += related_unknown_hits(related_unknowns, p.check.field_names, p.check.iterated_names)
            if hits:
                decided = None
                try:
                    if activation is None:
                        activation = new_activation(
                            {"object": subject.props, "variables": {"params": self.params}, **extra}
                        )
                    decided = _short_circuit(p.check, unknown_paths, related_unknowns, activation)
                except Exception:  # the runtime refused the object: stays unknown
                    decided = None
                status: Status = "unknown" if decided is None else "pass" if decided else "fail"
                unknown = tuple(hits) if decided is None else ()
                findings.append(self._finding(subject, p, status, unknown=unknown, type_label=type_label, where=where))
                continue
            try:
                if activation is None:
                    activation = new_activation(
                        {"object": subject.props, "variables": {"params": self.params}, **extra}
                    )
                verdict, error = p.check.run_activation(activation)
            except Exception as exc:  # the runtime refused the object (e.g. an unsupported value type)
                verdict, error = None, f"could not evaluate: {type(exc).__name__}: {exc}"
            status = "unknown" if verdict is None else "pass" if verdict else "fail"
            detail = error if verdict is None else None
            message = _message_from(p, activation) if status == "fail" else None
            findings.append(
                self._finding(subject, p, status, detail=detail, type_label=type_label, where=where, message=message)
            )
        return findings

    def _unjudged_finding(
        self, subject: Subject, p: _Prepared, where: tuple[str | None, str | None] | None
    ) -> Finding:
        missing = self._not_judged(p)
        control = p.control
        return Finding(
            control.id,
            p.policy_name,
            control.title,
            control.severity,
            p.mode,
            NOT_JUDGED,
            subject.ref,
            subject.type_label,
            f"not judged: {control.id} needs the intent ({', '.join(missing)}): {self.intent_hint}",
            p.target.remediation or control.remediation,
            where[0] if where is not None else subject.cluster or self.cluster,
            subject.namespace,
            None,
            (),
            None,
            where[1] if where is not None else None,
        )

    def _run_batch(
        self, subject: Subject, prepared: list[_Prepared], extra: Mapping[str, Any]
    ) -> tuple[list[bool] | None, Any]:
        """Every target's verdict from one evaluation (:class:`~baseline.cel.BatchCheck`), or None:
        then each target is evaluated alone, which decides errors and non-boolean results exactly.
        The activation it made comes too (None if none): failures' messages are read from it."""
        key = tuple(map(id, prepared))
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = _Batch(compile_batch([p.check for p in prepared]))
        if batch.check is None or not batch.usable():
            return None, None
        batch.tries += 1
        activation = None
        try:
            activation = new_activation({"object": subject.props, "variables": {"params": self.params}, **extra})
            verdicts = batch.check.run_activation(activation)
        except Exception:  # the runtime refused the object: the targets alone say how
            verdicts = None
        if verdicts is None:
            batch.misses += 1
        return verdicts, activation

    def _finding(
        self,
        subject: Subject,
        p: _Prepared,
        status: Status,
        unknown: tuple[str, ...] = (),
        detail: str | None = None,
        type_label: str | None = None,
        where: tuple[str | None, str | None] | None = None,
        message: str | None = None,
    ) -> Finding:
        """``where``: the finding's (cluster, owner); by default the subject's cluster (else the
        evaluator's) and no owner. ``message``: a failure's own text (the target's messageExpression)."""
        if status != "pass" and p.target.needs_intent and self._not_judged(p) and not self._fails_anyway(subject, p):
            # a failure (or an error) for want of the intent's parameters is no verdict at all
            return self._unjudged_finding(subject, p, where)
        exception = None
        if status != "pass":
            exception = match_exception(self.exceptions, p.control.id, subject, self.today)
            if exception is not None:
                status = "excepted"
        if status == "unknown":
            message = f"cannot decide {p.control.id} yet: " + (
                f"{', '.join(unknown)} unknown until apply" if unknown else f"evaluation error: {detail}"
            )
        elif message is None:
            message = p.target.message
        control = p.control
        return Finding(
            control.id,
            p.policy_name,
            control.title,
            control.severity,
            p.mode,
            status,
            subject.ref,
            subject.type_label if type_label is None else type_label,
            message,
            p.target.remediation or control.remediation,
            where[0] if where is not None else subject.cluster or self.cluster,
            subject.namespace,
            exception,
            unknown,
            detail,
            where[1] if where is not None else None,
        )


def _message_from(p: _Prepared, activation: Any) -> str | None:
    """The failure's text from the target's messageExpression, or None (its fixed message) when it
    has none, errs, or gives no non-empty string, as the admission engines fall back."""
    if p.message_program is None or activation is None:
        return None
    try:
        result = p.message_program.eval(activation)
    except Exception:  # the runtime refused: the fixed message
        return None
    if result.type() != cel.Type.STRING:
        return None
    text = " ".join(str(result.value()).split())
    return text or None


class _Said:
    """Failures' texts for one subject, with one activation made on the first failure that needs one."""

    __slots__ = ("_activation", "_data")

    def __init__(
        self, subject: Subject, params: Mapping[str, Any], extra: Mapping[str, Any], activation: Any = None
    ) -> None:
        self._data = {"object": subject.props, "variables": {"params": params}, **extra}
        self._activation: Any = activation

    def __call__(self, p: _Prepared) -> str | None:
        if p.message_program is None:
            return None
        if self._activation is None:
            try:
                self._activation = new_activation(self._data)
            except Exception:  # the runtime refused the object: the fixed message
                return None
        return _message_from(p, self._activation)


_UNSCANNED: Any = object()


class _Scans:
    """Each subject's unknown paths and the value CEL cannot hold in it, found once, when first asked."""

    __slots__ = ("_refusals", "_subjects", "_unknowns")

    def __init__(self, subjects: Sequence[Subject]) -> None:
        self._subjects = subjects
        self._unknowns: list[tuple[tuple[str, ...], ...] | None] = [None] * len(subjects)
        self._refusals: list[Any] = [_UNSCANNED] * len(subjects)

    def unknowns(self, i: int) -> tuple[tuple[str, ...], ...]:
        found = self._unknowns[i]
        if found is None:
            subject = self._subjects[i]
            found = self._unknowns[i] = () if subject.plain else find_unknown_paths(subject.props)
        return found

    def refusal(self, i: int) -> str | None:
        refused = self._refusals[i]
        if refused is _UNSCANNED:
            subject = self._subjects[i]
            refused = self._refusals[i] = None if subject.plain else unconvertible(subject.props)
        return refused  # type: ignore[no-any-return]


def _may_be_of(kind: Any, kinds: frozenset[str]) -> bool:
    """Whether an object whose ``kind`` is this may be of one of ``kinds``: yes unless it is plainly
    another (a string, not an unknown sentinel, not among them)."""
    return not isinstance(kind, str) or kind in kinds or is_unknown(kind)


def _membership_unknown(subject: Subject) -> bool:
    """Whether the namespace a Kubernetes object is in (a Namespace: its name) is unknown until apply."""
    md = subject.props.get("metadata")
    if is_unknown(md):
        return True
    key = "name" if subject.kube_kind == ("", "Namespace") else "namespace"
    return isinstance(md, Mapping) and is_unknown(md.get(key))


def _short_circuit(
    check: CompiledCheck,
    unknown_paths: Sequence[tuple[str, ...]],
    related_unknowns: Sequence[tuple[tuple[str, ...], ...]],
    activation: Any,
) -> bool | None:
    """Decide an expression that reads an unknown from an operand that reads none, as CEL would.

    ``a || b`` is true when a known operand is true, ``a && b`` false when a known operand is
    false, whatever the unknown turns out to be (CEL's logical operators are commutative and
    absorb errors and unknowns this way). Anything else stays undecided: never a guess.
    """
    if not check.junction:
        return None
    for operand in check.operands:
        if unknown_hits(unknown_paths, operand.paths, operand.presence):
            continue
        if (
            operand.reads_related
            and related_unknowns
            and related_unknown_hits(related_unknowns, operand.field_names, operand.iterated_names)
        ):
            continue
        try:
            verdict, _ = operand.run_activation(activation)
        except Exception:  # an operand the runtime refuses decides nothing
            continue
        if check.junction == "or" and verdict is True:
            return True
        if check.junction == "and" and verdict is False:
            return False
    return None


def worst(findings: Iterable[Finding]) -> str | None:
    """The highest severity among failing findings, or None."""
    sev = [f.severity for f in findings if f.status == "fail"]
    return max(sev, key=lambda s: SEVERITY_ORDER[s]) if sev else None


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> Summary:
        s = cls()
        for f in findings:
            s.counts[f.status] = s.counts.get(f.status, 0) + 1
        return s
