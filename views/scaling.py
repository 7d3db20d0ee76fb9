import pandas as pd
import streamlit as st

from engine.catalog import VARIANTS
from ui import charts, html, layout, result_files, state, training
from ui.html import md_plain

PAGE = "scaling"
JOB = state.TRAINING_JOB
DASHES = tuple(charts.DASHES)  # by size, from the smallest

layout.page(
    PAGE,
    "Scaling and training",
    "In large studies, more compute — more data, bigger models — lowers the loss predictably. But the loss is a sum "
    "of many small tasks that improve at different rates: some early (grammar), some late and suddenly. So plot the "
    "curves, plot the middle point, and look inside the sum. The runs here are small; the captions say what they show.",
    keys=("x", "job", "card", "carch"),
)

cards = result_files.cards()
x = state.bind(PAGE, "x", st.segmented_control, "Horizontal axis", options=["tokens", "flops"], required=True,
               format_func={"tokens": "corpus tokens", "flops": "training FLOPs"}.get)

st.subheader("The shipped models, as they trained")
if not cards:
    st.info("No trained models are shipped yet (assets/models/<name>/card.json). "
            "`python -m engine.pretrain --preset gpu --export assets/models` (one GPU, minutes) or `--preset cpu` (hours) trains and exports them.", icon=":material/info:")
else:
    curves, styles, rows = {}, {}, []
    seen: dict[str, int] = {}
    for name, card in cards.items():
        evals = [r for r in card.get("curve", []) if "val_loss" in r]
        if not evals:
            continue
        df = pd.DataFrame(evals).rename(columns={"val_loss": "loss"})
        curves[name] = df
        arch = card.get("architecture") or card.get("model_config", {}).get("architecture", "")
        styles[name] = {"color": charts.ARCH_COLORS.get(arch, charts.OKABE_ITO["grey"]), "dash": DASHES[seen.get(arch, 0) % len(DASHES)]}
        seen[arch] = seen.get(arch, 0) + 1
        rows.extend({"model": name, **r} for r in df.to_dict("records"))
    if curves:
        layout.chart(charts.loss_curves(curves, x=x, styles=styles, title="Validation loss on each model's own objective"),
                     key=f"{PAGE}.curves", data=pd.DataFrame(rows), name="loss-curves")
        spent = [float(cards[n]["training_flops"]) for n in curves if cards[n].get("training_flops")]
        budget = ("the same compute budget" if len(spent) == len(curves) and max(spent) <= 1.01 * min(spent)
                  else f"budgets from {min(spent):.3g} to {max(spent):.3g} training FLOPs" if spent else "budgets their cards do not give")
        st.caption(f"Each model is trained on the same corpus with {budget}, and evaluated on its own objective: a "
                   "masked-LM loss and a next-token loss measure different tasks, so compare shapes, not heights. "
                   + charts.trend_sentence(curves, x, "from the first evaluation to the last"))
    ycards = charts.yardstick_curve_table(charts.card_runs(cards))
    if len(ycards):
        layout.chart(charts.yardstick_curves(ycards, x=x, title="Yardstick as each shipped model trained: the same held-out words for all",
                                              width=layout.room(1)["width"]),
                     key=f"{PAGE}.card_yardstick", data=ycards, name="card-yardstick-curves")
        for sentence in charts.yardstick_curve_findings(ycards):  # per FLOP, whatever the axis shows
            st.markdown(f"- {sentence}")
        st.caption("Scored during training, in the training device's bf16 arithmetic; the table below scores the shipped "
                   "float16 weights in float32 on this machine, so a last digit can differ.")
    else:
        st.caption("These cards have no yardstick curve: their models were trained before the yardstick was scored during "
                   "training (`python -m engine.pretrain --preset gpu` retrains them with one). The section below scores the final models.")
    named = list(cards)
    if state.get("card") and state.get("card") not in named:
        st.warning(f"The link's card {md_plain(state.get('card'))} is not a model shipped here; showing {md_plain(named[0])}.", icon=":material/link_off:")
        state.put("card", "")
    pick = state.bind(PAGE, "card", st.selectbox, "Loss by token category, for", options=named, to_widget=lambda c: c or named[0])
    cats = cards[pick].get("category_curves") or {}
    if cats:
        frames = {cat: pd.DataFrame(points, columns=["tokens", "loss"]) for cat, points in cats.items() if points}
        spent, seen_tokens = cards[pick].get("training_flops"), cards[pick].get("corpus_tokens")
        cx = x if x == "tokens" or not (spent and seen_tokens) else "flops"
        if cx == "flops":  # every step costs the same FLOPs: a point's FLOPs are its tokens at the run's rate
            frames = {cat: df.assign(flops=df["tokens"] * (float(spent) / float(seen_tokens))) for cat, df in frames.items()}
        flat = pd.DataFrame([{"category": c, **r} for c, df in frames.items() for r in df.to_dict("records")])
        layout.chart(charts.loss_curves(frames, x=cx, title=f"{pick}: validation loss by token category"),
                     key=f"{PAGE}.categories", data=flat, name=f"category-curves-{pick}")
        st.caption("One loss, many tasks: look for categories that fall early and flatten (grammar) and ones that keep "
                   "falling (meaning, knowledge of the world). " + charts.trend_sentence(frames, cx, "from the first evaluation to the last"))
    else:
        st.caption("This model's card has no per-category curves.")
    reading = cards[pick].get("encoder_reliance")  # an encoder-decoder's card: does it read its encoder? (engine.encoder_reliance)
    if reading:
        (st.caption if reading.get("reads_encoder") else st.info)(f"{reading['sentence']} Measured when {pick} was exported, on its card.")

