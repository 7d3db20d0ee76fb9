"""Published checkpoints through ``transformers``: the GPT-2, BERT (DistilBERT, RoBERTa) and T5 families
behind the same views as MaskLab's own models.

A checkpoint is named by a Hugging Face id (``gpt2``, ``google/flan-t5-small``) or by a local folder
saved with ``save_pretrained``. Nothing is downloaded unless ``MASKLAB_ALLOW_DOWNLOADS=1``: an id
must already be in the local Hugging Face cache, and when it is not, loading fails at once with one
sentence that says how to get it (`CheckpointUnavailable`), instead of waiting on a network timeout.
Weights load from safetensors only (never a pickle) and no code from a checkpoint ever runs.

Each family is scored the way it was trained to predict, as `engine.scoring` scores MaskLab's own:

- GPT-2 (``decoder``): next-token loss, the text preceded by ``<|endoftext|>`` so the first token is
  scored too;
- BERT, DistilBERT, RoBERTa (``encoder``): pseudo-log-likelihood: one copy of the text per token, that
  token replaced by the tokenizer's mask token, ``[CLS]`` and ``[SEP]`` around it as in pretraining;
- T5 (``encoder_decoder``): each token as a one-token masked span with T5's own sentinels. For
  "We hold these truths" and the token "these"::

      encoder input      We hold <extra_id_0> truths </s>
      decoder input      <pad> <extra_id_0>            (<pad> is T5's decoder start token)
      loss               -log p("these") at decoder position 1

Rows are the model tokenizer's tokens of the text without special tokens, shown as the tokenizer's
own vocabulary entries (``Ġthe`` for GPT-2, ``##ing`` for BERT, ``▁the`` for T5), so each family's way
of marking word boundaries stays visible. As with tiktoken's ``encode_ordinary``, special-token
strings typed by a user (``[MASK]``, ``<|endoftext|>``) are ordinary text.
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from engine.categories import token_category
from engine.device import pick_device
from engine.objectives import corrupt
from engine.scoring import BATCH, COLUMNS, METHODS, AttentionResult, GenerationResult, _collect, _sample, _windows
from engine.variants import Variant
from engine.vocab import SpecialIds

ALLOW_DOWNLOADS_ENV = "MASKLAB_ALLOW_DOWNLOADS"  # "1" lets transformers download from the hub
MODEL_DIRS_ENV = "MASKLAB_MODEL_DIRS"  # more folders checkpoints may be loaded from, os.pathsep-separated
T5_CONTEXT = 512  # T5's relative positions have no hard limit; 512 is the length it was trained on
ACTIVATION_BUDGET = 1 << 25  # floats in the largest transient tensor of one batch of masked copies

_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True)
class Family:
    name: str  # as the model card shows it
    architecture: str  # one of engine.masks.ARCHITECTURES
    objective: str  # what it was pretrained on, in engine.objectives' names
    loader: str  # the transformers Auto class with the pretraining head


FAMILIES = {  # config.model_type -> family
    "gpt2": Family("GPT-2", "decoder", "clm", "AutoModelForCausalLM"),
    "bert": Family("BERT", "encoder", "mlm", "AutoModelForMaskedLM"),
    "distilbert": Family("DistilBERT", "encoder", "mlm", "AutoModelForMaskedLM"),
    "roberta": Family("RoBERTa", "encoder", "mlm", "AutoModelForMaskedLM"),
    "t5": Family("T5", "encoder_decoder", "span_corruption", "AutoModelForSeq2SeqLM"),
}


class CheckpointUnavailable(ValueError):
    """A checkpoint that cannot be loaded from here and now; the message says how to get it."""


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def _hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or _hf_home() / "hub").expanduser()


def allowed_roots() -> list[Path]:
    """Folders a checkpoint folder may lie in: the working directory's tree, the Hugging Face cache
    (``~/.cache/huggingface``, or ``HF_HOME``) and those listed in ``MASKLAB_MODEL_DIRS``."""
    roots = [Path.cwd(), Path.home() / ".cache" / "huggingface", _hf_home()]
    roots += [Path(p) for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return [r.expanduser().resolve() for r in roots]


def checkpoint_folder(name: str) -> Path | None:
    """The local folder ``name`` names (resolved), or None when it names no folder and may be a hub id.

    A name is a folder when it is absolute, starts with ``.`` or ``~``, or exists here. The folder must
    lie inside `allowed_roots` once symbolic links are resolved, and ``..`` is refused outright: a
    model name typed into the app must not be a way to read arbitrary files on the server.
    """
    if ".." in re.split(r"[\\/]+", name):
        raise ValueError(f"refusing checkpoint path {name!r}: '..' is not allowed in a checkpoint path")
    path = Path(name).expanduser()
    if not (path.is_absolute() or name.startswith((".", "~")) or path.exists()):
        return None
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in allowed_roots()):
        raise ValueError(
            f"refusing checkpoint path {name!r}: a checkpoint folder must lie inside the working directory, "
            f"~/.cache/huggingface or a folder listed in {MODEL_DIRS_ENV}"
        )
    return real


def _is_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name)) and "--" not in name and ".." not in name and not name.endswith((".", ".git"))


def looks_like_checkpoint(name: str) -> bool:
    """True for an allowed local folder holding ``config.json`` or a string shaped like a hub id
    (``gpt2``, ``google/flan-t5-small``); False otherwise. Raises ValueError for a refused path."""
    if not isinstance(name, str) or not name.strip() or any(ord(ch) < 32 for ch in name):
        return False
    folder = checkpoint_folder(name)
    if folder is not None:
        return (folder / "config.json").is_file()
    return _is_hub_id(name)


def _unavailable(name: str, offline: bool) -> CheckpointUnavailable:
    if offline:
        return CheckpointUnavailable(
            f"{name} is not in the local Hugging Face cache and the hub cannot be reached: download it once with "
            f"internet (`hf download {name}`) or pass a folder saved with save_pretrained"
        )
    return CheckpointUnavailable(
        f"{name} could not be downloaded from the Hugging Face hub: check the id and the connection, "
        f"or pass a folder saved with save_pretrained"
    )


def _load_error(e: Exception, name: str, folder: Path | None, offline: bool) -> CheckpointUnavailable:
    """One line for what transformers raised: a missing hub id gets `_unavailable`'s advice."""
    if folder is None and isinstance(e, OSError):
        return _unavailable(name, offline)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return CheckpointUnavailable(f"{folder or name} could not be loaded: {first}")


