"""Several people on a real model at once: every number each session sees equals the same request made
alone, and the server's memory stays bounded.

    python -m bench.real_load                        # 8 sessions, 600-token texts, SmolLM2 (bench/results/real_load.json)
    python -m bench.real_load --sessions 2 --tokens 200 --moves 2   # the short version tests/e2e/test_real_load.py runs

Each session is a browser context with a text of its own (about ``--tokens`` of MaskLab's tokens, each
session's different, so no two share a cached result). On the masks page it picks SmolLM2 for the
decoder-only's learned attention and moves the window slider to the end, the middle, the start and so on
(``--moves`` times), reading after each move the learned map's numbers and its caption straight from the
page (Plotly's own data in the browser); then it opens the per-token-loss page (SmolLM2 and MaskLab's
variants, scored) and reads every loss cell.

Two fresh servers: on the first the sessions run one after another (alone); on the second all at once,
while the server's resident memory is sampled every 0.25 s. Reported: every difference between the two
(there must be none), errors, the peak memory of the concurrent server (target: under 2.5 GB with
every model loaded), and the time it took. A published model's maps are kept in a store bounded by
bytes (``MASKLAB_MAPS_CACHE_MB``, 512 by default) and one maps pass holds at most 512 MiB of weights
(`engine.scoring.MAPS_BUDGET_BYTES`), which is what bounds the memory.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from bench.load_test import CHROMIUM, CHROMIUM_ARGS, IDLE, REPO, peak_rss, rss_mb, server

SMOL = REPO.parent / "shared" / "models" / "smollm2-135m-instruct-q4_1"
TARGET_MB = 2.5 * 1024
MOVES = ("End", "middle", "Home")  # keys on the window slider (its range input), or a click in the middle of its track
SENTENCES = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well "
    "fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.",
    "Mix ½ cup of flour with ¼ cup of sugar, bake at 180 degrees for 25 minutes, and serve 4 to 6.",
    "The Eiffel Tower stands 324 meters tall in Paris, France, and was finished in 1889.",
]


def session_text(index: int, tokens: int) -> str:
    """About ``tokens`` of MaskLab's tokens of prose, different for every session (its own opening line)."""
    from engine.tokenizer import tokenize

    text = f"Reader number {index} opens the book on chapter {index + 3}. "
    i = 0
    while len(tokenize(text)) < tokens:
        text += SENTENCES[(i + index) % len(SENTENCES)] + " "
        i += 1
    return text.strip()


LEARNED_JS = """() => {
  const out = [];
  for (const g of document.querySelectorAll('.js-plotly-plot')) {
    const t = g.layout && g.layout.title && (g.layout.title.text || g.layout.title);
    if (!String(t).includes('Learned') || !g.data || !g.data.length) continue;  // the learned maps: "Learned: decoder-only" (Streamlit wraps titles in <b>)
    const d = g.data[0];
    out.push({y: Array.from(d.y), z: Array.from(d.z, r => Array.from(r, v => (v === null || Number.isNaN(v)) ? null : Math.round(v * 1e5) / 1e5))});
  }
  return out;
}"""
CELLS_JS = "() => Array.from(document.querySelectorAll('.ml-cell'), c => c.getAttribute('title'))"


