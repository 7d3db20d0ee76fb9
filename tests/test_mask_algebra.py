"""The mask algebra against PyTorch's FlexAttention: every primitive and several compositions give the
matrix `create_mask` gives, the blocks `create_block_mask` computes, and the same attention output
through `flex_attention` with the BlockMask as through SDPA with the dense mask."""

import warnings

import pytest
import torch
from torch.nn.attention.flex_attention import create_block_mask, create_mask, flex_attention

from engine.masks import (
    ARCHITECTURES, Pattern, architecture_pattern, bidirectional, block_sparsity, causal, chunked, dense, dilated, document,
    global_tokens, joint_mask, prefix_lm, receptive_field, sliding_window,
)

N = 37  # not a multiple of anything below: every edge case of a block and a chunk
DOCS = torch.tensor([0] * 10 + [1] * 15 + [2] * 12)

PATTERNS = {
    "causal": causal(),
    "bidirectional": bidirectional(),
    "prefix_lm": prefix_lm(9),
    "sliding_window": sliding_window(4),
    "chunked": chunked(8),
    "dilated": dilated(3),
    "global_tokens": global_tokens(2),
    "document": document(),
    "mistral": causal() & sliding_window(6),
    "longformer": sliding_window(3) | global_tokens(2),
    "streaming_llm": causal() & (sliding_window(5) | global_tokens(1)),
    "llama4_chunked": causal() & chunked(8),
    "packed_causal": causal() & document(),
    "not_window": causal() & ~sliding_window(2),
}


@pytest.mark.parametrize("name", PATTERNS)
def test_every_pattern_gives_the_matrix_create_mask_gives(name):
    mod = PATTERNS[name].mask_mod(DOCS)
    want = create_mask(mod, None, None, N, N, device="cpu")[0, 0]
    assert torch.equal(dense(mod, N), want)


def test_the_primitives_mean_what_they_say():
    n = 12
    q, k = torch.arange(n)[:, None], torch.arange(n)[None, :]
    assert torch.equal(dense(causal().mask_mod(), n), k <= q)
    assert dense(bidirectional().mask_mod(), n).all()
    assert torch.equal(dense((causal() & sliding_window(3)).mask_mod(), n), (k <= q) & (q - k <= 3))  # the query and 3 before it
    assert torch.equal(dense(chunked(4).mask_mod(), n), q // 4 == k // 4)
    g = dense(global_tokens(2).mask_mod(), n)
    assert g[:2].all() and g[:, :2].all() and not g[2:, 2:].any()
    assert dense(document().mask_mod(torch.tensor([0] * 5 + [1] * 7)), n)[4, 5].item() is False
    with pytest.raises(ValueError, match="doc_ids"):
        document().mask_mod()
    with pytest.raises(ValueError, match="whole number"):
        sliding_window(-1)
    with pytest.raises(ValueError, match="unknown pattern"):
        Pattern("diagonal")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_four_architectures_are_compositions_whose_matrices_are_the_rule(arch):
    n_in, n_tgt = 5, 7
    assert torch.equal(dense(architecture_pattern(arch, n_in).mask_mod(), n_in + n_tgt), joint_mask(arch, n_in, n_tgt))


@pytest.mark.parametrize("name", ["causal", "mistral", "longformer", "llama4_chunked", "packed_causal", "dilated"])
@pytest.mark.parametrize("n, block", [(256, 128), (200, 64), (96, 32)])
def test_block_counts_are_flex_attentions(name, n, block):
    mod = PATTERNS[name].mask_mod(torch.arange(n) // 70)
    bm = create_block_mask(mod, None, None, n, n, device="cpu", BLOCK_SIZE=block)
    ours = block_sparsity(dense(mod, n), block)
    assert ours.partial + ours.full == int(bm.kv_num_blocks.sum() + bm.full_kv_num_blocks.sum())
    assert ours.full == int(bm.full_kv_num_blocks.sum())
    if n % block == 0:  # past a last partial block, BlockMask.sparsity() divides by the unpadded area (it can go negative)
        assert abs(100 * (1 - ours.computed_share) - bm.sparsity()) < 1e-6


@pytest.mark.parametrize("name", ["mistral", "streaming_llm", "packed_causal", "longformer"])
def test_flex_attention_with_the_block_mask_equals_sdpa_with_the_dense_mask(name):
    n = 160
    mod = PATTERNS[name].mask_mod(torch.arange(n) // 50)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, n, 16, generator=g) for _ in range(3))
    bm = create_block_mask(mod, None, None, n, n, device="cpu", BLOCK_SIZE=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unfused on a CPU without torch.compile, as the brief says
        flex = flex_attention(q, k, v, block_mask=bm)
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense(mod, n))
    assert torch.allclose(flex, sdpa, atol=1e-5)


def test_the_code_shown_is_the_mask_mod_it_runs():
    for name, pattern in PATTERNS.items():
        scope = {"doc_ids": DOCS, "torch": torch}
        exec(pattern.code(), scope)
        assert torch.equal(dense(scope["mask_mod"], N), dense(pattern.mask_mod(DOCS), N)), name


def test_a_causal_window_reaches_about_layers_times_its_width_back():
    n, w = 64, 4
    reach = receptive_field(dense((causal() & sliding_window(w)).mask_mod(), n), 6)
    for layer in range(6):
        back = int(reach[layer, n - 1].float().argmax())  # the earliest key the last token hears from
        assert n - 1 - back == w * (layer + 1)
    assert receptive_field(dense(causal().mask_mod(), n), 1)[0, n - 1].all()  # full causal: everything in one layer
