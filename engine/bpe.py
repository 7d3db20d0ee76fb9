"""Trains MaskLab's own byte-level BPE and writes it as a tiktoken ranks file.

Hugging Face ``tokenizers`` does the training (GPT-2's recipe: split text with GPT-2's regex, map
each byte to a printable character, learn merges of frequent adjacent pairs); tiktoken does all the
encoding at run time. The bridge is tiktoken's ranks file, one ``base64(token) rank`` per line:

- ranks 0..255 are the single bytes, rank = byte value;
- rank 256 + i is the byte string that the i-th learned merge produces (GPT-2's byte-to-character
  mapping undone), so merging "h"+"e" first and then "he"+"llo" gives b"he" rank 256, b"hello" 257.

tiktoken repeatedly merges the adjacent pair whose concatenation has the lowest rank; HF applies
its merges by priority. Both give the same tokens except in rare words where one byte string can be
built from two different pairs (see ``compare``).

    python -m engine.bpe --out assets/tokenizer/masklab-8k.tiktoken
"""

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tiktoken
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from engine import paths
from engine.tokenizer import MASKLAB_BPE_PATH, R50K_PAT_STR
from engine.vocab import N_REGULAR

DEFAULT_CORPUS = paths.SHARED / "corpus" / "train.txt"
DOC_SEPARATOR = "<|endoftext|>"  # a line of its own between documents; never trained on


@dataclass(frozen=True)
class Agreement:
    """How often HF's tokenizer and tiktoken (same ranks) split a text into the same tokens."""

    texts: int
    identical: int  # texts whose token byte strings match exactly
    chars: int
    hf_tokens: int
    tiktoken_tokens: int

    @property
    def rate(self) -> float:
        return self.identical / max(self.texts, 1)

    @property
    def tokens_per_char(self) -> float:
        return self.tiktoken_tokens / max(self.chars, 1)


def corpus_path(flag: str | None = None) -> Path:
    """The corpus to read: ``--corpus``, else ``$MASKLAB_CORPUS``, else the shared train.txt."""
    return Path(flag or os.environ.get(paths.CORPUS_ENV) or DEFAULT_CORPUS)


def corpus_files(path: Path) -> list[Path]:
    """``path`` itself, or the .txt files in the folder ``path`` in name order."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no corpus at {path} (a text file, or a folder of .txt files)")
    return files


def read_documents(files: Iterable[Path], max_bytes: int) -> Iterator[str]:
    """The documents of ``files``, separator lines dropped, up to ``max_bytes`` of UTF-8 text."""
    budget = max_bytes
    for file in files:
        doc = []
        with open(file, encoding="utf-8") as f:
            for line in f:
                if line.rstrip("\r\n") == DOC_SEPARATOR:
                    if doc:
                        yield "".join(doc)
                    doc = []
                    continue
                size = len(line.encode("utf-8"))
                if size >= budget:
                    # "ignore" drops a character the cut would split
                    doc.append(line.encode("utf-8")[:budget].decode("utf-8", errors="ignore"))
                    yield "".join(doc)
                    return
                budget -= size
                doc.append(line)
        if doc:
            yield "".join(doc)


def train_hf_bpe(texts: Iterable[str], vocab_size: int, show_progress: bool = False) -> Tokenizer:
    """A GPT-2-style byte-level BPE with ``vocab_size`` tokens: 256 bytes, then merges."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        special_tokens=[],  # MaskLab's specials sit after the BPE ids (engine.vocab)
        show_progress=show_progress,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def hf_merges(tokenizer: Tokenizer) -> list[tuple[str, str]]:
    """The learned merges in order, as pairs of GPT-2 byte-characters strings."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    # tokenizers < 0.20 writes "a b", later versions ["a", "b"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


def gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted (character -> byte)."""
    # printable bytes stand for themselves (as Latin-1); the rest get chr(256), chr(257), ... in order
    stand_ins = {b: chr(b) for b in range(256) if chr(b).isprintable() and b != ord(" ")}
    others = [b for b in range(256) if b not in stand_ins]
    stand_ins.update({b: chr(256 + n) for n, b in enumerate(others)})
    return {ch: b for b, ch in stand_ins.items()}


