"""Every page through Streamlit's AppTest, with ordinary and awkward text, asserting what it shows."""

import json
import re
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.tokenizer import tokenize
from ui import cache, catalog, charts, html, layout, result_files, scoring, state, training

from conftest import APP, PAGES, html_bodies, needs_tiktoken, open_page, page_params, texts_of

LONG = "It is a truth universally acknowledged. " * 400  # 16,000 characters, 3,201 MaskLab tokens
SCRIPT = "<script>alert(1)</script>"
TEXTS = {
    "typical": "It was the best of times, it was the worst of times.",
    "empty": "",
    "one char": "a",
    "emoji": "🦜👩‍👩‍👧",
    "script": SCRIPT,
    "special": "<|endoftext|> and <|mask|>",
}


def everything(at: AppTest) -> str:
    return "\n".join(texts_of(at) + [html_bodies(at)])


def n_tokens(text: str) -> int:
    return len(tokenize(text, "masklab"))


def link_notice(at: AppTest, field: str) -> str:
    """The one warning that refuses the link's ``field`` (ui.state raises a warning per refused field)."""
    hits = [w for w in texts_of(at, "warning") if re.search(rf"\b{field}\b", w) and "ignored" in w]
    assert len(hits) == 1, texts_of(at, "warning")
    return hits[0]


def number_before(phrase: str, text: str) -> int:
    """The number (commas allowed) that ``text`` gives just before ``phrase``, a few words at most apart."""
    m = re.search(rf"(\d[\d,]*)\D{{0,24}}{re.escape(phrase)}", text)
    assert m, f"no number before {phrase!r} in {text!r}"
    return int(m[1].replace(",", ""))


def check_page(page: str, at: AppTest, text: str) -> None:
    """What each page must show for ``text``: real content, not just the absence of a traceback."""
    shown = everything(at)
    assert SCRIPT not in shown, "user text reached the page as live HTML"
    blank = not text.strip()
    n = min(n_tokens(text), state.MAX_TOKENS)
    if page == "home":
        assert at.title and all(family in everything(at) for family in ("Encoder-decoder", "Encoder-only", "Decoder-only"))
    elif page == "tokenization":
        assert at.metric[0].value == f"{n_tokens(text):,} tokens"
        assert len(at.metric) == 5 + len(catalog.published()[:1])  # all five encodings load from the shared cache, and a published model's own tokenizer
    elif page in ("masks", "objectives", "losses") and blank:
        assert any("Type some text" in t for t in texts_of(at, "info"))
    elif page == "masks":
        assert len(at.get("plotly_chart")) >= 4
    elif page == "objectives":
        assert at.metric[0].value == f"{min(n, 512):,}"
        assert any(t.startswith("Loss exposure") for t in [m.label for m in at.metric])
    elif page == "losses":
        table = at.dataframe[0].value
        chosen, warned = list(at.session_state["variants"]), " ".join(texts_of(at, "warning"))
        failed = [m for m in chosen if f"{m} could not be scored" in warned]
        assert len(table) == len(chosen) - len(failed)  # one row per chosen model, or a warning that says why not
        own = [m for m in chosen if m in {v.name for v in catalog.variants()}]
        assert own and set(own) <= set(table["model"])  # MaskLab's own models need no download: always scored
        assert (table[table["model"].isin(own)]["tokens"] == n).all()  # MaskLab's tokens; a published model counts its own
        assert (table["tokens"] > 0).all()
    elif page == "switches":
        assert len(at.metric) >= 7
    elif page == "chat":
        assert at.metric[0].value == "6"
    elif page == "scaling":
        assert any("Train one yourself" in t for t in texts_of(at, "subheader"))


@pytest.mark.parametrize("kind", list(TEXTS))
@pytest.mark.parametrize("page", page_params(PAGES))
def test_page_with_awkward_text(page, kind):
    text = TEXTS[kind]
    at = open_page(page, text)
    check_page(page, at, text)


@pytest.mark.slow
@pytest.mark.parametrize("page", page_params(PAGES))
def test_page_with_3000_tokens(page):
    at = open_page(page, LONG, timeout=300)
    check_page(page, at, LONG)
    if page in ("masks", "losses"):
        assert any("first 2,048" in t for t in texts_of(at, "warning"))
    if page == "objectives":
        assert any("first 512" in t for t in texts_of(at, "caption"))


def test_text_over_the_limit_is_refused_with_a_message():
    at = open_page("tokenization", "x" * (state.MAX_CHARS + 1))
    assert any(f"at most {state.MAX_CHARS:,}" in t for t in texts_of(at, "error"))
    assert not at.metric


def test_special_token_text_is_ordinary_text():
    at = open_page("tokenization", "<|endoftext|>")
    assert at.metric[0].value == f"{n_tokens('<|endoftext|>')} tokens"
    assert n_tokens("<|endoftext|>") > 1
    assert any("ordinary text" in t for t in texts_of(at, "caption"))


