"""The app on a projector: 1280 x 720, presentation mode on and off. Every heatmap's tick labels stay
apart, and the labels of the controls are shown whole. Screenshots go to
``$MASKLAB_ARTIFACTS/screenshots/`` (unset: a temporary folder)."""

import time
from urllib.parse import quote

import pytest

from conftest import FIXTURE_CORPUS, capture, new_page, open_view

pytestmark = pytest.mark.e2e

VIEWPORT = (1280, 720)
ACTION_MS = 30_000
SHORT = "It was a bright cold day in April, and the clocks were striking thirteen."  # 21 tokens
LONG = (FIXTURE_CORPUS / "valid.txt").read_text(encoding="utf-8")[:1250]  # 300 tokens

# Every tick label of every Plotly chart, grouped by chart and axis (a colour bar is an axis of its
# own), with its box on the screen; the pairs on one axis whose boxes overlap; and the labels that reach
# past the chart's own box (the maps let Plotly draw labels without measuring each against the page:
# charts.TICK_OVERFLOW, so the margins must hold them); and how far the cells start from their row labels.
TICK_OVERLAPS = """() => {
  const charts = [];
  document.querySelectorAll('.js-plotly-plot').forEach((plot, i) => {
    const axes = {}, outside = [];
    const box = plot.getBoundingClientRect();
    plot.querySelectorAll('.xtick text, .ytick text, .cbaxis text').forEach(t => {
      const axis = t.closest('g.colorbar') ? 'colorbar' : (t.closest('[class*="axislayer"]') || t.parentNode).getAttribute('class');
      const r = t.getBoundingClientRect();
      if (r.width && r.height && t.textContent.trim()) (axes[axis] = axes[axis] || []).push({text: t.textContent, l: r.left, r: r.right, t: r.top, b: r.bottom});
      if (r.width && r.height && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)) outside.push(t.textContent);
    });
    const overlaps = [];
    for (const [axis, boxes] of Object.entries(axes))
      for (let a = 0; a < boxes.length; a++) for (let c = a + 1; c < boxes.length; c++) {
        const A = boxes[a], B = boxes[c];
        if (A.l < B.r - 0.5 && B.l < A.r - 0.5 && A.t < B.b - 0.5 && B.t < A.b - 0.5) overlaps.push(`${axis}: ${A.text} / ${B.text}`);
      }
    charts.push({index: i, heatmap: !!plot.querySelector('.hm, image'), counts: Object.fromEntries(Object.entries(axes).map(([k, v]) => [k, v.length])), overlaps, outside,
                 gap: (() => { const cells = plot.querySelector('.hm image, .heatmaplayer image'), ys = [...plot.querySelectorAll('.ytick text')];
                               if (!cells || !ys.length) return null;
                               return cells.getBoundingClientRect().left - Math.max(...ys.map(t => t.getBoundingClientRect().right)); })()});
  });
  return charts;
}"""


@pytest.fixture(scope="module")
def server(artifacts):
    """``streamlit run app.py`` without looking for published checkpoints (MaskLab's own models load in seconds)."""
    from bench.load_test import server as streamlit_server

    with streamlit_server(env={"MASKLAB_FIND_PUBLISHED": "0", "OMP_NUM_THREADS": "1"}, log=artifacts / "streamlit-projector.log",
                          flags=["--server.headless", "true", "--browser.gatherUsageStats", "false"]) as (url, _pid):
        yield url





def heatmaps_in_every_tab(pg) -> list[dict]:
    """TICK_OVERLAPS's heatmaps, each measured while it is on show: the learned maps sit in a tab per
    architecture, and a hidden tab's labels have no box. In page order."""
    seen = {}
    tabs = pg.get_by_role("tab")
    for i in range(max(1, tabs.count())):
        if tabs.count():
            tabs.nth(i).click()
            time.sleep(0.8)
        for c in pg.evaluate(TICK_OVERLAPS):
            if c["heatmap"] and c["counts"]:
                seen.setdefault(c["index"], c)
    return [seen[i] for i in sorted(seen)]


