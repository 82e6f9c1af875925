"""``fleet-baseline plan``: an offline ``pulumi preview --policy-pack``, through the engine's own seams.

Where no Pulumi CLI, cloud or cluster is available, plan does the engine's part itself:

1. Reads ``Pulumi.<stack>.yaml`` (every config key, ``aws:region`` too) and validates the intent with
   the loader the program uses. A bad intent is a :class:`PlanError` naming each field path: nothing
   is registered and no pack is started.
2. Starts the policy pack exactly as the engine does (:class:`PackProcess`): ``python -u -m
   pulumi.policy <engine-address> .`` in the pack directory, with the virtual environment its
   ``PulumiPolicy.yaml`` names, ``PULUMI_PROJECT``/``PULUMI_STACK``/``PULUMI_DRY_RUN`` and the stack config
   in ``PULUMI_CONFIG``, encoded as the engine encodes it (:func:`engine_config`).
3. Runs the stack program in-process under Pulumi's mocks, inside the SDK's own stack runner
   (``run_in_stack``, as the language host does), and captures every ``RegisterResourceRequest``
   (parent, dependencies, property dependencies, provider, options) through a :class:`CapturingMonitor`.
   Mock outputs are the inputs plus plausible computed values from one table, :data:`COMPUTED_OUTPUTS`.
4. Speaks the Analyzer protocol in the engine's order: ``Handshake``, ``ConfigureStack``,
   ``GetAnalyzerInfo``, ``Configure`` (schema defaults reconciled with ``--policy-pack-config``, as the
   engine does), ``Remediate`` + ``Analyze`` per registered resource (its inputs, marshalled as the
   engine marshals them: unknowns kept as sentinels, secrets kept as secret objects, resource references
   downgraded to ids, internal ``__`` keys dropped), then ``AnalyzeStack`` with every resource's outputs,
   parent and dependencies. The pack process is killed at the end, whatever happens.

Without ``--preview`` the run is an ``up``: mocks return computed values and the pack runs with
``PULUMI_DRY_RUN=false``. With ``--preview``, computed outputs stay unknown, as in a real preview, and
policies that read them report the engine's advisory "can't run policy ... during preview".

This module reads no environment of its own; the pack's child process inherits the caller's, as the
engine's does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import dataclasses
import hashlib
import json
import logging
import os
import re
import runpy
import selectors
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi.runtime.settings import get_project, get_stack

from baseline.catalog import SEVERITY_ORDER, Catalog, Control, load_catalog
from baseline.loader import CONFIG_NAMESPACE, IntentError, intent_from_config, read_stack_config

__all__ = [
    "COMPUTED_OUTPUTS",
    "ENGINE_ADDRESS",
    "INVOKE_RESULTS",
    "AnalyzerResource",
    "CapturingMonitor",
    "Diagnostic",
    "PackError",
    "PackInfo",
    "PackProcess",
    "PlanError",
    "PlanMocks",
    "PlanResult",
    "PolicyInfo",
    "ProgramError",
    "ProgramRun",
    "RegisteredResource",
    "engine_config",
    "engine_marshal",
    "format_text",
    "load_policy_pack_config",
    "read_stack_file",
    "reconcile_policy_config",
    "run_plan",
    "run_program",
    "to_struct",
]

#: What plan passes as the engine address. A Python pack only parses it (its settings carry no engine,
#: so its logs go to stderr); nothing listens there.
ENGINE_ADDRESS = "127.0.0.1:0"

#: The project name: the config namespace of the program and pack.
PROJECT = CONFIG_NAMESPACE

# The wire's signature keys (pulumi.runtime.rpc / sdk/go/common/resource/plugin/rpc.go).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_CANT_RUN = re.compile(r"^can't run policy '")


class PlanError(ValueError):
    """Bad input (stack file, intent, pack directory, pack config): the CLI exits 2 with this message."""


class ProgramError(RuntimeError):
    """The stack program raised (not an intent problem): the CLI reports it and exits 3."""


class PackError(RuntimeError):
    """The policy pack did not start or failed an RPC; the message carries the pack's stderr tail."""


# =========================================================================== engine-side encoding


def engine_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Stack config as the engine hands it to programs and policy packs (``PropertyMapToConfig``).

    Top-level strings as they are; every other value (numbers, booleans, objects, lists) as compact
    JSON with sorted keys, as Go's ``json.Marshal`` writes it.
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, str):
            out[key] = value
        else:
            out[key] = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return out


def engine_marshal(value: Any) -> Any:
    """A property value as the engine sends it to an analyzer (``MarshalOptions{KeepUnknowns,
    KeepSecrets, SkipInternalKeys}``): unknown sentinels and secret objects stay, resource references
    become their id (or URN), output values become their value (or an unknown), ``__`` keys go.
    """
    if isinstance(value, Mapping):
        sig = value.get(_SIG)
        if sig == _RESOURCE_SIG:
            ref_id = value.get("id")
            return ref_id if isinstance(ref_id, str) and ref_id else value.get("urn", "")
        if sig == _OUTPUT_SIG:
            if "value" not in value:
                return _UNKNOWN
            inner = engine_marshal(value["value"])
            return {_SIG: _SECRET_SIG, "value": inner} if value.get("secret") else inner
        if sig == _SECRET_SIG:
            return {_SIG: _SECRET_SIG, "value": engine_marshal(value.get("value"))}
        return {k: engine_marshal(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("__"))}
    if isinstance(value, list | tuple):
        return [engine_marshal(v) for v in value]
    return value


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """A ``google.protobuf.Struct`` of plain JSON-like data (numbers become doubles, as on the wire)."""
    s = struct_pb2.Struct()
    s.update(_jsonable(props))
    return s


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


# =========================================================================== the pack, over gRPC


@dataclass(frozen=True)
class PolicyInfo:
    """One policy as ``GetAnalyzerInfo`` describes it."""

    name: str
    description: str
    enforcement_level: str
    severity: str | None
    policy_type: str
    display_name: str = ""
    framework: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    remediation_steps: str = ""
    config_schema: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackInfo:
    name: str
    version: str
    description: str
    supports_config: bool
    policies: tuple[PolicyInfo, ...]
    initial_config: Mapping[str, tuple[str | None, Mapping[str, Any]]] = field(default_factory=dict)

    def policy(self, name: str) -> PolicyInfo:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)


