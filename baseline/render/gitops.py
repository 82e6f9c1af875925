"""How the engine and the policies reach a cluster through GitOps: ``render --gitops``.

Pure functions: the intent, the engine and :class:`GitOpsOptions` in, file texts out (no marker:
:func:`baseline.render.manifests.render_files` adds it). The engine's chart, version, repository and
values are :func:`providers.engines.engine_release_args`, the same the in-cluster component installs.

* ``kustomize``: no objects of its own; ``engine/values.yaml`` holds the chart's values and
  ``NOTES.md`` names the install (``helm upgrade --install ...``) and the order.
* ``flux``: ``engine/`` holds a ``source.toolkit.fluxcd.io/v1`` HelmRepository and a
  ``helm.toolkit.fluxcd.io/v2`` HelmRelease (CRDs created and replaced on upgrade, remediation on
  failure); ``flux/`` holds ``kustomize.toolkit.fluxcd.io/v1`` Kustomizations for the baseline, the
  engine (``wait: true``: ready when the release's Deployments are) and the policies, which
  ``dependsOn`` the engine: the policies' kinds exist and the webhook answers before they are sent.
* ``argocd``: ``argocd/`` holds ``argoproj.io/v1alpha1`` Applications (the engine's chart with its
  values, the baseline, the policies), ordered by ``argocd.argoproj.io/sync-wave`` for an app of apps.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from baseline.intent import Intent

__all__ = [
    "ARGOCD_API",
    "FLUX_HELM_API",
    "FLUX_KUSTOMIZE_API",
    "FLUX_SOURCE_API",
    "GitOpsError",
    "GitOpsOptions",
    "engine_files",
    "notes",
]

FLUX_HELM_API = "helm.toolkit.fluxcd.io/v2"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
ARGOCD_API = "argoproj.io/v1alpha1"
_SYNC_WAVE = "argocd.argoproj.io/sync-wave"
_PREFIX = "fleet-baseline"


class GitOpsError(ValueError):
    """The options cannot describe a working delivery (an Argo CD render without a repository URL)."""


@dataclass(frozen=True)
class GitOpsOptions:
    """Where the rendered directory lives for the GitOps tool, and which tool.

    ``repo_path`` is the output directory's path inside the Git repository (``./clusters/prod``);
    ``source_name``/``source_namespace`` the Flux GitRepository that holds it (Flux's bootstrap one by
    default); ``repo_url``/``revision`` the repository Argo CD reads.
    """

    mode: Literal["kustomize", "flux", "argocd"] = "kustomize"
    repo_path: str = "."
    source_name: str = "flux-system"
    source_namespace: str = "flux-system"
    repo_url: str | None = None
    revision: str = "HEAD"
    argocd_namespace: str = "argocd"
    interval: str = "10m"

    def path(self, *parts: str) -> str:
        joined = posixpath.normpath(posixpath.join(self.repo_path, *parts))
        return joined if joined.startswith(("./", "/")) or joined == "." else f"./{joined}"


def _release(intent: Intent, engine: str) -> dict[str, Any] | None:
    from providers.engines import engine_release_args

    return engine_release_args(intent, engine)


def _dump(obj: Any) -> str:
    from baseline.render.manifests import dump_yaml

    return dump_yaml(obj)


def _dump_all(objs: Sequence[Mapping[str, Any]]) -> str:
    return "---\n".join(_dump(o) for o in objs)


def engine_files(intent: Intent, engine: str, options: GitOpsOptions) -> dict[str, str]:
    """The engine's install and the delivery objects for ``options.mode`` (path -> YAML text)."""
    release = _release(intent, engine)
    files: dict[str, str] = {}
    if options.mode == "kustomize":
        if release is not None:
            files["engine/values.yaml"] = _dump(release["values"])
        return files
    if options.mode == "flux":
        if release is not None:
            repo, helm_release = _flux_engine(release, options)
            files["engine/helmrepository.yaml"] = _dump(repo)
            files["engine/helmrelease.yaml"] = _dump(helm_release)
            files["engine/kustomization.yaml"] = _dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": ["helmrepository.yaml", "helmrelease.yaml"],
                }
            )
        files["flux/kustomizations.yaml"] = _dump_all(_flux_kustomizations(release is not None, options))
        return files
    if options.mode == "argocd":
        if not options.repo_url:
            raise GitOpsError("--gitops argocd needs --repo-url: the Git repository Argo CD reads the render from")
        files["argocd/applications.yaml"] = _dump_all(_argocd_applications(intent, release, options))
        return files
    raise GitOpsError(f"unknown --gitops {options.mode!r}; expected kustomize, flux or argocd")


# --------------------------------------------------------------------------- Flux


