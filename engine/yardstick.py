"""One yardstick for every architecture: two held-out word-prediction tasks from the same passages of
``valid.txt``, each model scored its natural way, so that models trained with different objectives
can be compared on one axis.

- **continue**: predict the last word of a passage from the words before it (as LAMBADA does,
  Paperno et al., 2016);
- **fill**: predict a word in the middle of a passage from both sides.

How each architecture reads a passage (``L`` = the left context, ``w`` = the word's tokens,
``R`` = the right context; ``R`` is empty for *continue*):

=================  ================================================================================
decoder            ``<|endoftext|> L w``: next-token log-probabilities of ``w``. It cannot read ``R``:
                   on *fill* it uses the left side only, which is the point of the comparison.
decoder, FIM       trained to fill in the middle (objective ``fim``, Bavarian et al. 2022): *continue*
                   as any decoder; *fill* in SPM order, ``<|fim_prefix|> <|fim_suffix|> R <|fim_middle|>
                   L w``, the word written as the middle after reading both sides; also scored in PSM
                   order, ``<|fim_prefix|> L <|fim_suffix|> R <|fim_middle|> w``, as ``fill_psm``. It
                   was trained on both orders (half each).
prefix_lm          ``L`` as the bidirectional prefix, ``w`` causal after it; like a decoder, it has
                   no place for ``R`` (a UL2-trained prefix-LM reads ``<|S|>`` first, as trained).
encoder            ``L <|mask|>×k R``: each of the word's ``k`` tokens predicted at its mask, in one
                   pass (the word's length in tokens is given, as in every masked-LM evaluation).
encoder_decoder    encoder ``L <|sentinel_0|> R <|endoftext|>``, decoder ``<|bos|> <|sentinel_0|> w``:
                   the span behind the sentinel, teacher-forced, as in T5's training loss.
=================  ================================================================================

A word's loss is the sum of its tokens' losses (nats per word); it is right (top-1) when every one of
its tokens is the model's most likely token there (teacher-forced). Reported over ``n`` passages:
the mean loss with a 95% confidence interval (mean ± 1.96 standard errors) and the accuracy with a
95% Wilson interval.
"""

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.data import read_documents
from engine.tokenizer import get_encoding
from engine.variants import MODELS_DIR, list_variants, load_variant
from engine.vocab import MASKLAB

TASKS = ("continue", "fill")
LEFT = 48  # tokens of left context
RIGHT = 16  # tokens of right context (fill)
MAX_WORD_TOKENS = 3


@dataclass(frozen=True)
class Passage:
    """One held-out word with its context, in MaskLab tokens."""

    left: tuple[int, ...]
    word: tuple[int, ...]
    right: tuple[int, ...]  # empty for "continue"


def _word_starts(pieces: list[str]) -> list[int]:
    """Positions of tokens that begin a word: a space then letters (" walk"), the word running on
    through tokens of letters without a leading space."""
    return [i for i, p in enumerate(pieces) if len(p) > 1 and p[0] == " " and p[1:].isalpha()]


def passages(text: str, n: int = 500, seed: int = 0) -> dict[str, list[Passage]]:
    """``n`` passages per task from ``text`` (documents separated by ``<|endoftext|>``): a word of at
    most `MAX_WORD_TOKENS` tokens with `LEFT` tokens before it and, for *fill*, `RIGHT` after it, all
    inside one document; the *continue* and *fill* words are the same words (so the two tasks differ
    only by the right side). Chosen evenly through the text, at least `LEFT` + `RIGHT` tokens apart.
    ValueError when the text holds fewer than ``n`` such words."""
    enc = get_encoding("masklab")
    found: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = []
    for doc in text.split("<|endoftext|>"):
        ids = enc.encode_ordinary(doc)
        pieces = [enc.decode_single_token_bytes(i).decode("utf-8", "replace") for i in ids]
        starts = _word_starts(pieces)
        last = -(10**9)
        for s in starts:
            e = s + 1
            while e < len(ids) and pieces[e].isalpha() and not pieces[e].startswith(" "):
                e += 1
            if e - s > MAX_WORD_TOKENS or s < LEFT or e + RIGHT > len(ids) or s - last < LEFT + RIGHT:
                continue
            found.append((tuple(ids[s - LEFT : s]), tuple(ids[s:e]), tuple(ids[e : e + RIGHT])))
            last = s
    if len(found) < n:
        raise ValueError(f"the text holds {len(found)} usable words, fewer than the {n} asked for")
    pick = np.linspace(0, len(found) - 1, n).round().astype(int)
    chosen = [found[i] for i in pick]
    return {"continue": [Passage(l, w, ()) for l, w, _ in chosen], "fill": [Passage(l, w, r) for l, w, r in chosen]}


