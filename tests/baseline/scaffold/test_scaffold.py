"""``fleet-baseline init``: a project of the user's own, previewed by ``plan`` from its own directory with the
program and pack of the installed package."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from baseline import __version__
from baseline.cli import main
from baseline.loader import intent_from_config, read_stack_config
from baseline.scaffold import ScaffoldError, project_files, scaffold
from tests.conftest import REPO_ROOT


def _init(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["init", str(tmp_path / "acme"), *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_init_writes_a_pulumi_project_whose_every_stack_has_a_valid_intent(tmp_path: Path) -> None:
    code, out, _ = _init(tmp_path, "--cloud", "eks,gke,aks")
    assert code == 0
    root = tmp_path / "acme"
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    assert project["name"] == "acme" and project["runtime"]["name"] == "python"
    assert project["stackConfigDir"] == "stacks"
    program = (root / "__main__.py").read_text().splitlines()
    assert len(program) == 3 and program[1:] == ["from providers.program import run", "run(__file__)"]
    assert (root / "requirements.txt").read_text() == f"fleet-baseline[aws,gcp,azure]=={__version__}\n"
    assert (root / "policy" / "requirements.txt").read_text() == f"fleet-baseline=={__version__}\n"
    assert "virtualenv" not in (root / "policy" / "PulumiPolicy.yaml").read_text()
    assert json.loads((root / "intent.schema.json").read_text())["title"] == "fleet-baseline intent"
    intent_text = (root / "stacks" / "intents" / "baseline.yaml").read_text()
    assert sum(line.lstrip().startswith("#") for line in intent_text.splitlines()) >= 15  # commented
    for cloud in ("eks", "gke", "aks"):
        stack = root / "stacks" / f"Pulumi.{cloud}-dev.yaml"
        intent = intent_from_config(read_stack_config(stack), base_dir=root / "stacks")
        assert intent.cluster.cloud == cloud and intent.cluster.name == f"acme-{cloud}-dev"
    assert "fleet-baseline plan --stack eks-dev" in out


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "acme" / "stacks").mkdir(parents=True)
    (tmp_path / "acme" / "stacks" / "Pulumi.eks-dev.yaml").write_text("mine\n")
    code, _, err = _init(tmp_path)
    assert code == 2 and "would overwrite" in err and "Pulumi.eks-dev.yaml" in err
    assert sorted(p.name for p in (tmp_path / "acme").rglob("*")) == ["Pulumi.eks-dev.yaml", "stacks"]
    with pytest.raises(ScaffoldError, match="--cloud: ecs is not one of eks, gke, aks"):
        project_files(tmp_path, ["ecs"], "1.0.0")
    with pytest.raises(ScaffoldError, match="not a directory"):
        (tmp_path / "file").write_text("")
        scaffold(tmp_path / "file", ["eks"], "1.0.0")


@pytest.mark.slow
@pytest.mark.parametrize("cloud", ["eks", "gke", "aks"])
def test_plan_previews_the_scaffolded_stack_from_its_own_directory(tmp_path: Path, cloud: str) -> None:
    assert _init(tmp_path, "--cloud", cloud)[0] == 0
    root = tmp_path / "acme"
    # the pack and program come from the installed package: nothing of this repository is on the path
    # but the package itself, and the project directory holds no copy of either
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fleet-baseline"), "plan", "--stack", f"{cloud}-dev", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["blocked"] is False
    assert result["pack"]["name"] == "fleet-baseline" and result["pack"]["policies"] > 30
    types = {r["type"] for r in result["resources"]}
    assert f"fleet-baseline:{cloud}:Cluster" in types
    assert not (root / "policy_packs").exists() and REPO_ROOT not in root.parents
