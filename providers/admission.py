"""In-cluster admission policies rendered from the catalog, for the engine the intent selects.

Pure functions: an :class:`~baseline.intent.Intent` and the catalog in, Kubernetes manifests (plain
dicts) out. No Pulumi resources, no config or environment reads; the in-cluster component registers
what :func:`render_admission` returns. Nothing here restates a rule: every validation is a catalog
target's CEL, verbatim, with the target's variables in order. The same text runs in all three
engines because all three evaluate CEL with the ValidatingAdmissionPolicy environment (``object``,
``variables``):

* ``vap``: ``admissionregistration.k8s.io/v1`` ValidatingAdmissionPolicy + Binding (GA in 1.30).
  The intent's parameters are a ``params`` variable holding a CEL literal map, so no parameter
  resource (paramKind/paramRef) has to exist for a policy to work.
* ``kyverno``: Kyverno's CEL ``policies.kyverno.io/v1`` ValidatingPolicy (same shape as VAP plus
  Kyverno's knobs: background scans, autogen), exceptions as ``policies.kyverno.io/v1``
  PolicyException, the exception kind that CEL policies honour (``kyverno.io`` PolicyException is
  for the legacy ClusterPolicy rules).
* ``gatekeeper``: a ``templates.gatekeeper.sh/v1`` ConstraintTemplate whose code is the
  ``K8sNativeValidation`` (CEL) engine, plus its Constraint. Gatekeeper binds
  ``variables.params`` to the Constraint's ``spec.parameters`` itself, so the template declares the
  parameters' schema instead of a ``params`` variable.

One policy is rendered per (control, admission target): each target has its own kinds and its own
variables (two targets may define the same variable name differently), so a separate policy is
the only way to make each expression run on exactly its kinds. Names are
``fleet-baseline-<policy_name>``, with ``-<target index>`` when a control has several admission
targets.

Which targets are admission targets: Kubernetes-kind targets with ``scope: object``. Cloud targets
are judged at preview by the CrossGuard pack, and ``scope: stack`` targets need every object of a
namespace at once, which no admission request carries (:func:`is_admission_enforced`).

System namespaces (the catalog's list for the cloud, plus and minus the intent's, plus the engine's
own namespace: ``Intent.system_namespaces``) are excluded from the controls that exempt them (NS, POD,
ST, or ``systemNamespaces: exempt`` in the control file) by one mechanism per engine, computed from
that one list, never per control. Every policy also carries the same match conditions first: the
control plane's own requests are never judged (:func:`baseline.system_namespaces.control_plane_expression`),
and a control with ``admission.updateWhenChanged`` judges an UPDATE only when it changes those labels
(:func:`update_condition`). Exceptions in force on ``today`` are rendered natively per engine, each
holder annotated with its expiry; expired ones are not (ST-02 reports them, in the cluster too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from baseline.catalog import Catalog, Control, KindRef, Target, intent_catalog
from baseline.evaluator import intent_params
from baseline.exceptions import describe_scope, is_expired
from baseline.intent import ExceptionIntent, Intent
from baseline.system_namespaces import CONTROL_PLANE_CONDITION, control_plane_expression

__all__ = [
    "ANNOTATION_CONTROL",
    "ANNOTATION_EXCEPTIONS_EXPIRE",
    "ANNOTATION_EXCEPTION_PREFIX",
    "ANNOTATION_MODE",
    "ANNOTATION_SEVERITY",
    "ANNOTATION_TARGET",
    "ANNOTATION_TITLE",
    "ENGINES",
    "ENGINE_NAMESPACES",
    "GATEKEEPER_TARGET",
    "LABEL_BASELINE_VERSION",
    "LABEL_CONTROL",
    "LABEL_MANAGED_BY",
    "MANAGED_BY",
    "NAMESPACE_NAME_LABEL",
    "OPERATIONS",
    "UPDATE_CONDITION",
    "AdmissionRenderError",
    "Engine",
    "Manifest",
    "active_exceptions",
    "admission_policy_name",
    "admission_targets",
    "cel_literal",
    "exception_guard",
    "gatekeeper_kind",
    "glob_to_regex",
    "is_admission_enforced",
    "not_enforced_reason",
    "params_for",
    "params_used",
    "render_admission",
    "system_namespaces",
    "update_condition",
]

Engine = Literal["vap", "kyverno", "gatekeeper"]
Manifest = dict[str, Any]

ENGINES: tuple[Engine, ...] = get_args(Engine)

#: Where each engine runs when installed with its Helm chart's defaults. The namespace is a system
#: namespace for that engine (excluded from NS/POD controls) and holds Kyverno's PolicyExceptions.
#: VAP runs inside the API server: it has no namespace of its own.
ENGINE_NAMESPACES: Mapping[str, str | None] = {"vap": None, "kyverno": "kyverno", "gatekeeper": "gatekeeper-system"}

#: Admission operations the policies judge. The catalog's expressions read ``object``, which is null
#: on DELETE (and CONNECT carries options, not the object), so only these two can be judged.
OPERATIONS: tuple[str, ...] = ("CREATE", "UPDATE")

#: The label the API server puts on every Namespace (its own name); namespace selectors key on it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

LABEL_BASELINE_VERSION = "fleet-baseline.io/baseline-version"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_CONTROL = "fleet-baseline.io/control"
MANAGED_BY = "fleet-baseline"
ANNOTATION_CONTROL = "fleet-baseline.io/control"
ANNOTATION_SEVERITY = "fleet-baseline.io/severity"
ANNOTATION_TITLE = "fleet-baseline.io/title"
ANNOTATION_TARGET = "fleet-baseline.io/target"
ANNOTATION_MODE = "fleet-baseline.io/mode"
#: Each rendered exception is annotated ``fleet-baseline.io/exception-<id>`` (JSON: scope, owner,
#: reason, expires, ticket) on the object that carries it; the same id names its match condition.
ANNOTATION_EXCEPTION_PREFIX = "fleet-baseline.io/exception-"
#: On every object that holds rendered exceptions: the last day the earliest of them holds
#: (``YYYY-MM-DD``). Plain text, so CEL can compare it (ST-02 in the live audit) and ``kubectl get``
#: can show it; the day after, the object is drift until the component or ``render`` runs again.
ANNOTATION_EXCEPTIONS_EXPIRE = "fleet-baseline.io/exceptions-expire"

GATEKEEPER_TARGET = "admission.k8s.gatekeeper.sh"
#: The name of the match condition that limits a control on UPDATE to requests changing its labels.
UPDATE_CONDITION = "fleet-baseline.io/update-changes-judged-labels"

_VAP_API = "admissionregistration.k8s.io/v1"
_KYVERNO_API = "policies.kyverno.io/v1"
_GATEKEEPER_TEMPLATE_API = "templates.gatekeeper.sh/v1"
_GATEKEEPER_CONSTRAINT_API = "constraints.gatekeeper.sh/v1beta1"
#: Variable names Gatekeeper's K8sNativeValidation reserves (it defines them itself).
_GATEKEEPER_RESERVED = frozenset({"params", "anyObject"})
_GATEKEEPER_RESERVED_PREFIX = "gatekeeper_internal_"
#: ValidatingAdmissionPolicy allows at most 64 match conditions.
_MAX_MATCH_CONDITIONS = 64
#: A ConstraintTemplate's name is its kind in lower case and becomes the plural of a generated CRD,
#: which must be a DNS-1035 label: at most 63 characters.
_MAX_TEMPLATE_NAME = 63

#: The wire schema of the parameters ``intent_params`` produces, declared in each ConstraintTemplate
#: so that Gatekeeper's generated Constraint CRD keeps (does not prune) them. Keys not listed here
#: get a schema inferred from their value.
_PARAM_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    **{
        k: {"type": "string"}
        for k in (
            "cluster",
            "cloud",
            "baselineVersion",
            "minimumBaselineVersion",
            "podSecurityVersion",
            "metadataCidr",
            "eksSupportType",
            "defaultPodSecurityLevel",
        )
    },
    **{
        k: {"type": "array", "items": {"type": "string"}}
        for k in ("clusterAdmins", "clusterAdminSubjects", "allowedRegistries", "apiWorkloads", "systemNamespaces")
    },
    "namespaceLevels": {"type": "object", "additionalProperties": {"type": "string"}},
}


class AdmissionRenderError(ValueError):
    """The catalog or intent cannot be rendered for an engine. The message names the control."""


# --------------------------------------------------------------------------- which targets


def not_enforced_reason(target: Target, control: Control | None = None) -> str | None:
    """Why a target is not enforced at admission, or None when it is.

    The ``controls`` listing shows this beside each target, so a reader sees where the target is
    enforced instead (preview, audit) rather than assuming admission covers it. ``control`` (the
    target's) adds its control file's word: ``admission: {enabled: false}``.
    """
    if control is not None and control.admission is not None and not control.admission.enabled:
        return "its control file keeps it out of admission (it needs the day it runs): judged at preview and in audit"
    if target.not_applicable is not None:
        return f"not applicable on {target.cloud}: {target.not_applicable}"
    if not target.kinds:
        return "a cloud resource: judged at preview/up by the CrossGuard pack, not by in-cluster admission"
    if target.scope != "object":
        return "a whole-namespace (stack-scoped) check: no single admission request carries what it reads"
    return None


def is_admission_enforced(target: Target) -> bool:
    """True when the target is rendered as an admission policy (Kubernetes kinds, ``scope: object``)."""
    return not_enforced_reason(target) is None


def admission_targets(control: Control) -> tuple[Target, ...]:
    """The control's targets that admission enforces, in catalog order (none when its control file
    says ``admission: {enabled: false}``)."""
    if control.admission is not None and not control.admission.enabled:
        return ()
    return tuple(t for t in control.targets if is_admission_enforced(t))


def admission_policy_name(control: Control, target: Target) -> str:
    """The stable object name for one (control, target): ``fleet-baseline-<policy_name>[-<index>]``.

    The index suffix appears only when the control has several admission targets, so the common
    case reads as the control's own name; the index is the target's position in control.yaml.
    """
    base = f"fleet-baseline-{control.policy_name}"
    return base if len(admission_targets(control)) == 1 else f"{base}-{target.index}"


def gatekeeper_kind(name: str) -> str:
    """The Constraint kind for a policy name: CamelCase, whose lower case (the template's name) fits 63."""
    kind = "".join(part[:1].upper() + part[1:] for part in name.split("-") if part)
    if len(kind) > _MAX_TEMPLATE_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        kind = kind[: _MAX_TEMPLATE_NAME - 9] + "X" + digest
    return kind


# --------------------------------------------------------------------------- system namespaces


def system_namespaces(intent: Intent, engine: str) -> tuple[str, ...]:
    """The one shared list NS/POD controls skip: the intent's system namespaces + the engine's own."""
    out = list(dict.fromkeys(intent.system_namespaces))
    own = ENGINE_NAMESPACES.get(engine)
    if own and own not in out:
        out.append(own)
    return tuple(out)


def _is_namespace_kind(kind: KindRef) -> bool:
    return kind.group == "" and kind.kind == "Namespace"


def _namespace_scoped(kinds: Sequence[KindRef]) -> bool:
    """Whether a namespace-based exclusion can apply: namespaced kinds or Namespace objects."""
    return any(k.namespaced or _is_namespace_kind(k) for k in kinds)


# --------------------------------------------------------------------------- params


_PARAMS_REF = re.compile(
    r"(?<![\w.])variables\s*\.\s*params(?![\w])"
    r"(?P<rest>\s*\.\s*\??\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)|\s*\[\s*(?:'(?P<sq>[^'\\]*)'|\"(?P<dq>[^\"\\]*)\")\s*\])?"
)


def params_used(target: Target) -> frozenset[str] | None:
    """The params keys a target's expression and variables read; None when it reads params as a whole.

    ``variables.params.x``, ``variables.params.?x`` and ``variables.params['x']`` name a key; any other
    use (``variables.params[k]``, passing the map along) may read any key, so all are given.
    """
    keys: set[str] = set()
    for text in (target.expression, *(v.expression for v in target.variables)):
        for m in _PARAMS_REF.finditer(text):
            key = m.group("field") or m.group("sq") or m.group("dq")
            if m.group("rest") is None or key is None:
                return None
            keys.add(key)
    return frozenset(keys)


def params_for(target: Target, params: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of the intent's params the target reads, keys sorted (stable output).

    A key the target reads that the intent does not provide is left out rather than invented: the
    catalog's expressions guard optional params with ``has()``, exactly as the evaluator sees them.
    """
    used = params_used(target)
    keys = sorted(params) if used is None else sorted(k for k in used if k in params)
    return {k: params[k] for k in keys}


def cel_literal(value: Any) -> str:
    """A CEL literal for JSON data: JSON syntax, with ``dyn()`` where element types differ.

    JSON is CEL literal syntax for null/bool/int/double/string/list/map, but Kubernetes (and Kyverno,
    and Gatekeeper, which use its CEL environment) type-check with ``HomogeneousAggregateLiterals``:
    a literal map whose values have different types (``{"a": "x", "b": ["y"]}``) is a compile error
    there. Wrapping each element of a mixed list or map in ``dyn()`` makes it homogeneous
    (``map(string, dyn)``) without changing its value. Keys are sorted so the text is stable.
    """
    return _literal(value, "params")[0]


def _literal(value: Any, where: str) -> tuple[str, str]:
    """(CEL text, type signature) of a JSON value."""
    if value is None:
        return "null", "null"
    if isinstance(value, bool):
        return ("true" if value else "false"), "bool"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise AdmissionRenderError(f"{where}: {value} does not fit a CEL int")
        return str(value), "int"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AdmissionRenderError(f"{where}: {value} has no CEL literal")
        return json.dumps(value), "double"
    if isinstance(value, str):
        return _cel_string(value), "string"
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise AdmissionRenderError(f"{where}: map keys must be strings")
        entries = [(_cel_string(k), *_literal(value[k], f"{where}.{k}")) for k in sorted(value)]
        texts, sig = _homogeneous([(t, s) for _, t, s in entries])
        return "{" + ", ".join(f"{k}: {t}" for (k, _, _), t in zip(entries, texts, strict=True)) + "}", f"map({sig})"
    if isinstance(value, list | tuple):
        items = [_literal(v, f"{where}[{i}]") for i, v in enumerate(value)]
        texts, sig = _homogeneous(items)
        return "[" + ", ".join(texts) + "]", f"list({sig})"
    raise AdmissionRenderError(f"{where}: {type(value).__name__} is not JSON data")


def _homogeneous(items: list[tuple[str, str]]) -> tuple[list[str], str]:
    sigs = {s for _, s in items}
    if len(sigs) <= 1:
        return [t for t, _ in items], (next(iter(sigs)) if sigs else "?")
    return [f"dyn({t})" for t, _ in items], "dyn"


def _cel_string(text: str) -> str:
    """A double-quoted CEL string literal (JSON string escapes are CEL escapes too)."""
    return json.dumps(text, ensure_ascii=False)


def _param_schema(key: str, value: Any) -> dict[str, Any]:
    known = _PARAM_SCHEMAS.get(key)
    return json.loads(json.dumps(known)) if known is not None else _infer_schema(value)


def _infer_schema(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list | tuple):
        schemas = {json.dumps(_infer_schema(v), sort_keys=True) for v in value}
        items = json.loads(schemas.pop()) if len(schemas) == 1 else {"x-kubernetes-preserve-unknown-fields": True}
        return {"type": "array", "items": items}
    if isinstance(value, Mapping):
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {"x-kubernetes-preserve-unknown-fields": True}


# --------------------------------------------------------------------------- exceptions


def active_exceptions(intent: Intent, today: dt.date) -> list[ExceptionIntent]:
    """The intent's exceptions still in force on ``today`` (``expires`` is the last day that holds)."""
    return [e for e in intent.exceptions if not is_expired(e, today)]


def glob_to_regex(glob: str) -> str:
    """An anchored RE2 regex matching exactly what ``fnmatch.fnmatchcase(name, glob)`` matches.

    ``*`` any run, ``?`` one character, ``[seq]`` / ``[!seq]`` a class; everything else literal. The
    evaluator matches exception name globs with fnmatch; admission engines only have ``matches()``.
    """
    out = ["^"]
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(r"\[")
                continue
            body = glob[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = body.replace("\\", r"\\").replace("[", r"\[").replace("]", r"\]").replace("^", r"\^")
            out.append(("[^" if negate else "[") + body + "]")
        elif c in r"\.+*?()|[]{}^$":
            out.append("\\" + c)
        else:
            out.append(c)
    out.append("$")
    return "".join(out)


def _namespace_expr(kinds: Sequence[KindRef]) -> str | None:
    """CEL for "the namespace the object is in, or is": None when no kind can be in one."""
    has_ns_object = any(_is_namespace_kind(k) for k in kinds)
    has_namespaced = any(k.namespaced for k in kinds)
    if has_ns_object and has_namespaced:
        return (
            '(object.apiVersion == "v1" && object.kind == "Namespace" ? object.metadata.name : '
            '(has(object.metadata.namespace) ? object.metadata.namespace : ""))'
        )
    if has_ns_object:
        return "object.metadata.name"
    if has_namespaced:
        return '(has(object.metadata.namespace) ? object.metadata.namespace : "")'
    return None


def exception_guard(exc: ExceptionIntent, kinds: Sequence[KindRef]) -> str | None:
    """CEL that is true exactly for the objects of ``kinds`` the exception covers; None if it can't.

    The same coverage as :func:`baseline.exceptions.scope_covers`: the whole cluster; a namespace
    (for a Namespace object, the namespace it is); an object-name glob, optionally within a
    namespace. A namespace-scoped exception covers nothing of cluster-scoped kinds: None.
    """
    scope = exc.scope
    if scope.cluster:
        return "true"
    parts: list[str] = []
    if scope.namespace is not None:
        ns_expr = _namespace_expr(kinds)
        if ns_expr is None:
            return None
        parts.append(f"{ns_expr} == {_cel_string(scope.namespace)}")
    if scope.object_name is not None:
        glob = scope.object_name
        if any(ch in glob for ch in "*?["):
            test = f"object.metadata.name.matches({_cel_string(glob_to_regex(glob))})"
        else:
            test = f"object.metadata.name == {_cel_string(glob)}"
        parts.append(f"has(object.metadata.name) && {test}")
    return " && ".join(parts)


@dataclass(frozen=True, slots=True)
class _Exception:
    """One exception as rendered for one policy."""

    source: ExceptionIntent
    key: str  # fleet-baseline.io/exception-<id>: the annotation key and match-condition name
    guard: str
    namespace_only: str | None  # the namespace, when the scope is exactly one namespace

    @property
    def annotation(self) -> tuple[str, str]:
        e = self.source
        value: dict[str, Any] = {
            "control": e.control,
            "scope": describe_scope(e),
            "owner": e.owner,
            "reason": e.reason,
            "expires": e.expires.isoformat(),
        }
        if e.ticket:
            value["ticket"] = e.ticket
        return self.key, json.dumps(value, sort_keys=True, ensure_ascii=False)

    @property
    def exclusion_condition(self) -> dict[str, str]:
        """A match condition that lets the policy skip what the exception covers."""
        return {"name": self.key, "expression": f"!({self.guard})"}


def _exception_id(exc: ExceptionIntent) -> str:
    """Stable across reordering of the intent's list: derived from the control and the scope."""
    return hashlib.sha256(f"{exc.control}|{describe_scope(exc)}".encode()).hexdigest()[:10]


def _exceptions_for(control: Control, target: Target, active: Iterable[ExceptionIntent]) -> tuple[_Exception, ...]:
    out: dict[str, _Exception] = {}
    for exc in active:
        if exc.control != control.id:
            continue
        guard = exception_guard(exc, target.kinds)
        if guard is None:
            continue
        key = ANNOTATION_EXCEPTION_PREFIX + _exception_id(exc)
        if key in out:  # the same control and scope twice: the first, as the evaluator matches it
            continue
        s = exc.scope
        only_ns = s.namespace if (s.namespace is not None and s.object_name is None and not s.cluster) else None
        out[key] = _Exception(exc, key, guard, only_ns)
    return tuple(out.values())


# --------------------------------------------------------------------------- requests judged


def update_condition(keys: Sequence[str]) -> str:
    """CEL over ``request``, ``object`` and ``oldObject``: true unless the request is an UPDATE that
    leaves every label in ``keys`` as it was (a key ending in ``/`` is a prefix).

    A control declaring ``admission.updateWhenChanged`` gets it as a match condition: editing other
    labels or annotations of an existing object (``kubectl label ns default team=x``) is not judged,
    while removing or changing one of its labels is judged as a create is.
    """
    tests = [f"k.startsWith({_cel_string(key)})" if key.endswith("/") else f"k == {_cel_string(key)}" for key in keys]
    judged = " || ".join(tests)
    new = "(has(object.metadata.labels) ? object.metadata.labels : {})"
    old = "(has(oldObject.metadata.labels) ? oldObject.metadata.labels : {})"
    unchanged = (
        f"{new}.all(k, !({judged}) || (k in {old} && {old}[k] == {new}[k])) && "
        f"{old}.all(k, !({judged}) || k in {new})"
    )
    return f"request.operation != 'UPDATE' || oldObject == null || !({unchanged})"


def _request_conditions(control: Control) -> list[dict[str, str]]:
    """The match conditions every engine puts before a control's exceptions: the control plane's own
    requests are never judged; a control limited on UPDATE judges only changes to its labels."""
    out = [{"name": CONTROL_PLANE_CONDITION, "expression": control_plane_expression()}]
    if control.admission is not None and control.admission.update_when_changed:
        out.append({"name": UPDATE_CONDITION, "expression": update_condition(control.admission.update_when_changed)})
    return out


# --------------------------------------------------------------------------- one unit of rendering


@dataclass(frozen=True, slots=True)
class _Unit:
    """Everything one (control, target) policy needs, decided once for every engine."""

    control: Control
    target: Target
    name: str
    mode: Literal["audit", "enforce"]
    params: dict[str, Any]
    excluded_namespaces: tuple[str, ...]  # system namespaces, when the control exempts them
    exceptions: tuple[_Exception, ...]
    baseline_version: str
    request_conditions: tuple[dict[str, str], ...] = ()

    def labels(self) -> dict[str, str]:
        return {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_BASELINE_VERSION: self.baseline_version,
            LABEL_CONTROL: self.control.id,
        }

    def annotations(self, exceptions: Iterable[_Exception] = ()) -> dict[str, str]:
        out = {
            ANNOTATION_CONTROL: self.control.id,
            ANNOTATION_SEVERITY: self.control.severity,
            ANNOTATION_TITLE: self.control.title,
            ANNOTATION_TARGET: self.target.key,
            ANNOTATION_MODE: self.mode,
        }
        held = list(exceptions)
        out.update(e.annotation for e in held)
        if held:
            out[ANNOTATION_EXCEPTIONS_EXPIRE] = min(e.source.expires for e in held).isoformat()
        return out

    def metadata(self, name: str | None = None, exceptions: Iterable[_Exception] = ()) -> dict[str, Any]:
        return {"name": name or self.name, "labels": self.labels(), "annotations": self.annotations(exceptions)}

    def target_variables(self) -> list[dict[str, str]]:
        return [{"name": v.name, "expression": v.expression} for v in self.target.variables]

    def variables_with_params(self) -> list[dict[str, str]]:
        return [{"name": "params", "expression": cel_literal(self.params)}, *self.target_variables()]

    def validations(self) -> list[dict[str, str]]:
        """The check, its fixed message, and its messageExpression when the target has one: VAP,
        Kyverno's ValidatingPolicy and Gatekeeper's K8sNativeValidation all take the field (the fixed
        message stays as the fallback they use when the expression errs), so every engine says the
        text the evaluator says."""
        validation = {"expression": self.target.expression, "message": self.target.message}
        if self.target.message_expression:
            validation["messageExpression"] = self.target.message_expression
        return [validation]

    def validation_actions(self) -> list[str]:
        return ["Deny"] if self.mode == "enforce" else ["Audit", "Warn"]

    def match_constraints(self) -> dict[str, Any]:
        """VAP/Kyverno matchConstraints: the kinds, CREATE/UPDATE, minus the system namespaces.

        Namespaced objects are excluded through a namespaceSelector on the label the API server
        sets on every Namespace; a Namespace object is matched against its own labels by the same
        selector and, so as not to rest on a label alone, is also excluded by name.
        """
        match: dict[str, Any] = {"resourceRules": _resource_rules(self.target.kinds)}
        if self.excluded_namespaces and _namespace_scoped(self.target.kinds):
            match["namespaceSelector"] = {
                "matchExpressions": [
                    {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": list(self.excluded_namespaces)}
                ]
            }
        if self.excluded_namespaces and any(_is_namespace_kind(k) for k in self.target.kinds):
            match["excludeResourceRules"] = [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": list(OPERATIONS),
                    "resources": ["namespaces"],
                    "resourceNames": list(self.excluded_namespaces),
                }
            ]
        return match


def _resource_rules(kinds: Sequence[KindRef]) -> list[dict[str, Any]]:
    """One rule per (group, version), resources in catalog order.

    Pods also match the ``pods/ephemeralcontainers`` subresource: ``kubectl debug`` adds containers
    through it (the request's object is the whole Pod), and the catalog's container checks cover
    ephemeral containers, as the PodSecurity admission plugin does.
    """
    grouped: dict[tuple[str, str], list[str]] = {}
    for k in kinds:
        resources = grouped.setdefault((k.group, k.version), [])
        for r in (k.plural, "pods/ephemeralcontainers") if (k.group, k.plural) == ("", "pods") else (k.plural,):
            if r not in resources:
                resources.append(r)
    return [
        {"apiGroups": [group], "apiVersions": [version], "operations": list(OPERATIONS), "resources": resources}
        for (group, version), resources in grouped.items()
    ]


def _units(intent: Intent, catalog: Catalog, engine: str, today: dt.date) -> list[_Unit]:
    params = intent_params(intent, catalog)
    system = system_namespaces(intent, engine)
    active = active_exceptions(intent, today)
    units: list[_Unit] = []
    for control in catalog:
        mode = intent.mode_for(control.id, control.default_mode)
        if mode == "off":
            continue
        if mode == "enforce" and control.admission is not None and control.admission.max_action == "warn":
            mode = "audit"  # never a Deny at admission (the control's own data says why)
        conditions = tuple(_request_conditions(control))
        for target in admission_targets(control):
            units.append(
                _Unit(
                    control=control,
                    target=target,
                    name=admission_policy_name(control, target),
                    mode=mode,
                    params=params_for(target, params),
                    excluded_namespaces=system if control.exempts_system_namespaces else (),
                    exceptions=_exceptions_for(control, target, active),
                    baseline_version=intent.baseline_version,
                    request_conditions=conditions,
                )
            )
    return units


# --------------------------------------------------------------------------- engines


def _render_vap(unit: _Unit) -> list[Manifest]:
    """ValidatingAdmissionPolicy + Binding. Exceptions: one match condition each, on the policy.

    Match conditions can say everything an exception scope says (namespace, name glob, both, the
    whole cluster) with the same CEL the other engines use; binding matchResources cannot express
    name globs. The binding carries only the actions.
    """
    conditions = [*unit.request_conditions, *(e.exclusion_condition for e in unit.exceptions)]
    _check_match_conditions(unit, conditions)
    spec: dict[str, Any] = {"failurePolicy": "Fail", "matchConstraints": unit.match_constraints()}
    spec["matchConditions"] = conditions
    spec["variables"] = unit.variables_with_params()
    spec["validations"] = unit.validations()
    policy = {
        "apiVersion": _VAP_API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": unit.metadata(exceptions=unit.exceptions),
        "spec": spec,
    }
    binding = {
        "apiVersion": _VAP_API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": unit.metadata(),
        "spec": {"policyName": unit.name, "validationActions": unit.validation_actions()},
    }
    return [policy, binding]


def _check_match_conditions(unit: _Unit, conditions: Sequence[Mapping[str, str]]) -> None:
    if len(conditions) > _MAX_MATCH_CONDITIONS:
        raise AdmissionRenderError(
            f"{unit.control.id}: {len(unit.exceptions)} exceptions and {len(unit.request_conditions)} request "
            f"conditions exceed the {_MAX_MATCH_CONDITIONS} match conditions a policy allows; merge the "
            "exceptions (a namespace, or a broader glob)"
        )


def _kyverno_exception_expiry(expires: dt.date) -> str:
    """Kyverno's ``expiresAt``: the start (UTC) of the day after the last day the exception holds."""
    return f"{(expires + dt.timedelta(days=1)).isoformat()}T00:00:00Z"


def _render_kyverno(unit: _Unit) -> list[Manifest]:
    """A CEL ValidatingPolicy, and one policies.kyverno.io PolicyException per exception.

    Background scans are on in both modes: the expressions read only ``object`` and ``variables``,
    so they are valid outside an admission request, and objects that predate the policy get reported.
    Autogen is off (controllers: []): the catalog already names every workload kind and finds the
    pod template itself, and autogen would rewrite ``object.spec`` paths under the catalog's feet.
    A webhook outage must not block requests for a control that only reports, so audit-mode
    policies fail open; enforced ones fail closed, as VAP does.
    """
    policy = {
        "apiVersion": _KYVERNO_API,
        "kind": "ValidatingPolicy",
        "metadata": unit.metadata(),
        "spec": {
            "validationActions": unit.validation_actions(),
            "failurePolicy": "Fail" if unit.mode == "enforce" else "Ignore",
            "evaluation": {"admission": {"enabled": True}, "background": {"enabled": True}},
            "autogen": {"podControllers": {"controllers": []}, "validatingAdmissionPolicy": {"enabled": False}},
            "matchConstraints": unit.match_constraints(),
            "matchConditions": list(unit.request_conditions),
            "variables": unit.variables_with_params(),
            "validations": unit.validations(),
        },
    }
    _check_match_conditions(unit, unit.request_conditions)
    out: list[Manifest] = [policy]
    namespace = ENGINE_NAMESPACES["kyverno"]
    for exc in unit.exceptions:
        e = exc.source
        spec: dict[str, Any] = {"policyRefs": [{"name": unit.name, "kind": "ValidatingPolicy"}]}
        if not e.scope.cluster:
            spec["matchConditions"] = [{"name": "fleet-baseline.io/scope", "expression": exc.guard}]
        spec["expiresAt"] = _kyverno_exception_expiry(e.expires)
        properties = {"owner": e.owner, "reason": e.reason, "expires": e.expires.isoformat()}
        if e.ticket:
            properties["ticket"] = e.ticket
        spec["properties"] = properties
        metadata = unit.metadata(
            name=f"{unit.name}-{exc.key.removeprefix(ANNOTATION_EXCEPTION_PREFIX)}", exceptions=[exc]
        )
        metadata["namespace"] = namespace
        out.append({"apiVersion": _KYVERNO_API, "kind": "PolicyException", "metadata": metadata, "spec": spec})
    return out


def _render_gatekeeper(unit: _Unit) -> list[Manifest]:
    """A K8sNativeValidation ConstraintTemplate and its Constraint.

    System namespaces and namespace-scoped exceptions go to the Constraint's
    ``match.excludedNamespaces`` (Gatekeeper applies it to a Namespace object by its name). Name-glob
    exceptions become match conditions in the template's source, under Gatekeeper's key for them,
    ``matchCondition`` (singular: what its K8sNativeValidation source decoder reads; an unknown key
    would be dropped silently). A match condition also skips requests without an ``object``
    (DELETE, if a cluster turns on Gatekeeper's DELETE validation), where the catalog's expressions
    would error and, failing closed, deny.
    """
    for v in unit.target.variables:
        if v.name in _GATEKEEPER_RESERVED or v.name.startswith(_GATEKEEPER_RESERVED_PREFIX):
            raise AdmissionRenderError(
                f"{unit.control.id} target {unit.target.index}: variable {v.name!r} is reserved by Gatekeeper"
            )
    kind = gatekeeper_kind(unit.name)
    namespace_exceptions = [e for e in unit.exceptions if e.namespace_only is not None]
    cel_exceptions = [e for e in unit.exceptions if e.namespace_only is None]
    excluded = list(unit.excluded_namespaces)
    for e in namespace_exceptions:
        if e.namespace_only is not None and e.namespace_only not in excluded:
            excluded.append(e.namespace_only)
    conditions = [{"name": "fleet-baseline.io/object-present", "expression": "object != null"}]
    conditions += [*unit.request_conditions, *(e.exclusion_condition for e in cel_exceptions)]
    _check_match_conditions(unit, conditions)
    source: dict[str, Any] = {
        "generateVAP": False,
        "failurePolicy": "Fail",
        "matchCondition": conditions,
        "variables": unit.target_variables(),
        "validations": unit.validations(),
    }
    if not source["variables"]:
        del source["variables"]
    schema: dict[str, Any] = {"type": "object"}
    if unit.params:
        schema["properties"] = {k: _param_schema(k, v) for k, v in unit.params.items()}
    template_metadata = unit.metadata(name=kind.lower(), exceptions=cel_exceptions)
    if unit.exceptions:
        # the template is what the live audit can list (each template makes its own Constraint kind):
        # it carries the earliest expiry of the pair's exceptions, its Constraint's included
        template_metadata["annotations"][ANNOTATION_EXCEPTIONS_EXPIRE] = min(
            e.source.expires for e in unit.exceptions
        ).isoformat()
    template = {
        "apiVersion": _GATEKEEPER_TEMPLATE_API,
        "kind": "ConstraintTemplate",
        "metadata": template_metadata,
        "spec": {
            "crd": {"spec": {"names": {"kind": kind}, "validation": {"openAPIV3Schema": schema}}},
            "targets": [
                {
                    "target": GATEKEEPER_TARGET,
                    "operations": list(OPERATIONS),
                    "code": [{"engine": "K8sNativeValidation", "source": source}],
                }
            ],
        },
    }
    match: dict[str, Any] = {"kinds": _gatekeeper_kinds(unit.target.kinds)}
    if excluded:
        match["excludedNamespaces"] = excluded
    constraint = {
        "apiVersion": _GATEKEEPER_CONSTRAINT_API,
        "kind": kind,
        "metadata": unit.metadata(exceptions=namespace_exceptions),
        "spec": {
            "enforcementAction": "deny" if unit.mode == "enforce" else "warn",
            "match": match,
            "parameters": dict(unit.params),
        },
    }
    return [template, constraint]


def _gatekeeper_kinds(kinds: Sequence[KindRef]) -> list[dict[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for k in kinds:
        names = grouped.setdefault(k.group, [])
        if k.kind not in names:
            names.append(k.kind)
    return [{"apiGroups": [group], "kinds": names} for group, names in grouped.items()]


_RENDERERS = {"vap": _render_vap, "kyverno": _render_kyverno, "gatekeeper": _render_gatekeeper}


def render_admission(
    intent: Intent,
    catalog: Catalog | None = None,
    engine: str | None = None,
    today: dt.date | None = None,
) -> list[Manifest]:
    """The admission manifests for the intent: every admission target of every control not ``off``.

    ``engine`` defaults to ``intent.admission.engine``; ``today`` (which exceptions are still in
    force) defaults to the current date, as the evaluator's does. Order is the catalog's (control,
    then target), each unit's objects in dependency order (policy before binding, template before
    constraint, policy before its exceptions): the same inputs give the same list.
    """
    engine = engine or intent.admission.engine
    if engine not in _RENDERERS:
        raise AdmissionRenderError(f"unknown admission engine {engine!r}; expected one of {list(ENGINES)}")
    catalog = intent_catalog(intent, catalog)
    today = today or dt.date.today()
    render = _RENDERERS[engine]
    out: list[Manifest] = []
    for unit in _units(intent, catalog, engine, today):
        out.extend(render(unit))
    names = [(m["apiVersion"], m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in out]
    duplicates = sorted({n for n in names if names.count(n) > 1}, key=str)
    if duplicates:
        raise AdmissionRenderError(f"duplicate object names: {duplicates}")
    return out