@needs_tiktoken
def test_an_unavailable_encoding_is_explained_and_the_rest_still_work(monkeypatch):
    import engine
    from engine.tokenizer import EncodingUnavailable

    real = engine.tokenize

    def offline(text, encoding="masklab"):
        if encoding == "o200k_base":
            raise EncodingUnavailable("o200k_base", "offline in this test")
        return real(text, encoding)

    monkeypatch.setattr(engine, "tokenize", offline)
    at = open_page("tokenization", "A text only this test uses.")
    warning = " ".join(texts_of(at, "warning"))
    assert "GPT-4o (o200k_base) is unavailable" in warning and "TIKTOKEN_CACHE_DIR" in warning
    assert len(at.metric) == 4 + len(catalog.published()[:1]) and at.metric[0].value == f"{n_tokens('A text only this test uses.')} tokens"


@pytest.mark.parametrize("name, raw, expected", [
    ("seed", "12", 12), ("rate", "0.3", 0.3), ("pres", "1", True), ("sw", "cab", "abc"),
    ("enc", "masklab,cl100k_base", ("masklab", "cl100k_base")), ("split", "-1", -1),
    ("blank", "5", 5), ("carch", "encoder", "encoder"), ("card", "decoder-clm", "decoder-clm"),
    ("chat", "u:Is it far?\na:Three miles.\\nA pleasant walk.\ns:a\\\\b", (("user", "Is it far?"), ("assistant", "Three miles.\nA pleasant walk."), ("system", "a\\b"))),
])
def test_link_fields_parse(name, raw, expected):
    assert state.FIELDS[name].parse(raw) == expected


@pytest.mark.parametrize("name, raw", [
    ("seed", "-1"), ("seed", "x"), ("rate", "nan"), ("rate", "2"), ("pres", "maybe"), ("sw", "abz"),
    ("enc", "masklab,nope"), ("obj", "gpt"), ("text", "x" * (state.MAX_CHARS + 1)),
    ("blank", "-2"), ("blank", str(state.MAX_TOKENS)), ("carch", "gpt"), ("card", "x" * 121),
    ("chat", "x:hello"), ("chat", "hello"), ("chat", "u:" + "x" * state.MAX_URL_TEXT),
])
def test_bad_link_fields_are_rejected(name, raw):
    with pytest.raises(ValueError):
        state.FIELDS[name].parse(raw)


def test_an_empty_text_shows_a_plain_no_tokens_state():
    at = open_page("tokenization", "")
    assert at.metric[0].value == "0 tokens" and all(m.proto.delta == "" for m in at.metric)
    assert any("No tokens" in t for t in texts_of(at, "info"))
    assert not at.get("plotly_chart")
    assert "[0]" not in everything(at) and "chars/token" not in everything(at)


def test_the_whitespace_toggle_changes_the_style_and_no_chip():
    at = open_page("tokenization", "It was the best  of times,\nit was the worst of times.")
    chips = [h.proto.body for h in at.html if h.proto.body.startswith("<div class=\"ml-chips\">")]
    assert len(chips) == len(at.metric) and html.SHOW_SPACES not in html_bodies(at)
    assert all(">·<" not in c and "ml-lsp" in c for c in chips)  # the spaces are left to the style
    at.toggle(key="tokens.ws").set_value(True).run()
    assert html.SHOW_SPACES in [h.proto.body for h in at.html]  # the style shows them as ·
    assert [h.proto.body for h in at.html if h.proto.body.startswith("<div class=\"ml-chips\">")] == chips  # the browser keeps every chip as it was
    at.toggle(key="tokens.ws").set_value(False).run()
    assert html.SHOW_SPACES not in html_bodies(at) and at.session_state["ws"] is False


def test_emoji_bytes_are_grouped():
    at = open_page("tokenization", "🦜")
    bodies = "".join(h.proto.body for h in at.html)
    assert 'class="ml-group"' in bodies and "&lt;0xF0&gt;" in bodies


def test_text_follows_the_user_across_pages():
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.switch_page("views/tokenization.py").run()
    at.text_area(key="tokens.text").input("Call me Ishmael.").run()
    assert at.query_params.get("text") in ("Call me Ishmael.", ["Call me Ishmael."])
    at.switch_page("views/objectives.py").run()
    assert at.text_area(key="objectives.text").value == "Call me Ishmael."
    assert at.metric[0].value == str(n_tokens("Call me Ishmael."))


def test_link_reopens_the_same_view():
    params = {"text": "The sun rose in the east.", "obj": "mlm", "rate": "0.3", "seed": "7"}
    at = open_page("objectives", params=params)
    assert at.session_state["obj"] == "mlm" and at.session_state["seed"] == 7 and at.session_state["rate"] == 0.3
    assert at.slider(key="objectives.rate").value == 0.3
    assert at.number_input(key="objectives.seed").value == 7
    assert {k: at.query_params[k] for k in params} == {k: v if isinstance(at.query_params[k], str) else [v] for k, v in params.items()}


def test_controls_write_the_link():
    at = open_page("masks", "one two three four five six")
    at.slider(key="masks.split").set_value(2).run()
    assert at.session_state["split"] == 2
    q = at.query_params.get("split")
    assert q in ("2", ["2"])


