"""Judge a snapshot (manifests, a state export, a live cluster) and route each finding to its owner.

The evaluator does the judging, exactly as it does at preview and at admission: the audit adds only
what a report needs beyond a verdict. Each finding goes to the team that can act on it: the owner
label the namespace carries (``fleet-baseline.io/owner``, what the cluster itself says), else the
owner the intent gives the namespace, else the cluster's owner (the intent's, or the cluster
resource's owner tag). Exceptions are judged too (ST-02): the records found in the snapshot (a state
export holds one ``fleet-baseline:policy:Exception`` per exception) and the intent's exceptions that
have no record there.

The stamped baseline version (ST-01) needs nothing here: the catalog judges the cluster's tag and each
namespace's label like any other property.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from baseline.evaluator import Evaluator, Finding, Subject

if TYPE_CHECKING:
    from baseline.audit.sources import Snapshot
    from baseline.intent import ExceptionIntent, Intent

__all__ = ["audit", "exceptions_from_records", "route_owner"]


def route_owner(
    namespace: str | None,
    *,
    labelled: Mapping[str, str],
    declared: Mapping[str, str],
    cluster_owner: str | None,
) -> str | None:
    """The owner of a finding in ``namespace`` (None: a cluster-scoped object or a cloud resource)."""
    if namespace is not None:
        owner = labelled.get(namespace) or declared.get(namespace)
        if owner:
            return owner
    return cluster_owner


def audit(snapshot: Snapshot, evaluator: Evaluator, *, intent: Intent | None = None) -> list[Finding]:
    """Every finding about the snapshot's subjects and exception records, owned and placed.

    ``intent`` (the stack's) supplies the owners the snapshot lacks: its namespaces' owners and the
    cluster's. The findings' cluster is the subject's (the snapshot's), else the evaluator's.
    """
    subjects: list[Subject] = list(snapshot.subjects)
    recorded = [_canonical(r) for r in snapshot.exceptions]
    for s in evaluator.exception_subjects():
        if _canonical(s.props) not in recorded:
            subjects.append(dataclasses.replace(s, cluster=snapshot.cluster or s.cluster))
    declared = {ns.name: ns.owner for ns in intent.namespaces} if intent is not None else {}
    cluster_owner = (intent.cluster.owner if intent is not None else None) or snapshot.cluster_owner
    cluster = snapshot.cluster or evaluator.cluster
    owners: dict[str | None, str | None] = {}  # per namespace: a large audit has a million findings, few namespaces

    def place(subject: Subject) -> tuple[str | None, str | None]:
        namespace = subject.namespace
        if namespace in owners:
            owner = owners[namespace]
        else:
            owner = owners[namespace] = route_owner(
                namespace, labelled=snapshot.owners, declared=declared, cluster_owner=cluster_owner
            )
        return subject.cluster or evaluator.cluster or cluster, owner

    return evaluator.evaluate_all(subjects, place=place)


def _canonical(record: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A record's identity, whatever the key order or value types it was read with."""
    return tuple(
        sorted((str(k), repr(v if not isinstance(v, Mapping) else sorted(v.items()))) for k, v in record.items())
    )


def exceptions_from_records(
    records: Sequence[Mapping[str, Any]], problems: list[str] | None = None
) -> list[ExceptionIntent]:
    """The exception records of a state export as exceptions the evaluator honours.

    Used when no intent is given: the stack's own records are then the best account of what is
    excepted. A record that is not a valid exception is skipped (ST-02 still reports it) and noted.
    """
    from pydantic import ValidationError

    from baseline.intent import ExceptionIntent

    out: list[ExceptionIntent] = []
    for record in records:
        try:
            exc = ExceptionIntent.model_validate(dict(record))
        except ValidationError as err:
            if problems is not None:
                first = err.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"]) or "(record)"
                problems.append(f"exception record for {record.get('control')!r} not honoured: {where}: {first['msg']}")
            continue
        out.append(exc)
    return out
