"""Bad arguments to the engine's public functions get MaskLab's own message, naming the argument:
TypeError for the wrong kind of value (None, a float or a bool where a whole number is needed),
ValueError for a value out of range (a negative count, an empty name)."""

import re

import pytest

import engine

V = {}


def variant(arch: str = "decoder"):
    if arch not in V:
        V[arch] = engine.load_variant(f"random-{arch}")
    return V[arch]


CASES = [
    # (call, the argument its message must name, the error)
    (lambda: engine.tokenize(None), "text", TypeError),
    (lambda: engine.tokenize(b"bytes"), "text", TypeError),
    (lambda: engine.tokenize(3), "text", TypeError),
    (lambda: engine.tokenize("x", None), "encoding", TypeError),
    (lambda: engine.tokenize("x", ""), "encoding", ValueError),
    (lambda: engine.attention_masks("decoder", 2.5), "n_input", TypeError),
    (lambda: engine.attention_masks("decoder", True), "n_input", TypeError),
    (lambda: engine.attention_masks("decoder", None), "n_input", TypeError),
    (lambda: engine.attention_masks("decoder", -1), "n_input", ValueError),
    (lambda: engine.attention_masks("prefix_lm", 2, 1.0), "n_target", TypeError),
    (lambda: engine.attention_masks("prefix_lm", 2, -3), "n_target", ValueError),
    (lambda: engine.attention_masks(None, 2), "architecture", TypeError),
    (lambda: engine.attention_masks("", 2), "architecture", ValueError),
    (lambda: engine.attention_masks("encoder_decoder", 2, 2, causal_input="yes"), "causal_input", TypeError),
    (lambda: engine.load_variant(None), "name", TypeError),
    (lambda: engine.load_variant(""), "name", ValueError),
    (lambda: engine.load_variant("   "), "name", ValueError),
    (lambda: engine.load_variant(3.5), "name", TypeError),
    (lambda: engine.score(None, "x"), "variant", TypeError),
    (lambda: engine.score(variant(), None), "text", TypeError),
    (lambda: engine.score(variant(), "x", top_k=2.5), "top_k", TypeError),
    (lambda: engine.score(variant(), "x", top_k=True), "top_k", TypeError),
    (lambda: engine.score(variant(), "x", top_k=-1), "top_k", ValueError),
    (lambda: engine.score(variant(), "x", max_tokens=-1), "max_tokens", ValueError),
    (lambda: engine.score(variant(), "x", window=8.5), "window", TypeError),
    (lambda: engine.score(variant("prefix_lm"), "x y z", split=1.5), "split", TypeError),
    (lambda: engine.score(variant("prefix_lm"), "x y z", split=-2), "split", ValueError),
    (lambda: engine.score(variant("encoder"), "x y z", stride=True), "stride", TypeError),
    (lambda: engine.attention(None, "x"), "variant", TypeError),
    (lambda: engine.attention(variant(), None), "text", TypeError),
    (lambda: engine.attention(variant(), "x", max_tokens=2.5), "max_tokens", TypeError),
    (lambda: engine.attention(variant(), "x", max_tokens=-1), "max_tokens", ValueError),
    (lambda: engine.attention(variant("encoder_decoder"), "x y z", seed=None), "seed", TypeError),
    (lambda: engine.generate(None, "x"), "variant", TypeError),
    (lambda: engine.generate(variant(), None), "text", TypeError),
    (lambda: engine.generate(variant(), "x", max_new_tokens=-1), "max_new_tokens", ValueError),
    (lambda: engine.generate(variant(), "x", max_new_tokens=2.5), "max_new_tokens", TypeError),
    (lambda: engine.generate(variant(), "x", max_new_tokens=True), "max_new_tokens", TypeError),
    (lambda: engine.generate(variant(), "x", top_k=True), "top_k", TypeError),
    (lambda: engine.generate(variant(), "x", temperature=None), "temperature", TypeError),
    (lambda: engine.generate(variant(), "x", seed=1.5), "seed", TypeError),
    (lambda: engine.corrupt(None, "mlm"), "ids", TypeError),
    (lambda: engine.corrupt("some text", "mlm"), "ids", TypeError),
    (lambda: engine.corrupt([1, 2, 3], None), "objective", TypeError),
    (lambda: engine.corrupt([1, 2, 3], ""), "objective", ValueError),
    (lambda: engine.corrupt([1, 2, 3], "mlm", seed=None), "seed", TypeError),
    (lambda: engine.corrupt([1, 2, 3], "mlm", seed=1.5), "seed", TypeError),
    (lambda: engine.corrupt([1, 2, 3], "mlm", seed=True), "seed", TypeError),
    (lambda: engine.corrupt([1, True, 3], "mlm"), "ids", ValueError),  # a list of the wrong values: ValueError, as for [1, "a"]
]


@pytest.mark.parametrize("call, name, error", CASES, ids=[f"{i}-{n}" for i, (_, n, _) in enumerate(CASES)])
def test_a_bad_argument_is_refused_with_a_message_naming_it(call, name, error):
    with pytest.raises(error) as e:
        call()
    assert re.search(rf"\b{name}\b", str(e.value)), str(e.value)


def test_good_arguments_still_work():
    assert "".join(t.text for t in engine.tokenize("Hi there")) == "Hi there"
    assert engine.attention_masks("prefix_lm", 2, 1)["self"].shape == (3, 3)
    assert len(engine.corrupt([5, 6, 7, 8], "mlm", seed=0).inputs) == 4
    import numpy as np

    assert engine.attention_masks("decoder", np.int64(2))["self"].shape == (2, 2)  # a numpy whole number is a whole number