st.subheader("One yardstick for every architecture")
ys = result_files.yardstick()
if ys is None:
    st.info("No yardstick results yet (assets/yardstick.json). `python -m engine.yardstick` scores every shipped model "
            "on the same held-out words.", icon=":material/info:")
else:
    table = charts.yardstick_table(ys["rows"])
    if len(table):
        st.markdown(
            f"Each model's own loss measures a different task, so heights cannot be compared. These can: the same "
            f"{ys['passages']:,} held-out words of the novels, each model asked its natural way: **continue** (the word after "
            f"{ys['left_tokens']} tokens of text) and **fill** (the same word with {ys['right_tokens']} tokens after it too). "
            "A decoder-only and a prefix-LM cannot read the words after the gap; an encoder and an encoder-decoder can, and so "
            "can a decoder trained to fill in the middle, given the words before, then the words after, then asked for the middle."
        )
        layout.chart(charts.yardstick_bars(table), key=f"{PAGE}.yardstick", data=table, name="yardstick")
        for sentence in charts.yardstick_findings(table, ys["rows"]):
            st.markdown(f"- {sentence}")
        fim = charts.fim_findings(ys["rows"])
        if fim:
            st.markdown("**Fill in the middle: what it cost, what it bought.** Bavarian et al. (2022) found that training a "
                        "decoder on texts reordered prefix, suffix, middle costs nothing left to right and teaches it to fill. "
                        "Here, on the same words, each difference paired word by word:")
            for sentence in fim:
                st.markdown(f"- {sentence}")
        st.caption(f"Loss in nats per word (a word's tokens summed), with 95% intervals; top-1 (every token of the word the "
                   f"model's first guess) in the table. `{ys.get('command', 'python -m engine.yardstick')}`, {ys.get('date', '')}.")
        # top-1 in percent with one decimal throughout (the grid's "percent" wrote 16.4%, 13.41% and 15% in one column)
        shown = table[["model", "task", "loss", "top1", "top1_lo", "top1_hi", "n"]].assign(
            task=table["task"].replace({"fill_psm": "fill, PSM order"}), **{c: table[c] * 100 for c in ("top1", "top1_lo", "top1_hi")})
        layout.table(shown, column_config={
            "loss": st.column_config.NumberColumn("loss (nats/word)", format="%.2f"),
            "top1": st.column_config.NumberColumn("top-1", format="%.1f%%"),
            "top1_lo": st.column_config.NumberColumn("top-1, 95% low", format="%.1f%%"),
            "top1_hi": st.column_config.NumberColumn("top-1, 95% high", format="%.1f%%"),
        })

