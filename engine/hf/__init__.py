"""Published checkpoints through ``transformers``: any causal LM, masked LM or sequence-to-sequence model
that ``transformers`` can load, behind the same views as MaskLab's own models.

A checkpoint is named by a Hugging Face id (``gpt2``, ``google/flan-t5-small``), a local folder saved
with ``save_pretrained``, a ``.gguf`` file, or a folder holding one. Nothing is downloaded unless
``MASKLAB_ALLOW_DOWNLOADS=1``: an id must already be in the local Hugging Face cache, and when it is
not, loading fails at once with one sentence that says how to get it (`CheckpointUnavailable`).
Weights load from safetensors or GGUF only (never a pickle) and no code from a checkpoint ever runs.

The architecture comes from the model's config and ``transformers``' Auto classes: a model type with a
sequence-to-sequence head is an ``encoder_decoder`` (T5, Flan-T5, BART), one with a masked-LM head an
``encoder`` (BERT, RoBERTa, DistilBERT, ModernBERT, ELECTRA), one with only a causal-LM head a
``decoder`` (GPT-2, Llama/SmolLM2, Qwen2, Gemma, GPT-NeoX/Pythia, OPT). `engine.scoring` then scores
each its natural way through `HFBackend`, the `engine.backend.Backend` for ``transformers`` models.

One concern a module:

- `engine.hf.discovery`: where checkpoints may come from, what a name refers to (`locate`,
  `checkpoint_folder`, portable names), what identifies its weights, and the checkpoints on this machine;
- `engine.hf.gguf_files`: GGUF headers and the pre-tokenizer a GGUF file declares;
- `engine.hf.loading`: loading a checkpoint (`load`), its tokenizer alone (`load_tokenizer`) and
  `Loader`, the process's cache of tokenizers;
- `engine.hf.backend`: `HFBackend`, its eager twin for attention maps, and its locks;
- `engine.hf.tokens`: special tokens, and a text in a checkpoint tokenizer's tokens;
- `engine.hf.accounting`: `describe`, the cost views' accounting of a loaded checkpoint;
- `engine.hf.fetching`: `fetch`, a catalogued checkpoint from the hub or the package registry.

What a name means to MaskLab as a whole (a shipped variant, a random model or a published checkpoint)
is decided once, by `engine.variants.resolve`, which asks `locate` about published ones.
"""

from engine.hf.accounting import describe
from engine.hf.backend import (
    HFBackend,
    attn_implementation,
    self_attention_weights,
    twin_of,
)
from engine.hf.discovery import (
    CheckpointUnavailable,
    Found,
    allowed_roots,
    architecture_of,
    checkpoint_folder,
    family_name,
    fetched_dir,
    find_checkpoints,
    in_model_dirs,
    is_hub_id,
    list_cached,
    locate,
    looks_like_checkpoint,
    model_dirs,
    peek_architecture,
    portable_name,
    weights_identity,
)
from engine.hf.fetching import CATALOGUE, fetch
from engine.hf.gguf_files import gguf_file, gguf_pre_tokenizer, gguf_summary
from engine.hf.loading import LOADER, Loaded, Loader, load, load_tokenizer, text_tokens

__all__ = [
    "CATALOGUE",
    "LOADER",
    "CheckpointUnavailable",
    "Found",
    "HFBackend",
    "Loaded",
    "Loader",
    "allowed_roots",
    "architecture_of",
    "attn_implementation",
    "checkpoint_folder",
    "describe",
    "family_name",
    "fetch",
    "fetched_dir",
    "find_checkpoints",
    "gguf_file",
    "gguf_pre_tokenizer",
    "gguf_summary",
    "in_model_dirs",
    "is_hub_id",
    "list_cached",
    "load",
    "load_tokenizer",
    "locate",
    "looks_like_checkpoint",
    "model_dirs",
    "peek_architecture",
    "portable_name",
    "self_attention_weights",
    "text_tokens",
    "twin_of",
    "weights_identity",
]
