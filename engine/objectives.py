"""Pre-training objectives: how one token sequence becomes what a model reads and what it must predict.

Every objective is a pure function of (token ids, an explicit ``torch.Generator``, parameters) built
from small named transforms, in the manner of T5's ``preprocessors.py``, and returns a `Corruption`.
`corrupt` is the one entry point: it seeds the generator, checks the arguments and dispatches.

Two shapes of example come out:

* in place (``clm``, ``mlm``, ``prefix_lm``, ``ul2`` mode S, ``fim``): one sequence, and ``targets[t]``
  is the label of position ``t`` of ``inputs`` (``IGNORE_INDEX`` where no loss);
* span style (``span_corruption``, ``ul2`` modes R and X): an encoder input with sentinels where spans
  were cut out, and a separate decoder target that lists the spans behind their sentinels, both ending
  in EOS as T5 does. `as_decoder_sequence` turns either shape into one decoder-only sequence.

Two counts, two names. ``Corruption.loss_mask``, ``n_loss_tokens`` and ``exposure`` count, per
*original* text token, whether the objective makes the model predict it — the text tokens supervised,
whose share is the "loss exposure" that separates causal LM (nearly every token) from BERT (~15%).
``n_loss_positions`` counts the target positions that carry a loss, whatever they predict: in span
style that is every target position, sentinels and EOS included, so it exceeds ``n_loss_tokens``.
"""

import inspect
import operator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch

from engine.checks import check_choice, check_int
from engine.vocab import MASKLAB, SpecialIds

from engine.losses import IGNORE_INDEX  # noqa: F401  (re-exported: objectives label with it)
OBJECTIVES = ("clm", "mlm", "span_corruption", "prefix_lm", "fim", "ul2")
UL2_MODES = ("R", "S", "X")
UL2_MODE_PROBS = {"R": 0.4, "X": 0.4, "S": 0.2}  # drawn in this order: R if u < 0.4, X if u < 0.8, else S
UL2_SPAN_DENOISERS = {  # mode -> (noise_density, mean_span_length)
    "R": (0.15, 3.0),  # regular: T5's span corruption
    "X": (0.5, 32.0),  # extreme: UL2 counts spans >= 12 tokens or corruption >= 30% as extreme; this is both
}


@dataclass(frozen=True)
class Corruption:
    """One training example made from ``original`` by one objective. All fields are plain lists and ints."""

    objective: str  # one of OBJECTIVES
    original: list[int]  # the uncorrupted ids
    inputs: list[int]  # what the model reads: the whole sequence (in place) or the encoder input (span style)
    targets: list[int]  # in place: label per position of inputs; span style: the decoder's target, ending in eos
    decoder_inputs: list[int] | None  # span style: [bos] + targets[:-1] (teacher forcing); None in place
    n_prefix: int  # positions < n_prefix of inputs are attended bidirectionally
    loss_mask: list[bool]  # per original token: is it predicted from context?
    exposure: float = field(init=False)  # mean(loss_mask); 0.0 for an empty original
    mode: str | None  # UL2 denoiser "R", "S" or "X"; None for the other objectives
    kinds: list[str]  # per position of inputs, a label for display ("mask", "sentinel", "prefix", ...)
    span_origin: list[tuple[int, int]]  # span style: [start, end) of original tokens sentinel i replaced

    def __post_init__(self):
        n = len(self.original)
        object.__setattr__(self, "exposure", sum(self.loss_mask) / n if n else 0.0)
        if len(self.loss_mask) != n:
            raise ValueError(f"loss_mask has {len(self.loss_mask)} entries for {n} original tokens")
        if len(self.kinds) != len(self.inputs):
            raise ValueError(f"kinds has {len(self.kinds)} entries for {len(self.inputs)} inputs")
        if self.decoder_inputs is None and len(self.targets) != len(self.inputs):
            raise ValueError("in-place targets must align with inputs")
        if self.decoder_inputs is not None and len(self.decoder_inputs) != len(self.targets):
            raise ValueError("decoder_inputs must be as long as targets")
        if not 0 <= self.n_prefix <= len(self.inputs):
            raise ValueError(f"n_prefix {self.n_prefix} outside [0, {len(self.inputs)}]")

    @property
    def span_style(self) -> bool:
        """True when ``targets`` is a separate decoder sequence rather than labels aligned with ``inputs``."""
        return self.decoder_inputs is not None

    @property
    def n_loss_tokens(self) -> int:
        """Text tokens supervised: original tokens the model must predict (``exposure`` is their share)."""
        return sum(self.loss_mask)

    @property
    def n_loss_positions(self) -> int:
        """Target positions that carry a loss: every decoder target in span style (sentinels and EOS
        included), the labelled positions in place."""
        if self.span_style:
            return len(self.targets)
        return sum(t != IGNORE_INDEX for t in self.targets)


