"""A real published checkpoint on this machine: cold load time, resident memory, and the per-token
analysis (``engine.score`` + ``engine.attention``, as the losses and masks pages run them) at 128 and
1,024 of the model's own tokens: ``python -m bench.real_model``.

The model is SmolLM2-135M-Instruct, read as GGUF Q4_1 from ``../shared/models`` (or any path given)
and de-quantised to float32 by ``transformers``. The load is measured in a fresh process (imports
included), as a server's first visitor would meet it. The arithmetic floor of a forward pass is
2 x parameters x tokens FLOPs (weights) plus the attention scores, divided by a float32 matmul
rate measured in the same run. Writes ``bench/results/real_model.{md,json}``.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.common import REPO, median_ms, repeat, source_text, texts

DEFAULT = REPO.parent / "shared" / "models" / "smollm2-135m-instruct-q4_1"

LOAD = """
import resource, sys, time, json
t = time.perf_counter()
import engine
v = engine.load_variant(sys.argv[1], device=sys.argv[2])
loaded = time.perf_counter() - t
engine.score(v, "Warm up.")
print(json.dumps({"load_s": loaded, "first_score_s": time.perf_counter() - t, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "parameters": v.card["parameters"], "quantisation": v.card.get("quantisation")}))
"""


def matmul_gflops(reps: int = 5) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    s = repeat(lambda: a @ b, reps, 2)
    return 2 * 1024**3 / (sorted(s)[len(s) // 2]) / 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.real_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(DEFAULT), help="a published checkpoint: folder, .gguf file or hub id")
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 1024], help="text lengths in the model's own tokens")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions; the median is reported")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder for real_model.md and real_model.json")
    args = p.parse_args(argv)

    r = subprocess.run([sys.executable, "-c", LOAD, args.model, args.device], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        return 1
    cold = json.loads(r.stdout.strip().splitlines()[-1])

    import engine

    v = engine.load_variant(args.model, device=args.device)
    b = v.backend
    rate = matmul_gflops()
    source, _ = source_text()
    rows = []
    for n in args.sizes:
        words = " ".join(texts(n * 2, 1, source)[0].split())
        ids = b.tokens(words).ids[:n]
        text = b.decode(ids)
        n = len(b.tokens(text).ids)
        score = repeat(lambda: engine.score(v, text), args.reps, 1, args.device)
        attn = repeat(lambda: engine.attention(v, text, max_tokens=min(n, 512)), args.reps, 1, args.device)
        body = 2 * (cold["parameters"] - b.vocab_size * v.model.config.hidden_size) * n  # weights, less the embedding lookup
        head = 2 * b.vocab_size * v.model.config.hidden_size * n
        attention_scores = 4 * b.n_layer * v.model.config.hidden_size * n * n / 2  # QK^T and AV, causal half
        floor_ms = (body + head + attention_scores) / (rate * 1e9) * 1e3
        rows.append({"tokens": n, "score_ms": median_ms(score), "attention_ms": median_ms(attn), "attention_tokens": min(n, 512),
                     "floor_score_ms": floor_ms, "score_samples_ms": [s * 1e3 for s in score]})
    result = {
        "model": args.model, "device": engine.device_info(args.device), "machine": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(), "matmul_gflops_float32": rate, "cold": cold, "rows": rows,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_model.json").write_text(json.dumps(result, indent=1))
    md = [
        "# A real published checkpoint", "",
        f"`python -m bench.real_model` on {result['device']}, {result['torch_threads']} torch threads, {result['date']}; "
        f"float32 matmul rate measured in the same run: {rate:.0f} GFLOP/s.", "",
        f"Model: `{args.model}` ({cold['parameters'] / 1e6:.1f}M parameters, GGUF {cold['quantisation']} de-quantised to float32).", "",
        "| cold start (fresh process: imports + load) | then the first score | resident memory (peak) |",
        "| --- | --- | --- |",
        f"| {cold['load_s']:.1f} s | {cold['first_score_s']:.1f} s | {cold['rss_mb']:,.0f} MB |", "",
        "| model tokens | engine.score (median) | arithmetic floor | engine.attention, all 30 layers x 9 heads (median) |",
        "| --- | --- | --- | --- |",
    ]
    md += [f"| {r['tokens']:,} | {r['score_ms']:,.0f} ms | {r['floor_score_ms']:,.0f} ms | {r['attention_ms']:,.0f} ms over {r['attention_tokens']} tokens |" for r in rows]
    (out / "real_model.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
