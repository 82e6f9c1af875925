"""``fleet-baseline controls``: the catalog, each control's mode and where each target is enforced."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    pass

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command, add_stack_option, stack_intent

__all__ = ["COMMAND", "configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="controls_command", metavar="ACTION", parser_class=type(p))
    validate = sub.add_parser(
        "validate", help="check a directory of custom controls: format, ids, compile, and run its examples"
    )
    validate.add_argument("directory", metavar="DIR", help="a directory of <ID>/control.yaml (ids X-<NAME>-NN)")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--json", action="store_true", help="print the catalog as JSON")
    p.add_argument(
        "--matrix", action="store_true", help="print the control x cloud table (Markdown) of docs/controls.md"
    )
    add_stack_option(p, required=False, what="each control's mode (its wave, its overrides)")


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.custom import check_custom_controls

    result = check_custom_controls(args.directory)
    if args.json:
        json.dump(
            {
                "directory": result.directory,
                "controls": result.controls,
                "examples": result.examples,
                "problems": result.problems,
                "ok": result.ok,
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for problem in result.problems:
            print(f"error: {problem}", file=err)
        if result.ok:
            print(f"ok: {', '.join(result.controls)}: {result.examples} examples judged as their folders say", file=out)
    return EXIT_OK if result.ok else EXIT_BAD_INPUT


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError, intent_catalog
    from baseline.loader import IntentError
    from baseline.render.listing import control_rows, format_controls

    if getattr(args, "controls_command", None) == "validate":
        return _validate(args, out, err)
    try:
        intent = stack_intent(args)
        catalog = intent_catalog(intent)
    except (IntentError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    if args.matrix:
        from baseline.render.listing import format_matrix_markdown

        out.write(format_matrix_markdown(catalog))
    elif args.json:
        json.dump(control_rows(catalog, intent), out, indent=2)
        out.write("\n")
    else:
        out.write(format_controls(catalog, intent) + "\n")
    return EXIT_OK


COMMAND = Command(
    "controls",
    "list the catalog: each control's severity, mode, references, and where each target is enforced",
    configure,
    run,
)