class DecoderSequence(NamedTuple):
    """One sequence for a decoder-only or prefix-LM model: ``labels[t]`` is what position ``t`` must predict."""

    seq: list[int]
    labels: list[int]
    n_prefix: int  # positions < n_prefix attend bidirectionally


def next_token_labels(tokens: list[int], first: int = 0) -> list[int]:
    """Labels for next-token prediction: ``labels[t] = tokens[t + 1]`` for ``first <= t < n - 1``, else ignored.

    The last position never has a label: nothing follows it.

    >>> next_token_labels([5, 6, 7, 8])
    [6, 7, 8, -100]
    >>> next_token_labels([5, 6, 7, 8], first=2)
    [-100, -100, 8, -100]
    """
    n = len(tokens)
    return [tokens[t + 1] if first <= t < n - 1 else IGNORE_INDEX for t in range(n)]


def special_kinds(tokens: list[int], specials: SpecialIds) -> list[str]:
    """Display label per token of a span-style input: "sentinel", "mode", "eos", or "" for ordinary text."""
    sentinels, modes = set(specials.sentinels), set(specials.modes.values())
    return [
        "sentinel" if t in sentinels else "mode" if t in modes else "eos" if t == specials.eos else ""
        for t in tokens
    ]


def append_eos(tokens: list[int], specials: SpecialIds) -> list[int]:
    """T5 ends both the encoder input and the decoder target with EOS."""
    return tokens + [specials.eos]


def causal_lm(ids: list[int], generator: torch.Generator, *, specials: SpecialIds = MASKLAB) -> Corruption:
    """Causal LM: every position predicts the next token, so every token but the first receives loss.

    Uses no randomness. Example, "the cat sat":

        inputs   the   cat   sat
        targets  cat   sat   -
        loss_mask per original token: [False, True, True]  -> exposure 2/3, in general (n - 1) / n
    """
    n = len(ids)
    return Corruption(
        objective="clm", original=list(ids), inputs=list(ids), targets=next_token_labels(ids),
        decoder_inputs=None, n_prefix=0, loss_mask=[i > 0 for i in range(n)], mode=None,
        kinds=[""] * n, span_origin=[],
    )


def choose_mask_positions(n: int, mask_rate: float, generator: torch.Generator) -> list[int]:
    """Exactly ``k = round(mask_rate * n)`` positions (at least 1 when n >= 1 and mask_rate > 0), sorted.

    The positions are the first k of ``torch.randperm(n)``: a uniform choice without replacement.
    ``round`` is Python's (half to even). This is what BERT's ``create_pretraining_data.py`` does
    (``max(1, round(n * masked_lm_prob))`` positions from a shuffle); Hugging Face's
    ``DataCollatorForLanguageModeling`` instead selects each token independently with probability
    ``mask_rate``, so its count varies around ``mask_rate * n``. Either way ~15% of tokens get loss.
    """
    k = round(mask_rate * n)
    if n >= 1 and mask_rate > 0:
        k = max(k, 1)
    return sorted(torch.randperm(n, generator=generator)[:k].tolist())


def bert_replacement_kinds(k: int, generator: torch.Generator, mask_frac: float, random_frac: float) -> list[str]:
    """For each of k chosen positions, independently: "mask" with probability mask_frac, "random" with
    random_frac, otherwise "kept". Draws ``u = torch.rand(k)``: mask if u < mask_frac, random if
    u < mask_frac + random_frac, else kept."""
    u = torch.rand(k, generator=generator).tolist()
    return ["mask" if x < mask_frac else "random" if x < mask_frac + random_frac else "kept" for x in u]


def apply_bert_replacements(
    tokens: list[int], positions: list[int], kinds: list[str], generator: torch.Generator, specials: SpecialIds
) -> list[int]:
    """Write the mask token at "mask" positions and a uniform ordinary id in ``[0, n_regular)`` at "random"
    positions; "kept" positions stay. One random id is drawn per chosen position (used only where the kind
    is "random") so the number of draws does not depend on the kinds. A random id may equal the original."""
    random_ids = torch.randint(0, specials.n_regular, (len(positions),), generator=generator).tolist()
    out = list(tokens)
    for p, kind, r in zip(positions, kinds, random_ids):
        if kind == "mask":
            out[p] = specials.mask
        elif kind == "random":
            out[p] = r
    return out


