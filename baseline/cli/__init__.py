"""The ``fleet-baseline`` command line: a thin registry of commands.

Each command is one module of this package (``plan``, ``controls``, ``pack_config``, ``render``,
``audit``, ``fleet``, ``history``) holding its options (``configure``), its handler (``run``, returning the exit
code) and its :class:`~baseline.cli.common.Command` entry. This module only lists them and parses.
The commands are the top layer: each composes the core and the application subpackages
(``baseline.plan``, ``baseline.audit``, ``baseline.fleet``, ``baseline.render``); see
``docs/ARCHITECTURE.md``.

Exit codes (every subcommand): 0 success, 1 the stack is blocked (a mandatory violation), 2 bad input
(the message names the file and field; nothing was registered or started), 3 a run failed (the stack
program raised, or the policy pack crashed), 130 interrupted. A user error never prints a traceback;
``--debug`` shows one for failures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from baseline import __version__
from baseline.cli import audit, controls, explain, fleet, history, init, pack, pack_config, plan, render, schema
from baseline.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_BLOCKED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Command,
)

__all__ = [
    "COMMANDS",
    "EXIT_BAD_INPUT",
    "EXIT_BLOCKED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "Command",
    "build_parser",
    "main",
]

#: Every command, in the order ``--help`` lists them.
COMMANDS: tuple[Command, ...] = (
    plan.COMMAND,
    controls.COMMAND,
    explain.COMMAND,
    pack_config.COMMAND,
    render.COMMAND,
    audit.COMMAND,
    fleet.COMMAND,
    history.COMMAND,
    init.COMMAND,
    schema.COMMAND,
    pack.COMMAND,
)


# --------------------------------------------------------------------------- entry point


class _Parser(argparse.ArgumentParser):
    """An argparse parser that raises instead of exiting, so ``main`` returns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(self.format_usage() + f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fleet-baseline",
        description="A Kubernetes security baseline written once as intent, kept on every cluster.",
        epilog="exit codes: 0 ok, 1 blocked by a mandatory violation, 2 bad input, 3 run failed",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="progress on stderr, tracebacks of failures")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        # also accepted after the subcommand; SUPPRESS keeps a leading --debug from being reset
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        cmd.configure(p)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _UsageError as exc:
        print(str(exc), file=err)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(err)
        return EXIT_BAD_INPUT
    command = next(c for c in COMMANDS if c.name == args.command)
    try:
        return command.run(args, out, err)
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `fleet-baseline controls | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK

