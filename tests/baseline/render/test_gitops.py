"""``render --gitops``: the output installs as written with kubectl apply -k, Flux or Argo CD.

Flux and Argo CD objects are validated strictly against their upstream CRDs (the shared test data,
as ``tests/providers/crd_validation.py`` reads it); ordering is checked on the objects themselves
(Flux ``dependsOn``, Argo CD sync waves); the default output is resolved the way ``kubectl apply -k``
resolves it, with no Helm inflation.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from baseline.cli import main
from baseline.loader import intent_from_config, read_stack_config
from baseline.render.gitops import GitOpsError, GitOpsOptions
from baseline.render.manifests import render_files, write_files
from providers.engines import engine_release_args
from providers.incluster import incluster_manifests
from tests.providers.crd_validation import CrdIndex, crd_index

ROOT = Path(__file__).resolve().parents[3]
STACKS = ROOT / "stacks"
TODAY = dt.date(2026, 11, 22)
ENGINES = ("vap", "kyverno", "gatekeeper")
REPO = "https://github.com/acme/fleet.git"


@pytest.fixture(scope="module")
def intent() -> Any:
    return intent_from_config(read_stack_config(STACKS / "Pulumi.eks-prod.yaml"), base_dir=STACKS)


@pytest.fixture(scope="module")
def crds() -> CrdIndex:
    return crd_index()


def _objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _apply_k(files: dict[str, str], directory: str = "") -> list[dict[str, Any]]:
    """What ``kubectl apply -k DIR`` sends: the kustomization's resources, directories recursed.

    Refuses what kubectl refuses without flags (helmCharts) and a resource that does not exist.
    """
    prefix = f"{directory}/" if directory else ""
    kustomization = yaml.safe_load(files[f"{prefix}kustomization.yaml"])
    assert set(kustomization) == {"apiVersion", "kind", "resources"}, "plain kustomize only"
    out: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = f"{prefix}{resource}"
        if f"{path}/kustomization.yaml" in files:
            out += _apply_k(files, path)
        else:
            assert path in files, f"{path} is listed but not written"
            out += _objects(files[path])
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_default_output_applies_with_kubectl_apply_k(intent: Any, engine: str) -> None:
    files = render_files(intent, engine, TODAY)
    every = incluster_manifests(intent, engine, TODAY)
    top = _apply_k(files)
    policies = _apply_k(files, "policies")
    if engine == "vap":
        assert top == every  # one apply: the API server is the engine
    else:
        assert top + policies == every  # the baseline, then (once the engine is ready) its policies
        assert not any(m["apiVersion"].startswith(("policies.", "templates.", "constraints.")) for m in top)
    assert not any("helmCharts" in text for text in files.values())


@pytest.mark.parametrize("engine", ENGINES)
def test_flux_output_validates_and_orders_the_policies_after_the_engine(intent: Any, engine: str,
                                                                       crds: CrdIndex) -> None:
    options = GitOpsOptions(mode="flux", repo_path="./clusters/prod-eu-1")
    files = render_files(intent, engine, TODAY, gitops=options)
    flux = [o for name, text in files.items() if name.startswith(("flux/", "engine/helm")) for o in _objects(text)]
    for obj in flux:
        crds.validate(obj)
    kustomizations = {o["metadata"]["name"]: o["spec"] for o in flux if o["kind"] == "Kustomization"}
    assert kustomizations["fleet-baseline-baseline"]["path"] == "./clusters/prod-eu-1"
    assert kustomizations["fleet-baseline-policies"]["path"] == "./clusters/prod-eu-1/policies"
    release = engine_release_args(intent, engine)
    if release is None:
        assert "fleet-baseline-engine" not in kustomizations
        assert "dependsOn" not in kustomizations["fleet-baseline-policies"]
        return
    engine_kustomization = kustomizations["fleet-baseline-engine"]
    assert engine_kustomization["path"] == "./clusters/prod-eu-1/engine" and engine_kustomization["wait"] is True
    assert kustomizations["fleet-baseline-policies"]["dependsOn"] == [{"name": "fleet-baseline-engine"}]
    helm_release = next(o for o in flux if o["kind"] == "HelmRelease")
    repository = next(o for o in flux if o["kind"] == "HelmRepository")
    assert helm_release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert repository["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    chart = helm_release["spec"]["chart"]["spec"]
    assert (chart["chart"], chart["version"]) == (release["chart"], release["version"])
    assert chart["sourceRef"] == {"kind": "HelmRepository", "name": repository["metadata"]["name"],
                                  "namespace": repository["metadata"]["namespace"]}
    assert repository["spec"]["url"] == release["repository_opts"]["repo"]
    assert helm_release["spec"]["values"] == release["values"]
    assert helm_release["spec"]["targetNamespace"] == release["namespace"]
    # the engine directory is itself plain kustomize (what the engine Kustomization applies)
    assert [o["kind"] for o in _apply_k(files, "engine")] == ["HelmRepository", "HelmRelease"]


def test_flux_validation_is_not_vacuous(intent: Any, crds: CrdIndex) -> None:
    files = render_files(intent, "kyverno", TODAY, gitops=GitOpsOptions(mode="flux"))
    helm_release = _objects(files["engine/helmrelease.yaml"])[0]
    helm_release["spec"]["chart"]["spec"]["chartName"] = "kyverno"
    with pytest.raises(Exception, match="chartName"):
        crds.validate(helm_release)


@pytest.mark.parametrize("engine", ENGINES)
def test_argocd_output_validates_and_is_ordered_by_sync_waves(intent: Any, engine: str, crds: CrdIndex) -> None:
    options = GitOpsOptions(mode="argocd", repo_path="clusters/prod-eu-1", repo_url=REPO, revision="main")
    files = render_files(intent, engine, TODAY, gitops=options)
    apps = _objects(files["argocd/applications.yaml"])
    for app in apps:
        crds.validate(app)
    waves = {a["metadata"]["name"].rsplit("-", 1)[-1]: int(a["metadata"]["annotations"][
        "argocd.argoproj.io/sync-wave"]) for a in apps}
    release = engine_release_args(intent, engine)
    if release is not None:
        assert waves["engine"] < waves["baseline"] < waves["policies"]
        chart = next(a for a in apps if a["metadata"]["name"].endswith("-engine"))["spec"]["source"]
        assert (chart["repoURL"], chart["chart"], chart["targetRevision"]) == (
            release["repository_opts"]["repo"], release["chart"], release["version"])
        assert chart["helm"]["valuesObject"] == release["values"]
    else:
        assert set(waves) == {"baseline", "policies"} and waves["baseline"] < waves["policies"]
    paths = {a["metadata"]["name"].rsplit("-", 1)[-1]: a["spec"]["source"].get("path") for a in apps}
    assert paths["baseline"] == "./clusters/prod-eu-1" and paths["policies"] == "./clusters/prod-eu-1/policies"


def test_argocd_needs_a_repository(intent: Any) -> None:
    with pytest.raises(GitOpsError, match="--repo-url"):
        render_files(intent, "kyverno", TODAY, gitops=GitOpsOptions(mode="argocd"))


def test_cli_render_gitops(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["render", "--stack", "eks-prod", "--out", str(tmp_path / "f"), "--engine", "kyverno",
                 "--gitops", "flux", "--repo-path", "./clusters/prod"], out=out, err=err)
    assert code == 0, err.getvalue()
    assert (tmp_path / "f" / "flux" / "kustomizations.yaml").exists()
    assert (tmp_path / "f" / "policies" / "kustomization.yaml").exists()
    assert "./clusters/prod/policies" in (tmp_path / "f" / "flux" / "kustomizations.yaml").read_text()
    code = main(["render", "--stack", "eks-prod", "--out", str(tmp_path / "a"), "--gitops", "argocd"],
                out=out, err=err)
    assert code == 2 and "--repo-url" in err.getvalue()
    # switching modes in place removes what the other mode wrote (it is render's own)
    code = main(["render", "--stack", "eks-prod", "--out", str(tmp_path / "f"), "--engine", "kyverno"],
                out=out, err=err)
    assert code == 0 and not (tmp_path / "f" / "flux").exists()
    _, removed = write_files(render_files(intent_from_config(read_stack_config(STACKS / "Pulumi.eks-prod.yaml"),
                                                                   base_dir=STACKS), "kyverno"), tmp_path / "f")
    assert removed == []
