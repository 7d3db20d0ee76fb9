"""The Streamlit caches over engine calls: loading a model, tokenizing, scoring, attention maps,
generation, corruption, costs, probes, chat timing.

Each wrapper keys on everything that changes its result: the text, the parameters, the model's name
and `version` (a shipped model's card changes when it is retrained), and the `DEVICE` the model runs
on. Every cache is bounded. Models are resources (shared, never copied); results are data.

Which models exist and what they are called: `ui.catalog`. The result files the pages show (cards,
sweep, yardstick): `ui.result_files`. How the losses page scores each architecture: `ui.scoring`.
"""

import os

import numpy as np
import pandas as pd
import streamlit as st
import torch

import engine
from engine.device import inference_dtype
from engine.encoder_reading import READING_WINDOWS
from engine.cost import count_params, flops_per_token, params_by_component
from engine.objectives import corrupt, exposure_table
from engine.probes import run_probes
from engine.tokenizer import token_strings
from engine.catalog import OBJECTIVE_ARCHITECTURE
from engine.train import size_config
from ui import catalog, state
from ui.store import BoundedStore, release_freed_memory

DEVICE = str(engine.pick_device())
LOADED: dict[str, str] = {}  # variant name -> device, for the home page's "loaded models"


@st.cache_resource(max_entries=1, show_spinner=False)
def device_label(device: str = DEVICE) -> str:
    return engine.device_info(device)


def kv_value() -> tuple[int, str]:
    """Bytes a KV-cache value takes where the app's models run, and the dtype's name: (4, "float32") on a
    CPU, (2, "bf16") on CUDA (engine.device.inference_dtype)."""
    dtype = inference_dtype(torch.device(DEVICE))
    return dtype.itemsize, "bf16" if dtype == torch.bfloat16 else "float32"


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


@st.cache_data(max_entries=256, show_spinner=False)
def token_texts(ids: tuple, encoding: str = "masklab") -> list[str]:
    return token_strings(list(ids), encoding)


def version(name: str) -> str:
    """What identifies a variant's weights, so that every cache below keys a model on them: the identity
    `engine.variants.resolve` gives (a shipped variant's card and weights files, a published checkpoint's
    weights files, each by size and modification time; "builtin" for the random models); "unknown" for a
    name that resolve refuses (loading it fails, with the reason, and is not cached)."""
    try:
        return engine.variants.resolve(name, catalog.MODELS_DIR).identity
    except catalog.NOT_A_MODEL:
        return "unknown"


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def _variant(name: str, device: str, version: str):
    v = engine.load_variant(name, device=device, models_dir=catalog.MODELS_DIR)
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


@st.cache_data(max_entries=32, show_spinner="Scoring every token through the pattern…")
def _score_through(name: str, text: str, pattern: str, device: str, version: str) -> pd.DataFrame:
    try:
        return engine.score(_variant(name, device, version), text, mask=engine.masks.parse_pattern(pattern))
    finally:
        release_freed_memory()


def score_through(name: str, text: str, pattern: str) -> pd.DataFrame:
    """Mask surgery: ``name`` scored on ``text`` through ``pattern`` (an engine.masks.parse_pattern text)
    instead of its own mask; ValueError where the engine refuses it."""
    return _score_through(name, text, pattern, DEVICE, version(name))


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
    with st.spinner(f"Reading the attention of {catalog.short_label(name)}…"):
        try:
            return store.get(key, lambda: _attention(name, text, split, seed, DEVICE, version(name)))
        finally:
            release_freed_memory()  # the pass's float32 maps of every layer are freed: give them back


def attention_map(result: dict, name: str, layer: int, head: int) -> np.ndarray:
    """One (T, S) float32 map from `attention`'s result: a head, or the mean over heads when ``head < 0``."""
    per_layer = result["maps"][name]  # (L, H, T, S)
    layer = min(layer, per_layer.shape[0] - 1)
    w = per_layer[layer]
    return w.mean(axis=0, dtype=np.float32) if head < 0 or head >= w.shape[0] else w[head].astype(np.float32)


RELIANCE = {"encoder_decoder": engine.encoder_reliance, "encoder": engine.context_reliance}  # what each architecture reads, measured


