"""How each architecture is scored on the per-token-loss page.

A decoder-only or prefix-LM is scored in one pass. An encoder-only or encoder-decoder needs a token hidden
to score it: by default as it was trained (`STRIDE` passes, each hiding every `STRIDE`-th token), or
exactly, one copy of the text per token (pseudo-log-likelihood), which costs n passes and so stops at
`SLOW_LIMIT` tokens. `score_aligned` applies this policy through the cached `ui.cache.score` and lines
the rows up with MaskLab's tokens of the page. The benchmark (`bench/analysis.py`) reads these three
settings from this file's source, so its numbers are the page's.
"""

import pandas as pd

import engine
from ui import cache

ONE_PASS_PER_TOKEN = ("encoder", "encoder_decoder")  # exact scoring: one copy per token, cost grows with n * context
SLOW_LIMIT = 256  # tokens such models score on this page when scored exactly
STRIDE = 7  # scored as trained (the page's default): 1 token in 7 hidden per pass, about the 15% BERT and T5 hide


def score_aligned(name: str, architecture: str, text: str, tokens: list, exact: bool = False) -> tuple[pd.DataFrame, int]:
    """Scores over ``tokens`` (MaskLab's tokenization of ``text``), padded with unscored rows where a
    slow method stops early; returns the frame and how many tokens were scored. An encoder or
    encoder-decoder is scored as trained (``STRIDE``), or with ``exact`` one copy per token on the
    first ``SLOW_LIMIT`` tokens."""
    masked = architecture in ONE_PASS_PER_TOKEN
    limit = min(SLOW_LIMIT, len(tokens)) if exact and masked else len(tokens)
    part = text[: tokens[limit - 1].end] if tokens and limit else text  # the page's tokens only, never a longer paste
    df = engine.scoring.pad_unscored(cache.score(name, part, stride=STRIDE if masked and not exact else None), tokens)
    return df.iloc[: len(tokens)].reset_index(drop=True), min(limit, len(tokens))
