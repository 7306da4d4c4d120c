"""The HTML report as a reader sees it: opened in headless Chromium over the DevTools Protocol.

Checks that the page loads with no console error and no network request,
that every figure and table has a non-zero rendered size, that a screenshot
of the first screen is not blank, and that the page fits an A4 or Letter
page width when printed. Screenshots are kept in the test's tmp folder
(printed with -s) for a person to look at.

Skips with a visible reason when Chromium or the websockets client is absent,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TRIALKIT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
         "--remote-debugging-port=0")
# Printable width of A4 (210 mm) and Letter (215.9 mm) with the report's 13 mm side margins, in CSS px (96/in).
PRINT_WIDTH_PX = int((210 - 26) / 25.4 * 96)


def _require_browser() -> str:
    reason = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"headless Chromium ({CHROMIUM}) is absent; install Debian's chromium (as .ci/run does)"
    else:
        try:
            import websockets.sync.client  # noqa: F401
        except ImportError:
            reason = "the websockets package (DevTools Protocol client) is not installed"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " and CI=true requires the browser test")
        pytest.skip(reason)
    return CHROMIUM


class Browser:
    """A headless Chromium driven over the DevTools Protocol (one page, flattened session)."""

    def __init__(self, binary: str, profile: Path) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        import inspect

        options = {"max_size": None, "open_timeout": 30}
        if "proxy" in inspect.signature(connect).parameters:
            options["proxy"] = None  # never route the local DevTools socket through an HTTP(S)_PROXY
        self._connection = connect(f"ws://127.0.0.1:{port}{path}", **options)
        self.ws = self._connection.__enter__()
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 60) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e["method"] == method:
                return self.events[i]
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(method)

    def settle(self, seconds: float = 0.5) -> None:
        """Collect the events that arrive within ``seconds`` of quiet."""
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                msg = json.loads(self.ws.recv(timeout=seconds))
            except (TimeoutError, ConnectionClosed):
                return
            if "method" in msg:
                self.events.append(msg)

    def open(self, url: str, width: int = 1100, height: int = 1400) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        self.settle()

    def evaluate(self, expression: str):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                        session=True)
        if "exceptionDetails" in out:
            raise RuntimeError(out["exceptionDetails"])
        return out["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> bytes:
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            w, h = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": min(h, 16000), "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", params, session=True)["data"])
        path.write_bytes(data)
        return data

    def problems(self) -> list[str]:
        """Console errors, exceptions, log errors and any request that is not file: or data:."""
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                out.append(f"log {p['entry'].get('source')}: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(("file:", "data:", "about:")):
                    out.append(f"network request: {url}")
        return out

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                try:
                    self.call("Browser.close", timeout=5)
                except Exception:
                    pass
                self.ws.close()
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


SIZES = """JSON.stringify([...document.querySelectorAll('img, svg, table')].map(e => {
  const r = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), id: e.id || (e.closest('[id]') || {}).id || '', w: r.width, h: r.height,
          loaded: e.tagName === 'IMG' ? (e.complete && e.naturalWidth > 0) : true};
}))"""


def _variance(png: bytes) -> float:
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(img).var[0]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = _require_browser()
    b = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _report_of(source: Path, name: str, run_cli, tmp_path_factory, extra=None) -> Path:
    from report_workspaces import staged_copy

    ws, _ran = staged_copy(source, tmp_path_factory.getbasetemp(), run_cli, name, extra)
    out = tmp_path_factory.mktemp("browser") / f"{name}.html"
    r = run_cli(["report", "--workspace", ws, "--out", out])
    assert r.exit_code == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def seed_report(seed_workspace, run_cli, tmp_path_factory):
    """The HTML report of the built-in trial after every registered analysis stage has run."""
    from report_workspaces import BUILTIN_OPTIONS

    return _report_of(seed_workspace, "seed-staged", run_cli, tmp_path_factory, BUILTIN_OPTIONS)


@pytest.fixture(scope="module")
def pilot_report(pilot_workspace, run_cli, tmp_path_factory):
    """The HTML report of the CDISC pilot (no claims file) after every registered analysis stage has run."""
    return _report_of(pilot_workspace, "pilot-staged", run_cli, tmp_path_factory)


@pytest.fixture(params=["seed", pytest.param("pilot", marks=pytest.mark.realdata)])
def report(request):
    return request.getfixturevalue(f"{request.param}_report")


def test_report_loads_with_no_console_error_and_no_network_request(browser, report):
    browser.events.clear()
    browser.open(report.resolve().as_uri())
    assert browser.problems() == []
    assert browser.evaluate("document.title")
    assert browser.evaluate("document.querySelectorAll('script').length") == 0


def test_every_figure_and_table_has_a_rendered_size(browser, report):
    browser.open(report.resolve().as_uri())
    elements = json.loads(browser.evaluate(SIZES))
    assert any(e["tag"] == "table" for e in elements)
    empty = [e for e in elements if not (e["w"] > 0 and e["h"] > 0 and e["loaded"])]
    assert empty == []
    from report_workspaces import registered_stages

    if "survival" in registered_stages():
        assert any(e["tag"] == "img" for e in elements), "the survival stage ran, so its KM figure must be shown"


def test_tables_and_figures_stay_within_the_text_column_on_screen(browser, report):
    browser.open(report.resolve().as_uri())
    wide = browser.evaluate(
        "(() => { const right = document.querySelector('main').getBoundingClientRect().right;"
        " return JSON.stringify([...document.querySelectorAll('main table, main img')]"
        ".filter(e => e.getBoundingClientRect().right > right + 1)"
        ".map(e => (e.closest('[id]') || {}).id)); })()")
    assert json.loads(wide) == []


def test_first_screen_is_not_blank_and_flags_synthetic_data(browser, seed_report, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screenshots")
    browser.open(seed_report.resolve().as_uri())
    png = browser.screenshot(shots / "first_screen.png")
    browser.screenshot(shots / "full_page.png", full_page=True)
    print(f"\nscreenshots: {shots}")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert _variance(png) > 100, "the first screen is (nearly) a single colour"
    banner = browser.evaluate("(() => { const b = document.querySelector('.banner');"
                              " return b ? [b.textContent, b.getBoundingClientRect().bottom] : null })()")
    assert banner is not None and "Synthetic data" in banner[0]
    assert banner[1] < 1400, "the synthetic-data banner must be on the first screen"


def test_printed_page_fits_a4_and_letter_width(browser, report):
    browser.open(report.resolve().as_uri(), width=PRINT_WIDTH_PX, height=1000)
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=True)
    try:
        overflow = browser.evaluate(
            "JSON.stringify([...document.querySelectorAll('main *, header *, footer *')].filter(e => "
            "e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5)"
            ".map(e => e.tagName + '#' + (e.id || e.className)))")
        assert json.loads(overflow) == []
        for paper in ((8.27, 11.69), (8.5, 11.0)):
            pdf = browser.call("Page.printToPDF", {"paperWidth": paper[0], "paperHeight": paper[1],
                                                   "printBackground": True}, session=True, timeout=120)
            data = base64.b64decode(pdf["data"])
            assert data[:5] == b"%PDF-" and data.count(b"/Type /Page") > 2
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""}, session=True)
