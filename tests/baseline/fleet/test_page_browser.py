"""The fleet page in a real headless Chromium, driven over its DevTools protocol.

The page is made the way a user makes it (``fleet --record --history`` twice, then ``fleet --history
--format html``), opened from disk in Debian's ``chromium`` (no browser download), and used: the team
filter is chosen, a control's header is clicked with a real mouse event, a cell is clicked, the CSV
button is clicked; the test reads what the page then shows. Skipped only where no Chromium exists
(``.ci/run`` installs it), never when ``CI`` is set.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baseline.cli import main

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class DevTools:
    """The smallest DevTools client: send a command, wait for its answer, skip events."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed, released) at the middle of the element, scrolled into view."""
        rect = self.js(
            f"(function(){{var el=document.querySelector({json.dumps(selector)});"
            " el.scrollIntoView({block:'center'}); var r=el.getBoundingClientRect();"
            " return [r.left+r.width/2, r.top+r.height/2];})()"
        )
        x, y = rect
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra: dict[str, Any] = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[DevTools]:
    binary = _chromium()
    if binary is None:
        reason = "no Chromium on this machine: install Debian's chromium (.ci/run does) to run the fleet page test"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    profile = Path(tempfile.mkdtemp(prefix="fb-chromium-"))
    proc = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.send("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def cli(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert code in (0, 1), err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fleet page over three clusters recorded twice, a failing deployment deleted in between."""
    from benchmarks import fleet as fleet_bench

    work = tmp_path_factory.mktemp("page")
    state, store = work / "state", str(work / "history.db")
    fleet_bench.generate(state, 3, 150, 5, None)
    base = ["fleet", "--state-dir", str(state), "--jobs", "1", "--history", store]
    cli(*base, "--record", "--actor", "ci")
    path = sorted(state.glob("*.json"))[1]
    doc = json.loads(path.read_text())
    doc["deployment"]["resources"] = [
        r for r in doc["deployment"]["resources"] if not r["urn"].endswith("payments-svc-01-deployment")
    ]
    deployments = [r for r in doc["deployment"]["resources"] if r["type"] == "kubernetes:apps/v1:Deployment"]
    deployments[0]["outputs"]["spec"]["template"]["spec"]["hostNetwork"] = True  # something new, too
    path.write_text(json.dumps(doc))
    cli(*base, "--record", "--actor", "ci")
    html_path = work / "fleet.html"
    cli(*base, "--format", "html", "--output", str(html_path))
    report = json.loads(cli("fleet", "--state-dir", str(state), "--jobs", "1", "--format", "json"))
    opened = json.loads(cli("history", "open", "--history", store, "--format", "json"))["findings"]
    diff = json.loads(cli("history", "diff", "--history", store, "--format", "json"))
    return {"path": html_path, "report": report, "open": opened, "diff": diff}


def _load(browser: DevTools, path: Path) -> None:
    browser.send("Page.navigate", url=path.as_uri())
    deadline = time.monotonic() + 60
    while browser.js("document.readyState") != "complete" or browser.js("!!document.getElementById('t-fail')") is False:
        assert time.monotonic() < deadline, "the page did not load"
        time.sleep(0.1)


def _tile(browser: DevTools, ident: str) -> int:
    return int(browser.js(f"document.querySelector('#{ident} b').textContent"))


def test_the_team_filter_changes_the_tiles_and_the_drill_down_lists_the_failing_subjects(
    browser: DevTools, page: dict[str, Any]
) -> None:
    _load(browser, page["path"])
    report, opened = page["report"], page["open"]
    assert _tile(browser, "t-clusters") == 3
    assert _tile(browser, "t-fail") == sum(c["counts"].get("fail", 0) for c in report["clusters"])
    assert _tile(browser, "t-new") == page["diff"]["new"] > 0
    assert browser.js("document.querySelectorAll('#matrix td.c.new').length") > 0
    assert browser.js("document.querySelectorAll('#matrix svg.spark').length") == 3

    # choose a team as a user does (the select's value, then the change event the browser fires)
    team = next(t for t in report["teams"] if t["team"] == "payments-team")
    browser.js(
        "(function(){var s=document.getElementById('f-team'); s.focus(); s.value='payments-team';"
        " s.dispatchEvent(new Event('change',{bubbles:true}));})()"
    )
    assert _tile(browser, "t-fail") == team["total"]
    assert _tile(browser, "t-clusters") == team["clusters"]
    assert browser.js("location.hash") == "#team=payments-team"

    # click a control's header: its drill-down lists every open failing subject of the team, with the fix
    control = "POD-11"
    browser.click(f'#matrix th.ctl[data-control="{control}"]')
    assert browser.js("document.getElementById('drill').hidden") is False
    expected = sorted(r["subject"] for r in opened if r["control"] == control and r["team"] == "payments-team")
    listed = browser.js(
        "Array.prototype.map.call(document.querySelectorAll('#drill-rows tr'),function(tr){"
        "return tr.cells[1].textContent;}).sort()"
    )
    assert expected and listed == expected
    assert browser.js("document.getElementById('drill-fix').textContent").startswith("Fix: ")
    assert "clusters it judged" in browser.js("document.getElementById('drill-share').textContent")

    # click a failing cell: its details and only that cluster's subjects
    browser.js("document.getElementById('f-team').value=''; document.getElementById('f-team')"
               ".dispatchEvent(new Event('change',{bubbles:true}))")  # fmt: skip
    browser.click(f'#matrix tbody tr:first-child td.c.f[data-control="{control}"]')
    cluster = browser.js("document.querySelector('#matrix tbody tr:first-child').getAttribute('data-label')")
    assert control in browser.js("document.getElementById('drill-detail').textContent")
    clusters = browser.js(
        "Array.prototype.map.call(document.querySelectorAll('#drill-rows tr'),"
        "function(tr){return tr.cells[0].textContent;})"
    )
    assert clusters and set(clusters) == {cluster}

    # the CSV button exports the rows shown
    browser.js("document.getElementById('f-q').value='c0001'; document.getElementById('f-q')"
               ".dispatchEvent(new Event('input',{bubbles:true}))")  # fmt: skip
    assert _tile(browser, "t-clusters") == 1
    browser.click("#export-csv")
    assert browser.js("document.getElementById('export-csv').getAttribute('data-rows')") == "1"
    csv_text = browser.js("window.fleetCsv()")
    assert csv_text.splitlines()[1].startswith("c0001-us,")
