import itertools

import pytest
import torch

from engine.checkpoint import CheckpointError, load_model, read_metadata, save_model
from engine.cost import chat_cost, count_params, flops_per_token, forward_flops, params_by_component, time_chat
from engine.masks import ARCHITECTURES
from engine.model import ModelConfig, Transformer

TINY = dict(vocab_size=97, n_layer=2, n_head=2, d_model=32, d_ff=64, max_len=64)


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=4)))
def test_params_by_component_counts_every_parameter(flags):
    switches = dict(zip(("shared_attention", "shared_params", "layerwise_cross", "causal_input"), flags))
    c = ModelConfig(architecture="encoder_decoder", **TINY, **switches)
    assert count_params(c) == Transformer(c).num_parameters()


@pytest.mark.parametrize("architecture", ["encoder", "decoder", "prefix_lm"])
def test_params_single_stack(architecture):
    c = ModelConfig(architecture=architecture, **TINY)
    parts = params_by_component(c)
    assert count_params(c) == Transformer(c).num_parameters()
    assert parts["cross_attention"] == 0


MEDIUM = dict(vocab_size=8192, n_layer=4, n_head=4, d_model=192, d_ff=768, max_len=512)
ALL = dict(shared_attention=True, shared_params=True, layerwise_cross=True)


@pytest.mark.parametrize(("switches", "single"), [(ALL, "prefix_lm"), (dict(ALL, causal_input=True), "decoder")])
def test_switches_that_make_a_single_stack_cost_exactly_what_it_costs(switches, single):
    switched = ModelConfig(architecture="encoder_decoder", **MEDIUM, **switches)
    plain = ModelConfig(architecture=single, **MEDIUM)
    assert count_params(switched) == count_params(plain)
    for n_input, n_target in ((128, 128), (10, 3), (1, 40)):
        assert forward_flops(switched, n_input, n_target) == forward_flops(plain, n_input, n_target)
    assert flops_per_token(switched, 256) == flops_per_token(plain, 256)


def test_encoder_decoder_has_twice_the_parameters_at_about_the_same_flops_per_token():
    dec, ed = ModelConfig(architecture="decoder", **MEDIUM), ModelConfig(architecture="encoder_decoder", **MEDIUM)
    pd, pe = params_by_component(dec), params_by_component(ed)
    layer_ratio = (pe["attention"] + pe["mlp"] + pe["cross_attention"]) / (pd["attention"] + pd["mlp"])
    assert 2.0 < layer_ratio < 2.6
    # each token is read by one of the two stacks; the separate cross-attention and its pairs cost a little more
    assert 1.0 < flops_per_token(ed, 256) / flops_per_token(dec, 256) < 1.3


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_output_head_is_charged_at_target_positions_only(architecture):
    c = ModelConfig(architecture=architecture, **TINY)
    per_position = 2 * c.d_model * c.vocab_size
    assert forward_flops(c, 10, 0)["head"] == 0
    assert forward_flops(c, 10, 6)["head"] == 6 * per_position
    assert forward_flops(c, 3, 6)["head"] == 6 * per_position


def test_causal_attention_counts_half_the_pairs():
    c = ModelConfig(architecture="decoder", **TINY)
    e = ModelConfig(architecture="encoder", **TINY)
    assert forward_flops(c, 10)["layers"] == forward_flops(e, 10)["layers"]
    assert forward_flops(c, 10)["attention_scores"] * 20 == forward_flops(e, 10)["attention_scores"] * 11


def test_chat_cost_bidirectional_grows_quadratically_causal_linearly():
    c = ModelConfig(architecture="decoder", **TINY)
    rows = chat_cost(c, [20] * 6)
    assert [r.bidirectional_tokens for r in rows] == [20, 40, 60, 80, 100, 120]
    assert all(r.causal_tokens == 20 for r in rows)
    assert rows[0].bidirectional_flops > rows[0].causal_flops  # full pairs vs causal pairs
    assert sum(r.bidirectional_flops for r in rows) > 3 * sum(r.causal_flops for r in rows)
    # a causal model with a cache spends exactly what one pass over the whole chat costs
    whole = forward_flops(c, 120)
    assert sum(r.causal_flops for r in rows) == whole["layers"] + whole["attention_scores"]


def test_time_chat_reencodes_the_history_or_feeds_only_the_new_tokens():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(architecture="decoder", **TINY)).eval()
    turns = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    fed = []
    model.register_forward_pre_hook(lambda m, args, kwargs: fed.append(list((args[0] if args else kwargs["idx"])[0].tolist())), with_kwargs=True)
    assert len(time_chat(model, turns, bidirectional=True)) == 3
    assert fed == [[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]  # the whole history, every turn
    fed.clear()
    assert len(time_chat(model, turns, bidirectional=False)) == 3
    assert sum(fed, []) == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # each token once: the cache holds the rest
    with pytest.raises(ValueError):
        time_chat(Transformer(ModelConfig(architecture="encoder_decoder", **TINY)), turns, bidirectional=True)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_checkpoint_round_trip(tmp_path, architecture):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(architecture=architecture, **TINY)).eval()
    path = tmp_path / "m.safetensors"
    save_model(model, path, {"tokens_seen": 123})
    assert read_metadata(path)["tokens_seen"] == "123"
    loaded = load_model(path)
    assert loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob("*.tmp"))


def test_broken_checkpoints_give_clear_errors(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_model(Transformer(ModelConfig(architecture="decoder", **TINY)), path)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 10)
    for name in ("cut", "junk", "missing"):
        with pytest.raises(CheckpointError):
            load_model(tmp_path / f"{name}.safetensors")


def test_a_size_on_the_cost_pages_has_the_shipped_models_parameters():
    """The switches, chat and objectives pages counted a "medium" with 4,096 position embeddings (4,132,224
    parameters for the decoder) beside shipped medium models of 3,407,232: they now count the model as trained."""
    from engine import load_variant
    from engine.train import size_config

    for name in ("decoder-clm", "encoder-mlm", "prefixlm-prefix", "encdec-span"):
        model = load_variant(name).model
        config = size_config(model.config.architecture, "medium")
        shipped = sum(p.numel() for p in model.parameters())
        span_bias = model.span_bias.numel() if getattr(model, "span_bias", None) is not None else 0  # a training aid, not the architecture's
        assert count_params(config) == shipped - span_bias, name
    assert size_config("encoder_decoder", "medium", shared_attention=True).shared_attention
    with pytest.raises(ValueError, match="unknown size"):
        size_config("decoder", "huge")
