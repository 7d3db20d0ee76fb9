"""Checkpoints: safetensors weights with the config as JSON in the metadata. No pickle is ever loaded.

Writes are atomic: a temporary file in the same folder, then ``os.replace``, so a reader (or a run
killed mid-write) never sees half a file.
"""

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from engine.cost import count_params
from engine.model import ModelConfig, Transformer
from engine.rng import seeded


class CheckpointError(ValueError):
    """A weights file that cannot be used: missing, truncated, corrupted or not MaskLab's."""


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, then move the finished file into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; these are meant to be shared
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(model: Transformer, path, metadata: dict | None = None, dtype: torch.dtype = torch.float32) -> None:
    """Float32 by default (training checkpoints resume exactly); float16 halves a shipped file."""
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {"config": model.config.to_json(), "format": "masklab-1"}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    atomic_write(Path(path), lambda tmp: save_file(state, tmp, metadata=meta))


def read_metadata(path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except FileNotFoundError:
        raise CheckpointError(f"no weights file at {path}") from None
    except Exception as e:  # safetensors raises its own error types for truncated or garbage headers
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e


def _numel_in_file(path) -> int:
    """Parameters stored in a safetensors file, read from its header alone."""
    with safe_open(str(path), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def load_model(path, device=None) -> Transformer:
    meta = read_metadata(path)
    if "config" not in meta:
        raise CheckpointError(f"{path} has no MaskLab config in its metadata")
    try:
        config = ModelConfig.from_json(meta["config"])
    except (ValueError, TypeError) as e:  # unknown keys, wrong types, sizes that do not fit together
        raise CheckpointError(f"{path} has a config MaskLab cannot use: {e}") from e
    # Checked before the model is built: a config may describe a model far larger than memory.
    stored, expected = _numel_in_file(path), count_params(config)
    if stored != expected:
        raise CheckpointError(f"{path} does not match its config: the config describes {expected:,} parameters, the file holds {stored:,}")
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:
        raise CheckpointError(f"{path} could not be read: {e}") from e
    with seeded(0):  # its weights are loaded next; building it still draws from torch's generator
        model = Transformer(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match its config: {str(e).splitlines()[0]}") from e
    model.eval()
    return model.to(device) if device is not None else model


def sha256_file(path) -> str:
    """The SHA-256 of a file, hex, read a MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
