"""A ``transformers`` tokenizer as MaskLab reads it: the special tokens a model's scoring needs
(`specials`: its start token, its own ``[CLS] … [SEP]`` frame, mask token, T5's sentinels, the
decoder's start), whether a tokenizer fits its model at all (`tokenizer_problem`), and a text in
its tokens, as the rows `engine.score` shows (`text_rows`) and as the tokenization page draws them
(`token_rows`).

Rows are the tokenizer's tokens of the text without special tokens, each read as the text it stands
for (`` the``, as MaskLab's own rows read), with the tokenizer's own vocabulary entry beside it
(``Ġthe``, ``##ing``, ``▁the``: `engine.score`'s ``piece`` column), so each family's way of marking
word boundaries stays visible. As with tiktoken's ``encode_ordinary``, special-token strings typed by
a user (``[MASK]``, ``<|endoftext|>``) are ordinary text.
"""

import functools
import re

from engine.backend import Specials, TextTokens
from engine.vocab import SpecialIds

_BYTE_FALLBACK = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # SentencePiece's byte-fallback tokens (Llama 2, Gemma)


# ---------------------------------------------------------------- special tokens


def sentinels(tok) -> tuple[int, ...]:
    """T5's span sentinels ``<extra_id_0>``, ``<extra_id_1>`` … the tokenizer knows, in order."""
    out = []
    for i in range(100):
        j = tok.convert_tokens_to_ids(f"<extra_id_{i}>")
        if j is None or j == tok.unk_token_id:
            break
        out.append(j)
    return tuple(out)


def frame(tok) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The special tokens the tokenizer itself puts before and after a text (``[CLS]``/``[SEP]``,
    ``<s>``/``</s>``, Llama 3's BOS, T5's ``</s>``), found by tokenizing a probe both ways."""
    bare = tok("a", add_special_tokens=False)["input_ids"]
    full = tok("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return tuple(full[:i]), tuple(full[i + len(bare) :])
    return (), ()


def tokenizer_problem(tok, model, architecture: str) -> str | None:
    """Why ``tok`` cannot serve ``model`` as ``architecture`` (a sentence), or None when it can."""
    vocab = model.config.get_text_config().vocab_size
    if not vocab // 2 <= len(tok) <= vocab:
        return f"its tokenizer has {len(tok)} entries for a model of {vocab}: the tokenizer files are missing or belong to another model."
    if architecture == "encoder" and tok.mask_token_id is None:
        return "its tokenizer has no mask token, so it cannot be scored by pseudo-log-likelihood."
    if architecture == "encoder_decoder" and not sentinels(tok) and tok.mask_token_id is None:
        return "its tokenizer has neither an <extra_id_0> sentinel nor a mask token, so it cannot fill masked spans."
    return None


def specials(tok, model, architecture: str, vocab_size: int) -> Specials:
    """The `engine.backend.Specials` of a ``transformers`` model and its tokenizer: next-token after the
    model's own start token; its own frame and mask token for pseudo-log-likelihood; one-token spans
    behind its own sentinel (T5), or behind its ``<mask>`` with the decoder rewriting the text (BART)."""
    cfg = model.config
    prefix, suffix = frame(tok)
    banned = list(range(len(tok), vocab_size))
    eos = tok.eos_token_id
    if architecture == "decoder":
        vocab_eot = tok.convert_tokens_to_ids("<|endoftext|>") if "<|endoftext|>" in tok.get_vocab() else None
        start = prefix[-1] if prefix else vocab_eot if vocab_eot is not None else tok.bos_token_id if tok.bos_token_id is not None else eos
        return Specials(start=start, eos=eos, banned=tuple(banned), stop=frozenset({eos, start} - {None}))
    if architecture == "encoder" and not (prefix or suffix) and tok.cls_token_id is not None and tok.sep_token_id is not None:
        prefix, suffix = (tok.cls_token_id,), (tok.sep_token_id,)  # a tokenizer saved without its post-processor
    if architecture == "encoder_decoder" and not suffix and eos is not None:
        suffix = (eos,)  # every encoder-decoder's encoder read its text up to end-of-sequence
    if architecture == "encoder_decoder" and not prefix and not sentinels(tok) and tok.bos_token_id is not None:
        prefix = (tok.bos_token_id,)  # BART read <s> text </s>
    if architecture == "encoder":
        return Specials(prefix=prefix, suffix=suffix, mask=tok.mask_token_id, eos=eos, banned=tuple(banned))
    spans = sentinels(tok)
    dstart = getattr(cfg, "decoder_start_token_id", None)
    if dstart is None:
        dstart = getattr(getattr(model, "generation_config", None), "decoder_start_token_id", None)
    dstart = cfg.pad_token_id if dstart is None else dstart
    style = "sentinel" if spans else "reconstruct"
    stop = {eos} | set(spans) if style == "sentinel" else {eos}
    mask = spans[0] if spans else tok.mask_token_id
    # engine.objectives.corrupt's view of the vocabulary: T5's sentinels, or BART's one <mask> for every span
    span_ids = SpecialIds(vocab_size=max(len(tok), vocab_size), n_regular=min(spans) if spans else len(tok), eos=eos,
                          pad=tok.pad_token_id, mask=mask, bos=dstart, modes={}, sentinels=spans or (mask,) * 100)
    return Specials(prefix=prefix, suffix=suffix, mask=mask, sentinels=spans, span_style=style,
                    decoder_start=dstart, eos=eos, banned=tuple(banned + [dstart]), stop=frozenset(stop - {None}), span_ids=span_ids)


# ---------------------------------------------------------------- a text in the tokenizer's tokens


def token_names(tok, ids) -> list[str]:
    """Vocabulary entries of ``ids``; T5's logits run past its tokenizer (32128 vs 32100 ids)."""
    return [s if s is not None else f"<id {i}>" for i, s in zip(ids, tok.convert_ids_to_tokens([int(i) for i in ids]))]


