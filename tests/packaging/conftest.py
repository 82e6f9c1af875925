"""One built distribution and one clean virtual environment, shared by the packaging tests.

``dist``: ``python -m build`` of this tree (sdist, then the wheel built from that sdist), once per session.
``aws_env``: a new virtual environment in a temporary directory with ``<wheel>[aws]`` installed in it, as a
team that runs only EKS would install it. Versions are constrained to the lock's pins (so pip's cache
serves them and the result does not move with new releases); the package index is the one pip is
configured with. Byte-compilation is skipped: it would double the install time and test nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LOCK = REPO_ROOT / "requirements" / "dev.txt"


def run(
    cmd: list[str], *, cwd: Path | None = None, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        shown = " ".join(map(str, cmd))
        raise AssertionError(f"{shown} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Env:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def installed(self) -> dict[str, str]:
        """Distribution name (normalised) -> version of everything installed in this environment."""
        listing = run([sys.executable, "-m", "pip", "--python", str(self.python), "list", "--format=freeze"]).stdout
        pairs = (line.split("==", 1) for line in listing.splitlines() if "==" in line)
        return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pairs}


def lock_constraints(directory: Path) -> Path:
    """The lock's pins without their hashes: a constraints file (hashes would switch pip to hash mode)."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    pins = [m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.\-]+==\S+)", text, re.MULTILINE)]
    path = directory / "constraints.txt"
    path.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return path


def make_env(root: Path, *requirements: str, constraints: Path | None = None, cwd: Path | None = None) -> Env:
    """A new virtual environment at ``root`` with ``requirements`` installed by pip (this interpreter's,
    pointed at the new one with ``--python``), run in ``cwd``."""
    run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    env = Env(root)
    cmd = [sys.executable, "-m", "pip", "--python", str(env.python), "install", "--quiet", "--no-compile"]
    if constraints is not None:
        cmd += ["--constraint", str(constraints)]
    run([*cmd, *requirements], timeout=900, cwd=cwd)
    return env


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the locked setuptools of this environment builds it (no download, the pinned backend)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO_ROOT)])
    (wheel,) = out.glob("fleet_baseline-*-py3-none-any.whl")
    (sdist,) = out.glob("fleet_baseline-*.tar.gz")
    return Dist(wheel, sdist)


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory, dist: Dist) -> Env:
    root = tmp_path_factory.mktemp("aws-env")
    return make_env(root / "venv", f"{dist.wheel}[aws]", constraints=lock_constraints(root))
