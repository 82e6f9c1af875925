"""A pulumi stack export (deployment format v3), read as a stream one resource at a time: each resource judged on its
refreshed outputs.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

from baseline.audit.sources.snapshot import (
    _CLUSTER_COMPONENT,
    _CLUSTER_STAMPS,
    _JSON_STRICT,
    _OUTPUT_SIG,
    _RESOURCE_SIG,
    _SECRET_SIG,
    _SIG,
    _WS,
    DEFAULT_MAX_STATE_BYTES,
    MAX_DEPTH,
    UNKNOWN,
    Snapshot,
    SourceError,
    _quote,
    _slim_kubernetes,
    _snapshot,
    _too_deep,
)
from baseline.exceptions import EXCEPTION_TYPE

__all__ = [
    "read_state",
]

# =========================================================================== state exports


class _JsonStream:
    """One JSON document read as a stream: structure token by token, values whole.

    The C decoder's ``raw_decode`` parses each value (a resource) from a sliding text buffer; a value
    cut by the end of the buffer is retried with more text (the read size doubles, so a huge value
    costs linear time). Bytes are counted against ``max_bytes`` as they arrive (after gunzip), UTF-8
    is checked as it is decoded, and every error carries the byte offset where it was found.
    """

    _CHUNK = 1 << 20

    def __init__(self, fh: IO[bytes], source: str, max_bytes: int) -> None:
        self._fh = fh
        self.source = source
        self._max = max_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._decode = _JSON_STRICT.raw_decode  # duplicate keys refused at any depth
        self.buf = ""
        self.pos = 0
        self._base = 0  # byte offset of buf[0]
        self._read = 0  # bytes read so far
        self.eof = False
        self._started = False

    # ------------------------------------------------------------------ buffer

    def _fill(self, want: int) -> None:
        if self.eof:
            return
        if self.pos > (1 << 16) and self.pos > len(self.buf) // 2:
            dropped = self.buf[: self.pos]
            self._base += len(dropped) if dropped.isascii() else len(dropped.encode("utf-8"))
            self.buf = self.buf[self.pos :]
            self.pos = 0
        try:
            data = self._fh.read(max(want, self._CHUNK))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise SourceError(f"{self.source}: not a valid gzip file, or a truncated one: {exc}") from None
        except OSError as exc:
            raise SourceError(f"{self.source}: cannot read after byte {self._read}: {exc}") from None
        if len(data) + self._read > self._max:
            raise SourceError(
                f"{self.source}: over the {self._max}-byte limit for a state export"
                " (raise it with --max-state-bytes, or export one stack per file)"
            )
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.source}: not UTF-8 text: {exc.reason} at byte {self._read + exc.start}") from None
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._read += len(data)
        self.buf += text
        if not data:
            self.eof = True

    def byte_at(self, index: int) -> int:
        head = self.buf[:index]
        return self._base + (len(head) if head.isascii() else len(head.encode("utf-8")))

    def _fail(self, what: str, index: int | None = None) -> SourceError:
        at = self.byte_at(self.pos if index is None else index)
        tail = f" (the input ends at byte {self._read}: truncated?)" if self.eof and at >= self._read - 64 else ""
        return SourceError(f"{self.source}: {what} at byte {at}{tail}")

    # ------------------------------------------------------------------ tokens

    def peek(self) -> str:
        """The next non-blank character ('' at the end), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self._fill(self._CHUNK)

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = f"{c!r}" if c else "the end of the input"
            raise self._fail(f"not a state export: expected {' or '.join(repr(x) for x in chars)}, found {found}")
        self.pos += 1
        return c

    def value(self) -> tuple[Any, int, int]:
        """The next JSON value, whole, and its span in ``buf``."""
        self.peek()
        want = self._CHUNK
        while True:
            start = self.pos
            try:
                value, end = self._decode(self.buf, start)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self._fail(f"invalid JSON: {exc.msg}", exc.pos) from None
                self._fill(want)
                want *= 2
                continue
            except RecursionError:
                raise self._fail("refused: nesting too deep") from None
            except ValueError as exc:  # a number Python refuses (an integer of more than 4300 digits)
                raise self._fail(f"refused: {exc}") from None
            if end == len(self.buf) and not self.eof and self.buf[start] in "-0123456789tfn":
                self._fill(want)  # a number or literal cut by the buffer's end: read on, decode again
                continue
            self.pos = end
            return value, start, end

    def key(self) -> str:
        key, _, _ = self.value()
        if not isinstance(key, str):
            raise self._fail("not a state export: object keys are strings")
        return key

    def finish(self) -> None:
        if self.peek():
            raise self._fail("invalid JSON: extra data after the document")


#: Where the resources are: ``pulumi stack export`` writes ``deployment``, a file backend's
#: checkpoint (``.pulumi/stacks/<stack>.json``) ``checkpoint.latest``.
_DESCEND = frozenset({("deployment",), ("checkpoint",), ("checkpoint", "latest")})
_RESOURCES = frozenset({("deployment", "resources"), ("checkpoint", "latest", "resources")})
_KEEP = frozenset({("version",), ("deployment", "secrets_providers"), ("checkpoint", "latest", "secrets_providers")})
_SUPPORTED_VERSIONS = (1, 2, 3)