def test_a_window_without_the_input_end_says_where_the_end_is():
    """On a long text the window showed only input, the prefix-LM's rule looked like the encoder's, and the caption
    pointed at dotted lines that were not drawn."""
    text = " ".join(f"word{i}" for i in range(400))
    at = open_page("masks", text, params={"archs": "encoder,prefix_lm", "split": "300", "win": "0"})
    said = " ".join(texts_of(at, "caption"))
    assert "Dotted lines" not in said and "The input is the first 300 tokens: this window is all input" in said
    at = open_page("masks", text, params={"archs": "encoder,prefix_lm", "split": "40", "win": "0"})
    assert "Dotted lines: the input's end (the first 40 tokens" in " ".join(texts_of(at, "caption"))


def test_bad_link_parameters_fall_back_with_a_notice():
    at = open_page("masks", params={"seed": "abc", "layer": "999", "obj": "nonsense", "archs": "encoder,bogus", "sneaky": "1"})
    warnings = " ".join(texts_of(at, "warning"))
    assert "ignored" in warnings and "sneaky" in warnings
    assert at.session_state["seed"] == 0 and at.session_state["obj"] == "span_corruption"
    assert at.session_state["archs"] == state.FIELDS["archs"].default


def test_a_refused_link_value_is_quoted_as_plain_text():
    at = open_page("tokenization", params={"temp": "nan", "seed": "-3", "enc": "masklab"})  # MaskLab's tokenizer only: no notice about tiktoken's files
    warnings = " ".join(texts_of(at, "warning"))
    temp, seed = link_notice(at, "temp"), link_notice(at, "seed")
    assert "“nan”" in temp and "not a finite number" in temp
    assert "“\\-3”" in seed and "1,000,000" in seed  # quoted, escaped (Markdown shows -3), with the range it left
    assert "`" not in warnings and "=" not in warnings



def test_every_link_field_reads_back_what_it_writes():
    conversation = (("user", "Is it far to Netherfield?"), ("assistant", "Three miles.\nA pleasant walk, \\ they say."), ("system", "u:not a role"))
    assert state.FIELDS["chat"].parse(state.FIELDS["chat"].dump(conversation)) == conversation
    for name, f in state.FIELDS.items():
        if f.default not in (None, "") and name not in ("text", "chat"):
            assert f.parse(f.dump(f.default)) == f.default, name


def test_scaling_category_selectors_reopen_from_the_link():
    cards, runs = list(result_files.cards()), result_files.scaling_runs()
    swept = sorted(runs["architecture"].unique())
    at = open_page("scaling", params={"card": cards[-1], "carch": swept[-1]})
    assert at.selectbox(key="scaling.card").value == cards[-1] and at.selectbox(key="scaling.carch").value == swept[-1]
    at.selectbox(key="scaling.card").select(cards[0]).run()
    assert at.query_params.get("card") in (cards[0], [cards[0]])
    at = open_page("scaling", params={"card": "no-such-model"})
    assert any("no\\-such\\-model" in w and "not a model shipped here" in w for w in texts_of(at, "warning"))
    assert at.selectbox(key="scaling.card").value == cards[0] and "card" not in at.query_params


def test_the_hidden_position_reopens_from_the_link():
    text = TEXTS["typical"]
    link = {"variants": "random-encoder", "gen": "random-encoder"}
    at = open_page("losses", text, params={**link, "blank": "3"})
    assert at.slider(key="losses.blank").value == 3
    assert "Position 3:" in html_bodies(at)
    at.slider(key="losses.blank").set_value(5).run()
    assert at.query_params.get("blank") in ("5", ["5"])
    at = open_page("losses", text, params={**link, "blank": "2000"})  # past the text's end: its last token
    assert at.slider(key="losses.blank").value == n_tokens(text) - 1


def test_the_chat_conversation_reopens_from_the_link():
    conversation = (("user", "Is it far to Netherfield?"), ("assistant", "Three miles.\nA pleasant walk."))
    at = open_page("chat", params={"chat": state.dump_chat(conversation)})
    assert tuple(map(tuple, at.session_state[state.CHAT_TURNS][["role", "text"]].values.tolist())) == conversation
    assert at.metric[0].value == "2"
    at.session_state[state.CHAT_TURNS] = at.session_state[state.CHAT_TURNS].iloc[:1]  # an edit writes the link
    at.run()
    assert at.query_params.get("chat") in ("u:Is it far to Netherfield?", ["u:Is it far to Netherfield?"])


def test_presenting_the_chat_reads_as_a_transcript_and_its_table_still_edits_it():
    conversation = (("user", "Is it far to <Netherfield>?"), ("assistant", "Three miles."))
    at = open_page("chat", params={"chat": state.dump_chat(conversation), "pres": "1"})
    transcript = [h.proto.body for h in at.get("html") if "ml-transcript" in h.proto.body and "<div" in h.proto.body]
    assert len(transcript) == 1 and "Is it far to &lt;Netherfield&gt;?" in transcript[0] and transcript[0].index("Is it far") < transcript[0].index("Three miles")
    assert at.expander[0].label == "Edit, add or remove turns"
    at.session_state[state.CHAT_TURNS] = at.session_state[state.CHAT_TURNS].iloc[:1]  # an edit in the folded table
    at.run()
    transcript = [h.proto.body for h in at.get("html") if "ml-transcript" in h.proto.body and "<div" in h.proto.body]
    assert "Three miles" not in transcript[0] and at.metric[0].value == "1"


