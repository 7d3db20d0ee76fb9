"""One transformer, four architectures.

An ``encoder`` is the stack with a bidirectional mask, a ``decoder`` the same stack with a causal
mask, a ``prefix_lm`` the same stack with a prefix mask. An ``encoder_decoder`` runs the stack over the
input and a second stack, with cross-attention, over the target. Four switches walk the
encoder-decoder towards a decoder-only, one assumption at a time:

(a) ``shared_attention``: self- and cross-attention become one attention, with one set of parameters,
    over [input; target] (the target's positions continue after the input's);
(b) ``shared_params``: the decoder reuses the encoder's layers;
(c) ``layerwise_cross``: decoder layer i reads encoder layer i instead of the encoder's last layer;
(d) ``causal_input``: the encoder's self-attention becomes causal.

With (a)+(b)+(c) the model computes exactly what ``prefix_lm`` computes on the concatenated sequence,
and its state dict has the same keys; adding (d) gives exactly ``decoder``. Tests check both.
"""

import json
import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.losses import mean_nll
from engine.masks import ARCHITECTURES, Architecture, check_architecture, prefix_mask
from engine.vocab import MASKLAB, VOCAB_SIZE


def _rows(x: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Rows ``at`` (B, K) of each example of ``x`` (B, T, ...) -> (B, K, ...)."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], at]


def _mask_rows(mask: torch.Tensor, at: torch.Tensor, B: int) -> torch.Tensor:
    """The query rows ``at`` (B, K) of a (T, S) or (B, 1, T, S) mask -> (B, 1, K, S)."""
    m = mask if mask.dim() == 4 else mask[None, None]  # (b, 1, T, S)
    return _rows(m.expand(B, -1, -1, -1)[:, 0], at)[:, None]


@dataclass
class LayerCache:
    """Keys and values one attention has already computed, (B, H, S, D) each."""

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None


@dataclass
class KVCache:
    """What an incremental decoder keeps between calls.

    ``length`` counts the target (decoder-stream) positions consumed so far; ``memory`` holds the
    encoder's states for an encoder-decoder, so later calls need no encoder input.
    """

    self_attn: list[LayerCache]
    cross_attn: list[LayerCache]
    length: int = 0
    n_prefix: int = 0
    memory: list[torch.Tensor] | None = None
    sentinel_slots: torch.Tensor | None = None  # (B, sentinels): an encoder-decoder's span bias, where each sentinel sits in the input
    anchor: torch.Tensor | None = None  # (B,): the input position of the sentinel that opened the span being written, -1 for none

    @classmethod
    def empty(cls, n_layer: int) -> "KVCache":
        return cls([LayerCache() for _ in range(n_layer)], [LayerCache() for _ in range(n_layer)])


SPAN_BIAS_SCALE = 30.0  # the span bias is this times its parameter: at peak lr 1e-3 it can move nats in a few hundred steps


def sentinel_slots(idx: torch.Tensor, sentinels=MASKLAB.sentinels) -> torch.Tensor:
    """Where each sentinel first sits in each input: ``idx`` (B, S) token ids, ``sentinels`` N ids ->
    (B, N) positions, -1 where the input lacks that sentinel."""
    ids = torch.as_tensor(sentinels, device=idx.device)
    hit = idx[:, :, None] == ids[None, None, :]  # (B, S, N)
    return torch.where(hit.any(1), hit.to(torch.int8).argmax(1), -1)


def span_anchors(decoder_idx: torch.Tensor, slots: torch.Tensor, sentinels=MASKLAB.sentinels,
                 previous: torch.Tensor | None = None) -> torch.Tensor:
    """For each target token, the input position of the sentinel that opened its span: the last sentinel
    among the target tokens up to and including it, looked up in ``slots`` (`sentinel_slots` of the
    input). -1 before any sentinel, or when the input lacks it. ``decoder_idx`` (B, U); ``previous``
    (B,): the last anchor of an earlier call (incremental decoding). Returns (B, U) long.

        >>> slots = sentinel_slots(torch.tensor([[5, 6, 7, 90, 8, 9, 91]]), sentinels=(90, 91))  # <0> at 3, <1> at 6
        >>> span_anchors(torch.tensor([[1, 90, 11, 12, 91, 13]]), slots, sentinels=(90, 91)).tolist()
        [[-1, 3, 3, 3, 6, 6]]
    """
    ids = torch.as_tensor(sentinels, device=decoder_idx.device)
    hit = decoder_idx[:, :, None] == ids[None, None, :]  # (B, U, N)
    slot = slots.gather(1, hit.to(torch.int8).argmax(-1))  # (B, U): where the token's sentinel sits, if it is one
    steps = torch.arange(decoder_idx.shape[1], device=decoder_idx.device).expand_as(decoder_idx)
    last, _ = torch.cummax(torch.where(hit.any(-1), steps, -1), dim=1)  # the latest sentinel so far
    before = previous[:, None] if previous is not None else torch.full_like(slot[:, :1], -1)
    return torch.where(last >= 0, slot.gather(1, last.clamp(min=0)), before)


def span_buckets(anchors: torch.Tensor, n_memory: int, reach: int) -> torch.Tensor:
    """The span bias's bucket of every (target token, input position) pair: the offset from the token's
    anchor, ``-reach`` .. ``reach`` -> 0 .. 2 reach, and 2 reach + 1 for every other pair (farther
    away, or no anchor). ``anchors`` (B, U) from `span_anchors` -> (B, U, n_memory) long."""
    offset = torch.arange(n_memory, device=anchors.device)[None, None, :] - anchors[:, :, None]
    near = (offset.abs() <= reach) & (anchors[:, :, None] >= 0)
    return torch.where(near, offset + reach, 2 * reach + 1)


def _attend_unprojected(q, memory, w_kv, mask):
    """Attention of queries q (B, H, T, D) over a memory (B, S, C) that is never projected.

    Since q.(W_k m) = (W_k^T q).m and sum_s a_s (W_v m_s) = W_v (sum_s a_s m_s), each head's key and
    value projections can move onto the T queries: O(T S C) work instead of O(S C D) for projecting
    every memory row: a decoder that has two tokens and reads 300 encoder states does a twentieth of it.
    """
    B, H, T, D = q.shape
    C = memory.shape[-1]
    w_k, w_v = w_kv.view(2, H, D, C)  # (H, D, C) each
    qm = torch.bmm(q.transpose(0, 1).reshape(H, B * T, D), w_k)  # (H, B*T, C): the queries in the memory's space
    qm = qm.view(H, B, T, C).transpose(0, 1).reshape(B, H * T, C)
    scores = torch.bmm(qm, memory.transpose(1, 2)).view(B, H, T, -1) / math.sqrt(D)  # (B, H, T, S)
    weights = _masked(scores, mask).softmax(dim=-1)
    mixed = torch.bmm(weights.view(B, H * T, -1), memory)  # (B, H*T, C)
    y = torch.bmm(mixed.view(B, H, T, C).transpose(0, 1).reshape(H, B * T, C), w_v.transpose(1, 2))  # (H, B*T, D)
    return y.view(H, B, T, D).permute(1, 2, 0, 3).reshape(B, T, H * D)  # (B, T, C)


def _masked(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scores under a mask: bool (True = may attend) hides pairs; a float mask is added (a bias)."""
    return scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask.to(scores.dtype)


class Attention(nn.Module):
    """Multi-head attention of queries from ``x`` over keys and values from ``kv``. ``mask``: bool
    (True = may attend) or float, added to the scores (a bias), broadcastable to (B, H, T, S)."""

    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, kv, mask, cache: LayerCache | None = None, static: bool = False, need_weights: bool = False):
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
        w_q, w_kv = self.qkv.weight.split([C, 2 * C])
        q = F.linear(x, w_q).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        S = kv.shape[1]
        if static and cache is None and not need_weights and T * (S + D) < S * D:
            return self.proj(_attend_unprojected(q, kv, w_kv, mask)), None  # few queries, long memory
        if static and cache is not None and cache.k is not None:
            k, v = cache.k, cache.v  # cross-attention memory was projected on the first call
        else:
            k, v = F.linear(kv, w_kv).view(B, S, 2, H, D).permute(2, 0, 3, 1, 4)  # (B, H, S, D) each
            if cache is not None:
                if not static and cache.k is not None:
                    k, v = torch.cat([cache.k, k], dim=2), torch.cat([cache.v, v], dim=2)
                cache.k, cache.v = k, v
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(D)  # (B, H, T, S)
            weights = _masked(scores, mask).softmax(dim=-1)
            y = weights @ v  # (B, H, T, D)
        else:
            weights = None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask if mask.dtype == torch.bool else mask.to(q.dtype))
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y), weights


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff, bias=False)
        self.proj = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm transformer layer. Cross-attention, when a model has it, lives beside the blocks."""

    def __init__(self, d_model: int, n_head: int, d_ff: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_head)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, d_ff)

    def forward(self, x, mask, *, cache=None, need_weights=False, at=None, memory=None, cross=None):
        """The pre-norm recipe, written once for every stack (nanoGPT's ``Block``):
        ``x + attn(ln1(x))``, then ``+ cross_attn(ln(x))`` when ``cross`` is given, then ``+ mlp(ln2(x))``.

        ``x`` (B, T, C); ``mask`` (T, S) or (B, T, S), True = may attend. ``at`` (B, K): only those
        queries are answered (their keys and values still come from every position); the result is then
        (B, K, C). ``memory`` (B, M, C), already normed: keys and values placed before the layer's own
        (switch (a), one attention over input and target). ``cross``: ``(CrossAttention, memory,
        mask, cache)`` for a separate cross-attention. Returns (x, self-attention weights, cross-attention
        weights); the weights are None unless ``need_weights``.
        """
        h = self.ln1(x)
        q, m = h, mask
        if at is not None:
            x, q, m = _rows(x, at), _rows(h, at), _mask_rows(mask, at, x.shape[0])
        kv = h if memory is None else torch.cat([memory, h], dim=1)
        a, w = self.attn(q, kv, m, cache=cache, need_weights=need_weights)
        x = x + a
        w2 = None
        if cross is not None:
            xa, mem, cross_mask, cross_cache = cross
            a2, w2 = xa.attn(xa.ln(x), mem, cross_mask, cache=cross_cache, static=True, need_weights=need_weights)
            x = x + a2
        return x + self.mlp(self.ln2(x)), w, w2


class CrossAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_head)


