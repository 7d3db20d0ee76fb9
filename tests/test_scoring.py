import json
import math

import pytest
import torch

from engine.checkpoint import CheckpointError, save_model
from engine.losses import token_nll
from engine.masks import ARCHITECTURES
from engine.scoring import COLUMNS, attention, by_category, generate, score, summarize
from engine.tokenizer import tokenize
from engine.variants import list_variants, load_variant, random_model, sha256_file
from engine.vocab import MASKLAB

TEXT = "It was the best of times, it was the worst of times. 🦜"


@pytest.fixture(scope="module")
def variants():
    return {a: load_variant(f"random-{a}") for a in ARCHITECTURES}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_score_rows_are_consistent(variants, architecture):
    df = score(variants[architecture], TEXT)
    assert list(df.columns) == COLUMNS
    assert len(df) == len(tokenize(TEXT))
    scored = df[df.scored]
    assert len(scored) == (len(df) - len(df) // 2 if architecture == "prefix_lm" else len(df))
    for r in scored.itertuples():
        assert math.isclose(r.prob, math.exp(-r.loss), rel_tol=1e-4)
        assert r.rank >= 1 and len(r.top_k) == 5
        probs = [p for _, p in r.top_k]
        assert probs == sorted(probs, reverse=True)
        assert (r.rank == 1) == (r.prob >= probs[0] - 1e-6)
    s = summarize(df)
    assert s["tokens"] == len(df) and s["mean_loss"] == pytest.approx(scored.loss.mean())
    assert set(by_category(df)["category"]) <= set(df.category)


def test_decoder_score_is_next_token_loss(variants):
    v = variants["decoder"]
    ids = [t.id for t in tokenize(TEXT)]
    x = torch.tensor([[MASKLAB.eos] + ids])
    with torch.no_grad():
        nll = token_nll(v.model(x[:, :-1]).logits, x[:, 1:])[0]
    assert torch.allclose(torch.tensor(score(v, TEXT).loss.values, dtype=torch.float32), nll, atol=1e-4)


def test_encoder_score_is_pseudo_log_likelihood(variants):
    v = variants["encoder"]
    ids = [t.id for t in tokenize(TEXT)]
    df = score(v, TEXT)
    for i in (0, 5, len(ids) - 1):
        masked = list(ids)
        masked[i] = MASKLAB.mask
        with torch.no_grad():
            logp = v.model(torch.tensor([masked])).logits[0, i].log_softmax(-1)
        assert df.loss[i] == pytest.approx(-logp[ids[i]].item(), abs=1e-4)


def test_encoder_decoder_score_is_one_token_span(variants):
    v = variants["encoder_decoder"]
    ids = [t.id for t in tokenize(TEXT)]
    i = 3
    enc = ids[:i] + [MASKLAB.sentinel(0)] + ids[i + 1 :] + [MASKLAB.eos]
    with torch.no_grad():
        logp = v.model(torch.tensor([enc]), decoder_idx=torch.tensor([[MASKLAB.bos, MASKLAB.sentinel(0)]])).logits[0, 1].log_softmax(-1)
    assert score(v, TEXT).loss[i] == pytest.approx(-logp[ids[i]].item(), abs=1e-4)


def test_long_text_is_scored_in_windows_with_the_same_early_losses():
    model = random_model("decoder", max_len=32)
    from engine.variants import Variant

    v = Variant("small-window", "decoder", "clm", model, "masklab", None, "random")
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 12)
    df = score(v, long_text)
    assert len(df) > 64 and df.scored.all() and df.loss.notna().all()
    first = score(v, " ".join(long_text.split()[:20]))
    n = min(len(first), 25)
    assert torch.allclose(torch.tensor(df.loss.values[:n]), torch.tensor(first.loss.values[:n]), atol=1e-4)


@pytest.mark.parametrize("text", ["", "a", "<|endoftext|>", "🦜" * 3])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_awkward_texts_score(variants, architecture, text):
    df = score(variants[architecture], text)
    assert len(df) == len(tokenize(text))
    assert MASKLAB.eos not in df.token_id.tolist()  # typed special-token text stays ordinary text


def test_greedy_generation_with_cache_matches_argmax_without(variants):
    v = variants["decoder"]
    r = generate(v, TEXT, max_new_tokens=6, temperature=0)
    ids = [MASKLAB.eos] + [t.id for t in tokenize(TEXT)]
    special = list(range(MASKLAB.n_regular, MASKLAB.vocab_size))
    expected = []
    with torch.no_grad():
        for _ in range(6):
            logits = v.model(torch.tensor([ids])).logits[0, -1]
            logits[special] = float("-inf")
            ids.append(int(logits.argmax()))
            expected.append(ids[-1])
    from engine.tokenizer import token_strings

    assert r.tokens == token_strings(expected)