def masked_lm(
    ids: list[int],
    generator: torch.Generator,
    *,
    specials: SpecialIds = MASKLAB,
    mask_rate: float = 0.15,
    mask_frac: float = 0.8,
    random_frac: float = 0.1,
) -> Corruption:
    """BERT's masked LM: choose positions, corrupt them in place, predict the original token there.

    1. `choose_mask_positions`: exactly round(mask_rate * n) positions, uniformly without replacement.
    2. `bert_replacement_kinds`: each chosen position becomes <mask> (80%), a random ordinary token (10%)
       or stays unchanged (10%) — so the model cannot tell which unmasked tokens are being tested.
    3. `apply_bert_replacements`; ``targets[t]`` is the original token at chosen positions, ignored elsewhere.

    The whole sequence is visible (``n_prefix = len(inputs)``): labels are in place, not next-token.
    Special tokens (ids from ``specials.n_regular`` on: the document separator ``<|endoftext|>``, mode
    tokens) are never chosen, as BERT's ``create_pretraining_data.py`` skips [CLS]/[SEP] and Hugging
    Face's ``DataCollatorForLanguageModeling`` zeroes their probability (``special_tokens_mask``): the
    positions are drawn among the n' ordinary tokens, k = round(mask_rate * n').
    Generator draws, in order: ``randperm(n')``, ``rand(k)``, ``randint(n_regular, (k,))``.
    Example with 13 tokens, k = round(1.95) = 2, chosen positions [1, 9], kinds ["mask", "random"]:

        original the cat    sat on the mat and the dog sat on the log
        inputs   the <mask> sat on the mat and the dog pen on the log
        targets   -  cat     -  -   -   -   -   -   -  sat -   -   -
        loss_mask is True at 1 and 9 only -> exposure 2/13
    """
    if not 0 <= mask_rate <= 1:
        raise ValueError(f"mask_rate must lie in [0, 1], got {mask_rate}")
    if mask_frac < 0 or random_frac < 0 or mask_frac + random_frac > 1:
        raise ValueError(
            f"need mask_frac, random_frac >= 0 and mask_frac + random_frac <= 1, got {mask_frac}, {random_frac}"
        )
    n = len(ids)
    eligible = [i for i, t in enumerate(ids) if t < specials.n_regular]  # special tokens are never masked
    positions = [eligible[j] for j in choose_mask_positions(len(eligible), mask_rate, generator)]
    chosen_kinds = bert_replacement_kinds(len(positions), generator, mask_frac, random_frac)
    inputs = apply_bert_replacements(ids, positions, chosen_kinds, generator, specials)
    targets, kinds, loss_mask = [IGNORE_INDEX] * n, [""] * n, [False] * n
    for p, kind in zip(positions, chosen_kinds):
        targets[p], kinds[p], loss_mask[p] = ids[p], kind, True
    return Corruption(
        objective="mlm", original=list(ids), inputs=inputs, targets=targets, decoder_inputs=None,
        n_prefix=n, loss_mask=loss_mask, mode=None, kinds=kinds, span_origin=[],
    )


def random_segmentation(num_items: int, num_segments: int, generator: torch.Generator) -> list[int]:
    """Split ``num_items`` items into ``num_segments`` non-empty runs; every split is equally likely.

    T5's ``_random_segmentation``: a 0/1 vector of ``num_items - 1`` slots holding ``num_segments - 1``
    ones is shuffled (``torch.randperm``); a one in slot j means item j + 1 starts a new segment. Prepend
    a 0 for item 0, take the cumulative sum to get each item's segment id, count the items per id.

    Example: 7 items, 3 segments, shuffled slots [0, 1, 0, 0, 1, 0]
      -> first_in_segment [0, 0, 1, 0, 0, 1, 0] -> segment ids [0, 0, 1, 1, 1, 2, 2] -> lengths [2, 3, 2].
    """
    if not 1 <= num_segments <= num_items:
        raise ValueError(f"cannot split {num_items} items into {num_segments} non-empty segments")
    slots = torch.zeros(num_items - 1, dtype=torch.long)
    slots[: num_segments - 1] = 1
    slots = slots[torch.randperm(num_items - 1, generator=generator)]
    segment_id = torch.cumsum(torch.cat([torch.zeros(1, dtype=torch.long), slots]), dim=0)  # (num_items,)
    return torch.bincount(segment_id, minlength=num_segments).tolist()


