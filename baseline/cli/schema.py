"""``fleet-baseline schema``: the intent's JSON Schema, for editors (yaml-language-server) and CI."""

from __future__ import annotations

import argparse
from typing import TextIO

from baseline.cli.common import EXIT_OK, Command

__all__ = ["COMMAND", "configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--markdown", action="store_true", help="print the reference (docs/intent.md) instead")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from baseline.reference import intent_json_schema, intent_reference

    if args.markdown:
        out.write(intent_reference())
    else:
        json.dump(intent_json_schema(), out, indent=2)
        out.write("\n")
    return EXIT_OK


COMMAND = Command("schema", "print the intent's JSON Schema (or, with --markdown, its reference)", configure, run)
