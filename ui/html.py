"""HTML builders for token chips, interlinear rows and diagrams. Pure functions: strings in, HTML out.

Everything taken from the user's text passes through `esc` (``html.escape`` with quotes), so typed
``<script>`` or ``<|endoftext|>`` shows as the characters typed. Chips use light fills with dark
text, which read the same on the light and the dark theme.
"""

import bisect
import html
import math
import re
import unicodedata

import regex  # tiktoken's own dependency; knows grapheme clusters (\X)
from plotly.colors import convert_to_RGB_255, find_intermediate_color, label_rgb, sample_colorscale, validate_colors

# Light tints of the Okabe-Ito colours: neighbouring tokens differ without any hue carrying meaning.
CHIP_FILLS = ("#F6DCA6", "#C9E6F7", "#B8E3D5", "#F7F0B5", "#BBD3EA", "#F4CDB6", "#EDD3E3")
KIND_LABELS = {
    "mask": "replaced by <|mask|>",
    "random": "replaced by a random token",
    "kept": "chosen but kept as it was",
    "sentinel": "sentinel: a span was cut out here",
    "fim": "fill-in-the-middle token: marks prefix, suffix and middle",
    "middle": "the middle, moved to the end: written after both sides",
    "mode": "UL2 mode token",
    "eos": "end of sequence",
    "prefix": "prefix: read bidirectionally, no loss",
    "target": "target: predicted left to right",
}