def _round_f32(x: float, y: float, op) -> int:
    """round(op(x, y)) in float32, half to even — T5 computes these counts with tf.round on float32, which
    differs from float64 now and then (190 * 0.15 rounds to 29 in float32, 28 in float64)."""
    return int(torch.round(op(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))))


def random_spans_noise_mask(
    length: int,
    noise_density: float,
    mean_span_length: float,
    generator: torch.Generator,
    random_roll: bool = False,
) -> list[bool]:
    """T5's ``random_spans_noise_mask``: which tokens are noise, as alternating non-noise / noise spans.

    1. ``num_noise_tokens = round(length * noise_density)`` clipped to ``[1, length - 1]``, so there is
       at least one noise and one non-noise token.
    2. ``num_noise_spans = round(num_noise_tokens / mean_span_length)`` clipped to at least 1. It is also
       clipped to at most ``min(num_noise_tokens, num_nonnoise_tokens)``; T5 has no upper clip and fails
       there, which only high densities with spans near 1 token reach. Non-noise spans are as many as noise spans.
    3. Noise tokens, then non-noise tokens, are split with `random_segmentation` (in that order from the
       generator).
    4. Spans are interleaved starting with non-noise: nonnoise_0, noise_0, nonnoise_1, noise_1, ... — so
       the mask always ends in noise, and when one span suffices (short text) the noise is always the
       last tokens. ``random_roll=True`` (T5's option) then rolls the mask right by a uniform offset in
       ``[0, length)``; a span that wraps around becomes two.

    Both rounds are float32, half to even, like T5's ``tf.round``. No noise at all when
    ``noise_density == 0`` or ``length < 2`` (T5 pads such a sequence to length 2, whose only noise token
    is then cut off); these cases draw nothing from the generator.

    Example: length 40, density 0.15 -> 6 noise tokens, round(6 / 3) = 2 spans; noise lengths [2, 4],
    non-noise lengths [10, 24] -> 10 x False, 2 x True, 24 x False, 4 x True.
    """
    if noise_density == 0 or length < 2:
        return [False] * length
    num_noise_tokens = min(max(_round_f32(length, noise_density, torch.mul), 1), length - 1)
    num_nonnoise_tokens = length - num_noise_tokens
    num_noise_spans = _round_f32(num_noise_tokens, mean_span_length, torch.div)
    num_noise_spans = min(max(num_noise_spans, 1), num_noise_tokens, num_nonnoise_tokens)
    noise_lengths = random_segmentation(num_noise_tokens, num_noise_spans, generator)
    nonnoise_lengths = random_segmentation(num_nonnoise_tokens, num_noise_spans, generator)
    mask = []
    for keep, drop in zip(nonnoise_lengths, noise_lengths):
        mask += [False] * keep + [True] * drop
    if random_roll:
        offset = int(torch.randint(0, length, (1,), generator=generator))
        mask = mask[length - offset:] + mask[: length - offset]  # new[i] = old[i - offset]
    return mask


def noise_spans(noise_mask: list[bool]) -> list[tuple[int, int]]:
    """[start, end) of each run of noise tokens, left to right.

    >>> noise_spans([False, True, True, False, True])
    [(1, 3), (4, 5)]
    """
    spans, start = [], None
    for i, noisy in enumerate(noise_mask + [False]):
        if noisy and start is None:
            start = i
        elif not noisy and start is not None:
            spans.append((start, i))
            start = None
    return spans


def noise_span_to_unique_sentinel(tokens: list[int], noise_mask: list[bool], specials: SpecialIds) -> list[int]:
    """Replace each run of noise tokens by one sentinel: sentinel 0 for the first run, 1 for the next, ...

    "We hold these truths to be self evident that", noise on "these truths" and "self evident"
      -> "We hold <0> to be <1> that"
    """
    out, k = [], 0
    for i, (tok, noisy) in enumerate(zip(tokens, noise_mask)):
        if not noisy:
            out.append(tok)
        elif i == 0 or not noise_mask[i - 1]:
            out.append(specials.sentinel(k))
            k += 1
    return out


def noise_spans_to_targets(tokens: list[int], noise_mask: list[bool], specials: SpecialIds) -> list[int]:
    """The noise runs "moved to the back": sentinel 0, the tokens of run 0, sentinel 1, the tokens of run 1, ...

    Same example as `noise_span_to_unique_sentinel` -> "<0> these truths <1> self evident".
    T5 gets this with ``nonnoise_span_to_unique_sentinel`` (which also adds a last sentinel when the text
    ends in non-noise); listing each sentinel with its own run is the same for T5's masks, which start
    with non-noise, and stays right for rolled masks that start with noise.
    """
    out, k = [], 0
    for i, (tok, noisy) in enumerate(zip(tokens, noise_mask)):
        if noisy:
            if i == 0 or not noise_mask[i - 1]:
                out.append(specials.sentinel(k))
                k += 1
            out.append(tok)
    return out


