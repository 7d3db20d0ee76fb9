"""The masks page's window slider on a long text: the learned encoder-decoder maps move with it, and
the cross-attention mask stays on screen wherever the window lies."""

import json
from pathlib import Path

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