def test_the_chat_page_states_the_kv_cache_its_model_holds():
    from engine.cost import kv_cache_bytes

    conversation = (("user", "Is it far to Netherfield?"), ("assistant", "Three miles."))
    at = open_page("chat", params={"chat": state.dump_chat(conversation)})
    kv = next(m for m in at.metric if m.label.startswith("KV cache after"))
    n = int(kv.label.split()[3].replace(",", ""))
    assert n > 5
    # a MaskLab decoder: 4 layers, 4 heads of 48 (medium), every layer full; float32 on this CPU, as it runs here (the
    # page said 2 bytes a value, bf16, beside a sidebar saying the models run in float32)
    value_bytes = 2 if cache.DEVICE.startswith("cuda") else 4
    assert kv.value == f"{kv_cache_bytes(n, n_kv_head=4, head_dim=48, layer_windows=[None] * 4, bytes_per_value=value_bytes) / 2**20:,.2f} MiB"
    said = next(t for t in texts_of(at, "caption") if "engine.cost.kv_cache_bytes" in t)
    assert f"{value_bytes} bytes each ({'bf16' if value_bytes == 2 else 'float32'}, as it runs here" in said
    assert not any(m.label == "Had every layer been full" for m in at.metric)


def test_a_chat_too_long_for_a_link_is_refused_and_left_out():
    long = state.dump_chat([("user", "word " * 300), ("assistant", "word " * 200)])
    at = open_page("chat", params={"chat": long})
    refused = link_notice(at, "chat")
    assert "“" in refused and f"longer than {state.MAX_URL_TEXT:,} characters" in refused
    assert at.metric[0].value == str(len(state.DEFAULT_CHAT))
    at.session_state[state.CHAT_TURNS] = pd.DataFrame([("user", "word " * 500)], columns=["role", "text"])
    at.run()
    assert "chat" not in at.query_params
    assert any(f"{state.MAX_URL_TEXT:,} characters" in c and "leave it out" in c for c in texts_of(at, "caption"))

def test_a_published_checkpoint_that_is_not_here_is_explained():
    at = open_page("losses", TEXTS["typical"], params={"variants": "random-decoder,nobody/no-such-model"})
    warned = [t for t in texts_of(at, "warning") if "nobody/no-such-model could not be scored" in t]
    assert warned and "`" not in warned[0] and "hf download nobody/no-such-model" in warned[0]
    assert list(at.dataframe[0].value["model"]) == ["random-decoder"]
    at.button(key="losses.drop.nobody/no-such-model").click().run()  # offered a way out: remove it, and the warning goes
    assert at.session_state["variants"] == ("random-decoder",)
    assert not any("could not be scored" in t for t in texts_of(at, "warning"))


def test_encoder_only_cannot_generate_but_fills_a_blank():
    at = open_page("losses", TEXTS["typical"], params={"variants": "random-encoder", "gen": "random-encoder"})
    assert any("cannot write text" in t for t in texts_of(at, "info"))
    assert at.slider(key="losses.blank").value == n_tokens(TEXTS["typical"]) - 1


def test_encoders_are_scored_as_trained_by_default_and_exactly_on_request():
    at = open_page("losses", LONG[:1600], params={"variants": "random-encoder,random-encoder_decoder,random-decoder"})
    summary = at.dataframe[0].value.set_index("model")
    n = n_tokens(LONG[:1600])
    assert summary.loc["random-encoder", "scoring"] == f"masked LM, 1 in {scoring.STRIDE} hidden"  # the table says it short; the caption whole
    assert summary.loc["random-encoder_decoder", "scoring"].startswith("masked spans")
    assert (summary["scored"] == [n, n, n]).all()  # as trained, every token is scored
    at.segmented_control(key="losses.score").set_value("exact").run()
    assert not at.exception and at.query_params["score"] in ("exact", ["exact"])
    summary = at.dataframe[0].value.set_index("model")
    assert summary.loc["random-encoder", "scoring"] == "pseudo-log-likelihood"
    assert summary.loc["random-encoder", "scored"] == summary.loc["random-encoder_decoder", "scored"] == scoring.SLOW_LIMIT < n
    assert summary.loc["random-decoder", "scored"] == n


def test_resample_draws_with_the_next_seed():
    at = open_page("objectives", params={"obj": "mlm"})
    at.button(key="objectives.resample").click().run()
    assert at.session_state["seed"] == 1


def test_resample_on_a_short_text_says_why_nothing_changes_and_rolling_moves_the_span():
    at = open_page("objectives", TEXTS["typical"], params={"obj": "span_corruption"})
    why = "Resample changes nothing here"
    assert any(why in t for t in texts_of(at, "caption"))
    before = [h.proto.body for h in at.html if "Encoder input" in h.proto.body]
    at.button(key="objectives.resample").click().run()
    assert at.session_state["seed"] == 1
    assert [h.proto.body for h in at.html if "Encoder input" in h.proto.body] == before  # the same example, as said
    at.toggle(key="objectives.roll").set_value(True).run()
    assert at.session_state["roll"] is True and at.query_params.get("roll") in ("1", ["1"])
    assert not any(why in t for t in texts_of(at, "caption"))
    seen = set()
    for seed in range(6):
        at.session_state["seed"] = seed
        at.run()
        seen.add(tuple(h.proto.body for h in at.html if "Encoder input" in h.proto.body))
    assert len(seen) > 1  # rolled, the seed moves the span


