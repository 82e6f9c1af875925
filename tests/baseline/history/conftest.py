"""History store fixtures: the same tests against SQLite and a real PostgreSQL server.

The PostgreSQL server is started for real, once per session (``benchmarks.pgserver``: ``initdb`` into
a fresh directory and ``pg_ctl start`` listening only on a unix socket there, as an unprivileged user
when the tests run as root), stopped and deleted at the end. Each test gets its own database.

Where no server binaries exist the PostgreSQL half is skipped, saying why, except when ``CI`` is set:
then it fails, since ``.ci/run`` installs them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import pgserver

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer]:
    binaries = pgserver.bindir(os.environ.get("PG_BINDIR"))
    if binaries is None:
        reason = (
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine: "
            "install postgresql-15 (.ci/run does) to run the PostgreSQL half of the history tests"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg is not installed: pip install -e '.[dev]' (it is in the dev and postgres extras)")
    with pgserver.private_server(binaries) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store location: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield str(tmp_path / "history.db")
        return
    server: pgserver.PgServer = request.getfixturevalue("pg_server")
    name = f"history_{os.getpid()}_{next(_names)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)