STYLE = """
<style>
.ml-chips{line-height:2.25;font-size:1.02rem;word-break:break-word}
.ml-chip{display:inline-block;padding:0 .22em;margin:.1em .07em;border-radius:.32em;color:#14161a;
  white-space:pre;font-family:'JetBrains Mono','Fira Code',ui-monospace,Menlo,Consolas,monospace;font-size:.92em;
  border:1px solid rgba(0,0,0,.10);line-height:1.6;vertical-align:middle}
.ml-ws{opacity:.5}
.ml-lsp::before,.ml-sp::before{content:" "}
.ml-group{display:inline-block;border:2px dashed #D55E00;border-radius:.45em;padding:0 .1em;margin:0 .12em;vertical-align:middle}
.ml-group .ml-char{font-size:.8em;padding:0 .25em;opacity:.85}
.ml-group .ml-cps{font-family:'JetBrains Mono',ui-monospace,Menlo,Consolas,monospace;font-size:.68em;opacity:.75;padding:0 .25em}
.ml-bytes{background-image:repeating-linear-gradient(135deg,rgba(0,0,0,.07) 0 4px,transparent 4px 8px)}
.ml-id{display:block;font-size:.62em;opacity:.7;line-height:1.1;text-align:center}
.k-mask{background:#0072B2!important;color:#fff!important;font-weight:600}
.k-random{background:#E69F00!important;color:#14161a!important;font-weight:600}
.k-kept{outline:2px dashed #0072B2;outline-offset:-2px}
.k-sentinel{background:#CC79A7!important;color:#14161a!important;font-weight:600}
.k-mode{background:#F0E442!important;font-weight:700}
.k-eos{background:#999!important;color:#fff!important}
.k-prefix{background:#B8E3D5!important}
.k-fim{background:#56B4E9!important;color:#14161a!important;font-weight:600}
.k-middle{background:repeating-linear-gradient(135deg,#E69F00 0 6px,#F0B94D 6px 9px)!important;color:#14161a!important;font-weight:600}
.k-target{background:#F4CDB6!important}
.k-loss{box-shadow:inset 0 -4px 0 #D55E00;font-weight:600}
.k-noloss{opacity:.42}
.ml-row{margin:.2em 0 .8em 0}
.ml-rowlabel{font-size:.78rem;letter-spacing:.04em;text-transform:uppercase;opacity:.75;margin-bottom:.1em}
.ml-inter{display:flex;flex-wrap:wrap;gap:.35em .12em;align-items:flex-start}
.ml-col{display:inline-flex;flex-direction:column;align-items:stretch;gap:2px}
.ml-col .ml-chip{margin:0;text-align:center}
.ml-cell{display:block;font-size:.72em;text-align:center;border-radius:.25em;padding:0 .25em;
  font-family:ui-monospace,Menlo,Consolas,monospace;min-width:2.2em}
.ml-cell.na{opacity:.35;border:1px dotted currentColor}
.ml-legend{display:flex;flex-wrap:wrap;gap:.4em 1.2em;font-size:.85rem;margin:.3em 0 .6em 0;opacity:.9}
.ml-legend .ml-chip{font-size:.8em}
.ml-table{border-collapse:collapse;width:100%;font-size:.95rem}
.ml-table th,.ml-table td{border-bottom:1px solid rgba(128,128,128,.3);padding:.45em .6em;text-align:left;vertical-align:top}
.ml-table td.on{background:rgba(0,158,115,.16);font-weight:600}
.ml-table td.off{opacity:.55}
.ml-transcript{margin:.2rem 0 .6rem}.ml-turn{padding:.2rem 0;border-bottom:1px solid rgba(128,128,128,.25);line-height:1.4}
.ml-turn b{display:inline-block;min-width:5.5em;opacity:.8}
.ml-grid{overflow-x:auto;margin:.2rem 0 .8rem}
.ml-grid table{border-collapse:collapse;font-size:1rem;line-height:1.35;width:auto}
.ml-grid th{font-weight:600;text-align:left;border-bottom:2px solid rgba(128,128,128,.6);padding:.25rem .7rem}
.ml-grid td{border-bottom:1px solid rgba(128,128,128,.35);padding:.25rem .7rem;vertical-align:top}
.ml-grid .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ml-card{border:1px solid rgba(128,128,128,.35);border-radius:.8em;padding:.9em 1em;min-height:21em}
.ml-card h4{margin:.1em 0 .3em 0;padding:0;white-space:nowrap;font-size:1.4rem}
.ml-card p{margin:.2em 0;font-size:.93rem}
.ml-svg text{fill:currentColor}
.ml-gen{font-family:Georgia,'Times New Roman',serif;font-size:1.12rem;line-height:1.7}
.ml-flow{display:flex;flex-wrap:wrap;align-items:stretch;gap:.4em;margin:.4em 0 .6em 0}
.ml-flow .box{border:1px solid rgba(128,128,128,.45);border-radius:.6em;padding:.5em .75em;min-width:8.5em;flex:1}
.ml-flow .what{font-size:.78rem;letter-spacing:.05em;text-transform:uppercase;opacity:.75}
.ml-flow .shape{font-family:'JetBrains Mono',ui-monospace,Menlo,Consolas,monospace;font-size:1.02rem;font-weight:600;margin:.15em 0}
.ml-flow .note{font-size:.82rem;opacity:.8}
.ml-flow .arrow{align-self:center;font-size:1.3rem;opacity:.6}
.ml-gen .new{background:rgba(0,114,178,.18);border-bottom:2px solid #0072B2}
</style>
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and its noun, singular for one: "1 position", "12 positions", "1,024 tokens"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def md_plain(text) -> str:
    """``text`` quoted as plain words for a Markdown message (a refused value in a notice): in curly
    quotes, every ASCII punctuation mark backslash-escaped (``<`` and ``>`` as entities) so that nothing
    becomes markup or one of Streamlit's directives, and a zero-width space after each ".", ":" and "@"
    so that nothing becomes a link. Line breaks become spaces."""
    body = " ".join(str(text).split())
    body = re.sub(r"([!-/:-@\[-`{-~])", lambda m: {"<": "&lt;", ">": "&gt;"}.get(m[1], "\\" + m[1]), body)
    body = re.sub(r"(\\[.:@])", "\\1\u200b", body)
    return f"“{body}”"


INVISIBLE = {"\u200b": "ZWSP", "\u200c": "ZWNJ", "\u200d": "ZWJ", "\u2060": "WJ", "\ufeff": "BOM", "\u00ad": "SHY",
             "\u200e": "LRM", "\u200f": "RLM", "\ufe0f": "VS16", "\ufe0e": "VS15"}


def invisible_name(ch: str) -> str | None:
    """A short name for a character that draws nothing (a zero-width joiner, a control, a format or
    variation character): ‹ZWJ›, or ‹U+2066› for one without a short name; None for a visible one."""
    if ch in INVISIBLE:
        return INVISIBLE[ch]
    if ch not in "\n\t\r" and unicodedata.category(ch) in ("Cc", "Cf", "Mn") and not unicodedata.combining(ch) or 0xFE00 <= ord(ch) <= 0xFE0F:
        return f"U+{ord(ch):04X}"
    return None


def code_points(text: str) -> str:
    """``"U+1F469 U+200D U+1F467"``: each code point of ``text``."""
    return " ".join(f"U+{ord(ch):04X}" for ch in text)


# On a page whose chips leave their spaces to the style (``show_ws=None``), this shows them as ·: a
# toggle that adds or removes this changes no chip, so the browser keeps every chip as it was.
SHOW_SPACES = "<style>.ml-lsp::before,.ml-sp::before{content:'·';opacity:.5}</style>"


def visible(text: str, show_ws: bool | None) -> str:
    """A token's text, escaped, with line breaks and tabs always shown as glyphs, spaces on request, and
    characters that draw nothing (a zero-width joiner) always named: ‹ZWJ›. ``show_ws``: True, each
    space as ·; False, as a space; None, as an empty ``ml-sp`` element that the page's style draws
    (a space, or · where ``SHOW_SPACES`` is on the page)."""
    out = []
    for ch in text:
        name = invisible_name(ch)
        if name:
            out.append(f'<span class="ml-ws" title="{code_points(ch)}">‹{name}›</span>')
        elif ch == "\n":
            out.append('<span class="ml-ws">↵</span>')
        elif ch == "\t":
            out.append('<span class="ml-ws">⇥</span>')
        elif ch == "\r":
            out.append('<span class="ml-ws">␍</span>')
        elif ch == " " and show_ws:
            out.append('<span class="ml-ws">·</span>')
        elif ch == " " and show_ws is None:
            out.append('<span class="ml-sp"></span>')
        else:
            out.append(esc(ch))
    return "".join(out)


def chip(text: str, *, fill: str | None = None, classes: str = "", title: str = "", show_ws: bool | None = False, sub: str = "") -> str:
    """One token as a chip. ``show_ws`` as for visible(); with None, a leading space (most tokens of
    byte-level BPE: " the") is drawn by the chip's own ``ml-lsp`` class, with no element of its own."""
    style = f' style="background:{fill}"' if fill else ""
    tip = f' title="{esc(title)}"' if title else ""
    if show_ws is None and text.startswith(" "):
        classes, rest = f"{classes} ml-lsp".strip(), text[1:]
    else:
        rest = text
    body = visible(rest, show_ws) if text else '<span class="ml-ws">∅</span>'
    below = f'<span class="ml-id">{esc(sub)}</span>' if sub else ""
    return f'<span class="ml-chip {classes}"{style}{tip}>{body}{below}</span>'