def test_objective_settings_that_cannot_work_say_why():
    text = "word " * 400
    at = open_page("objectives", text, params={"obj": "span_corruption", "rate": "0.5", "span": "1"})
    assert any("sentinel" in t for t in texts_of(at, "error"))


def test_objective_views():
    at = open_page("objectives", TEXTS["typical"])
    for objective in ("clm", "mlm", "span_corruption", "prefix_lm", "ul2"):
        at.session_state["obj"] = objective
        at.run()
        assert not at.exception
        exposure = float(at.metric[2].value.rstrip("%"))
        assert 0 <= exposure <= 100
    at.session_state["obj"] = "clm"
    at.run()
    n = n_tokens(TEXTS["typical"])
    assert at.metric[1].value == str(n - 1)  # every token but the first receives loss


AUSTEN = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."


@pytest.mark.parametrize("obj, params, setting", [("prefix_lm", {"split": "13"}, {"split": 13}), ("mlm", {"rate": "0.4"}, {"mask_rate": 0.4}),
                                                  ("span_corruption", {"rate": "0.3", "span": "2"}, {"noise_density": 0.3, "mean_span_length": 2.0})])
def test_the_highlighted_exposure_bar_is_the_example_above_it(obj, params, setting):
    """The prefix-LM example said 14 tokens supervised (51.9%) at a prefix of 13 while its highlighted bar, drawn at the
    default random split, said 10 of 27: the bar of the objective shown now uses the page's settings."""
    import pyarrow as pa

    from engine.objectives import exposure_table

    at = open_page("objectives", AUSTEN, params={"obj": obj, **params})
    metrics = {m.label: m.value for m in at.metric}
    chart = next(c for c in at.get("vega_lite_chart") if json.loads(c.proto.spec)["title"]["text"] == "Loss exposure on this text")
    bars = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas().set_index("name")
    bar = bars.loc[charts.objective_name(obj)]
    assert metrics["Text tokens supervised"] == str(bar["n_loss_tokens"]) and metrics["Loss exposure"] == f"{bar['exposure_pct']:.1f}%"
    ids = [t.id for t in tokenize(AUSTEN, "masklab")]
    default = next(r for r in exposure_table(ids, 0) if r["label"] == obj)
    assert bar["n_loss_tokens"] != default["n_loss_tokens"]  # the settings change it on this text: the test can tell
    assert bars.loc["Causal LM", "n_loss_tokens"] == len(ids) - 1  # the others at their defaults
    caption = next(t for t in texts_of(at, "caption") if t.startswith("On your text"))
    assert "(highlighted) at the settings above" in caption
    if obj == "prefix_lm":
        assert f"the {bar['n_loss_tokens']} of {len(ids)} tokens after your prefix" in caption


def test_span_corruption_names_supervised_tokens_and_loss_positions_apart():
    from engine.objectives import corrupt

    at = open_page("objectives", TEXTS["typical"], params={"obj": "span_corruption"})
    c = corrupt([t.id for t in tokenize(TEXTS["typical"], "masklab")], "span_corruption", 0)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Text tokens supervised"] == str(c.n_loss_tokens)
    assert labels["Target positions with a loss"] == str(len(c.targets))
    assert c.n_loss_tokens < len(c.targets)
    target_row = [b for b in (h.proto.body for h in at.html) if "Decoder target" in b][0]
    assert number_before("positions", target_row) == len(c.targets)
    assert number_before("text tokens supervised", target_row) == c.n_loss_tokens


def test_switches_reach_prefix_lm_then_decoder():
    at = open_page("switches", params={"sw": "abc"})
    assert any("prefix-LM" in t for t in texts_of(at, "success"))
    diff = float(at.metric[4].value)
    assert diff < 1e-4
    at.toggle(key="switches.d").set_value(True).run()
    assert at.session_state["sw"] == "abcd"
    said = " ".join(texts_of(at, "success"))  # all four switches named, and the decoder-only reached (not the prefix-LM)
    assert all(f"({s})" in said for s in "abcd") and "decoder-only" in said and "prefix-LM" not in said
    assert at.metric[0].value == at.metric[1].value  # parameters: switched vs decoder-only
    assert at.metric[2].value == at.metric[3].value  # forward FLOPs per token: switched vs decoder-only
    assert float(at.metric[5].value) < 1e-4
    assert float(at.metric[4].value) > 1e-3