@dataclass(frozen=True)
class Diagnostic:
    """One ``AnalyzeDiagnostic``: a violation, or the SDK's advisory "can't run policy during preview"."""

    policy: str
    pack: str
    pack_version: str
    enforcement_level: str
    severity: str | None
    message: str
    description: str
    urn: str

    @property
    def undecided(self) -> bool:
        """The SDK's report of a policy that read a value unknown during preview."""
        return bool(_CANT_RUN.match(self.message))

    @property
    def detail(self) -> str:
        """The policy's own message: the SDK prefixes violations with the policy description."""
        prefix = self.description + "\n"
        return self.message[len(prefix) :] if self.message.startswith(prefix) else self.message


@dataclass(frozen=True)
class AnalyzerResource:
    """A resource as the engine describes it to an analyzer (``AnalyzeRequest``/``AnalyzerResource``)."""

    urn: str
    type: str
    name: str
    properties: Mapping[str, Any]
    parent: str = ""
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool | None = None
    additional_secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    custom_timeouts: tuple[float, float, float] | None = None
    provider: AnalyzerResource | None = None

    def _options(self, with_parent: bool) -> Any:
        opts = analyzer_pb2.AnalyzerResourceOptions(
            protect=self.protect,
            ignoreChanges=list(self.ignore_changes),
            deleteBeforeReplace=bool(self.delete_before_replace),
            deleteBeforeReplaceDefined=self.delete_before_replace is not None,
            additionalSecretOutputs=list(self.additional_secret_outputs),
            aliases=list(self.aliases),
            parent=self.parent if with_parent else "",
        )
        if self.custom_timeouts is not None:
            c, u, d = self.custom_timeouts
            timeouts = analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(create=c, update=u, delete=d)
            opts.customTimeouts.CopyFrom(timeouts)
        return opts

    def _provider(self) -> Any:
        if self.provider is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(
            type=self.provider.type,
            urn=self.provider.urn,
            name=self.provider.name,
            properties=to_struct(engine_marshal(self.provider.properties)),
        )

    def analyze_request(self) -> Any:
        return analyzer_pb2.AnalyzeRequest(
            type=self.type,
            urn=self.urn,
            name=self.name,
            properties=to_struct(engine_marshal(self.properties)),
            options=self._options(with_parent=True),
            provider=self._provider(),
        )

    def stack_resource(self) -> Any:
        r = analyzer_pb2.AnalyzerResource(
            type=self.type,
            urn=self.urn,
            name=self.name,
            properties=to_struct(engine_marshal(self.properties)),
            options=self._options(with_parent=False),
            provider=self._provider(),
            parent=self.parent,
            dependencies=list(self.dependencies),
        )
        for key, urns in self.property_dependencies.items():
            if urns:
                r.propertyDependencies[key].urns.extend(urns)
        return r


def pack_python(pack_dir: Path) -> str:
    """The interpreter the CLI would use: the virtualenv ``PulumiPolicy.yaml`` names, if it exists."""
    try:
        project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return sys.executable
    runtime = project.get("runtime") if isinstance(project, Mapping) else None
    options = runtime.get("options") if isinstance(runtime, Mapping) else None
    venv = options.get("virtualenv") if isinstance(options, Mapping) else None
    if isinstance(venv, str) and venv:
        root = (pack_dir / venv).resolve()
        for candidate in (root / "bin" / "python", root / "Scripts" / "python.exe"):
            if candidate.exists():
                return str(candidate)
    return sys.executable


def pack_yaml_version(pack_dir: Path) -> str | None:
    """``version`` of PulumiPolicy.yaml: the engine reports it over the version the pack returns."""
    try:
        project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    version = project.get("version") if isinstance(project, Mapping) else None
    return str(version) if version else None


_LEVELS = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
_LEVEL_CODES = {v: k for k, v in _LEVELS.items()}
_SEVERITIES = {1: "low", 2: "medium", 3: "high", 4: "critical"}


