"""MaskLab's vocabulary layout: where the special tokens sit, shared by tokenizer, objectives and models.

MaskLab's own byte-level BPE has ``N_REGULAR`` ordinary tokens (ids ``0 .. N_REGULAR-1``: the 256
single bytes first, then the merges in the order they were learned), followed by the special tokens
below, for ``VOCAB_SIZE`` ids in all. Special tokens are never produced from user text.
"""

from dataclasses import dataclass

VOCAB_SIZE = 8192
N_SENTINELS = 100
MODE_TOKENS = {"R": "<|R|>", "S": "<|S|>", "X": "<|X|>"}  # UL2's regular, sequential, extreme denoisers
SPECIAL_NAMES = (
    ["<|endoftext|>", "<|pad|>", "<|mask|>", "<|bos|>"]
    + list(MODE_TOKENS.values())
    + [f"<|sentinel_{i}|>" for i in range(N_SENTINELS)]
)
N_REGULAR = VOCAB_SIZE - len(SPECIAL_NAMES)  # 8085 ordinary BPE tokens


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the tokens the objectives insert; ``n_regular`` bounds the ids MLM may draw at random."""

    vocab_size: int
    n_regular: int  # ids in [0, n_regular) are ordinary tokens
    eos: int
    pad: int
    mask: int
    bos: int
    modes: dict  # {"R": id, "S": id, "X": id}
    sentinels: tuple  # sentinel i marks the i-th masked span

    def sentinel(self, i: int) -> int:
        if i >= len(self.sentinels):
            raise ValueError(f"needs sentinel {i}, but only {len(self.sentinels)} exist; use fewer spans")
        return self.sentinels[i]


def _masklab_ids() -> SpecialIds:
    ids = {name: N_REGULAR + i for i, name in enumerate(SPECIAL_NAMES)}
    return SpecialIds(
        vocab_size=VOCAB_SIZE,
        n_regular=N_REGULAR,
        eos=ids["<|endoftext|>"],
        pad=ids["<|pad|>"],
        mask=ids["<|mask|>"],
        bos=ids["<|bos|>"],
        modes={k: ids[v] for k, v in MODE_TOKENS.items()},
        sentinels=tuple(ids[f"<|sentinel_{i}|>"] for i in range(N_SENTINELS)),
    )


MASKLAB = _masklab_ids()
SPECIAL_TOKEN_IDS = {name: N_REGULAR + i for i, name in enumerate(SPECIAL_NAMES)}
