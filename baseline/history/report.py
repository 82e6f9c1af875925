"""The history queries' answers as a table, JSON or CSV: pure functions of rows, no I/O.

Cluster names, subjects, owners and messages come from state files and live clusters and are treated
as untrusted: the table strips control characters, the CSV defuses cells a spreadsheet would run as a
formula (a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a ``'``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["FORMATS", "Format", "render_rows"]

Format = Literal["table", "json", "csv"]
FORMATS: tuple[str, ...] = ("table", "json", "csv")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items() if v is not None)
    return str(value)


def _cell(value: Any, width: int = 60) -> str:
    text = _CONTROL.sub("?", _text(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def _csv_cell(value: Any) -> str:
    text = _text(value)
    if text.startswith(_FORMULA) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    document: Mapping[str, Any] | None = None,
    key: str = "rows",
) -> str:
    """``rows`` in ``fmt``. JSON is ``document`` (e.g. the runs compared) with the rows under ``key``;
    table and CSV show ``columns`` in order."""
    if fmt == "json":
        out = dict(document or {})
        out[key] = [dict(r) for r in rows]
        return json.dumps(out, indent=2, sort_keys=False, default=str) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_csv_cell(r.get(c)) for c in columns])
        return buf.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines) + "\n"
