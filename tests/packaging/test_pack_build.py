"""``fleet-baseline pack build``: a pack that installs from its own directory alone, tested as the Pulumi CLI
uses it: a fresh virtual environment made from the pack's own requirements (``runtime.options.virtualenv``
inside the pack), the pack started as the engine starts it, handshake and ``Analyze`` over gRPC."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import yaml

from baseline.catalog import load_catalog
from baseline.cli import main
from baseline.plan import (
    AnalyzerResource,
    PackProcess,
    engine_config,
    read_stack_file,
    reconcile_policy_config,
)
from tests.conftest import REPO_ROOT, STACKS_DIR
from tests.packaging.conftest import Dist, lock_constraints, make_env

pytestmark = pytest.mark.slow

CATALOG = load_catalog()


def test_the_built_pack_installs_from_its_own_requirements_and_judges_over_grpc(dist: Dist, tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    out = io.StringIO()
    assert main(["pack", "build", "--out", str(pack), "--wheel", str(dist.wheel)], out=out, err=io.StringIO()) == 0
    assert (pack / "wheels" / dist.wheel.name).read_bytes() == dist.wheel.read_bytes()

    # nothing in the pack points outside it: no editable install, no path to this machine's environment
    project = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    venv = project["runtime"]["options"]["virtualenv"]
    assert not os.path.isabs(venv) and ".." not in Path(venv).parts
    requirements = [
        line for line in (pack / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert requirements == [f"./wheels/{dist.wheel.name}"]

    # the environment the CLI would make: PulumiPolicy.yaml's virtualenv, from requirements.txt, pip in the pack
    make_env(pack / venv, "-r", str(pack / "requirements.txt"), constraints=lock_constraints(tmp_path), cwd=pack)
    stack_config = engine_config(read_stack_file(STACKS_DIR / "Pulumi.eks-prod.yaml"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FLEET_BASELINE_STACKS_DIR"] = str(STACKS_DIR)
    with PackProcess(pack, project="fleet-baseline", stack="prod", dry_run=True, config=stack_config, env=env) as proc:
        assert Path(proc.python).resolve() == (pack / venv / "bin" / "python").resolve()  # the pack's own
        proc.handshake()  # the engine's first call (pulumi-policy's packs answer UNIMPLEMENTED; the engine goes on)
        proc.configure_stack(stack_config)
        info = proc.get_analyzer_info()
        assert info.name == "fleet-baseline" and info.version == dist.wheel.name.split("-")[1]
        assert {p.name for p in info.policies} >= {c.policy_name for c in CATALOG if c.applicable_targets()}
        proc.configure(reconcile_policy_config(info))
        cluster = {
            "name": "prod-eu-1",
            "roleArn": "arn:aws:iam::111122223333:role/eks-cluster",
            "encryptionConfig": None,
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
            "vpcConfig": {"endpointPrivateAccess": False, "endpointPublicAccess": True, "subnetIds": ["subnet-1"]},
            "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
            "tags": {"fleet-baseline.io/baseline-version": "1.0.0"},
            "upgradePolicy": {"supportType": "STANDARD"},
        }
        urn = "urn:pulumi:prod::fleet-baseline::aws:eks/cluster:Cluster::prod-eu-1"
        diags = proc.analyze(
            AnalyzerResource(urn=urn, type="aws:eks/cluster:Cluster", name="prod-eu-1", properties=cluster)
        )
    assert {d.policy for d in diags} == {CATALOG["CL-01"].policy_name, CATALOG["CL-03"].policy_name}
    assert all(d.enforcement_level == "mandatory" for d in diags)
    assert REPO_ROOT not in pack.parents


def test_pack_build_refuses_a_non_empty_directory_and_a_foreign_wheel(dist: Dist, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    err = io.StringIO()
    args = ["pack", "build", "--out", str(tmp_path / "busy"), "--wheel", str(dist.wheel)]
    assert main(args, out=io.StringIO(), err=err) == 2
    assert "not an empty directory" in err.getvalue()
    err = io.StringIO()
    args = ["pack", "build", "--out", str(tmp_path / "new"), "--wheel", str(dist.sdist)]
    assert main(args, out=io.StringIO(), err=err) == 2
    assert "not a fleet-baseline wheel" in err.getvalue()
