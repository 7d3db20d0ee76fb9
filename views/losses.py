import math
import re

import pandas as pd
import streamlit as st

from engine.scoring import by_category, scoring_method, summarize
from engine.vocab import VOCAB_SIZE
from ui import cache, catalog, charts, html, layout, scoring, state

PAGE = "losses"
WINDOW = 256  # token columns drawn in the aligned view
UNIFORM = math.log(VOCAB_SIZE)  # the loss of a model that guesses uniformly: the colour scale's top

layout.page(
    PAGE,
    "Per-token losses",
    "Predicting the next word is many small tasks at once: grammar, word meaning, facts about the world, "
    "sentiment, counting, space. A token's loss is how surprised the model was: −log of the probability it "
    f"gave the actual token, out of its whole vocabulary ({VOCAB_SIZE:,} tokens for MaskLab's models, 49,152 for SmolLM2). "
    "Magenta tokens surprised the model most, and taught it the most.",
    keys=("variants", "score", "win", "gen", "temp", "topk", "seed", "new", "probes", "blank"),
)
text = layout.text_box(PAGE)
layout.need_text(text, "each model's loss on every token")
tokens = layout.limit_tokens(cache.tokens(text, "masklab"))

infos = {v.name: v for v in catalog.variants()}
shipped = [n for n, v in infos.items() if v.source == "shipped"]
found = [f.name for f in catalog.published()]  # published checkpoints on this machine: ../shared/models, MASKLAB_MODEL_DIRS, the HF cache
linked = [n for n in state.get("variants") if n not in infos and n not in found and catalog.is_checkpoint_name(n)]
published = found + linked
chosen = [n for n in state.get("variants") if n in infos or n in published][:6]
if len(chosen) != len(state.get("variants")):
    state.notice("Some models in the link are not available here and were left out.")
if not state.get("variants"):  # a real published model beside MaskLab's tiny ones is the point of the page
    chosen = (found[:1] + shipped[:4]) or ["random-decoder", "random-encoder"]
state.put("variants", tuple(chosen))
if not shipped:
    st.info("No trained models are shipped yet, so only tiny untrained `random-*` models can be scored: their losses sit "
            f"near {UNIFORM:.1f} nats, a uniform guess. Train the real ones with `python -m engine.pretrain --preset gpu` (one GPU, minutes) or `--preset cpu` (hours).",
            icon=":material/info:")


def describe(name: str) -> str:
    return catalog.model_label(name)


def add_checkpoint() -> None:
    name = state.session_value(f"{PAGE}.hf", "").strip()
    if name and catalog.is_checkpoint_name(name) and name not in state.get("variants"):
        state.put("variants", (state.get("variants") + (name,))[:6])
    elif name:
        state.notice(f"{html.md_plain(name)} is neither a Hugging Face id nor an allowed checkpoint folder or .gguf file.")


names = state.bind(PAGE, "variants", st.multiselect, "Models", options=list(infos) + published, format_func=describe,
                   to_widget=list, from_widget=tuple, max_selections=6, placeholder="Choose models to compare")
if not state.presenting():
    with st.expander("Add a published checkpoint (any causal LM, masked LM or sequence-to-sequence model transformers loads)"):
        cached = catalog.cached_checkpoints()
        st.text_input("Hugging Face id, a folder saved with save_pretrained, or a .gguf file", key=f"{PAGE}.hf", on_change=add_checkpoint,
                      placeholder=cached[0] if cached else "gpt2")
        st.caption(("In the local cache: " + ", ".join(f"`{c}`" for c in cached)) if cached else
                   "None in the local Hugging Face cache. MaskLab does not download unless MASKLAB_ALLOW_DOWNLOADS=1.")
