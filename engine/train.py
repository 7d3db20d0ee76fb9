"""Pretrain one MaskLab model: ``python -m engine.train --architecture decoder --objective clm``.

The loop is a function with an ``on_step`` callback that the command line (a progress bar) and the
app (a live chart) both use. Every batch is a pure function of (seed, step), so a run killed at any
moment and resumed with ``--resume`` ends with the same weights as one that never stopped.
Checkpoints are safetensors written atomically; ``latest.json`` names the last complete one.
"""

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from engine import distributed, yardstick
from engine.catalog import COMPATIBLE, SIZES
from engine.categories import CATEGORIES, category_table
from engine.checkpoint import atomic_write, load_model, save_model
from engine.cost import count_params, training_flops
from engine.data import read_documents, sample_windows, token_stream
from engine.device import (
    PRECISIONS,
    autocast,
    peak_flops,
    training_autocast,
    training_precision,
)
from engine.losses import IGNORE_INDEX, token_nll
from engine.masks import ARCHITECTURES
from engine.model import ModelConfig, Transformer
from engine.objectives import OBJECTIVES, as_decoder_sequence, corrupt, draw_ul2_mode
from engine.tokenizer import get_encoding
from engine.vocab import MASKLAB


def opt(default, help: str, choices=None, type=None):
    """A TrainConfig field that is also a command-line flag."""
    return field(default=default, metadata={"help": help, "choices": choices, "type": type})


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Every field is a flag of ``python -m engine.train`` (``--seq-len`` for
    ``seq_len``), with the help text in its metadata: the parser is generated from this class."""

    architecture: str = opt("decoder", "which transformer to train", choices=ARCHITECTURES)
    objective: str = opt("clm", "pretraining objective (must suit the architecture)", choices=OBJECTIVES)
    size: str = opt("small", "model size preset: " + "; ".join(f"{k}: {v}" for k, v in SIZES.items()), choices=tuple(SIZES))
    seq_len: int = opt(256, "corpus tokens per example, before corruption")
    batch_size: int = opt(16, "examples per optimizer step, the global batch: under torchrun each of N processes takes batch-size/N (must divide evenly)")
    tokens: int = opt(2_000_000, "corpus-token budget (ignored if --flops is given)")
    flops: float = opt(0.0, "training-FLOP budget (engine accounting), e.g. 2e14; stops when spent: the fair way to compare architectures")
    lr: float = opt(2e-3, "peak learning rate")
    min_lr_ratio: float = opt(0.1, "final learning rate as a share of the peak")
    warmup: int = opt(50, "warm-up steps (linear)")
    schedule: str = opt("cosine", "learning-rate schedule after warm-up", choices=("cosine", "constant"))
    weight_decay: float = opt(0.1, "AdamW weight decay on matrices")
    grad_clip: float = opt(1.0, "clip the gradient's global norm to this")
    seed: int = opt(0, "seed for initialisation, data order and corruption")
    device: str = opt("auto", "auto, cpu or cuda")
    precision: str = opt("auto", "auto: bf16 autocast on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), float32 elsewhere; weights and optimizer state stay float32", choices=PRECISIONS)
    out: str = opt("runs/run", "run folder for checkpoints, log.jsonl and summary.json")
    eval_interval: int = opt(100, "steps between validation evaluations (regular FLOP intervals: every step costs the same)")
    eval_batches: int = opt(4, "validation batches per evaluation")
    ckpt_interval: int = opt(100, "steps between checkpoints")
    corpus: str | None = opt(None, "text file or folder to train on (default: ../shared/corpus, or $MASKLAB_CORPUS)", type=str)
    max_corpus_bytes: int = opt(30_000_000, "read at most this many bytes of the train split")
    workers: int = opt(0, "processes that prepare batches ahead of the training loop (0: in the loop). On a GPU the corruption of each batch in Python would otherwise keep it waiting; every batch stays a pure function of (seed, step), so the run is the same with any number")
    span_bias: int = opt(0, "encoder_decoder only: reach of the cross-attention span bias, a learned bias over offsets from the sentinel that opened each target token's span (engine.model.span_anchors); 0: none")
    yardstick: int = opt(0, "held-out words per task (continue, fill) scored at every evaluation, every architecture its natural way (engine.yardstick); 0: off")

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if self.objective not in COMPATIBLE[self.architecture]:
            raise ValueError(f"{self.architecture} cannot be trained with {self.objective}; it takes {', '.join(COMPATIBLE[self.architecture])}")
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}; choose one of {', '.join(SIZES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError("schedule must be cosine or constant")
        if self.seq_len < 8 or self.batch_size < 1 or self.tokens < 1 or self.lr <= 0:
            raise ValueError("seq_len must be >= 8, batch_size >= 1, tokens >= 1 and lr > 0")
        if self.workers < 0:
            raise ValueError("workers must be >= 0")
        if self.span_bias < 0 or (self.span_bias and self.architecture != "encoder_decoder"):
            raise ValueError("span_bias is a non-negative reach, for an encoder_decoder only")

    def model_config(self) -> ModelConfig:
        # span-style targets add sentinels and EOS; prefix-style joins input and target: leave room
        return ModelConfig(architecture=self.architecture, vocab_size=MASKLAB.vocab_size, max_len=self.seq_len + 64, span_bias=self.span_bias,
                           **SIZES[self.size])

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class Batch:
    idx: torch.Tensor
    targets: torch.Tensor
    decoder_idx: torch.Tensor | None = None
    n_prefix: torch.Tensor | None = None
    corpus_tokens: int = 0

    def to(self, device):
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(move(self.idx), move(self.targets), move(self.decoder_idx), move(self.n_prefix), self.corpus_tokens)

    def model_kwargs(self) -> dict:
        kw = {}
        if self.decoder_idx is not None:
            kw["decoder_idx"] = self.decoder_idx
        if self.n_prefix is not None:
            kw["n_prefix"] = self.n_prefix
        return kw


def size_config(architecture: str, size: str, **flags) -> ModelConfig:
    """The ModelConfig of a MaskLab model of ``size`` (`SIZES`) and ``architecture`` as `TrainConfig`
    builds it (its default sequence length, so the shipped models' max_len and position embeddings),
    with ModelConfig ``flags`` over it (the encoder-decoder's switches); no span bias. What the cost
    pages count, so that a "medium" there has the shipped medium models' parameters.
    ValueError for an unknown architecture or size (TrainConfig's)."""
    objective = COMPATIBLE.get(architecture, ("clm",))[0]
    return replace(TrainConfig(architecture=architecture, objective=objective, size=size).model_config(), **flags)


def per_rank_batch(batch_size: int, world: int) -> int:
    """Examples each of ``world`` processes takes per step: ``--batch-size`` is the global batch, the
    same under ``torchrun`` as in one process, so it must divide evenly (ValueError otherwise: a
    silently smaller global batch would change the run)."""
    if batch_size % world:
        raise ValueError(f"--batch-size {batch_size} is the global batch and must divide evenly among {world} processes; use a multiple of {world}")
    return batch_size // world


def example_indices(batch_size: int, rank: int, world: int) -> list[int]:
    """Positions in the global batch of ``batch_size`` examples of those that process ``rank`` of
    ``world`` takes: every ``world``-th, from ``rank`` (one process takes them all)."""
    return list(range(batch_size))[rank::world][: per_rank_batch(batch_size, world)]


def example_seed(seed: int, index: int) -> int:
    """The corruption seed of the example at ``index`` in the global batch whose seed is ``seed``: by
    its place in the global batch, not in its process's share, so ``torchrun`` corrupts exactly what
    one process corrupts and no two processes repeat a mask pattern."""
    return seed * 1009 + index


def make_batch(windows: list[list[int]], objective: str, architecture: str, seed: int, indices: list[int] | None = None) -> Batch:
    """Corrupt each window (seeded per example by its position in the global batch, ``indices``:
    see `example_indices`; default 0, 1, ...) and lay the results out for ``architecture``."""
    if indices is None:
        indices = range(len(windows))
    elif len(indices) != len(windows):
        raise ValueError(f"indices gives {len(indices)} positions for {len(windows)} windows")
    extra = {}
    if objective == "ul2":  # one denoiser per batch keeps every example the same length
        extra["mode"] = _ul2_mode(seed)
    cs = [corrupt(w, objective, seed=example_seed(seed, i), **extra) for i, w in zip(indices, windows)]
    n = sum(len(w) for w in windows)
    if architecture == "encoder":
        return Batch(torch.tensor([c.inputs for c in cs]), torch.tensor([c.targets for c in cs]), corpus_tokens=n)
    if architecture == "encoder_decoder":
        enc, dec, tgt = zip(*(_encoder_decoder_layout(c) for c in cs))
        return Batch(_rectangle(enc, MASKLAB.pad), _rectangle(tgt, IGNORE_INDEX), decoder_idx=_rectangle(dec, MASKLAB.pad), corpus_tokens=n)
    seqs, labels, prefixes = zip(*(as_decoder_sequence(c) for c in cs))
    n_prefix = torch.tensor(prefixes) if architecture == "prefix_lm" else None
    return Batch(_rectangle(seqs, MASKLAB.pad), _rectangle(labels, IGNORE_INDEX), n_prefix=n_prefix, corpus_tokens=n)


def _rectangle(rows, fill: int) -> torch.Tensor:
    """Equal-length rows as one tensor. Span objectives give every window of a batch the same length,
    except a window whose separators no span layout can avoid (`engine.objectives.span_corruption`):
    it is padded at the end with ``fill`` (``<|pad|>``, or an ignored label), which a causal part
    never sees; an encoder does see it, in such rare windows only."""
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [fill] * (width - len(r)) for r in rows])


def _ul2_mode(seed: int) -> str:
    """The batch's UL2 denoiser: `engine.objectives.draw_ul2_mode` from a generator seeded with ``seed``."""
    return draw_ul2_mode(torch.Generator().manual_seed(seed))


def _encoder_decoder_layout(c):
    """(encoder input, decoder input, labels) for any corruption."""
    if c.decoder_inputs is not None:
        return c.inputs, c.decoder_inputs, c.targets
    # in-place prefix objectives: the prefix is the encoder's input, the rest the decoder's target
    enc = c.inputs[: c.n_prefix]
    target = c.inputs[c.n_prefix :] + [MASKLAB.eos]
    return enc, [MASKLAB.bos] + target[:-1], target


class _StepBatches(torch.utils.data.Dataset):
    """Training batches by step, for a DataLoader whose worker processes build them ahead. They travel
    as numpy arrays, pickled through the worker's pipe: no shared memory, which containers often lack."""

    def __init__(self, make, start: int, stop: int):
        self.make, self.start, self.stop = make, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple:
        b = self.make(self.start + i)
        return tuple(None if t is None else t.numpy() for t in (b.idx, b.targets, b.decoder_idx, b.n_prefix)) + (b.corpus_tokens,)


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def batches(make, start: int, stop: int, workers: int = 0):
    """``make(step)`` for every step in [start, stop), in order. With ``workers`` > 0 they are built
    ahead by that many forked processes (torch.utils.data.DataLoader, batch_size=None): the same
    batches, since each is a pure function of its step. Platforms without fork build them in the loop."""
    workers = min(workers, max(1, (os.cpu_count() or 2) - 1))  # one core stays with the training loop
    if workers <= 0 or "fork" not in multiprocessing.get_all_start_methods():
        yield from (make(step) for step in range(start, stop))
        return
    loader = torch.utils.data.DataLoader(_StepBatches(make, start, stop), batch_size=None, shuffle=False, num_workers=workers, prefetch_factor=4,
                                         multiprocessing_context="fork", worker_init_fn=_one_thread, collate_fn=lambda item: item)
    for *arrays, corpus_tokens in loader:
        yield Batch(*(None if a is None else torch.from_numpy(a) for a in arrays), corpus_tokens=corpus_tokens)


def lr_at(cfg: TrainConfig, step: int, steps: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, steps - cfg.warmup))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def update(model: Transformer, opt: torch.optim.Optimizer, loss: torch.Tensor, lr: float, grad_clip: float) -> None:
    """One optimizer step of every MaskLab training run: set the learning rate, backpropagate ``loss``,
    clip the gradient's global norm to ``grad_clip``, step."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def fit(model: Transformer, cfg: TrainConfig, batch_at, steps: int) -> list[float]:
    """Train ``model`` for ``steps`` on ``batch_at(step) -> Batch`` (any task, not only the corpus) with
    the loop `train` runs: `make_optimizer`, `lr_at`'s schedule from ``cfg``, training autocast,
    `update`. Returns the training loss of every step (nats per labelled position). What a test of the
    schedule trains with (a copy task no model solves without reading its encoder)."""
    device = model.device
    opt = make_optimizer(model, cfg)
    model.train()
    losses = []
    for step in range(steps):
        b = batch_at(step).to(device)
        with training_autocast(device, cfg.precision):
            loss = model(b.idx, b.targets, **b.model_kwargs()).loss
        update(model, opt, loss, lr_at(cfg, step, steps), cfg.grad_clip)
        losses.append(loss.item())
    return losses


def batch_flops(model_config: ModelConfig, batch: Batch) -> int:
    """Training FLOPs of one batch from the engine's accounting (engine.cost): an encoder_decoder's
    input is its encoder's, a prefix_lm's its prefix (split at the batch mean); every other position
    is target."""
    B, T = batch.idx.shape
    if batch.decoder_idx is not None:
        return B * training_flops(model_config, T, batch.decoder_idx.shape[1])
    n_input = int(batch.n_prefix.float().mean()) if batch.n_prefix is not None and model_config.architecture == "prefix_lm" else 0
    return B * training_flops(model_config, n_input, T - n_input)


def make_optimizer(model: Transformer, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)


def _save_optimizer(opt: torch.optim.AdamW, model: Transformer, path: Path, step: int) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                n = names[id(p)]
                tensors[f"exp_avg.{n}"] = st["exp_avg"].detach().cpu().contiguous()
                tensors[f"exp_avg_sq.{n}"] = st["exp_avg_sq"].detach().cpu().contiguous()
                tensors[f"step.{n}"] = torch.as_tensor(st["step"]).detach().cpu().reshape(1).float()
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"step": str(step)}))


def _load_optimizer(opt: torch.optim.AdamW, model: Transformer, path: Path) -> None:
    tensors = load_file(str(path))
    for n, p in model.named_parameters():
        if f"exp_avg.{n}" in tensors:
            opt.state[p] = {
                "step": tensors[f"step.{n}"].reshape(()),
                "exp_avg": tensors[f"exp_avg.{n}"].to(p.device),
                "exp_avg_sq": tensors[f"exp_avg_sq.{n}"].to(p.device),
            }


def _category_index(n_vocab: int) -> tuple[torch.Tensor, tuple[str, ...]]:
    enc = get_encoding("masklab")
    texts = [enc.decode_single_token_bytes(i).decode("utf-8", errors="replace") if i < MASKLAB.n_regular else "" for i in range(n_vocab)]
    table = category_table(texts, MASKLAB.n_regular)
    return torch.tensor([CATEGORIES.index(c) for c in table]), CATEGORIES


@torch.no_grad()
def evaluate(model: Transformer, batches: list[Batch], device, categories: torch.Tensor) -> dict:
    """Mean loss on the objective's labelled positions, and broken down by the label's category."""
    model.eval()
    total = torch.zeros(len(CATEGORIES), dtype=torch.float64)
    count = torch.zeros(len(CATEGORIES), dtype=torch.float64)
    for b in batches:
        b = b.to(device)
        with autocast(device):
            logits = model(b.idx, **b.model_kwargs()).logits
        nll = token_nll(logits, b.targets).double().cpu()
        labels = b.targets.cpu()
        keep = labels != IGNORE_INDEX
        cat = categories[labels[keep]]
        total.index_add_(0, cat, nll[keep])
        count.index_add_(0, cat, torch.ones_like(nll[keep]))
    model.train()
    by_cat = {name: (total[i] / count[i]).item() for i, name in enumerate(CATEGORIES) if count[i] > 0}
    return {"val_loss": (total.sum() / count.sum().clamp(min=1)).item(), "categories": by_cat, "val_tokens": int(count.sum())}


def _read_log(path: Path, upto_step: int) -> list[str]:
    """The log's records up to ``upto_step``; a line a kill cut short is dropped, not an error."""
    if not path.exists():
        return []
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("step", 0) <= upto_step:
            kept.append(line)
    return kept


def train(cfg: TrainConfig, resume: bool = False, on_step=None, progress: bool = False) -> dict:
    """Train, checkpoint, evaluate; returns the run's summary (also written to ``summary.json``).

    ``on_step(record)`` is called on every logged record (training steps and evaluations); returning
    ``True`` from it stops the run after a checkpoint, as does SIGKILL, minus the unsaved steps.
    """
    info = distributed.setup(cfg.device)
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    mc = cfg.model_config()
    model = Transformer(mc).to(info.device)
    opt = make_optimizer(model, cfg)
    train_tokens = token_stream("train", cfg.corpus, cfg.max_corpus_bytes)
    valid_tokens = token_stream("valid", cfg.corpus, min(cfg.max_corpus_bytes, 2_000_000))
    per_rank_batch(cfg.batch_size, info.world)  # refuses a global batch that does not divide evenly, before any work

    def batch_for(step: int, tokens: np.ndarray, seed: int) -> Batch:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        windows = sample_windows(tokens, cfg.batch_size, cfg.seq_len, g)
        mine = example_indices(cfg.batch_size, info.rank, info.world)
        return make_batch([windows[i] for i in mine], cfg.objective, cfg.architecture, seed * 7919 + step, mine)

    probe = batch_for(0, train_tokens, cfg.seed)
    step_flops = batch_flops(mc, probe) * info.world
    corpus_per_step = cfg.batch_size * cfg.seq_len
    steps = math.ceil(cfg.flops / step_flops) if cfg.flops else math.ceil(cfg.tokens / corpus_per_step)
    eval_set = [batch_for(i, valid_tokens, 12345) for i in range(cfg.eval_batches)]
    ys_sets = None
    if cfg.yardstick and info.is_main:  # the same held-out words for every architecture (engine.yardstick)

        ys_sets = yardstick.passages("<|endoftext|>".join(read_documents("valid", cfg.corpus, 2_000_000)), cfg.yardstick)
    categories, _ = _category_index(mc.vocab_size)

    start_step, log_lines, elapsed_before = 0, [], 0.0
    latest = out / "latest.json"
    if resume and latest.exists():
        state = json.loads(latest.read_text())
        start_step, elapsed_before = state["step"], state.get("elapsed_s", 0.0)
        model.load_state_dict(load_model(out / state["model"]).state_dict())
        _load_optimizer(opt, model, out / state["optimizer"])
        log_lines = _read_log(out / "log.jsonl", start_step)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        atomic_write(out / "log.jsonl", lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in log_lines)))
    ddp_model = distributed.wrap(model, info)

    def emit(record: dict) -> bool:
        if info.is_main:
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
        return bool(on_step(record)) if on_step else False

    def checkpoint(step: int, elapsed: float) -> None:
        if not info.is_main:
            return
        model_name, opt_name = f"model-{step:07d}.safetensors", f"optim-{step:07d}.safetensors"
        save_model(model, out / model_name, {"step": step})
        _save_optimizer(opt, model, out / opt_name, step)
        pointer = {"step": step, "model": model_name, "optimizer": opt_name, "elapsed_s": elapsed}
        atomic_write(latest, lambda tmp: Path(tmp).write_text(json.dumps(pointer)))
        for old in list(out.glob("model-*.safetensors")) + list(out.glob("optim-*.safetensors")):
            if old.name not in (model_name, opt_name):
                old.unlink(missing_ok=True)

    bar = None
    if progress and info.is_main:

        bar = tqdm(total=steps, initial=start_step, unit="step", dynamic_ncols=True, file=sys.stderr)
    t0 = time.perf_counter()
    loss_ema, stopped, done = None, False, start_step  # done: steps finished (a resumed finished run adds none)
    last_eval = None
    model.train()
    step_s = 0.0  # seconds in training steps (forward, backward, optimizer), this process: what MFU divides by
    train_batches = batches(lambda step: batch_for(step, train_tokens, cfg.seed), start_step, steps, cfg.workers)
    for step in range(start_step, steps):
        t_step = time.perf_counter()
        lr = lr_at(cfg, step, steps)
        b = next(train_batches).to(info.device)
        with training_autocast(info.device, cfg.precision):
            out_ = ddp_model(b.idx, b.targets, **b.model_kwargs())
        # the mean over the global batch's labels, not the mean of the processes' means (engine.distributed.label_share)
        step_loss = out_.loss * distributed.label_share((b.targets != IGNORE_INDEX).sum(), info)
        update(model, opt, step_loss, lr, cfg.grad_clip)
        loss = distributed.mean_across(step_loss.item(), info)  # .item() waits for the device: the step is done
        step_s += time.perf_counter() - t_step
        loss_ema = loss if loss_ema is None else 0.9 * loss_ema + 0.1 * loss
        done = step + 1
        elapsed = elapsed_before + time.perf_counter() - t0
        rate = (done - start_step) * corpus_per_step / max(1e-9, time.perf_counter() - t0)
        record = {"step": done, "steps": steps, "tokens": done * corpus_per_step, "flops": done * step_flops, "loss": loss, "lr": lr, "tok_per_s": rate, "elapsed_s": elapsed, "eta_s": (steps - done) * corpus_per_step / max(rate, 1e-9)}
        stop = emit(record) or (out / "STOP").exists()  # touch STOP in the run folder to end cleanly
        if bar:
            bar.set_postfix(loss=f"{loss_ema:.3f}", tok_s=f"{rate:,.0f}")
            bar.update(1)
        if done % cfg.eval_interval == 0 or done == steps:
            last_eval = evaluate(model, eval_set, info.device, categories)
            last_eval = {"step": done, "tokens": done * corpus_per_step, "flops": done * step_flops, "eval": True, **last_eval}
            if ys_sets:

                last_eval["yardstick"] = yardstick.evaluate(model, cfg.architecture, ys_sets, cfg.objective)
            stop = emit(last_eval) or stop
        if done % cfg.ckpt_interval == 0 or done == steps or stop:
            checkpoint(done, elapsed)
        distributed.barrier(info)
        if stop:
            stopped = True
            break
    del train_batches  # ends the worker processes, if any
    if bar:
        bar.close()
    summary = {}
    if info.is_main:
        if last_eval is None:
            last_eval = {"step": done, **evaluate(model, eval_set, info.device, categories)}
        rate = (done - start_step) * step_flops / step_s if step_s > 0 else None  # FLOP/s in this process's steps
        peak = peak_flops(info.device)
        summary = {
            "architecture": cfg.architecture,
            "objective": cfg.objective,
            "size": cfg.size,
            "parameters": count_params(mc),
            "steps": steps,
            "steps_done": done,
            "stopped_early": stopped,
            "corpus_tokens": done * corpus_per_step,
            "training_flops": done * step_flops,
            "flops_per_step": step_flops,
            "final_val_loss": last_eval["val_loss"],
            "final_yardstick": last_eval.get("yardstick"),
            "final_categories": last_eval.get("categories", {}),
            "wall_time_s": elapsed_before + time.perf_counter() - t0,
            # training steps only (no evaluation, no checkpoints), in this process's part of the run
            "step_flops_per_s": rate,
            "mfu": rate / peak if rate and peak else None,
            "device": str(info.device),
            "precision": training_precision(info.device, cfg.precision),
            "world_size": info.world,
            "model_config": asdict(mc),
            "train_config": asdict(cfg),
        }
        save_model(model, out / "model.safetensors", {"summary": summary})
        atomic_write(out / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    distributed.teardown(info)
    return summary


def build_parser() -> argparse.ArgumentParser:
    """``python -m engine.train``'s flags, one per `TrainConfig` field (generated), then --resume and --quiet."""
    p = argparse.ArgumentParser(prog="python -m engine.train", description="Pretrain one MaskLab model on the corpus.")
    for f in fields(TrainConfig):
        meta = f.metadata
        kind = meta.get("type") or type(f.default)
        kw = {"choices": list(meta["choices"])} if meta.get("choices") else {}
        p.add_argument("--" + f.name.replace("_", "-"), default=f.default, type=kind, help=meta["help"], **kw)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        summary = train(cfg, resume=args.resume, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if summary:
        print(json.dumps({k: summary[k] for k in ("architecture", "objective", "parameters", "corpus_tokens", "training_flops", "final_val_loss", "wall_time_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
