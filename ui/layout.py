"""What every page shares: the header, the one text box, presentation mode, and placing a chart."""

import contextlib
import html
import logging

import altair as alt
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import state
from ui.export import csv_bytes
from ui.html import STYLE, md_plain

# Presenting: larger type; Streamlit's header (its running sign, the menu with the theme) stays but draws
# nothing of its own; anything that runs over a second says so at the top of the screen, where the
# audience looks: "Working…" by itself, or the spinner that names what runs ("Scoring every token…").
PRESENTATION_CSS = """
<style>
html{font-size:20px}
[data-testid="stHeader"]{background:transparent!important}
[data-testid="stDecoration"]{display:none}
[data-testid="stApp"][data-test-script-state="running"]::before{content:"Working…";position:fixed;top:.4rem;left:50%;transform:translateX(-50%);
  z-index:999991;background:#31333F;color:#fff;font-size:1.1rem;padding:.3rem 1rem;border-radius:.5rem;pointer-events:none;
  opacity:0;animation:ml-busy 0s linear 1s forwards}
@keyframes ml-busy{to{opacity:1}}
[data-testid="stApp"]:has([data-testid="stSpinner"])::before{display:none}
[data-testid="stSpinner"]{position:fixed!important;top:.4rem;left:50%;transform:translateX(-50%);z-index:999992;width:auto!important;
  background:#31333F;color:#fff!important;font-size:1.1rem;padding:.3rem 1rem;border-radius:.5rem;box-shadow:0 2px 10px rgba(0,0,0,.3);white-space:nowrap}
[data-testid="stSpinner"] *{color:#fff!important}
[data-testid="stMainBlockContainer"]{padding:1.2rem 2.5rem 3rem 2.5rem!important;max-width:100%!important}
[data-testid="stCaptionContainer"],[data-testid="stCaptionContainer"] p{opacity:1!important;color:inherit!important;font-size:1rem!important}
.ml-chip{border:1.5px solid rgba(0,0,0,.45)!important;font-size:1.05em!important}
.ml-chips{line-height:2.5}
h1{font-size:2.3rem!important}
[data-testid="stSidebar"] [data-testid="stSidebarNavLink"] span,[data-testid="stSidebar"] [data-testid="stWidgetLabel"] p,
[data-testid="stSidebar"] button p,[data-testid="stSidebar"] [data-baseweb="select"] div,
[data-testid="stSidebar"] [data-testid="stCaptionContainer"] p{font-size:.8rem!important}
.ml-svg{max-width:820px!important}
.ml-id{font-size:.8em!important;opacity:.85!important}
.ml-flow .box{min-width:5.5em;padding:.45em .6em}.ml-flow .shape{font-size:.95rem}.ml-flow{gap:.3em}
.ml-flow .what,.ml-flow .note{font-size:.85rem!important}
.ml-cell{font-size:.85em!important}
</style>
"""
BASE_CSS = """
<style>
[data-testid="stMainBlockContainer"]{padding-top:2.2rem;padding-bottom:3rem;max-width:1500px}
h1{letter-spacing:-.01em}
[data-testid="stMetricValue"]{font-size:1.6rem}
[data-testid="stSidebarNavLink"]{height:auto!important;min-height:2rem}
[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"],[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"] p{
  white-space:normal!important;overflow:visible!important;text-overflow:clip!important;line-height:1.25}
</style>
"""


@contextlib.contextmanager
def side_controls(title: str):
    """Where a page's secondary controls go: in place, or when presenting, into a bordered box in the
    sidebar under ``title``: out of the projected view, still one click away (the masks page's layer
    and head went first)."""
    if not state.presenting():
        yield
        return
    with st.sidebar.container(border=True):
        st.markdown(f"**{html.escape(title)}**")
        yield


def row_columns(n: int, gap: str = "medium") -> list:
    """``n`` places in a row for metrics or toggles, each as wide as what it holds, wrapping to a next
    line where the row is full (presenting, the larger type wraps sooner), so no label is ever cut.
    ``gap``: Streamlit's gap between them ("small", "medium", "large")."""
    row = st.container(horizontal=True, gap=gap)
    return [row.container(width="content") for _ in range(n)]


