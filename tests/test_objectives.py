"""Objectives: golden outputs pinned from fixed seeds (checked by hand against the docstrings) and
statistical checks of the rates each objective promises."""

import doctest
from collections import Counter

import pytest
import torch

import engine.objectives
from engine.objectives import (
    IGNORE_INDEX,
    OBJECTIVES,
    UL2_MODES,
    as_decoder_sequence,
    corrupt,
    denoise,
    exposure_table,
    fill_sentinels,
    noise_span_to_unique_sentinel,
    noise_spans,
    noise_spans_to_targets,
    objective_params,
    random_segmentation,
    random_spans_noise_mask,
    reconstruct,
)
from engine.vocab import MASKLAB

I = IGNORE_INDEX
EOS, MASK, BOS = MASKLAB.eos, MASKLAB.mask, MASKLAB.bos
S0, S1 = MASKLAB.sentinel(0), MASKLAB.sentinel(1)
IDS20 = list(range(100, 120))
IDS40 = list(range(100, 140))
ALL_RUNS = [(name, {}) for name in OBJECTIVES] + [("ul2", {"mode": m}) for m in UL2_MODES]


def test_special_ids_used_in_goldens():
    assert (EOS, MASK, BOS, S0, S1) == (8085, 8087, 8088, 8092, 8093)
    assert MASKLAB.modes == {"R": 8089, "S": 8090, "X": 8091}


def test_clm_golden():
    c = corrupt([5, 6, 7, 8], "clm")
    assert c.inputs == [5, 6, 7, 8]
    assert c.targets == [6, 7, 8, I]
    assert (c.n_prefix, c.decoder_inputs, c.mode, c.span_origin) == (0, None, None, [])
    assert c.loss_mask == [False, True, True, True]
    assert c.exposure == 0.75
    assert c.kinds == [""] * 4


def test_mlm_golden_seed0():
    # k = round(0.15 * 20) = 3; randperm(20)[:3] = [4, 5, 13]; u = [0.28, 0.68, 0.92] -> mask, mask, kept
    c = corrupt(IDS20, "mlm", seed=0)
    expected_inputs = list(IDS20)
    expected_inputs[4] = expected_inputs[5] = MASK
    assert c.inputs == expected_inputs
    assert c.targets == [I] * 4 + [104, 105] + [I] * 7 + [113] + [I] * 6
    assert [i for i, k in enumerate(c.kinds) if k] == [4, 5, 13]
    assert [c.kinds[i] for i in (4, 5, 13)] == ["mask", "mask", "kept"]
    assert c.n_prefix == 20 and c.exposure == 0.15


def test_span_corruption_golden_seed0():
    # 40 tokens: round(6.0) = 6 noise tokens in round(6 / 3) = 2 spans, 34 non-noise tokens.
    # noise: shuffled slots [0, 1, 0, 0, 0] -> lengths [2, 4]; non-noise: the one slot lands at 2 -> [3, 31]
    # mask: 3 keep, 2 noise, 31 keep, 4 noise
    c = corrupt(IDS40, "span_corruption", seed=0)
    assert c.inputs == [100, 101, 102, S0] + list(range(105, 136)) + [S1, EOS]
    assert c.targets == [S0, 103, 104, S1, 136, 137, 138, 139, EOS]
    assert c.decoder_inputs == [BOS, S0, 103, 104, S1, 136, 137, 138, 139]
    assert c.span_origin == [(3, 5), (36, 40)]
    assert c.n_prefix == len(c.inputs) == 37
    assert c.exposure == 0.15
    assert c.kinds[3] == "sentinel" and c.kinds[-2:] == ["sentinel", "eos"] and c.kinds.count("") == 34


def test_span_corruption_random_roll_golden_seed0():
    # same mask as above, then rolled right by randint(0, 40) = 22: noise at 25..26 and 58..61 mod 40 = 18..21
    c = corrupt(IDS40, "span_corruption", seed=0, random_roll=True)
    assert c.span_origin == [(18, 22), (25, 27)]
    assert c.inputs == list(range(100, 118)) + [S0, 122, 123, 124, S1] + list(range(127, 140)) + [EOS]
    assert c.targets == [S0, 118, 119, 120, 121, S1, 125, 126, EOS]


