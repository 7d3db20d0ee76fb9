"""Links that travel: a published checkpoint is named in a link by a portable name (its folder's own
name) that resolves on any machine holding it in ../shared/models, MASKLAB_MODEL_DIRS or the fetch
folder; every model pick is restored from a link; a layer in a link counts from 1, as its slider."""

import pytest

from engine import hf
from tests.conftest import open_page
from tests.test_hf import build_checkpoint

TEXT = "It was the best of times, it was the worst of times."


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny Llama saved as ``tiny-llama`` in a folder listed in MASKLAB_MODEL_DIRS; the app's list of
    published checkpoints read afresh with it (and afresh again after)."""
    from ui import catalog

    root = tmp_path_factory.mktemp("models")
    build_checkpoint("llama", root / "tiny-llama")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MASKLAB_MODEL_DIRS", str(root))
        catalog.published.clear()
        catalog.published_architecture.clear()
        yield root / "tiny-llama"
    catalog.published.clear()
    catalog.published_architecture.clear()


def test_a_portable_name_resolves_to_the_folder_in_the_model_dirs(published):
    assert hf.in_model_dirs("tiny-llama") == published
    assert hf.checkpoint_folder("tiny-llama") == published.resolve()
    assert [f.name for f in hf.find_checkpoints() if f.name == "tiny-llama"] == ["tiny-llama"]  # found under its portable name
    assert hf.portable_name(str(published)) == "tiny-llama"
    assert hf.in_model_dirs("../tiny-llama") is None and hf.in_model_dirs("no-such-model") is None


def test_the_losses_page_names_a_published_model_in_its_link_without_a_local_path(published):
    at = open_page("losses", TEXT, params={"variants": "tiny-llama,decoder-clm"})
    assert at.session_state["variants"] == ("tiny-llama", "decoder-clm")
    assert "/" not in at.query_params["variants"] and str(published.parent) not in str(at.query_params)
    assert not [w.value for w in at.warning if "tiny-llama" in str(w.value)]


def test_the_masks_page_restores_its_model_picks_from_the_link(published):
    at = open_page("masks", TEXT, params={"archs": "decoder", "learned": "decoder:tiny-llama", "layer": "2"})
    assert at.session_state["masks.model.decoder"] == "tiny-llama"
    assert at.slider(key="masks.layer").value == 2 and at.session_state["layer"] == 1
    assert any("tiny-llama" in str(c.value) for c in at.caption)  # the learned map is the linked model's
    picker = at.selectbox(key="masks.model.decoder")
    picker.set_value("decoder-clm").run()
    assert "learned" not in at.query_params  # the page's own pick needs no word in the link
    picker.set_value("random-decoder").run()
    assert at.query_params["learned"] == "decoder:random-decoder"


def test_the_chat_page_restores_its_model_pick_from_the_link(published):
    at = open_page("chat", params={"model": "tiny-llama"})
    assert at.session_state["chat.model"] == "tiny-llama" and at.query_params["model"] == "tiny-llama"


def test_the_pages_token_limit_applies_to_a_model_with_its_own_tokenizer(published):
    """A text past the page's 2,048 tokens: the page says it uses the first 2,048 (so many characters),
    and a published model scores that same stretch, not the whole text."""
    from engine.tokenizer import tokenize
    from ui import state

    text = "It was the best of times, it was the worst of times. " * 250
    cut = tokenize(text)[state.MAX_TOKENS - 1].end
    at = open_page("losses", text, params={"variants": "tiny-llama"})
    assert any(f"first {state.MAX_TOKENS:,}" in str(w.value) and f"{cut:,} characters" in str(w.value) for w in at.warning)
    tok = hf.load_tokenizer("tiny-llama")
    scored, whole = (len(tok(t, add_special_tokens=False)["input_ids"]) for t in (text[:cut], text))
    assert scored < whole and any(f"of its {scored:,} tokens" in str(c.value) for c in at.caption), [c.value for c in at.caption]
