"""Least privilege, as properties over random valid intents (random namespaces, service accounts,
mechanisms, grants, roles and scopes; every cloud and admission engine).

Each identity the components create trusts exactly one Kubernetes service account (IRSA: ``sub`` and
``aud`` both pinned; Pod Identity: the EKS service only; GKE: one ``PROJECT.svc.id.goog[NS/KSA]``;
AKS: one subject, the token-exchange audience); nothing is granted that the intent did not ask for
(no wildcard or secrets rule, no binding beyond the grant's role and namespaces, no API token
mounted unasked); no kubeconfig or key is ever a plain output. The pure functions are checked on
every example; the components under the recording mocks on a few (about half a second each).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pulumi
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from baseline.audit.sources import audit_cluster_role
from baseline.intent import Intent, NamespaceScope
from baseline.loader import intent_from_mapping
from providers import aks, eks, gke
from providers.incluster import incluster_manifests
from tests.conftest import AKS_ISSUER, OIDC_ISSUER, RecordingMocks, _install
from tests.properties.strategies import examples, intent_mappings

TODAY = dt.date(2026, 1, 1)
ENGINES = ("vap", "kyverno", "gatekeeper")


def intents(cloud: str) -> st.SearchStrategy[Intent]:
    """Valid intents for ``cloud``: the strategy must never produce one the loader or the cloud refuses."""

    def valid(data: dict[str, Any]) -> Intent:
        intent = intent_from_mapping(data, source=f"a generated {cloud} intent")
        {"eks": lambda i: None, "gke": gke.validate_intent, "aks": aks.check_intent}[cloud](intent)
        return intent

    return intent_mappings(cloud).map(valid)


issuers = st.builds(
    lambda region, ident: f"https://oidc.eks.{region}.amazonaws.com/id/{ident}",
    st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-2"]),
    st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=32),
)


# =========================================================================== IAM trust (EKS)


def _statements(document: Any) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    statements = doc["Statement"]
    return statements if isinstance(statements, list) else [statements]


def assert_no_wildcard_principal(document: Any) -> None:
    for statement in _statements(document):
        assert statement.get("Effect") == "Allow" and "NotPrincipal" not in statement and "NotAction" not in statement
        principal = statement["Principal"]
        assert principal != "*", statement
        for kind, value in principal.items():
            values = value if isinstance(value, list) else [value]
            assert values and all(isinstance(v, str) and "*" not in v for v in values), (kind, statement)


def assert_service_trust(document: Any, service: str) -> None:
    """Trust of one AWS service (Pod Identity, the control plane, nodes): nothing else, no condition needed."""
    assert_no_wildcard_principal(document)
    (statement,) = _statements(document)
    assert statement["Principal"] == {"Service": service}


def assert_irsa_trust(document: Any, issuer: str, provider_arn: str, namespace: str, service_account: str) -> None:
    """Web identity from the cluster's provider, for exactly one service account and the STS audience."""
    assert_no_wildcard_principal(document)
    host = issuer.removeprefix("https://")
    (statement,) = _statements(document)
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{host}:aud": "sts.amazonaws.com",
            }
        },
    }


@given(intents("eks"), issuers, st.sampled_from(["111122223333", "444455556666"]))
def test_eks_trust_policies_pin_one_service_account(intent: Intent, issuer: str, account: str) -> None:
    provider_arn = f"arn:aws:iam::{account}:oidc-provider/{issuer.removeprefix('https://')}"
    for wi in intent.workload_identities:
        assert wi.aws is not None
        if wi.aws.mechanism == "irsa":
            doc = eks.irsa_trust_policy(issuer, provider_arn, wi.namespace, wi.service_account)
            assert_irsa_trust(doc, issuer, provider_arn, wi.namespace, wi.service_account)
        else:
            assert_service_trust(eks.pod_identity_trust_policy(), "pods.eks.amazonaws.com")
            assoc = eks.pod_identity_association_args(intent, wi)
            assert (assoc["namespace"], assoc["service_account"]) == (wi.namespace, wi.service_account)
        assert "assume_role_policy" not in eks.workload_role_args(intent, wi)  # the trust is added per mechanism
    assert_service_trust(eks.cluster_role_args(intent)["assume_role_policy"], "eks.amazonaws.com")
    assert_service_trust(eks.node_role_args(intent)["assume_role_policy"], "ec2.amazonaws.com")
    assert eks.oidc_provider_args(intent, issuer)["client_id_lists"] == ["sts.amazonaws.com"]


@given(st.lists(st.sampled_from(["a", "team/a", "b"]), max_size=5), st.sampled_from(["aws", "111122223333"]))
def test_eks_policy_attachments_are_one_resource_per_policy(names: list[str], account: str) -> None:
    arns = [f"arn:aws:iam::{account if i % 2 else 'aws'}:policy/{n}" for i, n in enumerate(names)]
    pairs = eks.policy_attachment_names("prod-wi-x", arns)
    assert [arn for _, arn in pairs] == list(dict.fromkeys(arns))
    assert len({name for name, _ in pairs}) == len(pairs)


