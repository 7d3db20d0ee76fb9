"""The benchmark suite runs end to end at tiny sizes, so it cannot rot. Its timings are never asserted."""

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench import report
from bench.analysis import Memo, page_limits, scored_part
from bench.common import FALLBACK_TEXT, texts
from bench.run import main
from engine.masks import ARCHITECTURES
from engine.tokenizer import tokenize
from ui import scoring

REPO = Path(__file__).resolve().parents[1]


def one_target(targets: list[dict], *facts: str) -> dict:
    """The one target whose name holds every one of ``facts`` (a page, a step, a size, a limit)."""
    hits = [t for t in targets if all(f in t["target"] for f in facts)]
    assert len(hits) == 1, (facts, [t["target"] for t in targets])
    return hits[0]


@pytest.mark.slow
def test_quick_run_writes_every_table(tmp_path):
    assert main(["--sizes", "16", "--reps", "1", "--no-browser", "--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    md = (tmp_path / "results.md").read_text()
    machine = results["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["torch"] and machine["torch_threads"] >= 1
    rows = {(r["tokens"], r["variant"], r["scoring"]): r for r in results["analysis"]}
    assert {v for n, v, _ in rows} == {f"random-tiny-{a}" for a in ARCHITECTURES} | {"all variants", "all variants, exact scoring"}
    for r in rows.values():
        assert r["cold_ms"] > 0 and r["cached_ms"] > 0 and r["reference_ms"] > 0 and r["speedup"] > 0
        assert r["floor_gflop"] > 0 and r["floor_ms"] > 0  # reported beside the timing; never compared with it here
        assert r["products_ms"] > 0  # time inside matrix-product kernels, of a profiled call
    per_model = [r["products_ms"] for (_, v, how), r in rows.items() if v.startswith("random-tiny-") and not how.startswith("exact")]
    assert rows[(16, "all variants", "the page's default")]["products_ms"] == pytest.approx(sum(per_model))
    both = {a for (_, v, how) in rows for a in ARCHITECTURES if v == f"random-tiny-{a}" and how.startswith("exact")}
    assert both == {"encoder", "encoder_decoder"}  # the one-copy-per-token models are timed both ways
    assert rows[(16, "random-tiny-encoder", "as trained (1 in 7)")]["scored_tokens"] == 16
    assert {r["architecture"] for r in results["training"]["rows"]} == set(ARCHITECTURES)
    assert all(r["engine"]["tokens_per_s"] > 0 and r["reference"]["tokens_per_s"] > 0 for r in results["training"]["rows"])
    assert results["browser"] == {"skipped": "--no-browser"} and not results["errors"]
    assert any("transformers" in t["target"] for t in results["targets"])
    for heading in ("## Targets", "## 1-2. Per-token analysis", "## 3. Training throughput", "## 4. The app in Chromium"):
        assert heading in md
    assert "| 16 | all variants |" in md and machine["cpu"] in md and "in matrix products" in md


@pytest.mark.slow
@pytest.mark.e2e
def test_quick_run_measures_the_app_in_chromium(tmp_path):
    main(["--sizes", "16", "--reps", "1", "--quick", "--no-reference", "--no-training", "--out", str(tmp_path)])
    browser = json.loads((tmp_path / "results.json").read_text())["browser"]
    assert "rows" in browser, browser
    rows = {(r["measurement"], r["tokens"]): r for r in browser["rows"]}
    assert rows[("text edit to the updated chart", 16)]["ms"] > 0 and rows[("text edit to the updated chart", 16)]["chart_columns"] == 16
    assert all(r["ms"] > 0 and r["in_process_ms"] > 0 for r in rows.values()) and not browser["page_error"]
    md = (tmp_path / "results.md").read_text()
    assert any("first chart" in line and "3 s" in line and "`python -m ui.serve`" in line for line in md.splitlines())
    starts = [r for r in browser["rows"] if r["measurement"].startswith("first chart, fresh server, `")]
    assert len(starts) == 2 and all(r["start_to_health_ms"] > 0 and len(r["samples_ms"]) == 1 for r in starts)
    results = json.loads((tmp_path / "results.json").read_text())
    pages = results["pages"]
    assert set(pages["pages"]) == {"tokenization", "masks"} and not pages["errors"], pages
    for got in pages["pages"].values():  # every page: a first view, an edit per size, a control step, all timed
        assert got["chart"] and got["first_view"][0] > 0 and got["edits"]["16"][0] > 0 and got["control"][0] > 0
        assert got["controls"]["16"] == got["control"]  # a text page's control step, at each text length
        # each step's part up to the run's end: measured on the same clock, before its paint, so inside the step
        for part, whole in ((got["to_run_end"]["edits"]["16"], got["edits"]["16"]), (got["to_run_end"]["controls"]["16"], got["control"])):
            assert len(part) == len(whole) and all(0 < a < b for a, b in zip(part, whole)), (part, whole)
    assert set(pages["memory_mb"]) == {"models loaded", "after every page", "after 1 more sessions"} and min(pages["memory_mb"].values()) > 100
    said = [t["target"] for t in results["targets"]]
    assert all("run ended at" in t["measured"] for t in results["targets"] if t["target"].startswith("/masks: text edit"))
    layer_step = one_target(results["targets"], "/masks:", "(Layer)", "16 tokens", "200 ms")
    text_edit = one_target(results["targets"], "/tokenization:", "text edit", "16 tokens", "300 ms")
    assert any(t.startswith("server memory") for t in said) and "## 5. Every page in Chromium" in (tmp_path / "results.md").read_text()
    # the floors of a step: Streamlit's own (the bare page, timed as the pages are) and Plotly alone
    bare = pages["floors"]["streamlit"]
    assert not bare["chart"] and bare["first_view"][0] > 0 and bare["edits"]["16"][0] > 0 and bare["controls"]["16"][0] > 0
    drawn = pages["floors"]["plotly"]["masks"]
    edit, layer = drawn["edits"]["16"], drawn["controls"]["16"]
    # a new text: every map changes (and one the other text lacked is drawn, or one it had is taken away)
    assert edit["maps"] > 0 and edit["draw_ms"] > 0 and edit["update_ms"] > 0 and edit["changed"] == max(edit["maps"], edit["maps_after"])
    # a layer step changes the learned maps and leaves the masks' maps as they were
    assert 0 < layer["changed"] < layer["maps"] and layer["update_ms"] > 0
    assert "floor" in text_edit["measured"] and "Streamlit's own step" in text_edit["measured"]
    plotly = re.search(r"Plotly\D*?(\d+)\D+?(\d+) maps", layer_step["measured"])  # "... updating the 3 of its 6 maps ..."
    assert plotly and (int(plotly[1]), int(plotly[2])) == (layer["changed"], layer["maps"])
    assert "### Floors of a step" in (tmp_path / "results.md").read_text()


def test_script_entry_point_answers_help():
    out = subprocess.run([sys.executable, "bench/run.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--no-browser" in out.stdout and "--quick" in out.stdout


@pytest.mark.parametrize("n", [1, 16, 100])
def test_texts_have_exactly_n_tokens_and_differ(n):
    got = texts(n, 3, FALLBACK_TEXT * 20)
    assert [len(tokenize(t)) for t in got] == [n] * 3 and len(set(got)) == 3


def test_memo_returns_copies_and_computes_once():
    calls = []
    memo = Memo()
    a = memo(lambda: calls.append(1) or {"x": [1, 2]}, "v", "text")
    a["x"].append(3)
    assert memo(lambda: calls.append(1) or {"x": [0]}, "v", "text") == {"x": [1, 2]} and len(calls) == 1


def test_page_limits_come_from_the_page_cache_module():
    limits = page_limits()
    if limits.slow_limit is None:
        pytest.skip("ui/scoring.py has no SLOW_LIMIT")
    long = " ".join(["word"] * (limits.slow_limit + 50))
    exact = replace(limits, exact=True)
    assert len(tokenize(scored_part(long, limits.slow_archs[0], exact))) == limits.slow_limit
    assert scored_part(long, "decoder", exact) == long
    assert limits.stride == scoring.STRIDE and scored_part(long, limits.slow_archs[0], limits) == long  # as trained: every token


def test_verdicts_say_by_how_much():
    assert report.verdict_time(50, 100).startswith("met")
    missed = report.verdict_time(340, 100)
    assert missed.startswith("missed") and "3.4x" in missed and "240 ms" in missed
    assert report.verdict_speedup(1.25).startswith("met") and "25% slower" in report.verdict_speedup(0.8)
