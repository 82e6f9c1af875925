"""``fleet-baseline pack build --out DIR``: a self-contained CrossGuard pack for ``pulumi policy publish``."""

from __future__ import annotations

import argparse
from typing import TextIO

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Command

__all__ = ["COMMAND", "configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="pack_command", metavar="ACTION", required=True, parser_class=type(p))
    build = sub.add_parser("build", help="write a pack that ships the fleet-baseline wheel inside it")
    build.add_argument("--out", required=True, metavar="DIR", help="the pack directory (new or empty)")
    build.add_argument(
        "--wheel",
        metavar="FILE",
        help="the fleet-baseline wheel to ship (default: built with `python -m build` from the source tree "
        "the running package is installed from)",
    )


def _source_tree() -> str | None:
    """The project directory of an editable or in-tree install (its pyproject.toml names fleet-baseline)."""
    from pathlib import Path

    import baseline

    root = Path(baseline.__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "fleet-baseline"' in pyproject.read_text(encoding="utf-8"):
        return str(root)
    return None


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from policy_packs.publish import PackBuildError, build_pack

    with tempfile.TemporaryDirectory(prefix="fleet-baseline-wheel-") as tmp:
        wheel = args.wheel
        if wheel is None:
            source = _source_tree()
            if source is None:
                print("error: --wheel: give the fleet-baseline wheel to ship (no source tree to build one)", file=err)
                return EXIT_BAD_INPUT
            done = subprocess.run(
                [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp, source],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                print(f"error: building the wheel failed:\n{done.stderr[-3000:]}", file=err)
                return EXIT_FAILED
            wheel = str(next(Path(tmp).glob("fleet_baseline-*.whl")))
        try:
            written = build_pack(args.out, wheel)
        except PackBuildError as exc:
            print(f"error: {exc}", file=err)
            return EXIT_BAD_INPUT
    for path in written:
        print(f"wrote {path}", file=out)
    print(f"\nnext: pulumi policy publish {args.out}   (or pulumi preview --policy-pack {args.out})", file=out)
    return EXIT_OK


COMMAND = Command(
    "pack", "build a self-contained CrossGuard pack (pack build --out DIR) for publishing", configure, run
)
