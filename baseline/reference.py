"""The intent's reference, generated from the model: its JSON Schema and ``docs/intent.md``.

Both come from :class:`baseline.intent.Intent` itself (field names as written in YAML, types, defaults,
constraints, descriptions), so they cannot drift from what the loader accepts; only the example value of
a field that has no default of its own is written here (:data:`EXAMPLES`), and a test checks every one of
them validates.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from baseline.intent import Intent

__all__ = ["EXAMPLES", "SCHEMA_ID", "intent_json_schema", "intent_reference", "sections"]

SCHEMA_ID = "https://fleet-baseline.dev/schemas/intent.json"

#: An example value for each field whose default is missing or null (``Model.yamlKey``).
EXAMPLES: dict[str, Any] = {
    "Intent.baselineVersion": "1.0.0",
    "ClusterIntent.name": "prod-eu-1",
    "ClusterIntent.cloud": "eks",
    "ClusterIntent.kubernetesVersion": "1.33",
    "ClusterIntent.owner": "platform-team",
    "NodePool.instanceType": "m6i.large",
    "EksCluster.region": "eu-west-1",
    "EksCluster.subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    "GkeCluster.project": "acme-prod",
    "GkeCluster.location": "europe-west1",
    "GkeCluster.subnetwork": "prod-europe-west1",
    "GkeCluster.securityGroupDomain": "example.com",
    "AksCluster.resourceGroupName": "rg-prod-eu-1",
    "AksCluster.location": "westeurope",
    "AksCluster.subscriptionId": "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b",
    "AksCluster.tenantId": "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "AksCluster.dnsPrefix": "prod-eu-1",
    "AksCluster.logAnalyticsWorkspaceId": "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/"
    "rg-observability/providers/Microsoft.OperationalInsights/workspaces/law-prod-eu",
    "SecretsEncryption.kmsKey": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "SecretsEncryption.keyVaultResourceId": "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/"
    "rg-prod-eu-1/providers/Microsoft.KeyVault/vaults/kv-prod-eu-1",
    "AwsAuthMapping.rolearn": "arn:aws:iam::111122223333:role/legacy-admins",
    "AwsAuthMapping.username": "legacy-admin",
    "AccessGrant.name": "platform-admins",
    "AccessGrant.role": "cluster-admin",
    "NamespaceScope.namespaces": ["shop"],
    "AwsPrincipal.principalArn": "arn:aws:iam::111122223333:role/platform-admins",
    "GcpPrincipal.member": "group:platform-admins@example.com",
    "AzurePrincipal.objectId": "0b1f6a4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b",
    "WorkloadIdentity.name": "shop-orders",
    "WorkloadIdentity.namespace": "shop",
    "WorkloadIdentity.serviceAccount": "orders",
    "GcpWorkloadGrant.serviceAccountId": "shop-orders",
    "AzureWorkloadGrant.scope": "/subscriptions/3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b/resourceGroups/rg-shop",
    "NamespaceIntent.name": "shop",
    "NamespaceIntent.owner": "shop-team",
    "NamespaceIntent.podSecurity": "baseline",
    "EgressRule.cidr": "10.0.0.0/8",
    "ExceptionIntent.control": "NS-01",
    "ExceptionScope.namespace": "observability",
    "ExceptionScope.objectName": "debug-*",
    "ExceptionIntent.owner": "platform-team",
    "ExceptionIntent.reason": "node-exporter reads host metrics until the agent is replaced",
    "ExceptionIntent.expires": "2027-06-30",
    "ExceptionIntent.ticket": "PLAT-1234",
}


def intent_json_schema() -> dict[str, Any]:
    """The intent's JSON Schema (draft 2020-12), keys as written in YAML and stack config."""
    schema = Intent.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "fleet-baseline intent",
    }


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def sections() -> list[tuple[str, type[BaseModel]]]:
    """Every model of the intent with the YAML path where it first appears (``cluster.eks``), depth first."""
    found: list[tuple[str, type[BaseModel]]] = []
    seen: set[type[BaseModel]] = set()

    def walk(path: str, model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append((path, model))
        for name, field in model.model_fields.items():
            key = field.alias or name
            is_list = typing.get_origin(field.annotation) is list
            for sub in _models(field.annotation):
                where = f"{path}.{key}" if path else key
                walk(f"{where}[]" if is_list else where, sub)

    walk("", Intent)
    return found


def _type(schema: Mapping[str, Any], anchors: Mapping[str, str]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{anchors.get(name, name.lower())})"
    if "anyOf" in schema:
        return " or ".join(_type(s, anchors) for s in schema["anyOf"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), anchors)}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, Mapping):
            keys = schema.get("propertyNames")
            key_type = _type(keys, anchors) if isinstance(keys, Mapping) else "string"
            return f"map of {key_type} to {_type(values, anchors)}"
        return "object"
    if kind == "string" and schema.get("format"):
        return f"string ({schema['format']})"
    return str(kind or "any")