def token_chips(text: str, tokens, *, show_ws: bool | None = False, show_ids: bool = False, limit: int | None = None) -> str:
    """Coloured chips, one per token. Tokens that only together make a character (an emoji split
    into bytes) are boxed together, with the character they spell. ``show_ws`` as for chip()."""
    shown = tokens[:limit] if limit else tokens
    groups: dict[int, list] = {}
    for t in shown:
        groups.setdefault(t.group, []).append(t)
    parts = []
    for members in groups.values():
        chips = []
        for t in members:
            kind = "a byte piece of a character" if t.partial else "token"
            title = f"#{t.index} · id {t.id} · {len(t.bytes)} byte(s) · {kind}"
            fill = CHIP_FILLS[t.index % len(CHIP_FILLS)]
            chips.append(chip(t.text, fill=fill, classes="ml-bytes" if t.partial else "", title=title, show_ws=show_ws, sub=str(t.id) if show_ids else ""))
        if len(members) > 1 and any(t.partial for t in members):
            start, end = members[0].start, members[-1].end
            char = text[start:end]
            graphemes = "one grapheme" if _one_grapheme(char) else "graphemes"
            title = f"{graphemes} of {end - start} code point(s), {code_points(char)}, spelled by {len(members)} tokens"
            cps = f'<span class="ml-cps">{code_points(char)}</span>' if end - start > 1 else ""
            parts.append(f'<span class="ml-group" title="{esc(title)}"><span class="ml-char">{esc(char)}</span>{cps}{"".join(chips)}</span>')
        else:
            parts.extend(chips)
        if any("\n" in t.text for t in members):
            parts.append("<br>")
    more = f' <span class="ml-ws">… {len(tokens) - len(shown):,} more tokens</span>' if limit and len(tokens) > limit else ""
    return f'<div class="ml-chips">{"".join(parts)}{more}</div>'


