"""The pure builders of ui/: figures and HTML, read back from their data. No Streamlit runs here."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from engine.masks import ARCHITECTURES, attention_masks
from engine.objectives import exposure_table
from engine.tokenizer import tokenize
from ui import charts, html

from conftest import needs_tiktoken


def _masks(architecture: str, n_input: int = 4, n_target: int = 3) -> dict:
    if architecture == "encoder_decoder":
        return attention_masks(architecture, n_input, n_target)
    return attention_masks(architecture, n_input, n_target)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_mask_heatmap_z_is_the_mask(architecture):
    for name, mask in _masks(architecture).items():
        n_q, n_k = mask.shape
        fig = charts.mask_heatmap(mask, [f"q{i}" for i in range(n_q)], [f"k{j}" for j in range(n_k)], name)
        z = np.asarray(fig.data[0].z)
        assert z.shape == (n_q, n_k)
        assert (z == mask.int().numpy()).all()
        assert fig.layout.yaxis.autorange == "reversed"  # query 0 on top, as the mask is printed


def test_mask_heatmap_offsets_and_labels():
    mask = attention_masks("decoder", 5)["self"]
    fig = charts.mask_heatmap(mask[2:5, 2:5], ["c", "d", "e"], ["c", "d", "e"], "window", q_offset=2, k_offset=2)
    assert list(fig.data[0].x) == [2, 3, 4]
    assert list(fig.layout.xaxis.tickvals) == [2, 3, 4]
    assert list(fig.layout.xaxis.ticktext) == ["c", "d", "e"]


def test_labels_are_escaped_and_whitespace_visible():
    labels = ["<script>alert(1)</script>", " ", "\n", "<|endoftext|>", "a&b"]
    fig = charts.mask_heatmap(np.ones((5, 5), dtype=bool), labels, labels, "escape")
    ticks = list(fig.layout.xaxis.ticktext)
    assert all("<" not in t for t in ticks)
    assert ticks[1] == "␣" and ticks[2] == "↵"
    assert "&amp;" in ticks[4]
    hover = fig.data[0].customdata
    assert "&lt;script&gt;" in hover[0][0][0]


def test_duplicate_tokens_keep_their_own_columns():
    labels = [" the", " cat", " the"]
    fig = charts.mask_heatmap(attention_masks("encoder", 3)["self"], labels, labels, "dups")
    assert list(fig.data[0].x) == [0, 1, 2]  # numeric positions: two " the" never merge


def test_attention_heatmap_blanks_masked_cells():
    w = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]
    fig = charts.attention_heatmap(w, ["a", "b", "c"], ["a", "b", "c"], "learned")
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.isnan(z[0, 1]) and np.isnan(z[0, 2])
    assert z[2, 0] == pytest.approx(1 / 3)
    assert fig.data[0].zmax == pytest.approx(1.0)


def test_sentinel_rows_and_table():
    q = ["<|bos|>", "<|sentinel_0|>", " of", "<|sentinel_1|>", " wife"]
    k = ["It", "<|sentinel_0|>", " is", "<|sentinel_1|>", "<|endoftext|>"]
    w = np.full((5, 5), 0.1)
    w[1, 1] = 0.6
    w[3, 2], w[3, 3] = 0.6, 0.3
    assert charts.sentinel_rows(q) == [1, 3]
    fig = charts.sentinel_cross_heatmap(w, q, k, "s")
    assert np.asarray(fig.data[0].z).shape == (2, 5)
    table = charts.sentinel_table(w, q, k)
    assert list(table["sentinel"]) == ["⟨s0⟩", "⟨s1⟩"]  # named as the maps' axes name them
    assert list(table["own sentinel rank"]) == [1, 2]
    assert table["most attended"][1].startswith("' is' 0.60, ⟨s1⟩ 0.30, ")
    assert charts.sentinel_headline(table) == "on average, 45% of a sentinel's weight is on its twin in the input"  # (0.6 + 0.3) / 2
    assert charts.sentinel_headline(table.iloc[:1]) == "⟨s0⟩ puts 60% of its weight on its twin in the input"
    assert charts.sentinel_headline(charts.sentinel_table(w[:, :1], q, k[:1])) == ""  # no twin among the keys shown


def test_exposure_bar_matches_the_engine():
    ids = [t.id for t in tokenize("It is a truth universally acknowledged, that a single man", "masklab")]
    rows = exposure_table(ids, seed=0)
    chart = charts.exposure_bar(rows, highlight="mlm")
    data = chart.data
    assert list(data["name"]) == ["Causal LM", "BERT masked LM", "T5 span corruption", "Prefix LM", "Fill in the middle", "UL2 mixture",
                                  "UL2 R: regular", "UL2 S: sequential", "UL2 X: extreme"]  # names, not code ids
    assert list(data["exposure_pct"]) == pytest.approx([100 * r["exposure"] for r in rows])
    assert data.loc[data["name"] == "BERT masked LM", "outline"].item() > 0 and (data["outline"] > 0).sum() == 1
    span = rows[2]
    assert data.iloc[2][["n_loss_tokens", "n_tokens", "n_loss_positions"]].tolist() == [span["n_loss_tokens"], span["n_tokens"], span["n_loss_positions"]]
    assert span["n_loss_positions"] > span["n_loss_tokens"]  # sentinels and EOS carry a loss too
    spec = chart.to_dict()
    tips = [t["title"] for t in spec["layer"][0]["encoding"]["tooltip"]]
    assert "text tokens supervised" in tips and "target positions with a loss" in tips
    assert spec["layer"][0]["encoding"]["x"]["sort"] == list(data["name"])  # the table's order, not alphabetical
    y = spec["layer"][0]["encoding"]["y"]
    assert max(y["axis"]["values"]) == 100 and y["scale"]["nice"] is False  # no "120%" tick on a share of the text
    clm = rows[0]
    assert clm["label"] == "clm" and clm["n_loss_tokens"] == len(ids) - 1


def _scores(losses, scored=None):
    scored = scored or [True] * len(losses)
    return pd.DataFrame({
        "position": range(len(losses)), "token": [f"t{i}" for i in range(len(losses))], "loss": losses,
        "prob": [math.exp(-x) if s else float("nan") for x, s in zip(losses, scored)], "rank": [1] * len(losses),
        "top_k": [[("a", 0.5)]] * len(losses), "scored": scored,
    })


def test_loss_strip_rows_are_models_and_unscored_cells_are_empty():
    frames = {"m1": _scores([1.0, 2.0, 3.0]), "m2": _scores([float("nan"), 0.5, 4.0], [False, True, True])}
    chart = charts.loss_strip(frames, vmax=9.0)
    spec = chart.to_dict()  # Altair validates the spec against Vega-Lite's schema
    d = chart.data
    assert d[d["model"] == "m1"]["loss"].tolist() == [1.0, 2.0, 3.0] and d[d["model"] == "m1"]["row"].eq(0).all()
    m2 = d[d["model"] == "m2"]["loss"].tolist()
    assert np.isnan(m2[0]) and m2[2] == 4.0 and np.isnan(d[d["model"] == "m2"]["prob"].iloc[0])  # unscored: no value, so no cell
    assert spec["encoding"]["color"]["scale"]["domain"] == [0, 9.0] and spec["encoding"]["color"]["scale"]["clamp"]
    assert spec["encoding"]["y"]["sort"] == ["m1", "m2"] and spec["mark"]["type"] == "rect"


def test_chat_cost_chart_cumulative_is_the_running_sum():
    table = pd.DataFrame({"turn": [1, 2, 3], "bidirectional": [10, 25, 45], "causal": [10, 15, 20]})
    per_turn, cumulative = charts.chat_cost_chart(table, "tokens", "t")
    d = cumulative.data
    assert d[d["model"].str.startswith("bidirectional")]["cumulative"].tolist() == [10, 35, 80]
    assert d[d["model"].str.startswith("causal")]["cumulative"].tolist() == [10, 25, 45]
    spec = per_turn.to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["field"] == "amount" and cumulative.to_dict()["encoding"]["y"]["field"] == "cumulative"


def test_loss_curves_log_axes_and_styles():
    curves = {"decoder-clm": pd.DataFrame({"tokens": [1e3, 1e4], "flops": [1e9, 1e10], "loss": [6.0, 4.0]})}
    chart = charts.loss_curves(curves, x="flops", styles={"decoder-clm": {"color": "#D55E00", "dash": "dot"}})
    spec = chart.to_dict()  # Altair validates it against Vega-Lite's schema
    assert spec["encoding"]["x"]["scale"]["type"] == "log" and spec["encoding"]["y"]["scale"]["type"] == "log"
    assert chart.data["flops"].tolist() == [1e9, 1e10] and chart.data["loss"].tolist() == [6.0, 4.0]
    assert spec["encoding"]["strokeDash"]["scale"]["range"] == [charts.DASHES["dot"]] and spec["encoding"]["color"]["scale"]["range"] == ["#D55E00"]


def test_scaling_scatter_one_line_per_architecture():
    runs = pd.DataFrame({
        "architecture": ["decoder", "decoder", "decoder", "encoder"], "parameters": [1e5, 4e5, 1.6e6, 1e5],
        "training_flops": [1e12, 4e12, 1.6e13, 1e12], "final_val_loss": [5.0, 4.5, 4.2, 6.0],
    })
    chart = charts.scaling_scatter(runs)
    d = chart.data
    assert d.groupby("arch", sort=False).size().to_dict() == {"decoder-only": 3, "encoder-only": 1}  # a line per architecture
    assert d[d["architecture"] == "decoder"]["final_val_loss"].tolist() == [5.0, 4.5, 4.2]
    assert [layer["mark"]["type"] for layer in chart.to_dict()["layer"]] == ["line", "circle"]


def test_scaling_titles_name_what_is_plotted_and_trends_come_from_the_data():
    runs = pd.DataFrame({
        "architecture": ["decoder", "decoder", "encoder", "encoder", "encoder_decoder", "encoder_decoder"],
        "parameters": [1e5, 4e5, 1e5, 4e5, 1e5, 4e5], "training_flops": [1e12, 4e12] * 3,
        "final_val_loss": [5.0, 4.0, 6.0, 6.6, 5.5, 5.52],  # the encoder-only rises, the encoder-decoder is flat
    })
    title = charts.scaling_scatter(runs).to_dict()["title"]["text"]
    assert "lower" not in title and "training FLOPs" in title and "loss" in title
    frames = {charts.ARCH_NAMES[a]: part.rename(columns={"final_val_loss": "loss"}) for a, part in runs.groupby("architecture")}
    assert charts.trends(frames, "training_flops") == {"decoder-only": "falls", "encoder-only": "rises", "encoder-decoder": "flat"}
    said = charts.trend_sentence(frames, "training_flops", "from the cheapest run to the costliest")
    assert "from the cheapest run to the costliest" in said  # the span it was given
    assert "falls for decoder-only" in said and "rises for encoder-only" in said and "within 1% for encoder-decoder" in said
    assert charts.trend_sentence({"one point": runs.iloc[:1].rename(columns={"final_val_loss": "loss"})}, "training_flops", "x") == ""


def test_params_bars_stack_to_the_totals():
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "component": ["mlp", "cross_attention", "mlp", "cross_attention"], "parameters": [3, 1, 5, 2]})
    chart = charts.params_bars(table)
    spec = chart.to_dict()
    assert spec["encoding"]["y"]["stack"] == "zero" and spec["encoding"]["y"]["aggregate"] == "sum"
    assert chart.data.groupby("model")["parameters"].sum().to_dict() == {"a": 4, "b": 7}
    assert spec["encoding"]["color"]["scale"] == {"domain": ["mlp", "cross attention"], "range": [charts.PARAM_COLORS["mlp"], charts.PARAM_COLORS["cross_attention"]]}


def test_live_curve_splits_steps_and_evaluations():
    records = [{"step": 1, "loss": 9.0}, {"step": 2, "loss": 8.5}, {"step": 2, "eval": True, "val_loss": 8.7}]
    d = charts.live_curve(records).data
    assert d[d["series"] == "training loss"]["loss"].tolist() == [9.0, 8.5] and d[d["series"] == "validation loss"]["loss"].tolist() == [8.7]


def test_token_chips_escape_user_text():
    text = "<script>alert(1)</script> <|endoftext|>"
    out = html.token_chips(text, tokenize(text, "masklab"))
    assert "<script>" not in out and "&lt;" in out
    assert "alert(1)</script>" not in out


@needs_tiktoken
def test_token_chips_group_the_bytes_of_one_character():
    text = "a🦜"
    tokens = tokenize(text, "r50k_base")
    out = html.token_chips(text, tokens)
    assert out.count('class="ml-group"') == 1
    assert "🦜" in out and "ml-bytes" in out


def test_visible_whitespace():
    assert html.visible(" a\n", show_ws=True).count("·") == 1
    assert "↵" in html.visible("\n", show_ws=False)
    assert html.visible("<b>", show_ws=False) == "&lt;b&gt;"


def test_spaces_left_to_the_style_are_drawn_by_it_and_nothing_else_changes():
    import re

    # None: a leading space is the chip's class, any other an empty element; the page's style draws both
    out = html.chip(" a  b", show_ws=None)
    assert 'class="ml-chip ml-lsp"' in out and out.count('<span class="ml-sp"></span>') == 2 and "·" not in out
    assert html.chip(" ", show_ws=None).count("ml-lsp") == 1 and "∅" not in html.chip(" ", show_ws=None)
    assert "↵" in html.chip("\n", show_ws=None) and html.chip("a", show_ws=None) == html.chip("a", show_ws=False)
    # each chip's text comes back whole once the style's spaces are counted, and the style draws them as · on request
    text = "It was the best  of times,\nit was"
    tokens = tokenize(text, "masklab")
    chips = re.findall(r'<span class="ml-chip([^"]*)"[^>]*>(.*?)</span>(?=<span class="ml-chip|<br>|</div>)', html.token_chips(text, tokens, show_ws=None))
    spelled = [(" " if "ml-lsp" in cls else "") + body.replace('<span class="ml-sp"></span>', " ").replace('<span class="ml-ws">↵</span>', "\n") for cls, body in chips]
    assert spelled == [t.text for t in tokens]
    assert ".ml-lsp::before,.ml-sp::before{content:\" \"}" in html.STYLE and "content:'·'" in html.SHOW_SPACES


def test_characters_that_draw_nothing_are_named_in_every_chip():
    for show_ws in (False, True):
        assert "‹ZWJ›" in html.visible("\u200d", show_ws=show_ws)
        assert "‹ZWSP›" in html.visible("a\u200bb", show_ws=show_ws)
        assert "‹U+2066›" in html.visible("\u2066", show_ws=show_ws)
    assert html.visible("é", show_ws=True) == "é"  # visible characters stay as they are
    assert "‹ZWJ›" in html.chip("\u200d", show_ws=True)  # a token that is a zero-width joiner alone


@needs_tiktoken
def test_a_joiner_split_into_byte_pieces_lists_its_code_points():
    text = "a\u200db"  # r50k_base splits the joiner into byte pieces: the group lists its code points
    assert '<span class="ml-cps">U+0061 U+200D</span>' in html.token_chips(text, tokenize(text, "r50k_base"), show_ws=True)


def test_a_grapheme_of_several_code_points_is_called_one_grapheme_and_lists_them():
    text = "👩\u200d👩\u200d👧"
    out = html.token_chips(text, tokenize(text, "masklab"))
    assert out.count('class="ml-group"') == 1
    assert "one grapheme" in out and "5 code point" in out and "character" not in out.split("ml-chip")[0]
    assert '<span class="ml-cps">U+1F469 U+200D U+1F469 U+200D U+1F467</span>' in out


def test_token_count_bar_with_no_tokens_has_no_negative_axis():
    chart = charts.token_count_bar([{"label": "MaskLab", "tokens": 0, "chars_per_token": 0.0}])
    assert chart.to_dict()["layer"][0]["encoding"]["x"]["scale"]["domain"][0] == 0
    assert list(chart.data["text"]) == ["no tokens"]
    chart = charts.token_count_bar([{"label": "a", "tokens": 10, "chars_per_token": 4.0}, {"label": "b", "tokens": 20, "chars_per_token": 2.0}])
    assert chart.to_dict()["layer"][0]["encoding"]["x"]["scale"]["domain"][1] > 20  # room for the text beside the longest bar
    assert list(chart.data["text"]) == ["10 · 4.00 chars/token", "20 · 2.00 chars/token"]


def test_altair_charts_are_valid_vega_lite():
    """to_dict() validates against Vega-Lite's schema: a property Vega-Lite does not know fails here."""
    ids = [t.id for t in tokenize("It is a truth universally acknowledged", "masklab")]
    rows = exposure_table(ids, seed=0)
    sup = [{**r, "architecture": "decoder", "per_pflop": 1e3 * (i + 1), "flops": 1e12} for i, r in enumerate(rows)]
    table = pd.DataFrame({"model": ["a", "b"], "component": ["mlp", "mlp"], "parameters": [3, 5]})
    for chart in (charts.exposure_bar(rows), charts.supervision_bar(sup), charts.token_count_bar([{"label": "x", "tokens": 3, "chars_per_token": 1.0}]),
                  charts.params_bars(table)):
        spec = chart.to_dict(validate=True)
        assert spec["config"]["font"] == charts.FONT and spec["width"] == "container"


