"""The encoder-decoder's span bias (`engine.model.span_anchors`): a learned cross-attention bias over the
offset between each input position and the sentinel that opened the span a target token writes.

The task that needs it: text where every token follows from the one before it (a fixed permutation of
64 tokens), corrupted by the project's own T5 span corruption. The first token of a span follows from
the token just before the hole, which only the encoder has: the decoder alone can do no better than a
uniform guess (ln 64 = 4.16 nats). To read it, the decoder must find its span's sentinel in the input.
With the span bias it looks there from the start; without it, it must learn to find the sentinel by
content, and at this budget it has not.
"""

import math

import pytest
import torch

from engine.catalog import SIZES, preset_fields
from engine.cost import count_params
from engine.losses import IGNORE_INDEX, token_nll
from engine.model import KVCache, ModelConfig, Transformer, build, sentinel_slots, span_anchors, span_buckets
from engine.rng import seeded
from engine.train import TrainConfig, fit, make_batch
from engine.vocab import MASKLAB

ALPHABET, FIRST, LENGTH, STEPS = 64, 100, 64, 450
FLOOR = math.log(ALPHABET)
NEXT = torch.randperm(ALPHABET, generator=torch.Generator().manual_seed(1))  # each token's successor


def chain_windows(seed: int, n: int) -> list[list[int]]:
    """``n`` windows of LENGTH tokens, each token the successor (NEXT) of the one before it."""
    x = [torch.randint(0, ALPHABET, (n,), generator=torch.Generator().manual_seed(seed))]
    for _ in range(LENGTH - 1):
        x.append(NEXT[x[-1]])
    return (torch.stack(x, 1) + FIRST).tolist()


def chain_batch(seed: int, size: int = 16):
    return make_batch(chain_windows(seed, size), "span_corruption", "encoder_decoder", seed, indices=list(range(size)))


@torch.inference_mode()
def first_token_loss(model: Transformer, random_input: bool = False) -> float:
    """Mean loss (nats) on each span's first token in a held-out batch, reading the corrupted text or,
    with ``random_input``, random tokens in its place (sentinels kept)."""
    b = chain_batch(10**6, 64)
    idx = b.idx
    if random_input:
        noise = torch.randint(FIRST, FIRST + ALPHABET, idx.shape, generator=torch.Generator().manual_seed(7))
        idx = torch.where(idx < MASKLAB.n_regular, noise, idx)
    model.eval()
    nll = token_nll(model(idx, decoder_idx=b.decoder_idx).logits, b.targets)
    first = torch.isin(b.decoder_idx, torch.tensor(MASKLAB.sentinels)) & (b.targets != IGNORE_INDEX) & (b.targets < MASKLAB.n_regular)
    return float(nll[first].mean())


def trained(span_bias: int) -> Transformer:
    recipe = preset_fields("cpu", "encoder_decoder")
    cfg = TrainConfig(architecture="encoder_decoder", objective="span_corruption", size="tiny", lr=recipe["lr"], warmup=recipe["warmup"])
    with seeded(0):
        model = Transformer(ModelConfig(architecture="encoder_decoder", max_len=128, span_bias=span_bias, **SIZES["tiny"]))
    fit(model, cfg, chain_batch, STEPS)
    return model


def test_with_the_span_bias_the_encoder_decoder_reads_the_hole_s_neighbourhood():
    recipe = preset_fields("cpu", "encoder_decoder")
    assert recipe["span_bias"] > 0  # the presets train encoder-decoders with it
    model = trained(recipe["span_bias"])
    loss = first_token_loss(model)
    assert loss < 1.5, f"{loss:.2f} nats on a span's first token: the no-encoder floor is {FLOOR:.2f}"
    assert first_token_loss(model, random_input=True) - loss > 2.0  # random encoder text: nats lost


@pytest.mark.slow
def test_without_it_the_decoder_has_not_found_the_hole_at_this_budget():
    """Why the encoder-decoder has a span bias: the same training without it leaves it near the floor."""
    assert first_token_loss(trained(0)) > FLOOR - 1.0


def test_anchors_follow_the_last_sentinel_written_and_survive_a_cache():
    s = MASKLAB.sentinels
    idx = torch.tensor([[5, 6, s[0], 8, 9, 10, s[1], 11], [5, s[1], 7, 8, s[0], 9, 10, 11]])
    dec = torch.tensor([[3, s[0], 20, 21, s[1], 22], [3, s[0], 20, s[1], 21, 22]])
    slots = sentinel_slots(idx)
    assert slots[:, :2].tolist() == [[2, 6], [4, 1]] and (slots[:, 2:] == -1).all()
    anchors = span_anchors(dec, slots)
    assert anchors.tolist() == [[-1, 2, 2, 2, 6, 6], [-1, 4, 4, 1, 1, 1]]
    parts = [span_anchors(dec[:, :2], slots)]
    for t in range(2, dec.shape[1]):
        parts.append(span_anchors(dec[:, t:t + 1], slots, previous=parts[-1][:, -1]))
    assert torch.equal(torch.cat(parts, 1), anchors)  # one token at a time, as a generating decoder sees them
    buckets = span_buckets(anchors, idx.shape[1], 2)
    assert buckets[0, 1].tolist() == [0, 1, 2, 3, 4, 5, 5, 5]  # offsets -2..+2 from position 2; the rest share bucket 5
    assert (buckets[:, 0] == 5).all()  # before any sentinel: no preferred offset
    missing = span_anchors(torch.tensor([[3, s[5], 20]]), slots[:1])
    assert missing.tolist() == [[-1, -1, -1]]  # a sentinel the input lacks anchors nothing


def test_a_cached_decoder_reads_through_the_bias_as_a_full_pass_does():
    s = MASKLAB.sentinels
    with seeded(0):
        m = build("encoder_decoder", n_layer=2, n_head=2, d_model=32, d_ff=64, max_len=64, span_bias=4).eval()
    with torch.no_grad():
        m.span_bias.normal_(0, 0.2)
    idx = torch.tensor([[5, 6, s[0], 8, 9, 10, s[1], 11, 12]])
    dec = torch.tensor([[3, s[0], 20, 21, s[1], 22, 23]])
    with torch.inference_mode():
        full = m(idx, decoder_idx=dec).logits
        cache = KVCache.empty(2)
        parts = [m(idx, decoder_idx=dec[:, :3], cache=cache).logits]
        parts += [m(None, decoder_idx=dec[:, t:t + 1], cache=cache).logits for t in range(3, dec.shape[1])]
        weighed = m(idx, decoder_idx=dec, need_weights=True)
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5) and torch.allclose(weighed.logits, full, atol=1e-5)
    cross = weighed.attentions["cross"][0][0, 0]  # (U, S): the bias moves where the span's tokens look
    plain = ModelConfig(**{**m.config.__dict__, "span_bias": 0})
    assert count_params(m.config) == m.num_parameters() == count_params(plain) + 2 * 2 * (2 * 4 + 2)
    assert torch.allclose(cross.sum(-1), torch.ones(cross.shape[0]))


def test_the_span_bias_is_for_an_encoder_decoder_s_separate_cross_attention():
    with pytest.raises(ValueError, match="span_bias"):
        ModelConfig(architecture="decoder", span_bias=4)
    with pytest.raises(ValueError, match="span_bias"):
        ModelConfig(architecture="encoder_decoder", shared_attention=True, span_bias=4)
    with pytest.raises(ValueError, match="span_bias"):
        TrainConfig(architecture="prefix_lm", objective="prefix_lm", span_bias=4)
