"""The byte-bounded store behind the attention maps: bounded by bytes, least recently used dropped first,
each key computed once however many sessions ask for it at the same moment."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ui.store import BoundedStore, nbytes

MB = 2**20


def test_entries_are_dropped_least_recently_used_first_to_stay_within_the_budget():
    s = BoundedStore(3 * MB)
    for k in "abc":
        s.get(k, lambda: np.zeros(MB, np.uint8))
    s.get("a", lambda: pytest.fail("kept"))  # a is now the most recent
    s.get("d", lambda: np.zeros(MB, np.uint8))
    assert "b" not in s and all(k in s for k in "acd") and s.used == 3 * MB
    s.get("e", lambda: np.zeros(2 * MB, np.uint8))
    assert s.used <= 3 * MB and "e" in s and "c" not in s


def test_a_result_larger_than_the_budget_is_returned_and_not_kept():
    s = BoundedStore(MB)
    s.get("small", lambda: np.zeros(10, np.uint8))
    big = s.get("big", lambda: np.zeros(2 * MB, np.uint8))
    assert big.nbytes == 2 * MB and "big" not in s and "small" in s and s.used == 10


def test_sessions_asking_for_the_same_missing_key_at_once_compute_it_once():
    s, calls, barrier = BoundedStore(10 * MB), [], threading.Barrier(8)

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return np.arange(100)

    got = [None] * 8

    def ask(i):
        barrier.wait()
        got[i] = s.get("k", compute)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and s.computed == 1 and all(g is got[0] for g in got)


def test_a_failed_computation_keeps_nothing_and_the_next_caller_computes_again():
    s = BoundedStore(MB)
    with pytest.raises(RuntimeError):
        s.get("k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert "k" not in s and s.get("k", lambda: np.ones(3)).sum() == 3


def test_nbytes_counts_arrays_inside_the_result():
    r = {"maps": {"self": np.zeros((2, 3, 4, 4), np.float16)}, "labels": ["a", "b"], "n": 3}
    assert nbytes(r) == 2 * 3 * 4 * 4 * 2


APP = Path(__file__).resolve().parents[1] / "app.py"
LONG = " ".join(f"Sentence {i} of a long text, read in windows of tokens." for i in range(40))


def test_moving_the_masks_window_slices_maps_computed_once_per_text():
    """Each model's maps of a text are computed once; the window slider only slices them (they were once
    computed and kept again for every window position, a few hundred MB each for a published model)."""
    from ui import cache, catalog

    store = cache.maps_store()
    charts = []
    for win in (0, 40, 80):
        at = AppTest.from_file(str(APP), default_timeout=240)
        at.query_params.update({"archs": "decoder", "win": str(win)})
        at.session_state["text"] = LONG
        at.switch_page("views/masks.py")
        before = store.computed
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        charts.append([c.proto.spec for c in at.get("plotly_chart")])
        assert store.computed == before + (win == 0), win  # the first window computes the decoder's maps; the others slice them
    assert charts[0] != charts[1] != charts[2]
    result = cache.attention(catalog.pick_variant("decoder"), LONG)
    assert all(m.dtype == np.float16 for m in result["maps"].values())


def test_a_weight_that_underflowed_to_zero_is_drawn_as_zero_where_the_rule_allows_attention():
    """A softmax that underflows gives exact zeros (the first encdec-span's encoder did: its residual
    stream was huge); drawn as empty cells they looked masked out. The rule decides which cells are empty."""
    from ui import cache, charts

    result = cache.attention("encdec-span", LONG, seed=0)
    enc = np.array(cache.attention_map(result, "encoder", 0, 0), dtype=np.float32)
    enc[:, ::3] = 0.0  # weights of exactly 0 where every pair may attend, as an underflowed softmax leaves them
    n = len(enc)
    labels = [str(i) for i in range(n)]
    z = np.array(charts.attention_heatmap(enc, labels, labels, "t", allowed=np.ones_like(enc, dtype=bool)).data[0].z, dtype=float)
    assert not np.isnan(z).any()
    causal = np.tril(np.ones((n, n), dtype=bool))
    z = np.array(charts.attention_heatmap(enc, labels, labels, "t", allowed=causal).data[0].z, dtype=float)
    assert np.isnan(z[~causal]).all() and not np.isnan(z[causal]).any()