class _StateReader:
    """Turns each streamed resource into what is judged, keeping nothing else."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.raw: list[tuple[Mapping[str, Any], str | None, str | None, str | None]] = []
        self.kept: dict[tuple[str, ...], Any] = {}
        self.stack: str | None = None
        self.cluster: str | None = None
        self.cluster_resource_name: str | None = None
        self.stamp: str | None = None
        self.cluster_owner: str | None = None
        self.exceptions: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.no_outputs: list[str] = []
        self.encrypted = 0
        self.pending_delete = 0
        self.count = 0
        self.found_resources = False

    def walk(self, stream: _JsonStream) -> None:
        if stream.peek() != "{":
            raise stream._fail("not a state export: the document is not a JSON object")
        self._object(stream, ())
        stream.finish()

    def _object(self, stream: _JsonStream, path: tuple[str, ...]) -> None:
        stream.expect("{")
        if stream.peek() == "}":
            stream.pos += 1
            return
        seen: set[str] = set()
        while True:
            key = stream.key()
            if key in seen:  # Go's decoder keeps the last; which one the engine meant is anyone's guess
                raise stream._fail(f"refused: duplicate key {_quote(key)}")
            seen.add(key)
            stream.expect(":")
            here = (*path, key)
            c = stream.peek()
            if here in _DESCEND and c == "{":
                self._object(stream, here)
            elif here in _RESOURCES and c == "[":
                self.found_resources = True
                self._resources(stream)
            else:
                value, _, _ = stream.value()
                if here == ("version",) and value not in _SUPPORTED_VERSIONS:
                    raise SourceError(
                        f"{self.source}: deployment version {_quote(value)}: this reader knows versions 1 to 3"
                        " (pulumi stack export writes 3)"
                    )
                if here in _KEEP:
                    self.kept[here] = value
                elif here in _RESOURCES and value is not None:
                    raise stream._fail("not a state export: resources is not a list")
                elif here in _RESOURCES:
                    self.found_resources = True
            if stream.expect(",}") == "}":
                return

    def _resources(self, stream: _JsonStream) -> None:
        stream.expect("[")
        if stream.peek() == "]":
            stream.pos += 1
            return
        while True:
            value, start, end = stream.value()
            if _too_deep(stream.buf, start, end, MAX_DEPTH):
                raise stream._fail(f"refused: resource {self.count} nests deeper than {MAX_DEPTH} levels", start)
            self.take(value, stream.buf.find(_SIG, start, end) != -1)
            self.count += 1
            if stream.expect(",]") == "]":
                return

    def take(self, res: Any, signed: bool) -> None:
        """One resource: skipped, noted (stack, cluster, exception) or kept as a subject."""
        index = self.count
        if not isinstance(res, dict) or not isinstance(res.get("urn"), str) or not isinstance(res.get("type"), str):
            self.problems.append(f"{self.source}: resources[{index}] has no urn and type: skipped")
            return
        urn: str = res["urn"]
        typ: str = res["type"]
        parts = urn.split("::", 3)
        if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
            self.problems.append(f"{self.source}: resources[{index}]: {_quote(urn, 200)} is not a Pulumi URN: skipped")
            return
        if self.stack is None or typ == "pulumi:pulumi:Stack":
            self.stack = parts[0].removeprefix("urn:pulumi:")
        name = parts[3]
        if typ == "pulumi:pulumi:Stack" or typ.startswith("pulumi:providers:"):
            return
        if res.get("delete") is True:
            self.pending_delete += 1  # an old copy awaiting deletion after a replace: its successor is judged
            return
        inputs, outputs = res.get("inputs"), res.get("outputs")
        if not res.get("custom"):
            if typ == EXCEPTION_TYPE:
                record = inputs if isinstance(inputs, dict) and inputs else outputs
                if isinstance(record, dict):
                    record = self._reveal(record) if signed else record
                    self.exceptions.append(record)
                    self.raw.append((record, typ, name, urn))
            elif _CLUSTER_COMPONENT.match(typ):
                self.cluster = name
            return
        if isinstance(outputs, dict) and outputs:
            props = outputs
        elif isinstance(inputs, dict):
            props = inputs
            self.no_outputs.append(urn)
        else:
            self.problems.append(f"{self.source}: {urn}: neither outputs nor inputs: skipped")
            return
        if signed:
            props = self._reveal(props)
        if any(k.startswith("__") for k in props):  # engine-internal keys (__inputs, __meta)
            props = {k: v for k, v in props.items() if not k.startswith("__")}
        if typ.startswith("kubernetes:"):
            _slim_kubernetes(props)
        stamp = _CLUSTER_STAMPS.get(typ)
        if stamp is not None:
            self._cluster_resource(props, stamp)
        self.raw.append((props, typ, name, urn))

    def _cluster_resource(self, props: Mapping[str, Any], stamp: tuple[str, str, str, bool]) -> None:
        prop, version_key, owner_key, dashed = stamp
        labels = props.get(prop)
        if isinstance(labels, Mapping):
            version, owner = labels.get(version_key), labels.get(owner_key)
            if isinstance(version, str) and version and self.stamp is None:
                self.stamp = version.replace("-", ".") if dashed else version
            if isinstance(owner, str) and owner and self.cluster_owner is None:
                self.cluster_owner = owner
        name = props.get("name")
        if isinstance(name, str) and name and self.cluster_resource_name is None:
            self.cluster_resource_name = name

    def _reveal(self, value: Any) -> Any:
        """Secrets decoded where the export holds plaintext, the unknown sentinel where it holds
        ciphertext; resource references as the engine hands them to policies (their id)."""
        if isinstance(value, dict):
            sig = value.get(_SIG)
            if sig == _SECRET_SIG:
                if "plaintext" in value:
                    text = value["plaintext"]
                    if isinstance(text, str) and _too_deep(text, 0, len(text), MAX_DEPTH):
                        raise SourceError(
                            f"{self.source}: refused: resource {self.count} holds a secret nesting deeper than"
                            f" {MAX_DEPTH} levels"
                        )
                    try:
                        return self._reveal(json.loads(value["plaintext"]))
                    except (TypeError, ValueError):
                        self.encrypted += 1
                        return UNKNOWN
                if "value" in value:
                    return self._reveal(value["value"])
                self.encrypted += 1
                return UNKNOWN
            if sig == _RESOURCE_SIG:
                ref = value.get("id") or value.get("urn")
                return ref if isinstance(ref, str) and ref else UNKNOWN
            if sig == _OUTPUT_SIG:
                return self._reveal(value["value"]) if "value" in value else UNKNOWN
            return {k: self._reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._reveal(v) for v in value]
        return value

    def snapshot(self) -> Snapshot:
        if not self.found_resources:
            raise SourceError(f"{self.source}: not a state export: no deployment.resources (use pulumi stack export)")
        problems = list(self.problems)
        if self.no_outputs:
            shown = ", ".join(self.no_outputs[:5]) + (
                f" and {len(self.no_outputs) - 5} more" if len(self.no_outputs) > 5 else ""
            )
            problems.append(
                f"{self.source}: {len(self.no_outputs)} resources have no outputs (never refreshed or created?):"
                f" judged on their inputs, which may not be what runs: {shown}"
            )
        if self.encrypted:
            problems.append(
                f"{self.source}: {self.encrypted} secret values are encrypted: checks that read them report unknown"
                " (pulumi stack export --show-secrets decrypts them)"
            )
        if self.pending_delete:
            problems.append(f"{self.source}: {self.pending_delete} resources pending deletion were not judged")
        return _snapshot(
            self.source,
            self.raw,
            cluster=self.cluster or self.cluster_resource_name,
            stack=self.stack,
            stamp=self.stamp,
            cluster_owner=self.cluster_owner,
            problems=problems,
            exceptions=self.exceptions,
        )


def read_state(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_STATE_BYTES,
) -> Snapshot:
    """A ``pulumi stack export`` document (``-`` reads stdin; gzip is recognised by its magic bytes).

    Each custom resource is judged on its outputs; one without outputs on its inputs, with a problem
    saying so. The stack, default providers and component resources are not judged, except the
    ``fleet-baseline:policy:Exception`` records (ST-02 judges them; they are also listed in
    ``exceptions``) and the cluster components, whose name is the cluster's. The stack name comes from
    the URNs (``urn:pulumi:STACK::PROJECT::...``). Over ``max_bytes`` (checked before reading a file,
    and as a stream is read), invalid or truncated JSON, bad UTF-8 and nesting deeper than
    :data:`MAX_DEPTH` are a :class:`SourceError` with the byte offset.
    """
    if isinstance(path, str | os.PathLike):
        if str(path) == "-":
            return _read_state_stream(sys.stdin.buffer, "<stdin>", max_bytes)
        p = Path(path)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None
        if p.is_file() and size > max_bytes:
            raise SourceError(
                f"{p}: {size} bytes is over the {max_bytes}-byte limit for a state export"
                " (raise it with --max-state-bytes, or export one stack per file)"
            )
        try:
            with p.open("rb") as fh:
                return _read_state_stream(fh, str(p), max_bytes)
        except OSError as exc:
            raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return _read_state_stream(path, getattr(path, "name", "<stream>"), max_bytes)


def _read_state_stream(fh: IO[bytes], source: str, max_bytes: int) -> Snapshot:
    buffered: Any = fh if hasattr(fh, "peek") else io.BufferedReader(cast(Any, fh))
    head = buffered.peek(2)[:2]
    stream_fh: Any = gzip.GzipFile(fileobj=buffered, mode="rb") if head == b"\x1f\x8b" else buffered
    reader = _StateReader(source)
    try:
        reader.walk(_JsonStream(stream_fh, source, max_bytes))
    except gzip.BadGzipFile as exc:
        raise SourceError(f"{source}: not a valid gzip file: {exc}") from None
    return reader.snapshot()