def _byte_level(tok) -> bool:
    """Whether a fast tokenizer is byte-level BPE (GPT-2's ``Ġ`` for the space byte): its pre-tokenizer
    or decoder is ``ByteLevel``."""
    backend = getattr(tok, "backend_tokenizer", None)
    return backend is not None and any("ByteLevel" in repr(part) for part in (backend.pre_tokenizer, backend.decoder))


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict:
    """Byte-level BPE's printable stand-in for each byte, reversed (GPT-2's ``bytes_to_unicode``,
    openai/gpt-2 encoder.py): "Ġ" is the space byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = list(bs), 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def text_rows(tok, text: str) -> TextTokens:
    """The tokenizer's tokens of ``text``, special tokens neither added nor parsed. A token's
    surface is the text from the end of the previous token to its own end, so a word-initial token
    carries its leading space as tiktoken's do; tokens sharing one character's span (the bytes of
    an emoji) each get that character.

    Its name is the text it stands for, as MaskLab's own tokens read: the new text it covers (" Paris",
    not byte-level BPE's "ĠParis", SentencePiece's "▁Paris" or WordPiece's "##is"), so the names
    join to the text; a byte-level token holding part of a character is its bytes, those that are
    not whole characters spelled ``<0xF0>`` (as `engine.tokenizer.tokenize` spells them), and a
    byte-fallback token keeps its own ``<0xF0>``. The vocabulary entries are the pieces."""
    from engine.tokenizer import display_text, is_utf8

    fast = bool(getattr(tok, "is_fast", False))
    enc = tok(text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=fast)
    ids = list(enc["input_ids"])
    pieces = token_names(tok, ids)
    if not fast:
        surfaces = [tok.decode([i]) for i in ids]
        return TextTokens(ids, surfaces, [-1] * len(ids), [-1] * len(ids), surfaces, pieces)
    byte_of = _byte_decoder() if _byte_level(tok) else {}
    starts, ends, surfaces, names, prev = [], [], [], [], 0
    for (s, e), piece in zip(enc["offset_mapping"], pieces):
        starts.append(int(s))
        ends.append(int(e))
        surfaces.append(text[min(prev, s) : e] if e > prev else text[s:e])
        raw = bytes(byte_of[c] for c in piece) if byte_of and piece and all(c in byte_of for c in piece) else None
        if raw is not None and not is_utf8(raw):
            names.append(display_text(raw))  # a byte-level piece of a character
        elif _BYTE_FALLBACK.fullmatch(piece):
            names.append(piece)  # SentencePiece's byte fallback names its byte already
        else:
            names.append(text[prev:e] if e > prev else "")
        prev = max(prev, e)
    return TextTokens(ids, names, starts, ends, surfaces, pieces)


def token_rows(tok, text: str) -> list:
    """``text`` in ``tok``'s tokens, as `engine.tokenizer.Token` rows (so the tokenization page draws
    them like tiktoken's): the bytes each token stands for (byte-level BPE pieces decoded, so an emoji's
    byte pieces are flagged ``partial``), the character span, and a group per grapheme cluster that
    several tokens share. The same tokens as `text_rows`, the rows `engine.score` shows."""
    from engine.tokenizer import Token, display_text, is_utf8

    t = text_rows(tok, text)
    byte_of = _byte_decoder()
    out, group, last_end = [], -1, -1
    for i, (tid, name_, s, e, surface) in enumerate(zip(t.ids, t.pieces, t.starts, t.ends, t.surfaces)):  # vocabulary entries
        piece = bytes(byte_of[c] for c in name_) if name_ and all(c in byte_of for c in name_) else surface.encode("utf-8")
        if s >= last_end or s < 0:  # tokens whose spans overlap spell one character between them
            group += 1
        last_end = max(last_end, e)
        out.append(Token(index=i, id=int(tid), bytes=piece, text=display_text(piece), start=max(0, s), end=max(0, e), partial=not is_utf8(piece), group=group))
    return out
