import contextlib

import numpy as np
import streamlit as st

from engine.masks import ARCHITECTURES, attention_masks, joint_mask, layer_window, visible
from engine.scoring import MAPS_BUDGET_BYTES, positions_covering
from ui import cache, catalog, charts, layout, state

PAGE = "masks"
# tokens per heatmap axis, at most 128 and no more than a full-width map holds with legible cells;
# longer texts get a window slider
WINDOW = min(128, charts.cells_that_fit(**layout.room(1)))

layout.page(
    PAGE,
    "Attention masks",
    "One rule decides every architecture: which earlier or later tokens a token may look at. First, the rules over "
    "your tokens side by side (filled: may attend); then what a model trained with each rule actually looks at.",
    keys=("archs", "split", "layer", "head", "win", "seed", "learned"),
)
text = layout.text_box(PAGE)
layout.need_text(text, "the masks")
tokens = layout.limit_tokens(cache.tokens(text, "masklab"))
labels = [t.text for t in tokens]
n = len(tokens)

archs = state.bind(PAGE, "archs", st.pills, "Architectures", options=list(ARCHITECTURES), selection_mode="multi",
                   format_func=charts.ARCH_NAMES.get, to_widget=list, from_widget=tuple)  # a row of its own: the four names whole
if n >= 2:
    if state.get("split") >= n:
        state.put("split", n - 1)
    # presenting, the input length goes to the sidebar with the other controls: the four rules fit the first screen
    with layout.side_controls("Input and target"):
        split = state.bind(PAGE, "split", st.slider, "Input length (prefix-LM and encoder-decoder)", min_value=1, max_value=n - 1,
                           to_widget=lambda v: n // 2 if v < 1 else v,
                           help="Tokens before this point are the input, read both ways; the rest is the target, written left to right.")
else:
    split = n
    st.caption("One token: nothing to split into input and target.")

if not archs:
    st.info("Choose at least one architecture.", icon=":material/checklist:")
    st.stop()

start, end = layout.window(PAGE, n, WINDOW)
CAPTIONS = {
    "encoder": "Bidirectional: every token sees every token, before and after it. Good for understanding a text; "
               "with no left-to-right order, nothing to generate.",
    "decoder": "Causal: each token sees itself and what came before. The lower triangle turns every position into "
               "a next-token prediction.",
    "prefix_lm": "The first {split} tokens, the input, see each other both ways; the rest are causal. "
                 "Same weights as the decoder-only: only the mask differs.",
    "encoder_decoder": "Two stacks. The encoder reads the first {split} tokens both ways; the decoder writes the rest "
                       "causally and reads every input token through cross-attention, from the encoder's last layer. Drawn over "
                       "one sequence it is the prefix-LM's pattern: what differs is two stacks of weights.",
}


def learned(arch: str, name: str) -> dict | None:
    try:  # the whole text's maps, once: every window is a slice of them
        return cache.attention(name, layout.limited_text(text, tokens), split=split if arch == "prefix_lm" else None, seed=seed if arch == "encoder_decoder" else 0)
    except Exception as e:  # a model that cannot load must not take the masks down with it
        st.warning(f"The learned attention of {catalog.short_label(name)} is unavailable: {e}", icon=":material/error:")
        return None


def rule(arch: str, q0: int, q1: int, k0: int, k1: int, n_prefix: int = 0) -> np.ndarray:
    """Which cells of queries [q0, q1) and keys [k0, k1) the architecture's rule lets attend (True),
    from `engine.masks.visible`: the learned map leaves the others empty, and draws a weight that
    underflowed to 0 as 0."""
    prefix = {"encoder": max(k1, q1), "decoder": 0, "prefix_lm": n_prefix}[arch]
    return visible(prefix, q0, q1, k0, k1).numpy()


def model_layer_window(name: str, layer: int) -> int | None:
    """`engine.masks.layer_window` of ``name``'s config: None for MaskLab's models, whose layers all read every key."""
    return layer_window(getattr(cache.variant(name).model, "config", None), layer)


