"""Every Streamlit cache in the app, in one module.

Each wrapper keys on everything that changes its result: the text, the parameters, the model's name
and version (a shipped model's card changes when it is retrained), and the device the model runs
on. Every cache is bounded. Models are resources (shared, never copied); results are data.
"""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

import engine
from engine.cost import count_params, flops_per_token, params_by_component
from engine.model import ModelConfig
from engine.objectives import corrupt, exposure_table
from engine.probes import run_probes
from engine.tokenizer import token_strings
from engine.catalog import OBJECTIVE_ARCHITECTURE, SIZES
from engine.vocab import MASKLAB
from ui import state
from ui.store import BoundedStore, release_freed_memory

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = engine.variants.MODELS_DIR  # assets/models, or $MASKLAB_MODELS_DIR
SCALING_FILE = REPO / "assets" / "scaling.json"
DEVICE = str(engine.pick_device())
LOADED: dict[str, str] = {}  # variant name -> device, for the home page's "loaded models"


@st.cache_resource(max_entries=1, show_spinner=False)
def device_label(device: str = DEVICE) -> str:
    return engine.device_info(device)


def tokens(text: str, encoding: str) -> list:
    """engine.tokenize with one of engine.ENCODINGS, or a published checkpoint's own tokenizer
    (`engine.hf.text_tokens`) when ``encoding`` names one; raises EncodingUnavailable or
    CheckpointUnavailable (not cached, so a later run retries)."""
    return _tokens(text, encoding, "" if encoding in engine.ENCODINGS else version(encoding))


@st.cache_data(max_entries=256, show_spinner="Reading the tokenizer…")
def _tokens(text: str, encoding: str, version: str) -> list:
    if encoding in engine.ENCODINGS:
        return engine.tokenize(text, encoding)
    from engine import hf

    return hf.text_tokens(encoding, text)


def encoding_label(encoding: str) -> str:
    """"GPT-2 (r50k_base)", or "SmolLM2-135M-Instruct's tokenizer" for a published checkpoint."""
    if encoding in engine.ENCODINGS:
        return engine.ENCODINGS[encoding]
    return f"{short_label(encoding)} (its own tokenizer)"


@st.cache_data(max_entries=256, show_spinner=False)
def token_texts(ids: tuple, encoding: str = "masklab") -> list[str]:
    return token_strings(list(ids), encoding)


def variants() -> list:
    return _variants(str(MODELS_DIR))


@st.cache_data(ttl=20, max_entries=1, show_spinner=False)
def _variants(models_dir: str) -> list:
    return engine.list_variants(Path(models_dir))


def is_checkpoint_name(name: str) -> bool:
    """A name that engine.load_variant would try as a published checkpoint (`engine.variants.resolve`;
    never raises)."""
    try:
        return engine.variants.resolve(name, MODELS_DIR).kind == "published"
    except Exception:
        return False


@st.cache_data(ttl=60, max_entries=1, show_spinner=False)
def cached_checkpoints() -> list[str]:
    try:
        from engine import hf

        return hf.list_cached()
    except Exception:
        return []


def version(name: str) -> str:
    """What identifies a variant's weights, so that every cache below keys a model on them: the identity
    `engine.variants.resolve` gives (a shipped variant's card and weights files, a published checkpoint's
    weights files, each by size and modification time; "builtin" for the random models); "unknown" for a
    name that is none of these (loading it fails, and is not cached)."""
    try:
        return engine.variants.resolve(name, MODELS_DIR).identity
    except Exception:
        return "unknown"


@st.cache_data(ttl=60, max_entries=1, show_spinner=False)
def published() -> list:
    """Published checkpoints found on this machine (`engine.hf.find_checkpoints`): ../shared/models,
    MASKLAB_MODEL_DIRS and the Hugging Face cache, not loaded yet."""
    try:
        from engine import hf

        return hf.find_checkpoints()
    except Exception:
        return []


def published_label(name: str) -> str | None:
    """"SmolLM2 135M Instruct · published checkpoint, 134.5M parameters, GGUF Q4_1", or None."""
    for f in published():
        if f.name == name:
            size = f" · {f.parameters / 1e6:,.1f}M parameters" if f.parameters else ""
            return f"{f.label} · published checkpoint{size} · {f.format}"
    return None


def model_label(name: str) -> str:
    """How every model picker names a model: a shipped or random variant by its name and kind, a
    published checkpoint by its own name, size and source (as `engine.variants.resolve` decides)."""
    try:
        ref = engine.variants.resolve(name, MODELS_DIR)
    except Exception:
        ref = None
    if ref is not None and ref.kind != "published":
        info = {v.name: v for v in variants()}.get(ref.name)
        if info is not None:
            kind = "trained" if info.source == "shipped" else "untrained"
            return f"{name} · MaskLab {info.architecture.replace('_', '-')}, {info.parameters / 1e6:.1f}M, {kind}"
        return f"{name} · MaskLab variant"
    return published_label(ref.name if ref is not None else name) or f"{name} · published checkpoint"


