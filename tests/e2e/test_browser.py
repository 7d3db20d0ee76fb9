"""The app in a real browser: Debian's Chromium, driven by Playwright, against ``streamlit run app.py``.

Opens every page, types text, changes controls and watches the charts change, reopens copied links,
and saves a screenshot of each page to ``$MASKLAB_ARTIFACTS/screenshots/`` (unset: a temporary
folder). A missing browser fails the test: it is never skipped.
"""

import json
import time
from urllib.parse import parse_qs, quote, urlparse

import pandas as pd
import pytest

from conftest import RUN_MS, capture, new_page, open_view, settle
from engine.tokenizer import tokenize

pytestmark = pytest.mark.e2e

VIEWPORT = (1440, 1000)
ACTION_MS = 30_000  # for an element that should already be there
PAGES = {  # url path -> (title on the page, file name of the screenshot)
    "": ("What does each architecture see", "1-home"),
    "tokenization": ("Tokenization", "2-tokenization"),
    "masks": ("Attention masks", "3-masks"),
    "objectives": ("Objectives and loss exposure", "4-objectives"),
    "losses": ("Per-token losses", "5-losses"),
    "switches": ("From encoder-decoder to decoder-only", "6-switches"),
    "chat": ("Multi-turn chat cost", "7-chat"),
    "scaling": ("Scaling and training", "8-scaling"),
}
TEXT = "It was a bright cold day in April, and the clocks were striking thirteen."
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(app_server, artifacts):
    yield app_server
    (artifacts / "browser-timings.json").write_text(json.dumps(TIMINGS, indent=1))





def query(pg) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query).items()}


def vega_marks(pg, index: int) -> str:
    """The drawn marks of the page's ``index``-th Altair (Vega-Lite) chart, as SVG: the same data draws the same paths."""
    marks = pg.locator('[data-testid="stVegaLiteChart"] svg.marks').nth(index)
    marks.wait_for(timeout=RUN_MS)
    return marks.inner_html()


def plot_data(pg, index: int):
    pg.wait_for_function(f"() => {{ const p = document.querySelectorAll('.js-plotly-plot')[{index}]; return p && p.data; }}", timeout=RUN_MS)
    return pg.evaluate(f"() => {{ const p = document.querySelectorAll('.js-plotly-plot')[{index}]; return p && p.data ? p.data.map(d => d.z || d.y) : null; }}")


def test_every_page_opens_and_is_captured(server, page, shots):
    q = "text=" + quote(TEXT)
    for path, (title, shot) in PAGES.items():
        TIMINGS[f"open /{path}"] = round(open_view(page, server, path, q), 2)
        assert title in page.locator("h1").first.inner_text()
        assert page.locator('[data-testid="stSidebarNav"]').get_by_text("Attention masks").count() == 1  # app.py's navigation
        if path:
            assert query(page).get("text") == TEXT
        capture(page, shots / f"{shot}.png")


def test_typing_text_updates_the_counts_and_the_link(server, page, shots):
    open_view(page, server, "tokenization")
    box = page.locator('[data-testid="stTextArea"] textarea').first
    box.fill("Call me Ishmael.")
    box.press("Control+Enter")
    page.wait_for_function("() => location.search.includes('Ishmael')", timeout=RUN_MS)
    settle(page)
    metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert metrics[0].strip() == f"{len(tokenize('Call me Ishmael.', 'masklab'))} tokens"
    assert query(page)["text"] == "Call me Ishmael."
    capture(page, shots / "2b-tokenization-typed.png")
    # the CSV is built when the button is clicked (not on every rerun): it holds the typed text's tokens
    with page.expect_download(timeout=RUN_MS) as download:
        page.get_by_role("button", name="Download every token (CSV)").click()
    rows = pd.read_csv(download.value.path(), keep_default_na=False)
    ours = rows[rows["encoding"] == "masklab"].sort_values("index")
    assert len(ours) == len(tokenize("Call me Ishmael.", "masklab")) and set(rows["encoding"]) >= {"masklab", "cl100k_base"}
    assert "".join("Call me Ishmael."[a:b] for a, b in zip(ours["start"], ours["end"])) == "Call me Ishmael."


