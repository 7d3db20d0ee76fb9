"""Text to tokens for every encoding the app offers: MaskLab's own 8k BPE and four of OpenAI's.

Every encoding is a real ``tiktoken.Encoding``, so what the app shows is exactly what tiktoken does.
User text always goes through ``encode_ordinary``: typing ``<|endoftext|>`` gives the ordinary tokens
for those thirteen characters, never the special id.

Byte-level BPE can split one character across several tokens. In GPT-2's ``r50k_base`` the parrot
"🦜" (4 UTF-8 bytes) is three tokens, and none of them decodes on its own::

    >>> [(t.text, t.start, t.end, t.partial, t.group) for t in tokenize("🦜", "r50k_base")]
    [('<0xF0><0x9F>', 0, 1, True, 0), ('<0xA6>', 0, 1, True, 0), ('<0x9C>', 0, 1, True, 0)]

Such siblings share the character's span and a ``group``.
"""

import base64
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import regex  # tiktoken's own dependency; unlike `re` it knows grapheme clusters (\X)
import tiktoken

from engine import paths
from engine.checks import check_choice, check_text
from engine.vocab import SPECIAL_TOKEN_IDS, VOCAB_SIZE

MASKLAB_BPE_PATH = paths.BPE_PATH

# GPT-2's split pattern as tiktoken spells it for r50k_base (equivalent to the original, but faster).
# MaskLab's BPE was trained with the same split, so the ranks file only makes sense with this pattern.
R50K_PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

ENCODINGS = {
    "masklab": "MaskLab 8k (ours)",
    "r50k_base": "GPT-2 (r50k_base)",
    "p50k_base": "Codex (p50k_base)",
    "cl100k_base": "GPT-3.5/4 (cl100k_base)",
    "o200k_base": "GPT-4o (o200k_base)",
}

# tiktoken downloads with no timeout of its own; a network that drops packets would hang the app.
LOAD_TIMEOUT_S = 20.0

_OFFLINE_FIX = (
    "It is not in tiktoken's cache and could not be downloaded (offline?). "
    "To fix it, set TIKTOKEN_CACHE_DIR to a folder holding tiktoken's cached files, "
    "or connect to the internet once so that tiktoken can download and cache it."
)


class EncodingUnavailable(RuntimeError):
    """An encoding whose BPE file cannot be loaded right now; the message says how to fix that."""

    def __init__(self, name: str, reason: str, fix: str = _OFFLINE_FIX):
        self.name = name
        self.reason = reason
        super().__init__(
            f"Encoding {name!r} is unavailable: its BPE file could not be loaded ({reason}). {fix}"
        )


@dataclass(frozen=True)
class Token:
    """One token of a text, with where it came from.

    ``start``/``end`` index characters of the original text. A token holding only part of a
    character's UTF-8 bytes gets that whole character's span, so its siblings share the span.
    Tokens that only together cover whole grapheme clusters share a ``group``; every other token
    is a group of its own.
    """

    index: int  # position in the token sequence
    id: int
    bytes: bytes  # exactly what the token stands for; may be part of a character
    text: str  # `bytes` decoded, with bytes that do not decode on their own shown as <0xF0>
    start: int
    end: int
    partial: bool  # `bytes` is not valid UTF-8 by itself
    group: int


@lru_cache(maxsize=None)
def get_encoding(name: str) -> tiktoken.Encoding:
    """The ``tiktoken.Encoding`` called ``name``, one of ``ENCODINGS``.

    Raises EncodingUnavailable when its BPE file cannot be loaded (for OpenAI's encodings: offline
    with no cached copy), and ValueError for a name not in ``ENCODINGS``. Failures are not cached,
    so a later call retries.
    """
    check_choice("encoding", name, ENCODINGS)
    if name == "masklab":
        return _masklab_encoding(MASKLAB_BPE_PATH)
    try:
        return _call_with_timeout(lambda: tiktoken.get_encoding(name), LOAD_TIMEOUT_S)
    except Exception as e:  # requests, OSError, hash mismatch, timeout: all mean "not loadable now"
        raise EncodingUnavailable(name, f"{type(e).__name__}: {e}") from e


def available_encodings() -> dict[str, str | None]:
    """For each name in ``ENCODINGS``: None if it loads, else why not (never raises)."""
    status = {}
    for name in ENCODINGS:
        try:
            get_encoding(name)
            status[name] = None
        except EncodingUnavailable as e:
            status[name] = str(e)
    return status