class PackProcess:
    """A policy pack started and spoken to as the engine does. Use as a context manager.

    ``__enter__`` starts ``python -u -m pulumi.policy <engine> .`` with the pack directory as working
    directory, reads the port from the first stdout line and connects; ``__exit__`` closes the channel
    and kills the process, always. Each method is one Analyzer RPC.
    """

    def __init__(
        self,
        pack_dir: str | Path,
        *,
        project: str,
        stack: str,
        dry_run: bool,
        config: Mapping[str, str] | None = None,
        organization: str | None = None,
        env: Mapping[str, str] | None = None,
        python: str | None = None,
        start_timeout: float = 60.0,
        rpc_timeout: float = 120.0,
    ) -> None:
        self.pack_dir = Path(pack_dir).resolve()
        self.project = project
        self.stack = stack
        self.dry_run = dry_run
        self.config = dict(config or {})
        self.organization = organization
        self.python = python or pack_python(self.pack_dir)
        self.yaml_version = pack_yaml_version(self.pack_dir)
        self.start_timeout = start_timeout
        self.rpc_timeout = rpc_timeout
        self._base_env = dict(os.environ if env is None else env)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._channel: grpc.Channel | None = None
        self._stub: Any = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def environment(self) -> dict[str, str]:
        """The child's environment: the caller's, plus what the engine's ``constructEnv`` adds."""
        env = dict(self._base_env)
        env.pop("PULUMI_CONFIG", None)
        if self.config:
            env["PULUMI_CONFIG"] = json.dumps(self.config, separators=(",", ":"), sort_keys=True)
        if self.organization:
            env["PULUMI_ORGANIZATION"] = self.organization
        env["PULUMI_PROJECT"] = self.project
        env["PULUMI_STACK"] = self.stack
        env["PULUMI_DRY_RUN"] = "true" if self.dry_run else "false"
        return env

    def __enter__(self) -> PackProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Spawn the pack and connect to it (both steps; see :meth:`spawn` and :meth:`connect`)."""
        self.spawn()
        self.connect()

    def spawn(self) -> None:
        """Start the process without waiting for it: its startup can overlap other work."""
        if self._proc is not None:
            return
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PlanError(f"{self.pack_dir}: not a policy pack (no PulumiPolicy.yaml)")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in close()
        self._proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=self.pack_dir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def connect(self) -> None:
        """Read the port from the pack's first stdout line and open the gRPC channel."""
        if self._stub is not None:
            return
        self.spawn()
        try:
            self.port = self._read_port()
            self._channel = grpc.insecure_channel(
                f"127.0.0.1:{self.port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
            )
            grpc.channel_ready_future(self._channel).result(timeout=self.start_timeout)
            self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        except BaseException:
            self.close()
            raise

    def _read_port(self) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        sel = selectors.DefaultSelector()
        sel.register(stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        try:
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PackError(f"policy pack did not report a port within {self.start_timeout:.0f}s{self._tail()}")
                if not sel.select(timeout=remaining):
                    continue
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    code = self._proc.wait(timeout=5)
                    raise PackError(f"policy pack exited with code {code} before serving{self._tail()}")
                buf += chunk
        finally:
            sel.close()
        line, _, _ = buf.partition(b"\n")
        try:
            port = int(line.strip())
        except ValueError:
            raise PackError(f"policy pack printed {line[:200]!r} instead of its port{self._tail()}") from None
        # Keep draining stdout so a chatty pack can never block on a full pipe.
        threading.Thread(target=self._drain, args=(stdout,), daemon=True).start()
        return port

    @staticmethod
    def _drain(stream: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            while stream.read(65536):
                pass

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return str(self._stderr.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return ""

    def _tail(self, lines: int = 25) -> str:
        text = self.stderr_text().strip()
        if not text:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"; pack stderr:\n{textwrap.indent(tail, '  ')}"

    def close(self) -> None:
        """Close the channel and kill the process (idempotent)."""
        self._stub = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None

    def _call(self, method: str, request: Any) -> Any:
        if self._stub is None:
            raise PackError("the policy pack is not running")
        try:
            return getattr(self._stub, method)(request, timeout=self.rpc_timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise PackError(f"policy pack failed {method}: {details}{self._tail()}") from None

    # ------------------------------------------------------------------ the Analyzer RPCs

    def handshake(self) -> bool:
        """``Handshake``; False when the pack predates it (the engine then falls back, as here)."""
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=ENGINE_ADDRESS, root_directory=str(self.pack_dir), program_directory=str(self.pack_dir)
        )
        try:
            self._call("Handshake", request)
        except grpc.RpcError:
            return False
        return True

    def configure_stack(self, config: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None) -> None:
        """``ConfigureStack``: the stack's identity and its config (engine-encoded strings)."""
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization=self.organization or "", dry_run=self.dry_run
        )
        if config:
            request.config.update(dict(config))
        if tags:
            request.tags.update(dict(tags))
        with contextlib.suppress(grpc.RpcError):  # UNIMPLEMENTED by older packs; the engine carries on
            self._call("ConfigureStack", request)

    def get_analyzer_info(self) -> PackInfo:
        info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        policies = []
        for p in info.policies:
            schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
            policies.append(
                PolicyInfo(
                    name=p.name,
                    description=p.description,
                    enforcement_level=_LEVELS.get(p.enforcementLevel, str(p.enforcementLevel)),
                    severity=_SEVERITIES.get(p.severity),
                    policy_type={1: "resource", 2: "stack"}.get(p.policy_type, "unknown"),
                    display_name=p.displayName,
                    framework={
                        k: v
                        for k, v in (
                            ("name", p.framework.name),
                            ("version", p.framework.version),
                            ("reference", p.framework.reference),
                            ("specification", p.framework.specification),
                        )
                        if v
                    },
                    tags=tuple(p.tags),
                    remediation_steps=p.remediation_steps,
                    config_schema=schema,
                    required=tuple(p.configSchema.required) if p.HasField("configSchema") else (),
                )
            )
        initial: dict[str, tuple[str | None, Mapping[str, Any]]] = {}
        for key, cfg in info.initialConfig.items():
            initial[key] = (_LEVELS.get(cfg.enforcementLevel), json_format.MessageToDict(cfg.properties))
        version = self.yaml_version or info.version
        return PackInfo(
            name=info.name,
            version=version,
            description=info.description,
            supports_config=info.supportsConfig,
            policies=tuple(policies),
            initial_config=initial,
        )

    def configure(self, policy_config: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        """``Configure`` with each policy's (enforcement level, properties); skipped when empty, as the engine does."""
        if not policy_config:
            return
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, props) in policy_config.items():
            cfg = request.policyConfig[name]
            cfg.enforcementLevel = _LEVEL_CODES[level]
            if props:
                cfg.properties.update(_jsonable(props))
        self._call("Configure", request)

    def _diagnostics(self, response: Any, urn: str | None, version: str | None) -> list[Diagnostic]:
        return [
            Diagnostic(
                policy=d.policyName,
                pack=d.policyPackName,
                pack_version=version or d.policyPackVersion,
                enforcement_level=_LEVELS.get(d.enforcementLevel, str(d.enforcementLevel)),
                severity=_SEVERITIES.get(d.severity),
                message=d.message,
                description=d.description,
                # The engine attributes a resource's diagnostics to the resource, whatever the pack says.
                urn=urn if urn is not None else d.urn,
            )
            for d in response.diagnostics
        ]

    def analyze(self, resource: AnalyzerResource) -> list[Diagnostic]:
        response = self._call("Analyze", resource.analyze_request())
        return self._diagnostics(response, resource.urn, self.yaml_version)

    def remediate(self, resource: AnalyzerResource) -> int:
        """``Remediate``; returns how many remediations the pack proposed (this pack has none)."""
        try:
            response = self._call("Remediate", resource.analyze_request())
        except grpc.RpcError:
            return 0
        return len(response.remediations)

    def analyze_stack(self, resources: Sequence[AnalyzerResource]) -> list[Diagnostic]:
        """``AnalyzeStack``; a pack without stack policies may not implement it (the engine skips it)."""
        request = analyzer_pb2.AnalyzeStackRequest(resources=[r.stack_resource() for r in resources])
        try:
            response = self._call("AnalyzeStack", request)
        except grpc.RpcError:
            return []
        return self._diagnostics(response, None, self.yaml_version)


def load_policy_pack_config(path: str | Path) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """A ``--policy-pack-config`` file, parsed as the engine parses it: per policy (or ``all``), an
    enforcement level string, or an object with an optional ``enforcementLevel`` and properties."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{p}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PlanError(f"{p}: expected a JSON object keyed by policy name")
    out: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in raw.items():
        level: str | None = None
        props: dict[str, Any] = {}
        if isinstance(value, str):
            level = value
        elif isinstance(value, dict):
            props = dict(value)
            el = props.pop("enforcementLevel", None)
            if el is not None and not isinstance(el, str):
                raise PlanError(f"{p}: {name}.enforcementLevel: {el!r} is not a valid enforcement level")
            level = el
        else:
            raise PlanError(f"{p}: {name}: must be an enforcement level or an object")
        if level is not None and level not in _LEVEL_CODES:
            raise PlanError(f"{p}: {name}: {level!r} is not a valid enforcement level ({', '.join(_LEVEL_CODES)})")
        if level is None and not props:
            continue
        out[name] = (level, props)
    return out


def reconcile_policy_config(
    info: PackInfo, given: Mapping[str, tuple[str | None, Mapping[str, Any]]] | None = None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """What the engine sends in ``Configure`` (``ReconcilePolicyPackConfig``): every policy with its
    level and schema defaults, the pack's initial config over them, then the given config (``all``
    first), validated against each policy's schema. Unknown policy names are ignored, as by the engine.
    """
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    for p in info.policies:
        props = {k: v["default"] for k, v in p.config_schema.items() if isinstance(v, Mapping) and "default" in v}
        result[p.name] = (p.enforcement_level, props)
    layers = [info.initial_config, given or {}]
    for layer in layers:
        all_level = layer.get("all", (None, {}))[0]
        if all_level:
            result = {name: (all_level, current) for name, (_, current) in result.items()}
        for name, (level, given_props) in layer.items():
            if name not in result:
                continue
            old_level, old_props = result[name]
            result[name] = (level or old_level, {**old_props, **dict(given_props)})
    problems = []
    for p in info.policies:
        for problem in _schema_problems(p.config_schema, p.required, result[p.name][1]):
            problems.append(f"policy {p.name!r}: {problem}")
    if problems:
        raise PlanError("invalid policy pack config:\n" + "\n".join(f"  - {m}" for m in problems))
    return result


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _schema_problems(properties: Mapping[str, Any], required: Sequence[str], config: Mapping[str, Any]) -> list[str]:
    """The subset of JSON Schema the pack's config schemas use: type, enum, pattern, items,
    additionalProperties, required. (The engine validates with a full JSON Schema validator.)"""
    problems = [f"{r}: is required" for r in required if r not in config]
    for key, value in config.items():
        schema = properties.get(key)
        if isinstance(schema, Mapping):
            problems.extend(_value_problems(schema, value, key))
    return problems


def _value_problems(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES and not _JSON_TYPES[kind](value):
        return [f"{where}: expected {kind}, got {json.dumps(value)}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {json.dumps(value)} is not one of {json.dumps(schema['enum'])}")
    if isinstance(value, str) and isinstance(schema.get("pattern"), str) and not re.search(schema["pattern"], value):
        out.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            out.extend(_value_problems(schema["items"], item, f"{where}[{i}]"))
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), Mapping):
        for k, item in value.items():
            out.extend(_value_problems(schema["additionalProperties"], item, f"{where}.{k}"))
    return out


# =========================================================================== the program, under mocks


@dataclass
class RegisteredResource:
    """One ``RegisterResourceRequest`` (or read) as the monitor received it, with the mock's answer."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    provider: str = ""
    version: str = ""
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False
    delete_before_replace: bool | None = None
    ignore_changes: tuple[str, ...] = ()
    additional_secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    custom_timeouts: tuple[float, float, float] | None = None
    read: bool = False
    default_provider: bool = False

    @property
    def provider_urn(self) -> str:
        return self.provider.rpartition("::")[0] if self.provider else ""

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urn": self.urn, "type": self.type, "name": self.name, "custom": self.custom}
        if self.parent:
            out["parent"] = self.parent
        if self.provider:
            out["provider"] = self.provider
        if self.dependencies:
            out["dependencies"] = sorted(self.dependencies)  # a set to the engine: the SDK sends it in hash order
        if self.protect:
            out["protect"] = True
        if self.delete_before_replace is not None:
            out["deleteBeforeReplace"] = self.delete_before_replace
        if self.read:
            out["read"] = True
        if self.default_provider:
            out["defaultProvider"] = True
        return out


def _timeouts(value: str) -> float:
    """A Go duration ("10m", "1h30m", "45s") in seconds; 0 when empty or unparseable."""
    total = 0.0
    for amount, unit in re.findall(r"([0-9.]+)(h|m|s|ms)", value or ""):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


class CapturingMonitor(MockMonitor):
    """The SDK's ``MockMonitor``, recording each full request in ``captured`` (URN → resource).

    ``MockResourceArgs`` lacks parent, dependencies and options; the request has them all.
    """

    def __init__(self, mocks: Any) -> None:
        super().__init__(mocks)
        self.captured: dict[str, RegisteredResource] = {}
        self.duplicates: list[str] = []
        self._lock = threading.Lock()
        self._thread_loops: set[asyncio.AbstractEventLoop] = set()

    def _thread_loop(self) -> None:
        """The SDK's monitor makes an event loop in each worker thread and never closes it (they are
        destroyed at exit, noisily). Make it here instead, and remember it for :meth:`close_loops`."""
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self._lock:
                self._thread_loops.add(loop)

    def close_loops(self) -> None:
        with self._lock:
            loops, self._thread_loops = self._thread_loops, set()
        for loop in loops:
            if not loop.is_running() and not loop.is_closed():
                loop.close()

    def Invoke(self, request: Any) -> Any:
        self._thread_loop()
        return super().Invoke(request)  # type: ignore[no-untyped-call]

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them (``generateURN``): the parent's full qualified type, except
        for the root stack, whose children are not qualified by it (the SDK's mock qualifies them)."""
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != "pulumi:pulumi:Stack":
                qualified = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([get_stack(), get_project(), qualified, name])

    def RegisterResource(self, request: Any) -> Any:
        self._thread_loop()
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        ct = request.customTimeouts
        timeouts = None
        if request.HasField("customTimeouts") and (ct.create or ct.update or ct.delete):
            timeouts = (_timeouts(ct.create), _timeouts(ct.update), _timeouts(ct.delete))
        record = RegisteredResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            inputs=json_format.MessageToDict(request.object) if request.HasField("object") else {},
            outputs=json_format.MessageToDict(response.object) if response.HasField("object") else {},
            id=response.id,
            provider=request.provider,
            version=request.version,
            dependencies=tuple(request.dependencies),
            property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
            protect=bool(request.protect),
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            ignore_changes=tuple(request.ignoreChanges),
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
            aliases=tuple(request.aliasURNs),
            custom_timeouts=timeouts,
        )
        with self._lock:
            previous = self.captured.get(record.urn)
            # The root stack registers twice (set_mocks' own, then the runner's); anything else twice is
            # a duplicate URN, which the engine refuses and the SDK's mock does not notice.
            if previous is not None and previous.type != "pulumi:pulumi:Stack":
                self.duplicates.append(record.urn)
            self.captured[record.urn] = record
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        outputs = json_format.MessageToDict(request.outputs) if request.HasField("outputs") else {}
        with self._lock:
            if request.urn in self.captured and not self.captured[request.urn].custom:
                self.captured[request.urn].outputs = outputs
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:
        self._thread_loop()
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        record = RegisteredResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=True,
            parent=request.parent,
            inputs=json_format.MessageToDict(request.properties) if request.HasField("properties") else {},
            outputs=json_format.MessageToDict(response.properties) if response.HasField("properties") else {},
            id=request.id,
            provider=request.provider,
            version=request.version,
            dependencies=tuple(request.dependencies),
            read=True,
        )
        with self._lock:
            self.captured[record.urn] = record
        return response


