"""Every page of the app in Chromium: what a lecturer waits for after each action.

Per page (``PAGES``), against one warm server (``python -m ui.serve``, models loaded first):

- *first view*: a fresh browser context opens the page; from navigation to its first chart drawn
  (Plotly's or Vega-Lite's), or, on a page without a chart, to its script's first run having finished
  and the browser having painted;
- *text edit*: from the keystroke (Ctrl+Enter in the text box, a new text of n tokens each time, so
  no cache helps) to the page's script having finished and the browser having painted twice since
  (two animation frames: what the script sent is on screen);
- *control*: from the input event (a click on a toggle or an option, an arrow key on a slider) to the
  same; each repetition moves the control the other way, so nothing is a no-op. On a page with the
  text box, at each text length (after that length's edits: ``controls`` by length; ``control``, the
  longest), since a control redraws what the text fills;
- of each edit and control step, the part *to the run's end* (``to_run_end``): from the input event to
  the moment the page saw the script's run end. Until then the server runs the script and the browser
  draws what arrives; the rest of the step is the browser drawing after the run (Plotly's maps, say).

The start is the input event's own time in the page (``performance.now()`` in a capturing listener),
so Playwright's round trips are not counted. A run is "finished" when Streamlit's app element leaves
``data-test-script-state="running"``, which a fragment's rerun sets too.

Also: the server's resident memory (its whole process group) with the models loaded, after the
visits above, and after ``sessions`` more browser sessions each open every page with its own text.
"""

import time
from pathlib import Path

from bench.browser import ARGS, CHROMIUM, IDLE, free_port, settle, start_server, stop_server, wait_healthy

TEXT_BOX = '[data-testid="stTextArea"] textarea'
# url path -> (has the text box, (kind of control, its label or the two options it toggles between))
PAGES = {
    "": (True, None),
    "tokenization": (True, ("switch", "Show whitespace")),
    "masks": (True, ("slider", "Layer")),
    "compose": (True, ("radio", ("1", "2"))),  # patterns side by side
    "objectives": (True, ("radio", ("BERT masked LM", "T5 span corruption"))),
    "losses": (True, ("radio", ("In the novels' words", "Next-word prediction is multi-task"))),
    "switches": (False, ("switch", "(a) One attention")),
    "chat": (False, ("radio", ("small", "medium"))),
    "scaling": (False, ("radio", ("training FLOPs", "corpus tokens"))),
}
CHART = ".js-plotly-plot .main-svg, [data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"