def layer_rule(arch: str, name: str, layer: int, lo: int, hi: int) -> np.ndarray:
    """`rule` over queries and keys [lo, hi) for one layer of ``name``: a sliding-window layer's keys
    stop ``layer_window`` tokens back (the edge its learned map shows on a longer text)."""
    allowed = rule(arch, lo, hi, lo, hi, split)
    window = model_layer_window(name, layer)
    if window:
        pos = np.arange(lo, hi)
        allowed = allowed & ((pos[:, None] - pos[None, :]) < window)
    return allowed


def coverage(name: str, result: dict, n_shown: int, lo: int, hi: int, first: int, last: int) -> str:
    """What the learned map beside the window's mask covers, in words: the same words in the model's own
    tokens, or where and why its maps stop."""
    own = result["n_text_tokens"]
    label = catalog.short_label(name)
    end_char = max((e for _, e in result["spans"]["self"]), default=0)
    if result["cut"] and last > end_char:
        why = (f"{label} reads at most {result['limit']:,} tokens at once (its context)" if result["cut"] == "context" else
               f"every layer's and head's map of more than {result['limit']:,} of its tokens would take over "
               f"{MAPS_BUDGET_BYTES // 2**20} MB of the server's memory")
        reach = f"its maps cover the text's first {end_char:,} characters, the first {result['limit']:,} of its {own:,} tokens: {why}"
        return (f"No learned map here: {reach}." if hi <= lo else f"The learned map stops early: {reach}.")
    if hi - lo != n_shown:
        return f"The same words (characters {first:,}–{last:,}) in {label}'s own tokens: {hi - lo} of them, beside MaskLab's {n_shown}."
    return ""


def model_caption(name: str, result: dict, part: str, layer: int, head: int) -> str:
    """Which model, layer and head a learned map shows (a model with fewer layers or heads shows its last layer, the mean of heads)."""
    L, H = result["maps"][part].shape[:2]
    shown_layer = min(layer, L - 1)
    shown_head = "mean of heads" if head < 0 or head >= H else f"head {head + 1} of {H}"
    kv = result.get("n_kv_head") or H
    if 0 <= head < H and kv < H:  # grouped-query attention: say which key/value head this query head reads
        shown_head += f" (shares key/value head {result['kv_head'][head] + 1} of {kv})"
    window = model_layer_window(name, shown_layer)
    local = f" (a sliding-window layer: each token reads itself and the {window - 1:,} before it; cells beyond are left empty)" if window else ""
    return f"{catalog.model_label(name)} · layer {shown_layer + 1} of {L}{local} · {shown_head}"


SHORT_DECODER = 24  # target tokens up to which the decoder's map sits beside the encoder's
SHARES = [3, 2]  # the encoder's map and, beside it, the decoder's with the words about them
OVERVIEW_BLOCKS = 48  # at most this many blocks a side in a whole-text overview