@pytest.mark.parametrize("architecture", ["decoder", "prefix_lm", "encoder_decoder"])
def test_sampling_is_seeded(variants, architecture):
    a = generate(variants[architecture], TEXT, 8, temperature=1.0, top_k=50, seed=3)
    b = generate(variants[architecture], TEXT, 8, temperature=1.0, top_k=50, seed=3)
    assert a.tokens == b.tokens and len(a.tokens) == 8


def test_encoder_cannot_generate(variants):
    with pytest.raises(ValueError, match="cannot generate"):
        generate(variants["encoder"], TEXT)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_attention_maps(variants, architecture):
    r = attention(variants[architecture], TEXT)
    assert r.maps
    for name, layers in r.maps.items():
        H, T, S = layers[0].shape
        assert (T, S) == (len(r.query_tokens[name]), len(r.key_tokens[name]))
        assert torch.allclose(layers[0].sum(-1), torch.ones(H, T), atol=1e-4)
    if architecture == "encoder_decoder":
        assert r.span_origin and "cross" in r.maps


def _ship(tmp_path, name="tiny-decoder"):
    folder = tmp_path / name
    model = random_model("decoder")
    save_model(model, folder / "model.safetensors")
    card = {"name": name, "objective": "clm", "parameters": model.num_parameters(), "model_config": {"architecture": "decoder"}, "sha256": sha256_file(folder / "model.safetensors")}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_shipped_variant_loads_and_checks_its_hash(tmp_path):
    folder = _ship(tmp_path)
    names = [v.name for v in list_variants(tmp_path)]
    assert names[0] == "tiny-decoder" and "random-encoder" in names
    v = load_variant("tiny-decoder", models_dir=tmp_path)
    assert v.architecture == "decoder" and len(score(v, "hi there")) == 2
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_variant("tiny-decoder", models_dir=tmp_path)


@pytest.mark.parametrize("name", ["../tiny-decoder", "/etc/passwd", "nope", ""])
def test_unknown_or_escaping_names_are_refused(tmp_path, name):
    _ship(tmp_path)
    with pytest.raises(ValueError):
        load_variant(name, models_dir=tmp_path / "sub")


@pytest.mark.parametrize("architecture", ["encoder", "encoder_decoder"])
def test_a_window_narrows_each_copy_to_the_tokens_around_its_own(variants, architecture):
    v = variants[architecture]
    ids = [t.id for t in tokenize(TEXT)]
    assert torch.allclose(torch.tensor(score(v, TEXT, window=len(ids)).loss.values), torch.tensor(score(v, TEXT).loss.values), atol=1e-5)
    i, c = 5, 3  # a window of 4 around token 5 holds tokens 3..6
    copy = ids[c : c + 4]
    with torch.no_grad():
        if architecture == "encoder":
            copy[i - c] = MASKLAB.mask
            logp = v.model(torch.tensor([copy])).logits[0, i - c].log_softmax(-1)
        else:
            copy[i - c] = MASKLAB.sentinel(0)
            logp = v.model(torch.tensor([copy + [MASKLAB.eos]]), decoder_idx=torch.tensor([[MASKLAB.bos, MASKLAB.sentinel(0)]])).logits[0, 1].log_softmax(-1)
    assert score(v, TEXT, window=4).loss[i] == pytest.approx(-logp[ids[i]].item(), abs=1e-4)


@pytest.mark.parametrize("architecture", ["encoder", "encoder_decoder"])
def test_a_stride_as_long_as_the_text_is_the_exact_method(variants, architecture):
    v = variants[architecture]
    exact, strided = score(v, TEXT), score(v, TEXT, stride=len(tokenize(TEXT)))
    assert torch.allclose(torch.tensor(strided.loss.values), torch.tensor(exact.loss.values), atol=1e-5)
    assert (strided["rank"] == exact["rank"]).all()


def test_encoder_scored_as_trained_hides_every_kth_token_at_once(variants):
    v = variants["encoder"]
    ids = [t.id for t in tokenize(TEXT)]
    df = score(v, TEXT, stride=4)
    assert df.scored.all() and df.method[0].startswith("masked LM: 1 token in 4")
    for i in (1, 6, len(ids) - 1):
        copy = [MASKLAB.mask if p % 4 == i % 4 else t for p, t in enumerate(ids)]  # the pass that hides token i
        with torch.no_grad():
            logp = v.model(torch.tensor([copy])).logits[0, i].log_softmax(-1)
        assert df.loss[i] == pytest.approx(-logp[ids[i]].item(), abs=1e-4)