exact = state.get("score") == "exact"
if any(infos[n].architecture in scoring.ONE_PASS_PER_TOKEN for n in names if n in infos):
    with layout.side_controls("Scoring"):
        state.bind(PAGE, "score", st.segmented_control, "Encoders and encoder-decoders", required=True,
                   options=["trained", "exact"], format_func=lambda o: {"trained": f"As trained (1 in {scoring.STRIDE})", "exact": "Exact (one by one)"}[o],
                   help=f"As trained: {scoring.STRIDE} passes, each hiding every {scoring.STRIDE}th token (about the 15% these models were "
                        f"trained to fill in), every token scored. Exact (pseudo-log-likelihood): one pass per token with only that token "
                        f"hidden; the standard way to score a sentence with BERT, slower, so only the first {scoring.SLOW_LIMIT} tokens.")
    exact = state.get("score") == "exact"
layout.show_notices()
if not names:
    st.info("Choose at least one model.", icon=":material/checklist:")
    st.stop()

frames, others, archs = {}, {}, {}
for name in names:
    try:
        v = cache.variant(name)
        archs[name] = v.architecture
        if v.encoding == "masklab":
            frames[name], _ = scoring.score_aligned(name, v.architecture, text, tokens, exact=exact)
        else:  # its own tokenizer: its rows cannot line up with MaskLab's tokens
            others[name] = cache.score(name, layout.limited_text(text, tokens))  # the stretch MaskLab's tokens cover: the page's limit holds for every model
    except Exception as e:  # one model failing to load or score must not hide the others; offer to drop it
        label = catalog.short_label(name)
        why = re.sub(r"`([^`]*)`", r"“\1”", str(e))  # a command in the engine's message, quoted as plain text
        st.warning(f"{label} could not be scored: {why}", icon=":material/error:")
        st.button(f"Remove {label} from the comparison", key=f"{PAGE}.drop.{name}", icon=":material/close:",
                  on_click=lambda n=name: state.put("variants", tuple(x for x in state.get("variants") if x != n)))
if not frames and not others:
    st.stop()
every = {**frames, **others}

rows = []
for name, df in every.items():
    rows.append({"model": catalog.short_label(name), "architecture": charts.ARCH_NAMES.get(archs[name]), "scoring": scoring_method(df).short, **summarize(df)})
summary = pd.DataFrame(rows)
# presenting, the larger type leaves no room for every column: the total loss and the token count give way to the scoring
# (presenting, the count scored stays: it is what the mean is over, fewer than the tokens for a prefix-LM)
# plain, the total loss (the mean times the count scored) gives way too, so the scoring is whole at 820 px
numbers = ["mean_loss", "perplexity", "top1_accuracy", "scored"] if state.presenting() else ["mean_loss", "perplexity", "top1_accuracy", "tokens", "scored"]
summary = summary[["model", *[c for c in numbers if c in summary], "architecture", "scoring"]]  # the numbers before the long words
# top-1 in percent with one decimal for every row (the grid's "percent" wrote 21% in one row and 21.09% in the next)
summary = summary.assign(top1_accuracy=summary["top1_accuracy"] * 100)
layout.table(
    summary,
    column_config={
        "mean_loss": st.column_config.NumberColumn("mean loss", format="%.2f", help="Nats per scored token."),
        "total_loss": st.column_config.NumberColumn("total loss", format="%.1f"),
        "perplexity": st.column_config.NumberColumn("perplexity", format="%.1f"),
        "top1_accuracy": st.column_config.NumberColumn("top-1", format="%.1f%%", help="Share of tokens the model ranked first."),
        "tokens": st.column_config.NumberColumn("tokens"),
        "scored": st.column_config.NumberColumn("scored", help="Tokens the mean is over: a prefix-LM scores only those after its prefix."),
        "scoring": st.column_config.TextColumn("scoring", width=230, help="How the model was scored: the caption below says it in full."),
    },
)
st.caption(
    "Each model is scored the way it learned to predict (the scoring column): a decoder-only from the tokens before; "
    + (f"an encoder-only and an encoder-decoder with each token hidden in turn and everything else visible "
       f"(pseudo-log-likelihood: one pass per token, so they score the first {scoring.SLOW_LIMIT} tokens); " if exact else
       f"an encoder-only and an encoder-decoder as they were trained: {scoring.STRIDE} passes, each hiding every {scoring.STRIDE}th token "
       "(the encoder-decoder writes the hidden ones after their sentinels), so every token is hidden once; ")
    + "a prefix-LM after half the text as context. "
    "So the numbers say how well each model does its own job, not which architecture is better."
)