def load(name: str, device=None) -> Variant:
    """Load a published checkpoint: ``AutoConfig`` picks the family, then its pretraining head and its
    tokenizer load with eager attention (so attention weights can be returned), in eval mode, bf16 on
    CUDA and float32 on the CPU. Offline unless ``MASKLAB_ALLOW_DOWNLOADS=1``."""
    dev = pick_device(device)
    folder = checkpoint_folder(name)
    if folder is None and not _is_hub_id(name):
        raise ValueError(f"{name!r} is neither a folder saved with save_pretrained nor a Hugging Face id")
    if folder is not None and not (folder / "config.json").is_file():
        raise CheckpointUnavailable(f"{folder} holds no config.json: pass a folder saved with save_pretrained")
    offline = os.environ.get(ALLOW_DOWNLOADS_ENV) != "1"
    source = str(folder) if folder is not None else name
    kw = dict(local_files_only=offline, trust_remote_code=False)

    import transformers  # imported here: it takes seconds, and MaskLab's own models do not need it

    try:
        config = transformers.AutoConfig.from_pretrained(source, **kw)
    except (OSError, ValueError) as e:
        raise _load_error(e, name, folder, offline) from None
    family = FAMILIES.get(config.model_type)
    if family is None:
        raise ValueError(f"{name}: model type {config.model_type!r} is not supported; MaskLab shows {', '.join(f.name for f in FAMILIES.values())} checkpoints")
    if folder is not None and not any(folder.glob("*.safetensors")):
        raise CheckpointUnavailable(
            f"{folder} has no safetensors weights, and MaskLab never loads pickled ones (pytorch_model.bin): "
            f"convert it once with `AutoModel.from_pretrained(...).save_pretrained(folder)` where you trust the file"
        )
    try:
        model = getattr(transformers, family.loader).from_pretrained(
            source, config=config, attn_implementation="eager", use_safetensors=True,
            dtype=torch.bfloat16 if dev.type == "cuda" else torch.float32, **kw,
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kw)
    except (OSError, ValueError) as e:
        raise _load_error(e, name, folder, offline) from None
    model = model.eval().to(dev)
    variant = Variant(name, family.architecture, family.objective, model, encoding=f"hf:{name}", source="huggingface", tokenizer=tokenizer)
    _check_tokenizer(variant)
    variant.card = {
        "family": family.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokenizer": type(tokenizer).__name__,
        "model_type": config.model_type,
        "context": _context(variant),
        "path": source,
    }
    return variant