def _held_out_reliance(name: str, architecture: str, device: str, version: str):
    """`RELIANCE` of a MaskLab model of ``architecture`` on `READING_WINDOWS` (32) held-out windows of its training length
    (the same windows for every model trained at that length), or None."""
    v = _variant(name, device, version)
    if v.source == "huggingface" or v.architecture != architecture:
        return None
    try:
        length = (v.card or {}).get("train_config", {}).get("seq_len") or min(256, v.model.config.max_len // 2)
        windows = engine.held_out_windows(READING_WINDOWS, int(length))
    except (FileNotFoundError, ValueError):  # no corpus here: nothing to measure on
        return None
    return RELIANCE[architecture](v.model, windows)


@st.cache_data(max_entries=8, show_spinner="Measuring whether the model reads its encoder…")
def _encoder_reliance(name: str, device: str, version: str):
    return _held_out_reliance(name, "encoder_decoder", device, version)


@st.cache_data(max_entries=8, show_spinner="Measuring what the text around a hole is worth to the encoder-only model…")
def _context_reliance(name: str, device: str, version: str):
    return _held_out_reliance(name, "encoder", device, version)


def context_reliance(name: str):
    """`engine.context_reliance` of a MaskLab encoder-only model on the same 32 held-out windows as
    `encoder_reliance`, or None (another kind of model, or no corpus)."""
    return _context_reliance(name, DEVICE, version(name))


def encoder_reliance(name: str):
    """`engine.encoder_reliance` of a MaskLab encoder-decoder on 32 held-out windows, or None (another
    kind of model, or no corpus to draw windows from)."""
    return _encoder_reliance(name, DEVICE, version(name))


def encoder_reading_sentence(name: str) -> str:
    """`encoder_reliance` of ``name`` in words, beside the shipped encoder-only model's
    `context_reliance` on the same held-out windows (how much there is to read), when both are measured."""
    r = encoder_reliance(name)
    encoder = catalog.pick_variant("encoder")
    c = None if encoder.startswith("random-") else context_reliance(encoder)
    return r.sentence(catalog.short_label(name), c, catalog.short_label(encoder)) if c is not None else r.sentence(catalog.short_label(name))


@st.cache_data(max_entries=64, show_spinner="Generating…")
def _generate(name: str, text: str, max_new: int, temperature: float, top_k: int, seed: int, device: str, version: str) -> dict:
    r = engine.generate(_variant(name, device, version), text, max_new_tokens=max_new, temperature=temperature, top_k=top_k, seed=seed)
    return {"text": r.text, "tokens": r.tokens, "method": r.method}


def generate(name: str, text: str, max_new: int, temperature: float, top_k: int, seed: int) -> dict:
    return _generate(name, text, max_new, temperature, top_k, seed, DEVICE, version(name))


@st.cache_data(max_entries=32, show_spinner="Running the proof…")
def switch_demo(on: str, seed: int = 0) -> dict:
    result = engine.switch_demo(state.switch_flags(on), seed=seed)
    result.pop("config", None)
    return result


@st.cache_data(max_entries=128, show_spinner=False)
def corruption(ids: tuple, objective: str, seed: int, params: tuple):
    return corrupt(list(ids), objective, seed, **dict(params))


@st.cache_data(max_entries=64, show_spinner=False)
def exposure(ids: tuple, seed: int, settings: tuple = ()) -> list[dict]:
    """engine.exposure_table; ``settings``: (objective, sorted (name, value) pairs) pairs, hashable."""
    return exposure_table(list(ids), seed, settings={name: dict(params) for name, params in settings})


NATURAL = OBJECTIVE_ARCHITECTURE  # (objective, the architecture it trains in MaskLab's shipped variants): engine.catalog


@st.cache_data(max_entries=64, show_spinner=False)
def supervision(ids: tuple, seed: int, size: str) -> list[dict]:
    return engine.supervision(list(ids), {arch: size_config(arch, size) for _, arch in NATURAL}, seed, NATURAL)


@st.cache_data(max_entries=64, show_spinner=False)
def model_cost(on: str, size: str, seq_len: int = 256) -> pd.DataFrame:
    """Parameters and forward FLOPs per token: plain encoder-decoder, the switched one, and the two
    single-stack models it turns into."""
    models = {
        "encoder-decoder": size_config("encoder_decoder", size),
        "with switches": size_config("encoder_decoder", size, **state.switch_flags(on)),
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
    """Seconds per turn, the best of ``repeats`` runs of each way (the least disturbed by other work).
    The two ways take turns, run after run, so that a burst of other work on the machine lands on both
    rather than on all of one's runs. ``attrs["spread"]``: the median, over turns and ways, of the slowest
    run's time over the fastest's (1.0 on a quiet machine)."""
    model = _variant(name, device, version)
    turns = [list(t) for t in turns]
    engine.time_chat(model, turns[:1], bidirectional=True)  # warm-up: first calls pay for allocation
    engine.time_chat(model, turns[:2], bidirectional=False)
    runs = {"bidirectional": [], "causal": []}
    for _ in range(repeats):
        for mode in runs:
            runs[mode].append(engine.time_chat(model, turns, bidirectional=mode == "bidirectional"))
    times = {mode: np.array(r) for mode, r in runs.items()}  # (repeats, turns)
    out = pd.DataFrame({"turn": range(1, len(turns) + 1), **{mode: t.min(axis=0) for mode, t in times.items()}})
    out.attrs["spread"] = float(np.median(np.concatenate([t.max(axis=0) / t.min(axis=0) for t in times.values()])))
    return out


def time_chat(name: str, turns: tuple, repeats: int = 3, nonce: int = 0) -> pd.DataFrame:
    return _time_chat(name, turns, repeats, nonce, DEVICE, version(name))


@st.cache_data(max_entries=32, show_spinner="Running the probes…")
def _probes(name: str, probe_set: str, device: str, version: str) -> pd.DataFrame:
    return run_probes(_variant(name, device, version), probe_set)


def probes(name: str, probe_set: str = "novel") -> pd.DataFrame:
    """engine.run_probes with one of engine.probes.PROBE_SETS ("novel" or "multitask")."""
    return _probes(name, probe_set, DEVICE, version(name))

