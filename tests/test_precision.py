"""Training in bf16 on a CPU that has native bf16 (float32 master weights), float32 elsewhere; analysis
stays float32."""

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from engine import device as dev
from engine.train import TrainConfig, train

SMOKE = dict(size="tiny", seq_len=32, batch_size=4, lr=1e-2, warmup=2, eval_interval=1000, ckpt_interval=4, eval_batches=1, max_corpus_bytes=300_000)


@pytest.fixture(autouse=True)
def _token_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MASKLAB_CACHE", str(tmp_path_factory.getbasetemp() / "token-cache"))


def test_precision_is_detected_not_assumed(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert dev.training_precision(cuda) == "bf16" and dev.training_precision(cpu, "fp32") == "fp32" and dev.training_precision(cpu, "bf16") == "bf16"
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    assert dev.training_precision(cpu) == "fp32" and isinstance(dev.training_autocast(cpu), type(dev.autocast(cpu)))
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert dev.training_precision(cpu) == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        dev.training_precision(cpu, "fp8")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="half")


def test_bf16_training_reduces_the_loss_keeps_float32_weights_and_resumes_bit_exactly(tmp_path):
    base = TrainConfig(architecture="decoder", objective="clm", tokens=12 * 4 * 32, precision="bf16", **SMOKE)
    losses = []
    summary = train(replace(base, out=str(tmp_path / "straight")), on_step=lambda r: losses.append(r["loss"]) if "loss" in r else None)
    assert summary["precision"] == "bf16" and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    assert all(t.dtype == torch.float32 for t in a.values())  # master weights stay float32
    stopped = replace(base, out=str(tmp_path / "resumed"))
    train(stopped, on_step=lambda r: r.get("step") == 8)
    assert json.loads((tmp_path / "resumed" / "latest.json").read_text())["step"] == 8
    train(stopped, resume=True)
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_and_float32_runs_differ_but_both_learn(tmp_path):
    runs = {}
    for p in ("bf16", "fp32"):
        runs[p] = train(TrainConfig(architecture="encoder", objective="mlm", tokens=8 * 4 * 32, precision=p, out=str(tmp_path / p), **SMOKE))
    assert runs["bf16"]["precision"] == "bf16" and runs["fp32"]["precision"] == "fp32"
    assert runs["bf16"]["final_val_loss"] != runs["fp32"]["final_val_loss"]  # bf16 really ran: the numbers differ slightly
    assert abs(runs["bf16"]["final_val_loss"] - runs["fp32"]["final_val_loss"]) < 0.5



def test_the_global_batch_is_the_same_under_torchrun_or_refused():
    from engine.train import per_rank_batch

    assert per_rank_batch(16, 1) == 16 and per_rank_batch(16, 2) == 8 and per_rank_batch(16, 4) == 4
    with pytest.raises(ValueError, match="must divide evenly among 3 processes"):
        per_rank_batch(16, 3)


def test_every_training_option_is_a_flag_generated_from_the_config():
    from dataclasses import fields

    from engine.train import build_parser, config_from_args

    parser = build_parser()
    assert {f.name for f in fields(TrainConfig)} <= {a.dest for a in parser._actions}
    cfg = config_from_args(parser.parse_args(["--grad-clip", "0.5", "--precision", "fp32", "--yardstick", "20", "--corpus", "x"]))
    assert (cfg.grad_clip, cfg.precision, cfg.yardstick, cfg.corpus) == (0.5, "fp32", 20, "x")
    assert config_from_args(parser.parse_args([])) == TrainConfig()


@pytest.mark.parametrize("name, peak", [("NVIDIA H200", 989e12), ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12),
                                        ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA A10", 125e12), ("NVIDIA L40S", 362e12), ("NVIDIA L4", 121e12),
                                        ("NVIDIA GeForce RTX 4090", None)])
def test_mfu_is_measured_against_the_gpu_s_own_bf16_peak(monkeypatch, name, peak):
    from engine.device import peak_flops

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: name)
    assert peak_flops("cuda") == peak
    assert peak_flops("cpu") is None  # a CPU's peak is measured by the benchmark, not looked up


def test_a_training_summary_gives_the_rate_of_its_steps(tmp_path):
    from engine.train import TrainConfig, train

    s = train(TrainConfig(architecture="decoder", objective="clm", size="tiny", seq_len=32, batch_size=4, warmup=2, eval_interval=1000,
                          ckpt_interval=4, eval_batches=1, max_corpus_bytes=300_000, tokens=4 * 4 * 32, out=str(tmp_path / "run")))
    assert s["mfu"] is None and 0 < s["step_flops_per_s"] and s["step_flops_per_s"] * s["wall_time_s"] >= s["training_flops"]  # steps are part of the wall time
