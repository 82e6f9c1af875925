"""System namespaces and the control plane's own requests, as catalog data.

``baseline/controls/_system_namespaces.yaml`` lists, per cloud, the namespaces the cloud's managed
add-ons own (with the provider's documentation for each) beside Kubernetes' own, and the users the
control plane acts as. :func:`merged_system_namespaces` merges a cloud's list with what the intent
adds and removes: that one list is what the evaluator, the CrossGuard pack, every admission
engine's exclusions and the live audit skip (``Intent.system_namespaces`` is it).

Pure data and pure functions: the file is read once per process, nothing else is consulted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CLOUDS",
    "CONTROL_PLANE_CONDITION",
    "KUBERNETES",
    "SYSTEM_NAMESPACES_FILE",
    "UNREMOVABLE",
    "ControlPlane",
    "SystemNamespace",
    "control_plane",
    "control_plane_expression",
    "merged_system_namespaces",
    "system_namespaces_of",
]

SYSTEM_NAMESPACES_FILE = Path(__file__).parent / "controls" / "_system_namespaces.yaml"
#: The group of entries every cluster has, whatever its cloud.
KUBERNETES = "kubernetes"
CLOUDS = ("eks", "gke", "aks")
#: Never removable by an intent: the control plane's own namespace. Judging it would put every
#: engine's webhook in front of the components that keep the cluster (and the engine) running.
UNREMOVABLE = frozenset({"kube-system"})
#: The name of the match condition every engine render carries (see :func:`control_plane_expression`).
CONTROL_PLANE_CONDITION = "fleet-baseline.io/not-control-plane"


@dataclass(frozen=True, slots=True)
class SystemNamespace:
    """One namespace the platform team does not own: who owns it and where that is documented."""

    name: str
    group: str  # "kubernetes" or the cloud
    owner: str
    source: str


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """The users the control plane acts as: exact names and name prefixes."""

    users: tuple[str, ...]
    user_prefixes: tuple[str, ...]
    source: str

    def is_control_plane(self, username: str) -> bool:
        return username in self.users or any(username.startswith(p) for p in self.user_prefixes)


class SystemNamespacesError(ValueError):
    """The data file is malformed (a packaging error, never user input)."""


def _entries(raw: Any, group: str) -> tuple[SystemNamespace, ...]:
    if not isinstance(raw, list):
        raise SystemNamespacesError(f"{SYSTEM_NAMESPACES_FILE}: {group} must be a list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) != {"name", "owner", "source"}:
            raise SystemNamespacesError(f"{SYSTEM_NAMESPACES_FILE}: {group}[{i}] needs exactly name, owner, source")
        out.append(SystemNamespace(str(item["name"]), group, str(item["owner"]), str(item["source"])))
    return tuple(out)


@functools.cache
def _data() -> tuple[dict[str, tuple[SystemNamespace, ...]], ControlPlane]:
    raw = yaml.safe_load(SYSTEM_NAMESPACES_FILE.read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping) or set(raw) != {KUBERNETES, *CLOUDS, "controlPlane"}:
        raise SystemNamespacesError(f"{SYSTEM_NAMESPACES_FILE}: keys must be {[KUBERNETES, *CLOUDS, 'controlPlane']}")
    groups = {g: _entries(raw[g], g) for g in (KUBERNETES, *CLOUDS)}
    cp = raw["controlPlane"]
    plane = ControlPlane(
        users=tuple(cp.get("users") or ()),
        user_prefixes=tuple(cp.get("userPrefixes") or ()),
        source=str(cp.get("source", "")),
    )
    return groups, plane


def system_namespaces_of(cloud: str | None) -> tuple[SystemNamespace, ...]:
    """Kubernetes' own namespaces, then the cloud's add-on namespaces (every cloud's when None)."""
    groups, _ = _data()
    if cloud is not None and cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}; expected one of {list(CLOUDS)}")
    clouds = CLOUDS if cloud is None else (cloud,)
    out: dict[str, SystemNamespace] = {}
    for group in (KUBERNETES, *clouds):
        for ns in groups[group]:
            out.setdefault(ns.name, ns)
    return tuple(out.values())


def merged_system_namespaces(cloud: str | None, add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[str, ...]:
    """The one list: the catalog's for ``cloud`` (every cloud's when None), plus ``add``, minus ``remove``.

    Order: the catalog's, then the additions in their order; no duplicates. Removing a namespace the
    list does not hold, or one of :data:`UNREMOVABLE`, is refused (``ValueError``): the intent's
    validator reports it with the field path.
    """
    base = [ns.name for ns in system_namespaces_of(cloud)]
    removed = list(remove)
    refused = [n for n in removed if n in UNREMOVABLE]
    if refused:
        raise ValueError(f"{refused} cannot be removed: the control plane's own namespace is always a system namespace")
    unknown = [n for n in removed if n not in base]
    if unknown:
        raise ValueError(f"{unknown} are not system namespaces of {cloud or 'any cloud'}: nothing to remove")
    out = [n for n in dict.fromkeys([*base, *add]) if n not in set(removed)]
    return tuple(out)


def control_plane() -> ControlPlane:
    return _data()[1]


def control_plane_expression() -> str:
    """CEL over ``request`` that is true when the request does NOT come from the control plane.

    Rendered verbatim as a match condition by every engine (VAP and Kyverno ``matchConditions``,
    Gatekeeper's K8sNativeValidation ``matchCondition``): all three evaluate match conditions with
    the admission request's ``request.userInfo``. Outside admission (Gatekeeper's audit) the user is
    empty, which is not the control plane: the audit judges every object.
    """
    plane = control_plane()
    user = "request.userInfo.username"
    parts = []
    if plane.users:
        parts.append(f"{user} in [{', '.join(_cel_string(u) for u in plane.users)}]")
    parts += [f"{user}.startsWith({_cel_string(p)})" for p in plane.user_prefixes]
    return f"!(has(request.userInfo) && has({user}) && ({' || '.join(parts)}))"


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
