"""An admission request through the rendered policies of one engine, with that engine's semantics.

No API server is available here (offline.md), so the request is played through the seams each
engine uses, with the CEL the engine runs (the rendered text, compiled by the same runtime the
evaluator uses, with ``object``, ``oldObject``, ``request`` and ``variables`` bound as the engines
bind them):

* ``vap``: matchConstraints (resource rules with their operations, the namespace selector on
  ``kubernetes.io/metadata.name``, excludeResourceRules by name), then every matchCondition, then
  the validations; the binding's validationActions decide Deny or Audit/Warn.
* ``kyverno``: the same for a ValidatingPolicy (its own validationActions), and a
  ``policies.kyverno.io`` PolicyException naming the policy whose matchConditions all hold and whose
  ``expiresAt`` has not passed skips it.
* ``gatekeeper``: the Constraint's ``match.kinds`` and ``excludedNamespaces``, the template's
  ``matchCondition`` list and validations, ``variables.params`` bound to the Constraint's
  ``spec.parameters``; ``enforcementAction`` deny or warn.

:func:`review` returns the verdicts (control id, action, message) of the policies that did not
admit the request silently.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from baseline.catalog import Catalog
from baseline.cel import CompiledCheck, compile_check

__all__ = ["Request", "Verdict", "denied", "review"]


@dataclass(frozen=True)
class Request:
    obj: Mapping[str, Any]
    operation: str = "CREATE"
    old: Mapping[str, Any] | None = None
    user: str = "alice@example.com"
    groups: tuple[str, ...] = ("developers", "system:authenticated")

    def data(self) -> dict[str, Any]:
        return {
            "object": self.obj,
            "oldObject": self.old,
            "request": {
                "operation": self.operation,
                "userInfo": {"username": self.user, "groups": list(self.groups)},
                "namespace": _namespace_of(self.obj) or "",
            },
        }


@dataclass(frozen=True)
class Verdict:
    control: str
    action: str  # "deny" or "warn"
    message: str


@functools.cache
def _compiled(expression: str, variables: tuple[tuple[str, str], ...]) -> CompiledCheck:
    return compile_check(expression, variables)


def _holds(expression: str, request: Request, variables: Sequence[tuple[str, str]] = (),
           given: Mapping[str, Any] | None = None) -> bool:
    verdict, error = _compiled(expression, tuple(variables)).run({**request.data(), "variables": dict(given or {})})
    if error is not None:  # every engine here fails closed on an error (failurePolicy Fail)
        raise AssertionError(f"{expression}: {error}")
    return bool(verdict)


def _namespace_of(obj: Mapping[str, Any]) -> str | None:
    if obj.get("apiVersion") == "v1" and obj.get("kind") == "Namespace":
        return str(obj["metadata"]["name"])
    ns = obj.get("metadata", {}).get("namespace")
    return str(ns) if ns is not None else None


def _resource(catalog: Catalog, obj: Mapping[str, Any]) -> tuple[str, str, str]:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    ref = next(k for k in catalog.kinds.values() if (k.group, k.kind) == (group, obj["kind"]))
    return group, version, ref.plural


def _rules_match(rules: Iterable[Mapping[str, Any]], resource: tuple[str, str, str], operation: str,
                 name: str, names: bool = False) -> bool:
    group, version, plural = resource
    return any(group in r["apiGroups"] and version in r["apiVersions"] and plural in r["resources"]
               and operation in r["operations"] and (not names or name in r.get("resourceNames", [name]))
               for r in rules)


def _vap_like_matches(spec: Mapping[str, Any], request: Request, catalog: Catalog) -> bool:
    match = spec["matchConstraints"]
    obj = request.obj
    resource = _resource(catalog, obj)
    name = obj["metadata"]["name"]
    if not _rules_match(match["resourceRules"], resource, request.operation, name):
        return False
    if _rules_match(match.get("excludeResourceRules", []), resource, request.operation, name, names=True):
        return False
    namespace = _namespace_of(obj)
    for expr in match.get("namespaceSelector", {}).get("matchExpressions", []):
        assert (expr["key"], expr["operator"]) == ("kubernetes.io/metadata.name", "NotIn")
        if namespace is not None and namespace in expr["values"]:
            return False
    return all(_holds(c["expression"], request) for c in spec.get("matchConditions", []))


def _failed(spec: Mapping[str, Any], request: Request, variables: Sequence[tuple[str, str]],
            given: Mapping[str, Any] | None = None) -> str | None:
    for v in spec["validations"]:
        if not _holds(v["expression"], request, variables, given):
            return str(v.get("message", ""))
    return None


def review(engine: str, manifests: Sequence[Mapping[str, Any]], request: Request, catalog: Catalog,
           now: dt.datetime | None = None) -> list[Verdict]:
    """The verdicts of every rendered policy of ``engine`` that matches and rejects ``request``."""
    now = now or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    out: list[Verdict] = []
    for m in manifests:
        annotations = m["metadata"].get("annotations", {})
        cid = annotations.get("fleet-baseline.io/control", "")
        if m["kind"] == "ValidatingAdmissionPolicy":
            binding = next(b for b in manifests if b["kind"] == "ValidatingAdmissionPolicyBinding"
                           and b["spec"]["policyName"] == m["metadata"]["name"])
            if not _vap_like_matches(m["spec"], request, catalog):
                continue
            message = _failed(m["spec"], request, [(v["name"], v["expression"]) for v in m["spec"]["variables"]])
            if message is not None:
                action = "deny" if "Deny" in binding["spec"]["validationActions"] else "warn"
                out.append(Verdict(cid, action, message))
        elif m["kind"] == "ValidatingPolicy":
            if not _vap_like_matches(m["spec"], request, catalog):
                continue
            exceptions = [e for e in manifests if e["kind"] == "PolicyException"
                          and any(r["name"] == m["metadata"]["name"] for r in e["spec"]["policyRefs"])]
            if any(_exception_applies(e, request, now) for e in exceptions):
                continue
            message = _failed(m["spec"], request, [(v["name"], v["expression"]) for v in m["spec"]["variables"]])
            if message is not None:
                action = "deny" if "Deny" in m["spec"]["validationActions"] else "warn"
                out.append(Verdict(cid, action, message))
        elif str(m["apiVersion"]).startswith("constraints.gatekeeper.sh/"):
            match = m["spec"]["match"]
            obj = request.obj
            group = str(obj["apiVersion"]).rpartition("/")[0]
            if not any(group in k["apiGroups"] and obj["kind"] in k["kinds"] for k in match["kinds"]):
                continue
            if _namespace_of(obj) in match.get("excludedNamespaces", []):
                continue
            template = next(t for t in manifests if t["kind"] == "ConstraintTemplate"
                            and t["metadata"]["name"] == str(m["kind"]).lower())
            target = template["spec"]["targets"][0]
            if request.operation not in target.get("operations", ["CREATE", "UPDATE"]):
                continue
            source = target["code"][0]["source"]
            if not all(_holds(c["expression"], request) for c in source.get("matchCondition", [])):
                continue
            variables = [(v["name"], v["expression"]) for v in source.get("variables", [])]
            message = _failed(source, request, variables, {"params": m["spec"].get("parameters", {})})
            if message is not None:
                out.append(Verdict(cid, "deny" if m["spec"]["enforcementAction"] == "deny" else "warn", message))
    return out


def _exception_applies(exception: Mapping[str, Any], request: Request, now: dt.datetime) -> bool:
    spec = exception["spec"]
    expires = spec.get("expiresAt")
    if expires is not None and dt.datetime.fromisoformat(expires.replace("Z", "+00:00")) <= now:
        return False
    return all(_holds(c["expression"], request) for c in spec.get("matchConditions", []))


def denied(verdicts: Iterable[Verdict]) -> set[str]:
    """The controls that deny."""
    return {v.control for v in verdicts if v.action == "deny"}