def denoise(ids: list[int], noise_mask: list[bool], specials: SpecialIds, objective: str) -> Corruption:
    """Build the span-style example from a noise mask: sentinels in the input, spans in the target, EOS on both.

        original        We hold these truths to be self evident that
        inputs          We hold <0> to be <1> that <eos>
        targets         <0> these truths <1> self evident <eos>
        decoder_inputs  <bos> <0> these truths <1> self evident
        span_origin     [(2, 4), (6, 8)]; loss_mask True on the 4 noise tokens -> exposure 4/9
    """
    inputs = append_eos(noise_span_to_unique_sentinel(ids, noise_mask, specials), specials)
    targets = append_eos(noise_spans_to_targets(ids, noise_mask, specials), specials)
    return Corruption(
        objective=objective, original=list(ids), inputs=inputs, targets=targets,
        decoder_inputs=[specials.bos] + targets[:-1], n_prefix=len(inputs), loss_mask=list(noise_mask),
        mode=None, kinds=special_kinds(inputs, specials), span_origin=noise_spans(noise_mask),
    )


MAX_REDRAWS = 100  # span layouts drawn before special tokens are taken out of the noise by force


def span_corruption(
    ids: list[int],
    generator: torch.Generator,
    *,
    specials: SpecialIds = MASKLAB,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
    random_roll: bool = False,
) -> Corruption:
    """T5's span corruption: `random_spans_noise_mask`, then `denoise`.

    With the defaults a 20-token text gets round(3.0) = 3 noise tokens in round(3 / 3) = 1 span, which
    (see `random_spans_noise_mask`) is always its last 3 tokens unless ``random_roll=True``. For fewer
    than 2 tokens nothing is noise: inputs = original + [eos], targets = [eos], exposure 0.
    The encoder sees all of ``inputs`` (``n_prefix = len(inputs)``); more than 100 spans is an error
    (there are 100 sentinels). Special tokens (the document separator ``<|endoftext|>`` between two
    documents of one training window, mode tokens) are never noise, so a sentinel never stands for a
    separator: a layout that would make one noise is drawn again from the same generator (up to
    `MAX_REDRAWS` times, then as many times rolled, since T5's layout always ends in noise and a
    window may end with a separator), which keeps T5's numbers of noise tokens and spans and so every
    example of a training batch the same length; a text with no special token is corrupted exactly as
    T5 does it. Should every draw hit one (a text nearly all special tokens), the special positions are
    taken out of the last one.
    """
    if not 0 <= noise_density <= 1:
        raise ValueError(f"noise_density must lie in [0, 1], got {noise_density}")
    if mean_span_length < 1:
        raise ValueError(f"mean_span_length must be at least 1, got {mean_span_length}")
    special = [t >= specials.n_regular for t in ids]
    for attempt in range(2 * MAX_REDRAWS):
        # T5's layout always ends in noise, so a window that ends with a separator needs the rolled layout;
        # a roll that wraps a span round the end would make one span two (a longer example): drawn again
        roll = random_roll or attempt >= MAX_REDRAWS
        noise_mask = random_spans_noise_mask(len(ids), noise_density, mean_span_length, generator, roll)
        wraps = roll and not random_roll and len(ids) > 1 and noise_mask[0] and noise_mask[-1]
        if not wraps and not any(m and s for m, s in zip(noise_mask, special)):
            break
    noise_mask = [m and not s for m, s in zip(noise_mask, special)]  # special tokens are never noise
    return denoise(ids, noise_mask, specials, "span_corruption")


def draw_split(n: int, generator: torch.Generator) -> int:
    """Uniform over [1, n - 1], so both prefix and target are non-empty; n for n < 2 (draws nothing then)."""
    if n < 2:
        return n
    return int(torch.randint(1, n, (1,), generator=generator))


def clamp_split(n: int, split: int) -> int:
    """A given split is clamped into [1, n - 1] (n for n < 2) rather than rejected."""
    return n if n < 2 else min(max(split, 1), n - 1)


