"""Many users at once: N browser sessions (Playwright contexts in one Chromium) move through every
page of the app for a bounded time, each with its own text.

    python -m bench.load_test --sessions 8 --duration 60          # starts its own server
    python -m bench.load_test --url http://127.0.0.1:8501          # or drives one that is running

Each session opens the app with a unique sentence, then, until the time is up, clicks through every
page in the sidebar (its own order) and retypes its sentence on the Tokenization page. After every
interaction it checks that the page finished without an exception or a traceback and that the text
box, and the link, hold its own sentence and no other session's: Streamlit keeps one state per
session, and a cache that leaked one user's text to another would show here.

Reported: interactions, errors, cross-talk, interaction time (p50, p95, max: from the click or the
keystroke to the page's script having finished), and the server's resident memory before and after
(and its peak), in JSON (``--out``, default ``$MASKLAB_ARTIFACTS/load-test.json``). A warm-up
session visits every page first, so model loading is not counted as load. tests/e2e/test_load.py runs
this with 8 sessions for about a minute.
"""

import argparse
import asyncio
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PAGES = [  # (url path, label in the sidebar, title on the page, has the text box)
    ("", "Home", "What does each architecture see", True),
    ("tokenization", "Tokenization", "Tokenization", True),
    ("masks", "Attention masks", "Attention masks", True),
    ("objectives", "Objectives and loss exposure", "Objectives and loss exposure", True),
    ("losses", "Per-token losses", "Per-token losses", True),
    ("switches", "Encoder-decoder to decoder-only", "From encoder-decoder to decoder-only", False),
    ("chat", "Multi-turn chat cost", "Multi-turn chat cost", False),
    ("scaling", "Scaling and training", "Scaling and training", False),
]
# Settings for a shared host (README, "Running it for others"); the load runs under them.
SHARED_HOST_FLAGS = ["--server.headless", "true", "--server.enableXsrfProtection", "true", "--server.enableCORS", "true",
                     "--server.maxUploadSize", "1", "--server.maxMessageSize", "50", "--browser.gatherUsageStats", "false",
                     "--server.fileWatcherType", "none"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def server(env: dict | None = None, log: Path | None = None, flags=SHARED_HOST_FLAGS, timeout_s: float = 180):
    """``streamlit run app.py`` on a free loopback port, in its own process group; yields (base URL, pid).
    Always stopped, whatever happens."""
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1", "--server.port", str(port), *flags]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}" + (f"; see {log}" if log else ""))
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer its health check within {timeout_s:.0f} s")
            time.sleep(0.5)
        yield base, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log:
            out.close()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Session:
    """One user: a browser context, a unique sentence, and what happened to it."""

    def __init__(self, index: int, context, timeout_ms: int):
        self.index = index
        self.tag = f"u{index}q{secrets.token_hex(3)}"  # a word no page shows unless this session typed it
        self.text = f"Reader {self.tag} writes a sentence of their own."
        self.context = context
        self.timeout_ms = timeout_ms
        self.times: list[tuple[str, float]] = []
        self.errors: list[str] = []
        self.crosstalk: list[str] = []

    async def settle(self, page, has_text_box: bool = False) -> None:
        """Until the script has finished and, on a page with the text box, the box shows this session's
        text: a busy browser may draw the box a moment after the run ends."""
        await asyncio.sleep(0.3)
        await page.wait_for_selector(IDLE, timeout=self.timeout_ms)
        if has_text_box:
            try:
                await page.wait_for_function("want => { const t = document.querySelector('[data-testid=stTextArea] textarea'); "
                                             "return t && t.value === want; }", arg=self.text, timeout=15_000)
            except Exception:
                pass  # check() says what the box holds instead

    async def check(self, page, where: str, others: list[str], has_text_box: bool) -> None:
        if await page.locator('[data-testid="stException"]').count():
            self.errors.append(f"{where}: exception: {(await page.locator('[data-testid=stException]').first.inner_text())[:300]}")
        body = await page.locator("body").inner_text()
        if "Traceback" in body:
            self.errors.append(f"{where}: a traceback on the page")
        seen = [tag for tag in others if tag in body or tag in page.url]
        if has_text_box:
            value = await page.locator('[data-testid="stTextArea"] textarea').first.input_value()
            if value != self.text:
                (self.crosstalk if any(tag in value for tag in others) else self.errors).append(f"{where}: the text box holds {value[:80]!r}")
            if parse_qs(urlparse(page.url).query).get("text", [""])[0] != self.text:
                self.errors.append(f"{where}: the link does not carry this session's text")
        if seen:
            self.crosstalk.append(f"{where}: shows other sessions' text {seen}")

    async def visit(self, page, path: str, label: str, title: str, has_text_box: bool, others: list[str]) -> None:
        start = time.perf_counter()
        await page.locator('[data-testid="stSidebarNav"]').get_by_text(label, exact=True).click()
        await page.wait_for_function(f"() => location.pathname.split('/').pop() === '{path}'", timeout=self.timeout_ms)
        await page.locator("h1", has_text=title).first.wait_for(timeout=self.timeout_ms)
        await self.settle(page, has_text_box)
        self.times.append((f"open /{path}", time.perf_counter() - start))
        await self.check(page, f"session {self.index} /{path}", others, has_text_box)

    async def retype(self, page, others: list[str], round_no: int) -> None:
        """Type this session's sentence again (a fresh edit every round), as a user would."""
        self.text = f"Reader {self.tag} writes a sentence of their own, round {round_no}."
        start = time.perf_counter()
        box = page.locator('[data-testid="stTextArea"] textarea').first
        await box.fill(self.text)
        await box.press("Control+Enter")
        await page.wait_for_function(f"() => new URLSearchParams(location.search).get('text') === {json.dumps(self.text)}", timeout=self.timeout_ms)
        await self.settle(page, True)
        self.times.append(("type text", time.perf_counter() - start))
        await self.check(page, f"session {self.index} typed", others, True)

    async def open(self, base: str):
        page = await self.context.new_page()
        page.set_default_timeout(self.timeout_ms)
        start = time.perf_counter()
        await page.goto(f"{base}/tokenization?text={quote(self.text)}")
        await page.locator("h1", has_text="Tokenization").first.wait_for(timeout=self.timeout_ms)
        await self.settle(page, True)
        self.times.append(("open a link", time.perf_counter() - start))
        return page

    async def run(self, base: str, deadline: float, others: list[str]) -> None:
        order = PAGES[self.index % len(PAGES):] + PAGES[: self.index % len(PAGES)]
        page = None
        try:
            page = await self.open(base)
            round_no = 0
            while time.monotonic() < deadline:
                round_no += 1
                for path, label, title, has_text_box in order:
                    if time.monotonic() >= deadline:
                        break
                    await self.visit(page, path, label, title, has_text_box, others)
                    if path == "tokenization" and time.monotonic() < deadline:
                        await self.retype(page, others, round_no)
        except Exception as e:  # a timeout or a missing element: an error of this session, not of the harness
            self.errors.append(f"session {self.index}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
        finally:
            if page is not None:
                await page.close()


async def _warm_up(browser, base: str, timeout_ms: int) -> None:
    """One visit of every page: imports, model loads and first compilations happen here, not under load."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    warm = Session(-1, context, timeout_ms)
    page = await warm.open(base)
    for path, label, title, has_text_box in PAGES:
        await warm.visit(page, path, label, title, has_text_box, [])
    await context.close()
    if warm.errors:
        raise RuntimeError(f"the warm-up failed: {warm.errors}")


async def _drive(base: str, sessions: int, duration_s: float, timeout_ms: int, warm_up: bool) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if warm_up:
                await _warm_up(browser, base, timeout_ms)
            started = time.monotonic()
            users = [Session(i, await browser.new_context(viewport={"width": 1280, "height": 900}), timeout_ms) for i in range(sessions)]
            deadline = started + duration_s
            await asyncio.gather(*(u.run(base, deadline, [o.tag for o in users if o is not u]) for u in users))
            elapsed = time.monotonic() - started
            for u in users:
                await u.context.close()
            return {"users": users, "elapsed_s": elapsed}
        finally:
            await browser.close()


def run(base: str | None = None, sessions: int = 8, duration_s: float = 60, timeout_s: float = 120, warm_up: bool = True,
        env: dict | None = None, log: Path | None = None) -> dict:
    """Drive ``sessions`` users for ``duration_s`` against ``base`` (or a server started here); returns the report."""
    if base is not None:
        result = asyncio.run(_drive(base, sessions, duration_s, int(timeout_s * 1000), warm_up))
        return report(result, sessions, duration_s, None, None, None)
    with server(env, log) as (url, pid):
        if warm_up:
            asyncio.run(_drive(url, 0, 0, int(timeout_s * 1000), True))
        before = rss_mb(pid)
        with peak_rss(pid, 0.5) as peak:
            result = asyncio.run(_drive(url, sessions, duration_s, int(timeout_s * 1000), False))
        after = rss_mb(pid)
        return report(result, sessions, duration_s, before, after, max(peak[0], after))


@contextmanager
def peak_rss(pid: int, every_s: float = 0.5):
    """Sample a process's resident memory every ``every_s`` while the block runs; yields a one-item list
    holding the highest value seen (MiB), final once the block has ended."""
    peak, stop = [rss_mb(pid)], threading.Event()

    def sample() -> None:
        while not stop.wait(every_s):
            try:
                peak[0] = max(peak[0], rss_mb(pid))
            except OSError:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def report(result: dict, sessions: int, duration_s: float, before, after, peak) -> dict:
    users = result["users"]
    times = [t for u in users for _, t in u.times]
    by_kind: dict[str, list[float]] = {}
    for u in users:
        for kind, t in u.times:
            by_kind.setdefault(kind, []).append(t)
    rnd = lambda x: None if x is None or x != x else round(x, 3)  # noqa: E731
    return {
        "sessions": sessions,
        "duration_s": duration_s,
        "elapsed_s": round(result["elapsed_s"], 1),
        "interactions": len(times),
        "interactions_per_session": [len(u.times) for u in users],
        "errors": [e for u in users for e in u.errors],
        "crosstalk": [c for u in users for c in u.crosstalk],
        "interaction_s": {"p50": rnd(percentile(times, 50)), "p95": rnd(percentile(times, 95)), "max": rnd(max(times, default=float("nan")))},
        "interaction_s_by_kind": {k: {"n": len(v), "p50": rnd(percentile(v, 50)), "p95": rnd(percentile(v, 95))} for k, v in sorted(by_kind.items())},
        "server_rss_mb": {"before": rnd(before), "after": rnd(after), "peak": rnd(peak),
                          "growth": rnd(after - before) if before is not None and after is not None else None},
        "cpus": os.cpu_count(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load_test", description="Many browser sessions at once against the app.")
    p.add_argument("--sessions", type=int, default=8, help="concurrent browser sessions (Playwright contexts)")
    p.add_argument("--duration", type=float, default=60, help="seconds the sessions keep clicking through the pages")
    p.add_argument("--timeout", type=float, default=120, help="seconds one interaction may take before it counts as an error")
    p.add_argument("--url", default=None, help="drive a server that is already running instead of starting one")
    p.add_argument("--models-dir", default=None, help="MASKLAB_MODELS_DIR for the server started here (default: assets/models)")
    p.add_argument("--no-warm-up", action="store_true", help="count the first model loads as load too")
    p.add_argument("--out", default=None, help="report file (default: $MASKLAB_ARTIFACTS/load-test.json, or artifacts/)")
    args = p.parse_args(argv)
    out = Path(args.out or Path(os.environ.get("MASKLAB_ARTIFACTS", REPO / "artifacts")) / "load-test.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {"MASKLAB_MODELS_DIR": str(Path(args.models_dir).resolve())} if args.models_dir else None
    result = run(args.url, args.sessions, args.duration, args.timeout, not args.no_warm_up, env, out.with_name("load-test-streamlit.log"))
    out.write_text(json.dumps(result, indent=1))
    t = result["interaction_s"]
    print(f"{result['sessions']} sessions, {result['interactions']} interactions in {result['elapsed_s']} s: "
          f"p50 {t['p50']} s, p95 {t['p95']} s, max {t['max']} s; {len(result['errors'])} errors, "
          f"{len(result['crosstalk'])} cross-talk; server RSS {result['server_rss_mb']}; report: {out}")
    return 0 if not result["errors"] and not result["crosstalk"] else 1


if __name__ == "__main__":
    sys.exit(main())
