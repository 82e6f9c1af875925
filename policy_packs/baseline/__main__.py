"""The pack's entry point: the engine runs ``python -u -m pulumi.policy <engine> .`` in this directory.

Like ``stacks/``, this is an entry point, so it (and only it) reads the engine's settings: the stack
config the engine passes in ``PULUMI_CONFIG`` (already loaded into ``pulumi.Config`` by the SDK's
``pulumi.policy`` runner) and the preview flag. Everything else is in ``policy_packs.factory``.

``intentFile`` is relative to the project's stack config directory, ``stacks/`` two levels up from
here (``stackConfigDir`` in Pulumi.yaml); ``FLEET_BASELINE_STACKS_DIR`` overrides it, for stack files
kept elsewhere (``fleet-baseline plan --stacks-dir`` sets it).
"""

import os
from pathlib import Path

import pulumi
from pulumi_policy import PolicyPack

from policy_packs.factory import PACK_DESCRIPTION, PACK_NAME, STACK_CONFIG_KEYS, build_policies

_config = pulumi.Config("fleet-baseline")
_stack_config = {key: value for key in STACK_CONFIG_KEYS if (value := _config.get(key)) is not None}
_stacks_dir = os.environ.get("FLEET_BASELINE_STACKS_DIR") or Path(__file__).resolve().parents[2] / "stacks"

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    policies=build_policies(
        stack_config=_stack_config,
        stacks_dir=_stacks_dir,
        is_preview=pulumi.runtime.is_dry_run,
    ),
)