def test_loss_interlinear_aligns_models_and_escapes():
    frames = {"m<1>": _scores([1.0, 2.0]), "m2": _scores([3.0, float("nan")], [True, False])}
    frames["m<1>"].loc[0, "token"] = "<i>"
    out = html.loss_interlinear(frames, vmax=9.0)
    assert out.count('class="ml-col"') == 2
    assert out.count('class="ml-cell"') == 3 and out.count("ml-cell na") == 1
    assert "<i>" not in out and "m&lt;1&gt;" in out


def test_loss_color_runs_from_light_to_dark():
    low, _ = html.loss_color(0.0, 9.0)
    high, text = html.loss_color(20.0, 9.0)
    assert low != high and text == "#ffffff"
    assert html.relative_luminance(low) > html.relative_luminance(high)
    assert html.loss_color(float("nan"), 9.0) == ("transparent", "inherit")


def test_the_most_surprising_tokens_stay_visible_on_both_themes():
    """The loss scale's high end keeps a 3:1 contrast (WCAG's bar for graphics) with the light and the
    dark background, and its low end with the dark one; the loss strip uses the same scale."""
    high, low = html.loss_color(9.0, 9.0)[0], html.loss_color(0.0, 9.0)[0]
    for bg in html.THEME_BACKGROUNDS.values():
        assert html.contrast(high, bg) >= 3.0, (high, bg)
    assert html.contrast(low, html.THEME_BACKGROUNDS["dark"]) >= 3.0
    assert html.contrast("#FFFFFF", "#000000") == pytest.approx(21.0)
    df = pd.DataFrame({"position": [0, 1], "token": ["a", "b"], "loss": [0.5, 8.0], "prob": [0.6, 0.001], "rank": [1, 900], "scored": [True, True]})
    strip = charts.loss_strip({"m": df}, vmax=9.0).to_dict()
    assert strip["encoding"]["color"]["scale"]["range"] == [c[1] for c in html.LOSS_COLORSCALE]  # evenly spaced stops, as the scale's
    assert [k for k, _ in html.LOSS_COLORSCALE] == [i / 8 for i in range(9)]


