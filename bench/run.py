"""Run every MaskLab benchmark and write ``bench/results/results.{md,json}``: ``python -m bench``.

Every engine number comes with a reference measured in the same run (``transformers`` models of the
same configuration, an uncached call, or the same work done in-process) and a median over
``--reps`` repetitions after ``--warmup`` untimed calls. ``--quick`` runs every part on tiny models
in well under a minute: it is what the test suite runs, so the benchmark cannot rot.
"""

import argparse
import ast
import json
import sys
import tempfile
import traceback
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bench import floors, report
from bench.analysis import Memo, analyze, floor_flops, page_limits, page_score, products_ms, scored_part
from bench.common import REPO, bench_variants, clock, median_ms, repeat, source_text, texts
from engine.device import pick_device
from engine.tokenizer import tokenize

TARGETS_MS = {"analysis_128": 100.0, "cached_128": 10.0, "analysis_1024": 1000.0, "first_chart": 3000.0,
              "edit_128": 300.0, "edit_1024": 1000.0, "control": 200.0, "first_view": 2000.0}
TARGET_MEMORY_MB = 4000.0  # the server with every model loaded and 8 sessions open: a sixth of the 24 GiB machine
MASKED = ("encoder", "encoder_decoder")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="MaskLab's benchmark suite: analysis, training and the app in a browser.")
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 512, 1024], help="text lengths in MaskLab tokens")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per measurement; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before each measurement")
    p.add_argument("--window", type=int, default=64, help="also time engine.score(window=N) for encoders and encoder-decoders; 0: don't")
    p.add_argument("--train-batch", type=int, nargs=2, default=[16, 256], metavar=("B", "T"), help="training batch: sequences x corpus tokens")
    p.add_argument("--no-reference", action="store_true", help="skip the transformers reference (ratios become empty)")
    p.add_argument("--no-training", action="store_true", help="skip the training throughput part")
    p.add_argument("--no-browser", action="store_true", help="skip the browser parts (Streamlit + Chromium)")
    p.add_argument("--no-pages", action="store_true", help="skip the every-page part of the browser benchmark (bench/pages.py)")
    p.add_argument("--sessions", type=int, default=8, help="browser sessions opened at once for the server's memory")
    p.add_argument("--random-models", action="store_true", help="random models of the CPU preset's size, one per architecture, even when variants are shipped")
    p.add_argument("--quick", action="store_true", help="tiny models and batches: checks every part runs; the numbers mean nothing")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder for results.md and results.json")
    return p


def scoring_modes(v, limits) -> list:
    """The page's default scoring for ``v``, then, for an encoder or encoder-decoder scored as trained
    by default, the exact one-copy-per-token scoring the page offers beside it."""
    modes = [limits]
    if v.architecture in limits.slow_archs and limits.stride and not limits.exact:
        modes.append(replace(limits, exact=True))
    return modes


