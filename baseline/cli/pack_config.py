"""``fleet-baseline pack-config``: a --policy-pack-config for a stack in its rollout wave."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    pass

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command, add_stack_option, stack_intent

__all__ = ["COMMAND", "configure", "run"]

# --------------------------------------------------------------------------- pack-config


def configure(p: argparse.ArgumentParser) -> None:
    add_stack_option(p, required=True, what="the modes")
    p.add_argument("--wave", choices=("canary", "early", "broad"), help="rollout wave (default: the intent's)")
    p.add_argument("--out", metavar="FILE", help="write the JSON here (default: stdout)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError
    from baseline.loader import IntentError
    from policy_packs.factory import policy_pack_config

    try:
        intent = stack_intent(args)
    except (IntentError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    assert intent is not None  # --stack is required
    text = json.dumps(policy_pack_config(intent, wave=args.wave), indent=2, sort_keys=True) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        out.write(text)
    return EXIT_OK


COMMAND = Command(
    "pack-config",
    "write a --policy-pack-config for a stack in a rollout wave (each policy's level = the wave's mode)",
    configure,
    run,
)