FIM_ORDERS = ("spm", "psm")


def _layout(architecture: str, p: Passage, mode: tuple[int, ...], fim: str = ""):
    """(input ids, decoder ids or None, n_prefix or None, positions whose logits predict the word's
    tokens, in the input or decoder) for one passage. ``fim`` ("spm" or "psm"): a decoder trained to
    fill in the middle reads a passage with a right side in that order."""
    L, w, R = list(p.left), list(p.word), list(p.right)
    k = len(w)
    if fim and fim not in FIM_ORDERS:
        raise ValueError(f"fim order must be one of {', '.join(FIM_ORDERS)}, got {fim!r}")
    if architecture == "decoder" and fim and R:
        f = MASKLAB.fim
        if fim == "spm":
            x = [f["prefix"], f["suffix"]] + R + [f["middle"]] + L + w
        else:
            x = [f["prefix"]] + L + [f["suffix"]] + R + [f["middle"]] + w
        first = len(x) - k  # the word's first token, predicted by the token before it
        return x, None, None, list(range(first - 1, first - 1 + k))
    if architecture == "decoder":
        x = [MASKLAB.eos] + L + w
        return x, None, None, list(range(len(L), len(L) + k))
    if architecture == "prefix_lm":
        x = list(mode) + L + w
        first = len(mode) + len(L)
        return x, None, first, list(range(first - 1, first - 1 + k))
    if architecture == "encoder":
        x = L + [MASKLAB.mask] * k + R
        return x, None, None, list(range(len(L), len(L) + k))
    x = L + [MASKLAB.sentinel(0)] + R + [MASKLAB.eos]
    dec = [MASKLAB.bos, MASKLAB.sentinel(0)] + w[:-1]
    return x, dec, None, list(range(1, 1 + k))


