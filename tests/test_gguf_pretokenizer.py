"""A GGUF file's tokenizer splits text the way its own header says (``tokenizer.ggml.pre``), as llama.cpp does.

``transformers`` builds a byte-level BPE tokenizer from a GGUF file's vocabulary and merges but ignores
the pre-tokenizer the file declares. SmolLM2's is ``smollm``: llama.cpp (src/llama-vocab.cpp,
``LLAMA_VOCAB_PRE_TYPE_SMOLLM``) splits every numeral code point (``\\p{N}``) off on its own, then applies
GPT-2's rule. Without that, " ¼" becomes "ĠÂ" + "¼" instead of "Ġ" + "Â¼", and so on.

The reference here is written independently of MaskLab: a ``tokenizers`` BPE model on the file's own
``tokenizer.ggml.tokens`` and ``tokenizer.ggml.merges``, behind llama.cpp's two regexes for ``smollm``.
"""

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from engine import hf

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "models" / "smollm2-135m-instruct-q4_1"
GGUF = FOLDER / "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2(test):
    """Mark a test that reads the real SmolLM2 file in ../shared/models (CI always has it)."""
    return pytest.mark.shared(pytest.mark.skipif(not GGUF.is_file(), reason=f"needs {GGUF} (../shared/models beside the checkout)")(test))


# llama.cpp's regex_exprs for LLAMA_VOCAB_PRE_TYPE_SMOLLM, each applied in turn, matches and the text
# between them both kept as pieces ("isolated")
LLAMA_CPP_SMOLLM = [r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"]

FRACTIONS = ["½ cup of sugar, ¼ tsp salt", "① first ② second", "Mix ½ cup of flour with ¼ cup of sugar."]
NUMERALS = ["٣٤ and 12345 and 3.14", "Chapter ٣٤ ends on page ⅻ.", "Add 1½ cups, then ¾ more."]
PLAIN = ["The Eiffel Tower stands 324 meters tall in Paris, France.", "It was the best of times, it was the worst of times!\n\n  Indented  line"]
TEXTS = FRACTIONS + NUMERALS + PLAIN


def _strings(reader, key: str) -> list[str]:
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def llama_cpp_reference(path) -> Tokenizer:
    """The file's own vocabulary and merges behind llama.cpp's smollm regexes, then GPT-2's byte mapping."""
    from gguf import GGUFReader

    r = GGUFReader(str(path))
    tokens = _strings(r, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in _strings(r, "tokenizer.ggml.merges")]
    tk = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(rx), "isolated") for rx in LLAMA_CPP_SMOLLM] + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    return tk


def _masklab_ids(name: str, text: str) -> list[int]:
    return hf.load_tokenizer(name)(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]


@functools.lru_cache(maxsize=4)
def _transformers_tokenizer(path: Path):
    """What transformers alone builds from the GGUF file (no pre-tokenizer of the file's)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)


def _transformers_ids(path: Path, text: str) -> list[int]:
    return _transformers_tokenizer(path)(text, add_special_tokens=False)["input_ids"]


# ---------------------------------------------------------------- offline: a tiny GGUF file with a tokenizer

CORPUS = ["½ cup of sugar, ¼ tsp salt and 1½ more ¾", "① first ② second ③ third", "٣٤ and 12345 and 3.14 ٣٤", "The cat sat on the mat."] * 5


def tiny_gguf(folder: Path, pre: str) -> Path:
    """A GGUF file (llama architecture, one tensor) whose byte-level BPE tokenizer was trained here with
    GPT-2's rule only, so that its merges cross numerals (" ¼" is one token) and a smollm split matters."""
    from gguf import GGUFWriter

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(tk.to_str())["model"]
    tokens = sorted(model["vocab"], key=model["vocab"].get)
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([3] + [1] * (len(tokens) - 1))
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a checkpoint must lie in an allowed root: the working directory is one
    return lambda pre: tiny_gguf(tmp_path / pre, pre)


def test_a_tiny_smollm_gguf_tokenizes_as_llama_cpp_does(tiny):
    path = tiny("smollm")
    ref = llama_cpp_reference(path)
    differ = 0
    for text in TEXTS:
        ours = _masklab_ids(str(path), text)
        assert ours == ref.encode(text).ids, text
        differ += ours != _transformers_ids(path, text)
    assert differ >= 3  # the file's merges cross numerals: transformers alone splits those texts otherwise
    assert hf.gguf_summary(path)["pre_tokenizer"] == "smollm"
    rule = hf.gguf_pre_tokenizer(path)
    assert rule["name"] == "smollm" and rule["honoured"] and "numerals split" in rule["note"] and "GPT-2" in rule["note"]


