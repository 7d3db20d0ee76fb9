"""Does an encoder-decoder read its encoder: the loss rise on span text tokens when its encoder reads
random text, measured on held-out windows, and said wherever its cross-attention is shown."""

import pytest
import torch

import engine
from engine.encoder_reading import READS_ENCODER_NATS, encoder_reliance, held_out_windows
from engine.model import ModelConfig, Transformer
from tests.conftest import REPO, SHARED, open_page


def test_a_model_whose_decoder_ignores_its_encoder_gains_nothing_from_it():
    """Cross-attention's output projection zeroed: the decoder cannot see the encoder at all, so random
    encoder text changes nothing, to the last bit."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(architecture="encoder_decoder", vocab_size=engine.get_encoding("masklab").n_vocab, n_layer=2, n_head=2, d_model=64, d_ff=128, max_len=160)).eval()
    for name, p in model.named_parameters():
        if "cross" in name or "xattn" in name or "xa" in name.split("."):
            p.data.zero_()
    windows = held_out_windows(8, 64)
    r = encoder_reliance(model, windows)
    changed = [n for n, p in model.named_parameters() if p.abs().sum() == 0]
    assert changed, "found no cross-attention parameters to zero"
    assert r.windows == 8 and r.tokens > 0 and abs(r.rise) < 1e-5 and not r.reads_encoder


def test_the_shipped_encoder_decoder_is_measured_and_the_words_follow_the_number():
    v = engine.load_variant("encdec-span")
    r = encoder_reliance(v.model, held_out_windows(16, 256))
    assert r.windows == 16 and r.rise_ci[0] <= r.rise <= r.rise_ci[1] and r.random > r.real - 1
    said = r.sentence("encdec-span")
    assert f"{r.rise:.2f} nats" in said and (("barely reads" in said) == (r.rise_ci[0] < READS_ENCODER_NATS))


def test_refuses_a_model_that_is_not_an_encoder_decoder():
    with pytest.raises(ValueError, match="encoder-decoders only"):
        encoder_reliance(engine.load_variant("decoder-clm").model, held_out_windows(2, 64))


def test_the_masks_page_says_what_the_encoder_decoder_does_beside_its_cross_attention():
    """It wrote "its twin in the input marks the hole" above a uniform smear; now the measured number decides."""
    from ui import cache

    text = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. " * 2
    at = open_page("masks", text, params={"archs": "encoder_decoder"})
    r = cache.encoder_reliance("encdec-span")
    shown = " ".join(str(e.value) for e in [*at.info, *at.caption])
    assert f"{r.rise:.2f} nats" in shown
    assert ("has a span bias" in shown) == bool(cache.variant("encdec-span").model.config.span_bias)  # said when its maps carry one
    if not r.reads_encoder:  # the measured sentence in a notice, and no claim that the twin marks the hole
        assert any("barely reads its encoder" in str(i.value) for i in at.info) and "marks the hole" not in " ".join(m.value for m in at.markdown)


def test_an_encoder_only_model_reads_the_text_around_its_masks_and_the_pages_say_how_much_there_is_to_read():
    """The same measure for the encoder-only model: a hidden token's loss with its real context and with
    random context. The shipped encoder-mlm gains several nats from it; the sentence beside the
    encoder-decoder's number says so."""
    from ui import cache

    windows = held_out_windows(16, 256)
    c = engine.context_reliance(engine.load_variant("encoder-mlm").model, windows)
    assert c.windows == 16 and c.tokens > 100 and c.rise_ci[0] > 2.0  # measured 3.8 (3.6-4.1) on 32 windows
    r = encoder_reliance(engine.load_variant("encdec-span").model, windows)
    said = r.sentence("encdec-span", c, "encoder-mlm")
    assert said.startswith(r.sentence("encdec-span")) and f"encoder-mlm loses {c.rise:.2f} nats" in said
    with pytest.raises(ValueError, match="encoders only"):
        engine.context_reliance(engine.load_variant("encdec-span").model, windows)
    at = open_page("switches")
    shown = " ".join(str(e.value) for e in [*at.info, *at.caption])
    assert f"encoder-mlm loses {cache.context_reliance('encoder-mlm').rise:.2f} nats" in shown


def test_sessions_measuring_at_once_on_the_shared_models_get_what_each_gets_alone():
    """The masks and switches pages measure the reading on the one loaded model every session shares: two
    threads measuring the encoder-decoder and the encoder-only at once get, to the bit, what each gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.encoder_reading import context_reliance

    encdec, encoder = engine.load_variant("encdec-span").model, engine.load_variant("encoder-mlm").model
    windows = held_out_windows(4, 128)
    jobs = [(encoder_reliance, encdec, 0), (context_reliance, encoder, 0), (encoder_reliance, encdec, 1), (context_reliance, encoder, 1)]
    alone = [f(m, windows, seed=s) for f, m, s in jobs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            together = list(pool.map(lambda job: job[0](job[1], windows, seed=job[2]), jobs * 2))
            assert together == alone * 2
    assert alone[0] != alone[2]  # the seed draws other spans: the comparison could fail


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "corpus").is_dir(), reason="needs ../shared/corpus, whose held-out split the card was measured on")
def test_an_encoder_decoder_s_card_carries_its_reading_and_the_scaling_page_shows_it():
    """The card's number is the app's: the same held-out windows of the corpus (the tests' own corpus
    is a fixture), the same shipped weights."""
    import json

    from engine.encoder_reading import READING_WINDOWS

    card = json.loads((REPO / "assets" / "models" / "encdec-span" / "card.json").read_text())
    r = encoder_reliance(engine.load_variant("encdec-span").model, held_out_windows(READING_WINDOWS, 256, corpus=SHARED / "corpus"))
    assert card["encoder_reliance"]["rise"] == pytest.approx(r.rise, abs=1e-6) and card["encoder_reliance"]["reads_encoder"] is r.reads_encoder
    at = open_page("scaling", "x", params={"card": "encdec-span"})
    shown = " ".join(str(e.value) for e in [*at.info, *at.caption])
    assert f"{card['encoder_reliance']['sentence']} Measured when encdec-span was exported, on its card." in shown
