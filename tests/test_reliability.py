"""Bad input everywhere a user can type: one table of cases (CASES), run through the engine, its
command line and every page of the app (AppTest). tests/e2e/test_bad_input_browser.py runs a subset
in Chromium. Each case must get a correct result or a clear message: never a traceback, a hang, or
markup that comes alive.
"""

import json
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass

import pytest
from streamlit.testing.v1 import AppTest

import engine
from engine.__main__ import main as cli
from engine.objectives import OBJECTIVES, corrupt
from engine.tokenizer import ENCODINGS, encode, get_encoding, tokenize
from engine.vocab import MASKLAB
from ui import catalog, state

from conftest import PAGES, REPO, html_bodies, needs_tiktoken, open_page, page_params, texts_of

TEXT_PAGES = ("home", "tokenization", "masks", "compose", "objectives", "losses")  # the pages with the text box
NEED_TEXT = ("masks", "compose", "objectives", "losses")  # say "Type some text" when there is none
MODEL_CHARS = 4_000  # what the model calls of the engine test read of a longer text (the app caps tokens too)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    blank: bool = False  # no visible text: pages that need text say so
    markup: bool = False  # must reach the page as the characters typed, never as live markup
    slow: bool = False

    @property
    def too_long(self) -> bool:
        return len(self.text) > state.MAX_CHARS

    @property
    def as_sent(self) -> str:
        """The text as a browser sends it: a URL or a widget carries UTF-8, so a lone surrogate arrives as U+FFFD."""
        return state.clean_text(self.text)


MEGABYTE = ("It was the best of times, it was the worst of times; 🦜 café <b>naïve</b> " * 14_000)[:1_000_000]
CASES = [
    Case("empty", "", blank=True),
    Case("whitespace", "  \n\t \u3000\u00a0 \r\n ", blank=True),
    Case("one-char", "a"),
    Case("control-chars", "\x00\x01\x07 bell \x1b[31mred\x1b[0m \x7f\r\n\x0b\x0c\x85 end"),
    Case("lone-surrogates", "abc\ud800def\udfff ghi"),
    Case("invalid-utf8", b"caf\xc3 \xff\xfe ok \xed\xa0\x80".decode("utf-8", errors="surrogateescape")),
    Case("zero-width", "zero\u200bwidth\u200c non\u200djoiner\ufeff word\u2060joiner"),
    Case("right-to-left", "שלום עולם \u202eevil.exe\u202c مرحبا بالعالم \u2067isolate\u2069"),
    Case("combining", "Z\u0351\u0346\u0300a\u0310l\u0300g\u0301o cafe\u0301 " + "e" + "\u0300" * 60),
    Case("emoji-zwj", "👩\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 👍🏽 🦜 🇬🇧"),
    Case("one-megabyte", MEGABYTE, slow=True),
    Case("script", "<script>alert(1)</script>", markup=True),
    Case("img-onerror", "<img src=x onerror=alert(1)>", markup=True),
    Case("markdown-js-link", "[x](javascript:alert(1)) and ![y](x) :red[red] :material/home: $x^2$", markup=True),
    Case("html-entities", "&lt;b&gt;bold&lt;/b&gt; &amp; &#60;script&#62; &quot;", markup=True),
    Case("endoftext", "<|endoftext|>"),
    Case("mask-token", "<|mask|> fills <|mask|>"),
    Case("sentinel", "<|sentinel_0|> and <|sentinel_99|>"),
]
LIVE_HTML = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")  # live in st.html
LIVE_MARKDOWN = LIVE_HTML + ("](javascript:", ":red[")  # live in st.markdown, st.warning, ...


def cases(*, slow_ok: bool = True):
    """CASES as pytest params, the slow ones marked."""
    return [pytest.param(c, id=c.id, marks=pytest.mark.slow if c.slow else ()) for c in CASES if slow_ok or not c.slow]


# The engine


def check_tokens(text: str, tokens: list, encoding: str) -> None:
    """The tokens spell exactly the text (lone surrogates read as U+FFFD), in order, with spans inside it."""
    clean = state.clean_text(text)
    assert b"".join(t.bytes for t in tokens) == clean.encode("utf-8")
    assert [t.index for t in tokens] == list(range(len(tokens)))
    assert all(0 <= t.start < t.end <= len(text) for t in tokens)
    assert all(a.start <= b.start for a, b in zip(tokens, tokens[1:]))
    enc = get_encoding(encoding)
    special = {enc.encode_single_token(s) for s in enc.special_tokens_set}
    assert not special & {t.id for t in tokens}, "typed special-token text became a special token"