def test_comparison_table_highlights_the_flipped_rows():
    out = html.comparison_table("ab")
    rows = out.split("<tr>")[2:]
    assert 'class="on">self-attention' in rows[0] and 'class="on">shared' in rows[1]
    assert 'class="on">attends only' in rows[2] and 'class="on">bidirectional' in rows[3]


def test_every_kind_of_token_stands_apart_from_the_plain_tokens_fills():
    """The FIM middle was drawn #F5D5A8, a shade away from the plain tokens' first fill (#F6DCA6): a plain "." read as middle."""
    plain = {c.lower() for c in html.CHIP_FILLS}
    every_token = {"prefix", "target"}  # a prefix-LM example marks every token one or the other: no plain token beside them
    styled = dict(re.findall(r"\.k-(\w+)\{([^}]*)\}", html.STYLE))
    assert {"fim", "middle", "mask", "sentinel"} <= set(styled)
    for kind, css in styled.items():
        if kind in every_token or "background" not in css:
            continue
        colours = {c.lower() for c in re.findall(r"#[0-9A-Fa-f]{6}", css.split(";color:")[0])}
        for c in colours:  # at least 40 apart (summed over R, G, B) from every plain fill
            assert min(sum(abs(int(c[i:i + 2], 16) - int(f[i:i + 2], 16)) for i in (1, 3, 5)) for f in plain) > 40, (kind, c)