@pytest.mark.slow
@pytest.mark.parametrize("pres", [0, 1], ids=["plain", "presenting"])
@pytest.mark.parametrize("length", ["short", "long"])
def test_masks_heatmap_labels_never_overlap(server, browser, shots, pres, length):
    pg = new_page(browser, VIEWPORT, ACTION_MS)
    text = SHORT if length == "short" else LONG
    open_view(pg, server, "masks", f"pres={pres}&text={quote(text)}", title="Attention masks")
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .xtick text').length > 0")
    time.sleep(1.0)
    heatmaps = heatmaps_in_every_tab(pg)
    # the four rules in one figure (one label column), three learned maps, the encoder-decoder's learned maps, the sentinels
    assert len(heatmaps) >= 6, heatmaps
    n_rules = next(i for i, c in enumerate(heatmaps) if c["counts"].get("xaxislayer-above"))  # the rules' figures name the key axis once, unlabelled
    rules, maps = heatmaps[:n_rules], heatmaps[n_rules:]
    assert 1 <= len(rules) <= 4 and (length == "long" or len(rules) == 1), rules  # a sentence's four rules share one figure
    for c in rules:
        assert c["counts"].get("yaxislayer-above", 0) >= 2 and not c["overlaps"] and not c["outside"], c
    for c in maps:
        assert c["counts"].get("xaxislayer-above", 0) >= 2 and c["counts"].get("yaxislayer-above", 0) >= 1, c
        assert not c["overlaps"], f"heatmap {c['index']}: {c['overlaps'][:5]}"
        assert not c["outside"], f"heatmap {c['index']}: labels past the chart: {c['outside'][:5]}"
        assert c["gap"] is None or c["gap"] < 24, f"heatmap {c['index']}: its cells start {c['gap']:.0f} px from their row labels"
    if length == "short":  # 21 tokens: every one keeps its label on the encoder-only's learned map
        assert maps[0]["counts"]["xaxislayer-above"] == 21 and maps[0]["counts"]["yaxislayer-above"] == 21
    capture(pg, shots / f"masks-{length}-{'presenting' if pres else 'plain'}-1280x720.png")
    pg.context.close()


EIFFEL = "The Eiffel Tower stands 324 meters tall in Paris, France."  # 20 of MaskLab's tokens


@pytest.mark.slow
@pytest.mark.parametrize("pres", [0, 1], ids=["plain", "presenting"])
def test_a_sentences_four_rules_share_the_first_screen_and_the_page_stays_short(server, browser, shots, pres):
    """A 20-token sentence: the four architectures' rules side by side in one figure whose top is on the
    first screen at 1280x720, and the whole page (rules, learned maps, the encoder-decoder's parts and its
    sentinels) within about three screen heights, measured in the page with each architecture's tab open;
    when every map was full width and stacked it was 7,590 px plain."""
    pg = new_page(browser, VIEWPORT, ACTION_MS)
    open_view(pg, server, "masks", f"pres={pres}&text={quote(EIFFEL)}", title="Attention masks")
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=120_000)
    time.sleep(1.0)
    first = pg.evaluate("""() => { const p = document.querySelector('.js-plotly-plot'); const r = p.getBoundingClientRect();
                                   const cells = [...p.querySelectorAll('g.hm image, g.hm')].map(c => c.getBoundingClientRect().bottom);
                                   return {top: r.top, bottom: r.bottom, plot_bottom: Math.max(...cells), panels: p.querySelectorAll('g.hm').length}; }""")
    assert first["panels"] == 4, first  # encoder-only, decoder-only, prefix-LM, encoder-decoder: one figure
    assert first["top"] < VIEWPORT[1] - 100, f"the rules start {first['top']:.0f} px down, below the first screen"
    # the four maps whole on the first screen (the key axis's title may fall below; presenting, the input length is in the sidebar)
    assert first["plot_bottom"] <= VIEWPORT[1], f"the rules' cells end {first['plot_bottom']:.0f} px down, past the first screen"
    # the learned maps sit in a tab per architecture: the page is as tall as the tab shown, the
    # encoder-decoder's (its three maps, its reading measured, its sentinels) the tallest
    heights = {}
    for tab in ("encoder-only", "decoder-only", "prefix-LM", "encoder-decoder"):
        pg.get_by_role("tab", name=tab).click()
        pg.wait_for_function("(t) => [...document.querySelectorAll('[role=tab][aria-selected=true]')].some(e => e.innerText.trim() === t)", arg=tab)
        time.sleep(0.8)
        heights[tab] = pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    limit = {0: 2_400, 1: 2_500}[pres]  # measured 2,191 and 2,323 px for the encoder-decoder (7,590 when every map was stacked)
    assert max(heights.values()) <= limit, f"the masks page is {heights} px tall for one sentence"
    capture(pg, shots / f"masks-sentence-{'presenting' if pres else 'plain'}-1280x720.png")
    pg.context.close()


