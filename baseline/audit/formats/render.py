"""One entry point for every format: the whole report as text, or in chunks for large runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from baseline.audit.formats.common import FORMATS, AuditContext, sort_findings, summarize
from baseline.audit.formats.jsonl import _json
from baseline.audit.formats.junit import _junit
from baseline.audit.formats.policyreport import _policy_reports
from baseline.audit.formats.sarif import _sarif
from baseline.audit.formats.table import _table
from baseline.catalog import Catalog, load_catalog
from baseline.evaluator import Finding

__all__ = [
    "render",
    "render_chunks",
]

def render(
    findings: Sequence[Finding],
    fmt: str,
    *,
    context: AuditContext,
    catalog: Catalog | None = None,
    locations: Mapping[str, tuple[str, int]] | None = None,
    width: int = 100,
    color: bool = False,
    show_passes: bool = False,
    information_uri: str | None = None,
) -> str:
    """The findings as one document in ``fmt`` (one of :data:`FORMATS`): :func:`render_chunks`, joined."""
    return "".join(
        render_chunks(
            findings,
            fmt,
            context=context,
            catalog=catalog,
            locations=locations,
            width=width,
            color=color,
            show_passes=show_passes,
            information_uri=information_uri,
        )
    )


def render_chunks(
    findings: Sequence[Finding],
    fmt: str,
    *,
    context: AuditContext,
    catalog: Catalog | None = None,
    locations: Mapping[str, tuple[str, int]] | None = None,
    width: int = 100,
    color: bool = False,
    show_passes: bool = False,
    information_uri: str | None = None,
) -> Iterator[str]:
    """The findings as one document in ``fmt`` (one of :data:`FORMATS`), in pieces to write in turn.

    JSON comes a few thousand findings at a time, so a report of a million findings is written
    without ever being one string in memory; the other formats come whole.

    ``catalog`` supplies what a finding does not carry (rationale, references, Kubernetes kinds'
    API versions); None means the shipped catalog. ``locations`` maps a finding's subject to the
    manifest file and line it came from (SARIF physical locations, JUnit ``file``, the table's
    ``at FILE:LINE``, JSON's ``file`` and ``line``); subjects from
    state exports and live clusters have none. ``show_passes``: list passing findings too (every
    format; without it only the table's summary and JSON's counts mention them). ``width`` and
    ``color`` shape the table; ``information_uri`` is the SARIF driver's ``informationUri``. Options a format has no
    use for are ignored.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    ordered = sort_findings(findings)
    where = dict(locations or {})
    if fmt == "table":  # lists failures, counts passes in its summary line
        yield _table(ordered, context, width=width, color=color, show_passes=show_passes, locations=where)
        return
    # passes are left out of every format unless asked for (a 15 MB audit made a 505 MB JSON report)
    listed = ordered if show_passes else [f for f in ordered if f.status != "pass"]
    if fmt == "json":
        yield from _json(listed, context, summarize(ordered), where)
    elif fmt == "junit":
        yield _junit(listed, context, where)
    else:
        cat = catalog if catalog is not None else load_catalog()
        if fmt == "sarif":
            # results are failures only in SARIF; rules keep the passing controls, so code scanning closes alerts
            yield _sarif(ordered, context, cat, where, information_uri)
        else:
            yield _policy_reports(listed, context, cat)