def tokenize(text: str, encoding: str = "masklab") -> list[Token]:
    """Tokens of ``text``, each with its bytes, display text, character span and group.

    Lone surrogates (possible in a Python str, but not encodable as UTF-8) are read as U+FFFD, one
    character for one, so spans still index the text as given. A text that is no str (None, bytes) or
    an unknown encoding is refused with TypeError or ValueError naming it.
    """
    check_text("text", text)
    enc = get_encoding(encoding)
    clean = _replace_surrogates(text)
    ids = enc.encode_ordinary(clean)
    pieces = enc.decode_tokens_bytes(ids)
    char_of_byte = _char_of_each_byte(clean)
    cluster_starts = _grapheme_start_bytes(clean)
    tokens, pos, group = [], 0, -1
    for index, (token_id, piece) in enumerate(zip(ids, pieces)):
        if pos in cluster_starts:
            group += 1
        end = pos + len(piece)
        tokens.append(
            Token(
                index=index,
                id=token_id,
                bytes=piece,
                text=_display_text(piece),
                start=char_of_byte[pos],
                end=char_of_byte[end - 1] + 1,
                partial=not _is_utf8(piece),
                group=group,
            )
        )
        pos = end
    return tokens


def encode(text: str, encoding: str = "masklab") -> list[int]:
    """Token ids of ``text``; special-token strings in it are ordinary text."""
    return get_encoding(encoding).encode_ordinary(_replace_surrogates(text))


def decode(ids: list[int], encoding: str = "masklab") -> str:
    """Text of ``ids``; bytes that do not form whole characters become U+FFFD."""
    return get_encoding(encoding).decode(list(ids), errors="replace")


def token_strings(ids: list[int], encoding: str = "masklab") -> list[str]:
    """Display text of each id on its own: special tokens by name, stray bytes as <0xF0>."""
    enc = get_encoding(encoding)
    names = {enc.encode_single_token(name): name for name in enc.special_tokens_set}
    return [names[i] if i in names else _display_text(enc.decode_single_token_bytes(i)) for i in ids]


def load_ranks(path: Path) -> dict[bytes, int]:
    """Reads a ranks file in tiktoken's format (``base64(token) rank`` per line).

    Same parse as ``tiktoken.load.load_tiktoken_bpe``, which we avoid for local files because it
    copies them into TIKTOKEN_CACHE_DIR keyed by path: a retrained file would then be shadowed by
    the stale copy, and a read-only cache folder would make loading fail.
    """
    ranks = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _masklab_encoding(path: Path) -> tiktoken.Encoding:
    fix = f"To fix it, train it again: python -m engine.bpe --out {path}"
    try:
        ranks = load_ranks(path)
        return tiktoken.Encoding(
            name="masklab",
            pat_str=R50K_PAT_STR,
            mergeable_ranks=ranks,
            special_tokens=SPECIAL_TOKEN_IDS,
            explicit_n_vocab=VOCAB_SIZE,  # asserts the file fills exactly the ids below the specials
        )
    except (OSError, ValueError, AssertionError) as e:
        raise EncodingUnavailable("masklab", f"{path}: {type(e).__name__}: {e}", fix) from e


def _call_with_timeout(fn, timeout_s: float):
    # A daemon thread, so that a hung download blocks neither the caller nor interpreter exit.
    # If it finishes late, tiktoken still caches the file and the next call succeeds.
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e

    worker = threading.Thread(target=run, name="tiktoken-load", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"no answer after {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


_SURROGATE = regex.compile("[\ud800-\udfff]")


def _replace_surrogates(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _char_of_each_byte(text: str) -> list[int]:
    """For each byte offset of ``text.encode()``, the index of the character holding that byte."""
    out = []
    for i, ch in enumerate(text):
        out.extend([i] * len(ch.encode("utf-8")))
    return out


def _grapheme_start_bytes(text: str) -> set[int]:
    starts, pos = set(), 0
    for cluster in regex.findall(r"\X", text):
        starts.add(pos)
        pos += len(cluster.encode("utf-8"))
    return starts


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def display_text(b: bytes) -> str:
    """A token's bytes as text: undecodable bytes spelled ``<0xXY>`` (a piece of a character)."""
    return _display_text(b)


def is_utf8(b: bytes) -> bool:
    """Whether ``b`` decodes as UTF-8 on its own."""
    return _is_utf8(b)


def _display_text(b: bytes) -> str:
    # surrogateescape turns each undecodable byte 0xXY into U+DCXY, which we spell <0xXY>.
    s = b.decode("utf-8", errors="surrogateescape")
    return "".join(f"<0x{ord(c) - 0xDC00:02X}>" if "\udc80" <= c <= "\udcff" else c for c in s)
