"""``audit --record``, ``fleet --record`` and ``fleet-baseline history ...``, end to end, on both back ends."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from baseline.cli import EXIT_BAD_INPUT, EXIT_OK, main
from baseline.history import LATEST


def cli(argv: Sequence[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def history(url: str, *argv: str) -> Any:
    code, out, err = cli(["history", *argv, "--history", url, "--format", "json"])
    assert code == EXIT_OK, err
    return json.loads(out)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks import fleet as fleet_bench

    directory = tmp_path_factory.mktemp("exports")
    fleet_bench.generate(directory, 3, 150, 5, None)
    return directory


def test_fleet_record_twice_then_diff_lists_the_planted_drift(history_url: str, exports: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for p in exports.glob("*.json"):
        (state / p.name).write_bytes(p.read_bytes())
    fleet = ["fleet", "--state-dir", str(state), "--jobs", "1", "--record", "--history", history_url]
    code, _out, err = cli([*fleet, "--actor", "ci-bot"])
    assert code in (0, 1), err
    assert "history: run 1 recorded (3 clusters)" in err
    opened = history(history_url, "open")["findings"]
    assert opened and {r["cluster"] for r in opened} == {"c0000-eu", "c0001-us", "c0002-ap"}

    # the planted drift: one failing deployment deleted from the second cluster's stack
    path = sorted(state.glob("*.json"))[1]
    doc = json.loads(path.read_text())
    failing = {r["subject"] for r in opened if r["cluster"] == "c0001-us"}
    victim = next(
        r
        for r in doc["deployment"]["resources"]
        if r["type"] == "kubernetes:apps/v1:Deployment" and r["urn"] in failing
    )
    doc["deployment"]["resources"].remove(victim)
    path.write_text(json.dumps(doc))
    code, _out, err = cli([*fleet, "--actor", "ci-bot"])
    assert code in (0, 1), err

    diff = history(history_url, "diff")
    expected = {(r["control"], r["target"]) for r in opened if r["subject"] == victim["urn"]}
    assert diff["fromRun"] == 1 and diff["new"] == 0
    assert {(c["control"], c["target"]) for c in diff["changes"] if c["change"] == "resolved"} == expected
    assert {(c["subject"], c["close_reason"]) for c in diff["changes"]} == {(victim["urn"], "gone")}
    runs = history(history_url, "runs")["runs"]
    assert [(r["actor"], r["command"]) for r in runs] == [("ci-bot", "fleet"), ("ci-bot", "fleet")]
    evidence = history(history_url, "evidence", "--since", "2000-01-01", "--cluster", "c0001-us")["events"]
    assert {e["actor"] for e in evidence} == {"ci-bot"} and any(e["event"] == "gone" for e in evidence)


def test_audit_record_then_open_as_csv(history_url: str, exports: Path) -> None:
    export = sorted(exports.glob("*.json"))[0]
    code, _out, err = cli(["audit", "--state", str(export), "--record", "--history", history_url, "--actor", "bob"])
    assert code in (0, 1), err
    assert "history: run 1 recorded (1 clusters)" in err
    code, out, err = cli(["history", "open", "--history", history_url, "--format", "csv", "--team", "shop-team"])
    assert code == EXIT_OK, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {r["team"] for r in rows} == {"shop-team"} and {r["cluster"] for r in rows} == {"c0000-eu"}
    code, out, _err = cli(["history", "mttr", "--history", history_url])
    assert code == EXIT_OK and out.splitlines()[0].split() == ["BY", "KEY", "RESOLVED", "MEAN_HOURS", "P90_HOURS"]
    code, out, _err = cli(["history", "trend", "--history", history_url, "--by", "team", "--format", "json"])
    assert code == EXIT_OK and {d["key"] for d in json.loads(out)["days"]} >= {"shop-team"}


def test_bad_history_options_and_stores_exit_2(tmp_path: Path, exports: Path) -> None:
    export = str(sorted(exports.glob("*.json"))[0])
    code, _out, err = cli(["audit", "--state", export, "--record"])
    assert code == EXIT_BAD_INPUT and "--record needs --history" in err
    code, _out, err = cli(["audit", "--state", export, "--history", str(tmp_path / "h.db")])
    assert code == EXIT_BAD_INPUT and "add --record" in err
    code, _out, err = cli(["fleet", "--state-dir", str(exports), "--actor", "bob"])
    assert code == EXIT_BAD_INPUT and "add --record" in err
    code, _out, err = cli(["history", "open", "--history", str(tmp_path / "none.db")])
    assert code == EXIT_BAD_INPUT and "no history store there yet" in err
    store = tmp_path / "future.db"
    code, _out, err = cli(["audit", "--state", export, "--record", "--history", str(store)])
    assert code in (0, 1), err
    with sqlite3.connect(store) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 0, 'future')", (LATEST + 1,))
    conn.close()
    code, _out, err = cli(["audit", "--state", export, "--record", "--history", str(store)])
    assert code == EXIT_BAD_INPUT and "written by a newer fleet-baseline" in err
    code, _out, err = cli(["history", "diff", "--history", str(store)])
    assert code == EXIT_BAD_INPUT and "newer" in err
    code, _out, err = cli(["history", "evidence", "--history", str(store), "--since", "last week"])
    assert code == EXIT_BAD_INPUT and "not a date" in err
