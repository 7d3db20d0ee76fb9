"""Train every shipped variant with one preset: ``python -m engine.pretrain --preset cpu``.

The variants are compute-matched: each trains until it has spent the same training FLOPs (the
engine's accounting), on the same corpus in the same order. An encoder-decoder has twice the layers
of the decoder-only but spends about the same FLOPs per token, as in the T5 paper's comparison.
Finished runs are skipped and killed ones resume, so the command can simply be run again.
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from engine.train import TrainConfig, train

VARIANTS = {
    "decoder-clm": ("decoder", "clm"),
    "encoder-mlm": ("encoder", "mlm"),
    "encdec-span": ("encoder_decoder", "span_corruption"),
    "prefixlm-prefix": ("prefix_lm", "prefix_lm"),
    "prefixlm-ul2": ("prefix_lm", "ul2"),
}

PRESETS = {
    # about 17 minutes a variant on 2 CPU cores: the decoder-only sees 3.2M corpus tokens
    "cpu": dict(size="medium", seq_len=256, batch_size=16, flops=6.8e13, lr=3e-3, warmup=60, eval_interval=100, ckpt_interval=50, device="auto"),
    # a larger model for a GPU, 20x the compute
    "gpu": dict(size="large", seq_len=256, batch_size=64, flops=1.4e15, lr=2e-3, warmup=200, eval_interval=200, ckpt_interval=200, device="cuda"),
    # seconds, for tests
    "smoke": dict(size="tiny", seq_len=32, batch_size=4, flops=2e9, lr=3e-3, warmup=2, eval_interval=5, ckpt_interval=5, eval_batches=1, max_corpus_bytes=400_000),
}


def run_all(preset: str, runs: Path, only: list[str] | None = None, corpus=None, progress=True) -> dict:
    results = {}
    for name, (arch, objective) in VARIANTS.items():
        if only and name not in only:
            continue
        out = runs / preset / name
        summary_path = out / "summary.json"
        if summary_path.exists():
            results[name] = json.loads(summary_path.read_text())
            continue
        cfg = replace(TrainConfig(architecture=arch, objective=objective, out=str(out), corpus=corpus), **PRESETS[preset])
        print(f"training {name} ({arch}, {objective}) -> {out}", file=sys.stderr, flush=True)
        results[name] = train(cfg, resume=True, progress=progress)
        results[name]["preset"] = preset
        summary_path.write_text(json.dumps(results[name], indent=2))
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.pretrain", description="Train MaskLab's shipped variants, compute-matched.")
    p.add_argument("--preset", default="cpu", choices=list(PRESETS), help="cpu: about 17 min a variant on 2 cores; gpu: larger, needs CUDA; smoke: seconds")
    p.add_argument("--runs", default="runs", help="folder for the run folders (checkpoints, logs)")
    p.add_argument("--only", nargs="*", choices=list(VARIANTS), help="train only these variants")
    p.add_argument("--corpus", default=None, help="text file or folder (default ../shared/corpus or $MASKLAB_CORPUS)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    results = run_all(args.preset, Path(args.runs), args.only, args.corpus, progress=not args.quiet)
    for name, s in results.items():
        print(f"{name}: val loss {s['final_val_loss']:.3f}, {s['corpus_tokens']:,} tokens, {s['training_flops']:.3g} FLOPs, {s['wall_time_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