def _check_tokenizer(variant: Variant) -> None:
    """Refuse a tokenizer that does not fit the model: one whose files are missing (transformers then
    builds an empty one without complaint), one whose ids run past the embedding, or one without the
    special token its family's scoring needs."""
    tok, vocab = variant.tokenizer, variant.model.config.vocab_size
    if not vocab // 2 <= len(tok) <= vocab:
        raise CheckpointUnavailable(f"{variant.name}: its tokenizer has {len(tok)} entries for a model of {vocab}: the tokenizer files are missing or belong to another model")
    if variant.architecture == "encoder" and None in (tok.mask_token_id, tok.cls_token_id, tok.sep_token_id):
        raise ValueError(f"{variant.name}: its tokenizer lacks a mask, CLS or SEP token, so it cannot be scored by pseudo-log-likelihood")
    if variant.architecture == "encoder_decoder" and not _sentinels(tok):
        raise ValueError(f"{variant.name}: its tokenizer has no <extra_id_0> sentinel, so it cannot fill masked spans")


def _context(variant: Variant) -> int:
    """Tokens the model reads at once, special tokens included."""
    c, tok = variant.model.config, variant.tokenizer
    if c.model_type == "t5":
        n = T5_CONTEXT
    elif c.model_type == "roberta":
        n = c.max_position_embeddings - c.pad_token_id - 1  # positions are counted from pad_token_id + 1
    else:
        n = c.max_position_embeddings
    m = tok.model_max_length
    return min(n, m) if m and m < 1_000_000 else n


def _sentinels(tok) -> tuple[int, ...]:
    out = []
    for i in range(100):
        j = tok.convert_tokens_to_ids(f"<extra_id_{i}>")
        if j is None or j == tok.unk_token_id:
            break
        out.append(j)
    return tuple(out)


def t5_specials(variant: Variant) -> SpecialIds:
    """A T5 checkpoint's special ids in `engine.vocab.SpecialIds` form, so that `engine.objectives`
    corrupts its token ids exactly as it does MaskLab's. ``bos`` is T5's decoder start token (``<pad>``);
    ``n_regular`` only bounds MLM's random draws, which T5 never uses."""
    tok, cfg = variant.tokenizer, variant.model.config
    sentinels = _sentinels(tok)
    start = getattr(cfg, "decoder_start_token_id", None)
    if start is None:
        start = getattr(variant.model.generation_config, "decoder_start_token_id", None)
    start = cfg.pad_token_id if start is None else start
    return SpecialIds(
        vocab_size=max(len(tok), cfg.vocab_size), n_regular=min(sentinels), eos=tok.eos_token_id, pad=tok.pad_token_id,
        mask=sentinels[0], bos=start, modes={}, sentinels=sentinels,
    )


def _token_names(tok, ids) -> list[str]:
    """Vocabulary entries of ``ids``; T5's logits run past its tokenizer (32128 vs 32100 ids)."""
    return [s if s is not None else f"<id {i}>" for i, s in zip(ids, tok.convert_ids_to_tokens([int(i) for i in ids]))]


@dataclass(frozen=True)
class HFTokens:
    """A text in a checkpoint's own tokens: ids, vocabulary entries, character spans (-1 without a fast
    tokenizer) and the surface text each token stands for (with the whitespace before it)."""

    ids: list[int]
    names: list[str]
    starts: list[int]
    ends: list[int]
    surfaces: list[str]


def tokenize(variant: Variant, text: str) -> HFTokens:
    """The checkpoint tokenizer's tokens of ``text``, special tokens neither added nor parsed.

    A token's surface is the text from the end of the previous token to its own end, so a word-initial
    token carries its leading space as tiktoken's do (" walking", but "s" of "cats"); that is what
    `engine.categories.token_category` reads. Tokens sharing one character's span (the bytes of an
    emoji) each get that character.
    """
    tok = variant.tokenizer
    fast = bool(getattr(tok, "is_fast", False))
    enc = tok(text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=fast)
    ids = list(enc["input_ids"])
    names = _token_names(tok, ids)
    if not fast:
        surfaces = [tok.decode([i]) for i in ids]
        return HFTokens(ids, names, [-1] * len(ids), [-1] * len(ids), surfaces)
    starts, ends, surfaces, prev = [], [], [], 0
    for s, e in enc["offset_mapping"]:
        starts.append(int(s))
        ends.append(int(e))
        surfaces.append(text[min(prev, s) : e] if e > prev else text[s:e])
        prev = max(prev, e)
    return HFTokens(ids, names, starts, ends, surfaces)


