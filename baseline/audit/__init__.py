"""``fleet-baseline audit``: judge what a platform team has (manifests, state exports, live clusters).

* :mod:`baseline.audit.sources`: the readers, each turning its input into a
  :class:`~baseline.audit.sources.Snapshot` (subjects plus what routing and reporting need).
* :mod:`baseline.audit.routing`: the snapshot judged by the core evaluator, each finding routed to
  the team that can act on it.
* :mod:`baseline.audit.formats`: the findings written out (table, JSON, SARIF, JUnit, PolicyReport).
"""

from __future__ import annotations

from baseline.audit.routing import audit, exceptions_from_records, route_owner

__all__ = ["audit", "exceptions_from_records", "route_owner"]
