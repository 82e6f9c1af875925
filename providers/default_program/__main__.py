"""fleet-baseline: one stack is one cluster, described by the stack's intent (the package's own program)."""

from providers.program import run

run(__file__)
