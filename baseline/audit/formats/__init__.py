"""Audit findings as reports: a table for people, JSON, SARIF, JUnit XML and Kubernetes PolicyReports.

``fleet-baseline audit`` judges manifests, state exports and live clusters with the evaluator; this
module only writes the findings out, in the shapes the tools that read them expect:

* ``table``: for a person at a terminal. Grouped by severity, then control; failures, unknowns and
  exceptions listed (passes only on request), each exception with its owner and the days it has
  left, an expired one loudly; one summary line. Plain text unless colour is asked for.
* ``json``: the findings as :meth:`Finding.to_dict` gives them, with the run's context and summary.
* ``sarif``: SARIF 2.1.0 as GitHub code scanning ingests it: one rule per control, results for
  failures (``error`` in enforce mode, ``warning`` in audit mode), unknowns (``note``) and
  exceptions (the failure's level plus an accepted external suppression), never for passes.
* ``junit``: JUnit XML for CI test reports: a suite per control, a test case per (control, subject).
* ``policyreport``: ``wgpolicyk8s.io/v1alpha2`` PolicyReports, one per namespace, and one
  ClusterPolicyReport for cluster-scoped objects and cloud resources, as Kyverno writes them and
  Policy Reporter reads them.

Every renderer is a pure function of its inputs: no clock (the time is the context's
``generated_at``), no environment, no files but the shipped catalog when none is passed. Findings
are sorted (severity, control, subject) before anything is written, so the same findings and context
give byte-identical output whatever order the sources were read in: diffs between two runs show
changed findings, not reshuffled ones.
Strings from the audited objects (names, messages, exception reasons) are untrusted: each format
escapes them its own way; characters a format cannot carry at all (NUL and other C0 controls in
XML, escape sequences in the table) are written as visible ``\\xNN`` escapes, and lone surrogates
(undecodable input), which no UTF-8 writer accepts, as U+FFFD.
"""

from __future__ import annotations

from baseline.audit.formats.common import (
    FORMATS,
    SARIF_SCHEMA_URI,
    SECURITY_SEVERITY,
    TOOL_NAME,
    AuditContext,
    sort_findings,
    summarize,
)
from baseline.audit.formats.render import render, render_chunks

__all__ = [
    "FORMATS",
    "SARIF_SCHEMA_URI",
    "SECURITY_SEVERITY",
    "TOOL_NAME",
    "AuditContext",
    "render",
    "render_chunks",
    "sort_findings",
    "summarize",
]