def test_show_whitespace_draws_every_space_as_a_dot_without_redrawing_the_chips(server, page, shots):
    open_view(page, server, "tokenization", "text=" + quote("It was the best  of times"))
    drawn = """() => [...document.querySelectorAll('.ml-chips .ml-lsp, .ml-chips .ml-sp')].map(e => getComputedStyle(e, '::before').content)"""
    before = page.evaluate(drawn)
    assert before and set(before) == {'" "'}  # a space drawn by the style, as a space
    page.evaluate("() => { window.__chip = document.querySelector('.ml-chips .ml-chip'); }")
    page.get_by_role("switch", name="Show whitespace").click(force=True)
    page.wait_for_function("() => getComputedStyle(document.querySelector('.ml-chips .ml-lsp'), '::before').content === '\"·\"'", timeout=RUN_MS)
    settle(page)
    after = page.evaluate(drawn)
    assert len(after) == len(before) and set(after) == {'"·"'}  # every space, in every encoding's chips
    assert page.evaluate("() => window.__chip.isConnected")  # the chips were kept, not parsed and drawn again
    capture(page, shots / "2d-tokenization-whitespace.png")


def test_slider_changes_the_mask_and_the_link_reopens_it(server, page, browser):
    open_view(page, server, "masks", "archs=prefix_lm&text=" + quote(TEXT))
    before = plot_data(page, 0)
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    start = int(thumb.input_value())
    for k in range(1, 4):  # one step at a time: a rerun redraws the slider, and a key pressed meanwhile is lost
        thumb.focus()
        thumb.press("ArrowLeft")
        page.wait_for_function(f"() => new URLSearchParams(location.search).get('split') === '{start - k}'", timeout=RUN_MS)
        settle(page, 0.3)
    settle(page, 1.0)
    after = plot_data(page, 0)
    assert before != after, "the prefix-LM mask did not change with its split"
    link = page.url

    other = new_page(browser, VIEWPORT, ACTION_MS)
    TIMINGS["reopen copied /masks link"] = round(open_view(other, server, link.split("/", 3)[3]), 2)
    assert int(other.locator('[data-testid="stSlider"] input[type="range"]').first.input_value()) == start - 3
    assert plot_data(other, 0) == after
    other.context.close()


def test_the_layer_slider_reruns_only_the_maps_and_the_link_keeps_it(server, page, browser):
    """The layer and head controls live in a fragment: a step redraws the learned map and writes the link."""
    open_view(page, server, "masks", "archs=decoder&text=" + quote(TEXT))
    before = plot_data(page, 1)  # the decoder's learned attention, right of its mask
    mask = plot_data(page, 0)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Layer").locator('input[type="range"]').first
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('layer') === '2'", timeout=RUN_MS)  # the link counts layers from 1, as the slider
    settle(page, 0.5)
    assert plot_data(page, 1) != before and plot_data(page, 0) == mask
    assert "layer 2 of" in page.locator('[data-testid="stCaptionContainer"]', has_text="layer").first.inner_text()
    other = new_page(browser, VIEWPORT, ACTION_MS)
    open_view(other, server, page.url.split("/", 3)[3])
    assert other.locator('[data-testid="stSlider"]').filter(has_text="Layer").locator('input[type="range"]').first.input_value() == "2"
    other.context.close()


def test_objective_control_and_copied_link(server, page, browser):
    open_view(page, server, "objectives", "text=" + quote(TEXT))
    exposure_before = page.locator('[data-testid="stMetricValue"]').nth(2).inner_text()
    page.get_by_role("radio", name="Causal LM").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('obj') === 'clm'", timeout=RUN_MS)
    settle(page)
    exposure_after = page.locator('[data-testid="stMetricValue"]').nth(2).inner_text()
    assert exposure_before != exposure_after and float(exposure_after.rstrip("%")) > 90
    bars = vega_marks(page, 0)
    assert page.locator(".js-plotly-plot").count() == 0  # the objectives page draws with Altair only: no Plotly to load
    link = page.url

    other = new_page(browser, VIEWPORT, ACTION_MS)
    open_view(other, server, link.split("/", 3)[3])
    assert other.locator('[data-testid="stMetricValue"]').nth(2).inner_text() == exposure_after
    assert vega_marks(other, 0) == bars
    other.context.close()


