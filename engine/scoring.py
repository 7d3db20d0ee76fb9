"""Per-token scoring, attention maps and generation, written once for every model through
`engine.backend.Backend`: MaskLab's own variants and published checkpoints (`engine.hf`) alike.

Each architecture is scored the way it was trained to predict:

- ``decoder``: next-token loss, the text preceded by the model's start token (``<|endoftext|>`` for
  MaskLab and GPT-2) so the first token is scored too;
- ``encoder``: pseudo-log-likelihood (Salazar et al., 2020, "Masked Language Model Scoring"): each
  token replaced by the mask token in turn (one copy per token, batched), all other tokens visible,
  inside the model's own frame (``[CLS] … [SEP]`` for BERT);
- ``encoder_decoder``: each token as a one-token masked span: the encoder reads the text with that
  token replaced by a sentinel (T5, MaskLab) and the decoder predicts it after the sentinel, or with a
  ``<mask>`` while the decoder rewrites the text (BART's text infilling), as in training;
- ``prefix_lm``: the tokens after ``split`` given a bidirectional prefix; prefix tokens are context
  and get no loss (``scored`` is False).

Texts longer than the model's context are scored in overlapping windows, so every token keeps at
least half a window of left context.

An encoder's or encoder-decoder's one copy per token makes them the slow ones (the cost grows as
tokens x context). ``score(..., stride=k)`` scores them as they were trained instead: k passes, each
hiding every k-th token at once (k = 7 hides 14%, as BERT and T5 hide 15%), so each token is hidden
exactly once, beside the other hidden ones; an encoder-decoder's decoder writes every hidden token
of a pass after its sentinel, teacher-forced, as in its training loss.

Every option works for every model or is refused with the reason: ``split`` is a prefix-LM's prefix
length; ``stride`` is for the masked methods; ``window`` caps the tokens any pass reads. With ``k`` at least the
text's length it is the exact one-copy-per-token method.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from engine.backend import Backend, TextTokens
from engine.categories import token_categories
from engine.checks import MIN_TEMPERATURE, check_int, check_optional_int, check_temperature, check_text, check_top_k, is_greedy
from engine.objectives import corrupt
from engine.variants import Variant

METHODS = {  # the exact method of each architecture, in words
    "decoder": "next-token",
    "encoder": "pseudo-log-likelihood",
    "encoder_decoder": "masked span (each token a one-token span)",
    "prefix_lm": "prefix LM (target given a bidirectional prefix)",
}
STRIDED = {  # the masked methods scored as trained, in words; {k}: the stride
    "encoder": "masked LM: 1 token in {k} hidden per pass, {k} passes",
    "encoder_decoder": "masked spans: 1 token in {k} hidden as a one-token span per pass, {k} passes",
}


@dataclass(frozen=True)
class ScoringMethod:
    """How a text was scored, as fields a table reads and as the sentence a caption or a CSV shows.

    ``architecture``: the model's; ``stride``: the masked methods scored as trained, 1 token in
    ``stride`` hidden per pass (None: one copy per token); ``prefix_tokens``: a prefix-LM's bidirectional
    prefix, in tokens; ``mode_token``: the UL2 mode token a prefix-LM reads before the text.
    `score` puts one in its DataFrame's ``attrs["scoring"]`` (`scoring_method` reads it back).

    >>> ScoringMethod("encoder", stride=7).short
    'masked LM, 1 in 7 hidden'
    >>> ScoringMethod("prefix_lm", prefix_tokens=4, mode_token="[S2S]").sentence
    "prefix LM after UL2's [S2S] mode token: 4 prefix token(s) as bidirectional context, the rest scored"
    """

    architecture: str
    stride: int | None = None
    prefix_tokens: int | None = None
    mode_token: str | None = None

    @property
    def sentence(self) -> str:
        """The method in full, as the DataFrame's ``method`` column and the CSV carry it."""
        if self.stride is not None:
            return STRIDED[self.architecture].format(k=self.stride)
        if self.prefix_tokens is not None:
            after = f" after UL2's {self.mode_token} mode token" if self.mode_token else ""
            return f"prefix LM{after}: {self.prefix_tokens} prefix token(s) as bidirectional context, the rest scored"
        return METHODS[self.architecture]

    @property
    def short(self) -> str:
        """The method in a few words, for a table ("masked LM, 1 in 7 hidden", "prefix LM, 12-token prefix, UL2 mode")."""
        head = self.sentence.split(":")[0].split(" (")[0].split(" after")[0]
        parts = [head]
        if self.stride is not None:
            parts.append(f"1 in {self.stride} hidden")
        if self.prefix_tokens is not None:
            parts.append(f"{self.prefix_tokens}-token prefix")
        if self.mode_token:
            parts.append("UL2 mode")
        return ", ".join(parts)


