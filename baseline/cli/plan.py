"""``fleet-baseline plan``: preview a stack offline (the program under mocks, every resource through the pack)."""

from __future__ import annotations

import argparse
import json
import traceback
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    pass

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_FAILED, EXIT_OK, Command

__all__ = ["COMMAND", "configure", "run"]

# --------------------------------------------------------------------------- plan


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, metavar="NAME", help="stack name: reads STACKS_DIR/Pulumi.NAME.yaml")
    p.add_argument("--json", action="store_true", help="print one JSON document (resources, violations, blocked)")
    p.add_argument("--stacks-dir", default="stacks", metavar="DIR", help="stack config directory (default: stacks)")
    p.add_argument(
        "--program",
        default=None,
        metavar="DIR",
        help="the Pulumi program directory (default: the stacks directory, as Pulumi.yaml's main: stacks/)",
    )
    p.add_argument(
        "--policy-pack",
        default="policy_packs/baseline",
        metavar="DIR",
        help="policy pack directory (default: policy_packs/baseline)",
    )
    p.add_argument(
        "--policy-pack-config",
        default=None,
        metavar="FILE",
        help="JSON policy config, as for pulumi preview: {policy: level | {enforcementLevel, ...properties}}",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="judge as at preview: computed values unknown, PULUMI_DRY_RUN=true (default: as at up)",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError
    from baseline.loader import IntentError
    from baseline.plan import PackError, PlanError, ProgramError, format_text, run_plan

    try:
        result = run_plan(
            args.stack,
            stacks_dir=args.stacks_dir,
            program=args.program,
            pack_dir=args.policy_pack,
            policy_pack_config=args.policy_pack_config,
            preview=args.preview,
            on_step=(lambda msg: print(f"plan: {msg}", file=err)) if args.debug else None,
        )
    except (IntentError, PlanError, CatalogError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except (ProgramError, PackError) as exc:
        print(f"error: {exc}", file=err)
        if args.debug:
            traceback.print_exception(exc, file=err)
        return EXIT_FAILED
    if args.json:
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(format_text(result) + "\n")
    return EXIT_BLOCKED if result.blocked else EXIT_OK


COMMAND = Command(
    "plan",
    "preview a stack offline: run its program under mocks and its resources through the policy pack",
    configure,
    run,
)