def test_prefix_lm_golden_seed0():
    c = corrupt(IDS20, "prefix_lm", seed=0)  # randint(1, 20) = 16
    assert c.n_prefix == 16
    assert c.inputs == IDS20
    assert c.targets == [I] * 15 + [116, 117, 118, 119, I]
    assert c.loss_mask == [False] * 16 + [True] * 4
    assert c.kinds == ["prefix"] * 16 + ["target"] * 4


def test_prefix_lm_docstring_example_and_clamping():
    words = "the cat sat on the mat".split()
    ids = list(range(len(words)))
    c = corrupt(ids, "prefix_lm", split=3)
    assert c.targets == [I, I, 3, 4, 5, I] and c.exposure == 0.5
    assert corrupt(ids, "prefix_lm", split=0).n_prefix == 1
    assert corrupt(ids, "prefix_lm", split=-7).n_prefix == 1
    assert corrupt(ids, "prefix_lm", split=99).n_prefix == 5


def test_ul2_golden_seed0_draws_x():
    # u = 0.496 -> X; 20 tokens: round(10) = 10 noise tokens, round(10 / 32) = 0 -> 1 span: the last 10
    c = corrupt(IDS20, "ul2", seed=0)
    assert c.mode == "X" and c.objective == "ul2"
    assert c.inputs == [MASKLAB.modes["X"]] + list(range(100, 110)) + [S0, EOS]
    assert c.targets == [S0] + list(range(110, 120)) + [EOS]
    assert c.span_origin == [(10, 20)]
    assert c.n_prefix == len(c.inputs) and c.exposure == 0.5
    assert c.kinds[0] == "mode" and c.kinds[-2:] == ["sentinel", "eos"]


def test_ul2_r_is_span_corruption_with_a_mode_token():
    r, sc = corrupt(IDS40, "ul2", seed=0, mode="R"), corrupt(IDS40, "span_corruption", seed=0)
    assert r.inputs == [MASKLAB.modes["R"]] + sc.inputs
    for name in ("targets", "decoder_inputs", "loss_mask", "span_origin"):
        assert getattr(r, name) == getattr(sc, name)
    assert r.kinds == ["mode"] + sc.kinds and r.n_prefix == sc.n_prefix + 1


def test_ul2_s_shifts_everything_aligned_with_inputs():
    s, p = corrupt(IDS20, "ul2", seed=0, mode="S"), corrupt(IDS20, "prefix_lm", seed=0)
    assert s.inputs == [MASKLAB.modes["S"]] + IDS20
    assert s.targets == [I] + p.targets
    assert s.n_prefix == p.n_prefix + 1 == 17
    assert s.kinds == ["mode"] + p.kinds
    assert s.loss_mask == p.loss_mask and s.decoder_inputs is None


def test_ul2_docstring_example():
    c = corrupt(list(range(8)), "ul2", mode="X")
    assert c.inputs == [MASKLAB.modes["X"], 0, 1, 2, 3, S0, EOS]
    assert c.targets == [S0, 4, 5, 6, 7, EOS]


def test_t5_worked_example_we_hold_these_truths():
    words = "We hold these truths to be self evident that".split()
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = [vocab[w] for w in words]
    noise = [w in ("these", "truths", "self", "evident") for w in words]
    name = {v: k for k, v in vocab.items()} | {S0: "<0>", S1: "<1>", EOS: "<eos>", BOS: "<bos>"}
    show = lambda toks: " ".join(name[t] for t in toks)  # noqa: E731

    assert show(noise_span_to_unique_sentinel(ids, noise, MASKLAB)) == "We hold <0> to be <1> that"
    assert show(noise_spans_to_targets(ids, noise, MASKLAB)) == "<0> these truths <1> self evident"
    c = denoise(ids, noise, MASKLAB, "span_corruption")
    assert show(c.inputs) == "We hold <0> to be <1> that <eos>"
    assert show(c.targets) == "<0> these truths <1> self evident <eos>"
    assert show(c.decoder_inputs) == "<bos> <0> these truths <1> self evident"
    assert c.span_origin == [(2, 4), (6, 8)] and c.exposure == 4 / 9
    assert fill_sentinels(c.inputs[:-1], c.targets[:-1], MASKLAB) == ids


def test_docstring_examples_run():
    assert doctest.testmod(engine.objectives).failed == 0


