import pandas as pd
import streamlit as st

from engine.masks import PRESETS, dense, document_ids, layer_patterns, layer_reach, layers_from_config, layers_text, parse_layers, pattern_cost
from ui import cache, catalog, charts, layout, state

PAGE = "compose"
LETTERS = "ABCD"
MAX_TOKENS = 128  # tokens a composed pattern is drawn over: the first 128 of the text
CUSTOM = "Your own (type it below)"

layout.page(
    PAGE,
    "Compose attention masks",
    "Today's models do not all attend to everything before them. Compose a pattern from the pieces they use "
    "(sliding windows, global tokens such as attention sinks, chunks, documents) and compare: what it computes, what a generating "
    "model must keep, and how far information travels as the layers stack up.",
    keys=("pats", "block", "depth"),
)
text = layout.text_box(PAGE, height=80)
layout.need_text(text, "the patterns")
tokens = cache.tokens(text, "masklab")[:MAX_TOKENS]
labels = [t.text for t in tokens]
n = len(tokens)
if len(cache.tokens(text, "masklab")) > MAX_TOKENS:
    st.caption(f"The patterns are drawn over the text's first {MAX_TOKENS} tokens.")
docs = document_ids(text, [t.start for t in tokens])


def set_pattern(i: int) -> None:
    """A preset chosen for pattern ``i``: its text becomes the pattern's."""
    preset = state.session_value(f"{PAGE}.preset.{i}")
    if preset in PRESETS:
        texts = list(state.get("pats"))
        texts[i] = PRESETS[preset]
        state.put("pats", tuple(texts))
        state.set_session_value(f"{PAGE}.text.{i}", PRESETS[preset])


def set_text(i: int) -> None:
    """A pattern typed for ``i``: kept when it parses; else the page says why and keeps the last good one."""
    raw = state.session_value(f"{PAGE}.text.{i}", "")
    try:
        parsed = layers_text(parse_layers(raw))
    except ValueError as e:
        state.set_session_value(f"{PAGE}.error.{i}", f"{raw!r}: {e}")
        return
    state.set_session_value(f"{PAGE}.error.{i}", None)
    texts = list(state.get("pats"))
    texts[i] = parsed
    state.put("pats", tuple(texts))
    state.set_session_value(f"{PAGE}.preset.{i}", {v: k for k, v in PRESETS.items()}.get(parsed, CUSTOM))  # the preset box says what the pattern is


def set_count() -> None:
    k = state.session_value(f"{PAGE}.count")
    texts = list(state.get("pats"))[:k]
    defaults = [PRESETS[p] for p in PRESETS]
    while len(texts) < k:
        texts.append(defaults[(len(texts) + 3) % len(defaults)])
    state.put("pats", tuple(texts))


texts = list(state.get("pats"))
count_default = min(max(len(texts), 1), state.MAX_PATTERNS)
state.choice(f"{PAGE}.count", (1, 2, 3, 4), count_default)
st.segmented_control("Patterns side by side", (1, 2, 3, 4), key=f"{PAGE}.count", on_change=set_count, required=True)
# two patterns to a row at most: four across cut the preset names and the composed text to a third of themselves
per_row = min(len(texts), 2)
cols = [c for _ in range(0, len(texts), per_row) for c in st.columns(per_row, gap="medium")][: len(texts)]
cycles = []
for i, (col, t) in enumerate(zip(cols, texts)):
    with col:
        by_text = {v: k for k, v in PRESETS.items()}
        state.choice(f"{PAGE}.preset.{i}", [*PRESETS, CUSTOM], by_text.get(t, CUSTOM))
        st.selectbox(f"Pattern {LETTERS[i]}", [*PRESETS, CUSTOM], key=f"{PAGE}.preset.{i}", on_change=set_pattern, args=(i,))
        if state.session_value(f"{PAGE}.text.{i}") is None or not state.session_value(f"{PAGE}.error.{i}"):
            state.set_session_value(f"{PAGE}.text.{i}", t)
        st.text_input("mask_mod, composed", key=f"{PAGE}.text.{i}", on_change=set_text, args=(i,),
                      help="Names: causal, bidirectional, prefix(n), window(w), chunk(c), dilated(d), global(g), document; "
                           "combined with & (and), | (or), ~ (not) and parentheses. Layers that differ: 5*(causal & window(8)); causal")
        if state.session_value(f"{PAGE}.error.{i}"):
            st.warning(f"Not a pattern, so the last one stays: {state.session_value(f'{PAGE}.error.{i}')}", icon=":material/error:")
        cycles.append(parse_layers(t))

