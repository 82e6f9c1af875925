"""The Pulumi program: one stack is one cluster, described by the stack's intent.

The only place that reads stack config. The intent is validated before anything is registered, so
a bad intent is a clear error naming the field path, and nothing half-made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from baseline.loader import CONFIG_NAMESPACE, IntentError, intent_from_config
from providers.eks import EksCluster
from providers.records import record_exceptions

HERE = Path(__file__).resolve().parent


def _stack_config() -> dict[str, Any]:
    config = pulumi.Config(CONFIG_NAMESPACE)
    values: dict[str, Any] = {}
    inline = config.get_object("intent")
    if inline is not None:
        values["intent"] = inline
    intent_file = config.get("intentFile")
    if intent_file is not None:
        values["intentFile"] = intent_file
    return values


def main() -> None:
    try:
        intent = intent_from_config(_stack_config(), base_dir=HERE)
    except IntentError as err:
        raise pulumi.RunError(str(err)) from None
    if intent.cluster.cloud != "eks":
        raise pulumi.RunError(
            f"cluster {intent.cluster.name!r}: cloud {intent.cluster.cloud!r} is not supported yet (only eks)"
        )
    cluster = EksCluster(intent.cluster.name, intent)
    # every exception is a record in the stack's state: diffed on preview, judged by ST-02
    record_exceptions(intent.cluster.name, intent.exceptions)
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("endpoint", cluster.endpoint)
    pulumi.export("oidcIssuer", cluster.oidc_issuer)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("baselineVersion", intent.baseline_version)


main()