def test_noise_spans():
    assert noise_spans([False, True, True, False, True]) == [(1, 3), (4, 5)]
    assert noise_spans([True, True]) == [(0, 2)]
    assert noise_spans([]) == []


@pytest.mark.parametrize("n, k", [(0, 0), (1, 1), (3, 1), (7, 1), (10, 2), (20, 3), (30, 4), (100, 15)])
def test_mlm_chooses_exactly_round_rate_n(n, k):
    # Python's round is half to even: 0.15 * 10 = 1.5 -> 2, 0.15 * 30 = 4.5 -> 4; at least 1 once n >= 1
    c = corrupt(list(range(n)), "mlm", seed=1)
    assert sum(c.loss_mask) == k == sum(t != I for t in c.targets)


def test_mlm_no_masking_at_rate_zero():
    c = corrupt(IDS20, "mlm", mask_rate=0.0)
    assert c.inputs == IDS20 and c.exposure == 0.0


def test_mlm_80_10_10_over_many_draws():
    ids = list(range(100))
    kinds, position_hits = Counter(), Counter()
    for seed in range(2000):
        c = corrupt(ids, "mlm", seed)
        assert c.n_loss_tokens == 15
        for p, kind in enumerate(c.kinds):
            if not kind:
                assert c.inputs[p] == ids[p] and c.targets[p] == I
                continue
            kinds[kind] += 1
            position_hits[p] += 1
            assert c.targets[p] == ids[p]
            if kind == "mask":
                assert c.inputs[p] == MASK
            elif kind == "random":
                assert 0 <= c.inputs[p] < MASKLAB.n_regular
            else:
                assert c.inputs[p] == ids[p]
    total = sum(kinds.values())
    assert total == 30000
    assert abs(kinds["mask"] / total - 0.8) < 0.01
    assert abs(kinds["random"] / total - 0.1) < 0.01
    assert abs(kinds["kept"] / total - 0.1) < 0.01
    assert max(abs(position_hits[p] / 2000 - 0.15) for p in range(100)) < 0.045


def _t5_counts(n):
    """T5's counts for density 0.15, mean span 3, in float32 as tf.round computes them."""
    f32 = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    noise = min(max(int(torch.round(f32(n) * f32(0.15))), 1), n - 1)
    return noise, max(int(torch.round(f32(noise) / f32(3.0))), 1)


@pytest.mark.parametrize(
    "n, noise, spans",
    [(2, 1, 1), (3, 1, 1), (7, 1, 1), (10, 2, 1), (20, 3, 1), (30, 4, 1), (40, 6, 2), (50, 8, 3), (100, 15, 5),
     (190, 29, 10)],
)
def test_span_counts_follow_t5_rounding(n, noise, spans):
    # half to even: 30 * 0.15 = 4.5 -> 4, 50 * 0.15 = 7.5 -> 8; 190 * 0.15 is 29 in float32 (28 in float64)
    assert _t5_counts(n) == (noise, spans)
    for seed in range(5):
        c = corrupt(list(range(n)), "span_corruption", seed)
        assert c.n_loss_tokens == noise
        assert len(c.span_origin) == spans


def test_span_corruption_invariants_over_many_seeds():
    span_lengths = []
    for seed in range(300):
        n = 20 + (seed * 37) % 280
        ids = [(7 * i) % 8000 for i in range(n)]
        c = corrupt(ids, "span_corruption", seed)
        noise, spans = _t5_counts(n)
        assert (c.n_loss_tokens, len(c.span_origin)) == (noise, spans)
        assert not c.loss_mask[0] and c.loss_mask[-1]  # T5's masks start with non-noise and end with noise
        ends = [0]
        for start, end in c.span_origin:  # sorted, disjoint, separated by at least one kept token
            assert ends[-1] < start < end
            ends.append(end)
            span_lengths.append(end - start)
        assert [c.loss_mask[i] for i in range(n)] == [any(s <= i < e for s, e in c.span_origin) for i in range(n)]
        sentinels_in = [t for t in c.inputs if t in MASKLAB.sentinels]
        sentinels_out = [t for t in c.targets if t in MASKLAB.sentinels]
        assert sentinels_in == sentinels_out == [MASKLAB.sentinel(i) for i in range(spans)]
        assert c.inputs[-1] == EOS and c.targets[-1] == EOS
        assert len(c.inputs) == n - noise + spans + 1 and len(c.targets) == noise + spans + 1
        assert c.decoder_inputs == [BOS] + c.targets[:-1]
        assert reconstruct(c) == ids
    assert abs(sum(span_lengths) / len(span_lengths) - 3.0) < 0.15
    assert len(set(span_lengths)) > 3  # lengths vary; only their mean is fixed


