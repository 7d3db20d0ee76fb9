"""The scaling page's yardstick view: its table, chart and the sentences it computes from the data."""

import json
from pathlib import Path

from ui import charts

REPO = Path(__file__).resolve().parents[1]


def _row(name, arch, cont, fill, half=0.2):
    s = lambda m: {"n": 500, "loss": m, "loss_ci": [m - half, m + half], "top1": 0.1, "top1_ci": [0.08, 0.13]}  # noqa: E731
    return {"variant": name, "architecture": arch, "objective": "", "continue": s(cont), "fill": s(fill)}


def test_findings_come_from_the_data_and_claim_nothing_it_does_not_show():
    t = charts.yardstick_table([_row("dec", "decoder", 6.0, 6.0), _row("enc", "encoder", 7.0, 5.5), _row("ed", "encoder_decoder", 6.9, 6.8)])
    said = " ".join(charts.yardstick_findings(t))
    assert "On continue, dec is lowest (6.00" in said and "On fill, enc is lowest (5.50" in said
    assert "helps enc (1.50 nats per word)" in said and "ed (" not in said  # ed's gain lies inside the intervals
    t = charts.yardstick_table([_row("dec", "decoder", 6.0, 6.0), _row("enc", "encoder", 6.1, 6.1)])
    said = " ".join(charts.yardstick_findings(t))
    assert "within each other's 95% intervals" in said and "enc read the words after the gap, yet do no better" in said


def test_the_shipped_yardstick_draws_a_bar_per_model_and_task():
    rows = json.loads((REPO / "assets" / "yardstick.json").read_text())["rows"]
    t = charts.yardstick_table(rows)
    assert len(t) == 2 * len(rows) and set(t["task"]) == {"continue", "fill"} and (t["n"] >= 500).all()
    fig = charts.yardstick_bars(t)
    assert [len(tr.x) for tr in fig.data] == [len(rows), len(rows)]
    assert list(fig.data[0].y) == list(t[t["task"] == "continue"]["loss"])


def test_the_scaling_page_shows_the_yardstick_and_what_it_finds():
    from conftest import open_page

    at = open_page("scaling")
    assert any(s.value == "One yardstick for every architecture" for s in at.subheader)
    said = " ".join(m.value for m in at.markdown)
    rows = json.loads((REPO / "assets" / "yardstick.json").read_text())["rows"]
    for sentence in charts.yardstick_findings(charts.yardstick_table(rows)):
        assert sentence in said


def test_a_published_model_s_row_shows_the_text_of_its_tokens_not_byte_level_spellings(monkeypatch):
    """SmolLM2's rows read " truth", as MaskLab's do, not "Ġtruth"; its vocabulary entries stay in the data."""
    from conftest import html_bodies, open_page
    from ui import cache

    if not cache.published():
        import pytest

        pytest.skip("needs a published checkpoint in ../shared/models (CI has one)")
    at = open_page("losses", "The capital of Azerbaijan is Baku.")
    bodies = html_bodies(at)
    import re

    chips = re.findall(r'class="ml-chip[^"]*"[^>]*>([^<]*)<', bodies)
    assert "on its own tokens" in bodies and chips and not any(c.startswith("Ġ") for c in chips)  # top guesses in tooltips keep the vocabulary's spelling