# --------------------------------------------------------------------------- mock values


_MOCK_ACCOUNT = "123456789012"
_FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSU1PQ0tQTEFOCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"


@dataclass(frozen=True)
class _MockContext:
    type: str
    name: str
    inputs: Mapping[str, Any]
    region: str
    account: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.type}::{self.name}".encode()).hexdigest()

    @property
    def physical(self) -> str:
        """The physical name: the ``name`` input, else the resource name plus an autonaming suffix."""
        given = self.inputs.get("name")
        return given if isinstance(given, str) and given else f"{self.name}-{self.digest[:7]}"

    @property
    def uuid(self) -> str:
        d = self.digest
        return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:{self.account}:{resource}"


def _documents_as_text(inputs: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """IAM policy documents given as objects, as the provider stores them: JSON text (the output type)."""
    return {k: json.dumps(inputs[k]) for k in keys if isinstance(inputs.get(k), Mapping)}


def _gcp_service_account_outputs(c: _MockContext) -> dict[str, Any]:
    """Google names a service account by its e-mail, from the account id and the project."""
    email = f"{c.inputs.get('accountId', c.physical)}@{c.inputs.get('project', 'project')}.iam.gserviceaccount.com"
    return {
        "email": email,
        "name": f"projects/{c.inputs.get('project', 'project')}/serviceAccounts/{email}",
        "uniqueId": str(int(c.digest[:16], 16)),
        "member": f"serviceAccount:{email}",
    }


def _gke_cluster_outputs(c: _MockContext) -> dict[str, Any]:
    """GKE assigns the endpoint (a bare address) and the cluster CA, inside ``masterAuth``."""
    project, location = c.inputs.get("project", "project"), c.inputs.get("location", "us-central1")
    return {
        "endpoint": f"34.{int(c.digest[:2], 16)}.{int(c.digest[2:4], 16)}.{int(c.digest[4:6], 16)}",
        "masterAuth": {**dict(c.inputs.get("masterAuth") or {}), "clusterCaCertificate": _FAKE_CA},
        "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{c.physical}",
        "labelFingerprint": c.digest[:8],
    }


def _cluster_outputs(c: _MockContext) -> dict[str, Any]:
    oidc_id = c.digest[:32].upper()
    vpc = dict(c.inputs.get("vpcConfig") or {})
    vpc.setdefault("clusterSecurityGroupId", f"sg-{c.digest[:17]}")
    vpc.setdefault("vpcId", f"vpc-{c.digest[17:34]}")
    return {
        "arn": c.arn("eks", f"cluster/{c.physical}"),
        "endpoint": f"https://{oidc_id}.gr7.{c.region}.eks.amazonaws.com",
        "certificateAuthority": {"data": _FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{c.region}.amazonaws.com/id/{oidc_id}"}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "version": c.inputs.get("version") or "1.33",
        "vpcConfig": vpc,
    }


def _aks_cluster_outputs(c: _MockContext) -> dict[str, Any]:
    """AKS assigns the FQDNs and the OIDC issuer; ARM returns user-assigned identities as a map by id."""
    identity = dict(c.inputs.get("identity") or {})
    ids = identity.get("userAssignedIdentities")
    if isinstance(ids, list):
        identity["userAssignedIdentities"] = {str(i): {"principalId": c.uuid, "clientId": c.uuid} for i in ids}
    prefix, location = c.inputs.get("dnsPrefix") or c.physical, c.inputs.get("location") or "westeurope"
    return {
        "name": c.inputs.get("resourceName") or c.physical,
        "identity": identity,
        "fqdn": f"{prefix}-{c.digest[:8]}.hcp.{location}.azmk8s.io",
        "privateFQDN": f"{prefix}-{c.digest[:8]}.{c.uuid}.privatelink.{location}.azmk8s.io",
        "oidcIssuerProfile": {
            **(c.inputs.get("oidcIssuerProfile") or {}),
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{c.uuid}/{c.digest[32:64]}/",
        },
        "provisioningState": "Succeeded",
    }


def _aks_identity_map(outputs: dict[str, Any]) -> dict[str, Any]:
    """ARM returns user-assigned identities as a map by id (the input is a list): the SDK checks it."""
    identity = outputs.get("identity")
    if isinstance(identity, Mapping) and isinstance(identity.get("userAssignedIdentities"), list):
        ids = identity["userAssignedIdentities"]
        outputs["identity"] = {**identity, "userAssignedIdentities": {str(i): {} for i in ids}}
    return outputs


#: Output shapes that differ from the input's, applied at preview too (where computed values stay
#: unknown): the SDK refuses an output of the input's shape.
PREVIEW_RESHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "azure-native:containerservice:ManagedCluster": _aks_identity_map,
}


def _aks_user_credentials(args: Mapping[str, Any], region: str, account: str) -> dict[str, Any]:
    """``listClusterUserCredential``: an exec-format kubeconfig, base64, as AKS returns it."""
    name = str(args.get("resourceName") or "cluster")
    digest = hashlib.sha256(name.encode()).hexdigest()
    server = f"https://{name}-{digest[:8]}.hcp.azmk8s.io:443"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": _FAKE_CA}}],
        "users": [{"name": f"clusterUser_{name}", "user": {"exec": {"command": "kubelogin"}}}],
    }
    value = base64.b64encode(json.dumps(config).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}


