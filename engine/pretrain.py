"""Train every shipped variant with one preset: ``python -m engine.pretrain --preset gpu`` (or ``cpu``).

The variants are compute-matched: each trains until it has spent the same training FLOPs (the
engine's accounting), on the same corpus in the same order. An encoder-decoder has twice the layers
of the decoder-only but spends about the same FLOPs per token, as in the T5 paper's comparison.
Finished runs are skipped and killed ones resume, so the command can simply be run again.
"""

import argparse
import json
import math
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import torch

from engine.catalog import PRESETS, VARIANTS, preset_fields
from engine.checkpoint import atomic_write, load_model, save_model
from engine.cost import params_by_component
from engine.data import token_stream, unigram_cross_entropy
from engine.encoder_reading import READING_WINDOWS, encoder_reliance, held_out_windows
from engine.losses import token_nll
from engine.scoring import generate
from engine.train import TrainConfig, train
from engine.variants import Variant, sha256_file
from engine.vocab import VOCAB_SIZE


def run_all(preset: str, runs: Path, only: list[str] | None = None, corpus=None, progress=True, flops: float | None = None,
            after=None) -> dict:
    """Train (or resume, or read back) every variant of ``VARIANTS`` (or those in ``only``) with
    ``preset``, in ``runs``/<preset>/<variant>; ``flops``: a training-FLOP budget in place of the
    preset's. ``after(name, summary)`` is called as each variant is done. Returns the summaries."""
    results = {}
    for name, (arch, objective) in VARIANTS.items():
        if only and name not in only:
            continue
        out = runs / preset / name
        summary_path = out / "summary.json"
        if summary_path.exists():
            results[name] = json.loads(summary_path.read_text())
        else:
            cfg = replace(TrainConfig(architecture=arch, objective=objective, out=str(out), corpus=corpus), **preset_fields(preset, arch))
            if flops:
                cfg = replace(cfg, flops=float(flops))
            print(f"training {name} ({arch}, {objective}) -> {out}", file=sys.stderr, flush=True)
            results[name] = train(cfg, resume=True, progress=progress)
            results[name]["preset"] = preset
            summary_path.write_text(json.dumps(results[name], indent=2))
        if after:
            after(name, results[name])
    return results


def fit_flops(preset: str, seconds: float, only: list[str] | None = None, corpus=None, probe_steps: int = 40) -> tuple[float, dict]:
    """The largest training-FLOP budget, at most the preset's and rounded down to two significant
    digits, with which every variant (or those in ``only``) trains within ``seconds`` here, its
    evaluations included. Measured, not assumed: each variant trains ``probe_steps`` steps of the
    preset (in a temporary folder) with one evaluation halfway; the step time is read from the steps
    after the first quarter (the first ones warm the device up). Returns (FLOPs, per-variant
    measurements: seconds a step, FLOPs a step, seconds an evaluation). ValueError if
    ``probe_steps`` < 8 or ``seconds`` <= 0."""
    if probe_steps < 8 or seconds <= 0:
        raise ValueError("probe_steps must be >= 8 and seconds > 0")
    half, quarter = probe_steps // 2, probe_steps // 4
    measured, per_flop = {}, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (arch, objective) in VARIANTS.items():
            if only and name not in only:
                continue
            base = replace(TrainConfig(architecture=arch, objective=objective, corpus=corpus), **preset_fields(preset, arch))
            cfg = replace(base, out=str(Path(tmp) / name), flops=0.0, tokens=probe_steps * base.batch_size * base.seq_len,
                          eval_interval=half, ckpt_interval=10**9)
            train(cfg, progress=False)
            rows = {r["step"]: r for r in map(json.loads, (Path(cfg.out) / "log.jsonl").read_text().splitlines()) if not r.get("eval")}
            step_s = (rows[half]["elapsed_s"] - rows[quarter]["elapsed_s"]) / (half - quarter)
            eval_s = max(0.0, rows[half + 1]["elapsed_s"] - rows[half]["elapsed_s"] - step_s)
            step_flops = rows[1]["flops"]
            measured[name] = {"step_s": step_s, "step_flops": step_flops, "eval_s": eval_s}
            per_flop += (step_s + eval_s / base.eval_interval) / step_flops  # seconds per training FLOP, evaluations included
    budget = min(PRESETS[preset]["flops"], seconds / per_flop)
    digits = 10 ** (math.floor(math.log10(budget)) - 1)
    return math.floor(budget / digits) * digits, measured


