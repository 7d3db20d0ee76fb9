"""Scaling runs: every architecture at several sizes on one fixed budget of corpus tokens.

``python -m engine.sweep`` writes ``assets/scaling.json`` for the app's scaling page: per run the
final validation loss on the architecture's own objective, parameters, training FLOPs, tokens and
the loss curve. Three sizes at least, so the middle point shows the curve's shape.
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from engine.catalog import ARCHITECTURE_RECIPES, SWEEP_PRESETS, SWEEP_SIZES, SWEEP_VARIANTS, VARIANTS
from engine.checkpoint import atomic_write
from engine.train import TrainConfig, train

def _curve(log_path: Path) -> list[dict]:
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    return [{**{k: r[k] for k in ("step", "tokens", "flops", "val_loss")}, **({"yardstick": r["yardstick"]} if "yardstick" in r else {})} for r in rows if r.get("eval")]


def run_sweep(runs: Path, out: Path, tokens: int, sizes=SWEEP_SIZES, variants=SWEEP_VARIANTS, corpus=None, command: str | None = None,
              **overrides) -> list[dict]:
    """Train (or resume, or read back the finished summary of) every ``variants`` x ``sizes`` run in
    ``runs``/<variant>-<size> on ``tokens`` corpus tokens each (``SWEEP_PRESETS["cpu"]``), then write ``out``: per run its
    parameters, training FLOPs, final loss on its own objective and categories, wall time, and the curve
    of evaluations (with engine.yardstick's result at each, when ``yardstick`` > 0); ``out`` is rewritten
    after every run, so a stopped sweep keeps what it finished. ``overrides``: further TrainConfig fields
    (another preset's). Returns the runs' rows.

    Rows of other variants already in ``out`` on the same budget and sizes are kept, ahead of the new
    ones: ``variants=("encdec-span",)`` re-runs one architecture's rows and leaves the rest of the sweep
    as it was. Each row records the command and the overrides that made it (the architecture's
    ``ARCHITECTURE_RECIPES`` entry among them: the lr an encoder-decoder row trained with, not the preset's)."""
    results = []
    kept = _kept_rows(out, tokens, sizes, variants)
    for name in variants:
        arch, objective = VARIANTS[name]
        for size in sizes:
            run_dir = runs / f"{name}-{size}"
            summary_path = run_dir / "summary.json"
            applied = {**overrides, **ARCHITECTURE_RECIPES.get(arch, {})}  # an encoder-decoder's own recipe over the preset's
            if summary_path.exists():
                s = json.loads(summary_path.read_text())
            else:
                cfg = TrainConfig(architecture=arch, objective=objective, size=size, tokens=tokens, out=str(run_dir), corpus=corpus, **SWEEP_PRESETS["cpu"])
                s = train(replace(cfg, **applied), resume=True)
            results.append({"variant": name, "architecture": arch, "objective": objective, "size": size, "parameters": s["parameters"], "training_flops": s["training_flops"], "corpus_tokens": s["corpus_tokens"], "final_val_loss": s["final_val_loss"], "final_categories": s["final_categories"], "wall_time_s": s["wall_time_s"], "curve": _curve(run_dir / "log.jsonl"),
                            "command": command, "overrides": {k: v for k, v in applied.items() if k != "out"}})
            print(f"{name} {size}: {s['final_val_loss']:.3f} ({s['parameters']:,} params)", file=sys.stderr, flush=True)
            _write(out, tokens, sizes, overrides, command, kept + results)  # after every run: a stopped sweep keeps what it finished
    return results


def _kept_rows(out: Path, tokens: int, sizes, variants) -> list[dict]:
    """The rows of ``out`` that a sweep of ``variants`` leaves alone: other variants' runs on the same
    budget and sizes (a results file for another budget or other sizes is replaced whole)."""
    try:
        old = json.loads(out.read_text())
    except (OSError, ValueError):
        return []
    if old.get("budget_tokens") != tokens or list(old.get("sizes", [])) != list(sizes):
        return []
    return [{**r, "command": r.get("command", old.get("command")), "overrides": r.get("overrides", old.get("overrides"))}
            for r in old.get("runs", []) if r.get("variant") not in variants]


def _write(out: Path, tokens: int, sizes, overrides: dict, command: str | None, results: list[dict]) -> None:
    data = {"budget_tokens": tokens, "sizes": list(sizes), "overrides": {k: v for k, v in overrides.items() if k != "out"},
            "command": command, "wall_time_s": sum(r["wall_time_s"] for r in results),
            "note": "each run: the same corpus tokens; loss on the architecture's own objective; yardstick: engine.yardstick at every evaluation",
            "runs": results}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.sweep", description="Train each architecture at several sizes on one budget of corpus tokens.")
    p.add_argument("--preset", default="cpu", choices=list(SWEEP_PRESETS), help="cpu: batches of 16 x 128 tokens; gpu: 128 x 256, batches built by worker processes, needs CUDA")
    p.add_argument("--tokens", type=int, default=2_000_000, help="corpus tokens per run")
    p.add_argument("--sizes", nargs="+", default=list(SWEEP_SIZES), help="size presets from engine.catalog.SIZES (three or more)")
    p.add_argument("--runs", default="runs/sweep", help="folder for run folders")
    p.add_argument("--out", default="assets/scaling.json", help="results file")
    p.add_argument("--corpus", default=None, help="text file or folder (default ../shared/corpus)")
    p.add_argument("--yardstick", type=int, default=None, help="held-out words per task scored at every evaluation (engine.yardstick; default: the preset's); 0: off")
    p.add_argument("--eval-interval", type=int, default=None, help="steps between evaluations (default: the preset's)")
    p.add_argument("--variants", nargs="+", default=list(SWEEP_VARIANTS), choices=list(VARIANTS),
                   help="variants to train (default: one per architecture); other variants' rows already in --out on the same "
                        "budget and sizes are kept")
    p.add_argument("--device", default=None, help="override the preset's device (e.g. cpu, to run the gpu preset's shapes on a CPU)")
    p.add_argument("--workers", type=int, default=None, help="override the preset's batch-building worker processes (0: in the loop)")
    args = p.parse_args(argv)
    command = "python -m engine.sweep " + " ".join(sys.argv[1:] if argv is None else argv)
    overrides = dict(SWEEP_PRESETS[args.preset])
    overrides.update({k: v for k, v in (("yardstick", args.yardstick), ("eval_interval", args.eval_interval), ("device", args.device),
                                        ("workers", args.workers)) if v is not None})
    try:
        run_sweep(Path(args.runs), Path(args.out), args.tokens, args.sizes, variants=tuple(args.variants), corpus=args.corpus,
                  command=command.strip(), **overrides)
    except (ValueError, FileNotFoundError) as e:  # the gpu preset without a GPU, an unknown size, no corpus, ...
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
