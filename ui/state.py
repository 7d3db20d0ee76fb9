"""Every piece of view state in one place, and its round trip through the URL.

Each field below is a session key holding the *canonical* value. Widgets never own it: a widget is
keyed per page (``"masks.layer"``) and copies its value into the canonical key when it changes, so
the value survives page switches and the URL can be written from one dictionary. A link carries the
fields a page declares; a value that does not parse falls back to the default with a notice.
"""

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import streamlit as st

from engine.catalog import SIZES as CATALOG_SIZES
from engine.checks import is_greedy
from engine.masks import ARCHITECTURES, layers_text, parse_layers
from engine.objectives import OBJECTIVES
from engine.tokenizer import ENCODINGS
from ui.html import SWITCHES, md_plain

MAX_CHARS = 20_000  # longer text is refused with a message
MAX_TOKENS = 2_048  # model pages use at most this many tokens of the text
MAX_URL_TEXT = 2_000  # longer text is left out of links (browsers and servers cap URL length)
SIZES = tuple(CATALOG_SIZES)  # engine.catalog.SIZES: the catalog imports nothing, so the link parser stays light
DEFAULT_TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife."
)


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates read as U+FFFD, one for one, as engine.tokenize reads them: they
    cannot be sent to the browser (a surrogate is no UTF-8), and spans still index the text."""
    return _SURROGATE.sub("\ufffd", text)


def _text(raw: str) -> str:
    if len(raw) > MAX_CHARS:
        raise ValueError(f"longer than {MAX_CHARS:,} characters")
    return clean_text(raw)


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1 or 0")


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("not a whole number") from None
        if not lo <= value <= hi:
            raise ValueError(f"not between {lo:,} and {hi:,}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        if not lo <= value <= hi:
            raise ValueError(f"not between {lo:g} and {hi:g}")
        return value

    return parse


TOP_K_MAX = 500  # the losses page's Top-k input goes to this; every model's vocabulary is larger


def _temperature(raw: str) -> float:
    """A link's sampling temperature in [0, 2]; one too small to divide by (engine.checks.MIN_TEMPERATURE,
    1e-4) is read as 0, greedy, which is what engine.generate does with it."""
    value = _float(0.0, 2.0)(raw)
    return 0.0 if is_greedy(value) else value


def _top_k(raw: str) -> int:
    """A link's top-k: a whole number >= 0 (0: every token), clamped to `TOP_K_MAX` as engine.generate
    clamps it to the vocabulary."""
    value = _int(0, 10**18)(raw)
    return min(value, TOP_K_MAX)


def _choice(options) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"not one of {', '.join(options)}")
        return raw

    return parse


def _choices(options) -> Callable[[str], tuple]:
    def parse(raw: str) -> tuple:
        items = tuple(x for x in raw.split(",") if x)
        if any(x not in options for x in items):
            raise ValueError(f"each must be one of {', '.join(options)}")
        return tuple(dict.fromkeys(items))

    return parse


def _names(raw: str) -> tuple:
    items = tuple(dict.fromkeys(x for x in raw.split(",") if x))
    if any(len(x) > 120 for x in items) or len(items) > 12:
        raise ValueError("too many or too long names")
    return items


def _name(raw: str) -> str:
    if len(raw) > 120:
        raise ValueError("too long a name")
    return raw


def _learned(raw: str) -> tuple:
    items = _names(raw)
    if any(x.partition(":")[0] not in ARCHITECTURES or not x.partition(":")[2] for x in items):
        raise ValueError("each must be architecture:model")
    return items


def _job(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{0,32}", raw):
        raise ValueError("not a training run's id")
    return raw


def _switches(raw: str) -> str:
    if set(raw) - set(SWITCHES):
        raise ValueError("letters a, b, c, d only")
    return "".join(s for s in SWITCHES if s in raw)


def switch_flags(on: str) -> dict:
    """The encoder-decoder switches a value of the ``sw`` field turns on ("ac"), as ModelConfig's flags:
    {"shared_attention": True, "shared_params": False, ...}; each letter's flag is ui.html.SWITCHES'."""
    return {flag: letter in on for letter, (flag, _, _) in SWITCHES.items()}


def _dump(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


LONG_FIELDS = ("text", "chat")  # left out of a link when they would take more than MAX_URL_TEXT characters

# Session keys that never go into a link: objects a page keeps between runs. Widget keys are
# "page.name"; the canonical fields are FIELDS below; keys starting with "_" are this module's own.
CHAT_TURNS = "chat.turns"  # the conversation being edited (a DataFrame of role, text)
CHAT_SHOWN = "chat.shown"  # the conversation as the editor showed it in the last run, edits included
CHAT_VERSION = "chat.version"  # bumped when a typed turn is appended: the editor starts afresh from the new conversation
CHAT_ROLES = ("user", "assistant", "system")
DEFAULT_CHAT = (
    ("user", "Good morning. What did Mr. Darcy say of Elizabeth at the ball?"),
    ("assistant", "That she was tolerable, but not handsome enough to tempt him."),
    ("user", "How did she take it?"),
    ("assistant", "She laughed, and told the story with great spirit among her friends, for she had a lively, playful disposition."),
    ("user", "And did he change his mind?"),
    ("assistant", "Before long he found her face rendered uncommonly intelligent by the beautiful expression of her dark eyes."),
)
_ROLE_LETTER = {role: role[0] for role in CHAT_ROLES}  # u, a, s
_LETTER_ROLE = {letter: role for role, letter in _ROLE_LETTER.items()}


def dump_chat(turns) -> str:
    r"""A conversation as a link carries it: one line per turn, the role's first letter, a colon, the
    message (a backslash and a line break inside it written as two characters each).

    (("user", "Hi"), ("assistant", "Hello.\nHow can I help?")) -> "u:Hi\na:Hello.\\nHow can I help?"
    """
    return "\n".join(_ROLE_LETTER[role] + ":" + text.replace("\\", "\\\\").replace("\n", "\\n") for role, text in turns)


def _chat(raw: str) -> tuple:
    if len(raw) > MAX_URL_TEXT:
        raise ValueError(f"longer than {MAX_URL_TEXT:,} characters")
    turns = []
    for line in raw.split("\n") if raw else []:
        letter, colon, text = line.partition(":")
        if letter not in _LETTER_ROLE or not colon:
            raise ValueError("each turn must start with u:, a: or s:")
        turns.append((_LETTER_ROLE[letter], clean_text(re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], text))))
    return tuple(turns)


def next_chat_role(roles) -> str:
    """The role a new chat row starts with, so that a typed message is never dropped for want of one:
    the other party after a user or an assistant (alternating), "user" after a system message or none."""
    last = next((r for r in reversed(list(roles)) if r in CHAT_ROLES), None)
    return "assistant" if last == "user" else "user"
CHAT_NONCE = "chat.nonce"  # bumped by "Measure again", so the chat is timed afresh
TRAINING_JOB = "scaling.job"  # the live training run (ui.training.Job)


DEFAULT_PATTERNS = ("causal", "causal & window(4)")
BLOCK_SIZES = (4, 8, 16, 32, 64, 128)
MAX_PATTERNS = 4


def _patterns(raw: str) -> tuple:
    """1 to 4 layer-pattern texts, one a line, each as engine.masks.parse_layers reads it (normalised)."""
    lines = [line for line in raw.split("\n") if line.strip()]
    if not 1 <= len(lines) <= MAX_PATTERNS:
        raise ValueError(f"1 to {MAX_PATTERNS} patterns, one a line")
    try:
        return tuple(layers_text(parse_layers(line)) for line in lines)
    except ValueError:  # the engine's message quotes the raw text; the notice quotes it once, escaped
        raise ValueError("not a pattern: names such as causal, window(8), global(2), joined by &, | and ~") from None


def _choice_int(options) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _int(min(options), max(options))(raw)
        if value not in options:
            raise ValueError(f"not one of {', '.join(map(str, options))}")
        return value

    return parse


@dataclass(frozen=True)
class Field:
    default: Any
    parse: Callable[[str], Any]  # raises ValueError for a value it cannot take
    dump: Callable[[Any], str] = _dump  # the value as the link writes it; parse(dump(value)) == value


FIELDS: dict[str, Field] = {
    "text": Field(DEFAULT_TEXT, _text),
    "pres": Field(False, _bool),  # presentation mode
    "enc": Field(tuple(ENCODINGS), _choices(tuple(ENCODINGS))),  # encodings shown side by side
    "ptok": Field(None, _names),  # published checkpoints whose own tokenizers are shown too (None: the first one found)
    "ws": Field(False, _bool),  # show whitespace
    "ids": Field(False, _bool),  # show token ids under the chips
    "archs": Field(tuple(ARCHITECTURES), _choices(tuple(ARCHITECTURES))),
    "split": Field(-1, _int(-1, 100_000)),  # prefix length in tokens; -1: half the text
    "layer": Field(0, lambda raw: _int(1, 64)(raw) - 1, lambda v: str(v + 1)),  # 0-based here; the link, like the slider, counts from 1
    "head": Field(-1, _int(-1, 63)),  # -1: the mean over heads
    "win": Field(0, _int(0, 100_000)),  # first token of the window that long heatmaps show
    "blank": Field(-1, _int(-1, MAX_TOKENS - 1)),  # the token an encoder fills in on the losses page; -1: the last
    "obj": Field("span_corruption", _choice(OBJECTIVES)),
    "rate": Field(0.15, _float(0.0, 1.0)),  # mask rate (MLM) or noise density (span corruption)
    "fimr": Field(0.5, _float(0.0, 1.0)),  # fill-in-the-middle rate
    "span": Field(3.0, _float(1.0, 32.0)),  # mean span length (the objectives page's slider goes to 32)
    "mode": Field("auto", _choice(("auto", "R", "S", "X"))),  # UL2 denoiser
    "roll": Field(False, _bool),  # span layouts rolled by a random offset (T5's random_roll)
    "seed": Field(0, _int(0, 1_000_000)),
    "size": Field("medium", _choice(SIZES)),  # model size for the cost views
    "variants": Field((), _names),  # empty: the page picks
    "gen": Field("", _name),  # variant that generates
    "learned": Field((), _learned),  # the masks page's model per architecture ("decoder:smollm2-135m-instruct-q4_1"), where not the page's pick
    "model": Field("", _name),  # the chat page's model ("": the page picks)
    "temp": Field(0.8, _temperature),  # below engine.checks.MIN_TEMPERATURE: 0, greedy, as engine.generate reads it
    "topk": Field(20, _top_k),  # above the widget's 500 (below every model's vocabulary): 500; engine.generate clamps to the vocabulary
    "new": Field(30, _int(1, 200)),  # tokens to generate
    "sw": Field("", _switches),  # encoder-decoder switches that are on
    "x": Field("tokens", _choice(("tokens", "flops"))),  # x axis of the loss curves
    "score": Field("trained", _choice(("trained", "exact"))),  # how encoders and encoder-decoders are scored
    "probes": Field("multitask", _choice(("multitask", "novel"))),  # probe set on the losses page (engine.probes.PROBE_SETS)
    "job": Field("", _job),  # the live training run (ui.training.find), so that a reload finds it again
    "card": Field("", _name),  # the shipped model whose per-category curves the scaling page shows ("": the first)
    "carch": Field("", _choice(tuple(ARCHITECTURES))),  # the architecture whose categories across sizes it shows ("": the first)
    "chat": Field(DEFAULT_CHAT, _chat, dump_chat),  # the chat page's conversation
    "pats": Field(DEFAULT_PATTERNS, _patterns, "\n".join),  # the composer's patterns (engine.masks.parse_layers texts), one a line
    "block": Field(8, _choice_int(BLOCK_SIZES)),  # FlexAttention block size the composer tiles with (a sentence has blocks of 8 to skip)
    "depth": Field(6, _int(1, 48)),  # layers the composer follows the receptive field through
}


def init() -> None:
    """Fill every field once per session: from the URL where it parses, else the default. Idempotent."""
    if st.session_state.get("_state_ready"):
        return
    notices = []
    try:
        params = st.query_params.to_dict()
    except Exception:  # a malformed query string is no reason to fail the page
        params = {}
    for name, f in FIELDS.items():
        if name in st.session_state:
            continue
        raw = params.get(name)
        value = f.default
        if raw is not None:
            try:
                value = f.parse(raw)
            except (ValueError, TypeError) as e:
                shown = raw if len(raw) <= 40 else raw[:40] + "…"
                notices.append(f"The link's {name} {md_plain(shown)} was ignored ({e}); using the default.")
        st.session_state[name] = value
    unknown = sorted(set(params) - set(FIELDS))
    if unknown:
        names = ", ".join(md_plain(n[:40]) for n in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        notices.append(f"Unknown link parameter(s) ignored: {names}.")
    st.session_state["_notices"] = notices
    st.session_state["_state_ready"] = True


def get(name: str):
    init()
    return st.session_state[name]


def put(name: str, value) -> None:
    """Set a canonical value (after a page clamps it, say) and keep the URL in step."""
    st.session_state[name] = value
    sync_url()


def take_notices() -> list[str]:
    return st.session_state.pop("_notices", []) if "_notices" in st.session_state else []


def notice(message: str) -> None:
    """Show ``message`` (Markdown) at the top of the page's next run; quote user text with ui.html.md_plain."""
    st.session_state.setdefault("_notices", []).append(message)


