import random
import threading

import pytest
import regex
import tiktoken
import tiktoken.load
import tiktoken.registry

from engine import tokenizer as tk
from engine.tokenizer import (
    ENCODINGS,
    EncodingUnavailable,
    decode,
    encode,
    get_encoding,
    tokenize,
    token_strings,
)
from engine.vocab import N_REGULAR, SPECIAL_NAMES, SPECIAL_TOKEN_IDS, VOCAB_SIZE

from conftest import TIKTOKEN, needs_tiktoken

# Every encoding; the OpenAI ones read tiktoken's cached files.
EVERY_ENCODING = [pytest.param(name, marks=() if name == "masklab" else TIKTOKEN) for name in ENCODINGS]

AWKWARD = [
    "",
    "a",
    "hello world",
    "  leading and trailing spaces   ",
    "tabs\tand\nnew\r\nlines\n\n\n",
    "it's we'll THEY'RE don't",
    "naïve café résumé Ångström",
    "e\u0301 a\u0308 combining marks: n\u0303o\u0303",
    "東京タワー 한국어 中文字符",
    "مرحبا بالعالم עברית",  # right to left
    "\u202eRTL override\u202c",
    "🦜 parrot, 👍🏽 thumbs, 🇬🇧 flag",
    "👨‍👩‍👧‍👦 family via zero-width joiners",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeff",
    "\x00\x01\x1b[31mcontrol\x7f\x85",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟘𝟙𝟚 and \U0010fffd",
    "<|endoftext|><|mask|><|sentinel_0|>",
    "1234567890 3.14159 1e-9",
    "\ufffd replacement",
]


def random_strings(seed: int, n: int) -> list[str]:
    """Strings of code points drawn from all planes (surrogates excluded: UTF-8 cannot hold them)."""
    rng = random.Random(seed)
    tops = [0x80, 0x800, 0x10000, 0x110000]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randrange(1, 30)):
            cp = rng.randrange(rng.choice(tops))
            chars.append(chr(0xFFFD if 0xD800 <= cp < 0xE000 else cp))
        out.append("".join(chars))
    return out