PAGE_FAILED = "This page stopped on an unexpected error"  # the start of run_page's message (tests look for it)


def run_page(page) -> None:
    """Run the page ``st.navigation`` chose. What a page expects to go wrong (a model that cannot load,
    a name that is no model) it says itself; anything else is a bug: logged with its traceback on the
    server, and said in one sentence on the page instead of a traceback."""
    try:
        page.run()
    except Exception as e:  # st.stop and st.rerun are no Exception: they pass
        logging.getLogger(__name__).exception("the page %r failed", getattr(page, "url_path", "") or "home")
        st.error(f"{PAGE_FAILED}: {md_plain(f'{type(e).__name__}: {e}')}. It is logged on the server; the other pages still work.",
                 icon=":material/error:")


def page(page_id: str, title: str, intro: str, keys=()) -> None:
    """Set up a page: state, styles, title, a one-paragraph caption, and any notices from the link."""
    state.init()
    state.set_page_keys(("text",) + tuple(keys))
    st.session_state["_page"] = page_id
    st.html(STYLE + BASE_CSS + (PRESENTATION_CSS if state.presenting() else ""))
    st.title(title)
    if intro:
        st.caption(intro)
    show_notices()


def show_notices() -> None:
    """The notices about the link (state.notice): Markdown whose quotes of user text are plain (ui.html.md_plain)."""
    for message in state.take_notices():
        st.warning(message, icon=":material/link_off:")


def text_box(page_id: str, *, label: str = "Your text", height: int = 110) -> str:
    """The shared text: typed on any page, it follows the user to every other page and into the link."""
    if state.clean_text(state.get("text")) != state.get("text"):
        state.put("text", state.clean_text(state.get("text")))
    text = state.bind(page_id, "text", st.text_area, label, height=height,
                      placeholder="Type or paste any text: a sentence from a novel, an emoji, some code…",
                      help=f"Shared by every page and kept in the link (up to {state.MAX_URL_TEXT:,} characters). At most {state.MAX_CHARS:,} characters.")
    if len(text) > state.MAX_CHARS:
        st.error(f"This text has {len(text):,} characters; MaskLab takes at most {state.MAX_CHARS:,}. Shorten it to continue.", icon=":material/block:")
        st.stop()
    if len(text) > state.MAX_URL_TEXT:
        st.caption(f"This text is longer than {state.MAX_URL_TEXT:,} characters, so links to this view leave it out.")
    return text


def need_text(text: str, what: str = "this view") -> None:
    if not text.strip():
        st.info(f"Type some text above to see {what}.", icon=":material/edit:")
        st.stop()


def limit_tokens(tokens: list, what: str = "This page") -> list:
    """MaskLab's tokens of the text, at most ``state.MAX_TOKENS``; a longer text is cut with a warning
    (`limited_text` gives the same stretch of text for models with tokenizers of their own)."""
    if len(tokens) > state.MAX_TOKENS:
        st.warning(
            f"The text has {len(tokens):,} tokens. {what} uses the first {state.MAX_TOKENS:,} (its first "
            f"{tokens[state.MAX_TOKENS - 1].end:,} characters), the most it takes, for every model; "
            "the Tokenization page shows all of them.",
            icon=":material/content_cut:",
        )
        return tokens[: state.MAX_TOKENS]
    return tokens


def limited_text(text: str, tokens: list) -> str:
    """The stretch of ``text`` that ``tokens`` (`limit_tokens`'s) cover: what every model on a page reads,
    whatever its tokenizer, so the page's limit applies to all of them."""
    return text[: tokens[-1].end] if tokens else text


# The room a chart has at the smallest screen MaskLab is shown on, 1280 x 720 with the sidebar open:
# the main column is 820 px wide (880 in presentation mode, whose padding is narrower), and columns
# sit 2rem apart (16 px to the rem, 20 in presentation mode). Heatmaps size their cells and thin their
# labels for this room; a wider screen only adds space around them.
MAIN_PX = {False: 820, True: 880}
REM_PX = {False: 16, True: 20}
HEATMAP_FONT = {False: 12, True: 16}  # px, a heatmap's tick labels
# px, a chart's type when presenting (where its builder did not size it): ticks, axis and header titles,
# legends and text drawn on marks, read from the back of a hall on a 1280 x 720 projector
PRESENTING_FONT = {"tick": 18, "title": 19, "legend": 18, "mark": 17}


