"""Build the CrossGuard policies from the control catalog: one definition, no rule restated here.

Every control with object-scope targets becomes one ``ResourceValidationPolicy``; every control with
``scope: stack`` targets becomes one ``StackValidationPolicy`` (a control with both gets a second,
``-stack`` suffixed policy). Name, description, severity, compliance framework, remediation and tags
come from the control; validation is one shared :class:`baseline.evaluator.Evaluator`, so the pack,
``fleet-baseline plan``, the audit and the admission renderers give the same verdict on the same object.

How the pack behaves under the real engine, and why:

**Enforcement levels are decided at pack start, from the stack's intent.** The engine reads each
policy's level from ``GetAnalyzerInfo`` and sends it back, reconciled with ``--policy-pack-config``,
through ``Configure``; the SDK then reports every violation of a policy at that level. A level chosen
inside ``validate`` could not downgrade a MANDATORY violation, so the level has to be right when the
pack starts. The engine starts a Python pack with the stack config in ``PULUMI_CONFIG``, so the pack's
``__main__`` reads the stack's intent there and passes it in: each policy's level is
``intent.mode_for(control)`` (the rollout wave's override, then ``admission.modes``, then the control's
``defaultMode``), mapped enforce → MANDATORY, audit → ADVISORY, off → DISABLED. A pack config entry
(``{"cl-01-…": "advisory"}`` or ``{"all": "mandatory"}``) still overrides it, as CrossGuard users
expect. Because a disabled control can be re-enabled by pack config, the evaluator compiles every
control regardless of mode: the level alone decides what is reported.

**Parameters** (``variables.params`` in the expressions) are, lowest precedence first: the evaluator's
defaults (``minimumBaselineVersion`` = the catalog's ``baselineVersion``, ``today``), the intent's
parameters (:func:`baseline.evaluator.intent_params`), then the policy's own pack config
(``args.get_config()``, e.g. ``{"st-01-baseline-version-current": {"minimumBaselineVersion": "1.2.0"}}``).
Each policy's ``config_schema`` declares the parameters its control reads. With no intent in the stack
config (``pulumi policy publish``, a stack that does not use the baseline), the defaults are
``minimumBaselineVersion`` from the catalog and no cluster admins (fail closed), and violations of
controls that read intent parameters say so. Evaluators are built lazily, once per distinct set of
parameters (in practice one per pack process), and shared by every policy and gRPC worker thread.

**Unknown values.** A finding is ``unknown`` when the object holds a preview-unknown value on a path
the control reads, or when evaluation failed on known data. During preview
(``pulumi.runtime.is_dry_run()``), the first kind raises the SDK's ``UnknownValueError``, which the
SDK turns into the engine's ADVISORY "can't run policy ... during preview": not a pass, and not a
block of a preview that cannot know the value yet. Everything else fails closed and is reported as
a violation at the policy's level: an evaluation error on known data (it would fail the same way at
``up``), and any unknown during ``up`` (when inputs are known, an unknown is not expected).

**Exceptions** from the intent turn a failure into ``excepted``: no violation is reported. CrossGuard
has no "informational" result, and ``not_applicable`` would misstate it (the control applies; it is
waived, with an owner and an expiry). Exceptions in force are visible in the intent, in the stack's
state (ST-02's records) and in ``fleet-baseline plan``.

Nothing here reads the environment or global config: the stack config, the stacks directory and the
preview flag are passed in by ``policy_packs/baseline/__main__.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, _DictProxy, _ListProxy

from baseline.catalog import AREA_NAMES, Catalog, Control, Target, intent_catalog, load_catalog
from baseline.cel import UNKNOWN_SENTINELS
from baseline.evaluator import Evaluator, Finding, Subject, intent_params
from baseline.intent import ExceptionIntent, Intent
from baseline.loader import CONFIG_NAMESPACE, IntentError, intent_from_config
from baseline.system_namespaces import merged_system_namespaces

__all__ = [
    "DEFAULT_SYSTEM_NAMESPACES",
    "ENFORCEMENT_LEVELS",
    "EVALUATOR_PARAMS",
    "PACK_DESCRIPTION",
    "PACK_NAME",
    "PARAM_SCHEMAS",
    "SEVERITIES",
    "STACK_CONFIG_KEYS",
    "STACK_POLICY_SUFFIX",
    "WAVE_SCHEMA",
    "PackRuntime",
    "PackSetup",
    "build_policies",
    "config_schema",
    "control_for_policy",
    "enforcement_level",
    "framework_for",
    "params_read",
    "policy_names",
    "policy_pack_config",
    "setup_from_stack_config",
    "stack_policy_name",
    "unwrap",
]

PACK_NAME = "fleet-baseline"
PACK_DESCRIPTION = (
    "The fleet-baseline Kubernetes security baseline: every control of the catalog, judged on the "
    "stack's cloud and Kubernetes resources before they are created."
)

#: The project's stack config keys the pack reads (``fleet-baseline:intent``, ``fleet-baseline:intentFile``).
STACK_CONFIG_KEYS = ("intent", "intentFile")

#: Suffix of the stack policy of a control that has both object and stack targets.
STACK_POLICY_SUFFIX = "-stack"

ENFORCEMENT_LEVELS: Mapping[str, EnforcementLevel] = {
    "enforce": EnforcementLevel.MANDATORY,
    "audit": EnforcementLevel.ADVISORY,
    "off": EnforcementLevel.DISABLED,
}

SEVERITIES: Mapping[str, Severity] = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}

#: Without an intent (no cloud known): every cloud's system namespaces, from the catalog's data.
DEFAULT_SYSTEM_NAMESPACES = merged_system_namespaces(None)

_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_PSS_LEVEL: dict[str, Any] = {"type": "string", "enum": ["privileged", "baseline", "restricted"]}

#: JSON schemas of the parameters a policy can be configured with: the keys of
#: :func:`baseline.evaluator.intent_params` (a test keeps the two in step). Only ``minimumBaselineVersion``
#: carries a ``default``: the engine fills schema defaults into every ``Configure``, which would
#: otherwise override the stack's own intent. That one is the pack's, not the intent's.
PARAM_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "cluster": {"type": "string", "description": "The cluster's name (intent cluster.name)."},
    "cloud": {"type": "string", "enum": ["eks", "gke", "aks"], "description": "The cluster's cloud."},
    "baselineVersion": {"type": "string", "description": "The baseline version the intent declares."},
    "minimumBaselineVersion": {
        "type": "string",
        "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$",
        "description": "Oldest baseline version a stack may be built from (MAJOR.MINOR.PATCH).",
    },
    "clusterAdmins": {**_STRINGS, "description": "Cloud principals allowed cluster-admin."},
    "clusterAdminSubjects": {**_STRINGS, "description": "Kubernetes subjects allowed cluster-admin."},
    "podSecurityVersion": {"type": "string", "description": "Pinned Pod Security Standards version."},
    "allowedRegistries": {**_STRINGS, "description": "Image registry prefixes workloads may pull from."},
    "metadataCidr": {"type": "string", "description": "The node metadata range egress must not reach."},
    "eksSupportType": {"type": "string", "enum": ["STANDARD", "EXTENDED"], "description": "EKS support."},
    "namespaceLevels": {
        "type": "object",
        "additionalProperties": _PSS_LEVEL,
        "description": "Pod Security level of each namespace of the intent.",
    },
    "defaultPodSecurityLevel": {**_PSS_LEVEL, "description": "Pod Security level of other namespaces."},
    "apiWorkloads": {**_STRINGS, "description": "namespace/serviceAccount pairs that need the API token."},
    "systemNamespaces": {**_STRINGS, "description": "Namespaces excluded from NS and POD controls."},
}

#: Parameters the evaluator itself provides (the evaluation date): never configured.
EVALUATOR_PARAMS = frozenset({"today"})

#: Every policy accepts the rollout wave in its config: ``fleet-baseline pack-config --wave W`` writes
#: it with the matching enforcementLevel; a control that is ``off`` in that wave reports nothing.
WAVE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": ["canary", "early", "broad"],
    "description": "Rollout wave whose modes apply (default: the stack intent's rollout.wave).",
}

#: Parameters the pack has defaults for when no intent is available (the rest come only from an intent).
_PACK_PARAMS = frozenset({"minimumBaselineVersion"})

_PARAM_REF = re.compile(r"variables\.params(?:\.([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_EDITION = re.compile(r"v(\d+(?:\.\d+)+)")


# --------------------------------------------------------------------------- metadata


def enforcement_level(mode: str) -> EnforcementLevel:
    """The CrossGuard level of a control mode: enforce blocks, audit reports, off is not run."""
    return ENFORCEMENT_LEVELS[mode]


def params_read(control: Control, targets: Sequence[Target] | None = None) -> tuple[str, ...]:
    """The ``variables.params`` keys the control's expressions (and their variables) read, sorted."""
    names: set[str] = set()
    for target in control.applicable_targets() if targets is None else targets:
        for text in (target.expression, *(v.expression for v in target.variables)):
            for match in _PARAM_REF.finditer(text):
                names.add(match.group(1) or match.group(2))
    return tuple(sorted(names))