def test_presentation_mode_hides_secondary_controls():
    at = open_page("masks", TEXTS["typical"], params={"pres": "1"})
    assert at.session_state["pres"] is True
    assert "font-size:20px" in "".join(h.proto.body for h in at.html)
    # no expander of layer and head in the projected view: they move to the sidebar (the sentinels' detail folds away)
    assert [e.label.split(":")[0] for e in at.expander] == ["Where each sentinel looks"]
    assert re.search(r": (⟨s\d+⟩ puts|on average,) \d+% of (its|a sentinel.s) weight (is )?on its twin in the input$", at.expander[0].label)  # its headline number, unopened
    side = [s.key for s in at.sidebar.selectbox]
    assert [s.key for s in at.sidebar.slider] == ["masks.split", "masks.layer"] and side[-1] == "masks.head"  # the input length too
    assert not at.main.slider  # none left in the projected view: the four rules fit its first screen
    # the model pickers (where published checkpoints were found) move to the sidebar too, none left in the page
    assert all(k.startswith("masks.model.") for k in side[:-1]) and len({s.key for s in at.selectbox}) == len(side)
    # in the sidebar's narrow boxes a model is named by its own name ("decoder-clm · Mas…" was cut)
    pickers = [s for s in at.sidebar.selectbox if s.key.startswith("masks.model.")]
    assert pickers and all(o == catalog.short_label(n) and " · " not in o for s in pickers for o, n in zip(s.options, catalog.models_for(s.key.split(".")[-1])))
    at.sidebar.slider[1].set_value(2).run()
    assert at.session_state["layer"] == 1 and at.query_params["layer"] == "2"  # the link counts layers from 1, as the slider does


def test_presenting_the_losses_table_keeps_its_scoring_column_whole():
    """The larger type left no room for nine columns: the total loss and the token count give way; the count
    scored (what the mean is over) and the scoring stay."""
    import re

    shown = open_page("losses", TEXTS["typical"], params={"pres": "1"})
    grid = next(h.proto.body for h in shown.get("html") if '<div class="ml-grid">' in h.proto.body)  # the summary, in the page's type
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", grid)
    plain = open_page("losses", TEXTS["typical"]).dataframe[0].value
    # plain, the total loss gives way too (the mean times the count scored), so the scoring column is whole at 820 px
    assert {"tokens", "scored"} <= set(plain.columns) and "total_loss" not in plain.columns
    assert not {"total loss", "tokens"} & set(heads) and "scored" in heads
    assert heads[-1] == "scoring" and heads[1] == "mean loss"
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", grid.split("<tbody>")[1])]
    assert [r[1] for r in rows] == [f"{v:.2f}" for v in plain["mean_loss"]]


@pytest.mark.parametrize("page_id, key, value", [("chat", "chat.size", "large"), ("objectives", "objectives.size", "large"), ("switches", "switches.size", "large")])
def test_presenting_moves_the_size_pickers_to_the_sidebar(page_id, key, value):
    at = open_page(page_id, params={"pres": "1"})
    picker = at.sidebar.segmented_control(key=key)  # not gone: one click away, out of the projected view
    assert picker.value != value
    picker.set_value(value).run()
    assert not at.exception and at.session_state["size"] == value and at.query_params["size"] == value
    plain = open_page(page_id)
    assert not [w for w in plain.sidebar.segmented_control if w.key == key]  # in place when not presenting
    assert plain.segmented_control(key=key)


def test_a_new_chat_row_gets_a_role_alternating():
    assert state.next_chat_role(["user", "assistant"]) == "user"
    assert state.next_chat_role(["assistant", "user"]) == "assistant"
    assert state.next_chat_role(["system"]) == state.next_chat_role([]) == state.next_chat_role([None]) == "user"
    assert state.next_chat_role(["user", None]) == "assistant"  # a row whose role was cleared is skipped
    at = open_page("chat")
    role = json.loads(at.dataframe[0].proto.columns)["role"]
    assert role["required"] and role["default"] == "user"  # the default chat ends with the assistant
    at.session_state[state.CHAT_TURNS] = at.session_state[state.CHAT_TURNS].iloc[:1]  # ends with the user
    at.run()
    assert json.loads(at.dataframe[0].proto.columns)["role"]["default"] == "assistant"


def test_chat_editor_changes_the_counts():
    at = open_page("chat")
    base = int(at.metric[1].value.replace(",", ""))
    at.session_state[state.CHAT_TURNS] = at.session_state[state.CHAT_TURNS].iloc[:2]
    at.run()
    assert at.metric[0].value == "2"
    assert int(at.metric[1].value.replace(",", "")) < base


