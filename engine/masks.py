"""Attention masks: one module, one polarity. ``True`` means "may attend", as in PyTorch's SDPA.

The four architectures come from one rule. Query position ``q`` may attend to key position ``k`` when

    k <= q  or  k < n_prefix

``n_prefix = 0`` gives a causal (decoder) mask, ``n_prefix >= length`` a bidirectional (encoder) one,
anything between a prefix-LM mask. The model builds its masks here, and so do the mask pages.

Beyond the four, the patterns of today's models are composed from FlexAttention ``mask_mod``s
(`Pattern`: `causal`, `bidirectional`, `prefix_lm`, `sliding_window`, `chunked`, `dilated`,
`global_tokens`, `document`, with ``&``, ``|``, ``~``), drawn with `dense`, tiled as FlexAttention's
``BlockMask`` tiles them (`block_sparsity`), and followed through the layers (`receptive_field`). The
four architectures are such patterns too (`architecture_pattern`), and the rule is their special case.
"""

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from engine.checks import check_bool, check_choice, check_int

Architecture = Literal["encoder", "decoder", "prefix_lm", "encoder_decoder"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)


def check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")


def prefix_mask(n_q: int, n_k: int | None = None, n_prefix=0, q_offset: int | None = None, device=None) -> torch.Tensor:
    """Boolean mask (n_q, n_k) for queries at key positions ``q_offset .. q_offset + n_q - 1``.

    ``q_offset`` defaults to ``n_k - n_q``: the queries are the last ``n_q`` keys, which is what an
    incremental decoder with a KV cache needs. ``n_prefix`` may be an int or a (B,) tensor, in which
    case the result is (B, 1, n_q, n_k), one mask per example, ready to broadcast over heads.
    """
    n_k = n_q if n_k is None else n_k
    q_offset = n_k - n_q if q_offset is None else q_offset
    q = torch.arange(q_offset, q_offset + n_q, device=device)[:, None]  # (n_q, 1)
    k = torch.arange(n_k, device=device)[None, :]  # (1, n_k)
    if isinstance(n_prefix, torch.Tensor) and n_prefix.dim() == 1:
        prefix = n_prefix.to(device)[:, None, None, None]  # (B, 1, 1, 1)
        return (k <= q) | (k < prefix)  # (B, 1, n_q, n_k)
    return (k <= q) | (k < int(n_prefix))


def causal_mask(n: int, device=None) -> torch.Tensor:
    return prefix_mask(n, n, 0, device=device)


def full_mask(n_q: int, n_k: int | None = None, device=None) -> torch.Tensor:
    return torch.ones(n_q, n_q if n_k is None else n_k, dtype=torch.bool, device=device)


def attention_masks(architecture: str, n_input: int, n_target: int = 0, *, causal_input: bool = False) -> dict[str, torch.Tensor]:
    """The allowed-attention patterns of an architecture over ``n_input`` input and ``n_target`` target tokens.

    Single-stack architectures see one sequence of ``n_input + n_target`` tokens and return ``{"self": ...}``:
    ``encoder`` is bidirectional, ``decoder`` causal, ``prefix_lm`` bidirectional over the first ``n_input``
    and causal after. ``encoder_decoder`` returns ``encoder`` (n_input x n_input, bidirectional unless
    ``causal_input``), ``decoder`` (n_target x n_target, causal) and ``cross`` (n_target x n_input: every
    target position sees every encoder output).

    >>> attention_masks("prefix_lm", 2, 2)["self"].int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    """
    check_choice("architecture", architecture, ARCHITECTURES)
    n_input = check_int("n_input", n_input, minimum=0)
    n_target = check_int("n_target", n_target, minimum=0)
    check_bool("causal_input", causal_input)
    n = n_input + n_target
    if architecture == "encoder":
        return {"self": full_mask(n)}
    if architecture == "decoder":
        return {"self": causal_mask(n)}
    if architecture == "prefix_lm":
        return {"self": prefix_mask(n, n, n_input)}
    encoder = causal_mask(n_input) if causal_input else full_mask(n_input)
    return {"encoder": encoder, "decoder": causal_mask(n_target), "cross": full_mask(n_target, n_input)}


