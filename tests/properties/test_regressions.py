"""Regressions: the shrunk examples the property tests found, each pinned as an explicit test.

Each test names the property that found it (``tests/properties/test_*.py``) and what went wrong
before the fix.
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pulumi
import pytest

import baseline.audit.sources as sources
from baseline import cli
from baseline.audit.sources import SourceError, read_manifests, read_state
from baseline.evaluator import Evaluator, Finding, Subject
from baseline.intent import Intent
from baseline.loader import IntentError, intent_from_config, intent_from_mapping, load_intent
from providers import aks, eks, gke
from tests.conftest import RecordingMocks, Registration
from tests.properties.strategies import stack_intent_mapping

# --------------------------------------------------------------------------- the intent loader
# found by test_hostile_input.py::test_intent_loader_returns_an_intent_or_names_every_bad_path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        # int() refuses more than 4300 digits: a ValueError escaped the loader
        (b"baselineVersion: 1.0.0\nzbig: " + b"9" * 5000 + b"\n", "line 2, column 7"),
        # PyYAML's composer recursed until RecursionError
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deep"),
        # a complex key is unhashable: TypeError from the duplicate-key check
        (b"? [a, b]\n: c\n", "a key must be a scalar, not a list"),
        # a date that does not exist: ValueError from the timestamp constructor
        (b"exceptions:\n  - expires: 2027-02-30\n", "day is out of range for month"),
        (b"a: !!int abc\n", "cannot read 'abc'"),
    ],
)
def test_unreadable_yaml_is_an_intent_error(tmp_path: Path, text: bytes, fragment: str) -> None:
    path = tmp_path / "intent.yaml"
    path.write_bytes(text)
    with pytest.raises(IntentError, match="not valid YAML") as info:
        load_intent(path)
    assert fragment in str(info.value)
    with pytest.raises(IntentError, match="not valid YAML"):
        intent_from_config({"intentFile": "intent.yaml"}, base_dir=tmp_path)


def test_an_intent_file_that_is_not_utf8_through_stack_config(tmp_path: Path) -> None:
    """``intentFile`` (how plan and the program read it) raised UnicodeDecodeError, a traceback in plan."""
    (tmp_path / "intent.yaml").write_bytes(b"baselineVersion: \xff\n")
    (tmp_path / "Pulumi.s.yaml").write_text("config:\n  fleet-baseline:intentFile: intent.yaml\n")
    with pytest.raises(IntentError, match="not UTF-8 text: invalid start byte at byte 17"):
        intent_from_config({"intentFile": "intent.yaml"}, base_dir=tmp_path)
    err = io.StringIO()
    assert cli.main(["plan", "--stack", "s", "--stacks-dir", str(tmp_path)], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("error: invalid intent in ") and "Traceback" not in err.getvalue()


def test_an_empty_intent_file_names_the_fields_it_lacks(tmp_path: Path) -> None:
    """An intent file holding ``{}`` was reported as 'set intent or intentFile' (found by the long run)."""
    (tmp_path / "intent.yaml").write_text("{}\n")
    with pytest.raises(IntentError) as info:
        intent_from_config({"intentFile": "intent.yaml"}, tmp_path)
    assert {"baselineVersion", "cluster"} <= {p.path for p in info.value.problems}, info.value
    with pytest.raises(IntentError, match="set 'intent' or 'intentFile'"):
        intent_from_config({}, tmp_path)


def test_cross_reference_problems_each_have_their_path() -> None:
    """The intent's cross-reference checks came back as one problem at the top level, paths in its text."""
    data = {
        "baselineVersion": "1.0.0",
        "cluster": {"name": "c", "cloud": "eks", "owner": "o", "eks": {"region": "r", "subnetIds": ["a", "b"]}},
        "namespaces": [{"name": "a", "owner": "t"}, {"name": "a", "owner": "u"}],
        "access": [{"name": "devs", "role": "view", "scope": {"namespaces": ["ghost"]}}],
        "workloadIdentities": [{"name": "w", "namespace": "nowhere", "serviceAccount": "sa"}],
    }
    with pytest.raises(IntentError) as info:
        intent_from_mapping(data)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("namespaces", "duplicate names ['a']"),
        ("access[0].scope.namespaces", "['ghost'] not declared in namespaces"),
        ("access[0].aws", "required on a eks cluster (principal 'devs')"),
        ("workloadIdentities[0].namespace", "'nowhere' not declared in namespaces"),
        ("workloadIdentities[0].aws", "required on a eks cluster"),
    ]


