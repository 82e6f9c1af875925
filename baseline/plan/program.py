"""The stack program under Pulumi's mocks: every registration captured as the engine would receive it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import os
import re
import runpy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_project, get_stack

from baseline.loader import IntentError
from baseline.plan.analyzer import AnalyzerResource
from baseline.plan.mocks import PlanMocks
from baseline.plan.wire import PROJECT, ProgramError, masked_inputs

__all__ = [
    "CapturingMonitor",
    "ProgramRun",
    "RegisteredResource",
    "run_program",
]

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
        if self.custom or self.inputs:
            # what will be created, as `pulumi preview --json` carries a step's new state: secrets masked
            out["inputs"] = masked_inputs(self.inputs)
        if self.dependencies:
            out["dependencies"] = sorted(self.dependencies)  # a set to the engine: the SDK sends it in hash order
        if self.property_dependencies:
            out["propertyDependencies"] = {k: sorted(v) for k, v in sorted(self.property_dependencies.items())}
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
    stacks_dir: str | Path | None = None,
) -> ProgramRun:
    """Run a Pulumi Python program in-process under mocks, as the language host runs it.

    ``stacks_dir``: the stack config directory the program resolves ``intentFile`` against (a program
    calling :func:`providers.program.run` finds it through ``Pulumi.yaml`` otherwise).

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

    stacks_abs = Path(stacks_dir).resolve() if stacks_dir is not None else None  # before the chdir below

    def main() -> None:
        if stacks_abs is not None:
            from providers.program import STACKS_DIR

            STACKS_DIR.set(stacks_abs)  # this run's context only
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