def joint_mask(architecture: str, n_input: int, n_target: int = 0) -> torch.Tensor:
    """Who may read whom over the whole sequence [input; target], (n, n) with n = n_input + n_target,
    for any architecture: the single stacks' ``self`` mask, and for ``encoder_decoder`` its three masks
    in one matrix: the encoder's rows read the input both ways, the decoder's rows read every input token
    (cross-attention, to the encoder's last layer) and the targets up to themselves. Drawn so, the
    encoder-decoder's pattern is the prefix-LM's: what differs is two stacks of weights.

    >>> joint_mask("encoder_decoder", 2, 2).int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    """
    m = attention_masks(architecture, n_input, n_target)
    if "self" in m:
        return m["self"]
    top = torch.cat([m["encoder"], torch.zeros(n_input, n_target, dtype=torch.bool)], dim=1)
    return torch.cat([top, torch.cat([m["cross"], m["decoder"]], dim=1)], dim=0)


def visible(n_prefix: int, q0: int, q1: int, k0: int, k1: int) -> torch.Tensor:
    """The rule's cells for queries [q0, q1) and keys [k0, k1) of one sequence, (q1 - q0, k1 - k0):
    `prefix_mask` cut to a window (``n_prefix`` 0: causal; at least ``k1``: bidirectional)."""
    return prefix_mask(max(q1 - q0, 0), max(k1, 0), n_prefix, q_offset=q0)[:, k0:]


# ---------------------------------------------------------------- the mask algebra
# Patterns as FlexAttention mask_mods, ``mask_mod(b, h, q_idx, kv_idx) -> bool tensor`` (True: may
# attend), the vocabulary of torch.nn.attention.flex_attention (create_mask, create_block_mask) and of
# attention-gym. A `Pattern` is a small expression: primitives composed with "and", "or" and "not". It
# gives the mask_mod, the Python source of that mask_mod (to copy), and its dense matrix; the four
# architectures are Patterns too (`architecture_pattern`), whose matrices are `joint_mask`'s.

PRIMITIVES = {  # name -> (parameter, what it lets a query q see of key k)
    "causal": (None, "keys up to the query: k <= q"),
    "bidirectional": (None, "every key"),
    "prefix_lm": ("n", "every key of the first n tokens, then the keys up to the query: k <= q or k < n"),
    "sliding_window": ("w", "keys at most w positions away: |q - k| <= w (with causal: the last w + 1 tokens, Mistral's window)"),
    "chunked": ("c", "keys of the query's own block of c tokens (Llama 4's chunked attention)"),
    "dilated": ("d", "every d-th key from the query: (q - k) % d == 0"),
    "global_tokens": ("g", "the first g tokens see every token and every token sees them (Longformer's global tokens, StreamingLLM's sinks)"),
    "document": (None, "keys of the query's own document (packed sequences): doc_ids[q] == doc_ids[k]"),
}
OPERATORS = ("and", "or", "not")


