import pandas as pd
import streamlit as st

from engine.tokenizer import ENCODINGS, EncodingUnavailable
from engine.vocab import VOCAB_SIZE
from ui import cache, catalog, charts, html, layout, result_files, state
from ui.export import csv_bytes

PAGE = "tokens"
CHIP_LIMIT = state.MAX_TOKENS  # chips drawn per encoding; counts always cover the whole text

layout.page(
    PAGE,
    "Tokenization",
    "A model never sees letters, only token ids, and where one token ends depends on the vocabulary. "
    "The same text becomes different sequences of different lengths; an emoji can take several tokens, "
    "none of which means anything alone. Before any model, look at the data.",
    keys=("enc", "ptok", "ws", "ids"),
)
text = layout.text_box(PAGE)

# pills wrap, so every encoding shows whether chosen or not (a multiselect hides chips past its width)
chosen = state.bind(PAGE, "enc", st.pills, "Encodings", options=list(ENCODINGS), format_func=ENCODINGS.get, selection_mode="multi",
                    to_widget=list, from_widget=tuple)
t1, t2 = layout.row_columns(2, gap="large")  # each toggle as wide as its label: never cut, at any type size
with t1:
    show_ws = state.bind(PAGE, "ws", st.toggle, "Show whitespace", help="Spaces as ·, line breaks as ↵, tabs as ⇥.")
with t2:
    show_ids = state.bind(PAGE, "ids", st.toggle, "Show ids", help="The number the model actually receives, under each token.")

found = [f.name for f in catalog.published()]  # published checkpoints on this machine: their own tokenizers too
if state.get("ptok") is None:
    state.put("ptok", tuple(found[:1]))
state.put("ptok", tuple(n for n in state.get("ptok") if n in found))
if found:
    if state.presenting():
        # presenting, pills under the encodings with a model's own name: in the sidebar's narrow box a select
        # box's chip, and then a pill, cut "SmolLM2-135M-Instruct" to "Smo…"
        state.bind(PAGE, "ptok", st.pills, "Published checkpoints' own tokenizers", options=found, selection_mode="multi",
                   format_func=catalog.short_label, to_widget=list, from_widget=tuple,
                   help="The tokenizer a published model reads with, from its own files.")
    else:
        state.bind(PAGE, "ptok", st.multiselect, "Published checkpoints' own tokenizers", options=found, format_func=catalog.encoding_label,
                   to_widget=list, from_widget=tuple, placeholder="None", help="The tokenizer a published model reads with, from its own files.")
chosen = tuple(chosen) + tuple(state.get("ptok"))

if not chosen:
    st.info("Choose at least one encoding.", icon=":material/checklist:")
    st.stop()

results, problems = {}, {}
for name in chosen:
    try:
        results[name] = cache.tokens(text, name)
    except (EncodingUnavailable, ValueError) as e:  # a checkpoint whose tokenizer cannot load raises CheckpointUnavailable, a ValueError
        problems[name] = str(e)

for name, why in problems.items():
    st.warning(f"**{catalog.encoding_label(name)} is unavailable.** {html.esc(why)}", icon=":material/cloud_off:")

if results:
    rows = [
        {"label": catalog.encoding_label(n), "encoding": n, "tokens": len(toks), "characters": len(text),
         "chars_per_token": len(text) / len(toks) if toks else 0.0}
        for n, toks in results.items()
    ]
    counts = pd.DataFrame(rows)
    metric_cols = layout.row_columns(len(rows))
    for col, r in zip(metric_cols, rows):
        col.metric(r["label"], f"{r['tokens']:,} tokens", f"{r['chars_per_token']:.2f} chars/token" if r["tokens"] else None, delta_color="off", delta_arrow="off")
    if not any(r["tokens"] for r in rows):
        st.info("No tokens: the text is empty. Type something above to see how each vocabulary splits it.", icon=":material/edit:")
        st.stop()

    per_row = 1 if state.presenting() else min(2, len(results))
    names = list(results)
    for i in range(0, len(names), per_row):
        cols = st.columns(per_row, gap="medium")
        for col, name in zip(cols, names[i : i + per_row]):
            toks = results[name]
            with col.container(border=True):
                st.markdown(f"**{html.esc(catalog.encoding_label(name))}** · {len(toks):,} tokens")
                if not toks:
                    st.caption("No tokens: the text is empty.")
                else:
                    # the spaces are the style's (html.SHOW_SPACES below): the toggle changes no chip, so the
                    # browser does not parse and sanitise thousands of them again
                    layout.html_block(html.token_chips(text, toks, show_ws=None, show_ids=show_ids, limit=CHIP_LIMIT))

    if show_ws:
        layout.html_block(html.SHOW_SPACES)
    if any(t.partial for toks in results.values() for t in toks):
        st.caption(
            "A dashed box holds tokens that only together spell whole characters: the characters at its start, with their code "
            "points (a space the first piece carries counts among them). Striped: a byte piece, which decodes to no text alone; "
            "the model must learn that the pieces belong together. A character a reader sees as one but made of several code "
            "points (👋🏽: a hand and a skin tone) may fill one box or two, as each vocabulary cuts it."
        )
    if "<|" in text:
        st.caption(
            "Typed text is always ordinary text: “<|endoftext|>” here is thirteen characters, never the special "
            "token that separates documents."
        )

    layout.chart(charts.token_count_bar(rows), key=f"{PAGE}.counts", data=counts, name="token-counts")

    def every_token_csv(results=results) -> bytes:
        """Every token of every encoding shown, as CSV (formulas neutralised: ui.export): built on the click, not on every rerun."""
        return csv_bytes(pd.DataFrame(
            [{"encoding": n, "index": t.index, "id": t.id, "text": t.text, "start": t.start, "end": t.end, "partial": t.partial, "group": t.group}
             for n, toks in results.items() for t in toks]
        ))

    if not state.presenting():
        st.download_button("Download every token (CSV)", every_token_csv, file_name="masklab-tokens.csv",
                           mime="text/csv", key=f"{PAGE}.tokens_csv", type="tertiary", icon=":material/download:", on_click="ignore")

    if "masklab" in results:
        st.subheader("The shape of the data")
        n = len(results["masklab"])
        d_model = result_files.model_width()
        ids = [t.id for t in results["masklab"][:8]]
        shown_ids = ", ".join(str(i) for i in ids) + (", …" if n > 8 else "")
        steps = [
            ("text", f"{len(text):,}", "characters you typed"),
            ("token ids", f"[{n}]", shown_ids),
            ("embeddings", f"[{n}, {d_model}]", "a learned vector per id"),
            ("every layer", f"[{n}, {d_model}]", "attention and MLP keep the shape"),
            ("output scores", f"[{n}, {VOCAB_SIZE}]", "a score for every possible next token"),
        ]
        layout.html_block(html.shape_flow(steps))
        st.caption(
            "MaskLab's own 8k vocabulary, learned from the novels the models read. Each id picks a row of the "
            "embedding table; the layers never change the shape; the last step scores every possible next token."
        )
