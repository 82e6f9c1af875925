"""The admission engines' Helm releases: pure arguments, pinned charts, fail-closed webhooks, exclusions."""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

import pytest
from pulumi_kubernetes.helm.v3 import Release

from baseline.intent import Intent
from providers.admission import ENGINE_NAMESPACES, NAMESPACE_NAME_LABEL, render_admission, system_namespaces
from providers.engines import (
    CHARTS,
    GATEKEEPER,
    KYVERNO,
    WEBHOOK_REPLICAS,
    engine_release_args,
    gatekeeper_values,
    kyverno_values,
    webhook_excluded_namespaces,
)

TODAY = dt.date(2026, 1, 1)


def _with(base: Intent, engine: str, system: list[str] | None = None) -> Intent:
    data = base.model_dump(by_alias=True)
    data["admission"]["engine"] = engine
    if system is not None:
        data["systemNamespaces"] = system
    return Intent.model_validate(data)


@pytest.fixture(scope="module")
def extra_system(prod_intent: Intent) -> Intent:
    """A cluster with more system namespaces than the defaults (a mesh, a CNI)."""
    return _with(prod_intent, "vap", ["kube-system", "kube-public", "kube-node-lease", "istio-system", "calico-system"])


# --------------------------------------------------------------------------- pinned charts


def test_charts_are_pinned() -> None:
    assert (KYVERNO.name, KYVERNO.version, KYVERNO.app_version) == ("kyverno", "3.9.0", "v1.19.0")
    assert KYVERNO.repository == "https://kyverno.github.io/kyverno/"
    assert (GATEKEEPER.name, GATEKEEPER.version) == ("gatekeeper", "3.23.0")
    assert GATEKEEPER.repository == "https://open-policy-agent.github.io/gatekeeper/charts"


def test_each_chart_runs_in_the_namespace_the_renderer_excludes() -> None:
    assert set(CHARTS) == {e for e, ns in ENGINE_NAMESPACES.items() if ns is not None}
    for engine, chart in CHARTS.items():
        assert chart.namespace == ENGINE_NAMESPACES[engine]
    assert (KYVERNO.namespace, GATEKEEPER.namespace) == ("kyverno", "gatekeeper-system")


@pytest.mark.parametrize("engine", ["kyverno", "gatekeeper"])
def test_release_arguments(engine: str, prod_intent: Intent) -> None:
    args = engine_release_args(_with(prod_intent, engine))
    assert args is not None
    chart = CHARTS[engine]
    assert args["name"] == chart.release_name == engine  # fixed: the charts' documented resource names
    assert (args["chart"], args["version"], args["repository_opts"]) == (
        chart.name,
        chart.version,
        {"repo": chart.repository},
    )
    assert args["namespace"] == chart.namespace
    assert args["create_namespace"] is True
    assert args["atomic"] is True and args["cleanup_on_fail"] is True
    assert args["skip_await"] is False  # complete only once the webhooks serve
    assert args["timeout"] >= 300


@pytest.mark.parametrize("engine", ["kyverno", "gatekeeper"])
def test_release_arguments_are_release_parameters(engine: str, prod_intent: Intent) -> None:
    args = engine_release_args(_with(prod_intent, engine))
    assert args is not None
    assert set(args) <= set(inspect.signature(Release._internal_init).parameters)


def test_vap_installs_nothing(prod_intent: Intent) -> None:
    assert engine_release_args(_with(prod_intent, "vap")) is None
    assert engine_release_args(prod_intent) is None  # the sample stack's engine
    assert engine_release_args(prod_intent, "kyverno") == engine_release_args(_with(prod_intent, "kyverno"))


def test_unknown_engine_is_refused(prod_intent: Intent) -> None:
    with pytest.raises(ValueError, match="unknown admission engine 'opa'"):
        engine_release_args(prod_intent, "opa")


def test_arguments_are_deterministic_and_not_shared(prod_intent: Intent) -> None:
    first, second = kyverno_values(prod_intent), kyverno_values(prod_intent)
    assert first == second
    first["config"]["resourceFiltersIncludeNamespaces"].append("mutated")
    assert "mutated" not in kyverno_values(prod_intent)["config"]["resourceFiltersIncludeNamespaces"]


# --------------------------------------------------------------------------- exclusions


