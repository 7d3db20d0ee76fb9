"""Gemma 3's local and global layers, read from a config as MaskLab's patterns: a tiny Gemma 3 built
offline (sliding window 8, five sliding layers to one full) computes through MaskLab's dense masks exactly
what it computes through its own."""

import pytest
import torch

from engine.masks import dense, layer_patterns, layer_window, layers_from_config, parse_layers

transformers = pytest.importorskip("transformers")


def tiny_gemma3():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=6, num_attention_heads=4,
                              num_key_value_heads=1, head_dim=8, sliding_window=8, max_position_embeddings=256,
                              layer_types=["sliding_attention"] * 5 + ["full_attention"], attn_implementation="sdpa")
    torch.manual_seed(0)
    return Gemma3ForCausalLM(config).eval()


def test_the_config_reads_as_five_local_layers_to_one_global():
    model = tiny_gemma3()
    text = layers_from_config(model.config.layer_types, model.config.sliding_window)
    assert text == "5*(causal & window(7)); causal"
    kinds = [p.text() for p in layer_patterns(parse_layers(text), 6)]
    assert kinds == ["causal & window(7)"] * 5 + ["causal"]


def test_masklabs_masks_are_the_ones_gemma_uses_in_each_kind_of_layer():
    model = tiny_gemma3()
    n = 30  # longer than the window: the sliding layers' edge matters
    x = torch.randint(0, 128, (1, n), generator=torch.Generator().manual_seed(1))
    cycle = parse_layers(layers_from_config(model.config.layer_types, model.config.sliding_window))
    local, full = (dense(p.mask_mod(), n)[None, None] for _, p in cycle)
    with torch.no_grad():
        own = model(input_ids=x).logits
        ours = model(input_ids=x, attention_mask={"sliding_attention": local, "full_attention": full}).logits
        swapped = model(input_ids=x, attention_mask={"sliding_attention": full, "full_attention": full}).logits
    assert torch.allclose(own, ours, atol=1e-5)
    assert not torch.allclose(own[:, 8:], swapped[:, 8:], atol=1e-3)  # past the window, the local layers' edge shows


def test_each_layers_window_is_read_from_the_config_and_bounds_what_its_learned_map_shows():
    model = tiny_gemma3()
    assert [layer_window(model.config, i) for i in range(6)] == [8] * 5 + [None]
    assert layer_window(model.config, 6) is None and layer_window(object(), 0) is None  # past the last layer; no layer types
    n = 30
    x = torch.randint(0, 128, (1, n), generator=torch.Generator().manual_seed(2))
    model.set_attn_implementation("eager")  # SDPA returns no weights
    with torch.no_grad():
        attn = model(input_ids=x, output_attentions=True).attentions
    pos = torch.arange(n)
    for i in (0, 5):
        w = layer_window(model.config, i)
        reach = (pos[:, None] - pos[None, :]) < (w or n + 1)
        allowed = (pos[None, :] <= pos[:, None]) & reach  # what the masks page lets the learned map draw
        weights = attn[i][0]  # (heads, n, n)
        assert torch.all(weights[:, ~allowed] == 0) and torch.all(weights[:, allowed].sum() > 0)
    assert torch.all(attn[5][0][:, 20, :12] > 0)  # the full layer reads 20 tokens back; a sliding one stops at 8


def test_the_kv_cache_a_sliding_layer_keeps_is_what_transformers_keeps():
    from engine.cost import kv_cache_bytes
    model = tiny_gemma3()
    windows = tuple(layer_window(model.config, i) for i in range(6))
    for n in (5, 30):  # within the window of 8, and past it
        x = torch.randint(0, 128, (1, n), generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            cache = model(input_ids=x, use_cache=True).past_key_values
        held = sum(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size() for layer in cache.layers)
        assert kv_cache_bytes(n, n_kv_head=1, head_dim=8, layer_windows=windows, bytes_per_value=4) == held
    assert held < kv_cache_bytes(30, n_kv_head=1, head_dim=8, layer_windows=(None,) * 6, bytes_per_value=4)
