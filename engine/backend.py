"""One protocol for every model MaskLab shows: what the scoring, attention, generation and cost views
need of a model, and nothing more.

`engine.scoring` writes each algorithm once (next-token windows, pseudo-log-likelihood, one-token
spans, strided masking, sampling with a KV cache) against `Backend`; this module implements it for
MaskLab's own `Transformer` (`MaskLabBackend`) and `engine.hf` implements it for models loaded with
`transformers` (`engine.hf.HFBackend`). This module imports nothing from the modules that use it.

A backend describes its model's own conventions in `Specials`:

- ``start``: the token a text follows when a causal model predicts its first token
  (``<|endoftext|>`` for GPT-2 and MaskLab; a tokenizer's own BOS where it adds one); None: the
  first token has no left context and is not scored;
- ``prefix``/``suffix``: what the tokenizer puts around a text for a bidirectional reader
  (``[CLS] … [SEP]`` for BERT, ``<s> … </s>`` for RoBERTa and BART, ``… </s>`` for T5);
- ``mask``: the masked-LM mask token; ``sentinels``: T5-style span sentinels;
- ``span_style``: how an encoder-decoder was taught to fill a hidden span: ``"sentinel"`` (T5,
  MaskLab: the decoder writes ``<sentinel_i> span_i …``) or ``"reconstruct"`` (BART: each span is one
  ``<mask>`` in the encoder, and the decoder writes the whole original text);
- ``decoder_start``: the token the decoder starts from;
- ``modes``: tokens read before the text (a UL2 prefix-LM's ``<|S|>``);
- ``banned``: ids never sampled (special tokens, logits past the tokenizer's vocabulary);
  ``stop``: ids that end a generated continuation.
"""

import functools
from dataclasses import dataclass, field
from typing import Protocol

import torch

from engine.model import KVCache
from engine.tokenizer import get_encoding, token_strings, tokenize
from engine.vocab import MASKLAB

BATCH_TOKENS = 4_096  # tokens per forward pass of MaskLab's one-copy-per-token methods: big enough matrix products whose operands stay in cache


def as_weights(w: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Attention weights on the CPU in ``dtype``; in a narrower type than they were computed in, a
    weight too small for it is kept at its smallest positive value rather than 0, so that 0 still
    means a pair the mask hides (float16 flushes weights under 6e-8 to 0)."""
    out = w.detach().to("cpu", dtype)
    if dtype != w.dtype:
        out[(out == 0) & (w.detach().cpu() > 0)] = torch.finfo(dtype).smallest_normal if dtype == torch.bfloat16 else torch.tensor(2.0**-24, dtype=dtype)
    return out


@dataclass(frozen=True)
class TextTokens:
    """A text in a model's own tokens: ids, names (the text each token stands for, as shown: " Paris",
    with bytes that are part of a character spelled ``<0xF0>``, for every backend), character spans (-1
    where the tokenizer gives none), surfaces (the text a token stands for, with the whitespace before
    it: what `engine.categories.token_category` reads) and pieces (the tokenizer's own vocabulary
    entries, "ĠParis", "▁Paris", "##is"; the names themselves when None, as for tiktoken)."""

    ids: list[int]
    names: list[str]
    starts: list[int]
    ends: list[int]
    surfaces: list[str]
    pieces: list[str] | None = None


@dataclass(frozen=True)
class Specials:
    start: int | None = None
    prefix: tuple[int, ...] = ()
    suffix: tuple[int, ...] = ()
    mask: int | None = None
    sentinels: tuple[int, ...] = ()
    span_style: str = "sentinel"  # or "reconstruct"
    decoder_start: int | None = None
    eos: int | None = None
    modes: tuple[int, ...] = ()
    banned: tuple[int, ...] = ()
    stop: frozenset = field(default_factory=frozenset)
    span_ids: object = None  # an engine.vocab.SpecialIds for engine.objectives.corrupt (encoder-decoders)


@dataclass
class Generation:
    """State of one continuation: the cache and whatever the backend needs to extend it."""

    cache: object
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    """What every view needs of a model. Shapes: ``x`` (B, T) token ids; ``at`` (B, K) positions;
    logits (B, K, V) or (B, T, V) in the model's dtype; attention maps per layer (H, T, S) float32."""

    architecture: str  # one of engine.masks.ARCHITECTURES
    context: int  # tokens the model reads at once, special tokens included
    vocab_size: int  # rows of the output head
    n_layer: int
    n_head: int  # query heads
    n_kv_head: int  # key/value heads (fewer than n_head under grouped-query attention)
    head_dim: int  # width of one head's keys and values
    layer_windows: tuple  # per layer, the keys a sliding-window layer reads back (query included), None for a full layer
    specials: Specials
    device: torch.device

    def rows_per_batch(self, width: int) -> int:
        """Sequences of ``width`` tokens one forward pass may hold for the one-copy-per-token methods."""
        ...

    def tokens(self, text: str) -> TextTokens: ...

    def names(self, ids: list[int]) -> list[str]: ...

    def decode(self, ids: list[int]) -> str: ...

    def logits(self, x: torch.Tensor, *, at: torch.Tensor | None = None, n_prefix=None, decoder: torch.Tensor | None = None,
               mask: torch.Tensor | None = None) -> torch.Tensor: ...

    def attention_maps(self, x: torch.Tensor, *, n_prefix: int | None = None, decoder: torch.Tensor | None = None,
                       dtype: torch.dtype = torch.float32) -> dict[str, list[torch.Tensor]]: ...

    def prefill(self, ids: list[int], *, n_prefix: int | None = None, encoder_ids: list[int] | None = None) -> tuple[torch.Tensor, Generation]: ...

    def extend(self, ids: list[int], state: Generation) -> torch.Tensor: ...


