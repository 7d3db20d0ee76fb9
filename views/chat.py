import contextlib

import streamlit as st

from engine.cost import kv_cache_bytes
from ui import cache, catalog, charts, html, layout, state

PAGE = "chat"
ROLE_PX = 100  # the role column: "assistant" in presentation type

layout.page(
    PAGE,
    "Multi-turn chat cost",
    "Each turn of a chat adds a message. A causal model keeps the keys and values of everything it has read (a "
    "KV cache) and encodes only the new message. A bidirectional model cannot: a new token changes how every "
    "earlier token is encoded, so it must read the whole conversation again, every turn.",
    keys=("size", "chat", "model"),
)

EDITOR = state.chat_editor_key(PAGE)
# A new row gets a role, alternating, so that a message typed into it is kept (a required cell left empty
# keeps the row from being added at all). Rows added in this session count too.
new_role = state.next_chat_role(list(state.chat_table()["role"]) + [r.get("role") for r in state.chat_rows_added(PAGE)])
NEXT, NEXT_ROLE = f"{PAGE}.next", f"{PAGE}.next_role"


REPEATS = 5  # timed runs of each way; the fastest of each turn is shown
BUSY_SPREAD = 2.0  # runs of one turn differing by more than this (median): the machine was busy


def append_turn() -> None:
    """The turn typed in the box below the table, appended to the conversation as the table shows it
    now (every edit, removal and added row kept), and the box emptied for the next one."""
    message = state.session_value(NEXT, "")
    if message.strip():
        state.chat_append(state.session_value(NEXT_ROLE), message)
        state.set_session_value(NEXT, "")
        state.set_session_value(NEXT_ROLE, None)


# presenting, the conversation is read in the page's type; the table that edits it (drawn at 14 px on a canvas) folds away
transcript = st.container() if state.presenting() else None
with st.expander("Edit, add or remove turns", expanded=False) if state.presenting() else contextlib.nullcontext():
    edited = st.data_editor(
        state.chat_table(), key=EDITOR, num_rows="dynamic", hide_index=True,
        column_config={
            # the message takes what the role leaves of the smallest screen's main column (Streamlit shares any room left over
            # evenly between columns, which made the role column 275 px and cut the messages)
            "role": st.column_config.SelectboxColumn("role", options=list(state.CHAT_ROLES), required=True, default=new_role, width=ROLE_PX),
            "text": st.column_config.TextColumn("message", max_chars=4000, width=layout.MAIN_PX[state.presenting()] - ROLE_PX - 40),
        },
    )
state.chat_shown(edited)  # what append_turn builds on
state.choice(NEXT_ROLE, state.CHAT_ROLES, state.next_chat_role(list(edited["role"])))
role_col, text_col = st.columns([1, 5], vertical_alignment="bottom")
role_col.selectbox("Next turn from", list(state.CHAT_ROLES), key=NEXT_ROLE)
text_col.text_input("Type the next turn and press Enter", key=NEXT, on_change=append_turn, max_chars=4000,
                    placeholder="The next message of the conversation…")
turns = [(r if r in state.CHAT_ROLES else "user", t if isinstance(t, str) else "") for r, t in zip(edited["role"], edited["text"])]
turns = tuple((r, t) for r, t in turns if t.strip())
if transcript is not None:
    with transcript:
        layout.html_block(html.conversation(turns))
if turns != state.get("chat"):
    state.put("chat", turns)
if len(state.dump_chat(turns)) > state.MAX_URL_TEXT:
    st.caption(f"This conversation takes more than {state.MAX_URL_TEXT:,} characters in a link, so links to this view leave it out.")
if not turns:
    st.info("Add a message to the conversation.", icon=":material/chat:")
    st.stop()

ids = [tuple(t.id for t in cache.tokens(f"{role}: {message}\n", "masklab")) for role, message in turns]
lengths = tuple(len(x) for x in ids)

with layout.side_controls("Chat cost"):
    state.bind(PAGE, "size", st.segmented_control, "Model size for the FLOPs", options=list(state.SIZES), required=True)
cost = cache.chat_cost(state.get("size"), lengths)

total_bi, total_causal = int(cost["bidirectional_tokens"].sum()), int(cost["causal_tokens"].sum())
flops_bi, flops_causal = float(cost["bidirectional_flops"].sum()), float(cost["causal_flops"].sum())
m = layout.row_columns(4)
m[0].metric("Turns", f"{len(turns)}", f"{sum(lengths):,} tokens in all", delta_color="off", delta_arrow="off")
m[1].metric("Tokens encoded, bidirectional", f"{total_bi:,}")
m[2].metric("Tokens encoded, causal + cache", f"{total_causal:,}")
m[3].metric("FLOPs, bidirectional ÷ causal", f"{flops_bi / max(flops_causal, 1):.1f}×")



def cost_charts(table, unit: str, title: str, what: str, data) -> None:
    """Per turn and cumulative, side by side; the data to download under them."""
    per_turn, cumulative = charts.chat_cost_chart(table, unit, title)
    left, right = st.columns(2, gap="medium")
    with left:
        layout.chart(per_turn, key=f"{PAGE}.{what}", name=f"chat-{what}")
    with right:
        layout.chart(cumulative, key=f"{PAGE}.{what}.cumulative", data=data, name=f"chat-{what}")


tokens_table = cost.rename(columns={"bidirectional_tokens": "bidirectional", "causal_tokens": "causal"})[["turn", "bidirectional", "causal"]]
cost_charts(tokens_table, "tokens", "Tokens each model must encode", "tokens", cost)
flops_table = cost.rename(columns={"bidirectional_flops": "bidirectional", "causal_flops": "causal"})[["turn", "bidirectional", "causal"]]
cost_charts(flops_table, "FLOPs", "Forward FLOPs each model spends", "flops", cost)
st.caption("The bidirectional cost grows with the whole history at every turn, so its total grows with the square of "
           "the conversation's length; the causal model's grows with the new tokens alone. FLOPs: engine.cost.chat_cost.")

st.subheader("Measured on a model")
options = [n for n in catalog.models_for("decoder") if not n.startswith("random-")] or ["random-decoder"]
name = state.choice(f"{PAGE}.model", options, state.get("model") if state.get("model") in options else options[0])
if len(options) > 1:  # MaskLab's decoder, or a published one found on this machine
    with layout.side_controls("Measured on a model"):
        st.selectbox("Model", options, format_func=catalog.short_label, key=f"{PAGE}.model",
                     help="The same conversation, timed both ways on this model: re-reading the history, or the KV cache.")
name = state.session_value(f"{PAGE}.model")
if (name if name != options[0] else "") != state.get("model"):
    state.put("model", name if name != options[0] else "")
label = catalog.short_label(name)
try:
    room = cache.variant(name).backend.context
    # the model's own tokens: a published model reads the turns with its own tokenizer
    model_ids = ids if name in {v.name for v in catalog.variants()} else [tuple(t.id for t in cache.tokens(f"{role}: {message}\n", name)) for role, message in turns]
except Exception as e:
    st.warning(f"{label} could not be loaded: {e}", icon=":material/error:")
    st.stop()
kept, used = [], 0
for x in model_ids:
    if used + len(x) > room:
        break
    kept.append(x)
    used += len(x)
if len(kept) < len(model_ids):
    st.caption(f"{label} reads at most {room} tokens, so the timing covers the first {len(kept)} turns.")
if not kept:
    st.info("The first message alone is longer than the model's context.", icon=":material/content_cut:")
    st.stop()
if st.button("Measure again", icon=":material/timer:", key=f"{PAGE}.remeasure"):
    state.bump(state.CHAT_NONCE)
backend = cache.variant(name).backend
n_read = sum(len(x) for x in kept)
value_bytes, dtype = cache.kv_value()  # what the cache holds where the model runs here: float32 on a CPU, bf16 on a GPU
kv_now = kv_cache_bytes(n_read, n_kv_head=backend.n_kv_head, head_dim=backend.head_dim, layer_windows=backend.layer_windows, bytes_per_value=value_bytes)
kv_full = kv_cache_bytes(n_read, n_kv_head=backend.n_kv_head, head_dim=backend.head_dim, layer_windows=(None,) * backend.n_layer, bytes_per_value=value_bytes)
windows = [w for w in backend.layer_windows if w]
m = layout.row_columns(2)
own = name not in {v.name for v in catalog.variants()}  # a published model counts its own tokens
m[0].metric(f"KV cache after {n_read:,} tokens", f"{kv_now / 2**20:,.2f} MiB",
            help=f"In {dtype}, as the model runs here: a key and a value per token, layer and key/value head." + (f" The tokens are {label}'s own." if own else ""))
if windows:
    m[1].metric("Had every layer been full", f"{kv_full / 2**20:,.2f} MiB")
st.caption(f"{label}{f' reads these turns as {n_read:,} of its own tokens' if own else ''}: {backend.n_layer} layers × {backend.n_kv_head} key/value head(s) × {backend.head_dim} numbers for the key and as many for the value, "
           f"{value_bytes} bytes each ({dtype}, as it runs here{'; half that in bf16' if value_bytes == 4 else ''}; engine.cost.kv_cache_bytes). "
           + (f"{len(windows)} of its {backend.n_layer} layers are sliding-window layers of {max(windows):,} tokens: each keeps at most "
              f"the last {max(windows) - 1:,}, so past that the cache grows only in its {backend.n_layer - len(windows)} full layers"
              + ("; this conversation is shorter than that, so the two numbers are still equal." if n_read < max(windows) else ".")
              if windows else
              "Every layer reads every earlier token, so the cache grows with the whole conversation."))
seconds = cache.time_chat(name, tuple(kept), repeats=REPEATS, nonce=state.session_value(state.CHAT_NONCE, 0))
ms = seconds.assign(bidirectional=seconds["bidirectional"] * 1e3, causal=seconds["causal"] * 1e3)
spread = seconds.attrs.get("spread", 1.0)
if spread > BUSY_SPREAD:  # other work took the processor while timing: say so before the bars can mislead
    st.warning(f"The machine was busy while these turns were timed: runs of the same turn differed by {spread:.1f}× (median), so "
               "these bars may show the other work more than the model. The FLOPs above do not depend on the machine; "
               "press “Measure again” when it is quieter.", icon=":material/speed:")
cost_charts(ms, "ms", f"Measured on {label}", "time", ms)
st.caption(
    f"{cache.device_label()}. engine.cost.time_chat, the best of {REPEATS} runs of each way, the two taking turns: the same model either "
    "re-reads the history (bidirectional) or feeds only the new tokens through its KV cache. Same layers, same width; only the mask "
    "differs. Small models on a shared CPU are noisy: the trend, not each bar, is the point."
)