def test_scaling_page_draws_cards_and_sweep(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "decoder-clm").mkdir(parents=True)
    curve = [{"step": s, "tokens": 1000 * s, "flops": 1e9 * s, "val_loss": 9.0 / s} for s in (1, 2, 4)]
    card = {"architecture": "decoder", "objective": "clm", "curve": curve,
            "category_curves": {"punctuation": [[1000, 5.0], [4000, 3.0]], "content word": [[1000, 8.0], [4000, 7.0]]}}
    (models / "decoder-clm" / "card.json").write_text(json.dumps(card))
    sweep = tmp_path / "scaling.json"
    runs = [{"architecture": "decoder", "size": size, "parameters": p, "training_flops": p * 1e6, "final_val_loss": 6 - i,
             "final_categories": {"punctuation": 3 - i * 0.5},
             "curve": [{"step": 1, "tokens": 1000, "flops": p, "val_loss": 8.0}, {"step": 2, "tokens": 2000, "flops": 2 * p, "val_loss": 6.0 - i}]}
            for i, (size, p) in enumerate((("tiny", 1e5), ("small", 4e5), ("medium", 1.6e6)))]
    sweep.write_text(json.dumps({"runs": runs}))
    yardstick = tmp_path / "yardstick.json"
    s = {"n": 500, "loss": 6.0, "loss_ci": [5.8, 6.2], "top1": 0.1, "top1_ci": [0.08, 0.13]}
    yardstick.write_text(json.dumps({"passages": 500, "left_tokens": 48, "right_tokens": 16, "rows": [{"variant": "decoder-clm", "architecture": "decoder", "continue": s, "fill": s}]}))
    monkeypatch.setattr(catalog, "MODELS_DIR", models)
    monkeypatch.setattr(result_files, "SCALING_FILE", sweep)
    monkeypatch.setattr(result_files, "YARDSTICK_FILE", yardstick)
    at = open_page("scaling")
    titles = [json.loads(c.proto.spec)["title"]["text"] for c in at.get("vega_lite_chart")]
    assert len(titles) == 6 and sum(t.startswith("Yardstick") for t in titles) == 1 and not at.get("plotly_chart")  # the yardstick's bars
    assert not texts_of(at, "info")
    sizes = [re.search(r"(\d+) sizes \(([\d,]+) to ([\d,]+) parameters\)", t) for t in texts_of(at, "caption")]
    assert [tuple(int(g.replace(",", "")) for g in m.groups()) for m in sizes if m] == [(len(runs), 100_000, 1_600_000)]
    # a sweep half re-run (one architecture's first size done, the rest still training) said "at 1 sizes"
    sweep.write_text(json.dumps({"runs": runs + [{**runs[0], "architecture": "encoder_decoder", "parameters": 2e5}]}))
    at = open_page("scaling")
    assert any("Each architecture at 1 to 3 sizes (100,000 to 1,600,000 parameters)" in t for t in texts_of(at, "caption"))
    assert html.count(1, "size") == "1 size" and html.count(1024, "token") == "1,024 tokens" and html.count(2, "child", "children") == "2 children"


def test_scaling_captions_say_what_the_data_shows_even_when_a_loss_rises(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / "encoder-mlm").mkdir(parents=True)
    curve = [{"step": s, "tokens": 1000 * s, "flops": 1e9 * s, "val_loss": 5.0 + s} for s in (1, 2, 4)]  # rising
    card = {"architecture": "encoder", "objective": "mlm", "curve": curve, "training_flops": 4e9,
            "category_curves": {"punctuation": [[1000, 5.0], [4000, 6.0]], "content word": [[1000, 8.0], [4000, 7.0]]}}
    (models / "encoder-mlm" / "card.json").write_text(json.dumps(card))
    sweep = tmp_path / "scaling.json"
    runs = [{"architecture": arch, "size": size, "parameters": p, "training_flops": p * 1e6, "corpus_tokens": 1000,
             "final_val_loss": loss, "final_categories": {"punctuation": loss}}
            for arch, losses in (("encoder", (5.0, 5.5)), ("decoder", (5.0, 4.0)))
            for (size, p), loss in zip((("tiny", 1e5), ("small", 4e5)), losses)]
    sweep.write_text(json.dumps({"runs": runs}))
    monkeypatch.setattr(catalog, "MODELS_DIR", models)
    monkeypatch.setattr(result_files, "SCALING_FILE", sweep)
    at = open_page("scaling")
    captions = " ".join(texts_of(at, "caption"))
    titles = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert not any("lower loss" in t for t in titles)
    assert "falls for decoder-only" in captions and "rises for encoder-only" in captions
    assert "rises for encoder-mlm" in captions
    assert "falls for content word" in captions and "rises for punctuation" in captions
    assert "fall fast and flatten" not in captions  # no claim the data does not back


def test_scaling_page_says_when_files_are_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "MODELS_DIR", tmp_path / "none")
    monkeypatch.setattr(result_files, "SCALING_FILE", tmp_path / "none.json")
    at = open_page("scaling")
    infos = " ".join(texts_of(at, "info"))
    assert "No trained models" in infos and "No sweep results" in infos


@pytest.mark.slow
def test_live_training_runs_and_cancels():
    job = training.start("decoder", "clm", tokens=25_000)
    deadline = time.time() + 120
    while job.running and not job.records and time.time() < deadline:
        time.sleep(0.2)
    job.cancel.set()
    job.thread.join(timeout=120)
    assert not job.running and job.error is None
    assert job.summary["stopped_early"] or job.summary["steps_done"] == job.summary["steps"]
    assert job.records and job.records[0]["loss"] > 0