@dataclass(frozen=True)
class ModelConfig:
    architecture: Architecture = "decoder"
    vocab_size: int = VOCAB_SIZE  # MaskLab's BPE; the output head is tied to the token embedding
    n_layer: int = 4  # per stack: an encoder_decoder has n_layer encoder and n_layer decoder layers
    n_head: int = 4  # d_model must divide evenly
    d_model: int = 256
    d_ff: int = 1024
    max_len: int = 512  # learned absolute positions; input + target must fit
    # The four steps from encoder_decoder towards decoder-only; only an encoder_decoder may set them.
    shared_attention: bool = False  # (a) one attention over [input; target] instead of self + cross
    shared_params: bool = False  # (b) decoder layers are the encoder's layers
    layerwise_cross: bool = False  # (c) decoder layer i reads encoder layer i, not the last one
    causal_input: bool = False  # (d) the encoder's self-attention is causal
    # An encoder_decoder's cross-attention bias, learned per layer and head, over the offset between each
    # input position and the sentinel that opened the span a target token writes (-span_bias .. span_bias,
    # one bucket for the rest): where to look need not be found by content. 0: none (see `span_anchors`).
    span_bias: int = 0

    def __post_init__(self):
        check_architecture(self.architecture)
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if min(self.vocab_size, self.n_layer, self.n_head, self.d_model, self.d_ff, self.max_len) < 1:
            raise ValueError("sizes must be positive")
        if self.architecture != "encoder_decoder" and any(self.switches.values()):
            raise ValueError("the switches (a)-(d) only apply to an encoder_decoder")
        if self.span_bias < 0 or (self.span_bias and (self.architecture != "encoder_decoder" or self.shared_attention)):
            raise ValueError("span_bias is a non-negative reach, for an encoder_decoder's separate cross-attention")

    @property
    def switches(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in ("shared_attention", "shared_params", "layerwise_cross", "causal_input")}

    @property
    def needs_encoder_norm(self) -> bool:
        """The encoder's own final norm feeds the separate cross-attention or the last-layer memory."""
        return self.architecture == "encoder_decoder" and not (self.shared_attention and self.layerwise_cross)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "ModelConfig":
        return cls.from_dict(json.loads(s))


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, T, vocab) for the positions that predict: the sequence, or the decoder's
    loss: torch.Tensor | None = None
    # per layer (B, H, T, S) weights, by name: "self" for one stack; "encoder", "decoder", "cross" or
    # "encoder", "joint" (switch a) for an encoder_decoder. Empty unless asked for.
    attentions: dict[str, list[torch.Tensor]] = field(default_factory=dict)


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.d_model)
        self.wpe = nn.Embedding(c.max_len, c.d_model)
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_head, c.d_ff) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model)
        if c.architecture == "encoder_decoder":
            if not c.shared_params:
                self.dec_blocks = nn.ModuleList(Block(c.d_model, c.n_head, c.d_ff) for _ in range(c.n_layer))
            if not c.shared_attention:
                self.cross = nn.ModuleList(CrossAttention(c.d_model, c.n_head) for _ in range(c.n_layer))
            if c.needs_encoder_norm:
                self.ln_enc = nn.LayerNorm(c.d_model)
            if c.span_bias:  # zero: at the start no offset is preferred
                self.span_bias = nn.Parameter(torch.zeros(c.n_layer, c.n_head, 2 * c.span_bias + 2))
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # residual branches scaled down, as in GPT-2
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def decoder_blocks(self) -> nn.ModuleList:
        return self.dec_blocks if hasattr(self, "dec_blocks") else self.blocks

    @property
    def device(self) -> torch.device:
        return self.wte.weight.device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _embed(self, idx, offset: int):
        T = idx.shape[1]
        if offset + T > self.config.max_len:
            raise ValueError(f"sequence of {offset + T} positions exceeds max_len={self.config.max_len}")
        pos = torch.arange(offset, offset + T, device=idx.device)
        return self.wte(idx) + self.wpe(pos)  # (B, T, C)

    def _head(self, x):
        return F.linear(self.ln_f(x), self.wte.weight)  # (B, T, vocab)

    def _stack(self, x, mask, caches, need_weights, weights_out, at=None):
        """Run the shared stack; returns the residual stream entering each layer, and the last.

        With ``at`` (B, K) the last layer answers only the queries at those positions (its keys and
        values still come from every position), and the last state is (B, K, C): what the head reads
        when logits are wanted at a few positions only.
        """
        states = []
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            states.append(x)
            x, w, _ = blk(x, mask, cache=caches[i] if caches else None, need_weights=need_weights, at=at if i == last else None)
            if need_weights:
                weights_out.append(w)
        return states, x

    def forward(self, idx, targets=None, *, decoder_idx=None, n_prefix=None, need_weights=False, cache: KVCache | None = None, at=None,
                mask=None) -> ModelOutput:
        """Logits (and mean loss over labelled positions) for one batch of equal-length sequences.

        ``idx`` (B, T) is the sequence, or the encoder's input for an encoder_decoder (which also takes
        ``decoder_idx`` (B, U) and predicts from the decoder's positions). ``n_prefix`` (int or (B,)) is
        the bidirectional part of a prefix_lm sequence. With ``cache``, causal parts decode
        incrementally: pass the new tokens only; an encoder_decoder needs ``idx`` on the first call only.
        ``at`` (B,) or (B, K) computes logits at those positions of each example only, (B, 1, vocab) or
        (B, K, vocab): scoring one masked token per copy then skips the output head, and the last
        layer's attention and MLP, everywhere else. ``mask`` (T, T) or (B, 1, T, T) bool, True = may attend:
        a single-stack model reads through it in every layer instead of its own rule (mask surgery,
        `engine.scoring.score(..., mask=)`); ValueError with a cache or for an encoder_decoder.
        """
        arch = self.config.architecture
        custom = mask
        if custom is not None and (cache is not None or arch == "encoder_decoder"):
            raise ValueError("a custom mask is for one pass of a single-stack model, without a cache")
        if arch == "encoder_decoder":
            if at is not None:
                raise ValueError("at= is for single-stack models")
            return self._forward_encoder_decoder(idx, decoder_idx, targets, need_weights, cache)
        if decoder_idx is not None:
            raise ValueError(f"decoder_idx is only for an encoder_decoder, not {arch}")
        if cache is not None and arch == "encoder":
            raise ValueError("an encoder has no causal part to cache")
        past = cache.length if cache is not None else 0
        T = idx.shape[1]
        if arch == "encoder":
            mask = prefix_mask(T, T, T, device=idx.device)
        elif arch == "decoder":
            mask = prefix_mask(T, past + T, 0, device=idx.device)
        else:
            if n_prefix is None:
                n_prefix = cache.n_prefix if cache is not None and past else T
            if cache is not None and not past:
                cache.n_prefix = int(n_prefix)
            mask = prefix_mask(T, past + T, n_prefix, device=idx.device)
        if custom is not None:
            mask = custom.to(device=idx.device, dtype=torch.bool)
        weights = []
        if at is not None:
            at = at.reshape(idx.shape[0], -1)  # (B, K)
        # Every layer's full map was asked for: then the last layer keeps all its queries.
        last_at = None if need_weights else at
        _, x = self._stack(self._embed(idx, past), mask, cache.self_attn if cache else None, need_weights, weights, at=last_at)
        if cache is not None:
            cache.length = past + T
        if at is not None and last_at is None:
            x = _rows(x, at)  # (B, K, C)
        logits = self._head(x)
        loss = mean_nll(logits, targets) if targets is not None else None
        return ModelOutput(logits, loss, {"self": weights} if need_weights else {})

    def encode(self, idx, need_weights=False, weights_out=None):
        """The encoder's states: a list with one (B, T, C) memory per decoder layer."""
        c = self.config
        T = idx.shape[1]
        mask = prefix_mask(T, T, 0 if c.causal_input else T, device=idx.device)
        states, last = self._stack(self._embed(idx, 0), mask, None, need_weights, weights_out if weights_out is not None else [])
        if c.layerwise_cross:
            memory = states
            if not c.shared_attention:
                memory = [self.ln_enc(s) for s in states]
        else:
            memory = [self.ln_enc(last)] * c.n_layer
        return memory

    def _forward_encoder_decoder(self, idx, decoder_idx, targets, need_weights, cache):
        c = self.config
        if decoder_idx is None:
            raise ValueError("an encoder_decoder needs decoder_idx (the target side's input)")
        enc_weights, dec_weights, cross_weights = [], [], []
        if cache is not None and cache.memory is not None:
            memory = cache.memory
        else:
            if idx is None:
                raise ValueError("the first call of an encoder_decoder needs the encoder input idx")
            memory = self.encode(idx, need_weights, enc_weights)
            if cache is not None:
                cache.memory = memory
        n_mem = memory[0].shape[1]
        past = cache.length if cache is not None else 0
        U = decoder_idx.shape[1]
        dev = decoder_idx.device
        # Under (a) input and target are one sequence, so the target's positions continue the input's.
        y = self._embed(decoder_idx, past + (n_mem if c.shared_attention else 0))
        if c.shared_attention:
            joint_mask = prefix_mask(U, n_mem + past + U, n_mem, q_offset=n_mem + past, device=dev)
        else:
            self_mask = prefix_mask(U, past + U, 0, device=dev)
            cross_mask = torch.ones(U, n_mem, dtype=torch.bool, device=dev)
            buckets = None
            if c.span_bias:
                slots = cache.sentinel_slots if cache is not None and cache.sentinel_slots is not None else sentinel_slots(idx)
                anchors = span_anchors(decoder_idx, slots, previous=cache.anchor if cache is not None and past else None)
                if cache is not None:
                    cache.sentinel_slots, cache.anchor = slots, anchors[:, -1]
                buckets = span_buckets(anchors, n_mem, c.span_bias)  # (B, U, S)
        for i, blk in enumerate(self.decoder_blocks):
            self_cache = cache.self_attn[i] if cache is not None else None
            if c.shared_attention:
                # On the first call the memory's keys enter the cache ahead of the target's.
                y, w, _ = blk(y, joint_mask, cache=self_cache, need_weights=need_weights, memory=blk.ln1(memory[i]) if not past else None)
            else:
                if buckets is not None:  # (H, B, U, S) -> (B, H, U, S), added to the scores
                    cross_mask = (SPAN_BIAS_SCALE * self.span_bias[i])[:, buckets].transpose(0, 1)
                cross = (self.cross[i], memory[i], cross_mask, cache.cross_attn[i] if cache is not None else None)
                y, w, w2 = blk(y, self_mask, cache=self_cache, need_weights=need_weights, cross=cross)
                if need_weights:
                    cross_weights.append(w2)
            if need_weights:
                dec_weights.append(w)
        if cache is not None:
            cache.length = past + U
        logits = self._head(y)
        loss = mean_nll(logits, targets) if targets is not None else None
        attentions = {}
        if need_weights:
            attentions = {"encoder": enc_weights}
            if c.shared_attention:
                attentions["joint"] = dec_weights
            else:
                attentions["decoder"], attentions["cross"] = dec_weights, cross_weights
        return ModelOutput(logits, loss, attentions)


def build(architecture: str = "decoder", **overrides) -> Transformer:
    """A freshly initialised model; ``build("decoder", n_layer=2, d_model=32)`` for a tiny one."""
    return Transformer(ModelConfig(architecture=architecture, **overrides))


__all__ = ["ARCHITECTURES", "KVCache", "ModelConfig", "ModelOutput", "Transformer", "build"]