def test_random_roll_still_reconstructs():
    for seed in range(200):
        c = corrupt(IDS40, "span_corruption", seed, random_roll=True)
        assert c.n_loss_tokens == 6
        assert reconstruct(c) == IDS40
    positions = Counter()
    for seed in range(300):
        c = corrupt(IDS20, "span_corruption", seed, random_roll=True)
        positions.update(i for i, noisy in enumerate(c.loss_mask) if noisy)
    assert len(positions) == 20  # rolling spreads the single 3-token span over every position


def test_random_segmentation_is_uniform_over_compositions():
    g = torch.Generator().manual_seed(0)
    draws = Counter(tuple(random_segmentation(5, 3, g)) for _ in range(3000))
    assert set(draws) == {(1, 1, 3), (1, 3, 1), (3, 1, 1), (1, 2, 2), (2, 1, 2), (2, 2, 1)}
    assert all(abs(v / 3000 - 1 / 6) < 0.03 for v in draws.values())
    with pytest.raises(ValueError):
        random_segmentation(3, 4, g)


def test_noise_mask_degenerate_cases():
    g = torch.Generator().manual_seed(0)
    assert random_spans_noise_mask(0, 0.15, 3.0, g) == []
    assert random_spans_noise_mask(1, 0.15, 3.0, g) == [False]
    assert random_spans_noise_mask(10, 0.0, 3.0, g) == [False] * 10
    assert random_spans_noise_mask(2, 0.15, 3.0, g) == [False, True]
    assert sum(random_spans_noise_mask(10, 1.0, 3.0, g)) == 9  # clipped to n - 1
    mask = random_spans_noise_mask(10, 0.9, 1.0, g)  # 9 noise spans asked, 1 kept token: clipped to 1 span
    assert len(noise_spans(mask)) == 1 and sum(mask) == 9


def test_ul2_x_on_short_and_long_text():
    assert corrupt(IDS20, "ul2", 3, mode="X").span_origin == [(10, 20)]  # one span holds all 10 noise tokens
    c = corrupt(list(range(200)), "ul2", 3, mode="X")
    assert c.n_loss_tokens == 100 and len(c.span_origin) == 3  # round(100 / 32) = 3
    assert reconstruct(c) == list(range(200))


def test_too_many_spans_for_the_sentinels():
    with pytest.raises(ValueError, match="sentinel"):
        corrupt(list(range(2100)), "span_corruption")  # 315 noise tokens in 105 spans > 100 sentinels


def test_prefix_lm_split_uniform():
    splits = Counter(corrupt(list(range(6)), "prefix_lm", seed).n_prefix for seed in range(2000))
    assert set(splits) == {1, 2, 3, 4, 5}
    assert all(abs(v / 2000 - 0.2) < 0.04 for v in splits.values())


def test_ul2_mode_frequencies():
    modes = Counter(corrupt(list(range(10)), "ul2", seed).mode for seed in range(3000))
    assert abs(modes["R"] / 3000 - 0.4) < 0.03
    assert abs(modes["X"] / 3000 - 0.4) < 0.03
    assert abs(modes["S"] / 3000 - 0.2) < 0.03


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_exposure_values(n):
    ids = list(range(n))
    assert corrupt(ids, "clm").exposure == (n - 1) / n
    assert corrupt(ids, "mlm").exposure == max(1, round(0.15 * n)) / n


def test_exposure_near_15_percent_for_denoisers():
    assert corrupt(list(range(100)), "span_corruption").exposure == 0.15
    assert corrupt(list(range(100)), "mlm").exposure == 0.15
    assert abs(corrupt(list(range(1000)), "span_corruption").exposure - 0.15) < 0.001


