"""The policy pack as the engine runs it: a child process spoken to over the Analyzer gRPC protocol, and the
policy-pack config it is configured with.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from baseline.plan.wire import _CANT_RUN, ENGINE_ADDRESS, PackError, PlanError, _jsonable, engine_marshal, to_struct

__all__ = [
    "AnalyzerResource",
    "Diagnostic",
    "PackInfo",
    "PackProcess",
    "PolicyInfo",
    "load_policy_pack_config",
    "reconcile_policy_config",
]

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