def config_schema(
    control: Control, catalog: Catalog, targets: Sequence[Target] | None = None
) -> PolicyConfigSchema | None:
    """The policy's configurable parameters: the ones its control reads (never the evaluator's own)."""
    properties: dict[str, dict[str, Any]] = {}
    for name in params_read(control, targets):
        if name in EVALUATOR_PARAMS:
            continue
        schema = dict(PARAM_SCHEMAS.get(name, {"description": f"Parameter {name} of {control.id}."}))
        if name == "minimumBaselineVersion":
            schema["default"] = catalog.baseline_version
        properties[name] = schema
    properties["wave"] = dict(WAVE_SCHEMA)
    return PolicyConfigSchema(properties=properties)


def framework_for(control: Control, catalog: Catalog) -> PolicyComplianceFramework:
    """The control's compliance framework: CIS when it has CIS sections, else what it does cite.

    ``reference`` lists the sections as kube-bench names them (``eks 5.3.1, gke 5.3.1``), ``version``
    the benchmark editions, ``specification`` their full titles and any Kubescape control ids.
    """
    refs = control.references
    kubescape = f"Kubescape {', '.join(refs.kubescape)}" if refs.kubescape else None
    if refs.cis:
        benches = list(dict.fromkeys(c.benchmark for c in refs.cis))
        editions = []
        for b in benches:
            m = _EDITION.search(catalog.benchmarks.get(b, ""))
            if m:
                editions.append(f"{b} {m.group(1)}")
        spec = "; ".join(catalog.benchmarks.get(b, b) for b in benches)
        return PolicyComplianceFramework(
            name="CIS",
            version=", ".join(editions) or None,
            reference=", ".join(str(c) for c in refs.cis),
            specification="; ".join(filter(None, [spec, kubescape])),
        )
    if refs.kubescape:
        return PolicyComplianceFramework(name="Kubescape", reference=", ".join(refs.kubescape))
    return PolicyComplianceFramework(
        name=PACK_NAME, version=catalog.baseline_version, reference=", ".join(refs.frameworks())
    )


