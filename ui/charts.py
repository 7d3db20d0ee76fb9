"""Figure builders: data in, a figure out. No Streamlit here, so tests can read the figures' data.

Bars, lines and the per-token loss strip are Altair charts (Vega-Lite, drawn by Streamlit's own
front end), so pages without heatmaps load no Plotly. The masks page's square heatmaps are Plotly: a
label per token on both axes and a weight in the hover of each of up to 16,384 cells (bench/README.md
has the timings behind the choice). Heatmaps are built from plain dicts (`_figure`), without Plotly's
per-property validation.

Colours are Okabe and Ito's colour-blind-safe set for categories and cividis for quantities.
Backgrounds stay transparent so the figures sit on the light and the dark theme alike. Every label
that comes from the user's text is escaped: Plotly reads ``<b>`` or ``<a>`` in tick and hover text.
"""

import html
import json
import math
import re

import altair as alt
import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from engine.yardstick import paired_difference, reading
from ui.html import LOSS_COLORSCALE

# Altair checks each part of a chart against the Vega-Lite schema as it is built (its "debug mode"), a
# noticeable share of a page's script. tests/test_charts.py validates every builder's whole spec instead,
# and layout.chart sends it unchecked.
alt.utils.schemapi.disable_debug_mode()

OKABE_ITO = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999",
}
ARCH_COLORS = {"encoder": "#0072B2", "decoder": "#D55E00", "prefix_lm": "#009E73", "encoder_decoder": "#CC79A7"}
ARCH_NAMES = {"encoder": "encoder-only", "decoder": "decoder-only", "prefix_lm": "prefix-LM", "encoder_decoder": "encoder-decoder"}
OBJ_NAMES = {"clm": "Causal LM", "mlm": "BERT masked LM", "span_corruption": "T5 span corruption", "prefix_lm": "Prefix LM", "ul2": "UL2 mixture",
             "fim": "Fill in the middle"}
UL2_MODE_NAMES = {"R": "R: regular", "S": "S: sequential", "X": "X: extreme"}
OBJ_COLORS = {"clm": "#D55E00", "mlm": "#0072B2", "span_corruption": "#CC79A7", "prefix_lm": "#009E73", "ul2": "#E69F00", "fim": "#56B4E9"}
SERIES = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#999999", "#F0E442"]
ALLOWED = "#0072B2"
BLOCKED = "rgba(128,128,128,0.14)"
SEQUENTIAL = "cividis"
SEQUENTIAL_SCALE = plotly.colors.get_colorscale(SEQUENTIAL)  # the same, as stops: the unvalidated builders (_figure) pass it as is
FONT = "Inter, 'Source Sans 3', 'Segoe UI', sans-serif"
_SQUARE = dict(scaleanchor="x", scaleratio=1, constrain="domain", constraintoward="top")  # square cells, whatever the shape
_SENTINEL = re.compile(r"^<\|sentinel_(\d+)\|>$")


def variant_series(pairs) -> dict[str, tuple[str, str]]:
    """A sweep's series when several variants may share an architecture (decoder-clm and decoder-fim):
    for each (architecture, variant) pair, in order, its name and colour. An architecture's first variant
    is named and coloured as the architecture; another of the same architecture gets its variant's name
    beside it and a colour of its own (``{variant: (name, colour)}``)."""
    out, first, spare = {}, {}, [OKABE_ITO[c] for c in ("orange", "sky", "grey", "yellow")]
    pairs = list(dict.fromkeys(pairs))
    for arch, variant in pairs:
        name = ARCH_NAMES.get(arch, str(arch))
        if arch not in first:
            first[arch] = variant
            out[variant] = (name, ARCH_COLORS.get(arch, OKABE_ITO["grey"]))
        else:
            out[variant] = (f"{name} ({variant})", spare.pop(0) if spare else OKABE_ITO["grey"])
    return out


# MaskLab's special tokens as axis labels: short enough that a map keeps its cells ("<|sentinel_12|>" is 15 characters)
SPECIAL_LABELS = {"<|endoftext|>": "⟨eot⟩", "<|bos|>": "⟨bos⟩", "<|pad|>": "⟨pad⟩", "<|mask|>": "⟨mask⟩",
                  "<|fim_prefix|>": "⟨pre⟩", "<|fim_suffix|>": "⟨suf⟩", "<|fim_middle|>": "⟨mid⟩"}


def special_label(text: str) -> str:
    """A special token's short name, as the maps' axes write it (``<|sentinel_3|>`` → ``⟨s3⟩``,
    ``<|endoftext|>`` → ``⟨eot⟩``); any other token unchanged."""
    sentinel = _SENTINEL.match(text)
    return f"⟨s{sentinel[1]}⟩" if sentinel else SPECIAL_LABELS.get(text, text)


def plotly_text(text: str) -> str:
    """``text`` safe in Plotly's labels: ``<``, ``>`` and ``&`` escaped (Plotly reads ``<b>`` and ``<a>``),
    quotes left as typed, because Plotly decodes ``&lt;`` but not ``&quot;`` (it drew `."` as `.&quot;`)."""
    return html.escape(text, quote=False)


def axis_label(text: str, limit: int = 14) -> str:
    """A token as an axis or hover label: whitespace made visible, a special token shortened
    (`special_label`), cut to ``limit``, escaped."""
    text = special_label(text)
    shown = text.replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    if shown.strip(" ") == "":
        shown = "␣" * len(shown)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return plotly_text(shown)


def objective_name(label: str) -> str:
    """Display name of an objective or of a forced UL2 denoiser ("ul2-R" -> "UL2 R: regular")."""
    objective, _, mode = label.partition("-")
    if objective == "ul2" and mode in UL2_MODE_NAMES:
        return f"UL2 {UL2_MODE_NAMES[mode]}"
    return OBJ_NAMES.get(label, plotly_text(label))


TICK_FONT = 12  # px: tick labels at the normal size (presentation mode passes a larger one)
WIDTH = 560  # px: the width a heatmap may assume when its page gives none
MIN_CELL = 5  # px: a heatmap's smallest cell, so that no token is thinner than a line
MAX_SIDE = 480  # px: the tallest a square map's plot grows (a few tokens must not fill the screen)
MAX_CELL = 1.5  # font sizes: the largest cell, room for its label and a little (18 px at 12 px type, 24 presenting);
# a map's size follows its token count: a 3 x 3 rule is drawn small, not stretched to the column
LABEL_ROOM = 1.35  # a tick label's line, in font sizes: the spacing neighbouring labels need
# Plotly's default ("hide past div") measures every tick label against the page after drawing it: two
# thirds of the time an axis of 128 token labels takes (a CPU profile of a masks-page edit in Chromium,
# 13 maps: 1.54 s of script -> 0.95 s). The margins are sized for the labels (token_margin), so none overflows.
TICK_OVERFLOW = "allow"
LABEL_CHARS = 15  # characters of a token a heatmap's axis shows ("<|sentinel_12|>" whole; the hover shows more)


def tick_stride(n: int, axis_px: float, font: int = TICK_FONT) -> int:
    """Every how many positions an axis with ``n`` of them over ``axis_px`` pixels can carry a label
    without two overlapping: neighbouring labels need a line of type between them (``font`` x
    LABEL_ROOM), and labels are horizontal on the y axis and vertical on the x axis, so the same holds
    for both. 21 tokens over 266 px at 12 px: a cell is 12.7 px, a label needs 16.2, so every 2nd."""
    if n <= 0:
        return 1
    if axis_px <= 0:  # no room at all: one label
        return n
    return max(1, math.ceil(font * LABEL_ROOM * n / axis_px))


def tick_positions(labels: list[str], step: int) -> list[int]:
    """Which of ``labels`` an axis shows when it has room for one in ``step``: special tokens first
    (``<|...|>``: a sentinel, a mode token, the separator are what a mask or an objective is about), then
    every position left to right that keeps ``step`` positions from every label already chosen. With
    ``step`` 1, all of them. Sorted positions."""
    n = len(labels)
    if step <= 1:
        return list(range(n))
    taken = [False] * n  # within step - 1 of a chosen label

    def take(i: int) -> None:
        for j in range(max(0, i - step + 1), min(n, i + step)):
            taken[j] = True

    chosen = []
    for i in [i for i, t in enumerate(labels) if t.startswith("<|") and t.endswith("|>")] + list(range(n)):
        if not taken[i]:
            chosen.append(i)
            take(i)
    return sorted(chosen)


def _ticks(labels: list[str], offset: int = 0, *, axis_px: float, font: int = TICK_FONT, limit: int = LABEL_CHARS, title: str = "") -> dict:
    """A token axis: numeric positions labelled with their tokens, every k-th one when the axis has no
    room for all (tick_stride), in type of ``font`` px, titled ``title`` in type 2 px larger."""
    idx = tick_positions(labels, tick_stride(len(labels), axis_px, font))
    return dict(tickmode="array", tickvals=[offset + i for i in idx], ticktext=[axis_label(labels[i], limit) for i in idx],
                tickfont=dict(size=font), title=dict(text=title, font=dict(size=font + 2)), ticklabeloverflow=TICK_OVERFLOW)


def _layout(title: str, height: int, *, font: int | None = None, margin: dict | None = None, **layout) -> dict:
    """The layout every figure shares (what _finish sets), as a dict: transparent, the house font.
    ``font``: the type size of a token map (px), its title 4 px larger; ``margin``: fixed margins (px)."""
    return dict(title=dict(text=plotly_text(title), x=0, xanchor="left", font=dict(size=15 if font is None else font + 4)), height=height,
                margin=margin or dict(l=10, r=10, t=44 if title else 10, b=10), paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                font=dict(family=FONT) if font is None else dict(family=FONT, size=font), hoverlabel=dict(font=dict(family=FONT)), **layout)


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """A figure built from plain dicts without Plotly's per-property validation: heatmaps are drawn
    many to a page and redrawn on every step of a slider, and validating one took ~20 ms (the whole
    figure at once, ~2 ms). tests/test_charts.py validates every builder's output instead.

    Text goes in as lists, numbers as lists or numeric arrays: Streamlit's JSON encoder (plotly.io.to_json,
    orjson) takes those in one pass, and falls back to walking every element in Python for an object or
    string array (a 64-token mask map's hover labels: 55 ms against 0.2 ms)."""
    return go.Figure(data=traces, layout=layout, _validate=False)


def label_chars(labels=None) -> int:
    """Characters of the longest label an axis of ``labels`` shows (at most LABEL_CHARS; all of them
    when ``labels`` is None): what its margin is sized for."""
    if labels is None:
        return LABEL_CHARS
    return min(LABEL_CHARS, max((len(html.unescape(axis_label(t, LABEL_CHARS))) for t in labels), default=1))


