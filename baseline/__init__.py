"""fleet-baseline: a Kubernetes security baseline written once as intent, kept on every cluster.

The package holds the intent model, the control catalog, the evaluator, exceptions and the CLI.
Cloud translation lives in ``providers``; the CrossGuard pack in ``policy_packs``.
"""

from __future__ import annotations

__all__ = ["__version__"]

from importlib.metadata import PackageNotFoundError, version

try:
    # the one version: the distribution's metadata (pyproject.toml), so `--version`, reports and
    # the built wheel cannot disagree
    __version__ = version("fleet-baseline")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
