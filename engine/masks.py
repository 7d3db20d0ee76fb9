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

import bisect
import re
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

    def text(self) -> str:
        """The pattern as `parse_pattern` reads it (``parse_pattern(p.text()) == p``): what a link carries."""
        return _text_of(self)

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
    return layer_reach([mask] * n_layers)


# ---------------------------------------------------------------- patterns as text, for a box and a link
# "causal & window(4) | global(2)": & binds tighter than |, ~ tighter than both; names as below.
NAMES = {"causal": "causal", "bidirectional": "bidirectional", "prefix": "prefix_lm", "window": "sliding_window", "chunk": "chunked",
         "dilated": "dilated", "global": "global_tokens", "document": "document"}
_SHORT = {full: short for short, full in NAMES.items()}
_TOKEN = re.compile(r"\s*(?:(?P<name>[a-z_]+)\s*(?:\(\s*(?P<arg>-?\d+)\s*\))?|(?P<sym>[&|~()]))")

PRESETS = {  # the patterns of real models (`parse_layers` texts), at sizes a sentence shows; the name says the real size
    "Causal (a decoder: GPT, Llama)": "causal",
    "Bidirectional (an encoder: BERT)": "bidirectional",
    "Prefix-LM (T5's causal with prefix, UL2)": "prefix(8)",
    "Mistral: sliding window (4,096 tokens in Mistral 7B)": "causal & window(8)",
    "Gemma 3: five local layers to one global (512-token windows)": "5*(causal & window(8)); causal",
    "Longformer: window and global tokens": "window(4) | global(2)",
    "StreamingLLM: attention sinks and a window": "causal & (window(6) | global(2))",
    "Llama 4: chunked attention (8,192-token chunks)": "causal & chunk(8)",
    "Packed documents (document masking)": "causal & document",
    "Dilated (Sparse Transformer's strided heads)": "causal & dilated(3)",
}


def parse_pattern(text: str) -> Pattern:
    """A `Pattern` from its text: names ``causal``, ``bidirectional``, ``prefix(n)``, ``window(w)``,
    ``chunk(c)``, ``dilated(d)``, ``global(g)``, ``document``, combined with ``&``, ``|``, ``~`` and
    parentheses. ValueError saying where and what was expected for anything else.

    >>> parse_pattern("causal & (window(3) | global(1))").text()
    'causal & (window(3) | global(1))'
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a pattern needs at least one name, e.g. causal & window(8)")
    if len(text) > 400:
        raise ValueError("a pattern of more than 400 characters is refused")
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if not text[pos:].strip():
                break
            raise ValueError(f"cannot read {text[pos:].strip()[:20]!r} (at character {pos + 1})")
        tokens.append(m)
        pos = m.end()
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else None

    def expr() -> Pattern:
        nonlocal i
        left = term()
        while peek() is not None and peek()["sym"] == "|":
            i += 1
            left = left | term()
        return left

    def term() -> Pattern:
        nonlocal i
        left = factor()
        while peek() is not None and peek()["sym"] == "&":
            i += 1
            left = left & factor()
        return left

    def factor() -> Pattern:
        nonlocal i
        t = peek()
        if t is None:
            raise ValueError("the pattern ends where a name was expected")
        i += 1
        if t["sym"] == "~":
            return ~factor()
        if t["sym"] == "(":
            inner = expr()
            if peek() is None or peek()["sym"] != ")":
                raise ValueError("a ( is never closed")
            i += 1
            return inner
        if t["sym"]:
            raise ValueError(f"{t['sym']!r} where a name was expected")
        name = t["name"]
        if name not in NAMES and name not in PRIMITIVES:
            raise ValueError(f"unknown name {name!r}; use {', '.join(NAMES)}")
        op = NAMES.get(name, name)
        arg = int(t["arg"]) if t["arg"] is not None else None
        if PRIMITIVES[op][0] is not None and arg is None:
            raise ValueError(f"{name} needs its {PRIMITIVES[op][0]} in parentheses, e.g. {_SHORT[op]}(8)")
        return Pattern(op, arg)

    result = expr()
    if peek() is not None:
        raise ValueError(f"unexpected {(peek()['sym'] or peek()['name'])!r} after a complete pattern")
    return result


def _text_of(p: Pattern, parent: str | None = None) -> str:
    if p.op in ("and", "or"):
        body = f" {'&' if p.op == 'and' else '|'} ".join(_text_of(x, p.op) for x in p.parts)
        return f"({body})" if parent == "and" and p.op == "or" or parent == "not" else body
    if p.op == "not":
        return "~" + _text_of(p.parts[0], "not")
    return _SHORT[p.op] + (f"({p.arg})" if p.arg is not None else "")




def document_ids(text: str, starts: list[int]) -> torch.Tensor:
    r"""Each token's document (n,) int, for tokens starting at character offsets ``starts`` of ``text``:
    documents are separated by a blank line or by ``<|endoftext|>``. How the pages read packed documents
    from a typed text.

    >>> document_ids("one two\n\nthree<|endoftext|>four", [0, 3, 7, 9, 14, 27]).tolist()
    [0, 0, 0, 1, 1, 2]
    """
    seps = [m.end() for m in re.finditer(r"\n[ \t]*\n|<\|endoftext\|>", text)]
    return torch.tensor([bisect.bisect_right(seps, s) for s in starts], dtype=torch.long)


@dataclass(frozen=True)
class PatternCost:
    """What one pattern costs over n tokens: ``pairs`` query-key pairs it computes (of n², the share
    ``pair_share``; causal attention computes n(n+1)/2), ``kv_tokens`` the keys the last token reads (what
    a generating model keeps per layer, per key/value head), and the FlexAttention block counts."""

    n: int
    pairs: int
    pair_share: float
    kv_tokens: int
    blocks: BlockSparsity
    empty_rows: int  # queries that may attend to nothing: attention is undefined there (softmax over no key)


def pattern_cost(mask: torch.Tensor, block: int = 128) -> PatternCost:
    """`PatternCost` of a dense (n, n) mask at FlexAttention block size ``block``."""
    n = mask.shape[0]
    pairs = int(mask.sum())
    return PatternCost(n, pairs, pairs / max(1, n * n), int(mask[-1].sum()) if n else 0, block_sparsity(mask, block), int((~mask.any(1)).sum()))


def layer_reach(masks: list[torch.Tensor]) -> torch.Tensor:
    """`receptive_field` when layers differ (Gemma 3: five sliding-window layers, then a global one):
    ``masks`` (one (n, n) mask per layer, in order) -> (L, n, n) bool."""
    n = masks[0].shape[0]
    reach = masks[0] | torch.eye(n, dtype=torch.bool)
    out = [reach]
    for m in masks[1:]:
        reach = reach | ((m.to(torch.float32) @ reach.to(torch.float32)) > 0)
        out.append(reach)
    return torch.stack(out)


def parse_layers(text: str) -> list[tuple[int, Pattern]]:
    """A cycle of layer patterns: items separated by ``;``, each ``k*pattern`` (k layers of it) or a
    pattern (one layer). Gemma 3's five local layers to one global: ``5*(causal & window(512)); causal``.
    One pattern alone is every layer's. ValueError as `parse_pattern`, or for a count outside 1..64.

    >>> [(k, p.text()) for k, p in parse_layers("5*(causal & window(4)); causal")]
    [(5, 'causal & window(4)'), (1, 'causal')]
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a pattern needs at least one name, e.g. causal & window(8)")
    cycle = []
    for item in text.split(";"):
        m = re.match(r"^\s*(\d+)\s*\*(.*)$", item)
        count, body = (int(m[1]), m[2]) if m else (1, item)
        if not 1 <= count <= 64:
            raise ValueError(f"a layer count must be 1 to 64, not {count}")
        cycle.append((count, parse_pattern(body)))
    return cycle


