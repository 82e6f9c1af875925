"""Shared fixtures: a recording Pulumi mock engine and the sample intents.

Pulumi mocks are process-global, so they are installed per test by a fixture (never at import).
The recorder sees what the engine would: each registration's type, name, wire (camelCase) inputs
and provider reference, plus the resource options the engine acts on (parent, dependencies,
deleteBeforeReplace), which the mocks API alone does not expose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

from baseline.intent import Intent
from baseline.loader import intent_from_config, read_stack_config

REPO_ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = REPO_ROOT / "stacks"

ACCOUNT_ID = "111122223333"
REGION = "eu-west-1"
OIDC_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
KMS_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n").decode()


def load_stack_intent(stack: str) -> Intent:
    """The intent of ``stacks/Pulumi.<stack>.yaml``, exactly as the program builds it."""
    return intent_from_config(read_stack_config(STACKS_DIR / f"Pulumi.{stack}.yaml"), base_dir=STACKS_DIR)


@dataclass(frozen=True)
class Registration:
    """One resource registration as the engine would receive it."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    """Wire inputs, secrets unwrapped (see ``secret_inputs``)."""
    secret_inputs: frozenset[str]
    """Top-level input keys that arrived marked secret."""
    provider: str
    parent: str
    dependencies: tuple[str, ...]
    delete_before_replace: bool
    custom: bool
    ignore_changes: tuple[str, ...] = ()
    """Input properties the engine must not reconcile (``ignoreChanges``), as wire names."""


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _contains_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that return plausible AWS/Kubernetes outputs and record every registration and invoke.

    Like a real provider, a preview echoes the inputs only: values AWS assigns (ARNs, the endpoint,
    the OIDC issuer) stay unknown, and so does everything computed from them.
    """

    def __init__(self, preview: bool = False) -> None:
        self.preview = preview
        self.registrations: list[Registration] = []
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        #: Outputs each component registered (``register_outputs``), by URN; secret ones listed apart.
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.secret_outputs: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the Mocks API

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _unwrap(args.inputs)
        outputs = _as_provider_state(args.typ, inputs)
        if not self.preview:
            outputs.update(_extra_outputs(args.typ, args.name, inputs))
        if args.typ.startswith("azure-native:"):
            outputs.update(azure_state(args.typ, args.name, dict(outputs), preview=self.preview))
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        with self._lock:
            self.calls.append((args.token, dict(args.args), args.provider))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/deployer",
                "userId": "AROAEXAMPLE:deployer",
                "id": ACCOUNT_ID,
            }, []
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}, []
        if args.token.startswith("azure-native:"):
            return _azure_invoke(args.token, dict(args.args)), []
        return {}, []

    # ------------------------------------------------------------------ recording (from the monitor)

    def record(self, request: Any, urn: str) -> None:
        raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
        reg = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            inputs=_unwrap(raw),
            secret_inputs=frozenset(k for k, v in raw.items() if _contains_secret(v)),
            provider=request.provider,
            parent=request.parent,
            dependencies=tuple(request.dependencies),
            delete_before_replace=bool(request.deleteBeforeReplace),
            custom=bool(request.custom),
            ignore_changes=tuple(request.ignoreChanges),
        )
        with self._lock:
            self.registrations.append(reg)

    def record_outputs(self, request: Any) -> None:
        raw = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        with self._lock:
            self.component_outputs[request.urn] = _unwrap(raw)
            self.secret_outputs[request.urn] = frozenset(k for k, v in raw.items() if _contains_secret(v))

    # ------------------------------------------------------------------ queries for tests

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def duplicate_urns(self) -> list[str]:
        """URNs registered more than once: the real engine refuses them, the mock does not notice."""
        counts = Counter(r.urn for r in self.registrations)
        return sorted(urn for urn, n in counts.items() if n > 1)


