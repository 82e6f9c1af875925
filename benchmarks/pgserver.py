"""A private PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` in a temporary directory.

The server listens only on a unix socket in that directory (no TCP port), trusts its one user, and is
stopped and deleted on exit. As root (CI containers) ``initdb`` refuses to run, so the server runs as an
unprivileged user (``postgres`` if the distribution made one, else ``nobody``) through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgServer", "bindir", "private_server"]

USER = "fleet"
PORT = 5432


def bindir(explicit: str | None = None) -> Path | None:
    """The newest PostgreSQL server binaries: ``explicit``, Debian's layout, else ``initdb`` on PATH."""
    candidates = [Path(explicit)] if explicit else []
    candidates += sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


@dataclass(frozen=True)
class PgServer:
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        host = urllib.parse.quote(str(self.socket_dir), safe="")
        return f"postgresql://{USER}@/{database}?host={host}&port={PORT}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _runas() -> tuple[list[str], pwd.struct_passwd | None]:
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], user
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run PostgreSQL as")


@contextmanager
def private_server(binaries: Path, *, durable: bool = False) -> Iterator[PgServer]:
    """Start a server from ``binaries``; ``durable`` keeps fsync on (benchmarks), off for tests."""
    runas, user = _runas()
    base = Path(tempfile.mkdtemp(prefix="fb-pg-"))  # short: a unix socket path has ~100 characters
    data = base / "data"
    if user is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    options = f"-k {base} -p {PORT} -c listen_addresses='' -c max_connections=50"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off"
    try:
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale"]
        subprocess.run([*runas, *initdb, "--no-sync"], check=True, capture_output=True, env=env, timeout=120)
        start = [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w"]
        subprocess.run([*runas, *start, "-t", "60", "start"], check=True, capture_output=True, env=env, timeout=90)
    except subprocess.CalledProcessError as err:
        log = (base / "server.log").read_text(errors="replace") if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(
            f"could not start PostgreSQL: {' '.join(err.cmd)}: {err.stderr.decode(errors='replace')}\n{log}"
        ) from err
    try:
        yield PgServer(base)
    finally:
        stop = [str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run([*runas, *stop], capture_output=True, env=env, timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)
