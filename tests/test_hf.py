"""Published checkpoints through transformers, tested offline on tiny random models of each family.

Each family gets a real transformers config class at a tiny size and a tokenizer trained here on a
few sentences (byte-level BPE for GPT-2 and RoBERTa, WordPiece for BERT and DistilBERT, Unigram with
``<extra_id_i>`` sentinels for T5), saved with ``save_pretrained`` and loaded through
``engine.load_variant`` like any published checkpoint. MaskLab's losses and attention maps are then
checked against the same quantities computed directly with transformers.
"""

import json
import math
import socket

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    BartConfig, BartForConditionalGeneration, BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM, GPT2Config,
    GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM, ModernBertConfig, ModernBertForMaskedLM,
    PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, RobertaConfig, RobertaForMaskedLM, T5Config, T5ForConditionalGeneration,
)

import engine
from engine import hf
from engine.__main__ import main
from engine.scoring import COLUMNS

TEXT = "It was the best of times, it was the worst of times; the cat sat on the mat 🦜."
CORPUS = [
    "It was the best of times, it was the worst of times.",
    "The cat sat on the mat, and the dog sat on the log.",
    "We hold these truths to be self evident: walking, talking, 1984!",
] * 4
FAMILIES = ["gpt2", "llama", "qwen2", "gpt_neox", "bert", "distilbert", "roberta", "modernbert", "t5", "bart"]
DECODERS = ("gpt2", "llama", "qwen2", "gpt_neox")
ENCODER_DECODERS = ("t5", "bart")
CONTEXT = 64  # positions of the tiny models; long-text tests go past it
N_SENTINELS = 10


def _byte_bpe(specials: list[str]) -> Tokenizer:
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tk


def _wordpiece() -> Tokenizer:
    tk = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.decoder = decoders.WordPiece()
    tk.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=150, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    return tk


def _unigram() -> Tokenizer:
    tk = Tokenizer(models.Unigram())
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    tk.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    return tk


