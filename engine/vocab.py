"""MaskLab's vocabulary layout: where the special tokens sit, shared by tokenizer, objectives and models.

MaskLab's own byte-level BPE has ``N_REGULAR`` ordinary tokens (ids ``0 .. N_REGULAR-1``: the 256
single bytes first, then the merges in the order they were learned), followed by the special tokens
below, for ``VOCAB_SIZE`` ids in all. Special tokens are never produced from user text.
"""

from dataclasses import dataclass, field

VOCAB_SIZE = 8192
N_SENTINELS = 97
MODE_TOKENS = {"R": "<|R|>", "S": "<|S|>", "X": "<|X|>"}  # UL2's regular, sequential, extreme denoisers
# Fill-in-the-middle's three tokens (Bavarian et al. 2022) take the ids of what were the last three of 100
# sentinels, so no shipped model's ids move: span corruption of a 256-token window uses at most 13
# sentinels (0.15 x 256 / 3 spans), UL2's extreme denoiser 4.
FIM_TOKENS = {"prefix": "<|fim_prefix|>", "suffix": "<|fim_suffix|>", "middle": "<|fim_middle|>"}
SPECIAL_NAMES = (
    ["<|endoftext|>", "<|pad|>", "<|mask|>", "<|bos|>"]
    + list(MODE_TOKENS.values())
    + [f"<|sentinel_{i}|>" for i in range(N_SENTINELS)]
    + list(FIM_TOKENS.values())
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
    fim: dict = field(default_factory=dict)  # {"prefix": id, "suffix": id, "middle": id}; empty where a tokenizer has none

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
        fim={k: ids[v] for k, v in FIM_TOKENS.items()},
    )


MASKLAB = _masklab_ids()
SPECIAL_TOKEN_IDS = {name: N_REGULAR + i for i, name in enumerate(SPECIAL_NAMES)}