def test_an_empty_or_padded_key_is_named_readably() -> None:
    """An unknown key ``''`` had the path ``''``: a problem that named no path."""
    with pytest.raises(IntentError) as info:
        intent_from_mapping({"": None, " cluster": 1}, known_controls=())
    paths = [p.path for p in info.value.problems]
    assert "['']" in paths and "[' cluster']" in paths


# --------------------------------------------------------------------------- the evaluator
# found by test_hostile_input.py::test_evaluator_is_sound_on_unknowns and ::..._never_raises...

U = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CLUSTER = "aws:eks/cluster:Cluster"
ENCRYPTED = {"provider": {"keyArn": U}, "resources": ["secrets"]}


def _statuses(findings: list[Finding], control: str) -> list[str]:
    return [f.status for f in findings if f.control_id == control]


def test_unknowns_past_the_walk_limit_still_decide_nothing() -> None:
    """Shrunk: 300 unknowns first in the object, then one the check reads. Only the first 256 were
    listed, so CL-01 read the key ARN's sentinel as a known string and passed."""
    props = {"floodAnnotations": {f"flood-{i}": U for i in range(300)}, "name": "c", "encryptionConfig": ENCRYPTED}
    assert _statuses(Evaluator().evaluate(Subject(props, type=CLUSTER)), "CL-01") == ["unknown"]


def test_a_namespace_whose_members_are_unknown_is_not_judged_on_the_known_ones() -> None:
    """Shrunk: a NetworkPolicy whose namespace is unknown at preview (``ns.metadata.name`` of a
    namespace created in the same stack) was in no namespace, so NS-02 failed the Namespace, a
    block at preview; and a Namespace whose metadata is unknown failed with its own policy beside it."""
    ev = Evaluator()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    assert _statuses(ev.evaluate_stack([Subject(ns), Subject(deny)]), "NS-02") == ["pass"]
    floating = {**deny, "metadata": {"name": "default-deny", "namespace": U}}
    assert _statuses(ev.evaluate_stack([Subject(ns), Subject(floating)]), "NS-02") == ["unknown"]
    unnamed = {**ns, "metadata": U}
    assert _statuses(ev.evaluate_stack([Subject(unnamed), Subject(deny)]), "NS-02") == ["unknown"]
    # two namespaces named at apply, one policy: it was grouped by the sentinel with both (a pass each)
    other = {**ns, "metadata": {"name": U}}
    assert _statuses(ev.evaluate_stack([Subject(other), Subject(other), Subject(floating)]), "NS-02") == [
        "unknown",
        "unknown",
    ]


def test_a_kubernetes_type_token_without_a_kind_is_not_a_crash() -> None:
    """Shrunk: a state export resource of type ``kubernetes:x`` (ValueError unpacking the token)."""
    assert Subject({"a": 1}, type="kubernetes:x").kube_kind is None
    assert Evaluator().evaluate(Subject({"a": 1}, type="kubernetes:")) == []


def test_nesting_too_deep_for_the_runtime_is_unknown_not_a_crash() -> None:
    """Deeper than about 6000 levels, the CEL runtime overflows its stack (a segfault): such an object
    is now unknown as a whole, and no check runs on it."""
    deep: Any = "x"
    for _ in range(50_000):
        deep = [deep]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "a", "annotations": {"a": deep}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    findings = Evaluator().evaluate(Subject(pod))
    assert findings and all(f.status in {"unknown", "fail"} for f in findings)
    assert all("(whole object)" in f.unknown for f in findings if f.status == "unknown")


def test_a_value_the_runtime_cannot_hold_costs_no_more_than_the_object(tmp_path: Path) -> None:
    """Found by the long profile of test_evaluator_never_raises_on_random_property_bags (a 12 GB process).

    The runtime refuses an integer beyond 64 bits (or a set, a tuple, a date) with a message quoting
    every enclosing value: for this 1 MB manifest, 16 findings held 379 MiB of detail, the process
    peaked near 1 GB, and 6 MB took 89 s and 4 GB. Such an object is now never handed to the runtime.
    """
    nested: Any = 99999999999999999999
    for _ in range(50):
        nested = {"a": nested, "pad": "y" * 20_000}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "x": nested},
    }
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(pod))
    start = time.process_time()
    findings = Evaluator().evaluate_all(read_manifests([path]).subjects)
    assert time.process_time() - start < 2  # CPU seconds (2 before the fix at this size, 89 at 6 MB)
    assert findings and {f.status for f in findings} == {"unknown"}
    assert all(len(f.detail or "") < 300 for f in findings)
    assert findings[0].detail == "could not evaluate: Integer value out of the 64-bit range at spec.x" + ".a" * 50
    (tmp_path / "set.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: !!set {x}}\n")
    ns = read_manifests([tmp_path / "set.yaml"]).subjects
    assert {f.detail for f in Evaluator().evaluate_all(ns)} == {
        "could not evaluate: Non-CEL value type set at metadata.labels"
    }