def test_exposure_table():
    rows = exposure_table(IDS20)
    labels = ["clm", "mlm", "span_corruption", "prefix_lm", "fim", "ul2", "ul2-R", "ul2-S", "ul2-X"]
    assert [r["label"] for r in rows] == labels
    by = {r["label"]: r for r in rows}
    assert by["clm"]["exposure"] == 0.95 and by["clm"]["n_loss_tokens"] == 19
    assert by["mlm"]["n_loss_tokens"] == by["span_corruption"]["n_loss_tokens"] == by["ul2-R"]["n_loss_tokens"] == 3
    assert by["ul2"]["mode"] == "X" and by["ul2-X"]["exposure"] == 0.5
    assert by["prefix_lm"]["exposure"] == by["ul2-S"]["exposure"] == 0.2
    assert all(r["n_tokens"] == 20 and r["exposure"] == r["n_loss_tokens"] / 20 for r in rows)


@pytest.mark.parametrize("name, params", ALL_RUNS)
def test_deterministic_and_seed_dependent(name, params):
    ids = list(range(100, 200))
    assert corrupt(ids, name, 5, **params) == corrupt(ids, name, 5, **params)
    if name != "clm":
        assert any(corrupt(ids, name, s, **params) != corrupt(ids, name, 5, **params) for s in range(6, 16))


@pytest.mark.parametrize("name, params", ALL_RUNS)
def test_accepts_tensor_input(name, params):
    assert corrupt(torch.tensor(IDS40), name, 2, **params) == corrupt(IDS40, name, 2, **params)
    assert corrupt(torch.tensor(IDS40, dtype=torch.int32), name, 2, **params).original == IDS40


def test_errors():
    with pytest.raises(ValueError, match=", ".join(OBJECTIVES)):
        corrupt(IDS20, "bert")
    with pytest.raises(ValueError, match="mask_rate, mask_frac, random_frac"):
        corrupt(IDS20, "mlm", noise_density=0.5)
    with pytest.raises(ValueError, match="none"):
        corrupt(IDS20, "clm", split=3)
    with pytest.raises(ValueError, match="R, S, X"):
        corrupt(IDS20, "ul2", mode="Q")
    with pytest.raises(ValueError):
        corrupt(IDS20, "mlm", mask_rate=1.5)
    with pytest.raises(ValueError):
        corrupt(IDS20, "mlm", mask_frac=0.8, random_frac=0.3)
    with pytest.raises(ValueError):
        corrupt(IDS20, "span_corruption", noise_density=-0.1)
    with pytest.raises(ValueError):
        corrupt(IDS20, "span_corruption", mean_span_length=0.5)
    with pytest.raises(ValueError):
        corrupt([1, 2, MASKLAB.vocab_size], "clm")
    with pytest.raises(ValueError):
        corrupt(torch.tensor([[1, 2]]), "clm")
    with pytest.raises(ValueError):
        corrupt(torch.tensor([1.0, 2.0]), "clm")
    with pytest.raises(ValueError):
        corrupt([1, "a"], "clm")


def test_objective_params():
    assert objective_params("clm") == {}
    assert objective_params("mlm") == {"mask_rate": 0.15, "mask_frac": 0.8, "random_frac": 0.1}
    assert objective_params("span_corruption") == {"noise_density": 0.15, "mean_span_length": 3.0, "random_roll": False}
    assert objective_params("prefix_lm") == {"split": None}
    assert objective_params("ul2") == {"mode": None, "random_roll": False}


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("name, params", ALL_RUNS)
def test_tiny_inputs_never_crash(n, name, params):
    ids = list(range(n))
    c = corrupt(ids, name, 0, **params)
    assert c.original == ids and len(c.loss_mask) == n
    assert reconstruct(c) == ids
    seq, labels, n_prefix = as_decoder_sequence(c)
    assert len(seq) == len(labels) and 0 <= n_prefix <= len(seq)
    if c.span_style and n < 2:
        assert c.targets == [EOS] and c.exposure == 0.0


def test_as_decoder_sequence_docstring_example():
    a, b = 5, 6
    c = denoise([a, b], [False, True], MASKLAB, "span_corruption")
    seq, labels, n_prefix = as_decoder_sequence(c)
    assert seq == [a, S0, EOS, S0, b, EOS]
    assert labels == [I, I, S0, b, EOS, I]
    assert n_prefix == 3