@pytest.mark.parametrize("case", cases())
@needs_tiktoken
def test_engine_tokenizes_every_case_in_every_encoding(case):
    for encoding in ENCODINGS:
        tokens = tokenize(case.text, encoding)
        check_tokens(case.text, tokens, encoding)
        if case.blank:
            assert bool(tokens) == bool(case.text)  # whitespace is tokens too; only "" has none


@pytest.mark.parametrize("case", cases())
def test_engine_corrupts_every_case_with_every_objective(case):
    ids = encode(case.text)
    for objective in OBJECTIVES:
        try:
            c = corrupt(ids, objective, seed=0)
        except ValueError as e:  # only span objectives on long texts: more spans than sentinels
            assert objective in ("span_corruption", "ul2") and len(ids) > 300 and "sentinel" in str(e)
            continue
        assert c.original == ids and len(c.loss_mask) == len(ids)
        assert c.n_loss_tokens <= max(len(c.targets), len(ids))
        assert 0.0 <= c.exposure <= 1.0
        if objective in ("clm", "mlm", "prefix_lm"):
            assert len(c.inputs) == len(ids)


@pytest.fixture(scope="module")
def random_variants():
    return {arch: engine.load_variant(f"random-{arch}", device="cpu") for arch in engine.ARCHITECTURES}


@pytest.mark.parametrize("case", cases())
def test_engine_scores_attends_and_generates_on_every_case(case, random_variants):
    text = case.text[:MODEL_CHARS]
    n = len(tokenize(text, "masklab"))
    for arch, v in random_variants.items():
        df = engine.score(v, text, top_k=3)
        assert len(df) == n
        if n:  # an empty text: see test_an_empty_text_summarizes_to_nothing
            scored = df[df["scored"]]
            assert scored["loss"].map(lambda x: x == x and x >= 0).all()  # finite, non-negative where scored
            assert engine.summarize(df)["tokens"] == n
        a = engine.attention(v, text, max_tokens=64)
        for maps in a.maps.values():
            assert all(w.isfinite().all() for w in maps)
        if not n:
            assert a.maps == {}
        if arch == "encoder":
            with pytest.raises(ValueError, match="cannot generate"):
                engine.generate(v, text, max_new_tokens=3)
        else:
            g = engine.generate(v, text, max_new_tokens=3, temperature=0.0)
            assert len(g.tokens) <= 3 and isinstance(g.text, str)
            g.text.encode("utf-8")  # a continuation is always printable text


@pytest.mark.parametrize("case", cases(slow_ok=False))
def test_cli_answers_every_case(case, capsys):
    commands = [["tokenize", "--json", case.text], ["corrupt", "--json", "--objective", "mlm", case.text],
                ["generate", "--json", "--variant", "random-prefix_lm", "--max-new-tokens", "3", case.text]]
    if case.text:  # an empty text: see test_an_empty_text_summarizes_to_nothing
        commands.append(["score", "--json", "--variant", "random-decoder", case.text])
    for argv in commands:
        assert cli(argv) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        data = json.loads(out)
        if argv[0] == "tokenize":
            assert len(data["tokens"]) == len(tokenize(case.text))


def test_an_empty_text_summarizes_to_nothing(random_variants, capsys):
    df = engine.score(random_variants["decoder"], "")
    assert len(df) == 0 and list(df.columns) == list(engine.scoring.COLUMNS)
    s = engine.summarize(df)
    assert s["tokens"] == 0 and s["scored"] == 0 and s["mean_loss"] != s["mean_loss"]  # NaN
    assert len(engine.by_category(df)) == 0
    assert cli(["score", "--variant", "random-decoder", ""]) == 0, capsys.readouterr().err