# Arms a one-shot probe: the next input event's time, then the time two frames after the script's run ends.
ARM = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const m = window.__ml = {t0: null, ran: false, end: null, done: null};
  if (window.__mlObs) window.__mlObs.disconnect();
  const start = e => { if (m.t0 === null) m.t0 = e.timeStamp || performance.now(); };
  for (const ev of ['keydown', 'pointerdown']) document.addEventListener(ev, start, {capture: true, once: true});
  window.__mlObs = new MutationObserver(records => {
    // a run that starts and ends between two callbacks shows only its end: its start is in the records' old values
    if (records.some(r => r.oldValue === 'running')) m.ran = true;
    const s = app.getAttribute('data-test-script-state');
    if (s === 'running') m.ran = true;
    else if (m.ran && m.done === null) { m.end = performance.now(); m.done = 0; requestAnimationFrame(() => requestAnimationFrame(() => { m.done = performance.now(); })); }
  });
  window.__mlObs.observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
}"""
# The same probe for a page whose script takes too little time for its running state to reach the page
# (bench/floor_app.py: React applies "running" and "not running" in one render): the step ends when the
# page's first text element (the script's one output) changes.
ARM_OUTPUT = """() => {
  const m = window.__ml = {t0: null, ran: false, end: null, done: null};
  if (window.__mlObs) window.__mlObs.disconnect();
  const start = e => { if (m.t0 === null) m.t0 = e.timeStamp || performance.now(); };
  for (const ev of ['keydown', 'pointerdown']) document.addEventListener(ev, start, {capture: true, once: true});
  const output = () => (document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="stMarkdown"]') || {}).textContent;
  const before = output();
  window.__mlObs = new MutationObserver(() => {
    if (m.done === null && output() !== before) {
      m.ran = true; m.end = performance.now(); m.done = 0;
      requestAnimationFrame(() => requestAnimationFrame(() => { m.done = performance.now(); }));
    }
  });
  window.__mlObs.observe(document.querySelector('[data-testid="stApp"]'), {subtree: true, childList: true, characterData: true});
}"""
DONE = "() => window.__ml && window.__ml.done > 0 && window.__ml.t0 !== null"
ELAPSED = "() => window.__ml.done - window.__ml.t0"
# of that: from the input event to the run's end as the page saw it (the script's time, the page
# drawing what arrived meanwhile), then from there to painted (what the browser draws after the run)
RUN_PART = "() => window.__ml.end - window.__ml.t0"
# every Plotly figure on the page as Plotly holds it (data and layout, JSON), in page order: what
# bench/floors.py draws again with Plotly alone (``figures``)
FIGURES = "() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => JSON.stringify({data: gd.data, layout: gd.layout}))"
# every Plotly chart element of the page has been drawn (Plotly's bundle loads after the first run ends)
FIGURES_DRAWN = """() => { const c = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  return c.length > 0 && c.every(x => x.querySelector('.js-plotly-plot .main-svg')); }"""


def rss_mb(pid: int) -> float:
    """Resident memory of the process group led by ``pid``, in MB (10^6 bytes), from /proc."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pid:  # the process group id
                continue
            for line in (status.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e6


def _timed(page, action, timeout_ms: int, arm: str = ARM) -> float:
    """Milliseconds from the input event ``action`` causes to the rerun's end, painted (``arm``: the
    probe, ``ARM`` or ``ARM_OUTPUT``). Raises TimeoutError saying what the page showed (input seen, a
    run seen) when no run ends in time."""
    page.evaluate(arm)
    action()
    return _finish(page, timeout_ms)


def _finish(page, timeout_ms: int) -> float:
    """After an armed action: wait for the run's end, painted; its milliseconds from the input event;
    then let the page settle. TimeoutError saying what the probe saw when no run ends in time."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(DONE, polling="raf", timeout=timeout_ms)
    except PlaywrightTimeout as e:
        seen = page.evaluate("() => JSON.stringify(window.__ml)")
        state = page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]').getAttribute('data-test-script-state')")
        raise TimeoutError(f"no run ended within {timeout_ms / 1e3:.0f} s of the action (probe {seen}, script state {state!r})") from e
    ms = float(page.evaluate(ELAPSED))
    settle(page, timeout_ms, 0.3)
    return ms


def _edit(page, box, text: str, timeout_ms: int, got: dict, arm: str = ARM) -> float:
    """A text edit, timed as _timed does: the text typed into ``box``, then Ctrl+Enter. Sometimes the
    page sees the keystroke and the box holds the text, yet no run follows (the quick run's pages, in
    fresh-clone runs; the cause is not known): when none has begun 15 s after the keystroke, the text
    is typed again (then with a trailing space, a value the page cannot already hold, leaving the box)
    and the edit timed from that keystroke (counted in ``got["edit_retries"]``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in (1, 2, 3):
        box.fill(text + " " * (attempt - 1))
        page.evaluate(arm)
        box.press("Control+Enter")
        if attempt > 1:  # and leave the box: Streamlit also applies a changed text when it loses focus
            box.press("Tab")
        try:
            page.wait_for_function("() => window.__ml.ran || window.__ml.done !== null", polling="raf", timeout=15_000)
        except PlaywrightTimeout:
            if attempt == 3:
                raise TimeoutError(f"no run began within 15 s of three keystrokes (probe {page.evaluate('() => JSON.stringify(window.__ml)')}, "
                                   f"text box holds the text: {box.input_value() == text + '  '})") from None
            got["edit_retries"] = got.get("edit_retries", 0) + 1
            settle(page, timeout_ms, 0.3)
            continue
        return _finish(page, timeout_ms)
    raise AssertionError("unreachable")


def figures(page, timeout_ms: int) -> list[str]:
    """The page's Plotly figures (``FIGURES``), once every Plotly chart on it has been drawn."""
    page.wait_for_function(FIGURES_DRAWN, polling=100, timeout=timeout_ms)
    return page.evaluate(FIGURES)


def _control(page, kind: str, what, flip: int):
    """The action that moves a page's control once (``flip`` alternates its direction)."""
    if kind == "switch":
        return lambda: page.get_by_role("switch", name=what).click(force=True)
    if kind == "radio":
        return lambda: page.get_by_role("radio", name=what[flip % 2], exact=True).click()
    if kind == "slider":
        thumb = page.locator('[data-testid="stSlider"]').filter(has_text=what).locator('input[type="range"]').first

        def press():
            thumb.focus()
            thumb.press("ArrowRight" if flip % 2 == 0 else "ArrowLeft")
        return press
    raise ValueError(f"unknown control kind {kind!r}")


def _first_view(browser, url: str, has_chart: bool, timeout_ms: int) -> float:
    page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    try:
        start = time.perf_counter()
        page.goto(url)
        if has_chart:
            page.wait_for_selector(CHART, state="attached", timeout=timeout_ms)
        else:
            page.wait_for_selector('[data-testid="stMainBlockContainer"] [data-testid="stMarkdown"]', timeout=timeout_ms)
            page.wait_for_selector(IDLE, timeout=timeout_ms)
        return 1e3 * (time.perf_counter() - start)
    finally:
        page.context.close()


def measure(sizes: list[int], reps: int, texts_for, log: Path, sessions: int = 8, timeout_s: float = 240, pages=None,
            launcher: str = "python -m ui.serve", figures_of=(), arm: str = ARM) -> dict:
    """Per page: first view (ms), text edits by length (ms each), control steps (ms each); server memory (MB).

    ``texts_for(n, count)`` gives ``count`` different texts of n tokens. ``launcher``: how the server
    starts (``bench.browser.start_server``); ``arm``: the probe of a step (``ARM``, or ``ARM_OUTPUT``
    for a page too quick for its running state to show). For the paths in ``figures_of``, the page's Plotly figures
    before and after a step (``FIGURES``): ``out["figures"][path]`` = {"edits": {n: (before, after)},
    "controls": {n: (before, after)}}, the last edit at n and the control's first step at n.
    Returns {"pages": {path: {...}}, "memory_mb": {...}, "errors": [...], "figures": {...}}; a page
    that fails is reported in "errors", the others go on."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    timeout_ms = int(timeout_s * 1000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = {"pages": {}, "memory_mb": {}, "errors": [], "figures": {}}
    proc = start_server(port, log, launcher)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                wait_healthy(base, proc, timeout_s)
                out["memory_mb"]["models loaded"] = rss_mb(proc.pid)
                for path, (has_text, control) in (pages or PAGES).items():
                    got = out["pages"][path or "home"] = {"edits": {}, "control": []}
                    step = "first view"
                    try:
                        url = f"{base}/{path}"
                        probe = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
                        probe.goto(url)  # the page's own first run, so that the next visit finds the server's caches warm
                        probe.wait_for_selector(IDLE, timeout=timeout_ms)
                        try:  # a chart's library loads after the run ends: give it time before deciding there is none
                            probe.wait_for_selector(CHART, state="attached", timeout=10_000)
                            has_chart = True
                        except PlaywrightTimeout:
                            has_chart = False
                        probe.context.close()
                        got["chart"] = has_chart
                        got["first_view"] = [_first_view(browser, url, has_chart, timeout_ms) for _ in range(reps)]
                        page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
                        page.set_default_timeout(timeout_ms)
                        page.goto(url)
                        settle(page, timeout_ms, 0.3)
                        if control:
                            got["control_label"] = control[1] if isinstance(control[1], str) else " / ".join(control[1])

                        run = got["to_run_end"] = {"edits": {}, "controls": {}}  # of each step: the input event to the run's end (ms)
                        figs = {"edits": {}, "controls": {}} if path in figures_of else None
                        if figs is not None:
                            out["figures"][path] = figs

                        def steps(at) -> list[float]:
                            kind, what = control
                            out_ms, run["controls"][at] = [], []
                            for k in range(reps + 1):  # the first step is a warm-up: it may compute what the other position needs
                                before = figures(page, timeout_ms) if figs is not None and k == 0 else None
                                ms = _timed(page, _control(page, kind, what, k), timeout_ms, arm)
                                if before is not None:
                                    figs["controls"][at] = (before, figures(page, timeout_ms))
                                if k:
                                    out_ms.append(ms)
                                    run["controls"][at].append(float(page.evaluate(RUN_PART)))
                            return out_ms

                        if has_text:
                            box = page.locator(TEXT_BOX).first
                            got["controls"] = {}
                            for n in sizes:
                                got["edits"][n], run["edits"][n] = [], []
                                for i, text in enumerate(texts_for(n, reps)):
                                    step = f"text edit {i + 1} at {n:,} tokens"
                                    shown = figures(page, timeout_ms) if figs is not None and i == reps - 1 else None
                                    got["edits"][n].append(_edit(page, box, text, timeout_ms, got, arm))
                                    run["edits"][n].append(float(page.evaluate(RUN_PART)))
                                if figs is not None:  # the figures the last edit replaced, and its own
                                    figs["edits"][n] = (shown, figures(page, timeout_ms))
                                if control:  # on the text of n tokens just typed: a control redraws what the text fills
                                    step = f"control at {n:,} tokens"
                                    got["controls"][n] = steps(n)
                            if control:
                                got["control"] = got["controls"][sizes[-1]]
                        elif control:
                            step = "control"
                            got["control"] = steps("")
                        if page.locator('[data-testid="stException"]').count():
                            out["errors"].append(f"/{path}: " + page.locator('[data-testid="stException"]').first.inner_text()[:300])
                        page.context.close()
                    except Exception as e:  # one page failing must not lose the others' numbers
                        out["errors"].append(f"/{path}, {step}: {type(e).__name__}: {str(e)[:400]}")
                out["memory_mb"]["after every page"] = rss_mb(proc.pid)
                if sessions:
                    out["memory_mb"][f"after {sessions} more sessions"] = _sessions(browser, base, sessions, texts_for, timeout_ms, proc.pid)
            finally:
                browser.close()
    finally:
        stop_server(proc)
    return out


def _sessions(browser, base: str, sessions: int, texts_for, timeout_ms: int, pid: int) -> float:
    """``sessions`` browser sessions open at once, each visiting every text page with its own text; the
    server's resident memory (MB) while they are all still open."""
    from urllib.parse import quote

    pages, own = [], texts_for(128, sessions)
    for i in range(sessions):
        page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        page.set_default_timeout(timeout_ms)
        pages.append(page)
        for path, (has_text, _) in PAGES.items():
            page.goto(f"{base}/{path}?text={quote(own[i])}" if has_text else f"{base}/{path}")
            settle(page, timeout_ms, 0.3)
    mb = rss_mb(pid)
    for page in pages:
        page.context.close()
    return mb