@pytest.mark.slow
def test_layer_and_head_stay_reachable_when_presenting(server, browser):
    pg = new_page(browser, VIEWPORT, ACTION_MS)
    open_view(pg, server, "masks", f"pres=1&archs=decoder&text={quote(SHORT)}", title="Attention masks")
    sidebar = pg.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("Head", exact=True).is_visible()
    # the layer's slider (the input length's is in the sidebar too, above it)
    thumb = sidebar.locator('[data-testid="stSlider"]', has=pg.get_by_text("Layer", exact=True)).locator('input[type="range"]').first
    thumb.focus()
    thumb.press("ArrowRight")
    pg.wait_for_function("() => new URLSearchParams(location.search).get('layer') === '2'", timeout=60_000)  # counted from 1, as the slider
    pg.context.close()


# Each element drawn: its own text, and whether it is cut: wider content than its box (an ellipsis or a
# scroll), or a box reaching past the edge of an enclosing box that hides what overflows it.
WHOLE = """(selector) => [...document.querySelectorAll(selector)].filter(e => e.getBoundingClientRect().width > 0).map(e => {
  const box = e.getBoundingClientRect();
  // text for screen readers only (a 1-px box, overflow hidden: a toggle's state) is hidden on purpose, not cut
  const inner = [e, ...e.querySelectorAll('*')].some(x => x.clientWidth > 1 && x.scrollWidth > x.clientWidth + 1 && getComputedStyle(x).overflowX !== 'visible');
  let outer = false;
  for (let a = e.parentElement; a; a = a.parentElement) {
    if (getComputedStyle(a).overflowX === 'visible') continue;
    const r = a.getBoundingClientRect();
    if (box.right > r.right + 1 || box.left < r.left - 1) { outer = true; break; }
  }
  return {text: e.innerText.trim(), cut: inner || outer};
})"""
CONTROLS = {  # page, link, viewport, the buttons' selector, the labels each must show whole
    "ul2-denoiser": ("objectives", "obj=ul2", (1400, 900), '[data-testid="stButtonGroup"] button',
                     ["drawn by the seed", "R: regular", "S: sequential", "X: extreme"]),
    "encodings": ("tokenization", "", (1400, 900), '[data-testid="stButtonGroup"] button',
                  ["MaskLab 8k (ours)", "GPT-2 (r50k_base)", "Codex (p50k_base)", "GPT-3.5/4 (cl100k_base)", "GPT-4o (o200k_base)"]),
    "architectures-presenting": ("masks", "pres=1", VIEWPORT, '[data-testid="stButtonGroup"] button',
                                 ["encoder-only", "decoder-only", "prefix-LM", "encoder-decoder"]),
    "exposure-metrics": ("objectives", "obj=span_corruption", VIEWPORT, '[data-testid="stMetricLabel"]',
                         ["Tokens in the text", "Text tokens supervised", "Loss exposure", "Target positions with a loss", "Model reads"]),
    "exposure-metrics-presenting": ("objectives", "obj=span_corruption&pres=1", VIEWPORT, '[data-testid="stMetricLabel"]',
                                    ["Tokens in the text", "Text tokens supervised", "Loss exposure", "Target positions with a loss", "Model reads"]),
    "resample-presenting": ("objectives", "obj=span_corruption&pres=1", VIEWPORT, '[data-testid="stButton"] button', ["Resample"]),
    "encoding-metrics-presenting": ("tokenization", "pres=1", VIEWPORT, '[data-testid="stMetricLabel"]',
                                    ["MaskLab 8k (ours)", "GPT-2 (r50k_base)", "Codex (p50k_base)", "GPT-3.5/4 (cl100k_base)", "GPT-4o (o200k_base)"]),
    "switches-presenting": ("switches", "pres=1", VIEWPORT, '[data-testid="stCheckbox"] label',
                            ["(a) One attention", "(b) Shared weights", "(c) Layer i reads layer i", "(d) Causal input"]),
    "switch-metrics-presenting": ("switches", "pres=1", VIEWPORT, '[data-testid="stMetricLabel"]',
                                  ["Parameters, with these switches", "Decoder-only of the same width", "Forward FLOPs per token", "Decoder-only FLOPs per token",
                                   "Max |logit difference| vs prefix-LM", "Max |logit difference| vs decoder-only", "Parameters (demo model / single stack)"]),
    "chat-metrics-presenting": ("chat", "pres=1", VIEWPORT, '[data-testid="stMetricLabel"]',
                                ["Turns", "Tokens encoded, bidirectional", "Tokens encoded, causal + cache", "FLOPs, bidirectional ÷ causal"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CONTROLS))
def test_control_labels_are_shown_whole(server, browser, shots, case):
    path, link, viewport, selector, labels = CONTROLS[case]
    pg = new_page(browser, viewport, ACTION_MS)
    open_view(pg, server, path, f"{link}&text={quote(SHORT)}")
    # the buttons can be drawn after the page's title (a sidebar while presenting): wait for all of them
    pg.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[selector, len(labels)], timeout=ACTION_MS)
    time.sleep(0.3)
    shown = {b["text"].split("\n")[-1]: b["cut"] for b in pg.evaluate(WHOLE, selector)}  # a button's icon comes first, a line of its own
    for label in labels:
        assert label in shown, (label, list(shown))
        assert not shown[label], f"{label!r} is cut"
    pg.screenshot(path=str(shots / f"controls-{case}.png"))
    pg.context.close()


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [(1400, 900), VIEWPORT], ids=["1400", "1280"])
def test_loss_summary_and_probe_titles_are_shown_whole(server, browser, shots, viewport):
    pg = new_page(browser, viewport, ACTION_MS)
    open_view(pg, server, "losses", f"text={quote(SHORT)}", title="Per-token losses")
    grid = pg.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    fits = """() => { const s = document.querySelector('[data-testid="stDataFrame"] .dvn-scroller'); return s && s.scrollWidth <= s.clientWidth + 1; }"""
    try:  # the grid sizes its columns after its first paint: give it a moment to settle before measuring
        pg.wait_for_function(fits, timeout=15_000)
    except Exception:
        pass  # measured as it stands, and the assertion says by how much
    widths = grid.evaluate("g => { const s = g.querySelector('.dvn-scroller'); return [s.scrollWidth, s.clientWidth]; }")
    assert widths[0] <= widths[1] + 1, f"the summary table is {widths[0]} px wide in {widths[1]} px: its last columns are cut"
    # the page's charts are Altair's (Vega-Lite, drawn as SVG): titles and axis titles inside the chart's box
    chart = pg.locator('[data-testid="stVegaLiteChart"]', has=pg.locator(".role-title-text", has_text="Probes")).first
    chart.wait_for()
    boxes = chart.evaluate("""p => { const r = p.getBoundingClientRect();
        return [...p.querySelectorAll('.role-axis-title text, .role-title-text text, .role-title-text')].map(t => { const b = t.getBoundingClientRect();
          return {text: t.textContent, inside: b.left >= r.left - 1 && b.right <= r.right + 1 && b.top >= r.top - 1 && b.bottom <= r.bottom + 1}; }); }""")
    assert any(b["text"] == "margin (nats)" for b in boxes), boxes
    assert all(b["inside"] for b in boxes), boxes
    # the loss strip's token labels, thinned to the room, never overlap
    strip = pg.locator('[data-testid="stVegaLiteChart"]', has=pg.locator(".role-title-text", has_text="Loss per token")).first
    labels = strip.evaluate("""p => [...p.querySelectorAll('.role-axis-label text')].map(t => { const b = t.getBoundingClientRect();
        return {text: t.textContent, l: b.left, r: b.right, t: b.top, b: b.bottom}; }).filter(b => b.r > b.l)""")
    assert len(labels) >= 10, labels  # the short text's tokens and the models' names
    clash = [(a["text"], c["text"]) for i, a in enumerate(labels) for c in labels[i + 1:]
             if a["l"] < c["r"] - 0.5 and c["l"] < a["r"] - 0.5 and a["t"] < c["b"] - 0.5 and c["t"] < a["b"] - 0.5]
    assert not clash, clash
    pg.screenshot(path=str(shots / f"losses-summary-{viewport[0]}.png"))
    pg.context.close()


