"""Attention masks: one module, one polarity. ``True`` means "may attend", as in PyTorch's SDPA.

Every mask in MaskLab comes from one rule. Query position ``q`` may attend to key position ``k`` when

    k <= q  or  k < n_prefix

``n_prefix = 0`` gives a causal (decoder) mask, ``n_prefix >= length`` a bidirectional (encoder) one,
anything between a prefix-LM mask. The model builds its masks here, and so do the mask pages.
"""

from typing import Literal, get_args

import torch

from engine.checks import check_bool, check_choice, check_int

Architecture = Literal["encoder", "decoder", "prefix_lm", "encoder_decoder"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)


def check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")


def prefix_mask(n_q: int, n_k: int | None = None, n_prefix=0, q_offset: int | None = None, device=None) -> torch.Tensor:
    """Boolean mask (n_q, n_k) for queries at key positions ``q_offset .. q_offset + n_q - 1``.

    ``q_offset`` defaults to ``n_k - n_q``: the queries are the last ``n_q`` keys, which is what an
    incremental decoder with a KV cache needs. ``n_prefix`` may be an int or a (B,) tensor, in which
    case the result is (B, 1, n_q, n_k), one mask per example, ready to broadcast over heads.
    """
    n_k = n_q if n_k is None else n_k
    q_offset = n_k - n_q if q_offset is None else q_offset
    q = torch.arange(q_offset, q_offset + n_q, device=device)[:, None]  # (n_q, 1)
    k = torch.arange(n_k, device=device)[None, :]  # (1, n_k)
    if isinstance(n_prefix, torch.Tensor) and n_prefix.dim() == 1:
        prefix = n_prefix.to(device)[:, None, None, None]  # (B, 1, 1, 1)
        return (k <= q) | (k < prefix)  # (B, 1, n_q, n_k)
    return (k <= q) | (k < int(n_prefix))


def causal_mask(n: int, device=None) -> torch.Tensor:
    return prefix_mask(n, n, 0, device=device)


def full_mask(n_q: int, n_k: int | None = None, device=None) -> torch.Tensor:
    return torch.ones(n_q, n_q if n_k is None else n_k, dtype=torch.bool, device=device)


def attention_masks(architecture: str, n_input: int, n_target: int = 0, *, causal_input: bool = False) -> dict[str, torch.Tensor]:
    """The allowed-attention patterns of an architecture over ``n_input`` input and ``n_target`` target tokens.

    Single-stack architectures see one sequence of ``n_input + n_target`` tokens and return ``{"self": ...}``:
    ``encoder`` is bidirectional, ``decoder`` causal, ``prefix_lm`` bidirectional over the first ``n_input``
    and causal after. ``encoder_decoder`` returns ``encoder`` (n_input x n_input, bidirectional unless
    ``causal_input``), ``decoder`` (n_target x n_target, causal) and ``cross`` (n_target x n_input: every
    target position sees every encoder output).

    >>> attention_masks("prefix_lm", 2, 2)["self"].int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    """
    check_choice("architecture", architecture, ARCHITECTURES)
    n_input = check_int("n_input", n_input, minimum=0)
    n_target = check_int("n_target", n_target, minimum=0)
    check_bool("causal_input", causal_input)
    n = n_input + n_target
    if architecture == "encoder":
        return {"self": full_mask(n)}
    if architecture == "decoder":
        return {"self": causal_mask(n)}
    if architecture == "prefix_lm":
        return {"self": prefix_mask(n, n, n_input)}
    encoder = causal_mask(n_input) if causal_input else full_mask(n_input)
    return {"encoder": encoder, "decoder": causal_mask(n_target), "cross": full_mask(n_target, n_input)}


def joint_mask(architecture: str, n_input: int, n_target: int = 0) -> torch.Tensor:
    """Who may read whom over the whole sequence [input; target], (n, n) with n = n_input + n_target,
    for any architecture: the single stacks' ``self`` mask, and for ``encoder_decoder`` its three masks
    in one matrix: the encoder's rows read the input both ways, the decoder's rows read every input token
    (cross-attention, to the encoder's last layer) and the targets up to themselves. Drawn so, the
    encoder-decoder's pattern is the prefix-LM's: what differs is two stacks of weights.

    >>> joint_mask("encoder_decoder", 2, 2).int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    """
    m = attention_masks(architecture, n_input, n_target)
    if "self" in m:
        return m["self"]
    top = torch.cat([m["encoder"], torch.zeros(n_input, n_target, dtype=torch.bool)], dim=1)
    return torch.cat([top, torch.cat([m["cross"], m["decoder"]], dim=1)], dim=0)


def visible(n_prefix: int, q0: int, q1: int, k0: int, k1: int) -> torch.Tensor:
    """The rule's cells for queries [q0, q1) and keys [k0, k1) of one sequence, (q1 - q0, k1 - k0):
    `prefix_mask` cut to a window (``n_prefix`` 0: causal; at least ``k1``: bidirectional)."""
    return prefix_mask(max(q1 - q0, 0), max(k1, 0), n_prefix, q_offset=q0)[:, k0:]
