"""One intent, three clouds: the same shared intent file means the same thing on EKS, GKE and AKS.

For every cloud, the compliant sample built from ``intents/prod.yaml`` passes every control that
applies there, judged by the one catalog; and for every control and cloud it applies to, the
control's failing fixture for that cloud's resource fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from baseline.catalog import load_catalog
from baseline.evaluator import Evaluator, Subject
from baseline.loader import intent_from_config, read_stack_config
from tests.conftest import STACKS_DIR, RecordingMocks
from tests.stacks.test_program import _run_program, _set_config

CLOUDS = ("eks", "gke", "aks")
CATALOG = load_catalog()


def _config(cloud: str) -> dict[str, Any]:
    return read_stack_config(STACKS_DIR / f"Pulumi.{cloud}-prod.yaml")


def test_the_three_prod_stacks_share_one_intent_file() -> None:
    assert {_config(cloud)["intentFile"] for cloud in CLOUDS} == {"intents/prod.yaml"}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_compliant_sample_passes_every_control(pulumi_mocks: RecordingMocks, cloud: str) -> None:
    config = _config(cloud)
    intent = intent_from_config(config, base_dir=STACKS_DIR)
    assert intent.cluster.cloud == cloud
    _set_config(config)
    _run_program()
    subjects = [
        Subject(r.inputs, type=r.type, name=r.name, urn=r.urn)
        for r in pulumi_mocks.registrations
        if not r.type.startswith(("pulumi:providers:", "pulumi:pulumi:"))
    ]
    findings = Evaluator.for_intent(intent, CATALOG).evaluate_all(subjects)
    failing = sorted({(f.control_id, f.subject) for f in findings if f.status in {"fail", "unknown"}})
    assert failing == []
    # and the cloud's own targets were really exercised, not vacuously passed
    judged = {f.control_id for f in findings}
    cloud_controls = {c.id for c in CATALOG for t in c.applicable_targets() if t.cloud == cloud}
    assert cloud_controls <= judged


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_cloud_target_has_a_failing_fixture_that_fails(cloud: str) -> None:
    for control in CATALOG:
        types = {t.type for t in control.applicable_targets() if t.cloud == cloud and t.type}
        if not types:
            continue
        examples = [e for e in control.examples() if e.expect == "fail"]
        fixtures = [
            e
            for e in examples
            if e.type in types
            or (e.object.get("kind") == "List" and any(i.get("type") in types for i in e.object.get("items", [])))
        ]
        assert fixtures, f"{control.id} has no failing fixture on {cloud}"
