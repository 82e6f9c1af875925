"""Records of policy decisions kept in the stack's state: today, the intent's exceptions.

Each exception in force is registered as a ``fleet-baseline:policy:Exception`` component whose
inputs are the exception itself (control, scope, owner, reason, expiry, ticket). That makes every
exception part of the stack's state, diffed on every preview and visible in ``pulumi stack export``
(an audit trail as a by-product of normal work), and lets the catalog's ST-02 judge it like any
other resource at preview and in the fleet view.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from baseline.exceptions import EXCEPTION_TYPE, exception_names, exception_record
from baseline.intent import ExceptionIntent

__all__ = ["ExceptionRecord", "record_exceptions"]


class ExceptionRecord(pulumi.ComponentResource):
    """One exception, recorded. It creates nothing; its inputs are the record."""

    def __init__(self, name: str, exception: ExceptionIntent, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(EXCEPTION_TYPE, name, exception_record(exception), opts)
        self.register_outputs({})


def record_exceptions(
    prefix: str, exceptions: Sequence[ExceptionIntent], opts: pulumi.ResourceOptions | None = None
) -> list[ExceptionRecord]:
    return [
        ExceptionRecord(f"{prefix}-exception-{name}", exc, opts)
        for name, exc in zip(exception_names(exceptions), exceptions, strict=True)
    ]