def test_cli_reads_undecodable_argument_bytes(tmp_path):
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates (surrogateescape): the CLI answers."""
    raw = b"caf\xc3 \xff\xfe ok"
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "LC_ALL": "C.UTF-8", "TIKTOKEN_CACHE_DIR": str(tmp_path)}
    for args in ([b"tokenize"], [b"generate", b"--variant", b"random-decoder", b"--max-new-tokens", b"2"]):
        r = subprocess.run([sys.executable, "-m", "engine", *args, raw], cwd=REPO, env=env, capture_output=True, timeout=300)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
        assert b"Traceback" not in r.stderr


# The app


def outside_code(markdown: str) -> str:
    """Markdown without its code spans: what Streamlit would render as markup, links included."""
    return re.sub(r"(`+)(.*?)\1", " ", markdown)


def check_inert(at: AppTest) -> None:
    """No user markup is live: st.html gets it escaped, Markdown sees it only inside code spans."""
    bodies, texts = html_bodies(at), outside_code("\n".join(texts_of(at)))
    for live in LIVE_HTML:
        assert live not in bodies, f"{live!r} reached st.html unescaped"
    for live in LIVE_MARKDOWN:
        assert live not in texts, f"{live!r} reached Markdown unescaped"


def check_case_on_page(page: str, at: AppTest, case: Case) -> None:
    check_inert(at)
    text = case.as_sent
    if page in TEXT_PAGES and case.too_long:
        assert any(f"at most {state.MAX_CHARS:,}" in t for t in texts_of(at, "error")), texts_of(at)
        return
    if page in NEED_TEXT and case.blank:
        assert any("Type some text" in t for t in texts_of(at, "info"))
        return
    n = len(tokenize(text, "masklab"))
    if page == "home":
        assert at.text_area(key="home.text").value == text
    elif page == "tokenization":
        assert at.metric[0].value == f"{n:,} tokens"
        assert at.text_area(key="tokens.text").value == text
    elif page == "masks":
        assert len(at.get("plotly_chart")) >= 4
    elif page == "objectives":
        assert at.metric[0].value == f"{min(n, 512):,}"
    elif page == "losses":
        table = at.dataframe[0].value
        own = table["model"].isin({v.name for v in catalog.variants()})
        assert own.any() and (table[own]["tokens"] == min(n, state.MAX_TOKENS)).all()  # a published model counts its own tokens
    elif page == "switches":
        assert len(at.metric) >= 7
    elif page == "chat":
        assert at.metric[0].value == "6"
    elif page == "scaling":
        assert any("Train one yourself" in t for t in texts_of(at, "subheader"))


@pytest.mark.parametrize("case", cases())
@pytest.mark.parametrize("page", PAGES)
def test_every_page_takes_every_case(page, case):
    at = open_page(page, case.text)
    check_case_on_page(page, at, case)
    if not case.too_long and page in TEXT_PAGES:
        assert at.session_state["text"] == case.as_sent


@pytest.mark.parametrize("case", cases())
def test_every_case_arrives_through_the_link(case):
    at = open_page("tokenization", params={"text": case.as_sent})
    check_inert(at)
    if case.too_long:  # a megabyte of link: Streamlit itself drops a query string over 512k characters
        assert at.session_state["text"] == state.DEFAULT_TEXT
    else:
        check_case_on_page("tokenization", at, case)


def test_a_link_with_too_long_a_text_says_so():
    at = open_page("tokenization", params={"text": "word " * (state.MAX_CHARS // 5 + 1), "seed": "3"})
    assert any(" text “" in w and f"longer than {state.MAX_CHARS:,} characters" in w for w in texts_of(at, "warning"))
    assert at.session_state["text"] == state.DEFAULT_TEXT and at.session_state["seed"] == 3


# Garbage in the link's query string: every declared field, every page


GARBAGE = ("", " ", "nan", "inf", "-inf", "1e309", "-7", "99999999999999999999999999", "0x1f", "1_000", "١٢", "\x00",
           "<script>alert(1)</script>", "[x](javascript:alert(1))", "[click](https://evil.example)", ":red[hi] $x$ **b**",
           "a" * 5000, "%", "None", ",,,", "1.5", "-0")
NUMERIC_LIMITS = {  # the range each numeric field's parser takes; the pages must draw both ends
    "split": (-1, 100_000), "layer": (1, 64), "head": (-1, 63), "win": (0, 100_000), "rate": (0.0, 1.0),
    "span": (1.0, 32.0), "seed": (0, 1_000_000), "temp": (0.0, 2.0), "topk": (0, 500), "new": (1, 200),
    "blank": (-1, state.MAX_TOKENS - 1),
}


def garbage_link(rotation: int) -> dict:
    """Every field but the text gets a value from GARBAGE, each field a different one, rotated."""
    names = [n for n in state.FIELDS if n != "text"]
    return {name: GARBAGE[(i + rotation) % len(GARBAGE)] for i, name in enumerate(names)}


def parses(name: str, raw: str) -> bool:
    try:
        state.FIELDS[name].parse(raw)
        return True
    except (ValueError, TypeError):
        return False


@pytest.mark.parametrize("rotation", range(0, len(GARBAGE), 5))
@pytest.mark.parametrize("page", PAGES)
def test_garbage_in_the_link_falls_back_with_a_plain_notice(page, rotation):
    params = garbage_link(rotation)
    params["[sneaky](https://evil.example)"] = "1"
    at = open_page(page, "It was the best of times.", params=params)
    warnings = texts_of(at, "warning")
    for name, raw in params.items():
        if name in state.FIELDS and not parses(name, raw):
            assert any(f"link's {name} “" in w for w in warnings), (name, raw, warnings)
    assert any("Unknown link parameter" in w and "sneaky" in w for w in warnings)
    for w in warnings:  # quoted as plain, escaped text, never live: no link (Streamlit links bare URLs too) or directive
        assert "`" not in w, w
        live = outside_code(w)
        assert "](" not in live and ":red[" not in live and "evil.example" not in live and "<" not in live, w
    check_inert(at)


@pytest.mark.parametrize("end", [0, 1], ids=["low", "high"])
@pytest.mark.parametrize("page", page_params(PAGES))
def test_every_page_draws_the_ends_of_every_numeric_range(page, end):
    params = {name: str(limits[end]) for name, limits in NUMERIC_LIMITS.items()}
    assert all(parses(n, v) for n, v in params.items())
    at = open_page(page, "It was the best of times, it was the worst of times.", params=params)
    assert not texts_of(at, "warning"), texts_of(at, "warning")


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("end", [0, 1], ids=["low", "high"])
def test_objectives_page_takes_the_ends_of_its_ranges(objective, end):
    params = {name: str(NUMERIC_LIMITS[name][end]) for name in ("rate", "span", "split", "seed")}
    text = "It is a truth universally acknowledged, that a single man in possession of a good fortune. " * 3
    at = open_page("objectives", text, params={**params, "obj": objective})
    errors = texts_of(at, "error")
    if errors:  # settings that cannot work on this text are explained, not raised
        assert all("do not work on this text" in e for e in errors)
    else:
        assert 0 <= float(at.metric[2].value.rstrip("%")) <= 100


def test_link_values_that_parse_are_the_widgets_values():
    """A value the parser takes must also be one the page's widget takes: no clamping surprises."""
    at = open_page("objectives", "One two three four five six seven.", params={"obj": "span_corruption", "span": "32", "rate": "1"})
    assert at.slider(key="objectives.span").value == 32.0
    assert at.slider(key="objectives.rate").value == 1.0


