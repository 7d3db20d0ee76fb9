"""Loading a published checkpoint into ``transformers`` (`load`): its config and the Auto class
mappings pick the architecture, then the model with its pretraining head (safetensors or GGUF, never a
pickle, and no code from the checkpoint ever runs) and its own tokenizer (a GGUF file's split as the
file declares, `engine.hf.gguf_files.honour_pre_tokenizer`), and the model card.

`Loader` keeps the tokenizers loaded in this process, one per name and weights identity, for the
tokenization page (`load_tokenizer`, `text_tokens`); `LOADER` is the process's one.
"""

import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from engine import paths
from engine.catalog import NATURAL_OBJECTIVE
from engine.device import pick_device
from engine.hf.backend import HFBackend, twin_of
from engine.hf.discovery import (
    CheckpointUnavailable,
    architecture_of,
    checkpoint_folder,
    family_name,
    is_hub_id,
    weights_identity,
)
from engine.hf.gguf_files import gguf_file, gguf_summary, honour_pre_tokenizer
from engine.hf.tokens import token_rows

AUTO_CLASS = {"decoder": "AutoModelForCausalLM", "encoder": "AutoModelForMaskedLM", "encoder_decoder": "AutoModelForSeq2SeqLM"}


class Loader:
    """The tokenizers of published checkpoints loaded in this process, one per (name, weights identity),
    so that a folder saved again is loaded again. Several sessions may ask at once: the table's lock is
    held only to look up and store, and a lock per key makes each tokenizer once while others wait."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokenizers: dict = {}
        self._making: dict = {}  # key -> the lock held while that key's tokenizer is made

    def tokenizer(self, key, make):
        """The tokenizer kept under ``key``, made with ``make()`` the first time; what ``make`` raises
        is raised and nothing is kept, so a later call tries again."""
        with self._lock:
            if key in self._tokenizers:
                return self._tokenizers[key]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._tokenizers:
                    return self._tokenizers[key]
            try:
                tok = make()
                with self._lock:
                    self._tokenizers[key] = tok
                return tok
            finally:
                with self._lock:
                    self._making.pop(key, None)

    def keep(self, key, tok) -> None:
        """Keep a tokenizer made elsewhere (`load` makes one with the model)."""
        with self._lock:
            self._tokenizers[key] = tok


LOADER = Loader()


def _offline() -> bool:
    return not paths.downloads_allowed()


def _unavailable(name: str, offline: bool) -> CheckpointUnavailable:
    if offline:
        return CheckpointUnavailable(
            f"{name} is not in the local Hugging Face cache and the hub cannot be reached: download it once with "
            f"internet (`hf download {name}`), or pass a folder saved with save_pretrained or a .gguf file."
        )
    return CheckpointUnavailable(
        f"{name} could not be downloaded from the Hugging Face hub: check the id and the connection, "
        f"or pass a folder saved with save_pretrained or a .gguf file."
    )


def _load_error(e: Exception, name: str, folder: Path | None, offline: bool) -> CheckpointUnavailable:
    """One line for what transformers raised: a missing hub id gets `_unavailable`'s advice."""
    if folder is None and isinstance(e, OSError):
        return _unavailable(name, offline)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return CheckpointUnavailable(f"{folder or name} could not be loaded: {first}")


def _auto_tokenizer(source: str, kw: dict, gguf: Path | None):
    """A checkpoint's own tokenizer through ``AutoTokenizer`` and, for a GGUF file, split as the file
    declares (`honour_pre_tokenizer`): the one place both `load` and `load_tokenizer` make it. Returns
    the tokenizer and the model card's note on its pre-tokenizer (None without GGUF)."""
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(source, **kw)
    return tok, (honour_pre_tokenizer(tok, gguf) if gguf is not None else None)


@dataclass
class Loaded:
    """A published checkpoint, loaded: what `engine.variants.load_variant` wraps in a Variant."""

    model: torch.nn.Module
    tokenizer: object
    backend: HFBackend
    architecture: str
    objective: str
    card: dict