#: Computed outputs by type token, over the inputs (which every resource returns as outputs). Only what
#: programs read: EKS endpoint, CA and OIDC issuer, ARNs, ids; the AKS issuer and identity ids. Other
#: AWS types get a generic ``arn``.
COMPUTED_OUTPUTS: Mapping[str, Callable[[_MockContext], dict[str, Any]]] = {
    "aws:eks/cluster:Cluster": _cluster_outputs,
    "aws:eks/nodeGroup:NodeGroup": lambda c: {
        "arn": c.arn("eks", f"nodegroup/{c.inputs.get('clusterName', 'cluster')}/{c.physical}/{c.uuid}"),
        "status": "ACTIVE",
        "nodeGroupName": c.inputs.get("nodeGroupName") or c.physical,
        "resources": [{"autoscalingGroups": [{"name": f"eks-{c.physical}-{c.uuid}"}]}],
    },
    "aws:eks/accessEntry:AccessEntry": lambda c: {
        "accessEntryArn": c.arn("eks", f"access-entry/{c.inputs.get('clusterName', 'cluster')}/{c.uuid}"),
        "type": c.inputs.get("type") or "STANDARD",
    },
    "aws:eks/addon:Addon": lambda c: {
        "arn": c.arn("eks", f"addon/{c.inputs.get('clusterName', 'cluster')}/{c.inputs.get('addonName')}/{c.uuid}"),
        "addonVersion": c.inputs.get("addonVersion") or "v1.0.0-eksbuild.1",
    },
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": lambda c: {
        "associationArn": c.arn(
            "eks", f"podidentityassociation/{c.inputs.get('clusterName', 'cluster')}/a-{c.digest[:17]}"
        ),
        "associationId": f"a-{c.digest[:17]}",
    },
    "aws:iam/role:Role": lambda c: {
        "arn": c.arn("iam", f"role/{c.physical}", regional=False),
        "uniqueId": f"AROA{c.digest[:17].upper()}",
        "name": c.physical,
        **_documents_as_text(c.inputs, "assumeRolePolicy"),
    },
    "aws:iam/policy:Policy": lambda c: {
        "arn": c.arn("iam", f"policy/{c.physical}", regional=False),
        "policyId": f"ANPA{c.digest[:17].upper()}",
        "name": c.physical,
        **_documents_as_text(c.inputs, "policy"),
    },
    "aws:iam/rolePolicy:RolePolicy": lambda c: _documents_as_text(c.inputs, "policy"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": lambda c: {
        "arn": c.arn("iam", "oidc-provider/" + str(c.inputs.get("url", "")).removeprefix("https://"), regional=False),
    },
    "aws:kms/key:Key": lambda c: {"arn": c.arn("kms", f"key/{c.uuid}"), "keyId": c.uuid},
    "aws:kms/alias:Alias": lambda c: {"arn": c.arn("kms", str(c.inputs.get("name") or f"alias/{c.name}"))},
    "aws:cloudwatch/logGroup:LogGroup": lambda c: {"arn": c.arn("logs", f"log-group:{c.physical}")},
    "gcp:container/cluster:Cluster": _gke_cluster_outputs,
    "gcp:serviceaccount/account:Account": _gcp_service_account_outputs,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda c: {
        "arn": c.arn("ec2", f"launch-template/lt-{c.digest[:17]}"),
        "latestVersion": 1,
        "defaultVersion": 1,
    },
    "azure-native:containerservice:ManagedCluster": _aks_cluster_outputs,
    "azure-native:managedidentity:UserAssignedIdentity": lambda c: {
        "name": c.inputs.get("resourceName") or c.physical,
        "principalId": c.uuid,
        "clientId": f"{c.digest[32:40]}-{c.digest[40:44]}-{c.digest[44:48]}-{c.digest[48:52]}-{c.digest[52:64]}",
    },
}


