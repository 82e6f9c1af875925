"""Plausible computed outputs and invoke results for the program under mocks, from one table."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

__all__ = [
    "COMPUTED_OUTPUTS",
    "INVOKE_RESULTS",
    "PlanMocks",
]

# --------------------------------------------------------------------------- mock values


_MOCK_ACCOUNT = "123456789012"
_FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSU1PQ0tQTEFOCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"


@dataclass(frozen=True)
class _MockContext:
    type: str
    name: str
    inputs: Mapping[str, Any]
    region: str
    account: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.type}::{self.name}".encode()).hexdigest()

    @property
    def physical(self) -> str:
        """The physical name: the ``name`` input, else the resource name plus an autonaming suffix."""
        given = self.inputs.get("name")
        return given if isinstance(given, str) and given else f"{self.name}-{self.digest[:7]}"

    @property
    def uuid(self) -> str:
        d = self.digest
        return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:{self.account}:{resource}"


def _documents_as_text(inputs: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """IAM policy documents given as objects, as the provider stores them: JSON text (the output type)."""
    return {k: json.dumps(inputs[k]) for k in keys if isinstance(inputs.get(k), Mapping)}


def _gcp_service_account_outputs(c: _MockContext) -> dict[str, Any]:
    """Google names a service account by its e-mail, from the account id and the project."""
    email = f"{c.inputs.get('accountId', c.physical)}@{c.inputs.get('project', 'project')}.iam.gserviceaccount.com"
    return {
        "email": email,
        "name": f"projects/{c.inputs.get('project', 'project')}/serviceAccounts/{email}",
        "uniqueId": str(int(c.digest[:16], 16)),
        "member": f"serviceAccount:{email}",
    }


def _gke_cluster_outputs(c: _MockContext) -> dict[str, Any]:
    """GKE assigns the endpoint (a bare address) and the cluster CA, inside ``masterAuth``."""
    project, location = c.inputs.get("project", "project"), c.inputs.get("location", "us-central1")
    return {
        "endpoint": f"34.{int(c.digest[:2], 16)}.{int(c.digest[2:4], 16)}.{int(c.digest[4:6], 16)}",
        "masterAuth": {**dict(c.inputs.get("masterAuth") or {}), "clusterCaCertificate": _FAKE_CA},
        "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{c.physical}",
        "labelFingerprint": c.digest[:8],
    }


def _cluster_outputs(c: _MockContext) -> dict[str, Any]:
    oidc_id = c.digest[:32].upper()
    vpc = dict(c.inputs.get("vpcConfig") or {})
    vpc.setdefault("clusterSecurityGroupId", f"sg-{c.digest[:17]}")
    vpc.setdefault("vpcId", f"vpc-{c.digest[17:34]}")
    return {
        "arn": c.arn("eks", f"cluster/{c.physical}"),
        "endpoint": f"https://{oidc_id}.gr7.{c.region}.eks.amazonaws.com",
        "certificateAuthority": {"data": _FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{c.region}.amazonaws.com/id/{oidc_id}"}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "version": c.inputs.get("version") or "1.33",
        "vpcConfig": vpc,
    }


def _aks_cluster_outputs(c: _MockContext) -> dict[str, Any]:
    """AKS assigns the FQDNs and the OIDC issuer; ARM returns user-assigned identities as a map by id."""
    identity = dict(c.inputs.get("identity") or {})
    ids = identity.get("userAssignedIdentities")
    if isinstance(ids, list):
        identity["userAssignedIdentities"] = {str(i): {"principalId": c.uuid, "clientId": c.uuid} for i in ids}
    prefix, location = c.inputs.get("dnsPrefix") or c.physical, c.inputs.get("location") or "westeurope"
    return {
        "name": c.inputs.get("resourceName") or c.physical,
        "identity": identity,
        "fqdn": f"{prefix}-{c.digest[:8]}.hcp.{location}.azmk8s.io",
        "privateFQDN": f"{prefix}-{c.digest[:8]}.{c.uuid}.privatelink.{location}.azmk8s.io",
        "oidcIssuerProfile": {
            **(c.inputs.get("oidcIssuerProfile") or {}),
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{c.uuid}/{c.digest[32:64]}/",
        },
        "provisioningState": "Succeeded",
    }


def _aks_identity_map(outputs: dict[str, Any]) -> dict[str, Any]:
    """ARM returns user-assigned identities as a map by id (the input is a list): the SDK checks it."""
    identity = outputs.get("identity")
    if isinstance(identity, Mapping) and isinstance(identity.get("userAssignedIdentities"), list):
        ids = identity["userAssignedIdentities"]
        outputs["identity"] = {**identity, "userAssignedIdentities": {str(i): {} for i in ids}}
    return outputs


#: Output shapes that differ from the input's, applied at preview too (where computed values stay
#: unknown): the SDK refuses an output of the input's shape.
PREVIEW_RESHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "azure-native:containerservice:ManagedCluster": _aks_identity_map,
}


def _aks_user_credentials(args: Mapping[str, Any], region: str, account: str) -> dict[str, Any]:
    """``listClusterUserCredential``: an exec-format kubeconfig, base64, as AKS returns it."""
    name = str(args.get("resourceName") or "cluster")
    digest = hashlib.sha256(name.encode()).hexdigest()
    server = f"https://{name}-{digest[:8]}.hcp.azmk8s.io:443"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": _FAKE_CA}}],
        "users": [{"name": f"clusterUser_{name}", "user": {"exec": {"command": "kubelogin"}}}],
    }
    value = base64.b64encode(json.dumps(config).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}


#: Computed outputs by type token, over the inputs (which every resource returns as outputs). Only what
#: programs read: EKS endpoint, CA and OIDC issuer, ARNs, ids; the AKS issuer and identity ids. Other
#: AWS types get a generic ``arn``.
COMPUTED_OUTPUTS: Mapping[str, Callable[[_MockContext], dict[str, Any]]] = {
    "aws:eks/cluster:Cluster": _cluster_outputs,
    "aws:eks/nodeGroup:NodeGroup": lambda c: {
        "arn": c.arn("eks", f"nodegroup/{c.inputs.get('clusterName', 'cluster')}/{c.physical}/{c.uuid}"),
        "status": "ACTIVE",
        "nodeGroupName": c.inputs.get("nodeGroupName") or c.physical,
        "resources": [{"autoscalingGroups": [{"name": f"eks-{c.physical}-{c.uuid}"}]}],
    },
    "aws:eks/accessEntry:AccessEntry": lambda c: {
        "accessEntryArn": c.arn("eks", f"access-entry/{c.inputs.get('clusterName', 'cluster')}/{c.uuid}"),
        "type": c.inputs.get("type") or "STANDARD",
    },
    "aws:eks/addon:Addon": lambda c: {
        "arn": c.arn("eks", f"addon/{c.inputs.get('clusterName', 'cluster')}/{c.inputs.get('addonName')}/{c.uuid}"),
        "addonVersion": c.inputs.get("addonVersion") or "v1.0.0-eksbuild.1",
    },
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": lambda c: {
        "associationArn": c.arn(
            "eks", f"podidentityassociation/{c.inputs.get('clusterName', 'cluster')}/a-{c.digest[:17]}"
        ),
        "associationId": f"a-{c.digest[:17]}",
    },
    "aws:iam/role:Role": lambda c: {
        "arn": c.arn("iam", f"role/{c.physical}", regional=False),
        "uniqueId": f"AROA{c.digest[:17].upper()}",
        "name": c.physical,
        **_documents_as_text(c.inputs, "assumeRolePolicy"),
    },
    "aws:iam/policy:Policy": lambda c: {
        "arn": c.arn("iam", f"policy/{c.physical}", regional=False),
        "policyId": f"ANPA{c.digest[:17].upper()}",
        "name": c.physical,
        **_documents_as_text(c.inputs, "policy"),
    },
    "aws:iam/rolePolicy:RolePolicy": lambda c: _documents_as_text(c.inputs, "policy"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": lambda c: {
        "arn": c.arn("iam", "oidc-provider/" + str(c.inputs.get("url", "")).removeprefix("https://"), regional=False),
    },
    "aws:kms/key:Key": lambda c: {"arn": c.arn("kms", f"key/{c.uuid}"), "keyId": c.uuid},
    "aws:kms/alias:Alias": lambda c: {"arn": c.arn("kms", str(c.inputs.get("name") or f"alias/{c.name}"))},
    "aws:cloudwatch/logGroup:LogGroup": lambda c: {"arn": c.arn("logs", f"log-group:{c.physical}")},
    "gcp:container/cluster:Cluster": _gke_cluster_outputs,
    "gcp:serviceaccount/account:Account": _gcp_service_account_outputs,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda c: {
        "arn": c.arn("ec2", f"launch-template/lt-{c.digest[:17]}"),
        "latestVersion": 1,
        "defaultVersion": 1,
    },
    "azure-native:containerservice:ManagedCluster": _aks_cluster_outputs,
    "azure-native:managedidentity:UserAssignedIdentity": lambda c: {
        "name": c.inputs.get("resourceName") or c.physical,
        "principalId": c.uuid,
        "clientId": f"{c.digest[32:40]}-{c.digest[40:44]}-{c.digest[44:48]}-{c.digest[48:52]}-{c.digest[52:64]}",
    },
}


def _aws_generic(c: _MockContext) -> dict[str, Any]:
    module = c.type.split(":")[1].split("/")[0]
    kind = c.type.rsplit(":", 1)[1]
    out: dict[str, Any] = {"arn": c.arn(module, f"{kind[0].lower()}{kind[1:]}/{c.physical}")}
    if "name" not in c.inputs and not c.type.startswith("aws:eks/"):
        out["name"] = c.physical
    return out


def _policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """``aws.iam.getPolicyDocument`` rendered as the provider renders it (single values unwrapped)."""

    def one(values: Any) -> Any:
        values = list(values or [])
        return values[0] if len(values) == 1 else values

    statements = []
    for s in args.get("statements") or []:
        st: dict[str, Any] = {}
        if s.get("sid"):
            st["Sid"] = s["sid"]
        st["Effect"] = s.get("effect") or "Allow"
        if s.get("actions"):
            st["Action"] = one(s["actions"])
        if s.get("resources"):
            st["Resource"] = one(s["resources"])
        principals: dict[str, Any] = {}
        for p in s.get("principals") or []:
            principals[p.get("type")] = one(p.get("identifiers"))
        if principals:
            st["Principal"] = principals
        conditions: dict[str, dict[str, Any]] = {}
        for cond in s.get("conditions") or []:
            conditions.setdefault(cond.get("test"), {})[cond.get("variable")] = one(cond.get("values"))
        if conditions:
            st["Condition"] = conditions
        statements.append(st)
    doc = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    text = json.dumps(doc, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(doc, separators=(",", ":")),
        "id": hashlib.sha256(text.encode()).hexdigest()[:10],
    }


#: Results of provider functions (invokes) the programs call, by token; ``{}`` for any other.
INVOKE_RESULTS: Mapping[str, Callable[[Mapping[str, Any], str, str], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, region, account: {
        "accountId": account,
        "arn": f"arn:aws:iam::{account}:user/fleet-baseline-plan",
        "userId": "AIDAFLEETBASELINEPLAN",
        "id": account,
    },
    "aws:index/getRegion:getRegion": lambda a, region, account: {
        "name": region,
        "region": region,
        "id": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
    },
    "aws:index/getPartition:getPartition": lambda a, region, account: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a, region, account: {
        "names": [f"{region}{z}" for z in "abc"],
        "zoneIds": [f"{region[:3]}-az{i}" for i in (1, 2, 3)],
        "id": region,
    },
    "aws:iam/getPolicyDocument:getPolicyDocument": lambda a, region, account: _policy_document(a),
    "aws:eks/getClusterAuth:getClusterAuth": lambda a, region, account: {
        "name": a.get("name"),
        "token": "k8s-aws-v1.fleet-baseline-plan",
        "id": a.get("name"),
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_user_credentials,
}


class PlanMocks(Mocks):
    """Inputs as outputs, plus :data:`COMPUTED_OUTPUTS` (not in preview: there they stay unknown)."""

    def __init__(self, config: Mapping[str, str], preview: bool) -> None:
        self.region = config.get("aws:region", "us-east-1")
        self.account = _MOCK_ACCOUNT
        self.preview = preview
        self.invoked: Counter[str] = Counter()

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, {}
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return ("" if self.preview else f"{args.name}-{hashlib.sha256(args.name.encode()).hexdigest()[:8]}"), inputs
        ctx = _MockContext(args.typ, args.name, inputs, self.region, self.account)
        if self.preview:  # a create at preview: no id yet, computed outputs unknown
            reshape = PREVIEW_RESHAPES.get(args.typ)
            return "", reshape(inputs) if reshape else inputs
        outputs = dict(inputs)
        if args.typ.startswith("kubernetes:"):
            metadata = inputs.get("metadata")
            md: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
            ns, nm = md.get("namespace"), md.get("name") or ctx.physical
            return (f"{ns}/{nm}" if ns else str(nm)), outputs
        if args.typ.startswith("aws:"):
            outputs.update(_aws_generic(ctx))
            if isinstance(inputs.get("tags"), Mapping):
                outputs.setdefault("tagsAll", dict(inputs["tags"]))
        extra = COMPUTED_OUTPUTS.get(args.typ)
        if extra is not None:
            outputs.update(extra(ctx))
        return ctx.physical, outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.invoked[args.token] += 1
        fn = INVOKE_RESULTS.get(args.token)
        return (fn(args.args, self.region, self.account) if fn else {}), []
