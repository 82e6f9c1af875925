"""CrossGuard policy packs generated from the control catalog.

``policy_packs.factory`` turns the catalog into ``pulumi_policy`` policies; ``policy_packs/baseline``
is the pack directory the Pulumi CLI runs (``pulumi preview --policy-pack policy_packs/baseline``).
Nothing is imported here: importing ``pulumi_policy`` is only paid by the code that builds a pack.
"""

from __future__ import annotations

__all__ = ["factory"]