@given(intents("eks"))
def test_eks_access_is_exactly_the_grants(intent: Intent) -> None:
    entries = eks.access_entries(intent)
    if intent.hardening.authentication.eks_mode == "CONFIG_MAP":
        assert entries == []
    else:
        assert [e.name for e in entries] == [g.name for g in intent.access]
        for entry, grant in zip(entries, intent.access, strict=True):
            assert grant.aws is not None
            assert entry.entry["principal_arn"] == entry.association["principal_arn"] == grant.aws.principal_arn
            assert entry.entry.get("kubernetes_groups", []) == grant.aws.kubernetes_groups
            assert entry.association["policy_arn"].endswith(f"/{eks.ACCESS_POLICIES[grant.role]}")
            scope = entry.association["access_scope"]
            if isinstance(grant.scope, NamespaceScope):
                assert scope == {"type": "namespace", "namespaces": list(dict.fromkeys(grant.scope.namespaces))}
            else:
                assert scope == {"type": "cluster"}
    node_role = "arn:aws:iam::111122223333:role/nodes"
    config_map = eks.aws_auth_config_map(intent, node_role)
    mappings = intent.hardening.authentication.aws_auth
    if config_map is None:
        assert not eks.uses_aws_auth(intent)
        return
    roles = yaml.safe_load(config_map["data"]["mapRoles"])
    assert roles[0] == {
        "rolearn": node_role,
        "username": "system:node:{{EC2PrivateDNSName}}",
        "groups": ["system:bootstrappers", "system:nodes"],
    }
    assert roles[1:] == [{"rolearn": m.rolearn, "username": m.username, "groups": m.groups} for m in mappings]
    assert set(config_map["data"]) == {"mapRoles"}  # no mapUsers, mapAccounts the intent did not write


# =========================================================================== GKE and AKS identities


@given(intents("gke"))
def test_gke_workload_identity_binds_exactly_one_kubernetes_service_account(intent: Intent) -> None:
    assert intent.cluster.gke is not None
    project = intent.cluster.gke.project
    for wi in intent.workload_identities:
        assert wi.gcp is not None
        assert gke.workload_identity_user_args(intent, wi) == {
            "role": "roles/iam.workloadIdentityUser",
            "member": f"serviceAccount:{project}.svc.id.goog[{wi.namespace}/{wi.service_account}]",
        }
        own = f"serviceAccount:{gke.service_account_email(project, wi.gcp.service_account_id)}"
        grants = gke.workload_role_grants(intent, wi)
        assert [args["role"] for _, args in grants] == list(dict.fromkeys(wi.gcp.roles))
        assert all(args["member"] == own and args["project"] == project for _, args in grants)
    for grant, args in zip(intent.access, gke.access_grants(intent), strict=True):
        assert grant.gcp is not None and args.member["member"] == grant.gcp.member
        # a namespaced grantee gets only what fetching credentials needs in IAM; RBAC gives the rest
        expected = gke.ACCESS_ROLES[grant.role] if grant.scope == "cluster" else gke.CLUSTER_VIEWER_ROLE
        assert args.member["role"] == expected


@given(intents("aks"), st.sampled_from([AKS_ISSUER, "https://issuer.example/tenant/"]))
def test_aks_federated_credentials_trust_one_subject_and_the_exchange_audience(intent: Intent, issuer: str) -> None:
    for wi in intent.workload_identities:
        args = aks.federated_credential_args(intent, wi, issuer)
        assert args["subject"] == f"system:serviceaccount:{wi.namespace}:{wi.service_account}"
        assert args["audiences"] == ["api://AzureADTokenExchange"]
        assert args["issuer"] == issuer
        assert args["resource_name_"] == aks.workload_identity_name(intent, wi)
    specs = aks.access_role_assignments(intent)
    if not intent.hardening.authentication.azure_rbac:
        assert specs == []
        return
    expected = []
    for grant in intent.access:
        role = aks.role_definition_id(intent, aks.AKS_RBAC_ROLES[grant.role])
        namespaces = dict.fromkeys(grant.scope.namespaces) if isinstance(grant.scope, NamespaceScope) else [None]
        expected += [(grant.azure.object_id if grant.azure else None, role, ns) for ns in namespaces]
    assert [(s.principal_id, s.role_definition_id, s.namespace) for s in specs] == expected
    names = [s.name for s in specs]
    assert len(set(names)) == len(names), names  # one resource each: the engine refuses a URN twice


# =========================================================================== generated RBAC

WRITE_VERBS = {"escalate", "bind", "impersonate"}


