"""Per-token scoring, attention maps and generation for MaskLab's own models.

Each architecture is scored the way it was trained to predict:

- ``decoder``: next-token loss, the text preceded by ``<|endoftext|>`` so the first token is scored too;
- ``encoder``: pseudo-log-likelihood: each token replaced by ``<|mask|>`` in turn (one copy per token,
  batched), all other tokens visible;
- ``encoder_decoder``: each token as a one-token masked span: the encoder reads the text with that
  token replaced by a sentinel, and the decoder predicts it after the sentinel, as in training;
- ``prefix_lm``: the tokens after ``split`` given a bidirectional prefix; prefix tokens are context
  and get no loss (``scored`` is False).

Texts longer than the model's context are scored in overlapping windows, so every token keeps at
least half a window of left context.

An encoder's or encoder-decoder's one copy per token makes them the slow ones (the cost grows as
tokens x context). ``score(..., stride=k)`` scores them as they were trained instead: k passes, each
hiding every k-th token at once (k = 7 hides 14%, as BERT and T5 hide 15%), so each token is hidden
exactly once, beside the other hidden ones; an encoder-decoder's decoder writes every hidden token
of a pass after its sentinel, teacher-forced, as in its training loss. With ``k`` at least the
text's length it is the exact one-copy-per-token method.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from engine.categories import token_category
from engine.model import KVCache
from engine.objectives import corrupt
from engine.tokenizer import get_encoding, token_strings, tokenize
from engine.variants import Variant
from engine.vocab import MASKLAB

METHODS = {
    "decoder": "next-token",
    "encoder": "pseudo-log-likelihood",
    "encoder_decoder": "masked span (each token a one-token span)",
    "prefix_lm": "prefix LM (target given a bidirectional prefix)",
}
STRIDED = {
    "encoder": "masked LM: 1 token in {k} hidden per pass, {k} passes",
    "encoder_decoder": "masked spans: 1 token in {k} a one-token span per pass, {k} passes",
}
COLUMNS = ["position", "token", "token_id", "start", "end", "loss", "prob", "rank", "top_k", "method", "category", "scored"]
BATCH = 64  # copies per forward pass for published checkpoints' one-copy-per-token methods (engine.hf)
BATCH_TOKENS = 4_096  # tokens per forward pass of MaskLab's one-copy-per-token methods: big enough matrix products whose operands stay in cache


@dataclass
class Scores:
    """Raw per-token results before they become a DataFrame: log-probs of the actual tokens and more."""

    logprob: np.ndarray  # (n,) float32, NaN where not scored
    rank: np.ndarray  # (n,) int64, 0 where not scored
    top_ids: np.ndarray  # (n, k)
    top_probs: np.ndarray  # (n, k) float32
    scored: np.ndarray  # (n,) bool

    @classmethod
    def empty(cls, n: int, k: int) -> "Scores":
        return cls(np.full(n, np.nan, np.float32), np.zeros(n, np.int64), np.zeros((n, k), np.int64), np.zeros((n, k), np.float32), np.zeros(n, bool))

    def fill(self, start: int, logits: torch.Tensor, actual: torch.Tensor) -> None:
        """Score tokens ``start .. start + N - 1`` from their rows of ``logits`` (N, V)."""
        lp, rank, top_ids, top_p = (t.cpu().numpy() for t in _collect(logits, actual, self.top_ids.shape[1]))
        end = start + len(lp)
        self.logprob[start:end], self.rank[start:end], self.top_ids[start:end], self.top_probs[start:end] = lp, rank, top_ids, top_p
        self.scored[start:end] = True


def _context(variant: Variant) -> int:
    return int(variant.model.config.max_len)


def _collect(logits: torch.Tensor, actual: torch.Tensor, k: int):
    """Per row of ``logits`` (N, V): log-prob and rank of ``actual`` (N,), and the top-k."""
    logp = logits.float().log_softmax(-1)
    lp = logp.gather(1, actual[:, None])[:, 0]
    if logp.device.type == "cpu":  # numpy counts a boolean mask many times faster than torch on a CPU
        rank = torch.from_numpy(np.count_nonzero(logp.numpy() > lp.numpy()[:, None], axis=1) + 1)
    else:
        rank = (logp > lp[:, None]).sum(-1) + 1
    top = logp.topk(k, dim=-1)
    return lp, rank, top.indices, top.values.exp()


def _windows(first: int, end: int, width: int):
    """Chunks (c, a, b): targets [a, b) predicted from the context window [c, b), b - c <= width.

    The first chunk fills a whole window; later ones advance half a window, so every target keeps
    at least half a window of left context. Needs ``first >= 1``: a target is predicted from before.
    Every chunk is ``min(width, end)`` tokens wide, so all of them fit in one batch.
    """
    a, stride = first, max(1, width // 2)
    while a < end:
        b = min(end, max(width if a == first else 0, a + stride))
        yield max(0, b - width), a, b
        a = b


def _score_causal(variant: Variant, ids: list[int], first: int, k: int, prefix: bool) -> Scores:
    """Targets ids[first:] predicted from the position before; a prefix_lm sees each chunk's context
    bidirectionally, a decoder causally. Row j of the result is ids[j]."""
    model, W, dev = variant.model, _context(variant), variant.device
    out = Scores.empty(len(ids), k)
    chunks = list(_windows(first, len(ids), W))
    # The first chunk predicts from nearly all of its positions, later ones from half: two passes, so
    # that the head and the last layer run only where a target is predicted.
    for group in (chunks[:1], chunks[1:]):
        if not group:
            continue
        K = max(b - a for _, a, b in group)
        x = torch.tensor([ids[c:b] for c, _, b in group], device=dev)  # (B, width)
        # position a - 1 - c + j predicts target a + j; a shorter chunk repeats its last one to fill K
        at = torch.tensor([[a - 1 - c + min(j, b - a - 1) for j in range(K)] for c, a, b in group], device=dev)  # (B, K)
        keep = torch.tensor([[j < b - a for j in range(K)] for _, a, b in group], device=dev)  # (B, K)
        targets = torch.tensor([t for _, a, b in group for t in ids[a:b]], device=dev)
        kw = {"n_prefix": torch.tensor([a - c for c, a, _ in group], device=dev)} if prefix else {}
        logits = model(x, at=at, **kw).logits  # (B, K, V)
        out.fill(group[0][1], logits[keep], targets)
    return out


def _score_masked(variant: Variant, ids: list[int], k: int, window: int | None = None) -> Scores:
    """One copy per token with that token hidden: ``<|mask|>`` for an encoder, a sentinel span for an
    encoder_decoder; each copy is a window of the model's context (or of ``window`` tokens, if
    smaller) around its token."""
    model, dev = variant.model, variant.device
    is_ed = variant.architecture == "encoder_decoder"
    W = _context(variant) - 1 if is_ed else _context(variant)  # room for the encoder's EOS
    if window is not None:
        W = max(1, min(W, int(window)))
    n = len(ids)
    w = min(W, n)  # every copy is this wide
    out = Scores.empty(n, k)
    base = torch.tensor(ids, device=dev)
    span = torch.arange(w, device=dev)
    rows = max(1, BATCH_TOKENS // w)
    for s in range(0, n, rows):
        i = torch.arange(s, min(n, s + rows), device=dev)  # (N,) the hidden token of each copy
        c = (i - W // 2).clamp(min=0).clamp(max=max(0, n - W))  # (N,) where each copy starts
        x = base[c[:, None] + span]  # (N, w)
        x[torch.arange(len(i), device=dev), i - c] = MASKLAB.sentinel(0) if is_ed else MASKLAB.mask
        if is_ed:
            x = torch.cat([x, torch.full((len(i), 1), MASKLAB.eos, device=dev)], dim=1)  # (N, w + 1)
            dec = torch.tensor([[MASKLAB.bos, MASKLAB.sentinel(0)]], device=dev).expand(len(i), 2)
            logits = model(x, decoder_idx=dec).logits[:, 1]  # (N, V): the span's first token
        else:
            logits = model(x, at=i - c).logits[:, 0]
        out.fill(s, logits, base[i])
    return out


def _segments(n: int, width: int):
    """(c, a, b): tokens [a, b) are scored inside the window [c, c + min(width, n)); the segments
    tile the text, half a window each, centred in their window away from the text's edges."""
    if n <= width:
        yield 0, 0, n
        return
    seg = max(1, width // 2)
    for a in range(0, n, seg):
        b = min(n, a + seg)
        yield min(max(0, a - (width - seg) // 2), n - width), a, b


def strided_copies(n: int, width: int, stride: int) -> list[tuple[int, list[int], list[int]]]:
    """The copies of ``_score_strided``: (window start, positions hidden, positions scored), each
    window ``min(width, n)`` wide; every position is scored in exactly one copy."""
    w, copies = min(width, n), []
    for c, a, b in _segments(n, width):
        for r in range(stride):
            hidden = list(range(c + (r - c) % stride, c + w, stride))
            scored = [p for p in hidden if a <= p < b]
            if scored:
                copies.append((c, hidden, scored))
    return copies


def _score_strided(variant: Variant, ids: list[int], k: int, stride: int) -> Scores:
    """``stride`` passes per window, pass r hiding every token whose position is r modulo ``stride``
    (``<|mask|>`` for an encoder; a sentinel each, in order, for an encoder_decoder); each token is
    scored in the pass that hides it, inside its segment's window."""
    model, dev = variant.model, variant.device
    is_ed = variant.architecture == "encoder_decoder"
    W = _context(variant) - 1 if is_ed else _context(variant)
    n = len(ids)
    w = min(W, n)
    if is_ed and -(-w // stride) > len(MASKLAB.sentinels):
        raise ValueError(f"stride {stride} hides up to {-(-w // stride)} tokens per window, but there are only {len(MASKLAB.sentinels)} sentinels; use a stride of at least {-(-w // len(MASKLAB.sentinels))}")
    out = Scores.empty(n, k)
    base = torch.tensor(ids, device=dev)
    copies = strided_copies(n, W, stride)
    rows = max(1, BATCH_TOKENS // (w + 1))
    logits_all, actual_all, where_all = [], [], []
    for s in range(0, len(copies), rows):
        group = copies[s : s + rows]
        x = torch.stack([base[c : c + w] for c, _, _ in group])  # (B, w)
        K = max(len(sc) for _, _, sc in group)
        if is_ed:
            m = max(len(h) for _, h, _ in group)
            dec = torch.full((len(group), 2 * m), MASKLAB.eos, device=dev)  # padding after the last span: a causal decoder never sees it
            at = torch.zeros(len(group), K, dtype=torch.long, device=dev)
            for j, (c, hidden, scored) in enumerate(group):
                sentinels = torch.tensor([MASKLAB.sentinel(i) for i in range(len(hidden))], device=dev)
                h = torch.tensor(hidden, device=dev)
                x[j, h - c] = sentinels
                dec[j, 0] = MASKLAB.bos
                dec[j, 1 : 2 * len(hidden) : 2] = sentinels
                dec[j, 2 : 2 * len(hidden) : 2] = base[h][:-1]
                first = hidden.index(scored[0])
                at[j] = 1 + 2 * (first + torch.arange(K, device=dev).clamp(max=len(scored) - 1))
            x = torch.cat([x, torch.full((len(group), 1), MASKLAB.eos, device=dev)], dim=1)
            logits = model(x, decoder_idx=dec).logits  # (B, 2m, V)
            logits = logits[torch.arange(len(group), device=dev)[:, None], at]  # (B, K, V)
        else:
            at = torch.zeros(len(group), K, dtype=torch.long, device=dev)
            for j, (c, hidden, scored) in enumerate(group):
                x[j, torch.tensor(hidden, device=dev) - c] = MASKLAB.mask
                at[j] = torch.tensor(scored, device=dev)[torch.arange(K, device=dev).clamp(max=len(scored) - 1)] - c
            logits = model(x, at=at).logits  # (B, K, V)
        keep = torch.tensor([[i < len(sc) for i in range(K)] for _, _, sc in group], device=dev)
        logits_all.append(logits[keep])
        where = torch.tensor([p for _, _, sc in group for p in sc], device=dev)
        where_all.append(where)
        actual_all.append(base[where])
    where = torch.cat(where_all)
    order = where.argsort()
    assert torch.equal(where[order], torch.arange(n, device=dev)), "every token is scored exactly once"
    out.fill(0, torch.cat(logits_all)[order], torch.cat(actual_all)[order])
    return out


@torch.inference_mode()
def score(variant: Variant, text: str, top_k: int = 5, split: int | None = None, window: int | None = None, stride: int | None = None) -> pd.DataFrame:
    """One row per token of ``text`` with its loss (nats), probability, rank and top-k predictions.

    ``window`` caps the tokens each copy holds for the one-copy-per-token methods (encoder,
    encoder_decoder); by default a copy is the model's whole context. Their cost grows as tokens x
    copy width: a window of 64 instead of a context of 320 runs a fifth of the token positions on a
    long text, and each token loses the context further than about 32 tokens away. A text that fits
    in the window is scored exactly as without it.

    ``stride`` (encoder, encoder_decoder) scores them as they were trained instead: ``stride`` passes,
    each hiding every ``stride``-th token at once (see the module's docstring); ``window`` is then unused.
    """
    if variant.source == "huggingface":
        from engine import hf

        return hf.score(variant, text, top_k)
    tokens = tokenize(text, variant.encoding)
    ids = [t.id for t in tokens]
    n = len(ids)
    arch = variant.architecture
    method = METHODS[arch]
    s = Scores.empty(n, top_k)
    if n:
        if arch == "decoder":
            full = _score_causal(variant, [MASKLAB.eos] + ids, 1, top_k, prefix=False)
            s = Scores(full.logprob[1:], full.rank[1:], full.top_ids[1:], full.top_probs[1:], full.scored[1:])
        elif arch == "prefix_lm":
            split = max(1, min(n - 1, n // 2 if split is None else int(split))) if n > 1 else 1
            method = f"prefix LM: {split} prefix token(s) as bidirectional context, the rest scored"
            mode = _mode_tokens(variant)
            if mode:  # a UL2 model reads its sequential denoiser's mode token first, as in training
                method = f"prefix LM after UL2's <|S|> mode token: {split} prefix token(s) as bidirectional context, the rest scored"
            full = _score_causal(variant, mode + ids, split + len(mode), top_k, prefix=True)
            s = Scores(*(a[len(mode):] for a in (full.logprob, full.rank, full.top_ids, full.top_probs, full.scored)))
        elif stride is not None:
            stride = int(stride)
            if stride < 1:
                raise ValueError(f"stride must be at least 1, not {stride}")
            method = STRIDED[arch].format(k=stride)
            s = _score_strided(variant, ids, top_k, stride)
        else:
            s = _score_masked(variant, ids, top_k, window)
    return _frame(tokens, s, method, variant.encoding)


def _mode_tokens(variant: Variant) -> list[int]:
    """``[<|S|>]`` for a prefix-LM trained on the UL2 mixture: its prefix-LM (sequential) denoiser
    always began with that mode token. Nothing for any other model."""
    return [MASKLAB.modes["S"]] if variant.objective == "ul2" and variant.architecture == "prefix_lm" else []


def _frame(tokens, s: Scores, method: str, encoding: str) -> pd.DataFrame:
    """The DataFrame of ``score``, built a column at a time; each distinct id is decoded once."""
    if not tokens:
        return pd.DataFrame([], columns=COLUMNS)
    enc = get_encoding(encoding)
    ids = [t.id for t in tokens]
    category = {i: token_category(enc.decode_single_token_bytes(i).decode("utf-8", "replace")) for i in set(ids)}
    shown = np.unique(s.top_ids[s.scored])
    name = dict(zip(shown.tolist(), token_strings(shown.tolist(), encoding)))
    top_k = [
        [(name[i], p) for i, p in zip(row_ids, row_p)] if ok else []
        for row_ids, row_p, ok in zip(s.top_ids.tolist(), s.top_probs.tolist(), s.scored.tolist())
    ]
    lp = s.logprob.astype(np.float64)
    return pd.DataFrame(
        {
            "position": [t.index for t in tokens],
            "token": [t.text for t in tokens],
            "token_id": ids,
            "start": [t.start for t in tokens],
            "end": [t.end for t in tokens],
            "loss": -lp,
            "prob": np.exp(s.logprob).astype(np.float64),
            "rank": s.rank,
            "top_k": top_k,
            "method": [method] * len(tokens),
            "category": [category[i] for i in ids],
            "scored": s.scored,
        },
        columns=COLUMNS,
    )


def summarize(df: pd.DataFrame) -> dict:
    scored = df[df["scored"].astype(bool)]
    return {
        "tokens": len(df),
        "scored": len(scored),
        "total_loss": float(scored["loss"].sum()),
        "mean_loss": float(scored["loss"].mean()) if len(scored) else float("nan"),
        "perplexity": float(np.exp(scored["loss"].mean())) if len(scored) else float("nan"),
        "top1_accuracy": float((scored["rank"] == 1).mean()) if len(scored) else float("nan"),
    }


def by_category(df: pd.DataFrame) -> pd.DataFrame:
    scored = df[df["scored"].astype(bool)]
    g = scored.groupby("category")["loss"].agg(["count", "mean"]).reset_index()
    return g.rename(columns={"mean": "mean_loss"}).sort_values("mean_loss")


@dataclass
class AttentionResult:
    maps: dict[str, list[torch.Tensor]]  # name -> per layer (H, T, S) weights
    query_tokens: dict[str, list[str]]
    key_tokens: dict[str, list[str]]
    note: str = ""
    span_origin: list[tuple[int, int]] | None = None  # encoder_decoder: the encoder span each sentinel replaced


@torch.inference_mode()
def attention(variant: Variant, text: str, max_tokens: int = 256, split: int | None = None, seed: int = 0) -> AttentionResult:
    """Learned attention weights per layer and head over the user's tokens (the first ``max_tokens``).

    An encoder_decoder is shown on a span-corrupted copy of the text, as it was trained: its encoder
    reads the text with sentinels, its decoder writes the spans, and cross-attention shows where each
    sentinel looks in the encoder.
    """
    if variant.source == "huggingface":
        from engine import hf

        return hf.attention(variant, text, max_tokens)
    ids = [t.id for t in tokenize(text, variant.encoding)][: min(max_tokens, _context(variant) - 16)]
    names = lambda xs: token_strings(list(xs), variant.encoding)  # noqa: E731
    model = variant.model
    if not ids:
        return AttentionResult({}, {}, {}, "no tokens")
    if variant.architecture == "encoder_decoder":
        c = corrupt(ids, "span_corruption", seed=seed)
        out = model(torch.tensor([c.inputs], device=variant.device), decoder_idx=torch.tensor([c.decoder_inputs], device=variant.device), need_weights=True)
        maps = {k: [w[0].float().cpu() for w in v] for k, v in out.attentions.items()}
        enc, dec = names(c.inputs), names(c.decoder_inputs)
        q = {"encoder": enc, "decoder": dec, "cross": dec, "joint": dec}
        kk = {"encoder": enc, "decoder": dec, "cross": enc, "joint": enc + dec}
        return AttentionResult(maps, {k: q[k] for k in maps}, {k: kk[k] for k in maps}, f"span corruption, seed {seed}", c.span_origin)
    kw = {}
    note = ""
    if variant.architecture == "prefix_lm":
        n_prefix = max(1, min(len(ids), len(ids) // 2 if split is None else int(split)))
        kw["n_prefix"] = n_prefix
        note = f"prefix of {n_prefix} token(s)"
    # logits at one position only: the maps are what is wanted, and the output head would cost as much again
    at = torch.zeros(1, dtype=torch.long, device=variant.device)
    out = model(torch.tensor([ids], device=variant.device), need_weights=True, at=at, **kw)
    labels = names(ids)
    return AttentionResult({"self": [w[0].float().cpu() for w in out.attentions["self"]]}, {"self": labels}, {"self": labels}, note)


@dataclass
class GenerationResult:
    prompt: str
    text: str  # the continuation only
    tokens: list[str]
    method: str


def _sample(logits: torch.Tensor, temperature: float, top_k: int, g: torch.Generator, banned: list[int]) -> int:
    logits = logits.float().clone()
    logits[banned] = float("-inf")
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k and top_k < logits.numel():
        kth = logits.topk(top_k).values[-1]
        logits[logits < kth] = float("-inf")
    return int(torch.multinomial(logits.softmax(-1).cpu(), 1, generator=g))


@torch.inference_mode()
def generate(variant: Variant, text: str, max_new_tokens: int = 20, temperature: float = 1.0, top_k: int = 20, seed: int = 0) -> GenerationResult:
    """Continue ``text`` token by token with a KV cache. ``temperature`` 0 is greedy.

    A decoder continues after ``<|endoftext|>`` + text; a prefix_lm reads the text as its bidirectional
    prefix; an encoder_decoder reads "text <sentinel_0>" and writes the span behind the sentinel, the
    way it learned to fill spans. An encoder-only model has no causal part and cannot generate.
    """
    arch = variant.architecture
    if arch == "encoder":
        raise ValueError("an encoder-only model cannot generate: every position attends to every other, so there is no left-to-right order to extend; it can only fill masked positions in place")
    if variant.source == "huggingface":
        from engine import hf

        return hf.generate(variant, text, max_new_tokens, temperature, top_k, seed)
    model, dev = variant.model, variant.device
    W = _context(variant)
    ids = [t.id for t in tokenize(text, variant.encoding)]
    g = torch.Generator().manual_seed(seed)
    special = list(range(MASKLAB.n_regular, MASKLAB.vocab_size))
    cache = KVCache.empty(model.config.n_layer)
    new: list[int] = []
    if arch == "encoder_decoder":
        enc_in = ids[-(W - 2) :] + [MASKLAB.sentinel(0), MASKLAB.eos]
        logits = model(torch.tensor([enc_in], device=dev), decoder_idx=torch.tensor([[MASKLAB.bos, MASKLAB.sentinel(0)]], device=dev), cache=cache).logits[0, -1]
        budget = min(max_new_tokens, W - 2)
        method = "span filling: the text, then <|sentinel_0|>; the decoder writes the span"
    else:
        mode = _mode_tokens(variant)
        ctx = ([MASKLAB.eos] if arch == "decoder" else []) + ids
        budget = min(max_new_tokens, max(0, W - 1 - len(mode)))
        ctx = mode + (ctx[-(W - budget - len(mode)) :] if len(ctx) + len(mode) + budget > W else ctx)
        if not ctx:
            ctx = [MASKLAB.eos]
        kw = {"n_prefix": len(ctx)} if arch == "prefix_lm" else {}
        logits = model(torch.tensor([ctx], device=dev), cache=cache, **kw).logits[0, -1]
        method = "next-token sampling" if arch == "decoder" else "prefix LM: the text as a bidirectional prefix, then causal sampling"
        if mode:
            method = "prefix LM after UL2's <|S|> mode token: the text as a bidirectional prefix, then causal sampling"
    for _ in range(budget):
        nxt = _sample(logits, temperature, top_k, g, special)
        new.append(nxt)
        x = torch.tensor([[nxt]], device=dev)
        logits = (model(None, decoder_idx=x, cache=cache) if arch == "encoder_decoder" else model(x, cache=cache)).logits[0, -1]
    enc = get_encoding(variant.encoding)
    return GenerationResult(text, enc.decode(new, errors="replace"), token_strings(new, variant.encoding), method)