def ranks_from_merges(merges: Iterable[tuple[str, str]], vocab_size: int) -> dict[bytes, int]:
    """tiktoken ranks: bytes 0..255 by value, then each merge's result in merge order.

    HF's trainer can learn two merges with the same result (``ab``+``c`` and ``a``+``bc``); the
    first one fixes the rank, since tiktoken keys ranks by the resulting bytes.
    """
    decoder = gpt2_byte_decoder()
    ranks = {bytes([b]): b for b in range(256)}
    for left, right in merges:
        ranks.setdefault(bytes(decoder[ch] for ch in left + right), len(ranks))
    if len(ranks) != vocab_size:
        raise ValueError(f"learned {len(ranks)} tokens, not {vocab_size}: the corpus is too small")
    return ranks


def write_ranks(ranks: dict[bytes, int], path: Path) -> None:
    """Writes ``ranks`` in tiktoken's format; atomically, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(
        base64.b64encode(token) + b" " + str(rank).encode() + b"\n"
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1])
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the asset private to its writer
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encoding_from_ranks(ranks: dict[bytes, int], name: str = "masklab-bpe") -> tiktoken.Encoding:
    """A tiktoken encoding of ``ranks`` alone, without MaskLab's special tokens."""
    return tiktoken.Encoding(name=name, pat_str=R50K_PAT_STR, mergeable_ranks=ranks, special_tokens={})


def compare(hf: Tokenizer, enc: tiktoken.Encoding, texts: list[str]) -> Agreement:
    """Tokenizes each text with both and counts the texts split identically."""
    decoder = gpt2_byte_decoder()
    identical = hf_tokens = tiktoken_tokens = 0
    for text, hf_encoding in zip(texts, hf.encode_batch(texts)):
        ours = enc.decode_tokens_bytes(enc.encode_ordinary(text))
        theirs = [bytes(decoder[ch] for ch in token) for token in hf_encoding.tokens]
        identical += ours == theirs
        hf_tokens += len(theirs)
        tiktoken_tokens += len(ours)
    return Agreement(len(texts), identical, sum(map(len, texts)), hf_tokens, tiktoken_tokens)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        help=f"text file or folder of .txt files (default: $MASKLAB_CORPUS, else {DEFAULT_CORPUS})",
    )
    parser.add_argument(
        "--out", type=Path, default=MASKLAB_BPE_PATH, help="ranks file to write, in tiktoken's format"
    )
    parser.add_argument(
        "--max-bytes", type=int, default=20_000_000, help="train on the first this many bytes of the corpus"
    )
    parser.add_argument(
        "--vocab-size", type=int, default=N_REGULAR, help="tokens in the BPE, the 256 single bytes included"
    )
    parser.add_argument(
        "--check", type=Path, help="after training, compare HF's and tiktoken's tokens on this file or folder"
    )
    parser.add_argument(
        "--check-bytes", type=int, default=4_000_000, help="compare on the first this many bytes of --check"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.vocab_size <= 256 or args.max_bytes <= 0:
        parser.error("--vocab-size must exceed 256 and --max-bytes must be positive")

    files = corpus_files(corpus_path(args.corpus))
    began = time.perf_counter()
    hf = train_hf_bpe(read_documents(files, args.max_bytes), args.vocab_size, show_progress=not args.quiet)
    ranks = ranks_from_merges(hf_merges(hf), args.vocab_size)
    write_ranks(ranks, args.out)
    size = args.out.stat().st_size
    print(f"wrote {len(ranks)} ranks to {args.out} ({size:,} bytes) in {time.perf_counter() - began:.1f} s")

    if args.check:
        docs = read_documents(corpus_files(args.check), args.check_bytes)
        paragraphs = [line for doc in docs for line in doc.splitlines(keepends=True)]
        a = compare(hf, encoding_from_ranks(ranks), paragraphs)
        print(
            f"HF vs tiktoken: {a.identical}/{a.texts} paragraphs identical ({a.rate:.4%}); "
            f"tokens {a.hf_tokens:,} vs {a.tiktoken_tokens:,}; {a.tokens_per_char:.4f} tokens/char"
        )


if __name__ == "__main__":
    sys.exit(main())
