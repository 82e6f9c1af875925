"""A plan: the stack file read, the program run under mocks, every resource through the pack."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from baseline.catalog import SEVERITY_ORDER, Catalog, Control, intent_catalog
from baseline.loader import intent_from_config, read_stack_config
from baseline.plan.analyzer import Diagnostic, PackInfo, PackProcess, load_policy_pack_config, reconcile_policy_config
from baseline.plan.program import RegisteredResource, _analyzer_resources, _with_default_providers, run_program
from baseline.plan.wire import PROJECT, PlanError, engine_config

__all__ = [
    "PlanResult",
    "default_program",
    "default_stacks_dir",
    "installed_pack_dir",
    "read_stack_file",
    "run_plan",
]

# =========================================================================== plan


def read_stack_file(path: str | Path, project: str = PROJECT) -> dict[str, Any]:
    """Every config value of a ``Pulumi.<stack>.yaml``, keys fully qualified (``intent`` → ``<project>:intent``)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PlanError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PlanError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise PlanError(f"{p}: a stack file is a mapping with a 'config' key")
    config = data.get("config") or {}
    if not isinstance(config, Mapping):
        raise PlanError(f"{p}: config: expected a mapping")
    out: dict[str, Any] = {}
    for key, value in config.items():
        full = str(key) if ":" in str(key) else f"{project}:{key}"
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            raise PlanError(f"{p}: config {full} is a secret; plan cannot decrypt secrets offline")
        out[full] = value.get("value") if isinstance(value, Mapping) and set(value) == {"value"} else value
    return out


@dataclass
class PlanResult:
    stack: str
    project: str
    preview: bool
    pack: PackInfo
    resources: list[RegisteredResource]
    diagnostics: list[Diagnostic]
    catalog: Catalog
    stack_file: str = ""
    messages: list[tuple[str, str]] = field(default_factory=list)

    def control(self, policy: str) -> Control | None:
        return self.catalog.by_policy_name(policy) or self.catalog.by_policy_name(policy.removesuffix("-stack"))

    @property
    def mandatory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.enforcement_level == "mandatory"]

    @property
    def blocked(self) -> bool:
        """The engine fails a preview (and stops an update) on any mandatory violation."""
        return bool(self.mandatory)

    def resource(self, urn: str) -> RegisteredResource | None:
        for r in self.resources:
            if r.urn == urn:
                return r
        return None

    def counts(self) -> dict[str, int]:
        return {
            "mandatory": sum(1 for d in self.diagnostics if d.enforcement_level == "mandatory"),
            "advisory": sum(1 for d in self.diagnostics if d.enforcement_level == "advisory" and not d.undecided),
            "undecided": sum(1 for d in self.diagnostics if d.undecided),
        }

    def to_dict(self) -> dict[str, Any]:
        violations = []
        for d in self._ordered():
            control = self.control(d.policy)
            r = self.resource(d.urn)
            violations.append(
                {
                    "control": control.id if control else None,
                    "policy": d.policy,
                    "severity": d.severity or (control.severity if control else None),
                    "enforcementLevel": d.enforcement_level,
                    "undecided": d.undecided,
                    "urn": d.urn,
                    "type": r.type if r else None,
                    "name": r.name if r else None,
                    "message": d.detail,
                }
            )
        return {
            "stack": self.stack,
            "project": self.project,
            "preview": self.preview,
            "pack": {"name": self.pack.name, "version": self.pack.version, "policies": len(self.pack.policies)},
            "resources": [r.summary() for r in self.resources],
            "resourceCounts": dict(Counter(r.type for r in self.resources)),
            "violations": violations,
            "diagnostics": [{"severity": sev, "message": msg} for sev, msg in self.messages],
            "counts": self.counts(),
            "blocked": self.blocked,
        }

    def _ordered(self) -> list[Diagnostic]:
        order = {c.id: i for i, c in enumerate(self.catalog)}

        def key(d: Diagnostic) -> tuple[int, int, int, int, str]:
            c = self.control(d.policy)
            sev = SEVERITY_ORDER.get(d.severity or (c.severity if c else "low"), 0)
            return (d.undecided, d.enforcement_level != "mandatory", -sev, order.get(c.id, 999) if c else 999, d.urn)

        return sorted(self.diagnostics, key=key)


def _project_file(project_dir: Path) -> dict[str, Any] | None:
    """``Pulumi.yaml`` of ``project_dir`` as a mapping; ``None`` when there is none (or it is not one)."""
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f"{path}: cannot read the project file: {exc}") from None
    return dict(data) if isinstance(data, Mapping) else None


