"""The pretraining corpus: where it is read from, tokenized once, sampled reproducibly.

By default MaskLab reads ``../shared/corpus/{train,valid}.txt`` beside the project (documents
separated by a line ``<|endoftext|>``). ``MASKLAB_CORPUS`` or a ``--corpus`` flag points it at any
other text file or folder: a folder with ``train.txt`` and ``valid.txt`` is used as it is; any other
file or folder of ``.txt`` files is split by document, the last 5% for validation.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from engine import paths
from engine.tokenizer import get_encoding

SEPARATOR = "<|endoftext|>"


def corpus_root(corpus=None) -> Path:
    root = paths.corpus(corpus)
    if not root.exists():
        raise FileNotFoundError(f"corpus not found at {root}: pass --corpus or set MASKLAB_CORPUS to a text file or folder")
    return root


def _documents(text: str) -> list[str]:
    docs = [d.strip("\n") for d in text.split(f"\n{SEPARATOR}\n")]
    return [d.replace(SEPARATOR, "") for d in docs if d.strip()]


def read_documents(split: str, corpus=None, max_bytes: int | None = None) -> list[str]:
    """The documents of ``split`` ("train" or "valid"), at most ``max_bytes`` of text."""
    if split not in ("train", "valid"):
        raise ValueError("split must be 'train' or 'valid'")
    root = corpus_root(corpus)
    if root.is_dir() and (root / "train.txt").exists() and (root / "valid.txt").exists():
        with open(root / f"{split}.txt", encoding="utf-8", errors="replace") as f:
            return _documents(f.read(max_bytes or -1))
    files = sorted(root.rglob("*.txt")) if root.is_dir() else [root]
    docs = [d for p in files for d in _documents(p.read_text(encoding="utf-8", errors="replace"))]
    if len(docs) < 2:  # one long document: split it by paragraphs so both sides get text
        docs = [p for d in docs for p in d.split("\n\n") if p.strip()]
    cut = max(1, int(len(docs) * 0.95))
    chosen = docs[:cut] if split == "train" else docs[cut:] or docs[-1:]
    if max_bytes:
        kept, size = [], 0
        for d in chosen:
            if size >= max_bytes:
                break
            kept.append(d)
            size += len(d.encode())
        chosen = kept
    return chosen


def token_stream(split: str, corpus=None, max_bytes: int | None = None, encoding: str = "masklab") -> np.ndarray:
    """All documents of a split as one uint16 array of ids, documents joined by ``<|endoftext|>``.

    Cached under ``MASKLAB_CACHE`` (default ``~/.cache/masklab``), keyed on the file, its size and
    modification time, the byte limit and the tokenizer file, so a changed corpus is re-read.
    """
    enc = get_encoding(encoding)
    root = corpus_root(corpus).resolve()
    stat = root.stat()
    key = hashlib.sha256(f"{root}|{stat.st_size}|{stat.st_mtime_ns}|{split}|{max_bytes}|{enc.name}|{enc.n_vocab}|{_tokenizer_stamp()}".encode()).hexdigest()[:16]
    cache = paths.cache_dir()
    path = cache / f"{split}-{key}.npy"
    if path.exists():
        return np.load(path)
    docs = read_documents(split, corpus, max_bytes)
    eos = enc.eot_token
    pieces = []
    for ids in enc.encode_ordinary_batch(docs, num_threads=min(8, os.cpu_count() or 1)):
        pieces.append(np.asarray(ids, dtype=np.uint16))
        pieces.append(np.asarray([eos], dtype=np.uint16))
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint16)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, tokens)
    os.replace(tmp, path)
    return tokens


def _tokenizer_stamp() -> str:
    p = paths.BPE_PATH
    return f"{p.stat().st_size}-{p.stat().st_mtime_ns}" if p.exists() else "none"


def sample_windows(tokens: np.ndarray, n: int, length: int, generator: torch.Generator) -> list[list[int]]:
    """``n`` windows of ``length`` ids, starting uniformly at random; reproducible from the generator."""
    if len(tokens) < length + 1:
        raise ValueError(f"the corpus has {len(tokens)} tokens, fewer than one window of {length}")
    starts = torch.randint(0, len(tokens) - length, (n,), generator=generator).tolist()
    return [tokens[s : s + length].astype(np.int64).tolist() for s in starts]


def unigram_cross_entropy(train: np.ndarray, valid: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats/token) of ``valid`` under the train split's token frequencies (add-one):
    the loss of a model that knows which tokens are common but reads no context at all."""
    counts = np.bincount(train.astype(np.int64), minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[valid.astype(np.int64)].mean())