def presenting() -> bool:
    return bool(get("pres"))


def set_page_keys(keys) -> None:
    st.session_state["_url_keys"] = ("pres",) + tuple(k for k in keys if k != "pres")
    sync_url()


def url_params() -> dict[str, str]:
    """What the current view's link carries: the page's fields that differ from their defaults."""
    out = {}
    for name in st.session_state.get("_url_keys", ("pres",)):
        value = st.session_state.get(name, FIELDS[name].default)
        if value == FIELDS[name].default:
            continue
        dumped = FIELDS[name].dump(value)
        if name in LONG_FIELDS and len(dumped) > MAX_URL_TEXT:
            continue
        out[name] = dumped
    return out


def sync_url() -> None:
    want = url_params()
    try:
        if st.query_params.to_dict() != want:
            st.query_params.from_dict(want)
    except Exception:  # query params cannot be written in some contexts (bare mode); the view still works
        pass


def _copy(widget_key: str, name: str, convert) -> None:
    value = st.session_state[widget_key]
    st.session_state[name] = convert(value) if convert else value
    sync_url()


def bind(page: str, name: str, widget, label: str, *, to_widget=None, from_widget=None, **kwargs):
    """Draw ``widget`` keyed ``page.name``, showing the canonical value and writing changes back.

    The canonical value must already be valid for the widget (in its options or range): pages clamp
    it first with `put`.
    """
    key = f"{page}.{name}"
    value = get(name)
    st.session_state[key] = to_widget(value) if to_widget else value
    return widget(label, key=key, on_change=_copy, args=(key, name, from_widget), **kwargs)


