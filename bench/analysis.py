"""The per-token-loss page's analysis as the engine does it: uncached, through a memo, and windowed.

One analysis of a text by one variant is what the page and the attention views ask of the engine:
``engine.score(variant, text, top_k=5)`` and ``engine.attention(variant, text)``, the maps turned
into NumPy arrays as ``ui/cache.py`` does. The page scores an encoder or encoder-decoder as it was
trained by default (``STRIDE``: 1 token in 7 hidden per pass), or exactly, one copy per token, on its
first ``SLOW_LIMIT`` tokens (``ui/scoring.py``'s ``score_aligned``); the benchmark reads those
settings from ``ui/scoring.py`` and does the same, so its numbers are the page's.
"""

import ast
import hashlib
import pickle
from dataclasses import dataclass

import numpy as np
import torch

import engine
from bench.common import REPO
from engine.tokenizer import tokenize

TOP_K = 5


@dataclass(frozen=True)
class PageLimits:
    slow_limit: int | None  # tokens the page scores exactly for the architectures below; None: all of them
    slow_archs: tuple[str, ...]
    source: str
    stride: int | None = None  # the page's default for those architectures: scored as trained, 1 in ``stride`` hidden
    exact: bool = False  # score those architectures exactly (one copy per token, first ``slow_limit`` tokens)

    def mode(self, architecture: str) -> str:
        if architecture not in self.slow_archs:
            return "the page's"
        return "exact (PLL)" if self.exact or not self.stride else f"as trained (1 in {self.stride})"


def page_limits() -> PageLimits:
    """``SLOW_LIMIT``, ``ONE_PASS_PER_TOKEN`` and ``STRIDE`` from ``ui/scoring.py``, read without importing Streamlit."""
    path = REPO / "ui" / "scoring.py"
    try:
        found = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in ("SLOW_LIMIT", "ONE_PASS_PER_TOKEN", "STRIDE"):
                    found[node.targets[0].id] = ast.literal_eval(node.value)
        stride = int(found["STRIDE"]) if "STRIDE" in found else None
        return PageLimits(int(found["SLOW_LIMIT"]), tuple(found["ONE_PASS_PER_TOKEN"]), "ui/scoring.py", stride)
    except (OSError, SyntaxError, KeyError, ValueError):
        return PageLimits(None, (), "ui/scoring.py not readable: every token scored")


def scored_part(text: str, architecture: str, limits: PageLimits) -> str:
    """The part of ``text`` the page scores (all of it, except for the one-pass-per-token models scored exactly)."""
    if limits.slow_limit is None or architecture not in limits.slow_archs or (limits.stride and not limits.exact):
        return text
    tokens = tokenize(text)
    return text if len(tokens) <= limits.slow_limit else text[: tokens[limits.slow_limit - 1].end]


def page_score(variant, text: str, limits: PageLimits, window: int | None = None):
    """``engine.score`` as the per-token-loss page calls it for ``variant``."""
    kw = {"window": window} if window else {}  # an engine from before the option runs too
    if variant.architecture in limits.slow_archs and limits.stride and not limits.exact and not window:
        kw["stride"] = limits.stride
    return engine.score(variant, scored_part(text, variant.architecture, limits), top_k=TOP_K, **kw)


def analyze(variant, text: str, limits: PageLimits, window: int | None = None):
    """The analysis of ``text`` by ``variant``: (per-token DataFrame, attention maps by name, (L, H, T, S))."""
    df = page_score(variant, text, limits, window)
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


PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")  # the matrix-product kernels a linear layer or a head lands in


def products_ms(fn, device="cpu") -> float:
    """Milliseconds of one call of ``fn`` spent inside matrix-product kernels (``PRODUCTS``' own time,
    torch.profiler): the projections, MLPs and output heads as this machine runs them, at the rate it
    reaches on the models' own shapes. NaN off the CPU (a GPU's kernels run asynchronously)."""
    if torch.device(device).type != "cpu":
        return float("nan")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in PRODUCTS) / 1e3


def floor_flops(variant, text: str, limits: PageLimits) -> float:
    """A lower bound on the matrix-product FLOPs of ``analyze``: the layers' projections and MLPs at
    every position the engine must run (the last layer only where a token is scored), the output head
    where a token is scored, and one attention pass; attention scores, softmax and norms not counted."""
    from engine.cost import layer_token_flops

    c = variant.model.config
    lf, head, L = layer_token_flops(c), 2 * c.d_model * c.vocab_size, c.n_layer
    ctx = int(c.max_len) - (1 if variant.architecture == "encoder_decoder" else 0)
    n = len(tokenize(scored_part(text, variant.architecture, limits)))
    n_att = min(len(tokenize(text)), 256, int(c.max_len) - 16)
    total = L * n_att * lf  # engine.attention: one pass, logits at one position
    if variant.architecture in limits.slow_archs:
        w = min(ctx, n)
        segments = -(-n // max(1, ctx // 2)) if n > ctx else 1
        copies = n if limits.mode(variant.architecture).startswith("exact") else limits.stride * segments
        if variant.architecture == "encoder":
            total += copies * (L - 1) * w * lf + n * (lf + head)
        else:  # the encoder runs every position; the decoder's few positions are left out
            total += copies * L * (w + 1) * lf + n * head
    else:
        positions = n if n <= int(c.max_len) else n * 2  # longer texts: windows advancing half a context
        total += (L - 1) * positions * lf + n * (lf + head)
    return float(total)