@dataclass(frozen=True)
class Pattern:
    """An attention pattern: a primitive (``op`` in `PRIMITIVES`, ``arg`` its parameter) or ``op`` in
    "and", "or", "not" over ``parts``. Build them with the functions below and ``&``, ``|``, ``~``.

    >>> mistral = causal() & sliding_window(2)
    >>> dense(mistral.mask_mod(), 4).int().tolist()
    [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1]]
    >>> print(mistral.code())
    def mask_mod(b, h, q_idx, kv_idx):
        return (kv_idx <= q_idx) & ((q_idx - kv_idx).abs() <= 2)
    """

    op: str
    arg: int | None = None
    parts: tuple["Pattern", ...] = ()

    def __post_init__(self):
        if self.op in PRIMITIVES:
            if (PRIMITIVES[self.op][0] is None) != (self.arg is None):
                raise ValueError(f"{self.op} takes {'no parameter' if PRIMITIVES[self.op][0] is None else 'a parameter ' + PRIMITIVES[self.op][0]}")
            if self.arg is not None and (isinstance(self.arg, bool) or not isinstance(self.arg, int) or self.arg < (0 if self.op in ("prefix_lm", "sliding_window", "global_tokens") else 1)):
                raise ValueError(f"{self.op}'s {PRIMITIVES[self.op][0]} must be a whole number of tokens, at least {0 if self.op in ('prefix_lm', 'sliding_window', 'global_tokens') else 1}; got {self.arg!r}")
        elif self.op in OPERATORS:
            if len(self.parts) < (1 if self.op == "not" else 2) or (self.op == "not" and len(self.parts) != 1):
                raise ValueError(f"{self.op} takes {'one pattern' if self.op == 'not' else 'two or more patterns'}")
        else:
            raise ValueError(f"unknown pattern {self.op!r}; choose one of {', '.join([*PRIMITIVES, *OPERATORS])}")

    def __and__(self, other: "Pattern") -> "Pattern":
        return Pattern("and", parts=(self, other))

    def __or__(self, other: "Pattern") -> "Pattern":
        return Pattern("or", parts=(self, other))

    def __invert__(self) -> "Pattern":
        return Pattern("not", parts=(self,))

    def uses_documents(self) -> bool:
        return self.op == "document" or any(p.uses_documents() for p in self.parts)

    def mask_mod(self, doc_ids: torch.Tensor | None = None):
        """The FlexAttention ``mask_mod(b, h, q_idx, kv_idx)``; ``doc_ids`` (n,) int: each token's
        document, for `document` (ValueError without it). Composed with torch's ``and_masks`` and
        ``or_masks``."""
        from torch.nn.attention.flex_attention import and_masks, or_masks

        if self.op in OPERATORS:
            mods = [p.mask_mod(doc_ids) for p in self.parts]
            if self.op == "not":
                inner = mods[0]
                return lambda b, h, q_idx, kv_idx: ~inner(b, h, q_idx, kv_idx)
            return (and_masks if self.op == "and" else or_masks)(*mods)
        a = self.arg
        if self.op == "causal":
            return lambda b, h, q_idx, kv_idx: kv_idx <= q_idx
        if self.op == "bidirectional":
            return lambda b, h, q_idx, kv_idx: (q_idx >= 0) & (kv_idx >= 0)
        if self.op == "prefix_lm":
            return lambda b, h, q_idx, kv_idx: (kv_idx <= q_idx) | (kv_idx < a)
        if self.op == "sliding_window":
            return lambda b, h, q_idx, kv_idx: (q_idx - kv_idx).abs() <= a
        if self.op == "chunked":
            return lambda b, h, q_idx, kv_idx: (q_idx // a) == (kv_idx // a)
        if self.op == "dilated":
            return lambda b, h, q_idx, kv_idx: (q_idx - kv_idx) % a == 0
        if self.op == "global_tokens":
            return lambda b, h, q_idx, kv_idx: (q_idx < a) | (kv_idx < a)
        if doc_ids is None:
            raise ValueError("document masking needs doc_ids: each token's document")
        docs = torch.as_tensor(doc_ids)
        return lambda b, h, q_idx, kv_idx: docs[q_idx] == docs[kv_idx]

    def expression(self) -> str:
        """The pattern as one Python expression over ``q_idx`` and ``kv_idx`` (and ``doc_ids``)."""
        if self.op in ("and", "or"):
            return f" {'&' if self.op == 'and' else '|'} ".join(f"({p.expression()})" for p in self.parts)
        if self.op == "not":
            return f"~({self.parts[0].expression()})"
        a = self.arg
        return {
            "causal": "kv_idx <= q_idx",
            "bidirectional": "(q_idx >= 0) & (kv_idx >= 0)",
            "prefix_lm": f"(kv_idx <= q_idx) | (kv_idx < {a})",
            "sliding_window": f"(q_idx - kv_idx).abs() <= {a}",
            "chunked": f"(q_idx // {a}) == (kv_idx // {a})",
            "dilated": f"(q_idx - kv_idx) % {a} == 0",
            "global_tokens": f"(q_idx < {a}) | (kv_idx < {a})",
            "document": "doc_ids[q_idx] == doc_ids[kv_idx]",
        }[self.op]

    def code(self) -> str:
        """Python source of this pattern's mask_mod, ready for ``create_block_mask`` (``doc_ids``, when
        used, is a tensor of each token's document in the caller's scope)."""
        return f"def mask_mod(b, h, q_idx, kv_idx):\n    return {self.expression()}"


def causal() -> Pattern:
    """Keys up to the query (a decoder). ``dense(causal().mask_mod(), 3)``: the lower triangle."""
    return Pattern("causal")


def bidirectional() -> Pattern:
    """Every key (an encoder)."""
    return Pattern("bidirectional")


def prefix_lm(n: int) -> Pattern:
    """The first ``n`` tokens both ways, the rest causal (a prefix-LM; T5's "causal with prefix")."""
    return Pattern("prefix_lm", n)


def sliding_window(w: int) -> Pattern:
    """Keys at most ``w`` positions away, both ways; ``causal() & sliding_window(w)`` is Mistral's window
    (the query and the w tokens before it)."""
    return Pattern("sliding_window", w)


def chunked(c: int) -> Pattern:
    """Blocks of ``c`` tokens see only their own block (Llama 4's chunked attention, with causal)."""
    return Pattern("chunked", c)


def dilated(d: int) -> Pattern:
    """Every ``d``-th key counted from the query (dilated or strided attention, Sparse Transformer)."""
    return Pattern("dilated", d)


def global_tokens(g: int) -> Pattern:
    """The first ``g`` tokens see and are seen by every token (Longformer's global attention; with a
    causal window, StreamingLLM's attention sinks)."""
    return Pattern("global_tokens", g)


def document() -> Pattern:
    """Each token sees only its own document's tokens (several documents packed into one sequence);
    the documents come as ``doc_ids`` to `Pattern.mask_mod`."""
    return Pattern("document")


def architecture_pattern(architecture: str, n_input: int = 0) -> Pattern:
    """The four architectures as patterns over one sequence: their matrices are `joint_mask`'s (an
    encoder-decoder's, drawn over [input; target], is the prefix-LM's)."""
    check_choice("architecture", architecture, ARCHITECTURES)
    return {"encoder": bidirectional(), "decoder": causal()}.get(architecture) or prefix_lm(check_int("n_input", n_input, minimum=0))


def dense(mask_mod, n_q: int, n_k: int | None = None) -> torch.Tensor:
    """The (n_q, n_k) bool matrix of a mask_mod (True: may attend), as ``create_mask(mask_mod, None,
    None, n_q, n_k)[0, 0]`` computes it, by broadcasting the positions once."""
    n_k = n_q if n_k is None else n_k
    q = torch.arange(n_q)[:, None]
    k = torch.arange(n_k)[None, :]
    zero = torch.zeros((), dtype=torch.long)
    return torch.broadcast_to(mask_mod(zero, zero, q, k), (n_q, n_k)).to(torch.bool)


@dataclass(frozen=True)
class BlockSparsity:
    """How FlexAttention tiles a mask: ``grid`` (n_blocks, n_blocks) int8, 0 a block it skips, 1 one it
    computes under the mask (partial), 2 one it computes whole (full); counts of each."""

    block: int
    grid: torch.Tensor
    skipped: int
    partial: int
    full: int

    @property
    def computed_share(self) -> float:
        """Blocks computed, as a share of all: what attention costs against dense, at this block size."""
        return (self.partial + self.full) / max(1, self.grid.numel())


def block_sparsity(mask: torch.Tensor, block: int = 128) -> BlockSparsity:
    """The blocks of ``mask`` (n, n bool) FlexAttention's ``BlockMask`` (``create_block_mask`` with
    ``BLOCK_SIZE=block``) computes: a block with no allowed pair is skipped, one with every pair allowed
    needs no mask. Positions past the last whole block count as a partial block, as in FlexAttention."""
    n_q, n_k = mask.shape
    bq, bk = -(-n_q // block), -(-n_k // block)
    padded = torch.zeros(bq * block, bk * block, dtype=torch.bool)
    padded[:n_q, :n_k] = mask
    tiles = padded.view(bq, block, bk, block).permute(0, 2, 1, 3)
    valid = torch.zeros_like(padded)
    valid[:n_q, :n_k] = True
    valid = valid.view(bq, block, bk, block).permute(0, 2, 1, 3)
    anyv = tiles.any(-1).any(-1)
    allv = (tiles | ~valid).all(-1).all(-1) & valid.all(-1).all(-1)
    grid = torch.where(allv, 2, torch.where(anyv, 1, 0)).to(torch.int8)
    return BlockSparsity(block, grid, int((grid == 0).sum()), int((grid == 1).sum()), int((grid == 2).sum()))


def receptive_field(mask: torch.Tensor, n_layers: int) -> torch.Tensor:
    """Which tokens can influence which after 1..``n_layers`` layers with this mask in every layer:
    (n_layers, n, n) bool, entry [l, q, k] True when information at position k reaches position q by
    the output of layer l + 1. Each layer reads through the mask, and the residual stream keeps what a
    position already had: R_1 = mask | I, R_{l+1} = R_l | (mask @ R_l). A causal window of w reaches
    about l·w tokens back after l layers."""
    n = mask.shape[0]
    m = mask.to(torch.float32)
    reach = (mask | torch.eye(n, dtype=torch.bool))
    out = [reach]
    for _ in range(1, n_layers):
        reach = reach | ((m @ reach.to(torch.float32)) > 0)
        out.append(reach)
    return torch.stack(out)
