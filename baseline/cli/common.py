"""What every command shares: the exit codes, the Command record, the --stack option."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
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
    "write_chunks",
    "write_report",
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


# --------------------------------------------------------------------------- --output


def write_report(path: str, chunks: Iterable[str]) -> str | None:
    """Write a report to ``path``; the reason it could not be written, or None.

    A regular file (or a new one) is replaced atomically: the report is written to a temporary file
    beside it and renamed over it, so a reader never sees half a report, and the old file keeps its
    permission bits. Anything else is written through and stays what it was: a character device
    (``/dev/null``, ``/dev/stdout``), a FIFO, a socket; a symlink is followed, and its target is
    written as above (the link stays a link). Renaming over ``/dev/null`` as root would replace the
    machine's null device with a file.
    """
    import contextlib
    import os
    import stat
    import tempfile

    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(target, "w", encoding="utf-8") as fh:
                write_chunks(fh, chunks)
        except OSError as exc:
            return f"cannot write {path}: {exc.strerror or exc}"
        return None
    directory = os.path.dirname(os.path.abspath(target))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".partial", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write_chunks(fh, chunks)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:  # a new file gets what open() would give it (mkstemp makes it private)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return f"cannot write {path}: {exc.strerror or exc}"
    return None


def write_chunks(fh: TextIO, chunks: Iterable[str]) -> None:
    """A report, piece by piece (a large JSON report is never one string), ending with a newline."""
    last = ""
    for chunk in chunks:
        if chunk:
            fh.write(chunk)
            last = chunk
    if not last.endswith("\n"):
        fh.write("\n")
