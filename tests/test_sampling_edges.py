"""Sampling at its edges: a temperature too small to divide by is greedy (and says so), a negative or
non-finite one and a negative top-k are refused with MaskLab's own message, and top-k is clamped to
the vocabulary everywhere: engine.score, engine.generate, the command line and links."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.scoring import _sample, generate, score
from engine.variants import load_variant

REPO = Path(__file__).resolve().parents[1]
TEXT = "It was the best of times, it was the worst of times."


@pytest.fixture(scope="module")
def decoder():
    return load_variant("random-decoder")


@pytest.mark.parametrize("temperature", [1e-38, 1e-30, 1e-6, 0.0])
def test_a_temperature_too_small_to_divide_by_is_greedy_and_says_so(decoder, temperature):
    greedy = generate(decoder, TEXT, 6, temperature=0)
    r = generate(decoder, TEXT, 6, temperature=temperature)
    assert r.tokens == greedy.tokens and "greedy" in r.method


def test_sampling_with_large_logits_and_a_tiny_temperature_picks_the_likeliest():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([30.0, 20.0, -5.0, 29.0])  # / 1e-38 overflows float32: inf, then NaN probabilities
    assert _sample(logits, 1e-38, 0, g, ()) == 0
    assert _sample(logits, 1e-38, 2, g, (0,)) == 3


def test_an_ordinary_temperature_still_samples(decoder):
    r = generate(decoder, TEXT, 6, temperature=1.0, top_k=0, seed=1)
    assert "greedy" not in r.method


@pytest.mark.parametrize("temperature", [-0.5, -1e-38, float("nan"), float("inf"), float("-inf")])
def test_a_negative_or_non_finite_temperature_is_refused(decoder, temperature):
    with pytest.raises(ValueError, match="temperature"):
        generate(decoder, TEXT, 3, temperature=temperature)


@pytest.mark.parametrize("call", ["score", "generate"])
def test_a_negative_top_k_is_refused(decoder, call):
    with pytest.raises(ValueError, match="top_k"):
        score(decoder, TEXT, top_k=-1) if call == "score" else generate(decoder, TEXT, 3, top_k=-1)


def test_top_k_above_the_vocabulary_is_clamped_in_score_and_generate(decoder):
    V = decoder.backend.vocab_size
    df = score(decoder, "Call me Ishmael.", top_k=V + 1000)
    assert len(df) and all(len(row) == V for row in df["top_k"])
    a = generate(decoder, TEXT, 5, temperature=1.0, top_k=V + 1000, seed=2)
    b = generate(decoder, TEXT, 5, temperature=1.0, top_k=0, seed=2)
    assert a.tokens == b.tokens  # every token kept, as top_k 0


def cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, capture_output=True, text=True, env=os.environ.copy(), timeout=120)


def test_the_cli_clamps_top_k_and_refuses_bad_values_in_one_line():
    r = cli("score", "--json", "--variant", "random-decoder", "--top-k", "100000", "Call me Ishmael.")
    assert r.returncode == 0, r.stderr
    r = cli("generate", "--variant", "random-decoder", "--temperature", "1e-38", "--max-new-tokens", "3", "Call me")
    assert r.returncode == 0, r.stderr
    for args, name in [(("generate", "--temperature", "-1"), "temperature"), (("generate", "--temperature", "nan"), "temperature"),
                       (("generate", "--top-k", "-1"), "top_k"), (("score", "--top-k", "-1"), "top_k")]:
        r = cli(args[0], "--variant", "random-decoder", *args[1:], "Call me")
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], r.stderr


def test_a_link_s_tiny_temperature_reads_as_greedy_and_a_bad_one_is_refused():
    from ui.state import FIELDS

    temp, topk = FIELDS["temp"].parse, FIELDS["topk"].parse
    assert temp("1e-38") == 0.0 and temp("0.8") == 0.8 and temp("0") == 0.0
    for raw in ("-1", "nan", "inf", "1e39"):
        with pytest.raises(ValueError):
            temp(raw)
    assert temp("1e-45") == 0.0 and temp("0.0001") == 1e-4
    assert topk("20") == 20 and topk("100000") == 500  # clamped, as the engine clamps to the vocabulary
    for raw in ("-1", "2.5", "x"):
        with pytest.raises(ValueError):
            topk(raw)
