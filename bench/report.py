"""The machine a run measured, the verdict on each target, and the results as Markdown and JSON."""

import json
import os
import platform
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from bench.common import REPO

BUSY_PROCESSES = ("engine.pretrain", "engine.train", "engine.sweep", "pytest")  # the project's own heavy jobs


def _cpuinfo(key: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def load(seconds: float = 1.0) -> dict:
    """How busy the machine is while this process waits: the CPU share in use, the load average, and
    the project's heavy jobs that are running (other than this one)."""
    a = _cpu_times()
    time.sleep(seconds)
    b = _cpu_times()
    busy = None if not (a and b) or b[0] == a[0] else 1 - (b[1] - a[1]) / (b[0] - a[0])
    jobs = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if any(name in cmd for name in BUSY_PROCESSES) and "bench" not in cmd:
            jobs.append(" ".join(cmd.split())[:80])
    try:
        loadavg = float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        loadavg = None
    return {"cpu_busy_share": busy, "load_average_1min": loadavg, "busy_jobs": jobs}


def contended(before: dict, after: dict) -> bool:
    return any(x.get("busy_jobs") or (x.get("cpu_busy_share") or 0) > 0.25 for x in (before, after))


def machine(device) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    try:
        import transformers

        tf_version = transformers.__version__
    except ImportError:
        tf_version = None
    try:
        mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpuinfo("model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "gpu": gpu,
        "device": str(device),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": tf_version,
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": git("rev-parse", "--short", "HEAD") + (" + local changes" if git("status", "--porcelain", "--untracked-files=no") else ""),
    }


def verdict_time(measured_ms: float, target_ms: float) -> str:
    if measured_ms != measured_ms:
        return "not measured"
    if measured_ms <= target_ms:
        return f"met ({measured_ms / target_ms:.0%} of the budget)"
    return f"missed by {measured_ms / target_ms:.1f}x ({fmt_ms(measured_ms - target_ms)} over)"


def verdict_speedup(speedup: float) -> str:
    if speedup != speedup:
        return "not measured"
    if speedup >= 1:
        return f"met (engine {speedup:.2f}x as fast)"
    return f"missed: engine {speedup:.2f}x as fast ({1 / speedup - 1:.0%} slower)"


def fmt_ms(x) -> str:
    """A time in ms as a table shows it: "1.23 s", "45 ms", "6.7 ms"; "–" when not measured (None or NaN)."""
    if x is None or x != x:
        return "–"
    if x >= 1000:
        return f"{x / 1000:.2f} s"
    if x >= 10:
        return f"{x:.0f} ms"
    return f"{x:.1f} ms"


def fmt_x(x) -> str:
    """A ratio as a table shows it ("1.13x"); "–" when not measured."""
    return "–" if x is None or x != x else f"{x:.2f}x"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def markdown(r: dict) -> str:
    m, s = r["machine"], r["settings"]
    gpu = f"GPU: {m['gpu']}" if m["gpu"] else "no GPU"
    out = [
        f"# MaskLab benchmark, {m['date_utc']}",
        "",
        f"**Machine**: {m['cpu']}, {m['cores_usable']} of {m['cores']} cores usable, {m['memory_gib']} GiB; {gpu}; "
        f"torch {m['torch']} ({m['torch_threads']} threads) on {m['device']}, transformers {m['transformers']}, "
        f"Python {m['python']}; commit {m['commit'] or '?'}.",
        "",
        f"**Load**: before the run {_share(r['load_before'])}, after it {_share(r['load_after'])}.",
        "",
    ]
    if r["contended"]:
        jobs = sorted(set(r["load_before"]["busy_jobs"] + r["load_after"]["busy_jobs"]))
        out += [f"> **Measured under contention** ({'; '.join(jobs) or 'the CPU was busy before the run'}): "
                "these timings are not the machine's; run again on an idle machine.", ""]
    out += [
        f"**Models**: {r['models']}. **Texts**: cut from {r['texts']}, exactly n MaskLab tokens each.",
        "",
        f"**Method**: medians of {s['reps']} repetitions after {s['warmup']} warm-up call(s)"
        + (", `--quick` (tiny models: the numbers only show that every part runs)" if s["quick"] else "")
        + f"; sizes {', '.join(str(n) for n in s['sizes'])} tokens. The page scores encoders and encoder-decoders as they were trained by default "
        f"(1 token in {r['page_limits'].get('stride')} hidden per pass, every token), or exactly (pseudo-log-likelihood, one copy per token) "
        f"on their first {r['page_limits']['slow_limit']} tokens (settings from {r['page_limits']['source']}); the benchmark times both.",
        "",
        "**Arithmetic floor**: the matrix-product FLOPs the analysis cannot avoid (projections and MLPs at every position the engine "
        "must run, the output head where a token is scored, one attention pass; attention scores, softmax and norms not counted) "
        + (f"at the {r['matmul']['dtype']} matmul rate measured in this run, {r['matmul']['flops_per_s'] / 1e9:.0f} GFLOP/s: "
           "no implementation on this machine can be faster." if r.get("matmul") else "(the matmul rate was not measured)."),
        "",
        "## Targets",
        "",
    ]
    out += _table(["target", "measured", "verdict"], [[t["target"], t["measured"], t["verdict"]] for t in r["targets"]])
    out += ["## 1-2. Per-token analysis: `engine.score` (top-5) + `engine.attention`, against `transformers`", "",
            "First call: nothing cached (each repetition computes everything again, models loaded). Cached: through a memo that "
            "does what `st.cache_data` does on a hit (hash the arguments, unpickle a copy of the stored result). "
            "Speed-up: transformers time / engine first-call time (above 1: the engine is faster). In matrix products: of one more "
            "first call, profiled (torch.profiler), the time inside the matrix-product kernels (mm, addmm, bmm): the products as "
            "this machine runs them on the models' own shapes, which reach a fraction of the rate of the large products the "
            "arithmetic floor assumes.", ""]
    rows = []
    for a in r["analysis"]:
        rows.append([a["tokens"], a["variant"], a.get("architecture", ""), a.get("scoring", ""), a.get("scored_tokens", ""), fmt_ms(a["cold_ms"]),
                     fmt_ms(a.get("floor_ms")), fmt_ms(a.get("products_ms")), fmt_ms(a["cached_ms"]), a.get("reference", ""), fmt_ms(a["reference_ms"]), fmt_x(a["speedup"])])
    out += _table(["tokens", "variant", "architecture", "scoring", "scored", "engine, first call", "arithmetic floor", "in matrix products", "engine, cached", "reference",
                   "reference time", "speed-up"], rows)
    if r.get("window"):
        out += ["### The `window` option of `engine.score` (one-copy-per-token models, texts longer than the window)", "",
                "Speed-up against the same analysis with the default window (the model's context), and how much the losses move.", ""]
        out += _table(["tokens", "variant", "window", "analysis time", "speed-up", "mean abs. loss change (nats)"],
                      [[w["tokens"], w["variant"], w["window"], fmt_ms(w["ms"]), fmt_x(w["speedup"]), f"{w['mean_abs_loss_change']:.3f}"] for w in r["window"]])
    t = r.get("training", {})
    if t.get("rows"):
        mm = t["matmul"]
        out += ["## 3. Training throughput: forward + backward + AdamW step", "",
                f"Batches laid out by each architecture's own objective (`engine.train.make_batch`). Utilisation: training FLOPs per second "
                f"(engine accounting) over the measured {mm['dtype']} matmul rate, {mm['flops_per_s'] / 1e9:.0f} GFLOP/s ({mm['n']}x{mm['n']})"
                + (" (on a GPU: MFU)." if m["gpu"] else "."), ""]
        out += _table(["architecture", "batch", "engine tokens/s", "transformers tokens/s", "speed-up", "engine utilisation", "transformers utilisation"],
                      [[x["architecture"], x["batch"], f"{x['engine']['tokens_per_s']:,.0f}", f"{x['reference']['tokens_per_s']:,.0f}", fmt_x(x["speedup"]),
                        f"{x['engine']['utilisation']:.0%}", f"{x['reference']['utilisation']:.0%}"] for x in t["rows"]])
        bf = [x for x in t["rows"] if "engine_bf16" in x]
        if bf:
            out += ["", "The engine as `engine.train` runs on this CPU (native bf16 detected): bf16 autocast, float32 weights and "
                    "optimizer state, against float32, same batch, same run (utilisation against the float32 matmul rate):", ""]
            out += _table(["architecture", "float32 tokens/s", "bf16 tokens/s", "bf16 speed-up"],
                          [[x["architecture"], f"{x['engine']['tokens_per_s']:,.0f}", f"{x['engine_bf16']['tokens_per_s']:,.0f}", fmt_x(x["bf16_speedup"])] for x in bf])
    b = r.get("browser", {})
    out += ["## 4. The app in Chromium", ""]
    if b.get("rows"):
        out += [f"Per-token-loss page (`{b['url']}`), showing {b['page_models']}. In-process: the same scoring called directly in "
                "Python with the models loaded: the ratio is what the app adds (server, session, widgets, transport, drawing).", ""]
        out += _table(["measurement", "tokens", "time", "in-process", "ratio", "chart columns"],
                      [[x["measurement"], x["tokens"], fmt_ms(x["ms"]), fmt_ms(x["in_process_ms"]), fmt_x(x["ratio"]), x.get("chart_columns") or "–"] for x in b["rows"]])
        if b.get("page_error"):
            out += [f"The page showed an error: `{b['page_error']}`", ""]
    else:
        out += [f"Not measured: {b.get('skipped') or b.get('error') or 'skipped'}.", ""]
    pg = r.get("pages", {})
    out += ["## 5. Every page in Chromium (`bench/pages.py`)", ""]
    if pg.get("pages"):
        out += ["One warm server (`python -m ui.serve`), a 1280 x 720 window. First view: a fresh browser context, navigation to the first "
                "chart drawn. Edit and control: from the input event in the page to the script's rerun finished and painted "
                f"(two animation frames). Medians of {pg.get('reps')}; every sample in results.json.", ""]
        rows = []
        for path, got in pg["pages"].items():
            edits = {int(n): v for n, v in got.get("edits", {}).items()}
            controls = {int(n): v for n, v in got.get("controls", {}).items()}
            step = "–"
            if controls:
                step = f"{got.get('control_label', '–')}: " + ", ".join(f"{fmt_ms(_median(v))} ({n:,} tokens)" for n, v in controls.items())
            elif got.get("control"):
                step = f"{got.get('control_label', '–')}: {fmt_ms(_median(got.get('control')))}"
            rows.append([f"/{path}", fmt_ms(_median(got.get("first_view"))), *[fmt_ms(_median(edits.get(n))) for n in pg.get("sizes", [])], step])
        out += _table(["page", "first view", *[f"text edit, {n:,} tokens" for n in pg.get("sizes", [])], "control step (on a text of)"], rows)
        out += ["Server memory (resident, MB): " + ", ".join(f"{k} {v:,.0f}" for k, v in pg.get("memory_mb", {}).items()) + ".", ""]
        out += _floors(pg.get("floors", {}))
    else:
        out += [f"Not measured: {pg.get('error') or 'skipped'}.", ""]
    if r["errors"]:
        out += ["## Errors", ""] + [f"- {e}" for e in r["errors"]] + [""]
    return "\n".join(out)


def _floors(fl: dict) -> list[str]:
    """Section 5's floors (bench/floors.py): Streamlit's own step and Plotly drawing a page's maps alone."""
    bare, drawn = fl.get("streamlit", {}), fl.get("plotly", {})
    if not bare and not drawn:
        return []
    out = ["### Floors of a step", "",
           "What no page can beat here. *Streamlit's own step*: `bench/floor_app.py`, a page with the same text box and "
           "toggle and one line of text, timed as the pages are. *Plotly alone*: the figures a page showed, drawn again in a "
           "blank page of the same browser by plotly.js without Streamlit: every map afresh, then updated to the figures "
           "after the step (only the maps it changed, as Streamlit redraws only those).", ""]
    if bare:
        rows = [["first view", fmt_ms(_median(bare.get("first_view")))]]
        rows += [[f"text edit, {int(n):,} tokens", fmt_ms(_median(v))] for n, v in bare.get("edits", {}).items()]
        rows += [[f"toggle, on a text of {int(n):,} tokens", fmt_ms(_median(v))] for n, v in bare.get("controls", {}).items()]
        out += ["Streamlit's own step (`bench/floor_app.py`):", ""] + _table(["step", "time"], rows)
    for path, kinds in drawn.items():
        rows = [[f"{'text edit' if kind == 'edits' else 'control'}, {int(n):,} tokens", f"{d['maps']}", fmt_ms(d["draw_ms"]), f"{d['changed']}", fmt_ms(d["update_ms"])]
                for kind, by_n in kinds.items() for n, d in by_n.items()]
        out += [f"Plotly alone, the figures of `/{path}` before and after the step:", ""]
        out += _table(["step", "maps", "all drawn afresh", "changed by the step", "updating those"], rows)
    return out


def _median(samples) -> float:
    return float(statistics.median(samples)) if samples else float("nan")


def _share(x: dict) -> str:
    busy = x.get("cpu_busy_share")
    text = "unknown" if busy is None else f"{busy:.0%} of the CPU busy"
    if x.get("load_average_1min") is not None:
        text += f", load average {x['load_average_1min']:.2f}"
    return text + (f", running: {'; '.join(x['busy_jobs'])}" if x.get("busy_jobs") else "")


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    """results.json and results.md in ``out_dir``, each written whole (temporary file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "results.json", out_dir / "results.md"
    for path, body in zip(paths, (json.dumps(results, indent=1, default=str), markdown(results))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(body)
        os.replace(tmp, path)
    return paths
