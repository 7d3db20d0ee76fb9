"""The composer page: patterns from presets or typed, the link carrying them, their costs from the engine,
and a typed mistake kept from the page with the reason."""

import json

from conftest import open_page
from engine.masks import PRESETS, dense, layers_text, parse_layers, pattern_cost
from ui import state

TEXT = "The Eiffel Tower stands 324 meters tall in Paris, France.\n\nA second document starts after a blank line."


def _charts(at, kind):
    out = []
    for e in at.get(kind):
        out.append(json.loads(e.proto.spec))
    return out


def test_a_link_restores_every_pattern_and_the_table_reads_the_engines_costs():
    pats = "causal & window(3)\n5*(causal & window(3)); causal\ncausal & document"
    at = open_page("compose", TEXT, {"pats": pats, "block": "4", "depth": "7"})
    assert at.session_state["pats"] == tuple(layers_text(parse_layers(p)) for p in pats.split("\n"))
    assert at.session_state["block"] == 4 and at.session_state["depth"] == 7
    assert [t.value for t in at.text_input][:3] == list(at.session_state["pats"])
    table = at.dataframe[0].value
    n = int(str(table.iloc[0]["pairs computed"]).split(" of ")[1].split()[0].replace(",", "")) ** 0.5
    mask = dense(parse_layers(pats.split("\n")[0])[0][1].mask_mod(), int(n))
    cost = pattern_cost(mask, 4)
    assert table.iloc[0]["pairs computed"].startswith(f"{cost.pairs:,} of")
    assert table.iloc[0]["KV cache per layer (tokens)"] == "4"  # the query and the 3 before it
    assert table.iloc[1]["KV cache per layer (tokens)"] == f"4 / {int(n)}"  # Gemma-style: local layers, then a global one
    grid = _charts(at, "plotly_chart")[0]
    assert len([t for t in grid["data"] if t["type"] == "heatmap"]) == 3  # three patterns side by side
    ragged = [c.value for c in at.caption if "end inside the last block" in c.value]
    assert len(ragged) == (int(n) % 4 != 0) and all(f"{int(n)} = {int(n) // 4} × 4 + {int(n) % 4}" in c for c in ragged)


def test_a_preset_fills_its_pattern_and_a_typed_mistake_keeps_the_last_good_one():
    at = open_page("compose", TEXT)
    name = next(k for k, v in PRESETS.items() if "global" in v)
    at.selectbox(key="compose.preset.1").set_value(name).run()
    assert at.session_state["pats"][1] == layers_text(parse_layers(PRESETS[name]))
    at.text_input(key="compose.text.0").set_value("causal & windw(4)").run()
    assert not at.exception
    assert any("unknown name 'windw'" in w.value for w in at.warning)
    assert at.session_state["pats"][0] == state.DEFAULT_PATTERNS[0]  # the last good pattern stays
    at.text_input(key="compose.text.0").set_value("chunk(4) & causal").run()
    assert at.session_state["pats"][0] == "chunk(4) & causal" and not at.warning


def test_four_patterns_side_by_side_and_back_to_one():
    at = open_page("compose", TEXT)
    count = next(b for b in at.get("button_group") if b.key == "compose.count")
    count.set_value(4).run()
    assert len(at.session_state["pats"]) == 4 and len(at.text_input) == 4
    assert len([t for t in _charts(at, "plotly_chart")[0]["data"] if t["type"] == "heatmap"]) == 4
    next(b for b in at.get("button_group") if b.key == "compose.count").set_value(1).run()
    assert at.session_state["pats"] == state.DEFAULT_PATTERNS[:1] and len(at.text_input) == 1


def test_a_trained_decoder_read_through_a_window_loses_what_the_engine_says():
    """Mask surgery on the page: decoder-clm through pattern B (a 3-token causal window) against its own mask."""
    import engine
    from engine.masks import parse_pattern

    at = open_page("compose", TEXT, {"pats": "causal\ncausal & window(3)"})
    at.selectbox(key="compose.model").set_value("decoder-clm").run()
    metrics = {m.label: m for m in at.metric}
    assert metrics["Through A"].value == metrics["Mean loss, its own mask"].value  # its own mask: no change
    assert metrics["Tokens it hurts most"].value == "none"
    at.selectbox(key="compose.surgery").set_value("B").run()
    v = engine.load_variant("decoder-clm")
    plain, through = engine.score(v, TEXT), engine.score(v, TEXT, mask=parse_pattern("causal & window(3)"))
    metrics = {m.label: m for m in at.metric}
    assert metrics["Through B"].value == f"{through.loss.mean():.2f} nats"
    assert metrics["Through B"].delta == f"{through.loss.mean() - plain.loss.mean():+.2f}"
    at.text_input(key="compose.text.1").set_value("bidirectional").run()
    assert any("cannot read through bidirectional" in w.value and "after it" in w.value for w in at.warning)


def test_the_reach_chart_starts_at_zero_with_room_above_its_widest_line():
    """The full-attention line sits at the text's length: drawn on the plot's edge it was cut in half."""
    from ui import charts

    rows = [{"pattern": p, "layer": layer, "back": 0, "reach": r} for p, f in (("A", lambda n: 27), ("B", lambda n: 1 + 4 * n))
            for layer in range(1, 7) for r in [f(layer)]]
    spec = charts.reach_chart(rows).to_dict()
    lo, hi = spec["encoding"]["y"]["scale"]["domain"]
    assert lo == 0 and hi > 27 and spec["encoding"]["color"]["legend"]["orient"] == "right"


def test_the_reach_sentence_says_what_the_chart_draws():
    """It said "a window of 4: 24 tokens after 6 layers" beside a chart at 25, and for Gemma 3's cycle (a global
    sixth layer) "26 tokens" where the last layer hears the whole text: the sentence now reads the chart's rows."""
    import torch

    from engine.masks import dense, layer_patterns, layer_reach, parse_layers
    from ui import charts

    n, depth = 60, 6
    docs = torch.zeros(n, dtype=torch.long)  # one document
    rows = []
    for name, text in (("A", "causal & window(4)"), ("B", "5*(causal & window(4)); causal"), ("C", "causal & window(20)")):
        reach = layer_reach([dense(p.mask_mod(docs), n) for p in layer_patterns(parse_layers(text), depth)])
        for layer in range(depth):
            heard = reach[layer, n - 1]
            rows.append({"pattern": name, "layer": layer + 1, "back": n - 1 - int(heard.float().argmax()), "reach": int(heard.sum())})
    said = charts.reach_sentence(rows, {"A": 4, "B": 4, "C": 20}, n)
    assert "pattern A, window(4): 24 tokens back after 6 layers;" in said  # 6 x 4 back, 25 tokens heard as drawn
    assert "pattern B, window(4): 59 tokens back after 6 layers, its other layers reach further" in said  # its global sixth layer
    assert "pattern C, window(20): 59 tokens back after 6 layers, the start of the text" in said  # 120 > 59: capped by the text
    assert [r["reach"] for r in rows if r["pattern"] == "A"][-1] == 25
    assert charts.reach_sentence(rows, {}, n) == ""
