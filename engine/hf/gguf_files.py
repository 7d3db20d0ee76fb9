"""GGUF files (llama.cpp's format): which file a path is (`gguf_file`), what its header says
(`gguf_summary`, read once per version of the file), and the pre-tokenizer it declares
(`gguf_pre_tokenizer`), which `honour_pre_tokenizer` reproduces on the tokenizer ``transformers``
builds from the file.

``transformers`` loads a GGUF file by de-quantising every tensor to float32, and builds its tokenizer
from the file's vocabulary and merges, but ignores the declared ``tokenizer.ggml.pre`` and always
applies GPT-2's rule: SmolLM2's ``smollm`` puts each numeral apart before GPT-2's rule, as llama.cpp does.
"""

import functools
import math
from collections import Counter
from pathlib import Path

# llama.cpp's pre-tokenizer types (the GGUF key tokenizer.ggml.pre; src/llama-vocab.cpp) that MaskLab reproduces on
# the byte-level BPE tokenizer transformers builds from a GGUF file (transformers reads the vocabulary and merges but
# ignores the declared type and always applies GPT-2's rule)
NUMERALS_APART = ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone")  # regexes: \p{N}, then GPT-2's
GPT2_RULE = ("gpt2", "gpt-2", "mpt", "olmo", "jais")  # GPT-2's regex alone
NUMERAL = r"\p{N}"  # one numeral code point: digits, ½, ①, ٣, Ⅻ ...


def gguf_file(path: Path) -> Path | None:
    """The GGUF file ``path`` is, or the single one a folder without ``config.json`` holds."""
    if path.is_file():
        return path if path.suffix == ".gguf" else None
    if path.is_dir() and not (path / "config.json").is_file():
        files = sorted(path.glob("*.gguf"))
        return files[0] if len(files) == 1 else None
    return None


def gguf_summary(path: Path) -> dict:
    """Name, architecture, parameters and quantisation of a GGUF file, read from its header once per
    version of the file (its path, size and modification time): parsing the header of a 135M-parameter
    file takes seconds on a small CPU, and the app looks for checkpoints again every minute.
    Raises OSError (unreadable) and ValueError (not a GGUF file, or a malformed one; not cached)."""
    st = Path(path).stat()
    return dict(_gguf_summary(str(path), st.st_size, st.st_mtime_ns))


# a GGUF metadata value's type (gguf's GGUFValueType) -> its struct format; 8 is a string, 9 an array
SCALAR_FORMAT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


def gguf_header(path: str | Path) -> dict:
    """The header of a GGUF file, read straight from the bytes: ``metadata`` (key -> value; a string as
    text, a number as a number, an array as its length: the vocabulary's 262,144 strings are skipped, not
    built) and ``tensors`` (name, shape, ggml type number). Follows the GGUF specification (ggml's
    docs/gguf.md; versions 2 and 3, either byte order). ``gguf.GGUFReader`` builds every field, arrays
    included: 12 s for Gemma 3's header on a small CPU, where this takes a fraction of a second.
    Raises OSError (unreadable) and ValueError (not GGUF, or cut short)."""
    import mmap
    import struct

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file (it does not start with the GGUF magic)")
        order = "<" if struct.unpack_from("<I", m, 4)[0] < 65536 else ">"  # a big-endian file's version reads huge little-endian
        pos = 8

        def take(fmt):
            nonlocal pos
            values = struct.unpack_from(order + fmt, m, pos)
            pos += struct.calcsize(order + fmt)
            return values[0] if len(values) == 1 else values

        def string():
            nonlocal pos
            n = take("Q")
            if pos + n > len(m):
                raise ValueError(f"{path}: a string runs past the end of the file")
            pos += n
            return m[pos - n:pos].decode("utf-8", "replace")

        def value(kind):
            nonlocal pos
            if kind == STRING:
                return string()
            if kind == ARRAY:
                inner, n = take("I"), take("Q")
                if inner == STRING:
                    for _ in range(n):  # each string says its own length: walk them without building them
                        pos += 8 + struct.unpack_from(order + "Q", m, pos)[0]
                elif inner == ARRAY:
                    for _ in range(n):
                        value(ARRAY)
                else:
                    pos += n * struct.calcsize(SCALAR_FORMAT[inner])
                return n
            return take(SCALAR_FORMAT[kind])

        try:
            n_tensors, n_kv = take("QQ")
            metadata = {}
            for _ in range(n_kv):
                key = string()
                metadata[key] = value(take("I"))
            tensors = []
            for _ in range(n_tensors):
                name = string()
                shape = tuple(take("Q") for _ in range(take("I")))
                kind = take("I")
                take("Q")  # the tensor's offset in the data section
                tensors.append((name, shape, kind))
        except (struct.error, KeyError) as e:
            raise ValueError(f"{path}: a malformed GGUF header ({e})") from e
    return {"metadata": metadata, "tensors": tensors}