def test_switch_diagram_follows_the_switches():
    plain, merged = html.switch_diagram(""), html.switch_diagram("abcd", n_layer=3)
    assert plain.count('class="xattn"') == 3 and merged.count('class="xattn"') == 0
    assert "causal self-attention" in merged and "bidirectional self-attention" in plain
    assert "reads layer i" in html.switch_diagram("c") and "last input layer" in plain and "last input layer" not in html.switch_diagram("c")
    # beside its cross-attention block, not centred over it ("3 · causal self-attention (shared)" ran under the block and out of its box)
    for on in ("", "b", "bcd"):
        svg = html.switch_diagram(on)
        block = [float(x) for x in re.findall(r'class="xattn" x="([\d.]+)" y="[\d.]+" width="30"', svg)]
        labels = [t for t in re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)" font-size="14">(\d · [^<]*)</text>', svg)
                  if float(t[0]) > 290]  # the target's boxes, right of the diagram's middle
        assert len(labels) == 3 and all(anchor == "start" and float(x) >= block[0] + 30 + 6 for x, anchor, _ in labels), (on, labels)
        assert all(len(text) <= 26 for _, _, text in labels)  # ~7 px a character at 14 px: within the box's 235 - 44 px


def _tick_spacing_px(fig, axis: str) -> float:
    """Pixels between neighbouring labels of a square map: cells are (height - margins) / rows tall."""
    m = fig.layout.margin
    n_rows = len(fig.data[0].y)
    cell = (fig.layout.height - m.t - m.b) / n_rows
    vals = list(getattr(fig.layout, axis).tickvals)
    return cell * (vals[1] - vals[0]) if len(vals) > 1 else float("inf")


