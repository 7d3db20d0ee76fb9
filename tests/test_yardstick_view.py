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
    cont, fill, gain, idle = charts.yardstick_findings(t)
    assert cont.startswith("On continue") and "dec is lowest" in cont and "(6.00" in cont
    assert fill.startswith("On fill") and "enc is lowest" in fill and "(5.50" in fill
    assert "helps enc" in gain and "1.50" in gain and "ed (" not in gain  # ed's gain lies inside the intervals
    assert idle.startswith("ed read the words after the gap too") and "no better" in idle
    t = charts.yardstick_table([_row("dec", "decoder", 6.0, 6.0), _row("enc", "encoder", 6.1, 6.1)])
    said = charts.yardstick_findings(t)
    assert "within each other's 95% intervals" in said[0] and said[-1].startswith("enc ") and "no better" in said[-1]


def test_with_each_word_s_loss_the_findings_are_paired_differences():
    """The same two models, 0.1 nats per word apart on every word: their own intervals overlap (a tie
    unpaired), but paired word by word the difference is exact, and so is the right side's gain."""
    import numpy as np

    base = np.random.default_rng(0).uniform(2, 12, 500)  # hard and easy words: wide intervals of their own
    rows = []
    for name, arch, shift, gain in (("a", "encoder", 0.0, 0.3), ("b", "encoder", 0.1, 0.0)):
        words = {"continue": base + shift, "fill": base + shift - gain + np.random.default_rng(1).normal(0, 0.01, 500) * (gain > 0)}
        row = {"variant": name, "architecture": arch, "objective": ""}
        for task, w in words.items():
            half = 1.96 * w.std(ddof=1) / np.sqrt(len(w))
            row[task] = {"n": 500, "loss": float(w.mean()), "loss_ci": [w.mean() - half, w.mean() + half], "top1": 0.1,
                         "top1_ci": [0.08, 0.13], "words": w.tolist()}
        rows.append(row)
    t = charts.yardstick_table(rows)
    unpaired = charts.yardstick_findings(t)
    assert "tie" in unpaired[0] and "within each other's 95% intervals" in unpaired[0]
    cont, fill, gain, idle = charts.yardstick_findings(t, rows)
    assert "a is lowest" in cont and "0.10 nats per word lower" in cont and "paired over 500 words" in cont
    assert "a is lowest" in fill
    assert gain.startswith("Reading the words after the gap helps a (0.30 nats per word") and "b (" not in gain
    assert idle.startswith("b read the words after the gap too")