def run_analysis(models, sizes, reps, warmup, limits, source, device, with_reference, window, rate=None) -> tuple[list, list]:
    """Per size, variant and scoring mode: the analysis uncached, cached, and by the transformers twin;
    then totals for the page's default scoring and for exact scoring throughout."""
    refs = {}
    if with_reference:
        from bench.reference import Reference

        refs = {v.name: Reference(v, device) for v in models.variants}
    rows, window_rows = [], []
    for n in sizes:
        text = texts(n, 1, source)[0]
        memo = Memo()
        totals = {k: {"cold": np.zeros(reps), "cached": np.zeros(reps), "reference": np.zeros(reps), "floor": 0.0, "products": 0.0} for k in ("default", "exact")}
        for v in models.variants:
            modes = scoring_modes(v, limits)
            for lim in modes:
                run = lambda v=v, lim=lim: analyze(v, text, lim)  # noqa: E731
                for _ in range(warmup):
                    run()
                    if v.name in refs:
                        refs[v.name].analyze(text, lim)
                cold, ref = [], []
                for _ in range(reps):  # interleaved, so that a slow spell of the machine hits both alike
                    cold.append(clock(run, device))
                    if v.name in refs:
                        ref.append(clock(lambda: refs[v.name].analyze(text, lim), device))
                key = (v.name, text, 5, None, lim.exact, str(device))
                cached = repeat(lambda: memo(run, *key), reps, warmup=1, device=device)  # the warm-up stores it
                floor = floor_flops(v, text, lim)
                products = products_ms(run, device)  # one more call, profiled: its time in matrix products
                for total in (["default", "exact"] if len(modes) == 1 else ["default"] if lim is modes[0] else ["exact"]):
                    totals[total]["cold"] += cold
                    totals[total]["cached"] += cached
                    totals[total]["reference"] += ref if ref else np.nan
                    totals[total]["floor"] += floor
                    totals[total]["products"] += products
                row = {"tokens": n, "variant": v.name, "architecture": v.architecture, "scoring": lim.mode(v.architecture),
                       "scored_tokens": _count(scored_part(text, v.architecture, lim)),
                       "cold_ms": median_ms(cold), "cold_samples_ms": _ms_list(cold), "cached_ms": median_ms(cached), "cached_samples_ms": _ms_list(cached),
                       "reference": refs[v.name].name if v.name in refs else "", "reference_ms": median_ms(ref), "reference_samples_ms": _ms_list(ref),
                       "floor_gflop": floor / 1e9, "floor_ms": 1e3 * floor / rate if rate else float("nan"), "products_ms": products}
                row["speedup"] = row["reference_ms"] / row["cold_ms"]
                rows.append(row)
            if window and v.architecture in MASKED and _count(text) > window:
                exact_limits = modes[-1]
                exact = memo(lambda: analyze(v, text, exact_limits), v.name, text, 5, None, exact_limits.exact, str(device))[0]
                windowed = analyze(v, text, exact_limits, window=window)[0]  # doubles as the warm-up
                seconds = repeat(lambda: analyze(v, text, exact_limits, window=window), reps, 0, device)
                change = (windowed["loss"] - exact["loss"]).abs()[exact["scored"]].mean()
                window_rows.append({"tokens": n, "variant": v.name, "window": window, "ms": median_ms(seconds), "samples_ms": _ms_list(seconds),
                                    "speedup": rows[-1]["cold_ms"] / median_ms(seconds), "mean_abs_loss_change": float(change)})
        for k, label in (("default", "all variants"), ("exact", "all variants, exact scoring")):
            if k == "exact" and not any(v.architecture in limits.slow_archs for v in models.variants) or (k == "exact" and not limits.stride):
                continue
            t = {x: float(np.median(y)) * 1e3 for x, y in totals[k].items() if x not in ("floor", "products")}
            rows.append({"tokens": n, "variant": label, "scoring": "the page's default" if k == "default" else "exact (PLL) for encoders and encoder-decoders",
                         "cold_ms": t["cold"], "cached_ms": t["cached"], "reference": "transformers" if refs else "", "reference_ms": t["reference"],
                         "speedup": t["reference"] / t["cold"], "floor_gflop": totals[k]["floor"] / 1e9,
                         "floor_ms": 1e3 * totals[k]["floor"] / rate if rate else float("nan"), "products_ms": totals[k]["products"]})
    return rows, window_rows


def _count(text: str) -> int:
    return len(tokenize(text))


def _ms_list(seconds) -> list[float]:
    return [round(1e3 * s, 3) for s in seconds]


def run_training(models, args, device, rate=None) -> dict:
    from bench.training import matmul_rate, measure

    rate = rate or matmul_rate(device, args.quick)
    B, T = (2, 32) if args.quick else args.train_batch
    T = min(T, max(args.sizes))  # tiny --sizes: a tiny batch too
    rows, seen = [], set()
    for v in models.variants:
        mc = v.model.config
        if mc in seen:  # two shipped variants of one architecture train alike
            continue
        seen.add(mc)
        rows.append(measure(mc, B, T, args.reps, args.warmup, device, rate["flops_per_s"]))
    return {"matmul": rate, "rows": rows}


def page_models() -> list[str]:
    """The models the per-token-loss page shows by default (views/losses.py: the first four shipped ones,
    else the random decoder and encoder)."""
    from engine.variants import list_variants

    shipped = [v.name for v in list_variants(include_random=False) if v.source == "shipped"]
    return shipped[:4] or ["random-decoder", "random-encoder"]


