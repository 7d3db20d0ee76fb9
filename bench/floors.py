"""Floors of a page step in the browser: what no page of the app can beat on this machine.

Two parts, each measured in the same run as the pages (``bench/pages.py``):

- *Streamlit's own step*: ``bench/floor_app.py``, a page with the same text box and toggle and one line
  of text, timed exactly as the app's pages are (first view, a text edit at each length, a toggle):
  the round trip, the rerun, React and the paint, with nothing of MaskLab's in them.
- *Plotly alone*: the Plotly figures a page showed (taken from the page as Plotly held them,
  ``pages.FIGURES``) drawn again in a blank page of the same browser by plotly.js alone (the copy in
  the ``plotly`` Python package, ``plotly/package_data/plotly.min.js``; Streamlit bundles its own
  build of the same library), no Streamlit: every map drawn afresh (``Plotly.newPlot``), then updated
  to the figures after the step (``Plotly.react``, only the maps whose figure changed, as Streamlit
  redraws only those). That is the drawing a step of that page cannot do without while it draws
  these maps with Plotly.
"""

import statistics
from pathlib import Path

import plotly

from bench.browser import ARGS, CHROMIUM

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
FLOOR_APP = "bench/floor_app.py"  # started as ``streamlit run bench/floor_app.py``
FLOOR_PAGE = {"": (True, ("switch", "Show whitespace"))}

# ms to draw every figure of ``before`` afresh, then to update them to ``after`` (the changed ones only)
DRAW = """async ({before, after}) => {
  const B = before.map(s => JSON.parse(s)), A = after.map(s => JSON.parse(s));
  document.body.innerHTML = '';
  const divs = B.map(() => document.body.appendChild(document.createElement('div')));
  const painted = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const config = {displaylogo: false};
  await painted();
  let t = performance.now();
  for (let i = 0; i < B.length; i++) await Plotly.newPlot(divs[i], B[i].data, B[i].layout, config);
  await painted();
  const draw = performance.now() - t;
  let changed = 0;
  t = performance.now();
  for (let i = 0; i < A.length; i++) {
    if (i < B.length && after[i] === before[i]) continue;
    changed++;
    if (i >= B.length) divs.push(document.body.appendChild(document.createElement('div')));
    await Plotly.react(divs[i], A[i].data, A[i].layout, config);
  }
  for (let i = A.length; i < B.length; i++) { changed++; Plotly.purge(divs[i]); divs[i].remove(); }
  await painted();
  const update = performance.now() - t;
  divs.forEach(d => { Plotly.purge(d); d.remove(); });
  return {draw, update, changed};
}"""


def plotly_alone(steps: dict, reps: int, timeout_s: float = 240) -> dict:
    """``steps``: {name: (before, after)}, each a list of figures as ``pages.FIGURES`` returns them.
    Per step: the figures' count before and after it (a new text may draw one more or one fewer: a sentinel
    map needs a span to cut), how many the step changed, and the median ms (of ``reps``) to draw
    them afresh (``draw_ms``) and to update them to the step's figures (``update_ms``), in Chromium at
    1280 x 720. Raises FileNotFoundError when Chromium or plotly.js is missing."""
    from playwright.sync_api import sync_playwright

    for need in (CHROMIUM, PLOTLY_JS):
        if not Path(need).exists():
            raise FileNotFoundError(f"{need} is missing")
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            page.set_default_timeout(int(timeout_s * 1000))
            page.set_content("<!doctype html><html><body style='margin:0'></body></html>")
            page.add_script_tag(path=str(PLOTLY_JS))
            for name, (before, after) in steps.items():
                if not before or not after:
                    continue
                page.evaluate(DRAW, {"before": before, "after": after})  # a warm-up: plotly.js compiles its code paths
                runs = [page.evaluate(DRAW, {"before": before, "after": after}) for _ in range(max(1, reps))]
                out[name] = {"maps": len(before), "maps_after": len(after), "changed": runs[0]["changed"],
                             "draw_ms": statistics.median(r["draw"] for r in runs), "update_ms": statistics.median(r["update"] for r in runs),
                             "samples": runs}
        finally:
            browser.close()
    return out
