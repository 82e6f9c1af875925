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
    "CLOUD_SDKS",
    "AksCluster",
    "ClusterComponent",
    "EksCluster",
    "GkeCluster",
    "InClusterBaseline",
    "MissingCloudSDKError",
    "baseline_objects",
    "engine_release_args",
    "import_component_module",
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


#: Each cloud's SDK and the extra of the distribution that installs it (``pip install 'fleet-baseline[aws]'``).
CLOUD_SDKS = {
    "providers.eks": ("pulumi_aws", "aws", "AWS"),
    "providers.gke": ("pulumi_gcp", "gcp", "Google Cloud"),
    "providers.aks": ("pulumi_azure_native", "azure", "Azure"),
}


class MissingCloudSDKError(ImportError):
    """A cloud component was asked for whose SDK is not installed; the message names the extra."""


def import_component_module(module_name: str) -> Any:
    """Import one of the modules of this package; a cloud module whose SDK is missing raises
    :class:`MissingCloudSDKError` naming the extra that installs it (the core needs no cloud SDK)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        sdk = CLOUD_SDKS.get(module_name)
        if sdk is None or err.name is None or err.name.split(".")[0] != sdk[0]:
            raise
        package, extra, cloud = sdk
        raise MissingCloudSDKError(
            f"{module_name} needs the {cloud} SDK ({package}), which is not installed: "
            f"pip install 'fleet-baseline[{extra}]'",
            name=package,
        ) from err


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'providers' has no attribute {name!r}")
    return getattr(import_component_module(_WHERE[name]), name)
