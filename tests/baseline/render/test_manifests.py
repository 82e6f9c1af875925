"""``fleet-baseline render``: the component's objects as YAML, valid, stable, and safe to re-run."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from packaging.version import Version

from baseline.cli import main
from baseline.loader import intent_from_config, read_stack_config
from baseline.render.manifests import GENERATED_MARKER, RenderError, eks_irsa_annotations, render_files, write_files
from providers.incluster import incluster_manifests
from tests.providers.crd_validation import crd_index

ROOT = Path(__file__).resolve().parents[3]
STACKS = ROOT / "stacks"
TODAY = dt.date(2026, 11, 22)
ENGINES = ("vap", "kyverno", "gatekeeper")


@pytest.fixture(scope="module")
def intent() -> Any:
    return intent_from_config(read_stack_config(STACKS / "Pulumi.eks-prod.yaml"), base_dir=STACKS)


def _docs(files: dict[str, str]) -> dict[str, Any]:
    """The object files (NOTES.md, kustomizations and engine values left out), one document each."""
    return {name: yaml.safe_load(text) for name, text in files.items()
            if name.endswith(".yaml") and "kustomization" not in name.rsplit("/", 1)[-1]
            and not name.startswith(("engine/", "flux/", "argocd/"))}


def _k8s_versions() -> list[str]:
    minors = {".".join(v.split(".")[:2]) for v in all_versions()}
    return sorted((v for v in minors if Version(v) >= Version("1.30")), key=Version)


@pytest.mark.parametrize("engine", ENGINES)
def test_render_is_the_components_object_list(intent: Any, engine: str) -> None:
    files = render_files(intent, engine, TODAY)
    objects = list(_docs(files).values())
    assert sorted(map(repr, objects)) == sorted(map(repr, incluster_manifests(intent, engine, TODAY)))
    baseline = [n for n in _docs(files) if "/" not in n]
    policies = [n.split("/", 1)[1] for n in _docs(files) if n.startswith("policies/")]
    assert [d for n, d in _docs(files).items() if "/" not in n] + [d for n, d in _docs(files).items()
                                                                   if n.startswith("policies/")] == \
        incluster_manifests(intent, engine, TODAY)  # each kustomization in registration order
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    # kubectl apply -k installs it as written: no Helm inflation, anywhere
    assert kustomization["resources"] == baseline + (["policies"] if engine == "vap" else [])
    assert yaml.safe_load(files["policies/kustomization.yaml"])["resources"] == policies
    assert all(text.startswith(GENERATED_MARKER + "\n") for text in files.values())
    assert not any("helmCharts" in text for text in files.values())
    assert ("engine/values.yaml" in files) == (engine != "vap")
    if engine != "vap":
        note = files["NOTES.md"]
        assert "helm upgrade --install" in note and ("3.9.0" in note or "3.23.0" in note)
        assert "kubectl apply -k policies/" in note


def test_rendered_objects_validate_strictly(intent: Any) -> None:
    crds = crd_index()
    every = _k8s_versions()
    versions = [every[0], every[-1]]  # test_admission walks every version for the admission objects
    for engine in ENGINES:
        for doc in _docs(render_files(intent, engine, TODAY)).values():
            group = doc["apiVersion"].rpartition("/")[0]
            if group in {"policies.kyverno.io", "templates.gatekeeper.sh"}:
                crds.validate(doc)
            elif group == "constraints.gatekeeper.sh":
                continue  # Gatekeeper generates this kind per template; test_admission checks its shape
            else:
                for version in versions:
                    kubernetes_validate.validate(doc, version, strict=True)


def test_second_run_writes_identical_bytes_and_removes_what_went_away(intent: Any, tmp_path: Path) -> None:
    files = render_files(intent, "kyverno", TODAY)
    write_files(files, tmp_path)
    first = {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    _, removed = write_files(render_files(intent, "kyverno", TODAY), tmp_path)
    assert removed == [] and {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == first
    # the intent's exception expires: its PolicyException file is removed on the next render
    later = TODAY.replace(year=2028)
    _, removed = write_files(render_files(intent, "kyverno", later), tmp_path)
    assert removed and all("policyexception" in name for name in removed)


def test_refuses_to_write_beside_files_it_did_not_write(intent: Any, tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(RenderError, match="was not written by fleet-baseline render"):
        write_files(render_files(intent, "vap", TODAY), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["app.yaml"]


def test_irsa_annotations_match_the_eks_component(intent: Any) -> None:
    annotations = eks_irsa_annotations(intent, "111122223333")
    assert annotations == {
        ("shop", "orders"): {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/prod-eu-1-eu-west-1-wi-shop-orders"
        }
    }
    files = _docs(render_files(intent, "vap", TODAY, annotations))
    sa = files["shop_serviceaccount_orders.yaml"]  # a baseline object: at the top
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/prod-eu-1-eu-west-1-wi-shop-orders"
    )


def test_cli_render(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["render", "--stack", "eks-prod", "--out", str(tmp_path / "m"), "--engine", "gatekeeper"],
        out=out,
        err=err,
    )
    assert code == 0 and "wrote" in out.getvalue()
    assert "--aws-account-id" in err.getvalue()  # IRSA accounts without annotations are called out
    assert (tmp_path / "m" / "kustomization.yaml").exists()
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.yaml").write_text("a: 1\n")
    code = main(["render", "--stack", "eks-prod", "--out", str(tmp_path / "x")], out=out, err=err)
    assert code == 2
