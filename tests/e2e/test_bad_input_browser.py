"""Bad input in a real browser: a representative subset of tests/test_reliability.py's CASES, sent
through the link and typed into the text box, on the Tokenization, Objectives and Per-token-loss
pages; and garbage in the query string. No alert dialog may fire, no traceback may show, and no
element from the user's text (an <img onerror>, a <script>, a javascript: link) may reach the DOM.
"""

from urllib.parse import quote

import pytest

from conftest import RUN_MS, open_view, settle
from test_reliability import CASES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
VIEWPORT = (1280, 900)
ACTION_MS = RUN_MS
SUBSET = ("whitespace", "control-chars", "invalid-utf8", "zero-width", "right-to-left", "combining", "emoji-zwj", "script",
          "img-onerror", "markdown-js-link", "html-entities", "endoftext", "sentinel")
MARKUP = ("script", "img-onerror", "markdown-js-link", "html-entities")
BY_ID = {c.id: c for c in CASES}
# Anything that would mean the user's text became live markup, in any frame of the page.
INJECTED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.getAttributeNames()) {
      if (a.startsWith('on')) bad.push(el.tagName + '[' + a + ']');
    }
  }
  document.querySelectorAll('img[src="x"], img[src$="/x"]').forEach(e => bad.push('img src=x'));
  document.querySelectorAll('script').forEach(s => { if (s.textContent.includes('alert(')) bad.push('script alert'); });
  document.querySelectorAll('a[href]').forEach(a => {
    const h = a.getAttribute('href');
    if (/^\\s*javascript:/i.test(h) || h.includes('evil.example')) bad.push('a href=' + h);
  });
  return bad;
}"""


@pytest.fixture(scope="module")
def base(shared_host_server):
    return shared_host_server


def check_page(pg, where: str) -> None:
    assert not pg.dialogs, f"{where}: an alert fired: {pg.dialogs}"
    assert pg.locator('[data-testid="stException"]').count() == 0, f"{where}: {pg.locator('[data-testid=stException]').first.inner_text()[:500]}"
    assert "Traceback" not in pg.locator("body").inner_text(), f"{where}: a traceback is shown"
    for frame in pg.frames:
        assert not frame.evaluate(INJECTED), f"{where}: injected: {frame.evaluate(INJECTED)}"


def box_value(pg, expected: str) -> str:
    """The text box's value, once it shows ``expected`` (a busy browser mounts the box a moment after
    the run ends), or whatever it holds after 15 s."""
    try:
        pg.wait_for_function("want => { const t = document.querySelector('[data-testid=stTextArea] textarea'); return t && t.value === want; }",
                             arg=expected, timeout=15_000)
    except Exception:
        pass
    return pg.locator('[data-testid="stTextArea"] textarea').first.input_value()


def test_cases_through_the_link_on_tokenization(base, page):
    for case_id in SUBSET:
        case = BY_ID[case_id]
        open_view(page, base, "tokenization", "text=" + quote(case.as_sent), "Tokenization")
        check_page(page, f"/tokenization {case_id}")
        expected = case.as_sent.replace("\r\n", "\n").replace("\r", "\n")  # a textarea's value normalises line breaks
        assert box_value(page, expected) == expected, case_id
        if case_id in MARKUP:  # the characters typed are on the page, as text
            chips = page.locator(".ml-chips").first.inner_text()
            assert "<" in chips or "&" in chips or "[" in chips, chips[:200]


@pytest.mark.parametrize("path, title", [("objectives", "Objectives and loss exposure"), ("losses", "Per-token losses")])
def test_markup_cases_through_the_link_on_model_pages(base, page, path, title):
    for case_id in MARKUP + ("endoftext", "right-to-left"):
        open_view(page, base, path, "text=" + quote(BY_ID[case_id].as_sent), title)
        check_page(page, f"/{path} {case_id}")


def test_typed_markup_stays_text_across_pages(base, page):
    open_view(page, base, "tokenization", "", "Tokenization")
    typed = BY_ID["script"].text + " " + BY_ID["img-onerror"].text + " " + BY_ID["markdown-js-link"].text
    box = page.locator('[data-testid="stTextArea"] textarea').first
    box.fill(typed)
    box.press("Control+Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('text') !== null && location.search.includes('onerror')", timeout=RUN_MS)
    settle(page)
    check_page(page, "typed on /tokenization")
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Per-token losses", exact=True).click()
    page.locator("h1", has_text="Per-token losses").first.wait_for(timeout=RUN_MS)
    settle(page)
    check_page(page, "typed, then /losses")
    assert box_value(page, typed) == typed


def test_garbage_in_the_query_string_is_quoted_not_rendered(base, page):
    query = "&".join([
        "seed=" + quote("[click](https://evil.example)"), "layer=" + quote("<img src=x onerror=alert(1)>"),
        "archs=" + quote("<script>alert(1)</script>"), "rate=nan", "split=1e309", "head=" + quote(":red[red] $x$"),
        quote("[sneaky](https://evil.example)") + "=1", "text=" + quote("One two three four."),
    ])
    open_view(page, base, "masks", query, "Attention masks")
    check_page(page, "/masks with garbage in the link")
    alerts = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts()).replace("\u200b", "")  # zero-width spaces keep links from forming
    assert "[click](https://evil.example)" in alerts and "ignored" in alerts  # shown as typed, as plain text