def test_switches_run_the_proof(server, page, shots):
    open_view(page, server, "switches")
    for name in ("(a) One attention", "(b) Shared weights", "(c) Layer i reads layer i"):
        page.get_by_role("switch", name=name).click(force=True)
        settle(page)
    assert query(page)["sw"] == "abc"
    assert "prefix-LM" in page.locator('[data-testid="stAlert"]').first.inner_text()
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert float(values[4]) < 1e-4
    capture(page, shots / "6b-switches-abc.png")


def test_presentation_mode_and_bad_links(server, page, shots):
    open_view(page, server, "masks", "pres=1&layer=banana&text=" + quote(TEXT))
    # the presentation style is an element of the page like any other: wait for it to be drawn, then check
    page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '20px'", timeout=RUN_MS)
    assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == "20px"
    assert "ignored" in page.locator('[data-testid="stAlert"]').first.inner_text()
    capture(page, shots / "3b-masks-presentation.png")


def test_dark_theme_and_script_text_stays_inert(server, browser, shots):
    pg = new_page(browser, VIEWPORT, ACTION_MS, color_scheme="dark")
    open_view(pg, server, "tokenization", "text=" + quote("<script>alert(1)</script><img src=x onerror=alert(2)>"))
    assert not pg.dialogs
    assert pg.locator("img[src=x]").count() == 0
    bg = pg.evaluate("() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
    assert bg.startswith("rgb(17, 20, 24)")  # theme.dark's background
    capture(pg, shots / "2c-tokenization-dark.png")
    pg.context.close()


def test_a_typed_turn_is_appended_to_the_chat_and_earlier_edits_are_kept(server, page, shots):
    """A lecturer types the next turn live: it is appended, a second one too, and an edit made in the
    table before is kept (clicking "Add row" once threw the table's edits away)."""
    open_view(page, server, "chat", title="Multi-turn chat cost")
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 300, box["y"] + 35 + 16)  # the first message's cell (below the 35-px header)
    time.sleep(0.3)
    page.keyboard.press("G")  # typing into a selected cell opens its editor with what is typed
    time.sleep(0.5)
    page.keyboard.type("ood evening. What did Mr. Darcy say?", delay=20)
    time.sleep(0.3)
    page.keyboard.press("Enter")
    settle(page)
    page.wait_for_function("() => (new URLSearchParams(location.search).get('chat') || '').startsWith('u:Good evening')", timeout=ACTION_MS)
    assert query(page)["chat"].startswith("u:Good evening. What did Mr. Darcy say?")
    turns = int(page.locator('[data-testid="stMetricValue"]').first.inner_text())
    for i, message in enumerate(["And what did Jane think of him?", "She thought him proud, but she was kind to everyone."]):
        box_in = page.get_by_label("Type the next turn and press Enter")
        box_in.fill(message)
        box_in.press("Enter")
        settle(page)
        chat = query(page)["chat"].split("\n")
        assert chat[-1].endswith(message) and len(chat) == turns + i + 1, chat[-3:]
        assert chat[0].startswith("u:Good evening.")  # the edit made in the table before is still there
        assert int(page.locator('[data-testid="stMetricValue"]').first.inner_text()) == turns + i + 1
        assert box_in.input_value() == ""  # emptied for the next turn
    assert [line[0] for line in query(page)["chat"].split("\n")][-2:] == ["u", "a"]  # roles alternate
    capture(page, shots / "chat-extended.png")


def test_the_tab_icon_comes_from_the_app_not_the_internet(server, page):
    """The tab icon was a Material icon fetched from a CDN, so offline (a lecture hall's network) it failed."""
    open_view(page, server, "", title=PAGES[""][0])
    icons = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icons and all(h.startswith(server) or h.startswith("data:") for h in icons), icons
    assert page.evaluate("async h => (await fetch(h)).status", icons[0]) == 200