def _score_next_token(variant: Variant, ids: list[int], k: int) -> list:
    """GPT-2: each token from the ones before it, after ``<|endoftext|>`` (its bos and eos). Texts
    longer than the context go in windows that keep at least half a context of left context."""
    tok, model, W = variant.tokenizer, variant.model, _context(variant)
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    seq = ([start] if start is not None else []) + ids
    out = [None] * len(seq)
    for c, a, b in _windows(1, len(seq), W):
        x = torch.tensor([seq[c:b]], device=variant.device)
        logits = model(input_ids=x).logits[0]  # (b - c, V)
        pos = torch.arange(a - 1 - c, b - 1 - c, device=x.device)
        actual = torch.tensor(seq[a:b], device=x.device)
        for j, row in enumerate(zip(*_collect(logits[pos], actual, k))):
            out[a + j] = row
    return out[1:] if start is not None else out


def _copies_per_batch(variant: Variant, T: int) -> int:
    """Copies of a ``T``-token text per forward pass, bounded by the largest tensor a copy makes: the
    logits at every position for an encoder, eager attention weights or the MLP's hidden layer."""
    c = variant.model.config
    d_ff = next((v for v in (getattr(c, k, None) for k in ("d_ff", "intermediate_size", "hidden_dim", "n_inner")) if v), 4 * c.hidden_size)
    width = max(T * c.num_attention_heads, d_ff)
    if variant.architecture == "encoder":
        width = max(width, c.vocab_size)
    return max(1, min(BATCH, ACTIVATION_BUDGET // (T * width)))


def _score_masked(variant: Variant, ids: list[int], k: int) -> list:
    """One copy per token with that token hidden: the mask token between [CLS] and [SEP] for an
    encoder (pseudo-log-likelihood), ``<extra_id_0>`` then ``</s>`` for T5, whose decoder predicts the
    span after ``[start, <extra_id_0>]``. Each copy is a window of the model's context around its token."""
    tok, model = variant.tokenizer, variant.model
    t5 = variant.architecture == "encoder_decoder"
    sp = t5_specials(variant) if t5 else None
    W = _context(variant) - (1 if t5 else 2)  # room for </s>, or for [CLS] and [SEP]
    hole = sp.sentinel(0) if t5 else tok.mask_token_id
    n = len(ids)
    step = _copies_per_batch(variant, min(n, W) + 2)
    out = [None] * n
    for s in range(0, n, step):
        idx = list(range(s, min(n, s + step)))
        starts = [min(max(0, i - W // 2), max(0, n - W)) for i in idx]
        rows = []
        for i, c in zip(idx, starts):
            window = list(ids[c : c + W])
            window[i - c] = hole
            rows.append(window + [sp.eos] if t5 else [tok.cls_token_id] + window + [tok.sep_token_id])
        x = torch.tensor(rows, device=variant.device)
        actual = torch.tensor([ids[i] for i in idx], device=x.device)
        if t5:
            dec = torch.tensor([[sp.bos, hole]] * len(idx), device=x.device)
            logits = model(input_ids=x, decoder_input_ids=dec).logits[:, 1]  # (N, V): the span's first token
        else:
            at = torch.tensor([i - c + 1 for i, c in zip(idx, starts)], device=x.device)  # + 1 for [CLS]
            logits = model(input_ids=x).logits[torch.arange(len(idx), device=x.device), at]  # (N, V)
        for j, row in enumerate(zip(*_collect(logits, actual, k))):
            out[idx[j]] = row
    return out


@torch.inference_mode()
def score(variant: Variant, text: str, top_k: int = 5) -> pd.DataFrame:
    """One row per token of ``text`` (the checkpoint's tokens, no special tokens) with its loss (nats),
    probability, rank and top-k predictions: the same columns as `engine.scoring.score`."""
    t = tokenize(variant, text)
    arch = variant.architecture
    k = max(0, min(int(top_k), variant.model.config.vocab_size))
    results: list = [None] * len(t.ids)
    if t.ids:
        results = _score_next_token(variant, t.ids, k) if arch == "decoder" else _score_masked(variant, t.ids, k)
    rows = []
    for i, r in enumerate(results):
        row = {"position": i, "token": t.names[i], "token_id": t.ids[i], "start": t.starts[i], "end": t.ends[i], "method": METHODS[arch], "category": token_category(t.surfaces[i])}
        if r is None:
            row.update(loss=float("nan"), prob=float("nan"), rank=0, top_k=[], scored=False)
        else:
            lp, rank, top_ids, top_p = r
            names = _token_names(variant.tokenizer, top_ids.tolist())
            row.update(loss=-float(lp), prob=float(lp.exp()), rank=int(rank), top_k=[(s, float(p)) for s, p in zip(names, top_p)], scored=True)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _maps(weights) -> list[torch.Tensor]:
    return [w[0].float().cpu() for w in weights]  # per layer (H, T, S)


@torch.inference_mode()
def attention(variant: Variant, text: str, max_tokens: int = 256, seed: int = 0) -> AttentionResult:
    """Attention weights per layer and head over the first ``max_tokens`` tokens of ``text``.

    GPT-2 reads the plain tokens; BERT-style models read them between [CLS] and [SEP], as they always
    did in pretraining. T5 is shown on a span-corrupted copy with its own sentinels (seed ``seed``), as
    `engine.scoring.attention` shows MaskLab's encoder_decoder: "encoder", "decoder" and "cross" maps.
    """
    tok, model, dev = variant.tokenizer, variant.model, variant.device
    ids = tokenize(variant, text).ids[: max(0, min(int(max_tokens), _context(variant) - 2))]
    if not ids:
        return AttentionResult({}, {}, {}, "no tokens")
    if variant.architecture == "encoder_decoder":
        c = corrupt(ids, "span_corruption", seed=seed, specials=t5_specials(variant))
        out = model(input_ids=torch.tensor([c.inputs], device=dev), decoder_input_ids=torch.tensor([c.decoder_inputs], device=dev), output_attentions=True)
        enc, dec = _token_names(tok, c.inputs), _token_names(tok, c.decoder_inputs)
        maps = {"encoder": _maps(out.encoder_attentions), "decoder": _maps(out.decoder_attentions), "cross": _maps(out.cross_attentions)}
        return AttentionResult(maps, {"encoder": enc, "decoder": dec, "cross": dec}, {"encoder": enc, "decoder": dec, "cross": enc}, f"span corruption with T5's sentinels, seed {seed}", c.span_origin)
    note = ""
    if variant.architecture == "encoder":
        ids = [tok.cls_token_id] + ids + [tok.sep_token_id]
        note = f"with {tok.cls_token} and {tok.sep_token} around the text, as the model always read it"
    out = model(input_ids=torch.tensor([ids], device=dev), output_attentions=True)
    labels = _token_names(tok, ids)
    return AttentionResult({"self": _maps(out.attentions)}, {"self": labels}, {"self": labels}, note)


@torch.inference_mode()
def generate(variant: Variant, text: str, max_new_tokens: int = 20, temperature: float = 1.0, top_k: int = 20, seed: int = 0) -> GenerationResult:
    """Continue ``text`` token by token with the model's key-value cache; ``temperature`` 0 is greedy.

    GPT-2 continues ``<|endoftext|>`` + text and stops at ``<|endoftext|>``. T5 reads
    "text <extra_id_0> </s>" and writes the span behind ``<extra_id_0>``, stopping at the next sentinel
    or ``</s>``. Ids past the tokenizer's vocabulary (T5 pads its logits to 32128) are never drawn.
    """
    if variant.architecture == "encoder":
        raise ValueError("an encoder-only model cannot generate: every position attends to every other, so there is no left-to-right order to extend; it can only fill masked positions in place")
    tok, model, dev = variant.tokenizer, variant.model, variant.device
    W = _context(variant)
    ids = tokenize(variant, text).ids
    g = torch.Generator().manual_seed(seed)
    banned = list(range(len(tok), model.config.vocab_size))
    if variant.architecture == "encoder_decoder":
        sp = t5_specials(variant)
        stop = set(sp.sentinels) | {sp.eos}
        banned.append(sp.bos)
        budget = max(0, min(int(max_new_tokens), W - 2))
        encoder_outputs = model.get_encoder()(input_ids=torch.tensor([ids[-(W - 2) :] + [sp.sentinel(0), sp.eos]], device=dev))
        out = model(encoder_outputs=encoder_outputs, decoder_input_ids=torch.tensor([[sp.bos, sp.sentinel(0)]], device=dev), use_cache=True)
        step = lambda x, cache: model(encoder_outputs=encoder_outputs, decoder_input_ids=x, past_key_values=cache, use_cache=True)  # noqa: E731
        method = "span filling: the text, then <extra_id_0>; the decoder writes the span"
    else:
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        stop = {tok.eos_token_id} - {None}
        budget = max(0, min(int(max_new_tokens), W - 1))
        ctx = ([start] if start is not None else []) + ids
        ctx = ctx[-(W - budget) :] if len(ctx) + budget > W else ctx
        if not ctx:
            raise ValueError("nothing to continue: the text is empty and the tokenizer has no <|endoftext|> token to start from")
        out = model(input_ids=torch.tensor([ctx], device=dev), use_cache=True)
        step = lambda x, cache: model(input_ids=x, past_key_values=cache, use_cache=True)  # noqa: E731
        method = "next-token sampling" if temperature > 0 else "greedy next-token"
    new: list[int] = []
    for _ in range(budget):
        nxt = _sample(out.logits[0, -1], temperature, top_k, g, banned)
        if nxt in stop:
            break
        new.append(nxt)
        out = step(torch.tensor([[nxt]], device=dev), out.past_key_values)
    return GenerationResult(text, tok.decode(new), _token_names(tok, new), method)


def _component(param_name: str) -> str:
    """Where a parameter belongs, by its name in the GPT-2, BERT, DistilBERT, RoBERTa and T5 modules."""
    n = param_name.lower()
    if "norm" in n or re.search(r"(^|\.)ln_", n) or any(k in n for k in ("predictions.transform", "vocab_transform", "lm_head.dense")):
        return "other"  # norms, and the MLM heads' dense layer before the output projection
    if "encdecattention" in n or "crossattention" in n:
        return "cross_attention"
    if "attn" in n or "attention" in n:  # T5's relative position biases live in its attention
        return "attention"
    if "mlp" in n or "densereludense" in n or "intermediate" in n or ".ffn." in n or re.search(r"layer\.\d+\.output\.", n):
        return "mlp"
    if any(k in n for k in ("embed", "wte", "wpe", "shared", "lm_head", "vocab_projector")):
        return "embeddings"
    return "other"


def describe(variant: Variant) -> dict:
    """Cost accounting for a loaded checkpoint: parameters by component (embeddings counts untied
    output projections too; "other" holds norms, pooler and the MLM heads' transforms), size, and
    the memory its weights take at the loaded dtype. Tied weights are counted once."""
    model, c = variant.model, variant.model.config
    parts = dict.fromkeys(("embeddings", "attention", "cross_attention", "mlp", "other"), 0)
    for name, p in model.named_parameters():
        parts[_component(name)] += p.numel()
    tensors = list(model.parameters()) + list(model.buffers())
    out = {
        "family": FAMILIES[c.model_type].name,
        "architecture": variant.architecture,
        "parameters": sum(parts.values()),
        "parameters_by_component": parts,
        "layers": c.num_hidden_layers,
        "d_model": c.hidden_size,
        "n_head": c.num_attention_heads,
        "vocab_size": c.vocab_size,
        "context": _context(variant),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "memory_mb": sum(t.numel() * t.element_size() for t in tensors) / 2**20,
    }
    if variant.architecture == "encoder_decoder":
        out["decoder_layers"] = c.num_decoder_layers
    return out


def list_cached() -> list[str]:
    """Ids of the supported checkpoints in the local Hugging Face cache, sorted; never raises."""
    found = []
    try:
        for d in sorted(_hub_cache().glob("models--*")):
            try:
                configs = sorted(d.glob("snapshots/*/config.json"))
                if configs and json.loads(configs[-1].read_text()).get("model_type") in FAMILIES:
                    found.append(d.name[len("models--") :].replace("--", "/"))
            except (OSError, ValueError, AttributeError):
                continue  # one broken entry hides one model, never the list
    except Exception:
        return found
    return found