def default_stacks_dir(project_dir: Path) -> Path:
    """Where ``plan`` looks for ``Pulumi.<stack>.yaml`` without ``--stacks-dir``: ``stackConfigDir`` of the
    project in ``project_dir`` (its own directory if it names none), else ``stacks``."""
    project = _project_file(project_dir)
    if project is None:
        return project_dir / "stacks"
    configured = project.get("stackConfigDir")
    return project_dir / configured if isinstance(configured, str) and configured else project_dir


def default_program(project_dir: Path, stacks: Path) -> Path:
    """The program ``plan`` runs without ``--program``: ``main`` of the project in ``project_dir`` (its
    own directory if it names none), else the stacks directory's ``__main__.py``, else the package's own
    program (:mod:`providers.default_program`): stack files alone need no copy of a program."""
    project = _project_file(project_dir)
    if project is None:
        if (stacks / "__main__.py").is_file():
            return stacks
        import providers.default_program

        return Path(providers.default_program.__file__).resolve().parent
    main = project.get("main")
    return project_dir / main if isinstance(main, str) and main else project_dir


def installed_pack_dir() -> Path:
    """The CrossGuard pack of the installed package (``policy_packs/baseline``), wherever it is installed."""
    import policy_packs

    return Path(policy_packs.__file__).resolve().parent / "baseline"


def run_plan(
    stack: str,
    *,
    stacks_dir: str | Path | None = None,
    program: str | Path | None = None,
    pack_dir: str | Path | None = None,
    policy_pack_config: str | Path | None = None,
    preview: bool = False,
    env: Mapping[str, str] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> PlanResult:
    """Validate the stack's intent, start the pack, run the program under mocks, and analyze.

    Raises :class:`PlanError` (or :class:`IntentError`) on bad input before anything is started,
    :class:`ProgramError` if the program fails, :class:`PackError` if the pack does.
    """
    step = on_step or (lambda _msg: None)
    project_dir = Path()  # the project is the working directory, as for `pulumi preview`
    stacks = Path(stacks_dir) if stacks_dir is not None else default_stacks_dir(project_dir)
    stack_file = stacks / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks.glob("Pulumi.*.yaml"))
        hint = f"; stacks in {stacks}: {', '.join(known)}" if known else ""
        raise PlanError(f"no stack file {stack_file}{hint}")
    intent = intent_from_config(read_stack_config(stack_file), base_dir=stacks, source=str(stack_file))
    config = read_stack_file(stack_file)
    given = load_policy_pack_config(policy_pack_config) if policy_pack_config else None
    pack_path = Path(pack_dir) if pack_dir is not None else installed_pack_dir()
    if not (pack_path / "PulumiPolicy.yaml").is_file():
        raise PlanError(f"no policy pack at {pack_path} (no PulumiPolicy.yaml)")
    program_path = Path(program) if program is not None else default_program(project_dir, stacks)
    if not (program_path / "__main__.py").is_file() and not program_path.is_file():
        raise PlanError(f"no stack program at {program_path} (no __main__.py)")
    wire_config = engine_config(config)
    catalog = intent_catalog(intent)  # the built-ins and the intent's customControls, as the pack has them

    pack_env = dict(os.environ if env is None else env)
    pack_env["FLEET_BASELINE_STACKS_DIR"] = str(stacks.resolve())
    pack = PackProcess(pack_path, project=PROJECT, stack=stack, dry_run=preview, config=wire_config, env=pack_env)
    with contextlib.closing(pack):
        pack.spawn()  # the pack starts while the program runs, as under the engine
        step("policy pack starting; running the stack program under mocks")
        run = run_program(program_path, stack=stack, config=wire_config, preview=preview, stacks_dir=stacks)
        resources = _with_default_providers(run.resources, wire_config, PROJECT, stack)
        pack.connect()
        step(f"{len(resources)} resources registered; policy pack on port {pack.port}; analyzing")
        pack.handshake()
        pack.configure_stack(wire_config)
        info = pack.get_analyzer_info()
        pack.configure(reconcile_policy_config(info, given))
        diagnostics: list[Diagnostic] = []
        registered = [r for r in resources if not r.read]
        for res in _analyzer_resources(registered, outputs=False):
            pack.remediate(res)
            diagnostics.extend(pack.analyze(res))
        diagnostics.extend(pack.analyze_stack(_analyzer_resources(resources, outputs=True)))
    return PlanResult(
        stack=stack,
        project=PROJECT,
        preview=preview,
        pack=info,
        resources=resources,
        diagnostics=diagnostics,
        catalog=catalog,
        messages=run.messages,
        stack_file=str(stack_file),
    )
