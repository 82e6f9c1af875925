"""The pack's entry point, as a function: a pack directory's ``__main__.py`` is three lines::

    \"\"\"fleet-baseline's CrossGuard pack: the engine runs ``python -u -m pulumi.policy <engine> .`` here.\"\"\"
    from policy_packs.entry import serve
    serve(__file__)

Like the program's :func:`providers.program.run`, this is an entry point, so it (and only it) reads the
engine's settings: the stack config the engine passes in ``PULUMI_CONFIG`` (already loaded into
``pulumi.Config`` by the SDK's ``pulumi.policy`` runner), the preview flag, and
``FLEET_BASELINE_STACKS_DIR`` (``fleet-baseline plan --stacks-dir`` sets it). Without it, ``intentFile``
is relative to the stack config directory of the project the pack directory sits in
(:func:`baseline.loader.stack_config_dir`), as the program resolves it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["serve"]


def serve(pack_file: str | Path) -> None:
    """Build the policies from the catalog and the stack's intent and serve them; blocks forever."""
    import pulumi
    from pulumi_policy import PolicyPack

    from baseline.loader import CONFIG_NAMESPACE, stack_config_dir
    from policy_packs.factory import PACK_DESCRIPTION, PACK_NAME, STACK_CONFIG_KEYS, build_policies

    config = pulumi.Config(CONFIG_NAMESPACE)
    stack_config = {key: value for key in STACK_CONFIG_KEYS if (value := config.get(key)) is not None}
    stacks_dir = os.environ.get("FLEET_BASELINE_STACKS_DIR") or stack_config_dir(pack_file)
    PolicyPack(
        name=PACK_NAME,
        description=PACK_DESCRIPTION,
        policies=build_policies(
            stack_config=stack_config,
            stacks_dir=stacks_dir,
            is_preview=pulumi.runtime.is_dry_run,
        ),
    )
