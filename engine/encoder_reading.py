"""Does an encoder-decoder read its encoder? One measured number.

An encoder-decoder trained with span corruption could, in principle, predict its spans from the
decoder's own language model and ignore the encoder: its cross-attention would then be a uniform
smear, and its maps would teach nothing. The test: score the spans of held-out windows twice, once
with the encoder reading the corrupted text, once with every ordinary token of the encoder's input
replaced by a uniformly random ordinary token (sentinels, end-of-sequence and padding kept in place,
so the decoder's task is unchanged). The loss rise on the spans' text tokens, in nats per token, is
how much the model gets from reading its encoder; a model that does not read it gains nothing.

    >>> import engine
    >>> r = encoder_reliance(engine.load_variant("encdec-span").model, held_out_windows(16, 256))  # doctest: +SKIP
    >>> r.rise  # doctest: +SKIP
    0.21
"""

from dataclasses import dataclass

import numpy as np
import torch

from engine.data import sample_windows, token_stream
from engine.losses import IGNORE_INDEX, token_nll
from engine.vocab import MASKLAB

READING_WINDOWS = 32  # held-out windows the app and the cards measure on: one number per model, wherever it is shown
READS_ENCODER_NATS = 1.0  # a rise of at least this many nats per token: the model reads its encoder


@dataclass(frozen=True)
class EncoderReliance:
    """Mean losses per window on the spans' text tokens (nats per token), reading the real encoder input and a random one."""

    real: float
    random: float
    rise: float  # random - real
    rise_ci: tuple[float, float]  # 95% interval over windows: mean ± 1.96 standard errors of the per-window rises
    windows: int
    tokens: int  # span text tokens scored, over all windows

    @property
    def reads_encoder(self) -> bool:
        """True when random encoder text costs at least `READS_ENCODER_NATS` per token, beyond its interval."""
        return self.rise_ci[0] >= READS_ENCODER_NATS

    def sentence(self, name: str, beside: "EncoderReliance | None" = None, beside_name: str = "") -> str:
        """What the number says, in words; with ``beside`` (an encoder-only model's `context_reliance`
        on the same windows, named ``beside_name``), how much there was to read."""
        return self._sentence(name) + (f" {beside.context_sentence(beside_name)}" if beside is not None else "")

    def context_sentence(self, name: str) -> str:
        """A `context_reliance` in words: what the text around the holes is worth to an encoder-only model."""
        lo, hi = self.rise_ci
        return (f"On the same held-out windows, {name} loses {self.rise:.2f} nats per hidden token when the text around its masks "
                f"is random (95% interval {lo:.2f}–{hi:.2f}): that much there is to read.")

    def _sentence(self, name: str) -> str:
        lo, hi = self.rise_ci
        measured = (f"random encoder text raises {name}'s loss on the masked text tokens by {self.rise:.2f} nats per token "
                    f"(95% interval {lo:.2f}–{hi:.2f}, {self.windows} held-out windows: {self.real:.2f} → {self.random:.2f})")
        if self.reads_encoder:
            return f"{name} reads its encoder: {measured}."
        return (f"{name} barely reads its encoder: {measured}, short of the {READS_ENCODER_NATS:.0f} nat a model that "
                "reads it loses. It predicts the spans mostly from the decoder's own context, so where its cross-attention "
                "looks says little about where the spans came from: a bright cell is not a word it uses.")


def held_out_windows(n: int, length: int, seed: int = 0, corpus=None) -> list[list[int]]:
    """``n`` windows of ``length`` MaskLab tokens from the corpus's validation split (``valid.txt``),
    drawn with ``seed``. Raises FileNotFoundError without a corpus, ValueError when it is too short."""
    return sample_windows(token_stream("valid", corpus), n, length, torch.Generator().manual_seed(seed))


