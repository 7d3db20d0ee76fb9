"""Training data as the references prepare it: special tokens (the document separator, mode tokens)
are never chosen for masking or noise, and every batch stays rectangular."""

import pytest
import torch



def _windows_with_separators(seed: int, n: int = 64, separators: int = 3) -> list[int]:
    from engine.vocab import MASKLAB

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, MASKLAB.n_regular, (n,), generator=g).tolist()
    for p in torch.randperm(n, generator=g)[:separators].tolist():  # document boundaries inside one window
        ids[p] = MASKLAB.eos
    ids[-1 if seed % 4 == 0 else 0] = MASKLAB.eos  # a window that ends (or starts) at a boundary too
    return ids


@pytest.mark.parametrize("objective, params", [("mlm", {}), ("span_corruption", {}), ("ul2", {"mode": "R"}), ("ul2", {"mode": "X"})])
def test_special_tokens_are_never_chosen_for_masking_or_noise(objective, params):
    from engine.objectives import corrupt
    from engine.vocab import MASKLAB

    lengths = set()
    for seed in range(40):
        ids = _windows_with_separators(seed, n=256, separators=1) if params.get("mode") == "X" else _windows_with_separators(seed)
        c = corrupt(ids, objective, seed=seed, **params)
        special = [t >= MASKLAB.n_regular for t in ids]
        assert not any(m and s for m, s in zip(c.loss_mask, special)), seed  # no separator is ever a target
        assert c.original == ids and sum(c.loss_mask) > 0
        if objective == "mlm":
            assert sum(c.loss_mask) == round(0.15 * (len(ids) - sum(special)))  # 15% of the ordinary tokens
            assert all(c.inputs[i] == ids[i] for i, s in enumerate(special) if s)
        else:
            assert c.inputs.count(MASKLAB.eos) == ids.count(MASKLAB.eos) + 1  # every separator stays in the input, then the final eos
            lengths.add((len(c.inputs), len(c.targets)))
    if objective != "mlm":
        assert len(lengths) == 1  # every window of a batch keeps T5's length


def test_a_batch_of_windows_with_separators_is_rectangular_even_when_no_layout_avoids_them():
    """UL2's extreme denoiser hides half a 64-token window in one span: with separators spread through
    the window no span avoids them all, so that window is shorter; the batch pads it, labels ignored."""
    from engine.losses import IGNORE_INDEX
    from engine.train import make_batch
    from engine.vocab import MASKLAB

    windows = [_windows_with_separators(s) for s in range(16)]
    padded_somewhere = False
    for objective, arch in (("span_corruption", "encoder_decoder"), ("ul2", "prefix_lm"), ("ul2", "encoder_decoder"), ("mlm", "encoder")):
        for seed in range(6):  # seeds 0-5 draw each UL2 denoiser at least once
            b = make_batch(windows, objective, arch, seed=seed)
            assert b.idx.shape[0] == 16 and b.targets.shape[0] == 16
            pads = (b.decoder_idx if arch == "encoder_decoder" else b.idx) == MASKLAB.pad
            assert (b.targets[pads] == IGNORE_INDEX).all()  # a padded position never carries a loss
            padded_somewhere |= bool(pads.any())
    assert padded_somewhere  # the fallback was exercised
