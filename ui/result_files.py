"""The files of results the pages show, read without loading a model.

The shipped models' cards (``<MODELS_DIR>/*/card.json``: training curves, the width they were trained
at), the scaling sweep (`SCALING_FILE`, written by the sweep) and the yardstick (`YARDSTICK_FILE`,
``python -m engine.yardstick``). Each is re-read when its file changes (the caches key on the files'
modification times); a missing or unreadable file reads as None (or no card), and the page says so.
"""

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from engine.catalog import SIZES
from ui import catalog

REPO = Path(__file__).resolve().parents[1]
SCALING_FILE = REPO / "assets" / "scaling.json"
YARDSTICK_FILE = catalog.MODELS_DIR.parent / "yardstick.json"  # python -m engine.yardstick


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


@st.cache_data(max_entries=4, show_spinner=False)
def _cards(stamp: tuple) -> dict:
    out = {}
    for path in sorted(catalog.MODELS_DIR.glob("*/card.json")):
        card = _read_json(path)
        if isinstance(card, dict):
            out[path.parent.name] = card
    return out


def cards() -> dict:
    """Every shipped model card, re-read when any card changes."""
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(catalog.MODELS_DIR.glob("*/card.json")))
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


def scaling_runs():
    """assets/scaling.json as a table, or None when it is missing or holds no usable run."""
    if not SCALING_FILE.exists():
        return None
    return _scaling(SCALING_FILE.stat().st_mtime_ns)


@st.cache_data(max_entries=4, show_spinner=False)
def _yardstick(stamp: int):
    data = _read_json(YARDSTICK_FILE)
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


def yardstick():
    """assets/yardstick.json (every shipped variant on continue and fill), or None when absent or unreadable."""
    if not YARDSTICK_FILE.exists():
        return None
    return _yardstick(YARDSTICK_FILE.stat().st_mtime_ns)


def model_width() -> int:
    """d_model of the shipped models (the first card's), else of the size they are trained at."""
    for card in cards().values():
        width = card.get("model_config", {}).get("d_model")
        if isinstance(width, int):
            return width
    return SIZES["medium"]["d_model"]