def test_a_gpt2_gguf_keeps_transformers_tokenizer(tiny):
    path = tiny("gpt2")
    for text in TEXTS:
        assert _masklab_ids(str(path), text) == _transformers_ids(path, text), text
    rule = hf.gguf_pre_tokenizer(path)
    assert rule["name"] == "gpt2" and rule["honoured"]


def test_an_unknown_pre_tokenizer_is_kept_as_transformers_builds_it_and_said(tiny):
    path = tiny("llama-bpe")
    for text in TEXTS:
        assert _masklab_ids(str(path), text) == _transformers_ids(path, text), text
    rule = hf.gguf_pre_tokenizer(path)
    assert rule["name"] == "llama-bpe" and not rule["honoured"] and rule["note"].startswith("llama-bpe") and "not honoured" in rule["note"]


# ---------------------------------------------------------------- the real file: SmolLM2-135M-Instruct


@pytest.mark.parametrize("text", TEXTS)
@smollm2
def test_smollm2_ids_equal_a_reference_built_from_the_files_own_vocabulary_and_merges(text):
    assert _masklab_ids(str(FOLDER), text) == _smollm2_reference().encode(text).ids


@smollm2
def test_smollm2_ids_differ_from_transformers_alone_on_fractions_and_agree_on_plain_text():
    for text in FRACTIONS:
        assert _masklab_ids(str(FOLDER), text) != _transformers_ids(GGUF, text), text
    for text in PLAIN:
        assert _masklab_ids(str(FOLDER), text) == _transformers_ids(GGUF, text), text


@functools.lru_cache(maxsize=1)
def _smollm2_reference() -> Tokenizer:
    return llama_cpp_reference(GGUF)


def _reader_view(path) -> dict:
    """What gguf's own GGUFReader reads from a header, laid out as `gguf_files.gguf_header` lays it out."""
    from gguf import GGUFReader, GGUFValueType

    r = GGUFReader(str(path))
    meta = {}
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        kind = f.types[0]
        if kind == GGUFValueType.ARRAY:
            meta[key] = len(f.data)
        elif kind == GGUFValueType.STRING:
            meta[key] = bytes(f.parts[f.data[0]]).decode("utf-8", "replace")
        else:
            meta[key] = f.parts[f.data[0]].tolist()[0]
    tensors = [(t.name, tuple(int(d) for d in t.shape), int(t.tensor_type)) for t in r.tensors]
    return {"metadata": meta, "tensors": tensors}


def _same_header(path) -> None:
    from engine.hf.gguf_files import gguf_header

    ours, theirs = gguf_header(path), _reader_view(path)
    assert ours["metadata"].keys() == theirs["metadata"].keys()
    for key, v in theirs["metadata"].items():
        assert ours["metadata"][key] == pytest.approx(v) if isinstance(v, float) else ours["metadata"][key] == v, key
    # GGUFReader lists a tensor's dimensions as the file stores them; gguf_header too
    assert ours["tensors"] == theirs["tensors"]


def test_the_header_reader_reads_what_gguf_reads_strings_arrays_and_tensors_included(tiny):
    path = tiny("smollm")
    _same_header(path)
    from engine.hf.gguf_files import gguf_header

    vocabulary = gguf_header(path)["metadata"]["tokenizer.ggml.tokens"]  # an array is read as its length
    assert vocabulary == len(_strings(__import__("gguf").GGUFReader(str(path)), "tokenizer.ggml.tokens")) > 100
    assert hf.gguf_summary(path)["parameters"] == vocabulary * 8  # the embedding table alone: a row of 8 a token


def test_a_gguf_files_architecture_is_what_transformers_loads_it_as(tiny):
    import transformers

    path = tiny("smollm")
    config = transformers.AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    assert hf.peek_architecture(str(path)) == hf.architecture_of(config) == "decoder"


def test_a_file_that_is_not_gguf_or_is_cut_short_is_refused_with_a_reason(tmp_path, tiny):
    from engine.hf.gguf_files import gguf_header

    other = tmp_path / "not.gguf"
    other.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ValueError, match="not a GGUF file"):
        gguf_header(other)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny("smollm").read_bytes()[:200])
    with pytest.raises(ValueError, match="malformed|past the end"):
        gguf_header(cut)


@smollm2
def test_the_header_reader_reads_smollm2_as_gguf_reads_it():
    _same_header(GGUF)
