"""The yardstick: every architecture scored its natural way on the same held-out words, each layout
checked against a forward pass built by hand."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine import yardstick as Y
from engine.vocab import MASKLAB

PROSE = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. "
         "However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so "
         "well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of "
         "their daughters. My dear Mr. Bennet, said his lady to him one day, have you heard that Netherfield Park is let at last? ")
TEXT = "<|endoftext|>".join([PROSE * 6] * 8)


@pytest.fixture(scope="module")
def sets():
    return Y.passages(TEXT, n=40)


@pytest.fixture(scope="module")
def models():
    return {a: engine.load_variant(f"random-{a}").model for a in engine.ARCHITECTURES}


def test_passages_share_words_and_stay_inside_one_document(sets):
    cont, fill = sets["continue"], sets["fill"]
    assert len(cont) == len(fill) == 40
    for c, f in zip(cont, fill):
        assert c.left == f.left and c.word == f.word and c.right == () and len(f.right) == Y.RIGHT and len(c.left) == Y.LEFT
        assert 1 <= len(c.word) <= Y.MAX_WORD_TOKENS and MASKLAB.eos not in c.left + c.word + f.right
        assert engine.get_encoding("masklab").decode(list(c.word)).startswith(" ")
    with pytest.raises(ValueError, match="fewer than"):
        Y.passages(PROSE, n=500)


def _by_hand(model, arch: str, p: Y.Passage, mode=()) -> float:
    """-log p(word) from one plain forward pass, laid out by hand."""
    L, w, R = list(p.left), list(p.word), list(p.right)
    with torch.no_grad():
        if arch == "decoder":
            x = torch.tensor([[MASKLAB.eos] + L + w])
            logp = model(x).logits[0].log_softmax(-1)
            return -sum(logp[len(L) + j, t].item() for j, t in enumerate(w))
        if arch == "prefix_lm":
            x = torch.tensor([list(mode) + L + w])
            logp = model(x, n_prefix=len(mode) + len(L)).logits[0].log_softmax(-1)
            return -sum(logp[len(mode) + len(L) - 1 + j, t].item() for j, t in enumerate(w))
        if arch == "encoder":
            x = torch.tensor([L + [MASKLAB.mask] * len(w) + R])
            logp = model(x).logits[0].log_softmax(-1)
            return -sum(logp[len(L) + j, t].item() for j, t in enumerate(w))
        x = torch.tensor([L + [MASKLAB.sentinel(0)] + R + [MASKLAB.eos]])
        dec = torch.tensor([[MASKLAB.bos, MASKLAB.sentinel(0)] + w[:-1]])
        logp = model(x, decoder_idx=dec).logits[0].log_softmax(-1)
        return -sum(logp[1 + j, t].item() for j, t in enumerate(w))


@pytest.mark.parametrize("arch", engine.ARCHITECTURES)
@pytest.mark.parametrize("task", Y.TASKS)
def test_each_architecture_is_scored_its_natural_way(models, sets, arch, task):
    items = sets[task][:12]
    loss, right = Y.word_scores(models[arch], arch, items)
    for p, got in zip(items, loss):
        assert got == pytest.approx(_by_hand(models[arch], arch, p), abs=1e-4)
    assert right.dtype == bool


def test_a_ul2_prefix_lm_reads_its_mode_token_first(models, sets):
    p = sets["continue"][0]
    mode = (MASKLAB.modes["S"],)
    loss, _ = Y.word_scores(models["prefix_lm"], "prefix_lm", [p], mode)
    assert loss[0] == pytest.approx(_by_hand(models["prefix_lm"], "prefix_lm", p, mode), abs=1e-4)
    assert loss[0] != pytest.approx(Y.word_scores(models["prefix_lm"], "prefix_lm", [p])[0][0], abs=1e-4)


def test_only_bidirectional_readers_see_the_right_side(models, sets):
    """fill differs from continue only for models that can read the right side."""
    for arch in engine.ARCHITECTURES:
        a, _ = Y.word_scores(models[arch], arch, sets["continue"][:8])
        b, _ = Y.word_scores(models[arch], arch, sets["fill"][:8])
        assert np.allclose(a, b, atol=1e-5) == (arch in ("decoder", "prefix_lm")), arch


def test_summary_intervals():
    loss, right = np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, False, True])
    s = Y.summary(loss, right)
    assert s["n"] == 4 and s["loss"] == 2.5 and s["top1"] == 0.5
    half = 1.96 * np.std(loss, ddof=1) / 2
    assert s["loss_ci"] == pytest.approx([2.5 - half, 2.5 + half])
    lo, hi = s["top1_ci"]
    assert 0 < lo < 0.5 < hi < 1 and math.isclose(lo + hi, 1.0)  # Wilson is symmetric at p = 0.5


CORPUS = engine.variants.MODELS_DIR.parents[2] / "shared" / "corpus" / "valid.txt"


@pytest.mark.shared
@pytest.mark.skipif(not CORPUS.is_file(), reason="needs ../shared/corpus (the held-out split the yardstick reads)")
def test_training_scores_the_yardstick_at_every_evaluation(tmp_path, monkeypatch):
    import json

    from engine.train import TrainConfig, train

    monkeypatch.setenv("MASKLAB_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(architecture="encoder_decoder", objective="span_corruption", size="tiny", seq_len=32, batch_size=4, tokens=6 * 4 * 32,
                      warmup=2, eval_interval=3, ckpt_interval=3, eval_batches=1, max_corpus_bytes=300_000, yardstick=30, out=str(tmp_path / "run"))
    summary = train(cfg)
    evals = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if '"eval"' in line]
    assert [e["step"] for e in evals] == [3, 6]
    for e in evals:
        assert set(e["yardstick"]) == set(Y.TASKS) and all(e["yardstick"][t]["n"] == 30 for t in Y.TASKS)
        assert e["flops"] > 0 and 0 < e["yardstick"]["fill"]["loss"] < 20
    assert summary["final_yardstick"] == evals[-1]["yardstick"]


@pytest.mark.shared
@pytest.mark.skipif(not CORPUS.is_file(), reason="needs ../shared/corpus (the held-out split the yardstick reads)")
def test_the_sweep_writes_every_run_with_its_yardstick_curve_and_resumes_from_finished_runs(tmp_path, monkeypatch):
    import json

    import pandas as pd

    from engine.sweep import run_sweep
    from ui import charts

    monkeypatch.setenv("MASKLAB_CACHE", str(tmp_path / "cache"))
    small = dict(seq_len=32, batch_size=4, warmup=2, eval_interval=3, ckpt_interval=3, eval_batches=1, max_corpus_bytes=300_000, yardstick=12)
    out = tmp_path / "scaling.json"
    rows = run_sweep(tmp_path / "runs", out, 6 * 4 * 32, sizes=("tiny", "mini"), variants=("decoder-clm", "encdec-span"), command="python -m engine.sweep x", **small)
    data = json.loads(out.read_text())
    assert [(r["variant"], r["size"]) for r in data["runs"]] == [("decoder-clm", "tiny"), ("decoder-clm", "mini"), ("encdec-span", "tiny"), ("encdec-span", "mini")]
    assert data["command"] == "python -m engine.sweep x" and data["wall_time_s"] == pytest.approx(sum(r["wall_time_s"] for r in rows))
    for r in data["runs"]:
        assert [p["step"] for p in r["curve"]] == [3, 6] and all(p["yardstick"]["continue"]["n"] == 12 for p in r["curve"])
    table = charts.yardstick_curve_table(pd.DataFrame(data["runs"]))
    assert len(table) == 4 * 2 * 2  # runs x evaluations x tasks
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/summary.json")}
    assert run_sweep(tmp_path / "runs", out, 6 * 4 * 32, sizes=("tiny", "mini"), variants=("decoder-clm", "encdec-span"), command="python -m engine.sweep x", **small) == rows
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/summary.json")} == stamp  # read back, not retrained


def test_a_stopped_sweep_keeps_the_runs_it_finished(tmp_path, monkeypatch):
    import json

    from engine import sweep

    done = []

    def fake_train(cfg, resume=False):  # the third run is interrupted
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(cfg.out)
        Path(cfg.out).mkdir(parents=True)
        (Path(cfg.out) / "log.jsonl").write_text("")
        return {"parameters": 1, "training_flops": 2.0, "corpus_tokens": 3, "final_val_loss": 4.0, "final_categories": {}, "wall_time_s": 5.0}

    monkeypatch.setattr(sweep, "train", fake_train)
    out = tmp_path / "scaling.json"
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(tmp_path / "runs", out, 1000, sizes=("tiny", "mini"), variants=("decoder-clm", "encdec-span"), yardstick=0)
    data = json.loads(out.read_text())
    assert [(r["variant"], r["size"]) for r in data["runs"]] == [("decoder-clm", "tiny"), ("decoder-clm", "mini")]
    assert data["overrides"] == {"yardstick": 0} and data["wall_time_s"] == 10.0


def test_the_sweep_command_line_applies_its_preset(monkeypatch):
    from engine import sweep
    from engine.catalog import SWEEP_PRESETS, SWEEP_VARIANTS

    seen = {}
    monkeypatch.setattr(sweep, "run_sweep", lambda runs, out, tokens, sizes, corpus=None, command=None, **kw: seen.update(kw, tokens=tokens, command=command))
    sweep.main(["--preset", "gpu", "--tokens", "28000000", "--eval-interval", "7"])
    assert seen["batch_size"] == SWEEP_PRESETS["gpu"]["batch_size"] and seen["device"] == "cuda" and seen["eval_interval"] == 7
    assert seen["tokens"] == 28_000_000 and seen["command"] == "python -m engine.sweep --preset gpu --tokens 28000000 --eval-interval 7"
    assert seen["variants"] == SWEEP_VARIANTS
    seen.clear()
    sweep.main(["--preset", "gpu", "--variants", "encdec-span", "decoder-fim", "--device", "cpu", "--workers", "0"])
    assert seen["variants"] == ("encdec-span", "decoder-fim") and seen["device"] == "cpu" and seen["workers"] == 0
    assert seen["batch_size"] == SWEEP_PRESETS["gpu"]["batch_size"]  # the gpu preset's shapes, on the CPU


def test_a_sweep_of_some_variants_keeps_the_other_rows_of_the_same_budget(tmp_path, monkeypatch):
    import json

    from engine import sweep

    from engine.catalog import ARCHITECTURE_RECIPES, SWEEP_PRESETS

    lrs = {}

    def fake_train(cfg, resume=False):
        lrs[Path(cfg.out).name] = cfg.lr
        Path(cfg.out).mkdir(parents=True)
        (Path(cfg.out) / "log.jsonl").write_text("")
        return {"parameters": 1, "training_flops": 2.0, "corpus_tokens": 3, "final_val_loss": 4.0 if "decoder" in cfg.out else 5.0,
                "final_categories": {}, "wall_time_s": 5.0}

    monkeypatch.setattr(sweep, "train", fake_train)
    out = tmp_path / "scaling.json"
    sweep.run_sweep(tmp_path / "a", out, 1000, sizes=("tiny", "mini"), variants=("decoder-clm", "encdec-span"), command="first", yardstick=0)
    sweep.run_sweep(tmp_path / "b", out, 1000, sizes=("tiny", "mini"), variants=("encdec-span", "decoder-fim"), command="second", device="cpu")
    runs = json.loads(out.read_text())["runs"]
    assert [(r["variant"], r["command"]) for r in runs] == [("decoder-clm", "first")] * 2 + [("encdec-span", "second")] * 2 + [("decoder-fim", "second")] * 2
    assert runs[0]["overrides"] == {"yardstick": 0} and runs[-1]["overrides"] == {"device": "cpu"}
    recipe = ARCHITECTURE_RECIPES["encoder_decoder"]
    assert runs[2]["overrides"] == {"device": "cpu", **recipe}  # what it trained with, the encoder-decoder's recipe among it
    assert lrs["encdec-span-tiny"] == recipe["lr"] and lrs["decoder-fim-tiny"] == SWEEP_PRESETS["cpu"]["lr"] != recipe["lr"]
    sweep.run_sweep(tmp_path / "c", out, 2000, sizes=("tiny", "mini"), variants=("encdec-span",), command="third")
    assert [r["variant"] for r in json.loads(out.read_text())["runs"]] == ["encdec-span"] * 2  # another budget: replaced whole


@pytest.mark.shared
@pytest.mark.skipif(not CORPUS.is_file(), reason="needs ../shared/corpus (the held-out split the yardstick reads)")
def test_an_exported_card_carries_the_yardstick_at_every_evaluation(tmp_path, monkeypatch):

    from engine.pretrain import export_variant
    from engine.train import TrainConfig, train
    from ui import charts

    monkeypatch.setenv("MASKLAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    train(TrainConfig(architecture="prefix_lm", objective="prefix_lm", size="tiny", seq_len=32, batch_size=4, warmup=2, eval_interval=2,
                      ckpt_interval=2, eval_batches=1, max_corpus_bytes=300_000, yardstick=8, tokens=4 * 4 * 32, out=str(run)))
    card = export_variant(run, "tiny-prefix", "smoke", tmp_path / "models", unigram=6.8)
    evals = [p for p in card["curve"] if "val_loss" in p]
    assert [p["step"] for p in evals] == [2, 4] and all(p["yardstick"][t]["n"] == 8 for p in evals for t in ("continue", "fill"))
    md = (tmp_path / "models" / "tiny-prefix" / "card.md").read_text()
    table = md.split("## Yardstick during training")[1].split("##")[0]
    assert "8 held-out words" in table and table.count("\n| ") == 2 + len(evals)  # header, rule, a row per evaluation
    assert f"| {evals[-1]['yardstick']['fill']['loss']:.2f} |" in table
    curves = charts.yardstick_curve_table(charts.card_runs({"tiny-prefix": card}))
    assert len(curves) == 2 * len(evals) and set(curves["run"]) == {"tiny-prefix"}


def test_a_fim_decoder_fills_in_either_order_and_continues_as_any_decoder(models, sets):
    """Fill the FIM ways (Bavarian et al. 2022): SPM <|fim_prefix|> <|fim_suffix|> R <|fim_middle|> L w and PSM
    <|fim_prefix|> L <|fim_suffix|> R <|fim_middle|> w, the word's tokens predicted by the token before each;
    continue (no right side) is the plain decoder's layout."""
    model, f = models["decoder"], MASKLAB.fim
    p = sets["fill"][0]
    L, w, R = list(p.left), list(p.word), list(p.right)
    for order, x in (("spm", [f["prefix"], f["suffix"]] + R + [f["middle"]] + L + w),
                     ("psm", [f["prefix"]] + L + [f["suffix"]] + R + [f["middle"]] + w)):
        with torch.no_grad():
            logp = model(torch.tensor([x])).logits[0].log_softmax(-1)
        start = len(x) - len(w) - 1
        by_hand = -sum(logp[start + j, t].item() for j, t in enumerate(w))
        loss, _ = Y.word_scores(model, "decoder", [p], fim=order)
        assert loss[0] == pytest.approx(by_hand, abs=1e-4), order
        assert loss[0] != pytest.approx(Y.word_scores(model, "decoder", [p])[0][0], abs=1e-3)  # the right side is read
    c = sets["continue"][0]
    assert Y.word_scores(model, "decoder", [c], fim="spm")[0][0] == pytest.approx(Y.word_scores(model, "decoder", [c])[0][0], abs=1e-6)
    with pytest.raises(ValueError, match="fim order"):
        Y.word_scores(model, "decoder", [p], fim="pms")
    r = Y.evaluate(model, "decoder", {"continue": sets["continue"][:3], "fill": sets["fill"][:3]}, "fim", words=True)
    assert set(r) == {"continue", "fill", "fill_psm"}
    assert r["fill"]["words"] == pytest.approx(list(Y.word_scores(model, "decoder", sets["fill"][:3], fim="spm")[0]), abs=1e-4)
    assert r["fill_psm"]["words"] == pytest.approx(list(Y.word_scores(model, "decoder", sets["fill"][:3], fim="psm")[0]), abs=1e-4)
    assert set(Y.evaluate(model, "decoder", {"fill": sets["fill"][:3]}, "clm")) == {"fill"}
    assert Y.reading("decoder", "fim") == "decoder-fim" and Y.reading("decoder", "clm") == "decoder" and "decoder-fim" in Y.USES


def test_paired_difference_is_the_mean_of_per_word_differences_with_its_interval():
    rng = np.random.default_rng(0)
    hard = rng.gamma(2.0, 3.0, 400)  # what both models find hard: shared, so it cancels in the pairing
    a, b = hard + 0.3 + rng.normal(0, 0.2, 400), hard + rng.normal(0, 0.2, 400)
    d = Y.paired_difference(list(a), list(b))
    assert d["n"] == 400 and d["mean"] == pytest.approx(float(np.mean(a - b)))
    lo, hi = d["ci"]
    assert lo < 0.3 < hi and hi - lo < 0.1  # the unpaired intervals are each ~0.8 wide
    assert hi - lo == pytest.approx(2 * 1.96 * np.std(a - b, ddof=1) / 20)
    with pytest.raises(ValueError, match="same length"):
        Y.paired_difference([1.0, 2.0], [1.0])
    assert doctest_ok()


def doctest_ok() -> bool:
    import doctest
    return doctest.testmod(Y).failed == 0