def _generated(intent: Intent, engine: str) -> list[dict[str, Any]]:
    objects = [*incluster_manifests(intent, engine, TODAY), audit_cluster_role()]  # and what the audit asks for
    if intent.cluster.cloud == "gke":
        objects += gke.access_role_bindings(intent)
    if intent.cluster.cloud == "eks":
        objects += [m for m in [eks.aws_auth_config_map(intent, "arn:aws:iam::111122223333:role/nodes")] if m]
    return objects


@given(st.sampled_from(["eks", "gke", "aks"]).flatmap(intents), st.sampled_from(ENGINES))
def test_generated_rbac_grants_nothing_the_intent_did_not_ask_for(intent: Intent, engine: str) -> None:
    namespaced = {
        (ns, grant.role)
        for grant in intent.access
        if isinstance(grant.scope, NamespaceScope)
        for ns in grant.scope.namespaces
    }
    needs_api = {(w.namespace, w.service_account) for w in intent.workload_identities if w.needs_api}
    for obj in _generated(intent, engine):
        kind, md = obj["kind"], obj["metadata"]
        if kind in {"Role", "ClusterRole"}:
            for rule in obj.get("rules", []):
                for field in ("verbs", "resources", "apiGroups", "nonResourceURLs", "resourceNames"):
                    assert "*" not in rule.get(field, []), (kind, md, rule)
                assert "secrets" not in rule.get("resources", []), (kind, md, rule)
                assert not WRITE_VERBS & set(rule.get("verbs", [])), (kind, md, rule)
            assert kind != "ClusterRole" or not obj.get("aggregationRule"), md
            if md["name"] == "fleet-baseline-audit":  # the audit reads, and only reads
                assert all(set(rule["verbs"]) <= {"get", "list"} for rule in obj["rules"]), obj
        elif kind == "ClusterRoleBinding":
            raise AssertionError(f"a cluster-wide binding the intent cannot ask for: {md}")
        elif kind == "RoleBinding":
            ref = obj["roleRef"]
            assert ref["kind"] == "ClusterRole" and ref["name"] in {"admin", "edit", "view"}, ref
            assert (md["namespace"], ref["name"]) in namespaced, (md, ref)
            assert len(obj["subjects"]) == 1
        elif kind == "ServiceAccount":
            asked = (md["namespace"], md["name"]) in needs_api
            assert obj.get("automountServiceAccountToken") is asked, (md, asked)
    if intent.cluster.cloud == "gke":  # every namespaced grant bound where it asked, to its principal only
        bindings = gke.access_role_bindings(intent)
        assert {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in bindings} == namespaced
        names = [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in bindings]
        assert len(set(names)) == len(names), names  # one object each: the engine refuses a URN twice


# =========================================================================== the components, under mocks

RUNTIME_TEST: Any = pulumi.runtime.test
COMPONENTS: dict[str, Any] = {"eks": eks.EksCluster, "gke": gke.GkeCluster, "aks": aks.AksCluster}
#: What only a credential holds: a PEM private key, a kubeconfig's client key, a cloud access key.
CREDENTIAL_MARKERS = ("PRIVATE KEY", "client-key-data", "aws_secret_access_key", "secretAccessKey", "privateKeyData")
#: Resources that mint a long-lived credential: the components never need one.
KEY_TYPES = (
    "aws:iam/accessKey:AccessKey",
    "aws:iam/userLoginProfile:UserLoginProfile",
    "gcp:serviceaccount/key:Key",
    "azure-native:containerservice:listManagedClusterAdminCredentials",
    "tls:index/privateKey:PrivateKey",
)


@contextlib.contextmanager
def _mocks() -> Iterator[RecordingMocks]:
    """The conftest's recording mocks, installed for one example (fixtures are per test, not per example)."""
    with contextlib.contextmanager(_install)(preview=False) as mocks:
        yield mocks


def _build(cloud: str, intent: Intent) -> RecordingMocks:
    with _mocks() as mocks:

        def program() -> pulumi.Output[Any]:
            cluster = COMPONENTS[cloud]("prod", intent)
            return pulumi.Output.all(cluster.cluster_name, cluster.kubeconfig)

        RUNTIME_TEST(program)()  # the SDK's way to run a program under mocks, to its last output
    return mocks


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _decoded(text: str) -> str:
    """``text`` and, when it is base64 (a kubeconfig as AKS returns it, a CA), what it encodes."""
    if len(text) < 16 or len(text) % 4:
        return text
    try:
        return text + "\n" + base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


