"""Exceptions expire in the cluster, not only in plan and audit.

Every object that holds a rendered exception says until when (the exception's own annotation, and
``fleet-baseline.io/exceptions-expire`` for the earliest); Kyverno's PolicyException carries its
native ``expiresAt``. Re-running the component or the render with a clock after the expiry (the
date is passed in: no global clock) removes the exception from every object, so the next operator
resync or GitOps sync takes it out of the cluster.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from baseline.intent import Intent
from providers.admission import (
    ANNOTATION_EXCEPTION_PREFIX,
    ANNOTATION_EXCEPTIONS_EXPIRE,
    ENGINES,
    system_namespaces,
)
from providers.incluster import InClusterBaseline, incluster_manifests, is_admission_object
from tests.conftest import load_stack_intent

LAST_DAY = dt.date(2027, 6, 30)  # stacks/intents/prod.yaml: NS-01 for observability, PLAT-1234
BEFORE = dt.date(2027, 6, 30)
AFTER = dt.date(2027, 7, 1)


def _intent(engine: str) -> Intent:
    data = load_stack_intent("eks-prod").model_dump(by_alias=True)
    data["admission"]["engine"] = engine
    return Intent.model_validate(data)


def _holders(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in objects if any(k.startswith(ANNOTATION_EXCEPTION_PREFIX)
                                      for k in o["metadata"].get("annotations", {}))]


def _exception_traces(objects: Iterable[Mapping[str, Any]], intent: Intent, engine: str) -> list[str]:
    """Everything an exception leaves in the rendered objects."""
    system = set(system_namespaces(intent, engine))
    out = []
    for o in objects:
        annotations = o["metadata"].get("annotations", {})
        out += [f"{o['metadata']['name']}: {k}" for k in annotations
                if k.startswith(ANNOTATION_EXCEPTION_PREFIX) or k == ANNOTATION_EXCEPTIONS_EXPIRE]
        if o["kind"] == "PolicyException":
            out.append(f"PolicyException {o['metadata']['name']}")
        spec = o.get("spec", {})
        for c in [*spec.get("matchConditions", []), *_template_conditions(o)]:
            if c["name"].startswith(ANNOTATION_EXCEPTION_PREFIX):
                out.append(f"{o['metadata']['name']}: condition {c['name']}")
        extra = set(spec.get("match", {}).get("excludedNamespaces", [])) - system
        out += [f"{o['metadata']['name']}: excludes {n}" for n in sorted(extra)]
    return out


def _template_conditions(o: Mapping[str, Any]) -> list[Mapping[str, str]]:
    if o["kind"] != "ConstraintTemplate":
        return []
    return list(o["spec"]["targets"][0]["code"][0]["source"].get("matchCondition", []))


@pytest.mark.parametrize("engine", ENGINES)
def test_every_object_holding_an_exception_says_until_when(engine: str) -> None:
    intent = _intent(engine)
    objects = incluster_manifests(intent, today=BEFORE)
    holders = _holders(objects)
    assert holders
    for o in holders:
        annotations = o["metadata"]["annotations"]
        held = [json.loads(v) for k, v in annotations.items() if k.startswith(ANNOTATION_EXCEPTION_PREFIX)]
        assert annotations[ANNOTATION_EXCEPTIONS_EXPIRE] == min(h["expires"] for h in held) == LAST_DAY.isoformat()
    native = [o for o in objects if o["kind"] == "PolicyException"]
    assert (engine == "kyverno") == bool(native)
    assert all(o["spec"]["expiresAt"] == "2027-07-01T00:00:00Z" for o in native)  # the first day it no longer holds


@pytest.mark.parametrize("engine", ENGINES)
def test_a_run_after_the_expiry_removes_the_exception_from_the_cluster(engine: str) -> None:
    intent = _intent(engine)
    assert _exception_traces(incluster_manifests(intent, today=BEFORE), intent, engine)  # the last day: in force
    after = incluster_manifests(intent, today=AFTER)
    assert _exception_traces(after, intent, engine) == []
    # nothing else changed: the same objects, minus the PolicyExceptions
    names = {(o["kind"], o["metadata"]["name"]) for o in after}
    before = {(o["kind"], o["metadata"]["name"]) for o in incluster_manifests(intent, today=BEFORE)
              if o["kind"] != "PolicyException"}
    assert names == before


@pytest.mark.parametrize("engine", ENGINES)
def test_the_component_given_a_later_clock_registers_no_exception(engine: str, pulumi_mocks: Any) -> None:
    intent = _intent(engine)

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        baseline = InClusterBaseline("base", intent, provider=provider, today=AFTER)
        return pulumi.Output.all(baseline.urn)

    run()
    registered = [r.inputs for r in pulumi_mocks.registrations
                  if r.custom and "metadata" in r.inputs and is_admission_object(r.inputs)]
    assert registered
    assert _exception_traces(registered, intent, engine) == []