def build_checkpoint(family: str, folder) -> None:
    """A tiny random checkpoint of ``family`` and its tokenizer, saved with save_pretrained."""
    torch.manual_seed(0)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=CONTEXT)
    if family == "gpt2":
        tok = PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(["<|endoftext|>"]), bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=CONTEXT, n_layer=2, n_head=2, n_embd=32, bos_token_id=0, eos_token_id=0))
    elif family in ("llama", "qwen2", "gpt_neox"):  # Llama and Qwen2 with grouped-query attention: 2 query heads share 1 key/value head
        tok = PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(["<|endoftext|>"]), bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
        ids = dict(vocab_size=len(tok), bos_token_id=0, eos_token_id=0, max_position_embeddings=CONTEXT, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
        if family == "llama":
            model = LlamaForCausalLM(LlamaConfig(num_key_value_heads=1, **ids))
        elif family == "qwen2":
            model = Qwen2ForCausalLM(Qwen2Config(num_key_value_heads=1, **ids))
        else:
            model = GPTNeoXForCausalLM(GPTNeoXConfig(**ids))
    elif family == "modernbert":
        tok = PreTrainedTokenizerFast(tokenizer_object=_wordpiece(), unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        model = ModernBertForMaskedLM(ModernBertConfig(vocab_size=len(tok), pad_token_id=0, bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3, global_attn_every_n_layers=1, **small))
    elif family == "bart":
        tok = PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]), bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
        model = BartForConditionalGeneration(BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                                                        encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=CONTEXT, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2))
    elif family in ("bert", "distilbert"):
        tok = PreTrainedTokenizerFast(tokenizer_object=_wordpiece(), unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        if family == "bert":
            model = BertForMaskedLM(BertConfig(vocab_size=len(tok), pad_token_id=0, **small))
        else:
            model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=CONTEXT, pad_token_id=0))
    elif family == "roberta":
        tok = PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]), bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
        model = RobertaForMaskedLM(RobertaConfig(vocab_size=len(tok), pad_token_id=1, bos_token_id=0, eos_token_id=2, **{**small, "max_position_embeddings": CONTEXT + 2}))
    else:
        sentinels = [f"<extra_id_{i}>" for i in range(N_SENTINELS)]  # added after the vocabulary, as in T5's own
        tok = PreTrainedTokenizerFast(tokenizer_object=_unigram(), unk_token="<unk>", pad_token="<pad>", eos_token="</s>", additional_special_tokens=sentinels)
        model = T5ForConditionalGeneration(T5Config(vocab_size=len(tok) + 6, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
    tok.save_pretrained(folder)
    model.save_pretrained(folder)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models are all per-op overhead: a second thread only waits on the first (and, on a busy
    machine, on the scheduler)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    for family in FAMILIES:
        build_checkpoint(family, root / family)
    return root


@pytest.fixture
def model_dirs(folders, monkeypatch):
    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(folders))
    return folders


@pytest.fixture(scope="module")
def variants(folders):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASKLAB_MODEL_DIRS", str(folders))
        return {f: engine.load_variant(str(folders / f), device="cpu") for f in FAMILIES}


def _ids(v, text=TEXT) -> list[int]:
    return v.tokenizer(text, add_special_tokens=False)["input_ids"]


def _reference_losses(v, ids: list[int]) -> list[float]:
    """Per-token losses computed directly with transformers, one forward pass per token where needed."""
    tok, m = v.tokenizer, v.model
    with torch.no_grad():
        if v.architecture == "decoder":
            x = torch.tensor([[tok.eos_token_id] + ids])  # <|endoftext|> first, so the first token is scored too
            return torch.nn.functional.cross_entropy(m(x).logits[0, :-1], x[0, 1:], reduction="none").tolist()
        out = []
        for i, target in enumerate(ids):
            hidden = list(ids)
            if v.architecture == "encoder":
                hidden[i] = tok.mask_token_id
                logits = m(torch.tensor([[tok.cls_token_id] + hidden + [tok.sep_token_id]])).logits[0, i + 1]
            elif v.card["model_type"] == "bart":  # text infilling: <mask> in the encoder, the decoder rewrites <s> text </s>
                hidden[i] = tok.mask_token_id
                full = [tok.bos_token_id] + ids + [tok.eos_token_id]
                logits = m(input_ids=torch.tensor([[tok.bos_token_id] + hidden + [tok.eos_token_id]]), decoder_input_ids=torch.tensor([[m.config.decoder_start_token_id] + full[:-1]])).logits[0, i + 1]
            else:
                sentinel = tok.convert_tokens_to_ids("<extra_id_0>")
                hidden[i] = sentinel
                logits = m(input_ids=torch.tensor([hidden + [tok.eos_token_id]]), decoder_input_ids=torch.tensor([[0, sentinel]])).logits[0, 1]
            out.append(-logits.log_softmax(-1)[target].item())
        return out


def _eager_attentions(v, **inputs):
    """transformers' own attention weights for ``inputs``: from an eager-attention copy of the model, since
    fused attention (sdpa, what MaskLab loads for speed) returns none. Every layer's, checked present."""
    import copy

    twin = copy.deepcopy(v.model)
    twin.set_attn_implementation("eager")
    with torch.no_grad():
        out = twin(output_attentions=True, **inputs)
    for name in ("encoder_attentions", "decoder_attentions", "cross_attentions") if "decoder_input_ids" in inputs else ("attentions",):
        got = getattr(out, name)
        assert len(got) == 2 and all(a is not None for a in got), name  # the tiny models have 2 layers
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_loads_with_fused_attention_and_maps_switch_to_eager_for_one_pass(variants, family):
    """Scoring runs on sdpa (fused, no attention weights); a map needs eager attention for its pass, and
    the model is fused again after it."""
    v = variants[family]
    assert hf.attn_implementation(v.model) == "sdpa"
    engine.attention(v, TEXT)
    assert hf.attn_implementation(v.model) == "sdpa" and hf.attn_implementation(v.backend.eager_model()) == "eager"


@pytest.mark.parametrize("family", FAMILIES)
def test_loads_each_family_as_a_variant(variants, family):
    v = variants[family]
    expected = ("decoder", "clm") if family in DECODERS else ("encoder_decoder", "span_corruption") if family in ENCODER_DECODERS else ("encoder", "mlm")
    assert (v.architecture, v.objective, v.source) == (*expected, "huggingface")
    assert v.encoding.startswith("hf:") and not v.model.training
    assert v.card["model_type"] == family and v.card["parameters"] == sum(p.numel() for p in v.model.parameters())
    assert v.card["tokenizer"] == type(v.tokenizer).__name__
    assert next(v.model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_match_transformers(variants, family):
    v = variants[family]
    df = engine.score(v, TEXT)
    ids = _ids(v)
    assert list(df.columns) == COLUMNS
    assert df.token_id.tolist() == ids and df.piece.tolist() == v.tokenizer.convert_ids_to_tokens(ids)
    assert df.scored.all()
    assert torch.allclose(torch.tensor(df.loss.tolist()), torch.tensor(_reference_losses(v, ids)), atol=1e-4)
    for r in df.itertuples():
        assert math.isclose(r.prob, math.exp(-r.loss), rel_tol=1e-4)
        probs = [p for _, p in r.top_k]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert (r.rank == 1) == (r.prob >= probs[0] - 1e-6)
    assert df.method.iloc[0] == engine.scoring.METHODS[v.architecture]


PLAIN = "It was the best of times, the cat sat on the mat; 1984!"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_token_column_is_the_text_each_token_stands_for(variants, family):
    """Rows read as the text (" cat"), as MaskLab's own models give them, never in a tokenizer's spelling
    ("Ġcat", "▁cat", "##at"); the vocabulary entry stays in the piece column. Byte-level BPE tokens that
    hold part of a character read as MaskLab's do (<0xF0><0x9F>)."""
    v = variants[family]
    df = engine.score(v, PLAIN)
    assert "".join(df.token) == PLAIN and not any("Ġ" in t or "▁" in t for t in df.token)
    assert df.piece.tolist() == v.tokenizer.convert_ids_to_tokens(df.token_id.tolist())
    if family in ("gpt2", "llama"):  # byte-level BPE: the parrot is not in the tiny vocabulary, so it is 4 byte tokens
        assert "Ġcat" in df.piece.tolist() and " cat" in df.token.tolist()
        assert engine.score(v, "a 🦜").token.tolist() == ["a", " ", "<0xF0>", "<0x9F>", "<0xA6>", "<0x9C>"]


@pytest.mark.parametrize("family", DECODERS + ("bert",))
def test_attention_labels_read_as_the_text(variants, family):
    v = variants[family]
    labels = engine.attention(v, PLAIN).query_tokens["self"]
    words = engine.score(v, PLAIN).token.tolist()
    frame = list(v.backend.specials.prefix), list(v.backend.specials.suffix)
    assert labels == v.backend.names(frame[0]) + words + v.backend.names(frame[1])


def test_rows_carry_spans_and_categories(variants):
    df = engine.score(variants["gpt2"], TEXT)
    by_text = {TEXT[r.start : r.end].strip(): r.category for r in df.itertuples()}
    assert by_text["the"] == "function word" and by_text["cat"] == "content word" and by_text[","] == "punctuation"
    assert (df.start >= 0).all() and (df.end <= len(TEXT)).all()
    assert len(engine.score(variants["bert"], "")) == 0


@pytest.mark.parametrize("family, special", [("gpt2", "<|endoftext|>"), ("bert", "[MASK]"), ("t5", "<extra_id_0>")])
def test_special_token_strings_in_text_are_ordinary_text(variants, family, special):
    v = variants[family]
    df = engine.score(v, f"the cat {special} sat")
    assert v.tokenizer.convert_tokens_to_ids(special) not in df.token_id.tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_long_texts_are_scored_in_windows(variants, family):
    df = engine.score(variants[family], " ".join(CORPUS[:3]) * 2)
    assert len(df) > CONTEXT and df.scored.all() and df.loss.notna().all()


def test_windows_give_each_token_the_context_of_its_window(variants):
    text = " ".join(CORPUS[:3]) * 2
    gpt2, bert = variants["gpt2"], variants["bert"]
    ids = _ids(gpt2, text)
    first = engine.score(gpt2, text).loss.tolist()[: CONTEXT - 1]  # the first window: <|endoftext|> + 63 tokens
    assert torch.allclose(torch.tensor(first), torch.tensor(_reference_losses(gpt2, ids[: CONTEXT - 1])), atol=1e-4)
    ids, W = _ids(bert, text), CONTEXT - 2  # [CLS] and [SEP] take two positions
    df = engine.score(bert, text)
    assert df.loss.iloc[0] == pytest.approx(_reference_losses(bert, ids[:W])[0], abs=1e-4)
    assert df.loss.iloc[-1] == pytest.approx(_reference_losses(bert, ids[-W:])[-1], abs=1e-4)


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2", "gpt_neox", "bert", "roberta", "modernbert"])
def test_self_attention_matches_transformers(variants, family):
    v = variants[family]
    r = engine.attention(v, TEXT)
    ids = _ids(v)
    if v.architecture == "encoder":
        ids = [v.tokenizer.cls_token_id] + ids + [v.tokenizer.sep_token_id]
    expected = _eager_attentions(v, input_ids=torch.tensor([ids])).attentions
    assert list(r.maps) == ["self"] and len(r.maps["self"]) == 2
    assert len(r.query_tokens["self"]) == len(ids) and not any("Ġ" in t for t in r.query_tokens["self"])  # labels read as text
    for got, want in zip(r.maps["self"], expected):
        assert got.shape == (2, len(ids), len(ids))
        assert torch.allclose(got, want[0], atol=1e-4)
    if v.architecture == "decoder":
        assert r.maps["self"][0].triu(1).abs().max() < 1e-6  # nothing attends to the future


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2", "gpt_neox", "bert", "roberta", "distilbert"])
def test_maps_are_taken_layer_by_layer_as_the_pass_runs(variants, family):
    """The maps pass hooks each attention module and keeps its weights as the layer runs, instead of
    output_attentions holding every layer's at once: the same numbers, without the all-layer transient."""
    v = variants[family]
    ids = _ids(v)
    if v.architecture == "encoder":
        ids = [v.tokenizer.cls_token_id] + ids + [v.tokenizer.sep_token_id]
    caught = hf.self_attention_weights(v.backend.eager_model(), torch.tensor([ids]), v.backend.n_layer, {})
    assert caught is not None and len(caught) == 2, "fell back on output_attentions"
    for got, want in zip(caught, _eager_attentions(v, input_ids=torch.tensor([ids])).attentions):
        assert torch.allclose(got, want[0], atol=1e-4)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_grouped_query_attention_shows_each_query_head_and_its_key_value_head(variants, family):
    r = engine.attention(variants[family], TEXT)
    assert r.n_kv_head == 1 and r.maps["self"][0].shape[0] == 2  # two query heads, one key/value head
    assert [r.kv_head(h) for h in range(2)] == [0, 0] and "grouped-query attention" in r.note
    assert engine.attention(variants["gpt2"], TEXT).kv_head(1) == 1


def test_bart_attention_is_on_infilled_text_and_matches_transformers(variants):
    v = variants["bart"]
    r = engine.attention(v, TEXT)
    enc = v.tokenizer.convert_tokens_to_ids(r.key_tokens["encoder"])
    dec = v.tokenizer.convert_tokens_to_ids(r.query_tokens["decoder"])
    assert "<mask>" in r.key_tokens["encoder"] and r.key_tokens["encoder"][0] == "<s>" and r.key_tokens["encoder"][-1] == "</s>"
    assert dec[1:] == [v.tokenizer.bos_token_id] + _ids(v)  # the decoder rewrites the whole text
    out = _eager_attentions(v, input_ids=torch.tensor([enc]), decoder_input_ids=torch.tensor([dec]))
    for name, expected in (("encoder", out.encoder_attentions), ("decoder", out.decoder_attentions), ("cross", out.cross_attentions)):
        for got, want in zip(r.maps[name], expected):
            assert torch.allclose(got, want[0], atol=1e-4)


@pytest.mark.parametrize("family", ["bert", "modernbert", "t5", "bart"])
def test_strided_scoring_hides_one_token_in_k_per_pass_with_the_models_own_tokens(variants, family):
    """stride=len(text) hides one token per pass: the exact method; every token scored either way."""
    v = variants[family]
    exact = engine.score(v, TEXT)
    assert torch.allclose(torch.tensor(engine.score(v, TEXT, stride=len(exact)).loss.tolist()), torch.tensor(exact.loss.tolist()), atol=1e-4)
    strided = engine.score(v, TEXT, stride=5)  # the tiny T5 has 10 sentinels: at most 10 hidden tokens a pass
    assert strided.scored.all() and strided.method.iloc[0].startswith("masked") and not torch.allclose(torch.tensor(strided.loss.tolist()), torch.tensor(exact.loss.tolist()), atol=1e-4)


def test_options_a_model_has_no_use_for_are_refused_not_dropped(variants):
    with pytest.raises(ValueError, match="no prefix"):
        engine.score(variants["llama"], TEXT, split=3)
    with pytest.raises(ValueError, match="stride is for masked scoring"):
        engine.score(variants["gpt2"], TEXT, stride=7)
    with pytest.raises(ValueError, match="max_tokens"):
        engine.score(variants["gpt2"], TEXT, max_tokens=5)
    short = engine.score(variants["gpt2"], " ".join(CORPUS[:3]) * 2, window=16)  # windows of 16 that advance by 8
    ids = _ids(variants["gpt2"], " ".join(CORPUS[:3]) * 2)
    with torch.no_grad():  # <|endoftext|> + ids: ids[31] is the first target of the window that starts at ids[23]
        want = -variants["gpt2"].model(torch.tensor([ids[23:31]])).logits[0, -1].log_softmax(-1)[ids[31]].item()
    assert short.loss.iloc[31] == pytest.approx(want, abs=1e-4)


def test_t5_attention_is_on_span_corrupted_text_and_matches_transformers(variants):
    v = variants["t5"]
    r = engine.attention(v, TEXT)
    assert set(r.maps) == {"encoder", "decoder", "cross"}
    enc = v.tokenizer.convert_tokens_to_ids(r.key_tokens["encoder"])
    dec = v.tokenizer.convert_tokens_to_ids(r.query_tokens["decoder"])
    assert "<extra_id_0>" in r.key_tokens["encoder"] and r.key_tokens["encoder"][-1] == "</s>" and r.span_origin
    out = _eager_attentions(v, input_ids=torch.tensor([enc]), decoder_input_ids=torch.tensor([dec]))
    for name, expected, shape in (("encoder", out.encoder_attentions, (len(enc), len(enc))), ("decoder", out.decoder_attentions, (len(dec), len(dec))), ("cross", out.cross_attentions, (len(dec), len(enc)))):
        assert len(r.maps[name]) == 2
        for got, want in zip(r.maps[name], expected):
            assert got.shape == (2, *shape) and torch.allclose(got, want[0], atol=1e-4)


def _generate_without_cache(v, ids: list[int], n: int, temperature: float, seed: int) -> list[int]:
    """The generation loop the slow way: the whole sequence again at every step, no key-value cache."""
    tok, m = v.tokenizer, v.model
    kind = v.card["model_type"]
    sentinel = tok.convert_tokens_to_ids("<extra_id_0>")
    if kind == "t5":
        enc, seq = ids + [sentinel, tok.eos_token_id], [0, sentinel]
    elif kind == "bart":  # text infilling: the decoder rewrites "<s> text" and then writes the span
        enc, seq = [tok.bos_token_id] + ids + [tok.mask_token_id, tok.eos_token_id], [m.config.decoder_start_token_id, tok.bos_token_id] + ids
    else:
        enc, seq = None, [tok.eos_token_id] + ids
    stop = {tok.eos_token_id} | ({tok.convert_tokens_to_ids(f"<extra_id_{i}>") for i in range(N_SENTINELS)} if kind == "t5" else set())
    banned = list(range(len(tok), m.config.vocab_size)) + ([seq[0]] if enc else [])  # an encoder-decoder never writes its decoder start
    g = torch.Generator().manual_seed(seed)
    new = []
    with torch.no_grad():
        for _ in range(n):
            if enc:
                logits = m(input_ids=torch.tensor([enc]), decoder_input_ids=torch.tensor([seq])).logits[0, -1]
            else:
                logits = m(torch.tensor([seq])).logits[0, -1]
            nxt = engine.scoring._sample(logits, temperature, 0, g, banned)
            if nxt in stop:
                break
            new.append(nxt)
            seq.append(nxt)
    return new


@pytest.mark.parametrize("family, seed", [("gpt2", 3), ("llama", 3), ("t5", 3), ("bart", 3)])
def test_generation_is_seeded_and_matches_a_loop_without_cache(variants, family, seed):
    v = variants[family]
    ids = _ids(v, "the cat sat")
    a = engine.generate(v, "the cat sat", max_new_tokens=8, temperature=1.0, top_k=20, seed=seed)
    assert a == engine.generate(v, "the cat sat", max_new_tokens=8, temperature=1.0, top_k=20, seed=seed)
    assert len(a.tokens) <= 8 and a.prompt == "the cat sat"
    for temperature in (0.0, 3.0):
        r = engine.generate(v, "the cat sat", max_new_tokens=8, temperature=temperature, top_k=0, seed=seed)
        expected = _generate_without_cache(v, ids, 8, temperature, seed)
        assert v.tokenizer.convert_tokens_to_ids(r.tokens) == expected and r.text == v.tokenizer.decode(expected)
    assert expected, "the sampled continuation should not be empty, or the comparison proves nothing"


def test_encoder_only_cannot_generate(variants):
    with pytest.raises(ValueError, match="encoder-only model cannot generate"):
        engine.generate(variants["bert"], "the cat")


@pytest.mark.parametrize("family", FAMILIES)
def test_describe_counts_every_parameter_once(variants, family):
    v = variants[family]
    d = hf.describe(v)
    parts = d["parameters_by_component"]
    assert d["parameters"] == sum(p.numel() for p in v.model.parameters()) == sum(parts.values())
    assert parts["embeddings"] > 0 and parts["attention"] > 0 and parts["mlp"] > 0
    assert (parts["cross_attention"] > 0) == (family in ENCODER_DECODERS)
    assert d["layers"] == 2 and d["d_model"] == 32 and d["vocab_size"] == v.model.config.vocab_size
    assert d["memory_mb"] == pytest.approx(d["parameters"] * 4 / 2**20, rel=0.05)


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt is recorded and refused."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_loading_a_folder_makes_no_network_call(model_dirs, no_network):
    v = engine.load_variant(str(model_dirs / "t5"), device="cpu")
    assert v.card["family"] == "T5" and no_network == []


@pytest.mark.parametrize("hub_offline", ["1", None])
def test_missing_id_offline_fails_with_one_sentence_and_no_network(no_network, monkeypatch, hub_offline):
    if hub_offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", hub_offline)
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MASKLAB_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(hf.CheckpointUnavailable) as e:
        engine.load_variant("masklab-tests/no-such-model-7f3a9c", device="cpu")
    msg = str(e.value)
    assert msg.startswith("masklab-tests/no-such-model-7f3a9c is not in the local Hugging Face cache")
    assert "hf download masklab-tests/no-such-model-7f3a9c" in msg and "\n" not in msg
    assert isinstance(e.value, ValueError) and no_network == []


def test_cli_scores_a_folder_and_explains_a_missing_id(model_dirs, capsys, monkeypatch):
    assert main(["score", "--variant", str(model_dirs / "gpt2"), "--device", "cpu", "the cat sat"]) == 0
    assert "method: next-token" in capsys.readouterr().out
    monkeypatch.delenv("MASKLAB_ALLOW_DOWNLOADS", raising=False)
    assert main(["score", "--variant", "masklab-tests/absent", "the cat"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in the local Hugging Face cache" in err


@pytest.mark.parametrize("name", ["../x", "a/../../etc", "/etc", "/etc/passwd", "~/../../etc"])
def test_hostile_paths_are_refused(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MASKLAB_MODEL_DIRS", raising=False)
    with pytest.raises(ValueError, match="refusing checkpoint path"):
        hf.looks_like_checkpoint(name)
    with pytest.raises(ValueError, match="refusing checkpoint path"):
        engine.load_variant(name, device="cpu")


def test_a_symlink_out_of_the_allowed_roots_is_refused(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text("{}")
    (tmp_path / "work" / "model").symlink_to(tmp_path / "outside")
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.delenv("MASKLAB_MODEL_DIRS", raising=False)
    with pytest.raises(ValueError, match="refusing"):
        hf.looks_like_checkpoint("model")


def test_looks_like_checkpoint(model_dirs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("gpt2", "distilgpt2", "bert-base-uncased", "google/flan-t5-small", "org/name", str(model_dirs / "t5")):
        assert hf.looks_like_checkpoint(name), name
    (tmp_path / "empty").mkdir()
    for name in ("", "   ", "hello world", "a/b/c", "bad--name", "-leading", "name.git", "nul\x00", "./empty", "./missing", str(model_dirs)):
        assert not hf.looks_like_checkpoint(name), name


def test_a_folder_with_only_pickled_weights_is_refused(model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(tmp_path))
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((model_dirs / "gpt2" / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle that may ever be opened")
    with pytest.raises(hf.CheckpointUnavailable, match="never loads pickled"):
        engine.load_variant(str(folder), device="cpu")


def test_a_folder_without_tokenizer_files_is_refused(model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(tmp_path))
    (tmp_path / "bare").mkdir()
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "bare" / name).write_bytes((model_dirs / "gpt2" / name).read_bytes())
    with pytest.raises(hf.CheckpointUnavailable, match="tokenizer files are missing"):
        engine.load_variant(str(tmp_path / "bare"), device="cpu")


def test_a_model_without_a_language_model_head_is_refused_in_one_sentence(tmp_path, monkeypatch):
    """A vision model has no LM class at all; a BERT saved without its head has one, but no weights for it."""
    from transformers import BertModel, ViTConfig

    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(tmp_path))
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path / "vit")
    with pytest.raises(ValueError, match=r"model type 'vit' is not supported: it has no language-model head") as e:
        engine.load_variant(str(tmp_path / "vit"), device="cpu")
    assert "\n" not in str(e.value)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=150, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)).save_pretrained(tmp_path / "headless")
    with pytest.raises(ValueError, match="its weights have no language-model head"):
        engine.load_variant(str(tmp_path / "headless"), device="cpu")


def test_list_cached_finds_supported_models_and_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    for repo, config in (("models--org--tiny-gpt", {"model_type": "gpt2"}), ("models--t5-small", {"model_type": "t5"}), ("models--org--vit", {"model_type": "vit"})):
        snap = tmp_path / repo / "snapshots" / "abc123"
        snap.mkdir(parents=True)
        (snap / "config.json").write_text(json.dumps(config))
    (tmp_path / "models--org--broken" / "snapshots" / "x").mkdir(parents=True)
    (tmp_path / "models--org--broken" / "snapshots" / "x" / "config.json").write_text("{not json")
    (tmp_path / "models--org--no-snapshot").mkdir()
    assert hf.list_cached() == ["org/tiny-gpt", "t5-small"]
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "absent"))
    assert hf.list_cached() == []


def test_a_folder_saved_again_with_new_weights_is_a_new_model_to_every_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(tmp_path))
    build_checkpoint("gpt2", tmp_path / "gpt")
    before = hf.weights_identity(str(tmp_path / "gpt"))
    a = engine.score(engine.load_variant(str(tmp_path / "gpt"), device="cpu"), TEXT).loss.tolist()
    torch.manual_seed(1)
    GPT2LMHeadModel(GPT2Config(vocab_size=engine.load_variant(str(tmp_path / "gpt"), device="cpu").backend.vocab_size, n_positions=CONTEXT, n_layer=2, n_head=2, n_embd=32)).save_pretrained(tmp_path / "gpt")
    assert hf.weights_identity(str(tmp_path / "gpt")) != before
    assert engine.score(engine.load_variant(str(tmp_path / "gpt"), device="cpu"), TEXT).loss.tolist() != a


def test_a_name_is_resolved_in_one_place_for_loading_cache_keys_and_labels(folders, monkeypatch, tmp_path):
    """engine.variants.resolve decides what a name is (shipped, random or published), where it lies and
    what identifies its weights; the app's cache keys and checks read the same answer."""
    from engine.variants import MODELS_DIR, ModelRef, resolve
    from ui import cache, catalog

    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(folders))
    monkeypatch.chdir(tmp_path)
    assert resolve("random-decoder") == ModelRef("random", "random-decoder", None, "builtin")
    shipped = [v.name for v in engine.list_variants(MODELS_DIR) if v.source == "shipped"]
    for name in shipped[:1]:
        ref = resolve(name)
        assert (ref.kind, ref.name, ref.path) == ("shipped", name, MODELS_DIR / name) and "card.json:" in ref.identity
        assert cache.version(name) == ref.identity and not catalog.is_checkpoint_name(name)
    ref = resolve(str(folders / "gpt2"))  # a path into MASKLAB_MODEL_DIRS: named by its portable name
    assert (ref.kind, ref.name, ref.path) == ("published", "gpt2", (folders / "gpt2").resolve())
    assert ref.identity == hf.weights_identity(str(folders / "gpt2")) == cache.version(str(folders / "gpt2"))
    assert resolve("gpt2") == ref and catalog.is_checkpoint_name("gpt2") and not catalog.is_checkpoint_name("random-decoder")
    assert resolve("org/not-here") == ModelRef("published", "org/not-here", None, "org/not-here")  # a hub id: loading says whether it is cached
    with pytest.raises(ValueError, match="refusing checkpoint path"):
        resolve("/etc")
    with pytest.raises(ValueError, match="unknown variant 'hello world'"):
        resolve("hello world")
    assert cache.version("/etc") == cache.version("hello world") == "unknown"