def assert_no_plain_credential(mocks: RecordingMocks, cloud: str) -> None:
    (component,) = [r for r in mocks.registrations if r.type == f"fleet-baseline:{cloud}:Cluster"]
    assert "kubeconfig" in mocks.secret_outputs[component.urn], "the kubeconfig output must be a secret"
    assert not [r.name for r in mocks.registrations if r.type in KEY_TYPES], "a long-lived key was created"
    assert not [c for c in mocks.calls if "AdminCredentials" in c[0]], "admin (static) credentials were fetched"
    (provider,) = [r for r in mocks.registrations if r.type == "pulumi:providers:kubernetes"]
    assert "kubeconfig" in provider.secret_inputs, "the Kubernetes provider's kubeconfig must be a secret"
    config = json.loads(provider.inputs["kubeconfig"])
    for user in config["users"]:
        assert set(user["user"]) == {"exec"}, user  # a short-lived token from the cloud CLI, nothing stored
    plain: list[tuple[str, str]] = []
    for reg in mocks.registrations:
        for key, value in reg.inputs.items():
            if key not in reg.secret_inputs:
                plain += [(f"{reg.name}.{key}", s) for s in _strings(value)]
    for urn, outputs in mocks.component_outputs.items():
        secret = mocks.secret_outputs.get(urn, frozenset())
        plain += [(f"{urn}.{k}", s) for k, v in outputs.items() if k not in secret for s in _strings(v)]
    for where, text in plain:
        text = _decoded(text)
        assert "-----BEGIN" not in text or "PRIVATE" not in text, where
        assert not any(marker in text for marker in CREDENTIAL_MARKERS), where
        assert '"kind": "Config"' not in text and "current-context" not in text, f"a kubeconfig in plain {where}"


def assert_identities_under_mocks(mocks: RecordingMocks, intent: Intent, cloud: str) -> None:
    assert mocks.duplicate_urns() == []
    if cloud == "eks":
        (oidc,) = [r for r in mocks.registrations if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider"]
        provider_arn = f"arn:aws:iam::111122223333:oidc-provider/{OIDC_ISSUER.removeprefix('https://')}"
        assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
        roles = {r.name: r for r in mocks.registrations if r.type == "aws:iam/role:Role"}
        for role in roles.values():
            assert_no_wildcard_principal(role.inputs["assumeRolePolicy"])
        attached: dict[str, set[str]] = {}
        for r in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
            attached.setdefault(str(r.inputs["role"]), set()).add(str(r.inputs["policyArn"]))
        for wi in intent.workload_identities:
            assert wi.aws is not None
            role = roles[f"prod-wi-{wi.name}"]
            if wi.aws.mechanism == "irsa":
                doc = role.inputs["assumeRolePolicy"]
                assert_irsa_trust(doc, OIDC_ISSUER, provider_arn, wi.namespace, wi.service_account)
            else:
                assert_service_trust(role.inputs["assumeRolePolicy"], "pods.eks.amazonaws.com")
                (assoc,) = [
                    r
                    for r in mocks.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                    if r.name == f"prod-wi-{wi.name}"
                ]
                assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == (wi.namespace, wi.service_account)
            # the role holds exactly the intent's policies
            assert attached.get(role.inputs["name"], set()) == set(wi.aws.policy_arns), wi.name
    elif cloud == "gke":
        assert intent.cluster.gke is not None
        pool = f"{intent.cluster.gke.project}.svc.id.goog"
        members = [
            r.inputs["member"]
            for r in mocks.of_type("gcp:serviceaccount/iAMMember:IAMMember")
            if r.inputs["role"] == "roles/iam.workloadIdentityUser"
        ]
        expected = [f"serviceAccount:{pool}[{w.namespace}/{w.service_account}]" for w in intent.workload_identities]
        assert sorted(members) == sorted(expected)
    else:
        credentials = mocks.of_type("azure-native:managedidentity:FederatedIdentityCredential")
        got = sorted((r.inputs["subject"], tuple(r.inputs["audiences"]), r.inputs["issuer"]) for r in credentials)
        assert got == sorted(
            (f"system:serviceaccount:{w.namespace}:{w.service_account}", ("api://AzureADTokenExchange",), AKS_ISSUER)
            for w in intent.workload_identities
        )


def _component_test(cloud: str) -> Any:
    @settings(max_examples=examples(4, cap=150))
    @given(intents(cloud))
    def test(intent: Intent) -> None:
        mocks = _build(cloud, intent)
        assert_no_plain_credential(mocks, cloud)
        assert_identities_under_mocks(mocks, intent, cloud)

    test.__name__ = f"test_{cloud}_component_keeps_credentials_secret_and_identities_pinned"
    test.__doc__ = f"The {cloud.upper()} component under the recording mocks, for a few random intents."
    return test


test_eks_component_keeps_credentials_secret_and_identities_pinned = _component_test("eks")
test_gke_component_keeps_credentials_secret_and_identities_pinned = _component_test("gke")
test_aks_component_keeps_credentials_secret_and_identities_pinned = _component_test("aks")
