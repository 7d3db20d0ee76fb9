import streamlit as st

from engine.masks import attention_masks
from ui import cache, catalog, html, layout

layout.page(
    "home",
    "What does each architecture see, and what does each objective teach?",
    "Transformers differ in two choices: which tokens may look at which (the attention mask) and which "
    "tokens send a training signal (the objective). MaskLab shows both on your own text, with small "
    "models trained on 19th-century English novels.",
)

FAMILIES = [
    ("Encoder-decoder", "most structure · 2017, for translation", attention_masks("prefix_lm", 4, 4)["self"], "#CC79A7", 4,
     "One stack reads the input in both directions; a second stack writes the target left to right and "
     "looks at the input's last layer through cross-attention. Separate weights for input and target."),
    ("Encoder-only", "gives up generation · BERT", attention_masks("encoder", 8)["self"], "#0072B2", None,
     "Every token sees every other. Good at filling blanks and classifying, but there is no left-to-right "
     "order to extend, so it cannot write text."),
    ("Decoder-only", "least structure · GPT", attention_masks("decoder", 8)["self"], "#D55E00", None,
     "Input and target are one sequence, read left to right by one set of weights; every next token is a "
     "small training example. A prefix-LM lets the input part look both ways."),
]

cols = st.columns(3, gap="medium")
for col, (name, tag, mask, color, split, body) in zip(cols, FAMILIES):
    with col:
        layout.svg_block(
            # the name on a line of its own, the width of the card: beside the glyph it broke at its hyphen
            f'<div class="ml-card"><h4>{html.esc(name)}</h4><div style="display:flex;gap:1em;align-items:center">'
            f'{html.mini_mask_svg(mask.tolist(), color=color, split=split)}'
            f'<p style="opacity:.75">{html.esc(tag)}</p></div>'
            f'<p>{html.esc(body)}</p></div>'
        )

st.markdown(
    "**The argument.** Methods that keep scaling with compute tend to win over structure we build in. "
    "Structure can pay at a given budget, but it turns into a bottleneck as compute grows. "
    "Decoder-only is what is left when the encoder-decoder's assumptions are removed, one at a time."
)

st.subheader("Try it on your text")
layout.text_box("home", height=80)

LINKS = [
    ("views/tokenization.py", "Tokenization", "What a “word” is to a model: the same text under several vocabularies."),
    ("views/masks.py", "Attention masks", "Who may look at whom, over your tokens, beside what a trained model actually looks at."),
    ("views/compose.py", "Compose masks", "Sliding windows, global tokens, chunks and documents: compose a pattern, see its cost and reach."),
    ("views/objectives.py", "Objectives and loss exposure", "What the model reads, what it must predict, and how much of the text teaches it."),
    ("views/losses.py", "Per-token losses", "Every token coloured by surprise, for several models side by side; probes; generation."),
    ("views/switches.py", "Encoder-decoder to decoder-only", "Four switches turn one into the other, with the proof run live."),
    ("views/chat.py", "Multi-turn chat cost", "Why re-reading the whole conversation every turn gets expensive."),
    ("views/scaling.py", "Scaling and training", "Loss against compute, per skill; and a training run you can start."),
]
grid = st.columns(2, gap="medium")
for i, (path, label, blurb) in enumerate(LINKS):
    with grid[i % 2]:
        st.page_link(path, label=f"**{label}**")
        st.caption(blurb)

st.divider()
infos = []
try:
    infos = catalog.variants()
except Exception as e:  # the home page stays up even if the model list cannot be read
    st.warning(f"The model list could not be read: {e}")
shipped = [v.name for v in infos if v.source == "shipped"]
left, right = st.columns(2)
with left:
    st.markdown(f"**Device:** {html.esc(layout.device_label())}")
    if cache.LOADED:
        # a published checkpoint by its own name, not the folder or file it was read from
        st.markdown("**Loaded now:** " + ", ".join(f"`{html.esc(catalog.short_label(n))}`" for n in sorted(cache.LOADED)))
    else:
        st.caption("No model is loaded yet; pages load them when needed.")
with right:
    if shipped:
        st.markdown(f"**Trained models shipped:** {len(shipped)} — " + ", ".join(f"`{n}`" for n in shipped))
    else:
        st.info(
            "No trained models are shipped with this copy yet, so model views use tiny untrained `random-*` models. "
            "Train them with `python -m engine.pretrain --preset gpu` (one GPU, minutes) or `--preset cpu` (hours).",
            icon=":material/info:",
        )