def test_a_bug_in_the_engine_is_logged_and_said_in_one_sentence_not_hidden(monkeypatch, caplog):
    """The model lists catch what a folder or a name may raise (OSError, ValueError), nothing else: a bug
    reaches the page, which says so in one sentence (ui.layout.run_page) and logs the traceback."""
    def broken():
        raise RuntimeError("a bug in find_checkpoints")

    monkeypatch.setattr(catalog.hf, "find_checkpoints", broken)
    catalog.published.clear()
    try:
        with pytest.raises(RuntimeError):
            catalog.published()
        at = AppTest.from_file(str(APP), default_timeout=240)
        at.session_state["text"] = "A bug must not hide."
        at.switch_page("views/losses.py")
        at.run()
    finally:
        catalog.published.clear()
    assert not at.exception
    said = [e.value for e in at.error]
    assert len(said) == 1 and said[0].startswith(layout.PAGE_FAILED) and "RuntimeError" in said[0] and "find" in said[0], said
    assert any(r.name == "ui.layout" and r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


@pytest.mark.parametrize("architecture,exact,shown,expected", [("decoder", False, 300, 300), ("encoder", False, 300, 300), ("encoder", True, 300, scoring.SLOW_LIMIT), ("encoder", True, 10, 10)])
def test_the_losses_page_scores_only_the_tokens_it_shows(monkeypatch, architecture, exact, shown, expected):
    text = "It is a truth universally acknowledged. " * 200  # 1,601 tokens: more than the page shows
    tokens = tokenize(text, "masklab")[:shown]
    model = cache.engine.load_variant(f"random-{architecture}")
    seen = []
    monkeypatch.setattr(cache, "score", lambda name, part, stride=None: seen.append((part, stride)) or cache.engine.score(model, part, stride=stride))
    df, scored = scoring.score_aligned(model.name, architecture, text, tokens, exact=exact)
    assert len(df) == shown and scored == expected and df["scored"].sum() == expected
    part, stride = seen[0]
    assert n_tokens(part) == expected and text.startswith(part)
    assert stride == (None if architecture == "decoder" or exact else scoring.STRIDE)


@pytest.mark.shared
@pytest.mark.skipif(not catalog.published(), reason="needs a published checkpoint in ../shared/models (CI has one)")
def test_the_losses_page_shows_a_real_published_model_beside_the_shipped_ones():
    at = open_page("losses", "The capital of Azerbaijan is Baku.")
    table = at.dataframe[0].value
    real = catalog.model_label(catalog.published()[0].name).split(" · ")[0]
    assert real in set(table["model"]) and len(table) >= 2
    assert any(o.endswith(catalog.published()[0].format) and "published checkpoint" in o for o in at.multiselect[0].options)
    # generation reruns with every edit: MaskLab's own decoder writes by default, the real model is one pick away
    writer = at.selectbox(key="losses.gen")
    assert writer.value == "decoder-clm" and catalog.model_label(catalog.published()[0].name) in writer.options
    probes = at.dataframe[1].value
    assert set(probes["skill"]) >= {"world knowledge", "arithmetic", "translation"} and set(probes["verdict"]) <= {"right", "wrong", "tie"}
    mine = probes[probes["model"] == real]
    assert len(mine) == 7 and (mine["margin"] > 0).sum() >= 5  # the real model gets most of the multitask probes right


@pytest.mark.shared
def test_home_names_a_loaded_published_checkpoint_not_its_folder():
    from ui import cache

    found = catalog.published()
    if not found:
        pytest.skip("no published checkpoint on this machine (../shared/models)")
    f = found[0]
    cache.LOADED[f.name] = "cpu"  # as if a page had loaded it
    try:
        at = open_page("home")
        loaded = next(m.value for m in at.markdown if m.value.startswith("**Loaded now:**"))
        assert f.label in loaded and f.name not in loaded, loaded
    finally:
        cache.LOADED.pop(f.name, None)


def test_the_chat_page_says_when_a_busy_machine_made_its_timings_unreliable(monkeypatch):
    """Timed on a machine busy with other work, the measured bars once showed the KV cache slower than
    re-reading (a 109 ms causal turn, the best of three): the page now says when runs of one turn disagree,
    and stays quiet when they agree."""
    import itertools

    import engine
    from ui import cache

    def steady(model, turns, bidirectional):
        return [0.004 * (i + 1) if bidirectional else 0.002 for i in range(len(turns))]

    calls = itertools.count()

    def busy(model, turns, bidirectional):  # every third run is disturbed, 20 times slower
        slow = next(calls) % 3 == 0
        return [t * (20 if slow else 1) for t in steady(model, turns, bidirectional)]

    for timing, warned in ((steady, False), (busy, True)):
        cache._time_chat.clear()
        monkeypatch.setattr(engine, "time_chat", timing)
        at = open_page("chat")
        said = [w.value for w in at.warning if "busy" in w.value]
        assert bool(said) == warned, said
        if warned:
            assert "differed by 20.0×" in said[0]  # the slowest run of a turn over its fastest
    cache._time_chat.clear()


@pytest.mark.shared
@pytest.mark.skipif(not catalog.published(), reason="needs a published checkpoint in ../shared/models (CI has one)")
def test_presenting_the_published_tokenizers_are_pills_in_the_page_not_a_cut_chip_in_the_sidebar():
    """In the sidebar's narrow box a select box's chip, then a pill, cut "SmolLM2-135M-Instruct" to "Smo…"."""
    at = open_page("tokenization", params={"pres": "1"})
    label = "Published checkpoints' own tokenizers"
    assert not [w for w in at.sidebar.multiselect if w.label == label]
    pills = [w for w in at.main.get("button_group") if "tokens.ptok" in w.proto.id]
    assert len(pills) == 1
    names = [catalog.short_label(p.name) for p in catalog.published()]
    assert all(n in str(pills[0].proto) for n in names)
