"""The history benchmark's own logic (``benchmarks/history_store.py``): the simulated fleet is
deterministic and drifts, and what the benchmark records is what the fleet holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from baseline.history import open_store
from benchmarks import history_store as bench


def test_the_simulated_fleet_is_the_same_every_time_and_drifts() -> None:
    a, b = bench.Fleet(5, seed=3), bench.Fleet(5, seed=3)
    assert a.run(0).findings == b.run(0).findings
    day0 = {f.identity for f in a.run(0).findings}
    for day in range(1, 15):
        a.drift((bench.START + dt.timedelta(days=day)).date())
    day14 = {f.identity for f in a.run(14).findings}
    assert day0 - day14 and day14 - day0  # fixed and new findings both happen


def test_the_recorded_store_holds_what_the_fleet_fails(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    result = bench.measure(str(path), 4, 6, lambda: path.stat().st_size)
    assert len(result.run_seconds) == 6 and result.size_bytes > 0
    again = bench.Fleet(4)
    for day in range(1, 6):
        again.drift((bench.START + dt.timedelta(days=day)).date())
    with open_store(str(path)) as store:
        open_now = {(r["cluster"], r["control"], r["subject"], r["target"]) for r in store.open_findings(bench.START)}
    assert open_now == {f.identity for f in again.run(5).findings}
    assert result.query_rows["open"] == len(open_now)
    assert result.rows["runs"] == 6
