"""The JSON format: the run's context and summary, then one finding a line, written chunk by chunk."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from json.encoder import encode_basestring as _json_string  # the C encoder where CPython has it
from typing import Any

from baseline.audit.formats.common import _SURROGATE, TOOL_NAME, AuditContext, _iso, _scrub, _scrub_data, summarize
from baseline.evaluator import Finding

__all__: list[str] = []

# --------------------------------------------------------------------------- json


#: findings per JSON chunk: large enough that writing is cheap, small enough that a chunk is a few MB
_JSON_CHUNK = 4096


def _json(
    findings: Sequence[Finding],
    ctx: AuditContext,
    summary: dict[str, Any] | None = None,
    locations: Mapping[str, tuple[str, int]] | None = None,
) -> Iterator[str]:
    """The context and summary indented, then ``findings``: one finding (:meth:`Finding.to_dict`) a line.

    One finding a line reads and diffs well, and is written by the C encoder (``indent`` would use
    the pure-Python one). Every string is scrubbed (:func:`_scrub`) as the other formats scrub theirs.
    ``summary``: the counts of every finding judged, when ``findings`` lists only some (passes left out).
    ``locations``: a subject's manifest ``file`` and ``line``, added to each of its findings.
    """
    doc = {
        "tool": {"name": TOOL_NAME, "version": ctx.tool_version},
        "generatedAt": _iso(ctx.generated_at),
        "sources": list(ctx.sources),
        "cluster": ctx.cluster,
        "summary": summary if summary is not None else summarize(findings),
        "problems": list(ctx.problems),
        "findings": [],
    }
    head = json.dumps(_scrub_data(doc), indent=2, ensure_ascii=False)
    if not findings:
        yield head + "\n"
        return
    head = head.removesuffix('[]\n}')
    encode = _FindingEncoder()
    where = locations or {}

    def placed(f: Finding) -> str:
        line = encode(f)
        at = where.get(f.subject)
        if at is None:
            return line
        return f"{line[:-1]}, \"file\": {_json_string(_scrub(at[0]))}, \"line\": {int(at[1])}}}"

    for start in range(0, len(findings), _JSON_CHUNK):
        lines = ",\n    ".join(placed(f) for f in findings[start : start + _JSON_CHUNK])
        if start == 0:
            yield f"{head}[\n    {lines}"
        else:
            yield f",\n    {lines}"
    yield "\n  ]\n}\n"


class _FindingEncoder:
    """``json.dumps(_scrub_data(f.to_dict()), ensure_ascii=False)``, made cheaply: a million findings
    share a few hundred heads (control, policy, title, severity, mode, status), bodies (type,
    message, remediation) and tails (cluster, namespace, owner); each is encoded once."""

    __slots__ = ("_bodies", "_heads", "_tails")

    def __init__(self) -> None:
        self._heads: dict[tuple[str, ...], str] = {}
        self._bodies: dict[tuple[str, ...], str] = {}
        self._tails: dict[tuple[str | None, ...], str] = {}

    def __call__(self, f: Finding) -> str:
        if f.exception is not None or f.unknown or f.detail:  # rarer: the general encoder
            line = json.dumps(f.to_dict(), ensure_ascii=False)
        else:
            key = (f.control_id, f.policy_name, f.title, f.severity, f.mode, f.status)
            head = self._heads.get(key)
            if head is None:
                head = self._heads[key] = (
                    f'{{"control": {_json_string(f.control_id)}, "policy": {_json_string(f.policy_name)},'
                    f' "title": {_json_string(f.title)}, "severity": {_json_string(f.severity)},'
                    f' "mode": {_json_string(f.mode)}, "status": {_json_string(f.status)}, "subject": '
                )
            said = (f.subject_type, f.message, f.remediation)
            body = self._bodies.get(said)
            if body is None:
                body = self._bodies[said] = (
                    f', "type": {_json_string(f.subject_type)}, "message": {_json_string(f.message)},'
                    f' "remediation": {_json_string(f.remediation)}'
                )
            where = (f.cluster, f.namespace, f.owner)
            tail = self._tails.get(where)
            if tail is None:
                tail = self._tails[where] = "".join(
                    f", {_json_string(name)}: {_json_string(value)}"
                    for name, value in zip(("cluster", "namespace", "owner"), where, strict=True)
                    if value
                ) + "}"
            line = head + _json_string(f.subject) + body + tail
        # the encoder writes a lone surrogate as it is (ensure_ascii=False), so scrubbing the line
        # scrubs each of its strings; ASCII lines (nearly all) need no look
        if not line.isascii() and _SURROGATE.search(line):
            line = _scrub(line)
        return line