st.subheader("The scaling sweep")
runs = result_files.scaling_runs()
if runs is None:
    st.info("No sweep results yet (assets/scaling.json). `python -m engine.sweep` trains each architecture at three "
            "sizes on one budget and writes them.", icon=":material/info:")
else:
    table = runs.drop(columns=[c for c in ("curve", "final_categories") if c in runs.columns])
    layout.chart(charts.scaling_scatter(runs), key=f"{PAGE}.sweep", data=table, name="scaling-sweep")
    per_arch = runs.groupby("architecture")["parameters"].nunique()
    sizes = html.count(int(per_arch.min()), "size") if per_arch.min() == per_arch.max() else f"{per_arch.min()} to {per_arch.max()} sizes"
    if "corpus_tokens" in runs.columns:
        lo, hi = runs["corpus_tokens"].min(), runs["corpus_tokens"].max()
        budget = f"on the same {hi:,.0f} corpus tokens" if lo == hi else f"on {lo:,.0f} to {hi:,.0f} corpus tokens"
    else:
        budget = "on a budget the sweep file does not give"
    by_arch = {charts.ARCH_NAMES.get(a, a): part.rename(columns={"final_val_loss": "loss"}) for a, part in runs.groupby("architecture")}
    st.caption(f"Each architecture at {sizes} ({runs['parameters'].min():,.0f} to {runs['parameters'].max():,.0f} parameters), every run "
               f"{budget}: a small budget, so these are curves of early training, not converged models. Each loss is on the "
               "architecture's own objective: compare slopes within a colour, not heights across colours. "
               + charts.trend_sentence(by_arch, "training_flops", "from each architecture's cheapest run to its costliest"))
    if "curve" in runs.columns:
        curves, styles, flat = {}, {}, []
        for i, run in enumerate(runs.sort_values(["architecture", "parameters"]).to_dict("records")):
            points = [p for p in (run.get("curve") or []) if "val_loss" in p and x in p]
            if not points:
                continue
            label = f"{charts.ARCH_NAMES.get(run['architecture'], run['architecture'])} · {run.get('size', int(run['parameters']))}"
            curves[label] = pd.DataFrame(points).rename(columns={"val_loss": "loss"})
            rank = int((runs[runs["architecture"] == run["architecture"]]["parameters"] < run["parameters"]).sum())
            styles[label] = {"color": charts.ARCH_COLORS.get(run["architecture"], charts.OKABE_ITO["grey"]), "dash": DASHES[rank % len(DASHES)]}
            flat.extend({"run": label, **p} for p in points)
        if curves:
            layout.chart(charts.loss_curves(curves, x=x, styles=styles, title="Every sweep run as it trained (dash: size)"),
                         key=f"{PAGE}.sweep_curves", data=pd.DataFrame(flat), name="sweep-curves")
    ycurves = charts.yardstick_curve_table(runs) if "curve" in runs.columns else pd.DataFrame()
    if len(ycurves):
        st.markdown("**Which objective buys most per FLOP?** Each run's own loss cannot say; the yardstick can: the same "
                    f"{int(ycurves['n'].max()):,} held-out words, scored at every evaluation of every run, each architecture its natural way.")
        layout.chart(charts.yardstick_curves(ycurves, x=x, width=layout.room(1)["width"]), key=f"{PAGE}.sweep_yardstick", data=ycurves, name="sweep-yardstick")
        for sentence in charts.yardstick_curve_findings(ycurves):  # per FLOP, whatever the axis shows
            st.markdown(f"- {sentence}")
        st.caption("Loss in nats per word (a word's tokens summed); 95% intervals in the data download. Intervals of two models "
                   "on the same words overlap more than their difference is uncertain, so \"within each other's intervals\" "
                   "is the cautious reading.")
    if "final_categories" in runs.columns:
        swept = sorted(runs["architecture"].unique())
        if state.get("carch") and state.get("carch") not in swept:
            st.warning(f"The sweep has no {md_plain(charts.ARCH_NAMES.get(state.get('carch'), state.get('carch')))} runs; showing the first architecture.", icon=":material/link_off:")
            state.put("carch", "")
        arch = state.bind(PAGE, "carch", st.selectbox, "Categories across sizes, for", options=swept, format_func=lambda a: charts.ARCH_NAMES.get(a, a),
                          to_widget=lambda a: a or swept[0])
        part = runs[runs["architecture"] == arch].sort_values("parameters")
        by_cat: dict[str, list] = {}
        for params, cats in zip(part["parameters"], part["final_categories"]):
            for cat, loss in (cats or {}).items():
                by_cat.setdefault(cat, []).append({"parameters": params, "loss": loss})
        frames = {cat: pd.DataFrame(points) for cat, points in by_cat.items()}
        if frames:
            flat = pd.DataFrame([{"category": c, **r} for c, df in frames.items() for r in df.to_dict("records")])
            layout.chart(charts.loss_curves(frames, x="parameters", title="Final loss by category against model size"),
                         key=f"{PAGE}.sweep_categories", data=flat, name="sweep-categories")
            st.caption("Two sizes draw a straight line through anything; the middle point shows whether a task is still "
                       "improving, has saturated, or has not started. "
                       + charts.trend_sentence(frames, "parameters", "from the smallest model to the largest"))