def test_published_checkpoints_are_found_without_loading_them(folders, monkeypatch, tmp_path):
    monkeypatch.setenv("MASKLAB_MODEL_DIRS", str(folders))
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty Hugging Face home: nothing cached, nothing fetched
    found = {f.name: f for f in hf.find_checkpoints()}
    for family in FAMILIES:
        f = found[family]  # its portable name: the folder's own, resolved in MASKLAB_MODEL_DIRS
        assert f.format == "safetensors" and f.parameters == pytest.approx(sum(p.numel() for p in engine.load_variant(f.name, device="cpu").model.parameters()), rel=0.02)  # BART also saves its final_logits_bias buffer
    assert hf.peek_architecture(str(folders / "bart")) == "encoder_decoder" and hf.peek_architecture(str(folders / "qwen2")) == "decoder"
    monkeypatch.setenv("MASKLAB_FIND_PUBLISHED", "0")
    assert hf.find_checkpoints() == []


def test_time_chat_runs_on_a_published_model_through_its_backend(variants):
    turns = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    for bidirectional in (True, False):
        seconds = engine.time_chat(variants["llama"], turns, bidirectional=bidirectional)
        assert len(seconds) == 3 and all(s > 0 for s in seconds)
    with pytest.raises(ValueError, match="no causal part to cache"):
        engine.time_chat(variants["bert"], turns, bidirectional=False)


def _tiny_gguf(path, name: str) -> None:
    """A real GGUF file with one 2-D float32 tensor, written by the gguf package's own writer."""
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_a_gguf_header_is_read_once_per_version_of_the_file(tmp_path, monkeypatch):
    import os

    from engine.hf import gguf_files

    reads = []
    real = gguf_files.gguf_header
    monkeypatch.setattr(gguf_files, "gguf_header", lambda p, *a, **k: reads.append(p) or real(p, *a, **k))
    path = tmp_path / "tiny.F32.gguf"
    _tiny_gguf(path, "first")
    s = hf.gguf_summary(path)
    assert s["name"] == "first" and s["parameters"] == 32 and s["quantisation"] == "F32" and s["gguf_architecture"] == "llama"
    s["name"] = "changed by the caller"  # a copy: the cached summary stays as read
    assert hf.gguf_summary(path)["name"] == "first" and len(reads) == 1
    _tiny_gguf(path, "second")  # a new version of the file is read again
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert hf.gguf_summary(path)["name"] == "second" and len(reads) == 2
    with pytest.raises(OSError):
        hf.gguf_summary(tmp_path / "missing.gguf")
