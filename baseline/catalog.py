"""The control catalog: every control defined once, as data.

Each control lives in ``baseline/controls/<ID>/control.yaml`` with pass/fail examples beside it in
``examples/pass/`` and ``examples/fail/`` (checkov-style). Shared pieces (the workload kinds and
where their pod template is, CEL variables such as ``podSpec``, the CIS benchmark editions) are in
``baseline/controls/_library.yaml``. Every enforcement point, the CrossGuard pack, the admission
renderers and the audit of live or exported state, is generated from these definitions.

A target says what a control checks and how:

* ``type: aws:eks/cluster:Cluster``: a cloud resource, by Pulumi type token; the expression sees its
  properties (camelCase wire names) as ``object``.
* ``kinds: [Namespace]`` or ``kinds: workloads``: Kubernetes objects, live or as Pulumi
  ``kubernetes:*`` resources (their inputs are the object). ``workloads`` is the library's list.
* ``scope: stack``: a whole-stack (or whole-cluster) check, evaluated once per object of ``kinds``
  with ``namespaceObjects`` (every object in the namespace the object names) beside it. Written as
  ``namespaceObjects.exists(o, o.kind == 'K' && ...)``, the evaluator hands it only objects of those
  kinds (``baseline.cel.related_kinds``), which changes no result and spares converting the rest.
* ``cloud: aks`` with ``notApplicable: "..."``: an explicit, reported "not on this cloud, covered by".

A target may also carry ``messageExpression`` (CEL giving the failure's text: the offending container,
image, variable or rule; the fixed ``message`` stays the fallback, as in the admission engines) and
``remediation`` (the fix in this target's own terms, a cloud's knobs, instead of the control's), and
``needsIntent`` (the params keys it cannot be judged without: given none, its finding is "not-judged").

Expressions use ``object`` and ``variables.<name>``; ``variables.params`` carries the intent's
parameters. That is the CEL surface ValidatingAdmissionPolicy, Kyverno's ValidatingPolicy and
Gatekeeper's K8sNativeValidation share, so the same text runs in all of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

__all__ = [
    "AREA_NAMES",
    "CONTROLS_DIR",
    "CUSTOM_ID",
    "AdmissionSettings",
    "Catalog",
    "CatalogError",
    "CisRef",
    "Control",
    "Example",
    "KindRef",
    "PodSecurityVersions",
    "References",
    "Severity",
    "Target",
    "Variable",
    "intent_catalog",
    "load_catalog",
    "pod_security_variables",
]

CONTROLS_DIR = Path(__file__).parent / "controls"

Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
AREA_NAMES = {"CL": "cluster", "NS": "namespace", "RB": "rbac", "POD": "workload", "ST": "stack", "X": "custom"}
_ID = re.compile(r"^(CL|NS|RB|POD|ST)-\d{2}$")
#: An organisation's own control: ``X-<NAME>-NN`` (``X-ACME-01``). The ``X-`` prefix keeps every custom id
#: apart from the built-in areas, today's and any added later, so a custom control never shadows one.
CUSTOM_ID = re.compile(r"^X-[A-Z][A-Z0-9]{0,11}-\d{2,3}$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TYPE_TOKEN = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9./-]*:[A-Za-z0-9]+$")


class CatalogError(ValueError):
    """A control definition is malformed. The message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    expression: str