def _aws_generic(c: _MockContext) -> dict[str, Any]:
    module = c.type.split(":")[1].split("/")[0]
    kind = c.type.rsplit(":", 1)[1]
    out: dict[str, Any] = {"arn": c.arn(module, f"{kind[0].lower()}{kind[1:]}/{c.physical}")}
    if "name" not in c.inputs and not c.type.startswith("aws:eks/"):
        out["name"] = c.physical
    return out


def _policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """``aws.iam.getPolicyDocument`` rendered as the provider renders it (single values unwrapped)."""

    def one(values: Any) -> Any:
        values = list(values or [])
        return values[0] if len(values) == 1 else values

    statements = []
    for s in args.get("statements") or []:
        st: dict[str, Any] = {}
        if s.get("sid"):
            st["Sid"] = s["sid"]
        st["Effect"] = s.get("effect") or "Allow"
        if s.get("actions"):
            st["Action"] = one(s["actions"])
        if s.get("resources"):
            st["Resource"] = one(s["resources"])
        principals: dict[str, Any] = {}
        for p in s.get("principals") or []:
            principals[p.get("type")] = one(p.get("identifiers"))
        if principals:
            st["Principal"] = principals
        conditions: dict[str, dict[str, Any]] = {}
        for cond in s.get("conditions") or []:
            conditions.setdefault(cond.get("test"), {})[cond.get("variable")] = one(cond.get("values"))
        if conditions:
            st["Condition"] = conditions
        statements.append(st)
    doc = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    text = json.dumps(doc, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(doc, separators=(",", ":")),
        "id": hashlib.sha256(text.encode()).hexdigest()[:10],
    }


