"""What every command shares: the exit codes, the Command record, the --stack option."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from baseline.intent import Intent


__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BLOCKED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "Command",
]

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_BAD_INPUT = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, TextIO, TextIO], int]


# --------------------------------------------------------------------------- controls


def add_stack_option(p: argparse.ArgumentParser, required: bool, what: str) -> None:
    help_text = f"stack whose intent sets {what} (STACKS_DIR/Pulumi.NAME.yaml)"
    p.add_argument("--stack", required=required, metavar="NAME", help=help_text)
    p.add_argument("--stacks-dir", default="stacks", metavar="DIR", help="stack config directory (default: stacks)")


def stack_intent(args: argparse.Namespace) -> Intent | None:
    from pathlib import Path

    from baseline.loader import intent_from_config, read_stack_config

    if not args.stack:
        return None
    stacks_dir = Path(args.stacks_dir)
    return intent_from_config(
        read_stack_config(stacks_dir / f"Pulumi.{args.stack}.yaml"),
        base_dir=stacks_dir,
        source=f"stack {args.stack}",
    )