def short_label(name: str) -> str:
    """A model's own name, the first part of model_label: for tables, chart legends, and the pickers in the
    sidebar's narrow boxes when presenting (a whole label was cut to "decoder-clm · Mas…")."""
    return model_label(name).split(" · ")[0]


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _variant(name: str, device: str, version: str):
    v = engine.load_variant(name, device=device, models_dir=MODELS_DIR)
    LOADED[name] = device
    return v


def variant(name: str):
    return _variant(name, DEVICE, version(name))


@st.cache_data(max_entries=64, show_spinner="Scoring every token…")
def _score(name: str, text: str, top_k: int, split, stride, device: str, version: str) -> pd.DataFrame:
    try:
        return engine.score(_variant(name, device, version), text, top_k=top_k, split=split, stride=stride)
    finally:
        release_freed_memory()  # a published model's logits over a long text are hundreds of MB, freed now


def score(name: str, text: str, top_k: int = 5, split=None, stride=None) -> pd.DataFrame:
    return _score(name, text, top_k, split, stride, DEVICE, version(name))


def summary(df: pd.DataFrame) -> dict:
    return engine.summarize(df)


def by_category(df: pd.DataFrame) -> pd.DataFrame:
    return engine.by_category(df)


ONE_PASS_PER_TOKEN = ("encoder", "encoder_decoder")  # exact scoring: one copy per token, cost grows with n * context
SLOW_LIMIT = 256  # tokens such models score on this page when scored exactly
STRIDE = 7  # scored as trained (the page's default): 1 token in 7 hidden per pass, about the 15% BERT and T5 hide


def score_aligned(name: str, architecture: str, text: str, tokens: list, exact: bool = False) -> tuple[pd.DataFrame, int]:
    """Scores over ``tokens`` (MaskLab's tokenization of ``text``), padded with unscored rows where a
    slow method stops early; returns the frame and how many tokens were scored. An encoder or
    encoder-decoder is scored as trained (``STRIDE``), or with ``exact`` one copy per token on the
    first ``SLOW_LIMIT`` tokens."""
    masked = architecture in ONE_PASS_PER_TOKEN
    limit = min(SLOW_LIMIT, len(tokens)) if exact and masked else len(tokens)
    part = text[: tokens[limit - 1].end] if tokens and limit else text  # the page's tokens only, never a longer paste
    df = engine.scoring.pad_unscored(score(name, part, stride=STRIDE if masked and not exact else None), tokens)
    return df.iloc[: len(tokens)].reset_index(drop=True), min(limit, len(tokens))


MAPS_CACHE_BYTES = int(float(os.environ.get("MASKLAB_MAPS_CACHE_MB", "512")) * 2**20)  # every session's attention maps together


@st.cache_resource(max_entries=1, show_spinner=False)
def maps_store() -> BoundedStore:
    """The attention maps of every session, at most ``MAPS_CACHE_BYTES`` of them (``MASKLAB_MAPS_CACHE_MB``)."""
    return BoundedStore(MAPS_CACHE_BYTES)


def _attention(name: str, text: str, split, seed: int, device: str, version: str) -> dict:
    r = engine.attention(_variant(name, device, version), text, max_tokens=state.MAX_TOKENS, split=split, seed=seed, dtype=torch.float16)
    heads = next((len(m[0]) for m in r.maps.values() if m), 0)
    kv_head = [r.kv_head(h) for h in range(heads)]
    maps = {}
    for part, layers in r.maps.items():  # (L, H, T, S) float16, filled layer by layer: never a second float32 copy of them all
        out = np.empty((len(layers), *layers[0].shape), dtype=np.float16)
        for i in range(len(layers)):
            out[i] = layers[i].numpy()
            layers[i] = None
        maps[part] = out
    return {"maps": maps, "query_tokens": r.query_tokens, "key_tokens": r.key_tokens, "note": r.note, "span_origin": r.span_origin,
            "kv_head": kv_head, "n_kv_head": r.n_kv_head, "spans": r.spans,
            "n_text_tokens": r.n_text_tokens, "cut": r.cut, "limit": r.limit}


