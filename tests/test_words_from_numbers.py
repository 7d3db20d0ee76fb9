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


def _row(variant: str, architecture: str, objective: str, cont: list[float], fill: list[float]) -> dict:
    s = lambda w: {"loss": sum(w) / len(w), "loss_ci": [0, 0], "top1": 0.1, "top1_ci": [0, 0.2], "n": len(w), "words": w}  # noqa: E731
    return {"variant": variant, "architecture": architecture, "objective": objective, "continue": s(cont), "fill": s(fill)}


def test_fim_findings_say_what_the_paired_differences_say():
    """FIM's two claims in words: cost on continue against the causal decoder, fill against the encoder-only
    and the encoder-decoder; each verdict follows its paired interval (above zero, below, or holding it)."""
    import numpy as np

    from engine.yardstick import paired_difference
    from ui import charts

    rng = np.random.default_rng(1)
    hard = rng.gamma(2.0, 3.0, 300)
    noise = lambda: rng.normal(0, 0.3, 300)  # noqa: E731
    w = lambda shift: list(hard + shift + noise())  # noqa: E731
    rows = [_row("decoder-clm", "decoder", "clm", w(0.0), w(0.0)),
            _row("decoder-fim", "decoder", "fim", w(0.005), w(-1.5)),  # continue: no measurable cost; fill: better
            _row("encoder-mlm", "encoder", "mlm", w(0.5), w(-2.5)),  # fills better than the FIM decoder
            _row("encdec-span", "encoder_decoder", "span_corruption", w(2.0), w(1.0))]  # fills worse
    said = charts.fim_findings(rows)
    by = {r["variant"]: r for r in rows}
    cost = paired_difference(by["decoder-fim"]["continue"]["words"], by["decoder-clm"]["continue"]["words"])
    assert cost["ci"][0] < 0 < cost["ci"][1]
    assert any("no measurable" in s and f"{abs(cost['mean']):.2f}" in s for s in said)
    mlm = paired_difference(by["decoder-fim"]["fill"]["words"], by["encoder-mlm"]["fill"]["words"])
    assert mlm["ci"][0] > 0 and any("behind encoder-mlm" in s and f"{mlm['mean']:.2f}" in s for s in said)
    encdec = paired_difference(by["decoder-fim"]["fill"]["words"], by["encdec-span"]["fill"]["words"])
    assert encdec["ci"][1] < 0 and any("beats encdec-span" in s and f"{-encdec['mean']:.2f}" in s for s in said)
    psm = w(1.0)
    rows[1]["fill_psm"] = {"loss": float(np.mean(psm)), "words": psm}  # PSM order: worse than the left side alone
    d = paired_difference(psm, by["decoder-fim"]["continue"]["words"])
    assert d["ci"][0] > 0 and any("PSM order" in s and "worse than not reading" in s and f"{d['mean']:.2f}" in s
                                  for s in charts.fim_findings(rows))
    rows[1]["continue"]["words"] = w(0.4)  # now FIM costs
    assert any(s.startswith("FIM cost left-to-right quality") for s in charts.fim_findings(rows))
    assert charts.fim_findings(rows[:1]) == []  # no FIM model: nothing said
    # the FIM decoder counts among the models that read the words after the gap
    assert charts.reads_right_side("decoder", "fim") and not charts.reads_right_side("decoder", "clm")
