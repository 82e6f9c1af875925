"""``baseline.audit.sources``: manifests, state exports and live clusters read into snapshots, bounded.

State exports are the committed deployment-v3 fixtures made from the eks-prod mock run
(``tests/fixtures/state_export.py``); the live cluster is an HTTP server on 127.0.0.1 serving
recorded API responses (``tests/fixtures/kube_api.py``). Malformed inputs must fail fast with a
message naming the file and where, never a traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import baseline.audit.sources as sources
from baseline.audit.sources import (
    MAX_DEPTH,
    UNKNOWN,
    SourceError,
    audit_cluster_role,
    audit_cluster_role_yaml,
    live_reads,
    read_live,
    read_manifests,
    read_state,
)
from baseline.evaluator import Evaluator
from tests.fixtures.kube_api import TOKEN, RecordedApi
from tests.fixtures.state_export import CLEAN, DRIFTED, SECRET_SIG, SIG

REPO = Path(__file__).resolve().parents[3]


def _export() -> dict[str, Any]:
    return json.loads(gzip.decompress(CLEAN.read_bytes()))


def _write(tmp_path: Path, doc: Any, name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=4))
    return path


def _resource(doc: dict[str, Any], type_: str, suffix: str = "") -> dict[str, Any]:
    return next(r for r in doc["deployment"]["resources"] if r["type"] == type_ and r["urn"].endswith(suffix))


# =========================================================================== manifests


def test_manifests_yaml_json_lists_and_directories(tmp_path: Path) -> None:
    (tmp_path / "apps" / "shop").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: hidden}\n")
    (tmp_path / "apps" / "ns.yaml").write_text(
        textwrap.dedent(
            """\
            # a comment, then an empty document
            ---
            ---
            apiVersion: v1
            kind: Namespace
            metadata:
              name: shop
              creationTimestamp: 2025-06-02T09:14:07Z
              labels: {fleet-baseline.io/owner: shop-team, fleet-baseline.io/baseline-version: "1.0.0"}
            ---
            apiVersion: v1
            kind: List
            items:
              - apiVersion: v1
                kind: ServiceAccount
                metadata: {name: orders, namespace: shop}
            ---
            just: a mapping
            """
        )
    )
    # kubectl get -o json: a typed list whose items carry no apiVersion and kind
    (tmp_path / "apps" / "shop" / "get.json").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "NamespaceList",
                "items": [{"metadata": {"name": "payments", "labels": {"fleet-baseline.io/owner": "payments-team"}}}],
            }
        )
    )
    (tmp_path / "apps" / "notes.txt").write_text("not a manifest")
    snap = read_manifests([tmp_path])
    assert [s.ref for s in snap.subjects] == ["Namespace/shop", "ServiceAccount/shop/orders", "Namespace/payments"]
    assert snap.owners == {"shop": "shop-team", "payments": "payments-team"}
    assert snap.baseline_version == "1.0.0"
    assert snap.cluster is None and snap.stack is None
    assert snap.locations["Namespace/shop"] == (str(tmp_path / "apps" / "ns.yaml"), 4)
    # timestamps stay text, as sigs.k8s.io/yaml leaves them
    assert snap.subjects[0].props["metadata"]["creationTimestamp"] == "2025-06-02T09:14:07Z"
    assert snap.subjects[2].props["kind"] == "Namespace"
    assert (
        len(snap.problems) == 1
        and "ns.yaml: document 4:" in snap.problems[0]
        and "not a Kubernetes object" in snap.problems[0]
    )


def test_concatenated_json_documents_and_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "stream.json"
    path.write_text(
        '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}\n\n'
        '{"apiVersion": "v1",\n "kind": "Namespace", "metadata": {"name": "b"}}\n'
    )
    snap = read_manifests([path])
    assert snap.locations == {"Namespace/a": (str(path), 1), "Namespace/b": (str(path), 3)}


def _bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs}\ndata:\n" + textwrap.indent(
        "\n".join(lines), "  "
    )


MALFORMED_MANIFESTS = {
    "bad-utf8": (
        b"apiVersion: v1\nkind: ConfigMap\ndata: {a: \xff\xfe}\n",
        "not UTF-8 text: invalid start byte at byte 41",
    ),
    "syntax": (b"apiVersion: v1\n---\nkind: [unclosed\n", "document 2, line 4, column 1: not valid YAML"),
    "duplicate-key": (
        b"apiVersion: v1\nkind: ConfigMap\nkind: Secret\n",
        "document 1, line 3, column 1: refused: duplicate key 'kind'",
    ),
    "alias-bomb": (_bomb().encode(), "refused: the document expands to more than 1000000 nodes"),
    "recursive-alias": (b"a: &a [1, *a]\n", "refused: alias *a refers to a node that contains it"),
    # Far past any parser's own limit: refused, by our cap or by the parser (PyYAML >= 6.0.4's libyaml stops at
    # 1000 flow levels with its own words first), so only the refusal and where it happened are asserted.
    "deep-yaml": (b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", "deep-yaml.yaml: document 1, line 1, column "),
    # Deeper than our cap, shallower than the parsers' own: our composer's refusal, whichever parser runs.
    "deep-yaml-under-parser-limit": (
        b"a: " + b"[" * 500 + b"]" * 500 + b"\n",
        f"refused: nesting deeper than {MAX_DEPTH} levels",
    ),
    "deep-block-yaml": ("".join(f"{'  ' * i}k:\n" for i in range(200)).encode(), "nesting deeper than"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_MANIFESTS))
@pytest.mark.parametrize("loader", ["libyaml", "python"])
def test_malformed_manifests_are_refused_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, loader: str
) -> None:
    if loader == "python":  # where libyaml is missing: the pure-Python parser, the same bounded composer
        monkeypatch.setattr(sources.manifests, "_Loader", sources.manifests._PyLoader)
    data, expected = MALFORMED_MANIFESTS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    start = time.process_time()
    with pytest.raises(SourceError) as info:
        read_manifests([path])
    assert time.process_time() - start < 2
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"apiVersion": "v1", "kind": "A", "kind": "B"}', "document 1 (from line 1): refused: duplicate key 'kind'"),
        ('{"apiVersion": "v1"}\n{"kind": ', "document 2, line 2, column 10: not valid JSON"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nesting"),
        ('{"a": ' + "[" * 200 + "]" * 200 + "}", f"nesting deeper than {MAX_DEPTH} levels"),
    ],
)
def test_malformed_json_manifests(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(SourceError, match=r"m\.json: ") as info:
        read_manifests([path])
    assert expected in str(info.value)


def test_manifest_size_cap_and_missing_paths(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n" + "# padding\n" * 200)
    with pytest.raises(SourceError, match=r"big.yaml: \d+ bytes is over the 1024-byte limit"):
        read_manifests([path], max_bytes=1024)
    with pytest.raises(SourceError, match="nope: no such file or directory"):
        read_manifests([tmp_path / "nope"])
    assert read_manifests([path], max_bytes=1 << 20).subjects[0].ref == "ConfigMap/x"


def test_a_billion_laughs_under_the_node_cap_is_still_counted(tmp_path: Path) -> None:
    path = tmp_path / "small-bomb.yaml"
    path.write_text(_bomb(levels=4))  # 9**4 = 6561 strings: fine at the default cap, refused at 1000
    assert len(read_manifests([path]).subjects) == 1
    with pytest.raises(SourceError, match="more than 1000 nodes"):
        read_manifests([path], max_nodes=1000)


# =========================================================================== state exports


def test_state_export_of_eks_prod() -> None:
    snap = read_state(CLEAN)
    assert snap.stack == "eks-prod"
    assert snap.cluster == "prod-eu-1"
    assert snap.baseline_version == "1.0.0"
    assert snap.cluster_owner == "platform-team"
    assert snap.owners == {"shop": "shop-team", "payments": "payments-team", "observability": "platform-team"}
    assert snap.problems == []
    assert snap.exceptions == [
        {
            "control": "NS-01",
            "expires": "2027-06-30",
            "owner": "platform-team",
            "reason": "node-exporter reads host metrics; restricted PSS blocks hostPath until the agent is replaced",
            "scope": {"namespace": "observability"},
            "ticket": "PLAT-1234",
        }
    ]
    types = {s.type for s in snap.subjects}
    assert "fleet-baseline:policy:Exception" in types
    assert not {t for t in types if t and (t.startswith("pulumi:") or (t.endswith(":Cluster") and "fleet" in t))}
    # every judged resource is a custom resource of the export or an exception record
    export = _export()
    custom = [r for r in export["deployment"]["resources"] if r["custom"] and not r["type"].startswith("pulumi:")]
    assert len(snap.subjects) == len(custom) + 1
    ns = next(s for s in snap.subjects if s.ref.endswith("Namespace::prod-eu-1-baseline-shop"))
    assert ns.kube_kind == ("", "Namespace") and ns.name == "prod-eu-1-baseline-shop"
    assert ns.urn == ns.ref and ns.cluster == "prod-eu-1"
    assert "managedFields" not in ns.props["metadata"]  # bookkeeping no control reads
    assert ns.props["metadata"]["uid"]  # the live object (outputs), not the program's inputs


def test_outputs_are_judged_not_inputs() -> None:
    snap = read_state(DRIFTED)
    cluster = next(s for s in snap.subjects if s.type == "aws:eks/cluster:Cluster")
    assert cluster.props["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster.props["enabledClusterLogTypes"] == ["api", "controllerManager", "scheduler"]


def test_missing_outputs_fall_back_to_inputs_and_say_so(tmp_path: Path) -> None:
    doc = _export()
    role = _resource(doc, "aws:iam/role:Role", "prod-eu-1-node-role")
    del role["outputs"]
    snap = read_state(_write(tmp_path, doc))
    subject = next(s for s in snap.subjects if s.urn == role["urn"])
    assert subject.props == role["inputs"]
    assert len(snap.problems) == 1
    assert "1 resources have no outputs" in snap.problems[0] and role["urn"] in snap.problems[0]


def test_secrets_encrypted_are_unknown_plaintext_decoded(tmp_path: Path) -> None:
    doc = _export()
    cluster = _resource(doc, "aws:eks/cluster:Cluster")
    cluster["outputs"]["enabledClusterLogTypes"] = {SIG: SECRET_SIG, "ciphertext": "v1:AAAA:BBBB"}
    cluster["outputs"]["vpcConfig"] = {SIG: SECRET_SIG, "plaintext": json.dumps(cluster["outputs"]["vpcConfig"])}
    snap = read_state(_write(tmp_path, doc))
    subject = next(s for s in snap.subjects if s.type == "aws:eks/cluster:Cluster")
    assert subject.props["enabledClusterLogTypes"] == UNKNOWN
    assert subject.props["vpcConfig"]["endpointPrivateAccess"] is True
    assert any("1 secret values are encrypted" in p for p in snap.problems)
    verdicts = {f.control_id: f.status for f in Evaluator().evaluate(subject)}
    assert verdicts["CL-02"] == "unknown"  # reads the encrypted value: never a pass
    assert verdicts["CL-03"] == "pass"  # reads the decoded one


def test_stdin_gzip_and_checkpoint_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = gzip.decompress(CLEAN.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(raw))))
    from_stdin = read_state("-")
    assert from_stdin.source == "<stdin>"
    assert [s.props for s in from_stdin.subjects] == [s.props for s in read_state(CLEAN).subjects]
    # a file backend's checkpoint: {"version": 3, "checkpoint": {"stack": ..., "latest": {deployment}}}
    doc = _export()
    checkpoint = {
        "version": 3,
        "checkpoint": {"stack": "organization/fleet-baseline/eks-prod", "latest": doc["deployment"]},
    }
    assert len(read_state(_write(tmp_path, checkpoint)).subjects) == len(from_stdin.subjects)


def test_incremental_parsing_matches_a_whole_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = read_state(CLEAN)
    monkeypatch.setattr(sources.state._JsonStream, "_CHUNK", 7)  # every value crosses many buffer ends
    pieces = read_state(CLEAN)
    assert [(s.urn, s.props) for s in pieces.subjects] == [(s.urn, s.props) for s in whole.subjects]


@pytest.mark.parametrize("fraction", [0.001, 0.37, 0.5, 0.9, 0.99999])
def test_truncated_state_names_the_byte_offset(tmp_path: Path, fraction: float) -> None:
    raw = gzip.decompress(CLEAN.read_bytes())
    cut = raw[: int(len(raw) * fraction)]
    path = tmp_path / "cut.json"
    path.write_bytes(cut)
    with pytest.raises(SourceError) as info:
        read_state(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and " at byte " in message
    assert f"the input ends at byte {len(cut)}: truncated?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"version": 4, "deployment": {"resources": []}}', "deployment version 4: this reader knows versions 1 to 3"),
        (b"[1, 2]", "not a state export: the document is not a JSON object at byte 0"),
        (b'{"version": 3, "checkpoint": {}}', "not a state export: no deployment.resources"),
        (b'{"version": 3, "deployment": {"resources": []}} x', "extra data after the document at byte 48"),
        (b'{"version": 3, "deployment": {"resources": [{"urn": "u", "type": "t"},]}}', "invalid JSON: Expecting value"),
        (
            b'{"version": 3, "deployment": {"resources": []}, "x": "\xff"}',
            "not UTF-8 text: invalid start byte at byte 54",
        ),
        (b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
    ],
)
def test_malformed_state(tmp_path: Path, text: bytes, expected: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(text)
    with pytest.raises(SourceError, match=r"s\.json: ") as info:
        read_state(path)
    assert expected in str(info.value)


def test_empty_stack_and_odd_resources(tmp_path: Path) -> None:
    empty = read_state(_write(tmp_path, {"version": 3, "deployment": {"manifest": {}, "resources": None}}))
    assert empty.subjects == [] and empty.stack is None
    odd = {
        "version": 3,
        "deployment": {
            "resources": [
                "not a resource",
                {"urn": "not-a-urn", "type": "aws:s3/bucket:Bucket", "custom": True},
                {
                    "urn": "urn:pulumi:s::p::aws:s3/bucket:Bucket::b",
                    "type": "aws:s3/bucket:Bucket",
                    "custom": True,
                    "delete": True,
                    "outputs": {"bucket": "b"},
                },
            ]
        },
    }
    snap = read_state(_write(tmp_path, odd))
    assert snap.subjects == []
    assert [p.split(": ", 1)[1] for p in snap.problems] == [
        "resources[0] has no urn and type: skipped",
        "resources[1]: 'not-a-urn' is not a Pulumi URN: skipped",
        "1 resources pending deletion were not judged",
    ]


def test_deep_state_is_refused(tmp_path: Path) -> None:
    for depth, expected in ((MAX_DEPTH + 10, f"nests deeper than {MAX_DEPTH} levels"), (200_000, "nesting too deep")):
        nested = "[" * depth + "]" * depth
        text = (
            '{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:s::p::aws:x/y:Z::n", "type": "aws:x/y:Z",'
            f' "custom": true, "outputs": {{"deep": {nested}}}}}]}}}}'
        )
        path = tmp_path / "deep.json"
        path.write_text(text)
        start = time.process_time()
        with pytest.raises(SourceError, match=expected):
            read_state(path)
        assert time.process_time() - start < 2


def test_oversized_state_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sparse = tmp_path / "huge.json"
    with sparse.open("wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: no 200 MB written, and none read
    start = time.process_time()
    with pytest.raises(SourceError, match=r"huge.json: 209715200 bytes is over the 67108864-byte limit"):
        read_state(sparse)
    assert time.process_time() - start < 0.5
    # a stream has no size to stat: counted as it is read, and stopped at the cap (after gunzip)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(CLEAN.read_bytes()))))
    with pytest.raises(SourceError, match="<stdin>: over the 100000-byte limit for a state export"):
        read_state("-", max_bytes=100_000)


@pytest.mark.slow
def test_state_near_the_cap_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A 63 MiB export (about 12,800 resources) in a fresh process. Measured with tracemalloc: peak
    69 MiB, of which 67 MiB is what is judged; ``json.load`` of the same file peaks at 177 MiB."""
    export = _export()
    body = [r for r in export["deployment"]["resources"] if r["custom"]]
    path = tmp_path / "big.json"
    cap = 64 * 1024 * 1024
    written = 0
    with path.open("w") as fh:
        head = {"version": 3, "deployment": {"manifest": export["deployment"]["manifest"], "resources": []}}
        prefix = json.dumps(head)[: -len("]}}")]
        fh.write(prefix)
        written += len(prefix)
        n = 0
        while written < cap - 200_000:
            for r in body[: 1 if written > cap - 400_000 else None]:
                text = ("," if n else "") + json.dumps({**r, "urn": f"{r['urn']}-{n}"}, indent=4)
                fh.write(text)
                written += len(text)
                n += 1
        fh.write("]}}")
    size = path.stat().st_size
    assert cap - 300_000 < size < cap
    script = textwrap.dedent(
        f"""
        import json, time, tracemalloc
        from baseline.audit.sources import read_state
        tracemalloc.start()
        start = time.process_time()
        snap = read_state({str(path)!r})
        took = time.process_time() - start
        retained, peak = tracemalloc.get_traced_memory()
        print(json.dumps({{"subjects": len(snap.subjects), "peak": peak, "retained": retained, "seconds": took}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    measured = json.loads(result.stdout)
    assert measured["subjects"] > 10_000
    # what is kept is the judged outputs (about the file's size in Python objects); what is not kept
    # (inputs, the text buffer, one resource at a time) stays a few MiB whatever the file's size
    assert measured["peak"] < 1.3 * size, f"peak {measured['peak'] >> 20} MiB for a {size >> 20} MiB export"
    assert measured["peak"] - measured["retained"] < 16 * 1024 * 1024


# =========================================================================== live clusters


def _client(api: RecordedApi, token: str = TOKEN) -> Any:
    from kubernetes.client import ApiClient, Configuration

    config = Configuration(host=api.url, api_key={"authorization": f"Bearer {token}"})
    return ApiClient(config)


def test_live_cluster_pages_kinds_and_a_403() -> None:
    api = RecordedApi()
    with api.running():
        snap = read_live(client=_client(api), cluster="prod-eu-1")
    refs = [s.ref for s in snap.subjects]
    assert "Namespace/incident-debug" in refs and "Namespace/shop" in refs  # first and last page
    assert "ClusterRoleBinding/incident-2025-09-14-admin" in refs and "ClusterRoleBinding/system:discovery" in refs
    assert "ConfigMap/kube-system/aws-auth" in refs and "Deployment/shop/orders" in refs
    assert len([r for r in refs if r.startswith("Namespace/")]) == 8
    # every page was read, following the server's continue tokens, with limit=500 on every list
    pages = [q.get("continue", [""])[0] for p, q in api.requests if p == "/api/v1/namespaces"]
    assert pages == ["", *(page["metadata"]["continue"] for page in api.pages["api-v1-namespaces"][:-1])]
    crb = [q for p, q in api.requests if p.endswith("/clusterrolebindings")]
    assert len(crb) == 2
    assert all(q.get("limit") == ["500"] for p, q in api.requests if not p.endswith("/aws-auth"))
    # list responses omit apiVersion and kind on items: set from the kind listed
    deploy = next(s for s in snap.subjects if s.ref == "Deployment/shop/orders")
    assert deploy.props["apiVersion"] == "apps/v1" and deploy.props["kind"] == "Deployment"
    aws_auth = next(s for s in snap.subjects if s.ref == "ConfigMap/kube-system/aws-auth")
    assert "managedFields" not in aws_auth.props["metadata"]
    # the 403 is a gap in the audit, not its end
    assert len(snap.problems) == 1
    assert snap.problems[0].startswith("list roles.rbac.authorization.k8s.io: forbidden (403), not audited: ")
    assert snap.cluster == "prod-eu-1" and all(s.cluster == "prod-eu-1" for s in snap.subjects)
    assert snap.owners == {"shop": "shop-team", "payments": "payments-team", "observability": "platform-team"}
    assert snap.baseline_version == "1.0.0"


def test_the_audit_cluster_role_covers_exactly_what_is_read(tmp_path: Path) -> None:
    api = RecordedApi()
    with api.running():
        read_live(client=_client(api))
    read: set[tuple[str, ...]] = set()
    for path, _ in api.requests:
        parts = path.strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        if len(rest) == 1:
            read.add(("list", group, rest[0]))
        else:  # namespaces/NS/PLURAL/NAME
            read.add(("get", group, rest[2], rest[3]))
    role = audit_cluster_role()
    granted: set[tuple[str, ...]] = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list"}
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                if "resourceNames" in rule:
                    assert rule["verbs"] == ["get"]
                    granted |= {("get", group, resource, name) for name in rule["resourceNames"]}
                else:
                    assert rule["verbs"] == ["get", "list"]
                    granted.add(("list", group, resource))
    assert read == granted
    assert not any(r[2] in {"secrets", "*"} for r in granted)
    assert len(live_reads()) == len(read)
    # the shipped file is generated from the same function
    assert (REPO / "docs" / "audit-clusterrole.yaml").read_text() == audit_cluster_role_yaml()
    assert yaml.safe_load(audit_cluster_role_yaml()) == role


def test_live_through_a_kubeconfig(tmp_path: Path) -> None:
    api = RecordedApi()
    with api.running():
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        snap = read_live("prod-eu-1", kubeconfig)
        assert snap.source == "context prod-eu-1"
        assert snap.cluster == "prod-eu-1"  # the context's cluster, an EKS ARN, by name
        assert len(snap.subjects) == 15
        assert read_live(None, kubeconfig).cluster == "prod-eu-1"  # the current context
        with pytest.raises(SourceError, match=r"no context 'staging' in the kubeconfig \(contexts: prod-eu-1\)"):
            read_live("staging", kubeconfig)
        wrong = api.kubeconfig(tmp_path / "wrong", token="not-the-token")
        with pytest.raises(SourceError, match=r"not authenticated \(401\)"):
            read_live("prod-eu-1", wrong)
        url = api.url
    with pytest.raises(SourceError, match=f"cannot reach the API server at {url}"):
        read_live("prod-eu-1", kubeconfig, timeout=2)
    with pytest.raises(SourceError, match=r"kubeconfig .*missing"):
        read_live("prod-eu-1", tmp_path / "missing")


def test_live_with_the_older_client_request_api() -> None:
    """kubernetes < 34 has ``call_api(path, method, ...)`` returning the raw response, raising on errors."""
    import urllib.request

    from kubernetes.client.exceptions import ApiException

    api = RecordedApi(token=None)

    class LegacyClient:
        def __init__(self, host: str) -> None:
            self.configuration = type("C", (), {"host": host})()

        def call_api(self, path: str, method: str, **kw: Any) -> Any:
            assert method == "GET" and kw["_preload_content"] is False and kw["auth_settings"] == ["BearerToken"]
            query = "&".join(f"{k}={v}" for k, v in kw["query_params"])
            try:
                return urllib.request.urlopen(f"{self.configuration.host}{path}?{query}")
            except urllib.error.HTTPError as exc:
                raise ApiException(status=exc.code, reason=exc.reason) from None

    with api.running():
        snap = read_live(client=LegacyClient(api.url))
    assert len(snap.subjects) == 15
    assert snap.problems and "forbidden (403)" in snap.problems[0]


def test_label_constants_are_the_components() -> None:
    from providers.incluster import BASELINE_VERSION_LABEL, OWNER_LABEL

    assert (sources.OWNER_LABEL, sources.BASELINE_VERSION_LABEL) == (OWNER_LABEL, BASELINE_VERSION_LABEL)


# --------------------------------------------------------------------------- parsing in workers


def _manifest_tree(root: Path) -> None:
    """Files of several kinds: a List, JSON, a non-object document, an empty one, nested directories."""
    (root / "a").mkdir()
    (root / "a" / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {fleet-baseline.io/owner: shop-team}}\n"
    )
    (root / "a" / "list.yaml").write_text(
        "apiVersion: v1\nkind: PodList\nitems:\n  - metadata: {name: p1, namespace: shop}\n    spec: {containers: []}\n"
        "---\n---\n- not an object\n"
    )
    (root / "b.json").write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p2", "namespace": "shop"}}')
    for i in range(6):
        (root / f"c{i}.yml").write_text(
            "".join(
                f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i}-{j}, namespace: shop}}\n"
                for j in range(5)
            )
        )


def _same_snapshot(a: sources.Snapshot, b: sources.Snapshot) -> None:
    assert [(s.props, s.plain, s.ref) for s in a.subjects] == [(s.props, s.plain, s.ref) for s in b.subjects]
    assert a.problems == b.problems and a.locations == b.locations and a.owners == b.owners


def test_workers_read_what_one_process_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _manifest_tree(tmp_path)
    alone = read_manifests([tmp_path])
    monkeypatch.setattr(sources.manifests, "PARALLEL_MIN_BYTES", 0)
    import concurrent.futures

    pools: list[int] = []

    class Pool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, max_workers: int, **kwargs: Any) -> None:
            pools.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    together = read_manifests([tmp_path], jobs=2)
    _same_snapshot(alone, together)
    assert pools == [2]  # parsed in two workers
    assert len(alone.subjects) == 33 and any("not a Kubernetes object" in p for p in alone.problems)
    assert alone.owners == {"shop": "shop-team"}


def test_workers_report_the_first_refused_file_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _manifest_tree(tmp_path)
    (tmp_path / "c2.yml").write_text("a: 1\na: 2\n")  # a duplicate key
    (tmp_path / "c4.yml").write_bytes(b"\xff\xfe")  # not UTF-8
    monkeypatch.setattr(sources.manifests, "PARALLEL_MIN_BYTES", 0)
    errors = []
    for jobs in (1, 2):
        with pytest.raises(SourceError) as info:
            read_manifests([tmp_path], jobs=jobs)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and errors[0].startswith(f"{tmp_path / 'c2.yml'}: ") and "duplicate key" in errors[0]


def test_small_inputs_stay_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _manifest_tree(tmp_path)

    def no_pool(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a worker pool for a few kilobytes")

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor", no_pool)
    assert len(read_manifests([tmp_path], jobs=8).subjects) == 33
