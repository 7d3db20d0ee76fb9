"""Mask surgery: a trained decoder or prefix-LM scored through a pattern it was not trained with gives
what a direct forward pass through the same mask gives; its own pattern changes nothing; what makes no
sense is refused with the reason."""

import numpy as np
import pytest
import torch

import engine
from engine.masks import causal, dense, global_tokens, parse_pattern, prefix_lm, sliding_window
from engine.vocab import MASKLAB

from conftest import SHARED

TEXT = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness."
SMOL = SHARED / "models" / "smollm2-135m-instruct-q4_1"


@pytest.fixture(scope="module")
def decoder():
    return engine.load_variant("decoder-clm")


def test_a_decoders_own_pattern_changes_nothing_and_a_window_equals_a_direct_pass(decoder):
    plain = engine.score(decoder, TEXT)
    assert np.allclose(engine.score(decoder, TEXT, mask=causal()).loss, plain.loss, atol=1e-5, equal_nan=True)
    window = causal() & sliding_window(4)
    cut = engine.score(decoder, TEXT, mask=window)
    ids = [MASKLAB.eos] + [t.id for t in engine.tokenize(TEXT)]  # MaskLab's decoder reads its start token first
    x = torch.tensor([ids])
    with torch.no_grad():
        logp = decoder.model(x, mask=dense(window.mask_mod(), len(ids))).logits.float().log_softmax(-1)[0, :-1]
    direct = -logp.gather(1, x[0, 1:, None])[:, 0].numpy()
    assert np.abs(cut.loss.to_numpy() - direct).max() < 1e-4
    assert cut.loss.mean() > plain.loss.mean() + 0.05  # four tokens of context cost it something


def test_a_prefix_lm_through_its_own_prefix_pattern_is_scored_as_without():
    v = engine.load_variant("prefixlm-prefix")
    plain = engine.score(v, TEXT, split=8)
    same = engine.score(v, TEXT, split=8, mask=prefix_lm(8))
    assert np.allclose(same.loss, plain.loss, atol=1e-4, equal_nan=True)


@pytest.mark.parametrize("pattern, why", [
    ("bidirectional", "after it"),
    ("causal & ~causal", "nothing to attend to"),
])
def test_a_pattern_that_shows_the_answer_or_leaves_a_token_nothing_is_refused(decoder, pattern, why):
    with pytest.raises(ValueError, match=why):
        engine.score(decoder, TEXT, mask=parse_pattern(pattern))


@pytest.mark.parametrize("name", ["encoder-mlm", "encdec-span"])
def test_surgery_is_refused_where_it_makes_no_sense(name):
    with pytest.raises(ValueError, match="decoders and prefix-LMs"):
        engine.score(engine.load_variant(name), TEXT, mask=causal())


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.skipif(not SMOL.is_dir(), reason=f"needs {SMOL} (../shared/models beside the checkout)")
def test_smollm2_through_a_window_equals_a_direct_pass_with_the_same_4d_mask():
    v = engine.load_variant(str(SMOL))
    assert np.allclose(engine.score(v, TEXT, mask=causal()).loss, engine.score(v, TEXT).loss, atol=1e-4, equal_nan=True)
    window = causal() & (sliding_window(4) | global_tokens(1))  # StreamingLLM: one sink and a window
    cut = engine.score(v, TEXT, mask=window)
    b = v.backend
    ids = ([b.specials.start] if b.specials.start is not None else []) + b.tokens(TEXT).ids
    x = torch.tensor([ids])
    with torch.no_grad():
        logp = v.model(input_ids=x, attention_mask=dense(window.mask_mod(), len(ids))[None, None]).logits.float().log_softmax(-1)[0, :-1]
    direct = -logp.gather(1, x[0, 1:, None])[:, 0].numpy()
    got = cut.loss.to_numpy()[-len(direct):]
    assert np.nanmax(np.abs(got - direct)) < 1e-4
    assert np.nanmean(got) > np.nanmean(engine.score(v, TEXT).loss.to_numpy()[-len(direct):])


def test_sessions_scoring_through_different_patterns_at_once_get_what_each_gets_alone(decoder):
    """One loaded model, several sessions: surgery leaves no state behind in the shared model."""
    from concurrent.futures import ThreadPoolExecutor

    patterns = [None, causal() & sliding_window(3), causal() & (sliding_window(2) | global_tokens(1)), None]
    alone = [engine.score(decoder, TEXT, mask=p).loss.to_numpy() for p in patterns]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: engine.score(decoder, TEXT, mask=p).loss.to_numpy(), patterns * 5))
    for i, got in enumerate(together):
        assert np.allclose(got, alone[i % 4], atol=1e-6, equal_nan=True), i