# --------------------------------------------------------------------------- manifests and state exports
# found by test_hostile_input.py::test_manifests_read_or_refused_with_file_and_position,
# ::test_state_exports_read_or_refused_with_file_and_position and ::..._in_bounded_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            b"apiVersion: v1\nkind: ConfigMap\ndata: {a: " + b"9" * 5000 + b"}\n",
            "line 3, column 11: refused: cannot read",
        ),
        (b"apiVersion: v1\nkind: ConfigMap\ndata: {a: !!int abc}\n", "refused: cannot read 'abc'"),
    ],
)
def test_a_yaml_scalar_python_cannot_convert_is_refused_where_it_is(tmp_path: Path, text: bytes, expected: str) -> None:
    """int() raised ValueError out of read_manifests (no file, no position, a traceback in audit)."""
    path = tmp_path / "m.yaml"
    path.write_bytes(text)
    with pytest.raises(SourceError, match=f"^{path}: document 1, ") as info:
        read_manifests([path])
    assert expected in str(info.value)


def _state(outputs: dict[str, Any], type_: str = "aws:x/y:Z") -> bytes:
    resource = {"urn": f"urn:pulumi:s::p::{type_}::n", "type": type_, "custom": True, "outputs": outputs}
    return json.dumps({"version": 3, "deployment": {"resources": [resource]}}).encode()


