"""The training loss, per position: what training, validation and the encoder-reading measure
(`engine.encoder_reading`) compute. The per-token pages (`engine.scoring`) and the yardstick
(`engine.yardstick`) need more than the loss of the actual token (its rank, the top-k, the argmax), so
they take the whole log-softmax; for the actual token it is the same number."""

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100  # label of a position that sends no training signal


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-position negative log-likelihood in nats, (B, T) -> same shape; 0 where ``targets == IGNORE_INDEX``."""
    B, T, V = logits.shape
    nll = F.cross_entropy(logits.reshape(B * T, V).float(), targets.reshape(B * T), ignore_index=IGNORE_INDEX, reduction="none")
    return nll.view(B, T)


def mean_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean loss over the positions that have a label (0 when none has)."""
    nll = token_nll(logits, targets)
    n = (targets != IGNORE_INDEX).sum()
    return nll.sum() / n.clamp(min=1)