def attention(name: str, text: str, split=None, seed: int = 0) -> dict:
    """Every layer's and head's attention maps of ``name`` over ``text`` (`engine.attention`, as far as
    the page's token limit, the model's context and the memory bound of one maps pass allow), float16.
    Computed once per text, whatever window a page shows, and kept in `maps_store`: a session asking
    for maps another is computing waits for them."""
    key = (name, text, split, seed, DEVICE, version(name))
    store = maps_store()
    if key in store:
        return store.get(key, lambda: None)
    with st.spinner(f"Reading the attention of {short_label(name)}…"):
        try:
            return store.get(key, lambda: _attention(name, text, split, seed, DEVICE, version(name)))
        finally:
            release_freed_memory()  # the pass's float32 maps of every layer are freed: give them back


@st.cache_data(max_entries=8, show_spinner="Measuring whether the model reads its encoder…")
def _encoder_reliance(name: str, device: str, version: str):
    v = _variant(name, device, version)
    if v.source == "huggingface" or v.architecture != "encoder_decoder":
        return None
    try:
        length = (v.card or {}).get("train_config", {}).get("seq_len") or min(256, v.model.config.max_len // 2)
        windows = engine.held_out_windows(32, int(length))
    except (FileNotFoundError, ValueError):  # no corpus here: nothing to measure on
        return None
    return engine.encoder_reliance(v.model, windows)


def encoder_reliance(name: str):
    """`engine.encoder_reliance` of a MaskLab encoder-decoder on 32 held-out windows, or None (another
    kind of model, or no corpus to draw windows from)."""
    return _encoder_reliance(name, DEVICE, version(name))


@st.cache_data(max_entries=64, show_spinner="Generating…")
def _generate(name: str, text: str, max_new: int, temperature: float, top_k: int, seed: int, device: str, version: str) -> dict:
    r = engine.generate(_variant(name, device, version), text, max_new_tokens=max_new, temperature=temperature, top_k=top_k, seed=seed)
    return {"text": r.text, "tokens": r.tokens, "method": r.method}


def generate(name: str, text: str, max_new: int, temperature: float, top_k: int, seed: int) -> dict:
    return _generate(name, text, max_new, temperature, top_k, seed, DEVICE, version(name))


@st.cache_data(max_entries=32, show_spinner="Running the proof…")
def switch_demo(on: str, seed: int = 0) -> dict:
    result = engine.switch_demo(switches_dict(on), seed=seed)
    result.pop("config", None)
    return result


def switches_dict(on: str) -> dict:
    return {"shared_attention": "a" in on, "shared_params": "b" in on, "layerwise_cross": "c" in on, "causal_input": "d" in on}


@st.cache_data(max_entries=128, show_spinner=False)
def corruption(ids: tuple, objective: str, seed: int, params: tuple):
    return corrupt(list(ids), objective, seed, **dict(params))


@st.cache_data(max_entries=64, show_spinner=False)
def exposure(ids: tuple, seed: int) -> list[dict]:
    return exposure_table(list(ids), seed)


NATURAL = OBJECTIVE_ARCHITECTURE  # (objective, the architecture it trains in MaskLab's shipped variants): engine.catalog


def size_config(architecture: str, size: str, max_len: int = 4096, **switches) -> ModelConfig:
    return ModelConfig(architecture=architecture, vocab_size=MASKLAB.vocab_size, max_len=max_len, **SIZES[size], **switches)


@st.cache_data(max_entries=64, show_spinner=False)
def supervision(ids: tuple, seed: int, size: str) -> list[dict]:
    return engine.supervision(list(ids), {arch: size_config(arch, size) for _, arch in NATURAL}, seed, NATURAL)


@st.cache_data(max_entries=64, show_spinner=False)
def model_cost(on: str, size: str, seq_len: int = 256) -> pd.DataFrame:
    """Parameters and forward FLOPs per token: plain encoder-decoder, the switched one, and the two
    single-stack models it turns into."""
    models = {
        "encoder-decoder": size_config("encoder_decoder", size),
        "with switches": size_config("encoder_decoder", size, **switches_dict(on)),
        "prefix-LM": size_config("prefix_lm", size),
        "decoder-only": size_config("decoder", size),
    }
    rows = []
    for label, cfg in models.items():
        for component, n in params_by_component(cfg).items():
            rows.append({"model": label, "component": component, "parameters": n, "total": count_params(cfg), "flops_per_token": flops_per_token(cfg, seq_len)})
    return pd.DataFrame(rows)


@st.cache_data(max_entries=64, show_spinner=False)
def chat_cost(size: str, lengths: tuple) -> pd.DataFrame:
    rows = engine.chat_cost(size_config("decoder", size), list(lengths))
    return pd.DataFrame([r.__dict__ for r in rows])


@st.cache_data(max_entries=16, show_spinner="Timing each turn on the model…")
def _time_chat(name: str, turns: tuple, repeats: int, nonce: int, device: str, version: str) -> pd.DataFrame:
    """Seconds per turn, the best of ``repeats`` runs (the least disturbed by other work)."""
    model = _variant(name, device, version)
    turns = [list(t) for t in turns]
    best = {}
    engine.time_chat(model, turns[:1], bidirectional=True)  # warm-up: first calls pay for allocation
    for mode in ("bidirectional", "causal"):
        runs = [engine.time_chat(model, turns, bidirectional=mode == "bidirectional") for _ in range(repeats)]
        best[mode] = np.min(np.array(runs), axis=0)
    return pd.DataFrame({"turn": range(1, len(turns) + 1), "bidirectional": best["bidirectional"], "causal": best["causal"]})


def time_chat(name: str, turns: tuple, repeats: int = 3, nonce: int = 0) -> pd.DataFrame:
    return _time_chat(name, turns, repeats, nonce, DEVICE, version(name))


@st.cache_data(max_entries=32, show_spinner="Running the probes…")
def _probes(name: str, probe_set: str, device: str, version: str) -> pd.DataFrame:
    return run_probes(_variant(name, device, version), probe_set)


def probes(name: str, probe_set: str = "novel") -> pd.DataFrame:
    """engine.run_probes with one of engine.probes.PROBE_SETS ("novel" or "multitask")."""
    return _probes(name, probe_set, DEVICE, version(name))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


@st.cache_data(max_entries=4, show_spinner=False)
def _cards(stamp: tuple) -> dict:
    out = {}
    for path in sorted(MODELS_DIR.glob("*/card.json")):
        card = _read_json(path)
        if isinstance(card, dict):
            out[path.parent.name] = card
    return out


def cards() -> dict:
    """Every shipped model card, re-read when any card changes."""
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(MODELS_DIR.glob("*/card.json")))
    return _cards(stamp)


