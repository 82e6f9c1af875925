"""``fleet-baseline render``: the in-cluster baseline as YAML for Argo CD or Flux."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    pass

from baseline.cli.common import EXIT_BAD_INPUT, EXIT_OK, Command, add_stack_option, stack_intent

__all__ = ["COMMAND", "configure", "run"]

# --------------------------------------------------------------------------- render


def configure(p: argparse.ArgumentParser) -> None:
    add_stack_option(p, required=True, what="the baseline")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the manifests (created if missing)")
    p.add_argument(
        "--engine", choices=("vap", "kyverno", "gatekeeper"), help="admission engine (default: the intent's)"
    )
    p.add_argument(
        "--aws-account-id",
        metavar="ID",
        help="EKS: annotate IRSA service accounts with the workload roles the EKS component names",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from baseline.catalog import CatalogError
    from baseline.loader import IntentError
    from baseline.render.manifests import RenderError, eks_irsa_annotations, render_files, write_files

    try:
        intent = stack_intent(args)
        assert intent is not None  # --stack is required
        annotations = eks_irsa_annotations(intent, args.aws_account_id) if args.aws_account_id else None
        files = render_files(intent, args.engine, service_account_annotations=annotations)
        written, removed = write_files(files, args.out)
    except (IntentError, CatalogError, RenderError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=err)
        return EXIT_BAD_INPUT
    irsa = [wi for wi in intent.workload_identities if wi.aws and wi.aws.mechanism == "irsa"]
    if intent.cluster.cloud == "eks" and irsa and not args.aws_account_id:
        print("note: IRSA service accounts rendered without role annotations; pass --aws-account-id", file=err)
    print(
        f"wrote {len(written)} files to {args.out}" + (f", removed {len(removed)} stale" if removed else ""),
        file=out,
    )
    return EXIT_OK


COMMAND = Command(
    "render",
    "write the in-cluster baseline (namespaces, policies, admission objects) as YAML for Argo CD or Flux",
    configure,
    run,
)
