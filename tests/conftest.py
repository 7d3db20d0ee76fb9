"""What every test shares: a hermetic setting (the corpus in tests/fixtures, a token cache in a temporary
folder), the marks for tests that need a file from ../shared beside the checkout, the helpers that open
the app's pages in AppTest, and the server, browser and page fixtures of the browser tests (tests/e2e)."""

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
PAGES = ("home", "tokenization", "masks", "compose", "objectives", "losses", "switches", "chat", "scaling")
SHARED = REPO.parent / "shared"
FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "pride-and-prejudice"

# tiktoken's BPE files for the OpenAI encodings. Without ../shared/tiktoken, a temporary folder: a
# download (when online) must not leave files beside the checkout.
TIKTOKEN_CACHE = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or SHARED / "tiktoken").resolve()
os.environ["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_CACHE if TIKTOKEN_CACHE.is_dir() else tempfile.mkdtemp(prefix="masklab-tiktoken-"))
# Training reads the fixture corpus, whatever the shell says: the same text on every machine.
os.environ["MASKLAB_CORPUS"] = str(FIXTURE_CORPUS)
torch.set_num_threads(min(2, torch.get_num_threads()))

TIKTOKEN = (
    pytest.mark.shared,
    pytest.mark.skipif(not TIKTOKEN_CACHE.is_dir(), reason=f"needs tiktoken's BPE files in {TIKTOKEN_CACHE} (../shared/tiktoken or TIKTOKEN_CACHE_DIR)"),
)


def needs_tiktoken(test):
    """Mark a test that reads an OpenAI encoding (GPT-2 ... GPT-4o): it needs tiktoken's cached files."""
    for mark in TIKTOKEN:
        test = mark(test)
    return test


@pytest.fixture(autouse=True, scope="session")
def _token_cache(tmp_path_factory):
    """engine.data caches tokenized corpora under MASKLAB_CACHE (default ~/.cache/masklab): keep them in the test's temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASKLAB_CACHE", str(tmp_path_factory.getbasetemp() / "token-cache"))
        yield


def page_params(pages):
    """``pages`` as pytest params: the tokenization page shows every encoding, so it needs tiktoken's files."""
    return [pytest.param(page, marks=TIKTOKEN if page == "tokenization" else ()) for page in pages]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Where browser tests leave screenshots, logs and timings: ``$MASKLAB_ARTIFACTS`` (``bash .ci/run``
    sets it to ``artifacts/``), else a temporary folder."""
    folder = Path(os.environ["MASKLAB_ARTIFACTS"]) if os.environ.get("MASKLAB_ARTIFACTS") else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The app in AppTest


def open_page(page: str, text: str | None = None, params: dict | None = None, timeout: float = 240) -> "AppTest":
    """A new session opened on ``page`` as a link would open it (each url_path is the file's name),
    with ``params`` in its query string and ``text`` in the shared text box; fails on an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if params:
        at.query_params.update(params)
    if text is not None:
        at.session_state["text"] = text
    if page != "home":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not page_failures(at), page_failures(at)
    return at


def page_failures(at: "AppTest") -> list[str]:
    """The messages of errors no page handled (ui.layout.run_page turns them into one sentence; the traceback is logged)."""
    from ui.layout import PAGE_FAILED

    return [str(e.value) for e in at.error if str(e.value).startswith(PAGE_FAILED)]


def texts_of(at: "AppTest", *kinds) -> list[str]:
    """The values of the page's elements of these kinds (by default every kind that shows text)."""
    out = []
    for kind in kinds or ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        out.extend(str(e.value) for e in at.get(kind))
    return out


def warnings_of(at: "AppTest") -> str:
    return "\n".join(texts_of(at, "warning"))


def html_bodies(at: "AppTest") -> str:
    return "\n".join(h.proto.body for h in at.html)


# The app in a browser (tests/e2e): Debian's Chromium through Playwright

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # the script has finished its run
RUN_MS = 180_000  # for the app to finish a run: a cold model load on a busy CPU is slow
PLAIN_FLAGS = ["--server.headless", "true", "--browser.gatherUsageStats", "false"]  # `streamlit run app.py` with .streamlit/config.toml


@contextmanager
def _server(artifacts: Path, name: str, flags: list[str] | None):
    from bench.load_test import SHARED_HOST_FLAGS, server

    with server(log=artifacts / f"streamlit-{name}.log", flags=SHARED_HOST_FLAGS if flags is None else flags) as (url, _pid):
        yield url


@pytest.fixture(scope="module")
def app_server(artifacts, request) -> str:
    """The base URL of ``streamlit run app.py`` on a free loopback port, for this test module."""
    with _server(artifacts, request.module.__name__, PLAIN_FLAGS) as url:
        yield url


@pytest.fixture(scope="module")
def shared_host_server(artifacts, request) -> str:
    """The same, started with the settings of a shared host (bench.load_test.SHARED_HOST_FLAGS)."""
    with _server(artifacts, request.module.__name__, None) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Chromium; a missing browser fails the test, it is never skipped."""
    from bench.load_test import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, viewport: tuple[int, int], timeout_ms: int, **context):
    """A page in a context of its own; every alert it raises is dismissed and kept in ``page.dialogs``."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context)
    pg = ctx.new_page()
    pg.set_default_timeout(timeout_ms)
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    return pg


@pytest.fixture
def page(browser, request):
    """A fresh page sized by the module's ``VIEWPORT`` that waits ``ACTION_MS`` for an element."""
    pg = new_page(browser, request.module.VIEWPORT, request.module.ACTION_MS)
    yield pg
    pg.context.close()


@pytest.fixture(scope="session")
def shots(artifacts) -> Path:
    """``$MASKLAB_ARTIFACTS/screenshots``: where every browser test leaves its screenshots."""
    folder = artifacts / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


def capture(pg, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main section, so the viewport grows
    to it for the shot (at most 8,000 px) and goes back to its size after."""
    size = pg.viewport_size
    height = pg.evaluate("() => { const m = document.querySelector('[data-testid=stMain]'); return m ? m.scrollHeight : document.body.scrollHeight; }")
    pg.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), 8000))})
    time.sleep(1.0)  # let the charts re-lay themselves out
    pg.screenshot(path=str(path))
    pg.set_viewport_size(size)


def settle(pg, pause: float = 0.4) -> None:
    """Wait until the script has finished running (and the page is not waiting on a rerun)."""
    time.sleep(pause)
    pg.wait_for_selector(IDLE, timeout=RUN_MS)
    time.sleep(0.3)


def open_view(pg, base: str, path: str, query: str = "", title: str | None = None) -> float:
    """Go to ``base/path?query``, wait for the page's title (``title`` when given) and the end of the run;
    fails on a traceback. Returns the seconds it took."""
    start = time.perf_counter()
    pg.goto(f"{base}/{path}{'?' + query if query else ''}")
    if title:
        pg.locator("h1", has_text=title).first.wait_for(timeout=RUN_MS)
    else:
        pg.wait_for_selector("h1", timeout=RUN_MS)
    settle(pg)
    elapsed = time.perf_counter() - start
    assert pg.locator('[data-testid="stException"]').count() == 0, pg.locator('[data-testid="stException"]').first.inner_text()
    return elapsed