BUSY = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const running = app && app.getAttribute('data-test-script-state') === 'running';
  const banner = app ? getComputedStyle(app, '::before') : null;
  const spinners = [...document.querySelectorAll('[data-testid="stSpinner"]')].map(s => s.getBoundingClientRect())
    .filter(r => r.width > 0 && r.height > 0 && r.top >= 0 && r.bottom <= 120);  // at the top of the screen, where the audience looks
  return {running, banner: !!banner && banner.content.includes('Working') && banner.opacity === '1', spinner: spinners.length > 0,
          spinnerText: [...document.querySelectorAll('[data-testid="stSpinner"]')].map(s => s.innerText).join(' | ')};
}"""


@pytest.mark.slow
def test_a_long_run_says_so_at_the_top_of_the_screen_when_presenting(server, browser, shots):
    """Presenting hid Streamlit's running sign: a long scoring showed nothing. Now a run past a second
    shows "Working…" at the top of the screen, and the spinner that names what runs sits there too."""
    pg = new_page(browser, VIEWPORT, 120_000)
    open_view(pg, server, "losses", "pres=1&variants=decoder-clm,encoder-mlm,encdec-span", title="Per-token losses")
    text = (FIXTURE_CORPUS / "valid.txt").read_text(encoding="utf-8")[:9000]  # about 2,000 tokens: seconds of scoring
    box = pg.locator('[data-testid="stTextArea"] textarea').first
    box.fill(text)
    box.press("Control+Enter")
    seen, started = [], time.monotonic()
    while time.monotonic() - started < 110:
        state = pg.evaluate(BUSY)
        seen.append((round(time.monotonic() - started, 1), state))
        if state["banner"] or state["spinner"]:
            pg.screenshot(path=str(shots / "projector-busy.png"))
            break
        if not state["running"] and time.monotonic() - started > 5:
            break
        time.sleep(0.2)
    long_run = [t for t, s in seen if s["running"]]
    assert long_run and long_run[-1] > 1.0 or any(s["banner"] or s["spinner"] for _, s in seen), seen[-5:]  # the run took over a second
    assert any(s["banner"] or s["spinner"] for _, s in seen), seen[-5:]
    pg.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
    assert not pg.evaluate(BUSY)["banner"]  # gone when the run ends
    pg.context.close()


@pytest.mark.slow
@pytest.mark.parametrize("pres", [0, 1], ids=["plain", "presenting"])
def test_the_composer_compares_real_models_patterns_and_its_link_restores_them(server, browser, shots, pres):
    """Gemma 3's five local layers to one global, beside StreamingLLM's sinks and window: one figure, the
    receptive field growing layer by layer, and a typed pattern carried by the link into a fresh page."""
    from engine.masks import PRESETS

    gemma = next(v for k, v in PRESETS.items() if k.startswith("Gemma 3"))
    streaming = next(v for k, v in PRESETS.items() if k.startswith("StreamingLLM"))
    pg = new_page(browser, VIEWPORT, ACTION_MS)
    open_view(pg, server, "compose", f"pres={pres}&text={quote(SHORT)}&pats={quote(gemma + chr(10) + streaming)}", title="Compose attention masks")
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot g.hm').length === 2", timeout=120_000)
    # the blocks and the receptive field (Vega-Lite's charts may mount after Plotly's maps have drawn)
    pg.wait_for_function("() => document.querySelectorAll('[data-testid=stVegaLiteChart]').length >= 2", timeout=60_000)
    box = pg.locator('[data-testid="stTextInput"] input').first
    box.fill("causal & chunk(4)")
    box.press("Enter")
    pg.wait_for_function("() => (new URLSearchParams(location.search).get('pats') || '').startsWith('causal & chunk(4)')", timeout=60_000)
    link = pg.url
    capture(pg, shots / f"compose-{'presenting' if pres else 'plain'}-1280x720.png")
    pg.context.close()
    fresh = new_page(browser, VIEWPORT, ACTION_MS)
    fresh.goto(link)
    fresh.wait_for_function("() => document.querySelectorAll('[data-testid=stTextInput] input').length === 2", timeout=120_000)
    values = fresh.eval_on_selector_all('[data-testid="stTextInput"] input', "els => els.map(e => e.value)")
    assert values == ["causal & chunk(4)", streaming], values
    fresh.context.close()


TEXT_SIZES = """() => {
  const px = el => parseFloat(getComputedStyle(el).fontSize);
  const cells = [...document.querySelectorAll('.ml-grid td, .ml-grid th')].map(px);
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(c => ({
    title: (c.querySelector('.role-title-text') || {}).textContent || '',
    ticks: [...c.querySelectorAll('.role-axis-label text')].map(t => parseFloat(t.getAttribute('font-size') || px(t)))}));
  return {cells, charts, grids: document.querySelectorAll('[data-testid="stDataFrame"]').length};
}"""


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_presenting_every_table_and_axis_reads_from_the_back_of_a_hall(server, browser, shots, scheme):
    """Presenting, the loss summary and the probes were Streamlit's data grid at 14 px and chart ticks 15 px:
    now tables are in the page's type (20 px) and ticks 18 px, in both themes."""
    pg = new_page(browser, VIEWPORT, ACTION_MS, color_scheme=scheme)
    open_view(pg, server, "losses", f"pres=1&text={quote(SHORT)}", title="Per-token losses")
    pg.locator(".ml-grid td").first.wait_for()
    pg.locator('[data-testid="stVegaLiteChart"]', has=pg.locator(".role-title-text", has_text="Probes")).locator(".role-axis-label text").first.wait_for()
    sizes = pg.evaluate(TEXT_SIZES)
    assert sizes["grids"] == 0, "a canvas data grid is left on the projected page"
    assert len(sizes["cells"]) > 20 and min(sizes["cells"]) >= 19, sizes["cells"][:10]
    ticks = {c["title"]: c["ticks"] for c in sizes["charts"] if c["ticks"]}
    assert any("Probes" in t for t in ticks), list(ticks)
    for title, t in ticks.items():  # the loss strip's token labels are sized to label every token: 16 px; every other tick 18
        assert min(t) >= (16 if "Loss per token" in title else 18), (title, sorted(t)[:5])
    pg.screenshot(path=str(shots / f"projector-text-sizes-{scheme}.png"))
    pg.context.close()