def layers_text(cycle: list[tuple[int, Pattern]]) -> str:
    """The text `parse_layers` reads back."""
    def item(k: int, p: Pattern) -> str:
        body = p.text()
        return body if k == 1 else f"{k}*({body})" if p.op in OPERATORS else f"{k}*{body}"
    return "; ".join(item(k, p) for k, p in cycle)


def layer_patterns(cycle: list[tuple[int, Pattern]], n_layers: int) -> list[Pattern]:
    """The pattern of each of ``n_layers`` layers, the cycle repeated."""
    flat = [p for k, p in cycle for _ in range(k)]
    return [flat[i % len(flat)] for i in range(n_layers)]


def layers_from_config(layer_types, window: int | None) -> str | None:
    """A published model's own attention pattern, layer by layer, as `parse_layers` text, from its
    config's ``layer_types`` ("sliding_attention" or "full_attention" per layer, as transformers names
    them) and ``window``, its ``sliding_window`` (the query and the keys before it that a sliding layer
    reads: ``window(sliding_window - 1)`` here). The shortest cycle that repeats through the layers. None without layer types.

    >>> layers_from_config(["sliding_attention"] * 5 + ["full_attention"], 512)
    '5*(causal & window(511)); causal'
    """
    if not layer_types:
        return None
    kinds = list(layer_types)
    period = next(p for p in range(1, len(kinds) + 1) if all(kinds[i] == kinds[i % p] for i in range(len(kinds))))
    cycle: list[tuple[int, Pattern]] = []
    for kind in kinds[:period]:
        pattern = causal() & sliding_window(int(window) - 1) if kind == "sliding_attention" and window else causal()
        if cycle and cycle[-1][1] == pattern:
            cycle[-1] = (cycle[-1][0] + 1, pattern)
        else:
            cycle.append((1, pattern))
    return layers_text(cycle)


def layer_window(config, layer: int) -> int | None:
    """The keys one layer of a published model reads back, the query included (its config's
    ``sliding_window``), when the config's ``layer_types`` make ``layer`` (0-based) a sliding-window layer
    (Gemma 3: five of every six, 512 tokens); None for a full layer or a config without layer types.

    >>> class Config: layer_types, sliding_window = ["sliding_attention"] * 5 + ["full_attention"], 512
    >>> layer_window(Config, 0), layer_window(Config, 5)
    (512, None)
    """
    kinds, window = getattr(config, "layer_types", None), getattr(config, "sliding_window", None)
    if kinds and window and 0 <= layer < len(kinds) and kinds[layer] == "sliding_attention":
        return int(window)
    return None