def control_for_policy(catalog: Catalog, policy_name: str) -> Control | None:
    """The control a policy of this pack was generated from (``-stack`` policies included)."""
    return catalog.by_policy_name(policy_name) or catalog.by_policy_name(policy_name.removesuffix(STACK_POLICY_SUFFIX))


# --------------------------------------------------------------------------- where params come from


@dataclass(frozen=True)
class PackSetup:
    """What the pack knows about the stack when it starts: modes, parameters, exceptions.

    ``intent_problem`` says why there is no intent (unset, or invalid); it is repeated in violations
    of controls that read intent parameters, so a defaulted parameter is never silent.
    """

    catalog: Catalog
    params: Mapping[str, Any]
    modes: Mapping[str, str]
    exceptions: tuple[ExceptionIntent, ...] = ()
    system_namespaces: tuple[str, ...] = DEFAULT_SYSTEM_NAMESPACES
    cluster: str | None = None
    intent_source: str | None = None
    intent_problem: str | None = None
    wave_modes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def without_intent(cls, catalog: Catalog, problem: str) -> PackSetup:
        """Catalog default modes; only the pack's own parameters; nobody is a cluster admin."""
        return cls(
            catalog=catalog,
            params={
                "minimumBaselineVersion": catalog.baseline_version,
                "clusterAdmins": [],
                "clusterAdminSubjects": [],
            },
            modes={c.id: c.default_mode for c in catalog},
            intent_problem=problem,
        )

    @classmethod
    def from_intent(cls, intent: Intent, catalog: Catalog, source: str) -> PackSetup:
        return cls(
            catalog=catalog,
            params=intent_params(intent, catalog),
            modes={c.id: intent.mode_for(c.id, c.default_mode) for c in catalog},
            wave_modes={
                wave: {c.id: intent.mode_for(c.id, c.default_mode, wave) for c in catalog}
                for wave in ("canary", "early", "broad")
            },
            exceptions=tuple(intent.exceptions),
            system_namespaces=tuple(intent.system_namespaces),
            cluster=intent.cluster.name,
            intent_source=source,
        )

    def mode(self, control: Control, wave: str | None = None) -> str:
        """The control's mode, in the configured wave when the policy config names one."""
        if wave is not None and wave in self.wave_modes:
            return self.wave_modes[wave].get(control.id, control.default_mode)
        return self.modes.get(control.id, control.default_mode)

    def off_in_wave(self, control: Control, config: Mapping[str, Any] | None) -> bool:
        wave = (config or {}).get("wave")
        return isinstance(wave, str) and self.mode(control, wave) == "off"