_CONSTRAINTS = {
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "pattern": "matches `{}`",
    "minimum": ">= {}",
    "maximum": "<= {}",
    "exclusiveMinimum": "> {}",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
}


def _constraints(schema: Mapping[str, Any], field: FieldInfo) -> list[str]:
    found: list[str] = []

    def collect(s: Mapping[str, Any]) -> None:
        for key, text in _CONSTRAINTS.items():
            if key in s:
                found.append(text.format(s[key]))
        for sub in s.get("anyOf", ()):
            collect(sub)
        if isinstance(s.get("items"), Mapping):
            collect({k: v for k, v in s["items"].items() if k in _CONSTRAINTS})

    collect(schema)
    for name in dict.fromkeys(_validators(field.annotation, list(field.metadata))):
        found.append(_VALIDATOR_NAMES.get(name, name.strip("_").replace("_", " ")))
    return found


def _validators(annotation: Any, metadata: list[Any]) -> Iterator[str]:
    """The names of the validators (``AfterValidator``) on a type, its ``Annotated`` layers and its arguments:
    the rules JSON Schema cannot say."""
    for meta in metadata:
        name = getattr(getattr(meta, "func", None), "__name__", "")
        if name:
            yield name
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        yield from _validators(inner, extra)
        return
    for arg in typing.get_args(annotation):
        yield from _validators(arg, [])


_VALIDATOR_NAMES = {
    "_dns_label": "a DNS-1123 label",
    "_semver": "MAJOR.MINOR.PATCH",
    "_cidr": "a CIDR block",
    "_control_id": "a control id (CL-01, NS-02, RB-06, POD-11, ST-01)",
    "_k8s_version": "a Kubernetes minor version (1.33)",
}


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(the section's defaults)"
    text = json.dumps(_jsonable(value), default=str)
    return f"`{text}`".replace("|", "\\|")


def intent_reference() -> str:
    """``docs/intent.md``: every section and field of the intent with its type, default, constraints,
    description and an example."""
    schema = intent_json_schema()
    defs: Mapping[str, Any] = schema.get("$defs", {})
    all_sections = sections()
    anchors = {
        model.__name__: (path or "intent").replace(".", "").replace("[]", "").lower() for path, model in all_sections
    }
    lines = [
        "# The intent reference",
        "",
        "<!-- Generated from baseline/intent.py by `fleet-baseline schema --markdown`; do not edit by hand. -->",
        "",
        "A stack's intent is `fleet-baseline:intent` (an object) and/or `fleet-baseline:intentFile` (a YAML file",
        "relative to the stack config directory) in its `Pulumi.<stack>.yaml`. Keys are camelCase; unknown keys",
        "are refused with the field path. `fleet-baseline schema > intent.schema.json` writes the JSON Schema",
        "for editor completion (`# yaml-language-server: $schema=intent.schema.json` at the top of the file).",
        "",
        "Required fields are marked **required**; every other field has the default shown.",
        "",
    ]
    for path, model in all_sections:
        title = path or "intent (top level)"
        lines += [f"## {title}", "", f'<a id="{anchors[model.__name__]}"></a>`{model.__name__}`', ""]
        doc = (model.__doc__ or "").strip()
        if doc and not doc.startswith(("Strict base", "!!")) and model.__doc__ != BaseModel.__doc__:
            lines += [" ".join(doc.split()), ""]
        props: Mapping[str, Any] = (schema if model is Intent else defs.get(model.__name__, {})).get("properties", {})
        required = set((schema if model is Intent else defs.get(model.__name__, {})).get("required", ()))
        lines += ["| field | type | default | constraints | description | example |", "|---|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            prop = props.get(key, {})
            default = "**required**" if key in required else _cell(_default(field))
            example_key = f"{model.__name__}.{key}"
            if example_key in EXAMPLES:
                example = _cell(EXAMPLES[example_key])
            elif any(True for _ in _models(field.annotation)):
                example = "see its section"
            else:
                example = _cell(_default(field))
            description = (field.description or prop.get("description") or "").replace("|", "\\|")
            constraints = "; ".join(_constraints(prop, field)).replace("|", "\\|")
            lines.append(
                f"| `{key}` | {_type(prop, anchors)} | {default} | {constraints} | {description} | {example} |"
            )
        lines.append("")
    return "\n".join(lines)
