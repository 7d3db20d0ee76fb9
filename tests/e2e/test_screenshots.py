"""Every page at 1280x720, presentation mode on and off, light and dark (the browser's colour scheme:
the app follows it): the page renders without an error, in the theme asked for, and a screenshot of
each lands in ``$MASKLAB_ARTIFACTS/screenshots/`` for a lecturer to check before a talk."""

import time

import pytest

from conftest import capture, new_page, open_view, page_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VIEWPORT = (1280, 720)
ACTION_MS = 30_000
PAGES = {"": "home", "tokenization": "tokenization", "masks": "masks", "compose": "compose", "objectives": "objectives", "losses": "losses",
         "switches": "switches", "chat": "chat", "scaling": "scaling"}
BACKGROUND_JS = """() => { const c = getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor;
    const [r, g, b] = c.match(/\\d+/g).map(Number).map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; }"""





@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("presenting", [False, True], ids=["plain", "presenting"])
@pytest.mark.parametrize("path", page_params(list(PAGES)))
def test_every_page_in_both_themes_with_and_without_presentation_mode(app_server, browser, shots, path, presenting, scheme):
    pg = new_page(browser, VIEWPORT, ACTION_MS, color_scheme=scheme)
    try:
        open_view(pg, app_server, path, "pres=1" if presenting else "")
        luminance = pg.evaluate(BACKGROUND_JS)
        assert (luminance < 0.05) if scheme == "dark" else (luminance > 0.8), (scheme, luminance)  # the app follows the colour scheme
        capture(pg, shots / f"{PAGES[path]}-{'presenting' if presenting else 'plain'}-{scheme}.png")
    finally:
        pg.context.close()


def test_the_menu_switches_the_theme_whatever_the_system_says(app_server, browser):
    pg = new_page(browser, VIEWPORT, ACTION_MS, color_scheme="light")
    try:
        open_view(pg, app_server, "masks")
        assert pg.evaluate(BACKGROUND_JS) > 0.8
        for choice, dark in (("Dark", True), ("Light", False)):
            item = pg.locator(f'[data-testid="stMainMenuItem-theme-{choice}"]')
            if not item.is_visible():  # the menu stays open after a choice; open it when it is closed
                pg.locator('[data-testid="stMainMenu"]').click()
            item.click()
            time.sleep(0.8)
            luminance = pg.evaluate(BACKGROUND_JS)
            assert (luminance < 0.05) if dark else (luminance > 0.8), (choice, luminance)
    finally:
        pg.context.close()