def setup_from_stack_config(
    config: Mapping[str, Any] | None, stacks_dir: str | Path, catalog: Catalog | None = None
) -> PackSetup:
    """The pack's setup from the stack's ``fleet-baseline:*`` config values (prefix stripped).

    ``intentFile`` is relative to ``stacks_dir``, the project's stack config directory, exactly as
    for the program. An invalid or missing intent is not fatal here: the program validates the
    intent before registering anything, so a preview with a bad intent never reaches the pack.
    """
    values = {k: v for k, v in (config or {}).items() if k in STACK_CONFIG_KEYS and v is not None}
    if not values:
        return PackSetup.without_intent(
            catalog or load_catalog(),
            f"no {CONFIG_NAMESPACE}:intent or {CONFIG_NAMESPACE}:intentFile in the stack config",
        )
    try:
        intent = intent_from_config(values, base_dir=stacks_dir, source="stack config")
    except IntentError as exc:
        first = exc.problems[0] if exc.problems else None
        detail = f"{first.path or '(top level)'}: {first.message}" if first else str(exc)
        return PackSetup.without_intent(catalog or load_catalog(), f"the stack's intent is invalid ({detail})")
    # the intent's own controls (customControls) join the built-ins: policies exactly like theirs
    return PackSetup.from_intent(intent, intent_catalog(intent, catalog), source="stack config")


# --------------------------------------------------------------------------- evaluation


def unwrap(value: Any) -> Any:
    """The plain data behind the SDK's unknown-checking proxies (``props["__target"]``, recursively).

    The proxies raise on reading an unknown; the evaluator must see unknowns as values (the wire
    sentinels) to report them as ``unknown`` with their paths. Assets become plain mappings.
    """
    if isinstance(value, _DictProxy):
        return {k: unwrap(v) for k, v in value["__target"].items()}
    if isinstance(value, _ListProxy):
        return [unwrap(v) for v in value["__target"]]
    if isinstance(value, Mapping):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unwrap(v) for v in value]
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": {k: unwrap(v) for k, v in value.assets.items()}}
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {k: getattr(value, k) for k in ("path", "text", "uri") if hasattr(value, k)}
    return value


def _kind_of(props: Any) -> dict[str, Any]:
    """A resource's ``apiVersion`` and ``kind`` as :func:`unwrap` would give them (an unknown as its
    wire sentinel), read from behind the SDK's proxy without copying the rest: enough to tell its kind."""
    target = props["__target"] if isinstance(props, _DictProxy) else props
    if not isinstance(target, Mapping):
        return {}
    return {k: target[k] for k in ("apiVersion", "kind") if k in target}


def _sentinel_at(obj: Any, path: Sequence[str]) -> str:
    """The wire sentinel found under ``path`` (list indices dropped), for the SDK's error message."""
    if isinstance(obj, str) and obj in UNKNOWN_SENTINELS:
        return obj
    if isinstance(obj, Mapping):
        if path and path[0] in obj:
            return _sentinel_at(obj[path[0]], path[1:])
        return UNKNOWN_STRING_VALUE
    if isinstance(obj, list):
        for item in obj:
            found = _sentinel_at(item, path)
            if found != UNKNOWN_STRING_VALUE or item == UNKNOWN_STRING_VALUE:
                return found
    return UNKNOWN_STRING_VALUE


#: resources whose evaluation :class:`PackRuntime` keeps for the next policies' questions about them
_RECENT = 32