@pytest.fixture
def fresh_caches(monkeypatch):
    """No encoding cached anywhere, before or after the test."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    get_encoding.cache_clear()
    yield
    get_encoding.cache_clear()


def check_spans(text: str, tokens: list[tk.Token]) -> None:
    assert b"".join(t.bytes for t in tokens) == text.encode("utf-8")
    assert [t.index for t in tokens] == list(range(len(tokens)))
    if not tokens:
        return
    assert tokens[0].start == 0 and tokens[-1].end == len(text)
    assert all(0 <= t.start < t.end <= len(text) for t in tokens)
    assert all(a.start <= b.start and a.end <= b.end for a, b in zip(tokens, tokens[1:]))
    groups = {}
    for t in tokens:
        groups.setdefault(t.group, []).append(t)
    assert list(groups) == list(range(len(groups)))
    for members in groups.values():
        start, end = members[0].start, members[-1].end
        # a group is a run of whole characters, however its tokens cut them
        assert text[start:end].encode("utf-8") == b"".join(t.bytes for t in members)
    for t in tokens:
        assert t.partial == (not _decodes(t.bytes))
        if not t.partial:
            assert t.text == t.bytes.decode("utf-8")


def _decodes(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("text", AWKWARD)
def test_masklab_round_trips_awkward_text(text):
    assert decode(encode(text)) == text
    check_spans(text, tokenize(text))


def test_masklab_round_trips_random_code_points():
    for text in random_strings(seed=1234, n=300):
        assert decode(encode(text)) == text
        check_spans(text, tokenize(text))


@pytest.mark.parametrize("name", EVERY_ENCODING)
def test_spans_cover_text_in_every_encoding(name):
    for text in AWKWARD + random_strings(seed=7, n=40):
        check_spans(text, tokenize(text, name))
        assert decode(encode(text, name), name) == text


@needs_tiktoken
def test_emoji_in_r50k_is_partial_tokens_sharing_a_group_and_span():
    tokens = tokenize("🦜", "r50k_base")
    assert len(tokens) > 1
    assert all(t.partial for t in tokens)
    assert {(t.start, t.end, t.group) for t in tokens} == {(0, 1, 0)}
    assert "".join(t.text for t in tokens) == "<0xF0><0x9F><0xA6><0x9C>"

    tokens = tokenize("a 🦜 b", "r50k_base")
    parrot = [t for t in tokens if t.partial]
    assert len({t.group for t in parrot}) == 1
    assert len({t.group for t in tokens}) == len(tokens) - len(parrot) + 1


def test_grapheme_cluster_split_across_tokens_is_one_group():
    # U+0301 COMBINING ACUTE: "e" and the accent are one grapheme, whatever the tokens are
    text = "cafe\u0301 ok"
    tokens = tokenize(text, "masklab")
    accent = next(t for t in tokens if b"\xcc" in t.bytes)
    e_token = next(t for t in tokens if t.bytes.endswith(b"e") and t.end == 4)
    assert accent.group == e_token.group


def test_ordinary_tokens_are_groups_of_their_own():
    tokens = tokenize("The quick brown fox, 42 times.")
    assert [t.group for t in tokens] == [t.index for t in tokens]
    assert not any(t.partial for t in tokens)


def test_empty_text_has_no_tokens():
    assert tokenize("") == []
    assert encode("") == []
    assert decode([]) == ""


@needs_tiktoken
def test_lone_surrogates_read_as_replacement_character():
    text = "a\ud800b\udc00\ud83e\udd9c"  # lone halves, and a pair that a Python str keeps as two chars
    tokens = tokenize(text, "r50k_base")
    assert b"".join(t.bytes for t in tokens) == "a\ufffdb\ufffd\ufffd\ufffd".encode()
    assert tokens[-1].end == len(text)
    assert encode(text) == encode("a\ufffdb\ufffd\ufffd\ufffd")


@pytest.mark.parametrize("name", EVERY_ENCODING)
def test_special_token_strings_typed_as_text_are_ordinary(name):
    enc = get_encoding(name)
    specials = set(enc._special_tokens.values())
    for text in ["<|endoftext|>", "".join(SPECIAL_NAMES[:10]), "x <|mask|> y"]:
        ids = encode(text, name)
        assert not specials & set(ids)
        assert decode(ids, name) == text


def test_masklab_layout_matches_vocab():
    enc = get_encoding("masklab")
    assert enc.n_vocab == VOCAB_SIZE
    assert enc._special_tokens == SPECIAL_TOKEN_IDS
    assert max(encode("".join(AWKWARD))) < N_REGULAR
    assert enc._pat_str == tk.R50K_PAT_STR
    assert token_strings([SPECIAL_TOKEN_IDS["<|mask|>"], encode("the")[0]]) == ["<|mask|>", "the"]


@needs_tiktoken
def test_masklab_splits_words_as_gpt2_does():
    assert get_encoding("r50k_base")._pat_str == tk.R50K_PAT_STR


def test_masklab_asset_is_small_and_in_tiktokens_format(monkeypatch):
    assert tk.MASKLAB_BPE_PATH.stat().st_size < 1_000_000
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # "" switches tiktoken's caching off: no copy left behind
    ranks = tiktoken.load.load_tiktoken_bpe(str(tk.MASKLAB_BPE_PATH))
    assert ranks == tk.load_ranks(tk.MASKLAB_BPE_PATH)
    assert sorted(ranks.values()) == list(range(N_REGULAR))
    assert all(ranks[bytes([b])] == b for b in range(256))


@pytest.mark.parametrize(
    "name, ids",
    [
        ("r50k_base", [31373, 995]),
        ("p50k_base", [31373, 995]),
        ("cl100k_base", [15339, 1917]),
        ("o200k_base", [24912, 2375]),
    ],
)
@needs_tiktoken
def test_openai_encodings_load_from_cache(name, ids):
    assert encode("hello world", name) == ids
    assert isinstance(get_encoding(name), tiktoken.Encoding)


@needs_tiktoken
def test_all_encodings_available_with_cache():
    assert tk.available_encodings() == {name: None for name in ENCODINGS}


@needs_tiktoken
def test_display_text_of_stray_bytes():
    assert tk._display_text(b" \xf0\x9f") == " <0xF0><0x9F>"
    assert token_strings(encode("🦜", "r50k_base"), "r50k_base") == ["<0xF0><0x9F>", "<0xA6>", "<0x9C>"]


def test_unknown_encoding_lists_the_valid_names():
    with pytest.raises(ValueError, match="o200k_base"):
        get_encoding("gpt2")


def test_offline_without_cache_raises_encoding_unavailable(monkeypatch, tmp_path, fresh_caches):
    def offline(blobpath):
        raise ConnectionError(f"simulated: no network for {blobpath}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", offline)
    with pytest.raises(EncodingUnavailable, match="TIKTOKEN_CACHE_DIR") as info:
        get_encoding("cl100k_base")
    assert "cl100k_base" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionError)

    status = tk.available_encodings()
    assert status["masklab"] is None
    assert all("TIKTOKEN_CACHE_DIR" in status[name] for name in ENCODINGS if name != "masklab")


def test_hung_download_gives_up_quickly(monkeypatch, tmp_path, fresh_caches):
    release = threading.Event()

    def hang(blobpath):
        release.wait(10)
        raise ConnectionError("released")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", hang)
    monkeypatch.setattr(tk, "LOAD_TIMEOUT_S", 0.2)
    try:
        with pytest.raises(EncodingUnavailable, match="TimeoutError"):
            get_encoding("r50k_base")
    finally:
        release.set()  # lets the stuck loader give up tiktoken's registry lock


def test_missing_masklab_file_says_how_to_rebuild_it(monkeypatch, tmp_path, fresh_caches):
    monkeypatch.setattr(tk, "MASKLAB_BPE_PATH", tmp_path / "missing.tiktoken")
    with pytest.raises(EncodingUnavailable, match="engine.bpe"):
        get_encoding("masklab")


def test_grapheme_helper_agrees_with_regex():
    text = "👨‍👩‍👧 e\u0301\r\n"
    clusters = regex.findall(r"\X", text)
    assert clusters == ["👨‍👩‍👧", " ", "e\u0301", "\r\n"]
    assert tk._grapheme_start_bytes(text) == {0, 18, 19, 22}
