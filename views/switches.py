import pandas as pd
import streamlit as st

from ui import cache, catalog, charts, html, layout, state

PAGE = "switches"

layout.page(
    PAGE,
    "From encoder-decoder to decoder-only",
    "The original Transformer is an encoder-decoder. Take away its assumptions one at a time and it becomes a "
    "decoder-only model: the structure goes, the computation stays. Flip the four switches; the proof at the "
    "bottom runs live on copied weights.",
    keys=("sw", "size", "seed"),
)

on = state.get("sw")
cols = layout.row_columns(4)  # each toggle as wide as its label, wrapping when the row is full: labels stay whole
for col, (letter, (_, title, detail)) in zip(cols, html.SWITCHES.items()):
    with col:
        flipped = st.toggle(f"({letter}) {title}", value=letter in on, key=f"{PAGE}.{letter}", help=detail)
        if flipped != (letter in on):
            on = "".join(s for s in "abcd" if (s in on) != (s == letter))
            state.put("sw", on)

named = [f"({letter})" for letter in "abcd" if letter in on]
named = ", ".join(named[:-1]) + f" and {named[-1]}" if len(named) > 1 else "".join(named)
if set("abc") <= set(on):
    now = "decoder-only" if "d" in on else "prefix-LM"
    st.success(f"With {named} on, this model computes exactly what a **{now}** computes." + ("" if "d" in on else " Add (d) for a decoder-only."), icon=":material/check_circle:")
elif on:
    st.info(f"With {named} on: still an encoder-decoder, with less structure. Switch on (a), (b) and (c) together to reach the prefix-LM.", icon=":material/sync_alt:")
else:
    st.info("The encoder-decoder as built in 2017, for translation.", icon=":material/translate:")

# the diagram at its own size (14 px type; in a column beside the table it shrank to ~10 px), the table under it
layout.svg_block(html.switch_diagram(on))
layout.html_block(html.comparison_table(on))
st.caption("Each row is one switch; the highlighted cell describes the model as it stands.")
trained = catalog.pick_variant("encoder_decoder")
reliance = None if trained.startswith("random-") else cache.encoder_reliance(trained)
if reliance is not None:  # the encoder-decoder the other pages show, measured: does its decoder use what its encoder read?
    (st.caption if reliance.reads_encoder else st.info)("Measured on MaskLab's trained encoder-decoder. " + cache.encoder_reading_sentence(trained))

st.subheader("What it costs")
with layout.side_controls("Cost of each model"):
    state.bind(PAGE, "size", st.segmented_control, "Layer size", options=list(state.SIZES), required=True,
               help="Width and depth per stack, as engine.catalog.SIZES; the encoder-decoder has this many layers in each stack.")
costs = cache.model_cost(on, state.get("size"))
per_model = costs.groupby("model", sort=False)[["total", "flops_per_token"]].first()
m = layout.row_columns(4)
base, now_row, dec = per_model.loc["encoder-decoder"], per_model.loc["with switches"], per_model.loc["decoder-only"]
m[0].metric("Parameters, with these switches", f"{int(now_row['total']):,}", f"{int(now_row['total'] - base['total']):+,} vs encoder-decoder", delta_color="off", delta_arrow="off")
m[1].metric("Decoder-only of the same width", f"{int(dec['total']):,}")
m[2].metric("Forward FLOPs per token", f"{now_row['flops_per_token'] / 1e6:,.2f} M", f"{(now_row['flops_per_token'] / base['flops_per_token'] - 1):+.0%} vs encoder-decoder", delta_color="off", delta_arrow="off")
m[3].metric("Decoder-only FLOPs per token", f"{dec['flops_per_token'] / 1e6:,.2f} M")
layout.chart(charts.params_bars(costs), key=f"{PAGE}.params", data=costs, name="parameters-by-component")
st.caption(
    "FLOPs for a 256-token sequence, half input and half target, counted the same way for every model (engine.cost): "
    "every token passes through the layers once, attention pays per pair the mask allows, and the output layer pays at "
    f"the target's positions only. Without (b) the encoder-decoder has {base['total'] / dec['total']:.2f}x the parameters of a "
    f"decoder-only of the same width, yet costs {base['flops_per_token'] / dec['flops_per_token']:.2f}x its FLOPs per token: each stack only reads its own half."
)

st.subheader("The proof, run live")
demo = cache.switch_demo(on, state.get("seed"))
p1, p2, p3 = layout.row_columns(3)
close = 1e-4
p1.metric("Max |logit difference| vs prefix-LM", f"{demo['max_diff_vs_prefix_lm']:.1e}", "identical" if demo["max_diff_vs_prefix_lm"] < close else "different", delta_color="normal" if demo["max_diff_vs_prefix_lm"] < close else "off", delta_arrow="off")
p2.metric("Max |logit difference| vs decoder-only", f"{demo['max_diff_vs_decoder']:.1e}", "identical" if demo["max_diff_vs_decoder"] < close else "different", delta_color="normal" if demo["max_diff_vs_decoder"] < close else "off", delta_arrow="off")
p3.metric("Parameters (demo model / single stack)", f"{demo['parameters']:,} / {demo['prefix_lm_parameters']:,}")
st.caption(
    "A tiny random model (engine.switch_demo): one set of weights is copied into the switched encoder-decoder and into "
    "a prefix-LM and a decoder-only, and both read the same input and target. A difference near 1e-7 is float rounding: "
    "the same function. With (a)+(b)+(c) it matches the prefix-LM; with (d) as well, the decoder-only."
)

with st.expander("Why these assumptions fade with scale", expanded=not state.presenting()):
    st.markdown(
        "1. **Separate parameters for input and target (b).** Natural for translation in 2017; less so when one model "
        "holds what it knows in every language and for every task.\n"
        "2. **The target reads only the input's last layer (c).** Deep networks encode different levels of detail at "
        "different depths; reading only the top may be a bottleneck.\n"
        "3. **Input tokens see each other both ways (d).** At scale this seems to matter little, and it has a price: "
        "in a chat, a bidirectional model re-reads the whole history every turn (see *Multi-turn chat cost*)."
    )
    flan = pd.DataFrame(
        [("80M", "T5-Small", -9.2, -3.1), ("250M", "T5-Base", -5.1, 6.5), ("780M", "T5-Large", -5.0, 13.8), ("3B", "T5-XL", -4.1, 19.1),
         ("11B", "T5-XXL", -2.9, 23.7), ("8B", "PaLM", 6.4, 21.9), ("62B", "PaLM", 28.4, 38.8), ("540B", "PaLM", 49.1, 58.4),
         ("62B", "cont-PaLM", 38.1, 46.7), ("540B", "U-PaLM", 50.2, 59.1)],
        columns=["parameters", "model", "before", "after instruction tuning"],
    )
    flan["gain"] = flan["after instruction tuning"] - flan["before"]
    layout.table(flan, column_config={  # one decimal throughout: -5.0, not -5
        "before": st.column_config.NumberColumn("before", format="%.1f"),
        "after instruction tuning": st.column_config.NumberColumn("after instruction tuning", format="%.1f"),
        "gain": st.column_config.ProgressColumn("gain", min_value=0, max_value=30, format="%+.1f")})
    st.caption(
        "Instruction tuning on academic datasets (normalised average score): the encoder-decoder T5 models gained far "
        "more than the decoder-only PaLM models. Those datasets have long inputs and short targets; separate weights "
        "for each may be structure that helps there, and stops helping once the interesting uses need long answers."
    )