class PackRuntime:
    """One per pack process: the setup, the preview flag, and the shared evaluators.

    gRPC runs validations on several threads; evaluators are built under a lock, once per distinct
    set of configured parameters, and only read afterwards.
    """

    def __init__(self, setup: PackSetup, is_preview: Callable[[], bool], today: dt.date | None = None) -> None:
        self.setup = setup
        self.is_preview = is_preview
        self.today = today
        self._evaluators: dict[str, Evaluator] = {}
        self._lock = threading.Lock()
        # the engine asks every resource policy about every resource: the first policy's evaluation
        # of a resource (every target at once) serves the others (a few recent resources are kept)
        self._recent: dict[tuple[str, str | None, int], tuple[Mapping[str, Any], list[Finding]]] = {}

    def evaluator(self, overrides: Mapping[str, Any] | None = None) -> Evaluator:
        key = json.dumps(overrides or {}, sort_keys=True, default=str)
        with self._lock:
            ev = self._evaluators.get(key)
            if ev is None:
                ev = Evaluator(
                    self.setup.catalog,
                    params={**self.setup.params, **(overrides or {})},
                    modes={},  # every control compiled: the policy's enforcement level decides
                    exceptions=self.setup.exceptions,
                    system_namespaces=self.setup.system_namespaces,
                    today=self.today,
                    cluster=self.setup.cluster,
                )
                self._evaluators[key] = ev
            return ev

    def overrides(self, control: Control, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """The policy config values that are parameters of this control and differ from the setup's
        (the engine sends schema defaults every time: equal values must not cost another evaluator)."""
        readable = set(params_read(control)) - EVALUATOR_PARAMS
        values = {k: unwrap(v) for k, v in (config or {}).items() if k in readable}
        return {k: v for k, v in values.items() if k not in self.setup.params or self.setup.params[k] != v}

    def may_apply(self, control: Control, probe: Subject) -> bool:
        """Whether any object target of ``control`` applies to ``probe`` (a resource's type and kind),
        asked of the evaluator's own index (:meth:`Evaluator.targets_for`; every evaluator here
        compiles every control), before the resource's properties are copied."""
        return any(p.control.id == control.id for p in self.evaluator().targets_for(probe))

    def findings(self, control: Control, subject: Subject, config: Mapping[str, Any] | None) -> list[Finding]:
        ev = self.evaluator(self.overrides(control, config))
        key = (subject.ref, subject.type, id(ev))
        with self._lock:
            recent = self._recent.get(key)
        if recent is not None and recent[0] == subject.props:
            every = recent[1]
        else:
            every = ev.evaluate(subject)
            with self._lock:
                self._recent[key] = (subject.props, every)
                while len(self._recent) > _RECENT:
                    del self._recent[next(iter(self._recent))]
        return [f for f in every if f.control_id == control.id]

    def stack_findings(
        self, control: Control, subjects: Sequence[Subject], config: Mapping[str, Any] | None
    ) -> list[Finding]:
        ev = self.evaluator(self.overrides(control, config))
        return [f for f in ev.evaluate_stack(subjects) if f.control_id == control.id]

    def message(self, control: Control, finding: Finding, text: str) -> str:
        lines = [text, f"Remediation: {finding.remediation}"]
        problem = self.setup.intent_problem
        intent_params_read = [p for p in params_read(control) if p not in EVALUATOR_PARAMS | _PACK_PARAMS]
        if problem and intent_params_read:
            defaulted = ", ".join(f"{p}={json.dumps(self.setup.params.get(p))}" for p in intent_params_read)
            lines.append(f"Note: {problem}; judged with default parameters ({defaulted}).")
        return "\n".join(lines)

    def report(
        self,
        control: Control,
        findings: Sequence[Finding],
        report_violation: ReportViolation,
        props_by_ref: Mapping[str, Any],
        *,
        stack: bool,
    ) -> None:
        """Report failures; raise ``UnknownValueError`` for preview-unknowns (after reporting failures)."""
        undecided: Finding | None = None
        for f in findings:
            urn = f.subject if stack else None
            if f.status == "fail":
                report_violation(self.message(control, f, f.message), urn)
            elif f.status == "unknown":
                if f.unknown and self.is_preview():
                    undecided = undecided or f
                    continue
                why = (
                    f"{', '.join(f.unknown)} unknown outside of preview"
                    if f.unknown
                    else f"evaluation error on known data: {f.detail}"
                )
                text = f"{control.id} could not be decided ({why}); failing closed."
                report_violation(self.message(control, f, text), urn)
            elif f.status == "not-judged":  # the pack's intent did not load: a gate fails closed
                text = f"{control.id} could not be judged: {f.message}; failing closed."
                report_violation(self.message(control, f, text), urn)
            # pass: nothing to say. excepted: waived by an owned, expiring exception (module docstring).
        if undecided is not None:
            path = undecided.unknown[0].split(".")
            raise UnknownValueError(_sentinel_at(props_by_ref.get(undecided.subject), path), path)


# --------------------------------------------------------------------------- policies


def _metadata(control: Control, catalog: Catalog, setup: PackSetup, targets: Sequence[Target]) -> dict[str, Any]:
    return {
        "description": control.description,
        "enforcement_level": enforcement_level(setup.mode(control)),
        "config_schema": config_schema(control, catalog, targets),
        "display_name": f"{control.id} {control.title}",
        "severity": SEVERITIES[control.severity],
        "framework": framework_for(control, catalog),
        "tags": [control.id, AREA_NAMES[control.area], *control.tags],
        "remediation_steps": control.remediation,
    }


def _resource_policy(control: Control, runtime: PackRuntime, targets: Sequence[Target]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        probe = Subject(_kind_of(args.props), type=args.resource_type)  # its kind: nothing copied yet
        if not runtime.may_apply(control, probe) or runtime.setup.off_in_wave(control, args.get_config()):
            return
        props = unwrap(args.props)
        subject = Subject(props, type=args.resource_type, name=args.name, urn=args.urn)
        findings = runtime.findings(control, subject, args.get_config())
        runtime.report(control, findings, report_violation, {subject.ref: props}, stack=False)

    return ResourceValidationPolicy(
        name=control.policy_name,
        validate=validate,
        **_metadata(control, runtime.setup.catalog, runtime.setup, targets),
    )


def _stack_policy(
    control: Control, runtime: PackRuntime, targets: Sequence[Target], name: str
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        if runtime.setup.off_in_wave(control, args.get_config()):
            return
        subjects = [Subject(unwrap(r.props), type=r.resource_type, name=r.name, urn=r.urn) for r in args.resources]
        findings = runtime.stack_findings(control, subjects, args.get_config())
        runtime.report(control, findings, report_violation, {s.ref: s.props for s in subjects}, stack=True)

    return StackValidationPolicy(
        name=name,
        validate=validate,
        **_metadata(control, runtime.setup.catalog, runtime.setup, targets),
    )


def build_policies(
    catalog: Catalog | None = None,
    *,
    is_preview: Callable[[], bool],
    stack_config: Mapping[str, Any] | None = None,
    stacks_dir: str | Path = "stacks",
    setup: PackSetup | None = None,
    today: dt.date | None = None,
) -> list[Policy]:
    """The pack's policies, in catalog order.

    ``stack_config`` holds the stack's ``fleet-baseline:*`` values (prefix stripped) and ``stacks_dir``
    the directory ``intentFile`` is relative to; or pass a prepared ``setup``. ``is_preview`` tells
    whether the engine is previewing (the pack entry point passes ``pulumi.runtime.is_dry_run``).
    """
    setup = setup or setup_from_stack_config(stack_config, stacks_dir, catalog)
    catalog = catalog or setup.catalog
    runtime = PackRuntime(setup, is_preview, today=today)
    policies: list[Policy] = []
    for control in catalog:
        objects, stacks = _split_targets(control)
        if objects:
            policies.append(_resource_policy(control, runtime, objects))
        if stacks:
            policies.append(_stack_policy(control, runtime, stacks, stack_policy_name(control)))
    return policies


def _split_targets(control: Control) -> tuple[list[Target], list[Target]]:
    targets = control.applicable_targets()
    return [t for t in targets if t.scope == "object"], [t for t in targets if t.scope == "stack"]


def stack_policy_name(control: Control) -> str:
    """A control with object and stack targets gets two policies; the stack one is suffixed."""
    objects, _ = _split_targets(control)
    return control.policy_name + (STACK_POLICY_SUFFIX if objects else "")


def policy_names(control: Control) -> list[str]:
    """The names of the policies the pack builds for a control (none when it applies nowhere)."""
    objects, stacks = _split_targets(control)
    return ([control.policy_name] if objects else []) + ([stack_policy_name(control)] if stacks else [])


def policy_pack_config(intent: Intent, catalog: Catalog | None = None, wave: str | None = None) -> dict[str, Any]:
    """A ``--policy-pack-config`` document that runs the pack in a rollout wave.

    The engine fixes a policy's enforcement level from the pack config, so the wave's modes are
    written as each policy's ``enforcementLevel`` (enforce: mandatory, audit: advisory, off: disabled),
    and the wave itself as the policy's ``wave`` so the pack judges with that wave's modes.
    """
    catalog = intent_catalog(intent, catalog)
    wave = wave or intent.rollout.wave
    config: dict[str, Any] = {}
    for control in catalog:
        mode = intent.mode_for(control.id, control.default_mode, wave)  # type: ignore[arg-type]
        for name in policy_names(control):
            config[name] = {"enforcementLevel": enforcement_level(mode).value, "wave": wave}
    return config
