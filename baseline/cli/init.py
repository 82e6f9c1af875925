"""``fleet-baseline init DIR``: scaffold a user's own Pulumi project that runs the installed package."""

from __future__ import annotations

import argparse
from typing import TextIO

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command

__all__ = ["COMMAND", "configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", metavar="DIR", help="the project directory (created if missing)")
    p.add_argument(
        "--cloud",
        default="eks",
        metavar="CLOUDS",
        help="comma-separated clouds, one stack each: eks, gke, aks (default: eks)",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json
    from pathlib import Path

    from baseline import __version__
    from baseline.reference import intent_json_schema
    from baseline.scaffold import ScaffoldError, scaffold

    clouds = [c.strip() for c in args.cloud.split(",") if c.strip()]
    try:
        written = scaffold(args.directory, clouds, __version__)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    schema = Path(args.directory) / "intent.schema.json"
    if not schema.exists():
        schema.write_text(json.dumps(intent_json_schema(), indent=2) + "\n", encoding="utf-8")
        written.append(schema)
    for path in written:
        print(f"wrote {path}", file=out)
    first = next(p.name for p in written if p.name.startswith("Pulumi.") and p.name != "Pulumi.yaml")
    stack = first.removeprefix("Pulumi.").removesuffix(".yaml")
    print(f"\nnext: cd {args.directory} && fleet-baseline plan --stack {stack}", file=out)
    return EXIT_OK


COMMAND = Command("init", "scaffold your own Pulumi project (program, stacks, intent, pack) in DIR", configure, run)
