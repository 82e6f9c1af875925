"""What plan speaks like the engine: the config encoding, property marshalling and signature keys, and plan's errors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2  # type: ignore[import-untyped]

from baseline.loader import CONFIG_NAMESPACE

__all__ = [
    "ENGINE_ADDRESS",
    "PackError",
    "PlanError",
    "ProgramError",
    "engine_config",
    "engine_marshal",
    "masked_inputs",
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


#: How ``pulumi preview --json`` shows a secret value without --show-secrets.
SECRET_MASK = "[secret]"


def masked_inputs(value: Any) -> Any:
    """Inputs as the engine received them (:func:`engine_marshal`), every secret shown as ``[secret]``
    the way ``pulumi preview --json`` shows a step's new state; unknowns keep the engine's sentinel."""

    def mask(v: Any) -> Any:
        if isinstance(v, Mapping):
            if v.get(_SIG) == _SECRET_SIG:
                return SECRET_MASK
            return {k: mask(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mask(x) for x in v]
        return v

    return mask(engine_marshal(value))


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