DESCRIPTIONS = {
    "decoder-clm": "decoder-only, causal LM: predicts every next token (GPT-style)",
    "encoder-mlm": "encoder-only, BERT masked LM: fills the 15% of tokens it is shown masked",
    "encdec-span": "encoder-decoder, T5 span corruption: writes the masked spans behind sentinels",
    "prefixlm-prefix": "prefix-LM decoder: reads a prefix bidirectionally, predicts the rest causally",
    "prefixlm-ul2": "prefix-LM decoder trained on a UL2-style mixture of R-, X- and S-denoisers",
    "decoder-fim": "decoder-only, fill in the middle: causal LM on texts half of which are cut and reordered prefix, suffix, middle",
}
PROMPT = "It was a dark and stormy night, and"


def _curves(log_path: Path) -> tuple[list[dict], dict[str, list[list[float]]]]:
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    train_rows = [r for r in rows if not r.get("eval")]
    every = max(1, len(train_rows) // 200)  # the card keeps about 200 points of the training curve
    curve = [{"step": r["step"], "tokens": r["tokens"], "flops": r["flops"], "loss": r["loss"]} for r in train_rows[::every]]
    evals = [r for r in rows if r.get("eval")]
    curve_eval = [{"step": r["step"], "tokens": r["tokens"], "flops": r["flops"], "val_loss": r["val_loss"], **({"yardstick": r["yardstick"]} if "yardstick" in r else {})} for r in evals]
    categories: dict[str, list[list[float]]] = {}
    for r in evals:
        for cat, loss in r.get("categories", {}).items():
            categories.setdefault(cat, []).append([r["tokens"], loss])
    return curve + curve_eval, categories


def encoder_reading(model, name: str, seq_len: int, windows: int = READING_WINDOWS) -> dict | None:
    """An encoder-decoder's `engine.encoder_reliance` for its card: the loss rise (nats per span text
    token) when its encoder reads random text, on ``windows`` held-out windows of ``seq_len`` tokens (its
    training length; the app measures on the same ones), with the 95% interval and the sentence the app shows.
    None without a corpus."""
    try:
        r = encoder_reliance(model, held_out_windows(windows, seq_len))
    except FileNotFoundError:
        return None
    return {"rise": r.rise, "rise_ci": list(r.rise_ci), "real": r.real, "random": r.random, "windows": r.windows,
            "tokens": r.tokens, "window_tokens": seq_len, "reads_encoder": r.reads_encoder, "sentence": r.sentence(name)}


def export_variant(run_dir: Path, name: str, preset: str, models_dir: Path, unigram: float | None = None) -> dict:
    """Copy a finished run into ``assets/models/<name>/``: float16 weights, card.json and card.md.
    An encoder-decoder's card also says whether it reads its encoder (`encoder_reading`)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    model = load_model(run_dir / "model.safetensors")
    folder = models_dir / name
    weights = folder / "model.safetensors"
    save_model(model, weights, {"variant": name, "preset": preset}, dtype=torch.float16)
    curve, categories = _curves(run_dir / "log.jsonl")
    full_valid = valid_next_token_loss(model) if model.config.architecture == "decoder" else None
    sample = None
    if model.config.architecture != "encoder":

        sample = generate(Variant(name, model.config.architecture, summary["objective"], load_model(weights), "masklab"), PROMPT, 24, temperature=0).text
    card = {
        "name": name,
        "description": DESCRIPTIONS.get(name, ""),
        "architecture": model.config.architecture,
        "objective": summary["objective"],
        "preset": preset,
        "device": summary["device"],
        "model_config": asdict(model.config),
        "parameters": summary["parameters"],
        "parameters_by_component": params_by_component(model.config),
        "corpus_tokens": summary["corpus_tokens"],
        "training_flops": summary["training_flops"],
        "planned_training_flops": summary["train_config"]["flops"],
        "complete": summary["training_flops"] >= 0.99 * summary["train_config"]["flops"],
        "wall_time_s": summary["wall_time_s"],
        "step_flops_per_s": summary.get("step_flops_per_s"),  # training steps only, the run's last process
        "mfu": summary.get("mfu"),  # of the GPU's dense bf16 peak; None on a CPU
        "final_val_loss": summary["final_val_loss"],
        "final_categories": summary["final_categories"],
        "unigram_cross_entropy": unigram,
        "valid_next_token_loss": full_valid,  # decoder only: the first 131,072 tokens of valid.txt
        "encoder_reliance": (encoder_reading(load_model(weights), name, summary["train_config"]["seq_len"])
                             if model.config.architecture == "encoder_decoder" else None),  # the shipped float16 weights, as the app reads them
        "train_config": summary["train_config"],
        "curve": curve,
        "category_curves": categories,
        "sample": {"prompt": PROMPT, "greedy_continuation": sample} if sample is not None else None,
        "weights": "model.safetensors",
        "weights_dtype": "float16",
        "sha256": sha256_file(weights),
    }
    atomic_write(folder / "card.json", lambda tmp: Path(tmp).write_text(json.dumps(card, indent=1)))
    atomic_write(folder / "card.md", lambda tmp: Path(tmp).write_text(card_markdown(card)))
    return card


def _rate(card: dict) -> str:
    rate = card.get("step_flops_per_s")
    if not rate:
        return "n/a (not recorded)"
    mfu = f", MFU {card['mfu']:.1%} of the GPU's dense bf16 peak" if card.get("mfu") else ""
    return f"{rate / 1e9:,.1f} GFLOP/s in its training steps{mfu}"


def _quoted_continuation(prompt: str, continuation: str) -> str:
    """A Markdown quote of ``prompt`` followed by the model's ``continuation`` in bold, line breaks kept
    (bold cannot span a line break in Markdown, so each line of the continuation is bold on its own)."""
    lines = continuation.split("\n")
    bold = [f"**{line.strip()}**" if line.strip() else "" for line in lines]
    first = prompt + (" " if lines[0][:1].isspace() else "") + bold[0]
    return "  \n".join("> " + line for line in [first, *bold[1:]])


def card_markdown(card: dict) -> str:
    c = card["model_config"]
    parts = "\n".join(f"| {k} | {v:,} |" for k, v in card["parameters_by_component"].items())
    cats = "\n".join(f"| {k} | {v:.3f} |" for k, v in sorted(card["final_categories"].items(), key=lambda kv: kv[1]))
    unigram = f"{card['unigram_cross_entropy']:.3f}" if card.get("unigram_cross_entropy") else "n/a"
    ys = [r for r in card.get("curve", []) if "yardstick" in r]
    if ys:
        def cells(s: dict | None) -> str:
            return f"{s['loss']:.2f} | {s['top1']:.1%}" if s else "— | —"

        rows = "\n".join(f"| {r['flops']:.3g} | {r['tokens']:,} | " + " | ".join(cells(r["yardstick"].get(t)) for t in ("continue", "fill")) + " |"
                         for r in ys)
        n = ys[-1]["yardstick"]["continue"]["n"]
        yardstick = (f"\n## Yardstick during training\n\nThe same {n:,} held-out words of valid.txt at every evaluation, each scored the "
                     "architecture's natural way (`engine.yardstick`): loss in nats per word, top-1 the share of words whose every "
                     "token was the first guess.\n\n| training FLOPs | corpus tokens | continue (nats/word) | continue top-1 | fill (nats/word) | fill top-1 |\n"
                     f"| --- | --- | --- | --- | --- | --- |\n{rows}\n")
        if card.get("objective") == "fim":
            psm = ys[-1]["yardstick"].get("fill_psm")
            gaps = any("fill" not in r["yardstick"] for r in ys)
            yardstick += ("\nFill is scored the FIM way, in SPM order (the words after, then the words before and the word as the "
                          "middle)" + ("; evaluations that scored it the left side only are left out (—)" if gaps else "")
                          + (f". In PSM order the final fill is {psm['loss']:.2f} nats per word, top-1 {psm['top1']:.1%}" if psm else "") + ".\n")
    else:
        yardstick = "\n## Yardstick during training\n\nNot scored during this run.\n"
    reading = card.get("encoder_reliance")
    if reading:
        yardstick += (f"\n## Does it read its encoder?\n\n{reading['sentence']}\n\nMeasured with `engine.encoder_reliance` on "
                      f"held-out windows of {reading['window_tokens']} tokens of valid.txt ({reading['tokens']:,} span text tokens).\n")
    sample = f"\n## Greedy continuation\n\n{_quoted_continuation(card['sample']['prompt'], card['sample']['greedy_continuation'])}\n" if card.get("sample") else ""
    return f"""# {card['name']}

{card['description']}.

| | |
| --- | --- |
| architecture | {card['architecture']} ({c['n_layer']} layers per stack, d_model {c['d_model']}, {c['n_head']} heads) |
| objective | {card['objective']} |
| parameters | {card['parameters']:,} |
| corpus tokens seen | {card['corpus_tokens']:,} |
| training FLOPs | {card['training_flops']:.3g} of the {card['planned_training_flops']:.3g} planned{'' if card['complete'] else ' (stopped early: NOT compute-matched with the complete variants)'} |
| wall time, device | {card['wall_time_s'] / 60:.1f} min, {card['device']} (preset `{card['preset']}`) |
| training rate | {_rate(card)} |
| final validation loss (own objective) | {card['final_val_loss']:.3f} nats |
| unigram cross-entropy of valid.txt | {unigram} nats |
| next-token loss on the first 131,072 tokens of valid.txt | {f"{card['valid_next_token_loss']:.3f} nats" if card.get('valid_next_token_loss') else "n/a (not a decoder)"} |
| weights | `{card['weights']}` ({card['weights_dtype']}), SHA-256 `{card['sha256']}` |

## Parameters by component

| component | parameters |
| --- | --- |
{parts}

## Validation loss by token category (final)

| category | loss (nats) |
| --- | --- |
{cats}
{yardstick}{sample}
The loss curve, the yardstick at each evaluation and the per-category curves are in `card.json` (`curve`, `category_curves`).
"""


@torch.inference_mode()
def valid_next_token_loss(model, corpus=None, window: int = 256, max_tokens: int = 131_072) -> float:
    """A decoder's mean next-token loss over the first ``max_tokens`` of the valid split (default
    about a third of it), in non-overlapping windows."""
    window = min(window, model.config.max_len)
    tokens = torch.from_numpy(token_stream("valid", corpus, 2_000_000).astype("int64"))
    n = min(len(tokens) - 1, max_tokens) // window
    x, y = tokens[: n * window].view(n, window), tokens[1 : n * window + 1].view(n, window)
    total = 0.0
    for i in range(0, n, 32):
        total += token_nll(model(x[i : i + 32]).logits, y[i : i + 32]).double().sum().item()
    return total / (n * window)


def unigram_baseline(corpus=None) -> float:
    return unigram_cross_entropy(token_stream("train", corpus, 30_000_000), token_stream("valid", corpus, 2_000_000), VOCAB_SIZE)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.pretrain", description="Train MaskLab's shipped variants, compute-matched.")
    p.add_argument("--preset", default="cpu", choices=list(PRESETS), help="cpu: about an hour a variant on one CPU core; gpu: 5x the compute, needs CUDA; smoke: seconds")
    p.add_argument("--runs", default="runs", help="folder for the run folders (checkpoints, logs)")
    p.add_argument("--only", nargs="*", choices=list(VARIANTS), help="train only these variants")
    p.add_argument("--corpus", default=None, help="text file or folder (default ../shared/corpus or $MASKLAB_CORPUS)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--export", default=None, help="copy each variant into this folder (e.g. assets/models) as soon as it is trained")
    p.add_argument("--flops", type=float, default=None, help="training FLOPs for every variant, in place of the preset's")
    p.add_argument("--fit-seconds", type=float, default=None,
                   help="measure each variant's step rate with a short probe, then train every variant on the largest budget (at most the preset's) that fits in this many seconds")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:  # a preset for a GPU on a machine without one, no corpus, ...
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    flops = args.flops
    if args.fit_seconds:
        flops, measured = fit_flops(args.preset, args.fit_seconds, args.only, args.corpus)
        for name, m in measured.items():
            print(f"probe {name}: {m['step_s'] * 1e3:.1f} ms a step of {m['step_flops']:.3g} FLOPs ({m['step_flops'] / m['step_s'] / 1e12:.2f} TFLOP/s), "
                  f"{m['eval_s']:.2f} s an evaluation", file=sys.stderr, flush=True)
        print(f"budget: {flops:.3g} training FLOPs a variant, to fit {args.fit_seconds:.0f} s", file=sys.stderr, flush=True)
    after = None
    if args.export:
        unigram = unigram_baseline(args.corpus)

        def after(name, summary):
            export_variant(Path(args.runs) / args.preset / name, name, args.preset, Path(args.export), unigram)

    results = run_all(args.preset, Path(args.runs), args.only, args.corpus, progress=not args.quiet, flops=flops, after=after)
    for name, s in results.items():
        rate = f", {s['step_flops_per_s'] / 1e9:,.1f} GFLOP/s in steps" if s.get("step_flops_per_s") else ""
        mfu = f" (MFU {s['mfu']:.1%})" if s.get("mfu") else ""
        print(f"{name}: val loss {s['final_val_loss']:.3f}, {s['corpus_tokens']:,} tokens, {s['training_flops']:.3g} FLOPs, {s['wall_time_s'] / 60:.1f} min{rate}{mfu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
