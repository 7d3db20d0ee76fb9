import pandas as pd
import streamlit as st

from engine.objectives import OBJECTIVES
from ui import cache, charts, html, layout, state

PAGE = "objectives"
EXAMPLE = 512  # tokens per training example, T5's input length: a longer text is cut to its first example

ABOUT = {
    "clm": "Every position predicts the next token, so every token but the first receives loss: the most "
           "training signal a text can give.",
    "mlm": "About 15% of tokens are chosen; of those, 80% become <|mask|>, 10% a random token, 10% stay as they "
           "were (so the model cannot tell which visible tokens are tested). Only the chosen ones receive loss, "
           "and the blanks are filled in place: awkward for few-shot use.",
    "span_corruption": "Random spans are cut out and each replaced by a sentinel; the spans are moved to the back as "
                       "the target, each behind its sentinel. Works for encoder-decoders and decoder-only models alike.",
    "prefix_lm": "The prefix is context, read both ways and never predicted; the rest is predicted left to right.",
    "ul2": "One of three denoisers per example, named by a mode token up front: R (T5's spans), X (long spans, "
           "heavy corruption) or S (prefix LM). Language modelling and infilling in one model.",
    "fim": "Half the examples (the FIM rate) are cut at two random points and rearranged prefix, suffix, middle, each behind "
           "its own token; the model then writes the middle left to right, having read both sides. Every token still "
           "receives loss, as in causal LM: infilling at no cost in exposure (Bavarian et al. 2022).",
}

layout.page(
    PAGE,
    "Objectives and loss exposure",
    "An objective turns text into a question and its answer: what the model reads, and which tokens it must "
    "predict. Only those send a training signal, so the share of tokens that receive loss — loss exposure — "
    "decides how much a model learns from each pass over the data.",
    keys=("obj", "rate", "span", "split", "mode", "roll", "seed", "size", "fimr"),
)
text = layout.text_box(PAGE)
layout.need_text(text, "what each objective makes of it")
tokens = cache.tokens(text, "masklab")
if len(tokens) > EXAMPLE:
    st.caption(f"Objectives work on training examples of at most {EXAMPLE} tokens (T5's input length); this page uses "
               f"the first {EXAMPLE} of your {len(tokens):,}.")
    tokens = tokens[:EXAMPLE]
ids = tuple(t.id for t in tokens)
n = len(ids)

objective = state.bind(PAGE, "obj", st.segmented_control, "Objective", options=list(OBJECTIVES), format_func=charts.OBJ_NAMES.get, required=True)
st.caption(ABOUT[objective])

params: dict = {}
if objective == "ul2":  # a row of its own: four named denoisers need the page's width
    mode = state.bind(PAGE, "mode", st.segmented_control, "UL2 denoiser", options=["auto", "R", "S", "X"], required=True,
                      format_func={"auto": "drawn by the seed", **charts.UL2_MODE_NAMES}.get)
    if mode != "auto":
        params["mode"] = mode
cols = st.columns([2, 2, 1.2, 1.6], vertical_alignment="bottom")  # the button as wide as "Resample" in the larger type
with cols[0]:
    if objective == "mlm":
        params["mask_rate"] = state.bind(PAGE, "rate", st.slider, "Mask rate", min_value=0.0, max_value=1.0, step=0.01, help="Share of tokens chosen for prediction (BERT: 0.15).")
    elif objective == "span_corruption":
        params["noise_density"] = state.bind(PAGE, "rate", st.slider, "Noise density", min_value=0.0, max_value=1.0, step=0.01, help="Share of tokens cut out (T5: 0.15).")
    elif objective == "fim":
        params["fim_rate"] = state.bind(PAGE, "fimr", st.slider, "FIM rate", min_value=0.0, max_value=1.0, step=0.05,
                                        help="Share of examples rearranged to fill in the middle (the paper: 0.5); the rest stay causal LM.")
    elif objective == "prefix_lm" and n >= 2:
        if state.get("split") >= n:
            state.put("split", n - 1)
        params["split"] = state.bind(PAGE, "split", st.slider, "Prefix length", min_value=1, max_value=n - 1, to_widget=lambda v: n // 2 if v < 1 else v,
                                     help="Tokens before this point are context; the rest are targets.")
with cols[1]:
    if objective == "span_corruption":
        params["mean_span_length"] = state.bind(PAGE, "span", st.slider, "Mean span length", min_value=1.0, max_value=32.0, step=0.5, help="T5: 3 tokens.")
with cols[2]:
    seed = state.bind(PAGE, "seed", st.number_input, "Seed", min_value=0, max_value=1_000_000, step=1)
with cols[3]:
    if st.button("Resample", icon=":material/casino:", key=f"{PAGE}.resample", help="Draw again with the next seed.", disabled=objective == "clm"):
        state.put("seed", min(seed + 1, 1_000_000))
        st.rerun()

if objective in ("span_corruption", "ul2"):
    if state.bind(PAGE, "roll", st.toggle, "Roll the span layout",
                  help="T5's random_roll: shift the whole noise mask by a random offset, so that a lone span need not be last."):
        params["random_roll"] = True

try:
    c = cache.corruption(ids, objective, seed, tuple(sorted(params.items())))
except ValueError as e:  # e.g. more spans than the 100 sentinels
    st.error(f"These settings do not work on this text: {e}. Lower the noise density or lengthen the spans.", icon=":material/block:")
    st.stop()
if objective == "fim":
    f = c.span_origin[0] if c.span_origin else None
    order = " (SPM order: the suffix first)" if f and c.kinds[:2] == ["fim", "fim"] else ""
    st.caption(f"This draw: the middle is tokens {f[0] + 1}–{f[1]} of {n}, written last{order}. Resample draws again." if f else
               "This draw left the text as causal LM (the FIM rate decides how often). Resample draws again.")
