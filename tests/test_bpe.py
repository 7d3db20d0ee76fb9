import os

import pytest
import tiktoken
import tiktoken.load
from tokenizers import pre_tokenizers

from engine import bpe
from engine.tokenizer import R50K_PAT_STR

SEPARATOR = bpe.DOC_SEPARATOR + "\n"
PARAGRAPHS = [
    "The cat sat on the mat, and the dog sat on the log.",
    "She said, \"It's the third time we've met the other brother there.\"",
    "Naïve readers and café owners wrote résumés in the square.",
    "Numbers like 1234 and 5678 appear, then 90 more.",
    "Then the weather turned, and the rain fell on the hills and on the houses.",
]


def small_corpus(n_docs: int = 40) -> str:
    docs = ["\n".join(PARAGRAPHS[(i + j) % len(PARAGRAPHS)] for j in range(3)) + "\n" for i in range(n_docs)]
    return SEPARATOR.join(docs)


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A 300-token BPE trained through the CLI on a few KB, loaded back by tiktoken itself."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(small_corpus(), encoding="utf-8")
    out = tmp_path / "bpe" / "small.tiktoken"
    bpe.main(["--corpus", str(corpus), "--out", str(out), "--vocab-size", "300", "--quiet"])
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # keep tiktoken from caching a copy of the file
    ranks = tiktoken.load.load_tiktoken_bpe(str(out))
    return out, ranks


def test_ranks_file_has_the_requested_size_and_bytes_first(trained):
    _, ranks = trained
    assert len(ranks) == 300
    assert sorted(ranks.values()) == list(range(300))
    assert all(ranks[bytes([b])] == b for b in range(256))
    assert all(len(token) > 1 for token, rank in ranks.items() if rank >= 256)


def test_separator_lines_are_not_trained_on(trained):
    _, ranks = trained
    assert not [token for token in ranks if b"<|" in token or b"|>" in token or b"endof" in token]


def test_trained_encoding_round_trips(trained):
    _, ranks = trained
    enc = tiktoken.Encoding(name="small", pat_str=R50K_PAT_STR, mergeable_ranks=ranks, special_tokens={})
    for text in [*PARAGRAPHS, "", "🦜 東京 e\u0301 \x00 <|endoftext|>", "unseen wordsxyz"]:
        ids = enc.encode_ordinary(text)
        assert enc.decode(ids) == text
    assert len(enc.encode_ordinary(PARAGRAPHS[0])) < len(PARAGRAPHS[0].encode()) / 2  # it learned merges


def test_write_is_atomic_and_leaves_no_temp_files(trained):
    out, _ = trained
    assert os.listdir(out.parent) == [out.name]
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_hf_and_tiktoken_agree():
    texts = small_corpus().split(SEPARATOR)
    hf = bpe.train_hf_bpe(texts, 300)
    ranks = bpe.ranks_from_merges(bpe.hf_merges(hf), 300)
    agreement = bpe.compare(hf, bpe.encoding_from_ranks(ranks), texts + ["café 🦜 unseen"])
    assert agreement.rate == 1.0
    assert agreement.hf_tokens == agreement.tiktoken_tokens


def test_training_is_deterministic():
    texts = small_corpus().split(SEPARATOR)
    first = bpe.ranks_from_merges(bpe.hf_merges(bpe.train_hf_bpe(texts, 280)), 280)
    second = bpe.ranks_from_merges(bpe.hf_merges(bpe.train_hf_bpe(texts, 280)), 280)
    assert first == second


def test_too_small_corpus_is_an_error():
    with pytest.raises(ValueError, match="too small"):
        bpe.ranks_from_merges(bpe.hf_merges(bpe.train_hf_bpe(["tiny text"], 5000)), 5000)


def test_read_documents_drops_separators_and_stops_at_max_bytes(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("one\ntwo\n" + SEPARATOR + "thrée\n" + SEPARATOR + "four\n", encoding="utf-8")
    assert list(bpe.read_documents([corpus], 10**6)) == ["one\ntwo\n", "thrée\n", "four\n"]
    assert list(bpe.read_documents([corpus], 8)) == ["one\ntwo\n"]
    assert list(bpe.read_documents([corpus], 12)) == ["one\ntwo\n", "thr"]  # half an "é" is dropped


def test_corpus_folder_is_read_in_name_order(tmp_path):
    (tmp_path / "b.txt").write_text("second\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored\n", encoding="utf-8")
    files = bpe.corpus_files(tmp_path)
    assert [f.name for f in files] == ["a.txt", "b.txt"]
    assert list(bpe.read_documents(files, 100)) == ["first\n", "second\n"]
    with pytest.raises(FileNotFoundError):
        bpe.corpus_files(tmp_path / "nowhere.txt")


def test_corpus_path_prefers_flag_then_env_then_default(monkeypatch):
    monkeypatch.delenv("MASKLAB_CORPUS", raising=False)
    assert bpe.corpus_path() == bpe.DEFAULT_CORPUS
    assert bpe.DEFAULT_CORPUS.parts[-3:] == ("shared", "corpus", "train.txt")
    monkeypatch.setenv("MASKLAB_CORPUS", "/env/corpus")
    assert str(bpe.corpus_path()) == "/env/corpus"
    assert str(bpe.corpus_path("/flag/corpus")) == "/flag/corpus"


def test_gpt2_byte_decoder_is_a_bijection():
    decoder = bpe.gpt2_byte_decoder()
    assert sorted(decoder.values()) == list(range(256))
    assert decoder["Ġ"] == ord(" ") and decoder["Ċ"] == ord("\n") and decoder["A"] == ord("A")
    assert set(decoder) == set(pre_tokenizers.ByteLevel.alphabet())
