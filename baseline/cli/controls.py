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
    p.add_argument("--json", action="store_true", help="print the catalog as JSON")
    p.add_argument(
        "--matrix", action="store_true", help="print the control x cloud table (Markdown) of docs/controls.md"
    )
    add_stack_option(p, required=False, what="each control's mode (its wave, its overrides)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError, load_catalog
    from baseline.loader import IntentError
    from baseline.render.listing import control_rows, format_controls

    try:
        catalog = load_catalog()
        intent = stack_intent(args)
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