@torch.inference_mode()
def word_scores(model, architecture: str, items: list[Passage], mode: tuple[int, ...] = (), batch: int = 64,
                fim: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Per passage: the word's loss (nats, the sum over its tokens) and whether every token was the
    model's top-1. ``model`` is a MaskLab `Transformer`; passages are batched by layout length.
    ``fim`` ("spm" or "psm"): a decoder trained to fill in the middle reads a right side in that order
    (see the table above); ValueError for another order."""
    dev = next(model.parameters()).device
    loss, right = np.zeros(len(items)), np.zeros(len(items), bool)
    layouts = [_layout(architecture, p, mode, fim) for p in items]
    groups: dict[tuple, list[int]] = {}
    for i, (x, dec, _, at) in enumerate(layouts):
        groups.setdefault((len(x), len(dec) if dec is not None else -1, len(at)), []).append(i)
    for idx in groups.values():
        for s in range(0, len(idx), batch):
            part = idx[s : s + batch]
            x = torch.tensor([layouts[i][0] for i in part], device=dev)
            at = torch.tensor([layouts[i][3] for i in part], device=dev)  # (B, k)
            word = torch.tensor([items[i].word for i in part], device=dev)  # (B, k)
            if architecture == "encoder_decoder":
                dec = torch.tensor([layouts[i][1] for i in part], device=dev)
                logits = model(x, decoder_idx=dec).logits
                logits = logits[torch.arange(len(part), device=dev)[:, None], at]
            else:
                kw = {"n_prefix": torch.tensor([layouts[i][2] for i in part], device=dev)} if architecture == "prefix_lm" else {}
                logits = model(x, at=at, **kw).logits  # (B, k, V)
            logp = logits.float().log_softmax(-1)
            lp = logp.gather(-1, word[..., None])[..., 0]  # (B, k)
            loss[part] = (-lp.sum(-1)).cpu().numpy()
            right[part] = (logp.argmax(-1) == word).all(-1).cpu().numpy()
    return loss, right


def summary(loss: np.ndarray, right: np.ndarray) -> dict:
    """Mean loss (nats per word) with its 95% interval, top-1 accuracy with its 95% Wilson interval."""
    n = len(loss)
    mean, se = float(loss.mean()), float(loss.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    p, z = float(right.mean()), 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"n": n, "loss": mean, "loss_ci": [mean - 1.96 * se, mean + 1.96 * se], "top1": p, "top1_ci": [centre - half, centre + half]}


def paired_difference(a: list[float], b: list[float]) -> dict:
    """Model A's loss minus model B's on the same words (nats per word): the mean of the per-word
    differences with its 95% interval (mean ± 1.96 standard errors of the differences). Pairing removes
    what the words share (a hard word is hard for both), so the interval is far narrower than the two
    models' own intervals suggest. ValueError for lists of different lengths or fewer than two words.

        >>> d = paired_difference([3.0, 5.0, 7.0, 9.0], [2.0, 4.5, 6.0, 8.5])
        >>> round(d["mean"], 2), [round(x, 2) for x in d["ci"]], d["n"]
        (0.75, [0.47, 1.03], 4)
    """
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"paired words: both lists need the same length, at least 2 (got {len(a)} and {len(b)})")
    d = np.asarray(a, float) - np.asarray(b, float)
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))
    return {"mean": mean, "ci": [mean - 1.96 * se, mean + 1.96 * se], "n": len(d)}


def evaluate(model, architecture: str, sets: dict[str, list[Passage]], objective: str = "", words: bool = False) -> dict:
    """Both tasks for one model: ``{"continue": summary, "fill": summary}``. A UL2-trained prefix-LM
    reads its ``<|S|>`` mode token first, as it was trained; a FIM-trained decoder fills in SPM order,
    and its result also holds ``"fill_psm"``, the same words in PSM order.
    ``words``: each summary also lists every word's loss (nats, in passage order) under ``"words"``, for
    `paired_difference`."""
    mode = (MASKLAB.modes["S"],) if objective == "ul2" and architecture == "prefix_lm" else ()
    fim = objective == "fim" and architecture == "decoder"
    jobs = [(task, items, "spm" if fim else "") for task, items in sets.items()]
    if fim and "fill" in sets:
        jobs.append(("fill_psm", sets["fill"], "psm"))
    training = model.training
    model.eval()
    try:
        out = {}
        for task, items, order in jobs:
            loss, right = word_scores(model, architecture, items, mode, fim=order)
            out[task] = summary(loss, right) | ({"words": [round(float(v), 4) for v in loss]} if words else {})
        return out
    finally:
        model.train(training)


USES = {  # what each way of reading a passage reads, in words, for the pages and the cards (see `reading`)
    "decoder": {"continue": "the words before", "fill": "the words before only: it cannot read the right side"},
    "decoder-fim": {"continue": "the words before", "fill": "both sides, the word written as the middle (FIM, SPM order: the words after first)",
                    "fill_psm": "both sides, the word written as the middle (FIM, PSM order: the words before first)"},
    "prefix_lm": {"continue": "the words before, both ways", "fill": "the words before only: the right side has no place in a prefix-LM's input"},
    "encoder": {"continue": "the words before, word masked", "fill": "both sides, word masked"},
    "encoder_decoder": {"continue": "the words before, then a sentinel", "fill": "both sides around a sentinel"},
}


def reading(architecture: str, objective: str = "") -> str:
    """The key of `USES` for a model: its architecture, or ``decoder-fim`` for a decoder trained to fill in the middle."""
    return "decoder-fim" if architecture == "decoder" and objective == "fim" else architecture


def main(argv=None) -> int:
    """``python -m engine.yardstick``: score MaskLab's shipped variants on both tasks and write
    ``assets/yardstick.json`` (the scaling page reads it)."""


    p = argparse.ArgumentParser(prog="python -m engine.yardstick", description="Score every shipped variant on the yardstick (continue, fill).")
    p.add_argument("--passages", type=int, default=500, help="held-out words per task")
    p.add_argument("--corpus", default=None, help="corpus folder or file (default: ../shared/corpus, or $MASKLAB_CORPUS)")
    p.add_argument("--out", default=str(MODELS_DIR.parent / "yardstick.json"), help="where to write the results")
    args = p.parse_args(argv)
    sets = passages("<|endoftext|>".join(read_documents("valid", args.corpus, 2_000_000)), args.passages)
    rows = []
    for info in list_variants(include_random=False):
        v = load_variant(info.name, device="cpu")
        r = evaluate(v.model, v.architecture, sets, v.objective, words=True)
        card = v.card or {}
        rows.append({"variant": info.name, "architecture": v.architecture, "objective": v.objective, "parameters": info.parameters,
                     "training_flops": card.get("training_flops"), **r})
        print(f"{info.name:<18} continue {r['continue']['loss']:.2f} nats/word, top-1 {r['continue']['top1']:.1%}; "
              f"fill {r['fill']['loss']:.2f}, top-1 {r['fill']['top1']:.1%}")
    out = {"passages": args.passages, "left_tokens": LEFT, "right_tokens": RIGHT, "max_word_tokens": MAX_WORD_TOKENS,
           "source": "valid.txt of the corpus", "command": "python -m engine.yardstick", "date": time.strftime("%Y-%m-%d"), "uses": USES, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