def _one_grapheme(chars: str) -> bool:
    """Whether ``chars`` is one user-perceived character (one grapheme cluster, however many code points)."""
    return len(regex.findall(r"\X", chars)) <= 1


def legend(kinds) -> str:
    items = [f'{chip("tok", classes=f"k-{k}")} {esc(KIND_LABELS.get(k, k))}' for k in kinds]
    return f'<div class="ml-legend">{"".join(f"<span>{i}</span>" for i in items)}</div>'


def row(label: str, body: str) -> str:
    return f'<div class="ml-row"><div class="ml-rowlabel">{esc(label)}</div>{body}</div>'


def kind_chips(texts: list[str], kinds: list[str], *, titles: list[str] | None = None, show_ws: bool = False) -> str:
    """Chips styled by what happened to each token (``Corruption.kinds``: "mask", "sentinel", ...)."""
    chips = []
    for i, (t, k) in enumerate(zip(texts, kinds)):
        title = (titles[i] if titles else "") or KIND_LABELS.get(k, "")
        chips.append(chip(t, fill=CHIP_FILLS[i % len(CHIP_FILLS)] if not k else None, classes=f"k-{k}" if k else "", title=title, show_ws=show_ws))
    return f'<div class="ml-chips">{"".join(chips)}</div>'


def loss_marked_chips(texts: list[str], receives_loss: list[bool], *, show_ws: bool = False) -> str:
    """The original text with the tokens that send a training signal underlined and the rest faded."""
    chips = [
        chip(t, fill=CHIP_FILLS[i % len(CHIP_FILLS)], classes="k-loss" if hit else "k-noloss", title="receives loss" if hit else "no loss", show_ws=show_ws)
        for i, (t, hit) in enumerate(zip(texts, receives_loss))
    ]
    return f'<div class="ml-chips">{"".join(chips)}</div>'


def interlinear(tops: list[str], bottoms: list[str], *, top_kinds: list[str] | None = None, show_ws: bool = False) -> str:
    """Two aligned rows: what the model reads at each position over what it must predict there."""
    cols = []
    for i, (top, bottom) in enumerate(zip(tops, bottoms)):
        kind = top_kinds[i] if top_kinds else ""
        upper = chip(top, fill=None if kind else CHIP_FILLS[i % len(CHIP_FILLS)], classes=f"k-{kind}" if kind else "", title=KIND_LABELS.get(kind, ""), show_ws=show_ws)
        if bottom is None:
            lower = '<span class="ml-cell na">–</span>'
        else:
            lower = chip(bottom, classes="k-loss", fill="#FFFFFF", title="must predict this", show_ws=show_ws)
        cols.append(f'<span class="ml-col">{upper}{lower}</span>')
    return f'<div class="ml-inter">{"".join(cols)}</div>'