def test_thinned_token_axes_keep_every_special_token_and_a_stride_between_labels():
    labels = ["The", " cat", "<|sentinel_0|>", " on", " the", " mat", "<|sentinel_1|>", ".", " It", " slept", "<|endoftext|>"]
    shown = charts.tick_positions(labels, 2)
    assert {2, 6, 10} <= set(shown)  # every special token keeps its label
    assert all(b - a >= 2 for a, b in zip(shown, shown[1:]))  # never two labels closer than the stride
    assert shown == [0, 2, 4, 6, 8, 10]
    assert charts.tick_positions(labels, 1) == list(range(len(labels)))
    plain = [f"t{i}" for i in range(10)]
    assert charts.tick_positions(plain, 3) == [0, 3, 6, 9]  # no special tokens: every 3rd from the first
    shifted = ["a", "<|S|>", "b", "c", "d", "e"]
    assert charts.tick_positions(shifted, 3) == [1, 4]
    fig = charts.mask_heatmap(np.ones((len(labels), len(labels)), bool), labels, labels, "m", width=330, font=20)
    ticks = list(fig.layout.xaxis.ticktext)
    assert 1 < len(ticks) < len(labels)  # thinned, and
    assert all(charts.axis_label(t) in ticks for t in labels if t.startswith("<|")), ticks  # the sentinels kept


def test_tick_stride_leaves_a_line_of_type_between_labels():
    assert charts.tick_stride(21, 266, 12) == 2  # 12.7 px a cell, 16.2 px a label
    assert charts.tick_stride(21, 480, 12) == 1
    assert charts.tick_stride(21, 480, 24) == 2  # larger type, fewer labels
    assert charts.tick_stride(300, 600, 12) == 9
    assert charts.tick_stride(7, 0, 12) == 7  # no room: one label
    assert charts.tick_stride(0, 100) == 1


@pytest.mark.parametrize("n", [3, 21, 64, 128])
@pytest.mark.parametrize("width,font", [(394, 12), (820, 12), (880, 16)])
@pytest.mark.parametrize("builder", ["mask", "attention"])
def test_heatmap_labels_keep_apart_and_cells_stay_square(n, width, font, builder):
    labels = [f"tok{i}" for i in range(n)]
    if builder == "mask":
        fig = charts.mask_heatmap(attention_masks("decoder", n)["self"], labels, labels, "m", width=width, font=font)
    else:
        fig = charts.attention_heatmap(np.full((n, n), 1 / n), labels, labels, "a", width=width, font=font)
    m = fig.layout.margin
    side = fig.layout.height - m.t - m.b
    assert side <= width - m.l - m.r + 1e-6  # the map fits the width it was given: its cells are as planned
    for axis in ("xaxis", "yaxis"):
        assert _tick_spacing_px(fig, axis) >= font * charts.LABEL_ROOM - 1e-6
        assert getattr(fig.layout, axis).tickfont.size == font
    assert fig.layout.xaxis.tickangle == -90  # vertical labels: their boxes are a line of type wide
    if n <= charts.cells_that_fit(width, font, builder == "attention") and n >= 21:
        assert side / n >= charts.MIN_CELL
    if builder == "attention":
        bar = fig.data[0].colorbar
        assert bar.nticks * font * 3 <= side + font * 3  # colour-bar ticks keep three lines of type apart


def test_a_map_labels_every_token_only_when_it_has_the_room():
    assert charts.label_fits(21, 820) and not charts.label_fits(21, 394)
    assert charts.label_fits(8, 394)
    assert not charts.label_fits(30, 100)  # no room at all is no fit
    assert charts.cells_that_fit(820, 12) * charts.MIN_CELL <= 820