def load(name: str, device=None, ref=None) -> Loaded:
    """Load a published checkpoint: ``AutoConfig`` and the Auto class mappings pick the architecture,
    then the model with its pretraining head and its own tokenizer load, in eval mode, bf16 on CUDA
    and float32 on the CPU, with PyTorch's fused attention (``sdpa``) where the family has it: at
    1,024 tokens SmolLM2-135M scores in less than half the time of eager attention. Attention maps
    come from an eager twin that shares its weights (`twin_of`); the model itself is never switched.

    ``ref`` is what `engine.variants.resolve` made of ``name`` (its ``path`` and ``identity``), so the
    name is not looked up again; without it, ``name`` is looked up here.

    Raises `CheckpointUnavailable` (not here, not loadable: one sentence), ValueError (a refused path,
    a model with no language-model head, a tokenizer without the special tokens its scoring needs).
    Offline unless ``MASKLAB_ALLOW_DOWNLOADS=1``."""
    dev = pick_device(device)
    folder = ref.path if ref is not None else checkpoint_folder(name)
    if folder is None and not is_hub_id(name):
        raise ValueError(f"{name!r} is neither a folder saved with save_pretrained, a .gguf file, nor a Hugging Face id")
    gguf = gguf_file(folder) if folder is not None else None
    if folder is not None and gguf is None and not (folder / "config.json").is_file():
        raise CheckpointUnavailable(f"{folder} holds no config.json and no single .gguf file: pass a folder saved with save_pretrained or a .gguf file.")
    offline = _offline()
    source = str(gguf.parent if gguf else folder) if folder is not None else name
    kw = dict(local_files_only=offline, trust_remote_code=False)
    if gguf is not None:
        kw["gguf_file"] = gguf.name

    import transformers  # imported here: it takes seconds, and MaskLab's own models do not need it

    try:
        config = transformers.AutoConfig.from_pretrained(source, **kw)
    except (OSError, ValueError) as e:
        raise _load_error(e, name, folder, offline) from None
    try:
        arch = architecture_of(config)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if folder is not None and gguf is None and not any(folder.glob("*.safetensors")):
        raise CheckpointUnavailable(
            f"{folder} has no safetensors weights, and MaskLab never loads pickled ones (pytorch_model.bin): "
            f"convert it once with `AutoModel.from_pretrained(...).save_pretrained(folder)` where you trust the file."
        )
    weights = {} if gguf is not None else dict(use_safetensors=True)  # never a pickle
    try:
        loader = getattr(transformers, AUTO_CLASS[arch])
        common = dict(config=config, output_loading_info=True, dtype=torch.bfloat16 if dev.type == "cuda" else torch.float32, **weights, **kw)
        try:
            model, info = loader.from_pretrained(source, attn_implementation="sdpa", **common)
            twin_of(model)  # attention maps read an eager twin of it; raises ValueError where none can be made
        except ValueError:  # a family without sdpa, or one whose twin cannot be eager: eager throughout
            model, info = loader.from_pretrained(source, attn_implementation="eager", **common)
        tokenizer, pre_note = _auto_tokenizer(source, kw, gguf)  # a GGUF file's tokenizer split as the file declares
    except (OSError, ValueError) as e:
        raise _load_error(e, name, folder, offline) from None
    missing = [k for k in info.get("missing_keys", []) if _is_head_weight(model, k)]
    if missing:
        raise ValueError(f"{name}: its weights have no language-model head ({missing[0]} is missing), so it cannot predict tokens; load a checkpoint saved with its pretraining head.")
    model = model.eval().to(dev)
    backend = HFBackend(model, tokenizer, arch)
    LOADER.keep((name, ref.identity if ref is not None else weights_identity(name)), tokenizer)  # the tokenization page reuses it
    params = sum(p.numel() for p in model.parameters())
    card = {
        "family": family_name(config),
        "parameters": params,
        "tokenizer": type(tokenizer).__name__,
        "model_type": config.model_type,
        "context": backend.context,
        "path": str(gguf) if gguf else source,
        "query_heads": backend.n_head,
        "key_value_heads": backend.n_kv_head,
        "layers": backend.n_layer,
    }
    if gguf is not None:
        summary = gguf_summary(gguf)
        dtype = str(next(model.parameters()).dtype).replace("torch.", "")
        card.update(format="GGUF", quantisation=summary["quantisation"], name=summary["name"], licence=summary["licence"], dtype=dtype,
                    note=f"de-quantised from GGUF {summary['quantisation']} to {dtype} by transformers on load", pre_tokenizer=pre_note)
    return Loaded(model, tokenizer, backend, arch, NATURAL_OBJECTIVE[arch], card)  # a published model's objective: its architecture's natural one


def _is_head_weight(model, key: str) -> bool:
    """A missing weight that belongs to the output head rather than to the body (a checkpoint saved
    from ``BertModel`` lacks ``cls.predictions.*``)."""
    head = model.get_output_embeddings()
    if head is None:
        return True
    names = {n for n, p in model.named_parameters() if any(p is q for q in head.parameters())}
    return key in names or any(s in key for s in ("lm_head", "cls.predictions", "vocab_projector", "generator_lm_head"))


# ---------------------------------------------------------------- a checkpoint's tokenizer alone (the tokenization page)


def load_tokenizer(name: str):
    """A checkpoint's own tokenizer, without its weights (a GGUF file's is read from the file and split
    as the file declares, as `load` makes it); one per name and weights identity, kept for the process
    (`LOADER`). Raises CheckpointUnavailable in one sentence."""

    def make():
        folder = checkpoint_folder(name)
        g = gguf_file(folder) if folder is not None else None
        source = str(g.parent if g else folder) if folder is not None else name
        kw = dict(local_files_only=_offline(), trust_remote_code=False)
        if g is not None:
            kw["gguf_file"] = g.name
        try:
            return _auto_tokenizer(source, kw, g)[0]
        except (OSError, ValueError) as e:
            raise _load_error(e, name, folder, kw["local_files_only"]) from None

    return LOADER.tokenizer((name, weights_identity(name)), make)


def text_tokens(name: str, text: str) -> list:
    """``text`` in a checkpoint tokenizer's tokens, as `engine.tokenizer.Token` rows (so the
    tokenization page draws them like tiktoken's): `engine.hf.tokens.token_rows` of `load_tokenizer`."""
    return token_rows(load_tokenizer(name), text)