# The loss colour scale, shared by the chips and the charts: plasma from yellow (0.95, no surprise) to
# magenta (0.40, most surprise), perceptually uniform and readable with colour blindness. It stops at
# magenta rather than plasma's dark navy so that the most surprising cells keep a contrast of at least
# 3:1 (WCAG's bar for graphics) on the dark theme's background as on the light one's.
LOSS_COLORSCALE = [[k / 8, c] for k, c in enumerate(sample_colorscale("plasma", [0.95 - 0.55 * k / 8 for k in range(9)]))]
THEME_BACKGROUNDS = {"light": "#FFFFFF", "dark": "#111418"}  # .streamlit/config.toml


def relative_luminance(color: str) -> float:
    """WCAG 2's relative luminance of "#RRGGBB" or "rgb(r, g, b)"."""
    if color.startswith("#"):
        rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    else:
        rgb = [int(float(v)) for v in color[color.index("(") + 1 : -1].split(",")]
    lin = [v / 255 / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


_LOSS_STOPS = [k for k, _ in LOSS_COLORSCALE]
_LOSS_TUPLES = validate_colors([c for _, c in LOSS_COLORSCALE], colortype="tuple")


def _loss_fill(x: float) -> str:
    """``sample_colorscale(LOSS_COLORSCALE, [x])[0]``: the same interpolation and rounding, without
    re-validating the scale for every token (a page colours thousands of cells)."""
    high = max(1, bisect.bisect_left(_LOSS_STOPS, x))
    low = high - 1
    t = (x - _LOSS_STOPS[low]) / (_LOSS_STOPS[high] - _LOSS_STOPS[low])
    return label_rgb(convert_to_RGB_255(find_intermediate_color(_LOSS_TUPLES[low], _LOSS_TUPLES[high], t)))


def loss_color(loss: float, vmax: float) -> tuple[str, str]:
    """(fill, text colour) for a loss on `LOSS_COLORSCALE`: a surprising token is dark magenta."""
    if loss is None or not math.isfinite(loss):
        return "transparent", "inherit"
    x = min(max(loss / max(vmax, 1e-6), 0.0), 1.0)
    fill = _loss_fill(x)
    r, g, b = (int(v) for v in fill[fill.index("(") + 1 : -1].split(","))
    text = "#14161a" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"
    return fill, text


def _loss_title(name: str, token: str, row) -> str:
    if not row["scored"]:
        return f"{name}: {token!r} is context (not scored)"
    top = ", ".join(f"{t!r} {p:.2f}" for t, p in row["top_k"])
    return f"{name}: {token!r}\nloss {row['loss']:.2f} nats · p {row['prob']:.3f} · rank {row['rank']}\ntop: {top}"


def loss_interlinear(frames: dict, *, vmax: float, show_ws: bool = False, start: int = 0, stop: int | None = None) -> str:
    """Each token once, with one coloured cell per model beneath it: the models' losses line up.

    ``frames`` maps a model's name to its scores (engine.score's columns), all over the same tokens.
    """
    names = list(frames)
    if not names:
        return ""
    first = frames[names[0]]
    stop = len(first) if stop is None else min(stop, len(first))
    records = {n: frames[n].to_dict("records") for n in names}
    cols = []
    for i in range(start, stop):
        token = str(first["token"].iloc[i])
        cells = []
        for n in names:
            r = records[n][i]
            if r["scored"] and math.isfinite(r["loss"]):
                fill, fg = loss_color(r["loss"], vmax)
                cells.append(f'<span class="ml-cell" style="background:{fill};color:{fg}" title="{esc(_loss_title(n, token, r))}">{r["loss"]:.1f}</span>')
            else:
                cells.append(f'<span class="ml-cell na" title="{esc(_loss_title(n, token, r))}">–</span>')
        head = chip(token, fill=CHIP_FILLS[i % len(CHIP_FILLS)], title=f"#{i}", show_ws=show_ws)
        cols.append(f'<span class="ml-col">{head}{"".join(cells)}</span>')
    return f'<div class="ml-inter">{"".join(cols)}</div>'


def color_scale_legend(vmax: float) -> str:
    stops = [loss_color(vmax * k / 4, vmax)[0] for k in range(5)]
    bar = f'<span style="display:inline-block;width:9em;height:.8em;border-radius:.2em;background:linear-gradient(90deg,{",".join(stops)});vertical-align:middle"></span>'
    return f'<div class="ml-legend"><span>loss 0 {bar} ≥ {vmax:.1f} nats (hover a cell for p, rank and the top guesses)</span></div>'


def shape_flow(steps: list[tuple[str, str, str]]) -> str:
    """Boxes joined by arrows: (what, shape, note) for each step the data takes through a model."""
    boxes = [f'<div class="box"><div class="what">{esc(w)}</div><div class="shape">{esc(s)}</div><div class="note">{esc(n)}</div></div>' for w, s, n in steps]
    return f'<div class="ml-flow">{"<div class=arrow>→</div>".join(boxes)}</div>'


def conversation(turns) -> str:
    """A chat's turns, (role, message) pairs, as a transcript in the page's type: the role in bold before
    each message. Text is escaped."""
    lines = "".join(f'<div class="ml-turn"><b>{esc(role)}</b> {esc(message)}</div>' for role, message in turns)
    return f'<div class="ml-transcript">{lines}</div>'


def generation(prompt: str, continuation: str) -> str:
    tail = prompt[-600:]
    lead = "…" if len(prompt) > 600 else ""
    return f'<div class="ml-gen">{lead}{esc(tail)}<span class="new">{esc(continuation)}</span></div>'


def mini_mask_svg(mask, *, size: int = 112, color: str = "#0072B2", split: int | None = None) -> str:
    """A small square picture of an allowed-attention mask, for the home page's family cards."""
    rows = [[bool(x) for x in r] for r in mask]
    n = len(rows)
    cell = size / max(n, 1)
    rects = []
    for i, r in enumerate(rows):
        for j, allowed in enumerate(r):
            fill = color if allowed else "rgba(128,128,128,0.14)"
            rects.append(f'<rect x="{j * cell:.2f}" y="{i * cell:.2f}" width="{cell - 1:.2f}" height="{cell - 1:.2f}" rx="1.5" fill="{fill}"/>')
    line = ""
    if split:
        x = split * cell - 0.5
        line = f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{size}" stroke="#E69F00" stroke-width="2"/>'
    return f'<svg width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img">{"".join(rects)}{line}</svg>'


SWITCHES = {
    "a": ("shared_attention", "One attention", "Share cross- and self-attention: one attention, with one set of weights, over [input; target]."),
    "b": ("shared_params", "Shared weights", "Share encoder and decoder parameters: the decoder's layers are the encoder's layers."),
    "c": ("layerwise_cross", "Layer i reads layer i", "Decoder layer i reads encoder layer i, instead of every decoder layer reading the encoder's last layer."),
    "d": ("causal_input", "Causal input", "Make the encoder's self-attention causal (left to right)."),
}

COMPARISON = [
    ("a", "extra cross-attention", "separate cross-attention", "self-attention serves both roles"),
    ("b", "parameter sharing", "separate parameters for input and target", "shared parameters"),
    ("c", "target-to-input attention", "attends only to the encoder's last layer", "within layer (layer i to layer i)"),
    ("d", "input attention", "bidirectional", "causal (bidirectional = prefix-LM)"),
]


def comparison_table(on: str) -> str:
    """STORY.md's table; in each row the cell that describes the current model is highlighted."""
    rows = []
    for letter, what, ed, dec in COMPARISON:
        flipped = letter in on
        rows.append(
            f'<tr><td>({letter}) {esc(what)}</td><td class="{"off" if flipped else "on"}">{esc(ed)}</td><td class="{"on" if flipped else "off"}">{esc(dec)}</td></tr>'
        )
    head = "<tr><th>difference</th><th>encoder-decoder</th><th>decoder-only</th></tr>"
    return f'<table class="ml-table">{head}{"".join(rows)}</table>'


def switch_diagram(on: str, n_layer: int = 3) -> str:
    """An SVG of the model the switches describe: input stack, target stack, and what connects them.

    Encoder layers (blue) on the left, decoder layers on the right: with (b) they are the same
    layers (drawn in the encoder's colour, dashed); purple arrows run from the encoder's last layer
    to every decoder layer, or layer to layer with (c), into a separate cross-attention block, which
    (a) folds into the decoder's one attention; (d) turns the input's attention causal.
    """
    a, b, c, d = ("a" in on), ("b" in on), ("c" in on), ("d" in on)
    W, step, bh, bw = 580, 64, 46, 235  # a box holds its longest label at 14 px beside the cross-attention block
    H = 44 + step * n_layer + 34
    enc_x, dec_x = 20, W - 20 - bw
    enc_col, dec_col = "#0072B2", ("#0072B2" if b else "#D55E00")
    parts = [f'<svg class="ml-svg" viewBox="0 0 {W} {H}" width="100%" style="max-width:{W}px;font-family:inherit" role="img" aria-label="diagram of the model">']
    parts.append('<defs><marker id="ml-ar" markerWidth="9" markerHeight="9" refX="8" refY="4.5" orient="auto"><path d="M0,0 L9,4.5 L0,9 z" fill="#CC79A7"/></marker></defs>')
    parts.append(f'<text x="{enc_x + bw / 2}" y="26" text-anchor="middle" font-size="17" font-weight="700">input</text>')
    parts.append(f'<text x="{dec_x + bw / 2}" y="26" text-anchor="middle" font-size="17" font-weight="700">target</text>')

    def y_of(i):  # layer 1 at the bottom, as data flows up
        return 44 + step * (n_layer - 1 - i)

    for i in range(n_layer):
        y = y_of(i)
        enc_label = f"{i + 1} · " + ("causal self-attention" if d else "bidirectional self-attention")
        dec_label = f"{i + 1} · " + ("joint attention" if a else "causal self-attention" if not b else "causal, shared weights") + (" (shared)" if a and b else "")
        parts.append(f'<rect x="{enc_x}" y="{y}" width="{bw}" height="{bh}" rx="9" fill="{enc_col}" fill-opacity="0.16" stroke="{enc_col}" stroke-width="2"/>')
        parts.append(f'<text x="{enc_x + bw / 2}" y="{y + 29}" text-anchor="middle" font-size="14">{esc(enc_label)}</text>')
        dash = ' stroke-dasharray="7 4"' if b else ""
        parts.append(f'<rect x="{dec_x}" y="{y}" width="{bw}" height="{bh}" rx="9" fill="{dec_col}" fill-opacity="0.16" stroke="{dec_col}" stroke-width="2"{dash}/>')
        # beside the cross-attention block, not over it (centred, a long label ran under it and out of the box)
        parts.append(f'<text x="{dec_x + 44 if not a else dec_x + bw / 2}" y="{y + 29}" text-anchor="{"start" if not a else "middle"}" '
                     f'font-size="14">{esc(dec_label)}</text>')
        entry = dec_x - 4
        if not a:  # the separate cross-attention block each decoder layer has
            parts.append(f'<rect class="xattn" x="{dec_x + 6}" y="{y + 8}" width="30" height="{bh - 16}" rx="5" fill="#CC79A7" fill-opacity="0.45" stroke="#CC79A7"/>')
            entry = dec_x + 4
        source = y_of(i) if c else y_of(n_layer - 1)
        parts.append(f'<line x1="{enc_x + bw + 2}" y1="{source + bh / 2}" x2="{entry}" y2="{y + bh / 2}" stroke="#CC79A7" stroke-width="2.5" marker-end="url(#ml-ar)"/>')
    caption = " · ".join([
        "one attention over input and target" if a else "separate cross-attention",
        "shared weights" if b else "separate weights",
        "layer i reads layer i" if c else "all read the last input layer",
        "causal input" if d else "bidirectional input",
    ])
    parts.append(f'<text x="{W / 2}" y="{H - 10}" text-anchor="middle" font-size="13" opacity="0.8">{esc(caption)}</text>')
    parts.append("</svg>")
    return "".join(parts)