def room(columns: int = 1) -> dict:
    """``width`` and ``font`` for a heatmap builder placed in one of ``columns`` equal columns (gap "medium")."""
    pres = state.presenting()
    width = (MAIN_PX[pres] - (columns - 1) * 2 * REM_PX[pres]) / columns
    return dict(width=int(width), font=HEATMAP_FONT[pres])


def room_of(weights: list[float], i: int) -> dict:
    """`room` for column ``i`` of ``st.columns(weights, gap="medium")``: columns of unequal widths."""
    pres = state.presenting()
    width = (MAIN_PX[pres] - (len(weights) - 1) * 2 * REM_PX[pres]) * weights[i] / sum(weights)
    return dict(width=int(width), font=HEATMAP_FONT[pres])


INK = {False: "#31333F", True: "#FAFAFA"}  # Streamlit's text colour, light and dark theme: chart labels when presenting


def chart(fig: "go.Figure | alt.TopLevelMixin", key: str, data: pd.DataFrame | None = None, *, name: str | None = None) -> None:
    """Place a figure (a Plotly figure's toolbar saves a PNG) and, under it, its data as CSV. In
    presentation mode the type grows, except where a builder sized it already (heatmaps, from room())."""
    name = name or key.replace(".", "-")
    if isinstance(fig, alt.TopLevelMixin):
        dark = st.context.theme.type == "dark"
        text = {"color": "#FAFAFA"} if dark else {}  # Vega draws mark text and subtitles black whatever the theme
        # the whole title config at once (configure_title replaces it): the builders leave the sizes to it
        title = {"fontSize": 15, "subtitleFontSize": 13, **({"subtitleColor": "#C9CED6"} if dark else {})}
        sized = isinstance(getattr(fig, "usermeta", None), dict) and fig.usermeta.get("masklab", {}).get("sized")  # its builder sized its type from room()
        if state.presenting():
            title.update(fontSize=21, subtitleFontSize=16)
            fig = fig.properties(padding={"top": 14, "left": 5, "right": 5, "bottom": 5})  # room above the larger title
            # the theme's grey ticks fade on a projector: the page's own text colour (each configure_* call replaces its config)
            axis, legend = dict(labelColor=INK[dark], titleColor=INK[dark]), dict(labelColor=INK[dark], titleColor=INK[dark])
            if not sized:
                axis.update(labelFontSize=PRESENTING_FONT["tick"], titleFontSize=PRESENTING_FONT["title"])
                legend.update(labelFontSize=PRESENTING_FONT["legend"], titleFontSize=PRESENTING_FONT["legend"])
                fig = fig.configure_header(labelFontSize=PRESENTING_FONT["title"], titleFontSize=PRESENTING_FONT["title"])
                text["fontSize"] = PRESENTING_FONT["mark"]
                if isinstance(getattr(fig, "height", None), int):  # the larger type takes its room from the plot: give it back
                    fig = fig.properties(height=fig.height + 60)
            fig = fig.configure_axis(**axis).configure_legend(**legend)
        fig = fig.configure_title(**title)
        if text:
            fig = fig.configure_text(**text)
        # Streamlit serialises the chart with to_dict(), which checks it against Vega-Lite's JSON schema: 30 ms a
        # chart, 230 ms of the scaling page's 8. The builders' output is validated by the tests (tests/test_charts.py)
        unchecked = type(fig).to_dict
        object.__setattr__(fig, "to_dict", lambda *args, **kw: unchecked(fig, *args, **{**kw, "validate": False}))
        st.altair_chart(fig, key=key, width="stretch")
    else:
        if state.presenting():  # Streamlit's chart theme sets tick sizes itself, so set every one left unset
            ink = INK[st.context.theme.type == "dark"]
            fig.update_layout(font=dict(size=PRESENTING_FONT["title"], color=ink), title_font_size=21, legend_font_size=PRESENTING_FONT["legend"])
            fig.update_xaxes(tickfont_color=ink, title_font_color=ink)
            fig.update_yaxes(tickfont_color=ink, title_font_color=ink)
            for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
                if axis.tickfont.size is None:
                    axis.update(tickfont_size=PRESENTING_FONT["tick"], title_font_size=PRESENTING_FONT["title"])
        st.plotly_chart(
            fig,
            key=key,
            width="content" if fig.layout.width else "stretch",  # a square map is as wide as its builder made it
            config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": f"masklab-{name}", "scale": 2}},
        )
    if data is not None and not state.presenting():
        st.download_button(
            "Download the data (CSV)", csv_bytes(data), file_name=f"masklab-{name}.csv",
            mime="text/csv", key=f"{key}.csv", type="tertiary", icon=":material/download:", on_click="ignore",
        )


