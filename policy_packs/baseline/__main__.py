"""fleet-baseline's CrossGuard pack: the engine runs ``python -u -m pulumi.policy <engine> .`` here.

The whole pack is :func:`policy_packs.entry.serve`; the policies come from the control catalog.
"""

from policy_packs.entry import serve

serve(__file__)
