"""The masks page's window slider on a long text: the learned encoder-decoder maps move with it, and
the cross-attention mask stays on screen wherever the window lies."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.tokenizer import tokenize

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE = next(p for p in (APP.parent / "views" / "masks.py", APP.parent / "pages" / "masks.py") if p.exists())
LONG = " ".join(f"Sentence {i} of a long text, read in windows of tokens." for i in range(60))


def _open(win: int, split: int) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.query_params.update({"archs": "encoder_decoder", "win": str(win), "split": str(split)})
    at.session_state["text"] = LONG
    at.switch_page(str(PAGE.relative_to(APP.parent)))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _charts(at: AppTest) -> dict:
    out = {}
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        out[title] = spec
    return out


def test_the_window_moves_the_learned_maps_and_the_cross_mask_never_vanishes():
    n = len(tokenize(LONG))
    assert n > 400
    first, later = _charts(_open(0, n // 4)), _charts(_open(200, n // 4))
    learned = "Learned: encoder"
    assert learned in first and learned in later
    assert first[learned]["data"][0]["y"] != later[learned]["data"][0]["y"]  # the slider moved the encoder's map
    in_target = _charts(_open(n - 128, n // 4))  # the window lies wholly in the target part
    assert "Cross-attention" in in_target and len(in_target["Cross-attention"]["data"][0]["z"]) > 0


def test_every_encoder_decoder_map_keeps_tokens_and_says_which_when_the_window_misses_one_part():
    n = len(tokenize(LONG))
    in_input = _open(0, n - 40)  # the window lies wholly in the input: the decoder's map shows the first targets
    maps = _charts(in_input)
    for title in ("Encoder self-attention", "Decoder self-attention", "Cross-attention"):
        assert title in maps and len(maps[title]["data"][0]["z"]) > 0, title
    assert maps["Decoder self-attention"]["data"][0]["y"][0] == 0  # from the first target token
    captions = [c.value for c in in_input.caption]
    assert any("covers only the input" in c for c in captions) and not any("no tokens in this window" in c for c in captions)
    in_target = _open(n - 128, 40)  # wholly in the target: the encoder's map shows the last inputs
    maps = _charts(in_target)
    assert maps["Encoder self-attention"]["data"][0]["y"][-1] == 39
    assert any("covers only the target" in c.value for c in in_target.caption)


# ------------------------------------------------------------- a published model beside the mask

SMOL = Path(__file__).resolve().parents[2] / "shared" / "models" / "smollm2-135m-instruct-q4_1"
PROSE = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. "
    "However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well "
    "fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters. "
    "Mix ½ cup of flour with ¼ cup of sugar, bake at 180 degrees for 25 minutes, and serve 4 to 6. "
) * 4


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.skipif(not SMOL.is_dir(), reason=f"needs {SMOL} (../shared/models beside the checkout)")
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_published_models_map_covers_the_same_words_as_the_mask_beside_it(where):
    """A window is a stretch of text: SmolLM2's learned map beside the mask covers exactly the tokens of
    its own that overlap the mask's characters, wherever the window lies (its tokens were once indexed
    with MaskLab's positions, so at token 300 the two maps showed different sentences, and past SmolLM2's
    token count the map vanished)."""
    from engine import hf

    name = next(f.name for f in hf.find_checkpoints() if hf.checkpoint_folder(f.name) == SMOL.resolve())
    toks = tokenize(PROSE)
    assert 1400 < len(PROSE) and len(toks) > 300

    def open_at(win: int) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=300)
        at.session_state["text"] = PROSE
        at.session_state["masks.model.decoder"] = name
        at.query_params.update({"archs": "decoder", "win": str(win)})
        at.switch_page(str(PAGE.relative_to(APP.parent)))
        at.run()
        return at

    width = len(_charts(open_at(0))["May attend"]["data"][0]["y"])
    win = {"start": 0, "middle": (len(toks) - width) // 2, "end": len(toks) - width}[where]
    at = open_at(win)
    assert not at.exception, [e.message for e in at.exception]
    maps = _charts(at)
    mask_y, learned_y = maps["May attend"]["data"][0]["y"], maps["Learned: decoder-only"]["data"][0]["y"]
    assert mask_y[0] == win
    first, last = toks[mask_y[0]].start, toks[mask_y[-1]].end  # the characters the mask covers
    offsets = hf.load_tokenizer(name)(PROSE, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    overlaps = [s < last and e > first for s, e in offsets]
    want = [i for i, hit in enumerate(overlaps) if hit]
    assert learned_y == list(range(want[0], want[-1] + 1)), (where, learned_y[:3], want[:3])
    assert learned_y[-1] < len(offsets)