class Session:
    def __init__(self, index: int, text: str, moves: int, timeout_ms: int):
        self.index, self.text, self.moves, self.timeout_ms = index, text, moves, timeout_ms
        self.seen: list = []  # (step, what the page showed)
        self.errors: list[str] = []
        self.seconds = 0.0

    async def settle(self, page) -> None:
        await asyncio.sleep(0.4)
        await page.wait_for_selector(IDLE, timeout=self.timeout_ms)
        await asyncio.sleep(0.3)
        await page.wait_for_selector(IDLE, timeout=self.timeout_ms)
        if await page.locator('[data-testid="stException"]').count():
            raise RuntimeError((await page.locator('[data-testid="stException"]').first.inner_text())[:300])

    async def read_masks(self, page, step: str) -> None:
        maps = await page.evaluate(LEARNED_JS)
        captions = [c for c in await page.locator('[data-testid="stCaptionContainer"]').all_inner_texts() if "SmolLM2" in c]
        self.seen.append((step, {"maps": maps, "captions": captions}))

    async def run(self, browser, base: str) -> None:
        start = time.perf_counter()
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(self.timeout_ms)
        try:
            await page.goto(f"{base}/masks?archs=decoder")
            await page.locator("h1", has_text="Attention masks").first.wait_for()
            await self.settle(page)
            box = page.locator('[data-testid="stTextArea"] textarea').first
            await box.fill(self.text)
            await box.press("Control+Enter")
            await self.settle(page)
            pick = page.locator('[data-testid="stSelectbox"]', has_text="decoder-only").first
            option = page.locator('[role="option"]', has_text="SmolLM2").first
            for _ in range(5):  # the first click after the text box may only take its focus away (a rerun closes the list)
                await pick.click()
                try:
                    await option.wait_for(timeout=5_000)
                    break
                except Exception:
                    await self.settle(page)
            await option.click()
            await self.settle(page)
            await self.read_masks(page, "masks: window at the start")
            slider = page.locator('[data-testid="stSlider"]', has_text="Window").first
            for i in range(self.moves):
                move = MOVES[i % len(MOVES)]
                if move == "middle":
                    track = await slider.locator('[role="group"] > div').first.bounding_box()
                    await page.mouse.click(track["x"] + track["width"] / 2, track["y"] + track["height"] / 2)
                else:
                    await slider.locator('input[type="range"]').first.press(move)
                await self.settle(page)
                await self.read_masks(page, f"masks: move {i + 1} ({move})")
            await page.locator('[data-testid="stSidebarNav"]').get_by_text("Per-token losses", exact=True).click()
            await page.locator("h1", has_text="Per-token losses").first.wait_for()
            await self.settle(page)
            self.seen.append(("losses: every cell", await page.evaluate(CELLS_JS)))
        except Exception as e:
            self.errors.append(f"session {self.index}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
        finally:
            self.seconds = time.perf_counter() - start
            await context.close()


async def _drive(base: str, sessions: list[Session], together: bool) -> float:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            start = time.perf_counter()
            if together:
                await asyncio.gather(*(s.run(browser, base) for s in sessions))
            else:
                for s in sessions:
                    await s.run(browser, base)
            return time.perf_counter() - start
        finally:
            await browser.close()


def _phase(texts: list[str], moves: int, together: bool, timeout_s: float, log: Path | None) -> dict:
    sessions = [Session(i, t, moves, int(timeout_s * 1000)) for i, t in enumerate(texts)]
    with server(log=log) as (url, pid):
        with peak_rss(pid, 0.25) as peak:
            elapsed = asyncio.run(_drive(url, sessions, together))
        after = rss_mb(pid)
    return {"sessions": sessions, "elapsed_s": elapsed, "peak_mb": max(peak[0], after), "after_mb": after}


def compare(alone: list[Session], together: list[Session]) -> list[str]:
    """Every step where a session saw something other than it saw alone, in words."""
    out = []
    for a, b in zip(alone, together):
        if len(a.seen) != len(b.seen):
            out.append(f"session {a.index}: {len(b.seen)} steps read, {len(a.seen)} alone")
        for (step, x), (_, y) in zip(a.seen, b.seen):
            if x != y:
                out.append(f"session {a.index}, {step}: differs from the same request made alone")
    return out


def run(sessions: int = 8, tokens: int = 600, moves: int = 6, timeout_s: float = 600, log_dir: Path | None = None, same_text: bool = False) -> dict:
    """Both phases; returns the report (``ok`` when nothing differs, no error, and the peak is under target).
    ``same_text``: every session reads one text (an audience on one link) instead of one each."""
    if not SMOL.is_dir():
        raise FileNotFoundError(f"needs {SMOL} (../shared/models beside the checkout, or python -m engine fetch smollm2-135m-instruct)")
    texts = [session_text(0 if same_text else i, tokens) for i in range(sessions)]
    log = (lambda name: log_dir / f"real-load-{name}.log") if log_dir else (lambda name: None)
    alone = _phase(texts, moves, False, timeout_s, log("alone"))
    together = _phase(texts, moves, True, timeout_s, log("together"))
    diffs = compare(alone["sessions"], together["sessions"])
    errors = [e for s in alone["sessions"] + together["sessions"] for e in s.errors]
    steps = sum(len(s.seen) for s in together["sessions"])
    empty = [f"session {s.index}, {step}" for s in together["sessions"] for step, seen in s.seen
             if (isinstance(seen, dict) and not seen["maps"]) or (isinstance(seen, list) and not seen)]
    report = {
        "sessions": sessions, "tokens": tokens, "moves": moves, "same_text": same_text, "steps_read": steps,
        "differences": diffs, "errors": errors, "empty_reads": empty,
        "alone_s": round(alone["elapsed_s"], 1), "together_s": round(together["elapsed_s"], 1),
        "server_peak_mb": {"alone": round(alone["peak_mb"]), "together": round(together["peak_mb"])},
        "target_peak_mb": TARGET_MB, "maps_cache_mb": float(os.environ.get("MASKLAB_MAPS_CACHE_MB", "512")),
        "cpus": os.cpu_count(),
    }
    report["ok"] = not diffs and not errors and not empty and steps > 0 and together["peak_mb"] < TARGET_MB
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.real_load", description="Browser sessions on SmolLM2 at once: same numbers as alone, bounded memory.")
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--tokens", type=int, default=600, help="MaskLab tokens in each session's text")
    p.add_argument("--moves", type=int, default=6, help="window moves on the masks page per session")
    p.add_argument("--timeout", type=float, default=600, help="seconds one step may take")
    p.add_argument("--same-text", action="store_true", help="every session reads the same text (else each its own)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "real_load.json")
    a = p.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    report = run(a.sessions, a.tokens, a.moves, a.timeout, log_dir=a.out.parent, same_text=a.same_text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
