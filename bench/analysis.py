"""The per-token-loss page's analysis as the engine does it: uncached, through a memo, and windowed.

One analysis of a text by one variant is what the page and the attention views ask of the engine:
``engine.score(variant, text, top_k=5)`` and ``engine.attention(variant, text)``, the maps turned
into NumPy arrays as ``ui/cache.py`` does. The page scores an encoder or encoder-decoder on its first
``SLOW_LIMIT`` tokens only (``ui/cache.py``'s ``score_aligned``); the benchmark reads that limit from
``ui/cache.py`` and does the same, so its numbers are the page's.
"""

import ast
import hashlib
import pickle
from dataclasses import dataclass

import numpy as np

import engine
from bench.common import REPO
from engine.tokenizer import tokenize

TOP_K = 5


@dataclass(frozen=True)
class PageLimits:
    slow_limit: int | None  # tokens the page scores for the architectures below; None: all of them
    slow_archs: tuple[str, ...]
    source: str


def page_limits() -> PageLimits:
    """``SLOW_LIMIT`` and ``ONE_PASS_PER_TOKEN`` from ``ui/cache.py``, read without importing Streamlit."""
    path = REPO / "ui" / "cache.py"
    try:
        found = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in ("SLOW_LIMIT", "ONE_PASS_PER_TOKEN"):
                    found[node.targets[0].id] = ast.literal_eval(node.value)
        return PageLimits(int(found["SLOW_LIMIT"]), tuple(found["ONE_PASS_PER_TOKEN"]), "ui/cache.py")
    except (OSError, SyntaxError, KeyError, ValueError):
        return PageLimits(None, (), "ui/cache.py not readable: every token scored")


def scored_part(text: str, architecture: str, limits: PageLimits) -> str:
    """The part of ``text`` the page scores (all of it, except for the one-pass-per-token models)."""
    if limits.slow_limit is None or architecture not in limits.slow_archs:
        return text
    tokens = tokenize(text)
    return text if len(tokens) <= limits.slow_limit else text[: tokens[limits.slow_limit - 1].end]


def analyze(variant, text: str, limits: PageLimits, window: int | None = None):
    """The analysis of ``text`` by ``variant``: (per-token DataFrame, attention maps by name, (L, H, T, S))."""
    kw = {"window": window} if window else {}  # an engine from before the option runs too
    df = engine.score(variant, scored_part(text, variant.architecture, limits), top_k=TOP_K, **kw)
    att = engine.attention(variant, text)
    maps = {k: np.stack([w.float().numpy() for w in layers]) for k, layers in att.maps.items()}
    return df, maps


class Memo:
    """What ``st.cache_data`` does: hash the arguments; on a miss run and store the pickled result; on
    a hit return an unpickled copy. Unbounded (the app's caches are bounded, but never hit a bound here)."""

    def __init__(self):
        self.store: dict[str, bytes] = {}

    def __call__(self, fn, *key):
        h = hashlib.sha256(pickle.dumps(key)).hexdigest()
        if h not in self.store:
            self.store[h] = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(self.store[h])
