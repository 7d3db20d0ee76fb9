"""Which models a page can pick, and what each is called.

MaskLab's own variants (shipped and random, in `MODELS_DIR`), the published checkpoints found on this
machine, the model a page shows by default for an architecture (`pick_variant`, `models_for`), and the
labels every picker, table and legend uses (`model_label`, `short_label`, `encoding_label`). Scanning
folders costs disk reads, so the scans keep short-lived Streamlit caches of their own.

`MODELS_DIR` is read here and by `ui.cache` and `ui.result_files` at call time, so a test that points it at
another folder (``monkeypatch.setattr(catalog, "MODELS_DIR", ...)``) moves the whole app.

A name that is no model (a typo, a refused path, a name the filesystem rejects) is answered with
False, None or the name itself, as each function says; anything else raised by the engine is a bug
and propagates, to be logged and reported by the page (`ui.layout.run_page`).
"""

from pathlib import Path

import streamlit as st

import engine
from engine import hf

MODELS_DIR = engine.variants.MODELS_DIR  # assets/models, or $MASKLAB_MODELS_DIR

NOT_A_MODEL = (ValueError, OSError)  # what engine.variants.resolve raises for a name it refuses or cannot find; OSError: one the filesystem refuses (too long)


def variants() -> list:
    """MaskLab's own variants (`engine.list_variants`): the shipped ones in `MODELS_DIR`, then the random ones."""
    return _variants(str(MODELS_DIR))


@st.cache_data(ttl=20, max_entries=1, show_spinner=False)
def _variants(models_dir: str) -> list:
    return engine.list_variants(Path(models_dir))


def is_checkpoint_name(name: str) -> bool:
    """A name that engine.load_variant would try as a published checkpoint (`engine.variants.resolve`);
    False for any other name, a refused path included (never raises for a string)."""
    try:
        return engine.variants.resolve(name, MODELS_DIR).kind == "published"
    except NOT_A_MODEL:
        return False


@st.cache_data(ttl=60, max_entries=1, show_spinner=False)
def cached_checkpoints() -> list[str]:
    """Ids of the supported checkpoints in the local Hugging Face cache (`engine.hf.list_cached`, which never raises)."""
    return hf.list_cached()


@st.cache_data(ttl=60, max_entries=1, show_spinner=False)
def published() -> list:
    """Published checkpoints found on this machine (`engine.hf.find_checkpoints`): ../shared/models,
    MASKLAB_MODEL_DIRS and the Hugging Face cache, not loaded yet; none when a folder to search cannot
    be read (OSError: find_checkpoints skips unreadable entries, not an unreadable folder listed)."""
    try:
        return hf.find_checkpoints()
    except OSError:
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
    published checkpoint by its own name, size and source (as `engine.variants.resolve` decides); a
    name resolve refuses is named as given."""
    try:
        ref = engine.variants.resolve(name, MODELS_DIR)
    except NOT_A_MODEL:
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


def encoding_label(encoding: str) -> str:
    """"GPT-2 (r50k_base)", or "SmolLM2-135M-Instruct's tokenizer" for a published checkpoint."""
    if encoding in engine.ENCODINGS:
        return engine.ENCODINGS[encoding]
    return f"{short_label(encoding)} (its own tokenizer)"


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def published_architecture(name: str) -> str | None:
    """The architecture a found checkpoint will load as, read from its config without loading weights
    (`engine.hf.peek_architecture`); None when it cannot tell, or the name is refused."""
    try:
        return hf.peek_architecture(name)
    except NOT_A_MODEL:
        return None


def models_for(architecture: str) -> list[str]:
    """Every model a page can show for an architecture: MaskLab's trained variant(s), then the
    published checkpoints found here whose architecture is known to match (decoder-only GGUF files
    and folders whose config names a causal LM, masked LM or seq2seq head), then the random one."""
    shipped = [v.name for v in variants() if v.source == "shipped" and v.architecture == architecture]
    return shipped + [f.name for f in published() if published_architecture(f.name) == architecture] + [f"random-{architecture}"]


def pick_variant(architecture: str) -> str:
    """The model a page shows for an architecture: a trained (shipped) one if any, else the random one."""
    for v in variants():
        if v.source == "shipped" and v.architecture == architecture:
            return v.name
    return f"random-{architecture}"
