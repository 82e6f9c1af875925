"""``fleet-baseline plan``: an offline ``pulumi preview --policy-pack``, through the engine's own seams.

Where no Pulumi CLI, cloud or cluster is available, plan does the engine's part itself:

1. Reads ``Pulumi.<stack>.yaml`` (every config key, ``aws:region`` too) and validates the intent with
   the loader the program uses. A bad intent is a :class:`PlanError` naming each field path: nothing
   is registered and no pack is started.
2. Starts the policy pack exactly as the engine does (:class:`PackProcess`): ``python -u -m
   pulumi.policy <engine-address> .`` in the pack directory, with the virtual environment its
   ``PulumiPolicy.yaml`` names, ``PULUMI_PROJECT``/``PULUMI_STACK``/``PULUMI_DRY_RUN`` and the stack config
   in ``PULUMI_CONFIG``, encoded as the engine encodes it (:func:`engine_config`).
3. Runs the stack program in-process under Pulumi's mocks, inside the SDK's own stack runner
   (``run_in_stack``, as the language host does), and captures every ``RegisterResourceRequest``
   (parent, dependencies, property dependencies, provider, options) through a :class:`CapturingMonitor`.
   Mock outputs are the inputs plus plausible computed values from one table, :data:`COMPUTED_OUTPUTS`.
4. Speaks the Analyzer protocol in the engine's order: ``Handshake``, ``ConfigureStack``,
   ``GetAnalyzerInfo``, ``Configure`` (schema defaults reconciled with ``--policy-pack-config``, as the
   engine does), ``Remediate`` + ``Analyze`` per registered resource (its inputs, marshalled as the
   engine marshals them: unknowns kept as sentinels, secrets kept as secret objects, resource references
   downgraded to ids, internal ``__`` keys dropped), then ``AnalyzeStack`` with every resource's outputs,
   parent and dependencies. The pack process is killed at the end, whatever happens.

Without ``--preview`` the run is an ``up``: mocks return computed values and the pack runs with
``PULUMI_DRY_RUN=false``. With ``--preview``, computed outputs stay unknown, as in a real preview, and
policies that read them report the engine's advisory "can't run policy ... during preview".

This module reads no environment of its own; the pack's child process inherits the caller's, as the
engine's does.
"""

from __future__ import annotations

from baseline.plan.analyzer import (
    AnalyzerResource,
    Diagnostic,
    PackInfo,
    PackProcess,
    PolicyInfo,
    load_policy_pack_config,
    reconcile_policy_config,
)
from baseline.plan.mocks import COMPUTED_OUTPUTS, INVOKE_RESULTS, PlanMocks
from baseline.plan.program import CapturingMonitor, ProgramRun, RegisteredResource, run_program
from baseline.plan.report import format_text
from baseline.plan.run import PlanResult, read_stack_file, run_plan
from baseline.plan.wire import (
    ENGINE_ADDRESS,
    PackError,
    PlanError,
    ProgramError,
    engine_config,
    engine_marshal,
    to_struct,
)

__all__ = [
    "COMPUTED_OUTPUTS",
    "ENGINE_ADDRESS",
    "INVOKE_RESULTS",
    "AnalyzerResource",
    "CapturingMonitor",
    "Diagnostic",
    "PackError",
    "PackInfo",
    "PackProcess",
    "PlanError",
    "PlanMocks",
    "PlanResult",
    "PolicyInfo",
    "ProgramError",
    "ProgramRun",
    "RegisteredResource",
    "engine_config",
    "engine_marshal",
    "format_text",
    "load_policy_pack_config",
    "read_stack_file",
    "reconcile_policy_config",
    "run_plan",
    "run_program",
    "to_struct",
]