st.subheader("Every token, every model")
layout.html_block(html.color_scale_legend(UNIFORM))
if frames:
    start, end = layout.window(PAGE, len(tokens), WINDOW)
    layout.html_block(html.row("Rows under each token, top to bottom: " + " · ".join(frames), html.loss_interlinear(frames, vmax=UNIFORM, start=start, stop=end)))
for name, df in others.items():
    short = catalog.short_label(name)
    # engine.score's token column is the text each token stands for (" truth", never byte-level BPE's "Ġtruth")
    layout.html_block(html.row(f"{short}, on its own tokens", html.loss_interlinear({short: df}, vmax=UNIFORM, stop=WINDOW)))
    if len(df) > WINDOW:
        st.caption(f"{short}: the first {WINDOW} of its {len(df):,} tokens.")

everything = pd.concat([df.assign(model=name) for name, df in every.items()], ignore_index=True)
everything["top_k"] = everything["top_k"].map(lambda xs: "; ".join(f"{t!r} {p:.3f}" for t, p in xs))
if frames:
    layout.chart(charts.loss_strip(frames, vmax=UNIFORM, **layout.room(1)), key=f"{PAGE}.strip", data=everything, name="per-token-loss")

table = pd.concat([by_category(df).assign(variant=catalog.short_label(name)) for name, df in every.items()], ignore_index=True)
if len(table):
    layout.chart(charts.category_bars(table), key=f"{PAGE}.categories", data=table, name="loss-by-category")
    st.caption("Function words and punctuation are mostly grammar, learned early; content words and names need "
               "meaning and knowledge of the world, learned later.")

@st.fragment
def probes() -> None:
    """The probes: a fragment, so switching the probe set reruns this column, not the page."""
    st.subheader("Probes")
    st.caption("One prompt, a right and a wrong next word: does the model give the right one more probability? "
               "Each probe is one of the small tasks hidden in next-word prediction.")
    probe_set = state.bind(PAGE, "probes", st.segmented_control, "Probe set", required=True, options=["multitask", "novel"],
                           format_func=lambda o: {"multitask": "Next-word prediction is multi-task", "novel": "In the novels' words"}[o],
                           help="Multi-task: the seven probes of the talk (grammar, lexical semantics, world knowledge, sentiment, "
                                "translation, spatial reasoning, arithmetic), which need a model that has read the web. "
                                "In the novels' words: twelve probes in the kind of sentence MaskLab's own models learned from.")
    results = []
    for name in every:
        try:
            short = catalog.short_label(name)
            results.append(cache.probes(name, probe_set).assign(model=short, variant=short))
        except Exception as e:
            st.warning(f"{name}: probes failed ({e})", icon=":material/error:")
    if results:
        table = pd.concat(results, ignore_index=True)
        layout.chart(charts.probe_chart(table), key=f"{PAGE}.probe_chart", data=table, name="probes")
        wins = table.assign(ok=table["margin"] > 0).groupby("model", sort=False)["ok"].agg(["sum", "count"])
        st.markdown(" · ".join(f"**{html.esc(n)}**: right word preferred in {int(r['sum'])} of {int(r['count'])}" for n, r in wins.iterrows()))
        shown = table.assign(verdict=table["margin"].map(lambda m: "right" if m > 0 else "wrong" if m < 0 else "tie"))
        config = {"margin": st.column_config.NumberColumn("margin (nats)", format="%+.2f", help="log p(right) − log p(wrong)")}
        if state.presenting():  # the chart and the line above make the point; every probe, in the page's type, one click away
            with st.expander(f"Every probe ({len(shown)})"):
                layout.table(shown[["model", "prompt", "right", "wrong", "margin"]], column_config=config)
        else:  # the margin is log p(right) - log p(wrong): the two log-probabilities are in the chart's CSV, and the prompt keeps the room
            layout.table(shown[["model", "skill", "prompt", "right", "wrong", "margin", "verdict"]], column_config=config)