def prefix_lm(
    ids: list[int], generator: torch.Generator, *, specials: SpecialIds = MASKLAB, split: int | None = None
) -> Corruption:
    """Prefix LM: tokens before ``split`` are context read bidirectionally, the rest are predicted causally.

    ``split`` is `clamp_split`-ed if given, else drawn by `draw_split`. ``n_prefix = split`` and
    ``targets[t] = original[t + 1]`` for ``t >= split - 1``: the last prefix position predicts the first
    target token. Example, "the cat sat on the mat" with split 3:

        inputs   the    cat    sat    on     the    mat
        kinds    prefix prefix prefix target target target
        targets  -      -      on     the    mat    -
        loss_mask [F, F, F, T, T, T] -> exposure 3/6
    """
    n = len(ids)
    split = draw_split(n, generator) if split is None else clamp_split(n, operator.index(split))
    return Corruption(
        objective="prefix_lm", original=list(ids), inputs=list(ids),
        targets=next_token_labels(ids, first=split - 1), decoder_inputs=None, n_prefix=split,
        loss_mask=[i >= split for i in range(n)], mode=None,
        kinds=["prefix" if i < split else "target" for i in range(n)], span_origin=[],
    )


def draw_ul2_mode(generator: torch.Generator) -> str:
    """One uniform draw u: "R" if u < 0.4, "X" if u < 0.8, else "S" (UL2_MODE_PROBS, in that order)."""
    u, total = float(torch.rand((), generator=generator)), 0.0
    for mode, p in UL2_MODE_PROBS.items():
        total += p
        if u < total:
            return mode
    return mode


def prepend_mode_token(c: Corruption, mode: str, specials: SpecialIds) -> Corruption:
    """Put UL2's mode token in front of ``inputs`` and shift everything aligned with inputs by one.

    Span style: the encoder input grows by one and stays fully visible; targets are untouched.
    In place (mode S): the mode token joins the prefix (``n_prefix + 1``) and gets no label.
    ``original``, ``loss_mask`` and ``span_origin`` refer to original tokens and do not move.
    """
    inputs = [specials.modes[mode]] + c.inputs
    return replace(
        c, objective="ul2", mode=mode, inputs=inputs, kinds=["mode"] + c.kinds,
        targets=c.targets if c.span_style else [IGNORE_INDEX] + c.targets,
        n_prefix=len(inputs) if c.span_style else c.n_prefix + 1,
    )


def ul2(
    ids: list[int],
    generator: torch.Generator,
    *,
    specials: SpecialIds = MASKLAB,
    mode: str | None = None,
    random_roll: bool = False,
) -> Corruption:
    """UL2's mixture of denoisers (Tay et al., 2022), one denoiser per example, named by a mode token.

    1. The mode is ``mode`` if given, else `draw_ul2_mode` (R 0.4, X 0.4, S 0.2).
    2. R (regular): `span_corruption` with density 0.15, mean span 3 — T5's setting.
       X (extreme): `span_corruption` with density 0.5, mean span 32. Short text cannot hold a 32-token
       mean: the clip "at least one span" makes all ``round(0.5 n)`` noise tokens one span, so the mean
       span is in effect min(32, round(0.5 n)).
       S (sequential): `prefix_lm` with a uniform split. ``random_roll`` applies to R and X only.
    3. `prepend_mode_token`. Example, X on 8 tokens "a b c d e f g h" (4 noise tokens, one span):

        inputs  <X> a b c d <0> <eos>      targets  <0> e f g h <eos>
    """
    if mode is None:
        mode = draw_ul2_mode(generator)
    elif mode not in UL2_MODES:
        raise ValueError(f"unknown UL2 mode {mode!r}; choose one of {', '.join(UL2_MODES)}")
    if mode == "S":
        c = prefix_lm(ids, generator, specials=specials)
    else:
        density, mean_span = UL2_SPAN_DENOISERS[mode]
        c = span_corruption(
            ids, generator, specials=specials,
            noise_density=density, mean_span_length=mean_span, random_roll=random_roll,
        )
    return prepend_mode_token(c, mode, specials)