def overview(arch: str, name: str, result: dict, layer: int, head: int) -> None:
    """For a model with sliding-window layers on a text longer than its window: the layer's learned
    attention over the whole text in blocks, where the window's edge shows (a map of the window's 128
    tokens on the diagonal never reaches 512 back). Nothing otherwise."""
    L = len(result["maps"]["self"])
    config = getattr(cache.variant(name).model, "config", None)
    windows = [layer_window(config, i) for i in range(L)]
    n_own = result["maps"]["self"].shape[-1]
    widest = max((w for w in windows if w), default=None)
    if widest is None or n_own <= widest:
        return
    shown = min(layer, L - 1)
    block = max(8, -(-n_own // OVERVIEW_BLOCKS // 8) * 8)
    w = cache.attention_map(result, "self", shown, head)
    allowed = layer_rule(arch, name, shown, 0, n_own)
    kind = f"a sliding-window layer ({windows[shown]:,} tokens)" if windows[shown] else "a full layer"
    # a short title: the figure is as wide as its title, and a long one set the colour bar far from the cells
    layout.chart(charts.attention_overview(w, allowed, block, f"The whole text, {block} tokens a cell", **layout.room(1)),
                 key=f"{PAGE}.overview.{arch}", name=f"attention-overview-{arch}")
    st.caption(f"Layer {shown + 1} of {catalog.short_label(name)}, {kind}, over the {n_own:,} of its tokens it reads here. Its sliding-window "
               f"layers read at most {widest:,} tokens back: past that, their cells are empty (the band along the diagonal); its full layers "
               "read the whole triangle. Move the layer slider to compare.")


def side_by_side(n_tokens: int, count: int, labels=None, colorbar: bool = True, titled: bool = True):
    """A place for each of ``count`` maps: all in one row when a map of ``n_tokens`` a side labels every
    token in a column that narrow (``labels``: the longest of them sizes the label margin; ``colorbar``,
    ``titled``: whether the maps carry a colour bar and axis titles), else rows of as many as fit, else
    full-width rows (st.container); the room each map has, and whether they are side by side."""
    for per_row in range(count, 1, -1):  # all in one row if they fit, else rows of fewer (three maps: two, then one)
        size = layout.room(per_row)
        if charts.label_fits(n_tokens, size["width"], size["font"], colorbar=colorbar, labels=labels, titled=titled):
            slots = []
            for i in range(0, count, per_row):
                slots += st.columns(per_row, gap="medium")[: min(per_row, count - i)]
            return slots, size, True
    return [st.container() for _ in range(count)], layout.room(1), False


def rules_per_row(n_tokens: int, count: int, labels) -> int:
    """How many rule maps of ``n_tokens`` a side share a row: as many as keep a cell of at least
    MIN_CELL px (``labels`` size the one label column)."""
    size = layout.room(1)
    margin = charts.token_margin(size["font"], labels)
    for k in range(count, 1, -1):
        if (size["width"] - margin - 10 - size["font"] * 1.5 * (k - 1)) / k / max(n_tokens, 1) >= charts.MIN_CELL:
            return k
    return 1


def rules() -> None:
    """Every chosen architecture's rule over the window, side by side in one figure (an encoder-decoder's
    three masks as one matrix over [input; target]), a sentence on each under it."""
    shown = labels[start:end]
    panels = []
    for a in archs:
        m = joint_mask(a, split, n - split) if a in ("prefix_lm", "encoder_decoder") else attention_masks(a, n)["self"]
        panels.append((charts.ARCH_NAMES[a], m[start:end, start:end], split - start if a in ("prefix_lm", "encoder_decoder") else None))
    k = rules_per_row(end - start, len(panels), shown)
    for i in range(0, len(panels), k):
        fig = charts.mask_grid(panels[i : i + k], shown, offset=start, title="May attend" if i == 0 else "", **layout.room(1))
        layout.chart(fig, key=f"{PAGE}.rules.{i}", name="masks")
    where = "in the sidebar" if state.presenting() else "above"
    if not (any(a in ("prefix_lm", "encoder_decoder") for a in archs) and 0 < split < n):
        dotted = ""
    elif start < split < end:
        dotted = f"Dotted lines: the input's end (the first {split} tokens; the slider {where} moves it). "
    else:  # the window shows only input (or only target): the rules look alike there, and no line is drawn
        dotted = (f"The input is the first {split:,} tokens: this window is all {'input' if split >= end else 'target'}, so the rules with an "
                  f"input look like {'the encoder-only' if split >= end else 'the decoder-only'}'s here. "
                  f"Move the window (the slider {where}) to token {split:,} to see where input ends. ")
    st.caption(dotted + ("Below, a tab for each: its rule in words, and what a model trained with it looks at." if len(archs) > 1 else ""))


def rule_sentence(arch: str) -> None:
    st.markdown(f"**{charts.ARCH_NAMES[arch]}.** {CAPTIONS[arch].format(split=split)}")


def maps() -> None:
    """The layer and head controls and every architecture's maps: a fragment, so a layer or head step
    reruns this and not the page (presenting, the controls sit in the sidebar, which a fragment cannot
    write to, so the page reruns whole)."""
    dims = {}
    for name in picked.values():
        try:
            b = cache.variant(name).backend
            dims[name] = (b.n_layer, b.n_head)
        except Exception:  # shown where the learned map would be
            dims[name] = (1, 1)
    max_layers = max(L for L, _ in dims.values())
    max_heads = max(H for _, H in dims.values())
    state.clamp("layer", 0, max_layers - 1)
    state.clamp("head", -1, max_heads - 1)
    # presenting, the layer and head move to the sidebar: still one click away, out of the projected view
    with layout.side_controls("Learned attention") if state.presenting() else st.expander("Layer and head of the learned attention", expanded=True):
        c1, c2 = (st.container(), st.container()) if state.presenting() else st.columns(2)
        with c1:
            if max_layers > 1:
                state.bind(PAGE, "layer", st.slider, "Layer", min_value=1, max_value=max_layers, to_widget=lambda v: v + 1,
                           from_widget=lambda v: v - 1, help="1 is the first layer. A model with fewer layers shows its last.")
            else:
                st.caption("The models shown have one layer.")
        with c2:
            state.bind(PAGE, "head", st.selectbox, "Head", options=[-1] + list(range(max_heads)),
                       format_func=lambda h: "mean over heads" if h < 0 else f"head {h + 1}",
                       help="A model with fewer heads shows the mean.")
    layer, head = state.get("layer"), state.get("head")

    tabs = st.tabs([charts.ARCH_NAMES[a] for a in archs]) if len(archs) > 1 else [st.container()]
    for tab, arch in zip(tabs, archs):
        with tab:
            if arch == "encoder_decoder":
                encoder_decoder_maps(layer, head)
            else:
                single_stack_map(arch, layer, head)


def single_stack_map(arch: str, layer: int, head: int) -> None:
    """One single-stack architecture's tab: its rule in words beside its learned map over the window."""
    window = labels[start:end]
    name = picked[arch]
    result = learned(arch, name)
    # the map in half the width when it labels every token there (its words beside it), else the whole width
    cols, size, together = side_by_side(end - start, 2, window, colorbar=False, titled=False)
    with cols[0]:
        if not together:
            rule_sentence(arch)
        if result and "self" in result["maps"]:
            # the window is a stretch of text: the model's own tokens over the same characters
            first, last = tokens[start].start, tokens[end - 1].end
            lo, hi = positions_covering(result["spans"]["self"], first, last)
            note = coverage(name, result, end - start, lo, hi, first, last)
            if hi > lo:
                w = cache.attention_map(result, "self", layer, head)
                q = result["query_tokens"]["self"]
                fig = charts.attention_heatmap(w[lo:hi, lo:hi], q[lo:hi], q[lo:hi], f"Learned: {charts.ARCH_NAMES[arch]}", q_offset=lo, k_offset=lo,
                                               allowed=layer_rule(arch, name, min(layer, len(result["maps"]["self"]) - 1), lo, hi),
                                               colorbar=False, axis_titles=not together, **size)
                layout.chart(fig, key=f"{PAGE}.learned.{arch}", name=f"attention-{arch}")
            words = " · ".join(p for p in (model_caption(name, result, "self", layer, head) if hi > lo else "", note, "brighter: more weight") if p)
        else:
            words = ""
    with cols[1] if together else st.container():
        if together:
            rule_sentence(arch)
        if words:
            st.caption(words)
    if result and "self" in result["maps"]:
        overview(arch, name, result, layer, head)


def encoder_decoder_maps(layer: int, head: int) -> None:
    """The encoder-decoder's tab: its rule in words, its three masks when the window shows part of a
    long text, its learned encoder, decoder and cross-attention maps, whether it reads its encoder
    (measured), and where each sentinel looks."""
    rule_sentence("encoder_decoder")  # the rule drawn above; the learned maps below read the text as the model was trained
    arch = "encoder_decoder"
    name = picked[arch]
    result = learned(arch, name)
    n_in, n_tgt = split, n - split
    masks = attention_masks("encoder_decoder", n_in, n_tgt)
    inp, tgt = labels[:n_in], labels[n_in:]
    i0, i1 = min(start, n_in), min(end, n_in)
    t0, t1 = max(start - n_in, 0), max(end - n_in, 0)
    # every map keeps tokens: a window inside the input shows the first targets (the decoder's map and
    # the cross-attention's rows), one inside the target the last inputs, and a caption says so
    ci0, ci1 = (i0, i1) if i1 > i0 else (max(0, n_in - WINDOW), n_in)
    ct0, ct1 = (t0, t1) if t1 > t0 else (0, min(n_tgt, WINDOW))
    if (i1 <= i0 or t1 <= t0) and n_in and n_tgt:
        st.caption(f"The window covers only the {'target' if i1 <= i0 else 'input'}: the "
                   f"{'encoder' if i1 <= i0 else 'decoder'}'s map shows its {'last' if i1 <= i0 else 'first'} tokens.")
    parts = [
        ("encoder", "Encoder self-attention", masks["encoder"][ci0:ci1, ci0:ci1], inp[ci0:ci1], inp[ci0:ci1], ci0, ci0),
        ("decoder", "Decoder self-attention", masks["decoder"][ct0:ct1, ct0:ct1], tgt[ct0:ct1], tgt[ct0:ct1], ct0, ct0),
        ("cross", "Cross-attention", masks["cross"][ct0:ct1, ci0:ci1], tgt[ct0:ct1], inp[ci0:ci1], ct0, ci0),
    ]
    if end - start < n:  # a window of a long text: its three masks apart, each keeping tokens (the rules above show the window alone)
        cols, size, _ = side_by_side(max(max(p[2].shape) for p in parts), 3)
        for col, (part, title, m, ql, kl, qo, ko) in zip(cols, parts):
            with col:
                if m.numel():
                    layout.chart(charts.mask_heatmap(m, ql, kl, title, q_offset=qo, k_offset=ko, **size), key=f"{PAGE}.mask.ed.{part}", name=f"mask-encdec-{part}")
                else:
                    st.caption(f"{title}: no tokens in this window.")
    if result:
        learned_words = (
            "The rule splits your text at the slider; the model learned something else, so its maps read your text as it was "
            "trained: a span-corrupted copy (" + str(result["note"]) + "). "
            "Its encoder reads the text with sentinels where spans were cut; its decoder writes the spans. On the axes ⟨s0⟩ stands "
            "for <|sentinel_0|>, ⟨bos⟩ for the decoder's start and ⟨eot⟩ for the end of the text.")
        shown = [p for p in ("encoder", "decoder", "cross", "joint") if p in result["maps"]]
        # the decoder writes only the spans: a short map, beside the encoder's with the words about them;
        # the cross-attention, as wide as the input and a few rows tall, under them across the whole width
        short_decoder = "encoder" in shown and "decoder" in shown and result["maps"]["decoder"].shape[-1] <= SHORT_DECODER
        places = {}
        if short_decoder:
            left, right = st.columns(SHARES, gap="medium")
            places = {"encoder": (left, layout.room_of(SHARES, 0)), "decoder": (right, layout.room_of(SHARES, 1))}
        for part in shown:
            col, size_here = places.get(part, (st.container(), layout.room(1)))
            beside = part in places
            with col:
                w = cache.attention_map(result, part, layer, head)
                q, k = result["query_tokens"][part], result["key_tokens"][part]
                # the window slider moves along the encoder's positions (the text with its sentinels); the
                # decoder, which writes only the spans, is short and shown whole when it fits
                Tq, Tk = w.shape
                qs, ks = min(start, max(0, Tq - WINDOW)), min(start, max(0, Tk - WINDOW))
                if part in ("encoder", "decoder"):
                    qs = ks = min(qs, ks)  # a self-attention map keeps its diagonal
                sub = w[qs : qs + WINDOW, ks : ks + WINDOW]
                kind = {"encoder": "encoder", "decoder": "decoder", "cross": "encoder"}.get(part)  # the rule of each part; "joint": from the weights
                allowed = rule(kind, qs, qs + sub.shape[0], ks, ks + sub.shape[1]) if kind else None
                # the cross map: a few rows under a wide input; each row (⟨s0⟩, the span's words) keeps its label
                fig = charts.attention_heatmap(sub, q[qs : qs + WINDOW], k[ks : ks + WINDOW], f"Learned: {part}", q_offset=qs, k_offset=ks,
                                               allowed=allowed, colorbar=not beside, axis_titles=not beside,
                                               label_every_row=part == "cross", **size_here)
                layout.chart(fig, key=f"{PAGE}.learned.ed.{part}", name=f"attention-encdec-{part}")
                if part == "decoder" and beside:
                    st.caption(learned_words + " · " + model_caption(name, result, shown[0], layer, head) + " · brighter: more weight")
        if not short_decoder:
            st.caption(learned_words + " · " + model_caption(name, result, shown[0], layer, head))
        if "cross" in result["maps"]:
            w = cache.attention_map(result, "cross", layer, head)
            q, k = result["query_tokens"]["cross"], result["key_tokens"]["cross"]
            reliance = cache.encoder_reliance(name)
            reads = reliance is None or reliance.reads_encoder
            if not reads:  # what this model does, measured, not what the pattern would be
                st.info(cache.encoder_reading_sentence(name), icon=":material/visibility_off:")
            elif reliance is not None:
                st.caption(cache.encoder_reading_sentence(name))
            reach = getattr(getattr(cache.variant(name).model, "config", None), "span_bias", 0)
            if reach:  # part of what the maps show is the bias, learned, not found by content
                st.caption(f"{catalog.short_label(name)}'s cross-attention has a span bias: a learned preference, per layer and head, for "
                           f"the input within {reach} positions of the sentinel that opened the span being written (engine.model.span_anchors). "
                           "The maps show the weights with it: where it looks near a hole is partly that bias, what it reads there is the model's.")
            if charts.sentinel_rows(q):
                # folded, to keep the page within three screens; its headline number in the label, so the point shows unopened
                table = charts.sentinel_table(w, q, k)
                headline = charts.sentinel_headline(table)
                with st.expander("Where each sentinel looks" + (f": {headline}" if headline else "")):
                    st.markdown("In the decoder, a sentinel announces the span it must write next; " + (
                        "cross-attention shows which part of the input it reads to do so. Its twin in the input marks the hole." if reads else
                        "a model that reads its encoder looks there for the hole its twin marks in the input."))
                    layout.chart(charts.sentinel_cross_heatmap(w, q, k, "Cross-attention from the decoder's sentinels", **layout.room(1)),
                                 key=f"{PAGE}.sentinels", data=table, name="sentinel-cross-attention")
                    layout.table(table, column_config={"weight on its own sentinel": st.column_config.NumberColumn(format="%.2f")})  # as "most attended"
            else:
                st.caption("This text is too short for span corruption to cut a span.")


rules()
infos = {v.name: v for v in catalog.variants()}
picked = {}
choices = {a: catalog.models_for(a) for a in archs}  # MaskLab's trained variant by default; published checkpoints found here one choice away
linked = dict(x.partition(":")[::2] for x in state.get("learned"))  # the link's picks, "architecture:model"
offered = [a for a, options in choices.items() if len(options) > 2]  # a choice of models to pick from
with layout.side_controls("Learned attention from") if offered else contextlib.nullcontext():
    # plain, the pickers share one row: a column each
    spots = dict(zip(offered, st.columns(len(offered)) if offered and not state.presenting() else [st.container() for _ in offered]))
    for a, options in choices.items():
        key = f"{PAGE}.model.{a}"
        state.choice(key, options, linked[a] if linked.get(a) in options else catalog.pick_variant(a))
        if a in spots:
            with spots[a]:
                st.selectbox(charts.ARCH_NAMES[a] if state.presenting() else f"Learned attention of the {charts.ARCH_NAMES[a]} from", options,
                             format_func=catalog.short_label, key=key)
        picked[a] = state.session_value(key)
        if picked[a] == catalog.pick_variant(a):
            linked.pop(a, None)
        else:
            linked[a] = picked[a]
if tuple(f"{a}:{m}" for a, m in linked.items()) != state.get("learned"):
    state.put("learned", tuple(f"{a}:{m}" for a, m in linked.items()))

seed = state.get("seed")

if all(infos.get(name) and infos[name].source == "random" for name in picked.values()):
    st.info("No trained models are shipped yet: the right-hand maps come from tiny untrained models, so they show no learned pattern.", icon=":material/info:")

(maps if state.presenting() else st.fragment(maps))()