@st.fragment
def generate() -> None:
    """Generation (or, for an encoder, filling a blank): a fragment, so its controls rerun this column only."""
    st.subheader("Generate")
    options = list(names) + [n for n in infos if n not in names]
    if state.get("gen") not in options:
        # MaskLab's own models write 30 tokens in tens of milliseconds, a published checkpoint in seconds on
        # a CPU, and generation reruns with every edit of the text: the first shipped writer by default
        writers = [n for n in names if n in archs and archs[n] != "encoder"]
        state.put("gen", next((n for n in writers if n in shipped), writers[0] if writers else options[0]))
    gen = state.bind(PAGE, "gen", st.selectbox, "Model", options=options, format_func=describe,
                     help="It continues your text again with every edit: a published checkpoint takes seconds for that on a CPU.")
    with layout.side_controls("Generation"):
        g1, g2, g3, g4 = [st.container()] * 4 if state.presenting() else st.columns(4)
        with g1:
            state.bind(PAGE, "temp", st.slider, "Temperature", min_value=0.0, max_value=2.0, step=0.05, help="0: always the most likely token.")
        with g2:
            state.bind(PAGE, "topk", st.number_input, "Top-k", min_value=0, max_value=500, step=1, help="Sample among the k most likely tokens (0: all).")
        with g3:
            state.bind(PAGE, "seed", st.number_input, "Seed", min_value=0, max_value=1_000_000, step=1)
        with g4:
            state.bind(PAGE, "new", st.number_input, "New tokens", min_value=1, max_value=200, step=1)
    gen_arch = archs.get(gen)
    if gen_arch is None:  # not among the models scored above: load it here, or say why it cannot be
        try:
            gen_arch = cache.variant(gen).architecture
        except Exception as e:
            st.warning(f"{gen} could not be loaded: {e}", icon=":material/error:")
    if gen_arch == "encoder":
        try:
            cache.generate(gen, text, 1, 1.0, 1, 0)
        except ValueError as e:
            st.info(f"**{html.esc(catalog.short_label(gen))} cannot write text.** {html.esc(e)}", icon=":material/block:")
        df = every[gen] if gen in every else scoring.score_aligned(gen, "encoder", text, tokens, exact=exact)[0]
        upto = int(df["scored"].sum())
        st.markdown("What it can do is fill a blank: hide a token and it guesses what was there.")
        pos = 0
        if upto > 1:
            state.clamp("blank", -1, upto - 1)
            pos = state.bind(PAGE, "blank", st.slider, "Hide the token at position", min_value=0, max_value=upto - 1,
                             to_widget=lambda p: upto - 1 if p < 0 else p)
        row = df.iloc[pos]
        guesses = "".join(f"<li>{html.chip(t)} {p:.1%}</li>" for t, p in row["top_k"])
        layout.html_block(html.row(f"Position {pos}: the hidden token was", html.chip(str(row["token"]), classes="k-mask"))
                          + f'<ol style="margin:.2em 0 0 1.2em">{guesses}</ol>')
    elif gen_arch is not None:
        try:
            out = cache.generate(gen, text, state.get("new"), state.get("temp"), state.get("topk"), state.get("seed"))
            layout.html_block(html.generation(text, out["text"]))
            stopped = " (it stopped at its end-of-text token)" if len(out["tokens"]) < state.get("new") else ""
            st.caption(f"{out['method']} · {len(out['tokens'])} new tokens (highlighted){stopped} · temperature {state.get('temp'):g}, "
                       f"top-k {state.get('topk') or 'all'}, seed {state.get('seed')}")
        except Exception as e:
            st.warning(f"{gen} could not generate: {e}", icon=":material/error:")


probes()  # the full width: its bars are labelled with whole probe names, which a half column squeezed
generate()