def token_margin(font: int = TICK_FONT, labels=None, titled: bool = True) -> int:
    """Fixed room beside a token axis for its labels and title (Plotly's automargin re-lays out many
    times), sized for the longest of ``labels`` (for a label of LABEL_CHARS when None); ``titled``
    False: no axis title, and room for the labels alone."""
    return int(font * (0.62 * max(label_chars(labels), 4) + (2.4 if titled else 0.8)))


def label_fits(n: int, width: float, font: int = TICK_FONT, colorbar: bool = True, labels=None, titled: bool = True) -> bool:
    """Whether a square map of ``n`` tokens a side, ``width`` px wide, can label every token
    (``labels``: the tokens, whose longest sizes the margin; None: the longest possible; ``titled``:
    whether its axes carry titles)."""
    return tick_stride(n, _plot_width(width, font, colorbar, labels, titled), font) == 1


def cells_that_fit(width: float, font: int = TICK_FONT, colorbar: bool = True) -> int:
    """The most tokens a square map ``width`` px wide can show with cells of at least MIN_CELL px."""
    return max(1, int(_plot_width(width, font, colorbar) // MIN_CELL))


def _plot_width(width: float, font: int, colorbar: bool, labels=None, titled: bool = True) -> float:
    return width - token_margin(font, labels, titled) - _right_margin(font, colorbar)


def _right_margin(font: int, colorbar: bool) -> int:
    return font * 6 if colorbar else 4


def _colorbar(title: str, plot_px: float, font: int) -> dict:
    """A colour bar whose ticks keep a few lines of type apart, however short the plot."""
    return dict(title=dict(text=title, font=dict(size=font)), thickness=12, tickfont=dict(size=font),
                nticks=max(2, int(plot_px // (font * 3))), ticklabeloverflow=TICK_OVERFLOW)


def _square_map(trace: dict, title: str, n_q: int, n_k: int, q_labels, k_labels, q_offset: int, k_offset: int,
                width: float, font: int, colorbar: bool, x_title: str, y_title: str, min_row: float = 0.0) -> go.Figure:
    """Square cells of one size from the room the page gives: the cell is what ``width`` allows, at
    most MAX_SIDE / tokens and MAX_CELL font sizes (or MIN_CELL, for many tokens); the figure's height follows from it, and both axes are labelled every
    tick_stride tokens. The page gives each map a width its column really has (or less), so the cells
    are never smaller than planned and the labels never overlap; it shows at most cells_that_fit
    tokens, so no cell is under MIN_CELL. ``min_row`` (px): rows at least this tall, the cells no longer
    square, for a map of a few rows whose every row must keep its label (a cross-attention map)."""
    margin = token_margin(font, list(q_labels) + list(k_labels), titled=bool(x_title or y_title))
    right = _right_margin(font, colorbar)
    top = 44 if title else 10
    n = max(n_q, n_k, 1)
    cell = min((width - margin - right) / max(n_k, 1), max(min(MAX_SIDE / n, MAX_CELL * font), MIN_CELL))
    row = max(cell, min_row)
    side_q, side_k = row * max(n_q, 1), cell * max(n_k, 1)
    # square cells, or rows taller than the columns are wide: then the rows fill the plot's height
    y_shape = _SQUARE if row == cell else dict(constrain="domain")
    if colorbar:
        trace["colorbar"] = _colorbar(trace.get("colorbar", {}).get("title", {}).get("text", ""), side_q, font)
    # the figure as wide as its labels, its square and its colour bar (layout.chart draws it at that width):
    # stretched to its column, Plotly centred the square in the room, far from its labels and its colour bar,
    # and the maps of one page out of line with each other
    layout = _layout(title, int(max(top + margin + side_q, 220)), font=font, margin=dict(l=margin, r=right, b=margin, t=top),
                     width=math.ceil(max(margin + side_k + right, 0.62 * (font + 4) * len(title) + 20)),  # the title whole, however few the keys
                     xaxis=dict(tickangle=-90, **_ticks(k_labels, k_offset, axis_px=side_k, font=font, title=x_title), showgrid=False, zeroline=False,
                                automargin=False, constrain="domain", constraintoward="left"),
                     yaxis=dict(autorange="reversed", **_ticks(q_labels, q_offset, axis_px=side_q, font=font, title=y_title), showgrid=False,
                                zeroline=False, automargin=False, **y_shape))
    return _figure([trace], layout)


def mask_heatmap(mask, q_labels: list[str], k_labels: list[str], title: str, *, q_offset: int = 0, k_offset: int = 0,
                 width: float = WIDTH, font: int = TICK_FONT) -> go.Figure:
    """Allowed attention: row q, column k is filled when query q may attend to key k (``True``).
    ``width`` is the room the page gives the figure, ``font`` its tick labels' size (see _square_map)."""
    m = np.asarray(mask, dtype=bool)
    z = m.astype(int)
    n_q, n_k = z.shape if z.ndim == 2 else (0, 0)
    qs = [axis_label(t, 24) for t in q_labels]
    ks = [axis_label(t, 24) for t in k_labels]
    hover = "query %{y}<br>key %{x}<br>%{z:d} = may attend<extra></extra>"
    trace = dict(type="heatmap", z=z, x=list(range(k_offset, k_offset + n_k)), y=list(range(q_offset, q_offset + n_q)), zmin=0, zmax=1,
                 colorscale=[[0, BLOCKED], [0.5, BLOCKED], [0.5, ALLOWED], [1, ALLOWED]], showscale=False,
                 xgap=1 if n_k <= 64 else 0, ygap=1 if n_q <= 64 else 0, hovertemplate=hover)
    if n_q * n_k <= 4096:  # labels in the hover; beyond that the payload grows faster than it helps
        trace["customdata"] = [[[q, k] for k in ks] for q in qs]  # lists, not an object array: see _figure
        trace["hovertemplate"] = "query %{y} %{customdata[0]}<br>key %{x} %{customdata[1]}<br>%{z:d} = may attend<extra></extra>"
    return _square_map(trace, title, n_q, n_k, q_labels, k_labels, q_offset, k_offset, width, font, False,
                       "key: the token looked at", "query: the token looking")


def mask_grid(panels: list[tuple], labels: list[str], *, offset: int = 0, width: float = WIDTH, font: int = TICK_FONT,
              title: str = "") -> go.Figure:
    """Several masks over the same tokens side by side, one figure: ``panels`` is a list of
    ``(name, mask, split)``, each mask (n, n) bool over ``labels`` (True: may attend), ``split`` the
    input length to mark with a line (None: no line). One label column on the left serves every panel
    (every tick_stride tokens), the key axis is named once, every cell is square and of one size:
    the panels share ``width`` (minus the labels' margin and the gaps), so four rules of a sentence fit
    one screen. Hover: query and key positions and tokens."""
    k = max(1, len(panels))
    n = max((int(np.asarray(m).shape[0]) for _, m, _ in panels), default=0)
    margin = token_margin(font, labels)
    gap = font * 1.5
    side = max(1.0, (width - margin - 10 - gap * (k - 1)) / k)
    cell = min(side / max(n, 1), MAX_CELL * font)
    side = cell * max(n, 1)
    top = (44 if title else 8) + int(font * 2.2)  # the figure's title, then a line for the panels' names
    bottom = int(font * 3)
    plot_w = side * k + gap * (k - 1)
    fig_w = math.ceil(margin + plot_w + 10)
    qs = [axis_label(t, 24) for t in labels]
    traces, shapes, annotations, axes = [], [], [], {}
    for i, (name, m, split) in enumerate(panels):
        z = np.asarray(m, dtype=bool).astype(int)
        x0 = (side + gap) * i / plot_w
        x1 = min(1.0, x0 + side / plot_w)
        xa = "x" if i == 0 else f"x{i + 1}"
        trace = dict(type="heatmap", z=z, x=list(range(offset, offset + z.shape[1])), y=list(range(offset, offset + z.shape[0])), zmin=0, zmax=1,
                     colorscale=[[0, BLOCKED], [0.5, BLOCKED], [0.5, ALLOWED], [1, ALLOWED]], showscale=False, xaxis=xa, yaxis="y",
                     xgap=1 if n <= 64 else 0, ygap=1 if n <= 64 else 0,
                     hovertemplate=f"{plotly_text(name)}<br>query %{{y}}<br>key %{{x}}<br>%{{z:d}} = may attend<extra></extra>")
        if z.size and z.size <= 4096:
            trace["customdata"] = [[[q, kk] for kk in qs[: z.shape[1]]] for q in qs[: z.shape[0]]]
            trace["hovertemplate"] = (f"{plotly_text(name)}<br>query %{{y}} %{{customdata[0]}}<br>key %{{x}} %{{customdata[1]}}"
                                      "<br>%{z:d} = may attend<extra></extra>")
        traces.append(trace)
        axes["xaxis" if i == 0 else f"xaxis{i + 1}"] = dict(domain=[x0, x1], range=[offset - 0.5, offset + max(n, 1) - 0.5], showticklabels=False,
                                                             showgrid=False, zeroline=False, ticks="", anchor="y",
                                                             title=dict(text="key →" if i == 0 else "", font=dict(size=font), standoff=4))
        annotations.append(dict(text=f"<b>{plotly_text(name)}</b>", x=(x0 + x1) / 2, y=1, xref="paper", yref="paper", yanchor="bottom",
                                xanchor="center", showarrow=False, font=dict(size=font + 2)))
        if split is not None and 0 < split < n:
            edge = offset + split - 0.5
            for line in (dict(x0=edge, x1=edge, y0=offset - 0.5, y1=offset + n - 0.5), dict(x0=offset - 0.5, x1=offset + n - 0.5, y0=edge, y1=edge)):
                shapes.append(dict(type="line", xref=xa, yref="y", line=dict(color=OKABE_ITO["orange"], width=2, dash="dot"), **line))
    layout = _layout(title, int(top + side + bottom), font=font, margin=dict(l=margin, r=10, b=bottom, t=top), width=fig_w,
                     yaxis=dict(autorange="reversed", **_ticks(labels, offset, axis_px=side, font=font, title="query"), showgrid=False,
                                zeroline=False, automargin=False, domain=[0, 1]),
                     shapes=shapes, annotations=annotations, **axes)
    return _figure(traces, layout)


def attention_heatmap(weights, q_labels: list[str], k_labels: list[str], title: str, *, q_offset: int = 0, k_offset: int = 0,
                      width: float = WIDTH, font: int = TICK_FONT, allowed=None, colorbar: bool = True, axis_titles: bool = True,
                      label_every_row: bool = False) -> go.Figure:
    """Learned attention weights (rows sum to 1); masked-out cells are left empty: those ``allowed``
    (the mask's rule over the same cells) marks False, or without it the cells of weight 0. A weight
    that underflowed to 0 where the rule allows attention is drawn as 0, not as a hole. ``width`` and
    ``font`` as for mask_heatmap; ``colorbar`` False leaves the scale to the hover (brighter: more
    weight), and the room to the cells; ``axis_titles`` False leaves "query" and "key" to a map beside it;
    ``label_every_row`` makes each row a label's line tall (the cells then no longer square), for a map of a
    few rows under a wide input whose every row must keep its label (a cross-attention map)."""
    w = np.asarray(weights, dtype=float)
    n_q, n_k = w.shape if w.ndim == 2 else (0, 0)
    z = np.where(np.asarray(allowed, dtype=bool) if allowed is not None else w > 0, w, np.nan)
    trace = dict(type="heatmap", z=z, x=list(range(k_offset, k_offset + n_k)), y=list(range(q_offset, q_offset + n_q)), colorscale=SEQUENTIAL_SCALE, zmin=0,
                 zmax=float(np.nanmax(z)) if n_q and n_k and np.isfinite(z).any() else 1.0, colorbar=dict(title=dict(text="weight")),
                 showscale=colorbar, hovertemplate="query %{y} → key %{x}<br>weight %{z:.3f}<extra></extra>")
    return _square_map(trace, title, n_q, n_k, q_labels, k_labels, q_offset, k_offset, width, font, colorbar,
                       "key" if axis_titles else "", "query" if axis_titles else "",
                       LABEL_ROOM * font + 1 if label_every_row else 0.0)


def pooled_attention(weights, allowed, block: int) -> tuple[np.ndarray, np.ndarray]:
    """A (T, T) attention map seen whole, in blocks of ``block`` tokens a side: each cell the weight a
    block's queries give a block's keys (summed over the keys, averaged over the queries: a row still sums
    to 1), and whether the rule ``allowed`` lets any query of the one block read any key of the other.
    Returns (pooled, allowed_blocks), each (ceil(T / block),) a side."""
    w = np.asarray(weights, dtype=float)
    a = np.asarray(allowed, dtype=bool)
    n = w.shape[0]
    b = -(-n // block)
    pad = b * block - n
    w = np.pad(w, ((0, pad), (0, pad)))
    a = np.pad(a, ((0, pad), (0, pad)))
    counts = np.bincount(np.arange(n) // block, minlength=b)  # queries per block: the last may be short
    pooled = w.reshape(b, block, b, block).sum(axis=(1, 3)) / counts[:, None]
    return pooled, a.reshape(b, block, b, block).any(axis=(1, 3))


def attention_overview(weights, allowed, block: int, title: str, *, width: float = WIDTH, font: int = TICK_FONT) -> go.Figure:
    """The whole text's learned attention in blocks of ``block`` tokens (`pooled_attention`), labelled
    by the token positions each block spans ("1-16"): where a sliding-window layer's edge shows, which a
    window of 128 tokens on the diagonal never reaches. Blocks the rule leaves unread are empty."""
    pooled, reach = pooled_attention(weights, allowed, block)
    n = np.asarray(weights).shape[0]
    labels = [f"{i * block + 1}-{min(n, (i + 1) * block)}" for i in range(pooled.shape[0])]
    fig = attention_heatmap(pooled, labels, labels, title, allowed=reach, width=width, font=font)
    fig.update_traces(customdata=[[f"queries {q} → keys {k}" for k in labels] for q in labels],
                      hovertemplate="%{customdata}<br>weight %{z:.3f}<extra></extra>")
    return fig


def sentinel_rows(q_labels: list[str]) -> list[int]:
    """Positions of the decoder's sentinel tokens: each starts the span it must write."""
    return [i for i, t in enumerate(q_labels) if _SENTINEL.match(t)]


def sentinel_table(weights, q_labels: list[str], k_labels: list[str], top: int = 3) -> pd.DataFrame:
    """For each decoder sentinel: the encoder tokens it attends to most, and the weight on its own
    sentinel in the input (the hole the span came from). Special tokens are named as on the maps' axes
    (`special_label`: ⟨s0⟩, ⟨eot⟩), other tokens quoted so that their spaces show."""
    w = np.asarray(weights, dtype=float)
    rows = []

    def named(token: str) -> str:
        short = special_label(token)
        return short if short != token else repr(token)

    for r in sentinel_rows(q_labels):
        order = np.argsort(-w[r])[:top]
        own = [j for j, t in enumerate(k_labels) if t == q_labels[r]]
        rows.append({
            "sentinel": special_label(q_labels[r]),
            "most attended": ", ".join(f"{named(k_labels[j])} {w[r, j]:.2f}" for j in order),
            "weight on its own sentinel": float(w[r, own[0]]) if own else float("nan"),
            "own sentinel rank": int((w[r] > w[r, own[0]]).sum() + 1) if own else 0,
        })
    return pd.DataFrame(rows)


def sentinel_headline(table: pd.DataFrame) -> str:
    """The point of a ``sentinel_table`` in one clause, for a label that shows it folded: one sentinel's
    weight on its twin in the input ("⟨s0⟩ puts 52% of its weight on its twin in the input"), or the mean
    over several; "" when no sentinel has a twin among the keys shown."""
    own = table["weight on its own sentinel"].dropna() if len(table) else pd.Series(dtype=float)
    if not len(own):
        return ""
    if len(table) == 1:
        return f"{table['sentinel'].iloc[0]} puts {own.iloc[0]:.0%} of its weight on its twin in the input"
    return f"on average, {own.mean():.0%} of a sentinel's weight is on its twin in the input"


def sentinel_cross_heatmap(weights, q_labels: list[str], k_labels: list[str], title: str, *, width: float = WIDTH,
                           font: int = TICK_FONT) -> go.Figure:
    """Cross-attention rows of the decoder's sentinels only: where each looks in the encoder's input.
    A row per sentinel, two lines of type tall; the columns share ``width`` (labelled every tick_stride)."""
    w = np.asarray(weights, dtype=float)
    rows = sentinel_rows(q_labels)
    z = w[rows] if rows else np.zeros((0, w.shape[1] if w.ndim == 2 else 0))
    trace = dict(type="heatmap", z=z, x=list(range(z.shape[1])), y=list(range(len(rows))), colorscale=SEQUENTIAL_SCALE, zmin=0, showscale=False,
                 hovertemplate="key %{x}<br>weight %{z:.3f}<extra></extra>")
    margin = token_margin(font)
    row_px = 2 * font * LABEL_ROOM
    layout = _layout(title, int(max(200, 44 + margin + row_px * len(rows))), font=font, margin=dict(l=margin, r=10, b=margin, t=44),
                     xaxis=dict(tickangle=-90, **_ticks(k_labels, axis_px=width - margin - 10, font=font, title="encoder input"), showgrid=False, zeroline=False, automargin=False),
                     yaxis=dict(autorange="reversed", **_ticks([q_labels[r] for r in rows], axis_px=row_px * len(rows), font=font, title="sentinel"),
                                showgrid=False, zeroline=False, automargin=False))
    return _figure([trace], layout)


# category labels upright and whole, a word a line where they would collide (Vega-Lite would drop every other one)
_WRAPPED = alt.Axis(labelAngle=0, labelLimit=0, labelOverlap=False, labelExpr="split(datum.label, ' ')")


def _alt_finish(chart: alt.TopLevelMixin, title: str, height: int, subtitle: str | None = None) -> alt.TopLevelMixin:
    """What every Altair chart shares: the title (and a subtitle) at the left, the house font, the page's width."""
    extra = {"subtitle": subtitle} if subtitle else {}  # sizes from the title config, which layout.chart sets (larger when presenting)
    return chart.properties(title=alt.TitleParams(title, anchor="start", **extra), height=height, width="container",
                            padding={"top": 6, "left": 5, "right": 5, "bottom": 5}).configure(font=FONT)  # the title's type whole inside the chart


def exposure_bar(rows: list[dict], highlight: str | None = None) -> alt.LayerChart:
    """Loss exposure of each objective: the share of the text's tokens that are supervised, with
    supervised/total above each bar; the tooltip also gives the target positions that carry a loss
    (sentinels and EOS included). Drawn with Altair (Vega-Lite): no Plotly on the objectives page.
    ``chart.data``: one row per objective (name, exposure_pct, n_loss_tokens, n_tokens, n_loss_positions, ratio, color, outline)."""
    data = pd.DataFrame({
        "name": [OBJ_NAMES.get(r["label"]) or objective_name(r["label"]) for r in rows],
        "exposure_pct": [100 * r["exposure"] for r in rows],
        "n_loss_tokens": [r["n_loss_tokens"] for r in rows], "n_tokens": [r["n_tokens"] for r in rows],
        "n_loss_positions": [r["n_loss_positions"] for r in rows],
        "ratio": [f"{r['n_loss_tokens']}/{r['n_tokens']}" for r in rows],
        "color": [OBJ_COLORS.get(r["objective"], OKABE_ITO["grey"]) for r in rows],
        "outline": [3 if r["label"] == highlight else 0 for r in rows],
    })
    order = data["name"].tolist()
    x = alt.X("name:N", sort=order, title="objective", axis=_WRAPPED)
    bars = alt.Chart().mark_bar(stroke=OKABE_ITO["yellow"]).encode(
        x=x, y=alt.Y("exposure_pct:Q", title="text tokens supervised (%)", scale=alt.Scale(domain=[0, 112], nice=False),
                 axis=alt.Axis(values=[0, 25, 50, 75, 100])),  # room above 100% for the labels, no tick past it
        color=alt.Color("color:N", scale=None), strokeWidth=alt.StrokeWidth("outline:Q", scale=None),
        tooltip=[alt.Tooltip("name:N", title="objective"), alt.Tooltip("n_loss_tokens:Q", title="text tokens supervised"),
                 alt.Tooltip("n_tokens:Q", title="text tokens"), alt.Tooltip("exposure_pct:Q", title="supervised (%)", format=".1f"),
                 alt.Tooltip("n_loss_positions:Q", title="target positions with a loss")])
    text = alt.Chart().mark_text(dy=-8, baseline="bottom").encode(x=x, y="exposure_pct:Q", text="ratio:N")
    return _alt_finish(alt.layer(bars, text, data=data), "Loss exposure on this text", 340)


def supervision_bar(rows: list[dict]) -> alt.LayerChart:
    """Text tokens supervised per training FLOP (per PFLOP), each objective on the architecture it suits.
    ``chart.data``: name, per_pflop, architecture, n_loss_tokens, n_loss_positions, flops, color."""
    data = pd.DataFrame({
        "name": [OBJ_NAMES.get(r["label"]) or objective_name(r["label"]) for r in rows], "per_pflop": [r["per_pflop"] for r in rows],
        "architecture": [ARCH_NAMES.get(r["architecture"], r["architecture"]) for r in rows],
        "n_loss_tokens": [r["n_loss_tokens"] for r in rows], "n_loss_positions": [r["n_loss_positions"] for r in rows],
        "flops": [r["flops"] for r in rows], "color": [OBJ_COLORS.get(r["objective"], OKABE_ITO["grey"]) for r in rows],
    })
    x = alt.X("name:N", sort=data["name"].tolist(), title=None, axis=_WRAPPED)
    bars = alt.Chart().mark_bar().encode(
        x=x, y=alt.Y("per_pflop:Q", title="text tokens supervised per PFLOP", axis=_SI.copy()), color=alt.Color("color:N", scale=None),
        tooltip=[alt.Tooltip("name:N", title="objective"), alt.Tooltip("architecture:N", title="on"),
                 alt.Tooltip("n_loss_tokens:Q", title="text tokens supervised"), alt.Tooltip("n_loss_positions:Q", title="target positions with a loss"),
                 alt.Tooltip("flops:Q", title="FLOPs", format=".3s")])
    text = alt.Chart().mark_text(dy=-8, baseline="bottom").encode(x=x, y="per_pflop:Q", text=alt.Text("per_pflop:Q", format=".3s"))
    return _alt_finish(alt.layer(bars, text, data=data), "What a unit of compute buys", 340)


def token_count_bar(rows: list[dict]) -> alt.LayerChart:
    """Tokens per encoding for the same text (fewer tokens: a larger or better-fitting vocabulary), a
    horizontal bar each, its count and characters per token beside it. ``chart.data``: label, tokens, text, color."""
    data = pd.DataFrame({
        "label": [r["label"] for r in rows], "tokens": [r["tokens"] for r in rows],
        "text": [f"{r['tokens']:,} · {r['chars_per_token']:.2f} chars/token" if r["tokens"] else "no tokens" for r in rows],
        "color": [SERIES[i % len(SERIES)] for i in range(len(rows))],
    })
    y = alt.Y("label:N", sort=data["label"].tolist(), title=None, axis=alt.Axis(labelLimit=0))
    top = max(1, int(data["tokens"].max()) if len(data) else 1)
    x = alt.X("tokens:Q", title="tokens", scale=alt.Scale(domain=[0, top * 1.45], nice=False))  # room for the text beside the longest bar
    bars = alt.Chart().mark_bar().encode(y=y, x=x, color=alt.Color("color:N", scale=None),
                                         tooltip=[alt.Tooltip("label:N", title="encoding"), alt.Tooltip("tokens:Q", title="tokens", format=",")])
    text = alt.Chart().mark_text(align="left", dx=6).encode(y=y, x=x, text="text:N")
    return _alt_finish(alt.layer(bars, text, data=data), "Tokens per encoding", 60 + 42 * max(1, len(rows)))


def _plain_label(text: str, limit: int = 14) -> str:
    """axis_label without the HTML escaping: Vega draws text as it is (Plotly reads HTML)."""
    return html.unescape(axis_label(text, limit))


def loss_strip(frames: dict[str, pd.DataFrame], vmax: float | None = None, *, width: float = WIDTH, font: int = TICK_FONT) -> alt.Chart:
    """Per-token loss of several models on the same tokens: one row per model, one column per token, an
    unscored token's cell empty. Drawn with Altair (Vega-Lite): no Plotly on the losses page. The columns
    share ``width`` px, labelled every tick_stride tokens (special tokens always); a row is two lines of
    ``font`` px type tall. The colours are html.LOSS_COLORSCALE over 0..``vmax`` nats (default: the 98th
    percentile), the losses above it in the top colour.

    ``chart.data``: model, row, position, token, loss (NaN where unscored), prob, rank. ``chart.usermeta``:
    sized (layout.chart leaves its type alone when presenting) and plot_px, the room the labels were thinned for."""
    names = list(frames)
    parts = [pd.DataFrame({"model": name, "row": r, "position": np.arange(len(df)), "token": [_plain_label(str(t), 20) for t in df["token"]],
                           "loss": np.where(df["scored"].to_numpy(dtype=bool), df["loss"].to_numpy(dtype=float), np.nan),
                           "prob": np.where(df["scored"].to_numpy(dtype=bool), df["prob"].to_numpy(dtype=float), np.nan),
                           "rank": np.where(df["scored"].to_numpy(dtype=bool), df["rank"].to_numpy(dtype=float), np.nan)})
             for r, (name, df) in enumerate(frames.items())]
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "row", "position", "token", "loss", "prob", "rank"])
    n = max((len(df) for df in frames.values()), default=0)
    finite = data["loss"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    top = max(vmax if vmax is not None else (float(np.percentile(finite, 98)) if finite.size else 1.0), 1e-6)
    first = next(iter(frames.values()), pd.DataFrame(columns=["token"]))
    labels = [_plain_label(str(t), LABEL_CHARS) for t in first["token"]]
    left = int(min(200, font * 0.62 * max((len(x) for x in names), default=4) + 16))
    right = _right_margin(font, True)
    shown = tick_positions([str(t) for t in first["token"]], tick_stride(n, width - left - right, font)) if n else []
    lookup = json.dumps(labels, ensure_ascii=False)  # Vega's expressions read an array literal: the label of every position
    row_px = 2 * font * LABEL_ROOM
    x = alt.X("position:O", title="token", scale=alt.Scale(domain=list(range(n)), paddingInner=0.06 if n <= 96 else 0),
              axis=alt.Axis(values=shown, labelExpr=f"{lookup}[datum.value]", labelAngle=-90, labelFontSize=font, titleFontSize=font + 2,
                            labelOverlap=False, labelLimit=int(font * 0.62 * LABEL_CHARS) + 4, ticks=True, grid=False))
    y = alt.Y("model:N", title=None, sort=names, scale=alt.Scale(paddingInner=0.12),
              axis=alt.Axis(labelFontSize=font, labelLimit=left, grid=False))
    color = alt.Color("loss:Q", title="loss (nats)",
                      scale=alt.Scale(domain=[0, top], range=[c for _, c in LOSS_COLORSCALE], clamp=True, nice=False, zero=True),
                      legend=alt.Legend(gradientLength=max(40, int(row_px * len(names)) - 10), labelFontSize=font, titleFontSize=font, tickCount=4))
    chart = alt.Chart(data).mark_rect().encode(
        x=x, y=y, color=color,
        tooltip=[alt.Tooltip("model:N"), alt.Tooltip("position:O", title="token #"), alt.Tooltip("token:N"),
                 alt.Tooltip("loss:Q", format=".2f", title="loss (nats)"), alt.Tooltip("prob:Q", format=".3f", title="p"), alt.Tooltip("rank:Q")])
    # the whole figure's height, as Streamlit fits a Vega-Lite chart to it: the rows, the token labels under them, the title
    height = int(44 + token_margin(font) + row_px * max(1, len(names)))
    return _alt_finish(chart, "Loss per token (magenta: surprising)", height).properties(
        usermeta={"masklab": {"sized": True, "plot_px": width - left - right}})


def _bar_legend() -> alt.Legend:
    """Under the plot, three to a row, a square of each colour."""
    return alt.Legend(orient="bottom", labelLimit=0, symbolType="square", columns=3)


def category_bars(table: pd.DataFrame) -> alt.Chart:
    """Mean loss by token category, one bar per model, grouped by category (Altair: no Plotly on the
    losses page). ``table``: columns variant, category, mean_loss, count; it is ``chart.data``."""
    variants = list(dict.fromkeys(table["variant"]))
    categories = list(dict.fromkeys(table["category"]))
    color = alt.Color("variant:N", title=None, sort=variants, scale=alt.Scale(domain=variants, range=[SERIES[i % len(SERIES)] for i in range(len(variants))]),
                      legend=_bar_legend())
    chart = alt.Chart(table).mark_bar().encode(
        x=alt.X("category:N", sort=categories, title=None, axis=_WRAPPED), xOffset=alt.XOffset("variant:N", sort=variants),
        y=alt.Y("mean_loss:Q", title="mean loss (nats)"), color=color,
        tooltip=[alt.Tooltip("variant:N", title="model"), alt.Tooltip("category:N"), alt.Tooltip("mean_loss:Q", format=".2f", title="mean loss (nats)"),
                 alt.Tooltip("count:Q", title="tokens")])
    return _alt_finish(chart, "Which tokens are hard: mean loss by category", 300)


PROBE_BAND = 34  # px of plot per probe at least: a presenting tick label (18 px) with room, so none is dropped
CHART_CHROME = 110  # px of an Altair chart's height taken by its title, x axis and legend below


def probe_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Per probe and model, log P(right) − log P(wrong) in nats: a bar right of the zero line means the
    model prefers the right word (Altair: no Plotly on the losses page). ``table``: columns variant,
    probe, margin and (optionally) prompt; ``chart.data`` is it, with prompt filled."""
    data = table.assign(prompt=table["prompt"] if "prompt" in table else table["probe"])
    variants = list(dict.fromkeys(data["variant"]))
    probes = list(dict.fromkeys(data["probe"]))
    color = alt.Color("variant:N", title=None, sort=variants, scale=alt.Scale(domain=variants, range=[SERIES[i % len(SERIES)] for i in range(len(variants))]),
                      legend=_bar_legend())
    y = alt.Y("probe:N", sort=probes, title=None, axis=alt.Axis(labelLimit=0))
    bars = alt.Chart().mark_bar().encode(
        y=y, yOffset=alt.YOffset("variant:N", sort=variants), x=alt.X("margin:Q", title="margin (nats)"), color=color,
        tooltip=[alt.Tooltip("variant:N", title="model"), alt.Tooltip("probe:N"), alt.Tooltip("prompt:N", title="prompt"),
                 alt.Tooltip("margin:Q", format="+.2f", title="margin (nats)")])
    zero = alt.Chart().mark_rule(color="#808080", strokeWidth=1).encode(x=alt.datum(0))
    # the plot: a band of at least PROBE_BAND px per probe, so that every probe's label fits (presenting type
    # is 18 px); the title, the x axis and the legend take about CHART_CHROME px of the height besides
    height = int(max(120, 18 * len(probes) * max(1, len(variants)) ** 0.75, PROBE_BAND * len(probes)) + CHART_CHROME)
    return _alt_finish(alt.layer(bars, zero, data=data), "Probes: log P(right) − log P(wrong)", height)



_SI = alt.Axis(labelExpr="datum.value == 0 ? '0' : format(datum.value, '~s')")  # 400M, 1.5G; a bare 0, not "0M"
CHAT_MODELS = {"bidirectional": "bidirectional: re-reads all", "causal": "causal + KV cache: new tokens"}


def chat_cost_chart(table: pd.DataFrame, unit: str, title: str) -> tuple[alt.Chart, alt.Chart]:
    """A bidirectional model's cost next to a causal model with a KV cache: per turn (grouped bars) and
    cumulative (lines), two Altair charts for two columns (Vega-Lite cannot fit a concatenation to its
    container's width). ``table`` has columns turn, bidirectional, causal (per-turn amounts in ``unit``);
    ``chart.data`` of both: turn, model, amount, cumulative (the running sum per model)."""
    long = table.melt(id_vars="turn", value_vars=list(CHAT_MODELS), var_name="model", value_name="amount")
    long["cumulative"] = long.groupby("model")["amount"].cumsum()
    long["model"] = long["model"].map(CHAT_MODELS)
    color = alt.Color("model:N", scale=alt.Scale(domain=list(CHAT_MODELS.values()), range=[OKABE_ITO["vermillion"], OKABE_ITO["blue"]]),
                      # above the plot, a line each: the same room in both charts, so their plots line up, and nothing covered
                      legend=alt.Legend(orient="top", direction="vertical", title=None, labelLimit=0, symbolType="square", symbolSize=120, symbolStrokeWidth=0))
    x = alt.X("turn:O", title="turn", axis=alt.Axis(labelAngle=0))
    tip = [alt.Tooltip("turn:O", title="turn"), alt.Tooltip("model:N", title="model"), alt.Tooltip("amount:Q", title=f"{unit} this turn", format=",.4~s"),
           alt.Tooltip("cumulative:Q", title=f"{unit} so far", format=",.4~s")]
    per_turn = alt.Chart(long).mark_bar().encode(
        x=x, xOffset=alt.XOffset("model:N", sort=list(CHAT_MODELS.values())), y=alt.Y("amount:Q", title=unit, axis=_SI), color=color, tooltip=tip)
    cumulative = alt.Chart(long).mark_line(point=True, strokeWidth=3).encode(
        x=x, y=alt.Y("cumulative:Q", title=f"{unit}, cumulative", axis=_SI), color=color, tooltip=tip)
    return _alt_finish(per_turn, title, 380, "each turn"), _alt_finish(cumulative, "In all", 380, "cumulative, turn by turn")


X_TITLES = {"tokens": "corpus tokens seen", "flops": "training FLOPs", "parameters": "parameters"}


def _count_label(v: float) -> str:
    """20M, 500k, 1.5G; FLOPs and other counts from a trillion up as 2e15."""
    if v >= 1e12:
        mantissa, exponent = f"{v:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:g}{unit}"
    return f"{v:g}"


def _positive(values) -> np.ndarray:
    """The finite, positive numbers among ``values`` (any shape), flat: what a log axis can show."""
    v = np.ravel(np.asarray(values, dtype=float))
    return v[np.isfinite(v) & (v > 0)]


def grid_125(lo: float, hi: float) -> list[float]:
    """1, 2 and 5 times each power of ten from the decade below ``lo`` to the one at or above ``hi``
    (both > 0), ascending: the candidate ticks of a log axis."""
    return [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]


def log_ticks(values) -> dict:
    """Ticks for a log axis over ``values``: 1, 2 and 5 times each power of ten in their range, each
    labelled whole ("20M", "2e15"), where Plotly's own would label 20M as a bare "2". Empty when the
    range holds fewer than two such ticks (Plotly's own then)."""
    v = _positive(values)
    if not len(v):
        return {}
    lo, hi = float(v.min()), float(v.max())
    ticks = [t for t in grid_125(lo, hi) if lo / 1.15 <= t <= hi * 1.15]
    return dict(tickmode="array", tickvals=ticks, ticktext=[_count_label(t) for t in ticks]) if len(ticks) >= 2 else {}


DASHES = {"solid": [1, 0], "dash": [8, 4], "dot": [2, 3], "dashdot": [8, 3, 2, 3]}  # a dash by name, from the smallest size up, as a Vega stroke dash


def _log_scale(values, title: str, padding: int = 0) -> tuple[alt.Scale, alt.Axis]:
    """A log scale and its axis, ticks at 1, 2 and 5 times each power of ten labelled whole (log_ticks:
    "20M", "2e15"), or Vega's own SI labels where the range holds fewer than two of them."""
    t = log_ticks(values)
    if t:
        expr = f"{json.dumps(t['ticktext'])}[indexof({json.dumps(t['tickvals'])}, datum.value)]"
        axis = alt.Axis(title=title, values=t["tickvals"], labelExpr=expr, labelOverlap=False)
    else:
        axis = alt.Axis(title=title, format="~s")
    return alt.Scale(type="log", nice=False, zero=False, padding=padding), axis  # padding: px beyond the data at both ends


def loss_ticks(values) -> list[float]:
    """The labelled values of a log loss axis (nats), the first and the last of them its domain's ends,
    so that no line runs below the lowest label or above the highest (the category-by-size chart's
    lowest line sat under its lowest label). Within a factor of 3: evenly spaced, at most 8, a step of
    1, 2, 2.5 or 5 times a power of ten (3.2-6.5 nats -> 3, 3.5, ..., 6.5); wider: 1, 2 and 5 times each
    power of ten (0.3-9 -> 0.2, 0.5, 1, 2, 5, 10). [] when no value is positive."""
    v = _positive(values)
    if not len(v):
        return []
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 0.1 * lo:  # one value, or nearly: a range around it
        lo, hi = lo * 0.95, hi * 1.05
    if hi <= 3 * lo:
        span = hi - lo
        for step in sorted(m * 10.0 ** e for e in range(math.floor(math.log10(span)) - 2, math.floor(math.log10(span)) + 2) for m in (1, 2, 2.5, 5)):
            first, last = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
            if last == first:
                last += step
            if round((last - first) / step) <= 7:
                return [round(first + i * step, 10) for i in range(round((last - first) / step) + 1)]
    grid = grid_125(lo, hi)
    first = max(t for t in grid if t <= lo * (1 + 1e-9))
    last = min(t for t in grid if t >= hi * (1 - 1e-9))
    return [round(t, 10) for t in grid if first <= t <= last]


def _loss_axis(values, title: str) -> tuple[alt.Scale, alt.Axis]:
    """A log scale for losses (nats) from the first of loss_ticks(values) to the last, each labelled."""
    ticks = loss_ticks(values)
    if not ticks:
        return alt.Scale(type="log", nice=False, zero=False), alt.Axis(title=title, format="~g")
    return (alt.Scale(type="log", nice=False, zero=False, domain=[ticks[0], ticks[-1]]),
            alt.Axis(title=title, values=ticks, format="~g", labelOverlap=False))


def _line_legend() -> alt.Legend:
    """Under the plot, three to a row, each entry a short stretch of its line: colour and dash."""
    return alt.Legend(orient="bottom", title=None, labelLimit=0, symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=400, columns=3)


def _legend_rows(n: int) -> int:
    return -(-n // 3)


def loss_curves(curves: dict[str, pd.DataFrame], x: str = "tokens", styles: dict[str, dict] | None = None, title: str = "Validation loss") -> alt.Chart:
    """Loss (nats) against corpus tokens, training FLOPs or parameters, both axes log, a line per frame
    (its colour and dash from ``styles``: {"color": ..., "dash": "solid" | "dash" | "dot" | "dashdot"}),
    points on each evaluation when there are fewer than 30. Each frame has columns ``x`` and loss.
    ``chart.data``: name, ``x``, loss."""
    names = list(curves)
    parts = [pd.DataFrame({"name": name, x: df[x].to_numpy(dtype=float), "loss": df["loss"].to_numpy(dtype=float)}) for name, df in curves.items()]
    data = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["name", x, "loss"])
    styles = styles or {}
    colors = [styles.get(n, {}).get("color", SERIES[i % len(SERIES)]) for i, n in enumerate(names)]
    dashes = [DASHES.get(styles.get(n, {}).get("dash", "solid"), DASHES["solid"]) for n in names]
    xs, xa = _log_scale(data[x], X_TITLES.get(x, x))
    ys, ya = _loss_axis(data["loss"], "loss (nats, log scale)")
    points = bool(curves) and max(len(df) for df in curves.values()) < 30
    chart = alt.Chart(data).mark_line(strokeWidth=2.5, point=points).encode(
        x=alt.X(f"{x}:Q", scale=xs, axis=xa),
        y=alt.Y("loss:Q", scale=ys, axis=ya),
        color=alt.Color("name:N", sort=names, scale=alt.Scale(domain=names, range=colors), legend=_line_legend()),
        strokeDash=alt.StrokeDash("name:N", sort=names, scale=alt.Scale(domain=names, range=dashes), legend=_line_legend()),
        order=alt.Order(f"{x}:Q"),
        tooltip=[alt.Tooltip("name:N", title="run"), alt.Tooltip(f"{x}:Q", title=X_TITLES.get(x, x), format=".3s"), alt.Tooltip("loss:Q", format=".3f", title="loss (nats)")])
    return _alt_finish(chart, title, 330 + 26 * _legend_rows(len(names)))  # the whole figure's height: the legend's rows take their room


def scaling_scatter(runs: pd.DataFrame) -> alt.LayerChart:
    """Final validation loss (nats) against training FLOPs, both axes log: a line per architecture, a
    point per run, its area growing with the parameters. ``chart.data``: the runs sorted by FLOPs, with
    ``arch``, the architecture's name."""
    data = runs.sort_values("training_flops")
    variants = data["variant"] if "variant" in data else data["architecture"]
    series = variant_series(zip(data["architecture"], variants))  # decoder-clm and decoder-fim: two lines, not one zigzag
    data = data.assign(arch=[series[v][0] for v in variants])
    names = [name for name, _ in series.values()]
    xs, xa = _log_scale(data["training_flops"], "training FLOPs", padding=16)  # room for the largest point at either end
    x = alt.X("training_flops:Q", scale=xs, axis=xa)
    y = alt.Y("final_val_loss:Q", scale=alt.Scale(type="log", nice=False, zero=False, padding=16), axis=alt.Axis(title="final validation loss (nats)", format="~g"))
    color = alt.Color("arch:N", sort=names, scale=alt.Scale(domain=names, range=[c for _, c in series.values()]),
                      legend=alt.Legend(orient="bottom", title=None, labelLimit=0, symbolType="circle"))
    tip = [alt.Tooltip("arch:N", title="architecture"), alt.Tooltip("parameters:Q", format=",", title="parameters"),
           alt.Tooltip("training_flops:Q", format=".3s", title="training FLOPs"), alt.Tooltip("final_val_loss:Q", format=".3f", title="loss (nats)")]
    line = alt.Chart().mark_line(strokeWidth=2).encode(x=x, y=y, color=color, order=alt.Order("training_flops:Q"))
    dots = alt.Chart().mark_circle(opacity=1, stroke="white", strokeWidth=1).encode(
        x=x, y=y, color=color, size=alt.Size("parameters:Q", scale=alt.Scale(type="sqrt", range=[60, 480]), legend=None), tooltip=tip)
    return _alt_finish(alt.layer(line, dots, data=data), "Scaling sweep: final validation loss against training FLOPs", 420)


def trends(frames: dict[str, pd.DataFrame], x: str, tolerance: float = 0.01) -> dict[str, str]:
    """What each series' loss did from its smallest ``x`` to its largest: "falls", "rises" or "flat"
    (the last within ``tolerance`` of the first, relatively). Series with fewer than two points are left out."""
    out = {}
    for name, df in frames.items():
        part = df.dropna(subset=[x, "loss"]).sort_values(x)
        if len(part) < 2:
            continue
        first, last = float(part["loss"].iloc[0]), float(part["loss"].iloc[-1])
        out[name] = "falls" if last < first * (1 - tolerance) else "rises" if last > first * (1 + tolerance) else "flat"
    return out


def trend_sentence(frames: dict[str, pd.DataFrame], x: str, span: str) -> str:
    """One sentence, computed from the data, on which series' loss fell, rose or stayed flat over ``span``
    (e.g. "from the first evaluation to the last"); empty when no series has two points."""
    found = trends(frames, x)
    words = {"falls": "falls for", "rises": "rises for", "flat": "stays within 1% for"}
    parts = [f"{words[t]} {', '.join(n for n, v in found.items() if v == t)}" for t in words if t in found.values()]
    if not parts:
        return ""
    return f"Loss {span}: " + "; ".join(parts) + "."


PARAM_COLORS = {"embeddings": OKABE_ITO["grey"], "attention": OKABE_ITO["blue"], "cross_attention": OKABE_ITO["purple"], "mlp": OKABE_ITO["orange"], "norms": OKABE_ITO["green"]}


def params_bars(table: pd.DataFrame) -> alt.Chart:
    """Parameters by component (stacked), one bar per model: columns model, component, parameters.
    ``chart.data``: the table with component names spelled out ("cross attention")."""
    data = table.assign(component=table["component"].str.replace("_", " "))
    comps = list(dict.fromkeys(data["component"]))
    colors = [PARAM_COLORS.get(c.replace(" ", "_"), OKABE_ITO["sky"]) for c in comps]
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("model:N", sort=list(dict.fromkeys(data["model"])), title=None, axis=_WRAPPED),
        y=alt.Y("sum(parameters):Q", title="parameters", stack="zero", axis=_SI.copy()),
        color=alt.Color("component:N", scale=alt.Scale(domain=comps, range=colors), legend=alt.Legend(orient="bottom", title=None)),
        order=alt.Order("component_order:Q"),
        tooltip=[alt.Tooltip("model:N"), alt.Tooltip("component:N"), alt.Tooltip("parameters:Q", format=",")],
    ).transform_calculate(component_order=f"indexof({comps!r}, datum.component)")
    return _alt_finish(chart, "Parameters by component", 340)


def live_curve(records: list[dict]) -> alt.LayerChart:
    """A training run as it happens: the loss (nats) of each step, and the evaluations as points on a
    dotted line. ``chart.data``: step, loss, series ("training loss" or "validation loss")."""
    rows = [{"step": r["step"], "loss": r["loss"], "series": "training loss"} for r in records if not r.get("eval")]
    rows += [{"step": r["step"], "loss": r["val_loss"], "series": "validation loss"} for r in records if r.get("eval")]
    data = pd.DataFrame(rows, columns=["step", "loss", "series"])
    series = ["training loss", "validation loss"]
    color = alt.Color("series:N", sort=series, scale=alt.Scale(domain=series, range=[OKABE_ITO["blue"], OKABE_ITO["vermillion"]]),
                      legend=alt.Legend(orient="bottom", title=None, labelLimit=0))
    x, y = alt.X("step:Q", title="step"), alt.Y("loss:Q", title="loss (nats)", scale=alt.Scale(zero=False))
    tip = [alt.Tooltip("series:N", title=""), alt.Tooltip("step:Q"), alt.Tooltip("loss:Q", format=".3f", title="loss (nats)")]
    train = alt.Chart().mark_line(strokeWidth=2).encode(x=x, y=y, color=color, tooltip=tip).transform_filter(alt.datum.series == "training loss")
    val = alt.Chart().mark_line(point=alt.OverlayMarkDef(size=80, filled=True), strokeDash=[2, 3]).encode(x=x, y=y, color=color, tooltip=tip).transform_filter(
        alt.datum.series == "validation loss")
    return _alt_finish(alt.layer(train, val, data=data), "Live training run", 320)


def yardstick_table(rows: list[dict]) -> pd.DataFrame:
    """One row per (model, task) from ``assets/yardstick.json``'s rows: loss (nats per word) with its
    95% interval, top-1 with its Wilson interval."""
    out = []
    for r in rows:
        for task in ("continue", "fill", "fill_psm"):  # fill_psm: a FIM decoder's fill in PSM order (the table shows it, the bars do not)
            s = r.get(task) or {}
            if "loss" not in s:
                continue
            out.append({"model": r["variant"], "architecture": r.get("architecture", ""), "objective": r.get("objective", ""), "task": task,
                        "loss": s["loss"], "loss_lo": s["loss_ci"][0], "loss_hi": s["loss_ci"][1],
                        "top1": s["top1"], "top1_lo": s["top1_ci"][0], "top1_hi": s["top1_ci"][1], "n": s["n"]})
    return pd.DataFrame(out)


def yardstick_bars(table: pd.DataFrame) -> alt.LayerChart:
    """Loss (nats per word) on the two tasks, a bar per model and task coloured by architecture (fill:
    paler), 95% intervals as lines. ``table``: yardstick_table's; ``chart.data``: it, with ``task_label``."""
    table = table[table["task"].isin(list(YARDSTICK_TASKS))]
    data = table.assign(task_label=[YARDSTICK_TASKS.get(t, t) for t in table["task"]])
    models = list(dict.fromkeys(data["model"]))
    archs = list(dict.fromkeys(data["architecture"]))
    labels = [YARDSTICK_TASKS[t] for t in YARDSTICK_TASKS]
    x = alt.X("model:N", sort=models, title=None, axis=alt.Axis(labelAngle=0, labelLimit=0))
    offset = alt.XOffset("task_label:N", sort=labels)
    tip = [alt.Tooltip("model:N"), alt.Tooltip("task:N"), alt.Tooltip("loss:Q", format=".2f", title="nats per word"),
           alt.Tooltip("loss_lo:Q", format=".2f", title="95% low"), alt.Tooltip("loss_hi:Q", format=".2f", title="95% high"),
           alt.Tooltip("top1:Q", format=".1%", title="top-1"), alt.Tooltip("n:Q", title="words")]
    bars = alt.Chart().mark_bar().encode(
        x=x, xOffset=offset, y=alt.Y("loss:Q", title="loss (nats per word)", scale=alt.Scale(zero=True)),
        color=alt.Color("architecture:N", scale=alt.Scale(domain=archs, range=[ARCH_COLORS.get(a, OKABE_ITO["grey"]) for a in archs]), legend=None),
        opacity=alt.Opacity("task_label:N", sort=labels, scale=alt.Scale(domain=labels, range=[1.0, 0.5]),
                            legend=alt.Legend(orient="bottom", title=None, labelLimit=0, symbolType="square", symbolFillColor="#9AA0A6")),
        tooltip=tip)
    # a dark line on a pale halo: seen on every bar, in either theme (a dark grey alone vanished on the dark theme's bars)
    halo = alt.Chart().mark_rule(strokeWidth=4.5, color="#FFFFFF", opacity=0.85).encode(x=x, xOffset=offset, y="loss_lo:Q", y2="loss_hi:Q")
    interval = alt.Chart().mark_rule(strokeWidth=1.8, color="#222222").encode(x=x, xOffset=offset, y="loss_lo:Q", y2="loss_hi:Q")
    return _alt_finish(alt.layer(bars, halo, interval, data=data), "Yardstick: loss per held-out word, every model its natural way", 380)


def yardstick_findings(table: pd.DataFrame, rows: list[dict] | None = None) -> list[str]:
    """What the yardstick shows, computed from it: the lowest loss on each task (or a tie), and which
    models gain from the right side (fill below continue).

    With ``rows`` (assets/yardstick.json's, each word's loss kept under ``"words"``) both questions are
    paired differences on the same words, as `fim_findings` words them (`engine.yardstick.paired_difference`:
    a tie is an interval that holds zero); without them, the models' own 95% intervals must not overlap.
    """
    words = {r["variant"]: {t: (r.get(t) or {}).get("words") for t in ("continue", "fill")} for r in rows or []}

    def paired(a: str, task_a: str, b: str, task_b: str):
        wa, wb = words.get(a, {}).get(task_a), words.get(b, {}).get(task_b)
        return paired_difference(wa, wb) if wa and wb and len(wa) == len(wb) else None

    out = []
    for task in ("continue", "fill"):
        part = table[table["task"] == task].sort_values("loss")
        if len(part) < 2:
            continue
        best, second = part.iloc[0], part.iloc[1]
        d = paired(second["model"], task, best["model"], task)
        if d is not None:
            apart = d["ci"][0] > 0
            tied = [best["model"]] + [m for m in part["model"].iloc[1:] if (e := paired(m, task, best["model"], task)) and e["ci"][0] <= 0]
        else:
            apart = best["loss_hi"] < second["loss_lo"]
            tied = part[part["loss_lo"] <= best["loss_hi"]]["model"].tolist()
        if apart:
            gap = (f", {d['mean']:.2f} nats per word lower (95% interval {d['ci'][0]:.2f} to {d['ci'][1]:.2f}, paired over "
                   f"{d['n']:,} words)") if d is not None else ""
            out.append(f"On {task}, {best['model']} is lowest ({best['loss']:.2f} nats per word; next {second['model']}, "
                       f"{second['loss']:.2f}{gap}).")
        else:
            how = "a paired interval holding zero" if d is not None else "within each other's 95% intervals"
            names = " and ".join(tied) if len(tied) == 2 else ", ".join(tied[:-1]) + f" and {tied[-1]}"
            out.append(f"On {task}, {names} tie ({how}; lowest {best['loss']:.2f} nats per word).")
    gains, readers = [], []
    for model, part in table.groupby("model", sort=False):
        if not reads_right_side(part.iloc[0]["architecture"], part.iloc[0].get("objective", "")):
            continue  # a causal decoder or prefix-LM cannot read the words after the gap
        readers.append(model)
        c, f = part[part["task"] == "continue"], part[part["task"] == "fill"]
        if not (len(c) and len(f)):
            continue
        d = paired(model, "fill", model, "continue")
        if d is not None:
            if d["ci"][1] < 0:
                gains.append(f"{model} ({-d['mean']:.2f} nats per word, 95% interval {-d['ci'][1]:.2f} to {-d['ci'][0]:.2f})")
        elif f.iloc[0]["loss_hi"] < c.iloc[0]["loss_lo"]:
            gains.append(f"{model} ({c.iloc[0]['loss'] - f.iloc[0]['loss']:.2f} nats per word)")
    if gains:
        out.append("Reading the words after the gap helps " + ", ".join(gains) + (", paired word by word." if words else "."))
        idle = [m for m in readers if not any(g.startswith(f"{m} (") for g in gains)]
        if idle:
            out.append(f"{', '.join(idle)} read the words after the gap too, yet do no better on fill than on continue.")
    elif readers:
        out.append(f"{', '.join(readers)} read the words after the gap, yet do no better on fill than on continue (95% intervals): "
                   "they have not learned to use them. The decoder-only and prefix-LM cannot read them at all.")
    return out


def reads_right_side(architecture: str, objective: str = "") -> bool:
    """Whether a model reads the words after the gap on the yardstick's fill: encoders, encoder-decoders
    and a decoder trained to fill in the middle (`engine.yardstick.reading`)."""
    return architecture in ("encoder", "encoder_decoder") or reading(architecture, objective) == "decoder-fim"


def fim_findings(rows: list[dict], fim: str = "decoder-fim", causal: str = "decoder-clm",
                 fillers: tuple[str, ...] = ("encoder-mlm", "encdec-span")) -> list[str]:
    """Fill in the middle's two claims (Bavarian et al. 2022) as MaskLab measures them on the yardstick's
    words, each a paired difference with its 95% interval (`engine.yardstick.paired_difference`):
    does FIM cost left-to-right quality (continue: ``fim`` against ``causal``), and does a decoder that
    reads both sides fill as well as the models built to (fill: ``fim`` against each of ``fillers``)?
    ``rows``: assets/yardstick.json's, with per-word losses (``words``); models or words missing: no sentence."""
    by = {r["variant"]: r for r in rows}

    def diff(a: str, b: str, task: str, task_b: str = ""):
        wa, wb = (by.get(a, {}).get(task) or {}).get("words"), (by.get(b, {}).get(task_b or task) or {}).get("words")
        return paired_difference(wa, wb) if wa and wb and len(wa) == len(wb) else None

    def said(d: dict) -> str:
        """The difference's size with its interval in the same direction: "0.06 (0.02–0.10)" for a mean of -0.06."""
        lo, hi = d["ci"] if d["mean"] >= 0 else (-d["ci"][1], -d["ci"][0])
        return f"{abs(d['mean']):.2f} nats per word (95% interval {lo:.2f} to {hi:.2f}, paired over {d['n']:,} words)"

    out = []
    d = diff(fim, causal, "continue")
    if d:
        lo, hi = d["ci"]
        if lo > 0:
            out.append(f"FIM cost left-to-right quality: on continue, {fim} is {said(d)} behind {causal}.")
        elif hi < 0:
            out.append(f"FIM cost no left-to-right quality: on continue, {fim} is {said(d)} ahead of {causal}.")
        else:
            out.append(f"FIM cost no measurable left-to-right quality: on continue, {fim} and {causal} differ by {said(d)}, "
                       "an interval that holds zero.")
    gain = diff(fim, fim, "fill", "continue")
    if gain:
        lo, hi = gain["ci"]
        verdict = (f"helps it by {said(gain)}" if hi < 0 else f"costs it {said(gain)}" if lo > 0
                   else f"changes its loss by {said(gain)}, an interval that holds zero")
        out.append(f"Reading the words after the gap (SPM order: the words after, then the words before and the middle), {fim} "
                   f"fills at {by[fim]['fill']['loss']:.2f} nats per word against its {by[fim]['continue']['loss']:.2f} on the "
                   f"same words from the left alone: the right side {verdict}.")
        psm = diff(fim, fim, "fill_psm", "continue")
        if psm:
            lo, hi = psm["ci"]
            verdict = ("worse than not reading the words after at all" if lo > 0 else "better than the words before alone" if hi < 0
                       else "no different from the words before alone")
            out.append(f"In PSM order (the words before first, the words after next, then the middle) it fills at "
                       f"{by[fim]['fill_psm']['loss']:.2f} nats per word: {verdict}, by {said(psm)}."
                       + (" To fill in PSM order the model must find where the words before ended, across the words after; at this "
                          "size and budget it has not learned to." if lo > 0 else ""))
    for other in fillers:
        d = diff(fim, other, "fill")
        if not d:
            continue
        lo, hi = d["ci"]
        if hi < 0:
            out.append(f"On fill, {fim} beats {other} by {said(d)}.")
        elif lo > 0:
            out.append(f"On fill, {fim} is {said(d)} behind {other}.")
        else:
            out.append(f"On fill, {fim} and {other} differ by {said(d)}, an interval that holds zero: as good as each other.")
    return out


YARDSTICK_TASKS = {"continue": "continue: the last word from the words before", "fill": "fill: a middle word from both sides"}


def yardstick_curve_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run's yardstick at each evaluation, one row per (run, evaluation, task).

    ``runs``: ``assets/scaling.json``'s runs (columns variant, architecture, size, parameters, curve), or the
    shipped cards as `card_runs` lays them out (with a ``label``: the run's name), where each curve point may
    carry ``engine.yardstick``'s result under "yardstick". Columns out: run, variant,
    architecture, size, parameters, step, tokens, flops, task, loss (nats per word), loss_lo, loss_hi (95%),
    top1, n. Empty when no point has a yardstick."""
    out = []
    records = runs.to_dict("records")
    series = variant_series((r["architecture"], r.get("variant") or r["architecture"]) for r in records)
    for run in records:
        label = run.get("label")
        if not isinstance(label, str) or not label:
            label = f"{series[run.get('variant') or run['architecture']][0]} · {run.get('size', int(run['parameters']))}"
        for p in run.get("curve") or []:
            for task in YARDSTICK_TASKS:
                s = (p.get("yardstick") or {}).get(task) or {}
                if "loss" not in s:
                    continue
                out.append({"run": label, "variant": run.get("variant", ""), "architecture": run["architecture"], "size": run.get("size", ""),
                            "parameters": run["parameters"], "step": p.get("step"), "tokens": p.get("tokens"), "flops": p.get("flops"),
                            "task": task, "loss": s["loss"], "loss_lo": s["loss_ci"][0], "loss_hi": s["loss_ci"][1], "top1": s.get("top1"), "n": s.get("n")})
    return pd.DataFrame(out)


def card_runs(cards: dict[str, dict]) -> pd.DataFrame:
    """The shipped models' cards laid out as sweep runs for `yardstick_curve_table`: columns label and
    variant (the card's name), architecture, size, parameters, curve. Cards without a curve are left out."""
    rows = [{"label": name, "variant": name, "architecture": card.get("architecture") or card.get("model_config", {}).get("architecture", ""),
             "size": card.get("train_config", {}).get("size", ""), "parameters": card.get("parameters") or 0, "curve": card.get("curve") or []}
            for name, card in cards.items() if card.get("curve")]
    return pd.DataFrame(rows, columns=["label", "variant", "architecture", "size", "parameters", "curve"])


def yardstick_curves(table: pd.DataFrame, x: str = "flops",
                     title: str = "Yardstick as each sweep run trained: the same held-out words for every architecture", *,
                     width: float = 820) -> alt.FacetChart:
    """The yardstick (nats per word) against training FLOPs (or corpus tokens), continue and fill side by
    side on one loss axis: a line per run, coloured by architecture, dashed by size (solid: the smallest;
    runs of one size, such as two shipped prefix-LMs, by name). Two panels of ``width`` px together
    (Vega-Lite sizes a faceted chart's panels itself, not to its container). ``chart.data``: ``table``
    with ``task_label`` and ``dash`` (the run's dash: solid, dash, dot, dashdot)."""
    dashes = tuple(DASHES)  # by size, from the smallest: as the sweep's loss curves above it
    rank = {}
    # a sweep (several runs of a variant): a line style per size within each variant, a colour per variant; shipped cards
    # (one run a variant): a colour per architecture, and two models of one architecture told apart by their style
    sweep = "variant" in table and len(table) and table[table["variant"].astype(bool)].groupby("variant")["run"].nunique().max() > 1
    family = table["variant"].where(table["variant"].astype(bool), table["architecture"]) if sweep else table["architecture"]
    for _, runs in table.groupby(family, sort=False):
        order = sorted({(p, r) for p, r in zip(runs["parameters"], runs["run"])})  # 0: the smallest
        rank.update({r: dashes[min(i, len(dashes) - 1)] for i, (_, r) in enumerate(order)})
    data = table.assign(task_label=[YARDSTICK_TASKS.get(t, t) for t in table["task"]], dash=[rank.get(r, "solid") for r in table["run"]])
    runs = list(dict.fromkeys(data["run"]))
    series = variant_series(zip(table["architecture"], family))
    color_of = dict(zip(data["run"], [series[f][1] for f in family]))
    xs, xa = _log_scale(data[x] if x in data else [], X_TITLES.get(x, x))
    legend = _line_legend()
    panel = max(160, int((width - 90) / 2))
    chart = alt.Chart(data).mark_line(strokeWidth=2.5).encode(
        x=alt.X(f"{x}:Q", scale=xs, axis=xa), y=alt.Y("loss:Q", title="loss (nats per word)", scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", sort=runs, scale=alt.Scale(domain=runs, range=[color_of[r] for r in runs]), legend=legend),
        strokeDash=alt.StrokeDash("run:N", sort=runs, scale=alt.Scale(domain=runs, range=[DASHES[rank.get(r, "solid")] for r in runs]), legend=legend),
        order=alt.Order(f"{x}:Q"),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("task:N"), alt.Tooltip(f"{x}:Q", format=".3s", title=X_TITLES.get(x, x)),
                 alt.Tooltip("loss:Q", format=".2f", title="nats per word")],
    ).properties(width=panel, height=260).facet(
        column=alt.Column("task_label:N", sort=list(YARDSTICK_TASKS.values()), title=None, header=alt.Header(labelAnchor="start")))
    return (chart.properties(title=alt.TitleParams(title, anchor="start"), padding={"top": 6, "left": 5, "right": 5, "bottom": 5})
            .configure(font=FONT).configure_header(labelFontSize=13))  # a size in the config: layout.chart enlarges it when presenting


BUDGET_TOLERANCE = 0.01  # relative: runs whose budgets differ by less are compute-matched


def yardstick_frontier(table: pd.DataFrame, task: str, x: str = "flops") -> tuple[float, pd.DataFrame]:
    """Which architecture buys most per FLOP on ``task``: the budget every architecture reached (the
    smallest of their largest ``x``), and per architecture the lowest of its runs' losses at their last
    evaluation within that budget (where a run stands then, not the lowest point of a noisy curve: a run
    that ends inside the budget is read at its end, as the table beside the chart reads it), with that
    evaluation's 95% interval, run and ``x``. Runs that end within `BUDGET_TOLERANCE` of the budget reached
    it: compute-matched runs stop a fraction of a step apart (1.40006e15 and 1.40058e15 FLOPs), and such
    a run is read at its end, not one evaluation earlier. Sorted by loss; empty without data."""
    part = table[table["task"] == task].dropna(subset=[x])
    if part.empty:
        return float("nan"), pd.DataFrame()
    budget = float(part.groupby("architecture")[x].max().min())
    at_budget = part[part[x] <= budget * (1 + BUDGET_TOLERANCE)].sort_values(x).groupby("run", sort=False).tail(1)
    best = at_budget.sort_values("loss").groupby("architecture", sort=False).head(1)
    return budget, best.sort_values("loss").reset_index(drop=True)


def yardstick_curve_findings(table: pd.DataFrame, x: str = "flops") -> list[str]:
    """What the yardstick curves show, computed from them: per task, the lowest loss each architecture
    reached within the budget all of them reached, and whether the leader's 95% interval is apart from the
    next one's; and for each architecture whether its largest run ends below its smallest."""
    out = []
    unit = "training FLOPs" if x == "flops" else "corpus tokens"
    for task in YARDSTICK_TASKS:
        budget, best = yardstick_frontier(table, task, x)
        if len(best) < 2:
            continue
        ranked = ", ".join(f"{ARCH_NAMES.get(r['architecture'], r['architecture'])} {r['loss']:.2f}" for r in best.to_dict("records"))
        lead, second = best.iloc[0], best.iloc[1]
        verdict = (f"{ARCH_NAMES.get(lead['architecture'], lead['architecture'])} leads, its 95% interval apart from the next"
                   if lead["loss_hi"] < second["loss_lo"] else
                   f"{ARCH_NAMES.get(lead['architecture'], lead['architecture'])} and {ARCH_NAMES.get(second['architecture'], second['architecture'])} are within each other's 95% intervals")
        shown = f"{budget:.3g}".replace("e+", "e")
        out.append(f"On {task}, within {shown} {unit} (what every architecture reached), the lowest loss per word: {ranked} nats; {verdict}.")
    final = table[table["task"] == "continue"].sort_values(x).groupby("run").tail(1)
    moved = []
    for arch, part in final.groupby("architecture", sort=False):
        if part["parameters"].nunique() < 2:
            continue
        small, large = part.loc[part["parameters"].idxmin()], part.loc[part["parameters"].idxmax()]
        how = ("lower, beyond the 95% intervals" if large["loss_hi"] < small["loss_lo"] else
               "higher, beyond the 95% intervals" if large["loss_lo"] > small["loss_hi"] else "the 95% intervals overlap")
        moved.append(f"{ARCH_NAMES.get(arch, arch)} {small['loss']:.2f} → {large['loss']:.2f} ({how})")
    if moved:
        out.append("On continue, from each architecture's smallest run to its largest at the end of training: " + "; ".join(moved) + ".")
    return out


PATTERN_COLORS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple")]  # the composer's patterns A-D, in order
BLOCK_STATES = {0: "skipped", 1: "partial: computed under the mask", 2: "full: computed, no mask needed"}


def block_grids(grids: list[tuple[str, np.ndarray]], block: int) -> alt.Chart:
    """The blocks FlexAttention computes for each pattern, side by side: ``grids`` is a list of (name,
    (b, b) int grid with 0 skipped, 1 partial, 2 full), from `engine.masks.block_sparsity`. Drawn with
    Altair, a rectangle a block. ``chart.data``: pattern, query_block, key_block, state."""
    rows = [{"pattern": name, "query_block": i, "key_block": j, "state": BLOCK_STATES[int(g[i, j])]}
            for name, g in grids for i in range(g.shape[0]) for j in range(g.shape[1])]
    data = pd.DataFrame(rows, columns=["pattern", "query_block", "key_block", "state"])
    color = alt.Color("state:N", scale=alt.Scale(domain=list(BLOCK_STATES.values()), range=[BLOCKED, OKABE_ITO["sky"], ALLOWED]),
                      legend=alt.Legend(orient="top", title=None, labelLimit=0, direction="horizontal", symbolType="square",
                                        symbolSize=260, symbolStrokeWidth=0, symbolOpacity=1))  # the rects' white edges made the swatches white in the dark theme
    n = max((g.shape[0] for _, g in grids), default=1)
    side = max(150, min(220, 28 * n))  # a 4 x 4 grid read as a stamp at 72 px
    chart = alt.Chart(data).mark_rect(stroke="white", strokeWidth=1).encode(
        x=alt.X("key_block:O", title="key block", axis=alt.Axis(labelAngle=0, labels=n <= 16)),
        y=alt.Y("query_block:O", title="query block", axis=alt.Axis(labels=n <= 16)),
        color=color, tooltip=["pattern", "query_block", "key_block", "state"],
    ).properties(width=side, height=side).facet(column=alt.Column("pattern:N", title=None, sort=[g[0] for g in grids],
                                                                   header=alt.Header(labelFontWeight="bold")))
    # the pattern names' size from the config, which layout.chart raises when presenting (a size set here would win)
    return chart.properties(title=alt.TitleParams("Blocks FlexAttention computes", subtitle=f"blocks of {block} queries x {block} keys",
                                                  anchor="start")).configure(font=FONT).configure_header(labelFontSize=14)


def reach_chart(rows: list[dict]) -> alt.Chart:
    """How many tokens the last token hears from, layer by layer, one line per pattern: ``rows`` of pattern,
    layer (from 1), back (tokens between the last token and the earliest it can hear from) and reach
    (tokens it can hear from), from `engine.masks.layer_reach`."""
    data = pd.DataFrame(rows, columns=["pattern", "layer", "back", "reach"])
    data["line"] = data["pattern"]
    names = list(dict.fromkeys(data["pattern"]))
    chart = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=70, filled=True)).encode(
        x=alt.X("layer:Q", title="layers", axis=alt.Axis(tickMinStep=1, format="d")),
        # from zero, with room above the widest line's top (a line at the plot's edge is cut in half)
        y=alt.Y("reach:Q", title="tokens it hears from", scale=alt.Scale(domain=[0, int(data["reach"].max() * 1.08) + 1], nice=True)),
        color=alt.Color("pattern:N", sort=names, scale=alt.Scale(domain=names, range=PATTERN_COLORS[: len(names)]),
                        legend=alt.Legend(orient="right", title="pattern", labelLimit=0)),
        # dash and width by a copy of the field: on "pattern" itself Vega-Lite merged them into the legend's symbols (9-px dashed
        # outlines drawn as blots); the legend keeps colour and shape
        strokeDash=alt.StrokeDash("line:N", sort=names, scale=alt.Scale(domain=names, range=[[1, 0], [8, 4], [2, 3], [12, 3, 2, 3]][: len(names)]),
                                  legend=None),
        # patterns that reach alike draw the same line: widest first, so each shows as a stripe around the next
        strokeWidth=alt.StrokeWidth("line:N", sort=names, scale=alt.Scale(domain=names, range=[9, 6, 3.5, 1.8][: len(names)]), legend=None),
        shape=alt.Shape("pattern:N", sort=names, scale=alt.Scale(domain=names, range=["circle", "square", "triangle-up", "diamond"][: len(names)]),
                        legend=None),
        tooltip=["pattern", "layer", alt.Tooltip("back:Q", title="tokens back"), alt.Tooltip("reach:Q", title="tokens it hears from")],
    )
    return _alt_finish(chart, "The receptive field, layer by layer", 320, "the tokens whose information reaches the last one, through attention and the residual stream")


def reach_sentence(rows: list[dict], windows: dict[str, int], n: int) -> str:
    """What the receptive-field chart shows for the patterns whose first layer is a causal window, in one
    sentence, from its own ``rows`` (`reach_chart`'s): ``windows`` maps a pattern's name to its w in
    ``causal & window(w)`` (the token and the w before it: information hops w tokens back a layer).
    The number said is the one drawn, measured at the last layer; where it is not layers x w (the text's
    start, or a global layer in the cycle) the sentence says why. "" when no pattern has a window."""
    parts = []
    for name, w in windows.items():
        last = max((r for r in rows if r["pattern"] == name), key=lambda r: r["layer"], default=None)
        if last is None:
            continue
        back, layers = last["back"], last["layer"]
        why = ("" if back == layers * w else ", the start of the text" if back == n - 1 and layers * w >= n - 1
               else ", its other layers reach further" if back > layers * w else "")
        parts.append(f"pattern {name}, window({w}): {back:,} tokens back after {layers} layer{'s' if layers != 1 else ''}{why}")
    if not parts:
        return ""
    return ("A causal window(w) reads the token and the w before it, so each layer carries information w tokens further: after L "
            f"layers, up to L × w tokens back ({'; '.join(parts)}; on this text of {n:,} tokens).")


def loss_change(plain: pd.DataFrame, through: pd.DataFrame, pattern: str) -> alt.Chart:
    """Per token, how much more (or less) loss a model has when it reads through ``pattern`` than through
    its own mask: ``plain`` and ``through`` are `engine.score` frames of the same text and model. Bars
    above zero: tokens the pattern hurts. ``chart.data``: position, token, plain, through, change (nats)."""
    data = pd.DataFrame({"position": plain["position"], "token": [_plain_label(t, 14) for t in plain["token"]],
                         "plain": plain["loss"], "through": through["loss"].to_numpy()[: len(plain)]})
    data["change"] = data["through"] - data["plain"]
    data = data.dropna(subset=["change"])
    data["label"] = [f"{t} ·{p}" for t, p in zip(data["token"], data["position"])]  # unique, so a repeated token keeps its own bar
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("label:N", title=None, sort=None, axis=alt.Axis(labelAngle=-90, labels=len(data) <= 48, ticks=False)),
        y=alt.Y("change:Q", title="loss added (nats)"),  # a title no longer than the plot is tall
        color=alt.condition("datum.change > 0", alt.value(OKABE_ITO["vermillion"]), alt.value(OKABE_ITO["blue"])),
        tooltip=["position", "token", alt.Tooltip("plain:Q", format=".2f", title="loss, own mask"),
                 alt.Tooltip("through:Q", format=".2f", title=f"loss, {pattern}"), alt.Tooltip("change:Q", format="+.2f")],
    )
    # the token labels, turned upright, take ~110 px of the height: the bars keep ~190 of it
    return _alt_finish(chart, "What each token loses", 360, f"through {pattern}, against the mask it was trained with")
