import math

from engine.cost import supervision
from engine.model import ModelConfig
from engine.probes import PROBES, run_probes, word_logprob
from engine.variants import load_variant

TINY = dict(vocab_size=8192, n_layer=2, n_head=2, d_model=32, d_ff=64, max_len=128)


def test_probe_log_probabilities_are_sums_over_the_word():
    v = load_variant("random-decoder")
    df = run_probes(v, PROBES[:2])
    assert list(df["skill"]) == ["grammar", "grammar"]
    assert (df["logp_right"] < 0).all() and (df["margin"] == df["logp_right"] - df["logp_wrong"]).all()
    assert math.isclose(word_logprob(v, PROBES[0][1], PROBES[0][2]), df["logp_right"][0])


def test_supervision_ranks_causal_lm_above_masking():
    configs = {a: ModelConfig(architecture=a, **TINY) for a in ("decoder", "encoder", "encoder_decoder", "prefix_lm")}
    rows = {r["objective"]: r for r in supervision(list(range(200)), configs)}
    assert rows["clm"]["n_loss_tokens"] == 199 and rows["mlm"]["n_loss_tokens"] == 30
    assert rows["clm"]["per_pflop"] > 4 * rows["mlm"]["per_pflop"]
