"""The app in a real browser: Debian's Chromium, driven by Playwright, against ``streamlit run app.py``.

- first chart: from the moment a fresh server answers its health check to the per-token-loss strip
  (the per-token-loss page's first chart, Altair's) drawn: the server's imports, loading the models
  and the first scoring all count. Then the same page in a new browser context: warm caches.
- text edit: from Ctrl+Enter in the text box (a new text of n tokens) to the per-token-loss chart
  drawing the new text; each repetition types a different text, so nothing comes from a cache.

The server runs in its own process group and is always stopped, whatever happens.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE = "losses"  # views/losses.py's url_path in app.py
TEXT_BOX = '[data-testid="stTextArea"] textarea'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# A fingerprint of the loss strip's drawn cells (the page's first Altair chart: Vega-Lite draws each cell as an
# SVG path labelled with its values), or null while there is none.
STRIP = "document.querySelector('[data-testid=\"stVegaLiteChart\"] .mark-rect')"
SIGNATURE = """() => {
  const g = %s;
  if (!g || !g.children.length) return null;
  const s = g.innerHTML;
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return s.length + ':' + h;
}""" % STRIP
# How many token columns the strip drew: the distinct "token #" of its cells.
COLUMNS = """() => { const g = %s; if (!g) return null;
  return new Set([...g.querySelectorAll('path')].map(p => ((p.getAttribute('aria-label') || '').match(/token #: ([0-9]+)/) || [])[1]).filter(Boolean)).size; }""" % STRIP


def wait_for_app(timeout_s: float) -> bool:
    """The app is written alongside the benchmark: wait until app.py and the per-token page exist."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (REPO / "app.py").exists() and (REPO / "views" / f"{PAGE}.py").exists():
            return True
        time.sleep(2)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCHERS = {"streamlit run app.py": ["-m", "streamlit", "run", "app.py"], "python -m ui.serve": ["-m", "ui.serve"]}


def start_server(port: int, log: Path, launcher: str = "streamlit run app.py") -> subprocess.Popen:
    """The app's server (``launcher``: a way of starting it, ``LAUNCHERS``), or another Streamlit script
    (``launcher``: its path in the repository, ``streamlit run`` on it), on ``port``; its output to ``log``."""
    cmd = [sys.executable, *LAUNCHERS.get(launcher, ["-m", "streamlit", "run", launcher]), "--server.headless", "true", "--server.port", str(port),
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    with open(log, "w") as f:
        return subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass


def wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float) -> float:
    """perf_counter() at the first successful health check."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"streamlit did not answer its health check within {timeout_s:g} s")


def _first_chart(page, timeout_ms: int) -> None:
    page.wait_for_function(f"() => ({SIGNATURE})() !== null", polling=20, timeout=timeout_ms)


def settle(page, timeout_ms: int, pause_s: float = 0.2) -> None:
    """Wait ``pause_s`` for a rerun to begin, then until the app's script has stopped running."""
    time.sleep(pause_s)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def cold_starts(launcher: str, reps: int, log: Path, timeout_s: float = 180) -> list[dict]:
    """``reps`` fresh servers started with ``launcher``: per server the seconds from starting it to its
    first health check, and from there to the first chart of the per-token-loss page."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for _ in range(reps):
                page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                port = free_port()
                start = time.perf_counter()
                proc = start_server(port, log, launcher)
                try:
                    up = wait_healthy(f"http://127.0.0.1:{port}", proc, timeout_s)
                    page.goto(f"http://127.0.0.1:{port}/{PAGE}")
                    _first_chart(page, int(timeout_s * 1000))
                    out.append({"to_health_s": up - start, "first_chart_s": time.perf_counter() - up})
                finally:
                    stop_server(proc)
                    page.context.close()
        finally:
            browser.close()
    return out


def measure(sizes: list[int], reps: int, texts_for, log: Path, timeout_s: float = 180) -> dict:
    """Seconds to the first chart (cold server, then warm) and per edit, by text length.

    ``texts_for(n, count)`` gives ``count`` different texts of n tokens."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    timeout_ms = int(timeout_s * 1000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = {"url": f"/{PAGE}", "edits": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = ctx.new_page()  # ready before the server is, so that only the app's time counts
        page.set_default_timeout(timeout_ms)
        proc = start_server(port, log)
        try:
            up = wait_healthy(base, proc, timeout_s)
            page.goto(f"{base}/{PAGE}")
            _first_chart(page, timeout_ms)
            out["first_chart_cold_s"] = time.perf_counter() - up
            settle(page, timeout_ms)
            other = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            start = time.perf_counter()
            other.goto(f"{base}/{PAGE}")
            _first_chart(other, timeout_ms)
            out["first_chart_warm_s"] = time.perf_counter() - start
            other.context.close()
            box = page.locator(TEXT_BOX).first
            out["chart_columns"] = {}  # what the chart drew: one column per token when it is the strip
            for n in sizes:
                seconds = []
                for text in texts_for(n, reps):
                    before = page.evaluate(SIGNATURE)
                    box.fill(text)
                    start = time.perf_counter()
                    box.press("Control+Enter")
                    page.wait_for_function(f"prev => {{ const s = ({SIGNATURE})(); return s !== null && s !== prev; }}", arg=before, polling=20, timeout=timeout_ms)
                    seconds.append(time.perf_counter() - start)
                    settle(page, timeout_ms)
                    out["chart_columns"][n] = page.evaluate(COLUMNS)
                out["edits"][n] = seconds
            if page.locator('[data-testid="stException"]').count():
                out["page_error"] = page.locator('[data-testid="stException"]').first.inner_text()[:300]
        finally:
            stop_server(proc)
            browser.close()
    return out