if c.span_style and "random_roll" not in params and len(c.span_origin) == 1:
    st.caption("Resample changes nothing here: this text gets one noise span, and T5's layout always puts a lone span "
               "at the end, so every seed gives the same example. Roll the span layout to move it.")
inputs = cache.token_texts(tuple(c.inputs))
original = [t.text for t in tokens]

m = layout.row_columns(5)  # each metric as wide as its label, wrapping to a second row: never cut
m[0].metric("Tokens in the text", f"{n:,}")
m[1].metric("Text tokens supervised", f"{c.n_loss_tokens:,}", help="Tokens of your text the model must predict.")
m[2].metric("Loss exposure", f"{100 * c.exposure:.1f}%", help="Text tokens supervised, as a share of the text's tokens.")
m[3].metric("Target positions with a loss", f"{c.n_loss_positions:,}",
            help="Positions where the model is scored, whatever they predict: sentinels and the end-of-text token count too.")
m[4].metric("UL2 mode" if c.mode else "Model reads", c.mode or f"{len(c.inputs):,} tokens")

st.subheader("What the model reads, and what it must predict")
if not c.span_style:
    labels = [None if t < 0 else t for t in c.targets]
    label_texts = cache.token_texts(tuple(t for t in labels if t is not None))
    it = iter(label_texts)
    bottoms = [None if t is None else next(it) for t in labels]
    kinds = [k if k in html.KIND_LABELS else "" for k in c.kinds]
    layout.html_block(html.legend(sorted({k for k in kinds if k})) if any(kinds) else "")
    layout.html_block(html.row("Each position: the token read (top) and the token it must predict (below; – for none)",
                               html.interlinear(inputs, bottoms, top_kinds=kinds)))
else:
    targets = cache.token_texts(tuple(c.targets))
    kinds_in = [k if k in html.KIND_LABELS else "" for k in c.kinds]
    kinds_out = ["sentinel" if t.startswith("<|sentinel_") else "eos" if t == "<|endoftext|>" else "" for t in targets]
    layout.html_block(html.legend(["sentinel", "mode", "eos"] if c.mode else ["sentinel", "eos"]))
    layout.html_block(html.row(f"Encoder input · {html.count(len(c.inputs), 'token')} · the spans are gone, a sentinel marks each hole",
                               html.kind_chips(inputs, kinds_in)))
    layout.html_block(html.row(f"Decoder target · {html.count(c.n_loss_positions, 'position')} with a loss (sentinels and end-of-text "
                               f"included) · {c.n_loss_tokens:,} of them {'is a text token' if c.n_loss_tokens == 1 else 'are text tokens'} supervised",
                               html.kind_chips(targets, kinds_out)))
    st.caption("A decoder-only model reads the two as one sequence: the input as its (bidirectional) prefix, then the target.")

layout.html_block(html.row(f"Where the loss lands in your text: {html.count(c.n_loss_tokens, 'text token')} supervised (underlined); faded: only context",
                           html.loss_marked_chips(original, c.loss_mask)))

st.subheader("Loss exposure, every objective on this text")
# the objective shown above at the page's settings, so its bar says what the example says; the others at their defaults
rows = cache.exposure(ids, seed, ((objective, tuple(sorted((k, v) for k, v in params.items() if k != "mode"))),))
label = objective if objective != "ul2" or "mode" not in params else f"ul2-{params['mode']}"
layout.chart(charts.exposure_bar(rows, highlight=label), key=f"{PAGE}.exposure", data=pd.DataFrame(rows), name="loss-exposure")
by_label = {r["label"]: r for r in rows}
mlm_row, clm_row, plm_row = by_label["mlm"], by_label["clm"], by_label["prefix_lm"]
mine = "" if objective == "clm" else f"{charts.objective_name(label)} (highlighted) at the settings above, the others at their defaults"
st.caption(
    f"On your text, with seed {seed}: {mine or 'every objective at its defaults'}. BERT-style masking teaches from {100 * mlm_row['exposure']:.0f}% "
    f"of the tokens (about one in {1 / mlm_row['exposure']:.0f}); causal LM from {100 * clm_row['exposure']:.0f}%. "
    + (f"The prefix-LM here learns from the {plm_row['n_loss_tokens']:,} of {plm_row['n_tokens']:,} tokens after your prefix "
       f"({100 * plm_row['exposure']:.0f}%); in training its split is drawn at random, anywhere from the first token to the last, about half on average."
       if objective == "prefix_lm" else
       f"The prefix-LM's split is drawn at random, anywhere from the first token to the last, so its exposure moves with the text "
       f"and the seed: here {100 * plm_row['exposure']:.0f}% ({plm_row['n_loss_tokens']:,} of {plm_row['n_tokens']:,} tokens after the prefix), "
       "about half on average.") if mlm_row["exposure"] > 0 else
    f"On your text, with seed {seed}: {mine or 'every objective at its defaults'}. BERT-style masking hides no token here, so it teaches nothing."
)

st.subheader("Supervised tokens per unit of compute")
with layout.side_controls("Loss exposure per FLOP"):
    state.bind(PAGE, "size", st.segmented_control, "Model size", options=list(state.SIZES), required=True)
size = state.get("size")
sup = cache.supervision(ids, seed, size)
layout.chart(charts.supervision_bar(sup), key=f"{PAGE}.supervision", data=pd.DataFrame(sup), name="supervised-tokens-per-flop")
st.caption(
    "Training FLOPs from engine.cost for one pass over this example, each objective on the architecture MaskLab trains "
    "it with (an encoder-decoder has twice the layers, yet each half only reads its own part). Fewer text tokens "
    "supervised means less learning per FLOP."
)