def gather_rows(logits: torch.Tensor, at: torch.Tensor | None) -> torch.Tensor:
    """Rows ``at`` (B, K) of ``logits`` (B, T, V) -> (B, K, V); all rows when ``at`` is None."""
    if at is None:
        return logits
    at = at.reshape(logits.shape[0], -1)
    return logits[torch.arange(logits.shape[0], device=logits.device)[:, None], at]


@functools.lru_cache(maxsize=64)
def _masklab_tokens(text: str, encoding: str) -> TextTokens:
    """A text in MaskLab's tokens; kept for the last 64 texts, since a page scores a text and reads its
    attention from several models."""
    toks = tokenize(text, encoding)
    enc = get_encoding(encoding)
    surface = {i: enc.decode_single_token_bytes(i).decode("utf-8", "replace") for i in {t.id for t in toks}}
    return TextTokens([t.id for t in toks], [t.text for t in toks], [t.start for t in toks], [t.end for t in toks], [surface[t.id] for t in toks])


class MaskLabBackend:
    """`Backend` for MaskLab's own `engine.model.Transformer` and its tiktoken encoding."""

    def __init__(self, model, encoding: str, objective: str):
        c = model.config
        self.model, self.encoding = model, encoding
        self.architecture = c.architecture
        self.context = int(c.max_len)
        self.vocab_size = int(c.vocab_size)
        self.n_layer = int(c.n_layer)
        self.n_head = self.n_kv_head = int(c.n_head)
        self.head_dim = int(c.d_model) // int(c.n_head)
        self.layer_windows = (None,) * self.n_layer  # every layer reads every key
        ul2_prefix = objective == "ul2" and c.architecture == "prefix_lm"
        self.specials = Specials(
            start=MASKLAB.eos if c.architecture == "decoder" else None,
            suffix=(MASKLAB.eos,) if c.architecture == "encoder_decoder" else (),
            mask=MASKLAB.mask, sentinels=tuple(MASKLAB.sentinels), span_style="sentinel", decoder_start=MASKLAB.bos, eos=MASKLAB.eos,
            modes=(MASKLAB.modes["S"],) if ul2_prefix else (),
            banned=tuple(range(MASKLAB.n_regular, MASKLAB.vocab_size)), stop=frozenset(), span_ids=MASKLAB,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def rows_per_batch(self, width: int) -> int:
        return max(1, BATCH_TOKENS // max(1, width))

    def tokens(self, text: str) -> TextTokens:
        return _masklab_tokens(text, self.encoding)

    def names(self, ids: list[int]) -> list[str]:
        return token_strings(list(ids), self.encoding)

    def decode(self, ids: list[int]) -> str:
        return get_encoding(self.encoding).decode(list(ids), errors="replace")

    def logits(self, x, *, at=None, n_prefix=None, decoder=None, mask=None):
        if decoder is not None:
            return gather_rows(self.model(x, decoder_idx=decoder).logits, at)
        kw = {"n_prefix": n_prefix} if self.architecture == "prefix_lm" and n_prefix is not None else {}
        if mask is not None:
            kw["mask"] = mask
        if at is None:
            return self.model(x, **kw).logits
        return self.model(x, at=at.reshape(x.shape[0], -1), **kw).logits

    def attention_maps(self, x, *, n_prefix=None, decoder=None, dtype=torch.float32):
        if decoder is not None:
            out = self.model(x, decoder_idx=decoder, need_weights=True)
        else:
            kw = {"n_prefix": n_prefix} if self.architecture == "prefix_lm" and n_prefix is not None else {}
            # logits at one position only: the maps are what is wanted, and the head would cost as much again
            out = self.model(x, need_weights=True, at=torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device), **kw)
        return {k: [as_weights(w[0], dtype) for w in v] for k, v in out.attentions.items()}

    def prefill(self, ids, *, n_prefix=None, encoder_ids=None):
        cache = KVCache.empty(self.model.config.n_layer)
        dev = self.device
        if encoder_ids is not None:
            out = self.model(torch.tensor([encoder_ids], device=dev), decoder_idx=torch.tensor([ids], device=dev), cache=cache)
        else:
            kw = {"n_prefix": len(ids) if n_prefix is None else n_prefix} if self.architecture == "prefix_lm" else {}
            out = self.model(torch.tensor([ids], device=dev), cache=cache, **kw)
        return out.logits[0, -1], Generation(cache, {"encdec": encoder_ids is not None})

    def extend(self, ids, state):
        x = torch.tensor([list(ids)], device=self.device)
        out = self.model(None, decoder_idx=x, cache=state.cache) if state.extra["encdec"] else self.model(x, cache=state.cache)
        return out.logits[0, -1]
