"""Cost accounting: parameters by component, forward FLOPs, and what a multi-turn chat costs.

FLOPs count a multiply-add as 2. Matrix products are counted per token and layer; attention scores
(QK^T and the weighted sum of V) are counted per (query, key) pair the mask allows, so a causal layer
costs about half a bidirectional one. Training is 3x the forward pass (forward + backward).
"""

import time
from dataclasses import dataclass

import torch

from engine.masks import attention_masks
from engine.model import KVCache, ModelConfig, Transformer


def params_by_component(c: ModelConfig) -> dict[str, int]:
    """Parameter counts; the output head is tied to the token embedding and adds nothing."""
    d, L = c.d_model, c.n_layer
    stacks = 2 if c.architecture == "encoder_decoder" and not c.shared_params else 1
    has_cross = c.architecture == "encoder_decoder" and not c.shared_attention
    return {
        "embeddings": c.vocab_size * d + c.max_len * d,
        "attention": stacks * L * 4 * d * d,
        "cross_attention": L * (4 * d * d + 2 * d) if has_cross else 0,
        "mlp": stacks * L * 2 * d * c.d_ff,
        "norms": stacks * L * 4 * d + 2 * d + (2 * d if c.needs_encoder_norm else 0),
    }


def count_params(c: ModelConfig) -> int:
    return sum(params_by_component(c).values())


def _layer_token_flops(c: ModelConfig) -> int:
    return 2 * (4 * c.d_model * c.d_model + 2 * c.d_model * c.d_ff)


def _pairs(mask: torch.Tensor) -> int:
    return int(mask.sum())


def forward_flops(c: ModelConfig, n_input: int, n_target: int = 0) -> dict[str, int]:
    """Forward FLOPs for one sequence of ``n_input`` input and ``n_target`` target tokens, by part.

    Single-stack models read the ``n_input + n_target`` tokens as one sequence (``n_input`` is the
    bidirectional prefix of a prefix_lm) and predict at every position. An encoder_decoder's encoder
    reads the input, its decoder the target, and only the decoder predicts.
    """
    d, L = c.d_model, c.n_layer
    masks = attention_masks(c.architecture, n_input, n_target, causal_input=c.causal_input)
    head = 2 * d * c.vocab_size
    if c.architecture != "encoder_decoder":
        n = n_input + n_target
        return {"layers": L * n * _layer_token_flops(c), "attention_scores": L * 4 * d * _pairs(masks["self"]), "head": n * head}
    pairs = _pairs(masks["encoder"]) + _pairs(masks["decoder"]) + _pairs(masks["cross"])
    layers = L * (n_input + n_target) * _layer_token_flops(c)
    if c.shared_attention:
        layers += L * n_input * 2 * 2 * d * d  # the input's keys and values, projected again by the decoder
    else:
        # cross-attention: queries and output per target token, keys and values per input token
        layers += L * (n_target * 2 * 2 * d * d + n_input * 2 * 2 * d * d)
    return {"layers": layers, "attention_scores": L * 4 * d * pairs, "head": n_target * head}


def flops_per_token(c: ModelConfig, seq_len: int = 256) -> float:
    """Forward FLOPs per token of a ``seq_len`` sequence; an encoder_decoder splits it evenly in two."""
    n_input = seq_len // 2 if c.architecture in ("prefix_lm", "encoder_decoder") else seq_len
    return sum(forward_flops(c, n_input, seq_len - n_input).values()) / seq_len


def training_flops(c: ModelConfig, n_input: int, n_target: int = 0) -> int:
    return 3 * sum(forward_flops(c, n_input, n_target).values())


def supervision(ids: list[int], configs: dict[str, ModelConfig], seed: int = 0, pairs=None) -> list[dict]:
    """Supervised tokens per training FLOP: for each (objective, architecture) pair, the tokens of
    ``ids`` that receive loss and the training FLOPs of one pass over the example as that
    architecture reads it (``configs[architecture]`` gives its size)."""
    from engine.objectives import as_decoder_sequence, corrupt

    pairs = pairs or (("clm", "decoder"), ("mlm", "encoder"), ("span_corruption", "encoder_decoder"), ("prefix_lm", "prefix_lm"), ("ul2", "prefix_lm"))
    rows = []
    for objective, arch in pairs:
        c = corrupt(list(ids), objective, seed)
        cfg = configs[arch]
        if arch == "encoder_decoder":
            flops = training_flops(cfg, len(c.inputs), len(c.targets))
        elif arch == "prefix_lm":
            seq = as_decoder_sequence(c)
            flops = training_flops(cfg, seq.n_prefix, len(seq.seq) - seq.n_prefix)
        else:
            flops = training_flops(cfg, len(c.inputs), 0)
        rows.append({"label": objective, "objective": objective, "architecture": arch, "n_loss_tokens": c.n_loss_tokens, "n_tokens": len(ids), "flops": flops, "per_pflop": c.n_loss_tokens / flops * 1e15 if flops else 0.0})
    return rows


@dataclass(frozen=True)
class TurnCost:
    turn: int
    new_tokens: int
    history_tokens: int  # the whole conversation after this turn
    bidirectional_tokens: int  # what a bidirectional model must encode this turn
    causal_tokens: int  # what a causal model with a KV cache must encode this turn
    bidirectional_flops: int
    causal_flops: int


def chat_cost(c: ModelConfig, turn_lengths: list[int]) -> list[TurnCost]:
    """Per turn: a bidirectional model re-encodes the whole history (every token sees every token, so
    a new turn changes the states of all earlier tokens); a causal model keeps its keys and values
    and encodes only the new tokens, each attending to everything before it. Same layers, same
    width: only the mask differs."""
    rows, history = [], 0
    d = c.d_model
    per_token = c.n_layer * _layer_token_flops(c)
    for i, n in enumerate(turn_lengths):
        n = int(n)
        new_history = history + n
        bidir = new_history * per_token + c.n_layer * 4 * d * new_history * new_history
        pairs = n * history + n * (n + 1) // 2
        causal = n * per_token + c.n_layer * 4 * d * pairs
        rows.append(TurnCost(i + 1, n, new_history, new_history, n, bidir, causal))
        history = new_history
    return rows


@torch.inference_mode()
def time_chat(model: Transformer, turns: list[list[int]], bidirectional: bool) -> list[float]:
    """Measured seconds per turn: re-encoding the full history bidirectionally, or feeding only the
    new tokens through a causal model's KV cache. ``model`` must be a single-stack model."""
    if model.config.architecture == "encoder_decoder":
        raise ValueError("time_chat needs a single-stack model")
    seconds, history = [], []
    cache = KVCache.empty(model.config.n_layer)
    for turn in turns:
        history += list(turn)
        x = torch.tensor([history if bidirectional else list(turn)], device=model.device)
        start = time.perf_counter()
        if bidirectional:
            model(x, n_prefix=len(history)) if model.config.architecture == "prefix_lm" else model(x)
        else:
            model(x, cache=cache, n_prefix=0) if model.config.architecture == "prefix_lm" else model(x, cache=cache)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds
