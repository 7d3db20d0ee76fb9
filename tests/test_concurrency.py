"""One model, many sessions: the app shares each loaded model between every browser session
(``st.cache_resource``), so every forward pass must give the numbers it would give alone, whatever
another thread is doing with the same model at the same moment."""

import threading

import numpy as np
import pandas as pd
import pytest
import torch

import engine
from engine import hf
from tests.test_hf import build_checkpoint

TEXT = "It was the best of times, it was the worst of times; the cat sat on the mat."


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A tiny Llama with grouped-query attention (2 query heads over 1 key/value head), loaded as a published checkpoint."""
    root = tmp_path_factory.mktemp("published")
    build_checkpoint("llama", root / "llama")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASKLAB_MODEL_DIRS", str(root))
        return engine.load_variant(str(root / "llama"), device="cpu")


def _layer_hook(on_layer):
    """A forward pre-hook on every module of every model: calls ``on_layer(module)`` for each decoder layer."""
    def hook(module, args):
        if type(module).__name__.endswith(("DecoderLayer", "Block")):
            on_layer(module)
    return torch.nn.modules.module.register_module_forward_pre_hook(hook)


def test_reading_maps_in_one_thread_never_changes_a_pass_running_in_another(tiny_llama):
    """The interleaving that corrupted scores: a scoring pass is inside the shared model (its mask already
    built for fused attention) when another session reads attention maps. The maps pass runs in full while
    the scoring pass waits at its first layer; the scoring pass then finishes and must equal a pass alone.
    Before the fix, the maps pass switched the shared model to eager attention, and the scoring pass ran it
    without a causal mask: it saw the tokens it was predicting."""
    v = tiny_llama
    alone = engine.score(v, TEXT)
    scorer_inside, maps_inside, scorer_done = threading.Event(), threading.Event(), threading.Event()
    scorer = {}

    def on_layer(module):
        me = threading.current_thread().name
        if me == "scorer" and not scorer_inside.is_set():
            scorer_inside.set()
            maps_inside.wait(5)  # hold the scoring pass inside the model until the maps pass is inside too
        elif me == "maps" and not maps_inside.is_set():
            maps_inside.set()
            scorer_done.wait(5)  # and keep the maps pass inside until the scoring pass has finished

    def score():
        scorer["df"] = engine.score(v, TEXT)
        scorer_done.set()

    def maps():
        scorer_inside.wait(5)
        scorer["maps"] = engine.attention(v, TEXT)

    handle = _layer_hook(on_layer)
    try:
        threads = [threading.Thread(target=score, name="scorer"), threading.Thread(target=maps, name="maps")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        handle.remove()
    assert scorer_inside.is_set() and maps_inside.is_set(), "the two passes never overlapped"
    pd.testing.assert_series_equal(scorer["df"]["loss"], alone["loss"], atol=1e-6, rtol=0)
    assert hf.attn_implementation(v.model) == "sdpa"  # the shared model itself is never switched


def _hammer(v, n_score: int, n_maps: int, texts: list[str]):
    """Score ``texts`` ``n_score`` times in one thread while another reads maps ``n_maps`` times; every
    score must equal the same text scored alone, and every map the same map read alone."""
    alone = {t: engine.score(v, t)["loss"].to_numpy() for t in texts}
    maps_alone = engine.attention(v, texts[0]).maps
    bad, done = [], threading.Event()

    def score():
        for i in range(n_score):
            t = texts[i % len(texts)]
            got = engine.score(v, t)["loss"].to_numpy()
            if not (got.shape == alone[t].shape and np.allclose(got, alone[t], rtol=0, atol=1e-5, equal_nan=True)):
                bad.append((i, t, float(np.nanmax(abs(got - alone[t])))))
        done.set()

    def maps():
        for _ in range(n_maps):
            m = engine.attention(v, texts[0]).maps
            for part in m:
                for a, b in zip(m[part], maps_alone[part]):
                    if (a - b).abs().max() > 1e-5:
                        bad.append(("maps", part))
            if done.is_set():
                break

    threads = [threading.Thread(target=score), threading.Thread(target=maps)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not bad, bad[:5]


TEXTS = [TEXT, "We hold these truths to be self evident, that all men are created equal.", "The cat sat on the mat, and the dog sat on the log."]


def test_threads_scoring_and_reading_maps_get_what_one_thread_gets_on_a_published_model(tiny_llama):
    _hammer(tiny_llama, 200, 200, TEXTS)


@pytest.mark.parametrize("name", ["decoder-clm", "prefixlm-prefix", "encoder-mlm", "encdec-span"])
def test_threads_scoring_and_reading_maps_get_what_one_thread_gets_on_masklabs_models(name):
    _hammer(engine.load_variant(name), 20, 20, TEXTS)


def test_random_models_built_at_once_in_threads_equal_those_built_alone():
    """A random model is built from a seed: built in two threads at once, each must equal the one built
    alone (the seed is not a setting one thread can change under another)."""
    names = ["random-decoder", "random-encoder"] * 3
    alone = {n: engine.load_variant(n).model.state_dict() for n in set(names)}
    got, barrier = [None] * len(names), threading.Barrier(len(names))

    def build(i):
        barrier.wait()
        got[i] = engine.load_variant(names[i]).model.state_dict()

    threads = [threading.Thread(target=build, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for n, sd in zip(names, got):
        for k, w in alone[n].items():
            assert torch.equal(sd[k], w), (n, k)


def test_the_tokenizer_loader_makes_each_tokenizer_once_when_sessions_ask_at_once():
    """Sessions opening the tokenization page at once on one checkpoint share one tokenizer, made once;
    a failed load keeps nothing, so the next asks again."""
    loader, calls, barrier = hf.Loader(), [], threading.Barrier(6)

    def make():
        calls.append(threading.current_thread().name)
        return object()

    got = [None] * 6

    def ask(i):
        barrier.wait()
        got[i] = loader.tokenizer(("tiny", "identity"), make)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1 and all(g is got[0] for g in got)

    def broken():
        raise hf.CheckpointUnavailable("not here")

    with pytest.raises(hf.CheckpointUnavailable):
        loader.tokenizer(("other", "identity"), broken)
    assert loader.tokenizer(("other", "identity"), make) is not None and len(calls) == 2