@functools.lru_cache(maxsize=32)  # bounded, and keyed on the file's version: a file saved again is read again
def _gguf_summary(path: str, size: int, mtime_ns: int) -> dict:
    from gguf import GGMLQuantizationType

    h = gguf_header(path)
    meta = h["metadata"]

    def field(key):
        v = meta.get(key)
        return v if isinstance(v, (str, int, float)) else None

    def type_name(kind):
        try:
            return GGMLQuantizationType(kind).name
        except ValueError:
            return f"type {kind}"

    kinds = Counter(type_name(kind) for _, shape, kind in h["tensors"] if len(shape) > 1)
    return {
        "name": field("general.name") or Path(path).stem,
        "gguf_architecture": field("general.architecture"),
        "parameters": int(sum(math.prod(shape) for _, shape, _ in h["tensors"])),
        "quantisation": kinds.most_common(1)[0][0] if kinds else "?",
        "licence": field("general.license"),
        "tokenizer_model": field("tokenizer.ggml.model"),  # "gpt2": byte-level BPE; "llama": SentencePiece
        "pre_tokenizer": field("tokenizer.ggml.pre"),  # how llama.cpp splits text before BPE (see gguf_pre_tokenizer)
    }


def gguf_pre_tokenizer(path: Path) -> dict:
    """The pre-tokenizer a GGUF file declares (``name``), whether MaskLab's tokenizer of the file splits
    text as llama.cpp does for it (``honoured``), and a ``note`` for the model card. From the cached header.

    ``smollm`` and the types with its rule: every numeral code point is a piece of its own, then GPT-2's
    regex splits the rest (" ¼" is "Ġ" + "Â¼", never "ĠÂ" + "¼"). ``gpt2`` and its like: GPT-2's regex,
    what transformers builds already. ``default`` (or none) needs nothing for a SentencePiece vocabulary;
    for byte-level BPE, llama.cpp's default rule differs from GPT-2's and is not reproduced. Any other
    type is not honoured: transformers' tokenizer is kept, and the note says so."""
    s = gguf_summary(path)
    name, model = s.get("pre_tokenizer"), s.get("tokenizer_model")
    shown = name or "none declared"
    if model == "gpt2" and name in NUMERALS_APART:
        return {"name": name, "honoured": True, "note": f"{name} (numerals split one by one before GPT-2's rule, as llama.cpp does)"}
    if model == "gpt2" and name in GPT2_RULE:
        return {"name": name, "honoured": True, "note": f"{name} (GPT-2's rule, as llama.cpp and transformers both split)"}
    if model != "gpt2" and name in (None, "default"):
        return {"name": name, "honoured": True, "note": f"{shown} (no split before the {model or 'vocabulary'} tokenizer's own model, as llama.cpp)"}
    return {"name": name, "honoured": False,
            "note": f"{shown} (not honoured: MaskLab keeps the tokenizer transformers builds from the file, with GPT-2's rule; "
                    f"llama.cpp may split some texts into other tokens)"}


def honour_pre_tokenizer(tok, gguf: Path) -> str:
    """Make ``tok``, the tokenizer transformers built from ``gguf``, split text as the file declares
    (`gguf_pre_tokenizer`); returns the model card's note. Only a byte-level tokenizer with GPT-2's rule
    (what transformers builds for a ``gpt2`` vocabulary) is changed; anything else is kept and said."""
    rule = gguf_pre_tokenizer(gguf)
    if not rule["honoured"] or rule["name"] not in NUMERALS_APART + GPT2_RULE:
        return rule["note"]
    from tokenizers import Regex, pre_tokenizers

    backend = getattr(tok, "backend_tokenizer", None)
    pre = backend.pre_tokenizer if backend is not None else None
    if not (isinstance(pre, pre_tokenizers.ByteLevel) and pre.use_regex):
        return f"{rule['name']} (not honoured: transformers built this file's tokenizer without GGUF's usual byte-level GPT-2 rule, so MaskLab keeps it as built)"
    if rule["name"] in NUMERALS_APART:
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(NUMERAL), "isolated"), pre])
    return rule["note"]