#: Results of provider functions (invokes) the programs call, by token; ``{}`` for any other.
INVOKE_RESULTS: Mapping[str, Callable[[Mapping[str, Any], str, str], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, region, account: {
        "accountId": account,
        "arn": f"arn:aws:iam::{account}:user/fleet-baseline-plan",
        "userId": "AIDAFLEETBASELINEPLAN",
        "id": account,
    },
    "aws:index/getRegion:getRegion": lambda a, region, account: {
        "name": region,
        "region": region,
        "id": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
    },
    "aws:index/getPartition:getPartition": lambda a, region, account: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a, region, account: {
        "names": [f"{region}{z}" for z in "abc"],
        "zoneIds": [f"{region[:3]}-az{i}" for i in (1, 2, 3)],
        "id": region,
    },
    "aws:iam/getPolicyDocument:getPolicyDocument": lambda a, region, account: _policy_document(a),
    "aws:eks/getClusterAuth:getClusterAuth": lambda a, region, account: {
        "name": a.get("name"),
        "token": "k8s-aws-v1.fleet-baseline-plan",
        "id": a.get("name"),
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_user_credentials,
}


class PlanMocks(Mocks):
    """Inputs as outputs, plus :data:`COMPUTED_OUTPUTS` (not in preview: there they stay unknown)."""

    def __init__(self, config: Mapping[str, str], preview: bool) -> None:
        self.region = config.get("aws:region", "us-east-1")
        self.account = _MOCK_ACCOUNT
        self.preview = preview
        self.invoked: Counter[str] = Counter()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, {}
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return ("" if self.preview else f"{args.name}-{hashlib.sha256(args.name.encode()).hexdigest()[:8]}"), inputs
        ctx = _MockContext(args.typ, args.name, inputs, self.region, self.account)
        if self.preview:  # a create at preview: no id yet, computed outputs unknown
            reshape = PREVIEW_RESHAPES.get(args.typ)
            return "", reshape(inputs) if reshape else inputs
        outputs = dict(inputs)
        if args.typ.startswith("kubernetes:"):
            metadata = inputs.get("metadata")
            md: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
            ns, nm = md.get("namespace"), md.get("name") or ctx.physical
            return (f"{ns}/{nm}" if ns else str(nm)), outputs
        if args.typ.startswith("aws:"):
            outputs.update(_aws_generic(ctx))
            if isinstance(inputs.get("tags"), Mapping):
                outputs.setdefault("tagsAll", dict(inputs["tags"]))
        extra = COMPUTED_OUTPUTS.get(args.typ)
        if extra is not None:
            outputs.update(extra(ctx))
        return ctx.physical, outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.invoked[args.token] += 1
        fn = INVOKE_RESULTS.get(args.token)
        return (fn(args.args, self.region, self.account) if fn else {}), []


@dataclass
class ProgramRun:
    """What running the program produced: registrations, ``pulumi.log`` messages, invokes by token."""

    resources: list[RegisteredResource]
    messages: list[tuple[str, str]] = field(default_factory=list)
    invokes: dict[str, int] = field(default_factory=dict)


class _ProgramLog(logging.Handler):
    """Collects what the program logs through the (mock) engine: (severity, message) pairs."""

    _count = 0

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        _ProgramLog._count += 1
        self.messages: list[tuple[str, str]] = []
        self.logger = logging.getLogger(f"{__name__}.program.{_ProgramLog._count}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname.lower(), record.getMessage()))


def run_program(
    program: str | Path,
    *,
    stack: str,
    config: Mapping[str, str],
    project: str = PROJECT,
    preview: bool = False,
    organization: str = "organization",
) -> ProgramRun:
    """Run a Pulumi Python program in-process under mocks, as the language host runs it.

    ``config`` is the engine-encoded stack config (:func:`engine_config`). The program runs on a thread
    of its own, with an empty context (the SDK keeps its settings, config and root resource in context
    variables) and its own event loop, so nothing leaks into the caller; the working directory is the
    program directory, and it runs inside ``run_in_stack``: the root ``pulumi:pulumi:Stack`` exists
    and every RPC and output is awaited before this returns. Registered resources come back in
    registration order, with what the program logged through ``pulumi.log`` (the engine shows those
    as the stack's diagnostics).
    """
    import pulumi.runtime
    from pulumi.runtime import settings as pulumi_settings

    program_dir = Path(program).resolve()
    entry = program_dir if program_dir.is_dir() else program_dir.parent
    mocks = PlanMocks(config, preview)
    monitor = CapturingMonitor(mocks)
    failure: list[BaseException] = []
    log = _ProgramLog()

    def main() -> None:
        runpy.run_path(str(program_dir), run_name="__main__")

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        cwd = os.getcwd()
        try:
            pulumi.runtime.set_mocks(
                mocks,
                project=project,
                stack=stack,
                preview=preview,
                monitor=monitor,
                organization=organization,
                logger=log.logger,
            )
            # set_mocks made a root Stack for unit tests; the language host's runner makes its own.
            pulumi_settings.ROOT.set(None)
            pulumi.runtime.set_all_config(dict(config))
            os.chdir(entry)
            loop.run_until_complete(pulumi.runtime.run_in_stack(main))
        except BaseException as exc:
            failure.append(exc)
        finally:
            os.chdir(cwd)
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            with contextlib.suppress(BaseException):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            monitor.close_loops()
            asyncio.set_event_loop(None)

    # A thread of its own: its event loop and context variables (the SDK's settings, config and root
    # resource) start empty and end with it, leaving the caller's untouched.
    worker = threading.Thread(target=contextvars.Context().run, args=(run,), name="pulumi-program", daemon=True)
    worker.start()
    worker.join()
    if monitor.duplicates and not failure:
        dupes = ", ".join(sorted(set(monitor.duplicates)))
        raise ProgramError(f"the stack program registered duplicate resource URNs: {dupes}")
    if failure:
        exc = failure[0]
        if isinstance(exc, IntentError):
            raise exc
        raise ProgramError(f"the stack program failed: {type(exc).__name__}: {exc}") from exc
    return ProgramRun(list(monitor.captured.values()), log.messages, dict(mocks.invoked))


def _with_default_providers(
    resources: list[RegisteredResource], config: Mapping[str, str], project: str, stack: str
) -> list[RegisteredResource]:
    """Add the default providers the engine registers itself (``pulumi:providers:<pkg>::default_<ver>``),
    configured from the stack's ``<pkg>:*`` config, and point provider-less custom resources at them."""
    out: list[RegisteredResource] = []
    made: dict[str, RegisteredResource] = {}
    for r in resources:
        pkg = r.type.split(":", 1)[0]
        if r.custom and not r.read and not r.provider and pkg not in {"pulumi", PROJECT} and ":" in r.type:
            name = "default" + (f"_{r.version.replace('.', '_')}" if r.version else "")
            urn = f"urn:pulumi:{stack}::{project}::pulumi:providers:{pkg}::{name}"
            if urn not in made:
                inputs: dict[str, Any] = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(pkg + ":")}
                if r.version:
                    inputs["version"] = r.version
                made[urn] = RegisteredResource(
                    urn=urn,
                    type=f"pulumi:providers:{pkg}",
                    name=name,
                    custom=True,
                    parent="",
                    inputs=inputs,
                    outputs=dict(inputs),
                    id=f"{name}-id",
                    default_provider=True,
                )
                out.append(made[urn])
            r = dataclasses.replace(r, provider=f"{urn}::{made[urn].id}")
        out.append(r)
    return out


def _analyzer_resources(resources: Sequence[RegisteredResource], *, outputs: bool) -> list[AnalyzerResource]:
    by_urn = {r.urn: r for r in resources}

    def provider_of(r: RegisteredResource) -> AnalyzerResource | None:
        p = by_urn.get(r.provider_urn)
        if p is None:
            return None
        return AnalyzerResource(urn=p.urn, type=p.type, name=p.name, properties=p.inputs)

    return [
        AnalyzerResource(
            urn=r.urn,
            type=r.type,
            name=r.name,
            properties=r.outputs if outputs else r.inputs,
            parent=r.parent,
            dependencies=r.dependencies,
            property_dependencies=r.property_dependencies,
            protect=r.protect,
            ignore_changes=r.ignore_changes,
            delete_before_replace=r.delete_before_replace,
            additional_secret_outputs=r.additional_secret_outputs,
            aliases=r.aliases,
            custom_timeouts=r.custom_timeouts,
            provider=provider_of(r),
        )
        for r in resources
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


def run_plan(
    stack: str,
    *,
    stacks_dir: str | Path = "stacks",
    program: str | Path | None = None,
    pack_dir: str | Path = "policy_packs/baseline",
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
    stacks = Path(stacks_dir)
    stack_file = stacks / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks.glob("Pulumi.*.yaml"))
        hint = f"; stacks in {stacks}: {', '.join(known)}" if known else ""
        raise PlanError(f"no stack file {stack_file}{hint}")
    intent_from_config(read_stack_config(stack_file), base_dir=stacks, source=str(stack_file))
    config = read_stack_file(stack_file)
    given = load_policy_pack_config(policy_pack_config) if policy_pack_config else None
    pack_path = Path(pack_dir)
    if not (pack_path / "PulumiPolicy.yaml").is_file():
        raise PlanError(f"no policy pack at {pack_path} (no PulumiPolicy.yaml)")
    program_path = Path(program) if program is not None else stacks
    if not (program_path / "__main__.py").is_file() and not program_path.is_file():
        raise PlanError(f"no stack program at {program_path} (no __main__.py)")
    wire_config = engine_config(config)
    catalog = load_catalog()

    pack_env = dict(os.environ if env is None else env)
    pack_env["FLEET_BASELINE_STACKS_DIR"] = str(stacks.resolve())
    pack = PackProcess(pack_path, project=PROJECT, stack=stack, dry_run=preview, config=wire_config, env=pack_env)
    with contextlib.closing(pack):
        pack.spawn()  # the pack starts while the program runs, as under the engine
        step("policy pack starting; running the stack program under mocks")
        run = run_program(program_path, stack=stack, config=wire_config, preview=preview)
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


# --------------------------------------------------------------------------- text output


def _wrap(text: str, width: int, indent: str, subsequent: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def format_text(result: PlanResult, width: int = 110) -> str:
    """The human-readable report: resources by type, then violations by control and severity."""
    lines: list[str] = []
    phase = "preview (computed values unknown)" if result.preview else "up (every value known)"
    lines.append(
        f"Stack {result.stack} (project {result.project}): {len(result.resources)} resources, "
        f"policy pack {result.pack.name} {result.pack.version} ({len(result.pack.policies)} policies), as at {phase}"
    )
    lines.append("")
    lines.append("Resources")
    by_type: dict[str, list[str]] = defaultdict(list)
    for r in result.resources:
        by_type[r.type].append(r.name)
    type_width = min(max((len(t) for t in by_type), default=0), 60)
    for t, names in by_type.items():
        head = f"  {len(names):>3}  {t:<{type_width}}  "
        wrapped = _wrap(", ".join(sorted(names)), width, head, " " * len(head))
        lines.extend(wrapped or [head.rstrip()])
    lines.append("")

    if result.messages:
        lines.append("Program diagnostics")
        for sev, msg in result.messages:
            lines.extend(_wrap(f"{sev}: {msg}", width, "  ", "    "))
        lines.append("")

    ordered = result._ordered()
    violations = [d for d in ordered if not d.undecided]
    undecided = [d for d in ordered if d.undecided]
    lines.append("Policy violations" if violations else "Policy violations: none")
    groups: dict[tuple[str, str], list[Diagnostic]] = defaultdict(list)
    for d in violations:
        groups[(d.policy, d.enforcement_level)].append(d)
    for (policy, level), items in groups.items():
        control = result.control(policy)
        cid = control.id if control else "?"
        sev = items[0].severity or (control.severity if control else "?")
        lines.append(f"  {cid:<7} {sev:<8} {level.upper():<9} {policy} ({len(items)})")
        for d in items:
            res = result.resource(d.urn)
            where = f"{res.type} {res.name}" if res else (d.urn or "(the stack)")
            lines.append(f"      {where}")
            for para in d.detail.splitlines():
                lines.extend(_wrap(para, width, " " * 8))
    if undecided:
        lines.append("")
        lines.append("Not decidable at preview (advisory: the values are unknown until apply)")
        for d in undecided:
            control = result.control(d.policy)
            res = result.resource(d.urn)
            where = f"{res.type} {res.name}" if res else (d.urn or "(stack policy)")
            reason = d.message.split(" during preview: ", 1)[-1]
            lines.extend(_wrap(f"{control.id if control else '?':<7} {where}: {reason}", width, "  ", " " * 10))
    lines.append("")
    counts = result.counts()
    mandatory_ids = sorted(
        {c.id for d in result.mandatory if (c := result.control(d.policy))},
        key=lambda i: [c.id for c in result.catalog].index(i),
    )
    if result.blocked:
        verdict = f"BLOCKED: {counts['mandatory']} mandatory violation(s) ({', '.join(mandatory_ids)})"
    else:
        verdict = "OK: no mandatory violations"
    lines.append(f"{verdict}; {counts['advisory']} advisory; {counts['undecided']} not decidable at preview.")
    return "\n".join(lines)
