import itertools

import pytest
import torch

from engine.masks import ARCHITECTURES, attention_masks, prefix_mask
from engine.model import KVCache, ModelConfig, Transformer, build

TINY = dict(vocab_size=97, n_layer=2, n_head=2, d_model=32, d_ff=64, max_len=64)
SWITCHES = ("shared_attention", "shared_params", "layerwise_cross", "causal_input")


def tiny(architecture, seed=0, **switches):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(architecture=architecture, **TINY, **switches)).eval()


def ids(*shape, seed=1):
    return torch.randint(0, TINY["vocab_size"], shape, generator=torch.Generator().manual_seed(seed))


def run(model, x, y=None, **kw):
    with torch.no_grad():
        if model.config.architecture == "encoder_decoder":
            return model(x, decoder_idx=y, **kw)
        return model(x if y is None else torch.cat([x, y], 1), **kw)


def test_masks_exact():
    t, f = True, False
    assert attention_masks("encoder", 3)["self"].tolist() == [[t] * 3] * 3
    assert attention_masks("decoder", 2, 1)["self"].tolist() == [[t, f, f], [t, t, f], [t, t, t]]
    assert attention_masks("prefix_lm", 2, 2)["self"].tolist() == [[t, t, f, f], [t, t, f, f], [t, t, t, f], [t, t, t, t]]
    m = attention_masks("encoder_decoder", 2, 3)
    assert m["encoder"].tolist() == [[t, t], [t, t]]
    assert m["decoder"].tolist() == [[t, f, f], [t, t, f], [t, t, t]]
    assert m["cross"].shape == (3, 2) and m["cross"].all()
    assert attention_masks("encoder_decoder", 2, 0, causal_input=True)["encoder"].tolist() == [[t, f], [t, t]]
    with pytest.raises(ValueError, match="unknown architecture"):
        attention_masks("gpt", 3)


def test_batched_prefix_mask_matches_single():
    batched = prefix_mask(5, 5, torch.tensor([0, 2, 5]))
    assert batched.shape == (3, 1, 5, 5)
    for b, p in enumerate([0, 2, 5]):
        assert torch.equal(batched[b, 0], prefix_mask(5, 5, p))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_shapes_and_loss(architecture):
    model = tiny(architecture)
    x, y = ids(2, 7), ids(2, 5, seed=2)
    out = run(model, x, y if architecture == "encoder_decoder" else None, targets=ids(2, 5 if architecture == "encoder_decoder" else 7, seed=3))
    T = 5 if architecture == "encoder_decoder" else 7
    assert out.logits.shape == (2, T, TINY["vocab_size"])
    assert out.loss.item() == pytest.approx(torch.log(torch.tensor(97.0)).item(), abs=0.5)  # near uniform at init


def test_switches_abc_make_a_prefix_lm_and_d_a_decoder():
    x, y = ids(2, 6), ids(2, 4, seed=2)
    prefix_lm = tiny("prefix_lm", seed=3)
    abc = tiny("encoder_decoder", seed=4, shared_attention=True, shared_params=True, layerwise_cross=True)
    abc.load_state_dict(prefix_lm.state_dict())  # same keys: strict load proves nothing is left over
    expected = run(prefix_lm, x, y, n_prefix=6).logits[:, 6:]
    assert (run(abc, x, y).logits - expected).abs().max() < 1e-5

    decoder = tiny("decoder", seed=5)
    abcd = tiny("encoder_decoder", seed=6, shared_attention=True, shared_params=True, layerwise_cross=True, causal_input=True)
    abcd.load_state_dict(decoder.state_dict())
    expected = run(decoder, x, y).logits[:, 6:]
    assert (run(abcd, x, y).logits - expected).abs().max() < 1e-5


def test_without_switch_c_the_models_differ():
    x, y = ids(1, 6), ids(1, 4, seed=2)
    prefix_lm = tiny("prefix_lm", seed=3)
    ab = tiny("encoder_decoder", seed=4, shared_attention=True, shared_params=True)
    state = prefix_lm.state_dict()
    ab.load_state_dict(state, strict=False)
    assert (run(ab, x, y).logits - run(prefix_lm, x, y, n_prefix=6).logits[:, 6:]).abs().max() > 1e-3


def test_decoder_is_causal():
    model = tiny("decoder")
    x = ids(1, 10)
    x2 = x.clone()
    x2[0, 6:] = (x2[0, 6:] + 1) % 97
    a, b = run(model, x).logits, run(model, x2).logits
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


def test_prefix_lm_targets_do_not_see_later_targets_but_prefix_is_bidirectional():
    model = tiny("prefix_lm")
    x = ids(1, 10)
    x2 = x.clone()
    x2[0, 8] = (x2[0, 8] + 1) % 97
    a, b = run(model, x, n_prefix=4).logits, run(model, x2, n_prefix=4).logits
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6)
    x3 = x.clone()
    x3[0, 3] = (x3[0, 3] + 1) % 97  # a prefix token: every prefix position sees it
    c = run(model, x3, n_prefix=4).logits
    assert not torch.allclose(a[:, 0], c[:, 0], atol=1e-4)