def test_loss_strip_and_sentinel_map_thin_their_token_labels_to_the_width():
    frames = {"m1": _scores([1.0] * 300)}
    for font in (12, 16):
        chart = charts.loss_strip(frames, vmax=9.0, width=820, font=font)
        axis = chart.to_dict()["encoding"]["x"]["axis"]
        vals, plot = axis["values"], chart.usermeta["masklab"]["plot_px"]
        assert 1 < len(vals) < 300 and (vals[1] - vals[0]) * plot / 300 >= font * charts.LABEL_ROOM
        assert axis["labelFontSize"] == font and axis["labelExpr"].startswith('["t0", "t1"')  # each shown position labelled with its token
    q = ["<|bos|>", "<|sentinel_0|>", " of"]
    k = [f"k{i}" for i in range(200)]
    fig = charts.sentinel_cross_heatmap(np.full((3, 200), 0.005), q, k, "s", width=820, font=16)
    vals = list(fig.layout.xaxis.tickvals)
    assert 1 < len(vals) < 200 and (vals[1] - vals[0]) * (820 - fig.layout.margin.l - 10) / 200 >= 16 * charts.LABEL_ROOM
    assert list(fig.layout.yaxis.ticktext) == ["⟨s0⟩"]  # the sentinel short, its number kept


def test_special_tokens_are_labelled_short_and_ordinary_tokens_as_they_are():
    """"<|sentinel_12|>" took 15 characters of every map's label margin: the encoder-decoder's maps did not fit side by side."""
    assert [charts.axis_label(t) for t in ("<|sentinel_12|>", "<|endoftext|>", "<|bos|>", "<|fim_middle|>")] == ["⟨s12⟩", "⟨eot⟩", "⟨bos⟩", "⟨mid⟩"]
    assert charts.axis_label(" <|sentinel_1|>") == " &lt;|sentinel_1…"  # not a special token: as typed, cut and escaped
    assert charts.axis_label("  ") == "␣␣" and charts.axis_label("Paris") == "Paris"
    # Plotly decodes &lt; &gt; &amp; but not &quot;: a quote stays a quote (it drew `."` as `.&quot;`), markup stays text
    assert charts.axis_label('."') == '."' and charts.axis_label("'s") == "'s" and charts.axis_label("<b>x") == "&lt;b&gt;x"


@pytest.mark.parametrize("n", [1, 12, 90])
def test_heatmaps_built_without_plotly_s_validation_are_valid_figures(n):
    """The heatmap builders skip Plotly's per-property validation (charts._figure) for speed: their
    output must still be a figure Plotly accepts, property for property."""
    import plotly.graph_objects as go

    labels = [f"t{i}" for i in range(n)]
    w = np.tril(np.random.default_rng(0).random((n, n)))
    frames = {"a": pd.DataFrame({"token": labels, "loss": np.linspace(0, 9, n), "prob": 0.5, "rank": 1, "scored": True})}
    built = [charts.mask_heatmap(w > 0, labels, labels, "m"), charts.attention_heatmap(w, labels, labels, "a", width=300, font=17),
             charts.sentinel_cross_heatmap(w, ["<|sentinel_0|>"] + labels[1:], labels, "s")]
    for fig in built:
        checked = go.Figure(fig.to_dict())  # raises ValueError on any property Plotly does not know or value it refuses
        assert checked.to_dict()["layout"]["yaxis"]["autorange"] == "reversed" and len(checked.data) == 1
    cats = pd.DataFrame({"variant": ["a", "a", "b"], "category": ["x", "y", "x"], "mean_loss": [1.0, 2.0, 3.0], "count": [1, 2, 3]})
    probes = pd.DataFrame({"variant": ["a"] * n + ["b"] * n, "probe": labels * 2, "prompt": labels * 2, "margin": np.linspace(-1, 1, 2 * n)})
    for chart in (charts.category_bars(cats), charts.probe_chart(probes), charts.loss_strip(frames)):  # Altair: valid Vega-Lite
        spec = chart.to_dict()
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert charts.category_bars(cats).to_dict()["encoding"]["color"]["scale"]["domain"] == ["a", "b"]
    layers = charts.probe_chart(probes).to_dict()["layer"]
    assert layers[0]["encoding"]["y"]["sort"] == labels and layers[1]["mark"]["type"] == "rule"  # the probes in order, a line at zero


def test_loss_colours_are_plotly_s_own_sampling_of_the_scale():
    """html.loss_color interpolates the scale itself (fast); it must give what sample_colorscale gives."""
    from plotly.colors import sample_colorscale

    xs = [i / 997 for i in range(998)] + [k / 8 for k in range(9)]
    assert [html.loss_color(9 * x, 9)[0] for x in xs] == [sample_colorscale(html.LOSS_COLORSCALE, [x])[0] for x in xs]
    assert html.loss_color(20, 9)[0] == sample_colorscale(html.LOSS_COLORSCALE, [1.0])[0] and html.loss_color(float("nan"), 9)[0] == "transparent"


@pytest.mark.parametrize("page", ["masks"])
def test_every_plotly_figure_a_page_sends_is_serialised_in_one_pass(page, monkeypatch):
    """Streamlit turns each figure into JSON with plotly.io.to_json, which hands it to orjson whole, unless
    orjson refuses something in it (an object array, a NumPy string array): then Plotly first walks every
    element in Python, 55 ms for one 64-token mask map with its hover labels against 0.2 ms. Every figure
    the pages send, on a short text where the maps carry their hover labels, must pass in one go."""
    import orjson
    import plotly.io

    from conftest import open_page

    refused, real = [], plotly.io.to_json

    def to_json(fig, *args, **kwargs):
        try:
            orjson.dumps(fig, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS)
        except TypeError as e:
            refused.append((fig.get("layout", {}).get("title", {}).get("text", "?"), str(e)))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(plotly.io, "to_json", to_json)
    at = open_page(page, "The capital of France is Paris, and the capital of Italy is Rome.")
    assert at.get("plotly_chart") and not refused, refused