def scoring_method(df: pd.DataFrame) -> ScoringMethod | None:
    """The `ScoringMethod` of a frame `score` returned (None for a frame built otherwise)."""
    return df.attrs.get("scoring")


# token: the text the token stands for (" Paris"), for every model; piece: the tokenizer's own vocabulary entry
# ("ĠParis" for byte-level BPE, "▁Paris" for SentencePiece; the same as token for MaskLab's tiktoken encodings)
COLUMNS = ["position", "token", "token_id", "start", "end", "loss", "prob", "rank", "top_k", "method", "category", "scored", "piece"]
PROGRESS_DELAY_S = 3.0  # a progress bar appears when scoring runs longer than this


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

    def drop(self, n: int) -> "Scores":
        """Without the first ``n`` rows (a start or mode token read before the text)."""
        return Scores(*(a[n:] for a in (self.logprob, self.rank, self.top_ids, self.top_probs, self.scored)))


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


def _progress(total: int, desc: str):
    """A tqdm bar that shows itself only when the work outlasts `PROGRESS_DELAY_S`; closed on any exit,
    KeyboardInterrupt included."""
    return tqdm(total=total, desc=desc, unit="pass", delay=PROGRESS_DELAY_S, leave=False)


def windows(first: int, end: int, width: int):
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


def _score_causal(b: Backend, ids: list[int], first: int, k: int, prefix: bool, W: int, mask: torch.Tensor | None = None) -> Scores:
    """Targets ids[first:] predicted from the position before, in windows of ``W``; a prefix_lm sees
    each chunk's context bidirectionally, a decoder causally; with ``mask`` (len(ids), len(ids)) bool,
    every chunk reads through its own square of it instead. Row j of the result is ids[j]."""
    dev = b.device
    out = Scores.empty(len(ids), k)
    chunks = list(windows(first, len(ids), W))
    # The first chunk predicts from nearly all of its positions, later ones from half: batches of
    # equal-width chunks, so that the head and the last layer run only where a target is predicted.
    groups = [chunks[:1]] + [chunks[i : i + max(1, b.rows_per_batch(W))] for i in range(1, len(chunks), max(1, b.rows_per_batch(W)))]
    with _progress(len(chunks), f"scoring {len(ids) - first} tokens in {len(chunks)} window(s)") as bar:
        for group in groups:
            if not group:
                continue
            K = max(e - a for _, a, e in group)
            x = torch.tensor([ids[c:e] for c, _, e in group], device=dev)  # (B, width)
            # position a - 1 - c + j predicts target a + j; a shorter chunk repeats its last one to fill K
            at = torch.tensor([[a - 1 - c + min(j, e - a - 1) for j in range(K)] for c, a, e in group], device=dev)  # (B, K)
            keep = torch.tensor([[j < e - a for j in range(K)] for _, a, e in group], device=dev)  # (B, K)
            targets = torch.tensor([t for _, a, e in group for t in ids[a:e]], device=dev)
            n_prefix = torch.tensor([a - c for c, a, _ in group], device=dev) if prefix and mask is None else None
            kw = {"mask": torch.stack([mask[c:e, c:e] for c, _, e in group])[:, None]} if mask is not None else {}  # (B, 1, w, w)
            logits = b.logits(x, at=at, n_prefix=n_prefix, **kw)  # (B, K, V)
            out.fill(group[0][1], logits[keep], targets)
            bar.update(len(group))
    return out


def _frame_ids(b: Backend, x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, w) inside the model's own frame: prefix + x + suffix (``[CLS] … [SEP]``, ``… </s>``)."""
    sp, N = b.specials, x.shape[0]
    parts = [torch.tensor(sp.prefix, dtype=x.dtype, device=x.device).expand(N, -1), x, torch.tensor(sp.suffix, dtype=x.dtype, device=x.device).expand(N, -1)]
    return torch.cat(parts, dim=1)


def _reconstruct_decoder(b: Backend, original: torch.Tensor) -> torch.Tensor:
    """BART's decoder input for a framed original text (N, L): the decoder start, then the text shifted
    right; position p predicts token p of the framed original."""
    start = torch.full((original.shape[0], 1), b.specials.decoder_start, dtype=original.dtype, device=original.device)
    return torch.cat([start, original[:, :-1]], dim=1)


def _masked_width(b: Backend, window: int | None) -> int:
    sp = b.specials
    W = b.context - len(sp.prefix) - len(sp.suffix)
    if window is not None:
        W = min(W, int(window))
    return max(1, W)


