"""Cost accounting: parameters by component, forward FLOPs, and what a multi-turn chat costs.

One accounting serves every architecture. A forward pass reads ``n_input`` input tokens (context:
nothing is predicted there) and ``n_target`` target tokens (each predicts the next token); a text
read as a language model is all target. A multiply-add counts as 2. Per layer:

- projections and MLP, ``2 * (4 d^2 + 2 d d_ff)``, at every token, once, in the stack that reads it:
  a single-stack model reads input and target as one sequence; an encoder_decoder's encoder reads
  the input and its decoder the target, so each token still passes through one stack;
- a separate cross-attention (switch (a) off) adds its query and output projections at every target
  token and its key and value projections at every input token, ``2 * 2 d^2`` each; with (a) on but
  not both (b) and (c), the decoder's attention still projects the input's keys and values with
  weights the encoder did not use (``2 * 2 d^2`` per input token); with (a), (b) and (c) those keys
  and values are the encoder's own and cost nothing more;
- attention scores, ``4 d`` per (query, key) pair the masks allow (QK^T and the weighted sum of V),
  so a causal layer costs about half a bidirectional one.

The output head, ``2 d vocab``, is charged at the target positions only, for every architecture: an
input position's logits would go unused (a single-stack model can skip them, as ``at=`` does). A
model reading a whole text (causal or masked language modelling) has every position as target.
Norms, softmax and embeddings lookups are left out. Training is 3x the forward pass.

So a model is charged for what it must compute, not for how MaskLab's code happens to run it: an
encoder_decoder whose four switches make it a decoder-only costs exactly what the decoder-only costs.
"""

import time
from dataclasses import dataclass

import torch

from engine.backend import MaskLabBackend
from engine.catalog import OBJECTIVE_ARCHITECTURE
from engine.masks import attention_masks
from engine.model import ModelConfig
from engine.objectives import as_decoder_sequence, corrupt


def params_by_component(c: ModelConfig) -> dict[str, int]:
    """Parameter counts; the output head is tied to the token embedding and adds nothing."""
    d, L = c.d_model, c.n_layer
    stacks = 2 if c.architecture == "encoder_decoder" and not c.shared_params else 1
    has_cross = c.architecture == "encoder_decoder" and not c.shared_attention
    parts = {
        "embeddings": c.vocab_size * d + c.max_len * d,
        "attention": stacks * L * 4 * d * d,
        "cross_attention": L * (4 * d * d + 2 * d) if has_cross else 0,
        "mlp": stacks * L * 2 * d * c.d_ff,
        "norms": stacks * L * 4 * d + 2 * d + (2 * d if c.needs_encoder_norm else 0),
    }
    if getattr(c, "span_bias", 0):  # an encoder-decoder's span bias: a bucket per offset and one for the rest, per layer and head
        parts["span_bias"] = L * c.n_head * (2 * c.span_bias + 2)
    return parts


def count_params(c: ModelConfig) -> int:
    return sum(params_by_component(c).values())


def layer_token_flops(c: ModelConfig) -> int:
    """Matrix-product FLOPs of one layer at one position (2 per multiply-add): the four attention
    projections (4 d_model^2) and the MLP (2 d_model d_ff); attention scores and softmax not counted."""
    return 2 * (4 * c.d_model * c.d_model + 2 * c.d_model * c.d_ff)


def _pairs(mask: torch.Tensor) -> int:
    return int(mask.sum())


def forward_flops(c: ModelConfig, n_input: int, n_target: int = 0) -> dict[str, int]:
    """Forward FLOPs for ``n_input`` input and ``n_target`` target tokens, by part, under the
    accounting in this module's docstring.

    ``n_input`` is the bidirectional prefix of a prefix_lm (and of an encoder_decoder's input unless
    (d)); a decoder reads it causally, an encoder bidirectionally with the target.
    """
    d, L = c.d_model, c.n_layer
    masks = attention_masks(c.architecture, n_input, n_target, causal_input=c.causal_input)
    layers = L * (n_input + n_target) * layer_token_flops(c)
    head = n_target * 2 * d * c.vocab_size
    if c.architecture == "encoder_decoder":
        if not c.shared_attention:
            layers += L * (n_target + n_input) * 2 * 2 * d * d  # cross-attention: q, out per target; k, v per input
        elif not (c.shared_params and c.layerwise_cross):
            layers += L * n_input * 2 * 2 * d * d  # the input's keys and values, projected again by the decoder
    return {"layers": layers, "attention_scores": L * 4 * d * sum(_pairs(m) for m in masks.values()), "head": head}