st.subheader("Train one yourself")
st.caption("A tiny model (engine.pretrain's smoke preset) on the same novels, in a background thread: watch the loss "
           "fall from a uniform guess. It stops when the budget is spent or when you cancel.")
job = state.session_value(JOB)
if job is None and state.get("job"):  # a reload is a new session: find the run through the link
    job = training.find(state.get("job"))
    if job is None:
        st.info("The training run in this link is no longer on the server (it ended a while ago, or the server restarted).",
                icon=":material/history:")
        state.put("job", "")
    state.set_session_value(JOB, job)
busy = job is not None and job.running
c1, c2, c3, c4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
with c1:
    variant = st.selectbox("Architecture and objective", list(VARIANTS), key=f"{PAGE}.variant", disabled=busy,
                           format_func=lambda v: f"{charts.ARCH_NAMES[VARIANTS[v][0]]} · {VARIANTS[v][1]}")
with c2:
    budget = st.select_slider("Corpus tokens", options=[25_000, 50_000, 100_000, 200_000, 400_000], value=100_000,
                              format_func=lambda t: f"{t // 1000}k", key=f"{PAGE}.budget", disabled=busy)
with c3:
    if st.button("Start", type="primary", icon=":material/play_arrow:", key=f"{PAGE}.start", disabled=busy):
        arch, objective = VARIANTS[variant]
        try:
            state.set_session_value(JOB, training.start(arch, objective, budget))
        except training.Busy as e:
            state.notice(str(e))
        else:
            state.put("job", state.session_value(JOB).id)
        st.rerun()
with c4:
    if st.button("Cancel", icon=":material/stop:", key=f"{PAGE}.cancel", disabled=not busy):
        job.cancel.set()


@st.fragment(run_every=1.0 if busy else None)
def live() -> None:
    job = state.session_value(JOB)
    if job is None:
        st.caption("No run yet.")
        return
    label = f"{charts.ARCH_NAMES[job.architecture]} · {job.objective} · {job.tokens // 1000}k tokens"
    if job.running:
        step = job.records[-1].get("step", 0) if job.records else 0
        st.progress(job.progress, text=f"Training {label}: step {step}")
    elif job.error:
        st.error(f"The run failed: {job.error}", icon=":material/error:")
    elif job.summary:
        how = "cancelled" if job.summary.get("stopped_early") else "finished"
        st.success(f"{label}: {how} after {job.summary['steps_done']} steps, validation loss {job.summary['final_val_loss']:.2f} "
                   f"nats, in {job.summary['wall_time_s']:.0f} s.", icon=":material/check_circle:")
    records = list(job.records)
    if records:
        layout.chart(charts.live_curve(records), key=f"{PAGE}.live", data=pd.DataFrame(records), name="live-training")
    if busy and not job.running:
        st.rerun(scope="app")  # stop polling


live()