with layout.side_controls("Cost and reach"):
    state.bind(PAGE, "block", st.select_slider, "FlexAttention block size (tokens)", options=list(state.BLOCK_SIZES),
               help="FlexAttention computes attention in blocks of this many queries and keys, and skips a block the mask leaves empty. "
                    "128 on a GPU; smaller here, so a sentence has blocks to skip.")
    state.bind(PAGE, "depth", st.slider, "Layers", min_value=1, max_value=48, help="How many layers the receptive field is followed through.")
block, depth = state.get("block"), state.get("depth")

first_layer = [dense(layer_patterns(c, 1)[0].mask_mod(docs), n) for c in cycles]
fig = charts.mask_grid([(LETTERS[i], m, None) for i, m in enumerate(first_layer)], labels, title="May attend", **layout.room(1))
layout.chart(fig, key=f"{PAGE}.masks", name="composed-masks")
if any(len(c) > 1 or c[0][0] > 1 for c in cycles):
    st.caption("A pattern whose layers differ is drawn at its first layer; the reach below follows every layer.")
if any(p.uses_documents() for c in cycles for _, p in c):
    st.caption(f"Documents: {int(docs.max()) + 1 if n else 0}, separated in your text by blank lines or <|endoftext|>.")

# what each pattern costs, and what it reaches
rows, reach_rows, grids = [], [], []
causal_pairs = n * (n + 1) // 2
for i, c in enumerate(cycles):
    per_layer = [dense(p.mask_mod(docs), n) for p in layer_patterns(c, depth)]
    costs = [pattern_cost(m, block) for m in per_layer]
    first = costs[0]
    rows.append({
        "pattern": LETTERS[i],
        "pairs computed": f"{first.pairs:,} of {n * n:,} ({100 * first.pair_share:.0f}%)",
        "attention FLOPs vs causal": f"{first.pairs / max(1, causal_pairs):.2f}×",
        "blocks computed": f"{first.blocks.partial + first.blocks.full} of {first.blocks.grid.numel()} ({100 * first.blocks.computed_share:.0f}%)",
        "KV cache per layer (tokens)": " / ".join(dict.fromkeys(str(x.kv_tokens) for x in costs)),
    })
    grids.append((LETTERS[i], first.blocks.grid.numpy()))
    reach = layer_reach(per_layer)
    for layer in range(depth):
        heard = reach[layer, n - 1] if n else reach[layer, 0]
        earliest = int(heard.float().argmax()) if heard.any() else n - 1
        reach_rows.append({"pattern": LETTERS[i], "layer": layer + 1, "back": n - 1 - earliest, "reach": int(heard.sum())})
    if first.empty_rows:
        st.warning(f"Pattern {LETTERS[i]} leaves {first.empty_rows} token(s) nothing to attend to: attention is undefined there.",
                   icon=":material/warning:")

layout.table(pd.DataFrame(rows))
st.caption("Pairs computed: query-key pairs the mask allows in one layer (a causal mask allows n(n+1)/2). KV cache: the keys the "
           "last token reads, what a generating model keeps per layer and key/value head (several numbers when layers differ). "
           "Blocks: at the FlexAttention block size of the slider, the tiles FlexAttention's BlockMask computes.")
layout.chart(charts.block_grids(grids, block), key=f"{PAGE}.blocks", name="blocks")
if n % block:
    st.caption(f"The text's {n} tokens end inside the last block ({n} = {n // block} × {block} + {n % block}): its row and column "
               "are partial even where the mask allows every pair, because FlexAttention must mask the padding past the end.")
