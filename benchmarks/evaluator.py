"""Evaluator throughput: the whole catalog over N mixed Kubernetes objects, on one core.

    python -m benchmarks.evaluator [--objects 10000]

Reports object-control evaluations per second. Target (issue 3): 10,000 objects x whole catalog in
under 5 s on one core.
"""

from __future__ import annotations

import argparse
import resource
import time

from baseline.catalog import load_catalog
from baseline.evaluator import Evaluator, Subject
from benchmarks.corpus import objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    catalog = load_catalog()
    evaluator = Evaluator(catalog, params={"defaultPodSecurityLevel": "restricted", "namespaceLevels": {}})
    t1 = time.perf_counter()
    subjects = [Subject(o) for o in objects(args.objects)]
    t2 = time.perf_counter()
    findings = evaluator.evaluate_all(subjects)
    t3 = time.perf_counter()
    by_status: dict[str, int] = {}
    for f in findings:
        by_status[f.status] = by_status.get(f.status, 0) + 1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"controls: {len(catalog)}  targets compiled in {t1 - t0:.2f}s")
    print(f"objects: {len(subjects)}  generated in {t2 - t1:.2f}s")
    print(
        f"evaluations: {len(findings)}  in {t3 - t2:.2f}s  = {len(findings) / (t3 - t2):,.0f}/s"
        f"  ({len(subjects) / (t3 - t2):,.0f} objects/s)"
    )
    print(f"verdicts: {dict(sorted(by_status.items()))}")
    print(f"peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