def fill_in_the_middle(ids: list[int], generator: torch.Generator, *, fim_rate: float = 0.5, spm_rate: float = 0.5,
                       specials: SpecialIds = MASKLAB) -> Corruption:
    """Fill in the middle (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the
    Middle"): with probability ``fim_rate`` (the paper's 0.5) the text is cut at two random points into
    prefix, middle and suffix and rearranged so that a left-to-right model writes the middle last, having
    read both sides; otherwise it stays plain causal LM. PSM order, or SPM with probability ``spm_rate``:

        PSM   <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle
        SPM   <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix middle

    Every position predicts the next, as in causal LM, so every text token is supervised (loss exposure
    100%, against (n - 1) / n for causal LM) while the model learns to infill. ``span_origin`` holds the
    middle's [start, end) in the original; ``kinds`` marks the three tokens "fim" and the middle "middle".
    ValueError for a rate outside [0, 1] or a tokenizer without the three tokens.

    "a b c d", cut at 1 and 3 (PSM):  <pre> a <suf> d <mid> b c
    """
    for name, rate in (("fim_rate", fim_rate), ("spm_rate", spm_rate)):
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {rate}")
    if not specials.fim:
        raise ValueError("this tokenizer has no fill-in-the-middle tokens")
    n = len(ids)
    transform = torch.rand((), generator=generator).item() < fim_rate
    cuts = sorted(torch.randint(0, n + 1, (2,), generator=generator).tolist())
    spm = torch.rand((), generator=generator).item() < spm_rate
    if not transform or n < 2:
        plain = causal_lm(ids, generator, specials=specials)
        return replace(plain, objective="fim")
    a, b = cuts
    pre, suf, mid = specials.fim["prefix"], specials.fim["suffix"], specials.fim["middle"]
    prefix, middle, suffix = list(ids[:a]), list(ids[a:b]), list(ids[b:])
    if spm:
        seq = [pre, suf] + suffix + [mid] + prefix + middle
        kinds = ["fim", "fim"] + [""] * len(suffix) + ["fim"] + [""] * len(prefix) + ["middle"] * len(middle)
    else:
        seq = [pre] + prefix + [suf] + suffix + [mid] + middle
        kinds = ["fim"] + [""] * len(prefix) + ["fim"] + [""] * len(suffix) + ["fim"] + ["middle"] * len(middle)
    return Corruption(
        objective="fim", original=list(ids), inputs=seq, targets=next_token_labels(seq), decoder_inputs=None, n_prefix=0,
        loss_mask=[True] * n, mode=None, kinds=kinds, span_origin=[(a, b)],
    )


_OBJECTIVE_FNS = {
    "clm": causal_lm, "mlm": masked_lm, "span_corruption": span_corruption, "prefix_lm": prefix_lm, "ul2": ul2,
    "fim": fill_in_the_middle,
}


def objective_params(objective: str) -> dict:
    """The parameters `corrupt` accepts for ``objective``, with their defaults."""
    if objective not in _OBJECTIVE_FNS:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    params = inspect.signature(_OBJECTIVE_FNS[objective]).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name != "specials"}


def _as_id_list(ids, specials: SpecialIds) -> list[int]:
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise ValueError(f"ids must be a 1-D integer tensor, got shape {tuple(ids.shape)} and {ids.dtype}")
        ids = ids.tolist()
    if ids is None or isinstance(ids, (str, bytes, dict)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"ids must be a list (or 1-D tensor) of token ids, not {type(ids).__name__}; engine.tokenizer.encode(text) gives them for a text")
    ids = list(ids)
    wrong = [i for i in ids if isinstance(i, bool) or not hasattr(i, "__index__")]
    if wrong:  # ValueError, as before: the ids are a list, of the wrong values
        raise ValueError(f"ids must be whole numbers (token ids), not {type(wrong[0]).__name__} {wrong[0]!r}")
    out = [operator.index(i) for i in ids]
    bad = [i for i in out if not 0 <= i < specials.vocab_size]
    if bad:
        raise ValueError(f"ids must lie in [0, {specials.vocab_size}), got {bad[:5]}")
    return out


def corrupt(ids, objective: str, seed: int = 0, *, specials: SpecialIds = MASKLAB, **params) -> Corruption:
    """Apply one objective to ``ids`` (a list or 1-D tensor of ints); same ids, seed and params, same result.

    All randomness comes from ``torch.Generator().manual_seed(seed)``, passed down to the transforms.
    Unknown objectives and parameters are errors; see `objective_params` for what each accepts. Ids
    that are no list of whole numbers, or a seed that is no whole number, are refused with TypeError
    naming the argument.
    """
    check_choice("objective", objective, OBJECTIVES)
    seed = check_int("seed", seed)
    allowed = objective_params(objective)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {objective!r}; valid: {', '.join(allowed) or 'none'}"
        )
    tokens = _as_id_list(ids, specials)
    generator = torch.Generator().manual_seed(seed)
    return _OBJECTIVE_FNS[objective](tokens, generator, specials=specials, **params)