@pytest.mark.parametrize("name, params", ALL_RUNS)
def test_as_decoder_sequence_off_by_one(name, params):
    for seed in range(20):
        c = corrupt(IDS40, name, seed, **params)
        d = as_decoder_sequence(c)
        assert len(d.seq) == len(d.labels)
        if not c.span_style:
            assert (d.seq, d.labels, d.n_prefix) == (c.inputs, c.targets, c.n_prefix)
            if c.objective != "mlm":  # causal labels: position t predicts the token at t + 1
                assert all(lab == d.seq[t + 1] for t, lab in enumerate(d.labels) if lab != I)
            continue
        L = len(c.inputs)
        assert d.seq == c.inputs + c.targets and d.n_prefix == L
        assert d.labels[: L - 1] == [I] * (L - 1) and d.labels[-1] == I
        assert d.labels[L - 1] == c.targets[0]
        assert all(lab == d.seq[t + 1] for t, lab in enumerate(d.labels) if lab != I)
        assert [lab for lab in d.labels if lab != I] == c.targets


def test_text_tokens_supervised_and_target_positions_with_a_loss_are_two_counts():
    ids = list(range(100, 120))
    span = corrupt(ids, "span_corruption", 0)
    assert span.n_loss_positions == len(span.targets) == span.n_loss_tokens + len(span.span_origin) + 1  # sentinels, eos
    mlm = corrupt(ids, "mlm", 0)
    assert mlm.n_loss_positions == sum(t != IGNORE_INDEX for t in mlm.targets)
    rows = {r["label"]: r for r in exposure_table(ids, seed=0)}
    assert rows["span_corruption"]["n_loss_positions"] == span.n_loss_positions
    assert rows["clm"]["n_loss_positions"] == rows["clm"]["n_loss_tokens"] == 19


def test_fill_in_the_middle_rearranges_psm_or_spm_and_supervises_every_token():
    """Bavarian et al. 2022: prefix, suffix, middle behind their tokens; every token predicted from before."""
    from engine.objectives import fill_in_the_middle, reconstruct
    from engine.vocab import MASKLAB

    pre, suf, mid = (MASKLAB.fim[k] for k in ("prefix", "suffix", "middle"))
    ids = list(range(100, 140))
    seen = {"PSM": 0, "SPM": 0, "plain": 0}
    for seed in range(60):
        c = corrupt(ids, "fim", seed)
        assert reconstruct(c) == ids  # nothing lost, nothing added but the three tokens
        assert c.targets == c.inputs[1:] + [-100]  # next-token labels over the rearranged sequence
        if not c.span_origin:
            seen["plain"] += 1
            assert c.inputs == ids and c.exposure == 39 / 40  # left as causal LM
            continue
        a, b = c.span_origin[0]
        assert c.exposure == 1.0 and len(c.inputs) == 43
        if c.inputs[:2] == [pre, suf] and a > 0:
            seen["SPM"] += 1
            assert c.inputs == [pre, suf] + ids[b:] + [mid] + ids[:a] + ids[a:b]
        else:
            seen["PSM"] += 1
            assert c.inputs == [pre] + ids[:a] + [suf] + ids[b:] + [mid] + ids[a:b]
        assert [i for i, k in enumerate(c.kinds) if k == "middle"] == list(range(len(c.inputs) - (b - a), len(c.inputs)))
    assert all(v >= 8 for v in seen.values()), seen  # half rearranged, half of those each order
    assert corrupt(ids, "fim", 3, fim_rate=0.0).inputs == ids
    assert all(corrupt(ids, "fim", s, fim_rate=1.0).span_origin for s in range(10))
    with pytest.raises(ValueError, match="fim_rate"):
        fill_in_the_middle(ids, __import__("torch").Generator(), fim_rate=1.5)


def test_the_fim_tokens_take_the_last_sentinels_ids_so_no_shipped_id_moves():
    from engine.vocab import MASKLAB, N_REGULAR, SPECIAL_TOKEN_IDS

    assert N_REGULAR == 8085 and MASKLAB.vocab_size == 8192
    assert MASKLAB.sentinels == tuple(range(N_REGULAR + 7, N_REGULAR + 7 + 97))  # after 4 tokens and 3 mode tokens, where they always were
    assert [SPECIAL_TOKEN_IDS[t] for t in ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")] == [8189, 8190, 8191]
    worst = max(len(corrupt(list(range(256)), "span_corruption", s).span_origin) for s in range(50))
    assert worst <= 20  # a 256-token window never reaches the 97th sentinel
