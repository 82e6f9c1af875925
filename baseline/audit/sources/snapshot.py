"""What every reader returns: a Snapshot of subjects with what routing and reporting need, and the readers' shared
refusal.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from baseline.evaluator import Subject

__all__ = [
    "BASELINE_VERSION_LABEL",
    "DEFAULT_MAX_MANIFEST_BYTES",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_STATE_BYTES",
    "MAX_DEPTH",
    "OWNER_LABEL",
    "UNKNOWN",
    "Snapshot",
    "SourceError",
]

OWNER_LABEL = "fleet-baseline.io/owner"
BASELINE_VERSION_LABEL = "fleet-baseline.io/baseline-version"

#: The engine's unknown sentinel (``pulumi.runtime.rpc``): an encrypted secret is a value nobody here
#: can read, which the evaluator's unknown machinery turns into ``unknown`` for any check reading it.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

#: Default caps. A manifest file is read whole; a state export is streamed, but what it holds is
#: kept (each resource's outputs), so its cap bounds memory too: about 4x the file at most.
DEFAULT_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_STATE_BYTES = 64 * 1024 * 1024
#: Nodes one YAML document may expand to (aliases counted as the copies they stand for).
DEFAULT_MAX_NODES = 1_000_000
#: Deepest nesting accepted. Kubernetes objects and cloud resources are rarely deeper than 20; CRD
#: schemas reach 40. The evaluator also stops walking at this depth.
MAX_DEPTH = 128

# The engine's signature key and values (sdk/go/common/resource/sig).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"

#: The cloud cluster resources that carry the baseline stamp and the owner, and under which names:
#: GCP labels allow no dots or slashes (the version's dots are dashes), Azure tag names no slashes.
#: (type, property, version key, owner key, version written with dashes)
_CLUSTER_STAMPS: dict[str, tuple[str, str, str, bool]] = {
    "aws:eks/cluster:Cluster": ("tags", BASELINE_VERSION_LABEL, OWNER_LABEL, False),
    "gcp:container/cluster:Cluster": (
        "resourceLabels",
        "fleet-baseline-baseline-version",
        "fleet-baseline-owner",
        True,
    ),
    "azure-native:containerservice:ManagedCluster": (
        "tags",
        "fleet-baseline.io_baseline-version",
        "fleet-baseline.io_owner",
        False,
    ),
}
#: The project's cluster components (``fleet-baseline:eks:Cluster``...): their name is the cluster's.
_CLUSTER_COMPONENT = re.compile(r"^fleet-baseline:[a-z]+:Cluster$")


class SourceError(ValueError):
    """A source cannot be read at all. The message names the file and where in it; the CLI exits 2."""


def _quote(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error quotes what it refused, not all of it."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to write out
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


@dataclass
class Snapshot:
    """One source's objects, ready to judge, and what routing and reports need about them.

    ``problems`` are non-fatal: the audit goes on without what they name (a resource type the
    credentials may not list, resources judged on their inputs for want of outputs), and every
    report shows them, so an incomplete audit never passes for a clean one. ``locations`` maps a
    manifest subject's reference to its file and line, for reports that point at code.
    """

    source: str
    cluster: str | None = None
    stack: str | None = None
    subjects: list[Subject] = field(default_factory=list)
    baseline_version: str | None = None
    owners: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    cluster_owner: str | None = None
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)


def _snapshot(
    source: str,
    raw: Iterable[tuple[Mapping[str, Any], str | None, str | None, str | None]],
    *,
    cluster: str | None = None,
    stack: str | None = None,
    stamp: str | None = None,
    cluster_owner: str | None = None,
    problems: list[str] | None = None,
    exceptions: list[dict[str, Any]] | None = None,
    made: Sequence[Subject] = (),
) -> Snapshot:
    """Subjects (made once the cluster is known, after any ``made`` already), owners and the stamped version."""
    subjects = [*made, *(Subject(props, type=t, name=n, urn=u, cluster=cluster) for props, t, n, u in raw)]
    owners: dict[str, str] = {}
    versions: Counter[str] = Counter()
    for s in subjects:
        if s.kube_kind != ("", "Namespace") or not s.object_name:
            continue
        labels = s.metadata.get("labels")
        if not isinstance(labels, Mapping):
            continue
        owner, version = labels.get(OWNER_LABEL), labels.get(BASELINE_VERSION_LABEL)
        if isinstance(owner, str) and owner:
            owners[s.object_name] = owner
        if isinstance(version, str) and version:
            versions[version] += 1
    if stamp is None and versions:
        stamp = versions.most_common(1)[0][0]
    return Snapshot(
        source=source,
        cluster=cluster,
        stack=stack,
        subjects=subjects,
        baseline_version=stamp,
        owners=owners,
        problems=list(problems or []),
        exceptions=list(exceptions or []),
        cluster_owner=cluster_owner,
    )


def _slim_kubernetes(obj: dict[str, Any]) -> None:
    """Drop ``metadata.managedFields``: server-side apply bookkeeping, often a third of an object,
    read by no control."""
    md = obj.get("metadata")
    if isinstance(md, dict) and "managedFields" in md:
        del md["managedFields"]


# --------------------------------------------------------------------------- JSON, strictly


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {_quote(k)}")
        out[k] = v
    return out


_JSON_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates)
_WS = re.compile(r"[ \t\n\r]*")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _too_deep(text: str, start: int, end: int, limit: int) -> bool:
    """Whether the JSON text ``text[start:end]`` nests deeper than ``limit``.

    Almost every value has fewer brackets in all than the limit, which two C-speed counts show;
    only the rest is measured: strings removed, then innermost pairs peeled one level at a time.
    """
    if text.count("{", start, end) + text.count("[", start, end) <= limit:
        return False
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text[start:end]))
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = skeleton.replace("{}", "").replace("[]", "")
    return bool(skeleton)
