"""Training throughput: one optimizer step (forward, backward, AdamW) of the engine and of its
``transformers`` twin on the same batch, as ``engine.train`` takes it.

Tokens/s counts corpus tokens (batch x sequence length), as ``engine.train`` reports it. Utilisation
is the training FLOPs of a step (the engine's own accounting, ``engine.train.batch_flops``, the same
for both models) per second, over the matmul rate measured on this machine in the same run: float32
on a CPU; on a GPU bf16 under autocast, which makes it the model FLOPs utilisation (MFU).
"""

import torch

from bench.common import clock, median_ms, repeat
from bench.reference import build, train_loss
from engine.device import autocast, cpu_has_bf16, training_autocast
from engine.model import ModelConfig, Transformer
from engine.train import TrainConfig, batch_flops, make_batch, make_optimizer
from engine.catalog import NATURAL_OBJECTIVE
from engine.vocab import MASKLAB


def matmul_rate(device, quick: bool = False) -> dict:
    """FLOP/s of a large square matmul in the dtype training runs in (bf16 on a GPU, float32 on a CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        n, dtype = (2048 if quick else 8192), torch.bfloat16
    else:
        n, dtype = (256 if quick else 2048), torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    seconds = repeat(lambda: a @ b, reps=3 if quick else 10, warmup=2, device=device)
    return {"flops_per_s": 2 * n**3 / (median_ms(seconds) / 1e3), "dtype": str(dtype).replace("torch.", ""), "n": n}


def training_batch(architecture: str, batch_size: int, seq_len: int, seed: int = 0):
    """A batch of random corpus tokens laid out by the architecture's own pretraining objective."""
    g = torch.Generator().manual_seed(seed)
    windows = torch.randint(0, MASKLAB.n_regular, (batch_size, seq_len), generator=g).tolist()
    return make_batch(windows, NATURAL_OBJECTIVE[architecture], architecture, seed)


def _stepper(model: torch.nn.Module, loss_fn, device, precision: str | None = None):
    """One training step; ``precision`` "bf16"/"fp32" as `engine.train` runs it (None: `autocast`, the
    twin's way: bf16 on a GPU, float32 on a CPU)."""
    opt = make_optimizer(model, TrainConfig())  # the engine's AdamW: weight decay on matrices only

    def step():
        with (autocast(device) if precision is None else training_autocast(device, precision)):
            loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure(mc: ModelConfig, batch_size: int, seq_len: int, reps: int, warmup: int, device, rate: float) -> dict:
    """Median step time, tokens/s and utilisation of the engine and its ``transformers`` twin."""
    device = torch.device(device)
    arch = mc.architecture
    b = training_batch(arch, batch_size, seq_len).to(device)
    torch.manual_seed(0)
    ours = Transformer(mc).to(device).train()
    theirs = build(mc, "sdpa", device).train()
    steps = {
        "engine": _stepper(ours, lambda: ours(b.idx, b.targets, **b.model_kwargs()).loss, device),
        "reference": _stepper(theirs, lambda: train_loss(theirs, arch, b), device),
    }
    if device.type == "cpu" and cpu_has_bf16():  # what engine.train does on this CPU: bf16 autocast, float32 weights
        torch.manual_seed(0)
        bf = Transformer(mc).to(device).train()
        steps["engine_bf16"] = _stepper(bf, lambda: bf(b.idx, b.targets, **b.model_kwargs()).loss, device, "bf16")
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {k: [] for k in steps}
    for _ in range(reps):  # interleaved, so that a slow spell of the machine hits both alike
        for k, step in steps.items():
            samples[k].append(clock(step, device))
    flops = batch_flops(mc, b)
    tokens = batch_size * seq_len
    out = {"architecture": arch, "batch": f"{batch_size} x {seq_len}", "tokens_per_step": tokens, "flops_per_step": flops}
    for k, s in samples.items():
        ms = median_ms(s)
        out[k] = {"median_ms": ms, "samples_ms": [1e3 * x for x in s], "tokens_per_s": tokens / (ms / 1e3), "utilisation": flops / (ms / 1e3) / rate}
    out["speedup"] = out["engine"]["tokens_per_s"] / out["reference"]["tokens_per_s"]
    if "engine_bf16" in out:
        out["bf16_speedup"] = out["engine_bf16"]["tokens_per_s"] / out["engine"]["tokens_per_s"]
    return out
