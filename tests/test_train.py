import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.catalog import COMPATIBLE, PRESETS, VARIANTS
from engine.pretrain import export_variant, fit_flops, run_all
from engine.train import TrainConfig, build_parser, config_from_args, train
from engine.variants import load_variant, sha256_file

REPO = Path(__file__).resolve().parents[1]
SMOKE = dict(size="tiny", seq_len=32, batch_size=4, lr=3e-3, warmup=2, eval_interval=1000, ckpt_interval=4, eval_batches=1, max_corpus_bytes=300_000)


def weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_few_steps_reduce_the_loss(tmp_path, name):
    arch, objective = VARIANTS[name]
    cfg = TrainConfig(architecture=arch, objective=objective, out=str(tmp_path), tokens=24 * 4 * 32, **dict(SMOKE, lr=1e-2))
    losses = []
    train(cfg, on_step=lambda r: losses.append(r["loss"]) if "loss" in r else None)
    assert len(losses) == 24
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.5


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    base = TrainConfig(architecture="decoder", objective="clm", tokens=10 * 4 * 32, **SMOKE)
    train(replace(base, out=str(tmp_path / "straight")))
    stopped = replace(base, out=str(tmp_path / "resumed"))
    train(stopped, on_step=lambda r: r.get("step") == 6)  # stop after step 6, as a kill would after a checkpoint
    pointer = json.loads((tmp_path / "resumed" / "latest.json").read_text())
    assert pointer["step"] == 6
    train(stopped, resume=True)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines() if "eval" not in line]
    assert steps == list(range(1, 11))  # the log holds each step once


@pytest.mark.parametrize("name", ["decoder-clm", "encdec-span", "prefixlm-ul2"])
def test_batches_built_by_worker_processes_train_the_same_weights(tmp_path, name):
    arch, objective = VARIANTS[name]
    base = TrainConfig(architecture=arch, objective=objective, tokens=8 * 4 * 32, **SMOKE)
    train(replace(base, out=str(tmp_path / "in-loop")))
    train(replace(base, out=str(tmp_path / "workers"), workers=2))
    a, b = weights(tmp_path / "in-loop"), weights(tmp_path / "workers")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="workers"):
        replace(base, workers=-1)


def test_fit_flops_measures_and_lowers_the_budget_to_fit(tmp_path):
    preset = PRESETS["smoke"]["flops"]
    flops, measured = fit_flops("smoke", seconds=1e-3, only=["decoder-clm", "encoder-mlm"], probe_steps=8)
    assert set(measured) == {"decoder-clm", "encoder-mlm"}
    assert all(m["step_s"] > 0 and m["step_flops"] > 0 and m["eval_s"] >= 0 for m in measured.values())
    per_flop = sum(m["step_s"] / m["step_flops"] for m in measured.values())
    assert 0 < flops <= 1e-3 / per_flop and flops == float(f"{flops:.2g}")  # two significant digits, rounded down
    assert fit_flops("smoke", seconds=1e6, only=["decoder-clm"], probe_steps=8)[0] == preset  # never above the preset's


def test_run_all_exports_each_variant_as_it_is_done(tmp_path):
    done = []
    results = run_all("smoke", tmp_path / "runs", only=["decoder-clm", "encoder-mlm"], progress=False, flops=1e9,
                      after=lambda name, s: done.append((name, s["training_flops"])))
    assert [n for n, _ in done] == ["decoder-clm", "encoder-mlm"] == list(results)
    assert all(1e9 <= f < 1e9 + results[n]["flops_per_step"] for n, f in done)  # the budget given, not the preset's
    card = export_variant(tmp_path / "runs" / "smoke" / "decoder-clm", "decoder-clm", "smoke", tmp_path / "models")
    assert card["planned_training_flops"] == 1e9 and card["complete"]


def test_incompatible_or_unknown_options_are_refused():
    with pytest.raises(ValueError, match="cannot be trained with"):
        TrainConfig(architecture="encoder", objective="clm")
    with pytest.raises(ValueError, match="unknown training options"):
        TrainConfig.from_dict({"architecture": "decoder", "colour": 1})
    assert all(obj in COMPATIBLE[arch] for arch, obj in VARIANTS.values())


def test_every_cli_flag_has_help():
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.dest
    cfg = config_from_args(parser.parse_args(["--architecture", "encoder", "--objective", "mlm", "--size", "tiny"]))
    assert cfg.architecture == "encoder" and cfg.size == "tiny"


def test_export_writes_a_card_whose_hash_matches(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(architecture="decoder", objective="clm", out=str(run), tokens=4 * 4 * 32, **SMOKE))
    card = export_variant(run, "tiny-decoder", "smoke", tmp_path / "models", unigram=6.8)
    folder = tmp_path / "models" / "tiny-decoder"
    assert card["sha256"] == sha256_file(folder / "model.safetensors") and card["encoder_reliance"] is None  # no encoder to read
    assert (folder / "card.md").read_text().startswith("# tiny-decoder")
    v = load_variant("tiny-decoder", models_dir=tmp_path / "models")
    assert v.card["corpus_tokens"] == 4 * 4 * 32 and card["sample"]["greedy_continuation"] is not None
    assert card["step_flops_per_s"] > 0 and card["mfu"] is None and f"{card['step_flops_per_s'] / 1e9:,.1f} GFLOP/s" in (folder / "card.md").read_text()


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", MASKLAB_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517", "-m", "engine.train", "--architecture", "decoder", "--objective", "clm", "--size", "tiny", "--seq-len", "32", "--batch-size", "4", "--tokens", str(6 * 4 * 32), "--device", "cpu", "--eval-interval", "3", "--ckpt-interval", "3", "--max-corpus-bytes", "300000", "--quiet", "--out", str(out)]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps_done"] == 6
    assert (out / "latest.json").exists()


