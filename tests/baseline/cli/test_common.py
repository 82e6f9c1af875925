"""``--output`` of every command that has one: a regular file is replaced atomically; anything else is
written through and stays what it was (a character device, a FIFO; a symlink stays a link to the
file it names, which gets the report)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from baseline.cli import main
from baseline.cli.common import write_report
from tests.fixtures.state_export import DRIFTED

TODAY = "2026-01-15"


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    exports = tmp_path / "exports"
    exports.mkdir(exist_ok=True)
    shutil.copy(DRIFTED, exports / "prod.json")
    return {
        "audit": ["audit", "--state", str(DRIFTED), "--format", "json", "--today", TODAY],
        "fleet": ["fleet", "--state-dir", str(exports), "--format", "json", "--today", TODAY, "--jobs", "1"],
    }


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


COMMANDS = ["audit", "fleet"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_character_device_stays_one(tmp_path: Path, command: str) -> None:
    """A terminal's device (a pty here: a character device of our own, as /dev/null or /dev/stdout
    are the machine's) is written through, never renamed over."""
    master, slave = os.openpty()
    device = os.ttyname(slave)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(_drain(master)), daemon=True)
    reader.start()
    try:
        code, out, err = _run([*_commands(tmp_path)[command], "--output", device])
        assert code in (0, 1), err
        assert out == "" and stat.S_ISCHR(os.stat(device).st_mode)
    finally:
        os.close(slave)
        reader.join(5)
        os.close(master)
    assert b'"' in b"".join(got)  # the JSON report went through the device


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the slave side closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_fifo_stays_a_fifo(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code, _, err = _run([*_commands(tmp_path)[command], "--output", str(fifo)])
    reader.join(10)
    assert code in (0, 1), err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].startswith(b"{")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_symlink_stays_a_link_and_its_target_gets_the_report(tmp_path: Path, command: str) -> None:
    target = tmp_path / "reports" / "latest.json"
    target.parent.mkdir()
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "report.json"
    link.symlink_to(target)
    code, _, err = _run([*_commands(tmp_path)[command], "--output", str(link)])
    assert code in (0, 1), err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("{")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640  # replaced, permission bits kept
    assert sorted(p.name for p in target.parent.iterdir()) == ["latest.json"]  # no temporary file left


@pytest.mark.parametrize("command", COMMANDS)
def test_a_regular_file_is_replaced_whole(tmp_path: Path, command: str) -> None:
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    report.write_text("x" * 100_000)
    inode = os.stat(report).st_ino
    code, _, err = _run([*_commands(tmp_path)[command], "--output", str(report)])
    assert code in (0, 1), err
    assert report.read_text().startswith("{") and not report.is_symlink()
    assert os.stat(report).st_ino != inode  # renamed into place, not truncated and rewritten
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.json"]


def test_write_report_names_what_it_could_not_write(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "report.json"
    problem = write_report(str(missing), ["{}"])
    assert problem is not None and str(missing) in problem


def test_a_new_report_gets_the_mode_open_would_give_it(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert write_report(str(tmp_path / "new.json"), ["{}"]) is None
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.json").st_mode) == 0o644