def choice(key: str, options, default):
    """The value of the widget ``key`` (a page's pick among ``options``), set to ``default`` first when
    it holds nothing valid (a new session, a link's value, an option gone): draw the widget with the
    same ``key`` after this call."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default
    return st.session_state[key]


def session_value(key: str, default=None):
    """A page's own session value (a running job, a counter): not a field, never in a link."""
    return st.session_state.get(key, default)


def set_session_value(key: str, value) -> None:
    st.session_state[key] = value


def bump(key: str) -> int:
    """Add one to a session counter (a "Measure again" button's) and return it."""
    st.session_state[key] = st.session_state.get(key, 0) + 1
    return st.session_state[key]


# ---------------------------------------------------------------- the chat page's conversation
# The table edits a copy (CHAT_TURNS); what it showed last, edits included, is CHAT_SHOWN; a turn typed
# into the box below is appended to that, and the table starts afresh (CHAT_VERSION names its editor).


def chat_table():
    """The conversation the chat table edits: the link's (field ``chat``) the first time, then this session's."""
    if CHAT_TURNS not in st.session_state:
        st.session_state[CHAT_TURNS] = pd.DataFrame(list(get("chat")), columns=["role", "text"])
    return st.session_state[CHAT_TURNS]


def chat_editor_key(page: str) -> str:
    """The chat table's widget key: a new one each time a typed turn is appended, so the table redraws."""
    return f"{page}.editor.{st.session_state.get(CHAT_VERSION, 0)}"


def chat_rows_added(page: str) -> list[dict]:
    """Rows added to the chat table in this run, before its value is read."""
    return st.session_state.get(chat_editor_key(page), {}).get("added_rows", [])


def chat_shown(edited) -> None:
    """Record the table as it shows now (every edit, removal and added row): what a typed turn is appended to."""
    st.session_state[CHAT_SHOWN] = edited.reset_index(drop=True)


def chat_append(role: str, message: str) -> None:
    """Append a typed turn to the conversation as the table showed it last, and redraw the table from it."""
    shown = st.session_state.get(CHAT_SHOWN, chat_table())
    role = role if role in CHAT_ROLES else next_chat_role(list(shown["role"]))
    st.session_state[CHAT_TURNS] = pd.concat([shown, pd.DataFrame([{"role": role, "text": message}])], ignore_index=True)
    bump(CHAT_VERSION)


def clamp(name: str, lo, hi):
    """Keep a numeric field inside [lo, hi] (bounds that depend on the text or the model)."""
    value = get(name)
    fixed = min(max(value, lo), hi)
    if fixed != value:
        put(name, fixed)
    return fixed