def test_presets_are_valid_configs():
    for name, preset in PRESETS.items():
        for arch, objective in VARIANTS.values():
            TrainConfig(architecture=arch, objective=objective, **preset)


def test_each_example_of_a_global_batch_has_its_own_seed_on_any_number_of_processes():
    from engine.train import example_indices, example_seed

    one = [example_seed(7, i) for i in example_indices(8, rank=0, world=1)]
    assert len(set(one)) == 8
    for world in (2, 4, 8):
        ranks = [[example_seed(7, i) for i in example_indices(8, rank=r, world=world)] for r in range(world)]
        merged = [s for seeds in ranks for s in seeds]
        assert len(merged) == len(set(merged)) == 8  # no two ranks repeat a corruption
        assert sorted(merged) == sorted(one)  # together they corrupt exactly what one process corrupts


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("arch, objective", [("encoder", "mlm"), ("encoder_decoder", "span_corruption"), ("prefix_lm", "prefix_lm")])
def test_two_processes_train_what_one_process_trains_with_a_masked_objective(tmp_path, arch, objective):
    """--batch-size is the global batch: each example is corrupted by its place in it, and the loss is the
    mean over the global batch's labels (a prefix-LM's examples have different numbers), so two processes
    end where one does, up to float32 summation order (a causal LM differs by about 1e-5 here too)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MASKLAB_CACHE=str(tmp_path / "cache"))
    env.pop("WORLD_SIZE", None)
    flags = ["--architecture", arch, "--objective", objective, "--size", "tiny", "--seq-len", "32", "--batch-size", "8", "--tokens", str(3 * 8 * 32),
             "--device", "cpu", "--precision", "fp32", "--lr", "3e-3", "--warmup", "1", "--eval-interval", "1000", "--eval-batches", "1",
             "--max-corpus-bytes", "300000", "--quiet"]
    runs = {"one": [sys.executable, "-m", "engine.train"],
            "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()), "-m", "engine.train"]}
    for name, launcher in runs.items():
        r = subprocess.run(launcher + flags + ["--out", str(tmp_path / name)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert a.keys() == b.keys()
    # Adam turns summation-order noise on a near-zero gradient into a few elements ~1e-5 apart (the
    # causal LM too), so the mean difference is the measure; before the fix it was ~3e-3 (ranks repeated
    # each other's masks: 98% of the weights > 1e-5 apart) and prefix_lm's ~1e-4 (a mean of ranks' means)
    mean_diff = sum((a[k] - b[k]).abs().sum().item() for k in a) / sum(a[k].numel() for k in a)
    max_diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert mean_diff < 1e-7 and max_diff < 1e-3, (mean_diff, max_diff)


def test_an_encoder_decoder_s_card_says_whether_it_reads_its_encoder(tmp_path):
    """Measured on the exported (float16) weights, as the app reads them; the card's sentence is the app's."""
    from engine.encoder_reading import READING_WINDOWS, encoder_reliance, held_out_windows

    run = tmp_path / "run"
    train(TrainConfig(architecture="encoder_decoder", objective="span_corruption", out=str(run), tokens=4 * 4 * 32, **SMOKE))
    card = export_variant(run, "tiny-encdec", "smoke", tmp_path / "models")
    r = card["encoder_reliance"]
    again = encoder_reliance(load_variant("tiny-encdec", models_dir=tmp_path / "models").model, held_out_windows(r["windows"], 32))
    assert r["window_tokens"] == 32 and r["windows"] == READING_WINDOWS and abs(r["rise"] - again.rise) < 1e-6 and r["reads_encoder"] is again.reads_encoder
    md = (tmp_path / "models" / "tiny-encdec" / "card.md").read_text()
    assert "## Does it read its encoder?" in md and again.sentence("tiny-encdec") in md


def test_a_card_quotes_a_continuation_of_several_lines_so_that_markdown_renders_it():
    """Bold cannot span a line break, and "** the" (a space after the opening mark) is not bold at all:
    each line of the continuation is bold on its own, inside one quote; the shipped cards are written so."""
    from engine.pretrain import card_markdown

    card = json.loads((REPO / "assets" / "models" / "decoder-clm" / "card.json").read_text())
    card["sample"] = {"prompt": "It was a dark night, and", "greedy_continuation": ' the sun!\n"Yes!\n\nNo.'}
    section = card_markdown(card).split("## Greedy continuation\n\n")[1].split("\n\n")[0].splitlines()
    assert section == ["> It was a dark night, and **the sun!**  ", '> **"Yes!**  ', ">   ", "> **No.**"]
    for d in sorted((REPO / "assets" / "models").iterdir()):
        shipped = json.loads((d / "card.json").read_text())
        assert (d / "card.md").read_text() == card_markdown(shipped), f"{d.name}: card.md is not card_markdown(card.json)"