@pytest.mark.parametrize("engine", ["kyverno", "gatekeeper"])
def test_webhook_exclusions_are_the_renderers_list(engine: str, extra_system: Intent) -> None:
    excluded = webhook_excluded_namespaces(extra_system, engine)
    assert excluded == list(system_namespaces(extra_system, engine))
    assert set(extra_system.system_namespaces) <= set(excluded)
    assert CHARTS[engine].namespace in excluded


def test_kyverno_excludes_every_system_namespace_and_its_own(extra_system: Intent) -> None:
    config = kyverno_values(extra_system)["config"]
    expected = [*extra_system.system_namespaces, "kyverno"]
    # one NotIn expression on the namespace name label: the form the chart's helper reads and merges
    assert config["webhooks"] == {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": expected}]
        }
    }
    assert config["excludeKyvernoNamespace"] is True
    assert config["resourceFiltersIncludeNamespaces"] == expected
    assert config["resourceFiltersExcludeNamespaces"] == []  # would remove the default kube-* filters


def test_gatekeeper_exempts_every_system_namespace_and_its_own(extra_system: Intent) -> None:
    values = gatekeeper_values(extra_system)
    expected = [*extra_system.system_namespaces, "gatekeeper-system"]
    assert values["validatingWebhookExemptNamespacesLabels"] == {NAMESPACE_NAME_LABEL: expected}
    assert values["controllerManager"]["exemptNamespaces"] == expected


def test_gatekeeper_constraints_exclude_what_the_webhook_exempts(extra_system: Intent) -> None:
    """The audit honours the Constraints' excludedNamespaces; the webhook, its selector: one list."""
    intent = _with(extra_system, "gatekeeper", list(extra_system.system_namespaces))
    exempt = gatekeeper_values(intent)["controllerManager"]["exemptNamespaces"]
    constraints = [
        m
        for m in render_admission(intent, engine="gatekeeper", today=TODAY)
        if m["apiVersion"].startswith("constraints.gatekeeper.sh/")
    ]
    excluding = [
        c["spec"]["match"]["excludedNamespaces"] for c in constraints if "excludedNamespaces" in c["spec"]["match"]
    ]
    assert excluding
    for excluded in excluding:
        assert excluded[: len(exempt)] == exempt


def test_kyverno_policy_exceptions_live_where_the_chart_allows_them(prod_intent: Intent) -> None:
    intent = _with(prod_intent, "kyverno")
    features = kyverno_values(intent)["features"]
    assert features["policyExceptions"] == {"enabled": True, "namespace": "kyverno"}
    exceptions = [m for m in render_admission(intent, engine="kyverno", today=TODAY) if m["kind"] == "PolicyException"]
    assert exceptions  # the sample intent has one in force
    assert {m["metadata"]["namespace"] for m in exceptions} == {features["policyExceptions"]["namespace"]}


# --------------------------------------------------------------------------- fail closed, available


def test_kyverno_honours_per_policy_fail_closed(prod_intent: Intent) -> None:
    values: dict[str, Any] = kyverno_values(prod_intent)
    assert values["features"]["forceFailurePolicyIgnore"] == {"enabled": False}
    assert values["admissionController"]["replicas"] >= 3
    assert values["admissionController"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert values["webhooksCleanup"] == {"enabled": True}
    assert values["crds"] == {"install": True}
    policies = [
        m for m in render_admission(_with(prod_intent, "kyverno"), today=TODAY) if m["kind"] == "ValidatingPolicy"
    ]
    enforced = [p for p in policies if p["spec"]["validationActions"] == ["Deny"]]
    assert enforced and all(p["spec"]["failurePolicy"] == "Fail" for p in enforced)


def test_gatekeeper_fails_closed_with_the_cel_engine(prod_intent: Intent) -> None:
    values = gatekeeper_values(prod_intent)
    assert values["validatingWebhookFailurePolicy"] == "Fail"  # the chart default is Ignore
    assert values["validatingWebhookCheckIgnoreFailurePolicy"] == "Fail"
    assert values["replicas"] == WEBHOOK_REPLICAS == 3
    assert values["enableK8sNativeValidation"] is True
    assert values["pdb"] == {"controllerManager": {"minAvailable": 1}}
    assert values["preUninstall"] == {"deleteWebhookConfigurations": {"enabled": True}}