def test_encoder_is_bidirectional():
    model = tiny("encoder")
    x = ids(1, 8)
    x2 = x.clone()
    x2[0, 7] = (x2[0, 7] + 1) % 97
    assert not torch.allclose(run(model, x).logits[:, 0], run(model, x2).logits[:, 0], atol=1e-4)


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=4)))
def test_encoder_decoder_target_is_causal_and_cache_agrees(flags):
    switches = dict(zip(SWITCHES, flags))
    model = tiny("encoder_decoder", **switches)
    x, y = ids(2, 6), ids(2, 5, seed=2)
    full = run(model, x, y).logits
    y2 = y.clone()
    y2[:, 3] = (y2[:, 3] + 1) % 97
    assert torch.allclose(full[:, :3], run(model, x, y2).logits[:, :3], atol=1e-6)
    cache = KVCache.empty(model.config.n_layer)
    with torch.no_grad():
        steps = [model(x, decoder_idx=y[:, :2], cache=cache).logits]
        steps += [model(None, decoder_idx=y[:, t : t + 1], cache=cache).logits for t in range(2, 5)]
    assert (torch.cat(steps, 1) - full).abs().max() < 1e-5


@pytest.mark.parametrize("architecture", ["decoder", "prefix_lm"])
def test_single_stack_cache_agrees(architecture):
    model = tiny(architecture)
    x = ids(2, 9)
    kw = {"n_prefix": 4} if architecture == "prefix_lm" else {}
    full = run(model, x, **kw).logits
    cache = KVCache.empty(model.config.n_layer)
    with torch.no_grad():
        steps = [model(x[:, :4], cache=cache, **kw).logits]
        steps += [model(x[:, t : t + 1], cache=cache).logits for t in range(4, 9)]
    assert (torch.cat(steps, 1) - full).abs().max() < 1e-5


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_attention_weights_match_fast_path_and_mask(architecture):
    model = tiny(architecture)
    x, y = ids(1, 6), ids(1, 4, seed=2)
    y = y if architecture == "encoder_decoder" else None
    kw = {"n_prefix": 3} if architecture == "prefix_lm" else {}
    fast, slow = run(model, x, y, **kw), run(model, x, y, need_weights=True, **kw)
    assert torch.allclose(fast.logits, slow.logits, atol=1e-5)
    for name, layers in slow.attentions.items():
        assert len(layers) == 2
        for w in layers:
            assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5)
    if architecture == "encoder_decoder":
        masks = attention_masks(architecture, 6, 4)
        for name in ("encoder", "decoder", "cross"):
            assert not (slow.attentions[name][0][0, 0] > 0)[~masks[name]].any()
    else:
        allowed = attention_masks(architecture, 3 if architecture == "prefix_lm" else 6, 3 if architecture == "prefix_lm" else 0)["self"]
        assert not (slow.attentions["self"][0][0, 0] > 0)[~allowed].any()


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="only apply"):
        ModelConfig(architecture="decoder", shared_params=True)
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        ModelConfig.from_dict({"architecture": "decoder", "colour": "red"})
    with pytest.raises(ValueError, match="exceeds max_len"):
        build("decoder", **TINY)(ids(1, 65))


@pytest.mark.parametrize("architecture", ["encoder", "decoder", "prefix_lm"])
def test_logits_at_chosen_positions_match_the_full_forward(architecture):
    model = tiny(architecture)
    x = ids(3, 9)
    kw = {"n_prefix": torch.tensor([2, 5, 9])} if architecture == "prefix_lm" else {}
    full = run(model, x, **kw).logits
    at = torch.tensor([[0, 4], [8, 8], [3, 1]])
    part = run(model, x, at=at, **kw).logits  # the last layer answers only these queries
    assert part.shape == (3, 2, TINY["vocab_size"])
    assert torch.allclose(part, full[torch.arange(3)[:, None], at], atol=1e-5)
    one = run(model, x, at=at[:, 0], **kw).logits
    assert torch.allclose(one, full[torch.arange(3), at[:, 0]][:, None], atol=1e-5)


@pytest.mark.parametrize("layerwise_cross", [False, True])
def test_few_queries_over_a_long_memory_match_projected_keys(layerwise_cross):
    model = tiny("encoder_decoder", layerwise_cross=layerwise_cross)
    x, y = ids(3, 40), ids(3, 2, seed=2)  # two target tokens read 40 encoder states without projecting them
    fast, slow = run(model, x, y), run(model, x, y, need_weights=True)
    assert torch.allclose(fast.logits, slow.logits, atol=1e-5)
