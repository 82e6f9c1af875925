"""fleet-baseline: a Kubernetes security baseline written once as intent, kept on every cluster.

The package holds the intent model, the control catalog, the evaluator, exceptions and the CLI.
Cloud translation lives in ``providers``; the CrossGuard pack in ``policy_packs``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
