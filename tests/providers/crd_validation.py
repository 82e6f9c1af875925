"""Strict validation of rendered custom resources against the CRDs kept as test data.

The CRD files are the upstream releases (``/work/shared/crds``, or the directory in
``FLEET_BASELINE_CRDS``); they are read, never copied into the project. Validation is strict the way
the API server prunes: a field the schema does not declare is an error, except under
``x-kubernetes-preserve-unknown-fields``. jsonschema allows unknown properties by default, so
:func:`strict` adds ``additionalProperties: false`` wherever a schema declares properties, declares
no additionalProperties of its own and does not preserve unknown fields.

Gatekeeper Constraints have no CRD file: Gatekeeper generates one per ConstraintTemplate. Its schema
is rebuilt here from what Gatekeeper puts in it: the shared ``spec.match`` (upstream
``pkg/mutation/match/match_types.go``, generated into ``pkg/target/matchcrd_constant.go``),
``spec.enforcementAction``, and ``spec.parameters`` = the template's own openAPIV3Schema.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "CrdIndex",
    "constraint_schema",
    "crds_dir",
    "strict",
    "structural_problems",
]

REPO = Path(__file__).resolve().parents[2]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRD files are large: libyaml when present


def crds_dir() -> Path:
    """``$FLEET_BASELINE_CRDS``, else the shared test data beside the repository."""
    return Path(os.environ.get("FLEET_BASELINE_CRDS", REPO.parent / "shared" / "crds"))


def crd_index(subdir: str = "") -> CrdIndex:
    """The CRDs under ``crds_dir()/subdir``. Where they are missing a developer's run skips, saying
    where to put them; CI (``$CI`` set, shared/ beside the clone) fails instead of skipping."""
    import pytest

    root = crds_dir() / subdir if subdir else crds_dir()
    if not root.is_dir():
        reason = f"CRD schemas not found at {root} (set FLEET_BASELINE_CRDS to the directory of CRD files)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    return CrdIndex(root)


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI v3 schema in which undeclared fields are errors (see the module doc)."""
    out = copy.deepcopy(dict(schema))
    _tighten(out)
    return out


def _tighten(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _tighten(item)
        return
    if not isinstance(node, dict):
        return
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and not preserve and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key in ("properties", "patternProperties", "definitions"):
        for sub in (node.get(key) or {}).values():
            _tighten(sub)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict | list):
            _tighten(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        _tighten(node.get(key) or [])


def structural_problems(schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Paths where a schema breaks Kubernetes' structural-schema rule: every node has a type,
    unless it preserves unknown fields or is int-or-string. Yields the offending paths."""
    if not (
        schema.get("type")
        or schema.get("x-kubernetes-preserve-unknown-fields")
        or schema.get("x-kubernetes-int-or-string")
    ):
        yield path or "<root>"
    for name, sub in (schema.get("properties") or {}).items():
        yield from structural_problems(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), Mapping):
        yield from structural_problems(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield from structural_problems(schema["additionalProperties"], f"{path}{{}}")


@dataclass
class CrdIndex:
    """Every CRD under a directory, by (group, kind)."""

    root: Path
    crds: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in sorted(self.root.rglob("*.yaml")):
            for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_LOADER):
                if isinstance(doc, Mapping) and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc["spec"]
                    self.crds[(spec["group"], spec["names"]["kind"])] = doc

    def version(self, api_version: str, kind: str) -> Mapping[str, Any]:
        """The CRD's entry for the object's version; it must exist and be served."""
        group, _, version = api_version.rpartition("/")
        crd = self.crds.get((group, kind))
        if crd is None:
            raise LookupError(f"no CRD for {kind}.{group} under {self.root}")
        for entry in crd["spec"]["versions"]:
            if entry["name"] == version:
                if not entry.get("served", False):
                    raise LookupError(f"{kind}.{group} {version} is not served")
                return entry
        raise LookupError(f"{kind}.{group} has no version {version}")

    def validate(self, obj: Mapping[str, Any]) -> None:
        """Raise jsonschema.ValidationError when ``obj`` does not fit its CRD's schema strictly."""
        entry = self.version(obj["apiVersion"], obj["kind"])
        schema = strict(entry["schema"]["openAPIV3Schema"])
        validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if error is not None:
            raise error


_LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_WILDCARD = {"type": "string", "pattern": r"^\*?[-:a-z0-9]*\*?$"}

#: Gatekeeper's constraint ``spec.match`` (v3.23, matchcrd_constant.go).
MATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kinds": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "apiGroups": {"type": "array", "items": {"type": "string"}},
                    "kinds": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "scope": {"type": "string"},
        "namespaces": {"type": "array", "items": _WILDCARD},
        "excludedNamespaces": {"type": "array", "items": _WILDCARD},
        "processes": {"type": "array", "items": {"type": "string"}},
        "labelSelector": _LABEL_SELECTOR,
        "namespaceSelector": _LABEL_SELECTOR,
        "name": _WILDCARD,
        "source": {"type": "string", "enum": ["All", "Generated", "Original"]},
    },
}


def constraint_schema(template: Mapping[str, Any]) -> dict[str, Any]:
    """The (strict) schema of the Constraint kind Gatekeeper generates from ``template``."""
    crd = template["spec"]["crd"]["spec"]
    parameters = crd.get("validation", {}).get("openAPIV3Schema") or {"type": "object"}
    return strict(
        {
            "type": "object",
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {
                "apiVersion": {"type": "string", "enum": ["constraints.gatekeeper.sh/v1beta1"]},
                "kind": {"type": "string", "enum": [crd["names"]["kind"]]},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "properties": {
                        "enforcementAction": {"type": "string", "enum": ["deny", "dryrun", "warn", "scoped"]},
                        "match": MATCH_SCHEMA,
                        "parameters": parameters,
                    },
                },
            },
        }
    )
