"""Rendering history answers (table, JSON, CSV) and the history package's place in the layout."""

from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path

import pytest

from baseline.history import render_rows

ROWS = [
    {"cluster": "prod-eu", "subject": '=HYPERLINK("http://x")', "age_days": 3.5, "detail": {"from": "fail"}},
    {"cluster": "dev\x1b[31m", "subject": "-1", "age_days": -2, "detail": None},
]


def test_csv_defuses_formulas_and_keeps_numbers() -> None:
    rows = list(csv.reader(io.StringIO(render_rows(ROWS, ["cluster", "subject", "age_days"], "csv"))))
    assert rows[0] == ["cluster", "subject", "age_days"]
    assert rows[1][1] == '\'=HYPERLINK("http://x")'
    assert rows[2][1:] == ["-1", "-2"]


def test_table_strips_control_characters_and_json_keeps_the_document() -> None:
    table = render_rows(ROWS, ["cluster", "detail"], "table")
    assert "\x1b" not in table and "dev?[31m" in table and "from=fail" in table
    assert render_rows([], ["cluster"], "table").splitlines()[-1] == "(none)"
    doc = json.loads(render_rows(ROWS, ["cluster"], "json", document={"fromRun": 1}, key="new"))
    assert doc["fromRun"] == 1 and doc["new"][0]["detail"] == {"from": "fail"}
    with pytest.raises(ValueError, match="unknown format"):
        render_rows(ROWS, ["cluster"], "xml")


CORE = {"baseline.catalog", "baseline.evaluator", "baseline.exceptions", "baseline.intent", "baseline.loader",
        "baseline.cel", "baseline.controls", "baseline.history"}  # fmt: skip


def test_the_history_package_imports_only_the_core_and_itself() -> None:
    package = Path(__file__).resolve().parents[3] / "baseline" / "history"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name == "baseline" or name.startswith("baseline."):
                    assert any(name == c or name.startswith(c + ".") for c in CORE), f"{path.name} imports {name}"