def _per_window_loss(model, enc: torch.Tensor, dec: torch.Tensor | None, labels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    logits = model(enc, decoder_idx=dec).logits if dec is not None else model(enc).logits
    nll = token_nll(logits, labels)  # (B, U), 0 where unlabelled
    return (nll * keep).sum(1) / keep.sum(1).clamp(min=1)


def _reliance(model, windows: list[list[int]], objective: str, seed: int, batch: int) -> EncoderReliance:
    """The loop `encoder_reliance` and `context_reliance` share: each window corrupted by ``objective``
    as in training, its hidden text tokens scored reading the real input and one whose other ordinary
    tokens are uniformly random."""
    # here, not at the top: `import engine` loads this module, and `python -m engine.train` must find
    # engine.train not yet imported (runpy would run a second copy of it)
    from engine.train import make_batch

    if not windows:
        raise ValueError("windows must hold at least one window of token ids")
    arch = model.config.architecture
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed + 1)
    real, rand, counts = [], [], []
    for i in range(0, len(windows), batch):
        b = make_batch(windows[i : i + batch], objective, arch, seed, indices=list(range(i, i + len(windows[i : i + batch]))))
        labels = b.targets
        keep = ((labels != IGNORE_INDEX) & (labels < MASKLAB.n_regular)).float()  # the hidden text: no sentinel, no end-of-sequence
        ordinary = b.idx < MASKLAB.n_regular
        if b.decoder_idx is None:  # one stack: the hidden positions keep what the model was given there ([MASK], mostly)
            ordinary &= labels == IGNORE_INDEX
        noise = torch.where(ordinary, torch.randint(0, MASKLAB.n_regular, b.idx.shape, generator=g), b.idx)
        dec = b.decoder_idx.to(dev) if b.decoder_idx is not None else None
        enc, lab, kp = b.idx.to(dev), labels.to(dev), keep.to(dev)
        real.append(_per_window_loss(model, enc, dec, lab, kp).cpu())
        rand.append(_per_window_loss(model, noise.to(dev), dec, lab, kp).cpu())
        counts.append(keep.sum(1))
    model.train(was_training)
    real_w, rand_w, n_w = torch.cat(real).double().numpy(), torch.cat(rand).double().numpy(), torch.cat(counts).numpy()
    rises = rand_w - real_w  # per window: each window counts once, whatever its spans' length
    half = 1.96 * float(np.std(rises, ddof=1) / np.sqrt(len(rises))) if len(rises) > 1 else float("nan")
    rise = float(rises.mean())
    return EncoderReliance(float(real_w.mean()), float(rand_w.mean()), rise, (rise - half, rise + half), len(rises), int(n_w.sum()))


@torch.inference_mode()
def encoder_reliance(model, windows: list[list[int]], seed: int = 0, batch: int = 16) -> EncoderReliance:
    """The loss rise on span text tokens when the encoder's input is random (see the module's text).

    ``model``: a MaskLab `engine.model.Transformer` with ``architecture == "encoder_decoder"``;
    ``windows``: lists of MaskLab token ids (e.g. `held_out_windows`), corrupted by T5 span corruption at
    its defaults (noise density 0.15, mean span length 3) with ``seed``, laid out as in training
    (`engine.train.make_batch`). Raises ValueError for another architecture or no windows."""
    if getattr(getattr(model, "config", None), "architecture", None) != "encoder_decoder":
        raise ValueError("encoder_reliance measures MaskLab encoder-decoders only")
    return _reliance(model, windows, "span_corruption", seed, batch)


@torch.inference_mode()
def context_reliance(model, windows: list[list[int]], seed: int = 0, batch: int = 16) -> EncoderReliance:
    """What reading the text around a hole is worth to an encoder-only model, measured as
    `encoder_reliance` measures an encoder-decoder: BERT's masking (15% of the tokens hidden, as in
    training), the loss on the hidden text tokens with the rest of the window as it is, and with every
    other ordinary token uniformly random. On the same windows, it says how much there is to read:
    the shipped encoder-only gains about 4 nats per token from its context.

    ``model``: a MaskLab `engine.model.Transformer` with ``architecture == "encoder"``. Raises
    ValueError for another architecture or no windows."""
    if getattr(getattr(model, "config", None), "architecture", None) != "encoder":
        raise ValueError("context_reliance measures MaskLab encoders only")
    return _reliance(model, windows, "mlm", seed, batch)