def default_text() -> str:
    """ui/state.py's DEFAULT_TEXT, the text a fresh session shows, read without importing Streamlit."""
    for node in ast.parse((REPO / "ui" / "state.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DEFAULT_TEXT":
            return ast.literal_eval(node.value)
    return "It is a truth universally acknowledged."


def run_browser(args, limits, source, device) -> dict:
    from bench import browser
    from engine.variants import load_variant

    if not browser.wait_for_app(timeout_s=600):
        return {"skipped": "app.py or views/losses.py did not appear within 10 minutes"}
    sizes = sorted(set(args.sizes))
    reps = max(1, min(args.reps, 3))
    log = Path(tempfile.gettempdir()) / "masklab-bench-streamlit.log"
    got = browser.measure(sizes, reps, lambda n, k: texts(n, k + 1, source)[1:], log)
    names = page_models()
    variants = [load_variant(n, device=device) for n in names]

    def in_process(text: str) -> float:
        return 1e3 * clock(lambda: [page_score(v, text, limits) for v in variants], device)

    in_process(default_text())  # a warm-up: the app's models are loaded and have run too
    base = float(np.median([in_process(default_text()) for _ in range(reps)]))
    rows = [{"measurement": "first chart, fresh server (from its health check)", "tokens": _count(default_text()), "ms": 1e3 * got["first_chart_cold_s"], "in_process_ms": base},
            {"measurement": "first chart, second visit (warm caches)", "tokens": _count(default_text()), "ms": 1e3 * got["first_chart_warm_s"], "in_process_ms": base}]
    for launcher in browser.LAUNCHERS:  # fresh servers again, one per repetition, started both ways
        starts = browser.cold_starts(launcher, reps, log)
        rows.append({"measurement": f"first chart, fresh server, `{launcher}` (from its health check; {reps} servers)", "tokens": _count(default_text()),
                     "ms": median_ms([s["first_chart_s"] for s in starts]), "samples_ms": _ms_list([s["first_chart_s"] for s in starts]),
                     "start_to_health_ms": median_ms([s["to_health_s"] for s in starts]), "in_process_ms": base})
    for n, seconds in got["edits"].items():
        ref = np.median([in_process(t) for t in texts(n, reps + 1, source)[1:]])
        rows.append({"measurement": "text edit to the updated chart", "tokens": n, "ms": median_ms(seconds), "samples_ms": _ms_list(seconds),
                     "in_process_ms": float(ref), "chart_columns": got["chart_columns"].get(n)})
    for r in rows:
        r["ratio"] = r["ms"] / r["in_process_ms"]
    return {"url": got["url"], "page_models": ", ".join(names), "rows": rows, "page_error": got.get("page_error"), "server_log": str(log)}


PLOTLY_PAGES = ("masks",)  # the pages that draw with Plotly: their maps are drawn again by Plotly alone (bench/floors.py)


def run_pages(args, source) -> dict:
    """bench/pages.py: every page's first view, text edits (128 and 1,024 tokens where measured) and a
    control step, and the server's memory; ``--quick``: two pages, one session."""
    from bench import pages

    sizes = [n for n in sorted(set(args.sizes)) if n in (128, 1024)] or sorted(set(args.sizes))[:1]
    reps = max(1, min(args.reps, 3))
    chosen = {k: pages.PAGES[k] for k in ("tokenization", "masks")} if args.quick else None
    log = Path(tempfile.gettempdir()) / "masklab-bench-pages.log"
    texts_for = lambda n, k: texts(n, k + 1, source)[1:]  # noqa: E731
    got = pages.measure(sizes, reps, texts_for, log, sessions=1 if args.quick else args.sessions, pages=chosen, figures_of=PLOTLY_PAGES)
    got["sizes"], got["reps"], got["server_log"] = sizes, reps, str(log)
    figures = got.pop("figures")
    got["floors"] = {}
    try:  # the floors of a step (bench/floors.py): Streamlit's own, and Plotly drawing a page's maps alone
        bare = pages.measure(sizes, reps, texts_for, Path(tempfile.gettempdir()) / "masklab-bench-floor.log", sessions=0,
                             pages=floors.FLOOR_PAGE, launcher=floors.FLOOR_APP, arm=pages.ARM_OUTPUT)
        got["errors"] += [f"floor page: {e}" for e in bare["errors"]]
        got["floors"]["streamlit"] = bare["pages"].get("home", {})
        steps = {(path, kind, n): pair for path, f in figures.items() for kind in ("edits", "controls") for n, pair in f[kind].items()}
        drawn = floors.plotly_alone(steps, reps)
        got["floors"]["plotly"] = {path: {kind: {n: drawn[(p, k, n)] for (p, k, n) in drawn if p == path and k == kind} for kind in ("edits", "controls")}
                                   for path in figures}
    except Exception as e:  # the pages' own numbers stand without their floors
        got["errors"].append(f"floors: {type(e).__name__}: {str(e)[:400]}")
    return got


LOSSES_PAGE_MODELS = ("decoder-clm", "encdec-span", "encoder-mlm", "prefixlm-prefix")  # views/losses.py's default: these and the first published model
REAL_MODEL_FILE = REPO / "bench" / "results" / "real_model.json"


def losses_page_floor(results: dict, n: int) -> str:
    """"; arithmetic floor ..." for the losses page at ``n`` tokens: the analysis floor of MaskLab's models the
    page shows by default (section 1-2, the page's scoring), and SmolLM2's forward pass on ``n`` of its own
    tokens from ``python -m bench.real_model`` (bench/results/real_model.json), when each was measured."""
    own = [a["floor_ms"] for a in results.get("analysis", []) if a.get("tokens") == n and a.get("variant") in LOSSES_PAGE_MODELS
           and a.get("scoring") != "exact (PLL)" and a.get("floor_ms") == a.get("floor_ms")]
    parts = [f"{report.fmt_ms(sum(own))} for MaskLab's {len(own)} models (with an attention pass: section 1-2)"] if own else []
    try:
        real = json.loads(REAL_MODEL_FILE.read_text())
        row = next(r for r in real["rows"] if r["tokens"] == n)
        parts.append(f"{report.fmt_ms(row['floor_score_ms'])} for SmolLM2-135M (bench/results/real_model.md)")
    except (OSError, ValueError, KeyError, StopIteration):
        pass
    return f"; arithmetic floor {' + '.join(parts)}" if parts else ""


def run_split(ms: float, to_run_end) -> str:
    """" (run ended at X, drawn Y later)" for a page step of ``ms`` (median) whose samples' parts up to the
    run's end are ``to_run_end`` (ms each, bench/pages.py); "" when they were not measured."""
    if not to_run_end:
        return ""
    run = median_ms([x / 1e3 for x in to_run_end])
    return f" (run ended at {report.fmt_ms(run)}, drawn {report.fmt_ms(max(ms - run, 0.0))} later)"


def step_floor(floors_: dict, path: str, kind: str, n) -> str:
    """"; floor: ..." for a page step: the same step on bench/floor_app.py (Streamlit's own time), and, on a
    page that draws with Plotly, plotly.js alone updating the maps that step changed (bench/floors.py).
    ``kind``: "edits" or "controls"; ``n``: the text's length ("" for a page without a text)."""
    bare = floors_.get("streamlit", {})
    samples = bare.get(kind, {}).get(n) if n != "" else bare.get("control")
    parts = [f"Streamlit's own step {report.fmt_ms(median_ms([x / 1e3 for x in samples]))}"] if samples else []
    drawn = floors_.get("plotly", {}).get(path, {}).get(kind, {}).get(n)
    if drawn:
        parts.append(f"Plotly alone updating the {drawn['changed']} of its {drawn['maps']} maps the step changed {report.fmt_ms(drawn['update_ms'])}")
    return f"; floor: {' + '.join(parts)}" if parts else ""


def targets(results: dict) -> list[dict]:
    out = []
    by = {}
    for a in results["analysis"]:
        by.setdefault((a["tokens"], a["variant"]), a)  # a variant's first row is the page's default scoring
    totals = (("all variants", "the page's default scoring"), ("all variants, exact scoring", "exact (PLL) scoring"))
    for n, key, what in ((128, "cold_ms", "analysis_128"), (128, "cached_ms", "cached_128"), (1024, "cold_ms", "analysis_1024")):
        label = {"analysis_128": "128 tokens, all variants, first call", "cached_128": "128 tokens, all variants, cached",
                 "analysis_1024": "1,024 tokens, all variants, first call"}[what]
        target = TARGETS_MS[what]
        for variant, how in totals:
            row = by.get((n, variant))
            if row:
                floor = f"; arithmetic floor {report.fmt_ms(row['floor_ms'])}" if key == "cold_ms" and row.get("floor_ms") == row.get("floor_ms") else ""
                products = row.get("products_ms")
                if key == "cold_ms" and products is not None and products == products:  # measured (not NaN: off the CPU)
                    floor += f"; in matrix products {report.fmt_ms(products)} (a profiled call, torch.profiler)"
                out.append({"target": f"{label}, {how} < {report.fmt_ms(target)}", "measured": report.fmt_ms(row[key]) + floor, "verdict": report.verdict_time(row[key], target)})
    if results["window"] and (1024, "all variants") in by:
        windowed = {w["variant"]: w["ms"] for w in results["window"] if w["tokens"] == 1024}
        exact = {}
        for a in results["analysis"]:
            if a["tokens"] == 1024 and not a["variant"].startswith("all variants"):
                exact[a["variant"]] = a["cold_ms"]  # the last row of a variant: its exact scoring
        total = sum(windowed.get(name, ms) for name, ms in exact.items())
        w = results["window"][0]["window"]
        out.append({"target": f"1,024 tokens, all variants, first call, exact scoring with `window={w}` < 1 s (option)", "measured": report.fmt_ms(total),
                    "verdict": report.verdict_time(total, TARGETS_MS["analysis_1024"])})
    for a in results["analysis"]:
        if a["variant"].startswith("all variants") and a["reference_ms"] == a["reference_ms"]:
            how = "default scoring" if a["variant"] == "all variants" else "exact scoring"
            out.append({"target": f"analysis at {a['tokens']} tokens ({how}): engine at least as fast as transformers", "measured": report.fmt_x(a["speedup"]),
                        "verdict": report.verdict_speedup(a["speedup"])})
    for t in results.get("training", {}).get("rows", []):
        out.append({"target": f"training {t['architecture']}: engine at least as fast as transformers", "measured": report.fmt_x(t["speedup"]),
                    "verdict": report.verdict_speedup(t["speedup"])})
    for b in results.get("browser", {}).get("rows", []):
        if "`" in b["measurement"]:  # the medians over fresh servers, one per way of starting the app
            launcher = b["measurement"].split("`")[1]
            out.append({"target": f"first chart in the browser < 3 s after the server is up (`{launcher}`)", "measured": report.fmt_ms(b["ms"]),
                        "verdict": report.verdict_time(b["ms"], TARGETS_MS["first_chart"])})
    pg = results.get("pages", {})
    fl = pg.get("floors", {})
    bare_view = fl.get("streamlit", {}).get("first_view")
    for path, got in pg.get("pages", {}).items():
        if got.get("first_view"):
            ms = median_ms([x / 1e3 for x in got["first_view"]])
            what = "first chart" if got.get("chart") else "first view (no chart on the page)"
            floor = f"; a bare Streamlit page: {report.fmt_ms(median_ms([x / 1e3 for x in bare_view]))}" if bare_view else ""
            kinds = fl.get("plotly", {}).get(path, {})
            drawn = next(iter([*kinds.get("edits", {}).values(), *kinds.get("controls", {}).values()]), None)
            if drawn:
                floor += f"; Plotly alone draws its {drawn['maps']} maps in {report.fmt_ms(drawn['draw_ms'])}"
            out.append({"target": f"/{path}: {what}, fresh browser visit to a warm server <= 2 s", "measured": report.fmt_ms(ms) + floor,
                        "verdict": report.verdict_time(ms, TARGETS_MS["first_view"])})
        for n, samples in got.get("edits", {}).items():
            key = "edit_128" if int(n) <= 128 else "edit_1024"
            ms = median_ms([x / 1e3 for x in samples])
            floor = losses_page_floor(results, int(n)) if path == "losses" else ""
            out.append({"target": f"/{path}: text edit to updated view, {int(n):,} tokens <= {report.fmt_ms(TARGETS_MS[key])}",
                        "measured": report.fmt_ms(ms) + run_split(ms, got.get("to_run_end", {}).get("edits", {}).get(n)) + step_floor(fl, path, "edits", n) + floor,
                        "verdict": report.verdict_time(ms, TARGETS_MS[key])})
        by_size = got.get("controls") or ({"": got["control"]} if got.get("control") else {})
        for n, samples in by_size.items():
            ms = median_ms([x / 1e3 for x in samples])
            at = f", {int(n):,} tokens" if n != "" else ""
            out.append({"target": f"/{path}: control ({got.get('control_label')}) to updated view{at} <= 200 ms",
                        "measured": report.fmt_ms(ms) + run_split(ms, got.get("to_run_end", {}).get("controls", {}).get(n)) + step_floor(fl, path, "controls", n),
                        "verdict": report.verdict_time(ms, TARGETS_MS["control"])})
    memory = pg.get("memory_mb", {})
    if memory:
        worst = max(memory.values())
        out.append({"target": f"server memory (resident, whole process group) <= {TARGET_MEMORY_MB / 1e3:.0f} GB",
                    "measured": "; ".join(f"{k}: {v / 1e3:.2f} GB" for k, v in memory.items()),
                    "verdict": "met" if worst <= TARGET_MEMORY_MB else f"missed by {worst / TARGET_MEMORY_MB:.1f}x"})
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    sizes = sorted(set(args.sizes))
    load_before = report.load()
    results = {"schema": 1, "machine": report.machine(device), "load_before": load_before,
               "settings": {"sizes": sizes, "reps": args.reps, "warmup": args.warmup, "quick": args.quick, "window": args.window, "argv": sys.argv[1:] if argv is None else list(argv)},
               "analysis": [], "window": [], "training": {}, "browser": {}, "pages": {}, "errors": []}
    limits = page_limits()
    source, where = source_text()
    results["page_limits"] = {"slow_limit": limits.slow_limit, "slow_archs": list(limits.slow_archs), "source": limits.source, "stride": limits.stride}
    results["texts"] = where
    models = bench_variants(args.quick, device, args.random_models)
    results["models"] = models.note

    def part(name, fn):
        print(f"bench: {name}…", file=sys.stderr, flush=True)
        try:
            return fn()
        except Exception as e:  # one part failing must not lose the others' numbers
            results["errors"].append(f"{name}: {type(e).__name__}: {e}")
            traceback.print_exc()
            return None

    from bench.training import matmul_rate

    results["matmul"] = part("matmul rate", lambda: matmul_rate(device, args.quick)) or {}
    rate = results["matmul"].get("flops_per_s")
    got = part("analysis", lambda: run_analysis(models, sizes, args.reps, args.warmup, limits, source, device, not args.no_reference, args.window, rate))
    if got:
        results["analysis"], results["window"] = got
    if not args.no_training:
        results["training"] = part("training", lambda: run_training(models, args, device, results["matmul"] or None)) or {}
    if args.no_browser:
        results["browser"] = {"skipped": "--no-browser"}
    else:
        results["browser"] = part("browser", lambda: run_browser(args, limits, source, device)) or {"error": results["errors"][-1]}
        if not args.no_pages:
            results["pages"] = part("every page in the browser", lambda: run_pages(args, source)) or {"error": results["errors"][-1]}
            results["errors"] += [f"pages: {e}" for e in results["pages"].get("errors", [])]
    results["load_after"] = report.load()
    results["contended"] = report.contended(load_before, results["load_after"])
    results["targets"] = targets(results)
    json_path, md_path = report.write(results, Path(args.out))
    print(md_path.read_text())
    print(f"bench: wrote {md_path} and {json_path}", file=sys.stderr)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