@st.cache_data(max_entries=4, show_spinner=False)
def _scaling(stamp: int):
    data = _read_json(SCALING_FILE)
    if isinstance(data, dict):
        data = data.get("runs")
    if not isinstance(data, list):
        return None
    need = {"architecture", "parameters", "training_flops", "final_val_loss"}
    runs = [r for r in data if isinstance(r, dict) and need <= set(r)]
    return pd.DataFrame(runs) if runs else None


YARDSTICK_FILE = MODELS_DIR.parent / "yardstick.json"  # python -m engine.yardstick


@st.cache_data(max_entries=4, show_spinner=False)
def _yardstick(stamp: int):
    data = _read_json(YARDSTICK_FILE)
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


def yardstick():
    """assets/yardstick.json (every shipped variant on continue and fill), or None when absent or unreadable."""
    if not YARDSTICK_FILE.exists():
        return None
    return _yardstick(YARDSTICK_FILE.stat().st_mtime_ns)


def scaling_runs():
    """assets/scaling.json as a table, or None when it is missing or holds no usable run."""
    if not SCALING_FILE.exists():
        return None
    return _scaling(SCALING_FILE.stat().st_mtime_ns)


def model_width() -> int:
    """d_model of the shipped models (the first card's), else of the size they are trained at."""
    for card in cards().values():
        width = card.get("model_config", {}).get("d_model")
        if isinstance(width, int):
            return width
    return SIZES["medium"]["d_model"]


def attention_map(result: dict, name: str, layer: int, head: int) -> np.ndarray:
    """One (T, S) float32 map from `attention`'s result: a head, or the mean over heads when ``head < 0``."""
    per_layer = result["maps"][name]  # (L, H, T, S)
    layer = min(layer, per_layer.shape[0] - 1)
    w = per_layer[layer]
    return w.mean(axis=0, dtype=np.float32) if head < 0 or head >= w.shape[0] else w[head].astype(np.float32)


def models_for(architecture: str) -> list[str]:
    """Every model a page can show for an architecture: MaskLab's trained variant(s), then the
    published checkpoints found here whose architecture is known to match (decoder-only GGUF files
    and folders whose config names a causal LM, masked LM or seq2seq head), then the random one."""
    shipped = [v.name for v in variants() if v.source == "shipped" and v.architecture == architecture]
    return shipped + [f.name for f in published() if published_architecture(f.name) == architecture] + [f"random-{architecture}"]


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def published_architecture(name: str) -> str | None:
    """The architecture a found checkpoint will load as, read from its config without loading weights."""
    try:
        from engine import hf

        return hf.peek_architecture(name)
    except Exception:
        return None


def pick_variant(architecture: str) -> str:
    """The model a page shows for an architecture: a trained (shipped) one if any, else the random one."""
    infos = variants()
    for v in infos:
        if v.source == "shipped" and v.architecture == architecture:
            return v.name
    return f"random-{architecture}"
