"""Cloud components: the intent as resources on EKS, GKE and AKS, plus the in-cluster baseline.

Each module pairs pure translation functions (intent -> resource arguments, tested without mocks)
with a thin ``pulumi.ComponentResource`` that only wires them. Nothing here reads config or the
environment; providers are passed in explicitly.

Names are resolved lazily: ``from providers import GkeCluster`` loads the Google SDK only, so a stack
pays for its own cloud's SDK and nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AksCluster",
    "ClusterComponent",
    "EksCluster",
    "GkeCluster",
    "InClusterBaseline",
    "baseline_objects",
    "engine_release_args",
    "incluster_manifests",
    "render_admission",
]

_WHERE = {
    "AksCluster": "providers.aks",
    "ClusterComponent": "providers.cluster",
    "EksCluster": "providers.eks",
    "GkeCluster": "providers.gke",
    "InClusterBaseline": "providers.incluster",
    "baseline_objects": "providers.incluster",
    "engine_release_args": "providers.engines",
    "incluster_manifests": "providers.incluster",
    "render_admission": "providers.admission",
}

if TYPE_CHECKING:
    from providers.admission import render_admission
    from providers.aks import AksCluster
    from providers.cluster import ClusterComponent
    from providers.eks import EksCluster
    from providers.engines import engine_release_args
    from providers.gke import GkeCluster
    from providers.incluster import InClusterBaseline, baseline_objects, incluster_manifests


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'providers' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
