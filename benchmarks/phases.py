"""``fleet-baseline audit --manifests DIR --format json``, phase by phase, in one process.

    .venv/bin/python -m benchmarks.phases DIR [--jobs N]

Prints one JSON object: seconds spent importing, loading and compiling the catalog, reading the
manifests, judging them (the evaluator and owner routing), and rendering the JSON report
(``baseline.audit.formats``: sorting, encoding and writing, chunk by chunk as the command writes it), with
the object and finding counts and the peak RSS. The audit command does exactly these steps (its
collector settings and its default of one parsing process per CPU too); this says where its time goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import sys
import time
from typing import Any

__all__ = ["main", "phases"]


def phases(directory: str, jobs: int = 0) -> dict[str, Any]:
    """Time each phase of an audit of ``directory`` (``--format json``, no stack); ``jobs`` as the
    command's ``--jobs`` (0: one per CPU)."""
    t0 = time.perf_counter()
    from baseline import __version__
    from baseline.audit import audit
    from baseline.audit.formats import AuditContext, render_chunks
    from baseline.audit.sources import read_manifests
    from baseline.catalog import load_catalog
    from baseline.cli.audit import _AUDIT_GC_THRESHOLD
    from baseline.evaluator import Evaluator

    t1 = time.perf_counter()
    gc.set_threshold(_AUDIT_GC_THRESHOLD, *gc.get_threshold()[1:])  # as the audit command sets it
    catalog = load_catalog()
    evaluator = Evaluator(catalog)
    t2 = time.perf_counter()
    snapshot = read_manifests([directory], jobs=jobs or os.cpu_count() or 1)
    gc.freeze()
    t3 = time.perf_counter()
    findings = audit(snapshot, evaluator)
    t4 = time.perf_counter()
    context = AuditContext(__version__, (directory,), None, dt.datetime.now(dt.UTC))
    size = 0
    render_seconds = 0.0
    with open(os.devnull, "w", encoding="utf-8") as fh:
        chunks = render_chunks(findings, "json", context=context, catalog=catalog, locations=snapshot.locations)
        while True:
            start = time.perf_counter()
            chunk = next(chunks, None)
            render_seconds += time.perf_counter() - start
            if chunk is None:
                break
            fh.write(chunk)
            size += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8"))
    t6 = time.perf_counter()
    t5 = t4 + render_seconds
    return {
        "objects": len(snapshot.subjects),
        "findings": len(findings),
        "import": t1 - t0,
        "catalog": t2 - t1,
        "read": t3 - t2,
        "judge": t4 - t3,
        "render_json": t5 - t4,
        "write": t6 - t5,
        "total": t6 - t0,
        "report_bytes": size,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "cpu": time.process_time(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory")
    ap.add_argument("--jobs", type=int, default=0, help="parsing processes, as audit --jobs (default: one per CPU)")
    args = ap.parse_args(argv)
    json.dump(phases(args.directory, args.jobs), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
