"""Where the engine runs: CUDA with bf16 autocast when there is a GPU, float32 on the CPU otherwise.

Training alone may use bf16 on a CPU too (`training_autocast`): on a CPU with AVX512-BF16 or AMX a
bf16 matrix product runs about twice as fast as a float32 one. Analysis (scoring, attention, the
parity tests) always runs in float32 on the CPU.
"""

import contextlib
import functools
import re

import torch

PRECISIONS = ("auto", "bf16", "fp32")


def pick_device(device=None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for (the gpu presets ask for it), but no GPU is visible to PyTorch; on a CPU use --preset cpu or --device cpu")
    return device


def inference_dtype(device: torch.device) -> torch.dtype:
    """The dtype the engine's forward passes compute in on ``device`` (see `autocast`): bf16 on CUDA,
    float32 elsewhere; what a KV cache held there is made of (``.itemsize``: 2 or 4 bytes a value)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (the ``avx512_bf16`` or ``amx_bf16`` flag in
    /proc/cpuinfo): detected, never assumed. False where the file cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def training_precision(device: torch.device, precision: str = "auto") -> str:
    """``"bf16"`` or ``"fp32"``: what training runs its forward and backward passes in. ``auto`` is
    bf16 on CUDA and on a CPU that has native bf16 (`cpu_has_bf16`), float32 elsewhere. Master weights
    and optimizer state stay float32 either way. ValueError for an unknown precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or cpu_has_bf16() else "fp32"


def training_autocast(device: torch.device, precision: str = "auto"):
    """The autocast context for a training step: bf16 (weights stay float32) or nothing."""
    if training_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)} (bf16)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'}, float32)"


# Dense bf16 tensor-core peaks (no sparsity), FLOP/s, from NVIDIA's data sheets: what MFU is measured against
GPU_BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}
H100_PCIE_BF16_PEAK = 756e12


def peak_flops(device) -> float | None:
    """The dense bf16 peak (FLOP/s) of ``device`` when it is a CUDA GPU MaskLab knows by name (an H200:
    989e12), else None: a CPU's peak depends on its clock and vector units, so the benchmark measures a
    matrix product's rate instead (``python -m bench``)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    words = re.split(r"[\s-]+", torch.cuda.get_device_name(device))  # "NVIDIA A100-SXM4-80GB": A100, never A10
    if "H100" in words and "PCIe" in words:
        return H100_PCIE_BF16_PEAK
    return next((GPU_BF16_PEAK[w] for w in words if w in GPU_BF16_PEAK), None)