def _score_masked(b: Backend, ids: list[int], k: int, window: int | None = None) -> Scores:
    """One copy per token with that token hidden (the mask token, or a one-token span for an
    encoder_decoder); each copy is a window of the model's context (or of ``window`` tokens, if
    smaller) around its token, inside the model's own frame."""
    sp, dev = b.specials, b.device
    is_ed = b.architecture == "encoder_decoder"
    W = _masked_width(b, window)
    n = len(ids)
    w = min(W, n)  # every copy is this wide
    out = Scores.empty(n, k)
    base = torch.tensor(ids, device=dev)
    span = torch.arange(w, device=dev)
    rows = b.rows_per_batch(w + len(sp.prefix) + len(sp.suffix))
    hole = sp.sentinels[0] if is_ed and sp.span_style == "sentinel" else sp.mask
    with _progress(n, f"scoring {n} tokens, one masked copy each") as bar:
        for s in range(0, n, rows):
            i = torch.arange(s, min(n, s + rows), device=dev)  # (N,) the hidden token of each copy
            c = (i - W // 2).clamp(min=0).clamp(max=max(0, n - W))  # (N,) where each copy starts
            original = base[c[:, None] + span]  # (N, w)
            x = original.clone()
            x[torch.arange(len(i), device=dev), i - c] = hole
            pos = i - c + len(sp.prefix)  # the hidden token's position in the framed copy
            if not is_ed:
                logits = b.logits(_frame_ids(b, x), at=pos[:, None])[:, 0]
            elif sp.span_style == "sentinel":
                dec = torch.tensor([[sp.decoder_start, sp.sentinels[0]]], device=dev).expand(len(i), 2)
                logits = b.logits(_frame_ids(b, x), decoder=dec, at=torch.ones(len(i), 1, dtype=torch.long, device=dev))[:, 0]  # the span's first token
            else:
                dec = _reconstruct_decoder(b, _frame_ids(b, original))
                logits = b.logits(_frame_ids(b, x), decoder=dec, at=pos[:, None])[:, 0]
            out.fill(s, logits, base[i])
            bar.update(len(i))
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


def _score_strided(b: Backend, ids: list[int], k: int, stride: int, window: int | None = None) -> Scores:
    """``stride`` passes per window, pass r hiding every token whose position is r modulo ``stride``
    (the mask token for an encoder; a sentinel each, in order, for a T5-style encoder_decoder; a
    ``<mask>`` each for BART, whose decoder rewrites the text); each token is scored in the pass that
    hides it, inside its segment's window."""
    sp, dev = b.specials, b.device
    is_ed = b.architecture == "encoder_decoder"
    sentinel = is_ed and sp.span_style == "sentinel"
    W = _masked_width(b, window)
    n = len(ids)
    w = min(W, n)
    if sentinel and -(-w // stride) > len(sp.sentinels):
        raise ValueError(f"stride {stride} hides up to {-(-w // stride)} tokens per window, but the model has only {len(sp.sentinels)} sentinels; use a stride of at least {-(-w // len(sp.sentinels))}")
    out = Scores.empty(n, k)
    base = torch.tensor(ids, device=dev)
    copies = strided_copies(n, W, stride)
    rows = b.rows_per_batch(w + len(sp.prefix) + len(sp.suffix))
    P = len(sp.prefix)
    logits_all, actual_all, where_all = [], [], []
    with _progress(len(copies), f"scoring {n} tokens in {len(copies)} passes, 1 in {stride} hidden") as bar:
        for s in range(0, len(copies), rows):
            group = copies[s : s + rows]
            original = torch.stack([base[c : c + w] for c, _, _ in group])  # (B, w)
            x = original.clone()
            K = max(len(sc) for _, _, sc in group)
            at = torch.zeros(len(group), K, dtype=torch.long, device=dev)
            if sentinel:
                m = max(len(h) for _, h, _ in group)
                dec = torch.full((len(group), 2 * m), sp.eos, device=dev)  # padding after the last span: a causal decoder never sees it
                for j, (c, hidden, scored) in enumerate(group):
                    sentinels = torch.tensor(sp.sentinels[: len(hidden)], device=dev)
                    h = torch.tensor(hidden, device=dev)
                    x[j, h - c] = sentinels
                    dec[j, 0] = sp.decoder_start
                    dec[j, 1 : 2 * len(hidden) : 2] = sentinels
                    dec[j, 2 : 2 * len(hidden) : 2] = base[h][:-1]
                    first = hidden.index(scored[0])
                    at[j] = 1 + 2 * (first + torch.arange(K, device=dev).clamp(max=len(scored) - 1))
                logits = b.logits(_frame_ids(b, x), decoder=dec, at=at)  # (B, K, V)
            else:
                for j, (c, hidden, scored) in enumerate(group):
                    x[j, torch.tensor(hidden, device=dev) - c] = sp.mask
                    at[j] = torch.tensor(scored, device=dev)[torch.arange(K, device=dev).clamp(max=len(scored) - 1)] - c + P
                if is_ed:  # BART: the decoder rewrites the framed original
                    logits = b.logits(_frame_ids(b, x), decoder=_reconstruct_decoder(b, _frame_ids(b, original)), at=at)
                else:
                    logits = b.logits(_frame_ids(b, x), at=at)  # (B, K, V)
            keep = torch.tensor([[i < len(sc) for i in range(K)] for _, _, sc in group], device=dev)
            logits_all.append(logits[keep])
            where = torch.tensor([p for _, _, sc in group for p in sc], device=dev)
            where_all.append(where)
            actual_all.append(base[where])
            bar.update(len(group))
    where = torch.cat(where_all)
    order = where.argsort()
    assert torch.equal(where[order], torch.arange(n, device=dev)), "every token is scored exactly once"
    out.fill(0, torch.cat(logits_all)[order], torch.cat(actual_all)[order])
    return out


def _backend(variant) -> Backend:
    """The model's `engine.backend.Backend`, or TypeError naming ``variant`` when it is no model."""
    b = getattr(variant, "backend", None)
    if b is None:
        raise TypeError(f"variant must be a model from engine.load_variant(name), not {type(variant).__name__}")
    return b


def _check_options(arch: str, split, window, stride) -> None:
    """Every option of `score` means something for the model, or is refused with the reason."""
    split = check_optional_int("split", split, minimum=0)
    window = check_optional_int("window", window)
    stride = check_optional_int("stride", stride)
    if split is not None and arch != "prefix_lm":
        raise ValueError(f"split is the prefix length of a prefix-LM; a {arch} model has no prefix")
    if stride is not None:
        if arch not in STRIDED:
            raise ValueError(f"stride is for masked scoring (encoders and encoder-decoders); a {arch} model predicts every token in one pass already")
        if int(stride) < 1:
            raise ValueError(f"stride must be at least 1, not {stride}")
    if window is not None and int(window) < 2:
        raise ValueError(f"window must be at least 2 tokens, not {window}")


@torch.inference_mode()
def score(variant: Variant, text: str, top_k: int = 5, split: int | None = None, window: int | None = None, stride: int | None = None,
          max_tokens: int | None = None, mask=None) -> pd.DataFrame:
    """One row per token of ``text`` with its loss (nats), probability, rank and top-k predictions;
    columns `COLUMNS`. Works the same for MaskLab's variants and published checkpoints.

    ``split`` (prefix_lm only): the prefix length; by default half the text. ``window`` caps the tokens
    any one pass reads: the context window of next-token scoring, or the copy width of the masked
    methods (their cost grows as tokens x copy width: a window of 64 instead of a context of 320 runs
    a fifth of the token positions on a long text, and each token loses the context further than
    about 32 tokens away). A text that fits in the window is scored exactly as without it.
    ``stride`` (encoder, encoder_decoder) scores them as they were trained instead: ``stride``
    passes, each hiding every ``stride``-th token at once (see the module's docstring).
    ``max_tokens``: refuse a longer text (ValueError) instead of running for minutes.
    ``mask`` (mask surgery): an `engine.masks.Pattern` (or a FlexAttention mask_mod) that a decoder or a
    prefix-LM reads through in every layer instead of its own mask, to see what a pattern it was not
    trained with costs it, token by token. Positions count from the model's first input (its start or
    mode token, when it reads one: a global token or sink lands there). Refused with ValueError for an
    encoder or encoder-decoder, for a pattern that leaves a token nothing to read, and for one that shows
    a token what comes after it (the answer it must predict; a prefix-LM's prefix excepted).

    Raises ValueError for an option the model has no use for, or a text over ``max_tokens``. Shows a
    tqdm progress bar past a few seconds; KeyboardInterrupt stops it cleanly. A bad argument (None for
    the text, a float or a bool for a count, a negative top-k) is refused with TypeError or ValueError
    naming it; a top-k above the vocabulary keeps every token.
    """
    b = _backend(variant)
    text = check_text("text", text)
    top_k = check_top_k(top_k, b.vocab_size)
    max_tokens = check_optional_int("max_tokens", max_tokens, minimum=0)
    arch = b.architecture
    _check_options(arch, split, window, stride)
    t = b.tokens(text)
    ids = t.ids
    n = len(ids)
    if max_tokens is not None and n > int(max_tokens):
        raise ValueError(f"the text has {n:,} tokens, more than max_tokens={int(max_tokens):,}; score a shorter part, or raise the limit")
    method = ScoringMethod(arch)
    s = Scores.empty(n, top_k)
    W = min(b.context, int(window)) if window is not None else b.context
    if mask is not None and arch not in ("decoder", "prefix_lm"):
        raise ValueError(f"mask surgery is for decoders and prefix-LMs; {'an' if arch[0] in 'aeiou' else 'a'} {arch} model is scored with one token hidden at a time"
                         + (", and its cross-attention is no pattern over one sequence" if arch == "encoder_decoder" else ""))
    if n:
        if arch == "decoder":
            sp = b.specials
            lead = [sp.start] if sp.start is not None else []
            full = _surgery_mask(mask, len(lead) + n, 0)
            s = _score_causal(b, lead + ids, 1, top_k, prefix=False, W=W, mask=full).drop(len(lead))
        elif arch == "prefix_lm":
            split = max(1, min(n - 1, n // 2 if split is None else int(split))) if n > 1 else 1
            mode = list(b.specials.modes)  # a UL2 model reads its sequential denoiser's mode token first, as in training
            method = ScoringMethod(arch, prefix_tokens=split, mode_token=b.names(mode)[0] if mode else None)
            full = _surgery_mask(mask, len(mode) + n, len(mode) + split)
            s = _score_causal(b, mode + ids, split + len(mode), top_k, prefix=True, W=W, mask=full).drop(len(mode))
        elif stride is not None:
            method = ScoringMethod(arch, stride=int(stride))
            s = _score_strided(b, ids, top_k, int(stride), window)
        else:
            s = _score_masked(b, ids, top_k, window)
    return to_frame(t, s, method, b)


def _surgery_mask(mask, n: int, n_prefix: int) -> torch.Tensor | None:
    """The (n, n) bool matrix of a surgery ``mask`` (a Pattern, a mask_mod or a matrix), checked: no token
    left with nothing to read, none shown a later token outside the prefix. None when ``mask`` is."""
    if mask is None:
        return None
    from engine.masks import Pattern, dense

    if isinstance(mask, Pattern):
        m = dense(mask.mask_mod(), n)
    elif callable(mask):
        m = dense(mask, n)
    else:
        m = torch.as_tensor(mask, dtype=torch.bool)
        if m.shape != (n, n):
            raise ValueError(f"a mask matrix must be {n} x {n} here (the model's inputs), not {tuple(m.shape)}")
    empty = (~m.any(1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"the pattern leaves position {empty[0]} nothing to attend to; attention is undefined there")
    q, k = torch.arange(n)[:, None], torch.arange(n)[None, :]
    leak = (m & (k > q) & (k >= n_prefix)).nonzero().tolist()
    if leak:
        raise ValueError(f"the pattern lets position {leak[0][0]} see position {leak[0][1]} after it: the answer it must predict")
    return m


def to_frame(t: TextTokens, s: Scores, method: ScoringMethod, b: Backend) -> pd.DataFrame:
    """The DataFrame of ``score``, built a column at a time; a token's category reads the token before
    it (whether it starts a word), so a text's first word is classed as it is mid-line. ``method`` travels
    in ``attrs["scoring"]``, and in words in the ``method`` column."""
    if not t.ids:
        df = pd.DataFrame([], columns=COLUMNS)
        df.attrs["scoring"] = method
        return df
    category = token_categories(t.surfaces)
    shown = np.unique(s.top_ids[s.scored])
    name = dict(zip(shown.tolist(), b.names(shown.tolist())))
    top_k = [
        [(name[i], p) for i, p in zip(row_ids, row_p)] if ok else []
        for row_ids, row_p, ok in zip(s.top_ids.tolist(), s.top_probs.tolist(), s.scored.tolist())
    ]
    lp = s.logprob.astype(np.float64)
    df = pd.DataFrame(
        {
            "position": list(range(len(t.ids))),
            "token": t.names,
            "token_id": t.ids,
            "start": t.starts,
            "end": t.ends,
            "loss": -lp,
            "prob": np.exp(s.logprob).astype(np.float64),
            "rank": s.rank,
            "top_k": top_k,
            "method": [method.sentence] * len(t.ids),
            "category": category,
            "scored": s.scored,
            "piece": t.pieces if t.pieces is not None else t.names,
        },
        columns=COLUMNS,
    )
    df.attrs["scoring"] = method
    return df


def pad_unscored(df: pd.DataFrame, tokens) -> pd.DataFrame:
    """``df`` (a `score` frame) with one unscored row (loss NaN, ``scored`` False) for each of ``tokens``
    past its last row, so it lines up with them; ``tokens``: `engine.tokenizer.Token`s of the same
    text (index, text, id, start, end). The scoring method is kept; a frame as long is returned as is."""
    if len(df) >= len(tokens):
        return df
    method, rest = scoring_method(df), tokens[len(df):]
    pad = pd.DataFrame({
        "position": [t.index for t in rest], "token": [t.text for t in rest], "token_id": [t.id for t in rest],
        "start": [t.start for t in rest], "end": [t.end for t in rest], "loss": np.nan, "prob": np.nan, "rank": 0,
        "top_k": [[] for _ in rest], "method": method.sentence if method else "", "category": "", "scored": False,
        "piece": [t.text for t in rest],
    }, columns=COLUMNS)
    out = pd.concat([df, pad], ignore_index=True) if len(df) else pad
    out.attrs["scoring"] = method
    return out


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
    maps: dict[str, list[torch.Tensor]]  # name -> per layer (H, T, S) weights, one map per query head
    query_tokens: dict[str, list[str]]
    key_tokens: dict[str, list[str]]
    note: str = ""
    span_origin: list[tuple[int, int]] | None = None  # encoder_decoder: the encoder span each sentinel replaced
    n_kv_head: int | None = None  # key/value heads; fewer than the query heads under grouped-query attention
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # "self": each position's characters in the text, (-1, -1) for special tokens
    n_text_tokens: int = 0  # the model's tokens in the whole text
    cut: str = ""  # why the maps stop before the text's last token ("" when they cover it): "context" or "memory"
    limit: int = 0  # the most of the text's tokens the maps could cover (the context, or the memory bound)

    def kv_head(self, head: int) -> int:
        """The key/value head query head ``head`` shares (itself without grouped-query attention)."""
        H = next((len(m[0]) for m in self.maps.values() if m), 1)
        kv = self.n_kv_head or H
        return head // max(1, H // kv)


@torch.inference_mode()
def attention(variant: Variant, text: str, max_tokens: int = 256, split: int | None = None, seed: int = 0,
              dtype: torch.dtype = torch.float32) -> AttentionResult:
    """Learned attention weights per layer and query head over the user's tokens (the first
    ``max_tokens``), each (H, T, S) in ``dtype`` (float32; float16 halves what a long text's maps take,
    a weight too small for it kept at its smallest positive value, so 0 still means masked out).

    An encoder reads the text inside its own frame (``[CLS] … [SEP]``), as in pretraining. An
    encoder_decoder is shown on a span-corrupted copy of the text (seed ``seed``), as it was trained:
    its encoder reads the text with sentinels (or BART's ``<mask>``), its decoder writes the spans (or
    rewrites the text), and cross-attention shows where each decoder position looks in the encoder.
    A prefix_lm reads its first ``split`` tokens (default: half) bidirectionally. A bad argument is
    refused with TypeError or ValueError naming it.
    """
    b = _backend(variant)
    text = check_text("text", text)
    max_tokens = check_int("max_tokens", max_tokens, minimum=0)
    split = check_optional_int("split", split, minimum=0)
    seed = check_int("seed", seed)
    sp, dev, arch = b.specials, b.device, b.architecture
    room = 16 if arch == "encoder_decoder" else len(sp.prefix) + len(sp.suffix) + len(sp.modes)
    if split is not None and arch != "prefix_lm":
        raise ValueError(f"split is the prefix length of a prefix-LM; a {arch} model has no prefix")
    tt = b.tokens(text)
    context, memory = max(0, b.context - room), maps_token_limit(b)
    limit = min(context, memory)
    ids = tt.ids[: max(0, min(int(max_tokens), limit))]
    cut = "" if len(ids) == len(tt.ids) or len(ids) == int(max_tokens) else "memory" if memory < context else "context"
    extent = dict(n_text_tokens=len(tt.ids), cut=cut, limit=limit)
    if not ids:
        return AttentionResult({}, {}, {}, "no tokens", n_kv_head=b.n_kv_head, **extent)
    if arch == "encoder_decoder":
        c = corrupt(ids, "span_corruption", seed=seed, specials=sp.span_ids)
        enc = list(sp.prefix) + list(c.inputs)  # c.inputs ends with the eos
        if sp.span_style == "sentinel":
            dec, how = list(c.decoder_inputs), f"span corruption with {b.names([sp.sentinels[0]])[0]}-style sentinels, seed {seed}"
        else:
            dec = [sp.decoder_start] + (list(sp.prefix) + ids + list(sp.suffix))[:-1]
            how = f"text infilling: each span one {b.names([sp.mask])[0]}, the decoder rewrites the text; seed {seed}"
        maps = b.attention_maps(torch.tensor([enc], device=dev), decoder=torch.tensor([dec], device=dev), dtype=dtype)
        e, d = b.names(enc), b.names(dec)
        q = {"encoder": e, "decoder": d, "cross": d, "joint": d}
        kk = {"encoder": e, "decoder": d, "cross": e, "joint": e + d}
        return AttentionResult(maps, {k: q[k] for k in maps}, {k: kk[k] for k in maps}, how, c.span_origin, b.n_kv_head, **extent)
    note, n_prefix = "", None
    x = list(ids)
    if arch == "encoder":
        x = list(sp.prefix) + ids + list(sp.suffix)
        if sp.prefix or sp.suffix:
            note = f"with {' '.join(b.names(list(sp.prefix))) or 'nothing'} before and {' '.join(b.names(list(sp.suffix))) or 'nothing'} after the text, as the model always read it"
    elif arch == "prefix_lm":
        n_prefix = max(1, min(len(ids), len(ids) // 2 if split is None else int(split)))
        note = f"prefix of {n_prefix} token(s)"
    maps = b.attention_maps(torch.tensor([x], device=dev), n_prefix=n_prefix, dtype=dtype)
    before = len(x) - len(ids) - (len(sp.suffix) if arch == "encoder" else 0)  # special tokens read before the text
    names = b.names(x)
    # the text each token stands for (its vocabulary entry where that is part of a character); special tokens by name
    text_labels = [name if "\ufffd" in surface else surface for name, surface in zip(names[before:], tt.surfaces[: len(ids)])]
    labels = names[:before] + text_labels + names[before + len(ids) :]
    spans = [(-1, -1)] * before + list(zip(tt.starts[: len(ids)], tt.ends[: len(ids)])) + [(-1, -1)] * (len(x) - before - len(ids))
    if b.n_kv_head < b.n_head:
        note = (note + "; " if note else "") + f"grouped-query attention: {b.n_head} query heads share {b.n_kv_head} key/value heads, {b.n_head // b.n_kv_head} each"
    return AttentionResult(maps, {"self": labels}, {"self": labels}, note, None, b.n_kv_head, {"self": spans}, **extent)


def positions_covering(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The positions ``[lo, hi)`` of a model's tokens that cover the characters ``[start, end)`` of the
    text: every token whose span overlaps them, and the special tokens read before (after) the text
    when the stretch starts at (runs to) the text's first (last) token. ``spans`` are `AttentionResult`'s,
    (-1, -1) for a special token. ``(n, n)`` when no token reaches the stretch (the maps stop before it).

    >>> positions_covering([(-1, -1), (0, 5), (5, 11), (11, 12), (-1, -1)], 5, 12)
    (2, 5)
    """
    text = [i for i, (s, e) in enumerate(spans) if s >= 0]
    inside = [i for i in text if spans[i][0] < end and spans[i][1] > start]
    if not inside:
        return len(spans), len(spans)
    lo, hi = inside[0], inside[-1] + 1
    if lo == text[0]:
        lo = 0
    if hi == text[-1] + 1:
        hi = len(spans)
    return lo, hi


MAPS_BUDGET_BYTES = 512 * 2**20  # the float32 weights of every layer and head one maps pass may hold at once


def maps_token_limit(backend: Backend, budget_bytes: int = MAPS_BUDGET_BYTES) -> int:
    """The most tokens whose attention maps, every layer and query head as float32 (L x H x T x T x 4
    bytes), fit in ``budget_bytes``: a maps pass holds them all at once. SmolLM2-135M (30 layers, 9
    heads): 705 tokens in 512 MiB; MaskLab's variants (4 x 4): 2,896."""
    return int((budget_bytes / (backend.n_layer * backend.n_head * 4)) ** 0.5)


@dataclass
class GenerationResult:
    prompt: str
    text: str  # the continuation only
    tokens: list[str]
    method: str


def _sample(logits: torch.Tensor, temperature: float, top_k: int, g: torch.Generator, banned) -> int:
    """One token id: the likeliest at a temperature too small to divide by (`engine.checks.is_greedy`),
    else drawn among the ``top_k`` likeliest (0: all) at ``temperature``. Checked by `generate`."""
    logits = logits.float().clone()
    logits[list(banned)] = float("-inf")
    if is_greedy(temperature):
        return int(logits.argmax())
    scaled = logits / temperature
    if not torch.isfinite(scaled.max()):  # logits beyond float32 * temperature: as greedy as sampling gets
        return int(logits.argmax())
    if top_k and top_k < scaled.numel():
        kth = scaled.topk(top_k).values[-1]
        scaled[scaled < kth] = float("-inf")
    return int(torch.multinomial(scaled.softmax(-1).cpu(), 1, generator=g))


@torch.inference_mode()
def generate(variant: Variant, text: str, max_new_tokens: int = 20, temperature: float = 1.0, top_k: int = 20, seed: int = 0) -> GenerationResult:
    """Continue ``text`` token by token with a KV cache. ``temperature`` 0 is greedy; ``top_k`` 0 keeps
    every token. Same seed, same continuation.

    A decoder continues after its start token + text and stops at its end-of-text token; a prefix_lm
    reads the text as its bidirectional prefix (after UL2's ``<|S|>`` when it was trained with it); an
    encoder_decoder reads "text <sentinel_0>" and writes the span behind the sentinel, stopping at the
    next sentinel or end-of-sequence (BART reads "text <mask>" and rewrites the text, then the span).
    An encoder-only model has no causal part and cannot generate: ValueError.

    A temperature below `engine.checks.MIN_TEMPERATURE` (1e-4) is too small to divide the logits by:
    it is greedy, and ``method`` says so. A negative or non-finite temperature, a negative top-k or
    max_new_tokens are refused (ValueError naming it); a top-k above the vocabulary keeps every token.
    """
    b = _backend(variant)
    text = check_text("text", text)
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=0)
    temperature = check_temperature(temperature)
    top_k = check_top_k(top_k, b.vocab_size)
    seed = check_int("seed", seed)
    greedy = is_greedy(temperature)
    sp, arch, W = b.specials, b.architecture, b.context
    if arch == "encoder":
        raise ValueError("An encoder-only model cannot generate text: every position attends to every other, so there is no left-to-right order to extend; it can only fill masked positions in place.")
    ids = b.tokens(text).ids
    g = torch.Generator().manual_seed(seed)
    if arch == "encoder_decoder":
        budget = max(0, min(int(max_new_tokens), W - 2))
        room = W - 2 - len(sp.prefix) - len(sp.suffix)
        if sp.span_style == "sentinel":
            enc = list(sp.prefix) + ids[-room:] + [sp.sentinels[0]] + list(sp.suffix)
            dec = [sp.decoder_start, sp.sentinels[0]]
            method = f"span filling: the text, then {b.names([sp.sentinels[0]])[0]}; the decoder writes the span"
        else:
            kept = ids[-room:]
            enc = list(sp.prefix) + kept + [sp.mask] + list(sp.suffix)
            dec = [sp.decoder_start] + list(sp.prefix) + kept
            method = f"text infilling: the text, then {b.names([sp.mask])[0]}; the decoder rewrites the text and writes the span"
        logits, state = b.prefill(dec, encoder_ids=enc)
    else:
        mode = list(sp.modes)
        lead = [sp.start] if arch == "decoder" and sp.start is not None else []
        ctx = lead + ids
        budget = max(0, min(int(max_new_tokens), W - 1 - len(mode)))
        ctx = mode + (ctx[-(W - budget - len(mode)) :] if len(ctx) + len(mode) + budget > W else ctx)
        if not ctx:
            if sp.eos is None:
                raise ValueError("Nothing to continue: the text is empty and the model has no end-of-text token to start from.")
            ctx = [sp.eos]
        logits, state = b.prefill(ctx, n_prefix=len(ctx) if arch == "prefix_lm" else None)
        method = "greedy next-token" if greedy else "next-token sampling"
        if arch == "prefix_lm":
            method = "prefix LM: the text as a bidirectional prefix, then causal sampling"
            if mode:
                method = f"prefix LM after UL2's {b.names(mode)[0]} mode token: the text as a bidirectional prefix, then causal sampling"
    if greedy:
        method = method.replace("causal sampling", "causal greedy decoding") if arch == "prefix_lm" else method if arch == "decoder" else method + "; greedy"
        if temperature > 0:
            method += f" (temperature {temperature:g} is below {MIN_TEMPERATURE:g}, too small to divide by: greedy)"
    new: list[int] = []
    for _ in range(budget):
        nxt = _sample(logits, temperature, top_k, g, sp.banned)
        if nxt in sp.stop:
            break
        new.append(nxt)
        if len(new) < budget:
            logits = b.extend([nxt], state)
    return GenerationResult(text, b.decode(new), b.names(new), method)