@pytest.mark.parametrize("page", ["tokenization", "objectives", "switches", "chat", "losses", "scaling"])
def test_pages_of_bars_and_lines_draw_with_altair_only(page):
    """Plotly's JavaScript is the largest single cost of a first visit: pages without heatmaps do without it."""
    from conftest import open_page

    at = open_page(page, "The capital of France is Paris, and the capital of Italy is Rome.")
    assert at.get("vega_lite_chart") and not at.get("plotly_chart")


def test_presenting_enlarges_altair_titles():
    """On a projector the titles grow: the builders leave title sizes to layout.chart's config."""
    import json as _json

    from conftest import open_page

    def titles(page, params=None):
        at = open_page(page, "The capital of France is Paris.", params)
        specs = [_json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
        assert all("fontSize" not in s["title"] for s in specs)  # a size on the chart's own title would override the config
        return [s["config"]["title"] for s in specs]

    for page in ("chat", "scaling"):
        plain, presenting = titles(page), titles(page, {"pres": "1"})
        assert plain and all(t["fontSize"] == 15 for t in plain) and all(t["fontSize"] == 21 for t in presenting)


def test_presenting_sets_every_chart_text_to_a_size_a_hall_reads():
    """Ticks, axis titles, legends and mark text grow when presenting (Vega's defaults are 10-11 px)."""
    import json as _json

    from conftest import open_page

    from ui.layout import INK, PRESENTING_FONT

    for page in ("chat", "scaling"):
        specs = [_json.loads(c.proto.spec) for c in open_page(page, "The capital of France is Paris.", {"pres": "1"}).get("vega_lite_chart")]
        unsized = [s for s in specs if not (s.get("usermeta") or {}).get("masklab", {}).get("sized")]
        assert unsized, page
        for s in unsized:
            assert s["config"]["axis"]["labelFontSize"] == PRESENTING_FONT["tick"] >= 18
            assert s["config"]["axis"]["titleFontSize"] >= 18 and s["config"]["legend"]["labelFontSize"] >= 18
            assert s["config"]["text"]["fontSize"] >= 17
        for s in specs:  # the page's text colour, not the theme's grey, on every chart's ticks and legend
            assert s["config"]["axis"]["labelColor"] == s["config"]["axis"]["titleColor"] == INK[False] == s["config"]["legend"]["labelColor"]
    plain = [_json.loads(c.proto.spec) for c in open_page("scaling", "The capital of France is Paris.").get("vega_lite_chart")]
    assert plain and all("labelColor" not in s["config"].get("axis", {}) for s in plain)
    masks = open_page("masks", "The capital of France is Paris.", {"pres": "1"})
    figs = [_json.loads(c.proto.spec) for c in masks.get("plotly_chart")]
    assert figs and all(f["layout"]["xaxis"]["tickfont"]["color"] == INK[False] for f in figs)


def test_tables_when_presenting_are_html_in_the_pages_type_formatted_as_the_grid_formats_them():
    import streamlit as st

    from ui import layout

    df = pd.DataFrame({"model": ["a<b>", "c"], "mean_loss": [3.14159, float("nan")], "top1": [0.25, 0.5], "tokens": [12, 7]})
    out = layout.table_html(df, {"mean_loss": st.column_config.NumberColumn("mean loss", format="%.2f"),
                                 "top1": st.column_config.NumberColumn("top-1", format="percent")})
    assert "<th class=\"num\">mean loss</th>" in out and "<th class=\"\">model</th>" in out and "top-1" in out
    assert ">3.14<" in out and ">25.0%<" in out and ">12<" in out and "a&lt;b&gt;" in out and "<b>" not in out
    assert out.count("<tr>") == 3 and "nan" not in out  # a missing number is an empty cell


def test_the_losses_summary_is_an_html_table_when_presenting_and_the_grid_otherwise():
    from conftest import open_page

    text = "The capital of France is Paris."
    plain = open_page("losses", text)
    assert len(plain.dataframe) == 2 and not any('<div class="ml-grid">' in h.proto.body for h in plain.get("html"))  # the summary and the probes
    presenting = open_page("losses", text, {"pres": "1"})
    assert not presenting.dataframe
    assert any('<div class="ml-grid">' in h.proto.body and "mean loss" in h.proto.body for h in presenting.get("html"))


def test_log_axes_label_each_tick_whole():
    ticks = charts.log_ticks([8.1e6, 6.6e7])
    assert ticks["tickvals"] == [1e7, 2e7, 5e7] and ticks["ticktext"] == ["10M", "20M", "50M"]
    flops = charts.log_ticks([1.1e14, 1.4e15])
    assert flops["ticktext"] == ["1e14", "2e14", "5e14", "1e15"]
    assert charts.log_ticks([3e6, 3.2e6]) == {} and charts.log_ticks([]) == {}  # too narrow: Plotly's own
    axis = charts.loss_curves({"a": pd.DataFrame({"tokens": [8.1e6, 6.6e7], "loss": [5.0, 4.0]})}, x="tokens").to_dict()["encoding"]["x"]["axis"]
    assert axis["values"] == [1e7, 2e7, 5e7] and axis["labelExpr"].startswith('["10M", "20M", "50M"][indexof(')


def test_a_log_loss_axis_starts_and_ends_on_a_labelled_value():
    """The category-by-size chart's lowest line sat under the axis's lowest label: the domain now runs
    from the first labelled value to the last, and every value in between is labelled."""
    assert charts.loss_ticks([3.2, 6.5]) == [3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5]
    assert charts.loss_ticks([4.1, 6.4]) == [4.0, 4.5, 5.0, 5.5, 6.0, 6.5]
    assert charts.loss_ticks([0.3, 9.0]) == [0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    assert len(charts.loss_ticks([5.0, 5.0])) >= 2 and charts.loss_ticks([float("nan"), -1.0]) == []
    rng = np.random.default_rng(3)
    for _ in range(300):
        v = np.exp(rng.uniform(-2, 2.5, size=rng.integers(1, 6)))
        ticks = charts.loss_ticks(v)
        assert ticks[0] <= v.min() and ticks[-1] >= v.max() and ticks[0] > 0, (v, ticks)
        assert 2 <= len(ticks) <= 9 and ticks == sorted(set(ticks)), (v, ticks)
    frames = {"function words": pd.DataFrame({"parameters": [1e6, 4e6], "loss": [3.2, 2.7]}),
              "content words": pd.DataFrame({"parameters": [1e6, 4e6], "loss": [7.5, 6.9]})}
    y = charts.loss_curves(frames, x="parameters").to_dict()["encoding"]["y"]
    assert y["scale"]["type"] == "log" and y["scale"]["domain"] == [y["axis"]["values"][0], y["axis"]["values"][-1]]
    assert y["axis"]["values"][0] <= 2.7 and y["axis"]["values"][-1] >= 7.5


def test_a_whole_text_overview_pools_attention_into_blocks_and_keeps_a_windows_edge():
    n, window, block = 40, 8, 8
    pos = np.arange(n)
    allowed = (pos[None, :] <= pos[:, None]) & ((pos[:, None] - pos[None, :]) < window)  # causal, 8 back
    w = np.where(allowed, 1.0, 0.0)
    w = w / w.sum(axis=1, keepdims=True)
    pooled, reach = charts.pooled_attention(w, allowed, block)
    assert pooled.shape == reach.shape == (5, 5)
    assert np.allclose(pooled.sum(axis=1), 1.0)  # a block of queries still spreads a whole unit of weight
    assert reach[4, 3] and reach[4, 4] and not reach[4, 2] and not reach[0, 1]  # the band: two blocks wide, nothing above
    short, _ = charts.pooled_attention(w[:37, :37] / w[:37, :37].sum(axis=1, keepdims=True), allowed[:37, :37], block)
    assert short.shape == (5, 5) and np.allclose(short.sum(axis=1), 1.0)  # a last, short block averages its own 5 queries
    fig = charts.attention_overview(w, allowed, block, "The whole text")
    z = np.array(fig.data[0].z, dtype=float)
    assert np.isnan(z[4, 2]) and z[4, 3] > 0 and fig.data[0].customdata[4][3] == "queries 33-40 → keys 25-32"


@pytest.mark.parametrize("n_probes, n_models", [(7, 1), (7, 3), (12, 3)])
def test_the_probe_chart_gives_every_probe_room_for_its_label(n_probes, n_models):
    """Seven probes at 18-px presenting type lost three labels (Vega drops labels that overlap) when
    the chart gave them 21 px each: the plot keeps at least PROBE_BAND px per probe, chrome aside."""
    table = pd.DataFrame([dict(variant=f"m{m}", probe=f"probe {p}", margin=1.0) for p in range(n_probes) for m in range(n_models)])
    chart = charts.probe_chart(table)
    assert chart.height - charts.CHART_CHROME >= charts.PROBE_BAND * n_probes >= 1.8 * 18 * n_probes
    assert chart.to_dict()["layer"][0]["encoding"]["y"]["sort"] == [f"probe {p}" for p in range(n_probes)]


def test_a_cross_attention_map_of_a_few_rows_labels_every_row_when_its_cells_are_small():
    """Presenting, the cross map's square cells (a wide input, 18-px type) were smaller than a label's line, so
    every other decoder row lost its label, ⟨s0⟩ among them: ``label_every_row`` makes the rows tall enough, and only
    the rows (the columns keep their width and their labels)."""
    q = ["<|bos|>", "<|sentinel_0|>", " of", " a", " wife", "."]
    k = [f" w{i}" for i in range(40)]
    w = np.full((len(q), len(k)), 1 / len(k))
    square = charts.attention_heatmap(w, q, k, "Learned: cross", width=700, font=18)
    assert len(square.layout.yaxis.tickvals) < len(q)  # the fault: rows as small as the columns are wide
    tall = charts.attention_heatmap(w, q, k, "Learned: cross", width=700, font=18, label_every_row=True)
    assert list(tall.layout.yaxis.ticktext) == [charts.axis_label(t) for t in q] and "⟨s0⟩" in tall.layout.yaxis.ticktext
    assert list(tall.layout.xaxis.tickvals) == list(square.layout.xaxis.tickvals) and tall.layout.width == square.layout.width
    assert tall.layout.yaxis.scaleanchor is None and square.layout.yaxis.scaleanchor == "x"
