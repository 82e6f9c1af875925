"""Cloud components: the intent as resources on EKS (GKE and AKS to come), plus the in-cluster baseline.

Each module pairs pure translation functions (intent -> resource arguments, tested without mocks)
with a thin ``pulumi.ComponentResource`` that only wires them. Nothing here reads config or the
environment; providers are passed in explicitly.
"""

from providers.eks import EksCluster
from providers.engines import engine_release_args
from providers.incluster import InClusterBaseline, baseline_objects, incluster_manifests

__all__ = ["EksCluster", "InClusterBaseline", "baseline_objects", "engine_release_args", "incluster_manifests"]
