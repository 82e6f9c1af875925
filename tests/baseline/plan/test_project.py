"""Where ``plan`` finds a stack's files, its program and its pack: the project in the working directory
(``Pulumi.yaml``), ``--stacks-dir`` alone, or the installed package; ``intentFile`` always against the
stack config directory, in the program as in the pack."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from baseline.cli import main
from baseline.plan.run import default_program, default_stacks_dir, installed_pack_dir
from tests.conftest import REPO_ROOT, STACKS_DIR


@pytest.fixture
def in_dir(tmp_path: Path) -> Iterator[Path]:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def test_the_project_file_decides_stacks_and_program(tmp_path: Path) -> None:
    assert default_stacks_dir(REPO_ROOT) == REPO_ROOT / "stacks"  # stackConfigDir: stacks
    assert default_program(REPO_ROOT, REPO_ROOT / "stacks") == REPO_ROOT / "stacks/"  # main: stacks/
    (tmp_path / "Pulumi.yaml").write_text("name: acme\nruntime: python\n")
    assert default_stacks_dir(tmp_path) == tmp_path and default_program(tmp_path, tmp_path) == tmp_path
    bare = tmp_path / "bare"
    bare.mkdir()
    assert default_stacks_dir(bare) == bare / "stacks"
    # stack files alone: the package's own program, no copy of stacks/__main__.py needed
    assert (default_program(bare, bare / "stacks") / "__main__.py").read_text().endswith("run(__file__)\n")
    assert (installed_pack_dir() / "PulumiPolicy.yaml").is_file()


@pytest.mark.slow
def test_stacks_elsewhere_resolve_intent_file_against_stacks_dir(in_dir: Path) -> None:
    mine = in_dir / "mystacks"
    (mine / "intents").mkdir(parents=True)
    shutil.copy(STACKS_DIR / "intents" / "prod.yaml", mine / "intents" / "mine.yaml")  # only here, not in stacks/
    text = (STACKS_DIR / "Pulumi.eks-prod.yaml").read_text().replace("intents/prod.yaml", "intents/mine.yaml")
    (mine / "Pulumi.mine.yaml").write_text(text)
    for program in ([], ["--program", str(STACKS_DIR)]):  # the package's program, and the repository's
        out, err = io.StringIO(), io.StringIO()
        code = main(["plan", "--stack", "mine", "--stacks-dir", "mystacks", *program], out=out, err=err)
        assert code == 0, err.getvalue()
        assert "OK: no mandatory violations" in out.getvalue()