def _flux_engine(release: Mapping[str, Any], options: GitOpsOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    name = release["name"]
    repository = {
        "apiVersion": FLUX_SOURCE_API,
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": options.source_namespace},
        "spec": {"url": release["repository_opts"]["repo"], "interval": "1h"},
    }
    remediation = {"retries": 3}
    helm_release = {
        "apiVersion": FLUX_HELM_API,
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": options.source_namespace},
        "spec": {
            "interval": options.interval,
            "releaseName": release["name"],
            "targetNamespace": release["namespace"],
            "storageNamespace": release["namespace"],
            "chart": {
                "spec": {
                    "chart": release["chart"],
                    "version": release["version"],
                    "sourceRef": {"kind": "HelmRepository", "name": name, "namespace": options.source_namespace},
                    "interval": "1h",
                }
            },
            "install": {"createNamespace": True, "crds": "CreateReplace", "remediation": remediation},
            "upgrade": {"crds": "CreateReplace", "remediation": {**remediation, "remediateLastFailure": True}},
            "timeout": f"{int(release['timeout'])}s",
            "values": release["values"],
        },
    }
    return repository, helm_release


def _flux_kustomizations(with_engine: bool, options: GitOpsOptions) -> list[dict[str, Any]]:
    source = {"kind": "GitRepository", "name": options.source_name, "namespace": options.source_namespace}

    def kustomization(part: str, path: str, depends: list[str], wait: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "interval": options.interval,
            "path": path,
            "prune": True,
            "sourceRef": dict(source),
            "wait": wait,
            "timeout": "10m",
        }
        if depends:
            spec["dependsOn"] = [{"name": f"{_PREFIX}-{d}"} for d in depends]
        return {
            "apiVersion": FLUX_KUSTOMIZE_API,
            "kind": "Kustomization",
            "metadata": {"name": f"{_PREFIX}-{part}", "namespace": options.source_namespace},
            "spec": spec,
        }

    out = [kustomization("baseline", options.path(), [], wait=False)]
    if with_engine:
        out.append(kustomization("engine", options.path("engine"), [], wait=True))
    out.append(kustomization("policies", options.path("policies"), ["engine"] if with_engine else [], wait=False))
    return out


# --------------------------------------------------------------------------- Argo CD


def _argocd_applications(
    intent: Intent, release: Mapping[str, Any] | None, options: GitOpsOptions
) -> list[dict[str, Any]]:
    sync = {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
    }

    def application(part: str, wave: int, source: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        destination: dict[str, Any] = {"server": "https://kubernetes.default.svc"}
        if namespace:
            destination["namespace"] = namespace
        return {
            "apiVersion": ARGOCD_API,
            "kind": "Application",
            "metadata": {
                "name": f"{_PREFIX}-{intent.cluster.name}-{part}",
                "namespace": options.argocd_namespace,
                "annotations": {_SYNC_WAVE: str(wave)},
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            },
            "spec": {"project": "default", "source": source, "destination": destination, "syncPolicy": sync},
        }

    git = {"repoURL": options.repo_url, "targetRevision": options.revision}
    out = []
    if release is not None:
        chart = {
            "repoURL": release["repository_opts"]["repo"],
            "chart": release["chart"],
            "targetRevision": release["version"],
            "helm": {"releaseName": release["name"], "valuesObject": release["values"]},
        }
        out.append(application("engine", 0, chart, release["namespace"]))
    out.append(application("baseline", 1, {**git, "path": options.path()}, None))
    out.append(application("policies", 2, {**git, "path": options.path("policies")}, None))
    return out


# --------------------------------------------------------------------------- the note


def notes(intent: Intent, engine: str, options: GitOpsOptions) -> str:
    """``NOTES.md``: what was written and how it installs, in order. Starts with render's marker."""
    from baseline.render.manifests import GENERATED_MARKER

    release = _release(intent, engine)
    lines = [GENERATED_MARKER, "", f"# In-cluster baseline of {intent.cluster.name} ({engine}, {options.mode})", ""]
    lines += ["- `kustomization.yaml`: the baseline's namespaces, network policies, quotas, service accounts."]
    lines += ["- `policies/`: the admission objects, a kustomization of their own.", ""]
    if options.mode == "kustomize":
        if release is None:
            lines += ["The admission engine is the API server (ValidatingAdmissionPolicy): `kubectl apply -k .`",
                      "applies the baseline and its policies together."]
        else:
            lines += [
                f"The admission engine, {engine}, is not installed by this directory (no Helm inflation):",
                "install it first, from its pinned chart and the values in `engine/values.yaml`:",
                "",
                "```sh",
                f"helm upgrade --install {release['name']} {release['chart']} \\",
                f"    --repo {release['repository_opts']['repo']} \\",
                f"    --version {release['version']} --namespace {release['namespace']} --create-namespace \\",
                "    --values engine/values.yaml --atomic --wait",
                "kubectl apply -k .            # the baseline",
                "kubectl apply -k policies/    # once the engine serves its CRDs and webhook",
                "```",
            ]
    elif options.mode == "flux":
        lines += [
            "- `engine/`: the engine's HelmRelease and HelmRepository." if release else "",
            "- `flux/kustomizations.yaml`: Flux Kustomizations; the policies depend on the engine.",
            "",
            f"Add `{options.path('flux')}` to the cluster's Flux sync",
            "(or `kubectl apply -f flux/kustomizations.yaml`); the Kustomizations read GitRepository",
            f"{options.source_namespace}/{options.source_name} at the paths below",
            f"`{options.path()}`.",
        ]
    else:
        lines += [
            "- `argocd/applications.yaml`: Applications ordered by sync wave (engine 0, baseline 1, policies 2).",
            "",
            f"Point an app of apps at `{options.path('argocd')}` in {options.repo_url}. Argo CD waits for a",
            "child Application's health only when `argocd-cm` has the Application health check",
            "(`resource.customizations.health.argoproj.io_Application`); without it the waves order the",
            "creation, and the policies' sync retries until the engine's kinds exist.",
        ]
    return "\n".join(line for line in lines) + "\n"
