"""A self-contained CrossGuard pack, for ``pulumi policy publish``: the pack's directory holds everything it
needs to install, with no path into the machine that built it.

``DIR/PulumiPolicy.yaml``  the pack project: Python, its virtual environment made by the CLI inside DIR
``DIR/__main__.py``        three lines calling :func:`policy_packs.entry.serve`
``DIR/requirements.txt``   the fleet-baseline wheel shipped in ``DIR/wheels/``, pinned by its file name
``DIR/wheels/<wheel>``     that wheel (the catalog, the evaluator and this package are inside it)

The CLI (``pulumi policy publish``, the Pulumi Kubernetes Operator, Deployments) installs the pack by
running pip on ``requirements.txt`` in the pack's directory, so the wheel's path is relative to it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["PackBuildError", "build_pack"]

_MAIN = '''\
"""fleet-baseline's CrossGuard pack: the engine runs ``python -u -m pulumi.policy <engine> .`` here."""
from policy_packs.entry import serve
serve(__file__)
'''

_PROJECT = """\
# fleet-baseline's CrossGuard pack, built by `fleet-baseline pack build` from fleet-baseline {version}.
# Self-contained: requirements.txt installs the wheel in wheels/; the Pulumi CLI makes the virtual
# environment below inside this directory when it installs the pack.
description: fleet-baseline {version}, the Kubernetes security baseline judged on every stack.
version: {version}
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: venv
"""


class PackBuildError(ValueError):
    """The wheel is missing or is not fleet-baseline's, or the output directory is not empty."""


def build_pack(out: str | Path, wheel: str | Path) -> list[Path]:
    """Write the pack into ``out`` (created; must be empty if it exists); returns the files written."""
    wheel_path = Path(wheel)
    if not wheel_path.is_file() or not wheel_path.name.startswith("fleet_baseline-") or wheel_path.suffix != ".whl":
        raise PackBuildError(f"{wheel_path}: not a fleet-baseline wheel (fleet_baseline-<version>-*.whl)")
    version = wheel_path.name.split("-")[1]
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise PackBuildError(f"{root}: exists and is not an empty directory")
    (root / "wheels").mkdir(parents=True, exist_ok=True)
    shipped = root / "wheels" / wheel_path.name
    shutil.copyfile(wheel_path, shipped)
    files = {
        root / "PulumiPolicy.yaml": _PROJECT.format(version=version),
        root / "__main__.py": _MAIN,
        root / "requirements.txt": (
            "# fleet-baseline, shipped in wheels/ (pip runs in this directory); its dependencies from the index\n"
            f"./wheels/{wheel_path.name}\n"
        ),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return [*files, shipped]
