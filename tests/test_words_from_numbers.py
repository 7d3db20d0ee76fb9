"""Words come from the numbers beside them: a sentence on a page never contradicts the metric or table
it sits next to."""

import re

from engine.objectives import exposure_table
from engine.tokenizer import tokenize
from tests.conftest import open_page

TEXT = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."


def test_the_switches_page_says_the_parameter_ratio_its_metrics_show():
    """It said "about twice the parameters" beside 6.50 M and 4.13 M (1.57x)."""
    at = open_page("switches")
    caption = next(c.value for c in at.caption if "the parameters of a decoder-only" in c.value)
    ratio = float(re.search(r"([\d.]+)x the parameters", caption)[1])
    enc_dec = int(at.metric[0].value.replace(",", ""))  # with no switch on: the encoder-decoder itself
    dec = int(at.metric[1].value.replace(",", ""))
    assert abs(ratio - enc_dec / dec) < 0.01 and "twice" not in caption


def test_the_objectives_page_says_the_prefix_lms_exposure_moves_with_the_seed_and_gives_it():
    ids = [t.id for t in tokenize(TEXT)]
    for seed in (0, 3):
        at = open_page("objectives", TEXT, params={"seed": str(seed)})
        row = next(r for r in exposure_table(ids, seed) if r["label"] == "prefix_lm")
        caption = next(c.value for c in at.caption if "prefix-LM" in c.value and "random" in c.value)
        said = re.search(r"(\d+)%\s*\(([\d,]+) of ([\d,]+)", caption)  # "47% (12 of 26 tokens ...": the prefix-LM's exposure
        assert said and [int(g.replace(",", "")) for g in said.groups()] == [round(100 * row["exposure"]), row["n_loss_tokens"], row["n_tokens"]]
        assert f"seed {seed}" in caption
