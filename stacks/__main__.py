"""The Pulumi program of this repository's sample stacks: one stack is one cluster, described by the stack's intent.

The whole program is :func:`providers.program.run`, the same entry point ``fleet-baseline init`` puts
in a user's own project; ``intentFile`` is relative to ``stacks/`` (``stackConfigDir`` in Pulumi.yaml).
"""

from providers.program import run

run(__file__)