def flops_per_token(c: ModelConfig, seq_len: int = 256) -> float:
    """Forward FLOPs per token of a ``seq_len``-token example, half input and half target, whatever the
    architecture (the same split for all, so that their costs compare)."""
    n_input = seq_len // 2
    return sum(forward_flops(c, n_input, seq_len - n_input).values()) / seq_len


def training_flops(c: ModelConfig, n_input: int, n_target: int = 0) -> int:
    return 3 * sum(forward_flops(c, n_input, n_target).values())


def supervision(ids: list[int], configs: dict[str, ModelConfig], seed: int = 0, pairs=None) -> list[dict]:
    """Text tokens supervised per training FLOP: for each (objective, architecture) pair, the tokens of
    ``ids`` the model must predict, the target positions that carry a loss, and the training FLOPs of one pass over the example as that
    architecture reads it (``configs[architecture]`` gives its size)."""
    pairs = pairs or OBJECTIVE_ARCHITECTURE
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
            flops = training_flops(cfg, 0, len(c.inputs))  # every position predicts
        rows.append({"label": objective, "objective": objective, "architecture": arch, "n_loss_tokens": c.n_loss_tokens, "n_loss_positions": c.n_loss_positions, "n_tokens": len(ids), "flops": flops, "per_pflop": c.n_loss_tokens / flops * 1e15 if flops else 0.0})
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
    per_token = c.n_layer * layer_token_flops(c)
    for i, n in enumerate(turn_lengths):
        n = int(n)
        new_history = history + n
        bidir = new_history * per_token + c.n_layer * 4 * d * new_history * new_history
        pairs = n * history + n * (n + 1) // 2
        causal = n * per_token + c.n_layer * 4 * d * pairs
        rows.append(TurnCost(i + 1, n, new_history, new_history, n, bidir, causal))
        history = new_history
    return rows


def kv_cache_bytes(n_tokens: int, *, n_kv_head: int, head_dim: int, layer_windows, bytes_per_value: int = 2) -> int:
    """Bytes of the KV cache a generating model holds after ``n_tokens`` tokens: every layer keeps a key
    and a value of ``head_dim`` numbers per key/value head for each token a later query can still read:
    in a sliding-window layer of ``window`` (``layer_windows``: one entry per layer, None for a full layer,
    which keeps them all) the last ``window - 1``, the next token's own key making up the window.
    ``bytes_per_value``: 2 for bf16 or fp16 (the default), 4 for float32. Follows transformers'
    ``DynamicSlidingWindowLayer``.

    >>> kv_cache_bytes(1000, n_kv_head=1, head_dim=256, layer_windows=[512] * 15 + [None] * 3)  # Gemma 3 270M: 10.9 MB
    10920960
    >>> kv_cache_bytes(1000, n_kv_head=1, head_dim=256, layer_windows=[None] * 18)  # had every layer been full: 18.4 MB
    18432000
    """
    kept = sum(min(int(n_tokens), w - 1) if w else int(n_tokens) for w in layer_windows)
    return kept * 2 * n_kv_head * head_dim * bytes_per_value


@torch.inference_mode()
def time_chat(model, turns: list[list[int]], bidirectional: bool) -> list[float]:
    """Measured seconds per turn: re-encoding the full history (bidirectionally, for a model that can),
    or feeding only the new tokens through the model's KV cache.

    ``model``: a MaskLab `Transformer`, or any `engine.Variant` (a published checkpoint too: its
    `engine.backend.Backend` does the work); single-stack only (ValueError for an encoder-decoder, and
    for an encoder asked to cache). ``turns``: token ids per turn, in the model's vocabulary (only their
    number matters to the time). Returns one float per turn, in seconds."""
    b = getattr(model, "backend", None) or MaskLabBackend(model, "masklab", "clm")
    arch = b.architecture
    if arch == "encoder_decoder":
        raise ValueError("time_chat needs a single-stack model")
    if arch == "encoder" and not bidirectional:
        raise ValueError("an encoder has no causal part to cache")
    seconds, history, state = [], [], None
    for turn in turns:
        history += list(turn)
        start = time.perf_counter()
        if bidirectional:
            b.logits(torch.tensor([history], device=b.device), n_prefix=len(history) if arch == "prefix_lm" else None)
        elif state is None:
            _, state = b.prefill(list(turn), n_prefix=0 if arch == "prefix_lm" else None)
        else:
            b.extend(list(turn), state)
        if b.device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds
