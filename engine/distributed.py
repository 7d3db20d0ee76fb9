"""All distributed setup in one place. One process on a CPU is the ordinary case; under ``torchrun``
the same code runs DistributedDataParallel (gloo on CPU, NCCL on GPU)."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from engine.device import pick_device


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device=None) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo(0, 1, pick_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, dev)


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    if info.world == 1:
        return model

    return DistributedDataParallel(model, device_ids=[info.device.index] if info.device.type == "cuda" else None)


def mean_across(value: float, info: DistInfo) -> float:
    if info.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return t.item() / info.world


def label_share(n_labels: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """``world * n_labels / (labels in the global batch)``: multiplied into this process's mean loss, it
    makes DistributedDataParallel's average of the processes' gradients the gradient of the mean over
    the global batch's labels, as one process computes it, however the labels fall among the
    processes (a prefix LM's or UL2's examples have different numbers). 1 in one process."""
    if info.world == 1:
        return torch.ones((), device=n_labels.device)
    total = n_labels.detach().to(torch.float64).reshape(1).clone()
    dist.all_reduce(total)
    return (n_labels.to(torch.float64) * info.world / total.clamp(min=1)).reshape(()).float()


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