def as_decoder_sequence(c: Corruption) -> DecoderSequence:
    """How a decoder-only or prefix-LM model consumes any corruption.

    In place: ``(inputs, targets, n_prefix)`` unchanged (MLM's labels sit at their own positions, and
    its ``n_prefix = len(inputs)`` makes the whole sequence bidirectional, as BERT's is). Span style:
    input and target concatenated, ``seq = inputs + targets``, with ``n_prefix = len(inputs)`` and
    ``labels = [IGNORE] * (len(inputs) - 1) + targets + [IGNORE]``: the last input position predicts
    targets[0], each target position predicts the next target token, the final eos predicts nothing.
    So ``labels[t] == seq[t + 1]`` wherever labels[t] is set. Example (L = 3 inputs, M = 3 targets):

        seq     a    <0>  <eos> <0>  b     <eos>
        labels  -    -    <0>   b    <eos> -
    """
    if not c.span_style:
        return DecoderSequence(list(c.inputs), list(c.targets), c.n_prefix)
    seq = c.inputs + c.targets
    labels = [IGNORE_INDEX] * (len(c.inputs) - 1) + c.targets + [IGNORE_INDEX]
    return DecoderSequence(seq, labels, len(c.inputs))


def fill_sentinels(encoder_body: list[int], target_body: list[int], specials: SpecialIds) -> list[int]:
    """Undo `denoise` (without mode token and eos): each sentinel of the input becomes the tokens that
    follow the same sentinel in the target.

    "We hold <0> to be <1> that" + "<0> these truths <1> self evident"
      -> "We hold these truths to be self evident that"
    """
    sentinels, spans, current = set(specials.sentinels), {}, None
    for tok in target_body:
        if tok in sentinels:
            current = spans[tok] = []
        elif current is None:
            raise ValueError("a span-style target must start with a sentinel")
        else:
            current.append(tok)
    out = []
    for tok in encoder_body:
        out.extend(spans[tok] if tok in sentinels else [tok])
    return out


def reconstruct(c: Corruption, specials: SpecialIds = MASKLAB) -> list[int]:
    """The original ids, recovered from what the model reads plus what it is taught: proof nothing is lost.

    Span style: drop the mode token and the final eos of inputs and targets, then `fill_sentinels`
    (assumes the original holds no sentinel ids; user text never does). MLM: each labelled position takes
    its label. Other in-place objectives: the inputs, without the mode token.
    """
    if c.objective == "mlm":
        return [x if t == IGNORE_INDEX else t for x, t in zip(c.inputs, c.targets)]
    if c.objective == "fim" and specials.fim and specials.fim["middle"] in c.inputs:
        seq, f = c.inputs, specials.fim
        after_mid = seq[seq.index(f["middle"]) + 1 :]
        if seq[1] == f["suffix"]:  # SPM: the suffix comes first, then prefix and middle together
            return after_mid + seq[2 : seq.index(f["middle"])]
        prefix = seq[1 : seq.index(f["suffix"])]
        return prefix + after_mid + seq[seq.index(f["suffix"]) + 1 : seq.index(f["middle"])]
    body = c.inputs[1:] if c.mode is not None else list(c.inputs)
    if not c.span_style:
        return body
    return fill_sentinels(body[:-1], c.targets[:-1], specials)


def exposure_table(ids, seed: int = 0, specials: SpecialIds = MASKLAB, settings: dict[str, dict] | None = None) -> list[dict]:
    """Loss exposure of every objective at its default parameters, one row each, plus one row per UL2 mode.

    Rows: ``{"label", "objective", "mode", "exposure", "n_loss_tokens", "n_loss_positions", "n_tokens"}``
    (text tokens supervised, target positions with a loss, text tokens). The "ul2" row uses
    the mode the seed draws; "ul2-R", "ul2-S", "ul2-X" force each mode with the same seed.
    ``settings``: parameters of `corrupt` per objective name, over its defaults (a page's own
    prefix length or mask rate for the objective it shows), e.g. ``{"prefix_lm": {"split": 13}}``;
    a UL2 mode row keeps its mode.
    """
    rows = []
    runs = [(name, None) for name in OBJECTIVES] + [("ul2", m) for m in UL2_MODES]
    for name, forced in runs:
        params = {**(settings or {}).get(name, {}), **({"mode": forced} if forced else {})}
        c = corrupt(ids, name, seed, specials=specials, **params)
        rows.append({
            "label": f"{name}-{forced}" if forced else name,
            "objective": name, "mode": c.mode, "exposure": c.exposure,
            "n_loss_tokens": c.n_loss_tokens, "n_loss_positions": c.n_loss_positions, "n_tokens": len(c.original),
        })
    return rows