def test_encoder_decoder_scored_as_trained_writes_every_hidden_token_after_its_sentinel(variants):
    v = variants["encoder_decoder"]
    ids = [t.id for t in tokenize(TEXT)]
    df = score(v, TEXT, stride=5)
    i = 7  # hidden in the pass with tokens 2, 7, 12, ...: the second span of that pass
    hidden = [p for p in range(len(ids)) if p % 5 == i % 5]
    enc, dec = list(ids), [MASKLAB.bos]
    for j, p in enumerate(hidden):
        enc[p] = MASKLAB.sentinel(j)
        dec += [MASKLAB.sentinel(j), ids[p]]
    with torch.no_grad():
        logits = v.model(torch.tensor([enc + [MASKLAB.eos]]), decoder_idx=torch.tensor([dec[:-1]])).logits[0]
    j = hidden.index(i)
    assert df.loss[i] == pytest.approx(-logits[1 + 2 * j].log_softmax(-1)[ids[i]].item(), abs=1e-4)
    assert df.scored.all()


@pytest.mark.parametrize("architecture", ["encoder", "encoder_decoder"])
def test_a_text_longer_than_the_context_is_scored_as_trained_once_per_token(architecture):
    from engine.scoring import strided_copies
    from engine.variants import Variant

    model = random_model(architecture, max_len=33)
    v = Variant("short-context", architecture, "mlm", model, "masklab", None, "random")
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 12)
    n = len(tokenize(long_text))
    df = score(v, long_text, stride=7)
    assert n > 100 and df.scored.all() and df.loss.notna().all()
    copies = strided_copies(n, 32, 7)
    assert sorted(p for _, _, scored in copies for p in scored) == list(range(n))
    for c, hidden, scored in copies:
        assert all(c <= p < c + 32 for p in hidden) and set(scored) <= set(hidden)
        assert all(b - a == 7 for a, b in zip(hidden, hidden[1:]))


def test_a_stride_that_needs_more_sentinels_than_exist_is_refused(variants):
    with pytest.raises(ValueError, match="sentinels"):
        score(variants["encoder_decoder"], " ".join(["word"] * 300), stride=1)
    with pytest.raises(ValueError, match="at least 1"):
        score(variants["encoder"], TEXT, stride=0)


def test_a_ul2_prefix_lm_reads_its_sequential_mode_token_first(variants):
    from engine.variants import Variant

    base = variants["prefix_lm"]
    ul2 = Variant("random-ul2", "prefix_lm", "ul2", base.model, "masklab", None, "random")
    ids = [t.id for t in tokenize(TEXT)]
    split = len(ids) // 2
    df = score(ul2, TEXT)
    assert "<|S|>" in df.method[0] and len(df) == len(ids) and df.scored.sum() == len(ids) - split
    x = torch.tensor([[MASKLAB.modes["S"]] + ids])
    with torch.no_grad():
        logp = base.model(x, n_prefix=torch.tensor([split + 1])).logits[0].log_softmax(-1)
    for i in (split, len(ids) - 1):  # token i sits at i + 1, predicted from the position before
        assert df.loss[i] == pytest.approx(-logp[i, ids[i]].item(), abs=1e-4)
    assert not torch.allclose(torch.tensor(df.loss.values[split:]), torch.tensor(score(base, TEXT).loss.values[split:]))
    out = generate(ul2, TEXT, 5, temperature=0)
    assert "<|S|>" in out.method and len(out.tokens) == 5


def test_long_work_shows_what_it_does_and_a_limit_refuses_it_up_front(variants, monkeypatch, capsys):
    import engine.scoring as scoring

    monkeypatch.setattr(scoring, "PROGRESS_DELAY_S", 0)  # show the bar at once, as a long text would after a few seconds
    score(variants["encoder"], TEXT)
    err = capsys.readouterr().err
    assert f"{len(tokenize(TEXT))} tokens" in err and "masked copy" in err
    with pytest.raises(ValueError, match="more than max_tokens=3"):
        score(variants["decoder"], TEXT, max_tokens=3)


def test_token_column_is_the_text_and_the_piece_column_the_vocabulary_entry():
    """MaskLab's own decoder-clm: each row's token is the text it stands for, so the rows join to the text."""
    v = load_variant("decoder-clm")
    text = "The Eiffel Tower stands in Paris, France."
    df = score(v, text)
    assert "".join(df.token) == text and " Paris" in df.token.tolist() and not any("Ġ" in t for t in df.token)
    assert df.piece.tolist() == df.token.tolist()  # tiktoken's entries are bytes: shown as their text
    assert attention(v, text).query_tokens["self"] == df.token.tolist()
