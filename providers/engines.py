"""The admission engine the intent selects, installed from its Helm chart at a pinned version.

Pure functions: an :class:`~baseline.intent.Intent` in, the arguments of a
``pulumi_kubernetes.helm.v3.Release`` out (:func:`engine_release_args`), or ``None`` for ``vap``,
which runs inside the API server and needs no install. :class:`~providers.incluster.InClusterBaseline`
registers the release and makes every admission object of the engine depend on it.

Why a ``helm.v3.Release`` (not ``helm.v4.Chart``): the release is one resource the engine tracks,
Helm runs the charts' hooks (Gatekeeper installs and upgrades its CRDs from a hook; Kyverno removes its
webhooks from one), and ``atomic`` rolls a failed install or upgrade back instead of leaving half an
admission controller in front of the API server. ``skip_await`` is off, so the release is complete
only when its Deployments are available: the engine's custom resources are created against a
serving engine.

Values are chosen for what the renderer (:mod:`providers.admission`) emits, and are pinned to the
chart versions below; the value names were checked against the charts' ``values.yaml`` and helper
templates (Kyverno chart 3.x ``config.webhooks`` / ``excludeKyvernoNamespace`` /
``resourceFiltersIncludeNamespaces`` and the ``features`` block; Gatekeeper 3.22/3.23
``validatingWebhookExemptNamespacesLabels``, ``controllerManager.exemptNamespaces``,
``enableK8sNativeValidation``). Bumping a chart version means re-checking them.

Decisions:

* **Fail closed, highly available.** An enforced control must block when the engine cannot answer,
  as a ValidatingAdmissionPolicy does (the API server evaluates those itself). So each engine runs
  three webhook replicas with a PodDisruptionBudget, and its webhooks fail closed: Kyverno sets the
  failure policy per policy (the renderer gives enforced policies ``Fail``, audit-only ones
  ``Ignore``), so ``features.forceFailurePolicyIgnore`` is pinned off; Gatekeeper has one webhook
  for every constraint, whose chart default is ``Ignore``, so it is set to ``Fail``. Constraints in
  ``warn`` mode never deny, so a closed webhook only blocks what an enforced constraint would.
* **A dead engine must not take the cluster down with it.** The intent's system namespaces and the
  engine's own namespace (:func:`providers.admission.system_namespaces`, the same list the renderer
  excludes from NS and POD controls) are excluded from the engine's webhooks by a namespace selector
  on ``kubernetes.io/metadata.name``, which the API server evaluates before calling the webhook: no
  request from those namespaces ever waits on the engine, and the engine can always restart its own
  pods. The price, stated plainly: controls that do not exempt system namespaces (the RB controls,
  RB-06 on ``kube-system/aws-auth`` in particular) are not enforced at admission *inside* those
  namespaces under Kyverno or Gatekeeper; background scans and Gatekeeper's audit still report them,
  and under ``vap`` they are enforced there too.
* **Kyverno's PolicyExceptions** are enabled and restricted to the ``kyverno`` namespace, where the
  renderer puts them. Kyverno 1.19.0 does not enforce that namespace restriction for
  ``policies.kyverno.io/v1`` exceptions (kyverno/kyverno#17367): who may create exceptions is
  decided by RBAC on ``policyexceptions``, which should be granted in the ``kyverno`` namespace only.
* **Release names are fixed** (``kyverno``, ``gatekeeper``), not auto-named, so the engines' Service
  and webhook names are the charts' documented ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baseline.intent import Intent
from providers.admission import ENGINE_NAMESPACES, NAMESPACE_NAME_LABEL, system_namespaces

__all__ = [
    "CHARTS",
    "GATEKEEPER",
    "HELM_TIMEOUT_SECONDS",
    "KYVERNO",
    "WEBHOOK_REPLICAS",
    "HelmChart",
    "engine_release_args",
    "gatekeeper_values",
    "kyverno_values",
    "webhook_excluded_namespaces",
]


@dataclass(frozen=True, slots=True)
class HelmChart:
    """A chart pinned to one version, and the namespace its release runs in."""

    name: str
    version: str
    app_version: str
    repository: str
    namespace: str

    @property
    def release_name(self) -> str:
        """The Helm release name: the chart's name, so the charts' resource names are the documented ones."""
        return self.name


def _engine_namespace(engine: str) -> str:
    ns = ENGINE_NAMESPACES[engine]
    if ns is None:
        raise ValueError(f"engine {engine!r} has no namespace of its own")
    return ns


#: Kyverno 1.19.0; the renderer emits its ``policies.kyverno.io/v1`` kinds.
KYVERNO = HelmChart(
    name="kyverno",
    version="3.9.0",
    app_version="v1.19.0",
    repository="https://kyverno.github.io/kyverno/",
    namespace=_engine_namespace("kyverno"),
)
#: Gatekeeper 3.23.0, whose ``K8sNativeValidation`` (CEL) engine runs the rendered templates.
GATEKEEPER = HelmChart(
    name="gatekeeper",
    version="3.23.0",
    app_version="v3.23.0",
    repository="https://open-policy-agent.github.io/gatekeeper/charts",
    namespace=_engine_namespace("gatekeeper"),
)
#: The chart each engine is installed from; ``vap`` has none.
CHARTS: dict[str, HelmChart] = {"kyverno": KYVERNO, "gatekeeper": GATEKEEPER}

#: Webhook replicas: a closed webhook must survive a node drain and a rolling update at once.
WEBHOOK_REPLICAS = 3
#: Helm's wait for the release (CRD hooks, then three replicas), before ``atomic`` rolls it back.
HELM_TIMEOUT_SECONDS = 600


def webhook_excluded_namespaces(intent: Intent, engine: str) -> list[str]:
    """The namespaces the engine's webhooks never see: the intent's system namespaces + the engine's own.

    The same list, in the same order, as the renderer's exclusions (one list, never per engine).
    """
    return list(system_namespaces(intent, engine))


def _not_in(namespaces: list[str]) -> dict[str, Any]:
    return {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": namespaces}


def kyverno_values(intent: Intent) -> dict[str, Any]:
    """Values of the ``kyverno`` chart for the intent (see the module doc for why each is set).

    * ``config.webhooks.namespaceSelector``: one ``NotIn`` expression on the namespace name label,
      the form the chart's helper reads and merges with its own exclusion of the Kyverno namespace
      (``config.excludeKyvernoNamespace``, pinned on); Kyverno puts the selector on every resource
      webhook it registers, the CEL policies' included.
    * ``config.resourceFiltersIncludeNamespaces`` adds an engine-side filter for each excluded
      namespace (the chart's defaults cover only the ``kube-*`` ones);
      ``config.resourceFiltersExcludeNamespaces`` (which would *remove* default filters) is pinned
      empty.
    * ``webhooksCleanup``: the chart's pre-delete hook removes Kyverno's webhook configurations, so
      an uninstall cannot leave fail-closed webhooks pointing at nothing.
    """
    excluded = webhook_excluded_namespaces(intent, "kyverno")
    return {
        "crds": {"install": True},
        "config": {
            "excludeKyvernoNamespace": True,
            "webhooks": {"namespaceSelector": {"matchExpressions": [_not_in(excluded)]}},
            "resourceFiltersExcludeNamespaces": [],
            "resourceFiltersIncludeNamespaces": excluded,
        },
        "features": {
            "policyExceptions": {"enabled": True, "namespace": KYVERNO.namespace},
            "forceFailurePolicyIgnore": {"enabled": False},
        },
        "admissionController": {
            "replicas": WEBHOOK_REPLICAS,
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        },
        "webhooksCleanup": {"enabled": True},
    }


def gatekeeper_values(intent: Intent) -> dict[str, Any]:
    """Values of the ``gatekeeper`` chart for the intent (see the module doc for why each is set).

    * ``validatingWebhookExemptNamespacesLabels`` becomes a ``NotIn`` expression of the webhook's
      namespace selector: this is what exempts the namespaces from admission.
      ``controllerManager.exemptNamespaces`` (``--exempt-namespace``) only permits the
      ``admission.gatekeeper.sh/ignore`` label on them; it is set to the same list so an operator
      can also label them without Gatekeeper refusing it. Constraints carry the same namespaces in
      ``match.excludedNamespaces``, which is what the audit honours.
    * ``validatingWebhookCheckIgnoreFailurePolicy: Fail``: the webhook that guards the ignore label
      stays closed, or anyone could exempt a namespace while Gatekeeper is down.
    * ``preUninstall.deleteWebhookConfigurations``: the webhook configuration goes before the pods
      on uninstall, so a closed webhook never outlives its server.
    """
    excluded = webhook_excluded_namespaces(intent, "gatekeeper")
    return {
        "replicas": WEBHOOK_REPLICAS,
        "pdb": {"controllerManager": {"minAvailable": 1}},
        "enableK8sNativeValidation": True,
        "validatingWebhookFailurePolicy": "Fail",
        "validatingWebhookCheckIgnoreFailurePolicy": "Fail",
        "validatingWebhookExemptNamespacesLabels": {NAMESPACE_NAME_LABEL: excluded},
        "controllerManager": {"exemptNamespaces": excluded},
        "preUninstall": {"deleteWebhookConfigurations": {"enabled": True}},
    }


_VALUES = {"kyverno": kyverno_values, "gatekeeper": gatekeeper_values}


def engine_release_args(intent: Intent, engine: str | None = None) -> dict[str, Any] | None:
    """Keyword arguments of ``helm.v3.Release`` installing the engine, or ``None`` for ``vap``.

    ``engine`` defaults to ``intent.admission.engine``.
    """
    engine = engine or intent.admission.engine
    if engine == "vap":
        return None
    if engine not in CHARTS:
        raise ValueError(f"unknown admission engine {engine!r}; expected one of {sorted(ENGINE_NAMESPACES)}")
    chart = CHARTS[engine]
    return {
        "name": chart.release_name,
        "chart": chart.name,
        "version": chart.version,
        "repository_opts": {"repo": chart.repository},
        "namespace": chart.namespace,
        "create_namespace": True,
        "atomic": True,
        "cleanup_on_fail": True,
        "skip_await": False,
        "timeout": HELM_TIMEOUT_SECONDS,
        "values": _VALUES[engine](intent),
    }
