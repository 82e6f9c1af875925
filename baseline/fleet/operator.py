"""Pulumi Kubernetes Operator ``Stack`` objects, one per stack, to keep each reconciled."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baseline.intent import Intent


__all__ = [
    "operator_resource_name",
    "operator_stack",
]

# =========================================================================== operator manifests

_K8S_NAME_MAX = 42  # the Stack CRD's own rule: size(self.metadata.name) <= 42
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")
_PULUMI_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def operator_resource_name(stack: str) -> str:
    """A Kubernetes name for a stack's ``Stack`` object: DNS-1123, at most 42 characters, stable.

    Too long or rewritten names keep a short hash of the stack name, so two stacks never collide.
    """
    base = _NAME_UNSAFE.sub("-", stack.lower()).strip("-") or "stack"
    if base == stack and len(base) <= _K8S_NAME_MAX:
        return base
    digest = hashlib.sha256(stack.encode()).hexdigest()[:8]
    if len(base) + 9 <= _K8S_NAME_MAX and base != stack:
        return f"{base}-{digest}"
    return f"{base[: _K8S_NAME_MAX - 9].rstrip('-')}-{digest}"


def _label_value(value: str) -> str:
    v = _LABEL_VALUE.sub("-", value)[:63].strip("-_.")
    return v


def operator_stack(
    stack: str,
    *,
    organization: str,
    project: str,
    project_repo: str,
    branch: str = "main",
    repo_dir: str | None = None,
    resync_seconds: int = 600,
    namespace: str | None = None,
    access_token_secret: str = "pulumi-api-secret",
    access_token_key: str = "accessToken",
    service_account: str | None = None,
    drift_only: bool = False,
    intent: Intent | None = None,
) -> dict[str, Any]:
    """The Pulumi Kubernetes Operator ``Stack`` (pulumi.com/v1) that keeps one cluster's stack run.

    Reconcile (default): every ``resync_seconds`` the operator refreshes the stack and runs
    ``pulumi up`` even when the commit is unchanged (``continueResyncOnCommitMatch``), so live drift
    is put back. ``drift_only``: ``spec.preview: true`` makes every run a ``pulumi preview
    --refresh`` that never applies; the Stack's status and the Pulumi Cloud update history show
    the drift. The operator never destroys (``destroyOnFinalize: false``) and never creates a stack
    that does not exist (``useLocalStackOnly``): a typo in a name is an error, not a new cluster.

    The CRD has no policy-pack field (the operator's agent does not pass ``--policy-pack``): the
    baseline pack applies to operator runs through Pulumi Cloud policy groups (docs/fleet.md).
    """
    for what, value in (("stack", stack), ("organization", organization), ("project", project)):
        if not value or not _PULUMI_NAME.match(value):
            raise ValueError(f"{what} {value!r} is not a Pulumi name (letters, digits, '_', '.', '-')")
    if not project_repo:
        raise ValueError("project_repo is required: the git repository the operator clones")
    if resync_seconds < 60:
        raise ValueError("resync_seconds must be at least 60 (the operator treats anything lower as 60)")
    mode = "drift-only" if drift_only else "reconcile"
    labels = {
        "app.kubernetes.io/managed-by": "fleet-baseline",
        "fleet-baseline.io/stack": _label_value(stack),
        "fleet-baseline.io/mode": mode,
    }
    if intent is not None:
        labels["fleet-baseline.io/cluster"] = _label_value(intent.cluster.name)
        labels["fleet-baseline.io/cloud"] = intent.cluster.cloud
        labels["fleet-baseline.io/wave"] = intent.rollout.wave
        labels["fleet-baseline.io/baseline-version"] = _label_value(intent.baseline_version)
    metadata: dict[str, Any] = {"name": operator_resource_name(stack)}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = labels
    metadata["annotations"] = {"fleet-baseline.io/stack": f"{organization}/{project}/{stack}"}
    spec: dict[str, Any] = {
        "stack": f"{organization}/{project}/{stack}",
        "projectRepo": project_repo,
        "branch": branch,
    }
    if repo_dir:
        spec["repoDir"] = repo_dir
    spec |= {
        "refresh": True,
        "resyncFrequencySeconds": int(resync_seconds),
        "continueResyncOnCommitMatch": True,
        "destroyOnFinalize": False,
        "useLocalStackOnly": True,
        "envRefs": {
            "PULUMI_ACCESS_TOKEN": {
                "type": "Secret",
                "secret": {"name": access_token_secret, "key": access_token_key},
            }
        },
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    if drift_only:
        spec["preview"] = True
    return {"apiVersion": "pulumi.com/v1", "kind": "Stack", "metadata": metadata, "spec": spec}
