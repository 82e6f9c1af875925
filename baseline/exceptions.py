"""Exceptions: owned, reasoned, expiring exemptions from one control, matched the same way everywhere.

An exception exempts an object when its control matches, it has not expired (``expires`` is the
last day it holds), and its scope covers the object: the whole cluster, one namespace, or an object
name glob (optionally within a namespace). An expired exception exempts nothing; ST-02 reports it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from baseline.intent import ExceptionIntent

__all__ = [
    "EXCEPTION_TYPE",
    "ActiveException",
    "Scoped",
    "describe_scope",
    "exception_names",
    "exception_record",
    "is_expired",
    "match_exception",
    "scope_covers",
]

#: Type token of an exception's record: the stack registers one per exception, so exceptions are in
#: the stack's state (an audit trail as a by-product) and ST-02 judges them like any other resource.
EXCEPTION_TYPE = "fleet-baseline:policy:Exception"


class Scoped(Protocol):
    """What an exception's scope is matched against: the evaluator's ``Subject`` is one; so is a
    finding. Declared here so this module needs nothing of the evaluator (which imports it)."""

    @property
    def namespace(self) -> str | None: ...

    @property
    def object_name(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ActiveException:
    """The exception that turned a failure into ``excepted``: whose it is and until when."""

    control: str
    owner: str
    reason: str
    expires: dt.date
    scope: str
    ticket: str | None = None

    def days_left(self, today: dt.date) -> int:
        return (self.expires - today).days

    def to_dict(self) -> dict[str, Any]:
        out = {
            "control": self.control,
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "scope": self.scope,
        }
        if self.ticket:
            out["ticket"] = self.ticket
        return out


def is_expired(exc: ExceptionIntent, today: dt.date) -> bool:
    return exc.expires < today


def describe_scope(exc: ExceptionIntent) -> str:
    s = exc.scope
    if s.cluster:
        return "cluster"
    parts = []
    if s.namespace:
        parts.append(f"namespace={s.namespace}")
    if s.object_name:
        parts.append(f"name={s.object_name}")
    return ",".join(parts)


def scope_covers(exc: ExceptionIntent, subject: Scoped) -> bool:
    s = exc.scope
    if s.cluster:
        return True
    if s.namespace is not None and subject.namespace != s.namespace:
        return False
    if s.object_name is not None:
        name = subject.object_name
        return name is not None and fnmatch.fnmatchcase(name, s.object_name)
    return True


def match_exception(
    exceptions: Iterable[ExceptionIntent], control_id: str, subject: Scoped, today: dt.date
) -> ActiveException | None:
    for exc in exceptions:
        if exc.control != control_id or is_expired(exc, today) or not scope_covers(exc, subject):
            continue
        return ActiveException(
            control=exc.control,
            owner=exc.owner,
            reason=exc.reason,
            expires=exc.expires,
            scope=describe_scope(exc),
            ticket=exc.ticket,
        )
    return None


def exception_record(exc: ExceptionIntent) -> dict[str, Any]:
    """The exception as plain data (wire names), as recorded in state and judged by ST-02."""
    scope: dict[str, Any] = {}
    if exc.scope.cluster:
        scope["cluster"] = True
    if exc.scope.namespace:
        scope["namespace"] = exc.scope.namespace
    if exc.scope.object_name:
        scope["objectName"] = exc.scope.object_name
    record: dict[str, Any] = {
        "control": exc.control,
        "scope": scope,
        "owner": exc.owner,
        "reason": exc.reason,
        "expires": exc.expires.isoformat(),
    }
    if exc.ticket:
        record["ticket"] = exc.ticket
    return record


def exception_names(exceptions: Iterable[ExceptionIntent]) -> list[str]:
    """Stable record names: control id and a running number per control (``ns-01-0``)."""
    seen: dict[str, int] = {}
    names = []
    for exc in exceptions:
        n = seen.get(exc.control, 0)
        seen[exc.control] = n + 1
        names.append(f"{exc.control.lower()}-{n}")
    return names
