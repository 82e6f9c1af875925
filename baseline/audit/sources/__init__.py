"""What an audit reads: manifests, a Pulumi state export or a live cluster, as a :class:`Snapshot`.

Three readers turn what a platform team has into the same thing, a list of
:class:`~baseline.evaluator.Subject` plus what routing and reporting need (the cluster, the stack,
the stamped baseline version, each namespace's owner, the exception records), so one evaluator
judges them all (``baseline.audit``):

* :func:`read_manifests`: YAML or JSON files and directories, as ``kubectl apply -f`` takes them,
  including ``kubectl get -o json`` ``List`` documents.
* :func:`read_state`: a ``pulumi stack export`` (deployment format v3). Each resource is judged on
  its refreshed **outputs** (the live object for Kubernetes resources; the cloud's view, with the
  same camelCase names the inputs use, for cloud resources), not on what the program asked for:
  that is what makes drift visible. Encrypted secrets become the engine's unknown sentinel, so a
  check that reads one says ``unknown``, never ``pass``.
* :func:`read_live`: read-only list calls against a cluster's API, for every kind the catalog's
  library names, through the official ``kubernetes`` client. :func:`audit_cluster_role` is the
  ClusterRole that permits exactly those reads (``docs/audit-clusterrole.yaml`` is generated from it).

Everything here parses; nothing judges. Inputs are untrusted and bounded: files over a size cap,
YAML alias bombs, nesting deeper than :data:`MAX_DEPTH`, duplicate keys, invalid UTF-8 and truncated
JSON are refused with a :class:`SourceError` that names the file (and the document or byte offset),
never a traceback. A state export is read as a stream, one resource at a time, so memory holds what
is judged (each resource's outputs) and not the whole document with every input beside it.
"""

from __future__ import annotations

from baseline.audit.sources.live import LiveRead, audit_cluster_role, audit_cluster_role_yaml, live_reads, read_live
from baseline.audit.sources.manifests import read_manifests
from baseline.audit.sources.snapshot import (
    BASELINE_VERSION_LABEL,
    DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_MAX_NODES,
    DEFAULT_MAX_STATE_BYTES,
    MAX_DEPTH,
    OWNER_LABEL,
    UNKNOWN,
    Snapshot,
    SourceError,
)
from baseline.audit.sources.state import read_state

__all__ = [
    "BASELINE_VERSION_LABEL",
    "DEFAULT_MAX_MANIFEST_BYTES",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_STATE_BYTES",
    "MAX_DEPTH",
    "OWNER_LABEL",
    "UNKNOWN",
    "LiveRead",
    "Snapshot",
    "SourceError",
    "audit_cluster_role",
    "audit_cluster_role_yaml",
    "live_reads",
    "read_live",
    "read_manifests",
    "read_state",
]