layout.chart(charts.reach_chart(reach_rows), key=f"{PAGE}.reach", name="receptive-field")

def causal_window(cycle) -> int | None:
    """w when a pattern's first layer is causal & window(w), else None."""
    first = layer_patterns(cycle, 1)[0]
    ops = {x.op: x.arg for x in first.parts} if first.op == "and" else {}
    return ops.get("sliding_window") if "causal" in ops else None


reach_words = charts.reach_sentence(reach_rows, {LETTERS[i]: causal_window(c) for i, c in enumerate(cycles) if causal_window(c)}, n)
if reach_words:
    st.caption(reach_words)

st.subheader("What a trained model loses under a pattern")
models = [m for m in catalog.models_for("decoder") if not m.startswith("random-")]
if not models:
    st.info("No trained decoder is here to read through a pattern.", icon=":material/info:")
else:
    left, right = st.columns([3, 1])
    name = left.selectbox("Model", models, format_func=catalog.short_label, key=f"{PAGE}.model",
                          help="A decoder trained with a causal mask, scored on your text through the pattern instead.")
    which = right.selectbox("Pattern", [LETTERS[i] for i in range(len(cycles))], key=f"{PAGE}.surgery")
    config = getattr(cache.variant(name).model, "config", None)
    own = layers_from_config(getattr(config, "layer_types", None), getattr(config, "sliding_window", None))
    if own:
        def use_own(text=own):
            state.put("pats", (text,) + tuple(state.get("pats"))[1:])
            state.set_session_value(f"{PAGE}.text.0", text)
        st.caption(f"{catalog.short_label(name)}'s own layers, from its config: {own}.")
        st.button("Make its own layers pattern A", key=f"{PAGE}.own", on_click=use_own, icon=":material/layers:")
    cycle = cycles[LETTERS.index(which)]
    if len(cycle) > 1:
        st.caption("This pattern's layers differ; the model reads its first layer's pattern in every layer.")
    pattern = cycle[0][1].text()
    part = layout.limited_text(text, tokens)
    try:
        plain, through = cache.score(name, part), cache.score_through(name, part, pattern)
    except ValueError as e:
        st.warning(f"{catalog.short_label(name)} cannot read through {pattern}: {e}.", icon=":material/block:")
    else:
        ok = plain["scored"].astype(bool)
        before, after = float(plain.loss[ok].mean()), float(through.loss[ok].mean())
        m = layout.row_columns(3)
        m[0].metric("Mean loss, its own mask", f"{before:.2f} nats")
        change = after - before
        m[1].metric(f"Through {which}", f"{after:.2f} nats", f"{change:+.2f}" if abs(change) >= 0.005 else None, delta_color="inverse")
        worst = (through.loss - plain.loss)[ok].sort_values(ascending=False).head(5)
        hurt = [i for i in worst.index[:3] if worst[i] > 0.01]
        m[2].metric("Tokens it hurts most", ", ".join(repr(plain.token[i].strip() or plain.token[i]) for i in hurt) or "none")
        if (through.loss - plain.loss)[ok].abs().max() < 1e-4:
            st.caption(f"{pattern} is what {catalog.short_label(name)} reads anyway on this text: no token's loss changes.")
        else:
            layout.chart(charts.loss_change(plain, through, pattern), key=f"{PAGE}.surgery.chart", name="loss-through-pattern")
        st.caption(f"engine.score(..., mask=...): {catalog.short_label(name)} reads through {pattern} in every layer. Positions count "
                   "the model's own tokens from its first input, so a global token or sink lands on its start.")

st.subheader("The mask_mod of each pattern")
st.caption("FlexAttention's vocabulary: pass one to torch.nn.attention.flex_attention.create_block_mask (each layer its own when they differ).")
for i, c in enumerate(cycles):
    for k, p in c:
        head = f"# pattern {LETTERS[i]}" + (f", {k} layer{'s' if k > 1 else ''} of its cycle" if len(c) > 1 else "") + "\n"
        st.code(head + p.code(), language="python")