def test_a_state_number_python_cannot_convert_is_refused_at_its_byte(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(_state({"a": 1}).replace(b'"a": 1', b'"a": ' + b"9" * 5000))
    with pytest.raises(SourceError, match=r"s\.json: refused: Exceeds the limit .* at byte 44"):
        read_state(path)


@pytest.mark.parametrize(
    "text",
    [
        '{"version": ' + "9" * 3000 + ', "deployment": {}}',
        '{"version": "' + "v" * 3000 + '", "deployment": {}}',
        '{"version": 3, "deployment": {"resources": [], "resources": []}}',
        '{"version": 3, "deployment": {"resources": [{"urn": "a", "type": "x", "urn": "b"}]}}',
    ],
)
def test_a_refusal_quotes_what_it_refused_briefly(tmp_path: Path, text: str) -> None:
    """A 3,000-digit version was quoted whole in the error (found by the state-export properties);
    a key given twice, at any depth, was read (Go's decoder, and so the engine, keeps the last)."""
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(SourceError) as info:
        read_state(path)
    assert len(str(info.value)) < len(str(path)) + 200, str(info.value)
    manifest = tmp_path / "m.json"
    manifest.write_text('{"apiVersion": "v1", "kind": "Pod", "' + "k" * 3000 + '": 1, "' + "k" * 3000 + '": 2}')
    with pytest.raises(SourceError, match="duplicate key 'kkk") as info:
        read_manifests([manifest])
    assert len(str(info.value)) < len(str(manifest)) + 200


@pytest.mark.parametrize("depth", [200, 900, 5000])
def test_a_secret_whose_plaintext_nests_too_deep_is_refused(tmp_path: Path, depth: int) -> None:
    """The plaintext of a secret is JSON text inside a string: it escaped the depth bound, and at
    about 1000 levels raised RecursionError out of read_state."""
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    path = tmp_path / "s.json"
    path.write_bytes(_state({"a": {**secret, "plaintext": "[" * depth + "]" * depth}}))
    with pytest.raises(SourceError, match="resource 0 holds a secret nesting deeper than 128 levels"):
        read_state(path)
    path.write_bytes(_state({"a": {**secret, "plaintext": json.dumps({"b": [1, 2]})}}))
    assert read_state(path).subjects[0].props == {"a": {"b": [1, 2]}}


def test_a_kubernetes_resource_type_without_a_kind_in_state(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(_state({"a": 1}, type_="kubernetes:x"))
    snap = read_state(path)
    assert [s.type for s in snap.subjects] == ["kubernetes:x"]
    assert Evaluator().evaluate_all(snap.subjects) == []


def test_reading_a_small_manifest_allocates_what_it_holds(tmp_path: Path) -> None:
    """``read(max_bytes + 1)`` allocated the whole 256 MiB cap up front for every file read."""
    path = tmp_path / "m.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    tracemalloc.start()
    try:
        read_manifests([path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak
    grown = tmp_path / "grown.yaml"
    grown.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n" + "#" * 5000)
    with grown.open("rb") as fh:  # a file that grew after stat: still read to the cap, no further
        assert sources.manifests._read_capped(fh, 10, 1000) == grown.read_bytes()[:1001]
        fh.seek(0)
        assert sources.manifests._read_capped(fh, 10, 1_000_000) == grown.read_bytes()


def test_a_live_answer_nested_too_deep_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="nested too deep"):
        sources.live._json_object(b"[" * 100_000 + b"]" * 100_000, "/api/v1/pods")


# --------------------------------------------------------------------------- providers: one URN per resource
# found by test_least_privilege.py::test_{eks,gke,aks}_component_keeps_credentials_secret_and_identities_pinned
# (mocks.duplicate_urns(): the real engine refuses the second registration, so `pulumi up` failed)


def _prod(cloud: str, **changes: Any) -> Intent:
    data = stack_intent_mapping(cloud)
    data.update(exceptions=[], **changes)
    return intent_from_mapping(data)


def _component(mocks: RecordingMocks, cloud: str, intent: Intent) -> list[Registration]:
    components: dict[str, Any] = {"eks": eks.EksCluster, "gke": gke.GkeCluster, "aks": aks.AksCluster}

    def program() -> pulumi.Output[Any]:
        name: pulumi.Output[Any] = components[cloud]("prod", intent).cluster_name
        return name

    runtime_test: Any = pulumi.runtime.test
    runtime_test(program)()
    assert mocks.duplicate_urns() == []
    return mocks.registrations


def test_eks_a_policy_listed_twice_or_two_policies_with_one_name(pulumi_mocks: RecordingMocks) -> None:
    """Shrunk: policyArns [ReadOnlyAccess, ReadOnlyAccess] registered ``prod-wi-0-ReadOnlyAccess`` twice;
    so did AWS's ReadOnlyAccess beside the account's (or ``team/x`` beside ``x``)."""
    arns = [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::111122223333:policy/ReadOnlyAccess",
    ]
    wi = {
        "name": "w",
        "namespace": "shop",
        "serviceAccount": "orders",
        "aws": {"mechanism": "irsa", "policyArns": arns},
    }
    intent = _prod("eks", workloadIdentities=[wi])
    attached = [
        (r.name, r.inputs["policyArn"])
        for r in _component(pulumi_mocks, "eks", intent)
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment" and r.name.startswith("prod-wi-w-")
    ]
    assert sorted(attached) == [
        ("prod-wi-w-ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
        ("prod-wi-w-ReadOnlyAccess-" + eks.policy_attachment_names("p", arns)[1][0][-8:], arns[2]),
    ]


def test_aks_grant_names_that_read_alike_are_two_role_assignments(pulumi_mocks: RecordingMocks) -> None:
    """Shrunk: grant ``a`` in namespace ``b`` and grant ``a-b`` at cluster scope were both ``access-a-b``."""
    grant = stack_intent_mapping("aks")["access"][1]
    access = [
        {**grant, "name": "a", "role": "edit", "scope": {"namespaces": ["b"]}},
        {**grant, "name": "a-b", "role": "view", "scope": "cluster"},
        {**grant, "name": "shop-developers", "role": "edit", "scope": {"namespaces": ["b"]}},
        stack_intent_mapping("aks")["access"][0],  # the loader refuses an intent without a cluster-admin
    ]
    intent = _prod("aks", namespaces=[{"name": "b", "owner": "t"}], access=access, workloadIdentities=[])
    names = [s.name for s in aks.access_role_assignments(intent)]
    assert names[1:] == ["access-a-b", "access-shop-developers-b", "access-platform-admins"]  # no twin: same name
    assert names[0].startswith("access-a-b-") and len(names[0]) == len("access-a-b-") + 8
    _component(pulumi_mocks, "aks", intent)


@pytest.mark.parametrize("cloud", ["eks", "gke", "aks"])
def test_a_namespace_listed_twice_in_a_grant_is_granted_once(pulumi_mocks: RecordingMocks, cloud: str) -> None:
    """Shrunk: scope {namespaces: [default, default]} made two RoleBindings (GKE) or role assignments
    (AKS) of one name, and listed the namespace twice in the EKS access scope."""
    grant = {**stack_intent_mapping(cloud)["access"][1], "scope": {"namespaces": ["default", "default"]}}
    admins = stack_intent_mapping(cloud)["access"][0]  # the loader refuses an intent without a cluster-admin
    intent = _prod(cloud, access=[admins, grant], workloadIdentities=[], namespaces=[])
    registrations = _component(pulumi_mocks, cloud, intent)
    if cloud == "eks":
        (association,) = [
            r
            for r in registrations
            if r.type == "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
            and r.inputs["accessScope"]["type"] == "namespace"
        ]
        assert association.inputs["accessScope"] == {"type": "namespace", "namespaces": ["default"]}