def _as_provider_state(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs as the provider stores them: IAM policy documents become JSON text."""
    state = dict(inputs)
    if typ == "aws:iam/role:Role" and isinstance(state.get("assumeRolePolicy"), dict):
        state["assumeRolePolicy"] = json.dumps(state["assumeRolePolicy"])
    return state


def _extra_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs AWS would assign, in wire names; Kubernetes resources echo their inputs."""
    if typ == "aws:eks/cluster:Cluster":
        return {
            "arn": f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/{inputs.get('name', name)}",
            "endpoint": f"https://EXAMPLE0123456789.gr7.{REGION}.eks.amazonaws.com",
            "certificateAuthority": {"data": FAKE_CA},
            "identities": [{"oidcs": [{"issuer": OIDC_ISSUER}]}],
        }
    if typ == "aws:iam/role:Role":
        role_name = inputs.get("name", f"{name}-1a2b3c")
        return {"name": role_name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}"}
    if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        host = str(inputs.get("url", "")).removeprefix("https://")
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"}
    if typ == "aws:kms/key:Key":
        return {"arn": KMS_KEY_ARN, "keyId": KMS_KEY_ARN.rsplit("/", 1)[-1]}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{inputs.get('name', name)}"}
    return {}


AKS_SERVER = "https://prod-eu-1-1a2b3c4d.hcp.westeurope.azmk8s.io:443"
AKS_ISSUER = "https://westeurope.oic.prod-aks.azure.com/7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f/5e6f7a8b-0000-4000-8000-000000000001/"
AKS_CLUSTER = "azure-native:containerservice:ManagedCluster"
AKS_UAI = "azure-native:managedidentity:UserAssignedIdentity"


def fake_uuid(seed: str) -> str:
    """A stable UUID-shaped value for what Azure would assign."""
    d = hashlib.sha256(seed.encode()).hexdigest()
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"


def azure_state(typ: str, name: str, inputs: dict[str, Any], *, preview: bool) -> dict[str, Any]:
    """What Azure adds to, or reshapes in, a resource's state; the recording mocks echo inputs only.

    ARM returns a cluster's user-assigned identities as a map by id (the input is a list): echoing the
    list would not fit the output type, at preview as at up. Outside preview, the values Azure assigns.
    """
    out: dict[str, Any] = {}
    if typ == AKS_CLUSTER:
        identity = dict(inputs.get("identity") or {})
        ids = identity.get("userAssignedIdentities")
        if isinstance(ids, list):
            identity["userAssignedIdentities"] = {
                str(i): {} if preview else {"principalId": fake_uuid(str(i))} for i in ids
            }
        out["identity"] = identity
        oidc = inputs.get("oidcIssuerProfile") or {}
        if not preview and oidc.get("enabled"):
            out["oidcIssuerProfile"] = {**oidc, "issuerURL": AKS_ISSUER}
        if not preview:
            out["name"] = inputs.get("resourceName", name)
    elif typ == AKS_UAI and not preview:
        out.update(principalId=fake_uuid(f"principal-{name}"), clientId=fake_uuid(f"client-{name}"))
        out["name"] = inputs.get("resourceName", name)
    return out


def install_azure_state(mocks: RecordingMocks) -> RecordingMocks:
    """Make the recording mocks answer Azure resources as Azure does (:func:`azure_state`)."""
    echo = mocks.new_resource

    def new_resource(args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = echo(args)
        outputs.update(azure_state(args.typ, args.name, dict(outputs), preview=mocks.preview))
        return resource_id, outputs

    mocks.new_resource = new_resource  # type: ignore[method-assign]
    return mocks


def _azure_invoke(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """Azure invokes: the AKS user credentials, an exec-format kubeconfig as AKS returns it (base64)."""
    if token == "azure-native:containerservice:listManagedClusterUserCredentials":
        name = args.get("resourceName", "cluster")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": AKS_SERVER, "certificate-authority-data": FAKE_CA}}],
            "users": [{"name": f"clusterUser_{name}", "user": {"exec": {"command": "kubelogin"}}}],
        }
        value = base64.b64encode(json.dumps(config).encode()).decode()
        return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}
    return {}


class _RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also recording each request's options on the recorder."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recorder = mocks

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.recorder.record(request, response.urn)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # the gRPC method name
        self.recorder.record_outputs(request)
        return super().RegisterResourceOutputs(request)


def _install(preview: bool) -> Iterator[RecordingMocks]:
    mocks = RecordingMocks(preview)
    pulumi.runtime.set_mocks(
        mocks, project="fleet-baseline", stack="test", preview=preview, monitor=_RecordingMonitor(mocks)
    )
    try:
        yield mocks
    finally:
        pulumi.runtime.set_all_config({})  # config is process-global too


@pytest.fixture
def pulumi_mocks() -> Iterator[RecordingMocks]:
    """Pulumi mocks for one test, as during ``pulumi up`` (every output known)."""
    yield from _install(preview=False)


@pytest.fixture
def pulumi_preview_mocks() -> Iterator[RecordingMocks]:
    """Pulumi mocks for one test, as during ``pulumi preview`` (unreturned outputs stay unknown)."""
    yield from _install(preview=True)


@pytest.fixture(scope="session")
def prod_intent() -> Intent:
    """The sample compliant cluster (``stacks/Pulumi.eks-prod.yaml``)."""
    return load_stack_intent("eks-prod")


@pytest.fixture(scope="session")
def stale_intent() -> Intent:
    """The cluster born from a stale template (``stacks/Pulumi.eks-stale.yaml``)."""
    return load_stack_intent("eks-stale")
