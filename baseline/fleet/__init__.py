"""The fleet view: every cluster's posture, baseline version and open exceptions in one report.

A platform team with hundreds of clusters cannot read hundreds of audit files. This module folds the
findings of many clusters (each a :class:`~baseline.evaluator.Finding` list from the one evaluator,
next to the snapshot it came from) into one :class:`FleetReport`:

* a matrix of clusters x controls, each cell the worst status of that control on that cluster
  (fail > unknown > excepted > pass; ``n/a`` when the control judged nothing there), with counts
  and the first few failing subjects;
* each cluster's baseline version, flagged when it is behind the newest version seen in the fleet
  or below the catalog's minimum (the stale-template problem);
* the exceptions in force, with owner and days to expiry, expired ones first and loud;
* failing findings by owning team and severity, so each team sees its own list;
* per-cluster source problems and the sources that could not be read at all.

Scale is the design constraint: 1,000 clusters of ~150 resources each. :class:`FleetBuilder` never
keeps a snapshot or a finding: :func:`summarize` reduces one cluster to a small
:class:`ClusterSummary` (a few counters per control, at most :data:`MAX_SUBJECTS` subject names per
cell), which is all the report needs and is cheap to send back from a worker process. Everything is
linear in findings; nothing compares clusters pairwise.

Renderers (:func:`render_table`, :func:`render_json`, :func:`render_markdown`, :func:`render_html`)
and the Pulumi Kubernetes Operator ``Stack`` manifests (:func:`operator_stack`) are pure functions of
their inputs: no I/O, no clock, no environment. Cluster names, subjects, owners and reasons come from
state files and live clusters and are treated as untrusted in every format.
"""

from __future__ import annotations

from baseline.fleet.html import PALETTE, contrast_ratio, render_html
from baseline.fleet.model import (
    CELL_GLYPHS,
    MAX_SUBJECTS,
    REPORT_SCHEMA,
    STATUS_RANK,
    Cell,
    CellStatus,
    ClusterSummary,
    ControlColumn,
    ExceptionEntry,
    ExceptionGroup,
    FleetBuilder,
    FleetReport,
    SnapshotLike,
    SourceError,
    TeamRow,
    detect_cloud,
    summarize,
    version_key,
)
from baseline.fleet.operator import operator_resource_name, operator_stack
from baseline.fleet.progress import ProgressBar
from baseline.fleet.text import render_json, render_markdown, render_table

__all__ = [
    "CELL_GLYPHS",
    "MAX_SUBJECTS",
    "PALETTE",
    "REPORT_SCHEMA",
    "STATUS_RANK",
    "Cell",
    "CellStatus",
    "ClusterSummary",
    "ControlColumn",
    "ExceptionEntry",
    "ExceptionGroup",
    "FleetBuilder",
    "FleetReport",
    "ProgressBar",
    "SnapshotLike",
    "SourceError",
    "TeamRow",
    "contrast_ratio",
    "detect_cloud",
    "operator_resource_name",
    "operator_stack",
    "render_html",
    "render_json",
    "render_markdown",
    "render_table",
    "summarize",
    "version_key",
]
