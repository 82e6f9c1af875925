"""The live audit reports an exception the cluster still holds after its expiry (ST-02) as drift.

The objects that hold rendered exceptions (ValidatingAdmissionPolicy, Kyverno PolicyException,
Gatekeeper ConstraintTemplate) are read like every other kind; an engine's kinds are optional (a
cluster without that engine answers 404, which is not a gap in the audit). The clock is the
evaluator's ``today``, passed in.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from baseline.audit import audit
from baseline.audit.sources import read_live
from baseline.evaluator import Evaluator
from providers.admission import ANNOTATION_EXCEPTIONS_EXPIRE, render_admission
from tests.conftest import load_stack_intent
from tests.fixtures.kube_api import LIVE_DIR, TOKEN, RecordedApi

RENDERED_ON = dt.date(2027, 6, 1)  # stacks/intents/prod.yaml's NS-01 exception holds through 2027-06-30
AFTER = dt.date(2027, 7, 2)


def _page(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": objects}


def _client(api: RecordedApi) -> Any:
    from kubernetes.client import ApiClient, Configuration

    return ApiClient(Configuration(host=api.url, api_key={"authorization": f"Bearer {TOKEN}"}))


def _live(tmp_path: Path, engine: str) -> RecordedApi:
    """The recorded cluster, plus the admission objects the component rendered on RENDERED_ON."""
    directory = tmp_path / "live"
    shutil.copytree(LIVE_DIR, directory)
    intent = load_stack_intent("eks-prod")
    data = intent.model_dump(by_alias=True)
    data["admission"]["engine"] = engine
    from baseline.intent import Intent

    rendered = render_admission(Intent.model_validate(data), today=RENDERED_ON)
    by_path: dict[str, list[dict[str, Any]]] = {}
    paths = {
        "ValidatingAdmissionPolicy": "apis-admissionregistration.k8s.io-v1-validatingadmissionpolicies",
        "PolicyException": "apis-policies.kyverno.io-v1-policyexceptions",
        "ConstraintTemplate": "apis-templates.gatekeeper.sh-v1-constrainttemplates",
    }
    for obj in rendered:
        if obj["kind"] in paths:
            by_path.setdefault(paths[obj["kind"]], []).append(obj)
    for path, objects in by_path.items():
        (directory / f"{path}.1.json").write_text(json.dumps(_page(objects)))
    for kind, path in paths.items():  # the other engines' kinds are not served by this cluster
        if path not in by_path and kind != "ValidatingAdmissionPolicy":
            (directory / f"{path}.404.json").write_text(json.dumps({"kind": "Status", "code": 404}))
    return RecordedApi(directory)


def _st02(findings: list[Any]) -> dict[str, str]:
    return {f.subject: f.status for f in findings if f.control_id == "ST-02" and "/" in f.subject
            and not f.subject.startswith("fleet-baseline:")}


def test_an_expired_in_cluster_exception_is_drift(tmp_path: Path) -> None:
    intent = load_stack_intent("eks-prod")
    for engine in ("vap", "kyverno", "gatekeeper"):
        api = _live(tmp_path / engine, engine)
        with api.running():
            snap = read_live(client=_client(api), cluster="prod-eu-1")
        # the engines this cluster does not run are not a gap: only the recorded 403 remains
        assert len(snap.problems) == 1 and "roles" in snap.problems[0], snap.problems
        holders = [s for s in snap.subjects if ANNOTATION_EXCEPTIONS_EXPIRE in s.metadata.get("annotations", {})]
        assert holders, engine
        while_in_force = _st02(audit(snap, Evaluator.for_intent(intent, today=RENDERED_ON), intent=intent))
        assert while_in_force and set(while_in_force.values()) == {"pass"}, (engine, while_in_force)
        after = _st02(audit(snap, Evaluator.for_intent(intent, today=AFTER), intent=intent))
        expired = {ref for ref, status in after.items() if status == "fail"}
        assert expired == {s.ref for s in holders}, (engine, after)