def test_the_shipped_yardstick_draws_a_bar_per_model_and_task():
    rows = json.loads((REPO / "assets" / "yardstick.json").read_text())["rows"]
    t = charts.yardstick_table(rows)
    fim = sum("fill_psm" in r for r in rows)  # a FIM decoder's PSM-order fill: a row of the table, no bar
    assert fim == 1 and len(t) == 2 * len(rows) + fim and set(t["task"]) == {"continue", "fill", "fill_psm"} and (t["n"] >= 500).all()
    chart = charts.yardstick_bars(t)
    d = chart.data
    assert d.groupby("task").size().tolist() == [len(rows), len(rows)]
    assert d[d["task"] == "continue"]["loss"].tolist() == list(t[t["task"] == "continue"]["loss"])
    layers = chart.to_dict()["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["bar", "rule", "rule"]  # a bar and its 95% interval, on a pale halo
    assert layers[1]["mark"]["color"] == "#FFFFFF" and layers[2]["mark"]["color"] == "#222222"
    assert all(layer["encoding"]["y2"]["field"] == "loss_hi" for layer in layers[1:])


def test_the_scaling_page_shows_the_yardstick_and_what_it_finds():
    from conftest import open_page

    at = open_page("scaling")
    assert any("yardstick" in s.value.lower() for s in at.subheader)
    said = " ".join(m.value for m in at.markdown)
    rows = json.loads((REPO / "assets" / "yardstick.json").read_text())["rows"]
    for sentence in charts.yardstick_findings(charts.yardstick_table(rows), rows):
        assert sentence in said


def test_a_published_model_s_row_shows_the_text_of_its_tokens_not_byte_level_spellings(monkeypatch):
    """SmolLM2's rows read " truth", as MaskLab's do, not "Ġtruth"; its vocabulary entries stay in the data."""
    from conftest import html_bodies, open_page
    from ui import catalog

    if not catalog.published():
        import pytest

        pytest.skip("needs a published checkpoint in ../shared/models (CI has one)")
    at = open_page("losses", "The capital of Azerbaijan is Baku.")
    bodies = html_bodies(at)
    import re

    chips = re.findall(r'class="ml-chip[^"]*"[^>]*>([^<]*)<', bodies)
    assert "on its own tokens" in bodies and chips and not any(c.startswith("Ġ") for c in chips)  # top guesses in tooltips keep the vocabulary's spelling


def _point(flops, cont, fill, half=0.1):
    s = lambda m: {"n": 200, "loss": m, "loss_ci": [m - half, m + half], "top1": 0.05, "top1_ci": [0.03, 0.08]}  # noqa: E731
    return {"step": 1, "tokens": flops // 10, "flops": flops, "val_loss": 6.0, "yardstick": {"continue": s(cont), "fill": s(fill)}}


def _sweep():
    import pandas as pd

    return pd.DataFrame([
        {"variant": "decoder-clm", "architecture": "decoder", "size": "tiny", "parameters": 1e5, "curve": [_point(100, 8.0, 8.0), _point(200, 7.5, 7.5)]},
        {"variant": "decoder-clm", "architecture": "decoder", "size": "small", "parameters": 4e5, "curve": [_point(400, 7.4, 7.4), _point(800, 6.0, 6.0)]},
        {"variant": "encoder-mlm", "architecture": "encoder", "size": "tiny", "parameters": 1e5, "curve": [_point(100, 8.5, 7.0), _point(300, 8.2, 6.5)]},
        {"variant": "encoder-mlm", "architecture": "encoder", "size": "small", "parameters": 4e5, "curve": [_point(300, 8.25, 6.9), _point(500, 8.2, 6.4)]},
    ])


def test_the_per_flop_comparison_uses_only_the_budget_every_architecture_reached():
    t = charts.yardstick_curve_table(_sweep())
    assert len(t) == 16 and set(t["task"]) == {"continue", "fill"}
    budget, best = charts.yardstick_frontier(t, "continue")
    assert budget == 500  # the encoder's largest: the decoder's 6.0 at 800 FLOPs is past it and must not count
    assert best["architecture"].tolist() == ["decoder", "encoder"] and best["loss"].tolist() == [7.4, 8.2]
    budget, best = charts.yardstick_frontier(t, "fill")
    assert best["architecture"].tolist() == ["encoder", "decoder"] and best["loss"].tolist() == [6.4, 7.4]
    said = charts.yardstick_curve_findings(t)
    assert said[0].startswith("On continue") and "500 training FLOPs" in said[0] and "decoder-only 7.40, encoder-only 8.20" in said[0] and "leads" in said[0]
    assert "On fill" in said[1] and "encoder-only 6.40, decoder-only 7.40" in said[1]
    dec, enc = (next(c for c in said[2].split(";") if arch in c) for arch in ("decoder-only", "encoder-only"))  # smallest run → largest
    assert "7.50 → 6.00" in dec and "lower" in dec
    assert "8.20 → 8.20" in enc and "overlap" in enc


def test_the_per_flop_comparison_reads_each_run_where_it_stands_not_at_its_luckiest_evaluation():
    """A noisy curve dips to 7.76 and ends at 8.11: the sentence says 8.11, as the bar and table beside it do."""
    import pandas as pd

    runs = pd.DataFrame([
        {"variant": "decoder-clm", "architecture": "decoder", "size": "tiny", "parameters": 1e5, "curve": [_point(100, 8.0, 8.0), _point(200, 7.5, 7.5)]},
        {"variant": "encoder-mlm", "architecture": "encoder", "size": "tiny", "parameters": 1e5,
         "curve": [_point(100, 8.5, 7.0), _point(150, 7.76, 6.5), _point(200, 8.11, 6.6)]},
    ])
    budget, best = charts.yardstick_frontier(charts.yardstick_curve_table(runs), "continue")
    assert budget == 200 and dict(zip(best["architecture"], best["loss"])) == {"decoder": 7.5, "encoder": 8.11}


def test_compute_matched_runs_that_stop_a_fraction_of_a_step_apart_are_read_at_their_ends():
    """The shipped runs end at 1.40006e15 and 1.40058e15 FLOPs: the second is read at its end (8.11, as its
    bar and the table say), not at its evaluation before the budget (8.07)."""
    import pandas as pd

    runs = pd.DataFrame([
        {"variant": "decoder-clm", "architecture": "decoder", "size": "tiny", "parameters": 1e5, "curve": [_point(100, 8.0, 8.0), _point(1000, 7.5, 7.5)]},
        {"variant": "encoder-mlm", "architecture": "encoder", "size": "tiny", "parameters": 1e5,
         "curve": [_point(100, 8.5, 7.0), _point(900, 8.07, 6.5), _point(1000.4, 8.11, 6.6)]},
        {"variant": "encdec-span", "architecture": "encoder_decoder", "size": "tiny", "parameters": 1e5,
         "curve": [_point(100, 8.5, 7.0), _point(900, 7.7, 6.5), _point(1100, 7.0, 6.0)]},
    ])
    budget, best = charts.yardstick_frontier(charts.yardstick_curve_table(runs), "continue")
    loss = dict(zip(best["architecture"], best["loss"]))
    assert budget == 1000 and loss["encoder"] == 8.11
    assert loss["encoder_decoder"] == 7.7  # 10% past the budget is not compute-matched: read before it


def test_the_yardstick_curves_draw_every_run_on_both_tasks():
    t = charts.yardstick_curve_table(_sweep())
    chart = charts.yardstick_curves(t)
    d, spec = chart.data, chart.to_dict()
    assert d["run"].nunique() == 4 and set(d["task"]) == {"continue", "fill"} and spec["facet"]["column"]["field"] == "task_label"
    small = d[d["run"] == "decoder-only · small"].sort_values("flops")
    assert [small[small["task"] == k]["loss"].tolist() for k in ("continue", "fill")] == [[7.4, 6.0], [7.4, 6.0]]
    dash = spec["spec"]["encoding"]["strokeDash"]["scale"]
    dashes = dict(zip(dash["domain"], dash["range"]))
    assert dashes["decoder-only · small"] == charts.DASHES["dash"] and dashes["decoder-only · tiny"] == charts.DASHES["solid"]  # solid: the smallest
    assert charts.yardstick_curve_table(_sweep().assign(curve=[[{"step": 1, "flops": 1, "val_loss": 5}]] * 4)).empty


def test_the_scaling_page_draws_the_sweep_s_yardstick_and_says_what_it_finds(tmp_path, monkeypatch):
    from conftest import open_page
    from ui import result_files

    runs = _sweep().assign(training_flops=lambda d: [r[-1]["flops"] for r in d["curve"]], final_val_loss=6.0, corpus_tokens=1000)
    sweep = tmp_path / "scaling.json"
    sweep.write_text(json.dumps({"runs": runs.to_dict("records")}))
    monkeypatch.setattr(result_files, "SCALING_FILE", sweep)
    at = open_page("scaling")
    assert any(t.startswith("Yardstick") and "sweep" in t for t in (json.loads(c.proto.spec)["title"]["text"] for c in at.get("vega_lite_chart")))
    said = " ".join(m.value for m in at.markdown)
    assert "per FLOP" in said
    for sentence in charts.yardstick_curve_findings(charts.yardstick_curve_table(runs)):
        assert sentence in said


def shipped_yardstick(chart) -> bool:
    """Whether a chart on the scaling page is the shipped models' yardstick curves (by its title)."""
    title = json.loads(chart.proto.spec)["title"]["text"]
    return title.startswith("Yardstick") and "shipped model" in title


def _card(arch, params, points):
    return {"architecture": arch, "objective": "", "parameters": params, "training_flops": points[-1]["flops"], "train_config": {"size": "medium"},
            "curve": [{"step": 1, "tokens": 10, "flops": 1, "loss": 7.0}] + points}


def test_the_shipped_cards_yardstick_curves_tell_two_models_of_one_size_apart():
    cards = {"decoder-clm": _card("decoder", 3e6, [_point(100, 7.0, 7.0), _point(200, 6.5, 6.6)]),
             "prefixlm-prefix": _card("prefix_lm", 3e6, [_point(100, 7.2, 7.1), _point(200, 6.8, 6.7)]),
             "prefixlm-ul2": _card("prefix_lm", 3e6, [_point(100, 7.3, 7.0), _point(200, 6.9, 6.5)]),
             "old": {"architecture": "encoder", "parameters": 3e6, "curve": [{"step": 1, "tokens": 10, "flops": 1, "val_loss": 6.0}]},
             "no-curve": {"architecture": "encoder", "parameters": 3e6}}
    runs = charts.card_runs(cards)
    assert runs["label"].tolist() == ["decoder-clm", "prefixlm-prefix", "prefixlm-ul2", "old"]  # a card without a curve is left out
    t = charts.yardstick_curve_table(runs)
    assert set(t["run"]) == {"decoder-clm", "prefixlm-prefix", "prefixlm-ul2"} and len(t) == 3 * 2 * 2
    spec = charts.yardstick_curves(t, title="shipped").to_dict()
    dash = spec["spec"]["encoding"]["strokeDash"]["scale"]
    dashes = dict(zip(dash["domain"], dash["range"]))
    assert dashes["prefixlm-prefix"] != dashes["prefixlm-ul2"] and spec["title"]["text"] == "shipped"
    said = charts.yardstick_curve_findings(t)
    assert said[0].startswith("On continue") and "200 training FLOPs" in said[0] and "decoder-only 6.50, prefix-LM 6.80" in said[0]


def test_the_scaling_page_draws_the_shipped_cards_yardstick_or_says_they_have_none(tmp_path, monkeypatch):
    from conftest import open_page
    from ui import catalog

    models = tmp_path / "models"
    cards = {"decoder-clm": _card("decoder", 3e6, [_point(100, 7.0, 7.0), _point(200, 6.5, 6.6)]),
             "encoder-mlm": _card("encoder", 3e6, [_point(100, 8.0, 6.0), _point(200, 7.9, 5.5)])}
    for name, card in cards.items():
        (models / name).mkdir(parents=True)
        (models / name / "card.json").write_text(json.dumps(card))
    monkeypatch.setattr(catalog, "MODELS_DIR", models)
    at = open_page("scaling")
    assert any(shipped_yardstick(c) for c in at.get("vega_lite_chart")) and not at.exception
    said = " ".join(m.value for m in at.markdown)
    for sentence in charts.yardstick_curve_findings(charts.yardstick_curve_table(charts.card_runs(cards))):
        assert sentence in said
    for name in cards:  # cards from before the yardstick was scored during training
        card = json.loads((models / name / "card.json").read_text())
        card["curve"] = [{k: v for k, v in p.items() if k != "yardstick"} for p in card["curve"]]
        (models / name / "card.json").write_text(json.dumps(card))
    at = open_page("scaling")
    assert not any(shipped_yardstick(c) for c in at.get("vega_lite_chart")) and not at.exception
    assert any("no yardstick curve" in c.value for c in at.caption)


def test_a_fim_decoders_psm_fill_is_in_the_table_not_in_the_bars():
    rows = [_row("dec", "decoder", 6.0, 6.0), _row("fim", "decoder", 6.1, 5.9)]
    rows[1]["fill_psm"] = dict(rows[1]["fill"], loss=8.0)
    t = charts.yardstick_table(rows)
    assert t[t["task"] == "fill_psm"]["loss"].tolist() == [8.0]
    assert 8.0 not in charts.yardstick_bars(t).data["loss"].tolist() and len(charts.yardstick_bars(t).data) == 4


def test_a_sweep_with_two_variants_of_one_architecture_draws_each_its_own_line():
    """decoder-clm and decoder-fim swept side by side: two series in their own colours, not one zigzag."""
    import pandas as pd

    rows = [{"variant": v, "architecture": "decoder", "objective": o, "size": size, "parameters": p, "training_flops": p * 100,
             "final_val_loss": loss, "curve": [_point(p * 100, loss + 1, loss + 1)]}
            for v, o, shift in (("decoder-clm", "clm", 0.0), ("decoder-fim", "fim", 0.1))
            for size, p, loss in (("tiny", 1e6, 5.0 + shift), ("small", 2e6, 4.5 + shift))]
    runs = pd.DataFrame(rows)
    spec = charts.scaling_scatter(runs).to_dict()
    color = spec["layer"][0]["encoding"]["color"]["scale"]
    assert color["domain"] == ["decoder-only", "decoder-only (decoder-fim)"] and len(set(color["range"])) == 2
    t = charts.yardstick_curve_table(runs)
    assert set(t["run"]) == {"decoder-only · tiny", "decoder-only · small", "decoder-only (decoder-fim) · tiny", "decoder-only (decoder-fim) · small"}
    curves = charts.yardstick_curves(t).to_dict()["spec"]["encoding"]
    colours = dict(zip(curves["color"]["scale"]["domain"], curves["color"]["scale"]["range"]))
    dashes = dict(zip(curves["strokeDash"]["scale"]["domain"], curves["strokeDash"]["scale"]["range"]))
    assert colours["decoder-only · tiny"] == colours["decoder-only · small"] != colours["decoder-only (decoder-fim) · tiny"]
    assert dashes["decoder-only · tiny"] == dashes["decoder-only (decoder-fim) · tiny"] != dashes["decoder-only · small"]  # style: size