@dataclass(frozen=True, slots=True)
class KindRef:
    """A Kubernetes kind, with what admission rules and Pulumi type tokens need."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    #: served only where an add-on is installed (an admission engine's kinds): absent is not a gap
    optional: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def pulumi_type(self) -> str:
        return f"kubernetes:{self.group or 'core'}/{self.version}:{self.kind}"


@dataclass(frozen=True, slots=True)
class Target:
    """One way a control applies: a cloud resource type, Kubernetes kinds, or a stack-wide check."""

    control_id: str
    index: int
    expression: str = ""
    message: str = ""
    type: str | None = None
    kinds: tuple[KindRef, ...] = ()
    cloud: str | None = None
    scope: Literal["object", "stack"] = "object"
    variables: tuple[Variable, ...] = ()
    not_applicable: str | None = None
    #: CEL giving the failure's text (a string) from the object: the offending container, image,
    #: variable or rule. The evaluator, the pack and every admission engine say this one text; an
    #: error or a non-string falls back to ``message``.
    message_expression: str = ""
    #: the fix for this target (a cloud's own knobs), instead of the control's remediation
    remediation: str = ""
    #: intent parameters (``variables.params`` keys) without which the target cannot be judged: when
    #: the evaluator was given none of the intent, its finding is "not-judged", never pass or fail
    needs_intent: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.control_id}#{self.index}"

    @property
    def is_kubernetes(self) -> bool:
        return bool(self.kinds)

    @property
    def describes(self) -> str:
        if self.type:
            return f"stack:{self.type}" if self.scope == "stack" else self.type
        if self.kinds:
            names = ",".join(k.kind for k in self.kinds)
            return f"stack:{names}" if self.scope == "stack" else names
        return f"{self.cloud}: not applicable"


@dataclass(frozen=True, slots=True)
class CisRef:
    benchmark: str
    section: str

    def __str__(self) -> str:
        return f"{self.benchmark} {self.section}"


@dataclass(frozen=True, slots=True)
class References:
    cis: tuple[CisRef, ...] = ()
    kubescape: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    best_practice: bool = False

    def frameworks(self) -> list[str]:
        out = [str(c) for c in self.cis] + list(self.kubescape) + list(self.other)
        return out or (["best practice (no CIS section)"] if self.best_practice else [])


@dataclass(frozen=True, slots=True)
class Example:
    path: Path
    expect: Literal["pass", "fail", "unknown"]
    object: Mapping[str, Any]
    type: str | None
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AdmissionSettings:
    """How a control behaves at admission, beyond its expression (``admission`` in control.yaml).

    * ``maxAction: warn``: never a Deny at admission, whatever the mode (Audit + Warn); the mode
      still applies at preview (CrossGuard) and in the audit. For a control whose objects the
      control plane itself creates (RB-07: the default ServiceAccount of every new namespace).
    * ``updateWhenChanged``: on UPDATE, the control judges only requests that change one of these
      label keys (a key ending in ``/`` is a prefix). Editing other labels or annotations of an
      existing object is never refused for what it already lacked; a change that weakens the
      labels the control reads is judged as a create is.
    """

    max_action: Literal["deny", "warn"] = "deny"
    update_when_changed: tuple[str, ...] = ()
    #: ``enabled: false``: never rendered as an admission policy (a check that needs the day it runs,
    #: ``params.today``, which a rendered policy would freeze)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class PodSecurityVersions:
    """The library's Pod Security Standards table: which policy versions it models, and what changed when.

    ``since``: a bool variable per entry, true from that minor on; ``lists``: a list variable per entry,
    each value with the minor it joined. Versions are minors of Kubernetes 1.x.
    """

    oldest: int
    newest: int
    since: Mapping[str, int] = field(default_factory=dict)
    lists: Mapping[str, tuple[tuple[int, tuple[str, ...]], ...]] = field(default_factory=dict)

    def resolve(self, version: str, cluster_version: str | None = None) -> str:
        """The policy version a pin means: ``latest`` is the cluster's own minor (else the newest);
        a pin newer than the newest is the newest, as the upstream registry clamps it."""
        if version == "latest":
            minor = _minor(f"v{cluster_version}") if cluster_version else None
            minor = self.newest if minor is None else minor
        else:
            parsed = _minor(version)
            if parsed is None:
                raise ValueError(f"{version!r} is not a Pod Security version such as 'v1.33' or 'latest'")
            minor = parsed
        return f"v1.{min(minor, self.newest)}"

    def versions(self) -> list[str]:
        """Every policy version the table models, oldest first."""
        return [f"v1.{m}" for m in range(self.oldest, self.newest + 1)]

    def allows(self, name: str, value: str, minor: int) -> bool:
        """Whether list ``name`` holds ``value`` at ``minor`` (what the generated CEL says)."""
        return any(since <= minor and value in values for since, values in self.lists[name])


def _minor(version: str) -> int | None:
    m = re.fullmatch(r"v1\.(\d+)", version)
    return int(m.group(1)) if m else None


def pod_security_variables(table: PodSecurityVersions) -> dict[str, str]:
    """The CEL library variables made from the table, in dependency order.

    ``podSecurityMinor`` reads ``params.podSecurityVersion`` (``v1.NN``); absent, ``latest`` or newer
    than the newest, it is the newest. Every other variable reads only ``podSecurityMinor``.
    """
    version = "variables.params.podSecurityVersion"
    pinned = f"int({version}.substring(3))"
    out = {
        "podSecurityMinor": (
            f"has({version}) && {version}.matches('^v1[.][0-9]{{1,3}}$') && {pinned} < {table.newest}"
            f" ? {pinned} : {table.newest}"
        )
    }
    for name, since in table.since.items():
        out[name] = f"variables.podSecurityMinor >= {since}"
    for name, entries in table.lists.items():
        parts = []
        for since, values in entries:
            literal = "[" + ", ".join(_cel_quote(v) for v in values) + "]"
            gated = f"(variables.podSecurityMinor >= {since} ? {literal} : [])"
            parts.append(literal if since <= table.oldest else gated)
        out[name] = " + ".join(parts)
    return out


def _cel_quote(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]*", text):
        raise CatalogError(f"podSecurityStandards: {text!r} is not a plain name")
    return f"'{text}'"


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    slug: str
    title: str
    description: str
    severity: Severity
    default_mode: Literal["audit", "enforce"]
    rationale: str
    remediation: str
    references: References
    targets: tuple[Target, ...]
    directory: Path
    tags: tuple[str, ...] = ()
    #: ``systemNamespaces`` in control.yaml: "exempt" or "enforced"; None = the area's default
    system_namespaces: Literal["exempt", "enforced"] | None = None
    #: ``admission`` in control.yaml (see :class:`AdmissionSettings`)
    admission: AdmissionSettings | None = None

    @property
    def area(self) -> str:
        return self.id.split("-")[0]

    @property
    def policy_name(self) -> str:
        """The kebab-case CrossGuard policy name: ``cl-01-secrets-encryption``."""
        return f"{self.id.lower()}-{self.slug}"

    @property
    def exempts_system_namespaces(self) -> bool:
        """Whether the control skips the system namespaces (one shared list), as data.

        ``systemNamespaces: exempt`` or ``enforced`` in control.yaml says it; without it, NS, POD
        and ST controls are exempt and RB and CL controls are not. System namespaces are not made
        by the baseline: judging kube-system's labels or an add-on's DaemonSet would be noise, and
        denying them breaks the add-on. A control that must hold there anyway (RB-06 on
        kube-system/aws-auth, a cluster-admin binding) says ``enforced``.
        """
        if self.system_namespaces is not None:
            return self.system_namespaces == "exempt"
        return self.area in {"NS", "POD", "ST", "X"}  # X: an organisation's own controls

    def applicable_targets(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.not_applicable is None)

    def examples(self) -> Iterator[Example]:
        for expect in ("pass", "fail", "unknown"):
            folder = self.directory / "examples" / expect
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.yaml")):
                yield _load_example(path, expect)


@dataclass(frozen=True)
class Catalog:
    controls: tuple[Control, ...]
    library_variables: Mapping[str, str]
    kinds: Mapping[str, KindRef]
    workload_kinds: tuple[str, ...]
    benchmarks: Mapping[str, str]
    baseline_version: str = "0.0.0"
    pod_security: PodSecurityVersions | None = None
    _by_id: dict[str, Control] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({c.id: c for c in self.controls})

    def ids(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def __getitem__(self, control_id: str) -> Control:
        return self._by_id[control_id]

    def __contains__(self, control_id: object) -> bool:
        return control_id in self._by_id

    def __iter__(self) -> Iterator[Control]:
        return iter(self.controls)

    def __len__(self) -> int:
        return len(self.controls)

    def by_policy_name(self, name: str) -> Control | None:
        for c in self.controls:
            if c.policy_name == name:
                return c
        return None

    def targets(self) -> Iterator[Target]:
        for c in self.controls:
            yield from c.applicable_targets()


# --------------------------------------------------------------------------- loading


def _require(data: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in data:
        raise CatalogError(f"{where}: missing '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise CatalogError(f"{where}: '{key}' must be a non-empty {getattr(kind, '__name__', kind)}")
    return value


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown keys {unknown}")


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: {exc}") from None


def _kind_refs(raw: Any, kinds: Mapping[str, KindRef], workloads: Sequence[str], where: str) -> tuple[KindRef, ...]:
    names: list[str]
    if raw == "workloads":
        names = list(workloads)
    elif isinstance(raw, list) and raw and all(isinstance(k, str) for k in raw):
        names = []
        for k in raw:
            names.extend(workloads if k == "workloads" else [k])
    else:
        raise CatalogError(f"{where}: 'kinds' must be 'workloads' or a list of kind names")
    missing = [n for n in names if n not in kinds]
    if missing:
        raise CatalogError(f"{where}: kinds {missing} are not in the library's kinds table")
    return tuple(kinds[n] for n in names)


def _variables(raw: Any, library: Mapping[str, str], where: str) -> tuple[Variable, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogError(f"{where}: 'variables' must be a list")
    out: list[Variable] = []
    for i, v in enumerate(raw):
        if isinstance(v, str):
            if v not in library:
                raise CatalogError(f"{where}.variables[{i}]: no library variable {v!r}")
            out.append(Variable(v, library[v]))
        elif isinstance(v, Mapping):
            _check_keys(v, {"name", "expression"}, f"{where}.variables[{i}]")
            out.append(Variable(_require(v, "name", where), _require(v, "expression", where)))
        else:
            raise CatalogError(f"{where}.variables[{i}]: a library name or {{name, expression}}")
    names = [v.name for v in out]
    if "params" in names:
        raise CatalogError(f"{where}: 'params' is reserved for the intent's parameters")
    if len(set(names)) != len(names):
        raise CatalogError(f"{where}: duplicate variable names {names}")
    return tuple(out)


def _with_dependencies(variables: tuple[Variable, ...], library: Mapping[str, str]) -> tuple[Variable, ...]:
    """Prepend the library variables that the given ones use, in dependency order."""
    ordered: list[Variable] = []
    seen: set[str] = set()

    def visit(var: Variable, stack: tuple[str, ...]) -> None:
        if var.name in seen:
            return
        if var.name in stack:
            raise CatalogError(f"variable cycle: {' -> '.join((*stack, var.name))}")
        for dep in re.findall(r"\bvariables\.(\w+)", var.expression):
            if dep != "params" and dep in library and dep not in {v.name for v in variables if v is not var}:
                visit(Variable(dep, library[dep]), (*stack, var.name))
        seen.add(var.name)
        ordered.append(var)

    for v in variables:
        visit(v, ())
    return tuple(ordered)


def _load_target(
    raw: Any,
    control_id: str,
    index: int,
    lib: Mapping[str, Any],
    kinds: Mapping[str, KindRef],
    workloads: Sequence[str],
    where: str,
) -> Target:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: each target is a mapping")
    _check_keys(
        raw,
        {
            "type",
            "kinds",
            "cloud",
            "scope",
            "variables",
            "expression",
            "message",
            "messageExpression",
            "remediation",
            "needsIntent",
            "notApplicable",
        },
        where,
    )
    if "notApplicable" in raw:
        cloud = _require(raw, "cloud", where)
        if cloud not in {"eks", "gke", "aks"}:
            raise CatalogError(f"{where}: cloud must be eks, gke or aks")
        return Target(control_id, index, cloud=cloud, not_applicable=_require(raw, "notApplicable", where))
    has_type, has_kinds = "type" in raw, "kinds" in raw
    if has_type == has_kinds:
        raise CatalogError(f"{where}: give exactly one of 'type' (cloud resource) or 'kinds' (Kubernetes)")
    scope = raw.get("scope", "object")
    if scope not in {"object", "stack"}:
        raise CatalogError(f"{where}: scope must be 'object' or 'stack'")
    type_token = None
    cloud = raw.get("cloud")
    if has_type:
        type_token = _require(raw, "type", where)
        if not _TYPE_TOKEN.match(type_token):
            raise CatalogError(f"{where}: {type_token!r} is not a Pulumi type token")
        if cloud is None:
            cloud = {"aws": "eks", "gcp": "gke", "azure-native": "aks"}.get(type_token.split(":")[0])
    library_vars: Mapping[str, str] = lib.get("variables", {})
    variables = _with_dependencies(_variables(raw.get("variables"), library_vars, where), library_vars)
    return Target(
        control_id=control_id,
        index=index,
        expression=_require(raw, "expression", where).strip(),
        message=" ".join(_require(raw, "message", where).split()),
        type=type_token,
        kinds=_kind_refs(raw["kinds"], kinds, workloads, where) if has_kinds else (),
        cloud=cloud,
        scope=scope,
        variables=variables,
        message_expression=str(raw.get("messageExpression") or "").strip(),
        remediation=" ".join(str(raw.get("remediation") or "").split()),
        needs_intent=_needs_intent(raw.get("needsIntent"), where),
    )


def _needs_intent(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(k, str) and re.fullmatch(r"[A-Za-z]\w*", k) for k in raw):
        raise CatalogError(f"{where}: 'needsIntent' is a list of params keys, e.g. [clusterAdmins]")
    return tuple(raw)


def _references(raw: Any, benchmarks: Mapping[str, str], where: str) -> References:
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: 'references' must be a mapping")
    _check_keys(raw, {"cis", "kubescape", "other", "bestPractice"}, where)
    cis: list[CisRef] = []
    for bench, sections in (raw.get("cis") or {}).items():
        if bench not in benchmarks:
            raise CatalogError(f"{where}.cis: unknown benchmark {bench!r}; known: {sorted(benchmarks)}")
        if not isinstance(sections, list):
            raise CatalogError(f"{where}.cis.{bench}: a list of section ids, e.g. [\"5.3.1\"]")
        for sec in sections:
            # an unquoted 4.10 is the float 4.1 in YAML: sections must be quoted strings
            if not isinstance(sec, str) or not re.fullmatch(r"\d+(\.\d+)*(\.x)?", sec):
                raise CatalogError(f"{where}.cis.{bench}: section {sec!r} must be a quoted string like \"4.1.10\"")
            cis.append(CisRef(bench, sec))
    refs = References(
        cis=tuple(cis),
        kubescape=tuple(raw.get("kubescape") or ()),
        other=tuple(raw.get("other") or ()),
        best_practice=bool(raw.get("bestPractice", False)),
    )
    if not refs.cis and not refs.kubescape and not refs.other and not refs.best_practice:
        raise CatalogError(f"{where}: give CIS sections, Kubescape ids, or bestPractice: true")
    return refs


def _load_control(
    path: Path,
    lib: Mapping[str, Any],
    kinds: Mapping[str, KindRef],
    workloads: Sequence[str],
    custom: bool = False,
) -> Control:
    raw = _load_yaml(path)
    where = str(path)
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: a control is a mapping")
    _check_keys(
        raw,
        {
            "id",
            "slug",
            "title",
            "description",
            "severity",
            "defaultMode",
            "rationale",
            "remediation",
            "references",
            "targets",
            "tags",
            "systemNamespaces",
            "admission",
        },
        where,
    )
    cid = _require(raw, "id", where)
    if custom and not CUSTOM_ID.match(cid):
        raise CatalogError(
            f"{where}: id {cid!r}: a custom control's id is X-<NAME>-NN (X-ACME-01), apart from the built-in ones"
        )
    if not custom and not _ID.match(cid):
        raise CatalogError(f"{where}: id {cid!r} is not AREA-NN")
    if path.parent.name != cid:
        raise CatalogError(f"{where}: the folder must be named after the id {cid}")
    slug = _require(raw, "slug", where)
    if not _SLUG.match(slug):
        raise CatalogError(f"{where}: slug {slug!r} must be kebab-case")
    severity = _require(raw, "severity", where)
    if severity not in SEVERITY_ORDER:
        raise CatalogError(f"{where}: severity must be one of {list(SEVERITY_ORDER)}")
    mode = _require(raw, "defaultMode", where)
    if mode not in {"audit", "enforce"}:
        raise CatalogError(f"{where}: defaultMode must be audit or enforce")
    targets_raw = _require(raw, "targets", where, list)
    targets = tuple(
        _load_target(t, cid, i, lib, kinds, workloads, f"{where}: targets[{i}]") for i, t in enumerate(targets_raw)
    )
    description = " ".join(_require(raw, "description", where).split())
    if not description.endswith("."):
        raise CatalogError(f"{where}: description is one sentence ending in '.'")
    return Control(
        id=cid,
        slug=slug,
        title=_require(raw, "title", where),
        description=description,
        severity=severity,
        default_mode=mode,
        rationale=" ".join(_require(raw, "rationale", where).split()),
        remediation=" ".join(_require(raw, "remediation", where).split()),
        references=_references(_require(raw, "references", where, dict), lib.get("benchmarks", {}), where),
        targets=targets,
        directory=path.parent,
        tags=tuple(raw.get("tags") or ()),
        system_namespaces=_system_namespaces_setting(raw.get("systemNamespaces"), where),
        admission=_admission_settings(raw.get("admission"), where),
    )


def _system_namespaces_setting(raw: Any, where: str) -> Literal["exempt", "enforced"] | None:
    if raw is None:
        return None
    if raw not in ("exempt", "enforced"):
        raise CatalogError(f"{where}: systemNamespaces must be 'exempt' or 'enforced'")
    return raw  # type: ignore[no-any-return]


def _admission_settings(raw: Any, where: str) -> AdmissionSettings | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: 'admission' must be a mapping")
    _check_keys(raw, {"maxAction", "updateWhenChanged", "enabled"}, f"{where}: admission")
    action = raw.get("maxAction", "deny")
    if action not in ("deny", "warn"):
        raise CatalogError(f"{where}: admission.maxAction must be 'deny' or 'warn'")
    keys = raw.get("updateWhenChanged") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise CatalogError(f"{where}: admission.updateWhenChanged must be a list of label keys")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise CatalogError(f"{where}: admission.enabled must be true or false")
    return AdmissionSettings(max_action=action, update_when_changed=tuple(keys), enabled=enabled)


def _load_example(path: Path, expect: str) -> Example:
    raw = _load_yaml(path)
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{path}: an example is a mapping")
    if "apiVersion" in raw and "kind" in raw:
        return Example(path, expect, raw, None, {})  # type: ignore[arg-type]
    if "object" in raw:  # a Kubernetes object judged with params of its own (a Pod Security version, say)
        _check_keys(raw, {"object", "params", "description"}, str(path))
        obj = _require(raw, "object", str(path), dict)
        if not ("apiVersion" in obj and "kind" in obj):
            raise CatalogError(f"{path}: 'object' is a Kubernetes object (apiVersion, kind)")
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise CatalogError(f"{path}: 'params' is a mapping")
        return Example(path, expect, obj, None, params)  # type: ignore[arg-type]
    _check_keys(raw, {"type", "properties", "params", "description"}, str(path))
    return Example(
        path,
        expect,  # type: ignore[arg-type]
        _require(raw, "properties", str(path), dict),
        _require(raw, "type", str(path)),
        raw.get("params") or {},
    )


def load_catalog(directory: str | Path | None = None, extra: Sequence[str | Path] = ()) -> Catalog:
    """Load and check the catalog. The shipped catalog is cached; pass a directory for another.

    ``extra``: directories of custom controls (``<DIR>/<ID>/control.yaml`` with ``examples/`` beside, the
    same format and checks as the built-ins, ids ``X-<NAME>-NN``), added after the catalog's own. The
    result for the same directories is cached too.
    """
    if directory is None and not extra:
        return _shipped_catalog()
    base = Path(directory).resolve() if directory is not None else CONTROLS_DIR
    return _cached_catalog(base, tuple(Path(d).resolve() for d in extra))


@functools.cache
def _shipped_catalog() -> Catalog:
    return _load_catalog_from(CONTROLS_DIR)


@functools.lru_cache(maxsize=32)
def _cached_catalog(directory: Path, extra: tuple[Path, ...]) -> Catalog:
    return _load_catalog_from(directory, extra)


class HasCustomControls(Protocol):
    """What :func:`intent_catalog` reads of an intent (``baseline.intent.Intent`` is one); declared
    here so the catalog needs nothing of the intent model, which reads the catalog."""

    @property
    def custom_controls(self) -> Sequence[str]: ...


def intent_catalog(intent: HasCustomControls | None, catalog: Catalog | None = None) -> Catalog:
    """The catalog an intent is judged by: ``catalog`` if given, else the shipped one plus the intent's
    ``customControls`` directories (the shipped one alone without an intent)."""
    if catalog is not None:
        return catalog
    return load_catalog(extra=tuple(intent.custom_controls) if intent is not None else ())


def _load_catalog_from(directory: Path, extra: Sequence[Path] = ()) -> Catalog:
    lib_path = directory / "_library.yaml"
    lib = _load_yaml(lib_path)
    if not isinstance(lib, Mapping):
        raise CatalogError(f"{lib_path}: the library is a mapping")
    _check_keys(
        lib,
        {"baselineVersion", "benchmarks", "kinds", "workloadKinds", "variables", "podSecurityStandards"},
        str(lib_path),
    )
    pod_security = _pod_security_table(lib.get("podSecurityStandards"), f"{lib_path}: podSecurityStandards")
    if pod_security is not None:
        generated = pod_security_variables(pod_security)
        clash = sorted(set(generated) & set(lib.get("variables") or {}))
        if clash:
            raise CatalogError(f"{lib_path}: variables {clash} are made from podSecurityStandards; rename them")
        lib = {**lib, "variables": {**generated, **(lib.get("variables") or {})}}
    kinds = {
        name: KindRef(
            group=spec.get("group", ""),
            version=spec["version"],
            kind=name,
            plural=spec["plural"],
            namespaced=bool(spec["namespaced"]),
            optional=bool(spec.get("optional", False)),
        )
        for name, spec in (lib.get("kinds") or {}).items()
    }
    workloads = tuple(lib.get("workloadKinds") or ())
    controls = []
    for path in sorted(directory.glob("*/control.yaml")):
        controls.append(_load_control(path, lib, kinds, workloads))
    ids = [c.id for c in controls]
    if len(set(ids)) != len(ids):
        raise CatalogError(f"{directory}: duplicate control ids")
    for custom_dir in extra:
        if not custom_dir.is_dir():
            raise CatalogError(f"{custom_dir}: no such directory of custom controls")
        found = sorted(custom_dir.glob("*/control.yaml"))
        if not found:
            raise CatalogError(f"{custom_dir}: no <ID>/control.yaml in this directory of custom controls")
        for path in found:
            control = _load_control(path, lib, kinds, workloads, custom=True)
            if control.id in {c.id for c in controls}:
                raise CatalogError(f"{path}: control {control.id} is already defined in another directory")
            controls.append(control)
    names = [c.policy_name for c in controls]
    if len(set(names)) != len(names):
        raise CatalogError(f"{directory}: duplicate policy names")
    controls.sort(key=_control_sort_key)
    return Catalog(
        controls=tuple(controls),
        library_variables=dict(lib.get("variables") or {}),
        kinds=kinds,
        workload_kinds=workloads,
        benchmarks=dict(lib.get("benchmarks") or {}),
        baseline_version=str(_require(lib, "baselineVersion", str(lib_path))),
        pod_security=pod_security,
    )


def _pod_security_table(raw: Any, where: str) -> PodSecurityVersions | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: a mapping of oldest, newest, since and lists")
    _check_keys(raw, {"oldest", "newest", "since", "lists"}, where)

    def minor(value: Any, at: str) -> int:
        parsed = _minor(value) if isinstance(value, str) else None
        if parsed is None:
            raise CatalogError(f"{where}.{at}: {value!r} is not a quoted version such as \"v1.33\"")
        return parsed

    oldest, newest = minor(raw.get("oldest"), "oldest"), minor(raw.get("newest"), "newest")
    if oldest > newest:
        raise CatalogError(f"{where}: oldest v1.{oldest} is newer than newest v1.{newest}")
    since: dict[str, int] = {}
    for name, version in (raw.get("since") or {}).items():
        since[str(name)] = minor(version, f"since.{name}")
        if since[str(name)] > newest:
            raise CatalogError(f"{where}.since.{name}: newer than newest v1.{newest}")
    lists: dict[str, tuple[tuple[int, tuple[str, ...]], ...]] = {}
    for name, entries in (raw.get("lists") or {}).items():
        if not isinstance(entries, Mapping) or not entries:
            raise CatalogError(f"{where}.lists.{name}: a mapping of version to the names it adds")
        rows = []
        for version, values in entries.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise CatalogError(f"{where}.lists.{name}.{version}: a list of strings")
            for v in values:
                _cel_quote(v)
            rows.append((minor(version, f"lists.{name}.{version}"), tuple(values)))
        lists[str(name)] = tuple(sorted(rows))
    for name in (*since, *lists):
        if not re.fullmatch(r"[a-z][A-Za-z0-9]*", name):
            raise CatalogError(f"{where}: {name!r} is not a CEL variable name")
    return PodSecurityVersions(oldest, newest, since, lists)


_AREA_ORDER = {"CL": 0, "NS": 1, "RB": 2, "POD": 3, "ST": 4, "X": 5}


def _control_sort_key(c: Control) -> tuple[int, str, int]:
    area, *name, num = c.id.split("-")
    return (_AREA_ORDER[area], "-".join(name), int(num))
