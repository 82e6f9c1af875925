"""Hypothesis profiles for the property tests, chosen by ``HYPOTHESIS_PROFILE`` (default ``ci``).

``ci`` keeps the whole directory within the suite's budget (about a minute on two cores) and is
derandomized: CI runs the same examples every time, so a clean clone's result does not depend on
luck; ``long`` is the same properties with a hundred times the examples, drawn afresh each run
(``make properties-long``), which is where new counterexamples are found. Tests that
run a Pulumi component under mocks (about a second each) scale their own count with
:func:`examples`, so the long run explores more of them too.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=50,
    derandomize=True,
    deadline=None,  # a slow CI machine is not a failure; time limits are asserted where they matter
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