@needs_tiktoken
def test_invisible_and_direction_characters_are_kept_not_stripped():
    """Zero-width and bidi controls are part of the text: the engine shows them as tokens of their own."""
    case = next(c for c in CASES if c.id == "right-to-left")
    for encoding in ENCODINGS:
        spelled = b"".join(t.bytes for t in tokenize(case.text, encoding)).decode("utf-8")
        assert spelled == case.text and any(unicodedata.bidirectional(ch) == "R" for ch in spelled)
    zero_width = next(c for c in CASES if c.id == "zero-width")
    shown_text = "".join(t.text for t in tokenize(zero_width.text))
    assert "<0xE2><0x80><0x8B>" in shown_text  # U+200B is shown as its bytes, never silently invisible


def test_the_app_receives_each_awkward_case_as_it_promises():
    """What the cases exercise, asserted of the app's own functions rather than of the case table."""
    by_id = {c.id: c for c in CASES}
    assert state.clean_text(by_id["lone-surrogates"].text) == "abc\ufffddef\ufffd ghi"  # each surrogate: one U+FFFD
    assert state.clean_text(by_id["emoji-zwj"].text) == by_id["emoji-zwj"].text  # a valid text arrives unchanged
    with pytest.raises(ValueError, match="longer than 20,000 characters"):
        state.FIELDS["text"].parse(MEGABYTE)  # a megabyte in a link is refused, with the limit named
    assert state.FIELDS["text"].parse(MEGABYTE[: state.MAX_CHARS]) == MEGABYTE[: state.MAX_CHARS]
    for case_id in ("endoftext", "mask-token", "sentinel"):  # typed special-token strings stay ordinary text
        ids = encode(by_id[case_id].text)
        assert ids and max(ids) < MASKLAB.n_regular, case_id
    for case in CASES:
        if case.blank:
            assert not case.as_sent.strip() and bool(tokenize(case.as_sent)) == bool(case.as_sent)


def test_every_cache_is_bounded():
    """Many users each bring their own text: every st.cache_data / st.cache_resource has max_entries,
    and no page or other module keeps a cache of its own: the caches over engine calls are in
    ui/cache.py, the scans of model folders in ui/catalog.py, the result files' in ui/result_files.py."""
    import ast

    caching = {"cache.py", "catalog.py", "result_files.py"}
    caches = []
    for name in sorted(caching):
        for fn in ast.walk(ast.parse((REPO / "ui" / name).read_text())):
            for dec in getattr(fn, "decorator_list", []):
                if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") in ("cache_data", "cache_resource"):
                    caches.append(fn.name)
                    limits = {k.arg: k.value for k in dec.keywords}
                    assert "max_entries" in limits and isinstance(limits["max_entries"], ast.Constant), fn.name
                    assert 0 < limits["max_entries"].value <= 256, fn.name
    assert len(caches) >= 15
    for path in [*REPO.glob("views/*.py"), *REPO.glob("ui/*.py"), REPO / "app.py"]:
        if path.name not in caching:
            assert "st.cache_" not in path.read_text() and "lru_cache" not in path.read_text(), path