def cell_text(value, config: dict | None) -> str:
    """``value`` as a column of ``st.column_config`` shows it: its printf-style ``format`` ("%.2f",
    "%+.1f"), "percent" (one decimal), or plain; an empty string for a missing value."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    fmt = ((config or {}).get("type_config") or {}).get("format")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and fmt:
        return f"{value:.1%}" if fmt == "percent" else fmt % value
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_html(df: pd.DataFrame, column_config: dict | None = None) -> str:
    """``df`` as an HTML table in the page's type (presenting: 20 px, where Streamlit's data grid draws 14
    px on a canvas no style reaches), columns labelled and numbers formatted as ``column_config`` (the
    dict `st.dataframe` takes) says; numbers right-aligned. Text is escaped."""
    config = column_config or {}
    numeric = {c: pd.api.types.is_numeric_dtype(df[c]) for c in df.columns}
    head = "".join(f'<th class="{"num" if numeric[c] else ""}">{html.escape(str((config.get(c) or {}).get("label") or c))}</th>' for c in df.columns)
    rows = "".join("<tr>" + "".join(f'<td class="{"num" if numeric[c] else ""}">{html.escape(cell_text(v, config.get(c)))}</td>'
                                    for c, v in zip(df.columns, r)) + "</tr>" for r in df.itertuples(index=False))
    return (f'<div class="ml-grid"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>')


def table(df: pd.DataFrame, column_config: dict | None = None, key: str | None = None) -> None:
    """Show ``df`` without its index: Streamlit's data grid (sortable, searchable) in plain mode; when
    presenting, `table_html`, whose type grows with the page's so it reads from the back of a hall."""
    if state.presenting():
        st.html(table_html(df, column_config))
    else:
        st.dataframe(df, hide_index=True, column_config=column_config, key=key)




def html_block(body: str) -> None:
    if body:
        st.html(body)


def svg_block(body: str) -> None:
    """HTML that holds an SVG (st.html drops SVG). Only for markup built from our own escaped strings."""
    st.markdown(body, unsafe_allow_html=True)


def window(page_id: str, n: int, size: int) -> tuple[int, int]:
    """For n tokens beyond ``size``, a slider picks which ``size`` of them a heatmap shows."""
    if n <= size:
        if state.get("win"):
            state.put("win", 0)
        return 0, n
    start = state.clamp("win", 0, n - size)
    start = state.bind(page_id, "win", st.slider, f"Window: which {size} tokens to show", min_value=0, max_value=n - size, step=1,
                       help=f"{n:,} tokens are too many to label on one heatmap; slide to move the window.")
    return start, start + size


def sidebar() -> None:
    """Presentation mode, and where the models run."""
    with st.sidebar:
        state.bind("side", "pres", st.toggle, "Presentation mode", help="Larger type, higher contrast, fewer controls: for a projector.")
        st.caption(f"Models run on **{html.escape(device_label())}**.")


def device_label() -> str:
    from ui import cache

    try:
        return cache.device_label()
    except Exception:  # the device line is a courtesy; it must never break a page
        return "an unknown device"
